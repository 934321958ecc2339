//! [`HostPart`]: the parts of a [`Host`](super::Host) an engine may use, and the
//! stand-in a host holds for each optional part it was built without.
//!
//! The stand-in implements the part's trait and fails every method with
//! `host.part_missing` (a [`Configuration`](crate::ErrorKind::Configuration) error) whose
//! message names the part and the builder method that sets it. It never panics and never
//! reports success: a default method that would answer "nothing stored" (`find_targets`,
//! the `purge_*` methods) fails too, so a host without a store cannot mistake the
//! missing store for an empty one.

use std::fmt;

use async_trait::async_trait;

use super::http::{HttpClient, HttpRequest, HttpResponse};
use super::store::{
    ApprovalStore, BindingStore, CheckpointStore, ContinuationStore, OAuthStateStore,
    PublicationStore, WebhookEventStore,
};
use crate::model::{
    ApprovalCall, ApprovalId, ApprovalRequest, ApprovalStage, Binding, PendingAuthorization,
    PendingContinuation, ProfileVersion, Publication, SyncCheckpoint, SyncLease, WebhookEvent,
};
use crate::{BindingId, ConnectionId, DefinitionKey, Error, PublicationId, TenantId, Timestamp};

/// A part of a [`Host`](super::Host) that an engine uses: a store, the HTTP client or the
/// event sink.
///
/// [`HostBuilder::build`](super::HostBuilder::build) requires [`Targets`](Self::Targets),
/// [`Connections`](Self::Connections) and [`Credentials`](Self::Credentials) (and the
/// cipher); every other part is optional. Engines state the parts they use and
/// [`Host::require`](super::Host::require) checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum HostPart {
    /// Outbound HTTP ([`HttpClient`]), set with [`HostBuilder::http`](super::HostBuilder::http).
    Http,
    /// The [`TargetStore`](super::TargetStore) (required).
    Targets,
    /// The [`ConnectionStore`](super::ConnectionStore) (required).
    Connections,
    /// The [`CredentialStore`](super::CredentialStore) (required).
    Credentials,
    /// The [`BindingStore`].
    Bindings,
    /// The [`OAuthStateStore`].
    OAuthStates,
    /// The [`WebhookEventStore`].
    WebhookEvents,
    /// The [`PublicationStore`].
    Publications,
    /// The [`CheckpointStore`].
    Checkpoints,
    /// The [`ApprovalStore`].
    Approvals,
    /// The [`ContinuationStore`].
    Continuations,
    /// The [`EventSink`](super::EventSink) verified webhook events go to, set with
    /// [`HostBuilder::events`](super::HostBuilder::events).
    Events,
}

impl HostPart {
    /// Every part, in declaration order.
    pub const ALL: [Self; 12] = [
        Self::Http,
        Self::Targets,
        Self::Connections,
        Self::Credentials,
        Self::Bindings,
        Self::OAuthStates,
        Self::WebhookEvents,
        Self::Publications,
        Self::Checkpoints,
        Self::Approvals,
        Self::Continuations,
        Self::Events,
    ];

    /// What the part is, in words: `"checkpoint store"`, `"HTTP client"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Http => "HTTP client",
            Self::Targets => "target store",
            Self::Connections => "connection store",
            Self::Credentials => "credential store",
            Self::Bindings => "binding store",
            Self::OAuthStates => "OAuth state store",
            Self::WebhookEvents => "webhook event store",
            Self::Publications => "publication store",
            Self::Checkpoints => "checkpoint store",
            Self::Approvals => "approval store",
            Self::Continuations => "continuation store",
            Self::Events => "event sink",
        }
    }

    /// The [`HostBuilder`](super::HostBuilder) method that sets the part:
    /// `"HostBuilder::checkpoints"`.
    pub fn setter(self) -> &'static str {
        match self {
            Self::Http => "HostBuilder::http",
            Self::Targets => "HostBuilder::targets",
            Self::Connections => "HostBuilder::connections",
            Self::Credentials => "HostBuilder::credentials",
            Self::Bindings => "HostBuilder::bindings",
            Self::OAuthStates => "HostBuilder::oauth_states",
            Self::WebhookEvents => "HostBuilder::webhook_events",
            Self::Publications => "HostBuilder::publications",
            Self::Checkpoints => "HostBuilder::checkpoints",
            Self::Approvals => "HostBuilder::approvals",
            Self::Continuations => "HostBuilder::continuations",
            Self::Events => "HostBuilder::events",
        }
    }

    /// Whether [`HostBuilder::stores`](super::HostBuilder::stores) sets the part (every
    /// part but HTTP and the event sink).
    pub fn is_store(self) -> bool {
        !matches!(self, Self::Http | Self::Events)
    }

    /// How to set the part: `"HostBuilder::checkpoints or HostBuilder::stores"`.
    pub(super) fn how_to_set(self) -> String {
        if self.is_store() {
            format!("{} or HostBuilder::stores", self.setter())
        } else {
            self.setter().to_owned()
        }
    }
}

impl fmt::Display for HostPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of a part the host was built without.
fn missing(part: HostPart) -> Error {
    crate::codes::host::PART_MISSING.error(format!(
        "the host has no {}; set one with {}",
        part.name(),
        part.how_to_set()
    ))
}

/// The stand-in for every optional part a host was built without.
pub(super) struct Missing;

#[async_trait]
impl HttpClient for Missing {
    async fn send(&self, _request: HttpRequest) -> Result<HttpResponse, Error> {
        Err(missing(HostPart::Http))
    }
}

#[async_trait]
impl BindingStore for Missing {
    async fn get_binding(
        &self,
        _tenant: &TenantId,
        _id: &BindingId,
    ) -> Result<Option<Binding>, Error> {
        Err(missing(HostPart::Bindings))
    }
    async fn put_binding(&self, _binding: &Binding) -> Result<(), Error> {
        Err(missing(HostPart::Bindings))
    }
    async fn list_bindings(
        &self,
        _tenant: &TenantId,
        _profile: &ProfileVersion,
    ) -> Result<Vec<Binding>, Error> {
        Err(missing(HostPart::Bindings))
    }
    async fn delete_binding(&self, _tenant: &TenantId, _id: &BindingId) -> Result<bool, Error> {
        Err(missing(HostPart::Bindings))
    }
}

#[async_trait]
impl OAuthStateStore for Missing {
    async fn put_oauth_state(&self, _pending: &PendingAuthorization) -> Result<(), Error> {
        Err(missing(HostPart::OAuthStates))
    }
    async fn take_oauth_state(
        &self,
        _state_digest: &str,
        _now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, Error> {
        Err(missing(HostPart::OAuthStates))
    }
    async fn purge_oauth_states(&self, _expired_by: Timestamp) -> Result<u64, Error> {
        Err(missing(HostPart::OAuthStates))
    }
}

#[async_trait]
impl WebhookEventStore for Missing {
    async fn record_event_if_new(&self, _event: &WebhookEvent) -> Result<bool, Error> {
        Err(missing(HostPart::WebhookEvents))
    }
    async fn forget_event(
        &self,
        _tenant: &TenantId,
        _key: &DefinitionKey,
        _external_event_id: &str,
    ) -> Result<bool, Error> {
        Err(missing(HostPart::WebhookEvents))
    }
    async fn mark_event_delivered(
        &self,
        _tenant: &TenantId,
        _key: &DefinitionKey,
        _external_event_id: &str,
    ) -> Result<(), Error> {
        Err(missing(HostPart::WebhookEvents))
    }
    async fn event_delivery(
        &self,
        _tenant: &TenantId,
        _key: &DefinitionKey,
        _external_event_id: &str,
    ) -> Result<Option<super::EventDelivery>, Error> {
        Err(missing(HostPart::WebhookEvents))
    }
    async fn release_event(&self, _event: &WebhookEvent) -> Result<bool, Error> {
        Err(missing(HostPart::WebhookEvents))
    }
    async fn take_over_event(
        &self,
        _event: &WebhookEvent,
        _stalled_by: Timestamp,
    ) -> Result<bool, Error> {
        Err(missing(HostPart::WebhookEvents))
    }
    async fn purge_events(&self, _received_by: Timestamp) -> Result<u64, Error> {
        Err(missing(HostPart::WebhookEvents))
    }
}

#[async_trait]
impl PublicationStore for Missing {
    async fn get_publication(
        &self,
        _tenant: &TenantId,
        _id: &PublicationId,
    ) -> Result<Option<Publication>, Error> {
        Err(missing(HostPart::Publications))
    }
    async fn put_publication(&self, _publication: &Publication) -> Result<(), Error> {
        Err(missing(HostPart::Publications))
    }
    async fn list_publications(
        &self,
        _tenant: &TenantId,
        _connection: &ConnectionId,
    ) -> Result<Vec<Publication>, Error> {
        Err(missing(HostPart::Publications))
    }
    async fn delete_publication(
        &self,
        _tenant: &TenantId,
        _id: &PublicationId,
    ) -> Result<bool, Error> {
        Err(missing(HostPart::Publications))
    }
}

#[async_trait]
impl CheckpointStore for Missing {
    async fn load_checkpoint(
        &self,
        _tenant: &TenantId,
        _connection: &ConnectionId,
        _stream: &str,
    ) -> Result<Option<SyncCheckpoint>, Error> {
        Err(missing(HostPart::Checkpoints))
    }
    async fn save_checkpoint(&self, _checkpoint: &SyncCheckpoint) -> Result<u64, Error> {
        Err(missing(HostPart::Checkpoints))
    }
    async fn delete_checkpoints(
        &self,
        _tenant: &TenantId,
        _connection: &ConnectionId,
    ) -> Result<usize, Error> {
        Err(missing(HostPart::Checkpoints))
    }
    async fn acquire_sync_lease(&self, _lease: &SyncLease, _now: Timestamp) -> Result<bool, Error> {
        Err(missing(HostPart::Checkpoints))
    }
    async fn release_sync_lease(
        &self,
        _tenant: &TenantId,
        _connection: &ConnectionId,
        _stream: &str,
        _holder: &str,
    ) -> Result<bool, Error> {
        Err(missing(HostPart::Checkpoints))
    }
}

#[async_trait]
impl ApprovalStore for Missing {
    async fn put_approval(&self, _request: &ApprovalRequest) -> Result<(), Error> {
        Err(missing(HostPart::Approvals))
    }
    async fn take_approval(
        &self,
        _tenant: &TenantId,
        _id: &ApprovalId,
        _now: Timestamp,
    ) -> Result<Option<ApprovalRequest>, Error> {
        Err(missing(HostPart::Approvals))
    }
    async fn purge_approvals(&self, _expired_by: Timestamp) -> Result<u64, Error> {
        Err(missing(HostPart::Approvals))
    }
    async fn delete_approvals(
        &self,
        _tenant: &TenantId,
        _connection: &ConnectionId,
    ) -> Result<usize, Error> {
        Err(missing(HostPart::Approvals))
    }
    async fn put_approval_call(
        &self,
        _call: &ApprovalCall,
        _now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        Err(missing(HostPart::Approvals))
    }
    async fn get_approval_call(
        &self,
        _tenant: &TenantId,
        _key: &str,
        _now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        Err(missing(HostPart::Approvals))
    }
    async fn find_approval_call(
        &self,
        _tenant: &TenantId,
        _approval: &ApprovalId,
        _now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        Err(missing(HostPart::Approvals))
    }
    async fn list_approval_calls(
        &self,
        _tenant: &TenantId,
        _now: Timestamp,
    ) -> Result<Vec<ApprovalCall>, Error> {
        Err(missing(HostPart::Approvals))
    }
    async fn update_approval_call(
        &self,
        _call: &ApprovalCall,
        _from: ApprovalStage,
    ) -> Result<bool, Error> {
        Err(missing(HostPart::Approvals))
    }
    async fn take_answered_call(
        &self,
        _tenant: &TenantId,
        _key: &str,
        _now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        Err(missing(HostPart::Approvals))
    }
}

#[async_trait]
impl ContinuationStore for Missing {
    async fn put_continuation(&self, _pending: &PendingContinuation) -> Result<(), Error> {
        Err(missing(HostPart::Continuations))
    }
    async fn take_continuation(
        &self,
        _tenant: &TenantId,
        _id: &str,
        _now: Timestamp,
    ) -> Result<Option<PendingContinuation>, Error> {
        Err(missing(HostPart::Continuations))
    }
    async fn purge_continuations(&self, _expired_by: Timestamp) -> Result<u64, Error> {
        Err(missing(HostPart::Continuations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn check(error: &Error, part: HostPart) {
        assert_eq!(error.code(), "host.part_missing");
        assert_eq!(error.kind(), ErrorKind::Configuration);
        let message = error.to_string();
        assert!(message.contains(part.name()), "{message}");
        assert!(message.contains(part.setter()), "{message}");
    }

    #[tokio::test]
    async fn every_method_of_every_stand_in_fails_naming_its_part() {
        let tenant = TenantId::new("acme").unwrap();
        let connection = ConnectionId::new("c-1").unwrap();
        let key: DefinitionKey = "x::x-cloud".parse().unwrap();
        let now = Timestamp::from_unix_seconds(1_700_000_000);
        let m = Missing;

        let request = http::Request::new(bytes::Bytes::new());
        check(&m.send(request).await.unwrap_err(), HostPart::Http);

        let id = BindingId::new("b-1").unwrap();
        let profile = ProfileVersion::new(crate::ProfileId::new("p").unwrap(), 1);
        check(
            &m.get_binding(&tenant, &id).await.unwrap_err(),
            HostPart::Bindings,
        );
        check(
            &m.list_bindings(&tenant, &profile).await.unwrap_err(),
            HostPart::Bindings,
        );
        check(
            &m.delete_binding(&tenant, &id).await.unwrap_err(),
            HostPart::Bindings,
        );

        check(
            &m.take_oauth_state("d", now).await.unwrap_err(),
            HostPart::OAuthStates,
        );
        check(
            &m.purge_oauth_states(now).await.unwrap_err(),
            HostPart::OAuthStates,
        );

        check(
            &m.forget_event(&tenant, &key, "e-1").await.unwrap_err(),
            HostPart::WebhookEvents,
        );
        check(
            &m.purge_events(now).await.unwrap_err(),
            HostPart::WebhookEvents,
        );

        let publication = PublicationId::new("pub-1").unwrap();
        check(
            &m.get_publication(&tenant, &publication).await.unwrap_err(),
            HostPart::Publications,
        );
        check(
            &m.list_publications(&tenant, &connection).await.unwrap_err(),
            HostPart::Publications,
        );
        check(
            &m.delete_publication(&tenant, &publication)
                .await
                .unwrap_err(),
            HostPart::Publications,
        );

        check(
            &m.load_checkpoint(&tenant, &connection, "issues")
                .await
                .unwrap_err(),
            HostPart::Checkpoints,
        );
        check(
            &m.release_sync_lease(&tenant, &connection, "issues", "h")
                .await
                .unwrap_err(),
            HostPart::Checkpoints,
        );

        let approval = ApprovalId::new("ap-1").unwrap();
        check(
            &m.take_approval(&tenant, &approval, now).await.unwrap_err(),
            HostPart::Approvals,
        );
        check(
            &m.purge_approvals(now).await.unwrap_err(),
            HostPart::Approvals,
        );

        check(
            &m.take_continuation(&tenant, "c", now).await.unwrap_err(),
            HostPart::Continuations,
        );
        check(
            &m.purge_continuations(now).await.unwrap_err(),
            HostPart::Continuations,
        );
    }

    #[test]
    fn every_part_has_a_name_and_a_setter_of_the_builder() {
        for part in HostPart::ALL {
            assert!(!part.name().is_empty());
            assert!(part.setter().starts_with("HostBuilder::"));
            assert_eq!(part.to_string(), part.name());
        }
        assert_eq!(
            HostPart::Checkpoints.how_to_set(),
            "HostBuilder::checkpoints or HostBuilder::stores"
        );
        assert_eq!(HostPart::Http.how_to_set(), "HostBuilder::http");
        assert_eq!(HostPart::Events.how_to_set(), "HostBuilder::events");
    }
}
