//! A provider written outside the SDK, depending on `integrations-core` (and on serde and
//! schemars for its derives): Jira Cloud with API-token connections, two tools for
//! agents, and HMAC-signed webhooks.
//!
//! Everything provider-specific (URLs, header names, payload shapes) lives here; the
//! SDK's engines (write service, token manager, tool runtime, webhook ingest, compiler)
//! run it unchanged. Its tests run the conformance suite of `integrations-testkit`.
//!
//! ```
//! use std::sync::Arc;
//!
//! let mut registry = integrations_core::Registry::new();
//! registry.register(Arc::new(jira_provider::jira()))?;
//! assert!(registry.find_tool("jira_get_issue").is_some());
//! # Ok::<(), integrations_core::Error>(())
//! ```

mod tools;
mod webhook;

use integrations_core::provider::prelude::*;

/// The definition's key.
pub const JIRA_CLOUD: DefinitionKey = DefinitionKey::from_static("jira::jira-cloud");

/// The connection method: an Atlassian API token.
pub const API_TOKEN: ConnectionMethodId = ConnectionMethodId::from_static("api-token");

/// The site a Jira target points at.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JiraTarget {
    /// The Jira Cloud site, `https://acme.atlassian.net`.
    pub site_url: BaseUrl,
}

/// The target's secrets.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JiraSecrets {
    /// The secret Jira signs webhooks with (`X-Hub-Signature: sha256=...`).
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
}

/// An API-token connection: Jira Cloud authenticates `email:token` with HTTP Basic.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JiraConnection {
    /// The Atlassian account email the token belongs to.
    #[schemars(email)]
    pub email: String,
}

/// What a binding works on.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JiraBinding {
    /// The project key (`ENG`).
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]{1,9}$"))]
    pub project_key: String,
}

/// The Jira integration, declared as data: configs, the API-token method, the `Accept`
/// header every request carries, the webhooks and the tools.
pub fn jira() -> DeclaredIntegration {
    let metadata = Metadata::new(
        "Jira",
        "Issues and comments in Jira Cloud.",
        "jira",
        "productivity",
    )
    .with_docs_url("https://developer.atlassian.com/cloud/jira/platform/rest/v2/");
    DeclaredIntegration::new(JIRA_CLOUD, IntegrationKind::Connector, metadata)
        .with_target_config(
            ConfigSpec::of::<JiraTarget>()
                .with_example(json!({"site_url": "https://acme.atlassian.net"})),
        )
        .with_target_secrets(
            ConfigSpec::of::<JiraSecrets>()
                .with_example(json!({}))
                .with_example(json!({"webhook_secret": "jira-webhook-secret-example"})),
        )
        .with_binding_config(
            ConfigSpec::of::<JiraBinding>().with_example(json!({"project_key": "ENG"})),
        )
        .with_connection_method(
            ConnectionMethod::new(API_TOKEN, "API token", ConnectionMethodKind::ApiKey)
                .with_secret_field(SecretField::api_key("api_token", "API token"))
                .with_config(
                    ConfigSpec::of::<JiraConnection>()
                        .with_example(json!({"email": "agent@acme.example"})),
                ),
        )
        // The tool HTTP context adds it to each tool request.
        .with_default_header(header::ACCEPT, HeaderValue::from_static("application/json"))
        .with_webhooks(webhook::source(), webhook::JiraWebhooks)
        .with_tools(tools::tool_set())
}
