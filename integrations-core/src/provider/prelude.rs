//! One glob import for a provider crate: `use integrations_core::provider::prelude::*;`.
//!
//! It brings the traits a provider implements ([`IntegrationDefinition`],
//! [`IntegrationProvider`], [`Tool`], [`WebhookHandler`], [`WebhookRegistrar`],
//! [`SyncSource`]), the types their signatures use, the definition and config builders,
//! the tool HTTP helpers and the URL builder, the webhook types a handler returns,
//! [`Error`]/[`ErrorKind`]/[`Result`], [`Secret`], and the derives and macros a provider's
//! types are written with (`Deserialize`, `Serialize`, `JsonSchema`, `json!`,
//! `#[async_trait]`), from the versions this SDK is built on.
//!
//! The serde and schemars derives need to be told where their crate is when used
//! through the prelude (see [`reexports`](crate::reexports)):
//!
//! ```
//! use integrations_core::provider::prelude::*;
//!
//! /// The target config of a tracker.
//! #[derive(Debug, Deserialize, JsonSchema)]
//! #[serde(crate = "integrations_core::reexports::serde", deny_unknown_fields)]
//! #[schemars(crate = "integrations_core::reexports::schemars")]
//! struct TrackerTarget {
//!     /// The API base, `https://tracker.example.com/api`.
//!     api_base_url: BaseUrl,
//! }
//!
//! const TRACKER: DefinitionKey = DefinitionKey::from_static("tracker::tracker-cloud");
//!
//! let spec = ConfigSpec::of::<TrackerTarget>()
//!     .with_example(json!({"api_base_url": "https://tracker.example.com/api"}));
//! let parsed = spec.compile()?.parse(&spec.examples()[0]).expect("the example is valid");
//! let target = parsed.get::<TrackerTarget>()?;
//! let url = target.api_base_url.url().path("issues").arg("/key", "PROJ-1").build()?;
//! assert_eq!(url.as_str(), "https://tracker.example.com/api/issues/PROJ-1");
//! assert_eq!(TRACKER.family(), "tracker");
//! # Ok::<(), Error>(())
//! ```

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
pub use crate::provider::{Integration, IntegrationProvider};
pub use crate::reexports::async_trait::async_trait;
pub use crate::reexports::http::header::{HeaderMap, HeaderName, HeaderValue};
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
