//! An example host: the HTTP routes an application adds to embed the integrations SDK,
//! as an [axum](https://docs.rs/axum) router.
//!
//! | route | what it does | engine |
//! |---|---|---|
//! | `GET /oauth/{family}/{variant}/start?tenant=..&target=..&method=..[&user=..]` | sends the browser to the provider's authorization (or App installation) page | [`Authorizations::start`] |
//! | `GET /oauth/callback?code=..&state=..` (or `installation_id=..&setup_action=..&state=..`, or `error=..&state=..`) | completes the authorization and stores the connection | [`Authorizations::complete`] |
//! | `POST /webhooks/{family}/{variant}[/{endpoint}]` | verifies, records once and delivers a provider's webhook | [`Ingest`] |
//! | `POST /tools/{name}` with `{"tenant", "connection", "workspace", "user"?, "publication"?, "arguments"}` | runs an agent's tool call on a connection; answers the MCP `CallToolResult` | [`Runtime`] |
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
//! use host_server::{App, router};
//! use integrations::prelude::*;
//!
//! async fn serve(host: Host) -> Result<(), Box<dyn std::error::Error>> {
//!     let registry = Arc::new(integrations::definitions::registry());
//!     // The URL the providers reach this application at (the OAuth callback and the
//!     // webhook URLs are under it).
//!     let app = App::new(registry, host, "https://app.example.com")?;
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
//! * **Who is asking.** This example reads the tenant and the user from the start
//!   route's query and carries them to the callback in a cookie ([`SESSION_COOKIE`]).
//!   That cookie stands in for the application's own login session and authenticates
//!   nobody: a real host takes the tenant and the user from its signed-in session, and
//!   checks that they may create connections. The tool route likewise takes the tenant,
//!   workspace and user from its body; a real host takes them from the agent's session
//!   and publishes connections to workspaces through its own administration (only the
//!   offline [`demo`] publishes on first use).
//! * **Slow event sinks.** The webhook route delivers each event before answering.
//!   Providers with short deadlines (Slack: 3 s) want an answer first:
//!   [`Ingest::accept`] answers at once and hands back the delivery to run afterwards.

pub mod demo;
mod error;
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
use integrations::core::auth::{Authorizations, TokenManager};
use integrations::core::tools::Runtime;
use integrations::core::webhook::Ingest;
use integrations::prelude::*;
use integrations_mcp::{McpAuthenticator, McpHttpOptions, McpOptions, McpService};

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
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`] (`host.invalid_public_base`) when `public_base` is not
    /// an absolute `http(s)` URL without credentials, query or fragment;
    /// `webhook.incomplete_definition` when a registered integration declares a webhook
    /// source without a handler (or the reverse).
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
            }),
        })
    }

    /// Says what to set (`set LINEAR_CLIENT_ID and LINEAR_CLIENT_SECRET`) when an
    /// authorization for `key` cannot start because its target has no OAuth client: the
    /// start route then answers `503 host.provider_not_configured` with this hint, not a
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

    /// Serves the connected tools over MCP at `/mcp` (streamable HTTP), on the same tool
    /// runtime as `POST /tools/{name}`: `authenticator` turns each request's bearer token
    /// into the session it acts for (else 401). `options` are the transport's limits;
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
