use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ConnectionId, TenantId, Timestamp};

/// Where a sync stream of a connection stopped: its cursor and any provider state needed
/// to resume after a crash. Saved with compare-and-swap on `version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SyncCheckpoint {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The connection synced.
    pub connection: ConnectionId,
    /// The stream (`issues`, `channels`).
    pub stream: String,
    /// The provider cursor to resume from; `None` to start over.
    pub cursor: Option<String>,
    /// The high-water mark of an incremental sync (for example the newest `updatedAt`).
    pub watermark: Option<String>,
    /// Whether a full sync is in progress (its pages are not finished).
    pub in_full_sync: bool,
    /// Free-form provider state.
    pub state: Value,
    /// Incremented on every save; 0 means never saved.
    pub version: u64,
    /// When it was last saved.
    pub updated_at: Timestamp,
}

impl SyncCheckpoint {
    /// A fresh checkpoint (version 0) for a stream.
    pub fn new(
        tenant: TenantId,
        connection: ConnectionId,
        stream: impl Into<String>,
        now: Timestamp,
    ) -> Self {
        Self {
            tenant,
            connection,
            stream: stream.into(),
            cursor: None,
            watermark: None,
            in_full_sync: false,
            state: Value::Null,
            version: 0,
            updated_at: now,
        }
    }
}

/// The run lease of a sync stream: which runner may advance it, until when. Two runners
/// of one connection and stream never run at once; a runner that died leaves its lease,
/// which another may take once it expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SyncLease {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The connection synced.
    pub connection: ConnectionId,
    /// The stream.
    pub stream: String,
    /// Who holds it: a random id per run.
    pub holder: String,
    /// When it lapses unless renewed.
    pub expires_at: Timestamp,
}

impl SyncLease {
    /// A lease of a stream for `holder` until `expires_at`.
    pub fn new(
        tenant: TenantId,
        connection: ConnectionId,
        stream: impl Into<String>,
        holder: impl Into<String>,
        expires_at: Timestamp,
    ) -> Self {
        Self {
            tenant,
            connection,
            stream: stream.into(),
            holder: holder.into(),
            expires_at,
        }
    }
}
