//! [`DeclaredIntegration`]: an integration written as data, for providers whose
//! definition is static.

use std::fmt;

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use super::IntegrationProvider;
use super::sync::SyncSource;
use super::tools::{ToolExecutor, ToolSet};
use super::webhook::WebhookHandler;
use crate::definition::{
    ConnectionMethod, IdentityCheck, IntegrationDefinition, Metadata, OAuth2Spec, ToolDescriptor,
    WebhookSource,
};
use crate::schema::{ConfigSpec, Parsed};
use crate::{DefinitionKey, Error, IntegrationKind};

/// An integration declared with a builder instead of two trait impls: identity,
/// metadata, config specs, connection methods, default headers, the identity check, the
/// webhook source with its handler, the tools and the sync source. It
/// implements [`IntegrationDefinition`] and [`IntegrationProvider`] from what it was
/// given, so the registry, the conformance suite and every engine take it like any
/// other integration.
///
/// It pairs what the traits keep apart: a webhook source comes with its handler and the
/// tool catalog with the tools that run it, so neither half can be forgotten. Providers
/// whose definition depends on more than this (binding validation and compilation, OAuth
/// endpoints per target, MCP servers, redirect flows) implement the two traits
/// themselves.
///
/// An OAuth 2.0 method's endpoints are the static ones of its [`OAuth2Spec`]; its client
/// id comes from the target config, at `/client_id` unless
/// [`with_oauth_client_id_pointer`](Self::with_oauth_client_id_pointer) names another
/// member (a client id set in the spec itself serves targets whose config names none).
///
/// ```
/// use std::sync::Arc;
///
/// use integrations_core::provider::prelude::*;
/// use integrations_core::Registry;
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// /// The target config of a tracker.
/// #[derive(Debug, Deserialize, JsonSchema)]
/// #[serde(deny_unknown_fields)]
/// struct TrackerTarget {
///     /// The API base, `https://tracker.example.com/api`.
///     api_base_url: BaseUrl,
/// }
///
/// let tracker = DeclaredIntegration::new(
///     const { DefinitionKey::from_static("tracker::tracker-cloud") },
///     IntegrationKind::Connector,
///     Metadata::new("Tracker", "Tickets in Tracker.", "tracker", "productivity"),
/// )
/// .with_target_config(
///     ConfigSpec::of::<TrackerTarget>()
///         .with_example(json!({"api_base_url": "https://tracker.example.com/api"})),
/// )
/// .with_connection_method(
///     ConnectionMethod::new(
///         const { ConnectionMethodId::from_static("api-key") },
///         "API key",
///         ConnectionMethodKind::ApiKey,
///     )
///     .with_secret_field(SecretField::api_key("api_key", "API key")),
/// );
///
/// let mut registry = Registry::new();
/// registry.register(Arc::new(tracker))?;
/// let entry = registry.require(&"tracker::tracker-cloud".parse()?)?;
/// assert_eq!(entry.metadata().name, "Tracker");
/// # Ok::<(), Error>(())
/// ```
#[non_exhaustive]
pub struct DeclaredIntegration {
    key: DefinitionKey,
    kind: IntegrationKind,
    metadata: Metadata,
    target_config: ConfigSpec,
    target_secrets: ConfigSpec,
    binding_config: ConfigSpec,
    methods: Vec<ConnectionMethod>,
    default_headers: HeaderMap,
    webhooks: Option<(WebhookSource, Box<dyn WebhookHandler>)>,
    tools: ToolSet,
    client_id_pointer: String,
    identity_check: Option<Box<IdentityCheckFn>>,
    sync: Option<Box<dyn SyncSource>>,
}

/// What [`DeclaredIntegration::with_identity_check`] keeps: the identity check of a
/// connection method for a target config.
type IdentityCheckFn =
    dyn Fn(&ConnectionMethod, &Parsed) -> Option<IdentityCheck> + Send + Sync + 'static;

/// Where [`DeclaredIntegration`] reads an OAuth client id in the target config unless told
/// otherwise: `/client_id`, the member every shipped definition uses.
const DEFAULT_CLIENT_ID_POINTER: &str = "/client_id";

impl fmt::Debug for DeclaredIntegration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeclaredIntegration")
            .field("key", &self.key)
            .field("kind", &self.kind)
            .field("methods", &self.methods.len())
            .field("webhooks", &self.webhooks.is_some())
            .field("tools", &self.tools.len())
            .field("identity_check", &self.identity_check.is_some())
            .field("sync", &self.sync.is_some())
            .finish_non_exhaustive()
    }
}

impl DeclaredIntegration {
    /// An integration with its identity and metadata, empty configs (`{}`), and no
    /// connection method yet (the registry requires at least one).
    pub fn new(key: DefinitionKey, kind: IntegrationKind, metadata: Metadata) -> Self {
        Self {
            key,
            kind,
            metadata,
            target_config: ConfigSpec::empty(),
            target_secrets: ConfigSpec::empty(),
            binding_config: ConfigSpec::empty(),
            methods: Vec::new(),
            default_headers: HeaderMap::new(),
            webhooks: None,
            tools: ToolSet::new(),
            client_id_pointer: DEFAULT_CLIENT_ID_POINTER.to_owned(),
            identity_check: None,
            sync: None,
        }
    }

    /// Sets the target config ([`IntegrationDefinition::target_config`]).
    #[must_use]
    pub fn with_target_config(mut self, spec: ConfigSpec) -> Self {
        self.target_config = spec;
        self
    }

    /// Sets the target secrets ([`IntegrationDefinition::target_secrets`]).
    #[must_use]
    pub fn with_target_secrets(mut self, spec: ConfigSpec) -> Self {
        self.target_secrets = spec;
        self
    }

    /// Sets the binding config ([`IntegrationDefinition::binding_config`]).
    #[must_use]
    pub fn with_binding_config(mut self, spec: ConfigSpec) -> Self {
        self.binding_config = spec;
        self
    }

    /// Adds a connection method, after those already declared.
    #[must_use]
    pub fn with_connection_method(mut self, method: ConnectionMethod) -> Self {
        self.methods.push(method);
        self
    }

    /// Adds a header every request to the provider's API carries
    /// ([`IntegrationDefinition::default_headers`]): an API version, a media type. Never
    /// a credential.
    #[must_use]
    pub fn with_default_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.default_headers.insert(name, value);
        self
    }

    /// Receives webhooks: the signature scheme and secrets as data
    /// ([`IntegrationDefinition::webhook_source`]) with the handler that classifies and
    /// normalizes the deliveries ([`IntegrationProvider::webhooks`]).
    #[must_use]
    pub fn with_webhooks(
        mut self,
        source: WebhookSource,
        handler: impl WebhookHandler + 'static,
    ) -> Self {
        self.webhooks = Some((source, Box::new(handler)));
        self
    }

    /// Offers `tools` to agents: their descriptors are the tool catalog and the set runs
    /// them.
    #[must_use]
    pub fn with_tools(mut self, tools: ToolSet) -> Self {
        self.tools = tools;
        self
    }

    /// Proves credentials before they are stored: `check` gives the
    /// [`IdentityCheck`] of a connection method for a target config (`None` for a method
    /// that has none), as [`IntegrationDefinition::identity_check`] does.
    #[must_use]
    pub fn with_identity_check(
        mut self,
        check: impl Fn(&ConnectionMethod, &Parsed) -> Option<IdentityCheck> + Send + Sync + 'static,
    ) -> Self {
        self.identity_check = Some(Box::new(check));
        self
    }

    /// Syncs the provider's records with `source` ([`IntegrationProvider::sync`]).
    #[must_use]
    pub fn with_sync(mut self, source: impl SyncSource + 'static) -> Self {
        self.sync = Some(Box::new(source));
        self
    }

    /// Reads the OAuth 2.0 client id of every OAuth method at `pointer`, a JSON Pointer
    /// into the target config (`/oauth/client_id`), instead of `/client_id`. The member
    /// must be a string; the target config's schema should declare it.
    #[must_use]
    pub fn with_oauth_client_id_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.client_id_pointer = pointer.into();
        self
    }
}

impl IntegrationDefinition for DeclaredIntegration {
    fn key(&self) -> DefinitionKey {
        self.key.clone()
    }

    fn kind(&self) -> IntegrationKind {
        self.kind
    }

    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn target_config(&self) -> ConfigSpec {
        self.target_config.clone()
    }

    fn target_secrets(&self) -> ConfigSpec {
        self.target_secrets.clone()
    }

    fn binding_config(&self) -> ConfigSpec {
        self.binding_config.clone()
    }

    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        self.methods.clone()
    }

    /// The method's static spec, with the client id the target config names at the
    /// client-id pointer (`/client_id` by default); without one there, the spec's own.
    fn oauth2(&self, method: &ConnectionMethod, target_config: &Parsed) -> Option<OAuth2Spec> {
        let spec = method.oauth2.clone()?;
        let configured = target_config
            .raw()
            .pointer(&self.client_id_pointer)
            .and_then(serde_json::Value::as_str)
            .filter(|id| !id.is_empty());
        Some(match configured {
            Some(client_id) => spec.with_client_id(Some(client_id)),
            None => spec,
        })
    }

    fn identity_check(
        &self,
        method: &ConnectionMethod,
        target_config: &Parsed,
    ) -> Option<IdentityCheck> {
        self.identity_check
            .as_ref()
            .and_then(|check| check(method, target_config))
    }

    fn default_headers(&self, _target_config: &Parsed) -> Result<HeaderMap, Error> {
        Ok(self.default_headers.clone())
    }

    fn tool_catalog(&self) -> Vec<ToolDescriptor> {
        self.tools.descriptors()
    }

    fn webhook_source(&self) -> Option<WebhookSource> {
        self.webhooks.as_ref().map(|(source, _)| source.clone())
    }
}

impl IntegrationProvider for DeclaredIntegration {
    fn webhooks(&self) -> Option<&dyn WebhookHandler> {
        self.webhooks.as_ref().map(|(_, handler)| handler.as_ref())
    }

    fn tools(&self) -> Option<&dyn ToolExecutor> {
        (!self.tools.is_empty()).then_some(&self.tools as &dyn ToolExecutor)
    }

    fn sync(&self) -> Option<&dyn SyncSource> {
        self.sync.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use http::header::ACCEPT;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::definition::webhook::HmacHexScheme;
    use crate::definition::{ConnectionMethodKind, SecretField};
    use crate::model::EventType;
    use crate::provider::tools::{Tool, ToolContext};
    use crate::provider::webhook::{
        Classification, EventRoute, InboundRequest, NormalizeContext, Normalized, Routing,
    };
    use crate::{ConnectionMethodId, Registry};

    #[derive(Deserialize, schemars::JsonSchema)]
    struct NoArgs {}

    #[derive(Serialize, schemars::JsonSchema)]
    struct Pong {}

    struct Ping;

    impl Tool for Ping {
        type Args = NoArgs;
        type Output = Pong;

        fn descriptor(&self) -> ToolDescriptor {
            ToolDescriptor::new::<NoArgs>("tracker_ping_server", "Ping the tracker.")
        }

        async fn call(&self, _args: NoArgs, _context: &ToolContext) -> Result<Pong, Error> {
            Ok(Pong {})
        }
    }

    struct Hooks;

    impl WebhookHandler for Hooks {
        fn classify(&self, request: &InboundRequest<'_>) -> Result<Classification, Error> {
            let id = request.required_header("x-delivery")?;
            Ok(Classification::Event(EventRoute::new(
                Routing::endpoint_only(),
                id,
            )))
        }

        fn normalize(
            &self,
            _request: &InboundRequest<'_>,
            _context: &NormalizeContext<'_>,
        ) -> Result<Normalized, Error> {
            Ok(Normalized::new(
                EventType::from_parts("tracker", "issue", "updated"),
                "issue_updated",
            ))
        }
    }

    fn tracker() -> DeclaredIntegration {
        DeclaredIntegration::new(
            const { DefinitionKey::from_static("tracker::tracker-cloud") },
            IntegrationKind::Connector,
            Metadata::new("Tracker", "Tickets in Tracker.", "tracker", "productivity"),
        )
        .with_connection_method(
            ConnectionMethod::new(
                const { ConnectionMethodId::from_static("api-key") },
                "API key",
                ConnectionMethodKind::ApiKey,
            )
            .with_secret_field(SecretField::api_key("api_key", "API key")),
        )
    }

    #[test]
    fn a_bare_declaration_offers_neither_webhooks_nor_tools() {
        let tracker = tracker();
        assert!(tracker.webhook_source().is_none());
        assert!(tracker.webhooks().is_none());
        assert!(tracker.tool_catalog().is_empty());
        assert!(tracker.tools().is_none());
        let parsed = Parsed::new(serde_json::json!({}), ());
        assert!(tracker.default_headers(&parsed).unwrap().is_empty());
        let methods = tracker.connection_methods();
        assert_eq!(methods[0].id.as_str(), "api-key");
        assert_eq!(
            methods[0].secret_fields[0].credential_type.as_str(),
            "api_key"
        );
        let debug = format!("{tracker:?}");
        assert!(debug.contains("tracker::tracker-cloud"), "{debug}");
    }

    fn with_oauth(tracker: DeclaredIntegration, spec: OAuth2Spec) -> DeclaredIntegration {
        tracker.with_connection_method(
            ConnectionMethod::new(
                const { ConnectionMethodId::from_static("oauth2") },
                "OAuth 2.0",
                ConnectionMethodKind::OAuth2AuthorizationCode,
            )
            .with_oauth2(spec),
        )
    }

    fn client_id(tracker: &DeclaredIntegration, config: serde_json::Value) -> Option<String> {
        let method = tracker.connection_methods().pop().unwrap();
        tracker
            .oauth2(&method, &Parsed::new(config, ()))
            .unwrap()
            .client_id
    }

    #[test]
    fn oauth_methods_take_their_client_id_from_the_target_config() {
        let spec = OAuth2Spec::new("https://t.example/authorize", "https://t.example/token");
        let tracker = with_oauth(tracker(), spec.clone());
        assert_eq!(
            client_id(&tracker, serde_json::json!({"client_id": "trk_1"})).as_deref(),
            Some("trk_1")
        );
        assert_eq!(client_id(&tracker, serde_json::json!({})), None);
        assert_eq!(
            client_id(&tracker, serde_json::json!({"client_id": ""})),
            None
        );
        // Another member, by pointer; the spec's own client id serves targets naming none.
        let tracker = with_oauth(
            tracker_with_pointer("/oauth/client"),
            spec.with_client_id(Some("built_in")),
        );
        assert_eq!(
            client_id(&tracker, serde_json::json!({"oauth": {"client": "trk_2"}})).as_deref(),
            Some("trk_2")
        );
        assert_eq!(
            client_id(&tracker, serde_json::json!({"client_id": "ignored"})).as_deref(),
            Some("built_in")
        );
        // A method without OAuth 2.0 data has none.
        let api_key = tracker.connection_methods().remove(0);
        assert!(
            tracker
                .oauth2(&api_key, &Parsed::new(serde_json::json!({}), ()))
                .is_none()
        );
    }

    struct Tickets;

    #[async_trait::async_trait]
    impl SyncSource for Tickets {
        fn streams(&self) -> Vec<crate::provider::sync::SyncStream> {
            vec![crate::provider::sync::SyncStream::new("tickets", true)]
        }

        async fn fetch_page(
            &self,
            _request: crate::provider::sync::SyncRequest<'_>,
        ) -> Result<crate::provider::sync::SyncPage, Error> {
            Ok(crate::provider::sync::SyncPage::new(Vec::new(), None))
        }
    }

    /// The identity check and the sync source given to the builder are the ones the
    /// traits answer with; without them, none.
    #[test]
    fn identity_checks_and_sync_come_from_the_builder() {
        let plain = tracker();
        let method = plain.connection_methods().remove(0);
        let config = Parsed::new(serde_json::json!({}), ());
        assert!(plain.identity_check(&method, &config).is_none());
        assert!(plain.sync().is_none());

        let checked = tracker()
            .with_identity_check(|method, _config| {
                (method.id.as_str() == "api-key").then(|| {
                    IdentityCheck::get(
                        "https://tracker.example.com/api/me",
                        crate::plan::AuthInjection::Bearer,
                    )
                    .with_subject_pointer("/id")
                })
            })
            .with_sync(Tickets);
        let check = checked.identity_check(&method, &config).unwrap();
        assert_eq!(check.url, "https://tracker.example.com/api/me");
        let streams = checked.sync().unwrap().streams();
        assert_eq!(streams[0].name, "tickets");
        let debug = format!("{checked:?}");
        assert!(
            debug.contains("identity_check: true") && debug.contains("sync: true"),
            "{debug}"
        );
    }

    fn tracker_with_pointer(pointer: &str) -> DeclaredIntegration {
        tracker().with_oauth_client_id_pointer(pointer)
    }

    #[test]
    fn webhooks_tools_and_headers_come_in_pairs_and_register() {
        let tracker = tracker()
            .with_default_header(ACCEPT, HeaderValue::from_static("application/json"))
            .with_webhooks(
                WebhookSource::new(HmacHexScheme::new("x-signature"))
                    .with_target_secret("webhook_secret"),
                Hooks,
            )
            .with_tools(ToolSet::new().with(Ping));
        assert!(tracker.webhook_source().is_some());
        assert!(tracker.webhooks().is_some());
        assert_eq!(tracker.tool_catalog()[0].name, "tracker_ping_server");
        assert!(tracker.tools().is_some());
        let parsed = Parsed::new(serde_json::json!({}), ());
        assert_eq!(
            tracker.default_headers(&parsed).unwrap()[ACCEPT],
            "application/json"
        );
        let mut registry = Registry::new();
        registry.register(std::sync::Arc::new(tracker)).unwrap();
        assert!(registry.find_tool("tracker_ping_server").is_some());
    }
}
