//! `integrations webhook sign` and `integrations webhook verify`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use integrations_core::webhook::WebhookRequest;
use integrations_core::{Error, ErrorKind};
use integrations_testkit::{Delivery, WebhookHarness, WebhookSigner};
use serde_json::json;

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

    // The real pipeline on an in-memory host (see `WebhookHarness`): a target holding
    // the secret, one connection routed by the delivery's own subject.
    let ingested = runtime.block_on(async {
        let harness = WebhookHarness::new(registry, &key, secret, now).await?;
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
