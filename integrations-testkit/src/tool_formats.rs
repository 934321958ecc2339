//! Checks of exported tool declarations against each format's rules, for tests: MCP
//! `Tool`, OpenAI strict function tools, Anthropic tools, Gemini function declarations.
//!
//! Each check returns every problem found (empty when the declaration follows the
//! rules), as `<JSON Pointer>: <rule>`, so a failing test says where and why.

use serde_json::{Map, Value};

fn push(problems: &mut Vec<String>, at: &str, rule: &str) {
    problems.push(format!("{}: {rule}", if at.is_empty() { "/" } else { at }));
}

fn name_ok(name: &str, max: usize, extra: &[char]) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || extra.contains(&c))
}

fn keys_within(map: &Map<String, Value>, allowed: &[&str], at: &str, problems: &mut Vec<String>) {
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            push(problems, at, &format!("`{key}` is not allowed here"));
        }
    }
}

/// Every subschema of `schema` with its JSON Pointer (properties, items, anyOf/oneOf/
/// allOf alternatives, schema-valued additionalProperties, $defs).
/// The pointers of the boolean schemas (`true`: any value; `false`: none) in the places a
/// subschema can stand (properties, items, alternatives), which [`subschemas`] skips.
fn boolean_subschemas(schema: &Value, at: &str, out: &mut Vec<String>) {
    let Value::Object(map) = schema else {
        return;
    };
    let mut visit = |value: &Value, pointer: String| {
        if value.is_boolean() {
            out.push(pointer);
        } else {
            boolean_subschemas(value, &pointer, out);
        }
    };
    if let Some(Value::Object(properties)) = map.get("properties") {
        for (name, value) in properties {
            visit(value, format!("{at}/properties/{name}"));
        }
    }
    if let Some(value) = map.get("items") {
        visit(value, format!("{at}/items"));
    }
    if let Some(value @ Value::Object(_)) = map.get("additionalProperties") {
        visit(value, format!("{at}/additionalProperties"));
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(items)) = map.get(key) {
            for (i, item) in items.iter().enumerate() {
                visit(item, format!("{at}/{key}/{i}"));
            }
        }
    }
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(defs)) = map.get(key) {
            for (name, def) in defs {
                visit(def, format!("{at}/{key}/{name}"));
            }
        }
    }
}

fn subschemas<'a>(schema: &'a Value, at: &str, out: &mut Vec<(String, &'a Map<String, Value>)>) {
    let Value::Object(map) = schema else {
        return;
    };
    out.push((at.to_owned(), map));
    if let Some(Value::Object(properties)) = map.get("properties") {
        for (name, value) in properties {
            subschemas(value, &format!("{at}/properties/{name}"), out);
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(value @ Value::Object(_)) = map.get(key) {
            subschemas(value, &format!("{at}/{key}"), out);
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(items)) = map.get(key) {
            for (i, item) in items.iter().enumerate() {
                subschemas(item, &format!("{at}/{key}/{i}"), out);
            }
        }
    }
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(defs)) = map.get(key) {
            for (name, def) in defs {
                subschemas(def, &format!("{at}/{key}/{name}"), out);
            }
        }
    }
}

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

/// An MCP `Tool` (2026-07-28): known keys only; a name of 1 to 128 of `A-Z a-z 0-9 _ - .`;
/// an object `inputSchema`; an object `outputSchema` when present; boolean hints.
pub fn check_mcp_tool(tool: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(map) = tool.as_object() else {
        return vec!["/: a tool is an object".to_owned()];
    };
    keys_within(
        map,
        &[
            "name",
            "title",
            "icons",
            "description",
            "inputSchema",
            "outputSchema",
            "annotations",
            "_meta",
        ],
        "",
        &mut problems,
    );
    match map.get("name").and_then(Value::as_str) {
        Some(name) if name_ok(name, 128, &['.']) => {}
        _ => push(&mut problems, "/name", "1 to 128 of A-Z a-z 0-9 _ - ."),
    }
    if map.get("description").is_some_and(|d| !d.is_string()) {
        push(&mut problems, "/description", "a string");
    }
    if map.get("inputSchema").and_then(|s| s.get("type")) != Some(&Value::String("object".into())) {
        push(&mut problems, "/inputSchema/type", "must be \"object\"");
    }
    if let Some(output) = map.get("outputSchema")
        && output.get("type") != Some(&Value::String("object".into()))
    {
        push(&mut problems, "/outputSchema/type", "must be \"object\"");
    }
    if let Some(annotations) = map.get("annotations") {
        match annotations.as_object() {
            Some(a) => {
                keys_within(
                    a,
                    &[
                        "title",
                        "readOnlyHint",
                        "destructiveHint",
                        "idempotentHint",
                        "openWorldHint",
                    ],
                    "/annotations",
                    &mut problems,
                );
                for (k, v) in a {
                    if k != "title" && !v.is_boolean() {
                        push(&mut problems, &format!("/annotations/{k}"), "a boolean");
                    }
                }
            }
            None => push(&mut problems, "/annotations", "an object"),
        }
    }
    problems
}

const OPENAI_KEYWORDS: &[&str] = &[
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
    "$ref",
    "$defs",
];
const OPENAI_FORMATS: &[&str] = &[
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
const JSON_TYPES: &[&str] = &[
    "string", "number", "integer", "boolean", "array", "object", "null",
];

fn depth(pointer: &str) -> usize {
    pointer.matches("/properties/").count() + pointer.matches("/items").count()
}

/// An OpenAI function tool in strict mode, in the Responses (`{type, name, ...}`) or Chat
/// Completions (`{type, function: {name, ...}}`) shape: `strict: true`; a name of 1 to 64
/// of `a-z A-Z 0-9 _ -`; an object root without `anyOf`; only keywords of the strict
/// subset; every object closed (`additionalProperties: false`) with every property
/// required; formats of the supported set; at most 10 levels of nesting; `$ref` only to
/// root `$defs`.
pub fn check_openai_strict_tool(tool: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if tool.get("type") != Some(&Value::String("function".into())) {
        push(&mut problems, "/type", "must be \"function\"");
    }
    let (function, at) = match tool.get("function") {
        Some(f) => (f, "/function"),
        None => (tool, ""),
    };
    match function.get("name").and_then(Value::as_str) {
        Some(name) if name_ok(name, 64, &[]) => {}
        _ => push(
            &mut problems,
            &format!("{at}/name"),
            "1 to 64 of a-z A-Z 0-9 _ -",
        ),
    }
    if function.get("strict") != Some(&Value::Bool(true)) {
        push(&mut problems, &format!("{at}/strict"), "must be true");
    }
    let Some(parameters) = function.get("parameters") else {
        push(&mut problems, &format!("{at}/parameters"), "required");
        return problems;
    };
    let root = format!("{at}/parameters");
    if parameters.get("type") != Some(&Value::String("object".into())) {
        push(
            &mut problems,
            &format!("{root}/type"),
            "the root must be an object",
        );
    }
    if parameters.get("anyOf").is_some() {
        push(&mut problems, &root, "the root must not be anyOf");
    }
    let defs = parameters.get("$defs").and_then(Value::as_object);
    let mut booleans = Vec::new();
    boolean_subschemas(parameters, &root, &mut booleans);
    for pointer in booleans {
        push(
            &mut problems,
            &pointer,
            "a boolean schema; strict mode needs a schema object with a type",
        );
    }
    let mut all = Vec::new();
    subschemas(parameters, &root, &mut all);
    for (pointer, map) in all {
        keys_within(map, OPENAI_KEYWORDS, &pointer, &mut problems);
        let typed = map.contains_key("type")
            || ["anyOf", "enum", "const", "$ref"]
                .iter()
                .any(|k| map.contains_key(*k));
        if !typed && !pointer.contains("/$defs/") {
            push(
                &mut problems,
                &pointer,
                "a type (or anyOf, enum, const, $ref)",
            );
        }
        for t in types(map) {
            if !JSON_TYPES.contains(&t.as_str()) {
                push(&mut problems, &format!("{pointer}/type"), "an unknown type");
            }
        }
        if let Some(format) = map.get("format")
            && !format.as_str().is_some_and(|f| OPENAI_FORMATS.contains(&f))
        {
            push(
                &mut problems,
                &format!("{pointer}/format"),
                "an unsupported format",
            );
        }
        if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
            let known = reference
                .strip_prefix("#/$defs/")
                .is_some_and(|name| defs.is_some_and(|d| d.contains_key(name)));
            if !known {
                push(&mut problems, &pointer, "$ref must name a root $defs entry");
            }
        }
        if depth(&pointer) > 10 {
            push(&mut problems, &pointer, "nested deeper than 10 levels");
        }
        let is_object = types(map).iter().any(|t| t == "object") || map.contains_key("properties");
        if is_object {
            if map.get("additionalProperties") != Some(&Value::Bool(false)) {
                push(
                    &mut problems,
                    &pointer,
                    "an object must have additionalProperties: false",
                );
            }
            let properties: Vec<&String> = map
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| p.keys().collect())
                .unwrap_or_default();
            let required: Vec<&str> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for property in &properties {
                if !required.contains(&property.as_str()) {
                    push(
                        &mut problems,
                        &pointer,
                        &format!("property `{property}` must be required"),
                    );
                }
            }
            if required.len() != properties.len() {
                push(
                    &mut problems,
                    &pointer,
                    "required must list exactly the properties",
                );
            }
        }
    }
    problems
}

/// Whether a (strict) schema accepts `null`.
pub fn accepts_null(schema: &Value) -> bool {
    let Some(map) = schema.as_object() else {
        return false;
    };
    types(map).iter().any(|t| t == "null")
        || map.get("nullable") == Some(&Value::Bool(true))
        || ["anyOf", "oneOf"].iter().any(|k| {
            map.get(*k)
                .and_then(Value::as_array)
                .is_some_and(|alts| alts.iter().any(accepts_null))
        })
}

/// An Anthropic tool: known keys only; a name of 1 to 64 of `a-z A-Z 0-9 _ -`; an object
/// `input_schema` with no `$schema` and no `$ref` left unresolved.
pub fn check_anthropic_tool(tool: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(map) = tool.as_object() else {
        return vec!["/: a tool is an object".to_owned()];
    };
    keys_within(
        map,
        &[
            "name",
            "description",
            "input_schema",
            "cache_control",
            "type",
        ],
        "",
        &mut problems,
    );
    match map.get("name").and_then(Value::as_str) {
        Some(name) if name_ok(name, 64, &[]) => {}
        _ => push(&mut problems, "/name", "1 to 64 of a-z A-Z 0-9 _ -"),
    }
    if !map.get("description").is_some_and(Value::is_string) {
        push(&mut problems, "/description", "a string");
    }
    let Some(schema) = map.get("input_schema") else {
        push(&mut problems, "/input_schema", "required");
        return problems;
    };
    if schema.get("type") != Some(&Value::String("object".into())) {
        push(&mut problems, "/input_schema/type", "must be \"object\"");
    }
    if schema.get("$schema").is_some() {
        push(&mut problems, "/input_schema", "no $schema");
    }
    let mut all = Vec::new();
    subschemas(schema, "/input_schema", &mut all);
    for (pointer, map) in all {
        if map.contains_key("$ref") {
            push(&mut problems, &pointer, "no unresolved $ref");
        }
    }
    problems
}

const GEMINI_KEYWORDS: &[&str] = &[
    "type",
    "format",
    "title",
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
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];
const GEMINI_TYPES: &[&str] = &["string", "number", "integer", "boolean", "array", "object"];

/// A Gemini function declaration: known keys only; a name starting with a letter or `_`,
/// then up to 63 of `a-z A-Z 0-9 _ . : -`; `parameters`, when present, an object schema
/// with properties; every schema in the `OpenAPI` subset (one type of the six, `nullable`
/// for null, string enums only, arrays with `items`, objects with properties, `required`
/// naming declared properties; no `$ref`, `$defs`, `$schema`, `additionalProperties`,
/// `const`, `oneOf` or `allOf`).
pub fn check_gemini_declaration(declaration: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(map) = declaration.as_object() else {
        return vec!["/: a declaration is an object".to_owned()];
    };
    keys_within(
        map,
        &[
            "name",
            "description",
            "parameters",
            "response",
            "behavior",
            "parametersJsonSchema",
            "responseJsonSchema",
        ],
        "",
        &mut problems,
    );
    let name_valid = map.get("name").and_then(Value::as_str).is_some_and(|n| {
        n.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name_ok(n, 64, &['.', ':'])
    });
    if !name_valid {
        push(
            &mut problems,
            "/name",
            "a letter or _, then up to 63 of a-z A-Z 0-9 _ . : -",
        );
    }
    let Some(parameters) = map.get("parameters") else {
        return problems;
    };
    if parameters
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
        != Some("object")
    {
        push(&mut problems, "/parameters/type", "must be object");
    }
    let mut booleans = Vec::new();
    boolean_subschemas(parameters, "/parameters", &mut booleans);
    for pointer in booleans {
        push(
            &mut problems,
            &pointer,
            "a boolean schema; Gemini needs a schema object with a type",
        );
    }
    let mut all = Vec::new();
    subschemas(parameters, "/parameters", &mut all);
    for (pointer, map) in all {
        keys_within(map, GEMINI_KEYWORDS, &pointer, &mut problems);
        let kind = match map.get("type") {
            Some(Value::String(t)) => {
                let t = t.to_ascii_lowercase();
                if !GEMINI_TYPES.contains(&t.as_str()) {
                    push(
                        &mut problems,
                        &format!("{pointer}/type"),
                        "one of the six types",
                    );
                }
                Some(t)
            }
            Some(_) => {
                push(
                    &mut problems,
                    &format!("{pointer}/type"),
                    "a single type name",
                );
                None
            }
            None => {
                if !map.contains_key("anyOf") {
                    push(&mut problems, &pointer, "a type (or anyOf)");
                }
                None
            }
        };
        if let Some(values) = map.get("enum") {
            let strings = values
                .as_array()
                .is_some_and(|v| v.iter().all(Value::is_string));
            if kind.as_deref() != Some("string") || !strings {
                push(
                    &mut problems,
                    &format!("{pointer}/enum"),
                    "string enums only",
                );
            }
        }
        if kind.as_deref() == Some("array") && !map.contains_key("items") {
            push(&mut problems, &pointer, "an array needs items");
        }
        if kind.as_deref() == Some("object") {
            let properties = map.get("properties").and_then(Value::as_object);
            if properties.is_none_or(Map::is_empty) {
                push(&mut problems, &pointer, "an object needs properties");
            }
            if let Some(required) = map.get("required").and_then(Value::as_array) {
                for name in required {
                    let declared = name
                        .as_str()
                        .is_some_and(|n| properties.is_some_and(|p| p.contains_key(n)));
                    if !declared {
                        push(
                            &mut problems,
                            &format!("{pointer}/required"),
                            "names an undeclared property",
                        );
                    }
                }
            }
        }
    }
    problems
}
