//! A provider written outside the SDK, depending only on `integrations-core`: Jira Cloud
//! with API-token connections, two tools for agents, and HMAC-signed webhooks.
//!
//! Everything provider-specific (URLs, header names, payload shapes) lives here; the
//! SDK's engines (write service, token manager, tool runtime, webhook ingest, compiler)
//! run it unchanged. Its tests run the conformance suite of `integrations-testkit`.
//!
//! ```
//! use std::sync::Arc;
//!
//! let mut registry = integrations_core::Registry::new();
//! registry.register(Arc::new(jira_provider::Jira::new()))?;
//! assert!(registry.find_tool("jira_get_issue").is_some());
//! # Ok::<(), integrations_core::Error>(())
//! ```

mod tools;
mod webhook;

use integrations_core::provider::prelude::*;
use integrations_core::reexports::http::header::ACCEPT;

/// The definition's key.
pub const JIRA_CLOUD: DefinitionKey = DefinitionKey::from_static("jira::jira-cloud");

/// The site a Jira target points at.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(crate = "integrations_core::reexports::serde", deny_unknown_fields)]
#[schemars(crate = "integrations_core::reexports::schemars")]
#[non_exhaustive]
pub struct JiraTarget {
    /// The Jira Cloud site, `https://acme.atlassian.net`.
    pub site_url: BaseUrl,
}

/// The target's secrets.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(crate = "integrations_core::reexports::serde", deny_unknown_fields)]
#[schemars(crate = "integrations_core::reexports::schemars")]
#[non_exhaustive]
pub struct JiraSecrets {
    /// The secret Jira signs webhooks with (`X-Hub-Signature: sha256=...`).
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
}

/// An API-token connection: Jira Cloud authenticates `email:token` with HTTP Basic.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(crate = "integrations_core::reexports::serde", deny_unknown_fields)]
#[schemars(crate = "integrations_core::reexports::schemars")]
#[non_exhaustive]
pub struct JiraConnection {
    /// The Atlassian account email the token belongs to.
    #[schemars(email)]
    pub email: String,
}

/// What a binding works on.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(crate = "integrations_core::reexports::serde", deny_unknown_fields)]
#[schemars(crate = "integrations_core::reexports::schemars")]
#[non_exhaustive]
pub struct JiraBinding {
    /// The project key (`ENG`).
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]{1,9}$"))]
    pub project_key: String,
}

/// The Jira integration.
#[derive(Debug)]
#[non_exhaustive]
pub struct Jira {
    tools: ToolSet,
}

impl Jira {
    /// The integration.
    pub fn new() -> Self {
        Self {
            tools: tools::tool_set(),
        }
    }
}

impl Default for Jira {
    fn default() -> Self {
        Self::new()
    }
}

impl IntegrationDefinition for Jira {
    fn key(&self) -> DefinitionKey {
        JIRA_CLOUD
    }

    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Connector
    }

    fn metadata(&self) -> Metadata {
        Metadata::new(
            "Jira",
            "Issues and comments in Jira Cloud.",
            "jira",
            "productivity",
        )
        .with_docs_url("https://developer.atlassian.com/cloud/jira/platform/rest/v2/")
    }

    fn target_config(&self) -> ConfigSpec {
        ConfigSpec::of::<JiraTarget>()
            .with_example(json!({"site_url": "https://acme.atlassian.net"}))
    }

    fn target_secrets(&self) -> ConfigSpec {
        ConfigSpec::of::<JiraSecrets>()
            .with_example(json!({}))
            .with_example(json!({"webhook_secret": "jira-webhook-secret-example"}))
    }

    fn binding_config(&self) -> ConfigSpec {
        ConfigSpec::of::<JiraBinding>().with_example(json!({"project_key": "ENG"}))
    }

    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        let method = ConnectionMethod::api_key(
            "api-token",
            "API token",
            vec![SecretField::new(
                "api_token",
                "API token",
                CredentialType::API_KEY,
            )],
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .with_config(
            ConfigSpec::of::<JiraConnection>().with_example(json!({"email": "agent@acme.example"})),
        );
        vec![method]
    }

    /// Every request asks for JSON: declared once here, the tool HTTP context adds it to
    /// each tool request.
    fn default_headers(&self, _target_config: &Parsed) -> Result<HeaderMap> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        Ok(headers)
    }

    fn webhook_source(&self) -> Option<WebhookSource> {
        Some(webhook::source())
    }

    fn tool_catalog(&self) -> Vec<ToolDescriptor> {
        self.tools.descriptors()
    }
}

impl IntegrationProvider for Jira {
    fn webhooks(&self) -> Option<&dyn WebhookHandler> {
        Some(self)
    }

    fn tools(&self) -> Option<&dyn ToolExecutor> {
        Some(&self.tools)
    }
}
