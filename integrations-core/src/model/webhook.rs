//! The record of a webhook registered at the provider for a connection.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// The hook registered at the provider for a connection, recorded on the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ManagedWebhook {
    /// The provider's id of the hook.
    pub hook_id: String,
    /// The delivery URL registered.
    pub url: String,
    /// When it was registered (or found registered).
    pub registered_at: Timestamp,
}

impl ManagedWebhook {
    /// A registered hook.
    pub fn new(
        hook_id: impl Into<String>,
        url: impl Into<String>,
        registered_at: Timestamp,
    ) -> Self {
        Self {
            hook_id: hook_id.into(),
            url: url.into(),
            registered_at,
        }
    }
}
