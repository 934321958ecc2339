use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sealing::Sealed;
use crate::{DefinitionKey, TargetId, TenantId, Timestamp};

/// An operator-managed target: one enabled provider variant in one environment, with its
/// configuration and its encrypted secrets (OAuth client secret, webhook secret, GitHub
/// App private key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Target {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The target's id.
    pub id: TargetId,
    /// Which definition this target enables.
    pub key: DefinitionKey,
    /// Whether connections and bindings may use it.
    pub enabled: bool,
    /// Operator-facing name shown instead of the definition's, when set.
    pub display_name: Option<String>,
    /// The target config as written, validated against the definition's schema.
    pub config: Value,
    /// The target secrets as one sealed JSON object; `None` when the definition has none.
    pub secrets: Option<Sealed>,
    /// When the record was created.
    pub created_at: Timestamp,
    /// When the record last changed.
    pub updated_at: Timestamp,
}

impl Target {
    /// A new enabled target with an empty config and no secrets.
    pub fn new(tenant: TenantId, id: TargetId, key: DefinitionKey, now: Timestamp) -> Self {
        Self {
            tenant,
            id,
            key,
            enabled: true,
            display_name: None,
            config: Value::Object(serde_json::Map::new()),
            secrets: None,
            created_at: now,
            updated_at: now,
        }
    }
}
