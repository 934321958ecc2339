//! The ingest pipeline end to end on an in-memory host, with a test integration
//! ("tracker") that signs like GitHub, routes by an account in the body, answers a
//! `ping` handshake by echoing a challenge, and dispatches sessions.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use integrations_core::definition::{
    ConnectionMethod, IntegrationDefinition, Metadata, SecretField,
};
use integrations_core::host::{ConnectionStore, SecretCipherExt, TargetStore};
use integrations_core::model::{ConnectionScope, ConnectionStatus, Credential, CredentialType};
use integrations_core::provider::IntegrationProvider;
use integrations_core::schema::ConfigSpec;
use integrations_core::service::{ConnectionInput, TargetInput, WriteService, credential_aad};
use integrations_core::webhook::{
    Classification, ConversationKey, EventRoute, EventSubject, EventType, GrantChange, Handshake,
    HmacHexScheme, InboundRequest, Ingest, IngestOutcome, Ingested, NormalizeContext, Normalized,
    Routing, SessionDispatch, SubjectKind, WebhookEvent, WebhookHandler, WebhookResponse,
    WebhookSource, codes, errors, lenient_timestamp, source_order_key,
};
use integrations_core::{
    ConnectionId, DefinitionKey, Error, IntegrationKind, Registry, Secret, TargetId, TenantId,
    Timestamp, UserId,
};
use integrations_testkit::{Delivery, SignedDelivery, TestHost, WebhookSigner, assert_secret_free};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::support::TestIntegration;

const SECRET: &str = "tracker-webhook-secret-1";
const OLD_SECRET: &str = "tracker-webhook-secret-0";
const KEY: &str = "tracker::tracker-cloud";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "read through the schema")]
struct TrackerTargetConfig {
    /// The app the target's webhooks belong to.
    #[serde(default)]
    app_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "read through the schema")]
struct TrackerTargetSecrets {
    /// The webhook secret.
    #[serde(default)]
    webhook_secret: Option<Secret>,
    /// Secrets being rotated out.
    #[serde(default)]
    previous_webhook_secrets: Vec<Secret>,
}

/// A webhook-receiving integration for the pipeline tests.
struct Tracker;

impl IntegrationDefinition for Tracker {
    fn key(&self) -> DefinitionKey {
        KEY.parse().unwrap()
    }
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Connector
    }
    fn metadata(&self) -> Metadata {
        Metadata::new("Tracker", "Tickets in Tracker.", "tracker", "productivity")
    }
    fn target_config(&self) -> ConfigSpec {
        ConfigSpec::of::<TrackerTargetConfig>()
    }
    fn target_secrets(&self) -> ConfigSpec {
        ConfigSpec::of::<TrackerTargetSecrets>()
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
            ConnectionMethod::api_key(
                "api-key-and-webhook",
                "API token and webhook secret",
                vec![
                    SecretField::new("api_token", "API token", CredentialType::API_KEY),
                    SecretField::new(
                        "webhook_secret",
                        "Webhook secret",
                        CredentialType::WEBHOOK_SECRET,
                    ),
                ],
            )
            .unwrap(),
        ]
    }
    fn webhook_source(&self) -> Option<WebhookSource> {
        Some(
            WebhookSource::new(HmacHexScheme::new("X-Tracker-Signature").with_prefix("sha256="))
                .with_target_secret("webhook_secret")
                .with_target_secret("previous_webhook_secrets")
                .with_connection_credential(CredentialType::WEBHOOK_SECRET)
                .with_delivery_header("X-Tracker-Delivery")
                .with_event_header("X-Tracker-Event")
                .with_no_retry_header("X-Tracker-No-Retry", "1"),
        )
    }
}

impl IntegrationProvider for Tracker {
    fn webhooks(&self) -> Option<&dyn WebhookHandler> {
        Some(self)
    }
}

#[derive(Deserialize)]
struct Route<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    account: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    app: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    challenge: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Ticket<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    account: Option<Cow<'a, str>>,
    id: u64,
    #[serde(borrow, default)]
    title: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    created_at: Option<Timestamp>,
}

impl WebhookHandler for Tracker {
    fn classify(&self, request: &InboundRequest<'_>) -> Result<Classification, Error> {
        let route: Route<'_> = serde_json::from_slice(request.body)
            .map_err(|_| errors::invalid_payload("not a tracker payload"))?;
        let mut routing = Routing::optional_subject(route.account.as_deref());
        if let Some(app) = route.app {
            routing = routing.with_target_claim("/app_id", app);
        }
        if route.kind == "unsigned-ping" {
            // A handler that marks an unsigned probe in `classify`, not in `probe`.
            return Ok(Classification::Handshake(Handshake::unverified(
                WebhookResponse::text(http::StatusCode::OK, "unsigned pong"),
            )));
        }
        if route.kind == "ping" {
            let challenge = route.challenge.unwrap_or_default();
            return Ok(Classification::Handshake(Handshake::verified(
                routing,
                WebhookResponse::text(http::StatusCode::OK, challenge),
            )));
        }
        let delivery = request
            .headers
            .get("x-tracker-delivery")
            .ok_or_else(|| errors::missing_header("x-tracker-delivery"))?;
        Ok(Classification::Event(
            EventRoute::new(routing, delivery).with_delivery_id(delivery),
        ))
    }

    fn normalize(
        &self,
        request: &InboundRequest<'_>,
        _context: &NormalizeContext<'_>,
    ) -> Result<Normalized, Error> {
        let ticket: Ticket<'_> = serde_json::from_slice(request.body)
            .map_err(|_| errors::invalid_payload("not a tracker ticket"))?;
        let grant = match (ticket.kind.as_ref(), ticket.action.as_deref()) {
            ("app", Some("uninstalled")) => {
                Some(GrantChange::revoked("the tracker app was uninstalled"))
            }
            ("app", Some("suspended")) => Some(GrantChange::suspended(TRACKER_SUSPENDED)),
            ("app", Some("unsuspended")) => Some(GrantChange::resumed(TRACKER_SUSPENDED)),
            _ => None,
        };
        let mut subject = EventSubject::new(SubjectKind::Issue, ticket.id.to_string());
        subject.title = ticket.title.map(Cow::into_owned);
        subject.container = ticket.account.map(Cow::into_owned);
        Ok(Normalized::new(
            EventType::from_parts(
                "tracker",
                &ticket.kind,
                ticket.action.as_deref().unwrap_or(""),
            ),
            ticket.kind.into_owned(),
        )
        .with_occurred_at(ticket.created_at)
        .with_source_order_key(
            ticket
                .created_at
                .map(|at| source_order_key(at, &ticket.id.to_string())),
        )
        .with_subject(Some(subject))
        .with_grant(grant))
    }

    fn dispatch(&self, event: &WebhookEvent) -> SessionDispatch {
        let Some(subject) = &event.subject else {
            return SessionDispatch::ignore("no subject");
        };
        let key = ConversationKey::new(
            "tracker",
            subject.container.clone().unwrap_or_default(),
            subject.id.clone(),
        );
        match event.event_type.action() {
            "opened" => SessionDispatch::create(key),
            "commented" => SessionDispatch::resume(key),
            _ => SessionDispatch::ignore("not a conversation event"),
        }
    }
}

/// A handler declared without its source: registration succeeds, the pipeline refuses.
struct Incomplete;

impl IntegrationDefinition for Incomplete {
    fn key(&self) -> DefinitionKey {
        "incomplete::incomplete-cloud".parse().unwrap()
    }
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Connector
    }
    fn metadata(&self) -> Metadata {
        Metadata::new("Incomplete", "Half a webhook integration.", "x", "x")
    }
    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        Tracker.connection_methods()
    }
}

impl IntegrationProvider for Incomplete {
    fn webhooks(&self) -> Option<&dyn WebhookHandler> {
        Some(&Tracker)
    }
}

struct World {
    test: TestHost,
    ingest: Ingest,
    service: WriteService,
    key: DefinitionKey,
}

fn tenant(t: &str) -> TenantId {
    TenantId::new(t).unwrap()
}

impl World {
    async fn new() -> Self {
        let registry = Arc::new(
            Registry::new()
                .with(Arc::new(Tracker))
                .unwrap()
                .with(TestIntegration::new("plain::plain-cloud").arc())
                .unwrap(),
        );
        let test = TestHost::new();
        let ingest = Ingest::new(registry.clone(), test.host().clone()).unwrap();
        let service = WriteService::new(registry, test.host().clone());
        let world = Self {
            test,
            ingest,
            service,
            key: KEY.parse().unwrap(),
        };
        world
            .target(
                "acme",
                "tracker",
                json!({"app_id": "APP1"}),
                json!({"webhook_secret": SECRET}),
            )
            .await;
        world
            .connection(
                ConnectionInput::new(
                    tenant("acme"),
                    ConnectionId::new("conn-1").unwrap(),
                    TargetId::new("tracker").unwrap(),
                    "api-key".parse().unwrap(),
                )
                .with_secret("api_token", "trk_1")
                .with_external_subject("acct-1")
                .with_endpoint_key("ep-acme-1"),
            )
            .await;
        world
    }

    async fn target(
        &self,
        t: &str,
        id: &str,
        config: serde_json::Value,
        secrets: serde_json::Value,
    ) {
        self.service
            .put_target(
                TargetInput::new(tenant(t), TargetId::new(id).unwrap(), self.key.clone())
                    .with_config(config)
                    .with_secrets(secrets),
            )
            .await
            .unwrap();
    }

    /// An ingest of the tracker over this world's host parts, with `replace` changing
    /// some (a store that fails, races or counts).
    fn ingest_with(
        &self,
        replace: impl FnOnce(
            integrations_core::host::HostBuilder,
        ) -> integrations_core::host::HostBuilder,
    ) -> Ingest {
        let parts = integrations_core::host::Host::builder()
            .stores(self.test.store.clone())
            .http(self.test.host().http_arc())
            .cipher(self.test.keys.clone())
            .clock(self.test.clock.clone())
            .audit(self.test.audit.clone())
            .events(self.test.events.clone());
        let host = replace(parts).build().unwrap();
        Ingest::new(
            Arc::new(Registry::new().with(Arc::new(Tracker)).unwrap()),
            host,
        )
        .unwrap()
    }

    async fn connection(&self, input: ConnectionInput) {
        self.service.put_connection(input).await.unwrap();
    }

    fn now(&self) -> Timestamp {
        self.test.host().clock().now()
    }

    fn sign_with(&self, secret: &str, body: &serde_json::Value, delivery: &str) -> SignedDelivery {
        let body = serde_json::to_vec(body).unwrap();
        WebhookSigner::new(Tracker.webhook_source().unwrap(), secret)
            .sign(
                &Delivery::new(&body, self.now())
                    .with_id(delivery)
                    .with_event("ticket"),
            )
            .unwrap()
    }

    fn sign(&self, body: &serde_json::Value, delivery: &str) -> SignedDelivery {
        self.sign_with(SECRET, body, delivery)
    }

    /// Advances the clock by `DELIVERY_IN_PROGRESS_WINDOW` and signs delivery `id` anew
    /// (the first signature's timestamp is out of the replay window by then): the
    /// provider's redelivery once the first delivery is taken to have stalled.
    fn redelivered_after_the_window(&self, id: &str) -> SignedDelivery {
        self.test
            .clock
            .advance(integrations_core::webhook::DELIVERY_IN_PROGRESS_WINDOW);
        self.sign(&opened("acct-1"), id)
    }

    /// `signed` received by the world's `Ingest`, which must accept it.
    async fn deliver(&self, signed: &SignedDelivery) -> Ingested {
        self.ingest.ingest(signed.request(&self.key)).await.unwrap()
    }
}

fn opened(account: &str) -> serde_json::Value {
    json!({
        "type": "ticket",
        "action": "opened",
        "account": account,
        "app": "APP1",
        "id": 42,
        "title": "The build is red",
        "created_at": "2026-01-01T00:00:00Z",
    })
}

fn error_code(response: &WebhookResponse) -> String {
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_delivery_is_verified_normalized_recorded_and_delivered_once() {
    let world = World::new().await;
    let signed = world.sign(&opened("acct-1"), "d-1");
    let ingested = world.deliver(&signed).await;
    assert_eq!(ingested.outcome, IngestOutcome::Delivered);
    assert_eq!(ingested.response.status, 200);

    let events = world.test.events.events();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.tenant.as_str(), "acme");
    assert_eq!(event.connection.as_str(), "conn-1");
    assert_eq!(event.key, world.key);
    assert_eq!(event.event_type.as_str(), "tracker.ticket.opened");
    assert_eq!(event.provider_event_type, "ticket");
    assert_eq!(event.external_event_id, "d-1");
    assert_eq!(event.delivery_id.as_deref(), Some("d-1"));
    assert_eq!(event.received_at, world.now());
    assert_eq!(
        event.source_order_key.as_deref(),
        Some("2026-01-01T00:00:00.000Z#00000000000000000042")
    );
    let subject = event.subject.as_ref().unwrap();
    assert_eq!(subject.title.as_deref(), Some("The build is red"));
    assert_eq!(
        event.dispatch,
        SessionDispatch::create(ConversationKey::new("tracker", "acct-1", "42"))
    );
    // The payload is the body, byte for byte.
    assert_eq!(event.payload.get().as_bytes(), signed.body.as_slice());
    assert_eq!(world.test.store.recorded_events().len(), 1);
}

#[tokio::test]
async fn the_payload_keeps_the_bytes_as_sent() {
    let world = World::new().await;
    let pretty = serde_json::to_vec_pretty(&opened("acct-1")).unwrap();
    let signed = WebhookSigner::new(Tracker.webhook_source().unwrap(), SECRET)
        .sign(&Delivery::new(&pretty, world.now()).with_id("d-pretty"))
        .unwrap();
    let ingested = world.deliver(&signed).await;
    assert_eq!(
        ingested.event.unwrap().payload.get().as_bytes(),
        pretty.as_slice()
    );
}

#[tokio::test]
async fn a_duplicate_delivery_is_stored_once_reaches_the_sink_once_and_gets_2xx() {
    let world = World::new().await;
    let signed = world.sign(&opened("acct-1"), "d-dup");
    let first = world.ingest.handle(signed.request(&world.key)).await;
    let second = world.deliver(&signed).await;
    assert_eq!(first.status, 200);
    assert_eq!(second.outcome, IngestOutcome::Duplicate);
    assert!(second.response.status.is_success());
    assert_eq!(world.test.events.events().len(), 1);
    assert_eq!(world.test.store.recorded_events().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redeliveries_reach_the_sink_once() {
    let world = Arc::new(World::new().await);
    let signed = world.sign(&opened("acct-1"), "d-race");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let world = world.clone();
        let request = signed.request(&world.key);
        tasks.push(tokio::spawn(async move {
            match world.ingest.ingest(request).await {
                Ok(ingested) => Ok(ingested.outcome),
                Err(e) => Err(e.code().to_owned()),
            }
        }));
    }
    let mut delivered = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(IngestOutcome::Delivered) => delivered += 1,
            Ok(IngestOutcome::Duplicate) => {}
            // Arrived while the first was still being delivered: the provider retries.
            Err(code) if code == codes::DELIVERY_IN_PROGRESS => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(delivered, 1);
    assert_eq!(world.test.events.events().len(), 1);
}

/// An event sink that holds each delivery until released, then fails it.
#[derive(Default)]
struct HeldThenFails {
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl integrations_core::host::EventSink for HeldThenFails {
    async fn deliver(&self, _event: &WebhookEvent) -> Result<(), Error> {
        self.entered.notify_one();
        self.release.notified().await;
        Err(Error::storage(std::io::Error::other("the queue is down")))
    }
}

/// A first delivery of event `id` held in its sink: the ingest running it (the
/// delivery's process), the sink, the spawned delivery (waiting in the sink when this
/// returns) and the signed delivery, to send again.
struct HeldDelivery {
    process: Ingest,
    sink: Arc<HeldThenFails>,
    first: tokio::task::JoinHandle<Result<Ingested, Error>>,
    signed: SignedDelivery,
}

impl World {
    async fn hold_first_delivery(&self, id: &str) -> HeldDelivery {
        let sink = Arc::new(HeldThenFails::default());
        let process = self.ingest_with(|parts| parts.events(sink.clone()));
        let signed = self.sign(&opened("acct-1"), id);
        let first = tokio::spawn({
            let process = process.clone();
            let request = signed.request(&self.key);
            async move { process.ingest(request).await }
        });
        sink.entered.notified().await;
        HeldDelivery {
            process,
            sink,
            first,
            signed,
        }
    }
}

#[tokio::test]
async fn a_redelivery_while_the_first_is_still_delivered_is_not_answered_done() {
    let world = World::new().await;
    let HeldDelivery {
        process: held,
        sink,
        first,
        signed,
    } = world.hold_first_delivery("d-slow").await;

    // The provider retries while the first delivery is still running: a 2xx now would
    // end its retries, and the first may still fail.
    let err = held.ingest(signed.request(&world.key)).await.unwrap_err();
    assert_eq!(err.code(), codes::DELIVERY_IN_PROGRESS);
    assert_eq!(held.error_response(&world.key, &err).status, 503);

    // The first fails and releases the event, so the provider's next retry is
    // delivered: the event is not lost.
    sink.release.notify_one();
    let failed = first.await.unwrap().unwrap_err();
    assert_eq!(failed.code(), codes::DELIVERY_FAILED);
    let retry = world.deliver(&signed).await;
    assert_eq!(retry.outcome, IngestOutcome::Delivered);
    assert_eq!(world.test.events.events().len(), 1);
}

/// The same with two processes (two `Ingest`s over one store): the provider's retry
/// lands on the other process, which learns from the store that the first delivery is
/// still running. Before the store kept delivery states, it answered 2xx "duplicate",
/// and the event was lost when the first delivery then failed.
#[tokio::test]
async fn a_redelivery_to_another_process_while_the_first_is_still_delivered_is_not_answered_done() {
    let world = World::new().await;
    let HeldDelivery {
        sink,
        first,
        signed,
        ..
    } = world.hold_first_delivery("d-slow-elsewhere").await;
    let other_process = &world.ingest;

    let err = other_process
        .ingest(signed.request(&world.key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), codes::DELIVERY_IN_PROGRESS);
    assert_eq!(other_process.error_response(&world.key, &err).status, 503);

    sink.release.notify_one();
    let failed = first.await.unwrap().unwrap_err();
    assert_eq!(failed.code(), codes::DELIVERY_FAILED);
    let retry = other_process
        .ingest(signed.request(&world.key))
        .await
        .unwrap();
    assert_eq!(retry.outcome, IngestOutcome::Delivered);
    assert_eq!(world.test.events.events().len(), 1);
    // Delivered: from now on a redelivery is a duplicate in every process.
    let again = other_process
        .ingest(signed.request(&world.key))
        .await
        .unwrap();
    assert_eq!(again.outcome, IngestOutcome::Duplicate);
}

/// A first delivery whose process died (or hangs: its sink never answers, nothing
/// of it runs again) holds redeliveries off for `DELIVERY_IN_PROGRESS_WINDOW` after it
/// was recorded; then the next redelivery takes the event over and delivers it, so the
/// event is neither refused forever nor lost.
#[tokio::test]
async fn a_delivery_whose_process_died_is_taken_over_by_a_redelivery_after_the_window() {
    let world = World::new().await;
    let HeldDelivery { first, signed, .. } = world.hold_first_delivery("d-died").await;
    // Left waiting in its sink for good, as a process that died leaves its record.
    drop(first);

    let err = world
        .ingest
        .ingest(signed.request(&world.key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), codes::DELIVERY_IN_PROGRESS);
    assert!(world.test.events.events().is_empty());
    let later = world.redelivered_after_the_window("d-died");
    let taken_over = world.deliver(&later).await;
    assert_eq!(taken_over.outcome, IngestOutcome::Delivered);
    assert_eq!(world.test.events.events().len(), 1);
    // Delivered: the next redelivery is a duplicate.
    let again = world.deliver(&later).await;
    assert_eq!(again.outcome, IngestOutcome::Duplicate);
    assert_eq!(world.test.events.events().len(), 1);
}

/// A first delivery whose request went away mid-delivery (the provider hung up and
/// the server dropped the handler's future, or the server is shutting down) releases the
/// event's record: the provider's next retry is delivered at once, not refused as in
/// progress until the window ends, after Slack's last retry.
#[tokio::test]
async fn a_delivery_whose_request_went_away_releases_the_event_for_the_next_retry() {
    let world = World::new().await;
    let HeldDelivery { first, signed, .. } = world.hold_first_delivery("d-hung-up").await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    // The release runs in a task of its own.
    let mut retry = None;
    for _ in 0..100 {
        match world.ingest.ingest(signed.request(&world.key)).await {
            Err(e) if e.code() == codes::DELIVERY_IN_PROGRESS => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            other => {
                retry = Some(other.unwrap());
                break;
            }
        }
    }
    let retry = retry.expect("the record was released");
    assert_eq!(retry.outcome, IngestOutcome::Delivered);
    assert_eq!(world.test.events.events().len(), 1);
}

/// A first delivery that runs past the window, is taken over, and then fails leaves the
/// taker's record alone: later redeliveries are duplicates, and the sink got the event
/// once.
#[tokio::test]
async fn a_first_delivery_failing_after_a_takeover_leaves_the_takers_record() {
    let world = World::new().await;
    let HeldDelivery { sink, first, .. } = world.hold_first_delivery("d-slow-then-failed").await;
    let later = world.redelivered_after_the_window("d-slow-then-failed");
    let taken_over = world.deliver(&later).await;
    assert_eq!(taken_over.outcome, IngestOutcome::Delivered);

    sink.release.notify_one();
    let failed = first.await.unwrap().unwrap_err();
    assert_eq!(failed.code(), codes::DELIVERY_FAILED);
    let again = world.deliver(&later).await;
    assert_eq!(again.outcome, IngestOutcome::Duplicate);
    assert_eq!(world.test.events.events().len(), 1);
}

/// An accepted event whose `PendingDelivery` was dropped without running (the host
/// crashed before spawning it) is taken over the same way by a redelivery after the
/// window, and reaches the sink.
#[tokio::test]
async fn an_accepted_event_whose_delivery_never_ran_is_taken_over_after_the_window() {
    let world = World::new().await;
    let signed = world.sign(&opened("acct-1"), "d-dropped");
    let accepted = world
        .ingest
        .accept(signed.request(&world.key))
        .await
        .unwrap();
    assert_eq!(accepted.outcome, IngestOutcome::Accepted);
    drop(accepted);

    let err = world
        .ingest
        .accept(signed.request(&world.key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), codes::DELIVERY_IN_PROGRESS);
    let later = world.redelivered_after_the_window("d-dropped");
    let taken_over = world
        .ingest
        .accept(later.request(&world.key))
        .await
        .unwrap();
    assert_eq!(taken_over.outcome, IngestOutcome::Accepted);
    taken_over
        .pending
        .expect("a delivery to run")
        .deliver()
        .await
        .unwrap();
    assert_eq!(world.test.events.events().len(), 1);
    let again = world
        .ingest
        .accept(later.request(&world.key))
        .await
        .unwrap();
    assert_eq!(again.outcome, IngestOutcome::Duplicate);
}

#[tokio::test]
async fn a_sink_failure_releases_the_record_answers_503_and_the_retry_is_delivered() {
    let world = World::new().await;
    let signed = world.sign(&opened("acct-1"), "d-sink");
    world.test.events.fail_next(1);
    let err = world
        .ingest
        .ingest(signed.request(&world.key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), codes::DELIVERY_FAILED);
    assert_eq!(world.ingest.error_response(&world.key, &err).status, 503);
    assert!(world.test.store.recorded_events().is_empty());
    assert!(world.test.events.events().is_empty());

    let retry = world.deliver(&signed).await;
    assert_eq!(retry.outcome, IngestOutcome::Delivered);
    assert_eq!(world.test.events.events().len(), 1);
}

#[tokio::test]
async fn acknowledge_now_process_later() {
    let world = World::new().await;
    let signed = world.sign(&opened("acct-1"), "d-later");
    let accepted = world
        .ingest
        .accept(signed.request(&world.key))
        .await
        .unwrap();
    assert_eq!(accepted.outcome, IngestOutcome::Accepted);
    assert_eq!(accepted.response.status, 200);
    // Recorded before the answer, delivered only when the host runs the delivery.
    assert_eq!(world.test.store.recorded_events().len(), 1);
    assert!(world.test.events.events().is_empty());
    let pending = accepted.pending.unwrap();
    assert_eq!(pending.event().external_event_id, "d-later");

    // A redelivery meanwhile is refused while the delivery is pending (the host's
    // delivery may still fail), with nothing to run.
    let err = world
        .ingest
        .accept(signed.request(&world.key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), codes::DELIVERY_IN_PROGRESS);

    let delivered = tokio::spawn(pending.deliver()).await.unwrap().unwrap();
    assert_eq!(delivered.external_event_id, "d-later");
    assert_eq!(world.test.events.events().len(), 1);
    // Delivered: now a redelivery is a duplicate.
    let again = world
        .ingest
        .accept(signed.request(&world.key))
        .await
        .unwrap();
    assert_eq!(again.outcome, IngestOutcome::Duplicate);
    assert!(again.pending.is_none());

    // A failed deferred delivery releases the record.
    let signed = world.sign(&opened("acct-1"), "d-later-2");
    let accepted = world
        .ingest
        .accept(signed.request(&world.key))
        .await
        .unwrap();
    world.test.events.fail_next(1);
    let failed = accepted.pending.unwrap().deliver().await.unwrap_err();
    assert_eq!(failed.error.code(), codes::DELIVERY_FAILED);
    assert_eq!(world.test.store.recorded_events().len(), 1);
    // The provider was answered already and will not send it again: the host runs the
    // delivery it got back, and the event reaches the sink once, recorded again.
    let delivered = failed.pending.deliver().await.unwrap();
    assert_eq!(delivered.external_event_id, "d-later-2");
    assert_eq!(world.test.events.events().len(), 2);
    assert_eq!(world.test.store.recorded_events().len(), 2);

    // When a redelivery processed the event after the failure, the host's retry
    // delivers nothing: the sink still gets it once.
    let signed = world.sign(&opened("acct-1"), "d-later-3");
    let accepted = world
        .ingest
        .accept(signed.request(&world.key))
        .await
        .unwrap();
    world.test.events.fail_next(1);
    let failed = accepted.pending.unwrap().deliver().await.unwrap_err();
    let redelivered = world.deliver(&signed).await;
    assert_eq!(redelivered.outcome, IngestOutcome::Delivered);
    let retried = failed.pending.deliver().await.unwrap();
    assert_eq!(retried.external_event_id, "d-later-3");
    let sunk = world.test.events.events();
    assert_eq!(
        sunk.iter()
            .filter(|e| e.external_event_id == "d-later-3")
            .count(),
        1
    );
}

/// Where the secrets do not depend on the payload, a delivery whose signature fails is
/// refused before the handler reads its body: even one that the handler's `classify`
/// would answer without verification (`Handshake::unverified`) is refused, since
/// classifying it would parse a forged body (up to the body limit). Unsigned probes are
/// answered from `probe`, which reads no JSON.
#[tokio::test]
async fn a_forged_body_is_refused_before_the_handler_reads_it() {
    let world = World::new().await;
    let probe = json!({"type": "unsigned-ping"});
    let forged = world.sign_with("not-the-secret", &probe, "d-unsigned");
    let response = world.ingest.handle(forged.request(&world.key)).await;
    assert_eq!(response.status, 401);
    assert_eq!(error_code(&response), codes::SIGNATURE_MISMATCH);
    assert!(!String::from_utf8_lossy(&response.body).contains("unsigned pong"));
}

#[tokio::test]
async fn a_handshake_is_answered_only_after_verification() {
    let world = World::new().await;
    let ping = json!({"type": "ping", "account": "acct-1", "challenge": "c-3eZbrw1aBm2rZgRNFdxV"});
    let good = world.sign(&ping, "d-ping");
    let ingested = world.deliver(&good).await;
    assert_eq!(ingested.outcome, IngestOutcome::Answered);
    assert_eq!(ingested.response.body, "c-3eZbrw1aBm2rZgRNFdxV");
    assert!(world.test.events.events().is_empty());
    assert!(world.test.store.recorded_events().is_empty());

    let forged = world.sign_with("not-the-secret", &ping, "d-ping");
    let response = world.ingest.handle(forged.request(&world.key)).await;
    assert_eq!(response.status, 401);
    assert_eq!(error_code(&response), codes::SIGNATURE_MISMATCH);
    assert!(!String::from_utf8_lossy(&response.body).contains("c-3eZbrw1aBm2rZgRNFdxV"));

    let unsigned = good.clone().without_header("x-tracker-signature");
    let response = world.ingest.handle(unsigned.request(&world.key)).await;
    assert_eq!(response.status, 400);
    assert!(!String::from_utf8_lossy(&response.body).contains("c-3eZbrw1aBm2rZgRNFdxV"));
}

#[tokio::test]
async fn a_handshake_without_a_subject_uses_the_target_its_endpoint_candidates_share() {
    let world = World::new().await;
    // A second connection of the same target behind the same endpoint key.
    world
        .connection(
            ConnectionInput::new(
                tenant("acme"),
                ConnectionId::new("conn-2").unwrap(),
                TargetId::new("tracker").unwrap(),
                "api-key".parse().unwrap(),
            )
            .with_secret("api_token", "trk_2")
            .with_external_subject("acct-2")
            .with_endpoint_key("ep-acme-1"),
        )
        .await;
    let ping = json!({"type": "ping", "challenge": "c-1"});
    let signed = world.sign(&ping, "d-1");
    let response = world
        .ingest
        .handle(signed.request_to(&world.key, "ep-acme-1"))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "c-1");
    // An event needs exactly one connection: the subject picks it.
    let signed = world.sign(&opened("acct-2"), "d-2");
    let ingested = world
        .ingest
        .ingest(signed.request_to(&world.key, "ep-acme-1"))
        .await
        .unwrap();
    assert_eq!(ingested.event.unwrap().connection.as_str(), "conn-2");
    // Without a subject, two candidates are ambiguous for an event.
    let mut anonymous = opened("acct-2");
    anonymous.as_object_mut().unwrap().remove("account");
    let signed = world.sign(&anonymous, "d-3");
    let response = world
        .ingest
        .handle(signed.request_to(&world.key, "ep-acme-1"))
        .await;
    assert_eq!(response.status, 409);
    assert_eq!(error_code(&response), codes::AMBIGUOUS_CONNECTION);
}

#[tokio::test]
async fn connection_resolution_fails_closed() {
    let world = World::new().await;
    let status = |signed: SignedDelivery, endpoint: Option<&str>| {
        let request = match endpoint {
            Some(e) => signed.request_to(&world.key, e),
            None => signed.request(&world.key),
        };
        let ingest = world.ingest.clone();
        async move {
            let response = ingest.handle(request).await;
            (response.status.as_u16(), error_code(&response))
        }
    };

    // No connection has this subject.
    let r = status(world.sign(&opened("acct-404"), "d-a"), None).await;
    assert_eq!(r, (404, codes::CONNECTION_NOT_FOUND.to_owned()));
    // The endpoint key pre-filters: its connection has another subject.
    world
        .target(
            "beta",
            "tracker",
            json!({}),
            json!({"webhook_secret": SECRET}),
        )
        .await;
    world
        .connection(
            ConnectionInput::new(
                tenant("beta"),
                ConnectionId::new("conn-b").unwrap(),
                TargetId::new("tracker").unwrap(),
                "api-key".parse().unwrap(),
            )
            .with_secret("api_token", "trk_b")
            .with_external_subject("acct-b")
            .with_endpoint_key("ep-beta"),
        )
        .await;
    let r = status(world.sign(&opened("acct-1"), "d-b"), Some("ep-beta")).await;
    assert_eq!(r, (404, codes::CONNECTION_NOT_FOUND.to_owned()));
    // No subject and no endpoint key.
    let mut anonymous = opened("x");
    anonymous.as_object_mut().unwrap().remove("account");
    let r = status(world.sign(&anonymous, "d-c"), None).await;
    assert_eq!(r, (404, codes::UNROUTABLE.to_owned()));
    // The same subject in two tenants is ambiguous without an endpoint key...
    world
        .connection(
            ConnectionInput::new(
                tenant("beta"),
                ConnectionId::new("conn-b2").unwrap(),
                TargetId::new("tracker").unwrap(),
                "api-key".parse().unwrap(),
            )
            .with_secret("api_token", "trk_b2")
            .with_external_subject("acct-1")
            .with_endpoint_key("ep-beta-2"),
        )
        .await;
    let r = status(world.sign(&opened("acct-1"), "d-d"), None).await;
    assert_eq!(r, (409, codes::AMBIGUOUS_CONNECTION.to_owned()));
    // ...and resolved by one.
    let r = status(world.sign(&opened("acct-1"), "d-e"), Some("ep-beta-2")).await;
    assert_eq!(r.0, 200);
    assert_eq!(world.test.events.events()[0].tenant.as_str(), "beta");
    // A revoked connection is no candidate.
    world
        .test
        .store
        .set_connection_status(
            &tenant("beta"),
            &ConnectionId::new("conn-b2").unwrap(),
            ConnectionStatus::Revoked {
                reason: "uninstalled".into(),
            },
            world.now(),
        )
        .await
        .unwrap();
    let r = status(world.sign(&opened("acct-1"), "d-f"), None).await;
    assert_eq!(r.0, 200);
    assert_eq!(world.test.events.events()[1].tenant.as_str(), "acme");
    // An endpoint key that cannot be one.
    let r = status(world.sign(&opened("acct-1"), "d-g"), Some("../x")).await;
    assert_eq!(r, (404, codes::INVALID_ROUTE.to_owned()));
}

#[tokio::test]
async fn target_state_and_claims_are_checked_after_verification() {
    let world = World::new().await;
    let mut other_app = opened("acct-1");
    other_app["app"] = json!("APP2");
    let response = world
        .ingest
        .handle(world.sign(&other_app, "d-1").request(&world.key))
        .await;
    assert_eq!(response.status, 403);
    assert_eq!(error_code(&response), codes::TARGET_MISMATCH);

    let mut target = world
        .test
        .store
        .get_target(&tenant("acme"), &TargetId::new("tracker").unwrap())
        .await
        .unwrap()
        .unwrap();
    target.enabled = false;
    world.test.store.put_target(&target).await.unwrap();
    // A forged delivery learns nothing about the target's state.
    let forged = world.sign_with("wrong", &opened("acct-1"), "d-2");
    let response = world.ingest.handle(forged.request(&world.key)).await;
    assert_eq!(response.status, 401);
    let response = world
        .ingest
        .handle(world.sign(&opened("acct-1"), "d-3").request(&world.key))
        .await;
    // The same code and kind as every other engine: 403 `auth.target_disabled`.
    assert_eq!(response.status, 403);
    assert_eq!(error_code(&response), "auth.target_disabled");
    assert!(world.test.events.events().is_empty());
}

/// The target a delivery routes to goes through the loader every engine uses: a target
/// of another definition is its `auth.target_mismatch`, and a stored config that no
/// longer validates its `auth.target_config_invalid`, refused (like a disabled target)
/// only after the signature verified.
#[tokio::test]
async fn the_routed_target_is_looked_up_through_the_loader() {
    let world = World::new().await;
    let mut target = world
        .test
        .store
        .get_target(&tenant("acme"), &TargetId::new("tracker").unwrap())
        .await
        .unwrap()
        .unwrap();
    target.config = json!({"app_id": 7});
    world.test.store.put_target(&target).await.unwrap();
    let forged = world.sign_with("wrong", &opened("acct-1"), "d-1");
    let response = world.ingest.handle(forged.request(&world.key)).await;
    assert_eq!(response.status, 401);
    assert_eq!(error_code(&response), codes::SIGNATURE_MISMATCH);
    let response = world
        .ingest
        .handle(world.sign(&opened("acct-1"), "d-2").request(&world.key))
        .await;
    assert_eq!(response.status, 500);
    assert_eq!(error_code(&response), "auth.target_config_invalid");
    target.config = json!({"app_id": "APP1"});
    world.test.store.put_target(&target).await.unwrap();

    // A connection of this definition whose target belongs to another definition.
    let mut other = target.clone();
    other.id = TargetId::new("plain").unwrap();
    other.key = "plain::plain-cloud".parse().unwrap();
    other.config = json!({});
    other.secrets = None;
    world.test.store.put_target(&other).await.unwrap();
    let mut stray = integrations_core::model::Connection::new(
        tenant("acme"),
        ConnectionId::new("conn-stray").unwrap(),
        other.id.clone(),
        world.key.clone(),
        "api-key".parse().unwrap(),
        world.now(),
    );
    stray.external_subject = Some("acct-9".to_owned());
    world.test.store.put_connection(&stray).await.unwrap();
    let response = world
        .ingest
        .handle(world.sign(&opened("acct-9"), "d-3").request(&world.key))
        .await;
    assert_eq!(response.status, 500);
    assert_eq!(error_code(&response), "auth.target_mismatch");
    assert!(world.test.events.events().is_empty());
}

#[tokio::test]
async fn target_and_connection_secrets_rotate() {
    let world = World::new().await;
    // The target holds the new secret and, while rotating, the old one.
    world
        .target(
            "acme",
            "tracker",
            json!({"app_id": "APP1"}),
            json!({"webhook_secret": SECRET, "previous_webhook_secrets": [OLD_SECRET]}),
        )
        .await;
    for (secret, id) in [(SECRET, "d-new"), (OLD_SECRET, "d-old")] {
        let signed = world.sign_with(secret, &opened("acct-1"), id);
        let outcome = world.deliver(&signed).await.outcome;
        assert_eq!(outcome, IngestOutcome::Delivered, "{id}");
    }
    let response = world
        .ingest
        .handle(
            world
                .sign_with("unknown", &opened("acct-1"), "d-x")
                .request(&world.key),
        )
        .await;
    assert_eq!(response.status, 401);

    // A connection-level secret, alongside the target's.
    world
        .connection(
            ConnectionInput::new(
                tenant("acme"),
                ConnectionId::new("conn-own").unwrap(),
                TargetId::new("tracker").unwrap(),
                "api-key-and-webhook".parse().unwrap(),
            )
            .with_secret("api_token", "trk_own")
            .with_secret("webhook_secret", "connection-level-secret")
            .with_external_subject("acct-own"),
        )
        .await;
    let signed = world.sign_with("connection-level-secret", &opened("acct-own"), "d-own");
    let outcome = world.deliver(&signed).await.outcome;
    assert_eq!(outcome, IngestOutcome::Delivered);
    // The connection's secret does not open another connection's deliveries.
    let signed = world.sign_with("connection-level-secret", &opened("acct-1"), "d-cross");
    assert_eq!(
        world.ingest.handle(signed.request(&world.key)).await.status,
        401
    );

    // An expired connection secret is no longer accepted.
    let connection = world
        .test
        .store
        .get_connection(&tenant("acme"), &ConnectionId::new("conn-own").unwrap())
        .await
        .unwrap()
        .unwrap();
    let aad = credential_aad(
        &connection,
        &CredentialType::WEBHOOK_SECRET,
        Some("previous"),
    );
    let sealed = world
        .test
        .host()
        .cipher()
        .seal_secret(&Secret::new("expired-secret"), &aad)
        .unwrap();
    let set = world
        .test
        .host()
        .credentials()
        .load_credentials(&connection.tenant, &connection.id)
        .await
        .unwrap()
        .unwrap();
    let mut credentials = set.credentials.clone();
    credentials.push(
        Credential::new(CredentialType::WEBHOOK_SECRET, sealed, world.now())
            .with_slot("previous")
            .with_expiry(Some(world.now().saturating_add(Duration::from_secs(60)))),
    );
    world
        .test
        .host()
        .credentials()
        .swap_credentials(
            &connection.tenant,
            &connection.id,
            Some(set.version),
            credentials,
        )
        .await
        .unwrap();
    let signed = world.sign_with("expired-secret", &opened("acct-own"), "d-exp-1");
    assert_eq!(
        world.ingest.handle(signed.request(&world.key)).await.status,
        200
    );
    world.test.clock.advance(Duration::from_secs(61));
    let signed = world.sign_with("expired-secret", &opened("acct-own"), "d-exp-2");
    assert_eq!(
        world.ingest.handle(signed.request(&world.key)).await.status,
        401
    );
}

#[tokio::test]
async fn no_configured_secret_is_a_server_error() {
    let world = World::new().await;
    world.target("acme", "tracker", json!({}), json!({})).await;
    let response = world
        .ingest
        .handle(world.sign(&opened("acct-1"), "d-1").request(&world.key))
        .await;
    assert_eq!(response.status, 500);
    assert_eq!(error_code(&response), codes::NO_SECRET);
    world
        .target("acme", "tracker", json!({}), json!({"webhook_secret": ""}))
        .await;
    let response = world
        .ingest
        .handle(world.sign(&opened("acct-1"), "d-1").request(&world.key))
        .await;
    assert_eq!(response.status, 500);
    assert_eq!(error_code(&response), codes::EMPTY_SECRET);
}

#[tokio::test]
async fn limits_routes_and_refusals_map_to_statuses_with_stable_codes() {
    let world = World::new().await;
    let signed = world.sign(&opened("acct-1"), "d-1");

    let small = world.ingest.clone().with_max_body_bytes(16);
    let response = small.handle(signed.request(&world.key)).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (413, codes::BODY_TOO_LARGE.to_owned())
    );

    let unknown: DefinitionKey = "nope::nope-cloud".parse().unwrap();
    let response = world.ingest.handle(signed.request(&unknown)).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (404, codes::UNKNOWN_DEFINITION.to_owned())
    );

    let plain: DefinitionKey = "plain::plain-cloud".parse().unwrap();
    let response = world.ingest.handle(signed.request(&plain)).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (404, codes::NOT_SUPPORTED.to_owned())
    );

    let no_delivery = signed.clone().without_header("x-tracker-delivery");
    let response = world.ingest.handle(no_delivery.request(&world.key)).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (400, codes::MISSING_HEADER.to_owned())
    );
    // 4xx answers carry the source's no-retry header.
    assert_eq!(
        response
            .headers
            .get("x-tracker-no-retry")
            .map(String::as_str),
        Some("1")
    );

    // A body that is not the one signed is refused as such, before it is read: the
    // single target of the definition holds every secret it could be signed with
    // (verify before you read).
    let garbage = signed.clone().with_body(b"not json".to_vec());
    let response = world.ingest.handle(garbage.request(&world.key)).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (401, codes::SIGNATURE_MISMATCH.to_owned())
    );
    // A signed body that is not a payload is read, and refused as such.
    let signed_garbage = WebhookSigner::new(Tracker.webhook_source().unwrap(), SECRET)
        .sign(
            &Delivery::new(b"not json", world.now())
                .with_id("d-garbage")
                .with_event("ticket"),
        )
        .unwrap();
    let response = world
        .ingest
        .handle(signed_garbage.request(&world.key))
        .await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (400, codes::INVALID_PAYLOAD.to_owned())
    );

    let http = signed.request(&world.key);
    let mut request = http::Request::post("/webhooks/tracker/tracker-cloud/ep-acme-1")
        .body(bytes::Bytes::from(signed.body.clone()))
        .unwrap();
    for (name, value) in http.headers.iter() {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    let request = integrations_core::webhook::WebhookRequest::from_http(request).unwrap();
    assert_eq!(request.endpoint.as_deref(), Some("ep-acme-1"));
    let response = world.ingest.handle(request).await.into_http();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn failure_answers_carry_no_expected_signature_or_secret() {
    let world = World::new().await;
    let good = world.sign(&opened("acct-1"), "d-1");
    let expected = good.header("x-tracker-signature").unwrap().to_owned();
    let digest = expected.trim_start_matches("sha256=").to_owned();
    let forged = world.sign_with("wrong", &opened("acct-1"), "d-1");
    let tampered = good
        .clone()
        .with_body(serde_json::to_vec(&opened("acct-1 ")).unwrap());
    for request in [forged.request(&world.key), tampered.request(&world.key)] {
        let err = world.ingest.ingest(request.clone()).await.unwrap_err();
        assert_secret_free(&err, &digest);
        assert_secret_free(&err, SECRET);
        let response = world.ingest.handle(request).await;
        let text = String::from_utf8_lossy(&response.body);
        assert!(!text.contains(&digest) && !text.contains(SECRET));
        for value in response.headers.values() {
            assert!(!value.contains(&digest));
        }
    }
}

#[test]
fn a_definition_with_half_a_webhook_capability_is_refused() {
    let registry = Arc::new(Registry::new().with(Arc::new(Incomplete)).unwrap());
    let err = Ingest::new(registry, TestHost::new().host().clone()).unwrap_err();
    assert_eq!(err.code(), codes::INCOMPLETE_DEFINITION);
    assert!(err.message().contains("incomplete::incomplete-cloud"));
}

#[tokio::test]
async fn an_event_store_sees_the_event_before_the_sink() {
    // The record happens before the side effect: a sink that reads the store finds it.
    struct Checking(
        Arc<integrations_testkit::MemoryStore>,
        std::sync::Mutex<Vec<bool>>,
    );
    #[async_trait::async_trait]
    impl integrations_core::host::EventSink for Checking {
        async fn deliver(&self, event: &WebhookEvent) -> Result<(), Error> {
            let recorded = self
                .0
                .recorded_events()
                .iter()
                .any(|e| e.external_event_id == event.external_event_id);
            self.1.lock().unwrap().push(recorded);
            Ok(())
        }
    }
    let world = World::new().await;
    let sink = Arc::new(Checking(
        world.test.store.clone(),
        std::sync::Mutex::new(Vec::new()),
    ));
    let host = integrations_core::host::Host::builder()
        .stores(world.test.store.clone())
        .http(Arc::new(integrations_testkit::offline_http()))
        .cipher(world.test.keys.clone())
        .clock(world.test.clock.clone())
        .events(sink.clone())
        .build()
        .unwrap();
    let registry = Arc::new(Registry::new().with(Arc::new(Tracker)).unwrap());
    let ingest = Ingest::new(registry, host).unwrap();
    let signed = world.sign(&opened("acct-1"), "d-order");
    assert_eq!(ingest.handle(signed.request(&world.key)).await.status, 200);
    assert_eq!(*sink.1.lock().unwrap(), [true]);
}

/// Why the tracker suspends a connection (what its resumption matches on).
const TRACKER_SUSPENDED: &str = "the tracker app was suspended";

fn app_event(action: &str) -> serde_json::Value {
    json!({"type": "app", "action": action, "account": "acct-1", "app": "APP1", "id": 7})
}

fn uninstalled() -> serde_json::Value {
    json!({"type": "app", "action": "uninstalled", "account": "acct-1", "app": "APP1", "id": 7})
}

async fn conn_1_status(world: &World) -> ConnectionStatus {
    world
        .test
        .store
        .get_connection(&tenant("acme"), &ConnectionId::new("conn-1").unwrap())
        .await
        .unwrap()
        .unwrap()
        .status
}

#[tokio::test]
async fn a_revoking_event_is_applied_once_and_before_the_answer() {
    let world = World::new().await;
    let signed = world.sign(&uninstalled(), "d-uninstall");
    let accepted = world
        .ingest
        .accept(signed.request(&world.key))
        .await
        .unwrap();
    assert_eq!(accepted.outcome, IngestOutcome::Accepted);
    // Revoked when answered, though the delivery has not run.
    assert_eq!(
        conn_1_status(&world).await,
        ConnectionStatus::Revoked {
            reason: "the tracker app was uninstalled".to_owned()
        }
    );
    assert!(world.test.events.events().is_empty());
    accepted.pending.unwrap().deliver().await.unwrap();
    let changes = world.test.audit.with_action("connection.status_changed");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].detail["status"], "revoked");
    assert_eq!(changes[0].detail["external_event_id"], "d-uninstall");

    // The same event again is a duplicate; any other event finds no live connection.
    let again = world.deliver(&signed).await;
    assert_eq!(again.outcome, IngestOutcome::Duplicate);
    let other = world
        .ingest
        .handle(world.sign(&opened("acct-1"), "d-after").request(&world.key))
        .await;
    assert_eq!(
        (other.status.as_u16(), error_code(&other)),
        (404, codes::CONNECTION_NOT_FOUND.to_owned())
    );
    assert_eq!(world.test.events.events().len(), 1);
    assert_eq!(
        world
            .test
            .audit
            .with_action("connection.status_changed")
            .len(),
        1
    );
}

/// A connection store whose status updates fail, as a database that is down would.
struct StatusUpdatesFail(Arc<integrations_testkit::MemoryStore>);

#[async_trait::async_trait]
impl ConnectionStore for StatusUpdatesFail {
    async fn get_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<integrations_core::model::Connection>, Error> {
        self.0.get_connection(tenant, id).await
    }
    async fn put_connection(
        &self,
        connection: &integrations_core::model::Connection,
    ) -> Result<(), Error> {
        self.0.put_connection(connection).await
    }
    async fn list_connections(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<integrations_core::model::Connection>, Error> {
        self.0.list_connections(tenant).await
    }
    async fn delete_connection(&self, tenant: &TenantId, id: &ConnectionId) -> Result<bool, Error> {
        self.0.delete_connection(tenant, id).await
    }
    async fn find_connections(
        &self,
        query: &integrations_core::host::ConnectionQuery,
    ) -> Result<Vec<integrations_core::model::Connection>, Error> {
        self.0.find_connections(query).await
    }
    async fn set_connection_status(
        &self,
        _tenant: &TenantId,
        _id: &ConnectionId,
        _status: ConnectionStatus,
        _now: Timestamp,
    ) -> Result<Option<integrations_core::model::Connection>, Error> {
        Err(Error::storage(std::io::Error::other(
            "the database is down",
        )))
    }
}

#[tokio::test]
async fn a_status_change_the_store_refuses_releases_the_event_for_the_retry() {
    let world = World::new().await;
    let failing = world.ingest_with(|parts| {
        parts.connections(Arc::new(StatusUpdatesFail(world.test.store.clone())))
    });
    let signed = world.sign(&uninstalled(), "d-uninstall");
    let err = failing
        .ingest(signed.request(&world.key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), codes::GRANT_CHANGE_FAILED);
    assert_eq!(failing.error_response(&world.key, &err).status, 503);
    // Nothing changed, nothing delivered, the record released.
    assert_eq!(conn_1_status(&world).await, ConnectionStatus::Active);
    assert!(world.test.store.recorded_events().is_empty());
    assert!(world.test.events.events().is_empty());

    // The provider's retry, once the store is back, is applied and delivered.
    let retry = world.deliver(&signed).await;
    assert_eq!(retry.outcome, IngestOutcome::Delivered);
    assert!(matches!(
        conn_1_status(&world).await,
        ConnectionStatus::Revoked { .. }
    ));
}

/// A connection store that, once armed, revokes the connection just before the next
/// status write reaches it: a disconnect racing the event.
struct RevokedMeanwhile {
    inner: Arc<integrations_testkit::MemoryStore>,
    armed: std::sync::atomic::AtomicBool,
}

impl RevokedMeanwhile {
    async fn race(&self, tenant: &TenantId, id: &ConnectionId, now: Timestamp) {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let revoked = ConnectionStatus::Revoked {
                reason: "disconnected".to_owned(),
            };
            self.inner
                .set_connection_status(tenant, id, revoked, now)
                .await
                .unwrap();
        }
    }
}

#[async_trait::async_trait]
impl ConnectionStore for RevokedMeanwhile {
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
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<integrations_core::model::Connection>, Error> {
        self.race(tenant, id, now).await;
        self.inner
            .set_connection_status(tenant, id, status, now)
            .await
    }
    async fn set_connection_status_if(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        expected: &ConnectionStatus,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<integrations_core::model::Connection>, Error> {
        self.race(tenant, id, now).await;
        self.inner
            .set_connection_status_if(tenant, id, expected, status, now)
            .await
    }
}

#[tokio::test]
async fn a_resumption_racing_a_disconnect_leaves_the_connection_revoked() {
    let world = World::new().await;
    let suspended = world
        .ingest
        .ingest(
            world
                .sign(&app_event("suspended"), "d-suspend")
                .request(&world.key),
        )
        .await
        .unwrap();
    assert_eq!(suspended.outcome, IngestOutcome::Delivered);
    assert_eq!(
        conn_1_status(&world).await,
        ConnectionStatus::Error {
            reason: TRACKER_SUSPENDED.to_owned()
        }
    );

    // The resumption was decided on the suspended status; a disconnect revokes the
    // connection before its write.
    let store = Arc::new(RevokedMeanwhile {
        inner: world.test.store.clone(),
        armed: std::sync::atomic::AtomicBool::new(true),
    });
    let racing = world.ingest_with(|parts| parts.connections(store));
    racing
        .ingest(
            world
                .sign(&app_event("unsuspended"), "d-unsuspend")
                .request(&world.key),
        )
        .await
        .unwrap();
    assert!(
        matches!(
            conn_1_status(&world).await,
            ConnectionStatus::Revoked { .. }
        ),
        "the resumption revived a revoked connection"
    );
    let changes = world.test.audit.with_action("connection.status_changed");
    assert!(
        changes
            .iter()
            .all(|c| c.detail.get("external_event_id").map(String::as_str) != Some("d-unsuspend")),
        "{changes:?}"
    );
}

/// A credentials store that counts its reads.
/// The memory store's credentials, reads counted, and those of `broken` (when set)
/// unreadable (sealed under a retired key, a store error).
struct CountedLoads {
    inner: Arc<integrations_testkit::MemoryStore>,
    loads: std::sync::atomic::AtomicUsize,
    broken: Option<ConnectionId>,
}

#[async_trait::async_trait]
impl integrations_core::host::CredentialStore for CountedLoads {
    async fn load_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<integrations_core::model::CredentialSet>, Error> {
        self.loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.broken.as_ref() == Some(connection) {
            return Err(Error::storage(std::io::Error::other("unreadable row")));
        }
        self.inner.load_credentials(tenant, connection).await
    }
    async fn swap_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        expected: Option<u64>,
        credentials: Vec<Credential>,
    ) -> Result<u64, Error> {
        self.inner
            .swap_credentials(tenant, connection, expected, credentials)
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

impl World {
    /// API-key connections `conn-{n}` of accounts `acct-{n}` for each `n`, and a
    /// credential store over the world's that counts reads and fails those of `broken`.
    async fn with_accounts(
        &self,
        accounts: std::ops::RangeInclusive<u32>,
        broken: Option<ConnectionId>,
    ) -> Arc<CountedLoads> {
        for n in accounts {
            self.connection(
                ConnectionInput::new(
                    tenant("acme"),
                    ConnectionId::new(format!("conn-{n}")).unwrap(),
                    TargetId::new("tracker").unwrap(),
                    "api-key".parse().unwrap(),
                )
                .with_secret("api_token", format!("trk_{n}"))
                .with_external_subject(format!("acct-{n}")),
            )
            .await;
        }
        Arc::new(CountedLoads {
            inner: self.test.store.clone(),
            loads: std::sync::atomic::AtomicUsize::new(0),
            broken,
        })
    }
}

#[tokio::test]
async fn a_forged_delivery_costs_a_bounded_number_of_credential_reads() {
    let world = World::new().await;
    let counted = world.with_accounts(2..=40, None).await;
    let ingest = world.ingest_with(|parts| parts.credentials(counted.clone()));

    // Unsigned by anyone's secret, on the app-level route: refused, after reading the
    // credentials of the one connection it names, not of all forty.
    let forged = world.sign_with("nobody-s-secret", &opened("acct-7"), "d-forged-many");
    let response = ingest.handle(forged.request(&world.key)).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (401, codes::SIGNATURE_MISMATCH.to_owned())
    );
    let loads = counted.loads.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        loads <= 1,
        "{loads} credential reads for one forged delivery"
    );

    // A delivery signed with the target's secret still reaches its connection.
    let signed = world.sign(&opened("acct-7"), "d-signed-many");
    let ingested = ingest.ingest(signed.request(&world.key)).await.unwrap();
    assert_eq!(ingested.outcome, IngestOutcome::Delivered);
    assert_eq!(ingested.event.unwrap().connection.as_str(), "conn-7");
}

/// One candidate whose secrets cannot be read no longer stops the deliveries the
/// others' secrets sign (verify before reading tries every candidate's); a delivery no
/// readable secret verifies gets that candidate's trouble, a server error the provider
/// retries, since it may be signed with the unread secret.
#[tokio::test]
async fn a_candidate_whose_secrets_cannot_be_read_stops_only_what_it_may_have_signed() {
    let world = World::new().await;
    let broken = world
        .with_accounts(2..=4, Some(ConnectionId::new("conn-3").unwrap()))
        .await;
    let ingest = world.ingest_with(|parts| parts.credentials(broken.clone()));

    let signed = world.sign(&opened("acct-2"), "d-beside-a-broken-one");
    let ingested = ingest.ingest(signed.request(&world.key)).await.unwrap();
    assert_eq!(ingested.outcome, IngestOutcome::Delivered);
    assert_eq!(ingested.event.unwrap().connection.as_str(), "conn-2");

    let unverified = world.sign_with("nobody-s-secret", &opened("acct-2"), "d-unverified");
    let response = ingest.handle(unverified.request(&world.key)).await;
    assert!(response.status.is_server_error(), "{}", response.status);
}

/// One account connected twice in one tenant through one target, at two scopes (the
/// organization's connection, and a user's own): its events are the account's, and go
/// once, to the broadest-scoped connection, where refusing them as ambiguous would
/// refuse every event of the account. Across tenants, and without a subject, the
/// delivery stays ambiguous (`connection_resolution_fails_closed`).
#[tokio::test]
async fn an_account_connected_at_two_scopes_in_one_tenant_gets_its_events_once() {
    let world = World::new().await;
    world
        .connection(
            ConnectionInput::new(
                tenant("acme"),
                ConnectionId::new("conn-alice").unwrap(),
                TargetId::new("tracker").unwrap(),
                "api-key".parse().unwrap(),
            )
            .with_secret("api_token", "trk_alice")
            .with_external_subject("acct-1")
            .with_scope(ConnectionScope::User {
                user: UserId::new("alice").unwrap(),
            }),
        )
        .await;
    let signed = world.sign(&opened("acct-1"), "d-twice-connected");
    let ingested = world.deliver(&signed).await;
    assert_eq!(ingested.outcome, IngestOutcome::Delivered);
    assert_eq!(ingested.event.unwrap().connection.as_str(), "conn-1");
    assert_eq!(world.test.events.events().len(), 1);
    let again = world.deliver(&signed).await;
    assert_eq!(again.outcome, IngestOutcome::Duplicate);

    // What the account's events say about its grant is true of both connections: an
    // uninstall revokes the user's connection too, not only the one the event went to.
    let signed = world.sign(&uninstalled(), "d-uninstall-twice-connected");
    let ingested = world.deliver(&signed).await;
    assert_eq!(ingested.outcome, IngestOutcome::Delivered);
    assert_eq!(world.test.events.events().len(), 2);
    let revoked = ConnectionStatus::Revoked {
        reason: "the tracker app was uninstalled".to_owned(),
    };
    for id in ["conn-1", "conn-alice"] {
        let stored = world
            .test
            .store
            .get_connection(&tenant("acme"), &ConnectionId::new(id).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, revoked, "{id}");
    }
    let changes = world.test.audit.with_action("connection.status_changed");
    let mut connections: Vec<&str> = changes
        .iter()
        .map(|c| c.connection.as_ref().unwrap().as_str())
        .collect();
    connections.sort_unstable();
    assert_eq!(connections, ["conn-1", "conn-alice"]);
    assert!(
        changes
            .iter()
            .all(|c| c.detail["external_event_id"] == "d-uninstall-twice-connected")
    );
}

impl World {
    /// Tenant `beta` connects account `acct-1` too, through a target of its own signed
    /// with `beta-tracker-secret`, on `endpoint` when given.
    async fn beta_connects_acct_1(&self, endpoint: Option<&str>) {
        self.target(
            "beta",
            "tracker",
            json!({}),
            json!({"webhook_secret": "beta-tracker-secret"}),
        )
        .await;
        let mut input = ConnectionInput::new(
            tenant("beta"),
            ConnectionId::new("conn-beta").unwrap(),
            TargetId::new("tracker").unwrap(),
            "api-key".parse().unwrap(),
        )
        .with_secret("api_token", "trk_beta")
        .with_external_subject("acct-1");
        if let Some(endpoint) = endpoint {
            input = input.with_endpoint_key(endpoint);
        }
        self.connection(input).await;
    }
}

/// One tenant's connection whose target is gone does not stop the delivery of another
/// tenant connecting the same account: each candidate's own trouble is its own.
#[tokio::test]
async fn a_candidate_whose_target_is_gone_does_not_stop_the_other_tenants_delivery() {
    let world = World::new().await;
    world.beta_connects_acct_1(None).await;
    assert!(
        world
            .test
            .host()
            .targets()
            .delete_target(&tenant("beta"), &TargetId::new("tracker").unwrap())
            .await
            .unwrap()
    );
    let acme = world.sign(&opened("acct-1"), "d-acme");
    let ingested = world.deliver(&acme).await;
    assert_eq!(ingested.outcome, IngestOutcome::Delivered);
    assert_eq!(ingested.event.unwrap().tenant.as_str(), "acme");
    // A forged delivery is still only a signature mismatch.
    let forged = world.sign_with("neither", &opened("acct-1"), "d-forged");
    let response = world.ingest.handle(forged.request(&world.key)).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (401, codes::SIGNATURE_MISMATCH.to_owned())
    );
}

/// Issue 14 point 2: two tenants legitimately connect the same provider-side account,
/// each through its own target (its own app and signing secret): each delivery belongs
/// to the tenant whose secret signed it, on the app-level route too. When both share one
/// secret, only an endpoint key tells them apart.
#[tokio::test]
async fn two_tenants_connecting_the_same_account_each_get_their_deliveries() {
    let world = World::new().await;
    world.beta_connects_acct_1(Some("ep-beta-1")).await;
    let acme = world.sign(&opened("acct-1"), "d-acme");
    let beta = world.sign_with("beta-tracker-secret", &opened("acct-1"), "d-beta");
    for (signed, tenant) in [(&acme, "acme"), (&beta, "beta")] {
        let ingested = world.deliver(signed).await;
        assert_eq!(ingested.event.unwrap().tenant.as_str(), tenant);
    }
    // Neither tenant's secret: refused, not routed.
    let forged = world.sign_with("neither", &opened("acct-1"), "d-forged");
    let response = world.ingest.handle(forged.request(&world.key)).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (401, codes::SIGNATURE_MISMATCH.to_owned())
    );
    assert_eq!(world.test.events.events().len(), 2);

    // One shared secret: the app-level route cannot tell; each endpoint key can.
    world
        .target(
            "beta",
            "tracker",
            json!({}),
            json!({"webhook_secret": SECRET}),
        )
        .await;
    let shared = world.sign(&opened("acct-1"), "d-shared");
    let response = world.ingest.handle(shared.request(&world.key)).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (409, codes::AMBIGUOUS_CONNECTION.to_owned())
    );
    for (endpoint, tenant) in [("ep-acme-1", "acme"), ("ep-beta-1", "beta")] {
        let ingested = world
            .ingest
            .ingest(shared.request_to(&world.key, endpoint))
            .await
            .unwrap();
        assert_eq!(ingested.event.unwrap().tenant.as_str(), tenant);
    }
}

/// An event store playing two races, each once when armed: `record_event_if_new`
/// answering "already recorded" without recording (another process's first delivery
/// holds the record) while `event_delivery` answers "no record" (that delivery failed
/// and released it in between); and `release_event` failing (the store was down when a
/// failed delivery tried to release its record).
struct EventRaces {
    inner: Arc<integrations_testkit::MemoryStore>,
    held_then_released: std::sync::atomic::AtomicBool,
    release_fails: std::sync::atomic::AtomicBool,
}

impl EventRaces {
    fn new(inner: Arc<integrations_testkit::MemoryStore>) -> Self {
        Self {
            inner,
            held_then_released: std::sync::atomic::AtomicBool::new(false),
            release_fails: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

#[async_trait::async_trait]
impl integrations_core::host::WebhookEventStore for EventRaces {
    async fn record_event_if_new(&self, event: &WebhookEvent) -> Result<bool, Error> {
        if self
            .held_then_released
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(false);
        }
        self.inner.record_event_if_new(event).await
    }
    async fn forget_event(
        &self,
        tenant: &TenantId,
        key: &DefinitionKey,
        external_event_id: &str,
    ) -> Result<bool, Error> {
        self.inner
            .forget_event(tenant, key, external_event_id)
            .await
    }
    async fn release_event(&self, event: &WebhookEvent) -> Result<bool, Error> {
        if self
            .release_fails
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(Error::storage(std::io::Error::other(
                "the database is down",
            )));
        }
        self.inner.release_event(event).await
    }
    async fn mark_event_delivered(
        &self,
        tenant: &TenantId,
        key: &DefinitionKey,
        external_event_id: &str,
    ) -> Result<(), Error> {
        self.inner
            .mark_event_delivered(tenant, key, external_event_id)
            .await
    }
    async fn event_delivery(
        &self,
        tenant: &TenantId,
        key: &DefinitionKey,
        external_event_id: &str,
    ) -> Result<Option<integrations_core::host::EventDelivery>, Error> {
        if self
            .held_then_released
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(None);
        }
        self.inner
            .event_delivery(tenant, key, external_event_id)
            .await
    }
    async fn take_over_event(
        &self,
        event: &WebhookEvent,
        stalled_by: Timestamp,
    ) -> Result<bool, Error> {
        self.inner.take_over_event(event, stalled_by).await
    }
}

/// A redelivery that finds the event recorded by a first delivery, which then fails and
/// releases it before the redelivery reads its state, records it again and delivers it:
/// answered "duplicate", the provider would stop retrying an event no one delivered.
#[tokio::test]
async fn a_redelivery_racing_a_failed_first_delivery_is_delivered_not_a_duplicate() {
    let world = World::new().await;
    let races = Arc::new(EventRaces::new(world.test.store.clone()));
    let ingest = world.ingest_with(|parts| parts.webhook_events(races.clone()));
    races
        .held_then_released
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let signed = world.sign(&opened("acct-1"), "d-race");
    let ingested = ingest.ingest(signed.request(&world.key)).await.unwrap();
    assert_eq!(ingested.outcome, IngestOutcome::Delivered);
    assert_eq!(world.test.events.events().len(), 1);
    let again = ingest.ingest(signed.request(&world.key)).await.unwrap();
    assert_eq!(again.outcome, IngestOutcome::Duplicate);
}

/// A pending delivery whose sink failed and whose record the store could not release
/// still holds the record: its retry delivers the event, rather than taking the record
/// for a redelivery's and reporting success with nothing delivered.
#[tokio::test]
async fn a_pending_delivery_whose_release_failed_delivers_on_retry() {
    let world = World::new().await;
    let races = Arc::new(EventRaces::new(world.test.store.clone()));
    let ingest = world.ingest_with(|parts| parts.webhook_events(races.clone()));
    let signed = world.sign(&opened("acct-1"), "d-release");
    let accepted = ingest.accept(signed.request(&world.key)).await.unwrap();
    world.test.events.fail_next(1);
    races
        .release_fails
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = accepted
        .pending
        .expect("a delivery to run")
        .deliver()
        .await
        .unwrap_err();
    assert_eq!(failed.error.code(), codes::DELIVERY_FAILED);
    assert!(world.test.events.events().is_empty());
    failed.pending.deliver().await.unwrap();
    assert_eq!(
        world.test.events.events().len(),
        1,
        "delivered by the retry"
    );
    let again = ingest.accept(signed.request(&world.key)).await.unwrap();
    assert_eq!(again.outcome, IngestOutcome::Duplicate);
}

/// An event sink that fails its first delivery, then holds each later one until
/// released and takes it; it counts what it took.
#[derive(Default)]
struct FailsThenHolds {
    calls: std::sync::atomic::AtomicUsize,
    taken: std::sync::atomic::AtomicUsize,
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl integrations_core::host::EventSink for FailsThenHolds {
    async fn deliver(&self, _event: &WebhookEvent) -> Result<(), Error> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.calls.fetch_add(1, SeqCst) == 0 {
            return Err(Error::storage(std::io::Error::other("the queue is down")));
        }
        self.entered.notify_one();
        self.release.notified().await;
        self.taken.fetch_add(1, SeqCst);
        Ok(())
    }
}

/// The host runs a failed delivery again well past `DELIVERY_IN_PROGRESS_WINDOW` after
/// the event arrived, and the provider's redelivery comes while that retry runs: the
/// retry recorded the event anew, so the redelivery is refused as in progress (503) and
/// the sink gets the event once. Before, the retry recorded it with its first
/// `received_at`, the redelivery took it for a stalled delivery, took it over and
/// delivered it too.
#[tokio::test]
async fn a_redelivery_during_a_late_retry_of_a_failed_delivery_is_refused_not_delivered_again() {
    let world = World::new().await;
    let sink = Arc::new(FailsThenHolds::default());
    let process = world.ingest_with(|parts| parts.events(sink.clone()));
    let signed = world.sign(&opened("acct-1"), "d-late-retry");
    let accepted = process.accept(signed.request(&world.key)).await.unwrap();
    let failed = accepted
        .pending
        .expect("a delivery to run")
        .deliver()
        .await
        .unwrap_err();
    assert_eq!(failed.error.code(), codes::DELIVERY_FAILED);

    world.test.clock.advance(Duration::from_secs(15 * 60));
    let retry = tokio::spawn(failed.pending.deliver());
    sink.entered.notified().await;

    let redelivery = world.sign(&opened("acct-1"), "d-late-retry");
    let err = world
        .ingest
        .ingest(redelivery.request(&world.key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), codes::DELIVERY_IN_PROGRESS);
    assert_eq!(world.ingest.error_response(&world.key, &err).status, 503);

    sink.release.notify_one();
    let delivered = retry.await.unwrap().unwrap();
    assert_eq!(delivered.external_event_id, "d-late-retry");
    let taken = sink.taken.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        taken + world.test.events.events().len(),
        1,
        "delivered once"
    );
    let again = world.deliver(&redelivery).await;
    assert_eq!(again.outcome, IngestOutcome::Duplicate);
}
/// Several connections match a delivery's subject, one through a target with no signing
/// secret: a forged or unsigned delivery is refused for what is wrong with it (401, 400),
/// whatever the order of the connections' ids, never answered with the other target's
/// missing secret (a 500 anyone could raise at will).
#[tokio::test]
async fn a_candidate_without_a_secret_never_hides_what_is_wrong_with_a_delivery() {
    // Candidates come in tenant order: the one without a secret first, then last.
    for other in ["aaa", "zzz"] {
        let world = World::new().await;
        world.target(other, "tracker", json!({}), json!({})).await;
        world
            .connection(
                ConnectionInput::new(
                    tenant(other),
                    ConnectionId::new("conn-no-secret").unwrap(),
                    TargetId::new("tracker").unwrap(),
                    "api-key".parse().unwrap(),
                )
                .with_secret("api_token", "trk_beta")
                .with_external_subject("acct-1"),
            )
            .await;
        let good = world.sign(&opened("acct-1"), "d-good");
        let forged = world.sign_with("not-the-secret", &opened("acct-1"), "d-forged");
        let unsigned = forged.clone().without_header("x-tracker-signature");
        for (signed, status, code) in [
            (&forged, 401, codes::SIGNATURE_MISMATCH),
            (&unsigned, 400, codes::MISSING_HEADER),
        ] {
            let response = world.ingest.handle(signed.request(&world.key)).await;
            assert_eq!(
                (response.status.as_u16(), error_code(&response)),
                (status, code.to_owned()),
                "{other}"
            );
        }
        // The genuine delivery routes to the connection whose target signed it.
        let ingested = world.deliver(&good).await;
        assert_eq!(
            ingested.event.unwrap().connection.as_str(),
            "conn-1",
            "{other}"
        );
    }
}
