//! A configurable integration for tests: every part can be swapped to build broken
//! definitions.

use std::sync::Arc;

use integrations_core::definition::{
    BindingContext, ConnectionMethod, IntegrationDefinition, Metadata, SecretField,
};
use integrations_core::model::CredentialType;
use integrations_core::provider::IntegrationProvider;
use integrations_core::schema::ConfigSpec;
use integrations_core::tools::{ToolAnnotations, ToolDescriptor};
use integrations_core::{DefinitionKey, IntegrationKind, Secret, ValidationIssue};
use schemars::JsonSchema;
use serde::Deserialize;

/// The target config of the test integration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "fields are read through the schema, not directly")]
pub(crate) struct TrackerTarget {
    /// Site URL.
    #[schemars(url)]
    pub site_url: String,
    /// Projects bindings may use.
    #[serde(default)]
    pub projects: Vec<String>,
}

/// The target secrets.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "fields are read through the schema, not directly")]
pub(crate) struct TrackerSecrets {
    /// Webhook secret.
    pub webhook_secret: Secret,
}

/// The binding config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrackerBinding {
    /// The project.
    #[schemars(length(min = 1))]
    pub project: String,
}

/// Tool arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code, reason = "fields are read through the schema, not directly")]
pub(crate) struct CreateTicket {
    /// Title.
    pub title: String,
}

#[derive(Clone)]
pub(crate) struct TestIntegration {
    pub key: DefinitionKey,
    pub kind: IntegrationKind,
    pub metadata: Metadata,
    pub target_config: ConfigSpec,
    pub methods: Vec<ConnectionMethod>,
    pub tools: Vec<ToolDescriptor>,
}

impl TestIntegration {
    pub(crate) fn new(key: &str) -> Self {
        let key: DefinitionKey = key.parse().unwrap();
        let family = key.family().replace('-', "_");
        Self {
            kind: IntegrationKind::Connector,
            metadata: Metadata::new("Tracker", "Tickets in Tracker.", "tracker", "productivity"),
            target_config: ConfigSpec::of::<TrackerTarget>()
                .with_example(serde_json::json!({"site_url": "https://t.example.com"})),
            methods: vec![
                ConnectionMethod::api_key(
                    "api-key",
                    "API token",
                    vec![
                        SecretField::new("api_token", "API token", CredentialType::API_KEY)
                            .with_expected_prefix("trk_"),
                    ],
                )
                .unwrap(),
            ],
            tools: vec![
                ToolDescriptor::new::<CreateTicket>(
                    format!("{family}_create_ticket"),
                    "Create a ticket.",
                )
                .with_annotations(ToolAnnotations::additive()),
            ],
            key,
        }
    }

    pub(crate) fn arc(self) -> Arc<Self> {
        Arc::new(self)
    }
}

impl IntegrationDefinition for TestIntegration {
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
        ConfigSpec::of::<TrackerSecrets>()
    }
    fn binding_config(&self) -> ConfigSpec {
        ConfigSpec::of::<TrackerBinding>()
    }
    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        self.methods.clone()
    }
    fn validate_binding(&self, context: &BindingContext<'_>) -> Vec<ValidationIssue> {
        let target = context.target.config.get::<TrackerTarget>().unwrap();
        let binding = context.binding_config.get::<TrackerBinding>().unwrap();
        if target.projects.contains(&binding.project) {
            Vec::new()
        } else {
            vec![ValidationIssue::new(
                "tracker.unknown_project",
                "/project",
                "the target does not offer this project",
            )]
        }
    }
    fn tool_catalog(&self) -> Vec<ToolDescriptor> {
        self.tools.clone()
    }
}

impl IntegrationProvider for TestIntegration {}
