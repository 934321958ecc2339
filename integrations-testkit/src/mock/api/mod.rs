//! Mock provider APIs for tool tests: Linear (GraphQL), GitHub (REST, cloud and
//! Enterprise Server), Slack (Web API) and OpenAI, each on a [`MockProvider`].
//!
//! Each mock checks a request the way the real API does (method, path, auth scheme,
//! headers, JSON or form body fields) and answers with realistic bodies, quirks included
//! (Slack's HTTP 200 `ok:false`, Linear's errors in `errors[]`, GitHub's `Link` header
//! pagination); paginates as the provider does; records every request for assertions;
//! and can be switched to fail once (a refused token, a rate limit).
//!
//! [`FakeTokenManager`] is a faithful stand-in for the auth engine's token manager: it
//! reads credentials sealed in the host's store and refreshes an OAuth access token
//! through a [`RefreshEndpoint`] over HTTP when a provider refuses it.
//!
//! [`MockProvider`]: super::MockProvider

mod credentials;
mod github;
mod github_hooks;
mod github_sync;
mod linear;
mod linear_hooks;
mod linear_sync;
mod openai;
mod slack;
mod slack_sync;
mod sync_common;
mod token;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use wiremock::Request;

pub use credentials::FakeTokenManager;
pub use github::{GitHubApi, GitHubFailure};
pub use github_hooks::GitHubHooks;
pub use github_sync::GitHubSyncApi;
pub use linear::{LinearApi, LinearFailure};
pub use linear_hooks::LinearWebhooks;
pub use linear_sync::LinearSyncApi;
pub use openai::{OpenAiApi, OpenAiFailure};
pub use slack::{SlackApi, SlackFailure};
pub use slack_sync::SlackSyncApi;
pub use sync_common::SyncFault;
pub use token::{MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, RefreshEndpoint};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How a provider expects a token in `Authorization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: <token>`, no scheme (Linear personal API keys).
    Raw,
    /// `Authorization: Bearer <token>` or `Authorization: token <token>` (GitHub).
    BearerOrToken,
}

/// What an `Authorization` header amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    /// No header.
    Missing,
    /// A header with an unknown token, or a known one in the wrong scheme.
    Invalid,
    /// A token this API accepts.
    Valid,
}

/// The tokens an API accepts, shared between the API mock and a [`RefreshEndpoint`] that
/// issues new ones.
#[derive(Clone, Default)]
pub struct Tokens {
    accepted: Arc<Mutex<BTreeMap<String, Scheme>>>,
    issuer: Arc<Mutex<Option<Issuer>>>,
}

/// Decides whether a bearer token is live, for tokens another mock issues.
type Issuer = Arc<dyn Fn(&str) -> bool + Send + Sync>;

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("accepted", &lock(&self.accepted).len())
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// No token is accepted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `token` in `scheme`.
    pub fn accept(&self, token: impl Into<String>, scheme: Scheme) {
        lock(&self.accepted).insert(token.into(), scheme);
    }

    /// Also accepts, as `Bearer`, every token `issuer` says is live: an OAuth mock's
    /// current access tokens, so rotated and revoked ones stop working there too.
    pub(crate) fn accept_issued_by(&self, issuer: impl Fn(&str) -> bool + Send + Sync + 'static) {
        *lock(&self.issuer) = Some(Arc::new(issuer));
    }

    /// Stops accepting `token` (it expired or was revoked).
    pub fn revoke(&self, token: &str) {
        lock(&self.accepted).remove(token);
    }

    /// Stops accepting every token (so the next request is refused, whatever it carries).
    pub fn revoke_all(&self) {
        lock(&self.accepted).clear();
    }

    /// Whether an `Authorization` header value carries an accepted token in its scheme.
    pub fn accepts(&self, authorization: Option<&str>) -> bool {
        self.classify(authorization) == Auth::Valid
    }

    pub(crate) fn check(&self, request: &Request) -> Auth {
        self.classify(
            request
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        )
    }

    fn classify(&self, authorization: Option<&str>) -> Auth {
        let Some(header) = authorization else {
            return Auth::Missing;
        };
        let (scheme, token) = match header.split_once(' ') {
            Some((scheme, token)) => (Some(scheme), token),
            None => (None, header),
        };
        let issued = lock(&self.issuer).clone();
        if let (Some(issued), Some(s)) = (issued, scheme)
            && s.eq_ignore_ascii_case("bearer")
            && issued(token)
        {
            return Auth::Valid;
        }
        let accepted = lock(&self.accepted);
        let ok = accepted
            .get(token)
            .is_some_and(|expected| match (expected, scheme) {
                (Scheme::Raw, None) => true,
                (Scheme::Bearer, Some(s)) => s.eq_ignore_ascii_case("bearer"),
                (Scheme::BearerOrToken, Some(s)) => {
                    s.eq_ignore_ascii_case("bearer") || s.eq_ignore_ascii_case("token")
                }
                _ => false,
            });
        if ok { Auth::Valid } else { Auth::Invalid }
    }
}

/// A request an API mock received.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// The path, percent-encoded as sent.
    pub path: String,
    /// The query pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The headers, lowercased names (the last value of a repeated header).
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Recorded {
    pub(crate) fn of(request: &Request) -> Self {
        Self {
            method: request.method.to_string(),
            path: request.url.path().to_owned(),
            query: request
                .url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            headers: request
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: request.body.clone(),
        }
    }

    /// A header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as form fields, decoded.
    pub fn form(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// A query parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The requests an API mock received, shared with its responder.
#[derive(Debug, Clone, Default)]
pub(crate) struct Journal {
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Journal {
    pub(crate) fn record(&self, request: &Request) -> Recorded {
        let recorded = Recorded::of(request);
        lock(&self.requests).push(recorded.clone());
        recorded
    }

    pub(crate) fn all(&self) -> Vec<Recorded> {
        lock(&self.requests).clone()
    }
}
