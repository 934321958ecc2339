//! Integration tests of the shipped definitions, in one binary.

mod definitions;
mod tools;
