//! Integration tests of `integrations-core`, in one binary.

mod egress;
mod registry;
mod secrets;
mod service;
mod support;
