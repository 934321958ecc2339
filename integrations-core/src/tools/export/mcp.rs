//! MCP `tools/list`: `{name, title, description, inputSchema, outputSchema, annotations}`
//! per tool, schemas as derived (JSON Schema 2020-12, MCP's default dialect).

use serde_json::{Map, Value, json};

use crate::definition::ToolDescriptor;

/// One MCP `Tool`. Every annotation hint is written out, defaults included, so a client
/// never has to know MCP's defaults (which treat an unannotated tool as destructive).
///
/// ```
/// use integrations_core::tools::{ToolAnnotations, ToolDescriptor};
/// use integrations_core::tools::export::mcp;
///
/// #[derive(schemars::JsonSchema)]
/// struct Args { location: String }
///
/// let d = ToolDescriptor::new::<Args>("weather_get_forecast", "Get a forecast.")
///     .with_annotations(ToolAnnotations::read_only());
/// let tool = mcp::tool(&d);
/// assert_eq!(tool["inputSchema"]["type"], "object");
/// assert_eq!(tool["annotations"]["readOnlyHint"], true);
/// ```
pub fn tool(descriptor: &ToolDescriptor) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(descriptor.name));
    if let Some(title) = &descriptor.title {
        out.insert("title".into(), json!(title));
    }
    out.insert("description".into(), json!(descriptor.description));
    out.insert("inputSchema".into(), descriptor.input_schema.clone());
    if let Some(output) = &descriptor.output_schema {
        out.insert("outputSchema".into(), output.clone());
    }
    let a = &descriptor.annotations;
    let mut annotations = Map::new();
    if let Some(title) = &descriptor.title {
        annotations.insert("title".into(), json!(title));
    }
    annotations.insert("readOnlyHint".into(), json!(a.read_only));
    annotations.insert("destructiveHint".into(), json!(a.destructive));
    annotations.insert("idempotentHint".into(), json!(a.idempotent));
    annotations.insert("openWorldHint".into(), json!(a.open_world));
    out.insert("annotations".into(), Value::Object(annotations));
    Value::Object(out)
}

/// The result of MCP `tools/list`: `{"tools": [...]}`, in the order given.
pub fn tools_list(descriptors: &[ToolDescriptor]) -> Value {
    json!({"tools": descriptors.iter().map(tool).collect::<Vec<_>>()})
}
