//! A generic OAuth 2.0 integration for the auth engine tests. It knows nothing of any
//! real provider: its endpoints and quirks are data pointing at whatever mock server the
//! test starts (the Linear-protocol mock of the testkit, here).

use std::sync::Arc;

use async_trait::async_trait;
use integrations_core::credential::ResolvedCredential;
use integrations_core::definition::{
    ClientAuth, ConnectionMethod, IntegrationDefinition, Metadata, OAuth2Spec, Pkce,
    ScopeSeparator, SecretField,
};
use integrations_core::host::{
    AesGcmKeyRing, Clock, Host, HttpClient, ReqwestHttpClient, TracingAuditSink,
};
use integrations_core::model::{Connection, CredentialType};
use integrations_core::provider::{CredentialResolver, IntegrationProvider, ResolverContext};
use integrations_core::schema::{BaseUrl, ConfigSpec, Parsed};
use integrations_core::service::{TargetInput, WriteService};
use integrations_core::{
    DefinitionKey, Error, IntegrationKind, Registry, Secret, TargetId, TenantId, Timestamp,
};
use integrations_testkit::TestHost;
use integrations_testkit::mock::oauth::LinearMock;
use schemars::JsonSchema;
use serde::Deserialize;

/// The target config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OAuthTarget {
    /// Web and API base.
    pub api_base_url: BaseUrl,
    /// Web base.
    pub web_base_url: BaseUrl,
    /// OAuth client id.
    pub client_id: String,
}

/// The target secrets.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "read through the schema")]
pub(crate) struct OAuthSecrets {
    /// OAuth client secret.
    #[serde(default)]
    pub client_secret: Option<Secret>,
}

/// A custom resolver that mints `resolved:<parameters>` without any I/O.
pub(crate) struct EchoResolver;

#[async_trait]
impl CredentialResolver for EchoResolver {
    async fn resolve(
        &self,
        context: &ResolverContext<'_>,
    ) -> Result<Option<ResolvedCredential>, Error> {
        let parameters = serde_json::to_string(&context.selector.parameters).unwrap();
        Ok(Some(ResolvedCredential::new(
            Secret::new(format!("resolved:{parameters}")),
            Some(
                context
                    .host
                    .clock()
                    .now()
                    .saturating_add(std::time::Duration::from_secs(3600)),
            ),
        )))
    }
}

/// A default resolver that serves only connections whose config says so.
pub(crate) struct ConfigDefaultResolver;

#[async_trait]
impl CredentialResolver for ConfigDefaultResolver {
    async fn resolve(
        &self,
        context: &ResolverContext<'_>,
    ) -> Result<Option<ResolvedCredential>, Error> {
        if context.connection.config.get("use_default") == Some(&serde_json::json!(true)) {
            Ok(Some(ResolvedCredential::new(
                Secret::new("default-resolver-token"),
                None,
            )))
        } else {
            Ok(None)
        }
    }
}

pub(crate) struct Tracker;

pub(crate) const KEY: &str = "tracker::tracker-oauth";

impl Tracker {
    fn spec(config: Option<&OAuthTarget>) -> OAuth2Spec {
        let (web, api, client_id) = match config {
            Some(c) => (
                c.web_base_url.as_str(),
                c.api_base_url.as_str(),
                Some(c.client_id.as_str()),
            ),
            None => ("https://tracker.invalid", "https://tracker.invalid", None),
        };
        OAuth2Spec::new(
            format!("{web}/oauth/authorize"),
            format!("{api}/oauth/token"),
        )
        .with_default_scopes(["read", "write"])
        .with_scope_separator(ScopeSeparator::Comma)
        .with_pkce(Pkce::S256)
        .with_client_auth(ClientAuth::RequestBody)
        .with_rotating_refresh_tokens()
        .with_client_id(client_id)
    }
}

impl IntegrationDefinition for Tracker {
    fn key(&self) -> DefinitionKey {
        KEY.parse().unwrap()
    }
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Connector
    }
    fn metadata(&self) -> Metadata {
        Metadata::new("Tracker", "Tickets over OAuth.", "tracker", "productivity")
    }
    fn target_config(&self) -> ConfigSpec {
        ConfigSpec::of::<OAuthTarget>()
    }
    fn target_secrets(&self) -> ConfigSpec {
        ConfigSpec::of::<OAuthSecrets>()
    }
    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        vec![
            ConnectionMethod::oauth2_authorization_code("oauth2", "Sign in", Self::spec(None))
                .unwrap(),
            ConnectionMethod::oauth2_client_credentials(
                "client-credentials",
                "App token",
                Self::spec(None),
            )
            .unwrap(),
            ConnectionMethod::api_key(
                "api-key",
                "API keys",
                vec![
                    SecretField::new("bot", "Bot key", CredentialType::API_KEY).with_slot("bot"),
                    SecretField::new("user", "User key", CredentialType::API_KEY).with_slot("user"),
                ],
            )
            .unwrap(),
        ]
    }
    fn oauth2(&self, method: &ConnectionMethod, target_config: &Parsed) -> Option<OAuth2Spec> {
        method.oauth2.as_ref()?;
        Some(Self::spec(Some(target_config.get::<OAuthTarget>().ok()?)))
    }
}

impl IntegrationProvider for Tracker {
    fn credential_resolver(&self, key: &str) -> Option<&dyn CredentialResolver> {
        (key == "echo").then_some(&EchoResolver as &dyn CredentialResolver)
    }
    fn default_credential_resolver(&self) -> Option<&dyn CredentialResolver> {
        Some(&ConfigDefaultResolver)
    }
}

pub(crate) fn registry() -> Arc<Registry> {
    let mut registry = Registry::new();
    registry.register(Arc::new(Tracker)).unwrap();
    Arc::new(registry)
}

pub(crate) fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

pub(crate) fn target_id() -> TargetId {
    TargetId::new("tracker").unwrap()
}

pub(crate) const REDIRECT: &str = "https://app.example.com/oauth/callback";

/// A test host with real HTTP, and a target pointing at `mock`.
pub(crate) async fn setup(mock: &LinearMock) -> (TestHost, Arc<Registry>) {
    let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new().unwrap()));
    let registry = registry();
    put_target(&test, &registry, mock).await;
    (test, registry)
}

pub(crate) async fn put_target(test: &TestHost, registry: &Arc<Registry>, mock: &LinearMock) {
    WriteService::new(registry.clone(), test.host().clone())
        .put_target(
            TargetInput::new(tenant(), target_id(), KEY.parse().unwrap())
                .with_config(mock.target_config())
                .with_secrets(mock.target_secrets()),
        )
        .await
        .unwrap();
}

/// The same stores, clock and keys as `test`, with another HTTP client and an audit sink
/// that writes to `tracing`.
pub(crate) fn host_with(test: &TestHost, http: Arc<dyn HttpClient>) -> Host {
    Host::builder()
        .stores(test.store.clone())
        .http(http)
        .cipher(test.keys.clone() as Arc<AesGcmKeyRing>)
        .clock(test.clock.clone() as Arc<dyn Clock>)
        .audit(Arc::new(TracingAuditSink::new()))
        .build()
        .unwrap()
}

/// Runs the authorization-code flow against `mock` and returns the connection.
pub(crate) async fn connect(
    test: &TestHost,
    registry: &Arc<Registry>,
    mock: &LinearMock,
) -> Connection {
    use integrations_core::auth::{Authorizations, CompleteAuthorization, StartAuthorization};
    use integrations_core::model::ConnectionScope;
    let auth = Authorizations::new(registry.clone(), test.host().clone());
    let redirect = auth
        .start(StartAuthorization::create(
            tenant(),
            target_id(),
            "oauth2".parse().unwrap(),
            REDIRECT,
            ConnectionScope::Organization,
        ))
        .await
        .unwrap();
    let query = mock.authorize(&redirect.url).unwrap();
    auth.complete(CompleteAuthorization::new(tenant(), REDIRECT, query))
        .await
        .unwrap()
}

/// Milliseconds since the epoch of the test clock, as a timestamp.
pub(crate) fn now(test: &TestHost) -> Timestamp {
    test.host().clock().now()
}
