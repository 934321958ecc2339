//! Tools for AI agents: descriptors in MCP shape, names and default policies.

mod descriptor;
mod name;

pub use descriptor::{ToolAnnotations, ToolDescriptor, ToolPolicy};
pub use name::{MAX_TOOL_NAME_LEN, check_tool_name, sanitize_tool_name};
