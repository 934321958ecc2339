//! The provider's half of tools: [`ToolExecutor`] (with [`Tool`] and [`ToolSet`] to write
//! one), what a tool sees while it runs ([`ToolContext`], credentialed [`ToolHttp`] and
//! its request helpers), what it returns ([`ToolResult`]), and the rate-limit helpers
//! ([`RateLimitRule`]). The engine that runs tools is [`crate::tools::Runtime`].

mod context;
mod executor;
mod http;
mod ratelimit;
mod result;

pub use self::context::ToolContext;
pub(crate) use self::context::{CallParts, ConnectionParts};
pub use self::executor::{Tool, ToolExecutor, ToolSet};
pub use self::http::{RequestAuth, ToolHttp, json_request, read_json, request, status_error};
pub(crate) use self::http::{add_missing_headers, clone_request, inject};
pub use self::ratelimit::{DEFAULT_RATE_LIMIT_WAIT, RateLimitRule, ResetFormat, rate_limited};
pub(crate) use self::result::json_text;
pub use self::result::{Continuation, ToolContent, ToolFailure, ToolResult, ToolStatus};
