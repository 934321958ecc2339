//! [`CredentialResolver`]: provider code that produces a credential at request time
//! (GitHub App installation tokens), reached by key or as the provider's default.

use std::fmt;

use async_trait::async_trait;

use super::TargetSecrets;
use crate::Error;
use crate::credential::ResolvedCredential;
use crate::host::Host;
use crate::model::{Connection, Target};
use crate::plan::CredentialSelector;
use crate::schema::Parsed;

/// What a [`CredentialResolver`] sees: the host (HTTP, clock), the connection, its target
/// with parsed config and opened secrets, and the selector (type, slot, resolver key and
/// its non-secret parameters, such as the repositories a token is narrowed to).
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct ResolverContext<'a> {
    /// The host adapters. Effects go through them only.
    pub host: &'a Host,
    /// The connection the credential is for.
    pub connection: &'a Connection,
    /// The connection's target.
    pub target: &'a Target,
    /// The target config, parsed with the definition's spec.
    pub target_config: &'a Parsed,
    /// The target secrets, opened.
    pub target_secrets: &'a TargetSecrets,
    /// Which credential is wanted.
    pub selector: &'a CredentialSelector,
}

impl<'a> ResolverContext<'a> {
    /// A context.
    pub fn new(
        host: &'a Host,
        connection: &'a Connection,
        target: &'a Target,
        target_config: &'a Parsed,
        target_secrets: &'a TargetSecrets,
        selector: &'a CredentialSelector,
    ) -> Self {
        Self {
            host,
            connection,
            target,
            target_config,
            target_secrets,
            selector,
        }
    }
}

impl fmt::Debug for ResolverContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolverContext")
            .field("connection", &self.connection.id)
            .field("target", &self.target.id)
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

/// Produces a credential for a connection at request time.
///
/// The [`TokenManager`](crate::auth::TokenManager) calls a provider's resolver, caches
/// what it returns until shortly before its `expires_at`, lets one call per connection
/// and selector run at a time, and audits every call as a refresh.
///
/// Return an error with code [`CREDENTIAL_REVOKED`](crate::auth::CREDENTIAL_REVOKED)
/// when the provider says the grant behind the connection is gone (an uninstalled
/// app): the token manager then marks the connection `error`. Temporary failures
/// ([`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable),
/// [`ErrorKind::RateLimited`](crate::ErrorKind::RateLimited)) never change the connection.
#[async_trait]
pub trait CredentialResolver: Send + Sync {
    /// The credential, or `None` when this resolver does not apply to the connection (a
    /// default resolver declining a connection of another method: resolution then falls
    /// through to the stored credential).
    ///
    /// # Errors
    ///
    /// Whatever failed: configuration (`auth.missing_target_secret`), the provider
    /// (`auth.credential_revoked`), transport (`http.timeout`).
    async fn resolve(
        &self,
        context: &ResolverContext<'_>,
    ) -> Result<Option<ResolvedCredential>, Error>;
}
