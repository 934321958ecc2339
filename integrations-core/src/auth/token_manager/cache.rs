//! The in-process cache of handed-out credentials, the status reads they depend on, the
//! uses of cached credentials not yet audited, and the per-key single-flight locks.
//!
//! A hit is the hot path of every proxied request and tool call: one read lock, one hash
//! of the connection's ids, a scan of that connection's few credentials, an atomic
//! increment for the usage audit and a reference-count bump for the value (a [`Secret`]
//! shares its allocation). Nothing is allocated.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::credential::ResolvedCredential;
use crate::model::{Connection, CredentialType};
use crate::plan::CredentialSelector;
use crate::{ConnectionId, DefinitionKey, Secret, TenantId, Timestamp};

type ConnKey = (TenantId, ConnectionId);

/// A connection's ids, owned (the cache's key) or borrowed from a connection, so a lookup
/// builds no key (cloning the two ids would be four reference-count operations on every
/// hit). Hashes and compares as the owned pair does.
trait ConnIds {
    fn ids(&self) -> (&TenantId, &ConnectionId);
}

impl ConnIds for ConnKey {
    fn ids(&self) -> (&TenantId, &ConnectionId) {
        (&self.0, &self.1)
    }
}

impl ConnIds for (&TenantId, &ConnectionId) {
    fn ids(&self) -> (&TenantId, &ConnectionId) {
        *self
    }
}

impl<'a> std::borrow::Borrow<dyn ConnIds + 'a> for ConnKey {
    fn borrow(&self) -> &(dyn ConnIds + 'a) {
        self
    }
}

impl std::hash::Hash for dyn ConnIds + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // `&T` hashes as `T`: the same as the owned pair's derived hash.
        self.ids().hash(state);
    }
}

impl PartialEq for dyn ConnIds + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.ids() == other.ids()
    }
}

impl Eq for dyn ConnIds + '_ {}

/// Which credential of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CredKey {
    credential_type: CredentialType,
    slot: Option<String>,
    resolver: Option<String>,
    /// The selector's parameters as JSON (empty without parameters).
    parameters: String,
}

impl CredKey {
    fn new(selector: &CredentialSelector) -> Self {
        Self {
            credential_type: selector.credential_type.clone(),
            slot: selector.slot.clone(),
            resolver: selector.resolver.clone(),
            parameters: parameters_of(selector),
        }
    }

    /// Whether `selector` names this credential; allocates only for a selector with
    /// parameters.
    fn matches(&self, selector: &CredentialSelector) -> bool {
        self.credential_type == selector.credential_type
            && self.slot.as_deref() == selector.slot.as_deref()
            && self.resolver.as_deref() == selector.resolver.as_deref()
            && if selector.parameters.is_empty() {
                self.parameters.is_empty()
            } else {
                self.parameters == parameters_of(selector)
            }
    }
}

fn parameters_of(selector: &CredentialSelector) -> String {
    if selector.parameters.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&selector.parameters).unwrap_or_default()
    }
}

/// What a cached credential is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct CacheKey {
    connection: ConnKey,
    definition: DefinitionKey,
    credential: CredKey,
}

impl CacheKey {
    pub(super) fn new(connection: &Connection, selector: &CredentialSelector) -> Self {
        Self {
            connection: (connection.tenant.clone(), connection.id.clone()),
            definition: connection.key.clone(),
            credential: CredKey::new(selector),
        }
    }
}

/// When a credential counts as fresh.
#[derive(Debug, Clone, Copy)]
pub(super) struct Freshness {
    /// Credentials expiring within this margin are renewed first.
    pub(super) skew: Duration,
    /// How long a cached credential without expiry is reused before the store is read
    /// again (a key replaced by the user is picked up).
    pub(super) static_ttl: Duration,
}

impl Freshness {
    /// Whether a credential issued at `issued_at`, expiring at `expires_at`, is usable at
    /// `now`. The skew never exceeds half the credential's lifetime, so short-lived
    /// tokens are not renewed on every call.
    pub(super) fn fresh(
        self,
        expires_at: Option<Timestamp>,
        issued_at: Timestamp,
        now: Timestamp,
    ) -> bool {
        match expires_at {
            None => true,
            Some(expires_at) => {
                let skew = self.skew.min(expires_at.duration_since(issued_at) / 2);
                now.saturating_add(skew) < expires_at
            }
        }
    }
}

/// The most connections cached by one token manager.
pub(super) const MAX_ENTRIES: usize = 10_000;

struct Entry {
    value: Secret,
    expires_at: Option<Timestamp>,
    issued_at: Timestamp,
    cached_at: Timestamp,
    /// Hand-outs from the cache not yet audited.
    unaudited: AtomicU64,
}

impl Entry {
    fn usable(&self, freshness: Freshness, now: Timestamp) -> bool {
        match self.expires_at {
            Some(_) => freshness.fresh(self.expires_at, self.issued_at, now),
            None => now.duration_since(self.cached_at) < freshness.static_ttl,
        }
    }
}

type Flights = Mutex<HashMap<CacheKey, Arc<AsyncMutex<()>>>>;

/// The last read of a connection's stored status: its record version (`updated_at`,
/// which every status change and reauthorization moves) and when it was read.
#[derive(Debug, Clone, Copy)]
struct StatusStamp {
    version: Timestamp,
    checked_at: Timestamp,
}

/// One connection's cached state.
struct Slot {
    definition: Option<DefinitionKey>,
    status: Option<StatusStamp>,
    credentials: Vec<(CredKey, Entry)>,
}

impl Slot {
    fn empty() -> Self {
        Self {
            definition: None,
            status: None,
            credentials: Vec::new(),
        }
    }
}

/// Uses of a cached credential not yet recorded as a `credential.used` audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PendingUse {
    pub(super) tenant: TenantId,
    pub(super) connection: ConnectionId,
    pub(super) definition: Option<DefinitionKey>,
    pub(super) credential_type: CredentialType,
    pub(super) slot: Option<String>,
    pub(super) resolver: Option<String>,
    pub(super) count: u64,
}

/// What the hot path found.
pub(super) enum Lookup {
    /// A fresh credential (its use counted when asked to).
    Hit(ResolvedCredential),
    /// The connection's status was read recently, but no usable credential is cached.
    Miss,
    /// The connection's stored status must be read first.
    StatusDue,
}

/// Cached credentials, the status reads they depend on, uses not yet audited, and
/// single-flight locks.
pub(super) struct Cache {
    slots: RwLock<HashMap<ConnKey, Slot>>,
    /// Counts of entries dropped before their uses were audited.
    retired: Mutex<Vec<PendingUse>>,
    /// When (host clock, milliseconds) the uses were last collected for audit.
    usage_collected_at: AtomicI64,
    flights: Flights,
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            slots: RwLock::default(),
            retired: Mutex::default(),
            usage_collected_at: AtomicI64::new(i64::MIN),
            flights: Flights::default(),
        }
    }
}

fn pending(
    id: &ConnKey,
    definition: Option<&DefinitionKey>,
    key: &CredKey,
    count: u64,
) -> PendingUse {
    PendingUse {
        tenant: id.0.clone(),
        connection: id.1.clone(),
        definition: definition.cloned(),
        credential_type: key.credential_type.clone(),
        slot: key.slot.clone(),
        resolver: key.resolver.clone(),
        count,
    }
}

fn recent(stamp: Option<StatusStamp>, now: Timestamp, interval: Duration) -> bool {
    stamp.is_some_and(|s| now >= s.checked_at && now.duration_since(s.checked_at) < interval)
}

impl Cache {
    /// The hot path: the connection's cached credential for `selector`, if its status was
    /// read within `recheck` and the credential is fresh and not `rejected`. A hit's use
    /// is counted for the usage audit when `count_use`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn lookup(
        &self,
        connection: &Connection,
        selector: &CredentialSelector,
        rejected: Option<&Secret>,
        freshness: Freshness,
        now: Timestamp,
        recheck: Duration,
        count_use: bool,
    ) -> Lookup {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = slots.get(&(&connection.tenant, &connection.id) as &dyn ConnIds) else {
            return Lookup::StatusDue;
        };
        if !recent(slot.status, now, recheck) {
            return Lookup::StatusDue;
        }
        let Some((_, entry)) = slot.credentials.iter().find(|(k, _)| k.matches(selector)) else {
            return Lookup::Miss;
        };
        if !entry.usable(freshness, now) || rejected.is_some_and(|r| super::same(r, &entry.value)) {
            return Lookup::Miss;
        }
        if count_use {
            entry.unaudited.fetch_add(1, Ordering::Relaxed);
        }
        Lookup::Hit(ResolvedCredential::new(
            entry.value.clone(),
            entry.expires_at,
        ))
    }

    /// The cached credential for `key`, when still fresh (not counted as a use).
    pub(super) fn get(
        &self,
        key: &CacheKey,
        freshness: Freshness,
        now: Timestamp,
    ) -> Option<ResolvedCredential> {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        let (_, entry) = slots
            .get(&key.connection)?
            .credentials
            .iter()
            .find(|(k, _)| *k == key.credential)?;
        entry
            .usable(freshness, now)
            .then(|| ResolvedCredential::new(entry.value.clone(), entry.expires_at))
    }

    /// Caches a credential. When the cache holds [`MAX_ENTRIES`] connections, credentials
    /// that are no longer usable are dropped first, so credentials of connections nobody
    /// asks for any more do not accumulate.
    pub(super) fn put(
        &self,
        key: CacheKey,
        value: Secret,
        expires_at: Option<Timestamp>,
        issued_at: Timestamp,
        now: Timestamp,
        freshness: Freshness,
    ) {
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        if slots.len() >= MAX_ENTRIES && !slots.contains_key(&key.connection) {
            slots.retain(|id, slot| {
                slot.credentials.retain(|(k, e)| {
                    let keep = e.usable(freshness, now);
                    if !keep {
                        self.retire(id, slot.definition.as_ref(), k, e);
                    }
                    keep
                });
                !slot.credentials.is_empty()
            });
        }
        if slots.len() >= MAX_ENTRIES && !slots.contains_key(&key.connection) {
            for (id, slot) in slots.drain() {
                self.retire_slot(&id, &slot);
            }
        }
        let entry = Entry {
            value,
            expires_at,
            issued_at,
            cached_at: now,
            unaudited: AtomicU64::new(0),
        };
        let slot = slots
            .entry(key.connection.clone())
            .or_insert_with(Slot::empty);
        slot.definition = Some(key.definition);
        match slot
            .credentials
            .iter_mut()
            .find(|(k, _)| *k == key.credential)
        {
            Some((k, old)) => {
                let old = std::mem::replace(old, entry);
                self.retire(&key.connection, slot.definition.as_ref(), k, &old);
            }
            None => slot.credentials.push((key.credential, entry)),
        }
    }

    pub(super) fn forget(&self, key: &CacheKey) {
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = slots.get_mut(&key.connection) else {
            return;
        };
        if let Some(i) = slot
            .credentials
            .iter()
            .position(|(k, _)| *k == key.credential)
        {
            let (k, entry) = slot.credentials.swap_remove(i);
            self.retire(&key.connection, slot.definition.as_ref(), &k, &entry);
        }
    }

    /// Forgets every credential of a connection, and its last status read.
    pub(super) fn forget_connection(&self, tenant: &TenantId, connection: &ConnectionId) {
        let id = (tenant.clone(), connection.clone());
        let removed = self
            .slots
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        if let Some(slot) = removed {
            self.retire_slot(&id, &slot);
        }
    }

    /// Records a read of `stored` (active) at `now`. When its record changed since the
    /// last read (status or reauthorization), its cached credentials are dropped first.
    pub(super) fn record_status(&self, stored: &Connection, now: Timestamp) {
        let id = (stored.tenant.clone(), stored.id.clone());
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        if slots.len() >= MAX_ENTRIES && !slots.contains_key(&id) {
            // Reads are cheap to redo: drop the status reads of connections without
            // cached credentials, so the map never outgrows the credential cache.
            slots.retain(|_, slot| !slot.credentials.is_empty());
        }
        let slot = slots.entry(id.clone()).or_insert_with(Slot::empty);
        if slot
            .status
            .is_some_and(|previous| previous.version != stored.updated_at)
        {
            for (k, entry) in slot.credentials.drain(..) {
                self.retire(&id, slot.definition.as_ref(), &k, &entry);
            }
        }
        slot.status = Some(StatusStamp {
            version: stored.updated_at,
            checked_at: now,
        });
    }

    /// Whether the uses are due for audit: `interval` passed since they were last
    /// collected. Exactly one caller sees `true` per interval.
    pub(super) fn usage_due(&self, now: Timestamp, interval: Duration) -> bool {
        let now_ms = now.unix_millis();
        let last = self.usage_collected_at.load(Ordering::Relaxed);
        let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        if last != i64::MIN && now_ms.saturating_sub(last) < interval_ms {
            return false;
        }
        self.usage_collected_at
            .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the uses counted since the last call: every cached entry's count (reset to
    /// zero) and the counts of entries dropped meanwhile.
    pub(super) fn take_usage(&self) -> Vec<PendingUse> {
        let mut taken = Vec::new();
        {
            let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
            for (id, slot) in slots.iter() {
                for (k, entry) in &slot.credentials {
                    let count = entry.unaudited.swap(0, Ordering::Relaxed);
                    if count > 0 {
                        taken.push(pending(id, slot.definition.as_ref(), k, count));
                    }
                }
            }
        }
        let mut retired =
            std::mem::take(&mut *self.retired.lock().unwrap_or_else(PoisonError::into_inner));
        retired.append(&mut taken);
        retired
    }

    /// Keeps the unaudited uses of an entry being dropped.
    fn retire(
        &self,
        id: &ConnKey,
        definition: Option<&DefinitionKey>,
        key: &CredKey,
        entry: &Entry,
    ) {
        let count = entry.unaudited.swap(0, Ordering::Relaxed);
        if count > 0 {
            self.retired
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(pending(id, definition, key, count));
        }
    }

    fn retire_slot(&self, id: &ConnKey, slot: &Slot) {
        for (k, entry) in &slot.credentials {
            self.retire(id, slot.definition.as_ref(), k, entry);
        }
    }

    /// Waits for the single-flight lock of `key`: one resolution per key at a time in
    /// this process.
    pub(super) async fn flight(&self, key: &CacheKey) -> Flight<'_> {
        let lock = Arc::clone(
            self.flights
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key.clone())
                .or_default(),
        );
        let guard = Arc::clone(&lock).lock_owned().await;
        Flight {
            guard: Some(guard),
            lock,
            key: key.clone(),
            flights: &self.flights,
        }
    }

    #[cfg(test)]
    fn flight_count(&self) -> usize {
        self.flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A held single-flight lock; the map entry goes away with its last holder.
pub(super) struct Flight<'a> {
    guard: Option<OwnedMutexGuard<()>>,
    lock: Arc<AsyncMutex<()>>,
    key: CacheKey,
    flights: &'a Flights,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        // Only the map and this holder left: nobody waits, the entry can go.
        if Arc::strong_count(&self.lock) == 2
            && flights
                .get(&self.key)
                .is_some_and(|l| Arc::ptr_eq(l, &self.lock))
        {
            flights.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConnectionMethodId, DefinitionKey, TargetId};

    fn key() -> CacheKey {
        let connection = Connection::new(
            TenantId::new("t").unwrap(),
            ConnectionId::new("c").unwrap(),
            TargetId::new("x").unwrap(),
            "a::b".parse::<DefinitionKey>().unwrap(),
            ConnectionMethodId::new("oauth2").unwrap(),
            Timestamp::UNIX_EPOCH,
        );
        CacheKey::new(
            &connection,
            &CredentialSelector::of_type(CredentialType::OAUTH2_ACCESS_TOKEN),
        )
    }

    #[test]
    fn skew_is_capped_at_half_the_lifetime() {
        let f = Freshness {
            skew: Duration::from_secs(300),
            static_ttl: Duration::from_secs(60),
        };
        let issued = Timestamp::from_unix_seconds(0);
        // A one-hour token: renewed five minutes early.
        let hour = Some(Timestamp::from_unix_seconds(3600));
        assert!(f.fresh(hour, issued, Timestamp::from_unix_seconds(3299)));
        assert!(!f.fresh(hour, issued, Timestamp::from_unix_seconds(3300)));
        // A one-minute token: renewed thirty seconds early, not on every call.
        let minute = Some(Timestamp::from_unix_seconds(60));
        assert!(f.fresh(minute, issued, Timestamp::from_unix_seconds(29)));
        assert!(!f.fresh(minute, issued, Timestamp::from_unix_seconds(30)));
        assert!(f.fresh(None, issued, Timestamp::from_unix_seconds(i64::MAX / 2000)));
    }

    #[test]
    fn entries_expire_and_static_ones_are_reread() {
        let cache = Cache::default();
        let f = Freshness {
            skew: Duration::from_secs(10),
            static_ttl: Duration::from_secs(60),
        };
        let t0 = Timestamp::from_unix_seconds(1000);
        cache.put(key(), Secret::new("v"), None, t0, t0, f);
        assert!(
            cache
                .get(&key(), f, t0.saturating_add(Duration::from_secs(59)))
                .is_some()
        );
        assert!(
            cache
                .get(&key(), f, t0.saturating_add(Duration::from_secs(60)))
                .is_none()
        );
        cache.put(
            key(),
            Secret::new("v"),
            Some(t0.saturating_add(Duration::from_secs(100))),
            t0,
            t0,
            f,
        );
        assert!(
            cache
                .get(&key(), f, t0.saturating_add(Duration::from_secs(89)))
                .is_some()
        );
        assert!(
            cache
                .get(&key(), f, t0.saturating_add(Duration::from_secs(90)))
                .is_none()
        );
        cache.forget_connection(
            &TenantId::new("t").unwrap(),
            &ConnectionId::new("c").unwrap(),
        );
        assert!(cache.get(&key(), f, t0).is_none());
    }

    #[test]
    fn a_full_cache_drops_what_is_no_longer_usable() {
        let cache = Cache::default();
        let f = Freshness {
            skew: Duration::from_secs(10),
            static_ttl: Duration::from_secs(60),
        };
        let t0 = Timestamp::from_unix_seconds(1000);
        let connection = |i: usize| {
            Connection::new(
                TenantId::new("t").unwrap(),
                ConnectionId::new(format!("c{i}")).unwrap(),
                TargetId::new("x").unwrap(),
                "a::b".parse::<DefinitionKey>().unwrap(),
                ConnectionMethodId::new("oauth2").unwrap(),
                Timestamp::UNIX_EPOCH,
            )
        };
        let selector = CredentialSelector::of_type(CredentialType::API_KEY);
        for i in 0..MAX_ENTRIES {
            cache.put(
                CacheKey::new(&connection(i), &selector),
                Secret::new("v"),
                None,
                t0,
                t0,
                f,
            );
        }
        let later = t0.saturating_add(Duration::from_secs(61));
        cache.put(key(), Secret::new("new"), None, later, later, f);
        let len = cache.slots.read().unwrap().len();
        assert_eq!(len, 1);
        assert!(cache.get(&key(), f, later).is_some());
    }

    #[tokio::test]
    async fn flights_serialize_and_clean_up() {
        let cache = Arc::new(Cache::default());
        let first = cache.flight(&key()).await;
        let waiter = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                let _second = cache.flight(&key()).await;
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        waiter.await.unwrap();
        assert_eq!(cache.flight_count(), 0);
    }
}
