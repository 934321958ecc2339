//! [`RefreshEndpoint`]: an OAuth 2.0 token endpoint that serves the refresh-token grant
//! (RFC 6749 §6), rotating the refresh token on every use, and makes each new access
//! token valid at the API mock it shares [`Tokens`] with.
//!
//! It is as strict as a careful provider: the client must authenticate (RFC 6749 §2.3.1,
//! HTTP Basic or `client_id`/`client_secret` form fields, never both), and a refresh
//! token that was already rotated away is a replay (RFC 9700 §4.14.2): the whole token
//! family dies, the live refresh token and every access token the endpoint issued.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::{Scheme, Tokens, lock};
use crate::mock::MockProvider;

/// The client id a [`RefreshEndpoint`] expects unless told otherwise, and the one
/// [`FakeTokenManager`](super::FakeTokenManager) presents.
pub const MOCK_CLIENT_ID: &str = "mock-api-client";
/// The matching client secret.
pub const MOCK_CLIENT_SECRET: &str = "mock-api-client-secret-5e0a";

#[derive(Debug)]
struct State {
    refresh_token: String,
    issued: usize,
    prefix: String,
    client_id: String,
    client_secret: String,
    /// A public client also registered (RFC 6749 §2.1): it has no secret and names
    /// itself by the `client_id` form field alone.
    public_client: Option<String>,
    /// Refresh tokens rotated away: presenting one again is a replay.
    used: BTreeSet<String>,
    /// Access tokens issued, so a replay can revoke them.
    access: Vec<String>,
    /// Whether a replay killed the family.
    family_revoked: bool,
}

/// A token endpoint for the refresh-token grant.
#[derive(Debug, Clone)]
pub struct RefreshEndpoint {
    url: String,
    state: Arc<Mutex<State>>,
}

struct Responder {
    state: Arc<Mutex<State>>,
    tokens: Tokens,
    scheme: Scheme,
}

fn oauth_error(code: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({"error": code}))
}

/// The client credentials of a token request: HTTP Basic (each part form-decoded) or the
/// form fields; `Err` when both are present (RFC 6749 §2.3: one method per request).
fn client_of(
    request: &Request,
    form: &std::collections::BTreeMap<String, String>,
) -> Result<Option<(String, String)>, ()> {
    let basic = request
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v.trim()).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| {
            let (id, secret) = v.split_once(':')?;
            let decode = |s: &str| -> String {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Some((decode(id), decode(secret)))
        });
    let body = form.get("client_secret").map(|secret| {
        (
            form.get("client_id").cloned().unwrap_or_default(),
            secret.clone(),
        )
    });
    match (basic, body) {
        (Some(_), Some(_)) => Err(()),
        (basic, body) => Ok(basic.or(body)),
    }
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let content_type = request
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            return oauth_error("invalid_request");
        }
        let form: std::collections::BTreeMap<String, String> =
            url::form_urlencoded::parse(&request.body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
            return oauth_error("unsupported_grant_type");
        }
        let mut state = lock(&self.state);
        match client_of(request, &form) {
            Err(()) => return oauth_error("invalid_request"),
            Ok(Some((id, secret))) if id == state.client_id && secret == state.client_secret => {}
            Ok(None)
                if state.public_client.is_some()
                    && form.get("client_id") == state.public_client.as_ref() => {}
            Ok(_) => {
                return ResponseTemplate::new(401)
                    .insert_header("www-authenticate", "Basic realm=\"token\"")
                    .set_body_json(json!({"error": "invalid_client"}));
            }
        }
        let presented = form.get("refresh_token").cloned().unwrap_or_default();
        if state.family_revoked || presented != state.refresh_token {
            if state.used.contains(&presented) && !state.family_revoked {
                // A replay of a rotated token: someone holds a copy. Kill the family.
                state.family_revoked = true;
                for access in &state.access {
                    self.tokens.revoke(access);
                }
            }
            return oauth_error("invalid_grant");
        }
        let rotated = std::mem::take(&mut state.refresh_token);
        state.used.insert(rotated);
        state.issued += 1;
        let access = format!("{}-access-{}", state.prefix, state.issued);
        state.refresh_token = format!("{}-refresh-{}", state.prefix, state.issued);
        state.access.push(access.clone());
        self.tokens.accept(access.clone(), self.scheme);
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 86_399,
            "refresh_token": state.refresh_token,
            "scope": "read,write",
        }))
    }
}

impl RefreshEndpoint {
    /// Mounts the endpoint at `POST <endpoint_path>` on `provider`. It accepts
    /// `refresh_token` once (then the rotated one) from the client [`MOCK_CLIENT_ID`]
    /// with [`MOCK_CLIENT_SECRET`] (see [`with_client`](Self::with_client)), and each
    /// access token it issues (`<prefix>-access-<n>`) becomes valid in `tokens` with
    /// `scheme`. A rotated refresh token presented again revokes the whole family.
    pub async fn mount(
        provider: &MockProvider,
        endpoint_path: &str,
        tokens: Tokens,
        scheme: Scheme,
        refresh_token: &str,
        prefix: &str,
    ) -> Self {
        let state = Arc::new(Mutex::new(State {
            refresh_token: refresh_token.to_owned(),
            issued: 0,
            prefix: prefix.to_owned(),
            client_id: MOCK_CLIENT_ID.to_owned(),
            client_secret: MOCK_CLIENT_SECRET.to_owned(),
            public_client: None,
            used: BTreeSet::new(),
            access: Vec::new(),
            family_revoked: false,
        }));
        Mock::given(method("POST"))
            .and(path(endpoint_path))
            .respond_with(Responder {
                state: state.clone(),
                tokens,
                scheme,
            })
            .named("refresh-token grant")
            .mount(provider.server())
            .await;
        Self {
            url: format!("{}{endpoint_path}", provider.uri()),
            state,
        }
    }

    /// Expects the client `client_id` with `client_secret` instead of the mock's.
    #[must_use]
    pub fn with_client(self, client_id: &str, client_secret: &str) -> Self {
        {
            let mut state = lock(&self.state);
            client_id.clone_into(&mut state.client_id);
            client_secret.clone_into(&mut state.client_secret);
        }
        self
    }

    /// Also accepts the public client `client_id` (RFC 6749 §2.1): it sends its id in the
    /// form and no secret in any form; the confidential client stays registered.
    #[must_use]
    pub fn with_public_client(self, client_id: &str) -> Self {
        lock(&self.state).public_client = Some(client_id.to_owned());
        self
    }

    /// Whether a replayed refresh token revoked the token family.
    pub fn family_revoked(&self) -> bool {
        lock(&self.state).family_revoked
    }

    /// The endpoint's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many access tokens it issued.
    pub fn issued(&self) -> usize {
        lock(&self.state).issued
    }

    /// The refresh token it accepts now.
    pub fn current_refresh_token(&self) -> String {
        lock(&self.state).refresh_token.clone()
    }
}
