//! Grant changes: what a new event says about its connection's grant (withdrawn,
//! suspended, resumed), applied through the
//! [`ConnectionLifecycle`](crate::lifecycle::ConnectionLifecycle).

use super::{Grant, Ingest, release};
use crate::definition::webhook::errors;
use crate::lifecycle::{Cause, ConnectionLifecycle, StatusChange};
use crate::model::ConnectionStatus;
use crate::model::WebhookEvent;
use crate::provider::webhook::GrantChange;
use crate::{ConnectionId, Error, ErrorKind};

impl Ingest {
    /// Applies what a new event says about its connection's grant, audited. When the
    /// store fails, the event's record is released so the provider's retry applies it.
    pub(super) async fn apply_grant(
        &self,
        event: &WebhookEvent,
        grant: Option<&Grant>,
    ) -> Result<(), Error> {
        let Some(grant) = grant else {
            return Ok(());
        };
        // The event's connection first, then the account's other connections: a retry
        // after a failure finds those already changed unchanged by `decide`.
        let mut applied = self
            .change_status(event, &event.connection, &grant.change, &grant.status)
            .await;
        for (sibling, status) in &grant.siblings {
            if applied.is_err() {
                break;
            }
            applied = self
                .change_status(event, sibling, &grant.change, status)
                .await;
        }
        match applied {
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

    /// Applies `grant` to the connection, read with status `current`. The write is a
    /// compare-and-set: when another writer changed the status meanwhile (a disconnect
    /// revoked it, an earlier event suspended it), the stored status is read again and
    /// the change decided anew, so an `unsuspend` never revives a revoked connection.
    pub(super) async fn change_status(
        &self,
        event: &WebhookEvent,
        connection: &ConnectionId,
        grant: &GrantChange,
        current: &ConnectionStatus,
    ) -> Result<(), Error> {
        let mut current = current.clone();
        // Each lost race means another writer changed the status; a few rounds settle
        // any real interleaving.
        for _ in 0..4 {
            let Some(status) = decide(grant, &current) else {
                return Ok(());
            };
            let change = StatusChange::of(
                &event.tenant,
                connection,
                &event.key,
                current.clone(),
                status,
                Cause::Webhook,
            )
            .if_unchanged()
            .with_detail("event_type", event.event_type.as_str())
            .with_detail("external_event_id", event.external_event_id.as_str());
            if ConnectionLifecycle::new(self.host.clone())
                .change(change)
                .await?
                .is_some()
            {
                return Ok(());
            }
            let stored = self
                .host
                .connections()
                .get_connection(&event.tenant, connection)
                .await?;
            let Some(stored) = stored else {
                // Deleted meanwhile: there is nothing left to change.
                return Ok(());
            };
            current = stored.status;
        }
        Err(Error::new(
            ErrorKind::Conflict,
            errors::codes::GRANT_CHANGE_FAILED,
            "the connection's status kept changing while the event was applied",
        ))
    }
}

/// The status `grant` gives a connection now in `current`, or `None` when it changes
/// nothing.
fn decide(grant: &GrantChange, current: &ConnectionStatus) -> Option<ConnectionStatus> {
    match (grant, current) {
        // Applied already (a retry of the event that revoked it).
        (GrantChange::Revoked { .. }, ConnectionStatus::Revoked { .. }) => None,
        (GrantChange::Revoked { reason }, _) => Some(ConnectionStatus::Revoked {
            reason: reason.clone(),
        }),
        (GrantChange::Suspended { reason }, ConnectionStatus::Active) => {
            Some(ConnectionStatus::Error {
                reason: reason.clone(),
            })
        }
        (GrantChange::Resumed { suspended_reason }, ConnectionStatus::Error { reason })
            if reason == suspended_reason =>
        {
            Some(ConnectionStatus::Active)
        }
        // A suspension of a connection in error already: it refuses credentials, and
        // keeps the error that needs repair rather than one a resumption would clear.
        // A resumption of a connection not suspended (or in error for another reason,
        // which still needs repair).
        (GrantChange::Suspended { .. } | GrantChange::Resumed { .. }, _) => None,
    }
}
