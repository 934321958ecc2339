//! Shared harness code for the fuzz targets: each target is a thin `fuzz_target!` over one
//! of these functions, so the same checks also run from the regression tests that replay
//! the corpus (`cargo test` in this crate).

use std::sync::OnceLock;

use integrations_core::webhook::{
    Classification, Headers, InboundRequest, NormalizeContext, SignRequest, WebhookHandler,
};
use integrations_core::{DefinitionKey, Error, Registry, Secret, Timestamp};

pub mod egress;
pub mod mcp;
pub mod signatures;
pub mod token;

/// The instant every target treats as "now".
pub const NOW: Timestamp = Timestamp::from_unix_seconds(1_767_225_600);

/// A secret every scheme accepts: Standard Webhooks needs `whsec_` and base64.
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The shipped registry, built once per process.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(integrations_definitions::registry)
}

/// Header names a provider's deliveries carry, so the fuzzer reaches each branch.
const HEADER_NAMES: &[&str] = &[
    "content-type",
    "user-agent",
    "x-github-event",
    "x-github-delivery",
    "x-github-hook-installation-target-id",
    "x-github-hook-installation-target-type",
    "x-hub-signature-256",
    "linear-delivery",
    "linear-event",
    "linear-signature",
    "linear-timestamp",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-slack-retry-num",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "application/x-www-form-urlencoded",
    "text/plain",
];

/// One fuzzed delivery: headers chosen from the provider's vocabulary, a body, and
/// whether to sign it with the right secret (so verification passes and normalization
/// is reached) or leave the fuzzer's own signature headers.
///
/// The input format is simple so that seeds can be written from real payloads
/// (`scripts/fuzz-seeds`): a flags byte (bit 7 set: do not sign; bit 6 set: an endpoint
/// follows; bits 0-1: the content type), a header count, each header as a name index and
/// a length-prefixed value, the endpoint as a length-prefixed string, a signed 16-bit
/// clock skew in seconds, and the body.
#[derive(Debug)]
struct Delivery {
    sign: bool,
    headers: Headers,
    body: Vec<u8>,
    endpoint: Option<String>,
    clock_skew_secs: i16,
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if data.len() < n {
        return None;
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Some(head)
}

fn take_string(data: &mut &[u8]) -> Option<String> {
    let len = usize::from(*take(data, 1)?.first()?);
    Some(String::from_utf8_lossy(take(data, len)?).into_owned())
}

impl Delivery {
    fn parse(mut data: &[u8]) -> Option<Self> {
        let flags = *take(&mut data, 1)?.first()?;
        let mut headers = Headers::new();
        headers.set("content-type", CONTENT_TYPES[usize::from(flags & 3)]);
        let count = take(&mut data, 1)?.first()? % 7;
        for _ in 0..count {
            let name =
                HEADER_NAMES[usize::from(*take(&mut data, 1)?.first()?) % HEADER_NAMES.len()];
            let value = take_string(&mut data)?;
            headers.set(name, value);
        }
        let endpoint = if flags & 0x40 == 0 {
            None
        } else {
            Some(take_string(&mut data)?)
        };
        let skew = take(&mut data, 2)?;
        Some(Self {
            sign: flags & 0x80 == 0,
            headers,
            body: data.to_vec(),
            endpoint,
            clock_skew_secs: i16::from_be_bytes([skew[0], skew[1]]),
        })
    }
}

fn assert_no_secret(error: &Error, secret: &str) {
    let text = format!("{error} {error:?}");
    assert!(
        !text.contains(secret) && !text.contains(&secret["whsec_".len()..]),
        "an error shows the webhook secret: {text}"
    );
}

/// Classify, verify and normalize one fuzzed delivery for the definition `key`.
///
/// Properties checked:
/// * nothing panics;
/// * a delivery the harness did not sign never verifies (the fuzzer cannot forge an
///   HMAC), and an error never shows the secret;
/// * a signed delivery classified as an event always verifies.
pub fn webhook(key: &str, data: &[u8]) {
    let Some(delivery) = Delivery::parse(data) else {
        return;
    };
    let key: DefinitionKey = key.parse().expect("a shipped key");
    let entry = registry().get(&key).expect("a shipped definition");
    let source = entry
        .definition()
        .webhook_source()
        .expect("the definition takes webhooks");
    let handler: &dyn WebhookHandler = entry
        .integration()
        .webhooks()
        .expect("the provider handles webhooks");
    let secrets = [Secret::new(WEBHOOK_SECRET)];
    let signed_at = NOW.saturating_sub(std::time::Duration::from_secs(1));
    let mut headers = delivery.headers;
    if delivery.sign {
        let id = headers.get("webhook-id").unwrap_or("msg_fuzz").to_owned();
        let id = if id.is_empty() || id.contains('.') || !id.bytes().all(|b| b.is_ascii_graphic()) {
            "msg_fuzz".to_owned()
        } else {
            id
        };
        let request = SignRequest::new(&delivery.body, &secrets[0], signed_at).with_id(&id);
        match source.scheme().sign(&request) {
            Ok(signed) => {
                for (name, value) in signed {
                    headers.set(&name, value);
                }
            }
            Err(error) => assert_no_secret(&error, WEBHOOK_SECRET),
        }
    }
    let now = if delivery.sign {
        NOW
    } else {
        NOW.saturating_add(std::time::Duration::from_secs(u64::from(
            delivery.clock_skew_secs.unsigned_abs(),
        )))
    };
    let request = InboundRequest::new(&key, &headers, &delivery.body)
        .with_endpoint(delivery.endpoint.as_deref());
    let classified = handler.classify(&request);
    let route = match classified {
        Ok(Classification::Event(route)) => route,
        Ok(_) => return,
        Err(error) => {
            assert_no_secret(&error, WEBHOOK_SECRET);
            return;
        }
    };
    let verified = source
        .scheme()
        .verify(&headers, &delivery.body, &secrets, now);
    let verified = match verified {
        Ok(verified) => {
            assert!(
                delivery.sign,
                "a delivery the harness did not sign verified"
            );
            verified
        }
        Err(error) => {
            assert_no_secret(&error, WEBHOOK_SECRET);
            return;
        }
    };
    let context = NormalizeContext::new(&route, now).with_signed_at(verified.signed_at);
    if let Err(error) = handler.normalize(&request, &context) {
        assert_no_secret(&error, WEBHOOK_SECRET);
    }
}
