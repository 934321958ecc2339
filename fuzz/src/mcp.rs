//! The MCP config file writers (Codex TOML, `mcpServers` JSON): every byte outside the
//! managed entries is kept, the output re-parses, and a second run changes nothing.

use arbitrary::{Arbitrary, Unstructured};
use integrations_core::mcp::McpConfigWriter;
use integrations_core::plan::{McpConfigFormat, McpServer};
use serde_json::Value;

const NAMES: &[&str] = &["linear", "github", "mine", "slack-bot", "a_b"];

#[derive(Debug)]
struct Input {
    servers: Vec<McpServer>,
    retired: Vec<String>,
    text: String,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut servers = Vec::new();
        for i in 0..u.int_in_range(0..=3)? {
            let name = *u.choose(NAMES)?;
            let server = if u.arbitrary()? {
                McpServer::http(
                    format!("s{i}"),
                    name,
                    format!("https://{name}.example.com/mcp"),
                )
            } else {
                McpServer::stdio(
                    format!("s{i}"),
                    name,
                    "npx",
                    vec!["-y".into(), u.arbitrary()?],
                )
                .with_env("MODE", u.arbitrary::<String>()?)
            };
            servers.push(server);
        }
        let mut retired = Vec::new();
        for _ in 0..u.int_in_range(0..=2)? {
            retired.push((*u.choose(NAMES)?).to_owned());
        }
        Ok(Self {
            servers,
            retired,
            text: u.arbitrary()?,
        })
    }
}

fn managed(input: &Input, name: &str) -> bool {
    input.servers.iter().any(|s| s.name == name) || input.retired.iter().any(|r| r == name)
}

fn is_subsequence(small: &[&str], large: &[&str]) -> bool {
    let mut it = large.iter();
    small.iter().all(|line| it.any(|l| l == line))
}

/// The TOML writer (`[mcp_servers.<name>]`).
pub fn mcp_toml(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let writer = McpConfigWriter::new(McpConfigFormat::Toml, ["mcp_servers"])
        .expect("a valid path")
        .with_retired(input.retired.clone());
    let Ok(output) = writer.apply(&input.text, &input.servers) else {
        return;
    };
    let bare = |text: &str| text.strip_prefix('\u{feff}').unwrap_or(text).to_owned();
    let before: toml_edit::DocumentMut = bare(&input.text)
        .parse()
        .expect("the writer only accepts TOML");
    let after: toml_edit::DocumentMut = bare(&output)
        .parse()
        .unwrap_or_else(|e| panic!("the output does not parse: {e}\n{output}"));
    for (key, item) in before.iter() {
        if key == "mcp_servers" {
            continue;
        }
        assert_eq!(
            after.get(key).map(ToString::to_string),
            Some(item.to_string()),
            "an unmanaged key changed: {key}"
        );
    }
    if let Some(table) = before
        .get("mcp_servers")
        .and_then(toml_edit::Item::as_table_like)
    {
        let out = after
            .get("mcp_servers")
            .and_then(toml_edit::Item::as_table_like)
            .expect("the servers table stays a table");
        for (name, item) in table.iter() {
            if !managed(&input, name) {
                assert_eq!(
                    out.get(name).map(ToString::to_string),
                    Some(item.to_string()),
                    "the user's own server {name} changed"
                );
            }
        }
    }
    for server in &input.servers {
        assert!(
            after["mcp_servers"].get(&server.name).is_some(),
            "a managed server is missing"
        );
    }
    if !input.text.contains("mcp_servers") {
        // A byte-order mark stays first in the file, before whatever line comes first.
        let (text, written) = (bare(&input.text), bare(&output));
        let small: Vec<&str> = text.lines().collect();
        let large: Vec<&str> = written.lines().collect();
        assert!(
            is_subsequence(&small, &large),
            "a line of the file was lost or changed: {:?} -> {output:?}",
            input.text
        );
    }
    assert_eq!(
        writer.apply(&output, &input.servers).ok().as_deref(),
        Some(output.as_str()),
        "a second run changed the file"
    );
}

fn parse_json(text: &str) -> Option<Value> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // As a client reads it: JSON with comments and trailing commas, nothing of JSON5.
    let options = jsonc_parser::ParseOptions {
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
    };
    let parsed =
        jsonc_parser::parse_to_ast(text, &jsonc_parser::CollectOptions::default(), &options)
            .ok()?;
    parsed.value.map(Value::from)
}

/// The JSON writer (`mcpServers`, comments allowed).
pub fn mcp_json(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let writer = McpConfigWriter::new(McpConfigFormat::Json, ["mcpServers"])
        .expect("a valid path")
        .with_retired(input.retired.clone());
    let Ok(output) = writer.apply(&input.text, &input.servers) else {
        return;
    };
    if input.servers.is_empty() && output == input.text {
        return; // nothing to write, nothing written
    }
    let after = parse_json(&output)
        .unwrap_or_else(|| panic!("the output does not parse: {:?} -> {output:?}", input.text));
    let Value::Object(after) = after else {
        panic!("the output's root is not an object");
    };
    if let Some(Value::Object(before)) = parse_json(&input.text) {
        for (key, value) in &before {
            if key == "mcpServers" {
                continue;
            }
            assert_eq!(
                after.get(key),
                Some(value),
                "an unmanaged key changed: {key}"
            );
        }
        if let Some(Value::Object(servers)) = before.get("mcpServers") {
            let out = after["mcpServers"].as_object().expect("still an object");
            for (name, value) in servers {
                if !managed(&input, name) {
                    assert_eq!(
                        out.get(name),
                        Some(value),
                        "the user's own server {name} changed"
                    );
                }
            }
        }
    }
    for server in &input.servers {
        assert!(
            after["mcpServers"].get(&server.name).is_some(),
            "a managed server is missing"
        );
    }
    assert_eq!(
        writer.apply(&output, &input.servers).ok().as_deref(),
        Some(output.as_str()),
        "a second run changed the file"
    );
}
