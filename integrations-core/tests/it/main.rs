//! Integration tests of `integrations-core`, in one binary.

mod auth_oauth;
mod auth_precedence;
mod auth_support;
mod auth_token_manager;
mod registry;
mod secrets;
mod service;
mod support;
