//! [`OAuth2Mock`]: an OAuth 2.0 provider that does what an [`OAuth2Spec`] declares, for
//! the authors of providers this crate does not ship.
//!
//! The shipped mocks ([`LinearMock`](super::LinearMock), [`GitHubMock`](super::GitHubMock),
//! [`SlackMock`](super::SlackMock)) reproduce one provider each, quirks included. This one
//! reproduces RFC 6749 as a spec declares it: the authorization step refuses a URL the
//! spec's provider would refuse (another endpoint or client, a missing `state` or
//! `redirect_uri`, a missing PKCE challenge where the spec declares S256, one where it
//! declares none); the token endpoint takes the client's credentials only the declared
//! way ([`ClientAuth`]), requires the spec's token-request headers, checks codes (single
//! use, bound to the client, expiring after [`CODE_TTL`](super::CODE_TTL)), their
//! `redirect_uri` and PKCE verifier, rotates refresh tokens only when the spec says the
//! provider does, and answers with the spec's success member and subject where it names
//! them. The revocation endpoint, when the spec has one, takes the access token as a
//! Bearer credential, as the engine sends it.

use std::collections::BTreeMap;
use std::sync::Arc;

use integrations_core::definition::{ClientAuth, OAuth2Spec, Pkce};
use serde_json::{Map, Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::{
    AuthorizeRules, ClientAuthSeen, FailureMode, Ledger, RefreshUse, TokenRequestRecord,
    bearer_only, check_exchange, client_credentials, consent, form, is_form, refusal,
};
use crate::mock::MockProvider;

/// The client id the mock knows.
const CLIENT_ID: &str = "mock_client_7d41e0";
/// The client secret the mock knows.
const CLIENT_SECRET: &str = "mock-client-secret-5c2a9f";
/// The account the mock's grants are for.
const SUBJECT: &str = "account-31337";
/// The lifetime of the access tokens it issues.
const EXPIRES_IN_SECS: u64 = 3600;

/// What the spec declares, as the mock applies it.
struct Rules {
    pkce: bool,
    separator: char,
    token_headers: BTreeMap<String, String>,
    success_field: Option<String>,
    subject_pointer: Option<String>,
    rotates_refresh_tokens: bool,
}

struct Shared {
    ledger: Ledger,
    rules: Rules,
}

/// An OAuth 2.0 provider on loopback that follows an [`OAuth2Spec`]: RFC 6749 as the
/// spec declares it. The authorization step refuses a URL the spec's provider would
/// refuse (another endpoint or client, no `state` or `redirect_uri`, no PKCE challenge
/// where the spec declares S256, one where it declares none); the token endpoint takes
/// the client's credentials only the declared way, requires the spec's token-request
/// headers, checks codes (single use, bound to the client, expiring after
/// [`CODE_TTL`](super::CODE_TTL)), their `redirect_uri` and PKCE verifier, rotates
/// refresh tokens only where the spec says the provider does, and answers with the
/// spec's success member and subject where it names them; the revocation endpoint, when
/// the spec has one, takes the access token as a Bearer credential.
///
/// Point the definition under test at
/// [`authorize_url`](Self::authorize_url), [`token_url`](Self::token_url) and
/// [`revoke_url`](Self::revoke_url) (or take [`spec`](Self::spec)), and give its target
/// [`client_id`](Self::client_id) and [`client_secret`](Self::client_secret). Its own API
/// routes can be mounted on [`provider`](Self::provider)'s server, checking tokens with
/// [`access_is_live`](Self::access_is_live).
///
/// ```no_run
/// # async fn run() {
/// use integrations_core::definition::OAuth2Spec;
/// use integrations_testkit::mock::oauth::OAuth2Mock;
///
/// let declared = OAuth2Spec::new(
///     "https://tracker.example/oauth/authorize",
///     "https://tracker.example/oauth/token",
/// );
/// let mock = OAuth2Mock::start(&declared).await;
/// // The same spec, at the mock: what the definition returns in the test.
/// let spec = mock.spec();
/// assert_eq!(spec.token_url, format!("{}/oauth/token", mock.uri()));
/// # }
/// ```
pub struct OAuth2Mock {
    provider: MockProvider,
    shared: Arc<Shared>,
    spec: OAuth2Spec,
}

impl std::fmt::Debug for OAuth2Mock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Mock")
            .field("uri", &self.provider.uri())
            .finish_non_exhaustive()
    }
}

fn json_response(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json")
}

impl OAuth2Mock {
    /// Starts a provider that does what `spec` declares; its own URLs replace the spec's.
    pub async fn start(spec: &OAuth2Spec) -> Self {
        let provider = MockProvider::start().await;
        let port = provider.server().address().port();
        let ledger = Ledger::new(u64::from(port) << 8 | 4);
        ledger.set_client_auth(Some(match spec.client_auth {
            ClientAuth::RequestBody => ClientAuthSeen::Body,
            _ => ClientAuthSeen::Basic,
        }));
        let shared = Arc::new(Shared {
            ledger,
            rules: Rules {
                pkce: spec.pkce == Pkce::S256,
                separator: spec.scope_separator.as_char(),
                token_headers: spec.token_request_headers.clone(),
                success_field: spec.success_field.clone(),
                subject_pointer: spec.subject_pointer.clone(),
                rotates_refresh_tokens: spec.rotates_refresh_tokens,
            },
        });
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(TokenEndpoint(Arc::clone(&shared)))
            .named("OAuth 2.0 token endpoint")
            .mount(provider.server())
            .await;
        let mut at_mock = spec.clone();
        at_mock.authorize_url = format!("{}/oauth/authorize", provider.uri());
        at_mock.token_url = format!("{}/oauth/token", provider.uri());
        if spec.revoke_url.is_some() {
            Mock::given(method("POST"))
                .and(path("/oauth/revoke"))
                .respond_with(Revoke(Arc::clone(&shared)))
                .named("OAuth 2.0 revocation endpoint")
                .mount(provider.server())
                .await;
            at_mock.revoke_url = Some(format!("{}/oauth/revoke", provider.uri()));
        }
        at_mock.client_id = Some(CLIENT_ID.to_owned());
        Self {
            provider,
            shared,
            spec: at_mock,
        }
    }

    super::ledger_accessors!();

    /// The server's base URI.
    pub fn uri(&self) -> String {
        self.provider.uri()
    }

    /// The spec it was started with, its endpoints at the mock and its client id set.
    pub fn spec(&self) -> OAuth2Spec {
        self.spec.clone()
    }

    /// The authorization endpoint.
    pub fn authorize_url(&self) -> String {
        self.spec.authorize_url.clone()
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        self.spec.token_url.clone()
    }

    /// The revocation endpoint, when the spec has one.
    pub fn revoke_url(&self) -> Option<String> {
        self.spec.revoke_url.clone()
    }

    /// The client id it knows.
    pub fn client_id(&self) -> &'static str {
        CLIENT_ID
    }

    /// The client secret it knows.
    pub fn client_secret(&self) -> &'static str {
        CLIENT_SECRET
    }

    /// The account its grants are for: the value at the spec's subject pointer in its
    /// token answers.
    pub fn subject(&self) -> &'static str {
        SUBJECT
    }

    /// Every access token issued so far stops working (it expired at the provider before
    /// the client expected); refresh tokens stay live.
    pub fn expire_access_tokens(&self) {
        self.shared.ledger.expire_access();
    }

    /// Plays the user consenting; returns the callback query.
    ///
    /// # Errors
    ///
    /// A readable reason when the URL is not one the spec's provider would accept.
    pub fn authorize(&self, authorization_url: &str) -> Result<String, String> {
        let rules = &self.shared.rules;
        if !rules.pkce
            && url::Url::parse(authorization_url)
                .is_ok_and(|u| u.query_pairs().any(|(k, _)| k == "code_challenge"))
        {
            return Err(
                "the spec declares no PKCE, yet the URL carries a code_challenge".to_owned(),
            );
        }
        consent(
            &self.shared.ledger,
            authorization_url,
            &AuthorizeRules {
                endpoint: &self.spec.authorize_url,
                client_id: CLIENT_ID,
                separator: rules.separator,
                known_scopes: None,
                require_pkce: rules.pkce,
            },
        )
    }

    /// The callback query of a user who refused.
    pub fn deny(&self, authorization_url: &str) -> String {
        refusal(authorization_url)
    }
}

impl Shared {
    /// A successful token answer: `fields`, with the success member and the subject where
    /// the spec names them.
    fn answer(&self, mut fields: Map<String, Value>, with_subject: bool) -> ResponseTemplate {
        if let Some(field) = &self.rules.success_field {
            fields.insert(field.clone(), json!(true));
        }
        if with_subject && let Some(pointer) = &self.rules.subject_pointer {
            let mut body = Value::Object(fields);
            place(&mut body, pointer, json!(SUBJECT));
            return json_response(200, &body);
        }
        json_response(200, &Value::Object(fields))
    }

    /// An error answer: RFC 6749 §5.2 (`status`, `error`, `error_description`), or, with a
    /// success member, HTTP 200 with that member `false` and the error code.
    fn error(&self, status: u16, code: &str, description: &str) -> ResponseTemplate {
        match &self.rules.success_field {
            Some(field) => json_response(200, &json!({field: false, "error": code})),
            None => json_response(
                status,
                &json!({"error": code, "error_description": description}),
            ),
        }
    }

    fn tokens(&self, family: u64, scopes: &[String], refresh: bool) -> Map<String, Value> {
        let ledger = &self.ledger;
        let access = ledger.issue_access("mock_at_");
        let mut fields = Map::new();
        fields.insert("access_token".into(), json!(access));
        fields.insert("token_type".into(), json!("Bearer"));
        fields.insert("expires_in".into(), json!(EXPIRES_IN_SECS));
        fields.insert(
            "scope".into(),
            json!(scopes.join(&self.rules.separator.to_string())),
        );
        ledger.adopt(family, &[&access]);
        if refresh {
            let refresh = ledger.issue_refresh("mock_rt_");
            ledger.link(&access, &refresh);
            ledger.adopt(family, &[&refresh]);
            fields.insert("refresh_token".into(), json!(refresh));
        }
        fields
    }
}

/// Sets the member at `pointer` (`/team/id`) in `body`, making the objects on the way.
fn place(body: &mut Value, pointer: &str, value: Value) {
    let mut at = body;
    let segments: Vec<&str> = pointer.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let Value::Object(map) = at else { return };
        let name = segment.replace("~1", "/").replace("~0", "~");
        if i + 1 == segments.len() {
            map.insert(name, value);
            return;
        }
        at = map.entry(name).or_insert_with(|| json!({}));
    }
}

struct TokenEndpoint(Arc<Shared>);

impl TokenEndpoint {
    fn exchange(
        &self,
        form: &BTreeMap<String, String>,
        client_id: Option<&str>,
    ) -> ResponseTemplate {
        let shared = &self.0;
        let Some(Ok(grant)) = form
            .get("code")
            .map(|c| shared.ledger.take_code(c, client_id))
        else {
            return shared.error(
                400,
                "invalid_grant",
                "The authorization code is invalid or expired.",
            );
        };
        if let Err(what) = check_exchange(&grant, form, true) {
            return shared.error(400, "invalid_grant", &format!("The {what} does not match."));
        }
        shared.answer(shared.tokens(grant.family, &grant.scopes, true), true)
    }

    fn refresh(&self, form: &BTreeMap<String, String>) -> ResponseTemplate {
        let shared = &self.0;
        let ledger = &shared.ledger;
        let presented = form.get("refresh_token");
        let family = presented.and_then(|t| ledger.family_of(t));
        let live = if ledger.failure() == FailureMode::Revoked {
            false
        } else if shared.rules.rotates_refresh_tokens {
            presented.map_or(RefreshUse::Unknown, |t| ledger.use_refresh(t)) == RefreshUse::Live
        } else {
            presented.is_some_and(|t| ledger.refresh_is_live(t))
        };
        if !live {
            return shared.error(
                400,
                "invalid_grant",
                "The refresh token is invalid, expired or revoked.",
            );
        }
        let family = family.unwrap_or_else(|| ledger.new_family());
        let mut fields = shared.tokens(family, &[], shared.rules.rotates_refresh_tokens);
        fields.remove("scope");
        if let (false, Some(kept)) = (shared.rules.rotates_refresh_tokens, presented)
            && let Some(Value::String(access)) = fields.get("access_token")
        {
            // The refresh token stays; revoking the new access token's grant kills it too.
            ledger.link(access, kept);
        }
        shared.answer(fields, false)
    }

    fn client_credentials(&self, form: &BTreeMap<String, String>) -> ResponseTemplate {
        let shared = &self.0;
        let scopes: Vec<String> = form
            .get("scope")
            .map(|s| {
                s.split(shared.rules.separator)
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let family = shared.ledger.new_family();
        shared.answer(shared.tokens(family, &scopes, false), false)
    }
}

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let shared = &self.0;
        let ledger = &shared.ledger;
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
            return shared.error(
                400,
                "invalid_request",
                "The body must be application/x-www-form-urlencoded.",
            );
        }
        for (name, value) in &shared.rules.token_headers {
            let sent = request
                .headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok());
            if sent != Some(value.as_str()) {
                return shared.error(
                    400,
                    "invalid_request",
                    &format!("The {name} header must be {value}."),
                );
            }
        }
        // A public client (no secret) may exchange a code with its PKCE verifier, naming
        // itself in the form; a confidential one authenticates the declared way only.
        let public_exchange = client_secret.is_none()
            && auth == ClientAuthSeen::Body
            && grant_type == "authorization_code"
            && shared.rules.pkce
            && form.contains_key("code_verifier");
        let authenticated = public_exchange
            || (ledger.client_auth_allowed(auth)
                && ledger.client_matches(
                    (CLIENT_ID, CLIENT_SECRET),
                    client_id.as_deref(),
                    client_secret.as_deref(),
                ));
        let known = client_id.as_deref() == Some(CLIENT_ID)
            || client_id
                .as_deref()
                .is_some_and(|id| ledger.is_other_client(id));
        if !authenticated || !known {
            return ledger.delayed(shared.error(
                401,
                "invalid_client",
                "Client authentication failed.",
            ));
        }
        let response = match grant_type.as_str() {
            "authorization_code" => self.exchange(&form, client_id.as_deref()),
            "refresh_token" => self.refresh(&form),
            "client_credentials" => self.client_credentials(&form),
            _ => shared.error(
                400,
                "unsupported_grant_type",
                "The grant type is not supported.",
            ),
        };
        ledger.delayed(response)
    }
}

struct Revoke(Arc<Shared>);

impl Respond for Revoke {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let shared = &self.0;
        if let Some(failure) = shared.ledger.temporary_failure() {
            return failure;
        }
        match bearer_only(request) {
            None => shared.error(400, "invalid_request", "No token to revoke was given."),
            Some(token) if shared.ledger.revoke_grant(&token) => shared.answer(Map::new(), false),
            Some(_) => shared.error(401, "invalid_token", "The access token is invalid."),
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use bytes::Bytes;
    use integrations_core::definition::ScopeSeparator;
    use integrations_core::host::{HttpClient, ReqwestHttpClient};

    use super::*;

    /// A token request to `mock`: `form` as the body, with HTTP Basic client
    /// authentication when `basic`, and `headers`. Its status and JSON body.
    async fn token(
        mock: &OAuth2Mock,
        form: &[(&str, &str)],
        basic: bool,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = http::Request::post(mock.token_url())
            .header("content-type", "application/x-www-form-urlencoded");
        if basic {
            let pair = format!("{CLIENT_ID}:{CLIENT_SECRET}");
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            request = request.header("authorization", format!("Basic {encoded}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = ReqwestHttpClient::new()
            .unwrap()
            .send(request.body(Bytes::from(body)).unwrap())
            .await
            .unwrap();
        let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        (response.status().as_u16(), body)
    }

    /// An authorization URL for `mock` with `extra` query parameters.
    fn authorization_url(mock: &OAuth2Mock, extra: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&mock.authorize_url()).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", "https://app.example.com/cb")
            .append_pair("state", "s1")
            .extend_pairs(extra);
        url.into()
    }

    fn code_of(query: &str) -> String {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap()
    }

    /// The standard spec (HTTP Basic, PKCE S256) refuses what it does not declare: a URL
    /// without a challenge, a client authenticating in the form, a wrong verifier.
    #[tokio::test]
    async fn the_standard_spec_is_held_to_basic_auth_and_pkce() {
        let mock = OAuth2Mock::start(&OAuth2Spec::new("https://x/a", "https://x/t")).await;
        assert!(
            mock.authorize(&authorization_url(&mock, &[]))
                .unwrap_err()
                .contains("PKCE")
        );
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        let pkce = [
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ];
        let code = code_of(&mock.authorize(&authorization_url(&mock, &pkce)).unwrap());
        let exchange = |verifier| {
            [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "https://app.example.com/cb"),
                ("code_verifier", verifier),
            ]
        };
        // The client's credentials in the form, where the spec declares HTTP Basic.
        let mut in_form = exchange(verifier).to_vec();
        in_form.extend([("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]);
        let (status, body) = token(&mock, &in_form, false, &[]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        let (status, body) = token(&mock, &exchange("wrong"), true, &[]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        // The code was used up by that attempt, as a provider's is.
        let (status, _) = token(&mock, &exchange(verifier), true, &[]).await;
        assert_eq!(status, 400);
    }

    /// A spec with quirks is held to them: no PKCE challenge, the client in the form, the
    /// declared header, errors as HTTP 200 with the success member `false`; refresh tokens
    /// rotate (the one used is dead) only when the spec says so.
    #[tokio::test]
    async fn a_quirky_spec_is_held_to_its_quirks() {
        let spec = OAuth2Spec::new("https://x/a", "https://x/t")
            .with_scope_separator(ScopeSeparator::Comma)
            .with_client_auth(ClientAuth::RequestBody)
            .with_pkce(Pkce::Unsupported)
            .with_success_field("ok")
            .with_token_header("accept", "application/json");
        let mock = OAuth2Mock::start(&spec).await;
        let pkce = [("code_challenge", "abc"), ("code_challenge_method", "S256")];
        assert!(mock.authorize(&authorization_url(&mock, &pkce)).is_err());
        let code = code_of(
            &mock
                .authorize(&authorization_url(&mock, &[("scope", "read,write")]))
                .unwrap(),
        );
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://app.example.com/cb"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ];
        let accept = [("accept", "application/json")];
        let (status, body) = token(&mock, &form, false, &[]).await;
        assert_eq!(
            (status, &body),
            (200, &json!({"ok": false, "error": "invalid_request"}))
        );
        let (status, body) = token(&mock, &form, false, &accept).await;
        assert_eq!(
            (status, &body["ok"], &body["scope"]),
            (200, &json!(true), &json!("read,write"))
        );
        // Not rotating: the refresh token serves twice.
        let refresh = body["refresh_token"].as_str().unwrap().to_owned();
        let again = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ];
        for _ in 0..2 {
            let (status, body) = token(&mock, &again, false, &accept).await;
            assert_eq!((status, &body["ok"]), (200, &json!(true)), "{body}");
            assert!(body.get("refresh_token").is_none());
        }

        // Rotating: the one used is dead.
        let mock = OAuth2Mock::start(&spec.with_rotating_refresh_tokens()).await;
        let code = code_of(&mock.authorize(&authorization_url(&mock, &[])).unwrap());
        let mut form = form;
        form[1].1 = code.as_str();
        let (_, body) = token(&mock, &form, false, &accept).await;
        let refresh = body["refresh_token"].as_str().unwrap().to_owned();
        let again = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ];
        let (_, body) = token(&mock, &again, false, &accept).await;
        assert!(body["refresh_token"].is_string(), "{body}");
        let (status, body) = token(&mock, &again, false, &accept).await;
        assert_eq!(
            (status, &body),
            (200, &json!({"ok": false, "error": "invalid_grant"}))
        );
    }

    #[test]
    fn the_subject_goes_where_the_pointer_says() {
        let mut body = json!({"access_token": "t"});
        place(&mut body, "/team/id", json!("T1"));
        assert_eq!(body, json!({"access_token": "t", "team": {"id": "T1"}}));
        let mut body = json!({});
        place(&mut body, "/a~1b", json!(1));
        assert_eq!(body, json!({"a/b": 1}));
    }
}
