//! A full sync beside its floor, in the same run: records per second of a full run of
//! Linear's `issues` (500 issues, 10 pages of 50) from the mock API on loopback through
//! `SyncRunner` into `SqlRecordSink` on SQLite (checkpoint and lease renewal after every
//! page), beside the sink's raw insert rate of the same 10 pages, written directly.
//!
//! `cargo bench --bench sync -- --measurement-time 3`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use integrations::core::auth::TokenManager;
use integrations::core::host::{AesGcmKeyRing, Host, ReqwestHttpClient, SystemClock};
use integrations::core::service::{ConnectionInput, TargetInput, WriteService};
use integrations::core::sync::{RecordSink, SyncMode, SyncPage, SyncRunner};
use integrations::core::{ConnectionId, TargetId, TenantId};
use integrations_sqlx::SqlStores;
use integrations_testkit::mock::api::LinearSyncApi;
use serde_json::json;

const RECORDS: usize = 500;
const KEY_HEX: &str = "4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b";

fn output_directory() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("criterion-sync")
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

struct Setup {
    _api: LinearSyncApi,
    stores: SqlStores,
    runner: SyncRunner,
    tenant: TenantId,
    connection: ConnectionId,
}

async fn setup() -> Setup {
    let api = LinearSyncApi::start(Arc::new(SystemClock::new())).await;
    api.accept_api_key("lin_api_bench");
    api.add("issues", RECORDS);
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-sync.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    let stores = SqlStores::connect(&format!("sqlite://{}", file.display()))
        .await
        .expect("sqlite");
    let host = Host::builder()
        .stores(Arc::new(stores.clone()))
        .cipher(Arc::new(AesGcmKeyRing::from_hex(KEY_HEX).expect("key")))
        .http(Arc::new(ReqwestHttpClient::new().expect("http")))
        .build()
        .expect("host");
    let registry = Arc::new(integrations::definitions::registry());
    let tenant = TenantId::new("acme").expect("tenant");
    let connection = ConnectionId::new("c1").expect("id");
    let write = WriteService::new(registry.clone(), host.clone());
    write
        .put_target(
            TargetInput::new(
                tenant.clone(),
                TargetId::new("linear").expect("target"),
                "linear::linear-default".parse().expect("key"),
            )
            .with_config(json!({"api_base_url": api.base_url()})),
        )
        .await
        .expect("target");
    write
        .put_connection(
            ConnectionInput::new(
                tenant.clone(),
                connection.clone(),
                TargetId::new("linear").expect("target"),
                "api-key".parse().expect("method"),
            )
            .with_secret("api_key", "lin_api_bench"),
        )
        .await
        .expect("connection");
    let tokens = Arc::new(TokenManager::new(registry.clone(), host.clone()));
    Setup {
        _api: api,
        stores,
        runner: SyncRunner::new(registry, host, tokens),
        tenant,
        connection,
    }
}

#[allow(clippy::print_stdout, reason = "the bench reports its rates")]
fn main() {
    let mut criterion = Criterion::default()
        .output_directory(&output_directory())
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .configure_from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let s = runtime.block_on(setup());
    let sink = s.stores.record_sink();
    // The pages a full run writes, captured once, for the floor.
    let pages: Vec<SyncPage> = runtime.block_on(async {
        let report = s
            .runner
            .run(
                &s.tenant,
                &s.connection,
                "issues",
                SyncMode::Full,
                &sink,
                None,
            )
            .await
            .expect("first run");
        assert_eq!(report.records, RECORDS as u64);
        let records = sink
            .records(&s.tenant, &s.connection, "issues")
            .await
            .expect("records");
        records
            .chunks(50)
            .map(|chunk| SyncPage::new(chunk.to_vec(), None))
            .collect()
    });
    let connection = runtime.block_on(async {
        integrations::core::host::ConnectionStore::get_connection(
            &s.stores,
            &s.tenant,
            &s.connection,
        )
        .await
        .expect("load")
        .expect("connection")
    });

    let mut g = criterion.benchmark_group("sync");
    g.bench_function("full_run", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let (runner, sink, tenant, id) = (
                s.runner.clone(),
                sink.clone(),
                s.tenant.clone(),
                s.connection.clone(),
            );
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    runner
                        .delete(&tenant, &id, "issues", &sink)
                        .await
                        .expect("reset");
                    let start = Instant::now();
                    let report = runner
                        .run(&tenant, &id, "issues", SyncMode::Full, &sink, None)
                        .await
                        .expect("run");
                    total += start.elapsed();
                    assert_eq!(report.records, RECORDS as u64);
                }
                total
            }
        });
    });
    g.bench_function("raw_insert", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let (sink, pages, connection) = (sink.clone(), pages.clone(), connection.clone());
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    sink.delete_stream(&connection, "issues")
                        .await
                        .expect("reset");
                    let start = Instant::now();
                    for page in &pages {
                        sink.write_page(&connection, "issues", page)
                            .await
                            .expect("write");
                    }
                    total += start.elapsed();
                }
                total
            }
        });
    });
    g.finish();
    criterion.final_summary();

    if let (Some(ours), Some(floor)) = (
        median_nanos("sync", "full_run"),
        median_nanos("sync", "raw_insert"),
    ) {
        #[allow(clippy::cast_precision_loss, reason = "a rate for people")]
        let per_second = |nanos: f64| RECORDS as f64 * 1e9 / nanos;
        println!(
            "sync: full run {:.0} records/s ({:.1} ms), raw insert {:.0} records/s ({:.1} ms), ratio {:.2}",
            per_second(ours),
            ours / 1e6,
            per_second(floor),
            floor / 1e6,
            ours / floor
        );
    }
}
