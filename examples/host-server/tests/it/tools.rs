//! `POST /tools/{name}`: a call runs for the session its bearer token stands for (tenant,
//! workspace, user and publication from the host's authenticator, never from the body),
//! on a connection to the testkit's mock Linear API. Without an authenticator, or without
//! a token it knows, nothing runs.

use std::sync::Arc;

use async_trait::async_trait;
use host_server::McpTokens;
use integrations::core::host::ReqwestHttpClient;
use integrations::core::model::{Capability, Publication, PublicationScope};
use integrations::core::tools::Session;
use integrations::core::{ConnectionId, PublicationId, WorkspaceId};
use integrations_mcp::{McpAuthenticator, McpSession};
use integrations_testkit::TestHost;
use integrations_testkit::mock::api::LinearApi;
use serde_json::json;

use super::*;

const TOKEN: &str = "host-issued-tool-token-8e2a41";
const MALLORY_TOKEN: &str = "host-issued-tool-token-mallory-77c0";
pub(crate) const LINEAR_KEY: &str = "lin_api_host_tools_4d2c8e1f";

/// `POST /tools/{name}` with `body`, and `authorization` as the header's value.
async fn call(server: &Server, name: &str, authorization: Option<&str>, body: &Value) -> Answer {
    let mut request = server
        .client
        .post(server.url(&format!("/tools/{name}")))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    Answer::read(request.send().await.unwrap()).await
}

/// A `401` asking for a bearer token, with `code`.
fn assert_unauthorized(answer: &Answer, code: &str) {
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (401, code),
        "{}",
        answer.text()
    );
    assert_eq!(answer.header("www-authenticate"), "Bearer");
}

/// A server whose tool route `configure` sets up, with the Linear API mock behind an API
/// key connection `linear` of tenant acme, published to workspace `main` as
/// `agent-linear` with `team.read`.
pub(crate) async fn linear_server(configure: impl FnOnce(App) -> App) -> (LinearApi, Server) {
    let linear = LinearApi::start().await;
    linear.accept_api_key(LINEAR_KEY);
    linear.add_team("ENG", "Engineering");
    let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new().unwrap()));
    let server = Server::start_with(test, configure).await;
    server
        .put_target(
            "linear",
            "linear::linear-default",
            json!({"api_base_url": linear.base_url()}),
            json!({}),
        )
        .await;
    server
        .put_connection("linear", "linear", ("api_key", LINEAR_KEY), None, None)
        .await;
    let mut grant = Publication::new(
        tenant(),
        PublicationId::new("agent-linear").unwrap(),
        ConnectionId::new("linear").unwrap(),
        PublicationScope::Workspace {
            workspace: WorkspaceId::new("main").unwrap(),
        },
        server.now(),
    );
    grant
        .capabilities
        .insert(Capability::new("team.read").unwrap());
    server
        .test
        .host()
        .publications()
        .put_publication(&grant)
        .await
        .unwrap();
    (linear, server)
}

/// The tokens: acme's agent in workspace `main` (its calls through `linear` go with
/// `agent-linear`), and a user of another tenant.
fn tokens() -> McpTokens {
    let acme = McpSession::new(
        Session::new(tenant(), WorkspaceId::new("main").unwrap())
            .with_user(UserId::new("alice").unwrap()),
    )
    .with_publication(
        ConnectionId::new("linear").unwrap(),
        PublicationId::new("agent-linear").unwrap(),
    );
    let mallory = McpSession::new(Session::new(
        TenantId::new("mallory").unwrap(),
        WorkspaceId::new("main").unwrap(),
    ));
    McpTokens::new()
        .with_token(TOKEN, acme)
        .with_token(MALLORY_TOKEN, mallory)
}

#[tokio::test]
async fn without_an_authenticator_the_tool_route_runs_nothing() {
    let (linear, server) = linear_server(|app| app).await;
    // The body that used to be enough: it named the tenant, workspace and publication.
    let old = json!({
        "tenant": "acme", "workspace": "main", "connection": "linear",
        "publication": "agent-linear",
    });
    let new = json!({"connection": "linear"});
    for (authorization, body) in [
        (None, &old),
        (None, &new),
        (Some(format!("Bearer {TOKEN}")), &new),
    ] {
        let answer = call(&server, "linear_list_teams", authorization.as_deref(), body).await;
        assert_unauthorized(&answer, "host_server.tool_auth_not_configured");
    }
    assert!(linear.requests().is_empty(), "nothing reached Linear");
    server.stop().await;
}

#[tokio::test]
async fn a_tool_call_acts_for_the_session_of_its_bearer_token() {
    let (linear, server) = linear_server(|app| app.with_tool_auth(Arc::new(tokens()))).await;
    let body = json!({"connection": "linear"});
    let secrets = [
        TOKEN.to_owned(),
        MALLORY_TOKEN.to_owned(),
        LINEAR_KEY.to_owned(),
    ];

    // No token, a wrong one, another scheme: 401, before the body is read.
    let bearer = format!("Bearer {TOKEN}");
    for authorization in [
        None,
        Some("Bearer not-a-token"),
        Some(&*format!("Basic {TOKEN}")),
        Some("Bearer "),
    ] {
        let answer = call(&server, "linear_list_teams", authorization, &body).await;
        assert_unauthorized(&answer, "host_server.unauthenticated");
        answer.assert_free_of(&secrets);
        let garbage = server
            .client
            .post(server.url("/tools/linear_list_teams"))
            .body("{");
        let garbage = match authorization {
            Some(value) => garbage.header("authorization", value),
            None => garbage,
        };
        let answer = Answer::read(garbage.send().await.unwrap()).await;
        assert_unauthorized(&answer, "host_server.unauthenticated");
    }
    assert!(linear.requests().is_empty());

    // The token's session: acme, workspace main, and the publication it names for
    // `linear` (the body names none).
    let answer = call(&server, "linear_list_teams", Some(&bearer), &body).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let result = answer.json();
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"]["teams"][0]["key"], "ENG");
    answer.assert_free_of(&secrets);
    assert_eq!(linear.requests().len(), 1);

    // The body cannot say who is calling: those fields are refused, not ignored.
    for field in ["tenant", "workspace", "user"] {
        let mut claimed = body.clone();
        claimed[field] = json!("mallory");
        let answer = call(&server, "linear_list_teams", Some(&bearer), &claimed).await;
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (400, "host_server.invalid_body"),
            "{field}"
        );
    }

    // Another tenant's token reaches only that tenant: acme's connection is not there,
    // even with acme's publication named in the body.
    let answer = call(
        &server,
        "linear_list_teams",
        Some(&format!("bearer {MALLORY_TOKEN}")),
        &json!({"connection": "linear", "publication": "agent-linear"}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["isError"], true, "{}", answer.text());
    answer.assert_free_of(&secrets);
    assert_eq!(linear.requests().len(), 1, "nothing more reached Linear");
    server.stop().await;
}

/// An authenticator whose store is down.
struct Down;

#[async_trait]
impl McpAuthenticator for Down {
    async fn authenticate(&self, _token: &str) -> Result<Option<McpSession>, Error> {
        Err(Error::storage(std::io::Error::other(
            "the token table at db.internal:5432 is down",
        )))
    }
}

#[tokio::test]
async fn a_failing_authenticator_is_a_retry_never_a_call() {
    let (linear, server) = linear_server(|app| app.with_tool_auth(Arc::new(Down))).await;
    let answer = call(
        &server,
        "linear_list_teams",
        Some(&format!("Bearer {TOKEN}")),
        &json!({"connection": "linear"}),
    )
    .await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (503, "host_server.auth_unavailable")
    );
    assert_eq!(answer.header("retry-after"), "5");
    assert!(!answer.text().contains("db.internal"), "{}", answer.text());
    answer.assert_free_of(&[TOKEN.to_owned()]);
    assert!(linear.requests().is_empty());
    server.stop().await;
}
