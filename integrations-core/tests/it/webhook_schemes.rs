//! The scheme catalog's guarantees: any single-byte change to a body, signature,
//! timestamp or id is rejected; replays outside the window are rejected; secrets rotate;
//! empty secrets are refused; no error carries the expected signature or the secret.
//! Plus a proptest: sign then verify round-trips for every scheme, and a flipped bit
//! always fails.

use std::time::Duration;

use integrations_core::webhook::{
    BodyTimestamp, Headers, HmacHexScheme, SignRequest, SignatureScheme, SlackScheme,
    StandardScheme, TimestampUnit, codes,
};
use integrations_core::{Error, Secret, Timestamp};
use integrations_testkit::assert_secret_free;
use proptest::prelude::*;

const SECRET: &str = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHMtMDEyMzQ1Njc4OQ==";
const AT: i64 = 1_767_225_600;
const ID: &str = "msg_2mVbDLJ3bzLB9ktDQ2vyXc";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Prefixed,
    BodyTimestamp,
    Slack,
    Standard,
}

const KINDS: [Kind; 4] = [
    Kind::Prefixed,
    Kind::BodyTimestamp,
    Kind::Slack,
    Kind::Standard,
];

fn scheme(kind: Kind) -> SignatureScheme {
    match kind {
        Kind::Prefixed => HmacHexScheme::new("x-signature-256")
            .with_prefix("sha256=")
            .into(),
        Kind::BodyTimestamp => HmacHexScheme::new("x-signature")
            .with_body_timestamp(BodyTimestamp::new(
                "sentAt",
                TimestampUnit::Milliseconds,
                Duration::from_secs(60),
            ))
            .into(),
        Kind::Slack => SlackScheme::new("x-sig", "x-sig-timestamp").into(),
        Kind::Standard => {
            StandardScheme::new("webhook-id", "webhook-timestamp", "webhook-signature").into()
        }
    }
}

/// The headers each scheme signs (besides the signature itself).
fn signed_headers(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Prefixed | Kind::BodyTimestamp => &[],
        Kind::Slack => &["x-sig-timestamp"],
        Kind::Standard => &["webhook-id", "webhook-timestamp"],
    }
}

fn at() -> Timestamp {
    Timestamp::from_unix_seconds(AT)
}

/// A JSON body; for the body-timestamp scheme it carries the signed time.
fn body(kind: Kind, at: Timestamp, text: &str) -> Vec<u8> {
    let text = serde_json::to_string(text).unwrap();
    match kind {
        Kind::BodyTimestamp => format!(
            r#"{{"action":"create","sentAt":{},"data":{{"title":{text}}}}}"#,
            at.unix_millis()
        )
        .into_bytes(),
        _ => format!(r#"{{"action":"create","data":{{"title":{text}}}}}"#).into_bytes(),
    }
}

fn sign(kind: Kind, body: &[u8], secret: &str, at: Timestamp) -> Headers {
    let secret = Secret::new(secret);
    scheme(kind)
        .sign(&SignRequest::new(body, &secret, at).with_id(ID))
        .unwrap()
        .iter()
        .collect()
}

fn verify(kind: Kind, headers: &Headers, body: &[u8], now: Timestamp) -> Result<usize, Error> {
    scheme(kind)
        .verify(headers, body, &[Secret::new(SECRET)], now)
        .map(|v| v.secret_index)
}

/// Every single-byte variant of `value`: each position incremented, and with its top bit
/// flipped.
fn byte_variants(value: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    (0..value.len()).flat_map(move |i| {
        [value[i].wrapping_add(1), value[i] ^ 0x80].map(|b| {
            let mut v = value.to_vec();
            v[i] = b;
            v
        })
    })
}

#[test]
fn any_single_byte_change_to_body_signature_timestamp_or_id_is_rejected() {
    for kind in KINDS {
        let body = body(
            kind,
            at(),
            "Spelling error in the README \"file\" — ünïcode",
        );
        let headers = sign(kind, &body, SECRET, at());
        assert_eq!(verify(kind, &headers, &body, at()).unwrap(), 0, "{kind:?}");

        let mut tried = 0;
        for changed in byte_variants(&body) {
            assert!(
                verify(kind, &headers, &changed, at()).is_err(),
                "{kind:?}: a changed body verified"
            );
            tried += 1;
        }
        let scheme = scheme(kind);
        let mut names = vec![scheme.signature_header()];
        names.extend(signed_headers(kind));
        for name in names {
            let value = headers.get(name).unwrap().as_bytes().to_vec();
            for changed in byte_variants(&value) {
                let mut tampered = headers.clone();
                tampered.set(name, &changed);
                assert!(
                    verify(kind, &tampered, &body, at()).is_err(),
                    "{kind:?}: a changed {name} verified"
                );
                tried += 1;
            }
        }
        assert!(tried > 200, "{kind:?}: {tried}");
    }
}

#[test]
fn replays_outside_the_window_are_rejected() {
    for (kind, window) in [
        (Kind::BodyTimestamp, Duration::from_secs(60)),
        (Kind::Slack, Duration::from_secs(300)),
        (Kind::Standard, Duration::from_secs(300)),
    ] {
        let body = body(kind, at(), "x");
        let headers = sign(kind, &body, SECRET, at());
        assert!(verify(kind, &headers, &body, at().saturating_add(window)).is_ok());
        assert!(verify(kind, &headers, &body, at().saturating_sub(window)).is_ok());
        for now in [
            at().saturating_add(window + Duration::from_secs(1)),
            at().saturating_sub(window + Duration::from_secs(1)),
            at().saturating_add(Duration::from_secs(86_400)),
        ] {
            let err = verify(kind, &headers, &body, now).unwrap_err();
            assert_eq!(err.code(), codes::TIMESTAMP_OUT_OF_WINDOW, "{kind:?}");
        }
    }
    // GitHub-style signatures carry no time: only delivery-id deduplication stops a
    // replay, which the ingest tests cover.
    let body = body(Kind::Prefixed, at(), "x");
    let headers = sign(Kind::Prefixed, &body, SECRET, at());
    assert!(
        verify(
            Kind::Prefixed,
            &headers,
            &body,
            at().saturating_add(Duration::from_secs(86_400))
        )
        .is_ok()
    );
}

#[test]
fn several_secrets_are_accepted_for_rotation() {
    for kind in KINDS {
        let body = body(kind, at(), "rotation");
        let old = "whsec_b2xkLXNlY3JldC1iZWluZy1yb3RhdGVkLW91dA==";
        let headers = sign(kind, &body, old, at());
        let both = [Secret::new(SECRET), Secret::new(old)];
        let verified = scheme(kind).verify(&headers, &body, &both, at()).unwrap();
        assert_eq!(verified.secret_index, 1, "{kind:?}");
        let err = verify(kind, &headers, &body, at()).unwrap_err();
        assert_eq!(err.code(), codes::SIGNATURE_MISMATCH, "{kind:?}");
    }
    // Standard Webhooks senders rotate by sending two signatures at once.
    let body = body(Kind::Standard, at(), "two signatures");
    let new = sign(Kind::Standard, &body, SECRET, at());
    let old = sign(
        Kind::Standard,
        &body,
        "whsec_b2xkLXNlY3JldC1iZWluZy1yb3RhdGVkLW91dA==",
        at(),
    );
    let mut headers = new.clone();
    headers.set(
        "webhook-signature",
        format!(
            "{} {}",
            old.get("webhook-signature").unwrap(),
            new.get("webhook-signature").unwrap()
        ),
    );
    assert!(verify(Kind::Standard, &headers, &body, at()).is_ok());
}

#[test]
fn empty_and_absent_secrets_are_refused() {
    for kind in KINDS {
        let body = body(kind, at(), "x");
        let headers = sign(kind, &body, SECRET, at());
        let s = scheme(kind);
        let err = s.verify(&headers, &body, &[], at()).unwrap_err();
        assert_eq!(err.code(), codes::NO_SECRET);
        let err = s
            .verify(
                &headers,
                &body,
                &[Secret::new(SECRET), Secret::new("")],
                at(),
            )
            .unwrap_err();
        assert_eq!(err.code(), codes::EMPTY_SECRET);
        let empty = Secret::new("");
        let err = s
            .sign(&SignRequest::new(&body, &empty, at()).with_id(ID))
            .unwrap_err();
        assert_eq!(err.code(), codes::EMPTY_SECRET);
    }
    let s = scheme(Kind::Standard);
    for (secret, code) in [
        ("whsec_", codes::EMPTY_SECRET),
        ("whsec_%%%", codes::INVALID_SECRET),
    ] {
        let secret = Secret::new(secret);
        let err = s
            .sign(&SignRequest::new(b"{}", &secret, at()).with_id(ID))
            .unwrap_err();
        assert_eq!(err.code(), code);
        let err = s
            .verify(&Headers::new(), b"{}", std::slice::from_ref(&secret), at())
            .unwrap_err();
        assert_eq!(err.code(), code);
        if secret.expose().len() > "whsec_".len() {
            assert_secret_free(&err, secret.expose());
            assert_secret_free(&err, "%%%");
        }
    }
    let secret = Secret::new(SECRET);
    let err = s.sign(&SignRequest::new(b"{}", &secret, at())).unwrap_err();
    assert_eq!(err.code(), codes::MISSING_ID);
}

#[test]
fn missing_and_malformed_headers_are_named_failures() {
    for kind in KINDS {
        let body = body(kind, at(), "x");
        let headers = sign(kind, &body, SECRET, at());
        let scheme = scheme(kind);
        let mut names = vec![scheme.signature_header()];
        names.extend(signed_headers(kind));
        for name in names {
            let mut without = headers.clone();
            without.remove(name);
            let err = verify(kind, &without, &body, at()).unwrap_err();
            assert_eq!(err.code(), codes::MISSING_HEADER, "{kind:?} {name}");
            assert!(err.message().contains(name));
        }
    }
    let body = body(Kind::Slack, at(), "x");
    let mut headers = sign(Kind::Slack, &body, SECRET, at());
    headers.set("x-sig-timestamp", "soon");
    let err = verify(Kind::Slack, &headers, &body, at()).unwrap_err();
    assert_eq!(err.code(), codes::MALFORMED_TIMESTAMP);

    // The body-timestamp scheme needs its timestamp, after the signature verified.
    let no_time = br#"{"action":"create"}"#;
    let headers = sign(Kind::BodyTimestamp, no_time, SECRET, at());
    let err = verify(Kind::BodyTimestamp, &headers, no_time, at()).unwrap_err();
    assert_eq!(err.code(), codes::MISSING_TIMESTAMP);
}

#[test]
fn a_body_timestamp_header_fallback_is_used_only_without_the_field() {
    let scheme: SignatureScheme = HmacHexScheme::new("linear-signature")
        .with_body_timestamp(
            BodyTimestamp::new(
                "webhookTimestamp",
                TimestampUnit::Milliseconds,
                Duration::from_secs(60),
            )
            .with_header_fallback("Linear-Timestamp"),
        )
        .into();
    let secret = Secret::new("lin_wh_secret");
    let old_body = br#"{"action":"create","type":"Issue"}"#;
    let signed = scheme
        .sign(&SignRequest::new(old_body, &secret, at()))
        .unwrap();
    assert_eq!(signed["linear-timestamp"], (AT * 1000).to_string());
    let headers: Headers = signed.iter().collect();
    let secrets = [secret];
    assert!(scheme.verify(&headers, old_body, &secrets, at()).is_ok());
    let late = at().saturating_add(Duration::from_secs(61));
    assert_eq!(
        scheme
            .verify(&headers, old_body, &secrets, late)
            .unwrap_err()
            .code(),
        codes::TIMESTAMP_OUT_OF_WINDOW
    );
    // With the field in the body, the (unsigned) header is ignored.
    let new_body = format!(r#"{{"type":"Issue","webhookTimestamp":{}}}"#, AT * 1000);
    let mut headers: Headers = scheme
        .sign(&SignRequest::new(new_body.as_bytes(), &secrets[0], at()))
        .unwrap()
        .iter()
        .collect();
    headers.set("linear-timestamp", "1");
    assert!(
        scheme
            .verify(&headers, new_body.as_bytes(), &secrets, at())
            .is_ok()
    );
}

#[test]
fn no_error_carries_the_expected_signature_or_the_secret() {
    for kind in KINDS {
        let body = body(kind, at(), "x");
        let headers = sign(kind, &body, SECRET, at());
        let scheme = scheme(kind);
        let expected = headers.get(scheme.signature_header()).unwrap().to_owned();
        // The bare digest, without prefix or version.
        let digest = expected
            .rsplit(['=', ','])
            .find(|part| part.len() > 20)
            .unwrap_or(&expected)
            .to_owned();
        let mut failures: Vec<Error> = Vec::new();
        let mut wrong = headers.clone();
        wrong.set(
            scheme.signature_header(),
            sign(kind, &body, "whsec_d3JvbmctZGlmZmVyZW50LXNlY3JldA==", at())
                .get(scheme.signature_header())
                .unwrap(),
        );
        failures.push(verify(kind, &wrong, &body, at()).unwrap_err());
        failures.push(verify(kind, &headers, b"{\"tampered\":true}", at()).unwrap_err());
        let mut malformed = headers.clone();
        malformed.set(scheme.signature_header(), "garbage");
        failures.push(verify(kind, &malformed, &body, at()).unwrap_err());
        failures.push(
            verify(
                kind,
                &headers,
                &body,
                at().saturating_add(Duration::from_secs(90_000)),
            )
            .err()
            .unwrap_or_else(|| verify(kind, &wrong, &body, at()).unwrap_err()),
        );
        for err in &failures {
            assert_secret_free(err, &digest);
            assert_secret_free(err, &expected);
            assert_secret_free(err, SECRET);
            assert_secret_free(err, SECRET.trim_start_matches("whsec_"));
        }
        assert!(
            failures
                .iter()
                .any(|e| e.code() == codes::SIGNATURE_MISMATCH)
        );
    }
}

fn arbitrary_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn sign_then_verify_round_trips_and_a_flipped_bit_fails(
        raw in proptest::collection::vec(any::<u8>(), 0..400),
        secret in "[!-~]{1,48}",
        seconds in 1_000_000_000i64..4_000_000_000,
        kind_index in 0usize..4,
        position in any::<proptest::sample::Index>(),
        bit in 0u8..8,
    ) {
        let kind = KINDS[kind_index];
        let at = Timestamp::from_unix_seconds(seconds);
        // Raw bytes for the schemes that do not read the body; a JSON body carrying the
        // signed time for the one that does.
        let body = match kind {
            Kind::BodyTimestamp => body(kind, at, &arbitrary_text(&raw)),
            _ => raw.clone(),
        };
        let secrets = [Secret::new(secret.clone())];
        let headers = sign(kind, &body, &secret, at);
        let s = scheme(kind);
        prop_assert!(s.verify(&headers, &body, &secrets, at).is_ok());

        // A flipped bit in the body.
        if !body.is_empty() {
            let mut flipped = body.clone();
            let i = position.index(flipped.len());
            flipped[i] ^= 1 << bit;
            prop_assert!(s.verify(&headers, &flipped, &secrets, at).is_err());
        }
        // A flipped bit in the signature header.
        let value = headers.get(s.signature_header()).unwrap().as_bytes().to_vec();
        let mut flipped = value.clone();
        let i = position.index(flipped.len());
        flipped[i] ^= 1 << bit;
        let mut tampered = headers.clone();
        tampered.set(s.signature_header(), &flipped);
        prop_assert!(s.verify(&tampered, &body, &secrets, at).is_err());
        // A flipped bit in each signed header.
        for name in signed_headers(kind) {
            let value = headers.get(name).unwrap().as_bytes().to_vec();
            let mut flipped = value.clone();
            let i = position.index(flipped.len());
            flipped[i] ^= 1 << bit;
            let mut tampered = headers.clone();
            tampered.set(name, &flipped);
            prop_assert!(s.verify(&tampered, &body, &secrets, at).is_err());
        }
    }
}
