//! Anthropic tools: `{name, description, input_schema}`.
//!
//! Anthropic reads JSON Schema broadly; the export inlines references (so the schema
//! stands alone in a request) and drops `$schema`.

use serde_json::{Value, json};

use super::{inline_refs, unsupported};
use crate::Error;
use crate::definition::ToolDescriptor;

/// One tool.
///
/// # Errors
///
/// `export.unsupported_schema` when the input schema is recursive or not an object
/// schema.
pub fn tool(descriptor: &ToolDescriptor) -> Result<Value, Error> {
    let mut input_schema = inline_refs(&descriptor.input_schema)?;
    if let Value::Object(map) = &mut input_schema {
        map.remove("$schema");
    }
    if input_schema.get("type") != Some(&json!("object")) {
        return Err(unsupported(
            "an Anthropic input_schema must be an object schema",
        ));
    }
    Ok(json!({
        "name": descriptor.name,
        "description": descriptor.description,
        "input_schema": input_schema,
    }))
}

/// Every tool, in the order given.
///
/// # Errors
///
/// As [`tool`], for the first tool that cannot be exported.
pub fn tools(descriptors: &[ToolDescriptor]) -> Result<Vec<Value>, Error> {
    descriptors.iter().map(tool).collect()
}
