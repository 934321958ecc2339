//! The MCP server driven by rmcp's own client: in-process (a duplex pipe, as stdio) and
//! over streamable HTTP on loopback, against the demo tenant on mock provider APIs.

mod calls;
mod http;
mod list;
mod page;
mod races;
mod revisions;
mod settle;
mod support;
