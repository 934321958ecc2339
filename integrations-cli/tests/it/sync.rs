//! `integrations sync run` end to end: a SQLite file written by a host, the Linear mock
//! API on loopback, the binary run as a user runs it.

use std::sync::Arc;

use integrations_core::host::{AesGcmKeyRing, Host, ReqwestHttpClient, SystemClock};
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::{ConnectionId, ConnectionMethodId, TargetId, TenantId};
use integrations_sqlx::SqlStores;
use integrations_testkit::mock::api::{LinearSyncApi, SyncFault};

use crate::support::{run_with_env, stderr, stdout, temp_dir};

const KEY_HEX: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

/// A database holding a Linear target pointed at `api` and an API-key connection `c1`.
async fn seed(url: &str, api: &LinearSyncApi) {
    let stores = SqlStores::connect(url).await.unwrap();
    let host = Host::builder()
        .stores(Arc::new(stores.clone()))
        .cipher(Arc::new(AesGcmKeyRing::from_hex(KEY_HEX).unwrap()))
        .http(Arc::new(ReqwestHttpClient::new().unwrap()))
        .build()
        .unwrap();
    let write = WriteService::new(Arc::new(integrations_definitions::registry()), host);
    write
        .put_target(
            TargetInput::new(
                TenantId::new("acme").unwrap(),
                TargetId::new("linear").unwrap(),
                "linear::linear-default".parse().unwrap(),
            )
            .with_config(serde_json::json!({"api_base_url": api.base_url()})),
        )
        .await
        .unwrap();
    write
        .put_connection(
            ConnectionInput::new(
                TenantId::new("acme").unwrap(),
                ConnectionId::new("c1").unwrap(),
                TargetId::new("linear").unwrap(),
                ConnectionMethodId::new("api-key").unwrap(),
            )
            .with_secret("api_key", "lin_api_cli_sync"),
        )
        .await
        .unwrap();
    stores.close().await;
}

/// The `issues` records of connection `c1` in the database at `url`.
async fn synced_issues(url: &str) -> Vec<integrations_core::sync::SyncRecord> {
    let stores = SqlStores::connect(url).await.unwrap();
    let records = stores
        .record_sink()
        .records(
            &TenantId::new("acme").unwrap(),
            &ConnectionId::new("c1").unwrap(),
            "issues",
        )
        .await
        .unwrap();
    stores.close().await;
    records
}

async fn sync(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_with_env(&args, &[("SEALING_KEY", KEY_HEX)])
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_run_reads_a_stream_into_the_database_with_progress_and_exit_codes() {
    let dir = temp_dir("sync-run");
    let url = format!("sqlite://{}", dir.join("host.db").display());
    let api = LinearSyncApi::start(Arc::new(SystemClock::new())).await;
    api.accept_api_key("lin_api_cli_sync");
    let ids = api.add("issues", 120);
    seed(&url, &api).await;
    // The provider rate-limits page 2 for one second.
    api.fail_after_pages(1, SyncFault::RateLimited(std::time::Duration::from_secs(1)));

    let base = |stream: &str| -> Vec<String> {
        [
            "sync",
            "run",
            "linear::linear-default",
            stream,
            "--connection",
            "c1",
            "--tenant",
            "acme",
            "--database-url",
            url.as_str(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    let output = sync(base("issues")).await;
    let out = stdout(&output);
    assert!(output.status.success(), "{out}\n{}", stderr(&output));
    // Not a terminal: one plain line per page and per pause.
    assert!(
        out.contains("page 1: 50 records, 0 deleted, 1 page, 0 rate-limit waits"),
        "{out}"
    );
    assert!(
        out.contains("rate limited by the provider: waiting"),
        "{out}"
    );
    assert!(out.contains("page 3: 120 records"), "{out}");
    assert!(
        out.contains("synced linear::linear-default issues: 120 records, 0 deleted, 3 pages, 1 rate-limit wait"),
        "{out}"
    );

    // The records are in the database.
    let records = synced_issues(&url).await;
    assert_eq!(records.len(), 120);
    assert!(records.iter().any(|r| r.id == ids[119]));

    // An incremental run after a change reads only the change.
    api.update("issues", &ids[7], "edited");
    let output = sync(base("issues")).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("issues: 1 record, 0 deleted, 1 page"));

    // For scripts: the report as one JSON object on stdout, progress on stderr.
    api.update("issues", &ids[8], "edited again");
    let mut args = base("issues");
    args.push("--json".to_owned());
    let output = sync(args).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(stdout(&output).trim())
        .unwrap_or_else(|e| panic!("{e}: {}", stdout(&output)));
    assert_eq!(report["key"], "linear::linear-default");
    assert_eq!(report["stream"], "issues");
    assert_eq!(report["records"], 1);
    assert_eq!(report["deleted"], 0);
    assert_eq!(report["pages"], 1);
    assert!(report["watermark"].is_string(), "{report}");
    assert!(
        stderr(&output).contains("page 1: 1 record"),
        "{}",
        stderr(&output)
    );

    // A mistyped database path: usage error, and no database is left behind.
    let mistyped = dir.join("hots.db");
    let mut args = base("issues");
    let at = args.iter().position(|a| a == "--database-url").unwrap() + 1;
    args[at] = format!("sqlite://{}", mistyped.display());
    let output = sync(args).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).starts_with("store.database_not_found "),
        "{}",
        stderr(&output)
    );
    assert!(!mistyped.exists());

    // A stream Linear does not have: usage error.
    let output = sync(base("cycles")).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).starts_with("sync.unsupported "));

    // A revoked key: the connection cannot sync (exit 7), and says so.
    api.tokens().revoke_all();
    let output = sync(base("issues")).await;
    assert_eq!(output.status.code(), Some(7), "{}", stderr(&output));
    assert!(stderr(&output).starts_with("sync.credential_rejected "));
    assert!(!stderr(&output).contains("lin_api_cli_sync"));

    // Without the sealing key nothing is opened.
    let args = base("issues");
    let output = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::support::run(&args)
    })
    .await
    .unwrap();
    if std::env::var_os("SEALING_KEY").is_none() {
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C during a run stops it, gives the stream's lease back and exits 130: the next
/// run starts at once (not `sync.lease_held` for the lease's five minutes) and resumes
/// from the last page written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_a_run_gives_its_lease_back_and_the_next_run_resumes() {
    use tokio::io::AsyncBufReadExt as _;

    let dir = temp_dir("sync-ctrl-c");
    let url = format!("sqlite://{}", dir.join("host.db").display());
    let api = LinearSyncApi::start(Arc::new(SystemClock::new())).await;
    api.accept_api_key("lin_api_cli_sync");
    api.add("issues", 120);
    seed(&url, &api).await;
    // The second page's request is never answered: the run waits on it.
    api.fail_after_pages(1, SyncFault::Hang);
    let args = [
        "sync",
        "run",
        "linear::linear-default",
        "issues",
        "--connection",
        "c1",
        "--tenant",
        "acme",
        "--database-url",
        url.as_str(),
    ];
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_integrations"))
        .args(args)
        .env("SEALING_KEY", KEY_HEX)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first_page = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("page 1:") {
                return;
            }
        }
        panic!("the run ended before its first page");
    });
    first_page.await.expect("the first page within 30 s");
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait())
        .await
        .expect("the run stops at Ctrl-C")
        .unwrap();
    let mut stderr_text = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr_text)
        .await
        .unwrap();
    assert_eq!(status.code(), Some(130), "{stderr_text}");
    assert!(stderr_text.contains("sync.stopped "), "{stderr_text}");

    // The lease was given back: the next run starts now and reads the rest.
    api.heal();
    let output = sync(args.iter().map(|s| (*s).to_owned()).collect()).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(synced_issues(&url).await.len(), 120);
}

/// Several replicas running `db migrate` on one new SQLite file at once all succeed: the
/// ones that find the file being set up wait for it, and every one reports the version
/// reached.
#[test]
fn db_migrate_from_several_processes_at_once_all_succeed() {
    let dir = temp_dir("db-migrate-at-once");
    let url = format!("sqlite://{}", dir.join("shared.db").display());
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                run_with_env(&["db", "migrate", "--database-url", &url], &[])
            })
        })
        .collect();
    for run in runs {
        let output = run.join().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            stdout(&output).contains(&format!(
                "schema version {}, this release's",
                integrations_sqlx::SCHEMA_VERSION
            )),
            "{}",
            stdout(&output)
        );
    }
}

/// `db migrate` is the deploy step the serving commands expect: it creates and migrates
/// a SQLite database (again: nothing to do; an empty one: migrated), saying which, after
/// which `sync run` opens it and gets as
/// far as the missing connection. Without a URL it says what to give.
#[test]
fn db_migrate_makes_a_database_the_serving_commands_open() {
    let dir = temp_dir("db-migrate");
    let url = format!("sqlite://{}", dir.join("fresh.db").display());
    let sync_args = [
        "sync",
        "run",
        "linear::linear-default",
        "issues",
        "--connection",
        "c1",
        "--tenant",
        "acme",
        "--database-url",
        url.as_str(),
    ];
    let before = run_with_env(&sync_args, &[("SEALING_KEY", KEY_HEX)]);
    assert_eq!(before.status.code(), Some(2), "{}", stderr(&before));
    assert!(stderr(&before).starts_with("store.database_not_found "));

    // Created, then already current: each run says what it did.
    for did in [
        format!(
            "created the database at schema version {}, this release's",
            integrations_sqlx::SCHEMA_VERSION
        ),
        format!(
            "the database is at schema version {}, this release's: nothing to do",
            integrations_sqlx::SCHEMA_VERSION
        ),
    ] {
        let migrated = run_with_env(&["db", "migrate", "--database-url", &url], &[]);
        assert!(migrated.status.success(), "{}", stderr(&migrated));
        assert_eq!(stdout(&migrated).trim(), did);
    }
    // For scripts, the same as JSON.
    let migrated = run_with_env(&["db", "migrate", "--json", "--database-url", &url], &[]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let said: serde_json::Value = serde_json::from_str(stdout(&migrated).trim()).unwrap();
    assert_eq!(
        said,
        serde_json::json!({"outcome": "current", "schema_version": integrations_sqlx::SCHEMA_VERSION})
    );
    assert!(dir.join("fresh.db").exists());

    let after = run_with_env(&sync_args, &[("SEALING_KEY", KEY_HEX)]);
    assert!(
        stderr(&after)
            .starts_with("auth.connection_not_found the tenant acme has no connection c1"),
        "{}",
        stderr(&after)
    );
    // The tenant is never guessed.
    let untenanted: Vec<&str> = sync_args
        .iter()
        .copied()
        .filter(|a| !matches!(*a, "--tenant" | "acme"))
        .collect();
    let refused = run_with_env(&untenanted, &[("SEALING_KEY", KEY_HEX)]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("--tenant"),
        "{}",
        stderr(&refused)
    );

    // An empty SQLite file (no schema yet) is migrated, and says so.
    std::fs::write(dir.join("empty.db"), b"").unwrap();
    let empty = format!("sqlite://{}", dir.join("empty.db").display());
    let migrated = run_with_env(&["db", "migrate", "--database-url", &empty], &[]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    assert_eq!(
        stdout(&migrated).trim(),
        format!(
            "migrated the database to schema version {}, this release's",
            integrations_sqlx::SCHEMA_VERSION
        )
    );
    std::fs::write(dir.join("empty2.db"), b"").unwrap();
    let empty = format!("sqlite://{}", dir.join("empty2.db").display());
    let migrated = run_with_env(&["db", "migrate", "--json", "--database-url", &empty], &[]);
    let said: serde_json::Value = serde_json::from_str(stdout(&migrated).trim()).unwrap();
    assert_eq!(said["outcome"], "migrated");

    let missing = run_with_env(&["db", "migrate"], &[("DATABASE_URL", "")]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(stderr(&missing).starts_with("cli.database_url_missing "));
}
