//! A webhook-only host: four small stores (targets, connections, credentials, webhook
//! events), a cipher and no HTTP client. It ingests a real signed GitHub delivery end to
//! end; the tool runtime and the sync runner given the same host fail with
//! `host.part_missing` naming the store they lack, and write nothing.

use async_trait::async_trait;
use integrations_core::auth::TokenManager;
use integrations_core::host::{
    AesGcmKeyRing, CheckpointStore as _, Clock as _, ConnectionQuery, ConnectionStore,
    CredentialStore, Host, HostPart, TargetStore, WebhookEventStore,
};
use integrations_core::model::{Connection, Credential, CredentialSet, Target};
use integrations_core::sync::{SyncMode, SyncRunner};
use integrations_core::tools::{CallContext, Runtime, Session, ToolStatus};
use integrations_core::{Error, ErrorKind, PublicationId, WorkspaceId};
use integrations_testkit::{
    ManualClock, MemoryRecordSink, MemoryStore, RecordingAuditSink, RecordingEventSink,
};

use super::*;

/// A webhook-only database: the four stores ingest uses, and no other store trait
/// (it wraps the testkit's memory store rather than implementing the rest).
struct WebhookDb(Arc<MemoryStore>);

#[async_trait]
impl TargetStore for WebhookDb {
    async fn get_target(&self, tenant: &TenantId, id: &TargetId) -> Result<Option<Target>, Error> {
        self.0.get_target(tenant, id).await
    }
    async fn put_target(&self, target: &Target) -> Result<(), Error> {
        self.0.put_target(target).await
    }
    async fn list_targets(&self, tenant: &TenantId) -> Result<Vec<Target>, Error> {
        self.0.list_targets(tenant).await
    }
    async fn delete_target(&self, tenant: &TenantId, id: &TargetId) -> Result<bool, Error> {
        self.0.delete_target(tenant, id).await
    }
    async fn find_targets(&self, key: &DefinitionKey) -> Result<Vec<Target>, Error> {
        self.0.find_targets(key).await
    }
}

#[async_trait]
impl ConnectionStore for WebhookDb {
    async fn get_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, Error> {
        self.0.get_connection(tenant, id).await
    }
    async fn put_connection(&self, connection: &Connection) -> Result<(), Error> {
        self.0.put_connection(connection).await
    }
    async fn list_connections(&self, tenant: &TenantId) -> Result<Vec<Connection>, Error> {
        self.0.list_connections(tenant).await
    }
    async fn delete_connection(&self, tenant: &TenantId, id: &ConnectionId) -> Result<bool, Error> {
        self.0.delete_connection(tenant, id).await
    }
    async fn find_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>, Error> {
        self.0.find_connections(query).await
    }
    async fn set_connection_status(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<Connection>, Error> {
        self.0.set_connection_status(tenant, id, status, now).await
    }
    async fn set_connection_status_if(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        expected: &ConnectionStatus,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<Connection>, Error> {
        self.0
            .set_connection_status_if(tenant, id, expected, status, now)
            .await
    }
}

#[async_trait]
impl CredentialStore for WebhookDb {
    async fn load_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<CredentialSet>, Error> {
        self.0.load_credentials(tenant, connection).await
    }
    async fn swap_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        expected_version: Option<u64>,
        credentials: Vec<Credential>,
    ) -> Result<u64, Error> {
        self.0
            .swap_credentials(tenant, connection, expected_version, credentials)
            .await
    }
    async fn delete_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<bool, Error> {
        self.0.delete_credentials(tenant, connection).await
    }
}

#[async_trait]
impl WebhookEventStore for WebhookDb {
    async fn record_event_if_new(&self, event: &WebhookEvent) -> Result<bool, Error> {
        self.0.record_event_if_new(event).await
    }
    async fn forget_event(
        &self,
        tenant: &TenantId,
        key: &DefinitionKey,
        external_event_id: &str,
    ) -> Result<bool, Error> {
        self.0.forget_event(tenant, key, external_event_id).await
    }
}

struct WebhookOnly {
    memory: Arc<MemoryStore>,
    events: Arc<RecordingEventSink>,
    audit: Arc<RecordingAuditSink>,
    clock: Arc<ManualClock>,
    host: Host,
    registry: Arc<integrations_core::Registry>,
}

impl WebhookOnly {
    /// The host, with GitHub target `gh` and the API-key connection `gh-1` of
    /// installation 1 stored through the write service on this very host.
    async fn new() -> Self {
        let memory = Arc::new(MemoryStore::new());
        let db = Arc::new(WebhookDb(memory.clone()));
        let events = Arc::new(RecordingEventSink::new());
        let audit = Arc::new(RecordingAuditSink::new());
        let clock = Arc::new(ManualClock::at_unix_seconds(1_767_225_600));
        let host = Host::builder()
            .targets(db.clone())
            .connections(db.clone())
            .credentials(db.clone())
            .webhook_events(db)
            .cipher(Arc::new(AesGcmKeyRing::generate("k1").unwrap()))
            .clock(clock.clone())
            .audit(audit.clone())
            .events(events.clone())
            .build()
            .unwrap();
        let registry = Arc::new(registry());
        let service = WriteService::new(registry.clone(), host.clone());
        service
            .put_target(
                TargetInput::new(tenant("acme"), TargetId::new("gh").unwrap(), key(GITHUB))
                    .with_secrets(json!({"webhook_secret": GITHUB_SECRET})),
            )
            .await
            .unwrap();
        service
            .put_connection(
                ConnectionInput::new(
                    tenant("acme"),
                    ConnectionId::new("gh-1").unwrap(),
                    TargetId::new("gh").unwrap(),
                    "api-key".parse().unwrap(),
                )
                .with_secret("token", "ghp_webhook_only")
                .with_external_subject("1"),
            )
            .await
            .unwrap();
        Self {
            memory,
            events,
            audit,
            clock,
            host,
            registry,
        }
    }
}

fn missing(error_code: &str, message: &str, part: HostPart) {
    assert_eq!(error_code, "host.part_missing", "{message}");
    assert!(message.contains(part.name()), "{message}");
    assert!(message.contains(part.setter()), "{message}");
}

#[tokio::test]
async fn a_webhook_only_host_ingests_a_signed_github_delivery_end_to_end() {
    let world = WebhookOnly::new().await;
    for part in [
        HostPart::Http,
        HostPart::Checkpoints,
        HostPart::Approvals,
        HostPart::Continuations,
        HostPart::OAuthStates,
        HostPart::Bindings,
        HostPart::Publications,
    ] {
        assert!(!world.host.has(part), "{part}");
    }
    let ingest = Ingest::new(world.registry.clone(), world.host.clone()).unwrap();

    let body = body("github/pull_request.opened.payload.json");
    let signed = signer(GITHUB)
        .sign(
            &Delivery::new(&body, world.clock.now())
                .with_id("d-webhook-only-1")
                .with_event("pull_request"),
        )
        .unwrap();
    let ingested = ingest.ingest(signed.request(&key(GITHUB))).await.unwrap();
    assert_eq!(ingested.response.status, 200);
    assert_eq!(ingested.outcome, IngestOutcome::Delivered);
    let event = ingested.event.unwrap();
    assert_eq!(event.event_type.as_str(), "github.pull_request.opened");
    assert_eq!(event.connection.as_str(), "gh-1");
    assert_eq!(event.tenant.as_str(), "acme");
    assert_eq!(event.payload.get().as_bytes(), body.as_slice());
    assert!(matches!(event.dispatch, SessionDispatch::Create { .. }));

    // Delivered once to the sink, recorded once in the event store.
    let delivered: Vec<String> = world
        .events
        .events()
        .into_iter()
        .map(|e| e.external_event_id)
        .collect();
    assert_eq!(delivered, std::slice::from_ref(&event.external_event_id));
    assert_eq!(world.memory.recorded_events().len(), 1);

    // The redelivery is deduplicated by the event store: 200, not delivered again.
    let again = ingest.ingest(signed.request(&key(GITHUB))).await.unwrap();
    assert_eq!(again.response.status, 200);
    assert_eq!(again.outcome, IngestOutcome::Duplicate);
    assert_eq!(world.events.events().len(), 1);

    // A forged signature is still refused, before anything is recorded.
    let forged = signed.with_body(body.iter().map(u8::to_ascii_uppercase).collect::<Vec<_>>());
    let response = ingest.handle(forged.request(&key(GITHUB))).await;
    assert_eq!(response.status, 401);
    assert_eq!(world.memory.recorded_events().len(), 1);
}

#[tokio::test]
async fn the_tool_runtime_and_the_sync_runner_on_it_fail_naming_the_missing_store() {
    let world = WebhookOnly::new().await;
    let stored = world.memory.record_count();
    let tokens = Arc::new(TokenManager::new(
        world.registry.clone(),
        world.host.clone(),
    ));

    // The tool runtime: the call's publication cannot be read, so nothing runs.
    let runtime = Runtime::new(world.registry.clone(), world.host.clone(), tokens.clone());
    let call = CallContext::new(
        Session::new(tenant("acme"), WorkspaceId::new("eng").unwrap()),
        ConnectionId::new("gh-1").unwrap(),
    )
    .with_publication(PublicationId::new("pub-1").unwrap());
    let result = runtime
        .call(
            "github_create_issue",
            json!({"repository": "octo/repo", "title": "Crash on start"}),
            &call,
        )
        .await;
    assert_eq!(result.status, ToolStatus::Failed, "{result:#?}");
    let failure = result.failure.clone().unwrap();
    assert_eq!(failure.kind, ErrorKind::Configuration);
    missing(&failure.code, &failure.message, HostPart::Publications);
    assert_eq!(world.memory.pending_approvals(), 0);

    // The runtime's own parts, checked up front, name every store it would lack.
    let error = world
        .host
        .require("the tool runtime", Runtime::HOST_PARTS)
        .unwrap_err();
    for part in [
        HostPart::Http,
        HostPart::Approvals,
        HostPart::Publications,
        HostPart::Continuations,
    ] {
        missing(error.code(), &error.to_string(), part);
    }

    // The sync runner: the run lease lives in the checkpoint store, so no run starts.
    let sink = MemoryRecordSink::new();
    let runner = SyncRunner::new(world.registry.clone(), world.host.clone(), tokens)
        .with_sleeper(world.clock.clone());
    let error = runner
        .run(
            &tenant("acme"),
            &ConnectionId::new("gh-1").unwrap(),
            "issues",
            SyncMode::Full,
            &sink,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Configuration);
    missing(error.code(), &error.to_string(), HostPart::Checkpoints);
    assert_eq!(sink.pages(), 0);

    // Nothing was written: no record of any kind, no checkpoint or lease, no status
    // change of the connection.
    assert_eq!(world.memory.record_count(), stored);
    assert!(
        world
            .memory
            .load_checkpoint(
                &tenant("acme"),
                &ConnectionId::new("gh-1").unwrap(),
                "issues"
            )
            .await
            .unwrap()
            .is_none()
    );
    let connection = world
        .memory
        .get_connection(&tenant("acme"), &ConnectionId::new("gh-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(connection.status, ConnectionStatus::Active);
    assert!(
        world
            .audit
            .with_action("connection.status_changed")
            .is_empty()
    );
}
