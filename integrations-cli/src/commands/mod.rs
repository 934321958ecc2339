//! The commands, one file per group.

pub(crate) mod catalog;
pub(crate) mod compile;
pub(crate) mod config;
pub(crate) mod db;
pub(crate) mod mcp_serve;
pub(crate) mod proxy;
pub(crate) mod stores;
pub(crate) mod sync;
pub(crate) mod tools;
pub(crate) mod webhook;

use std::process::ExitCode;

use integrations_core::{DefinitionKey, Error, Registry, ValidationIssue};

/// The shipped registry and one of its definitions.
pub(crate) fn lookup(key: &str) -> Result<(Registry, DefinitionKey), Error> {
    let registry = integrations_definitions::registry();
    let key: DefinitionKey = key.parse()?;
    registry.require(&key)?;
    Ok((registry, key))
}

/// Prints issues as JSON lines on stdout and returns exit code 1.
pub(crate) fn print_issues(issues: &[ValidationIssue]) -> Result<ExitCode, Error> {
    for issue in issues {
        let line = serde_json::to_string(issue)
            .map_err(|e| Error::internal("an issue could not be encoded").with_source(e))?;
        out!("{line}");
    }
    Ok(ExitCode::from(crate::report::INVALID))
}

/// Pretty JSON.
pub(crate) fn pretty(value: &impl serde::Serialize) -> Result<String, Error> {
    serde_json::to_string_pretty(value)
        .map_err(|e| Error::internal("output could not be encoded").with_source(e))
}

/// `--demo` in a build without the `demo` feature (the offline demos run on the
/// testkit's mock provider APIs, which only that feature compiles in).
#[cfg(not(feature = "demo"))]
pub(crate) fn demo_unavailable() -> Error {
    crate::codes::cli::DEMO_UNAVAILABLE
        .error("this build of integrations has no --demo: it was built without the `demo` feature")
}
