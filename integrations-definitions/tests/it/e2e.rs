//! End to end across the engines: what one engine produces, the next consumes. These
//! tests exist because each engine's own suite uses fakes at its seams.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use integrations_core::auth::{
    Authorizations, CompleteAuthorization, StartAuthorization, TokenManager,
};
use integrations_core::compile::{ProfileInput, compile};
use integrations_core::egress::{Classification, RouteIndex, inject};
use integrations_core::host::ReqwestHttpClient;
use integrations_core::model::{ConnectionScope, ProfileVersion};
use integrations_core::service::{BindingInput, TargetInput, WriteService};
use integrations_core::{
    BindingId, ConnectionMethodId, IntegrationKind, ProfileId, TargetId, TenantId,
};
use integrations_definitions::github::auth::INSTALLATION_METHOD;
use integrations_testkit::TestHost;
use integrations_testkit::mock::oauth::GitHubMock;
use serde_json::json;

const CALLBACK: &str = "https://app.example.com/oauth/callback";

/// A GitHub App installation connected through the auth engine, bound to a sandbox
/// profile, compiled into routes, classified by the egress index, and injected by the
/// real token manager: the installation token the mock mints, narrowed to the binding's
/// repositories, lands on the git and API requests, and is minted once.
#[tokio::test]
async fn an_app_installation_compiles_to_routes_the_token_manager_injects() {
    let github = GitHubMock::start().await;
    let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new().unwrap()));
    let github = github.with_clock(test.clock.clone());
    let registry = Arc::new(integrations_definitions::registry());
    let tenant = TenantId::new("acme").unwrap();

    // Web (installation pages, git) and API on one mock server under two host names, so
    // the git routes and the API's root route do not overlap, as on github.com.
    let web = github.uri();
    let api = web.replace("127.0.0.1", "localhost");
    let mut config = github.target_config();
    config["api_base_url"] = json!(api);
    WriteService::new(registry.clone(), test.host().clone())
        .put_target(
            TargetInput::new(
                tenant.clone(),
                TargetId::new("github").unwrap(),
                "github::github-cloud".parse().unwrap(),
            )
            .with_config(config)
            .with_secrets(github.target_secrets()),
        )
        .await
        .unwrap();

    let auth = Authorizations::new(registry.clone(), test.host().clone());
    let redirect = auth
        .start(StartAuthorization::create(
            tenant.clone(),
            TargetId::new("github").unwrap(),
            ConnectionMethodId::new(INSTALLATION_METHOD).unwrap(),
            CALLBACK,
            ConnectionScope::Organization,
        ))
        .await
        .unwrap();
    let query = github.install(&redirect.url).unwrap();
    let connection = auth
        .complete(CompleteAuthorization::new(tenant.clone(), CALLBACK, query))
        .await
        .unwrap();
    assert_eq!(
        connection.external_subject.as_deref(),
        Some(github.installation_id().to_string().as_str())
    );

    let version = ProfileVersion::new(ProfileId::new("sandbox").unwrap(), 1);
    WriteService::new(registry.clone(), test.host().clone())
        .put_binding(
            BindingInput::new(
                tenant.clone(),
                BindingId::new("code").unwrap(),
                version.clone(),
                connection.id.clone(),
                IntegrationKind::Git,
            )
            .with_config(json!({"repositories": ["octo-org/other-repo", "octo-org/octo-repo"]})),
        )
        .await
        .unwrap();
    let profile = ProfileInput::load(test.host(), &tenant, &version)
        .await
        .unwrap();
    let plan = compile(&registry, &profile).unwrap();
    let index = RouteIndex::from_plan(&plan).unwrap();
    let tokens = TokenManager::new(registry.clone(), test.host().clone());

    // Git over HTTPS: Basic with the x-access-token user.
    let git = http::Request::post(format!("{web}/octo-org/octo-repo.git/git-upload-pack"))
        .header("authorization", "Bearer caller-supplied-must-go")
        .body(Bytes::new())
        .unwrap();
    let Classification::Route(route) = index.classify("POST", &git.uri().to_string()) else {
        panic!("the git request matches one route");
    };
    let injected = inject(git, route, &connection, &tokens).await.unwrap();
    let minted = github.installation_token_requests();
    assert_eq!(minted.len(), 1);
    assert_eq!(minted[0].installation_id, github.installation_id());
    assert_eq!(
        minted[0].repositories.as_deref(),
        Some(&["octo-repo".to_owned(), "other-repo".to_owned()][..])
    );
    let token = github.issued_secrets().last().cloned().unwrap();
    let basic = injected.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        basic,
        format!(
            "Basic {}",
            STANDARD.encode(format!("x-access-token:{token}"))
        )
    );

    // The REST API: Bearer with the same, cached token.
    let rest = http::Request::get(format!("{api}/repos/octo-org/octo-repo/issues"))
        .body(Bytes::new())
        .unwrap();
    let Classification::Route(route) = index.classify("GET", &rest.uri().to_string()) else {
        panic!("the API request matches one route");
    };
    let injected = inject(rest, route, &connection, &tokens).await.unwrap();
    assert_eq!(
        injected.headers()["authorization"].to_str().unwrap(),
        format!("Bearer {token}")
    );
    assert_eq!(
        injected.headers()["x-github-api-version"].to_str().unwrap(),
        "2022-11-28"
    );
    assert_eq!(
        github.installation_token_requests().len(),
        1,
        "the token is cached"
    );

    // Another repository of the installation is not in the plan: no credential.
    assert!(matches!(
        index.classify(
            "POST",
            &format!("{web}/octo-org/third-repo.git/git-upload-pack")
        ),
        Classification::NoMatch
    ));
    // The plan itself holds no secret.
    let plan_json = String::from_utf8(plan.to_canonical_json()).unwrap();
    assert!(!plan_json.contains(&token));
    assert!(!plan_json.contains("BEGIN RSA PRIVATE KEY"));
}

/// A tool call whose OAuth token the provider refuses (it expired there early): the tool
/// runtime asks the real token manager, which refreshes once at the token endpoint (the
/// refresh token rotates), and the call is retried and succeeds; the next call uses the
/// new token without refreshing again.
#[tokio::test]
async fn a_refused_token_is_refreshed_by_the_token_manager_and_the_tool_retried() {
    use integrations_core::model::{Capability, Publication, PublicationScope};
    use integrations_core::tools::{CallContext, Runtime, Session, ToolStatus};
    use integrations_core::{PublicationId, UserId, WorkspaceId};
    use integrations_testkit::mock::api::LinearApi;
    use integrations_testkit::mock::oauth::LinearMock;

    let linear = LinearMock::start().await;
    let api = LinearApi::start().await;
    api.serve_with(&linear).await;
    api.add_team("ENG", "Engineering");
    let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new().unwrap()));
    let registry = Arc::new(integrations_definitions::registry());
    let tenant = TenantId::new("acme").unwrap();
    WriteService::new(registry.clone(), test.host().clone())
        .put_target(
            TargetInput::new(
                tenant.clone(),
                TargetId::new("linear").unwrap(),
                "linear::linear-default".parse().unwrap(),
            )
            .with_config(linear.target_config())
            .with_secrets(linear.target_secrets()),
        )
        .await
        .unwrap();
    let auth = Authorizations::new(registry.clone(), test.host().clone());
    let redirect = auth
        .start(StartAuthorization::create(
            tenant.clone(),
            TargetId::new("linear").unwrap(),
            ConnectionMethodId::new("oauth2").unwrap(),
            CALLBACK,
            ConnectionScope::Organization,
        ))
        .await
        .unwrap();
    let query = linear.authorize(&redirect.url).unwrap();
    let connection = auth
        .complete(CompleteAuthorization::new(tenant.clone(), CALLBACK, query))
        .await
        .unwrap();

    let workspace = WorkspaceId::new("eng").unwrap();
    let mut publication = Publication::new(
        tenant.clone(),
        PublicationId::new("p").unwrap(),
        connection.id.clone(),
        PublicationScope::Workspace {
            workspace: workspace.clone(),
        },
        integrations_core::host::Clock::now(&*test.clock),
    );
    publication
        .capabilities
        .insert(Capability::new("team.read").unwrap());
    test.host()
        .publications()
        .put_publication(&publication)
        .await
        .unwrap();
    let tokens = Arc::new(TokenManager::new(registry.clone(), test.host().clone()));
    let runtime = Runtime::new(registry, test.host().clone(), tokens);
    let call = CallContext::new(
        Session::new(tenant.clone(), workspace).with_user(UserId::new("ada").unwrap()),
        connection.id.clone(),
    )
    .with_publication(PublicationId::new("p").unwrap());

    let first = runtime.call("linear_list_teams", json!({}), &call).await;
    assert_eq!(first.status, ToolStatus::Completed, "{:?}", first.failure);
    assert_eq!(linear.refresh_requests(), 0);

    linear.expire_access_tokens();
    let second = runtime.call("linear_list_teams", json!({}), &call).await;
    assert_eq!(second.status, ToolStatus::Completed, "{:?}", second.failure);
    assert_eq!(second.structured_content.unwrap()["teams"][0]["key"], "ENG");
    assert_eq!(
        linear.refresh_requests(),
        1,
        "one refresh, then the call was retried"
    );
    let third = runtime.call("linear_list_teams", json!({}), &call).await;
    assert_eq!(third.status, ToolStatus::Completed);
    assert_eq!(
        linear.refresh_requests(),
        1,
        "the refreshed token is reused"
    );
    // The rotated refresh token was stored with the new access token.
    let stored = test.store.raw_credentials(&tenant, &connection.id).unwrap();
    assert!(stored.version >= 2);
}
