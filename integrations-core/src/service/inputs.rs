use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{ConnectionScope, ProfileVersion};
use crate::{
    BindingId, ConnectionId, ConnectionMethodId, DefinitionKey, IntegrationKind, Secret,
    SecretJson, TargetId, TenantId,
};

/// A target to create or replace.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TargetInput {
    /// The tenant.
    pub tenant: TenantId,
    /// The target id.
    pub id: TargetId,
    /// The definition.
    pub key: DefinitionKey,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Operator-facing name.
    pub display_name: Option<String>,
    /// The target config.
    pub config: Value,
    /// The target secrets; `None` keeps the stored ones.
    pub secrets: Option<SecretJson>,
}

impl TargetInput {
    /// An enabled target with config `{}` and no secrets.
    pub fn new(tenant: TenantId, id: TargetId, key: DefinitionKey) -> Self {
        Self {
            tenant,
            id,
            key,
            enabled: true,
            display_name: None,
            config: Value::Object(serde_json::Map::new()),
            secrets: None,
        }
    }

    /// Sets the config.
    #[must_use]
    pub fn with_config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }

    /// Sets the secrets.
    #[must_use]
    pub fn with_secrets(mut self, secrets: impl Into<SecretJson>) -> Self {
        self.secrets = Some(secrets.into());
        self
    }

    /// Sets whether it is enabled.
    #[must_use]
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
}

/// An API-key connection to create or replace.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionInput {
    /// The tenant.
    pub tenant: TenantId,
    /// The connection id.
    pub id: ConnectionId,
    /// The target.
    pub target: TargetId,
    /// The connection method.
    pub method: ConnectionMethodId,
    /// Who it belongs to.
    pub scope: ConnectionScope,
    /// The connection config.
    pub config: Value,
    /// The secrets, by the method's secret field names.
    pub secrets: BTreeMap<String, Secret>,
    /// The provider-side subject, when known.
    pub external_subject: Option<String>,
    /// The webhook endpoint key.
    pub endpoint_key: Option<String>,
}

impl ConnectionInput {
    /// An organization-scoped connection with config `{}` and no secrets.
    pub fn new(
        tenant: TenantId,
        id: ConnectionId,
        target: TargetId,
        method: ConnectionMethodId,
    ) -> Self {
        Self {
            tenant,
            id,
            target,
            method,
            scope: ConnectionScope::Organization,
            config: Value::Object(serde_json::Map::new()),
            secrets: BTreeMap::new(),
            external_subject: None,
            endpoint_key: None,
        }
    }

    /// Sets the config.
    #[must_use]
    pub fn with_config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }

    /// Adds a secret.
    #[must_use]
    pub fn with_secret(mut self, name: impl Into<String>, secret: impl Into<Secret>) -> Self {
        self.secrets.insert(name.into(), secret.into());
        self
    }

    /// Sets the scope.
    #[must_use]
    pub fn with_scope(mut self, scope: ConnectionScope) -> Self {
        self.scope = scope;
        self
    }

    /// Sets the external subject.
    #[must_use]
    pub fn with_external_subject(mut self, subject: impl Into<String>) -> Self {
        self.external_subject = Some(subject.into());
        self
    }

    /// Sets the webhook endpoint key.
    #[must_use]
    pub fn with_endpoint_key(mut self, endpoint_key: impl Into<String>) -> Self {
        self.endpoint_key = Some(endpoint_key.into());
        self
    }
}

/// A binding to create or replace.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BindingInput {
    /// The tenant.
    pub tenant: TenantId,
    /// The binding id.
    pub id: BindingId,
    /// The profile version.
    pub profile: ProfileVersion,
    /// The connection.
    pub connection: ConnectionId,
    /// The kind; must equal the definition's.
    pub kind: IntegrationKind,
    /// The binding config.
    pub config: Value,
}

impl BindingInput {
    /// A binding with config `{}`.
    pub fn new(
        tenant: TenantId,
        id: BindingId,
        profile: ProfileVersion,
        connection: ConnectionId,
        kind: IntegrationKind,
    ) -> Self {
        Self {
            tenant,
            id,
            profile,
            connection,
            kind,
            config: Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the config.
    #[must_use]
    pub fn with_config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }
}
