//! Connecting: several processes (here, pools) connecting at once to a new database all
//! succeed, a failed migration leaves no lock behind, and SQLite connections are set up
//! for durable commits; credentials stored before an upgrade survive it.

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
        // (What migrations 3 to 5 add is dropped, so that they run again after.)
        for sql in [
            "DELETE FROM _sqlx_migrations WHERE version >= 2",
            "ALTER TABLE credential_sets DROP COLUMN deleted",
            "ALTER TABLE webhook_events DROP COLUMN delivered",
            DROP_APPROVALS_BY_CONNECTION_INDEX,
            "ALTER TABLE approvals DROP COLUMN connection",
            "DROP TABLE approval_calls",
        ] {
            sqlx::query(sql).execute(stores.pool()).await.unwrap();
        }
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

/// A PostgreSQL database whose transactions default to SERIALIZABLE (or REPEATABLE
/// READ) is refused before anything is written: there a lost compare-and-swap fails with
/// a serialization error, which callers would take for an outage.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_postgres_database_not_at_read_committed_is_refused() {
    let Some(url) = crate::support::postgres_url("isolation").await else {
        return;
    };
    for level in ["serializable", "repeatable%5C%20read"] {
        let refused = format!("{url}&options[default_transaction_isolation]={level}");
        for opened in [
            SqlStores::connect(&refused).await,
            SqlStores::open(&refused).await,
        ] {
            let error = opened.expect_err("refused");
            assert_eq!(
                error.code(),
                "store.isolation_unsupported",
                "{level}: {error}"
            );
        }
    }
    // Nothing was written: the schema is still empty (no migration ran), and READ
    // COMMITTED connects.
    let admin = sqlx::AnyPool::connect(&url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(tables, 0);
    admin.close().await;
    let stores = SqlStores::connect(&url).await.unwrap();
    assert_eq!(stores.schema_version().await.unwrap(), SCHEMA_VERSION);
    let explicit = format!("{url}&options[default_transaction_isolation]=read%5C%20committed");
    SqlStores::open(&explicit).await.unwrap().close().await;
    stores.close().await;
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

/// A database written at schema version 2 (before credential tombstones) keeps every
/// stored credential set through the upgrade, at its version, and its count goes on; a
/// set deleted after the upgrade leaves a tombstone the next set continues from.
#[tokio::test]
async fn credentials_stored_before_the_tombstone_migration_survive_it() {
    use integrations_core::host::{CredentialStore, Sealed};
    use integrations_core::model::{Credential, CredentialType};
    use integrations_core::{ConnectionId, TenantId, Timestamp};

    let credential = |bytes: &[u8]| {
        Credential::new(
            CredentialType::API_KEY,
            Sealed::new("k1", bytes.to_vec()),
            Timestamp::from_unix_seconds(1_800_000_000),
        )
    };
    let tenant = TenantId::new("acme").unwrap();
    let connection = ConnectionId::new("c1").unwrap();
    each_backend!("tombstone_upgrade", |url| {
        let stores = SqlStores::connect(&url).await.unwrap();
        stores
            .swap_credentials(&tenant, &connection, None, vec![credential(b"one")])
            .await
            .unwrap();
        let v2 = stores
            .swap_credentials(&tenant, &connection, Some(1), vec![credential(b"two")])
            .await
            .unwrap();
        assert_eq!(v2, 2);
        // Back to version 2, as an earlier release left the database.
        for sql in [
            "DELETE FROM _sqlx_migrations WHERE version >= 3",
            "ALTER TABLE credential_sets DROP COLUMN deleted",
            "ALTER TABLE webhook_events DROP COLUMN delivered",
            DROP_APPROVALS_BY_CONNECTION_INDEX,
            "ALTER TABLE approvals DROP COLUMN connection",
            "DROP TABLE approval_calls",
        ] {
            sqlx::query(sql).execute(stores.pool()).await.unwrap();
        }
        assert_eq!(stores.schema_version().await.unwrap(), 2);

        stores.migrate().await.unwrap();
        assert_eq!(stores.schema_version().await.unwrap(), SCHEMA_VERSION);
        let kept = stores
            .load_credentials(&tenant, &connection)
            .await
            .unwrap()
            .expect("the set stored before the upgrade");
        assert_eq!(kept.version, 2);
        assert_eq!(kept.credentials, vec![credential(b"two")]);
        let v3 = stores
            .swap_credentials(&tenant, &connection, Some(2), vec![credential(b"three")])
            .await
            .unwrap();
        assert_eq!(v3, 3);
        assert!(
            stores
                .delete_credentials(&tenant, &connection)
                .await
                .unwrap()
        );
        let next = stores
            .swap_credentials(&tenant, &connection, None, vec![credential(b"new")])
            .await
            .unwrap();
        assert_eq!(next, 4, "the set after a delete continues the count");
        stores.close().await;
    });
}

/// Webhook events recorded before migration 4 (delivery states) count as delivered after
/// it, so their redeliveries stay duplicates; events recorded after it are in progress
/// until marked delivered.
#[tokio::test]
async fn events_recorded_before_the_delivery_migration_count_as_delivered() {
    use integrations_core::host::{EventDelivery, WebhookEventStore};
    use integrations_core::webhook::WebhookEvent;

    let event = |id: &str| -> WebhookEvent {
        serde_json::from_value(serde_json::json!({
            "tenant": "acme", "connection": "c1", "key": "github::github-cloud",
            "event_type": "github.issue.opened", "provider_event_type": "issues.opened",
            "external_event_id": id, "delivery_id": null, "occurred_at": null,
            "received_at": "2026-12-06T10:00:00Z", "source_order_key": null,
            "subject": null, "payload": {"action": "opened"},
        }))
        .unwrap()
    };
    each_backend!("delivery_upgrade", |url| {
        let stores = SqlStores::connect(&url).await.unwrap();
        let old = event("d-old");
        assert!(stores.record_event_if_new(&old).await.unwrap());
        // Back to version 3, as an earlier release left the database.
        for sql in [
            "DELETE FROM _sqlx_migrations WHERE version >= 4",
            "ALTER TABLE webhook_events DROP COLUMN delivered",
            DROP_APPROVALS_BY_CONNECTION_INDEX,
            "ALTER TABLE approvals DROP COLUMN connection",
            "DROP TABLE approval_calls",
        ] {
            sqlx::query(sql).execute(stores.pool()).await.unwrap();
        }
        stores.migrate().await.unwrap();
        assert_eq!(stores.schema_version().await.unwrap(), SCHEMA_VERSION);
        let state = |id: &'static str| {
            let stores = &stores;
            let old = &old;
            async move {
                stores
                    .event_delivery(&old.tenant, &old.key, id)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(state("d-old").await, Some(EventDelivery::Delivered));
        let new = event("d-new");
        assert!(stores.record_event_if_new(&new).await.unwrap());
        assert_eq!(
            state("d-new").await,
            Some(EventDelivery::InProgress {
                since: new.received_at
            })
        );
        stores.close().await;
    });
}

/// Migration 5's index, dropped before its column when a test takes a database back to
/// an earlier version.
const DROP_APPROVALS_BY_CONNECTION_INDEX: &str = "DROP INDEX approvals_by_connection";

/// Approval requests stored before migration 5 (which adds their connection) are found
/// by connection after it, so forgetting a connection deletes them too; another
/// connection's and another tenant's stay.
#[tokio::test]
async fn approvals_stored_before_the_connection_migration_are_deleted_with_it() {
    use integrations_core::host::ApprovalStore;
    use integrations_core::tools::{ApprovalId, ApprovalRequest, CallContext, Session};
    use integrations_core::{ConnectionId, TenantId, Timestamp, WorkspaceId};

    let request = |tenant: &str, id: &str, connection: &str| {
        let session = Session::new(
            TenantId::new(tenant).unwrap(),
            WorkspaceId::new("w").unwrap(),
        );
        ApprovalRequest::new(
            ApprovalId::new(id).unwrap(),
            "slack_send_message",
            "slack::slack-default".parse().unwrap(),
            serde_json::json!({"text": "hi"}),
            CallContext::new(session, ConnectionId::new(connection).unwrap()),
            Timestamp::from_unix_seconds(1_800_000_000),
            std::time::Duration::from_secs(3600),
        )
    };
    each_backend!("approvals_upgrade", |url| {
        let stores = SqlStores::connect(&url).await.unwrap();
        // Back to version 4, then requests stored as that release stored them.
        for sql in [
            "DELETE FROM _sqlx_migrations WHERE version >= 5",
            DROP_APPROVALS_BY_CONNECTION_INDEX,
            "ALTER TABLE approvals DROP COLUMN connection",
            "DROP TABLE approval_calls",
        ] {
            sqlx::query(sql).execute(stores.pool()).await.unwrap();
        }
        for old in [
            request("acme", "a1", "slack"),
            request("acme", "a2", "slack"),
            request("acme", "a3", "linear"),
            request("other", "a4", "slack"),
        ] {
            sqlx::query(
                "INSERT INTO approvals (tenant, id, expires_at, record) VALUES ($1, $2, $3, $4)",
            )
            .bind(old.tenant.as_str().to_owned())
            .bind(old.id.as_str().to_owned())
            .bind(old.expires_at.unix_millis())
            .bind(serde_json::to_string(&old).unwrap())
            .execute(stores.pool())
            .await
            .unwrap();
        }
        stores.migrate().await.unwrap();
        assert_eq!(stores.schema_version().await.unwrap(), SCHEMA_VERSION);
        let acme = TenantId::new("acme").unwrap();
        let slack = ConnectionId::new("slack").unwrap();
        assert_eq!(stores.delete_approvals(&acme, &slack).await.unwrap(), 2);
        assert_eq!(stores.delete_approvals(&acme, &slack).await.unwrap(), 0);
        let now = Timestamp::from_unix_seconds(1_800_000_001);
        for (tenant, id) in [("acme", "a3"), ("other", "a4")] {
            let kept = stores
                .take_approval(
                    &TenantId::new(tenant).unwrap(),
                    &ApprovalId::new(id).unwrap(),
                    now,
                )
                .await
                .unwrap();
            assert!(kept.is_some(), "{tenant}/{id} was kept");
        }
        stores.close().await;
    });
}

/// Approval calls stored before migration 7 (which adds their workspace and user) are
/// counted by principal after it: the MCP server's cap sees the requests an earlier
/// release stored.
#[tokio::test]
async fn approval_calls_stored_before_the_principal_migration_are_counted() {
    use integrations_core::host::ApprovalStore;
    use integrations_core::model::ApprovalCall;
    use integrations_core::tools::{ApprovalId, ApprovalRequest, CallContext, Session};
    use integrations_core::{ConnectionId, TenantId, Timestamp, UserId, WorkspaceId};

    let tenant = TenantId::new("acme").unwrap();
    let workspace = WorkspaceId::new("w").unwrap();
    let call = |n: u32, user: Option<&str>| {
        let mut session = Session::new(tenant.clone(), workspace.clone());
        session.user = user.map(|u| UserId::new(u).unwrap());
        let request = ApprovalRequest::new(
            ApprovalId::new(format!("a{n}")).unwrap(),
            "slack_send_message",
            "slack::slack-default".parse().unwrap(),
            serde_json::json!({"text": "hi"}),
            CallContext::new(session, ConnectionId::new("slack").unwrap()),
            Timestamp::from_unix_seconds(1_800_000_000),
            std::time::Duration::from_secs(3600),
        );
        ApprovalCall::pending(
            format!("{n:064x}"),
            request,
            Timestamp::from_unix_seconds(1_800_000_000),
        )
    };
    each_backend!("approval_calls_upgrade", |url| {
        let stores = SqlStores::connect(&url).await.unwrap();
        // Back to version 6, then calls stored as that release stored them.
        for sql in [
            "DELETE FROM _sqlx_migrations WHERE version >= 7",
            "DROP INDEX approval_calls_by_principal",
            "ALTER TABLE approval_calls DROP COLUMN principal_user",
            "ALTER TABLE approval_calls DROP COLUMN workspace",
        ] {
            sqlx::query(sql).execute(stores.pool()).await.unwrap();
        }
        for old in [call(1, Some("ann")), call(2, Some("ann")), call(3, None)] {
            sqlx::query(
                "INSERT INTO approval_calls (tenant, key, approval, connection, stage, \
                 expires_at, record) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(old.tenant.as_str().to_owned())
            .bind(old.key.clone())
            .bind(old.request.id.as_str().to_owned())
            .bind(old.request.context.connection.as_str().to_owned())
            .bind(old.stage.as_str())
            .bind(old.expires_at.unix_millis())
            .bind(serde_json::to_string(&old).unwrap())
            .execute(stores.pool())
            .await
            .unwrap();
        }
        stores.migrate().await.unwrap();
        assert_eq!(stores.schema_version().await.unwrap(), SCHEMA_VERSION);
        let now = Timestamp::from_unix_seconds(1_800_000_001);
        let ann = UserId::new("ann").unwrap();
        let count = |user| stores.count_pending_approval_calls(&tenant, &workspace, user, now);
        assert_eq!(count(Some(&ann)).await.unwrap(), 2);
        assert_eq!(count(None).await.unwrap(), 1);
        stores.close().await;
    });
}
