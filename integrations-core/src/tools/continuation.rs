//! Trimming large results to a byte budget, and reading the rest a page at a time.
//!
//! A structured result larger than the budget is split at its largest array (between
//! items) or string (between characters); the rest of the document is repeated on every
//! page, so each page still matches the tool's output schema. A page still over the
//! budget (an item larger than a page) is cut again inside that item; a result no cut
//! makes fit fails with `tool.result_too_large`, and is never passed on whole. The first page is the
//! result; the others wait, sealed, in the host's
//! [`ContinuationStore`](crate::host::ContinuationStore) under the digest of a random
//! cursor, taken once, for a bounded time, readable from any process of the host but
//! only by the session (workspace, user, project, issue) and
//! [continuation scope](crate::model::CallContext::continuation_scope) that made the
//! call: through [`Runtime::continue_result`] (through the call's connection),
//! [`Runtime::continue_result_for`] (whichever connection it was), or for an agent
//! through the reserved tool [`CONTINUE_TOOL_NAME`] (which [`Manifest::descriptors`]
//! lists).
//!
//! [`Manifest::descriptors`]: super::Manifest::descriptors

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::Runtime;
use crate::definition::CONTINUE_TOOL_NAME;
use crate::definition::{ToolAnnotations, ToolDescriptor, ToolPolicy};
use crate::host::Host;
use crate::model::PendingContinuation;
use crate::model::{CallContext, Session};
use crate::provider::tools::{Continuation, ToolContent, ToolResult};
use crate::sealing::Aad;
use crate::{ConnectionId, Error, ProjectId, TenantId, Timestamp, UserId, WorkspaceId};

/// The arguments of [`CONTINUE_TOOL_NAME`].
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ContinueResult {
    /// The cursor a trimmed result gave.
    #[schemars(length(min = 1))]
    cursor: String,
}

/// The descriptor of [`CONTINUE_TOOL_NAME`], the tool an agent calls to read the next page
/// of a trimmed result. [`Manifest::descriptors`](super::Manifest::descriptors) includes
/// it.
pub fn continuation_tool() -> ToolDescriptor {
    ToolDescriptor::new::<ContinueResult>(
        CONTINUE_TOOL_NAME,
        "Read the next page of a tool result that was too large and was split. Pass the cursor the result gave.",
    )
    .with_title("Continue a result")
    .with_annotations(ToolAnnotations::read_only().with_open_world(false))
    .with_policy(ToolPolicy::Auto)
}

/// A result split into pages that each fit the budget.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pages {
    pub(crate) pages: Vec<Page>,
}

/// One page of a split result, with the JSON Pointer of the list or text it was cut
/// from: the document's largest, or, for a page cut again inside an item too large for
/// one page, the place inside that item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page {
    pub(crate) pointer: String,
    pub(crate) value: Value,
}

fn json_len(value: &Value) -> usize {
    // Serializing a Value cannot fail; count the bytes without allocating the text.
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// Every array of two items or more and every string of two characters or more in
/// `value` (the places a page can be cut), with their JSON Pointers and serialized sizes.
fn splittable(value: &Value, pointer: &mut String, found: &mut Vec<(String, usize)>) {
    match value {
        Value::Array(items) if items.len() >= 2 => found.push((pointer.clone(), json_len(value))),
        Value::String(s) if s.chars().nth(1).is_some() => {
            found.push((pointer.clone(), s.len() + 2));
        }
        _ => {}
    }
    let here = pointer.len();
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointer.push('/');
                pointer.push_str(&i.to_string());
                splittable(item, pointer, found);
                pointer.truncate(here);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                pointer.push('/');
                pointer.push_str(&crate::escape_pointer_token(k));
                splittable(v, pointer, found);
                pointer.truncate(here);
            }
        }
        _ => {}
    }
}

/// The escaped length of one character inside a JSON string.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// How a result measures up to the budget.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Paginated {
    /// It fits whole.
    Fits,
    /// Split into pages of at most the budget each.
    Pages(Pages),
    /// Larger than the budget, and no cut gives pages that fit: it has no list or text
    /// to cut at, or what is repeated on every page alone exceeds the budget.
    TooLarge,
}

/// How many cut places are tried, largest first, before a result is called too large.
const CANDIDATES: usize = 8;
/// How deep a page still too large is cut again (an item larger than a page, then a
/// text inside it, ...).
const MAX_DEPTH: usize = 8;
/// The most pages one result is split into: 2.4 MB of JSON at the default budget, more
/// than any agent reads page by page. It also bounds what reading costs: each read
/// opens and seals again the pages after it, so reading a result of `n` pages seals
/// about `n²/2` pages in all.
const MAX_PAGES: usize = 100;
/// The most cuts tried for one result, at every depth together: a result that no cut
/// makes fit is called too large after this many, never searched exhaustively (8 places
/// at 8 depths would be millions of cuts, each cloning the document).
const MAX_CUTS: usize = 64;

/// Splits `value` into pages of at most `budget` bytes of JSON each by cutting its largest
/// array (between items) or string (between characters); the rest of the document is
/// repeated on every page, so each page keeps the document's shape. A page still over the
/// budget (one item larger than a page) is cut again, inside that item. Every page fits,
/// or the result is [`Paginated::TooLarge`]: nothing over the budget is ever passed on.
pub(crate) fn paginate(value: &Value, budget: usize) -> Paginated {
    if json_len(value) <= budget {
        return Paginated::Fits;
    }
    let mut cuts_left = MAX_CUTS;
    match split(value, budget, 0, &mut cuts_left) {
        Some(pages) if pages.len() <= MAX_PAGES => Paginated::Pages(Pages { pages }),
        _ => Paginated::TooLarge,
    }
}

/// Pages of `value` (larger than `budget`) that each fit, cut first at the largest place
/// that gives them, each with the pointer of the place it was cut at.
fn split(value: &Value, budget: usize, depth: usize, cuts_left: &mut usize) -> Option<Vec<Page>> {
    if depth >= MAX_DEPTH {
        return None;
    }
    let mut places = Vec::new();
    splittable(value, &mut String::new(), &mut places);
    // Largest first; among equals, the first in document order.
    places.sort_by_key(|place| std::cmp::Reverse(place.1));
    for (pointer, _) in places.into_iter().take(CANDIDATES) {
        if *cuts_left == 0 {
            return None;
        }
        *cuts_left -= 1;
        let Some(pages) = cut_at(value, &pointer, budget) else {
            continue;
        };
        let mut fitted = Vec::with_capacity(pages.len());
        for page in pages {
            if json_len(&page) <= budget {
                fitted.push(Page {
                    pointer: pointer.clone(),
                    value: page,
                });
            } else if let Some(more) = split(&page, budget, depth + 1, cuts_left) {
                fitted.extend(more);
            } else {
                fitted.clear();
                break;
            }
            if fitted.len() > MAX_PAGES {
                return None;
            }
        }
        if !fitted.is_empty() {
            return Some(fitted);
        }
    }
    None
}

/// `value` cut at the array or string at `pointer` into two pages or more, each the rest
/// of the document with one part; a part is as large as fits beside the rest, or one
/// item when a single item does not. `None` when the rest alone leaves no room.
fn cut_at(value: &Value, pointer: &str, budget: usize) -> Option<Vec<Value>> {
    let target = value.pointer(pointer)?;
    let mut envelope = value.clone();
    let slot = envelope.pointer_mut(pointer)?;
    let parts: Vec<Value> = match target {
        Value::Array(items) => {
            *slot = Value::Array(Vec::new());
            let base = json_len(&envelope);
            if base >= budget {
                return None;
            }
            let room = budget - base;
            let mut parts = Vec::new();
            let mut current: Vec<Value> = Vec::new();
            let mut used = 0;
            for item in items {
                let len = json_len(item) + usize::from(!current.is_empty());
                if !current.is_empty() && used + len > room {
                    parts.push(Value::Array(std::mem::take(&mut current)));
                    used = 0;
                    if parts.len() > MAX_PAGES {
                        return None;
                    }
                }
                used += json_len(item) + usize::from(!current.is_empty());
                current.push(item.clone());
            }
            parts.push(Value::Array(current));
            parts
        }
        Value::String(text) => {
            *slot = Value::String(String::new());
            let base = json_len(&envelope);
            // Room for a few characters at least, or the text would be cut to crumbs.
            if base + 8 > budget {
                return None;
            }
            let room = budget - base;
            let mut parts = Vec::new();
            let mut current = String::new();
            let mut used = 0;
            for c in text.chars() {
                let len = escaped_len(c);
                if !current.is_empty() && used + len > room {
                    parts.push(Value::String(std::mem::take(&mut current)));
                    used = 0;
                    if parts.len() > MAX_PAGES {
                        return None;
                    }
                }
                used += len;
                current.push(c);
            }
            parts.push(Value::String(current));
            parts
        }
        _ => return None,
    };
    if parts.len() < 2 {
        return None;
    }
    Some(
        parts
            .into_iter()
            .map(|part| {
                let mut page = envelope.clone();
                if let Some(slot) = page.pointer_mut(pointer) {
                    *slot = part;
                }
                page
            })
            .collect(),
    )
}

/// A note for the model about a trimmed page (its `continuation` names where the page
/// was cut).
pub(crate) fn continuation_note(continuation: &Continuation, page: usize) -> String {
    format!(
        "The result was too large and was split at {}; this is page {} of {}. To read the next page, call integrations_continue_result with cursor \"{}\".",
        if continuation.pointer.is_empty() {
            "/"
        } else {
            &continuation.pointer
        },
        page,
        page + continuation.remaining_pages,
        continuation.cursor
    )
}

/// Who may read a continuation: the tenant, workspace, user, project, issue and
/// continuation scope of the call, through the call's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) reader: Reader,
    pub(crate) connection: ConnectionId,
}

impl Owner {
    /// The owner of the call `context`.
    pub(crate) fn of(context: &CallContext) -> Self {
        Self {
            reader: Reader::of(&context.session, context.continuation_scope.as_deref()),
            connection: context.connection.clone(),
        }
    }
}

/// Who reads a continuation: an owner whose connection may be unknown (a read for a
/// session, which takes the connection from the record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reader {
    pub(crate) tenant: TenantId,
    pub(crate) workspace: WorkspaceId,
    pub(crate) user: Option<UserId>,
    pub(crate) project: Option<ProjectId>,
    pub(crate) issue: Option<String>,
    pub(crate) scope: Option<String>,
}

impl Reader {
    pub(crate) fn of(session: &Session, scope: Option<&str>) -> Self {
        Self {
            tenant: session.tenant.clone(),
            workspace: session.workspace.clone(),
            user: session.user.clone(),
            project: session.project.clone(),
            issue: session.issue.clone(),
            scope: scope.map(str::to_owned),
        }
    }

    /// The store id of `cursor`'s pages for this reader: a digest of the cursor bound to
    /// the workspace, user, project, issue and scope (the issue with its length or `-`,
    /// the scope last: they are the free-form parts). Another session's read of the same
    /// cursor looks up another id, finds nothing, and never takes the owner's pages
    /// out. The connection is checked against the record instead, so a read for a
    /// session finds the record without naming it.
    fn record_id(&self, cursor: &str) -> String {
        let user = self.user.as_ref().map_or("", UserId::as_str);
        let project = self.project.as_ref().map_or("", ProjectId::as_str);
        // The issue with its length, `-` for none: no issue and an empty one differ.
        let issue = self.issue.as_deref().map_or_else(
            || "-".to_owned(),
            |issue| format!("{}:{issue}", issue.len()),
        );
        let scope = self.scope.as_deref().unwrap_or("");
        crate::sealing::sha256_hex(&format!(
            "2\n{cursor}\n{}\n{user}\n{project}\n{issue}\n{scope}",
            self.workspace
        ))
    }

    /// The id releases before the continuation scope gave `cursor`'s pages, bound to
    /// the connection too: records they wrote are read for their first 15 minutes after
    /// an upgrade.
    fn legacy_record_id(&self, cursor: &str, connection: &ConnectionId) -> String {
        let user = self.user.as_ref().map_or("", UserId::as_str);
        crate::sealing::sha256_hex(&format!(
            "{cursor}\n{}\n{connection}\n{user}",
            self.workspace
        ))
    }
}

/// The associated data of a continuation's sealed pages.
fn pages_aad(tenant: &TenantId, id: &str) -> Aad {
    crate::sealing::continuation_pages_aad(tenant, id)
}

fn unknown() -> Error {
    crate::codes::tool::CONTINUATION_NOT_FOUND.error("no continuation with this cursor exists: it was read already, expired, or belongs to another session",
    )
}

/// Whether `cursor` has the shape of the cursors this runtime issues (32 lowercase hex
/// digits); anything else is refused before the store is asked.
fn well_formed(cursor: &str) -> bool {
    cursor.len() == 32
        && cursor
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The sealed content of a continuation: the pages left and the pointer each was cut at.
#[derive(Serialize)]
struct StoredPages<'a> {
    pages: Vec<&'a Value>,
    pointers: Vec<&'a str>,
}

/// [`StoredPages`] read back; also the bare array of pages earlier releases wrote (their
/// pages were all cut at the record's pointer).
#[derive(Deserialize)]
#[serde(untagged)]
enum ReadPages {
    Pages {
        pages: Vec<Value>,
        pointers: Vec<String>,
    },
    Legacy(Vec<Value>),
}

/// Keeps the pages not yet read in the host's
/// [`ContinuationStore`](crate::host::ContinuationStore), sealed, each cursor taken
/// once, for a bounded time.
#[derive(Debug)]
pub(crate) struct Continuations {
    /// How long kept pages wait for their read.
    ttl: Duration,
    /// How long the pages of an approved call's result wait for their first read: the
    /// retry that collects the result may come long after the approval.
    pub(super) approved_ttl: Duration,
}

/// A page read from a continuation.
pub(crate) struct NextPage {
    /// The connection whose result it continues.
    pub(crate) connection: ConnectionId,
    pub(crate) page: Value,
    pub(crate) number: usize,
    pub(crate) continuation: Option<Continuation>,
}

impl NextPage {
    /// The page as a result, with the note and continuation of the pages after it.
    fn into_result(self) -> ToolResult {
        let mut result = ToolResult::success(self.page);
        if let Some(continuation) = self.continuation {
            result.content.push(ToolContent::text(continuation_note(
                &continuation,
                self.number,
            )));
            result.continuation = Some(continuation);
        }
        result
    }
}

/// A continuation taken out of the store for a read, put back (in a task of its own)
/// when the read is dropped before it is [`done`](Self::done): a client that cancels
/// its read loses no page.
struct Taken {
    host: Host,
    entry: Option<PendingContinuation>,
}

impl Taken {
    fn entry(&self) -> &PendingContinuation {
        self.entry
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken until done"))
    }

    /// The read ended: its page was handed over, or the record put back.
    fn done(mut self) {
        self.entry = None;
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        let Some(entry) = self.entry.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let host = self.host.clone();
        runtime.spawn(async move {
            if let Err(put) = host.continuations().put_continuation(&entry).await {
                tracing::warn!(
                    target: "integrations::tools",
                    code = put.code(),
                    "a continuation whose read was dropped could not be put back; its pages are lost"
                );
            }
        });
    }
}

impl Continuations {
    pub(crate) fn new(ttl: Duration, approved_ttl: Duration) -> Self {
        Self { ttl, approved_ttl }
    }

    /// Keeps `pages` (the pages after page `page`, which was cut at `pointer`) and
    /// returns their continuation.
    pub(crate) async fn keep(
        &self,
        host: &Host,
        owner: Owner,
        pointer: String,
        page: usize,
        pages: &[Page],
        (now, ttl): (Timestamp, Duration),
    ) -> Result<Continuation, Error> {
        let cursor = crate::sealing::random_token()?;
        let id = owner.reader.record_id(&cursor);
        let stored = StoredPages {
            pages: pages.iter().map(|p| &p.value).collect(),
            pointers: pages.iter().map(|p| p.pointer.as_str()).collect(),
        };
        let plaintext = Zeroizing::new(serde_json::to_vec(&stored).map_err(|_| {
            crate::codes::tool::CONTINUATION_UNSERIALIZABLE
                .error("the pages of a trimmed result could not be serialized")
        })?);
        let sealed = host
            .cipher()
            .seal(&plaintext, &pages_aad(&owner.reader.tenant, &id))?;
        let pending = PendingContinuation {
            tenant: owner.reader.tenant,
            id,
            workspace: owner.reader.workspace,
            connection: owner.connection,
            pointer: pages.first().map(|p| p.pointer.clone()).unwrap_or_default(),
            page: page as u64,
            remaining_pages: pages.len() as u64,
            pages: sealed,
            created_at: now,
            expires_at: now.saturating_add(ttl),
        };
        host.continuations().put_continuation(&pending).await?;
        Ok(Continuation {
            cursor,
            pointer,
            remaining_pages: pages.len(),
        })
    }

    /// Takes the next page of `cursor`, for `reader` through `connection` (any connection
    /// when `None`: the record's). A reader with a scope also reads the pages its
    /// session kept with none.
    pub(crate) async fn next(
        &self,
        host: &Host,
        cursor: &str,
        reader: &Reader,
        connection: Option<&ConnectionId>,
        now: Timestamp,
    ) -> Result<NextPage, Error> {
        if !well_formed(cursor) {
            return Err(unknown());
        }
        let store = host.continuations();
        // The pages kept in the reader's scope, then (for a reader with a scope) those
        // kept with none, then those an earlier release kept under its id. The pages
        // after the one read keep the binding they were found under.
        let unscoped = reader.scope.is_some().then(|| Reader {
            scope: None,
            ..reader.clone()
        });
        let mut found = None;
        for candidate in std::iter::once(reader).chain(&unscoped) {
            let id = candidate.record_id(cursor);
            if let Some(entry) = store.take_continuation(&reader.tenant, &id, now).await? {
                found = Some((entry, candidate));
                break;
            }
        }
        if let (None, Some(connection)) = (&found, connection) {
            let legacy = reader.legacy_record_id(cursor, connection);
            if let Some(entry) = store
                .take_continuation(&reader.tenant, &legacy, now)
                .await?
            {
                found = Some((entry, unscoped.as_ref().unwrap_or(reader)));
            }
        }
        let Some((entry, binding)) = found else {
            return Err(unknown());
        };
        if entry.expires_at <= now {
            return Err(unknown());
        }
        // From here the page is this read's to hand over: a read dropped before it does
        // (its client cancelled) puts the record back.
        let taken = Taken {
            host: host.clone(),
            entry: Some(entry),
        };
        let entry = taken.entry();
        if entry.workspace != reader.workspace
            || connection.is_some_and(|connection| *connection != entry.connection)
        {
            // Put it back: the rightful owner may still read it.
            let put = store.put_continuation(entry).await;
            taken.done();
            put?;
            return Err(unknown());
        }
        let owner = Owner {
            reader: binding.clone(),
            connection: entry.connection.clone(),
        };
        let read = match self.hand_over(host, entry, owner, now).await {
            Ok(next) => Ok(next),
            Err(error) => {
                // The page was not handed over: the cursor stays readable for a retry.
                if let Err(put) = store.put_continuation(entry).await {
                    tracing::warn!(
                        target: "integrations::tools",
                        code = put.code(),
                        "a continuation whose read failed could not be put back; its pages are lost"
                    );
                }
                Err(error)
            }
        };
        taken.done();
        read
    }

    /// The first page of the taken `entry`, the rest kept under a new cursor for `owner`.
    async fn hand_over(
        &self,
        host: &Host,
        entry: &PendingContinuation,
        owner: Owner,
        now: Timestamp,
    ) -> Result<NextPage, Error> {
        let plaintext = host
            .cipher()
            .open(&entry.pages, &pages_aad(&entry.tenant, &entry.id))?;
        let corrupt = || {
            crate::codes::tool::CONTINUATION_CORRUPT
                .error("the stored pages of a trimmed result are not what the runtime wrote")
        };
        let pages: Vec<Page> = match serde_json::from_slice(&plaintext).map_err(|_| corrupt())? {
            ReadPages::Pages { pages, pointers } if pages.len() == pointers.len() => pages
                .into_iter()
                .zip(pointers)
                .map(|(value, pointer)| Page { pointer, value })
                .collect(),
            ReadPages::Pages { .. } => return Err(corrupt()),
            ReadPages::Legacy(pages) => pages
                .into_iter()
                .map(|value| Page {
                    pointer: entry.pointer.clone(),
                    value,
                })
                .collect(),
        };
        let mut pages = pages.into_iter();
        let page = pages.next().ok_or_else(unknown)?;
        let rest: Vec<Page> = pages.collect();
        let number = usize::try_from(entry.page)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let continuation = if rest.is_empty() {
            None
        } else {
            Some(
                self.keep(
                    host,
                    owner.clone(),
                    page.pointer,
                    number,
                    &rest,
                    (now, self.ttl),
                )
                .await?,
            )
        };
        Ok(NextPage {
            connection: owner.connection,
            page: page.value,
            number,
            continuation,
        })
    }
}

impl Runtime {
    /// Reads the next page of a trimmed result, for the call's workspace, user, project,
    /// issue and [continuation scope](CallContext::continuation_scope), through the connection
    /// that produced it (anyone else's read finds nothing, and leaves it to its owner).
    /// Pages wait, sealed, in the host's
    /// [`ContinuationStore`](crate::host::ContinuationStore) for 15 minutes, so any
    /// process of the host can serve the next page; each cursor is read once.
    pub async fn continue_result(&self, cursor: &str, context: &CallContext) -> ToolResult {
        let reader = Reader::of(&context.session, context.continuation_scope.as_deref());
        let now = self.host.clock().now();
        let result = match self
            .continuations
            .next(&self.host, cursor, &reader, Some(&context.connection), now)
            .await
        {
            Ok(next) => next.into_result(),
            Err(e) => ToolResult::failure(&e),
        };
        self.audit_call(context, None, CONTINUE_TOOL_NAME, &result, None, None)
            .await;
        result
    }

    /// Reads the next page of a trimmed result for `session` and `scope` (the
    /// [continuation scope](CallContext::continuation_scope) of the call that produced
    /// it), through whichever connection produced it. For a host that knows who asks
    /// but not which connection the cursor continues: an MCP request with no session of
    /// its own, served by any instance. Only the same tenant, workspace, user, project,
    /// issue and scope (or, for pages kept with no scope, any scope) find the pages; anyone else's
    /// read finds nothing (`tool.continuation_not_found`) and leaves them to their owner.
    pub async fn continue_result_for(
        &self,
        cursor: &str,
        session: &Session,
        scope: Option<&str>,
    ) -> ToolResult {
        let reader = Reader::of(session, scope);
        let now = self.host.clock().now();
        let (result, connection) = match self
            .continuations
            .next(&self.host, cursor, &reader, None, now)
            .await
        {
            Ok(next) => {
                let connection = next.connection.clone();
                (next.into_result(), Some(connection))
            }
            Err(e) => (ToolResult::failure(&e), None),
        };
        self.audit_tool(
            session,
            connection.as_ref(),
            None,
            CONTINUE_TOOL_NAME,
            &result,
            None,
            None,
        )
        .await;
        result
    }

    /// A call of the [`CONTINUE_TOOL_NAME`] tool with `arguments` for `session` and
    /// `scope`: the arguments checked as the tool's schema says, then
    /// [`continue_result_for`](Self::continue_result_for). What [`Runtime::call`] does for
    /// that tool, without naming a connection.
    pub async fn continue_tool_for(
        &self,
        arguments: Value,
        session: &Session,
        scope: Option<&str>,
    ) -> ToolResult {
        match continue_arguments(arguments) {
            Ok(cursor) => self.continue_result_for(&cursor, session, scope).await,
            Err(e) => {
                let result = ToolResult::failure(&e);
                self.audit_tool(session, None, None, CONTINUE_TOOL_NAME, &result, None, None)
                    .await;
                result
            }
        }
    }

    /// `value` within the result budget, or its first page with a cursor to the rest
    /// (kept longer for an `approved` call).
    pub(super) async fn trimmed(
        &self,
        value: Value,
        context: &CallContext,
        approved: bool,
    ) -> ToolResult {
        // A result within the budget is sent with this text: it is serialized once, and
        // its length is the measure paginate would take.
        let text = crate::provider::tools::json_text(&value);
        if text.len() <= self.result_budget {
            return ToolResult::success_with_text(value, text);
        }
        drop(text);
        match paginate(&value, self.result_budget) {
            Paginated::Fits => ToolResult::success(value),
            // Boxed: most results fit, and the call's future stays small without this one.
            Paginated::Pages(pages) => {
                Box::pin(self.split(value, pages, context, approved)).await
            }
            Paginated::TooLarge => ToolResult::failure(&crate::codes::tool::RESULT_TOO_LARGE.error(
                format!(
                    "the result is larger than the result budget ({} bytes) and cannot be split into pages that fit; ask for less (fewer items, a smaller page)",
                    self.result_budget
                ),
            )),
        }
    }

    /// The first page of a result over the budget, with a cursor to the others.
    async fn split(
        &self,
        value: Value,
        pages: Pages,
        context: &CallContext,
        approved: bool,
    ) -> ToolResult {
        let mut pages_iter = pages.pages.into_iter();
        let Some(first) = pages_iter.next() else {
            return ToolResult::success(value);
        };
        let owner = Owner::of(context);
        let now = self.host.clock().now();
        let rest: Vec<Page> = pages_iter.collect();
        let ttl = if approved {
            self.continuations.approved_ttl
        } else {
            self.continuations.ttl
        };
        match self
            .continuations
            .keep(&self.host, owner, first.pointer, 1, &rest, (now, ttl))
            .await
        {
            Ok(continuation) => {
                let mut result = ToolResult::success(first.value);
                result
                    .content
                    .push(ToolContent::text(continuation_note(&continuation, 1)));
                result.continuation = Some(continuation);
                result
            }
            Err(e) => ToolResult::failure(&e),
        }
    }

    pub(super) async fn continue_tool(
        &self,
        arguments: Value,
        context: &CallContext,
    ) -> ToolResult {
        match continue_arguments(arguments) {
            Ok(cursor) => self.continue_result(&cursor, context).await,
            Err(e) => self.fail(context, None, CONTINUE_TOOL_NAME, &e, None).await,
        }
    }
}

/// The cursor in the arguments of [`CONTINUE_TOOL_NAME`], or why they do not match its
/// input schema.
fn continue_arguments(arguments: Value) -> Result<String, Error> {
    match serde_json::from_value::<ContinueResult>(arguments) {
        Ok(args) if !args.cursor.is_empty() => Ok(args.cursor),
        _ => Err(crate::codes::tool::INVALID_ARGUMENTS.with_issues(
            format!("the arguments of {CONTINUE_TOOL_NAME} do not match its input schema"),
            vec![crate::ValidationIssue::new(
                crate::codes::issues::schema::REQUIRED,
                "/cursor",
                "a non-empty cursor string is required, and nothing else",
            )],
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;

    fn pages(value: &Value, budget: usize) -> Pages {
        match paginate(value, budget) {
            Paginated::Pages(pages) => pages,
            other => panic!("not split: {other:?}"),
        }
    }

    #[test]
    fn small_results_are_not_split() {
        assert_eq!(
            paginate(&json!({"items": [1, 2, 3]}), 1000),
            Paginated::Fits
        );
    }

    #[test]
    fn the_largest_list_is_split_into_pages_that_fit() {
        let items: Vec<Value> = (0..100)
            .map(|i| json!({"id": i, "title": format!("issue number {i}")}))
            .collect();
        let value = json!({"next_cursor": "abc", "issues": items, "labels": ["a", "b"]});
        let budget = 600;
        let pages = pages(&value, budget);
        assert!(pages.pages.len() > 2);
        let mut seen = Vec::new();
        for Page {
            pointer,
            value: page,
        } in &pages.pages
        {
            assert_eq!(pointer, "/issues");
            assert!(json_len(page) <= budget, "{}", json_len(page));
            assert_eq!(page["next_cursor"], "abc");
            assert_eq!(page["labels"], json!(["a", "b"]));
            seen.extend(page["issues"].as_array().unwrap().iter().cloned());
        }
        assert_eq!(seen, value["issues"].as_array().unwrap().clone());
    }

    #[test]
    fn long_text_is_split_between_characters() {
        let text: String = "é\"x\n".repeat(500);
        let value = json!({"path": "README.md", "content": text});
        let pages = pages(&value, 300);
        let mut joined = String::new();
        for Page {
            pointer,
            value: page,
        } in &pages.pages
        {
            assert_eq!(pointer, "/content");
            assert!(json_len(page) <= 300, "{}", json_len(page));
            joined.push_str(page["content"].as_str().unwrap());
        }
        assert_eq!(joined, text);
    }

    /// Nothing over the budget is passed on: a document with no list or text to cut at is
    /// too large, never sent whole.
    #[test]
    fn documents_that_cannot_be_cut_are_too_large() {
        let mut map = Map::new();
        for i in 0..50 {
            map.insert(format!("field{i}"), json!(i));
        }
        assert_eq!(paginate(&Value::Object(map), 100), Paginated::TooLarge);
        // What is repeated on every page alone exceeds the budget.
        let value = json!({"k".repeat(400): 1, "items": [1, 2, 3, 4]});
        assert_eq!(paginate(&value, 300), Paginated::TooLarge);
    }

    /// A document that no cut makes fit, nested so every cut leaves a page as large as
    /// itself, is called too large after a bounded number of cuts, not searched through
    /// millions of them.
    #[test]
    fn an_uncuttable_nest_is_too_large_after_few_cuts() {
        let mut map = Map::new();
        for i in 0..4000 {
            map.insert(format!("k{i}"), json!(1));
        }
        let mut value = Value::Object(map);
        assert!(json_len(&value) > 24 * 1024);
        for _ in 0..16 {
            value = json!([value, 1]);
        }
        // Without the bound on cuts this took hours (8 places at 8 depths); with it,
        // milliseconds: the limit here only catches the search coming back.
        let started = std::time::Instant::now();
        assert_eq!(paginate(&value, 24 * 1024), Paginated::TooLarge);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{:?}",
            started.elapsed()
        );
        // A text that would need more pages than allowed is too large at once.
        let long = json!({"text": "x".repeat(MAX_PAGES * 300)});
        assert_eq!(paginate(&long, 256), Paginated::TooLarge);
    }

    /// A result is split into at most 100 pages: reading one seals again the pages after
    /// it, so the bound also bounds what reading a result costs.
    #[test]
    fn a_result_of_more_than_a_hundred_pages_is_too_large() {
        let items = |n: usize| json!({"items": vec!["x".repeat(200); n]});
        match paginate(&items(100), 256) {
            Paginated::Pages(pages) => assert_eq!(pages.pages.len(), 100),
            other => panic!("{other:?}"),
        }
        assert_eq!(paginate(&items(101), 256), Paginated::TooLarge);
    }

    /// A list of one item cannot be cut between items; the text inside the item can.
    /// And an item larger than a page gets pages of its own, cut inside it.
    #[test]
    fn an_item_larger_than_a_page_is_cut_inside() {
        let body = "x".repeat(1000);
        for value in [
            json!({"docs": [{"id": 1, "body": body}]}),
            json!({"docs": [{"id": 1, "body": body}, {"id": 2, "body": "short"}, {"id": 3, "body": body}]}),
        ] {
            let pages = pages(&value, 300);
            let mut text = String::new();
            for Page { value: page, .. } in &pages.pages {
                assert!(json_len(page) <= 300, "{}", json_len(page));
                for doc in page["docs"].as_array().unwrap() {
                    text.push_str(doc["body"].as_str().unwrap());
                }
            }
            let whole: String = value["docs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["body"].as_str().unwrap())
                .collect();
            assert_eq!(text, whole);
        }
    }

    /// Each page names the place it was cut at: the list for pages cut between its
    /// items, the text inside an item for the pages of an item too large for one page.
    #[test]
    fn each_page_names_where_it_was_cut() {
        let body = "x".repeat(1000);
        let value = json!({"docs": [{"id": 1, "body": "short"}, {"id": 2, "body": body}, {"id": 3, "body": "short"}]});
        let pages = pages(&value, 300);
        let pointers: Vec<&str> = pages.pages.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(pointers.first(), Some(&"/docs"), "{pointers:?}");
        assert_eq!(pointers.last(), Some(&"/docs"), "{pointers:?}");
        let inside: Vec<&&str> = pointers.iter().filter(|p| **p != "/docs").collect();
        assert!(!inside.is_empty(), "{pointers:?}");
        for (page, pointer) in pages.pages.iter().zip(&pointers) {
            if *pointer == "/docs" {
                continue;
            }
            // A page cut inside the large item holds that item alone, part of its text.
            assert_eq!(*pointer, "/docs/0/body", "{pointers:?}");
            let docs = page.value["docs"].as_array().unwrap();
            assert_eq!(docs.len(), 1);
            assert_eq!(docs[0]["id"], 2);
        }
    }
}
