//! Managed webhook registration beside other writers of the same connection.

use std::sync::Arc;

use async_trait::async_trait;
use integrations_core::auth::TokenManager;
use integrations_core::definition::{
    ConnectionMethod, IntegrationDefinition, Metadata, SecretField,
};
use integrations_core::host::ConnectionStore as _;
use integrations_core::model::CredentialType;
use integrations_core::provider::IntegrationProvider;
use integrations_core::provider::webhook::{
    HookRemoval, HookRequest, RegisteredHook, WebhookRegistrar,
};
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::webhook::ManagedWebhooks;
use integrations_core::{
    ConnectionId, ConnectionMethodId, DefinitionKey, Error, IntegrationKind, Registry, Secret,
    TargetId, TenantId,
};
use integrations_testkit::TestHost;
use tokio::sync::Notify;

use crate::support::{Meddling, host_with_connections};

const KEY: &str = "hooked::cloud";

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn connection_id() -> ConnectionId {
    ConnectionId::new("conn-1").unwrap()
}

/// A registrar whose provider call waits, once it started, until the test lets it end.
#[derive(Default)]
struct HeldRegistrar {
    calling: Notify,
    answer: Notify,
}

#[async_trait]
impl WebhookRegistrar for HeldRegistrar {
    async fn register(
        &self,
        _request: &HookRequest<'_>,
        _secret: &Secret,
    ) -> Result<RegisteredHook, Error> {
        self.calling.notify_one();
        self.answer.notified().await;
        Ok(RegisteredHook::created("hook-1"))
    }

    async fn unregister(
        &self,
        _request: &HookRequest<'_>,
        _hook_id: &str,
    ) -> Result<HookRemoval, Error> {
        Ok(HookRemoval::Deleted)
    }
}

/// An API-key integration whose webhooks are managed by [`HeldRegistrar`].
struct Hooked(Arc<HeldRegistrar>);

impl IntegrationDefinition for Hooked {
    fn key(&self) -> DefinitionKey {
        KEY.parse().unwrap()
    }
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Connector
    }
    fn metadata(&self) -> Metadata {
        Metadata::new(
            "Hooked",
            "Webhooks registered per connection.",
            "hooked",
            "productivity",
        )
    }
    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        vec![
            ConnectionMethod::api_key(
                "api-key",
                "API token",
                vec![SecretField::new(
                    "api_token",
                    "API token",
                    CredentialType::API_KEY,
                )],
            )
            .unwrap(),
        ]
    }
}

impl IntegrationProvider for Hooked {
    fn webhook_registrar(&self, _method: &ConnectionMethodId) -> Option<&dyn WebhookRegistrar> {
        Some(&*self.0)
    }
}

/// The interleaving of a registration and another write of the connection, all in one
/// millisecond (the test's clock does not move): the registration writes the endpoint
/// key and calls the provider; meanwhile the other writer (a new API key; a
/// reauthorization writes the same way) reads the connection, key and no hook yet; the
/// registration records the hook; then the other writer writes over the revision it
/// read. Before, the hook was recorded with the endpoint key's `updated_at`, so that
/// revision still looked unchanged, the other write went through, and the hook id was
/// lost: a later disconnect would have left the hook at the provider.
#[tokio::test]
async fn a_hook_recorded_while_another_writer_holds_an_older_read_survives_its_write() {
    let test = TestHost::new();
    let registrar = Arc::new(HeldRegistrar::default());
    let registry = Arc::new(
        Registry::new()
            .with(Arc::new(Hooked(registrar.clone())))
            .unwrap(),
    );
    let service = WriteService::new(registry.clone(), test.host().clone());
    service
        .put_target(TargetInput::new(
            tenant(),
            TargetId::new("hooked").unwrap(),
            KEY.parse().unwrap(),
        ))
        .await
        .unwrap();
    let input = || {
        ConnectionInput::new(
            tenant(),
            connection_id(),
            TargetId::new("hooked").unwrap(),
            "api-key".parse().unwrap(),
        )
    };
    service
        .put_connection(input().with_secret("api_token", "tok_FIRST"))
        .await
        .unwrap();
    let tokens = Arc::new(TokenManager::new(registry.clone(), test.host().clone()));
    let managed = ManagedWebhooks::new(
        registry.clone(),
        test.host().clone(),
        tokens,
        "https://hooks.example.com",
    )
    .unwrap();

    // The registration: endpoint key written, provider called (and held there).
    let registration = tokio::spawn({
        let managed = managed.clone();
        async move { managed.register(&tenant(), &connection_id()).await }
    });
    registrar.calling.notified().await;
    let keyed = test
        .store
        .get_connection(&tenant(), &connection_id())
        .await
        .unwrap()
        .unwrap();
    let endpoint = keyed.endpoint_key.clone().expect("an endpoint key");
    assert!(keyed.managed_webhook.is_none());

    // The other writer reads that revision and stalls before its write.
    let (arrived, proceed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let stalled = Meddling::stalling(test.store.clone(), arrived.clone(), proceed.clone());
    let rewrite = tokio::spawn({
        let writer = WriteService::new(registry.clone(), host_with_connections(&test, stalled));
        let input = input()
            .with_secret("api_token", "tok_SECOND")
            .with_endpoint_key(endpoint.clone());
        async move { writer.put_connection(input).await }
    });
    arrived.notified().await;

    // The provider answers; the hook is recorded.
    registrar.answer.notify_one();
    let hook = registration
        .await
        .unwrap()
        .unwrap()
        .expect("a managed hook");
    assert_eq!(hook.hook_id, "hook-1");

    // The other writer writes over what it read.
    proceed.notify_one();
    let rewritten = rewrite.await.unwrap().unwrap();
    let stored = test
        .store
        .get_connection(&tenant(), &connection_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, rewritten);
    assert_eq!(
        stored.managed_webhook.as_ref().map(|h| h.hook_id.as_str()),
        Some("hook-1"),
        "the hook id was lost to a write from an older read"
    );
    assert_eq!(stored.endpoint_key.as_deref(), Some(endpoint.as_str()));
}
