//! Webhook checks: a signed delivery is accepted; unsigned, tampered and stale ones are
//! refused, through the real ingest pipeline, and refused for the right reason: an
//! unsigned or tampered delivery must fail on its signature (`webhook.missing_header`
//! naming the signature header, `webhook.malformed_signature` or
//! `webhook.signature_mismatch`), not on routing or parsing, which would hide whether the
//! signature is checked at all.

use std::sync::Arc;
use std::time::Duration;

use integrations_core::provider::Integration;
use integrations_core::provider::webhook::{Classification, HandshakeVerification, InboundRequest};
use integrations_core::webhook::IngestOutcome;
use integrations_core::webhook::errors::codes;
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

/// The byte ranges of the JSON string values (not keys) of `body`, in order, or `None`
/// when it is not JSON.
fn string_values(body: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
    serde_json::from_slice::<serde_json::Value>(body).ok()?;
    let mut spans = Vec::new();
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut j = start;
        while j < body.len() && body[j] != b'"' {
            j += if body[j] == b'\\' { 2 } else { 1 };
        }
        let end = j.min(body.len());
        let mut k = end + 1;
        while k < body.len() && body[k].is_ascii_whitespace() {
            k += 1;
        }
        if body.get(k) != Some(&b':') {
            spans.push(start..end);
        }
        i = end + 1;
    }
    Some(spans)
}

/// A copy of the body with one letter or digit changed, so the body still parses and the
/// signature must be what refuses it: in a JSON body, the last letter or digit of the last
/// string value that has one (a key or a number changed would make a parse error, not a
/// signature error); in any other body, the last letter or digit.
fn tamper(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    let in_value = string_values(body).and_then(|spans| {
        spans.iter().rev().find_map(|span| {
            span.clone()
                .rev()
                .find(|&i| body[i].is_ascii_alphanumeric() && (i == 0 || body[i - 1] != b'\\'))
        })
    });
    if let Some(i) = in_value.or_else(|| out.iter().rposition(u8::is_ascii_alphanumeric)) {
        out[i] = if out[i] == b'a' { b'b' } else { b'a' };
    } else if let Some(last) = out.last_mut() {
        *last ^= 1;
    }
    out
}

/// Whether a refusal is the signature's: a missing signature header (named), or a
/// signature that is malformed or does not match.
fn signature_refusal(error: &integrations_core::Error, header: &str, missing: bool) -> bool {
    match error.code() {
        codes::SIGNATURE_MISMATCH | codes::MALFORMED_SIGNATURE => true,
        codes::MISSING_HEADER => missing && error.message().contains(header),
        _ => false,
    }
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
            // Where routing needs the payload (several targets, no endpoint key), the
            // pipeline classifies a delivery before verifying it: a handler that answers
            // this one as a handshake needing no verification would answer it unsigned.
            if let Some(handler) = integration.webhooks() {
                let headers = unsigned.headers();
                let inbound = InboundRequest::new(&key, &headers, &unsigned.body);
                if let Ok(Classification::Handshake(handshake)) = handler.classify(&inbound)
                    && handshake.verification == HandshakeVerification::Skip
                {
                    results[1].1.push(format!(
                        "sample {i}: the handler answers a delivery without {header} as a handshake needing no verification; answer unsigned probes from probe, and only those"
                    ));
                }
            }
            match harness.deliver(unsigned.request(&key)).await {
                Ok(_) => results[1].1.push(format!(
                    "sample {i}: a delivery without {header} was accepted"
                )),
                Err(e) if signature_refusal(&e, &header, true) => {}
                Err(e) => results[1].1.push(format!(
                    "sample {i}: a delivery without {header} was refused for another reason than its signature: {} ({})",
                    e.message(),
                    e.code()
                )),
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
            match harness.deliver(tampered.request(&key)).await {
                Ok(_) => results[2]
                    .1
                    .push(format!("sample {i}: a tampered delivery was accepted")),
                Err(e) if signature_refusal(&e, &header, false) => {}
                Err(e) => results[2].1.push(format!(
                    "sample {i}: a tampered delivery was refused for another reason than its signature: {} ({})",
                    e.message(),
                    e.code()
                )),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampering_changes_a_string_value_and_keeps_json_json() {
        let body = br#"{"id":123,"ok":true,"team":{"name":"Acme 7"},"count":42}"#;
        let tampered = tamper(body);
        assert_eq!(
            tampered,
            br#"{"id":123,"ok":true,"team":{"name":"Acme a"},"count":42}"#.to_vec()
        );
        serde_json::from_slice::<serde_json::Value>(&tampered).unwrap();
        let escaped = br#"{"text":"tab\t","n":1}"#;
        assert_eq!(tamper(escaped), br#"{"text":"taa\t","n":1}"#.to_vec());
        assert_eq!(
            tamper(b"token=abc&team_id=T1"),
            b"token=abc&team_id=Ta".to_vec()
        );
    }
}
