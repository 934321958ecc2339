//! Issue 14 point 2: connecting the same provider-side account twice never breaks its
//! webhooks. Through the real flows (OAuth authorization code, API key, GitHub App
//! installation) against the loopback mocks, then a signed delivery for the account:
//! one connection per account, target, tenant and scope, so the delivery routes; and two
//! tenants with their own targets each get the deliveries their secret signed.

use std::sync::Mutex;

use async_trait::async_trait;
use integrations_core::auth::{
    ApiKeyConnections, Authorizations, CompleteAuthorization, StartAuthorization,
};
use integrations_core::host::{
    ConnectionQuery, ConnectionStore, CredentialStore, Host, ReqwestHttpClient, Sealed,
};
use integrations_core::model::{
    Connection, ConnectionScope, Credential, CredentialSet, CredentialType,
};
use integrations_core::{Error, Registry, TenantId};
use integrations_definitions::github::auth::INSTALLATION_METHOD;
use integrations_testkit::MemoryStore;
use integrations_testkit::mock::oauth::{GitHubMock, LinearMock, SlackMock};
use tokio::sync::Notify;

use super::*;

const REDIRECT: &str = "https://app.example.com/integrations/callback";

struct Flows {
    test: TestHost,
    registry: Arc<Registry>,
    ingest: Ingest,
}

impl Flows {
    fn new() -> Self {
        let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new().unwrap()));
        let registry = Arc::new(registry());
        let ingest = Ingest::new(registry.clone(), test.host().clone()).unwrap();
        Self {
            test,
            registry,
            ingest,
        }
    }

    /// A target `provider` in tenant `t`: the mock's config, its secrets plus a webhook
    /// signing secret in `field`.
    async fn target(
        &self,
        t: &str,
        k: &str,
        config: Value,
        mut secrets: Value,
        field: &str,
        secret: &str,
    ) {
        secrets[field] = json!(secret);
        WriteService::new(self.registry.clone(), self.test.host().clone())
            .put_target(
                TargetInput::new(tenant(t), TargetId::new("provider").unwrap(), key(k))
                    .with_config(config)
                    .with_secrets(secrets),
            )
            .await
            .unwrap();
    }

    async fn start(&self, t: &str, method: &str) -> String {
        Authorizations::new(self.registry.clone(), self.test.host().clone())
            .start(StartAuthorization::create(
                tenant(t),
                TargetId::new("provider").unwrap(),
                method.parse().unwrap(),
                REDIRECT,
                ConnectionScope::Organization,
            ))
            .await
            .unwrap()
            .url
    }

    async fn complete(&self, t: &str, query: String) -> Connection {
        Authorizations::new(self.registry.clone(), self.test.host().clone())
            .complete(CompleteAuthorization::new(tenant(t), REDIRECT, query))
            .await
            .unwrap()
    }

    async fn connections(&self, t: &TenantId) -> Vec<Connection> {
        self.test.store.list_connections(t).await.unwrap()
    }

    /// A Linear target in tenant `acme` on `mock`, signing with `LINEAR_SECRET`.
    async fn linear_target(&self, mock: &LinearMock) {
        self.target(
            "acme",
            LINEAR,
            mock.target_config(),
            mock.target_secrets(),
            "webhook_secret",
            LINEAR_SECRET,
        )
        .await;
    }

    /// The test host with `connections` or `credentials` as its store of them.
    fn host_over(
        &self,
        connections: Option<Arc<dyn ConnectionStore>>,
        credentials: Option<Arc<dyn CredentialStore>>,
    ) -> Host {
        let test = &self.test;
        let mut builder = Host::builder()
            .stores(test.store.clone())
            .http(test.host().http_arc())
            .cipher(test.keys.clone())
            .clock(test.clock.clone())
            .audit(test.audit.clone());
        if let Some(connections) = connections {
            builder = builder.connections(connections);
        }
        if let Some(credentials) = credentials {
            builder = builder.credentials(credentials);
        }
        builder.build().unwrap()
    }
}

#[tokio::test]
async fn a_second_oauth_connection_of_one_linear_organization_reauthorizes_the_first() {
    let mock = LinearMock::start().await;
    let flows = Flows::new();
    for (t, secret) in [
        ("acme", LINEAR_SECRET),
        ("beta", "beta-linear-webhook-secret"),
    ] {
        flows
            .target(
                t,
                LINEAR,
                mock.target_config(),
                mock.target_secrets(),
                "webhook_secret",
                secret,
            )
            .await;
    }
    let first = flows
        .complete(
            "acme",
            mock.authorize(&flows.start("acme", "oauth2").await)
                .unwrap(),
        )
        .await;
    let second = flows
        .complete(
            "acme",
            mock.authorize(&flows.start("acme", "oauth2").await)
                .unwrap(),
        )
        .await;
    assert_eq!(second.id, first.id);
    assert_eq!(flows.connections(&tenant("acme")).await.len(), 1);
    assert_eq!(
        flows
            .test
            .store
            .raw_credentials(&tenant("acme"), &first.id)
            .unwrap()
            .version,
        2
    );
    // Another tenant legitimately connects the same organization, with its own target.
    let other = flows
        .complete(
            "beta",
            mock.authorize(&flows.start("beta", "oauth2").await)
                .unwrap(),
        )
        .await;
    assert_eq!(other.external_subject, first.external_subject);

    let now = flows.test.host().clock().now();
    let body = serde_json::to_vec(&json!({
        "action": "create",
        "type": "Comment",
        "data": {"id": "c-1", "body": "hello", "issueId": "i-1"},
        "organizationId": mock.organization_id(),
        "webhookTimestamp": now.unix_millis(),
    }))
    .unwrap();
    for (secret, t, connection) in [
        (LINEAR_SECRET, "acme", &first),
        ("beta-linear-webhook-secret", "beta", &other),
    ] {
        let signed = WebhookSigner::for_definition(&Linear::new(), secret)
            .unwrap()
            .sign(
                &Delivery::new(&body, now)
                    .with_id(&format!("d-{t}"))
                    .with_event("Comment"),
            )
            .unwrap();
        let event = flows
            .ingest
            .ingest(signed.request(&key(LINEAR)))
            .await
            .unwrap()
            .event
            .unwrap();
        assert_eq!(
            (event.tenant.as_str(), &event.connection),
            (t, &connection.id)
        );
    }
}

/// A connection store whose first insert of a new record waits: it says it arrived,
/// then waits to proceed.
struct StallsFirstInsert {
    inner: Arc<MemoryStore>,
    stall: Mutex<Option<(Arc<Notify>, Arc<Notify>)>>,
}

#[async_trait]
impl ConnectionStore for StallsFirstInsert {
    async fn get_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, Error> {
        self.inner.get_connection(tenant, id).await
    }
    async fn put_connection(&self, connection: &Connection) -> Result<(), Error> {
        self.inner.put_connection(connection).await
    }
    async fn put_connection_if_absent(&self, connection: &Connection) -> Result<bool, Error> {
        let stall = self.stall.lock().unwrap().take();
        if let Some((arrived, proceed)) = stall {
            arrived.notify_one();
            proceed.notified().await;
        }
        self.inner.put_connection_if_absent(connection).await
    }
    async fn put_connection_if_unchanged(
        &self,
        read: &Connection,
        connection: &Connection,
    ) -> Result<bool, Error> {
        self.inner
            .put_connection_if_unchanged(read, connection)
            .await
    }
    async fn list_connections(&self, tenant: &TenantId) -> Result<Vec<Connection>, Error> {
        self.inner.list_connections(tenant).await
    }
    async fn delete_connection(&self, tenant: &TenantId, id: &ConnectionId) -> Result<bool, Error> {
        self.inner.delete_connection(tenant, id).await
    }
    async fn find_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>, Error> {
        self.inner.find_connections(query).await
    }
    async fn set_connection_status(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<Connection>, Error> {
        self.inner
            .set_connection_status(tenant, id, status, now)
            .await
    }
}

/// Two flows connecting one account at once (two tabs, a double click): the second's
/// look for the account's connection runs before the first stored it. Both meet at the
/// account's connection id, so the flow that finds it taken reauthorizes it: one
/// connection, which both flows return, holding the grant that came last.
#[tokio::test]
async fn two_flows_connecting_one_linear_organization_at_once_keep_one_connection() {
    let mock = LinearMock::start().await;
    let flows = Flows::new();
    flows.linear_target(&mock).await;
    let (arrived, proceed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let connections = Arc::new(StallsFirstInsert {
        inner: flows.test.store.clone(),
        stall: Mutex::new(Some((arrived.clone(), proceed.clone()))),
    });
    let test = &flows.test;
    let host = flows.host_over(Some(connections), None);
    let auth = Arc::new(Authorizations::new(flows.registry.clone(), host));
    let queries = [
        mock.authorize(&flows.start("acme", "oauth2").await)
            .unwrap(),
        mock.authorize(&flows.start("acme", "oauth2").await)
            .unwrap(),
    ];
    let complete = |query: &String| {
        let (auth, query) = (Arc::clone(&auth), query.clone());
        async move {
            auth.complete(CompleteAuthorization::new(tenant("acme"), REDIRECT, query))
                .await
                .unwrap()
        }
    };
    let first = tokio::spawn(complete(&queries[0]));
    arrived.notified().await;
    let second = complete(&queries[1]).await;
    proceed.notify_one();
    let first = first.await.unwrap();

    assert_eq!(first.id, second.id);
    let stored = flows.connections(&tenant("acme")).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].is_active());
    // The first flow's grant (stored first, then written over by the second flow's,
    // then put back by the first's reauthorization): three versions.
    let set = test
        .store
        .raw_credentials(&tenant("acme"), &first.id)
        .unwrap();
    assert_eq!(set.version, 3);
}

/// A credential store where the account's other flow swaps its set in right after this
/// flow read the (absent) one.
struct OtherFlowSwapsFirst {
    inner: Arc<MemoryStore>,
    raced: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl CredentialStore for OtherFlowSwapsFirst {
    async fn load_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<CredentialSet>, Error> {
        let read = self.inner.load_credentials(tenant, connection).await?;
        if !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let theirs = Credential::new(
                CredentialType::OAUTH2_ACCESS_TOKEN,
                Sealed::new("k", vec![9]),
                Timestamp::UNIX_EPOCH,
            );
            self.inner
                .swap_credentials(tenant, connection, None, vec![theirs])
                .await?;
        }
        Ok(read)
    }
    async fn swap_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        expected_version: Option<u64>,
        credentials: Vec<Credential>,
    ) -> Result<u64, Error> {
        self.inner
            .swap_credentials(tenant, connection, expected_version, credentials)
            .await
    }
    async fn delete_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<bool, Error> {
        self.inner.delete_credentials(tenant, connection).await
    }
}

/// The other order of two flows connecting one account: the other flow swaps its set in
/// under the account's connection id right after this one found none. This flow reads
/// again and stores its own over it, rather than failing with `auth.connection_exists`.
#[tokio::test]
async fn a_flow_whose_account_set_was_swapped_first_reads_again_and_connects() {
    let mock = LinearMock::start().await;
    let flows = Flows::new();
    flows.linear_target(&mock).await;
    let test = &flows.test;
    let host = flows.host_over(
        None,
        Some(Arc::new(OtherFlowSwapsFirst {
            inner: test.store.clone(),
            raced: std::sync::atomic::AtomicBool::new(false),
        })),
    );
    let query = mock
        .authorize(&flows.start("acme", "oauth2").await)
        .unwrap();
    let connection = Authorizations::new(flows.registry.clone(), host)
        .complete(CompleteAuthorization::new(tenant("acme"), REDIRECT, query))
        .await
        .unwrap();
    assert_eq!(flows.connections(&tenant("acme")).await.len(), 1);
    let set = test
        .store
        .raw_credentials(&tenant("acme"), &connection.id)
        .unwrap();
    assert_eq!(set.version, 2);
    assert!(set.credentials.iter().all(|c| c.value.ciphertext() != [9]));
}

#[tokio::test]
async fn installing_a_github_app_twice_keeps_one_connection_and_its_webhooks() {
    let mock = GitHubMock::start().await;
    let flows = Flows::new();
    flows
        .target(
            "acme",
            GITHUB,
            mock.target_config(),
            mock.target_secrets(),
            "webhook_secret",
            GITHUB_SECRET,
        )
        .await;
    let mock = mock.with_clock(flows.test.clock.clone() as Arc<dyn integrations_core::host::Clock>);
    let first = flows
        .complete(
            "acme",
            mock.install(&flows.start("acme", INSTALLATION_METHOD).await)
                .unwrap(),
        )
        .await;
    let second = flows
        .complete(
            "acme",
            mock.install(&flows.start("acme", INSTALLATION_METHOD).await)
                .unwrap(),
        )
        .await;
    assert_eq!(second.id, first.id);
    assert_eq!(flows.connections(&tenant("acme")).await.len(), 1);

    let subject = first.external_subject.clone().unwrap();
    let body = serde_json::to_vec(&json!({
        "action": "opened",
        "issue": {"id": 1, "number": 1, "title": "t"},
        "repository": {"full_name": "octo-org/octo-repo"},
        "installation": {"id": subject.parse::<u64>().unwrap()},
    }))
    .unwrap();
    let signed = signer(GITHUB)
        .sign(
            &Delivery::new(&body, flows.test.host().clock().now())
                .with_id("d-1")
                .with_event("issues"),
        )
        .unwrap();
    let event = flows
        .ingest
        .ingest(signed.request(&key(GITHUB)))
        .await
        .unwrap()
        .event
        .unwrap();
    assert_eq!(event.connection, first.id);
}

#[tokio::test]
async fn a_second_slack_bot_token_for_one_workspace_replaces_the_first() {
    let mock = SlackMock::start().await;
    let flows = Flows::new();
    flows
        .target(
            "acme",
            SLACK,
            mock.target_config(),
            mock.target_secrets(),
            "signing_secret",
            SLACK_SECRET,
        )
        .await;
    mock.accept_bot_token("xoxb-first-bot-token");
    mock.accept_bot_token("xoxb-second-bot-token");
    let keys = ApiKeyConnections::new(flows.registry.clone(), flows.test.host().clone());
    let connect = |id: &'static str, token: &'static str| {
        keys.connect(
            ConnectionInput::new(
                tenant("acme"),
                ConnectionId::new(id).unwrap(),
                TargetId::new("provider").unwrap(),
                "api-key".parse().unwrap(),
            )
            .with_secret("bot_token", token),
        )
    };
    let first = connect("bot", "xoxb-first-bot-token").await.unwrap();
    let second = connect("bot-again", "xoxb-second-bot-token").await.unwrap();
    assert_eq!(second.id, first.id);
    assert_eq!(flows.connections(&tenant("acme")).await.len(), 1);

    let now = flows.test.host().clock().now();
    let body = serde_json::to_vec(&json!({
        "type": "event_callback",
        "team_id": mock.team_id(),
        "event_id": "Ev1",
        "event_time": now.unix_seconds(),
        "event": {"type": "app_mention", "user": "U1", "text": "hi", "ts": "1.2", "channel": "C1"},
    }))
    .unwrap();
    let signed = signer(SLACK).sign(&Delivery::new(&body, now)).unwrap();
    let event = flows
        .ingest
        .ingest(signed.request(&key(SLACK)))
        .await
        .unwrap()
        .event
        .unwrap();
    assert_eq!(event.connection, first.id);
}
