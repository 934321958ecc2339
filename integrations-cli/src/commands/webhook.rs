//! `integrations webhook sign` and `integrations webhook verify`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use integrations_core::model::Connection;
use integrations_core::service::{TargetInput, WriteService};
use integrations_core::webhook::{Classification, InboundRequest, Ingest, WebhookRequest};
use integrations_core::{ConnectionId, Error, ErrorKind, TargetId, TenantId};
use integrations_testkit::{Delivery, TestHost, WebhookSigner};
use serde_json::json;

/// The tenant, target, connection and endpoint key of the in-memory host that `verify`
/// runs the pipeline on.
const CLI_ID: &str = "cli";

fn no_webhooks(key: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        "cli.no_webhooks",
        format!("{key} receives no webhooks"),
    )
}

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
    let signer = WebhookSigner::for_definition(entry.definition(), secret)
        .ok_or_else(|| no_webhooks(key.as_str()))?;
    let mut delivery = Delivery::new(&body, timestamp).with_id(id.unwrap_or(&default_id));
    if let Some(event) = event {
        delivery = delivery.with_event(event);
    }
    let delivered = signer.sign(&delivery)?;
    for (name, value) in delivered.headers().iter() {
        out!("{name}: {value}");
    }
    Ok(ExitCode::SUCCESS)
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| Error::internal("the async runtime could not start").with_source(e))?;

    let ingested = runtime.block_on(async {
        // The real pipeline on an in-memory host: a target holding the secret, and one
        // connection routed by the delivery's own subject and the endpoint key `cli`.
        let entry = registry.require(&key)?.clone();
        let source = entry
            .definition()
            .webhook_source()
            .ok_or_else(|| no_webhooks(key.as_str()))?;
        let handler = entry
            .integration()
            .webhooks()
            .ok_or_else(|| no_webhooks(key.as_str()))?;
        let field = source
            .target_secret_fields()
            .first()
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    "cli.no_target_secret",
                    format!("{key} keeps no webhook secret in its target"),
                )
            })?;
        let test = TestHost::new();
        test.clock.set(now);
        let tenant = TenantId::new(CLI_ID)?;
        let config = entry
            .target_config()
            .spec()
            .examples()
            .first()
            .cloned()
            .unwrap_or_else(|| json!({}));
        let target = WriteService::new(registry.clone(), test.host().clone())
            .put_target(
                TargetInput::new(tenant.clone(), TargetId::new(CLI_ID)?, key.clone())
                    .with_config(config)
                    .with_secrets(json!({ field: secret.expose() })),
            )
            .await?;
        let subject = match handler.classify(&InboundRequest::new(&key, &headers, &body))? {
            Classification::Event(route) => route.routing.subject,
            Classification::Handshake(handshake) => handshake.routing.subject,
            #[allow(unreachable_patterns)]
            _ => None,
        };
        let method = entry
            .methods()
            .first()
            .map(|m| m.method().id.clone())
            .ok_or_else(|| Error::internal("a registered definition has no connection method"))?;
        let mut connection = Connection::new(
            tenant,
            ConnectionId::new(CLI_ID)?,
            target.id,
            key.clone(),
            method,
            now,
        );
        connection.external_subject = subject;
        connection.endpoint_key = Some(CLI_ID.to_owned());
        test.host()
            .connections()
            .put_connection(&connection)
            .await?;
        let ingest = Ingest::new(registry.clone(), test.host().clone())?;
        ingest
            .ingest(WebhookRequest::new(key.clone(), headers, body).with_endpoint(CLI_ID))
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
