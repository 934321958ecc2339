//! [`Ingest`]: the webhook pipeline, from a raw request to an answer.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use subtle::ConstantTimeEq;

use super::handler::{
    Classification, GrantChange, HandshakeVerification, InboundRequest, NormalizeContext, Routing,
    WebhookResponse,
};
use super::{Headers, SessionDispatch, Verified, WebhookEvent, WebhookSource, errors};
use crate::host::{AuditAction, AuditEvent, AuditOutcome, ConnectionQuery, Host};
use crate::model::{Connection, ConnectionStatus, Target};
use crate::service::target_secrets_aad;
use crate::{DefinitionKey, Error, ErrorKind, Registry, Secret, Timestamp};

/// The default body limit: 25 MiB, GitHub's cap on payloads (the largest of the shipped
/// providers).
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// The longest endpoint key accepted in a route.
const MAX_ENDPOINT_LEN: usize = 128;
/// The longest delivery or event id accepted.
const MAX_DEDUP_ID_LEN: usize = 256;

/// A raw inbound webhook request: the definition and optional endpoint key from the route
/// `/webhooks/{family}/{variant}[/{endpoint}]`, the headers, and the body exactly as
/// received.
#[derive(Debug, Clone)]
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
    /// [`ErrorKind::NotFound`] (`webhook.invalid_route`) when the path has another shape
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
    Error::not_found(
        errors::codes::INVALID_ROUTE,
        "webhook routes are /webhooks/{family}/{variant}[/{endpoint}]",
    )
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
/// When the sink fails, the record is released (so a redelivery by the provider, or a
/// manual one, is processed again) and the error is returned for the host to log.
#[must_use = "the event reaches the sink only when the delivery runs"]
pub struct PendingDelivery {
    host: Host,
    event: WebhookEvent,
}

impl fmt::Debug for PendingDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingDelivery")
            .field("event_type", &self.event.event_type)
            .field("external_event_id", &self.event.external_event_id)
            .finish_non_exhaustive()
    }
}

impl PendingDelivery {
    /// The event.
    pub fn event(&self) -> &WebhookEvent {
        &self.event
    }

    /// Delivers the event to the host's sink.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Unavailable`] (`webhook.delivery_failed`) with the sink's error as
    /// source; the record was released.
    pub async fn deliver(self) -> Result<WebhookEvent, Error> {
        deliver(&self.host, &self.event).await?;
        Ok(self.event)
    }
}

enum Prepared {
    Answer(WebhookResponse),
    /// A new event, with what it changes about its connection's grant and the status
    /// the connection had when it was resolved.
    Event(Box<WebhookEvent>, Option<(GrantChange, ConnectionStatus)>),
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
/// sink again; a sink failure releases the record and is answered 503 so the provider
/// retries.
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
    sources: Arc<BTreeMap<DefinitionKey, WebhookSource>>,
    max_body_bytes: usize,
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
    /// A pipeline over the registry's integrations that declare a webhook source and a
    /// handler.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`] (`webhook.incomplete_definition`) when an integration
    /// declares a source without a handler, or a handler without a source.
    pub fn new(registry: Arc<Registry>, host: Host) -> Result<Self, Error> {
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
            return Err(Error::configuration(
                errors::codes::INCOMPLETE_DEFINITION,
                format!(
                    "these integrations need both a webhook source and a webhook handler: {}",
                    incomplete.join(", ")
                ),
            ));
        }
        Ok(Self {
            registry,
            host,
            sources: Arc::new(sources),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
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
                if !self.record(&event).await? {
                    return Ok(Ingested {
                        response: outcome_response(IngestOutcome::Duplicate),
                        outcome: IngestOutcome::Duplicate,
                        event: None,
                    });
                }
                self.apply_grant(&event, grant.as_ref()).await?;
                deliver(&self.host, &event).await?;
                tracing::debug!(
                    key = %event.key,
                    event_type = %event.event_type,
                    "webhook event delivered"
                );
                Ok(Ingested {
                    response: outcome_response(IngestOutcome::Delivered),
                    outcome: IngestOutcome::Delivered,
                    event: Some(*event),
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
                tracing::debug!(key = %key, code = error.code(), "webhook refused");
                self.error_response(&key, &error)
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
            Error::not_found(
                errors::codes::UNKNOWN_DEFINITION,
                format!("no integration is registered under {}", request.key),
            )
        })?;
        let (Some(source), Some(handler)) = (
            self.sources.get(&request.key),
            entry.integration().webhooks(),
        ) else {
            return Err(Error::not_found(
                errors::codes::NOT_SUPPORTED,
                format!("{} does not receive webhooks", request.key),
            ));
        };
        let inbound = request.view();
        let now = self.host.clock().now();

        if let Some(response) = handler.probe(&inbound) {
            return Ok(Prepared::Answer(response));
        }
        // Verify before reading: where the secrets do not depend on the payload, an
        // unauthenticated request is refused before the handler reads any of it. A
        // handler that still marks an unsigned probe as a handshake answered without
        // verification (rather than recognizing it in `probe`) is answered as before:
        // such an answer carries nothing.
        let passed = match self.verify_before_reading(source, &inbound, now).await {
            Ok(passed) => passed,
            Err(refused) => {
                return match handler.classify(&inbound) {
                    Ok(Classification::Handshake(handshake))
                        if handshake.verification == HandshakeVerification::Skip =>
                    {
                        Ok(Prepared::Answer(handshake.response))
                    }
                    _ => Err(refused),
                };
            }
        };

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
                check_target(&resolved.target, &handshake.routing)?;
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
                check_target(&resolved.target, &route.routing)?;
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
                let grant = normalized.grant.map(|change| (change, status));
                Ok(Prepared::Event(Box::new(event), grant))
            }
        }
    }

    /// Checks the signature before the payload is read, when the secrets it can be
    /// signed with are known without it: the route's endpoint key names the candidate
    /// connections, or the definition has a single target. Every secret of every such
    /// candidate is tried, so a failure here is a failure whichever candidate the payload
    /// routes to; a success is checked again against the connection it routes to.
    ///
    /// Otherwise (several targets, no endpoint key) nothing is checked here, and routing
    /// reads only the routing fields of the payload.
    ///
    /// The secret that passed, when something was checked, spares the check after
    /// routing a second HMAC of the body.
    async fn verify_before_reading(
        &self,
        source: &WebhookSource,
        request: &InboundRequest<'_>,
        now: Timestamp,
    ) -> Result<Option<Passed>, Error> {
        let candidates = match request.endpoint {
            Some(endpoint) => Some(self.endpoint_candidates(request.key, endpoint).await?),
            None => self.single_target_candidates(source, request.key).await?,
        };
        let Some((targets, connections)) = candidates else {
            return Ok(None);
        };
        let mut secrets = Vec::new();
        for target in &targets {
            secrets.extend(self.target_secrets(source, target)?);
        }
        for connection in &connections {
            secrets.extend(self.connection_secrets(source, connection, now).await?);
        }
        let verified = source
            .scheme()
            .verify(request.headers, request.body, &secrets, now)?;
        let secret = secrets.swap_remove(verified.secret_index);
        Ok(Some(Passed { secret, verified }))
    }

    /// The connections an endpoint key names, and their targets.
    async fn endpoint_candidates(
        &self,
        key: &DefinitionKey,
        endpoint: &str,
    ) -> Result<(Vec<Target>, Vec<Connection>), Error> {
        let query = ConnectionQuery::by_endpoint(key.clone(), endpoint);
        let mut candidates = self.host.connections().find_connections(&query).await?;
        candidates.retain(|c| query.matches(c));
        if candidates.is_empty() {
            return Err(no_live_connection());
        }
        let mut targets: Vec<Target> = Vec::new();
        let mut missing = None;
        for connection in &candidates {
            if targets
                .iter()
                .any(|t| t.tenant == connection.tenant && t.id == connection.target)
            {
                continue;
            }
            match self.target(connection).await {
                Ok(target) => targets.push(target),
                Err(error) => missing = Some(error),
            }
        }
        // No candidate's target exists: the answer routing would give.
        if let (true, Some(error)) = (targets.is_empty(), missing) {
            return Err(error);
        }
        Ok((targets, candidates))
    }

    /// The only target of `key`, and its connections when they can hold signing
    /// secrets; `None` when the definition has several targets (or none).
    async fn single_target_candidates(
        &self,
        source: &WebhookSource,
        key: &DefinitionKey,
    ) -> Result<Option<(Vec<Target>, Vec<Connection>)>, Error> {
        let mut targets = self.host.targets().find_targets(key).await?;
        targets.retain(|t| &t.key == key);
        if targets.len() != 1 {
            return Ok(None);
        }
        let mut connections = Vec::new();
        if source.connection_credential().is_some() {
            let target = &targets[0];
            connections = self
                .host
                .connections()
                .list_connections(&target.tenant)
                .await?;
            connections.retain(|c| c.target == target.id && &c.key == key);
        }
        Ok(Some((targets, connections)))
    }

    /// Verifies an app-level probe (a handshake naming no subject, on a route without an
    /// endpoint key) against the secrets of the definition's enabled targets: it comes
    /// when the app is set up, before any connection exists.
    async fn verify_app_level(
        &self,
        source: &WebhookSource,
        request: &InboundRequest<'_>,
        routing: &Routing,
        now: Timestamp,
    ) -> Result<(), Error> {
        let mut targets = self.host.targets().find_targets(request.key).await?;
        targets.retain(|t| &t.key == request.key && t.enabled);
        let mut refused = None;
        for target in &targets {
            let secrets = self.target_secrets(source, target)?;
            if secrets.is_empty() {
                continue;
            }
            match source
                .scheme()
                .verify(request.headers, request.body, &secrets, now)
            {
                Ok(_) => return check_target(target, routing),
                Err(error) => refused = Some(error),
            }
        }
        Err(refused.unwrap_or_else(|| {
            Error::not_found(
                errors::codes::UNROUTABLE,
                "the probe names no subject, and no enabled target of this integration holds a signing secret",
            )
        }))
    }

    async fn resolve(
        &self,
        source: &WebhookSource,
        request: &InboundRequest<'_>,
        routing: &Routing,
        handshake: bool,
        now: Timestamp,
    ) -> Result<Resolved, Error> {
        if routing.subject.is_none() && request.endpoint.is_none() {
            return Err(Error::not_found(
                errors::codes::UNROUTABLE,
                "the delivery names no subject to route by; use a route with an endpoint key",
            ));
        }
        let query = ConnectionQuery {
            key: request.key.clone(),
            external_subject: routing.subject.clone(),
            endpoint_key: request.endpoint.map(str::to_owned),
        };
        let mut candidates = self.host.connections().find_connections(&query).await?;
        // The store's answer is re-checked: a connection outside the query never wins.
        candidates.retain(|c| query.matches(c));
        // Revoked connections take no deliveries, except, for an event, when no live
        // connection matches: the event that revoked it may come again (a retry after a
        // failed delivery, a redelivery), and must then be applied and answered as it was
        // the first time. `prepare` refuses every other event for a revoked connection.
        let live = candidates.iter().any(|c| !is_revoked(c));
        if live || handshake {
            candidates.retain(|c| !is_revoked(c));
        }
        match candidates.len() {
            0 => Err(no_live_connection()),
            1 => {
                let connection = candidates.remove(0);
                let target = self.target(&connection).await?;
                Ok(Resolved {
                    connection: Some(connection),
                    target,
                })
            }
            // A handshake needs only the secrets of the target the candidates share.
            _ if handshake
                && candidates
                    .windows(2)
                    .all(|w| w[0].tenant == w[1].tenant && w[0].target == w[1].target) =>
            {
                let target = self.target(&candidates[0]).await?;
                Ok(Resolved {
                    connection: None,
                    target,
                })
            }
            // Several tenants connected the same provider-side subject, each through its
            // own target: the delivery belongs to the one whose secrets signed it.
            n => {
                let mut signed_by = Vec::new();
                let mut refused = None;
                for connection in candidates {
                    let target = self.target(&connection).await?;
                    let resolved = Resolved {
                        connection: Some(connection),
                        target,
                    };
                    match self.verify(source, &resolved, request, now, None).await {
                        Ok(_) => signed_by.push(resolved),
                        Err(error) => refused = Some(error),
                    }
                }
                match (signed_by.len(), refused) {
                    (1, _) => return Ok(signed_by.remove(0)),
                    (0, Some(error)) => return Err(error),
                    _ => {}
                }
                Err(Error::conflict(
                    errors::codes::AMBIGUOUS_CONNECTION,
                    format!(
                        "{n} connections match the delivery and share its signing secret; give each its own endpoint key"
                    ),
                ))
            }
        }
    }

    async fn target(&self, connection: &Connection) -> Result<Target, Error> {
        let target = self
            .host
            .targets()
            .get_target(&connection.tenant, &connection.target)
            .await?;
        match target {
            Some(target) if target.key == connection.key => Ok(target),
            _ => Err(Error::not_found(
                errors::codes::TARGET_NOT_FOUND,
                "the connection's target does not exist",
            )),
        }
    }

    async fn verify(
        &self,
        source: &WebhookSource,
        resolved: &Resolved,
        request: &InboundRequest<'_>,
        now: Timestamp,
        passed: Option<&Passed>,
    ) -> Result<Verified, Error> {
        let secrets = self.secrets(source, resolved, now).await?;
        let scheme = source.scheme();
        // A secret that verified the same headers and body at the same instant before
        // routing verifies them again: only the secrets ahead of it are checked, so that
        // the first one that matches is still the one reported.
        if let Some(passed) = passed
            && let Some(at) = secrets.iter().position(|s| {
                bool::from(
                    s.expose()
                        .as_bytes()
                        .ct_eq(passed.secret.expose().as_bytes()),
                )
            })
        {
            let ahead = match at {
                0 => None,
                _ => scheme
                    .verify(request.headers, request.body, &secrets[..at], now)
                    .ok(),
            };
            return Ok(ahead.unwrap_or(Verified {
                secret_index: at,
                ..passed.verified
            }));
        }
        scheme.verify(request.headers, request.body, &secrets, now)
    }

    /// Every signing secret of the target and the connection, for rotation.
    async fn secrets(
        &self,
        source: &WebhookSource,
        resolved: &Resolved,
        now: Timestamp,
    ) -> Result<Vec<Secret>, Error> {
        let mut secrets = self.target_secrets(source, &resolved.target)?;
        if let Some(connection) = &resolved.connection {
            secrets.extend(self.connection_secrets(source, connection, now).await?);
        }
        Ok(secrets)
    }

    /// The signing secrets in the target's sealed secrets.
    fn target_secrets(
        &self,
        source: &WebhookSource,
        target: &Target,
    ) -> Result<Vec<Secret>, Error> {
        let mut secrets = Vec::new();
        if !source.target_secret_fields().is_empty()
            && let Some(sealed) = &target.secrets
        {
            let plain = self
                .host
                .cipher()
                .open(sealed, &target_secrets_aad(target))?;
            let mut fields: BTreeMap<String, SecretList> =
                serde_json::from_slice(&plain).map_err(|_| {
                    Error::configuration(
                        errors::codes::INVALID_SECRET,
                        "the target secrets are not a JSON object",
                    )
                })?;
            for name in source.target_secret_fields() {
                if let Some(list) = fields.remove(name) {
                    secrets.extend(list.0);
                }
            }
        }
        Ok(secrets)
    }

    /// The signing secrets among the connection's credentials, unexpired.
    async fn connection_secrets(
        &self,
        source: &WebhookSource,
        connection: &Connection,
        now: Timestamp,
    ) -> Result<Vec<Secret>, Error> {
        let mut secrets = Vec::new();
        if let Some(credential_type) = source.connection_credential()
            && let Some(set) = self
                .host
                .credentials()
                .load_credentials(&connection.tenant, &connection.id)
                .await?
        {
            for credential in set.credentials.iter().filter(|c| {
                &c.credential_type == credential_type && c.expires_at.is_none_or(|at| at > now)
            }) {
                secrets.push(credential.open(connection, self.host.cipher())?);
            }
        }
        Ok(secrets)
    }

    /// Applies what a new event says about its connection's grant, audited. When the
    /// store fails, the event's record is released so the provider's retry applies it.
    async fn apply_grant(
        &self,
        event: &WebhookEvent,
        grant: Option<&(GrantChange, ConnectionStatus)>,
    ) -> Result<(), Error> {
        let Some((grant, current)) = grant else {
            return Ok(());
        };
        match self.change_status(event, grant, current).await {
            Ok(()) => Ok(()),
            Err(error) => {
                release(&self.host, event).await;
                Err(Error::new(
                    ErrorKind::Unavailable,
                    errors::codes::GRANT_CHANGE_FAILED,
                    "the connection's status could not be updated from the event; it was released so a redelivery is processed again",
                )
                .with_source(error))
            }
        }
    }

    async fn change_status(
        &self,
        event: &WebhookEvent,
        grant: &GrantChange,
        current: &ConnectionStatus,
    ) -> Result<(), Error> {
        let status = match (grant, current) {
            // Applied already (a retry of the event that revoked it).
            (GrantChange::Revoked { .. }, ConnectionStatus::Revoked { .. }) => return Ok(()),
            (GrantChange::Revoked { reason }, _) => ConnectionStatus::Revoked {
                reason: reason.clone(),
            },
            (GrantChange::Suspended { reason }, ConnectionStatus::Active) => {
                ConnectionStatus::Error {
                    reason: reason.clone(),
                }
            }
            (GrantChange::Resumed { suspended_reason }, ConnectionStatus::Error { reason })
                if reason == suspended_reason =>
            {
                ConnectionStatus::Active
            }
            // A suspension of a connection in error already: it refuses credentials, and
            // keeps the error that needs repair rather than one a resumption would clear.
            // A resumption of a connection not suspended (or in error for another
            // reason, which still needs repair).
            (GrantChange::Suspended { .. } | GrantChange::Resumed { .. }, _) => return Ok(()),
        };
        let connections = self.host.connections();
        let now = self.host.clock().now();
        let word = status.as_str();
        connections
            .set_connection_status(&event.tenant, &event.connection, status, now)
            .await?;
        tracing::info!(
            tenant = %event.tenant,
            connection = %event.connection,
            event_type = %event.event_type,
            status = word,
            "connection status changed by a webhook event"
        );
        self.host
            .audit()
            .record(
                AuditEvent::new(
                    now,
                    event.tenant.clone(),
                    AuditAction::CONNECTION_STATUS_CHANGED,
                    AuditOutcome::Success,
                )
                .with_key(event.key.clone())
                .with_connection(event.connection.clone())
                .with_detail("status", word)
                .with_detail("cause", "webhook")
                .with_detail("event_type", event.event_type.as_str())
                .with_detail("external_event_id", event.external_event_id.as_str()),
            )
            .await;
        Ok(())
    }

    async fn record(&self, event: &WebhookEvent) -> Result<bool, Error> {
        self.host.webhook_events().record_event_if_new(event).await
    }
}

struct Resolved {
    connection: Option<Connection>,
    target: Target,
}

/// A verification before routing: the secret that matched, and what it established.
struct Passed {
    secret: Secret,
    verified: Verified,
}

fn check_dedup_id(id: &str) -> Result<(), Error> {
    if id.is_empty() || id.len() > MAX_DEDUP_ID_LEN || id.chars().any(char::is_control) {
        return Err(errors::invalid_payload(
            "the delivery or event id is empty, too long or not printable",
        ));
    }
    Ok(())
}

fn check_target(target: &Target, routing: &Routing) -> Result<(), Error> {
    if !target.enabled {
        return Err(Error::not_found(
            errors::codes::TARGET_DISABLED,
            "the connection's target is disabled",
        ));
    }
    for claim in &routing.target_claims {
        let agrees = match target.config.pointer(&claim.pointer) {
            None | Some(serde_json::Value::Null) => true,
            Some(serde_json::Value::String(s)) => *s == claim.value,
            Some(serde_json::Value::Number(n)) => n.to_string() == claim.value,
            Some(_) => false,
        };
        if !agrees {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                errors::codes::TARGET_MISMATCH,
                "the delivery is for another app than the target's",
            ));
        }
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

fn is_revoked(connection: &Connection) -> bool {
    matches!(connection.status, ConnectionStatus::Revoked { .. })
}

fn no_live_connection() -> Error {
    Error::not_found(
        errors::codes::CONNECTION_NOT_FOUND,
        "no active connection matches the delivery",
    )
}

/// Releases an event's record so a redelivery is processed again.
async fn release(host: &Host, event: &WebhookEvent) {
    if let Err(forget) = host
        .webhook_events()
        .forget_event(&event.tenant, &event.key, &event.external_event_id)
        .await
    {
        tracing::warn!(
            code = forget.code(),
            "a webhook event could not be released after processing it failed"
        );
    }
}

async fn deliver(host: &Host, event: &WebhookEvent) -> Result<(), Error> {
    let Err(error) = host.events().deliver(event).await else {
        return Ok(());
    };
    release(host, event).await;
    Err(Error::new(
        ErrorKind::Unavailable,
        errors::codes::DELIVERY_FAILED,
        "the event sink did not take the event; it was released so a redelivery is processed again",
    )
    .with_source(error))
}

/// The values of one target-secret field: a string, an array of strings, or nothing.
struct SecretList(Vec<Secret>);

impl<'de> serde::Deserialize<'de> for SecretList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretListVisitor)
    }
}

struct SecretListVisitor;

impl<'de> Visitor<'de> for SecretListVisitor {
    type Value = SecretList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a secret or a list of secrets")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretList, E> {
        Ok(SecretList(vec![Secret::new(v)]))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<SecretList, E> {
        Ok(SecretList(vec![Secret::new(v)]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SecretList, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<SecretList>()? {
            out.extend(item.0);
        }
        Ok(SecretList(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretList, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(SecretList(Vec::new()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<SecretList, E> {
        Ok(SecretList(Vec::new()))
    }

    fn visit_none<E: de::Error>(self) -> Result<SecretList, E> {
        Ok(SecretList(Vec::new()))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretList, E> {
        Ok(SecretList(Vec::new()))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretList, E> {
        Ok(SecretList(Vec::new()))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretList, E> {
        Ok(SecretList(Vec::new()))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretList, E> {
        Ok(SecretList(Vec::new()))
    }
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
    fn secret_lists() {
        let fields: BTreeMap<String, SecretList> =
            serde_json::from_str(r#"{"a":"x","b":["y","z"],"c":null,"d":{"k":"v"},"e":1}"#)
                .unwrap();
        let exposed = |k: &str| -> Vec<String> {
            fields[k].0.iter().map(|s| s.expose().to_owned()).collect()
        };
        assert_eq!(exposed("a"), ["x"]);
        assert_eq!(exposed("b"), ["y", "z"]);
        assert!(exposed("c").is_empty() && exposed("d").is_empty() && exposed("e").is_empty());
    }

    #[test]
    fn dedup_ids() {
        assert!(check_dedup_id("72d3162e-cc78-11e3-81ab-4c9367dc0958").is_ok());
        assert!(check_dedup_id("").is_err());
        assert!(check_dedup_id("a\nb").is_err());
        assert!(check_dedup_id(&"x".repeat(257)).is_err());
    }
}
