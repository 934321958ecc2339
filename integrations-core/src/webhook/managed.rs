//! [`ManagedWebhooks`]: registering a connection's webhook at the provider when it is
//! connected and deleting it when it is disconnected.
//!
//! For a connection whose provider has a [`WebhookRegistrar`] for its method:
//!
//! 1. the connection gets an endpoint key (kept if it has one), so its delivery URL
//!    `{base}/webhooks/{family}/{variant}/{endpoint key}` is its own;
//! 2. a signing secret (32 random bytes, hex) is generated and stored **sealed** among
//!    the connection's credentials as a `webhook_secret` in slot
//!    [`MANAGED_WEBHOOK_SLOT`], *before* the provider is called, so a retry after any
//!    failure reuses it; the ingest pipeline verifies deliveries with it, as it does any
//!    `webhook_secret` credential of the connection;
//! 3. the registrar finds a hook already registered for the URL or creates one;
//! 4. the provider's hook id is recorded on the connection
//!    ([`Connection::managed_webhook`](crate::model::Connection::managed_webhook)).
//!
//! Disconnecting deletes the hook **before** the grant is revoked (the provider's API
//! needs a live token to delete it). A provider failure there is logged and reported
//! ([`WebhookRemoval::Failed`]) but never keeps the connection active.
//!
//! Registrations of one connection take turns, since finding a hook by its URL and then
//! creating one is not atomic at the provider: in one process, a registration waits for
//! the one in progress; across processes, it takes a lease in the host's checkpoint
//! store (the lease of sync streams, under the name [`REGISTRATION_LEASE`]) when the host
//! has one, and is refused with `webhook.registration_in_progress` (a conflict: register
//! again) while another process holds it. A disconnect with managed webhooks takes the
//! same turn and lease (without the lease when another process holds it), so a
//! registration never records a hook between a disconnect's read and its revocation in
//! one process.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::credential::CredentialSource;
use crate::definition::ConnectionMethodKind;
use crate::host::{Host, HostPart};
use crate::model::ManagedWebhook;
use crate::model::{Connection, Credential, CredentialType, SyncLease};
use crate::plan::CredentialSelector;
use crate::provider::tools::ToolHttp;
use crate::provider::webhook::{HookRemoval, HookRequest, RegisteredHook, WebhookRegistrar};
use crate::registry::RegisteredIntegration;
use crate::schema::Parsed;
use crate::sealing::SecretCipherExt;
use crate::{ConnectionId, Error, Registry, Secret, TenantId};

/// The credential slot holding a managed webhook's generated signing secret (type
/// `webhook_secret`).
pub const MANAGED_WEBHOOK_SLOT: &str = "managed";

/// What disconnecting did with a connection's managed webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookRemoval {
    /// The connection had no managed webhook (or no [`ManagedWebhooks`] was configured).
    NotManaged,
    /// The provider deleted the hook.
    Deleted,
    /// The provider no longer had it.
    AlreadyGone,
    /// The provider could not delete it (the disconnect went on; the hook may still be
    /// registered at the provider, and its deliveries are refused as the connection is
    /// revoked).
    Failed {
        /// The failure's stable code.
        code: String,
    },
}

impl WebhookRemoval {
    /// `not_managed`, `deleted`, `already_gone` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NotManaged => "not_managed",
            Self::Deleted => "deleted",
            Self::AlreadyGone => "already_gone",
            Self::Failed { .. } => "failed",
        }
    }
}

/// Registers and deletes connections' webhooks at their providers. Cheap to clone.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use integrations_core::{Registry, TenantId, ConnectionId};
/// # use integrations_core::host::Host;
/// # use integrations_core::auth::{ApiKeyConnections, Authorizations, TokenManager};
/// # use integrations_core::webhook::ManagedWebhooks;
/// # async fn wire(registry: Arc<Registry>, host: Host, tokens: Arc<TokenManager>)
/// #     -> Result<(), integrations_core::Error> {
/// let managed = ManagedWebhooks::new(registry.clone(), host.clone(), tokens,
///     "https://hooks.example.com")?;
/// // Register after every connect, delete on disconnect:
/// let auth = Authorizations::new(registry.clone(), host.clone())
///     .with_managed_webhooks(managed.clone());
/// let keys = ApiKeyConnections::new(registry, host).with_managed_webhooks(managed.clone());
/// // Or by hand (idempotent):
/// managed.register(&TenantId::new("acme")?, &ConnectionId::new("conn_1")?).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ManagedWebhooks {
    registry: Arc<Registry>,
    host: Host,
    credentials: Arc<dyn CredentialSource>,
    base_url: url::Url,
    /// The turn of each connection being registered in this process.
    turns: Arc<Mutex<Turns>>,
}

/// A turn (an async lock) per connection being registered.
type Turns = HashMap<(TenantId, ConnectionId), Arc<tokio::sync::Mutex<()>>>;

/// The name of the lease a registration takes in the host's checkpoint store (beside
/// the sync streams' leases of the connection; no stream is named so).
pub const REGISTRATION_LEASE: &str = "@managed-webhook";

/// How long a registration's lease lasts: longer than a registration's provider calls
/// take, short enough that a process that died while registering holds up no other long.
const REGISTRATION_LEASE_TTL: Duration = Duration::from_secs(120);

/// How many times a connection write is tried again over a record another writer
/// changed meanwhile.
const MAX_WRITE_ATTEMPTS: u32 = 3;

/// A registration lease this process holds. Released by [`release`](Self::release), or,
/// when the registration's future is dropped before (a request handler cancelled), by a
/// task spawned on drop: the connection is free again at once, not after
/// [`REGISTRATION_LEASE_TTL`].
struct HeldLease {
    host: Host,
    lease: Option<SyncLease>,
}

impl HeldLease {
    async fn release(mut self) {
        if let Some(lease) = self.lease.take() {
            release_lease(&self.host, &lease).await;
        }
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let host = self.host.clone();
            runtime.spawn(async move { release_lease(&host, &lease).await });
        }
    }
}

async fn release_lease(host: &Host, lease: &SyncLease) {
    let released = host
        .checkpoints()
        .release_sync_lease(
            &lease.tenant,
            &lease.connection,
            &lease.stream,
            &lease.holder,
        )
        .await;
    if let Err(e) = released {
        tracing::warn!(
            target: "integrations::webhook",
            code = e.code(),
            "could not release a webhook registration lease; it will expire"
        );
    }
}

impl fmt::Debug for ManagedWebhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedWebhooks")
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

fn failed(code: crate::Code, message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    code.error(message)
}

/// The credential a provider's API takes for a connection of this method.
fn api_credential(
    entry: &RegisteredIntegration,
    connection: &Connection,
) -> Option<CredentialSelector> {
    entry
        .method(&connection.method)?
        .default_credential()
        .cloned()
}

/// Keeps a connection's managed webhook secret when its credentials are replaced
/// (reauthorization, a new API key): `replacement` plus the managed secret of `current`.
pub(crate) fn keep_managed_secret(
    current: Option<&crate::model::CredentialSet>,
    mut replacement: Vec<Credential>,
) -> Vec<Credential> {
    if let Some(set) = current {
        let replaced = |c: &Credential| {
            replacement.iter().any(|r| {
                r.credential_type == c.credential_type && r.slot.as_deref() == c.slot.as_deref()
            })
        };
        let kept: Vec<Credential> = set
            .credentials
            .iter()
            .filter(|c| is_managed_secret(c) && !replaced(c))
            .cloned()
            .collect();
        replacement.extend(kept);
    }
    replacement
}

fn is_managed_secret(credential: &Credential) -> bool {
    credential.credential_type == CredentialType::WEBHOOK_SECRET
        && credential.slot.as_deref() == Some(MANAGED_WEBHOOK_SLOT)
}

/// Everything a registrar call needs, loaded once.
struct Loaded {
    connection: Connection,
    entry: Arc<RegisteredIntegration>,
    selector: CredentialSelector,
    target_config: Parsed,
    connection_config: Parsed,
}

impl ManagedWebhooks {
    /// The parts of the host managed webhooks use (beyond the cipher).
    pub const HOST_PARTS: &'static [HostPart] =
        &[HostPart::Connections, HostPart::Credentials, HostPart::Http];

    /// Registers hooks delivering to `public_base_url` (where the host serves
    /// `/webhooks/...`), calling providers with credentials from `credentials` (the
    /// [`TokenManager`](crate::auth::TokenManager)).
    ///
    /// # Host
    ///
    /// Uses the connections and credentials stores, the cipher, the clock and the HTTP
    /// client ([`HOST_PARTS`](Self::HOST_PARTS)); when the host has a checkpoint store,
    /// also its leases, so that registrations of one connection in several processes
    /// take turns ([`REGISTRATION_LEASE`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](crate::ErrorKind::Configuration) (`webhook.invalid_base_url`) unless the URL is an
    /// absolute `https` URL (or `http` on a loopback host, for tests) with no query,
    /// fragment or credentials; `host.part_missing` when the host has no HTTP client.
    pub fn new(
        registry: Arc<Registry>,
        host: Host,
        credentials: Arc<dyn CredentialSource>,
        public_base_url: &str,
    ) -> Result<Self, Error> {
        host.require("managed webhooks", Self::HOST_PARTS)?;
        let invalid = || {
            crate::codes::webhook::INVALID_BASE_URL.error("the public webhook base URL must be an https URL with no query, fragment or credentials",
            )
        };
        let base_url = url::Url::parse(public_base_url).map_err(|_| invalid())?;
        let loopback = match base_url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        let scheme_ok = base_url.scheme() == "https" || (base_url.scheme() == "http" && loopback);
        if !scheme_ok
            || base_url.host().is_none()
            || base_url.query().is_some()
            || base_url.fragment().is_some()
            || !base_url.username().is_empty()
            || base_url.password().is_some()
        {
            return Err(invalid());
        }
        Ok(Self {
            registry,
            host,
            credentials,
            base_url,
            turns: Arc::default(),
        })
    }

    /// The delivery URL of a connection with an endpoint key.
    pub fn url_for(&self, connection: &Connection) -> Option<String> {
        let endpoint = connection.endpoint_key.as_deref()?;
        let base = self.base_url.as_str().trim_end_matches('/');
        Some(format!(
            "{base}/webhooks/{}/{}/{endpoint}",
            connection.key.family(),
            connection.key.variant()
        ))
    }

    /// Whether connections like this one have a managed webhook.
    pub fn is_managed(&self, connection: &Connection) -> bool {
        self.registrar_of(connection).is_some()
    }

    fn registrar_of(&self, connection: &Connection) -> Option<Arc<RegisteredIntegration>> {
        let entry = self.registry.get(&connection.key)?;
        entry
            .integration()
            .webhook_registrar(&connection.method)
            .map(|_| Arc::clone(entry))
    }

    async fn get(&self, tenant: &TenantId, id: &ConnectionId) -> Result<Connection, Error> {
        self.host
            .connections()
            .get_connection(tenant, id)
            .await?
            .ok_or_else(crate::loaded::connection_not_found)
    }

    async fn load(&self, connection: Connection) -> Result<Option<Loaded>, Error> {
        let Some(entry) = self.registrar_of(&connection) else {
            return Ok(None);
        };
        let Some(selector) = api_credential(&entry, &connection) else {
            return Ok(None);
        };
        let target = crate::loaded::Loader::new(Arc::clone(&self.registry), self.host.clone())
            .target_of(&connection)
            .await?;
        target.check_connection(&connection)?;
        let target_config = target.config.clone();
        let method = entry.method(&connection.method).ok_or_else(|| {
            crate::codes::webhook::UNKNOWN_METHOD.error(format!(
                "{} has no connection method {}",
                connection.key, connection.method
            ))
        })?;
        let connection_config = method.parse_stored_config(&connection.config)?;
        Ok(Some(Loaded {
            connection,
            entry,
            selector,
            target_config,
            connection_config,
        }))
    }

    fn http(&self, loaded: &Loaded, action: &str) -> Result<ToolHttp, Error> {
        let headers = loaded
            .entry
            .definition()
            .default_headers(&loaded.target_config)?;
        Ok(ToolHttp::new(
            self.host.clone(),
            Arc::clone(&self.credentials),
            Arc::new(loaded.connection.clone()),
            Arc::from(action),
            None,
        )
        .with_default_headers(Arc::new(headers)))
    }

    /// The connection's managed secret, generating and storing (sealed) one if it has
    /// none.
    async fn secret(&self, connection: &Connection) -> Result<Secret, Error> {
        let aad = crate::sealing::credential_aad(
            &connection.tenant,
            &connection.id,
            CredentialType::WEBHOOK_SECRET.as_str(),
            Some(MANAGED_WEBHOOK_SLOT),
        );
        let mut attempts = 0;
        loop {
            let set = self
                .host
                .credentials()
                .load_credentials(&connection.tenant, &connection.id)
                .await?;
            if let Some(existing) = set
                .as_ref()
                .and_then(|s| s.credentials.iter().find(|c| is_managed_secret(c)))
            {
                return existing.open(connection, self.host.cipher());
            }
            let secret = crate::sealing::random_secret_hex()?;
            let sealed = self.host.cipher().seal_secret(&secret, &aad)?;
            let credential = Credential::new(
                CredentialType::WEBHOOK_SECRET,
                sealed,
                self.host.clock().now(),
            )
            .with_slot(MANAGED_WEBHOOK_SLOT);
            let (version, mut credentials) = match set {
                Some(set) => (Some(set.version), set.credentials),
                None => (None, Vec::new()),
            };
            credentials.push(credential);
            match self
                .host
                .credentials()
                .swap_credentials(&connection.tenant, &connection.id, version, credentials)
                .await
            {
                Ok(_) => return Ok(secret),
                Err(e) if e.is_conflict() && attempts < 3 => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Registers the connection's webhook at its provider, idempotently: a second call
    /// finds the hook the first one made. Returns `None` when the connection's provider
    /// and method have no managed webhooks (a GitHub App installation: its webhooks are
    /// the app's).
    ///
    /// # Errors
    ///
    /// `auth.connection_not_found`; `auth.connection_not_active`; the target's
    /// errors from the [`Loader`](crate::loaded::Loader) (`auth.target_disabled` ...) and
    /// the connection's stored configuration errors; the provider's refusals (missing
    /// admin rights, validation) and transport errors (the generated secret and the
    /// endpoint key stay stored, so a retry registers the same hook);
    /// `webhook.registration_in_progress` while another process registers or disconnects
    /// the same connection (register again shortly); storage errors.
    pub async fn register(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<ManagedWebhook>, Error> {
        let connection = self.get(tenant, id).await?;
        self.register_connection(connection).await
    }

    /// Registers `connection`'s webhook in its turn: after the registration of the same
    /// connection in progress in this process, and under the connection's registration
    /// lease when the host has a checkpoint store. The connection is read again once the
    /// turn is taken (the registration before may have changed it).
    async fn register_connection(
        &self,
        connection: Connection,
    ) -> Result<Option<ManagedWebhook>, Error> {
        if !self.is_managed(&connection) {
            return self.register_in_turn(connection).await;
        }
        let key = (connection.tenant.clone(), connection.id.clone());
        self.in_turn(key, self.register_under_lease(&connection))
            .await
    }

    /// Runs `work` in the connection `key`'s turn: after the registration or disconnect of
    /// the same connection in progress in this process.
    async fn in_turn<T>(&self, key: (TenantId, ConnectionId), work: impl Future<Output = T>) -> T {
        let turn = Arc::clone(self.lock_turns().entry(key.clone()).or_default());
        let guard = turn.lock().await;
        let result = work.await;
        drop(guard);
        // The last user of the connection's turn in this process forgets it.
        let mut turns = self.lock_turns();
        if turns
            .get(&key)
            .is_some_and(|t| Arc::ptr_eq(t, &turn) && Arc::strong_count(t) == 2)
        {
            turns.remove(&key);
        }
        result
    }

    /// Runs `work`, a disconnect of connection `id`, in the connection's turn and under
    /// its registration lease when the host keeps leases: a registration of the
    /// connection in progress here ends first (its hook recorded, so the disconnect
    /// deletes it), and one asked meanwhile waits, then finds the connection revoked.
    /// When another process holds the lease, the disconnect goes on without it (that
    /// registration deletes its hook if it finds the connection revoked, which it can
    /// only while the grant still works).
    pub(crate) async fn disconnect_in_turn<T>(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        work: impl Future<Output = T>,
    ) -> T {
        let key = (tenant.clone(), id.clone());
        self.in_turn(key, async {
            let lease = match self.take_lease(tenant, id).await {
                Ok(lease) => lease,
                Err(error) => {
                    if error.code() == crate::codes::webhook::REGISTRATION_IN_PROGRESS.as_str() {
                        tracing::warn!(
                            target: "integrations::webhook",
                            tenant = %tenant,
                            connection = %id,
                            "disconnecting while another process registers or disconnects the connection"
                        );
                    } else {
                        tracing::warn!(
                            target: "integrations::webhook",
                            tenant = %tenant,
                            connection = %id,
                            code = error.code(),
                            "the connection's registration lease could not be taken; disconnecting without it"
                        );
                    }
                    None
                }
            };
            let result = work.await;
            if let Some(lease) = lease {
                lease.release().await;
            }
            result
        })
        .await
    }

    /// Registers the connection, read again, under its registration lease (when the
    /// host keeps leases), released afterwards whatever the outcome.
    async fn register_under_lease(
        &self,
        connection: &Connection,
    ) -> Result<Option<ManagedWebhook>, Error> {
        let lease = self.take_lease(&connection.tenant, &connection.id).await?;
        let result = match self.get(&connection.tenant, &connection.id).await {
            Ok(current) => self.register_in_turn(current).await,
            Err(e) => Err(e),
        };
        if let Some(lease) = lease {
            lease.release().await;
        }
        result
    }

    fn lock_turns(&self) -> std::sync::MutexGuard<'_, Turns> {
        self.turns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection's registration lease, when the host has a checkpoint store.
    ///
    /// # Errors
    ///
    /// `webhook.registration_in_progress` while another process holds it; storage errors.
    async fn take_lease(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<HeldLease>, Error> {
        if !self.host.has(HostPart::Checkpoints) {
            return Ok(None);
        }
        let now = self.host.clock().now();
        let lease = SyncLease::new(
            tenant.clone(),
            id.clone(),
            REGISTRATION_LEASE,
            crate::sealing::random_hex()?,
            now.saturating_add(REGISTRATION_LEASE_TTL),
        );
        if self
            .host
            .checkpoints()
            .acquire_sync_lease(&lease, now)
            .await?
        {
            Ok(Some(HeldLease {
                host: self.host.clone(),
                lease: Some(lease),
            }))
        } else {
            Err(crate::codes::webhook::REGISTRATION_IN_PROGRESS.error(
                "another process is registering this connection's webhook; register again shortly",
            ))
        }
    }

    async fn register_in_turn(
        &self,
        mut connection: Connection,
    ) -> Result<Option<ManagedWebhook>, Error> {
        if !connection.is_active() {
            return Err(crate::codes::auth::CONNECTION_NOT_ACTIVE
                .error(format!("the connection is {}", connection.status.as_str())));
        }
        if self.registrar_of(&connection).is_none() {
            return Ok(None);
        }
        if connection.endpoint_key.is_none() {
            let read = connection.clone();
            connection.endpoint_key = Some(format!("ep_{}", crate::sealing::random_hex()?));
            connection.touch(self.host.clock().now());
            // Written only over the record read: a revocation, or another registration
            // giving it a key, landing meanwhile is kept, and the record read again
            // below is the one both registrations use.
            self.host
                .connections()
                .put_connection_if_unchanged(&read, &connection)
                .await?;
            connection = self.get(&connection.tenant, &connection.id).await?;
        }
        let Some(loaded) = self.load(connection).await? else {
            return Ok(None);
        };
        let url = self
            .url_for(&loaded.connection)
            .ok_or_else(|| Error::internal("the connection has no endpoint key"))?;
        let secret = self.secret(&loaded.connection).await?;
        let http = self.http(&loaded, "webhook.register")?;
        let registrar = registrar(&loaded)?;
        let now = self.host.clock().now();
        let request = HookRequest {
            connection: &loaded.connection,
            method: method_kind(&loaded)?,
            credential: &loaded.selector,
            target_config: &loaded.target_config,
            connection_config: &loaded.connection_config,
            url: &url,
            place: None,
            http: &http,
            now,
        };
        let hook = registrar.register(&request, &secret).await?;
        let record = ManagedWebhook::new(hook.hook_id.clone(), url.clone(), now)
            .with_place(hook.place.clone());
        // The provider call took time: a disconnect may have revoked the connection, or
        // another registration changed its endpoint. The hook id goes on the record as
        // stored now, never on the copy read before the call, so a revoked connection
        // is not written back active; a hook that no longer belongs to a live
        // connection's URL is deleted again. The write is a new revision of that record
        // (`touch`), even in the millisecond the endpoint key was written: a writer that
        // read the record before the hook was recorded (a reauthorization during the
        // provider call) cannot write over it and lose the hook.
        let mut attempts = 0;
        let previous = loop {
            // A storage failure leaves the hook unrecorded, where no disconnect would find
            // it: one this registration created is deleted again.
            let stored = match self
                .host
                .connections()
                .get_connection(&loaded.connection.tenant, &loaded.connection.id)
                .await
            {
                Ok(stored) => stored,
                Err(error) => {
                    return Err(self.undo_created(registrar, &request, &hook, error).await);
                }
            };
            let changed = match stored {
                Some(stored)
                    if stored.is_active()
                        && stored.endpoint_key == loaded.connection.endpoint_key =>
                {
                    let mut connection = stored.clone();
                    let previous = connection.managed_webhook.replace(record.clone());
                    connection.touch(self.host.clock().now());
                    // Over the record just read only: a revocation landing between the
                    // read and the write must not be written back active.
                    match self
                        .host
                        .connections()
                        .put_connection_if_unchanged(&stored, &connection)
                        .await
                    {
                        Ok(true) => break previous,
                        Ok(false) => {}
                        Err(error) => {
                            return Err(self.undo_created(registrar, &request, &hook, error).await);
                        }
                    }
                    attempts += 1;
                    if attempts < MAX_WRITE_ATTEMPTS {
                        continue;
                    }
                    // Other writers kept winning. A hook the connection has on record
                    // already (found, not created) stays: deleting it would leave the
                    // record naming a hook the provider no longer has.
                    if stored
                        .managed_webhook
                        .as_ref()
                        .is_some_and(|kept| kept.hook_id == record.hook_id)
                    {
                        return Err(crate::codes::webhook::REGISTRATION_RACED.error(
                            "other writes to the connection kept landing during its registration; its recorded hook was kept, register again",
                        ));
                    }
                    Some(stored)
                }
                stored => stored,
            };
            if let Err(error) = registrar.unregister(&request, &record.hook_id).await {
                tracing::warn!(
                    target: "integrations::webhook",
                    tenant = %loaded.connection.tenant,
                    connection = %loaded.connection.id,
                    code = error.code(),
                    "the hook of a connection changed during its registration could not be deleted"
                );
            }
            return Err(match changed {
                Some(stored) if !stored.is_active() => {
                    crate::codes::auth::CONNECTION_NOT_ACTIVE.error(format!(
                        "the connection became {} while its webhook was registered; the hook was deleted",
                        stored.status.as_str()
                    ))
                }
                Some(_) => crate::codes::webhook::REGISTRATION_RACED.error(
                    "another registration changed the connection's endpoint meanwhile; the hook was deleted, register again",
                ),
                None => crate::loaded::connection_not_found(),
            });
        };
        // The hook recorded before was replaced: the connection's config moved it to
        // another place (another repository), its endpoint key changed, or another
        // registration recorded one this one did not find. Left in place, it would keep
        // delivering (to a dead URL, or every event twice), so it is deleted where it
        // lives.
        // (Not one kept under the same id: a provider's hook ids name one hook wherever
        // it lives, and a place spelt another way, `Octo/App` for `octo/app`, is the
        // same place to it.)
        if let Some(previous) = previous
            && previous.hook_id != record.hook_id
        {
            let old = HookRequest {
                url: &previous.url,
                place: previous.place.as_deref(),
                ..request
            };
            if let Err(error) = registrar.unregister(&old, &previous.hook_id).await {
                tracing::warn!(
                    target: "integrations::webhook",
                    tenant = %loaded.connection.tenant,
                    connection = %loaded.connection.id,
                    code = error.code(),
                    "the hook the connection had before could not be deleted"
                );
            }
        }
        tracing::info!(
            target: "integrations::webhook",
            tenant = %loaded.connection.tenant,
            connection = %loaded.connection.id,
            hook = %record.hook_id,
            created = hook.created,
            "managed webhook registered"
        );
        Ok(Some(record))
    }

    /// `error`, after deleting `hook` again when this registration created it and it is
    /// not on record. A failed write may have been applied (a database can commit and
    /// lose the reply), so the record is read again first; when it cannot be read, the
    /// hook is kept: a hook left unrecorded still delivers, one deleted under its
    /// record would silently end the connection's events.
    async fn undo_created(
        &self,
        registrar: &dyn WebhookRegistrar,
        request: &HookRequest<'_>,
        hook: &RegisteredHook,
        error: Error,
    ) -> Error {
        if !hook.created {
            return error;
        }
        let recorded = match self
            .host
            .connections()
            .get_connection(&request.connection.tenant, &request.connection.id)
            .await
        {
            Ok(stored) => stored
                .and_then(|c| c.managed_webhook)
                .is_some_and(|kept| kept.hook_id == hook.hook_id),
            Err(_) => true,
        };
        if !recorded && let Err(undo) = registrar.unregister(request, &hook.hook_id).await {
            tracing::warn!(
                target: "integrations::webhook",
                tenant = %request.connection.tenant,
                connection = %request.connection.id,
                code = undo.code(),
                "a hook whose registration could not be recorded could not be deleted"
            );
        }
        error
    }

    /// Deletes the connection's webhook at its provider, forgets its hook id and its
    /// signing secret (so deliveries signed with it no longer verify). Returns `None` when
    /// the connection has no managed webhook.
    ///
    /// # Errors
    ///
    /// `auth.connection_not_found`; the target's errors from the
    /// [`Loader`](crate::loaded::Loader); the provider's refusals and transport errors
    /// (nothing is changed then); storage errors.
    pub async fn unregister(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<HookRemoval>, Error> {
        let connection = self.get(tenant, id).await?;
        let Some(removal) = self.delete_hook(&connection).await? else {
            return Ok(None);
        };
        self.forget(&connection).await?;
        Ok(Some(removal))
    }

    /// Deletes the hook at the provider, changing nothing here.
    async fn delete_hook(&self, connection: &Connection) -> Result<Option<HookRemoval>, Error> {
        let Some(hook) = connection.managed_webhook.clone() else {
            return Ok(None);
        };
        let Some(loaded) = self.load(connection.clone()).await? else {
            return Err(failed(
                crate::codes::webhook::NOT_MANAGED,
                "the connection's provider no longer manages webhooks for its method",
            ));
        };
        let http = self.http(&loaded, "webhook.unregister")?;
        let registrar = registrar(&loaded)?;
        let request = HookRequest {
            connection: &loaded.connection,
            method: method_kind(&loaded)?,
            credential: &loaded.selector,
            target_config: &loaded.target_config,
            connection_config: &loaded.connection_config,
            url: &hook.url,
            place: hook.place.as_deref(),
            http: &http,
            now: self.host.clock().now(),
        };
        registrar
            .unregister(&request, &hook.hook_id)
            .await
            .map(Some)
    }

    /// Clears the hook id and removes the managed secret.
    async fn forget(&self, connection: &Connection) -> Result<(), Error> {
        let mut attempts = 0;
        loop {
            let Some(set) = self
                .host
                .credentials()
                .load_credentials(&connection.tenant, &connection.id)
                .await?
            else {
                break;
            };
            let kept: Vec<Credential> = set
                .credentials
                .iter()
                .filter(|c| !is_managed_secret(c))
                .cloned()
                .collect();
            if kept.len() == set.credentials.len() {
                break;
            }
            match self
                .host
                .credentials()
                .swap_credentials(&connection.tenant, &connection.id, Some(set.version), kept)
                .await
            {
                Ok(_) => break,
                Err(e) if e.is_conflict() && attempts < 3 => attempts += 1,
                Err(e) => return Err(e),
            }
        }
        // Over the record read only, read again when another writer (a revocation)
        // changed it meanwhile, so its change is kept.
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let Some(read) = self
                .host
                .connections()
                .get_connection(&connection.tenant, &connection.id)
                .await?
            else {
                break;
            };
            let mut current = read.clone();
            current.managed_webhook = None;
            current.touch(self.host.clock().now());
            if self
                .host
                .connections()
                .put_connection_if_unchanged(&read, &current)
                .await?
            {
                break;
            }
        }
        Ok(())
    }

    /// After a connection was stored: registers its webhook. A failure does not undo the
    /// connection: it is logged with its code and [`register`](Self::register) retries.
    pub(crate) async fn after_connect(&self, connection: Connection) -> Connection {
        if !self.is_managed(&connection) {
            return connection;
        }
        let (tenant, id) = (connection.tenant.clone(), connection.id.clone());
        match self.register_connection(connection.clone()).await {
            Ok(_) => self
                .host
                .connections()
                .get_connection(&tenant, &id)
                .await
                .ok()
                .flatten()
                .unwrap_or(connection),
            Err(error) => {
                tracing::warn!(
                    target: "integrations::webhook",
                    tenant = %tenant,
                    connection = %id,
                    code = error.code(),
                    "the managed webhook was not registered; ManagedWebhooks::register retries"
                );
                self.host
                    .connections()
                    .get_connection(&tenant, &id)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or(connection)
            }
        }
    }

    /// Before a connection is disconnected: deletes its hook at the provider while its
    /// token still works. Never fails: a provider failure is reported, not raised.
    pub(crate) async fn before_disconnect(&self, connection: &Connection) -> WebhookRemoval {
        match self.delete_hook(connection).await {
            Ok(None) => WebhookRemoval::NotManaged,
            Ok(Some(HookRemoval::Deleted)) => WebhookRemoval::Deleted,
            Ok(Some(HookRemoval::AlreadyGone)) => WebhookRemoval::AlreadyGone,
            Err(error) => {
                tracing::warn!(
                    target: "integrations::webhook",
                    tenant = %connection.tenant,
                    connection = %connection.id,
                    code = error.code(),
                    "the provider did not delete the managed webhook; disconnecting anyway"
                );
                WebhookRemoval::Failed {
                    code: error.code().to_owned(),
                }
            }
        }
    }

    /// After a disconnect failed to revoke the grant (not forced), so the connection stays
    /// active: registers the hook [`before_disconnect`](Self::before_disconnect) deleted
    /// again, with the secret still stored.
    pub(crate) async fn after_failed_disconnect(
        &self,
        connection: &Connection,
        removal: &WebhookRemoval,
    ) {
        if !matches!(
            removal,
            WebhookRemoval::Deleted | WebhookRemoval::AlreadyGone
        ) {
            return;
        }
        // In the disconnect's turn (and lease), which it holds: registered directly.
        let registered = match self.get(&connection.tenant, &connection.id).await {
            Ok(current) => Box::pin(self.register_in_turn(current)).await,
            Err(error) => Err(error),
        };
        if let Err(error) = registered {
            tracing::warn!(
                target: "integrations::webhook",
                tenant = %connection.tenant,
                connection = %connection.id,
                code = error.code(),
                "the revocation failed and the deleted hook was not registered again; ManagedWebhooks::register retries"
            );
        }
    }

    /// After a disconnect revoked the connection: forgets the hook id.
    pub(crate) async fn after_disconnect(&self, connection: &Connection, removal: &WebhookRemoval) {
        if matches!(
            removal,
            WebhookRemoval::Deleted | WebhookRemoval::AlreadyGone
        ) && let Err(error) = self.forget(connection).await
        {
            tracing::warn!(
                target: "integrations::webhook",
                connection = %connection.id,
                code = error.code(),
                "the deleted hook's id could not be cleared from the connection"
            );
        }
    }
}

fn registrar(loaded: &Loaded) -> Result<&dyn WebhookRegistrar, Error> {
    loaded
        .entry
        .integration()
        .webhook_registrar(&loaded.connection.method)
        .ok_or_else(|| Error::internal("the registrar disappeared"))
}

fn method_kind(loaded: &Loaded) -> Result<ConnectionMethodKind, Error> {
    loaded
        .entry
        .method(&loaded.connection.method)
        .map(|m| m.method().kind)
        .ok_or_else(|| Error::internal("the method disappeared"))
}
