//! Revoking a GitHub OAuth grant when a connection is disconnected.
//!
//! GitHub has no Bearer revocation endpoint: the OAuth app (or GitHub App) deletes the
//! user's authorization with `DELETE {api}/applications/{client_id}/grant`,
//! authenticated with HTTP Basic `client_id:client_secret`, the token in a JSON body
//! (`{"access_token": ...}`). 204 deleted; 404 GitHub does not know the token (revoked
//! or deleted already); 422 a malformed request. Deleting the grant revokes every token
//! of that user for the app, which is what disconnecting means.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{Method, StatusCode};
use integrations_core::auth::RemoteRevocation;
use integrations_core::provider::{GrantRevoker, RevokeContext};
use integrations_core::{Error, Secret};

use super::tools::USER_AGENT_VALUE;
use super::{GitHub, Variant};

/// The target secret holding the OAuth client secret.
const CLIENT_SECRET: &str = "client_secret";

/// Deletes a GitHub OAuth authorization (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(super) struct GrantDeletion(pub(super) Variant);

#[async_trait]
impl GrantRevoker for GrantDeletion {
    async fn revoke(&self, context: &RevokeContext<'_>) -> Result<RemoteRevocation, Error> {
        let endpoints = GitHub { variant: self.0 }.endpoints(context.target_config)?;
        let client_id = context.spec.client_id.as_deref().ok_or_else(|| {
            integrations_core::codes::auth::MISSING_CLIENT_ID
                .error("the target config has no OAuth client id")
        })?;
        let client_secret = context.target_secrets.require(CLIENT_SECRET)?;
        let credentials = Secret::new(format!("{client_id}:{}", client_secret.expose()));
        let mut basic =
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials.expose())))
                .map_err(|_| invalid_client())?;
        basic.set_sensitive(true);
        let body = serde_json::json!({"access_token": context.access_token.expose()}).to_string();
        let url = endpoints.api.join(&format!(
            "/applications/{}/grant",
            url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect::<String>()
        ));
        let request = http::Request::builder()
            .method(Method::DELETE)
            .uri(url.as_str())
            .header(AUTHORIZATION, basic)
            .header(ACCEPT, "application/vnd.github+json")
            .header(CONTENT_TYPE, "application/json")
            .header("X-GitHub-Api-Version", endpoints.api_version.as_str())
            .header(USER_AGENT, USER_AGENT_VALUE)
            .body(Bytes::from(body))
            .map_err(|_| {
                crate::codes::github::INVALID_URL.error("the GitHub API URL is invalid")
            })?;
        let response = context.host.http().send(request).await?;
        let what = "deleting the OAuth authorization";
        if let Some(error) =
            super::http_errors::transient(&response, what, context.host.clock().now())
        {
            return Err(error);
        }
        match response.status() {
            StatusCode::NO_CONTENT | StatusCode::OK => Ok(RemoteRevocation::Revoked),
            StatusCode::NOT_FOUND => Ok(RemoteRevocation::AlreadyInvalid),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(invalid_client()),
            status => Err(
                integrations_core::codes::oauth::REVOCATION_REFUSED.error(format!(
                    "GitHub answered HTTP {} while {what}",
                    status.as_u16()
                )),
            ),
        }
    }
}

fn invalid_client() -> Error {
    integrations_core::codes::oauth::INVALID_CLIENT.error("GitHub refused the target's client_id and client_secret while deleting an OAuth authorization",
    )
}
