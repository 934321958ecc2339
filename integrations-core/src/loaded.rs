//! [`Loader`]: the one start-up lookup every engine runs before it works for a
//! connection or a target, and [`Loaded`] / [`LoadedTarget`], what it hands back.
//!
//! The lookup, in order: load the connection (in its tenant), load its target, check the
//! target is enabled and belongs to the connection's definition, find the definition in
//! the registry, parse the target's config; the target's secrets are opened on first
//! use. Auth, tools, webhooks, sync and compile all go through it, so the same condition
//! fails with the same code and kind everywhere:
//!
//! | condition | code | kind |
//! |---|---|---|
//! | the connection does not exist | `auth.connection_not_found` | `NotFound` |
//! | the target does not exist | `auth.target_not_found` | `NotFound` |
//! | the target is disabled | `auth.target_disabled` | `PermissionDenied` |
//! | the target belongs to another definition than the connection | `auth.target_mismatch` | `Configuration` |
//! | the stored target config no longer validates | `auth.target_config_invalid` | `Configuration` |
//! | no integration is registered under the key | `registry.unknown_definition` | `NotFound` |
//!
//! It also comes in two halves: [`Loader::stored_target_of`] reads the records (not
//! found, mismatch) and [`Loader::check_target`] checks the rest. Webhook ingest runs the
//! second half only once the delivery's signature verified; compile's
//! [`ProfileInput::load_with`](crate::compile::ProfileInput::load_with) runs both for
//! every binding, turning each refusal into that binding's issue instead of stopping.
//!
//! What is pure in a target's stored record (the parsed config, the opened secrets) is
//! kept per target and reused while the stored record is unchanged: every load still
//! reads the record, and any difference in it (config, secrets, enabled flag, key,
//! update stamp) parses again, so a new version is never served stale.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::host::{Host, SecretCipher};
use crate::model::{Connection, Target};
use crate::provider::TargetSecrets;
use crate::registry::RegisteredIntegration;
use crate::schema::Parsed;
use crate::{ConnectionId, Error, Registry, TargetId, TenantId};

/// The most targets a [`Loader`] keeps parsed; past it, the cache starts over.
const CACHE_LIMIT: usize = 1024;

/// A target ready for work: the stored record, its registered definition, its parsed
/// config and, on first use, its opened secrets.
#[derive(Clone)]
#[non_exhaustive]
pub struct LoadedTarget {
    /// The stored target record.
    pub target: Arc<Target>,
    /// The target's definition, as registered.
    pub entry: Arc<RegisteredIntegration>,
    /// The target's config, parsed by its definition's schema.
    pub config: Parsed,
    version: Arc<Version>,
}

/// A connection ready for work: the connection, its target, its definition, the target's
/// parsed config and, on first use, the target's opened secrets.
#[derive(Clone)]
#[non_exhaustive]
pub struct Loaded {
    /// The stored connection record.
    pub connection: Connection,
    /// The connection's stored target record.
    pub target: Arc<Target>,
    /// The connection's definition, as registered.
    pub entry: Arc<RegisteredIntegration>,
    /// The target's config, parsed by its definition's schema.
    pub config: Parsed,
    version: Arc<Version>,
}

/// What is pure in one version of a target's stored record.
struct Version {
    target: Arc<Target>,
    entry: Arc<RegisteredIntegration>,
    config: Parsed,
    secrets: OnceLock<TargetSecrets>,
    default_headers: OnceLock<Arc<http::HeaderMap>>,
}

impl Version {
    fn secrets(&self, cipher: &dyn SecretCipher) -> Result<&TargetSecrets, Error> {
        if let Some(secrets) = self.secrets.get() {
            return Ok(secrets);
        }
        let opened = TargetSecrets::open(&self.target, cipher)?;
        Ok(self.secrets.get_or_init(|| opened))
    }
}

impl LoadedTarget {
    fn new(version: Arc<Version>) -> Self {
        Self {
            target: Arc::clone(&version.target),
            entry: Arc::clone(&version.entry),
            config: version.config.clone(),
            version,
        }
    }

    /// The target's secrets, opened once per stored version.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Crypto`](crate::ErrorKind::Crypto) when they cannot be opened;
    /// `auth.target_secrets_invalid` when they are not a JSON object.
    pub fn secrets(&self, cipher: &dyn SecretCipher) -> Result<&TargetSecrets, Error> {
        self.version.secrets(cipher)
    }

    /// The default headers the definition sends with every request for this target,
    /// computed once per stored version.
    ///
    /// # Errors
    ///
    /// The definition's errors.
    pub fn default_headers(&self) -> Result<&http::HeaderMap, Error> {
        self.shared_default_headers().map(|headers| &**headers)
    }

    /// [`default_headers`](Self::default_headers), shared.
    pub(crate) fn shared_default_headers(&self) -> Result<&Arc<http::HeaderMap>, Error> {
        let slot = &self.version.default_headers;
        if let Some(headers) = slot.get() {
            return Ok(headers);
        }
        let headers = self.entry.definition().default_headers(&self.config)?;
        Ok(slot.get_or_init(|| Arc::new(headers)))
    }

    /// Checks that `connection` is one of this target's connections.
    ///
    /// # Errors
    ///
    /// `auth.target_mismatch` ([`ErrorKind::Configuration`](crate::ErrorKind::Configuration)) when the connection belongs
    /// to another target or definition.
    pub fn check_connection(&self, connection: &Connection) -> Result<(), Error> {
        if connection.key != self.target.key
            || connection.target != self.target.id
            || connection.tenant != self.target.tenant
        {
            return Err(target_mismatch());
        }
        Ok(())
    }

    /// Checks that `connection` is one of this target's connections and pairs them.
    ///
    /// # Errors
    ///
    /// `auth.target_mismatch` ([`ErrorKind::Configuration`](crate::ErrorKind::Configuration)) when the connection belongs
    /// to another target or definition.
    pub fn with_connection(self, connection: Connection) -> Result<Loaded, Error> {
        self.check_connection(&connection)?;
        Ok(Loaded {
            connection,
            target: self.target,
            entry: self.entry,
            config: self.config,
            version: self.version,
        })
    }
}

impl Loaded {
    /// The target's secrets, opened once per stored version.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Crypto`](crate::ErrorKind::Crypto) when they cannot be opened;
    /// `auth.target_secrets_invalid` when they are not a JSON object.
    pub fn secrets(&self, cipher: &dyn SecretCipher) -> Result<&TargetSecrets, Error> {
        self.version.secrets(cipher)
    }

    /// The target part, without the connection.
    pub fn target_part(&self) -> LoadedTarget {
        LoadedTarget::new(Arc::clone(&self.version))
    }
}

impl fmt::Debug for LoadedTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedTarget")
            .field("target", &self.target.id)
            .field("key", &self.target.key)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("connection", &self.connection.id)
            .field("target", &self.target.id)
            .field("key", &self.target.key)
            .finish_non_exhaustive()
    }
}

/// Runs the start-up lookup (see the [module docs](self)) and keeps what is pure in each
/// target's stored version.
///
/// One loader per engine is the intended use; it is cheap to create, and clones share
/// their cache.
#[derive(Clone)]
pub struct Loader {
    registry: Arc<Registry>,
    host: Host,
    cache: Arc<Mutex<HashMap<TargetId, Arc<Version>>>>,
}

impl fmt::Debug for Loader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loader").finish_non_exhaustive()
    }
}

impl Loader {
    /// A loader over `registry` and `host`'s stores, with an empty cache.
    pub fn new(registry: Arc<Registry>, host: Host) -> Self {
        Self {
            registry,
            host,
            cache: Arc::default(),
        }
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The host whose stores the loader reads.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Loads the connection `id` of `tenant` and its target.
    ///
    /// # Errors
    ///
    /// `auth.connection_not_found` ([`ErrorKind::NotFound`](crate::ErrorKind::NotFound)), and everything
    /// [`for_connection`](Self::for_connection) reports; storage errors.
    pub async fn connection(&self, tenant: &TenantId, id: &ConnectionId) -> Result<Loaded, Error> {
        let connection = self.stored_connection(tenant, id).await?;
        self.for_connection(connection).await
    }

    /// Loads the target of `connection`, checking it is the connection's definition.
    ///
    /// # Errors
    ///
    /// Everything [`target`](Self::target) reports; `auth.target_mismatch`
    /// ([`ErrorKind::Configuration`](crate::ErrorKind::Configuration)) when the target belongs to another definition.
    pub async fn for_connection(&self, connection: Connection) -> Result<Loaded, Error> {
        let target = self.target_of(&connection).await?;
        target.with_connection(connection)
    }

    /// Loads the target of `connection` as [`target`](Self::target) does, refusing a
    /// target of another definition before its definition is looked up.
    ///
    /// # Errors
    ///
    /// As [`for_connection`](Self::for_connection).
    pub async fn target_of(&self, connection: &Connection) -> Result<LoadedTarget, Error> {
        let target = self.stored_target_of(connection).await?;
        self.check_target(&target)
    }

    /// Loads the enabled target `id` of `tenant` and parses its config (once per stored
    /// version).
    ///
    /// # Errors
    ///
    /// `auth.target_not_found` ([`ErrorKind::NotFound`](crate::ErrorKind::NotFound)); `auth.target_disabled`
    /// ([`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied)); `registry.unknown_definition`;
    /// `auth.target_config_invalid` ([`ErrorKind::Configuration`](crate::ErrorKind::Configuration), with the issues);
    /// storage errors.
    pub async fn target(&self, tenant: &TenantId, id: &TargetId) -> Result<LoadedTarget, Error> {
        let target = self.read_target(tenant, id).await?;
        self.check_target(&target)
    }

    /// The stored target `id` of `tenant`, unchecked.
    async fn read_target(&self, tenant: &TenantId, id: &TargetId) -> Result<Arc<Target>, Error> {
        let targets = self.host.targets();
        let read = match targets.get_target_now(tenant, id) {
            Some(read) => read,
            None => targets.get_target_shared(tenant, id).await,
        };
        match read? {
            Some(target) => Ok(target),
            None => Err(crate::codes::auth::TARGET_NOT_FOUND.error("the target does not exist")),
        }
    }

    /// Reads the connection `id` of `tenant`, the first step of the lookup alone.
    ///
    /// # Errors
    ///
    /// `auth.connection_not_found` ([`ErrorKind::NotFound`](crate::ErrorKind::NotFound));
    /// storage errors.
    pub async fn stored_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Connection, Error> {
        self.host
            .connections()
            .get_connection(tenant, id)
            .await?
            .ok_or_else(connection_not_found)
    }

    /// Reads the stored target of `connection` and checks it is the connection's
    /// definition, without checking that it is enabled or parsing its config: the first
    /// half of [`target_of`](Self::target_of), for a caller that must refuse a disabled
    /// target only later (webhook ingest does, after the delivery's signature verified,
    /// so an unverified request cannot learn whether the target is enabled) or that
    /// collects every problem rather than stopping at the first (compile). Finish the
    /// lookup with [`check_target`](Self::check_target).
    ///
    /// # Errors
    ///
    /// `auth.target_not_found` ([`ErrorKind::NotFound`](crate::ErrorKind::NotFound));
    /// `auth.target_mismatch` ([`ErrorKind::Configuration`](crate::ErrorKind::Configuration))
    /// when the target belongs to another definition; storage errors.
    pub async fn stored_target_of(&self, connection: &Connection) -> Result<Arc<Target>, Error> {
        let target = self
            .read_target(&connection.tenant, &connection.target)
            .await?;
        if target.key != connection.key {
            return Err(target_mismatch());
        }
        Ok(target)
    }

    /// The second half of the lookup for a target read by
    /// [`stored_target_of`](Self::stored_target_of): checks it is enabled, finds its
    /// definition and parses its config (once per stored version, in the cache every
    /// other lookup of this loader uses).
    ///
    /// # Errors
    ///
    /// `auth.target_disabled` ([`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied));
    /// `registry.unknown_definition`; `auth.target_config_invalid`
    /// ([`ErrorKind::Configuration`](crate::ErrorKind::Configuration), with the issues).
    pub fn check_target(&self, target: &Arc<Target>) -> Result<LoadedTarget, Error> {
        if !target.enabled {
            return Err(target_disabled());
        }
        self.parsed(Arc::clone(target))
    }

    /// The parsed version of an enabled stored target: the cached one when the record is
    /// unchanged, else a new one, parsed and cached.
    fn parsed(&self, target: Arc<Target>) -> Result<LoadedTarget, Error> {
        if let Some(version) = self.cached(&target) {
            return Ok(LoadedTarget::new(version));
        }
        let entry = Arc::clone(self.registry.require(&target.key)?);
        let config = entry
            .target_config()
            .parse(&target.config)
            .map_err(|issues| {
                crate::codes::auth::TARGET_CONFIG_INVALID.with_issues(
                    "the stored target config is not valid for its definition",
                    issues,
                )
            })?;
        let version = Arc::new(Version {
            target,
            entry,
            config,
            secrets: OnceLock::new(),
            default_headers: OnceLock::new(),
        });
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(version.target.id.clone(), Arc::clone(&version));
        drop(cache);
        Ok(LoadedTarget::new(version))
    }

    /// The cached version of `target`, when the stored record is exactly the one it was
    /// built from.
    fn cached(&self, target: &Arc<Target>) -> Option<Arc<Version>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        // The whole record is compared, tenant included: a target id reused in another
        // tenant, or the same stamp with other content, parses again.
        // A store that shares its records hands back the very record the version was
        // built from while it is unchanged: then no field needs comparing.
        let version = cache.get(&target.id)?;
        (Arc::ptr_eq(&version.target, target) || *version.target == **target)
            .then(|| Arc::clone(version))
    }
}

/// The error of a connection that does not exist: `auth.connection_not_found`.
pub(crate) fn connection_not_found() -> Error {
    crate::codes::auth::CONNECTION_NOT_FOUND.error("the connection does not exist")
}

/// The error of a connection whose target belongs to another definition:
/// `auth.target_mismatch`.
fn target_mismatch() -> Error {
    crate::codes::auth::TARGET_MISMATCH
        .error("the connection's target belongs to another definition")
}

/// The error of a disabled target: `auth.target_disabled`.
pub(crate) fn target_disabled() -> Error {
    crate::codes::auth::TARGET_DISABLED.error("the target is disabled")
}
