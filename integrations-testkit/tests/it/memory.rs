//! The in-memory stores keep their promises under concurrency.

use std::sync::Arc;

use integrations_core::host::{
    Aad, CheckpointStore, ConnectionQuery, ConnectionStore, ContinuationStore, CredentialStore,
    OAuthStateStore, SecretCipher, WebhookEventStore,
};
use integrations_core::model::{
    AuthorizationIntent, Connection, ConnectionScope, ConnectionStatus, Credential, CredentialType,
    PendingAuthorization, SyncCheckpoint,
};
use integrations_core::tools::PendingContinuation;
use integrations_core::webhook::{EventType, WebhookEvent};
use integrations_core::{
    ConnectionId, ConnectionMethodId, DefinitionKey, ErrorKind, TargetId, TenantId, Timestamp,
};
use integrations_testkit::{MemoryStore, TestHost};

const TASKS: usize = 64;

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn connection_id() -> ConnectionId {
    ConnectionId::new("conn-1").unwrap()
}

fn credential(test: &TestHost, value: &str) -> Credential {
    let aad = Aad::new(&tenant(), "credential", "conn-1", "api_key");
    Credential::new(
        CredentialType::API_KEY,
        test.keys.seal(value.as_bytes(), &aad).unwrap(),
        Timestamp::from_unix_seconds(0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_64_concurrent_swaps_from_one_version_wins() {
    let test = TestHost::new();
    let store = test.store.clone();
    let v1 = store
        .swap_credentials(
            &tenant(),
            &connection_id(),
            None,
            vec![credential(&test, "v1")],
        )
        .await
        .unwrap();
    assert_eq!(v1, 1);

    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let store = store.clone();
        let barrier = barrier.clone();
        let cred = credential(&test, &format!("writer-{i}"));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .swap_credentials(&tenant(), &connection_id(), Some(1), vec![cred])
                .await
        }));
    }
    let mut wins = 0;
    let mut conflicts = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(version) => {
                assert_eq!(version, 2);
                wins += 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Conflict);
                assert_eq!(e.code(), "store.version_conflict");
                conflicts += 1;
            }
        }
    }
    assert_eq!((wins, conflicts), (1, TASKS - 1));
    let set = store
        .load_credentials(&tenant(), &connection_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(set.version, 2);
    assert_eq!(set.credentials.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_through_cas_lose_no_update() {
    // Every task retries until its swap lands: the final version counts every write.
    let test = TestHost::new();
    let store = test.store.clone();
    store
        .swap_credentials(&tenant(), &connection_id(), None, Vec::new())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let current = store
                    .load_credentials(&tenant(), &connection_id())
                    .await
                    .unwrap()
                    .unwrap();
                match store
                    .swap_credentials(
                        &tenant(),
                        &connection_id(),
                        Some(current.version),
                        Vec::new(),
                    )
                    .await
                {
                    Ok(_) => break,
                    Err(e) if e.is_conflict() => tokio::task::yield_now().await,
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let set = store
        .load_credentials(&tenant(), &connection_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(set.version, 1 + TASKS as u64);
}

#[tokio::test]
async fn swap_with_none_only_creates() {
    let test = TestHost::new();
    let store = &test.store;
    store
        .swap_credentials(&tenant(), &connection_id(), None, Vec::new())
        .await
        .unwrap();
    let err = store
        .swap_credentials(&tenant(), &connection_id(), None, Vec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "store.version_conflict");
    let err = store
        .swap_credentials(
            &tenant(),
            &ConnectionId::new("other").unwrap(),
            Some(1),
            Vec::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "store.version_conflict");
}

/// Runs `take` in [`TASKS`] tasks released at once, and returns what they got.
async fn take_at_once<T, F, Fut>(store: &Arc<MemoryStore>, take: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<MemoryStore>) -> Fut,
    Fut: Future<Output = Option<T>> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let barrier = barrier.clone();
        let taking = take(store.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            taking.await
        }));
    }
    let mut taken = Vec::new();
    for task in tasks {
        taken.extend(task.await.unwrap());
    }
    taken
}

fn pending(digest: &str) -> PendingAuthorization {
    PendingAuthorization::new(
        digest,
        tenant(),
        "linear::linear-default".parse().unwrap(),
        TargetId::new("linear").unwrap(),
        ConnectionMethodId::new("oauth2").unwrap(),
        "https://app.example.com/oauth/callback",
        AuthorizationIntent::Create {
            scope: ConnectionScope::Organization,
        },
        Timestamp::from_unix_seconds(0),
        Timestamp::from_unix_seconds(600),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_64_concurrent_takes_gets_the_state() {
    let store = Arc::new(MemoryStore::new());
    store.put_oauth_state(&pending("digest-1")).await.unwrap();
    assert_eq!(
        store
            .put_oauth_state(&pending("digest-1"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    let taken = take_at_once(&store, |store| async move {
        store
            .take_oauth_state("digest-1", Timestamp::from_unix_seconds(1))
            .await
            .unwrap()
    })
    .await;
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].state_digest, "digest-1");
    assert_eq!(store.pending_oauth_states(), 0);
}

/// A continuation record as the tool runtime writes one (built through serde: hosts
/// read and write these records, they never build them).
fn continuation(test: &TestHost, id: &str, created: i64) -> PendingContinuation {
    let sealed = test
        .keys
        .seal(
            b"[{\"page\":2}]",
            &Aad::new(&tenant(), "tool_continuation", id, "pages"),
        )
        .unwrap();
    serde_json::from_value(serde_json::json!({
        "tenant": "acme",
        "id": id,
        "workspace": "eng",
        "connection": "conn-1",
        "pointer": "/items",
        "page": 1,
        "remaining_pages": 1,
        "pages": sealed,
        "created_at": Timestamp::from_unix_seconds(created),
        "expires_at": Timestamp::from_unix_seconds(created + 900),
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_64_concurrent_takes_gets_the_continuation() {
    let test = TestHost::new();
    let store = test.store.clone();
    let record = continuation(&test, "c1", 0);
    store.put_continuation(&record).await.unwrap();
    assert_eq!(
        store.put_continuation(&record).await.unwrap_err().code(),
        "store.duplicate_continuation"
    );
    let taken = take_at_once(&store, |store| async move {
        store
            .take_continuation(&tenant(), "c1", Timestamp::from_unix_seconds(1))
            .await
            .unwrap()
    })
    .await;
    assert_eq!(taken, vec![record]);
    // Another tenant never sees it; expired records are dropped by later writes.
    store
        .put_continuation(&continuation(&test, "c2", 0))
        .await
        .unwrap();
    assert!(
        store
            .take_continuation(
                &TenantId::new("other").unwrap(),
                "c2",
                Timestamp::from_unix_seconds(1),
            )
            .await
            .unwrap()
            .is_none()
    );
    store
        .put_continuation(&continuation(&test, "c3", 901))
        .await
        .unwrap();
    let left: Vec<String> = store
        .raw_continuations()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(left, ["c3"]);
}

fn event(id: &str) -> WebhookEvent {
    serde_json::from_value(serde_json::json!({
        "tenant": "acme",
        "connection": "conn-1",
        "key": "github::github-cloud",
        "event_type": "github.issues.opened",
        "provider_event_type": "issues",
        "external_event_id": id,
        "delivery_id": id,
        "occurred_at": null,
        "received_at": "2026-01-01T00:00:00.000Z",
        "source_order_key": null,
        "subject": null,
        "payload": {"action": "opened"},
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_64_concurrent_records_is_new() {
    let store = Arc::new(MemoryStore::new());
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let store = store.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .record_event_if_new(&event("delivery-1"))
                .await
                .unwrap()
        }));
    }
    let mut new = 0;
    for task in tasks {
        if task.await.unwrap() {
            new += 1;
        }
    }
    assert_eq!(new, 1);
    assert_eq!(store.recorded_events().len(), 1);
    assert_eq!(
        event("delivery-1").event_type,
        EventType::new("github.issues.opened").unwrap()
    );
    let key: DefinitionKey = "github::github-cloud".parse().unwrap();
    assert!(
        store
            .forget_event(&tenant(), &key, "delivery-1")
            .await
            .unwrap()
    );
    assert!(
        store
            .record_event_if_new(&event("delivery-1"))
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_64_concurrent_checkpoint_saves_wins() {
    let store = Arc::new(MemoryStore::new());
    let fresh = SyncCheckpoint::new(
        tenant(),
        connection_id(),
        "issues",
        Timestamp::from_unix_seconds(0),
    );
    assert_eq!(store.save_checkpoint(&fresh).await.unwrap(), 1);
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let store = store.clone();
        let barrier = barrier.clone();
        let mut cp = fresh.clone();
        cp.version = 1;
        cp.cursor = Some(format!("cursor-{i}"));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.save_checkpoint(&cp).await.is_ok()
        }));
    }
    let mut wins = 0;
    for task in tasks {
        if task.await.unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    let saved = store
        .load_checkpoint(&tenant(), &connection_id(), "issues")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.version, 2);
}

#[tokio::test]
async fn connection_lookup_and_atomic_status() {
    let store = MemoryStore::new();
    let mut c = Connection::new(
        tenant(),
        connection_id(),
        TargetId::new("gh").unwrap(),
        "github::github-cloud".parse().unwrap(),
        ConnectionMethodId::new("github-app-installation").unwrap(),
        Timestamp::from_unix_seconds(0),
    );
    c.external_subject = Some("42".into());
    store.put_connection(&c).await.unwrap();
    let mut other = c.clone();
    other.tenant = TenantId::new("globex").unwrap();
    other.external_subject = Some("43".into());
    store.put_connection(&other).await.unwrap();

    let found = store
        .find_connections(&ConnectionQuery::by_subject(
            "github::github-cloud".parse().unwrap(),
            "42",
        ))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].tenant, tenant());
    let none = store
        .find_connections(&ConnectionQuery::by_subject(
            "github::github-enterprise-server".parse().unwrap(),
            "42",
        ))
        .await
        .unwrap();
    assert!(none.is_empty());

    let updated = store
        .set_connection_status(
            &tenant(),
            &connection_id(),
            ConnectionStatus::Error {
                reason: "invalid_grant".into(),
            },
            Timestamp::from_unix_seconds(5),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!updated.is_active());
    assert_eq!(updated.updated_at, Timestamp::from_unix_seconds(5));
    assert!(
        store
            .set_connection_status(
                &tenant(),
                &ConnectionId::new("nope").unwrap(),
                ConnectionStatus::Active,
                Timestamp::UNIX_EPOCH
            )
            .await
            .unwrap()
            .is_none()
    );
}
