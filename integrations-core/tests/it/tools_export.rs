//! Exports: MCP `tools/list`, OpenAI strict, Anthropic and Gemini, each checked against
//! its format's rules with a schema holding optional, enum and nested fields.

use integrations_core::schema::ConfigSpec;
use integrations_core::tools::export::openai::OpenAiApi;
use integrations_core::tools::export::{anthropic, gemini, inline_refs, mcp, openai};
use integrations_core::tools::{ToolAnnotations, ToolDescriptor, ToolResult};
use integrations_testkit::tool_formats::{
    accepts_null, check_anthropic_tool, check_gemini_declaration, check_mcp_tool,
    check_openai_strict_tool,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The order of results.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code, reason = "read through the schema")]
enum Order {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code, reason = "read through the schema")]
enum State {
    Open,
    Closed,
}

/// A filter.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "read through the schema")]
struct Filter {
    /// An author's login.
    author: String,
    /// A label.
    #[serde(default)]
    label: Option<String>,
}

/// A label to match.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "read through the schema")]
struct Label {
    name: String,
    #[serde(default)]
    exact: Option<bool>,
}

/// A time window.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "read through the schema")]
struct Window {
    /// From (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    from: String,
    /// Until.
    #[serde(default)]
    until: Option<String>,
}

fn default_page() -> u16 {
    1
}

/// Arguments with every shape the exports must handle.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "read through the schema")]
struct SearchArgs {
    /// What to look for.
    #[schemars(length(min = 1))]
    query: String,
    /// The order.
    #[serde(default)]
    order: Option<Order>,
    /// The state.
    state: State,
    /// How many.
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
    /// Which page.
    #[serde(default = "default_page")]
    page: u16,
    /// A filter.
    #[serde(default)]
    filter: Option<Filter>,
    /// Labels.
    #[serde(default)]
    labels: Vec<Label>,
    /// When.
    when: Window,
}

/// The result.
#[derive(Debug, Serialize, JsonSchema)]
#[allow(dead_code, reason = "read through the schema")]
struct Found {
    total: u64,
}

/// Arguments of the spec's example.
#[derive(Deserialize, JsonSchema)]
#[allow(dead_code, reason = "read through the schema")]
struct WeatherArgs {
    /// City name or zip code
    location: String,
}
/// The spec example's output.
#[derive(Serialize, JsonSchema)]
#[allow(dead_code, reason = "read through the schema")]
struct WeatherData {
    /// Temperature in celsius
    temperature: f64,
    /// Weather conditions description
    conditions: String,
    /// Humidity percentage
    humidity: f64,
}
/// No arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

const OPTIONAL: &[&str] = &["order", "limit", "page", "filter", "labels"];
const REQUIRED: &[&str] = &["query", "state", "when"];

fn descriptor() -> ToolDescriptor {
    ToolDescriptor::new::<SearchArgs>("tracker_search_tickets", "Search tickets.")
        .with_title("Search tickets")
        .with_output::<Found>()
        .with_annotations(ToolAnnotations::read_only())
}

fn no_problems(problems: &[String], what: &str, export: &Value) {
    assert!(problems.is_empty(), "{what}: {problems:#?}\n{export:#}");
}

fn compiles_and_accepts(schema: &Value, instance: &Value) {
    let compiled = ConfigSpec::from_json_schema(schema.clone())
        .compile()
        .unwrap();
    let issues = compiled.validate(instance);
    assert!(issues.is_empty(), "{issues:?}\n{schema:#}");
}

/// Every key and value of `expected` is in `actual` (objects compared key by key,
/// everything else by equality).
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| contains(av, v))),
        _ => actual == expected,
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/mcp/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn mcp_tools_list_follows_the_spec_and_the_fixtures() {
    let d = descriptor();
    let list = mcp::tools_list(std::slice::from_ref(&d));
    let tool = &list["tools"][0];
    no_problems(&check_mcp_tool(tool), "mcp", tool);
    assert_eq!(tool["name"], "tracker_search_tickets");
    assert_eq!(tool["title"], "Search tickets");
    assert_eq!(tool["inputSchema"], d.input_schema);
    assert_eq!(
        tool["outputSchema"]["properties"]["total"]["type"],
        "integer"
    );
    assert_eq!(
        tool["annotations"],
        json!({
            "title": "Search tickets",
            "readOnlyHint": true,
            "destructiveHint": false,
            "idempotentHint": true,
            "openWorldHint": true,
        })
    );

    let weather = ToolDescriptor::new::<WeatherArgs>(
        "get_weather_data",
        "Get current weather data for a location",
    )
    .with_title("Weather Data Retriever")
    .with_output::<WeatherData>();
    let expected = fixture("2026-07-28.Tool.with-output-schema-for-structured-content.json");
    let ours = mcp::tool(&weather);
    assert!(contains(&ours, &expected), "{ours:#}\n{expected:#}");
    no_problems(&check_mcp_tool(&ours), "mcp weather", &ours);

    let time = ToolDescriptor::new::<NoArgs>("get_current_time", "Returns the current server time");
    let expected = fixture("2026-07-28.Tool.with-no-parameters.json");
    assert!(contains(&mcp::tool(&time), &expected));

    // The fixtures themselves pass the checker, and a wrong tool does not.
    for name in [
        "2026-07-28.Tool.with-default-2020-12-input-schema.json",
        "2026-07-28.Tool.with-explicit-draft-07-input-schema.json",
        "2026-07-28.Tool.with-no-parameters.json",
        "2026-07-28.Tool.with-output-schema-for-structured-content.json",
    ] {
        assert!(check_mcp_tool(&fixture(name)).is_empty(), "{name}");
    }
    assert!(
        !check_mcp_tool(&json!({"name": "bad name!", "inputSchema": {"type": "string"}}))
            .is_empty()
    );
}

#[test]
fn call_results_have_the_mcp_shape_of_the_fixtures() {
    let ok = ToolResult::success(
        json!({"temperature": 22.5, "conditions": "Partly cloudy", "humidity": 65}),
    )
    .to_mcp();
    let expected = fixture("2026-07-28.CallToolResult.result-with-structured-content.json");
    assert_eq!(ok["resultType"], expected["resultType"]);
    assert_eq!(ok["structuredContent"], expected["structuredContent"]);
    assert_eq!(ok["content"][0]["type"], "text");
    let text: Value = serde_json::from_str(ok["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, expected["structuredContent"]);

    let failed = ToolResult::failure(&integrations_core::Error::invalid_input(
        "tool.invalid_arguments",
        "Invalid departure date",
        Vec::new(),
    ))
    .to_mcp();
    let expected = fixture("2026-07-28.CallToolResult.invalid-tool-input-error.json");
    for key in ["resultType", "isError"] {
        assert_eq!(failed[key], expected[key], "{key}");
    }
    assert_eq!(failed["content"][0]["type"], expected["content"][0]["type"]);
}

#[test]
fn openai_strict_closes_every_object_and_makes_optional_fields_nullable() {
    let d = descriptor();
    for api in [OpenAiApi::Responses, OpenAiApi::ChatCompletions] {
        let tool = openai::tool(&d, api).unwrap();
        no_problems(&check_openai_strict_tool(&tool), "openai", &tool);
    }
    let tool = openai::tool(&d, OpenAiApi::Responses).unwrap();
    assert_eq!(tool["name"], "tracker_search_tickets");
    assert_eq!(tool["strict"], true);
    let parameters = &tool["parameters"];
    let properties = parameters["properties"].as_object().unwrap();
    for name in OPTIONAL {
        assert!(
            accepts_null(&properties[*name]),
            "{name} must be nullable: {:#}",
            properties[*name]
        );
    }
    for name in REQUIRED {
        assert!(
            !accepts_null(&properties[*name]),
            "{name} must not be nullable"
        );
    }
    // Enums survive: documented variants become a plain enum (plus null when optional).
    let order = &properties["order"];
    assert!(
        order.to_string().contains(r#""enum":["asc","desc"]"#),
        "{order}"
    );
    assert_eq!(properties["state"]["enum"], json!(["open", "closed"]));
    assert_eq!(properties["state"]["type"], "string");
    // Nested objects are closed too, with their optional fields nullable.
    let filter = properties["filter"]["anyOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "object")
        .unwrap();
    assert_eq!(filter["additionalProperties"], false);
    assert_eq!(filter["required"], json!(["author", "label"]));
    assert!(accepts_null(&filter["properties"]["label"]));
    assert_eq!(
        properties["when"]["properties"]["from"]["format"],
        "date-time"
    );
    assert!(
        properties["limit"].get("format").is_none(),
        "uint32 is not a strict format"
    );

    // What a strict-mode model sends (every field, nulls for the optional ones) fits.
    let sent = json!({
        "query": "login", "order": null, "state": "open", "limit": null, "page": null,
        "filter": {"author": "octocat", "label": null},
        "labels": [{"name": "bug", "exact": null}],
        "when": {"from": "2026-01-01T00:00:00Z", "until": null},
    });
    compiles_and_accepts(parameters, &sent);
    compiles_and_accepts(
        &tool["parameters"],
        &json!({
            "query": "x", "order": "desc", "state": "closed", "limit": 5, "page": 2, "filter": null,
            "labels": [], "when": {"from": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"},
        }),
    );
}

#[test]
fn anthropic_tools_are_standalone_object_schemas() {
    let d = descriptor();
    let tool = anthropic::tool(&d).unwrap();
    no_problems(&check_anthropic_tool(&tool), "anthropic", &tool);
    assert_eq!(
        tool.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["description", "input_schema", "name"]
    );
    let schema = &tool["input_schema"];
    assert_eq!(schema["required"], json!(["query", "state", "when"]));
    assert_eq!(
        schema["properties"]["state"]["enum"],
        json!(["open", "closed"])
    );
    // Still the same validation as the original schema.
    compiles_and_accepts(
        schema,
        &json!({
            "query": "x", "state": "open", "when": {"from": "2026-01-01T00:00:00Z"},
            "filter": {"author": "octocat"},
        }),
    );
}

#[test]
fn gemini_declarations_use_the_openapi_subset() {
    let d = descriptor();
    let declaration = gemini::function_declaration(&d).unwrap();
    no_problems(
        &check_gemini_declaration(&declaration),
        "gemini",
        &declaration,
    );
    let parameters = &declaration["parameters"];
    assert_eq!(parameters["type"], "object");
    let text = parameters.to_string();
    for forbidden in [
        "$ref",
        "$defs",
        "$schema",
        "additionalProperties",
        "const",
        "oneOf",
        "\"null\"",
    ] {
        assert!(!text.contains(forbidden), "{forbidden} in {parameters:#}");
    }
    let properties = &parameters["properties"];
    for name in ["order", "limit", "filter"] {
        assert_eq!(
            properties[name]["nullable"], true,
            "{name}: {:#}",
            properties[name]
        );
    }
    assert_eq!(properties["order"]["type"], "string");
    assert_eq!(properties["order"]["enum"], json!(["asc", "desc"]));
    assert_eq!(properties["state"]["enum"], json!(["open", "closed"]));
    assert_eq!(properties["filter"]["type"], "object");
    assert_eq!(properties["filter"]["required"], json!(["author"]));
    assert_eq!(properties["labels"]["items"]["type"], "object");
    assert_eq!(parameters["required"], json!(["query", "state", "when"]));

    let all = gemini::tool(std::slice::from_ref(&d)).unwrap();
    assert_eq!(all["functionDeclarations"][0], declaration);

    // A tool without arguments is declared without parameters.
    let bare =
        gemini::function_declaration(&ToolDescriptor::new::<NoArgs>("tracker_get_time", "Time."))
            .unwrap();
    assert!(bare.get("parameters").is_none());
    no_problems(&check_gemini_declaration(&bare), "gemini bare", &bare);
}

#[test]
fn the_checkers_catch_what_the_formats_refuse() {
    let loose = json!({
        "type": "function", "name": "x", "strict": true,
        "parameters": {"type": "object", "properties": {"a": {"type": "string"}}, "required": []},
    });
    let problems = check_openai_strict_tool(&loose);
    assert!(
        problems.iter().any(|p| p.contains("additionalProperties")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("must be required")),
        "{problems:?}"
    );
    let raw = json!({"name": "x", "description": "d", "parameters": {
        "type": "object", "properties": {"a": {"type": ["string", "null"]}}, "additionalProperties": false}});
    let problems = check_gemini_declaration(&raw);
    assert!(
        problems.iter().any(|p| p.contains("additionalProperties")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("single type")),
        "{problems:?}"
    );
}

/// A value of any JSON type, or a map with free keys: strict mode and Gemini cannot say
/// either (OpenAI refuses a schema without a type, and strict mode closes every object),
/// so the export fails with `export.unsupported_schema` rather than produce a schema the
/// provider refuses or that only admits `{}`.
#[test]
fn free_form_values_and_maps_are_refused_where_the_format_cannot_say_them() {
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code, reason = "read through the schema")]
    struct MetaArgs {
        /// Anything.
        meta: Option<serde_json::Value>,
    }
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code, reason = "read through the schema")]
    struct BareArgs {
        meta: serde_json::Value,
        list: Vec<serde_json::Value>,
    }
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code, reason = "read through the schema")]
    struct LabelArgs {
        /// Labels.
        labels: std::collections::BTreeMap<String, String>,
    }
    let meta = ToolDescriptor::new::<MetaArgs>("tracker_put_meta", "Meta.");
    let bare = ToolDescriptor::new::<BareArgs>("tracker_put_bare", "Bare.");
    let labels = ToolDescriptor::new::<LabelArgs>("tracker_put_labels", "Labels.");
    for d in [&meta, &bare, &labels] {
        let error = openai::tool(d, OpenAiApi::Responses).unwrap_err();
        assert_eq!(error.code(), "export.unsupported_schema", "{}", d.name);
        // MCP and Anthropic take any JSON Schema.
        assert!(check_mcp_tool(&mcp::tool(d)).is_empty(), "{}", d.name);
        assert!(
            check_anthropic_tool(&anthropic::tool(d).unwrap()).is_empty(),
            "{}",
            d.name
        );
    }
    for d in [&meta, &bare] {
        let error = gemini::function_declaration(d).unwrap_err();
        assert_eq!(error.code(), "export.unsupported_schema", "{}", d.name);
    }
    // A name Gemini cannot take (it starts with a letter or `_`).
    let digit = ToolDescriptor::new::<LabelArgs>("1password_get_item", "Get.");
    let error = gemini::function_declaration(&digit).unwrap_err();
    assert_eq!(error.code(), "export.unsupported_schema");
    // The checkers see the same.
    let loose = json!({"type": "function", "name": "x", "strict": true, "parameters": {
        "type": "object", "additionalProperties": false, "required": ["a", "b"],
        "properties": {"a": true, "b": {"description": "anything"}}}});
    let problems = check_openai_strict_tool(&loose);
    assert!(
        problems.iter().any(|p| p.contains("boolean schema")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("a type")),
        "{problems:?}"
    );
    let raw = json!({"name": "x", "description": "d", "parameters": {
        "type": "object", "properties": {"a": true}}});
    let problems = check_gemini_declaration(&raw);
    assert!(
        problems.iter().any(|p| p.contains("boolean schema")),
        "{problems:?}"
    );
}

#[test]
fn recursive_schemas_cannot_be_exported() {
    /// A tree.
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code, reason = "read through the schema")]
    struct Node {
        children: Vec<Node>,
    }
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code, reason = "read through the schema")]
    struct TreeArgs {
        root: Node,
    }
    let d = ToolDescriptor::new::<TreeArgs>("tracker_put_tree", "Tree.");
    assert_eq!(
        inline_refs(&d.input_schema).unwrap_err().code(),
        "export.unsupported_schema"
    );
    assert!(openai::tool(&d, OpenAiApi::Responses).is_err());
    assert!(gemini::function_declaration(&d).is_err());
    assert!(anthropic::tool(&d).is_err());
    // MCP keeps references, so it can carry the schema as is.
    assert!(check_mcp_tool(&mcp::tool(&d)).is_empty());
}
