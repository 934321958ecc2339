//! One glob import for a provider crate: `use integrations_core::provider::prelude::*;`.
//!
//! It brings the traits a provider implements ([`IntegrationDefinition`],
//! [`IntegrationProvider`], [`Tool`], [`WebhookHandler`], [`WebhookRegistrar`],
//! [`SyncSource`]) and [`DeclaredIntegration`], which implements both halves from a
//! builder; the types their signatures use; the definition and config builders; the tool
//! HTTP helpers and the URL builder; the webhook types a handler returns;
//! [`Error`]/[`ErrorKind`]/[`Result`], [`Secret`]; and the derives and macros a
//! provider's types are written with (`Deserialize`, `Serialize`, `JsonSchema`, `json!`,
//! `#[async_trait]`), from the versions this SDK is built on.
//!
//! The derives expand to paths into their own crates, so a provider crate lists `serde`
//! and `schemars` in its `Cargo.toml` like any crate that derives them (the same major
//! versions as `integrations-core`: serde 1, schemars 1; cargo then resolves one copy of
//! each). Without them, every derive needs `#[serde(crate =
//! "integrations_core::reexports::serde")]` and `#[schemars(crate =
//! "integrations_core::reexports::schemars")]` (see [`reexports`](crate::reexports)).
//!
//! A whole provider, with a config, an API-key connection and one tool written as an
//! async function:
//!
//! ```
//! use std::sync::Arc;
//!
//! use integrations_core::provider::prelude::*;
//!
//! /// The target config of a tracker.
//! #[derive(Debug, Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct TrackerTarget {
//!     /// The API base, `https://tracker.example.com/api`.
//!     api_base_url: BaseUrl,
//! }
//!
//! /// Arguments of `tracker_get_ticket`.
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct GetTicket {
//!     /// The ticket key (`PROJ-1`).
//!     key: String,
//! }
//!
//! /// A ticket.
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! struct Ticket {
//!     /// The ticket key.
//!     key: String,
//!     /// Its title.
//!     title: String,
//! }
//!
//! async fn get_ticket(args: GetTicket, context: ToolContext) -> Result<Ticket> {
//!     let target = context.target_config().get::<TrackerTarget>()?;
//!     let url = target.api_base_url.url().path("tickets").arg("/key", &args.key).build()?;
//!     let auth = RequestAuth::bearer(CredentialSelector::of_type(CredentialType::API_KEY));
//!     context.http().fetch(request(Method::GET, url.as_str())?, &auth).await
//! }
//!
//! const TRACKER: DefinitionKey = DefinitionKey::from_static("tracker::tracker-cloud");
//! const API_KEY: ConnectionMethodId = ConnectionMethodId::from_static("api-key");
//!
//! fn tracker() -> DeclaredIntegration {
//!     let metadata = Metadata::new("Tracker", "Tickets in Tracker.", "tracker", "productivity");
//!     DeclaredIntegration::new(TRACKER, IntegrationKind::Connector, metadata)
//!         .with_target_config(
//!             ConfigSpec::of::<TrackerTarget>()
//!                 .with_example(json!({"api_base_url": "https://tracker.example.com/api"})),
//!         )
//!         .with_connection_method(
//!             ConnectionMethod::new(API_KEY, "API key", ConnectionMethodKind::ApiKey)
//!                 .with_secret_field(SecretField::api_key("api_key", "API key")),
//!         )
//!         .with_tools(ToolSet::new().with_fn(
//!             ToolDescriptor::new::<GetTicket>("tracker_get_ticket", "Get a ticket by key.")
//!                 .with_annotations(ToolAnnotations::read_only()),
//!             get_ticket,
//!         ))
//! }
//!
//! let mut registry = integrations_core::Registry::new();
//! registry.register(Arc::new(tracker()))?;
//! assert!(registry.find_tool("tracker_get_ticket").is_some());
//! # Ok::<(), Error>(())
//! ```
//!
//! A provider whose definition needs more than a builder holds (binding validation and
//! compilation, OAuth endpoints per target, identity checks, redirect flows, sync)
//! implements [`IntegrationDefinition`] and [`IntegrationProvider`] on its own type; the
//! same prelude serves it.

pub use crate::definition::webhook::{
    HmacHexScheme, SignatureScheme, SlackScheme, StandardScheme, WebhookSource,
};
pub use crate::definition::{
    ConnectionMethod, ConnectionMethodKind, IntegrationDefinition, Metadata, OAuth2Spec,
    SecretField,
};
pub use crate::definition::{ToolAnnotations, ToolDescriptor};
pub use crate::host::{HttpRequest, HttpResponse};
pub use crate::model::{Capability, CredentialType};
pub use crate::model::{EventSubject, EventType, SubjectKind};
pub use crate::plan::{AuthInjection, CredentialSelector};
pub use crate::provider::sync::SyncSource;
pub use crate::provider::tools::{
    RequestAuth, Tool, ToolContext, ToolExecutor, ToolSet, json_request, read_json, request,
    status_error,
};
pub use crate::provider::webhook::{
    Classification, EventRoute, InboundRequest, NormalizeContext, Normalized, Routing,
    WebhookHandler, WebhookRegistrar,
};
pub use crate::provider::{DeclaredIntegration, Integration, IntegrationProvider};
pub use crate::reexports::async_trait::async_trait;
pub use crate::reexports::http::header::{self, HeaderMap, HeaderName, HeaderValue};
pub use crate::reexports::http::{Method, StatusCode};
pub use crate::reexports::schemars::JsonSchema;
pub use crate::reexports::serde::de::DeserializeOwned;
pub use crate::reexports::serde::{Deserialize, Serialize};
pub use crate::reexports::serde_json::{Value, json};
pub use crate::schema::{BaseUrl, ConfigSpec, Parsed, UrlBuilder};
pub use crate::{
    ConnectionMethodId, DefinitionKey, Error, ErrorKind, IntegrationKind, Result, Secret,
    Timestamp, ValidationIssue,
};
