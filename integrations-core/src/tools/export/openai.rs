//! OpenAI function tools in strict mode (Structured Outputs for function calling).
//!
//! Strict mode accepts a subset of JSON Schema and adds two rules: every object is
//! closed (`additionalProperties: false`) and lists every property in `required`; a
//! property that may be left out is instead made nullable. The runtime drops `null`
//! arguments for optional properties before validating, so a strict-mode model's
//! `"priority": null` means "not given".

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::{inline_refs, is_object, normalize, refuse_free_form, types, unsupported, walk};
use crate::Error;
use crate::definition::ToolDescriptor;

/// The keywords strict mode accepts; everything else is dropped.
const KEYWORDS: &[&str] = &[
    "type",
    "description",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "anyOf",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
];

/// The string formats strict mode accepts.
const FORMATS: &[&str] = &[
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

/// Which OpenAI API the tool is for: the two nest the function differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenAiApi {
    /// The Responses API: `{"type": "function", "name", "description", "parameters", "strict"}`.
    Responses,
    /// Chat Completions: `{"type": "function", "function": {"name", ..., "strict"}}`.
    ChatCompletions,
}

/// Makes a property schema accept `null` as well.
fn make_nullable(map: &mut Map<String, Value>) {
    match map.get_mut("type") {
        Some(Value::String(t)) if t != "null" => {
            let t = std::mem::take(t);
            map.insert("type".into(), json!([t, "null"]));
        }
        Some(Value::Array(ts)) => {
            if !ts.iter().any(|t| t == "null") {
                ts.push(json!("null"));
            }
        }
        Some(_) => {}
        None => {
            if let Some(Value::Array(alternatives)) = map.get_mut("anyOf") {
                if !alternatives
                    .iter()
                    .any(|a| a.get("type") == Some(&json!("null")))
                {
                    alternatives.push(json!({"type": "null"}));
                }
                return;
            }
        }
    }
    if let Some(Value::Array(values)) = map.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
}

fn strict_node(map: &mut Map<String, Value>) -> Result<(), Error> {
    normalize(map)?;
    refuse_free_form(map)?;
    if matches!(map.get("additionalProperties"), Some(Value::Object(_))) {
        return Err(unsupported(
            "a map (an object with free keys) cannot be expressed in OpenAI strict mode, which closes every object",
        ));
    }
    map.retain(|k, v| {
        KEYWORDS.contains(&k.as_str())
            && (k != "format" || v.as_str().is_some_and(|f| FORMATS.contains(&f)))
    });
    if is_object(map) {
        if types(map).is_empty() {
            map.insert("type".into(), json!("object"));
        }
        let required: BTreeSet<String> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut names = Vec::new();
        if let Some(Value::Object(properties)) = map.get_mut("properties") {
            for (name, property) in properties.iter_mut() {
                if !required.contains(name)
                    && let Value::Object(property) = property
                {
                    normalize(property)?;
                    make_nullable(property);
                }
                names.push(Value::String(name.clone()));
            }
        } else {
            map.insert("properties".into(), json!({}));
        }
        map.insert("required".into(), Value::Array(names));
        map.insert("additionalProperties".into(), json!(false));
    }
    let typed = !types(map).is_empty()
        || ["anyOf", "enum", "const"]
            .iter()
            .any(|k| map.contains_key(*k));
    if !typed {
        return Err(unsupported(
            "a value of any JSON type cannot be expressed in OpenAI strict mode, which needs a type for every schema",
        ));
    }
    Ok(())
}

/// The strict-mode form of a JSON Schema.
///
/// # Errors
///
/// `export.unsupported_schema` when the schema is recursive, uses `allOf` with several
/// schemas, is not an object schema at the root (strict mode's root rule), or has a
/// part strict mode cannot express: a value of any JSON type (`serde_json::Value`), or
/// a map with free keys (`HashMap`), since strict mode closes every object.
pub fn strict_schema(schema: &Value) -> Result<Value, Error> {
    let mut out = inline_refs(schema)?;
    walk(&mut out, &mut strict_node)?;
    let root_ok = out.get("type") == Some(&json!("object")) && out.get("anyOf").is_none();
    if !root_ok {
        return Err(unsupported(
            "OpenAI strict mode needs an object schema at the root",
        ));
    }
    Ok(out)
}

/// One function tool for `api`, strict.
///
/// # Errors
///
/// As [`strict_schema`].
pub fn tool(descriptor: &ToolDescriptor, api: OpenAiApi) -> Result<Value, Error> {
    let parameters = strict_schema(&descriptor.input_schema)?;
    Ok(match api {
        OpenAiApi::Responses => json!({
            "type": "function",
            "name": descriptor.name,
            "description": descriptor.description,
            "parameters": parameters,
            "strict": true,
        }),
        OpenAiApi::ChatCompletions => json!({
            "type": "function",
            "function": {
                "name": descriptor.name,
                "description": descriptor.description,
                "parameters": parameters,
                "strict": true,
            },
        }),
    })
}

/// Every tool for `api`, in the order given.
///
/// # Errors
///
/// As [`strict_schema`], for the first tool that cannot be exported.
pub fn tools(descriptors: &[ToolDescriptor], api: OpenAiApi) -> Result<Vec<Value>, Error> {
    descriptors.iter().map(|d| tool(d, api)).collect()
}
