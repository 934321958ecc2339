use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    ConnectionId, ConnectionMethodId, DefinitionKey, ProjectId, TargetId, TenantId, Timestamp,
    UserId, WorkspaceId,
};

/// An authenticated relationship between an organization (or a workspace, project or user
/// inside it) and a target. Its credentials are stored apart, encrypted, in a
/// [`CredentialSet`](super::CredentialSet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Connection {
    /// The owning tenant (organization).
    pub tenant: TenantId,
    /// The connection's id.
    pub id: ConnectionId,
    /// The target it connects to (same tenant).
    pub target: TargetId,
    /// The target's definition.
    pub key: DefinitionKey,
    /// The connection method used (`api-key`, `oauth2`, ...).
    pub method: ConnectionMethodId,
    /// Active, error or revoked.
    pub status: ConnectionStatus,
    /// Who inside the tenant the connection belongs to.
    pub scope: ConnectionScope,
    /// The provider-side subject: GitHub installation id, Slack team id, Linear
    /// organization id. Webhooks are routed by it.
    pub external_subject: Option<String>,
    /// An opaque token in the webhook URL path (`/webhooks/{family}/{variant}/{endpoint}`)
    /// that routes deliveries to this connection.
    pub endpoint_key: Option<String>,
    /// Connection config as written, validated against the method's schema.
    pub config: Value,
    /// Scopes the provider granted.
    pub granted_scopes: Vec<String>,
    /// The webhook registered at the provider for this connection, when its webhooks are
    /// managed ([`ManagedWebhooks`](crate::webhook::ManagedWebhooks)); its signing secret
    /// is a sealed `webhook_secret` credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_webhook: Option<super::ManagedWebhook>,
    /// When the record was created.
    pub created_at: Timestamp,
    /// When the record last changed.
    pub updated_at: Timestamp,
}

impl Connection {
    /// A new active, organization-scoped connection with an empty config.
    pub fn new(
        tenant: TenantId,
        id: ConnectionId,
        target: TargetId,
        key: DefinitionKey,
        method: ConnectionMethodId,
        now: Timestamp,
    ) -> Self {
        Self {
            tenant,
            id,
            target,
            key,
            method,
            status: ConnectionStatus::Active,
            scope: ConnectionScope::Organization,
            external_subject: None,
            endpoint_key: None,
            config: Value::Object(serde_json::Map::new()),
            granted_scopes: Vec::new(),
            managed_webhook: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether the connection may be used.
    pub fn is_active(&self) -> bool {
        matches!(self.status, ConnectionStatus::Active)
    }

    /// Whether `self` (a stored record) is still the revision `read` was: the same
    /// status, endpoint key and `updated_at`, the fields every writer of a connection
    /// sets. What [`ConnectionStore::put_connection_if_unchanged`] compares.
    ///
    /// It tells revisions apart only because every write moves `updated_at` strictly
    /// forward: engines [`touch`](Self::touch) the record they write, and stores' status
    /// writes do the same. A write that kept `updated_at` (two writes in the same
    /// millisecond, a clock that did not move) would leave a writer holding the earlier
    /// read free to write over it.
    ///
    /// [`ConnectionStore::put_connection_if_unchanged`]: crate::host::ConnectionStore::put_connection_if_unchanged
    pub fn is_revision_of(&self, read: &Self) -> bool {
        self.status == read.status
            && self.endpoint_key == read.endpoint_key
            && self.updated_at == read.updated_at
    }

    /// Marks a record read from the store as changed at `now`, before it is written
    /// back: `updated_at` becomes `now`, or one millisecond past the revision read when
    /// `now` is not after it (two writes in the same millisecond, a clock that did not
    /// move, another process's clock ahead of this one's). So the record written is a
    /// new revision: no writer still holding an earlier read of the connection can write
    /// over it with
    /// [`put_connection_if_unchanged`](crate::host::ConnectionStore::put_connection_if_unchanged)
    /// ([`is_revision_of`](Self::is_revision_of)).
    ///
    /// Call it on the record as read, every time a write is tried (take `now` anew on
    /// each attempt). Every engine writing a connection does; a host writing connections
    /// itself should too.
    ///
    /// ```
    /// use integrations_core::model::Connection;
    /// use integrations_core::{ConnectionId, TargetId, TenantId, Timestamp};
    ///
    /// let at = Timestamp::from_unix_millis(1_000);
    /// let read = Connection::new(
    ///     TenantId::new("acme")?,
    ///     ConnectionId::new("conn-1")?,
    ///     TargetId::new("github")?,
    ///     "github::github-cloud".parse()?,
    ///     "oauth2".parse()?,
    ///     at,
    /// );
    /// let mut written = read.clone();
    /// written.touch(at); // the clock has not moved since the read
    /// assert_eq!(written.updated_at, Timestamp::from_unix_millis(1_001));
    /// assert!(!written.is_revision_of(&read));
    /// written.touch(Timestamp::from_unix_millis(5_000));
    /// assert_eq!(written.updated_at, Timestamp::from_unix_millis(5_000));
    /// # Ok::<(), integrations_core::Error>(())
    /// ```
    pub fn touch(&mut self, now: Timestamp) {
        let next = self
            .updated_at
            .saturating_add(std::time::Duration::from_millis(1));
        self.updated_at = now.max(next);
    }
}

/// The state of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectionStatus {
    /// Usable.
    Active,
    /// Unusable until repaired or re-authorized, for example after `invalid_grant`.
    Error {
        /// Why, safe to show (never a token or a provider body).
        reason: String,
    },
    /// Revoked by the user, the operator or the provider.
    Revoked {
        /// Why, safe to show.
        reason: String,
    },
}

impl ConnectionStatus {
    /// The status as a word: `active`, `error` or `revoked`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Error { .. } => "error",
            Self::Revoked { .. } => "revoked",
        }
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Active => f.write_str("active"),
            Self::Error { reason } => write!(f, "error: {reason}"),
            Self::Revoked { reason } => write!(f, "revoked: {reason}"),
        }
    }
}

/// Who a connection belongs to inside its tenant.
///
/// When several connections of one integration apply to a request, the most specific
/// wins, by an explicit rank rather than by comparing strings: user (3) over project (2)
/// over workspace (1) over organization (0). See [`ConnectionScope::precedence`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "level", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectionScope {
    /// The whole organization (the tenant).
    Organization,
    /// One workspace.
    Workspace {
        /// The workspace.
        workspace: WorkspaceId,
    },
    /// One project.
    Project {
        /// The project.
        project: ProjectId,
    },
    /// One user.
    User {
        /// The user.
        user: UserId,
    },
}

impl ConnectionScope {
    /// The rank of this scope: a higher rank wins. User 3, project 2, workspace 1,
    /// organization 0.
    pub fn precedence(&self) -> u8 {
        match self {
            Self::Organization => 0,
            Self::Workspace { .. } => 1,
            Self::Project { .. } => 2,
            Self::User { .. } => 3,
        }
    }

    /// The scope as a word: `organization`, `workspace`, `project` or `user`.
    pub fn level(&self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Workspace { .. } => "workspace",
            Self::Project { .. } => "project",
            Self::User { .. } => "user",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_explicit_not_lexical() {
        let user = ConnectionScope::User {
            user: UserId::new("u").unwrap(),
        };
        let project = ConnectionScope::Project {
            project: ProjectId::new("p").unwrap(),
        };
        let workspace = ConnectionScope::Workspace {
            workspace: WorkspaceId::new("w").unwrap(),
        };
        let org = ConnectionScope::Organization;
        assert!(user.precedence() > project.precedence());
        assert!(project.precedence() > workspace.precedence());
        assert!(workspace.precedence() > org.precedence());
        // A lexical sort of the level names would put "workspace" first.
        let mut levels = [
            user.level(),
            project.level(),
            workspace.level(),
            org.level(),
        ];
        levels.sort_unstable();
        assert_eq!(levels[3], "workspace");
    }

    #[test]
    fn status_serializes_with_reason() {
        let s = ConnectionStatus::Error {
            reason: "refresh token rejected".into(),
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"status": "error", "reason": "refresh token rejected"})
        );
        assert_eq!(
            serde_json::to_value(ConnectionStatus::Active).unwrap(),
            serde_json::json!({"status": "active"})
        );
    }
}
