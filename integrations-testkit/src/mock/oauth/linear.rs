//! The Linear mock: OAuth 2.0 (authorization code with PKCE, rotating refresh tokens,
//! client credentials) and the GraphQL `viewer` query the definition checks keys with.
//!
//! `/graphql` takes credentials as Linear does (providers.md §2.1, "API auth header"):
//! OAuth tokens as `Authorization: Bearer <token>`, personal API keys bare
//! (`Authorization: <key>`); either in the other form is refused with HTTP 400 and an
//! `AUTHENTICATION_ERROR` GraphQL error, as an unknown one is.
//!
//! Quirks reproduced (`shared` providers.md §2.1): scopes comma-separated in requests,
//! `scope` in answers a space-separated string or, for apps created before 2023-12, an
//! array; every refresh returns a new refresh token and kills the old one; legacy apps
//! get ~10-year tokens without a refresh token; client-credentials tokens last 30 days,
//! one live token per app, and the grant may be disabled. `POST /oauth/revoke` with the
//! access token as Bearer revokes the authorization (the access token and the refresh
//! token issued with it): 200 revoked, 400 without a token, 401 for a token it does not
//! know (already revoked, expired or rotated away).
//!
//! Strict where Linear's documentation allows it (see the [module](super) docs): a code
//! exchange must repeat the `redirect_uri`, codes expire and belong to their client, the
//! client authenticates with HTTP Basic or form fields but not both (PKCE exchanges may
//! omit the secret), and a replayed refresh token revokes its token family.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::{
    AuthorizeRules, FailureMode, Ledger, RefreshUse, TokenRequestRecord, bearer_only,
    check_exchange, client_credentials, consent, form, is_form, refusal,
};
use crate::mock::MockProvider;

const WITH_REFRESH: &str = include_str!("fixtures/linear.token.with-refresh.json");
const LEGACY: &str = include_str!("fixtures/linear.token.legacy-long-lived.json");
const REFRESHED: &str = include_str!("fixtures/linear.token.refreshed.json");
const CLIENT_CREDENTIALS: &str = include_str!("fixtures/linear.token.client-credentials.json");
const CLIENT_CREDENTIALS_DISABLED: &str =
    include_str!("fixtures/linear.error.client-credentials-disabled.json");

const CLIENT_ID: &str = "lin_client_4f1c2b";
const CLIENT_SECRET: &str = "linear-mock-client-secret-93ab";
const ORGANIZATION_ID: &str = "8e2cb3c0-5b8e-4b87-a1c4-6d3f0f6b9a11";
const KNOWN_SCOPES: &[&str] = &[
    "read",
    "write",
    "issues:create",
    "comments:create",
    "timeSchedule:write",
    "admin",
    "app:assignable",
    "app:mentionable",
];

struct Shared {
    ledger: Ledger,
    /// The personal API keys accepted ([`LinearMock::accept_api_key`]): sent bare, never
    /// as `Bearer`; every other live token is an OAuth token, sent as `Bearer` only.
    api_keys: Mutex<HashSet<String>>,
    array_scopes: AtomicBool,
    legacy_tokens: AtomicBool,
    client_credentials: AtomicBool,
    live_app_token: Mutex<Option<String>>,
}

/// A Linear mock on loopback. Point a `linear::linear-default` target at it with
/// [`target_config`](Self::target_config) and [`target_secrets`](Self::target_secrets).
pub struct LinearMock {
    provider: MockProvider,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LinearMock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinearMock")
            .field("uri", &self.provider.uri())
            .finish_non_exhaustive()
    }
}

fn json(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json; charset=utf-8")
}

fn oauth_error(code: &str, description: &str) -> ResponseTemplate {
    json(
        400,
        &json!({"error": code, "error_description": description}),
    )
}

fn template(fixture: &str) -> serde_json::Map<String, Value> {
    match serde_json::from_str(fixture) {
        Ok(Value::Object(map)) => map,
        _ => panic!("a Linear fixture is not a JSON object"),
    }
}

impl LinearMock {
    /// A mock of an app with refresh tokens and the client-credentials grant enabled.
    pub async fn start() -> Self {
        let provider = MockProvider::start().await;
        let port = provider.server().address().port();
        let shared = Arc::new(Shared {
            ledger: Ledger::new(u64::from(port) << 8 | 2),
            api_keys: Mutex::new(HashSet::new()),
            array_scopes: AtomicBool::new(false),
            legacy_tokens: AtomicBool::new(false),
            client_credentials: AtomicBool::new(true),
            live_app_token: Mutex::new(None),
        });
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(TokenEndpoint(Arc::clone(&shared)))
            .named("Linear token endpoint")
            .mount(provider.server())
            .await;
        Mock::given(method("POST"))
            .and(path("/oauth/revoke"))
            .respond_with(Revoke(Arc::clone(&shared)))
            .named("Linear token revocation")
            .mount(provider.server())
            .await;
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(body_string_contains("viewer"))
            .respond_with(GraphQl(Arc::clone(&shared)))
            .named("Linear GraphQL (viewer)")
            .mount(provider.server())
            .await;
        Self { provider, shared }
    }

    super::ledger_accessors!();

    /// The base URI (web and API).
    pub fn uri(&self) -> String {
        self.provider.uri()
    }

    /// Makes every access token issued so far stop working, as when tokens expire at
    /// Linear before the client's estimate; refresh tokens stay live.
    pub fn expire_access_tokens(&self) {
        self.shared.ledger.expire_access();
    }

    /// A check of live OAuth access tokens (personal API keys are not: they go bare), for
    /// an API mock that serves alongside and takes them as `Bearer`.
    pub(crate) fn live_access(&self) -> impl Fn(&str) -> bool + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move |token| shared.ledger.access_is_live(token) && !shared.is_api_key(token)
    }

    /// A `linear::linear-default` target config pointing at this mock.
    pub fn target_config(&self) -> Value {
        json!({
            "api_base_url": self.uri(),
            "web_base_url": self.uri(),
            "client_id": CLIENT_ID,
        })
    }

    /// The matching target secrets.
    pub fn target_secrets(&self) -> Value {
        json!({"client_secret": CLIENT_SECRET})
    }

    /// The mock's client secret (to assert it never leaks).
    pub fn client_secret(&self) -> &'static str {
        CLIENT_SECRET
    }

    /// The organization id the `viewer` query reports.
    pub fn organization_id(&self) -> &'static str {
        ORGANIZATION_ID
    }

    /// Answers `scope` as an array, as for apps created before 2023-12.
    pub fn use_array_scopes(&self, on: bool) {
        self.shared.array_scopes.store(on, Ordering::SeqCst);
    }

    /// Issues long-lived tokens without a refresh token, as legacy apps get.
    pub fn issue_legacy_tokens(&self, on: bool) {
        self.shared.legacy_tokens.store(on, Ordering::SeqCst);
    }

    /// Enables or disables the client-credentials grant in the app settings.
    pub fn enable_client_credentials(&self, on: bool) {
        self.shared.client_credentials.store(on, Ordering::SeqCst);
    }

    /// Plays the user consenting; returns the callback query.
    ///
    /// # Errors
    ///
    /// A readable reason when the URL is not one Linear would accept (unknown scopes,
    /// scopes joined with spaces instead of commas, no PKCE challenge...).
    pub fn authorize(&self, authorization_url: &str) -> Result<String, String> {
        consent(
            &self.shared.ledger,
            authorization_url,
            &AuthorizeRules {
                endpoint: &format!("{}/oauth/authorize", self.uri()),
                client_id: CLIENT_ID,
                separator: ',',
                known_scopes: Some(KNOWN_SCOPES),
                require_pkce: true,
            },
        )
    }

    /// The callback query of a user who refused.
    pub fn deny(&self, authorization_url: &str) -> String {
        refusal(authorization_url)
    }

    /// Accepts `key` as a personal API key on `/graphql`, sent bare
    /// (`Authorization: <key>`); as `Bearer` it is refused, as Linear refuses it.
    pub fn accept_api_key(&self, key: &str) {
        self.shared
            .api_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned());
        self.shared.ledger.accept_access(key);
    }

    /// How many client-credentials requests arrived.
    pub fn client_credentials_requests(&self) -> usize {
        self.shared.ledger.count("client_credentials")
    }
}

struct TokenEndpoint(Arc<Shared>);

impl TokenEndpoint {
    fn scope_value(&self, scopes: &[String]) -> Value {
        if self.0.array_scopes.load(Ordering::SeqCst) {
            json!(scopes)
        } else {
            json!(scopes.join(" "))
        }
    }

    fn exchange(
        &self,
        form: &std::collections::BTreeMap<String, String>,
        client_id: Option<&str>,
    ) -> ResponseTemplate {
        let ledger = &self.0.ledger;
        let Some(Ok(grant)) = form.get("code").map(|c| ledger.take_code(c, client_id)) else {
            return oauth_error(
                "invalid_grant",
                "The authorization code is invalid or expired.",
            );
        };
        if let Err(what) = check_exchange(&grant, form, true) {
            return oauth_error("invalid_grant", &format!("The {what} does not match."));
        }
        let legacy = self.0.legacy_tokens.load(Ordering::SeqCst);
        let mut body = template(if legacy { LEGACY } else { WITH_REFRESH });
        let access = ledger.issue_access("lin_oauth_");
        body.insert("access_token".into(), json!(access));
        body.insert("scope".into(), self.scope_value(&grant.scopes));
        ledger.adopt(grant.family, &[&access]);
        if !legacy {
            let refresh = ledger.issue_refresh("lin_refresh_");
            ledger.link(&access, &refresh);
            ledger.adopt(grant.family, &[&refresh]);
            body.insert("refresh_token".into(), json!(refresh));
        }
        json(200, &Value::Object(body))
    }

    fn refresh(&self, form: &std::collections::BTreeMap<String, String>) -> ResponseTemplate {
        let ledger = &self.0.ledger;
        let revoked = ledger.failure() == FailureMode::Revoked;
        let presented = form.get("refresh_token");
        let family = presented.and_then(|t| ledger.family_of(t));
        let used = presented.map_or(RefreshUse::Unknown, |t| ledger.use_refresh(t));
        if revoked || used != RefreshUse::Live {
            return oauth_error(
                "invalid_grant",
                "The refresh token is invalid, expired or revoked.",
            );
        }
        let mut body = template(REFRESHED);
        let access = ledger.issue_access("lin_oauth_");
        let refresh = ledger.issue_refresh("lin_refresh_");
        ledger.link(&access, &refresh);
        ledger.adopt(
            family.unwrap_or_else(|| ledger.new_family()),
            &[&access, &refresh],
        );
        body.insert("access_token".into(), json!(access));
        body.insert("refresh_token".into(), json!(refresh));
        body.insert(
            "scope".into(),
            self.scope_value(&["read".to_owned(), "write".to_owned()]),
        );
        json(200, &Value::Object(body))
    }

    fn client_credentials(
        &self,
        form: &std::collections::BTreeMap<String, String>,
    ) -> ResponseTemplate {
        if !self.0.client_credentials.load(Ordering::SeqCst) {
            return ResponseTemplate::new(400).set_body_raw(
                CLIENT_CREDENTIALS_DISABLED,
                "application/json; charset=utf-8",
            );
        }
        let scopes: Vec<String> = form
            .get("scope")
            .map(|s| {
                s.split(',')
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if scopes.is_empty() || scopes.iter().any(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
            return oauth_error("invalid_scope", "The requested scope is invalid.");
        }
        let ledger = &self.0.ledger;
        let token = ledger.issue_access("lin_app_");
        // One live application token per app: a new one invalidates the previous.
        if let Some(previous) = self
            .0
            .live_app_token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(token.clone())
        {
            ledger.revoke_access(&previous);
        }
        let mut body = template(CLIENT_CREDENTIALS);
        body.insert("access_token".into(), json!(token));
        body.insert("scope".into(), self.scope_value(&scopes));
        json(200, &Value::Object(body))
    }
}

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let ledger = &self.0.ledger;
        let form = form(request);
        let (client_id, client_secret, auth) = client_credentials(request, &form);
        let grant_type = form.get("grant_type").cloned().unwrap_or_default();
        ledger.record(TokenRequestRecord {
            grant_type: grant_type.clone(),
            client_auth: auth,
            scope: form.get("scope").cloned(),
            code_verifier: form.contains_key("code_verifier"),
        });
        if let Some(failure) = ledger.temporary_failure() {
            return failure;
        }
        if !is_form(request) {
            return oauth_error(
                "invalid_request",
                "The body must be application/x-www-form-urlencoded.",
            );
        }
        // One method per request, and the registered one if the test registered one.
        if !ledger.client_auth_allowed(auth) {
            return ledger.delayed(json(
                401,
                &json!({"error": "invalid_client", "error_description": "Client authentication failed."}),
            ));
        }
        // PKCE code exchanges may omit the secret; a secret that is sent must match.
        let known_client = client_id.as_deref() == Some(CLIENT_ID)
            || client_id
                .as_deref()
                .is_some_and(|id| ledger.is_other_client(id));
        let secret_ok = match client_secret.as_deref() {
            Some(_) => ledger.client_matches(
                (CLIENT_ID, CLIENT_SECRET),
                client_id.as_deref(),
                client_secret.as_deref(),
            ),
            None => grant_type == "authorization_code" && form.contains_key("code_verifier"),
        };
        if !known_client || !secret_ok {
            return ledger.delayed(json(
                401,
                &json!({"error": "invalid_client", "error_description": "Client authentication failed."}),
            ));
        }
        let response = match grant_type.as_str() {
            "authorization_code" => self.exchange(&form, client_id.as_deref()),
            "refresh_token" => self.refresh(&form),
            "client_credentials" => self.client_credentials(&form),
            _ => oauth_error("unsupported_grant_type", "The grant type is not supported."),
        };
        ledger.delayed(response)
    }
}

impl Shared {
    fn is_api_key(&self, token: &str) -> bool {
        self.api_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(token)
    }

    /// The live credential of a GraphQL request in the form Linear takes it: an OAuth
    /// token as `Bearer <token>`, a personal API key bare. A key sent as `Bearer`, or a
    /// token sent bare, is no credential (Linear answers `AUTHENTICATION_ERROR`).
    fn graphql_credential(&self, request: &Request) -> Option<String> {
        let header = request.headers.get("authorization")?.to_str().ok()?;
        let (token, is_key) = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => (token, false),
            Some(_) => return None,
            None => (header, true),
        };
        (self.is_api_key(token) == is_key && self.ledger.access_is_live(token))
            .then(|| token.to_owned())
    }
}

struct GraphQl(Arc<Shared>);

impl Respond for GraphQl {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let token = self.0.graphql_credential(request);
        let query = serde_json::from_slice::<Value>(&request.body)
            .ok()
            .and_then(|b| b.get("query").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        match token {
            Some(_) => {
                debug_assert!(query.contains("viewer"), "mounted for viewer queries only");
                json(
                    200,
                    &json!({"data": {"viewer": {
                        "id": "2e3c1d4b-7a3f-4f5e-9b1a-0c9d8e7f6a5b",
                        "name": "Mock User",
                        "organization": {"id": ORGANIZATION_ID, "name": "Mock Org"}
                    }}}),
                )
            }
            // Unverified whether Linear answers 400 or 401 here; both refuse the key.
            _ => json(
                400,
                &json!({"errors": [{"message": "Authentication required, not authenticated", "extensions": {"code": "AUTHENTICATION_ERROR"}}]}),
            ),
        }
    }
}

/// `POST /oauth/revoke`: the Bearer access token's authorization is revoked.
struct Revoke(Arc<Shared>);

impl Respond for Revoke {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some(failure) = self.0.ledger.temporary_failure() {
            return failure;
        }
        match bearer_only(request) {
            None => oauth_error("invalid_request", "No token to revoke was given."),
            Some(token) if self.0.ledger.revoke_grant(&token) => ResponseTemplate::new(200),
            Some(_) => json(
                401,
                &json!({"error": "invalid_token", "error_description": "The access token is invalid."}),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use integrations_core::host::{HttpClient, ReqwestHttpClient};

    use super::*;

    /// A `viewer` query with `authorization` as the `Authorization` header: its status
    /// and the GraphQL error code, if any.
    async fn viewer(mock: &LinearMock, authorization: &str) -> (u16, Option<String>) {
        let request = http::Request::post(format!("{}/graphql", mock.uri()))
            .header("content-type", "application/json")
            .header("authorization", authorization)
            .body(Bytes::from_static(
                br#"{"query":"query Viewer { viewer { id organization { id } } }"}"#,
            ))
            .unwrap();
        let response = ReqwestHttpClient::new()
            .unwrap()
            .send(request)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        let code = body["errors"][0]["extensions"]["code"]
            .as_str()
            .map(str::to_owned);
        (response.status().as_u16(), code)
    }

    /// Linear takes personal API keys bare and OAuth tokens as `Bearer`
    /// (providers.md §2.1): either in the other form is refused.
    #[tokio::test]
    async fn graphql_takes_keys_bare_and_oauth_tokens_as_bearer_only() {
        let mock = LinearMock::start().await;
        mock.accept_api_key("lin_api_key_1");
        let oauth = mock.shared.ledger.issue_access("lin_oauth_");
        let refused = (400, Some("AUTHENTICATION_ERROR".to_owned()));
        assert_eq!(viewer(&mock, "lin_api_key_1").await, (200, None));
        assert_eq!(viewer(&mock, "Bearer lin_api_key_1").await, refused);
        assert_eq!(viewer(&mock, &format!("Bearer {oauth}")).await, (200, None));
        assert_eq!(viewer(&mock, &oauth).await, refused);
        assert_eq!(viewer(&mock, &format!("token {oauth}")).await, refused);
        // An API mock serving alongside takes only the OAuth tokens as `Bearer`.
        let live = mock.live_access();
        assert!(live(&oauth));
        assert!(!live("lin_api_key_1"));
    }
}
