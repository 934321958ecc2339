//! The shipped sync sources, each stream end to end against its mock API through the
//! real reqwest client on loopback: full and incremental runs, deletes, a run killed
//! between pages and resumed, rate-limit pauses (the manual clock records the wait) and
//! revoked connections.

use std::sync::Arc;
use std::time::Duration;

use integrations_core::auth::{
    Authorizations, CompleteAuthorization, StartAuthorization, TokenManager,
};
use integrations_core::credential::CredentialSource;
use integrations_core::host::{Clock, ReqwestHttpClient};
use integrations_core::model::ConnectionScope;
use integrations_core::model::ConnectionStatus;
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::sync::{DEFAULT_LEASE_TTL, SyncMode, SyncReport, SyncRunner};
use integrations_core::{
    ConnectionId, ConnectionMethodId, Error, ErrorKind, Registry, TargetId, TenantId, Timestamp,
};
use integrations_definitions::github::auth::INSTALLATION_METHOD;
use integrations_testkit::mock::api::{
    FakeTokenManager, GitHubSyncApi, LinearSyncApi, SlackSyncApi, SyncFault,
};
use integrations_testkit::mock::oauth::GitHubMock;
use integrations_testkit::{MemoryRecordSink, TestHost};
use serde_json::{Value, json};

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn conn() -> ConnectionId {
    ConnectionId::new("c1").unwrap()
}

/// A host on loopback HTTP with one target and one API-key connection `c1`.
struct Env {
    test: TestHost,
    registry: Arc<Registry>,
    tokens: Arc<dyn CredentialSource>,
    sink: Arc<MemoryRecordSink>,
}

impl Env {
    /// A host with nothing stored yet; the mock API starts on its clock.
    fn start() -> Self {
        let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new().unwrap()));
        test.clock.set(Timestamp::from_unix_seconds(1_795_000_000));
        let tokens = Arc::new(FakeTokenManager::new(test.host().clone()));
        Self {
            test,
            registry: Arc::new(integrations_definitions::registry()),
            tokens,
            sink: Arc::new(MemoryRecordSink::new()),
        }
    }

    /// Stores the target and the API-key connection `c1`.
    async fn connect(
        self,
        key: &str,
        target_config: Value,
        field: &str,
        secret: &str,
        connection_config: Value,
    ) -> Self {
        let write = WriteService::new(self.registry.clone(), self.test.host().clone());
        write
            .put_target(
                TargetInput::new(
                    tenant(),
                    TargetId::new("target").unwrap(),
                    key.parse().unwrap(),
                )
                .with_config(target_config),
            )
            .await
            .unwrap();
        write
            .put_connection(
                ConnectionInput::new(
                    tenant(),
                    conn(),
                    TargetId::new("target").unwrap(),
                    ConnectionMethodId::new("api-key").unwrap(),
                )
                .with_config(connection_config)
                .with_secret(field, secret),
            )
            .await
            .unwrap();
        self
    }

    fn runner(&self) -> SyncRunner {
        SyncRunner::new(
            self.registry.clone(),
            self.test.host().clone(),
            self.tokens.clone(),
        )
        .with_sleeper(self.test.clock.clone())
    }

    async fn run(&self, stream: &str, mode: SyncMode) -> Result<SyncReport, Error> {
        self.runner()
            .run(&tenant(), &conn(), stream, mode, &*self.sink, None)
            .await
    }

    /// A run in `mode` that stops after `pages` pages (its checkpoint kept for the next).
    async fn run_pages(&self, stream: &str, mode: SyncMode, pages: u64) -> SyncReport {
        self.runner()
            .run(&tenant(), &conn(), stream, mode, &*self.sink, Some(pages))
            .await
            .unwrap()
    }

    async fn full(&self, stream: &str) -> SyncReport {
        let report = self.run(stream, SyncMode::Full).await.unwrap();
        assert!(report.complete, "{report:?}");
        report
    }

    async fn incremental(&self, stream: &str) -> SyncReport {
        let report = self.run(stream, SyncMode::Incremental).await.unwrap();
        assert!(report.complete, "{report:?}");
        report
    }

    /// Starts a full run in a task, waits until the mock holds its request of page
    /// `hung_call`, and kills the task there: between two checkpointed pages.
    async fn kill_during(&self, stream: &str, calls: impl Fn() -> u64, hung_call: u64) {
        self.kill_run_during(stream, SyncMode::Full, calls, hung_call)
            .await;
    }

    /// [`kill_during`](Self::kill_during) for a run in `mode`.
    async fn kill_run_during(
        &self,
        stream: &str,
        mode: SyncMode,
        calls: impl Fn() -> u64,
        hung_call: u64,
    ) {
        let runner = self.runner();
        let sink = self.sink.clone();
        let stream_name = stream.to_owned();
        let task = tokio::spawn(async move {
            runner
                .run(&tenant(), &conn(), &stream_name, mode, &*sink, None)
                .await
        });
        for _ in 0..500 {
            if calls() >= hung_call {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(calls(), hung_call, "the run did not reach the hung page");
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
    }

    /// Replaces the connection's config (as a host editing it would).
    async fn set_connection_config(&self, config: Value) {
        let connections = self.test.host().connections();
        let mut connection = connections
            .get_connection(&tenant(), &conn())
            .await
            .unwrap()
            .unwrap();
        connection.config = config;
        connections.put_connection(&connection).await.unwrap();
    }

    async fn watermark(&self, stream: &str) -> Option<String> {
        self.test
            .host()
            .checkpoints()
            .load_checkpoint(&tenant(), &conn(), stream)
            .await
            .unwrap()
            .and_then(|c| c.watermark)
    }

    async fn status(&self) -> ConnectionStatus {
        self.test
            .host()
            .connections()
            .get_connection(&tenant(), &conn())
            .await
            .unwrap()
            .unwrap()
            .status
    }

    async fn disable_target(&self) {
        let host = self.test.host();
        let mut target = host
            .targets()
            .get_target(&tenant(), &TargetId::new("target").unwrap())
            .await
            .unwrap()
            .unwrap();
        target.enabled = false;
        host.targets().put_target(&target).await.unwrap();
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

// ---------------------------------------------------------------- Linear

const LINEAR_STREAMS: &[&str] = &["issues", "comments", "projects"];

async fn linear() -> (LinearSyncApi, Env) {
    let env = Env::start();
    let api = LinearSyncApi::start(env.test.clock.clone()).await;
    api.accept_api_key("lin_api_sync_key");
    let env = env
        .connect(
            "linear::linear-default",
            json!({"api_base_url": api.base_url()}),
            "api_key",
            "lin_api_sync_key",
            json!({}),
        )
        .await;
    (api, env)
}

/// Whether a request is Linear's `teams` query (each run lists the teams first).
fn is_teams_query(request: &integrations_testkit::mock::api::Recorded) -> bool {
    request.json()["query"]
        .as_str()
        .is_some_and(|q| q.contains("teams(first: $first"))
}

/// The variables of the record queries sent so far (the `teams` queries left out).
fn linear_variables(api: &LinearSyncApi) -> Vec<Value> {
    api.requests()
        .iter()
        .filter(|r| !is_teams_query(r))
        .map(|r| r.json()["variables"].clone())
        .collect()
}

#[tokio::test]
async fn linear_full_then_incremental_for_every_stream() {
    for stream in LINEAR_STREAMS {
        let (api, env) = linear().await;
        let ids = api.add(stream, 120);
        let report = env.full(stream).await;
        assert_eq!((report.pages, report.records), (3, 120), "{stream}");
        assert_eq!(sorted(env.sink.ids(stream)), sorted(ids.clone()));
        let sent = linear_variables(&api);
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[0]["after"], Value::Null);
        assert_eq!(sent[0]["first"], 50);
        assert_eq!(sent[0]["filter"], Value::Null);
        assert_eq!(sent[0]["includeArchived"], true);
        assert_eq!(sent[1]["after"], json!(ids[49]));
        assert_eq!(sent[2]["after"], json!(ids[99]));
        // The run listed the teams first, then read the pages; the API key goes in
        // `Authorization` without a scheme.
        let requests = api.requests();
        assert!(is_teams_query(&requests[0]));
        assert_eq!(
            requests[0].json()["variables"],
            json!({"first": 250, "after": null})
        );
        assert_eq!(requests.len(), 4);
        assert_eq!(
            requests[0].header("authorization"),
            Some("lin_api_sync_key")
        );

        api.update(stream, &ids[3], "changed");
        let added = api.add(stream, 1);
        let report = env.incremental(stream).await;
        assert_eq!((report.pages, report.records), (1, 2), "{stream}");
        let sent = linear_variables(&api);
        let watermark = sent.last().unwrap()["filter"]["updatedAt"]["gt"].clone();
        // The watermark is the newest `updatedAt` of the full run.
        assert_eq!(
            env.sink.record(stream, &ids[119]).unwrap()["updatedAt"],
            watermark
        );
        assert_eq!(env.sink.ids(stream).len(), 121);
        assert!(env.sink.record(stream, &added[0]).is_some());
        let changed = env.sink.record(stream, &ids[3]).unwrap();
        let title = ["title", "body", "name"]
            .iter()
            .find_map(|f| changed.get(*f))
            .unwrap();
        assert_eq!(title, "changed");

        // Nothing changed: an incremental run reads one empty page.
        let report = env.incremental(stream).await;
        assert_eq!((report.pages, report.records), (1, 0));
    }
}

#[tokio::test]
async fn linear_archived_and_trashed_records_are_deleted() {
    for stream in LINEAR_STREAMS {
        let (api, env) = linear().await;
        let ids = api.add(stream, 5);
        env.full(stream).await;
        api.archive(stream, &ids[1]);
        if *stream == "issues" {
            api.trash(&ids[2]);
        }
        let report = env.incremental(stream).await;
        let gone: usize = if *stream == "issues" { 2 } else { 1 };
        assert_eq!(report.deleted, gone as u64, "{stream}");
        assert_eq!(env.sink.ids(stream).len(), 5 - gone);
        assert!(env.sink.record(stream, &ids[1]).is_none());
        // A full run from scratch leaves archived records out too.
        let fresh = MemoryRecordSink::new();
        env.runner()
            .delete(&tenant(), &conn(), stream, &fresh)
            .await
            .unwrap();
        env.runner()
            .run(&tenant(), &conn(), stream, SyncMode::Full, &fresh, None)
            .await
            .unwrap();
        assert_eq!(fresh.ids(stream).len(), 5 - gone);
    }
}

#[tokio::test]
async fn linear_run_killed_between_pages_resumes_without_duplicates_or_gaps() {
    for stream in LINEAR_STREAMS {
        let (api, env) = linear().await;
        let ids = api.add(stream, 120);
        // Page 1 is written; the request for page 2 never returns (after the teams
        // query and page 1: the third call); the task is killed.
        api.fail_after_pages(1, SyncFault::Hang);
        env.kill_during(stream, || api.calls(), 3).await;
        assert_eq!(env.sink.ids(stream).len(), 50);
        api.heal();

        // The dead run's lease holds the stream until it expires.
        let held = env.run(stream, SyncMode::Full).await.unwrap_err();
        assert_eq!(held.code(), "sync.lease_held");
        env.test.clock.advance(DEFAULT_LEASE_TTL);

        let before = api.requests().len();
        let report = env.full(stream).await;
        assert_eq!((report.pages, report.records), (2, 70), "{stream}");
        // The resumed run starts after the last checkpointed page.
        assert_eq!(
            api.requests()[before].json()["variables"]["after"],
            json!(ids[49])
        );
        assert_eq!(sorted(env.sink.ids(stream)), sorted(ids));
        assert!(env.sink.written_twice().is_empty());
    }
}

/// An incremental run killed while it reads a newcomer team in full resumes there: the
/// team's remaining pages with the team filter, then the changes.
#[tokio::test]
async fn linear_a_run_killed_while_reading_a_new_team_resumes_it() {
    let (api, env) = linear().await;
    let ops = api.add_to_team("issues", "team-ops", 120);
    let eng = api.add("issues", 10);
    env.full("issues").await;
    api.set_team_access("team-ops", true);
    // The teams query, the newcomer's page 1, then its page 2 never returns.
    api.fail_after_pages(1, SyncFault::Hang);
    let earlier = api.calls();
    env.kill_run_during("issues", SyncMode::Incremental, || api.calls() - earlier, 3)
        .await;
    api.heal();
    env.test.clock.advance(DEFAULT_LEASE_TTL);
    assert_eq!(env.sink.ids("issues").len(), 60);

    let before = api.requests().len();
    let report = env.incremental("issues").await;
    assert_eq!((report.pages, report.records), (3, 70));
    let resumed = api.requests()[before].json();
    assert_eq!(resumed["variables"]["after"], json!(ops[49]));
    assert_eq!(
        resumed["variables"]["filter"],
        json!({"team": {"id": {"in": ["team-ops"]}}})
    );
    assert_eq!(sorted(env.sink.ids("issues")), sorted([ops, eng].concat()));
    // The completed run recorded the team as read.
    let report = env.incremental("issues").await;
    assert_eq!((report.pages, report.records), (1, 0));
}

/// Kills a full `issues` run while it waits on its second page, lets its lease expire,
/// and returns the checkpoint it left (its first page written).
async fn linear_checkpoint_of_a_killed_run(
    api: &LinearSyncApi,
    env: &Env,
) -> integrations_core::model::SyncCheckpoint {
    api.fail_after_pages(1, SyncFault::Hang);
    env.kill_during("issues", || api.calls(), 3).await;
    api.heal();
    env.test.clock.advance(DEFAULT_LEASE_TTL);
    env.test
        .host()
        .checkpoints()
        .load_checkpoint(&tenant(), &conn(), "issues")
        .await
        .unwrap()
        .expect("the killed run's checkpoint")
}

/// A run saved by a release whose cursor was Linear's own (the last node's id) resumes by
/// starting its pages over: the cursor is refused as `sync.invalid_cursor`, not sent.
#[tokio::test]
async fn linear_a_cursor_saved_before_the_team_listing_starts_the_pages_over() {
    let (api, env) = linear().await;
    let ids = api.add("issues", 120);
    let mut checkpoint = linear_checkpoint_of_a_killed_run(&api, &env).await;
    let checkpoints = env.test.host().checkpoints();
    assert!(checkpoint.cursor.as_deref().unwrap().starts_with('{'));
    checkpoint.cursor = Some(ids[49].clone());
    checkpoints.save_checkpoint(&checkpoint).await.unwrap();

    let before = api.requests().len();
    let report = env.full("issues").await;
    assert_eq!((report.pages, report.records), (3, 120));
    let sent = &api.requests()[before..];
    assert!(
        is_teams_query(&sent[0]),
        "no record query carried the old cursor"
    );
    assert_eq!(sent[1].json()["variables"]["after"], Value::Null);
    assert_eq!(sorted(env.sink.ids("issues")), sorted(ids));
}

/// A saved cursor Linear refuses (its record purged since, say) answers `INPUT_ERROR`
/// at HTTP 400: the resumed run reads its pages from the start instead of failing at
/// that cursor on every run.
#[tokio::test]
async fn linear_a_saved_cursor_linear_refuses_starts_the_pages_over() {
    let (api, env) = linear().await;
    let ids = api.add("issues", 120);
    let mut checkpoint = linear_checkpoint_of_a_killed_run(&api, &env).await;
    let checkpoints = env.test.host().checkpoints();
    let mut cursor: Value = serde_json::from_str(checkpoint.cursor.as_deref().unwrap()).unwrap();
    assert!(cursor["after"].is_string(), "{cursor}");
    cursor["after"] = json!("5ea3bf86-0000-4000-8000-00000000dead");
    checkpoint.cursor = Some(cursor.to_string());
    checkpoints.save_checkpoint(&checkpoint).await.unwrap();

    let before = api.requests().len();
    let report = env.full("issues").await;
    assert_eq!(report.records, 120, "{report:?}");
    let sent: Vec<Value> = api.requests()[before..]
        .iter()
        .filter(|r| !is_teams_query(r))
        .map(|r| r.json()["variables"].clone())
        .collect();
    assert_eq!(sent[0]["after"], "5ea3bf86-0000-4000-8000-00000000dead");
    assert_eq!(sent[1]["after"], Value::Null);
    assert_eq!(sorted(env.sink.ids("issues")), sorted(ids));
}

#[tokio::test]
async fn linear_rate_limits_pause_until_the_reset_then_continue() {
    for stream in LINEAR_STREAMS {
        let (api, env) = linear().await;
        api.add(stream, 120);
        // The request limit on page 2, the complexity limit on page 3.
        api.fail_after_pages(1, SyncFault::RateLimited(Duration::from_millis(30_250)));
        let first = env.run_pages(stream, SyncMode::Full, 2).await;
        assert_eq!(first.rate_limit_waits, 1);
        api.fail_next(1, SyncFault::SecondaryLimit(Duration::from_secs(45)));
        let second = env.full(stream).await;
        assert_eq!(second.rate_limit_waits, 1);
        assert_eq!(second.waited_ms, 45_000);
        // The pauses were exactly the resets the provider gave, through the clock.
        assert_eq!(
            env.test.clock.sleeps(),
            vec![Duration::from_millis(30_250), Duration::from_secs(45)]
        );
        assert_eq!(env.sink.ids(stream).len(), 120);
        assert!(env.sink.written_twice().is_empty());
    }
}

/// A wait longer than a run pauses for (a skewed reset header, a `Retry-After` of days)
/// ends the run at once with the provider's error and its wait, its checkpoint kept and
/// the stream's lease released, rather than sleeping with the stream locked.
#[tokio::test]
async fn a_rate_limit_wait_of_days_ends_the_run_instead_of_sleeping() {
    let (api, env) = linear().await;
    api.add("issues", 120);
    let days = Duration::from_secs(30 * 86_400);
    api.fail_after_pages(1, SyncFault::RateLimited(days));
    let err = env.run("issues", SyncMode::Full).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert!(
        err.retry_after()
            .is_some_and(|wait| wait > Duration::from_secs(86_400))
    );
    assert!(
        env.test.clock.sleeps().is_empty(),
        "{:?}",
        env.test.clock.sleeps()
    );
    assert_eq!(env.sink.ids("issues").len(), 50, "the first page is kept");
    // The next run goes on from the saved page, at once (no lease left held).
    let report = env.full("issues").await;
    assert_eq!(env.sink.ids("issues").len(), 120, "{report:?}");
    assert!(env.sink.written_twice().is_empty());
}

#[tokio::test]
async fn linear_revoked_connection_stops_the_run_and_marks_it() {
    for stream in LINEAR_STREAMS {
        let (api, env) = linear().await;
        api.add(stream, 3);
        let done = env.full(stream).await;
        api.tokens().revoke_all();
        api.add(stream, 2);
        let err = env.run(stream, SyncMode::Incremental).await.unwrap_err();
        assert_eq!(err.code(), "sync.credential_rejected");
        assert!(!format!("{err:?}").contains("lin_api_sync_key"));
        assert!(matches!(env.status().await, ConnectionStatus::Error { .. }));
        // Nothing synced was lost, and the next run after reconnecting starts there.
        assert_eq!(env.sink.ids(stream).len(), 3);
        let checkpoint = env
            .test
            .host()
            .checkpoints()
            .load_checkpoint(&tenant(), &conn(), stream)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(checkpoint.watermark, done.watermark);
        // The connection is not active any more: the next run refuses to start.
        let again = env.run(stream, SyncMode::Incremental).await.unwrap_err();
        assert_eq!(again.code(), "auth.connection_not_active");
    }
}

/// A team the token gains access to after the last full run (a private team its user
/// joined) is read in full by the next incremental run: its records changed before the
/// watermark were never read. Losing access forgets it, so regaining it reads it again.
#[tokio::test]
async fn linear_a_team_the_token_gains_is_read_in_full_by_the_next_incremental_run() {
    for stream in LINEAR_STREAMS {
        let (api, env) = linear().await;
        // Older than everything the full run reads, so older than its watermark.
        let ops = api.add_to_team(stream, "team-ops", 55);
        let eng = api.add(stream, 60);
        let report = env.full(stream).await;
        assert_eq!(report.records, 60, "{stream}");

        api.set_team_access("team-ops", true);
        let changed = api.add(stream, 1);
        let before = api.requests().len();
        let report = env.incremental(stream).await;
        // The newcomer's records on two pages, then the one change.
        assert_eq!((report.pages, report.records), (3, 56), "{stream}");
        assert_eq!(
            sorted(env.sink.ids(stream)),
            sorted([eng, ops, changed].concat())
        );
        let filters: Vec<Value> = api.requests()[before..]
            .iter()
            .filter(|r| !is_teams_query(r))
            .map(|r| r.json()["variables"]["filter"].clone())
            .collect();
        let team = json!({"id": {"in": ["team-ops"]}});
        let newcomer = match *stream {
            "issues" => json!({"team": team}),
            "comments" => json!({"issue": {"team": team}}),
            _ => json!({"accessibleTeams": {"some": team}}),
        };
        assert_eq!(filters.len(), 3, "{filters:?}");
        assert_eq!(filters[0], newcomer);
        assert_eq!(filters[1], newcomer);
        assert!(filters[2]["updatedAt"]["gt"].is_string(), "{filters:?}");

        // Read in full once: the next run reads only the changes.
        let report = env.incremental(stream).await;
        assert_eq!((report.pages, report.records), (1, 0), "{stream}");

        // Access lost, then regained: the team is read in full again.
        api.set_team_access("team-ops", false);
        env.incremental(stream).await;
        api.set_team_access("team-ops", true);
        let report = env.incremental(stream).await;
        assert_eq!((report.pages, report.records), (3, 55), "{stream}");
        assert!(env.sink.written_twice().len() >= 55);
    }
}

#[tokio::test]
async fn a_disabled_target_does_not_sync() {
    let (api, env) = linear().await;
    api.add("issues", 3);
    env.disable_target().await;
    let err = env.run("issues", SyncMode::Full).await.unwrap_err();
    assert_eq!(err.code(), "auth.target_disabled");
    assert!(api.requests().is_empty());
}

#[tokio::test]
async fn an_unknown_stream_is_refused() {
    let (api, env) = linear().await;
    let err = env.run("cycles", SyncMode::Full).await.unwrap_err();
    assert_eq!(err.code(), "sync.unsupported");
    assert!(api.requests().is_empty());
    let _ = env.test.clock.now();
}

// ---------------------------------------------------------------- GitHub

const GITHUB_STREAMS: &[&str] = &["issues", "pull_requests"];

async fn github(enterprise: bool) -> (GitHubSyncApi, Env) {
    let env = Env::start();
    let (api, key, target) = if enterprise {
        let api = GitHubSyncApi::enterprise_server(env.test.clock.clone()).await;
        let target = json!({"web_base_url": api.server_url()});
        (api, "github::github-enterprise-server", target)
    } else {
        let api = GitHubSyncApi::cloud(env.test.clock.clone()).await;
        let target = json!({"api_base_url": api.base_url()});
        (api, "github::github-cloud", target)
    };
    api.accept_token("ghp_sync_token");
    api.create_repo("octo/app");
    api.create_repo("octo/lib");
    let env = env
        .connect(
            key,
            target,
            "token",
            "ghp_sync_token",
            json!({"sync_repositories": ["octo/app", "octo/lib"]}),
        )
        .await;
    (api, env)
}

/// `octo/app`: 130 issues and 20 pull requests, interleaved; `octo/lib`: 5 of each.
fn seed(api: &GitHubSyncApi) {
    for _ in 0..10 {
        api.add("octo/app", 13, false);
        api.add("octo/app", 2, true);
    }
    api.add("octo/lib", 5, false);
    api.add("octo/lib", 5, true);
}

fn github_ids(repo: &str, numbers: &[u64]) -> Vec<String> {
    numbers.iter().map(|n| format!("{repo}#{n}")).collect()
}

/// The first request `api` received after its first `before` that `matches`.
fn first_after(
    requests: Vec<integrations_testkit::mock::api::Recorded>,
    before: usize,
    matches: impl Fn(&integrations_testkit::mock::api::Recorded) -> bool,
) -> integrations_testkit::mock::api::Recorded {
    requests
        .into_iter()
        .skip(before)
        .find(|r| matches(r))
        .expect("a matching request")
}

fn query<'a>(r: &'a integrations_testkit::mock::api::Recorded, name: &str) -> Option<&'a str> {
    r.query_param(name)
}

#[tokio::test]
async fn github_full_then_incremental_for_both_streams_on_cloud_and_server() {
    for enterprise in [false, true] {
        for stream in GITHUB_STREAMS {
            let pulls = *stream == "pull_requests";
            let (api, env) = github(enterprise).await;
            seed(&api);
            let report = env.full(stream).await;
            let (pages, records): (u64, usize) = if pulls { (2, 25) } else { (3, 135) };
            assert_eq!(
                (report.pages, report.records),
                (pages, records as u64),
                "{stream}"
            );
            assert_eq!(env.sink.ids(stream).len(), records);
            // Issues and pull requests share numbers: the issues stream holds no pull
            // request, and the other way round.
            assert!(env.sink.record(stream, "octo/app#14").is_some() == pulls);
            assert!(env.sink.record(stream, "octo/app#1").is_some() != pulls);
            let sent = api.requests();
            let first = &sent[0];
            let list = if pulls { "pulls" } else { "issues" };
            let prefix = if enterprise { "/api/v3" } else { "" };
            assert_eq!(first.path, format!("{prefix}/repos/octo/app/{list}"));
            assert_eq!(query(first, "state"), Some("all"));
            assert_eq!(query(first, "per_page"), Some("100"));
            assert_eq!(query(first, "sort"), Some("created"));
            assert_eq!(query(first, "direction"), Some("asc"));
            assert_eq!(first.header("authorization"), Some("Bearer ghp_sync_token"));
            assert_eq!(first.header("x-github-api-version"), Some("2022-11-28"));
            assert!(first.header("user-agent").is_some());
            if !pulls {
                // The second page is the `Link` header's next URL, verbatim.
                assert_eq!(query(&sent[1], "page"), Some("2"));
            }

            // Changes: an edit and a close in app, a new item in lib.
            let (edited, closed) = if pulls { (14, 15) } else { (1, 2) };
            api.update("octo/app", edited, "changed");
            api.close("octo/app", closed);
            let added = api.add("octo/lib", 1, pulls);
            let watermark = env.watermark(stream).await;
            let before = api.requests().len();
            let report = env.incremental(stream).await;
            assert!(report.records >= 3, "{report:?}");
            let asked = &api.requests()[before];
            if pulls {
                assert_eq!(query(asked, "sort"), Some("updated"));
                assert_eq!(query(asked, "direction"), Some("desc"));
                assert_eq!(query(asked, "since"), None);
            } else {
                assert_eq!(query(asked, "sort"), Some("updated"));
                assert_eq!(query(asked, "since"), watermark.as_deref());
            }
            let id = format!("octo/app#{edited}");
            assert_eq!(env.sink.record(stream, &id).unwrap()["title"], "changed");
            let id = format!("octo/app#{closed}");
            assert_eq!(env.sink.record(stream, &id).unwrap()["state"], "closed");
            assert!(
                env.sink
                    .record(stream, &github_ids("octo/lib", &added)[0])
                    .is_some()
            );
            assert_eq!(env.sink.ids(stream).len(), records + 1);

            // Nothing changes any more: after one more read, the first pages come back
            // `304 Not Modified`, which cost no rate limit.
            env.incremental(stream).await;
            let used = api.rate_limit_used();
            let unchanged = api.not_modified();
            let report = env.incremental(stream).await;
            assert_eq!(report.records, 0, "{stream}: {report:?}");
            assert_eq!(api.not_modified(), unchanged + 2, "{stream}");
            assert_eq!(api.rate_limit_used(), used, "{stream}");
        }
    }
}

#[tokio::test]
async fn github_closes_are_changes_and_deletions_are_not_detected() {
    let (api, env) = github(false).await;
    seed(&api);
    env.full("issues").await;
    api.close("octo/app", 1);
    api.delete("octo/app", 3);
    let report = env.incremental("issues").await;
    assert_eq!(report.deleted, 0);
    assert_eq!(
        env.sink.record("issues", "octo/app#1").unwrap()["state"],
        "closed"
    );
    // GitHub lists no tombstones: the deleted issue stays until a fresh full run.
    assert!(env.sink.record("issues", "octo/app#3").is_some());
    env.runner()
        .delete(&tenant(), &conn(), "issues", &*env.sink)
        .await
        .unwrap();
    env.full("issues").await;
    assert!(env.sink.record("issues", "octo/app#3").is_none());
    assert_eq!(env.sink.ids("issues").len(), 134);
}

#[tokio::test]
async fn github_run_killed_between_pages_resumes_without_duplicates_or_gaps() {
    for stream in GITHUB_STREAMS {
        let pulls = *stream == "pull_requests";
        let (api, env) = github(false).await;
        let numbers = api.add("octo/app", 250, pulls);
        api.fail_after_pages(1, SyncFault::Hang);
        env.kill_during(stream, || api.calls(), 2).await;
        assert_eq!(env.sink.ids(stream).len(), 100);
        api.heal();
        let held = env.run(stream, SyncMode::Full).await.unwrap_err();
        assert_eq!(held.code(), "sync.lease_held");
        env.test.clock.advance(DEFAULT_LEASE_TTL);
        let before = api.requests().len();
        let report = env.full(stream).await;
        // Pages 2 and 3 of octo/app, then octo/lib's one (empty) page.
        assert_eq!((report.pages, report.records), (3, 150), "{stream}");
        assert_eq!(query(&api.requests()[before], "page"), Some("2"));
        assert_eq!(
            sorted(env.sink.ids(stream)),
            sorted(github_ids("octo/app", &numbers))
        );
        assert!(env.sink.written_twice().is_empty());
    }
}

/// A run resumed after `sync_repositories` was edited (here reordered) refuses its saved
/// cursor, whose position would now name another repository, and reads its pages from
/// the start: no record is filed under the wrong repository and none is skipped.
#[tokio::test]
async fn github_a_run_resumed_after_the_repository_list_changed_starts_its_pages_over() {
    let (api, env) = github(false).await;
    let app = api.add("octo/app", 250, false);
    let lib = api.add("octo/lib", 3, false);
    api.fail_after_pages(1, SyncFault::Hang);
    env.kill_during("issues", || api.calls(), 2).await;
    assert_eq!(env.sink.ids("issues").len(), 100);
    api.heal();
    env.set_connection_config(json!({"sync_repositories": ["octo/lib", "octo/app"]}))
        .await;
    env.test.clock.advance(DEFAULT_LEASE_TTL);
    let before = api.requests().len();

    let report = env.full("issues").await;
    assert_eq!((report.pages, report.records), (4, 253));
    let first = &api.requests()[before];
    assert_eq!(first.path, "/repos/octo/lib/issues");
    assert_eq!(query(first, "page"), None);
    let mut expected = github_ids("octo/app", &app);
    expected.extend(github_ids("octo/lib", &lib));
    assert_eq!(sorted(env.sink.ids("issues")), sorted(expected));
    let record = env
        .sink
        .record("issues", &format!("octo/app#{}", app[150]))
        .unwrap();
    assert_eq!(record["repository"], "octo/app");
}

/// A repository added to `sync_repositories` after the last full run is read in full by
/// the next incremental run (its changes before the watermark were never read), then
/// incrementally like the others.
#[tokio::test]
async fn github_a_repository_added_to_the_list_is_read_in_full_by_the_next_incremental_run() {
    for stream in GITHUB_STREAMS {
        let pulls = *stream == "pull_requests";
        let (api, env) = github(false).await;
        api.create_repo("octo/new");
        // Changed before anything the first run reads: older than its watermark.
        let older = api.add("octo/new", 30, pulls);
        seed(&api);
        env.full(stream).await;
        env.set_connection_config(
            json!({"sync_repositories": ["octo/app", "octo/lib", "octo/new"]}),
        )
        .await;

        let before = api.requests().len();
        // GitHub's `since` is inclusive: the newest record of the last run comes again.
        let report = env.incremental(stream).await;
        assert!(report.records >= 30, "{stream}: {report:?}");
        let asked = first_after(api.requests(), before, |r| {
            r.path.starts_with("/repos/octo/new/")
        });
        assert_eq!(query(&asked, "since"), None, "{stream}");
        assert_eq!(query(&asked, "sort"), Some("created"), "{stream}");
        let ids = env.sink.ids(stream);
        for id in github_ids("octo/new", &older) {
            assert!(ids.contains(&id), "{stream}: {id} was not read");
        }

        // Read once in full: from now on it is read incrementally like the others.
        let newest = api.add("octo/new", 1, pulls);
        let before = api.requests().len();
        env.incremental(stream).await;
        assert!(
            env.sink
                .ids(stream)
                .contains(&github_ids("octo/new", &newest)[0])
        );
        let asked = first_after(api.requests(), before, |r| {
            r.path.starts_with("/repos/octo/new/")
        });
        assert_eq!(query(&asked, "sort"), Some("updated"), "{stream}");
        if !pulls {
            assert!(query(&asked, "since").is_some());
        }
    }
}

/// A full run interrupted after it read a repository in full, then resumed (in a new
/// process: a resumed run starts from the source state of the last completed run):
/// the repository still counts as read, so the next incremental run reads it from the
/// watermark, not in full again.
#[tokio::test]
async fn github_a_repository_read_before_an_interruption_counts_as_read() {
    for stream in GITHUB_STREAMS {
        let (api, env) = github(false).await;
        seed(&api);
        // octo/app's pages: 2 of issues, 1 of pull requests.
        let app_pages = if *stream == "pull_requests" { 1 } else { 2 };
        let first = env.run_pages(stream, SyncMode::Full, app_pages).await;
        assert!(!first.complete, "{stream}");
        assert!(env.full(stream).await.complete, "{stream}");

        let before = api.requests().len();
        env.incremental(stream).await;
        let asked = first_after(api.requests(), before, |r| {
            r.path.starts_with("/repos/octo/app/")
        });
        assert_eq!(query(&asked, "sort"), Some("updated"), "{stream}");
        if *stream == "issues" {
            assert!(query(&asked, "since").is_some(), "{stream}");
        }
    }
}

/// A 403 that is not a rate limit names the repository and GitHub's reason, with a
/// code of its own (the run stops there, as for a missing repository).
#[tokio::test]
async fn github_a_repository_the_token_may_not_read_is_named_with_githubs_reason() {
    let (api, env) = github(false).await;
    seed(&api);
    api.forbid("octo/lib", "Resource not accessible by integration");
    let error = env.run("issues", SyncMode::Full).await.unwrap_err();
    assert_eq!(error.code(), "sync.repository_forbidden", "{error}");
    let message = error.to_string();
    assert!(message.contains("octo/lib"), "{message}");
    assert!(
        message.contains("Resource not accessible by integration"),
        "{message}"
    );
    // What came before it was written; the next run goes on from octo/lib.
    assert_eq!(env.sink.ids("issues").len(), 130);
}

#[tokio::test]
async fn github_primary_and_secondary_limits_pause_for_what_github_says() {
    for stream in GITHUB_STREAMS {
        let pulls = *stream == "pull_requests";
        let (api, env) = github(false).await;
        api.add("octo/app", 250, pulls);
        api.fail_after_pages(1, SyncFault::RateLimited(Duration::from_secs(120)));
        let report = env.run_pages(stream, SyncMode::Full, 2).await;
        assert_eq!(report.rate_limit_waits, 1);
        api.fail_next(1, SyncFault::SecondaryLimit(Duration::from_secs(30)));
        let report = env.full(stream).await;
        assert_eq!(report.waited_ms, 30_000);
        assert_eq!(
            env.test.clock.sleeps(),
            vec![Duration::from_secs(120), Duration::from_secs(30)]
        );
        assert_eq!(env.sink.ids(stream).len(), 250);
        assert!(env.sink.written_twice().is_empty());
    }
}

/// GitHub: "If your request continues to fail due to a secondary rate limit, wait for an
/// exponentially increasing amount of time between retries." Secondary limits in a row
/// double the pause each time (the first is GitHub's `retry-after`); a page fetched
/// resets it; too many in a row end the run with GitHub's limit, its checkpoint kept.
#[tokio::test]
async fn github_secondary_limits_in_a_row_back_off_then_end_the_run() {
    let (api, env) = github(false).await;
    api.add("octo/app", 250, false);
    api.fail_next(4, SyncFault::SecondaryLimit(Duration::from_secs(60)));
    api.fail_after_pages(1, SyncFault::SecondaryLimit(Duration::from_secs(60)));
    let report = env.full("issues").await;
    assert_eq!(report.rate_limit_waits, 5);
    let secs: Vec<u64> = env
        .test
        .clock
        .sleeps()
        .iter()
        .map(Duration::as_secs)
        .collect();
    assert_eq!(
        secs,
        [60, 120, 240, 480, 60],
        "the page between them reset the back-off"
    );
    assert_eq!(env.sink.ids("issues").len(), 250);

    let (api, env) = github(false).await;
    api.add("octo/app", 250, false);
    let first = env.run_pages("issues", SyncMode::Full, 1).await;
    assert_eq!(first.pages, 1);
    // Eight limits in a row are waited out; the ninth ends the run.
    api.fail_next(9, SyncFault::SecondaryLimit(Duration::from_secs(60)));
    let err = env.run("issues", SyncMode::Full).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err:?}");
    let secs: Vec<u64> = env
        .test
        .clock
        .sleeps()
        .iter()
        .map(Duration::as_secs)
        .collect();
    assert_eq!(secs, [60, 120, 240, 480, 900, 900, 900, 900]);
    // The run's lease is given back and its checkpoint kept: the next run resumes after
    // the page already written, never writing it again.
    let report = env.full("issues").await;
    assert_eq!(env.sink.ids("issues").len(), 250, "{report:?}");
    assert!(env.sink.written_twice().is_empty(), "{report:?}");
}

#[tokio::test]
async fn github_revoked_token_stops_the_run_and_marks_the_connection() {
    for stream in GITHUB_STREAMS {
        let (api, env) = github(true).await;
        seed(&api);
        env.full(stream).await;
        api.tokens().revoke_all();
        let err = env.run(stream, SyncMode::Incremental).await.unwrap_err();
        assert_eq!(err.code(), "sync.credential_rejected");
        assert!(!format!("{err:?}").contains("ghp_sync_token"));
        assert!(matches!(env.status().await, ConnectionStatus::Error { .. }));
        assert!(!env.sink.ids(stream).is_empty());
    }
}

#[tokio::test]
async fn github_without_repositories_says_what_to_set() {
    let env = Env::start();
    let api = GitHubSyncApi::cloud(env.test.clock.clone()).await;
    let env = env
        .connect(
            "github::github-cloud",
            json!({"api_base_url": api.base_url()}),
            "token",
            "ghp_sync_token",
            json!({}),
        )
        .await;
    let err = env.run("issues", SyncMode::Full).await.unwrap_err();
    assert_eq!(err.code(), "sync.no_repositories");
    assert!(api.requests().is_empty());
}

/// A repository of the list that was renamed or transferred is not followed (its records
/// would be filed under the old name), and one GitHub does not know (a typo, or access
/// lost) is not skipped in silence: either stops the run with a code naming the
/// repository. What was read before stays, and the corrected list syncs.
#[tokio::test]
async fn github_a_moved_or_missing_repository_is_named_in_the_error() {
    for stream in ["issues", "pull_requests"] {
        let (api, env) = github(false).await;
        let pulls = stream == "pull_requests";
        let app = api.add("octo/app", 3, pulls);
        let lib = api.add("octo/lib", 2, pulls);
        api.move_repo("octo/lib", "octo/core");
        let err = env.run(stream, SyncMode::Full).await.unwrap_err();
        assert_eq!(err.code(), "sync.repository_moved", "{stream}");
        assert_eq!(err.kind(), ErrorKind::Configuration);
        assert!(err.message().contains("octo/lib"), "{}", err.message());
        assert_eq!(
            sorted(env.sink.ids(stream)),
            sorted(github_ids("octo/app", &app))
        );

        // With the new name, the run starts its pages over on the new list.
        env.set_connection_config(json!({"sync_repositories": ["octo/app", "octo/core"]}))
            .await;
        let report = env.full(stream).await;
        assert_eq!(report.records, 5, "{stream}");
        assert!(
            env.sink
                .ids(stream)
                .contains(&github_ids("octo/core", &lib)[0])
        );

        env.set_connection_config(json!({"sync_repositories": ["octo/app", "octo/nope"]}))
            .await;
        let err = env.run(stream, SyncMode::Incremental).await.unwrap_err();
        assert_eq!(err.code(), "sync.repository_not_found", "{stream}");
        assert_eq!(err.kind(), ErrorKind::Configuration);
        assert!(err.message().contains("octo/nope"), "{}", err.message());
    }
}

// ------------------------------------------------- GitHub App installations

impl Env {
    /// Stores a `github::github-cloud` target on `app`, connects `c1` through the auth
    /// engine with `method` (the App mock plays the user: `consent` takes the redirect
    /// URL and answers the callback query), and syncs through the real token manager.
    async fn connect_github_through_flow(
        mut self,
        app: &GitHubMock,
        method: &str,
        consent: impl FnOnce(&str) -> String,
    ) -> (Self, integrations_core::model::Connection) {
        const CALLBACK: &str = "https://app.example.com/github/callback";
        WriteService::new(self.registry.clone(), self.test.host().clone())
            .put_target(
                TargetInput::new(
                    tenant(),
                    TargetId::new("target").unwrap(),
                    "github::github-cloud".parse().unwrap(),
                )
                .with_config(app.target_config())
                .with_secrets(app.target_secrets()),
            )
            .await
            .unwrap();
        let auth = Authorizations::new(self.registry.clone(), self.test.host().clone());
        let redirect = auth
            .start(StartAuthorization::create(
                tenant(),
                TargetId::new("target").unwrap(),
                ConnectionMethodId::new(method).unwrap(),
                CALLBACK,
                ConnectionScope::Organization,
            ))
            .await
            .unwrap();
        let query = consent(&redirect.url);
        let connection = auth
            .complete(
                CompleteAuthorization::new(tenant(), CALLBACK, query).with_connection_id(conn()),
            )
            .await
            .unwrap();
        self.tokens = Arc::new(TokenManager::new(
            self.registry.clone(),
            self.test.host().clone(),
        ));
        (self, connection)
    }
}

/// The App mock's installation (`octo-org`: `octo-repo` and `other-repo`) connected as
/// `c1` through the auth engine; the sync API served beside the App mock, so one base
/// URL answers both; runs through the real token manager, which mints installation
/// tokens.
async fn github_installation() -> (GitHubMock, GitHubSyncApi, Env) {
    let env = Env::start();
    let clock: Arc<dyn Clock> = env.test.clock.clone();
    let app = GitHubMock::start().await.with_clock(clock.clone());
    let api = GitHubSyncApi::cloud(clock).await;
    api.serve_with(&app).await;
    api.create_repo("octo-org/octo-repo");
    api.create_repo("octo-org/other-repo");
    // In the API, but not in the installation: never read.
    api.add("octo-org/private", 3, false);
    api.add("someone/else", 3, false);
    let (env, _) = env
        .connect_github_through_flow(&app, INSTALLATION_METHOD, |url| app.install(url).unwrap())
        .await;
    (app, api, env)
}

/// An installation syncs the repositories its owner gave the App, listed at the start
/// of each run with an installation token: those, and no other repository the API
/// holds. A repository added to the installation since is read in full by the next
/// incremental run; the others incrementally.
#[tokio::test]
async fn github_an_app_installation_syncs_the_repositories_it_reaches() {
    for stream in GITHUB_STREAMS {
        let pulls = *stream == "pull_requests";
        let (app, api, env) = github_installation().await;
        let octo = api.add("octo-org/octo-repo", 4, pulls);
        let other = api.add("octo-org/other-repo", 2, pulls);
        let report = env.full(stream).await;
        assert_eq!(report.records, 6, "{stream}: {report:?}");
        let mut expected = github_ids("octo-org/octo-repo", &octo);
        expected.extend(github_ids("octo-org/other-repo", &other));
        assert_eq!(sorted(env.sink.ids(stream)), sorted(expected.clone()));
        let listings = app.installation_listings();
        assert_eq!(listings.len(), 1, "the run lists the repositories once");
        assert_eq!(query(&listings[0], "per_page"), Some("100"));
        let token = listings[0].header("authorization").unwrap().to_owned();
        assert!(token.starts_with("Bearer ghs_"), "an installation token");
        assert!(listings[0].header("user-agent").is_some());
        let sent = api.requests();
        assert!(
            sent.iter()
                .all(|r| r.header("authorization") == Some(token.as_str()))
        );
        let read: Vec<&str> = sent.iter().map(|r| r.path.as_str()).collect();
        let list = if pulls { "pulls" } else { "issues" };
        assert_eq!(
            read,
            [
                format!("/repos/octo-org/octo-repo/{list}"),
                format!("/repos/octo-org/other-repo/{list}")
            ]
        );
        // One token, not narrowed (it must reach every repository of the installation).
        assert_eq!(
            app.installation_token_requests(),
            [
                integrations_testkit::mock::oauth::InstallationTokenRequest::new(
                    app.installation_id(),
                    None
                )
            ]
        );

        // The owner adds a repository to the installation; an item changes in another.
        api.add("octo-org/third-repo", 3, pulls);
        app.add_installation_repository(app.installation_id(), "third-repo");
        api.update("octo-org/octo-repo", octo[0], "changed");
        let before = api.requests().len();
        let report = env.incremental(stream).await;
        assert!(report.records >= 4, "{stream}: {report:?}");
        assert_eq!(env.sink.ids(stream).len(), 9, "{stream}");
        let id = format!("octo-org/octo-repo#{}", octo[0]);
        assert_eq!(env.sink.record(stream, &id).unwrap()["title"], "changed");
        let asked = |repo: &str| {
            first_after(api.requests(), before, |r| {
                r.path == format!("/repos/{repo}/{list}")
            })
        };
        assert_eq!(
            query(&asked("octo-org/third-repo"), "sort"),
            Some("created"),
            "read in full"
        );
        assert_eq!(
            query(&asked("octo-org/octo-repo"), "sort"),
            Some("updated"),
            "incrementally"
        );
        assert!(
            api.requests()
                .iter()
                .all(|r| !r.path.contains("private") && !r.path.contains("someone"))
        );
    }
}

/// A repository taken out of the installation while a run walks the list answers 404
/// to the installation's token: the run passes over it and ends complete. Given back, it
/// is read in full by the next incremental run.
#[tokio::test]
async fn github_a_repository_that_leaves_the_installation_mid_run_is_passed_over() {
    let (app, api, env) = github_installation().await;
    let octo = api.add("octo-org/octo-repo", 130, false);
    let other = api.add("octo-org/other-repo", 5, false);
    // The list, then octo-repo's first page.
    let report = env.run_pages("issues", SyncMode::Full, 2).await;
    assert_eq!((report.pages, report.records), (2, 100), "{report:?}");
    assert!(!report.complete);
    app.remove_installation_repository(app.installation_id(), "other-repo");
    let report = env.full("issues").await;
    assert_eq!(report.records, 30, "{report:?}");
    assert_eq!(
        sorted(env.sink.ids("issues")),
        sorted(github_ids("octo-org/octo-repo", &octo))
    );
    let refused = api
        .requests()
        .into_iter()
        .filter(|r| r.path == "/repos/octo-org/other-repo/issues")
        .count();
    assert_eq!(refused, 1, "asked once, answered 404, passed over");

    app.add_installation_repository(app.installation_id(), "other-repo");
    let before = api.requests().len();
    env.incremental("issues").await;
    let asked = first_after(api.requests(), before, |r| {
        r.path == "/repos/octo-org/other-repo/issues"
    });
    assert_eq!(query(&asked, "since"), None, "read in full");
    let mut expected = github_ids("octo-org/octo-repo", &octo);
    expected.extend(github_ids("octo-org/other-repo", &other));
    assert_eq!(sorted(env.sink.ids("issues")), sorted(expected));
}

/// A run interrupted after it passed over a repository that left the installation,
/// and resumed: the resumed attempt (which starts from the last completed run's source
/// state) still forgets that the repository was read, so given back it is read in full,
/// not from a watermark set while it was out of reach.
#[tokio::test]
async fn github_a_pass_over_survives_an_interrupted_run() {
    let (app, api, env) = github_installation().await;
    api.add("octo-org/octo-repo", 3, false);
    let other = api.add("octo-org/other-repo", 130, false);
    env.full("issues").await;
    // More changes in other-repo than one page holds.
    for number in &other[..120] {
        api.update("octo-org/other-repo", *number, "changed");
    }
    // The list is read with octo-repo in it; then it leaves the installation.
    let report = env.run_pages("issues", SyncMode::Incremental, 1).await;
    assert_eq!(report.records, 0);
    app.remove_installation_repository(app.installation_id(), "octo-repo");
    // octo-repo passed over, then other-repo's first page: interrupted there.
    let report = env.run_pages("issues", SyncMode::Incremental, 2).await;
    assert!(!report.complete, "{report:?}");
    env.incremental("issues").await;

    app.add_installation_repository(app.installation_id(), "octo-repo");
    let before = api.requests().len();
    env.incremental("issues").await;
    let asked = first_after(api.requests(), before, |r| {
        r.path == "/repos/octo-org/octo-repo/issues"
    });
    assert_eq!(query(&asked, "since"), None, "read in full");
    assert_eq!(query(&asked, "sort"), Some("created"));
}

/// A repository that left the installation while every other one answers `304 Not
/// Modified` (nothing changed there) is still forgotten as read: given back, it is read
/// in full.
#[tokio::test]
async fn github_a_repository_that_left_while_the_rest_answered_304_is_read_in_full_when_back() {
    let (app, api, env) = github_installation().await;
    api.add("octo-org/octo-repo", 3, false);
    api.add("octo-org/other-repo", 2, false);
    env.full("issues").await;
    // An incremental run keeps each first page's ETag.
    env.incremental("issues").await;
    app.remove_installation_repository(app.installation_id(), "other-repo");
    let unchanged = api.not_modified();
    env.incremental("issues").await;
    assert_eq!(api.not_modified(), unchanged + 1, "octo-repo answered 304");

    app.add_installation_repository(app.installation_id(), "other-repo");
    let before = api.requests().len();
    env.incremental("issues").await;
    let asked = first_after(api.requests(), before, |r| {
        r.path == "/repos/octo-org/other-repo/issues"
    });
    assert_eq!(query(&asked, "since"), None, "read in full");
}

/// A repository whose issues are turned off (forks start so) answers `410 Gone` to the
/// issue list: the `issues` stream passes over it, in a listed installation as in
/// `sync_repositories`, and its pull requests still sync. Turned on, its issues are read
/// in full.
#[tokio::test]
async fn github_a_repository_without_issues_is_passed_over_until_they_are_on() {
    let (_app, api, env) = github_installation().await;
    let octo = api.add("octo-org/octo-repo", 3, false);
    let forked = api.add("octo-org/other-repo", 2, false);
    let pulls = api.add("octo-org/other-repo", 2, true);
    api.disable_issues("octo-org/other-repo");
    let report = env.full("issues").await;
    assert_eq!(report.records, 3, "{report:?}");
    assert_eq!(
        sorted(env.sink.ids("issues")),
        sorted(github_ids("octo-org/octo-repo", &octo))
    );
    let report = env.full("pull_requests").await;
    assert_eq!(report.records, 2, "{report:?}");
    assert_eq!(
        sorted(env.sink.ids("pull_requests")),
        sorted(github_ids("octo-org/other-repo", &pulls))
    );

    api.enable_issues("octo-org/other-repo");
    let before = api.requests().len();
    env.incremental("issues").await;
    let asked = first_after(api.requests(), before, |r| {
        r.path == "/repos/octo-org/other-repo/issues"
    });
    assert_eq!(query(&asked, "since"), None, "read in full");
    assert!(
        env.sink
            .ids("issues")
            .contains(&github_ids("octo-org/other-repo", &forked)[1])
    );

    // The same for a repository named in a token connection's `sync_repositories`.
    let (api, env) = github(false).await;
    api.add("octo/app", 2, false);
    api.add("octo/lib", 2, false);
    api.disable_issues("octo/lib");
    let report = env.full("issues").await;
    assert_eq!(report.records, 2, "{report:?}");
}

/// An installation that reaches no repository syncs nothing: the run lists, finds
/// none, and completes.
#[tokio::test]
async fn github_an_installation_without_repositories_syncs_nothing() {
    let (app, api, env) = github_installation().await;
    api.add("octo-org/octo-repo", 3, false);
    app.remove_installation_repository(app.installation_id(), "octo-repo");
    app.remove_installation_repository(app.installation_id(), "other-repo");
    let report = env.full("issues").await;
    assert_eq!((report.pages, report.records), (1, 0), "{report:?}");
    assert_eq!(app.installation_listings().len(), 1);
    assert!(api.requests().is_empty());
}

/// A GitHub OAuth connection, which its authorization flow creates with an empty
/// config, is given its `sync_repositories` with `WriteService::configure_connection`
/// (a config its method's schema refuses is refused, and nothing changes), and then
/// syncs with the token its flow stored.
#[tokio::test]
async fn github_an_oauth_connection_configured_after_its_flow_syncs() {
    let env = Env::start();
    let clock: Arc<dyn Clock> = env.test.clock.clone();
    let app = GitHubMock::start_oauth_app()
        .await
        .with_clock(clock.clone());
    let api = GitHubSyncApi::cloud(clock).await;
    api.serve_with(&app).await;
    let octo = api.add("octo-org/octo-repo", 3, false);
    let (env, connected) = env
        .connect_github_through_flow(&app, "oauth2", |url| app.authorize(url).unwrap())
        .await;
    let write = WriteService::new(env.registry.clone(), env.test.host().clone());
    let err = env.run("issues", SyncMode::Full).await.unwrap_err();
    assert_eq!(err.code(), "sync.no_repositories");

    let refused = write
        .configure_connection(
            &tenant(),
            &conn(),
            json!({"sync_repositories": ["octo-org"]}),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "connection.invalid");
    assert!(
        refused
            .issues()
            .iter()
            .any(|i| i.path.starts_with("/config/sync_repositories")),
        "{:?}",
        refused.issues()
    );
    let unknown = write
        .configure_connection(&tenant(), &ConnectionId::new("nope").unwrap(), json!({}))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), "auth.connection_not_found");
    assert!(
        env.test
            .audit
            .with_action("connection.configured")
            .is_empty()
    );

    let configured = write
        .configure_connection(
            &tenant(),
            &conn(),
            json!({"sync_repositories": ["octo-org/octo-repo"]}),
        )
        .await
        .unwrap();
    assert_eq!(configured.status, connected.status);
    assert_eq!(configured.external_subject, connected.external_subject);
    assert_eq!(configured.method, connected.method);
    assert_eq!(env.test.audit.with_action("connection.configured").len(), 1);
    let report = env.full("issues").await;
    assert_eq!(report.records, 3, "{report:?}");
    assert_eq!(
        sorted(env.sink.ids("issues")),
        sorted(github_ids("octo-org/octo-repo", &octo))
    );
    assert!(api.requests().iter().all(|r| {
        r.header("authorization")
            .is_some_and(|a| a.starts_with("Bearer gho_"))
    }));
}

/// An installation of more repositories than one page lists (100) is listed page by
/// page, following the `Link` header, and every repository is read.
#[tokio::test]
async fn github_an_installation_of_many_repositories_is_listed_page_by_page() {
    let (app, api, env) = github_installation().await;
    for i in 0..130 {
        let name = format!("repo-{i:03}");
        api.create_repo(&format!("octo-org/{name}"));
        app.add_installation_repository(app.installation_id(), &name);
    }
    let last = api.add("octo-org/repo-129", 2, false);
    let report = env.full("issues").await;
    assert_eq!(report.records, 2, "{report:?}");
    assert_eq!(
        sorted(env.sink.ids("issues")),
        sorted(github_ids("octo-org/repo-129", &last))
    );
    let listings = app.installation_listings();
    assert_eq!(listings.len(), 2);
    assert_eq!(query(&listings[1], "page"), Some("2"));
    let read = api
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/repos/"))
        .count();
    assert_eq!(read, 132, "every repository once");
}

/// An App uninstalled from the account: the token the run holds is refused, a new one
/// cannot be minted (the installation is gone), the run stops with the revoked
/// credential's code (`auth.credential_revoked`, the token manager's answer) and the
/// connection is marked in error. Nothing read is lost.
#[tokio::test]
async fn github_an_uninstalled_app_stops_the_run_and_marks_the_connection() {
    let (app, api, env) = github_installation().await;
    api.add("octo-org/octo-repo", 3, false);
    env.full("issues").await;
    app.uninstall(app.installation_id());
    let err = env.run("issues", SyncMode::Incremental).await.unwrap_err();
    assert_eq!(err.code(), "auth.credential_revoked", "{err:?}");
    assert!(matches!(env.status().await, ConnectionStatus::Error { .. }));
    assert_eq!(env.sink.ids("issues").len(), 3);
    let leaked = format!("{err:?} {err}");
    assert!(
        app.issued_secrets()
            .iter()
            .all(|t| !leaked.contains(t.as_str())),
        "no token in the error"
    );
}

// ---------------------------------------------------------------- Slack

struct SlackChannels {
    general: String,
    random: String,
    /// The bot is not in it.
    secret: String,
    general_ts: Vec<String>,
}

async fn slack() -> (SlackSyncApi, Env, SlackChannels) {
    let env = Env::start();
    let api = SlackSyncApi::start().await;
    api.accept_token("xoxb-sync-token");
    let general = api.add_channel("general", true);
    let random = api.add_channel("random", true);
    let secret = api.add_channel("secret", false);
    let general_ts = api.post(&general, 250);
    api.post(&random, 10);
    api.post(&secret, 5);
    let env = env
        .connect(
            "slack::slack-default",
            json!({"api_base_url": api.base_url()}),
            "bot_token",
            "xoxb-sync-token",
            json!({}),
        )
        .await;
    (
        api,
        env,
        SlackChannels {
            general,
            random,
            secret,
            general_ts,
        },
    )
}

/// The bot leaves (or is removed from) a channel after a run listed it and before it read
/// it: the run goes on to the other channels and completes, instead of failing on
/// `not_in_channel` at every resume. Rejoined, even before the next run, the channel is
/// read in full: what was posted there before the run's watermark was never read.
#[tokio::test]
async fn slack_a_channel_left_during_a_run_is_passed_over() {
    let (api, env, c) = slack().await;
    env.full("messages").await;
    let unread = api.post(&c.random, 3);
    api.post(&c.general, 2);
    // The run stops after general's page: random is listed but not read yet.
    let first = env.run_pages("messages", SyncMode::Incremental, 1).await;
    assert!(!first.complete);
    api.leave(&c.random);
    let report = env.incremental("messages").await;
    assert_eq!(report.records, 0);
    assert_eq!(env.sink.ids("messages").len(), 262);

    // Back in the channel before the next run: its unread messages are older than the
    // watermark, so only a full read finds them.
    api.join(&c.random);
    let before = api.requests().len();
    let report = env.incremental("messages").await;
    assert_eq!(report.records, 13);
    let asked = first_after(api.requests(), before, |r| {
        query(r, "channel") == Some(c.random.as_str())
    });
    assert_eq!(query(&asked, "oldest"), None);
    for ts in &unread {
        assert!(
            env.sink
                .record("messages", &format!("{}:{ts}", c.random))
                .is_some()
        );
    }
}

/// A channel passed over stays passed over when its run is interrupted and resumed: a
/// resumed run starts from the source state of the last completed run, so the cursor
/// carries what this run changed in it. Otherwise the channel counted as read, and once
/// rejoined its messages posted before the run's watermark were never read.
#[tokio::test]
async fn a_slack_channel_passed_over_before_an_interruption_is_read_in_full_when_rejoined() {
    let (api, env, c) = slack().await;
    let zeta = api.add_channel("zeta", true);
    api.post(&zeta, 1);
    env.full("messages").await;
    let unread = api.post(&c.random, 3);
    // Listed with random; random is left before its turn, then the run stops right
    // after the page that passed it over.
    assert!(
        !env.run_pages("messages", SyncMode::Incremental, 1)
            .await
            .complete
    );
    api.leave(&c.random);
    let asked_random = |api: &SlackSyncApi| {
        api.requests()
            .last()
            .is_some_and(|r| query(r, "channel") == Some(c.random.as_str()))
    };
    for _ in 0..10 {
        assert!(
            !env.run_pages("messages", SyncMode::Incremental, 1)
                .await
                .complete
        );
        if asked_random(&api) {
            break;
        }
    }
    assert!(asked_random(&api), "the run reached random");
    api.join(&c.random);
    // The interrupted run resumes at zeta and completes.
    env.incremental("messages").await;

    let before = api.requests().len();
    env.incremental("messages").await;
    let asked = first_after(api.requests(), before, |r| {
        query(r, "channel") == Some(c.random.as_str())
    });
    assert_eq!(query(&asked, "oldest"), None, "random is read in full");
    for ts in &unread {
        assert!(
            env.sink
                .record("messages", &format!("{}:{ts}", c.random))
                .is_some(),
            "{ts}"
        );
    }
}

/// The default bot scopes of a Slack target let the shipped sync run: every method a
/// full run calls (`users.conversations` over public and private channels, their
/// `conversations.history`) is covered.
#[tokio::test]
async fn slack_sync_methods_are_covered_by_the_default_scopes() {
    let (api, env, _) = slack().await;
    env.full("messages").await;
    crate::slack_scopes::assert_default_scopes_cover(&api.requests());
}

#[tokio::test]
async fn slack_messages_full_then_incremental() {
    let (api, env, c) = slack().await;
    let report = env.full("messages").await;
    // general: 200 + 50; random: 10; the channel the bot is not in is not read.
    assert_eq!((report.pages, report.records), (3, 260));
    let sent = api.requests();
    assert_eq!(sent[0].path, "/api/users.conversations");
    assert_eq!(
        query(&sent[0], "types"),
        Some("public_channel,private_channel")
    );
    assert_eq!(
        sent[0].header("authorization"),
        Some("Bearer xoxb-sync-token")
    );
    assert_eq!(sent[1].path, "/api/conversations.history");
    assert_eq!(query(&sent[1], "channel"), Some(c.general.as_str()));
    assert_eq!(query(&sent[1], "oldest"), None);
    assert!(query(&sent[2], "cursor").is_some());
    assert_eq!(query(&sent[3], "channel"), Some(c.random.as_str()));
    let id = format!("{}:{}", c.general, c.general_ts[0]);
    assert_eq!(
        env.sink.record("messages", &id).unwrap()["text"],
        "message 1"
    );

    let watermark = env.watermark("messages").await.unwrap();
    api.post(&c.general, 3);
    api.post(&c.random, 1);
    let before = api.requests().len();
    let report = env.incremental("messages").await;
    assert_eq!(report.records, 4);
    // The history is read from a day (the default thread lookback) before the
    // watermark, for threads with new replies; only newer messages become records.
    let asked = &api.requests()[before + 1];
    let (secs, micros) = watermark.split_once('.').unwrap();
    let lookback = format!("{}.{micros}", secs.parse::<u64>().unwrap() - 86_400);
    assert_eq!(query(asked, "oldest"), Some(lookback.as_str()));
    assert_eq!(env.sink.ids("messages").len(), 264);
    assert!(env.sink.written_twice().is_empty());
}

/// A full run reads each thread's replies after the history page that listed its
/// parent: every page of them, without the parent again or the replies the history
/// already gave (sent to the channel too).
#[tokio::test]
async fn slack_thread_replies_are_read_with_their_channel() {
    let (api, env, c) = slack().await;
    let short = c.general_ts[249].clone();
    let long = c.general_ts[10].clone();
    let replies = api.reply(&c.general, &short, 3);
    let many = api.reply(&c.general, &long, 250);
    let broadcast = api.reply_to_channel(&c.general, &short);
    let report = env.full("messages").await;
    // 260 messages, the broadcast reply once, 3 + 250 other replies.
    assert_eq!(report.records, 514);
    assert_eq!(env.sink.ids("messages").len(), 514);
    assert!(env.sink.written_twice().is_empty());
    for ts in replies.iter().chain(&many).chain([&broadcast]) {
        let record = env
            .sink
            .record("messages", &format!("{}:{ts}", c.general))
            .unwrap_or_else(|| panic!("reply {ts} not read"));
        assert_eq!(record["channel"], c.general.as_str());
    }
    let parent = env
        .sink
        .record("messages", &format!("{}:{short}", c.general))
        .unwrap();
    assert_eq!(parent["reply_count"], 4);

    // The replies of the newest page's threads come right after that page, before the
    // next history page; the long thread's replies take two pages.
    let sent = api.requests();
    let asked: Vec<(&str, Option<&str>, bool)> = sent
        .iter()
        .filter(|r| r.path == "/api/conversations.replies")
        .map(|r| {
            (
                r.path.as_str(),
                query(r, "ts"),
                query(r, "cursor").is_some(),
            )
        })
        .collect();
    assert_eq!(
        asked,
        [
            ("/api/conversations.replies", Some(short.as_str()), false),
            ("/api/conversations.replies", Some(long.as_str()), false),
            ("/api/conversations.replies", Some(long.as_str()), true),
        ]
    );
    let history_pages: Vec<usize> = sent
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.path == "/api/conversations.history"
                && query(r, "channel") == Some(c.general.as_str())
        })
        .map(|(at, _)| at)
        .collect();
    let replies_at: Vec<usize> = sent
        .iter()
        .enumerate()
        .filter(|(_, r)| r.path == "/api/conversations.replies")
        .map(|(at, _)| at)
        .collect();
    assert!(history_pages[0] < replies_at[0] && replies_at[0] < history_pages[1]);
    assert!(history_pages[1] < replies_at[1]);
    assert!(sent.iter().all(|r| query(r, "oldest").is_none()));
    crate::slack_scopes::assert_default_scopes_cover(&sent);
}

/// An incremental run reads the new replies of the threads whose parent is within the
/// target's thread lookback (`oldest` = the watermark), and those of new threads; with
/// the lookback at 0 days, only new threads' replies.
#[tokio::test]
async fn slack_new_replies_are_read_by_incremental_runs_within_the_lookback() {
    let (api, env, c) = slack().await;
    let old_thread = c.general_ts[100].clone();
    let quiet_thread = c.general_ts[101].clone();
    api.reply(&c.general, &old_thread, 2);
    api.reply(&c.general, &quiet_thread, 2);
    env.full("messages").await;
    let watermark = env.watermark("messages").await.unwrap();

    let late = api.reply(&c.general, &old_thread, 2);
    let fresh = api.post(&c.general, 1).remove(0);
    let fresh_replies = api.reply(&c.general, &fresh, 2);
    let before = api.requests().len();
    let report = env.incremental("messages").await;
    // Two new replies and the old thread's parent (its reply count changed), the new
    // message and its two replies.
    assert_eq!(report.records, 6, "{report:?}");
    let parent = env
        .sink
        .record("messages", &format!("{}:{old_thread}", c.general))
        .unwrap();
    assert_eq!(parent["reply_count"], 4);
    for ts in late.iter().chain([&fresh]).chain(&fresh_replies) {
        assert!(
            env.sink
                .record("messages", &format!("{}:{ts}", c.general))
                .is_some(),
            "{ts} not read"
        );
    }
    let sent = &api.requests()[before..];
    let old_replies = sent
        .iter()
        .find(|r| {
            r.path == "/api/conversations.replies" && query(r, "ts") == Some(old_thread.as_str())
        })
        .expect("the old thread's replies read again");
    assert_eq!(query(old_replies, "oldest"), Some(watermark.as_str()));
    // Threads without new replies (the quiet one) are not asked about.
    assert!(
        sent.iter()
            .all(|r| query(r, "ts") != Some(quiet_thread.as_str()))
    );
    assert_eq!(
        sent.iter()
            .filter(|r| r.path == "/api/conversations.replies")
            .count(),
        2
    );
    // Written twice: only the parent whose thread grew.
    let twice: Vec<String> = env
        .sink
        .written_twice()
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(twice, [format!("{}:{old_thread}", c.general)]);
}

/// With `thread_lookback_days` at 0, an incremental run reads the history from the
/// watermark: replies to threads begun before it are left to the Events API.
#[tokio::test]
async fn slack_a_zero_thread_lookback_reads_new_threads_only() {
    let env = Env::start();
    let api = SlackSyncApi::start().await;
    api.accept_token("xoxb-sync-token");
    let general = api.add_channel("general", true);
    let first = api.post(&general, 3);
    let env = env
        .connect(
            "slack::slack-default",
            json!({"api_base_url": api.base_url(), "thread_lookback_days": 0}),
            "bot_token",
            "xoxb-sync-token",
            json!({}),
        )
        .await;
    env.full("messages").await;
    let watermark = env.watermark("messages").await.unwrap();
    let missed = api.reply(&general, &first[0], 1).remove(0);
    let fresh = api.post(&general, 1).remove(0);
    let fresh_reply = api.reply(&general, &fresh, 1).remove(0);
    let before = api.requests().len();
    let report = env.incremental("messages").await;
    assert_eq!(report.records, 2);
    let history = api.requests()[before..]
        .iter()
        .find(|r| r.path == "/api/conversations.history")
        .cloned()
        .unwrap();
    assert_eq!(query(&history, "oldest"), Some(watermark.as_str()));
    let id = |ts: &str| format!("{general}:{ts}");
    assert!(env.sink.record("messages", &id(&fresh_reply)).is_some());
    assert!(env.sink.record("messages", &id(&missed)).is_none());
}

/// A run stopped between a thread's pages of replies resumes from its replies cursor.
/// A thread whose parent is gone meanwhile (`thread_not_found`: deleted, its replies
/// too) is passed over; one whose parent was deleted but has replies (Slack keeps a
/// tombstone) still has them read.
#[tokio::test]
async fn slack_a_run_resumes_inside_a_thread_and_passes_over_a_deleted_one() {
    let (api, env, c) = slack().await;
    let long = c.general_ts[249].clone();
    let doomed = c.general_ts[248].clone();
    let tombstoned = c.general_ts[247].clone();
    let many = api.reply(&c.general, &long, 250);
    let doomed_reply = api.reply(&c.general, &doomed, 1).remove(0);
    let kept = api.reply(&c.general, &tombstoned, 2);
    // Pages: the history's first, then the long thread's first page of replies.
    let stopped = env.run_pages("messages", SyncMode::Full, 2).await;
    assert!(!stopped.complete);
    assert_eq!(env.sink.ids("messages").len(), 400);
    api.delete(&c.general, &doomed_reply);
    api.delete(&c.general, &doomed);
    api.delete(&c.general, &tombstoned);
    let before = api.requests().len();
    let report = env.full("messages").await;
    let sent = &api.requests()[before..];
    assert_eq!(sent[0].path, "/api/conversations.replies");
    assert_eq!(query(&sent[0], "ts"), Some(long.as_str()));
    assert!(query(&sent[0], "cursor").is_some());
    assert!(report.complete);
    let id = |ts: &str| format!("{}:{ts}", c.general);
    for ts in many.iter().chain(&kept) {
        assert!(env.sink.record("messages", &id(ts)).is_some(), "{ts}");
    }
    assert!(env.sink.record("messages", &id(&doomed_reply)).is_none());
    // 260 messages, the long thread's 250 replies and the tombstoned thread's 2.
    assert_eq!(env.sink.ids("messages").len(), 512);
    assert!(env.sink.written_twice().is_empty());
    // Read again, the deleted parent is Slack's tombstone.
    env.full("messages").await;
    let tombstone = env.sink.record("messages", &id(&tombstoned)).unwrap();
    assert_eq!(tombstone["subtype"], "tombstone");
}

/// The channel is left between a history page and its threads' replies: the run passes
/// the channel over (as when its history answers `not_in_channel`) and completes.
/// A replies cursor Slack no longer accepts starts the run's pages over.
#[tokio::test]
async fn slack_a_channel_left_or_a_cursor_expired_inside_a_thread() {
    let (api, env, c) = slack().await;
    let long = c.general_ts[249].clone();
    let many = api.reply(&c.general, &long, 250);
    env.run_pages("messages", SyncMode::Full, 2).await;
    api.expire_cursors();
    let report = env.full("messages").await;
    assert!(report.complete);
    for ts in &many {
        assert!(
            env.sink
                .record("messages", &format!("{}:{ts}", c.general))
                .is_some()
        );
    }
    assert_eq!(env.sink.ids("messages").len(), 510);

    // A new thread in random; the bot leaves random after its history page.
    let parent = api.post(&c.random, 1).remove(0);
    api.reply(&c.random, &parent, 2);
    // Pages: general's history (two, read back a day for threads), then random's.
    let first = env.run_pages("messages", SyncMode::Incremental, 3).await;
    assert!(!first.complete);
    let read = api.requests().last().cloned().unwrap();
    assert_eq!(read.path, "/api/conversations.history");
    assert_eq!(query(&read, "channel"), Some(c.random.as_str()));
    api.leave(&c.random);
    let report = env.incremental("messages").await;
    assert!(report.complete, "{report:?}");
    let last = api.requests().last().cloned().unwrap();
    assert_eq!(last.path, "/api/conversations.replies");
    assert_eq!(query(&last, "channel"), Some(c.random.as_str()));
}

/// Sets the Slack target's `thread_replies` to false.
async fn turn_threads_off(env: &Env, api: &SlackSyncApi) {
    WriteService::new(env.registry.clone(), env.test.host().clone())
        .put_target(
            TargetInput::new(
                tenant(),
                TargetId::new("target").unwrap(),
                "slack::slack-default".parse().unwrap(),
            )
            .with_config(json!({"api_base_url": api.base_url(), "thread_replies": false})),
        )
        .await
        .unwrap();
}

/// Threads turned off (`thread_replies: false`) between two pages of a run: the resumed
/// run reads none of the threads its cursor holds, and goes on with the history.
#[tokio::test]
async fn slack_threads_turned_off_mid_run_are_not_read_on_resume() {
    let (api, env, c) = slack().await;
    api.reply(&c.general, &c.general_ts[249], 2);
    // The first history page, whose thread waits in the cursor.
    let stopped = env.run_pages("messages", SyncMode::Full, 1).await;
    assert!(!stopped.complete);
    turn_threads_off(&env, &api).await;
    let before = api.requests().len();
    let report = env.full("messages").await;
    assert!(report.complete);
    let sent = &api.requests()[before..];
    assert_eq!(sent[0].path, "/api/conversations.history");
    assert!(
        query(&sent[0], "cursor").is_some(),
        "resumed, not started over"
    );
    assert!(sent.iter().all(|r| r.path != "/api/conversations.replies"));
    assert_eq!(env.sink.ids("messages").len(), 260);
}

/// Threads turned off once a channel's history is read and only its threads wait: the
/// resumed run goes on to the next channel, without reading that history again.
#[tokio::test]
async fn slack_threads_turned_off_after_a_channels_history_do_not_reread_it() {
    let (api, env, c) = slack().await;
    let parent = api.post(&c.random, 1).remove(0);
    api.reply(&c.random, &parent, 2);
    // general's two history pages, then random's only one, its thread waiting.
    let stopped = env.run_pages("messages", SyncMode::Full, 3).await;
    assert!(!stopped.complete);
    let last = api.requests().last().unwrap().clone();
    assert_eq!(last.path, "/api/conversations.history");
    assert_eq!(query(&last, "channel"), Some(c.random.as_str()));
    turn_threads_off(&env, &api).await;
    let before = api.requests().len();
    let report = env.full("messages").await;
    assert!(report.complete);
    assert!(
        api.requests()[before..]
            .iter()
            .all(|r| r.path != "/api/conversations.history"),
        "random's history is not read again"
    );
    assert!(env.sink.written_twice().is_empty());
    assert_eq!(env.sink.ids("messages").len(), 261);
}

/// A token Slack does not let read threads (`not_allowed_token_type`: its method page
/// says bot tokens may not in channels) does not stop the stream: the run reads the
/// history alone and completes; with `thread_replies: false` no thread is asked for.
#[tokio::test]
async fn slack_a_token_refused_threads_still_syncs_the_history() {
    let (api, env, c) = slack().await;
    api.reply(&c.general, &c.general_ts[249], 2);
    api.reply(&c.general, &c.general_ts[0], 2);
    api.refuse_replies("not_allowed_token_type");
    let report = env.full("messages").await;
    assert!(report.complete);
    assert_eq!(env.sink.ids("messages").len(), 260);
    let replies = api
        .requests()
        .iter()
        .filter(|r| r.path == "/api/conversations.replies")
        .count();
    assert_eq!(replies, 1, "asked once, then no more threads this run");

    // Refused in the middle of a channel's history: its next page is asked with the
    // query its cursor was given for (the lookback kept), the next channel without it.
    api.reply(&c.general, &c.general_ts[249], 1);
    let before = api.requests().len();
    let report = env.incremental("messages").await;
    assert!(report.complete, "{report:?}");
    let oldest: Vec<Option<String>> = api.requests()[before..]
        .iter()
        .filter(|r| r.path == "/api/conversations.history")
        .map(|r| query(r, "oldest").map(str::to_owned))
        .collect();
    assert_eq!(oldest.len(), 3, "{oldest:?}");
    assert_eq!(oldest[0], oldest[1], "general's two pages");
    assert!(
        oldest[2] > oldest[0],
        "random's, without the lookback: {oldest:?}"
    );

    let env2 = Env::start();
    let env2 = env2
        .connect(
            "slack::slack-default",
            json!({"api_base_url": api.base_url(), "thread_replies": false}),
            "bot_token",
            "xoxb-sync-token",
            json!({}),
        )
        .await;
    let before = api.requests().len();
    env2.full("messages").await;
    assert!(
        api.requests()[before..]
            .iter()
            .all(|r| r.path != "/api/conversations.replies")
    );
}

#[tokio::test]
async fn slack_deleted_messages_are_not_seen_by_incremental_runs() {
    let (api, env, c) = slack().await;
    env.full("messages").await;
    api.delete(&c.general, &c.general_ts[5]);
    let report = env.incremental("messages").await;
    assert_eq!((report.records, report.deleted), (0, 0));
    // Deletes arrive as `message_deleted` events; a fresh full run drops it too.
    let id = format!("{}:{}", c.general, c.general_ts[5]);
    assert!(env.sink.record("messages", &id).is_some());
    env.runner()
        .delete(&tenant(), &conn(), "messages", &*env.sink)
        .await
        .unwrap();
    env.full("messages").await;
    assert!(env.sink.record("messages", &id).is_none());
    assert_eq!(env.sink.ids("messages").len(), 259);
}

#[tokio::test]
async fn slack_run_killed_between_pages_resumes_without_duplicates_or_gaps() {
    let (api, env, _) = slack().await;
    // Call 1 lists channels, call 2 reads page 1 of general; call 3 hangs.
    api.fail_after_pages(2, SyncFault::Hang);
    env.kill_during("messages", || api.calls(), 3).await;
    assert_eq!(env.sink.ids("messages").len(), 200);
    api.heal();
    env.test.clock.advance(DEFAULT_LEASE_TTL);
    let before = api.requests().len();
    let report = env.full("messages").await;
    assert_eq!((report.pages, report.records), (2, 60));
    // The resumed run reads on from the saved history cursor, without listing again.
    let resumed = &api.requests()[before];
    assert_eq!(resumed.path, "/api/conversations.history");
    assert!(query(resumed, "cursor").is_some());
    assert_eq!(env.sink.ids("messages").len(), 260);
    assert!(env.sink.written_twice().is_empty());
}

/// Slack's cursors expire: a run resumed after its saved history cursor did gets
/// `invalid_cursor`, drops the cursor and reads its pages from the start (lists the
/// channels again), instead of failing every run from then on.
#[tokio::test]
async fn slack_a_resumed_run_whose_cursor_expired_starts_its_pages_over() {
    let (api, env, _) = slack().await;
    api.fail_after_pages(2, SyncFault::Hang);
    env.kill_during("messages", || api.calls(), 3).await;
    api.heal();
    api.expire_cursors();
    env.test.clock.advance(DEFAULT_LEASE_TTL);
    let before = api.requests().len();
    let report = env.full("messages").await;
    assert_eq!((report.pages, report.records), (3, 260));
    let sent = &api.requests()[before..];
    let refused = &sent[0];
    assert_eq!(refused.path, "/api/conversations.history");
    assert!(query(refused, "cursor").is_some());
    assert_eq!(sent[1].path, "/api/users.conversations");
    assert_eq!(query(&sent[1], "cursor"), None);
    assert_eq!(env.sink.ids("messages").len(), 260);
}

/// A channel the bot joined after the last full run is read in full by the next
/// incremental run (what was posted there before the watermark was never read), then
/// incrementally like the others.
#[tokio::test]
async fn slack_a_channel_joined_since_the_last_run_is_read_in_full() {
    let (api, env, c) = slack().await;
    // Newer than the secret channel's messages, so the watermark passes them.
    api.post(&c.general, 3);
    env.full("messages").await;
    api.join(&c.secret);
    let before = api.requests().len();
    let report = env.incremental("messages").await;
    assert_eq!(report.records, 5);
    let asked = first_after(api.requests(), before, |r| {
        query(r, "channel") == Some(c.secret.as_str())
    });
    assert_eq!(query(&asked, "oldest"), None);
    assert_eq!(env.sink.ids("messages").len(), 268);

    api.post(&c.secret, 1);
    let before = api.requests().len();
    let report = env.incremental("messages").await;
    assert_eq!(report.records, 1);
    let asked = first_after(api.requests(), before, |r| {
        query(r, "channel") == Some(c.secret.as_str())
    });
    assert!(query(&asked, "oldest").is_some());
}

#[tokio::test]
async fn slack_429_pauses_for_retry_after() {
    let (api, env, _) = slack().await;
    api.fail_next(1, SyncFault::RateLimited(Duration::from_secs(7)));
    api.fail_after_pages(2, SyncFault::RateLimited(Duration::from_secs(20)));
    let report = env.full("messages").await;
    assert_eq!(report.rate_limit_waits, 2);
    assert_eq!(
        env.test.clock.sleeps(),
        vec![Duration::from_secs(7), Duration::from_secs(20)]
    );
    assert_eq!(env.sink.ids("messages").len(), 260);
}

#[tokio::test]
async fn slack_revoked_token_stops_the_run() {
    let (api, env, _) = slack().await;
    env.full("messages").await;
    api.tokens().revoke_all();
    let err = env
        .run("messages", SyncMode::Incremental)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "sync.credential_rejected");
    assert!(!format!("{err:?}").contains("xoxb-sync-token"));
    assert!(matches!(env.status().await, ConnectionStatus::Error { .. }));
}

// ---------------------------------------------------------------- changes during a run

/// A sink that runs `change` once, right after writing page `after_page` of a run: the
/// provider's data changes between two page requests.
struct ChangeAfterPage<'a> {
    inner: &'a MemoryRecordSink,
    after_page: u64,
    written: std::sync::atomic::AtomicU64,
    change: Box<dyn Fn() + Send + Sync + 'a>,
}

impl<'a> ChangeAfterPage<'a> {
    fn new(
        inner: &'a MemoryRecordSink,
        after_page: u64,
        change: impl Fn() + Send + Sync + 'a,
    ) -> Self {
        Self {
            inner,
            after_page,
            written: std::sync::atomic::AtomicU64::new(0),
            change: Box::new(change),
        }
    }
}

#[async_trait::async_trait]
impl integrations_core::sync::RecordSink for ChangeAfterPage<'_> {
    async fn write_page(
        &self,
        connection: &integrations_core::model::Connection,
        stream: &str,
        page: &integrations_core::sync::SyncPage,
    ) -> Result<(), Error> {
        self.inner.write_page(connection, stream, page).await?;
        let written = self
            .written
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        if written == self.after_page {
            (self.change)();
        }
        Ok(())
    }

    async fn delete_stream(
        &self,
        connection: &integrations_core::model::Connection,
        stream: &str,
    ) -> Result<(), Error> {
        self.inner.delete_stream(connection, stream).await
    }
}

impl Env {
    /// An incremental run whose sink runs `change` after page `after_page`.
    async fn incremental_changing(
        &self,
        stream: &str,
        after_page: u64,
        change: impl Fn() + Send + Sync,
    ) -> SyncReport {
        let sink = ChangeAfterPage::new(&self.sink, after_page, change);
        let report = self
            .runner()
            .run(
                &tenant(),
                &conn(),
                stream,
                SyncMode::Incremental,
                &sink,
                None,
            )
            .await
            .unwrap();
        assert!(report.complete, "{report:?}");
        assert!(
            sink.written.load(std::sync::atomic::Ordering::SeqCst) > after_page,
            "the change did not happen between two pages"
        );
        report
    }
}

/// 2026-11-01T00:00:00Z plus `seconds`: the mocks' own time line.
fn mock_time(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(1_793_491_200 + seconds)
}

#[tokio::test]
async fn slack_a_message_posted_in_a_channel_read_earlier_in_the_run_is_read_next_run() {
    let (api, env, c) = slack().await;
    api.follow_clock(env.test.clock.clone());
    env.test.clock.set(mock_time(1_000));
    env.full("messages").await;
    // The run reads `general` (page 1), then M is posted there and N in `random`, which
    // the run reads next: N is newer than M.
    let posted = std::sync::Mutex::new(String::new());
    env.incremental_changing("messages", 1, || {
        *posted.lock().unwrap() = api.post(&c.general, 1).remove(0);
        api.post(&c.random, 1);
    })
    .await;
    let m = format!("{}:{}", c.general, posted.lock().unwrap());
    env.incremental("messages").await;
    assert!(
        env.sink.record("messages", &m).is_some(),
        "the message posted in general during the run was never synced"
    );
}

#[tokio::test]
async fn github_an_issue_changed_in_a_repository_read_earlier_in_the_run_is_read_next_run() {
    let (api, env) = github(false).await;
    api.follow_clock(env.test.clock.clone());
    env.test.clock.set(mock_time(1_000));
    seed(&api);
    env.test.clock.set(mock_time(2_000));
    env.full("issues").await;
    api.update("octo/app", 3, "before the run");
    // The run reads `octo/app` (page 1), then app#1 and, later, lib#1 change; the run
    // reads `octo/lib` next.
    env.incremental_changing("issues", 1, || {
        api.update("octo/app", 1, "changed during the run");
        api.update("octo/lib", 1, "changed later");
    })
    .await;
    env.incremental("issues").await;
    assert_eq!(
        env.sink.record("issues", "octo/app#1").unwrap()["title"],
        "changed during the run"
    );
}

#[tokio::test]
async fn github_an_issue_updated_mid_run_shifts_no_other_issue_out_of_the_run() {
    let (api, env) = github(false).await;
    let numbers = api.add("octo/app", 150, false);
    env.full("issues").await;
    for n in &numbers {
        api.update("octo/app", *n, &format!("edit {n}"));
    }
    // After page 1 of the incremental run, issue 1 changes again.
    env.incremental_changing("issues", 1, || {
        api.update("octo/app", 1, "edited twice");
    })
    .await;
    env.incremental("issues").await;
    for n in &numbers {
        let want = if *n == 1 {
            "edited twice".to_owned()
        } else {
            format!("edit {n}")
        };
        let id = format!("octo/app#{n}");
        assert_eq!(
            env.sink.record("issues", &id).unwrap()["title"],
            want,
            "{id}"
        );
    }
}

#[tokio::test]
async fn linear_a_record_updated_after_its_page_was_read_is_read_next_run() {
    let (api, env) = linear().await;
    api.follow_clock(env.test.clock.clone());
    env.test.clock.set(mock_time(1_000));
    let ids = api.add("issues", 60);
    env.test.clock.set(mock_time(2_000));
    env.full("issues").await;
    for id in &ids {
        api.update("issues", id, "edited");
    }
    env.test.clock.set(mock_time(2_100));
    // Pages in creation order: after page 1, its first issue changes, then one of page 2.
    env.incremental_changing("issues", 1, || {
        api.update("issues", &ids[0], "edited during the run");
        api.update("issues", &ids[59], "edited later in the run");
    })
    .await;
    env.incremental("issues").await;
    assert_eq!(
        env.sink.record("issues", &ids[0]).unwrap()["title"],
        "edited during the run"
    );
}

#[tokio::test]
async fn github_an_interrupted_incremental_run_keeps_no_etag_that_hides_its_unread_pages() {
    let (api, env) = github(false).await;
    let numbers = api.add("octo/app", 150, true);
    env.full("pull_requests").await;
    for n in &numbers {
        api.update("octo/app", *n, &format!("edit {n}"));
    }
    // The run stops after page 1 of `octo/app` (100 of the 150 changed pull requests).
    let report = env
        .run_pages("pull_requests", SyncMode::Incremental, 1)
        .await;
    assert!(!report.complete);
    // Nothing changes at GitHub: page 1 is the same, page 2 was never read.
    env.incremental("pull_requests").await;
    for n in &numbers {
        let id = format!("octo/app#{n}");
        assert_eq!(
            env.sink.record("pull_requests", &id).unwrap()["title"],
            format!("edit {n}"),
            "{id}"
        );
    }
}
