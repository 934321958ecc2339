//! `integrations catalog`.

use std::process::ExitCode;

use integrations_core::Error;

pub(crate) fn catalog(json: bool) -> Result<ExitCode, Error> {
    let registry = integrations_definitions::registry();
    if json {
        out!("{}", super::pretty(&registry.catalog())?);
        return Ok(ExitCode::SUCCESS);
    }
    for entry in registry.iter() {
        let methods: Vec<&str> = entry
            .methods()
            .iter()
            .map(|m| m.method().id.as_str())
            .collect();
        out!(
            "{:<34} {:<10} {:<26} {}",
            entry.key().as_str(),
            entry.kind().as_str(),
            entry.metadata().name,
            methods.join(",")
        );
    }
    Ok(ExitCode::SUCCESS)
}
