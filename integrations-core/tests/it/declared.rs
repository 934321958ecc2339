//! A provider written the short way (`DeclaredIntegration`, a `ToolSet::with_fn` tool,
//! `ToolHttp::fetch` with `RequestAuth::basic`) run by the real runtime against a mock
//! API on loopback: success, every failure mapped to its `tool.*` code, bodies never
//! quoted, and the credential never in a result.

use std::sync::Arc;

use integrations_core::auth::TokenManager;
use integrations_core::host::ReqwestHttpClient;
use integrations_core::provider::prelude::*;
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::tools::{CallContext, Runtime, Session, ToolResult, ToolStatus};
use integrations_core::{ConnectionId, Registry, TargetId, TenantId, WorkspaceId};
use integrations_testkit::TestHost;
use integrations_testkit::mock::MockProvider;
use wiremock::matchers::{basic_auth, header, method, path};
use wiremock::{Mock, ResponseTemplate};

/// The target config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeskTarget {
    /// The API.
    pub(crate) api_base_url: BaseUrl,
}

/// The connection config: the account the API key belongs to.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeskConnection {
    /// The account.
    pub(crate) account: String,
}

/// Arguments of `desk_get_ticket`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GetTicket {
    /// The ticket id.
    id: String,
}

/// A ticket.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Ticket {
    /// The id.
    id: String,
    /// The title.
    title: String,
}

async fn get_ticket(args: GetTicket, context: ToolContext) -> Result<Ticket> {
    let target = context.target_config().get::<DeskTarget>()?;
    let url = target
        .api_base_url
        .url()
        .path("tickets")
        .arg("/id", &args.id)
        .build()?;
    let account = &context.connection_config().get::<DeskConnection>()?.account;
    let auth = RequestAuth::basic(
        CredentialSelector::of_type(CredentialType::API_KEY),
        account,
    );
    context
        .http()
        .fetch(request(Method::GET, url.as_str())?, &auth)
        .await
}

fn desk() -> DeclaredIntegration {
    desk_with(
        ToolSet::new().with_fn(
            ToolDescriptor::new::<GetTicket>("desk_get_ticket", "Get a ticket by id.")
                .with_annotations(ToolAnnotations::read_only()),
            get_ticket,
        ),
    )
}

/// The Desk integration (an API-key connection with an account in its config) with
/// `tools`.
pub(crate) fn desk_with(tools: ToolSet) -> DeclaredIntegration {
    DeclaredIntegration::new(
        const { DefinitionKey::from_static("desk::desk-cloud") },
        IntegrationKind::Connector,
        Metadata::new("Desk", "Tickets in Desk.", "desk", "productivity"),
    )
    .with_target_config(
        ConfigSpec::of::<DeskTarget>().with_example(json!({"api_base_url": "https://desk.test"})),
    )
    .with_connection_method(
        ConnectionMethod::new(
            const { ConnectionMethodId::from_static("api-key") },
            "API key",
            ConnectionMethodKind::ApiKey,
        )
        .with_secret_field(SecretField::api_key("api_key", "API key"))
        .with_config(ConfigSpec::of::<DeskConnection>().with_example(json!({"account": "ada"}))),
    )
    .with_default_header(header::ACCEPT, HeaderValue::from_static("application/json"))
    .with_tools(tools)
}

const API_KEY: &str = "desk-api-key-secret-1";

async fn call(api: &MockProvider) -> ToolResult {
    let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new().unwrap()));
    let registry = Arc::new(Registry::new().with(Arc::new(desk())).unwrap());
    let service = WriteService::new(registry.clone(), test.host().clone());
    let tenant = TenantId::new("acme").unwrap();
    service
        .put_target(
            TargetInput::new(
                tenant.clone(),
                TargetId::new("desk").unwrap(),
                "desk::desk-cloud".parse().unwrap(),
            )
            .with_config(json!({"api_base_url": api.uri()})),
        )
        .await
        .unwrap();
    service
        .put_connection(
            ConnectionInput::new(
                tenant.clone(),
                ConnectionId::new("desk-ada").unwrap(),
                TargetId::new("desk").unwrap(),
                ConnectionMethodId::new("api-key").unwrap(),
            )
            .with_config(json!({"account": "ada"}))
            .with_secret("api_key", API_KEY),
        )
        .await
        .unwrap();
    let tokens = Arc::new(TokenManager::new(registry.clone(), test.host().clone()));
    let runtime = Runtime::new(registry, test.host().clone(), tokens);
    let context = CallContext::new(
        Session::new(tenant, WorkspaceId::new("main").unwrap()),
        ConnectionId::new("desk-ada").unwrap(),
    );
    runtime
        .call("desk_get_ticket", json!({"id": "T 1"}), &context)
        .await
}

fn answer(response: ResponseTemplate) -> Mock {
    Mock::given(method("GET"))
        .and(path("/tickets/T%201"))
        .and(basic_auth("ada", API_KEY))
        .and(header("accept", "application/json"))
        .respond_with(response)
        .expect(1)
}

#[tokio::test]
async fn a_declared_function_tool_fetches_with_basic_auth_and_default_headers() {
    let api = MockProvider::start().await;
    answer(
        ResponseTemplate::new(200).set_body_json(json!({"id": "T 1", "title": "Printer", "x": 1})),
    )
    .mount(api.server())
    .await;
    let result = call(&api).await;
    assert_eq!(result.status, ToolStatus::Completed, "{:?}", result.failure);
    assert_eq!(
        result.structured_content,
        Some(json!({"id": "T 1", "title": "Printer"}))
    );
}

#[tokio::test]
async fn fetch_maps_failed_statuses_and_unexpected_bodies_to_codes_without_quoting_them() {
    for (response, code) in [
        (
            ResponseTemplate::new(404).set_body_string("no ticket-body-secret here"),
            "tool.upstream_not_found",
        ),
        (
            ResponseTemplate::new(401).set_body_string("ticket-body-secret"),
            "tool.unauthorized",
        ),
        (
            ResponseTemplate::new(503).set_body_string("ticket-body-secret"),
            "tool.upstream_unavailable",
        ),
        (
            ResponseTemplate::new(200).set_body_string("<html>ticket-body-secret</html>"),
            "tool.unexpected_response",
        ),
    ] {
        let api = MockProvider::start().await;
        answer(response).mount(api.server()).await;
        let result = call(&api).await;
        assert_eq!(result.status, ToolStatus::Failed, "{code}");
        let failure = result.failure.as_ref().unwrap();
        assert_eq!(failure.code, code);
        let shown = format!("{result:?}");
        assert!(!shown.contains("ticket-body-secret"), "{shown}");
        assert!(!shown.contains(API_KEY), "{shown}");
    }
}

/// A 429 waits as its `Retry-After` says (seconds), not a fixed minute; without one, a
/// minute.
#[tokio::test]
async fn fetch_reads_the_wait_of_a_429_from_retry_after() {
    for (response, wait) in [
        (
            ResponseTemplate::new(429).insert_header("retry-after", "5"),
            5,
        ),
        (
            ResponseTemplate::new(429).insert_header("retry-after", "3600"),
            3600,
        ),
        (ResponseTemplate::new(429), 60),
    ] {
        let api = MockProvider::start().await;
        answer(response).mount(api.server()).await;
        let result = call(&api).await;
        let failure = result.failure.as_ref().unwrap();
        assert_eq!(failure.code, "tool.rate_limited");
        assert_eq!(
            failure.retry_after,
            Some(std::time::Duration::from_secs(wait))
        );
    }
}
