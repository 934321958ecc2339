//! Clear errors with stable codes, and nothing half-written: a newer schema, wrong URLs,
//! a statement failing inside a transaction, a dropped or closed connection (also in the
//! middle of a swap).

use integrations_core::ErrorKind;
use integrations_core::host::Sealed;
use integrations_core::host::{ConnectionStore, CredentialStore, TargetStore};
use integrations_core::model::{Connection, Credential, CredentialType, Target};
use integrations_core::{
    ConnectionId, ConnectionMethodId, DefinitionKey, TargetId, TenantId, Timestamp,
};
use integrations_sqlx::{SCHEMA_VERSION, SqlStores};
use integrations_testkit::assert_secret_free;

use crate::{each_backend, support};

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn credential(key_id: &str, bytes: &[u8]) -> Credential {
    Credential::new(
        CredentialType::API_KEY,
        Sealed::new(key_id, bytes.to_vec()),
        Timestamp::from_unix_seconds(1_800_000_000),
    )
}

async fn count(stores: &SqlStores, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(stores.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_never_written() {
    each_backend!("schema_too_new", |url| {
        let stores = SqlStores::connect(&url).await.unwrap();
        assert_eq!(stores.schema_version().await.unwrap(), SCHEMA_VERSION);
        let target = Target::new(
            tenant(),
            TargetId::new("t1").unwrap(),
            DefinitionKey::new("github", "github").unwrap(),
            Timestamp::from_unix_seconds(1),
        );
        stores.put_target(&target).await.unwrap();
        // A newer release of this crate migrated the database.
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, 'from the future', TRUE, $2, 0)",
        )
        .bind(SCHEMA_VERSION + 1)
        .bind(vec![0_u8; 48])
        .execute(stores.pool())
        .await
        .unwrap();

        for result in [
            SqlStores::connect(&url).await.map(drop),
            SqlStores::open(&url).await.map(drop),
            stores.migrate().await,
        ] {
            let err = result.unwrap_err();
            assert_eq!(err.code(), "store.schema_too_new", "{err:?}");
            assert_eq!(err.kind(), ErrorKind::Configuration);
            assert!(err.message().contains("upgrade"), "{}", err.message());
        }
        // Nothing was written: one target, this version's migration rows and the future
        // one, as before.
        assert_eq!(count(&stores, "targets").await, 1);
        assert_eq!(count(&stores, "_sqlx_migrations").await, SCHEMA_VERSION + 1);
    });
}

/// A host with its own sqlx migrations in the same PostgreSQL database keeps them in
/// another schema, as the README says: both migrators then run, again and again, each
/// with its own `_sqlx_migrations`. In one schema, the two share that table and the
/// host's migrator refuses to run (this crate's version 1 is not its version 1).
#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_host_keeps_its_own_sqlx_migrations_in_another_postgres_schema() {
    let (Some(ours), Some(hosts)) = (
        support::postgres_url("ours").await,
        support::postgres_url("hosts").await,
    ) else {
        return;
    };
    let dir = support::temp_dir("host_migrations");
    std::fs::write(
        dir.join("0001_users.sql"),
        "CREATE TABLE users (id TEXT PRIMARY KEY);",
    )
    .unwrap();
    std::fs::write(
        dir.join("0002_orders.sql"),
        "CREATE TABLE orders (id TEXT PRIMARY KEY);",
    )
    .unwrap();
    let host_migrator = sqlx::migrate::Migrator::new(dir.as_path()).await.unwrap();
    let host_pool = sqlx::AnyPool::connect(&hosts).await.unwrap();

    host_migrator.run(&host_pool).await.unwrap();
    let stores = SqlStores::connect(&ours).await.unwrap();
    host_migrator.run(&host_pool).await.unwrap();
    let again = SqlStores::connect(&ours).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&host_pool)
        .await
        .unwrap();
    assert_eq!(users, 0);
    assert_eq!(count(&stores, "targets").await, 0);

    // The same migrations in this crate's schema: sqlx reads this crate's versions as
    // the host's (missing from its files, or another checksum) and refuses.
    let shared = sqlx::AnyPool::connect(&ours).await.unwrap();
    let refused = host_migrator.run(&shared).await.unwrap_err();
    assert!(
        matches!(
            refused,
            sqlx::migrate::MigrateError::VersionMissing(_)
                | sqlx::migrate::MigrateError::VersionMismatch(_)
        ),
        "{refused:?}"
    );
    host_pool.close().await;
    shared.close().await;
}

#[tokio::test]
async fn open_refuses_an_unmigrated_database_and_migrate_is_idempotent() {
    each_backend!("open_outdated", |url| {
        // An empty database: a new PostgreSQL schema, an empty SQLite file.
        if let Some(path) = url.strip_prefix("sqlite://") {
            std::fs::File::create(path).unwrap();
        }
        let err = SqlStores::open(&url).await.unwrap_err();
        assert_eq!(err.code(), "store.schema_outdated");
        if let Some(path) = url.strip_prefix("sqlite://") {
            // Refused as it was: not even switched to WAL mode.
            assert_eq!(std::fs::metadata(path).unwrap().len(), 0);
            assert!(!std::path::Path::new(&format!("{path}-wal")).exists());
        }
        let stores = SqlStores::connect(&url).await.unwrap();
        stores.migrate().await.unwrap();
        stores.migrate().await.unwrap();
        SqlStores::open(&url).await.unwrap();
        // One row per migration, each applied once.
        assert_eq!(count(&stores, "_sqlx_migrations").await, SCHEMA_VERSION);
    });
}

#[tokio::test]
async fn wrong_urls_give_stable_codes_without_the_password() {
    let err = SqlStores::connect("mysql://root:hunter2-secret@127.0.0.1/db")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "store.unsupported_url");
    assert_secret_free(&err, "hunter2-secret");

    let err = SqlStores::connect("sqlite:///nonexistent-directory/for/sure/x.db")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "store.connect_refused", "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Configuration);

    let err = SqlStores::connect("no scheme at all").await.unwrap_err();
    assert_eq!(err.code(), "store.unsupported_url");
}

#[tokio::test]
async fn open_refuses_a_missing_sqlite_file_and_creates_nothing() {
    let file = support::sqlite_path("mistyped");
    let url = format!("sqlite://{}", file.display());
    let err = SqlStores::open(&url).await.unwrap_err();
    assert_eq!(err.code(), "store.database_not_found", "{err:?}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = format!("{}{suffix}", file.display());
        assert!(!std::path::Path::new(&path).exists(), "{path} was created");
    }

    let missing_dir = format!("sqlite://{}/x.db", file.display());
    let err = SqlStores::open(&missing_dir).await.unwrap_err();
    assert_eq!(err.code(), "store.database_not_found", "{err:?}");

    // A database `connect` made opens, with what was written.
    let stores = SqlStores::connect(&url).await.unwrap();
    let connection = ConnectionId::new("c1").unwrap();
    stores
        .swap_credentials(
            &tenant(),
            &connection,
            None,
            vec![credential("k1", b"kept")],
        )
        .await
        .unwrap();
    stores.close().await;
    let stores = SqlStores::open(&url).await.unwrap();
    let set = stores
        .load_credentials(&tenant(), &connection)
        .await
        .unwrap()
        .expect("kept");
    assert_eq!(set.credentials.len(), 1);
    stores.close().await;

    // The URL's own mode wins: `mode=rwc` creates the file, which is then refused as
    // empty, not migrated.
    let own = support::sqlite_path("own-mode");
    let err = SqlStores::open(&format!("sqlite://{}?mode=rwc", own.display()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "store.schema_outdated", "{err:?}");
    assert!(own.exists());
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn an_unreachable_postgres_is_unavailable_without_the_password() {
    // Port 1 on loopback: nothing listens there.
    let err = SqlStores::connect("postgres://app:hunter2-secret@127.0.0.1:1/app")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "store.unavailable", "{err:?}");
    assert!(err.is_temporary());
    assert_secret_free(&err, "hunter2-secret");
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_wrong_postgres_database_is_refused() {
    let Some(url) = support::postgres_url("wrong_db").await else {
        return;
    };
    let base = url.split('?').next().unwrap();
    let wrong = format!("{}/no_such_database", base.rsplit_once('/').unwrap().0);
    let err = SqlStores::connect(&wrong).await.unwrap_err();
    assert_eq!(err.code(), "store.connect_refused", "{err:?}");
}

/// A statement failing in the middle of a credential swap (a trigger refuses the second
/// credential) rolls the whole swap back: the old version and credentials stay.
#[tokio::test]
async fn a_failing_swap_writes_nothing() {
    each_backend!("half_written", |url| {
        let stores = SqlStores::connect(&url).await.unwrap();
        let connection = ConnectionId::new("c1").unwrap();
        stores
            .swap_credentials(&tenant(), &connection, None, vec![credential("k1", b"old")])
            .await
            .unwrap();
        let trigger: &[&str] = match stores.backend() {
            integrations_sqlx::Backend::Sqlite => &[
                "CREATE TRIGGER refuse BEFORE INSERT ON credentials WHEN NEW.key_id = 'boom' \
                 BEGIN SELECT RAISE(ABORT, 'refused'); END",
            ],
            _ => &[
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN \
                 IF NEW.key_id = 'boom' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; \
                 END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse BEFORE INSERT ON credentials \
                 FOR EACH ROW EXECUTE FUNCTION refuse()",
            ],
        };
        for sql in trigger {
            sqlx::query(sql).execute(stores.pool()).await.unwrap();
        }
        let err = stores
            .swap_credentials(
                &tenant(),
                &connection,
                Some(1),
                vec![credential("k1", b"new"), credential("boom", b"new")],
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Storage, "{err:?}");
        let kept = stores
            .load_credentials(&tenant(), &connection)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept.version, 1);
        assert_eq!(kept.credentials, vec![credential("k1", b"old")]);
        // And the next swap from version 1 still works.
        assert_eq!(
            stores
                .swap_credentials(
                    &tenant(),
                    &connection,
                    Some(1),
                    vec![credential("k1", b"new")]
                )
                .await
                .unwrap(),
            2
        );
    });
}

/// A purge that fails half-way deletes nothing (the trait: "nothing is deleted then"):
/// the expired requests stay with the calls.
#[tokio::test]
async fn a_failing_purge_deletes_nothing() {
    use integrations_core::host::ApprovalStore as _;
    use integrations_core::tools::{ApprovalId, ApprovalRequest, CallContext, Session};
    each_backend!("half_purged", |url| {
        let stores = SqlStores::connect(&url).await.unwrap();
        let now = Timestamp::from_unix_seconds(1_800_000_000);
        let context = CallContext::new(
            Session::new(tenant(), integrations_core::WorkspaceId::new("ws").unwrap()),
            ConnectionId::new("c1").unwrap(),
        );
        stores
            .put_approval(&ApprovalRequest::new(
                ApprovalId::generate().unwrap(),
                "tracker_create_issue",
                "tracker::cloud".parse().unwrap(),
                serde_json::json!({"title": "t"}),
                context,
                now,
                std::time::Duration::from_secs(60),
            ))
            .await
            .unwrap();
        let trigger: &[&str] = match stores.backend() {
            integrations_sqlx::Backend::Sqlite => &[
                "CREATE TRIGGER refuse BEFORE DELETE ON approval_calls \
                 BEGIN SELECT RAISE(ABORT, 'refused'); END",
                // SQLite runs a DELETE's triggers per row: give it one to delete.
                "INSERT INTO approval_calls (tenant, key, approval, connection, stage, \
                 expires_at, record, workspace, principal_user) \
                 VALUES ('acme', 'k', 'a', 'c1', 'pending', 0, '{}', 'ws', '')",
            ],
            _ => &[
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN \
                 RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse BEFORE DELETE ON approval_calls \
                 FOR EACH STATEMENT EXECUTE FUNCTION refuse()",
            ],
        };
        for sql in trigger {
            sqlx::query(sql).execute(stores.pool()).await.unwrap();
        }
        let later = Timestamp::from_unix_seconds(1_800_000_000 + 3600);
        let err = stores.purge_approvals(later).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Storage, "{err:?}");
        assert_eq!(count(&stores, "approvals").await, 1);
    });
}

/// A purge and a disconnect's `delete_approvals` at once, on one expired request and its
/// call: both delete from the two approval tables in one order, so neither waits on a
/// lock the other holds while holding one it wants (PostgreSQL aborted one of them with
/// a deadlock, `store.unavailable`). A trigger holds the purge inside its transaction
/// after its first lock, so the disconnect comes in between.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn purging_and_forgetting_approvals_at_once_do_not_deadlock() {
    use integrations_core::host::ApprovalStore as _;
    use integrations_core::model::ApprovalCall;
    use integrations_core::tools::{ApprovalId, ApprovalRequest, CallContext, Session};
    let Some(url) = support::postgres_url("approval_locks").await else {
        return;
    };
    let stores = SqlStores::connect(&url).await.unwrap();
    let now = Timestamp::from_unix_seconds(1_800_000_000);
    let connection = ConnectionId::new("c1").unwrap();
    let request = ApprovalRequest::new(
        ApprovalId::generate().unwrap(),
        "tracker_create_issue",
        "tracker::cloud".parse().unwrap(),
        serde_json::json!({"title": "t"}),
        CallContext::new(
            Session::new(tenant(), integrations_core::WorkspaceId::new("ws").unwrap()),
            connection.clone(),
        ),
        now,
        std::time::Duration::from_secs(60),
    );
    stores.put_approval(&request).await.unwrap();
    let key = format!("{:0>64}", "c0ffee");
    stores
        .put_approval_call(&ApprovalCall::pending(key, request, now), now)
        .await
        .unwrap();
    for sql in [
        "CREATE FUNCTION slow() RETURNS trigger AS $$ BEGIN \
         PERFORM pg_sleep(0.5); RETURN OLD; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER slow AFTER DELETE ON approvals \
         FOR EACH ROW EXECUTE FUNCTION slow()",
    ] {
        sqlx::query(sql).execute(stores.pool()).await.unwrap();
    }
    let later = Timestamp::from_unix_seconds(1_800_000_000 + 3600);
    let purging = tokio::spawn({
        let stores = stores.clone();
        async move { stores.purge_approvals(later).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let forgotten = stores.delete_approvals(&tenant(), &connection).await;
    let purged = purging.await.unwrap();
    assert!(
        purged.is_ok() && forgotten.is_ok(),
        "purge {purged:?}, delete {forgotten:?}"
    );
    assert_eq!(count(&stores, "approvals").await, 0);
    assert_eq!(count(&stores, "approval_calls").await, 0);
}

#[tokio::test]
async fn a_closed_pool_is_unavailable() {
    each_backend!("closed", |url| {
        let stores = SqlStores::connect(&url).await.unwrap();
        stores.close().await;
        let err = stores
            .load_credentials(&tenant(), &ConnectionId::new("c1").unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "store.unavailable");
        assert!(err.is_temporary());
    });
}

/// The server drops every connection of the stores (an administrator, a failover): the
/// next call either reconnects or fails with `store.unavailable`, and a retry succeeds
/// with nothing lost.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_dropped_postgres_connection_is_unavailable_then_recovers() {
    let Some(url) = support::postgres_url("dropped").await else {
        return;
    };
    let app = format!("dropped_{}", std::process::id());
    let stores = SqlStores::connect(&format!("{url}&application_name={app}"))
        .await
        .unwrap();
    let connection = ConnectionId::new("c1").unwrap();
    stores
        .swap_credentials(&tenant(), &connection, None, vec![credential("k1", b"v1")])
        .await
        .unwrap();
    let admin = SqlStores::connect(&url).await.unwrap();
    let killed: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&app)
    .fetch_one(admin.pool())
    .await
    .unwrap();
    assert!(killed >= 1, "no connection was dropped");
    let mut unavailable = 0;
    let mut loaded = None;
    for _ in 0..5 {
        match stores.load_credentials(&tenant(), &connection).await {
            Ok(set) => {
                loaded = set;
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), "store.unavailable", "{e:?}");
                unavailable += 1;
            }
        }
    }
    let loaded = loaded.expect("a retry after the drop succeeds");
    assert_eq!(loaded.version, 1);
    assert!(unavailable < 5);
}

/// The connection is dropped while a swap runs (the server terminates it mid-statement):
/// the swap fails with `store.unavailable`, and the stored credentials are the old ones,
/// whole, at the old version; the next swap from that version works.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_swap_writes_nothing() {
    let Some(url) = support::postgres_url("dropped_mid_swap").await else {
        return;
    };
    let app = format!("mid_swap_{}", std::process::id());
    let stores = SqlStores::connect(&format!("{url}&application_name={app}"))
        .await
        .unwrap();
    let connection = ConnectionId::new("c1").unwrap();
    stores
        .swap_credentials(
            &tenant(),
            &connection,
            None,
            vec![credential("k1", b"old-1"), credential("k1", b"old-2")],
        )
        .await
        .unwrap();
    // Rows with key id `slow` take a minute to write: time for the drop to land while
    // the swap is inside its statement.
    for sql in [
        "CREATE FUNCTION slow() RETURNS trigger AS $$ BEGIN \
         IF NEW.key_id = 'slow' THEN PERFORM pg_sleep(60); END IF; RETURN NEW; \
         END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON credentials \
         FOR EACH ROW EXECUTE FUNCTION slow()",
    ] {
        sqlx::query(sql).execute(stores.pool()).await.unwrap();
    }
    let swapping = {
        let stores = stores.clone();
        let connection = connection.clone();
        tokio::spawn(async move {
            stores
                .swap_credentials(
                    &tenant(),
                    &connection,
                    Some(1),
                    vec![
                        credential("k1", b"new-1"),
                        credential("slow", b"new-2"),
                        credential("k1", b"new-3"),
                    ],
                )
                .await
        })
    };
    let admin = SqlStores::connect(&url).await.unwrap();
    let mut killed = 0_i64;
    for _ in 0..200 {
        killed = sqlx::query_scalar(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = $1 AND wait_event = 'PgSleep'",
        )
        .bind(&app)
        .fetch_one(admin.pool())
        .await
        .unwrap();
        if killed > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(killed, 1, "the swap never reached its slow row");
    let err = swapping.await.unwrap().unwrap_err();
    assert_eq!(err.code(), "store.unavailable", "{err:?}");
    assert!(err.is_temporary());
    sqlx::query("DROP TRIGGER slow ON credentials")
        .execute(admin.pool())
        .await
        .unwrap();
    let kept = admin
        .load_credentials(&tenant(), &connection)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.version, 1);
    assert_eq!(
        kept.credentials,
        vec![credential("k1", b"old-1"), credential("k1", b"old-2")]
    );
    assert_eq!(count(&admin, "credentials").await, 2);
    assert_eq!(
        stores
            .swap_credentials(
                &tenant(),
                &connection,
                Some(1),
                vec![credential("k1", b"new")]
            )
            .await
            .unwrap(),
        2
    );
}

fn connection() -> Connection {
    Connection::new(
        tenant(),
        ConnectionId::new("c1").unwrap(),
        TargetId::new("t1").unwrap(),
        DefinitionKey::new("github", "github").unwrap(),
        ConnectionMethodId::new("pat").unwrap(),
        Timestamp::from_unix_seconds(1),
    )
}

/// A row this crate did not write (edited by hand, or by another program) is
/// `store.corrupt_record`, naming what cannot be read and quoting none of it.
#[tokio::test]
async fn rows_written_by_something_else_are_corrupt_records() {
    each_backend!("corrupt_records", |url| {
        let stores = SqlStores::connect(&url).await.unwrap();
        let connection = connection();
        stores.put_connection(&connection).await.unwrap();
        let tenant = tenant();
        let read = || stores.get_connection(&tenant, &connection.id);
        assert!(read().await.unwrap().is_some());

        sqlx::query("UPDATE connections SET record = 'hand-edited: sk-not-json'")
            .execute(stores.pool())
            .await
            .unwrap();
        let error = read().await.unwrap_err();
        assert_eq!(error.code(), "store.corrupt_record", "{error}");
        assert_eq!(error.kind(), ErrorKind::Storage);
        assert!(!error.to_string().contains("sk-not-json"), "{error}");
    });
    // SQLite keeps a value of any type in any column: one of the wrong type is named.
    let url = support::sqlite_url("corrupt_columns");
    let stores = SqlStores::connect(&url).await.unwrap();
    let connection = connection();
    stores.put_connection(&connection).await.unwrap();
    sqlx::query("UPDATE connections SET updated_at = 'sk-yesterday'")
        .execute(stores.pool())
        .await
        .unwrap();
    let error = stores
        .get_connection(&tenant(), &connection.id)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "store.corrupt_record", "{error}");
    assert!(error.to_string().contains("updated_at"), "{error}");
    assert!(!format!("{error:?}").contains("sk-yesterday"), "{error:?}");
}
