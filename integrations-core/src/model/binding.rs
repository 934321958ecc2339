use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{BindingId, ConnectionId, IntegrationKind, ProfileId, TenantId, Timestamp};

/// Attaches a connection to one version of an agent-sandbox profile, with binding config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Binding {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The binding's id.
    pub id: BindingId,
    /// The profile.
    pub profile: ProfileId,
    /// The profile version the binding belongs to.
    pub profile_version: u64,
    /// The connection used.
    pub connection: ConnectionId,
    /// Must equal the kind of the connection's definition.
    pub kind: IntegrationKind,
    /// Binding config as written, validated against the definition's schema.
    pub config: Value,
    /// When the record was created.
    pub created_at: Timestamp,
    /// When the record last changed.
    pub updated_at: Timestamp,
}

impl Binding {
    /// A binding with an empty config.
    pub fn new(
        tenant: TenantId,
        id: BindingId,
        profile: ProfileVersion,
        connection: ConnectionId,
        kind: IntegrationKind,
        now: Timestamp,
    ) -> Self {
        Self {
            tenant,
            id,
            profile: profile.profile,
            profile_version: profile.version,
            connection,
            kind,
            config: Value::Object(serde_json::Map::new()),
            created_at: now,
            updated_at: now,
        }
    }
}

/// One version of an agent-sandbox profile: what a set of bindings is compiled for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProfileVersion {
    /// The profile.
    pub profile: ProfileId,
    /// The version.
    pub version: u64,
}

impl ProfileVersion {
    /// A profile version.
    pub fn new(profile: ProfileId, version: u64) -> Self {
        Self { profile, version }
    }
}
