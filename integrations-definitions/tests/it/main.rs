//! Integration tests of the shipped definitions, in one binary.

mod auth;
mod definitions;
