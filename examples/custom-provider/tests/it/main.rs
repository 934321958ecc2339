//! The Jira provider, checked from outside: the conformance suite, and its tools run by
//! the SDK's runtime and token manager against a Jira mock on loopback.

use std::sync::Arc;

use integrations_core::Timestamp;
use integrations_core::auth::TokenManager;
use integrations_core::host::{Clock as _, ReqwestHttpClient};
use integrations_core::model::{Capability, Publication, PublicationScope};
use integrations_core::reexports::serde_json::json;
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::tools::{CallContext, Runtime, Session, ToolStatus};
use integrations_core::{
    ConnectionId, ConnectionMethodId, PublicationId, Registry, TargetId, TenantId, UserId,
    WorkspaceId,
};
use integrations_testkit::TestHost;
use integrations_testkit::conformance::{Conformance, WebhookSample};
use integrations_testkit::mock::MockProvider;
use wiremock::matchers::{basic_auth, body_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

const ISSUE_UPDATED: &[u8] = br#"{"timestamp":1750000000000,"webhookEvent":"jira:issue_updated","user":{"displayName":"Ada"},"issue":{"id":"10042","key":"ENG-42","fields":{"summary":"Fix the flaky test"}}}"#;

#[tokio::test]
async fn the_jira_provider_conforms() {
    Conformance::new(Arc::new(jira_provider::jira()))
        .with_webhook_sample(WebhookSample::new(
            ISSUE_UPDATED,
            Timestamp::from_unix_seconds(1_750_000_000),
        ))
        .run()
        .await
        .assert_passed();
}

struct Env {
    test: TestHost,
    runtime: Runtime,
    jira: MockProvider,
}

async fn env() -> Env {
    let jira = MockProvider::start().await;
    let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new().unwrap()));
    let mut registry = Registry::new();
    registry.register(Arc::new(jira_provider::jira())).unwrap();
    let registry = Arc::new(registry);
    let service = WriteService::new(registry.clone(), test.host().clone());
    let tenant = TenantId::new("acme").unwrap();
    service
        .put_target(
            TargetInput::new(
                tenant.clone(),
                TargetId::new("jira").unwrap(),
                "jira::jira-cloud".parse().unwrap(),
            )
            .with_config(json!({"site_url": jira.uri()})),
        )
        .await
        .unwrap();
    service
        .put_connection(
            ConnectionInput::new(
                tenant.clone(),
                ConnectionId::new("jira-ada").unwrap(),
                TargetId::new("jira").unwrap(),
                ConnectionMethodId::new("api-token").unwrap(),
            )
            .with_config(json!({"email": "ada@acme.example"}))
            .with_secret("api_token", "jira-api-token-1"),
        )
        .await
        .unwrap();
    let mut publication = Publication::new(
        tenant,
        PublicationId::new("pub").unwrap(),
        ConnectionId::new("jira-ada").unwrap(),
        PublicationScope::Workspace {
            workspace: WorkspaceId::new("eng").unwrap(),
        },
        test.clock.now(),
    );
    for capability in ["issue.read", "comment.write"] {
        publication
            .capabilities
            .insert(Capability::new(capability).unwrap());
    }
    test.host()
        .publications()
        .put_publication(&publication)
        .await
        .unwrap();
    let tokens = Arc::new(TokenManager::new(registry.clone(), test.host().clone()));
    let runtime = Runtime::new(registry, test.host().clone(), tokens);
    Env {
        test,
        runtime,
        jira,
    }
}

fn call() -> CallContext {
    CallContext::new(
        Session::new(
            TenantId::new("acme").unwrap(),
            WorkspaceId::new("eng").unwrap(),
        ),
        ConnectionId::new("jira-ada").unwrap(),
    )
    .with_publication(PublicationId::new("pub").unwrap())
}

#[tokio::test]
async fn get_issue_runs_with_basic_auth_through_the_token_manager() {
    let env = env().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/issue/ENG-42"))
        .and(basic_auth("ada@acme.example", "jira-api-token-1"))
        // The definition's default header, added by the tool HTTP context.
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "10042", "key": "ENG-42",
            "fields": {"summary": "Fix the flaky test", "status": {"name": "In Progress"}},
        })))
        .expect(1)
        .mount(env.jira.server())
        .await;
    let result = env
        .runtime
        .call("jira_get_issue", json!({"issue": "ENG-42"}), &call())
        .await;
    assert_eq!(result.status, ToolStatus::Completed, "{:?}", result.failure);
    assert_eq!(
        result.structured_content,
        Some(json!({"key": "ENG-42", "summary": "Fix the flaky test", "status": "In Progress"}))
    );
    let _ = &env.test;
}

#[tokio::test]
async fn add_comment_asks_first_then_runs_once_approved() {
    let env = env().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue/ENG-42/comment"))
        .and(basic_auth("ada@acme.example", "jira-api-token-1"))
        // The definition's default header, added by the tool HTTP context.
        .and(header("accept", "application/json"))
        .and(body_json(json!({"body": "Fixed in #12."})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "777"})))
        .expect(1)
        .mount(env.jira.server())
        .await;
    let asked = env
        .runtime
        .call(
            "jira_add_comment",
            json!({"issue": "ENG-42", "body": "Fixed in #12."}),
            &call(),
        )
        .await;
    assert_eq!(asked.status, ToolStatus::ApprovalRequired);
    let approval = asked.approval.unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let approver = UserId::new("grace").unwrap();
    let done = env.runtime.approve(&tenant, &approval.id, &approver).await;
    assert_eq!(done.status, ToolStatus::Completed, "{:?}", done.failure);
    assert_eq!(done.structured_content, Some(json!({"id": "777"})));
    let again = env.runtime.approve(&tenant, &approval.id, &approver).await;
    assert_ne!(again.status, ToolStatus::Completed, "an approval runs once");
}

#[tokio::test]
async fn bad_arguments_never_reach_jira() {
    let env = env().await;
    let result = env
        .runtime
        .call("jira_get_issue", json!({"issue": "not a key"}), &call())
        .await;
    assert_eq!(result.status, ToolStatus::Failed);
    assert_eq!(result.failure.unwrap().code, "tool.invalid_arguments");
    env.jira.assert_no_unexpected();
}
