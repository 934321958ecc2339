//! Integration tests of the testkit.

mod memory;
mod mock;
mod oauth_mocks;
