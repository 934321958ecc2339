//! The continuation cursors the server gave out, and who may read each. Kept for the
//! whole service, not per connection: over HTTP, rmcp serves each 2026-07-28 request
//! statelessly with a new [`McpServer`](crate::McpServer), so the next request would
//! never find a cursor kept by the one before.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use integrations_core::ConnectionId;

use crate::McpSession;
use crate::session::Principal;

/// How long a cursor is kept: as long as the runtime keeps the pages it reads.
const CURSOR_TTL: Duration = Duration::from_secs(15 * 60);

/// The most cursors kept at once, for all principals: a bound on memory, reached only
/// when many principals hold their full share; past it the oldest of all is forgotten.
const MAX_CURSORS: usize = 10_000;

/// The most cursors one principal (tenant, workspace, user) holds at once; past it that
/// principal's own oldest is forgotten, so one client with many large results cannot
/// push another principal's cursors out. Far more than an agent reads within
/// [`CURSOR_TTL`].
const MAX_CURSORS_PER_PRINCIPAL: usize = 256;

/// Who may read a cursor: the principal it was given to and, in a stateful MCP session
/// (stdio, in-process, HTTP opened with `initialize`), only that session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Reader {
    /// The session the request acted for.
    pub(crate) principal: McpSession,
    /// The MCP session it came in; `None` for a request without one.
    pub(crate) session: Option<u64>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    cursor: String,
    reader: Reader,
}

struct Entry {
    /// Where the entry is in [`Inner::order`].
    seq: u64,
    connection: ConnectionId,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// The entries oldest first, with when each was given.
    order: BTreeMap<u64, (Instant, Key)>,
    /// Each principal's entries (their `seq`s, oldest first), for its own cap.
    by_principal: HashMap<Principal, BTreeSet<u64>>,
    next: u64,
}

impl Inner {
    /// Forgets the entry at `seq` everywhere it is listed.
    fn remove(&mut self, seq: u64) -> Option<Entry> {
        let (_, key) = self.order.remove(&seq)?;
        let principal = Principal::of(&key.reader.principal.session);
        if let Some(seqs) = self.by_principal.get_mut(&principal) {
            seqs.remove(&seq);
            if seqs.is_empty() {
                self.by_principal.remove(&principal);
            }
        }
        self.entries.remove(&key)
    }

    fn remove_oldest(&mut self) {
        if let Some((&seq, _)) = self.order.first_key_value() {
            self.remove(seq);
        }
    }

    /// Forgets `principal`'s oldest entry.
    fn remove_oldest_of(&mut self, principal: &Principal) {
        let oldest = self
            .by_principal
            .get(principal)
            .and_then(|seqs| seqs.first().copied());
        if let Some(seq) = oldest {
            self.remove(seq);
        }
    }

    fn count_of(&self, principal: &Principal) -> usize {
        self.by_principal.get(principal).map_or(0, BTreeSet::len)
    }
}

/// Cursors by reader, each taken once, forgotten after [`CURSOR_TTL`], when its
/// principal was given [`MAX_CURSORS_PER_PRINCIPAL`] newer ones, or when [`MAX_CURSORS`]
/// newer ones were given in all.
pub(crate) struct Cursors {
    inner: Mutex<Inner>,
    ttl: Duration,
    cap: usize,
    per_principal: usize,
}

impl Default for Cursors {
    fn default() -> Self {
        Self::with_limits(CURSOR_TTL, MAX_CURSORS, MAX_CURSORS_PER_PRINCIPAL)
    }
}

impl Cursors {
    fn with_limits(ttl: Duration, cap: usize, per_principal: usize) -> Self {
        Self {
            inner: Mutex::default(),
            ttl,
            cap: cap.max(1),
            per_principal: per_principal.max(1),
        }
    }

    fn lock(&self, now: Instant) -> std::sync::MutexGuard<'_, Inner> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some((_, (at, _))) = inner.order.first_key_value() {
            if now.saturating_duration_since(*at) < self.ttl {
                break;
            }
            inner.remove_oldest();
        }
        inner
    }

    /// Keeps `cursor`, which continues a result of `connection`, for `reader`.
    pub(crate) fn give(&self, cursor: String, reader: Reader, connection: ConnectionId) {
        self.give_at(Instant::now(), cursor, reader, connection);
    }

    fn give_at(&self, now: Instant, cursor: String, reader: Reader, connection: ConnectionId) {
        let mut inner = self.lock(now);
        let key = Key { cursor, reader };
        if let Some(old) = inner.entries.get(&key).map(|entry| entry.seq) {
            inner.remove(old);
        }
        // The giver's own oldest goes first, so the global cap below is reached only
        // when many principals hold their full share.
        let principal = Principal::of(&key.reader.principal.session);
        while inner.count_of(&principal) >= self.per_principal {
            inner.remove_oldest_of(&principal);
        }
        while inner.entries.len() >= self.cap {
            inner.remove_oldest();
        }
        let seq = inner.next;
        inner.next += 1;
        inner.order.insert(seq, (now, key.clone()));
        inner.by_principal.entry(principal).or_default().insert(seq);
        inner.entries.insert(key, Entry { seq, connection });
    }

    /// The connection of `cursor` if it was given to `reader`, who reads it this once.
    pub(crate) fn take(&self, cursor: &str, reader: &Reader) -> Option<ConnectionId> {
        self.take_at(Instant::now(), cursor, reader)
    }

    fn take_at(&self, now: Instant, cursor: &str, reader: &Reader) -> Option<ConnectionId> {
        let mut inner = self.lock(now);
        let key = Key {
            cursor: cursor.to_owned(),
            reader: reader.clone(),
        };
        let seq = inner.entries.get(&key)?.seq;
        inner.remove(seq).map(|entry| entry.connection)
    }
}

/// A cursor taken by a call that reads its next page. Dropped before
/// [`used`](Self::used) (the call failed without reading the page, or was cancelled), it
/// goes back to its reader: the pages are still in the store, and the cursor must not be
/// used up by a call that never read them. (Given back when the page was read after all,
/// it only leads to the store's `tool.continuation_not_found`: the store hands each page
/// out once.)
pub(crate) struct Taken {
    cursors: Arc<Cursors>,
    cursor: String,
    reader: Reader,
    connection: ConnectionId,
    used: bool,
}

impl Taken {
    /// The connection whose result the cursor continues.
    pub(crate) fn connection(&self) -> &ConnectionId {
        &self.connection
    }

    /// The call read the page (or the store no longer has it): the cursor is gone.
    pub(crate) fn used(mut self) {
        self.used = true;
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        if !self.used {
            self.cursors.give(
                std::mem::take(&mut self.cursor),
                self.reader.clone(),
                self.connection.clone(),
            );
        }
    }
}

/// Takes `cursor` for `reader`'s call, to be given back unless the call uses it.
pub(crate) fn take_for_call(cursors: &Arc<Cursors>, cursor: &str, reader: Reader) -> Option<Taken> {
    let connection = cursors.take(cursor, &reader)?;
    Some(Taken {
        cursors: Arc::clone(cursors),
        cursor: cursor.to_owned(),
        reader,
        connection,
        used: false,
    })
}

#[cfg(test)]
mod tests {
    use integrations_core::tools::Session;
    use integrations_core::{TenantId, UserId, WorkspaceId};

    use super::*;

    fn reader(user: &str, session: Option<u64>) -> Reader {
        Reader {
            principal: McpSession::new(
                Session::new(TenantId::new("t").unwrap(), WorkspaceId::new("w").unwrap())
                    .with_user(UserId::new(user).unwrap()),
            ),
            session,
        }
    }

    fn connection() -> ConnectionId {
        ConnectionId::new("linear").unwrap()
    }

    #[test]
    fn only_its_reader_takes_a_cursor_and_only_once() {
        let cursors = Cursors::default();
        let alice = reader("alice", None);
        cursors.give("c1".into(), alice.clone(), connection());
        assert_eq!(cursors.take("c1", &reader("bob", None)), None);
        assert_eq!(cursors.take("c1", &reader("alice", Some(1))), None);
        assert_eq!(cursors.take("c1", &alice), Some(connection()));
        assert_eq!(cursors.take("c1", &alice), None);
    }

    #[test]
    fn a_cursor_given_in_a_session_is_read_in_that_session_only() {
        let cursors = Cursors::default();
        cursors.give("c1".into(), reader("alice", Some(7)), connection());
        assert_eq!(cursors.take("c1", &reader("alice", None)), None);
        assert_eq!(cursors.take("c1", &reader("alice", Some(8))), None);
        assert_eq!(
            cursors.take("c1", &reader("alice", Some(7))),
            Some(connection())
        );
    }

    #[test]
    fn cursors_expire_with_their_continuation() {
        let cursors = Cursors::with_limits(Duration::from_secs(60), 10, 10);
        let alice = reader("alice", None);
        let start = Instant::now();
        cursors.give_at(start, "old".into(), alice.clone(), connection());
        cursors.give_at(
            start + Duration::from_secs(30),
            "new".into(),
            alice.clone(),
            connection(),
        );
        let later = start + Duration::from_secs(60);
        assert_eq!(cursors.take_at(later, "old", &alice), None);
        assert_eq!(cursors.take_at(later, "new", &alice), Some(connection()));
    }

    #[test]
    fn past_the_cap_the_oldest_cursor_is_forgotten() {
        let cursors = Cursors::with_limits(CURSOR_TTL, 3, 3);
        let alice = reader("alice", None);
        for cursor in ["c1", "c2", "c3", "c4"] {
            cursors.give(cursor.into(), alice.clone(), connection());
        }
        assert_eq!(cursors.take("c1", &alice), None);
        for cursor in ["c2", "c3", "c4"] {
            assert_eq!(cursors.take(cursor, &alice), Some(connection()), "{cursor}");
        }
        let inner = cursors.inner.lock().unwrap();
        assert!(
            inner.entries.is_empty() && inner.order.is_empty() && inner.by_principal.is_empty()
        );
    }

    #[test]
    fn past_its_cap_a_principal_forgets_its_own_oldest_not_anothers() {
        let cursors = Cursors::with_limits(CURSOR_TTL, 10, 3);
        let alice = reader("alice", None);
        let bob = reader("bob", None);
        cursors.give("b1".into(), bob.clone(), connection());
        // More cursors than the global cap: only the per-principal cap keeps Bob's.
        let given: Vec<String> = (1..=12).map(|n| format!("a{n}")).collect();
        for cursor in &given {
            cursors.give(cursor.clone(), alice.clone(), connection());
        }
        assert_eq!(cursors.take("b1", &bob), Some(connection()));
        // Alice keeps her three newest; the ones before went first.
        for cursor in &given[..9] {
            assert_eq!(cursors.take(cursor, &alice), None, "{cursor}");
        }
        for cursor in &given[9..] {
            assert_eq!(cursors.take(cursor, &alice), Some(connection()), "{cursor}");
        }
        // Another MCP session or project of Alice's is still Alice: no fresh share.
        let mut elsewhere = reader("alice", Some(9));
        elsewhere.principal.session.project = Some(integrations_core::ProjectId::new("p").unwrap());
        for cursor in ["e1", "e2", "e3", "e4"] {
            cursors.give(cursor.into(), elsewhere.clone(), connection());
        }
        assert_eq!(cursors.inner.lock().unwrap().entries.len(), 3);
    }
}
