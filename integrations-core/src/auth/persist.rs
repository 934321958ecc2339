//! Storing what a flow obtained: credentials sealed into one versioned set, then the
//! connection record (created, or repaired and made active again).

use super::now;
use crate::host::{Host, SecretCipherExt};
use crate::model::{
    AuthorizationIntent, Connection, ConnectionScope, ConnectionStatus, Credential,
};
use crate::provider::IssuedCredential;
use crate::service::credential_aad;
use crate::{ConnectionId, ConnectionMethodId, DefinitionKey, Error, TargetId, TenantId};

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
}

/// A fresh random connection id, `conn_` and 24 hex digits.
pub(crate) fn new_connection_id() -> Result<ConnectionId, Error> {
    ConnectionId::new(format!("conn_{}", super::state::random_hex()?))
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
    let id = match &destination.connection_id {
        Some(id) => id.clone(),
        None => new_connection_id()?,
    };
    if host
        .connections()
        .get_connection(destination.tenant, &id)
        .await?
        .is_some()
    {
        return Err(Error::conflict(
            "auth.connection_exists",
            "a connection with this id already exists; reauthorize it instead",
        ));
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
    connection.external_subject = obtained.external_subject;
    connection.granted_scopes = obtained.granted_scopes;
    if !obtained.credentials.is_empty() {
        let sealed = seal(host, &connection, &obtained.credentials)?;
        host.credentials()
            .swap_credentials(&connection.tenant, &connection.id, None, sealed)
            .await?;
    }
    host.connections().put_connection(&connection).await?;
    Ok(connection)
}

async fn reauthorize(
    host: &Host,
    destination: &Destination<'_>,
    id: &ConnectionId,
    obtained: Obtained,
) -> Result<Connection, Error> {
    let Some(mut connection) = host
        .connections()
        .get_connection(destination.tenant, id)
        .await?
    else {
        return Err(Error::not_found(
            "auth.connection_not_found",
            "the connection to reauthorize does not exist",
        ));
    };
    if &connection.target != destination.target || &connection.method != destination.method {
        return Err(Error::invalid_input(
            "auth.reauthorize_mismatch",
            "the connection to reauthorize uses another target or method",
            Vec::new(),
        ));
    }
    if let (Some(had), Some(got)) = (&connection.external_subject, &obtained.external_subject)
        && had != got
    {
        return Err(Error::conflict(
            "auth.subject_mismatch",
            "the provider authorized another account than the connection's; nothing was changed",
        ));
    }
    if !obtained.credentials.is_empty() {
        let sealed = seal(host, &connection, &obtained.credentials)?;
        // Reauthorizing replaces every credential; retry when a refresh swapped meanwhile.
        let mut attempts = 0;
        loop {
            let current = host
                .credentials()
                .load_credentials(&connection.tenant, &connection.id)
                .await?
                .map(|set| set.version);
            match host
                .credentials()
                .swap_credentials(&connection.tenant, &connection.id, current, sealed.clone())
                .await
            {
                Ok(_) => break,
                Err(e) if e.is_conflict() && attempts < 3 => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }
    connection.status = ConnectionStatus::Active;
    connection.updated_at = now(host);
    if connection.external_subject.is_none() {
        connection.external_subject = obtained.external_subject;
    }
    if !obtained.granted_scopes.is_empty() {
        connection.granted_scopes = obtained.granted_scopes;
    }
    host.connections().put_connection(&connection).await?;
    Ok(connection)
}
