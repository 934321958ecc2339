//! GitHub (`github::github-cloud`, `github::github-enterprise-server`): repositories,
//! git over HTTPS, the REST and GraphQL APIs, App webhooks, and tools for agents
//! ([`tools`]).

pub mod auth;
pub mod compile;
pub mod hooks;
mod http_errors;
mod installation_owner;
mod revoke;
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
use integrations_core::provider::{
    CredentialResolver, GrantRevoker, IntegrationProvider, RedirectFlow,
};
use integrations_core::schema::{ConfigSpec, Parsed};
use integrations_core::tools::{ToolDescriptor, ToolExecutor};
use integrations_core::webhook::{WebhookHandler, WebhookRegistrar, WebhookSource};
use integrations_core::{
    ConnectionMethodId, DefinitionKey, Error, IntegrationKind, ValidationIssue,
};
use serde_json::json;

use self::schemas::{
    GitHubBindingConfig, GitHubCloudTargetConfig, GitHubConnectionConfig, GitHubEndpoints,
    GitHubServerTargetConfig, GitHubTargetSecrets,
};

/// Which GitHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Variant {
    /// github.com.
    Cloud,
    /// GitHub Enterprise Server on the customer's host.
    EnterpriseServer,
}

/// The GitHub integration, in one of its two variants.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GitHub {
    variant: Variant,
}

const CLOUD_INSTALLATION: auth::AppInstallationFlow =
    auth::AppInstallationFlow::new(Variant::Cloud);
const SERVER_INSTALLATION: auth::AppInstallationFlow =
    auth::AppInstallationFlow::new(Variant::EnterpriseServer);
const CLOUD_GRANTS: revoke::GrantDeletion = revoke::GrantDeletion(Variant::Cloud);
const SERVER_GRANTS: revoke::GrantDeletion = revoke::GrantDeletion(Variant::EnterpriseServer);
const CLOUD_TOKENS: auth::InstallationTokens = auth::InstallationTokens::custom(Variant::Cloud);
const SERVER_TOKENS: auth::InstallationTokens =
    auth::InstallationTokens::custom(Variant::EnterpriseServer);
const CLOUD_DEFAULT_TOKENS: auth::InstallationTokens =
    auth::InstallationTokens::default_for(Variant::Cloud);
const SERVER_DEFAULT_TOKENS: auth::InstallationTokens =
    auth::InstallationTokens::default_for(Variant::EnterpriseServer);

impl GitHub {
    /// github.com.
    pub fn cloud() -> Self {
        Self {
            variant: Variant::Cloud,
        }
    }

    /// GitHub Enterprise Server.
    pub fn enterprise_server() -> Self {
        Self {
            variant: Variant::EnterpriseServer,
        }
    }

    /// The variant.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The endpoints of a target of this variant.
    ///
    /// # Errors
    ///
    /// `schema.type_mismatch` when `target_config` was not parsed by this variant's spec.
    pub fn endpoints(&self, target_config: &Parsed) -> Result<GitHubEndpoints, Error> {
        match self.variant {
            Variant::Cloud => Ok(target_config.get::<GitHubCloudTargetConfig>()?.endpoints()),
            Variant::EnterpriseServer => {
                Ok(target_config.get::<GitHubServerTargetConfig>()?.endpoints())
            }
        }
    }

    fn oauth2_spec(web: &str, client_id: Option<&str>) -> OAuth2Spec {
        // GitHub answers form-encoded unless asked for JSON, reports errors with HTTP 200,
        // supports PKCE S256 since 2025-07, and takes the client secret in the body.
        OAuth2Spec::new(
            format!("{web}/login/oauth/authorize"),
            format!("{web}/login/oauth/access_token"),
        )
        .with_default_scopes(["repo"])
        .with_scope_separator(ScopeSeparator::Space)
        .with_pkce(Pkce::S256)
        .with_client_auth(ClientAuth::RequestBody)
        .with_token_header("Accept", "application/json")
        .with_rotating_refresh_tokens()
        .with_client_id(client_id)
        // Refresh failures are `bad_refresh_token`, reported with HTTP 200.
        .with_grant_error_code("bad_refresh_token")
    }
}

impl IntegrationDefinition for GitHub {
    fn key(&self) -> DefinitionKey {
        match self.variant {
            Variant::Cloud => const { DefinitionKey::from_static("github::github-cloud") },
            Variant::EnterpriseServer => {
                const { DefinitionKey::from_static("github::github-enterprise-server") }
            }
        }
    }

    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Git
    }

    fn metadata(&self) -> Metadata {
        match self.variant {
            Variant::Cloud => Metadata::new(
                "GitHub",
                "Repositories, pull requests and issues on github.com, with git over HTTPS for sandboxes.",
                "github",
                "developer-tools",
            )
            .with_docs_url("https://docs.github.com/en/rest"),
            Variant::EnterpriseServer => Metadata::new(
                "GitHub Enterprise Server",
                "Repositories, pull requests and issues on a self-hosted GitHub Enterprise Server.",
                "github",
                "developer-tools",
            )
            .with_docs_url("https://docs.github.com/en/enterprise-server@latest/rest"),
        }
    }

    fn target_config(&self) -> ConfigSpec {
        match self.variant {
            Variant::Cloud => ConfigSpec::of::<GitHubCloudTargetConfig>()
                .with_example(json!({}))
                .with_example(json!({"app_id": 123_456, "app_slug": "acme-agent", "client_id": "Iv1.8a61f9b3a7aba766"})),
            Variant::EnterpriseServer => ConfigSpec::of::<GitHubServerTargetConfig>()
                .with_example(json!({"web_base_url": "https://ghe.example.com"}))
                .with_example(json!({
                    "web_base_url": "https://ghe.example.com",
                    "api_base_url": "https://ghe.example.com/api/v3",
                    "app_id": 7,
                    "app_slug": "acme-agent",
                })),
        }
    }

    fn target_secrets(&self) -> ConfigSpec {
        ConfigSpec::of::<GitHubTargetSecrets>()
            .with_example(json!({}))
            .with_example(
                json!({"client_secret": "s3cr3t", "webhook_secret": "It's a Secret to Everybody"}),
            )
    }

    fn binding_config(&self) -> ConfigSpec {
        ConfigSpec::of::<GitHubBindingConfig>()
            .with_example(json!({"repositories": ["octo-org/octo-repo"]}))
    }

    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        let web = match self.variant {
            Variant::Cloud => "https://github.com",
            Variant::EnterpriseServer => "https://ghe.example.com",
        };
        vec![
            ConnectionMethod::new(
                crate::API_KEY_METHOD,
                "Personal access token",
                ConnectionMethodKind::ApiKey,
            )
            .with_secret_field(SecretField::api_key("token", "Personal access token"))
            .with_config(connection_config()),
            ConnectionMethod::new(
                crate::OAUTH2_METHOD,
                "Sign in with GitHub",
                ConnectionMethodKind::OAuth2AuthorizationCode,
            )
            .with_oauth2(Self::oauth2_spec(web, None))
            .with_config(connection_config()),
            ConnectionMethod::new(
                const { ConnectionMethodId::from_static(auth::INSTALLATION_METHOD) },
                "Install the GitHub App",
                ConnectionMethodKind::Redirect,
            ),
        ]
    }

    fn oauth2(&self, method: &ConnectionMethod, target_config: &Parsed) -> Option<OAuth2Spec> {
        method.oauth2.as_ref()?;
        let endpoints = self.endpoints(target_config).ok()?;
        Some(Self::oauth2_spec(
            endpoints.web.as_str(),
            endpoints.client_id.as_deref(),
        ))
    }

    fn identity_check(
        &self,
        method: &ConnectionMethod,
        target_config: &Parsed,
    ) -> Option<IdentityCheck> {
        auth::identity_check(self, method, target_config)
    }

    /// `Accept: application/vnd.github+json`, the target's `X-GitHub-Api-Version` and the
    /// `User-Agent` GitHub requires, on every tool request and identity check.
    fn default_headers(&self, target_config: &Parsed) -> Result<http::HeaderMap, Error> {
        tools::default_headers(&self.endpoints(target_config)?)
    }

    fn webhook_source(&self) -> Option<WebhookSource> {
        Some(managed_methods().into_iter().fold(
            webhook::source(self.variant),
            WebhookSource::with_managed_method,
        ))
    }

    fn compile_binding(
        &self,
        input: &CompileInput<'_>,
    ) -> Result<BindingPlan, Vec<ValidationIssue>> {
        compile::compile(self, input)
    }

    fn tool_catalog(&self) -> Vec<ToolDescriptor> {
        // The same tools on both variants: the connection decides which GitHub a call
        // reaches.
        tools::tool_set().descriptors()
    }
}

/// The config of token and OAuth connections: where their managed webhook goes, and the
/// repositories sync reads.
fn connection_config() -> ConfigSpec {
    ConfigSpec::of::<GitHubConnectionConfig>()
        .with_example(json!({}))
        .with_example(json!({"webhook_repository": "octo-org/octo-repo"}))
        .with_example(json!({"webhook_organization": "octo-org"}))
        .with_example(json!({"sync_repositories": ["octo-org/octo-repo"]}))
}

/// The connection methods whose webhooks are managed ([`hooks`]); a GitHub App's
/// webhooks are the app's own (implicit).
fn managed_methods() -> Vec<ConnectionMethodId> {
    vec![crate::API_KEY_METHOD, crate::OAUTH2_METHOD]
}

impl IntegrationProvider for GitHub {
    fn sync(&self) -> Option<&dyn integrations_core::sync::SyncSource> {
        Some(self)
    }

    fn webhooks(&self) -> Option<&dyn WebhookHandler> {
        Some(self)
    }

    fn webhook_registrar(&self, method: &ConnectionMethodId) -> Option<&dyn WebhookRegistrar> {
        managed_methods()
            .contains(method)
            .then_some(&hooks::GitHubHooks as &dyn WebhookRegistrar)
    }

    fn tools(&self) -> Option<&dyn ToolExecutor> {
        Some(tools::tool_set())
    }

    fn redirect_flow(&self, method: &ConnectionMethodId) -> Option<&dyn RedirectFlow> {
        if method.as_str() != auth::INSTALLATION_METHOD {
            return None;
        }
        Some(match self.variant {
            Variant::Cloud => &CLOUD_INSTALLATION,
            Variant::EnterpriseServer => &SERVER_INSTALLATION,
        })
    }

    fn grant_revoker(&self, method: &ConnectionMethodId) -> Option<&dyn GrantRevoker> {
        if method.as_str() != auth::OAUTH_METHOD {
            return None;
        }
        Some(match self.variant {
            Variant::Cloud => &CLOUD_GRANTS,
            Variant::EnterpriseServer => &SERVER_GRANTS,
        })
    }

    fn credential_resolver(&self, key: &str) -> Option<&dyn CredentialResolver> {
        if key != auth::INSTALLATION_TOKEN_RESOLVER {
            return None;
        }
        Some(match self.variant {
            Variant::Cloud => &CLOUD_TOKENS,
            Variant::EnterpriseServer => &SERVER_TOKENS,
        })
    }

    fn default_credential_resolver(&self) -> Option<&dyn CredentialResolver> {
        Some(match self.variant {
            Variant::Cloud => &CLOUD_DEFAULT_TOKENS,
            Variant::EnterpriseServer => &SERVER_DEFAULT_TOKENS,
        })
    }
}
