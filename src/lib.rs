//! Embeddable third-party integrations for Rust backends and the AI agents inside them.
//!
//! This facade re-exports the workspace:
//!
//! * [`core`] (`integrations-core`): the `IntegrationDefinition` and
//!   `IntegrationProvider` traits, the registry, typed schemas, host adapters and the
//!   engines (OAuth and tokens, webhooks, the runtime-plan compiler and egress, MCP config
//!   files, agent tools).
//! * [`definitions`] (`integrations-definitions`): OpenAI, GitHub (cloud and enterprise
//!   server), Linear and Slack.
//!
//! Tests use `integrations-testkit` (an in-memory host, mock provider servers, a webhook
//! signer and a conformance suite) as a dev-dependency.
//!
//! ```
//! use integrations::prelude::*;
//!
//! let registry = integrations::definitions::registry();
//! let github: DefinitionKey = "github::github-cloud".parse()?;
//! assert_eq!(registry.require(&github)?.kind(), IntegrationKind::Git);
//! # Ok::<(), Error>(())
//! ```

pub use integrations_core as core;
pub use integrations_definitions as definitions;

/// The names most programs need.
pub mod prelude {
    pub use integrations_core::definition::IntegrationDefinition;
    pub use integrations_core::host::Host;
    pub use integrations_core::provider::{Integration, IntegrationProvider};
    pub use integrations_core::service::WriteService;
    pub use integrations_core::{
        ConnectionId, DefinitionKey, Error, ErrorKind, IntegrationKind, Registry, Secret, TenantId,
        ValidationIssue,
    };
}
