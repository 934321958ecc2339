//! The connection records routes name, read from the host's store and trusted for
//! [`ProxyConfig::connection_recheck`](crate::ProxyConfig::connection_recheck), so a
//! request does not wait on a database read while a revocation still takes effect within
//! that interval (the token manager rechecks statuses on the same default).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use integrations_core::host::Host;
use integrations_core::model::Connection;
use integrations_core::{ConnectionId, Error, TenantId};

/// The most records kept; past it the cache starts over.
const LIMIT: usize = 4096;

type Entry = (TenantId, Arc<Connection>, Instant);

#[derive(Debug)]
pub(crate) struct ConnectionCache {
    recheck: Duration,
    entries: Mutex<HashMap<ConnectionId, Entry>>,
}

impl ConnectionCache {
    pub(crate) fn new(recheck: Duration) -> Self {
        Self {
            recheck,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The connection `id` of `tenant`: the cached record when it was read less than
    /// the recheck interval ago, else the store's.
    pub(crate) async fn get(
        &self,
        host: &Host,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Arc<Connection>>, Error> {
        if !self.recheck.is_zero()
            && let Some((owner, connection, read)) = self
                .entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(id)
            && owner == tenant
            && read.elapsed() < self.recheck
        {
            return Ok(Some(Arc::clone(connection)));
        }
        let read = Instant::now();
        let found = host.connections().get_connection(tenant, id).await?;
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(connection) = found else {
            entries.remove(id);
            return Ok(None);
        };
        let connection = Arc::new(connection);
        if entries.len() >= LIMIT {
            entries.clear();
        }
        entries.insert(id.clone(), (tenant.clone(), Arc::clone(&connection), read));
        Ok(Some(connection))
    }
}
