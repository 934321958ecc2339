//! The sync runner: full runs, crash resumption, incremental runs, concurrent runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use integrations_core::credential::{CredentialRequest, CredentialSource, ResolvedCredential};
use integrations_core::definition::{
    ConnectionMethod, IntegrationDefinition, Metadata, SecretField,
};
use integrations_core::model::{Connection, ConnectionStatus, CredentialType, Target};
use integrations_core::provider::IntegrationProvider;
use integrations_core::sync::{
    RecordSink, SyncMode, SyncPage, SyncRecord, SyncRequest, SyncRunner, SyncSource, SyncStream,
};
use integrations_core::{
    ConnectionId, ConnectionMethodId, DefinitionKey, Error, ErrorKind, IntegrationKind, Registry,
    Secret, TargetId, TenantId, Timestamp,
};
use integrations_testkit::TestHost;
use serde_json::json;
use tokio::sync::Notify;

/// A provider whose `issues` stream pages through an in-memory dataset, two per page,
/// sorted by id; incremental pages hold records updated after `since`.
struct Tracker {
    data: Mutex<BTreeMap<String, String>>,
    requests: Mutex<Vec<(Option<String>, Option<String>)>>,
    fail_at_cursor: Mutex<Option<String>>,
    /// A cursor refused once as expired (`sync.invalid_cursor`).
    expired_cursor: Mutex<Option<String>>,
    pause: Mutex<Option<Arc<Notify>>>,
    /// Whether `updated_at` is the tracker's clock time (`watermark_at` answers).
    clock_watermarks: std::sync::atomic::AtomicBool,
}

impl Tracker {
    fn new(records: &[(&str, &str)]) -> Self {
        Self {
            data: Mutex::new(
                records
                    .iter()
                    .map(|(id, at)| ((*id).to_owned(), (*at).to_owned()))
                    .collect(),
            ),
            requests: Mutex::new(Vec::new()),
            fail_at_cursor: Mutex::new(None),
            expired_cursor: Mutex::new(None),
            pause: Mutex::new(None),
            clock_watermarks: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl IntegrationDefinition for Tracker {
    fn key(&self) -> DefinitionKey {
        "tracker::cloud".parse().unwrap()
    }
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Connector
    }
    fn metadata(&self) -> Metadata {
        Metadata::new("Tracker", "Tickets.", "tracker", "productivity")
    }
    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        vec![
            ConnectionMethod::api_key(
                "api-key",
                "Key",
                vec![SecretField::new("key", "Key", CredentialType::API_KEY)],
            )
            .unwrap(),
        ]
    }
}

impl IntegrationProvider for Tracker {
    fn sync(&self) -> Option<&dyn SyncSource> {
        Some(self)
    }
}

#[async_trait]
impl SyncSource for Tracker {
    fn streams(&self) -> Vec<SyncStream> {
        vec![
            SyncStream::new("issues", true),
            SyncStream::new("teams", false),
        ]
    }

    fn watermark_at(&self, _stream: &str, at: Timestamp) -> Option<String> {
        self.clock_watermarks
            .load(std::sync::atomic::Ordering::Relaxed)
            .then(|| at.to_rfc3339())
    }

    async fn fetch_page(&self, request: SyncRequest<'_>) -> Result<SyncPage, Error> {
        // The source authenticates through the credential seam.
        let selector =
            integrations_core::plan::CredentialSelector::of_type(CredentialType::API_KEY);
        let token = request
            .credentials
            .credential(&CredentialRequest::new(request.connection, &selector))
            .await?;
        assert_eq!(token.value.expose(), "trk_key");
        self.requests.lock().unwrap().push((
            request.cursor.map(str::to_owned),
            request.since.map(str::to_owned),
        ));
        if request.cursor.is_some()
            && *self.fail_at_cursor.lock().unwrap() == request.cursor.map(str::to_owned)
        {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "tracker.down",
                "the tracker answered 503",
            ));
        }
        let refused = {
            let mut expired = self.expired_cursor.lock().unwrap();
            request.cursor.is_some()
                && expired
                    .take_if(|c| Some(c.as_str()) == request.cursor)
                    .is_some()
        };
        if refused {
            return Err(integrations_core::codes::sync::INVALID_CURSOR
                .error("the tracker no longer accepts this cursor"));
        }
        let pause = self.pause.lock().unwrap().take();
        if let Some(pause) = pause {
            pause.notified().await;
        }
        let matching: Vec<(String, String)> = self
            .data
            .lock()
            .unwrap()
            .iter()
            .filter(|(id, at)| {
                request.cursor.is_none_or(|c| id.as_str() > c)
                    && request.since.is_none_or(|s| at.as_str() > s)
            })
            .map(|(id, at)| (id.clone(), at.clone()))
            .collect();
        let page: Vec<SyncRecord> = matching
            .iter()
            .take(2)
            .map(|(id, at)| SyncRecord::new(id.clone(), Some(at.clone()), json!({"id": id})))
            .collect();
        let next = (matching.len() > 2).then(|| page.last().unwrap().id.clone());
        Ok(SyncPage::new(page, next))
    }
}

struct Credentials;

#[async_trait]
impl CredentialSource for Credentials {
    async fn credential(
        &self,
        _request: &CredentialRequest<'_>,
    ) -> Result<ResolvedCredential, Error> {
        Ok(ResolvedCredential::new(Secret::new("trk_key"), None))
    }
    async fn credential_rejected(
        &self,
        _: &CredentialRequest<'_>,
        _: &Secret,
    ) -> Result<Option<ResolvedCredential>, Error> {
        Ok(None)
    }
}

#[derive(Default)]
struct Sink {
    records: Mutex<BTreeMap<String, serde_json::Value>>,
    writes: Mutex<u64>,
}

#[async_trait]
impl RecordSink for Sink {
    async fn write_page(
        &self,
        _connection: &Connection,
        _stream: &str,
        page: &SyncPage,
    ) -> Result<(), Error> {
        let mut records = self.records.lock().unwrap();
        for r in &page.records {
            records.insert(r.id.clone(), r.data.clone());
        }
        for id in &page.deleted {
            records.remove(id);
        }
        *self.writes.lock().unwrap() += 1;
        Ok(())
    }
    async fn delete_stream(&self, _connection: &Connection, _stream: &str) -> Result<(), Error> {
        self.records.lock().unwrap().clear();
        Ok(())
    }
}

/// A run of the `issues` stream of the test connection.
async fn run_issues(
    runner: &SyncRunner,
    mode: SyncMode,
    sink: &dyn RecordSink,
) -> Result<integrations_core::sync::SyncReport, Error> {
    runner
        .run(&tenant(), &connection_id(), "issues", mode, sink, None)
        .await
}

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn connection_id() -> ConnectionId {
    ConnectionId::new("c1").unwrap()
}

async fn setup(tracker: Arc<Tracker>) -> (TestHost, SyncRunner) {
    let test = TestHost::new();
    let mut registry = Registry::new();
    registry.register(tracker).unwrap();
    let target = Target::new(
        tenant(),
        TargetId::new("t").unwrap(),
        "tracker::cloud".parse().unwrap(),
        test.host().clock().now(),
    );
    test.host().targets().put_target(&target).await.unwrap();
    let connection = Connection::new(
        tenant(),
        connection_id(),
        target.id.clone(),
        target.key.clone(),
        ConnectionMethodId::new("api-key").unwrap(),
        test.host().clock().now(),
    );
    test.host()
        .connections()
        .put_connection(&connection)
        .await
        .unwrap();
    let runner = SyncRunner::new(
        Arc::new(registry),
        test.host().clone(),
        Arc::new(Credentials),
    );
    (test, runner)
}

const DATA: &[(&str, &str)] = &[
    ("a", "2026-01-01T00:00:01Z"),
    ("b", "2026-01-01T00:00:05Z"),
    ("c", "2026-01-01T00:00:03Z"),
    ("d", "2026-01-01T00:00:02Z"),
    ("e", "2026-01-01T00:00:04Z"),
];

#[tokio::test]
async fn a_full_run_pages_to_the_end_and_sets_the_watermark() {
    let tracker = Arc::new(Tracker::new(DATA));
    let (_test, runner) = setup(tracker.clone()).await;
    let sink = Sink::default();
    let report = run_issues(&runner, SyncMode::Full, &sink).await.unwrap();
    assert!(report.complete);
    assert_eq!((report.pages, report.records), (3, 5));
    assert_eq!(report.watermark.as_deref(), Some("2026-01-01T00:00:05Z"));
    assert_eq!(sink.records.lock().unwrap().len(), 5);
    let cursors = cursors(&tracker);
    assert_eq!(cursors, [None, Some("b".into()), Some("d".into())]);
}

/// A stream with nothing in it at its first run still gets a watermark (the run's start,
/// less the margin), so the next incremental run asks for changes since then instead of
/// being a full run again, every time.
#[tokio::test]
async fn a_first_run_that_finds_nothing_still_sets_a_watermark() {
    let tracker = Arc::new(Tracker::new(&[]));
    tracker
        .clock_watermarks
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let (test, runner) = setup(tracker.clone()).await;
    let sink = Sink::default();
    let started = test.host().clock().now();
    let report = run_issues(&runner, SyncMode::Full, &sink).await.unwrap();
    assert!(report.complete);
    assert_eq!(report.records, 0);
    let ceiling = started
        .saturating_sub(integrations_core::sync::WATERMARK_MARGIN)
        .to_rfc3339();
    assert_eq!(report.watermark.as_deref(), Some(ceiling.as_str()));
    run_issues(&runner, SyncMode::Incremental, &sink)
        .await
        .unwrap();
    assert_eq!(since(&tracker), [None, Some(ceiling)]);
}

#[tokio::test]
async fn a_crashed_run_resumes_from_its_last_saved_page() {
    let tracker = Arc::new(Tracker::new(DATA));
    let (_test, runner) = setup(tracker.clone()).await;
    let sink = Sink::default();
    *tracker.fail_at_cursor.lock().unwrap() = Some("b".into());
    let err = run_issues(&runner, SyncMode::Full, &sink)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "tracker.down");
    assert!(err.is_temporary());
    assert_eq!(sink.records.lock().unwrap().len(), 2);

    *tracker.fail_at_cursor.lock().unwrap() = None;
    tracker.requests.lock().unwrap().clear();
    // Even an incremental request finishes the interrupted full run first.
    let report = run_issues(&runner, SyncMode::Incremental, &sink)
        .await
        .unwrap();
    assert!(report.complete);
    assert_eq!(report.records, 3, "page one is not fetched again");
    let cursors = cursors(&tracker);
    assert_eq!(cursors, [Some("b".into()), Some("d".into())]);
    assert_eq!(sink.records.lock().unwrap().len(), 5);
    // The watermark counts the records of the interrupted part too.
    assert_eq!(report.watermark.as_deref(), Some("2026-01-01T00:00:05Z"));
}

#[tokio::test]
async fn max_pages_stops_and_a_later_run_resumes() {
    let tracker = Arc::new(Tracker::new(DATA));
    let (_test, runner) = setup(tracker.clone()).await;
    let sink = Sink::default();
    let first = runner
        .run(
            &tenant(),
            &connection_id(),
            "issues",
            SyncMode::Full,
            &sink,
            Some(1),
        )
        .await
        .unwrap();
    assert!(!first.complete);
    assert_eq!(first.pages, 1);
    let rest = run_issues(&runner, SyncMode::Full, &sink).await.unwrap();
    assert!(rest.complete);
    assert_eq!(rest.records, 3);
}

/// A resumed run whose saved cursor the provider refuses (`sync.invalid_cursor`: it
/// expired, or the connection's config changed under it) drops it and reads its pages
/// from the start, instead of failing every run from then on.
#[tokio::test]
async fn a_resumed_run_whose_cursor_is_refused_starts_its_pages_over() {
    let tracker = Arc::new(Tracker::new(DATA));
    let (_test, runner) = setup(tracker.clone()).await;
    let sink = Sink::default();
    let (tenant, connection) = (tenant(), connection_id());
    let run = |max_pages| {
        runner.run(
            &tenant,
            &connection,
            "issues",
            SyncMode::Full,
            &sink,
            max_pages,
        )
    };
    assert!(!run(Some(1)).await.unwrap().complete);
    *tracker.expired_cursor.lock().unwrap() = Some("b".into());
    tracker.requests.lock().unwrap().clear();

    let report = run(None).await.unwrap();
    assert!(report.complete);
    assert_eq!((report.pages, report.records), (3, 5));
    assert_eq!(report.watermark.as_deref(), Some("2026-01-01T00:00:05Z"));
    let cursors = cursors(&tracker);
    assert_eq!(
        cursors,
        [Some("b".into()), None, Some("b".into()), Some("d".into())]
    );
    assert_eq!(sink.records.lock().unwrap().len(), 5);
}

/// A cursor refused within one run (the provider's own, from the page before) is not
/// dropped: the run fails with the source's error rather than starting over forever.
#[tokio::test]
async fn a_cursor_refused_within_a_run_fails_it() {
    let tracker = Arc::new(Tracker::new(DATA));
    let (_test, runner) = setup(tracker.clone()).await;
    *tracker.expired_cursor.lock().unwrap() = Some("b".into());
    let err = runner
        .run(
            &tenant(),
            &connection_id(),
            "issues",
            SyncMode::Full,
            &Sink::default(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "sync.invalid_cursor");
}

#[tokio::test]
async fn an_incremental_run_fetches_only_changes_since_the_watermark() {
    let tracker = Arc::new(Tracker::new(DATA));
    let (_test, runner) = setup(tracker.clone()).await;
    let sink = Sink::default();
    run_issues(&runner, SyncMode::Full, &sink).await.unwrap();
    tracker
        .data
        .lock()
        .unwrap()
        .insert("c".into(), "2026-01-02T00:00:00Z".into());
    tracker
        .data
        .lock()
        .unwrap()
        .insert("f".into(), "2026-01-03T00:00:00Z".into());
    tracker.requests.lock().unwrap().clear();
    let report = run_issues(&runner, SyncMode::Incremental, &sink)
        .await
        .unwrap();
    assert_eq!(report.records, 2);
    assert_eq!(report.watermark.as_deref(), Some("2026-01-03T00:00:00Z"));
    let since = since(&tracker);
    assert_eq!(since, [Some("2026-01-01T00:00:05Z".into())]);
    // Nothing changed: nothing fetched beyond one empty page, the watermark stays.
    let again = run_issues(&runner, SyncMode::Incremental, &sink)
        .await
        .unwrap();
    assert_eq!(again.records, 0);
    assert_eq!(again.watermark.as_deref(), Some("2026-01-03T00:00:00Z"));
}

/// The cursors of the requests since `tracker`'s log was last cleared.
/// The cursor of each page fetched so far, in order.
fn cursors(tracker: &Tracker) -> Vec<Option<String>> {
    let requests = tracker.requests.lock().unwrap();
    requests.iter().map(|(c, _)| c.clone()).collect()
}

/// The `since` of each page fetched so far, in order.
fn since(tracker: &Tracker) -> Vec<Option<String>> {
    let requests = tracker.requests.lock().unwrap();
    requests.iter().map(|(_, s)| s.clone()).collect()
}

/// An incremental run stopped by `max_pages`, then by an error, resumes each time from
/// its saved cursor with the same `since`, never reading a page twice, and completes:
/// the watermark advances over every page of the interrupted run.
#[tokio::test]
async fn an_interrupted_incremental_run_resumes_from_its_cursor() {
    let tracker = Arc::new(Tracker::new(DATA));
    let (_test, runner) = setup(tracker.clone()).await;
    let sink = Sink::default();
    let (tenant, connection) = (tenant(), connection_id());
    let run = |mode, max_pages| runner.run(&tenant, &connection, "issues", mode, &sink, max_pages);
    run(SyncMode::Full, None).await.unwrap();
    for (id, at) in [
        ("a", "2026-01-02T00:00:01Z"),
        ("b", "2026-01-02T00:00:02Z"),
        ("c", "2026-01-02T00:00:03Z"),
        ("d", "2026-01-02T00:00:04Z"),
        ("e", "2026-01-02T00:00:05Z"),
        ("f", "2026-01-02T00:00:06Z"),
    ] {
        tracker.data.lock().unwrap().insert(id.into(), at.into());
    }
    tracker.requests.lock().unwrap().clear();

    let first = run(SyncMode::Incremental, Some(1)).await.unwrap();
    assert!(!first.complete);
    assert_eq!(first.watermark.as_deref(), Some("2026-01-01T00:00:05Z"));
    *tracker.fail_at_cursor.lock().unwrap() = Some("d".into());
    let err = run(SyncMode::Incremental, None).await.unwrap_err();
    assert_eq!(err.code(), "tracker.down");
    *tracker.fail_at_cursor.lock().unwrap() = None;
    let last = run(SyncMode::Incremental, None).await.unwrap();
    assert!(last.complete);
    assert_eq!(last.records, 2, "only the last page was left");
    assert_eq!(last.watermark.as_deref(), Some("2026-01-02T00:00:06Z"));
    // Page one once, page two once, page three failed once and then read.
    assert_eq!(
        cursors(&tracker),
        [None, Some("b".into()), Some("d".into()), Some("d".into())]
    );
    let since = since(&tracker);
    assert!(
        since
            .iter()
            .all(|s| s.as_deref() == Some("2026-01-01T00:00:05Z")),
        "every page read since the first run's watermark: {since:?}"
    );
    assert_eq!(
        sink.records.lock().unwrap().len(),
        6,
        "every changed record was written"
    );
}

/// A full run requested while an incremental run is unfinished starts over from the
/// first page; the incremental run's cursor is dropped.
#[tokio::test]
async fn a_full_run_drops_an_unfinished_incremental_run() {
    let tracker = Arc::new(Tracker::new(DATA));
    let (_test, runner) = setup(tracker.clone()).await;
    let sink = Sink::default();
    let (tenant, connection) = (tenant(), connection_id());
    let run = |mode, max_pages| runner.run(&tenant, &connection, "issues", mode, &sink, max_pages);
    run(SyncMode::Full, None).await.unwrap();
    for id in ["a", "b", "c"] {
        tracker
            .data
            .lock()
            .unwrap()
            .insert(id.into(), "2026-01-02T00:00:00Z".into());
    }
    assert!(!run(SyncMode::Incremental, Some(1)).await.unwrap().complete);
    tracker.requests.lock().unwrap().clear();
    let full = run(SyncMode::Full, None).await.unwrap();
    assert!(full.complete);
    assert_eq!(full.records, 5);
    assert_eq!(cursors(&tracker)[0], None);
    // And the next incremental run reads from the full run's watermark, from the start.
    tracker.requests.lock().unwrap().clear();
    let next = run(SyncMode::Incremental, None).await.unwrap();
    assert!(next.complete);
    assert_eq!(cursors(&tracker), [None]);
}

#[tokio::test]
async fn two_runs_of_one_stream_cannot_both_advance_it() {
    let tracker = Arc::new(Tracker::new(DATA));
    let (_test, runner) = setup(tracker.clone()).await;
    let pause = Arc::new(Notify::new());
    *tracker.pause.lock().unwrap() = Some(pause.clone());
    let sink = Arc::new(Sink::default());
    let slow = {
        let runner = runner.clone();
        let sink = sink.clone();
        tokio::spawn(async move { run_issues(&runner, SyncMode::Full, &*sink).await })
    };
    // Let the slow run reach its pause, then finish a whole run alongside it.
    while tracker.requests.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    let fast = run_issues(&runner, SyncMode::Full, &*sink).await;
    pause.notify_one();
    let slow = slow.await.unwrap();
    let outcomes = [fast.is_ok(), slow.is_ok()];
    assert_eq!(
        outcomes.iter().filter(|ok| **ok).count(),
        1,
        "{fast:?} {slow:?}"
    );
    // The second run does not start while the first holds the stream's lease: it made
    // no request at all.
    let loser = fast.err().or(slow.err()).unwrap();
    assert_eq!(loser.code(), "sync.lease_held");
    assert_eq!(tracker.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_run_whose_lease_expired_stops_when_another_took_the_stream() {
    let tracker = Arc::new(Tracker::new(DATA));
    let (test, runner) = setup(tracker.clone()).await;
    let pause = Arc::new(Notify::new());
    *tracker.pause.lock().unwrap() = Some(pause.clone());
    let sink = Arc::new(Sink::default());
    let stale = {
        let runner = runner.clone();
        let sink = sink.clone();
        tokio::spawn(async move { run_issues(&runner, SyncMode::Full, &*sink).await })
    };
    while tracker.requests.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    // The first run hangs past its lease; another takes the stream and finishes.
    test.clock
        .advance(integrations_core::sync::DEFAULT_LEASE_TTL + std::time::Duration::from_secs(1));
    let fresh = run_issues(&runner, SyncMode::Full, &*sink).await.unwrap();
    assert!(fresh.complete);
    let written = *sink.writes.lock().unwrap();
    pause.notify_one();
    let stale = stale.await.unwrap().unwrap_err();
    assert!(
        ["sync.concurrent_run", "sync.lease_lost"].contains(&stale.code()),
        "{stale:?}"
    );
    // The page the stale run fetched before the other run took over is never written
    // over the newer run's records.
    assert_eq!(*sink.writes.lock().unwrap(), written, "the stale run wrote");
}

#[tokio::test]
async fn delete_clears_data_and_restarts() {
    let tracker = Arc::new(Tracker::new(DATA));
    let (test, runner) = setup(tracker.clone()).await;
    let sink = Sink::default();
    run_issues(&runner, SyncMode::Full, &sink).await.unwrap();
    runner
        .delete(&tenant(), &connection_id(), "issues", &sink)
        .await
        .unwrap();
    assert!(sink.records.lock().unwrap().is_empty());
    let cp = test
        .host()
        .checkpoints()
        .load_checkpoint(&tenant(), &connection_id(), "issues")
        .await
        .unwrap()
        .unwrap();
    assert!(cp.watermark.is_none() && cp.cursor.is_none() && !cp.in_full_sync);
    let report = run_issues(&runner, SyncMode::Incremental, &sink)
        .await
        .unwrap();
    assert_eq!(
        report.records, 5,
        "after a delete an incremental run is a full run"
    );
}

#[tokio::test]
async fn refusals_have_codes() {
    let tracker = Arc::new(Tracker::new(DATA));
    let (test, runner) = setup(tracker).await;
    let sink = Sink::default();
    let err = runner
        .run(
            &tenant(),
            &connection_id(),
            "comments",
            SyncMode::Full,
            &sink,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "sync.unsupported");
    let err = runner
        .run(
            &tenant(),
            &connection_id(),
            "teams",
            SyncMode::Incremental,
            &sink,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "sync.unsupported");
    let err = runner
        .run(
            &tenant(),
            &ConnectionId::new("ghost").unwrap(),
            "issues",
            SyncMode::Full,
            &sink,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "auth.connection_not_found");
    test.host()
        .connections()
        .set_connection_status(
            &tenant(),
            &connection_id(),
            ConnectionStatus::Revoked {
                reason: "by user".into(),
            },
            test.host().clock().now(),
        )
        .await
        .unwrap();
    let err = run_issues(&runner, SyncMode::Full, &sink)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "auth.connection_not_active");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert_eq!(*sink.writes.lock().unwrap(), 0);
}

/// A connection forgotten (its checkpoints and its record deleted) while a run waits on
/// its first page: the run writes no page and saves no checkpoint, which would otherwise
/// outlive the connection and be resumed by the next one under its id. The same for a
/// connection disconnected meanwhile.
#[tokio::test]
async fn a_run_stops_when_its_connection_is_forgotten_or_disconnected_meanwhile() {
    for forgotten in [true, false] {
        let tracker = Arc::new(Tracker::new(DATA));
        let (test, runner) = setup(tracker.clone()).await;
        let sink = Arc::new(Sink::default());
        let pause = Arc::new(Notify::new());
        *tracker.pause.lock().unwrap() = Some(pause.clone());
        let running = {
            let (runner, sink) = (runner.clone(), sink.clone());
            tokio::spawn(async move { run_issues(&runner, SyncMode::Full, &*sink).await })
        };
        while tracker.requests.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let host = test.host();
        if forgotten {
            host.checkpoints()
                .delete_checkpoints(&tenant(), &connection_id())
                .await
                .unwrap();
            host.connections()
                .delete_connection(&tenant(), &connection_id())
                .await
                .unwrap();
        } else {
            host.connections()
                .set_connection_status(
                    &tenant(),
                    &connection_id(),
                    ConnectionStatus::Revoked {
                        reason: "disconnected".into(),
                    },
                    host.clock().now(),
                )
                .await
                .unwrap();
        }
        let before = host
            .checkpoints()
            .load_checkpoint(&tenant(), &connection_id(), "issues")
            .await
            .unwrap();
        pause.notify_one();
        let err = running.await.unwrap().unwrap_err();
        let expected = if forgotten {
            "auth.connection_not_found"
        } else {
            "auth.connection_not_active"
        };
        assert_eq!(err.code(), expected);
        assert_eq!(*sink.writes.lock().unwrap(), 0);
        // No checkpoint saved since the pause: none at all for the forgotten connection.
        let after = host
            .checkpoints()
            .load_checkpoint(&tenant(), &connection_id(), "issues")
            .await
            .unwrap();
        assert_eq!(after, before);
        assert_eq!(after.is_none(), forgotten);
    }
}

#[tokio::test]
async fn a_disabled_target_does_not_sync() {
    let tracker = Arc::new(Tracker::new(DATA));
    let (test, runner) = setup(tracker).await;
    let mut target = test
        .host()
        .targets()
        .get_target(&tenant(), &TargetId::new("t").unwrap())
        .await
        .unwrap()
        .unwrap();
    target.enabled = false;
    test.host().targets().put_target(&target).await.unwrap();
    let sink = Sink::default();
    let err = run_issues(&runner, SyncMode::Full, &sink)
        .await
        .unwrap_err();
    // The code and kind every engine answers a disabled target with.
    assert_eq!(err.code(), "auth.target_disabled");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert_eq!(*sink.writes.lock().unwrap(), 0);
    assert!(sink.records.lock().unwrap().is_empty());
    assert!(
        test.host()
            .checkpoints()
            .load_checkpoint(&tenant(), &connection_id(), "issues")
            .await
            .unwrap()
            .is_none()
    );
}

/// Deleting a stream while a run holds it is refused and deletes nothing: the run would
/// write pages into the wiped stream, or move the checkpoint so its watermark stays over
/// an empty stream.
#[tokio::test]
async fn delete_is_refused_and_deletes_nothing_while_a_run_holds_the_stream() {
    let tracker = Arc::new(Tracker::new(DATA));
    let (test, runner) = setup(tracker.clone()).await;
    let sink = Arc::new(Sink::default());
    run_issues(&runner, SyncMode::Full, &*sink).await.unwrap();
    let synced = sink.records.lock().unwrap().len();
    assert!(synced > 0);
    let pause = Arc::new(Notify::new());
    *tracker.pause.lock().unwrap() = Some(pause.clone());
    let running = {
        let (runner, sink) = (runner.clone(), sink.clone());
        tokio::spawn(async move { run_issues(&runner, SyncMode::Incremental, &*sink).await })
    };
    let before = tracker.requests.lock().unwrap().len();
    while tracker.requests.lock().unwrap().len() == before {
        tokio::task::yield_now().await;
    }
    let refused = runner
        .delete(&tenant(), &connection_id(), "issues", &*sink)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "sync.lease_held");
    assert_eq!(
        sink.records.lock().unwrap().len(),
        synced,
        "nothing deleted"
    );
    pause.notify_one();
    running.await.unwrap().unwrap();

    runner
        .delete(&tenant(), &connection_id(), "issues", &*sink)
        .await
        .unwrap();
    assert!(sink.records.lock().unwrap().is_empty());
    let checkpoint = test
        .host()
        .checkpoints()
        .load_checkpoint(&tenant(), &connection_id(), "issues")
        .await
        .unwrap()
        .unwrap();
    assert!(checkpoint.watermark.is_none() && checkpoint.cursor.is_none());
}

/// A run stopped from outside (a signal) while it waits on the provider gives its lease
/// back at once: the next run starts without waiting for it to expire, and resumes.
#[tokio::test]
async fn a_stopped_run_releases_its_lease_and_the_next_one_resumes() {
    let tracker = Arc::new(Tracker::new(DATA));
    let (_test, runner) = setup(tracker.clone()).await;
    let pause = Arc::new(Notify::new());
    *tracker.pause.lock().unwrap() = Some(pause.clone());
    let sink = Sink::default();
    let stop = Arc::new(Notify::new());
    let (acme, connection) = (tenant(), connection_id());
    let signalled = stop.clone();
    let run = runner.run_until(
        &acme,
        &connection,
        "issues",
        SyncMode::Full,
        &sink,
        None,
        async move { signalled.notified().await },
    );
    let requests = tracker.clone();
    let signal = async move {
        while requests.requests.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        stop.notify_one();
    };
    let stopped = tokio::join!(run, signal).0;
    let error = stopped.unwrap_err();
    assert_eq!(error.code(), "sync.stopped");
    assert_eq!(
        *sink.writes.lock().unwrap(),
        0,
        "the cut page was not written"
    );
    // The lease is back: the next run starts now (no `sync.lease_held`) and completes.
    *tracker.pause.lock().unwrap() = None;
    let next = run_issues(&runner, SyncMode::Full, &sink).await.unwrap();
    assert!(next.complete);
    drop(pause);
}
