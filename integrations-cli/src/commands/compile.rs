//! `integrations compile`, `integrations egress match` and `integrations mcp-config apply`.

use std::path::Path;
use std::process::ExitCode;

use integrations_core::Error;
use integrations_core::compile::{ProfileInput, compile as compile_profile};
use integrations_core::egress::{Classification, RequestTarget, RouteIndex};
use integrations_core::mcp::McpConfigWriter;
use integrations_core::plan::{CompiledRuntimePlan, McpConfigFormat, McpServer};

use crate::McpFormat;

fn compiled(profile: &Path) -> Result<Result<CompiledRuntimePlan, Error>, Error> {
    let text = crate::io::read_text(profile)?;
    let input = ProfileInput::from_json(&text)?;
    let registry = integrations_definitions::registry();
    Ok(compile_profile(&registry, &input))
}

pub(crate) fn compile(profile: &Path, hash: bool) -> Result<ExitCode, Error> {
    match compiled(profile)? {
        Ok(plan) => {
            if hash {
                out!("{}", plan.hash());
            } else {
                let json = String::from_utf8(plan.to_canonical_json())
                    .map_err(|e| Error::internal("the plan is not UTF-8").with_source(e))?;
                out!("{json}");
            }
            Ok(ExitCode::SUCCESS)
        }
        // Printed by `report::failure`: the code on stderr, the issues as JSON lines.
        Err(e) => Err(e),
    }
}

/// `error`, found in the plan file at `path`, as `cli.invalid_plan`; its message and
/// issues are kept.
fn invalid_plan(path: &Path, error: Error) -> Error {
    crate::codes::cli::INVALID_PLAN
        .with_issues(
            format!(
                "{} is not a valid plan: {}",
                crate::io::name(path),
                error.message()
            ),
            error.issues().to_vec(),
        )
        .with_source(error)
}

/// The compiled plan in the file at `path`, with its route index: `cli.invalid_plan` when
/// it is not one (its values never quoted), or holds a malformed route (the plan's
/// fault, exit 1, where the same check of a typed request is a usage error).
pub(crate) fn read_plan(path: &Path) -> Result<(CompiledRuntimePlan, RouteIndex), Error> {
    let plan: CompiledRuntimePlan =
        serde_json::from_value(crate::io::read_json(path)?).map_err(|e| {
            crate::codes::cli::INVALID_PLAN.with_issues(
                format!(
                    "{} is not a compiled plan: {}",
                    crate::io::name(path),
                    integrations_core::schema::mask_quoted(&e.to_string())
                ),
                Vec::new(),
            )
        })?;
    let index = RouteIndex::from_plan(&plan).map_err(|e| invalid_plan(path, e))?;
    Ok((plan, index))
}

pub(crate) fn egress_match(plan: &Path, method: &str, url: &str) -> Result<ExitCode, Error> {
    let (_, index) = read_plan(plan)?;
    // A request that cannot be parsed is a usage error, not a request that matches nothing.
    // A method typed by a person: `get` means GET here (a request on the wire is
    // matched as sent).
    let target = RequestTarget::from_url(&method.to_ascii_uppercase(), url)?;
    match index.classify_target(&target) {
        Classification::Route(route) => {
            out!("{}", route.id);
            Ok(ExitCode::SUCCESS)
        }
        Classification::NoMatch => {
            out!("no-match");
            Ok(ExitCode::from(crate::report::NO_MATCH))
        }
        Classification::Ambiguous(ids) => {
            out!("ambiguous");
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            eprintln!(
                "{} the request matches {}",
                integrations_core::codes::egress::AMBIGUOUS_ROUTE,
                ids.join(", ")
            );
            Ok(ExitCode::from(crate::report::AMBIGUOUS))
        }
        #[allow(unreachable_patterns)]
        _ => Err(Error::internal("an unknown classification")),
    }
}

pub(crate) fn mcp_config_apply(
    profile: &Path,
    file: &Path,
    format: McpFormat,
    retire: &[String],
) -> Result<ExitCode, Error> {
    let plan = compiled(profile)??;
    let servers: Vec<McpServer> = plan
        .mcp_servers
        .iter()
        .map(integrations_core::plan::CompiledMcpServer::to_server)
        .collect();
    let (format, path) = match format {
        McpFormat::Toml => (McpConfigFormat::Toml, "mcp_servers"),
        McpFormat::Json => (McpConfigFormat::Json, "mcpServers"),
    };
    let writer = McpConfigWriter::new(format, [path])?.with_retired(retire.iter().cloned());
    let current = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(crate::io::unreadable(file, e)),
    };
    let updated = writer.apply(&current, &servers)?;
    let servers = crate::report::count(servers.len(), "server", "servers");
    if updated == current {
        eprintln!("{} is up to date ({servers})", file.display());
    } else {
        crate::io::write_atomically(file, updated.as_bytes())?;
        eprintln!("updated {} ({servers})", file.display());
    }
    Ok(ExitCode::SUCCESS)
}
