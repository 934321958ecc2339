//! `integrations webhook sign` and `integrations webhook verify`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use integrations_core::Error;
use integrations_core::webhook::WebhookRequest;
use integrations_testkit::{Delivery, WebhookHarness, WebhookSigner};
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
            eprintln!(
                "cli.event_required {key} deliveries name their event in the {header} header: pass --event NAME"
            );
            return Ok(ExitCode::from(2));
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
        let harness = WebhookHarness::new(registry, &key, secret, timestamp).await?;
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
    tokio::runtime::Builder::new_current_thread()
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
