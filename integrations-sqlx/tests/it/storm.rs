//! Many processes, one database: token managers on separate pools (and in separate OS
//! processes) over one SQLite file or one PostgreSQL database send exactly one refresh to
//! a token endpoint that rotates refresh tokens, and lose no rotated token.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use integrations_core::auth::TokenManager;
use integrations_core::host::{ConnectionStore, CredentialStore, Host, SecretCipherExt};
use integrations_core::model::{Connection, CredentialType};
use integrations_core::service::credential_aad;
use integrations_core::{ConnectionId, Registry, Timestamp};
use integrations_sqlx::SqlStores;
use integrations_testkit::ManualClock;
use integrations_testkit::mock::oauth::LinearMock;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use crate::tracker::{self, tenant};

const DAY: Duration = Duration::from_secs(86_400);
const CALLERS: usize = 1_000;

/// Set in the child process: the database URL, the connection id and the clock (Unix
/// milliseconds) to run with.
const CHILD_URL: &str = "STORM_CHILD_URL";
const CHILD_CONNECTION: &str = "STORM_CHILD_CONNECTION";
const CHILD_NOW: &str = "STORM_CHILD_NOW";
const CHILD_CALLERS: &str = "STORM_CHILD_CALLERS";

/// `callers` concurrent `access_token` calls spread over `managers`; the distinct tokens.
async fn storm(
    managers: &[Arc<TokenManager>],
    connection: &Arc<Connection>,
    callers: usize,
) -> BTreeSet<String> {
    let tasks: Vec<_> = (0..callers)
        .map(|i| {
            let tokens = Arc::clone(&managers[i % managers.len()]);
            let connection = Arc::clone(connection);
            tokio::spawn(async move {
                tokens
                    .access_token(&connection)
                    .await
                    .map(|t| t.value.expose().to_owned())
            })
        })
        .collect();
    let mut values = BTreeSet::new();
    for task in tasks {
        values.insert(task.await.unwrap().expect("every caller gets a token"));
    }
    values
}

/// The refresh token in the database, opened.
async fn stored_refresh(stores: &SqlStores, connection: &Connection) -> String {
    let set = stores
        .load_credentials(&connection.tenant, &connection.id)
        .await
        .unwrap()
        .unwrap();
    let refresh = set
        .find(&CredentialType::OAUTH2_REFRESH_TOKEN, None)
        .unwrap()
        .unwrap();
    tracker::keys()
        .open_secret(
            &refresh.value,
            &credential_aad(connection, &CredentialType::OAUTH2_REFRESH_TOKEN, None),
        )
        .unwrap()
        .expose()
        .to_owned()
}

struct Setup {
    mock: LinearMock,
    registry: Arc<Registry>,
    clock: Arc<ManualClock>,
    hosts: [Host; 2],
    stores: SqlStores,
    connection: Arc<Connection>,
}

/// Two hosts on two pools of one database; a connection made through the OAuth flow,
/// started on the first host and completed on the second.
async fn setup(url: &str) -> Setup {
    let mock = LinearMock::start().await;
    let registry = tracker::registry();
    let clock = Arc::new(ManualClock::at_unix_seconds(1_900_000_000));
    let stores = SqlStores::connect(url).await.unwrap();
    let hosts = [
        tracker::host(stores.clone(), tracker::keys(), Arc::clone(&clock)),
        tracker::host(
            SqlStores::connect(url).await.unwrap(),
            tracker::keys(),
            Arc::clone(&clock),
        ),
    ];
    tracker::put_target(&hosts[0], &registry, &mock).await;
    let connection = Arc::new(tracker::connect(&hosts[0], &hosts[1], &registry, &mock).await);
    Setup {
        mock,
        registry,
        clock,
        hosts,
        stores,
        connection,
    }
}

async fn two_pools(url: &str) {
    let s = setup(url).await;
    let managers: Vec<_> = s
        .hosts
        .iter()
        .map(|h| Arc::new(TokenManager::new(s.registry.clone(), h.clone())))
        .collect();
    s.mock.set_delay(Duration::from_millis(100));
    for round in 1..=2 {
        s.clock.advance(DAY);
        let values = storm(&managers, &s.connection, CALLERS).await;
        assert_eq!(s.mock.refresh_requests(), round, "round {round}: refreshes");
        assert_eq!(
            values.len(),
            1,
            "round {round}: every caller got the same token"
        );
        assert_eq!(
            Some(stored_refresh(&s.stores, &s.connection).await),
            s.mock.last_refresh_token(),
            "round {round}: the rotated refresh token is the stored one"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_on_sqlite_send_one_refresh() {
    two_pools(&crate::support::sqlite_url("storm_pools")).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_on_postgres_send_one_refresh() {
    let Some(url) = crate::support::postgres_url("storm_pools").await else {
        return;
    };
    two_pools(&url).await;
}

/// The parent runs half the callers; a child process (this test binary, re-run on
/// [`child_process_storm`]) runs the other half on its own pool, at the same time.
async fn two_processes(url: &str) {
    let s = setup(url).await;
    s.mock.set_delay(Duration::from_millis(300));
    s.clock.advance(DAY);
    let now: Timestamp = integrations_core::host::Clock::now(&*s.clock);
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "storm::child_process_storm",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_URL, url)
        .env(CHILD_CONNECTION, s.connection.id.as_str())
        .env(CHILD_NOW, now.unix_millis().to_string())
        .env(CHILD_CALLERS, (CALLERS / 2).to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Start together: the child says it is ready, both storm at once.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut before = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.ends_with("storm-child-ready") {
            break;
        }
        before.push_str(&line);
        before.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").await.unwrap();
    stdin.flush().await.unwrap();
    let manager = Arc::new(TokenManager::new(s.registry.clone(), s.hosts[0].clone()));
    let mine = storm(&[manager], &s.connection, CALLERS / 2).await;
    let mut rest = before;
    while let Some(line) = lines.next_line().await.unwrap() {
        rest.push_str(&line);
        rest.push('\n');
    }
    let output = child.wait_with_output().await.unwrap();
    let stdout = rest;
    assert!(
        output.status.success(),
        "the child process failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test:\n{stdout}"
    );
    assert_eq!(
        s.mock.refresh_requests(),
        1,
        "one refresh across both processes"
    );
    assert_eq!(mine.len(), 1);
    assert_eq!(
        Some(stored_refresh(&s.stores, &s.connection).await),
        s.mock.last_refresh_token(),
        "the rotated refresh token is the stored one"
    );
    // The child's callers got the same token as the parent's.
    let token = mine.into_iter().next().unwrap();
    assert!(
        stdout.contains(&format!("child tokens: {}", token.len())),
        "the child saw another token:\n{stdout}"
    );
}

/// Runs only as the child of [`two_processes`] (a no-op otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(
    clippy::print_stdout,
    reason = "the child reports to its parent on stdout"
)]
async fn child_process_storm() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return;
    };
    let stores = SqlStores::connect(&url).await.unwrap();
    let now = Timestamp::from_unix_millis(std::env::var(CHILD_NOW).unwrap().parse().unwrap());
    let clock = Arc::new(ManualClock::new(now));
    let host = tracker::host(stores.clone(), tracker::keys(), clock);
    let connection = stores
        .get_connection(
            &tenant(),
            &ConnectionId::new(std::env::var(CHILD_CONNECTION).unwrap()).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let callers: usize = std::env::var(CHILD_CALLERS).unwrap().parse().unwrap();
    let manager = Arc::new(TokenManager::new(tracker::registry(), host));
    println!("storm-child-ready");
    let mut go = String::new();
    BufReader::new(tokio::io::stdin())
        .read_line(&mut go)
        .await
        .unwrap();
    let values = storm(&[manager], &Arc::new(connection), callers).await;
    assert_eq!(values.len(), 1, "the child's callers got one token");
    // The length only: the token itself stays out of the output.
    println!("child tokens: {}", values.iter().next().unwrap().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_sqlite_send_one_refresh() {
    two_processes(&crate::support::sqlite_url("storm_processes")).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_postgres_send_one_refresh() {
    let Some(url) = crate::support::postgres_url("storm_processes").await else {
        return;
    };
    two_processes(&url).await;
}
