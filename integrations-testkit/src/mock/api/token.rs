//! [`RefreshEndpoint`]: an OAuth 2.0 token endpoint that serves the refresh-token grant
//! (RFC 6749 §6), rotating the refresh token on every use, and makes each new access
//! token valid at the API mock it shares [`Tokens`] with.

use std::sync::{Arc, Mutex};

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::{Scheme, Tokens, lock};
use crate::mock::MockProvider;

#[derive(Debug)]
struct State {
    refresh_token: String,
    issued: usize,
    prefix: String,
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
        if form.get("refresh_token") != Some(&state.refresh_token) {
            return oauth_error("invalid_grant");
        }
        state.issued += 1;
        let access = format!("{}-access-{}", state.prefix, state.issued);
        state.refresh_token = format!("{}-refresh-{}", state.prefix, state.issued);
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
    /// `refresh_token` once (then the rotated one), and each access token it issues
    /// (`<prefix>-access-<n>`) becomes valid in `tokens` with `scheme`.
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
