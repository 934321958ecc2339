//! `integrations schema` and `integrations validate`.

use std::path::Path;
use std::process::ExitCode;

use integrations_core::Error;
use integrations_core::schema::ConfigKind;

pub(crate) fn schema(key: &str, kind: &str) -> Result<ExitCode, Error> {
    let (registry, key) = super::lookup(key)?;
    let kind: ConfigKind = kind.parse()?;
    let schema = registry.require(&key)?.schema(&kind)?;
    out!("{}", super::pretty(schema.json_schema())?);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn validate(key: &str, kind: &str, file: &Path) -> Result<ExitCode, Error> {
    let (registry, key) = super::lookup(key)?;
    let kind: ConfigKind = kind.parse()?;
    let schema = registry.require(&key)?.schema(&kind)?;
    let value = crate::io::read_json(file)?;
    match schema.parse(&value) {
        Ok(_) => {
            eprintln!(
                "valid: {} is a valid {kind} of {key}",
                crate::io::name(file)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(issues) => {
            eprintln!(
                "{} {} is not a valid {kind} of {key} ({})",
                crate::codes::cli::INVALID_CONFIG,
                crate::io::name(file),
                crate::report::count(issues.len(), "issue", "issues")
            );
            super::print_issues(&issues)
        }
    }
}
