//! What a tool sees of its call. The runtime shares the parts of a tool context between
//! calls with the same ids, tool and records, so these tests interleave calls that differ
//! in one of them and check each tool saw its own: the session's ids, the tool's name,
//! the connection's current config, and the user its credentialed requests are audited
//! for.

use std::sync::Arc;

use integrations_core::auth::TokenManager;
use integrations_core::host::ReqwestHttpClient;
use integrations_core::provider::prelude::*;
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::tools::{CallContext, Runtime, Session, ToolPolicy, ToolResult, ToolStatus};
use integrations_core::{ConnectionId, Registry, TargetId, TenantId, UserId, WorkspaceId};
use integrations_testkit::TestHost;

use crate::declared::{DeskConnection, DeskTarget, desk_with};
use integrations_testkit::mock::MockProvider;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// No arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

/// What the tool saw.
#[derive(Serialize, JsonSchema)]
struct Seen {
    tool: String,
    workspace: String,
    user: Option<String>,
    issue: Option<String>,
    publication: Option<String>,
    account: String,
}

/// Reports its context, after one credentialed request (so the credential's use is
/// audited for the call's user).
async fn report(_: NoArgs, context: ToolContext) -> Result<Seen> {
    let target = context.target_config().get::<DeskTarget>()?;
    let url = target.api_base_url.url().path("ping").build()?;
    let auth = RequestAuth::bearer(CredentialSelector::of_type(CredentialType::API_KEY));
    let response = context
        .http()
        .send(request(Method::GET, url.as_str())?, &auth)
        .await?;
    if !response.status().is_success() {
        return Err(status_error(response.status()));
    }
    let session = context.session();
    Ok(Seen {
        tool: context.tool_name().to_owned(),
        workspace: session.workspace.to_string(),
        user: session.user.as_ref().map(ToString::to_string),
        issue: session.issue.clone(),
        publication: context.call().publication.as_ref().map(ToString::to_string),
        account: context
            .connection_config()
            .get::<DeskConnection>()?
            .account
            .clone(),
    })
}

fn desk() -> DeclaredIntegration {
    let tool = |name: &'static str| {
        ToolDescriptor::new::<NoArgs>(name, "Reports what it sees.")
            .with_annotations(ToolAnnotations::read_only())
            .with_policy(ToolPolicy::Auto)
    };
    desk_with(
        ToolSet::new()
            .with_fn(tool("desk_report_context"), report)
            .with_fn(tool("desk_report_session"), report),
    )
}

struct Desk {
    test: TestHost,
    service: WriteService,
    runtime: Runtime,
    _api: MockProvider,
}

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn connection(account: &str) -> ConnectionInput {
    ConnectionInput::new(
        tenant(),
        ConnectionId::new("desk-1").unwrap(),
        TargetId::new("desk").unwrap(),
        ConnectionMethodId::new("api-key").unwrap(),
    )
    .with_config(json!({ "account": account }))
    .with_secret("api_key", "desk-key")
}

impl Desk {
    async fn new() -> Self {
        let api = MockProvider::start().await;
        Mock::given(method("GET"))
            .and(path("/ping"))
            .respond_with(ResponseTemplate::new(204))
            .mount(api.server())
            .await;
        let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new().unwrap()));
        let registry = Arc::new(Registry::new().with(Arc::new(desk())).unwrap());
        let service = WriteService::new(registry.clone(), test.host().clone());
        service
            .put_target(
                TargetInput::new(
                    tenant(),
                    TargetId::new("desk").unwrap(),
                    "desk::desk-cloud".parse().unwrap(),
                )
                .with_config(json!({"api_base_url": api.uri()})),
            )
            .await
            .unwrap();
        service.put_connection(connection("ada")).await.unwrap();
        let tokens = Arc::new(TokenManager::new(registry.clone(), test.host().clone()));
        let runtime = Runtime::new(registry, test.host().clone(), tokens);
        Self {
            test,
            service,
            runtime,
            _api: api,
        }
    }

    /// Calls `tool` with `context`; returns what it saw, and the user its credential use
    /// was audited for.
    async fn call(&self, tool: &str, context: &CallContext) -> (Value, Option<String>) {
        let result: ToolResult = self.runtime.call(tool, json!({}), context).await;
        assert_eq!(result.status, ToolStatus::Completed, "{:?}", result.failure);
        let used = self.test.audit.with_action("credential.used");
        let last = used.last().expect("the credential's use is audited");
        assert_eq!(last.detail["tool"], tool);
        (
            result.structured_content.unwrap(),
            last.actor.as_ref().map(ToString::to_string),
        )
    }
}

fn session(workspace: &str, user: Option<&str>) -> Session {
    let session = Session::new(tenant(), WorkspaceId::new(workspace).unwrap());
    match user {
        Some(user) => session.with_user(UserId::new(user).unwrap()),
        None => session,
    }
}

fn call(session: Session) -> CallContext {
    CallContext::new(session, ConnectionId::new("desk-1").unwrap())
}

#[tokio::test]
async fn calls_through_one_connection_each_see_their_own_ids_and_tool() {
    let desk = Desk::new().await;
    let ada = call(session("eng", Some("ada")));
    let bob = call(session("eng", Some("bob")));
    let nobody = call(session("ops", None));
    let about_an_issue = call(session("eng", Some("ada")).with_issue("ENG-1"));
    let tools = ["desk_report_context", "desk_report_session"];
    // Twice over, so the second round is served from what the first one kept.
    for _ in 0..2 {
        for context in [&ada, &bob, &nobody, &about_an_issue] {
            for tool in tools {
                let (seen, actor) = desk.call(tool, context).await;
                let session = &context.session;
                assert_eq!(seen["tool"], tool);
                assert_eq!(seen["workspace"], session.workspace.as_str());
                assert_eq!(
                    seen["user"].as_str(),
                    session.user.as_ref().map(UserId::as_str)
                );
                assert_eq!(actor.as_deref(), session.user.as_ref().map(UserId::as_str));
                assert_eq!(seen["issue"].as_str(), session.issue.as_deref());
                assert_eq!(seen["publication"], Value::Null);
                assert_eq!(seen["account"], "ada");
            }
        }
    }
}

#[tokio::test]
async fn a_connection_changed_between_calls_is_the_one_the_next_call_sees() {
    let desk = Desk::new().await;
    let ada = call(session("eng", Some("ada")));
    let (seen, _) = desk.call("desk_report_context", &ada).await;
    assert_eq!(seen["account"], "ada");
    for account in ["grace", "ada"] {
        desk.service
            .put_connection(connection(account))
            .await
            .unwrap();
        let (seen, _) = desk.call("desk_report_context", &ada).await;
        assert_eq!(seen["account"], account);
    }
}

/// A stored connection config that no longer matches its method's schema (written past
/// the write service) fails the call with `auth.connection_config_invalid`, naming the
/// field, and the tool does not run.
#[tokio::test]
async fn a_stored_connection_config_that_no_longer_validates_fails_the_call() {
    let desk = Desk::new().await;
    let ada = call(session("eng", Some("ada")));
    desk.call("desk_report_context", &ada).await;
    let connections = desk.test.host().connections();
    let id = ConnectionId::new("desk-1").unwrap();
    let mut stored = connections
        .get_connection(&tenant(), &id)
        .await
        .unwrap()
        .unwrap();
    stored.config = json!({"account": 7});
    connections.put_connection(&stored).await.unwrap();
    let uses = desk.test.audit.with_action("credential.used").len();

    let result = desk
        .runtime
        .call("desk_report_context", json!({}), &ada)
        .await;
    let failure = result.failure.expect("the call fails");
    assert_eq!(failure.code, "auth.connection_config_invalid");
    assert_eq!(failure.issues[0].path, "/account", "{failure:?}");
    assert_eq!(
        desk.test.audit.with_action("credential.used").len(),
        uses,
        "the tool did not run"
    );
}
