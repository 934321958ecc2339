//! [`WebhookHandler`]: the provider's side of the ingest pipeline.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::definition::webhook::{Headers, errors};
use crate::model::{EventSubject, EventType, SessionDispatch, WebhookEvent};
use crate::{DefinitionKey, Error, Timestamp};

/// A raw inbound delivery as a handler sees it: nothing parsed, nothing verified. Its
/// `Debug` shows the body's length, not the body (a delivery may carry a token).
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct InboundRequest<'a> {
    /// The definition the route names.
    pub key: &'a DefinitionKey,
    /// The endpoint key from the route, if any.
    pub endpoint: Option<&'a str>,
    /// The normalized headers.
    pub headers: &'a Headers,
    /// The raw body, exactly as received.
    pub body: &'a [u8],
}

impl std::fmt::Debug for InboundRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundRequest")
            .field("key", &self.key)
            .field("endpoint", &self.endpoint)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl<'a> InboundRequest<'a> {
    /// A request view.
    pub fn new(key: &'a DefinitionKey, headers: &'a Headers, body: &'a [u8]) -> Self {
        Self {
            key,
            endpoint: None,
            headers,
            body,
        }
    }

    /// Sets the endpoint key.
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: Option<&'a str>) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// The value of a header the provider always sends (a delivery id, an event name).
    ///
    /// # Errors
    ///
    /// `webhook.missing_header` (answered 400) when it is absent or empty.
    pub fn required_header(&self, name: &str) -> Result<&'a str, Error> {
        self.headers
            .get(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| errors::missing_header(name))
    }

    /// The body read as `T`, typically a struct of the few fields a step needs, borrowed
    /// from the body (`&'a str`, `#[serde(borrow)]`).
    ///
    /// # Errors
    ///
    /// `webhook.invalid_payload` (answered 400) when the body is not JSON of that shape;
    /// the message says `what` was expected (`"a Jira webhook delivery"`) and never
    /// quotes the body.
    pub fn json<T: Deserialize<'a>>(&self, what: &str) -> Result<T, Error> {
        serde_json::from_slice(self.body)
            .map_err(|_| errors::invalid_payload(format!("the body is not {what}")))
    }
}

/// A value the target's config must agree with, when the config has one: Slack's
/// `api_app_id` against the target's `/app_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TargetClaim {
    /// A JSON Pointer into the target config.
    pub pointer: String,
    /// The value the delivery claims.
    pub value: String,
}

/// What the pipeline needs to find the connection a delivery belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Routing {
    /// The provider-side subject (GitHub installation id, Slack team id, Linear
    /// organization id), matched against [`Connection::external_subject`](crate::model::Connection::external_subject).
    pub subject: Option<String>,
    /// Values the target config must agree with, checked after verification.
    pub target_claims: Vec<TargetClaim>,
}

impl Routing {
    /// Routed by the endpoint key in the path only.
    pub fn endpoint_only() -> Self {
        Self::default()
    }

    /// Routed by an external subject (pre-filtered by the endpoint key when the route has
    /// one).
    pub fn subject(subject: impl Into<String>) -> Self {
        Self {
            subject: Some(subject.into()),
            target_claims: Vec::new(),
        }
    }

    /// Routed by the subject when there is one, by the endpoint key otherwise.
    pub fn optional_subject(subject: Option<impl Into<String>>) -> Self {
        Self {
            subject: subject.map(Into::into),
            target_claims: Vec::new(),
        }
    }

    /// Adds a claim: when the target config has a value at `pointer`, it must equal
    /// `value` (numbers compare by their decimal text).
    #[must_use]
    pub fn with_target_claim(
        mut self,
        pointer: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.target_claims.push(TargetClaim {
            pointer: pointer.into(),
            value: value.into(),
        });
        self
    }
}

/// A delivery that is an event: how to route it and how to deduplicate it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventRoute {
    /// How to find the connection.
    pub routing: Routing,
    /// The id that deduplicates the event (GitHub `X-GitHub-Delivery`, Linear
    /// `Linear-Delivery`, Slack `event_id`, Standard Webhooks `webhook-id`).
    pub dedup_id: String,
    /// The delivery id, when the provider sends one.
    pub delivery_id: Option<String>,
}

impl EventRoute {
    /// An event routed by `routing` and deduplicated by `dedup_id`.
    pub fn new(routing: Routing, dedup_id: impl Into<String>) -> Self {
        Self {
            routing,
            dedup_id: dedup_id.into(),
            delivery_id: None,
        }
    }

    /// An event routed by `routing` and deduplicated by its delivery id, for providers
    /// that resend a delivery unchanged on retries (Linear `Linear-Delivery`, Jira
    /// `X-Atlassian-Webhook-Identifier`): `new(routing, id).with_delivery_id(id)`.
    pub fn for_delivery(routing: Routing, delivery_id: impl Into<String>) -> Self {
        let delivery_id = delivery_id.into();
        Self::new(routing, delivery_id.clone()).with_delivery_id(delivery_id)
    }

    /// Sets the delivery id.
    #[must_use]
    pub fn with_delivery_id(mut self, delivery_id: impl Into<String>) -> Self {
        self.delivery_id = Some(delivery_id.into());
        self
    }
}

/// Whether an immediate answer needs the delivery verified first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeVerification {
    /// Verify before answering (Slack `url_verification`: the challenge is echoed only
    /// after the signature verifies). Always use this when the answer carries anything
    /// taken from the request.
    Required,
    /// Answer without verifying: only for unsigned health probes whose answer carries
    /// nothing (Slack `ssl_check`). Where the pipeline verifies before reading (an
    /// endpoint key, a single target), a delivery whose signature fails is refused
    /// before `classify` runs, so answer such probes from
    /// [`WebhookHandler::probe`] too.
    Skip,
}

/// A delivery answered immediately, without an event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Handshake {
    /// How to find the connection whose secrets verify it.
    pub routing: Routing,
    /// The answer.
    pub response: WebhookResponse,
    /// Whether to verify first.
    pub verification: HandshakeVerification,
}

impl Handshake {
    /// An answer given after verification.
    pub fn verified(routing: Routing, response: WebhookResponse) -> Self {
        Self {
            routing,
            response,
            verification: HandshakeVerification::Required,
        }
    }

    /// An answer given without verification (see [`HandshakeVerification::Skip`]).
    pub fn unverified(response: WebhookResponse) -> Self {
        Self {
            routing: Routing::endpoint_only(),
            response,
            verification: HandshakeVerification::Skip,
        }
    }
}

/// What a delivery is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Classification {
    /// Answer now, with no event (Slack `url_verification`).
    Handshake(Handshake),
    /// An event to verify, record, normalize and deliver.
    Event(EventRoute),
}

impl Classification {
    /// The whole classification of a provider whose webhook URL names the connection
    /// (one endpoint key per connection) and whose deliveries carry an id header that
    /// stays the same on retries: an event routed by the endpoint key alone and
    /// deduplicated by the header `delivery_header`.
    ///
    /// # Errors
    ///
    /// `webhook.missing_header` (answered 400) when the header is absent or empty.
    pub fn endpoint_event(
        request: &InboundRequest<'_>,
        delivery_header: &str,
    ) -> Result<Self, Error> {
        let id = request.required_header(delivery_header)?;
        Ok(Self::Event(EventRoute::for_delivery(
            Routing::endpoint_only(),
            id,
        )))
    }
}

/// What the pipeline knows when it asks for normalization: the delivery was verified.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct NormalizeContext<'a> {
    /// The classification's route (dedup and delivery ids).
    pub route: &'a EventRoute,
    /// The signed timestamp, for schemes that sign one.
    pub signed_at: Option<Timestamp>,
    /// When the delivery was received.
    pub received_at: Timestamp,
}

impl<'a> NormalizeContext<'a> {
    /// The context of a delivery classified as `route`, received at `received_at`.
    pub fn new(route: &'a EventRoute, received_at: Timestamp) -> Self {
        Self {
            route,
            signed_at: None,
            received_at,
        }
    }

    /// Sets the signed timestamp.
    #[must_use]
    pub fn with_signed_at(mut self, signed_at: Option<Timestamp>) -> Self {
        self.signed_at = signed_at;
        self
    }
}

/// What a verified event says about the grant behind its connection. The pipeline
/// applies it to the connection's status once per event (after deduplication, before
/// delivery), so a connection the provider no longer honours stops handing out
/// credentials without waiting for a refused call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrantChange {
    /// The provider withdrew the grant for good (GitHub App uninstalled, Slack app
    /// uninstalled or its bot token revoked, Linear OAuth app de-authorized): the
    /// connection becomes `revoked`, and only a new authorization brings it back.
    Revoked {
        /// Why, safe to show.
        reason: String,
    },
    /// The provider refuses credentials until the grant is resumed (GitHub App
    /// installation suspended): an `active` connection becomes `error` with this reason
    /// (one in `error` already keeps its own).
    Suspended {
        /// Why, safe to show; [`GrantChange::Resumed`] matches on it.
        reason: String,
    },
    /// A suspension ended: the connection becomes `active` again, but only when it is in
    /// `error` with the reason of the suspension that ended (any other error still
    /// needs repair).
    Resumed {
        /// The reason its [`GrantChange::Suspended`] gave.
        suspended_reason: String,
    },
}

impl GrantChange {
    /// The grant was withdrawn for good.
    pub fn revoked(reason: impl Into<String>) -> Self {
        Self::Revoked {
            reason: reason.into(),
        }
    }

    /// The grant is suspended.
    pub fn suspended(reason: impl Into<String>) -> Self {
        Self::Suspended {
            reason: reason.into(),
        }
    }

    /// The suspension with `suspended_reason` ended.
    pub fn resumed(suspended_reason: impl Into<String>) -> Self {
        Self::Resumed {
            suspended_reason: suspended_reason.into(),
        }
    }
}

/// The provider's normalization of a verified event; the pipeline adds the tenant,
/// connection, ids and times.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Normalized {
    /// `<family>.<object>.<action>`.
    pub event_type: EventType,
    /// The provider's own name for the event.
    pub provider_event_type: String,
    /// When the provider says it happened.
    pub occurred_at: Option<Timestamp>,
    /// `<occurred-at RFC 3339>#<zero-padded id>`; see
    /// [`source_order_key`](super::source_order_key).
    pub source_order_key: Option<String>,
    /// What it is about.
    pub subject: Option<EventSubject>,
    /// The JSON payload when it is not the body itself (a form-encoded body's JSON
    /// `payload=` field); `None` keeps the body's bytes as the payload.
    pub payload: Option<Box<RawValue>>,
    /// What the event changes about the connection's grant, if anything.
    pub grant: Option<GrantChange>,
}

impl Normalized {
    /// A normalization with only the types.
    pub fn new(event_type: EventType, provider_event_type: impl Into<String>) -> Self {
        Self {
            event_type,
            provider_event_type: provider_event_type.into(),
            occurred_at: None,
            source_order_key: None,
            subject: None,
            payload: None,
            grant: None,
        }
    }

    /// Sets when it happened.
    #[must_use]
    pub fn with_occurred_at(mut self, at: Option<Timestamp>) -> Self {
        self.occurred_at = at;
        self
    }

    /// Sets the source order key.
    #[must_use]
    pub fn with_source_order_key(mut self, key: Option<String>) -> Self {
        self.source_order_key = key;
        self
    }

    /// Sets the subject.
    #[must_use]
    pub fn with_subject(mut self, subject: Option<EventSubject>) -> Self {
        self.subject = subject;
        self
    }

    /// Sets a payload other than the body.
    #[must_use]
    pub fn with_payload(mut self, payload: Box<RawValue>) -> Self {
        self.payload = Some(payload);
        self
    }

    /// Sets what the event changes about the connection's grant.
    #[must_use]
    pub fn with_grant(mut self, grant: Option<GrantChange>) -> Self {
        self.grant = grant;
        self
    }
}

/// The provider's side of the ingest pipeline: classify a raw delivery (and name what
/// routes it), normalize it once verified, and map the event to a session dispatch.
///
/// Every method is pure and synchronous: no I/O, no clock. The pipeline
/// ([`Ingest`](crate::webhook::Ingest)) does the size limit, connection resolution,
/// verification, deduplication and delivery; a handler only reads bytes.
///
/// Parse only what each step needs, into borrowed, typed structs: classification runs on
/// every unauthenticated request.
pub trait WebhookHandler: Send + Sync {
    /// Recognizes an unsigned health probe whose answer carries nothing (Slack's
    /// `ssl_check=1`), before anything is verified: its answer. Default: none.
    ///
    /// Read as little as possible: this runs on every request before its signature is
    /// checked, and must never answer with anything taken from the request.
    fn probe(&self, request: &InboundRequest<'_>) -> Option<WebhookResponse> {
        let _ = request;
        None
    }

    /// Classifies a delivery: an immediate answer or an event, with its routing and
    /// deduplication ids. Where the route names the connection (an endpoint key) or a
    /// single target holds every secret, the pipeline verifies the signature first;
    /// otherwise this runs on unauthenticated bytes, so read only the routing fields.
    /// Nothing read here is trusted until verified.
    ///
    /// A [`Handshake`] whose routing names no subject, on a route without an endpoint
    /// key, is an app-level probe (Slack's `url_verification`, a GitHub App's `ping`): it
    /// is verified against the secrets of the definition's targets, before any
    /// connection exists.
    ///
    /// # Errors
    ///
    /// `webhook.missing_header`, `webhook.invalid_payload`,
    /// `webhook.unsupported_content_type` (answered 4xx).
    fn classify(&self, request: &InboundRequest<'_>) -> Result<Classification, Error>;

    /// Normalizes a verified event.
    ///
    /// # Errors
    ///
    /// `webhook.invalid_payload`, `webhook.event_type_mismatch` (answered 400).
    fn normalize(
        &self,
        request: &InboundRequest<'_>,
        context: &NormalizeContext<'_>,
    ) -> Result<Normalized, Error>;

    /// What the event means for agent sessions. Default: nothing.
    fn dispatch(&self, event: &WebhookEvent) -> SessionDispatch {
        let _ = event;
        SessionDispatch::default()
    }
}

/// An HTTP answer for the host to send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers, lowercased names.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Bytes,
}

impl WebhookResponse {
    /// An answer with no headers and an empty body.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            headers: BTreeMap::new(),
            body: Bytes::new(),
        }
    }

    /// A `text/plain` answer.
    pub fn text(status: StatusCode, body: impl Into<String>) -> Self {
        Self::new(status)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body.into())
    }

    /// An `application/json` answer.
    pub fn json(status: StatusCode, body: &serde_json::Value) -> Self {
        Self::new(status)
            .with_header("content-type", "application/json")
            .with_body(body.to_string())
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .insert(name.into().to_ascii_lowercase(), value.into());
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The answer to a failure: its status (see [`status_for`](crate::definition::webhook::status_for)) and
    /// `{"ok":false,"error":{"code":...,"message":...}}` (safe messages only).
    pub fn for_error(error: &Error) -> Self {
        Self::json(
            crate::definition::webhook::status_for(error),
            &serde_json::json!({
                "ok": false,
                "error": {"code": error.code(), "message": error.message()},
            }),
        )
    }

    /// As an [`http::Response`].
    pub fn into_http(self) -> http::Response<Bytes> {
        let mut response = http::Response::new(self.body);
        *response.status_mut() = self.status;
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(&value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Fields<'a> {
        kind: &'a str,
    }

    #[test]
    fn required_headers_and_json_bodies_fail_with_stable_codes_and_no_echo() {
        let key = DefinitionKey::from_static("tracker::tracker-cloud");
        let headers = Headers::from_pairs([("X-Delivery", "d-1"), ("x-empty", "")]);
        let request = InboundRequest::new(&key, &headers, br#"{"kind":"issue"}"#);
        assert_eq!(request.required_header("x-delivery").unwrap(), "d-1");
        for absent in ["x-empty", "x-other"] {
            let err = request.required_header(absent).unwrap_err();
            assert_eq!(err.code(), "webhook.missing_header");
            assert!(err.message().contains(absent));
        }
        let route = EventRoute::for_delivery(Routing::endpoint_only(), "d-1");
        assert_eq!(
            route,
            EventRoute::new(Routing::endpoint_only(), "d-1").with_delivery_id("d-1")
        );
        assert_eq!(
            Classification::endpoint_event(&request, "x-delivery").unwrap(),
            Classification::Event(route)
        );
        let err = Classification::endpoint_event(&request, "x-empty").unwrap_err();
        assert_eq!(err.code(), "webhook.missing_header");
        let fields: Fields<'_> = request.json("a tracker delivery").unwrap();
        assert_eq!(fields.kind, "issue");

        let body = br#"{"kind": 7, "token": "secret-value"}"#;
        let request = InboundRequest::new(&key, &headers, body);
        let err = request
            .json::<Fields<'_>>("a tracker delivery")
            .unwrap_err();
        assert_eq!(err.code(), "webhook.invalid_payload");
        assert!(err.message().contains("a tracker delivery"));
        assert!(!format!("{err} {err:?}").contains("secret-value"));
    }
}
