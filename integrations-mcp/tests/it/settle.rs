//! Approvals settled in awkward moments: the tool's policy changed since the call asked,
//! the approval store failed taking the request, the run outlasted the request or the
//! approver. In each, the call runs at most once and its result reaches the retry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use integrations_core::auth::TokenManager;
use integrations_core::host::{ApprovalStore, Clock as _, Host};
use integrations_core::tools::{
    ApprovalId, ApprovalRequest, PolicySet, PolicySource, Runtime, ToolPolicy,
};
use integrations_core::{Error, TenantId, UserId, WorkspaceId};
use integrations_mcp::demo::{BLOCKED_TOOL, Demo, REVIEWER};
use integrations_mcp::{McpOptions, McpService};
use rmcp::model::ErrorCode;
use serde_json::Value;

use crate::support::{
    APPROVALS, ApprovalHooks, Client, Hooked, Running, approval_id, calls, connect, demo, json_of,
    mcp_error, send_message,
};

/// The policy of `slack_send_message`, which the test switches as an admin would.
struct Switch(Mutex<ToolPolicy>);

impl Switch {
    fn set(&self, policy: ToolPolicy) {
        *self.0.lock().unwrap() = policy;
    }
}

#[async_trait]
impl PolicySource for Switch {
    async fn policy_set(&self, _: &TenantId, _: &WorkspaceId) -> Result<PolicySet, Error> {
        let policy = *self.0.lock().unwrap();
        PolicySet::new()
            .with_tool(BLOCKED_TOOL, ToolPolicy::Block)?
            .with_tool("slack_send_message", policy)
    }
}

/// Hooks whose first take fails before taking anything (a store briefly unreachable).
struct FirstTakeFails {
    failed: AtomicBool,
}

#[async_trait]
impl ApprovalHooks for FirstTakeFails {
    async fn before_take(&self) -> Result<(), Error> {
        fail_once(&self.failed, "the store is down")
    }
}

/// `store.failed` with `message` the first time, then `Ok`.
fn fail_once(failed: &AtomicBool, message: &str) -> Result<(), Error> {
    if failed.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    Err(integrations_core::codes::store::FAILED.error(message.to_owned()))
}

/// Hooks noting the id of every request put in the store.
struct Noted {
    put: Mutex<Vec<ApprovalId>>,
}

#[async_trait]
impl ApprovalHooks for Noted {
    async fn before_put(&self, request: &ApprovalRequest) -> Result<(), Error> {
        self.put.lock().unwrap().push(request.id.clone());
        Ok(())
    }
}

/// A service over the demo's stores, connections and mock APIs, with `policies`, and
/// `approvals` as its approval store when given.
pub(crate) fn service(
    demo: &Demo,
    policies: Arc<dyn PolicySource>,
    approvals: Option<Arc<dyn ApprovalStore>>,
) -> McpService {
    let test = &demo.test;
    let mut builder = Host::builder()
        .stores(test.store.clone())
        .http(test.host().http_arc())
        .cipher(test.keys.clone())
        .clock(test.clock.clone())
        .audit(test.audit.clone())
        .events(test.events.clone());
    if let Some(approvals) = approvals {
        builder = builder.approvals(approvals);
    }
    let host = builder.build().unwrap();
    let registry = Arc::new(integrations_definitions::registry());
    let tokens = Arc::new(TokenManager::new(Arc::clone(&registry), host.clone()));
    let runtime = Arc::new(
        Runtime::new(registry, host, tokens)
            .with_policies(policies)
            // The demo runtime's budget, so large results are split alike.
            .with_result_budget(2048),
    );
    McpService::new(runtime).with_options(McpOptions::new().with_approval_url(APPROVALS))
}

/// A demo service whose `slack_send_message` policy the test switches, and a client.
async fn switched(demo: &Demo) -> (McpService, Arc<Switch>, Running) {
    let switch = Arc::new(Switch(Mutex::new(ToolPolicy::Ask)));
    let service = service(demo, switch.clone(), None);
    let client = connect(service.server(demo.session.clone()), Client::plain()).await;
    (service, switch, client)
}

async fn send(client: &Running, demo: &Demo, text: &str) -> Value {
    json_of(&client.call_tool(send_message(demo, text)).await.unwrap())
}

async fn approve(
    service: &McpService,
    demo: &Demo,
    id: &ApprovalId,
) -> integrations_core::tools::ToolResult {
    service
        .approvals()
        .approve(
            &demo.session.session.tenant,
            id,
            &UserId::new(REVIEWER).unwrap(),
        )
        .await
}

/// Approved and run, then switched to `auto`: the retry receives the result; it does not
/// send the message again.
#[tokio::test]
async fn a_retry_after_the_tool_turned_auto_gets_the_result_without_running_it_again() {
    let demo = demo().await;
    let (service, switch, client) = switched(&demo).await;
    let id = approval_id(&send(&client, &demo, "once").await);
    let done = approve(&service, &demo, &id).await;
    assert!(!done.is_error(), "{done:?}");
    assert_eq!(calls(&demo, "slack_messages"), 1);

    switch.set(ToolPolicy::Auto);
    service.tools_changed();
    let retry = send(&client, &demo, "once").await;
    assert_eq!(retry["isError"], false, "{retry}");
    assert_eq!(
        retry["structuredContent"],
        done.structured_content.clone().unwrap()
    );
    assert_eq!(calls(&demo, "slack_messages"), 1, "the retry sent it again");

    // The result was handed over; the next identical call is a new one, and runs now.
    let next = send(&client, &demo, "once").await;
    assert_eq!(next["isError"], false, "{next}");
    assert_eq!(calls(&demo, "slack_messages"), 2);
}

/// Still pending when switched to `auto`: the retry keeps waiting for the approval, and
/// the approval runs it once.
#[tokio::test]
async fn a_call_pending_when_its_tool_turns_auto_still_waits_for_its_approval() {
    let demo = demo().await;
    let (service, switch, client) = switched(&demo).await;
    let id = approval_id(&send(&client, &demo, "later").await);

    switch.set(ToolPolicy::Auto);
    service.tools_changed();
    let retry = send(&client, &demo, "later").await;
    assert_eq!(approval_id(&retry), id, "{retry}");
    assert_eq!(calls(&demo, "slack_messages"), 0, "the retry ran it");

    let done = approve(&service, &demo, &id).await;
    assert!(!done.is_error(), "{done:?}");
    let retry = send(&client, &demo, "later").await;
    assert_eq!(retry["isError"], false, "{retry}");
    assert_eq!(calls(&demo, "slack_messages"), 1);
}

/// Approved and run, then blocked: the retry still receives the result (not "Unknown
/// tool"), and a new call is refused.
#[tokio::test]
async fn a_retry_after_the_tool_was_blocked_still_gets_the_approved_result() {
    let demo = demo().await;
    let (service, switch, client) = switched(&demo).await;
    let id = approval_id(&send(&client, &demo, "blocked later").await);
    let done = approve(&service, &demo, &id).await;
    assert!(!done.is_error(), "{done:?}");

    switch.set(ToolPolicy::Block);
    service.tools_changed();
    let retry = client
        .call_tool(send_message(&demo, "blocked later"))
        .await
        .expect("the approved result, not a JSON-RPC error");
    let retry = json_of(&retry);
    assert_eq!(retry["isError"], false, "{retry}");
    assert_eq!(
        retry["structuredContent"],
        done.structured_content.clone().unwrap()
    );
    assert_eq!(calls(&demo, "slack_messages"), 1);

    let error = client
        .call_tool(send_message(&demo, "blocked later"))
        .await
        .unwrap_err();
    assert_eq!(mcp_error(error).code, ErrorCode::INVALID_PARAMS);
    assert_eq!(calls(&demo, "slack_messages"), 1);
}

/// The manifest (cached) still says `auto` when the runtime asks: the request is kept
/// here, so it can be approved here and the retry receives the result.
#[tokio::test]
async fn an_approval_asked_behind_a_stale_manifest_can_be_approved_here() {
    let demo = demo().await;
    let (service, switch, client) = switched(&demo).await;
    switch.set(ToolPolicy::Auto);
    service.tools_changed();
    let first = send(&client, &demo, "auto").await;
    assert_eq!(first["isError"], false, "{first}");
    assert_eq!(calls(&demo, "slack_messages"), 1);

    // Switched back without telling the service: its manifest is stale for a moment.
    switch.set(ToolPolicy::Ask);
    let asked = send(&client, &demo, "asked").await;
    let id = approval_id(&asked);
    assert_eq!(calls(&demo, "slack_messages"), 1);
    let tenant = &demo.session.session.tenant;
    assert_eq!(service.approvals().pending(tenant).await.unwrap().len(), 1);

    let done = approve(&service, &demo, &id).await;
    assert!(!done.is_error(), "{done:?}");
    assert_eq!(calls(&demo, "slack_messages"), 2);
    let retry = send(&client, &demo, "asked").await;
    assert_eq!(retry["isError"], false, "{retry}");
    assert_eq!(calls(&demo, "slack_messages"), 2);
}

/// The store fails taking the request: nothing ran, the approver is told, and the
/// request stays pending; the next approval runs it and the retry receives that result.
#[tokio::test]
async fn a_store_failure_taking_the_request_leaves_it_pending_for_the_next_approval() {
    let demo = demo().await;
    let store = Arc::new(Hooked {
        store: demo.test.store.clone(),
        hooks: FirstTakeFails {
            failed: AtomicBool::new(false),
        },
    });
    let switch = Arc::new(Switch(Mutex::new(ToolPolicy::Ask)));
    let service = service(&demo, switch, Some(store));
    let client = connect(service.server(demo.session.clone()), Client::plain()).await;
    let tenant = &demo.session.session.tenant;
    let id = approval_id(&send(&client, &demo, "retry the store").await);

    let failed = approve(&service, &demo, &id).await;
    assert_eq!(failed.error_code(), Some("store.failed"), "{failed:?}");
    assert_eq!(calls(&demo, "slack_messages"), 0);
    let pending = service.approvals().pending(tenant).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let waiting = send(&client, &demo, "retry the store").await;
    assert_eq!(approval_id(&waiting), id, "{waiting}");

    let done = approve(&service, &demo, &id).await;
    assert!(!done.is_error(), "{done:?}");
    assert_eq!(calls(&demo, "slack_messages"), 1);
    let retry = send(&client, &demo, "retry the store").await;
    assert_eq!(retry["isError"], false, "{retry}");
    assert_eq!(
        retry["structuredContent"],
        done.structured_content.clone().unwrap()
    );
}

/// The request expires while its approved call runs: the call is not forgotten, a retry
/// meanwhile is told it runs (not asked again), and the result reaches the next retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_call_outlasting_its_request_hands_its_result_to_the_retry() {
    let demo = demo().await;
    let service = demo.service.clone();
    let client = connect(service.server(demo.session.clone()), Client::plain()).await;
    let tenant = demo.session.session.tenant.clone();
    let id = approval_id(&send(&client, &demo, "slow").await);

    demo.set_latency(Duration::from_millis(1200));
    let approving = {
        let approvals = service.approvals().clone();
        let (tenant, id) = (tenant.clone(), id.clone());
        tokio::spawn(async move {
            approvals
                .approve(&tenant, &id, &UserId::new(REVIEWER).unwrap())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let meanwhile = send(&client, &demo, "slow").await;
    assert_eq!(approval_id(&meanwhile), id, "{meanwhile}");
    assert_eq!(
        meanwhile["_meta"]["integrations/approval"]["running"], true,
        "{meanwhile}"
    );
    assert_eq!(
        meanwhile["_meta"]["integrations/error"]["code"], "mcp.approval_running",
        "{meanwhile}"
    );
    assert_eq!(meanwhile["_meta"]["integrations/error"]["retryable"], true);

    // The request's expiry passes during the run; listing prunes expired requests.
    demo.test.clock.advance(Duration::from_secs(48 * 3600));
    assert!(
        service
            .approvals()
            .pending(&tenant)
            .await
            .unwrap()
            .is_empty()
    );

    let done = approving.await.unwrap();
    assert!(!done.is_error(), "{done:?}");
    demo.set_latency(Duration::ZERO);
    let retry = send(&client, &demo, "slow").await;
    assert_eq!(retry["isError"], false, "the retry asked again: {retry}");
    assert_eq!(calls(&demo, "slack_messages"), 1);
    assert!(
        service
            .approvals()
            .pending(&tenant)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The approver goes away (its future dropped) while the call runs: the call still ends,
/// once, and its result reaches the retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_whose_approver_goes_away_still_hands_its_result_to_the_retry() {
    let demo = demo().await;
    let client = connect(demo.service.server(demo.session.clone()), Client::plain()).await;
    let id = approval_id(&send(&client, &demo, "walk away").await);

    demo.set_latency(Duration::from_millis(600));
    let approve = approve(&demo.service, &demo, &id);
    let gone = tokio::time::timeout(Duration::from_millis(150), approve).await;
    assert!(gone.is_err(), "the approval ended before the approver left");

    let mut retry = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        retry = send(&client, &demo, "walk away").await;
        if retry["isError"] == false {
            break;
        }
    }
    assert_eq!(retry["isError"], false, "{retry}");
    assert_eq!(calls(&demo, "slack_messages"), 1);
}

/// The documented cap on one principal's pending approval requests
/// (`mcp.too_many_approvals`).
const CAP: usize = 256;

/// A demo service whose approval store notes what is put in it, the store, the policy
/// switch, and a client of the demo's principal whose requests fill the cap.
async fn capped(demo: &Demo) -> (McpService, Arc<Hooked<Noted>>, Arc<Switch>, Running) {
    let store = Arc::new(Hooked {
        store: demo.test.store.clone(),
        hooks: Noted {
            put: Mutex::default(),
        },
    });
    let switch = Arc::new(Switch(Mutex::new(ToolPolicy::Ask)));
    let service = service(demo, switch.clone(), Some(store.clone()));
    let client = connect(service.server(demo.session.clone()), Client::plain()).await;
    for n in 0..CAP {
        approval_id(&send(&client, demo, &format!("message {n}")).await);
    }
    (service, store, switch, client)
}

fn assert_too_many(result: &Value) {
    assert_eq!(result["isError"], true, "{result}");
    assert_eq!(
        result["_meta"]["integrations/error"]["code"], "mcp.too_many_approvals",
        "{result}"
    );
}

/// One principal's distinct `ask` calls stop at the cap: the next is refused before the
/// runtime stores a request, while its pending calls and another principal go on.
#[tokio::test]
async fn past_its_cap_of_pending_approvals_a_principal_is_refused_and_nothing_is_stored() {
    let demo = demo().await;
    let (service, store, _switch, client) = capped(&demo).await;
    let tenant = &demo.session.session.tenant;
    assert_eq!(store.hooks.put.lock().unwrap().len(), CAP);

    assert_too_many(&send(&client, &demo, "one too many").await);
    assert_eq!(
        store.hooks.put.lock().unwrap().len(),
        CAP,
        "the refused call was stored"
    );
    assert_eq!(
        service.approvals().pending(tenant).await.unwrap().len(),
        CAP
    );
    assert_eq!(calls(&demo, "slack_messages"), 0);
    // A retry of a pending call is still answered by its request.
    let retry = send(&client, &demo, "message 0").await;
    assert_eq!(
        approval_id(&retry),
        store.hooks.put.lock().unwrap()[0],
        "{retry}"
    );

    // Another user of the workspace is another principal, with a cap of its own.
    let mut other = demo.session.clone();
    other.session.user = Some(UserId::new("other-user").unwrap());
    let other = connect(service.server(other), Client::plain()).await;
    approval_id(&send(&other, &demo, "from another user").await);
    assert_eq!(store.hooks.put.lock().unwrap().len(), CAP + 1);

    // Once a person settles one, the principal may ask again.
    let first = store.hooks.put.lock().unwrap()[0].clone();
    service
        .approvals()
        .deny(tenant, &first, &UserId::new(REVIEWER).unwrap())
        .await
        .unwrap();
    approval_id(&send(&client, &demo, "one too many").await);
}

/// At the cap, a call whose tool the cached manifest still calls `auto` makes the runtime
/// store a request: it is refused all the same, and its request taken out of the store
/// (kept, it would wait with no call here to answer).
#[tokio::test]
async fn past_its_cap_a_request_asked_behind_a_stale_manifest_is_taken_back() {
    let demo = demo().await;
    let (service, store, switch, client) = capped(&demo).await;
    switch.set(ToolPolicy::Auto);
    service.tools_changed();
    client.list_all_tools().await.unwrap();
    // Switched back without telling the service: its manifest is stale for a moment.
    switch.set(ToolPolicy::Ask);
    assert_too_many(&send(&client, &demo, "asked behind the cache").await);
    assert_eq!(calls(&demo, "slack_messages"), 0);

    let put = store.hooks.put.lock().unwrap().clone();
    assert_eq!(put.len(), CAP + 1, "the runtime did not ask");
    let tenant = &demo.session.session.tenant;
    let now = demo.test.clock.now();
    let refused = demo
        .test
        .store
        .take_approval(tenant, &put[CAP], now)
        .await
        .unwrap();
    assert!(refused.is_none(), "the refused request is still stored");
    assert_eq!(
        service.approvals().pending(tenant).await.unwrap().len(),
        CAP
    );
}

/// Two processes of one host, each with its own connection pool to one SQLite database
/// holding the approvals: the call asked through the first is listed and approved
/// through the second, runs once, and the first answers the client's retry with the
/// result the second stored (sealed, in the database).
#[tokio::test]
async fn two_processes_over_one_database_share_an_approval_and_its_result() {
    let demo = demo().await;
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("mcp-approvals-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let url = format!("sqlite://{}", path.display());
    let first_db = Arc::new(integrations_sqlx::SqlStores::connect(&url).await.unwrap());
    let second_db = Arc::new(integrations_sqlx::SqlStores::open(&url).await.unwrap());
    let ask = || Arc::new(Switch(Mutex::new(ToolPolicy::Ask)));
    let first = service(&demo, ask(), Some(first_db.clone()));
    let second = service(&demo, ask(), Some(second_db.clone()));
    let client = connect(first.server(demo.session.clone()), Client::plain()).await;
    let tenant = &demo.session.session.tenant;
    let id = approval_id(&send(&client, &demo, "across processes").await);

    let listed = second.approvals().pending(tenant).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].request.id, id);
    let done = approve(&second, &demo, &id).await;
    assert!(!done.is_error(), "{done:?}");
    assert_eq!(calls(&demo, "slack_messages"), 1);
    let again = approve(&first, &demo, &id).await;
    assert_eq!(again.error_code(), Some("tool.approval_not_found"));

    // The result waits in the database, sealed: no readable result data there.
    let stored: Vec<(Option<String>, Option<Vec<u8>>, String)> =
        sqlx::query_as("SELECT result_key_id, result_ciphertext, record FROM approval_calls")
            .fetch_all(first_db.pool())
            .await
            .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].0.is_some() && stored[0].1.is_some());
    assert!(!stored[0].2.contains("structured"), "{}", stored[0].2);

    let retry = send(&client, &demo, "across processes").await;
    assert_eq!(retry["isError"], false, "{retry}");
    assert_eq!(
        retry["structuredContent"],
        done.structured_content.clone().unwrap()
    );
    assert_eq!(calls(&demo, "slack_messages"), 1);
    first_db.close().await;
    second_db.close().await;
}

/// Hooks that, right after the first take of a request (a denial's), approve it: the
/// approval finds the request gone and records so before the denial records its own.
struct ApproveAfterFirstTake {
    approvals: Mutex<Option<integrations_mcp::Approvals>>,
    tenant: TenantId,
    id: Mutex<Option<ApprovalId>>,
}

#[async_trait]
impl ApprovalHooks for ApproveAfterFirstTake {
    async fn after_take(&self) {
        let approvals = self.approvals.lock().unwrap().take();
        let id = self.id.lock().unwrap().clone();
        if let (Some(approvals), Some(id)) = (approvals, id) {
            let late = approvals
                .try_approve(&self.tenant, &id, &UserId::new(REVIEWER).unwrap())
                .await;
            assert_eq!(
                late.unwrap_err().code(),
                "tool.approval_not_found",
                "the denial took the request first"
            );
        }
    }
}

/// An approval racing a denial that took the request first ran nothing and recorded
/// that it found no request; the denial still settles the call as denied, so the
/// client's retry is told a person denied it (not invited to ask again).
#[tokio::test]
async fn a_denial_racing_an_approval_leaves_the_call_denied() {
    let demo = demo().await;
    let tenant = demo.session.session.tenant.clone();
    let store = Arc::new(Hooked {
        store: demo.test.store.clone(),
        hooks: ApproveAfterFirstTake {
            approvals: Mutex::default(),
            tenant: tenant.clone(),
            id: Mutex::default(),
        },
    });
    let switch = Arc::new(Switch(Mutex::new(ToolPolicy::Ask)));
    let service = service(&demo, switch, Some(store.clone()));
    let client = connect(service.server(demo.session.clone()), Client::plain()).await;
    let id = approval_id(&send(&client, &demo, "raced").await);
    *store.hooks.id.lock().unwrap() = Some(id.clone());
    *store.hooks.approvals.lock().unwrap() = Some(service.approvals().clone());

    service
        .approvals()
        .deny(&tenant, &id, &UserId::new(REVIEWER).unwrap())
        .await
        .unwrap();
    assert!(
        store.hooks.approvals.lock().unwrap().is_none(),
        "the race ran"
    );
    assert_eq!(calls(&demo, "slack_messages"), 0);
    let retry = send(&client, &demo, "raced").await;
    assert_eq!(
        retry["_meta"]["integrations/error"]["code"], "mcp.approval_denied",
        "{retry}"
    );
}

/// Hooks whose first approval call write lands and then reports a failure.
struct FirstCallWriteLost {
    failed: AtomicBool,
}

#[async_trait]
impl ApprovalHooks for FirstCallWriteLost {
    async fn after_put_call(&self) -> Result<(), Error> {
        fail_once(&self.failed, "the connection was lost after the commit")
    }
}

/// A call whose record was written although the store reported a failure still waits
/// in its request: the client is asked for the approval, and approving it runs the call
/// once (not a request withdrawn under a record that names it).
#[tokio::test]
async fn a_call_record_written_despite_a_store_error_still_waits_in_its_request() {
    let demo = demo().await;
    let store = Arc::new(Hooked {
        store: demo.test.store.clone(),
        hooks: FirstCallWriteLost {
            failed: AtomicBool::new(false),
        },
    });
    let switch = Arc::new(Switch(Mutex::new(ToolPolicy::Ask)));
    let service = service(&demo, switch, Some(store));
    let client = connect(service.server(demo.session.clone()), Client::plain()).await;
    let id = approval_id(&send(&client, &demo, "landed").await);
    let done = approve(&service, &demo, &id).await;
    assert!(!done.is_error(), "{done:?}");
    assert_eq!(calls(&demo, "slack_messages"), 1);
    let retry = send(&client, &demo, "landed").await;
    assert_eq!(retry["isError"], false, "{retry}");
}

/// The policy of `linear_list_issues`, which the test switches as an admin would.
struct ListSwitch(Mutex<ToolPolicy>);

#[async_trait]
impl PolicySource for ListSwitch {
    async fn policy_set(&self, _: &TenantId, _: &WorkspaceId) -> Result<PolicySet, Error> {
        let policy = *self.0.lock().unwrap();
        PolicySet::new().with_tool("linear_list_issues", policy)
    }
}

/// `linear_list_issues` as the page tests call it: a result large enough to be split.
fn list_issues() -> rmcp::model::CallToolRequestParams {
    crate::support::call("linear_list_issues", serde_json::json!({"limit": 50}))
}

/// The approved `linear_list_issues` call retried from a new MCP session of the
/// principal: its first page, then the next page read through the cursor it gave.
async fn retry_and_read_on(service: &McpService, demo: &Demo) -> (Value, Value) {
    let retrying = connect(service.server(demo.session.clone()), Client::plain()).await;
    let first = json_of(&retrying.call_tool(list_issues()).await.unwrap());
    assert_eq!(first["isError"], false, "{first}");
    let cursor = first["_meta"]["integrations/continuation"]["cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("not trimmed: {first}"))
        .to_owned();
    let next =
        crate::calls::continue_result(&retrying, serde_json::json!({"cursor": cursor})).await;
    (first, next)
}

/// The result of an approved call is handed to the principal's retry from whichever MCP
/// session it comes, and so are the pages after its first: the session that retries
/// reads them, though another session asked.
#[tokio::test]
async fn the_pages_of_an_approved_result_are_read_by_the_session_that_retries() {
    let demo = demo().await;
    let service = service(
        &demo,
        Arc::new(ListSwitch(Mutex::new(ToolPolicy::Ask))),
        None,
    );
    let asking = connect(service.server(demo.session.clone()), Client::plain()).await;
    let id = approval_id(&json_of(&asking.call_tool(list_issues()).await.unwrap()));
    let done = approve(&service, &demo, &id).await;
    assert!(!done.is_error(), "{done:?}");

    let (first, next) = retry_and_read_on(&service, &demo).await;
    assert_eq!(next["isError"], false, "{next}");
    assert_ne!(next["structuredContent"], first["structuredContent"]);
}

/// A session whose listing (kept a moment) still says `auto` calls a tool just switched
/// to `ask`: the runtime asks, and the approved result goes to the retry from another
/// session with its pages, as for a tool listed as `ask`.
#[tokio::test]
async fn the_pages_of_a_result_approved_after_a_stale_listing_are_read_by_the_retrying_session() {
    let demo = demo().await;
    let switch = Arc::new(ListSwitch(Mutex::new(ToolPolicy::Auto)));
    let service = service(&demo, switch.clone(), None);
    let asking = connect(service.server(demo.session.clone()), Client::plain()).await;
    asking.list_all_tools().await.unwrap();
    switch.0.lock().unwrap().clone_from(&ToolPolicy::Ask);
    let id = approval_id(&json_of(&asking.call_tool(list_issues()).await.unwrap()));
    let done = approve(&service, &demo, &id).await;
    assert!(!done.is_error(), "{done:?}");

    let (_, next) = retry_and_read_on(&service, &demo).await;
    assert_eq!(next["isError"], false, "{next}");
}

/// A process that took an approved call to run it and died leaves its record running
/// only for the run lease: the client's retry is told the call runs until then, and asks
/// anew after (a person decides again); nothing ran meanwhile.
#[tokio::test]
async fn a_call_whose_running_process_died_is_asked_anew_after_the_run_lease() {
    use integrations_core::model::ApprovalStage;
    let demo = demo().await;
    let client = crate::support::plain(&demo).await;
    let id = approval_id(&send(&client, &demo, "lost").await);
    // What a process approving it does before it runs the call, and then it dies.
    let tenant = &demo.session.session.tenant;
    let store = demo.runtime.host().approvals();
    let now = demo.test.clock.now();
    let call = store
        .find_approval_call(tenant, &id, now)
        .await
        .unwrap()
        .unwrap();
    let lease = McpOptions::new().approval_run_lease;
    let running = call.at_stage(ApprovalStage::Running, None, now, now.saturating_add(lease));
    assert!(
        store
            .update_approval_call(&running, ApprovalStage::Pending)
            .await
            .unwrap()
    );
    store
        .take_approval(tenant, &id, now)
        .await
        .unwrap()
        .unwrap();

    let retry = send(&client, &demo, "lost").await;
    assert_eq!(
        retry["_meta"]["integrations/approval"]["running"], true,
        "{retry}"
    );
    demo.test
        .clock
        .advance(lease.saturating_sub(Duration::from_secs(1)));
    let retry = send(&client, &demo, "lost").await;
    assert_eq!(
        retry["_meta"]["integrations/approval"]["running"], true,
        "{retry}"
    );
    demo.test.clock.advance(Duration::from_secs(2));
    let anew = send(&client, &demo, "lost").await;
    assert_ne!(approval_id(&anew), id, "{anew}");
    assert_eq!(calls(&demo, "slack_messages"), 0);
}

// The record, and the host clock's now, once `ready` says so (polled: the run and
// its renewals go at their own pace on a loaded machine).
async fn record_once(
    demo: &Demo,
    ready: fn(&integrations_core::model::ApprovalCall, integrations_core::Timestamp) -> bool,
) -> (
    integrations_core::model::ApprovalCall,
    integrations_core::Timestamp,
) {
    let tenant = &demo.session.session.tenant;
    let store = demo.runtime.host().approvals();
    for _ in 0..500 {
        let now = demo.test.clock.now();
        if let Some(call) = store.list_approval_calls(tenant, now).await.unwrap().pop()
            && ready(&call, now)
        {
            return (call, now);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the record never got there")
}

/// The process running an approved call renews its record while the call runs: a run
/// longer than the lease is still `running` to the client's retry, never asked anew, and
/// its result reaches the retry after.
#[tokio::test]
async fn a_run_longer_than_its_lease_keeps_its_record_running() {
    use integrations_core::model::ApprovalStage;
    let demo = demo().await;
    let lease = Duration::from_secs(2);
    let service = service(&demo, Arc::new(Switch(Mutex::new(ToolPolicy::Ask))), None);
    let service = service.with_options(
        McpOptions::new()
            .with_approval_url(APPROVALS)
            .with_approval_run_lease(lease),
    );
    let client = connect(service.server(demo.session.clone()), Client::plain()).await;
    let id = approval_id(&send(&client, &demo, "slow").await);
    demo.set_latency(Duration::from_secs(4));
    let approving = tokio::spawn({
        let service = service.clone();
        let tenant = demo.session.session.tenant.clone();
        async move {
            service
                .approvals()
                .approve(&tenant, &id, &UserId::new(REVIEWER).unwrap())
                .await
        }
    });
    // Running, leased from the host clock's now.
    let (running, at) = record_once(&demo, |call, _| call.stage == ApprovalStage::Running).await;
    assert_eq!(running.expires_at, at.saturating_add(lease));
    // Past the first lease by the host clock; a renewal (every fifth of it) leases it
    // again from then.
    demo.test.clock.advance(Duration::from_secs(5));
    let (renewed, _) = record_once(&demo, |call, now| call.expires_at > now).await;
    assert_eq!(renewed.request.id, running.request.id);
    demo.set_latency(Duration::ZERO);
    let retry = send(&client, &demo, "slow").await;
    assert_eq!(
        retry["_meta"]["integrations/approval"]["running"], true,
        "{retry}"
    );

    let done = approving.await.unwrap();
    assert!(!done.is_error(), "{done:?}");
    let retry = send(&client, &demo, "slow").await;
    assert_eq!(retry["isError"], false, "{retry}");
    assert_eq!(calls(&demo, "slack_messages"), 1);
}
