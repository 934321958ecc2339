//! Credential resolution precedence, explicit and in one place.
//!
//! For a connection and a [`CredentialSelector`]:
//!
//! 1. a **custom resolver** named by the selector (`resolver`), when there is one: the
//!    provider's resolver by that key (a missing one is an error, never a fallback);
//! 2. **managed OAuth 2.0**, for access tokens of OAuth 2.0 connections (authorization
//!    code or client credentials): the stored token, refreshed or renewed when it is
//!    about to expire;
//! 3. the provider's **default resolver**, when it has one and it accepts the
//!    connection;
//! 4. the **stored credential** of the selector's type and slot; several matches without
//!    a slot are an error (`credential.ambiguous`), never a guess.

use crate::definition::ConnectionMethodKind;
use crate::model::CredentialType;
use crate::plan::CredentialSelector;

/// Which path resolves a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolutionPath {
    /// The provider's custom resolver with this key.
    CustomResolver(String),
    /// The managed OAuth 2.0 access token (refreshed, or renewed with client credentials).
    ManagedOAuth2,
    /// The provider's default resolver, falling back to [`Stored`](Self::Stored) when it
    /// declines the connection.
    DefaultResolver,
    /// The stored credential of the selector's type and slot.
    Stored,
}

/// The path that resolves `selector` for a connection of `method` kind, for a provider
/// that has (or not) a default resolver.
///
/// ```
/// use integrations_core::auth::{ResolutionPath, resolution_path};
/// use integrations_core::definition::ConnectionMethodKind;
/// use integrations_core::model::CredentialType;
/// use integrations_core::plan::CredentialSelector;
///
/// let token = CredentialSelector::of_type(CredentialType::OAUTH2_ACCESS_TOKEN);
/// assert_eq!(
///     resolution_path(ConnectionMethodKind::OAuth2AuthorizationCode, &token, true),
///     ResolutionPath::ManagedOAuth2
/// );
/// let narrowed = token.clone().with_resolver("installation-token");
/// assert_eq!(
///     resolution_path(ConnectionMethodKind::OAuth2AuthorizationCode, &narrowed, true),
///     ResolutionPath::CustomResolver("installation-token".into())
/// );
/// ```
pub fn resolution_path(
    method: ConnectionMethodKind,
    selector: &CredentialSelector,
    has_default_resolver: bool,
) -> ResolutionPath {
    if let Some(key) = &selector.resolver {
        return ResolutionPath::CustomResolver(key.clone());
    }
    let managed = matches!(
        method,
        ConnectionMethodKind::OAuth2AuthorizationCode
            | ConnectionMethodKind::OAuth2ClientCredentials
    ) && selector.credential_type == CredentialType::OAUTH2_ACCESS_TOKEN;
    if managed {
        return ResolutionPath::ManagedOAuth2;
    }
    if has_default_resolver {
        return ResolutionPath::DefaultResolver;
    }
    ResolutionPath::Stored
}
