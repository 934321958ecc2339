//! Webhook checks: a signed delivery is accepted; unsigned, tampered and stale ones are
//! refused, through the real ingest pipeline.

use std::sync::Arc;
use std::time::Duration;

use integrations_core::provider::Integration;
use integrations_core::webhook::IngestOutcome;
use integrations_core::{Registry, Secret};

use super::{Check, Outcome, WebhookSample};
use crate::{Delivery, SignedDelivery, WebhookHarness};

const SECRET: &str = "conformance-webhook-secret-2c1e6f";

/// The harness's secret for a scheme: Standard Webhooks wants a `whsec_` base64 key.
fn secret_for(scheme: &str) -> Secret {
    if scheme == "standard-webhooks" {
        Secret::new("whsec_Y29uZm9ybWFuY2Utd2ViaG9vay1zZWNyZXQtMmMxZQ==")
    } else {
        Secret::new(SECRET)
    }
}

fn failed(problem: impl Into<String>) -> Outcome {
    Outcome::Failed(vec![problem.into()])
}

fn skipped_all(why: &str) -> Vec<(Check, Outcome)> {
    [
        Check::WebhookAcceptsSigned,
        Check::WebhookRejectsUnsigned,
        Check::WebhookRejectsTampered,
        Check::WebhookRejectsStale,
    ]
    .into_iter()
    .map(|c| (c, Outcome::Skipped(why.to_owned())))
    .collect()
}

fn failed_all(why: &str) -> Vec<(Check, Outcome)> {
    skipped_all(why)
        .into_iter()
        .map(|(c, _)| (c, failed(why)))
        .collect()
}

/// A copy of the body with one letter or digit changed, so JSON stays JSON and the
/// signature must be what refuses it.
fn tamper(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    if let Some(i) = out.iter().rposition(u8::is_ascii_alphanumeric) {
        out[i] = if out[i] == b'a' { b'b' } else { b'a' };
    } else if let Some(last) = out.last_mut() {
        *last ^= 1;
    }
    out
}

fn sign(
    harness: &WebhookHarness,
    sample: &WebhookSample,
    id: &str,
    body: &[u8],
) -> Result<SignedDelivery, String> {
    let mut delivery = Delivery::new(body, sample.at).with_id(id);
    if let Some(event) = &sample.event {
        delivery = delivery.with_event(event);
    }
    if let Some(content_type) = &sample.content_type {
        delivery = delivery.with_content_type(content_type);
    }
    harness
        .signer()
        .sign(&delivery)
        .map_err(|e| format!("signing failed: {} ({})", e.message(), e.code()))
}

pub(super) async fn run(
    integration: &Arc<dyn Integration>,
    samples: &[WebhookSample],
) -> Vec<(Check, Outcome)> {
    let source = integration.webhook_source();
    let handler = integration.webhooks();
    match (source, handler) {
        (None, None) => return skipped_all("the definition receives no webhooks"),
        (Some(_), None) => {
            return failed_all(
                "the definition declares a webhook source but its provider has no handler",
            );
        }
        (None, Some(_)) => {
            return failed_all(
                "the provider has a webhook handler but the definition declares no source",
            );
        }
        (Some(_), Some(_)) => {}
    }
    if samples.is_empty() {
        return failed_all(
            "the definition receives webhooks: give the suite a sample delivery to check them with",
        );
    }
    let mut registry = Registry::new();
    if registry.register(Arc::clone(integration)).is_err() {
        return skipped_all("the definition does not register (see identity)");
    }
    let registry = Arc::new(registry);
    let key = integration.key();
    let mut results: Vec<(Check, Vec<String>)> = vec![
        (Check::WebhookAcceptsSigned, Vec::new()),
        (Check::WebhookRejectsUnsigned, Vec::new()),
        (Check::WebhookRejectsTampered, Vec::new()),
        (Check::WebhookRejectsStale, Vec::new()),
    ];
    for (i, sample) in samples.iter().enumerate() {
        let scheme = integration
            .webhook_source()
            .map(|s| s.scheme().name())
            .unwrap_or_default();
        let harness =
            match WebhookHarness::new(Arc::clone(&registry), &key, secret_for(scheme), sample.at)
                .await
            {
                Ok(h) => h,
                Err(e) => {
                    for (_, problems) in &mut results {
                        problems.push(format!(
                            "sample {i}: the harness cannot start: {} ({})",
                            e.message(),
                            e.code()
                        ));
                    }
                    continue;
                }
            };
        let delivered = || harness.test_host().events.events().len();

        // Signed: accepted, and an event reaches the sink (or a handshake is answered).
        let mut signed_ok = false;
        match sign(
            &harness,
            sample,
            &format!("conformance-{i}-signed"),
            &sample.body,
        ) {
            Err(e) => results[0].1.push(format!("sample {i}: {e}")),
            Ok(signed) => match harness.deliver(signed.request(&key)).await {
                Ok(ingested)
                    if matches!(
                        ingested.outcome,
                        IngestOutcome::Delivered | IngestOutcome::Answered
                    ) =>
                {
                    signed_ok = true;
                }
                Ok(ingested) => results[0].1.push(format!(
                    "sample {i}: a signed delivery ended {}",
                    ingested.outcome.as_str()
                )),
                Err(e) => results[0].1.push(format!(
                    "sample {i}: a signed delivery was refused: {} ({})",
                    e.message(),
                    e.code()
                )),
            },
        }
        let before = delivered();

        // Unsigned: the signature header removed.
        let header = harness.source().scheme().signature_header().to_owned();
        if let Ok(signed) = sign(
            &harness,
            sample,
            &format!("conformance-{i}-unsigned"),
            &sample.body,
        ) {
            let unsigned = signed.without_header(&header);
            if harness.deliver(unsigned.request(&key)).await.is_ok() {
                results[1].1.push(format!(
                    "sample {i}: a delivery without {header} was accepted"
                ));
            }
        }

        // Tampered: one byte of the body changed after signing.
        if let Ok(signed) = sign(
            &harness,
            sample,
            &format!("conformance-{i}-tampered"),
            &sample.body,
        ) {
            let tampered = signed.with_body(tamper(&sample.body));
            if harness.deliver(tampered.request(&key)).await.is_ok() {
                results[2]
                    .1
                    .push(format!("sample {i}: a tampered delivery was accepted"));
            }
        }
        if delivered() != before {
            results[1].1.push(format!(
                "sample {i}: a refused delivery reached the event sink"
            ));
        }

        // Stale: verified after the replay window; without a window, a replay is
        // deduplicated instead.
        match harness.source().scheme().tolerance() {
            Some(window) => {
                if let Ok(signed) = sign(
                    &harness,
                    sample,
                    &format!("conformance-{i}-stale"),
                    &sample.body,
                ) {
                    harness.set_now(sample.at.saturating_add(window + Duration::from_secs(60)));
                    match harness.deliver(signed.request(&key)).await {
                        Ok(_) => results[3].1.push(format!(
                            "sample {i}: a delivery verified {}s after its window was accepted",
                            window.as_secs() + 60
                        )),
                        Err(e) if e.code() == "webhook.timestamp_out_of_window" => {}
                        Err(e) => results[3].1.push(format!(
                            "sample {i}: a stale delivery was refused for another reason: {}",
                            e.code()
                        )),
                    }
                    harness.set_now(sample.at);
                }
            }
            // A replay is only deduplicated if the original was accepted.
            None if signed_ok => {
                if let Ok(signed) = sign(
                    &harness,
                    sample,
                    &format!("conformance-{i}-signed"),
                    &sample.body,
                ) {
                    match harness.deliver(signed.request(&key)).await {
                        Ok(ingested)
                            if matches!(
                                ingested.outcome,
                                IngestOutcome::Duplicate | IngestOutcome::Answered
                            ) => {}
                        Ok(ingested) => results[3].1.push(format!(
                            "sample {i}: a replay without a timestamp was not deduplicated ({})",
                            ingested.outcome.as_str()
                        )),
                        Err(e) => results[3].1.push(format!(
                            "sample {i}: a replay was refused instead of deduplicated: {}",
                            e.code()
                        )),
                    }
                }
            }
            None => {}
        }
    }
    results
        .into_iter()
        .map(|(check, problems)| (check, super::outcome(problems)))
        .collect()
}
