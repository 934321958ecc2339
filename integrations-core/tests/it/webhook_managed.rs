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

/// The API-key connection `conn-1` of the target `hooked`.
fn input() -> ConnectionInput {
    ConnectionInput::new(
        tenant(),
        connection_id(),
        TargetId::new("hooked").unwrap(),
        "api-key".parse().unwrap(),
    )
}

/// Stores the target `hooked` and the connection `conn-1` (token `tok_FIRST`) in
/// `test`'s host.
async fn store_connection(test: &TestHost, registry: &Arc<Registry>) {
    let service = WriteService::new(registry.clone(), test.host().clone());
    service
        .put_target(TargetInput::new(
            tenant(),
            TargetId::new("hooked").unwrap(),
            KEY.parse().unwrap(),
        ))
        .await
        .unwrap();
    service
        .put_connection(input().with_secret("api_token", "tok_FIRST"))
        .await
        .unwrap();
}

/// The managed webhooks of `host` over `registry`.
fn managed_on(registry: &Arc<Registry>, host: integrations_core::host::Host) -> ManagedWebhooks {
    let tokens = Arc::new(TokenManager::new(registry.clone(), host.clone()));
    ManagedWebhooks::new(registry.clone(), host, tokens, "https://hooks.example.com").unwrap()
}

/// A registrar whose provider call waits, once it started, until the test lets it end.
#[derive(Default)]
struct HeldRegistrar {
    calling: Notify,
    answer: Notify,
    /// The hooks deleted.
    unregistered: std::sync::Mutex<Vec<String>>,
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
        hook_id: &str,
    ) -> Result<HookRemoval, Error> {
        self.unregistered.lock().unwrap().push(hook_id.to_owned());
        Ok(HookRemoval::Deleted)
    }
}

/// A registration of `conn-1` under way, held in its provider call.
struct Held {
    registrar: Arc<HeldRegistrar>,
    registry: Arc<Registry>,
    managed: ManagedWebhooks,
    registration:
        tokio::task::JoinHandle<Result<Option<integrations_core::model::ManagedWebhook>, Error>>,
}

/// Stores `conn-1` of [`Hooked`] in `test`'s host and starts its registration, which
/// returns once the registrar is called and waits there until the test lets it answer.
async fn registration_held_at_the_provider(test: &TestHost) -> Held {
    let registrar = Arc::new(HeldRegistrar::default());
    let registry = Arc::new(
        Registry::new()
            .with(Arc::new(Hooked(registrar.clone())))
            .unwrap(),
    );
    store_connection(test, &registry).await;
    let managed = managed_on(&registry, test.host().clone());
    let registration = tokio::spawn({
        let managed = managed.clone();
        async move { managed.register(&tenant(), &connection_id()).await }
    });
    registrar.calling.notified().await;
    Held {
        registrar,
        registry,
        managed,
        registration,
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
    // The registration: endpoint key written, provider called (and held there).
    let Held {
        registrar,
        registry,
        registration,
        ..
    } = registration_held_at_the_provider(&test).await;
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

/// A registrar over a provider that keeps its hooks: a registration finds the one it
/// has (there is at most one here), else creates one.
#[derive(Default)]
struct KeepingRegistrar {
    hooks: std::sync::Mutex<Vec<String>>,
    made: std::sync::atomic::AtomicUsize,
}

impl KeepingRegistrar {
    fn hooks(&self) -> Vec<String> {
        self.hooks.lock().unwrap().clone()
    }
}

#[async_trait]
impl WebhookRegistrar for KeepingRegistrar {
    async fn register(
        &self,
        _request: &HookRequest<'_>,
        _secret: &Secret,
    ) -> Result<RegisteredHook, Error> {
        let mut hooks = self.hooks.lock().unwrap();
        if let Some(hook) = hooks.first() {
            return Ok(RegisteredHook::existing(hook.clone()));
        }
        let n = self.made.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        hooks.push(format!("hook-{n}"));
        Ok(RegisteredHook::created(format!("hook-{n}")))
    }

    async fn unregister(
        &self,
        _request: &HookRequest<'_>,
        hook_id: &str,
    ) -> Result<HookRemoval, Error> {
        let mut hooks = self.hooks.lock().unwrap();
        let before = hooks.len();
        hooks.retain(|h| h != hook_id);
        Ok(if hooks.len() < before {
            HookRemoval::Deleted
        } else {
            HookRemoval::AlreadyGone
        })
    }
}

/// An API-key integration whose webhooks are managed by [`KeepingRegistrar`].
struct Kept(Arc<KeepingRegistrar>);

impl IntegrationDefinition for Kept {
    fn key(&self) -> DefinitionKey {
        KEY.parse().unwrap()
    }
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Connector
    }
    fn metadata(&self) -> Metadata {
        Hooked(Arc::default()).metadata()
    }
    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        Hooked(Arc::default()).connection_methods()
    }
}

impl IntegrationProvider for Kept {
    fn webhook_registrar(&self, _method: &ConnectionMethodId) -> Option<&dyn WebhookRegistrar> {
        Some(&*self.0)
    }
}

/// What the store does to the writes that record a hook (a careful write of a record
/// naming one).
#[derive(Clone, Copy)]
enum AtHookWrite {
    /// Fails with a storage error.
    Fail,
    /// Writes, then fails with a storage error (the reply lost after the commit).
    FailAfterWrite,
    /// Answers that the record changed meanwhile, this many times.
    Lose(usize),
}

/// A connection store over a [`MemoryStore`](integrations_testkit::MemoryStore) that
/// does [`AtHookWrite`] to the writes recording a hook.
struct HookWrites {
    inner: Arc<integrations_testkit::MemoryStore>,
    at: std::sync::Mutex<Option<AtHookWrite>>,
}

#[async_trait]
impl integrations_core::host::ConnectionStore for HookWrites {
    async fn get_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<integrations_core::model::Connection>, Error> {
        self.inner.get_connection(tenant, id).await
    }
    async fn put_connection(
        &self,
        connection: &integrations_core::model::Connection,
    ) -> Result<(), Error> {
        self.inner.put_connection(connection).await
    }
    async fn list_connections(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<integrations_core::model::Connection>, Error> {
        self.inner.list_connections(tenant).await
    }
    async fn delete_connection(&self, tenant: &TenantId, id: &ConnectionId) -> Result<bool, Error> {
        self.inner.delete_connection(tenant, id).await
    }
    async fn find_connections(
        &self,
        query: &integrations_core::host::ConnectionQuery,
    ) -> Result<Vec<integrations_core::model::Connection>, Error> {
        self.inner.find_connections(query).await
    }
    async fn set_connection_status(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        status: integrations_core::model::ConnectionStatus,
        now: integrations_core::Timestamp,
    ) -> Result<Option<integrations_core::model::Connection>, Error> {
        self.inner
            .set_connection_status(tenant, id, status, now)
            .await
    }
    async fn put_connection_if_unchanged(
        &self,
        read: &integrations_core::model::Connection,
        connection: &integrations_core::model::Connection,
    ) -> Result<bool, Error> {
        let now = if connection.managed_webhook.is_some() {
            let mut at = self.at.lock().unwrap();
            let now = *at;
            *at = match now {
                Some(AtHookWrite::Lose(n)) if n > 1 => Some(AtHookWrite::Lose(n - 1)),
                _ => None,
            };
            now
        } else {
            None
        };
        match now {
            Some(AtHookWrite::Fail) => {
                return Err(
                    integrations_core::codes::store::FAILED.error("the database is unreachable")
                );
            }
            Some(AtHookWrite::FailAfterWrite) => {
                self.inner
                    .put_connection_if_unchanged(read, connection)
                    .await?;
                return Err(integrations_core::codes::store::FAILED
                    .error("the connection broke after the write was sent"));
            }
            Some(AtHookWrite::Lose(_)) => return Ok(false),
            None => {}
        }
        self.inner
            .put_connection_if_unchanged(read, connection)
            .await
    }
}

/// A registry of [`Kept`], a stored API-key connection, and the managed webhooks of a
/// host whose connection store does what its `at` says to the writes that record a hook.
async fn kept_world(test: &TestHost) -> (Arc<KeepingRegistrar>, Arc<HookWrites>, ManagedWebhooks) {
    let registrar = Arc::new(KeepingRegistrar::default());
    let registry = Arc::new(
        Registry::new()
            .with(Arc::new(Kept(registrar.clone())))
            .unwrap(),
    );
    store_connection(test, &registry).await;
    let store = Arc::new(HookWrites {
        inner: test.store.clone(),
        at: std::sync::Mutex::new(None),
    });
    let managed = managed_on(&registry, host_with_connections(test, store.clone()));
    (registrar, store, managed)
}

/// A hook created whose record could not be written would be known to nobody: no
/// disconnect would delete it. It is deleted again, and the storage error returned.
#[tokio::test]
async fn a_created_hook_whose_record_cannot_be_written_is_deleted_again() {
    let test = TestHost::new();
    let (registrar, store, managed) = kept_world(&test).await;
    *store.at.lock().unwrap() = Some(AtHookWrite::Fail);
    let error = managed
        .register(&tenant(), &connection_id())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "store.failed", "{error}");
    assert!(registrar.hooks().is_empty(), "{:?}", registrar.hooks());
    // A retry registers it.
    let hook = managed
        .register(&tenant(), &connection_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(registrar.hooks(), [hook.hook_id]);
}

/// A write whose reply was lost may have been applied: the record is read again, and a
/// hook it names is kept (deleted, the connection would silently receive nothing).
#[tokio::test]
async fn a_hook_whose_write_failed_after_it_was_applied_is_kept() {
    let test = TestHost::new();
    let (registrar, store, managed) = kept_world(&test).await;
    *store.at.lock().unwrap() = Some(AtHookWrite::FailAfterWrite);
    let error = managed
        .register(&tenant(), &connection_id())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "store.failed", "{error}");
    let stored = test
        .store
        .get_connection(&tenant(), &connection_id())
        .await
        .unwrap()
        .unwrap();
    let recorded = stored
        .managed_webhook
        .expect("the write was applied")
        .hook_id;
    assert_eq!(registrar.hooks(), [recorded]);
}

/// Other writers winning every write while a registration records a hook the
/// connection has on record already: the hook is kept (deleting it would leave the
/// record naming a hook the provider no longer has).
#[tokio::test]
async fn a_recorded_hook_is_kept_when_other_writers_keep_winning() {
    let test = TestHost::new();
    let (registrar, store, managed) = kept_world(&test).await;
    let hook = managed
        .register(&tenant(), &connection_id())
        .await
        .unwrap()
        .unwrap();
    *store.at.lock().unwrap() = Some(AtHookWrite::Lose(usize::MAX));
    let error = managed
        .register(&tenant(), &connection_id())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "webhook.registration_raced", "{error}");
    assert_eq!(registrar.hooks(), std::slice::from_ref(&hook.hook_id));
    let stored = test
        .store
        .get_connection(&tenant(), &connection_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.managed_webhook.map(|h| h.hook_id),
        Some(hook.hook_id)
    );
}

/// A disconnect asked while a registration of the connection waits on the provider
/// waits for it: the registration records its hook, then the disconnect deletes it
/// (before, the disconnect read no hook, and a registration recording its hook before
/// the revocation left it at the provider, known to a revoked connection only).
#[tokio::test]
async fn a_disconnect_waits_for_a_registration_in_progress_and_deletes_its_hook() {
    use integrations_core::auth::{Authorizations, Disconnect};
    use integrations_core::webhook::WebhookRemoval;

    let test = TestHost::new();
    let Held {
        registrar,
        registry,
        managed,
        registration,
    } = registration_held_at_the_provider(&test).await;
    let auth =
        Authorizations::new(registry, test.host().clone()).with_managed_webhooks(managed.clone());
    let disconnect = tokio::spawn(async move {
        auth.disconnect(Disconnect::new(tenant(), connection_id()))
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        !disconnect.is_finished(),
        "the disconnect waits for the registration in progress"
    );

    registrar.answer.notify_one();
    let hook = registration.await.unwrap().unwrap().expect("a hook");
    let disconnected = disconnect.await.unwrap().unwrap();
    assert_eq!(disconnected.webhook, WebhookRemoval::Deleted);
    assert_eq!(*registrar.unregistered.lock().unwrap(), [hook.hook_id]);
    assert!(!disconnected.connection.is_active());
    let stored = test
        .store
        .get_connection(&tenant(), &connection_id())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.managed_webhook.is_none());
}
