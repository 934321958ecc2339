//! [`ToolResult`]: the outcome of a call in MCP `CallToolResult` shape, and trimming of
//! large results to a byte budget with a continuation cursor.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::ApprovalRequest;
use crate::{ConnectionId, Error, ErrorKind, TenantId, Timestamp, ValidationIssue, WorkspaceId};

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolStatus {
    /// The tool ran and succeeded.
    Completed,
    /// The call failed: bad arguments, a policy or capability refusal, a provider error.
    Failed,
    /// The policy is `ask`: nothing ran; the call waits in an approval request.
    ApprovalRequired,
}

/// One content block of a result. MCP has more kinds (images, resources); tools of this
/// SDK return text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolContent {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
}

impl ToolContent {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    fn to_mcp(&self) -> Value {
        match self {
            Self::Text { text } => json!({"type": "text", "text": text}),
        }
    }
}

/// Why a call failed, with the stable code of the error behind it. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ToolFailure {
    /// The class of failure.
    pub kind: ErrorKind,
    /// The stable code (`tool.invalid_arguments`, `tool.rate_limited`, `slack.not_in_channel`).
    pub code: String,
    /// A safe message.
    pub message: String,
    /// How long to wait before retrying, for temporary failures that say so.
    pub retry_after: Option<Duration>,
    /// Every problem with the arguments, each naming its field by JSON Pointer.
    pub issues: Vec<ValidationIssue>,
}

impl ToolFailure {
    /// The failure of `error`.
    pub fn from_error(error: &Error) -> Self {
        Self {
            kind: error.kind(),
            code: error.code().to_owned(),
            message: error.message().to_owned(),
            retry_after: error.retry_after(),
            issues: error.issues().to_vec(),
        }
    }

    /// Whether retrying later may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Unavailable | ErrorKind::RateLimited | ErrorKind::Storage
        )
    }

    fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut text = format!("Error {}: {}", self.code, self.message);
        for issue in &self.issues {
            let path = if issue.path.is_empty() {
                "/"
            } else {
                &issue.path
            };
            let _ = write!(text, "\n- {path}: {} ({})", issue.message, issue.code);
        }
        if let Some(wait) = self.retry_after {
            let _ = write!(text, "\nRetry after {} s.", wait.as_secs().max(1));
        }
        text
    }

    fn to_json(&self) -> Value {
        let mut out = json!({
            "kind": self.kind.as_str(),
            "code": self.code,
            "message": self.message,
            "retryable": self.is_temporary(),
        });
        if let Some(wait) = self.retry_after {
            out["retryAfterSeconds"] = json!(wait.as_secs_f64());
        }
        if !self.issues.is_empty() {
            out["issues"] = Value::Array(
                self.issues
                    .iter()
                    .map(|i| json!({"code": i.code, "path": i.path, "message": i.message}))
                    .collect(),
            );
        }
        out
    }
}

/// Where a trimmed result continues.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Continuation {
    /// The cursor to pass to [`Runtime::continue_result`](super::Runtime::continue_result)
    /// (or, for an agent, to the `integrations_continue_result` tool).
    pub cursor: String,
    /// The JSON Pointer of the list or text that was split.
    pub pointer: String,
    /// How many more pages there are.
    pub remaining_pages: usize,
}

/// The outcome of a call, in the shape of MCP's `CallToolResult` ([`to_mcp`](Self::to_mcp)),
/// with typed details for the host: the failure, the approval request, the continuation.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ToolResult {
    /// How the call ended.
    pub status: ToolStatus,
    /// Content blocks for the model.
    pub content: Vec<ToolContent>,
    /// The structured result (conforming to the tool's output schema), on success.
    pub structured_content: Option<Value>,
    /// Why it failed.
    pub failure: Option<ToolFailure>,
    /// The approval request the call waits in.
    pub approval: Option<ApprovalRequest>,
    /// Where a trimmed result continues.
    pub continuation: Option<Continuation>,
}

impl ToolResult {
    /// A successful result: `structured` as structured content and as JSON text.
    pub fn success(structured: Value) -> Self {
        let text = structured.to_string();
        Self {
            status: ToolStatus::Completed,
            content: vec![ToolContent::text(text)],
            structured_content: Some(structured),
            failure: None,
            approval: None,
            continuation: None,
        }
    }

    /// A failed result carrying `error`'s code, safe message and issues.
    pub fn failure(error: &Error) -> Self {
        let failure = ToolFailure::from_error(error);
        Self {
            status: ToolStatus::Failed,
            content: vec![ToolContent::text(failure.text())],
            structured_content: None,
            failure: Some(failure),
            approval: None,
            continuation: None,
        }
    }

    /// A result saying the call waits for approval in `request`.
    pub fn approval_required(request: ApprovalRequest) -> Self {
        let text = format!(
            "This call of {} needs a person's approval and has not run. Approval request {} expires at {}.",
            request.tool,
            request.id,
            request.expires_at.to_rfc3339()
        );
        Self {
            status: ToolStatus::ApprovalRequired,
            content: vec![ToolContent::text(text)],
            structured_content: None,
            failure: None,
            approval: Some(request),
            continuation: None,
        }
    }

    /// Whether it is an error result in MCP terms (`isError`): a failure, or a call that
    /// did not run because it waits for approval.
    pub fn is_error(&self) -> bool {
        self.status != ToolStatus::Completed
    }

    /// The failure's code, when it failed.
    pub fn error_code(&self) -> Option<&str> {
        self.failure.as_ref().map(|f| f.code.as_str())
    }

    /// The result as MCP `CallToolResult` JSON: `content`, `structuredContent` when there
    /// is one, `isError`, and under `_meta` the failure, approval or continuation details
    /// that are not part of the tool's output schema.
    pub fn to_mcp(&self) -> Value {
        let mut out = Map::new();
        out.insert("resultType".into(), json!("complete"));
        out.insert(
            "content".into(),
            Value::Array(self.content.iter().map(ToolContent::to_mcp).collect()),
        );
        if let Some(structured) = &self.structured_content {
            out.insert("structuredContent".into(), structured.clone());
        }
        out.insert("isError".into(), json!(self.is_error()));
        let mut meta = Map::new();
        if let Some(failure) = &self.failure {
            meta.insert("integrations/error".into(), failure.to_json());
        }
        if let Some(approval) = &self.approval {
            meta.insert(
                "integrations/approval".into(),
                json!({
                    "id": approval.id.as_str(),
                    "tool": approval.tool,
                    "expiresAt": approval.expires_at.to_rfc3339(),
                }),
            );
        }
        if let Some(continuation) = &self.continuation {
            meta.insert(
                "integrations/continuation".into(),
                json!({
                    "cursor": continuation.cursor,
                    "pointer": continuation.pointer,
                    "remainingPages": continuation.remaining_pages,
                }),
            );
        }
        if !meta.is_empty() {
            out.insert("_meta".into(), Value::Object(meta));
        }
        Value::Object(out)
    }
}

/// A result split into pages that each fit the budget.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pages {
    pub(crate) pointer: String,
    pub(crate) pages: Vec<Value>,
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

/// The JSON Pointer of the largest array or string in `value` (largest by serialized
/// size; the first in document order on ties), with that size.
fn largest_splittable(value: &Value, pointer: &mut String, best: &mut Option<(String, usize)>) {
    let len = match value {
        Value::Array(items) if !items.is_empty() => Some(json_len(value)),
        Value::String(s) if !s.is_empty() => Some(s.len() + 2),
        _ => None,
    };
    if let Some(len) = len
        && best.as_ref().is_none_or(|(_, l)| len > *l)
    {
        *best = Some((pointer.clone(), len));
    }
    let here = pointer.len();
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointer.push('/');
                pointer.push_str(&i.to_string());
                largest_splittable(item, pointer, best);
                pointer.truncate(here);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                pointer.push('/');
                pointer.push_str(&crate::escape_pointer_token(k));
                largest_splittable(v, pointer, best);
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

/// Splits `value` into pages of at most `budget` bytes of JSON each by cutting its largest
/// array (between items) or string (between characters); the rest of the document is
/// repeated on every page. `None` when it already fits, or when even the document without
/// that array or string does not fit (nothing sensible to cut).
pub(crate) fn paginate(value: &Value, budget: usize) -> Option<Pages> {
    if json_len(value) <= budget {
        return None;
    }
    let mut best = None;
    largest_splittable(value, &mut String::new(), &mut best);
    let (pointer, _) = best?;
    let target = value.pointer(&pointer)?;
    let mut envelope = value.clone();
    let slot = envelope.pointer_mut(&pointer)?;
    let pages: Vec<Value> = match target {
        Value::Array(items) => {
            *slot = Value::Array(Vec::new());
            let base = json_len(&envelope);
            if base > budget {
                return None;
            }
            let room = budget - base;
            let mut pages = Vec::new();
            let mut current: Vec<Value> = Vec::new();
            let mut used = 0;
            for item in items {
                let len = json_len(item) + usize::from(!current.is_empty());
                if !current.is_empty() && used + len > room {
                    pages.push(std::mem::take(&mut current));
                    used = 0;
                }
                used += json_len(item) + usize::from(!current.is_empty());
                current.push(item.clone());
            }
            pages.push(current);
            pages.into_iter().map(Value::Array).collect()
        }
        Value::String(text) => {
            *slot = Value::String(String::new());
            let base = json_len(&envelope);
            if base >= budget {
                return None;
            }
            let room = (budget - base).max(8);
            let mut pages = Vec::new();
            let mut current = String::new();
            let mut used = 0;
            for c in text.chars() {
                let len = escaped_len(c);
                if !current.is_empty() && used + len > room {
                    pages.push(Value::String(std::mem::take(&mut current)));
                    used = 0;
                }
                used += len;
                current.push(c);
            }
            pages.push(Value::String(current));
            pages
        }
        _ => return None,
    };
    if pages.len() < 2 {
        return None;
    }
    let pages = pages
        .into_iter()
        .map(|part| {
            let mut page = envelope.clone();
            if let Some(slot) = page.pointer_mut(&pointer) {
                *slot = part;
            }
            page
        })
        .collect();
    Some(Pages { pointer, pages })
}

/// A note for the model about a trimmed page.
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

/// Who may read a continuation: the tenant, workspace and connection of the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) tenant: TenantId,
    pub(crate) workspace: WorkspaceId,
    pub(crate) connection: ConnectionId,
}

#[derive(Debug)]
struct Pending {
    owner: Owner,
    pointer: String,
    page: usize,
    pages: Vec<Value>,
    expires_at: Timestamp,
}

/// The pages not yet read, held in memory by the runtime that produced them, each cursor
/// taken once, bounded in number and in time.
#[derive(Debug)]
pub(crate) struct Continuations {
    pending: Mutex<BTreeMap<String, Pending>>,
    ttl: Duration,
    capacity: usize,
}

/// A page read from a continuation.
pub(crate) struct NextPage {
    pub(crate) page: Value,
    pub(crate) number: usize,
    pub(crate) continuation: Option<Continuation>,
}

impl Continuations {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            pending: Mutex::new(BTreeMap::new()),
            ttl,
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Pending>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `pages` (the pages after page `page`) and returns their continuation.
    pub(crate) fn keep(
        &self,
        owner: Owner,
        pointer: String,
        page: usize,
        pages: Vec<Value>,
        now: Timestamp,
    ) -> Result<Continuation, Error> {
        let cursor = super::approval::random_token()?;
        let remaining_pages = pages.len();
        let mut pending = self.lock();
        pending.retain(|_, p| p.expires_at > now);
        while pending.len() >= self.capacity {
            let oldest = pending
                .iter()
                .min_by_key(|(_, p)| p.expires_at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    pending.remove(&k);
                }
                None => break,
            }
        }
        pending.insert(
            cursor.clone(),
            Pending {
                owner,
                pointer: pointer.clone(),
                page,
                pages,
                expires_at: now.saturating_add(self.ttl),
            },
        );
        Ok(Continuation {
            cursor,
            pointer,
            remaining_pages,
        })
    }

    /// Takes the next page of `cursor`, for `owner`.
    pub(crate) fn next(
        &self,
        cursor: &str,
        owner: &Owner,
        now: Timestamp,
    ) -> Result<NextPage, Error> {
        let unknown = || {
            Error::not_found(
                "tool.continuation_not_found",
                "no continuation with this cursor exists here: it was read already, expired, or belongs to another session",
            )
        };
        let mut pending = self.lock();
        let Some(entry) = pending.remove(cursor) else {
            return Err(unknown());
        };
        if entry.expires_at <= now {
            return Err(unknown());
        }
        if &entry.owner != owner {
            // Put it back: the rightful owner may still read it.
            pending.insert(cursor.to_owned(), entry);
            return Err(unknown());
        }
        drop(pending);
        let mut pages = entry.pages.into_iter();
        let page = pages.next().ok_or_else(unknown)?;
        let rest: Vec<Value> = pages.collect();
        let number = entry.page + 1;
        let continuation = if rest.is_empty() {
            None
        } else {
            Some(self.keep(entry.owner, entry.pointer, number, rest, now)?)
        };
        Ok(NextPage {
            page,
            number,
            continuation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_have_the_mcp_shape() {
        let ok = ToolResult::success(json!({"temperature": 22.5}));
        let mcp = ok.to_mcp();
        assert_eq!(mcp["resultType"], "complete");
        assert_eq!(mcp["content"][0]["type"], "text");
        assert_eq!(mcp["content"][0]["text"], r#"{"temperature":22.5}"#);
        assert_eq!(mcp["structuredContent"]["temperature"], 22.5);
        assert_eq!(mcp["isError"], false);
        assert!(mcp.get("_meta").is_none());

        let err = Error::invalid_input(
            "tool.invalid_arguments",
            "the arguments do not match the tool's input schema",
            vec![ValidationIssue::new(
                "schema.required",
                "/title",
                "this field is required",
            )],
        );
        let failed = ToolResult::failure(&err);
        let mcp = failed.to_mcp();
        assert_eq!(mcp["isError"], true);
        assert!(mcp.get("structuredContent").is_none());
        let text = mcp["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("tool.invalid_arguments"), "{text}");
        assert!(text.contains("/title: this field is required"), "{text}");
        assert_eq!(
            mcp["_meta"]["integrations/error"]["issues"][0]["path"],
            "/title"
        );
        assert_eq!(mcp["_meta"]["integrations/error"]["retryable"], false);
    }

    #[test]
    fn small_results_are_not_split() {
        assert!(paginate(&json!({"items": [1, 2, 3]}), 1000).is_none());
    }

    #[test]
    fn the_largest_list_is_split_into_pages_that_fit() {
        let items: Vec<Value> = (0..100)
            .map(|i| json!({"id": i, "title": format!("issue number {i}")}))
            .collect();
        let value = json!({"next_cursor": "abc", "issues": items, "labels": ["a", "b"]});
        let budget = 600;
        let pages = paginate(&value, budget).unwrap();
        assert_eq!(pages.pointer, "/issues");
        assert!(pages.pages.len() > 2);
        let mut seen = Vec::new();
        for page in &pages.pages {
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
        let pages = paginate(&value, 300).unwrap();
        assert_eq!(pages.pointer, "/content");
        let mut joined = String::new();
        for page in &pages.pages {
            assert!(json_len(page) <= 300, "{}", json_len(page));
            joined.push_str(page["content"].as_str().unwrap());
        }
        assert_eq!(joined, text);
    }

    #[test]
    fn documents_that_cannot_be_cut_are_left_alone() {
        let mut map = Map::new();
        for i in 0..50 {
            map.insert(format!("field{i}"), json!(i));
        }
        assert!(paginate(&Value::Object(map), 100).is_none());
    }

    #[test]
    fn continuations_are_taken_once_by_their_owner() {
        let owner = Owner {
            tenant: TenantId::new("t").unwrap(),
            workspace: WorkspaceId::new("w").unwrap(),
            connection: ConnectionId::new("c").unwrap(),
        };
        let now = Timestamp::from_unix_seconds(0);
        let store = Continuations::new(Duration::from_secs(60), 4);
        let c = store
            .keep(owner.clone(), "/x".into(), 1, vec![json!(2), json!(3)], now)
            .unwrap();
        assert_eq!(c.remaining_pages, 2);
        let stranger = Owner {
            tenant: TenantId::new("other").unwrap(),
            ..owner.clone()
        };
        assert_eq!(
            store.next(&c.cursor, &stranger, now).err().unwrap().code(),
            "tool.continuation_not_found"
        );
        let second = store.next(&c.cursor, &owner, now).unwrap();
        assert_eq!((second.page.clone(), second.number), (json!(2), 2));
        assert!(store.next(&c.cursor, &owner, now).is_err());
        let next = second.continuation.unwrap();
        let later = Timestamp::from_unix_seconds(61);
        assert!(store.next(&next.cursor, &owner, later).is_err());
    }

    #[test]
    fn continuations_are_bounded() {
        let owner = Owner {
            tenant: TenantId::new("t").unwrap(),
            workspace: WorkspaceId::new("w").unwrap(),
            connection: ConnectionId::new("c").unwrap(),
        };
        let store = Continuations::new(Duration::from_secs(60), 2);
        let cursors: Vec<String> = (0..3)
            .map(|i| {
                store
                    .keep(
                        owner.clone(),
                        String::new(),
                        1,
                        vec![json!(i)],
                        Timestamp::from_unix_seconds(i),
                    )
                    .unwrap()
                    .cursor
            })
            .collect();
        let now = Timestamp::from_unix_seconds(3);
        assert!(store.next(&cursors[0], &owner, now).is_err());
        assert!(store.next(&cursors[1], &owner, now).is_ok());
        assert!(store.next(&cursors[2], &owner, now).is_ok());
    }
}
