//! [`HmacHexScheme`]: hex HMAC-SHA256 of the raw body in one header.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{
    SignRequest, Verified, decode_hex_tag, matching_secret, parse_unix_digits, tag, within,
};
use crate::definition::webhook::{Headers, errors};
use crate::{Error, Secret, Timestamp};

/// The unit of a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestampUnit {
    /// Seconds since the Unix epoch.
    Seconds,
    /// Milliseconds since the Unix epoch.
    Milliseconds,
}

impl TimestampUnit {
    fn to_timestamp(self, value: i64) -> Timestamp {
        match self {
            Self::Seconds => Timestamp::from_unix_seconds(value),
            Self::Milliseconds => Timestamp::from_unix_millis(value),
        }
    }

    fn value_of(self, at: Timestamp) -> i64 {
        match self {
            Self::Seconds => at.unix_seconds(),
            Self::Milliseconds => at.unix_millis(),
        }
    }
}

/// A replay window on a timestamp carried **inside the signed body** (Linear's
/// `webhookTimestamp`, in milliseconds, within 60 s). It is checked after the signature,
/// so the timestamp read is one the sender signed.
///
/// A body without the field is refused (`webhook.missing_timestamp`). A
/// `header_fallback` opts into reading a header instead for such bodies; **that header
/// is not signed**, so anyone holding one signed body can replay it forever with a fresh
/// header (and a fresh delivery id, defeating deduplication). Use it only for a provider
/// that still sends bodies without the field, and prefer refusing them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BodyTimestamp {
    field: String,
    unit: TimestampUnit,
    tolerance: Duration,
    header_fallback: Option<String>,
}

impl BodyTimestamp {
    /// The top-level JSON field `field`, in `unit`, within `tolerance` of now.
    pub fn new(field: impl Into<String>, unit: TimestampUnit, tolerance: Duration) -> Self {
        Self {
            field: field.into(),
            unit,
            tolerance,
            header_fallback: None,
        }
    }

    /// Reads `header` (same unit) when the body has no timestamp field. The header is
    /// not signed: see the type's docs before using it.
    #[must_use]
    pub fn with_header_fallback(mut self, header: impl Into<String>) -> Self {
        self.header_fallback = Some(header.into().to_ascii_lowercase());
        self
    }

    /// The field name.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The unit.
    pub fn unit(&self) -> TimestampUnit {
        self.unit
    }

    /// The replay window.
    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// The fallback header, lowercased.
    pub fn header_fallback(&self) -> Option<&str> {
        self.header_fallback.as_deref()
    }
}

/// Hex HMAC-SHA256 of the raw body in `header`, optionally after a `prefix`, optionally
/// with a [`BodyTimestamp`].
///
/// ```
/// use integrations_core::Secret;
/// use integrations_core::Timestamp;
/// use integrations_core::webhook::{Headers, HmacHexScheme, SignRequest, SignatureScheme};
///
/// let scheme = SignatureScheme::from(
///     HmacHexScheme::new("X-Hub-Signature-256").with_prefix("sha256="),
/// );
/// let secret = Secret::new("It's a Secret to Everybody");
/// let now = Timestamp::from_unix_seconds(0);
/// let signed = scheme.sign(&SignRequest::new(b"Hello, World!", &secret, now))?;
/// assert_eq!(
///     signed["x-hub-signature-256"],
///     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
/// );
/// let headers: Headers = signed.iter().collect();
/// scheme.verify(&headers, b"Hello, World!", &[secret], now)?;
/// # Ok::<(), integrations_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HmacHexScheme {
    header: String,
    prefix: Option<String>,
    body_timestamp: Option<BodyTimestamp>,
}

impl HmacHexScheme {
    /// The signature in `header` (any case), as bare lowercase hex.
    pub fn new(header: impl Into<String>) -> Self {
        Self {
            header: header.into().to_ascii_lowercase(),
            prefix: None,
            body_timestamp: None,
        }
    }

    /// The hex is preceded by `prefix` (`sha256=`), which must be present.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Adds a replay window on a timestamp inside the body.
    #[must_use]
    pub fn with_body_timestamp(mut self, timestamp: BodyTimestamp) -> Self {
        self.body_timestamp = Some(timestamp);
        self
    }

    /// The signature header, lowercased.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// The prefix.
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// The body timestamp rule.
    pub fn body_timestamp(&self) -> Option<&BodyTimestamp> {
        self.body_timestamp.as_ref()
    }

    pub(super) fn verify(
        &self,
        headers: &Headers,
        body: &[u8],
        secrets: &[Secret],
        now: Timestamp,
    ) -> Result<Verified, Error> {
        let value = headers
            .get(&self.header)
            .ok_or_else(|| errors::missing_header(&self.header))?;
        let hex = match &self.prefix {
            Some(prefix) => value
                .strip_prefix(prefix.as_str())
                .ok_or_else(|| errors::malformed_signature(&self.header))?,
            None => value,
        };
        let provided =
            decode_hex_tag(hex).ok_or_else(|| errors::malformed_signature(&self.header))?;
        let secret_index =
            matching_secret(secrets, &[body], &provided).ok_or_else(errors::signature_mismatch)?;

        let signed_at = match &self.body_timestamp {
            None => None,
            Some(rule) => Some(rule.check(headers, body, now)?),
        };
        Ok(Verified {
            signed_at,
            secret_index,
        })
    }

    pub(super) fn sign(&self, request: &SignRequest<'_>) -> BTreeMap<String, String> {
        let hex = hex::encode(tag(request.secret.expose().as_bytes(), &[request.body]));
        let value = match &self.prefix {
            Some(prefix) => format!("{prefix}{hex}"),
            None => hex,
        };
        let mut headers = BTreeMap::from([(self.header.clone(), value)]);
        if let Some(rule) = &self.body_timestamp
            && let Some(fallback) = &rule.header_fallback
        {
            headers.insert(
                fallback.clone(),
                rule.unit.value_of(request.timestamp).to_string(),
            );
        }
        headers
    }
}

impl BodyTimestamp {
    /// Reads the timestamp (body first, then the fallback header) and checks the window.
    fn check(&self, headers: &Headers, body: &[u8], now: Timestamp) -> Result<Timestamp, Error> {
        let in_body = top_level_integer(body, &self.field).map_err(|()| {
            errors::invalid_payload(format!(
                "the body is not a JSON object with an integer {}",
                self.field
            ))
        })?;
        let value = match (in_body, &self.header_fallback) {
            (Some(value), _) => value,
            (None, Some(header)) => match headers.get(header) {
                Some(text) => {
                    parse_unix_digits(text).ok_or_else(|| errors::malformed_timestamp(header))?
                }
                None => return Err(errors::missing_timestamp(&self.field)),
            },
            (None, None) => return Err(errors::missing_timestamp(&self.field)),
        };
        let at = self.unit.to_timestamp(value);
        if within(now, at, self.tolerance) {
            Ok(at)
        } else {
            Err(errors::timestamp_out_of_window(self.tolerance))
        }
    }
}

/// The integer value of a top-level field of a JSON object, without building the
/// document: other values are skipped. `Ok(None)` when the field is absent or `null`;
/// `Err(())` when the body is not a JSON object, the field is not an integer, or it
/// appears twice.
fn top_level_integer(body: &[u8], field: &str) -> Result<Option<i64>, ()> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = FieldSeed(field).deserialize(&mut de).map_err(|_| ())?;
    de.end().map_err(|_| ())?;
    Ok(value)
}

struct FieldSeed<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Option<i64>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found: Option<Option<i64>> = None;
        while let Some(is_field) = map.next_key_seed(KeyIs(self.0))? {
            if is_field {
                if found.is_some() {
                    return Err(de::Error::custom("duplicate timestamp field"));
                }
                found = Some(map.next_value::<Option<i64>>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found.flatten())
    }
}

/// Deserializes a map key into whether it equals the wanted name, without allocating.
struct KeyIs<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_top_level_integer() {
        let body = br#"{"a":{"webhookTimestamp":1},"webhookTimestamp":1676056940508,"z":[1,"x"]}"#;
        assert_eq!(
            top_level_integer(body, "webhookTimestamp"),
            Ok(Some(1_676_056_940_508))
        );
        assert_eq!(
            top_level_integer(br#"{"a":1}"#, "webhookTimestamp"),
            Ok(None)
        );
        assert_eq!(top_level_integer(br#"{"t":null}"#, "t"), Ok(None));
        assert_eq!(top_level_integer(br#"{"t":"1"}"#, "t"), Err(()));
        assert_eq!(top_level_integer(br#"{"t":1.5}"#, "t"), Err(()));
        assert_eq!(top_level_integer(br#"{"t":1,"t":2}"#, "t"), Err(()));
        assert_eq!(top_level_integer(br"[1]", "t"), Err(()));
        assert_eq!(top_level_integer(br#"{"t":1} x"#, "t"), Err(()));
        assert_eq!(top_level_integer(br#"{"\u0074":7}"#, "t"), Ok(Some(7)));
    }
}
