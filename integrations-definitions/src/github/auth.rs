//! GitHub auth: the identity check, the App installation redirect flow and the
//! installation-token resolver (an RS256 app JWT exchanged for a token narrowed to the
//! binding's repositories).
//!
//! An installation is stored only once the user who completed it proves they can access
//! it ([`AppInstallationFlow`]).
//!
//! Facts (providers.md §2.2): the App JWT is RS256 with `iat` 60 s in the past (clock
//! drift), `exp` at most 10 minutes after `iat`, `iss` the App id; installation tokens
//! come from `POST /app/installations/{id}/access_tokens` (optionally narrowed with
//! `repositories`, names without the owner, which GitHub resolves inside the
//! installation's account) and last an hour. App API requests carry the `User-Agent`
//! GitHub requires; its rate limits (429, or 403 as a primary or secondary limit) are
//! temporary errors with the wait it asks for.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::StatusCode;
use integrations_core::auth::credential_revoked;
use integrations_core::credential::ResolvedCredential;
use integrations_core::definition::{ConnectionMethod, IdentityCheck};
use integrations_core::host::{Host, HttpResponse};
use integrations_core::model::CredentialType;
use integrations_core::plan::{AuthInjection, CredentialSelector};
use integrations_core::provider::{
    CredentialResolver, RedirectCallback, RedirectFlow, RedirectOutcome, RedirectStart,
    ResolverContext,
};
use integrations_core::schema::Parsed;
use integrations_core::tools::RequestAuth;
use integrations_core::{Error, Secret, Timestamp, ValidationIssue};
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use super::schemas::GitHubEndpoints;
use super::{GitHub, Variant, installation_owner};

/// The connection method of App installations.
pub const INSTALLATION_METHOD: &str = "github-app-installation";

/// The connection method of GitHub user authorizations (an OAuth App's or a GitHub App's
/// user-to-server tokens).
pub const OAUTH_METHOD: &str = "oauth2";

/// What a GitHub OAuth connection's external subject starts with, before the user's
/// numeric id (`user:583231`); installation connections' subjects are bare installation
/// ids.
pub const USER_SUBJECT_PREFIX: &str = "user:";

/// The key of the installation-token resolver, for a
/// [`CredentialSelector`] (`resolver`).
/// Its parameter `repositories` (`["owner/name", ...]`) narrows the token; every owner
/// must be the installation's account (`github.repository_outside_installation`
/// otherwise, before any token is minted).
pub const INSTALLATION_TOKEN_RESOLVER: &str = "installation-token";
/// The target secret holding the App's private key (PEM).
pub const APP_PRIVATE_KEY_SECRET: &str = "app_private_key_pem";

/// The identity check of a GitHub token: `GET /user`.
pub(crate) fn identity_check(
    github: &GitHub,
    method: &ConnectionMethod,
    target_config: &Parsed,
) -> Option<IdentityCheck> {
    if method.id.as_str() == INSTALLATION_METHOD {
        return None;
    }
    let endpoints = github.endpoints(target_config).ok()?;
    // Accept, the API version and User-Agent are the definition's default headers.
    let check = IdentityCheck::get(endpoints.api.join("/user"), AuthInjection::Bearer);
    if method.id.as_str() != OAUTH_METHOD {
        // A personal access token has no subject: two keys of one user reach different
        // repositories (fine-grained tokens are bound to one owner), so each is a
        // connection of its own rather than the same account reauthorized.
        return Some(check);
    }
    // An OAuth grant is the user's: the user's id is the connection's subject, so
    // connecting the same user again reauthorizes their connection, and reauthorizing it
    // as another user is refused (`auth.subject_mismatch`). Prefixed, as GitHub's
    // webhooks are routed by installation id, a number a user id can equal.
    Some(
        check
            .with_subject_pointer("/id")
            .with_subject_prefix(USER_SUBJECT_PREFIX),
    )
}

fn config_error(code: integrations_core::Code, message: &'static str) -> Error {
    code.error(message)
}

/// Signs an App JWT: RS256, `iat` = now − 60 s, `exp` = now + 9 min, `iss` = the App id.
///
/// # Errors
///
/// [`ErrorKind::Configuration`](integrations_core::ErrorKind::Configuration) (`github.invalid_app_key`) when the key is not an RSA
/// private key in PKCS#1 or PKCS#8 PEM.
pub fn app_jwt(app_id: u64, private_key_pem: &Secret, now: Timestamp) -> Result<Secret, Error> {
    let pem = private_key_pem.expose();
    let key = RsaPrivateKey::from_pkcs1_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem))
        .map_err(|_| {
            config_error(
                crate::codes::github::INVALID_APP_KEY,
                "the GitHub App private key is not an RSA private key in PEM",
            )
        })?;
    let now = now.unix_seconds();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(
        json!({"iat": now - 60, "exp": now + 540, "iss": app_id})
            .to_string()
            .as_bytes(),
    );
    let signing_input = format!("{header}.{claims}");
    let signature = SigningKey::<Sha256>::new(key)
        .try_sign(signing_input.as_bytes())
        .map_err(|_| {
            config_error(
                crate::codes::github::INVALID_APP_KEY,
                "the GitHub App private key cannot sign",
            )
        })?;
    Ok(Secret::new(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )))
}

fn app_request(
    method: http::Method,
    url: &str,
    jwt: &Secret,
    api_version: &str,
    body: Option<&serde_json::Value>,
) -> Result<http::Request<Bytes>, Error> {
    let mut authorization = http::HeaderValue::from_str(&format!("Bearer {}", jwt.expose()))
        .map_err(|_| Error::internal("an App JWT is not a header value"))?;
    authorization.set_sensitive(true);
    let mut builder = http::Request::builder()
        .method(method)
        .uri(url)
        .header(http::header::AUTHORIZATION, authorization)
        .header(http::header::ACCEPT, "application/vnd.github+json")
        .header("X-GitHub-Api-Version", api_version)
        // GitHub refuses REST requests without one (403).
        .header(http::header::USER_AGENT, super::tools::USER_AGENT_VALUE);
    let body = match body {
        Some(body) => {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    builder.body(body).map_err(|_| {
        config_error(
            crate::codes::github::INVALID_URL,
            "the GitHub API URL is invalid",
        )
    })
}

/// Maps an App API failure at `now` to an error: rate limits (429, or a 403 that is a
/// primary or secondary limit) and 5xx are temporary, with GitHub's wait
/// ([`http_errors::transient`](super::http_errors::transient)).
fn app_api_error(response: &HttpResponse, what: &str, now: Timestamp) -> Error {
    if let Some(temporary) = super::http_errors::transient(response, what, now) {
        return temporary;
    }
    match response.status() {
        StatusCode::UNAUTHORIZED => crate::codes::github::APP_JWT_REJECTED.error(format!(
            "GitHub refused the App JWT while {what}; check the target's app_id and private key"
        )),
        StatusCode::NOT_FOUND => credential_revoked(
            "the GitHub App installation no longer exists; install the App again",
        ),
        s => crate::codes::github::APP_REQUEST_REFUSED
            .error(format!("GitHub answered HTTP {} while {what}", s.as_u16())),
    }
}

/// [`app_api_error`] for a request about an installation, a 404 confirmed: the
/// installation is gone (the grant is revoked, which marks the connection) only when
/// GitHub knows the App (`GET /app` answers with the same JWT). Otherwise the target's
/// API base or App is wrong: a configuration error, which marks nothing, so fixing the
/// target brings every installation connection back.
async fn app_api_failure(
    host: &Host,
    app: &AppCredentials,
    jwt: &Secret,
    response: &HttpResponse,
    what: &str,
) -> Error {
    let now = host.clock().now();
    if response.status() != StatusCode::NOT_FOUND {
        return app_api_error(response, what, now);
    }
    let url = app.endpoints.api.join("/app");
    let request = match app_request(
        http::Method::GET,
        &url,
        jwt,
        &app.endpoints.api_version,
        None,
    ) {
        Ok(request) => request,
        Err(e) => return e,
    };
    match host.http().send(request).await {
        Ok(known) if known.status().is_success() => app_api_error(response, what, now),
        Ok(unknown) if unknown.status() == StatusCode::NOT_FOUND => {
            crate::codes::github::APP_NOT_FOUND.error(format!(
                "GitHub answered 404 while {what}, and does not know the App at this API base either; check the target's api_base_url and app_id"
            ))
        }
        Ok(other) => app_api_error(&other, "checking the App", now),
        Err(e) => e,
    }
}

struct AppCredentials {
    endpoints: GitHubEndpoints,
    id: u64,
    key: Secret,
}

fn app(
    variant: Variant,
    target_config: &Parsed,
    secrets: &integrations_core::auth::TargetSecrets,
) -> Result<AppCredentials, Error> {
    let endpoints = GitHub { variant }.endpoints(target_config)?;
    let app_id = endpoints.app_id.ok_or_else(|| {
        config_error(
            crate::codes::github::MISSING_APP_ID,
            "the target config has no GitHub App id (app_id)",
        )
    })?;
    let key = secrets.require(APP_PRIVATE_KEY_SECRET)?.clone();
    Ok(AppCredentials {
        endpoints,
        id: app_id,
        key,
    })
}

fn installation_id(text: &str) -> Option<u64> {
    (!text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// The GitHub App installation redirect flow: the user installs the App, GitHub calls the
/// setup URL back with `installation_id`, which becomes the connection's external
/// subject after the App confirms the installation is its own and the user proves they
/// can access it.
///
/// The `installation_id` of the callback is chosen by whoever follows the link, so by
/// default the callback must also carry the OAuth `code` GitHub adds when the App
/// requests user authorization during installation: it is exchanged for a user access
/// token (used for the check only, never stored) whose `GET /user/installations` must
/// list the installation. A callback without a code is refused
/// (`github.installation_unverified`) unless the target sets
/// `verify_installation_owner: false`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AppInstallationFlow {
    variant: Variant,
}

impl AppInstallationFlow {
    pub(crate) const fn new(variant: Variant) -> Self {
        Self { variant }
    }
}

#[async_trait]
impl RedirectFlow for AppInstallationFlow {
    fn redirect_url(&self, start: &RedirectStart<'_>) -> Result<String, Error> {
        let endpoints = GitHub {
            variant: self.variant,
        }
        .endpoints(start.target_config)?;
        let slug = endpoints.app_slug.as_deref().ok_or_else(|| {
            config_error(
                crate::codes::github::MISSING_APP_SLUG,
                "the target config has no GitHub App slug (app_slug)",
            )
        })?;
        // github.com serves App pages under /apps, Enterprise Server under /github-apps.
        let prefix = match self.variant {
            Variant::Cloud => "apps",
            Variant::EnterpriseServer => "github-apps",
        };
        let mut url = url::Url::parse(
            &endpoints
                .web
                .join(&format!("/{prefix}/{slug}/installations/new")),
        )
        .map_err(|_| {
            config_error(
                crate::codes::github::INVALID_URL,
                "the GitHub web URL is invalid",
            )
        })?;
        url.query_pairs_mut().append_pair("state", start.state);
        Ok(url.into())
    }

    async fn complete(&self, callback: &RedirectCallback<'_>) -> Result<RedirectOutcome, Error> {
        if callback.params.get("setup_action").map(String::as_str) == Some("request") {
            return Err(crate::codes::github::INSTALLATION_PENDING.error("the installation waits for an organization owner's approval; connect again once approved",
            ));
        }
        let Some(id) = callback
            .params
            .get("installation_id")
            .and_then(|v| installation_id(v))
        else {
            return Err(crate::codes::github::INVALID_INSTALLATION_ID.with_issues(
                "the callback has no valid installation_id",
                vec![ValidationIssue::new(
                    crate::codes::github::INVALID_INSTALLATION_ID,
                    "/installation_id",
                    "installation_id must be a number",
                )],
            ));
        };
        let app = app(
            self.variant,
            callback.target_config,
            callback.target_secrets,
        )?;
        let code = callback.params.get("code").filter(|c| !c.is_empty());
        if code.is_none() && app.endpoints.verify_installation_owner {
            return Err(crate::codes::github::INSTALLATION_UNVERIFIED.error("the installation callback has no OAuth code, so who installed the App cannot be verified; enable \"Request user authorization (OAuth) during installation\" on the GitHub App",
            ));
        }
        let jwt = app_jwt(app.id, &app.key, callback.host.clock().now())?;
        let url = app.endpoints.api.join(&format!("/app/installations/{id}"));
        let response = callback
            .host
            .http()
            .send(app_request(
                http::Method::GET,
                &url,
                &jwt,
                &app.endpoints.api_version,
                None,
            )?)
            .await?;
        if !response.status().is_success() {
            let error = app_api_error(
                &response,
                "confirming the installation",
                callback.host.clock().now(),
            );
            return Err(
                if error.code() == integrations_core::auth::CREDENTIAL_REVOKED {
                    crate::codes::github::INSTALLATION_NOT_FOUND
                        .error("the installation does not exist or belongs to another App")
                } else {
                    error
                },
            );
        }
        if let Some(code) = code {
            installation_owner::verify(
                callback.host,
                &app.endpoints,
                callback.target_secrets,
                code,
                id,
            )
            .await?;
        }
        Ok(RedirectOutcome::with_subject(id.to_string()))
    }
}

#[derive(Deserialize)]
struct InstallationToken {
    token: String,
    expires_at: String,
}

/// A repository an installation token is narrowed to, `owner/name` split.
struct Narrowed {
    owner: String,
    name: String,
}

/// The repositories an installation token is narrowed to: the selector's `repositories`
/// (`["owner/name", ...]`), when given.
fn narrowed_repositories(context: &ResolverContext<'_>) -> Result<Option<Vec<Narrowed>>, Error> {
    let Some(value) = context.selector.parameters.get("repositories") else {
        return Ok(None);
    };
    let invalid = || {
        crate::codes::github::INVALID_REPOSITORIES
            .error("the repositories parameter must be a list of owner/name")
    };
    let items = value.as_array().ok_or_else(invalid)?;
    let mut repositories = Vec::with_capacity(items.len());
    for item in items {
        let full = item.as_str().ok_or_else(invalid)?;
        let (owner, name) = full.split_once('/').ok_or_else(invalid)?;
        if owner.is_empty() || name.is_empty() || name.contains('/') {
            return Err(invalid());
        }
        repositories.push(Narrowed {
            owner: owner.to_owned(),
            name: name.to_owned(),
        });
    }
    Ok(Some(repositories))
}

/// The names GitHub's `repositories` parameter takes, once every repository is known to
/// belong to `account`: GitHub resolves each bare name inside the installation's account,
/// so `acme-labs/secret` sent as `secret` to an `acme` installation would narrow the
/// token to `acme/secret`, a repository the binding never named. Owners compare
/// case-insensitively, as GitHub logins do. Deduplicated and sorted.
fn names_in(account: &str, repositories: &[Narrowed]) -> Result<Vec<String>, Error> {
    if let Some(outside) = repositories
        .iter()
        .find(|r| !r.owner.eq_ignore_ascii_case(account))
    {
        let repository = format!("{}/{}", outside.owner, outside.name);
        return Err(
            crate::codes::github::REPOSITORY_OUTSIDE_INSTALLATION.error(format!(
                "the repository {repository} is not in the account of the GitHub App \
                 installation ({account}), the only one its tokens reach; bind it through \
                 an installation on {}",
                outside.owner
            )),
        );
    }
    let names: BTreeSet<&str> = repositories.iter().map(|r| r.name.as_str()).collect();
    Ok(names.into_iter().map(str::to_owned).collect())
}

#[derive(Deserialize)]
struct InstallationAccount {
    login: String,
}

#[derive(Deserialize)]
struct InstallationRecord {
    account: InstallationAccount,
}

/// How a REST request through a GitHub connection is authenticated: with the
/// connection method's `default` credential (a token's or OAuth's), or, for an App
/// installation, which has none, a `Bearer` installation token the token manager mints
/// with [`INSTALLATION_TOKEN_RESOLVER`] (not narrowed: it reaches every repository of the
/// installation).
pub(super) fn api_auth(default: Option<&CredentialSelector>) -> RequestAuth {
    let selector = default.cloned().unwrap_or_else(|| {
        CredentialSelector::of_type(CredentialType::OAUTH2_ACCESS_TOKEN)
            .with_resolver(INSTALLATION_TOKEN_RESOLVER)
    });
    RequestAuth::bearer(selector)
}

/// Mints installation tokens: an App JWT exchanged at
/// `POST /app/installations/{id}/access_tokens`, narrowed to the selector's
/// `repositories` when given, once `GET /app/installations/{id}` has shown that every one
/// of them belongs to the installation's account. The token manager caches each until
/// shortly before its expiry.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct InstallationTokens {
    variant: Variant,
    /// As the default resolver: only connections of the installation method.
    default: bool,
}

impl InstallationTokens {
    pub(crate) const fn custom(variant: Variant) -> Self {
        Self {
            variant,
            default: false,
        }
    }

    pub(crate) const fn default_for(variant: Variant) -> Self {
        Self {
            variant,
            default: true,
        }
    }

    async fn mint(
        &self,
        context: &ResolverContext<'_>,
        host: &Host,
    ) -> Result<ResolvedCredential, Error> {
        let id = context
            .connection
            .external_subject
            .as_deref()
            .and_then(installation_id)
            .ok_or_else(|| {
                config_error(
                    crate::codes::github::NO_INSTALLATION,
                    "the connection has no GitHub App installation id",
                )
            })?;
        let app = app(self.variant, context.target_config, context.target_secrets)?;
        let repositories = narrowed_repositories(context)?;
        let jwt = app_jwt(app.id, &app.key, host.clock().now())?;
        let body = match &repositories {
            Some(repositories) => {
                let account = installation_account(host, &app, &jwt, id).await?;
                Some(json!({"repositories": names_in(&account, repositories)?}))
            }
            None => None,
        };
        let url = app
            .endpoints
            .api
            .join(&format!("/app/installations/{id}/access_tokens"));
        let response = host
            .http()
            .send(app_request(
                http::Method::POST,
                &url,
                &jwt,
                &app.endpoints.api_version,
                body.as_ref(),
            )?)
            .await?;
        if !response.status().is_success() {
            return Err(app_api_failure(
                host,
                &app,
                &jwt,
                &response,
                "minting an installation token",
            )
            .await);
        }
        let token: InstallationToken = serde_json::from_slice(response.body()).map_err(|_| {
            crate::codes::github::INVALID_RESPONSE
                .error("GitHub's installation-token answer is not what the API documents")
        })?;
        let expires_at = Timestamp::parse_rfc3339(&token.expires_at).unwrap_or_else(|_| {
            // Documented as one hour; assume it when the date is unreadable.
            host.clock().now().saturating_add(Duration::from_secs(3600))
        });
        Ok(ResolvedCredential::new(
            Secret::new(token.token),
            Some(expires_at),
        ))
    }
}

/// The login of the account installation `id` is on (`GET /app/installations/{id}`).
async fn installation_account(
    host: &Host,
    app: &AppCredentials,
    jwt: &Secret,
    id: u64,
) -> Result<String, Error> {
    let url = app.endpoints.api.join(&format!("/app/installations/{id}"));
    let response = host
        .http()
        .send(app_request(
            http::Method::GET,
            &url,
            jwt,
            &app.endpoints.api_version,
            None,
        )?)
        .await?;
    if !response.status().is_success() {
        return Err(app_api_failure(host, app, jwt, &response, "reading the installation").await);
    }
    let record: InstallationRecord = serde_json::from_slice(response.body()).map_err(|_| {
        crate::codes::github::INVALID_RESPONSE
            .error("GitHub's answer about the installation is not what the API documents")
    })?;
    Ok(record.account.login)
}

#[async_trait]
impl CredentialResolver for InstallationTokens {
    async fn resolve(
        &self,
        context: &ResolverContext<'_>,
    ) -> Result<Option<ResolvedCredential>, Error> {
        if self.default && context.connection.method.as_str() != INSTALLATION_METHOD {
            return Ok(None);
        }
        self.mint(context, context.host).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installation_ids_are_numbers() {
        assert_eq!(installation_id("41234567"), Some(41_234_567));
        for bad in ["", "12a", "-1", "1 2", "99999999999999999999999"] {
            assert_eq!(installation_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_bad_key_is_a_configuration_error_without_echo() {
        let e = app_jwt(
            1,
            &Secret::new("-----BEGIN RSA PRIVATE KEY-----\nnot-a-key-secret\n"),
            Timestamp::UNIX_EPOCH,
        )
        .unwrap_err();
        assert_eq!(e.code(), "github.invalid_app_key");
        assert!(!format!("{e:?}").contains("not-a-key-secret"));
    }
}
