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
    pub const MISSING_HEADER: &str = "webhook.missing_header";
    /// A signature header is not in the scheme's format (400).
    pub const MALFORMED_SIGNATURE: &str = "webhook.malformed_signature";
    /// No configured secret produces the signature sent (401).
    pub const SIGNATURE_MISMATCH: &str = "webhook.signature_mismatch";
    /// A timestamp is not an integer (400).
    pub const MALFORMED_TIMESTAMP: &str = "webhook.malformed_timestamp";
    /// The scheme needs a timestamp and the delivery carries none (401).
    pub const MISSING_TIMESTAMP: &str = "webhook.missing_timestamp";
    /// The signed timestamp is outside the scheme's replay window (401).
    pub const TIMESTAMP_OUT_OF_WINDOW: &str = "webhook.timestamp_out_of_window";
    /// The body is larger than the ingest limit (413).
    pub const BODY_TOO_LARGE: &str = "webhook.body_too_large";
    /// The body is not the payload the provider sends (400).
    pub const INVALID_PAYLOAD: &str = "webhook.invalid_payload";
    /// The body's content type is not one the provider uses (415).
    pub const UNSUPPORTED_CONTENT_TYPE: &str = "webhook.unsupported_content_type";
    /// A header naming the event disagrees with the payload (400).
    pub const EVENT_TYPE_MISMATCH: &str = "webhook.event_type_mismatch";
    /// A configured secret is empty (500: the operator must fix the configuration).
    pub const EMPTY_SECRET: &str = "webhook.empty_secret";
    /// No secret is configured for the target or the connection (500).
    pub const NO_SECRET: &str = "webhook.no_secret";
    /// A configured secret is not in the scheme's format, such as a `whsec_` secret
    /// that is not base64 (500).
    pub const INVALID_SECRET: &str = "webhook.invalid_secret";
    /// Signing needs a message id and none was given.
    pub const MISSING_ID: &str = "webhook.missing_id";
    /// The route is not `/webhooks/{family}/{variant}[/{endpoint}]` (404).
    pub const INVALID_ROUTE: &str = "webhook.invalid_route";
    /// No integration is registered under the route's key (404).
    pub const UNKNOWN_DEFINITION: &str = "webhook.unknown_definition";
    /// The integration does not receive webhooks (404).
    pub const NOT_SUPPORTED: &str = "webhook.not_supported";
    /// The delivery names no subject and the route no endpoint key (404).
    pub const UNROUTABLE: &str = "webhook.unroutable";
    /// No active connection matches the delivery (404).
    pub const CONNECTION_NOT_FOUND: &str = "webhook.connection_not_found";
    /// Several connections match the delivery (409).
    pub const AMBIGUOUS_CONNECTION: &str = "webhook.ambiguous_connection";
    /// The connection's target does not exist (404).
    pub const TARGET_NOT_FOUND: &str = "webhook.target_not_found";
    /// No longer produced: a disabled target is answered with `auth.target_disabled`
    /// (403), the code every engine uses.
    pub const TARGET_DISABLED: &str = "webhook.target_disabled";
    /// The delivery is for another app than the target's (403).
    pub const TARGET_MISMATCH: &str = "webhook.target_mismatch";
    /// The event sink refused the event; the record was released so a redelivery is
    /// processed again (503).
    pub const DELIVERY_FAILED: &str = "webhook.delivery_failed";
    /// A new event withdraws or suspends its connection's grant, and the store did not
    /// take the status change; the record was released so a redelivery is processed
    /// again (503).
    pub const GRANT_CHANGE_FAILED: &str = "webhook.grant_change_failed";
    /// A definition declares a webhook source without a handler, or the reverse.
    pub const INCOMPLETE_DEFINITION: &str = "webhook.incomplete_definition";
}

/// A required header is absent.
pub fn missing_header(name: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        codes::MISSING_HEADER,
        format!("the request has no {name} header"),
    )
}

/// A signature header is not in the scheme's format.
pub fn malformed_signature(header: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        codes::MALFORMED_SIGNATURE,
        format!("the {header} header is not a signature in the expected format"),
    )
}

/// No configured secret produces the signature sent. The message never says what the
/// signature should have been.
pub fn signature_mismatch() -> Error {
    Error::new(
        ErrorKind::Verification,
        codes::SIGNATURE_MISMATCH,
        "the signature does not match the body",
    )
}

/// A timestamp is not an integer.
pub fn malformed_timestamp(what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        codes::MALFORMED_TIMESTAMP,
        format!("the {what} timestamp is not an integer"),
    )
}

/// The scheme needs a timestamp and the delivery carries none.
pub fn missing_timestamp(what: &str) -> Error {
    Error::new(
        ErrorKind::Verification,
        codes::MISSING_TIMESTAMP,
        format!("the delivery carries no {what} timestamp"),
    )
}

/// The signed timestamp is outside the replay window.
pub fn timestamp_out_of_window(tolerance: std::time::Duration) -> Error {
    Error::new(
        ErrorKind::Verification,
        codes::TIMESTAMP_OUT_OF_WINDOW,
        format!(
            "the delivery's timestamp is more than {} ms away from now",
            tolerance.as_millis()
        ),
    )
}

/// The body is larger than the limit.
pub fn body_too_large(limit: usize) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        codes::BODY_TOO_LARGE,
        format!("the body is larger than {limit} bytes"),
    )
}

/// The body is not the payload the provider sends; `what` says what is wrong, without
/// quoting the body.
pub fn invalid_payload(what: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        codes::INVALID_PAYLOAD,
        format!("the payload is invalid: {}", what.into()),
    )
}

/// The body's content type is not one the provider uses.
pub fn unsupported_content_type() -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        codes::UNSUPPORTED_CONTENT_TYPE,
        "the body is neither JSON nor a form the provider sends",
    )
}

/// A header naming the event disagrees with the payload.
pub fn event_type_mismatch(header: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        codes::EVENT_TYPE_MISMATCH,
        format!("the {header} header disagrees with the payload's type"),
    )
}

pub(crate) fn empty_secret() -> Error {
    Error::configuration(
        codes::EMPTY_SECRET,
        "a webhook signing secret is empty; configure a real secret",
    )
}

pub(crate) fn no_secret() -> Error {
    Error::configuration(
        codes::NO_SECRET,
        "no webhook signing secret is configured for the target or the connection",
    )
}

pub(crate) fn invalid_secret(what: &str) -> Error {
    Error::configuration(
        codes::INVALID_SECRET,
        format!("a webhook signing secret is invalid: {what}"),
    )
}

/// The HTTP status a webhook failure is answered with.
///
/// | kind or code | status |
/// |---|---|
/// | `webhook.body_too_large` | 413 |
/// | `webhook.unsupported_content_type` | 415 |
/// | invalid input (malformed, missing header, invalid payload) | 400 |
/// | verification (signature, timestamp window) | 401 |
/// | permission denied (another app's delivery) | 403 |
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
