//! A cached `TokenManager::access_token` hit (without and with the default
//! `credential.used` audit record, here sent to a sink that drops it), against floors
//! measured in the same run:
//! what a manager without a cache would pay at least (one `MemoryStore` credential load
//! and one AES-256-GCM open), and a plain map lookup with a clone.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use integrations::core::auth::TokenManager;
use integrations::core::host::{
    AuditEvent, AuditSink, ConnectionStore, CredentialStore, Host, SecretCipherExt, TargetStore,
};
use integrations::core::model::{Connection, Credential, CredentialType, Target};
use integrations::core::service::credential_aad;
use integrations::core::{ConnectionId, Secret, TargetId, TenantId};
use integrations_testkit::{TestHost, offline_http};
use serde_json::json;

/// Audit records go nowhere: the bench measures the manager, not a sink.
struct NoAudit;

#[async_trait]
impl AuditSink for NoAudit {
    async fn record(&self, event: AuditEvent) {
        black_box(event);
    }
}

const TOKEN: &str = "lin_oauth_3f9a0c7d1e2b4a5968778695a4b3c2d1";

/// A Linear OAuth connection whose access token is valid for a day, stored sealed.
async fn setup() -> (TestHost, Host, Connection) {
    let test = TestHost::new();
    let host = Host::builder()
        .stores(test.store.clone())
        .http(Arc::new(offline_http()))
        .cipher(test.keys.clone())
        .clock(test.clock.clone())
        .audit(Arc::new(NoAudit))
        .build()
        .expect("a complete host");
    let tenant = TenantId::new("acme").unwrap();
    let now = integrations::core::host::Clock::now(&*test.clock);
    let mut target = Target::new(
        tenant.clone(),
        TargetId::new("linear").unwrap(),
        "linear::linear-default".parse().unwrap(),
        now,
    );
    target.config = json!({"client_id": "lin_client"});
    test.store.put_target(&target).await.unwrap();
    let connection = Connection::new(
        tenant,
        ConnectionId::new("conn").unwrap(),
        target.id.clone(),
        target.key.clone(),
        "oauth2".parse().unwrap(),
        now,
    );
    test.store.put_connection(&connection).await.unwrap();
    let sealed = test
        .keys
        .seal_secret(
            &Secret::new(TOKEN),
            &credential_aad(&connection, &CredentialType::OAUTH2_ACCESS_TOKEN, None),
        )
        .unwrap();
    let access = Credential::new(CredentialType::OAUTH2_ACCESS_TOKEN, sealed, now)
        .with_expiry(Some(now.saturating_add(Duration::from_secs(86_400))));
    test.store
        .swap_credentials(&connection.tenant, &connection.id, None, vec![access])
        .await
        .unwrap();
    (test, host, connection)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (test, host, connection) = rt.block_on(setup());
    let registry = Arc::new(integrations::definitions::registry());
    // The default: every hand-out is audited as `credential.used`.
    let audited = TokenManager::new(registry.clone(), host.clone());
    let tokens = TokenManager::new(registry, host).with_usage_audit(false);
    // The first call reads the store and fills the cache.
    for manager in [&audited, &tokens] {
        let first = rt.block_on(manager.access_token(&connection)).unwrap();
        assert_eq!(first.value.expose(), TOKEN);
    }

    let mut group = c.benchmark_group("access_token");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("cached_hit", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(tokens.access_token(black_box(&connection)).await.unwrap())
        });
    });
    group.bench_function("cached_hit_with_usage_audit", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(audited.access_token(black_box(&connection)).await.unwrap())
        });
    });
    let aad = credential_aad(&connection, &CredentialType::OAUTH2_ACCESS_TOKEN, None);
    group.bench_function("floor_store_load_and_open", |b| {
        b.to_async(&rt).iter(|| async {
            let set = test
                .store
                .load_credentials(&connection.tenant, &connection.id)
                .await
                .unwrap()
                .unwrap();
            black_box(
                test.keys
                    .open_secret(&set.credentials[0].value, &aad)
                    .unwrap(),
            )
        });
    });
    let map: HashMap<(TenantId, ConnectionId), Secret> = [(
        (connection.tenant.clone(), connection.id.clone()),
        Secret::new(TOKEN),
    )]
    .into_iter()
    .collect();
    group.bench_function("floor_map_lookup_and_clone", |b| {
        b.iter(|| {
            black_box(
                map.get(black_box(&(
                    connection.tenant.clone(),
                    connection.id.clone(),
                )))
                .cloned(),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
