//! Every known-answer vector of `tests/fixtures/signatures/known-answer-vectors.json`,
//! positive and negative, against the scheme catalog.

use std::time::Duration;

use integrations_core::webhook::{
    BodyTimestamp, Headers, HmacHexScheme, SignRequest, SignatureScheme, SlackScheme,
    StandardScheme, TimestampUnit, codes,
};
use integrations_core::{Error, Secret, Timestamp};
use serde_json::Value;

const VECTORS: &str = include_str!("../fixtures/signatures/known-answer-vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn vector(id: &str) -> Value {
    vectors()["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no vector {id}"))
        .clone()
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {field}"))
}

fn github() -> SignatureScheme {
    HmacHexScheme::new("X-Hub-Signature-256")
        .with_prefix("sha256=")
        .into()
}

fn slack() -> SignatureScheme {
    SlackScheme::new("X-Slack-Signature", "X-Slack-Request-Timestamp").into()
}

fn standard() -> SignatureScheme {
    StandardScheme::new("webhook-id", "webhook-timestamp", "webhook-signature").into()
}

fn linear() -> SignatureScheme {
    HmacHexScheme::new("Linear-Signature")
        .with_body_timestamp(
            BodyTimestamp::new(
                "webhookTimestamp",
                TimestampUnit::Milliseconds,
                Duration::from_secs(60),
            )
            .with_header_fallback("linear-timestamp"),
        )
        .into()
}

/// The scheme a vector is for.
fn scheme_of(id: &str) -> SignatureScheme {
    match id {
        "github-docs" | "github-docs-sha1-legacy" => github(),
        "slack-docs" | "slack-derived-json" => slack(),
        "standard-webhooks" | "openai-sdk" => standard(),
        "linear-derived" => linear(),
        other => panic!("a vector this test does not know: {other}"),
    }
}

fn headers_of(v: &Value) -> Headers {
    v["expected_header"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
        .collect()
}

fn now_of(v: &Value) -> Timestamp {
    if let Some(ms) = v["verify_with_now_ms"].as_i64() {
        Timestamp::from_unix_millis(ms)
    } else if let Some(s) = v["verify_with_now"].as_i64() {
        Timestamp::from_unix_seconds(s)
    } else {
        // No timestamp is signed (GitHub): any time verifies.
        Timestamp::from_unix_seconds(1_767_225_600)
    }
}

fn verify(v: &Value, headers: &Headers, body: &str, now: Timestamp) -> Result<(), Error> {
    let secret = Secret::new(text(v, "secret"));
    scheme_of(text(v, "id"))
        .verify(headers, body.as_bytes(), &[secret], now)
        .map(|_| ())
}

#[test]
fn every_positive_vector_verifies_and_signs_to_the_published_value() {
    let all = vectors();
    let mut checked = 0;
    for v in all["vectors"].as_array().unwrap() {
        let id = text(v, "id");
        if id == "github-docs-sha1-legacy" {
            continue; // checked below: SHA-1 is never used to verify.
        }
        let headers = headers_of(v);
        let body = text(v, "body");
        let now = now_of(v);
        verify(v, &headers, body, now).unwrap_or_else(|e| panic!("{id}: {e:?}"));

        // Signing the same inputs gives the published header values.
        let secret = Secret::new(text(v, "secret"));
        let at = v["timestamp"]
            .as_str()
            .map_or(now, |t| Timestamp::from_unix_seconds(t.parse().unwrap()));
        let mut request = SignRequest::new(body.as_bytes(), &secret, at);
        if let Some(msg_id) = v["msg_id"].as_str() {
            request = request.with_id(msg_id);
        }
        let signed = scheme_of(id).sign(&request).unwrap();
        let scheme = scheme_of(id);
        let header = scheme.signature_header();
        assert_eq!(
            signed.get(header).map(String::as_str),
            headers.get(header),
            "{id}: signing gives the published signature"
        );
        checked += 1;
    }
    assert_eq!(checked, 6);
}

#[test]
fn github_hex_alone_matches_the_published_digest() {
    let v = vector("github-docs");
    let bare = HmacHexScheme::new("x-hub-signature-256");
    let secret = Secret::new(text(&v, "secret"));
    let signed = SignatureScheme::from(bare)
        .sign(&SignRequest::new(
            text(&v, "body").as_bytes(),
            &secret,
            Timestamp::UNIX_EPOCH,
        ))
        .unwrap();
    assert_eq!(signed["x-hub-signature-256"], text(&v, "expected_hex"));
}

#[test]
fn the_legacy_sha1_header_is_never_accepted() {
    // The vector is documented as "do not use for verification": a delivery carrying
    // only the SHA-1 header is refused for lack of the SHA-256 one.
    let v = vector("github-docs-sha1-legacy");
    let headers = headers_of(&v);
    assert!(headers.get("x-hub-signature").unwrap().starts_with("sha1="));
    let err = verify(&v, &headers, text(&v, "body"), now_of(&v)).unwrap_err();
    assert_eq!(err.code(), codes::MISSING_HEADER);
}

#[test]
fn every_negative_case_is_handled_as_documented() {
    let all = vectors();
    let cases = all["negative_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let against = vector(text(case, "against"));
        let id = text(&against, "id");
        let mut headers = headers_of(&against);
        let mut body = text(&against, "body").to_owned();
        let mut now = now_of(&against);
        if let Some(b) = case["body"].as_str() {
            body = b.to_owned();
        }
        if let Some(value) = case["header_value"].as_str() {
            headers.set(scheme_of(id).signature_header(), value);
        }
        if let Some(value) = case["webhook-signature"].as_str() {
            headers.set("webhook-signature", value);
        }
        if let Some(s) = case["verify_with_now"].as_i64() {
            now = Timestamp::from_unix_seconds(s);
        }
        if let Some(ms) = case["verify_with_now_ms"].as_i64() {
            now = Timestamp::from_unix_millis(ms);
        }
        let expect = text(case, "expect");
        let result = verify(&against, &headers, &body, now);
        if expect.starts_with("accept") {
            result.unwrap_or_else(|e| panic!("{id} {expect}: {e:?}"));
        } else {
            let err = result.expect_err(expect);
            let want = if expect.contains("old") || expect.contains("skew") {
                codes::TIMESTAMP_OUT_OF_WINDOW
            } else if expect.contains("body changed") {
                codes::SIGNATURE_MISMATCH
            } else {
                // A missing prefix, a truncated signature, an unknown version: not a
                // signature in the scheme's format.
                codes::MALFORMED_SIGNATURE
            };
            assert_eq!(err.code(), want, "{id}: {expect}");
        }
    }
}

#[test]
fn windows_are_inclusive_at_the_edge() {
    let slack_v = vector("slack-docs");
    let headers = headers_of(&slack_v);
    let body = text(&slack_v, "body");
    let ts = 1_531_420_618;
    for (now, ok) in [
        (ts + 300, true),
        (ts - 300, true),
        (ts + 301, false),
        (ts - 301, false),
    ] {
        let result = verify(&slack_v, &headers, body, Timestamp::from_unix_seconds(now));
        assert_eq!(result.is_ok(), ok, "slack now={now}");
    }
    let linear_v = vector("linear-derived");
    let headers = headers_of(&linear_v);
    let body = text(&linear_v, "body");
    let ms = 1_676_056_940_508;
    for (now, ok) in [
        (ms + 60_000, true),
        (ms - 60_000, true),
        (ms + 60_001, false),
        (ms - 60_001, false),
    ] {
        let result = verify(&linear_v, &headers, body, Timestamp::from_unix_millis(now));
        assert_eq!(result.is_ok(), ok, "linear now={now}");
    }
    let openai_v = vector("openai-sdk");
    let headers = headers_of(&openai_v);
    let body = text(&openai_v, "body");
    let ts = 1_750_861_210;
    for (now, ok) in [(ts + 300, true), (ts - 300, true), (ts - 301, false)] {
        let result = verify(&openai_v, &headers, body, Timestamp::from_unix_seconds(now));
        assert_eq!(result.is_ok(), ok, "openai now={now}");
    }
}
