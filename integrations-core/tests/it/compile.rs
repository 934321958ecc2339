//! The compiler: every per-binding check and every conflict rule has a test asserting
//! its stable code, with a fixture definition whose binding config carries the plan
//! fragments it compiles to.

use std::sync::Arc;

use integrations_core::compile::{ProfileBinding, ProfileInput, codes, compile};
use integrations_core::definition::{
    BindingContext, CompileInput, ConnectionMethod, IntegrationDefinition, Metadata, SecretField,
};
use integrations_core::model::{
    Connection, ConnectionStatus, CredentialType, ProfileVersion, Target,
};
use integrations_core::plan::{
    BindingPlan, CompiledRuntimePlan, McpConfigFormat, McpConfigTarget, McpServer,
};
use integrations_core::provider::IntegrationProvider;
use integrations_core::schema::ConfigSpec;
use integrations_core::{
    BindingId, ConnectionId, ConnectionMethodId, DefinitionKey, IntegrationKind, ProfileId,
    Registry, TargetId, TenantId, Timestamp, ValidationIssue,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A definition that compiles to whatever its binding config says: `{"plan": <BindingPlan>,
/// "mcp": [<McpServer>], "reject": true}`.
struct Fixture {
    key: &'static str,
    kind: IntegrationKind,
    mcp_target: Option<McpConfigTarget>,
}

impl IntegrationDefinition for Fixture {
    fn key(&self) -> DefinitionKey {
        self.key.parse().unwrap()
    }
    fn kind(&self) -> IntegrationKind {
        self.kind
    }
    fn metadata(&self) -> Metadata {
        Metadata::new(
            "Fixture",
            "Compiles to its binding config.",
            "fixture",
            "testing",
        )
    }
    fn binding_config(&self) -> ConfigSpec {
        ConfigSpec::from_json_schema(json!({
            "type": "object",
            "properties": {
                "plan": {"type": "object"},
                "mcp": {"type": "array"},
                "reject": {"type": "boolean"}
            },
            "additionalProperties": false
        }))
        .with_example(json!({}))
    }
    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        vec![
            ConnectionMethod::api_key(
                "api-key",
                "API key",
                vec![SecretField::new(
                    "api_key",
                    "API key",
                    CredentialType::API_KEY,
                )],
            )
            .unwrap(),
        ]
    }
    fn validate_binding(&self, context: &BindingContext<'_>) -> Vec<ValidationIssue> {
        let config = context.binding_config.get::<Value>().unwrap();
        if config.get("reject") == Some(&Value::Bool(true)) {
            vec![ValidationIssue::new(
                "fixture.rejected",
                "/reject",
                "the fixture rejects this binding",
            )]
        } else {
            Vec::new()
        }
    }
    fn compile_binding(
        &self,
        input: &CompileInput<'_>,
    ) -> Result<BindingPlan, Vec<ValidationIssue>> {
        let config = input.binding_config().get::<Value>().unwrap();
        Ok(config
            .get("plan")
            .map(|p| serde_json::from_value(p.clone()).unwrap())
            .unwrap_or_default())
    }
    fn mcp_servers(&self, input: &CompileInput<'_>) -> Vec<McpServer> {
        let config = input.binding_config().get::<Value>().unwrap();
        config
            .get("mcp")
            .map(|m| serde_json::from_value(m.clone()).unwrap())
            .unwrap_or_default()
    }
    fn mcp_config_target(&self) -> Option<McpConfigTarget> {
        self.mcp_target.clone()
    }
}

impl IntegrationProvider for Fixture {}

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry
        .register(Arc::new(Fixture {
            key: "fixture::tool",
            kind: IntegrationKind::Connector,
            mcp_target: None,
        }))
        .unwrap();
    registry
        .register(Arc::new(Fixture {
            key: "fixture::agent",
            kind: IntegrationKind::Agent,
            mcp_target: Some(McpConfigTarget::new(
                "agent",
                "agent-config",
                McpConfigFormat::Toml,
                vec!["mcp_servers".to_owned()],
            )),
        }))
        .unwrap();
    registry
}

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

/// A binding of `key` with its own target and connection, named after it.
fn binding(id: &str, key: &str, config: Value) -> ProfileBinding {
    let now = Timestamp::from_unix_seconds(1_700_000_000);
    let key: DefinitionKey = key.parse().unwrap();
    let target = Target::new(
        tenant(),
        TargetId::new(format!("t-{id}")).unwrap(),
        key.clone(),
        now,
    );
    let connection = Connection::new(
        tenant(),
        ConnectionId::new(format!("c-{id}")).unwrap(),
        target.id.clone(),
        key.clone(),
        ConnectionMethodId::new("api-key").unwrap(),
        now,
    );
    let kind = if key.variant() == "agent" {
        IntegrationKind::Agent
    } else {
        IntegrationKind::Connector
    };
    ProfileBinding::new(BindingId::new(id).unwrap(), kind, connection, target).with_config(config)
}

fn tool(id: &str, plan: Value) -> ProfileBinding {
    let mut config = json!({});
    config["plan"] = plan;
    binding(id, "fixture::tool", config)
}

fn profile(bindings: Vec<ProfileBinding>) -> ProfileInput {
    let mut input = ProfileInput::new(
        tenant(),
        ProfileVersion::new(ProfileId::new("sandbox").unwrap(), 1),
    );
    for b in bindings {
        input = input.with_binding(b);
    }
    input
}

fn ok(bindings: Vec<ProfileBinding>) -> CompiledRuntimePlan {
    match compile(&registry(), &profile(bindings)) {
        Ok(plan) => plan,
        Err(e) => panic!("{e}: {:#?}", e.issues()),
    }
}

/// Every issue as (code, path).
fn issues(bindings: Vec<ProfileBinding>) -> Vec<(String, String)> {
    let err = compile(&registry(), &profile(bindings)).unwrap_err();
    assert_eq!(err.code(), "compile.invalid");
    err.issues()
        .iter()
        .map(|i| (i.code.clone(), i.path.clone()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(c, p)| ((*c).to_owned(), (*p).to_owned()))
        .collect()
}

fn route(host: &str, prefix: &str, methods: &[&str]) -> Value {
    json!({
        "matcher": {"hosts": [host], "path_prefixes": [prefix], "methods": methods},
        "upstream": format!("https://{host}"),
        "injection": {"type": "bearer"},
        "credential": {"credential_type": "api_key", "slot": null, "resolver": null, "parameters": {}},
        "headers": {}
    })
}

fn plan_with(field: &str, items: Value) -> Value {
    let mut plan = json!({"egress_routes": [], "artifacts": [], "runtime_clients": [], "workspace_sources": []});
    plan[field] = items;
    plan
}

fn client(id: &str, extra: Value) -> Value {
    let mut client = json!({"id": id, "env": {}, "files": [], "launch_args": [], "processes": [], "endpoints": []});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            client[k] = v;
        }
    }
    client
}

fn file(id: &str, path: &str, content: &str) -> Value {
    json!({"id": id, "path": path, "mode": 384, "content": content, "write_mode": "overwrite"})
}

fn artifact(key: &str, binary: &str, env: Value) -> Value {
    let mut artifact = json!({"key": key, "name": key, "install": [{"type": "exec", "args": ["install", binary]}]});
    artifact["env"] = env;
    artifact
}

// ---- Per-binding checks: the codes of prepare_binding, under /bindings/<id> ----

#[test]
fn connection_mismatch() {
    let mut b = tool("b1", plan_with("egress_routes", json!([])));
    b.connection.target = TargetId::new("another-target").unwrap();
    assert_eq!(
        issues(vec![b]),
        pairs(&[("binding.connection_mismatch", "/bindings/b1/connection")])
    );
}

#[test]
fn target_disabled() {
    let mut b = tool("b1", plan_with("egress_routes", json!([])));
    b.target.enabled = false;
    assert_eq!(
        issues(vec![b]),
        pairs(&[("binding.target_disabled", "/bindings/b1/connection")])
    );
}

#[test]
fn connection_not_active() {
    let mut b = tool("b1", plan_with("egress_routes", json!([])));
    b.connection.status = ConnectionStatus::Revoked {
        reason: "revoked by the user".into(),
    };
    assert_eq!(
        issues(vec![b]),
        pairs(&[("binding.connection_not_active", "/bindings/b1/connection")])
    );
}

#[test]
fn kind_mismatch() {
    let mut b = tool("b1", plan_with("egress_routes", json!([])));
    b.kind = IntegrationKind::Git;
    assert_eq!(
        issues(vec![b]),
        pairs(&[("binding.kind_mismatch", "/bindings/b1/kind")])
    );
}

#[test]
fn unknown_definition() {
    let b = binding("b1", "fixture::missing", json!({}));
    assert_eq!(
        issues(vec![b]),
        pairs(&[("binding.unknown_definition", "/bindings/b1/connection")])
    );
}

#[test]
fn binding_config_is_parsed_with_the_schema() {
    let b = binding("b1", "fixture::tool", json!({"plan": 5, "extra": true}));
    assert_eq!(
        issues(vec![b]),
        pairs(&[
            ("schema.additional_properties", "/bindings/b1/config/extra"),
            ("schema.type", "/bindings/b1/config/plan"),
        ])
    );
}

#[test]
fn the_definitions_own_validation_runs_as_at_write_time() {
    let b = binding("b1", "fixture::tool", json!({"reject": true}));
    assert_eq!(
        issues(vec![b]),
        pairs(&[("fixture.rejected", "/bindings/b1/config/reject")])
    );
}

#[test]
fn records_of_another_tenant() {
    let mut b = tool("b1", plan_with("egress_routes", json!([])));
    b.connection.tenant = TenantId::new("other").unwrap();
    b.target.tenant = TenantId::new("other").unwrap();
    assert_eq!(
        issues(vec![b]),
        pairs(&[(codes::TENANT_MISMATCH, "/bindings/b1/connection")])
    );
}

#[test]
fn duplicate_binding_ids() {
    let a = tool("b1", plan_with("egress_routes", json!([])));
    let b = tool("b1", plan_with("egress_routes", json!([])));
    assert_eq!(
        issues(vec![a, b]),
        pairs(&[(codes::DUPLICATE_BINDING, "/bindings/b1")])
    );
}

#[test]
fn every_issue_is_collected_not_just_the_first() {
    let mut broken = tool("a", plan_with("egress_routes", json!([])));
    broken.target.enabled = false;
    broken.connection.status = ConnectionStatus::Error {
        reason: "refresh failed".into(),
    };
    let one = tool(
        "b",
        plan_with("egress_routes", json!([route("x.test", "/v1", &[])])),
    );
    let two = tool(
        "c",
        plan_with("egress_routes", json!([route("x.test", "/v1/files", &[])])),
    );
    let reserved = tool(
        "d",
        plan_with(
            "artifacts",
            json!([artifact("tool", "t", json!({"HTTPS_PROXY": "x"}))]),
        ),
    );
    assert_eq!(
        issues(vec![reserved, two, broken, one]),
        pairs(&[
            ("binding.connection_not_active", "/bindings/a/connection"),
            ("binding.target_disabled", "/bindings/a/connection"),
            (codes::ROUTE_CONFLICT, "/bindings/c/egress_routes/0"),
            (
                codes::RESERVED_ENV,
                "/bindings/d/artifacts/0/env/HTTPS_PROXY"
            ),
        ])
    );
}

// ---- Routes ----

#[test]
fn route_ids_are_stable_and_carry_binding_connection_and_definition() {
    let plan = ok(vec![tool(
        "gh",
        plan_with(
            "egress_routes",
            json!([
                route("api.test", "/", &[]),
                route("git.test", "/a.git", &["get"]),
                route("uploads.test", "/", &[])
            ]),
        ),
    )]);
    let ids: Vec<&str> = plan.egress_routes.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        ["egress_rule_gh", "egress_rule_gh_2", "egress_rule_gh_3"]
    );
    let git = &plan.egress_routes[1];
    assert_eq!(git.binding.as_str(), "gh");
    assert_eq!(git.connection.as_str(), "c-gh");
    assert_eq!(git.definition.as_str(), "fixture::tool");
    assert_eq!(git.matcher.methods, ["GET"]);
}

#[test]
fn overlapping_routes_conflict_through_the_canonical_matcher() {
    let got = issues(vec![
        tool(
            "a",
            plan_with("egress_routes", json!([route("API.x.test", "/v1", &[])])),
        ),
        tool(
            "b",
            plan_with(
                "egress_routes",
                json!([route("api.x.test:443", "/v1/files", &["GET"])]),
            ),
        ),
        // Not conflicts: a sibling prefix, another host, a disjoint method set.
        tool(
            "c",
            plan_with("egress_routes", json!([route("api.x.test", "/v10", &[])])),
        ),
        tool(
            "d",
            plan_with("egress_routes", json!([route("other.test", "/v1", &[])])),
        ),
        tool(
            "e",
            plan_with(
                "egress_routes",
                json!([route("api.x.test", "/v2", &["GET"])]),
            ),
        ),
        tool(
            "f",
            plan_with(
                "egress_routes",
                json!([route("api.x.test", "/v2", &["POST"])]),
            ),
        ),
    ]);
    assert_eq!(
        got,
        pairs(&[(codes::ROUTE_CONFLICT, "/bindings/b/egress_routes/0")])
    );
}

#[test]
fn a_root_route_conflicts_with_every_route_on_its_host() {
    let got = issues(vec![
        tool(
            "a",
            plan_with("egress_routes", json!([route("x.test", "/", &[])])),
        ),
        tool(
            "b",
            plan_with("egress_routes", json!([route("x.test", "/v1", &[])])),
        ),
        tool(
            "c",
            plan_with("egress_routes", json!([route("x.test", "/v2", &[])])),
        ),
    ]);
    assert_eq!(
        got,
        pairs(&[
            (codes::ROUTE_CONFLICT, "/bindings/b/egress_routes/0"),
            (codes::ROUTE_CONFLICT, "/bindings/c/egress_routes/0"),
        ])
    );
}

#[test]
fn route_ids_that_collide() {
    let got = issues(vec![
        tool(
            "a",
            plan_with(
                "egress_routes",
                json!([route("one.test", "/", &[]), route("two.test", "/", &[])]),
            ),
        ),
        tool(
            "a_2",
            plan_with("egress_routes", json!([route("three.test", "/", &[])])),
        ),
    ]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, codes::ROUTE_ID_CONFLICT);
}

#[test]
fn invalid_routes() {
    let mut no_host = route("x.test", "/", &[]);
    no_host["matcher"]["hosts"] = json!([]);
    let mut bad_upstream = route("y.test", "/", &[]);
    bad_upstream["upstream"] = json!("y.test/api");
    let mut credential_header = route("z.test", "/", &[]);
    credential_header["headers"] = json!({"Authorization": "Bearer x"});
    let got = issues(vec![tool(
        "a",
        plan_with(
            "egress_routes",
            json!([
                route("x.test", "", &[]),
                no_host,
                bad_upstream,
                credential_header
            ]),
        ),
    )]);
    assert_eq!(
        got,
        pairs(&[
            (codes::INVALID_ROUTE, "/bindings/a/egress_routes/0/matcher"),
            (codes::INVALID_ROUTE, "/bindings/a/egress_routes/1/matcher"),
            (codes::INVALID_ROUTE, "/bindings/a/egress_routes/2/upstream"),
            (
                codes::INVALID_ROUTE,
                "/bindings/a/egress_routes/3/headers/Authorization"
            ),
        ])
    );
}

// ---- Env, files, artifacts, processes, sources ----

#[test]
fn env_keys_conflict_within_a_runtime_client() {
    let got = issues(vec![
        tool(
            "a",
            plan_with(
                "runtime_clients",
                json!([client("agent", json!({"env": {"MODE": "fast"}}))]),
            ),
        ),
        tool(
            "b",
            plan_with(
                "runtime_clients",
                json!([client("agent", json!({"env": {"MODE": "slow"}}))]),
            ),
        ),
        // The same key in another client, and the same value, are fine.
        tool(
            "c",
            plan_with(
                "runtime_clients",
                json!([client("other", json!({"env": {"MODE": "slow"}}))]),
            ),
        ),
        tool(
            "d",
            plan_with(
                "runtime_clients",
                json!([client("agent", json!({"env": {"MODE": "fast"}}))]),
            ),
        ),
    ]);
    assert_eq!(
        got,
        pairs(&[(
            codes::ENV_CONFLICT,
            "/bindings/b/runtime_clients/0/env/MODE"
        )])
    );
}

#[test]
fn reserved_proxy_env_keys_in_any_case() {
    let got = issues(vec![
        tool(
            "a",
            plan_with(
                "artifacts",
                json!([artifact("tool", "t", json!({"https_proxy": "x"}))]),
            ),
        ),
        tool(
            "b",
            plan_with(
                "runtime_clients",
                json!([client("agent", json!({"env": {"No_Proxy": "*"}}))]),
            ),
        ),
        tool(
            "c",
            plan_with(
                "runtime_clients",
                json!([client("agent", json!({"env": {"A=B": "1"}}))]),
            ),
        ),
    ]);
    assert_eq!(
        got,
        pairs(&[
            (
                codes::RESERVED_ENV,
                "/bindings/a/artifacts/0/env/https_proxy"
            ),
            (
                codes::RESERVED_ENV,
                "/bindings/b/runtime_clients/0/env/No_Proxy"
            ),
            (codes::INVALID_ENV, "/bindings/c/runtime_clients/0/env/A=B"),
        ])
    );
}

#[test]
fn file_path_and_file_id_conflicts() {
    let got = issues(vec![
        // One path, two ids.
        tool(
            "a",
            plan_with(
                "runtime_clients",
                json!([client(
                    "agent",
                    json!({"files": [file("one", "/etc/a.toml", "x"), file("two", "/etc/a.toml", "x")]})
                )]),
            ),
        ),
        // One id, another content.
        tool(
            "b",
            plan_with(
                "runtime_clients",
                json!([client(
                    "agent",
                    json!({"files": [file("one", "/etc/a.toml", "y")]})
                )]),
            ),
        ),
        // One id, another path.
        tool(
            "c",
            plan_with(
                "runtime_clients",
                json!([client(
                    "agent",
                    json!({"files": [file("one", "/etc/b.toml", "x")]})
                )]),
            ),
        ),
        // One path written by another client.
        tool(
            "d",
            plan_with(
                "runtime_clients",
                json!([client(
                    "other",
                    json!({"files": [file("one", "/etc/a.toml", "x")]})
                )]),
            ),
        ),
        // A relative path.
        tool(
            "e",
            plan_with(
                "runtime_clients",
                json!([client(
                    "agent",
                    json!({"files": [file("rel", "etc/c.toml", "x")]})
                )]),
            ),
        ),
    ]);
    assert_eq!(
        got,
        pairs(&[
            (
                codes::FILE_CONFLICT,
                "/bindings/a/runtime_clients/0/files/1"
            ),
            (
                codes::FILE_CONFLICT,
                "/bindings/b/runtime_clients/0/files/0"
            ),
            (
                codes::FILE_CONFLICT,
                "/bindings/c/runtime_clients/0/files/0"
            ),
            (
                codes::FILE_CONFLICT,
                "/bindings/d/runtime_clients/0/files/0"
            ),
            (
                codes::INVALID_RUNTIME,
                "/bindings/e/runtime_clients/0/files/0"
            ),
        ])
    );
}

#[test]
fn artifacts_are_equal_and_installed_once_or_in_conflict() {
    let plan = ok(vec![
        tool(
            "a",
            plan_with(
                "artifacts",
                json!([artifact("gh", "gh", json!({"GH_TOKEN": "dummy"}))]),
            ),
        ),
        tool(
            "b",
            plan_with(
                "artifacts",
                json!([artifact("gh", "gh", json!({"GH_TOKEN": "dummy"}))]),
            ),
        ),
        tool(
            "c",
            plan_with(
                "artifacts",
                json!([artifact("gh", "gh", json!({"GH_HOST": "ghe.test"}))]),
            ),
        ),
    ]);
    assert_eq!(plan.artifacts.len(), 1);
    assert_eq!(
        plan.artifacts[0].env.keys().collect::<Vec<_>>(),
        ["GH_HOST", "GH_TOKEN"]
    );

    let got = issues(vec![
        tool(
            "a",
            plan_with("artifacts", json!([artifact("gh", "gh", json!({}))])),
        ),
        tool(
            "b",
            plan_with("artifacts", json!([artifact("gh", "gh-2", json!({}))])),
        ),
        tool(
            "c",
            plan_with(
                "artifacts",
                json!([artifact("gh", "gh", json!({"GH_TOKEN": "one"}))]),
            ),
        ),
        tool(
            "d",
            plan_with(
                "artifacts",
                json!([artifact("gh", "gh", json!({"GH_TOKEN": "two"}))]),
            ),
        ),
        tool(
            "e",
            plan_with(
                "artifacts",
                json!([{"key": "empty", "name": "e", "env": {}, "install": []}]),
            ),
        ),
    ]);
    assert_eq!(
        got,
        pairs(&[
            (codes::ARTIFACT_CONFLICT, "/bindings/b/artifacts/0"),
            (codes::ENV_CONFLICT, "/bindings/d/artifacts/0/env/GH_TOKEN"),
            (codes::INVALID_ARTIFACT, "/bindings/e/artifacts/0"),
        ])
    );
}

#[test]
fn processes_and_endpoints_conflict_or_refer_to_nothing() {
    let process =
        |cmd: &str| json!({"key": "server", "command": [cmd], "readiness": {"type": "none"}});
    let endpoint = |url: &str, process: &str| json!({"key": "ws", "url": url, "process": process});
    let got = issues(vec![
        tool(
            "a",
            plan_with(
                "runtime_clients",
                json!([client(
                    "agent",
                    json!({"processes": [process("serve")], "endpoints": [endpoint("ws://127.0.0.1:4500", "server")]})
                )]),
            ),
        ),
        tool(
            "b",
            plan_with(
                "runtime_clients",
                json!([client(
                    "agent",
                    json!({"processes": [process("serve --other")]})
                )]),
            ),
        ),
        tool(
            "c",
            plan_with(
                "runtime_clients",
                json!([client(
                    "agent",
                    json!({"endpoints": [endpoint("ws://127.0.0.1:4600", "server")]})
                )]),
            ),
        ),
        tool(
            "d",
            plan_with(
                "runtime_clients",
                json!([client(
                    "lonely",
                    json!({"endpoints": [endpoint("ws://127.0.0.1:4700", "missing")]})
                )]),
            ),
        ),
    ]);
    assert_eq!(
        got,
        pairs(&[
            (
                codes::PROCESS_CONFLICT,
                "/bindings/b/runtime_clients/0/processes/0"
            ),
            (
                codes::ENDPOINT_CONFLICT,
                "/bindings/c/runtime_clients/0/endpoints/0"
            ),
            (
                codes::INVALID_REFERENCE,
                "/bindings/d/runtime_clients/0/endpoints/0/process"
            ),
        ])
    );
}

#[test]
fn workspace_sources_collide_on_a_path() {
    let source = |path: &str, origin: &str| json!({"path": path, "origin_url": origin});
    let got = issues(vec![
        tool(
            "a",
            plan_with(
                "workspace_sources",
                json!([source("/p/api", "https://git.test/a/api.git")]),
            ),
        ),
        tool(
            "b",
            plan_with(
                "workspace_sources",
                json!([source("/p/api", "https://git.test/b/api.git")]),
            ),
        ),
        tool(
            "c",
            plan_with(
                "workspace_sources",
                json!([source("/p/api", "https://git.test/a/api.git")]),
            ),
        ),
    ]);
    assert_eq!(
        got,
        pairs(&[(codes::WORKSPACE_CONFLICT, "/bindings/b/workspace_sources/0")])
    );
}

#[test]
fn runtime_clients_merge_deterministically() {
    let plan = ok(vec![
        tool(
            "b",
            plan_with(
                "runtime_clients",
                json!([client(
                    "agent",
                    json!({"env": {"Z": "1"}, "launch_args": ["--b"], "files": [file("z", "/etc/z", "z")]})
                )]),
            ),
        ),
        tool(
            "a",
            plan_with(
                "runtime_clients",
                json!([client(
                    "agent",
                    json!({"env": {"A": "1"}, "launch_args": ["--a", "1"], "files": [file("y", "/etc/y", "y")]})
                )]),
            ),
        ),
        tool(
            "c",
            plan_with(
                "runtime_clients",
                json!([client("agent", json!({"launch_args": ["--a", "1"]}))]),
            ),
        ),
    ]);
    let client = &plan.runtime_clients[0];
    assert_eq!(client.env.keys().collect::<Vec<_>>(), ["A", "Z"]);
    assert_eq!(client.launch_args, ["--a", "1", "--b"]);
    let paths: Vec<&str> = client.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["/etc/y", "/etc/z"]);
}

// ---- MCP ----

fn http_server(id: &str, name: &str, url: &str) -> Value {
    json!({"id": id, "name": name, "transport": {"type": "streamable_http", "url": url, "headers": {}}})
}

fn stdio_server(id: &str, name: &str, command: &str) -> Value {
    json!({"id": id, "name": name, "transport": {"type": "stdio", "command": command, "args": [], "env": {}}})
}

fn with_mcp(id: &str, servers: Value) -> ProfileBinding {
    let mut config = json!({});
    config["mcp"] = servers;
    binding(id, "fixture::tool", config)
}

#[test]
fn mcp_server_names_are_unique_in_the_profile() {
    let got = issues(vec![
        with_mcp(
            "a",
            json!([http_server("docs", "docs", "https://docs.test/mcp")]),
        ),
        with_mcp("b", json!([stdio_server("docs", "docs", "docs-mcp")])),
    ]);
    assert_eq!(
        got,
        pairs(&[(codes::MCP_NAME_CONFLICT, "/bindings/b/mcp_servers/0/name")])
    );
}

#[test]
fn mcp_servers_need_a_command_or_a_url_and_unique_ids() {
    let got = issues(vec![with_mcp(
        "a",
        json!([
            stdio_server("local", "local", ""),
            http_server("remote", "remote", ""),
            http_server("one", "one", "https://one.test"),
            http_server("one", "two", "https://two.test"),
        ]),
    )]);
    assert_eq!(
        got,
        pairs(&[
            (
                codes::MCP_INVALID,
                "/bindings/a/mcp_servers/0/transport/command"
            ),
            (
                codes::MCP_INVALID,
                "/bindings/a/mcp_servers/1/transport/url"
            ),
            (codes::MCP_INVALID, "/bindings/a/mcp_servers/3/id"),
        ])
    );
}

fn agent(config_file: &str) -> ProfileBinding {
    binding(
        "agent",
        "fixture::agent",
        json!({"plan": plan_with("runtime_clients", json!([client("agent", json!({"files": [file("agent-config", "/home/sandbox/.agent/config.toml", config_file)]}))]))}),
    )
}

#[test]
fn the_mcp_pass_writes_every_server_into_the_agents_config_file() {
    let plan = ok(vec![
        with_mcp("z-docs", json!([stdio_server("docs", "docs", "docs-mcp")])),
        agent("# agent settings\nmodel = \"m\"\n"),
        with_mcp(
            "a-tracker",
            json!([http_server("t", "tracker", "https://mcp.tracker.test/mcp")]),
        ),
    ]);
    let file = &plan.runtime_clients[0].files[0];
    assert_eq!(
        file.content,
        "# agent settings\nmodel = \"m\"\n\n[mcp_servers.docs]\ncommand = \"docs-mcp\"\n\n[mcp_servers.tracker]\nurl = \"https://mcp.tracker.test/mcp\"\n"
    );
    let names: Vec<(&str, &str)> = plan
        .mcp_servers
        .iter()
        .map(|s| (s.name.as_str(), s.binding.as_str()))
        .collect();
    assert_eq!(names, [("docs", "z-docs"), ("tracker", "a-tracker")]);
    assert_eq!(plan.mcp_config_updates.len(), 1);
    assert_eq!(plan.mcp_config_updates[0].servers, ["docs", "tracker"]);
    assert_eq!(
        plan.mcp_config_updates[0].path,
        "/home/sandbox/.agent/config.toml"
    );
}

#[test]
fn an_mcp_config_target_that_names_no_file() {
    let lonely = binding("agent", "fixture::agent", json!({}));
    let got = issues(vec![
        lonely,
        with_mcp("docs", json!([stdio_server("docs", "docs", "docs-mcp")])),
    ]);
    assert_eq!(
        got,
        pairs(&[(
            codes::MCP_TARGET_MISSING,
            "/bindings/agent/mcp_config_target"
        )])
    );
}

#[test]
fn an_mcp_config_file_that_cannot_be_updated() {
    let got = issues(vec![
        agent("mcp_servers = \"not a table\"\n"),
        with_mcp("docs", json!([stdio_server("docs", "docs", "docs-mcp")])),
    ]);
    assert_eq!(
        got,
        pairs(&[(
            codes::MCP_CONFIG_INVALID,
            "/bindings/agent/mcp_config_target"
        )])
    );
}

// ---- Determinism and hash ----

#[test]
fn the_hash_is_the_sha256_of_canonical_json_with_sorted_keys() {
    let plan = ok(vec![
        tool(
            "a",
            plan_with("egress_routes", json!([route("x.test", "/", &[])])),
        ),
        with_mcp("m", json!([stdio_server("docs", "docs", "docs-mcp")])),
    ]);
    let bytes = plan.to_canonical_json();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with("{\"artifacts\":[],\"egress_routes\":[{\"binding\":\"a\""),
        "{text}"
    );
    assert!(!text.contains('\n'));
    let expected: String = Sha256::digest(&bytes)
        .iter()
        .fold(String::new(), |hex, b| hex + &format!("{b:02x}"));
    assert_eq!(plan.hash(), expected);
    let back: CompiledRuntimePlan = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(back, plan);
}
