//! Loading a target for a flow: the record, its registered definition, its parsed config
//! and, on demand, its opened secrets.

use std::sync::Arc;

use crate::definition::{ConnectionMethod, OAuth2Spec};
use crate::host::Host;
use crate::loaded::{LoadedTarget, Loader};
use crate::model::{Connection, Target};
use crate::provider::{RedirectFlow, TargetSecrets};
use crate::registry::RegisteredIntegration;
use crate::schema::Parsed;
use crate::{ConnectionMethodId, Error, Registry, TargetId, TenantId};

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
                crate::codes::auth::UNKNOWN_METHOD
                    .error(format!("{} has no connection method {id}", self.target.key))
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
                crate::codes::auth::NO_REDIRECT_FLOW.error(format!(
                    "{} has no redirect flow for {}",
                    self.target.key, method.id
                ))
            })
    }

    /// The OAuth 2.0 data of `method` for this target, with a client id.
    pub(crate) fn oauth2(&self, method: &ConnectionMethod) -> Result<OAuth2Spec, Error> {
        let spec = self
            .entry
            .definition()
            .oauth2(method, &self.config)
            .ok_or_else(|| {
                crate::codes::auth::NOT_OAUTH2.error(format!(
                    "the connection method {} has no OAuth 2.0 data",
                    method.id
                ))
            })?;
        if spec.client_id.as_deref().is_none_or(str::is_empty) {
            return Err(crate::codes::auth::MISSING_CLIENT_ID.error(format!(
                "the OAuth 2.0 data of {} for the target {} (method {}) names no client id: \
                 the definition's IntegrationDefinition::oauth2 sets it, usually from the \
                 target config (client_id); check that the target config names one and that \
                 the definition reads it",
                self.target.key, self.target.id, method.id
            )));
        }
        Ok(spec)
    }

    /// The opened target secrets.
    pub(crate) fn secrets(&self, host: &Host) -> Result<TargetSecrets, Error> {
        self.loaded.secrets(host.cipher()).cloned()
    }
}
