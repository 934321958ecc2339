//! [`Secret`]: a string that is never printed, serialized or logged.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// A secret string: an API key, a client secret, a webhook signing secret, a private key.
///
/// It wraps [`secrecy::SecretString`], so the memory is zeroized on drop. Clones share
/// one allocation (cloning never copies the secret; it is zeroized when the last clone
/// goes), so handing a cached token out costs no allocation. It implements
/// `Deserialize` (secrets arrive in configs) and [`JsonSchema`] (a `string` marked
/// `writeOnly`, so forms render it as a password field), but deliberately **not**
/// `Serialize`, and its `Debug` prints `Secret([REDACTED])`.
///
/// ```
/// use integrations_core::Secret;
///
/// let key = Secret::from("sk-live-123");
/// assert_eq!(format!("{key:?}"), "Secret([REDACTED])");
/// assert_eq!(key.expose(), "sk-live-123");
/// ```
#[derive(Clone)]
pub struct Secret(Arc<SecretString>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Arc::new(SecretString::from(value.into())))
    }

    /// The secret value. Call this at the last moment, where the value is used.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }

    /// The wrapped [`SecretString`].
    pub fn as_secret_string(&self) -> &SecretString {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<SecretString> for Secret {
    fn from(value: SecretString) -> Self {
        Self(Arc::new(value))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Secret")
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "writeOnly": true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Config {
        token: Secret,
    }

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        let c: Config = serde_json::from_str(r#"{"token":"hunter2"}"#).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.token.expose(), "hunter2");
    }

    #[test]
    fn clones_share_the_value() {
        let s = Secret::new("hunter2");
        let t = s.clone();
        assert!(std::ptr::eq(s.expose(), t.expose()));
    }

    #[test]
    fn schema_is_write_only_string() {
        let schema = schemars::schema_for!(Secret);
        assert_eq!(schema.get("type").unwrap(), "string");
        assert_eq!(schema.get("writeOnly").unwrap(), true);
    }
}

/// A JSON document holding secrets in plaintext (target secrets as submitted). Its
/// `Debug` is redacted; it is not `Serialize`. Validate and seal it, then drop it.
#[derive(Clone)]
pub struct SecretJson(serde_json::Value);

impl SecretJson {
    /// Wraps a document.
    pub fn new(value: serde_json::Value) -> Self {
        Self(value)
    }

    /// The document. Call this at the last moment.
    pub fn expose(&self) -> &serde_json::Value {
        &self.0
    }
}

impl fmt::Debug for SecretJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretJson([REDACTED])")
    }
}

impl From<serde_json::Value> for SecretJson {
    fn from(value: serde_json::Value) -> Self {
        Self(value)
    }
}

impl<'de> Deserialize<'de> for SecretJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(Self)
    }
}
