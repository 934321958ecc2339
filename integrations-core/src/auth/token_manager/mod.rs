//! [`TokenManager`]: fresh credentials for connections, the implementation of
//! [`CredentialSource`] that egress injection and the tool runtime call.

mod cache;
mod lease;
mod refresh;

pub(crate) use self::refresh::is_dead_grant;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use subtle::ConstantTimeEq;

use self::cache::{Cache, CacheKey, Freshness, Lookup, PendingUse};
pub use self::lease::{REFRESH_IN_DOUBT_TYPE, REFRESH_LEASE_TYPE};
pub use self::refresh::{NO_REFRESH_TOKEN, REFRESH_TOKEN_EXPIRED};
use super::CREDENTIAL_REVOKED;
use super::resolve::{ResolutionPath, resolution_path};
use super::target::TargetContext;
use crate::credential::{CredentialRequest, CredentialSource, ResolvedCredential};
use crate::host::{AuditAction, AuditEvent, AuditOutcome, Host};
use crate::lifecycle::{Cause, ConnectionLifecycle, StatusChange};
use crate::loaded::Loader;
use crate::model::{Connection, ConnectionStatus, Credential, CredentialSet, CredentialType};
use crate::plan::CredentialSelector;
use crate::provider::ResolverContext;
use crate::{Error, Registry, Secret, Timestamp};

/// The default expiry skew: tokens expiring within five minutes are renewed first.
pub const DEFAULT_EXPIRY_SKEW: Duration = Duration::from_secs(300);

/// The default status re-check interval: a token manager hands out a connection's
/// credentials (cached or not) for at most this long after it last read the connection's
/// stored status, so a connection revoked elsewhere (a webhook handled by another process)
/// stops getting credentials here within five seconds.
pub const DEFAULT_STATUS_RECHECK: Duration = Duration::from_secs(5);

/// The default usage-audit interval: the hand-outs of a cached credential are recorded as
/// one [`AuditAction::CREDENTIAL_USED`] event per credential with their `count`, at most
/// this long after they happened.
pub const DEFAULT_USAGE_AUDIT_INTERVAL: Duration = Duration::from_secs(5);

pub(super) fn same(a: &Secret, b: &Secret) -> bool {
    a.expose().as_bytes().ct_eq(b.expose().as_bytes()).into()
}

fn not_active(connection: &Connection) -> Error {
    crate::codes::auth::CONNECTION_NOT_ACTIVE.error(format!(
        "the connection is {}; reauthorize or repair it first",
        connection.status.as_str()
    ))
}

/// Hands out fresh credentials for connections.
///
/// * **Resolution precedence** (see [`resolution_path`]): a custom resolver the selector
///   names, then managed OAuth 2.0 access tokens, then the provider's default resolver,
///   then the stored credential by type and slot (several without a slot: an error).
/// * **Cache**: credentials are kept in memory until they are within the expiry skew
///   (configurable, five minutes by default, never more than half a token's lifetime) of
///   expiring; credentials without expiry are re-read from the store every minute.
/// * **One refresh per connection**: in this process, callers of one connection wait for
///   a single refresh and share its result; across processes, the refreshing process
///   first swaps a lease into the connection's credential set (compare-and-swap on its
///   version), and the others wait for the tokens it stores. The access token and a
///   rotated refresh token are stored in one swap, so a rotated token is never lost.
///   The lease outlives the refresh it guards: the token request runs in a task of its
///   own that extends the lease every half lease while the provider has not answered
///   (for at most five minutes), so a caller that stops waiting (after the lease minus a
///   margin) or is dropped never lets another process refresh with a refresh token the
///   request may be using up; and a refresh whose final swap still conflicts keeps the
///   tokens the provider just issued unless the store already holds newer ones.
/// * **Failures**: temporary ones (5xx, timeouts, 429 with its `Retry-After`) are returned
///   and change nothing; permanent ones (`invalid_grant`, a revoked grant, a missing or
///   expired refresh token) mark the connection `error` with a reason, only if the
///   connection is still as the failing attempt read it: its credentials at the same
///   version (a connection reauthorized meanwhile stays active) and its status active (a
///   revoked connection never becomes `error`).
/// * **Revocation**: every hand-out, from the cache or not, is preceded by a read of the
///   connection's stored status at most every [`DEFAULT_STATUS_RECHECK`] (five seconds;
///   [`with_status_recheck`](Self::with_status_recheck)). A connection revoked or marked
///   `error` by another process (a webhook) stops getting credentials here within that
///   interval, and a connection whose record changed (reauthorized) has its cached
///   credentials dropped.
/// * **Audit**: every refresh (and resolver call) is recorded as
///   [`AuditAction::CREDENTIAL_REFRESHED`] with its outcome, every hand-out as
///   [`AuditAction::CREDENTIAL_USED`] (turn that off with
///   [`with_usage_audit`](Self::with_usage_audit)). A hand-out that read the store or the
///   provider is recorded at once (`source`: `oauth2`, `resolver`, `store`, ...); hand-outs
///   from the cache, the hot path, are counted and recorded off that path, one event per
///   credential with `source: cache` and their `count`, at most
///   [`DEFAULT_USAGE_AUDIT_INTERVAL`] later
///   ([`with_usage_audit_interval`](Self::with_usage_audit_interval); zero records each
///   at once). [`flush_usage`](Self::flush_usage) records what is pending (call it at
///   shutdown; dropping the manager inside a Tokio runtime also does).
///
/// Share one `TokenManager` (in an `Arc`) per process.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use integrations_core::auth::TokenManager;
/// # async fn run(registry: Arc<integrations_core::Registry>, host: integrations_core::host::Host, connection: integrations_core::model::Connection) -> Result<(), integrations_core::Error> {
/// let tokens = TokenManager::new(registry, host).with_expiry_skew(std::time::Duration::from_secs(120));
/// let token = tokens.access_token(&connection).await?;
/// // Authorization: Bearer {token.value.expose()}
/// # Ok(()) }
/// ```
pub struct TokenManager {
    registry: Arc<Registry>,
    host: Host,
    freshness: Freshness,
    lease_ttl: Duration,
    lease_wait: Duration,
    status_recheck: Duration,
    audit_usage: bool,
    usage_interval: Duration,
    cache: Arc<Cache>,
    loader: Loader,
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("expiry_skew", &self.freshness.skew)
            .field("static_cache_ttl", &self.freshness.static_ttl)
            .field("lease_ttl", &self.lease_ttl)
            .field("lease_wait", &self.lease_wait)
            .field("status_recheck", &self.status_recheck)
            .field("audit_usage", &self.audit_usage)
            .field("usage_audit_interval", &self.usage_interval)
            .finish_non_exhaustive()
    }
}

enum Resolver<'a> {
    Custom(&'a str),
    Default,
}

impl TokenManager {
    /// The parts of the host the token manager uses; a host can check them at start-up with
    /// [`Host::require`].
    pub const HOST_PARTS: &'static [crate::host::HostPart] = &[
        crate::host::HostPart::Targets,
        crate::host::HostPart::Connections,
        crate::host::HostPart::Credentials,
        crate::host::HostPart::Http,
    ];

    /// A token manager over a registry and a host.
    ///
    /// # Host
    ///
    /// Uses the targets, connections and credentials stores, the cipher, the clock, the
    /// audit sink, and the HTTP client to refresh tokens and call credential resolvers.
    pub fn new(registry: Arc<Registry>, host: Host) -> Self {
        Self {
            loader: Loader::new(Arc::clone(&registry), host.clone()),
            registry,
            host,
            freshness: Freshness {
                skew: DEFAULT_EXPIRY_SKEW,
                static_ttl: Duration::from_secs(60),
            },
            lease_ttl: Duration::from_secs(30),
            lease_wait: Duration::from_secs(15),
            status_recheck: DEFAULT_STATUS_RECHECK,
            audit_usage: true,
            usage_interval: DEFAULT_USAGE_AUDIT_INTERVAL,
            cache: Arc::new(Cache::default()),
        }
    }

    /// Renews tokens this long before they expire (default five minutes; capped at half
    /// a token's lifetime).
    #[must_use]
    pub fn with_expiry_skew(mut self, skew: Duration) -> Self {
        self.freshness.skew = skew;
        self
    }

    /// How long a credential without expiry is served from memory before the store is
    /// read again (default one minute).
    #[must_use]
    pub fn with_static_cache_ttl(mut self, ttl: Duration) -> Self {
        self.freshness.static_ttl = ttl;
        self
    }

    /// How long (by the host clock) a refresh lease protects a refresh in flight before
    /// another process may take over (default 30 s). A caller stops waiting for the token
    /// request a margin earlier (a quarter of the lease, at most five seconds); the
    /// request goes on, extending the lease every half lease until the provider answers
    /// (at most five minutes).
    #[must_use]
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// How long a caller waits for another process's refresh before giving up with a
    /// temporary error (default 15 s).
    #[must_use]
    pub fn with_lease_wait(mut self, wait: Duration) -> Self {
        self.lease_wait = wait;
        self
    }

    /// How long a read of the connection's stored status is trusted before the next
    /// hand-out reads it again (default [`DEFAULT_STATUS_RECHECK`], five seconds): the
    /// longest a connection revoked elsewhere keeps getting credentials from this
    /// manager. Zero reads the status on every hand-out.
    #[must_use]
    pub fn with_status_recheck(mut self, interval: Duration) -> Self {
        self.status_recheck = interval;
        self
    }

    /// Whether every hand-out is audited as [`AuditAction::CREDENTIAL_USED`] (default on).
    #[must_use]
    pub fn with_usage_audit(mut self, on: bool) -> Self {
        self.audit_usage = on;
        self
    }

    /// How long hand-outs from the cache may wait before they are recorded, counted, as
    /// one [`AuditAction::CREDENTIAL_USED`] event per credential (default
    /// [`DEFAULT_USAGE_AUDIT_INTERVAL`], by the host clock). Zero records every hand-out
    /// as its own event, awaited on the caller's path.
    #[must_use]
    pub fn with_usage_audit_interval(mut self, interval: Duration) -> Self {
        self.usage_interval = interval;
        self
    }

    /// Records the hand-outs from the cache counted since the last flush, one
    /// [`AuditAction::CREDENTIAL_USED`] event per credential with `source: cache` and their
    /// `count`.
    pub async fn flush_usage(&self) {
        record_usage(&self.host, self.cache.take_usage()).await;
    }

    /// The OAuth 2.0 access token of `connection` (for a GitHub App installation, the
    /// installation token its default resolver mints), refreshed first when it is
    /// expired or about to be.
    ///
    /// # Errors
    ///
    /// As [`CredentialSource::credential`].
    pub async fn access_token(&self, connection: &Connection) -> Result<ResolvedCredential, Error> {
        let selector = CredentialSelector::of_type(CredentialType::OAUTH2_ACCESS_TOKEN);
        self.hand_out(&CredentialRequest::new(connection, &selector), None)
            .await?
            .ok_or_else(|| {
                crate::codes::auth::NO_CREDENTIAL.error("the connection has no access token")
            })
    }

    /// Drops every cached credential of `connection` (after revoking or replacing it),
    /// and its last status read.
    pub fn forget(&self, connection: &Connection) {
        self.cache
            .forget_connection(&connection.tenant, &connection.id);
    }

    fn now(&self) -> Timestamp {
        self.host.clock().now()
    }

    /// Resolves and audits a hand-out. A cache hit is answered without building the
    /// (large) resolution future, which is boxed on the slow path only.
    async fn hand_out(
        &self,
        request: &CredentialRequest<'_>,
        rejected: Option<&Secret>,
    ) -> Result<Option<ResolvedCredential>, Error> {
        let connection = request.connection;
        if !connection.is_active() {
            return Err(not_active(connection));
        }
        let batched = self.audit_usage && !self.usage_interval.is_zero();
        let lookup = |now| {
            self.cache.lookup(
                connection,
                request.selector,
                rejected,
                self.freshness,
                now,
                self.status_recheck,
                batched,
            )
        };
        let now = self.now();
        let mut found = lookup(now);
        if matches!(found, Lookup::StatusDue) {
            self.check_status(connection).await?;
            found = lookup(self.now());
        }
        if let Lookup::Hit(hit) = found {
            if batched {
                self.collect_usage_if_due(now);
            } else {
                self.audit_used(request, "cache", 1).await;
            }
            return Ok(Some(hit));
        }
        let key = CacheKey::new(connection, request.selector);
        let found = Box::pin(self.resolve(request, &key, rejected)).await?;
        if let Some((_, source)) = &found {
            self.audit_used(request, source, 1).await;
        }
        Ok(found.map(|(credential, _)| credential))
    }

    /// The slow path: resolution precedence, then refresh, resolvers or the store.
    async fn resolve(
        &self,
        request: &CredentialRequest<'_>,
        key: &CacheKey,
        rejected: Option<&Secret>,
    ) -> Result<Option<(ResolvedCredential, &'static str)>, Error> {
        let connection = request.connection;
        let selector = request.selector;
        // A missing or disabled target hands out nothing, whatever is stored.
        self.loader
            .target_of(connection)
            .await?
            .check_connection(connection)?;
        let entry = self.registry.require(&connection.key)?;
        let kind = entry
            .method(&connection.method)
            .map(|m| m.method().kind)
            .ok_or_else(|| {
                crate::codes::auth::UNKNOWN_METHOD.error(format!(
                    "{} has no connection method {}",
                    connection.key, connection.method
                ))
            })?;
        let has_default = entry.integration().default_credential_resolver().is_some();
        match resolution_path(kind, selector, has_default) {
            ResolutionPath::CustomResolver(name) => {
                let resolved = self
                    .via_resolver(key, connection, selector, Resolver::Custom(&name), rejected)
                    .await?;
                if resolved.is_none() && rejected.is_none() {
                    return Err(crate::codes::auth::RESOLVER_DECLINED.error(format!(
                        "the resolver {name} has no credential for this connection"
                    )));
                }
                Ok(resolved.map(|c| (c, "resolver")))
            }
            ResolutionPath::ManagedOAuth2 => Ok(Some((
                self.managed(key, connection, kind, selector, rejected)
                    .await?,
                "oauth2",
            ))),
            ResolutionPath::DefaultResolver => {
                match self
                    .via_resolver(key, connection, selector, Resolver::Default, rejected)
                    .await?
                {
                    Some(c) => Ok(Some((c, "resolver"))),
                    None => Ok(self
                        .stored(key, connection, selector, rejected)
                        .await?
                        .map(|c| (c, "store"))),
                }
            }
            _ => Ok(self
                .stored(key, connection, selector, rejected)
                .await?
                .map(|c| (c, "store"))),
        }
    }

    async fn stored(
        &self,
        key: &CacheKey,
        connection: &Connection,
        selector: &CredentialSelector,
        rejected: Option<&Secret>,
    ) -> Result<Option<ResolvedCredential>, Error> {
        let set = self.load_set(connection).await?;
        let Some(credential) = set.find(&selector.credential_type, selector.slot.as_deref())?
        else {
            return Err(crate::codes::auth::NO_CREDENTIAL.error(format!(
                "the connection holds no {} credential{}",
                selector.credential_type,
                selector
                    .slot
                    .as_deref()
                    .map(|s| format!(" in slot {s}"))
                    .unwrap_or_default()
            )));
        };
        let now = self.now();
        if credential.expires_at.is_some_and(|e| e <= now) {
            return Err(crate::codes::auth::CREDENTIAL_EXPIRED.error(format!(
                "the stored {} credential expired",
                selector.credential_type
            )));
        }
        let value = self.open(connection, credential)?;
        if rejected.is_some_and(|r| same(r, &value)) {
            // A static credential the provider refused: nothing better to offer.
            self.cache.forget(key);
            return Ok(None);
        }
        self.cache.put(
            key.clone(),
            value.clone(),
            credential.expires_at,
            credential.issued_at,
            now,
            self.freshness,
        );
        Ok(Some(ResolvedCredential::new(value, credential.expires_at)))
    }

    async fn via_resolver(
        &self,
        key: &CacheKey,
        connection: &Connection,
        selector: &CredentialSelector,
        which: Resolver<'_>,
        rejected: Option<&Secret>,
    ) -> Result<Option<ResolvedCredential>, Error> {
        let _flight = self.cache.flight(key).await;
        if let Some(hit) = self.cache.get(key, self.freshness, self.now()) {
            if rejected.is_none_or(|r| !same(r, &hit.value)) {
                return Ok(Some(hit));
            }
            self.cache.forget(key);
        }
        let context = TargetContext::for_connection(&self.registry, &self.host, connection).await?;
        let integration = context.entry.integration();
        let (resolver, name) = match which {
            Resolver::Custom(name) => (
                integration.credential_resolver(name).ok_or_else(|| {
                    crate::codes::auth::RESOLVER_NOT_FOUND.error(format!(
                        "{} has no credential resolver {name}",
                        connection.key
                    ))
                })?,
                name,
            ),
            Resolver::Default => match integration.default_credential_resolver() {
                Some(resolver) => (resolver, "default"),
                None => return Ok(None),
            },
        };
        let secrets = context.secrets(&self.host)?;
        let read_version = self
            .host
            .credentials()
            .load_credentials(&connection.tenant, &connection.id)
            .await?
            .map(|set| set.version);
        let outcome = resolver
            .resolve(&ResolverContext::new(
                &self.host,
                connection,
                &context.target,
                &context.config,
                &secrets,
                selector,
            ))
            .await;
        match outcome {
            Ok(Some(credential)) => {
                self.audit_refresh(connection, name, None).await;
                let now = self.now();
                self.cache.put(
                    key.clone(),
                    credential.value.clone(),
                    credential.expires_at,
                    now,
                    now,
                    self.freshness,
                );
                Ok(Some(credential))
            }
            Ok(None) => Ok(None),
            Err(error) => {
                self.audit_refresh(connection, name, Some(&error)).await;
                if error.code() == CREDENTIAL_REVOKED {
                    self.mark_error(connection, &error, read_version).await?;
                }
                Err(error)
            }
        }
    }

    async fn load_set(&self, connection: &Connection) -> Result<CredentialSet, Error> {
        self.host
            .credentials()
            .load_credentials(&connection.tenant, &connection.id)
            .await?
            .ok_or_else(|| {
                crate::codes::auth::NO_CREDENTIALS.error("the connection has no stored credentials")
            })
    }

    fn open(&self, connection: &Connection, credential: &Credential) -> Result<Secret, Error> {
        credential.open(connection, self.host.cipher())
    }

    /// Reads the stored connection (the caller found the last read older than the
    /// re-check interval): a connection no longer active (or gone) gets nothing, and one
    /// whose record changed since the last read has its cached credentials dropped.
    async fn check_status(&self, connection: &Connection) -> Result<(), Error> {
        let now = self.now();
        match self
            .host
            .connections()
            .get_connection(&connection.tenant, &connection.id)
            .await?
        {
            Some(stored) if stored.is_active() => {
                // Cached credentials stop with their target too.
                if let Err(e) = self
                    .loader
                    .target_of(&stored)
                    .await
                    .and_then(|target| target.check_connection(&stored))
                {
                    self.forget(connection);
                    return Err(e);
                }
                self.cache.record_status(&stored, now);
                Ok(())
            }
            Some(stored) => {
                self.forget(connection);
                Err(not_active(&stored))
            }
            None => {
                self.forget(connection);
                Err(crate::codes::auth::CONNECTION_NOT_FOUND.error("the connection does not exist"))
            }
        }
    }

    /// The stored connection must still be active (the caller's copy may be stale).
    async fn require_active(&self, connection: &Connection) -> Result<(), Error> {
        match self
            .host
            .connections()
            .get_connection(&connection.tenant, &connection.id)
            .await?
        {
            Some(stored) if stored.is_active() => Ok(()),
            Some(stored) => Err(not_active(&stored)),
            None => {
                Err(crate::codes::auth::CONNECTION_NOT_FOUND.error("the connection does not exist"))
            }
        }
    }

    /// Marks the connection `error` with the failure's (safe) message as the reason, if
    /// it is still as the failing attempt read it: its credential set at `read_version`
    /// (`None`: no set) and its status active. A connection reauthorized meanwhile stays
    /// active; a revoked one stays revoked.
    async fn mark_error(
        &self,
        connection: &Connection,
        error: &Error,
        read_version: Option<u64>,
    ) -> Result<(), Error> {
        self.forget(connection);
        let current = self
            .host
            .credentials()
            .load_credentials(&connection.tenant, &connection.id)
            .await?
            .map(|set| set.version);
        let marked = ConnectionStatus::Error {
            reason: error.message().to_owned(),
        };
        // Only an active connection becomes `error`, in one conditional write.
        let lifecycle = ConnectionLifecycle::new(self.host.clone());
        let written = current == read_version
            && lifecycle
                .change(
                    StatusChange::of(
                        &connection.tenant,
                        &connection.id,
                        &connection.key,
                        ConnectionStatus::Active,
                        marked.clone(),
                        Cause::Credential,
                    )
                    .if_unchanged()
                    .with_detail("code", error.code()),
                )
                .await?
                .is_some();
        if !written {
            tracing::debug!(
                target: "integrations::auth",
                tenant = %connection.tenant,
                connection = %connection.id,
                code = error.code(),
                "the connection changed since the failure was read; its status is left as it is"
            );
            return Ok(());
        }
        if self
            .reauthorized_meanwhile(connection, read_version, &marked)
            .await?
        {
            return Ok(());
        }
        tracing::warn!(
            target: "integrations::auth",
            tenant = %connection.tenant,
            connection = %connection.id,
            code = error.code(),
            "connection marked error"
        );
        Ok(())
    }

    /// After `mark_error` wrote `marked`: when new credentials landed meanwhile (a
    /// reauthorization writes its tokens before the active record, so one racing the
    /// write shows here), the connection is put back to active, unless something else
    /// has changed its status since. `true` when it was.
    async fn reauthorized_meanwhile(
        &self,
        connection: &Connection,
        read_version: Option<u64>,
        marked: &ConnectionStatus,
    ) -> Result<bool, Error> {
        let after = self
            .host
            .credentials()
            .load_credentials(&connection.tenant, &connection.id)
            .await?
            .map(|set| set.version);
        if after == read_version {
            return Ok(false);
        }
        ConnectionLifecycle::new(self.host.clone())
            .change(
                StatusChange::of(
                    &connection.tenant,
                    &connection.id,
                    &connection.key,
                    marked.clone(),
                    ConnectionStatus::Active,
                    Cause::Credential,
                )
                .if_unchanged(),
            )
            .await?;
        tracing::debug!(
            target: "integrations::auth",
            tenant = %connection.tenant,
            connection = %connection.id,
            "new credentials landed while the connection was marked error; left active"
        );
        Ok(true)
    }

    async fn audit_refresh(&self, connection: &Connection, grant: &str, error: Option<&Error>) {
        let outcome = match error {
            None => AuditOutcome::Success,
            Some(e) => AuditOutcome::Failure {
                code: e.code().to_owned(),
            },
        };
        self.host
            .audit()
            .record(
                AuditEvent::new(
                    self.now(),
                    connection.tenant.clone(),
                    AuditAction::CREDENTIAL_REFRESHED,
                    outcome,
                )
                .with_key(connection.key.clone())
                .with_connection(connection.id.clone())
                .with_detail("grant", grant),
            )
            .await;
    }

    async fn audit_used(&self, request: &CredentialRequest<'_>, source: &str, count: u64) {
        if !self.audit_usage {
            return;
        }
        let connection = request.connection;
        let selector = request.selector;
        let event = used_event(
            self.now(),
            UsedEvent {
                tenant: &connection.tenant,
                connection: &connection.id,
                definition: Some(&connection.key),
                credential_type: &selector.credential_type,
                slot: selector.slot.as_deref(),
                resolver: selector.resolver.as_deref(),
            },
            source,
            count,
        );
        self.host.audit().record(event).await;
    }

    /// Records the counted hand-outs off the caller's path when the interval passed: in a
    /// task of the current Tokio runtime (or later, at the next due hit or flush, outside
    /// one).
    fn collect_usage_if_due(&self, now: Timestamp) {
        if !self.cache.usage_due(now, self.usage_interval) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (cache, host) = (Arc::clone(&self.cache), self.host.clone());
            runtime.spawn(async move { record_usage(&host, cache.take_usage()).await });
        }
    }
}

impl TokenManager {
    /// A manager for a task that outlives its caller: the same registry, host, settings
    /// and cache, and no usage audit of its own (its drop records nothing; it hands out
    /// nothing).
    pub(super) fn detached(&self) -> Self {
        Self {
            registry: Arc::clone(&self.registry),
            host: self.host.clone(),
            freshness: self.freshness,
            lease_ttl: self.lease_ttl,
            lease_wait: self.lease_wait,
            status_recheck: self.status_recheck,
            audit_usage: false,
            usage_interval: self.usage_interval,
            cache: Arc::clone(&self.cache),
            loader: self.loader.clone(),
        }
    }
}

impl Drop for TokenManager {
    /// Records the counted hand-outs not yet audited, in a task of the current Tokio
    /// runtime (outside one they are lost: call [`flush_usage`](Self::flush_usage)).
    fn drop(&mut self) {
        if !self.audit_usage {
            return;
        }
        let pending = self.cache.take_usage();
        if pending.is_empty() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let host = self.host.clone();
            runtime.spawn(async move { record_usage(&host, pending).await });
        }
    }
}

/// What a `credential.used` event names.
#[derive(Clone, Copy)]
struct UsedEvent<'a> {
    tenant: &'a crate::TenantId,
    connection: &'a crate::ConnectionId,
    definition: Option<&'a crate::DefinitionKey>,
    credential_type: &'a CredentialType,
    slot: Option<&'a str>,
    resolver: Option<&'a str>,
}

fn used_event(now: Timestamp, what: UsedEvent<'_>, source: &str, count: u64) -> AuditEvent {
    let mut event = AuditEvent::new(
        now,
        what.tenant.clone(),
        AuditAction::CREDENTIAL_USED,
        AuditOutcome::Success,
    )
    .with_connection(what.connection.clone())
    .with_detail("credential_type", what.credential_type.as_str())
    .with_detail("source", source);
    if let Some(definition) = what.definition {
        event = event.with_key(definition.clone());
    }
    if count != 1 || source == "cache" {
        event = event.with_detail("count", count.to_string());
    }
    if let Some(slot) = what.slot {
        event = event.with_detail("slot", slot);
    }
    if let Some(resolver) = what.resolver {
        event = event.with_detail("resolver", resolver);
    }
    event
}

/// Records counted hand-outs from the cache, one event per credential.
async fn record_usage(host: &Host, pending: Vec<PendingUse>) {
    let now = host.clock().now();
    for used in pending {
        let event = used_event(
            now,
            UsedEvent {
                tenant: &used.tenant,
                connection: &used.connection,
                definition: used.definition.as_ref(),
                credential_type: &used.credential_type,
                slot: used.slot.as_deref(),
                resolver: used.resolver.as_deref(),
            },
            "cache",
            used.count,
        );
        host.audit().record(event).await;
    }
}

#[async_trait]
impl CredentialSource for TokenManager {
    async fn credential(
        &self,
        request: &CredentialRequest<'_>,
    ) -> Result<ResolvedCredential, Error> {
        self.hand_out(request, None).await?.ok_or_else(|| {
            crate::codes::auth::NO_CREDENTIAL.error("the connection has no such credential")
        })
    }

    async fn credential_rejected(
        &self,
        request: &CredentialRequest<'_>,
        rejected: &Secret,
    ) -> Result<Option<ResolvedCredential>, Error> {
        self.hand_out(request, Some(rejected)).await
    }
}
