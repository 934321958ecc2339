//! Protocol revisions: a 2025-06-18 client, a 2025-11-25 client and a 2026-07-28 client
//! (no `initialize`; `server/discover` and per-request `_meta`; the input-required flow
//! for `ask`), in-process with rmcp's client and as raw JSON-RPC over HTTP.

use integrations_core::tools::{ApprovalId, CONTINUE_TOOL_NAME};
use integrations_mcp::demo::Demo;
use integrations_mcp::{APPROVAL_INPUT, McpHttpOptions, URL_ELICITATION_REQUIRED};
use rmcp::model::{CallToolResponse, InputResponses, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _};
use serde_json::{Value, json};

use crate::support::{APPROVALS, Client, Running, call, calls, connect, demo, json_of, mcp_error};

/// A client speaking only `version`: the `initialize` handshake up to 2025-11-25,
/// `server/discover` from 2026-07-28.
async fn client_of(demo: &Demo, version: &ProtocolVersion) -> Running {
    let mut client = Client::new(Some(json!({"url": {}})), true);
    client.info.protocol_version = version.clone();
    if version.has_initialize() {
        return connect(demo.service.server(demo.session.clone()), client).await;
    }
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server = demo.service.server(demo.session.clone());
    tokio::spawn(async move {
        if let Ok(running) = rmcp::ServiceExt::serve(server, server_io).await {
            let _ = running.waiting().await;
        }
    });
    client
        .serve_with_lifecycle(
            client_io,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![version.clone()],
            },
        )
        .await
        .unwrap()
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/mcp/2026-07-28.{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn send_args(demo: &Demo, text: &str) -> rmcp::model::CallToolRequestParams {
    let mut params = call("slack_send_message", json!({}));
    params.arguments = Some(
        json!({"channel": demo.channel, "text": text})
            .as_object()
            .unwrap()
            .clone(),
    );
    params
}

#[tokio::test]
async fn each_client_gets_the_newest_revision_both_sides_support() {
    let demo = demo().await;
    let before = calls(&demo, "linear");
    for version in [
        ProtocolVersion::V_2025_06_18,
        ProtocolVersion::V_2025_11_25,
        ProtocolVersion::V_2026_07_28,
    ] {
        let client = client_of(&demo, &version).await;
        assert_eq!(
            client.peer_info().unwrap().protocol_version,
            version,
            "{version}"
        );
        let tools = client.list_all_tools().await.unwrap();
        assert!(
            tools.iter().any(|t| t.name == "linear_list_teams"),
            "{version}"
        );
        let result = client
            .call_tool(call("linear_list_teams", json!({})))
            .await
            .unwrap();
        assert_eq!(json_of(&result)["isError"], false, "{version}");
    }
    assert_eq!(calls(&demo, "linear"), before + 3);
}

#[tokio::test]
async fn ask_follows_each_revisions_flow_and_only_the_host_approves() {
    let demo = demo().await;

    // 2025-06-18 has no URL mode: an error result naming the approval and its URL.
    let old = client_of(&demo, &ProtocolVersion::V_2025_06_18).await;
    let asked = json_of(&old.call_tool(send_args(&demo, "old")).await.unwrap());
    assert_eq!(asked["isError"], true);
    assert!(
        asked["_meta"]["integrations/approval"]["url"]
            .as_str()
            .unwrap()
            .starts_with(APPROVALS)
    );

    // 2025-11-25 with URL mode: the URLElicitationRequired error.
    let mid = client_of(&demo, &ProtocolVersion::V_2025_11_25).await;
    let error = mcp_error(mid.call_tool(send_args(&demo, "mid")).await.unwrap_err());
    assert_eq!(error.code.0, URL_ELICITATION_REQUIRED);

    // 2026-07-28: an input_required result with a URL-mode elicitation and the
    // approval as request state.
    let new = client_of(&demo, &ProtocolVersion::V_2026_07_28).await;
    let CallToolResponse::InputRequired(first) =
        new.call_tool_once(send_args(&demo, "new")).await.unwrap()
    else {
        panic!("expected input_required")
    };
    let wire = serde_json::to_value(&first).unwrap();
    assert_eq!(wire["resultType"], "input_required", "{wire}");
    let elicitation = &wire["inputRequests"][APPROVAL_INPUT];
    assert_eq!(elicitation["method"], "elicitation/create", "{wire}");
    assert_eq!(elicitation["params"]["mode"], "url");
    let id = ApprovalId::new(wire["requestState"].as_str().unwrap()).unwrap();
    assert_eq!(elicitation["params"]["url"], format!("{APPROVALS}/{id}"));

    // The client answers `accept` and retries with the state: still not approved.
    let mut forged = InputResponses::new();
    forged.insert(APPROVAL_INPUT.to_owned(), json!({"action": "accept"}));
    let retry = send_args(&demo, "new")
        .with_input_responses(forged.clone())
        .with_request_state(id.as_str());
    let again = new.call_tool_once(retry.clone()).await.unwrap();
    assert!(matches!(again, CallToolResponse::InputRequired(_)));
    // rmcp's high-level call drives the rounds itself, accepting each: it never runs.
    assert!(new.call_tool(send_args(&demo, "new")).await.is_err());
    assert_eq!(calls(&demo, "slack_messages"), 0);

    // The host approves: it runs once, and the retry receives the result.
    let done = demo
        .service
        .approvals()
        .approve(
            &demo.session.session.tenant,
            &id,
            &integrations_core::UserId::new(integrations_mcp::demo::REVIEWER).unwrap(),
        )
        .await;
    assert!(!done.is_error(), "{done:?}");
    assert_eq!(calls(&demo, "slack_messages"), 1);
    let CallToolResponse::Complete(result) = new.call_tool_once(retry).await.unwrap() else {
        panic!("expected the result")
    };
    let value = json_of(&result);
    assert_eq!(value["isError"], false, "{value}");
    assert_eq!(value["structuredContent"], done.structured_content.unwrap());
    assert_eq!(calls(&demo, "slack_messages"), 1);
}

#[tokio::test]
async fn the_local_trust_mode_asks_inline_on_2026_07_28() {
    let demo = demo().await;
    let mut local = Client::new(Some(json!({"form": {}})), true);
    local.info.protocol_version = ProtocolVersion::V_2026_07_28;
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server = demo.service.trusting_server(demo.session.clone());
    tokio::spawn(async move {
        if let Ok(running) = rmcp::ServiceExt::serve(server, server_io).await {
            let _ = running.waiting().await;
        }
    });
    let client = local
        .serve_with_lifecycle(
            client_io,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .unwrap();
    let CallToolResponse::InputRequired(asked) = client
        .call_tool_once(send_args(&demo, "local"))
        .await
        .unwrap()
    else {
        panic!("expected input_required")
    };
    let wire = serde_json::to_value(&asked).unwrap();
    assert_eq!(
        wire["inputRequests"][APPROVAL_INPUT]["params"]["mode"],
        "form"
    );
    assert_eq!(calls(&demo, "slack_messages"), 0);
    // rmcp's client answers the form (this client accepts) and retries: it runs once.
    let result = client.call_tool(send_args(&demo, "local")).await.unwrap();
    assert_eq!(json_of(&result)["isError"], false);
    assert_eq!(calls(&demo, "slack_messages"), 1);
}

/// The JSON-RPC message of a streamable HTTP response (JSON or one SSE event).
async fn message(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    let body = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|l| l.starts_with('{'))
        .map_or(text.clone(), str::to_owned);
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON-RPC: {text}"))
}

pub(crate) async fn raw(
    addr: std::net::SocketAddr,
    version: &str,
    method: &str,
    name: Option<&str>,
    params: Value,
) -> Value {
    raw_as(addr, crate::http::TOKEN, version, method, name, params).await
}

/// One JSON-RPC request with per-request `_meta` (no session), as `token`'s principal.
pub(crate) async fn raw_as(
    addr: std::net::SocketAddr,
    token: &str,
    version: &str,
    method: &str,
    name: Option<&str>,
    params: Value,
) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"url": {}}},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-2026", "version": "1.0.0"},
    });
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", version)
        .header("mcp-method", method)
        .bearer_auth(token);
    if let Some(name) = name {
        request = request.header("mcp-name", name);
    }
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    message(request.body(body.to_string()).send().await.unwrap()).await
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_raw_2026_07_28_client_over_http_gets_the_fixture_shapes() {
    let demo = demo().await;
    let addr = crate::http::serve(&demo, McpHttpOptions::new()).await;
    let v = "2026-07-28";

    let discovered = raw(addr, v, "server/discover", None, json!({})).await;
    let supported = &discovered["result"]["supportedVersions"];
    assert!(
        supported.as_array().unwrap().contains(&json!(v)),
        "{discovered}"
    );

    let listed = raw(addr, v, "tools/list", None, json!({})).await;
    assert_eq!(listed["result"]["resultType"], "complete", "{listed}");
    let tools = listed["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"));
    let with_output = fixture("Tool.with-output-schema-for-structured-content");
    let teams = tools
        .iter()
        .find(|t| t["name"] == "linear_list_teams")
        .unwrap();
    for key in keys(&with_output) {
        if key != "title" {
            assert!(teams.get(&key).is_some(), "{key} missing in {teams}");
        }
    }
    assert_eq!(teams["inputSchema"]["type"], "object");

    let read = raw(
        addr,
        v,
        "tools/call",
        Some("linear_list_teams"),
        json!({"name": "linear_list_teams", "arguments": {}}),
    )
    .await;
    let result = &read["result"];
    let structured = fixture("CallToolResult.result-with-structured-content");
    assert_eq!(result["resultType"], structured["resultType"], "{read}");
    assert_eq!(result["content"][0]["type"], "text");
    assert!(result["structuredContent"]["teams"].is_array(), "{read}");

    let bad = raw(
        addr,
        v,
        "tools/call",
        Some("slack_send_message"),
        json!({"name": "slack_send_message", "arguments": {"channel": 1, "text": "x"}}),
    )
    .await;
    let invalid = fixture("CallToolResult.invalid-tool-input-error");
    assert_eq!(bad["result"]["resultType"], invalid["resultType"], "{bad}");
    assert_eq!(bad["result"]["isError"], invalid["isError"], "{bad}");

    let asked = raw(
        addr,
        v,
        "tools/call",
        Some("slack_send_message"),
        json!({"name": "slack_send_message", "arguments": {"channel": demo.channel, "text": "raw"}}),
    )
    .await;
    assert_eq!(asked["result"]["resultType"], "input_required", "{asked}");
    let state = asked["result"]["requestState"].as_str().unwrap();
    assert_eq!(
        asked["result"]["inputRequests"][APPROVAL_INPUT]["params"]["url"],
        format!("{APPROVALS}/{state}")
    );
    assert_eq!(calls(&demo, "slack_messages"), 0);
}

/// A raw 2026-07-28 `integrations_continue_result` call as `token`'s principal.
pub(crate) async fn continue_as(addr: std::net::SocketAddr, token: &str, cursor: &str) -> Value {
    raw_as(
        addr,
        token,
        "2026-07-28",
        "tools/call",
        Some(CONTINUE_TOOL_NAME),
        json!({"name": CONTINUE_TOOL_NAME, "arguments": {"cursor": cursor}}),
    )
    .await
}

#[tokio::test]
async fn a_raw_2026_07_28_client_continues_a_large_result_in_its_next_request() {
    let demo = demo().await;
    let addr = crate::http::serve(&demo, McpHttpOptions::new()).await;
    let first = raw(
        addr,
        "2026-07-28",
        "tools/call",
        Some("linear_list_issues"),
        json!({"name": "linear_list_issues", "arguments": {"limit": 50}}),
    )
    .await;
    assert_eq!(first["result"]["isError"], false, "{first}");
    let cursor = first["result"]["_meta"]["integrations/continuation"]["cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("not trimmed: {first}"))
        .to_owned();

    // Another principal cannot read it, and trying does not spend it.
    let stolen = continue_as(addr, crate::http::OTHER_TOKEN, &cursor).await;
    assert_eq!(
        stolen["result"]["_meta"]["integrations/error"]["code"], "tool.continuation_not_found",
        "{stolen}"
    );
    assert!(!stolen.to_string().contains("ENG-"), "{stolen}");

    // Its own next request, with no session, reads the next page.
    let next = continue_as(addr, crate::http::TOKEN, &cursor).await;
    assert_eq!(next["result"]["isError"], false, "{next}");
    let issues = next["result"]["structuredContent"]["issues"]
        .as_array()
        .unwrap_or_else(|| panic!("no next page: {next}"));
    assert!(!issues.is_empty(), "{next}");
    assert_ne!(
        next["result"]["structuredContent"], first["result"]["structuredContent"],
        "the same page twice"
    );

    // Each cursor is read once.
    let again = continue_as(addr, crate::http::TOKEN, &cursor).await;
    assert_eq!(
        again["result"]["_meta"]["integrations/error"]["code"], "tool.continuation_not_found",
        "{again}"
    );
}

/// A sessionless client's next request may reach any instance of the host: the pages
/// wait in the host's store, and another instance serves them to the principal (only).
#[tokio::test]
async fn a_sessionless_request_continues_a_result_through_another_instance() {
    let demo = demo().await;
    let first_instance = crate::http::serve(&demo, McpHttpOptions::new()).await;
    let elsewhere = integrations_mcp::McpService::new(demo.runtime.clone());
    let second_instance =
        crate::http::serve_service(&elsewhere, &demo, McpHttpOptions::new()).await;
    let first = raw(
        first_instance,
        "2026-07-28",
        "tools/call",
        Some("linear_list_issues"),
        json!({"name": "linear_list_issues", "arguments": {"limit": 50}}),
    )
    .await;
    let cursor = first["result"]["_meta"]["integrations/continuation"]["cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("not trimmed: {first}"))
        .to_owned();

    // Another principal, or the same one with other publications, cannot read it.
    for other in [crate::http::OTHER_TOKEN, crate::http::UNPUBLISHED_TOKEN] {
        let stolen = continue_as(second_instance, other, &cursor).await;
        assert_eq!(
            stolen["result"]["_meta"]["integrations/error"]["code"], "tool.continuation_not_found",
            "{stolen}"
        );
    }
    let next = continue_as(second_instance, crate::http::TOKEN, &cursor).await;
    assert_eq!(next["result"]["isError"], false, "{next}");
    assert_ne!(
        next["result"]["structuredContent"], first["result"]["structuredContent"],
        "the same page twice"
    );
    let again = continue_as(first_instance, crate::http::TOKEN, &cursor).await;
    assert_eq!(
        again["result"]["_meta"]["integrations/error"]["code"], "tool.continuation_not_found",
        "{again}"
    );
}

/// A 2026-07-28 client has no session to be notified on: it opens a
/// `subscriptions/listen` stream for `toolsListChanged`, is acknowledged, and gets
/// `notifications/tools/list_changed` on it when the host calls `tools_changed`.
#[tokio::test]
async fn a_2026_client_listening_hears_that_the_tools_changed() {
    let demo = demo().await;
    let addr = crate::http::serve(&demo, McpHttpOptions::new()).await;
    let mut response = listen(addr, json!({"toolsListChanged": true})).await;
    assert_eq!(response.status(), 200);
    let mut seen = String::new();
    let mut read_until = async |needle: &str, seen: &mut String| {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !seen.contains(needle) {
            let chunk = tokio::time::timeout_at(deadline, response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no {needle} within 10 s: {seen}"))
                .unwrap()
                .unwrap_or_else(|| panic!("the stream ended before {needle}: {seen}"));
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    read_until("notifications/subscriptions/acknowledged", &mut seen).await;
    assert!(seen.contains("toolsListChanged"), "{seen}");
    assert!(!seen.contains("notifications/tools/list_changed"), "{seen}");
    demo.service.tools_changed();
    read_until("notifications/tools/list_changed", &mut seen).await;
}

/// A 2026-07-28 `subscriptions/listen` request asking for `notifications` over HTTP.
async fn listen(addr: std::net::SocketAddr, notifications: Value) -> reqwest::Response {
    let params = json!({
        "notifications": notifications,
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "listener", "version": "1.0.0"},
        },
    });
    let body =
        json!({"jsonrpc": "2.0", "id": 9, "method": "subscriptions/listen", "params": params});
    reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "subscriptions/listen")
        .bearer_auth(crate::http::TOKEN)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// A client listening for none of what the server offers hears nothing, and its
/// subscription is not ended under it when the tools change.
#[tokio::test]
async fn a_2026_client_listening_for_other_changes_keeps_its_subscription() {
    let demo = demo().await;
    let addr = crate::http::serve(&demo, McpHttpOptions::new()).await;
    let mut response = listen(addr, json!({"promptsListChanged": true})).await;
    assert_eq!(response.status(), 200);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.contains("notifications/subscriptions/acknowledged") {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("acknowledged")
            .unwrap()
            .expect("the stream is open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    demo.service.tools_changed();
    // Nothing comes, and the stream stays open: no notification, no final result.
    let more = tokio::time::timeout(std::time::Duration::from_millis(500), response.chunk()).await;
    assert!(more.is_err(), "{seen} then {more:?}");
}
