//! Exports of tool descriptors to the formats agents consume.
//!
//! * [`mcp`]: MCP `tools/list` entries, the schemas as derived (JSON Schema 2020-12).
//! * [`openai`]: OpenAI function tools in strict mode: every object closed
//!   (`additionalProperties: false`), every property required, optional ones nullable,
//!   references inlined, keywords outside the strict subset removed.
//! * [`anthropic`]: Anthropic tools (`name`, `description`, `input_schema`), references
//!   inlined.
//! * [`gemini`]: Gemini function declarations: the `OpenAPI` subset (top-level
//!   `type: object`, one type per schema with `nullable`, string enums, no `$ref`,
//!   `$defs`, `$schema`, `additionalProperties` or `const`).
//!
//! The transforms only ever loosen what the model is told, never what the runtime
//! checks: [`Runtime`](super::Runtime) still validates every call against the full input
//! schema. Keywords a format cannot express are dropped; a schema a format cannot
//! express at all (a recursive type) is an error (`export.unsupported_schema`).

pub mod anthropic;
pub mod gemini;
pub mod mcp;
pub mod openai;

use serde_json::{Map, Value};

use crate::Error;

fn unsupported(message: impl Into<String>) -> Error {
    crate::codes::export::UNSUPPORTED_SCHEMA.error(message.into())
}

/// The schema with every local `$ref` (`#/$defs/X`, `#/definitions/X`) replaced by the
/// definition it names (siblings of the `$ref` win over the definition's keys) and the
/// definitions removed.
///
/// # Errors
///
/// `export.unsupported_schema` for a reference to anything else, a missing definition,
/// or a recursive one (which no inlining can express).
pub fn inline_refs(schema: &Value) -> Result<Value, Error> {
    let mut defs = Map::new();
    if let Value::Object(root) = schema {
        for key in ["$defs", "definitions"] {
            if let Some(Value::Object(found)) = root.get(key) {
                for (name, def) in found {
                    defs.insert(format!("#/{key}/{name}"), def.clone());
                }
            }
        }
    }
    let mut out = schema.clone();
    if let Value::Object(root) = &mut out {
        root.remove("$defs");
        root.remove("definitions");
    }
    let mut stack = Vec::new();
    resolve(&mut out, &defs, &mut stack)?;
    Ok(out)
}

fn resolve(
    node: &mut Value,
    defs: &Map<String, Value>,
    stack: &mut Vec<String>,
) -> Result<(), Error> {
    match node {
        Value::Object(map) => {
            if let Some(reference) = map.remove("$ref") {
                let Some(reference) = reference.as_str() else {
                    return Err(unsupported("a $ref is not a string"));
                };
                if stack.iter().any(|r| r == reference) {
                    return Err(unsupported(format!(
                        "the schema is recursive through {reference}"
                    )));
                }
                let Some(def) = defs.get(reference) else {
                    return Err(unsupported(format!(
                        "the reference {reference} is not a local definition"
                    )));
                };
                let mut def = def.clone();
                stack.push(reference.to_owned());
                resolve(&mut def, defs, stack)?;
                stack.pop();
                if let Value::Object(def) = def {
                    for (k, v) in def {
                        map.entry(k).or_insert(v);
                    }
                }
            }
            for value in map.values_mut() {
                resolve(value, defs, stack)?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for item in items {
                resolve(item, defs, stack)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Replaces a `oneOf`/`anyOf` whose alternatives are all `const` values of one type (how
/// schemars writes an enum whose variants have doc comments) with a plain `enum`, the
/// variants' descriptions appended to the schema's own.
fn collapse_const_union(map: &mut Map<String, Value>) {
    for key in ["oneOf", "anyOf"] {
        let Some(Value::Array(alternatives)) = map.get(key) else {
            continue;
        };
        let mut values = Vec::new();
        let mut notes = Vec::new();
        let mut kind: Option<Value> = None;
        let all_const = alternatives.iter().all(|alt| {
            let Some(alt) = alt.as_object() else {
                return false;
            };
            let Some(value) = alt.get("const") else {
                return false;
            };
            if alt
                .keys()
                .any(|k| !matches!(k.as_str(), "const" | "type" | "description" | "title"))
            {
                return false;
            }
            if let Some(t) = alt.get("type") {
                if kind.as_ref().is_some_and(|k| k != t) {
                    return false;
                }
                kind = Some(t.clone());
            }
            if let (Some(text), Some(d)) = (
                value.as_str(),
                alt.get("description").and_then(Value::as_str),
            ) {
                notes.push(format!("`{text}`: {}", d.trim_end_matches('.')));
            }
            values.push(value.clone());
            true
        });
        if !all_const || values.is_empty() {
            continue;
        }
        map.remove(key);
        if let Some(kind) = kind {
            map.insert("type".into(), kind);
        }
        map.insert("enum".into(), Value::Array(values));
        if !notes.is_empty() {
            let notes = notes.join("; ");
            let description = match map.get("description").and_then(Value::as_str) {
                Some(d) => format!("{d} ({notes})"),
                None => notes,
            };
            map.insert("description".into(), Value::String(description));
        }
        return;
    }
}

/// Calls `f` on `node` and then on every subschema below it (properties, items,
/// `anyOf`/`oneOf`/`allOf` alternatives, schema-valued `additionalProperties`,
/// `prefixItems`, `not`). `f` runs first, so it may rewrite the keys that lead below.
type Visit<'a> = dyn FnMut(&mut Map<String, Value>) -> Result<(), Error> + 'a;

fn walk(node: &mut Value, f: &mut Visit<'_>) -> Result<(), Error> {
    let Value::Object(map) = node else {
        return Ok(());
    };
    f(map)?;
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        for value in properties.values_mut() {
            walk(value, f)?;
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(value @ Value::Object(_)) = map.get_mut(key) {
            walk(value, f)?;
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(items)) = map.get_mut(key) {
            for item in items {
                walk(item, f)?;
            }
        }
    }
    Ok(())
}

/// Merges a one-element `allOf` into its schema (schemars writes one for a documented
/// field whose type is a reference, in older dialects).
fn merge_single_all_of(map: &mut Map<String, Value>) -> Result<(), Error> {
    if let Some(Value::Array(all)) = map.get("allOf") {
        if all.len() != 1 {
            return Err(unsupported("allOf with several schemas cannot be exported"));
        }
        if let Some(Value::Object(only)) = map.remove("allOf").and_then(|v| match v {
            Value::Array(mut a) => a.pop(),
            _ => None,
        }) {
            for (k, v) in only {
                map.entry(k).or_insert(v);
            }
        }
    }
    Ok(())
}

/// `allOf` of one merged, const unions as enums, `oneOf` as `anyOf` (alternatives of a
/// derived schema never overlap, so the two mean the same).
fn normalize(map: &mut Map<String, Value>) -> Result<(), Error> {
    merge_single_all_of(map)?;
    collapse_const_union(map);
    if let Some(one_of) = map.remove("oneOf") {
        if map.contains_key("anyOf") {
            return Err(unsupported(
                "a schema with both anyOf and oneOf cannot be exported",
            ));
        }
        map.insert("anyOf".into(), one_of);
    }
    Ok(())
}

/// The type names of a schema (`"type": "x"` or `"type": [..]`).
fn types(map: &Map<String, Value>) -> Vec<String> {
    match map.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Refuses a schema whose properties, items or alternatives include a boolean schema
/// (`true`: any value, as schemars writes `serde_json::Value`): the exports that need a
/// typed schema object everywhere cannot carry it, and [`walk`] would pass it by.
fn refuse_free_form(map: &Map<String, Value>) -> Result<(), Error> {
    let properties = map
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.values());
    let items = map.get("items").into_iter();
    let alternatives = ["anyOf", "oneOf", "prefixItems"]
        .iter()
        .filter_map(|k| map.get(*k).and_then(Value::as_array))
        .flatten();
    if properties
        .chain(items)
        .chain(alternatives)
        .any(Value::is_boolean)
    {
        return Err(unsupported(
            "a value of any JSON type (a `true` schema) cannot be exported to this format",
        ));
    }
    Ok(())
}

/// Whether a schema describes objects.
fn is_object(map: &Map<String, Value>) -> bool {
    types(map).iter().any(|t| t == "object") || map.contains_key("properties")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn refs_are_inlined_with_siblings_winning() {
        let schema = json!({
            "type": "object",
            "properties": {
                "a": {"$ref": "#/$defs/A", "description": "outer"},
                "b": {"type": "array", "items": {"$ref": "#/$defs/B"}},
            },
            "$defs": {
                "A": {"type": "string", "description": "inner"},
                "B": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}},
            },
        });
        let out = inline_refs(&schema).unwrap();
        assert!(out.get("$defs").is_none());
        assert_eq!(
            out["properties"]["a"],
            json!({"type": "string", "description": "outer"})
        );
        assert_eq!(
            out["properties"]["b"]["items"]["properties"]["a"]["type"],
            "string"
        );
        assert!(!out.to_string().contains("$ref"));
    }

    #[test]
    fn recursive_and_foreign_refs_are_refused() {
        let recursive = json!({
            "type": "object",
            "properties": {"n": {"$ref": "#/$defs/N"}},
            "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
        });
        assert_eq!(
            inline_refs(&recursive).unwrap_err().code(),
            "export.unsupported_schema"
        );
        let foreign = json!({"properties": {"x": {"$ref": "https://example.com/s.json"}}});
        assert!(inline_refs(&foreign).is_err());
    }

    #[test]
    fn const_unions_become_enums() {
        let mut map = json!({
            "description": "Priority.",
            "oneOf": [
                {"type": "string", "const": "low", "description": "Low."},
                {"type": "string", "const": "high", "description": "High."},
            ],
        })
        .as_object()
        .unwrap()
        .clone();
        collapse_const_union(&mut map);
        assert_eq!(
            Value::Object(map),
            json!({
                "type": "string",
                "enum": ["low", "high"],
                "description": "Priority. (`low`: Low; `high`: High)",
            })
        );
        let mut mixed = json!({"anyOf": [{"const": "a"}, {"type": "integer"}]})
            .as_object()
            .unwrap()
            .clone();
        let before = mixed.clone();
        collapse_const_union(&mut mixed);
        assert_eq!(mixed, before);
    }
}
