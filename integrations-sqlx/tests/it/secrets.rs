//! No plaintext secret in any column: after a full flow (an OAuth connection with a
//! refresh, an API key connection, a pending authorization, a webhook event, an approval
//! and a continuation), every column of every table is scanned for every known secret.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use integrations_core::auth::{
    ApiKeyConnections, Authorizations, StartAuthorization, TokenManager,
};
use integrations_core::host::{Aad, ApprovalStore, Clock, ContinuationStore, WebhookEventStore};
use integrations_core::model::ConnectionScope;
use integrations_core::service::ConnectionInput;
use integrations_core::tools::{ApprovalId, ApprovalRequest, CallContext, Session};
use integrations_core::webhook::WebhookEvent;
use integrations_core::{ConnectionId, WorkspaceId};
use integrations_sqlx::{Backend, SqlStores};
use integrations_testkit::ManualClock;
use integrations_testkit::mock::oauth::LinearMock;
use serde_json::json;
use sqlx::Row;

use crate::each_backend;
use crate::tracker::{self, tenant};

const API_KEY: &str = "sk-live-plaintext-api-key-5f2c9a";
const PAGE: &str = "continuation page plaintext 8d41e7";

/// Every text or byte value of every column of every table of the stores.
async fn every_value(stores: &SqlStores) -> Vec<(String, Vec<u8>)> {
    let tables: Vec<String> = sqlx::query_scalar(match stores.backend() {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
        _ => "SELECT tablename::text FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
    })
    .fetch_all(stores.pool())
    .await
    .unwrap()
    .into_iter()
    // sqlx's own migration log: versions, descriptions, checksums.
    .filter(|t| t != "_sqlx_migrations")
    .collect();
    assert!(tables.len() >= 12, "the scan found only {tables:?}");
    let mut values = Vec::new();
    for table in tables {
        let rows = sqlx::query(&format!("SELECT * FROM \"{table}\""))
            .fetch_all(stores.pool())
            .await
            .unwrap();
        for row in rows {
            for i in 0..row.len() {
                let bytes = if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                    text.into_bytes()
                } else if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                    bytes
                } else {
                    continue;
                };
                values.push((table.clone(), bytes));
            }
        }
    }
    values
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The places a secret may hide in plain sight: as is, or base64-encoded.
fn forms(secret: &str) -> [Vec<u8>; 3] {
    [
        secret.as_bytes().to_vec(),
        STANDARD.encode(secret).into_bytes(),
        URL_SAFE_NO_PAD.encode(secret).into_bytes(),
    ]
}

fn assert_absent(values: &[(String, Vec<u8>)], secret: &str) {
    for form in forms(secret) {
        for (table, value) in values {
            assert!(
                !contains(value, &form),
                "a secret is readable in table {table}: {}",
                String::from_utf8_lossy(value)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_column_holds_a_plaintext_secret_after_a_full_flow() {
    each_backend!("secret_scan", |url| {
        let mock = LinearMock::start().await;
        let registry = tracker::registry();
        let clock = Arc::new(ManualClock::at_unix_seconds(1_900_000_000));
        let stores = SqlStores::connect(&url).await.unwrap();
        let host = tracker::host(stores.clone(), tracker::keys(), Arc::clone(&clock));
        tracker::put_target(&host, &registry, &mock).await;

        // OAuth: a connection, then a refresh (a rotated refresh token).
        let oauth = tracker::connect(&host, &host, &registry, &mock).await;
        clock.advance(Duration::from_secs(86_400));
        TokenManager::new(registry.clone(), host.clone())
            .access_token(&oauth)
            .await
            .unwrap();
        assert_eq!(mock.refresh_requests(), 1);
        // A pending authorization (its PKCE verifier sealed), never completed.
        Authorizations::new(registry.clone(), host.clone())
            .start(StartAuthorization::create(
                tenant(),
                tracker::target_id(),
                "oauth2".parse().unwrap(),
                tracker::REDIRECT,
                ConnectionScope::Organization,
            ))
            .await
            .unwrap();
        // An API key.
        ApiKeyConnections::new(registry.clone(), host.clone())
            .with_verification(false)
            .connect(
                ConnectionInput::new(
                    tenant(),
                    ConnectionId::new("keys").unwrap(),
                    tracker::target_id(),
                    "api-key".parse().unwrap(),
                )
                .with_secret("key", API_KEY),
            )
            .await
            .unwrap();
        // A webhook event, an approval request, a continuation sealed like the runtime's.
        let event: WebhookEvent = serde_json::from_value(json!({
            "tenant": "acme", "connection": oauth.id.as_str(), "key": tracker::KEY,
            "event_type": "tracker.issue.created", "provider_event_type": "Issue.create",
            "external_event_id": "ev-1", "delivery_id": "d-1", "occurred_at": null,
            "received_at": clock.now(), "source_order_key": null, "subject": null,
            "payload": {"action": "create", "data": {"id": "I-1"}},
        }))
        .unwrap();
        assert!(stores.record_event_if_new(&event).await.unwrap());
        let context = CallContext::new(
            Session::new(tenant(), WorkspaceId::new("ws").unwrap()),
            oauth.id.clone(),
        );
        stores
            .put_approval(&ApprovalRequest::new(
                ApprovalId::generate().unwrap(),
                "tracker_create_issue",
                tracker::KEY.parse().unwrap(),
                json!({"title": "t"}),
                context,
                clock.now(),
                Duration::from_secs(600),
            ))
            .await
            .unwrap();
        let id = "a".repeat(64);
        let pages = host
            .cipher()
            .seal(
                PAGE.as_bytes(),
                &Aad::new(&tenant(), "tool_continuation", &id, "pages"),
            )
            .unwrap();
        let continuation = serde_json::from_value(json!({
            "tenant": "acme", "id": id, "workspace": "ws", "connection": oauth.id.as_str(),
            "pointer": "/items", "page": 1, "remaining_pages": 1, "pages": pages,
            "created_at": clock.now(), "expires_at": clock.now(),
        }))
        .unwrap();
        stores.put_continuation(&continuation).await.unwrap();

        let values = every_value(&stores).await;
        // The scan sees what is there: a value known to be stored is found.
        assert!(
            values
                .iter()
                .any(|(_, v)| contains(v, b"tracker_create_issue"))
        );
        let issued = mock.issued_secrets();
        assert!(issued.len() >= 4, "the mock issued {} tokens", issued.len());
        for secret in issued
            .iter()
            .map(String::as_str)
            .chain([mock.client_secret(), API_KEY, PAGE])
        {
            assert_absent(&values, secret);
        }
    });
}

/// The stores' `Debug` never shows the URL they were opened with (a PostgreSQL URL may hold
/// the password).
#[tokio::test]
async fn the_stores_debug_leaves_the_url_out() {
    let url = crate::support::sqlite_url("debug_pw-SECRET-4c1d");
    let stores = SqlStores::connect(&url).await.unwrap();
    integrations_testkit::assert_debug_secret_free(&stores, "SECRET-4c1d");
}
