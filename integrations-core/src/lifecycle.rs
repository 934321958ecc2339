//! [`ConnectionLifecycle`]: the one owner of connection status changes.
//!
//! Every engine that changes a connection's status (webhook grant changes, the token
//! manager marking a refused grant `error`, a sync run refused by the provider,
//! disconnect, reauthorization) does it here: the write goes through the store (a
//! compare-and-set when the change only applies from the status the caller read), and
//! each transition the store took is audited once, as `connection.status_changed`, with
//! the same fields every time:
//!
//! | field | value |
//! |---|---|
//! | `status` | the new status (`active`, `error`, `revoked`) |
//! | `previous` | the status the change replaced |
//! | `cause` | who changed it: [`Cause`] (`webhook`, `credential`, `sync`, `disconnect`, `reauthorize`) |
//! | (extras) | what the cause adds: `code`, `event_type`, `external_event_id`, `remote` ... |
//!
//! A change the store did not take (the connection was deleted, or its status moved
//! meanwhile) writes nothing and audits nothing; a write of the status read (a second
//! disconnect) is no transition and is not audited either.

use crate::host::{AuditAction, AuditEvent, AuditOutcome, Host};
use crate::model::{Connection, ConnectionStatus};
use crate::{ConnectionId, DefinitionKey, Error, TenantId, Timestamp, UserId};

/// Who changed a connection's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// A webhook event withdrew, suspended or resumed the grant.
    Webhook,
    /// The token manager found the grant refused (or new credentials landed).
    Credential,
    /// A sync run found the credential refused.
    Sync,
    /// The connection was disconnected.
    Disconnect,
    /// The connection was authorized again.
    Reauthorize,
}

impl Cause {
    /// The audit's `cause` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Credential => "credential",
            Self::Sync => "sync",
            Self::Disconnect => "disconnect",
            Self::Reauthorize => "reauthorize",
        }
    }
}

/// One status change: from the connection as the caller read it to `to`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StatusChange {
    /// The connection's tenant.
    pub tenant: TenantId,
    /// The connection.
    pub id: ConnectionId,
    /// The connection's definition.
    pub key: DefinitionKey,
    /// The status the caller read: the change's `previous`.
    pub from: ConnectionStatus,
    /// The new status.
    pub to: ConnectionStatus,
    /// Who changes it.
    pub cause: Cause,
    /// Write only when the stored status is still the one read (compare-and-set).
    pub only_if_unchanged: bool,
    /// The user who asked for it, when one did.
    pub actor: Option<UserId>,
    /// What the cause adds to the audit event.
    pub detail: Vec<(&'static str, String)>,
}

impl StatusChange {
    /// A change of `connection` (as read) to `to`, written whatever the stored status.
    pub fn new(connection: &Connection, to: ConnectionStatus, cause: Cause) -> Self {
        Self::of(
            &connection.tenant,
            &connection.id,
            &connection.key,
            connection.status.clone(),
            to,
            cause,
        )
    }

    /// A change of the connection `id` (of `tenant`, definition `key`), read with status
    /// `from`, to `to`, written whatever the stored status.
    pub fn of(
        tenant: &TenantId,
        id: &ConnectionId,
        key: &DefinitionKey,
        from: ConnectionStatus,
        to: ConnectionStatus,
        cause: Cause,
    ) -> Self {
        Self {
            tenant: tenant.clone(),
            id: id.clone(),
            key: key.clone(),
            from,
            to,
            cause,
            only_if_unchanged: false,
            actor: None,
            detail: Vec::new(),
        }
    }

    /// Writes only when the stored status is still `from`.
    #[must_use]
    pub fn if_unchanged(mut self) -> Self {
        self.only_if_unchanged = true;
        self
    }

    /// Names the user who asked for the change.
    #[must_use]
    pub fn with_actor(mut self, actor: Option<UserId>) -> Self {
        self.actor = actor;
        self
    }

    /// Adds a field to the audit event.
    #[must_use]
    pub fn with_detail(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.detail.push((name, value.into()));
        self
    }
}

/// Performs connection status changes and audits each one (see the
/// [module docs](self)).
#[derive(Debug, Clone)]
pub struct ConnectionLifecycle {
    host: Host,
}

impl ConnectionLifecycle {
    /// The lifecycle over `host`'s connection store, clock and audit sink.
    pub fn new(host: Host) -> Self {
        Self { host }
    }

    /// Writes `change` through the store and audits it. Returns the updated connection,
    /// or `None` when the store did not take it (the connection does not exist, or, for
    /// a compare-and-set, its status is no longer the one read); nothing is audited then.
    /// A change to the status read (`revoked` to the same `revoked`, a second
    /// disconnect) is written but not audited: no transition happened.
    ///
    /// # Errors
    ///
    /// Storage errors (nothing is audited then).
    pub async fn change(&self, change: StatusChange) -> Result<Option<Connection>, Error> {
        let now = self.host.clock().now();
        let connections = self.host.connections();
        let written = if change.only_if_unchanged {
            connections
                .set_connection_status_if(
                    &change.tenant,
                    &change.id,
                    &change.from,
                    change.to.clone(),
                    now,
                )
                .await?
        } else {
            connections
                .set_connection_status(&change.tenant, &change.id, change.to.clone(), now)
                .await?
        };
        let Some(updated) = written else {
            return Ok(None);
        };
        // A write of the status read (a second disconnect) changes nothing to audit.
        if change.from != updated.status {
            self.audit(&change, &change.from, &updated, now).await;
        }
        Ok(Some(updated))
    }

    /// Audits a status change the caller wrote as part of a whole record (a
    /// reauthorization writes scopes, subject and status at once): `previous` is the
    /// status it replaced. Nothing is audited when the status did not change.
    pub async fn written(
        &self,
        previous: &ConnectionStatus,
        connection: &Connection,
        cause: Cause,
        actor: Option<UserId>,
    ) {
        if previous == &connection.status {
            return;
        }
        let change =
            StatusChange::new(connection, connection.status.clone(), cause).with_actor(actor);
        self.audit(&change, previous, connection, connection.updated_at)
            .await;
    }

    async fn audit(
        &self,
        change: &StatusChange,
        previous: &ConnectionStatus,
        updated: &Connection,
        now: Timestamp,
    ) {
        tracing::info!(
            target: "integrations::lifecycle",
            tenant = %updated.tenant,
            connection = %updated.id,
            previous = previous.as_str(),
            status = updated.status.as_str(),
            cause = change.cause.as_str(),
            "connection status changed"
        );
        let mut event = AuditEvent::new(
            now,
            updated.tenant.clone(),
            AuditAction::CONNECTION_STATUS_CHANGED,
            AuditOutcome::Success,
        )
        .with_key(updated.key.clone())
        .with_connection(updated.id.clone())
        .with_detail("status", updated.status.as_str())
        .with_detail("previous", previous.as_str())
        .with_detail("cause", change.cause.as_str());
        for (name, value) in &change.detail {
            event = event.with_detail(*name, value.clone());
        }
        if change.actor.is_some() {
            event = event.with_actor(change.actor.clone());
        }
        self.host.audit().record(event).await;
    }
}
