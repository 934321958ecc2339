//! What a binding compiles to: egress routes, artifacts, runtime clients, workspace
//! sources and MCP servers, and the deterministic [`CompiledRuntimePlan`] the
//! [compiler](crate::compile) assembles from them.

mod artifact;
mod canonical;
mod compiled;
mod mcp;
mod route;
mod runtime;

pub(crate) use canonical::to_canonical;

use serde::{Deserialize, Serialize};

pub use artifact::{Artifact, InstallStep};
pub use compiled::{
    CompiledMcpServer, CompiledRoute, CompiledRuntimePlan, McpConfigUpdate, RouteId,
};
pub use mcp::{McpConfigFormat, McpConfigTarget, McpServer, McpTransport};
pub use route::{AuthInjection, CredentialSelector, EgressRouteSpec, RouteMatch};
pub use runtime::{
    Readiness, RuntimeClient, RuntimeEndpoint, RuntimeFile, RuntimeProcess, WorkspaceSource,
    WriteMode,
};

/// Fixed paths inside the sandbox that definitions may refer to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SandboxPaths {
    /// The sandbox user's home (`/home/sandbox`).
    pub home: String,
    /// Where workspace sources are cloned (`/home/sandbox/projects`).
    pub projects: String,
    /// Where runtime data lives (`/home/sandbox/.local/share/integrations`).
    pub runtime_data: String,
    /// Where artifacts install binaries (`/home/sandbox/.local/bin`).
    pub bin: String,
}

impl SandboxPaths {
    /// Each path with its field name: `home`, `projects`, `runtime_data`, `bin`.
    pub fn named(&self) -> [(&'static str, &str); 4] {
        [
            ("home", &self.home),
            ("projects", &self.projects),
            ("runtime_data", &self.runtime_data),
            ("bin", &self.bin),
        ]
    }
}

impl Default for SandboxPaths {
    fn default() -> Self {
        Self {
            home: "/home/sandbox".to_owned(),
            projects: "/home/sandbox/projects".to_owned(),
            runtime_data: "/home/sandbox/.local/share/integrations".to_owned(),
            bin: "/home/sandbox/.local/bin".to_owned(),
        }
    }
}

/// Everything one binding contributes to a runtime plan, before the compiler stamps ids
/// and checks conflicts across the profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BindingPlan {
    /// Egress routes whose requests get the connection's credential injected.
    pub egress_routes: Vec<EgressRouteSpec>,
    /// Tools installed in the sandbox.
    pub artifacts: Vec<Artifact>,
    /// Runtime clients (agent CLIs) with their setup.
    pub runtime_clients: Vec<RuntimeClient>,
    /// Repositories cloned into the sandbox.
    pub workspace_sources: Vec<WorkspaceSource>,
}

impl BindingPlan {
    /// An empty plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route.
    #[must_use]
    pub fn with_route(mut self, route: EgressRouteSpec) -> Self {
        self.egress_routes.push(route);
        self
    }

    /// Adds an artifact.
    #[must_use]
    pub fn with_artifact(mut self, artifact: Artifact) -> Self {
        self.artifacts.push(artifact);
        self
    }

    /// Adds a runtime client.
    #[must_use]
    pub fn with_runtime_client(mut self, client: RuntimeClient) -> Self {
        self.runtime_clients.push(client);
        self
    }

    /// Adds a workspace source.
    #[must_use]
    pub fn with_workspace_source(mut self, source: WorkspaceSource) -> Self {
        self.workspace_sources.push(source);
        self
    }
}
