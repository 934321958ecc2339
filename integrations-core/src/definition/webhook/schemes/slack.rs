//! [`SlackScheme`]: a versioned hex HMAC-SHA256 over `{version}:{timestamp}:{body}`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{
    SignRequest, Verified, decode_hex_tag, matching_secret, parse_unix_digits, tag, within_seconds,
};
use crate::definition::webhook::{Headers, errors};
use crate::{Error, Secret, Timestamp};

/// Slack's request signing (version `v0`): the signature header holds
/// `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}`, and the timestamp header holds
/// the Unix time in seconds, accepted within 300 s of now either way.
///
/// The header names come from the definition; the version and window have Slack's
/// defaults.
///
/// ```
/// use integrations_core::{Secret, Timestamp};
/// use integrations_core::webhook::{Headers, SignRequest, SignatureScheme, SlackScheme};
///
/// let scheme = SignatureScheme::from(SlackScheme::new(
///     "X-Slack-Signature",
///     "X-Slack-Request-Timestamp",
/// ));
/// let secret = Secret::new("8f742231b10e8888abcd99yyyzzz85a5");
/// let at = Timestamp::from_unix_seconds(1_531_420_618);
/// let body = br#"{"type":"url_verification","challenge":"c"}"#;
/// let headers: Headers = scheme.sign(&SignRequest::new(body, &secret, at))?.iter().collect();
/// let verified = scheme.verify(&headers, body, &[secret], at)?;
/// assert_eq!(verified.signed_at, Some(at));
/// # Ok::<(), integrations_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlackScheme {
    signature_header: String,
    timestamp_header: String,
    version: String,
    tolerance: Duration,
}

impl SlackScheme {
    /// Version `v0`, a 300-second window, and the given header names (any case).
    pub fn new(signature_header: impl Into<String>, timestamp_header: impl Into<String>) -> Self {
        Self {
            signature_header: signature_header.into().to_ascii_lowercase(),
            timestamp_header: timestamp_header.into().to_ascii_lowercase(),
            version: "v0".to_owned(),
            tolerance: Duration::from_secs(300),
        }
    }

    /// Sets the signature version (the `v0` in `v0=` and `v0:`).
    #[must_use]
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Sets the replay window.
    #[must_use]
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The signature header, lowercased.
    pub fn signature_header(&self) -> &str {
        &self.signature_header
    }

    /// The timestamp header, lowercased.
    pub fn timestamp_header(&self) -> &str {
        &self.timestamp_header
    }

    /// The version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The replay window.
    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    pub(super) fn verify(
        &self,
        headers: &Headers,
        body: &[u8],
        secrets: &[Secret],
        now: Timestamp,
    ) -> Result<Verified, Error> {
        // The window first: a stale or future delivery costs no HMAC.
        let ts_text = headers
            .get(&self.timestamp_header)
            .ok_or_else(|| errors::missing_header(&self.timestamp_header))?;
        let ts = parse_unix_digits(ts_text)
            .ok_or_else(|| errors::malformed_timestamp(&self.timestamp_header))?;
        if !within_seconds(now, ts, self.tolerance) {
            return Err(errors::timestamp_out_of_window(self.tolerance));
        }

        let value = headers
            .get(&self.signature_header)
            .ok_or_else(|| errors::missing_header(&self.signature_header))?;
        let hex = value
            .strip_prefix(self.version.as_str())
            .and_then(|rest| rest.strip_prefix('='))
            .ok_or_else(|| errors::malformed_signature(&self.signature_header))?;
        let provided = decode_hex_tag(hex)
            .ok_or_else(|| errors::malformed_signature(&self.signature_header))?;
        let parts: [&[u8]; 5] = [
            self.version.as_bytes(),
            b":",
            ts_text.as_bytes(),
            b":",
            body,
        ];
        let secret_index =
            matching_secret(secrets, &parts, &provided).ok_or_else(errors::signature_mismatch)?;
        Ok(Verified {
            signed_at: Some(Timestamp::from_unix_seconds(ts)),
            secret_index,
        })
    }

    pub(super) fn sign(&self, request: &SignRequest<'_>) -> BTreeMap<String, String> {
        let ts = request.timestamp.unix_seconds().to_string();
        let parts: [&[u8]; 5] = [
            self.version.as_bytes(),
            b":",
            ts.as_bytes(),
            b":",
            request.body,
        ];
        let hex = hex::encode(tag(request.secret.expose().as_bytes(), &parts));
        BTreeMap::from([
            (
                self.signature_header.clone(),
                format!("{}={hex}", self.version),
            ),
            (self.timestamp_header.clone(), ts),
        ])
    }
}
