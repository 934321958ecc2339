//! [`RedirectFlow`]: a provider redirect flow that is not OAuth 2.0 (GitHub App
//! installations), started and completed through the same state handling as OAuth.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;

use super::TargetSecrets;
use crate::definition::ConnectionMethod;
use crate::host::Host;
use crate::model::{CredentialType, PendingAuthorization, Target};
use crate::schema::Parsed;
use crate::{Error, Secret, Timestamp};

/// What [`RedirectFlow::redirect_url`] sees.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct RedirectStart<'a> {
    /// The target.
    pub target: &'a Target,
    /// The target config, parsed.
    pub target_config: &'a Parsed,
    /// The connection method.
    pub method: &'a ConnectionMethod,
    /// The `state` value to send; the provider returns it on the callback.
    pub state: &'a str,
    /// The redirect (setup) URI the callback comes back to.
    pub redirect_uri: &'a str,
}

impl<'a> RedirectStart<'a> {
    /// A start context.
    pub fn new(
        target: &'a Target,
        target_config: &'a Parsed,
        method: &'a ConnectionMethod,
        state: &'a str,
        redirect_uri: &'a str,
    ) -> Self {
        Self {
            target,
            target_config,
            method,
            state,
            redirect_uri,
        }
    }
}

impl fmt::Debug for RedirectStart<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedirectStart")
            .field("target", &self.target.id)
            .field("method", &self.method.id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// What [`RedirectFlow::complete`] sees: the verified pending authorization (its state
/// was taken once, unexpired, and matched the caller's tenant, user and redirect URI) and
/// the other callback parameters.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct RedirectCallback<'a> {
    /// The host adapters.
    pub host: &'a Host,
    /// The verified pending authorization.
    pub pending: &'a PendingAuthorization,
    /// The target.
    pub target: &'a Target,
    /// The target config, parsed.
    pub target_config: &'a Parsed,
    /// The target secrets, opened.
    pub target_secrets: &'a TargetSecrets,
    /// The connection method.
    pub method: &'a ConnectionMethod,
    /// The callback's query parameters other than `state`.
    pub params: &'a BTreeMap<String, String>,
}

impl<'a> RedirectCallback<'a> {
    /// A callback context.
    pub fn new(
        host: &'a Host,
        pending: &'a PendingAuthorization,
        target: &'a Target,
        target_config: &'a Parsed,
        target_secrets: &'a TargetSecrets,
        method: &'a ConnectionMethod,
        params: &'a BTreeMap<String, String>,
    ) -> Self {
        Self {
            host,
            pending,
            target,
            target_config,
            target_secrets,
            method,
            params,
        }
    }
}

impl fmt::Debug for RedirectCallback<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedirectCallback")
            .field("target", &self.target.id)
            .field("method", &self.method.id)
            .field("params", &self.params.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A credential a flow obtained, to be sealed and stored with the connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssuedCredential {
    /// What it is.
    pub credential_type: CredentialType,
    /// Which one, when the connection holds several of the type.
    pub slot: Option<String>,
    /// The value.
    pub value: Secret,
    /// When it stops working.
    pub expires_at: Option<Timestamp>,
}

impl IssuedCredential {
    /// A credential with no slot and no expiry.
    pub fn new(credential_type: CredentialType, value: Secret) -> Self {
        Self {
            credential_type,
            slot: None,
            value,
            expires_at: None,
        }
    }

    /// Sets the slot.
    #[must_use]
    pub fn with_slot(mut self, slot: impl Into<String>) -> Self {
        self.slot = Some(slot.into());
        self
    }

    /// Sets the expiry.
    #[must_use]
    pub fn with_expiry(mut self, expires_at: Option<Timestamp>) -> Self {
        self.expires_at = expires_at;
        self
    }
}

/// What a completed redirect flow yields for the connection.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RedirectOutcome {
    /// The connection's external subject (GitHub `installation_id`).
    pub external_subject: Option<String>,
    /// Credentials to store (none for GitHub App installations, whose tokens are minted
    /// on demand by a [`CredentialResolver`](super::CredentialResolver)).
    pub credentials: Vec<IssuedCredential>,
    /// Scopes or permissions granted.
    pub granted_scopes: Vec<String>,
}

impl RedirectOutcome {
    /// An outcome with only an external subject.
    pub fn with_subject(subject: impl Into<String>) -> Self {
        Self {
            external_subject: Some(subject.into()),
            ..Self::default()
        }
    }

    /// Adds a credential to store.
    #[must_use]
    pub fn with_credential(mut self, credential: IssuedCredential) -> Self {
        self.credentials.push(credential);
        self
    }

    /// Sets the granted scopes.
    #[must_use]
    pub fn with_granted_scopes(mut self, scopes: Vec<String>) -> Self {
        self.granted_scopes = scopes;
        self
    }
}

/// A provider redirect flow for one connection method.
///
/// The engine ([`Authorizations`](crate::auth::Authorizations)) creates and stores the
/// state (random, bound to tenant, user, definition, redirect URI and intent, 10-minute
/// TTL), asks the flow for the URL to send the user to, and on the callback takes the
/// state once and checks it before calling [`complete`](Self::complete). The flow only
/// speaks the provider's protocol.
#[async_trait]
pub trait RedirectFlow: Send + Sync {
    /// The URL the user is sent to, carrying `start.state`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](crate::ErrorKind::Configuration) when the target lacks
    /// what the URL needs (a GitHub App slug).
    fn redirect_url(&self, start: &RedirectStart<'_>) -> Result<String, Error>;

    /// Completes the flow from the callback parameters.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a malformed
    /// callback; provider and transport errors from any verification call.
    async fn complete(&self, callback: &RedirectCallback<'_>) -> Result<RedirectOutcome, Error>;
}
