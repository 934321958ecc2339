//! [`Manifest`]: the tools an agent sees in one session.
//!
//! Only tools of integrations the session has an active connection to (through an
//! enabled target), only those whose effective policy is not `block`, each with its
//! effective policy and the connection a call goes through. When several connections
//! offer one tool, the most specific applies (user over project over workspace over
//! organization); two at the same rank make the tool ambiguous: it is left out and
//! reported, never chosen by comparing strings.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{PolicyDecision, PolicySet};
use crate::definition::{ToolDescriptor, ToolPolicy};
use crate::model::Session;
use crate::model::{Connection, ConnectionScope};
use crate::{ConnectionId, DefinitionKey, Registry};

/// One tool in a manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ManifestTool {
    /// The tool.
    pub descriptor: ToolDescriptor,
    /// The integration offering it (the connection's definition).
    pub key: DefinitionKey,
    /// The connection calls go through.
    pub connection: ConnectionId,
    /// The effective policy (`auto` or `ask`; blocked tools are not listed).
    pub policy: ToolPolicy,
}

/// A tool left out because several connections of equal rank offer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AmbiguousTool {
    /// The tool.
    pub name: String,
    /// The connections offering it, in id order.
    pub connections: Vec<ConnectionId>,
}

/// The tools an agent sees, in byte-wise name order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Manifest {
    /// The tools.
    pub tools: Vec<ManifestTool>,
    /// Tools left out as ambiguous.
    pub ambiguous: Vec<AmbiguousTool>,
}

/// Whether a connection with `scope` is visible to `session`.
pub(crate) fn applies(scope: &ConnectionScope, session: &Session) -> bool {
    match scope {
        ConnectionScope::Organization => true,
        ConnectionScope::Workspace { workspace } => &session.workspace == workspace,
        ConnectionScope::Project { project } => session.project.as_ref() == Some(project),
        ConnectionScope::User { user } => session.user.as_ref() == Some(user),
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

impl Manifest {
    /// The manifest of `session` given the tenant's usable `connections` (active, with an
    /// enabled target; the runtime checks both) and the workspace's `policies`.
    pub fn build(
        registry: &Registry,
        connections: &[Connection],
        session: &Session,
        policies: &PolicySet,
    ) -> Self {
        struct Candidate<'a> {
            descriptor: &'a ToolDescriptor,
            connection: &'a Connection,
            decision: PolicyDecision,
        }
        let mut by_name: BTreeMap<&str, Vec<Candidate<'_>>> = BTreeMap::new();
        for connection in connections {
            if connection.tenant != session.tenant
                || !connection.is_active()
                || !applies(&connection.scope, session)
            {
                continue;
            }
            let Some(entry) = registry.get(&connection.key) else {
                continue;
            };
            for descriptor in entry.tools() {
                let decision = policies.decide(&connection.key, descriptor);
                if decision.policy == ToolPolicy::Block {
                    continue;
                }
                by_name
                    .entry(&descriptor.name)
                    .or_default()
                    .push(Candidate {
                        descriptor,
                        connection,
                        decision,
                    });
            }
        }
        let mut manifest = Self::default();
        for (name, candidates) in by_name {
            let best = candidates
                .iter()
                .map(|c| c.connection.scope.precedence())
                .max()
                .unwrap_or(0);
            let mut top: Vec<&Candidate<'_>> = candidates
                .iter()
                .filter(|c| c.connection.scope.precedence() == best)
                .collect();
            if top.len() > 1 {
                let mut ids: Vec<ConnectionId> =
                    top.iter().map(|c| c.connection.id.clone()).collect();
                ids.sort();
                manifest.ambiguous.push(AmbiguousTool {
                    name: name.to_owned(),
                    connections: ids,
                });
                continue;
            }
            if let Some(chosen) = top.pop() {
                manifest.tools.push(ManifestTool {
                    descriptor: chosen.descriptor.clone(),
                    key: chosen.connection.key.clone(),
                    connection: chosen.connection.id.clone(),
                    policy: chosen.decision.policy,
                });
            }
        }
        manifest
    }

    /// The descriptors, for the exports (MCP `tools/list`, OpenAI, Anthropic, Gemini),
    /// followed by [`continuation_tool`](super::continuation_tool) so the agent can read
    /// the rest of a trimmed result. Empty when the manifest has no tools.
    pub fn descriptors(&self) -> Vec<ToolDescriptor> {
        let mut out: Vec<ToolDescriptor> =
            self.tools.iter().map(|t| t.descriptor.clone()).collect();
        if !out.is_empty() {
            out.push(super::continuation_tool());
        }
        out
    }

    /// One tool by name.
    pub fn get(&self, name: &str) -> Option<&ManifestTool> {
        self.tools
            .binary_search_by(|t| t.descriptor.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.tools[i])
    }
}
