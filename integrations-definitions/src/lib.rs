//! The integrations shipped with the SDK.
//!
//! | key | kind | connection methods |
//! |---|---|---|
//! | `openai::openai-default` | agent | `api-key` |
//! | `github::github-cloud` | git | `api-key`, `oauth2`, `github-app-installation` |
//! | `github::github-enterprise-server` | git | `api-key`, `oauth2`, `github-app-installation` |
//! | `linear::linear-default` | connector | `api-key`, `oauth2`, `client-credentials` |
//! | `slack::slack-default` | connector | `api-key`, `oauth2` |
//!
//! Provider knowledge (URLs, header names, payload shapes, quirks) lives here and only
//! here, as data where it can be data; `integrations-core` never names a provider.
//!
//! ```
//! let registry = integrations_definitions::registry();
//! let keys: Vec<String> = registry.keys().map(ToString::to_string).collect();
//! assert_eq!(
//!     keys,
//!     [
//!         "github::github-cloud",
//!         "github::github-enterprise-server",
//!         "linear::linear-default",
//!         "openai::openai-default",
//!         "slack::slack-default",
//!     ]
//! );
//! ```

use std::sync::Arc;

use integrations_core::Registry;
use integrations_core::provider::Integration;

pub mod codes;
pub mod github;
pub mod linear;
pub mod openai;
pub mod slack;
mod sync_support;

/// Every shipped integration.
pub fn all() -> Vec<Arc<dyn Integration>> {
    vec![
        Arc::new(openai::OpenAi::new()),
        Arc::new(github::GitHub::cloud()),
        Arc::new(github::GitHub::enterprise_server()),
        Arc::new(linear::Linear::new()),
        Arc::new(slack::Slack::new()),
    ]
}

/// A registry holding every shipped integration.
///
/// # Panics
///
/// Never: every shipped definition passes registration, which this crate's tests check.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    for integration in all() {
        if let Err(e) = registry.register(integration) {
            panic!(
                "a shipped definition failed registration: {e} {:?}",
                e.issues()
            );
        }
    }
    registry
}

/// The API-key connection method every shipped provider offers.
pub(crate) const API_KEY_METHOD: integrations_core::ConnectionMethodId =
    integrations_core::ConnectionMethodId::from_static("api-key");

/// The OAuth 2.0 authorization-code connection method.
pub(crate) const OAUTH2_METHOD: integrations_core::ConnectionMethodId =
    integrations_core::ConnectionMethodId::from_static("oauth2");
