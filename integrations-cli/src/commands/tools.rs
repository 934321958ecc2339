//! `integrations tools`.

use std::process::ExitCode;

use integrations_core::tools::ToolDescriptor;
use integrations_core::tools::export::{anthropic, gemini, mcp, openai};
use integrations_core::{DefinitionKey, Error};

use crate::ToolFormat;

pub(crate) fn export(keys: &[String], format: ToolFormat) -> Result<ExitCode, Error> {
    let registry = integrations_definitions::registry();
    let selected: Vec<DefinitionKey> = if keys.is_empty() {
        registry.keys().cloned().collect()
    } else {
        keys.iter().map(|k| k.parse()).collect::<Result<_, _>>()?
    };
    let mut descriptors: Vec<ToolDescriptor> = Vec::new();
    for key in &selected {
        for tool in registry.require(key)?.tools() {
            // Variants of one family share identical tools; list each once.
            if !descriptors.iter().any(|d| d.name == tool.name) {
                descriptors.push(tool.clone());
            }
        }
    }
    let value = match format {
        ToolFormat::Mcp => mcp::tools_list(&descriptors),
        ToolFormat::Openai => {
            serde_json::Value::Array(openai::tools(&descriptors, openai::OpenAiApi::Responses)?)
        }
        ToolFormat::Anthropic => serde_json::Value::Array(anthropic::tools(&descriptors)?),
        ToolFormat::Gemini => gemini::tool(&descriptors)?,
    };
    out!("{}", super::pretty(&value)?);
    Ok(ExitCode::SUCCESS)
}
