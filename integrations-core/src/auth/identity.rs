//! Running a definition's [`IdentityCheck`]: one cheap authenticated request that proves
//! a credential works and may name the connection's external subject.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use serde_json::Value;

use super::oauth2::token_response::subject_at;
use crate::definition::IdentityCheck;
use crate::host::{Host, HttpRequest};
use crate::plan::AuthInjection;
use crate::{Error, Secret};

/// The stable code of a credential the provider refused.
pub const CREDENTIAL_REJECTED: &str = crate::codes::auth::CREDENTIAL_REJECTED.as_str();

/// What a passed identity check tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) subject: Option<String>,
}

fn rejected() -> Error {
    crate::codes::auth::CREDENTIAL_REJECTED.error("the provider rejected the credential")
}

fn bad_check(what: &str) -> Error {
    crate::codes::auth::INVALID_IDENTITY_CHECK.error(format!(
        "the definition's identity check has an invalid {what}"
    ))
}

fn sensitive(value: &str) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        crate::codes::auth::CREDENTIAL_NOT_A_HEADER
            .error("the credential cannot be sent in an HTTP header")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Builds the request with the credential injected.
fn request(check: &IdentityCheck, credential: &Secret) -> Result<HttpRequest, Error> {
    let method = Method::from_bytes(check.method.as_bytes()).map_err(|_| bad_check("method"))?;
    let mut url = url::Url::parse(&check.url).map_err(|_| bad_check("URL"))?;
    let mut headers = http::HeaderMap::new();
    for (name, value) in &check.headers {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad_check("header name"))?,
            HeaderValue::from_str(value).map_err(|_| bad_check("header value"))?,
        );
    }
    #[allow(
        unreachable_patterns,
        reason = "AuthInjection is non-exhaustive; new schemes are refused until supported here"
    )]
    match &check.injection {
        AuthInjection::Bearer => {
            headers.insert(
                AUTHORIZATION,
                sensitive(&format!("Bearer {}", credential.expose()))?,
            );
        }
        AuthInjection::Basic { username } => {
            let raw = match username {
                Some(user) => format!("{user}:{}", credential.expose()),
                None => credential.expose().to_owned(),
            };
            headers.insert(
                AUTHORIZATION,
                sensitive(&format!("Basic {}", STANDARD.encode(raw)))?,
            );
        }
        AuthInjection::Header { name, prefix } => {
            let name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad_check("header name"))?;
            let value = format!("{}{}", prefix.as_deref().unwrap_or(""), credential.expose());
            headers.insert(name, sensitive(&value)?);
        }
        AuthInjection::Query { name } => {
            url.query_pairs_mut().append_pair(name, credential.expose());
        }
        _ => return Err(bad_check("credential injection")),
    }
    let mut request = http::Request::builder()
        .method(method)
        .uri(url.as_str())
        .body(Bytes::from(check.body.clone().unwrap_or_default()))
        .map_err(|_| bad_check("request"))?;
    *request.headers_mut() = headers;
    Ok(request)
}

/// How an identity check's answer says "rate limited": HTTP 429, or a 403 with
/// `retry-after` or `x-ratelimit-remaining: 0`, as GitHub answers its secondary and
/// primary limits (such an answer says nothing about the credential). The wait is
/// `retry-after`, else the spent quota's `x-ratelimit-reset` (epoch seconds); none is
/// assumed when the answer names none.
static RATE_LIMIT: std::sync::LazyLock<crate::provider::tools::RateLimitRule> =
    std::sync::LazyLock::new(|| {
        crate::provider::tools::RateLimitRule::new()
            .with_status(403)
            .with_remaining_header("x-ratelimit-remaining")
            .with_reset_header(
                "x-ratelimit-reset",
                crate::provider::tools::ResetFormat::EpochSeconds,
            )
            .with_default_wait(std::time::Duration::ZERO)
    });

/// Sends `check` with `credential` and reads the answer.
pub(crate) async fn verify(
    host: &Host,
    check: &IdentityCheck,
    credential: &Secret,
) -> Result<Identity, Error> {
    let response = host.http().send(request(check, credential)?).await?;
    let status = response.status();
    tracing::debug!(
        target: "integrations::auth",
        status = status.as_u16(),
        "identity check answered"
    );
    if RATE_LIMIT.is_limited(&response) {
        let mut e = crate::codes::auth::IDENTITY_RATE_LIMITED
            .error("the provider is rate limiting the identity check");
        let wait = RATE_LIMIT.wait(&response, host.clock().now());
        if !wait.is_zero() {
            e = e.with_retry_after(wait);
        }
        return Err(e);
    }
    if status.is_server_error() {
        return Err(crate::codes::auth::IDENTITY_UNAVAILABLE.error(format!(
            "the provider could not check the credential (HTTP {})",
            status.as_u16()
        )));
    }
    if matches!(
        status,
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) {
        return Err(rejected());
    }
    if !status.is_success() {
        return Err(crate::codes::auth::IDENTITY_FAILED.error(format!(
            "the identity check answered HTTP {}; check the target's URLs",
            status.as_u16()
        )));
    }
    let needs_body = check.success_field.is_some()
        || check.error_pointer.is_some()
        || check.subject_pointer.is_some();
    if !needs_body {
        return Ok(Identity::default());
    }
    let Ok(document) = serde_json::from_slice::<Value>(response.body()) else {
        return Err(
            crate::codes::auth::IDENTITY_FAILED.error("the identity check's answer is not JSON")
        );
    };
    if let Some(field) = &check.success_field
        && document.get(field) != Some(&Value::Bool(true))
    {
        return Err(rejected());
    }
    if let Some(pointer) = &check.error_pointer
        && document.pointer(pointer).is_some_and(|v| !v.is_null())
    {
        return Err(rejected());
    }
    let subject = check
        .subject_pointer
        .as_deref()
        .and_then(|p| subject_at(&document, p));
    Ok(Identity {
        subject: match (&check.subject_prefix, subject) {
            (Some(prefix), Some(subject)) => Some(format!("{prefix}{subject}")),
            (_, subject) => subject,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injections() {
        let key = Secret::new("k-1");
        let r = request(
            &IdentityCheck::get("https://api.test/user", AuthInjection::Bearer),
            &key,
        )
        .unwrap();
        assert_eq!(r.headers()[AUTHORIZATION], "Bearer k-1");
        assert!(r.headers()[AUTHORIZATION].is_sensitive());
        let r = request(
            &IdentityCheck::post(
                "https://api.test/graphql",
                AuthInjection::Header {
                    name: "Authorization".into(),
                    prefix: None,
                },
            )
            .with_json_body(&serde_json::json!({"query": "{ viewer { id } }"})),
            &key,
        )
        .unwrap();
        assert_eq!(r.headers()[AUTHORIZATION], "k-1");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.method(), Method::POST);
        let r = request(
            &IdentityCheck::get(
                "https://api.test/x?a=1",
                AuthInjection::Query { name: "key".into() },
            ),
            &key,
        )
        .unwrap();
        assert_eq!(r.uri().query(), Some("a=1&key=k-1"));
        let r = request(
            &IdentityCheck::get(
                "https://api.test/x",
                AuthInjection::Basic {
                    username: Some("x-access-token".into()),
                },
            ),
            &key,
        )
        .unwrap();
        assert_eq!(
            r.headers()[AUTHORIZATION],
            format!("Basic {}", STANDARD.encode("x-access-token:k-1"))
        );
    }

    #[test]
    fn a_credential_that_is_not_a_header_is_refused_without_echo() {
        let e = request(
            &IdentityCheck::get("https://api.test/u", AuthInjection::Bearer),
            &Secret::new("bad\nvalue-secret"),
        )
        .unwrap_err();
        assert!(!format!("{e:?}").contains("value-secret"));
    }
}
