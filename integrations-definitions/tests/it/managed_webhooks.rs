//! Managed webhooks: registered at the provider's mock admin API on connect
//! (idempotently), the generated secret sealed on the connection and used to verify
//! deliveries, deleted on disconnect; nothing secret in Debug output, errors or logs.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use integrations_core::auth::{ApiKeyConnections, Authorizations, Disconnect, TokenManager};
use integrations_core::host::{
    Clock as _, ConnectionStore as _, HttpClient as _, ReqwestHttpClient,
};
use integrations_core::model::{Connection, ConnectionStatus, CredentialType, ManagedWebhook};
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::webhook::{
    Ingest, MANAGED_WEBHOOK_SLOT, ManagedWebhooks, WebhookLifecycle, WebhookRemoval,
};
use integrations_core::{
    ConnectionId, ConnectionMethodId, Registry, Secret, TargetId, TenantId, Timestamp,
};
use integrations_definitions::linear::Linear;
use integrations_testkit::mock::api::{LinearApi, LinearWebhooks};
use integrations_testkit::{
    Delivery, TestHost, WebhookSigner, assert_debug_secret_free, assert_secret_free,
    assert_text_secret_free,
};
use serde_json::json;

const LINEAR_KEY: &str = "lin_api_admin_key_0123456789";
const ORGANIZATION: &str = "dc844923-f9a4-40a3-825c-dea7747e57d6";
const PUBLIC_BASE: &str = "https://hooks.example.test/base";

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

/// Registers `connection`'s hook again: the hook recorded.
async fn register_again(managed: &ManagedWebhooks, connection: &Connection) -> ManagedWebhook {
    managed
        .register(&connection.tenant, &connection.id)
        .await
        .unwrap()
        .expect("a hook is recorded")
}

/// The managed webhook secret stored for `connection` in `test`'s host, opened.
async fn stored_secret(test: &TestHost, connection: &Connection) -> Option<Secret> {
    let set = test
        .host()
        .credentials()
        .load_credentials(&connection.tenant, &connection.id)
        .await
        .unwrap()?;
    let credential = set
        .find(&CredentialType::WEBHOOK_SECRET, Some(MANAGED_WEBHOOK_SLOT))
        .unwrap()?
        .clone();
    Some(credential.open(connection, test.host().cipher()).unwrap())
}

struct LinearWorld {
    api: LinearApi,
    hooks: LinearWebhooks,
    test: TestHost,
    registry: Arc<Registry>,
    managed: ManagedWebhooks,
}

impl LinearWorld {
    /// The managed webhooks of another process on the same store, whose HTTP client is
    /// `http`.
    fn other_process(
        &self,
        http: impl integrations_core::host::HttpClient + 'static,
    ) -> ManagedWebhooks {
        let host = integrations_core::host::Host::builder()
            .stores(self.test.store.clone())
            .http(Arc::new(http))
            .cipher(self.test.keys.clone())
            .clock(self.test.clock.clone())
            .build()
            .unwrap();
        let tokens = Arc::new(TokenManager::new(self.registry.clone(), host.clone()));
        ManagedWebhooks::new(self.registry.clone(), host, tokens, PUBLIC_BASE).unwrap()
    }

    /// API-key connections on the Linear API mock.
    async fn new() -> Self {
        let api = LinearApi::start().await;
        let hooks = LinearWebhooks::mount(&api).await;
        api.accept_api_key(LINEAR_KEY);
        let target = TargetInput::new(
            tenant(),
            TargetId::new("linear").unwrap(),
            "linear::linear-default".parse().unwrap(),
        )
        .with_config(json!({"api_base_url": api.base_url()}));
        Self::with_target(api, hooks, target).await
    }

    /// OAuth connections: `oauth` serves the API and webhook administration too.
    async fn with_oauth(oauth: &integrations_testkit::mock::oauth::LinearMock) -> Self {
        let api = LinearApi::start().await;
        api.serve_with(oauth).await;
        let hooks = LinearWebhooks::mount(&api).await;
        hooks.serve_with(&api, oauth).await;
        let target = TargetInput::new(
            tenant(),
            TargetId::new("linear").unwrap(),
            "linear::linear-default".parse().unwrap(),
        )
        .with_config(oauth.target_config())
        .with_secrets(oauth.target_secrets());
        Self::with_target(api, hooks, target).await
    }

    async fn with_target(api: LinearApi, hooks: LinearWebhooks, target: TargetInput) -> Self {
        let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new().unwrap()));
        let registry = Arc::new(integrations_definitions::registry());
        WriteService::new(registry.clone(), test.host().clone())
            .put_target(target)
            .await
            .unwrap();
        let tokens = Arc::new(TokenManager::new(registry.clone(), test.host().clone()));
        let managed =
            ManagedWebhooks::new(registry.clone(), test.host().clone(), tokens, PUBLIC_BASE)
                .unwrap();
        Self {
            api,
            hooks,
            test,
            registry,
            managed,
        }
    }

    async fn connect(&self, id: &str) -> Connection {
        self.connect_with(id, json!({})).await.unwrap()
    }

    async fn connect_with(
        &self,
        id: &str,
        config: serde_json::Value,
    ) -> Result<Connection, integrations_core::Error> {
        self.api_keys()
            .with_managed_webhooks(self.managed.clone())
            .connect(Self::input(id).with_config(config))
            .await
    }

    /// API-key connections, the identity check off.
    fn api_keys(&self) -> ApiKeyConnections {
        ApiKeyConnections::new(self.registry.clone(), self.test.host().clone())
            .with_verification(false)
    }

    /// The API-key connection `id`.
    fn input(id: &str) -> ConnectionInput {
        ConnectionInput::new(
            tenant(),
            ConnectionId::new(id).unwrap(),
            TargetId::new("linear").unwrap(),
            "api-key".parse().unwrap(),
        )
        .with_secret("api_key", LINEAR_KEY)
        // What the identity check would name: deliveries route by it.
        .with_external_subject(ORGANIZATION)
    }

    /// The OAuth connection made by the whole flow with `linear`, whose API and webhook
    /// administration this world serves ([`with_oauth`](Self::with_oauth)); `before`
    /// runs after the flow started, before consent.
    async fn connect_oauth(
        &self,
        linear: &integrations_testkit::mock::oauth::LinearMock,
        before: impl FnOnce(),
    ) -> Connection {
        use integrations_core::auth::{CompleteAuthorization, StartAuthorization};
        use integrations_core::model::ConnectionScope;
        const CALLBACK: &str = "https://app.example.com/oauth/callback";
        let auth = self.auth();
        let redirect = auth
            .start(StartAuthorization::create(
                tenant(),
                TargetId::new("linear").unwrap(),
                ConnectionMethodId::new("oauth2").unwrap(),
                CALLBACK,
                ConnectionScope::Organization,
            ))
            .await
            .unwrap();
        before();
        let query = linear.authorize(&redirect.url).unwrap();
        auth.complete(CompleteAuthorization::new(tenant(), CALLBACK, query))
            .await
            .unwrap()
    }

    fn auth(&self) -> Authorizations {
        Authorizations::new(self.registry.clone(), self.test.host().clone())
            .with_managed_webhooks(self.managed.clone())
    }

    /// `connection` as stored now.
    async fn stored(&self, connection: &Connection) -> Connection {
        self.test
            .host()
            .connections()
            .get_connection(&connection.tenant, &connection.id)
            .await
            .unwrap()
            .expect("the connection is stored")
    }

    /// The managed secret stored for `connection`, opened.
    async fn stored_secret(&self, connection: &Connection) -> Option<Secret> {
        stored_secret(&self.test, connection).await
    }

    fn creates(&self) -> usize {
        self.hooks
            .requests()
            .iter()
            .filter(|r| {
                r.json()["query"]
                    .as_str()
                    .is_some_and(|q| q.contains("webhookCreate("))
            })
            .count()
    }

    /// A Linear `Issue` `update` delivery to `connection`'s URL, signed with `secret`.
    fn delivery(
        &self,
        connection: &Connection,
        secret: &str,
        id: &str,
    ) -> integrations_core::webhook::WebhookRequest {
        let now = self.test.clock.now();
        let body = serde_json::to_vec(&json!({
            "action": "update",
            "type": "Issue",
            "organizationId": ORGANIZATION,
            "createdAt": "2026-01-01T00:00:00.000Z",
            "url": "https://linear.app/acme/issue/ENG-1/first",
            "data": {
                "id": "5ea3bf86-4b8c-4e4b-9d5f-0c5d2a1b3c4d",
                "identifier": "ENG-1",
                "number": 1,
                "title": "First",
                "updatedAt": "2026-01-01T00:00:00.000Z",
                "team": {"id": "team-1", "key": "ENG", "name": "Engineering"},
            },
            "webhookTimestamp": now.unix_millis(),
            "webhookId": connection.managed_webhook.as_ref().unwrap().hook_id,
        }))
        .unwrap();
        let signed = WebhookSigner::new(
            integrations_core::definition::IntegrationDefinition::webhook_source(&Linear::new())
                .unwrap(),
            secret,
        )
        .sign(&Delivery::new(&body, now).with_id(id).with_event("Issue"))
        .unwrap();
        signed.request_to(&connection.key, connection.endpoint_key.as_deref().unwrap())
    }
}

#[tokio::test]
async fn linear_hooks_are_registered_on_connect_idempotently_and_deleted_on_disconnect() {
    let world = LinearWorld::new().await;
    let connection = world.connect("lin_1").await;

    // Registered once, for the organization, with the generated secret.
    let record = connection
        .managed_webhook
        .clone()
        .expect("a hook id is recorded");
    let endpoint = connection
        .endpoint_key
        .clone()
        .expect("an endpoint key was assigned");
    assert_eq!(
        record.url,
        format!("{PUBLIC_BASE}/webhooks/linear/linear-default/{endpoint}")
    );
    let hooks = world.hooks.hooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["id"], record.hook_id.as_str());
    assert_eq!(hooks[0]["url"], record.url.as_str());
    assert_eq!(hooks[0]["allPublicTeams"], true);
    assert_eq!(
        hooks[0]["resourceTypes"],
        json!(["Issue", "Comment", "Project"])
    );
    let secret = world
        .stored_secret(&connection)
        .await
        .expect("a sealed secret");
    assert_eq!(secret.expose().len(), 64);
    assert_eq!(hooks[0]["secret"], secret.expose());
    // Sealed at rest: the stored bytes do not hold it.
    let raw = format!(
        "{:?}",
        world
            .test
            .store
            .raw_credentials(&connection.tenant, &connection.id)
            .unwrap()
    );
    assert_text_secret_free(&raw, secret.expose());
    // The API key is still there beside it.
    let tokens = world
        .test
        .store
        .raw_credentials(&connection.tenant, &connection.id)
        .unwrap();
    assert_eq!(tokens.credentials.len(), 2);

    // Registering again finds the hook: no second create, no duplicate.
    let again = register_again(&world.managed, &connection).await;
    assert_eq!(again.hook_id, record.hook_id);
    assert_eq!(world.hooks.hooks().len(), 1);
    assert_eq!(world.creates(), 1);
    // Reconnecting with the key (same id) keeps the hook, its secret and endpoint.
    let reconnected = world.connect("lin_1").await;
    assert_eq!(reconnected.endpoint_key, connection.endpoint_key);
    assert_eq!(
        reconnected.managed_webhook.as_ref().map(|h| &h.hook_id),
        Some(&record.hook_id)
    );
    assert_eq!(
        world.stored_secret(&reconnected).await.unwrap().expose(),
        secret.expose()
    );
    assert_eq!(world.creates(), 1);

    // Disconnect deletes it at the provider and revokes the connection.
    let disconnected = world
        .auth()
        .disconnect(Disconnect::new(tenant(), connection.id.clone()))
        .await
        .unwrap();
    assert_eq!(disconnected.webhook, WebhookRemoval::Deleted);
    assert!(matches!(
        disconnected.connection.status,
        ConnectionStatus::Revoked { .. }
    ));
    assert!(world.hooks.hooks().is_empty());
    let stored = world.stored(&connection).await;
    assert!(stored.managed_webhook.is_none());
}

/// An OAuth application's webhook is listed with a `null` URL (Linear's schema:
/// `Webhook.url: String`, "Null for OAuth application webhooks"): one in the workspace
/// must not stop a connection's own hook from being found, made or deleted.
#[tokio::test]
async fn an_oauth_app_webhook_in_the_list_is_passed_over() {
    let world = LinearWorld::new().await;
    let app_hook = world.hooks.add_app_hook("lin_wh_app");
    let connection = world.connect("lin_1").await;
    let record = connection.managed_webhook.clone().expect("registered");
    assert_eq!(world.hooks.hooks().len(), 2);
    assert_eq!(
        register_again(&world.managed, &connection).await.hook_id,
        record.hook_id
    );
    assert_eq!(world.creates(), 1);
    // Gone already: the list is read to be sure, past the app's hook.
    world.hooks.remove_hook(&record.hook_id);
    let disconnected = world
        .auth()
        .disconnect(Disconnect::new(tenant(), connection.id.clone()))
        .await
        .unwrap();
    assert_eq!(disconnected.webhook, WebhookRemoval::AlreadyGone);
    let left = world.hooks.hooks();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["id"], app_hook.as_str());
    assert_eq!(left[0]["url"], serde_json::Value::Null);
}

/// A connection given another endpoint key delivers to another URL: registering makes
/// the hook for it, and the hook for the old URL is deleted, not left delivering to an
/// endpoint no connection has.
#[tokio::test]
async fn a_hook_replaced_for_a_new_endpoint_key_is_deleted() {
    let world = LinearWorld::new().await;
    let connection = world.connect("lin_1").await;
    let first = connection.managed_webhook.clone().expect("registered");
    let moved = world
        .api_keys()
        .with_managed_webhooks(world.managed.clone())
        .connect(LinearWorld::input("lin_1").with_endpoint_key("ep_moved"))
        .await
        .unwrap();
    let second = moved.managed_webhook.clone().expect("registered anew");
    assert_ne!(second.hook_id, first.hook_id);
    assert!(second.url.ends_with("/ep_moved"), "{}", second.url);
    let hooks = world.hooks.hooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(hooks[0]["id"], second.hook_id.as_str());
}

#[tokio::test]
async fn a_linear_hook_covers_the_team_the_connection_names() {
    let world = LinearWorld::new().await;
    let team = world.api.add_team("ENG", "Engineering");

    // By key: Linear resolves it to the team; the hook is the team's, not the organization's.
    let connection = world
        .connect_with("lin_1", json!({"webhook_team": "ENG"}))
        .await
        .unwrap();
    let record = connection
        .managed_webhook
        .clone()
        .expect("a hook is recorded");
    let hooks = world.hooks.hooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["id"], record.hook_id.as_str());
    assert_eq!(hooks[0]["team"]["id"], team.as_str());
    assert_eq!(hooks[0]["allPublicTeams"], false);

    // Registering again finds the hook by its URL: no duplicate.
    register_again(&world.managed, &connection).await;
    assert_eq!(world.creates(), 1);

    // By id, as well as by key.
    let world = LinearWorld::new().await;
    let team = world.api.add_team("OPS", "Operations");
    let connection = world
        .connect_with("lin_1", json!({"webhook_team": team}))
        .await
        .unwrap();
    assert!(connection.managed_webhook.is_some());
    assert_eq!(world.hooks.hooks()[0]["team"]["id"], team.as_str());
}

/// A hook kept at the connection's URL is brought up to date: re-enabled after Linear
/// disabled it, and signed with the connection's secret when it was left with another
/// (a registration whose secret was since deleted), without a second hook.
#[tokio::test]
async fn a_kept_linear_hook_is_enabled_and_signed_with_the_connections_secret() {
    let world = LinearWorld::new().await;
    let connection = world.connect("lin_1").await;
    let record = connection.managed_webhook.clone().unwrap();
    let secret = world.stored_secret(&connection).await.unwrap();

    world.hooks.disable_hook(&record.hook_id);
    let again = register_again(&world.managed, &connection).await;
    assert_eq!(again.hook_id, record.hook_id);
    let hooks = world.hooks.hooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(
        hooks[0]["enabled"], true,
        "the disabled hook was kept disabled"
    );
    assert_eq!(hooks[0]["secret"], secret.expose());
    assert_eq!(world.creates(), 1);

    // A hook left at the URL with a secret the SDK does not hold.
    world.hooks.remove_hook(&record.hook_id);
    let left = world.hooks.add_hook(&record.url, "lin_wh_left_behind");
    let kept = register_again(&world.managed, &connection).await;
    assert_eq!(kept.hook_id, left);
    let hooks = world.hooks.hooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["secret"], secret.expose());
    assert_eq!(
        hooks[0]["resourceTypes"],
        json!(["Issue", "Comment", "Project"])
    );
    assert_eq!(world.creates(), 1);
}

/// A connection whose `webhook_team` changed gets a hook for the new scope: Linear cannot
/// move a hook to another team, so the old one is deleted and a new one created.
#[tokio::test]
async fn a_linear_hook_of_another_scope_is_replaced() {
    let world = LinearWorld::new().await;
    let team = world.api.add_team("ENG", "Engineering");
    let organization_wide = world.connect("lin_1").await;
    let first = organization_wide.managed_webhook.clone().unwrap();

    let for_team = world
        .connect_with("lin_1", json!({"webhook_team": "ENG"}))
        .await
        .unwrap();
    let second = for_team.managed_webhook.clone().unwrap();
    assert_ne!(second.hook_id, first.hook_id);
    let hooks = world.hooks.hooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(hooks[0]["id"], second.hook_id.as_str());
    assert_eq!(hooks[0]["team"]["id"], team.as_str());
    assert_eq!(hooks[0]["allPublicTeams"], false);
    assert_eq!(world.creates(), 2);

    // The same team named by id is the same scope: the hook is kept.
    let by_id = world
        .connect_with("lin_1", json!({"webhook_team": team}))
        .await
        .unwrap();
    assert_eq!(by_id.managed_webhook.unwrap().hook_id, second.hook_id);
    assert_eq!(world.creates(), 2);

    // And back to the whole organization.
    let back = world.connect_with("lin_1", json!({})).await.unwrap();
    let hooks = world.hooks.hooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(
        hooks[0]["id"],
        back.managed_webhook.unwrap().hook_id.as_str()
    );
    assert_eq!(hooks[0]["allPublicTeams"], true);
    assert_eq!(world.creates(), 3);
}

#[tokio::test]
async fn a_team_linear_does_not_know_leaves_the_connection_without_a_hook() {
    let world = LinearWorld::new().await;
    world.api.add_team("ENG", "Engineering");
    let connection = world
        .connect_with("lin_1", json!({"webhook_team": "OPS"}))
        .await
        .unwrap();
    // Connecting succeeded; Linear refused the hook, so none is on record.
    assert!(connection.is_active());
    assert!(connection.managed_webhook.is_none());
    assert!(world.hooks.hooks().is_empty());
    let error = world
        .managed
        .register(&tenant(), &connection.id)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "tool.upstream_not_found");
    assert_secret_free(&error, LINEAR_KEY);
}

#[tokio::test]
async fn a_malformed_team_is_refused_before_anything_is_stored() {
    let world = LinearWorld::new().await;
    let error = world
        .connect_with("lin_1", json!({"webhook_team": "not a team"}))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), integrations_core::ErrorKind::InvalidInput);
    assert!(
        error
            .issues()
            .iter()
            .any(|i| i.path.contains("webhook_team")),
        "{:?}",
        error.issues()
    );
    let stored = world
        .test
        .host()
        .connections()
        .get_connection(&tenant(), &ConnectionId::new("lin_1").unwrap())
        .await
        .unwrap();
    assert!(stored.is_none());
    assert_eq!(world.creates(), 0);
}

/// The whole OAuth flow registers the hook when the connection is made, with the access
/// token the provider issued, and disconnecting deletes it.
#[tokio::test]
async fn completing_a_linear_oauth_connection_registers_its_hook() {
    use integrations_testkit::mock::oauth::LinearMock;

    let linear = LinearMock::start().await;
    let world = LinearWorld::with_oauth(&linear).await;
    let auth = world.auth();
    let connection = world
        .connect_oauth(&linear, || {
            assert!(
                world.hooks.hooks().is_empty(),
                "nothing is registered before consent"
            );
        })
        .await;

    let record = connection
        .managed_webhook
        .clone()
        .expect("the hook is registered on connect");
    let endpoint = connection.endpoint_key.clone().unwrap();
    assert_eq!(
        record.url,
        format!("{PUBLIC_BASE}/webhooks/linear/linear-default/{endpoint}")
    );
    let registered = world.hooks.hooks();
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0]["id"], record.hook_id.as_str());
    assert_eq!(registered[0]["allPublicTeams"], true);
    // Sent with the issued OAuth access token (the mock accepts no other).
    assert!(
        world.hooks.requests().iter().all(|r| r
            .header("authorization")
            .is_some_and(|a| a.starts_with("Bearer "))),
        "every webhook call carried the OAuth bearer token"
    );

    let disconnected = auth
        .disconnect(Disconnect::new(tenant(), connection.id.clone()))
        .await
        .unwrap();
    assert_eq!(disconnected.webhook, WebhookRemoval::Deleted);
    assert!(world.hooks.hooks().is_empty());
}

/// A disconnect whose revocation fails (not forced) leaves the connection as it was:
/// active, and delivering. Its hook was deleted first (deleting needs the grant the
/// revocation ends), so it is registered again, with the secret it had.
#[tokio::test]
async fn a_failed_revocation_leaves_the_connection_with_a_hook() {
    use integrations_testkit::mock::oauth::{FailureMode, LinearMock};

    let linear = LinearMock::start().await;
    let world = LinearWorld::with_oauth(&linear).await;
    let auth = world.auth();
    let connection = world.connect_oauth(&linear, || {}).await;
    let first = connection.managed_webhook.clone().expect("registered");
    let secret = world.stored_secret(&connection).await.expect("a secret");

    linear.set_failure(FailureMode::Unavailable);
    let error = auth
        .disconnect(Disconnect::new(tenant(), connection.id.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        integrations_core::ErrorKind::Unavailable,
        "{error}"
    );

    let stored = world.stored(&connection).await;
    assert!(stored.is_active());
    let hook = stored.managed_webhook.clone().expect("a hook on record");
    let hooks = world.hooks.hooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(hooks[0]["id"], hook.hook_id.as_str());
    assert_eq!(hook.url, first.url);
    assert_eq!(
        world
            .stored_secret(&stored)
            .await
            .map(|s| s.expose().to_owned()),
        Some(secret.expose().to_owned())
    );
    assert_eq!(hooks[0]["secret"], secret.expose());
}

#[tokio::test]
async fn deliveries_verify_with_the_generated_secret_only() {
    let world = LinearWorld::new().await;
    let connection = world.connect("lin_1").await;
    let secret = world.stored_secret(&connection).await.unwrap();
    let ingest = Ingest::new(world.registry.clone(), world.test.host().clone()).unwrap();

    let response = ingest
        .handle(world.delivery(&connection, secret.expose(), "d-1"))
        .await;
    assert_eq!(
        response.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&response.body)
    );
    let events = world.test.events.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].connection, connection.id);
    assert_eq!(events[0].event_type.as_str(), "linear.issue.updated");

    let forged = "0".repeat(64);
    let response = ingest
        .handle(world.delivery(&connection, &forged, "d-2"))
        .await;
    assert_eq!(response.status, 401);
    assert_eq!(world.test.events.events().len(), 1);

    // After unregistering, the secret is gone: its deliveries no longer verify.
    world
        .managed
        .unregister(&tenant(), &connection.id)
        .await
        .unwrap()
        .unwrap();
    assert!(world.stored_secret(&connection).await.is_none());
    let response = ingest
        .handle(world.delivery(&connection, secret.expose(), "d-3"))
        .await;
    // No secret left to verify with: refused (a configuration error), never delivered.
    assert!(!response.status.is_success(), "{}", response.status);
    assert!(
        String::from_utf8_lossy(&response.body).contains("webhook.no_secret"),
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(world.test.events.events().len(), 1);
}

#[tokio::test]
async fn a_provider_failure_on_disconnect_still_revokes_the_connection() {
    let world = LinearWorld::new().await;
    let connection = world.connect("lin_1").await;
    world.hooks.deny_admin();
    let disconnected = world
        .auth()
        .disconnect(Disconnect::new(tenant(), connection.id.clone()))
        .await
        .unwrap();
    assert_eq!(
        disconnected.webhook,
        WebhookRemoval::Failed {
            code: "tool.forbidden".to_owned()
        }
    );
    assert!(matches!(
        disconnected.connection.status,
        ConnectionStatus::Revoked { .. }
    ));
    // The hook the provider kept is still on record, so a later unregister can find it.
    assert_eq!(world.hooks.hooks().len(), 1);
    let stored = world.stored(&connection).await;
    assert_eq!(stored.managed_webhook, connection.managed_webhook);
}

#[tokio::test]
async fn a_hook_deleted_at_the_provider_is_already_gone_and_registered_anew() {
    let world = LinearWorld::new().await;
    let connection = world.connect("lin_1").await;
    let first = connection.managed_webhook.clone().unwrap();
    world.hooks.remove_hook(&first.hook_id);
    // Registering again creates a new hook with the same stored secret.
    let second = register_again(&world.managed, &connection).await;
    assert_ne!(second.hook_id, first.hook_id);
    let secret = world.stored_secret(&connection).await.unwrap();
    assert_eq!(world.hooks.hooks()[0]["secret"], secret.expose());
    world.hooks.remove_hook(&second.hook_id);
    let disconnected = world
        .auth()
        .disconnect(Disconnect::new(tenant(), connection.id.clone()))
        .await
        .unwrap();
    assert_eq!(disconnected.webhook, WebhookRemoval::AlreadyGone);
}

/// Deleting a hook the provider no longer has, while another hook delivers to the same
/// URL (one registered since), is `AlreadyGone`: the other is not it.
#[tokio::test]
async fn a_gone_hook_is_already_gone_beside_another_with_its_url() {
    let world = LinearWorld::new().await;
    let connection = world.connect("lin_1").await;
    let first = connection.managed_webhook.clone().unwrap();
    world.hooks.remove_hook(&first.hook_id);
    let other = world.hooks.add_hook(&first.url, "lin_wh_other");
    let removal = world
        .managed
        .unregister(&tenant(), &connection.id)
        .await
        .unwrap();
    assert_eq!(
        removal,
        Some(integrations_core::webhook::HookRemoval::AlreadyGone)
    );
    let hooks = world.hooks.hooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["id"], other.as_str());
}

#[tokio::test]
async fn a_refused_registration_keeps_the_connection_and_a_retry_registers() {
    let world = LinearWorld::new().await;
    world.hooks.deny_admin();
    let connection = world.connect("lin_1").await;
    assert!(connection.is_active());
    assert!(connection.managed_webhook.is_none());
    let error = world
        .managed
        .register(&tenant(), &connection.id)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "tool.forbidden");
    // The secret generated for it stays, so the retry uses the same one.
    let secret = world.stored_secret(&connection).await.unwrap();
    assert_secret_free(&error, secret.expose());
    assert_secret_free(&error, LINEAR_KEY);
    assert!(world.hooks.hooks().is_empty());
}

#[tokio::test]
async fn a_disconnect_during_registration_leaves_the_connection_revoked_and_no_hook() {
    let world = LinearWorld::new().await;
    // Connected without managed webhooks; the host registers its hook afterwards.
    let connection = world
        .api_keys()
        .connect(LinearWorld::input("lin_1"))
        .await
        .unwrap();
    assert!(connection.managed_webhook.is_none());

    // A host whose HTTP client sees the provider create the hook just after a
    // disconnect revoked the connection (as one running in another process would).
    let store = world.test.store.clone();
    let (tenant_id, connection_id) = (connection.tenant.clone(), connection.id.clone());
    let reqwest = Arc::new(ReqwestHttpClient::new().unwrap());
    let http = integrations_core::host::from_fn(move |request: http::Request<bytes::Bytes>| {
        let (store, reqwest) = (store.clone(), reqwest.clone());
        let (tenant_id, connection_id) = (tenant_id.clone(), connection_id.clone());
        async move {
            if String::from_utf8_lossy(request.body()).contains("webhookCreate(") {
                let revoked = ConnectionStatus::Revoked {
                    reason: "disconnected".to_owned(),
                };
                store
                    .set_connection_status(
                        &tenant_id,
                        &connection_id,
                        revoked,
                        Timestamp::from_unix_seconds(1),
                    )
                    .await
                    .unwrap();
            }
            reqwest.send(request).await
        }
    });
    let racing = world.other_process(http);
    refused_and_left_revoked(&world, &racing, &connection).await;
}

/// Linear's `webhooks` query answered with partial data and an error without a code:
/// the registration fails (`linear.graphql_error`, Linear's message not passed on) rather
/// than read the partial list as "no hook" and create a second one.
#[tokio::test]
async fn a_partial_graphql_answer_fails_the_registration_and_creates_no_hook() {
    let world = LinearWorld::new().await;
    let connection = world
        .api_keys()
        .connect(LinearWorld::input("lin_1"))
        .await
        .unwrap();
    let reqwest = Arc::new(ReqwestHttpClient::new().unwrap());
    let http = integrations_core::host::from_fn(move |request: http::Request<bytes::Bytes>| {
        let reqwest = reqwest.clone();
        async move {
            if String::from_utf8_lossy(request.body()).contains("webhooks(first") {
                let partial = json!({
                    "data": {"webhooks": {
                        "nodes": [],
                        "pageInfo": {"hasNextPage": false, "endCursor": null},
                    }},
                    "errors": [{
                        "message": "Could not load webhook hook-secret-detail",
                        "path": ["webhooks", "nodes", 0],
                    }],
                });
                return Ok(http::Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(bytes::Bytes::from(partial.to_string()))
                    .unwrap());
            }
            reqwest.send(request).await
        }
    });
    let partial = world.other_process(http);
    let error = partial
        .register(&tenant(), &connection.id)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "linear.graphql_error");
    assert!(!error.to_string().contains("hook-secret-detail"), "{error}");
    assert_eq!(world.creates(), 0);
    assert!(world.hooks.hooks().is_empty());
}

/// Two registrations of one connection at once in one process take turns: the second
/// finds the first's hook by its URL, so Linear gets one hook, not two (finding and then
/// creating is not atomic at the provider).
#[tokio::test]
async fn concurrent_registrations_in_one_process_make_one_hook() {
    let world = LinearWorld::new().await;
    for id in ["lin_1", "lin_2", "lin_3"] {
        // Each its own organization (one organization's second connection is the first).
        let input = LinearWorld::input(id).with_external_subject(format!("org-{id}"));
        let connection = world.api_keys().connect(input).await.unwrap();
        assert!(connection.managed_webhook.is_none());
        let (a, b) = tokio::join!(
            register_again(&world.managed, &connection),
            register_again(&world.managed, &connection)
        );
        assert_eq!(a.hook_id, b.hook_id);
    }
    assert_eq!(world.creates(), 3, "{:?}", world.hooks.hooks());
    assert_eq!(world.hooks.hooks().len(), 3);
}

/// Two processes (two `ManagedWebhooks` on one store) registering one connection at once:
/// the connection's registration lease lets one register; the other is refused with
/// `webhook.registration_in_progress` or, once the first is done, keeps its hook. One
/// hook either way, and the lease is released after each.
#[tokio::test]
async fn concurrent_registrations_across_processes_make_one_hook() {
    let world = LinearWorld::new().await;
    let host = world.test.host().clone();
    let tokens = Arc::new(TokenManager::new(world.registry.clone(), host.clone()));
    let other = ManagedWebhooks::new(world.registry.clone(), host, tokens, PUBLIC_BASE).unwrap();
    for id in ["lin_1", "lin_2", "lin_3"] {
        // Each its own organization (one organization's second connection is the first).
        let input = LinearWorld::input(id).with_external_subject(format!("org-{id}"));
        let connection = world.api_keys().connect(input).await.unwrap();
        let (a, b) = tokio::join!(
            world.managed.register(&connection.tenant, &connection.id),
            other.register(&connection.tenant, &connection.id)
        );
        let mut ids = Vec::new();
        for result in [a, b] {
            match result {
                Ok(hook) => ids.push(hook.unwrap().hook_id),
                Err(e) => assert_eq!(e.code(), "webhook.registration_in_progress", "{e:?}"),
            }
        }
        assert!(!ids.is_empty());
        ids.dedup();
        assert_eq!(ids.len(), 1, "two hooks recorded: {ids:?}");
        // The lease was released: both register again at once in turn, or one after
        // the other, and keep the hook.
        let again = register_again(&other, &connection).await;
        assert_eq!(again.hook_id, ids[0]);
    }
    assert_eq!(world.creates(), 3, "{:?}", world.hooks.hooks());
    assert_eq!(world.hooks.hooks().len(), 3);
}

/// A registration whose future is dropped while it waits on the provider (its request
/// handler cancelled) releases its lease at once: the next registration, in any
/// process, goes ahead instead of getting `webhook.registration_in_progress` until the
/// lease expires.
#[tokio::test]
async fn a_cancelled_registration_frees_the_connection_at_once() {
    let world = LinearWorld::new().await;
    let connection = world
        .api_keys()
        .connect(LinearWorld::input("lin_1"))
        .await
        .unwrap();
    // Another process, whose provider never answers.
    let asked = Arc::new(tokio::sync::Notify::new());
    let http = integrations_core::host::from_fn({
        let asked = asked.clone();
        move |_request: http::Request<bytes::Bytes>| {
            asked.notify_one();
            std::future::pending()
        }
    });
    let stuck = world.other_process(http);
    let registration = tokio::spawn({
        let (tenant, id) = (connection.tenant.clone(), connection.id.clone());
        async move { stuck.register(&tenant, &id).await }
    });
    asked.notified().await;
    registration.abort();
    assert!(registration.await.unwrap_err().is_cancelled());
    // The release runs in a task of its own.
    tokio::task::yield_now().await;

    let hook = register_again(&world.managed, &connection).await;
    assert_eq!(world.hooks.hooks().len(), 1);
    assert_eq!(world.hooks.hooks()[0]["id"], hook.hook_id.as_str());
}

#[tokio::test]
async fn no_secret_appears_in_debug_output_errors_or_logs() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Other tests' threads may have cached "no subscriber wants this" for the callsites.
    tracing::callsite::rebuild_interest_cache();

    let world = LinearWorld::new().await;
    let connection = world.connect("lin_1").await;
    let secret = world.stored_secret(&connection).await.unwrap();
    world
        .managed
        .register(&tenant(), &connection.id)
        .await
        .unwrap();
    world.api.tokens().revoke_all();
    let error = world
        .managed
        .unregister(&tenant(), &connection.id)
        .await
        .unwrap_err();
    let disconnected = world
        .auth()
        .disconnect(Disconnect::new(tenant(), connection.id.clone()))
        .await
        .unwrap();
    assert!(matches!(
        disconnected.webhook,
        WebhookRemoval::Failed { .. }
    ));

    for value in [
        &format!("{connection:?}") as &dyn std::fmt::Debug,
        &world.managed,
        &disconnected,
        &error,
        &secret,
    ] {
        assert_debug_secret_free(value, secret.expose());
        assert_debug_secret_free(value, LINEAR_KEY);
    }
    assert_secret_free(&error, secret.expose());
    // Tests on other threads can leave a callsite's interest cached as "never" for a
    // moment, so what was logged is checked, not that everything was.
    let logs = buffer.text();
    assert_text_secret_free(&logs, secret.expose());
    assert_text_secret_free(&logs, LINEAR_KEY);
}

#[test]
fn source_metadata_says_who_owns_each_webhook_source() {
    use integrations_core::definition::IntegrationDefinition as _;
    let source = Linear::new().webhook_source().unwrap();
    let method = |m: &str| ConnectionMethodId::new(m).unwrap();
    assert_eq!(
        source.lifecycle(&method("api-key")),
        WebhookLifecycle::Managed
    );
    assert_eq!(
        source.lifecycle(&method("oauth2")),
        WebhookLifecycle::Managed
    );
    assert_eq!(
        source.lifecycle(&method("client-credentials")),
        WebhookLifecycle::Implicit
    );
}

#[test]
fn the_public_base_url_must_be_https() {
    let test = TestHost::new();
    let registry = Arc::new(integrations_definitions::registry());
    let tokens = Arc::new(TokenManager::new(registry.clone(), test.host().clone()));
    for bad in [
        "http://hooks.example.test",
        "https://user:pw@hooks.example.test",
        "https://hooks.example.test/?q=1",
        "not a url",
    ] {
        let error =
            ManagedWebhooks::new(registry.clone(), test.host().clone(), tokens.clone(), bad)
                .unwrap_err();
        assert_eq!(error.code(), "webhook.invalid_base_url", "{bad}");
    }
    assert!(
        ManagedWebhooks::new(
            registry,
            test.host().clone(),
            tokens,
            "http://127.0.0.1:8080"
        )
        .is_ok()
    );
}

mod github {
    use integrations_core::host::HttpClient as _;
    use integrations_testkit::mock::api::{GitHubApi, GitHubHooks};

    use super::*;

    const TOKEN: &str = "ghp_admin_token_0123456789abcdef";

    struct GitHubWorld {
        api: GitHubApi,
        hooks: GitHubHooks,
        test: TestHost,
        registry: Arc<Registry>,
        managed: ManagedWebhooks,
    }

    impl GitHubWorld {
        async fn new() -> Self {
            let api = GitHubApi::cloud().await;
            let hooks = GitHubHooks::mount(&api).await;
            api.accept_token(TOKEN);
            hooks.add_repo("octo-org", "octo-repo");
            hooks.add_org("octo-org");
            let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new().unwrap()));
            let registry = Arc::new(integrations_definitions::registry());
            WriteService::new(registry.clone(), test.host().clone())
                .put_target(
                    TargetInput::new(
                        tenant(),
                        TargetId::new("github").unwrap(),
                        "github::github-cloud".parse().unwrap(),
                    )
                    .with_config(
                        json!({"api_base_url": api.api_base_url(), "web_base_url": api.web_base_url()}),
                    ),
                )
                .await
                .unwrap();
            let tokens = Arc::new(TokenManager::new(registry.clone(), test.host().clone()));
            let managed =
                ManagedWebhooks::new(registry.clone(), test.host().clone(), tokens, PUBLIC_BASE)
                    .unwrap();
            Self {
                api,
                hooks,
                test,
                registry,
                managed,
            }
        }

        async fn connect(&self, id: &str, config: serde_json::Value) -> Connection {
            ApiKeyConnections::new(self.registry.clone(), self.test.host().clone())
                .with_verification(false)
                .with_managed_webhooks(self.managed.clone())
                .connect(
                    ConnectionInput::new(
                        tenant(),
                        ConnectionId::new(id).unwrap(),
                        TargetId::new("github").unwrap(),
                        "api-key".parse().unwrap(),
                    )
                    .with_config(config)
                    .with_secret("token", TOKEN),
                )
                .await
                .unwrap()
        }

        async fn stored_secret(&self, connection: &Connection) -> Option<Secret> {
            super::stored_secret(&self.test, connection).await
        }

        fn creates(&self) -> usize {
            self.hooks
                .requests()
                .iter()
                .filter(|r| r.method == "POST")
                .count()
        }
    }

    #[tokio::test]
    async fn github_repository_hooks_round_trip_idempotently() {
        let world = GitHubWorld::new().await;
        let connection = world
            .connect("gh_1", json!({"webhook_repository": "octo-org/octo-repo"}))
            .await;
        let record = connection.managed_webhook.clone().expect("a hook id");
        let hooks = world.hooks.hooks();
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0]["id"].to_string(), record.hook_id);
        assert_eq!(hooks[0]["owner"], "repos/octo-org/octo-repo");
        assert_eq!(hooks[0]["config"]["url"], record.url.as_str());
        assert_eq!(hooks[0]["config"]["content_type"], "json");
        assert_eq!(
            hooks[0]["events"],
            json!([
                "issues",
                "pull_request",
                "issue_comment",
                "pull_request_review",
                "pull_request_review_comment"
            ])
        );
        let secret = world.stored_secret(&connection).await.unwrap();
        assert_eq!(hooks[0]["secret"], secret.expose());

        // Idempotent: the second registration finds the hook by its URL.
        let again = register_again(&world.managed, &connection).await;
        assert_eq!(again.hook_id, record.hook_id);
        assert_eq!(world.hooks.hooks().len(), 1);
        assert_eq!(world.creates(), 1);

        let disconnected = Authorizations::new(world.registry.clone(), world.test.host().clone())
            .with_managed_webhooks(world.managed.clone())
            .disconnect(Disconnect::new(tenant(), connection.id.clone()))
            .await
            .unwrap();
        assert_eq!(disconnected.webhook, WebhookRemoval::Deleted);
        assert!(world.hooks.hooks().is_empty());
    }

    /// A hook kept at the connection's URL is brought up to date with one `PATCH`:
    /// active again after it was deactivated, the managed events, and the connection's
    /// secret when it was left with another; no second hook.
    #[tokio::test]
    async fn a_kept_github_hook_is_activated_and_signed_with_the_connections_secret() {
        let world = GitHubWorld::new().await;
        let connection = world
            .connect("gh_1", json!({"webhook_repository": "octo-org/octo-repo"}))
            .await;
        let record = connection.managed_webhook.clone().unwrap();
        let secret = world.stored_secret(&connection).await.unwrap();

        world.hooks.deactivate_hook(record.hook_id.parse().unwrap());
        register_again(&world.managed, &connection).await;
        let hooks = world.hooks.hooks();
        assert_eq!(hooks.len(), 1);
        assert_eq!(
            hooks[0]["active"], true,
            "the deactivated hook stayed inactive"
        );
        assert_eq!(hooks[0]["secret"], secret.expose());

        world.hooks.remove_hook(record.hook_id.parse().unwrap());
        let left =
            world
                .hooks
                .add_hook("repos/octo-org/octo-repo", &record.url, Some("left-behind"));
        let kept = register_again(&world.managed, &connection).await;
        assert_eq!(kept.hook_id, left.to_string());
        let hooks = world.hooks.hooks();
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0]["secret"], secret.expose());
        assert_eq!(hooks[0]["config"]["content_type"], "json");
        assert_eq!(
            hooks[0]["events"],
            json!([
                "issues",
                "pull_request",
                "issue_comment",
                "pull_request_review",
                "pull_request_review_comment"
            ])
        );
        assert_eq!(world.creates(), 1);
        let updates = world
            .hooks
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count();
        assert_eq!(updates, 2);
    }

    /// A connection whose config moves its hook to another repository or to its
    /// organization gets a hook there, and its hook at the old place is deleted; the
    /// place is recorded, so deleting finds the hook even after the config changed
    /// behind the registration's back.
    #[tokio::test]
    async fn a_github_hook_moved_to_another_place_leaves_none_behind() {
        let world = GitHubWorld::new().await;
        world.hooks.add_repo("octo-org", "other-repo");
        let owners = || {
            world
                .hooks
                .hooks()
                .iter()
                .map(|h| h["owner"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        let first = world
            .connect("gh_1", json!({"webhook_repository": "octo-org/octo-repo"}))
            .await;
        assert_eq!(
            first.managed_webhook.as_ref().unwrap().place.as_deref(),
            Some("repos/octo-org/octo-repo")
        );
        let moved = world
            .connect("gh_1", json!({"webhook_repository": "octo-org/other-repo"}))
            .await;
        assert_eq!(owners(), ["repos/octo-org/other-repo"]);
        assert_eq!(
            moved.managed_webhook.as_ref().unwrap().place.as_deref(),
            Some("repos/octo-org/other-repo")
        );
        let org = world
            .connect("gh_1", json!({"webhook_organization": "octo-org"}))
            .await;
        assert_eq!(owners(), ["orgs/octo-org"]);
        let secret = world.stored_secret(&org).await.unwrap();
        assert_eq!(world.hooks.hooks()[0]["secret"], secret.expose());

        // The config changed without a registration: the hook is still deleted where it is.
        let mut edited = org.clone();
        edited.config = json!({"webhook_repository": "octo-org/octo-repo"});
        world
            .test
            .host()
            .connections()
            .put_connection(&edited)
            .await
            .unwrap();
        let disconnected = Authorizations::new(world.registry.clone(), world.test.host().clone())
            .with_managed_webhooks(world.managed.clone())
            .disconnect(Disconnect::new(tenant(), org.id.clone()))
            .await
            .unwrap();
        assert_eq!(disconnected.webhook, WebhookRemoval::Deleted);
        assert!(owners().is_empty(), "{:?}", world.hooks.hooks());
    }

    #[tokio::test]
    async fn github_organization_hooks_and_refusals() {
        let world = GitHubWorld::new().await;
        let connection = world
            .connect("gh_org", json!({"webhook_organization": "octo-org"}))
            .await;
        let record = connection.managed_webhook.clone().expect("a hook id");
        assert_eq!(world.hooks.hooks()[0]["owner"], "orgs/octo-org");
        world.hooks.remove_hook(record.hook_id.parse().unwrap());
        assert_eq!(
            world
                .managed
                .unregister(&tenant(), &connection.id)
                .await
                .unwrap(),
            Some(integrations_core::webhook::HookRemoval::AlreadyGone)
        );

        // Gone, beside another hook with its URL (registered since): still gone.
        let hook = register_again(&world.managed, &connection).await;
        world.hooks.remove_hook(hook.hook_id.parse().unwrap());
        let other = world
            .hooks
            .add_hook("orgs/octo-org", &hook.url, Some("other"));
        assert_eq!(
            world
                .managed
                .unregister(&tenant(), &connection.id)
                .await
                .unwrap(),
            Some(integrations_core::webhook::HookRemoval::AlreadyGone)
        );
        assert_eq!(world.hooks.hooks().len(), 1);
        assert_eq!(world.hooks.hooks()[0]["id"], other);

        // No repository or organization named: no hook, a clear error on retry.
        let bare = world.connect("gh_bare", json!({})).await;
        assert!(bare.managed_webhook.is_none());
        let error = world
            .managed
            .register(&tenant(), &bare.id)
            .await
            .unwrap_err();
        assert_eq!(error.code(), "github.webhook_target_missing");

        // Without admin rights GitHub hides the hooks (404): a refusal, not "gone".
        let admin = world
            .connect(
                "gh_repo",
                json!({"webhook_repository": "octo-org/octo-repo"}),
            )
            .await;
        assert!(admin.managed_webhook.is_some());
        world.hooks.deny_admin();
        let error = world
            .managed
            .unregister(&tenant(), &admin.id)
            .await
            .unwrap_err();
        assert!(!error.code().is_empty());
        assert_secret_free(&error, TOKEN);
        let secret = world.stored_secret(&admin).await.unwrap();
        assert_secret_free(&error, secret.expose());
    }

    #[tokio::test]
    async fn a_duplicate_url_is_refused_by_the_mock_as_github_does() {
        let world = GitHubWorld::new().await;
        let connection = world
            .connect("gh_1", json!({"webhook_repository": "octo-org/octo-repo"}))
            .await;
        let url = connection.managed_webhook.unwrap().url;
        let request = http::Request::builder()
            .method("POST")
            .uri(format!(
                "{}/repos/octo-org/octo-repo/hooks",
                world.api.api_base_url()
            ))
            .header("user-agent", "test")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(
                serde_json::to_vec(
                    &json!({"name": "web", "config": {"url": url, "content_type": "json"}}),
                )
                .unwrap()
                .into(),
            )
            .unwrap();
        let response = ReqwestHttpClient::new()
            .unwrap()
            .send(request)
            .await
            .unwrap();
        assert_eq!(response.status(), 422);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(
            body["errors"][0]["message"],
            "Hook already exists on this repository"
        );
    }

    #[test]
    fn github_app_installations_have_no_managed_webhook() {
        use integrations_core::definition::IntegrationDefinition as _;
        use integrations_core::provider::IntegrationProvider as _;
        let github = integrations_definitions::github::GitHub::cloud();
        let source = github.webhook_source().unwrap();
        let method = |m: &str| ConnectionMethodId::new(m).unwrap();
        assert_eq!(
            source.lifecycle(&method("api-key")),
            WebhookLifecycle::Managed
        );
        assert_eq!(
            source.lifecycle(&method("oauth2")),
            WebhookLifecycle::Managed
        );
        assert_eq!(
            source.lifecycle(&method(
                integrations_definitions::github::auth::INSTALLATION_METHOD
            )),
            WebhookLifecycle::Implicit
        );
        assert!(
            github
                .webhook_registrar(&method(
                    integrations_definitions::github::auth::INSTALLATION_METHOD
                ))
                .is_none()
        );
    }
}

/// A connection store over the test's store that, once armed, lets a disconnect revoke
/// the connection right after the next read of it: the window between a writer's last
/// read and its write.
struct RevokedAfterRead {
    inner: Arc<integrations_testkit::MemoryStore>,
    armed: Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait::async_trait]
impl integrations_core::host::ConnectionStore for RevokedAfterRead {
    async fn get_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, integrations_core::Error> {
        let read = self.inner.get_connection(tenant, id).await?;
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let revoked = ConnectionStatus::Revoked {
                reason: "disconnected".to_owned(),
            };
            self.inner
                .set_connection_status(tenant, id, revoked, Timestamp::from_unix_seconds(1))
                .await?;
        }
        Ok(read)
    }
    async fn put_connection(
        &self,
        connection: &Connection,
    ) -> Result<(), integrations_core::Error> {
        self.inner.put_connection(connection).await
    }
    async fn put_connection_if_unchanged(
        &self,
        read: &Connection,
        connection: &Connection,
    ) -> Result<bool, integrations_core::Error> {
        self.inner
            .put_connection_if_unchanged(read, connection)
            .await
    }
    async fn list_connections(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<Connection>, integrations_core::Error> {
        self.inner.list_connections(tenant).await
    }
    async fn delete_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<bool, integrations_core::Error> {
        self.inner.delete_connection(tenant, id).await
    }
    async fn find_connections(
        &self,
        query: &integrations_core::host::ConnectionQuery,
    ) -> Result<Vec<Connection>, integrations_core::Error> {
        self.inner.find_connections(query).await
    }
    async fn set_connection_status(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<Connection>, integrations_core::Error> {
        self.inner
            .set_connection_status(tenant, id, status, now)
            .await
    }
}

/// The registration's last read of the connection (after the provider created the hook)
/// and its write are two steps: a disconnect landing between them must not be written
/// back active. The write is made over the record read only, so it is refused, the
/// connection read again, and the hook deleted.
#[tokio::test]
async fn a_disconnect_between_the_last_read_and_the_write_stays_revoked() {
    let world = LinearWorld::new().await;
    let connection = world
        .api_keys()
        .connect(LinearWorld::input("lin_1"))
        .await
        .unwrap();
    assert!(connection.managed_webhook.is_none());

    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reqwest = Arc::new(ReqwestHttpClient::new().unwrap());
    let arm = Arc::clone(&armed);
    let http = integrations_core::host::from_fn(move |request: http::Request<bytes::Bytes>| {
        let (arm, reqwest) = (arm.clone(), reqwest.clone());
        async move {
            let creates = String::from_utf8_lossy(request.body()).contains("webhookCreate(");
            let answer = reqwest.send(request).await;
            if creates {
                arm.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            answer
        }
    });
    let host = integrations_core::host::Host::builder()
        .stores(world.test.store.clone())
        .connections(Arc::new(RevokedAfterRead {
            inner: world.test.store.clone(),
            armed,
        }))
        .http(Arc::new(http))
        .cipher(world.test.keys.clone())
        .clock(world.test.clock.clone())
        .build()
        .unwrap();
    let tokens = Arc::new(TokenManager::new(world.registry.clone(), host.clone()));
    let racing = ManagedWebhooks::new(world.registry.clone(), host, tokens, PUBLIC_BASE).unwrap();
    refused_and_left_revoked(&world, &racing, &connection).await;
}

/// A registration that raced a disconnect: refused, the connection left revoked with no
/// hook id, and the one hook the provider created deleted again.
async fn refused_and_left_revoked(
    world: &LinearWorld,
    racing: &ManagedWebhooks,
    connection: &Connection,
) {
    let error = racing
        .register(&tenant(), &connection.id)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "auth.connection_not_active");
    let stored = world
        .test
        .store
        .get_connection(&tenant(), &connection.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(stored.status, ConnectionStatus::Revoked { .. }),
        "the registration wrote the connection back as {:?}",
        stored.status
    );
    assert!(stored.managed_webhook.is_none());
    assert_eq!(world.creates(), 1);
    assert!(world.hooks.hooks().is_empty(), "{:?}", world.hooks.hooks());
}
