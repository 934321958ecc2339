//! The catalog of webhook signature schemes, over raw bytes only.
//!
//! A definition declares its scheme as data ([`SignatureScheme`]: header names, prefix,
//! replay window); the ingest pipeline verifies with it and the testkit signs with it.
//!
//! * [`HmacHexScheme`]: hex HMAC-SHA256 of the body in one header, with an optional
//!   prefix (`sha256=`) and an optional timestamp inside the signed body, checked after
//!   the signature.
//! * [`SlackScheme`]: `v0=` hex HMAC-SHA256 of `v0:{timestamp}:{body}`, with the
//!   timestamp in its own header.
//! * [`StandardScheme`]: [Standard Webhooks](https://www.standardwebhooks.com/): base64
//!   HMAC-SHA256 of `{id}.{timestamp}.{body}` with `whsec_` secrets and a
//!   space-separated list of `v1,` signatures.
//!
//! # Security
//!
//! * Only bytes are signed and verified: no function here takes parsed JSON, so a
//!   signature is never computed over re-serialized text.
//! * Signatures are decoded strictly (lowercase hex, canonical base64), checked for
//!   length, and compared in constant time ([`hmac::Mac::verify_slice`],
//!   [`subtle::ConstantTimeEq`]).
//! * Several secrets are accepted at once, so a secret rotates without downtime. An
//!   empty secret is refused.
//! * The current time is an argument (the host's [`Clock`](crate::host::Clock)), and no
//!   error ever contains the expected signature.

mod hmac_hex;
mod slack;
mod standard;

use std::collections::BTreeMap;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub use self::hmac_hex::{BodyTimestamp, HmacHexScheme, TimestampUnit};
pub use self::slack::SlackScheme;
pub use self::standard::StandardScheme;
use super::{Headers, errors};
use crate::{Error, Secret, Timestamp};

type HmacSha256 = Hmac<Sha256>;

/// The length of an HMAC-SHA256 tag in bytes.
const TAG_LEN: usize = 32;

/// How a provider signs its deliveries. Declared by a definition as data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// Hex HMAC-SHA256 of the body, optionally prefixed, optionally with a timestamp in
    /// the body (GitHub `X-Hub-Signature-256`, Linear `Linear-Signature`).
    HmacHex(HmacHexScheme),
    /// `v0` HMAC-SHA256 over `v0:{timestamp}:{body}` (Slack).
    Slack(SlackScheme),
    /// Standard Webhooks (OpenAI, Svix).
    Standard(StandardScheme),
}

impl From<HmacHexScheme> for SignatureScheme {
    fn from(s: HmacHexScheme) -> Self {
        Self::HmacHex(s)
    }
}

impl From<SlackScheme> for SignatureScheme {
    fn from(s: SlackScheme) -> Self {
        Self::Slack(s)
    }
}

impl From<StandardScheme> for SignatureScheme {
    fn from(s: StandardScheme) -> Self {
        Self::Standard(s)
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The signed timestamp, for schemes that sign one.
    pub signed_at: Option<Timestamp>,
    /// Which of the secrets passed in matched (0-based), for rotation telemetry.
    pub secret_index: usize,
}

/// What to sign: the raw body, the secret, the time and, for schemes that sign one, the
/// message id.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SignRequest<'a> {
    /// The raw body.
    pub body: &'a [u8],
    /// The signing secret.
    pub secret: &'a Secret,
    /// When the delivery is sent.
    pub timestamp: Timestamp,
    /// The message id (Standard Webhooks `webhook-id`).
    pub id: Option<&'a str>,
}

impl<'a> SignRequest<'a> {
    /// A request to sign `body` with `secret` at `timestamp`.
    pub fn new(body: &'a [u8], secret: &'a Secret, timestamp: Timestamp) -> Self {
        Self {
            body,
            secret,
            timestamp,
            id: None,
        }
    }

    /// Sets the message id.
    #[must_use]
    pub fn with_id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }
}

impl SignatureScheme {
    /// A stable name: `hmac-sha256-hex`, `slack-v0` or `standard-webhooks`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::HmacHex(_) => "hmac-sha256-hex",
            Self::Slack(_) => "slack-v0",
            Self::Standard(_) => "standard-webhooks",
        }
    }

    /// The header carrying the signature.
    pub fn signature_header(&self) -> &str {
        match self {
            Self::HmacHex(s) => s.header(),
            Self::Slack(s) => s.signature_header(),
            Self::Standard(s) => s.signature_header(),
        }
    }

    /// The replay window, for schemes that sign a timestamp.
    pub fn tolerance(&self) -> Option<Duration> {
        match self {
            Self::HmacHex(s) => s.body_timestamp().map(BodyTimestamp::tolerance),
            Self::Slack(s) => Some(s.tolerance()),
            Self::Standard(s) => Some(s.tolerance()),
        }
    }

    /// Verifies a delivery against any of `secrets`.
    ///
    /// # Errors
    ///
    /// * [`ErrorKind::Configuration`](crate::ErrorKind::Configuration):
    ///   `webhook.no_secret` (no secrets), `webhook.empty_secret`,
    ///   `webhook.invalid_secret`;
    /// * [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput):
    ///   `webhook.missing_header`, `webhook.malformed_signature`,
    ///   `webhook.malformed_timestamp`, `webhook.invalid_payload` (a body timestamp in a
    ///   body that is not a JSON object);
    /// * [`ErrorKind::Verification`](crate::ErrorKind::Verification):
    ///   `webhook.signature_mismatch`, `webhook.timestamp_out_of_window`,
    ///   `webhook.missing_timestamp`.
    pub fn verify(
        &self,
        headers: &Headers,
        body: &[u8],
        secrets: &[Secret],
        now: Timestamp,
    ) -> Result<Verified, Error> {
        check_secrets(secrets)?;
        match self {
            Self::HmacHex(s) => s.verify(headers, body, secrets, now),
            Self::Slack(s) => s.verify(headers, body, secrets, now),
            Self::Standard(s) => s.verify(headers, body, secrets, now),
        }
    }

    /// Signs a delivery: the headers to send with `request.body`, lowercased names.
    ///
    /// # Errors
    ///
    /// `webhook.empty_secret`, `webhook.invalid_secret`, and `webhook.missing_id` for
    /// Standard Webhooks without an id (or with one containing `.`).
    pub fn sign(&self, request: &SignRequest<'_>) -> Result<BTreeMap<String, String>, Error> {
        check_secrets(std::slice::from_ref(request.secret))?;
        match self {
            Self::HmacHex(s) => Ok(s.sign(request)),
            Self::Slack(s) => Ok(s.sign(request)),
            Self::Standard(s) => s.sign(request),
        }
    }
}

fn check_secrets(secrets: &[Secret]) -> Result<(), Error> {
    if secrets.is_empty() {
        return Err(errors::no_secret());
    }
    if secrets.iter().any(Secret::is_empty) {
        return Err(errors::empty_secret());
    }
    Ok(())
}

fn mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC takes keys of any length, so this never fails; the fallback is unreachable.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| {
        <HmacSha256 as KeyInit>::new(&hmac::digest::Key::<HmacSha256>::default())
    });
    for part in parts {
        mac.update(part);
    }
    mac
}

fn tag(key: &[u8], parts: &[&[u8]]) -> [u8; TAG_LEN] {
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(&mac(key, parts).finalize().into_bytes());
    out
}

/// The index of the first secret whose HMAC of `parts` equals `provided` (constant-time
/// compare after a length check).
fn matching_secret(secrets: &[Secret], parts: &[&[u8]], provided: &[u8]) -> Option<usize> {
    secrets.iter().position(|s| {
        mac(s.expose().as_bytes(), parts)
            .verify_slice(provided)
            .is_ok()
    })
}

/// Strict lowercase hex of exactly one HMAC-SHA256 tag, so that any change to the text
/// changes the bytes (uppercase digits would otherwise decode alike).
fn decode_hex_tag(text: &str) -> Option<[u8; TAG_LEN]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.len() != TAG_LEN * 2 {
        return None;
    }
    let mut out = [0u8; TAG_LEN];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// Parses a Unix time: 1 to 15 ASCII digits (no sign, no spaces), so the text has one
/// spelling per value.
fn parse_unix_digits(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 15 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

/// Whether `at` is within `tolerance` of `now`, either way (inclusive).
fn within(now: Timestamp, at: Timestamp, tolerance: Duration) -> bool {
    now.abs_diff(at) <= tolerance
}

/// Whether a Unix-seconds timestamp is within `tolerance` of `now`, comparing whole
/// seconds as the providers' own libraries do.
fn within_seconds(now: Timestamp, seconds: i64, tolerance: Duration) -> bool {
    now.unix_seconds().abs_diff(seconds) <= tolerance.as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_is_strict() {
        let t = tag(b"k", &[b"body"]);
        let hex = hex::encode(t);
        assert_eq!(decode_hex_tag(&hex), Some(t));
        assert_eq!(decode_hex_tag(&hex.to_uppercase()), None);
        assert_eq!(decode_hex_tag(&hex[..62]), None);
        assert_eq!(decode_hex_tag(&format!("{}zz", &hex[..62])), None);
    }

    #[test]
    fn unix_digits_have_one_spelling() {
        assert_eq!(parse_unix_digits("1531420618"), Some(1_531_420_618));
        assert_eq!(parse_unix_digits("0"), Some(0));
        for bad in ["", "+1", "-1", " 1", "01", "1e3", "1234567890123456"] {
            assert_eq!(parse_unix_digits(bad), None, "{bad}");
        }
    }

    #[test]
    fn parts_are_concatenated() {
        assert_eq!(tag(b"k", &[b"ab", b"c"]), tag(b"k", &[b"abc"]));
        let secrets = [Secret::new("x"), Secret::new("k")];
        assert_eq!(
            matching_secret(&secrets, &[b"abc"], &tag(b"k", &[b"abc"])),
            Some(1)
        );
        assert_eq!(matching_secret(&secrets, &[b"abc"], &[0u8; 31]), None);
    }

    #[test]
    fn secrets_must_exist_and_not_be_empty() {
        assert_eq!(
            check_secrets(&[]).unwrap_err().code(),
            errors::codes::NO_SECRET
        );
        assert_eq!(
            check_secrets(&[Secret::new("a"), Secret::new("")])
                .unwrap_err()
                .code(),
            errors::codes::EMPTY_SECRET
        );
    }
}
