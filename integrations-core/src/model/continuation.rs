//! The stored unread pages of a trimmed tool result.

use serde::{Deserialize, Serialize};

use crate::sealing::Sealed;
use crate::{ConnectionId, TenantId, Timestamp, WorkspaceId};

/// The unread pages of a trimmed tool result, as a host's
/// [`ContinuationStore`](crate::host::ContinuationStore) keeps them.
///
/// A plain record with public fields, so hosts can store it in their database. It holds
/// no readable result data: the pages are sealed with the host's cipher, bound to the
/// tenant and id, and the id is the SHA-256 digest (hex) of the cursor the agent holds,
/// bound to the session and continuation scope that may read on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingContinuation {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The SHA-256 digest (lowercase hex) of the cursor, bound to who may read on.
    pub id: String,
    /// The workspace of the call that produced the result: only it may read on.
    pub workspace: WorkspaceId,
    /// The connection of that call: a read through another connection finds nothing (a
    /// read for the session, which names none, reads on through this one).
    pub connection: ConnectionId,
    /// The JSON Pointer of the list or text the next page was cut from (the pages after
    /// it name their own, inside the sealed pages).
    pub pointer: String,
    /// The number of the last page read (the first page is 1).
    pub page: u64,
    /// How many pages are left.
    pub remaining_pages: u64,
    /// The pages left, a JSON array, sealed.
    pub pages: Sealed,
    /// When the record was made.
    pub created_at: Timestamp,
    /// After this instant the pages can no longer be read.
    pub expires_at: Timestamp,
}
