//! A tool-bearing test integration (`tracker::cloud`), its mock API, and an environment
//! wiring a runtime to the in-memory host, a fake token manager and a refresh endpoint.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use integrations_core::definition::{
    ConnectionMethod, IntegrationDefinition, Metadata, OAuth2Spec, SecretField,
};
use integrations_core::host::Clock;
use integrations_core::model::{
    Capability, Connection, CredentialType, Publication, PublicationScope,
};
use integrations_core::provider::IntegrationProvider;
use integrations_core::schema::{BaseUrl, ConfigSpec, Parsed};
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::tools::{
    CallContext, PolicySource, RateLimitRule, RequestAuth, Runtime, Session, Tool, ToolAnnotations,
    ToolContext, ToolDescriptor, ToolExecutor, ToolPolicy, ToolSet, json_request, read_json,
    status_error,
};
use integrations_core::{
    ConnectionId, ConnectionMethodId, DefinitionKey, Error, IntegrationKind, PublicationId,
    Registry, TargetId, TenantId, Timestamp, WorkspaceId,
};
use integrations_testkit::TestHost;
use integrations_testkit::mock::MockProvider;
use integrations_testkit::mock::api::{FakeTokenManager, RefreshEndpoint, Scheme, Tokens};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

/// The tracker's target config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrackerTarget {
    /// The API.
    pub api_base_url: BaseUrl,
}

/// A ticket's priority.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Priority {
    /// Low.
    Low,
    /// High.
    High,
}

/// Arguments of `tracker_create_ticket`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTicketArgs {
    /// The title.
    #[schemars(length(min = 1))]
    pub title: String,
    /// The priority.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// How many story points.
    #[serde(default)]
    #[schemars(range(min = 1, max = 13))]
    pub points: Option<u8>,
}

/// A ticket.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Ticket {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
}

struct CreateTicket {
    executions: Arc<AtomicUsize>,
}

impl Tool for CreateTicket {
    type Args = CreateTicketArgs;
    type Output = Ticket;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<CreateTicketArgs>("tracker_create_ticket", "Create a ticket.")
            .with_title("Create ticket")
            .with_annotations(ToolAnnotations::additive())
            .with_capability(Capability::new("ticket.create").unwrap())
    }

    async fn call(&self, args: CreateTicketArgs, context: &ToolContext) -> Result<Ticket, Error> {
        self.executions.fetch_add(1, Ordering::SeqCst);
        let config = context.target_config().get::<TrackerTarget>()?;
        let url = config.api_base_url.url().path("tickets").build()?;
        let request = json_request(
            http::Method::POST,
            url.as_str(),
            &json!({"title": args.title, "priority": args.priority, "points": args.points}),
        )?;
        let auth = RequestAuth::bearer(context.default_credential().cloned().unwrap());
        let response = context.http().send(request, &auth).await?;
        if let Some(limited) = RateLimitRule::new().check(&response, context.now()) {
            return Err(limited);
        }
        if !response.status().is_success() {
            return Err(status_error(response.status()));
        }
        read_json(&response)
    }
}

/// Arguments of `tracker_list_tickets`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListTicketsArgs {
    /// How many tickets to make up.
    #[schemars(range(max = 10000))]
    pub count: u32,
    /// How long each title is (padded with `x`); as made up when absent.
    #[serde(default)]
    #[schemars(range(max = 100_000))]
    pub title_len: Option<u32>,
}

/// A page of tickets.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct TicketPage {
    /// The tickets.
    pub tickets: Vec<Ticket>,
    /// The next page.
    pub next_cursor: Option<String>,
}

struct ListTickets {
    listings: Arc<AtomicUsize>,
}

impl Tool for ListTickets {
    type Args = ListTicketsArgs;
    type Output = TicketPage;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<ListTicketsArgs>("tracker_list_tickets", "List tickets.")
            .with_annotations(ToolAnnotations::read_only())
            .with_capability(Capability::new("ticket.read").unwrap())
    }

    async fn call(
        &self,
        args: ListTicketsArgs,
        _context: &ToolContext,
    ) -> Result<TicketPage, Error> {
        self.listings.fetch_add(1, Ordering::SeqCst);
        Ok(TicketPage {
            tickets: (0..args.count)
                .map(|i| {
                    let mut title = format!("Ticket number {i}");
                    if let Some(len) = args.title_len {
                        title = format!("{title:x<width$}", width = len as usize);
                    }
                    Ticket {
                        id: format!("T-{i}"),
                        title,
                    }
                })
                .collect(),
            next_cursor: None,
        })
    }
}

/// No arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoArgs {}

struct Explode;

impl Tool for Explode {
    type Args = NoArgs;
    type Output = Ticket;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<NoArgs>("tracker_explode_now", "Panics.")
            .with_annotations(ToolAnnotations::read_only())
            .with_policy(ToolPolicy::Auto)
    }

    #[allow(clippy::unused_async, reason = "the trait's shape")]
    async fn call(&self, _args: NoArgs, _context: &ToolContext) -> Result<Ticket, Error> {
        panic!("a tool bug")
    }
}

/// The tracker integration, with its tools.
pub(crate) struct Tracker {
    key: DefinitionKey,
    tools: ToolSet,
}

impl Tracker {
    pub(crate) fn new(key: &str, executions: Arc<AtomicUsize>, listings: Arc<AtomicUsize>) -> Self {
        Self {
            key: key.parse().unwrap(),
            tools: ToolSet::new()
                .with(CreateTicket { executions })
                .with(ListTickets { listings })
                .with(Explode),
        }
    }
}

impl IntegrationDefinition for Tracker {
    fn key(&self) -> DefinitionKey {
        self.key.clone()
    }
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Connector
    }
    fn metadata(&self) -> Metadata {
        Metadata::new("Tracker", "Tickets.", "tracker", "productivity")
    }
    fn target_config(&self) -> ConfigSpec {
        ConfigSpec::of::<TrackerTarget>()
    }
    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        vec![
            ConnectionMethod::api_key(
                "api-key",
                "API token",
                vec![SecretField::new(
                    "api_token",
                    "API token",
                    CredentialType::API_KEY,
                )],
            )
            .unwrap(),
            ConnectionMethod::oauth2_authorization_code(
                "oauth2",
                "Sign in",
                OAuth2Spec::new("https://t.example/authorize", "https://t.example/token"),
            )
            .unwrap(),
        ]
    }
    fn tool_catalog(&self) -> Vec<ToolDescriptor> {
        self.tools.descriptors()
    }
    /// The token endpoint lives on the API mock's origin (`/oauth/token`), so the real
    /// token manager can refresh there.
    fn oauth2(&self, method: &ConnectionMethod, target_config: &Parsed) -> Option<OAuth2Spec> {
        method.oauth2.as_ref()?;
        let api = target_config
            .get::<TrackerTarget>()
            .ok()?
            .api_base_url
            .as_str();
        let origin = api.trim_end_matches('/').trim_end_matches("/v1");
        Some(
            OAuth2Spec::new(
                format!("{origin}/oauth/authorize"),
                format!("{origin}/oauth/token"),
            )
            .with_client_id(Some("tracker-client")),
        )
    }
}

impl IntegrationProvider for Tracker {
    fn tools(&self) -> Option<&dyn ToolExecutor> {
        Some(&self.tools)
    }
}

/// What the tracker API does with the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Normal,
    RateLimited,
}

struct TrackerApi {
    tokens: Tokens,
    next: Arc<Mutex<Next>>,
}

impl Respond for TrackerApi {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut next = self.next.lock().unwrap();
        if *next == Next::RateLimited {
            *next = Next::Normal;
            return ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_json(json!({"error": "slow down"}));
        }
        let authorization = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if !self.tokens.accepts(authorization) {
            return ResponseTemplate::new(401)
                .set_body_json(json!({"error": "invalid_token", "echo": authorization}));
        }
        let body: Value = request.body_json().unwrap_or_default();
        ResponseTemplate::new(201).set_body_json(json!({"id": "T-1", "title": body["title"]}))
    }
}

pub(crate) fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

pub(crate) fn workspace() -> WorkspaceId {
    WorkspaceId::new("eng").unwrap()
}

/// A runtime over the tracker, with an API-key connection (`conn-key`, token
/// `trk_static`) and an OAuth connection (`conn-oauth`, access token `oauth-initial`,
/// refresh token `refresh-0`), both valid at the mock API.
pub(crate) struct Env {
    pub test: TestHost,
    pub registry: Arc<Registry>,
    pub tokens: Arc<FakeTokenManager>,
    #[allow(dead_code, reason = "keeps the mock server running")]
    pub api: MockProvider,
    pub api_tokens: Tokens,
    pub refresh: RefreshEndpoint,
    pub next: Arc<Mutex<Next>>,
    pub executions: Arc<AtomicUsize>,
    pub listings: Arc<AtomicUsize>,
}

impl Env {
    pub(crate) async fn new() -> Self {
        let http = Arc::new(integrations_core::host::ReqwestHttpClient::new().unwrap());
        let test = TestHost::with_http(http);
        test.clock.set(Timestamp::from_unix_seconds(1_790_000_000));
        let executions = Arc::new(AtomicUsize::new(0));
        let listings = Arc::new(AtomicUsize::new(0));
        let mut registry = Registry::new();
        registry
            .register(Arc::new(Tracker::new(
                "tracker::cloud",
                executions.clone(),
                listings.clone(),
            )))
            .unwrap();
        let registry = Arc::new(registry);

        let api = MockProvider::start().await;
        let api_tokens = Tokens::new();
        api_tokens.accept("trk_static", Scheme::Bearer);
        api_tokens.accept("oauth-initial", Scheme::Bearer);
        let next = Arc::new(Mutex::new(Next::Normal));
        Mock::given(method("POST"))
            .and(path("/v1/tickets"))
            .respond_with(TrackerApi {
                tokens: api_tokens.clone(),
                next: next.clone(),
            })
            .mount(api.server())
            .await;
        let refresh = RefreshEndpoint::mount(
            &api,
            "/oauth/token",
            api_tokens.clone(),
            Scheme::Bearer,
            "refresh-0",
            "oauth",
        )
        .await
        // The tracker's OAuth 2.0 client is public: it has no secret.
        .with_public_client("tracker-client");

        let service = WriteService::new(registry.clone(), test.host().clone());
        service
            .put_target(
                TargetInput::new(
                    tenant(),
                    TargetId::new("tracker").unwrap(),
                    "tracker::cloud".parse().unwrap(),
                )
                .with_config(json!({"api_base_url": format!("{}/v1", api.uri())})),
            )
            .await
            .unwrap();
        service
            .put_connection(
                ConnectionInput::new(
                    tenant(),
                    ConnectionId::new("conn-key").unwrap(),
                    TargetId::new("tracker").unwrap(),
                    ConnectionMethodId::new("api-key").unwrap(),
                )
                .with_secret("api_token", "trk_static"),
            )
            .await
            .unwrap();
        let oauth = Connection::new(
            tenant(),
            ConnectionId::new("conn-oauth").unwrap(),
            TargetId::new("tracker").unwrap(),
            "tracker::cloud".parse().unwrap(),
            ConnectionMethodId::new("oauth2").unwrap(),
            test.clock.now(),
        );
        test.host()
            .connections()
            .put_connection(&oauth)
            .await
            .unwrap();
        let tokens =
            Arc::new(FakeTokenManager::new(test.host().clone()).with_token_endpoint(refresh.url()));
        tokens
            .store(
                &oauth,
                &[
                    (CredentialType::OAUTH2_ACCESS_TOKEN, "oauth-initial"),
                    (CredentialType::OAUTH2_REFRESH_TOKEN, "refresh-0"),
                ],
            )
            .await
            .unwrap();
        for connection in ["conn-key", "conn-oauth"] {
            let mut publication = Publication::new(
                tenant(),
                PublicationId::new(format!("pub-{connection}")).unwrap(),
                ConnectionId::new(connection).unwrap(),
                PublicationScope::Workspace {
                    workspace: workspace(),
                },
                test.clock.now(),
            );
            for capability in ["ticket.create", "ticket.read"] {
                publication
                    .capabilities
                    .insert(Capability::new(capability).unwrap());
            }
            test.host()
                .publications()
                .put_publication(&publication)
                .await
                .unwrap();
        }
        Self {
            test,
            registry,
            tokens,
            api,
            api_tokens,
            refresh,
            next,
            executions,
            listings,
        }
    }

    /// A runtime with no policy overrides.
    pub(crate) fn runtime(&self) -> Runtime {
        Runtime::new(
            self.registry.clone(),
            self.test.host().clone(),
            self.tokens.clone(),
        )
    }

    /// A runtime reading overrides from `policies`.
    pub(crate) fn runtime_with(&self, policies: Arc<dyn PolicySource>) -> Runtime {
        self.runtime().with_policies(policies)
    }

    /// A call in workspace `eng` through `connection`, with its publication.
    #[allow(clippy::unused_self, reason = "reads as part of the environment")]
    pub(crate) fn call(&self, connection: &str) -> CallContext {
        CallContext::new(
            Session::new(tenant(), workspace()),
            ConnectionId::new(connection).unwrap(),
        )
        .with_publication(PublicationId::new(format!("pub-{connection}")).unwrap())
    }

    pub(crate) fn executions(&self) -> usize {
        self.executions.load(Ordering::SeqCst)
    }

    /// How many times `tracker_list_tickets` ran.
    pub(crate) fn listings(&self) -> usize {
        self.listings.load(Ordering::SeqCst)
    }

    /// A runtime whose credentials come from a real [`TokenManager`] over the same stores
    /// (refreshing at the mock's token endpoint, whose answers take `token_delay`), not
    /// the fake one.
    ///
    /// [`TokenManager`]: integrations_core::auth::TokenManager
    pub(crate) fn runtime_with_token_manager(
        &self,
        policies: Arc<dyn PolicySource>,
        token_delay: std::time::Duration,
    ) -> Runtime {
        use integrations_core::host::{HttpClient, HttpRequest, ReqwestHttpClient};
        let inner = Arc::new(ReqwestHttpClient::new().unwrap());
        let slow_token_endpoint = integrations_core::host::from_fn(move |request: HttpRequest| {
            let inner = inner.clone();
            async move {
                if request.uri().path() == "/oauth/token" {
                    tokio::time::sleep(token_delay).await;
                }
                inner.send(request).await
            }
        });
        let host = self
            .test
            .sharing_stores_with_http(Arc::new(slow_token_endpoint));
        let tokens =
            integrations_core::auth::TokenManager::new(self.registry.clone(), host.host().clone());
        Runtime::new(
            self.registry.clone(),
            self.test.host().clone(),
            Arc::new(tokens),
        )
        .with_policies(policies)
    }
}
