//! GitHub's temporary failures, read the same way by every GitHub call the auth code
//! makes outside the tool runtime.

use integrations_core::host::HttpResponse;
use integrations_core::{Error, Timestamp};

/// The temporary failure `response` reports while `what`, if it is one: a 5xx, or a rate
/// limit as GitHub signals them (providers.md §3.2) and the tools read them
/// ([`RATE_LIMIT`](super::tools::RATE_LIMIT)): 429; 403 with `x-ratelimit-remaining: 0`
/// (the primary limit); 403 with `retry-after` or a "secondary rate limit" message. The
/// wait is `retry-after` when given, else the time until `x-ratelimit-reset` once the
/// quota is spent, else a minute.
pub(super) fn transient(response: &HttpResponse, what: &str, now: Timestamp) -> Option<Error> {
    let rule = &super::tools::RATE_LIMIT;
    if rule.is_limited(response) {
        let wait = rule.wait(response, now);
        return Some(
            crate::codes::github::RATE_LIMITED
                .error(format!(
                    "GitHub is rate limiting requests while {what}; retry after {} s",
                    wait.as_secs()
                ))
                .with_retry_after(wait),
        );
    }
    let status = response.status();
    status.is_server_error().then(|| {
        crate::codes::github::UNAVAILABLE.error(format!(
            "GitHub is unavailable (HTTP {}) while {what}",
            status.as_u16()
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use integrations_core::ErrorKind;

    use super::*;

    const NOW: Timestamp = Timestamp::from_unix_seconds(1_790_000_000);

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        let mut builder = http::Response::builder().status(status);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Bytes::from(body.to_owned())).unwrap()
    }

    fn wait(response: &HttpResponse) -> Option<Duration> {
        let error = transient(response, "testing", NOW).expect("a temporary failure");
        assert_eq!(
            (error.kind(), error.code()),
            (ErrorKind::RateLimited, "github.rate_limited")
        );
        assert!(error.is_temporary());
        error.retry_after()
    }

    /// Every way GitHub says "slow down", with the wait it asks for.
    #[test]
    fn primary_secondary_and_429_limits_carry_their_wait() {
        let reset = (NOW.unix_seconds() + 120).to_string();
        let primary = response(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", reset.as_str()),
            ],
            r#"{"message":"API rate limit exceeded for installation ID 1."}"#,
        );
        assert_eq!(wait(&primary), Some(Duration::from_secs(120)));
        let secondary = response(
            403,
            &[
                ("retry-after", "61"),
                ("x-ratelimit-remaining", "4000"),
                ("x-ratelimit-reset", reset.as_str()),
            ],
            r#"{"message":"You have exceeded a secondary rate limit."}"#,
        );
        assert_eq!(wait(&secondary), Some(Duration::from_secs(61)));
        let secondary_bare = response(
            403,
            &[("x-ratelimit-remaining", "4000")],
            r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#,
        );
        assert_eq!(wait(&secondary_bare), Some(Duration::from_secs(60)));
        let too_many = response(429, &[("retry-after", "7")], "");
        assert_eq!(wait(&too_many), Some(Duration::from_secs(7)));
    }

    #[test]
    fn other_refusals_are_not_temporary_and_5xx_are() {
        let forbidden = response(
            403,
            &[("x-ratelimit-remaining", "4999")],
            r#"{"message":"Resource not accessible by integration"}"#,
        );
        assert!(transient(&forbidden, "testing", NOW).is_none());
        let unavailable = transient(&response(502, &[], ""), "testing", NOW).unwrap();
        assert_eq!(unavailable.code(), "github.unavailable");
        assert!(unavailable.is_temporary());
    }
}
