//! [`FakeTokenManager`]: a [`CredentialSource`] that behaves like the auth engine's token
//! manager where tools can see it: credentials come from the host's credential store,
//! sealed; a refused OAuth access token is refreshed once through a real token endpoint
//! over HTTP (single-flight, compare-and-swap on write, the rotated refresh token stored
//! with the new access token), and a caller that lost the race gets the token the winner
//! stored; a static key is never "refreshed".

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use integrations_core::credential::{CredentialRequest, CredentialSource, ResolvedCredential};
use integrations_core::host::{Host, SecretCipherExt};
use integrations_core::model::{Connection, Credential, CredentialType};
use integrations_core::service::credential_aad;
use integrations_core::{Error, Secret};

/// A token manager for tests. See the module docs.
pub struct FakeTokenManager {
    host: Host,
    token_url: Option<String>,
    client: (String, String),
    refreshes: AtomicUsize,
    gate: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for FakeTokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTokenManager")
            .field("refreshes", &self.refreshes())
            .finish_non_exhaustive()
    }
}

/// A token endpoint's answer (RFC 6749 §5.1).
#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

fn not_found() -> Error {
    crate::codes::credential::NOT_FOUND.error("the connection holds no such credential")
}

impl FakeTokenManager {
    /// A manager over `host`'s credential store and cipher, which cannot refresh.
    pub fn new(host: Host) -> Self {
        Self {
            host,
            token_url: None,
            client: (
                super::MOCK_CLIENT_ID.to_owned(),
                super::MOCK_CLIENT_SECRET.to_owned(),
            ),
            refreshes: AtomicUsize::new(0),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    /// Refreshes OAuth access tokens at `url` (a [`RefreshEndpoint`](super::RefreshEndpoint)),
    /// authenticating as the client [`MOCK_CLIENT_ID`](super::MOCK_CLIENT_ID) with HTTP
    /// Basic (see [`with_client`](Self::with_client)).
    #[must_use]
    pub fn with_token_endpoint(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// Authenticates refreshes as `client_id` with `client_secret`.
    #[must_use]
    pub fn with_client(mut self, client_id: &str, client_secret: &str) -> Self {
        self.client = (client_id.to_owned(), client_secret.to_owned());
        self
    }

    /// How many refreshes it made.
    pub fn refreshes(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }

    /// Stores `credentials` (type and plaintext value, no slot) for `connection`, sealed,
    /// replacing what it held.
    ///
    /// # Errors
    ///
    /// Storage and cipher errors.
    pub async fn store(
        &self,
        connection: &Connection,
        credentials: &[(CredentialType, &str)],
    ) -> Result<u64, Error> {
        let now = self.host.clock().now();
        let mut sealed = Vec::new();
        for (credential_type, value) in credentials {
            let aad = credential_aad(connection, credential_type, None);
            let value = self
                .host
                .cipher()
                .seal_secret(&Secret::from(*value), &aad)?;
            sealed.push(Credential::new(credential_type.clone(), value, now));
        }
        let current = self
            .host
            .credentials()
            .load_credentials(&connection.tenant, &connection.id)
            .await?
            .map(|s| s.version);
        self.host
            .credentials()
            .swap_credentials(&connection.tenant, &connection.id, current, sealed)
            .await
    }

    fn open(&self, connection: &Connection, credential: &Credential) -> Result<Secret, Error> {
        credential.open(connection, self.host.cipher())
    }

    async fn refresh(
        &self,
        connection: &Connection,
        url: &str,
    ) -> Result<Option<ResolvedCredential>, Error> {
        let Some(set) = self
            .host
            .credentials()
            .load_credentials(&connection.tenant, &connection.id)
            .await?
        else {
            return Ok(None);
        };
        let Some(refresh) = set.find(&CredentialType::OAUTH2_REFRESH_TOKEN, None)? else {
            return Ok(None);
        };
        let refresh = self.open(connection, refresh)?;
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", refresh.expose())
            .finish();
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(&self.client.0),
            encode(&self.client.1)
        ));
        let request = http::Request::post(url)
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(Bytes::from(body))
            .map_err(|_| Error::internal("the refresh request could not be built"))?;
        let response = self.host.http().send(request).await?;
        if !response.status().is_success() {
            return Err(crate::codes::oauth::REFRESH_FAILED
                .error("the token endpoint refused the refresh token"));
        }
        let token: TokenResponse = serde_json::from_slice(response.body()).map_err(|_| {
            crate::codes::oauth::INVALID_TOKEN_RESPONSE
                .error("the token endpoint answered with an unexpected body")
        })?;
        let now = self.host.clock().now();
        let expires_at = token
            .expires_in
            .map(|s| now.saturating_add(std::time::Duration::from_secs(s)));
        let mut credentials: Vec<Credential> = set
            .credentials
            .iter()
            .filter(|c| {
                c.credential_type != CredentialType::OAUTH2_ACCESS_TOKEN
                    && (token.refresh_token.is_none()
                        || c.credential_type != CredentialType::OAUTH2_REFRESH_TOKEN)
            })
            .cloned()
            .collect();
        let seal = |credential_type: CredentialType, value: &str| {
            let aad = credential_aad(connection, &credential_type, None);
            self.host
                .cipher()
                .seal_secret(&Secret::from(value), &aad)
                .map(|sealed| Credential::new(credential_type, sealed, now))
        };
        credentials.push(
            seal(CredentialType::OAUTH2_ACCESS_TOKEN, &token.access_token)?.with_expiry(expires_at),
        );
        if let Some(rotated) = &token.refresh_token {
            credentials.push(seal(CredentialType::OAUTH2_REFRESH_TOKEN, rotated)?);
        }
        self.host
            .credentials()
            .swap_credentials(
                &connection.tenant,
                &connection.id,
                Some(set.version),
                credentials,
            )
            .await?;
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Ok(Some(ResolvedCredential::new(
            Secret::from(token.access_token),
            expires_at,
        )))
    }
}

#[async_trait]
impl CredentialSource for FakeTokenManager {
    async fn credential(
        &self,
        request: &CredentialRequest<'_>,
    ) -> Result<ResolvedCredential, Error> {
        let connection = request.connection;
        let selector = request.selector;
        if selector.resolver.is_some() {
            return Err(crate::codes::credential::UNKNOWN_RESOLVER
                .error("the fake token manager has no custom resolvers"));
        }
        let set = self
            .host
            .credentials()
            .load_credentials(&connection.tenant, &connection.id)
            .await?
            .ok_or_else(not_found)?;
        let credential = set
            .find(&selector.credential_type, selector.slot.as_deref())?
            .ok_or_else(not_found)?;
        let value = self.open(connection, credential)?;
        Ok(ResolvedCredential::new(value, credential.expires_at))
    }

    async fn credential_rejected(
        &self,
        request: &CredentialRequest<'_>,
        rejected: &Secret,
    ) -> Result<Option<ResolvedCredential>, Error> {
        // One refresh per connection at a time; a caller that waited reads what the
        // winner stored instead of refreshing again.
        let _gate = self.gate.lock().await;
        let current = self.credential(request).await?;
        if current.value.expose() != rejected.expose() {
            return Ok(Some(current));
        }
        if request.selector.credential_type != CredentialType::OAUTH2_ACCESS_TOKEN {
            return Ok(None);
        }
        let Some(url) = &self.token_url else {
            return Ok(None);
        };
        self.refresh(request.connection, url).await
    }
}
