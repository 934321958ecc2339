//! The testkit's store conformance suite on SQLite and PostgreSQL.

use std::sync::Arc;

use integrations_sqlx::SqlStores;
use integrations_testkit::store_conformance::StoreConformance;

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_conforms() {
    let stores = SqlStores::connect(&support::sqlite_url("conformance"))
        .await
        .unwrap();
    StoreConformance::new(Arc::new(stores))
        .run()
        .await
        .assert_passed();
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_conforms() {
    let Some(url) = support::postgres_url("conformance").await else {
        return;
    };
    let stores = SqlStores::connect(&url).await.unwrap();
    StoreConformance::new(Arc::new(stores))
        .run()
        .await
        .assert_passed();
}
