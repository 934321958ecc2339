//! [`Approvals`]: the host's side of `ask`. A person approves or denies a pending call
//! here; the approved call runs once, and the client's retry receives its result.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use integrations_core::tools::{ApprovalId, ApprovalRequest, Runtime, ToolResult};
use integrations_core::{Error, TenantId, Timestamp, UserId};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::McpSession;

/// How long a settled result waits for the client's retry.
const SETTLED_TTL: Duration = Duration::from_secs(60 * 60);

/// A call waiting for a person, as an approval page shows it. Holds nothing secret: the
/// arguments are what the agent sent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PendingApproval {
    /// The approval request (tool, arguments, who called, when it expires).
    pub request: ApprovalRequest,
}

/// The digest of a call: who made it, which tool, which arguments (canonical JSON).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CallKey([u8; 32]);

impl CallKey {
    pub(crate) fn new(session: &McpSession, tool: &str, arguments: &Value) -> Self {
        let s = &session.session;
        let identity = json!([
            s.tenant.as_str(),
            s.workspace.as_str(),
            s.user.as_ref().map(UserId::as_str),
            s.project.as_ref().map(integrations_core::ProjectId::as_str),
            s.issue,
            session
                .publications
                .iter()
                .map(|(c, p)| [c.as_str(), p.as_str()])
                .collect::<Vec<_>>(),
            tool,
            canonical(arguments),
        ]);
        Self(Sha256::digest(identity.to_string().as_bytes()).into())
    }
}

/// `value` with every object's keys in byte order, whatever map `serde_json` was built with.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), canonical(&map[key]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

enum State {
    Pending,
    Settled(Box<ToolResult>, Instant),
    Denied(Instant),
}

struct Entry {
    request: ApprovalRequest,
    state: State,
}

#[derive(Default)]
struct Desk {
    by_call: HashMap<CallKey, ApprovalId>,
    entries: HashMap<ApprovalId, Entry>,
}

impl Desk {
    fn prune(&mut self, now: Timestamp, instant: Instant) {
        self.entries.retain(|_, entry| match &entry.state {
            State::Pending => !entry.request.is_expired(now),
            State::Settled(_, at) | State::Denied(at) => instant.duration_since(*at) < SETTLED_TTL,
        });
        let entries = &self.entries;
        self.by_call.retain(|_, id| entries.contains_key(id));
    }
}

/// What the desk knows about a call the client makes (again).
pub(crate) enum Lookup {
    /// No approval is in progress for it: ask the runtime.
    Fresh,
    /// Still waiting for a person.
    Pending(ApprovalRequest),
    /// A person approved it and it ran: its result (handed over once).
    Settled(Box<ToolResult>),
    /// A person denied it.
    Denied(ApprovalRequest),
}

/// The approvals of `ask` calls made through MCP, settled by a person in the host.
///
/// A host's approval page lists [`pending`](Self::pending) requests and calls
/// [`approve`](Self::approve) or [`deny`](Self::deny) for the person who decided. The
/// approved call runs then, exactly once (the runtime takes the request out of its store
/// once, so replayed or concurrent approvals never run it again), and the MCP client's
/// retry of the same call (same session, tool and arguments) receives the result once.
/// Cheap to clone.
#[derive(Clone)]
pub struct Approvals {
    runtime: Arc<Runtime>,
    desk: Arc<Mutex<Desk>>,
}

impl fmt::Debug for Approvals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Approvals").finish_non_exhaustive()
    }
}

impl Approvals {
    pub(crate) fn new(runtime: Arc<Runtime>) -> Self {
        Self {
            runtime,
            desk: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Desk> {
        self.desk.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The host's clock: approval expiry is judged by it.
    fn now(&self) -> Timestamp {
        self.runtime.host().clock().now()
    }

    /// The requests of `tenant` waiting for a person, oldest first.
    pub fn pending(&self, tenant: &TenantId) -> Vec<PendingApproval> {
        let now = self.now();
        let mut desk = self.lock();
        desk.prune(now, Instant::now());
        let mut out: Vec<PendingApproval> = desk
            .entries
            .values()
            .filter(|e| matches!(e.state, State::Pending) && &e.request.tenant == tenant)
            .map(|e| PendingApproval {
                request: e.request.clone(),
            })
            .collect();
        out.sort_by_key(|p| p.request.requested_at);
        out
    }

    /// One pending request of `tenant`.
    pub fn get(&self, tenant: &TenantId, id: &ApprovalId) -> Option<PendingApproval> {
        let desk = self.lock();
        desk.entries
            .get(id)
            .filter(|e| matches!(e.state, State::Pending) && &e.request.tenant == tenant)
            .map(|e| PendingApproval {
                request: e.request.clone(),
            })
    }

    /// `approver` approves the request `id` of `tenant`: the call runs now, once, and its
    /// result is returned (and kept for the MCP client's retry). Of any number of
    /// approvals of one request, only the first runs it; the others get
    /// `tool.approval_not_found`.
    pub async fn approve(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        approver: &UserId,
    ) -> ToolResult {
        let result = self.runtime.approve(tenant, id, approver).await;
        let mut desk = self.lock();
        if let Some(entry) = desk.entries.get_mut(id)
            && &entry.request.tenant == tenant
            && matches!(entry.state, State::Pending)
            && result.error_code() != Some("tool.approval_not_found")
        {
            entry.state = State::Settled(Box::new(result.clone()), Instant::now());
        }
        result
    }

    /// `approver` denies the request `id` of `tenant`: it never runs, and the client's
    /// retry is told so.
    ///
    /// # Errors
    ///
    /// `tool.approval_not_found` when no such request is pending; storage errors.
    pub async fn deny(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        approver: &UserId,
    ) -> Result<(), Error> {
        self.runtime.deny(tenant, id, approver).await?;
        let mut desk = self.lock();
        if let Some(entry) = desk.entries.get_mut(id)
            && &entry.request.tenant == tenant
            && matches!(entry.state, State::Pending)
        {
            entry.state = State::Denied(Instant::now());
        }
        Ok(())
    }

    /// What is known about the call `key`; a settled result or a denial is handed over
    /// once and forgotten.
    pub(crate) fn lookup(&self, key: CallKey) -> Lookup {
        let now = self.now();
        let mut desk = self.lock();
        desk.prune(now, Instant::now());
        let Some(id) = desk.by_call.get(&key).cloned() else {
            return Lookup::Fresh;
        };
        let Some(entry) = desk.entries.get(&id) else {
            desk.by_call.remove(&key);
            return Lookup::Fresh;
        };
        if matches!(entry.state, State::Pending) {
            return Lookup::Pending(entry.request.clone());
        }
        desk.by_call.remove(&key);
        let Some(entry) = desk.entries.remove(&id) else {
            return Lookup::Fresh;
        };
        match entry.state {
            State::Settled(result, _) => Lookup::Settled(result),
            State::Denied(_) => Lookup::Denied(entry.request),
            State::Pending => Lookup::Pending(entry.request),
        }
    }

    /// Remembers that the call `key` waits in `request`.
    pub(crate) fn register(&self, key: CallKey, request: ApprovalRequest) {
        let mut desk = self.lock();
        desk.by_call.insert(key, request.id.clone());
        desk.entries.insert(
            request.id.clone(),
            Entry {
                request,
                state: State::Pending,
            },
        );
    }
}

/// The failure a client's retry gets when a person denied the call.
pub(crate) fn denied(request: &ApprovalRequest) -> ToolResult {
    ToolResult::failure(&crate::codes::mcp::APPROVAL_DENIED.error(format!(
        "a person denied this call of {} (approval request {}); it did not run",
        request.tool, request.id
    )))
}
