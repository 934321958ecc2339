//! Grant changes: what a new event says about its connection's grant (withdrawn,
//! suspended, resumed), applied through the
//! [`ConnectionLifecycle`](crate::lifecycle::ConnectionLifecycle).

use super::{Ingest, release};
use crate::definition::webhook::errors;
use crate::lifecycle::{Cause, ConnectionLifecycle, StatusChange};
use crate::model::ConnectionStatus;
use crate::model::WebhookEvent;
use crate::provider::webhook::GrantChange;
use crate::{Error, ErrorKind};

impl Ingest {
    /// Applies what a new event says about its connection's grant, audited. When the
    /// store fails, the event's record is released so the provider's retry applies it.
    pub(super) async fn apply_grant(
        &self,
        event: &WebhookEvent,
        grant: Option<&(GrantChange, ConnectionStatus)>,
    ) -> Result<(), Error> {
        let Some((grant, current)) = grant else {
            return Ok(());
        };
        match self.change_status(event, grant, current).await {
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

    pub(super) async fn change_status(
        &self,
        event: &WebhookEvent,
        grant: &GrantChange,
        current: &ConnectionStatus,
    ) -> Result<(), Error> {
        let status = match (grant, current) {
            // Applied already (a retry of the event that revoked it).
            (GrantChange::Revoked { .. }, ConnectionStatus::Revoked { .. }) => return Ok(()),
            (GrantChange::Revoked { reason }, _) => ConnectionStatus::Revoked {
                reason: reason.clone(),
            },
            (GrantChange::Suspended { reason }, ConnectionStatus::Active) => {
                ConnectionStatus::Error {
                    reason: reason.clone(),
                }
            }
            (GrantChange::Resumed { suspended_reason }, ConnectionStatus::Error { reason })
                if reason == suspended_reason =>
            {
                ConnectionStatus::Active
            }
            // A suspension of a connection in error already: it refuses credentials, and
            // keeps the error that needs repair rather than one a resumption would clear.
            // A resumption of a connection not suspended (or in error for another
            // reason, which still needs repair).
            (GrantChange::Suspended { .. } | GrantChange::Resumed { .. }, _) => return Ok(()),
        };
        let change = StatusChange::of(
            &event.tenant,
            &event.connection,
            &event.key,
            current.clone(),
            status,
            Cause::Webhook,
        )
        .with_detail("event_type", event.event_type.as_str())
        .with_detail("external_event_id", event.external_event_id.as_str());
        ConnectionLifecycle::new(self.host.clone())
            .change(change)
            .await?;
        Ok(())
    }
}
