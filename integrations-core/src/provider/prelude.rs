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
//! same prelude serves it, and every type those traits' signatures use. Each trait a
//! provider implements, with nothing but the prelude:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use integrations_core::provider::prelude::*;
//! use integrations_core::Code;
//!
//! /// A provider's own codes are constants, declared once.
//! const NO_BASE: Code = Code::new("notes.no_base", ErrorKind::InvalidInput, "The target names no API base.");
//!
//! #[derive(Debug, Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct NotesTarget {
//!     /// The API base, `https://notes.example.com/api`.
//!     api_base_url: BaseUrl,
//!     /// The OAuth client id.
//!     client_id: Option<String>,
//! }
//!
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct NoArgs {}
//!
//! #[derive(Serialize, JsonSchema)]
//! struct Pong {
//!     ok: bool,
//! }
//!
//! /// A tool.
//! struct Ping;
//!
//! impl Tool for Ping {
//!     type Args = NoArgs;
//!     type Output = Pong;
//!
//!     fn descriptor(&self) -> ToolDescriptor {
//!         ToolDescriptor::new::<NoArgs>("notes_ping_server", "Ping the server.")
//!             .with_annotations(ToolAnnotations::read_only())
//!     }
//!
//!     async fn call(&self, _args: NoArgs, context: &ToolContext) -> Result<Pong> {
//!         let base = &context.target_config().get::<NotesTarget>()?.api_base_url;
//!         let selector = context.default_credential().cloned().ok_or_else(|| {
//!             Error::internal("the connection has no default credential")
//!         })?;
//!         let url = base.url().path("ping").build()?;
//!         let response = context
//!             .http()
//!             .send(request(Method::GET, url.as_str())?, &RequestAuth::bearer(selector))
//!             .await?;
//!         Ok(Pong { ok: response.status().is_success() })
//!     }
//! }
//!
//! /// Webhooks: the handler and the registrar of per-connection hooks.
//! struct Hooks;
//!
//! impl WebhookHandler for Hooks {
//!     fn probe(&self, _request: &InboundRequest<'_>) -> Option<WebhookResponse> {
//!         None
//!     }
//!
//!     fn classify(&self, request: &InboundRequest<'_>) -> Result<Classification> {
//!         let delivery = request.required_header("x-notes-delivery")?;
//!         Ok(Classification::Event(EventRoute::for_delivery(Routing::endpoint_only(), delivery)))
//!     }
//!
//!     fn normalize(
//!         &self,
//!         _request: &InboundRequest<'_>,
//!         _context: &NormalizeContext<'_>,
//!     ) -> Result<Normalized> {
//!         Ok(Normalized::new(EventType::from_parts("notes", "note", "updated"), "note.updated"))
//!     }
//!
//!     fn dispatch(&self, _event: &WebhookEvent) -> SessionDispatch {
//!         SessionDispatch::default()
//!     }
//! }
//!
//! #[async_trait]
//! impl WebhookRegistrar for Hooks {
//!     async fn register(&self, request: &HookRequest<'_>, _secret: &Secret) -> Result<RegisteredHook> {
//!         let base = &request.target_config.get::<NotesTarget>()?.api_base_url;
//!         let url = base.url().path("hooks").build()?;
//!         let body = json!({"url": request.url});
//!         let auth = RequestAuth::bearer(request.credential.clone());
//!         let created: Value = request
//!             .http
//!             .fetch(json_request(Method::POST, url.as_str(), &body)?, &auth)
//!             .await?;
//!         Ok(RegisteredHook::created(created["id"].as_str().unwrap_or_default()))
//!     }
//!
//!     async fn unregister(&self, _request: &HookRequest<'_>, _hook_id: &str) -> Result<HookRemoval> {
//!         Ok(HookRemoval::AlreadyGone)
//!     }
//! }
//!
//! /// Sync: one incremental stream, read with the connection's default credential.
//! struct NotesSync;
//!
//! #[async_trait]
//! impl SyncSource for NotesSync {
//!     fn streams(&self) -> Vec<SyncStream> {
//!         vec![SyncStream::new("notes", true)]
//!     }
//!
//!     async fn fetch_page(&self, request: SyncRequest<'_>) -> Result<SyncPage> {
//!         let base = &request.target_config.get::<NotesTarget>()?.api_base_url;
//!         let mut url = base.url().path("notes").build()?;
//!         if let Some(since) = request.since.filter(|_| request.mode == SyncMode::Incremental) {
//!             url.query_pairs_mut().append_pair("updated_since", since);
//!         }
//!         let selector = request.default_credential().cloned().ok_or_else(|| {
//!             Error::internal("connections of this method cannot sync")
//!         })?;
//!         // The definition's default headers are added by `send`.
//!         let response = request
//!             .send(request_get(url.as_str())?, &RequestAuth::bearer(selector))
//!             .await?;
//!         let limits = RateLimitRule::new()
//!             .with_reset_header("x-ratelimit-reset", ResetFormat::EpochSeconds);
//!         if let Some(limited) = limits.check(&response, request.clock.now()) {
//!             return Err(limited);
//!         }
//!         if !response.status().is_success() {
//!             return Err(status_error(response.status()));
//!         }
//!         let notes: Vec<Value> = read_json(&response)?;
//!         let records = notes
//!             .into_iter()
//!             .map(|note| {
//!                 let id = note["id"].as_str().unwrap_or_default().to_owned();
//!                 let updated = note["updated_at"].as_str().map(str::to_owned);
//!                 SyncRecord::new(id, updated, note)
//!             })
//!             .collect();
//!         Ok(SyncPage::new(records, None))
//!     }
//!
//!     fn watermark_at(&self, _stream: &str, at: Timestamp) -> Option<String> {
//!         Some(at.to_rfc3339())
//!     }
//! }
//!
//! fn request_get(url: &str) -> Result<HttpRequest> {
//!     request(Method::GET, url)
//! }
//!
//! /// The integration: a definition and a provider on one type.
//! struct Notes {
//!     tools: ToolSet,
//! }
//!
//! impl IntegrationDefinition for Notes {
//!     fn key(&self) -> DefinitionKey {
//!         DefinitionKey::from_static("notes::notes-cloud")
//!     }
//!
//!     fn kind(&self) -> IntegrationKind {
//!         IntegrationKind::Connector
//!     }
//!
//!     fn metadata(&self) -> Metadata {
//!         Metadata::new("Notes", "Notes.", "notes", "productivity")
//!     }
//!
//!     fn target_config(&self) -> ConfigSpec {
//!         ConfigSpec::of::<NotesTarget>()
//!             .with_example(json!({"api_base_url": "https://notes.example.com/api"}))
//!     }
//!
//!     fn connection_methods(&self) -> Vec<ConnectionMethod> {
//!         vec![ConnectionMethod::new(
//!             ConnectionMethodId::from_static("oauth2"),
//!             "OAuth 2.0",
//!             ConnectionMethodKind::OAuth2AuthorizationCode,
//!         )
//!         .with_oauth2(
//!             OAuth2Spec::new("https://notes.example.com/oauth/authorize", "https://notes.example.com/oauth/token")
//!                 .with_pkce(Pkce::S256)
//!                 .with_client_auth(ClientAuth::BasicHeader)
//!                 .with_scope_separator(ScopeSeparator::Space),
//!         )]
//!     }
//!
//!     fn oauth2(&self, method: &ConnectionMethod, target_config: &Parsed) -> Option<OAuth2Spec> {
//!         let target = target_config.get::<NotesTarget>().ok()?;
//!         Some(method.oauth2.clone()?.with_client_id(target.client_id.clone()))
//!     }
//!
//!     fn identity_check(&self, _method: &ConnectionMethod, target_config: &Parsed) -> Option<IdentityCheck> {
//!         let base = &target_config.get::<NotesTarget>().ok()?.api_base_url;
//!         Some(IdentityCheck::get(base.join("/me"), AuthInjection::Bearer).with_subject_pointer("/id"))
//!     }
//!
//!     fn default_headers(&self, _target_config: &Parsed) -> Result<HeaderMap> {
//!         let mut headers = HeaderMap::new();
//!         headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
//!         Ok(headers)
//!     }
//!
//!     fn narrow_form(&self, _kind: &ConfigKind, _context: &FormContext<'_>, _form: &mut Form) {}
//!
//!     fn validate_binding(&self, context: &BindingContext<'_>) -> Vec<ValidationIssue> {
//!         if context.target.config.raw().get("api_base_url").is_none() {
//!             return vec![ValidationIssue::new(NO_BASE.as_str(), "", "no API base")];
//!         }
//!         Vec::new()
//!     }
//!
//!     fn compile_binding(&self, _input: &CompileInput<'_>) -> Result<BindingPlan, Vec<ValidationIssue>> {
//!         Ok(BindingPlan::new())
//!     }
//!
//!     fn mcp_servers(&self, _input: &CompileInput<'_>) -> Vec<McpServer> {
//!         Vec::new()
//!     }
//!
//!     fn mcp_config_target(&self) -> Option<McpConfigTarget> {
//!         None
//!     }
//!
//!     fn tool_catalog(&self) -> Vec<ToolDescriptor> {
//!         self.tools.descriptors()
//!     }
//!
//!     fn webhook_source(&self) -> Option<WebhookSource> {
//!         let timestamp = BodyTimestamp::new("sent_at", TimestampUnit::Milliseconds, Duration::from_secs(300));
//!         Some(
//!             WebhookSource::new(HmacHexScheme::new("x-notes-signature").with_body_timestamp(timestamp))
//!                 .with_delivery_header("x-notes-delivery"),
//!         )
//!     }
//! }
//!
//! impl IntegrationProvider for Notes {
//!     fn sync(&self) -> Option<&dyn SyncSource> {
//!         Some(&NotesSync)
//!     }
//!
//!     fn webhooks(&self) -> Option<&dyn WebhookHandler> {
//!         Some(&Hooks)
//!     }
//!
//!     fn webhook_registrar(&self, _method: &ConnectionMethodId) -> Option<&dyn WebhookRegistrar> {
//!         Some(&Hooks)
//!     }
//!
//!     fn tools(&self) -> Option<&dyn ToolExecutor> {
//!         Some(&self.tools)
//!     }
//! }
//!
//! let notes: std::sync::Arc<dyn Integration> = std::sync::Arc::new(Notes { tools: ToolSet::new().with(Ping) });
//! # drop(notes);
//! ```

pub use crate::definition::webhook::{
    BodyTimestamp, HmacHexScheme, SignatureScheme, SlackScheme, StandardScheme, TimestampUnit,
    WebhookSource,
};
pub use crate::definition::{
    BindingContext, ClientAuth, CompileInput, ConnectionMethod, ConnectionMethodKind,
    IdentityCheck, IntegrationDefinition, Metadata, OAuth2Spec, Pkce, ScopeSeparator, SecretField,
};
pub use crate::definition::{ToolAnnotations, ToolDescriptor, ToolPolicy};
pub use crate::host::{HttpRequest, HttpResponse};
pub use crate::model::{Capability, Connection, CredentialType};
pub use crate::model::{EventSubject, EventType, SessionDispatch, SubjectKind, WebhookEvent};
pub use crate::plan::{AuthInjection, BindingPlan, CredentialSelector, McpConfigTarget, McpServer};
pub use crate::provider::sync::{
    SyncMode, SyncPage, SyncRecord, SyncRequest, SyncSource, SyncStream,
};
pub use crate::provider::tools::{
    RateLimitRule, RequestAuth, ResetFormat, Tool, ToolContext, ToolExecutor, ToolHttp, ToolSet,
    json_request, read_json, request, status_error,
};
pub use crate::provider::webhook::{
    Classification, EventRoute, HookRemoval, HookRequest, InboundRequest, NormalizeContext,
    Normalized, RegisteredHook, Routing, WebhookHandler, WebhookRegistrar, WebhookResponse,
};
pub use crate::provider::{DeclaredIntegration, Integration, IntegrationProvider};
pub use crate::reexports::async_trait::async_trait;
pub use crate::reexports::http::header::{self, HeaderMap, HeaderName, HeaderValue};
pub use crate::reexports::http::{Method, StatusCode};
pub use crate::reexports::schemars::JsonSchema;
pub use crate::reexports::serde::de::DeserializeOwned;
pub use crate::reexports::serde::{Deserialize, Serialize};
pub use crate::reexports::serde_json::{Value, json};
pub use crate::schema::{BaseUrl, ConfigKind, ConfigSpec, Form, FormContext, Parsed, UrlBuilder};
pub use crate::{
    ConnectionMethodId, DefinitionKey, Error, ErrorKind, IntegrationKind, Result, Secret,
    Timestamp, ValidationIssue,
};
