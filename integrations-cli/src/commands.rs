//! The commands.

use std::path::Path;
use std::process::ExitCode;

use integrations_core::schema::ConfigKind;
use integrations_core::{DefinitionKey, Error, ErrorKind, ValidationIssue};

fn json_line(value: &ValidationIssue) -> Result<String, Error> {
    serde_json::to_string(value)
        .map_err(|e| Error::internal("output could not be encoded").with_source(e))
}

pub(crate) fn catalog(json: bool) -> Result<ExitCode, Error> {
    let registry = integrations_definitions::registry();
    if json {
        let text = serde_json::to_string_pretty(&registry.catalog())
            .map_err(|e| Error::internal("the catalog could not be encoded").with_source(e))?;
        println!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    for entry in registry.iter() {
        let methods: Vec<&str> = entry
            .methods()
            .iter()
            .map(|m| m.method().id.as_str())
            .collect();
        println!(
            "{:<34} {:<10} {:<26} {}",
            entry.key().as_str(),
            entry.kind().as_str(),
            entry.metadata().name,
            methods.join(",")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn schema(key: &str, kind: &str) -> Result<ExitCode, Error> {
    let registry = integrations_definitions::registry();
    let key: DefinitionKey = key.parse()?;
    let kind: ConfigKind = kind.parse()?;
    let schema = registry.require(&key)?.schema(&kind)?;
    let text = serde_json::to_string_pretty(schema.json_schema())
        .map_err(|e| Error::internal("the schema could not be encoded").with_source(e))?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn read_json(path: &Path) -> Result<serde_json::Value, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::new(
            ErrorKind::InvalidInput,
            "cli.unreadable_file",
            format!("cannot read {}", path.display()),
        )
        .with_source(e)
    })?;
    serde_json::from_str(&text).map_err(|e| {
        // serde_json's message names a line and column, never the value.
        Error::invalid_input(
            "cli.invalid_json",
            format!(
                "{} is not valid JSON (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            ),
            Vec::new(),
        )
    })
}

pub(crate) fn validate(key: &str, kind: &str, file: &Path) -> Result<ExitCode, Error> {
    let registry = integrations_definitions::registry();
    let key: DefinitionKey = key.parse()?;
    let kind: ConfigKind = kind.parse()?;
    let schema = registry.require(&key)?.schema(&kind)?;
    let value = read_json(file)?;
    let issues: Vec<ValidationIssue> = match schema.parse(&value) {
        Ok(_) => Vec::new(),
        Err(issues) => issues,
    };
    if issues.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for issue in &issues {
        println!("{}", json_line(issue)?);
    }
    Ok(ExitCode::from(1))
}
