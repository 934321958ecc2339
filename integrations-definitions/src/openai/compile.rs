//! What an OpenAI binding compiles to: a route to the API with the key injected, the
//! Codex CLI, and its config file with a model provider that needs no key.

use std::collections::BTreeMap;

use integrations_core::definition::CompileInput;
use integrations_core::model::CredentialType;
use integrations_core::plan::{
    Artifact, AuthInjection, BindingPlan, CredentialSelector, EgressRouteSpec, InstallStep,
    McpConfigFormat, McpConfigTarget, RouteMatch, RuntimeClient, RuntimeFile,
};
use integrations_core::{Error, ValidationIssue};
use toml_edit::{DocumentMut, Item, Table, value};

use super::schemas::{OpenAiBindingConfig, OpenAiConnectionConfig, OpenAiTargetConfig};

/// The runtime client id of the Codex CLI.
pub const CODEX_CLIENT: &str = "codex-cli";
/// The id of the Codex config file within the client.
pub const CODEX_CONFIG_FILE: &str = "codex-config";
/// The model provider the Codex config declares and selects.
pub const CODEX_PROVIDER: &str = "integrations-proxy";

/// The methods Codex uses on the API (`GET /models`, `POST /responses`).
const METHODS: [&str; 2] = ["GET", "POST"];

fn issues(e: &Error) -> Vec<ValidationIssue> {
    vec![ValidationIssue::new(e.code(), "", e.message())]
}

/// Where the profile's MCP servers go: `[mcp_servers]` of the Codex config.
pub(super) fn mcp_config_target() -> McpConfigTarget {
    McpConfigTarget::new(
        CODEX_CLIENT,
        CODEX_CONFIG_FILE,
        McpConfigFormat::Toml,
        vec!["mcp_servers".to_owned()],
    )
}

pub(super) fn compile(input: &CompileInput<'_>) -> Result<BindingPlan, Vec<ValidationIssue>> {
    let target = input
        .target_config()
        .get::<OpenAiTargetConfig>()
        .map_err(|e| issues(&e))?;
    let binding = input
        .binding_config()
        .get::<OpenAiBindingConfig>()
        .map_err(|e| issues(&e))?;
    let connection = input
        .connection_config()
        .get::<OpenAiConnectionConfig>()
        .map_err(|e| issues(&e))?;
    let base = &target.api_base_url;
    let prefix = if base.path().is_empty() {
        "/"
    } else {
        base.path()
    };
    let mut route = EgressRouteSpec::new(
        RouteMatch::host(base.host())
            .with_path_prefix(prefix)
            .with_methods(METHODS),
        base.as_str(),
        AuthInjection::Bearer,
        CredentialSelector::of_type(CredentialType::API_KEY),
    );
    if let Some(organization) = &connection.organization {
        route = route.with_header("OpenAI-Organization", organization);
    }
    if let Some(project) = &connection.project {
        route = route.with_header("OpenAI-Project", project);
    }
    let effort = binding.reasoning_effort.or_else(|| {
        target
            .models
            .get(&binding.model)
            .and_then(|m| m.default_reasoning_effort)
    });
    let codex_home = format!("{}/.codex", input.sandbox.home);
    let config = codex_config(
        base.as_str(),
        &binding.model,
        effort.map(super::schemas::ReasoningEffort::as_str),
        binding
            .additional_instructions
            .as_deref()
            .filter(|s| !s.trim().is_empty()),
    );
    let client = RuntimeClient::new(CODEX_CLIENT)
        .with_env("CODEX_HOME", codex_home.as_str())
        .with_file(RuntimeFile::new(
            CODEX_CONFIG_FILE,
            format!("{codex_home}/config.toml"),
            config,
        ));
    Ok(BindingPlan::new()
        .with_route(route)
        .with_artifact(codex_artifact())
        .with_runtime_client(client))
}

/// The Codex CLI, from the release assets of `openai/codex`.
fn codex_artifact() -> Artifact {
    Artifact::new(
        "codex-cli",
        "Codex CLI",
        vec![InstallStep::GithubRelease {
            repository: "openai/codex".to_owned(),
            tag: None,
            assets: BTreeMap::from([
                (
                    "aarch64".to_owned(),
                    "codex-aarch64-unknown-linux-musl.tar.gz".to_owned(),
                ),
                (
                    "x86_64".to_owned(),
                    "codex-x86_64-unknown-linux-musl.tar.gz".to_owned(),
                ),
            ]),
            binary: "codex".to_owned(),
        }],
    )
}

/// The Codex `config.toml`: a model provider pointing at the canonical API base URL,
/// which the sandbox reaches through the egress proxy (its `HTTPS_PROXY`); the proxy
/// adds the key. `requires_openai_auth = false` lets Codex start without a login or a
/// key; websockets stay off because that path is not credential-mediated.
fn codex_config(
    base_url: &str,
    model: &str,
    effort: Option<&str>,
    instructions: Option<&str>,
) -> String {
    let mut doc = DocumentMut::new();
    doc["model"] = value(model);
    doc["model_provider"] = value(CODEX_PROVIDER);
    if let Some(effort) = effort {
        doc["model_reasoning_effort"] = value(effort);
    }
    if let Some(instructions) = instructions {
        doc["developer_instructions"] = value(instructions);
    }
    let mut provider = Table::new();
    provider["name"] = value("OpenAI through the egress proxy");
    provider["base_url"] = value(base_url);
    provider["wire_api"] = value("responses");
    provider["requires_openai_auth"] = value(false);
    provider["supports_websockets"] = value(false);
    let mut providers = Table::new();
    providers.set_implicit(true);
    providers.insert(CODEX_PROVIDER, Item::Table(provider));
    doc.insert("model_providers", Item::Table(providers));
    format!(
        "# Written by the integrations SDK. The egress proxy adds the API key to requests\n\
         # to the base URL below; this file holds no credential.\n{doc}"
    )
}
