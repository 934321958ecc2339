//! The store traits: one small trait per record, all implemented by a host on one type.
//!
//! Every method is tenant-scoped except the webhook routing lookup
//! ([`ConnectionStore::find_connections`]), which must find a connection from a
//! provider-side subject before the tenant is known.
//!
//! Stores return [`Error`]; wrap your database error with [`Error::storage`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::model::{
    ApprovalCall, ApprovalId, ApprovalRequest, ApprovalStage, Binding, Connection,
    ConnectionStatus, Credential, CredentialSet, PendingAuthorization, PendingContinuation,
    ProfileVersion, Publication, SyncCheckpoint, SyncLease, Target, WebhookEvent,
};
use crate::{
    BindingId, ConnectionId, DefinitionKey, Error, PublicationId, TargetId, TenantId, Timestamp,
    UserId, WorkspaceId,
};

/// Targets.
#[async_trait]
pub trait TargetStore: Send + Sync {
    /// The target, if it exists.
    async fn get_target(&self, tenant: &TenantId, id: &TargetId) -> Result<Option<Target>, Error>;
    /// Inserts or replaces a target.
    async fn put_target(&self, target: &Target) -> Result<(), Error>;
    /// Every target of a tenant, ordered by id.
    async fn list_targets(&self, tenant: &TenantId) -> Result<Vec<Target>, Error>;
    /// Deletes a target; `true` when it existed.
    async fn delete_target(&self, tenant: &TenantId, id: &TargetId) -> Result<bool, Error>;
    /// The targets of definition `key` in any tenant, ordered by tenant then id: the
    /// webhook pipeline verifies an app-level probe that precedes every connection (Slack's
    /// `url_verification`, a GitHub App's `ping`) against them, and verifies a delivery
    /// before reading it when a single target holds every secret it can be signed with.
    ///
    /// The default finds none: such probes are then refused as unroutable and deliveries
    /// to app-level routes are classified before they are verified. Stores should
    /// implement it.
    async fn find_targets(&self, key: &DefinitionKey) -> Result<Vec<Target>, Error> {
        let _ = key;
        Ok(Vec::new())
    }

    /// The target as a shared record, if it exists: the read the tool runtime and the
    /// loader make on every call (unless [`get_target_now`](Self::get_target_now)
    /// answers it).
    ///
    /// The default wraps [`get_target`](Self::get_target)'s record. A store that keeps
    /// records in memory can hand out its own copy without cloning it; the record behind
    /// the `Arc` must then never change, since a write replaces it with a new one (the
    /// loader takes an unchanged pointer as an unchanged record).
    async fn get_target_shared(
        &self,
        tenant: &TenantId,
        id: &TargetId,
    ) -> Result<Option<Arc<Target>>, Error> {
        Ok(self.get_target(tenant, id).await?.map(Arc::new))
    }

    /// [`get_target_shared`](Self::get_target_shared) answered at once, without a future,
    /// when the store can: a store that keeps its records in memory overrides it and
    /// returns `Some` with the same answer. The default returns `None`; the caller then
    /// awaits `get_target_shared`. The tool runtime and the loader try it first on every
    /// read, so an in-memory store costs no allocation per read. It runs on the caller's
    /// task: answer `None` rather than block on I/O or on a lock held across an `await`.
    fn get_target_now(
        &self,
        tenant: &TenantId,
        id: &TargetId,
    ) -> Option<Result<Option<Arc<Target>>, Error>> {
        let _ = (tenant, id);
        None
    }
}

/// A cross-tenant lookup of connections for webhook routing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionQuery {
    /// Connections of this definition.
    pub key: DefinitionKey,
    /// With this external subject (installation id, team id, organization id).
    pub external_subject: Option<String>,
    /// With this endpoint key (from the webhook URL path).
    pub endpoint_key: Option<String>,
}

impl ConnectionQuery {
    /// Connections of `key` with external subject `subject`.
    pub fn by_subject(key: DefinitionKey, subject: impl Into<String>) -> Self {
        Self {
            key,
            external_subject: Some(subject.into()),
            endpoint_key: None,
        }
    }

    /// Connections of `key` with endpoint key `endpoint`.
    pub fn by_endpoint(key: DefinitionKey, endpoint: impl Into<String>) -> Self {
        Self {
            key,
            external_subject: None,
            endpoint_key: Some(endpoint.into()),
        }
    }

    /// Whether `connection` matches.
    pub fn matches(&self, connection: &Connection) -> bool {
        connection.key == self.key
            && self
                .external_subject
                .as_ref()
                .is_none_or(|s| connection.external_subject.as_ref() == Some(s))
            && self
                .endpoint_key
                .as_ref()
                .is_none_or(|e| connection.endpoint_key.as_ref() == Some(e))
    }
}

/// Connections.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// The connection, if it exists.
    async fn get_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, Error>;
    /// The connection as a shared record, if it exists: the read the tool runtime makes
    /// on every call (unless [`get_connection_now`](Self::get_connection_now) answers it).
    ///
    /// The default wraps [`get_connection`](Self::get_connection)'s record. A store that
    /// keeps records in memory can hand out its own copy without cloning it; the record
    /// behind the `Arc` must then never change, since a write replaces it with a new one.
    async fn get_connection_shared(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Arc<Connection>>, Error> {
        Ok(self.get_connection(tenant, id).await?.map(Arc::new))
    }
    /// [`get_connection_shared`](Self::get_connection_shared) answered at once, without a
    /// future, when the store can: a store that keeps its records in memory overrides it
    /// and returns `Some` with the same answer. The default returns `None`; the caller then
    /// awaits `get_connection_shared`. The tool runtime tries it first on every call, so
    /// an in-memory store costs no allocation per read. It runs on the caller's task:
    /// answer `None` rather than block on I/O or on a lock held across an `await`.
    fn get_connection_now(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Option<Result<Option<Arc<Connection>>, Error>> {
        let _ = (tenant, id);
        None
    }
    /// Inserts or replaces a connection.
    async fn put_connection(&self, connection: &Connection) -> Result<(), Error>;
    /// Inserts `connection` only if its tenant has no connection with its id. `true`
    /// when inserted; `false` when one exists (nothing is written then). Of any number
    /// of concurrent calls for one id, exactly one inserts. Creating a connection under
    /// an id the host chose uses it, so that two creates racing for one id end with one
    /// connection, and the loser is told (`auth.connection_exists`) instead of writing
    /// over the winner's record.
    ///
    /// The default reads then writes, which leaves a small window to a concurrent
    /// writer; stores should override it with one atomic step (`INSERT ... ON CONFLICT
    /// DO NOTHING`), as `MemoryStore` and the SQL stores do.
    ///
    /// # Errors
    ///
    /// Storage errors.
    async fn put_connection_if_absent(&self, connection: &Connection) -> Result<bool, Error> {
        if self
            .get_connection(&connection.tenant, &connection.id)
            .await?
            .is_some()
        {
            return Ok(false);
        }
        self.put_connection(connection).await?;
        Ok(true)
    }
    /// Every connection of a tenant, ordered by id.
    async fn list_connections(&self, tenant: &TenantId) -> Result<Vec<Connection>, Error>;
    /// Deletes the connection's record; `true` when it existed.
    ///
    /// Only the record: the connection's sealed credentials (its refresh token
    /// included), its publications and its sync checkpoints stay where they are, and
    /// nothing is asked of the provider. [`Authorizations::forget`](crate::auth::Authorizations::forget)
    /// does all of what follows in one call. To forget a connection by hand, a host first
    /// disconnects it with [`Authorizations::disconnect`](crate::auth::Authorizations::disconnect),
    /// which revokes the grant at the provider, deletes its managed webhook there, marks
    /// the connection `revoked` and deletes its credentials (keeping their version, so a
    /// token refresh in flight cannot write them back); then deletes its publications
    /// ([`PublicationStore::delete_publication`], listed by
    /// [`list_publications`](PublicationStore::list_publications)) and its checkpoints
    /// ([`CheckpointStore::delete_checkpoints`]) and, when it wants the record gone too,
    /// calls this. Deleting the record alone leaves the grant and
    /// any managed webhook live at the provider, with no record left to disconnect.
    ///
    /// An id can come back: a chosen one, and the id an authorization flow derives from
    /// an account when its account is connected again. Whatever still names the id then
    /// (publications, bindings, sync checkpoints) applies to the new connection, so a
    /// host that means to forget a connection deletes those first.
    async fn delete_connection(&self, tenant: &TenantId, id: &ConnectionId) -> Result<bool, Error>;
    /// Connections of any tenant matching `query` (webhook routing), ordered by tenant
    /// then id.
    async fn find_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>, Error>;
    /// Atomically sets a connection's status (read-modify-write inside the store), and
    /// returns the updated connection, or `None` when it does not exist.
    ///
    /// The write is a new revision ([`Connection::touch`]): `updated_at` becomes `now`,
    /// or one millisecond past the stored `updated_at` when `now` is not after it, so a
    /// status changed and changed back in one millisecond (a suspension and its
    /// resumption) is never taken for the revision a writer read before
    /// ([`put_connection_if_unchanged`](Self::put_connection_if_unchanged)).
    async fn set_connection_status(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<Connection>, Error>;

    /// Writes `connection` only if the stored record is still the revision `read` was
    /// ([`Connection::is_revision_of`]: the same status, endpoint key and `updated_at`).
    /// `true` when written; `false` when it changed or no longer exists (nothing is
    /// written then). A writer that read a connection, called a provider, and now stores
    /// what it learned uses it, so that a revocation (or another writer's change)
    /// landing meanwhile is not written over. Of any number of concurrent calls from one
    /// read, exactly one writes.
    ///
    /// The store writes `connection` as given. Revisions differ only because every
    /// writer moves `updated_at` forward: build `connection` from `read` and
    /// [`touch`](Connection::touch) it, as the engines do, or a write made in the
    /// millisecond of the revision read leaves that revision's readers free to write
    /// over it.
    ///
    /// The default reads then writes, which leaves a small window to a concurrent
    /// writer; stores should override it with one atomic step (`UPDATE ... WHERE status
    /// = ... AND updated_at = ...`), as `MemoryStore` and the SQL stores do.
    ///
    /// # Errors
    ///
    /// Storage errors.
    async fn put_connection_if_unchanged(
        &self,
        read: &Connection,
        connection: &Connection,
    ) -> Result<bool, Error> {
        match self
            .get_connection(&connection.tenant, &connection.id)
            .await?
        {
            Some(stored) if stored.is_revision_of(read) => {
                self.put_connection(connection).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Sets a connection's status only if its stored status equals `expected`, and
    /// returns the updated connection; `None` when it does not exist or has another
    /// status (nothing is written then). The token manager marks a connection `error`
    /// this way, so that a connection revoked meanwhile stays revoked. `updated_at`
    /// moves forward as in [`set_connection_status`](Self::set_connection_status).
    ///
    /// The default reads then writes, which leaves a small window to a concurrent
    /// writer; stores should override it with one atomic step (`UPDATE ... WHERE status
    /// = ...`), as `MemoryStore` does.
    async fn set_connection_status_if(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        expected: &ConnectionStatus,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<Connection>, Error> {
        match self.get_connection(tenant, id).await? {
            Some(stored) if &stored.status == expected => {
                self.set_connection_status(tenant, id, status, now).await
            }
            _ => Ok(None),
        }
    }
}

/// Credentials, versioned per connection for compare-and-swap.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// The connection's credentials, if any were stored.
    async fn load_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<CredentialSet>, Error>;

    /// Replaces all credentials of a connection **only if** the stored version equals
    /// `expected_version` (`None`: only if nothing is stored). Returns the new version.
    ///
    /// This is the only way credentials are written, so that of two writers that read the
    /// same version only one succeeds, and an access token and its rotated refresh token
    /// land together.
    ///
    /// Versions never repeat for a connection: the first set is version 1, each swap adds
    /// one, and a set stored after [`delete_credentials`](Self::delete_credentials)
    /// continues from the deleted set's version. So a writer that read a set before it
    /// was deleted (a token refresh racing a disconnect and a reconnection) can never
    /// match the new set's version and write the old grant's tokens over the new grant's.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) with code
    /// `store.version_conflict` when the version does not match; storage errors.
    async fn swap_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        expected_version: Option<u64>,
        credentials: Vec<Credential>,
    ) -> Result<u64, Error>;

    /// Deletes a connection's credentials; `true` when there were any. The store keeps
    /// the deleted set's version (a tombstone), so the next set continues from it; a
    /// swap expecting any version of the deleted set fails.
    async fn delete_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<bool, Error>;
}

/// The error a store returns when a compare-and-swap finds another version.
pub fn version_conflict() -> Error {
    crate::codes::store::VERSION_CONFLICT
        .error("the record changed since it was read; read it again")
}

/// Bindings.
#[async_trait]
pub trait BindingStore: Send + Sync {
    /// The binding, if it exists.
    async fn get_binding(
        &self,
        tenant: &TenantId,
        id: &BindingId,
    ) -> Result<Option<Binding>, Error>;
    /// Inserts or replaces a binding.
    async fn put_binding(&self, binding: &Binding) -> Result<(), Error>;
    /// The bindings of one profile version, ordered by id.
    async fn list_bindings(
        &self,
        tenant: &TenantId,
        profile: &ProfileVersion,
    ) -> Result<Vec<Binding>, Error>;
    /// Deletes a binding; `true` when it existed.
    async fn delete_binding(&self, tenant: &TenantId, id: &BindingId) -> Result<bool, Error>;
}

/// Pending authorizations (OAuth 2.0 state), taken once.
#[async_trait]
pub trait OAuthStateStore: Send + Sync {
    /// Stores a pending authorization.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) when one with the same digest
    /// exists; storage errors.
    async fn put_oauth_state(&self, pending: &PendingAuthorization) -> Result<(), Error>;

    /// Removes and returns the pending authorization with this state digest. Of any number
    /// of concurrent calls with one digest, exactly one gets it.
    ///
    /// One that expired at or before `now` (the caller's clock) is removed too but never
    /// returned: the call reports it as absent (`None`).
    async fn take_oauth_state(
        &self,
        state_digest: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, Error>;

    /// Deletes the pending authorizations that expired at or before `expired_by`, and
    /// returns how many. The default keeps everything (returns 0).
    ///
    /// # Errors
    ///
    /// Storage errors; nothing is deleted then.
    async fn purge_oauth_states(&self, expired_by: Timestamp) -> Result<u64, Error> {
        let _ = expired_by;
        Ok(0)
    }
}

/// Where a recorded webhook event's delivery stands
/// ([`WebhookEventStore::event_delivery`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventDelivery {
    /// Recorded, and its first delivery has not finished: it is running, in this process
    /// or another, or the process running it died. `since` is the record's
    /// `received_at`.
    InProgress {
        /// When the event was recorded.
        since: Timestamp,
    },
    /// Delivered to the event sink.
    Delivered,
}

/// Received webhook events, deduplicated.
#[async_trait]
pub trait WebhookEventStore: Send + Sync {
    /// Records the event unless one with the same tenant, definition key and
    /// `external_event_id` exists. Returns `true` when it was new. Of any number of
    /// concurrent calls for one event, exactly one gets `true`.
    async fn record_event_if_new(&self, event: &WebhookEvent) -> Result<bool, Error>;

    /// Forgets a recorded event, so a redelivery is processed again (used when delivery
    /// to the event sink failed after recording). `true` when it existed.
    async fn forget_event(
        &self,
        tenant: &TenantId,
        key: &DefinitionKey,
        external_event_id: &str,
    ) -> Result<bool, Error>;

    /// Releases `event`'s record after its delivery failed, so a redelivery is processed
    /// again: forgets it, unless the record is no longer this delivery's because a
    /// redelivery [took it over](Self::take_over_event) meanwhile (its `received_at` is
    /// not `event.received_at`). `true` when it forgot the record.
    ///
    /// The ingest pipeline calls it instead of [`forget_event`](Self::forget_event), so a
    /// first delivery that fails after a takeover leaves the taker's record alone. The
    /// default forgets the record whatever it holds, as stores without takeovers may.
    ///
    /// # Errors
    ///
    /// Storage errors; nothing is forgotten then.
    async fn release_event(&self, event: &WebhookEvent) -> Result<bool, Error> {
        self.forget_event(&event.tenant, &event.key, &event.external_event_id)
            .await
    }

    /// Marks a recorded event delivered: the ingest pipeline calls it once the event
    /// sink took the event. Nothing happens for an event not recorded. The default
    /// does nothing (a store that keeps no delivery state).
    ///
    /// # Errors
    ///
    /// Storage errors.
    async fn mark_event_delivered(
        &self,
        tenant: &TenantId,
        key: &DefinitionKey,
        external_event_id: &str,
    ) -> Result<(), Error> {
        let _ = (tenant, key, external_event_id);
        Ok(())
    }

    /// Where a recorded event's delivery stands: [`EventDelivery::InProgress`] from
    /// [`record_event_if_new`](Self::record_event_if_new) until
    /// [`mark_event_delivered`](Self::mark_event_delivered), then
    /// [`EventDelivery::Delivered`]; `None` for an event not recorded.
    ///
    /// The ingest pipeline asks it about a redelivery, so that one arriving at another
    /// process while the first delivery still runs is answered 503 (the provider comes
    /// back), not 2xx "duplicate" (which would end the provider's retries, and lose the
    /// event if the first delivery then fails). The default answers `None` for every
    /// event, so every redelivery counts as a duplicate, as in one process without this
    /// state; stores shared by several processes should implement this method,
    /// [`mark_event_delivered`](Self::mark_event_delivered) and
    /// [`take_over_event`](Self::take_over_event).
    ///
    /// # Errors
    ///
    /// Storage errors.
    async fn event_delivery(
        &self,
        tenant: &TenantId,
        key: &DefinitionKey,
        external_event_id: &str,
    ) -> Result<Option<EventDelivery>, Error> {
        let _ = (tenant, key, external_event_id);
        Ok(None)
    }

    /// Takes over a recorded event whose first delivery stalled: replaces the record with
    /// `event` (a redelivery of it, received at `event.received_at`) when the record is
    /// still [in progress](EventDelivery::InProgress) and was received at or before
    /// `stalled_by`. Returns `true` when it did; the record is then in progress since
    /// `event.received_at`, and the caller delivers the event.
    ///
    /// The ingest pipeline calls it for a redelivery arriving
    /// [`DELIVERY_IN_PROGRESS_WINDOW`](crate::webhook::DELIVERY_IN_PROGRESS_WINDOW) after
    /// the first was recorded: the process running that delivery is taken to have died,
    /// and without a takeover the event would never reach the sink. Of any number of
    /// concurrent calls for one record, at most one gets `true` (`event.received_at` is
    /// later than `stalled_by`, so the replaced record no longer qualifies). The default
    /// takes nothing over, for stores that keep no delivery state; a stalled event then
    /// counts as a duplicate.
    ///
    /// # Errors
    ///
    /// Storage errors; nothing is changed then.
    async fn take_over_event(
        &self,
        event: &WebhookEvent,
        stalled_by: Timestamp,
    ) -> Result<bool, Error> {
        let _ = (event, stalled_by);
        Ok(false)
    }

    /// Forgets the recorded events received at or before `received_by` (their
    /// deduplication window is over), and returns how many. The default keeps everything.
    ///
    /// # Errors
    ///
    /// Storage errors; nothing is deleted then.
    async fn purge_events(&self, received_by: Timestamp) -> Result<u64, Error> {
        let _ = received_by;
        Ok(0)
    }
}

/// Publications.
#[async_trait]
pub trait PublicationStore: Send + Sync {
    /// The publication, if it exists.
    async fn get_publication(
        &self,
        tenant: &TenantId,
        id: &PublicationId,
    ) -> Result<Option<Publication>, Error>;
    /// Inserts or replaces a publication.
    async fn put_publication(&self, publication: &Publication) -> Result<(), Error>;
    /// The publications through one connection, ordered by id.
    async fn list_publications(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<Publication>, Error>;
    /// Deletes a publication; `true` when it existed.
    async fn delete_publication(
        &self,
        tenant: &TenantId,
        id: &PublicationId,
    ) -> Result<bool, Error>;
}

/// Sync checkpoints, saved with compare-and-swap.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The checkpoint of a stream, if one was saved.
    async fn load_checkpoint(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        stream: &str,
    ) -> Result<Option<SyncCheckpoint>, Error>;

    /// Saves `checkpoint` only if the stored version equals `checkpoint.version` (0: only
    /// if none is stored). Returns the new version.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) (`store.version_conflict`)
    /// when another runner saved first; storage errors.
    async fn save_checkpoint(&self, checkpoint: &SyncCheckpoint) -> Result<u64, Error>;

    /// Deletes every checkpoint of `connection`'s streams; how many there were. A
    /// connection being forgotten ([`Authorizations::forget`](crate::auth::Authorizations::forget))
    /// leaves none behind, so a later connection under its id (a chosen one, or the id an
    /// authorization derives from the same account) syncs from the start. A run still
    /// going stops before its next page (the runner checks the connection is stored and
    /// active before it writes a page and saves its checkpoint). Sync leases are left to
    /// expire.
    ///
    /// The default fails with `store.not_implemented`: a host's own store implements it
    /// (`MemoryStore` and the SQL stores do).
    ///
    /// # Errors
    ///
    /// Storage errors.
    async fn delete_checkpoints(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<usize, Error> {
        let _ = (tenant, connection);
        Err(crate::codes::store::NOT_IMPLEMENTED
            .error("this checkpoint store does not implement delete_checkpoints"))
    }

    /// Takes the run lease of `lease.stream` for `lease.holder` until `lease.expires_at`,
    /// atomically: only when no lease is stored, the stored one is `lease.holder`'s own
    /// (a renewal), or the stored one expired at or before `now`. Returns whether the
    /// lease is now `lease.holder`'s; a refused call changes nothing.
    ///
    /// # Errors
    ///
    /// Storage errors.
    async fn acquire_sync_lease(&self, lease: &SyncLease, now: Timestamp) -> Result<bool, Error>;

    /// Gives up `holder`'s lease of a stream. A lease another holder took (after this
    /// one's expired) is left alone. Returns whether a lease was removed.
    ///
    /// # Errors
    ///
    /// Storage errors.
    async fn release_sync_lease(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        stream: &str,
        holder: &str,
    ) -> Result<bool, Error>;
}

/// Tool calls waiting for a person's approval, taken once.
#[async_trait]
pub trait ApprovalStore: Send + Sync {
    /// Stores a pending approval request.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) when one with the same tenant
    /// and id exists; storage errors.
    async fn put_approval(&self, request: &ApprovalRequest) -> Result<(), Error>;

    /// Removes and returns the approval request `id` of `tenant`. Of any number of
    /// concurrent calls for one request, in any number of processes, exactly one gets it:
    /// that is what makes an approved call run exactly once.
    ///
    /// A request that expired at or before `now` (the caller's clock) is removed too but
    /// never returned: the call reports it as absent (`None`).
    async fn take_approval(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        now: Timestamp,
    ) -> Result<Option<ApprovalRequest>, Error>;

    /// Deletes the approval requests and the approval call records
    /// ([`put_approval_call`](Self::put_approval_call)) that expired at or before
    /// `expired_by`, and returns how many records of both kinds. The default keeps
    /// everything.
    ///
    /// # Errors
    ///
    /// Storage errors; nothing is deleted then.
    async fn purge_approvals(&self, expired_by: Timestamp) -> Result<u64, Error> {
        let _ = expired_by;
        Ok(0)
    }

    /// Deletes every approval request of a call through `connection` (pending or
    /// expired); how many there were. A connection being forgotten
    /// ([`Authorizations::forget`](crate::auth::Authorizations::forget)) leaves none
    /// behind: approved later, one would run through whatever connection has the id by
    /// then (a chosen one, or the id an authorization derives from the same account), and
    /// each holds the arguments an agent sent.
    ///
    /// The default fails with `store.not_implemented`: a host's own store implements it
    /// (`MemoryStore` and the SQL stores do).
    ///
    /// # Errors
    ///
    /// Storage errors; nothing is deleted then.
    async fn delete_approvals(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<usize, Error> {
        let _ = (tenant, connection);
        Err(crate::codes::store::NOT_IMPLEMENTED
            .error("this approval store does not implement delete_approvals"))
    }

    /// Stores `call` unless a live record (one whose `expires_at` is after `now`) has its
    /// tenant and key: then that record is returned and nothing is written. Of any
    /// number of concurrent puts of one key, in any number of processes, exactly one
    /// writes (and gets `None`). An expired record of the key is replaced.
    ///
    /// The approval call methods keep, for the MCP server, which call each approval
    /// request answers and the result that call waits for, so every process of a host
    /// answers the client's retry. The defaults fail with `store.not_implemented`: a
    /// host's own store implements them (`MemoryStore` and the SQL stores do).
    ///
    /// # Errors
    ///
    /// Storage errors.
    async fn put_approval_call(
        &self,
        call: &ApprovalCall,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        let _ = (call, now);
        Err(approval_calls_not_implemented())
    }

    /// The live record of the call `key` of `tenant`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    async fn get_approval_call(
        &self,
        tenant: &TenantId,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        let _ = (tenant, key, now);
        Err(approval_calls_not_implemented())
    }

    /// The live record of the call that waits in the request `approval` of `tenant`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    async fn find_approval_call(
        &self,
        tenant: &TenantId,
        approval: &ApprovalId,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        let _ = (tenant, approval, now);
        Err(approval_calls_not_implemented())
    }

    /// Every live record of `tenant`, in any stage.
    ///
    /// # Errors
    ///
    /// Storage errors.
    async fn list_approval_calls(
        &self,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<Vec<ApprovalCall>, Error> {
        let _ = (tenant, now);
        Err(approval_calls_not_implemented())
    }

    /// How many live records of `tenant` are pending (waiting for a person) for calls
    /// of `workspace` and `user`: the MCP server's per-principal cap asks it on every new
    /// `ask` call. The default lists the tenant's records and counts; a store with an
    /// index by workspace and user counts without reading them.
    ///
    /// # Errors
    ///
    /// Storage errors.
    async fn count_pending_approval_calls(
        &self,
        tenant: &TenantId,
        workspace: &WorkspaceId,
        user: Option<&UserId>,
        now: Timestamp,
    ) -> Result<u64, Error> {
        let calls = self.list_approval_calls(tenant, now).await?;
        let pending = calls
            .iter()
            .filter(|call| call.is_pending_for(workspace, user, now))
            .count();
        Ok(u64::try_from(pending).unwrap_or(u64::MAX))
    }

    /// Replaces the record of `call`'s tenant and key with `call` when the stored one is
    /// at `from` and answers the same request; whether it did. Of any number of
    /// concurrent updates from one stage, in any number of processes, exactly one
    /// succeeds.
    ///
    /// # Errors
    ///
    /// Storage errors.
    async fn update_approval_call(
        &self,
        call: &ApprovalCall,
        from: ApprovalStage,
    ) -> Result<bool, Error> {
        let _ = (call, from);
        Err(approval_calls_not_implemented())
    }

    /// Removes and returns the live record of the call `key` of `tenant` when it is
    /// settled or denied: the answer is handed over once. A pending or running record
    /// stays (`None`).
    ///
    /// # Errors
    ///
    /// Storage errors.
    async fn take_answered_call(
        &self,
        tenant: &TenantId,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        let _ = (tenant, key, now);
        Err(approval_calls_not_implemented())
    }
}

fn approval_calls_not_implemented() -> Error {
    crate::codes::store::NOT_IMPLEMENTED.error(
        "this approval store does not implement the approval call methods (put_approval_call and the others), which the MCP server needs for ask tools",
    )
}

/// The unread pages of trimmed tool results, taken once.
///
/// The [`tools::Runtime`](crate::tools::Runtime) keeps here the pages after the first of
/// a result larger than its budget, so the next page can be read from any process of
/// the host, not only the one that made the call. Pages are sealed with the host's
/// [`SecretCipher`](super::SecretCipher): a record holds no readable result data, and
/// its id is a SHA-256 digest of the cursor bound to the session (workspace, user,
/// project, issue) and continuation scope of the call, not the cursor.
#[async_trait]
pub trait ContinuationStore: Send + Sync {
    /// Stores a pending continuation. A store may drop records whose `expires_at` has
    /// passed at any time; the runtime never reads them.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) when one with the same tenant
    /// and id exists; storage errors.
    async fn put_continuation(&self, pending: &PendingContinuation) -> Result<(), Error>;

    /// Removes and returns the continuation `id` of `tenant`. Of any number of concurrent
    /// calls for one continuation, in any number of processes, exactly one gets it: that
    /// is what makes each page readable once.
    ///
    /// A continuation that expired at or before `now` (the caller's clock) is removed too
    /// but never returned: the call reports it as absent (`None`).
    async fn take_continuation(
        &self,
        tenant: &TenantId,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<PendingContinuation>, Error>;

    /// Deletes the continuations that expired at or before `expired_by`, and returns how
    /// many. The default keeps everything.
    ///
    /// # Errors
    ///
    /// Storage errors; nothing is deleted then.
    async fn purge_continuations(&self, expired_by: Timestamp) -> Result<u64, Error> {
        let _ = expired_by;
        Ok(0)
    }
}

/// Every store trait; implemented automatically for any type that implements them all.
pub trait Stores:
    TargetStore
    + ConnectionStore
    + CredentialStore
    + BindingStore
    + OAuthStateStore
    + WebhookEventStore
    + PublicationStore
    + CheckpointStore
    + ApprovalStore
    + ContinuationStore
{
}

impl<T> Stores for T where
    T: TargetStore
        + ConnectionStore
        + CredentialStore
        + BindingStore
        + OAuthStateStore
        + WebhookEventStore
        + PublicationStore
        + CheckpointStore
        + ApprovalStore
        + ContinuationStore
{
}

/// How long expired or handled records are kept before [`purge_expired`] deletes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// How long after it expired a pending authorization, approval request or
    /// continuation is kept (zero: purged as soon as it expired).
    pub expired: Duration,
    /// How long a received webhook event is remembered for deduplication. A redelivery
    /// older than this is processed again, so keep it longer than the providers' retry
    /// window (GitHub, Slack and Linear retry for at most a few days).
    pub webhook_dedup: Duration,
}

impl Retention {
    /// Expired records purged after `expired`; webhook events remembered for
    /// `webhook_dedup`.
    pub fn new(expired: Duration, webhook_dedup: Duration) -> Self {
        Self {
            expired,
            webhook_dedup,
        }
    }
}

impl Default for Retention {
    /// Expired records purged after one hour; webhook events remembered for seven days.
    fn default() -> Self {
        Self::new(
            Duration::from_secs(60 * 60),
            Duration::from_secs(7 * 24 * 60 * 60),
        )
    }
}

/// What one [`purge_expired`] call deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeReport {
    /// Pending authorizations (OAuth 2.0 state).
    pub oauth_states: u64,
    /// Approval requests and approval call records (a request asked about through the
    /// MCP server has one of each).
    pub approvals: u64,
    /// Continuations of trimmed tool results.
    pub continuations: u64,
    /// Webhook deduplication records.
    pub webhook_events: u64,
}

impl PurgeReport {
    /// Every record deleted, summed.
    pub fn total(&self) -> u64 {
        self.oauth_states + self.approvals + self.continuations + self.webhook_events
    }
}

/// Housekeeping in one call: deletes the OAuth states, approval requests (with their
/// call records) and continuations that expired more than `retention.expired` before `now`, and the webhook
/// deduplication records received more than `retention.webhook_dedup` before `now`.
/// Run it periodically (for example hourly) from one process of the host.
///
/// # Errors
///
/// The first storage error; the purges before it stay done (each is independent and
/// deletes only records nobody may use any more).
pub async fn purge_expired<S: Stores + ?Sized>(
    stores: &S,
    now: Timestamp,
    retention: Retention,
) -> Result<PurgeReport, Error> {
    let expired_by = now.saturating_sub(retention.expired);
    Ok(PurgeReport {
        oauth_states: stores.purge_oauth_states(expired_by).await?,
        approvals: stores.purge_approvals(expired_by).await?,
        continuations: stores.purge_continuations(expired_by).await?,
        webhook_events: stores
            .purge_events(now.saturating_sub(retention.webhook_dedup))
            .await?,
    })
}
