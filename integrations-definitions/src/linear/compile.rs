//! What a Linear binding compiles to: Linear's hosted MCP server, declared without any
//! credential, and the route that adds the credential to requests to it (as a bearer
//! token, whatever the connection method).

use integrations_core::definition::CompileInput;
use integrations_core::model::CredentialType;
use integrations_core::plan::{
    AuthInjection, BindingPlan, CredentialSelector, EgressRouteSpec, McpServer, RouteMatch,
};
use integrations_core::{Error, ValidationIssue};

use super::schemas::LinearTargetConfig;

/// The name (and id) of Linear's MCP server in agent config files.
pub const MCP_SERVER: &str = "linear";

fn issues(e: &Error) -> Vec<ValidationIssue> {
    vec![ValidationIssue::new(e.code(), "", e.message())]
}

pub(super) fn compile(input: &CompileInput<'_>) -> Result<BindingPlan, Vec<ValidationIssue>> {
    let target = input
        .target_config()
        .get::<LinearTargetConfig>()
        .map_err(|e| issues(&e))?;
    let mcp = &target.mcp_url;
    // The hosted MCP server takes every credential as a bearer token, personal API keys
    // included (`bearer_token_env_var = "LINEAR_API_KEY"` in Codex's documented config);
    // only the GraphQL API (`api.linear.app`, tools and hooks) takes a key bare.
    let selector = match input.connection().method.as_str() {
        "api-key" => CredentialSelector::of_type(CredentialType::API_KEY),
        "oauth2" | "client-credentials" => {
            CredentialSelector::of_type(CredentialType::OAUTH2_ACCESS_TOKEN)
        }
        _ => {
            return Err(vec![ValidationIssue::new(
                crate::codes::issues::linear::UNSUPPORTED_CONNECTION_METHOD,
                "",
                "Linear bindings need an api-key, oauth2 or client-credentials connection",
            )]);
        }
    };
    let prefix = if mcp.path().is_empty() {
        "/"
    } else {
        mcp.path()
    };
    Ok(BindingPlan::new().with_route(EgressRouteSpec::new(
        RouteMatch::host(mcp.host()).with_path_prefix(prefix),
        mcp.as_str(),
        AuthInjection::Bearer,
        selector,
    )))
}

pub(super) fn mcp_servers(input: &CompileInput<'_>) -> Vec<McpServer> {
    match input.target_config().get::<LinearTargetConfig>() {
        Ok(target) => vec![McpServer::http(
            MCP_SERVER,
            MCP_SERVER,
            target.mcp_url.as_str(),
        )],
        Err(_) => Vec::new(),
    }
}
