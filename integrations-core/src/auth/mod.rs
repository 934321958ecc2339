//! Connections and credentials: API keys, OAuth 2.0 (authorization code with PKCE, client
//! credentials, refresh), provider redirect flows (GitHub App installations) and the
//! [`TokenManager`] that hands out fresh credentials.
//!
//! | what | type |
//! |---|---|
//! | API-key connections, verified by the definition's identity check | [`ApiKeyConnections`] |
//! | OAuth 2.0 authorization code and redirect flows: start, complete | [`Authorizations`] |
//! | disconnecting: the provider revokes the grant, the tokens are deleted | [`Authorizations::disconnect`] |
//! | client-credentials connections | [`ClientCredentialsConnections`] |
//! | fresh credentials, refresh, single flight, resolution precedence | [`TokenManager`] (a [`CredentialSource`](crate::credential::CredentialSource)) |
//! | which path resolves a credential | [`resolution_path`] |
//! | which connection a request uses | [`select_connection`], [`find_connection`] |
//!
//! Every flow is generic: it reads the definition's declarative data
//! ([`OAuth2Spec`](crate::definition::OAuth2Spec) with its quirks,
//! [`IdentityCheck`](crate::definition::IdentityCheck)) and the provider's optional
//! capabilities ([`RedirectFlow`](crate::provider::RedirectFlow),
//! [`CredentialResolver`](crate::provider::CredentialResolver)), and does every effect
//! through the [`Host`]: its HTTP client (which never follows
//! redirects from a token endpoint), stores, cipher, clock and audit sink.
//!
//! # Security
//!
//! * The `state` of an authorization is 32 random bytes, stored only as its SHA-256
//!   digest, bound to tenant, user, definition, redirect URI and intent, valid ten
//!   minutes and taken once. The PKCE verifier is sealed at rest.
//! * Tokens are sealed at rest with associated data binding them to their tenant,
//!   connection, type and slot; they are [`Secret`](crate::Secret)s in memory and appear
//!   in no error, log line or `Debug` output. Errors carry the provider's error code
//!   (sanitized), never its body.

mod api_key;
mod authorize;
mod client_credentials;
mod disconnect;
mod identity;
pub(crate) mod oauth2;
mod persist;
mod precedence;
mod resolve;
pub(crate) mod state;
mod target;
mod token_manager;

pub use self::api_key::ApiKeyConnections;
pub use self::authorize::{
    AuthorizationRedirect, Authorizations, CompleteAuthorization, DEFAULT_STATE_TTL,
    StartAuthorization,
};
pub use self::client_credentials::{ClientCredentialsConnections, ClientCredentialsInput};
pub use self::disconnect::{DISCONNECTED, Disconnect, Disconnected, Forgotten};
pub use self::identity::CREDENTIAL_REJECTED;
pub use self::oauth2::token_response::INVALID_GRANT;
pub use self::precedence::{RequestScope, find_connection, select_connection};
pub use self::resolve::{ResolutionPath, resolution_path};
pub use self::token_manager::{
    DEFAULT_EXPIRY_SKEW, DEFAULT_STATUS_RECHECK, DEFAULT_USAGE_AUDIT_INTERVAL, NO_REFRESH_TOKEN,
    REFRESH_IN_DOUBT_TYPE, REFRESH_LEASE_TYPE, REFRESH_TOKEN_EXPIRED, TokenManager,
};
pub use crate::provider::{RemoteRevocation, TargetSecrets};

use crate::host::Host;
use crate::{Error, Timestamp};

/// The stable code with which a [`CredentialResolver`](crate::provider::CredentialResolver)
/// says the grant behind a connection is gone (an uninstalled app); the token manager
/// then marks the connection `error`.
pub const CREDENTIAL_REVOKED: &str = crate::codes::auth::CREDENTIAL_REVOKED.as_str();

/// An error saying the grant behind a connection is gone (code
/// [`CREDENTIAL_REVOKED`]). `message` must be safe to show.
pub fn credential_revoked(message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    crate::codes::auth::CREDENTIAL_REVOKED.error(message)
}

pub(crate) fn now(host: &Host) -> Timestamp {
    host.clock().now()
}
