//! Arguments as models send them: a model in OpenAI strict mode must send every property,
//! and sends `null` for the optional ones it means to leave out. Before validation, the
//! runtime drops those `null`s, so "not given" reads the same whichever model called.
//! (A tool therefore never uses `null` to mean "clear this field".)

use serde_json::Value;

/// Follows `$ref`s to local definitions (`#/$defs/X`, `#/definitions/X`).
fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            return schema;
        };
        let Some(target) = reference.strip_prefix('#').and_then(|p| root.pointer(p)) else {
            return schema;
        };
        schema = target;
    }
    schema
}

/// The schema (or the first `anyOf`/`oneOf`/`allOf` alternative) that describes
/// objects with `properties`.
fn object_schema<'a>(root: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    let schema = resolve(root, schema);
    if schema.get("properties").is_some() {
        return Some(schema);
    }
    ["anyOf", "oneOf", "allOf"]
        .iter()
        .filter_map(|k| schema.get(*k).and_then(Value::as_array))
        .flatten()
        .find_map(|alternative| {
            let alternative = resolve(root, alternative);
            alternative
                .get("properties")
                .is_some()
                .then_some(alternative)
        })
}

/// The schema of the items of an array schema (or of its first array alternative).
fn items_schema<'a>(root: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    let schema = resolve(root, schema);
    if let Some(items) = schema.get("items") {
        return Some(items);
    }
    ["anyOf", "oneOf"]
        .iter()
        .filter_map(|k| schema.get(*k).and_then(Value::as_array))
        .flatten()
        .find_map(|alternative| resolve(root, alternative).get("items"))
}

fn strip(root: &Value, schema: &Value, value: &mut Value, depth: u8) {
    if depth > 32 {
        return;
    }
    match value {
        Value::Object(map) => {
            let Some(object) = object_schema(root, schema) else {
                return;
            };
            let Some(properties) = object.get("properties").and_then(Value::as_object) else {
                return;
            };
            let required = object.get("required").and_then(Value::as_array);
            let is_required =
                |name: &str| required.is_some_and(|r| r.iter().any(|n| n.as_str() == Some(name)));
            map.retain(|name, v| {
                !(v.is_null() && properties.contains_key(name) && !is_required(name))
            });
            for (name, v) in map.iter_mut() {
                if let Some(property) = properties.get(name) {
                    strip(root, property, v, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = items_schema(root, schema) {
                for item in items {
                    strip(root, item_schema, item, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// Whether `value` holds a `null` at any depth strip reaches (deeper counts as yes, so
/// strip decides).
fn holds_null(value: &Value, depth: u8) -> bool {
    if depth > 33 {
        return true;
    }
    match value {
        Value::Null => true,
        Value::Object(map) => map.values().any(|v| holds_null(v, depth + 1)),
        Value::Array(items) => items.iter().any(|v| holds_null(v, depth + 1)),
        _ => false,
    }
}

/// Drops `null` values of properties `schema` declares and does not require, at every
/// object level the schema describes. Arguments without a `null` (most calls) are left
/// as they are without walking the schema.
pub(crate) fn drop_optional_nulls(schema: &Value, arguments: &mut Value) {
    if holds_null(arguments, 0) {
        strip(schema, schema, arguments, 0);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn optional_nulls_go_required_nulls_stay() {
        let schema = json!({
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "priority": {"type": ["integer", "null"]},
                "nested": {"anyOf": [{"$ref": "#/$defs/N"}, {"type": "null"}]},
                "list": {"type": "array", "items": {"$ref": "#/$defs/N"}},
            },
            "required": ["title"],
            "$defs": {"N": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a"]}},
        });
        let mut args = json!({
            "title": null,
            "priority": null,
            "nested": {"a": null, "b": null},
            "list": [{"a": "x", "b": null}],
            "extra": null,
        });
        drop_optional_nulls(&schema, &mut args);
        assert_eq!(
            args,
            json!({"title": null, "nested": {"a": null}, "list": [{"a": "x"}], "extra": null})
        );
    }

    #[test]
    fn nulls_are_found_at_any_depth_and_only_there() {
        assert!(!holds_null(&json!({"a": [1, {"b": "x"}], "c": true}), 0));
        assert!(holds_null(&json!({"a": [1, {"b": null}]}), 0));
        assert!(holds_null(&json!([null]), 0));
        let mut deep = json!(null);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        assert!(holds_null(&deep, 0));
        // Beyond strip's depth, the answer is "yes": strip then decides.
        let mut beyond = json!(1);
        for _ in 0..40 {
            beyond = json!({"x": beyond});
        }
        assert!(holds_null(&beyond, 0));
    }
}
