//! Linear (`linear::linear-default`): issues and comments through GraphQL, Linear's
//! hosted MCP server, webhooks, and tools for agents ([`tools`]).

mod auth;
pub mod compile;
pub mod hooks;
pub mod schemas;
pub mod sync;
pub mod tools;
mod triggers;
pub mod webhook;

pub use self::triggers::sync_triggers;

use integrations_core::definition::ConnectionMethodKind;
use integrations_core::definition::{
    ClientAuth, CompileInput, ConnectionMethod, IdentityCheck, IntegrationDefinition, Metadata,
    OAuth2Spec, Pkce, ScopeSeparator, SecretField,
};
use integrations_core::plan::{BindingPlan, McpServer};
use integrations_core::provider::IntegrationProvider;
use integrations_core::schema::{ConfigSpec, Parsed};
use integrations_core::sync::SyncSource;
use integrations_core::tools::{ToolDescriptor, ToolExecutor};
use integrations_core::webhook::{WebhookHandler, WebhookRegistrar, WebhookSource};
use integrations_core::{ConnectionMethodId, DefinitionKey, IntegrationKind, ValidationIssue};
use serde_json::json;

use self::schemas::{
    LinearBindingConfig, LinearConnectionConfig, LinearTargetConfig, LinearTargetSecrets,
};

/// The Linear integration.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Linear;

impl Linear {
    /// The integration.
    pub fn new() -> Self {
        Self
    }

    fn oauth2_spec(config: Option<&LinearTargetConfig>) -> OAuth2Spec {
        let (web, api, scopes, actor, client_id) = match config {
            Some(c) => (
                c.web_base_url.as_str(),
                c.api_base_url.as_str(),
                c.scopes.clone(),
                c.actor.as_str(),
                c.client_id.as_deref(),
            ),
            None => (
                "https://linear.app",
                "https://api.linear.app",
                vec!["read".to_owned(), "write".to_owned()],
                "user",
                None,
            ),
        };
        // Comma-separated scopes; PKCE S256; refresh tokens rotate; access tokens last 24 h.
        OAuth2Spec::new(
            format!("{web}/oauth/authorize"),
            format!("{api}/oauth/token"),
        )
        .with_revoke_url(format!("{api}/oauth/revoke"))
        .with_default_scopes(scopes)
        .with_scope_separator(ScopeSeparator::Comma)
        .with_pkce(Pkce::S256)
        .with_client_auth(ClientAuth::RequestBody)
        .with_authorize_param("actor", actor)
        .with_rotating_refresh_tokens()
        .with_client_id(client_id)
    }
}

impl IntegrationDefinition for Linear {
    fn key(&self) -> DefinitionKey {
        const { DefinitionKey::from_static("linear::linear-default") }
    }

    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Connector
    }

    fn metadata(&self) -> Metadata {
        Metadata::new(
            "Linear",
            "Issues, comments and projects in Linear, for agents and their users.",
            "linear",
            "productivity",
        )
        .with_docs_url("https://linear.app/developers")
    }

    fn target_config(&self) -> ConfigSpec {
        ConfigSpec::of::<LinearTargetConfig>()
            .with_example(json!({}))
            .with_example(json!({"client_id": "lin_client_123", "scopes": ["read", "write", "issues:create"], "actor": "app"}))
    }

    fn target_secrets(&self) -> ConfigSpec {
        ConfigSpec::of::<LinearTargetSecrets>()
            .with_example(json!({}))
            .with_example(json!({"client_secret": "lin_secret", "webhook_secret": "lin_wh_example_signing_secret"}))
    }

    fn binding_config(&self) -> ConfigSpec {
        ConfigSpec::of::<LinearBindingConfig>().with_example(json!({}))
    }

    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        vec![
            ConnectionMethod::new(
                crate::API_KEY_METHOD,
                "Personal API key",
                ConnectionMethodKind::ApiKey,
            )
            .with_secret_field(
                SecretField::api_key("api_key", "API key").with_expected_prefix("lin_api_"),
            )
            .with_config(connection_config()),
            ConnectionMethod::new(
                crate::OAUTH2_METHOD,
                "Sign in with Linear",
                ConnectionMethodKind::OAuth2AuthorizationCode,
            )
            .with_oauth2(Self::oauth2_spec(None))
            .with_config(connection_config()),
            ConnectionMethod::new(
                const { ConnectionMethodId::from_static("client-credentials") },
                "Application token (client credentials)",
                ConnectionMethodKind::OAuth2ClientCredentials,
            )
            .with_oauth2(Self::oauth2_spec(None)),
        ]
    }

    fn oauth2(&self, method: &ConnectionMethod, target_config: &Parsed) -> Option<OAuth2Spec> {
        method.oauth2.as_ref()?;
        let config = target_config.get::<LinearTargetConfig>().ok()?;
        Some(Self::oauth2_spec(Some(config)))
    }

    fn webhook_source(&self) -> Option<WebhookSource> {
        // API-key and OAuth connections get a hook registered per connection
        // ([`hooks`]); an app's own webhook (client credentials) is configured in Linear.
        Some(
            managed_methods()
                .into_iter()
                .fold(webhook::source(), WebhookSource::with_managed_method),
        )
    }

    fn compile_binding(
        &self,
        input: &CompileInput<'_>,
    ) -> Result<BindingPlan, Vec<ValidationIssue>> {
        compile::compile(input)
    }

    fn mcp_servers(&self, input: &CompileInput<'_>) -> Vec<McpServer> {
        compile::mcp_servers(input)
    }

    fn tool_catalog(&self) -> Vec<ToolDescriptor> {
        tools::tool_set().descriptors()
    }

    fn identity_check(
        &self,
        method: &ConnectionMethod,
        target_config: &Parsed,
    ) -> Option<IdentityCheck> {
        auth::identity_check(method, target_config)
    }
}

/// The config of API-key and OAuth connections: the team their managed webhook covers,
/// and the team new issues go to by default.
fn connection_config() -> ConfigSpec {
    ConfigSpec::of::<LinearConnectionConfig>()
        .with_example(json!({}))
        .with_example(json!({"webhook_team": "ENG"}))
        .with_example(json!({"default_team_id": "9cfb482a-81e3-4154-b5b9-2c805e70a02d"}))
}

/// The connection methods whose webhooks are managed ([`hooks`]).
fn managed_methods() -> Vec<ConnectionMethodId> {
    vec![crate::API_KEY_METHOD, crate::OAUTH2_METHOD]
}

impl IntegrationProvider for Linear {
    fn sync(&self) -> Option<&dyn SyncSource> {
        Some(self)
    }

    fn webhooks(&self) -> Option<&dyn WebhookHandler> {
        Some(self)
    }

    fn webhook_registrar(&self, method: &ConnectionMethodId) -> Option<&dyn WebhookRegistrar> {
        managed_methods()
            .contains(method)
            .then_some(&hooks::LinearHooks as &dyn WebhookRegistrar)
    }

    fn tools(&self) -> Option<&dyn ToolExecutor> {
        Some(tools::tool_set())
    }
}
