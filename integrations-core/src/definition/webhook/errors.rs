//! The stable codes of webhook failures, the errors that carry them, and the HTTP status
//! each one is answered with.
//!
//! Every message here is safe to return to the sender: it names headers and fields, never
//! a secret, an expected signature or a value taken from the request.

use http::StatusCode;

use crate::{Error, ErrorKind};

/// The stable codes of webhook failures. Match on these, not on messages.
pub mod codes {
    /// A required header is absent (400).
    pub const MISSING_HEADER: &str = crate::codes::webhook::MISSING_HEADER.as_str();
    /// A signature header is not in the scheme's format (400).
    pub const MALFORMED_SIGNATURE: &str = crate::codes::webhook::MALFORMED_SIGNATURE.as_str();
    /// No configured secret produces the signature sent (401).
    pub const SIGNATURE_MISMATCH: &str = crate::codes::webhook::SIGNATURE_MISMATCH.as_str();
    /// A timestamp is not an integer (400).
    pub const MALFORMED_TIMESTAMP: &str = crate::codes::webhook::MALFORMED_TIMESTAMP.as_str();
    /// The scheme needs a timestamp and the delivery carries none (401).
    pub const MISSING_TIMESTAMP: &str = crate::codes::webhook::MISSING_TIMESTAMP.as_str();
    /// The signed timestamp is outside the scheme's replay window (401).
    pub const TIMESTAMP_OUT_OF_WINDOW: &str =
        crate::codes::webhook::TIMESTAMP_OUT_OF_WINDOW.as_str();
    /// The body is larger than the ingest limit (413).
    pub const BODY_TOO_LARGE: &str = crate::codes::webhook::BODY_TOO_LARGE.as_str();
    /// The body is not the payload the provider sends (400).
    pub const INVALID_PAYLOAD: &str = crate::codes::webhook::INVALID_PAYLOAD.as_str();
    /// The body's content type is not one the provider uses (415).
    pub const UNSUPPORTED_CONTENT_TYPE: &str =
        crate::codes::webhook::UNSUPPORTED_CONTENT_TYPE.as_str();
    /// A header naming the event disagrees with the payload (400).
    pub const EVENT_TYPE_MISMATCH: &str = crate::codes::webhook::EVENT_TYPE_MISMATCH.as_str();
    /// A configured secret is empty (500: the operator must fix the configuration).
    pub const EMPTY_SECRET: &str = crate::codes::webhook::EMPTY_SECRET.as_str();
    /// No secret is configured for the target or the connection (500).
    pub const NO_SECRET: &str = crate::codes::webhook::NO_SECRET.as_str();
    /// A configured secret is not in the scheme's format, such as a `whsec_` secret
    /// that is not base64 (500).
    pub const INVALID_SECRET: &str = crate::codes::webhook::INVALID_SECRET.as_str();
    /// Signing needs a message id and none was given.
    pub const MISSING_ID: &str = crate::codes::webhook::MISSING_ID.as_str();
    /// The route is not `/webhooks/{family}/{variant}[/{endpoint}]` (404).
    pub const INVALID_ROUTE: &str = crate::codes::webhook::INVALID_ROUTE.as_str();
    /// No integration is registered under the route's key (404).
    pub const UNKNOWN_DEFINITION: &str = crate::codes::webhook::UNKNOWN_DEFINITION.as_str();
    /// The integration does not receive webhooks (404).
    pub const NOT_SUPPORTED: &str = crate::codes::webhook::NOT_SUPPORTED.as_str();
    /// The delivery names no subject and the route no endpoint key (404).
    pub const UNROUTABLE: &str = crate::codes::webhook::UNROUTABLE.as_str();
    /// No active connection matches the delivery (404).
    pub const CONNECTION_NOT_FOUND: &str = crate::codes::webhook::CONNECTION_NOT_FOUND.as_str();
    /// Several connections match the delivery (409).
    pub const AMBIGUOUS_CONNECTION: &str = crate::codes::webhook::AMBIGUOUS_CONNECTION.as_str();
    /// The connection's target does not exist (404).
    pub const TARGET_NOT_FOUND: &str = crate::codes::auth::TARGET_NOT_FOUND.as_str();
    /// The connection's target is disabled (403, after the signature verified).
    pub const TARGET_DISABLED: &str = crate::codes::auth::TARGET_DISABLED.as_str();
    /// The delivery is for another app than the target's (403).
    pub const TARGET_MISMATCH: &str = crate::codes::webhook::TARGET_MISMATCH.as_str();
    /// The event sink refused the event; the record was released so a redelivery is
    /// processed again (503).
    pub const DELIVERY_FAILED: &str = crate::codes::webhook::DELIVERY_FAILED.as_str();
    /// A redelivery arrived while this process still delivers the event's first
    /// delivery (503, so the provider retries).
    pub const DELIVERY_IN_PROGRESS: &str = crate::codes::webhook::DELIVERY_IN_PROGRESS.as_str();
    /// A new event withdraws or suspends its connection's grant, and the store did not
    /// take the status change; the record was released so a redelivery is processed
    /// again (503).
    pub const GRANT_CHANGE_FAILED: &str = crate::codes::webhook::GRANT_CHANGE_FAILED.as_str();
    /// A definition declares a webhook source without a handler, or the reverse.
    pub const INCOMPLETE_DEFINITION: &str = crate::codes::webhook::INCOMPLETE_DEFINITION.as_str();
}

/// A required header is absent.
pub fn missing_header(name: &str) -> Error {
    crate::codes::webhook::MISSING_HEADER.error(format!("the request has no {name} header"))
}

/// A signature header is not in the scheme's format.
pub fn malformed_signature(header: &str) -> Error {
    crate::codes::webhook::MALFORMED_SIGNATURE.error(format!(
        "the {header} header is not a signature in the expected format"
    ))
}

/// No configured secret produces the signature sent. The message never says what the
/// signature should have been.
pub fn signature_mismatch() -> Error {
    crate::codes::webhook::SIGNATURE_MISMATCH.error("the signature does not match the body")
}

/// A timestamp is not an integer.
pub fn malformed_timestamp(what: &str) -> Error {
    crate::codes::webhook::MALFORMED_TIMESTAMP
        .error(format!("the {what} timestamp is not an integer"))
}

/// The scheme needs a timestamp and the delivery carries none.
pub fn missing_timestamp(what: &str) -> Error {
    crate::codes::webhook::MISSING_TIMESTAMP
        .error(format!("the delivery carries no {what} timestamp"))
}

/// The signed timestamp is outside the replay window.
pub fn timestamp_out_of_window(tolerance: std::time::Duration) -> Error {
    crate::codes::webhook::TIMESTAMP_OUT_OF_WINDOW.error(format!(
        "the delivery's timestamp is more than {} ms away from now",
        tolerance.as_millis()
    ))
}

/// The body is larger than the limit.
pub fn body_too_large(limit: usize) -> Error {
    crate::codes::webhook::BODY_TOO_LARGE.error(format!("the body is larger than {limit} bytes"))
}

/// The body is not the payload the provider sends; `what` says what is wrong, without
/// quoting the body.
pub fn invalid_payload(what: impl Into<String>) -> Error {
    crate::codes::webhook::INVALID_PAYLOAD.error(format!("the payload is invalid: {}", what.into()))
}

/// The body's content type is not one the provider uses.
pub fn unsupported_content_type() -> Error {
    crate::codes::webhook::UNSUPPORTED_CONTENT_TYPE
        .error("the body is neither JSON nor a form the provider sends")
}

/// A header naming the event disagrees with the payload.
pub fn event_type_mismatch(header: &str) -> Error {
    crate::codes::webhook::EVENT_TYPE_MISMATCH.error(format!(
        "the {header} header disagrees with the payload's type"
    ))
}

pub(crate) fn empty_secret() -> Error {
    crate::codes::webhook::EMPTY_SECRET
        .error("a webhook signing secret is empty; configure a real secret")
}

pub(crate) fn no_secret() -> Error {
    crate::codes::webhook::NO_SECRET
        .error("no webhook signing secret is configured for the target or the connection")
}

pub(crate) fn invalid_secret(what: &str) -> Error {
    crate::codes::webhook::INVALID_SECRET
        .error(format!("a webhook signing secret is invalid: {what}"))
}

/// The HTTP status a webhook failure is answered with.
///
/// | kind or code | status |
/// |---|---|
/// | `webhook.body_too_large` | 413 |
/// | `webhook.unsupported_content_type` | 415 |
/// | invalid input (malformed, missing header, invalid payload) | 400 |
/// | verification (signature, timestamp window) | 401 |
/// | permission denied (another app's delivery; a disabled target, checked only after the signature verified) | 403 |
/// | not found (route, definition, connection, target) | 404 |
/// | conflict (several connections match) | 409 |
/// | rate limited | 429 |
/// | unavailable or storage (the sink or the store failed; the provider retries) | 503 |
/// | anything else (configuration, crypto, internal) | 500 |
pub fn status_for(error: &Error) -> StatusCode {
    match error.code() {
        codes::BODY_TOO_LARGE => return StatusCode::PAYLOAD_TOO_LARGE,
        codes::UNSUPPORTED_CONTENT_TYPE => return StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => {}
    }
    match error.kind() {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::Verification => StatusCode::UNAUTHORIZED,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable | ErrorKind::Storage => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(status_for(&body_too_large(10)), 413);
        assert_eq!(status_for(&unsupported_content_type()), 415);
        assert_eq!(status_for(&missing_header("x")), 400);
        assert_eq!(status_for(&malformed_signature("x")), 400);
        assert_eq!(status_for(&signature_mismatch()), 401);
        assert_eq!(
            status_for(&timestamp_out_of_window(std::time::Duration::from_secs(1))),
            401
        );
        assert_eq!(status_for(&no_secret()), 500);
        assert_eq!(
            status_for(&Error::not_found(codes::CONNECTION_NOT_FOUND, "m")),
            404
        );
        assert_eq!(
            status_for(&Error::conflict(codes::AMBIGUOUS_CONNECTION, "m")),
            409
        );
        assert_eq!(
            status_for(&Error::new(
                ErrorKind::Unavailable,
                codes::DELIVERY_FAILED,
                "m"
            )),
            503
        );
    }
}
