//! [`StandardScheme`]: [Standard Webhooks](https://www.standardwebhooks.com/), symmetric
//! `v1` signatures.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use hmac::Mac as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{SignRequest, TAG_LEN, Verified, mac, parse_unix_digits, tag, within_seconds};
use crate::definition::webhook::{Headers, errors};
use crate::{Error, Secret, Timestamp};

/// The prefix of a serialized Standard Webhooks secret.
const SECRET_PREFIX: &str = "whsec_";
/// The signature version this scheme verifies.
const VERSION: &str = "v1";
/// At most this many signatures are considered in one header.
const MAX_SIGNATURES: usize = 16;

/// Standard Webhooks: the id, timestamp (Unix seconds) and signature headers; the
/// signature header is a space-separated list of `v1,<base64>` entries, each a
/// HMAC-SHA256 of `{id}.{timestamp}.{raw body}` keyed with the secret's bytes (for a
/// `whsec_` secret, the base64 after the prefix; otherwise the secret's UTF-8, as the
/// OpenAI SDK does). Accepted within 300 s of now either way; any matching `v1` entry
/// verifies, other versions are ignored.
///
/// ```
/// use integrations_core::{Secret, Timestamp};
/// use integrations_core::webhook::{Headers, SignRequest, SignatureScheme, StandardScheme};
///
/// let scheme = SignatureScheme::from(StandardScheme::new(
///     "webhook-id",
///     "webhook-timestamp",
///     "webhook-signature",
/// ));
/// let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
/// let at = Timestamp::from_unix_seconds(1_614_265_330);
/// let body = br#"{"test": 2432232314}"#;
/// let signed = scheme.sign(
///     &SignRequest::new(body, &secret, at).with_id("msg_p5jXN8AQM9LWM0D4loKWxJek"),
/// )?;
/// assert_eq!(
///     signed["webhook-signature"],
///     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
/// );
/// let headers: Headers = signed.iter().collect();
/// scheme.verify(&headers, body, &[secret], at)?;
/// # Ok::<(), integrations_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StandardScheme {
    id_header: String,
    timestamp_header: String,
    signature_header: String,
    tolerance: Duration,
}

impl StandardScheme {
    /// The given header names (any case) and a 300-second window.
    pub fn new(
        id_header: impl Into<String>,
        timestamp_header: impl Into<String>,
        signature_header: impl Into<String>,
    ) -> Self {
        Self {
            id_header: id_header.into().to_ascii_lowercase(),
            timestamp_header: timestamp_header.into().to_ascii_lowercase(),
            signature_header: signature_header.into().to_ascii_lowercase(),
            tolerance: Duration::from_secs(300),
        }
    }

    /// Sets the replay window.
    #[must_use]
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The message id header, lowercased.
    pub fn id_header(&self) -> &str {
        &self.id_header
    }

    /// The timestamp header, lowercased.
    pub fn timestamp_header(&self) -> &str {
        &self.timestamp_header
    }

    /// The signature header, lowercased.
    pub fn signature_header(&self) -> &str {
        &self.signature_header
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
        let keys = secrets
            .iter()
            .map(key_bytes)
            .collect::<Result<Vec<_>, _>>()?;
        let id = headers
            .get(&self.id_header)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| errors::missing_header(&self.id_header))?;
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
        let provided = parse_signatures(value);
        if provided.is_empty() {
            return Err(errors::malformed_signature(&self.signature_header));
        }

        let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts_text.as_bytes(), b".", body];
        for (index, key) in keys.iter().enumerate() {
            let expected = mac(key, &parts).finalize().into_bytes();
            // Check every entry, so the time taken does not depend on which one matched.
            let mut matched = subtle::Choice::from(0);
            for candidate in &provided {
                matched |= expected.as_slice().ct_eq(candidate.as_slice());
            }
            if bool::from(matched) {
                return Ok(Verified {
                    signed_at: Some(Timestamp::from_unix_seconds(ts)),
                    secret_index: index,
                });
            }
        }
        Err(errors::signature_mismatch())
    }

    pub(super) fn sign(
        &self,
        request: &SignRequest<'_>,
    ) -> Result<BTreeMap<String, String>, Error> {
        let id = request
            .id
            .filter(|id| !id.is_empty() && !id.contains('.'))
            .ok_or_else(|| {
                crate::codes::webhook::MISSING_ID
                    .error("Standard Webhooks signing needs a message id without '.'")
            })?;
        let key = key_bytes(request.secret)?;
        let ts = request.timestamp.unix_seconds().to_string();
        let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts.as_bytes(), b".", request.body];
        let signature = STANDARD.encode(tag(&key, &parts));
        Ok(BTreeMap::from([
            (self.id_header.clone(), id.to_owned()),
            (self.timestamp_header.clone(), ts),
            (
                self.signature_header.clone(),
                format!("{VERSION},{signature}"),
            ),
        ]))
    }
}

/// The HMAC key of a secret: the base64 after `whsec_`, or the UTF-8 bytes otherwise.
fn key_bytes(secret: &Secret) -> Result<Zeroizing<Vec<u8>>, Error> {
    let text = secret.expose();
    let key = match text.strip_prefix(SECRET_PREFIX) {
        Some(encoded) => Zeroizing::new(
            STANDARD_PAD_INDIFFERENT
                .decode(encoded)
                .map_err(|_| errors::invalid_secret("a whsec_ secret must be base64"))?,
        ),
        None => Zeroizing::new(text.as_bytes().to_vec()),
    };
    if key.is_empty() {
        return Err(errors::empty_secret());
    }
    Ok(key)
}

/// The decoded `v1` signatures of a header value. Entries are separated by whitespace;
/// each is `version,signature` (a list joined with `,` by header normalization is read
/// the same way). Entries of other versions, and signatures that are not canonical
/// base64 of 32 bytes, are skipped.
fn parse_signatures(value: &str) -> Vec<[u8; TAG_LEN]> {
    let mut out = Vec::new();
    for entry in value.split_ascii_whitespace() {
        let mut tokens = entry.split(',');
        while let (Some(version), Some(signature)) = (tokens.next(), tokens.next()) {
            if version != VERSION || out.len() >= MAX_SIGNATURES {
                continue;
            }
            if let Ok(bytes) = STANDARD.decode(signature)
                && let Ok(tag) = <[u8; TAG_LEN]>::try_from(bytes.as_slice())
            {
                out.push(tag);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_skips_other_versions() {
        let good = STANDARD.encode([7u8; 32]);
        assert_eq!(parse_signatures(&format!("v1,{good}")).len(), 1);
        assert_eq!(
            parse_signatures(&format!("v1,invalid v1a,xyz v1,{good}")).len(),
            1
        );
        assert_eq!(parse_signatures(&format!("v1,{good},v1,{good}")).len(), 2);
        assert!(parse_signatures(&format!("v2,{good}")).is_empty());
        assert!(parse_signatures("v1").is_empty());
        // Not canonical: missing padding.
        assert!(parse_signatures(&format!("v1,{}", good.trim_end_matches('='))).is_empty());
    }

    #[test]
    fn whsec_secrets_are_base64() {
        assert_eq!(
            key_bytes(&Secret::new("whsec_AAEC")).unwrap().as_slice(),
            &[0, 1, 2]
        );
        assert_eq!(
            key_bytes(&Secret::new("plain")).unwrap().as_slice(),
            b"plain"
        );
        assert_eq!(
            key_bytes(&Secret::new("whsec_not base64!"))
                .unwrap_err()
                .code(),
            errors::codes::INVALID_SECRET
        );
        assert_eq!(
            key_bytes(&Secret::new("whsec_")).unwrap_err().code(),
            errors::codes::EMPTY_SECRET
        );
    }
}
