//! The contract and the engines of the integrations SDK.
//!
//! An integration is one type implementing two traits:
//!
//! * [`IntegrationDefinition`](definition::IntegrationDefinition), the pure half:
//!   identity, metadata, typed config schemas, connection methods with declarative OAuth
//!   data, binding validation, compilation into runtime-plan fragments, MCP declarations
//!   and the tool catalog.
//! * [`IntegrationProvider`](provider::IntegrationProvider), the I/O half: flows that talk
//!   to the provider, webhooks, tool execution and sync, each an optional capability.
//!
//! A [`Registry`] holds them, validated once. The host supplies storage, HTTP,
//! encryption keys, the clock and event delivery through the small traits of [`host`];
//! `integrations-testkit` implements all of them in memory.
//!
//! # Quick start
//!
//! ```
//! use std::sync::Arc;
//!
//! use integrations_core::definition::{
//!     ConnectionMethod, ConnectionMethodKind, IntegrationDefinition, Metadata, SecretField,
//! };
//! use integrations_core::provider::IntegrationProvider;
//! use integrations_core::schema::ConfigSpec;
//! use integrations_core::{ConnectionMethodId, DefinitionKey, IntegrationKind, Registry};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! /// The target config of our integration.
//! #[derive(Debug, Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct JiraTarget {
//!     /// The site, `https://acme.atlassian.net`.
//!     #[schemars(url)]
//!     site_url: String,
//! }
//!
//! struct Jira;
//!
//! impl IntegrationDefinition for Jira {
//!     fn key(&self) -> DefinitionKey {
//!         const { DefinitionKey::from_static("jira::jira-cloud") }
//!     }
//!     fn kind(&self) -> IntegrationKind {
//!         IntegrationKind::Connector
//!     }
//!     fn metadata(&self) -> Metadata {
//!         Metadata::new("Jira", "Issues and projects in Jira Cloud.", "jira", "productivity")
//!     }
//!     fn target_config(&self) -> ConfigSpec {
//!         ConfigSpec::of::<JiraTarget>()
//!     }
//!     fn connection_methods(&self) -> Vec<ConnectionMethod> {
//!         let id = const { ConnectionMethodId::from_static("api-key") };
//!         vec![
//!             ConnectionMethod::new(id, "API token", ConnectionMethodKind::ApiKey)
//!                 .with_secret_field(SecretField::api_key("api_token", "API token")),
//!         ]
//!     }
//! }
//!
//! impl IntegrationProvider for Jira {}
//!
//! let mut registry = Registry::new();
//! registry.register(Arc::new(Jira))?;
//! let jira = registry.require(&"jira::jira-cloud".parse()?)?;
//! let issues = jira.target_config().validate(&serde_json::json!({"site_url": 42}));
//! assert_eq!(issues[0].code, "schema.type");
//! # Ok::<(), integrations_core::Error>(())
//! ```
//!
//! A provider whose definition is static can skip both impls:
//! [`DeclaredIntegration`](provider::DeclaredIntegration) builds one from data, and
//! [`provider::prelude`] is the one import a provider crate needs.
//!
//! # Architecture
//!
//! The top-level modules form layers. A module imports only from its own layer or a
//! lower one, and never in a cycle (the `architecture` test of `tests/it` parses this
//! table and fails on an import against it). The engines re-export the contract and
//! record types they used to define (`tools::ToolExecutor`, `webhook::WebhookHandler`,
//! `sync::SyncSource`, `auth::TargetSecrets`), so those paths keep working; inside the
//! crate, code imports an item from its home.
//!
//! | layer | name | modules | what lives there |
//! |---|---|---|---|
//! | 1 | foundation | `issue`, `error`, `codes`, `id`, `key`, `secret`, `time`, `schema`, `sealing`, `reexports` | errors and the [`codes`] catalogue, ids, [`Secret`], config schemas; [`sealing`]: the cipher, the associated-data layout of every sealed field, random tokens |
//! | 2 | data | `model` | every stored record: connections, credentials, approvals, continuations, webhook events |
//! | 3 | data | `plan` | the compiled runtime plan |
//! | 4 | host | `host` | what the host supplies: stores, HTTP, clock, audit, events |
//! | 5 | contract | `definition`, `credential` | the pure half of an integration (including tool descriptors and the declarative webhook source with its signature schemes); credential sources |
//! | 6 | contract | `provider` | the I/O half: `provider::tools` (`ToolExecutor`, `ToolContext`, `ToolHttp`), `provider::webhook` (`WebhookHandler`, `WebhookRegistrar`), `provider::sync` (`SyncSource`), `TargetSecrets` |
//! | 7 | contract | `registry` | the validated set of integrations |
//! | 8 | engine parts | `loaded`, `lifecycle` | the one start-up lookup every engine uses ([`loaded::Loader`]); the one owner of connection status changes and their audit ([`lifecycle::ConnectionLifecycle`]) |
//! | 9 | engines | `egress`, `mcp`, `sync`, `tools`, `webhook` | the tool runtime, webhook ingest and managed webhooks, the sync runner, the egress proxy core, MCP config writers |
//! | 10 | engines | `service` | the write service for targets, connections and bindings |
//! | 11 | engines | `auth`, `compile` | connection flows and the token manager; the runtime-plan compiler |
//! | 12 | testing | `fuzzing` | entry points for the fuzz targets |
//!
//! # Security
//!
//! * Secrets are [`Secret`] values from the moment they enter: never `Serialize`, always
//!   redacted in `Debug`, zeroized on drop. At rest they are sealed by the host's
//!   [`SecretCipher`](host::SecretCipher) with associated data binding each ciphertext to
//!   its tenant, record and field.
//! * No error, log line or `Debug` output contains a secret, a token or an expected
//!   signature; validation messages never echo the submitted value.
//! * Schemas are compiled without network or file access: a remote `$ref` is an error,
//!   never a fetch.
//! * Nothing in this crate reads the system clock except [`host::SystemClock`]; every
//!   engine takes a [`host::Clock`].

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod codes;
pub mod compile;
pub mod credential;
pub mod definition;
pub mod egress;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod host;
mod id;
mod issue;
mod key;
pub mod lifecycle;
pub mod loaded;
pub mod mcp;
pub mod model;
pub mod plan;
pub mod provider;
pub mod reexports;
pub mod registry;
pub mod schema;
pub mod sealing;
mod secret;
pub mod service;
pub mod sync;
mod time;
pub mod tools;
pub mod webhook;

pub use error::{BoxError, Code, Error, ErrorKind, IssueCode, Result, is_code_shaped};
pub use id::{
    BindingId, ConnectionId, ConnectionMethodId, MAX_ID_LEN, ProfileId, ProjectId, PublicationId,
    TargetId, TenantId, UserId, WorkspaceId,
};
pub use issue::{ValidationIssue, escape_pointer_token};
pub use key::{DefinitionKey, IntegrationKind, MAX_SEGMENT_LEN};
pub use registry::Registry;
pub use secret::{Secret, SecretJson};
pub use time::Timestamp;
