//! Storing what a flow obtained: credentials sealed into one versioned set, then the
//! connection record (created, or repaired and made active again).
//!
//! A flow that obtains an account (an external subject) already connected through the
//! same target, in the same tenant and scope, reauthorizes that connection instead of
//! creating a second one, whose deliveries would be ambiguous. A user's connection is
//! reauthorized only by that user. Without a chosen id, such a connection is created
//! under the account's own id, so that two flows racing to connect one account meet at
//! that id: the record is inserted only where none is, and the flow that finds it taken
//! reauthorizes it.

use super::now;
use crate::host::Host;
use crate::lifecycle::{Cause, ConnectionLifecycle};
use crate::model::{
    AuthorizationIntent, Connection, ConnectionScope, ConnectionStatus, Credential,
};
use crate::provider::IssuedCredential;
use crate::sealing::SecretCipherExt;
use crate::service::credential_aad;
use crate::{ConnectionId, ConnectionMethodId, DefinitionKey, Error, TargetId, TenantId, UserId};

/// How many times a reauthorization reads the connection again after another writer
/// changed it between the read and the write.
const MAX_WRITE_ATTEMPTS: u32 = 3;

/// What a flow obtained for a connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Obtained {
    pub(crate) credentials: Vec<IssuedCredential>,
    pub(crate) granted_scopes: Vec<String>,
    pub(crate) external_subject: Option<String>,
}

/// Where the connection goes.
pub(crate) struct Destination<'a> {
    pub(crate) tenant: &'a TenantId,
    pub(crate) target: &'a TargetId,
    pub(crate) key: &'a DefinitionKey,
    pub(crate) method: &'a ConnectionMethodId,
    pub(crate) intent: &'a AuthorizationIntent,
    pub(crate) connection_id: Option<ConnectionId>,
    pub(crate) actor: Actor<'a>,
}

/// Who stores the connection.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Actor<'a> {
    /// The host itself (client credentials): no user session.
    Host,
    /// A user's session (an authorization redirect), signed in as this user or none.
    Session(Option<&'a UserId>),
}

/// A user's connection is reauthorized only by that user: another user (or a session
/// with none) would swap their own grant into it, and when the provider names no
/// account the subject check cannot tell.
pub(crate) fn check_reauthorizer(connection: &Connection, actor: Actor<'_>) -> Result<(), Error> {
    match (&connection.scope, actor) {
        (ConnectionScope::User { user }, Actor::Session(by)) if by != Some(user) => {
            Err(crate::codes::auth::SCOPE_USER_MISMATCH
                .error("a user's connection can only be reauthorized by that user"))
        }
        _ => Ok(()),
    }
}

/// The connection of the same provider-side account, through the same target, in the
/// same tenant and scope, if there is one: connecting that account again reauthorizes
/// it rather than adding a second connection (two would make every webhook delivery for
/// the account ambiguous).
pub(crate) async fn same_account(
    host: &Host,
    tenant: &TenantId,
    target: &TargetId,
    scope: &ConnectionScope,
    subject: &str,
) -> Result<Option<Connection>, Error> {
    let connections = host.connections().list_connections(tenant).await?;
    Ok(connections.into_iter().find(|c| {
        &c.target == target && &c.scope == scope && c.external_subject.as_deref() == Some(subject)
    }))
}

/// A fresh random connection id, `conn_` and 24 hex digits.
pub(crate) fn new_connection_id() -> Result<ConnectionId, Error> {
    ConnectionId::new(format!("conn_{}", crate::sealing::random_hex()?))
}

/// The id of the connection of one provider-side account, `conn_` and 24 hex digits:
/// the first 12 bytes of a SHA-256 over the tenant, the target, the method, the scope
/// and the subject (each length-prefixed), so it looks like a random id, is the same
/// for every flow that connects the account this way, and differs between tenants.
fn account_connection_id(
    destination: &Destination<'_>,
    scope: &ConnectionScope,
    subject: &str,
) -> Result<ConnectionId, Error> {
    use sha2::{Digest, Sha256};
    let (scope_kind, scope_id) = match scope {
        ConnectionScope::Organization => ("organization", ""),
        ConnectionScope::Workspace { workspace } => ("workspace", workspace.as_str()),
        ConnectionScope::Project { project } => ("project", project.as_str()),
        ConnectionScope::User { user } => ("user", user.as_str()),
    };
    let mut digest = Sha256::new();
    for part in [
        "integrations connection of an account v1",
        destination.tenant.as_str(),
        destination.target.as_str(),
        destination.method.as_str(),
        scope_kind,
        scope_id,
        subject,
    ] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    ConnectionId::new(format!("conn_{}", hex::encode(&digest.finalize()[..12])))
}

/// Seals issued credentials for `connection`.
pub(crate) fn seal(
    host: &Host,
    connection: &Connection,
    issued: &[IssuedCredential],
) -> Result<Vec<Credential>, Error> {
    let at = now(host);
    issued
        .iter()
        .map(|c| {
            let aad = credential_aad(connection, &c.credential_type, c.slot.as_deref());
            let sealed = host.cipher().seal_secret(&c.value, &aad)?;
            let mut credential =
                Credential::new(c.credential_type.clone(), sealed, at).with_expiry(c.expires_at);
            credential.slot.clone_from(&c.slot);
            Ok(credential)
        })
        .collect()
}

/// Stores a new connection, or repairs the one being reauthorized.
pub(crate) async fn save(
    host: &Host,
    destination: Destination<'_>,
    obtained: Obtained,
) -> Result<Connection, Error> {
    match destination.intent {
        AuthorizationIntent::Create { scope } => create(host, &destination, scope, obtained).await,
        AuthorizationIntent::Reauthorize { connection } => {
            reauthorize(host, &destination, connection, obtained).await
        }
    }
}

async fn create(
    host: &Host,
    destination: &Destination<'_>,
    scope: &ConnectionScope,
    obtained: Obtained,
) -> Result<Connection, Error> {
    if let Some(subject) = &obtained.external_subject
        && let Some(existing) =
            same_account(host, destination.tenant, destination.target, scope, subject).await?
        && &existing.method == destination.method
    {
        return reauthorize(host, destination, &existing.id, obtained).await;
    }
    // Without a chosen id, an account the provider names gets the id of its account, so
    // that two flows connecting it at once (two tabs, a double click) meet at one id:
    // the one that finds it taken reauthorizes it, as it would have had it come second.
    let (id, accounts) = match (&destination.connection_id, &obtained.external_subject) {
        (Some(id), _) => (id.clone(), false),
        (None, Some(subject)) => (account_connection_id(destination, scope, subject)?, true),
        (None, None) => (new_connection_id()?, false),
    };
    if host
        .connections()
        .get_connection(destination.tenant, &id)
        .await?
        .is_some()
    {
        return taken(host, destination, &id, accounts, obtained).await;
    }
    let mut connection = Connection::new(
        destination.tenant.clone(),
        id,
        destination.target.clone(),
        destination.key.clone(),
        destination.method.clone(),
        now(host),
    );
    connection.scope = scope.clone();
    connection
        .external_subject
        .clone_from(&obtained.external_subject);
    connection
        .granted_scopes
        .clone_from(&obtained.granted_scopes);
    let swapped = if obtained.credentials.is_empty() {
        None
    } else {
        Some(swap_in(host, &connection, &obtained, accounts).await?)
    };
    // The record goes in only where none is: a create of the same id that stored its
    // record first has taken the id, and its record is not written over.
    if host
        .connections()
        .put_connection_if_absent(&connection)
        .await?
    {
        // The other way round: this create's record went in, and the loser may have
        // swapped its set over this one's before it lost.
        if let Some(swapped) = &swapped {
            crate::service::keep_created_credentials(
                host,
                &connection,
                swapped.version,
                &swapped.sealed,
            )
            .await?;
        }
        return Ok(connection);
    }
    if !accounts && let Some(swapped) = swapped {
        // This create's set is not left under the winner's record. Best effort: a
        // conflict means the winner's credentials are there now, and they stay.
        let _ = host
            .credentials()
            .swap_credentials(
                &connection.tenant,
                &connection.id,
                Some(swapped.version),
                swapped.previous,
            )
            .await;
    }
    taken(host, destination, &connection.id, accounts, obtained).await
}

/// What a create does when another stored the connection `id` first: for an account's
/// id, the account's other flow did, and this grant, the later one, replaces its
/// credentials as a reauthorization does; a chosen id is refused.
async fn taken(
    host: &Host,
    destination: &Destination<'_>,
    id: &ConnectionId,
    accounts: bool,
    obtained: Obtained,
) -> Result<Connection, Error> {
    if accounts {
        reauthorize(host, destination, id, obtained).await
    } else {
        Err(connection_exists())
    }
}

/// A create's credentials, swapped in under its id before its record.
struct SwappedIn {
    /// The version they were stored as.
    version: u64,
    /// They, sealed.
    sealed: Vec<Credential>,
    /// The set that was there before (none: empty), put back if the create loses.
    previous: Vec<Credential>,
}

/// Seals `obtained`'s credentials for `connection` and swaps them in. No connection has
/// this id, but a credential set may: one left by a create that stopped before its
/// record. It is replaced (from the version read), so the id is never blocked. One
/// another create swapped in meanwhile is not: for a chosen id, that race is the id
/// being taken; for an account's id (`accounts`), it is the account's other flow, and
/// this one reads again and goes on (to reauthorize what that flow stores).
async fn swap_in(
    host: &Host,
    connection: &Connection,
    obtained: &Obtained,
    accounts: bool,
) -> Result<SwappedIn, Error> {
    let sealed = seal(host, connection, &obtained.credentials)?;
    let mut attempts = 0;
    loop {
        let current = host
            .credentials()
            .load_credentials(&connection.tenant, &connection.id)
            .await?;
        match host
            .credentials()
            .swap_credentials(
                &connection.tenant,
                &connection.id,
                current.as_ref().map(|set| set.version),
                sealed.clone(),
            )
            .await
        {
            Ok(version) => {
                return Ok(SwappedIn {
                    version,
                    sealed,
                    previous: current.map(|set| set.credentials).unwrap_or_default(),
                });
            }
            Err(e) if e.is_conflict() && accounts && attempts + 1 < MAX_WRITE_ATTEMPTS => {
                attempts += 1;
            }
            Err(e) if e.is_conflict() && accounts => {
                return Err(crate::codes::store::VERSION_CONFLICT
                    .error("the account's credentials kept changing while it was connected; authorize it again")
                    .with_source(e));
            }
            Err(e) if e.is_conflict() => return Err(connection_exists().with_source(e)),
            Err(e) => return Err(e),
        }
    }
}

fn connection_exists() -> Error {
    crate::codes::auth::CONNECTION_EXISTS
        .error("a connection with this id already exists; reauthorize it instead")
}

async fn reauthorize(
    host: &Host,
    destination: &Destination<'_>,
    id: &ConnectionId,
    obtained: Obtained,
) -> Result<Connection, Error> {
    let Some(connection) = host
        .connections()
        .get_connection(destination.tenant, id)
        .await?
    else {
        return Err(crate::codes::auth::CONNECTION_NOT_FOUND
            .error("the connection to reauthorize does not exist"));
    };
    if &connection.target != destination.target || &connection.method != destination.method {
        return Err(crate::codes::auth::REAUTHORIZE_MISMATCH
            .error("the connection to reauthorize uses another target or method"));
    }
    check_reauthorizer(&connection, destination.actor)?;
    check_subject(&connection, &obtained)?;
    // The version of the set this reauthorization wrote, if it wrote one, and the set it
    // replaced (none: there was none), put back if the reauthorization fails after.
    let mut written = None;
    let mut replaced = None;
    if !obtained.credentials.is_empty() {
        let sealed = seal(host, &connection, &obtained.credentials)?;
        // Reauthorizing replaces every credential; retry when a refresh swapped meanwhile.
        let mut attempts = 0;
        loop {
            let current = host
                .credentials()
                .load_credentials(&connection.tenant, &connection.id)
                .await?;
            // A managed webhook's signing secret is not the grant's: it stays.
            let replacement = crate::webhook::keep_managed_secret(current.as_ref(), sealed.clone());
            match host
                .credentials()
                .swap_credentials(
                    &connection.tenant,
                    &connection.id,
                    current.as_ref().map(|set| set.version),
                    replacement,
                )
                .await
            {
                Ok(version) => {
                    written = Some(version);
                    replaced = Some(current.map(|set| set.credentials));
                    break;
                }
                Err(e) if e.is_conflict() && attempts < 3 => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }
    let (tenant, id) = (connection.tenant.clone(), connection.id.clone());
    let mut discarded = false;
    let outcome = write_reauthorized(host, destination, connection, &obtained, written)
        .await
        .map_err(|(error, gone)| {
            discarded = gone;
            error
        });
    if outcome.is_err()
        && !discarded
        && let (Some(written), Some(replaced)) = (written, replaced)
    {
        restore_replaced(host, (&tenant, &id), written, replaced).await;
    }
    outcome
}

/// Writes the reauthorized record (`obtained` into `connection`, as read), the
/// reauthorization's credentials stored at version `written`. On error, whether they
/// were discarded already (the connection was deleted or disconnected meanwhile).
async fn write_reauthorized(
    host: &Host,
    destination: &Destination<'_>,
    connection: Connection,
    obtained: &Obtained,
    written: Option<u64>,
) -> Result<Connection, (Error, bool)> {
    let kept = |error: Error| (error, false);
    let id = connection.id.clone();
    // The record is written over the revision read only: a change another writer made
    // meanwhile (a managed webhook registered, a status change) is read again and kept,
    // and a connection deleted meanwhile is not brought back.
    let first_status = connection.status.clone();
    let mut read = connection;
    let mut attempts = 0;
    loop {
        let mut connection = read.clone();
        connection.status = ConnectionStatus::Active;
        // A new revision even in the millisecond of the one read (a webhook registered
        // meanwhile at the same instant): see `Connection::touch`.
        connection.touch(now(host));
        if connection.external_subject.is_none() {
            connection
                .external_subject
                .clone_from(&obtained.external_subject);
        }
        if !obtained.granted_scopes.is_empty() {
            connection
                .granted_scopes
                .clone_from(&obtained.granted_scopes);
        }
        let landed = match host
            .connections()
            .put_connection_if_unchanged(&read, &connection)
            .await
        {
            Ok(written) => written,
            // A store error can come after the write landed (a connection lost after
            // the commit): then it is written, and its credentials must stay.
            Err(error) => match host
                .connections()
                .get_connection(destination.tenant, &id)
                .await
            {
                Ok(Some(stored)) if stored.is_revision_of(&connection) => true,
                _ => return Err(kept(error)),
            },
        };
        if landed {
            // The status changes with the whole record (scopes, subject); the lifecycle
            // audits it.
            ConnectionLifecycle::new(host.clone())
                .written(
                    &read.status,
                    &connection,
                    Cause::Reauthorize,
                    match destination.actor {
                        Actor::Session(user) => user.cloned(),
                        Actor::Host => None,
                    },
                )
                .await;
            return Ok(connection);
        }
        attempts += 1;
        if attempts >= MAX_WRITE_ATTEMPTS {
            return Err(kept(crate::codes::store::VERSION_CONFLICT.error(
                "the connection kept changing while it was reauthorized; authorize it again",
            )));
        }
        let Some(stored) = host
            .connections()
            .get_connection(destination.tenant, &id)
            .await
            .map_err(kept)?
        else {
            discard_orphaned(host, &read, written).await;
            return Err((
                crate::codes::auth::CONNECTION_NOT_FOUND
                    .error("the connection was deleted while it was being reauthorized"),
                true,
            ));
        };
        // Disconnected meanwhile (it was not when this reauthorization read it): the
        // person who disconnected it wins, and its credentials are not written back
        // over the disconnect's deletion.
        if matches!(stored.status, ConnectionStatus::Revoked { .. })
            && !matches!(first_status, ConnectionStatus::Revoked { .. })
        {
            discard_orphaned(host, &read, written).await;
            return Err((
                crate::codes::store::VERSION_CONFLICT.error(
                    "the connection was disconnected while it was being reauthorized; authorize it again",
                ),
                true,
            ));
        }
        check_subject(&stored, obtained).map_err(kept)?;
        read = stored;
    }
}

/// Puts back the credential set a failed reauthorization `replaced` (`None`: there was
/// none) when its own, stored at version `written`, is still there: "nothing was
/// changed" holds for the credentials too. A failure is logged: the reauthorization
/// fails either way.
async fn restore_replaced(
    host: &Host,
    (tenant, id): (&TenantId, &ConnectionId),
    written: u64,
    replaced: Option<Vec<Credential>>,
) {
    let credentials = host.credentials();
    // Swapped from the version written (another writer's newer set is a conflict, and
    // stays); where there was no set, emptied that way first, then deleted while still
    // the emptied one.
    let outcome = match credentials
        .swap_credentials(
            tenant,
            id,
            Some(written),
            replaced.clone().unwrap_or_default(),
        )
        .await
    {
        Ok(emptied) if replaced.is_none() => match credentials.load_credentials(tenant, id).await {
            Ok(Some(set)) if set.version == emptied => {
                credentials.delete_credentials(tenant, id).await.map(drop)
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        },
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    };
    // A conflict is another writer's newer set, which stays.
    if let Err(e) = outcome
        && !e.is_conflict()
    {
        tracing::warn!(
            target: "integrations::auth",
            tenant = %tenant,
            connection = %id,
            code = e.code(),
            "the credentials a failed reauthorization replaced could not be put back"
        );
    }
}

/// Deletes the credential set a reauthorization wrote (at version `written`) for a
/// connection deleted meanwhile, unless another writer replaced it since: no record
/// names it any more, so nothing would ever use, refresh or delete its tokens. A
/// failure is logged: the reauthorization fails either way.
async fn discard_orphaned(host: &Host, connection: &Connection, written: Option<u64>) {
    let Some(written) = written else {
        return;
    };
    let credentials = host.credentials();
    let outcome = match credentials
        .load_credentials(&connection.tenant, &connection.id)
        .await
    {
        Ok(Some(set)) if set.version == written => credentials
            .delete_credentials(&connection.tenant, &connection.id)
            .await
            .map(drop),
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        tracing::warn!(
            target: "integrations::auth",
            tenant = %connection.tenant,
            connection = %connection.id,
            code = e.code(),
            "the credentials of a connection deleted during its reauthorization could not be deleted"
        );
    }
}

/// The account the provider authorized must be the connection's, when both are known.
fn check_subject(connection: &Connection, obtained: &Obtained) -> Result<(), Error> {
    match (&connection.external_subject, &obtained.external_subject) {
        (Some(had), Some(got)) if had != got => Err(crate::codes::auth::SUBJECT_MISMATCH.error(
            "the provider authorized another account than the connection's; nothing was changed",
        )),
        _ => Ok(()),
    }
}
