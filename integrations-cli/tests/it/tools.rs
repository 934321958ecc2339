//! `tools`.

use crate::support::{run, stderr};

fn export(args: &[&str]) -> serde_json::Value {
    let out = run(args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_format_exports_the_shipped_tools() {
    let mcp = export(&["tools", "--format", "mcp"]);
    let names: Vec<&str> = mcp["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for name in [
        "linear_create_issue",
        "github_create_issue",
        "slack_send_message",
        "openai_list_models",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert_eq!(
        names
            .iter()
            .filter(|n| **n == "github_create_issue")
            .count(),
        1,
        "variants share one listing"
    );
    assert_eq!(mcp["tools"][0]["inputSchema"]["type"], "object");

    let openai = export(&["tools", "linear::linear-default", "--format", "openai"]);
    for tool in openai.as_array().unwrap() {
        assert!(tool["name"].as_str().unwrap().starts_with("linear_"));
        assert_eq!(tool["strict"], true);
        assert_eq!(tool["parameters"]["additionalProperties"], false);
    }
    let anthropic = export(&["tools", "slack::slack-default", "--format", "anthropic"]);
    assert!(anthropic[0]["input_schema"].is_object());
    let gemini = export(&["tools", "github::github-cloud", "--format", "gemini"]);
    let declarations = gemini["functionDeclarations"].as_array().unwrap();
    assert!(
        declarations
            .iter()
            .all(|d| d["parameters"]["type"] == "object"
                && d["parameters"].get("additionalProperties").is_none())
    );
}

#[test]
fn bad_keys_and_formats_are_refused() {
    let out = run(&["tools", "jira::cloud", "--format", "mcp"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("registry.unknown_definition "));
    let out = run(&["tools", "Not A Key", "--format", "mcp"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown key is a usage error"
    );
    assert!(stderr(&out).starts_with("key.invalid "));
    let out = run(&["tools", "--format", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
}
