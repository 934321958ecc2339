//! A minimal approval page for a person at this machine: [`Approvals::loopback_page`].

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use integrations_core::tools::ApprovalId;
use integrations_core::{Error, TenantId, UserId};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Approvals;
use crate::http::refuse;

/// The secret that signs the person at this machine in to a loopback approval page
/// ([`Approvals::loopback_page`]): 32 random bytes, shown only to the operator (the CLI
/// prints its [sign-in path](Self::sign_in_path) on stderr). The approval URLs an MCP
/// client receives carry only a request's id, so a client, or the agent behind it, that
/// follows one is refused: it cannot approve its own calls. Never shown by `Debug`.
#[derive(Clone)]
pub struct PageKey {
    key: Arc<str>,
    digest: [u8; 32],
    cookie: Arc<str>,
}

impl PageKey {
    /// A new random key.
    ///
    /// # Errors
    ///
    /// `crypto.random_failed` when the system's random source fails.
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| {
            integrations_core::codes::crypto::RANDOM_FAILED
                .error("the system random source failed")
                .with_source(e)
        })?;
        let key = hex::encode(bytes);
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        // Cookies are shared by every port of a host: the name is this key's own, so two
        // pages on one machine do not sign each other out.
        let cookie = format!("integrations_approvals_{}", hex::encode(&digest[..4]));
        Ok(Self {
            key: key.into(),
            digest,
            cookie: cookie.into(),
        })
    }

    /// The path that signs a browser in (`/sign-in?key=…`), to append to the page's
    /// origin (`http://127.0.0.1:PORT`). It holds the key: show it to the operator only.
    pub fn sign_in_path(&self) -> String {
        format!("/sign-in?key={}", self.key)
    }

    /// Whether `candidate` is the key. Compares digests, so the time taken says nothing
    /// about the key.
    fn matches(&self, candidate: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        digest == self.digest
    }

    /// The key from the request's cookie, if it has the page's cookie.
    fn signed_in(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| name == &*self.cookie && self.matches(value))
    }
}

impl fmt::Debug for PageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PageKey(..)")
    }
}

#[derive(Clone)]
struct Desk {
    approvals: Approvals,
    tenant: TenantId,
    reviewer: UserId,
    key: PageKey,
}

impl Approvals {
    /// An approval page for `tenant`'s pending calls, settled as `reviewer`:
    /// `GET /sign-in?key=…` (see [`PageKey::sign_in_path`]), `GET /approvals` (pending
    /// requests, JSON), `GET /approvals/{id}` (a page with Approve and Deny buttons),
    /// `POST /approvals/{id}/approve` and `POST /approvals/{id}/deny`.
    ///
    /// Whoever signs in with `key` approves as `reviewer`, so serve it on loopback only,
    /// for the person at this machine (`integrations mcp serve`); a real host puts its own
    /// page, behind its own authentication, in front of [`approve`](Self::approve) and
    /// [`deny`](Self::deny). The page refuses:
    ///
    /// * a request without the cookie signing-in sets (401, `mcp.approval_page_signed_out`):
    ///   the approval URL an MCP client was given is not enough to approve;
    /// * a `Host` that is not a loopback address or `localhost`, so a web page cannot reach
    ///   it through a DNS name rebound to 127.0.0.1, and a `POST` from another origin
    ///   (403, `mcp.approval_page_refused`). The cookie is `SameSite=Strict` and `HttpOnly`.
    pub fn loopback_page(&self, tenant: TenantId, reviewer: UserId, key: PageKey) -> Router {
        let desk = Desk {
            approvals: self.clone(),
            tenant,
            reviewer,
            key,
        };
        let signed_in = Router::new()
            .route("/approvals", get(list))
            .route("/approvals/{id}", get(page))
            .route("/approvals/{id}/approve", post(approve))
            .route("/approvals/{id}/deny", post(deny))
            .layer(from_fn_with_state(desk.clone(), require_sign_in));
        Router::new()
            .route("/sign-in", get(sign_in))
            .merge(signed_in)
            .layer(from_fn_with_state(desk.clone(), require_loopback))
            .with_state(desk)
    }
}

/// Whether the `Host` header names this machine: a loopback address or `localhost`.
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Ok(authority) = host.parse::<http::uri::Authority>() else {
        return false;
    };
    let name = authority.host();
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a `POST` comes from the page itself: no `Origin` (not a browser), or the
/// page's own origin; and no `Sec-Fetch-Site` saying another site sent it.
fn same_origin(headers: &HeaderMap) -> bool {
    let origin_ok = match headers.get(header::ORIGIN) {
        None => true,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            match (origin.to_str(), host) {
                (Ok(origin), Some(host)) => origin
                    .strip_prefix("http://")
                    .is_some_and(|rest| rest.eq_ignore_ascii_case(host)),
                _ => false,
            }
        }
    };
    let site_ok = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|site| site == "same-origin" || site == "none");
    origin_ok && site_ok
}

async fn require_loopback(request: Request, next: Next) -> Response {
    if !loopback_host(request.headers()) {
        return refuse(
            StatusCode::FORBIDDEN,
            crate::codes::mcp::APPROVAL_PAGE_REFUSED,
            "the approval page answers only to a loopback Host",
        );
    }
    if request.method() != Method::GET && !same_origin(request.headers()) {
        return refuse(
            StatusCode::FORBIDDEN,
            crate::codes::mcp::APPROVAL_PAGE_REFUSED,
            "the approval page takes decisions only from its own pages",
        );
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

async fn require_sign_in(State(desk): State<Desk>, request: Request, next: Next) -> Response {
    if desk.key.signed_in(request.headers()) {
        return next.run(request).await;
    }
    refuse(
        StatusCode::UNAUTHORIZED,
        crate::codes::mcp::APPROVAL_PAGE_SIGNED_OUT,
        "sign in first with the link the server printed when it started \
         (`integrations mcp serve` prints it on standard error), then reload this page",
    )
}

async fn sign_in(
    State(desk): State<Desk>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !query.get("key").is_some_and(|key| desk.key.matches(key)) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            crate::codes::mcp::APPROVAL_PAGE_SIGNED_OUT,
            "this sign-in link is not the one the server printed",
        );
    }
    let cookie = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict",
        desk.key.cookie, desk.key.key
    );
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/approvals")]).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn not_found() -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        integrations_core::codes::tool::APPROVAL_NOT_FOUND,
        "no pending approval request has this id",
    )
}

/// A storage failure while reading the requests: 503, with its code.
fn unavailable(error: &integrations_core::Error) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(json!({"error": {"code": error.code(), "message": error.message()}})),
    )
        .into_response()
}

async fn list(State(desk): State<Desk>) -> Response {
    let pending = match desk.approvals.pending(&desk.tenant).await {
        Ok(pending) => pending,
        Err(e) => return unavailable(&e),
    };
    let pending: Vec<Value> = pending
        .into_iter()
        .map(|p| {
            json!({
                "id": p.request.id.as_str(),
                "tool": p.request.tool,
                "arguments": p.request.arguments,
                "expiresAt": p.request.expires_at.to_rfc3339(),
            })
        })
        .collect();
    axum::Json(json!({ "pending": pending })).into_response()
}

async fn page(State(desk): State<Desk>, Path(id): Path<String>) -> Response {
    let Ok(id) = ApprovalId::new(id) else {
        return not_found();
    };
    let pending = match desk.approvals.get(&desk.tenant, &id).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return not_found(),
        Err(e) => return unavailable(&e),
    };
    let request = &pending.request;
    let arguments = serde_json::to_string_pretty(&request.arguments).unwrap_or_default();
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Approve {tool}?</title></head><body>\
         <h1>Approve <code>{tool}</code>?</h1>\
         <p>An agent acting for {user} wants to run this tool with:</p><pre>{arguments}</pre>\
         <form method=\"post\" action=\"/approvals/{id}/approve\"><button>Approve</button></form>\
         <form method=\"post\" action=\"/approvals/{id}/deny\"><button>Deny</button></form>\
         <p>Expires at {expires}.</p></body></html>",
        tool = escape(&request.tool),
        user = escape(request.context.session.user.as_ref().map_or("nobody", UserId::as_str)),
        arguments = escape(&arguments),
        id = escape(id.as_str()),
        expires = escape(&request.expires_at.to_rfc3339()),
    ))
    .into_response()
}

async fn approve(State(desk): State<Desk>, Path(id): Path<String>) -> Response {
    let Ok(id) = ApprovalId::new(id) else {
        return not_found();
    };
    match desk
        .approvals
        .try_approve(&desk.tenant, &id, &desk.reviewer)
        .await
    {
        Ok(result) => {
            axum::Json(json!({"approved": true, "result": result.to_mcp()})).into_response()
        }
        Err(e) if e.code() == integrations_core::codes::tool::APPROVAL_NOT_FOUND.as_str() => {
            not_found()
        }
        // Nothing ran, and the request is still pending: try again.
        Err(e) => unavailable(&e),
    }
}

async fn deny(State(desk): State<Desk>, Path(id): Path<String>) -> Response {
    let Ok(id) = ApprovalId::new(id) else {
        return not_found();
    };
    match desk.approvals.deny(&desk.tenant, &id, &desk.reviewer).await {
        Ok(()) => axum::Json(json!({"denied": true})).into_response(),
        Err(e) if e.code() == integrations_core::codes::tool::APPROVAL_NOT_FOUND.as_str() => {
            not_found()
        }
        Err(e) => unavailable(&e),
    }
}
