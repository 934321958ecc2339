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
    /// Where the hook lives at the provider, in the registrar's own words (GitHub:
    /// `repos/{owner}/{repo}` or `orgs/{org}`), when the registrar names it. Deleting the
    /// hook looks there, even after the connection's config came to name another place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
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
            place: None,
        }
    }

    /// The same hook, living at `place` (see [`place`](Self::place)).
    #[must_use]
    pub fn with_place(mut self, place: Option<String>) -> Self {
        self.place = place;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hook recorded before hooks had a place reads back without one, and a hook
    /// without a place is written as before.
    #[test]
    fn a_hook_recorded_without_a_place_reads_back() {
        let old = serde_json::json!({
            "hook_id": "1",
            "url": "https://hooks.example.com/webhooks/github/github-cloud/ep",
            "registered_at": Timestamp::from_unix_seconds(1_800_000_000),
        });
        let hook: ManagedWebhook = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(hook.place, None);
        assert_eq!(serde_json::to_value(&hook).unwrap(), old);
        let placed = hook.with_place(Some("orgs/acme".into()));
        let back: ManagedWebhook =
            serde_json::from_value(serde_json::to_value(&placed).unwrap()).unwrap();
        assert_eq!(back, placed);
    }
}
