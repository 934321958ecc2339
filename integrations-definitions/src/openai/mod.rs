//! OpenAI (`openai::openai-default`): model access for an agent runtime (the Codex CLI),
//! and tools for agents ([`tools`]).

mod auth;
pub mod compile;
pub mod schemas;
pub mod tools;
pub mod webhook;

use integrations_core::definition::{
    BindingContext, CompileInput, ConnectionMethod, ConnectionMethodKind, IdentityCheck,
    IntegrationDefinition, Metadata, SecretField,
};
use integrations_core::plan::{BindingPlan, McpConfigTarget};
use integrations_core::provider::IntegrationProvider;
use integrations_core::schema::{Choice, ConfigKind, ConfigSpec, Form, FormContext, Parsed};
use integrations_core::tools::{ToolDescriptor, ToolExecutor};
use integrations_core::webhook::{WebhookHandler, WebhookSource};
use integrations_core::{ConnectionMethodId, DefinitionKey, IntegrationKind, ValidationIssue};
use serde_json::json;

use self::schemas::{
    OpenAiBindingConfig, OpenAiConnectionConfig, OpenAiTargetConfig, OpenAiTargetSecrets,
};

/// The OpenAI integration.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct OpenAi;

impl OpenAi {
    /// The integration.
    pub fn new() -> Self {
        Self
    }
}

impl IntegrationDefinition for OpenAi {
    fn key(&self) -> DefinitionKey {
        const { DefinitionKey::from_static("openai::openai-default") }
    }

    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Agent
    }

    fn metadata(&self) -> Metadata {
        Metadata::new(
            "OpenAI",
            "Model access for agent runtimes such as the Codex CLI, through the OpenAI API.",
            "openai",
            "ai",
        )
        .with_docs_url("https://platform.openai.com/docs/api-reference")
    }

    fn target_config(&self) -> ConfigSpec {
        ConfigSpec::of::<OpenAiTargetConfig>()
            .with_example(json!({}))
            .with_example(json!({
                "api_base_url": "https://api.openai.com/v1",
                "models": {"gpt-5-codex": {"reasoning_efforts": ["low", "medium", "high"], "default_reasoning_effort": "medium"}},
            }))
    }

    fn target_secrets(&self) -> ConfigSpec {
        ConfigSpec::of::<OpenAiTargetSecrets>()
            .with_example(json!({}))
            .with_example(json!({"webhook_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}))
    }

    fn binding_config(&self) -> ConfigSpec {
        ConfigSpec::of::<OpenAiBindingConfig>().with_example(json!({
            "runtime": "codex-cli",
            "model": "gpt-5-codex",
            "reasoning_effort": "high",
        }))
    }

    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        const API_KEY: ConnectionMethodId = ConnectionMethodId::from_static("api-key");
        vec![
            ConnectionMethod::new(API_KEY, "API key", ConnectionMethodKind::ApiKey)
                .with_secret_field(
                    SecretField::api_key("api_key", "API key").with_expected_prefix("sk-"),
                )
                .with_config(
                    ConfigSpec::of::<OpenAiConnectionConfig>()
                        .with_example(json!({}))
                        .with_example(json!({"organization": "org-123", "project": "proj_abc"})),
                ),
        ]
    }

    fn validate_binding(&self, context: &BindingContext<'_>) -> Vec<ValidationIssue> {
        let mut issues = Vec::new();
        if context.connection.connection.method.as_str() != "api-key" {
            issues.push(ValidationIssue::new(
                crate::codes::issues::openai::UNSUPPORTED_CONNECTION_METHOD,
                "",
                "OpenAI bindings need an api-key connection",
            ));
        }
        match (
            context.target.config.get::<OpenAiTargetConfig>(),
            context.binding_config.get::<OpenAiBindingConfig>(),
        ) {
            (Ok(target), Ok(binding)) => issues.extend(Self::check_binding(target, binding)),
            (Err(e), _) | (_, Err(e)) => {
                issues.push(ValidationIssue::new(e.code(), "", e.message()));
            }
        }
        issues
    }

    fn compile_binding(
        &self,
        input: &CompileInput<'_>,
    ) -> Result<BindingPlan, Vec<ValidationIssue>> {
        compile::compile(input)
    }

    fn mcp_config_target(&self) -> Option<McpConfigTarget> {
        Some(compile::mcp_config_target())
    }

    fn identity_check(
        &self,
        method: &ConnectionMethod,
        target_config: &Parsed,
    ) -> Option<IdentityCheck> {
        auth::identity_check(method, target_config)
    }

    fn narrow_form(&self, kind: &ConfigKind, context: &FormContext<'_>, form: &mut Form) {
        // A binding form offers exactly the models the target allows.
        if *kind != ConfigKind::BindingConfig {
            return;
        }
        let Some(target) = context
            .target_config
            .and_then(|raw| serde_json::from_value::<OpenAiTargetConfig>(raw.clone()).ok())
        else {
            return;
        };
        form.set_choices(
            "/model",
            target
                .models
                .keys()
                .map(|m| Choice::new(m.as_str(), m.as_str()))
                .collect(),
        );
    }

    fn webhook_source(&self) -> Option<WebhookSource> {
        Some(webhook::source())
    }

    fn tool_catalog(&self) -> Vec<ToolDescriptor> {
        tools::tool_set().descriptors()
    }
}

impl IntegrationProvider for OpenAi {
    fn webhooks(&self) -> Option<&dyn WebhookHandler> {
        Some(self)
    }

    fn tools(&self) -> Option<&dyn ToolExecutor> {
        Some(tools::tool_set())
    }
}

impl OpenAi {
    fn check_binding(
        target: &OpenAiTargetConfig,
        binding: &OpenAiBindingConfig,
    ) -> Vec<ValidationIssue> {
        let mut issues = Vec::new();
        match target.models.get(&binding.model) {
            None => issues.push(ValidationIssue::new(
                crate::codes::issues::openai::UNSUPPORTED_MODEL,
                "/model",
                "the target does not allow this model",
            )),
            Some(capability) => {
                if let Some(effort) = binding.reasoning_effort
                    && !capability.reasoning_efforts.contains(&effort)
                {
                    issues.push(ValidationIssue::new(
                        crate::codes::issues::openai::UNSUPPORTED_REASONING_EFFORT,
                        "/reasoning_effort",
                        format!(
                            "the model does not allow reasoning effort {}",
                            effort.as_str()
                        ),
                    ));
                }
            }
        }
        issues
    }
}
