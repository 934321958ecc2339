//! [`TargetSecrets`]: a target's sealed secrets, opened for one operation.

use std::collections::BTreeMap;
use std::fmt;

use crate::model::Target;
use crate::sealing::{SecretCipher, target_secrets_aad};
use crate::{Error, Secret};

/// A target's secrets (OAuth client secret, GitHub App private key, ...), opened for one
/// operation. Only string members are kept, each as a [`Secret`]; `Debug` lists names.
#[derive(Clone, Default)]
pub struct TargetSecrets {
    values: BTreeMap<String, Secret>,
}

impl TargetSecrets {
    /// No secrets.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Secrets from name–value pairs (tests and custom hosts).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Secret>,
    {
        Self {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Opens the sealed secrets of `target`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Crypto`](crate::ErrorKind::Crypto) when they cannot be opened (wrong
    /// key, tampered, moved to another target);
    /// [`ErrorKind::Configuration`](crate::ErrorKind::Configuration)
    /// (`auth.target_secrets_invalid`)
    /// when the plaintext is not a JSON object.
    pub fn open(target: &Target, cipher: &dyn SecretCipher) -> Result<Self, Error> {
        let Some(sealed) = &target.secrets else {
            return Ok(Self::empty());
        };
        let bytes = cipher.open(sealed, &target_secrets_aad(&target.tenant, &target.id))?;
        let parsed: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&bytes).map_err(|_| {
                crate::codes::auth::TARGET_SECRETS_INVALID
                    .error("the target's secrets are not a JSON object")
            })?;
        let values = parsed
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, Secret::new(s))),
                _ => None,
            })
            .collect();
        Ok(Self { values })
    }

    /// The secret named `name`, when present and not empty.
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.values.get(name).filter(|s| !s.is_empty())
    }

    /// The secret named `name`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](crate::ErrorKind::Configuration)
    /// (`auth.missing_target_secret`) when it is absent.
    pub fn require(&self, name: &str) -> Result<&Secret, Error> {
        self.get(name).ok_or_else(|| {
            crate::codes::auth::MISSING_TARGET_SECRET
                .error(format!("the target's secrets have no {name}"))
        })
    }
}

impl fmt::Debug for TargetSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetSecrets")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}
