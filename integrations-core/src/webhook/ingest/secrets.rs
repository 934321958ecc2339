//! Signing secrets: the target's (every value of each field, for rotation) and the
//! connection's, and verifying a delivery against them.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use subtle::ConstantTimeEq;

use super::Ingest;
use super::route::{Passed, Resolved};
use crate::definition::webhook::{Verified, WebhookSource, errors};
use crate::model::{Connection, Target};
use crate::provider::webhook::InboundRequest;
use crate::sealing::target_secrets_aad;
use crate::{Error, Secret, Timestamp};

impl Ingest {
    pub(super) async fn verify(
        &self,
        source: &WebhookSource,
        resolved: &Resolved,
        request: &InboundRequest<'_>,
        now: Timestamp,
        passed: Option<&Passed>,
    ) -> Result<Verified, Error> {
        let secrets = self.secrets(source, resolved, now).await?;
        let scheme = source.scheme();
        // A secret that verified the same headers and body at the same instant before
        // routing verifies them again: only the secrets ahead of it are checked, so that
        // the first one that matches is still the one reported.
        if let Some(passed) = passed
            && let Some(at) = secrets.iter().position(|s| {
                bool::from(
                    s.expose()
                        .as_bytes()
                        .ct_eq(passed.secret.expose().as_bytes()),
                )
            })
        {
            let ahead = match at {
                0 => None,
                _ => scheme
                    .verify(request.headers, request.body, &secrets[..at], now)
                    .ok(),
            };
            return Ok(ahead.unwrap_or(Verified {
                secret_index: at,
                ..passed.verified
            }));
        }
        scheme.verify(request.headers, request.body, &secrets, now)
    }

    /// Every signing secret of the target and the connection, for rotation.
    pub(super) async fn secrets(
        &self,
        source: &WebhookSource,
        resolved: &Resolved,
        now: Timestamp,
    ) -> Result<Vec<Secret>, Error> {
        let mut secrets = self.target_secrets(source, &resolved.target)?;
        if let Some(connection) = &resolved.connection {
            secrets.extend(self.connection_secrets(source, connection, now).await?);
        }
        Ok(secrets)
    }

    /// The signing secrets in the target's sealed secrets.
    pub(super) fn target_secrets(
        &self,
        source: &WebhookSource,
        target: &Target,
    ) -> Result<Vec<Secret>, Error> {
        let mut secrets = Vec::new();
        if !source.target_secret_fields().is_empty()
            && let Some(sealed) = &target.secrets
        {
            let plain = self
                .host
                .cipher()
                .open(sealed, &target_secrets_aad(&target.tenant, &target.id))?;
            let mut fields: BTreeMap<String, SecretList> =
                serde_json::from_slice(&plain).map_err(|_| {
                    Error::configuration(
                        errors::codes::INVALID_SECRET,
                        "the target secrets are not a JSON object",
                    )
                })?;
            for name in source.target_secret_fields() {
                if let Some(list) = fields.remove(name) {
                    secrets.extend(list.0);
                }
            }
        }
        Ok(secrets)
    }

    /// The signing secrets among the connection's credentials, unexpired.
    pub(super) async fn connection_secrets(
        &self,
        source: &WebhookSource,
        connection: &Connection,
        now: Timestamp,
    ) -> Result<Vec<Secret>, Error> {
        let mut secrets = Vec::new();
        if let Some(credential_type) = source.connection_credential()
            && let Some(set) = self
                .host
                .credentials()
                .load_credentials(&connection.tenant, &connection.id)
                .await?
        {
            for credential in set.credentials.iter().filter(|c| {
                &c.credential_type == credential_type && c.expires_at.is_none_or(|at| at > now)
            }) {
                secrets.push(credential.open(connection, self.host.cipher())?);
            }
        }
        Ok(secrets)
    }
}

/// The values of one target-secret field: a string, an array of strings, or nothing.
struct SecretList(Vec<Secret>);

impl<'de> serde::Deserialize<'de> for SecretList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretListVisitor)
    }
}

struct SecretListVisitor;

impl<'de> Visitor<'de> for SecretListVisitor {
    type Value = SecretList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a secret or a list of secrets")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretList, E> {
        Ok(SecretList(vec![Secret::new(v)]))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<SecretList, E> {
        Ok(SecretList(vec![Secret::new(v)]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SecretList, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<SecretList>()? {
            out.extend(item.0);
        }
        Ok(SecretList(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretList, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(SecretList(Vec::new()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<SecretList, E> {
        Ok(SecretList(Vec::new()))
    }

    fn visit_none<E: de::Error>(self) -> Result<SecretList, E> {
        Ok(SecretList(Vec::new()))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretList, E> {
        Ok(SecretList(Vec::new()))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretList, E> {
        Ok(SecretList(Vec::new()))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretList, E> {
        Ok(SecretList(Vec::new()))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretList, E> {
        Ok(SecretList(Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_lists() {
        let fields: BTreeMap<String, SecretList> =
            serde_json::from_str(r#"{"a":"x","b":["y","z"],"c":null,"d":{"k":"v"},"e":1}"#)
                .unwrap();
        let exposed = |k: &str| -> Vec<String> {
            fields[k].0.iter().map(|s| s.expose().to_owned()).collect()
        };
        assert_eq!(exposed("a"), ["x"]);
        assert_eq!(exposed("b"), ["y", "z"]);
        assert!(exposed("c").is_empty() && exposed("d").is_empty() && exposed("e").is_empty());
    }
}
