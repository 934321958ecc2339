//! `integrations tools`.

use std::process::ExitCode;

use integrations_core::tools::ToolDescriptor;
use integrations_core::tools::export::{anthropic, gemini, mcp, openai};
use integrations_core::{DefinitionKey, Error};

use crate::ToolFormat;
use crate::report::count;

pub(crate) fn export(keys: &[String], format: ToolFormat) -> Result<ExitCode, Error> {
    let registry = integrations_definitions::registry();
    let mut notes = Vec::new();
    let selected: Vec<DefinitionKey> = if keys.is_empty() {
        registry.keys().cloned().collect()
    } else {
        let mut selected: Vec<DefinitionKey> = Vec::new();
        for key in keys {
            let key: DefinitionKey = key.parse()?;
            registry.require(&key)?;
            if selected.contains(&key) {
                notes.push(format!("{key} was given more than once; exported once"));
            } else {
                selected.push(key);
            }
        }
        selected
    };
    let mut descriptors: Vec<ToolDescriptor> = Vec::new();
    for key in &selected {
        let mut shared = 0;
        for tool in registry.require(key)?.tools() {
            // Variants of one family share identical tools; list each once.
            if descriptors.iter().any(|d| d.name == tool.name) {
                shared += 1;
            } else {
                descriptors.push(tool.clone());
            }
        }
        if shared > 0 && keys.len() > 1 {
            notes.push(format!(
                "{key} shares {} with a key before it; each is listed once",
                count(shared, "tool", "tools")
            ));
        }
    }
    let value = match format {
        ToolFormat::Mcp => mcp::tools_list(&descriptors),
        ToolFormat::Openai => {
            serde_json::Value::Array(openai::tools(&descriptors, openai::OpenAiApi::Responses)?)
        }
        ToolFormat::OpenaiChat => serde_json::Value::Array(openai::tools(
            &descriptors,
            openai::OpenAiApi::ChatCompletions,
        )?),
        ToolFormat::Anthropic => serde_json::Value::Array(anthropic::tools(&descriptors)?),
        ToolFormat::Gemini => gemini::tool(&descriptors)?,
    };
    out!("{}", super::pretty(&value)?);
    for note in notes {
        eprintln!("note: {note}");
    }
    eprintln!(
        "exported {} of {}",
        count(descriptors.len(), "tool", "tools"),
        count(selected.len(), "integration", "integrations")
    );
    Ok(ExitCode::SUCCESS)
}
