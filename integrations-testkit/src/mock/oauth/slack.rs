//! The Slack mock: `oauth.v2.access` (code exchange and token rotation), `auth.test`
//! and `auth.revoke` (the token, and a refresh token issued with it, stop working:
//! `{"ok": true, "revoked": true}`; `invalid_auth` for a token it does not know). Both
//! take the token as Slack does (providers.md §3.3): `Authorization: Bearer <token>` or a
//! `token` field of a form-encoded body; anything else is `not_authed`.
//!
//! Quirks reproduced (`shared` providers.md §2.3): every answer is HTTP 200 with `ok`
//! (errors are `ok: false` with an `error` code), the bot token sits at the root with the
//! workspace under `team.id`, scopes are comma-separated, the client authenticates with
//! HTTP Basic (or form fields); with token rotation on, access tokens last 12 h and each
//! refresh returns a new refresh token and revokes the old one.
//!
//! Strict as the [module](super) docs say: the exchange repeats the `redirect_uri`, codes
//! expire and belong to their client, one client-authentication method per request, and
//! a replayed refresh token revokes its token family.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::{
    AuthorizeRules, FailureMode, Ledger, RefreshUse, TokenRequestRecord, bearer_only,
    check_exchange, client_credentials, consent, form, is_form, refusal,
};
use crate::mock::MockProvider;

const OAUTH_V2_ACCESS: &str = include_str!("fixtures/slack.oauth.v2.access.json");

const CLIENT_ID: &str = "1601185624273.1601185624331";
const CLIENT_SECRET: &str = "slack-mock-client-secret-51c7";
/// The workspace of the fixture.
const TEAM_ID: &str = "T9TK3CUKW";

struct Shared {
    ledger: Ledger,
    rotation: AtomicBool,
}

/// A Slack mock on loopback. Point a `slack::slack-default` target at it with
/// [`target_config`](Self::target_config) and [`target_secrets`](Self::target_secrets).
pub struct SlackMock {
    provider: MockProvider,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SlackMock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackMock")
            .field("uri", &self.provider.uri())
            .finish_non_exhaustive()
    }
}

fn ok_json(body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json; charset=utf-8")
}

fn slack_error(code: &str) -> ResponseTemplate {
    ok_json(&json!({"ok": false, "error": code}))
}

impl SlackMock {
    /// A mock of an app with token rotation on.
    pub async fn start() -> Self {
        let provider = MockProvider::start().await;
        let port = provider.server().address().port();
        let shared = Arc::new(Shared {
            ledger: Ledger::new(u64::from(port) << 8 | 3),
            rotation: AtomicBool::new(true),
        });
        Mock::given(method("POST"))
            .and(path("/api/oauth.v2.access"))
            .respond_with(TokenEndpoint(Arc::clone(&shared)))
            .named("Slack oauth.v2.access")
            .mount(provider.server())
            .await;
        Mock::given(method("POST"))
            .and(path("/api/auth.test"))
            .respond_with(AuthTest(Arc::clone(&shared)))
            .named("Slack auth.test")
            .mount(provider.server())
            .await;
        Mock::given(method("POST"))
            .and(path("/api/auth.revoke"))
            .respond_with(AuthRevoke(Arc::clone(&shared)))
            .named("Slack auth.revoke")
            .mount(provider.server())
            .await;
        Self { provider, shared }
    }

    super::ledger_accessors!();

    /// The base URI (`/oauth/v2/authorize` for the web, `/api/...` for the Web API).
    pub fn uri(&self) -> String {
        self.provider.uri()
    }

    /// A `slack::slack-default` target config pointing at this mock.
    pub fn target_config(&self) -> Value {
        json!({
            "api_base_url": format!("{}/api", self.uri()),
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

    /// The workspace id the mock reports.
    pub fn team_id(&self) -> &'static str {
        TEAM_ID
    }

    /// Turns token rotation on (default) or off (non-expiring bot tokens, the fixture's
    /// exact shape).
    pub fn set_rotation(&self, on: bool) {
        self.shared.rotation.store(on, Ordering::SeqCst);
    }

    /// Plays the user consenting; returns the callback query.
    ///
    /// # Errors
    ///
    /// A readable reason when the URL is not one Slack would accept.
    pub fn authorize(&self, authorization_url: &str) -> Result<String, String> {
        consent(
            &self.shared.ledger,
            authorization_url,
            &AuthorizeRules {
                endpoint: &format!("{}/oauth/v2/authorize", self.uri()),
                client_id: CLIENT_ID,
                separator: ',',
                known_scopes: None,
                require_pkce: false,
            },
        )
    }

    /// The callback query of a user who refused.
    pub fn deny(&self, authorization_url: &str) -> String {
        refusal(authorization_url)
    }

    /// Accepts `token` on `auth.test` (a bot token pasted as an API key).
    pub fn accept_bot_token(&self, token: &str) {
        self.shared.ledger.accept_access(token);
    }
}

struct TokenEndpoint(Arc<Shared>);

impl TokenEndpoint {
    fn tokens(&self, scopes: &str, family: u64) -> Value {
        let ledger = &self.0.ledger;
        let rotation = self.0.rotation.load(Ordering::SeqCst);
        let Ok(Value::Object(mut body)) = serde_json::from_str::<Value>(OAUTH_V2_ACCESS) else {
            panic!("the Slack fixture is not a JSON object");
        };
        let bot = ledger.issue_access(if rotation { "xoxe.xoxb-1-" } else { "xoxb-" });
        ledger.adopt(family, &[&bot]);
        body.insert("access_token".into(), json!(bot));
        body.insert("scope".into(), json!(scopes));
        if let Some(Value::Object(user)) = body.get_mut("authed_user") {
            let user_token = ledger.issue_access("xoxp-");
            ledger.adopt(family, &[&user_token]);
            user.insert("access_token".into(), json!(user_token));
        }
        if rotation {
            let refresh = ledger.issue_refresh("xoxe-1-");
            ledger.link(&bot, &refresh);
            ledger.adopt(family, &[&refresh]);
            body.insert("expires_in".into(), json!(43_200));
            body.insert("refresh_token".into(), json!(refresh));
        }
        Value::Object(body)
    }

    fn exchange(
        &self,
        form: &BTreeMap<String, String>,
        client_id: Option<&str>,
    ) -> ResponseTemplate {
        let Some(Ok(grant)) = form
            .get("code")
            .map(|c| self.0.ledger.take_code(c, client_id))
        else {
            return slack_error("invalid_code");
        };
        // Slack's token request carries the redirect_uri of the authorization request.
        match check_exchange(&grant, form, true) {
            Ok(()) => ok_json(&self.tokens(&grant.scopes.join(","), grant.family)),
            Err("redirect_uri") => slack_error("bad_redirect_uri"),
            Err(_) => slack_error("invalid_code_verifier"),
        }
    }

    fn refresh(&self, form: &BTreeMap<String, String>) -> ResponseTemplate {
        let ledger = &self.0.ledger;
        if ledger.failure() == FailureMode::Revoked {
            return slack_error("token_revoked");
        }
        let presented = form.get("refresh_token");
        let family = presented
            .and_then(|t| ledger.family_of(t))
            .unwrap_or_else(|| ledger.new_family());
        match presented.map(|t| ledger.use_refresh(t)) {
            Some(RefreshUse::Live) => ok_json(&self.tokens("commands,incoming-webhook", family)),
            _ => slack_error("invalid_refresh_token"),
        }
    }
}

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let ledger = &self.0.ledger;
        let form = form(request);
        let (client_id, client_secret, auth) = client_credentials(request, &form);
        let grant_type = form
            .get("grant_type")
            .cloned()
            .unwrap_or_else(|| "authorization_code".to_owned());
        ledger.record(TokenRequestRecord {
            grant_type: grant_type.clone(),
            client_auth: auth,
            scope: form.get("scope").cloned(),
            code_verifier: form.contains_key("code_verifier"),
        });
        if let Some(failure) = ledger.temporary_failure() {
            return failure;
        }
        let response = if !ledger.client_auth_allowed(auth) {
            // Two authentication methods at once, or not the registered one.
            slack_error("bad_client_secret")
        } else if client_id.as_deref() != Some(CLIENT_ID)
            && !client_id
                .as_deref()
                .is_some_and(|id| ledger.is_other_client(id))
        {
            slack_error("invalid_client_id")
        } else if !ledger.client_matches(
            (CLIENT_ID, CLIENT_SECRET),
            client_id.as_deref(),
            client_secret.as_deref(),
        ) {
            slack_error("bad_client_secret")
        } else {
            match grant_type.as_str() {
                "authorization_code" => self.exchange(&form, client_id.as_deref()),
                "refresh_token" => self.refresh(&form),
                _ => slack_error("invalid_grant_type"),
            }
        };
        ledger.delayed(response)
    }
}

/// The token of a Web API call as Slack takes it (providers.md §3.3): `Authorization:
/// Bearer <token>`, or a `token` field of a form-encoded POST body. Any other
/// `Authorization` (`token xoxb-...`, a bare token) carries none.
fn web_api_token(request: &Request) -> Option<String> {
    bearer_only(request).or_else(|| {
        is_form(request)
            .then(|| form(request).get("token").cloned())
            .flatten()
            .filter(|t| !t.is_empty())
    })
}

struct AuthTest(Arc<Shared>);

impl Respond for AuthTest {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match web_api_token(request) {
            None => slack_error("not_authed"),
            Some(token) if self.0.ledger.access_is_live(&token) => ok_json(&json!({
                "ok": true,
                "url": "https://slacksoftballteam.slack.com/",
                "team": "Slack Softball Team",
                "user": "bot",
                "team_id": TEAM_ID,
                "user_id": "U0KRQLJ9H",
                "bot_id": "B0KRQLJ9H",
                "is_enterprise_install": false,
            })),
            Some(_) => slack_error("invalid_auth"),
        }
    }
}

/// `auth.revoke`: revokes the caller's token (as `auth.test` reads it).
struct AuthRevoke(Arc<Shared>);

impl Respond for AuthRevoke {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some(failure) = self.0.ledger.temporary_failure() {
            return failure;
        }
        match web_api_token(request) {
            None => slack_error("not_authed"),
            Some(token) if self.0.ledger.revoke_grant(&token) => {
                ok_json(&json!({"ok": true, "revoked": true}))
            }
            Some(_) => slack_error("invalid_auth"),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use integrations_core::host::{HttpClient, ReqwestHttpClient};

    use super::*;

    /// A call of `method` with `authorization` (if any) and a form `body`: Slack's `ok`
    /// and `error`.
    async fn call(
        mock: &SlackMock,
        method: &str,
        authorization: Option<&str>,
        body: &str,
    ) -> (bool, Option<String>) {
        let mut request = http::Request::post(format!("{}/api/{method}", mock.uri()))
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let request = request.body(Bytes::from(body.to_owned())).unwrap();
        let response = ReqwestHttpClient::new()
            .unwrap()
            .send(request)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        (
            body["ok"].as_bool().unwrap_or_default(),
            body["error"].as_str().map(str::to_owned),
        )
    }

    /// Slack takes a token as `Bearer` or as a `token` form field (providers.md §3.3);
    /// `token xoxb-...` is GitHub's form, and carries no token to Slack.
    #[tokio::test]
    async fn auth_test_and_revoke_take_bearer_or_a_token_field_only() {
        let mock = SlackMock::start().await;
        mock.accept_bot_token("xoxb-1");
        let not_authed = (false, Some("not_authed".to_owned()));
        assert_eq!(
            call(&mock, "auth.test", Some("Bearer xoxb-1"), "").await,
            (true, None)
        );
        assert_eq!(
            call(&mock, "auth.test", None, "token=xoxb-1").await,
            (true, None)
        );
        assert_eq!(
            call(&mock, "auth.test", Some("token xoxb-1"), "").await,
            not_authed
        );
        assert_eq!(
            call(&mock, "auth.test", Some("xoxb-1"), "").await,
            not_authed
        );
        assert_eq!(
            call(&mock, "auth.test", Some("Bearer xoxb-unknown"), "").await,
            (false, Some("invalid_auth".to_owned()))
        );
        assert_eq!(
            call(&mock, "auth.revoke", Some("token xoxb-1"), "").await,
            not_authed
        );
        assert_eq!(
            call(&mock, "auth.revoke", None, "token=xoxb-1").await,
            (true, None)
        );
        assert_eq!(
            call(&mock, "auth.test", Some("Bearer xoxb-1"), "").await,
            (false, Some("invalid_auth".to_owned()))
        );
    }
}
