//! Loading a target for a flow: the record, its registered definition, its parsed config
//! and, on demand, its opened secrets.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::definition::{ConnectionMethod, OAuth2Spec};
use crate::host::{Host, SecretCipher};
use crate::loaded::{LoadedTarget, Loader};
use crate::model::{Connection, Target};
use crate::provider::RedirectFlow;
use crate::registry::RegisteredIntegration;
use crate::schema::Parsed;
use crate::service::target_secrets_aad;
use crate::{ConnectionMethodId, Error, Registry, Secret, TargetId, TenantId};

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
    /// (`auth.target_secrets_invalid`) when the plaintext is not a JSON object.
    pub fn open(target: &Target, cipher: &dyn SecretCipher) -> Result<Self, Error> {
        let Some(sealed) = &target.secrets else {
            return Ok(Self::empty());
        };
        let bytes = cipher.open(sealed, &target_secrets_aad(target))?;
        let parsed: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&bytes).map_err(|_| {
                Error::configuration(
                    "auth.target_secrets_invalid",
                    "the target's secrets are not a JSON object",
                )
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
    /// [`ErrorKind::Configuration`](crate::ErrorKind::Configuration) (`auth.missing_target_secret`)
    /// when it is absent.
    pub fn require(&self, name: &str) -> Result<&Secret, Error> {
        self.get(name).ok_or_else(|| {
            Error::configuration(
                "auth.missing_target_secret",
                format!("the target's secrets have no {name}"),
            )
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

/// A target ready for a flow: what the [`Loader`] hands back, with the flow's helpers.
pub(crate) struct TargetContext {
    pub(crate) target: Arc<Target>,
    pub(crate) entry: Arc<RegisteredIntegration>,
    pub(crate) config: Parsed,
    loaded: LoadedTarget,
}

impl TargetContext {
    fn new(loaded: LoadedTarget) -> Self {
        Self {
            target: Arc::clone(&loaded.target),
            entry: Arc::clone(&loaded.entry),
            config: loaded.config.clone(),
            loaded,
        }
    }

    /// Loads an enabled target and parses its config, through the [`Loader`].
    pub(crate) async fn load(
        registry: &Arc<Registry>,
        host: &Host,
        tenant: &TenantId,
        id: &TargetId,
    ) -> Result<Self, Error> {
        let loader = Loader::new(Arc::clone(registry), host.clone());
        Ok(Self::new(loader.target(tenant, id).await?))
    }

    /// Loads the target of a connection, checking that it is the connection's definition.
    pub(crate) async fn for_connection(
        registry: &Arc<Registry>,
        host: &Host,
        connection: &Connection,
    ) -> Result<Self, Error> {
        let found = Loader::new(Arc::clone(registry), host.clone())
            .for_connection(connection.clone())
            .await?;
        Ok(Self::new(found.target_part()))
    }

    /// A connection method of the target's definition.
    pub(crate) fn method(&self, id: &ConnectionMethodId) -> Result<&ConnectionMethod, Error> {
        self.entry
            .method(id)
            .map(crate::registry::RegisteredMethod::method)
            .ok_or_else(|| {
                Error::not_found(
                    "auth.unknown_method",
                    format!("{} has no connection method {id}", self.target.key),
                )
            })
    }

    /// The provider's redirect flow for a redirect connection method.
    pub(crate) fn redirect_flow(
        &self,
        method: &ConnectionMethod,
    ) -> Result<&dyn RedirectFlow, Error> {
        self.entry
            .integration()
            .redirect_flow(&method.id)
            .ok_or_else(|| {
                Error::configuration(
                    "auth.no_redirect_flow",
                    format!("{} has no redirect flow for {}", self.target.key, method.id),
                )
            })
    }

    /// The OAuth 2.0 data of `method` for this target, with a client id.
    pub(crate) fn oauth2(&self, method: &ConnectionMethod) -> Result<OAuth2Spec, Error> {
        let spec = self
            .entry
            .definition()
            .oauth2(method, &self.config)
            .ok_or_else(|| {
                Error::configuration(
                    "auth.not_oauth2",
                    format!("the connection method {} has no OAuth 2.0 data", method.id),
                )
            })?;
        if spec.client_id.as_deref().is_none_or(str::is_empty) {
            return Err(Error::configuration(
                "auth.missing_client_id",
                "the target config has no OAuth client id",
            ));
        }
        Ok(spec)
    }

    /// The opened target secrets.
    pub(crate) fn secrets(&self, host: &Host) -> Result<TargetSecrets, Error> {
        self.loaded.secrets(host.cipher()).cloned()
    }
}
