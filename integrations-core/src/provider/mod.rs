//! [`IntegrationProvider`]: the I/O half of an integration, and [`Integration`], the
//! union the registry stores.

mod declared;
pub mod prelude;
mod redirect;
mod resolver;
mod revoke;
mod secrets;
pub mod sync;
pub mod tools;
pub mod webhook;

pub use declared::DeclaredIntegration;
pub use redirect::{
    IssuedCredential, RedirectCallback, RedirectFlow, RedirectOutcome, RedirectStart,
};
pub use resolver::{CredentialResolver, ResolverContext};
pub use revoke::{GrantRevoker, RemoteRevocation, RevokeContext};
pub use secrets::TargetSecrets;

use self::sync::SyncSource;
use self::tools::ToolExecutor;
use self::webhook::{WebhookHandler, WebhookRegistrar};
use crate::ConnectionMethodId;
use crate::definition::IntegrationDefinition;

/// What an integration **does** over the network: connection flows that talk to the
/// provider, webhook handling, tool execution and sync.
///
/// Each capability is a small trait reached through an accessor returning
/// `Option<&dyn Capability>`; every accessor defaults to `None`, so a provider implements
/// only what it offers, and a provider crate keeps compiling when capabilities are added.
/// All effects go through the host adapters the engines pass in (HTTP, stores, clock); a
/// provider holds no global state.
pub trait IntegrationProvider: Send + Sync + 'static {
    /// Sync: pulling the provider's records into the host, full or incremental.
    fn sync(&self) -> Option<&dyn SyncSource> {
        None
    }

    /// Webhooks: classifying, normalizing and dispatching the provider's deliveries. Pair
    /// it with [`IntegrationDefinition::webhook_source`], which declares the signature
    /// scheme and where the secrets live.
    fn webhooks(&self) -> Option<&dyn WebhookHandler> {
        None
    }

    /// Registers and deletes a connection's webhook at the provider for connections of
    /// `method` ([`ManagedWebhooks`](crate::webhook::ManagedWebhooks)). Default: none (the
    /// provider's webhooks are app-level or configured by hand: implicit).
    fn webhook_registrar(&self, method: &ConnectionMethodId) -> Option<&dyn WebhookRegistrar> {
        let _ = method;
        None
    }

    /// Runs the tools of the definition's
    /// [`tool_catalog`](IntegrationDefinition::tool_catalog). Default: none (the tools
    /// are listed but cannot run). A [`ToolSet`](crate::tools::ToolSet) gives both the
    /// catalog and the executor from one list of typed tools.
    fn tools(&self) -> Option<&dyn ToolExecutor> {
        None
    }

    /// The redirect flow of a [`Redirect`](crate::definition::ConnectionMethodKind::Redirect)
    /// connection method (GitHub App installation). Default: none.
    fn redirect_flow(&self, method: &ConnectionMethodId) -> Option<&dyn RedirectFlow> {
        let _ = method;
        None
    }

    /// Revokes the grant of an OAuth 2.0 connection method at the provider when
    /// disconnecting, for providers whose revocation is not a Bearer call to
    /// [`OAuth2Spec::revoke_url`](crate::definition::OAuth2Spec::revoke_url) (GitHub).
    /// Default: none.
    fn grant_revoker(&self, method: &ConnectionMethodId) -> Option<&dyn GrantRevoker> {
        let _ = method;
        None
    }

    /// A custom credential resolver, by the key a
    /// [`CredentialSelector`](crate::plan::CredentialSelector) names (`resolver`). It comes
    /// first in resolution precedence. Default: none.
    fn credential_resolver(&self, key: &str) -> Option<&dyn CredentialResolver> {
        let _ = key;
        None
    }

    /// The resolver asked when no custom resolver is named and the connection is not a
    /// managed OAuth 2.0 one; when it declines (`Ok(None)`), the stored credential is
    /// used. Default: none.
    fn default_credential_resolver(&self) -> Option<&dyn CredentialResolver> {
        None
    }
}

/// An integration: one type implementing both halves. Implemented automatically; the
/// registry stores `Arc<dyn Integration>`.
pub trait Integration: IntegrationDefinition + IntegrationProvider {}

impl<T: IntegrationDefinition + IntegrationProvider> Integration for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_is_object_safe_and_send_sync() {
        fn assert_send_sync<T: Send + Sync + ?Sized>() {}
        assert_send_sync::<dyn Integration>();
        assert_send_sync::<std::sync::Arc<dyn Integration>>();
    }
}
