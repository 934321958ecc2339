//! An example host: the HTTP routes an application adds to embed the integrations SDK,
//! as an [axum](https://docs.rs/axum) router.
//!
//! | route | what it does | engine |
//! |---|---|---|
//! | `GET /oauth/{family}/{variant}/start?tenant=..&target=..&method=..[&user=..]&expires=..&sig=..`, a link minted by [`App::start_link`] | checks the link's signature and expiry (else `401`, [`codes::INVALID_START_LINK`] or [`codes::START_LINK_EXPIRED`]), then sends the browser to the provider's authorization (or App installation) page | [`Authorizations::start`] |
//! | `GET /oauth/callback?code=..&state=..` (or `installation_id=..&setup_action=..&state=..`, or `error=..&state=..`) | completes the authorization and stores the connection | [`Authorizations::complete`] |
//! | `POST /webhooks/{family}/{variant}[/{endpoint}]` | verifies, records once and delivers a provider's webhook | [`Ingest`] |
//! | `POST /tools/{name}` with `Authorization: Bearer <token>` and `{"connection", "publication"?, "arguments"?}` | runs an agent's tool call on a connection for the session the token stands for ([`App::with_tool_auth`]; else `401`); answers the MCP `CallToolResult` | [`Runtime`] |
//! | `POST`/`GET`/`DELETE /mcp` with `Authorization: Bearer <token>` (when [`App::with_mcp`] is set) | the session's connected tools to MCP clients over streamable HTTP ([`mcp`]) | [`McpService`] |
//!
//! The application owns nothing the SDK does not already do: it turns HTTP requests into
//! the engines' inputs and their results (or errors) into HTTP answers, in one place
//! ([`status_for`]). Everything else (state and PKCE, token exchange, sealing
//! credentials, signature checks, deduplication) happens inside the engines, against the
//! [`Host`] the application supplies.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use host_server::{App, McpTokens, router};
//! use integrations::core::tools::Session;
//! use integrations::core::{ConnectionMethodId, TargetId, WorkspaceId};
//! use integrations_mcp::McpSession;
//! use integrations::prelude::*;
//!
//! async fn serve(host: Host) -> Result<(), Box<dyn std::error::Error>> {
//!     let registry = Arc::new(integrations::definitions::registry());
//!     // The URL the providers reach this application at (the OAuth callback and the
//!     // webhook URLs are under it).
//!     let app = App::new(registry, host, "https://app.example.com")?;
//!     // Whoever may call `POST /tools/{name}`: here one token for one agent session; a
//!     // real host plugs in its own `McpAuthenticator`.
//!     let session = Session::new(TenantId::new("acme")?, WorkspaceId::new("eng")?);
//!     let tokens = McpTokens::new().with_token("a-token-the-host-issued", McpSession::new(session));
//!     let app = app.with_tool_auth(Arc::new(tokens));
//!     // The "Connect Linear" button of a signed-in user of `acme` links here.
//!     let link = app.start_link(
//!         &"linear::linear-default".parse()?,
//!         &TenantId::new("acme")?,
//!         &TargetId::new("linear")?,
//!         &ConnectionMethodId::new("oauth2")?,
//!         None,
//!     );
//!     println!("connect Linear: {link}");
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, router(app)).await?;
//!     Ok(())
//! }
//! ```
//!
//! `cargo run -p host-server` starts it on SQLite (`DATABASE_URL` for PostgreSQL, [`stores`]); see
//! `src/main.rs`.
//!
//! # What a real host adds
//!
//! * **Who is connecting.** The start route follows only links the application signed
//!   ([`App::start_link`]: tenant, target, method and user, an expiry of
//!   [`DEFAULT_STATE_TTL`], HMAC-SHA256 under the application's key): a link naming a
//!   tenant the application did not sign it for is refused before anything is stored.
//!   It carries the link's tenant and user to the callback in a cookie
//!   ([`SESSION_COOKIE`]), which stands in for the application's login session and
//!   authenticates nobody. A real host mints each link inside its signed-in session, for
//!   that session's tenant and user once it has checked they may create connections (the
//!   "Connect" button), and at the start route checks that the browser's session is the
//!   link's. A signed link is a bearer capability until it expires: without that check,
//!   which this example has no login to make, a user of one tenant could still hand a
//!   victim a genuine link to their own tenant. Instances behind one public base share
//!   the key ([`App::with_link_key`]).
//! * **Who is calling a tool.** The tool route takes the session (tenant, workspace,
//!   user) from the caller's bearer token through an [`McpAuthenticator`]
//!   ([`App::with_tool_auth`]), never from the body; [`McpTokens`] is this example's
//!   table of host-issued tokens, and a real host plugs in its own (API tokens, OAuth
//!   access tokens it issued). It publishes connections to workspaces through its own
//!   administration (only the offline [`demo`] publishes on first use).
//! * **Slow event sinks.** The webhook route delivers each event before answering.
//!   Providers with short deadlines (Slack: 3 s) want an answer first:
//!   [`Ingest::accept`] answers at once and hands back the delivery to run afterwards.

pub mod demo;
mod error;
mod links;
pub mod mcp;
mod oauth;
mod session;
pub mod stores;
mod tools;
mod webhooks;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use integrations::core::auth::{Authorizations, DEFAULT_STATE_TTL, TokenManager};
use integrations::core::tools::Runtime;
use integrations::core::webhook::Ingest;
use integrations::core::{ConnectionMethodId, TargetId, UserId};
use integrations::prelude::*;
use integrations_mcp::{McpAuthenticator, McpHttpOptions, McpOptions, McpService};
use links::{LinkFields, LinkKey};

pub use error::{codes, status_for};
pub use mcp::McpTokens;
pub use session::SESSION_COOKIE;

/// The application state every route shares: the registry, the host, and the two engines
/// the routes drive. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    registry: Arc<Registry>,
    host: Host,
    authorizations: Authorizations,
    ingest: Ingest,
    /// The tool runtime behind the tool route, with the token manager as credentials.
    runtime: Arc<Runtime>,
    /// Whether this is the offline demo (see [`demo`]).
    demo: bool,
    /// The public base URL without a trailing slash.
    public_base: String,
    /// The path the session cookie is scoped to: the OAuth routes under the base.
    cookie_path: String,
    /// Whether the public base is HTTPS (the session cookie is then `Secure`).
    secure: bool,
    /// What to set when an integration's target lacks its OAuth client (by key).
    setup_hints: BTreeMap<DefinitionKey, String>,
    /// The MCP server at `/mcp`, when the host turned it on.
    mcp: Option<Mcp>,
    /// Who may call `POST /tools/{name}`; without it, nobody.
    tool_auth: Option<Arc<dyn McpAuthenticator>>,
    /// The key start links are signed with.
    link_key: LinkKey,
}

/// The MCP server mounted at `/mcp` and who may use it.
#[derive(Clone)]
struct Mcp {
    service: McpService,
    authenticator: Arc<dyn McpAuthenticator>,
    options: McpHttpOptions,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("public_base", &self.inner.public_base)
            .field("max_body_bytes", &self.inner.ingest.max_body_bytes())
            .field("tool_auth", &self.inner.tool_auth.is_some())
            .finish_non_exhaustive()
    }
}

impl App {
    /// An application over `registry` and `host`, reachable by providers and browsers at
    /// `public_base` (`https://app.example.com`, or with a path prefix when the router is
    /// nested: `https://app.example.com/integrations`).
    ///
    /// The OAuth redirect URI is [`callback_url`](Self::callback_url), derived from
    /// `public_base`: the same value is given to the provider when an authorization
    /// starts and checked when its callback arrives, so it must be the URL the provider's
    /// app registration lists.
    ///
    /// Start links are signed with a key made here from the system's random generator
    /// (see [`with_link_key`](Self::with_link_key)); the tool route runs nothing until
    /// [`with_tool_auth`](Self::with_tool_auth) says who may call it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`] (`host_server.invalid_public_base`) when `public_base` is not
    /// an absolute `http(s)` URL without credentials, query or fragment;
    /// `webhook.incomplete_definition` when a registered integration declares a webhook
    /// source without a handler (or the reverse); `host.part_missing` when `host` lacks a
    /// part webhook ingest needs (the webhook events store, the event sink);
    /// [`ErrorKind::Internal`] when the system has no randomness for the link key.
    pub fn new(registry: Arc<Registry>, host: Host, public_base: &str) -> Result<Self, Error> {
        let invalid = || {
            Error::configuration(
                codes::INVALID_PUBLIC_BASE,
                "the public base URL must be an absolute http(s) URL without credentials, query or fragment",
            )
        };
        let url = url::Url::parse(public_base).map_err(|_| invalid())?;
        let ok = matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some()
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none();
        if !ok {
            return Err(invalid());
        }
        let public_base = url.as_str().trim_end_matches('/').to_owned();
        let cookie_path = format!("{}/oauth", url.path().trim_end_matches('/'));
        let ingest = Ingest::new(registry.clone(), host.clone())?;
        let authorizations = Authorizations::new(registry.clone(), host.clone());
        let tokens = Arc::new(TokenManager::new(registry.clone(), host.clone()));
        let runtime = Arc::new(Runtime::new(registry.clone(), host.clone(), tokens));
        let link_key = LinkKey::random()?;
        Ok(Self {
            inner: Arc::new(Inner {
                registry,
                host,
                authorizations,
                ingest,
                runtime,
                demo: false,
                public_base,
                cookie_path,
                secure: url.scheme() == "https",
                setup_hints: BTreeMap::new(),
                mcp: None,
                tool_auth: None,
                link_key,
            }),
        })
    }

    /// Says what to set (`set LINEAR_CLIENT_ID and LINEAR_CLIENT_SECRET`) when an
    /// authorization for `key` cannot start because its target has no OAuth client: the
    /// start route then answers `503 host_server.provider_not_configured` with this hint, not a
    /// bare server error.
    #[must_use]
    pub fn with_setup_hint(mut self, key: DefinitionKey, hint: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner)
            .setup_hints
            .insert(key, hint.into());
        self
    }

    /// An authorization start's error, with the setup hint of `key` when the target
    /// lacks its OAuth client (`auth.missing_*`).
    pub(crate) fn explain_setup(&self, key: &DefinitionKey, error: Error) -> Error {
        let missing =
            error.kind() == ErrorKind::Configuration && error.code().starts_with("auth.missing_");
        match self.inner.setup_hints.get(key) {
            Some(hint) if missing => Error::new(
                ErrorKind::Unavailable,
                codes::PROVIDER_NOT_CONFIGURED,
                format!("{key} is not set up on this server: {hint}"),
            ),
            _ => error,
        }
    }

    /// Sets the largest webhook body accepted (default
    /// [`DEFAULT_MAX_BODY_BYTES`](integrations::core::webhook::DEFAULT_MAX_BODY_BYTES),
    /// GitHub's 25 MiB cap). The router stops reading a body past it, and the ingest
    /// pipeline refuses it: one limit, answered `413 webhook.body_too_large`.
    #[must_use]
    pub fn with_max_body_bytes(mut self, limit: usize) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.ingest = inner.ingest.clone().with_max_body_bytes(limit);
        self
    }

    /// Marks the application as the offline demo: a tool call without a publication
    /// publishes its connection to the call's workspace first (see [`demo`]). Never for
    /// a real deployment, where publications are the host's own decisions.
    #[must_use]
    pub fn with_demo(mut self, demo: bool) -> Self {
        Arc::make_mut(&mut self.inner).demo = demo;
        self
    }

    /// Lets `POST /tools/{name}` run calls: `authenticator` turns each request's
    /// `Authorization: Bearer <token>` into the session (tenant, workspace, user, and the
    /// publication per connection) the call acts for. A request without a token it
    /// accepts gets `401` ([`codes::UNAUTHENTICATED`], `WWW-Authenticate: Bearer`); an
    /// authenticator that fails, `503` ([`codes::AUTH_UNAVAILABLE`]). Without this call
    /// the route runs nothing: `401` [`codes::TOOL_AUTH_NOT_CONFIGURED`].
    ///
    /// It is the trait `/mcp` uses, and it is given separately, so turning on one route
    /// never opens the other; hand both the same `Arc` for one set of tokens
    /// ([`McpTokens`] in this example, the host's own sessions in a real one).
    #[must_use]
    pub fn with_tool_auth(mut self, authenticator: Arc<dyn McpAuthenticator>) -> Self {
        Arc::make_mut(&mut self.inner).tool_auth = Some(authenticator);
        self
    }

    /// Signs and checks start links with `key` instead of the random key
    /// [`new`](Self::new) made. Instances behind one load balancer (one public base) are
    /// given the same key, so a link one mints is followed by the one the browser
    /// reaches; changing it refuses every link minted before (they live
    /// [`DEFAULT_STATE_TTL`] anyway). Keep it as secret as the sealing key: whoever holds
    /// it mints links for any tenant.
    #[must_use]
    pub fn with_link_key(mut self, key: [u8; 32]) -> Self {
        Arc::make_mut(&mut self.inner).link_key = LinkKey::new(&key);
        self
    }

    /// The URL that starts connecting `tenant`'s `target` with `method` (and, when given,
    /// for `user`): `{public_base}/oauth/{family}/{variant}/start?tenant=..&target=..&method=..[&user=..]&expires=..&sig=..`,
    /// valid for [`DEFAULT_STATE_TTL`] from now (the host's clock) and signed
    /// (HMAC-SHA256) with this application's key. The start route refuses any other
    /// link, and this one once it has expired or been changed.
    ///
    /// # Security
    ///
    /// The link is a bearer capability: whoever opens it before it expires connects an
    /// account into `tenant`. Mint it only inside the signed-in session of a user of
    /// `tenant` who may create connections, for that user, right before sending their
    /// browser to it, and never hand it to anyone else. A real host also checks at the
    /// start route that the browser's own session is the link's tenant and user.
    pub fn start_link(
        &self,
        key: &DefinitionKey,
        tenant: &TenantId,
        target: &TargetId,
        method: &ConnectionMethodId,
        user: Option<&UserId>,
    ) -> String {
        let expires = self
            .inner
            .host
            .clock()
            .now()
            .saturating_add(DEFAULT_STATE_TTL)
            .unix_seconds();
        let fields = LinkFields {
            key,
            tenant,
            target,
            method,
            user,
            expires,
        };
        format!(
            "{}/oauth/{}/{}/start?{}&sig={}",
            self.inner.public_base,
            key.family(),
            key.variant(),
            fields.query(),
            self.inner.link_key.sign(&fields)
        )
    }

    /// The key start links are checked with.
    pub(crate) fn link_key(&self) -> &LinkKey {
        &self.inner.link_key
    }

    /// Who may call the tool route, when the host said.
    pub(crate) fn tool_authenticator(&self) -> Option<&dyn McpAuthenticator> {
        self.inner.tool_auth.as_deref()
    }

    /// Serves the connected tools over MCP at `/mcp` (streamable HTTP), on the same tool
    /// runtime as `POST /tools/{name}`: `authenticator` turns each request's bearer token
    /// into the session it acts for (else 401). It is not the tool route's
    /// ([`with_tool_auth`](Self::with_tool_auth)). `options` are the transport's limits;
    /// a deployment reached by name lists that name in its allowed hosts
    /// ([`McpHttpOptions::with_allowed_hosts`]). `ask` calls wait for a person in the host:
    /// see [`mcp_service`](Self::mcp_service).
    #[must_use]
    pub fn with_mcp(
        mut self,
        authenticator: Arc<dyn McpAuthenticator>,
        options: McpHttpOptions,
    ) -> Self {
        let service = McpService::new(Arc::clone(&self.inner.runtime))
            .with_options(McpOptions::new().with_name("host-server"));
        Arc::make_mut(&mut self.inner).mcp = Some(Mcp {
            service,
            authenticator,
            options,
        });
        self
    }

    /// The MCP server behind `/mcp` (its [`approvals`](McpService::approvals) are what
    /// an approval page settles; call [`tools_changed`](McpService::tools_changed) when
    /// connections or policies change), when [`with_mcp`](Self::with_mcp) turned it on.
    pub fn mcp_service(&self) -> Option<&McpService> {
        self.inner.mcp.as_ref().map(|m| &m.service)
    }

    /// Whether this is the offline demo.
    pub fn demo(&self) -> bool {
        self.inner.demo
    }

    /// The tool runtime behind `POST /tools/{name}` (and `/mcp`).
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.inner.host
    }

    /// The authorization engine behind the OAuth routes.
    pub fn authorizations(&self) -> &Authorizations {
        &self.inner.authorizations
    }

    /// The ingest pipeline behind the webhook routes.
    pub fn ingest(&self) -> &Ingest {
        &self.inner.ingest
    }

    /// The public base URL, without a trailing slash.
    pub fn public_base(&self) -> &str {
        &self.inner.public_base
    }

    /// The OAuth redirect URI: `{public_base}/oauth/callback`.
    pub fn callback_url(&self) -> String {
        format!("{}/oauth/callback", self.inner.public_base)
    }

    /// The path the session cookie is scoped to.
    pub(crate) fn cookie_path(&self) -> &str {
        &self.inner.cookie_path
    }

    /// Whether browsers reach the application over HTTPS.
    pub(crate) fn is_https(&self) -> bool {
        self.inner.secure
    }

    /// The webhook URL of a definition, with an optional endpoint key:
    /// `{public_base}/webhooks/{family}/{variant}[/{endpoint}]`. This is the URL to
    /// register with the provider.
    pub fn webhook_url(&self, key: &DefinitionKey, endpoint: Option<&str>) -> String {
        let base = format!(
            "{}/webhooks/{}/{}",
            self.inner.public_base,
            key.family(),
            key.variant()
        );
        match endpoint {
            Some(endpoint) => format!("{base}/{endpoint}"),
            None => base,
        }
    }
}

/// The application's routes, ready to serve or to nest in a larger router.
///
/// The body limit of every route is the ingest pipeline's, so a webhook body past it is
/// never read into memory (see [`App::with_max_body_bytes`]). Unknown routes are answered
/// `404`, and a known route asked with another method `405` (with `Allow`), in the same
/// JSON error shape as every other failure.
pub fn router(app: App) -> Router {
    let limit = app.ingest().max_body_bytes();
    let mut routes = Router::new();
    if let Some(mcp) = &app.inner.mcp {
        routes = routes.nest_service(
            "/mcp",
            mcp.service
                .http_router(Arc::clone(&mcp.authenticator), mcp.options.clone()),
        );
    }
    routes
        .route("/oauth/{family}/{variant}/start", get(oauth::start))
        .route("/oauth/callback", get(oauth::callback))
        .route("/webhooks/{family}/{variant}", post(webhooks::receive))
        .route(
            "/webhooks/{family}/{variant}/{endpoint}",
            post(webhooks::receive),
        )
        .route("/tools/{name}", post(tools::call))
        .fallback(error::unknown_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}
