//! What a third-party provider crate gets from the SDK, written as one would be: with
//! nothing but the prelude. A [`DeclaredIntegration`] with an OAuth 2.0 method connects
//! with the client id of its target config; a sync source's requests carry the
//! definition's default headers and authenticate with the connection's default
//! credential, whichever method made it.

use std::sync::Arc;

use integrations_core::auth::{
    ApiKeyConnections, Authorizations, CompleteAuthorization, Disconnect, StartAuthorization,
    TokenManager,
};
use integrations_core::host::ReqwestHttpClient;
use integrations_core::model::ConnectionScope;
use integrations_core::provider::prelude::*;
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::sync::SyncRunner;
use integrations_core::{ConnectionId, Registry, TargetId, TenantId};
use integrations_testkit::conformance::{Check, Conformance, Outcome};
use integrations_testkit::mock::oauth::{ClientAuthSeen, LinearMock, OAuth2Mock};
use integrations_testkit::{MemoryRecordSink, TestHost};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

const NOTES: DefinitionKey = DefinitionKey::from_static("notes::notes-cloud");
const API_KEY: ConnectionMethodId = ConnectionMethodId::from_static("api-key");
const OAUTH2: ConnectionMethodId = ConnectionMethodId::from_static("oauth2");
const REDIRECT: &str = "https://app.example.com/oauth/callback";
/// The media type the definition asks for on every request.
const MEDIA_TYPE: &str = "application/vnd.notes+json";

/// The target: where Notes lives, and the OAuth client.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NotesTarget {
    /// The API base, `https://notes.example.com/api`.
    api_base_url: BaseUrl,
    /// The OAuth client id (OAuth connections only).
    #[serde(default)]
    #[allow(dead_code, reason = "DeclaredIntegration reads it from the raw config")]
    client_id: Option<String>,
}

/// The target's secrets.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NotesSecrets {
    /// The OAuth client secret.
    #[serde(default)]
    #[allow(dead_code, reason = "read by the OAuth engine through the schema")]
    client_secret: Option<Secret>,
}

/// Notes as data: an API-key and an OAuth 2.0 method (the standard protocol: HTTP Basic
/// client authentication, PKCE; the endpoints of the mock at `oauth_base`), and a media
/// type on every request.
fn declared(oauth_base: &str) -> DeclaredIntegration {
    declared_with(
        OAuth2Spec::new(
            format!("{oauth_base}/oauth/authorize"),
            format!("{oauth_base}/oauth/token"),
        )
        .with_default_scopes(["read", "write"])
        .with_scope_separator(ScopeSeparator::Comma),
    )
}

/// Notes with `spec` as its OAuth 2.0 method's data.
fn declared_with(spec: OAuth2Spec) -> DeclaredIntegration {
    DeclaredIntegration::new(
        NOTES,
        IntegrationKind::Connector,
        Metadata::new("Notes", "Notes in Notes.", "notes", "productivity"),
    )
    .with_target_config(
        ConfigSpec::of::<NotesTarget>()
            .with_example(json!({"api_base_url": "https://notes.example.com/api"}))
            .with_example(
                json!({"api_base_url": "https://notes.example.com/api", "client_id": "notes_client"}),
            ),
    )
    .with_target_secrets(
        ConfigSpec::of::<NotesSecrets>()
            .with_example(json!({}))
            .with_example(json!({"client_secret": "s3cr3t-client"})),
    )
    .with_connection_method(
        ConnectionMethod::new(API_KEY, "API key", ConnectionMethodKind::ApiKey)
            .with_secret_field(SecretField::api_key("api_key", "API key")),
    )
    .with_connection_method(
        ConnectionMethod::new(
            OAUTH2,
            "OAuth 2.0",
            ConnectionMethodKind::OAuth2AuthorizationCode,
        )
        .with_oauth2(spec),
    )
    .with_default_header(header::ACCEPT, HeaderValue::from_static(MEDIA_TYPE))
    // An API key is proved by `GET {api}/me` before it is stored; its `id` is the account.
    .with_identity_check(|method, config| {
        let base = &config.get::<NotesTarget>().ok()?.api_base_url;
        (method.id == API_KEY).then(|| {
            IdentityCheck::get(base.join("/me"), AuthInjection::Bearer).with_subject_pointer("/id")
        })
    })
}

/// The `notes` stream: `GET {api}/notes`, one page, with the connection's default
/// credential as a Bearer token.
struct NotesSync;

#[derive(Deserialize)]
struct NotesPage {
    notes: Vec<Value>,
}

#[async_trait]
impl SyncSource for NotesSync {
    fn streams(&self) -> Vec<SyncStream> {
        vec![SyncStream::new("notes", false)]
    }

    async fn fetch_page(&self, request: SyncRequest<'_>) -> Result<SyncPage> {
        let base = &request.target_config.get::<NotesTarget>()?.api_base_url;
        let url = base.url().path("notes").build()?;
        let selector = request
            .default_credential()
            .cloned()
            .ok_or_else(|| Error::internal("connections of this method cannot sync"))?;
        let response = request
            .send(
                integrations_core::provider::prelude::request(Method::GET, url.as_str())?,
                &RequestAuth::bearer(selector),
            )
            .await?;
        if !response.status().is_success() {
            return Err(status_error(response.status()));
        }
        let page: NotesPage = read_json(&response)?;
        let records = page
            .notes
            .into_iter()
            .map(|note| {
                let id = note["id"].as_str().unwrap_or_default().to_owned();
                SyncRecord::new(id, None, note)
            })
            .collect();
        Ok(SyncPage::new(records, None))
    }
}

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn target_id() -> TargetId {
    TargetId::new("notes").unwrap()
}

/// A host with real HTTP, `integration` registered, and a target whose API is under the
/// mock's `/api`, with `config` merged over it.
async fn setup(
    mock: &LinearMock,
    integration: Arc<dyn Integration>,
    config: Value,
) -> (TestHost, Arc<Registry>) {
    setup_at(&mock.uri(), mock.target_secrets(), integration, config).await
}

/// [`setup`] for a provider at `uri` whose target secrets are `secrets`.
async fn setup_at(
    uri: &str,
    secrets: Value,
    integration: Arc<dyn Integration>,
    config: Value,
) -> (TestHost, Arc<Registry>) {
    let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new().unwrap()));
    let mut registry = Registry::new();
    registry.register(integration).unwrap();
    let registry = Arc::new(registry);
    let mut target = json!({"api_base_url": format!("{uri}/api")});
    target
        .as_object_mut()
        .unwrap()
        .extend(config.as_object().unwrap().clone());
    WriteService::new(Arc::clone(&registry), test.host().clone())
        .put_target(
            TargetInput::new(tenant(), target_id(), NOTES)
                .with_config(target)
                .with_secrets(secrets),
        )
        .await
        .unwrap();
    (test, registry)
}

/// The mock's OAuth client id, as its target config names it.
fn client_id_of(mock: &LinearMock) -> Value {
    json!({"client_id": mock.target_config()["client_id"]})
}

fn start() -> StartAuthorization {
    StartAuthorization::create(
        tenant(),
        target_id(),
        OAUTH2,
        REDIRECT,
        ConnectionScope::Organization,
    )
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Connects through the authorization-code flow, the mock playing the consenting user.
async fn connect_oauth(
    test: &TestHost,
    registry: &Arc<Registry>,
    mock: &LinearMock,
) -> integrations_core::model::Connection {
    let auth = Authorizations::new(Arc::clone(registry), test.host().clone());
    let redirect = auth.start(start()).await.unwrap();
    let query = mock.authorize(&redirect.url).unwrap();
    auth.complete(CompleteAuthorization::new(tenant(), REDIRECT, query))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_declared_oauth_method_connects_with_the_client_id_of_its_target_config() {
    let mock = LinearMock::start().await;
    let notes = Arc::new(declared(&mock.uri()));
    let (test, registry) = setup(&mock, notes.clone(), client_id_of(&mock)).await;

    let auth = Authorizations::new(Arc::clone(&registry), test.host().clone());
    let redirect = auth.start(start()).await.unwrap();
    assert_eq!(
        query_param(&redirect.url, "client_id").as_deref(),
        mock.target_config()["client_id"].as_str()
    );
    // The mock checks the client, the scopes and the PKCE challenge of the URL...
    let query = mock.authorize(&redirect.url).unwrap();
    let connection = auth
        .complete(CompleteAuthorization::new(tenant(), REDIRECT, query))
        .await
        .unwrap();
    assert!(connection.is_active());
    assert_eq!(connection.method, OAUTH2);
    assert_eq!(connection.granted_scopes, ["read", "write"]);
    // ...and the exchange: the code for that client and redirect URI, the client's
    // credentials in HTTP Basic, the verifier of the challenge.
    let exchanges = mock.token_requests();
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].grant_type, "authorization_code");
    assert_eq!(exchanges[0].client_auth, ClientAuthSeen::Basic);
    assert!(exchanges[0].code_verifier);

    // The conformance suite sees the client id too.
    let report = Conformance::new(notes).run().await;
    assert_eq!(
        report.outcome(Check::ConnectionMethods),
        Some(&Outcome::Passed),
        "{:?}",
        report.failures()
    );
}

/// A provider author tests an OAuth 2.0 method against the testkit's mock of its own
/// spec: the standard protocol (HTTP Basic, PKCE, space-separated scopes, a revocation
/// endpoint), and one with a provider's quirks (client credentials in the form, no PKCE,
/// comma-separated scopes, a success member, the account in the token answer, rotating
/// refresh tokens, a required `Accept` header). Each connects, refreshes an expired
/// token and disconnects as its spec says.
#[tokio::test]
async fn an_oauth_method_connects_refreshes_and_disconnects_against_a_mock_of_its_spec() {
    let base = "https://notes.example.com";
    let standard = OAuth2Spec::new(
        format!("{base}/oauth/authorize"),
        format!("{base}/oauth/token"),
    )
    .with_default_scopes(["notes.read", "notes.write"])
    .with_revoke_url(format!("{base}/oauth/revoke"));
    let quirky = OAuth2Spec::new(
        format!("{base}/oauth/authorize"),
        format!("{base}/oauth/token"),
    )
    .with_default_scopes(["read", "write"])
    .with_scope_separator(ScopeSeparator::Comma)
    .with_client_auth(ClientAuth::RequestBody)
    .with_pkce(Pkce::Unsupported)
    .with_success_field("ok")
    .with_subject_pointer("/team/id")
    .with_rotating_refresh_tokens()
    .with_token_header("accept", "application/json");
    for (spec, basic) in [(standard, true), (quirky, false)] {
        let mock = OAuth2Mock::start(&spec).await;
        let (test, registry) = setup_at(
            &mock.uri(),
            json!({"client_secret": mock.client_secret()}),
            Arc::new(declared_with(mock.spec())),
            json!({"client_id": mock.client_id()}),
        )
        .await;
        let auth = Authorizations::new(Arc::clone(&registry), test.host().clone());
        let redirect = auth.start(start()).await.unwrap();
        let query = mock.authorize(&redirect.url).unwrap();
        let connection = auth
            .complete(CompleteAuthorization::new(tenant(), REDIRECT, query))
            .await
            .unwrap();
        assert!(connection.is_active());
        assert_eq!(connection.granted_scopes, spec.default_scopes);
        let subject = spec.subject_pointer.is_some().then(|| mock.subject());
        assert_eq!(connection.external_subject.as_deref(), subject);
        let exchange = &mock.token_requests()[0];
        assert_eq!(
            exchange.client_auth,
            if basic {
                ClientAuthSeen::Basic
            } else {
                ClientAuthSeen::Body
            }
        );
        assert_eq!(exchange.code_verifier, basic);

        // The access token expires: the token manager refreshes it once.
        mock.expire_access_tokens();
        test.clock.advance(std::time::Duration::from_secs(3_601));
        let tokens = TokenManager::new(Arc::clone(&registry), test.host().clone());
        let fresh = tokens.access_token(&connection).await.unwrap();
        assert!(mock.access_is_live(fresh.value.expose()));
        assert_eq!(mock.refresh_requests(), 1);

        // Disconnecting revokes the grant where the spec has a revocation endpoint.
        let disconnected = auth
            .disconnect(Disconnect::new(tenant(), connection.id.clone()))
            .await
            .unwrap();
        assert_eq!(mock.revocations(), usize::from(spec.revoke_url.is_some()));
        assert!(!disconnected.connection.is_active());
        for secret in mock.issued_secrets() {
            assert!(!format!("{connection:?}{disconnected:?}").contains(&secret));
        }
    }
}

#[tokio::test]
async fn a_target_without_a_client_id_is_refused_naming_where_it_comes_from() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock, Arc::new(declared(&mock.uri())), json!({})).await;
    let e = Authorizations::new(registry, test.host().clone())
        .start(start())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "auth.missing_client_id");
    let message = e.message();
    assert!(
        message
            .contains("notes::notes-cloud for the target notes (method oauth2) names no client id")
            && message.contains("IntegrationDefinition::oauth2 sets it")
            && message.contains("target config (client_id)"),
        "{message}"
    );
    assert_eq!(test.store.pending_oauth_states(), 0);
}

/// Serves `GET /api/notes` only to requests with the definition's media type and `token`
/// as a Bearer credential.
async fn serve_notes(mock: &LinearMock, token: &str, id: &str) {
    Mock::given(method("GET"))
        .and(path("/api/notes"))
        .and(header("accept", MEDIA_TYPE))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"notes": [{"id": id}]})))
        .mount(mock.provider().server())
        .await;
}

fn runner(test: &TestHost, registry: &Arc<Registry>) -> SyncRunner {
    let tokens = Arc::new(TokenManager::new(Arc::clone(registry), test.host().clone()));
    SyncRunner::new(Arc::clone(registry), test.host().clone(), tokens)
}

#[tokio::test]
async fn sync_requests_carry_the_default_headers_and_the_default_credential() {
    let mock = LinearMock::start().await;
    // Everything as data: the sync source too, no trait forwarded by hand.
    let notes = Arc::new(declared(&mock.uri()).with_sync(NotesSync));
    let (test, registry) = setup(&mock, notes, client_id_of(&mock)).await;
    let runner = runner(&test, &registry);

    // An API-key connection is proved by the identity check, named by its account...
    Mock::given(method("GET"))
        .and(path("/api/me"))
        .and(header("authorization", "Bearer notes_key_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "acct-1"})))
        .mount(mock.provider().server())
        .await;
    let keyed = ApiKeyConnections::new(Arc::clone(&registry), test.host().clone())
        .connect(
            ConnectionInput::new(
                tenant(),
                ConnectionId::new("keyed").unwrap(),
                target_id(),
                API_KEY,
            )
            .with_secret("api_key", "notes_key_1"),
        )
        .await
        .unwrap();
    assert_eq!(keyed.external_subject.as_deref(), Some("acct-1"));
    // ...and syncs with its key...
    serve_notes(&mock, "notes_key_1", "by-key").await;
    let sink = MemoryRecordSink::new();
    let report = runner
        .run(&tenant(), &keyed.id, "notes", SyncMode::Full, &sink, None)
        .await
        .unwrap();
    assert!(report.complete);
    assert_eq!(sink.ids("notes"), ["by-key"]);

    // ...an OAuth connection with its access token (not the refresh token issued with it).
    let oauth = connect_oauth(&test, &registry, &mock).await;
    let access: Vec<String> = mock
        .issued_secrets()
        .into_iter()
        .filter(|token| mock.access_is_live(token))
        .collect();
    assert_eq!(access.len(), 1, "one access token and one refresh token");
    serve_notes(&mock, &access[0], "by-token").await;
    let sink = MemoryRecordSink::new();
    let report = runner
        .run(&tenant(), &oauth.id, "notes", SyncMode::Full, &sink, None)
        .await
        .unwrap();
    assert!(report.complete);
    assert_eq!(sink.ids("notes"), ["by-token"]);

    // Every request to the API carried the media type (the identity check, two pages).
    let requests = mock.provider().server().received_requests().await.unwrap();
    let api: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path().starts_with("/api/"))
        .collect();
    assert_eq!(api.len(), 3);
    assert!(
        api.iter()
            .all(|r| r.headers.get("accept").unwrap() == MEDIA_TYPE)
    );
}
