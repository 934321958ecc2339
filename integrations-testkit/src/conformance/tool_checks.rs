//! Tool rules and exports.

use std::collections::BTreeSet;

use integrations_core::provider::Integration;
use integrations_core::schema::ConfigSpec;
use integrations_core::tools::export::{anthropic, gemini, mcp, openai};
use integrations_core::tools::{ToolPolicy, check_tool_name};

use super::{Outcome, outcome};
use crate::tool_formats::{
    check_anthropic_tool, check_gemini_declaration, check_mcp_tool, check_openai_strict_tool,
};

/// Verbs that only read.
const READ_VERBS: &[&str] = &[
    "list", "get", "search", "read", "fetch", "find", "describe", "count",
];

pub(super) fn rules(integration: &dyn Integration) -> Outcome {
    let tools = integration.tool_catalog();
    if tools.is_empty() {
        return Outcome::Skipped("the definition offers no tools".to_owned());
    }
    let key = integration.key();
    let family = key.family();
    let mut problems = Vec::new();
    if integration.tools().is_none() {
        problems
            .push("the definition lists tools but its provider has no tool executor".to_owned());
    }
    let mut names = BTreeSet::new();
    for tool in &tools {
        let name = &tool.name;
        if let Err(e) = check_tool_name(&key, name) {
            problems.push(e.message().to_owned());
        }
        if !names.insert(name.clone()) {
            problems.push(format!("{name} is declared twice"));
        }
        if tool.description.trim().is_empty() {
            problems.push(format!("{name} has no description"));
        }
        if tool.input_schema.get("type").and_then(|t| t.as_str()) != Some("object") {
            problems.push(format!("{name}: the input schema is not an object"));
        }
        if ConfigSpec::from_json_schema(tool.input_schema.clone())
            .compile()
            .is_err()
        {
            problems.push(format!("{name}: the input schema does not compile"));
        }
        if let Some(output) = &tool.output_schema
            && ConfigSpec::from_json_schema(output.clone())
                .compile()
                .is_err()
        {
            problems.push(format!("{name}: the output schema does not compile"));
        }
        let verb = tool.verb(family).unwrap_or_default();
        let reads = READ_VERBS.contains(&verb);
        let annotations = tool.annotations;
        if reads && !annotations.read_only {
            problems.push(format!(
                "{name}: the verb {verb} reads, but the tool is not annotated read-only"
            ));
        }
        if !reads && annotations.read_only {
            problems.push(format!(
                "{name}: the verb {verb} writes, but the tool is annotated read-only"
            ));
        }
        if annotations.read_only && annotations.destructive {
            problems.push(format!("{name}: a read-only tool cannot be destructive"));
        }
        if !annotations.read_only && tool.default_policy(family) == ToolPolicy::Auto {
            problems.push(format!(
                "{name}: a tool that writes must not run without asking by default"
            ));
        }
        if tool.capability.is_none() {
            problems.push(format!("{name}: no publication capability is declared"));
        }
    }
    outcome(problems)
}

pub(super) fn exports(integration: &dyn Integration) -> Outcome {
    let tools = integration.tool_catalog();
    if tools.is_empty() {
        return Outcome::Skipped("the definition offers no tools".to_owned());
    }
    let mut problems = Vec::new();
    for tool in &tools {
        let name = &tool.name;
        for problem in check_mcp_tool(&mcp::tool(tool)) {
            problems.push(format!("{name} (MCP): {problem}"));
        }
        match openai::tool(tool, openai::OpenAiApi::Responses) {
            Ok(value) => problems.extend(
                check_openai_strict_tool(&value)
                    .into_iter()
                    .map(|p| format!("{name} (OpenAI): {p}")),
            ),
            Err(e) => problems.push(format!("{name} (OpenAI): {}", e.message())),
        }
        match anthropic::tool(tool) {
            Ok(value) => problems.extend(
                check_anthropic_tool(&value)
                    .into_iter()
                    .map(|p| format!("{name} (Anthropic): {p}")),
            ),
            Err(e) => problems.push(format!("{name} (Anthropic): {}", e.message())),
        }
        match gemini::function_declaration(tool) {
            Ok(value) => problems.extend(
                check_gemini_declaration(&value)
                    .into_iter()
                    .map(|p| format!("{name} (Gemini): {p}")),
            ),
            Err(e) => problems.push(format!("{name} (Gemini): {}", e.message())),
        }
    }
    outcome(problems)
}
