//! The in-process cache of handed-out credentials, and the per-key single-flight locks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::credential::ResolvedCredential;
use crate::model::{Connection, CredentialType};
use crate::plan::CredentialSelector;
use crate::{ConnectionId, Secret, TenantId, Timestamp};

/// What a cached credential is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct CacheKey {
    tenant: TenantId,
    connection: ConnectionId,
    credential_type: CredentialType,
    slot: Option<String>,
    resolver: Option<String>,
    parameters: String,
}

impl CacheKey {
    pub(super) fn new(connection: &Connection, selector: &CredentialSelector) -> Self {
        let parameters = if selector.parameters.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&selector.parameters).unwrap_or_default()
        };
        Self {
            tenant: connection.tenant.clone(),
            connection: connection.id.clone(),
            credential_type: selector.credential_type.clone(),
            slot: selector.slot.clone(),
            resolver: selector.resolver.clone(),
            parameters,
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

/// The most credentials cached by one token manager.
pub(super) const MAX_ENTRIES: usize = 10_000;

struct Entry {
    value: Secret,
    expires_at: Option<Timestamp>,
    issued_at: Timestamp,
    cached_at: Timestamp,
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

/// Cached credentials, the status reads they depend on, and single-flight locks.
#[derive(Default)]
pub(super) struct Cache {
    entries: RwLock<HashMap<CacheKey, Entry>>,
    statuses: Mutex<HashMap<(TenantId, ConnectionId), StatusStamp>>,
    flights: Flights,
}

impl Cache {
    /// The cached credential for `key`, when still fresh.
    pub(super) fn get(
        &self,
        key: &CacheKey,
        freshness: Freshness,
        now: Timestamp,
    ) -> Option<ResolvedCredential> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(key)?;
        entry
            .usable(freshness, now)
            .then(|| ResolvedCredential::new(entry.value.clone(), entry.expires_at))
    }

    /// Caches a credential. When the cache holds [`MAX_ENTRIES`], entries that are no
    /// longer usable are dropped first, so credentials of connections nobody asks for
    /// any more do not accumulate.
    pub(super) fn put(
        &self,
        key: CacheKey,
        value: Secret,
        expires_at: Option<Timestamp>,
        issued_at: Timestamp,
        now: Timestamp,
        freshness: Freshness,
    ) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.usable(freshness, now));
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                value,
                expires_at,
                issued_at,
                cached_at: now,
            },
        );
    }

    pub(super) fn forget(&self, key: &CacheKey) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// Forgets every credential of a connection, and its last status read.
    pub(super) fn forget_connection(&self, tenant: &TenantId, connection: &ConnectionId) {
        self.statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(tenant.clone(), connection.clone()));
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|k, _| !(&k.tenant == tenant && &k.connection == connection));
    }

    /// Whether the connection's status was read less than `interval` before `now`.
    pub(super) fn status_is_recent(
        &self,
        connection: &Connection,
        now: Timestamp,
        interval: Duration,
    ) -> bool {
        self.statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(connection.tenant.clone(), connection.id.clone()))
            .is_some_and(|s| now >= s.checked_at && now.duration_since(s.checked_at) < interval)
    }

    /// Records a read of `stored` (active) at `now`. When its record changed since the
    /// last read (status or reauthorization), its cached credentials are dropped first.
    pub(super) fn record_status(&self, stored: &Connection, now: Timestamp) {
        let id = (stored.tenant.clone(), stored.id.clone());
        let mut statuses = self.statuses.lock().unwrap_or_else(PoisonError::into_inner);
        if statuses.len() >= MAX_ENTRIES && !statuses.contains_key(&id) {
            // Reads are cheap to redo; the map never outgrows the credential cache.
            statuses.clear();
        }
        let previous = statuses.insert(
            id,
            StatusStamp {
                version: stored.updated_at,
                checked_at: now,
            },
        );
        drop(statuses);
        if previous.is_some_and(|p| p.version != stored.updated_at) {
            self.entries
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|k, _| !(k.tenant == stored.tenant && k.connection == stored.id));
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
        let len = cache.entries.read().unwrap().len();
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
