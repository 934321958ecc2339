//! Bad input gets a clear error with a stable code and changes nothing, the same on
//! every backend: text holding a NUL character (which PostgreSQL cannot store in a text
//! column) and a version at the end of its range.

use integrations_core::ErrorKind;
use integrations_core::host::Sealed;
use integrations_core::host::{
    CheckpointStore, ConnectionStore, ContinuationStore, CredentialStore, WebhookEventStore,
};
use integrations_core::model::{Connection, Credential, CredentialType, SyncCheckpoint, SyncLease};
use integrations_core::sync::{RecordSink, SyncPage, SyncRecord};
use integrations_core::webhook::WebhookEvent;
use integrations_core::{
    ConnectionId, ConnectionMethodId, DefinitionKey, Error, TargetId, TenantId, Timestamp,
};
use integrations_sqlx::SqlStores;
use serde_json::json;

use crate::each_backend;

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn connection() -> Connection {
    Connection::new(
        tenant(),
        ConnectionId::new("c1").unwrap(),
        TargetId::new("t1").unwrap(),
        DefinitionKey::new("linear", "linear").unwrap(),
        ConnectionMethodId::new("oauth").unwrap(),
        Timestamp::from_unix_seconds(1),
    )
}

fn event(external_event_id: &str) -> WebhookEvent {
    serde_json::from_value(json!({
        "tenant": "acme", "connection": "c1", "key": "linear::linear",
        "event_type": "linear.issue.created", "provider_event_type": "Issue.create",
        "external_event_id": external_event_id, "delivery_id": null, "occurred_at": null,
        "received_at": Timestamp::from_unix_seconds(1), "source_order_key": null,
        "subject": null, "payload": {},
    }))
    .unwrap()
}

#[track_caller]
fn assert_invalid_text(result: Result<impl std::fmt::Debug, Error>) {
    let err = result.unwrap_err();
    assert_eq!(err.code(), "store.invalid_text", "{err:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

async fn count(stores: &SqlStores, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(stores.pool())
        .await
        .unwrap()
}

/// A provider's record id, timestamp, deleted id or stream name holding a NUL is
/// refused with `store.invalid_text` on both backends, and the page writes nothing.
#[tokio::test]
async fn text_with_a_nul_is_refused_in_the_sink() {
    each_backend!("nul_sink", |url| {
        let stores = SqlStores::connect(&url).await.unwrap();
        let sink = stores.record_sink();
        let c = connection();
        let good = SyncRecord::new("1", None, json!({"nul": "a\u{0}b"}));
        for page in [
            SyncPage::new(
                vec![good.clone(), SyncRecord::new("a\u{0}b", None, json!({}))],
                None,
            ),
            SyncPage::new(
                vec![
                    good.clone(),
                    SyncRecord::new("2", Some("2030\u{0}".into()), json!({})),
                ],
                None,
            ),
            SyncPage::new(vec![good.clone()], None).with_deleted(vec!["x\u{0}".into()]),
        ] {
            assert_invalid_text(sink.write_page(&c, "issues", &page).await);
        }
        let page = SyncPage::new(vec![good.clone()], None);
        assert_invalid_text(sink.write_page(&c, "iss\u{0}ues", &page).await);
        assert_invalid_text(sink.delete_stream(&c, "iss\u{0}ues").await);
        assert_invalid_text(sink.records(&c.tenant, &c.id, "iss\u{0}ues").await);
        assert_eq!(count(&stores, "sync_records").await, 0);
        // A NUL inside the JSON data is escaped, and kept.
        sink.write_page(&c, "issues", &page).await.unwrap();
        assert_eq!(
            sink.records(&c.tenant, &c.id, "issues").await.unwrap(),
            vec![good]
        );
    });
}

/// The stores refuse the same for the free text they bind: external ids and subjects,
/// stream names, lease holders, credential slots and key ids, continuation ids.
#[tokio::test]
async fn text_with_a_nul_is_refused_in_the_stores() {
    each_backend!("nul_stores", |url| {
        let stores = SqlStores::connect(&url).await.unwrap();
        let t = tenant();
        let c = ConnectionId::new("c1").unwrap();

        assert_invalid_text(stores.record_event_if_new(&event("ev\u{0}1")).await);
        assert_invalid_text(
            stores
                .forget_event(
                    &t,
                    &DefinitionKey::new("linear", "linear").unwrap(),
                    "e\u{0}",
                )
                .await,
        );
        assert_eq!(count(&stores, "webhook_events").await, 0);

        let mut conn = connection();
        conn.external_subject = Some("org\u{0}".into());
        assert_invalid_text(stores.put_connection(&conn).await);
        assert_eq!(count(&stores, "connections").await, 0);

        let checkpoint = SyncCheckpoint::new(
            t.clone(),
            c.clone(),
            "s\u{0}",
            Timestamp::from_unix_seconds(1),
        );
        assert_invalid_text(stores.save_checkpoint(&checkpoint).await);
        assert_invalid_text(stores.load_checkpoint(&t, &c, "s\u{0}").await);
        let lease = SyncLease::new(
            t.clone(),
            c.clone(),
            "issues",
            "runner\u{0}",
            Timestamp::from_unix_seconds(9),
        );
        assert_invalid_text(
            stores
                .acquire_sync_lease(&lease, Timestamp::from_unix_seconds(1))
                .await,
        );
        assert_eq!(count(&stores, "checkpoints").await, 0);
        assert_eq!(count(&stores, "sync_leases").await, 0);

        let slot = Credential::new(
            CredentialType::API_KEY,
            Sealed::new("k1", vec![1]),
            Timestamp::from_unix_seconds(1),
        )
        .with_slot("b\u{0}t");
        assert_invalid_text(stores.swap_credentials(&t, &c, None, vec![slot]).await);
        let key_id = Credential::new(
            CredentialType::API_KEY,
            Sealed::new("k\u{0}1", vec![1]),
            Timestamp::from_unix_seconds(1),
        );
        assert_invalid_text(stores.swap_credentials(&t, &c, None, vec![key_id]).await);
        assert!(stores.load_credentials(&t, &c).await.unwrap().is_none());

        assert_invalid_text(
            stores
                .take_continuation(&t, "c\u{0}", Timestamp::from_unix_seconds(1))
                .await,
        );
    });
}

/// A checkpoint at the last version cannot be saved again: a stable error, no panic,
/// nothing written.
#[tokio::test]
async fn a_checkpoint_at_the_last_version_is_refused() {
    each_backend!("checkpoint_max", |url| {
        let stores = SqlStores::connect(&url).await.unwrap();
        let mut checkpoint = SyncCheckpoint::new(
            tenant(),
            ConnectionId::new("c1").unwrap(),
            "issues",
            Timestamp::from_unix_seconds(1),
        );
        checkpoint.version = u64::MAX;
        let err = stores.save_checkpoint(&checkpoint).await.unwrap_err();
        assert_eq!(err.code(), "store.number_too_large", "{err:?}");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(count(&stores, "checkpoints").await, 0);
    });
}
