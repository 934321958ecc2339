//! Webhook-triggered incremental sync: events through the trigger sink schedule runs,
//! bursts coalesce, an event during a run yields exactly one follow-up. Runs are counted
//! by a fake starter; time moves on a manual clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use integrations_core::host::EventSink;
use integrations_core::sync::{
    DEFAULT_RETRY_ATTEMPTS, DEFAULT_RETRY_BACKOFF, MAX_LEASE_HELD_RETRY_INTERVAL,
    MAX_RATE_LIMIT_WAIT, MIN_LEASE_HELD_RETRY_INTERVAL, RunStarter, SyncScheduler, SyncTriggerSink,
    SyncTriggers, TriggeredRun,
};
use integrations_core::webhook::WebhookEvent;
use integrations_core::{ConnectionId, Error, ErrorKind, TenantId};
use integrations_testkit::{ManualClock, RecordingEventSink};
use tokio::sync::Semaphore;

const WINDOW: Duration = Duration::from_secs(1);

/// Counts the runs it is asked for; holds each run until a permit is released when
/// gated.
#[derive(Default)]
struct CountingStarter {
    runs: Mutex<Vec<TriggeredRun>>,
    gate: Mutex<Option<Arc<Semaphore>>>,
    /// Errors the next runs fail with, in order.
    failures: Mutex<Vec<Error>>,
}

impl CountingStarter {
    fn runs(&self) -> Vec<TriggeredRun> {
        self.runs.lock().unwrap().clone()
    }
    fn streams(&self) -> Vec<String> {
        self.runs().into_iter().map(|r| r.stream).collect()
    }
}

#[async_trait]
impl RunStarter for CountingStarter {
    async fn start_run(&self, run: &TriggeredRun) -> Result<(), Error> {
        self.runs.lock().unwrap().push(run.clone());
        let gate = self.gate.lock().unwrap().clone();
        if let Some(gate) = gate {
            gate.acquire().await.unwrap().forget();
        }
        let mut failures = self.failures.lock().unwrap();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.remove(0))
        }
    }
}

struct Rig {
    clock: Arc<ManualClock>,
    starter: Arc<CountingStarter>,
    scheduler: SyncScheduler,
    events: Arc<RecordingEventSink>,
    sink: SyncTriggerSink,
    worker: tokio::task::JoinHandle<()>,
}

fn rig() -> Rig {
    let clock = Arc::new(ManualClock::default());
    let starter = Arc::new(CountingStarter::default());
    let scheduler = SyncScheduler::new(starter.clone(), clock.clone(), WINDOW);
    let events = Arc::new(RecordingEventSink::new());
    let sink = SyncTriggerSink::new(events.clone(), scheduler.clone()).with_triggers(
        "tracker::cloud".parse().unwrap(),
        SyncTriggers::new()
            .on("tracker.issue.*", "issues")
            .on("tracker.comment.*", "comments"),
    );
    let worker = tokio::spawn({
        let scheduler = scheduler.clone();
        async move { scheduler.run().await }
    });
    Rig {
        clock,
        starter,
        scheduler,
        events,
        sink,
        worker,
    }
}

fn event(connection: &str, event_type: &str, n: usize) -> WebhookEvent {
    let json = serde_json::json!({
        "tenant": "acme",
        "connection": connection,
        "key": "tracker::cloud",
        "event_type": event_type,
        "provider_event_type": "Issue",
        "external_event_id": format!("delivery-{n}"),
        "delivery_id": format!("delivery-{n}"),
        "occurred_at": null,
        "received_at": "2026-01-01T00:00:00.000Z",
        "source_order_key": null,
        "subject": null,
        "payload": {"n": n},
    });
    serde_json::from_str(&json.to_string()).unwrap()
}

/// Waits (in real time, bounded) until `done` holds.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Gives the worker a chance to act on anything it was woken for.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

impl Rig {
    /// The next `times` runs fail with `error`.
    fn fail_next(&self, times: usize, error: impl Fn() -> Error) {
        let mut failures = self.starter.failures.lock().unwrap();
        failures.extend((0..times).map(|_| error()));
    }

    /// An issue event of `conn_1`, and its window passed: its run is due.
    async fn trigger(&self) {
        self.sink
            .deliver(&event("conn_1", "tracker.issue.updated", 0))
            .await
            .unwrap();
        self.elapse(WINDOW).await;
    }

    /// Waits until the `n`th run has run and ended.
    async fn ran(&self, n: usize) {
        until("the run ran", || self.starter.runs().len() == n).await;
        until("the run ended", || self.scheduler.status().running == 0).await;
    }

    async fn elapse(&self, by: Duration) {
        self.clock.advance(by);
        self.scheduler.wake();
        settle().await;
    }

    async fn idle(&self) {
        until("the scheduler is idle", || {
            let s = self.scheduler.status();
            s.pending == 0 && s.running == 0
        })
        .await;
    }

    async fn stop(self) {
        self.scheduler.shutdown();
        tokio::time::timeout(Duration::from_secs(5), self.worker)
            .await
            .expect("the worker stops after shutdown")
            .unwrap();
    }
}

#[tokio::test]
async fn a_burst_of_100_events_is_one_run() {
    let rig = rig();
    for n in 0..100 {
        rig.sink
            .deliver(&event("conn_1", "tracker.issue.updated", n))
            .await
            .unwrap();
        rig.clock.advance(Duration::from_millis(9));
    }
    settle().await;
    assert_eq!(
        rig.events.events().len(),
        100,
        "every event reached the host's sink"
    );
    assert!(
        rig.starter.runs().is_empty(),
        "nothing runs before the window ends"
    );
    assert_eq!(rig.scheduler.status().pending, 1);

    rig.elapse(WINDOW).await;
    rig.idle().await;
    let runs = rig.starter.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].stream, "issues");
    assert_eq!(runs[0].connection, ConnectionId::new("conn_1").unwrap());
    assert_eq!(runs[0].tenant, TenantId::new("acme").unwrap());
    // Nothing further runs later.
    rig.elapse(WINDOW * 5).await;
    assert_eq!(rig.starter.runs().len(), 1);
    assert_eq!(rig.scheduler.status().started, 1);
    rig.stop().await;
}

#[tokio::test]
async fn events_for_two_streams_are_two_runs() {
    let rig = rig();
    for n in 0..10 {
        let kind = if n % 2 == 0 {
            "tracker.issue.created"
        } else {
            "tracker.comment.created"
        };
        rig.sink.deliver(&event("conn_1", kind, n)).await.unwrap();
    }
    // An event no rule names triggers nothing.
    rig.sink
        .deliver(&event("conn_1", "tracker.project.created", 99))
        .await
        .unwrap();
    rig.elapse(WINDOW).await;
    rig.idle().await;
    let mut streams = rig.starter.streams();
    streams.sort();
    assert_eq!(streams, ["comments", "issues"]);
    rig.stop().await;
}

#[tokio::test]
async fn connections_are_scheduled_apart() {
    let rig = rig();
    rig.sink
        .deliver(&event("conn_1", "tracker.issue.updated", 1))
        .await
        .unwrap();
    rig.sink
        .deliver(&event("conn_2", "tracker.issue.updated", 2))
        .await
        .unwrap();
    rig.elapse(WINDOW).await;
    rig.idle().await;
    let mut connections: Vec<String> = rig
        .starter
        .runs()
        .into_iter()
        .map(|r| r.connection.to_string())
        .collect();
    connections.sort();
    assert_eq!(connections, ["conn_1", "conn_2"]);
    rig.stop().await;
}

#[tokio::test]
async fn an_event_during_a_run_yields_exactly_one_follow_up() {
    let rig = rig();
    let gate = Arc::new(Semaphore::new(0));
    *rig.starter.gate.lock().unwrap() = Some(gate.clone());

    rig.trigger().await;
    until("the first run started", || rig.starter.runs().len() == 1).await;
    assert_eq!(rig.scheduler.status().running, 1);

    // Events while it runs: one follow-up, however many.
    for n in 1..=20 {
        rig.sink
            .deliver(&event("conn_1", "tracker.issue.updated", n))
            .await
            .unwrap();
    }
    let status = rig.scheduler.status();
    assert_eq!((status.running, status.follow_ups), (1, 1));
    // Time passing does not start a second run of the same stream while one runs.
    rig.elapse(WINDOW * 3).await;
    assert_eq!(rig.starter.runs().len(), 1);

    gate.add_permits(1);
    until("the follow-up started", || rig.starter.runs().len() == 2).await;
    gate.add_permits(1);
    rig.idle().await;
    rig.elapse(WINDOW * 3).await;
    assert_eq!(rig.starter.runs().len(), 2, "exactly one follow-up");
    rig.stop().await;
}

#[tokio::test]
async fn a_failing_host_sink_schedules_nothing() {
    let rig = rig();
    rig.events.fail_next(1);
    let error = rig
        .sink
        .deliver(&event("conn_1", "tracker.issue.updated", 0))
        .await
        .unwrap_err();
    assert!(!error.code().is_empty());
    assert_eq!(rig.scheduler.status().pending, 0);
    rig.elapse(WINDOW).await;
    assert!(rig.starter.runs().is_empty());
    rig.stop().await;
}

#[tokio::test]
async fn shutdown_waits_for_the_run_in_progress() {
    let rig = rig();
    let gate = Arc::new(Semaphore::new(0));
    *rig.starter.gate.lock().unwrap() = Some(gate.clone());
    rig.trigger().await;
    until("the run started", || rig.starter.runs().len() == 1).await;
    rig.scheduler.shutdown();
    settle().await;
    assert!(!rig.worker.is_finished(), "the run in progress is awaited");
    // Events after shutdown are delivered but schedule nothing.
    rig.sink
        .deliver(&event("conn_1", "tracker.comment.created", 1))
        .await
        .unwrap();
    gate.add_permits(1);
    tokio::time::timeout(Duration::from_secs(5), rig.worker)
        .await
        .expect("the worker stops once the run finished")
        .unwrap();
    assert_eq!(rig.starter.runs().len(), 1);
}

fn lease_held() -> Error {
    integrations_core::codes::sync::LEASE_HELD.error("another run holds the stream")
}

#[tokio::test]
async fn a_run_that_fails_is_run_again_after_a_backoff() {
    let rig = rig();
    rig.fail_next(1, lease_held);
    rig.trigger().await;
    until("the first run ran", || rig.starter.runs().len() == 1).await;
    until("the failed run waits for its retry", || {
        let s = rig.scheduler.status();
        (s.pending, s.running) == (1, 0)
    })
    .await;
    // Not before the backoff: no busy loop.
    rig.elapse(DEFAULT_RETRY_BACKOFF.saturating_sub(Duration::from_secs(1)))
        .await;
    assert_eq!(rig.starter.runs().len(), 1);
    rig.elapse(Duration::from_secs(1)).await;
    until("the retry ran", || rig.starter.runs().len() == 2).await;
    rig.idle().await;
    rig.elapse(DEFAULT_RETRY_BACKOFF * 10).await;
    assert_eq!(
        rig.starter.runs().len(),
        2,
        "a run that succeeded is not retried"
    );
    rig.stop().await;
}

fn provider_down() -> Error {
    Error::new(
        ErrorKind::Unavailable,
        "tracker.down",
        "the tracker answered 503",
    )
}

#[tokio::test]
async fn retries_are_bounded_and_back_off() {
    let rig = rig();
    let attempts = DEFAULT_RETRY_ATTEMPTS as usize;
    rig.fail_next(attempts + 1, provider_down);
    rig.trigger().await;
    let mut backoff = DEFAULT_RETRY_BACKOFF;
    for n in 1..=attempts {
        rig.ran(n).await;
        rig.elapse(backoff.saturating_sub(Duration::from_secs(1)))
            .await;
        assert_eq!(rig.starter.runs().len(), n, "retry {n} waits its backoff");
        rig.elapse(Duration::from_secs(1)).await;
        backoff *= 2;
    }
    until("the last retry ran", || {
        rig.starter.runs().len() == attempts + 1
    })
    .await;
    rig.idle().await;
    rig.elapse(backoff * 4).await;
    assert_eq!(
        rig.starter.runs().len(),
        attempts + 1,
        "then it waits for an event"
    );
    rig.stop().await;
}

/// A live run may hold the stream for an hour (a rate-limit pause) or more (a long full
/// run, on another instance), and the changes the event announced may be on a page it
/// read already: the triggered run is tried again, at most five minutes apart, until the
/// holder lets go, however many tries that takes, and then runs.
#[tokio::test]
async fn a_run_refused_while_another_holds_the_stream_is_tried_until_it_lets_go() {
    let rig = rig();
    let held = 3 * DEFAULT_RETRY_ATTEMPTS as usize;
    rig.fail_next(held, lease_held);
    rig.trigger().await;
    for n in 1..=held {
        rig.ran(n).await;
        rig.elapse(MAX_LEASE_HELD_RETRY_INTERVAL).await;
    }
    until("the run ran once the stream was free", || {
        rig.starter.runs().len() == held + 1
    })
    .await;
    rig.idle().await;
    rig.elapse(MAX_LEASE_HELD_RETRY_INTERVAL * 10).await;
    assert_eq!(rig.starter.runs().len(), held + 1, "then it is done");
    rig.stop().await;
}

/// Without a back-off (`with_retry(ZERO, ..)`), a stream another run holds is still
/// asked again no sooner than a second later: never a busy loop of lease requests.
#[tokio::test]
async fn tries_of_a_held_stream_are_a_second_apart_at_least() {
    let rig = rig();
    let _ = rig.scheduler.clone().with_retry(Duration::ZERO, 5);
    rig.fail_next(3, lease_held);
    rig.trigger().await;
    for n in 1..=3 {
        rig.ran(n).await;
        rig.elapse(MIN_LEASE_HELD_RETRY_INTERVAL.saturating_sub(Duration::from_millis(1)))
            .await;
        assert_eq!(rig.starter.runs().len(), n, "try {n} waits a second");
        rig.elapse(Duration::from_millis(1)).await;
    }
    until("the run ran once the stream was free", || {
        rig.starter.runs().len() == 4
    })
    .await;
    rig.stop().await;
}

/// A provider's wait of days (a skewed reset header, a `Retry-After` from a proxy) does
/// not hold the stream's events back that long: the run is tried again after the
/// longest pause a run takes.
#[tokio::test]
async fn a_wait_of_days_delays_a_triggered_run_no_longer_than_a_run_pauses() {
    let rig = rig();
    rig.starter.failures.lock().unwrap().push(
        Error::new(ErrorKind::RateLimited, "tracker.rate_limited", "slow down")
            .with_retry_after(Duration::from_secs(30 * 86_400)),
    );
    rig.trigger().await;
    until("the first run ran", || rig.starter.runs().len() == 1).await;
    until("the run ended", || rig.scheduler.status().running == 0).await;
    rig.elapse(MAX_RATE_LIMIT_WAIT.saturating_sub(Duration::from_secs(1)))
        .await;
    assert_eq!(rig.starter.runs().len(), 1, "not before the longest pause");
    rig.elapse(Duration::from_secs(1)).await;
    until("the run was tried again", || rig.starter.runs().len() == 2).await;
    rig.stop().await;
}

#[tokio::test]
async fn a_run_refused_for_good_is_not_retried() {
    let rig = rig();
    rig.starter
        .failures
        .lock()
        .unwrap()
        .push(integrations_core::sync::credential_rejected());
    rig.trigger().await;
    until("the run ran", || rig.starter.runs().len() == 1).await;
    rig.idle().await;
    rig.elapse(DEFAULT_RETRY_BACKOFF * 4).await;
    assert_eq!(rig.starter.runs().len(), 1);
    rig.stop().await;
}

/// A run that ended on the provider's rate limit (the runner gives up after limits in a
/// row, with the provider's wait) is retried no sooner than that wait, even when the
/// back-off is shorter.
#[tokio::test]
async fn a_rate_limited_run_is_retried_after_the_providers_wait() {
    let rig = rig();
    let hour = Duration::from_secs(3600);
    rig.starter.failures.lock().unwrap().push(
        integrations_core::codes::tool::RATE_LIMITED
            .error("GitHub's secondary rate limit")
            .with_retry_after(hour),
    );
    rig.trigger().await;
    until("the run ran", || rig.starter.runs().len() == 1).await;
    until("the failed run waits for its retry", || {
        let s = rig.scheduler.status();
        (s.pending, s.running) == (1, 0)
    })
    .await;
    assert!(DEFAULT_RETRY_BACKOFF < hour);
    rig.elapse(hour.saturating_sub(Duration::from_secs(1)))
        .await;
    assert_eq!(
        rig.starter.runs().len(),
        1,
        "not before the provider's wait"
    );
    rig.elapse(Duration::from_secs(1)).await;
    until("the retry ran", || rig.starter.runs().len() == 2).await;
    rig.stop().await;
}
