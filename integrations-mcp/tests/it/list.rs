//! initialize and tools/list.

use integrations_core::tools::export;
use integrations_mcp::McpOptions;
use integrations_mcp::demo::BLOCKED_TOOL;
use rmcp::model::{ErrorCode, PaginatedRequestParams};
use serde_json::Value;

use crate::support::{Client, assert_no_secret, connect, demo, demo_with, mcp_error, plain};

#[tokio::test]
async fn initialize_negotiates_the_newest_shared_revision_and_tools_capabilities() {
    let demo = demo().await;
    let client = plain(&demo).await;
    let info = client.peer_info().unwrap();
    assert_eq!(info.protocol_version.as_str(), "2025-11-25");
    assert_eq!(info.server_info.as_ref().unwrap().name, "integrations");
    let tools = info.capabilities.tools.as_ref().unwrap();
    assert_eq!(tools.list_changed, Some(true));

    // An older client gets its own revision.
    let mut old = Client::plain();
    old.info.protocol_version = rmcp::model::ProtocolVersion::V_2025_06_18;
    let old = connect(demo.service.server(demo.session.clone()), old).await;
    assert_eq!(
        old.peer_info().unwrap().protocol_version.as_str(),
        "2025-06-18"
    );
}

#[tokio::test]
async fn tools_list_has_exactly_the_manifest_with_annotations_and_schemas() {
    let demo = demo().await;
    let client = plain(&demo).await;
    let tools = client.list_all_tools().await.unwrap();
    let manifest = demo.runtime.manifest(&demo.session.session).await.unwrap();
    let expected: Vec<Value> = manifest
        .descriptors()
        .iter()
        .map(export::mcp::tool)
        .collect();
    let listed: Vec<Value> = tools
        .iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect();
    assert_no_secret(&serde_json::to_string(&listed).unwrap());
    assert_eq!(listed, expected);
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for name in [
        "linear_list_teams",
        "linear_create_issue",
        "github_create_issue",
        "slack_send_message",
        "openai_list_models",
        "integrations_continue_result",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(!names.contains(&BLOCKED_TOOL), "a blocked tool is listed");

    let teams = tools
        .iter()
        .find(|t| t.name == "linear_list_teams")
        .unwrap();
    let annotations = teams.annotations.as_ref().unwrap();
    assert_eq!(annotations.read_only_hint, Some(true));
    assert_eq!(annotations.destructive_hint, Some(false));
    assert_eq!(teams.input_schema["type"], "object");
    let send = tools
        .iter()
        .find(|t| t.name == "slack_send_message")
        .unwrap();
    assert_eq!(
        send.annotations.as_ref().unwrap().read_only_hint,
        Some(false)
    );
    assert!(
        tools.iter().any(|t| t.output_schema.is_some()),
        "no tool has an output schema"
    );
}

#[tokio::test]
async fn tools_list_is_paginated_with_a_cursor() {
    let demo = demo_with(McpOptions::new().with_page_size(4)).await;
    let client = plain(&demo).await;
    let first = client.list_tools(None).await.unwrap();
    assert_eq!(first.tools.len(), 4);
    let mut all = first.tools.clone();
    let mut cursor = first.next_cursor.clone();
    let mut pages = 1;
    while let Some(c) = cursor {
        let page = client
            .list_tools(Some(PaginatedRequestParams::default().with_cursor(Some(c))))
            .await
            .unwrap();
        all.extend(page.tools);
        cursor = page.next_cursor;
        pages += 1;
    }
    assert!(pages > 2, "{pages} pages");
    assert_eq!(all, client.list_all_tools().await.unwrap());

    let bad = client
        .list_tools(Some(
            PaginatedRequestParams::default().with_cursor(Some("tools:9999".into())),
        ))
        .await
        .unwrap_err();
    assert_eq!(mcp_error(bad).code, ErrorCode::INVALID_PARAMS);
}

#[tokio::test]
async fn list_changed_is_sent_when_the_host_says_tools_changed() {
    let demo = demo().await;
    let client = Client::plain();
    let notified = client.list_changed.clone();
    let running = connect(demo.service.server(demo.session.clone()), client).await;
    running.list_all_tools().await.unwrap();
    // The watcher starts on `initialized`; give it a moment, then announce a change.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    demo.service.tools_changed();
    tokio::time::timeout(std::time::Duration::from_secs(5), notified.notified())
        .await
        .expect("no notifications/tools/list_changed");
}
