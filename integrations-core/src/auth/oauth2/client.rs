//! Token requests (code exchange, refresh, client credentials) built by `oauth2` from a
//! definition's [`OAuth2Spec`], sent through the host client, read by our parser.

use std::borrow::Cow;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenUrl,
};

use super::http_adapter::{self, TokenEndpointHttp};
use super::token_response::{self, TokenSet};
use crate::definition::{ClientAuth, OAuth2Spec};
use crate::host::Host;
use crate::provider::TargetSecrets;
use crate::{Error, Secret};

/// An `oauth2` client with its authorization and token endpoints set.
pub(crate) type SpecClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

fn invalid_url(what: &str) -> Error {
    crate::codes::oauth::INVALID_URL.error(format!(
        "the {what} of the OAuth 2.0 data is not a valid URL"
    ))
}

/// Builds the `oauth2` client of `spec`, with the client secret from the target secrets
/// when there is one (a public client otherwise). Every endpoint must be `https` or
/// loopback `http` (`oauth.insecure_endpoint`), checked here so that no code, secret or
/// token is ever sent in the clear.
pub(crate) fn client(spec: &OAuth2Spec, secrets: &TargetSecrets) -> Result<SpecClient, Error> {
    spec.require_secure_endpoints()?;
    let client_id = spec.client_id.clone().ok_or_else(|| {
        crate::codes::auth::MISSING_CLIENT_ID.error("the target config has no OAuth client id")
    })?;
    let auth_url =
        AuthUrl::new(spec.authorize_url.clone()).map_err(|_| invalid_url("authorization URL"))?;
    let token_url = TokenUrl::new(spec.token_url.clone()).map_err(|_| invalid_url("token URL"))?;
    let auth_type = match spec.client_auth {
        ClientAuth::BasicHeader => AuthType::BasicAuth,
        ClientAuth::RequestBody => AuthType::RequestBody,
    };
    let mut client = BasicClient::new(ClientId::new(client_id))
        .set_auth_uri(auth_url)
        .set_token_uri(token_url)
        .set_auth_type(auth_type);
    if let Some(secret) = secrets.get(&spec.client_secret_field) {
        client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
    }
    Ok(client)
}

pub(crate) fn redirect_url(uri: &str) -> Result<RedirectUrl, Error> {
    RedirectUrl::new(uri.to_owned()).map_err(|_| {
        crate::codes::oauth::INVALID_REDIRECT_URI
            .with_issues("the redirect URI is not a valid absolute URL", Vec::new())
    })
}

/// Exchanges an authorization code (with its PKCE verifier) for tokens.
pub(crate) async fn exchange_code(
    host: &Host,
    spec: &OAuth2Spec,
    secrets: &TargetSecrets,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&Secret>,
) -> Result<TokenSet, Error> {
    let client = client(spec, secrets)?;
    let redirect = redirect_url(redirect_uri)?;
    let mut request = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_redirect_uri(Cow::Owned(redirect));
    if let Some(verifier) = verifier {
        request = request.set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_owned()));
    }
    let adapter = TokenEndpointHttp::new(host.http_arc(), &spec.token_request_headers);
    let response = http_adapter::send(&adapter, request.request_async(&adapter)).await?;
    tracing::debug!(
        target: "integrations::auth",
        status = response.status().as_u16(),
        grant = "authorization_code",
        "token endpoint answered"
    );
    token_response::parse(&response, spec, host.clock().now())
}

/// Exchanges a refresh token for new tokens.
pub(crate) async fn refresh(
    host: &Host,
    spec: &OAuth2Spec,
    secrets: &TargetSecrets,
    refresh_token: &Secret,
) -> Result<TokenSet, Error> {
    let client = client(spec, secrets)?;
    let token = RefreshToken::new(refresh_token.expose().to_owned());
    let request = client.exchange_refresh_token(&token);
    let adapter = TokenEndpointHttp::new(host.http_arc(), &spec.token_request_headers);
    let response = http_adapter::send(&adapter, request.request_async(&adapter)).await?;
    tracing::debug!(
        target: "integrations::auth",
        status = response.status().as_u16(),
        grant = "refresh_token",
        "token endpoint answered"
    );
    token_response::parse(&response, spec, host.clock().now())
}

/// Requests a token with the client credentials grant.
pub(crate) async fn client_credentials(
    host: &Host,
    spec: &OAuth2Spec,
    secrets: &TargetSecrets,
    scopes: &[String],
) -> Result<TokenSet, Error> {
    let client = client(spec, secrets)?;
    let mut request = client.exchange_client_credentials();
    if !scopes.is_empty() {
        // One pre-joined scope: oauth2 joins with spaces, the provider may want commas.
        request = request.add_scope(Scope::new(spec.join_scopes(scopes)));
    }
    let adapter = TokenEndpointHttp::new(host.http_arc(), &spec.token_request_headers);
    let response = http_adapter::send(&adapter, request.request_async(&adapter)).await?;
    tracing::debug!(
        target: "integrations::auth",
        status = response.status().as_u16(),
        grant = "client_credentials",
        "token endpoint answered"
    );
    token_response::parse(&response, spec, host.clock().now())
}
