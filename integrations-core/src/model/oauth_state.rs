use serde::{Deserialize, Serialize};

use super::ConnectionScope;
use crate::sealing::Sealed;
use crate::{
    ConnectionId, ConnectionMethodId, DefinitionKey, TargetId, TenantId, Timestamp, UserId,
};

/// Why an authorization was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "intent", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthorizationIntent {
    /// Create a new connection with this scope.
    Create {
        /// The scope of the connection to create.
        scope: ConnectionScope,
    },
    /// Replace the credentials of an existing connection (after `invalid_grant`, or to
    /// add scopes) and make it active again.
    Reauthorize {
        /// The connection to repair.
        connection: ConnectionId,
    },
}

/// A started authorization (OAuth 2.0 or a redirect flow), waiting for its callback.
///
/// The `state` parameter itself is never stored: the record is keyed by its SHA-256
/// digest, so a leaked table cannot be used to forge a callback. The PKCE verifier is
/// sealed. Records are taken once (see
/// [`OAuthStateStore::take_oauth_state`](crate::host::OAuthStateStore::take_oauth_state)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingAuthorization {
    /// Lowercase hex SHA-256 of the `state` parameter.
    pub state_digest: String,
    /// The tenant that started it.
    pub tenant: TenantId,
    /// The user that started it, when known.
    pub user: Option<UserId>,
    /// The definition.
    pub key: DefinitionKey,
    /// The target authorized against.
    pub target: TargetId,
    /// The connection method.
    pub method: ConnectionMethodId,
    /// The redirect URI sent to the provider; the callback must come back to the same one.
    pub redirect_uri: String,
    /// Create or reauthorize.
    pub intent: AuthorizationIntent,
    /// Scopes requested.
    pub scopes: Vec<String>,
    /// The sealed PKCE code verifier, when PKCE is used.
    pub pkce_verifier: Option<Sealed>,
    /// When it was started.
    pub created_at: Timestamp,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
}

impl PendingAuthorization {
    /// A pending authorization with no user, no scopes and no PKCE verifier.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        state_digest: impl Into<String>,
        tenant: TenantId,
        key: DefinitionKey,
        target: TargetId,
        method: ConnectionMethodId,
        redirect_uri: impl Into<String>,
        intent: AuthorizationIntent,
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> Self {
        Self {
            state_digest: state_digest.into(),
            tenant,
            user: None,
            key,
            target,
            method,
            redirect_uri: redirect_uri.into(),
            intent,
            scopes: Vec::new(),
            pkce_verifier: None,
            created_at,
            expires_at,
        }
    }
}
