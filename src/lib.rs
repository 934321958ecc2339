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
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `rustls` | yes | the reqwest `HttpClient` (`core::host::ReqwestHttpClient`) with rustls and the aws-lc-rs crypto provider |
//! | `rustls-no-provider` | no | the same client with no crypto provider: the application installs one (use with `default-features = false`) |
//! | `sqlite` | no | `sqlx` (`integrations-sqlx`): every store on SQLite |
//! | `postgres` | no | `sqlx` (`integrations-sqlx`): every store on PostgreSQL |
//! | `mcp` | no | `mcp` (`integrations-mcp`): the MCP server over the tool runtime |
//! | `proxy` | no | `proxy` (`integrations-proxy`): the egress proxy |
//!
//! With `default-features = false` and no TLS feature there is no built-in HTTP client:
//! the host supplies its own `HttpClient`. `mcp` and `proxy` make outbound calls with the
//! `rustls` client, so they turn it on.
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
/// `integrations-mcp`: the MCP server (feature `mcp`).
#[cfg(feature = "mcp")]
pub use integrations_mcp as mcp;
/// `integrations-proxy`: the egress proxy (feature `proxy`).
#[cfg(feature = "proxy")]
pub use integrations_proxy as proxy;
/// `integrations-sqlx`: the SQL stores (features `sqlite`, `postgres`).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use integrations_sqlx as sqlx;

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

/// The README's Rust examples, compiled as doc tests (with every feature, as CI runs
/// them), so the README cannot drift from the API.
#[cfg(all(doctest, feature = "sqlite", feature = "mcp", feature = "proxy"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
