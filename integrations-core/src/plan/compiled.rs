use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::canonical::to_canonical;
use super::{
    Artifact, AuthInjection, CredentialSelector, McpConfigFormat, McpServer, McpTransport,
    RouteMatch, RuntimeClient, SandboxPaths, WorkspaceSource,
};
use crate::model::ProfileVersion;
use crate::{BindingId, ConnectionId, DefinitionKey, Error, TenantId};

/// The stable id of a compiled egress route: `egress_rule_<binding>` for a binding's first
/// route, `egress_rule_<binding>_<n>` (n = index + 1, so from 2) for the next ones.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RouteId(String);

impl RouteId {
    /// The id of route `index` (0-based) of a binding.
    pub fn for_binding(binding: &BindingId, index: usize) -> Self {
        if index == 0 {
            Self(format!("egress_rule_{binding}"))
        } else {
            Self(format!("egress_rule_{binding}_{}", index + 1))
        }
    }

    /// A route id as written in a plan or a grant.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`egress.invalid_route_id`)
    /// unless it starts with `egress_rule_` and holds no whitespace or control characters.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let ok = text.len() > "egress_rule_".len()
            && text.len() <= 300
            && text.starts_with("egress_rule_")
            && !text.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(crate::codes::egress::INVALID_ROUTE_ID
                .error("a route id is egress_rule_ followed by the binding id"))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RouteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RouteId({:?})", self.0)
    }
}

impl fmt::Display for RouteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An egress route of a compiled plan: a definition's route with its stable id, the
/// binding and connection it belongs to, and a canonical matcher (hosts lowercased
/// without ports, methods uppercased, path prefixes normalized; every list sorted and
/// deduplicated; no prefix means `/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompiledRoute {
    /// The stable id.
    pub id: RouteId,
    /// The binding that produced it.
    pub binding: BindingId,
    /// The connection whose credential it injects.
    pub connection: ConnectionId,
    /// The definition of the binding.
    pub definition: DefinitionKey,
    /// Which requests it applies to, in canonical form.
    pub matcher: RouteMatch,
    /// The canonical upstream base URL.
    pub upstream: String,
    /// How the credential is injected.
    pub injection: AuthInjection,
    /// Which credential.
    pub credential: CredentialSelector,
    /// Headers that replace the caller's, names lowercased.
    pub headers: BTreeMap<String, String>,
    /// Headers set only when the caller sent none of that name, names lowercased.
    pub default_headers: BTreeMap<String, String>,
}

/// An MCP server of a compiled plan, with the binding that declared it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompiledMcpServer {
    /// The binding that declared it.
    pub binding: BindingId,
    /// Its id within the binding.
    pub id: String,
    /// Its name in agent config files, unique in the plan.
    pub name: String,
    /// How to reach it.
    pub transport: McpTransport,
}

impl CompiledMcpServer {
    /// The server as declared (without the binding), for config writers.
    pub fn to_server(&self) -> McpServer {
        McpServer {
            id: self.id.clone(),
            name: self.name.clone(),
            transport: self.transport.clone(),
        }
    }
}

/// An MCP config file the compiler updated: which runtime-client file, where in it, and
/// which server names it manages there. A sandbox runtime that merges the plan into a
/// file the user already has applies the same writer
/// ([`McpConfigWriter`](crate::mcp::McpConfigWriter)) with these servers, so the user's
/// own entries survive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct McpConfigUpdate {
    /// The runtime client.
    pub client_id: String,
    /// The file within the client.
    pub file_id: String,
    /// The file's absolute path in the sandbox.
    pub path: String,
    /// Its format.
    pub format: McpConfigFormat,
    /// The keys leading to the servers table.
    pub key_path: Vec<String>,
    /// The server names the plan manages there, sorted.
    pub servers: Vec<String>,
}

/// The deterministic result of compiling a profile's bindings.
///
/// Every list is sorted byte-wise (routes by id, artifacts by key, runtime clients by id,
/// workspace sources by path, MCP servers by name, config updates by client and file),
/// every map is a `BTreeMap`, and the plan contains no secret. Compiling the same
/// bindings in any order gives the same bytes from
/// [`to_canonical_json`](Self::to_canonical_json) and the same [`hash`](Self::hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompiledRuntimePlan {
    /// The tenant.
    pub tenant: TenantId,
    /// The profile version compiled.
    pub profile: ProfileVersion,
    /// The sandbox paths the definitions compiled against.
    pub sandbox: SandboxPaths,
    /// Egress routes, by id.
    pub egress_routes: Vec<CompiledRoute>,
    /// Artifacts, by key, each once.
    pub artifacts: Vec<Artifact>,
    /// Runtime clients merged across bindings, by id.
    pub runtime_clients: Vec<RuntimeClient>,
    /// Workspace sources, by path.
    pub workspace_sources: Vec<WorkspaceSource>,
    /// MCP servers, by name.
    pub mcp_servers: Vec<CompiledMcpServer>,
    /// MCP config files updated with the servers (already applied to the runtime
    /// clients' files).
    pub mcp_config_updates: Vec<McpConfigUpdate>,
}

impl CompiledRuntimePlan {
    /// The plan as canonical JSON: object keys sorted byte-wise at every level, no
    /// whitespace. The bytes [`hash`](Self::hash) digests.
    ///
    /// # Panics
    ///
    /// Never: every part of a plan serializes (all map keys are strings).
    pub fn to_canonical_json(&self) -> Vec<u8> {
        match to_canonical(self) {
            Ok(bytes) => bytes,
            Err(e) => panic!("a runtime plan always serializes: {e}"),
        }
    }

    /// The lowercase hex SHA-256 of [`to_canonical_json`](Self::to_canonical_json).
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.to_canonical_json());
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push(char::from(HEX[usize::from(byte >> 4)]));
            hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        hex
    }

    /// The route with this id.
    pub fn route(&self, id: &RouteId) -> Option<&CompiledRoute> {
        self.egress_routes.iter().find(|r| &r.id == id)
    }

    /// The runtime client with this id.
    pub fn runtime_client(&self, id: &str) -> Option<&RuntimeClient> {
        self.runtime_clients.iter().find(|c| c.id == id)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";
