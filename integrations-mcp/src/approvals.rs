//! [`Approvals`]: the host's side of `ask`. A person approves or denies a pending call
//! here; the approved call runs once, and the client's retry receives its result.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use integrations_core::tools::{ApprovalId, ApprovalRequest, Runtime, ToolResult};
use integrations_core::{Error, TenantId, Timestamp, UserId};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::McpSession;
use crate::session::Principal;

/// How long a settled result waits for the client's retry.
const SETTLED_TTL: Duration = Duration::from_secs(60 * 60);

/// The most approval requests one principal (tenant, workspace, user) may have waiting
/// for a person here, counting the calls asking for one right now. Each stays up to the
/// request's lifetime (a day by default), so without a cap one client making distinct
/// `ask` calls would grow the desk (and every lookup's prune) without bound. Past it, an
/// `ask` call is refused with `mcp.too_many_approvals` before the runtime stores a
/// request. Requests a person approved or denied do not count: a person made those.
pub(crate) const MAX_PENDING_PER_PRINCIPAL: usize = 256;

/// A call waiting for a person, as an approval page shows it. Holds nothing secret: the
/// arguments are what the agent sent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PendingApproval {
    /// The approval request (tool, arguments, who called, when it expires).
    pub request: ApprovalRequest,
}

/// The refusal of an approval or denial of a request this service did not ask for.
fn not_asked_here() -> Error {
    integrations_core::codes::tool::APPROVAL_NOT_FOUND.error(
        "no request with this id is waiting in this MCP service; settle it through the service (the process) whose client asked",
    )
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
    /// A person approved it and the runtime runs it now. Never pruned: the request's
    /// expiry may pass during a long run, and forgetting the call then would drop its
    /// result and let the client's retry ask (and maybe run) it again. The run always
    /// ends in `Settled`, or back in `Pending` when the request was not taken.
    Running,
    Settled(Box<ToolResult>, Instant),
    Denied(Instant),
}

struct Entry {
    request: ApprovalRequest,
    state: State,
}

/// A call being asked about right now.
struct Asking {
    /// Whose share of [`MAX_PENDING_PER_PRINCIPAL`] the call holds until it registers
    /// its request or gives up.
    principal: Principal,
    /// Changes (closes) when the [`Reservation`] ends.
    done: watch::Receiver<()>,
}

#[derive(Default)]
struct Desk {
    by_call: HashMap<CallKey, ApprovalId>,
    entries: HashMap<ApprovalId, Entry>,
    /// Calls being asked about right now: the first caller holds the [`Reservation`];
    /// an identical call waits on the receiver until it is registered or released.
    asking: HashMap<CallKey, Asking>,
}

impl Desk {
    /// How many requests `principal` has waiting for a person, and calls asking for one.
    /// A scan, as `prune` is: the desk holds at most the cap per principal.
    fn held(&self, principal: &Principal) -> usize {
        let pending = self
            .entries
            .values()
            .filter(|e| {
                matches!(e.state, State::Pending) && principal.is_of(&e.request.context.session)
            })
            .count();
        let asking = self
            .asking
            .values()
            .filter(|a| &a.principal == principal)
            .count();
        pending + asking
    }

    fn prune(&mut self, now: Timestamp, instant: Instant) {
        self.entries.retain(|_, entry| match &entry.state {
            State::Pending => !entry.request.is_expired(now),
            State::Running => true,
            State::Settled(_, at) | State::Denied(at) => instant.duration_since(*at) < SETTLED_TTL,
        });
        let entries = &self.entries;
        self.by_call.retain(|_, id| entries.contains_key(id));
    }

    /// Remembers that the call `key` waits in `request`.
    fn insert(&mut self, key: CallKey, request: ApprovalRequest) {
        self.by_call.insert(key, request.id.clone());
        self.entries.insert(
            request.id.clone(),
            Entry {
                request,
                state: State::Pending,
            },
        );
    }

    /// What is known about the call `key`; a settled result or a denial is handed over
    /// once and forgotten.
    fn known(&mut self, key: CallKey) -> Option<Known> {
        let id = self.by_call.get(&key).cloned()?;
        let Some(entry) = self.entries.get(&id) else {
            self.by_call.remove(&key);
            return None;
        };
        match entry.state {
            State::Pending => return Some(Known::Pending(entry.request.clone())),
            State::Running => return Some(Known::Running(entry.request.clone())),
            State::Settled(..) | State::Denied(_) => {}
        }
        self.by_call.remove(&key);
        let entry = self.entries.remove(&id)?;
        Some(match entry.state {
            State::Settled(result, _) => Known::Settled(result, entry.request),
            State::Denied(_) => Known::Denied(entry.request),
            State::Pending => Known::Pending(entry.request),
            State::Running => Known::Running(entry.request),
        })
    }
}

/// What the desk knows of a call it has an approval request for.
pub(crate) enum Known {
    /// Still waiting for a person.
    Pending(ApprovalRequest),
    /// A person approved it and it is running now; its result comes next.
    Running(ApprovalRequest),
    /// A person approved it and it ran: its result (handed over once), and the request.
    Settled(Box<ToolResult>, ApprovalRequest),
    /// A person denied it.
    Denied(ApprovalRequest),
}

/// What [`Approvals::find`] knows about a call, reserving nothing.
pub(crate) enum Found {
    /// No approval request is known for it, and no identical call is asking for one.
    Nothing,
    /// An identical call is asking the runtime right now: wait, then look again.
    InFlight(InFlight),
    /// An approval request answers it.
    Known(Box<Known>),
}

/// What the desk knows about a call the client makes (again).
pub(crate) enum Lookup {
    /// No approval is in progress for it: ask the runtime, then
    /// [`register`](Reservation::register) the request it stored. Identical calls wait
    /// meanwhile; dropping the reservation lets them go on.
    Fresh(Reservation),
    /// An identical call is asking the runtime right now: wait for it
    /// ([`InFlight::wait`]), then look again.
    InFlight(InFlight),
    /// An approval request answers it.
    Known(Box<Known>),
    /// Nothing is known of it, and its principal has [`MAX_PENDING_PER_PRINCIPAL`]
    /// requests pending or being asked for: refuse it ([`Approvals::too_many`]) without
    /// asking the runtime.
    Full,
}

/// The approvals of `ask` calls made through MCP, settled by a person in the host.
///
/// A host's approval page lists [`pending`](Self::pending) requests and calls
/// [`approve`](Self::approve) or [`deny`](Self::deny) for the person who decided. The
/// approved call runs then, exactly once (the runtime takes the request out of its store
/// once, so replayed or concurrent approvals never run it again), and the MCP client's
/// retry of the same call (same session, tool and arguments) receives the result once.
/// Cheap to clone.
///
/// Which call a request answers, and a settled result waiting for the retry, are kept
/// here, in the process, not in the store: [`pending`](Self::pending) lists the requests
/// this service asked for, and an approval given through another process's `Approvals`
/// runs the call (the store hands the request out once) without this one learning of it.
/// Serve a principal's MCP requests and its approval page from one process: the
/// `Approvals` of another refuses to settle the request.
#[derive(Clone)]
pub struct Approvals {
    runtime: Arc<Runtime>,
    desk: Arc<Mutex<Desk>>,
    /// [`MAX_PENDING_PER_PRINCIPAL`], smaller in unit tests.
    cap: usize,
}

impl fmt::Debug for Approvals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Approvals").finish_non_exhaustive()
    }
}

impl Approvals {
    pub(crate) fn new(runtime: Arc<Runtime>) -> Self {
        Self::with_cap(runtime, MAX_PENDING_PER_PRINCIPAL)
    }

    fn with_cap(runtime: Arc<Runtime>, cap: usize) -> Self {
        Self {
            runtime,
            desk: Arc::default(),
            cap: cap.max(1),
        }
    }

    /// The refusal of a call whose principal has as many requests waiting as allowed.
    pub(crate) fn too_many(&self) -> Error {
        crate::codes::mcp::TOO_MANY_APPROVALS.error(format!(
            "this principal already has {} approval requests waiting for a person; this call was not asked about and did not run: have pending ones approved or denied (or let them expire), then call again",
            self.cap
        ))
    }

    fn lock(&self) -> MutexGuard<'_, Desk> {
        lock(&self.desk)
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
    ///
    /// Only a request this service asked for is approved. Any other id (asked through
    /// another process's service, or before this one started) gets
    /// `tool.approval_not_found` and stays pending in the store: run here, its result
    /// would reach no client, and the client, asking again where it asked first, could
    /// have the call approved and run a second time.
    ///
    /// When the request could not be taken out of the store (a storage error), nothing
    /// ran: the error is returned and the request stays pending, to be approved again.
    /// The call runs in its own task, so its result is kept for the client's retry even
    /// when this future is dropped before it ends.
    pub async fn approve(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        approver: &UserId,
    ) -> ToolResult {
        {
            let mut desk = self.lock();
            let Some(entry) = desk
                .entries
                .get_mut(id)
                .filter(|entry| &entry.request.tenant == tenant)
            else {
                return ToolResult::failure(&not_asked_here());
            };
            // Only the approval that finds it pending runs it; the store would refuse
            // the others anyway, and one of them failing must not put back to
            // `Pending` a call another one is running.
            if !matches!(entry.state, State::Pending) {
                return ToolResult::failure(
                    &integrations_core::codes::tool::APPROVAL_NOT_FOUND
                        .error("this request was approved or denied already; it is not pending"),
                );
            }
            entry.state = State::Running;
        }
        let mut run = Run {
            desk: Arc::clone(&self.desk),
            id: id.clone(),
            armed: true,
        };
        let runtime = Arc::clone(&self.runtime);
        let (tenant, id, approver) = (tenant.clone(), id.clone(), approver.clone());
        let task = tokio::spawn(async move {
            let outcome = runtime.try_approve(&tenant, &id, &approver).await;
            run.end(outcome.as_ref().ok());
            outcome.unwrap_or_else(|e| ToolResult::failure(&e))
        });
        task.await
            .unwrap_or_else(|_| ToolResult::failure(&stopped()))
    }

    /// `approver` denies the request `id` of `tenant`: it never runs, and the client's
    /// retry is told so. As with [`approve`](Self::approve), only a request this service
    /// asked for.
    ///
    /// # Errors
    ///
    /// `tool.approval_not_found` when no such request is pending here; storage errors.
    pub async fn deny(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        approver: &UserId,
    ) -> Result<(), Error> {
        if !self.asked_here(tenant, id) {
            return Err(not_asked_here());
        }
        self.runtime.deny(tenant, id, approver).await?;
        let mut desk = self.lock();
        // The denial took the request out of the store, so an approval that began
        // meanwhile (`Running`) took nothing and will not settle it: it is denied.
        if let Some(entry) = desk.entries.get_mut(id)
            && &entry.request.tenant == tenant
            && matches!(entry.state, State::Pending | State::Running)
        {
            entry.state = State::Denied(Instant::now());
        }
        Ok(())
    }

    /// Whether this service asked for the request `id` of `tenant` (in any state).
    fn asked_here(&self, tenant: &TenantId, id: &ApprovalId) -> bool {
        self.lock()
            .entries
            .get(id)
            .is_some_and(|entry| &entry.request.tenant == tenant)
    }

    /// What is known about the call `key` of `principal`; a settled result or a denial
    /// is handed over once and forgotten. Of identical calls looked up at once, one gets
    /// [`Lookup::Fresh`] and the others [`Lookup::InFlight`] until it is done; a new call
    /// past the principal's cap gets [`Lookup::Full`].
    pub(crate) fn lookup(&self, key: CallKey, principal: &Principal) -> Lookup {
        let now = self.now();
        let mut desk = self.lock();
        desk.prune(now, Instant::now());
        match desk.known(key) {
            Some(known) => Lookup::Known(Box::new(known)),
            None => self.reserve(&mut desk, key, principal),
        }
    }

    /// As [`lookup`](Self::lookup), without reserving the call when nothing is known of
    /// it: for a call that asks no one unless the runtime says so.
    pub(crate) fn find(&self, key: CallKey) -> Found {
        let now = self.now();
        let mut desk = self.lock();
        desk.prune(now, Instant::now());
        if let Some(known) = desk.known(key) {
            return Found::Known(Box::new(known));
        }
        match desk.asking.get(&key) {
            Some(asking) => Found::InFlight(InFlight(asking.done.clone())),
            None => Found::Nothing,
        }
    }

    /// Remembers that the call `key`, made without a [`Reservation`], waits in `request`
    /// (the runtime asked for an approval the manifest did not announce).
    ///
    /// # Errors
    ///
    /// `mcp.too_many_approvals` when the caller has as many requests waiting as allowed.
    /// The runtime has stored the request already, so it is taken out of the store
    /// again: kept there, it would be pending with no call here to answer.
    pub(crate) async fn register(
        &self,
        key: CallKey,
        request: ApprovalRequest,
    ) -> Result<(), Error> {
        {
            let mut desk = self.lock();
            let principal = Principal::of(&request.context.session);
            if desk.held(&principal) < self.cap {
                desk.insert(key, request);
                return Ok(());
            }
        }
        if let Err(e) = self
            .runtime
            .host()
            .approvals()
            .take_approval(&request.tenant, &request.id, self.now())
            .await
        {
            // Nothing here can approve it (this desk never learned of it), so at worst
            // it waits in the store until it expires.
            tracing::warn!(
                code = e.code(),
                approval = request.id.as_str(),
                "a refused approval request could not be taken out of the store"
            );
        }
        Err(self.too_many())
    }

    /// Reserves `key` for the caller, unless an identical call holds it or `principal`
    /// has its cap of requests pending or being asked for.
    fn reserve(&self, desk: &mut Desk, key: CallKey, principal: &Principal) -> Lookup {
        if let Some(asking) = desk.asking.get(&key) {
            return Lookup::InFlight(InFlight(asking.done.clone()));
        }
        // Counted before the runtime is asked, so a refused call stores nothing.
        if desk.held(principal) >= self.cap {
            return Lookup::Full;
        }
        let (done, asking) = watch::channel(());
        desk.asking.insert(
            key,
            Asking {
                principal: principal.clone(),
                done: asking.clone(),
            },
        );
        Lookup::Fresh(Reservation {
            desk: Arc::clone(&self.desk),
            key,
            asking,
            _done: done,
        })
    }
}

/// The right to ask the runtime about a call, held by the first of identical calls.
/// Dropping it (the call failed, or its future was dropped) lets the others go on.
pub(crate) struct Reservation {
    desk: Arc<Mutex<Desk>>,
    key: CallKey,
    /// The receiver the desk holds for this reservation, to tell it from a later one.
    asking: watch::Receiver<()>,
    /// Dropped with the reservation, which wakes the waiting calls.
    _done: watch::Sender<()>,
}

impl Reservation {
    /// Remembers that the call waits in `request`; the waiting calls find it there.
    pub(crate) fn register(self, request: ApprovalRequest) {
        lock(&self.desk).insert(self.key, request);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut desk = lock(&self.desk);
        if desk
            .asking
            .get(&self.key)
            .is_some_and(|asking| asking.done.same_channel(&self.asking))
        {
            desk.asking.remove(&self.key);
        }
    }
}

/// An identical call asking the runtime right now.
pub(crate) struct InFlight(watch::Receiver<()>);

impl InFlight {
    /// Waits until that call registered its request or gave up.
    pub(crate) async fn wait(mut self) {
        // Nothing is ever sent: the sender is dropped when the reservation ends.
        while self.0.changed().await.is_ok() {}
    }
}

fn lock(desk: &Mutex<Desk>) -> MutexGuard<'_, Desk> {
    desk.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The failure of an approved call whose run stopped before it ended (its task panicked,
/// or was cancelled as the process shut down): whether it reached the provider is not
/// known.
fn stopped() -> Error {
    integrations_core::codes::tool::PANICKED
        .error("the approved call stopped unexpectedly; it may or may not have run")
}

/// The run of an approved call: records how it ended on the desk, and when it never
/// ends (its task panicked or was cancelled), records that instead, so the entry never
/// stays `Running`.
struct Run {
    desk: Arc<Mutex<Desk>>,
    id: ApprovalId,
    armed: bool,
}

impl Run {
    /// The call ran (`Some`, its result: kept for the retry), or its request was not
    /// taken out of the store (`None`: nothing ran, it is pending again).
    fn end(&mut self, result: Option<&ToolResult>) {
        self.armed = false;
        let state = match result {
            Some(result) => State::Settled(Box::new(result.clone()), Instant::now()),
            None => State::Pending,
        };
        self.set(state);
    }

    fn set(&self, state: State) {
        let mut desk = lock(&self.desk);
        // A denial that took the request meanwhile has settled it already.
        if let Some(entry) = desk.entries.get_mut(&self.id)
            && matches!(entry.state, State::Running)
        {
            entry.state = state;
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.armed {
            let failure = ToolResult::failure(&stopped());
            self.set(State::Settled(Box::new(failure), Instant::now()));
        }
    }
}

/// The failure a client's retry gets when a person denied the call.
pub(crate) fn denied(request: &ApprovalRequest) -> ToolResult {
    ToolResult::failure(&crate::codes::mcp::APPROVAL_DENIED.error(format!(
        "a person denied this call of {} (approval request {}); it did not run",
        request.tool, request.id
    )))
}

#[cfg(test)]
mod tests {
    use integrations_core::auth::TokenManager;
    use integrations_core::tools::{CallContext, Session};
    use integrations_core::{ConnectionId, Registry, WorkspaceId};
    use integrations_testkit::TestHost;

    use super::*;

    fn session() -> Session {
        Session::new(TenantId::new("t").unwrap(), WorkspaceId::new("w").unwrap())
    }

    fn approvals() -> Approvals {
        let host = TestHost::new().host().clone();
        let registry = Arc::new(Registry::new());
        let tokens = Arc::new(TokenManager::new(Arc::clone(&registry), host.clone()));
        Approvals::new(Arc::new(Runtime::new(registry, host, tokens)))
    }

    fn key() -> CallKey {
        CallKey::new(
            &McpSession::new(session()),
            "slack_send_message",
            &json!({"text": "hi"}),
        )
    }

    fn principal() -> Principal {
        Principal::of(&session())
    }

    /// The call of `text` by `session`, and its request.
    fn asked(approvals: &Approvals, session: &Session, text: &str) -> (CallKey, ApprovalRequest) {
        let arguments = json!({ "text": text });
        let key = CallKey::new(
            &McpSession::new(session.clone()),
            "slack_send_message",
            &arguments,
        );
        let request = ApprovalRequest::new(
            ApprovalId::new(format!("a-{text}")).unwrap(),
            "slack_send_message",
            "slack::slack-default".parse().unwrap(),
            arguments,
            CallContext::new(session.clone(), ConnectionId::new("slack").unwrap()),
            approvals.now(),
            Duration::from_secs(3600),
        );
        (key, request)
    }

    fn request(approvals: &Approvals, id: &str) -> ApprovalRequest {
        ApprovalRequest::new(
            ApprovalId::new(id).unwrap(),
            "slack_send_message",
            "slack::slack-default".parse().unwrap(),
            json!({"text": "hi"}),
            CallContext::new(session(), ConnectionId::new("slack").unwrap()),
            approvals.now(),
            Duration::from_secs(3600),
        )
    }

    #[tokio::test]
    async fn an_identical_call_waits_for_the_first_and_gets_its_request() {
        let approvals = approvals();
        let Lookup::Fresh(reservation) = approvals.lookup(key(), &principal()) else {
            panic!("the first call asks")
        };
        let Lookup::InFlight(asking) = approvals.lookup(key(), &principal()) else {
            panic!("the identical call waits")
        };
        let waiting = tokio::spawn(asking.wait());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        reservation.register(request(&approvals, "a1"));
        waiting.await.unwrap();
        let Lookup::Known(known) = approvals.lookup(key(), &principal()) else {
            panic!("the identical call finds the first one's request")
        };
        let Known::Pending(pending) = *known else {
            panic!("the identical call finds the first one's request")
        };
        assert_eq!(pending.id.as_str(), "a1");
        assert_eq!(approvals.pending(&pending.tenant).len(), 1);
    }

    #[tokio::test]
    async fn past_its_cap_a_principal_is_refused_before_asking_and_another_is_not() {
        let approvals = Approvals::with_cap(approvals().runtime, 2);
        let alice = session().with_user(UserId::new("alice").unwrap());
        let bob = session().with_user(UserId::new("bob").unwrap());
        let (first, request) = asked(&approvals, &alice, "one");
        let Lookup::Fresh(reservation) = approvals.lookup(first, &Principal::of(&alice)) else {
            panic!("the first call asks")
        };
        reservation.register(request);
        // A call being asked about holds its place too, or concurrent calls would all
        // pass the count before any registers.
        let (second, _) = asked(&approvals, &alice, "two");
        let Lookup::Fresh(_asking) = approvals.lookup(second, &Principal::of(&alice)) else {
            panic!("the second call asks")
        };
        let (third, _) = asked(&approvals, &alice, "three");
        assert!(matches!(
            approvals.lookup(third, &Principal::of(&alice)),
            Lookup::Full
        ));
        // In another project Alice is still Alice.
        let mut elsewhere = alice.clone();
        elsewhere.project = Some(integrations_core::ProjectId::new("p").unwrap());
        let (fourth, _) = asked(&approvals, &elsewhere, "four");
        assert!(matches!(
            approvals.lookup(fourth, &Principal::of(&elsewhere)),
            Lookup::Full
        ));
        // Her pending call is still answered by its request; Bob asks as usual.
        assert!(matches!(
            approvals.lookup(first, &Principal::of(&alice)),
            Lookup::Known(_)
        ));
        let (bobs, _) = asked(&approvals, &bob, "bob");
        assert!(matches!(
            approvals.lookup(bobs, &Principal::of(&bob)),
            Lookup::Fresh(_)
        ));
    }

    #[tokio::test]
    async fn a_call_that_gives_up_lets_the_identical_one_ask() {
        let approvals = approvals();
        let Lookup::Fresh(reservation) = approvals.lookup(key(), &principal()) else {
            panic!("the first call asks")
        };
        let Lookup::InFlight(asking) = approvals.lookup(key(), &principal()) else {
            panic!("the identical call waits")
        };
        drop(reservation);
        asking.wait().await;
        assert!(matches!(
            approvals.lookup(key(), &principal()),
            Lookup::Fresh(_)
        ));
    }
}
