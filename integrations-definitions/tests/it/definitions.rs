//! Identity, schemas, connection methods and binding validation of every shipped
//! definition.

use std::sync::Arc;

use integrations_core::definition::{ConnectionMethodKind, Pkce, ScopeSeparator};
use integrations_core::model::ProfileVersion;
use integrations_core::schema::{ConfigKind, FormContext};
use integrations_core::service::{BindingInput, ConnectionInput, TargetInput, WriteService};
use integrations_core::{
    BindingId, ConnectionId, ConnectionMethodId, IntegrationKind, ProfileId, TargetId, TenantId,
};
use integrations_definitions::github::GitHub;
use integrations_definitions::registry;
use integrations_testkit::TestHost;
use serde_json::json;

#[test]
fn the_registry_holds_the_five_shipped_definitions() {
    let registry = registry();
    let got: Vec<(String, IntegrationKind)> = registry
        .iter()
        .map(|e| (e.key().to_string(), e.kind()))
        .collect();
    assert_eq!(
        got,
        [
            ("github::github-cloud".to_owned(), IntegrationKind::Git),
            (
                "github::github-enterprise-server".to_owned(),
                IntegrationKind::Git
            ),
            (
                "linear::linear-default".to_owned(),
                IntegrationKind::Connector
            ),
            ("openai::openai-default".to_owned(), IntegrationKind::Agent),
            (
                "slack::slack-default".to_owned(),
                IntegrationKind::Connector
            ),
        ]
    );
}

#[test]
fn every_example_validates_and_every_method_is_consistent() {
    let registry = registry();
    for entry in registry.iter() {
        for schema in [
            entry.target_config(),
            entry.target_secrets(),
            entry.binding_config(),
        ] {
            assert!(
                !schema.spec().examples().is_empty(),
                "{} has no examples",
                entry.key()
            );
            for example in schema.spec().examples() {
                assert!(schema.parse(example).is_ok(), "{}: {example}", entry.key());
            }
        }
        for method in entry.methods() {
            let m = method.method();
            match m.kind {
                ConnectionMethodKind::OAuth2AuthorizationCode
                | ConnectionMethodKind::OAuth2ClientCredentials => {
                    let example = &entry.target_config().spec().examples()[0];
                    let parsed = entry.target_config().parse(example).unwrap();
                    let spec = entry.definition().oauth2(m, &parsed).expect("oauth2 data");
                    assert!(
                        spec.authorize_url.starts_with("https://"),
                        "{}",
                        spec.authorize_url
                    );
                    assert!(spec.token_url.starts_with("https://"), "{}", spec.token_url);
                }
                ConnectionMethodKind::ApiKey => assert!(!m.secret_fields.is_empty()),
                _ => {}
            }
        }
    }
}

#[test]
fn oauth_quirks_are_data() {
    let registry = registry();
    let spec_of = |key: &str, config: serde_json::Value| {
        let entry = registry.require(&key.parse().unwrap()).unwrap();
        let parsed = entry.target_config().parse(&config).unwrap();
        let method = entry
            .method(&ConnectionMethodId::new("oauth2").unwrap())
            .unwrap();
        entry.definition().oauth2(method.method(), &parsed).unwrap()
    };
    let linear = spec_of("linear::linear-default", json!({}));
    assert_eq!(linear.scope_separator, ScopeSeparator::Comma);
    assert_eq!(linear.token_url, "https://api.linear.app/oauth/token");
    assert_eq!(linear.extra_authorize_params["actor"], "user");
    assert!(linear.rotates_refresh_tokens);
    let slack = spec_of("slack::slack-default", json!({}));
    assert_eq!(slack.success_field.as_deref(), Some("ok"));
    assert_eq!(slack.subject_pointer.as_deref(), Some("/team/id"));
    assert_eq!(slack.token_url, "https://slack.com/api/oauth.v2.access");
    let github = spec_of("github::github-cloud", json!({}));
    assert_eq!(github.token_request_headers["Accept"], "application/json");
    assert_eq!(github.pkce, Pkce::S256);
    let ghes = spec_of(
        "github::github-enterprise-server",
        json!({"web_base_url": "https://ghe.example.com/"}),
    );
    assert_eq!(
        ghes.authorize_url,
        "https://ghe.example.com/login/oauth/authorize"
    );
    assert_eq!(
        ghes.token_url,
        "https://ghe.example.com/login/oauth/access_token"
    );
}

#[test]
fn github_endpoints_per_variant() {
    let registry = registry();
    let cloud = registry
        .require(&"github::github-cloud".parse().unwrap())
        .unwrap();
    let parsed = cloud.target_config().parse(&json!({})).unwrap();
    let e = GitHub::cloud().endpoints(&parsed).unwrap();
    assert_eq!(e.api.as_str(), "https://api.github.com");
    assert_eq!(e.graphql, "https://api.github.com/graphql");
    assert_eq!(e.uploads.unwrap().as_str(), "https://uploads.github.com");
    assert_eq!(e.api_version, "2022-11-28");

    let server = registry
        .require(&"github::github-enterprise-server".parse().unwrap())
        .unwrap();
    let parsed = server
        .target_config()
        .parse(&json!({"web_base_url": "https://ghe.example.com"}))
        .unwrap();
    let e = GitHub::enterprise_server().endpoints(&parsed).unwrap();
    assert_eq!(e.api.as_str(), "https://ghe.example.com/api/v3");
    assert_eq!(e.graphql, "https://ghe.example.com/api/graphql");
    assert!(e.uploads.is_none());
    // The server variant needs its host.
    let issues = server.target_config().parse(&json!({})).unwrap_err();
    assert_eq!(issues[0].code, "schema.required");
    assert_eq!(issues[0].path, "/web_base_url");
    // Repository names are owner/name.
    let issues = server
        .binding_config()
        .parse(&json!({"repositories": ["not a repo"]}))
        .unwrap_err();
    assert_eq!(issues[0].code, "schema.pattern");
    assert_eq!(issues[0].path, "/repositories/0");
}

async fn openai_setup(test: &TestHost) -> WriteService {
    let service = WriteService::new(Arc::new(registry()), test.host().clone());
    let tenant = TenantId::new("acme").unwrap();
    service
        .put_target(
            TargetInput::new(
                tenant.clone(),
                TargetId::new("openai").unwrap(),
                "openai::openai-default".parse().unwrap(),
            )
            .with_config(
                json!({"models": {"gpt-5-codex": {"reasoning_efforts": ["low", "high"]}}}),
            ),
        )
        .await
        .unwrap();
    service
        .put_connection(
            ConnectionInput::new(
                tenant,
                ConnectionId::new("openai-key").unwrap(),
                TargetId::new("openai").unwrap(),
                ConnectionMethodId::new("api-key").unwrap(),
            )
            .with_secret("api_key", "sk-test-123"),
        )
        .await
        .unwrap();
    service
}

fn openai_binding(config: serde_json::Value) -> BindingInput {
    BindingInput::new(
        TenantId::new("acme").unwrap(),
        BindingId::new("codex").unwrap(),
        ProfileVersion::new(ProfileId::new("sandbox").unwrap(), 1),
        ConnectionId::new("openai-key").unwrap(),
        IntegrationKind::Agent,
    )
    .with_config(config)
}

#[tokio::test]
async fn openai_bindings_are_checked_against_the_target_models() {
    let test = TestHost::new();
    let service = openai_setup(&test).await;
    service
        .put_binding(openai_binding(
            json!({"runtime": "codex-cli", "model": "gpt-5-codex", "reasoning_effort": "high"}),
        ))
        .await
        .unwrap();
    let err = service
        .put_binding(openai_binding(
            json!({"runtime": "codex-cli", "model": "gpt-4o"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.issues()[0].code, "openai.unsupported_model");
    assert_eq!(err.issues()[0].path, "/config/model");
    let err = service
        .put_binding(openai_binding(
            json!({"runtime": "codex-cli", "model": "gpt-5-codex", "reasoning_effort": "medium"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.issues()[0].code, "openai.unsupported_reasoning_effort");
}

#[test]
fn the_openai_binding_form_offers_the_target_models() {
    let registry = registry();
    let entry = registry
        .require(&"openai::openai-default".parse().unwrap())
        .unwrap();
    let target = json!({"models": {"gpt-5-codex": {"reasoning_efforts": ["low"]}, "o9": {"reasoning_efforts": ["high"]}}});
    let form = entry
        .form(
            &ConfigKind::BindingConfig,
            &FormContext::new().with_target_config(&target),
        )
        .unwrap();
    let choices: Vec<String> = form.fields["/model"]
        .choices
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.value.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(choices, ["gpt-5-codex", "o9"]);
}

#[test]
fn secret_fields_render_as_passwords() {
    let registry = registry();
    for entry in registry.iter() {
        let form = entry
            .form(&ConfigKind::TargetSecrets, &FormContext::new())
            .unwrap();
        assert!(!form.fields.is_empty(), "{}", entry.key());
        for (pointer, field) in &form.fields {
            assert_eq!(
                field.widget,
                Some(integrations_core::schema::Widget::Password),
                "{} {pointer}",
                entry.key()
            );
        }
    }
}
