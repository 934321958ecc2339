//! Streamable HTTP on loopback: rmcp's HTTP client, bearer tokens, Origin, limits.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use integrations_core::tools::Session;
use integrations_core::{Error, UserId};
use integrations_mcp::demo::Demo;
use integrations_mcp::{McpAuthenticator, McpHttpOptions, McpSession};
use rmcp::ServiceExt as _;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

use crate::support::{Client, Running, call, demo, json_of};

pub(crate) const TOKEN: &str = "mcp-token-4f9a7c1e2b8d";
pub(crate) const OTHER_TOKEN: &str = "mcp-token-other-0a1b2c";
/// The principal of [`TOKEN`], for sessions about a project (one token per project).
const PROJECT_TOKEN_PREFIX: &str = "mcp-token-project-";
/// The principal of [`TOKEN`] without its publications.
pub(crate) const UNPUBLISHED_TOKEN: &str = "mcp-token-unpublished-5d6e";

struct Tokens {
    session: McpSession,
}

#[async_trait]
impl McpAuthenticator for Tokens {
    async fn authenticate(&self, token: &str) -> Result<Option<McpSession>, Error> {
        Ok(match token {
            TOKEN => Some(self.session.clone()),
            OTHER_TOKEN => {
                let s = &self.session.session;
                Some(McpSession::new(
                    Session::new(s.tenant.clone(), s.workspace.clone())
                        .with_user(UserId::new("someone-else").unwrap()),
                ))
            }
            UNPUBLISHED_TOKEN => Some(McpSession::new(self.session.session.clone())),
            project if project.starts_with(PROJECT_TOKEN_PREFIX) => {
                let mut session = self.session.clone();
                session.session = session.session.with_project(
                    integrations_core::ProjectId::new(&project[PROJECT_TOKEN_PREFIX.len()..])
                        .unwrap(),
                );
                Some(session)
            }
            _ => None,
        })
    }
}

pub(crate) async fn serve(demo: &Arc<Demo>, options: McpHttpOptions) -> SocketAddr {
    serve_service(&demo.service, demo, options).await
}

/// Serves `service` (another instance of the demo's host, say) with the demo's tokens.
pub(crate) async fn serve_service(
    service: &integrations_mcp::McpService,
    demo: &Demo,
    options: McpHttpOptions,
) -> SocketAddr {
    let router = service.http_router(
        Arc::new(Tokens {
            session: demo.session.clone(),
        }),
        options,
    );
    let app = axum::Router::new().nest("/mcp", router);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

async fn client(addr: SocketAddr, token: &str) -> Running {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("http://{addr}/mcp"))
            .auth_header(token),
    );
    Client::plain().serve(transport).await.unwrap()
}

fn initialize() -> serde_json::Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1.0.0"},
        },
    })
}

async fn post(
    addr: SocketAddr,
    token: Option<&str>,
    origin: Option<&str>,
    body: String,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn rmcp_http_client_lists_and_calls_with_a_bearer_token() {
    let demo = demo().await;
    let addr = serve(&demo, McpHttpOptions::new()).await;
    let client = client(addr, TOKEN).await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "linear_list_teams"));
    let result = client
        .call_tool(call("linear_list_teams", json!({})))
        .await
        .unwrap();
    assert_eq!(json_of(&result)["isError"], false);
    let asked = client
        .call_tool(call(
            "slack_send_message",
            json!({"channel": demo.channel, "text": "over http"}),
        ))
        .await
        .unwrap();
    assert!(json_of(&asked)["_meta"]["integrations/approval"]["url"].is_string());
    assert_eq!(demo.provider_calls()["slack_messages"], 0);
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401_and_foreign_origins_403() {
    let demo = demo().await;
    let addr = serve(
        &demo,
        McpHttpOptions::new().with_allowed_origin("http://localhost:6274"),
    )
    .await;
    let body = initialize().to_string();

    let none = post(addr, None, None, body.clone()).await;
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let wrong = post(addr, Some("not-a-token"), None, body.clone()).await;
    assert_eq!(wrong.status(), 401);
    let text = wrong.text().await.unwrap();
    assert!(text.contains("mcp.unauthorized"), "{text}");
    assert!(!text.contains("not-a-token"));

    let evil = post(addr, Some(TOKEN), Some("http://evil.example"), body.clone()).await;
    assert_eq!(evil.status(), 403);
    let allowed = post(
        addr,
        Some(TOKEN),
        Some("http://localhost:6274"),
        body.clone(),
    )
    .await;
    assert_eq!(allowed.status(), 200);
    let plain = post(addr, Some(TOKEN), None, body).await;
    assert_eq!(plain.status(), 200);
}

/// An empty list of allowed hosts never turns the `Host` check off (rmcp would take it
/// as "any host"): a request naming a foreign host gets 403, a loopback one passes.
#[tokio::test]
async fn an_empty_allowed_host_list_keeps_the_host_check_on() {
    let demo = demo().await;
    let mut cleared = McpHttpOptions::new();
    cleared.allowed_hosts.clear();
    for options in [McpHttpOptions::new().with_allowed_hosts(vec![]), cleared] {
        let addr = serve(&demo, options).await;
        let rebound = reqwest::Client::new()
            .post(format!("http://{addr}/mcp"))
            .header("host", "evil.example")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .bearer_auth(TOKEN)
            .body(initialize().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(rebound.status(), 403);
        let local = post(addr, Some(TOKEN), None, initialize().to_string()).await;
        assert_eq!(local.status(), 200);
    }
}

#[tokio::test]
async fn bodies_and_sessions_are_limited() {
    let demo = demo().await;
    let addr = serve(
        &demo,
        McpHttpOptions::new()
            .with_max_body_bytes(4096)
            .with_max_sessions(2),
    )
    .await;
    let mut big = initialize();
    big["params"]["clientInfo"]["name"] = json!("x".repeat(10_000));
    let response = post(addr, Some(TOKEN), None, big.to_string()).await;
    assert_eq!(response.status(), 413);

    let _a = client(addr, TOKEN).await;
    let _b = client(addr, TOKEN).await;
    let third = post(addr, Some(TOKEN), None, initialize().to_string()).await;
    assert_eq!(third.status(), 503);
    assert!(
        third
            .text()
            .await
            .unwrap()
            .contains("mcp.too_many_sessions")
    );
}

/// A request on session `session` (`None`: no `Mcp-Session-Id`) as `token`.
fn on_session(
    method: reqwest::Method,
    addr: SocketAddr,
    token: &str,
    session: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut request = reqwest::Client::new()
        .request(method, format!("http://{addr}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .bearer_auth(token);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request
}

/// POSTs `message` on `session` as `token`.
async fn send(
    addr: SocketAddr,
    token: &str,
    session: &str,
    message: serde_json::Value,
) -> reqwest::Response {
    on_session(reqwest::Method::POST, addr, token, Some(session))
        .header("content-type", "application/json")
        .body(message.to_string())
        .send()
        .await
        .unwrap()
}

/// Opens a session as `token` with a raw `initialize`; its `Mcp-Session-Id`, or the
/// refusal.
async fn open(addr: SocketAddr, token: &str) -> Result<String, reqwest::Response> {
    let opened = post(addr, Some(token), None, initialize().to_string()).await;
    if opened.status() != 200 {
        return Err(opened);
    }
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = opened.text().await;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(send(addr, token, &session, initialized).await.status(), 202);
    Ok(session)
}

async fn assert_too_many(refused: reqwest::Response) {
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let text = refused.text().await.unwrap();
    assert!(text.contains("mcp.too_many_sessions"), "{text}");
}

#[tokio::test]
async fn a_session_stays_bound_to_the_principal_that_opened_it() {
    let demo = demo().await;
    let addr = serve(&demo, McpHttpOptions::new()).await;
    let session = open(addr, TOKEN).await.unwrap();
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let listed = send(addr, TOKEN, &session, list.clone()).await;
    assert_eq!(listed.status(), 200);
    assert!(listed.text().await.unwrap().contains("linear_list_teams"));

    // Everything another principal does with A's session id is answered as if the
    // session did not exist, whether or not the request reaches the handler.
    let not_found = |response: reqwest::Response, what: &'static str| async move {
        assert_eq!(response.status(), 404, "{what}");
        let text = response.text().await.unwrap();
        assert!(text.contains("mcp.session_not_found"), "{what}: {text}");
        assert!(!text.contains("linear_list_teams"), "{what}: {text}");
    };
    let hijack = send(addr, OTHER_TOKEN, &session, list.clone()).await;
    not_found(hijack, "tools/list").await;
    let stream = on_session(reqwest::Method::GET, addr, OTHER_TOKEN, Some(&session))
        .send()
        .await
        .unwrap();
    not_found(stream, "the standalone stream").await;
    // rmcp's event ids: `<index>` on the standalone stream, `<index>/<n>` on the
    // stream of the session's n-th request; a resumption replays what followed.
    for last in ["0", "1", "0/0", "1/0"] {
        let replay = on_session(reqwest::Method::GET, addr, OTHER_TOKEN, Some(&session))
            .header("last-event-id", last)
            .send()
            .await
            .unwrap();
        not_found(replay, "a replay").await;
    }
    let cancel = json!({
        "jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 3, "reason": "hijack"},
    });
    not_found(
        send(addr, OTHER_TOKEN, &session, cancel).await,
        "a notification",
    )
    .await;
    let answer = json!({"jsonrpc": "2.0", "id": 0, "result": {}});
    not_found(
        send(addr, OTHER_TOKEN, &session, answer).await,
        "a response",
    )
    .await;
    let end = on_session(reqwest::Method::DELETE, addr, OTHER_TOKEN, Some(&session))
        .send()
        .await
        .unwrap();
    not_found(end, "DELETE").await;

    // The session still works for the principal that opened it, and ends when it asks.
    let again = send(addr, TOKEN, &session, list.clone()).await;
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains("linear_list_teams"));
    let end = on_session(reqwest::Method::DELETE, addr, TOKEN, Some(&session))
        .send()
        .await
        .unwrap();
    assert_eq!(end.status(), 202);
    let after = send(addr, TOKEN, &session, list).await;
    assert_eq!(after.status(), 404);
}

/// A person whose publications changed (their token now authenticates to another
/// `McpSession`) is not served on the sessions they opened before, but can end them,
/// which frees their share.
#[tokio::test]
async fn a_principal_whose_publications_changed_can_end_its_old_sessions() {
    let demo = demo().await;
    let addr = serve(
        &demo,
        McpHttpOptions::new().with_max_sessions_per_principal(1),
    )
    .await;
    let session = open(addr, TOKEN).await.unwrap();
    assert!(
        open(addr, UNPUBLISHED_TOKEN).await.is_err(),
        "the share is one"
    );
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let served = send(addr, UNPUBLISHED_TOKEN, &session, list.clone()).await;
    assert_eq!(served.status(), 404);
    let end = on_session(
        reqwest::Method::DELETE,
        addr,
        UNPUBLISHED_TOKEN,
        Some(&session),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(end.status(), 202);
    assert_eq!(send(addr, TOKEN, &session, list).await.status(), 404);
    open(addr, UNPUBLISHED_TOKEN).await.unwrap();
}

#[tokio::test]
async fn one_principal_cannot_take_every_session() {
    let demo = demo().await;
    // The default share per principal is 16.
    let addr = serve(&demo, McpHttpOptions::new().with_max_sessions(20)).await;
    for _ in 0..16 {
        open(addr, TOKEN).await.unwrap();
    }
    assert_too_many(open(addr, TOKEN).await.unwrap_err()).await;
    // Nor through a session about a project: the share is the principal's (tenant,
    // workspace, user), whatever the session is about.
    let project_token = format!("{PROJECT_TOKEN_PREFIX}p-7");
    assert_too_many(open(addr, &project_token).await.unwrap_err()).await;
    // Another principal still gets a session, and the first one's sessions still work.
    let other = open(addr, OTHER_TOKEN).await.unwrap();
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(send(addr, OTHER_TOKEN, &other, list).await.status(), 200);
}

#[tokio::test]
async fn a_principals_sessions_come_back_when_they_end() {
    let demo = demo().await;
    let addr = serve(
        &demo,
        McpHttpOptions::new()
            .with_max_sessions_per_principal(1)
            .with_session_idle(std::time::Duration::from_millis(300)),
    )
    .await;
    // An `initialize` rmcp refuses (its version header contradicts its body) opens
    // nothing and keeps nothing.
    let mut contradicting = initialize();
    contradicting["params"]["protocolVersion"] = json!("2025-06-18");
    let refused = on_session(reqwest::Method::POST, addr, TOKEN, None)
        .header("content-type", "application/json")
        .body(contradicting.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    let session = open(addr, TOKEN).await.unwrap();
    assert_too_many(open(addr, TOKEN).await.unwrap_err()).await;
    let end = on_session(reqwest::Method::DELETE, addr, TOKEN, Some(&session))
        .send()
        .await
        .unwrap();
    assert_eq!(end.status(), 202);
    open(addr, TOKEN).await.unwrap();
    // An expired session gives its place back too.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    open(addr, TOKEN).await.unwrap();
}

#[tokio::test]
async fn stateless_requests_pass_when_the_sessions_are_taken() {
    let demo = demo().await;
    let addr = serve(&demo, McpHttpOptions::new().with_max_sessions(1)).await;
    let session = open(addr, TOKEN).await.unwrap();
    assert_too_many(open(addr, OTHER_TOKEN).await.unwrap_err()).await;
    // 2026-07-28 requests never create a session: the cap does not apply to them.
    let listed = crate::revisions::raw(addr, "2026-07-28", "tools/list", None, json!({})).await;
    assert_eq!(listed["result"]["resultType"], "complete", "{listed}");
    // Nor to requests on an existing session.
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(send(addr, TOKEN, &session, list).await.status(), 200);
}

/// An `initialize` whose body arrives `delay` after its headers; the response's status.
async fn slow_initialize(addr: SocketAddr, delay: std::time::Duration) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let body = initialize().to_string();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/json\r\naccept: application/json, text/event-stream\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(delay).await;
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut status = [0; 12];
    stream.read_exact(&mut status).await.unwrap();
    std::str::from_utf8(&status[9..]).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_initializes_do_not_exceed_the_cap() {
    let demo = demo().await;
    let addr = serve(&demo, McpHttpOptions::new().with_max_sessions(3)).await;
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..8 {
        opening.spawn(slow_initialize(addr, std::time::Duration::from_millis(300)));
    }
    let mut statuses = Vec::new();
    while let Some(status) = opening.join_next().await {
        statuses.push(status.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 503, 503, 503, 503, 503]);
}

#[tokio::test]
async fn idle_sessions_expire() {
    let demo = demo().await;
    let addr = serve(
        &demo,
        McpHttpOptions::new().with_session_idle(std::time::Duration::from_millis(300)),
    )
    .await;
    let opened = post(addr, Some(TOKEN), None, initialize().to_string()).await;
    assert_eq!(opened.status(), 200);
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = opened.text().await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let later = reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .bearer_auth(TOKEN)
        .body(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(later.status(), 404, "{:?}", later.text().await);
}

#[tokio::test]
async fn a_cursor_given_in_an_http_session_is_read_only_in_that_session() {
    let demo = demo().await;
    let addr = serve(&demo, McpHttpOptions::new()).await;
    let owner = client(addr, TOKEN).await;
    let first = json_of(
        &owner
            .call_tool(call("linear_list_issues", json!({"limit": 50})))
            .await
            .unwrap(),
    );
    let cursor = first["_meta"]["integrations/continuation"]["cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("not trimmed: {first}"))
        .to_owned();
    let continue_call = || {
        call(
            "integrations_continue_result",
            json!({"cursor": cursor.clone()}),
        )
    };
    let unknown = |value: &serde_json::Value| {
        value["_meta"]["integrations/error"]["code"] == "tool.continuation_not_found"
    };

    // Another session of the same principal, and a sessionless 2026-07-28 request of
    // the same principal, cannot read it.
    let sibling = client(addr, TOKEN).await;
    let read = json_of(&sibling.call_tool(continue_call()).await.unwrap());
    assert!(unknown(&read), "{read}");
    let stateless = crate::revisions::continue_as(addr, TOKEN, &cursor).await;
    assert!(unknown(&stateless["result"]), "{stateless}");

    let next = json_of(&owner.call_tool(continue_call()).await.unwrap());
    assert_eq!(next["isError"], false, "{next}");
}
