//! GitHub's temporary failures, read the same way by every GitHub call the auth code
//! makes outside the tool runtime.

use std::time::Duration;

use http::StatusCode;
use integrations_core::Error;
use integrations_core::host::HttpResponse;

/// The temporary failure `response` reports while `what`, if it is one: 429, or 403 with
/// `x-ratelimit-remaining: 0` (rate limited, with `Retry-After` when given), or 5xx.
pub(super) fn transient(response: &HttpResponse, what: &str) -> Option<Error> {
    let status = response.status();
    let exhausted = response
        .headers()
        .get("x-ratelimit-remaining")
        .is_some_and(|v| v.as_bytes() == b"0");
    if status == StatusCode::TOO_MANY_REQUESTS || (status == StatusCode::FORBIDDEN && exhausted) {
        let error = crate::codes::github::RATE_LIMITED
            .error(format!("GitHub is rate limiting the App while {what}"));
        return Some(match retry_after(response) {
            Some(wait) => error.with_retry_after(wait),
            None => error,
        });
    }
    status.is_server_error().then(|| {
        crate::codes::github::UNAVAILABLE.error(format!(
            "GitHub is unavailable (HTTP {}) while {what}",
            status.as_u16()
        ))
    })
}

fn retry_after(response: &HttpResponse) -> Option<Duration> {
    let seconds = response.headers().get("retry-after")?.to_str().ok()?;
    seconds.trim().parse().ok().map(Duration::from_secs)
}
