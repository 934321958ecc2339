//! The one place an [`Error`] becomes an HTTP answer: a status chosen by its kind, and a
//! JSON body with its stable code and safe message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use integrations::core::webhook;
use integrations::prelude::*;
use serde_json::{Value, json};

/// The stable codes of this application's own refusals (the engines' codes, such as
/// `oauth.unknown_state` or `webhook.signature_mismatch`, pass through unchanged).
pub mod codes {
    /// The public base URL given to [`App::new`](crate::App::new) is unusable.
    pub const INVALID_PUBLIC_BASE: &str = "host_server.invalid_public_base";
    /// The start route's query lacks a parameter, repeats one, or holds an invalid id
    /// (400, with one issue per problem).
    pub const INVALID_QUERY: &str = "host_server.invalid_query";
    /// No route, or no registered integration, matches the request (404).
    pub const UNKNOWN_ROUTE: &str = "host_server.unknown_route";
    /// The target named by the start route's query belongs to another integration than
    /// the route names (404).
    pub const TARGET_MISMATCH: &str = "host_server.target_mismatch";
    /// The callback arrived without the session that started the authorization (401).
    pub const NO_SESSION: &str = "host_server.no_session";
    /// The start route was given a link the application did not sign: unsigned (a bare
    /// `?tenant=..&target=..&method=..`), changed after signing, or signed under another
    /// key (401). Nothing is stored and nothing redirects. Links come from
    /// [`App::start_link`](crate::App::start_link).
    pub const INVALID_START_LINK: &str = "host_server.invalid_start_link";
    /// The start route was given a link the application signed, past its expiry (401).
    pub const START_LINK_EXPIRED: &str = "host_server.start_link_expired";
    /// The tool route was called without `Authorization: Bearer <token>`, or with a token
    /// the host's authenticator does not know (401, with `WWW-Authenticate: Bearer`).
    pub const UNAUTHENTICATED: &str = "host_server.unauthenticated";
    /// The tool route was called on an application given no authenticator
    /// ([`App::with_tool_auth`](crate::App::with_tool_auth)): it runs nothing (401, with
    /// `WWW-Authenticate: Bearer`).
    pub const TOOL_AUTH_NOT_CONFIGURED: &str = "host_server.tool_auth_not_configured";
    /// The host's authenticator failed (its store is down): the caller retries (503,
    /// with `Retry-After`), and nothing runs.
    pub const AUTH_UNAVAILABLE: &str = "host_server.auth_unavailable";
    /// The request body could not be read (400).
    pub const UNREADABLE_BODY: &str = "host_server.unreadable_body";
    /// The tool route's body is not the JSON it takes (400).
    pub const INVALID_BODY: &str = "host_server.invalid_body";
    /// The route exists but not for this HTTP method (405).
    pub const METHOD_NOT_ALLOWED: &str = "host_server.method_not_allowed";
    /// The integration's target lacks a setting (its OAuth client) on this server; the
    /// message says which (503).
    pub const PROVIDER_NOT_CONFIGURED: &str = "host_server.provider_not_configured";
}

/// The code with which an authorization is refused at the provider (the user declined).
const ACCESS_DENIED: &str = integrations::core::codes::oauth::ACCESS_DENIED.as_str();

/// The HTTP status of a failure.
///
/// The webhook engine's table ([`webhook::status_for`]) applies to every error (400
/// invalid input, 401 failed verification, 403 denied, 404 not found, 409 conflict, 413
/// too large, 429 rate limited, 503 unavailable or storage, 500 the rest), with one
/// refinement for the OAuth routes: a provider's refusal is not this application's
/// fault, so it is `502 Bad Gateway` (a token endpoint refused the code or the client),
/// or `403 Forbidden` when the user declined the authorization.
pub fn status_for(error: &Error) -> StatusCode {
    match error.kind() {
        ErrorKind::Provider if error.code() == ACCESS_DENIED => StatusCode::FORBIDDEN,
        ErrorKind::Provider => StatusCode::BAD_GATEWAY,
        _ => webhook::status_for(error),
    }
}

/// The answer to a failure: `{"error": {"code", "message"[, "issues"]}}` with
/// [`status_for`]'s status, `Retry-After` when the error carries a wait, and no caching.
///
/// Only the code, the message and the validation issues are sent: all three are safe to
/// show by the SDK's contract (they never hold a secret, a token or a submitted value).
/// The error's source, which may describe internals, stays on the server.
pub(crate) fn response(error: &Error) -> Response {
    let mut body = json!({"code": error.code(), "message": error.message()});
    if !error.issues().is_empty() {
        body["issues"] = serde_json::to_value(error.issues()).unwrap_or(Value::Null);
    }
    let mut response = (
        status_for(error),
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(json!({ "error": body })),
    )
        .into_response();
    if let Some(wait) = error.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
    }
    response
}

/// The fallback route: any path this application does not serve.
pub(crate) async fn unknown_route() -> Response {
    response(&Error::not_found(
        codes::UNKNOWN_ROUTE,
        "this application serves GET /oauth/{family}/{variant}/start, GET /oauth/callback, POST /webhooks/{family}/{variant}[/{endpoint}] and POST /tools/{name}",
    ))
}

/// The answer to a known route asked with a method it does not serve: `405` in the shared
/// JSON shape. axum adds the `Allow` header.
pub(crate) async fn method_not_allowed(method: axum::http::Method) -> Response {
    let mut answer = response(&Error::invalid_input(
        codes::METHOD_NOT_ALLOWED,
        format!(
            "this route does not answer {method}: the OAuth routes are GET, the webhook and tool routes POST"
        ),
        Vec::new(),
    ));
    *answer.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    answer
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn statuses() {
        let cases = [
            (
                Error::new(ErrorKind::Verification, "oauth.unknown_state", "m"),
                401,
            ),
            (Error::new(ErrorKind::Provider, ACCESS_DENIED, "m"), 403),
            (
                Error::new(ErrorKind::Provider, "oauth.authorization_failed", "m"),
                502,
            ),
            (
                Error::new(ErrorKind::Provider, "oauth.invalid_grant", "m"),
                502,
            ),
            (Error::not_found(codes::UNKNOWN_ROUTE, "m"), 404),
            (Error::conflict("auth.connection_exists", "m"), 409),
            (Error::configuration("auth.missing_client_id", "m"), 500),
            (
                Error::new(ErrorKind::Unavailable, "oauth.unavailable", "m"),
                503,
            ),
            (
                Error::new(ErrorKind::RateLimited, "oauth.rate_limited", "m"),
                429,
            ),
            (
                Error::invalid_input("webhook.body_too_large", "m", Vec::new()),
                413,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(status_for(&error), status, "{}", error.code());
        }
    }

    #[tokio::test]
    async fn bodies_carry_code_message_issues_and_retry_after() {
        let error = Error::invalid_input(
            codes::INVALID_QUERY,
            "the query is invalid",
            vec![ValidationIssue::new(
                "host_server.missing_parameter",
                "/tenant",
                "tenant is required",
            )],
        );
        let answer = response(&error);
        assert_eq!(answer.status(), 400);
        assert_eq!(answer.headers()[header::CACHE_CONTROL], "no-store");
        let body = axum::body::to_bytes(answer.into_body(), 1024)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({"error": {
                "code": "host_server.invalid_query",
                "message": "the query is invalid",
                "issues": [{"code": "host_server.missing_parameter", "path": "/tenant", "message": "tenant is required"}],
            }})
        );

        let limited = Error::new(ErrorKind::RateLimited, "oauth.rate_limited", "wait")
            .with_retry_after(Duration::from_secs(30));
        let answer = response(&limited);
        assert_eq!(answer.status(), 429);
        assert_eq!(answer.headers()[header::RETRY_AFTER], "30");
    }
}
