//! `SqlRecordSink`: idempotent upserts and deletes, by tenant, connection and stream.

use integrations_core::model::Connection;
use integrations_core::sync::{RecordSink, SyncPage, SyncRecord};
use integrations_core::{
    ConnectionId, ConnectionMethodId, DefinitionKey, TargetId, TenantId, Timestamp,
};
use integrations_sqlx::SqlStores;
use serde_json::json;

use crate::each_backend;

fn connection(tenant: &str) -> Connection {
    Connection::new(
        TenantId::new(tenant).unwrap(),
        ConnectionId::new("c1").unwrap(),
        TargetId::new("t1").unwrap(),
        DefinitionKey::new("linear", "linear").unwrap(),
        ConnectionMethodId::new("oauth").unwrap(),
        Timestamp::from_unix_seconds(1),
    )
}

fn record(id: &str, title: &str) -> SyncRecord {
    SyncRecord::new(
        id,
        Some("2030-01-01T00:00:00Z".into()),
        json!({"title": title, "n": [1, null]}),
    )
}

#[tokio::test]
async fn pages_upsert_and_delete_idempotently() {
    each_backend!("sink", |url| {
        let stores = SqlStores::connect(&url).await.unwrap();
        let sink = stores.record_sink();
        let a = connection("acme");
        let b = connection("globex");
        let page = SyncPage::new(vec![record("2", "two"), record("1", "one")], None);
        // Delivered twice (a crash before the checkpoint): same rows.
        sink.write_page(&a, "issues", &page).await.unwrap();
        sink.write_page(&a, "issues", &page).await.unwrap();
        sink.write_page(
            &b,
            "issues",
            &SyncPage::new(vec![record("1", "other tenant")], None),
        )
        .await
        .unwrap();
        let rows = sink.records(&a.tenant, &a.id, "issues").await.unwrap();
        assert_eq!(rows, vec![record("1", "one"), record("2", "two")]);

        let update = SyncPage::new(vec![record("2", "two, edited")], None)
            .with_deleted(vec!["1".into(), "never-existed".into()]);
        sink.write_page(&a, "issues", &update).await.unwrap();
        sink.write_page(&a, "issues", &update).await.unwrap();
        assert_eq!(
            sink.records(&a.tenant, &a.id, "issues").await.unwrap(),
            vec![record("2", "two, edited")]
        );
        // The other tenant's record with the same id is untouched.
        assert_eq!(
            sink.records(&b.tenant, &b.id, "issues").await.unwrap(),
            vec![record("1", "other tenant")]
        );

        sink.write_page(&a, "projects", &SyncPage::new(vec![record("p", "p")], None))
            .await
            .unwrap();
        sink.delete_stream(&a, "issues").await.unwrap();
        sink.delete_stream(&a, "issues").await.unwrap();
        assert!(
            sink.records(&a.tenant, &a.id, "issues")
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            sink.records(&a.tenant, &a.id, "projects")
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            sink.records(&b.tenant, &b.id, "issues")
                .await
                .unwrap()
                .len(),
            1
        );
    });
}
