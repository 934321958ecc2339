//! [`IntegrationDefinition`]: the pure, control-plane half of an integration.

mod context;
mod identity;
mod metadata;
mod method;
mod oauth2;
mod tool;
mod tool_name;
pub mod webhook;

pub use context::{BindingContext, CompileInput, ConnectionView, TargetView};
pub use identity::{IdentityCheck, identity_check_with_defaults};
pub use metadata::Metadata;
pub use method::{ConnectionMethod, ConnectionMethodKind, SecretField};
pub use oauth2::{
    ClientAuth, INSECURE_ENDPOINT, OAuth2Spec, Pkce, ScopeSeparator, is_secure_endpoint,
};
pub use tool::{ToolAnnotations, ToolDescriptor, ToolPolicy};
pub use tool_name::{CONTINUE_TOOL_NAME, MAX_TOOL_NAME_LEN, check_tool_name, sanitize_tool_name};
pub use webhook::{WebhookLifecycle, WebhookSource};

use crate::plan::{BindingPlan, McpConfigTarget, McpServer};
use crate::schema::{ConfigKind, ConfigSpec, Form, FormContext, Parsed};
use crate::{DefinitionKey, Error, IntegrationKind, ValidationIssue};

/// What an integration **is**: identity, metadata, schemas, connection methods and their
/// declarative auth data, binding validation, compilation into runtime-plan fragments,
/// MCP declarations and the tool catalog.
///
/// Every method is synchronous, deterministic and free of I/O, so definitions run
/// identically at write time, at compile time, in tests and in the CLI. Effects live in
/// [`IntegrationProvider`](crate::provider::IntegrationProvider).
///
/// Only identity, kind, metadata and connection methods are required; everything else
/// has a default, and new methods will always come with one, so a provider crate keeps
/// compiling across minor releases.
///
/// The registry reads the static parts (metadata, specs, methods, tool catalog) once at
/// registration and caches them.
pub trait IntegrationDefinition: Send + Sync + 'static {
    /// `family::variant`.
    fn key(&self) -> DefinitionKey;

    /// Agent, connector or git. A binding's kind must equal it.
    fn kind(&self) -> IntegrationKind;

    /// Display metadata.
    fn metadata(&self) -> Metadata;

    /// The target config (operator-managed, per environment). Default: `{}`.
    fn target_config(&self) -> ConfigSpec {
        ConfigSpec::empty()
    }

    /// The target secrets (OAuth client secret, webhook secret, app private key), stored
    /// sealed. Default: `{}`.
    fn target_secrets(&self) -> ConfigSpec {
        ConfigSpec::empty()
    }

    /// The binding config (user, per sandbox profile). Default: `{}`.
    fn binding_config(&self) -> ConfigSpec {
        ConfigSpec::empty()
    }

    /// The ways to connect. At least one.
    fn connection_methods(&self) -> Vec<crate::definition::ConnectionMethod>;

    /// The OAuth 2.0 data of `method` for a target. Override when endpoints depend on the
    /// target config (GitHub Enterprise Server lives on the customer's host). Default: the
    /// method's static [`OAuth2Spec`].
    fn oauth2(&self, method: &ConnectionMethod, target_config: &Parsed) -> Option<OAuth2Spec> {
        let _ = target_config;
        method.oauth2.clone()
    }

    /// The cheap authenticated call that proves a credential of `method` works, and names
    /// the connection's external subject where the provider reports one (GitHub
    /// `GET /user`, Slack `auth.test`). The auth engine runs it before storing an API-key
    /// connection, and after an OAuth 2.0 code exchange whose token response did not name
    /// the subject. Default: none (credentials are stored unverified).
    fn identity_check(
        &self,
        method: &ConnectionMethod,
        target_config: &Parsed,
    ) -> Option<IdentityCheck> {
        let _ = (method, target_config);
        None
    }

    /// Headers every request to the provider's API carries, declared once for a target:
    /// an API version (`X-GitHub-Api-Version`), a media type, a `User-Agent` the provider
    /// requires. The tool HTTP context ([`ToolHttp`](crate::tools::ToolHttp)) adds them to
    /// every tool request that does not set the header itself, and the auth engine to
    /// every [`identity_check`](Self::identity_check). Never a credential. Default: none.
    ///
    /// # Errors
    ///
    /// A configuration error when the target config gives a value that cannot be a
    /// header value.
    fn default_headers(&self, target_config: &Parsed) -> Result<http::HeaderMap, Error> {
        let _ = target_config;
        Ok(http::HeaderMap::new())
    }

    /// Adjusts a form for its context: narrow choices, fill defaults. Default: unchanged.
    fn narrow_form(&self, kind: &ConfigKind, context: &FormContext<'_>, form: &mut Form) {
        let _ = (kind, context, form);
    }

    /// Checks a binding against its target and connection beyond what the schemas say
    /// (a model the target allows, a connection method the binding supports). Runs
    /// identically at write time and at compile time. Return every issue, with stable
    /// `family.reason` codes and paths relative to the binding config. Default: none.
    fn validate_binding(&self, context: &BindingContext<'_>) -> Vec<ValidationIssue> {
        let _ = context;
        Vec::new()
    }

    /// What a binding contributes to the runtime plan: egress routes, artifacts, runtime
    /// clients, workspace sources. Called only after validation passed. Default: nothing.
    ///
    /// # Errors
    ///
    /// Issues with stable codes when the binding cannot be compiled.
    fn compile_binding(
        &self,
        input: &CompileInput<'_>,
    ) -> Result<BindingPlan, Vec<ValidationIssue>> {
        let _ = input;
        Ok(BindingPlan::new())
    }

    /// MCP servers the binding makes available to the profile's agents. Default: none.
    fn mcp_servers(&self, input: &CompileInput<'_>) -> Vec<McpServer> {
        let _ = input;
        Vec::new()
    }

    /// For agent definitions: the runtime-client file the profile's MCP servers are
    /// written into. Default: none.
    fn mcp_config_target(&self) -> Option<McpConfigTarget> {
        None
    }

    /// The tools this integration offers agents (descriptors are data; the provider
    /// executes them). Default: none.
    fn tool_catalog(&self) -> Vec<ToolDescriptor> {
        Vec::new()
    }

    /// How the provider delivers webhooks, as data: the signature scheme (header names,
    /// prefix, replay window), where the signing secrets live (target-secret fields,
    /// connection credentials), the delivery-id and event headers. Pair it with
    /// [`IntegrationProvider::webhooks`](crate::provider::IntegrationProvider::webhooks).
    /// Default: none (the integration receives no webhooks).
    fn webhook_source(&self) -> Option<WebhookSource> {
        None
    }
}
