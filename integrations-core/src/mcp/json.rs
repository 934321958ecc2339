//! The JSON `mcpServers` writer, with `jsonc-parser`'s concrete syntax tree: every token,
//! comment and whitespace it is not asked to change is written back as it was read.

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use serde_json::Value;

use super::{entry_value, invalid_document, not_a_table, ordered_entries};
use crate::Error;
use crate::plan::{McpConfigFormat, McpServer};

pub(super) fn apply(
    text: &str,
    path: &[String],
    servers: &[&McpServer],
    retired: &[&str],
) -> Result<String, Error> {
    let create = !servers.is_empty();
    let source = if text.trim().is_empty() {
        if !create {
            return Ok(text.to_owned());
        }
        "{}\n"
    } else {
        text
    };
    let root = CstRootNode::parse(source, &jsonc())
        .map_err(|e| invalid_document("JSON", Some(e.line_display())))?;
    let mut object = match root.value() {
        Some(value) => value
            .as_object()
            .ok_or_else(|| invalid_document("JSON: its root is not an object", None))?,
        None => return Err(invalid_document("JSON", None)),
    };
    for key in path {
        refuse_twice(&object, [key.as_str()])?;
        object = match object.get(key) {
            Some(prop) => prop
                .value()
                .and_then(|v| v.as_object())
                .ok_or_else(|| not_a_table(key, "an object"))?,
            None if create => object
                .object_value_or_create(key)
                .ok_or_else(|| not_a_table(key, "an object"))?,
            None => return Ok(text.to_owned()),
        };
    }
    refuse_twice(
        &object,
        servers
            .iter()
            .map(|s| s.name.as_str())
            .chain(retired.iter().copied()),
    )?;
    for name in retired {
        if let Some(prop) = object.get(name) {
            prop.remove();
        }
    }
    for server in servers {
        put(
            &object,
            &server.name,
            &entry_value(server, McpConfigFormat::Json),
        );
    }
    Ok(root.to_string())
}

/// What MCP clients read: JSON, or JSON with comments and trailing commas (VS Code's
/// `mcp.json`). Not the parser's default, which also takes JSON5 (single quotes, bare
/// keys, missing commas, hex numbers, `NaN`): a file a client's strict parser refuses
/// must be refused here too, not reported updated.
fn jsonc() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

/// Refuses an object that names one of `keys` (the keys this update reads or writes in
/// it) twice. A client's parser takes the last of two equal keys while the syntax tree
/// finds the first, so an entry would be written where the client never reads it. Other
/// keys named twice are left to the client.
fn refuse_twice<'a>(
    object: &CstObject,
    keys: impl IntoIterator<Item = &'a str>,
) -> Result<(), Error> {
    let keys: std::collections::BTreeSet<&str> = keys.into_iter().collect();
    let mut seen = std::collections::BTreeSet::new();
    for prop in object.properties() {
        let Some(name) = prop.name().and_then(|n| n.decoded_value().ok()) else {
            continue;
        };
        if keys.contains(name.as_str()) && !seen.insert(name) {
            return Err(crate::codes::mcp::INVALID_DOCUMENT.error(
                "the file names a key this update edits twice in one object; a client would read only the last",
            ));
        }
    }
    Ok(())
}

/// Puts one entry, leaving an equal entry untouched and replacing a different one where
/// it stands.
fn put(object: &CstObject, name: &str, desired: &Value) {
    match object.get(name) {
        Some(prop) => {
            let same = prop.value().and_then(|v| v.to_serde_value()).as_ref() == Some(desired);
            if !same {
                prop.set_value(input(desired));
            }
        }
        None => {
            object.append(name, input(desired));
        }
    }
}

fn input(value: &Value) -> CstInputValue {
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(input).collect()),
        Value::Object(map) => CstInputValue::Object(
            ordered_entries(map)
                .into_iter()
                .map(|(k, v)| (k.clone(), input(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::McpConfigWriter;
    use crate::plan::{McpConfigFormat, McpServer};

    fn writer() -> McpConfigWriter {
        McpConfigWriter::new(McpConfigFormat::Json, ["mcpServers"]).unwrap()
    }

    #[test]
    fn an_empty_file_gets_an_object() {
        let out = writer()
            .apply(
                "",
                &[McpServer::http("l", "linear", "https://mcp.linear.app/mcp")],
            )
            .unwrap();
        assert_eq!(
            out,
            "{\n  \"mcpServers\": {\n    \"linear\": {\n      \"type\": \"http\",\n      \"url\": \"https://mcp.linear.app/mcp\"\n    }\n  }\n}\n"
        );
        assert_eq!(writer().apply("  ", &[]).unwrap(), "  ");
    }

    #[test]
    fn json5_that_clients_refuse_is_refused_and_jsonc_is_read() {
        let linear = McpServer::http("l", "linear", "https://x.test");
        for text in [
            "{\"theme\": 'dark'}",
            "{theme: 1}",
            "{\"a\": 1 \"b\": 2}",
            "{\"a\": 0xFF}",
            "{\"a\": NaN}",
            "{\"a\": +1}",
            "{\"a\": .5}",
            "{\"a\": \"\\x41\"}",
        ] {
            let err = writer()
                .apply(text, std::slice::from_ref(&linear))
                .unwrap_err();
            assert_eq!(err.code(), "mcp.invalid_document", "{text}");
        }
        let jsonc = "{\n  // settings\n  \"a\": [1, 2,],\n}\n";
        let out = writer().apply(jsonc, &[linear]).unwrap();
        assert!(out.contains("// settings"), "{out}");
        assert!(out.contains("\"linear\""), "{out}");
    }

    #[test]
    fn a_key_named_twice_on_the_way_is_refused() {
        let linear = McpServer::http("l", "linear", "https://x.test");
        for text in [
            "{\"mcpServers\": {\"linear\": {}}, \"mcpServers\": {}}",
            "{\"mcpServers\": {\"linear\": {}, \"linear\": {\"url\": \"old\"}}}",
        ] {
            let err = writer()
                .apply(text, std::slice::from_ref(&linear))
                .unwrap_err();
            assert_eq!(err.code(), "mcp.invalid_document", "{text}");
        }
        // Elsewhere in the file, a repeated key is the client's business, at the root
        // and among the servers alike.
        for text in [
            "{\"other\": {\"a\": 1, \"a\": 2}}",
            "{\"font\": 1, \"font\": 2, \"mcpServers\": {}}",
            "{\"mcpServers\": {\"mine\": {}, \"mine\": {}}}",
        ] {
            let out = writer().apply(text, std::slice::from_ref(&linear)).unwrap();
            assert!(out.contains("\"linear\""), "{out}");
        }
    }

    #[test]
    fn a_root_that_is_not_an_object_is_refused() {
        let err = writer()
            .apply("[1]", &[McpServer::http("l", "linear", "https://x.test")])
            .unwrap_err();
        assert_eq!(err.code(), "mcp.invalid_document");
    }
}
