//! [`IntegrationProvider`]: the I/O half of an integration, and [`Integration`], the
//! union the registry stores.

use crate::definition::IntegrationDefinition;
use crate::sync::SyncSource;
use crate::tools::ToolExecutor;
use crate::webhook::WebhookHandler;

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

    /// Runs the tools of the definition's
    /// [`tool_catalog`](IntegrationDefinition::tool_catalog). Default: none (the tools
    /// are listed but cannot run). A [`ToolSet`](crate::tools::ToolSet) gives both the
    /// catalog and the executor from one list of typed tools.
    fn tools(&self) -> Option<&dyn ToolExecutor> {
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
