//! Slack (`slack::slack-default`): messages, threads, reactions and channels through the
//! Web API, the Events API, and tools for agents ([`tools`]).

mod auth;
pub mod compile;
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
use integrations_core::plan::BindingPlan;
use integrations_core::provider::IntegrationProvider;
use integrations_core::schema::{ConfigSpec, Parsed};
use integrations_core::tools::{ToolDescriptor, ToolExecutor};
use integrations_core::webhook::{WebhookHandler, WebhookSource};
use integrations_core::{DefinitionKey, IntegrationKind, ValidationIssue};
use serde_json::json;

use self::schemas::{
    SlackBindingConfig, SlackConnectionConfig, SlackTargetConfig, SlackTargetSecrets,
};

/// The Slack integration.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Slack;

impl Slack {
    /// The integration.
    pub fn new() -> Self {
        Self
    }

    fn oauth2_spec(config: Option<&SlackTargetConfig>) -> OAuth2Spec {
        let (web, api, scopes, client_id) = match config {
            Some(c) => (
                c.web_base_url.as_str(),
                c.api_base_url.as_str(),
                c.bot_scopes.clone(),
                c.client_id.as_deref(),
            ),
            None => (
                "https://slack.com",
                "https://slack.com/api",
                Vec::new(),
                None,
            ),
        };
        // Comma-separated scopes; every answer is HTTP 200 with `ok`; the workspace is the
        // connection's subject; rotating tokens when the app enables rotation.
        OAuth2Spec::new(
            format!("{web}/oauth/v2/authorize"),
            format!("{api}/oauth.v2.access"),
        )
        .with_revoke_url(format!("{api}/auth.revoke"))
        .with_default_scopes(scopes)
        .with_scope_separator(ScopeSeparator::Comma)
        .with_pkce(Pkce::S256)
        .with_client_auth(ClientAuth::BasicHeader)
        .with_success_field("ok")
        .with_subject_pointer("/team/id")
        .with_rotating_refresh_tokens()
        .with_client_id(client_id)
        // Refreshing with a used or revoked refresh token (HTTP 200, `ok: false`).
        .with_grant_error_code("invalid_refresh_token")
        .with_grant_error_code("token_revoked")
    }
}

impl IntegrationDefinition for Slack {
    fn key(&self) -> DefinitionKey {
        const { DefinitionKey::from_static("slack::slack-default") }
    }

    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Connector
    }

    fn metadata(&self) -> Metadata {
        Metadata::new(
            "Slack",
            "Messages, threads and reactions in Slack channels, and events from the workspace.",
            "slack",
            "communication",
        )
        .with_docs_url("https://docs.slack.dev")
    }

    fn target_config(&self) -> ConfigSpec {
        ConfigSpec::of::<SlackTargetConfig>()
            .with_example(json!({}))
            .with_example(json!({"client_id": "1234.5678", "app_id": "A0KRD7HC3"}))
    }

    fn target_secrets(&self) -> ConfigSpec {
        ConfigSpec::of::<SlackTargetSecrets>()
            .with_example(json!({}))
            .with_example(json!({"client_secret": "shh", "signing_secret": "8f742231b10e8888abcd99yyyzzz85a5"}))
    }

    fn binding_config(&self) -> ConfigSpec {
        ConfigSpec::of::<SlackBindingConfig>().with_example(json!({}))
    }

    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        vec![
            ConnectionMethod::new(
                crate::API_KEY_METHOD,
                "Bot token",
                ConnectionMethodKind::ApiKey,
            )
            .with_secret_field(
                SecretField::api_key("bot_token", "Bot token").with_expected_prefix("xoxb-"),
            )
            .with_config(connection_config()),
            ConnectionMethod::new(
                crate::OAUTH2_METHOD,
                "Add to Slack",
                ConnectionMethodKind::OAuth2AuthorizationCode,
            )
            .with_oauth2(Self::oauth2_spec(None))
            .with_config(connection_config()),
        ]
    }

    fn oauth2(&self, method: &ConnectionMethod, target_config: &Parsed) -> Option<OAuth2Spec> {
        method.oauth2.as_ref()?;
        let config = target_config.get::<SlackTargetConfig>().ok()?;
        Some(Self::oauth2_spec(Some(config)))
    }

    fn webhook_source(&self) -> Option<WebhookSource> {
        Some(webhook::source())
    }

    fn compile_binding(
        &self,
        input: &CompileInput<'_>,
    ) -> Result<BindingPlan, Vec<ValidationIssue>> {
        compile::compile(input)
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

/// The config of bot-token and OAuth connections: the channel messages go to by default.
fn connection_config() -> ConfigSpec {
    ConfigSpec::of::<SlackConnectionConfig>()
        .with_example(json!({}))
        .with_example(json!({"default_channel": "C0123456789"}))
}

impl IntegrationProvider for Slack {
    fn sync(&self) -> Option<&dyn integrations_core::sync::SyncSource> {
        Some(self)
    }

    fn webhooks(&self) -> Option<&dyn WebhookHandler> {
        Some(self)
    }

    fn tools(&self) -> Option<&dyn ToolExecutor> {
        Some(tools::tool_set())
    }
}
