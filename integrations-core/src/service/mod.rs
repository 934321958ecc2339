//! The write-time service for targets, connections and bindings: one path that validates
//! everything and stores nothing when anything fails.

mod inputs;
mod prepare;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use inputs::{BindingInput, ConnectionInput, TargetInput};
pub use prepare::{PreparedBinding, prepare_binding};

use crate::definition::ConnectionMethodKind;
use crate::host::Host;
use crate::lifecycle::{Cause, ConnectionLifecycle};
use crate::model::{Binding, Connection, ConnectionStatus, Credential, Target};
use crate::registry::RegisteredIntegration;
use crate::sealing::{Aad, SecretCipherExt};
use crate::{Error, Registry, Secret, ValidationIssue};

/// Associated data for a target's sealed secrets.
///
/// The layout is [`sealing::target_secrets_aad`](crate::sealing::target_secrets_aad).
pub fn target_secrets_aad(target: &Target) -> Aad {
    crate::sealing::target_secrets_aad(&target.tenant, &target.id)
}

/// Associated data for one credential of a connection: bound to the tenant, the
/// connection, the credential type and the slot.
///
/// The layout is [`sealing::credential_aad`](crate::sealing::credential_aad).
pub fn credential_aad(
    connection: &Connection,
    credential_type: &crate::model::CredentialType,
    slot: Option<&str>,
) -> Aad {
    crate::sealing::credential_aad(
        &connection.tenant,
        &connection.id,
        credential_type.as_str(),
        slot,
    )
}

/// How many times a connection write reads the record again after another writer changed
/// it between the read and the write.
const MAX_WRITE_ATTEMPTS: u32 = 3;

/// After a create's record (`connection`, as inserted) went in, makes sure the credential
/// set under it is the one the create swapped in (version `swapped`). A create of the
/// same id that read that set, swapped its own over it and then lost the insert puts
/// back the set it read, but only best effort: a write between its swap and its putting
/// back makes that fail, and the winner's record would keep the loser's credentials.
///
/// Only while the record is still the one inserted and a set is stored: a record
/// written since (a reauthorization, a new key, a disconnect) or deleted (forgotten)
/// means its writer's set is the one to keep, and a deleted set stays deleted. Then a
/// set of another version is replaced with `credentials` (compare-and-swap, a few
/// attempts).
///
/// # Errors
///
/// `store.version_conflict` when the set kept changing; storage errors.
pub(crate) async fn keep_created_credentials(
    host: &Host,
    connection: &Connection,
    swapped: u64,
    credentials: &[Credential],
) -> Result<(), Error> {
    let store = host.credentials();
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let record = host
            .connections()
            .get_connection(&connection.tenant, &connection.id)
            .await?;
        if record.as_ref() != Some(connection) {
            return Ok(());
        }
        let Some(current) = store
            .load_credentials(&connection.tenant, &connection.id)
            .await?
        else {
            return Ok(());
        };
        if current.version == swapped {
            return Ok(());
        }
        match store
            .swap_credentials(
                &connection.tenant,
                &connection.id,
                Some(current.version),
                credentials.to_vec(),
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.is_conflict() => {}
            Err(e) => return Err(e),
        }
    }
    Err(crate::codes::store::VERSION_CONFLICT.error(
        "the new connection's credentials kept changing while it was created; reauthorize it",
    ))
}

/// Validates and stores targets, connections and bindings.
///
/// Every write runs every check, collects every issue, and stores nothing unless all
/// pass. The binding checks are [`prepare_binding`], the same function the compiler runs,
/// so a binding accepted here compiles, and one refused here is refused there with the
/// same codes.
#[derive(Clone)]
pub struct WriteService {
    registry: Arc<Registry>,
    host: Host,
}

impl std::fmt::Debug for WriteService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteService").finish_non_exhaustive()
    }
}

/// The refusal of a write: `code` (`target.invalid`, ...) with every issue found.
fn rejected(code: crate::Code, what: &str, issues: Vec<ValidationIssue>) -> Error {
    code.with_issues(format!("the {what} is invalid; nothing was stored"), issues)
}

fn prefixed(
    issues: Vec<ValidationIssue>,
    prefix: &str,
) -> impl Iterator<Item = ValidationIssue> + '_ {
    issues.into_iter().map(move |i| i.under(prefix))
}

impl WriteService {
    /// The parts of the host the write service uses; a host can check them at start-up with
    /// [`Host::require`].
    pub const HOST_PARTS: &'static [crate::host::HostPart] = &[
        crate::host::HostPart::Targets,
        crate::host::HostPart::Connections,
        crate::host::HostPart::Credentials,
        crate::host::HostPart::Bindings,
    ];

    /// A service over a registry and a host.
    ///
    /// # Host
    ///
    /// Uses the targets, connections, credentials and bindings stores (bindings only for
    /// binding writes), the cipher and the clock; no HTTP client.
    pub fn new(registry: Arc<Registry>, host: Host) -> Self {
        Self { registry, host }
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Creates or replaces a target. Without `secrets`, an existing target keeps its
    /// sealed secrets; a new one is validated as having `{}`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) `target.invalid` with
    /// every issue (`registry.unknown_definition` at `/key`, schema issues under `/config`
    /// and `/secrets`, `target.key_changed`); storage and cipher errors.
    pub async fn put_target(&self, input: TargetInput) -> Result<Target, Error> {
        let Some(entry) = self.registry.get(&input.key) else {
            return Err(rejected(
                crate::codes::target::INVALID,
                "target",
                vec![ValidationIssue::new(
                    crate::codes::registry::UNKNOWN_DEFINITION,
                    "/key",
                    format!("no integration is registered under {}", input.key),
                )],
            ));
        };
        let existing = self
            .host
            .targets()
            .get_target(&input.tenant, &input.id)
            .await?;
        let mut issues = Vec::new();
        if let Some(existing) = &existing
            && existing.key != input.key
        {
            issues.push(ValidationIssue::new(
                crate::codes::issues::target::KEY_CHANGED,
                "/key",
                "a target's definition cannot change; create a new target",
            ));
        }
        match entry.target_config().parse(&input.config) {
            // The OAuth 2.0 endpoints the config points at must be https (or loopback).
            Ok(parsed) => {
                for registered in entry.methods() {
                    if let Some(spec) = entry.definition().oauth2(registered.method(), &parsed) {
                        issues.extend(spec.endpoint_issues("/config"));
                    }
                }
            }
            Err(found) => issues.extend(prefixed(found, "/config")),
        }
        let secrets_json = match (&input.secrets, &existing) {
            (Some(secrets), _) => {
                if let Err(found) = entry.target_secrets().parse(secrets.expose()) {
                    issues.extend(prefixed(found, "/secrets"));
                }
                Some(secrets.expose())
            }
            (None, Some(_)) => None,
            (None, None) => {
                let empty = serde_json::json!({});
                if let Err(found) = entry.target_secrets().parse(&empty) {
                    issues.extend(prefixed(found, "/secrets"));
                }
                None
            }
        };
        if !issues.is_empty() {
            return Err(rejected(crate::codes::target::INVALID, "target", issues));
        }

        let now = self.host.clock().now();
        let mut target = match existing {
            Some(existing) => {
                let mut t = existing;
                t.updated_at = now;
                t
            }
            None => Target::new(
                input.tenant.clone(),
                input.id.clone(),
                input.key.clone(),
                now,
            ),
        };
        target.enabled = input.enabled;
        target.display_name = input.display_name;
        target.config = input.config;
        if let Some(secrets) = secrets_json {
            let bytes = zeroize::Zeroizing::new(serde_json::to_vec(secrets).map_err(|e| {
                Error::internal("target secrets could not be encoded").with_source(e)
            })?);
            target.secrets = Some(
                self.host
                    .cipher()
                    .seal(&bytes, &target_secrets_aad(&target))?,
            );
        } else if target.secrets.is_none() {
            let bytes = b"{}";
            target.secrets = Some(
                self.host
                    .cipher()
                    .seal(bytes, &target_secrets_aad(&target))?,
            );
        }
        self.host.targets().put_target(&target).await?;
        Ok(target)
    }

    /// Creates or replaces an API-key connection, storing its secrets sealed as
    /// credentials. (OAuth and redirect connections are created by their flows.)
    ///
    /// A new key makes a revoked or errored connection active again, audited once as
    /// `connection.status_changed` with `cause: reauthorize`; a write without secrets
    /// keeps the stored status. The record is written over the revision read only
    /// ([`ConnectionStore::put_connection_if_unchanged`]): when another writer changed it
    /// meanwhile (a managed webhook registered, a status change), it is read again and
    /// the write made anew over it, so that change is kept; a connection deleted
    /// meanwhile is created anew from the input alone.
    ///
    /// [`ConnectionStore::put_connection_if_unchanged`]: crate::host::ConnectionStore::put_connection_if_unchanged
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) `connection.invalid`
    /// with every issue (`connection.target_not_found`, `connection.target_disabled`,
    /// `connection.unknown_method`, `connection.method_requires_flow`,
    /// `connection.missing_secret`, `connection.unknown_secret`, `connection.empty_secret`,
    /// `connection.secret_prefix`, schema issues under `/config`);
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) `store.version_conflict` when
    /// the connection or its credentials kept changing during the write; storage errors.
    pub async fn put_connection(&self, input: ConnectionInput) -> Result<Connection, Error> {
        self.write_connection(input, None).await
    }

    /// Replaces the config of the connection `id` of `tenant`, whatever method made it,
    /// once it is valid for that method's config schema. This is how an OAuth or App
    /// installation connection, which its authorization flow creates with an empty
    /// config, gets one (GitHub's `sync_repositories` and `webhook_repository`, for
    /// instance). Nothing else changes: not its credentials, status, scope or subject.
    /// The record is written over the revision read only, and read again when another
    /// writer changed it meanwhile. Audited as `connection.configured`
    /// ([`AuditAction::CONNECTION_CONFIGURED`](crate::host::AuditAction::CONNECTION_CONFIGURED)).
    ///
    /// `config` replaces the whole config: to change one member, read the connection and
    /// write its config back with that member changed, or the others are dropped. A
    /// member that says where a managed webhook goes (GitHub's `webhook_repository`) takes
    /// effect there once the host runs
    /// [`ManagedWebhooks`](crate::webhook::ManagedWebhooks) for the connection again; to
    /// move or drop one, unregister it first, since a registered hook stays where it was.
    ///
    /// # Errors
    ///
    /// `auth.connection_not_found`; [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)
    /// `connection.invalid` with the schema issues under `/config` (nothing is written);
    /// `registry.unknown_definition` when the connection's integration is not registered;
    /// `store.version_conflict` when the connection kept changing; storage errors.
    pub async fn configure_connection(
        &self,
        tenant: &crate::TenantId,
        id: &crate::ConnectionId,
        config: serde_json::Value,
    ) -> Result<Connection, Error> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let Some(existing) = self.host.connections().get_connection(tenant, id).await? else {
                return Err(crate::codes::auth::CONNECTION_NOT_FOUND
                    .error(format!("the tenant has no connection {id}")));
            };
            let entry = self.registry.require(&existing.key)?;
            let Some(method) = entry.method(&existing.method) else {
                return Err(rejected(
                    crate::codes::connection::INVALID,
                    "connection",
                    vec![ValidationIssue::new(
                        crate::codes::issues::connection::UNKNOWN_METHOD,
                        "/method",
                        format!(
                            "{} has no connection method {}",
                            existing.key, existing.method
                        ),
                    )],
                ));
            };
            if let Err(found) = method.config().parse(&config) {
                return Err(rejected(
                    crate::codes::connection::INVALID,
                    "connection",
                    prefixed(found, "/config").collect(),
                ));
            }
            let mut connection = existing.clone();
            connection.touch(self.host.clock().now());
            connection.config = config.clone();
            if self
                .host
                .connections()
                .put_connection_if_unchanged(&existing, &connection)
                .await?
            {
                let event = crate::host::AuditEvent::new(
                    connection.updated_at,
                    tenant.clone(),
                    crate::host::AuditAction::CONNECTION_CONFIGURED,
                    crate::host::AuditOutcome::Success,
                )
                .with_key(connection.key.clone())
                .with_connection(id.clone())
                .with_detail("method", connection.method.as_str().to_owned());
                self.host.audit().record(event).await;
                return Ok(connection);
            }
        }
        Err(crate::codes::store::VERSION_CONFLICT
            .error("the connection kept changing while its config was written; write it again"))
    }

    /// [`put_connection`](Self::put_connection) of a key whose identity check named
    /// `verified` as its account: a connection of another account keeps its key
    /// (`auth.subject_mismatch`).
    pub(crate) async fn write_connection(
        &self,
        input: ConnectionInput,
        verified: Option<&str>,
    ) -> Result<Connection, Error> {
        let mut issues = Vec::new();
        let target = self
            .host
            .targets()
            .get_target(&input.tenant, &input.target)
            .await?;
        let Some(target) = target else {
            return Err(rejected(
                crate::codes::connection::INVALID,
                "connection",
                vec![ValidationIssue::new(
                    crate::codes::issues::connection::TARGET_NOT_FOUND,
                    "/target",
                    "the target does not exist",
                )],
            ));
        };
        if !target.enabled {
            issues.push(ValidationIssue::new(
                crate::codes::issues::connection::TARGET_DISABLED,
                "/target",
                "the target is disabled",
            ));
        }
        let entry = self.registry.require(&target.key)?;
        let Some(method) = entry.method(&input.method) else {
            issues.push(ValidationIssue::new(
                crate::codes::issues::connection::UNKNOWN_METHOD,
                "/method",
                format!("{} has no connection method {}", target.key, input.method),
            ));
            return Err(rejected(
                crate::codes::connection::INVALID,
                "connection",
                issues,
            ));
        };
        if method.method().kind != ConnectionMethodKind::ApiKey {
            issues.push(ValidationIssue::new(
                crate::codes::issues::connection::METHOD_REQUIRES_FLOW,
                "/method",
                format!(
                    "connections with method {} are created by their authorization flow",
                    input.method
                ),
            ));
        }
        if let Err(found) = method.config().parse(&input.config) {
            issues.extend(prefixed(found, "/config"));
        }

        let issued_at = self.host.clock().now();
        // Sealed once: the associated data names the tenant, the id, the type and the
        // slot, none of which a retry changes.
        let mut credentials = Vec::new();
        for field in &method.method().secret_fields {
            let Some(secret) = input.secrets.get(&field.name) else {
                continue;
            };
            let aad = crate::sealing::credential_aad(
                &input.tenant,
                &input.id,
                field.credential_type.as_str(),
                field.slot.as_deref(),
            );
            let sealed = self.host.cipher().seal_secret(secret, &aad)?;
            let mut credential = Credential::new(field.credential_type.clone(), sealed, issued_at);
            credential.slot.clone_from(&field.slot);
            credentials.push(credential);
        }

        let mut attempts = 0;
        loop {
            let existing = self
                .host
                .connections()
                .get_connection(&input.tenant, &input.id)
                .await?;
            let mut issues = issues.clone();
            if let Some(existing) = &existing
                && (existing.target != input.target || existing.method != input.method)
            {
                issues.push(ValidationIssue::new(
                    crate::codes::issues::connection::IDENTITY_CHANGED,
                    "",
                    "a connection's target and method cannot change; create a new connection",
                ));
            }
            check_secrets(
                entry,
                &input.method,
                &input.secrets,
                existing.is_some(),
                &mut issues,
            );
            if !issues.is_empty() {
                return Err(rejected(
                    crate::codes::connection::INVALID,
                    "connection",
                    issues,
                ));
            }
            if let (Some(got), Some(existing)) = (verified, &existing)
                && existing
                    .external_subject
                    .as_deref()
                    .is_some_and(|had| had != got)
            {
                return Err(crate::codes::auth::SUBJECT_MISMATCH.error(
                    "the key belongs to another account than the connection's; nothing was changed",
                ));
            }

            // Each attempt is a new revision of the record it read, whatever the clock
            // says (the same millisecond as that record, or behind the clock of the
            // process that wrote it): see `Connection::touch`.
            let now = self.host.clock().now();
            let mut connection = match existing.clone() {
                Some(mut c) => {
                    c.touch(now);
                    c
                }
                None => Connection::new(
                    input.tenant.clone(),
                    input.id.clone(),
                    input.target.clone(),
                    target.key.clone(),
                    input.method.clone(),
                    now,
                ),
            };
            connection.scope = input.scope.clone();
            connection.config = input.config.clone();
            connection
                .external_subject
                .clone_from(&input.external_subject);
            // A managed webhook delivers to the endpoint key it was registered with.
            if input.endpoint_key.is_some() || connection.managed_webhook.is_none() {
                connection.endpoint_key.clone_from(&input.endpoint_key);
            }
            // A new key repairs a revoked or errored connection.
            if !input.secrets.is_empty() {
                connection.status = ConnectionStatus::Active;
            }

            match self
                .write_once(existing.as_ref(), &connection, &credentials, &input)
                .await
            {
                Ok(true) => {
                    if let Some(existing) = &existing {
                        ConnectionLifecycle::new(self.host.clone())
                            .written(&existing.status, &connection, Cause::Reauthorize, None)
                            .await;
                    }
                    return Ok(connection);
                }
                // The record (or its credentials) changed since it was read: read again.
                Ok(false) => {}
                Err(e) if e.is_conflict() => {}
                Err(e) => return Err(e),
            }
            attempts += 1;
            if attempts >= MAX_WRITE_ATTEMPTS {
                return Err(crate::codes::store::VERSION_CONFLICT
                    .error("the connection kept changing while it was written; write it again"));
            }
        }
    }

    /// Swaps in `credentials` (when the input has secrets) and writes `connection` over
    /// `read`, the revision it was built from (or as a new record). `false` when the
    /// stored record is no longer that revision (or, for a new record, when another
    /// writer created one under the id meanwhile): the credentials swapped in are then put
    /// back as they were (unless another writer changed them since), so a write that
    /// ends refused (the record now names another account) leaves no key of its own
    /// under it.
    async fn write_once(
        &self,
        read: Option<&Connection>,
        connection: &Connection,
        credentials: &[Credential],
        input: &ConnectionInput,
    ) -> Result<bool, Error> {
        if !input.secrets.is_empty() {
            // The current version also when no connection record exists: a set left by a
            // write that stopped before its record is replaced, not a dead end.
            let current = self
                .host
                .credentials()
                .load_credentials(&connection.tenant, &connection.id)
                .await?;
            // A managed webhook's signing secret is not the key's: it stays.
            let credentials =
                crate::webhook::keep_managed_secret(current.as_ref(), credentials.to_vec());
            let swapped = self
                .host
                .credentials()
                .swap_credentials(
                    &connection.tenant,
                    &connection.id,
                    current.as_ref().map(|set| set.version),
                    credentials.clone(),
                )
                .await?;
            let written = self.write_record(read, connection).await;
            if read.is_none() && matches!(written, Ok(true)) {
                // A new record went in: a create of the same id that lost the insert may
                // have swapped its set over this one's first.
                keep_created_credentials(&self.host, connection, swapped, &credentials).await?;
            }
            if !matches!(written, Ok(true)) {
                let previous = current.map(|set| set.credentials).unwrap_or_default();
                // Best effort: a conflict means another writer's credentials are there
                // now, and they stay.
                let _ = self
                    .host
                    .credentials()
                    .swap_credentials(&connection.tenant, &connection.id, Some(swapped), previous)
                    .await;
            }
            return written;
        }
        self.write_record(read, connection).await
    }

    /// Writes `connection` over `read` (or as a new record); `false` when the stored
    /// record is no longer `read` (or, for a new record, when one exists by now).
    async fn write_record(
        &self,
        read: Option<&Connection>,
        connection: &Connection,
    ) -> Result<bool, Error> {
        if let Some(read) = read {
            return self
                .host
                .connections()
                .put_connection_if_unchanged(read, connection)
                .await;
        }
        // A new record only where none is: a connection another writer created under
        // this id meanwhile is read and written over as a revision, not replaced blind.
        self.host
            .connections()
            .put_connection_if_absent(connection)
            .await
    }

    /// Creates or replaces a binding after the full binding validation.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) `binding.invalid` with
    /// every issue [`prepare_binding`] finds (`binding.connection_not_found`,
    /// `binding.connection_not_active`, `binding.target_disabled`, `binding.kind_mismatch`,
    /// schema issues under `/config`, the definition's own codes); storage errors.
    pub async fn put_binding(&self, input: BindingInput) -> Result<Binding, Error> {
        let connection = self
            .host
            .connections()
            .get_connection(&input.tenant, &input.connection)
            .await?;
        let Some(connection) = connection else {
            return Err(rejected(
                crate::codes::binding::INVALID,
                "binding",
                vec![ValidationIssue::new(
                    crate::codes::issues::binding::CONNECTION_NOT_FOUND,
                    "/connection",
                    "the connection does not exist",
                )],
            ));
        };
        let target = self
            .host
            .targets()
            .get_target(&input.tenant, &connection.target)
            .await?;
        let Some(target) = target else {
            return Err(rejected(
                crate::codes::binding::INVALID,
                "binding",
                vec![ValidationIssue::new(
                    crate::codes::issues::binding::TARGET_NOT_FOUND,
                    "/connection",
                    "the connection's target does not exist",
                )],
            ));
        };
        prepare_binding(
            &self.registry,
            &target,
            &connection,
            input.kind,
            &input.config,
        )
        .map_err(|issues| rejected(crate::codes::binding::INVALID, "binding", issues))?;
        let now = self.host.clock().now();
        let existing = self
            .host
            .bindings()
            .get_binding(&input.tenant, &input.id)
            .await?;
        let mut binding = match existing {
            Some(mut b) => {
                b.updated_at = now;
                b.profile = input.profile.profile.clone();
                b.profile_version = input.profile.version;
                b.connection = input.connection.clone();
                b.kind = input.kind;
                b
            }
            None => Binding::new(
                input.tenant.clone(),
                input.id.clone(),
                input.profile,
                input.connection.clone(),
                input.kind,
                now,
            ),
        };
        binding.config = input.config;
        self.host.bindings().put_binding(&binding).await?;
        Ok(binding)
    }
}

fn check_secrets(
    entry: &RegisteredIntegration,
    method: &crate::ConnectionMethodId,
    secrets: &BTreeMap<String, Secret>,
    updating: bool,
    issues: &mut Vec<ValidationIssue>,
) {
    let Some(method) = entry.method(method) else {
        return;
    };
    let fields = &method.method().secret_fields;
    for name in secrets.keys() {
        if !fields.iter().any(|f| &f.name == name) {
            issues.push(ValidationIssue::new(
                crate::codes::issues::connection::UNKNOWN_SECRET,
                format!("/secrets/{}", crate::issue::escape_pointer_token(name)),
                "this method takes no secret of that name",
            ));
        }
    }
    // A new connection needs every secret; an update may omit all of them (keeping the
    // stored ones) but not replace only some.
    let must_have_all = !updating || !secrets.is_empty();
    for field in fields {
        let path = format!(
            "/secrets/{}",
            crate::issue::escape_pointer_token(&field.name)
        );
        match secrets.get(&field.name) {
            None if must_have_all && method.method().kind == ConnectionMethodKind::ApiKey => {
                issues.push(ValidationIssue::new(
                    crate::codes::issues::connection::MISSING_SECRET,
                    path,
                    format!("{} is required", field.label),
                ));
            }
            None => {}
            Some(secret) if secret.expose().trim().is_empty() => {
                issues.push(ValidationIssue::new(
                    crate::codes::issues::connection::EMPTY_SECRET,
                    path,
                    format!("{} must not be empty", field.label),
                ));
            }
            Some(secret) => {
                if let Some(prefix) = &field.expected_prefix
                    && !secret.expose().starts_with(prefix.as_str())
                {
                    issues.push(ValidationIssue::new(
                        crate::codes::issues::connection::SECRET_PREFIX,
                        path,
                        format!("{} should start with {prefix}", field.label),
                    ));
                }
            }
        }
    }
}
