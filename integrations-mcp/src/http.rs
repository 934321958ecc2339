//! Streamable HTTP: an axum [`Router`] behind an [`McpAuthenticator`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, ORIGIN, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use integrations_core::Error;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest};
use rmcp::transport::common::http_header::HEADER_SESSION_ID;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

use crate::{McpService, McpSession};

/// Turns a bearer token into the session it acts for. The host implements it (API
/// tokens, OAuth access tokens it issued, signed session cookies turned tokens).
#[async_trait]
pub trait McpAuthenticator: Send + Sync + 'static {
    /// The session of `token`, or `None` when the token is unknown, expired or revoked
    /// (the request gets 401).
    ///
    /// # Errors
    ///
    /// When the host cannot tell (storage down): the request gets 503, never access.
    async fn authenticate(&self, token: &str) -> Result<Option<McpSession>, Error>;
}

/// Limits and checks of the HTTP transport.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct McpHttpOptions {
    /// Browser origins allowed to call (`https://app.example.com`, exact match). A
    /// request with any other `Origin` gets 403; requests without `Origin` (not from a
    /// browser) pass. Empty by default: every browser origin is refused.
    pub allowed_origins: Vec<String>,
    /// Allowed `Host` header values (hostnames or `host:port`); rmcp's loopback default
    /// (`localhost`, `127.0.0.1`, `::1`) guards local servers against DNS rebinding.
    /// Never empty in effect: rmcp would take an empty list as "any host" and turn the
    /// check off, so [`http_router`](McpService::http_router) serves an empty list as
    /// the loopback default.
    pub allowed_hosts: Vec<String>,
    /// The largest request body, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// The most sessions alive at once; an `initialize` beyond it gets 503. Requests
    /// without a session (2026-07-28) are not counted.
    pub max_sessions: usize,
    /// The most sessions one principal (one [`McpSession`]) may hold at once; its next
    /// `initialize` gets 503, while other principals can still open theirs.
    pub max_sessions_per_principal: usize,
    /// How long a session may stay idle before it expires.
    pub session_idle: Duration,
}

impl Default for McpHttpOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl McpHttpOptions {
    /// No browser origin, loopback hosts, 1 MiB bodies, 256 sessions of which 16 per
    /// principal, 10 minutes idle.
    pub fn new() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allowed_hosts: loopback_hosts(),
            max_body_bytes: 1024 * 1024,
            max_sessions: 256,
            max_sessions_per_principal: 16,
            session_idle: Duration::from_secs(600),
        }
    }

    /// Allows a browser origin.
    #[must_use]
    pub fn with_allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Replaces the allowed `Host` values (public deployments list their own names). An
    /// empty list keeps the loopback default: it never turns the `Host` check off.
    #[must_use]
    pub fn with_allowed_hosts(mut self, hosts: Vec<String>) -> Self {
        if !hosts.is_empty() {
            self.allowed_hosts = hosts;
        }
        self
    }

    /// Sets the largest request body.
    #[must_use]
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets the most sessions alive at once.
    #[must_use]
    pub fn with_max_sessions(mut self, sessions: usize) -> Self {
        self.max_sessions = sessions;
        self
    }

    /// Sets the most sessions one principal may hold at once.
    #[must_use]
    pub fn with_max_sessions_per_principal(mut self, sessions: usize) -> Self {
        self.max_sessions_per_principal = sessions;
        self
    }

    /// Sets how long a session may stay idle.
    #[must_use]
    pub fn with_session_idle(mut self, idle: Duration) -> Self {
        self.session_idle = idle;
        self
    }
}

/// The `Host` values allowed by default: loopback names only.
fn loopback_hosts() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
}

#[derive(Clone)]
struct Guard {
    authenticator: Arc<dyn McpAuthenticator>,
    options: Arc<McpHttpOptions>,
    sessions: Arc<LocalSessionManager>,
    ledger: Arc<Mutex<Ledger>>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Who opened each session, and the sessions being opened. It never holds more entries
/// than `max_sessions`: every entry takes a slot, and the entries of sessions rmcp has
/// closed (DELETE, idle expiry) are dropped on DELETE and before slots are counted.
#[derive(Default)]
struct Ledger {
    /// Session id to the principal that opened the session.
    owners: HashMap<String, McpSession>,
    /// A principal per `initialize` in flight.
    opening: Vec<McpSession>,
}

impl Ledger {
    /// How many sessions are open or opening for the principal (tenant, workspace, user)
    /// `session` acts for, whatever its project, issue or publications: varying those
    /// (a token per project) gives no fresh share.
    fn held_by(&self, session: &McpSession) -> usize {
        let principal = crate::session::Principal::of(&session.session);
        self.owners
            .values()
            .chain(&self.opening)
            .filter(|p| principal.is_of(&p.session))
            .count()
    }

    fn release(&mut self, principal: &McpSession) {
        if let Some(i) = self.opening.iter().position(|p| p == principal) {
            self.opening.swap_remove(i);
        }
    }
}

fn lock(ledger: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A slot held for one `initialize`. It becomes the session's entry when rmcp opens the
/// session, and is given back when dropped unfilled (rmcp refused the request, or the
/// client went away).
struct Slot {
    ledger: Arc<Mutex<Ledger>>,
    principal: Option<McpSession>,
}

impl Slot {
    fn fill(mut self, id: String) {
        if let Some(principal) = self.principal.take() {
            let mut ledger = lock(&self.ledger);
            ledger.release(&principal);
            ledger.owners.insert(id, principal);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(principal) = self.principal.take() {
            lock(&self.ledger).release(&principal);
        }
    }
}

impl Guard {
    /// Holds a session slot for `principal`, unless the server or the principal already
    /// has as many sessions as it allows. Counting and holding happen under one lock,
    /// so concurrent `initialize` requests cannot pass the caps together.
    async fn reserve(&self, principal: &McpSession) -> Result<Slot, Response> {
        let mut ledger = {
            // Under rmcp's lock no session opens or closes while the closed ones are
            // dropped (and a session is recorded only after rmcp has opened it).
            let live = self.sessions.sessions.read().await;
            let mut ledger = lock(&self.ledger);
            ledger.owners.retain(|id, _| live.contains_key(id.as_str()));
            ledger
        };
        let refusal = if ledger.owners.len() + ledger.opening.len() >= self.options.max_sessions {
            "the server has as many MCP sessions as it allows; try again later"
        } else if ledger.held_by(principal) >= self.options.max_sessions_per_principal {
            "this principal has as many MCP sessions as it may; end one or try again later"
        } else {
            ledger.opening.push(principal.clone());
            return Ok(Slot {
                ledger: Arc::clone(&self.ledger),
                principal: Some(principal.clone()),
            });
        };
        drop(ledger);
        let mut response = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            crate::codes::mcp::TOO_MANY_SESSIONS,
            refusal,
        );
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("30"));
        Err(response)
    }

    /// A request on session `id`: refused as if the session did not exist when another
    /// principal opened it; rmcp answers the rest (an unknown id gets its 404).
    async fn on_session(
        &self,
        id: &str,
        principal: &McpSession,
        request: Request,
        next: Next,
    ) -> Response {
        let ends = request.method() == Method::DELETE;
        // A session serves the very principal that opened it (its publications too);
        // its person may end it whatever their token holds now, or a change of their
        // publications would leave sessions they cannot free counted against them.
        let foreign = lock(&self.ledger).owners.get(id).is_some_and(|owner| {
            if ends {
                !crate::session::Principal::of(&principal.session).is_of(&owner.session)
            } else {
                owner != principal
            }
        });
        if foreign {
            return refuse(
                StatusCode::NOT_FOUND,
                crate::codes::mcp::SESSION_NOT_FOUND,
                "there is no such MCP session; open a new one",
            );
        }
        let response = next.run(request).await;
        if ends && response.status().is_success() {
            lock(&self.ledger).owners.remove(id);
        }
        response
    }
}

/// An error answer: `status`, and `{"error": {"code", "message"}}`.
pub(crate) fn refuse(status: StatusCode, code: integrations_core::Code, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code.as_str(), "message": message}})),
    )
        .into_response()
}

fn unauthorized() -> Response {
    let mut response = refuse(
        StatusCode::UNAUTHORIZED,
        crate::codes::mcp::UNAUTHORIZED,
        "a valid bearer token is required",
    );
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

async fn check(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    if let Some(origin) = request.headers().get(ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|o| guard.options.allowed_origins.iter().any(|a| a == o));
        if !allowed {
            return refuse(
                StatusCode::FORBIDDEN,
                crate::codes::mcp::ORIGIN_REFUSED,
                "the request's Origin is not allowed",
            );
        }
    }
    let Some(token) = bearer(&request) else {
        return unauthorized();
    };
    let principal = match guard.authenticator.authenticate(token).await {
        Ok(Some(session)) => session,
        Ok(None) => return unauthorized(),
        Err(e) => {
            tracing::warn!(code = e.code(), "an MCP request could not be authenticated");
            let mut response = refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                crate::codes::mcp::AUTH_UNAVAILABLE,
                "the request could not be authenticated right now",
            );
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("5"));
            return response;
        }
    };
    request.extensions_mut().insert(principal.clone());
    // As rmcp reads it: a value that is not text counts as no session.
    let session = request
        .headers()
        .get(HEADER_SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(id) = session {
        return guard.on_session(&id, &principal, request, next).await;
    }
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let (request, opens) = match opens_session(request, guard.options.max_body_bytes).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    if !opens {
        let response = next.run(request).await;
        if let Some(id) = session_of(&response) {
            // Not expected (rmcp opens sessions for `initialize` only), but a session
            // must never go unowned.
            lock(&guard.ledger).owners.insert(id, principal);
        }
        return response;
    }
    let slot = match guard.reserve(&principal).await {
        Ok(slot) => slot,
        Err(response) => return response,
    };
    // The `initialize` runs to its end in its own task: a client that goes away
    // half-way drops this future, and rmcp may have opened the session by then. Run
    // here, its slot would be given back and the session left alive, counted against
    // no one until it idled out, so a client could open sessions past every cap by
    // hanging up. Run apart, the session is recorded as its principal's whatever
    // became of the client, and expires idle as any other.
    let opening = tokio::spawn(async move {
        let response = next.run(request).await;
        if let Some(id) = session_of(&response) {
            slot.fill(id);
        }
        response
    });
    match opening.await {
        Ok(response) => response,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            crate::codes::mcp::TRANSPORT,
            "the server is shutting down",
        ),
    }
}

/// The session id rmcp gave a response, if any.
fn session_of(response: &Response) -> Option<String> {
    response
        .headers()
        .get(HEADER_SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Reads a POST's body (at most `limit` bytes) to tell whether rmcp opens a session for
/// it: it does for an `initialize` request without `Mcp-Session-Id`, whatever protocol
/// version it names, and for nothing else (2026-07-28 requests are served without one).
/// Gives the request back with its body.
async fn opens_session(request: Request, limit: usize) -> Result<(Request, bool), Response> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => {
            return Err(refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                crate::codes::mcp::BODY_TOO_LARGE,
                "the request body is larger than the server allows",
            ));
        }
        Err(_) => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                crate::codes::mcp::TRANSPORT,
                "the request body could not be read",
            ));
        }
    };
    // rmcp parses the body as this same type, so both see the same request.
    let opens = matches!(
        serde_json::from_slice::<ClientJsonRpcMessage>(&body),
        Ok(ClientJsonRpcMessage::Request(request))
            if matches!(request.request, ClientRequest::InitializeRequest(_))
    );
    Ok((Request::from_parts(parts, Body::from(body)), opens))
}

impl McpService {
    /// The streamable HTTP transport as an axum router for the host to mount
    /// (`Router::new().nest("/mcp", service.http_router(auth, options))`). Every request
    /// must carry `Authorization: Bearer <token>` that `authenticator` accepts (else 401).
    ///
    /// A session stays bound to the principal (the [`McpSession`]) that opened it: any
    /// request naming it in `Mcp-Session-Id` with another principal's token (a request,
    /// a notification such as `notifications/cancelled`, the `GET` stream and its
    /// replay, `DELETE`) gets 404 `mcp.session_not_found`, as a session that does not
    /// exist would, and the session goes on for its principal. Opening a session
    /// (`initialize`) counts against [`McpHttpOptions::max_sessions`] and
    /// [`McpHttpOptions::max_sessions_per_principal`] (else 503 `mcp.too_many_sessions`
    /// with `Retry-After`); requests served without a session (2026-07-28) do not.
    ///
    /// A request whose `Host` is not in [`McpHttpOptions::allowed_hosts`] gets 403 (an
    /// empty list counts as the loopback default, never as "any host").
    pub fn http_router(
        &self,
        authenticator: Arc<dyn McpAuthenticator>,
        options: McpHttpOptions,
    ) -> Router {
        let mut sessions = LocalSessionManager::default();
        sessions.session_config.keep_alive = Some(options.session_idle);
        let sessions = Arc::new(sessions);
        // rmcp allows every host for an empty list; never let one (the field is public)
        // turn DNS-rebinding protection off.
        let mut options = options;
        if options.allowed_hosts.is_empty() {
            tracing::warn!("McpHttpOptions::allowed_hosts is empty; serving loopback hosts only");
            options.allowed_hosts = loopback_hosts();
        }
        let config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(options.allowed_hosts.clone())
            .with_max_request_body_bytes(options.max_body_bytes);
        let service = self.clone();
        let mcp = StreamableHttpService::new(
            move || Ok(service.http_server()),
            Arc::clone(&sessions),
            config,
        );
        let guard = Guard {
            authenticator,
            options: Arc::new(options),
            sessions,
            ledger: Arc::default(),
        };
        Router::new()
            .route_service("/", mcp)
            .layer(from_fn_with_state(guard, check))
    }
}

#[cfg(test)]
mod tests {
    use integrations_core::tools::Session;
    use integrations_core::{TenantId, WorkspaceId};

    use super::*;

    struct Anyone(McpSession);

    #[async_trait]
    impl McpAuthenticator for Anyone {
        async fn authenticate(&self, _: &str) -> Result<Option<McpSession>, Error> {
            Ok(Some(self.0.clone()))
        }
    }

    /// A client that hangs up during `initialize` must not leave the session rmcp opened
    /// for it unowned (and so outside every cap): the session is recorded as its
    /// principal's all the same. The inner service stands for rmcp, slow to open one.
    #[tokio::test]
    async fn a_session_opened_for_a_client_that_hung_up_is_still_its_principals() {
        let principal = McpSession::new(Session::new(
            TenantId::new("acme").unwrap(),
            WorkspaceId::new("eng").unwrap(),
        ));
        let guard = Guard {
            authenticator: Arc::new(Anyone(principal.clone())),
            options: Arc::new(McpHttpOptions::new()),
            sessions: Arc::default(),
            ledger: Arc::default(),
        };
        let mut router = Router::new()
            .route(
                "/",
                axum::routing::post(|| async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    ([(HEADER_SESSION_ID, "session-1")], "opened")
                }),
            )
            .layer(from_fn_with_state(guard.clone(), check));
        let initialize = json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"}
            }
        });
        let request = Request::post("/")
            .header(AUTHORIZATION, "Bearer anything")
            .header("content-type", "application/json")
            .body(Body::from(initialize.to_string()))
            .unwrap();
        let call = tower_service::Service::call(&mut router, request);
        // The client goes away while the session is being opened.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), call)
                .await
                .is_err()
        );
        assert_eq!(
            lock(&guard.ledger).held_by(&principal),
            1,
            "the slot is held"
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let owned = {
                let ledger = lock(&guard.ledger);
                ledger.owners.get("session-1") == Some(&principal) && ledger.opening.is_empty()
            };
            if owned {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the session opened for a client that hung up is owned by no one"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
