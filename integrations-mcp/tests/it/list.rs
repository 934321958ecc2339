//! initialize and tools/list.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use integrations_core::host::Clock as _;
use integrations_core::model::{Capability, Publication, PublicationScope};
use integrations_core::tools::{CONTINUE_TOOL_NAME, PolicySet, PolicySource, ToolPolicy, export};
use integrations_core::{ConnectionId, Error, PublicationId, TenantId, WorkspaceId};
use integrations_mcp::demo::BLOCKED_TOOL;
use integrations_mcp::{McpOptions, McpSession};
use rmcp::model::{ErrorCode, PaginatedRequestParams, Tool};
use serde_json::{Value, json};

use crate::support::{
    APPROVALS, Client, Running, assert_no_secret, call, connect, demo, demo_with, mcp_error, plain,
};

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

    // Malformed: another format (the offsets of old), not hex, not UTF-8, not a tool
    // name ("Not A Name"), empty.
    for bad in [
        "tools:9999",
        "tools:4",
        "after:zz",
        "after:ff00",
        "after:4e6f742041204e616d65",
        "after:",
        "",
    ] {
        let error = client
            .list_tools(Some(
                PaginatedRequestParams::default().with_cursor(Some(bad.into())),
            ))
            .await
            .unwrap_err();
        assert_eq!(mcp_error(error).code, ErrorCode::INVALID_PARAMS, "{bad:?}");
    }
}

/// The tools an admin blocks (besides the demo's [`BLOCKED_TOOL`]), switched by the test
/// between two pages of a listing.
#[derive(Default)]
struct Hidden(Mutex<Vec<String>>);

impl Hidden {
    fn set(&self, names: &[&str]) {
        *self.0.lock().unwrap() = names.iter().map(|n| (*n).to_owned()).collect();
    }
}

#[async_trait]
impl PolicySource for Hidden {
    async fn policy_set(&self, _: &TenantId, _: &WorkspaceId) -> Result<PolicySet, Error> {
        let mut set = PolicySet::new().with_tool(BLOCKED_TOOL, ToolPolicy::Block)?;
        for name in self.0.lock().unwrap().iter() {
            set = set.with_tool(name, ToolPolicy::Block)?;
        }
        Ok(set)
    }
}

fn names(tools: &[Tool]) -> Vec<String> {
    tools.iter().map(|t| t.name.to_string()).collect()
}

async fn page(client: &Running, cursor: Option<String>) -> (Vec<String>, Option<String>) {
    let page = client
        .list_tools(Some(PaginatedRequestParams::default().with_cursor(cursor)))
        .await
        .unwrap();
    (names(&page.tools), page.next_cursor)
}

/// Tools blocked and unblocked between pages (the manifest is rebuilt): the client gets
/// every tool that stayed exactly once, in order, and none it was not shown before.
#[tokio::test]
async fn tools_list_pages_neither_skip_nor_repeat_tools_when_the_list_changes_between_them() {
    let demo = demo().await;
    let hidden = Arc::new(Hidden::default());
    let service = crate::settle::service(&demo, hidden.clone(), None).with_options(
        McpOptions::new()
            .with_approval_url(APPROVALS)
            .with_page_size(3),
    );
    let client = connect(service.server(demo.session.clone()), Client::plain()).await;
    let everything = names(&client.list_all_tools().await.unwrap());
    assert!(everything.len() > 9, "{everything:?}");

    let (mut listed, cursor) = page(&client, None).await;
    assert_eq!(listed, everything[..3]);
    // One tool already listed goes (a count would now skip one), one ahead goes too.
    hidden.set(&[&everything[0], &everything[5]]);
    service.tools_changed();
    let (second, cursor) = page(&client, cursor).await;
    assert_eq!(
        second,
        [&everything[3], &everything[4], &everything[6]].map(String::clone)
    );
    listed.extend(second);
    // Both come back (a count would now repeat one); the one ahead was passed meanwhile.
    hidden.set(&[]);
    service.tools_changed();
    let mut cursor = cursor;
    while let Some(c) = cursor {
        let (more, next) = page(&client, Some(c)).await;
        listed.extend(more);
        cursor = next;
    }
    let stayed: Vec<String> = everything
        .iter()
        .filter(|name| **name != everything[5])
        .cloned()
        .collect();
    assert_eq!(listed, stayed);
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

/// A change announced for one tenant reaches its clients only: another tenant's client
/// is not sent to list again.
#[tokio::test]
async fn a_tenants_change_notifies_that_tenants_clients_only() {
    let demo = demo().await;
    let ours = Client::plain();
    let ours_notified = ours.list_changed.clone();
    let ours_running = connect(demo.service.server(demo.session.clone()), ours).await;
    let theirs = Client::plain();
    let theirs_notified = theirs.list_changed.clone();
    let other_tenant = integrations_core::TenantId::new("other").unwrap();
    let other_session = integrations_mcp::McpSession::new(integrations_core::tools::Session::new(
        other_tenant.clone(),
        integrations_core::WorkspaceId::new("w").unwrap(),
    ));
    let theirs_running = connect(demo.service.server(other_session), theirs).await;
    ours_running.list_all_tools().await.unwrap();
    theirs_running.list_all_tools().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    demo.service.tools_changed_for(&demo.session.session.tenant);
    tokio::time::timeout(std::time::Duration::from_secs(5), ours_notified.notified())
        .await
        .expect("the tenant's client was not notified");
    let stray = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        theirs_notified.notified(),
    )
    .await;
    assert!(stray.is_err(), "another tenant's client was notified");

    demo.service.tools_changed_for(&other_tenant);
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        theirs_notified.notified(),
    )
    .await
    .expect("the other tenant's client was not notified of its own change");
}

/// A log sink for the test's own thread.
#[derive(Clone, Default)]
struct Logged(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logged {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Two connections of one integration at the same scope make its tools ambiguous: they
/// are left out of `tools/list`, and the host's log says which tools and connections.
#[tokio::test]
async fn tools_left_out_as_ambiguous_are_named_in_the_hosts_log() {
    let logged = Logged::default();
    let writer = logged.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();

    let demo = demo().await;
    let tenant = &demo.session.session.tenant;
    let connections = demo.test.host().connections();
    let linear = connections
        .list_connections(tenant)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.key.as_str() == "linear::linear-default")
        .unwrap();
    let mut second = linear.clone();
    second.id = "linear-second".parse().unwrap();
    connections.put_connection(&second).await.unwrap();

    let client = plain(&demo).await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        tools.iter().all(|t| !t.name.starts_with("linear_")),
        "{:?}",
        tools.iter().map(|t| &t.name).collect::<Vec<_>>()
    );
    assert!(tools.iter().any(|t| t.name.starts_with("github_")));
    // Listed again once the manifest is built anew: the same tools are not named again.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let again = client.list_all_tools().await.unwrap();
    assert_eq!(again.len(), tools.len());
    let log = String::from_utf8(logged.0.lock().unwrap().clone()).unwrap();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("left out of tools/list"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    let line = warnings[0];
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("linear_list_teams"), "{line}");
    assert!(
        line.contains(linear.id.as_str()) && line.contains("linear-second"),
        "{line}"
    );
}

/// The names `tools/list` gives, in order.
async fn listed_names(client: &Running) -> Vec<String> {
    client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect()
}

/// A tool that needs a capability is listed only where the session's publication for
/// its connection grants it now: the runtime refuses it on every other call, so an agent
/// shown it would only meet refusals. A call of it anyway is still answered with why.
#[tokio::test]
async fn tools_needing_a_capability_are_listed_only_where_a_publication_grants_it() {
    let demo = demo().await;
    let manifest = demo.runtime.manifest(&demo.session.session).await.unwrap();
    let with_continuation = |mut names: Vec<String>| {
        if !names.is_empty() {
            names.push(CONTINUE_TOOL_NAME.to_owned());
        }
        names
    };
    let free: Vec<String> = manifest
        .tools
        .iter()
        .filter(|t| t.descriptor.capability.is_none())
        .map(|t| t.descriptor.name.clone())
        .collect();

    // No publication: only the tools that need none.
    let bare = McpSession::new(demo.session.session.clone());
    let client = connect(demo.service.server(bare.clone()), Client::plain()).await;
    assert_eq!(listed_names(&client).await, with_continuation(free.clone()));
    let refused = client
        .call_tool(call("linear_list_teams", json!({})))
        .await
        .unwrap();
    let refused = serde_json::to_value(&refused).unwrap();
    assert_eq!(
        refused["_meta"]["integrations/error"]["code"], "tool.capability_missing",
        "{refused}"
    );

    // A publication for the Linear connection granting `team.read` alone.
    let linear = ConnectionId::new("linear").unwrap();
    let mut publication = Publication::new(
        demo.session.session.tenant.clone(),
        PublicationId::new("teams-only").unwrap(),
        linear.clone(),
        PublicationScope::Workspace {
            workspace: demo.session.session.workspace.clone(),
        },
        demo.test.clock.now(),
    );
    publication
        .capabilities
        .insert(Capability::new("team.read").unwrap());
    let publications = demo.runtime.host().publications();
    publications.put_publication(&publication).await.unwrap();
    let teams = bare.with_publication(linear, publication.id.clone());
    let client = connect(demo.service.server(teams.clone()), Client::plain()).await;
    let granted: Vec<String> = manifest
        .tools
        .iter()
        .filter(|t| {
            t.descriptor.capability.is_none()
                || (t.connection.as_str() == "linear"
                    && t.descriptor.capability.as_ref().map(Capability::as_str)
                        == Some("team.read"))
        })
        .map(|t| t.descriptor.name.clone())
        .collect();
    assert!(
        granted.iter().any(|n| n == "linear_list_teams"),
        "{granted:?}"
    );
    assert_eq!(listed_names(&client).await, with_continuation(granted));

    // Once it has expired, its tools are left out again.
    publication.expires_at = Some(demo.test.clock.now());
    publications.put_publication(&publication).await.unwrap();
    let client = connect(demo.service.server(teams), Client::plain()).await;
    assert_eq!(listed_names(&client).await, with_continuation(free));
}

/// Pages of a list left short by publications neither skip nor repeat tools: the cursor
/// names the last tool listed, among the tools the session can call.
#[tokio::test]
async fn a_list_left_short_by_publications_is_paged_whole() {
    let demo = demo_with(McpOptions::new().with_page_size(2)).await;
    let linear = ConnectionId::new("linear").unwrap();
    let mut publication = Publication::new(
        demo.session.session.tenant.clone(),
        PublicationId::new("linear-reads").unwrap(),
        linear.clone(),
        PublicationScope::Workspace {
            workspace: demo.session.session.workspace.clone(),
        },
        demo.test.clock.now(),
    );
    for capability in ["team.read", "issue.read"] {
        publication
            .capabilities
            .insert(Capability::new(capability).unwrap());
    }
    demo.runtime
        .host()
        .publications()
        .put_publication(&publication)
        .await
        .unwrap();
    let session =
        McpSession::new(demo.session.session.clone()).with_publication(linear, publication.id);
    let client = connect(demo.service.server(session), Client::plain()).await;
    let mut names = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = client
            .list_tools(Some(PaginatedRequestParams::default().with_cursor(cursor)))
            .await
            .unwrap();
        pages += 1;
        names.extend(page.tools.iter().map(|t| t.name.to_string()));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let manifest = demo.runtime.manifest(&demo.session.session).await.unwrap();
    let mut expected: Vec<String> = manifest
        .tools
        .iter()
        .filter(|t| match &t.descriptor.capability {
            None => true,
            Some(c) => {
                t.connection.as_str() == "linear"
                    && ["team.read", "issue.read"].contains(&c.as_str())
            }
        })
        .map(|t| t.descriptor.name.clone())
        .collect();
    expected.push(CONTINUE_TOOL_NAME.to_owned());
    assert!(expected.len() >= 3, "{expected:?}");
    assert_eq!(names, expected);
    assert_eq!(pages, expected.len().div_ceil(2));
}

/// A policy source whose first read takes the blocked tools as they are, then waits
/// until the test lets it answer: a manifest build that read its records before a change
/// and finishes after it.
struct StalledOnce {
    hidden: Hidden,
    stall: tokio::sync::Notify,
    entered: tokio::sync::Notify,
    first: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl PolicySource for StalledOnce {
    async fn policy_set(&self, t: &TenantId, w: &WorkspaceId) -> Result<PolicySet, Error> {
        let set = self.hidden.policy_set(t, w).await?;
        if self.first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.entered.notify_one();
            self.stall.notified().await;
        }
        Ok(set)
    }
}

/// A manifest whose build read its records before the host announced a change
/// (`tools_changed`) and finished after it is answered to the request that built it, but
/// never kept: the clients the announcement sends to list again get the changed list,
/// not the stale one for the cache's two seconds.
#[tokio::test]
async fn a_manifest_built_across_a_change_is_not_kept_for_the_next_listing() {
    let demo = demo().await;
    let policies = Arc::new(StalledOnce {
        hidden: Hidden::default(),
        stall: tokio::sync::Notify::new(),
        entered: tokio::sync::Notify::new(),
        first: std::sync::atomic::AtomicBool::new(false),
    });
    let service = crate::settle::service(&demo, policies.clone(), None);
    let client = Arc::new(connect(service.server(demo.session.clone()), Client::plain()).await);
    let everything = names(&client.list_all_tools().await.unwrap());
    // Past the cache's life, so the next listing builds anew, and stalls.
    service.tools_changed();
    policies
        .first
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let building = tokio::spawn({
        let client = Arc::clone(&client);
        async move { names(&client.list_all_tools().await.unwrap()) }
    });
    policies.entered.notified().await;
    // The change: one more tool blocked, announced while the build is under way.
    policies.hidden.set(&[&everything[0]]);
    service.tools_changed();
    policies.stall.notify_one();
    let stale = building.await.unwrap();
    assert!(
        stale.contains(&everything[0]),
        "the build read before the change"
    );
    let fresh = names(&client.list_all_tools().await.unwrap());
    assert!(
        !fresh.contains(&everything[0]),
        "the stale manifest was kept: {fresh:?}"
    );
}
