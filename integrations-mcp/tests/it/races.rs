//! Identical `ask` calls in flight at once (a client retrying on timeout), on a
//! multi-thread runtime with an approval store that takes its time, as a database does.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use integrations_core::auth::TokenManager;
use integrations_core::host::{ApprovalStore, Host};
use integrations_core::tools::{ApprovalId, ApprovalRequest, Runtime};
use integrations_core::{Error, Timestamp, UserId};
use integrations_mcp::demo::{Demo, REVIEWER};
use integrations_mcp::{McpOptions, McpService};
use rmcp::model::{CallToolRequest, ClientRequest};
use rmcp::service::PeerRequestOptions;

use crate::support::{
    APPROVALS, ApprovalHooks, Client, Hooked, approval_id, calls, connect, demo, json_of,
    send_message,
};

/// Hooks taking `delay` over each put and yielding on each take.
struct Paced {
    delay: Duration,
}

#[async_trait]
impl ApprovalHooks for Paced {
    async fn before_put(&self, _request: &ApprovalRequest) -> Result<(), Error> {
        tokio::time::sleep(self.delay).await;
        Ok(())
    }

    async fn before_take(&self) -> Result<(), Error> {
        tokio::task::yield_now().await;
        Ok(())
    }
}

/// A service over the demo's stores, connections and mock APIs whose approval store
/// takes `delay` to store a request.
fn paced(demo: &Demo, delay: Duration) -> McpService {
    let test = &demo.test;
    let host = Host::builder()
        .stores(test.store.clone())
        .approvals(Arc::new(Hooked {
            store: test.store.clone(),
            hooks: Paced { delay },
        }))
        .http(test.host().http_arc())
        .cipher(test.keys.clone())
        .clock(test.clock.clone())
        .audit(test.audit.clone())
        .events(test.events.clone())
        .build()
        .unwrap();
    let registry = Arc::new(integrations_definitions::registry());
    let tokens = Arc::new(TokenManager::new(Arc::clone(&registry), host.clone()));
    let runtime = Arc::new(Runtime::new(registry, host, tokens));
    McpService::new(runtime).with_options(McpOptions::new().with_approval_url(APPROVALS))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_ask_calls_in_flight_at_once_share_one_approval_request() {
    let demo = demo().await;
    let service = paced(&demo, Duration::from_millis(50));
    let tenant = demo.session.session.tenant.clone();
    // Two connections: a retry on the same one, and one from another process of the agent.
    let a = connect(service.server(demo.session.clone()), Client::plain()).await;
    let b = connect(service.server(demo.session.clone()), Client::plain()).await;
    let mut in_flight = tokio::task::JoinSet::new();
    for i in 0..5 {
        let peer = if i % 2 == 0 { a.peer() } else { b.peer() }.clone();
        let params = send_message(&demo, "deploy v3");
        in_flight.spawn(async move { json_of(&peer.call_tool(params).await.unwrap()) });
    }
    let results = in_flight.join_all().await;
    let ids: Vec<ApprovalId> = results.iter().map(approval_id).collect();
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    let pending = service.approvals().pending(&tenant).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(calls(&demo, "slack_messages"), 0);

    // Approving everything pending sends the message once, and a retry receives it.
    let reviewer = UserId::new(REVIEWER).unwrap();
    for approval in pending {
        let done = service
            .approvals()
            .approve(&tenant, &approval.request.id, &reviewer)
            .await;
        assert!(!done.is_error(), "{done:?}");
    }
    assert_eq!(calls(&demo, "slack_messages"), 1);
    let retry = json_of(&a.call_tool(send_message(&demo, "deploy v3")).await.unwrap());
    assert_eq!(retry["isError"], false, "{retry}");
    assert_eq!(calls(&demo, "slack_messages"), 1);
}

/// Identical calls asking at once through two processes (two services over one store),
/// each storing a request of its own: the first stored answers both, the other's
/// request is withdrawn, and one approval runs the call once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_calls_asking_at_once_in_two_processes_share_the_first_request() {
    let demo = demo().await;
    let first = paced(&demo, Duration::from_millis(100));
    let second = paced(&demo, Duration::from_millis(300));
    let tenant = demo.session.session.tenant.clone();
    let a = connect(first.server(demo.session.clone()), Client::plain()).await;
    let b = connect(second.server(demo.session.clone()), Client::plain()).await;
    let (pa, pb) = (a.peer().clone(), b.peer().clone());
    let (ma, mb) = (
        send_message(&demo, "one deploy"),
        send_message(&demo, "one deploy"),
    );
    let (ra, rb) = tokio::join!(
        async move { json_of(&pa.call_tool(ma).await.unwrap()) },
        async move { json_of(&pb.call_tool(mb).await.unwrap()) },
    );
    assert_eq!(approval_id(&ra), approval_id(&rb), "{ra} {rb}");
    // The withdrawn request is gone from the store too: one is pending, in both.
    for service in [&first, &second] {
        let pending = service.approvals().pending(&tenant).await.unwrap();
        assert_eq!(pending.len(), 1, "{pending:?}");
    }
    let far = Timestamp::from_unix_seconds(4_000_000_000);
    let withdrawn = demo.test.store.purge_approvals(far).await.unwrap();
    assert_eq!(
        withdrawn, 2,
        "one request and its call; the withdrawn request is gone"
    );
    assert_eq!(calls(&demo, "slack_messages"), 0);
}

/// Sends the `ask` call of the message `text` through `client`, as a request it can
/// cancel.
async fn ask_cancellably(
    client: &crate::support::Running,
    demo: &Demo,
    text: &str,
) -> rmcp::service::RequestHandle<rmcp::RoleClient> {
    client
        .peer()
        .send_cancellable_request(
            ClientRequest::CallToolRequest(CallToolRequest::new(send_message(demo, text))),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_ask_call_does_not_hold_back_the_identical_one_after_it() {
    let demo = demo().await;
    let service = paced(&demo, Duration::from_millis(600));
    let tenant = demo.session.session.tenant.clone();
    let client = connect(service.server(demo.session.clone()), Client::plain()).await;

    let first = ask_cancellably(&client, &demo, "once").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let peer = client.peer().clone();
    let params = send_message(&demo, "once");
    let second = tokio::spawn(async move { json_of(&peer.call_tool(params).await.unwrap()) });
    tokio::time::sleep(Duration::from_millis(150)).await;
    first.cancel(Some("timed out".into())).await.unwrap();

    let second = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("the identical call waits for a cancelled one")
        .unwrap();
    let id = approval_id(&second);
    let pending = service.approvals().pending(&tenant).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].request.id, id);
    assert_eq!(calls(&demo, "slack_messages"), 0);
}

/// A client that cancels an `ask` call while its request is being stored leaves no
/// request behind that no one sees: the call and its registration end on their own, so
/// the request is pending (counted against the principal's cap) and a retry gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ask_call_cancelled_while_its_request_is_stored_still_registers_it() {
    let demo = demo().await;
    let service = paced(&demo, Duration::from_millis(300));
    let tenant = demo.session.session.tenant.clone();
    let client = connect(service.server(demo.session.clone()), Client::plain()).await;
    let first = ask_cancellably(&client, &demo, "once").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    first.cancel(Some("timed out".into())).await.unwrap();

    let mut pending = Vec::new();
    for _ in 0..250 {
        pending = service.approvals().pending(&tenant).await.unwrap();
        if !pending.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        pending.len(),
        1,
        "the cancelled call's request is registered"
    );
    let retry = json_of(&client.call_tool(send_message(&demo, "once")).await.unwrap());
    assert_eq!(approval_id(&retry), pending[0].request.id, "{retry}");
    let far = Timestamp::from_unix_seconds(4_000_000_000);
    assert_eq!(
        demo.test.store.purge_approvals(far).await.unwrap(),
        2,
        "one request and its call, nothing unregistered"
    );
    assert_eq!(calls(&demo, "slack_messages"), 0);
}
