//! Integration tests of the testkit.

mod memory;
