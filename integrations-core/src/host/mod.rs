//! Host adapters: what the embedding application supplies.
//!
//! * [`HttpClient`]: outbound HTTP ([`ReqwestHttpClient`] by default, closures via
//!   [`from_fn`]).
//! * Stores, one small trait per record ([`TargetStore`], [`ConnectionStore`],
//!   [`CredentialStore`] with versioned compare-and-swap, [`BindingStore`],
//!   [`OAuthStateStore`] with take-once, [`WebhookEventStore`] with record-if-new,
//!   [`PublicationStore`], [`CheckpointStore`], [`ApprovalStore`] and
//!   [`ContinuationStore`] with take-once);
//!   [`Stores`] is all of them.
//! * [`SecretCipher`]: sealing secrets at rest ([`AesGcmKeyRing`] by default).
//! * [`Clock`], [`AuditSink`], [`EventSink`].
//!
//! [`Host`] bundles them for the engines. `integrations-testkit` implements every one in
//! memory.

mod audit;
mod clock;
mod events;
mod http;
#[cfg(feature = "reqwest")]
mod reqwest;
mod store;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

pub use self::audit::{
    AuditAction, AuditEvent, AuditEventRef, AuditOutcome, AuditSink, TracingAuditSink,
};
pub use self::clock::{Clock, Sleeper, SystemClock, TokioSleeper};
pub use self::events::EventSink;
pub use self::http::{FnHttpClient, HttpClient, HttpRequest, HttpResponse, from_fn, timeout_error};
#[cfg(feature = "reqwest")]
pub use self::reqwest::{ReqwestHttpClient, ReqwestHttpClientBuilder};
pub use self::store::{
    ApprovalStore, BindingStore, CheckpointStore, ConnectionQuery, ConnectionStore,
    ContinuationStore, CredentialStore, OAuthStateStore, PublicationStore, PurgeReport, Retention,
    Stores, TargetStore, WebhookEventStore, purge_expired, version_conflict,
};
use crate::Error;
use crate::model::WebhookEvent;
pub use crate::sealing::{Aad, AesGcmKeyRing, Sealed, SecretCipher, SecretCipherExt};

/// Everything the engines need from the embedding application, cheap to clone.
///
/// ```
/// # use std::sync::Arc;
/// # use integrations_core::host::{Host, AesGcmKeyRing, from_fn, Stores};
/// # fn build(stores: Arc<dyn Stores>) -> Result<Host, integrations_core::Error> {
/// let host = Host::builder()
///     .stores(stores)
///     .http(Arc::new(from_fn(|_req| async { Err(integrations_core::host::timeout_error()) })))
///     .cipher(Arc::new(AesGcmKeyRing::generate("k1")?))
///     .build()?;
/// # Ok(host) }
/// ```
#[derive(Clone)]
pub struct Host {
    http: Arc<dyn HttpClient>,
    targets: Arc<dyn TargetStore>,
    connections: Arc<dyn ConnectionStore>,
    credentials: Arc<dyn CredentialStore>,
    bindings: Arc<dyn BindingStore>,
    oauth_states: Arc<dyn OAuthStateStore>,
    webhook_events: Arc<dyn WebhookEventStore>,
    publications: Arc<dyn PublicationStore>,
    checkpoints: Arc<dyn CheckpointStore>,
    approvals: Arc<dyn ApprovalStore>,
    continuations: Arc<dyn ContinuationStore>,
    cipher: Arc<dyn SecretCipher>,
    clock: Arc<dyn Clock>,
    audit: Arc<dyn AuditSink>,
    events: Arc<dyn EventSink>,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host").finish_non_exhaustive()
    }
}

impl Host {
    /// A builder.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// Outbound HTTP.
    pub fn http(&self) -> &dyn HttpClient {
        &*self.http
    }

    /// The HTTP client as a shared handle.
    pub fn http_arc(&self) -> Arc<dyn HttpClient> {
        Arc::clone(&self.http)
    }

    /// Targets.
    pub fn targets(&self) -> &dyn TargetStore {
        &*self.targets
    }

    /// Connections.
    pub fn connections(&self) -> &dyn ConnectionStore {
        &*self.connections
    }

    /// Credentials.
    pub fn credentials(&self) -> &dyn CredentialStore {
        &*self.credentials
    }

    /// Bindings.
    pub fn bindings(&self) -> &dyn BindingStore {
        &*self.bindings
    }

    /// Pending authorizations.
    pub fn oauth_states(&self) -> &dyn OAuthStateStore {
        &*self.oauth_states
    }

    /// Received webhook events.
    pub fn webhook_events(&self) -> &dyn WebhookEventStore {
        &*self.webhook_events
    }

    /// Publications.
    pub fn publications(&self) -> &dyn PublicationStore {
        &*self.publications
    }

    /// Sync checkpoints.
    pub fn checkpoints(&self) -> &dyn CheckpointStore {
        &*self.checkpoints
    }

    /// Tool calls waiting for approval.
    pub fn approvals(&self) -> &dyn ApprovalStore {
        &*self.approvals
    }

    /// The unread pages of trimmed tool results.
    pub fn continuations(&self) -> &dyn ContinuationStore {
        &*self.continuations
    }

    /// The secret cipher.
    pub fn cipher(&self) -> &dyn SecretCipher {
        &*self.cipher
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// The clock as a shared handle.
    pub fn clock_arc(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.clock)
    }

    /// The audit sink.
    pub fn audit(&self) -> &dyn AuditSink {
        &*self.audit
    }

    /// The webhook event sink.
    pub fn events(&self) -> &dyn EventSink {
        &*self.events
    }
}

/// Builds a [`Host`]. HTTP, the stores and the cipher are required; the clock defaults
/// to [`SystemClock`], audit to [`TracingAuditSink`], and the event sink to one that
/// refuses every event (so a host that forgot it learns at its first webhook, not never).
#[derive(Default)]
#[must_use]
pub struct HostBuilder {
    http: Option<Arc<dyn HttpClient>>,
    targets: Option<Arc<dyn TargetStore>>,
    connections: Option<Arc<dyn ConnectionStore>>,
    credentials: Option<Arc<dyn CredentialStore>>,
    bindings: Option<Arc<dyn BindingStore>>,
    oauth_states: Option<Arc<dyn OAuthStateStore>>,
    webhook_events: Option<Arc<dyn WebhookEventStore>>,
    publications: Option<Arc<dyn PublicationStore>>,
    checkpoints: Option<Arc<dyn CheckpointStore>>,
    approvals: Option<Arc<dyn ApprovalStore>>,
    continuations: Option<Arc<dyn ContinuationStore>>,
    cipher: Option<Arc<dyn SecretCipher>>,
    clock: Option<Arc<dyn Clock>>,
    audit: Option<Arc<dyn AuditSink>>,
    events: Option<Arc<dyn EventSink>>,
}

impl fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostBuilder").finish_non_exhaustive()
    }
}

impl HostBuilder {
    /// Uses one value for every store.
    pub fn stores(mut self, stores: Arc<dyn Stores>) -> Self {
        self.targets = Some(stores.clone());
        self.connections = Some(stores.clone());
        self.credentials = Some(stores.clone());
        self.bindings = Some(stores.clone());
        self.oauth_states = Some(stores.clone());
        self.webhook_events = Some(stores.clone());
        self.publications = Some(stores.clone());
        self.checkpoints = Some(stores.clone());
        self.approvals = Some(stores.clone());
        self.continuations = Some(stores);
        self
    }

    /// Outbound HTTP.
    pub fn http(mut self, http: Arc<dyn HttpClient>) -> Self {
        self.http = Some(http);
        self
    }

    /// Targets (overrides [`stores`](Self::stores)).
    pub fn targets(mut self, store: Arc<dyn TargetStore>) -> Self {
        self.targets = Some(store);
        self
    }

    /// Connections (overrides [`stores`](Self::stores)).
    pub fn connections(mut self, store: Arc<dyn ConnectionStore>) -> Self {
        self.connections = Some(store);
        self
    }

    /// Credentials (overrides [`stores`](Self::stores)).
    pub fn credentials(mut self, store: Arc<dyn CredentialStore>) -> Self {
        self.credentials = Some(store);
        self
    }

    /// Bindings (overrides [`stores`](Self::stores)).
    pub fn bindings(mut self, store: Arc<dyn BindingStore>) -> Self {
        self.bindings = Some(store);
        self
    }

    /// Pending authorizations (overrides [`stores`](Self::stores)).
    pub fn oauth_states(mut self, store: Arc<dyn OAuthStateStore>) -> Self {
        self.oauth_states = Some(store);
        self
    }

    /// Webhook events (overrides [`stores`](Self::stores)).
    pub fn webhook_events(mut self, store: Arc<dyn WebhookEventStore>) -> Self {
        self.webhook_events = Some(store);
        self
    }

    /// Publications (overrides [`stores`](Self::stores)).
    pub fn publications(mut self, store: Arc<dyn PublicationStore>) -> Self {
        self.publications = Some(store);
        self
    }

    /// Sync checkpoints (overrides [`stores`](Self::stores)).
    pub fn checkpoints(mut self, store: Arc<dyn CheckpointStore>) -> Self {
        self.checkpoints = Some(store);
        self
    }

    /// Tool approvals (overrides [`stores`](Self::stores)).
    pub fn approvals(mut self, store: Arc<dyn ApprovalStore>) -> Self {
        self.approvals = Some(store);
        self
    }

    /// Tool-result continuations (overrides [`stores`](Self::stores)).
    pub fn continuations(mut self, store: Arc<dyn ContinuationStore>) -> Self {
        self.continuations = Some(store);
        self
    }

    /// The secret cipher.
    pub fn cipher(mut self, cipher: Arc<dyn SecretCipher>) -> Self {
        self.cipher = Some(cipher);
        self
    }

    /// The clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The audit sink.
    pub fn audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The webhook event sink.
    pub fn events(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = Some(events);
        self
    }

    /// Builds the host.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](crate::ErrorKind::Configuration)
    /// (`host.incomplete`) naming what is missing.
    pub fn build(self) -> Result<Host, Error> {
        let mut missing = Vec::new();
        macro_rules! need {
            ($field:ident) => {
                match self.$field {
                    Some(v) => Some(v),
                    None => {
                        missing.push(stringify!($field));
                        None
                    }
                }
            };
        }
        let http = need!(http);
        let targets = need!(targets);
        let connections = need!(connections);
        let credentials = need!(credentials);
        let bindings = need!(bindings);
        let oauth_states = need!(oauth_states);
        let webhook_events = need!(webhook_events);
        let publications = need!(publications);
        let checkpoints = need!(checkpoints);
        let approvals = need!(approvals);
        let continuations = need!(continuations);
        let cipher = need!(cipher);
        match (
            http,
            targets,
            connections,
            credentials,
            bindings,
            oauth_states,
            webhook_events,
            publications,
            checkpoints,
            approvals,
            continuations,
            cipher,
        ) {
            (
                Some(http),
                Some(targets),
                Some(connections),
                Some(credentials),
                Some(bindings),
                Some(oauth_states),
                Some(webhook_events),
                Some(publications),
                Some(checkpoints),
                Some(approvals),
                Some(continuations),
                Some(cipher),
            ) => Ok(Host {
                http,
                targets,
                connections,
                credentials,
                bindings,
                oauth_states,
                webhook_events,
                publications,
                checkpoints,
                approvals,
                continuations,
                cipher,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                audit: self.audit.unwrap_or_else(|| Arc::new(TracingAuditSink)),
                events: self
                    .events
                    .unwrap_or_else(|| Arc::new(UnconfiguredEventSink)),
            }),
            _ => Err(crate::codes::host::INCOMPLETE
                .error(format!("the host is missing: {}", missing.join(", ")))),
        }
    }
}

struct UnconfiguredEventSink;

#[async_trait]
impl EventSink for UnconfiguredEventSink {
    async fn deliver(&self, _event: &WebhookEvent) -> Result<(), Error> {
        Err(crate::codes::host::NO_EVENT_SINK
            .error("the host has no event sink; set one with HostBuilder::events"))
    }
}
