//! Registry: every rejection, ordering and the catalog.

use integrations_core::definition::{ConnectionMethod, Metadata, OAuth2Spec, SecretField};
use integrations_core::model::CredentialType;
use integrations_core::schema::{ConfigKind, ConfigSpec, FormContext};
use integrations_core::tools::ToolDescriptor;
use integrations_core::{ErrorKind, Registry};
use serde_json::json;

use crate::support::{CreateTicket, TestIntegration};

fn issue_codes(err: &integrations_core::Error) -> Vec<String> {
    err.issues().iter().map(|i| i.code.clone()).collect()
}

#[test]
fn registers_and_looks_up() {
    let mut registry = Registry::new();
    registry
        .register(TestIntegration::new("tracker::cloud").arc())
        .unwrap();
    let entry = registry
        .require(&"tracker::cloud".parse().unwrap())
        .unwrap();
    assert_eq!(entry.metadata().name, "Tracker");
    assert_eq!(entry.methods().len(), 1);
    let (found, tool) = registry.find_tool("tracker_create_ticket").unwrap();
    assert_eq!(found.key().as_str(), "tracker::cloud");
    assert_eq!(tool.name, "tracker_create_ticket");
    let missing = registry
        .require(&"tracker::server".parse().unwrap())
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    assert_eq!(missing.code(), "registry.unknown_definition");
}

#[test]
fn rejects_a_duplicate_key() {
    let mut registry = Registry::new();
    registry
        .register(TestIntegration::new("tracker::cloud").arc())
        .unwrap();
    let mut again = TestIntegration::new("tracker::cloud");
    again.tools.clear();
    let err = registry.register(again.arc()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.code(), "registry.duplicate_key");
    assert_eq!(registry.len(), 1);
}

#[test]
fn rejects_blank_metadata() {
    for (field, metadata) in [
        ("registry.blank_name", Metadata::new(" ", "d", "l", "c")),
        (
            "registry.blank_description",
            Metadata::new("n", "", "l", "c"),
        ),
        (
            "registry.blank_logo_key",
            Metadata::new("n", "d", "\t", "c"),
        ),
        ("registry.blank_category", Metadata::new("n", "d", "l", "")),
    ] {
        let mut integration = TestIntegration::new("tracker::cloud");
        integration.metadata = metadata;
        let err = Registry::new().register(integration.arc()).unwrap_err();
        assert_eq!(err.code(), "registry.invalid_definition");
        assert_eq!(issue_codes(&err), [field]);
    }
}

#[test]
fn rejects_missing_or_inconsistent_connection_methods() {
    let mut none = TestIntegration::new("tracker::cloud");
    none.methods.clear();
    let err = Registry::new().register(none.arc()).unwrap_err();
    assert_eq!(issue_codes(&err), ["registry.no_connection_methods"]);

    let mut twice = TestIntegration::new("tracker::cloud");
    twice.methods.push(twice.methods[0].clone());
    let err = Registry::new().register(twice.arc()).unwrap_err();
    assert_eq!(issue_codes(&err), ["registry.duplicate_method"]);

    let mut no_oauth = TestIntegration::new("tracker::cloud");
    let mut method = ConnectionMethod::oauth2_authorization_code(
        "oauth2",
        "Sign in",
        OAuth2Spec::new(
            "https://t.example.com/authorize",
            "https://t.example.com/token",
        ),
    )
    .unwrap();
    method.oauth2 = None;
    no_oauth.methods.push(method);
    let err = Registry::new().register(no_oauth.arc()).unwrap_err();
    assert_eq!(issue_codes(&err), ["registry.missing_oauth2"]);

    let mut no_fields = TestIntegration::new("tracker::cloud");
    no_fields.methods = vec![ConnectionMethod::api_key("api-key", "Key", Vec::new()).unwrap()];
    let err = Registry::new().register(no_fields.arc()).unwrap_err();
    assert_eq!(issue_codes(&err), ["registry.missing_secret_fields"]);
}

#[test]
fn rejects_two_secret_fields_stored_as_one_credential_type_and_slot() {
    let field = |name: &str| SecretField::new(name, "Key", CredentialType::API_KEY);
    let register = |fields: Vec<SecretField>| {
        let mut integration = TestIntegration::new("tracker::cloud");
        integration.methods = vec![ConnectionMethod::api_key("api-key", "Keys", fields).unwrap()];
        Registry::new().register(integration.arc())
    };
    // Two names, one credential: every connection would hold two `api_key` credentials
    // sealed under the same associated data, and no lookup could tell them apart.
    let err = register(vec![field("primary"), field("secondary")]).unwrap_err();
    assert_eq!(err.code(), "registry.invalid_definition");
    assert_eq!(issue_codes(&err), ["registry.duplicate_credential_slot"]);
    assert_eq!(
        err.issues()[0].path,
        "/connection_methods/0/secret_fields/1"
    );
    let err = register(vec![
        field("primary").with_slot("bot"),
        field("secondary").with_slot("bot"),
    ])
    .unwrap_err();
    assert_eq!(issue_codes(&err), ["registry.duplicate_credential_slot"]);
    for bad in ["", " ", "b\0t", "b\u{200B}ot", &"s".repeat(65)] {
        let err = register(vec![field("primary").with_slot(bad)]).unwrap_err();
        assert_eq!(
            issue_codes(&err),
            ["registry.invalid_secret_slot"],
            "{bad:?}"
        );
        assert_eq!(
            err.issues()[0].path,
            "/connection_methods/0/secret_fields/0/slot"
        );
    }
    // A slot of its own, or another type, is a place of its own.
    register(vec![
        field("primary").with_slot("bot"),
        field("secondary").with_slot("user"),
    ])
    .unwrap();
    register(vec![
        field("primary"),
        SecretField::new("webhook", "Webhook secret", CredentialType::WEBHOOK_SECRET),
    ])
    .unwrap();
}

#[test]
fn rejects_schemas_that_do_not_compile_and_examples_that_do_not_validate() {
    let mut broken = TestIntegration::new("tracker::cloud");
    broken.target_config = ConfigSpec::from_json_schema(json!({"type": "objekt"}));
    let err = Registry::new().register(broken.arc()).unwrap_err();
    assert_eq!(issue_codes(&err), ["registry.schema_does_not_compile"]);
    assert_eq!(err.issues()[0].path, "/target_config");

    let mut remote = TestIntegration::new("tracker::cloud");
    remote.target_config =
        ConfigSpec::from_json_schema(json!({"$ref": "https://evil.example/schema.json"}));
    let err = Registry::new().register(remote.arc()).unwrap_err();
    assert_eq!(issue_codes(&err), ["registry.schema_does_not_compile"]);

    let mut bad_example = TestIntegration::new("tracker::cloud");
    bad_example.target_config = bad_example
        .target_config
        .clone()
        .with_example(json!({"site_url": 3}));
    let err = Registry::new().register(bad_example.arc()).unwrap_err();
    assert_eq!(issue_codes(&err), ["registry.invalid_example"]);
    assert_eq!(err.issues()[0].path, "/target_config/examples/1");
}

#[test]
fn rejects_invalid_tool_names() {
    for bad in [
        "jira_create_ticket",
        "tracker-create-ticket",
        "tracker_ticket",
        "Tracker_create_ticket",
    ] {
        let mut integration = TestIntegration::new("tracker::cloud");
        integration.tools = vec![ToolDescriptor::new::<CreateTicket>(bad, "x")];
        let err = Registry::new().register(integration.arc()).unwrap_err();
        assert_eq!(issue_codes(&err), ["tool.invalid_name"], "{bad}");
    }
}

#[test]
fn rejects_tool_names_that_collide_after_sanitizing() {
    // `my-crm::a` and `my-crm::b` share a family, and their tools share a namespace: the
    // same name with a different descriptor collides.
    let mut registry = Registry::new();
    registry
        .register(TestIntegration::new("my-crm::a").arc())
        .unwrap();
    let mut other = TestIntegration::new("my-crm::b");
    other.tools[0].description = "Create a ticket, differently.".into();
    let err = registry.register(other.arc()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.code(), "registry.tool_name_collision");
    assert_eq!(registry.len(), 1);
    assert_eq!(
        registry
            .find_tool("my_crm_create_ticket")
            .unwrap()
            .0
            .key()
            .as_str(),
        "my-crm::a"
    );

    // Two families whose tool names meet after sanitizing collide even when identical:
    // `a-b` writes `a_b_...`, and `a` may write `a_b_...` too.
    let mut registry = Registry::new();
    let mut first = TestIntegration::new("a::x");
    first.tools = vec![ToolDescriptor::new::<CreateTicket>(
        "a_b_create_ticket",
        "Create.",
    )];
    registry.register(first.arc()).unwrap();
    let mut second = TestIntegration::new("a-b::x");
    second.tools = vec![ToolDescriptor::new::<CreateTicket>(
        "a_b_create_ticket",
        "Create.",
    )];
    assert_eq!(
        registry.register(second.arc()).unwrap_err().code(),
        "registry.tool_name_collision"
    );

    let mut twice = TestIntegration::new("tracker::cloud");
    twice.tools.push(twice.tools[0].clone());
    let err = Registry::new().register(twice.arc()).unwrap_err();
    assert_eq!(err.code(), "registry.tool_name_collision");
}

#[test]
fn variants_of_one_family_share_identical_tools() {
    // GitHub cloud and GitHub Enterprise Server offer the same tools: one tool, two
    // deployments; the connection decides which one a call reaches.
    let mut registry = Registry::new();
    registry
        .register(TestIntegration::new("my-crm::cloud").arc())
        .unwrap();
    registry
        .register(TestIntegration::new("my-crm::server").arc())
        .unwrap();
    let owners: Vec<&str> = registry
        .tool_owners("my_crm_create_ticket")
        .map(integrations_core::DefinitionKey::as_str)
        .collect();
    assert_eq!(owners, ["my-crm::cloud", "my-crm::server"]);
    let server = registry.get(&"my-crm::server".parse().unwrap()).unwrap();
    let tool = server.tool("my_crm_create_ticket").unwrap();
    assert_eq!(tool.descriptor.name, "my_crm_create_ticket");
    assert!(tool.input.validate(&json!({"title": "x"})).is_empty());
    assert!(!tool.input.validate(&json!({})).is_empty());
}

#[test]
fn rejects_the_reserved_continuation_tool_name() {
    let mut integration = TestIntegration::new("integrations::x");
    integration.tools = vec![ToolDescriptor::new::<CreateTicket>(
        integrations_core::tools::CONTINUE_TOOL_NAME,
        "x",
    )];
    let err = Registry::new().register(integration.arc()).unwrap_err();
    assert_eq!(issue_codes(&err), ["registry.reserved_tool_name"]);
}

#[test]
fn rejects_output_schemas_that_do_not_compile() {
    let mut integration = TestIntegration::new("tracker::cloud");
    integration.tools[0].output_schema = Some(json!({"type": "no-such-type"}));
    let err = Registry::new().register(integration.arc()).unwrap_err();
    assert_eq!(issue_codes(&err), ["registry.schema_does_not_compile"]);
    assert_eq!(err.issues()[0].path, "/tools/0/output_schema");
}

#[test]
fn lists_in_bytewise_key_order_and_builds_a_catalog() {
    let mut registry = Registry::new();
    for key in ["zeta::a", "alpha-x::b", "alpha::b", "alpha::a"] {
        let mut integration = TestIntegration::new(key);
        integration.tools.clear();
        registry.register(integration.arc()).unwrap();
    }
    let keys: Vec<&str> = registry
        .keys()
        .map(integrations_core::DefinitionKey::as_str)
        .collect();
    assert_eq!(keys, ["alpha-x::b", "alpha::a", "alpha::b", "zeta::a"]);
    let catalog = serde_json::to_value(registry.catalog()).unwrap();
    assert_eq!(catalog["integrations"][1]["key"], "alpha::a");
    assert_eq!(catalog["integrations"][1]["family"], "alpha");
    assert_eq!(catalog["integrations"][1]["kind"], "connector");
    assert_eq!(
        catalog["integrations"][1]["connection_methods"][0]["id"],
        "api-key"
    );
    assert_eq!(
        catalog["integrations"][1]["connection_methods"][0]["kind"],
        "api_key"
    );
}

#[test]
fn schemas_and_forms_by_config_kind() {
    let mut registry = Registry::new();
    registry
        .register(TestIntegration::new("tracker::cloud").arc())
        .unwrap();
    let entry = registry
        .require(&"tracker::cloud".parse().unwrap())
        .unwrap();
    let secrets = entry
        .schema(&"target-secrets".parse::<ConfigKind>().unwrap())
        .unwrap();
    assert_eq!(
        secrets.json_schema()["properties"]["webhook_secret"]["writeOnly"],
        true
    );
    let method = entry
        .schema(&"connection:api-key".parse().unwrap())
        .unwrap();
    assert!(method.parse(&json!({})).is_ok());
    let err = entry
        .schema(&"connection:oauth2".parse().unwrap())
        .unwrap_err();
    assert_eq!(err.code(), "registry.unknown_method");
    let form = entry
        .form(&ConfigKind::TargetSecrets, &FormContext::new())
        .unwrap();
    assert_eq!(
        form.fields["/webhook_secret"].widget,
        Some(integrations_core::schema::Widget::Password)
    );
}
