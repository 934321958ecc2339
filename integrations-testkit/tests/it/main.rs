//! Integration tests of the testkit.

mod conformance;
mod memory;
mod mock;
mod oauth_mocks;
mod store_conformance;
