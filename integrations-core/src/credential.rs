//! [`CredentialSource`]: the one seam through which engines obtain a connection's
//! credential.
//!
//! The egress proxy, the tool runtime and sync all need "the credential of this
//! connection, fresh". They ask a `CredentialSource`; the auth engine's token manager is
//! the implementation that applies resolution precedence (custom resolver, managed
//! OAuth 2.0, default resolver, stored credential by type and slot), caching and
//! single-flight refresh. Tests substitute a fake.

use std::fmt;

use async_trait::async_trait;

use crate::model::Connection;
use crate::plan::CredentialSelector;
use crate::{Error, Secret, Timestamp};

/// Which credential is wanted: a connection and a selector (type, slot, resolver and its
/// parameters), as a compiled egress route or a tool names it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CredentialRequest<'a> {
    /// The connection.
    pub connection: &'a Connection,
    /// Which of its credentials.
    pub selector: &'a CredentialSelector,
}

impl<'a> CredentialRequest<'a> {
    /// A request.
    pub fn new(connection: &'a Connection, selector: &'a CredentialSelector) -> Self {
        Self {
            connection,
            selector,
        }
    }
}

/// A credential ready to use, with its expiry when it has one.
#[derive(Clone)]
#[non_exhaustive]
pub struct ResolvedCredential {
    /// The secret value.
    pub value: Secret,
    /// When it stops working.
    pub expires_at: Option<Timestamp>,
}

impl ResolvedCredential {
    /// A credential.
    pub fn new(value: Secret, expires_at: Option<Timestamp>) -> Self {
        Self { value, expires_at }
    }
}

impl fmt::Debug for ResolvedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedCredential")
            .field("value", &self.value)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Hands out credentials for connections.
#[async_trait]
pub trait CredentialSource: Send + Sync {
    /// The credential for `request`, refreshed first when it is expired or about to be.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) when the connection holds no
    /// such credential; [`ErrorKind::Conflict`](crate::ErrorKind::Conflict)
    /// (`credential.ambiguous`) when several match; refresh failures (temporary ones are
    /// retryable; permanent ones mark the connection `error`).
    async fn credential(
        &self,
        request: &CredentialRequest<'_>,
    ) -> Result<ResolvedCredential, Error>;

    /// Called when the provider rejected `rejected` (HTTP 401). Returns a different,
    /// fresh credential to retry with once: the one another caller already refreshed, or
    /// a newly refreshed one. `None` when the credential cannot be renewed (a static API
    /// key): the caller gives up.
    ///
    /// # Errors
    ///
    /// As [`credential`](Self::credential).
    async fn credential_rejected(
        &self,
        request: &CredentialRequest<'_>,
        rejected: &Secret,
    ) -> Result<Option<ResolvedCredential>, Error>;
}
