//! Tools for AI agents.
//!
//! * [`ToolDescriptor`]: a tool in MCP shape (name, title, description, input schema
//!   derived from a typed arguments struct, output schema, annotations), plus its default
//!   [`ToolPolicy`] and the publication [`Capability`](crate::model::Capability) it needs.
//!   Names are `<integration>_<verb>_<object>`, `[a-z0-9_]`, at most 64 bytes; the
//!   registry refuses names that collide.
//! * [`PolicySet`] / [`PolicySource`]: `auto`, `ask`, `block`, overridden per workspace for
//!   one tool or a whole integration (tool over integration over default).
//! * [`Manifest`]: the tools an agent sees in a session, with their effective policy.
//! * [`Tool`], [`ToolSet`], [`ToolExecutor`]: how a provider writes and runs tools.
//! * [`Runtime`]: validates, decides policy (`ask` gives an [`ApprovalRequest`] that runs
//!   exactly once when approved), checks capabilities, runs with a [`ToolContext`]
//!   (credentialed [`ToolHttp`] with one refresh-and-retry), trims results
//!   ([`ToolResult`], MCP `CallToolResult` shape), audits, and never panics.
//! * [`RateLimitRule`]: every provider's rate-limit signal becomes `tool.rate_limited`
//!   ([`ErrorKind::RateLimited`](crate::ErrorKind::RateLimited)) with the wait.
//! * [`export`]: MCP `tools/list`, OpenAI (strict), Anthropic and Gemini declarations.

mod approval;
mod arguments;
mod continuation;
pub mod export;
mod manifest;
mod panic;
mod policy;
mod runtime;

pub use continuation::continuation_tool;
pub use manifest::{AmbiguousTool, Manifest, ManifestTool};
pub use policy::{Policies, PolicyDecision, PolicyOrigin, PolicySet, PolicySource};
pub use runtime::{
    DEFAULT_APPROVAL_TTL, DEFAULT_APPROVED_PAGES_TTL, DEFAULT_RESULT_BUDGET, Runtime,
};

pub use crate::definition::{
    CONTINUE_TOOL_NAME, MAX_TOOL_NAME_LEN, ToolAnnotations, ToolDescriptor, ToolPolicy,
    check_tool_name, sanitize_tool_name,
};
pub use crate::model::{
    ApprovalCall, ApprovalId, ApprovalRequest, ApprovalStage, CallContext, PendingContinuation,
    Session,
};
pub use crate::provider::tools::{
    Continuation, DEFAULT_RATE_LIMIT_WAIT, RateLimitRule, RequestAuth, ResetFormat, Tool,
    ToolContent, ToolContext, ToolExecutor, ToolFailure, ToolHttp, ToolResult, ToolSet, ToolStatus,
    json_request, rate_limited, read_json, request, status_error,
};
