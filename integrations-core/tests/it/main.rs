//! Integration tests of `integrations-core`, in one binary.

mod architecture;
mod auth_oauth;
mod auth_precedence;
mod auth_reauthorize_scope;
mod auth_support;
mod auth_token_manager;
mod compile;
mod egress;
mod host;
mod lifecycle;
mod loaded;
mod mcp;
mod registry;
mod secrets;
mod service;
mod support;
mod sync;
mod sync_trigger;
mod tools_export;
mod tools_manifest;
mod tools_runtime;
mod tools_support;
mod webhook_ingest;
mod webhook_schemes;
mod webhook_vectors;
mod wire_names;
