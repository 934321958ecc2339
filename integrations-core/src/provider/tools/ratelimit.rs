//! Rate limits: every provider's way of saying "slow down" becomes one typed, retryable
//! error, [`ErrorKind::RateLimited`](crate::ErrorKind::RateLimited) (`tool.rate_limited`) carrying how long to wait.
//!
//! Providers say it differently (HTTP 429 with `Retry-After`; 403 with a remaining-count
//! header at zero and a reset time in epoch seconds; a GraphQL error code with HTTP 400
//! and a reset in epoch milliseconds; a "secondary rate limit" message). A
//! [`RateLimitRule`] describes one provider's way as data; the definition that knows the
//! provider builds it, and [`RateLimitRule::check`] reads a response with it.

use std::time::Duration;

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderName, StatusCode};

use crate::host::HttpResponse;
use crate::{Error, Timestamp};

/// How long to wait when a provider says "rate limited" without saying for how long.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// The one rate-limit error: retryable, with the wait attached
/// ([`Error::retry_after`]).
pub fn rate_limited(wait: Duration) -> Error {
    crate::codes::tool::RATE_LIMITED
        .error(format!(
            "the provider's rate limit was reached; retry after {} s",
            wait.as_secs().max(1)
        ))
        .with_retry_after(wait)
}

/// How a reset header writes its instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResetFormat {
    /// Seconds since the Unix epoch.
    EpochSeconds,
    /// Milliseconds since the Unix epoch.
    EpochMillis,
    /// Seconds from now.
    DeltaSeconds,
    /// A duration from now as Go writes one (`6m0s`, `12ms`, `1.5s`): OpenAI's
    /// `x-ratelimit-reset-requests` and `x-ratelimit-reset-tokens`.
    Duration,
}

/// One provider's way of signalling rate limits, as data.
///
/// A response is rate limited when its status is one of [`statuses`](Self::with_status)
/// and it is 429, carries `Retry-After`, has the remaining-count header at `0`, or its
/// body contains one of the [markers](Self::with_body_marker); or, at any status, when it
/// is a GraphQL response whose `errors[].extensions.code` is one of the
/// [codes](Self::with_graphql_code).
///
/// The wait is, in order: `Retry-After` (seconds or an HTTP date), the latest reset of
/// the [buckets](Self::with_bucket) whose remaining count is `0`, the reset header minus
/// now, the default wait.
///
/// ```
/// use std::time::Duration;
/// use integrations_core::tools::{RateLimitRule, ResetFormat};
/// use integrations_core::Timestamp;
///
/// let rule = RateLimitRule::new()
///     .with_status(403)
///     .with_remaining_header("x-ratelimit-remaining")
///     .with_reset_header("x-ratelimit-reset", ResetFormat::EpochSeconds);
/// let response = http::Response::builder()
///     .status(403)
///     .header("x-ratelimit-remaining", "0")
///     .header("x-ratelimit-reset", "1000090")
///     .body(bytes::Bytes::new())?;
/// let err = rule.check(&response, Timestamp::from_unix_seconds(1_000_000)).expect("limited");
/// assert_eq!(err.code(), "tool.rate_limited");
/// assert_eq!(err.retry_after(), Some(Duration::from_secs(90)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitRule {
    statuses: Vec<u16>,
    remaining_header: Option<HeaderName>,
    reset_header: Option<(HeaderName, ResetFormat)>,
    buckets: Vec<Bucket>,
    body_markers: Vec<String>,
    graphql_codes: Vec<String>,
    default_wait: Duration,
}

/// One of several limits a provider counts apart (Linear: requests and complexity), each
/// with its remaining count and its reset.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bucket {
    remaining: HeaderName,
    reset: HeaderName,
    format: ResetFormat,
    /// The header saying what the request cost from this bucket (Linear's
    /// `X-Complexity`): a leaky bucket refuses a request that costs more than is left,
    /// with some left.
    cost: Option<HeaderName>,
}

impl Bucket {
    /// Whether this bucket refused `headers`' request: nothing left, or less left than
    /// the request cost.
    fn spent(&self, headers: &HeaderMap) -> bool {
        let Some(remaining) = header_number(headers, &self.remaining) else {
            return false;
        };
        remaining == 0
            || self
                .cost
                .as_ref()
                .and_then(|cost| header_number(headers, cost))
                .is_some_and(|cost| remaining < cost)
    }
}

impl Default for RateLimitRule {
    fn default() -> Self {
        Self::new()
    }
}

fn header_name(name: &str) -> HeaderName {
    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).unwrap_or_else(|_| {
        // A rule is written by a definition author, not by users: a bad name is a bug.
        panic!("invalid header name in a rate-limit rule: {name}")
    })
}

impl RateLimitRule {
    /// HTTP 429, waiting as `Retry-After` says or [`DEFAULT_RATE_LIMIT_WAIT`].
    pub fn new() -> Self {
        Self {
            statuses: vec![429],
            remaining_header: None,
            reset_header: None,
            buckets: Vec::new(),
            body_markers: Vec::new(),
            graphql_codes: Vec::new(),
            default_wait: DEFAULT_RATE_LIMIT_WAIT,
        }
    }

    /// Also treats `status` as a possible rate limit (GitHub uses 403).
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        if !self.statuses.contains(&status) {
            self.statuses.push(status);
        }
        self
    }

    /// The header counting the requests left; `0` means limited.
    ///
    /// # Panics
    ///
    /// When `name` is not a valid header name (a bug in the definition).
    #[must_use]
    pub fn with_remaining_header(mut self, name: &str) -> Self {
        self.remaining_header = Some(header_name(name));
        self
    }

    /// The header saying when the limit resets.
    ///
    /// # Panics
    ///
    /// When `name` is not a valid header name (a bug in the definition).
    #[must_use]
    pub fn with_reset_header(mut self, name: &str, format: ResetFormat) -> Self {
        self.reset_header = Some((header_name(name), format));
        self
    }

    /// A limit counted apart from the others, with its own remaining-count and reset
    /// headers: when a response is limited, the wait is until the latest reset among the
    /// buckets whose remaining count is `0` (a refusal for complexity waits for the
    /// complexity reset, not the request one).
    ///
    /// # Panics
    ///
    /// When a name is not a valid header name (a bug in the definition).
    #[must_use]
    pub fn with_bucket(mut self, remaining: &str, reset: &str, format: ResetFormat) -> Self {
        self.buckets.push(Bucket {
            remaining: header_name(remaining),
            reset: header_name(reset),
            format,
            cost: None,
        });
        self
    }

    /// The header saying what a request cost from the bucket added last
    /// ([`with_bucket`](Self::with_bucket)): that bucket is also spent when less is left
    /// than the request cost (a leaky bucket refuses a costly query with some left).
    ///
    /// # Panics
    ///
    /// When `name` is not a valid header name, or no bucket was added (a bug in the
    /// definition).
    #[must_use]
    pub fn with_bucket_cost(mut self, name: &str) -> Self {
        let Some(bucket) = self.buckets.last_mut() else {
            panic!("with_bucket_cost names the cost of a bucket: add one first");
        };
        bucket.cost = Some(header_name(name));
        self
    }

    /// A phrase in the body (compared without case) that marks a rate limit at one of
    /// the statuses, such as GitHub's "secondary rate limit".
    #[must_use]
    pub fn with_body_marker(mut self, marker: impl Into<String>) -> Self {
        self.body_markers.push(marker.into().to_lowercase());
        self
    }

    /// A GraphQL `errors[].extensions.code` that means rate limited, at any status.
    #[must_use]
    pub fn with_graphql_code(mut self, code: impl Into<String>) -> Self {
        self.graphql_codes.push(code.into());
        self
    }

    /// The wait when the response does not say.
    #[must_use]
    pub fn with_default_wait(mut self, wait: Duration) -> Self {
        self.default_wait = wait;
        self
    }

    /// Whether `response` says "rate limited".
    pub fn is_limited(&self, response: &HttpResponse) -> bool {
        let status = response.status();
        if self.statuses.contains(&status.as_u16())
            && (status == StatusCode::TOO_MANY_REQUESTS
                || response.headers().contains_key(RETRY_AFTER)
                || self.remaining_is_zero(response.headers())
                || self.body_has_marker(response.body()))
        {
            return true;
        }
        !self.graphql_codes.is_empty() && self.graphql_code_matches(response.body())
    }

    fn remaining_is_zero(&self, headers: &HeaderMap) -> bool {
        self.remaining_header
            .iter()
            .chain(self.buckets.iter().map(|b| &b.remaining))
            .any(|name| header_number(headers, name) == Some(0))
    }

    fn body_has_marker(&self, body: &[u8]) -> bool {
        if self.body_markers.is_empty() {
            return false;
        }
        let text = String::from_utf8_lossy(body).to_lowercase();
        self.body_markers.iter().any(|m| text.contains(m.as_str()))
    }

    fn graphql_code_matches(&self, body: &[u8]) -> bool {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(default)]
            errors: Vec<GraphQlError>,
        }
        #[derive(serde::Deserialize)]
        struct GraphQlError {
            #[serde(default)]
            extensions: Option<Extensions>,
        }
        #[derive(serde::Deserialize)]
        struct Extensions {
            #[serde(default)]
            code: Option<String>,
        }
        serde_json::from_slice::<Body>(body).is_ok_and(|b| {
            b.errors.iter().any(|e| {
                e.extensions
                    .as_ref()
                    .and_then(|x| x.code.as_deref())
                    .is_some_and(|code| self.graphql_codes.iter().any(|c| c == code))
            })
        })
    }

    /// How long to wait after the rate-limited `response`, at `now`.
    pub fn wait(&self, response: &HttpResponse, now: Timestamp) -> Duration {
        let headers = response.headers();
        if let Some(wait) = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now))
        {
            return wait;
        }
        let latest = self
            .buckets
            .iter()
            .filter(|b| b.spent(headers))
            .filter_map(|b| header_wait(headers, &b.reset, b.format, now))
            .max();
        if let Some(wait) = latest {
            return wait;
        }
        // The reset header names when the *quota* refills. A provider that sends it on
        // every answer (GitHub) also sends it with quota left when it refuses for
        // another reason (a secondary limit): waiting for that reset is waiting for the
        // wrong thing, anywhere from no time to an hour. It counts only once the
        // remaining header (when the rule reads one) says nothing is left.
        let exhausted = self
            .remaining_header
            .as_ref()
            .is_none_or(|name| header_number(headers, name) == Some(0));
        if exhausted
            && let Some((name, format)) = &self.reset_header
            && let Some(wait) = header_wait(headers, name, *format, now)
        {
            return wait;
        }
        self.default_wait
    }

    /// The rate-limit error for `response`, or `None` when it is not rate limited.
    pub fn check(&self, response: &HttpResponse, now: Timestamp) -> Option<Error> {
        self.is_limited(response)
            .then(|| rate_limited(self.wait(response, now)))
    }
}

/// A header's value as a whole number.
fn header_number(headers: &HeaderMap, name: &HeaderName) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The wait until the reset the header `name` writes in `format`, when it holds one.
fn header_wait(
    headers: &HeaderMap,
    name: &HeaderName,
    format: ResetFormat,
    now: Timestamp,
) -> Option<Duration> {
    let text = headers.get(name)?.to_str().ok()?.trim();
    let until = match format {
        ResetFormat::Duration => return parse_go_duration(text),
        ResetFormat::DeltaSeconds => {
            let seconds: i64 = text.parse().ok()?;
            return Some(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)));
        }
        ResetFormat::EpochSeconds => Timestamp::from_unix_seconds(text.parse().ok()?),
        ResetFormat::EpochMillis => Timestamp::from_unix_millis(text.parse().ok()?),
    };
    Some(until.duration_since(now))
}

/// A duration as Go's `time.Duration` writes one: numbers (decimals allowed), each with
/// a unit (`h`, `m`, `s`, `ms`, `us` or `µs`, `ns`), as `1h2m3.5s` or `12ms`.
fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut seconds = 0.0_f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if number == 0 {
            return None;
        }
        let value: f64 = rest[..number].parse().ok()?;
        rest = &rest[number..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        seconds += value * scale;
        rest = &rest[unit..];
    }
    Duration::try_from_secs_f64(seconds).ok()
}

/// `Retry-After` is either delay-seconds or an HTTP date (RFC 9110 §10.2.3).
fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let at = Timestamp::from_unix_seconds(date.unix_timestamp());
    Some(at.duration_since(now))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::ErrorKind;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        let mut b = http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Bytes::from(body.to_owned())).unwrap()
    }

    const NOW: Timestamp = Timestamp::from_unix_seconds(1_700_000_000);

    fn github() -> RateLimitRule {
        RateLimitRule::new()
            .with_status(403)
            .with_remaining_header("x-ratelimit-remaining")
            .with_reset_header("x-ratelimit-reset", ResetFormat::EpochSeconds)
            .with_body_marker("secondary rate limit")
    }

    /// GitHub's secondary limit without `Retry-After`, quota left: its own wait (a
    /// minute), not the primary quota's reset, which the answer carries all the same.
    #[test]
    fn a_secondary_limit_with_quota_left_waits_its_own_time_not_the_quota_reset() {
        let rule = github().with_default_wait(Duration::from_secs(60));
        let in_50_minutes = (NOW.unix_seconds() + 3000).to_string();
        let secondary = response(
            403,
            &[
                ("x-ratelimit-remaining", "4000"),
                ("x-ratelimit-reset", &in_50_minutes),
            ],
            r#"{"message":"You have exceeded a secondary rate limit"}"#,
        );
        assert_eq!(rule.wait(&secondary, NOW), Duration::from_secs(60));
        let in_2_seconds = (NOW.unix_seconds() + 2).to_string();
        let soon = response(
            403,
            &[
                ("x-ratelimit-remaining", "12"),
                ("x-ratelimit-reset", &in_2_seconds),
            ],
            r#"{"message":"You have exceeded a secondary rate limit"}"#,
        );
        assert_eq!(rule.wait(&soon, NOW), Duration::from_secs(60));
        // The quota spent: its reset is the wait.
        let primary = response(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &in_50_minutes),
            ],
            "",
        );
        assert_eq!(rule.wait(&primary, NOW), Duration::from_secs(3000));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let rule = RateLimitRule::new();
        let err = rule
            .check(&response(429, &[("retry-after", "7")], ""), NOW)
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::RateLimited);
        assert!(err.is_temporary());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        // Tue, 14 Nov 2023 22:13:50 GMT is NOW + 30 s.
        let err = rule
            .check(
                &response(429, &[("retry-after", "Tue, 14 Nov 2023 22:13:50 GMT")], ""),
                NOW,
            )
            .unwrap();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
        let bare = rule.check(&response(429, &[], ""), NOW).unwrap();
        assert_eq!(bare.retry_after(), Some(DEFAULT_RATE_LIMIT_WAIT));
        assert!(rule.check(&response(200, &[], ""), NOW).is_none());
        assert!(rule.check(&response(403, &[], ""), NOW).is_none());
    }

    #[test]
    fn github_primary_and_secondary_limits() {
        let reset = (NOW.unix_seconds() + 120).to_string();
        let primary = response(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
            ],
            r#"{"message":"API rate limit exceeded"}"#,
        );
        assert_eq!(
            github().check(&primary, NOW).unwrap().retry_after(),
            Some(Duration::from_secs(120))
        );
        let secondary = response(
            403,
            &[("retry-after", "61")],
            r#"{"message":"You have exceeded a secondary rate limit."}"#,
        );
        assert_eq!(
            github().check(&secondary, NOW).unwrap().retry_after(),
            Some(Duration::from_secs(61))
        );
        let secondary_bare = response(
            403,
            &[("x-ratelimit-remaining", "12")],
            r#"{"message":"You have exceeded a secondary rate limit."}"#,
        );
        assert_eq!(
            github().check(&secondary_bare, NOW).unwrap().retry_after(),
            Some(DEFAULT_RATE_LIMIT_WAIT)
        );
        // A plain permission error is not a rate limit.
        let forbidden = response(
            403,
            &[("x-ratelimit-remaining", "4999")],
            r#"{"message":"Resource not accessible by integration"}"#,
        );
        assert!(github().check(&forbidden, NOW).is_none());
    }

    #[test]
    fn graphql_codes_at_any_status_with_millisecond_resets() {
        let rule = RateLimitRule::new()
            .with_graphql_code("RATELIMITED")
            .with_reset_header("X-RateLimit-Requests-Reset", ResetFormat::EpochMillis);
        let reset = (NOW.unix_millis() + 2_500).to_string();
        let limited = response(
            400,
            &[("x-ratelimit-requests-reset", &reset)],
            r#"{"errors":[{"message":"Rate limit exceeded","extensions":{"code":"RATELIMITED"}}]}"#,
        );
        assert_eq!(
            rule.check(&limited, NOW).unwrap().retry_after(),
            Some(Duration::from_millis(2_500))
        );
        let other = response(
            400,
            &[],
            r#"{"errors":[{"message":"x","extensions":{"code":"INPUT_ERROR"}}]}"#,
        );
        assert!(rule.check(&other, NOW).is_none());
        assert!(rule.check(&response(200, &[], "not json"), NOW).is_none());
    }

    /// Two limits counted apart: the wait is the spent one's reset (the latest when both
    /// are spent), else the general reset header.
    #[test]
    fn buckets_wait_for_the_limit_that_is_spent() {
        let rule = RateLimitRule::new()
            .with_graphql_code("RATELIMITED")
            .with_bucket("r-remaining", "r-reset", ResetFormat::EpochMillis)
            .with_bucket("c-remaining", "c-reset", ResetFormat::EpochMillis)
            .with_reset_header("r-reset", ResetFormat::EpochMillis);
        let at = |ms: i64| (NOW.unix_millis() + ms).to_string();
        let body = r#"{"errors":[{"extensions":{"code":"RATELIMITED"}}]}"#;
        let (soon, later) = (at(1_000), at(600_000));
        let wait = |headers: &[(&str, &str)]| {
            rule.check(&response(400, headers, body), NOW)
                .unwrap()
                .retry_after()
        };
        let complexity = [
            ("r-remaining", "10"),
            ("r-reset", soon.as_str()),
            ("c-remaining", "0"),
            ("c-reset", later.as_str()),
        ];
        assert_eq!(wait(&complexity), Some(Duration::from_secs(600)));
        let requests = [
            ("r-remaining", "0"),
            ("r-reset", soon.as_str()),
            ("c-remaining", "5"),
            ("c-reset", later.as_str()),
        ];
        assert_eq!(wait(&requests), Some(Duration::from_secs(1)));
        // A leaky bucket with some left, less than the request cost.
        let costly = RateLimitRule::new()
            .with_graphql_code("RATELIMITED")
            .with_bucket("r-remaining", "r-reset", ResetFormat::EpochMillis)
            .with_bucket("c-remaining", "c-reset", ResetFormat::EpochMillis)
            .with_bucket_cost("x-cost")
            .with_reset_header("r-reset", ResetFormat::EpochMillis);
        let leaked = [
            ("r-remaining", "4990"),
            ("r-reset", soon.as_str()),
            ("c-remaining", "1200"),
            ("x-cost", "5000"),
            ("c-reset", later.as_str()),
        ];
        assert_eq!(
            costly
                .check(&response(400, &leaked, body), NOW)
                .unwrap()
                .retry_after(),
            Some(Duration::from_secs(600))
        );
        let both = [
            ("r-remaining", "0"),
            ("r-reset", soon.as_str()),
            ("c-remaining", "0"),
            ("c-reset", later.as_str()),
        ];
        assert_eq!(wait(&both), Some(Duration::from_secs(600)));
        assert_eq!(
            wait(&[("r-reset", soon.as_str())]),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn go_durations_are_read_as_openai_writes_them() {
        for (text, millis) in [
            ("12ms", 12),
            ("6m0s", 360_000),
            ("1.5s", 1_500),
            ("1h2m3s", 3_723_000),
            ("250us", 0),
            ("0s", 0),
        ] {
            assert_eq!(
                parse_go_duration(text).map(|d| d.as_millis()),
                Some(millis),
                "{text}"
            );
        }
        assert_eq!(parse_go_duration("20µs"), Some(Duration::from_micros(20)));
        for bad in ["", "12", "s", "6m0", "1x", "-1s", "1..5s"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }
}
