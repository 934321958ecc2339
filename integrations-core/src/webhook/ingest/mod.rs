//! [`Ingest`]: the webhook pipeline, from a raw request to an answer.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::StatusCode;
use serde_json::value::RawValue;

use self::route::{check_claims, is_revoked, no_live_connection};
use crate::definition::webhook::{Headers, WebhookSource, errors};
use crate::host::{EventDelivery, Host, HostPart};
use crate::model::{ConnectionStatus, SessionDispatch, WebhookEvent};
use crate::provider::webhook::{
    Classification, GrantChange, HandshakeVerification, InboundRequest, NormalizeContext,
    WebhookResponse,
};
use crate::{DefinitionKey, Error, Registry};

mod grant;
mod route;
mod secrets;

/// The default body limit: 25 MiB, GitHub's cap on payloads (the largest of the shipped
/// providers).
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// The longest endpoint key accepted in a route.
const MAX_ENDPOINT_LEN: usize = 128;
/// The longest delivery or event id accepted.
const MAX_DEDUP_ID_LEN: usize = 256;

/// A raw inbound webhook request: the definition and optional endpoint key from the route
/// `/webhooks/{family}/{variant}[/{endpoint}]`, the headers, and the body exactly as
/// received. Its `Debug` shows the body's length, not the body (a delivery may carry a
/// token: Slack's verification token, a `response_url`).
#[derive(Clone)]
#[non_exhaustive]
pub struct WebhookRequest {
    /// The definition the route names.
    pub key: DefinitionKey,
    /// The endpoint key, the route's optional last segment.
    pub endpoint: Option<String>,
    /// The headers, normalized.
    pub headers: Headers,
    /// The raw body.
    pub body: Bytes,
}

impl std::fmt::Debug for WebhookRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRequest")
            .field("key", &self.key)
            .field("endpoint", &self.endpoint)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl WebhookRequest {
    /// A request for `key`.
    pub fn new(key: DefinitionKey, headers: Headers, body: impl Into<Bytes>) -> Self {
        Self {
            key,
            endpoint: None,
            headers,
            body: body.into(),
        }
    }

    /// Sets the endpoint key.
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// A request from its route path: `.../webhooks/{family}/{variant}[/{endpoint}]` (any
    /// prefix before the `webhooks` segment, such as `/api`, is allowed; a query string is
    /// ignored).
    ///
    /// ```
    /// use integrations_core::webhook::{Headers, WebhookRequest};
    ///
    /// let request = WebhookRequest::from_path(
    ///     "/api/webhooks/github/github-cloud/ep_123",
    ///     Headers::new(),
    ///     "{}",
    /// )?;
    /// assert_eq!(request.key.as_str(), "github::github-cloud");
    /// assert_eq!(request.endpoint.as_deref(), Some("ep_123"));
    /// # Ok::<(), integrations_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) (`webhook.invalid_route`) when the path has another shape
    /// or names an invalid key or endpoint.
    pub fn from_path(path: &str, headers: Headers, body: impl Into<Bytes>) -> Result<Self, Error> {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let start = segments
            .iter()
            .position(|s| *s == "webhooks")
            .ok_or_else(invalid_route)?;
        let (family, variant, endpoint) = match &segments[start + 1..] {
            [family, variant] => (*family, *variant, None),
            [family, variant, endpoint] => (*family, *variant, Some(*endpoint)),
            _ => return Err(invalid_route()),
        };
        let key = DefinitionKey::new(family, variant).map_err(|_| invalid_route())?;
        let mut request = Self::new(key, headers, body);
        if let Some(endpoint) = endpoint {
            check_endpoint(endpoint)?;
            request.endpoint = Some(endpoint.to_owned());
        }
        Ok(request)
    }

    /// A request from an [`http::Request`]: its path and headers.
    ///
    /// # Errors
    ///
    /// As [`from_path`](Self::from_path).
    pub fn from_http(request: http::Request<Bytes>) -> Result<Self, Error> {
        let (parts, body) = request.into_parts();
        Self::from_path(parts.uri.path(), Headers::from_http(&parts.headers), body)
    }

    fn view(&self) -> InboundRequest<'_> {
        InboundRequest {
            key: &self.key,
            endpoint: self.endpoint.as_deref(),
            headers: &self.headers,
            body: &self.body,
        }
    }
}

fn invalid_route() -> Error {
    crate::codes::webhook::INVALID_ROUTE
        .error("webhook routes are /webhooks/{family}/{variant}[/{endpoint}]")
}

fn check_endpoint(endpoint: &str) -> Result<(), Error> {
    let ok = !endpoint.is_empty()
        && endpoint.len() <= MAX_ENDPOINT_LEN
        && endpoint
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(invalid_route()) }
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IngestOutcome {
    /// A new event was recorded and delivered to the event sink.
    Delivered,
    /// A new event was recorded; its delivery is a [`PendingDelivery`] the host runs.
    Accepted,
    /// The event was recorded before: answered 2xx so the provider stops retrying, not
    /// delivered again.
    Duplicate,
    /// An immediate answer (a handshake); no event.
    Answered,
}

impl IngestOutcome {
    /// `delivered`, `accepted`, `duplicate` or `answered`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Answered => "answered",
        }
    }
}

/// The result of [`Ingest::ingest`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Ingested {
    /// The answer to send.
    pub response: WebhookResponse,
    /// How it ended.
    pub outcome: IngestOutcome,
    /// The event delivered, when one was.
    pub event: Option<WebhookEvent>,
}

/// The result of [`Ingest::accept`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Accepted {
    /// The answer to send now.
    pub response: WebhookResponse,
    /// How it ended.
    pub outcome: IngestOutcome,
    /// The delivery to run after answering, for a new event.
    pub pending: Option<PendingDelivery>,
}

/// A verified, recorded event whose delivery to the event sink is still to run: await
/// [`deliver`](Self::deliver) after sending the answer, or spawn it.
///
/// The provider was already answered 2xx, so it will not send the event again: when the
/// sink fails, [`deliver`](Self::deliver) gives the delivery back in a
/// [`DeliveryFailed`] for the host to run again later (or keep the event elsewhere).
/// Meanwhile the record is released, so a redelivery (the provider's own, or a manual
/// one) is processed too; a retry that finds the event recorded again by such a
/// redelivery delivers nothing, so the sink gets the event once. Until the delivery
/// succeeds, a redelivery is answered 503 `webhook.delivery_in_progress`, not 2xx; one
/// arriving [`DELIVERY_IN_PROGRESS_WINDOW`] after the event was recorded takes it over
/// (a `PendingDelivery` dropped without running is not lost).
#[must_use = "the event reaches the sink only when the delivery runs"]
pub struct PendingDelivery {
    host: Host,
    event: WebhookEvent,
    /// Whether an earlier attempt failed and released the record.
    released: bool,
}

impl fmt::Debug for PendingDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingDelivery")
            .field("event_type", &self.event.event_type)
            .field("external_event_id", &self.event.external_event_id)
            .field("released", &self.released)
            .finish_non_exhaustive()
    }
}

impl PendingDelivery {
    /// The event.
    pub fn event(&self) -> &WebhookEvent {
        &self.event
    }

    /// Delivers the event to the host's sink. A retry after a failure records the event
    /// again first, received now (its `received_at` becomes the clock's time, so the
    /// record is in progress since this attempt, and a redelivery arriving while it runs
    /// is refused as in progress rather than taken for a stalled delivery to take over),
    /// and delivers nothing when a redelivery recorded it meanwhile (it reached the sink
    /// that way); the event is returned either way.
    ///
    /// # Errors
    ///
    /// [`DeliveryFailed`] with [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable)
    /// (`webhook.delivery_failed`, the sink's error as source; the record was released),
    /// or the store's error when a retry could not record the event again; the delivery
    /// inside it can be run again.
    pub async fn deliver(mut self) -> Result<WebhookEvent, DeliveryFailed> {
        if self.released {
            // Recorded anew from now: with its first `received_at`, a retry run
            // `DELIVERY_IN_PROGRESS_WINDOW` after the event arrived would read as stalled
            // to a concurrent redelivery, which would take it over and deliver it too.
            self.event.received_at = self.host.clock().now();
            match self
                .host
                .webhook_events()
                .record_event_if_new(&self.event)
                .await
            {
                Ok(true) => self.released = false,
                Ok(false) => return Ok(self.event),
                Err(error) => {
                    return Err(DeliveryFailed {
                        error,
                        pending: self,
                    });
                }
            }
        }
        match deliver_or_release(&self.host, &self.event).await {
            Ok(()) => Ok(self.event),
            Err((error, released)) => {
                // A record the store could not release is still this delivery's: the
                // retry delivers it without recording it again.
                self.released = released;
                Err(DeliveryFailed {
                    error,
                    pending: self,
                })
            }
        }
    }
}

/// A [`PendingDelivery`] whose sink failed: why, and the delivery to run again.
#[non_exhaustive]
pub struct DeliveryFailed {
    /// Why (`webhook.delivery_failed` with the sink's error as source, or a store error).
    pub error: Error,
    /// The delivery, to [run again](PendingDelivery::deliver) later.
    pub pending: PendingDelivery,
}

impl fmt::Debug for DeliveryFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryFailed")
            .field("error", &self.error)
            .field("pending", &self.pending)
            .finish()
    }
}

impl fmt::Display for DeliveryFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for DeliveryFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<DeliveryFailed> for Error {
    fn from(failed: DeliveryFailed) -> Self {
        failed.error
    }
}

/// What an event changes about its account's grant: for its connection, with the status
/// it had when it was resolved, and for the account's other connections in the tenant
/// and target (other scopes), with theirs.
struct Grant {
    change: GrantChange,
    status: ConnectionStatus,
    siblings: Vec<(crate::ConnectionId, ConnectionStatus)>,
}

enum Prepared {
    Answer(WebhookResponse),
    /// A new event, with what it changes about its account's grant.
    Event(Box<WebhookEvent>, Option<Grant>),
}

/// The ingest pipeline.
///
/// For each request: body size limit → **verify before reading** where the secrets do
/// not depend on the payload (the endpoint key names the candidate connections, or the
/// definition has a single target: every secret they hold is tried, so an
/// unauthenticated body is answered `webhook.signature_mismatch` before it is read) → the
/// provider classifies it (an immediate answer or an event, and what routes it) → the
/// connection is resolved through the stores (an endpoint key pre-filters; zero
/// candidates is an error; several, in tenants with their own targets, are told apart by
/// whose secret verifies, otherwise ambiguous) → the signature is verified with the
/// target's and the connection's secrets (**also** before an immediate answer such as
/// Slack's challenge; a handshake naming no subject on the app-level route, which comes
/// before any connection exists, is verified against the definition's enabled targets)
/// → the provider normalizes the event and maps a
/// session dispatch (pure) → the event is recorded if new, **before** any side effect →
/// what the event says about the connection's grant ([`GrantChange`]: an uninstalled
/// app, a revoked token, a suspension) is applied to the connection's status → the event
/// sink gets it → the answer. A duplicate is answered 2xx and never reaches the
/// sink again, once the first delivery is done: while it is still running, in this
/// process or (as the store's [`event_delivery`](crate::host::WebhookEventStore::event_delivery)
/// says) another, a redelivery is answered 503 `webhook.delivery_in_progress`, until
/// [`DELIVERY_IN_PROGRESS_WINDOW`] after the record: then the first delivery is taken to
/// have died, and the redelivery takes the event over and delivers it. A sink failure
/// releases the record and is answered 503 so the provider retries.
///
/// Failures map to statuses with stable codes ([`status_for`](super::status_for)):
/// 400 malformed, 401 verification, 403 another app, 404 unknown route, definition or
/// connection, 409 ambiguous connection, 413 too large, 5xx configuration or sink.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use integrations_core::{Registry, host::Host};
/// # use integrations_core::webhook::{Ingest, WebhookRequest};
/// # async fn serve(registry: Arc<Registry>, host: Host, request: http::Request<bytes::Bytes>)
/// #     -> Result<http::Response<bytes::Bytes>, integrations_core::Error> {
/// let ingest = Ingest::new(registry, host)?;
/// let response = match WebhookRequest::from_http(request) {
///     Ok(request) => ingest.handle(request).await,
///     Err(e) => integrations_core::webhook::WebhookResponse::for_error(&e),
/// };
/// Ok(response.into_http())
/// # }
/// ```
#[derive(Clone)]
pub struct Ingest {
    registry: Arc<Registry>,
    host: Host,
    /// The start-up lookup of the target a delivery routes to.
    loader: crate::loaded::Loader,
    sources: Arc<BTreeMap<DefinitionKey, WebhookSource>>,
    max_body_bytes: usize,
    /// The events [`ingest`](Self::ingest) is processing right now in this process
    /// (recorded, not yet delivered), shared by clones.
    in_flight: Arc<Mutex<HashSet<InFlightKey>>>,
}

/// An event by tenant, definition and deduplication id.
type InFlightKey = (crate::TenantId, DefinitionKey, String);

/// An event [`Ingest::ingest`] is processing; dropping it (delivered, failed, or the
/// request went away) ends it.
struct Running {
    in_flight: Arc<Mutex<HashSet<InFlightKey>>>,
    key: Option<InFlightKey>,
    /// The event's record while this delivery holds it (recorded, not yet delivered nor
    /// released). Dropped so, the request went away mid-delivery (the provider hung up,
    /// the server shut down): a task releases the record, so the provider's retries are
    /// processed at once rather than refused as in progress until
    /// [`DELIVERY_IN_PROGRESS_WINDOW`] ends (Slack's last retry comes after five
    /// minutes). Should the sink have taken the event just before, a retry delivers it
    /// again, which its event id lets the sink recognise.
    recorded: Option<(Host, Arc<WebhookEvent>)>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
        }
        if let Some((host, event)) = self.recorded.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                release(&host, &event).await;
            });
        }
    }
}

impl fmt::Debug for Ingest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ingest")
            .field("sources", &self.sources.keys().collect::<Vec<_>>())
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl Ingest {
    /// The parts of the host the pipeline uses (beyond the cipher, the clock and the
    /// audit sink).
    pub const HOST_PARTS: &'static [HostPart] = &[
        HostPart::Targets,
        HostPart::Connections,
        HostPart::Credentials,
        HostPart::WebhookEvents,
        HostPart::Events,
    ];

    /// A pipeline over the registry's integrations that declare a webhook source and a
    /// handler.
    ///
    /// # Host
    ///
    /// Uses the targets, connections, credentials and webhook events stores, the cipher,
    /// the clock, the audit sink and the event sink; no HTTP client and no other store
    /// ([`HOST_PARTS`](Self::HOST_PARTS)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](crate::ErrorKind::Configuration) (`webhook.incomplete_definition`) when an integration
    /// declares a source without a handler, or a handler without a source;
    /// `host.part_missing` when the host has no webhook events store or no event sink
    /// (every verified delivery would fail without one).
    pub fn new(registry: Arc<Registry>, host: Host) -> Result<Self, Error> {
        host.require("webhook ingest", Self::HOST_PARTS)?;
        let mut sources = BTreeMap::new();
        let mut incomplete = Vec::new();
        for entry in registry.iter() {
            let source = entry.definition().webhook_source();
            let has_handler = entry.integration().webhooks().is_some();
            match (source, has_handler) {
                (Some(source), true) => {
                    sources.insert(entry.key().clone(), source);
                }
                (None, false) => {}
                _ => incomplete.push(entry.key().to_string()),
            }
        }
        if !incomplete.is_empty() {
            return Err(crate::codes::webhook::INCOMPLETE_DEFINITION.error(format!(
                "these integrations need both a webhook source and a webhook handler: {}",
                incomplete.join(", ")
            )));
        }
        Ok(Self {
            loader: crate::loaded::Loader::new(Arc::clone(&registry), host.clone()),
            registry,
            host,
            sources: Arc::new(sources),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            in_flight: Arc::default(),
        })
    }

    /// Sets the body limit. Hosts should also stop reading a body past it.
    #[must_use]
    pub fn with_max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// The body limit.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// The webhook source of a definition, when it receives webhooks.
    pub fn source(&self, key: &DefinitionKey) -> Option<&WebhookSource> {
        self.sources.get(key)
    }

    /// Runs the whole pipeline and delivers a new event to the sink before answering.
    ///
    /// # Errors
    ///
    /// Every failure of the pipeline, with a stable code; answer it with
    /// [`error_response`](Self::error_response). A `webhook.delivery_failed` error means
    /// the record was released.
    pub async fn ingest(&self, request: WebhookRequest) -> Result<Ingested, Error> {
        match self.prepare(&request).await? {
            Prepared::Answer(response) => Ok(Ingested {
                response,
                outcome: IngestOutcome::Answered,
                event: None,
            }),
            Prepared::Event(event, grant) => {
                // A redelivery while the first one is still running here (a provider
                // retrying a slow answer) is not answered "done": the first may still
                // fail and release the event, and a 2xx now would end the provider's
                // retries. It gets 503 and comes back.
                let Some(mut running) = self.start(&event) else {
                    return Err(in_progress());
                };
                if !self.record(&event).await? {
                    return Ok(Ingested {
                        response: outcome_response(IngestOutcome::Duplicate),
                        outcome: IngestOutcome::Duplicate,
                        event: None,
                    });
                }
                let event: Arc<WebhookEvent> = Arc::from(event);
                running.recorded = Some((self.host.clone(), Arc::clone(&event)));
                self.apply_grant(&event, grant.as_ref()).await?;
                let delivered = deliver(&self.host, &event).await;
                // Delivered, or released by the failed delivery: the record is no longer
                // this delivery's to release.
                running.recorded = None;
                drop(running);
                delivered?;
                let event = Arc::try_unwrap(event).unwrap_or_else(|shared| (*shared).clone());
                tracing::debug!(
                    key = %event.key,
                    event_type = %event.event_type,
                    "webhook event delivered"
                );
                Ok(Ingested {
                    response: outcome_response(IngestOutcome::Delivered),
                    outcome: IngestOutcome::Delivered,
                    event: Some(event),
                })
            }
        }
    }

    /// Acknowledge now, process later: runs the pipeline up to and including the record,
    /// and returns the answer with a [`PendingDelivery`] for a new event. For providers
    /// with short answer deadlines (Slack: 3 s).
    ///
    /// # Errors
    ///
    /// As [`ingest`](Self::ingest), except delivery failures, which
    /// [`PendingDelivery::deliver`] reports.
    pub async fn accept(&self, request: WebhookRequest) -> Result<Accepted, Error> {
        match self.prepare(&request).await? {
            Prepared::Answer(response) => Ok(Accepted {
                response,
                outcome: IngestOutcome::Answered,
                pending: None,
            }),
            Prepared::Event(event, grant) => {
                if !self.record(&event).await? {
                    return Ok(Accepted {
                        response: outcome_response(IngestOutcome::Duplicate),
                        outcome: IngestOutcome::Duplicate,
                        pending: None,
                    });
                }
                // Before answering: a revoked grant must not wait for the delivery.
                self.apply_grant(&event, grant.as_ref()).await?;
                Ok(Accepted {
                    response: outcome_response(IngestOutcome::Accepted),
                    outcome: IngestOutcome::Accepted,
                    pending: Some(PendingDelivery {
                        host: self.host.clone(),
                        event: *event,
                        released: false,
                    }),
                })
            }
        }
    }

    /// Runs [`ingest`](Self::ingest) and turns any failure into its answer.
    pub async fn handle(&self, request: WebhookRequest) -> WebhookResponse {
        let key = request.key.clone();
        match self.ingest(request).await {
            Ok(ingested) => ingested.response,
            Err(error) => {
                let response = self.error_response(&key, &error);
                if response.status.is_server_error() {
                    // The host's trouble, not the sender's (a sink or store that failed):
                    // an operator must see it, since providers that do not retry (GitHub)
                    // lose the event unless it is redelivered by hand.
                    tracing::warn!(key = %key, code = error.code(), status = response.status.as_u16(), "webhook not processed");
                } else {
                    tracing::debug!(key = %key, code = error.code(), "webhook refused");
                }
                response
            }
        }
    }

    /// The answer to a failure of a delivery for `key`: its status and safe JSON body,
    /// plus the source's no-retry header on 4xx answers.
    pub fn error_response(&self, key: &DefinitionKey, error: &Error) -> WebhookResponse {
        let response = WebhookResponse::for_error(error);
        match self
            .sources
            .get(key)
            .and_then(WebhookSource::no_retry_header)
        {
            Some((name, value)) if response.status.is_client_error() => {
                response.with_header(name, value)
            }
            _ => response,
        }
    }

    async fn prepare(&self, request: &WebhookRequest) -> Result<Prepared, Error> {
        if request.body.len() > self.max_body_bytes {
            return Err(errors::body_too_large(self.max_body_bytes));
        }
        if let Some(endpoint) = &request.endpoint {
            check_endpoint(endpoint)?;
        }
        let entry = self.registry.get(&request.key).ok_or_else(|| {
            crate::codes::webhook::UNKNOWN_DEFINITION.error(format!(
                "no integration is registered under {}",
                request.key
            ))
        })?;
        let (Some(source), Some(handler)) = (
            self.sources.get(&request.key),
            entry.integration().webhooks(),
        ) else {
            return Err(crate::codes::webhook::NOT_SUPPORTED
                .error(format!("{} does not receive webhooks", request.key)));
        };
        let inbound = request.view();
        let now = self.host.clock().now();

        if let Some(response) = handler.probe(&inbound) {
            return Ok(Prepared::Answer(response));
        }
        // Verify before reading: where the secrets do not depend on the payload, an
        // unauthenticated request is refused before the handler reads any of it (a
        // forged body is never parsed). Unsigned probes a provider sends are answered by
        // `probe`, above.
        let passed = self.verify_before_reading(source, &inbound, now).await?;

        match handler.classify(&inbound)? {
            Classification::Handshake(handshake) => {
                if handshake.verification == HandshakeVerification::Skip {
                    return Ok(Prepared::Answer(handshake.response));
                }
                if handshake.routing.subject.is_none() && inbound.endpoint.is_none() {
                    self.verify_app_level(source, &inbound, &handshake.routing, now)
                        .await?;
                    return Ok(Prepared::Answer(handshake.response));
                }
                let resolved = self
                    .resolve(source, &inbound, &handshake.routing, true, now)
                    .await?;
                self.verify(source, &resolved, &inbound, now, passed.as_ref())
                    .await?;
                // Only now, verified: a disabled target or a stored config that no
                // longer validates is refused as every engine refuses it.
                let target = self.loader.check_target(&resolved.target)?;
                check_claims(&target.target, &handshake.routing)?;
                Ok(Prepared::Answer(handshake.response))
            }
            Classification::Event(route) => {
                check_dedup_id(&route.dedup_id)?;
                let resolved = self
                    .resolve(source, &inbound, &route.routing, false, now)
                    .await?;
                let verified = self
                    .verify(source, &resolved, &inbound, now, passed.as_ref())
                    .await?;
                let target = self.loader.check_target(&resolved.target)?;
                check_claims(&target.target, &route.routing)?;
                let Some(connection) = resolved.connection else {
                    return Err(Error::internal("an event resolved to no connection"));
                };
                let normalized = handler.normalize(
                    &inbound,
                    &NormalizeContext {
                        route: &route,
                        signed_at: verified.signed_at,
                        received_at: now,
                    },
                )?;
                if is_revoked(&connection)
                    && !matches!(normalized.grant, Some(GrantChange::Revoked { .. }))
                {
                    return Err(no_live_connection());
                }
                let status = connection.status.clone();
                let payload = match normalized.payload {
                    Some(payload) => payload,
                    None => body_payload(&request.body)?,
                };
                let mut event = WebhookEvent {
                    tenant: connection.tenant,
                    connection: connection.id,
                    key: request.key.clone(),
                    event_type: normalized.event_type,
                    provider_event_type: normalized.provider_event_type,
                    external_event_id: route.dedup_id,
                    delivery_id: route.delivery_id,
                    occurred_at: normalized.occurred_at,
                    received_at: now,
                    source_order_key: normalized.source_order_key,
                    subject: normalized.subject,
                    dispatch: SessionDispatch::default(),
                    payload,
                };
                event.dispatch = handler.dispatch(&event);
                let grant = normalized.grant.map(|change| Grant {
                    change,
                    status,
                    siblings: resolved
                        .siblings
                        .into_iter()
                        .map(|c| (c.id, c.status))
                        .collect(),
                });
                Ok(Prepared::Event(Box::new(event), grant))
            }
        }
    }

    /// Marks `event` as being processed here, unless it already is.
    fn start(&self, event: &WebhookEvent) -> Option<Running> {
        let key = (
            event.tenant.clone(),
            event.key.clone(),
            event.external_event_id.clone(),
        );
        let fresh = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone());
        fresh.then(|| Running {
            in_flight: Arc::clone(&self.in_flight),
            key: Some(key),
            recorded: None,
        })
    }

    /// Records `event`: `true` when it is to be delivered (new, or a redelivery taking
    /// over a stalled first delivery), `false` for a duplicate, and
    /// `webhook.delivery_in_progress` for a redelivery while the first delivery still
    /// runs in another process (this one's are caught before recording).
    async fn record(&self, event: &WebhookEvent) -> Result<bool, Error> {
        let events = self.host.webhook_events();
        let (tenant, key, id) = (&event.tenant, &event.key, &event.external_event_id);
        // A first delivery in progress since `since` runs still within the window.
        let running = |since: crate::Timestamp| {
            event.received_at < since.saturating_add(DELIVERY_IN_PROGRESS_WINDOW)
        };
        for _ in 0..RECORD_ATTEMPTS {
            if events.record_event_if_new(event).await? {
                return Ok(true);
            }
            match events.event_delivery(tenant, key, id).await? {
                // Released between the two calls (the first delivery failed): this one
                // must not be answered "duplicate", or the provider stops retrying an
                // event no one delivered. Record it again (the next turn).
                None => {}
                Some(EventDelivery::Delivered) => return Ok(false),
                Some(EventDelivery::InProgress { since }) if running(since) => {
                    return Err(in_progress());
                }
                Some(EventDelivery::InProgress { .. }) => {
                    // Recorded a window ago and still not delivered: its process died (or
                    // its `PendingDelivery` was dropped), and without a takeover the event
                    // would never reach the sink.
                    let stalled_by = event
                        .received_at
                        .saturating_sub(DELIVERY_IN_PROGRESS_WINDOW);
                    if events.take_over_event(event, stalled_by).await? {
                        tracing::info!(
                            key = %event.key,
                            event_type = %event.event_type,
                            "a webhook event whose first delivery stalled is delivered by a redelivery"
                        );
                        return Ok(true);
                    }
                    // Another redelivery took it over just now (then it runs), or the store
                    // takes nothing over (then the stalled event counts as a duplicate),
                    // or it was released meanwhile (then record it again).
                    match events.event_delivery(tenant, key, id).await? {
                        None => {}
                        Some(EventDelivery::InProgress { since }) if running(since) => {
                            return Err(in_progress());
                        }
                        Some(_) => return Ok(false),
                    }
                }
            }
        }
        // Recorded, and still no delivery state to read: a store that keeps none (its
        // records answer every redelivery as a duplicate), or one released and
        // recorded again at each turn, which a duplicate answer leaves to its own
        // delivery.
        Ok(false)
    }
}

/// A redelivery refused while the first delivery still runs in another process.
fn in_progress() -> Error {
    crate::codes::webhook::DELIVERY_IN_PROGRESS
        .error("this event's first delivery is still being processed; retry later")
}

/// How many times a delivery tries to record its event when the record is gone by the
/// time its delivery state is read (released by a failed first delivery meanwhile).
const RECORD_ATTEMPTS: usize = 2;

/// How long after an event was recorded a redelivery is refused while the store says its
/// first delivery is still in progress (`webhook.delivery_in_progress`, 503). A first
/// delivery still not done after it is taken to have died with its process: the next
/// redelivery [takes the event over](crate::host::WebhookEventStore::take_over_event) and
/// delivers it. A sink that can run longer than this may then get the event twice, which
/// its event id lets it recognise.
pub const DELIVERY_IN_PROGRESS_WINDOW: std::time::Duration =
    std::time::Duration::from_secs(10 * 60);

fn check_dedup_id(id: &str) -> Result<(), Error> {
    if id.is_empty() || id.len() > MAX_DEDUP_ID_LEN || id.chars().any(char::is_control) {
        return Err(errors::invalid_payload(
            "the delivery or event id is empty, too long or not printable",
        ));
    }
    Ok(())
}

fn body_payload(body: &Bytes) -> Result<Box<RawValue>, Error> {
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| errors::invalid_payload("the body is not UTF-8"))?;
    super::raw_json(text)
}

fn outcome_response(outcome: IngestOutcome) -> WebhookResponse {
    WebhookResponse::json(
        StatusCode::OK,
        &serde_json::json!({"ok": true, "outcome": outcome.as_str()}),
    )
}

/// Releases an event's record so a redelivery is processed again; whether the record is
/// no longer this delivery's (forgotten, or a redelivery took it over). A record the
/// store could not release stays this delivery's, in progress: redeliveries are refused
/// until the window ends, then take it over.
async fn release(host: &Host, event: &WebhookEvent) -> bool {
    match host.webhook_events().release_event(event).await {
        Ok(_) => true,
        Err(forget) => {
            tracing::warn!(
                code = forget.code(),
                "a webhook event could not be released after processing it failed"
            );
            false
        }
    }
}

async fn deliver(host: &Host, event: &WebhookEvent) -> Result<(), Error> {
    deliver_or_release(host, event)
        .await
        .map_err(|(error, _)| error)
}

/// Delivers `event` to the sink and marks it delivered; on failure, releases its record
/// and says whether the release worked.
async fn deliver_or_release(host: &Host, event: &WebhookEvent) -> Result<(), (Error, bool)> {
    let Err(error) = host.events().deliver(event).await else {
        // The record now answers redeliveries as duplicates in every process. If this
        // fails, they are refused as in progress until the window ends: never lost.
        if let Err(mark) = host
            .webhook_events()
            .mark_event_delivered(&event.tenant, &event.key, &event.external_event_id)
            .await
        {
            tracing::warn!(
                code = mark.code(),
                "a delivered webhook event could not be marked delivered"
            );
        }
        return Ok(());
    };
    let released = release(host, event).await;
    let failed = crate::codes::webhook::DELIVERY_FAILED.error("the event sink did not take the event; it was released so a redelivery is processed again",
    )
    .with_source(error);
    Err((failed, released))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r =
            WebhookRequest::from_path("/webhooks/slack/slack-default", Headers::new(), "").unwrap();
        assert_eq!(r.key.as_str(), "slack::slack-default");
        assert_eq!(r.endpoint, None);
        let r = WebhookRequest::from_path(
            "/webhooks/linear/linear-default/ep-1?x=1",
            Headers::new(),
            "",
        )
        .unwrap();
        assert_eq!(r.endpoint.as_deref(), Some("ep-1"));
        for bad in [
            "/hooks/slack/slack-default",
            "/webhooks/slack",
            "/webhooks/Slack/x",
            "/webhooks/a/b/c/d",
            "/webhooks/a/b/c.d",
        ] {
            let e = WebhookRequest::from_path(bad, Headers::new(), "").unwrap_err();
            assert_eq!(e.code(), errors::codes::INVALID_ROUTE, "{bad}");
        }
    }

    #[test]
    fn dedup_ids() {
        assert!(check_dedup_id("72d3162e-cc78-11e3-81ab-4c9367dc0958").is_ok());
        assert!(check_dedup_id("").is_err());
        assert!(check_dedup_id("a\nb").is_err());
        assert!(check_dedup_id(&"x".repeat(257)).is_err());
    }
}
