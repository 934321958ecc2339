//! Verifying and normalizing a real GitHub delivery (`issue_comment.created`, sent compact
//! as GitHub sends it) beside its floor: HMAC-SHA256 of the same bytes plus
//! `serde_json::from_slice` into a `Value`.
//!
//! `ours` is the pipeline's per-delivery CPU work without storage: classify (route by
//! installation id), verify the signature, normalize (typed, borrowed fields only) and
//! keep the payload as raw JSON. `ingest` is the whole pipeline on an in-memory host, for
//! context. The run ends with the ratio of the medians of `ours` and `floor`; the design's
//! goal is about 1 or less. `verify_normalize` is the part Node's peer does
//! (`benches/peers/run`): the signature and the normalization, nothing else.
//!
//! `cargo bench --bench webhook`

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput};
use hmac::{KeyInit, Mac};
use integrations::core::host::{AesGcmKeyRing, EventSink, Host, TracingAuditSink};
use integrations::core::service::{ConnectionInput, TargetInput, WriteService};
use integrations::core::webhook::WebhookEvent;
use integrations::core::webhook::{
    Classification, EventRoute, Headers, InboundRequest, Ingest, NormalizeContext, WebhookHandler,
    raw_json,
};
use integrations::core::{ConnectionId, DefinitionKey, Secret, TargetId, TenantId};
use integrations::definitions::github::GitHub;
use integrations_testkit::{Delivery, ManualClock, MemoryStore, WebhookSigner};

const SECRET: &str = "It's a Secret to Everybody";
const PAYLOAD: &[u8] = include_bytes!(
    "../integrations-definitions/tests/fixtures/github/issue_comment.created.with-installation.payload.json"
);

/// An event sink that takes every event and keeps none.
struct DiscardEvents;

#[async_trait::async_trait]
impl EventSink for DiscardEvents {
    async fn deliver(&self, event: &WebhookEvent) -> Result<(), integrations::core::Error> {
        black_box(event);
        Ok(())
    }
}

/// JSON without the whitespace outside strings, keys in their order: what GitHub sends.
fn compact(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
            out.push(b);
        } else if !b.is_ascii_whitespace() {
            out.push(b);
        }
    }
    out
}

/// The floor: what any correct receiver must do at least.
fn floor(secret: &[u8], body: &[u8]) -> usize {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret).expect("any key");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let value: serde_json::Value = serde_json::from_slice(body).expect("JSON");
    usize::from(tag[0]) + usize::from(value.is_object())
}

struct Ours {
    github: GitHub,
    /// Read once, as `Ingest` does.
    source: integrations::core::webhook::WebhookSource,
    key: DefinitionKey,
    headers: Headers,
    body: Vec<u8>,
    secrets: [Secret; 1],
}

impl Ours {
    /// Classify, verify, normalize, keep the payload: the pipeline minus storage.
    fn run(&self) -> usize {
        let request = InboundRequest::new(&self.key, &self.headers, &self.body);
        let Ok(Classification::Event(route)) = self.github.classify(&request) else {
            panic!("an event");
        };
        let now = integrations::core::Timestamp::from_unix_seconds(1_767_225_600);
        let verified = self
            .source
            .scheme()
            .verify(&self.headers, &self.body, &self.secrets, now)
            .expect("verified");
        let normalized = self
            .github
            .normalize(
                &request,
                &NormalizeContext::new(&route, now).with_signed_at(verified.signed_at),
            )
            .expect("normalized");
        let payload = raw_json(String::from_utf8(self.body.clone()).expect("UTF-8")).expect("JSON");
        normalized.event_type.as_str().len() + payload.get().len() + route.dedup_id.len()
    }

    /// Verify and normalize alone, as `@octokit/webhooks-methods` `verify` + `JSON.parse`
    /// do on Node (`benches/peers/run`): no routing, no copy of the payload.
    fn verify_normalize(&self, route: &EventRoute) -> usize {
        let request = InboundRequest::new(&self.key, &self.headers, &self.body);
        let now = integrations::core::Timestamp::from_unix_seconds(1_767_225_600);
        let verified = self
            .source
            .scheme()
            .verify(&self.headers, &self.body, &self.secrets, now)
            .expect("verified");
        let normalized = self
            .github
            .normalize(
                &request,
                &NormalizeContext::new(route, now).with_signed_at(verified.signed_at),
            )
            .expect("normalized");
        normalized.event_type.as_str().len() + normalized.subject.map_or(0, |s| s.id.len())
    }
}

fn output_directory() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("criterion-webhook")
}

fn median_nanos(name: &str) -> Option<f64> {
    let path = output_directory()
        .join("webhook")
        .join(name)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["median"]["point_estimate"].as_f64()
}

fn main() {
    let mut criterion = Criterion::default()
        .output_directory(&output_directory())
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(50)
        .configure_from_args();

    let body = compact(PAYLOAD);
    let github = GitHub::cloud();
    let signer = WebhookSigner::for_definition(&github, SECRET).expect("a source");
    let now = integrations::core::Timestamp::from_unix_seconds(1_767_225_600);
    let first = signer
        .sign(
            &Delivery::new(&body, now)
                .with_id("72d3162e-cc78-11e3-81ab-4c9367dc0958")
                .with_event("issue_comment"),
        )
        .expect("signed");
    let ours = Ours {
        key: "github::github-cloud".parse().expect("key"),
        headers: first.headers(),
        source: signer.source().clone(),
        github,
        body: body.clone(),
        secrets: [Secret::new(SECRET)],
    };

    // The whole pipeline on an in-memory host: a target and a connection stored, a new
    // delivery id each time (signing is outside the measurement).
    // The sinks keep nothing: `TestHost`'s recording sinks keep every 14 kB payload, and
    // a heap growing through the run made the figure depend on the run's length.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let clock = Arc::new(ManualClock::default());
    clock.set(now);
    let host = Host::builder()
        .stores(Arc::new(MemoryStore::new()))
        .cipher(Arc::new(AesGcmKeyRing::new("bench", [7; 32]).expect("key")))
        .clock(clock)
        .audit(Arc::new(TracingAuditSink::new()))
        .events(Arc::new(DiscardEvents))
        .build()
        .expect("a webhook host");
    let registry = Arc::new(integrations::definitions::registry());
    let ingest = Ingest::new(registry.clone(), host.clone()).expect("ingest");
    runtime.block_on(async {
        let service = WriteService::new(registry, host.clone());
        let tenant = TenantId::new("acme").expect("tenant");
        let target = TargetId::new("gh").expect("target");
        service
            .put_target(
                TargetInput::new(tenant.clone(), target.clone(), ours.key.clone())
                    .with_secrets(serde_json::json!({"webhook_secret": SECRET})),
            )
            .await
            .expect("target");
        service
            .put_connection(
                ConnectionInput::new(
                    tenant,
                    ConnectionId::new("gh-1").expect("id"),
                    target,
                    "api-key".parse().expect("method"),
                )
                .with_secret("token", "ghp_bench")
                .with_external_subject("1"),
            )
            .await
            .expect("connection");
    });
    let counter = AtomicU64::new(0);

    {
        let mut group = criterion.benchmark_group("webhook");
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("floor", |b| {
            b.iter(|| floor(black_box(SECRET.as_bytes()), black_box(&body)));
        });
        group.bench_function("floor_hmac_only", |b| {
            b.iter(|| {
                let mut mac =
                    <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes())
                        .expect("any key");
                mac.update(black_box(&body));
                mac.finalize().into_bytes()[0]
            });
        });
        group.bench_function("floor_value_only", |b| {
            b.iter(|| {
                serde_json::from_slice::<serde_json::Value>(black_box(&body))
                    .expect("JSON")
                    .is_object()
            });
        });
        // The floor of any receiver that verifies and then reads the JSON validated, as
        // `verify_normalize` must: the HMAC plus one validating pass that keeps nothing.
        group.bench_function("floor_hmac_validate", |b| {
            b.iter(|| {
                let mut mac =
                    <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes())
                        .expect("any key");
                mac.update(black_box(&body));
                let tag = mac.finalize().into_bytes()[0];
                serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&body)).expect("JSON");
                tag
            });
        });
        group.bench_function("ours", |b| b.iter(|| black_box(&ours).run()));
        let request = InboundRequest::new(&ours.key, &ours.headers, &ours.body);
        let Ok(Classification::Event(route)) = ours.github.classify(&request) else {
            panic!("an event");
        };
        group.bench_function("verify_normalize", |b| {
            b.iter(|| black_box(&ours).verify_normalize(black_box(&route)));
        });
        group.bench_function("ingest", |b| {
            b.to_async(&runtime).iter_batched(
                || {
                    let id = format!("delivery-{}", counter.fetch_add(1, Ordering::Relaxed));
                    signer
                        .sign(
                            &Delivery::new(&body, now)
                                .with_id(&id)
                                .with_event("issue_comment"),
                        )
                        .expect("signed")
                        .request(&ours.key)
                },
                |request| async { ingest.ingest(request).await.expect("ingested").outcome },
                BatchSize::SmallInput,
            );
        });
        group.finish();
    }
    criterion.final_summary();

    if let (Some(ours), Some(floor), Some(hmac), Some(value), Some(ingest)) = (
        median_nanos("ours"),
        median_nanos("floor"),
        median_nanos("floor_hmac_only"),
        median_nanos("floor_value_only"),
        median_nanos("ingest"),
    ) {
        #[allow(clippy::print_stdout, reason = "the bench reports its ratio")]
        {
            println!(
                "webhook: {} bytes; medians: floor {floor:.0} ns (HMAC {hmac:.0} ns, Value {value:.0} ns), \
                 ours {ours:.0} ns, whole ingest {ingest:.0} ns; ratio ours/floor {:.2}, ingest/floor {:.2}",
                body.len(),
                ours / floor,
                ingest / floor
            );
        }
    }
}
