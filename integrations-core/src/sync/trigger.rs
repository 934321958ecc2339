//! Webhook-triggered incremental sync: an ingested event that touches a synced stream
//! schedules an incremental run of that (connection, stream), coalescing bursts.
//!
//! * [`SyncTriggers`]: which event types touch which stream, as data a provider ships
//!   (`linear.issue.*` → `issues`).
//! * [`SyncScheduler`]: per (tenant, connection, stream), at most one run pending and one
//!   running. The first event of a quiet key schedules a run one *window* later (on the
//!   host's [`Clock`]); every event until then joins it (a burst of 100 events is one run).
//!   An event arriving while that run is in progress schedules exactly one follow-up run,
//!   so a change is never missed and never costs more than one extra run. A run that
//!   fails for a reason that passes (a provider's 5xx or rate limit; a storage error) is
//!   run again after a backoff on the host's clock ([`DEFAULT_RETRY_BACKOFF`], doubling,
//!   at most [`DEFAULT_RETRY_ATTEMPTS`] times in a row; [`SyncScheduler::with_retry`]),
//!   or after the wait the error carries when that is longer (a provider's rate-limit
//!   reset, at most [`MAX_RATE_LIMIT_WAIT`](super::MAX_RATE_LIMIT_WAIT)); a run refused
//!   because another run holds the stream (`sync.lease_held`) is tried again, at least
//!   every [`MAX_LEASE_HELD_RETRY_INTERVAL`], until that run lets go; a run failing for
//!   good (a refused credential, an unknown stream) waits for the
//!   next event.
//! * [`RunStarter`]: what the scheduler calls to run a stream; [`SyncRunnerStarter`] runs
//!   it with a [`SyncRunner`] into a [`RecordSink`].
//! * [`SyncTriggerSink`]: an [`EventSink`] adapter that hands each event to the host's own
//!   sink and then schedules the runs it triggers.
//!
//! The scheduler does no work of its own until the host drives [`SyncScheduler::run`]
//! (for example with `tokio::spawn`); it sleeps until the next due run or the next
//! event, never polls, and [`SyncScheduler::shutdown`] makes `run` return once the runs in
//! progress have finished.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::time::Duration;
//! # use integrations_core::host::{EventSink, Host};
//! # use integrations_core::sync::{RecordSink, SyncRunner, SyncRunnerStarter, SyncScheduler,
//! #     SyncTriggerSink, SyncTriggers};
//! # use integrations_core::DefinitionKey;
//! # async fn wire(host: Host, runner: SyncRunner, records: Arc<dyn RecordSink>,
//! #     events: Arc<dyn EventSink>, key: DefinitionKey, triggers: SyncTriggers) {
//! let scheduler = SyncScheduler::new(
//!     Arc::new(SyncRunnerStarter::new(runner, records)),
//!     host.clock_arc(),
//!     Duration::from_secs(2),
//! );
//! let sink = SyncTriggerSink::new(events, scheduler.clone()).with_triggers(key, triggers);
//! // Give `sink` to the host builder as its event sink, then drive the scheduler:
//! let worker = tokio::spawn({
//!     let scheduler = scheduler.clone();
//!     async move { scheduler.run().await }
//! });
//! // ... on shutdown:
//! scheduler.shutdown();
//! let _ = worker.await;
//! # let _ = sink;
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::{RecordSink, SyncRunner};
use crate::host::{Clock, EventSink};
use crate::model::{EventType, WebhookEvent};
use crate::provider::sync::SyncMode;
use crate::{ConnectionId, DefinitionKey, Error, TenantId, Timestamp};

/// Which event types touch which sync stream: rules `<family>.<object>.<action>` → stream,
/// where any segment may be `*` (`linear.issue.*` → `issues`).
///
/// ```
/// use integrations_core::sync::SyncTriggers;
/// use integrations_core::webhook::EventType;
///
/// let triggers = SyncTriggers::new()
///     .on("linear.issue.*", "issues")
///     .on("linear.comment.*", "comments");
/// let updated = EventType::new("linear.issue.updated")?;
/// assert_eq!(triggers.streams_for(&updated).into_iter().collect::<Vec<_>>(), ["issues"]);
/// # Ok::<(), integrations_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncTriggers {
    rules: Vec<(String, String)>,
}

impl SyncTriggers {
    /// No rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule: events matching `pattern` (three dot-separated segments, each a name
    /// or `*`) touch `stream`. A pattern of another shape matches nothing.
    #[must_use]
    pub fn on(mut self, pattern: impl Into<String>, stream: impl Into<String>) -> Self {
        self.rules.push((pattern.into(), stream.into()));
        self
    }

    /// The rules, as (pattern, stream).
    pub fn rules(&self) -> impl Iterator<Item = (&str, &str)> {
        self.rules.iter().map(|(p, s)| (p.as_str(), s.as_str()))
    }

    /// The streams an event of `event_type` touches, sorted and without repeats.
    pub fn streams_for(&self, event_type: &EventType) -> BTreeSet<&str> {
        self.rules
            .iter()
            .filter(|(pattern, _)| matches(pattern, event_type))
            .map(|(_, stream)| stream.as_str())
            .collect()
    }
}

fn matches(pattern: &str, event_type: &EventType) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let actual = [
        event_type.family(),
        event_type.object(),
        event_type.action(),
    ];
    pattern.len() == 3
        && pattern
            .iter()
            .zip(actual)
            .all(|(p, a)| *p == "*" || *p == a)
}

/// One stream of one connection: what the scheduler coalesces on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct TriggeredRun {
    /// The tenant.
    pub tenant: TenantId,
    /// The connection.
    pub connection: ConnectionId,
    /// The stream.
    pub stream: String,
}

impl TriggeredRun {
    /// A run of `stream` of a connection.
    pub fn new(tenant: TenantId, connection: ConnectionId, stream: impl Into<String>) -> Self {
        Self {
            tenant,
            connection,
            stream: stream.into(),
        }
    }
}

/// The first pause before a failed triggered run is run again; it doubles after each
/// failure in a row.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_secs(30);

/// How many times in a row a failed triggered run is run again before the scheduler
/// waits for the next event (with [`DEFAULT_RETRY_BACKOFF`], over about 15 minutes).
/// Tries refused while another run holds the stream do not count (see
/// [`MAX_LEASE_HELD_RETRY_INTERVAL`]).
pub const DEFAULT_RETRY_ATTEMPTS: u32 = 5;

/// The longest pause between tries of a run refused because another run holds its
/// stream (`sync.lease_held`). Those tries do not count against the attempts: a live
/// run holds the lease as long as it runs (an hour's rate-limit pause, a long full
/// run, on another instance), and the changes the event announced may be on a page it
/// has read already; a dead one lets the lease expire within
/// [`DEFAULT_LEASE_TTL`](super::DEFAULT_LEASE_TTL).
pub const MAX_LEASE_HELD_RETRY_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// The shortest pause between those tries, whatever the back-off
/// ([`SyncScheduler::with_retry`] may set none): never a busy loop of lease requests.
pub const MIN_LEASE_HELD_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Whether a failed run may succeed if run again later: a temporary failure (provider
/// 5xx, rate limit, storage) or another run holding or advancing the stream (conflict).
fn worth_retrying(error: &Error) -> bool {
    error.is_temporary() || error.is_conflict()
}

/// How a failed run is tried again.
#[derive(Debug, Clone, Copy)]
struct Retry {
    /// The least it waits: the provider's own wait (a rate limit's reset) or none.
    wait: Duration,
    /// Another run held the stream: tried again until it lets go.
    held: bool,
}

/// When a failed run is worth retrying, how.
fn retry_of(error: &Error) -> Option<Retry> {
    worth_retrying(error).then(|| Retry {
        wait: error.retry_after().unwrap_or(Duration::ZERO),
        held: error.code() == crate::codes::sync::LEASE_HELD.as_str(),
    })
}

/// Starts (and finishes) one incremental run of a stream; the scheduler awaits it.
#[async_trait]
pub trait RunStarter: Send + Sync + 'static {
    /// Runs `run` incrementally to its end.
    ///
    /// # Errors
    ///
    /// Whatever the run fails with; the scheduler logs its code and, when the failure is
    /// temporary or a conflict with another run, runs it again after a backoff.
    async fn start_run(&self, run: &TriggeredRun) -> Result<(), Error>;
}

/// A [`RunStarter`] running the stream with a [`SyncRunner`] in
/// [`SyncMode::Incremental`] into a [`RecordSink`].
#[derive(Clone)]
pub struct SyncRunnerStarter {
    runner: SyncRunner,
    sink: Arc<dyn RecordSink>,
}

impl fmt::Debug for SyncRunnerStarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncRunnerStarter").finish_non_exhaustive()
    }
}

impl SyncRunnerStarter {
    /// Runs with `runner` into `sink`.
    pub fn new(runner: SyncRunner, sink: Arc<dyn RecordSink>) -> Self {
        Self { runner, sink }
    }
}

#[async_trait]
impl RunStarter for SyncRunnerStarter {
    async fn start_run(&self, run: &TriggeredRun) -> Result<(), Error> {
        self.runner
            .run(
                &run.tenant,
                &run.connection,
                &run.stream,
                SyncMode::Incremental,
                &*self.sink,
                None,
            )
            .await
            .map(|_| ())
    }
}

/// Where one key stands.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// A run is due at this instant.
    Pending(Timestamp),
    /// A run is in progress; a follow-up is due at this instant if events came meanwhile.
    Running(Option<Timestamp>),
}

#[derive(Debug)]
struct State {
    slots: BTreeMap<TriggeredRun, Slot>,
    /// The first backoff and the attempts in a row of a failed run.
    retry: (Duration, u32),
    /// Failures in a row, by key, of runs worth retrying: those counted against the
    /// attempts, and those refused while another run held the stream.
    failures: BTreeMap<TriggeredRun, (u32, u32)>,
    shutdown: bool,
    started: u64,
}

struct Inner {
    starter: Arc<dyn RunStarter>,
    clock: Arc<dyn Clock>,
    window: Duration,
    state: Mutex<State>,
    wake: Notify,
}

/// What the scheduler holds right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchedulerStatus {
    /// Keys with a run waiting for its due time.
    pub pending: usize,
    /// Keys with a run in progress.
    pub running: usize,
    /// Keys with a run in progress and a follow-up due after it.
    pub follow_ups: usize,
    /// Runs started since the scheduler was created.
    pub started: u64,
}

/// Coalesces triggered runs per (tenant, connection, stream) and starts them when due.
/// Cheap to clone: clones share one schedule.
#[derive(Clone)]
pub struct SyncScheduler {
    inner: Arc<Inner>,
}

impl fmt::Debug for SyncScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncScheduler")
            .field("window", &self.inner.window)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SyncScheduler {
    /// A scheduler starting runs with `starter`, `window` after the first event of a
    /// burst, reading the time from `clock`.
    pub fn new(starter: Arc<dyn RunStarter>, clock: Arc<dyn Clock>, window: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                starter,
                clock,
                window,
                state: Mutex::new(State {
                    slots: BTreeMap::new(),
                    retry: (DEFAULT_RETRY_BACKOFF, DEFAULT_RETRY_ATTEMPTS),
                    failures: BTreeMap::new(),
                    shutdown: false,
                    started: 0,
                }),
                wake: Notify::new(),
            }),
        }
    }

    /// Runs a run that failed for a reason that passes again `backoff` later (doubling
    /// after each failure in a row), at most `attempts` times in a row (default
    /// [`DEFAULT_RETRY_BACKOFF`], [`DEFAULT_RETRY_ATTEMPTS`]); `0` attempts never
    /// retries. Clones share the setting.
    #[must_use]
    pub fn with_retry(self, backoff: Duration, attempts: u32) -> Self {
        let mut state = lock(&self.inner.state);
        state.retry = (backoff, attempts);
        drop(state);
        self
    }

    /// Asks for an incremental run of `run`: joins a pending one, or marks a follow-up
    /// for the one in progress, or schedules one a window from now. Ignored after
    /// [`shutdown`](Self::shutdown).
    pub fn schedule(&self, run: TriggeredRun) {
        let due = self.inner.clock.now().saturating_add(self.inner.window);
        let mut state = lock(&self.inner.state);
        if state.shutdown {
            return;
        }
        match state.slots.get_mut(&run) {
            Some(Slot::Pending(_) | Slot::Running(Some(_))) => return,
            Some(slot @ Slot::Running(None)) => *slot = Slot::Running(Some(due)),
            None => {
                state.slots.insert(run, Slot::Pending(due));
            }
        }
        drop(state);
        self.inner.wake.notify_one();
    }

    /// Makes [`run`](Self::run) look at the clock again now (after a test moved a manual
    /// clock; the system clock needs no help).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Stops taking events; [`run`](Self::run) returns once the runs in progress have
    /// finished. Runs still waiting for their due time (retries too) are dropped: the next event (or
    /// the host's own schedule) runs the stream, from its saved watermark.
    pub fn shutdown(&self) {
        lock(&self.inner.state).shutdown = true;
        self.inner.wake.notify_one();
    }

    /// What the scheduler holds right now.
    pub fn status(&self) -> SchedulerStatus {
        let state = lock(&self.inner.state);
        let mut status = SchedulerStatus {
            pending: 0,
            running: 0,
            follow_ups: 0,
            started: state.started,
        };
        for slot in state.slots.values() {
            match slot {
                Slot::Pending(_) => status.pending += 1,
                Slot::Running(follow_up) => {
                    status.running += 1;
                    status.follow_ups += usize::from(follow_up.is_some());
                }
            }
        }
        status
    }

    /// Takes the runs due now and the instant the next one is due.
    fn take_due(&self) -> (Vec<TriggeredRun>, Option<Timestamp>, bool) {
        let now = self.inner.clock.now();
        let mut state = lock(&self.inner.state);
        let mut due = Vec::new();
        let mut next: Option<Timestamp> = None;
        if !state.shutdown {
            for (run, slot) in &mut state.slots {
                if let Slot::Pending(at) = *slot {
                    if at <= now {
                        *slot = Slot::Running(None);
                        due.push(run.clone());
                    } else {
                        next = Some(next.map_or(at, |n| n.min(at)));
                    }
                }
            }
        }
        state.started += due.len() as u64;
        (due, next, state.shutdown)
    }

    /// A run ended; `retry` when it failed for a reason that passes. A follow-up runs
    /// when due; a failed run is run again after its backoff (not before a follow-up's
    /// due time), unless it failed too often in a row.
    /// Ends `run`: a follow-up due meanwhile is kept; a failed run worth retrying
    /// (`retry`, the least it waits) is due again after the back-off or that wait,
    /// whichever is later.
    fn finished(&self, run: &TriggeredRun, retry: Option<Retry>) {
        let now = self.inner.clock.now();
        let mut state = lock(&self.inner.state);
        let follow_up = match state.slots.get(run) {
            Some(Slot::Running(Some(due))) => Some(*due),
            _ => None,
        };
        let (failures, held) = if let Some(retry) = retry {
            let counts = state.failures.entry(run.clone()).or_default();
            if retry.held {
                counts.1 = counts.1.saturating_add(1);
            } else {
                counts.0 = counts.0.saturating_add(1);
            }
            *counts
        } else {
            state.failures.remove(run);
            (0, 0)
        };
        let (backoff, attempts) = state.retry;
        let retry_at = retry
            .filter(|r| attempts > 0 && (r.held || failures <= attempts))
            .map(|r| {
                let delay = if r.held {
                    let doubling = 2_u32.saturating_pow(held - 1);
                    backoff
                        .saturating_mul(doubling)
                        .clamp(MIN_LEASE_HELD_RETRY_INTERVAL, MAX_LEASE_HELD_RETRY_INTERVAL)
                } else {
                    backoff.saturating_mul(2_u32.saturating_pow(failures - 1))
                };
                // A provider's wait past what a run pauses for (a skewed reset, a
                // `Retry-After` of days) would hold every event of the stream back as
                // long: the run is tried again after the longest pause instead.
                now.saturating_add(delay.max(r.wait.min(super::MAX_RATE_LIMIT_WAIT)))
            });
        if retry.is_some() && retry_at.is_none() {
            state.failures.remove(run);
            tracing::warn!(
                target: "integrations::sync",
                tenant = %run.tenant,
                connection = %run.connection,
                stream = %run.stream,
                failures,
                "a webhook-triggered sync run kept failing; it waits for the next event"
            );
        }
        let next = match (follow_up, retry_at) {
            (Some(due), Some(at)) => Some(due.max(at)),
            (due, at) => due.or(at),
        };
        match next {
            Some(due) if !state.shutdown => {
                state.slots.insert(run.clone(), Slot::Pending(due));
            }
            _ => {
                state.slots.remove(run);
            }
        }
    }

    /// Drives the schedule: starts each run when it is due (several keys at once, one run
    /// per key), until [`shutdown`](Self::shutdown). Drive it once per scheduler, on a
    /// Tokio runtime (runs are spawned on it).
    pub async fn run(&self) {
        let mut runs: JoinSet<(TriggeredRun, Option<Retry>)> = JoinSet::new();
        loop {
            let (due, next, shutdown) = self.take_due();
            for run in due {
                let starter = Arc::clone(&self.inner.starter);
                runs.spawn(async move {
                    // In a task of its own, so a panicking run still frees its key.
                    let attempt = {
                        let run = run.clone();
                        tokio::spawn(async move { starter.start_run(&run).await }).await
                    };
                    let (code, retry) = match &attempt {
                        Ok(Ok(())) => (None, None),
                        Ok(Err(error)) => (Some(error.code().to_owned()), retry_of(error)),
                        Err(_) => (Some("sync.run_panicked".to_owned()), None),
                    };
                    if let Some(code) = code {
                        tracing::warn!(
                            target: "integrations::sync",
                            tenant = %run.tenant,
                            connection = %run.connection,
                            stream = %run.stream,
                            code,
                            retry = retry.is_some(),
                            "a webhook-triggered sync run failed"
                        );
                    }
                    (run, retry)
                });
            }
            if shutdown {
                while let Some(done) = runs.join_next().await {
                    if let Ok((run, retry)) = done {
                        self.finished(&run, retry);
                    }
                }
                lock(&self.inner.state).slots.clear();
                return;
            }
            let sleep = next.map(|at| at.duration_since(self.inner.clock.now()));
            tokio::select! {
                () = self.inner.wake.notified() => {}
                Some(done) = runs.join_next(), if !runs.is_empty() => {
                    // The wrapper task never panics (the run has a task of its own).
                    if let Ok((run, retry)) = done {
                        self.finished(&run, retry);
                    }
                }
                () = tokio::time::sleep(sleep.unwrap_or(Duration::MAX)), if sleep.is_some() => {}
            }
        }
    }
}

/// An [`EventSink`] that delivers each event to the host's sink and then schedules the
/// incremental runs its [`SyncTriggers`] name for the event's connection.
///
/// The host's sink comes first: when it fails, the ingest pipeline answers 5xx, the
/// provider redelivers, and the run is scheduled on that delivery.
#[derive(Clone)]
pub struct SyncTriggerSink {
    inner: Arc<dyn EventSink>,
    scheduler: SyncScheduler,
    triggers: BTreeMap<DefinitionKey, SyncTriggers>,
}

impl fmt::Debug for SyncTriggerSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncTriggerSink")
            .field("definitions", &self.triggers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl SyncTriggerSink {
    /// Wraps the host's sink `inner`, scheduling on `scheduler`.
    pub fn new(inner: Arc<dyn EventSink>, scheduler: SyncScheduler) -> Self {
        Self {
            inner,
            scheduler,
            triggers: BTreeMap::new(),
        }
    }

    /// Events of definition `key` trigger runs by `triggers` (replacing earlier rules for
    /// `key`).
    #[must_use]
    pub fn with_triggers(mut self, key: DefinitionKey, triggers: SyncTriggers) -> Self {
        self.triggers.insert(key, triggers);
        self
    }
}

#[async_trait]
impl EventSink for SyncTriggerSink {
    async fn deliver(&self, event: &WebhookEvent) -> Result<(), Error> {
        self.inner.deliver(event).await?;
        if let Some(triggers) = self.triggers.get(&event.key) {
            for stream in triggers.streams_for(&event.event_type) {
                self.scheduler.schedule(TriggeredRun::new(
                    event.tenant.clone(),
                    event.connection.clone(),
                    stream,
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_segment_by_segment() {
        let triggers = SyncTriggers::new()
            .on("linear.issue.*", "issues")
            .on("linear.*.removed", "issues")
            .on("linear.comment.*", "comments")
            .on("linear.issue", "broken");
        let t = |s: &str| EventType::new(s).unwrap();
        assert_eq!(
            triggers.streams_for(&t("linear.issue.updated")),
            BTreeSet::from(["issues"])
        );
        assert_eq!(
            triggers.streams_for(&t("linear.comment.removed")),
            BTreeSet::from(["comments", "issues"])
        );
        assert!(
            triggers
                .streams_for(&t("linear.project.created"))
                .is_empty()
        );
        assert!(triggers.streams_for(&t("github.issue.updated")).is_empty());
    }
}
