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
mod context;
mod continuation;
mod descriptor;
mod executor;
pub mod export;
mod http;
mod manifest;
mod name;
mod panic;
mod policy;
mod ratelimit;
mod result;
mod runtime;

pub use approval::{ApprovalId, ApprovalRequest};
pub use context::{CallContext, Session, ToolContext};
pub use continuation::{CONTINUE_TOOL_NAME, PendingContinuation, continuation_tool};
pub use descriptor::{ToolAnnotations, ToolDescriptor};
pub use executor::{Tool, ToolExecutor, ToolSet};
pub use http::{RequestAuth, ToolHttp, json_request, read_json, request, status_error};
pub(crate) use http::{clone_request, inject};
pub use manifest::{AmbiguousTool, Manifest, ManifestTool};
pub use name::{MAX_TOOL_NAME_LEN, check_tool_name, sanitize_tool_name};
pub use policy::{Policies, PolicyDecision, PolicyOrigin, PolicySet, PolicySource, ToolPolicy};
pub use ratelimit::{DEFAULT_RATE_LIMIT_WAIT, RateLimitRule, ResetFormat, rate_limited};
pub use result::{Continuation, ToolContent, ToolFailure, ToolResult, ToolStatus};
pub use runtime::{DEFAULT_APPROVAL_TTL, DEFAULT_RESULT_BUDGET, Runtime};
