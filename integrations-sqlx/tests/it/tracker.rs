//! A generic OAuth 2.0 integration with rotating refresh tokens, pointed at the testkit's
//! Linear-protocol mock, and hosts on SQL stores.

use std::sync::Arc;

use integrations_core::auth::{Authorizations, CompleteAuthorization, StartAuthorization};
use integrations_core::definition::{
    ClientAuth, ConnectionMethod, IntegrationDefinition, Metadata, OAuth2Spec, Pkce,
    ScopeSeparator, SecretField,
};
use integrations_core::host::{AesGcmKeyRing, Clock, Host, ReqwestHttpClient};
use integrations_core::model::{Connection, ConnectionScope, CredentialType};
use integrations_core::provider::IntegrationProvider;
use integrations_core::schema::{BaseUrl, ConfigSpec, Parsed};
use integrations_core::service::{TargetInput, WriteService};
use integrations_core::{DefinitionKey, IntegrationKind, Registry, Secret, TargetId, TenantId};
use integrations_sqlx::SqlStores;
use integrations_testkit::ManualClock;
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
            ConnectionMethod::api_key(
                "api-key",
                "API key",
                vec![SecretField::new("key", "API key", CredentialType::API_KEY)],
            )
            .unwrap(),
        ]
    }
    fn oauth2(&self, method: &ConnectionMethod, target_config: &Parsed) -> Option<OAuth2Spec> {
        method.oauth2.as_ref()?;
        Some(Self::spec(Some(target_config.get::<OAuthTarget>().ok()?)))
    }
}

impl IntegrationProvider for Tracker {}

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

/// The key every process of the test host shares.
pub(crate) fn keys() -> Arc<AesGcmKeyRing> {
    Arc::new(AesGcmKeyRing::new("k1", [7; 32]).unwrap())
}

/// A host on `stores`, with real HTTP (to the loopback mock).
pub(crate) fn host(stores: SqlStores, keys: Arc<AesGcmKeyRing>, clock: Arc<ManualClock>) -> Host {
    Host::builder()
        .stores(Arc::new(stores))
        .http(Arc::new(ReqwestHttpClient::new().unwrap()))
        .cipher(keys)
        .clock(clock as Arc<dyn Clock>)
        .build()
        .unwrap()
}

pub(crate) async fn put_target(host: &Host, registry: &Arc<Registry>, mock: &LinearMock) {
    WriteService::new(registry.clone(), host.clone())
        .put_target(
            TargetInput::new(tenant(), target_id(), KEY.parse().unwrap())
                .with_config(mock.target_config())
                .with_secrets(mock.target_secrets()),
        )
        .await
        .unwrap();
}

/// Runs the authorization-code flow against `mock`: started on `start_on`, completed on
/// `complete_on` (two hosts over one database: two instances of an application).
pub(crate) async fn connect(
    start_on: &Host,
    complete_on: &Host,
    registry: &Arc<Registry>,
    mock: &LinearMock,
) -> Connection {
    let redirect = Authorizations::new(registry.clone(), start_on.clone())
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
    Authorizations::new(registry.clone(), complete_on.clone())
        .complete(CompleteAuthorization::new(tenant(), REDIRECT, query))
        .await
        .unwrap()
}
