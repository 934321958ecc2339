//! The `integrations` binary, run as a user runs it: every command, good and bad input.

mod compile;
mod config;
mod mcp;
mod mcp_serve;
mod new_user;
mod proxy;
mod support;
mod sync;
mod tools;
mod webhook;
