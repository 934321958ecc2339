//! The signature schemes' header parsers: Standard Webhooks (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature` with several `v1,` signatures), Slack `v0`
//! (`x-slack-signature` over `v0:{ts}:{body}` with `x-slack-request-timestamp`) and
//! HMAC-SHA256 hex with a prefix (GitHub).

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use integrations_core::webhook::{
    Headers, HmacHexScheme, SignRequest, SignatureScheme, SlackScheme, StandardScheme,
};
use integrations_core::{Secret, Timestamp};

use crate::{NOW, WEBHOOK_SECRET};

fn scheme(which: u8) -> SignatureScheme {
    match which % 3 {
        0 => StandardScheme::new("webhook-id", "webhook-timestamp", "webhook-signature").into(),
        1 => SlackScheme::new("x-slack-signature", "x-slack-request-timestamp").into(),
        _ => HmacHexScheme::new("x-hub-signature-256")
            .with_prefix("sha256=")
            .into(),
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    which: u8,
    id: String,
    timestamp: String,
    signature: String,
    extra_signatures: Vec<String>,
    skew_secs: i16,
    body: Vec<u8>,
}

/// Properties: parsing any header values never panics and never verifies; a delivery the
/// scheme signed verifies at its signing time, also among other (bogus) signatures for
/// Standard Webhooks, and stops verifying when its body changes.
pub fn signature_headers(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let scheme = scheme(input.which);
    let secrets = [Secret::new(WEBHOOK_SECRET)];
    let skew = Duration::from_secs(u64::from(input.skew_secs.unsigned_abs()));
    let now = if input.skew_secs < 0 {
        NOW.saturating_sub(skew)
    } else {
        NOW.saturating_add(skew)
    };

    // 1. The fuzzer's own headers: never verified.
    let mut forged = Headers::new();
    forged.set("webhook-id", &input.id);
    forged.set("webhook-timestamp", &input.timestamp);
    forged.set("x-slack-request-timestamp", &input.timestamp);
    let mut signature = input.signature.clone();
    for extra in &input.extra_signatures {
        signature.push(' ');
        signature.push_str(extra);
    }
    forged.set("webhook-signature", &signature);
    forged.set("x-slack-signature", &signature);
    forged.set("x-hub-signature-256", &signature);
    assert!(
        scheme.verify(&forged, &input.body, &secrets, now).is_err(),
        "forged headers verified"
    );

    // 2. Signed by the scheme: verifies at its time, even among bogus signatures.
    // An id travels in a header: visible ASCII, and no `.` (the signed content's
    // separator).
    let id = if input.id.is_empty()
        || input.id.contains('.')
        || !input.id.bytes().all(|b| b.is_ascii_graphic())
    {
        "msg_fuzz"
    } else {
        input.id.as_str()
    };
    let signed_at = Timestamp::from_unix_seconds(NOW.unix_seconds());
    let request = SignRequest::new(&input.body, &secrets[0], signed_at).with_id(id);
    let Ok(signed) = scheme.sign(&request) else {
        return;
    };
    let mut headers = Headers::new();
    for (name, value) in &signed {
        headers.set(name, value);
    }
    let verified = scheme.verify(&headers, &input.body, &secrets, signed_at);
    assert!(
        verified.is_ok(),
        "a signed delivery did not verify: {verified:?} scheme {} headers {signed:?} body {:?}",
        scheme.name(),
        input.body
    );

    if let Some(value) = signed.get("webhook-signature") {
        let mut many = input
            .extra_signatures
            .iter()
            .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
            .cloned()
            .collect::<Vec<_>>();
        many.push(value.clone());
        let mut headers = headers.clone();
        headers.set("webhook-signature", many.join(" "));
        assert!(
            scheme
                .verify(&headers, &input.body, &secrets, signed_at)
                .is_ok(),
            "a valid signature among others did not verify"
        );
    }

    let mut changed = input.body.clone();
    changed.push(b' ');
    assert!(
        scheme
            .verify(&headers, &changed, &secrets, signed_at)
            .is_err(),
        "a changed body verified"
    );
}
