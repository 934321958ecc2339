//! The SQL stores' hot operations beside their floor: the same single raw sqlx statement
//! on the same pool, and webhook ingest on SQLite beside ingest on memory.
//!
//! * `load`: `load_credentials` (one `SELECT … LEFT JOIN`, decoded into a
//!   `CredentialSet`) vs the raw `SELECT`;
//! * `swap`: `swap_credentials` of two credentials vs what a hand-written store needs for
//!   the same compare-and-swap: on PostgreSQL the one statement (a `WITH` of the version
//!   `UPDATE`, the `DELETE` of rows past the set and the `INSERT … ON CONFLICT` of the
//!   set), on SQLite (no `UPDATE` inside `WITH`) the `BEGIN IMMEDIATE` transaction of the
//!   version `UPDATE`, the `DELETE` and the `INSERT`;
//! * `take`: `put_approval` + `take_approval` vs the raw `INSERT` + `DELETE … RETURNING`;
//! * `dedup`: `record_event_if_new` vs the raw `INSERT … ON CONFLICT DO NOTHING`;
//! * `ingest`: a signed GitHub delivery through the whole pipeline (classify, verify,
//!   dedup, deliver) on SQLite, on PostgreSQL and on memory (deliveries per second = 1e9 /
//!   median ns).
//!
//! On SQLite always; on PostgreSQL too when `DATABASE_URL` is set. The run ends with the
//! ratios of the medians. `cargo bench --bench store -- --measurement-time 3`

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion};
use integrations::core::host::{
    AesGcmKeyRing, ApprovalStore, Clock, CredentialStore, Host, Sealed, WebhookEventStore,
};
use integrations::core::model::{Credential, CredentialType};
use integrations::core::service::{ConnectionInput, TargetInput, WriteService};
use integrations::core::tools::{ApprovalId, ApprovalRequest, CallContext, Session};
use integrations::core::webhook::{Ingest, WebhookEvent};
use integrations::core::{ConnectionId, TargetId, TenantId, Timestamp, WorkspaceId};
use integrations::definitions::github::GitHub;
use integrations_sqlx::{Backend, SqlStores};
use integrations_testkit::{Delivery, ManualClock, TestHost, WebhookSigner};
use serde_json::json;

const SECRET: &str = "It's a Secret to Everybody";
const PAYLOAD: &[u8] = include_bytes!(
    "../integrations-definitions/tests/fixtures/github/issue_comment.created.with-installation.payload.json"
);
const LOAD_SQL: &str = "SELECT s.version, c.credential_type, c.slot, c.key_id, c.ciphertext, \
     c.expires_at, c.issued_at FROM credential_sets s LEFT JOIN credentials c \
     ON c.tenant = s.tenant AND c.connection = s.connection \
     WHERE s.tenant = $1 AND s.connection = $2 AND s.deleted = 0 ORDER BY c.position";

fn output_directory() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("criterion-store")
}

fn median_nanos(group: &str, name: &str) -> Option<f64> {
    let path = output_directory()
        .join(group)
        .join(name)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["median"]["point_estimate"].as_f64()
}

fn now() -> Timestamp {
    Timestamp::from_unix_seconds(1_767_225_600)
}

fn credentials() -> Vec<Credential> {
    vec![
        Credential::new(
            CredentialType::OAUTH2_ACCESS_TOKEN,
            Sealed::new("k1", vec![7; 64]),
            now(),
        )
        .with_expiry(Some(now())),
        Credential::new(
            CredentialType::OAUTH2_REFRESH_TOKEN,
            Sealed::new("k1", vec![8; 64]),
            now(),
        ),
    ]
}

fn approval(tenant: &TenantId, id: ApprovalId) -> ApprovalRequest {
    let context = CallContext::new(
        Session::new(tenant.clone(), WorkspaceId::new("ws").expect("id")),
        ConnectionId::new("c1").expect("id"),
    );
    ApprovalRequest::new(
        id,
        "github_create_issue",
        "github::github-cloud".parse().expect("key"),
        json!({"title": "t"}),
        context,
        now(),
        Duration::from_secs(600),
    )
}

fn event(tenant: &TenantId, id: &str) -> WebhookEvent {
    serde_json::from_value(json!({
        "tenant": tenant.as_str(), "connection": "c1", "key": "github::github-cloud",
        "event_type": "github.issue.opened", "provider_event_type": "issues.opened",
        "external_event_id": id, "delivery_id": null, "occurred_at": null,
        "received_at": now(), "source_order_key": null, "subject": null,
        "payload": {"action": "opened"},
    }))
    .expect("an event")
}

/// The hand-written swap on PostgreSQL, two credentials: the floor of `swap/ours`.
const PG_SWAP_SQL: &str = "WITH v AS (UPDATE credential_sets SET version = version + 1 \
     WHERE tenant = $1 AND connection = $2 AND version = $3 AND deleted = 0 RETURNING version), \
     d AS (DELETE FROM credentials WHERE tenant = $1 AND connection = $2 AND position >= $4 \
     AND EXISTS (SELECT 1 FROM v)), \
     w AS (INSERT INTO credentials (tenant, connection, position, credential_type, slot, key_id, \
     ciphertext, expires_at, issued_at) SELECT $1, $2, c.* FROM v CROSS JOIN (VALUES \
     ($5::BIGINT, $6::TEXT, $7::TEXT, $8::TEXT, $9::BYTEA, $10::BIGINT, $11::BIGINT), \
     ($12::BIGINT, $13::TEXT, $14::TEXT, $15::TEXT, $16::BYTEA, $17::BIGINT, $18::BIGINT)) \
     AS c (position, credential_type, slot, key_id, ciphertext, expires_at, issued_at) \
     ON CONFLICT (tenant, connection, position) DO UPDATE SET \
     credential_type = excluded.credential_type, slot = excluded.slot, key_id = excluded.key_id, \
     ciphertext = excluded.ciphertext, expires_at = excluded.expires_at, \
     issued_at = excluded.issued_at) \
     SELECT version FROM v";

/// The hand-written swap on SQLite, two credentials, after `BEGIN IMMEDIATE`.
const SQLITE_SWAP_SQL: [&str; 3] = [
    "UPDATE credential_sets SET version = version + 1 \
     WHERE tenant = $1 AND connection = $2 AND version = $3 AND deleted = 0 RETURNING version",
    "DELETE FROM credentials WHERE tenant = $1 AND connection = $2",
    "INSERT INTO credentials (tenant, connection, position, credential_type, slot, key_id, \
     ciphertext, expires_at, issued_at) VALUES ($1, $2, 0, $3, NULL, $4, $5, $6, $7), \
     ($1, $2, 1, $8, NULL, $9, $10, NULL, $11)",
];

/// The floor of `swap/ours`: the hand-written compare-and-swap from `version`, two
/// credentials (as [`credentials`]). The new version.
async fn raw_swap(
    pool: &sqlx::AnyPool,
    postgres: bool,
    tenant: &str,
    connection: &str,
    version: i64,
) -> i64 {
    let credentials = credentials();
    let [access, refresh] = credentials.as_slice() else {
        unreachable!("two credentials")
    };
    if postgres {
        let row = sqlx::query(PG_SWAP_SQL)
            .bind(tenant)
            .bind(connection)
            .bind(version)
            .bind(2_i64)
            .bind(0_i64)
            .bind(access.credential_type.as_str())
            .bind(None::<String>)
            .bind(access.value.key_id())
            .bind(access.value.ciphertext())
            .bind(access.expires_at.map(Timestamp::unix_millis))
            .bind(access.issued_at.unix_millis())
            .bind(1_i64)
            .bind(refresh.credential_type.as_str())
            .bind(None::<String>)
            .bind(refresh.value.key_id())
            .bind(refresh.value.ciphertext())
            .bind(None::<i64>)
            .bind(refresh.issued_at.unix_millis())
            .fetch_optional(pool)
            .await
            .expect("swap");
        assert!(row.is_some(), "the floor's swap lost its version");
    } else {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
        let row = sqlx::query(SQLITE_SWAP_SQL[0])
            .bind(tenant)
            .bind(connection)
            .bind(version)
            .fetch_optional(&mut *tx)
            .await
            .expect("update");
        assert!(row.is_some(), "the floor's swap lost its version");
        sqlx::query(SQLITE_SWAP_SQL[1])
            .bind(tenant)
            .bind(connection)
            .execute(&mut *tx)
            .await
            .expect("delete");
        sqlx::query(SQLITE_SWAP_SQL[2])
            .bind(tenant)
            .bind(connection)
            .bind(access.credential_type.as_str())
            .bind(access.value.key_id())
            .bind(access.value.ciphertext())
            .bind(access.expires_at.map(Timestamp::unix_millis))
            .bind(access.issued_at.unix_millis())
            .bind(refresh.credential_type.as_str())
            .bind(refresh.value.key_id())
            .bind(refresh.value.ciphertext())
            .bind(refresh.issued_at.unix_millis())
            .execute(&mut *tx)
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
    }
    version + 1
}

/// The four operations and their floors on `stores`, in group `group`.
fn operations(
    criterion: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    group: &str,
    stores: &SqlStores,
) {
    let tenant = &TenantId::new("acme").expect("tenant");
    let connection = &ConnectionId::new("c1").expect("id");
    let version = runtime.block_on(async {
        stores
            .swap_credentials(tenant, connection, None, credentials())
            .await
            .expect("swap")
    });
    let version = AtomicU64::new(version);
    let counter = AtomicU64::new(0);
    let pool = stores.pool();
    let mut g = criterion.benchmark_group(group);
    g.bench_function("load/ours", |b| {
        b.to_async(runtime).iter(|| async {
            black_box(
                stores
                    .load_credentials(tenant, connection)
                    .await
                    .expect("load"),
            )
        });
    });
    g.bench_function("load/floor", |b| {
        b.to_async(runtime).iter(|| async {
            black_box(
                sqlx::query(LOAD_SQL)
                    .bind(tenant.as_str())
                    .bind(connection.as_str())
                    .fetch_all(pool)
                    .await
                    .expect("select"),
            )
        });
    });
    g.bench_function("swap/ours", |b| {
        b.to_async(runtime).iter(|| async {
            let v = version.load(Ordering::Relaxed);
            let new = stores
                .swap_credentials(tenant, connection, Some(v), credentials())
                .await
                .expect("swap");
            version.store(new, Ordering::Relaxed);
        });
    });
    let postgres = stores.backend() == Backend::Postgres;
    g.bench_function("swap/floor", |b| {
        b.to_async(runtime).iter(|| async {
            let v = version.load(Ordering::Relaxed);
            let new = raw_swap(
                pool,
                postgres,
                tenant.as_str(),
                connection.as_str(),
                i64::try_from(v).expect("version"),
            )
            .await;
            version.store(u64::try_from(new).expect("version"), Ordering::Relaxed);
        });
    });
    g.bench_function("take/ours", |b| {
        b.to_async(runtime).iter_batched(
            || ApprovalId::generate().expect("id"),
            |id| async move {
                stores
                    .put_approval(&approval(tenant, id.clone()))
                    .await
                    .expect("put");
                black_box(
                    stores
                        .take_approval(tenant, &id, now())
                        .await
                        .expect("take"),
                )
            },
            BatchSize::SmallInput,
        );
    });
    g.bench_function("take/floor", |b| {
        b.to_async(runtime).iter_batched(
            || {
                let id = ApprovalId::generate().expect("id");
                let record = serde_json::to_string(&approval(tenant, id.clone())).expect("JSON");
                (id, record)
            },
            |(id, record)| async move {
                sqlx::query("INSERT INTO approvals (tenant, id, expires_at, record) VALUES ($1, $2, $3, $4)")
                    .bind(tenant.as_str())
                    .bind(id.as_str())
                    .bind(now().unix_millis() + 600_000)
                    .bind(record)
                    .execute(pool)
                    .await
                    .expect("insert");
                black_box(
                    sqlx::query("DELETE FROM approvals WHERE tenant = $1 AND id = $2 RETURNING record, expires_at")
                        .bind(tenant.as_str())
                        .bind(id.as_str())
                        .fetch_optional(pool)
                        .await
                        .expect("delete"),
                )
            },
            BatchSize::SmallInput,
        );
    });
    g.bench_function("dedup/ours", |b| {
        b.to_async(runtime).iter_batched(
            || {
                event(
                    tenant,
                    &format!("ev-{}", counter.fetch_add(1, Ordering::Relaxed)),
                )
            },
            |e| async move { black_box(stores.record_event_if_new(&e).await.expect("record")) },
            BatchSize::SmallInput,
        );
    });
    g.bench_function("dedup/floor", |b| {
        b.to_async(runtime).iter_batched(
            || {
                let e = event(tenant, &format!("ev-{}", counter.fetch_add(1, Ordering::Relaxed)));
                let record = serde_json::to_string(&e).expect("JSON");
                (e.external_event_id, record)
            },
            |(id, record)| async move {
                sqlx::query(
                    "INSERT INTO webhook_events (tenant, definition_key, external_event_id, received_at, record) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, definition_key, external_event_id) DO NOTHING",
                )
                .bind(tenant.as_str())
                .bind("github::github-cloud")
                .bind(id)
                .bind(0_i64)
                .bind(record)
                .execute(pool)
                .await
                .expect("insert")
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
    // Keep the CAS version consistent for a later run on the same database.
    runtime.block_on(async {
        stores
            .delete_credentials(tenant, connection)
            .await
            .expect("delete");
    });
    let _ = version;
}

/// A host on `host`'s stores with a GitHub target and connection: the ingest pipeline.
fn ingest_for(runtime: &tokio::runtime::Runtime, host: Host) -> Ingest {
    let registry = Arc::new(integrations::definitions::registry());
    runtime.block_on(async {
        let service = WriteService::new(registry.clone(), host.clone());
        let tenant = TenantId::new("acme").expect("tenant");
        let target = TargetId::new("gh").expect("target");
        service
            .put_target(
                TargetInput::new(
                    tenant.clone(),
                    target.clone(),
                    "github::github-cloud".parse().expect("key"),
                )
                .with_secrets(json!({"webhook_secret": SECRET})),
            )
            .await
            .expect("target");
        service
            .put_connection(
                ConnectionInput::new(
                    tenant,
                    ConnectionId::new("gh-1").expect("id"),
                    target,
                    "api-key".parse().expect("method"),
                )
                .with_secret("token", "ghp_bench")
                .with_external_subject("1"),
            )
            .await
            .expect("connection");
    });
    Ingest::new(registry, host).expect("ingest")
}

#[allow(clippy::print_stdout, reason = "the bench reports its ratios")]
fn main() {
    let mut criterion = Criterion::default()
        .output_directory(&output_directory())
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let path = output_directory().join(format!("bench-{}.db", std::process::id()));
    std::fs::create_dir_all(output_directory()).expect("directory");
    let sqlite = runtime
        .block_on(SqlStores::connect(&format!("sqlite://{}", path.display())))
        .expect("SQLite");
    let mut groups = vec![("sqlite", sqlite.clone())];
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let postgres = runtime
            .block_on(SqlStores::connect(&url))
            .expect("PostgreSQL");
        runtime.block_on(async {
            for table in [
                "approvals",
                "webhook_events",
                "credentials",
                "credential_sets",
            ] {
                sqlx::query(&format!("DELETE FROM {table} WHERE tenant = 'acme'"))
                    .execute(postgres.pool())
                    .await
                    .expect("clean");
            }
        });
        groups.push(("postgres", postgres));
    }
    for (name, stores) in &groups {
        operations(&mut criterion, &runtime, name, stores);
    }

    // Ingest: memory beside SQLite (and PostgreSQL), a new delivery id each time.
    let github = GitHub::cloud();
    let signer = WebhookSigner::for_definition(&github, SECRET).expect("a source");
    let key = "github::github-cloud".parse().expect("key");
    let body: Vec<u8> =
        serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(PAYLOAD).expect("JSON"))
            .expect("JSON");
    let test = TestHost::new();
    test.clock.set(now());
    let memory = ingest_for(&runtime, test.host().clone());
    let sql_host = |stores: &SqlStores| {
        let clock = Arc::new(ManualClock::new(now()));
        Host::builder()
            .stores(Arc::new(stores.clone()))
            .http(Arc::new(integrations_testkit::offline_http()))
            .cipher(Arc::new(AesGcmKeyRing::new("k1", [3; 32]).expect("key")))
            .clock(clock as Arc<dyn Clock>)
            .events(Arc::new(integrations_testkit::RecordingEventSink::new()))
            .build()
            .expect("host")
    };
    let mut ingests: Vec<(&str, Ingest)> = vec![("memory", memory)];
    for (name, stores) in &groups {
        ingests.push((*name, ingest_for(&runtime, sql_host(stores))));
    }
    let counter = AtomicU64::new(0);
    {
        let mut g = criterion.benchmark_group("ingest");
        for (name, ingest) in &ingests {
            g.bench_function(*name, |b| {
                b.to_async(&runtime).iter_batched(
                    || {
                        let id = format!("delivery-{}", counter.fetch_add(1, Ordering::Relaxed));
                        signer
                            .sign(
                                &Delivery::new(&body, now())
                                    .with_id(&id)
                                    .with_event("issue_comment"),
                            )
                            .expect("signed")
                            .request(&key)
                    },
                    |request| async { ingest.ingest(request).await.expect("ingested").outcome },
                    BatchSize::SmallInput,
                );
            });
        }
        g.finish();
    }
    criterion.final_summary();

    for (name, _) in &groups {
        let mut line = format!("store {name}: medians");
        for op in ["load", "swap", "take", "dedup"] {
            if let (Some(ours), Some(floor)) = (
                median_nanos(name, &format!("{op}_ours")),
                median_nanos(name, &format!("{op}_floor")),
            ) {
                let _ = write!(
                    line,
                    "; {op} ours {:.1} µs floor {:.1} µs ratio {:.2}",
                    ours / 1e3,
                    floor / 1e3,
                    ours / floor
                );
            }
        }
        println!("{line}");
    }
    if let Some(memory) = median_nanos("ingest", "memory") {
        let mut line = format!(
            "ingest: memory {:.0} deliveries/s ({:.1} µs)",
            1e9 / memory,
            memory / 1e3
        );
        for (name, _) in &groups {
            if let Some(sql) = median_nanos("ingest", name) {
                let _ = write!(
                    line,
                    "; {name} {:.0} deliveries/s ({:.1} µs), ratio {:.2}",
                    1e9 / sql,
                    sql / 1e3,
                    sql / memory
                );
            }
        }
        println!("{line}");
    }
    let _ = std::fs::remove_file(&path);
}
