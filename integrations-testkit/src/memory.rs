//! [`MemoryStore`]: every store trait in memory, with real compare-and-swap and take-once
//! semantics.
//!
//! All state sits behind one mutex that is never held across an `.await`, so each
//! operation is atomic: of 64 tasks swapping credentials from one version, exactly one
//! wins; of 64 tasks taking one OAuth state (or one tool approval), exactly one gets it.
//! A take at or after the entry's `expires_at` removes it and reports it absent.
//!
//! Text the SQL stores keep in columns of their own (external subjects and endpoint
//! keys, event ids, stream names, lease holders, credential slots, key ids, state
//! digests, continuation ids) is refused when it holds a NUL character, as they refuse it
//! (`store.invalid_text`, nothing written): a host tested here meets the refusal it meets
//! in production.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use integrations_core::host::{
    ApprovalStore, BindingStore, CheckpointStore, ConnectionQuery, ConnectionStore,
    ContinuationStore, CredentialStore, EventDelivery, OAuthStateStore, PublicationStore, Sealed,
    TargetStore, WebhookEventStore, version_conflict,
};
use integrations_core::model::{
    Binding, Connection, ConnectionStatus, Credential, CredentialSet, PendingAuthorization,
    ProfileVersion, Publication, SyncCheckpoint, SyncLease, Target,
};
use integrations_core::tools::{
    ApprovalCall, ApprovalId, ApprovalRequest, ApprovalStage, PendingContinuation,
};
use integrations_core::webhook::WebhookEvent;
use integrations_core::{
    BindingId, ConnectionId, DefinitionKey, Error, PublicationId, TargetId, TenantId, Timestamp,
    UserId, WorkspaceId,
};

type Key<T> = (TenantId, T);

#[derive(Default)]
struct State {
    targets: Records<TargetId, Target>,
    connections: Records<ConnectionId, Connection>,
    credentials: BTreeMap<Key<ConnectionId>, CredentialSet>,
    /// The last version of each deleted credential set: the next set continues from it.
    deleted_credentials: BTreeMap<Key<ConnectionId>, u64>,
    bindings: BTreeMap<Key<BindingId>, Binding>,
    oauth_states: BTreeMap<String, PendingAuthorization>,
    events: BTreeMap<(TenantId, DefinitionKey, String), RecordedEvent>,
    publications: BTreeMap<Key<PublicationId>, Publication>,
    checkpoints: BTreeMap<(TenantId, ConnectionId, String), SyncCheckpoint>,
    sync_leases: BTreeMap<(TenantId, ConnectionId, String), SyncLease>,
    approvals: BTreeMap<Key<ApprovalId>, ApprovalRequest>,
    approval_calls: BTreeMap<Key<String>, ApprovalCall>,
    continuations: BTreeMap<Key<String>, PendingContinuation>,
}

/// Every store trait in memory. Cheap to share behind an `Arc`.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStore")
            .field("targets", &state.targets.len())
            .field("connections", &state.connections.len())
            .field("credentials", &state.credentials.len())
            .field("bindings", &state.bindings.len())
            .field("oauth_states", &state.oauth_states.len())
            .field("events", &state.events.len())
            .field("publications", &state.publications.len())
            .field("checkpoints", &state.checkpoints.len())
            .field("approvals", &state.approvals.len())
            .field("continuations", &state.continuations.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in another test thread must not hide this store's contents.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every stored webhook event, in (tenant, key, id) order: what the tests read back.
    pub fn recorded_events(&self) -> Vec<WebhookEvent> {
        self.lock()
            .events
            .values()
            .map(|r| r.event.clone())
            .collect()
    }

    /// The number of pending OAuth states.
    pub fn pending_oauth_states(&self) -> usize {
        self.lock().oauth_states.len()
    }

    /// The raw stored credential set of a connection, as a test reads a database directly
    /// (to check that tokens at rest are ciphertext).
    pub fn raw_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Option<CredentialSet> {
        self.lock()
            .credentials
            .get(&(tenant.clone(), connection.clone()))
            .cloned()
    }

    /// The number of records of every kind, summed: "nothing was stored" checks.
    pub fn record_count(&self) -> usize {
        let s = self.lock();
        s.targets.len()
            + s.connections.len()
            + s.credentials.len()
            + s.bindings.len()
            + s.oauth_states.len()
            + s.events.len()
            + s.publications.len()
            + s.checkpoints.len()
            + s.approvals.len()
            + s.continuations.len()
    }

    /// The number of pending tool approvals.
    pub fn pending_approvals(&self) -> usize {
        self.lock().approvals.len()
    }

    /// The stored continuations of trimmed tool results, as a test reads a database
    /// directly (to check that the pages at rest are ciphertext).
    pub fn raw_continuations(&self) -> Vec<PendingContinuation> {
        self.lock().continuations.values().cloned().collect()
    }
}

/// A recorded webhook event and whether the sink took it (else it is in progress).
struct RecordedEvent {
    event: WebhookEvent,
    delivered: bool,
}

/// Refuses `value` when it holds a NUL character, as the SQL stores do: PostgreSQL cannot
/// keep one in a text column. `what` names the value, never quotes it.
fn text(what: &'static str, value: &str) -> Result<(), Error> {
    if value.contains('\0') {
        return Err(integrations_core::codes::store::INVALID_TEXT.error(format!(
            "a {what} contains a NUL character, which a store cannot keep; nothing was written"
        )));
    }
    Ok(())
}

/// [`text`] for an optional value.
fn opt_text(what: &'static str, value: Option<&str>) -> Result<(), Error> {
    value.map_or(Ok(()), |value| text(what, value))
}

/// The text columns of a connection.
fn connection_text(connection: &Connection) -> Result<(), Error> {
    opt_text("external subject", connection.external_subject.as_deref())?;
    opt_text("endpoint key", connection.endpoint_key.as_deref())
}

/// An event's dedup key: tenant, definition key, external id.
fn event_key(event: &WebhookEvent) -> (TenantId, DefinitionKey, String) {
    (
        event.tenant.clone(),
        event.key.clone(),
        event.external_event_id.clone(),
    )
}

fn list<K: Ord, V: Clone>(map: &BTreeMap<(TenantId, K), V>, tenant: &TenantId) -> Vec<V> {
    map.iter()
        .filter(|((t, _), _)| t == tenant)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Records of one kind as the shared-read stores keep them: by tenant, then id (the
/// order of `list_*` and `find_*`), each behind an `Arc` that `get_*_shared` hands out. A
/// write replaces the `Arc`, never edits the record in it. Looked up by reference, without
/// building an owned key.
struct Records<K, V> {
    by_tenant: BTreeMap<TenantId, BTreeMap<K, Arc<V>>>,
}

impl<K, V> Default for Records<K, V> {
    fn default() -> Self {
        Self {
            by_tenant: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone, V: Clone> Records<K, V> {
    fn get(&self, tenant: &TenantId, id: &K) -> Option<&Arc<V>> {
        self.by_tenant.get(tenant)?.get(id)
    }

    fn get_mut(&mut self, tenant: &TenantId, id: &K) -> Option<&mut Arc<V>> {
        self.by_tenant.get_mut(tenant)?.get_mut(id)
    }

    fn insert(&mut self, tenant: &TenantId, id: &K, record: V) {
        self.by_tenant
            .entry(tenant.clone())
            .or_default()
            .insert(id.clone(), Arc::new(record));
    }

    fn remove(&mut self, tenant: &TenantId, id: &K) -> bool {
        let Some(records) = self.by_tenant.get_mut(tenant) else {
            return false;
        };
        let removed = records.remove(id).is_some();
        if records.is_empty() {
            self.by_tenant.remove(tenant);
        }
        removed
    }

    fn list(&self, tenant: &TenantId) -> Vec<V> {
        self.by_tenant
            .get(tenant)
            .map(|records| records.values().map(|r| V::clone(r)).collect())
            .unwrap_or_default()
    }

    /// Every record, by tenant then id.
    fn values(&self) -> impl Iterator<Item = &Arc<V>> {
        self.by_tenant.values().flat_map(BTreeMap::values)
    }

    fn len(&self) -> usize {
        self.by_tenant.values().map(BTreeMap::len).sum()
    }
}

/// Writes `status` into a shared connection record by replacing it (a reader may hold
/// the old one); the new record.
fn replace_status(
    record: &mut Arc<Connection>,
    status: ConnectionStatus,
    now: Timestamp,
) -> Connection {
    let mut connection = Connection::clone(record);
    connection.status = status;
    // A new revision, even in the millisecond of the stored one.
    connection.touch(now);
    *record = Arc::new(connection.clone());
    connection
}

/// Removes the values `expired` selects; how many.
fn purge<K: Ord, V>(map: &mut BTreeMap<K, V>, expired: impl Fn(&V) -> bool) -> u64 {
    let before = map.len();
    map.retain(|_, v| !expired(v));
    (before - map.len()) as u64
}

#[async_trait]
impl TargetStore for MemoryStore {
    async fn get_target(&self, tenant: &TenantId, id: &TargetId) -> Result<Option<Target>, Error> {
        let shared = self.get_target_shared(tenant, id).await?;
        Ok(shared.map(|target| Target::clone(&target)))
    }

    async fn get_target_shared(
        &self,
        tenant: &TenantId,
        id: &TargetId,
    ) -> Result<Option<Arc<Target>>, Error> {
        Ok(self.lock().targets.get(tenant, id).cloned())
    }

    fn get_target_now(
        &self,
        tenant: &TenantId,
        id: &TargetId,
    ) -> Option<Result<Option<Arc<Target>>, Error>> {
        Some(Ok(self.lock().targets.get(tenant, id).cloned()))
    }

    async fn put_target(&self, target: &Target) -> Result<(), Error> {
        opt_text("key id", target.secrets.as_ref().map(Sealed::key_id))?;
        self.lock()
            .targets
            .insert(&target.tenant, &target.id, target.clone());
        Ok(())
    }

    async fn list_targets(&self, tenant: &TenantId) -> Result<Vec<Target>, Error> {
        Ok(self.lock().targets.list(tenant))
    }

    async fn delete_target(&self, tenant: &TenantId, id: &TargetId) -> Result<bool, Error> {
        Ok(self.lock().targets.remove(tenant, id))
    }

    async fn find_targets(&self, key: &DefinitionKey) -> Result<Vec<Target>, Error> {
        Ok(self
            .lock()
            .targets
            .values()
            .filter(|t| &t.key == key)
            .map(|t| Target::clone(t))
            .collect())
    }
}

#[async_trait]
impl ConnectionStore for MemoryStore {
    async fn get_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, Error> {
        let shared = self.get_connection_shared(tenant, id).await?;
        Ok(shared.map(|connection| Connection::clone(&connection)))
    }

    async fn get_connection_shared(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Arc<Connection>>, Error> {
        Ok(self.lock().connections.get(tenant, id).cloned())
    }

    fn get_connection_now(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Option<Result<Option<Arc<Connection>>, Error>> {
        Some(Ok(self.lock().connections.get(tenant, id).cloned()))
    }

    async fn put_connection(&self, connection: &Connection) -> Result<(), Error> {
        connection_text(connection)?;
        self.lock()
            .connections
            .insert(&connection.tenant, &connection.id, connection.clone());
        Ok(())
    }

    async fn put_connection_if_absent(&self, connection: &Connection) -> Result<bool, Error> {
        connection_text(connection)?;
        let mut state = self.lock();
        if state
            .connections
            .get(&connection.tenant, &connection.id)
            .is_some()
        {
            return Ok(false);
        }
        state
            .connections
            .insert(&connection.tenant, &connection.id, connection.clone());
        Ok(true)
    }

    async fn list_connections(&self, tenant: &TenantId) -> Result<Vec<Connection>, Error> {
        Ok(self.lock().connections.list(tenant))
    }

    async fn delete_connection(&self, tenant: &TenantId, id: &ConnectionId) -> Result<bool, Error> {
        Ok(self.lock().connections.remove(tenant, id))
    }

    async fn find_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>, Error> {
        opt_text("external subject", query.external_subject.as_deref())?;
        opt_text("endpoint key", query.endpoint_key.as_deref())?;
        Ok(self
            .lock()
            .connections
            .values()
            .filter(|c| query.matches(c))
            .map(|c| Connection::clone(c))
            .collect())
    }

    async fn set_connection_status(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<Connection>, Error> {
        let mut state = self.lock();
        Ok(state
            .connections
            .get_mut(tenant, id)
            .map(|c| replace_status(c, status, now)))
    }

    async fn put_connection_if_unchanged(
        &self,
        read: &Connection,
        connection: &Connection,
    ) -> Result<bool, Error> {
        connection_text(connection)?;
        opt_text("endpoint key", read.endpoint_key.as_deref())?;
        let mut state = self.lock();
        let unchanged = state
            .connections
            .get(&connection.tenant, &connection.id)
            .is_some_and(|stored| stored.is_revision_of(read));
        if unchanged {
            state
                .connections
                .insert(&connection.tenant, &connection.id, connection.clone());
        }
        Ok(unchanged)
    }

    async fn set_connection_status_if(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        expected: &ConnectionStatus,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<Connection>, Error> {
        let mut state = self.lock();
        Ok(state
            .connections
            .get_mut(tenant, id)
            .filter(|c| &c.status == expected)
            .map(|c| replace_status(c, status, now)))
    }
}

#[async_trait]
impl CredentialStore for MemoryStore {
    async fn load_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<CredentialSet>, Error> {
        Ok(self
            .lock()
            .credentials
            .get(&(tenant.clone(), connection.clone()))
            .cloned())
    }

    async fn swap_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        expected_version: Option<u64>,
        credentials: Vec<Credential>,
    ) -> Result<u64, Error> {
        for credential in &credentials {
            opt_text("credential slot", credential.slot.as_deref())?;
            text("key id", credential.value.key_id())?;
        }
        let mut state = self.lock();
        let key = (tenant.clone(), connection.clone());
        let current = state.credentials.get(&key).map(|s| s.version);
        if current != expected_version {
            return Err(version_conflict());
        }
        let version = match current {
            Some(current) => current + 1,
            None => state.deleted_credentials.remove(&key).unwrap_or(0) + 1,
        };
        state.credentials.insert(
            key,
            CredentialSet::new(tenant.clone(), connection.clone(), version, credentials),
        );
        Ok(version)
    }

    async fn delete_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<bool, Error> {
        let mut state = self.lock();
        let key = (tenant.clone(), connection.clone());
        let Some(deleted) = state.credentials.remove(&key) else {
            return Ok(false);
        };
        // A tombstone keeps the version, so no swap that read this set can match the next.
        state.deleted_credentials.insert(key, deleted.version);
        Ok(true)
    }
}

#[async_trait]
impl BindingStore for MemoryStore {
    async fn get_binding(
        &self,
        tenant: &TenantId,
        id: &BindingId,
    ) -> Result<Option<Binding>, Error> {
        Ok(self
            .lock()
            .bindings
            .get(&(tenant.clone(), id.clone()))
            .cloned())
    }

    async fn put_binding(&self, binding: &Binding) -> Result<(), Error> {
        self.lock().bindings.insert(
            (binding.tenant.clone(), binding.id.clone()),
            binding.clone(),
        );
        Ok(())
    }

    async fn list_bindings(
        &self,
        tenant: &TenantId,
        profile: &ProfileVersion,
    ) -> Result<Vec<Binding>, Error> {
        Ok(list(&self.lock().bindings, tenant)
            .into_iter()
            .filter(|b| b.profile == profile.profile && b.profile_version == profile.version)
            .collect())
    }

    async fn delete_binding(&self, tenant: &TenantId, id: &BindingId) -> Result<bool, Error> {
        Ok(self
            .lock()
            .bindings
            .remove(&(tenant.clone(), id.clone()))
            .is_some())
    }
}

#[async_trait]
impl OAuthStateStore for MemoryStore {
    async fn put_oauth_state(&self, pending: &PendingAuthorization) -> Result<(), Error> {
        text("state digest", &pending.state_digest)?;
        opt_text("key id", pending.pkce_verifier.as_ref().map(Sealed::key_id))?;
        let mut state = self.lock();
        if state.oauth_states.contains_key(&pending.state_digest) {
            return Err(integrations_core::codes::store::DUPLICATE_STATE
                .error("a pending authorization with this state already exists"));
        }
        state
            .oauth_states
            .insert(pending.state_digest.clone(), pending.clone());
        Ok(())
    }

    async fn take_oauth_state(
        &self,
        state_digest: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, Error> {
        text("state digest", state_digest)?;
        // Removed whether live or not; an expired one is reported absent.
        Ok(self
            .lock()
            .oauth_states
            .remove(state_digest)
            .filter(|p| p.expires_at > now))
    }

    async fn purge_oauth_states(&self, expired_by: Timestamp) -> Result<u64, Error> {
        Ok(purge(&mut self.lock().oauth_states, |p| {
            p.expires_at <= expired_by
        }))
    }
}

#[async_trait]
impl WebhookEventStore for MemoryStore {
    async fn record_event_if_new(&self, event: &WebhookEvent) -> Result<bool, Error> {
        text("external event id", &event.external_event_id)?;
        let mut state = self.lock();
        let key = event_key(event);
        if state.events.contains_key(&key) {
            return Ok(false);
        }
        state.events.insert(
            key,
            RecordedEvent {
                event: event.clone(),
                delivered: false,
            },
        );
        Ok(true)
    }

    async fn forget_event(
        &self,
        tenant: &TenantId,
        key: &DefinitionKey,
        external_event_id: &str,
    ) -> Result<bool, Error> {
        text("external event id", external_event_id)?;
        Ok(self
            .lock()
            .events
            .remove(&(tenant.clone(), key.clone(), external_event_id.to_owned()))
            .is_some())
    }

    async fn mark_event_delivered(
        &self,
        tenant: &TenantId,
        key: &DefinitionKey,
        external_event_id: &str,
    ) -> Result<(), Error> {
        text("external event id", external_event_id)?;
        if let Some(recorded) =
            self.lock()
                .events
                .get_mut(&(tenant.clone(), key.clone(), external_event_id.to_owned()))
        {
            recorded.delivered = true;
        }
        Ok(())
    }

    async fn event_delivery(
        &self,
        tenant: &TenantId,
        key: &DefinitionKey,
        external_event_id: &str,
    ) -> Result<Option<EventDelivery>, Error> {
        text("external event id", external_event_id)?;
        let state = self.lock();
        let key = (tenant.clone(), key.clone(), external_event_id.to_owned());
        Ok(state.events.get(&key).map(|recorded| {
            if recorded.delivered {
                EventDelivery::Delivered
            } else {
                EventDelivery::InProgress {
                    since: recorded.event.received_at,
                }
            }
        }))
    }

    async fn release_event(&self, event: &WebhookEvent) -> Result<bool, Error> {
        text("external event id", &event.external_event_id)?;
        let mut state = self.lock();
        let key = event_key(event);
        if state
            .events
            .get(&key)
            .is_some_and(|recorded| recorded.event.received_at == event.received_at)
        {
            state.events.remove(&key);
            return Ok(true);
        }
        Ok(false)
    }

    async fn take_over_event(
        &self,
        event: &WebhookEvent,
        stalled_by: Timestamp,
    ) -> Result<bool, Error> {
        text("external event id", &event.external_event_id)?;
        let mut state = self.lock();
        let key = event_key(event);
        match state.events.get_mut(&key) {
            Some(recorded) if !recorded.delivered && recorded.event.received_at <= stalled_by => {
                recorded.event = event.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn purge_events(&self, received_by: Timestamp) -> Result<u64, Error> {
        Ok(purge(&mut self.lock().events, |r| {
            r.event.received_at <= received_by
        }))
    }
}

#[async_trait]
impl PublicationStore for MemoryStore {
    async fn get_publication(
        &self,
        tenant: &TenantId,
        id: &PublicationId,
    ) -> Result<Option<Publication>, Error> {
        Ok(self
            .lock()
            .publications
            .get(&(tenant.clone(), id.clone()))
            .cloned())
    }

    async fn put_publication(&self, publication: &Publication) -> Result<(), Error> {
        self.lock().publications.insert(
            (publication.tenant.clone(), publication.id.clone()),
            publication.clone(),
        );
        Ok(())
    }

    async fn list_publications(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<Publication>, Error> {
        Ok(list(&self.lock().publications, tenant)
            .into_iter()
            .filter(|p| &p.connection == connection)
            .collect())
    }

    async fn delete_publication(
        &self,
        tenant: &TenantId,
        id: &PublicationId,
    ) -> Result<bool, Error> {
        Ok(self
            .lock()
            .publications
            .remove(&(tenant.clone(), id.clone()))
            .is_some())
    }
}

#[async_trait]
impl CheckpointStore for MemoryStore {
    async fn load_checkpoint(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        stream: &str,
    ) -> Result<Option<SyncCheckpoint>, Error> {
        text("stream name", stream)?;
        Ok(self
            .lock()
            .checkpoints
            .get(&(tenant.clone(), connection.clone(), stream.to_owned()))
            .cloned())
    }

    async fn save_checkpoint(&self, checkpoint: &SyncCheckpoint) -> Result<u64, Error> {
        text("stream name", &checkpoint.stream)?;
        let mut state = self.lock();
        let key = (
            checkpoint.tenant.clone(),
            checkpoint.connection.clone(),
            checkpoint.stream.clone(),
        );
        let current = state.checkpoints.get(&key).map_or(0, |c| c.version);
        if current != checkpoint.version {
            return Err(version_conflict());
        }
        let mut saved = checkpoint.clone();
        saved.version = current + 1;
        state.checkpoints.insert(key, saved);
        Ok(current + 1)
    }

    async fn delete_checkpoints(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<usize, Error> {
        let mut state = self.lock();
        let before = state.checkpoints.len();
        state
            .checkpoints
            .retain(|(t, c, _), _| !(t == tenant && c == connection));
        Ok(before - state.checkpoints.len())
    }

    async fn acquire_sync_lease(&self, lease: &SyncLease, now: Timestamp) -> Result<bool, Error> {
        text("stream name", &lease.stream)?;
        text("lease holder", &lease.holder)?;
        let mut state = self.lock();
        let key = (
            lease.tenant.clone(),
            lease.connection.clone(),
            lease.stream.clone(),
        );
        let free = state
            .sync_leases
            .get(&key)
            .is_none_or(|held| held.holder == lease.holder || held.expires_at <= now);
        if free {
            state.sync_leases.insert(key, lease.clone());
        }
        Ok(free)
    }

    async fn release_sync_lease(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        stream: &str,
        holder: &str,
    ) -> Result<bool, Error> {
        text("stream name", stream)?;
        text("lease holder", holder)?;
        let mut state = self.lock();
        let key = (tenant.clone(), connection.clone(), stream.to_owned());
        if state
            .sync_leases
            .get(&key)
            .is_some_and(|l| l.holder == holder)
        {
            state.sync_leases.remove(&key);
            return Ok(true);
        }
        Ok(false)
    }
}

#[async_trait]
impl ApprovalStore for MemoryStore {
    async fn put_approval(&self, request: &ApprovalRequest) -> Result<(), Error> {
        let mut state = self.lock();
        let key = (request.tenant.clone(), request.id.clone());
        if state.approvals.contains_key(&key) {
            return Err(integrations_core::codes::store::DUPLICATE_APPROVAL
                .error("an approval request with this id already exists"));
        }
        state.approvals.insert(key, request.clone());
        Ok(())
    }

    async fn take_approval(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        now: Timestamp,
    ) -> Result<Option<ApprovalRequest>, Error> {
        Ok(self
            .lock()
            .approvals
            .remove(&(tenant.clone(), id.clone()))
            .filter(|a| a.expires_at > now))
    }

    async fn purge_approvals(&self, expired_by: Timestamp) -> Result<u64, Error> {
        let mut state = self.lock();
        let calls = purge(&mut state.approval_calls, |c| c.expires_at <= expired_by);
        Ok(purge(&mut state.approvals, |a| a.expires_at <= expired_by) + calls)
    }

    async fn delete_approvals(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<usize, Error> {
        let mut state = self.lock();
        let before = state.approvals.len();
        state
            .approvals
            .retain(|(t, _), a| !(t == tenant && &a.context.connection == connection));
        state
            .approval_calls
            .retain(|(t, _), c| !(t == tenant && &c.request.context.connection == connection));
        Ok(before - state.approvals.len())
    }

    async fn put_approval_call(
        &self,
        call: &ApprovalCall,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        text("approval call key", &call.key)?;
        let mut state = self.lock();
        let key = (call.tenant.clone(), call.key.clone());
        if let Some(live) = state.approval_calls.get(&key).filter(|c| c.is_live(now)) {
            return Ok(Some(live.clone()));
        }
        // One call per request, as the SQL stores' unique index keeps it.
        let taken = state.approval_calls.iter().any(|((t, k), c)| {
            t == &call.tenant && k != &call.key && c.request.id == call.request.id
        });
        if taken {
            return Err(integrations_core::codes::store::DUPLICATE_APPROVAL
                .error("another call waits in this approval request"));
        }
        state.approval_calls.insert(key, call.clone());
        Ok(None)
    }

    async fn get_approval_call(
        &self,
        tenant: &TenantId,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        text("approval call key", key)?;
        Ok(self
            .lock()
            .approval_calls
            .get(&(tenant.clone(), key.to_owned()))
            .filter(|c| c.is_live(now))
            .cloned())
    }

    async fn find_approval_call(
        &self,
        tenant: &TenantId,
        approval: &ApprovalId,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        Ok(self
            .lock()
            .approval_calls
            .iter()
            .find(|((t, _), c)| t == tenant && &c.request.id == approval && c.is_live(now))
            .map(|(_, c)| c.clone()))
    }

    async fn list_approval_calls(
        &self,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<Vec<ApprovalCall>, Error> {
        Ok(self
            .lock()
            .approval_calls
            .iter()
            .filter(|((t, _), c)| t == tenant && c.is_live(now))
            .map(|(_, c)| c.clone())
            .collect())
    }

    async fn count_pending_approval_calls(
        &self,
        tenant: &TenantId,
        workspace: &WorkspaceId,
        user: Option<&UserId>,
        now: Timestamp,
    ) -> Result<u64, Error> {
        let state = self.lock();
        let pending = state
            .approval_calls
            .iter()
            .filter(|((t, _), c)| t == tenant && c.is_pending_for(workspace, user, now))
            .count();
        Ok(u64::try_from(pending).unwrap_or(u64::MAX))
    }

    async fn update_approval_call(
        &self,
        call: &ApprovalCall,
        from: ApprovalStage,
    ) -> Result<bool, Error> {
        text("approval call key", &call.key)?;
        let mut state = self.lock();
        let Some(stored) = state
            .approval_calls
            .get_mut(&(call.tenant.clone(), call.key.clone()))
        else {
            return Ok(false);
        };
        if stored.stage != from || stored.request.id != call.request.id {
            return Ok(false);
        }
        *stored = call.clone();
        Ok(true)
    }

    async fn take_answered_call(
        &self,
        tenant: &TenantId,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        text("approval call key", key)?;
        let mut state = self.lock();
        let key = (tenant.clone(), key.to_owned());
        let answered = state.approval_calls.get(&key).is_some_and(|c| {
            c.is_live(now) && matches!(c.stage, ApprovalStage::Settled | ApprovalStage::Denied)
        });
        Ok(if answered {
            state.approval_calls.remove(&key)
        } else {
            None
        })
    }
}

#[async_trait]
impl ContinuationStore for MemoryStore {
    async fn put_continuation(&self, pending: &PendingContinuation) -> Result<(), Error> {
        text("continuation id", &pending.id)?;
        text("key id", pending.pages.key_id())?;
        let mut state = self.lock();
        // Records expire: drop those already past when this one was made, so a
        // long-running test host does not grow without bound.
        state
            .continuations
            .retain(|_, c| c.expires_at > pending.created_at);
        let key = (pending.tenant.clone(), pending.id.clone());
        if state.continuations.contains_key(&key) {
            return Err(integrations_core::codes::store::DUPLICATE_CONTINUATION
                .error("a continuation with this id already exists"));
        }
        state.continuations.insert(key, pending.clone());
        Ok(())
    }

    async fn take_continuation(
        &self,
        tenant: &TenantId,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<PendingContinuation>, Error> {
        text("continuation id", id)?;
        Ok(self
            .lock()
            .continuations
            .remove(&(tenant.clone(), id.to_owned()))
            .filter(|c| c.expires_at > now))
    }

    async fn purge_continuations(&self, expired_by: Timestamp) -> Result<u64, Error> {
        Ok(purge(&mut self.lock().continuations, |c| {
            c.expires_at <= expired_by
        }))
    }
}
