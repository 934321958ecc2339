//! Gemini function declarations: `{name, description, parameters}` with parameters in the
//! `OpenAPI` subset Gemini reads.
//!
//! The subset has one type per schema (optional values are `nullable: true`), string
//! enums only, `anyOf` but no `oneOf`/`allOf`, and no `$ref`, `$defs`, `$schema`,
//! `additionalProperties` or `const`. An object must have properties, so a tool without
//! arguments is declared without `parameters`.

use serde_json::{Map, Value, json};

use super::{inline_refs, normalize, refuse_free_form, unsupported, walk};
use crate::Error;
use crate::definition::ToolDescriptor;

/// The keywords Gemini's schema accepts; everything else is dropped.
const KEYWORDS: &[&str] = &[
    "type",
    "format",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "anyOf",
    "items",
    "minimum",
    "maximum",
];

fn format_allowed(kind: Option<&str>, format: &str) -> bool {
    match kind {
        Some("string") => matches!(format, "enum" | "date-time"),
        Some("number") => matches!(format, "float" | "double"),
        Some("integer") => matches!(format, "int32" | "int64"),
        _ => false,
    }
}

fn is_null_schema(value: &Value) -> bool {
    value.get("type") == Some(&json!("null"))
}

fn gemini_node(map: &mut Map<String, Value>) -> Result<(), Error> {
    normalize(map)?;
    refuse_free_form(map)?;
    // `anyOf: [X, {type: null}]` is X, nullable.
    if let Some(Value::Array(alternatives)) = map.get_mut("anyOf")
        && alternatives.iter().any(is_null_schema)
    {
        alternatives.retain(|a| !is_null_schema(a));
        map.insert("nullable".into(), json!(true));
        if let Some(Value::Array(mut rest)) = map.remove("anyOf") {
            if rest.len() == 1 {
                if let Some(Value::Object(only)) = rest.pop() {
                    // Normalize the alternative before merging, so its keys are final.
                    let mut only = only;
                    normalize(&mut only)?;
                    for (k, v) in only {
                        map.entry(k).or_insert(v);
                    }
                }
            } else {
                map.insert("anyOf".into(), Value::Array(rest));
            }
        }
    }
    if let Some(value) = map.remove("const") {
        if let Some(text) = value.as_str() {
            map.insert("type".into(), json!("string"));
            map.insert("enum".into(), json!([text]));
        } else {
            return Err(unsupported(
                "Gemini schemas have no const for non-string values",
            ));
        }
    }
    // One type per schema.
    if let Some(Value::Array(kinds)) = map.get("type").cloned() {
        map.remove("type");
        let mut kinds: Vec<Value> = kinds;
        if kinds.iter().any(|t| t == "null") {
            kinds.retain(|t| t != "null");
            map.insert("nullable".into(), json!(true));
        }
        match kinds.len() {
            0 => {}
            1 => {
                map.insert("type".into(), kinds.remove(0));
            }
            _ => {
                let alternatives: Vec<Value> =
                    kinds.into_iter().map(|t| json!({"type": t})).collect();
                map.insert("anyOf".into(), Value::Array(alternatives));
            }
        }
    }
    // String enums only.
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        if values.iter().any(Value::is_null) {
            values.retain(|v| !v.is_null());
            map.insert("nullable".into(), json!(true));
        }
        let values = map
            .get("enum")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if values.iter().all(Value::is_string) {
            map.insert("type".into(), json!("string"));
        } else {
            map.remove("enum");
            let listed: Vec<String> = values.iter().map(Value::to_string).collect();
            let note = format!("One of: {}.", listed.join(", "));
            let description = match map.get("description").and_then(Value::as_str) {
                Some(d) => format!("{d} {note}"),
                None => note,
            };
            map.insert("description".into(), Value::String(description));
        }
    }
    let kind = map.get("type").and_then(Value::as_str).map(str::to_owned);
    map.retain(|k, v| {
        KEYWORDS.contains(&k.as_str())
            && (k != "format"
                || v.as_str()
                    .is_some_and(|f| format_allowed(kind.as_deref(), f)))
    });
    if map.contains_key("properties") && kind.is_none() {
        map.insert("type".into(), json!("object"));
    }
    // `required` names only declared properties.
    let declared: Vec<String> = map
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(Value::Array(required)) = map.get_mut("required") {
        required.retain(|n| n.as_str().is_some_and(|n| declared.iter().any(|d| d == n)));
    }
    if matches!(map.get("properties"), Some(Value::Object(p)) if p.is_empty()) {
        map.remove("properties");
        map.remove("required");
    }
    if !map.contains_key("type") && !map.contains_key("anyOf") {
        return Err(unsupported(
            "a value of any JSON type cannot be declared to Gemini, which needs a type for every schema",
        ));
    }
    Ok(())
}

/// The Gemini form of a JSON Schema.
///
/// # Errors
///
/// `export.unsupported_schema` when the schema is recursive, uses `allOf` with several
/// schemas, uses `const` with a value that is not a string, or has a value of any JSON
/// type (`serde_json::Value`), which Gemini cannot declare.
pub fn schema(schema: &Value) -> Result<Value, Error> {
    let mut out = inline_refs(schema)?;
    walk(&mut out, &mut gemini_node)?;
    Ok(out)
}

/// One function declaration. A tool whose arguments object has no properties is
/// declared without `parameters`.
///
/// # Errors
///
/// As [`schema`], and `export.unsupported_schema` when the input schema is not an object
/// schema or the tool's name starts with a digit (Gemini's names start with a letter or
/// `_`).
pub fn function_declaration(descriptor: &ToolDescriptor) -> Result<Value, Error> {
    // Gemini's function names start with a letter or `_`; the SDK's may start with a
    // digit (an integration named `1password`).
    if !descriptor
        .name
        .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
    {
        return Err(unsupported(
            "Gemini function names start with a letter or an underscore",
        ));
    }
    let parameters = schema(&descriptor.input_schema)?;
    if parameters.get("type") != Some(&json!("object")) {
        return Err(unsupported("Gemini parameters must be an object schema"));
    }
    let mut out = json!({
        "name": descriptor.name,
        "description": descriptor.description,
    });
    if parameters.get("properties").is_some() {
        out["parameters"] = parameters;
    }
    Ok(out)
}

/// A Gemini `tools` entry holding every declaration: `{"functionDeclarations": [...]}`.
///
/// # Errors
///
/// As [`function_declaration`], for the first tool that cannot be exported.
pub fn tool(descriptors: &[ToolDescriptor]) -> Result<Value, Error> {
    let declarations = descriptors
        .iter()
        .map(function_declaration)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"functionDeclarations": declarations}))
}
