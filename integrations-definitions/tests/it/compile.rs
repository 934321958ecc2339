//! Compiling profiles of the shipped definitions: what each binding compiles to, the
//! permutation property, write-time/compile-time parity, and plans free of secrets.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use integrations_core::compile::{ProfileBinding, ProfileInput, compile};
use integrations_core::egress::{Classification, RouteIndex};
use integrations_core::loaded::Loader;
use integrations_core::model::ProfileVersion;
use integrations_core::plan::{
    AuthInjection, CompiledRoute, CompiledRuntimePlan, InstallStep, McpConfigFormat, McpTransport,
};
use integrations_core::service::{BindingInput, ConnectionInput, TargetInput, WriteService};
use integrations_core::{
    BindingId, ConnectionId, ConnectionMethodId, IntegrationKind, ProfileId, TargetId, TenantId,
};
use integrations_definitions::registry;
use integrations_testkit::TestHost;
use proptest::prelude::*;
use serde_json::{Value, json};

const REALISTIC: &str = include_str!("../fixtures/profiles/realistic.json");
const REALISTIC_PLAN: &str = include_str!("../fixtures/profiles/realistic.plan.json");

fn realistic() -> ProfileInput {
    ProfileInput::from_json(REALISTIC).unwrap()
}

fn compiled(profile: &ProfileInput) -> CompiledRuntimePlan {
    match compile(&registry(), profile) {
        Ok(plan) => plan,
        Err(e) => panic!("{e}: {:#?}", e.issues()),
    }
}

/// A profile of the realistic document with only some of its bindings.
fn only(ids: &[&str]) -> ProfileInput {
    let mut profile = realistic();
    profile.bindings.retain(|b| ids.contains(&b.id.as_str()));
    profile
}

fn routes<'a>(plan: &'a CompiledRuntimePlan, binding: &str) -> Vec<&'a CompiledRoute> {
    plan.egress_routes
        .iter()
        .filter(|r| r.binding.as_str() == binding)
        .collect()
}

fn summary(route: &CompiledRoute) -> (String, Vec<String>, Vec<String>, Vec<String>) {
    (
        route.id.to_string(),
        route.matcher.hosts.clone(),
        route.matcher.path_prefixes.clone(),
        route.matcher.methods.clone(),
    )
}

fn s(items: &[&str]) -> Vec<String> {
    items.iter().map(|i| (*i).to_owned()).collect()
}

const CODEX_CONFIG: &str = r#"# Written by the integrations SDK. The egress proxy adds the API key to requests
# to the base URL below; this file holds no credential.
model = "gpt-5-codex"
model_provider = "integrations-proxy"
model_reasoning_effort = "high"
developer_instructions = """
Open pull requests as drafts.
Never push to "main"."""

[model_providers.integrations-proxy]
name = "OpenAI through the egress proxy"
base_url = "https://api.openai.com/v1"
wire_api = "responses"
requires_openai_auth = false
supports_websockets = false

[mcp_servers.linear]
url = "https://mcp.linear.app/mcp"
"#;

#[test]
fn openai_routes_the_api_and_configures_codex_without_a_key() {
    let plan = compiled(&realistic());
    let route = routes(&plan, "agent");
    assert_eq!(route.len(), 1);
    let route = route[0];
    assert_eq!(
        summary(route),
        (
            "egress_rule_agent".into(),
            s(&["api.openai.com"]),
            s(&["/v1"]),
            s(&["GET", "POST"])
        )
    );
    assert_eq!(route.upstream, "https://api.openai.com/v1");
    assert_eq!(route.injection, AuthInjection::Bearer);
    assert_eq!(route.credential.credential_type.as_str(), "api_key");
    assert_eq!(
        route.headers,
        BTreeMap::from([
            ("openai-organization".to_owned(), "org-acme".to_owned()),
            ("openai-project".to_owned(), "proj_agents".to_owned()),
        ])
    );

    let codex = plan.runtime_client("codex-cli").unwrap();
    assert_eq!(codex.env["CODEX_HOME"], "/home/sandbox/.codex");
    let file = &codex.files[0];
    assert_eq!(file.path, "/home/sandbox/.codex/config.toml");
    assert_eq!(file.mode, 0o600);
    // The profile's MCP servers are in it; no key is.
    assert_eq!(file.content, CODEX_CONFIG);
    let update = &plan.mcp_config_updates[0];
    assert_eq!(
        (
            update.client_id.as_str(),
            update.file_id.as_str(),
            update.format
        ),
        ("codex-cli", "codex-config", McpConfigFormat::Toml)
    );
    assert_eq!(update.key_path, ["mcp_servers"]);

    let artifact = plan
        .artifacts
        .iter()
        .find(|a| a.key == "codex-cli")
        .unwrap();
    match &artifact.install[0] {
        InstallStep::GithubRelease {
            repository, binary, ..
        } => assert_eq!(
            (repository.as_str(), binary.as_str()),
            ("openai/codex", "codex")
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn openai_on_a_root_base_url_routes_every_path() {
    let mut profile = only(&["agent"]);
    profile.bindings[0].config = json!({"runtime": "codex-cli", "model": "gpt-5-codex"});
    profile.bindings[0].target.config = json!({"api_base_url": "https://LLM.acme.test:8443/", "models": {"gpt-5-codex": {"reasoning_efforts": ["high"]}}});
    let plan = compiled(&profile);
    let route = &plan.egress_routes[0];
    assert_eq!(route.matcher.hosts, ["llm.acme.test"]);
    assert_eq!(route.matcher.path_prefixes, ["/"]);
    assert_eq!(route.upstream, "https://llm.acme.test:8443");
    let config = &plan.runtime_clients[0].files[0].content;
    assert!(
        config.contains("base_url = \"https://llm.acme.test:8443\""),
        "{config}"
    );
    assert!(
        !config.contains("model_reasoning_effort"),
        "no effort named, none defaulted"
    );
    assert!(
        plan.mcp_config_updates.is_empty(),
        "no MCP servers, file untouched"
    );
}

#[test]
fn github_cloud_routes_git_per_repository_the_api_and_uploads() {
    let plan = compiled(&realistic());
    let got: Vec<_> = routes(&plan, "code").into_iter().map(summary).collect();
    let api = s(&["DELETE", "GET", "PATCH", "POST", "PUT"]);
    assert_eq!(
        got,
        [
            (
                "egress_rule_code".into(),
                s(&["api.github.com"]),
                s(&["/"]),
                api.clone()
            ),
            (
                "egress_rule_code_2".into(),
                s(&["uploads.github.com"]),
                s(&["/"]),
                api
            ),
            (
                "egress_rule_code_3".into(),
                s(&["github.com"]),
                s(&["/acme/api.git"]),
                s(&["GET", "POST"])
            ),
            (
                "egress_rule_code_4".into(),
                s(&["github.com"]),
                s(&["/acme/web.git"]),
                s(&["GET", "POST"])
            ),
        ]
    );
    let code = routes(&plan, "code");
    assert_eq!(code[0].injection, AuthInjection::Bearer);
    assert_eq!(
        code[0].default_headers["accept"],
        "application/vnd.github+json"
    );
    assert_eq!(
        code[0].default_headers["x-github-api-version"],
        "2022-11-28"
    );
    assert_eq!(
        code[2].injection,
        AuthInjection::Basic {
            username: Some("x-access-token".into())
        }
    );
    // App installations resolve a token narrowed to the binding's repositories, through
    // the resolver the GitHub provider registers, in the `owner/name` form it reads.
    for route in &code {
        assert_eq!(
            route.credential.resolver.as_deref(),
            Some(integrations_definitions::github::auth::INSTALLATION_TOKEN_RESOLVER)
        );
        assert_eq!(
            route.credential.parameters["repositories"],
            json!(["acme/api", "acme/web"])
        );
    }
    let sources: Vec<(&str, &str)> = plan
        .workspace_sources
        .iter()
        .map(|w| (w.path.as_str(), w.origin_url.as_str()))
        .collect();
    assert_eq!(
        sources,
        [
            (
                "/home/sandbox/projects/acme/api",
                "https://github.com/acme/api.git"
            ),
            (
                "/home/sandbox/projects/acme/web",
                "https://github.com/acme/web.git"
            ),
            (
                "/home/sandbox/projects/platform/terraform",
                "https://ghe.acme.test/platform/terraform.git"
            ),
        ]
    );
}

#[test]
fn github_enterprise_server_routes_api_v3_graphql_and_git_on_one_host() {
    let plan = compiled(&realistic());
    let got: Vec<_> = routes(&plan, "infra").into_iter().map(summary).collect();
    assert_eq!(
        got,
        [
            (
                "egress_rule_infra".into(),
                s(&["ghe.acme.test"]),
                s(&["/api/graphql", "/api/v3"]),
                s(&["DELETE", "GET", "PATCH", "POST", "PUT"])
            ),
            (
                "egress_rule_infra_2".into(),
                s(&["ghe.acme.test"]),
                s(&["/platform/terraform.git"]),
                s(&["GET", "POST"])
            ),
        ]
    );
    assert_eq!(
        routes(&plan, "infra")[0]
            .credential
            .credential_type
            .as_str(),
        "api_key"
    );

    // The gh CLI of both variants merges into one artifact with a placeholder token.
    let gh = plan.artifacts.iter().find(|a| a.key == "gh-cli").unwrap();
    assert_eq!(gh.env["GH_TOKEN"], gh.env["GH_ENTERPRISE_TOKEN"]);
    assert_eq!(gh.env["GH_HOST"], "ghe.acme.test");

    // A server under a path prefix keeps it in every route.
    let mut profile = only(&["infra"]);
    profile.bindings[0].target.config = json!({"web_base_url": "https://code.acme.test/github"});
    let plan = compiled(&profile);
    let prefixes: Vec<Vec<String>> = plan
        .egress_routes
        .iter()
        .map(|r| r.matcher.path_prefixes.clone())
        .collect();
    assert_eq!(
        prefixes,
        [
            s(&["/github/api/graphql", "/github/api/v3"]),
            s(&["/github/platform/terraform.git"])
        ]
    );
}

#[test]
fn linear_declares_its_hosted_mcp_server_without_credentials() {
    let plan = compiled(&realistic());
    let server = &plan.mcp_servers[0];
    assert_eq!(
        (server.name.as_str(), server.binding.as_str()),
        ("linear", "tickets")
    );
    assert_eq!(
        server.transport,
        serde_json::from_value::<McpTransport>(
            json!({"type": "streamable_http", "url": "https://mcp.linear.app/mcp", "headers": {}})
        )
        .unwrap()
    );
    let route = routes(&plan, "tickets")[0];
    assert_eq!(route.matcher.hosts, ["mcp.linear.app"]);
    assert_eq!(route.matcher.path_prefixes, ["/mcp"]);
    assert!(route.matcher.methods.is_empty());
    assert_eq!(route.injection, AuthInjection::Bearer);
    assert_eq!(
        route.credential.credential_type.as_str(),
        "oauth2_access_token"
    );
}

/// The hosted MCP server takes a personal API key as a bearer token (Codex's documented
/// `bearer_token_env_var = "LINEAR_API_KEY"` for `mcp.linear.app/mcp`); only the GraphQL
/// API takes it bare.
#[test]
fn a_linear_api_key_reaches_the_hosted_mcp_server_as_a_bearer_token() {
    let mut profile = only(&["tickets"]);
    profile.bindings[0].connection.method = ConnectionMethodId::new("api-key").unwrap();
    let plan = compiled(&profile);
    assert_eq!(plan.egress_routes.len(), 1);
    let route = &plan.egress_routes[0];
    assert_eq!(route.matcher.hosts, ["mcp.linear.app"]);
    assert_eq!(route.matcher.path_prefixes, ["/mcp"]);
    assert_eq!(route.injection, AuthInjection::Bearer);
    assert_eq!(route.credential.credential_type.as_str(), "api_key");
}

#[test]
fn slack_routes_the_web_api() {
    let plan = compiled(&realistic());
    let chat = routes(&plan, "chat");
    assert_eq!(
        summary(chat[0]),
        (
            "egress_rule_chat".into(),
            s(&["slack.com"]),
            s(&["/api"]),
            s(&["GET", "POST"])
        )
    );
    assert_eq!(chat[0].credential.credential_type.as_str(), "api_key");
    let gov = routes(&plan, "gov-chat");
    assert_eq!(gov[0].matcher.hosts, ["slack-gov.com"]);
    assert_eq!(
        gov[0].credential.credential_type.as_str(),
        "oauth2_access_token"
    );
}

#[test]
fn the_plan_classifies_real_requests() {
    let plan = compiled(&realistic());
    let index = RouteIndex::from_plan(&plan).unwrap();
    let route = |method: &str, url: &str| match index.classify(method, url) {
        Classification::Route(r) => r.id.to_string(),
        other => format!("{other:?}"),
    };
    assert_eq!(
        route("POST", "https://api.openai.com/v1/responses"),
        "egress_rule_agent"
    );
    assert_eq!(
        route(
            "GET",
            "https://github.com/acme/web.git/info/refs?service=git-upload-pack"
        ),
        "egress_rule_code_4"
    );
    assert_eq!(
        route("POST", "https://api.github.com/graphql"),
        "egress_rule_code"
    );
    assert_eq!(
        route(
            "GET",
            "https://ghe.acme.test/api/v3/repos/platform/terraform"
        ),
        "egress_rule_infra"
    );
    assert_eq!(
        route("POST", "https://ghe.acme.test/api/graphql"),
        "egress_rule_infra"
    );
    assert_eq!(
        route("POST", "https://slack.com/api/chat.postMessage"),
        "egress_rule_chat"
    );
    assert_eq!(
        route("POST", "https://mcp.linear.app/mcp"),
        "egress_rule_tickets"
    );
    // Outside every route: no credential.
    assert_eq!(
        route("GET", "https://github.com/acme/other.git/info/refs"),
        "NoMatch"
    );
    assert_eq!(route("GET", "https://api.openai.com/v10/models"), "NoMatch");
    assert_eq!(route("GET", "https://slack.com/apis"), "NoMatch");
    // Nor the endpoints that would destroy the lent credential: Slack's token revocation
    // and app uninstall, GitHub's installation token revocation (cloud and server).
    for (method, url) in [
        ("POST", "https://slack.com/api/auth.revoke"),
        ("GET", "https://slack.com/api/auth.revoke"),
        ("POST", "https://slack.com/api/apps.uninstall"),
        ("POST", "https://slack-gov.com/api/auth.revoke"),
        ("DELETE", "https://api.github.com/installation/token"),
        ("DELETE", "https://ghe.acme.test/api/v3/installation/token"),
    ] {
        assert_eq!(route(method, url), "NoMatch", "{method} {url}");
    }
    assert_eq!(
        route("POST", "https://slack.com/api/auth.test"),
        "egress_rule_chat"
    );
    assert_eq!(
        route("GET", "https://api.github.com/installation/repositories"),
        "egress_rule_code"
    );
}

/// A repository named `.` or `..` (which GitHub does not allow) would make the
/// workspace path `<projects>/acme/..` step out to the projects root: the binding is
/// refused by its schema.
#[test]
fn a_repository_named_dot_dot_is_a_schema_issue() {
    for bad in ["acme/..", "acme/."] {
        let mut profile = only(&["code"]);
        profile.bindings[0].config = json!({"repositories": ["acme/web", bad]});
        let err = compile(&registry(), &profile).unwrap_err();
        let issues: Vec<(&str, &str)> = err
            .issues()
            .iter()
            .map(|i| (i.code.as_str(), i.path.as_str()))
            .collect();
        assert_eq!(issues.len(), 1, "{bad}: {issues:?}");
        assert!(issues[0].0.starts_with("schema."), "{bad}: {issues:?}");
        assert!(
            issues[0].1.ends_with("/config/repositories/1"),
            "{bad}: {issues:?}"
        );
    }
    let entry = registry()
        .get(&"github::github-cloud".parse().unwrap())
        .unwrap()
        .clone();
    let spec = entry.binding_config();
    for good in ["acme/.github", "acme/a.", "acme/.a", "acme/...", "acme/a"] {
        let issues = spec.validate(&json!({"repositories": [good]}));
        assert!(issues.is_empty(), "{good}: {issues:?}");
    }
    for bad in ["acme/..", "acme/.", "acme/", "../api", "acme/a/b"] {
        let issues = spec.validate(&json!({"repositories": [bad]}));
        assert!(!issues.is_empty(), "{bad}");
    }
}

#[test]
fn two_github_bindings_on_one_host_conflict() {
    let mut profile = only(&["code"]);
    let mut second = profile.bindings[0].clone();
    second.id = BindingId::new("code-2").unwrap();
    second.config = json!({"repositories": ["other/repo"]});
    profile.bindings.push(second);
    let err = compile(&registry(), &profile).unwrap_err();
    // The REST API and the uploads host: a request there would match both bindings.
    let codes: Vec<&str> = err.issues().iter().map(|i| i.code.as_str()).collect();
    assert_eq!(codes, ["compile.route_conflict", "compile.route_conflict"]);
    assert!(
        err.issues()[0].message.contains("api.github.com")
            || err.issues()[1].message.contains("api.github.com")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any order of the bindings compiles to the same bytes and the same hash.
    #[test]
    fn every_permutation_of_the_bindings_gives_the_same_plan(
        order in Just((0..realistic().bindings.len()).collect::<Vec<usize>>()).prop_shuffle()
    ) {
        static BASELINE: OnceLock<CompiledRuntimePlan> = OnceLock::new();
        let baseline = BASELINE.get_or_init(|| compiled(&realistic()));
        let mut profile = realistic();
        let bindings = std::mem::take(&mut profile.bindings);
        profile.bindings = order.iter().map(|&i| bindings[i].clone()).collect();
        let plan = compiled(&profile);
        prop_assert_eq!(plan.to_canonical_json(), baseline.to_canonical_json());
        prop_assert_eq!(plan.hash(), baseline.hash());
    }
}

/// The whole plan of the realistic profile, reviewed once and kept as a golden file.
#[test]
fn the_realistic_plan_matches_its_golden_file() {
    let plan = compiled(&realistic());
    let golden: CompiledRuntimePlan = serde_json::from_str(REALISTIC_PLAN).unwrap();
    assert_eq!(plan, golden);
    assert_eq!(plan.hash(), golden.hash());
    assert_eq!(plan.egress_routes.len(), 10);
}

// ---- Parity and secrets, through the host's stores ----

const SECRETS: [&str; 13] = [
    "whsec_T1BFTkFJX1RBUkdFVF9TRUNSRVRfMTIzNA==",
    "sk-live-OPENAI-CONNECTION-SECRET",
    "github-CLIENT-SECRET-5678",
    "-----BEGIN RSA PRIVATE KEY-----APPKEY",
    "github-WEBHOOK-SECRET-91011",
    "ghp_GITHUB_CONNECTION_SECRET",
    "ghe-CLIENT-SECRET-1213",
    "ghp_GHE_CONNECTION_SECRET",
    "lin_secret_LINEAR_CLIENT",
    "lin_wh_LINEAR_WEBHOOK_SECRET",
    "lin_api_LINEAR_CONNECTION_SECRET",
    "slack-SIGNING-SECRET-1415",
    "xoxb-SLACK-CONNECTION-SECRET",
];

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn version() -> ProfileVersion {
    ProfileVersion::new(ProfileId::new("coding-agent").unwrap(), 1)
}

async fn stored_profile(test: &TestHost) -> WriteService {
    let service = WriteService::new(Arc::new(registry()), test.host().clone());
    let targets: [(&str, &str, Value, Value); 5] = [
        (
            "openai",
            "openai::openai-default",
            json!({}),
            json!({"webhook_secret": SECRETS[0]}),
        ),
        (
            "github",
            "github::github-cloud",
            json!({"app_id": 1}),
            json!({"client_secret": SECRETS[2], "app_private_key_pem": SECRETS[3], "webhook_secret": SECRETS[4]}),
        ),
        (
            "ghe",
            "github::github-enterprise-server",
            json!({"web_base_url": "https://ghe.acme.test"}),
            json!({"client_secret": SECRETS[6]}),
        ),
        (
            "linear",
            "linear::linear-default",
            json!({}),
            json!({"client_secret": SECRETS[8], "webhook_secret": SECRETS[9]}),
        ),
        (
            "slack",
            "slack::slack-default",
            json!({}),
            json!({"signing_secret": SECRETS[11]}),
        ),
    ];
    for (id, key, config, secrets) in targets {
        service
            .put_target(
                TargetInput::new(tenant(), TargetId::new(id).unwrap(), key.parse().unwrap())
                    .with_config(config)
                    .with_secrets(secrets),
            )
            .await
            .unwrap();
    }
    let connections = [
        ("openai", "api_key", SECRETS[1]),
        ("github", "token", SECRETS[5]),
        ("ghe", "token", SECRETS[7]),
        ("linear", "api_key", SECRETS[10]),
        ("slack", "bot_token", SECRETS[12]),
    ];
    for (target, field, secret) in connections {
        service
            .put_connection(
                ConnectionInput::new(
                    tenant(),
                    ConnectionId::new(format!("{target}-conn")).unwrap(),
                    TargetId::new(target).unwrap(),
                    ConnectionMethodId::new("api-key").unwrap(),
                )
                .with_secret(field, secret),
            )
            .await
            .unwrap();
    }
    let bindings = [
        (
            "agent",
            "openai",
            IntegrationKind::Agent,
            json!({"runtime": "codex-cli", "model": "gpt-5-codex"}),
        ),
        (
            "code",
            "github",
            IntegrationKind::Git,
            json!({"repositories": ["acme/api"]}),
        ),
        (
            "infra",
            "ghe",
            IntegrationKind::Git,
            json!({"repositories": ["platform/terraform"]}),
        ),
        ("tickets", "linear", IntegrationKind::Connector, json!({})),
        ("chat", "slack", IntegrationKind::Connector, json!({})),
    ];
    for (id, target, kind, config) in bindings {
        service
            .put_binding(
                BindingInput::new(
                    tenant(),
                    BindingId::new(id).unwrap(),
                    version(),
                    ConnectionId::new(format!("{target}-conn")).unwrap(),
                    kind,
                )
                .with_config(config),
            )
            .await
            .unwrap();
    }
    service
}

#[tokio::test]
async fn a_compiled_plan_contains_no_secret_of_its_targets_or_connections() {
    let test = TestHost::new();
    stored_profile(&test).await;
    let profile = ProfileInput::load(test.host(), &tenant(), &version())
        .await
        .unwrap();
    assert_eq!(profile.bindings.len(), 5);
    assert!(profile.bindings.iter().all(|b| b.target.secrets.is_some()));
    let plan = compiled(&profile);
    assert_eq!(plan.egress_routes.len(), 8);
    let json = String::from_utf8(plan.to_canonical_json()).unwrap();
    let debug = format!("{plan:?}");
    for secret in SECRETS {
        assert!(!json.contains(secret), "a secret is in the plan");
        assert!(!debug.contains(secret), "a secret is in the plan's Debug");
    }
}

#[tokio::test]
async fn loading_reports_missing_records() {
    let test = TestHost::new();
    stored_profile(&test).await;
    test.host()
        .connections()
        .delete_connection(&tenant(), &ConnectionId::new("slack-conn").unwrap())
        .await
        .unwrap();
    let err = ProfileInput::load(test.host(), &tenant(), &version())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "compile.invalid");
    assert_eq!(err.issues()[0].code, "binding.connection_not_found");
    assert_eq!(err.issues()[0].path, "/bindings/chat/connection");
}

/// Loading runs the loader's lookup of each binding's records and turns what it refuses
/// into that binding's issue, for every binding: a missing connection, a missing target
/// and a target of another definition (the loader's `auth.target_mismatch`).
#[tokio::test]
async fn loading_looks_records_up_through_the_loader_and_reports_every_binding() {
    let test = TestHost::new();
    stored_profile(&test).await;
    let host = test.host();
    host.connections()
        .delete_connection(&tenant(), &ConnectionId::new("slack-conn").unwrap())
        .await
        .unwrap();
    host.targets()
        .delete_target(&tenant(), &TargetId::new("ghe").unwrap())
        .await
        .unwrap();
    let mut stray = host
        .connections()
        .get_connection(&tenant(), &ConnectionId::new("linear-conn").unwrap())
        .await
        .unwrap()
        .unwrap();
    stray.target = TargetId::new("github").unwrap();
    host.connections().put_connection(&stray).await.unwrap();

    let loader = Loader::new(Arc::new(registry()), host.clone());
    let with_loader = ProfileInput::load_with(&loader, &tenant(), &version())
        .await
        .unwrap_err();
    let plain = ProfileInput::load(host, &tenant(), &version())
        .await
        .unwrap_err();
    for err in [with_loader, plain] {
        assert_eq!(err.code(), "compile.invalid");
        let mut got: Vec<(&str, &str)> = err
            .issues()
            .iter()
            .map(|i| (i.code.as_str(), i.path.as_str()))
            .collect();
        got.sort_unstable();
        assert_eq!(
            got,
            [
                (
                    "binding.connection_mismatch",
                    "/bindings/tickets/connection"
                ),
                ("binding.connection_not_found", "/bindings/chat/connection"),
                ("binding.target_not_found", "/bindings/infra/connection"),
            ]
        );
    }
}

/// Loading through an engine's loader also runs the second half of its lookup on each
/// target (enabled, definition, config parse, in the loader's cache): what it refuses is
/// what compiling the plainly loaded profile reports, at the same paths, only earlier.
#[tokio::test]
async fn loading_with_a_loader_checks_each_target_as_compile_would() {
    let test = TestHost::new();
    stored_profile(&test).await;
    let host = test.host();
    let loader = Loader::new(Arc::new(registry()), host.clone());
    let slack = TargetId::new("slack").unwrap();
    let before = loader.target(&tenant(), &slack).await.unwrap();
    for (id, change) in [
        ("openai", json!({"enabled": false})),
        ("github", json!({"config": {"app_id": "not a number"}})),
    ] {
        let mut target = host
            .targets()
            .get_target(&tenant(), &TargetId::new(id).unwrap())
            .await
            .unwrap()
            .unwrap();
        if let Some(enabled) = change.get("enabled") {
            target.enabled = enabled.as_bool().unwrap();
        }
        if let Some(config) = change.get("config") {
            target.config = config.clone();
        }
        host.targets().put_target(&target).await.unwrap();
    }

    let err = ProfileInput::load_with(&loader, &tenant(), &version())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "compile.invalid");
    let at_load: Vec<(String, String)> = err
        .issues()
        .iter()
        .map(|i| (i.code.clone(), i.path.clone()))
        .collect();
    for expected in [
        ("binding.target_disabled", "/bindings/agent/connection"),
        ("binding.invalid_target_config", "/targets/github/config"),
    ] {
        assert!(
            at_load.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} in {at_load:?}"
        );
    }
    assert!(
        at_load
            .iter()
            .any(|(code, path)| code.starts_with("schema.")
                && path == "/targets/github/config/app_id"),
        "{at_load:?}"
    );
    assert_eq!(at_load.len(), 3, "{at_load:?}");

    // The plain load reads records only; compiling reports the same issues.
    let plain = ProfileInput::load(host, &tenant(), &version())
        .await
        .unwrap();
    let at_compile: Vec<(String, String)> = compile(&registry(), &plain)
        .unwrap_err()
        .issues()
        .iter()
        .map(|i| (i.code.clone(), i.path.clone()))
        .collect();
    for issue in &at_load {
        assert!(at_compile.contains(issue), "{issue:?} in {at_compile:?}");
    }

    // The unchanged target kept its parsed version in the loader's cache.
    let after = loader.target(&tenant(), &slack).await.unwrap();
    assert!(Arc::ptr_eq(&before.target, &after.target));
}

#[tokio::test]
async fn write_time_and_compile_time_report_the_same_issues() {
    let test = TestHost::new();
    let service = stored_profile(&test).await;
    let config = json!({"runtime": "codex-cli", "model": "gpt-4o", "reasoning_effort": "xhigh"});
    let written = service
        .put_binding(
            BindingInput::new(
                tenant(),
                BindingId::new("agent-2").unwrap(),
                version(),
                ConnectionId::new("openai-conn").unwrap(),
                IntegrationKind::Agent,
            )
            .with_config(config.clone()),
        )
        .await
        .unwrap_err();
    let at_write: Vec<(String, String)> = written
        .issues()
        .iter()
        .map(|i| (i.code.clone(), i.path.clone()))
        .collect();
    assert!(!at_write.is_empty());

    let mut profile = ProfileInput::load(test.host(), &tenant(), &version())
        .await
        .unwrap();
    let stored = profile
        .bindings
        .iter()
        .find(|b| b.id.as_str() == "agent")
        .unwrap()
        .clone();
    profile.bindings = vec![
        ProfileBinding::new(
            BindingId::new("agent-2").unwrap(),
            IntegrationKind::Agent,
            stored.connection,
            stored.target,
        )
        .with_config(config),
    ];
    let at_compile: Vec<(String, String)> = compile(&registry(), &profile)
        .unwrap_err()
        .issues()
        .iter()
        .map(|i| {
            (
                i.code.clone(),
                i.path.trim_start_matches("/bindings/agent-2").to_owned(),
            )
        })
        .collect();
    assert_eq!(at_compile, at_write);
}

/// The profile document shown in the README compiles.
#[test]
fn the_readme_profile_document_compiles() {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme.find("## Compiling a sandbox profile").unwrap()..];
    let start = section.find("```json\n").unwrap() + "```json\n".len();
    let document = &section[start..start + section[start..].find("```").unwrap()];
    let plan = compiled(&ProfileInput::from_json(document).unwrap());
    let ids: Vec<&str> = plan.egress_routes.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "egress_rule_agent",
            "egress_rule_code",
            "egress_rule_code_2",
            "egress_rule_code_3",
            "egress_rule_code_4",
            "egress_rule_tickets"
        ]
    );
}
