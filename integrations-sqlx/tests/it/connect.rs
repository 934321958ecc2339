//! Connecting: several processes (here, pools) connecting at once to a new database all
//! succeed, a failed migration leaves no lock behind, and SQLite connections are set up
//! for durable commits.

use integrations_sqlx::{SCHEMA_VERSION, SqlStores};

use crate::each_backend;

/// Several `connect` calls racing on a new database: every one succeeds and the schema
/// is at the current version, with each migration recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_connects_to_a_new_database_all_succeed() {
    for _ in 0..30 {
        let url = crate::support::sqlite_url("concurrent_connect");
        race_connects(&url).await;
    }
    #[cfg(feature = "postgres")]
    for _ in 0..5 {
        let Some(url) = crate::support::postgres_url("concurrent_connect").await else {
            break;
        };
        race_connects(&url).await;
    }
}

async fn race_connects(url: &str) {
    let (a, b, c, d) = tokio::join!(
        SqlStores::connect(url),
        SqlStores::connect(url),
        SqlStores::connect(url),
        SqlStores::connect(url),
    );
    for result in [a, b, c, d] {
        let stores = result.unwrap_or_else(|e| panic!("a racing connect failed: {e:?}"));
        assert_eq!(stores.schema_version().await.unwrap(), SCHEMA_VERSION);
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(stores.pool())
            .await
            .unwrap();
        assert_eq!(rows, SCHEMA_VERSION);
        stores.close().await;
    }
}

/// A migration that fails (here: a table it creates exists already) gives
/// `store.migration_failed`, keeps no lock (PostgreSQL's migration lock is per session:
/// the connection that held it is closed), and once the cause is removed the next
/// `connect`, from another pool, succeeds without waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_migration_leaves_no_lock_behind() {
    each_backend!("failed_migration", |url| {
        let stores = SqlStores::connect(&url).await.unwrap();
        // Back to version 1 with migration 2's table still there: migration 2 fails.
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 2")
            .execute(stores.pool())
            .await
            .unwrap();
        let err = stores.migrate().await.unwrap_err();
        assert_eq!(err.code(), "store.migration_failed", "{err:?}");
        assert_eq!(stores.schema_version().await.unwrap(), 1);

        sqlx::query("DROP TABLE sync_leases")
            .execute(stores.pool())
            .await
            .unwrap();
        // `stores` (whose pool ran the failed migration) is still open.
        let again =
            tokio::time::timeout(std::time::Duration::from_secs(20), SqlStores::connect(&url))
                .await
                .expect("connect waited on a migration lock left behind")
                .unwrap();
        assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
        assert_eq!(stores.schema_version().await.unwrap(), SCHEMA_VERSION);
        stores.close().await;
    });
}

/// Every pooled SQLite connection syncs the WAL at each commit (`synchronous = FULL`,
/// 2): with `NORMAL` a commit acknowledged just before a power loss or an OS crash can
/// be lost (a rotated refresh token or a taken approval could come back).
#[tokio::test]
async fn sqlite_commits_are_durable() {
    let stores = SqlStores::connect(&crate::support::sqlite_url("synchronous"))
        .await
        .unwrap();
    // Several connections at once, so that more than one pooled connection is checked.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = stores.pool().acquire().await.unwrap();
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(synchronous, 2, "PRAGMA synchronous is not FULL");
        held.push(conn);
    }
}
