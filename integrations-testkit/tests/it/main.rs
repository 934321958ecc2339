//! Integration tests of the testkit.

mod memory;
mod mock;
