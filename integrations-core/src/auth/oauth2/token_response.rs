//! Reading a token endpoint's answer, quirks included, as data from the spec.
//!
//! * JSON or form-encoded bodies (GitHub answers form-encoded unless asked for JSON).
//! * Errors inside HTTP 200: an `error` member (GitHub), or a success member that is not
//!   `true` (Slack `ok: false`).
//! * `scope` as a string split on commas and whitespace, or as an array (Linear apps
//!   created before 2023-12).
//! * `expires_in` as a number or a numeric string, or absent (then the spec's default, or
//!   no expiry); no refresh token.
//! * 429 with `Retry-After` (seconds or an HTTP date), 5xx: temporary.
//!
//! Errors never contain the body: only the status and a sanitized provider error code.

use std::fmt;
use std::time::Duration;

use http::StatusCode;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use serde_json::{Map, Value};

use crate::definition::OAuth2Spec;
use crate::host::HttpResponse;
use crate::{Error, Secret, Timestamp};

/// The stable code of a dead grant (`invalid_grant` and the provider's equivalents).
pub const INVALID_GRANT: &str = crate::codes::oauth::INVALID_GRANT.as_str();

/// What a token endpoint issued.
#[derive(Clone)]
pub(crate) struct TokenSet {
    pub(crate) access_token: Secret,
    pub(crate) refresh_token: Option<Secret>,
    pub(crate) expires_at: Option<Timestamp>,
    pub(crate) refresh_expires_at: Option<Timestamp>,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) subject: Option<String>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("expires_at", &self.expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("scopes", &self.scopes)
            .field("subject", &self.subject)
            .finish()
    }
}

/// Splits a scope string on commas and whitespace, dropping empties.
pub(crate) fn split_scopes(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A provider error code, kept only when it is a short token of safe characters.
fn sanitized(code: &str) -> Option<&str> {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    ok.then_some(code)
}

/// The wait a `Retry-After` header asks for: delay-seconds, or an HTTP date compared with
/// `now`.
/// A provider error code fit for a message, or `unrecognized`.
pub(crate) fn shown(code: &str) -> &str {
    sanitized(code).unwrap_or("unrecognized")
}

pub(crate) fn retry_after(response: &HttpResponse, now: Timestamp) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let millis = i64::try_from(date.unix_timestamp_nanos() / 1_000_000).ok()?;
    Some(Timestamp::from_unix_millis(millis).duration_since(now))
}

/// Classifies a provider error code.
pub(crate) fn classify(code: &str, spec: &OAuth2Spec) -> Error {
    let shown = sanitized(code).unwrap_or("unrecognized");
    if code == "invalid_grant" || spec.grant_error_codes.iter().any(|c| c == code) {
        return crate::codes::oauth::INVALID_GRANT.error(format!(
            "the provider rejected the grant ({shown}); reauthorize the connection"
        ));
    }
    match code {
        "invalid_client" | "unauthorized_client" => crate::codes::oauth::INVALID_CLIENT.error(format!(
                "the provider rejected the OAuth client ({shown}); check the target's client id and secret"
            ),
        ),
        "invalid_scope" => crate::codes::oauth::INVALID_SCOPE.error("the provider refused the requested scopes",
        ),
        "access_denied" => crate::codes::oauth::ACCESS_DENIED.error("the authorization was denied",
        ),
        "temporarily_unavailable" | "server_error" => crate::codes::oauth::UNAVAILABLE.error(format!("the token endpoint is temporarily unavailable ({shown})"),
        ),
        "slow_down" => crate::codes::oauth::RATE_LIMITED.error("the token endpoint asked to slow down",
        ),
        _ => crate::codes::oauth::TOKEN_ERROR.error(format!("the token endpoint refused the request ({shown})"),
        ),
    }
}

fn is_json(response: &HttpResponse) -> Option<bool> {
    let content_type = response.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let lower = content_type.to_ascii_lowercase();
    if lower.contains("json") {
        Some(true)
    } else if lower.starts_with("application/x-www-form-urlencoded") {
        Some(false)
    } else {
        None
    }
}

/// The body as a JSON object: JSON as is; a form-encoded body as an object of strings.
pub(crate) fn fields(response: &HttpResponse) -> Option<Map<String, Value>> {
    let body = response.body();
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return None;
    }
    let json = is_json(response).unwrap_or_else(|| trimmed.first() == Some(&b'{'));
    if json {
        match serde_json::from_slice::<Value>(trimmed).ok()? {
            Value::Object(map) => Some(map),
            _ => None,
        }
    } else {
        let text = std::str::from_utf8(trimmed).ok()?;
        if !text.contains('=') {
            return None;
        }
        Some(
            url::form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect(),
        )
    }
}

fn seconds(value: Option<&Value>) -> Option<u64> {
    match value? {
        // Whole seconds; a fractional or negative number is not an expiry.
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|s| *s > 0)
}

fn non_empty_string(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The text of a subject found at a JSON Pointer: a string, or a number written out.
pub(crate) fn subject_at(document: &Value, pointer: &str) -> Option<String> {
    match document.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn scopes(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::String(s) => Some(split_scopes(s)),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .flat_map(split_scopes)
                .collect(),
        ),
        _ => None,
    }
}

/// Reads a token endpoint's response.
pub(crate) fn parse(
    response: &HttpResponse,
    spec: &OAuth2Spec,
    now: Timestamp,
) -> Result<TokenSet, Error> {
    let status = response.status();
    if status.is_redirection() {
        return Err(crate::codes::oauth::UNEXPECTED_REDIRECT
            .error("the token endpoint answered with a redirect, which is never followed"));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        let mut error =
            crate::codes::oauth::RATE_LIMITED.error("the token endpoint is rate limiting requests");
        if let Some(wait) = retry_after(response, now) {
            error = error.with_retry_after(wait);
        }
        return Err(error);
    }
    if status.is_server_error() {
        let mut error = crate::codes::oauth::UNAVAILABLE.error(format!(
            "the token endpoint is unavailable (HTTP {})",
            status.as_u16()
        ));
        if let Some(wait) = retry_after(response, now) {
            error = error.with_retry_after(wait);
        }
        return Err(error);
    }
    let Some(fields) = fields(response) else {
        let code = if status.is_success() {
            crate::codes::oauth::INVALID_RESPONSE
        } else {
            crate::codes::oauth::TOKEN_REQUEST_FAILED
        };
        return Err(code.error(format!(
            "the token endpoint answered HTTP {} with a body that is neither JSON nor a form",
            status.as_u16()
        )));
    };
    let error_code = non_empty_string(fields.get("error"));
    if let Some(field) = &spec.success_field
        && fields.get(field) != Some(&Value::Bool(true))
    {
        return Err(match error_code {
            Some(code) => classify(code, spec),
            None => crate::codes::oauth::TOKEN_ERROR
                .error("the token endpoint reported a failure without an error code"),
        });
    }
    if let Some(code) = error_code {
        return Err(classify(code, spec));
    }
    if !status.is_success() {
        return Err(crate::codes::oauth::TOKEN_REQUEST_FAILED.error(format!(
            "the token endpoint answered HTTP {}",
            status.as_u16()
        )));
    }
    let Some(access_token) = non_empty_string(fields.get("access_token")) else {
        return Err(
            crate::codes::oauth::INVALID_RESPONSE.error("the token response has no access token")
        );
    };
    let expires_at = seconds(fields.get("expires_in"))
        .or(spec.default_expires_in_secs)
        .map(|s| now.saturating_add(Duration::from_secs(s)));
    let refresh_expires_at = seconds(fields.get("refresh_token_expires_in"))
        .map(|s| now.saturating_add(Duration::from_secs(s)));
    let document = Value::Object(fields.clone());
    let subject = spec
        .subject_pointer
        .as_deref()
        .and_then(|p| subject_at(&document, p));
    Ok(TokenSet {
        access_token: Secret::new(access_token),
        refresh_token: non_empty_string(fields.get("refresh_token")).map(Secret::new),
        expires_at,
        refresh_expires_at,
        scopes: scopes(fields.get("scope")),
        subject,
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::ErrorKind;

    fn response(status: u16, content_type: Option<&str>, body: &str) -> HttpResponse {
        let mut builder = http::Response::builder().status(status);
        if let Some(ct) = content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        builder.body(Bytes::from(body.to_owned())).unwrap()
    }

    fn spec() -> OAuth2Spec {
        OAuth2Spec::new("https://p.test/authorize", "https://p.test/token")
    }

    const NOW: Timestamp = Timestamp::from_unix_seconds(1_000);

    #[test]
    fn reads_json_with_refresh_and_expiry() {
        let r = response(
            200,
            Some("application/json"),
            r#"{"access_token":"at-1","token_type":"Bearer","expires_in":86399,"scope":"read write","refresh_token":"rt-1"}"#,
        );
        let set = parse(&r, &spec(), NOW).unwrap();
        assert_eq!(set.access_token.expose(), "at-1");
        assert_eq!(set.refresh_token.unwrap().expose(), "rt-1");
        assert_eq!(set.expires_at, Some(Timestamp::from_unix_seconds(87_399)));
        assert_eq!(set.scopes.unwrap(), ["read", "write"]);
    }

    #[test]
    fn reads_form_encoded_and_comma_scopes() {
        let r = response(
            200,
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            "access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=repo%2Cgist&token_type=bearer",
        );
        let set = parse(&r, &spec(), NOW).unwrap();
        assert_eq!(
            set.access_token.expose(),
            "gho_16C7e42F292c6912E7710c838347Ae178B4a"
        );
        assert_eq!(set.scopes.unwrap(), ["repo", "gist"]);
        assert!(set.refresh_token.is_none());
        assert!(set.expires_at.is_none());
    }

    #[test]
    fn form_without_content_type_and_string_expiry() {
        let r = response(200, None, "access_token=x&expires_in=60");
        let set = parse(&r, &spec(), NOW).unwrap();
        assert_eq!(set.expires_at, Some(Timestamp::from_unix_seconds(1_060)));
    }

    #[test]
    fn scope_array_and_default_expiry() {
        let r = response(
            200,
            Some("application/json"),
            r#"{"access_token":"x","scope":["read","write"]}"#,
        );
        let set = parse(&r, &spec().with_default_expires_in_secs(30), NOW).unwrap();
        assert_eq!(set.scopes.unwrap(), ["read", "write"]);
        assert_eq!(set.expires_at, Some(Timestamp::from_unix_seconds(1_030)));
    }

    #[test]
    fn errors_inside_http_200() {
        let r = response(
            200,
            Some("application/json"),
            r#"{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired."}"#,
        );
        let e = parse(&r, &spec(), NOW).unwrap_err();
        assert_eq!(e.code(), "oauth.token_error");
        assert!(e.message().contains("bad_verification_code"));
        assert!(!e.message().contains("incorrect or expired"));
        let grant = spec().with_grant_error_code("bad_refresh_token");
        let r = response(
            200,
            Some("application/json"),
            r#"{"error":"bad_refresh_token"}"#,
        );
        assert_eq!(parse(&r, &grant, NOW).unwrap_err().code(), INVALID_GRANT);
    }

    #[test]
    fn slack_ok_false() {
        let slack = spec()
            .with_success_field("ok")
            .with_subject_pointer("/team/id");
        let r = response(
            200,
            Some("application/json; charset=utf-8"),
            r#"{"ok":false,"error":"invalid_code"}"#,
        );
        let e = parse(&r, &slack, NOW).unwrap_err();
        assert_eq!(e.code(), "oauth.token_error");
        let r = response(
            200,
            Some("application/json"),
            r#"{"ok":true,"access_token":"xoxb-1","token_type":"bot","scope":"commands,incoming-webhook","team":{"id":"T9TK3CUKW"}}"#,
        );
        let set = parse(&r, &slack, NOW).unwrap();
        assert_eq!(set.subject.as_deref(), Some("T9TK3CUKW"));
        assert_eq!(set.scopes.unwrap(), ["commands", "incoming-webhook"]);
        // A body without ok at all is a failure too.
        let r = response(200, Some("application/json"), r#"{"access_token":"x"}"#);
        assert!(parse(&r, &slack, NOW).is_err());
    }

    #[test]
    fn temporary_failures() {
        let r = http::Response::builder()
            .status(429)
            .header(RETRY_AFTER, "7")
            .body(Bytes::new())
            .unwrap();
        let e = parse(&r, &spec(), NOW).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.is_temporary());
        let r = response(503, Some("text/html"), "<h1>down</h1>");
        let e = parse(&r, &spec(), NOW).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(e.code(), "oauth.unavailable");
    }

    #[test]
    fn retry_after_as_http_date() {
        let r = http::Response::builder()
            .status(429)
            .header(RETRY_AFTER, "Thu, 01 Jan 1970 00:17:00 GMT")
            .body(Bytes::new())
            .unwrap();
        assert_eq!(retry_after(&r, NOW), Some(Duration::from_secs(20)));
    }

    #[test]
    fn standard_errors_are_classified() {
        for (code, expected, kind) in [
            ("invalid_grant", INVALID_GRANT, ErrorKind::Provider),
            (
                "invalid_client",
                "oauth.invalid_client",
                ErrorKind::Configuration,
            ),
            (
                "temporarily_unavailable",
                "oauth.unavailable",
                ErrorKind::Unavailable,
            ),
            ("invalid_scope", "oauth.invalid_scope", ErrorKind::Provider),
        ] {
            let r = response(
                400,
                Some("application/json"),
                &format!(r#"{{"error":"{code}"}}"#),
            );
            let e = parse(&r, &spec(), NOW).unwrap_err();
            assert_eq!((e.code(), e.kind()), (expected, kind), "{code}");
        }
        let r = response(400, Some("application/json"), r#"{"error":"<script>"}"#);
        assert!(
            parse(&r, &spec(), NOW)
                .unwrap_err()
                .message()
                .contains("unrecognized")
        );
    }

    #[test]
    fn missing_access_token_and_redirects() {
        let r = response(200, Some("application/json"), r#"{"token_type":"bearer"}"#);
        assert_eq!(
            parse(&r, &spec(), NOW).unwrap_err().code(),
            "oauth.invalid_response"
        );
        let r = http::Response::builder()
            .status(302)
            .header("location", "https://evil.test/")
            .body(Bytes::new())
            .unwrap();
        assert_eq!(
            parse(&r, &spec(), NOW).unwrap_err().code(),
            "oauth.unexpected_redirect"
        );
    }

    #[test]
    fn errors_never_contain_the_body() {
        let r = response(
            400,
            Some("application/json"),
            r#"{"error":"invalid_grant","refresh_token":"rt-secret-value"}"#,
        );
        let e = parse(&r, &spec(), NOW).unwrap_err();
        assert!(!format!("{e:?}").contains("rt-secret-value"));
    }
}
