//! [`GrantRevoker`]: revoking a connection's grant at the provider when its protocol is
//! not the declarative one ([`OAuth2Spec::revoke_url`](crate::definition::OAuth2Spec::revoke_url)).

use async_trait::async_trait;

use super::TargetSecrets;
use crate::definition::{ConnectionMethod, OAuth2Spec};
use crate::host::Host;
use crate::model::{Connection, Target};
use crate::schema::Parsed;
use crate::{Error, Secret};

/// What a [`GrantRevoker`] is given.
#[derive(Debug)]
#[non_exhaustive]
pub struct RevokeContext<'a> {
    /// The host adapters.
    pub host: &'a Host,
    /// The connection being disconnected.
    pub connection: &'a Connection,
    /// Its target.
    pub target: &'a Target,
    /// The target config, parsed.
    pub target_config: &'a Parsed,
    /// The target secrets, opened (the OAuth client secret).
    pub target_secrets: &'a TargetSecrets,
    /// The connection method.
    pub method: &'a ConnectionMethod,
    /// The method's OAuth 2.0 data for this target (with its client id).
    pub spec: &'a OAuth2Spec,
    /// The connection's access token (fresh when the connection is active).
    pub access_token: &'a Secret,
}

impl<'a> RevokeContext<'a> {
    /// A context.
    #[allow(
        clippy::too_many_arguments,
        reason = "a plain bundle of borrowed parts"
    )]
    pub fn new(
        host: &'a Host,
        connection: &'a Connection,
        target: &'a Target,
        target_config: &'a Parsed,
        target_secrets: &'a TargetSecrets,
        method: &'a ConnectionMethod,
        spec: &'a OAuth2Spec,
        access_token: &'a Secret,
    ) -> Self {
        Self {
            host,
            connection,
            target,
            target_config,
            target_secrets,
            method,
            spec,
            access_token,
        }
    }
}

/// Revokes the grant behind an OAuth 2.0 connection at the provider, for
/// [`Authorizations::disconnect`](crate::auth::Authorizations::disconnect). Providers whose
/// revocation is a Bearer call to one URL declare [`OAuth2Spec::revoke_url`] instead;
/// this is for the others (GitHub deletes an app authorization with the client's
/// credentials).
#[async_trait]
pub trait GrantRevoker: Send + Sync {
    /// Revokes the grant.
    ///
    /// # Errors
    ///
    /// Temporary failures ([`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable),
    /// [`ErrorKind::RateLimited`](crate::ErrorKind::RateLimited)) and refusals, with
    /// stable codes and messages that never carry the token: the disconnect then changes
    /// nothing unless forced.
    async fn revoke(&self, context: &RevokeContext<'_>) -> Result<RemoteRevocation, Error>;
}

/// What the provider did with the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteRevocation {
    /// The provider revoked it.
    Revoked,
    /// The provider no longer honoured the token (revoked, expired or its grant dead
    /// already).
    AlreadyInvalid,
    /// The connection's method has no revocation (API keys, GitHub App installations,
    /// client credentials): only the stored tokens were deleted.
    NotSupported,
    /// There was no stored token to revoke.
    NoToken,
    /// The provider could not revoke it (a forced disconnect went on regardless).
    Failed {
        /// The failure's stable code.
        code: String,
    },
}

impl RemoteRevocation {
    /// The outcome as a word: `revoked`, `already_invalid`, `not_supported`, `no_token`,
    /// `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Revoked => "revoked",
            Self::AlreadyInvalid => "already_invalid",
            Self::NotSupported => "not_supported",
            Self::NoToken => "no_token",
            Self::Failed { .. } => "failed",
        }
    }
}
