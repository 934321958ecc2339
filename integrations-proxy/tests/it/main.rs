//! Integration tests of the egress proxy with real clients (reqwest, curl) against a
//! local TLS upstream that records what it receives.

mod curl;
mod failures;
mod grants;
mod routing;
mod secrets;
mod streaming;
mod support;
mod tunnels;
