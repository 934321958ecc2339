//! Each shipped provider's connection flows, end to end through the real
//! `ReqwestHttpClient` against its loopback mock: authorization code with PKCE, refresh
//! with rotation, provider quirks, GitHub App installations and installation tokens, and
//! API keys verified by the definition's identity check.

use std::sync::Arc;
use std::time::Duration;

use integrations_core::auth::{
    ApiKeyConnections, Authorizations, CompleteAuthorization, DISCONNECTED, Disconnect,
    Disconnected, RemoteRevocation, StartAuthorization, TokenManager,
};
use integrations_core::credential::{CredentialRequest, CredentialSource};
use integrations_core::host::{Clock, ConnectionStore, HttpClient, ReqwestHttpClient};
use integrations_core::model::{Connection, ConnectionScope, ConnectionStatus, CredentialType};
use integrations_core::plan::CredentialSelector;
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::{ConnectionId, ErrorKind, Registry, TargetId, TenantId};
use integrations_definitions::github::auth::{INSTALLATION_METHOD, INSTALLATION_TOKEN_RESOLVER};
use integrations_testkit::mock::MockProvider;
use integrations_testkit::mock::oauth::{
    ClientAuthSeen, FailureMode, GITHUB_APP_TEST_KEY_PEM, GitHubMock, InstallationTokenRequest,
    LinearMock, SlackMock,
};
use integrations_testkit::{TestHost, assert_secret_free};
use serde_json::{Value, json};

const REDIRECT: &str = "https://app.example.com/integrations/callback";

struct Env {
    test: TestHost,
    registry: Arc<Registry>,
}

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn target() -> TargetId {
    TargetId::new("provider").unwrap()
}

impl Env {
    async fn new(key: &str, config: Value, secrets: Value) -> Self {
        Self::with_http(
            key,
            config,
            secrets,
            Arc::new(ReqwestHttpClient::new().unwrap()),
        )
        .await
    }

    async fn with_http(
        key: &str,
        config: Value,
        secrets: Value,
        http: Arc<dyn HttpClient>,
    ) -> Self {
        let test = TestHost::with_http(http);
        let registry = Arc::new(integrations_definitions::registry());
        WriteService::new(registry.clone(), test.host().clone())
            .put_target(
                TargetInput::new(tenant(), target(), key.parse().unwrap())
                    .with_config(config)
                    .with_secrets(secrets),
            )
            .await
            .unwrap();
        Self { test, registry }
    }

    /// A `github::github-cloud` target pointed at `mock`.
    async fn github(mock: &GitHubMock) -> Self {
        Self::new(
            "github::github-cloud",
            mock.target_config(),
            mock.target_secrets(),
        )
        .await
    }

    fn auth(&self) -> Authorizations {
        Authorizations::new(self.registry.clone(), self.test.host().clone())
    }

    fn tokens(&self) -> TokenManager {
        TokenManager::new(self.registry.clone(), self.test.host().clone())
    }

    async fn start(&self, method: &str, scopes: Option<&[&str]>) -> String {
        let mut request = StartAuthorization::create(
            tenant(),
            target(),
            method.parse().unwrap(),
            REDIRECT,
            ConnectionScope::Organization,
        );
        if let Some(scopes) = scopes {
            request = request.with_scopes(scopes.iter().copied());
        }
        self.auth().start(request).await.unwrap().url
    }

    async fn complete(&self, query: String) -> Result<Connection, integrations_core::Error> {
        self.auth()
            .complete(CompleteAuthorization::new(tenant(), REDIRECT, query))
            .await
    }

    async fn status(&self, connection: &Connection) -> ConnectionStatus {
        self.test
            .store
            .get_connection(&tenant(), &connection.id)
            .await
            .unwrap()
            .unwrap()
            .status
    }
}

fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn github_authorization_code_with_pkce_refresh_and_rotation() {
    let mock = GitHubMock::start().await;
    let env = Env::github(&mock).await;
    let url = env.start("oauth2", None).await;
    assert_eq!(param(&url, "scope").as_deref(), Some("repo"));
    assert!(param(&url, "code_challenge").is_some());
    let connection = env.complete(mock.authorize(&url).unwrap()).await.unwrap();
    // GitHub App user tokens carry no scopes.
    assert!(connection.granted_scopes.is_empty());
    let requests = mock.token_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].client_auth, ClientAuthSeen::Body);
    assert!(requests[0].code_verifier);

    let tokens = env.tokens();
    let first = tokens.access_token(&connection).await.unwrap();
    assert!(first.value.expose().starts_with("ghu_"));
    env.test.clock.advance(Duration::from_secs(8 * 3600));
    let second = tokens.access_token(&connection).await.unwrap();
    assert_ne!(first.value.expose(), second.value.expose());
    assert_eq!(mock.refresh_requests(), 1);

    // GitHub refuses a dead refresh token with HTTP 200 and `bad_refresh_token`: the
    // connection goes to error.
    mock.set_failure(FailureMode::Revoked);
    env.test.clock.advance(Duration::from_secs(8 * 3600));
    let e = tokens.access_token(&connection).await.unwrap_err();
    assert_eq!(e.code(), "oauth.invalid_grant");
    assert!(matches!(
        env.status(&connection).await,
        ConnectionStatus::Error { .. }
    ));
}

/// A GitHub OAuth grant is its user's: the user's id is the connection's subject
/// (`user:<id>`), so the same user connecting again reauthorizes their connection, and
/// reauthorizing it as another user is refused and changes nothing. Prefixed, it never
/// equals an installation id, which GitHub's App webhooks are routed by: here the other
/// user's id is the installation's.
#[tokio::test]
async fn a_github_oauth_connection_is_its_users_and_not_another_installations() {
    use integrations_core::model::AuthorizationIntent;
    let mock = GitHubMock::start().await;
    let env = Env::github(&mock).await;
    let url = env.start("oauth2", None).await;
    let first = env.complete(mock.authorize(&url).unwrap()).await.unwrap();
    assert_eq!(first.external_subject.as_deref(), Some("user:583231"));
    let url = env.start("oauth2", None).await;
    let again = env.complete(mock.authorize(&url).unwrap()).await.unwrap();
    assert_eq!(again.id, first.id, "the same user, the same connection");
    let stored = env.test.store.raw_credentials(&tenant(), &first.id);

    mock.sign_in_as("hubot", mock.installation_id());
    let reauthorize = StartAuthorization::new(
        tenant(),
        target(),
        "oauth2".parse().unwrap(),
        REDIRECT,
        AuthorizationIntent::Reauthorize {
            connection: first.id.clone(),
        },
    );
    let url = env.auth().start(reauthorize).await.unwrap().url;
    let refused = env
        .complete(mock.authorize(&url).unwrap())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "auth.subject_mismatch");
    assert_eq!(
        env.test.store.raw_credentials(&tenant(), &first.id),
        stored,
        "the first user's tokens are kept"
    );

    let url = env.start("oauth2", None).await;
    let other = env.complete(mock.authorize(&url).unwrap()).await.unwrap();
    assert_ne!(other.id, first.id);
    let subject = format!("user:{}", mock.installation_id());
    assert_eq!(other.external_subject.as_deref(), Some(subject.as_str()));
    let by_installation = env
        .test
        .store
        .find_connections(&integrations_core::host::ConnectionQuery::by_subject(
            "github::github-cloud".parse().unwrap(),
            mock.installation_id().to_string(),
        ))
        .await
        .unwrap();
    assert!(by_installation.is_empty(), "{by_installation:?}");
}

#[tokio::test]
async fn github_oauth_app_tokens_with_comma_scopes_never_expire() {
    let mock = GitHubMock::start_oauth_app().await;
    let env = Env::github(&mock).await;
    let url = env.start("oauth2", Some(&["repo", "gist"])).await;
    // Requested space-separated, granted comma-separated (`repo,gist`).
    assert_eq!(param(&url, "scope").as_deref(), Some("repo gist"));
    let connection = env.complete(mock.authorize(&url).unwrap()).await.unwrap();
    assert_eq!(connection.granted_scopes, ["repo", "gist"]);
    let tokens = env.tokens();
    let token = tokens.access_token(&connection).await.unwrap();
    assert!(token.value.expose().starts_with("gho_"));
    assert!(token.expires_at.is_none());
    env.test.clock.advance(Duration::from_secs(365 * 86_400));
    tokens.access_token(&connection).await.unwrap();
    assert_eq!(mock.refresh_requests(), 0);
}

#[tokio::test]
async fn github_errors_in_http_200_store_nothing() {
    let mock = GitHubMock::start().await;
    let env = Env::github(&mock).await;
    let url = env.start("oauth2", None).await;
    let query = mock.authorize(&url).unwrap();
    let state = param(&format!("https://x.test/?{query}"), "state").unwrap();
    let baseline = env.test.store.record_count();
    let e = env
        .complete(format!("code=not-the-code&state={state}"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Provider, "oauth.token_error")
    );
    assert!(e.message().contains("bad_verification_code"));
    assert_eq!(env.test.store.record_count(), baseline - 1);
}

#[tokio::test]
async fn github_app_installation_and_narrowed_installation_tokens() {
    let mock = GitHubMock::start().await;
    let env = Env::github(&mock).await;
    let mock = mock.with_clock(env.test.clock.clone() as Arc<dyn Clock>);
    let url = env.start(INSTALLATION_METHOD, None).await;
    assert!(url.starts_with(&format!(
        "{}/apps/acme-agent/installations/new?state=",
        mock.uri()
    )));
    let query = mock.install(&url).unwrap();
    assert!(query.starts_with("code="));
    let connection = env.complete(query).await.unwrap();
    assert_eq!(connection.external_subject.as_deref(), Some("41234567"));
    assert_eq!(connection.method.as_str(), INSTALLATION_METHOD);
    // The installing user proved access with the callback's code; their token was used
    // for that check only.
    assert_eq!(mock.code_exchanges(), 1);
    assert!(
        env.test
            .store
            .raw_credentials(&tenant(), &connection.id)
            .is_none()
    );

    let tokens = env.tokens();
    let narrowed = CredentialSelector::of_type(CredentialType::OAUTH2_ACCESS_TOKEN)
        .with_resolver(INSTALLATION_TOKEN_RESOLVER)
        .with_parameter(
            "repositories",
            json!(["octo-org/octo-repo", "octo-org/octo-repo"]),
        );
    let request = CredentialRequest::new(&connection, &narrowed);
    let token = tokens.credential(&request).await.unwrap();
    assert!(token.value.expose().starts_with("ghs_"));
    assert_eq!(
        token.expires_at,
        Some(
            env.test
                .host()
                .clock()
                .now()
                .saturating_add(Duration::from_secs(3600))
        )
    );
    // Cached until a few minutes before expiry.
    env.test.clock.advance(Duration::from_secs(54 * 60));
    assert_eq!(
        tokens.credential(&request).await.unwrap().value.expose(),
        token.value.expose()
    );
    env.test.clock.advance(Duration::from_secs(2 * 60));
    assert_ne!(
        tokens.credential(&request).await.unwrap().value.expose(),
        token.value.expose()
    );
    // The default resolver mints an unnarrowed token for the installation.
    tokens.access_token(&connection).await.unwrap();
    assert_eq!(
        mock.installation_token_requests(),
        vec![
            InstallationTokenRequest::new(41_234_567, Some(vec!["octo-repo".to_owned()])),
            InstallationTokenRequest::new(41_234_567, Some(vec!["octo-repo".to_owned()])),
            InstallationTokenRequest::new(41_234_567, None),
        ]
    );
    let refreshed = env.test.audit.with_action("credential.refreshed");
    assert_eq!(refreshed.len(), 3);

    // Uninstalled: the resolver reports the grant gone and the connection goes to error.
    mock.uninstall(41_234_567);
    tokens.forget(&connection);
    let e = tokens.credential(&request).await.unwrap_err();
    assert_eq!(e.code(), "auth.credential_revoked");
    assert!(matches!(
        env.status(&connection).await,
        ConnectionStatus::Error { .. }
    ));
}

/// A 404 while minting is the installation gone only when GitHub knows the App: with
/// the target's API base wrong (a GitHub Enterprise Server path mistyped), every
/// request 404s, and that is a configuration error, which marks no connection.
#[tokio::test]
async fn a_wrong_api_base_is_a_configuration_error_not_a_revoked_installation() {
    let mock = GitHubMock::start().await;
    let env = Env::github(&mock).await;
    let mock = mock.with_clock(env.test.clock.clone() as Arc<dyn Clock>);
    let url = env.start(INSTALLATION_METHOD, None).await;
    let connection = env.complete(mock.install(&url).unwrap()).await.unwrap();
    let targets = env.test.host().targets();
    let mut stored = targets
        .get_target(&tenant(), &target())
        .await
        .unwrap()
        .unwrap();
    // Another server, which answers 404 to every path it does not serve.
    let elsewhere = wiremock::MockServer::start().await;
    stored.config["api_base_url"] = json!(elsewhere.uri());
    targets.put_target(&stored).await.unwrap();
    let tokens = TokenManager::new(env.registry.clone(), env.test.host().clone());
    let e = tokens.access_token(&connection).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Configuration, "github.app_not_found"),
        "{e:?}"
    );
    assert_eq!(env.status(&connection).await, ConnectionStatus::Active);
    let asked: Vec<String> = elsewhere
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        asked,
        ["POST /app/installations/41234567/access_tokens", "GET /app"]
    );

    // Fixed, the same connection works; uninstalled, it is revoked (GitHub knows the
    // App, not the installation).
    stored.config["api_base_url"] = json!(mock.uri());
    targets.put_target(&stored).await.unwrap();
    tokens.access_token(&connection).await.unwrap();
    mock.uninstall(41_234_567);
    tokens.forget(&connection);
    let e = tokens.access_token(&connection).await.unwrap_err();
    assert_eq!(e.code(), "auth.credential_revoked");
}

/// An installation token is narrowed by bare names, which GitHub resolves inside the
/// installation's account: a repository of another owner is refused before anything is
/// minted (owners compare case-insensitively, as GitHub logins do).
#[tokio::test]
async fn an_installation_token_is_never_narrowed_to_another_owners_repository() {
    let mock = GitHubMock::start().await;
    let env = Env::github(&mock).await;
    let mock = mock.with_clock(env.test.clock.clone() as Arc<dyn Clock>);
    let url = env.start(INSTALLATION_METHOD, None).await;
    let connection = env.complete(mock.install(&url).unwrap()).await.unwrap();
    let tokens = env.tokens();
    let narrowed = |repositories: Value| {
        CredentialSelector::of_type(CredentialType::OAUTH2_ACCESS_TOKEN)
            .with_resolver(INSTALLATION_TOKEN_RESOLVER)
            .with_parameter("repositories", repositories)
    };

    // `octo-org` installed the App; `acme-labs/octo-repo` would be sent as `octo-repo`
    // and reach `octo-org/octo-repo`.
    let selector = narrowed(json!(["octo-org/other-repo", "acme-labs/octo-repo"]));
    let e = tokens
        .credential(&CredentialRequest::new(&connection, &selector))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (
            ErrorKind::Configuration,
            "github.repository_outside_installation"
        )
    );
    assert!(e.message().contains("acme-labs/octo-repo"), "{e}");
    assert!(!e.is_temporary());
    assert!(
        mock.installation_token_requests().is_empty(),
        "nothing was minted"
    );
    // The connection is fine; only the narrowing was wrong.
    assert_eq!(env.status(&connection).await, ConnectionStatus::Active);

    // The account's own repositories, whatever the case of the owner, are minted for.
    let selector = narrowed(json!(["Octo-Org/octo-repo", "octo-org/other-repo"]));
    let token = tokens
        .credential(&CredentialRequest::new(&connection, &selector))
        .await
        .unwrap();
    assert!(token.value.expose().starts_with("ghs_"));
    assert_eq!(
        mock.installation_token_requests(),
        [InstallationTokenRequest::new(
            41_234_567,
            Some(vec!["octo-repo".to_owned(), "other-repo".to_owned()])
        )]
    );
}

type PathAndAgent = (String, Option<String>);

/// Every App API request (the installation lookup, the token mint) carries the
/// `User-Agent` GitHub requires.
#[tokio::test]
async fn github_app_requests_carry_a_user_agent() {
    let mock = GitHubMock::start().await;
    // Each request's path and User-Agent, as the host's HTTP client received it.
    let seen: Arc<std::sync::Mutex<Vec<PathAndAgent>>> = Arc::default();
    let reqwest = Arc::new(ReqwestHttpClient::new().unwrap());
    let recording = integrations_core::host::from_fn({
        let seen = seen.clone();
        move |request: http::Request<bytes::Bytes>| {
            let (seen, reqwest) = (seen.clone(), reqwest.clone());
            async move {
                let agent = request
                    .headers()
                    .get(http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                seen.lock()
                    .unwrap()
                    .push((request.uri().path().to_owned(), agent));
                reqwest.send(request).await
            }
        }
    });
    let env = Env::with_http(
        "github::github-cloud",
        mock.target_config(),
        mock.target_secrets(),
        Arc::new(recording),
    )
    .await;
    let mock = mock.with_clock(env.test.clock.clone() as Arc<dyn Clock>);
    let url = env.start(INSTALLATION_METHOD, None).await;
    let connection = env.complete(mock.install(&url).unwrap()).await.unwrap();
    let selector = CredentialSelector::of_type(CredentialType::OAUTH2_ACCESS_TOKEN)
        .with_resolver(INSTALLATION_TOKEN_RESOLVER)
        .with_parameter("repositories", json!(["octo-org/octo-repo"]));
    env.tokens()
        .credential(&CredentialRequest::new(&connection, &selector))
        .await
        .unwrap();
    let app: Vec<PathAndAgent> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.starts_with("/app/"))
        .cloned()
        .collect();
    let paths: Vec<&str> = app.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/app/installations/41234567",
            "/app/installations/41234567",
            "/app/installations/41234567/access_tokens",
        ]
    );
    for (path, agent) in &app {
        let agent = agent.as_deref().unwrap_or_default();
        assert!(agent.starts_with("integrations-rs/"), "{path}: {agent:?}");
    }
}

/// GitHub's rate limits on the App API (a 403 that is a primary or secondary limit, a
/// 429) are temporary, with the wait GitHub asks for; other refusals are not.
#[tokio::test]
async fn github_app_rate_limits_are_temporary_with_githubs_wait() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let github = MockProvider::start().await;
    let env = Env::new(
        "github::github-cloud",
        json!({
            "api_base_url": github.uri(),
            "web_base_url": github.uri(),
            "app_id": 123_456,
            "app_slug": "acme-agent",
            "client_id": "Iv1.8a61f9b3a7aba766",
        }),
        json!({"app_private_key_pem": GITHUB_APP_TEST_KEY_PEM, "client_secret": "s3cr3t"}),
    )
    .await;
    env.test
        .clock
        .set(integrations_core::Timestamp::from_unix_seconds(
            1_790_000_000,
        ));
    let reset = (1_790_000_000_i64 + 120).to_string();
    let message =
        |text: &str| json!({"message": text, "documentation_url": "https://docs.github.com/rest"});
    let answers = [
        // The primary limit: wait until the reset.
        ResponseTemplate::new(403)
            .set_body_json(message("API rate limit exceeded for installation ID 42."))
            .insert_header("x-ratelimit-remaining", "0")
            .insert_header("x-ratelimit-reset", reset.as_str()),
        // A secondary limit with retry-after, quota left.
        ResponseTemplate::new(403)
            .set_body_json(message("You have exceeded a secondary rate limit. Please wait a few minutes before you try again."))
            .insert_header("retry-after", "61")
            .insert_header("x-ratelimit-remaining", "4000")
            .insert_header("x-ratelimit-reset", reset.as_str()),
        // A secondary limit without retry-after: at least a minute.
        ResponseTemplate::new(403)
            .set_body_json(message("You have exceeded a secondary rate limit. Please wait a few minutes before you try again."))
            .insert_header("x-ratelimit-remaining", "4000"),
        ResponseTemplate::new(429).insert_header("retry-after", "7"),
        // Not a limit: refused for good.
        ResponseTemplate::new(403)
            .set_body_json(message("Resource not accessible by integration"))
            .insert_header("x-ratelimit-remaining", "4999"),
    ];
    for answer in answers {
        Mock::given(method("POST"))
            .and(path("/app/installations/42/access_tokens"))
            .respond_with(answer)
            .up_to_n_times(1)
            .expect(1)
            .mount(github.server())
            .await;
    }
    let mut connection = Connection::new(
        tenant(),
        ConnectionId::new("install").unwrap(),
        target(),
        "github::github-cloud".parse().unwrap(),
        INSTALLATION_METHOD.parse().unwrap(),
        env.test.clock.now(),
    );
    connection.external_subject = Some("42".to_owned());
    env.test.store.put_connection(&connection).await.unwrap();
    let tokens = env.tokens();
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        let e = tokens.access_token(&connection).await.unwrap_err();
        outcomes.push((e.code().to_owned(), e.is_temporary(), e.retry_after()));
    }
    let limited = |secs| {
        (
            "github.rate_limited".to_owned(),
            true,
            Some(Duration::from_secs(secs)),
        )
    };
    assert_eq!(
        outcomes,
        [
            limited(120),
            limited(61),
            limited(60),
            limited(7),
            ("github.app_request_refused".to_owned(), false, None),
        ]
    );

    // The installation lookup of the installation callback reads them the same way.
    Mock::given(method("GET"))
        .and(path("/app/installations/42"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "30"))
        .expect(1)
        .mount(github.server())
        .await;
    let url = env.start(INSTALLATION_METHOD, None).await;
    let state = param(&url, "state").unwrap();
    let e = env
        .complete(format!(
            "code=abc&installation_id=42&setup_action=install&state={state}"
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.is_temporary(), e.retry_after()),
        ("github.rate_limited", true, Some(Duration::from_secs(30)))
    );
}

#[tokio::test]
async fn a_forged_installation_id_is_refused() {
    let mock = GitHubMock::start().await;
    let env = Env::github(&mock).await;
    let mock = mock.with_clock(env.test.clock.clone() as Arc<dyn Clock>);
    let url = env.start(INSTALLATION_METHOD, None).await;
    let query = mock.install(&url).unwrap().replace("41234567", "99999");
    let baseline = env.test.store.record_count();
    let e = env.complete(query).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Verification, "github.installation_not_found")
    );
    assert_eq!(env.test.store.record_count(), baseline - 1);
    let url = env.start(INSTALLATION_METHOD, None).await;
    let state = param(&url, "state").unwrap();
    let e = env
        .complete(format!(
            "installation_id=abc&setup_action=install&state={state}"
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "github.invalid_installation_id");
}

#[tokio::test]
async fn an_installation_the_user_cannot_access_is_refused() {
    let mock = GitHubMock::start().await;
    let env = Env::github(&mock).await;
    let mock = mock.with_clock(env.test.clock.clone() as Arc<dyn Clock>);
    // Another organization installed the same App: the App can see the installation,
    // the user completing this callback cannot.
    mock.add_installation(77_000_001, "someone-else", false);
    let url = env.start(INSTALLATION_METHOD, None).await;
    let query = mock
        .install(&url)
        .unwrap()
        .replace("installation_id=41234567", "installation_id=77000001");
    let baseline = env.test.store.record_count();
    let e = env.complete(query).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Verification, "github.installation_not_owned")
    );
    // Only the state was consumed; no connection was stored.
    assert_eq!(env.test.store.record_count(), baseline - 1);
    assert_secret_free(&e, mock.client_secret());
    // The code was exchanged for a user token, with the client secret in the body.
    let exchanges = mock.token_requests();
    assert_eq!(exchanges.len(), 1);
    assert_eq!(
        (exchanges[0].grant_type.as_str(), exchanges[0].client_auth),
        ("authorization_code", ClientAuthSeen::Body)
    );
}

#[tokio::test]
async fn the_installation_is_found_on_a_later_page_of_the_users_installations() {
    let mock = GitHubMock::start().await;
    let env = Env::github(&mock).await;
    let mock = mock.with_clock(env.test.clock.clone() as Arc<dyn Clock>);
    // 150 installations the user can access, ordered before the one being installed:
    // it is on the second page of 100.
    for n in 0..150 {
        mock.add_installation(1_000 + n, &format!("org-{n}"), true);
    }
    let url = env.start(INSTALLATION_METHOD, None).await;
    let connection = env.complete(mock.install(&url).unwrap()).await.unwrap();
    assert_eq!(connection.external_subject.as_deref(), Some("41234567"));
}

#[tokio::test]
async fn an_installation_callback_without_a_code_is_unverified_unless_the_target_opts_out() {
    let mock = GitHubMock::start().await;
    mock.set_user_authorization_on_install(false);
    let env = Env::github(&mock).await;
    let mock = mock.with_clock(env.test.clock.clone() as Arc<dyn Clock>);
    let url = env.start(INSTALLATION_METHOD, None).await;
    let query = mock.install(&url).unwrap();
    assert!(!query.contains("code="));
    let baseline = env.test.store.record_count();
    let e = env.complete(query).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Verification, "github.installation_unverified")
    );
    assert_eq!(env.test.store.record_count(), baseline - 1);
    assert_eq!(mock.code_exchanges(), 0);

    // A bad code is refused by GitHub, and so by the flow.
    let url = env.start(INSTALLATION_METHOD, None).await;
    let query = format!("code=not-a-code&{}", mock.install(&url).unwrap());
    let e = env.complete(query).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Verification, "github.installation_code_rejected")
    );
    assert!(e.message().contains("bad_verification_code"));

    // A host that verifies the installing user itself opts out.
    let mut config = mock.target_config();
    config["verify_installation_owner"] = json!(false);
    let opted_out = Env::new("github::github-cloud", config, mock.target_secrets()).await;
    let url = opted_out.start(INSTALLATION_METHOD, None).await;
    let connection = opted_out
        .complete(mock.install(&url).unwrap())
        .await
        .unwrap();
    assert_eq!(connection.external_subject.as_deref(), Some("41234567"));
}

#[tokio::test]
async fn linear_authorization_code_names_the_organization_and_rotates() {
    let mock = LinearMock::start().await;
    let env = Env::new(
        "linear::linear-default",
        mock.target_config(),
        mock.target_secrets(),
    )
    .await;
    let url = env.start("oauth2", None).await;
    assert_eq!(param(&url, "scope").as_deref(), Some("read,write"));
    assert_eq!(param(&url, "actor").as_deref(), Some("user"));
    let connection = env.complete(mock.authorize(&url).unwrap()).await.unwrap();
    assert_eq!(
        connection.external_subject.as_deref(),
        Some(mock.organization_id())
    );
    assert_eq!(connection.granted_scopes, ["read", "write"]);

    let tokens = env.tokens();
    tokens.access_token(&connection).await.unwrap();
    for _ in 0..3 {
        env.test.clock.advance(Duration::from_secs(86_400));
        tokens.access_token(&connection).await.unwrap();
    }
    assert_eq!(mock.refresh_requests(), 3);
}

#[tokio::test]
async fn linear_scope_arrays_of_old_apps_are_read() {
    let mock = LinearMock::start().await;
    mock.use_array_scopes(true);
    let env = Env::new(
        "linear::linear-default",
        mock.target_config(),
        mock.target_secrets(),
    )
    .await;
    let url = env.start("oauth2", Some(&["read", "issues:create"])).await;
    let connection = env.complete(mock.authorize(&url).unwrap()).await.unwrap();
    assert_eq!(connection.granted_scopes, ["read", "issues:create"]);
}

#[tokio::test]
async fn slack_oauth_v2_with_ok_false_errors_and_rotation() {
    let mock = SlackMock::start().await;
    let env = Env::new(
        "slack::slack-default",
        mock.target_config(),
        mock.target_secrets(),
    )
    .await;
    let url = env
        .start("oauth2", Some(&["commands", "incoming-webhook"]))
        .await;
    assert_eq!(
        param(&url, "scope").as_deref(),
        Some("commands,incoming-webhook")
    );
    let query = mock.authorize(&url).unwrap();
    let connection = env.complete(query.clone()).await.unwrap();
    assert_eq!(connection.external_subject.as_deref(), Some(mock.team_id()));
    assert_eq!(connection.granted_scopes, ["commands", "incoming-webhook"]);
    assert_eq!(mock.token_requests()[0].client_auth, ClientAuthSeen::Basic);

    // A used code: HTTP 200 with ok:false.
    let url = env.start("oauth2", None).await;
    let state = param(&url, "state").unwrap();
    let code = param(&format!("https://x.test/?{query}"), "code").unwrap();
    let e = env
        .complete(format!("code={code}&state={state}"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oauth.token_error");
    assert!(e.message().contains("invalid_code"));

    let tokens = env.tokens();
    let first = tokens.access_token(&connection).await.unwrap();
    assert!(first.value.expose().starts_with("xoxe.xoxb-"));
    env.test.clock.advance(Duration::from_secs(12 * 3600));
    let second = tokens.access_token(&connection).await.unwrap();
    assert_ne!(first.value.expose(), second.value.expose());
    mock.set_failure(FailureMode::Revoked);
    env.test.clock.advance(Duration::from_secs(12 * 3600));
    let e = tokens.access_token(&connection).await.unwrap_err();
    assert_eq!(e.code(), "oauth.invalid_grant");
    assert!(matches!(
        env.status(&connection).await,
        ConnectionStatus::Error { .. }
    ));
}

async fn connect_key(
    env: &Env,
    id: &str,
    field: &str,
    key: &str,
) -> Result<Connection, integrations_core::Error> {
    ApiKeyConnections::new(env.registry.clone(), env.test.host().clone())
        .connect(
            ConnectionInput::new(
                tenant(),
                ConnectionId::new(id).unwrap(),
                target(),
                "api-key".parse().unwrap(),
            )
            .with_secret(field, key),
        )
        .await
}

#[tokio::test]
async fn api_keys_are_verified_by_the_identity_check() {
    // GitHub: GET /user.
    let github = GitHubMock::start().await;
    let env = Env::github(&github).await;
    let github = github.with_clock(env.test.clock.clone() as Arc<dyn Clock>);
    github.accept_personal_token("ghp_valid_token_1234");
    let connection = connect_key(&env, "pat", "token", "ghp_valid_token_1234")
        .await
        .unwrap();
    assert!(connection.external_subject.is_none());
    let baseline = env.test.store.record_count();
    let e = connect_key(&env, "bad", "token", "ghp_revoked_token_9876")
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::InvalidInput, "auth.credential_rejected")
    );
    assert_eq!(e.issues()[0].path, "/secrets/token");
    assert_secret_free(&e, "ghp_revoked_token_9876");
    assert_eq!(env.test.store.record_count(), baseline);
    // GitHub answers its rate limits with 403 too: a wait, not a refused key.
    for (secondary, wait) in [(true, 60), (false, 600)] {
        github.limit_user_endpoint(secondary);
        let e = connect_key(&env, "limited", "token", "ghp_valid_token_1234")
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::RateLimited, "auth.identity_rate_limited")
        );
        let waited = e.retry_after().unwrap().as_secs();
        assert!(
            (wait - 2..=wait).contains(&waited),
            "{waited} s, want {wait}"
        );
        assert_eq!(env.test.store.record_count(), baseline);
    }

    // Slack: auth.test names the workspace.
    let slack = SlackMock::start().await;
    let env = Env::new(
        "slack::slack-default",
        slack.target_config(),
        slack.target_secrets(),
    )
    .await;
    slack.accept_bot_token("xoxb-valid-bot-token");
    let connection = connect_key(&env, "bot", "bot_token", "xoxb-valid-bot-token")
        .await
        .unwrap();
    assert_eq!(
        connection.external_subject.as_deref(),
        Some(slack.team_id())
    );
    let e = connect_key(&env, "bot2", "bot_token", "xoxb-unknown")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "auth.credential_rejected");

    // Linear: a viewer query with the key bare in Authorization names the organization.
    let linear = LinearMock::start().await;
    let env = Env::new(
        "linear::linear-default",
        linear.target_config(),
        linear.target_secrets(),
    )
    .await;
    linear.accept_api_key("lin_api_valid_key");
    let connection = connect_key(&env, "key", "api_key", "lin_api_valid_key")
        .await
        .unwrap();
    assert_eq!(
        connection.external_subject.as_deref(),
        Some(linear.organization_id())
    );
    let e = connect_key(&env, "key2", "api_key", "lin_api_wrong_key")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "auth.credential_rejected");
    // A key with the wrong prefix is never sent: the write service reports it.
    let e = connect_key(&env, "key3", "api_key", "wrong_prefix")
        .await
        .unwrap_err();
    assert_eq!(e.issues()[0].code, "connection.secret_prefix");
}

#[tokio::test]
async fn openai_keys_are_checked_with_get_models_and_temporary_failures_store_nothing() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, ResponseTemplate};
    let openai = MockProvider::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", "Bearer sk-proj-valid"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"object": "list", "data": []})),
        )
        .mount(openai.server())
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", "Bearer sk-proj-busy"))
        .respond_with(ResponseTemplate::new(503))
        .mount(openai.server())
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}),
        ))
        .with_priority(10)
        .mount(openai.server())
        .await;
    let env = Env::new(
        "openai::openai-default",
        json!({"api_base_url": format!("{}/v1", openai.uri())}),
        json!({}),
    )
    .await;
    connect_key(&env, "key", "api_key", "sk-proj-valid")
        .await
        .unwrap();
    let baseline = env.test.store.record_count();
    let e = connect_key(&env, "bad", "api_key", "sk-proj-wrong")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "auth.credential_rejected");
    let e = connect_key(&env, "busy", "api_key", "sk-proj-busy")
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Unavailable, "auth.identity_unavailable")
    );
    assert_eq!(env.test.store.record_count(), baseline);
    // Stored keys are handed out as they are.
    let connection = env
        .test
        .store
        .get_connection(&tenant(), &ConnectionId::new("key").unwrap())
        .await
        .unwrap()
        .unwrap();
    let selector = CredentialSelector::of_type(CredentialType::API_KEY);
    let key = env
        .tokens()
        .credential(&CredentialRequest::new(&connection, &selector))
        .await
        .unwrap();
    assert_eq!(key.value.expose(), "sk-proj-valid");
}

impl Env {
    async fn disconnect(
        &self,
        connection: &Connection,
        force: bool,
    ) -> Result<Disconnected, integrations_core::Error> {
        let mut request = Disconnect::new(tenant(), connection.id.clone())
            .by(integrations_core::UserId::new("alice").unwrap());
        if force {
            request = request.forced();
        }
        self.auth().disconnect(request).await
    }
}

/// Another process refreshes the connection's tokens while a disconnect asks Linear to
/// revoke the old ones (Linear rotates: the new pair lives on). The disconnect sees the
/// newer set and revokes it too before deleting it, so no live grant is left at Linear
/// with no token here.
#[tokio::test]
async fn a_refresh_while_a_disconnect_revokes_is_revoked_too() {
    use integrations_core::Secret;
    use integrations_core::host::{HttpRequest, from_fn};

    let mock = LinearMock::start().await;
    let env = Env::new(
        "linear::linear-default",
        mock.target_config(),
        mock.target_secrets(),
    )
    .await;
    let url = env.start("oauth2", None).await;
    let connection = env.complete(mock.authorize(&url).unwrap()).await.unwrap();
    let selector = CredentialSelector::of_type(CredentialType::OAUTH2_ACCESS_TOKEN);
    let elsewhere = Arc::new(env.tokens());
    let old = elsewhere
        .credential(&CredentialRequest::new(&connection, &selector))
        .await
        .unwrap()
        .value;
    let refreshed: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let http = {
        let (inner, refreshed) = (env.test.host().http_arc(), refreshed.clone());
        let (connection, selector) = (connection.clone(), selector.clone());
        from_fn(move |request: HttpRequest| {
            let (inner, refreshed) = (inner.clone(), refreshed.clone());
            let (elsewhere, connection, selector) =
                (elsewhere.clone(), connection.clone(), selector.clone());
            async move {
                let first_revoke =
                    request.uri().path() == "/oauth/revoke" && refreshed.lock().unwrap().is_none();
                if first_revoke {
                    // The other process's refresh lands just before the revocation.
                    let presented = request.headers()["authorization"].to_str().unwrap();
                    let rejected = Secret::new(presented.trim_start_matches("Bearer "));
                    let fresh = elsewhere
                        .credential_rejected(
                            &CredentialRequest::new(&connection, &selector),
                            &rejected,
                        )
                        .await
                        .unwrap()
                        .expect("a refreshed token");
                    *refreshed.lock().unwrap() = Some(fresh.value.expose().to_owned());
                }
                inner.send(request).await
            }
        })
    };
    let racing = env.test.sharing_stores_with_http(Arc::new(http));
    let disconnected = Authorizations::new(env.registry.clone(), racing.host().clone())
        .disconnect(Disconnect::new(tenant(), connection.id.clone()))
        .await
        .unwrap();
    let fresh = refreshed
        .lock()
        .unwrap()
        .clone()
        .expect("the race happened");
    assert_ne!(fresh, old.expose());
    assert!(!mock.access_is_live(old.expose()));
    assert!(
        !mock.access_is_live(&fresh),
        "the tokens refreshed meanwhile were deleted here but left live at Linear"
    );
    assert_eq!(disconnected.remote, RemoteRevocation::Revoked);
    assert_eq!(mock.revocations(), 2);
    assert!(disconnected.credentials_deleted);
}

#[tokio::test]
async fn disconnecting_linear_revokes_the_grant_there_and_forgets_the_tokens() {
    let mock = LinearMock::start().await;
    let env = Env::new(
        "linear::linear-default",
        mock.target_config(),
        mock.target_secrets(),
    )
    .await;
    let url = env.start("oauth2", None).await;
    let connection = env.complete(mock.authorize(&url).unwrap()).await.unwrap();
    // A day later the access token has expired: it is refreshed, then revoked.
    env.test.clock.advance(Duration::from_secs(25 * 3600));
    let disconnected = env.disconnect(&connection, false).await.unwrap();
    assert_eq!(disconnected.remote, RemoteRevocation::Revoked);
    assert!(disconnected.credentials_deleted);
    assert_eq!((mock.refresh_requests(), mock.revocations()), (1, 1));
    assert_eq!(
        env.status(&connection).await,
        ConnectionStatus::Revoked {
            reason: DISCONNECTED.to_owned()
        }
    );
    assert!(
        env.test
            .store
            .raw_credentials(&tenant(), &connection.id)
            .is_none()
    );
    let audit = env.test.audit.with_action("connection.status_changed");
    let last = audit.last().unwrap();
    assert_eq!(
        (
            last.detail["cause"].as_str(),
            last.detail["remote"].as_str(),
            last.actor.as_ref().map(integrations_core::UserId::as_str)
        ),
        ("disconnect", "revoked", Some("alice"))
    );
    // The token manager refuses the revoked connection.
    let stored = env
        .test
        .store
        .get_connection(&tenant(), &connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        env.tokens().access_token(&stored).await.unwrap_err().code(),
        "auth.connection_not_active"
    );
    // Again: harmless, nothing left to revoke.
    let again = env.disconnect(&connection, false).await.unwrap();
    assert_eq!(again.remote, RemoteRevocation::AlreadyInvalid);
    assert!(!again.credentials_deleted);
    assert_eq!(mock.revocations(), 1);
}

#[tokio::test]
async fn disconnecting_slack_calls_auth_revoke_and_an_outage_changes_nothing_unless_forced() {
    let mock = SlackMock::start().await;
    let env = Env::new(
        "slack::slack-default",
        mock.target_config(),
        mock.target_secrets(),
    )
    .await;
    let url = env.start("oauth2", None).await;
    let connection = env.complete(mock.authorize(&url).unwrap()).await.unwrap();
    let token = env.tokens().access_token(&connection).await.unwrap().value;

    // Slack is down: nothing changes, the grant stays revocable.
    mock.set_failure(FailureMode::Unavailable);
    let baseline = env.test.store.record_count();
    let e = env.disconnect(&connection, false).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Unavailable, "oauth.unavailable")
    );
    assert_secret_free(&e, token.expose());
    assert_eq!(env.status(&connection).await, ConnectionStatus::Active);
    assert_eq!(env.test.store.record_count(), baseline);

    // Forced: forgotten here, the outcome says the provider did not revoke.
    let forced = env.disconnect(&connection, true).await.unwrap();
    assert_eq!(
        forced.remote,
        RemoteRevocation::Failed {
            code: "oauth.unavailable".to_owned()
        }
    );
    assert!(matches!(
        env.status(&connection).await,
        ConnectionStatus::Revoked { .. }
    ));
    assert!(mock.access_is_live(token.expose()));

    // Slack up: a new connection is revoked there with `{"ok": true, "revoked": true}`.
    mock.set_failure(FailureMode::None);
    let url = env.start("oauth2", None).await;
    let connection = env.complete(mock.authorize(&url).unwrap()).await.unwrap();
    let token = env.tokens().access_token(&connection).await.unwrap().value;
    let disconnected = env.disconnect(&connection, false).await.unwrap();
    assert_eq!(disconnected.remote, RemoteRevocation::Revoked);
    assert!(!mock.access_is_live(token.expose()));
    assert_eq!(mock.revocations(), 1);
}

#[tokio::test]
async fn disconnecting_github_deletes_the_oauth_authorization_and_api_keys_are_forgotten() {
    let mock = GitHubMock::start().await;
    let env = Env::github(&mock).await;
    let url = env.start("oauth2", None).await;
    let oauth = env.complete(mock.authorize(&url).unwrap()).await.unwrap();
    let token = env.tokens().access_token(&oauth).await.unwrap().value;
    // GitHub's grant deletion: the client's Basic credentials, the token in the body.
    let disconnected = env.disconnect(&oauth, false).await.unwrap();
    assert_eq!(disconnected.remote, RemoteRevocation::Revoked);
    assert!(!mock.access_is_live(token.expose()));
    assert_eq!(mock.revocations(), 1);
    assert!(matches!(
        env.status(&oauth).await,
        ConnectionStatus::Revoked { .. }
    ));

    // An API key cannot be revoked from here: it is only forgotten.
    mock.accept_personal_token("ghp_valid_token_1234");
    let key = connect_key(&env, "pat", "token", "ghp_valid_token_1234")
        .await
        .unwrap();
    let disconnected = env.disconnect(&key, false).await.unwrap();
    assert_eq!(disconnected.remote, RemoteRevocation::NotSupported);
    assert!(disconnected.credentials_deleted);
    assert!(matches!(
        env.status(&key).await,
        ConnectionStatus::Revoked { .. }
    ));
    assert!(env.test.store.raw_credentials(&tenant(), &key.id).is_none());

    // A wrong client secret is a configuration error, and changes nothing.
    let url = env.start("oauth2", None).await;
    let oauth = env.complete(mock.authorize(&url).unwrap()).await.unwrap();
    WriteService::new(env.registry.clone(), env.test.host().clone())
        .put_target(
            TargetInput::new(tenant(), target(), "github::github-cloud".parse().unwrap())
                .with_config(mock.target_config())
                .with_secrets(json!({"client_secret": "not-the-secret"})),
        )
        .await
        .unwrap();
    let e = env.disconnect(&oauth, false).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Configuration, "oauth.invalid_client")
    );
    assert_eq!(env.status(&oauth).await, ConnectionStatus::Active);

    let missing = Disconnect::new(tenant(), ConnectionId::new("nope").unwrap());
    assert_eq!(
        env.auth().disconnect(missing).await.unwrap_err().code(),
        "auth.connection_not_found"
    );
}
