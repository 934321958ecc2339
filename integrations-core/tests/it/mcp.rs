//! MCP config files: realistic Codex TOML and JSON `mcpServers` files with comments and
//! the user's own servers. Everything outside the entries the plan manages is kept byte
//! for byte, and a second run changes nothing.

use integrations_core::mcp::McpConfigWriter;
use integrations_core::plan::{McpConfigFormat, McpServer};
use integrations_testkit::assert_secret_free;

const CODEX: &str = include_str!("../fixtures/mcp/codex-config.toml");
const CODEX_EXPECTED: &str = include_str!("../fixtures/mcp/codex-config.expected.toml");
const CLAUDE: &str = include_str!("../fixtures/mcp/claude.mcp.json");
const CLAUDE_EXPECTED: &str = include_str!("../fixtures/mcp/claude.mcp.expected.json");
const CURSOR: &str = include_str!("../fixtures/mcp/cursor.mcp.json");
const CURSOR_EXPECTED: &str = include_str!("../fixtures/mcp/cursor.mcp.expected.json");

/// The servers a plan manages: Linear's hosted server and a stdio GitHub server.
fn servers() -> Vec<McpServer> {
    vec![
        McpServer::stdio(
            "github",
            "github",
            "github-mcp-server",
            vec!["stdio".into(), "--read-only".into()],
        )
        .with_env("GITHUB_HOST", "https://ghe.acme.test"),
        McpServer::http("linear", "linear", "https://mcp.linear.app/mcp"),
    ]
}

/// The text between the line starting with `from` (included) and the line starting with
/// `to` (excluded), or to the end.
fn section<'a>(text: &'a str, from: &str, to: Option<&str>) -> &'a str {
    let start = text.find(from).unwrap();
    let end = to.map_or(text.len(), |t| text[start..].find(t).unwrap() + start);
    &text[start..end]
}

#[test]
fn codex_toml_keeps_everything_but_the_managed_entries() {
    let writer = McpConfigWriter::new(McpConfigFormat::Toml, ["mcp_servers"])
        .unwrap()
        .with_retired(["old-jira"]);
    let out = writer.apply(CODEX, &servers()).unwrap();
    assert_eq!(out, CODEX_EXPECTED);

    // The user's settings and servers, byte for byte: everything before the managed
    // `linear` table (its comment included), and everything after the servers.
    let user_head = section(CODEX, "# ~/.codex", Some("[mcp_servers.linear]"));
    assert!(out.starts_with(user_head));
    let user_tail = section(CODEX, "\n[profiles.fast]", None);
    assert!(out.ends_with(user_tail));
    assert!(!out.contains("old-jira"));
    assert!(out.contains("bearer_token_env_var = \"DOCS_MCP_TOKEN\"   # never inline the token"));

    // A second run changes nothing.
    assert_eq!(writer.apply(&out, &servers()).unwrap(), out);
}

#[test]
fn claude_mcp_json_keeps_everything_but_the_managed_entries() {
    let writer = McpConfigWriter::new(McpConfigFormat::Json, ["mcpServers"]).unwrap();
    let out = writer.apply(CLAUDE, &servers()).unwrap();
    assert_eq!(out, CLAUDE_EXPECTED);
    let user_head = section(CLAUDE, "{", Some("\"linear\""));
    assert!(out.starts_with(user_head));
    let playwright = section(CLAUDE, "    \"playwright\"", Some("\n  }\n}"));
    assert!(out.contains(playwright));
    assert_eq!(writer.apply(&out, &servers()).unwrap(), out);
    // The result is still the JSON Claude reads.
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed["mcpServers"]["linear"]["type"], "http");
    assert_eq!(
        parsed["mcpServers"]["sentry"]["url"],
        "https://mcp.sentry.dev/mcp"
    );
}

#[test]
fn cursor_jsonc_keeps_comments_trailing_commas_and_equal_entries() {
    let writer = McpConfigWriter::new(McpConfigFormat::Json, ["mcpServers"]).unwrap();
    let out = writer.apply(CURSOR, &servers()).unwrap();
    assert_eq!(out, CURSOR_EXPECTED);
    // The managed `linear` entry already said what the plan says: untouched, with the
    // comment above it.
    let head = section(CURSOR, "// Cursor", Some("\t},\n\t\"editor"));
    assert!(out.starts_with(head));
    assert!(out.ends_with(section(CURSOR, "\t\"editor.experimental\"", None)));
    assert_eq!(writer.apply(&out, &servers()).unwrap(), out);
}

#[test]
fn a_nested_path_is_created_and_other_projects_are_kept() {
    let text = "{\n  \"numStartups\": 12,\n  \"projects\": {\n    \"/home/me/other\": {\"mcpServers\": {}}\n  }\n}\n";
    let writer = McpConfigWriter::new(
        McpConfigFormat::Json,
        ["projects", "/home/sandbox/app", "mcpServers"],
    )
    .unwrap();
    let out = writer.apply(text, &servers()[1..]).unwrap();
    assert_eq!(
        out,
        "{\n  \"numStartups\": 12,\n  \"projects\": {\n    \"/home/me/other\": {\"mcpServers\": {}},\n    \"/home/sandbox/app\": {\n      \"mcpServers\": {\n        \"linear\": {\n          \"type\": \"http\",\n          \"url\": \"https://mcp.linear.app/mcp\"\n        }\n      }\n    }\n  }\n}\n"
    );
    assert_eq!(writer.apply(&out, &servers()[1..]).unwrap(), out);

    let toml =
        McpConfigWriter::new(McpConfigFormat::Toml, ["agents", "codex", "mcp_servers"]).unwrap();
    let out = toml.apply("model = \"m\"\n", &servers()[1..]).unwrap();
    assert_eq!(
        out,
        "model = \"m\"\n\n[agents.codex.mcp_servers.linear]\nurl = \"https://mcp.linear.app/mcp\"\n"
    );
}

#[test]
fn a_non_table_on_the_path_is_an_error() {
    let toml = McpConfigWriter::new(McpConfigFormat::Toml, ["mcp_servers"]).unwrap();
    for text in [
        "mcp_servers = \"none\"\n",
        "mcp_servers = [1]\n",
        "[[mcp_servers]]\nx = 1\n",
    ] {
        let err = toml.apply(text, &servers()).unwrap_err();
        assert_eq!(err.code(), "mcp.not_a_table", "{text}");
    }
    let deep = McpConfigWriter::new(McpConfigFormat::Toml, ["a", "b", "mcp_servers"]).unwrap();
    assert_eq!(
        deep.apply("[a]\nb = 3\n", &servers()).unwrap_err().code(),
        "mcp.not_a_table"
    );

    let json =
        McpConfigWriter::new(McpConfigFormat::Json, ["projects", "/x", "mcpServers"]).unwrap();
    for text in [
        "{\"projects\": []}",
        "{\"projects\": {\"/x\": null}}",
        "{\"projects\": {\"/x\": {\"mcpServers\": \"s\"}}}",
    ] {
        assert_eq!(
            json.apply(text, &servers()).unwrap_err().code(),
            "mcp.not_a_table",
            "{text}"
        );
    }
}

#[test]
fn an_invalid_file_is_an_error_that_quotes_nothing() {
    let secret = "sk-live-NEVER-ECHOED";
    let toml = McpConfigWriter::new(McpConfigFormat::Toml, ["mcp_servers"]).unwrap();
    let err = toml
        .apply(
            &format!("[env]\nOPENAI_API_KEY = \"{secret}\"\nbroken = \n"),
            &servers(),
        )
        .unwrap_err();
    assert_eq!(err.code(), "mcp.invalid_document");
    assert!(err.to_string().contains("line 3"), "{err}");
    assert_secret_free(&err, secret);

    let json = McpConfigWriter::new(McpConfigFormat::Json, ["mcpServers"]).unwrap();
    let err = json
        .apply(
            &format!("{{\"env\": {{\"KEY\": \"{secret}\"}}, \"mcpServers\": {{,}}}}"),
            &servers(),
        )
        .unwrap_err();
    assert_eq!(err.code(), "mcp.invalid_document");
    assert_secret_free(&err, secret);
}

#[test]
fn invalid_servers_are_refused_before_anything_is_written() {
    let json = McpConfigWriter::new(McpConfigFormat::Json, ["mcpServers"]).unwrap();
    let twice = [servers()[1].clone(), servers()[1].clone()];
    assert_eq!(
        json.apply("{}", &twice).unwrap_err().code(),
        "mcp.invalid_server"
    );
    let no_command = [McpServer::stdio("x", "x", "", Vec::new())];
    assert_eq!(
        json.apply("{}", &no_command).unwrap_err().code(),
        "mcp.invalid_server"
    );
}
