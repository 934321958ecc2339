//! Integration tests of the shipped definitions, in one binary.

mod auth;
mod compile;
mod conformance;
mod definitions;
mod e2e;
mod managed_webhooks;
mod slack_scopes;
mod sync;
mod tools;
mod webhooks;
