//! Integration tests of `integrations-core`, in one binary.

mod registry;
mod secrets;
mod service;
mod support;
mod tools_export;
mod tools_manifest;
mod tools_runtime;
mod tools_support;
