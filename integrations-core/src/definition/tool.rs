//! [`ToolDescriptor`]: a tool as a definition declares it (MCP shape, annotations,
//! capabilities and its default [`ToolPolicy`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

use serde_json::Value;

use crate::model::Capability;

/// MCP tool annotations: hints about what a tool does. The defaults are MCP's
/// (not read-only, destructive, not idempotent, open-world), so a tool that says nothing
/// is treated as the riskiest kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(
    clippy::struct_excessive_bools,
    reason = "mirrors the four MCP annotation hints"
)]
pub struct ToolAnnotations {
    /// It does not change anything.
    pub read_only: bool,
    /// It may destroy or overwrite (meaningful when not read-only).
    pub destructive: bool,
    /// Calling it twice with the same arguments has the effect of once.
    pub idempotent: bool,
    /// It talks to the outside world.
    pub open_world: bool,
}

impl Default for ToolAnnotations {
    fn default() -> Self {
        Self {
            read_only: false,
            destructive: true,
            idempotent: false,
            open_world: true,
        }
    }
}

impl ToolAnnotations {
    /// A read-only, open-world tool (lists, gets, searches).
    pub fn read_only() -> Self {
        Self {
            read_only: true,
            destructive: false,
            idempotent: true,
            open_world: true,
        }
    }

    /// A tool that creates something and destroys nothing (create issue, post message).
    pub fn additive() -> Self {
        Self {
            read_only: false,
            destructive: false,
            idempotent: false,
            open_world: true,
        }
    }

    /// A tool that may overwrite but gives the same result when repeated (update issue).
    pub fn idempotent_update() -> Self {
        Self {
            read_only: false,
            destructive: true,
            idempotent: true,
            open_world: true,
        }
    }

    /// Sets whether the tool changes nothing.
    #[must_use]
    pub fn with_read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Sets whether the tool may destroy or overwrite.
    #[must_use]
    pub fn with_destructive(mut self, destructive: bool) -> Self {
        self.destructive = destructive;
        self
    }

    /// Sets whether repeating a call has the effect of one call.
    #[must_use]
    pub fn with_idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Sets whether the tool talks to the outside world.
    #[must_use]
    pub fn with_open_world(mut self, open_world: bool) -> Self {
        self.open_world = open_world;
        self
    }
}

/// A tool in MCP shape, plus what this SDK needs to run it safely: its default policy and
/// the publication capability it requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolDescriptor {
    /// `<integration>_<verb>_<object>`, `[a-z0-9_]`, at most 64 bytes.
    pub name: String,
    /// Display name.
    pub title: Option<String>,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of the arguments, derived from the arguments type.
    pub input_schema: Value,
    /// JSON Schema of the structured result, if declared.
    pub output_schema: Option<Value>,
    /// MCP annotations.
    pub annotations: ToolAnnotations,
    /// The policy unless a workspace overrides it; `None` derives it (see
    /// [`default_policy`](Self::default_policy)).
    pub policy: Option<ToolPolicy>,
    /// The publication capability a call needs (`issue.create`).
    pub capability: Option<Capability>,
}

const READ_VERBS: &[&str] = &[
    "list", "get", "search", "read", "fetch", "find", "describe", "count",
];

impl ToolDescriptor {
    /// A descriptor whose input schema is derived from the arguments type `A`, with MCP's
    /// default annotations.
    pub fn new<A: JsonSchema>(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            title: None,
            description: description.into(),
            input_schema: schemars::schema_for!(A).to_value(),
            output_schema: None,
            annotations: ToolAnnotations::default(),
            policy: None,
            capability: None,
        }
    }

    /// Sets the title.
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the annotations.
    #[must_use]
    pub fn with_annotations(mut self, annotations: ToolAnnotations) -> Self {
        self.annotations = annotations;
        self
    }

    /// Declares the output schema from the result type `O`.
    #[must_use]
    pub fn with_output<O: JsonSchema>(mut self) -> Self {
        self.output_schema = Some(schemars::schema_for!(O).to_value());
        self
    }

    /// Sets an explicit default policy.
    #[must_use]
    pub fn with_policy(mut self, policy: ToolPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Sets the required capability.
    #[must_use]
    pub fn with_capability(mut self, capability: Capability) -> Self {
        self.capability = Some(capability);
        self
    }

    /// The verb of `<integration>_<verb>_<object>` for a definition of `family`.
    pub fn verb(&self, family: &str) -> Option<&str> {
        let family = super::sanitize_tool_name(family);
        self.name
            .strip_prefix(&family)
            .and_then(|rest| rest.strip_prefix('_'))
            .and_then(|rest| rest.split('_').next())
    }

    /// The default policy: the explicit one if set; otherwise `auto` for tools that are
    /// read-only by annotation **and** by verb (`list`, `get`, `search`, ...), and `ask`
    /// for everything else (writes ask, reads run).
    pub fn default_policy(&self, family: &str) -> ToolPolicy {
        if let Some(policy) = self.policy {
            return policy;
        }
        let reads = self
            .verb(family)
            .is_some_and(|verb| READ_VERBS.contains(&verb));
        if self.annotations.read_only && reads {
            ToolPolicy::Auto
        } else {
            ToolPolicy::Ask
        }
    }
}

/// Whether a tool call runs, asks a human first, or never runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolPolicy {
    /// Runs immediately.
    Auto,
    /// Returns an approval request; runs once approved.
    Ask,
    /// Never runs.
    Block,
}

impl ToolPolicy {
    /// The policy as written (`auto`, `ask`, `block`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Ask => "ask",
            Self::Block => "block",
        }
    }
}

impl fmt::Display for ToolPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Args {
        title: String,
    }

    #[test]
    fn policies_default_from_annotations_and_verb() {
        let list = ToolDescriptor::new::<Args>("linear_list_issues", "List issues")
            .with_annotations(ToolAnnotations::read_only());
        assert_eq!(list.verb("linear"), Some("list"));
        assert_eq!(list.default_policy("linear"), ToolPolicy::Auto);
        let create = ToolDescriptor::new::<Args>("linear_create_issue", "Create an issue")
            .with_annotations(ToolAnnotations::additive());
        assert_eq!(create.default_policy("linear"), ToolPolicy::Ask);
        // A read verb without a read-only annotation still asks.
        let sneaky = ToolDescriptor::new::<Args>("linear_get_token", "x");
        assert_eq!(sneaky.default_policy("linear"), ToolPolicy::Ask);
        // A read-only annotation with a write verb asks too.
        let odd = ToolDescriptor::new::<Args>("linear_delete_issue", "x")
            .with_annotations(ToolAnnotations::read_only());
        assert_eq!(odd.default_policy("linear"), ToolPolicy::Ask);
        let blocked = create.clone().with_policy(ToolPolicy::Block);
        assert_eq!(blocked.default_policy("linear"), ToolPolicy::Block);
    }

    #[test]
    fn input_schema_comes_from_the_type() {
        let d = ToolDescriptor::new::<Args>("linear_create_issue", "x");
        assert_eq!(d.input_schema["type"], "object");
        assert_eq!(d.input_schema["required"][0], "title");
    }
}
