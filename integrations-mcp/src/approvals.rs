//! [`Approvals`]: the host's side of `ask`. A person approves or denies a pending call
//! here; the approved call runs once, and the client's retry receives its result.
//!
//! What each call waits for lives in the host's approval store
//! ([`ApprovalCall`] records, found by the call's key), so any process of the host
//! answers the client's retry and settles the request; only identical calls asking at
//! the same moment wait for each other in the process.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use integrations_core::host::ApprovalStore;
use integrations_core::sealing::approval_result_aad;
use integrations_core::tools::{
    ApprovalCall, ApprovalId, ApprovalRequest, ApprovalStage, Runtime, ToolResult,
};
use integrations_core::{Error, TenantId, Timestamp, UserId};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::McpSession;
use crate::session::Principal;

/// How long a settled result or a denial waits for the client's retry. The runtime keeps
/// the pages of an approved call's trimmed result longer by default
/// ([`DEFAULT_APPROVED_PAGES_TTL`](integrations_core::tools::DEFAULT_APPROVED_PAGES_TTL)),
/// from before the result is settled: a host that shortens those
/// (`Runtime::with_approved_pages_ttl`) shortens what a late retry can read.
const SETTLED_TTL: Duration = Duration::from_secs(60 * 60);
const _: () =
    assert!(SETTLED_TTL.as_secs() < integrations_core::tools::DEFAULT_APPROVED_PAGES_TTL.as_secs());

/// How many times per lease the process running an approved call renews its record
/// ([`McpOptions::approval_run_lease`](crate::McpOptions::approval_run_lease)): a store
/// unreachable for up to four fifths of the lease does not let the record lapse.
const RENEWALS_PER_LEASE: u32 = 5;

/// The shortest run lease: a shorter one (`McpOptions::approval_run_lease` is a public
/// field) would renew all the time.
const MIN_RUN_LEASE: Duration = Duration::from_secs(1);

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The most approval requests one principal (tenant, workspace, user) may have waiting
/// for a person, counting the calls asking for one right now in this process. Each stays
/// up to the request's lifetime (a day by default), so without a cap one client making
/// distinct `ask` calls would grow the store without bound. Past it, an `ask` call is
/// refused with `mcp.too_many_approvals` before the runtime stores a request. Requests a
/// person approved or denied do not count: a person made those.
pub(crate) const MAX_PENDING_PER_PRINCIPAL: usize = 256;

/// A call waiting for a person, as an approval page shows it. Holds nothing secret: the
/// arguments are what the agent sent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PendingApproval {
    /// The approval request (tool, arguments, who called, when it expires).
    pub request: ApprovalRequest,
}

/// The refusal of an approval or denial of a request no MCP call waits in.
fn not_asked() -> Error {
    integrations_core::codes::tool::APPROVAL_NOT_FOUND.error(
        "no MCP call waits in a pending request with this id (it was approved, denied or has expired, or it was not asked through MCP)",
    )
}

/// The refusal of an approval or denial of a request that is no longer pending.
fn not_pending() -> Error {
    integrations_core::codes::tool::APPROVAL_NOT_FOUND
        .error("this request was approved or denied already; it is not pending")
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

    /// The key as the store keeps it: lowercase hex.
    fn hex(self) -> String {
        hex::encode(self.0)
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

/// A call being asked about right now, in this process.
struct Asking {
    /// Whose share of [`MAX_PENDING_PER_PRINCIPAL`] the call holds until it registers
    /// its request or gives up.
    principal: Principal,
    /// Changes (closes) when the [`Reservation`] ends.
    done: watch::Receiver<()>,
}

/// The calls asking the runtime right now: the first of identical calls holds the
/// [`Reservation`]; the others wait on its receiver until it is registered or released.
#[derive(Default)]
struct Desk {
    asking: HashMap<CallKey, Asking>,
}

/// What is known of a call that has an approval request.
pub(crate) enum Known {
    /// Still waiting for a person.
    Pending(ApprovalRequest),
    /// A person approved it and it is running now; its result comes next.
    Running(ApprovalRequest),
    /// A person approved it and it ran: its result (handed over once).
    Settled(Box<ToolResult>),
    /// A person denied it.
    Denied(ApprovalRequest),
}

/// What [`Approvals::find`] knows about a call, reserving nothing.
pub(crate) enum Found {
    /// No approval request is known for it, and no identical call is asking for one here.
    Nothing,
    /// An identical call is asking the runtime right now: wait, then look again.
    InFlight(InFlight),
    /// An approval request answers it.
    Known(Box<Known>),
}

/// What is known about a call the client makes (again).
pub(crate) enum Lookup {
    /// No approval is in progress for it: ask the runtime, then
    /// [`register`](Reservation::register) the request it stored. Identical calls here
    /// wait meanwhile; dropping the reservation lets them go on.
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
/// Which call a request answers, and the result a settled call waits with (sealed with
/// the host's cipher), are kept in the host's approval store
/// ([`ApprovalStore::put_approval_call`] and the methods after it): every process of the
/// host lists the same pending requests, any of them settles one, and the client's retry
/// gets its answer whichever process it reaches.
#[derive(Clone)]
pub struct Approvals {
    runtime: Arc<Runtime>,
    desk: Arc<Mutex<Desk>>,
    /// [`MAX_PENDING_PER_PRINCIPAL`], smaller in unit tests.
    cap: usize,
    /// How long a running call's record lives unless renewed, in milliseconds: a run
    /// never ends in a process that died during it, and the client's retry, told the
    /// call is running until then, asks anew once the record is gone. Shared by every
    /// clone, so a handle taken before [`McpService::with_options`](crate::McpService::with_options)
    /// runs with the lease set there.
    run_lease_ms: Arc<AtomicU64>,
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
            run_lease_ms: Arc::new(AtomicU64::new(millis(
                crate::McpOptions::new().approval_run_lease,
            ))),
        }
    }

    /// Leases running records for `lease` (at least a second), here and in every clone.
    pub(crate) fn with_run_lease(self, lease: Duration) -> Self {
        self.run_lease_ms
            .store(millis(lease.max(MIN_RUN_LEASE)), Ordering::Relaxed);
        self
    }

    fn run_lease(&self) -> Duration {
        Duration::from_millis(self.run_lease_ms.load(Ordering::Relaxed))
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

    fn store(&self) -> &dyn ApprovalStore {
        self.runtime.host().approvals()
    }

    /// The requests of `tenant` that MCP calls wait in for a person, oldest first.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub async fn pending(&self, tenant: &TenantId) -> Result<Vec<PendingApproval>, Error> {
        let now = self.now();
        let mut out: Vec<PendingApproval> = self
            .store()
            .list_approval_calls(tenant, now)
            .await?
            .into_iter()
            .filter(|call| waiting(call, now))
            .map(|call| PendingApproval {
                request: call.request,
            })
            .collect();
        out.sort_by_key(|p| p.request.requested_at);
        Ok(out)
    }

    /// One pending request of `tenant` that an MCP call waits in.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub async fn get(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
    ) -> Result<Option<PendingApproval>, Error> {
        let now = self.now();
        Ok(self
            .store()
            .find_approval_call(tenant, id, now)
            .await?
            .filter(|call| waiting(call, now))
            .map(|call| PendingApproval {
                request: call.request,
            }))
    }

    /// `approver` approves the request `id` of `tenant`: the call runs now, once, and its
    /// result is returned (and kept, sealed, for the MCP client's retry, which any
    /// process of the host answers). Of any number of approvals of one request, in any
    /// number of processes, only the first runs it; the others get
    /// `tool.approval_not_found`, as does an id no MCP call waits in.
    ///
    /// When the request could not be taken out of the store (a storage error), nothing
    /// ran: the error is returned and the request stays pending, to be approved again. A
    /// request gone from the store meanwhile (expired there) never runs; the client's
    /// retry is told so. Forgetting a connection deletes its calls with its requests, so
    /// a retry then asks anew (and fails: the connection is gone). The call runs in its
    /// own task, so its result is kept for the client's retry even when this future is
    /// dropped before it ends. [`try_approve`](Self::try_approve) tells these apart.
    pub async fn approve(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        approver: &UserId,
    ) -> ToolResult {
        self.try_approve(tenant, id, approver)
            .await
            .unwrap_or_else(|e| ToolResult::failure(&e))
    }

    /// [`approve`](Self::approve), telling apart a call that did not run from one that
    /// did: `Err` when nothing ran (no MCP call waits in such a pending request, another
    /// approval or a denial settled it first, or the store failed; the request is then
    /// still pending unless it was settled); `Ok` with the call's result once the request
    /// was taken, whether the call then ran or was refused by a check. An approval page
    /// answers 404 or 503 for the first, and shows the second.
    ///
    /// # Errors
    ///
    /// `tool.approval_not_found` when no MCP call waits in such a pending request;
    /// storage errors.
    pub async fn try_approve(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        approver: &UserId,
    ) -> Result<ToolResult, Error> {
        let now = self.now();
        let Some(call) = self.store().find_approval_call(tenant, id, now).await? else {
            return Err(not_asked());
        };
        // Only the approval that moves it from pending runs it; the store would refuse
        // the others anyway, and one of them failing must not put back to pending a call
        // another one is running.
        if call.stage != ApprovalStage::Pending {
            return Err(not_pending());
        }
        let running = call.at_stage(
            ApprovalStage::Running,
            None,
            now,
            now.saturating_add(self.run_lease()),
        );
        if !self
            .store()
            .update_approval_call(&running, ApprovalStage::Pending)
            .await?
        {
            return Err(not_pending());
        }
        let mut run = Run {
            approvals: self.clone(),
            call: Some(running),
        };
        let runtime = Arc::clone(&self.runtime);
        let (tenant, id, approver) = (tenant.clone(), id.clone(), approver.clone());
        let task = tokio::spawn(async move {
            // Renewed beside the call, not between its polls: a slow store must not hold
            // the call back. Stopped before the end is written (a renewal landing after
            // it finds the record settled, and changes nothing).
            let renewals = tokio::spawn(run.renewals());
            let outcome = runtime.try_approve(&tenant, &id, &approver).await;
            renewals.abort();
            run.end(&outcome).await;
            outcome
        });
        task.await
            .unwrap_or_else(|_| Ok(ToolResult::failure(&stopped())))
    }

    /// `approver` denies the request `id` of `tenant`: it never runs, and the client's
    /// retry is told so. Any process of the host denies it.
    ///
    /// # Errors
    ///
    /// `tool.approval_not_found` when no MCP call waits in such a pending request;
    /// storage errors.
    pub async fn deny(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        approver: &UserId,
    ) -> Result<(), Error> {
        let now = self.now();
        let Some(call) = self.store().find_approval_call(tenant, id, now).await? else {
            return Err(not_asked());
        };
        let stages: &[ApprovalStage] = match self.runtime.deny(tenant, id, approver).await {
            // The denial took the request out of the store, so no run took it: an
            // approval that began meanwhile (running, or already settled as gone, having
            // found no request) ran nothing, and the call is denied whatever it shows.
            Ok(_) => &[
                ApprovalStage::Pending,
                ApprovalStage::Running,
                ApprovalStage::Settled,
            ],
            // The request is gone (expired in the store, or taken by a denial whose record
            // write failed) while the call still shows pending: nothing can run it, so it
            // is denied as asked. Taken by an approval, it is running: refused.
            Err(e)
                if e.code() == integrations_core::codes::tool::APPROVAL_NOT_FOUND.as_str()
                    && call.stage == ApprovalStage::Pending =>
            {
                &[ApprovalStage::Pending]
            }
            Err(e) => return Err(e),
        };
        for &from in stages {
            let Some(call) = self.store().find_approval_call(tenant, id, now).await? else {
                break;
            };
            if call.stage != from {
                continue;
            }
            let denied = call.at_stage(
                ApprovalStage::Denied,
                None,
                now,
                now.saturating_add(SETTLED_TTL),
            );
            if self.store().update_approval_call(&denied, from).await? {
                return Ok(());
            }
        }
        if stages.len() == 1 {
            // Not pending any more: an approval took it meanwhile.
            return Err(not_pending());
        }
        Ok(())
    }

    /// What is known about the call `key` of `tenant`; a settled result or a denial is
    /// handed over once (taken out of the store).
    async fn known(&self, key: CallKey, tenant: &TenantId) -> Result<Option<Known>, Error> {
        let now = self.now();
        let hex = key.hex();
        let Some(call) = self.store().get_approval_call(tenant, &hex, now).await? else {
            return Ok(None);
        };
        match call.stage {
            ApprovalStage::Pending if waiting(&call, now) => {
                return Ok(Some(Known::Pending(call.request)));
            }
            ApprovalStage::Pending => return Ok(None),
            ApprovalStage::Running => return Ok(Some(Known::Running(call.request))),
            _ => {}
        }
        // Opened before it is taken: a result this process cannot open (a key it does not
        // have yet, during a deploy) stays for a process that can, never lost.
        let opened = match (call.stage, &call.result) {
            (ApprovalStage::Settled, Some(sealed)) => Some(self.open_result(&call, sealed)?),
            _ => None,
        };
        // Another retry may take it first: then nothing is known here any more.
        let Some(taken) = self.store().take_answered_call(tenant, &hex, now).await? else {
            return Ok(None);
        };
        Ok(Some(match taken.stage {
            ApprovalStage::Settled => {
                // A request is settled once, so the record taken is the one opened, unless
                // it was taken meanwhile and the key asked and settled again.
                let result = match (opened, &taken.result) {
                    (Some(result), _) if taken.request.id == call.request.id => result,
                    (_, Some(sealed)) => self.open_result(&taken, sealed)?,
                    (_, None) => ToolResult::failure(&stopped()),
                };
                Known::Settled(Box::new(result))
            }
            _ => Known::Denied(taken.request),
        }))
    }

    /// What is known about the call `key` of `principal`; a settled result or a denial
    /// is handed over once. Of identical calls looked up at once in this process, one
    /// gets [`Lookup::Fresh`] and the others [`Lookup::InFlight`] until it is done; a
    /// new call past the principal's cap gets [`Lookup::Full`].
    pub(crate) async fn lookup(
        &self,
        key: CallKey,
        principal: &Principal,
    ) -> Result<Lookup, Error> {
        if let Some(known) = self.known(key, principal.tenant()).await? {
            return Ok(Lookup::Known(Box::new(known)));
        }
        self.reserve(key, principal).await
    }

    /// As [`lookup`](Self::lookup), without reserving the call when nothing is known of
    /// it: for a call that asks no one unless the runtime says so.
    pub(crate) async fn find(&self, key: CallKey, tenant: &TenantId) -> Result<Found, Error> {
        if let Some(known) = self.known(key, tenant).await? {
            return Ok(Found::Known(Box::new(known)));
        }
        Ok(match self.lock().asking.get(&key) {
            Some(asking) => Found::InFlight(InFlight(asking.done.clone())),
            None => Found::Nothing,
        })
    }

    /// Records that the call `key`, made without a [`Reservation`], waits in `request`
    /// (the runtime asked for an approval the manifest did not announce); what answers
    /// the call now.
    ///
    /// # Errors
    ///
    /// `mcp.too_many_approvals` when the caller has as many requests waiting as allowed;
    /// storage errors. The runtime has stored the request already, so it is taken out of
    /// the store again: kept there, it would be pending with no call to answer.
    pub(crate) async fn register(
        &self,
        key: CallKey,
        request: ApprovalRequest,
    ) -> Result<Known, Error> {
        let principal = Principal::of(&request.context.session);
        let held = self.held(&principal).await;
        if held.as_ref().is_ok_and(|held| *held < self.cap) {
            return self.bind(key, request).await;
        }
        self.withdraw(&request).await;
        Err(held.err().unwrap_or_else(|| self.too_many()))
    }

    /// Stores that the call `key` waits in `request`. When an identical call (in another
    /// process) stored its own first, this one's request is withdrawn and the other's
    /// answers.
    async fn bind(&self, key: CallKey, request: ApprovalRequest) -> Result<Known, Error> {
        let now = self.now();
        let call = ApprovalCall::pending(key.hex(), request, now);
        match self.store().put_approval_call(&call, now).await {
            Ok(None) => Ok(Known::Pending(call.request)),
            Ok(Some(first)) => {
                self.withdraw(&call.request).await;
                match first.stage {
                    ApprovalStage::Pending => Ok(Known::Pending(first.request)),
                    ApprovalStage::Running => Ok(Known::Running(first.request)),
                    // Answered already: hand the answer over, unless another retry
                    // took it in the meantime.
                    _ => self.known(key, &call.tenant).await?.ok_or_else(|| {
                        integrations_core::codes::store::VERSION_CONFLICT.error(
                            "an identical call was answered while this one asked; call again",
                        )
                    }),
                }
            }
            Err(e) => {
                // The write may have landed before the error came (a connection lost
                // after the commit): then the call waits in its request after all.
                if let Ok(Some(stored)) = self
                    .store()
                    .get_approval_call(&call.tenant, &call.key, now)
                    .await
                    && stored.request.id == call.request.id
                {
                    return Ok(Known::Pending(stored.request));
                }
                self.withdraw(&call.request).await;
                Err(e)
            }
        }
    }

    /// Takes `request` out of the approval store: no call waits in it.
    async fn withdraw(&self, request: &ApprovalRequest) {
        if let Err(e) = self
            .store()
            .take_approval(&request.tenant, &request.id, self.now())
            .await
        {
            // No call waits in it, so no one is asked to approve it: at worst it waits
            // in the store until it expires.
            tracing::warn!(
                code = e.code(),
                approval = request.id.as_str(),
                "an approval request no call waits in could not be taken out of the store"
            );
        }
    }

    /// How many requests `principal` has waiting for a person, and calls asking for one
    /// in this process.
    async fn held(&self, principal: &Principal) -> Result<usize, Error> {
        let now = self.now();
        let pending = self
            .store()
            .count_pending_approval_calls(
                principal.tenant(),
                principal.workspace(),
                principal.user(),
                now,
            )
            .await?;
        let pending = usize::try_from(pending).unwrap_or(usize::MAX);
        let asking = self
            .lock()
            .asking
            .values()
            .filter(|a| &a.principal == principal)
            .count();
        Ok(pending + asking)
    }

    /// Reserves `key` for the caller, unless an identical call holds it or `principal`
    /// has its cap of requests pending or being asked for.
    async fn reserve(&self, key: CallKey, principal: &Principal) -> Result<Lookup, Error> {
        if let Some(asking) = self.lock().asking.get(&key) {
            return Ok(Lookup::InFlight(InFlight(asking.done.clone())));
        }
        // Counted before the runtime is asked, so a refused call stores nothing.
        let stored = self.held(principal).await?;
        let mut desk = self.lock();
        if let Some(asking) = desk.asking.get(&key) {
            return Ok(Lookup::InFlight(InFlight(asking.done.clone())));
        }
        let asking_now = desk
            .asking
            .values()
            .filter(|a| &a.principal == principal)
            .count();
        // `stored` counted the asking calls of its moment; those since count too.
        if stored.max(asking_now) >= self.cap {
            return Ok(Lookup::Full);
        }
        let (done, asking) = watch::channel(());
        desk.asking.insert(
            key,
            Asking {
                principal: principal.clone(),
                done: asking.clone(),
            },
        );
        Ok(Lookup::Fresh(Reservation {
            approvals: self.clone(),
            key,
            asking,
            _done: done,
        }))
    }

    /// A settled call's result, opened.
    fn open_result(
        &self,
        call: &ApprovalCall,
        sealed: &integrations_core::sealing::Sealed,
    ) -> Result<ToolResult, Error> {
        let plaintext = self
            .runtime
            .host()
            .cipher()
            .open(sealed, &approval_result_aad(&call.tenant, &call.key))?;
        serde_json::from_slice(&plaintext).map_err(|_| {
            crate::codes::mcp::APPROVAL_RESULT_UNREADABLE
                .error("a settled call's stored result is not a tool result this version wrote")
        })
    }

    /// `result`, sealed for the record of `call`.
    fn seal_result(
        &self,
        call: &ApprovalCall,
        result: &ToolResult,
    ) -> Result<integrations_core::sealing::Sealed, Error> {
        let plaintext = serde_json::to_vec(result).map_err(|_| {
            integrations_core::codes::tool::PANICKED.error("a tool result could not be encoded")
        })?;
        self.runtime
            .host()
            .cipher()
            .seal(&plaintext, &approval_result_aad(&call.tenant, &call.key))
    }
}

/// Whether `call` waits for a person at `now`.
fn waiting(call: &ApprovalCall, now: Timestamp) -> bool {
    call.stage == ApprovalStage::Pending && !call.request.is_expired(now)
}

/// The right to ask the runtime about a call, held by the first of identical calls in
/// this process. Dropping it (the call failed, or its future was dropped) lets the
/// others go on.
pub(crate) struct Reservation {
    approvals: Approvals,
    key: CallKey,
    /// The receiver the desk holds for this reservation, to tell it from a later one.
    asking: watch::Receiver<()>,
    /// Dropped with the reservation, which wakes the waiting calls.
    _done: watch::Sender<()>,
}

impl Reservation {
    /// Records that the call waits in `request`; what answers the call now (another
    /// process's identical call, when it stored its own first). The waiting calls find
    /// it in the store.
    ///
    /// # Errors
    ///
    /// Storage errors (the request is taken out of the store again).
    pub(crate) async fn register(self, request: ApprovalRequest) -> Result<Known, Error> {
        self.approvals.bind(self.key, request).await
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut desk = self.approvals.lock();
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

/// The failure a client's retry gets when the request its call waited in is gone
/// (expired in the store) by the time a person approved it.
fn gone() -> Error {
    integrations_core::codes::tool::APPROVAL_NOT_FOUND.error(
        "the approval request this call waited in no longer exists (it expired); the call did not run: call again to ask anew",
    )
}

/// The run of an approved call: records how it ended in the store, and when it never
/// ends (its task panicked or was cancelled), records that instead, so the record does
/// not stay running.
struct Run {
    approvals: Approvals,
    /// The running record; `None` once its end is recorded.
    call: Option<ApprovalCall>,
}

impl Run {
    /// Renews the running record every fifth of the lease, for as long as it is
    /// polled: its record lives another lease from each renewal. A failed write is tried
    /// again at the next renewal; a record no longer running stops the renewals.
    fn renewals(&self) -> impl Future<Output = ()> + Send + 'static {
        let approvals = self.approvals.clone();
        let call = self.call.clone();
        async move {
            let Some(call) = call else {
                return;
            };
            let every = approvals.run_lease() / RENEWALS_PER_LEASE;
            let start = tokio::time::Instant::now() + every;
            let mut ticks = tokio::time::interval_at(start, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let now = approvals.now();
                let renewed = call.at_stage(
                    ApprovalStage::Running,
                    None,
                    now,
                    now.saturating_add(approvals.run_lease()),
                );
                match approvals
                    .store()
                    .update_approval_call(&renewed, ApprovalStage::Running)
                    .await
                {
                    Ok(true) => {}
                    // A denial took it, or the lease lapsed and the key was asked anew:
                    // the end will say which.
                    Ok(false) => return,
                    Err(e) => tracing::warn!(
                        code = e.code(),
                        approval = renewed.request.id.as_str(),
                        "the record of a running approved call could not be renewed; trying again at the next renewal"
                    ),
                }
            }
        }
    }

    /// The call ran (`Ok`, its result: kept for the retry), or its request was not taken
    /// out of the store (`Err`): gone (the retry is told it did not run) or a storage
    /// error (nothing ran: it is pending again).
    async fn end(&mut self, outcome: &Result<ToolResult, Error>) {
        let Some(call) = self.call.take() else {
            return;
        };
        let approvals = &self.approvals;
        let now = approvals.now();
        let settled = |result: &ToolResult| -> Result<ApprovalCall, Error> {
            let sealed = approvals.seal_result(&call, result)?;
            Ok(call.at_stage(
                ApprovalStage::Settled,
                Some(sealed),
                now,
                now.saturating_add(SETTLED_TTL),
            ))
        };
        let next = match outcome {
            Ok(result) => settled(result),
            Err(e) if e.code() == integrations_core::codes::tool::APPROVAL_NOT_FOUND.as_str() => {
                settled(&ToolResult::failure(&gone()))
            }
            Err(_) => Ok(call.at_stage(ApprovalStage::Pending, None, now, call.request.expires_at)),
        };
        let next = match next {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(
                    code = e.code(),
                    approval = call.request.id.as_str(),
                    "how an approved call ended could not be sealed; its record stays running until it expires"
                );
                return;
            }
        };
        // A store briefly unreachable must not leave the record running until its lease
        // ends and the result lost: the write is tried again a few times. `false` (not running
        // any more) is a denial that took the request meanwhile and settled the record.
        let mut written = Ok(false);
        for pause in [
            Duration::ZERO,
            Duration::from_millis(200),
            Duration::from_secs(1),
        ] {
            tokio::time::sleep(pause).await;
            written = approvals
                .store()
                .update_approval_call(&next, ApprovalStage::Running)
                .await;
            if written.is_ok() {
                break;
            }
        }
        match written {
            Err(e) => tracing::warn!(
                code = e.code(),
                approval = call.request.id.as_str(),
                "how an approved call ended could not be stored; its record stays running until its lease ends"
            ),
            // Not a denial: the lease lapsed (renewals failed for most of it) and the
            // record is gone, or the key was asked anew. The result cannot reach the
            // retry, and a person may approve the call again.
            Ok(false) if !approvals.denied_now(&call).await => tracing::warn!(
                approval = call.request.id.as_str(),
                "an approved call ended after its running record lapsed: its result is lost, and the client's retry asks anew"
            ),
            Ok(_) => {}
        }
    }
}

impl Approvals {
    /// Whether the record of `call`'s request is denied now.
    async fn denied_now(&self, call: &ApprovalCall) -> bool {
        self.store()
            .find_approval_call(&call.tenant, &call.request.id, self.now())
            .await
            .is_ok_and(|found| found.is_some_and(|found| found.stage == ApprovalStage::Denied))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let Some(call) = self.call.take() else {
            return;
        };
        // The run stopped before it ended: record that, in a task (a drop cannot wait).
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // The task holds the parts, not a `Run`: a runtime shutting down drops a task it
        // is handed without running it, and a `Run` dropped there would spawn again, and
        // again (each spawn dropped at once), until the stack overflows. Once polled, the
        // run's record is taken at once, so its drop spawns nothing.
        let approvals = self.approvals.clone();
        runtime.spawn(async move {
            let mut run = Run {
                approvals,
                call: Some(call),
            };
            run.end(&Ok(ToolResult::failure(&stopped()))).await;
        });
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

    /// A lease set to nothing through the public field (or `with_options`) is a second:
    /// a zero renewal period would panic every approval's run.
    #[test]
    fn a_run_lease_is_at_least_a_second_in_every_clone() {
        let approvals = approvals();
        let earlier = approvals.clone();
        let approvals = approvals.with_run_lease(Duration::ZERO);
        assert_eq!(approvals.run_lease(), Duration::from_secs(1));
        assert_eq!(earlier.run_lease(), Duration::from_secs(1));
    }

    /// A runtime shutting down with an approved call still running drops its task: the
    /// run's drop hands its end to a runtime that drops it unrun, which must not hand it
    /// on again and again (it overflowed the stack and aborted the process).
    #[test]
    fn a_run_dropped_while_its_runtime_shuts_down_ends_quietly() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let approvals = rt.block_on(async { approvals() });
        let (_, asked) = asked(&approvals, &session(), "shutdown");
        let call = ApprovalCall::pending("k", asked, approvals.now()).at_stage(
            ApprovalStage::Running,
            None,
            approvals.now(),
            approvals.now().saturating_add(Duration::from_secs(600)),
        );
        rt.spawn(async move {
            let _run = Run {
                approvals,
                call: Some(call),
            };
            std::future::pending::<()>().await;
        });
        rt.block_on(tokio::task::yield_now());
        drop(rt);
    }

    #[tokio::test]
    async fn an_identical_call_waits_for_the_first_and_gets_its_request() {
        let approvals = approvals();
        let Lookup::Fresh(reservation) = approvals.lookup(key(), &principal()).await.unwrap()
        else {
            panic!("the first call asks")
        };
        let Lookup::InFlight(asking) = approvals.lookup(key(), &principal()).await.unwrap() else {
            panic!("the identical call waits")
        };
        let waiting = tokio::spawn(asking.wait());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        reservation
            .register(request(&approvals, "a1"))
            .await
            .unwrap();
        waiting.await.unwrap();
        let Lookup::Known(known) = approvals.lookup(key(), &principal()).await.unwrap() else {
            panic!("the identical call finds the first one's request")
        };
        let Known::Pending(pending) = *known else {
            panic!("the identical call finds the first one's request")
        };
        assert_eq!(pending.id.as_str(), "a1");
        assert_eq!(approvals.pending(&pending.tenant).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn past_its_cap_a_principal_is_refused_before_asking_and_another_is_not() {
        let approvals = Approvals::with_cap(approvals().runtime, 2);
        let alice = session().with_user(UserId::new("alice").unwrap());
        let bob = session().with_user(UserId::new("bob").unwrap());
        let (first, request) = asked(&approvals, &alice, "one");
        let Lookup::Fresh(reservation) = approvals
            .lookup(first, &Principal::of(&alice))
            .await
            .unwrap()
        else {
            panic!("the first call asks")
        };
        reservation.register(request).await.unwrap();
        // A call being asked about holds its place too, or concurrent calls would all
        // pass the count before any registers.
        let (second, _) = asked(&approvals, &alice, "two");
        let Lookup::Fresh(_asking) = approvals
            .lookup(second, &Principal::of(&alice))
            .await
            .unwrap()
        else {
            panic!("the second call asks")
        };
        let (third, _) = asked(&approvals, &alice, "three");
        assert!(matches!(
            approvals
                .lookup(third, &Principal::of(&alice))
                .await
                .unwrap(),
            Lookup::Full
        ));
        // In another project Alice is still Alice.
        let mut elsewhere = alice.clone();
        elsewhere.project = Some(integrations_core::ProjectId::new("p").unwrap());
        let (fourth, _) = asked(&approvals, &elsewhere, "four");
        assert!(matches!(
            approvals
                .lookup(fourth, &Principal::of(&elsewhere))
                .await
                .unwrap(),
            Lookup::Full
        ));
        // Her pending call is still answered by its request; Bob asks as usual.
        assert!(matches!(
            approvals
                .lookup(first, &Principal::of(&alice))
                .await
                .unwrap(),
            Lookup::Known(_)
        ));
        let (bobs, _) = asked(&approvals, &bob, "bob");
        assert!(matches!(
            approvals.lookup(bobs, &Principal::of(&bob)).await.unwrap(),
            Lookup::Fresh(_)
        ));
    }

    #[tokio::test]
    async fn a_call_that_gives_up_lets_the_identical_one_ask() {
        let approvals = approvals();
        let Lookup::Fresh(reservation) = approvals.lookup(key(), &principal()).await.unwrap()
        else {
            panic!("the first call asks")
        };
        let Lookup::InFlight(asking) = approvals.lookup(key(), &principal()).await.unwrap() else {
            panic!("the identical call waits")
        };
        drop(reservation);
        asking.wait().await;
        assert!(matches!(
            approvals.lookup(key(), &principal()).await.unwrap(),
            Lookup::Fresh(_)
        ));
    }
}
