//! Tool policies: [`ToolPolicy`] (`auto`, `ask`, `block`), the overrides of one workspace
//! ([`PolicySet`]) and where the runtime finds them ([`PolicySource`], [`Policies`]).
//!
//! The effective policy of a tool is decided with a fixed precedence: an override for
//! the tool by name, then an override for its whole integration, then the tool's default
//! ([`ToolDescriptor::default_policy`]: writes ask, reads run).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::definition::{ToolDescriptor, ToolPolicy, sanitize_tool_name};
use crate::registry::RegisteredTool;
use crate::{DefinitionKey, Error, TenantId, ValidationIssue, WorkspaceId};

/// Where an effective policy came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PolicyOrigin {
    /// An override naming the tool.
    Tool,
    /// An override for the tool's whole integration.
    Integration,
    /// The tool's default (explicit in its descriptor, or derived from its annotations
    /// and verb).
    Default,
}

impl PolicyOrigin {
    /// The origin as a word (`tool`, `integration`, `default`), for audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tool => "tool",
            Self::Integration => "integration",
            Self::Default => "default",
        }
    }
}

/// An effective policy and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyDecision {
    /// The policy.
    pub policy: ToolPolicy,
    /// Why it is the policy.
    pub origin: PolicyOrigin,
}

/// The policy overrides of one workspace: per tool (by name) and per integration (by
/// definition key). Precedence: tool over integration over the tool's default.
///
/// ```
/// use integrations_core::tools::{PolicySet, ToolPolicy};
///
/// let set = PolicySet::new()
///     .with_integration("github::github-cloud".parse()?, ToolPolicy::Block)
///     .with_tool("github_list_pull_requests", ToolPolicy::Auto)?;
/// assert_eq!(set.tool("github_list_pull_requests"), Some(ToolPolicy::Auto));
/// # Ok::<(), integrations_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PolicySet {
    /// Overrides by tool name.
    pub tools: BTreeMap<String, ToolPolicy>,
    /// Overrides by integration.
    pub integrations: BTreeMap<DefinitionKey, ToolPolicy>,
}

impl PolicySet {
    /// No overrides: every tool has its default policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Overrides one tool.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`tool.invalid_name`)
    /// when `name` is not a sanitized tool name (an override that could never match).
    pub fn with_tool(mut self, name: impl Into<String>, policy: ToolPolicy) -> Result<Self, Error> {
        let name = name.into();
        if name.is_empty() || sanitize_tool_name(&name) != name {
            return Err(crate::codes::tool::INVALID_NAME.with_issues("a policy override names a tool by its exact name: lowercase letters, digits and single underscores",
                vec![ValidationIssue::new(
                    crate::codes::tool::INVALID_NAME,
                    "/tools",
                    "not a tool name",
                )],
            ));
        }
        self.tools.insert(name, policy);
        Ok(self)
    }

    /// Overrides every tool of one integration.
    #[must_use]
    pub fn with_integration(mut self, key: DefinitionKey, policy: ToolPolicy) -> Self {
        self.integrations.insert(key, policy);
        self
    }

    /// The override of a tool, if any.
    pub fn tool(&self, name: &str) -> Option<ToolPolicy> {
        self.tools.get(name).copied()
    }

    /// The effective policy of `tool`, offered by the integration `key`.
    pub fn decide(&self, key: &DefinitionKey, tool: &ToolDescriptor) -> PolicyDecision {
        self.decide_with_default(key, &tool.name, || tool.default_policy(key.family()))
    }

    /// [`decide`](Self::decide) for a registered tool, whose default policy was decided
    /// at registration.
    pub fn decide_registered(
        &self,
        key: &DefinitionKey,
        tool: &RegisteredTool<'_>,
    ) -> PolicyDecision {
        self.decide_with_default(key, &tool.descriptor.name, || tool.default_policy)
    }

    fn decide_with_default(
        &self,
        key: &DefinitionKey,
        name: &str,
        default: impl FnOnce() -> ToolPolicy,
    ) -> PolicyDecision {
        if let Some(policy) = self.tools.get(name) {
            return PolicyDecision {
                policy: *policy,
                origin: PolicyOrigin::Tool,
            };
        }
        if let Some(policy) = self.integrations.get(key) {
            return PolicyDecision {
                policy: *policy,
                origin: PolicyOrigin::Integration,
            };
        }
        PolicyDecision {
            policy: default(),
            origin: PolicyOrigin::Default,
        }
    }
}

/// Where the runtime finds the policy overrides of a workspace. The host implements it
/// over its own settings storage; [`Policies`] is an in-memory implementation.
#[async_trait]
pub trait PolicySource: Send + Sync {
    /// The overrides of `workspace` in `tenant` (empty when it has none).
    ///
    /// # Errors
    ///
    /// Storage errors. The runtime then refuses the call (it never guesses a policy).
    async fn policy_set(
        &self,
        tenant: &TenantId,
        workspace: &WorkspaceId,
    ) -> Result<PolicySet, Error>;
}

/// Policy overrides held in memory, by workspace.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Policies {
    workspaces: BTreeMap<(TenantId, WorkspaceId), PolicySet>,
}

impl Policies {
    /// No overrides anywhere.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the overrides of one workspace.
    #[must_use]
    pub fn with_workspace(
        mut self,
        tenant: TenantId,
        workspace: WorkspaceId,
        set: PolicySet,
    ) -> Self {
        self.workspaces.insert((tenant, workspace), set);
        self
    }

    /// The overrides of one workspace (empty when it has none).
    pub fn get(&self, tenant: &TenantId, workspace: &WorkspaceId) -> PolicySet {
        if self.workspaces.is_empty() {
            return PolicySet::default();
        }
        self.workspaces
            .get(&(tenant.clone(), workspace.clone()))
            .cloned()
            .unwrap_or_default()
    }
}

#[async_trait]
impl PolicySource for Policies {
    async fn policy_set(
        &self,
        tenant: &TenantId,
        workspace: &WorkspaceId,
    ) -> Result<PolicySet, Error> {
        Ok(self.get(tenant, workspace))
    }
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;

    use super::*;
    use crate::tools::ToolAnnotations;

    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Args {
        id: String,
    }

    fn key() -> DefinitionKey {
        "tracker::cloud".parse().unwrap()
    }

    #[test]
    fn precedence_is_tool_then_integration_then_default() {
        let list = ToolDescriptor::new::<Args>("tracker_list_tickets", "List")
            .with_annotations(ToolAnnotations::read_only());
        let create = ToolDescriptor::new::<Args>("tracker_create_ticket", "Create")
            .with_annotations(ToolAnnotations::additive());

        let none = PolicySet::new();
        assert_eq!(none.decide(&key(), &list).policy, ToolPolicy::Auto);
        assert_eq!(none.decide(&key(), &create).policy, ToolPolicy::Ask);
        assert_eq!(none.decide(&key(), &create).origin, PolicyOrigin::Default);

        let integration = PolicySet::new().with_integration(key(), ToolPolicy::Block);
        let d = integration.decide(&key(), &list);
        assert_eq!(
            (d.policy, d.origin),
            (ToolPolicy::Block, PolicyOrigin::Integration)
        );
        // Another integration's override does not apply.
        let other = PolicySet::new()
            .with_integration("tracker::server".parse().unwrap(), ToolPolicy::Block);
        assert_eq!(other.decide(&key(), &list).policy, ToolPolicy::Auto);

        let both = integration
            .with_tool("tracker_create_ticket", ToolPolicy::Auto)
            .unwrap();
        let d = both.decide(&key(), &create);
        assert_eq!((d.policy, d.origin), (ToolPolicy::Auto, PolicyOrigin::Tool));
        assert_eq!(both.decide(&key(), &list).policy, ToolPolicy::Block);
    }

    #[test]
    fn overrides_must_name_a_tool() {
        for bad in ["", "Tracker_Create", "tracker-create-ticket", "a__b"] {
            let err = PolicySet::new()
                .with_tool(bad, ToolPolicy::Ask)
                .unwrap_err();
            assert_eq!(err.code(), "tool.invalid_name", "{bad}");
        }
    }

    #[tokio::test]
    async fn policies_are_per_workspace() {
        let tenant = TenantId::new("acme").unwrap();
        let a = WorkspaceId::new("a").unwrap();
        let b = WorkspaceId::new("b").unwrap();
        let policies = Policies::new().with_workspace(
            tenant.clone(),
            a.clone(),
            PolicySet::new().with_integration(key(), ToolPolicy::Block),
        );
        assert_eq!(
            policies.policy_set(&tenant, &a).await.unwrap().integrations[&key()],
            ToolPolicy::Block
        );
        assert_eq!(
            policies.policy_set(&tenant, &b).await.unwrap(),
            PolicySet::new()
        );
        let other = TenantId::new("other").unwrap();
        assert_eq!(
            policies.policy_set(&other, &a).await.unwrap(),
            PolicySet::new()
        );
    }
}
