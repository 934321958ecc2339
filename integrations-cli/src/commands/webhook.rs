//! `integrations webhook sign` and `integrations webhook verify`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use integrations_core::host::{AesGcmKeyRing, Clock, EventSink, Host};
use integrations_core::model::Connection;
use integrations_core::service::{TargetInput, WriteService};
use integrations_core::webhook::{
    Classification, Delivery, InboundRequest, Ingest, Ingested, WebhookEvent, WebhookRequest,
    WebhookSigner,
};
use integrations_core::{
    ConnectionId, DefinitionKey, Error, Registry, Secret, TargetId, TenantId, Timestamp,
};
use integrations_sqlx::SqlStores;
use serde_json::json;

fn no_webhooks(key: &str) -> Error {
    crate::codes::cli::NO_WEBHOOKS.error(format!("{key} receives no webhooks"))
}

/// Signs a delivery as the provider would, and prints its headers once the delivery is
/// known to verify: the event header is required where the provider sends one, or
/// derived from the body where the body names the event (Linear's `type`), and the
/// signed delivery is run through the real pipeline at its signing time before anything
/// is printed.
pub(crate) fn sign(
    key: &str,
    secret_env: &str,
    body: &Path,
    timestamp: Option<i64>,
    id: Option<&str>,
    event: Option<&str>,
) -> Result<ExitCode, Error> {
    let (registry, key) = super::lookup(key)?;
    let entry = registry.require(&key)?;
    let secret = crate::io::secret_from_env(secret_env)?;
    let body = crate::io::read_bytes(body)?;
    let timestamp = crate::io::timestamp(timestamp);
    let default_id = format!("delivery-{}", timestamp.unix_seconds());
    let source = entry
        .definition()
        .webhook_source()
        .ok_or_else(|| no_webhooks(key.as_str()))?;
    let in_body = source.event_field().and_then(|f| body_field(&body, f));
    let event = match (event, in_body, source.event_header()) {
        (Some(given), Some(named), _) if given != named => {
            return Err(crate::codes::cli::EVENT_MISMATCH.error(format!(
                "--event {given} disagrees with the body, which names {named}"
            )));
        }
        (Some(given), _, _) => Some(given.to_owned()),
        (None, Some(named), _) => Some(named),
        (None, None, Some(header)) => {
            return Err(crate::codes::cli::EVENT_REQUIRED.error(format!(
                "{key} deliveries name their event in the {header} header: pass --event NAME"
            )));
        }
        (None, None, None) => None,
    };
    let signer = WebhookSigner::new(source, secret.clone());
    let mut delivery = Delivery::new(&body, timestamp).with_id(id.unwrap_or(&default_id));
    if let Some(event) = &event {
        delivery = delivery.with_event(event);
    }
    let delivered = signer.sign(&delivery)?;

    // The delivery must verify as signed: run it through the pipeline at its signing time.
    let registry = Arc::new(registry);
    let checked = runtime()?.block_on(async {
        let harness = Pipeline::new(registry, &key, secret, timestamp).await?;
        harness
            .deliver(WebhookRequest::new(
                key.clone(),
                delivered.headers(),
                delivered.body.clone(),
            ))
            .await
    });
    if let Err(e) = checked {
        eprintln!("{} the signed delivery would not verify: {e}", e.code());
        return Ok(ExitCode::from(1));
    }
    for (name, value) in delivered.headers().iter() {
        out!("{name}: {value}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A top-level string field of a JSON body.
fn body_field(body: &[u8], field: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Object(std::collections::BTreeMap<String, serde_json::Value>);
    let Object(mut fields) = serde_json::from_slice(body).ok()?;
    match fields.remove(field)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    // The SQL stores' pool needs the timer (its acquire timeout).
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal("the async runtime could not start").with_source(e))
}

pub(crate) fn verify(
    key: &str,
    secret_env: &str,
    headers: &Path,
    body: &Path,
    now: Option<i64>,
) -> Result<ExitCode, Error> {
    let (registry, key) = super::lookup(key)?;
    let registry = Arc::new(registry);
    let secret = crate::io::secret_from_env(secret_env)?;
    let headers = crate::io::read_headers(headers)?;
    let body = crate::io::read_bytes(body)?;
    let now = crate::io::timestamp(now);
    let runtime = runtime()?;

    // The real pipeline on an in-memory host (see `Pipeline`): a target holding
    // the secret, one connection routed by the delivery's own subject.
    let ingested = runtime.block_on(async {
        let harness = Pipeline::new(registry, &key, secret, now).await?;
        harness
            .deliver(WebhookRequest::new(key.clone(), headers, body))
            .await
    });
    let ingested = match ingested {
        Ok(ingested) => ingested,
        // A delivery that does not verify is exit 1, whatever its kind.
        Err(e) => {
            eprintln!("{} {e}", e.code());
            return Ok(ExitCode::from(1));
        }
    };
    if let Some(event) = ingested.event {
        out!("{}", super::pretty(&event)?);
    } else {
        let response = &ingested.response;
        let body = String::from_utf8_lossy(&response.body).into_owned();
        out!(
            "{}",
            super::pretty(&json!({
                "outcome": ingested.outcome.as_str(),
                "status": response.status.as_u16(),
                "body": body,
            }))?
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The tenant, target, connection and endpoint key of the one-shot host.
const ONE_SHOT: &str = "cli";

/// A definition's real [`Ingest`] pipeline on a one-shot host: SQL stores in a private
/// in-memory SQLite database, a clock fixed at the delivery's time, a key ring generated
/// for this process, no HTTP client (a webhook-only host), and an event sink that
/// accepts every event. It holds one target (the definition's first target-config
/// example, the secret in the first target-secret field its webhook source names) and,
/// per delivery, one connection routed by the subject the provider reads from it.
struct Pipeline {
    host: Host,
    registry: Arc<Registry>,
    key: DefinitionKey,
    ingest: Ingest,
}

/// A clock that stays at one instant.
struct FixedClock(Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// Accepts every event: the command prints the event the pipeline returns.
struct AcceptEvents;

#[async_trait::async_trait]
impl EventSink for AcceptEvents {
    async fn deliver(&self, _event: &WebhookEvent) -> Result<(), Error> {
        Ok(())
    }
}

impl Pipeline {
    async fn new(
        registry: Arc<Registry>,
        key: &DefinitionKey,
        secret: Secret,
        now: Timestamp,
    ) -> Result<Self, Error> {
        static DATABASES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let entry = registry.require(key)?.clone();
        let source = entry
            .definition()
            .webhook_source()
            .ok_or_else(|| no_webhooks(key.as_str()))?;
        if entry.integration().webhooks().is_none() {
            return Err(no_webhooks(key.as_str()));
        }
        let field = source
            .target_secret_fields()
            .first()
            .cloned()
            .ok_or_else(|| {
                crate::codes::cli::NO_TARGET_SECRET
                    .error(format!("{key} keeps no webhook secret in its target"))
            })?;
        // A named, shared in-memory database: every pooled connection sees the same one,
        // and it is gone when the command ends.
        let database = format!(
            "sqlite:file:integrations-cli-webhook-{}-{}?mode=memory&cache=shared",
            std::process::id(),
            DATABASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let stores = Arc::new(SqlStores::connect(&database).await?);
        // A webhook-only host: verification makes no HTTP call, so there is no client.
        let host = Host::builder()
            .stores(stores)
            .cipher(Arc::new(AesGcmKeyRing::generate("cli-webhook")?))
            .clock(Arc::new(FixedClock(now)))
            .events(Arc::new(AcceptEvents))
            .build()?;
        let config = entry
            .target_config()
            .spec()
            .examples()
            .first()
            .cloned()
            .unwrap_or_else(|| json!({}));
        WriteService::new(registry.clone(), host.clone())
            .put_target(
                TargetInput::new(tenant()?, TargetId::new(ONE_SHOT)?, key.clone())
                    .with_config(config)
                    .with_secrets(json!({ field: secret.expose() })),
            )
            .await?;
        let ingest = Ingest::new(registry.clone(), host.clone())?;
        Ok(Self {
            host,
            registry,
            key: key.clone(),
            ingest,
        })
    }

    /// Runs one delivery (its headers and raw body) through the pipeline.
    async fn deliver(&self, request: WebhookRequest) -> Result<Ingested, Error> {
        let entry = self.registry.require(&self.key)?;
        let handler = entry
            .integration()
            .webhooks()
            .ok_or_else(|| no_webhooks(self.key.as_str()))?;
        let inbound = InboundRequest::new(&self.key, &request.headers, &request.body);
        // A delivery that does not classify gets a connection without a subject: the
        // pipeline verifies it before reading it, as on a host's endpoint route.
        let subject = match handler.classify(&inbound) {
            Ok(Classification::Event(route)) => route.routing.subject,
            Ok(Classification::Handshake(handshake)) => handshake.routing.subject,
            _ => None,
        };
        let method = entry
            .methods()
            .first()
            .map(|m| m.method().id.clone())
            .ok_or_else(|| Error::internal("a registered definition has no connection method"))?;
        let mut connection = Connection::new(
            tenant()?,
            ConnectionId::new(ONE_SHOT)?,
            TargetId::new(ONE_SHOT)?,
            self.key.clone(),
            method,
            self.host.clock().now(),
        );
        connection.external_subject = subject;
        connection.endpoint_key = Some(ONE_SHOT.to_owned());
        self.host.connections().put_connection(&connection).await?;
        self.ingest.ingest(request.with_endpoint(ONE_SHOT)).await
    }
}

fn tenant() -> Result<TenantId, Error> {
    TenantId::new(ONE_SHOT)
}
