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
//!
//! A host gives only what its engines use. Every engine uses the targets, connections and
//! credentials stores and the cipher, so [`HostBuilder::build`] requires those; the other
//! stores and HTTP are optional, and a part not given fails every call with
//! `host.part_missing` naming it. Each engine lists the parts it uses in its docs:
//!
//! | engine | parts beyond targets, connections, credentials and the cipher |
//! |---|---|
//! | `webhook::Ingest` | webhook events, the event sink (checked by its constructor) |
//! | `webhook::ManagedWebhooks` | HTTP (checked by its constructor) |
//! | `auth::TokenManager` | HTTP, to refresh tokens and call credential resolvers |
//! | `auth::Authorizations` | OAuth states, HTTP |
//! | `auth::ApiKeyConnections`, `auth::ClientCredentialsConnections` | HTTP |
//! | `tools::Runtime` | HTTP; approvals (`ask` tools), publications, continuations |
//! | `sync::SyncRunner` | checkpoints, HTTP |
//! | `service::WriteService` | bindings (for binding writes) |
//! | `compile::ProfileInput::load` | bindings |
//!
//! Each engine lists them in its `HOST_PARTS` constant, for [`Host::require`]. A
//! webhook-only host, then, is four stores, a cipher and an event sink (see [`Host`]).

mod audit;
mod clock;
mod events;
mod http;
mod missing;
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
pub use self::missing::HostPart;
use self::missing::Missing;
#[cfg(feature = "reqwest")]
pub use self::reqwest::{ReqwestHttpClient, ReqwestHttpClientBuilder};
pub use self::store::{
    ApprovalStore, BindingStore, CheckpointStore, ConnectionQuery, ConnectionStore,
    ContinuationStore, CredentialStore, EventDelivery, OAuthStateStore, PublicationStore,
    PurgeReport, Retention, Stores, TargetStore, WebhookEventStore, purge_expired,
    version_conflict,
};
use crate::Error;
use crate::model::WebhookEvent;
pub use crate::sealing::{Aad, AesGcmKeyRing, Sealed, SecretCipher, SecretCipherExt};

/// Everything the engines need from the embedding application, cheap to clone (one
/// reference count: the parts live behind one [`Arc`]).
///
/// A host holds the targets, connections and credentials stores and the cipher, which
/// every engine uses; every other store and the HTTP client are optional (see
/// [`HostBuilder`]). The full case is one line per kind of part:
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
///
/// A host that only ingests webhooks gives the four stores
/// [`webhook::Ingest`](crate::webhook::Ingest) uses and the event sink its events go to,
/// and no HTTP client:
///
/// ```
/// # use std::sync::Arc;
/// # use integrations_core::host::{
/// #     AesGcmKeyRing, ConnectionStore, CredentialStore, EventSink, Host, HostPart,
/// #     TargetStore, WebhookEventStore,
/// # };
/// # fn build<S>(db: Arc<S>, events: Arc<dyn EventSink>) -> Result<Host, integrations_core::Error>
/// # where S: TargetStore + ConnectionStore + CredentialStore + WebhookEventStore + 'static {
/// let host = Host::builder()
///     .targets(db.clone())
///     .connections(db.clone())
///     .credentials(db.clone())
///     .webhook_events(db)
///     .cipher(Arc::new(AesGcmKeyRing::generate("k1")?))
///     .events(events)
///     .build()?;
/// assert!(host.has(HostPart::WebhookEvents) && host.has(HostPart::Events));
/// assert!(!host.has(HostPart::Checkpoints));
/// // A store it was not given fails with `host.part_missing`, naming it.
/// # Ok(host) }
/// ```
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

/// The parts of a [`Host`]; an optional part the builder was not given holds
/// [`Missing`].
struct HostInner {
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
    /// The optional parts the builder was not given, in [`HostPart`] order.
    missing: Vec<HostPart>,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("missing", &self.inner.missing)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// A builder.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// Whether the host was built with `part` (the required parts always are).
    pub fn has(&self, part: HostPart) -> bool {
        !self.inner.missing.contains(&part)
    }

    /// Checks that the host has every part in `needs`, for an engine (named `engine` in
    /// the error, such as `"webhook ingest"`) that uses them. Engines whose constructors
    /// return `Result` call it there, so a host missing a part is refused at start-up
    /// rather than at its first request.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](crate::ErrorKind::Configuration) (`host.part_missing`)
    /// naming every missing part and the builder method that sets it.
    pub fn require(&self, engine: &str, needs: &[HostPart]) -> Result<(), Error> {
        let mut absent: Vec<HostPart> = needs.iter().copied().filter(|p| !self.has(*p)).collect();
        if absent.is_empty() {
            return Ok(());
        }
        absent.sort_unstable();
        absent.dedup();
        let list = absent
            .iter()
            .map(|part| format!("the {} ({})", part.name(), part.how_to_set()))
            .collect::<Vec<_>>()
            .join(", ");
        Err(crate::codes::host::PART_MISSING.error(format!(
            "{engine} needs parts this host was built without: {list}"
        )))
    }

    /// Outbound HTTP.
    pub fn http(&self) -> &dyn HttpClient {
        &*self.inner.http
    }

    /// The HTTP client as a shared handle.
    pub fn http_arc(&self) -> Arc<dyn HttpClient> {
        Arc::clone(&self.inner.http)
    }

    /// Targets.
    pub fn targets(&self) -> &dyn TargetStore {
        &*self.inner.targets
    }

    /// Connections.
    pub fn connections(&self) -> &dyn ConnectionStore {
        &*self.inner.connections
    }

    /// Credentials.
    pub fn credentials(&self) -> &dyn CredentialStore {
        &*self.inner.credentials
    }

    /// Bindings.
    pub fn bindings(&self) -> &dyn BindingStore {
        &*self.inner.bindings
    }

    /// Pending authorizations.
    pub fn oauth_states(&self) -> &dyn OAuthStateStore {
        &*self.inner.oauth_states
    }

    /// Received webhook events.
    pub fn webhook_events(&self) -> &dyn WebhookEventStore {
        &*self.inner.webhook_events
    }

    /// Publications.
    pub fn publications(&self) -> &dyn PublicationStore {
        &*self.inner.publications
    }

    /// Sync checkpoints.
    pub fn checkpoints(&self) -> &dyn CheckpointStore {
        &*self.inner.checkpoints
    }

    /// Tool calls waiting for approval.
    pub fn approvals(&self) -> &dyn ApprovalStore {
        &*self.inner.approvals
    }

    /// The unread pages of trimmed tool results.
    pub fn continuations(&self) -> &dyn ContinuationStore {
        &*self.inner.continuations
    }

    /// The secret cipher.
    pub fn cipher(&self) -> &dyn SecretCipher {
        &*self.inner.cipher
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }

    /// The clock as a shared handle.
    pub fn clock_arc(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.inner.clock)
    }

    /// The audit sink.
    pub fn audit(&self) -> &dyn AuditSink {
        &*self.inner.audit
    }

    /// The webhook event sink.
    pub fn events(&self) -> &dyn EventSink {
        &*self.inner.events
    }
}

/// Builds a [`Host`].
///
/// Required: the [`targets`](Self::targets), [`connections`](Self::connections) and
/// [`credentials`](Self::credentials) stores (or all of them through
/// [`stores`](Self::stores)) and the [`cipher`](Self::cipher), which every engine uses.
///
/// Optional: HTTP and the other stores. A part not given is a stand-in that fails every
/// call with `host.part_missing` naming the part and the method that sets it, so a host
/// gives only what its engines use: a webhook-only host needs no HTTP client and no
/// checkpoint, approval, continuation, OAuth state, binding or publication store. Each
/// engine's docs list the parts it uses ("# Host"); engines with a fallible constructor
/// check them there ([`Host::require`]).
///
/// Defaults: the clock is [`SystemClock`], audit [`TracingAuditSink`]. Without an event
/// sink the host lacks [`HostPart::Events`]: [`webhook::Ingest`](crate::webhook::Ingest)
/// refuses it at start-up, and a delivery through it anyway fails with
/// `host.no_event_sink`.
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
    /// (`host.incomplete`) naming each required part that is missing: the targets,
    /// connections or credentials store, or the cipher.
    pub fn build(self) -> Result<Host, Error> {
        let absent = [
            ("targets", self.targets.is_none()),
            ("connections", self.connections.is_none()),
            ("credentials", self.credentials.is_none()),
            ("cipher", self.cipher.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect::<Vec<_>>();
        let (Some(targets), Some(connections), Some(credentials), Some(cipher)) = (
            self.targets,
            self.connections,
            self.credentials,
            self.cipher,
        ) else {
            return Err(crate::codes::host::INCOMPLETE.error(format!(
                "the host is missing: {} (set the stores with HostBuilder::stores or one \
                 method each, the cipher with HostBuilder::cipher)",
                absent.join(", ")
            )));
        };
        let mut missing = Vec::new();
        macro_rules! optional {
            ($field:ident, $part:expr) => {
                match self.$field {
                    Some(given) => given,
                    None => {
                        missing.push($part);
                        Arc::new(Missing)
                    }
                }
            };
        }
        let http: Arc<dyn HttpClient> = optional!(http, HostPart::Http);
        let bindings: Arc<dyn BindingStore> = optional!(bindings, HostPart::Bindings);
        let oauth_states: Arc<dyn OAuthStateStore> = optional!(oauth_states, HostPart::OAuthStates);
        let webhook_events: Arc<dyn WebhookEventStore> =
            optional!(webhook_events, HostPart::WebhookEvents);
        let publications: Arc<dyn PublicationStore> =
            optional!(publications, HostPart::Publications);
        let checkpoints: Arc<dyn CheckpointStore> = optional!(checkpoints, HostPart::Checkpoints);
        let approvals: Arc<dyn ApprovalStore> = optional!(approvals, HostPart::Approvals);
        let continuations: Arc<dyn ContinuationStore> =
            optional!(continuations, HostPart::Continuations);
        Ok(Host {
            inner: Arc::new(HostInner {
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
                events: self.events.unwrap_or_else(|| {
                    missing.push(HostPart::Events);
                    Arc::new(UnconfiguredEventSink)
                }),
                missing,
            }),
        })
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
