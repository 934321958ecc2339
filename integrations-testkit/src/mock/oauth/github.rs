//! The GitHub mock: OAuth (OAuth apps and GitHub App user tokens), `/user`, App
//! installation pages, `/user/installations`, installation tokens and
//! `/installation/repositories`.
//!
//! Quirks reproduced (`shared` providers.md §2.2): the token endpoint answers
//! form-encoded unless asked for JSON (its errors too), reports errors with HTTP 200 and
//! an `error` member, writes scopes comma-separated (`repo,gist`), and takes the client
//! secret in the body; GitHub App user tokens expire after 8 h with a single-use refresh
//! token; installation tokens need an RS256 app JWT (`iss` = app id, at most 10 minutes)
//! and are narrowed by repository names resolved inside the installation's account. The
//! REST endpoints (`/user`, `/user/installations`, `/app`, `/app/installations/...`,
//! `/applications/...`) refuse a request without `User-Agent` (403), as GitHub does.
//!
//! The App requests user authorization (OAuth) during installation unless told
//! otherwise: the installation callback then carries a `code` (single use, valid ten
//! minutes) that the token endpoint exchanges for a `ghu_` user token, and
//! `GET /user/installations` lists, for such a token only, the installations the mock
//! user can access (`{"total_count", "installations"}`, `per_page` up to 100, a `Link`
//! header). Installations the user cannot access (another organization's) can be added
//! to reproduce a forged callback.
//!
//! An installation token (`ghs_`, one hour) reaches the repositories it was narrowed to,
//! or, when it was not, every repository its installation has at the time of the
//! request; `GET /installation/repositories` lists them (`{"total_count",
//! "repository_selection", "repositories"}`, paged as above). The token stops working
//! when it expires or its installation is removed.
//! [`GitHubSyncApi::serve_with`](crate::mock::api::GitHubSyncApi::serve_with) serves the
//! issues and pull requests of those repositories to it.
//!
//! `DELETE /applications/{client_id}/grant` (HTTP Basic `client_id:client_secret`, JSON
//! `{"access_token"}`) deletes the authorization of a live token: 204; 404 for a token it
//! does not know; 401 for other client credentials; 422 without a token.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use integrations_core::Timestamp;
use integrations_core::host::{Clock, SystemClock};
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::{
    AuthorizeRules, CODE_TTL, ClientAuthSeen, FailureMode, Ledger, RefreshUse, TokenRequestRecord,
    basic_credentials, bearer, check_exchange, client_credentials, consent, form, refusal,
};
use crate::mock::MockProvider;
use crate::mock::api::{Journal, Recorded};

/// The PEM (PKCS#1) of the RSA key the mock's GitHub App is registered with. A test key
/// generated for this crate: not a secret.
pub const GITHUB_APP_TEST_KEY_PEM: &str = include_str!("fixtures/github_app_test_key.pem");

const ACCESS_TOKEN_JSON: &str = include_str!("fixtures/github.access_token.json");
const ACCESS_TOKEN_FORM: &str = include_str!("fixtures/github.access_token.form-urlencoded.txt");
const BAD_VERIFICATION_CODE: &str =
    include_str!("fixtures/github.error.bad_verification_code.json");
const INCORRECT_CLIENT_CREDENTIALS: &str =
    include_str!("fixtures/github.error.incorrect_client_credentials.json");

/// The client id of the mock's app (the example id from GitHub's docs).
const CLIENT_ID: &str = "Iv1.8a61f9b3a7aba766";
const CLIENT_SECRET: &str = "github-mock-client-secret-6d1f";
const APP_ID: u64 = 123_456;
const APP_SLUG: &str = "acme-agent";
const INSTALLATION_ID: u64 = 41_234_567;

/// One installation-token request the mock answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstallationTokenRequest {
    /// The installation.
    pub installation_id: u64,
    /// The repositories the token was narrowed to, when it was.
    pub repositories: Option<Vec<String>>,
}

impl InstallationTokenRequest {
    /// A request record (for comparisons in tests).
    pub fn new(installation_id: u64, repositories: Option<Vec<String>>) -> Self {
        Self {
            installation_id,
            repositories,
        }
    }
}

struct Installation {
    account: String,
    repositories: Vec<String>,
    /// Whether the mock user can access it (it shows in `/user/installations`).
    user_access: bool,
}

/// An installation token the mock minted.
struct Minted {
    installation: u64,
    /// The names it was narrowed to; `None`: every repository of the installation.
    repositories: Option<Vec<String>>,
    expires_at: Timestamp,
}

/// What a live installation token reaches: its installation's account, and the names
/// of the repositories (in that account) it can read now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reach {
    pub(crate) account: String,
    pub(crate) repositories: Vec<String>,
    /// Whether the token was narrowed to some of the installation's repositories.
    pub(crate) selected: bool,
}

impl Reach {
    /// Whether it reaches `full_name` (`owner/name`); owners compare as GitHub logins
    /// do, ignoring case.
    pub(crate) fn reaches(&self, full_name: &str) -> bool {
        full_name.split_once('/').is_some_and(|(owner, name)| {
            owner.eq_ignore_ascii_case(&self.account) && self.repositories.iter().any(|r| r == name)
        })
    }
}

struct Shared {
    ledger: Ledger,
    uri: String,
    expiring_user_tokens: bool,
    clock: Mutex<Arc<dyn Clock>>,
    verifying_key: VerifyingKey<Sha256>,
    installations: Mutex<BTreeMap<u64, Installation>>,
    installation_requests: Mutex<Vec<InstallationTokenRequest>>,
    /// The installation tokens minted, by token.
    minted: Mutex<HashMap<String, Minted>>,
    /// The requests of `GET /installation/repositories`.
    listings: Journal,
    /// Whether the App requests user authorization (OAuth) during installation.
    user_authorization: AtomicBool,
    /// The OAuth codes of installation callbacks, with when each was issued.
    installation_codes: Mutex<HashMap<String, Timestamp>>,
    /// The user who authorizes next (login, id): `octocat` until
    /// [`GitHubMock::sign_in_as`].
    signed_in: Mutex<(String, u64)>,
    /// The user each grant (token family) was authorized by; `GET /user` answers them.
    users: Mutex<HashMap<u64, (String, u64)>>,
    /// The next `GET /user` answers a rate limit: a secondary one (`true`) or the
    /// primary one (`false`).
    user_limited: Mutex<Option<bool>>,
}

impl Shared {
    /// Binds the grant `family` to the user signed in now, unless it has its user.
    fn authorized_by_signed_in(&self, family: u64) {
        let user = self
            .signed_in
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        self.users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(family)
            .or_insert(user);
    }

    /// The user who authorized the grant of `token`.
    fn user_of(&self, token: &str) -> (String, u64) {
        let family = self.ledger.family_of(token);
        let users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        family
            .and_then(|f| users.get(&f).cloned())
            .unwrap_or_else(|| (DEFAULT_LOGIN.to_owned(), DEFAULT_USER_ID))
    }

    fn now(&self) -> Timestamp {
        self.clock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .now()
    }

    /// What `token` reaches now, or `None` when it is no live installation token (never
    /// minted, expired, or of an installation since removed).
    fn reach(&self, token: &str) -> Option<Reach> {
        let minted = self.minted.lock().unwrap_or_else(PoisonError::into_inner);
        let token = minted.get(token)?;
        if token.expires_at <= self.now() {
            return None;
        }
        let installations = self
            .installations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let installation = installations.get(&token.installation)?;
        let repositories = match &token.repositories {
            Some(narrowed) => narrowed
                .iter()
                .filter(|n| installation.repositories.contains(n))
                .cloned()
                .collect(),
            None => installation.repositories.clone(),
        };
        Some(Reach {
            account: installation.account.clone(),
            repositories,
            selected: token.repositories.is_some(),
        })
    }
}

/// The user the mock's grants belong to unless another signs in.
const DEFAULT_LOGIN: &str = "octocat";
/// Their numeric id.
const DEFAULT_USER_ID: u64 = 583_231;

/// A GitHub mock on loopback. Point a `github::github-cloud` target at it with
/// [`target_config`](Self::target_config) and [`target_secrets`](Self::target_secrets).
pub struct GitHubMock {
    provider: MockProvider,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for GitHubMock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubMock")
            .field("uri", &self.provider.uri())
            .finish_non_exhaustive()
    }
}

fn json_body(body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json; charset=utf-8")
}

fn verbatim_json(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body, "application/json; charset=utf-8")
}

impl GitHubMock {
    /// A mock whose app issues expiring user tokens (GitHub App user-to-server tokens:
    /// `ghu_` for 8 h with a rotating `ghr_` refresh token, `scope` empty).
    ///
    /// # Panics
    ///
    /// When the bundled test key does not parse (never).
    pub async fn start() -> Self {
        Self::start_with(true).await
    }

    /// A mock of a classic OAuth app: `gho_` tokens that never expire, no refresh token,
    /// the granted scopes comma-separated.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub async fn start_oauth_app() -> Self {
        Self::start_with(false).await
    }

    async fn start_with(expiring_user_tokens: bool) -> Self {
        let provider = MockProvider::start().await;
        let key =
            RsaPrivateKey::from_pkcs1_pem(GITHUB_APP_TEST_KEY_PEM).expect("the test key parses");
        let port = provider.server().address().port();
        let mut installations = BTreeMap::new();
        installations.insert(
            INSTALLATION_ID,
            Installation {
                account: "octo-org".to_owned(),
                repositories: vec!["octo-repo".to_owned(), "other-repo".to_owned()],
                user_access: true,
            },
        );
        let shared = Arc::new(Shared {
            ledger: Ledger::new(u64::from(port) << 8 | 1),
            uri: provider.uri(),
            expiring_user_tokens,
            clock: Mutex::new(Arc::new(SystemClock::new())),
            verifying_key: VerifyingKey::new(key.to_public_key()),
            installations: Mutex::new(installations),
            installation_requests: Mutex::new(Vec::new()),
            minted: Mutex::new(HashMap::new()),
            listings: Journal::default(),
            user_authorization: AtomicBool::new(true),
            installation_codes: Mutex::new(HashMap::new()),
            signed_in: Mutex::new((DEFAULT_LOGIN.to_owned(), DEFAULT_USER_ID)),
            users: Mutex::new(HashMap::new()),
            user_limited: Mutex::new(None),
        });
        // GitHub documents client_id and client_secret as token-request parameters.
        shared.ledger.set_client_auth(Some(ClientAuthSeen::Body));
        Mock::given(method("POST"))
            .and(path("/login/oauth/access_token"))
            .respond_with(TokenEndpoint(Arc::clone(&shared)))
            .named("GitHub token endpoint")
            .mount(provider.server())
            .await;
        Mock::given(method("GET"))
            .and(path("/user"))
            .respond_with(UserEndpoint(Arc::clone(&shared)))
            .named("GitHub GET /user")
            .mount(provider.server())
            .await;
        Mock::given(method("DELETE"))
            .and(path(format!("/applications/{CLIENT_ID}/grant")))
            .respond_with(DeleteGrant(Arc::clone(&shared)))
            .named("GitHub DELETE /applications/{client_id}/grant")
            .mount(provider.server())
            .await;
        Mock::given(method("GET"))
            .and(path("/user/installations"))
            .respond_with(UserInstallations(Arc::clone(&shared)))
            .named("GitHub GET /user/installations")
            .mount(provider.server())
            .await;
        Mock::given(method("GET"))
            .and(path("/app"))
            .respond_with(AppEndpoint(Arc::clone(&shared)))
            .named("GitHub GET /app")
            .mount(provider.server())
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/app/installations/[0-9]+$"))
            .respond_with(InstallationEndpoint(Arc::clone(&shared)))
            .named("GitHub GET /app/installations/{id}")
            .mount(provider.server())
            .await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/app/installations/[0-9]+/access_tokens$"))
            .respond_with(InstallationTokens(Arc::clone(&shared)))
            .named("GitHub POST /app/installations/{id}/access_tokens")
            .mount(provider.server())
            .await;
        Mock::given(method("GET"))
            .and(path("/installation/repositories"))
            .respond_with(InstallationRepositories(Arc::clone(&shared)))
            .named("GitHub GET /installation/repositories")
            .mount(provider.server())
            .await;
        Self { provider, shared }
    }

    super::ledger_accessors!();

    /// The base URI (web and API).
    pub fn uri(&self) -> String {
        self.provider.uri()
    }

    /// A `github::github-cloud` target config pointing at this mock.
    pub fn target_config(&self) -> Value {
        json!({
            "api_base_url": self.uri(),
            "web_base_url": self.uri(),
            "client_id": CLIENT_ID,
            "app_id": APP_ID,
            "app_slug": APP_SLUG,
        })
    }

    /// The matching target secrets (client secret and App private key).
    pub fn target_secrets(&self) -> Value {
        json!({
            "client_secret": CLIENT_SECRET,
            "app_private_key_pem": GITHUB_APP_TEST_KEY_PEM,
        })
    }

    /// The mock's client secret (to assert it never leaks).
    pub fn client_secret(&self) -> &'static str {
        CLIENT_SECRET
    }

    /// The installation id the mock knows.
    pub fn installation_id(&self) -> u64 {
        INSTALLATION_ID
    }

    /// Judges app JWTs by this clock (default: the system clock) and dates installation
    /// tokens and authorization codes by it.
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.shared.ledger.set_clock(Arc::clone(&clock));
        *self
            .shared
            .clock
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = clock;
        self
    }

    /// Plays the user consenting to `authorization_url`; returns the callback query
    /// (`code=...&state=...`), or why the URL was refused.
    ///
    /// # Errors
    ///
    /// A readable reason when the URL is not one GitHub would accept.
    pub fn authorize(&self, authorization_url: &str) -> Result<String, String> {
        consent(
            &self.shared.ledger,
            authorization_url,
            &AuthorizeRules {
                endpoint: &format!("{}/login/oauth/authorize", self.uri()),
                client_id: CLIENT_ID,
                separator: ' ',
                known_scopes: None,
                require_pkce: false,
            },
        )
    }

    /// Makes `login` (with the numeric `id`) the user who authorizes from now on: the
    /// grants of the next consents and installations are theirs, and `GET /user` with
    /// their tokens answers them. Grants made before keep their user (`octocat`, id
    /// 583231, by default).
    pub fn sign_in_as(&self, login: &str, id: u64) {
        *self
            .shared
            .signed_in
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (login.to_owned(), id);
    }

    /// Makes the next `GET /user` answer as GitHub answers a rate limit: HTTP 403 with
    /// `retry-after: 60` for a secondary limit (`secondary`), else with
    /// `x-ratelimit-remaining: 0` and a reset ten minutes on (the mock's clock).
    pub fn limit_user_endpoint(&self, secondary: bool) {
        *self
            .shared
            .user_limited
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(secondary);
    }

    /// The callback query of a user who refused.
    pub fn deny(&self, authorization_url: &str) -> String {
        refusal(authorization_url)
    }

    /// Plays the user installing the App from the installation URL; returns the
    /// callback query: `code=...&installation_id=...&setup_action=install&state=...`
    /// while the App requests user authorization during installation (the default), and
    /// without `code` otherwise (GitHub then calls the setup URL).
    ///
    /// # Errors
    ///
    /// A readable reason when the URL is not the App's installation page.
    pub fn install(&self, installation_url: &str) -> Result<String, String> {
        let url = url::Url::parse(installation_url).map_err(|_| "not a URL".to_owned())?;
        let expected = format!("/apps/{APP_SLUG}/installations/new");
        if url.path() != expected || !installation_url.starts_with(&self.uri()) {
            return Err(format!("expected {}{expected}", self.uri()));
        }
        let state = url
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .ok_or("state is missing")?;
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if self.shared.user_authorization.load(Ordering::SeqCst) {
            let code = self.shared.ledger.fresh("code_");
            self.shared
                .installation_codes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(code.clone(), self.shared.now());
            query.append_pair("code", &code);
        }
        Ok(query
            .append_pair("installation_id", &INSTALLATION_ID.to_string())
            .append_pair("setup_action", "install")
            .append_pair("state", &state)
            .finish())
    }

    /// Whether the App requests user authorization (OAuth) during installation, so that
    /// [`install`](Self::install) returns a `code` (default: on).
    pub fn set_user_authorization_on_install(&self, on: bool) {
        self.shared.user_authorization.store(on, Ordering::SeqCst);
    }

    /// Adds an installation of the App on `account` with one repository,
    /// `<account>-repo`. With `user_access` false it belongs to an organization the mock
    /// user is not in: it exists for the App (installation tokens can be minted for it)
    /// but `/user/installations` never lists it.
    pub fn add_installation(&self, id: u64, account: &str, user_access: bool) {
        self.shared
            .installations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id,
                Installation {
                    account: account.to_owned(),
                    repositories: vec![format!("{account}-repo")],
                    user_access,
                },
            );
    }

    /// Adds the repository `name` (in the installation's account) to installation `id`,
    /// as an owner choosing one more repository for the App does.
    ///
    /// # Panics
    ///
    /// For an unknown installation.
    pub fn add_installation_repository(&self, id: u64, name: &str) {
        let mut installations = self
            .shared
            .installations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let installation = installations
            .get_mut(&id)
            .expect("an installation of the mock");
        if !installation.repositories.iter().any(|r| r == name) {
            installation.repositories.push(name.to_owned());
        }
    }

    /// Takes the repository `name` out of installation `id`: its tokens stop reaching it
    /// (GitHub then answers 404 for it) and it is no longer listed.
    pub fn remove_installation_repository(&self, id: u64, name: &str) {
        if let Some(installation) = self
            .shared
            .installations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&id)
        {
            installation.repositories.retain(|r| r != name);
        }
    }

    /// Every `GET /installation/repositories` received, in order.
    pub fn installation_listings(&self) -> Vec<Recorded> {
        self.shared.listings.all()
    }

    /// Whether `token` is a live user or OAuth access token this mock issued (not an
    /// installation token: those reach only their installation's repositories).
    pub(crate) fn live_user_access(&self) -> impl Fn(&str) -> bool + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move |token| !token.starts_with("ghs_") && shared.ledger.access_is_live(token)
    }

    /// What `token` reaches now: `None` unless it is a live installation token.
    pub(crate) fn installation_reach(
        &self,
    ) -> impl Fn(&str) -> Option<Reach> + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move |token| shared.reach(token)
    }

    /// Removes an installation (the App was uninstalled).
    pub fn uninstall(&self, installation_id: u64) {
        self.shared
            .installations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&installation_id);
    }

    /// Accepts `token` on `/user` (a personal access token).
    pub fn accept_personal_token(&self, token: &str) {
        self.shared.ledger.accept_access(token);
    }

    /// Every installation-token request.
    pub fn installation_token_requests(&self) -> Vec<InstallationTokenRequest> {
        self.shared
            .installation_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct TokenEndpoint(Arc<Shared>);

/// An error of the token endpoint, with HTTP 200 as GitHub reports them: JSON when the
/// client asked for it (`Accept: application/json`), else form-encoded, as every answer
/// of that endpoint is by default (`error=...&error_description=...&error_uri=...`).
fn token_error(wants_json: bool, body: &Value) -> ResponseTemplate {
    if wants_json {
        return json_body(body);
    }
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    if let Value::Object(fields) = body {
        for (key, value) in fields {
            if let Some(value) = value.as_str() {
                form.append_pair(key, value);
            }
        }
    }
    ResponseTemplate::new(200).set_body_raw(
        form.finish(),
        "application/x-www-form-urlencoded; charset=utf-8",
    )
}

/// A fixture's error (a JSON object), answered as [`token_error`] does.
fn token_error_fixture(wants_json: bool, fixture: &str) -> ResponseTemplate {
    let body: Value = serde_json::from_str(fixture).expect("the fixture is JSON");
    token_error(wants_json, &body)
}

impl TokenEndpoint {
    /// A token answer: JSON shaped like the JSON fixture, or form-encoded with the form
    /// fixture's members in its order, then the expiring-token members.
    fn answer(wants_json: bool, fields: &[(&str, String)]) -> ResponseTemplate {
        if wants_json {
            let mut body: Value =
                serde_json::from_str(ACCESS_TOKEN_JSON).expect("the fixture is JSON");
            let map = body.as_object_mut().expect("the fixture is an object");
            for (k, v) in fields {
                let value = match *k {
                    "expires_in" | "refresh_token_expires_in" => {
                        json!(v.parse::<u64>().unwrap_or_default())
                    }
                    _ => json!(v),
                };
                map.insert((*k).to_owned(), value);
            }
            return json_body(&body);
        }
        let fixture_keys: Vec<String> = url::form_urlencoded::parse(ACCESS_TOKEN_FORM.as_bytes())
            .map(|(k, _)| k.into_owned())
            .collect();
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for key in &fixture_keys {
            if let Some((_, v)) = fields.iter().find(|(k, _)| k == key) {
                form.append_pair(key, v);
            }
        }
        for (k, v) in fields {
            if !fixture_keys.iter().any(|f| f == k) {
                form.append_pair(k, v);
            }
        }
        ResponseTemplate::new(200).set_body_raw(
            form.finish(),
            "application/x-www-form-urlencoded; charset=utf-8",
        )
    }

    /// Takes an installation callback's code (single use), with when it was issued.
    fn take_installation_code(&self, code: &str) -> Option<Timestamp> {
        self.0
            .installation_codes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(code)
    }

    fn issue(&self, wants_json: bool, scopes: &[String], family: u64) -> ResponseTemplate {
        if self.0.expiring_user_tokens {
            self.issue_app_user_token(wants_json, family)
        } else {
            let access = self.0.ledger.issue_access("gho_");
            self.0.ledger.adopt(family, &[&access]);
            self.0.authorized_by_signed_in(family);
            Self::answer(
                wants_json,
                &[
                    ("access_token", access),
                    ("scope", scopes.join(",")),
                    ("token_type", "bearer".to_owned()),
                ],
            )
        }
    }

    /// A GitHub App user access token (`ghu_`, 8 h, single-use `ghr_` refresh token): what
    /// an installation's code is always exchanged for.
    fn issue_app_user_token(&self, wants_json: bool, family: u64) -> ResponseTemplate {
        let ledger = &self.0.ledger;
        let access = ledger.issue_access("ghu_");
        let refresh = ledger.issue_refresh("ghr_");
        ledger.link(&access, &refresh);
        ledger.adopt(family, &[&access, &refresh]);
        self.0.authorized_by_signed_in(family);
        Self::answer(
            wants_json,
            &[
                ("access_token", access),
                ("expires_in", "28800".to_owned()),
                ("refresh_token", refresh),
                ("refresh_token_expires_in", "15811200".to_owned()),
                ("scope", String::new()),
                ("token_type", "bearer".to_owned()),
            ],
        )
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
        let wants_json = request
            .headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
        // GitHub reports every error with HTTP 200. Its token endpoint documents the
        // client_id and client_secret parameters: the client authenticates in the body.
        if !ledger.client_auth_allowed(auth)
            || !ledger.client_matches(
                (CLIENT_ID, CLIENT_SECRET),
                client_id.as_deref(),
                client_secret.as_deref(),
            )
        {
            return ledger.delayed(token_error_fixture(
                wants_json,
                INCORRECT_CLIENT_CREDENTIALS,
            ));
        }
        let response = match grant_type.as_str() {
            "authorization_code" => {
                let code = form.get("code");
                if let Some(installed) = code.and_then(|c| self.take_installation_code(c)) {
                    return ledger.delayed(if self.0.now().duration_since(installed) < CODE_TTL {
                        self.issue_app_user_token(wants_json, ledger.new_family())
                    } else {
                        token_error_fixture(wants_json, BAD_VERIFICATION_CODE)
                    });
                }
                let grant = code.map(|c| ledger.take_code(c, client_id.as_deref()));
                match grant {
                    // GitHub documents redirect_uri as optional in the token request; one
                    // that is sent must match.
                    Some(Ok(grant)) => match check_exchange(&grant, &form, false) {
                        Ok(()) => self.issue(wants_json, &grant.scopes, grant.family),
                        Err("redirect_uri") => token_error(
                            wants_json,
                            &json!({
                                "error": "redirect_uri_mismatch",
                                "error_description": "The redirect_uri MUST match the registered callback URL for this application.",
                            }),
                        ),
                        Err(_) => token_error_fixture(wants_json, BAD_VERIFICATION_CODE),
                    },
                    Some(Err(_)) | None => token_error_fixture(wants_json, BAD_VERIFICATION_CODE),
                }
            }
            "refresh_token" => {
                let revoked = ledger.failure() == FailureMode::Revoked;
                let presented = form.get("refresh_token");
                let family = presented
                    .and_then(|t| ledger.family_of(t))
                    .unwrap_or_else(|| ledger.new_family());
                let used = presented.map_or(RefreshUse::Unknown, |t| ledger.use_refresh(t));
                if used == RefreshUse::Live && !revoked {
                    self.issue(wants_json, &[], family)
                } else {
                    token_error(
                        wants_json,
                        &json!({
                            "error": "bad_refresh_token",
                            "error_description": "The refresh token passed is incorrect or expired.",
                        }),
                    )
                }
            }
            _ => token_error(wants_json, &json!({"error": "unsupported_grant_type"})),
        };
        ledger.delayed(response)
    }
}

struct UserEndpoint(Arc<Shared>);

impl Respond for UserEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some(refused) = without_user_agent(request) {
            return refused;
        }
        let limited = self
            .0
            .user_limited
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match limited {
            // GitHub answers both limits with 403.
            Some(true) => {
                return verbatim_json(
                    403,
                    r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api","status":"403"}"#,
                )
                .insert_header("retry-after", "60");
            }
            Some(false) => {
                let reset = self.0.now().unix_seconds() + 600;
                return verbatim_json(
                    403,
                    r#"{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api","status":"403"}"#,
                )
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str());
            }
            None => {}
        }
        match bearer(request) {
            Some(token) if self.0.ledger.access_is_live(&token) => {
                let (login, id) = self.0.user_of(&token);
                json_body(&json!({"login": login, "id": id, "type": "User"}))
            }
            _ => verbatim_json(
                401,
                r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}"#,
            ),
        }
    }
}

/// Verifies an App JWT: RS256 over `header.claims` with the App key, `iss` the app id,
/// at most ten minutes long, valid now.
fn verify_app_jwt(shared: &Shared, request: &Request) -> Result<(), &'static str> {
    let token = bearer(request).ok_or("no bearer token")?;
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT");
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| "bad base64url");
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|_| "bad header")?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err("alg must be RS256");
    }
    let signature =
        Signature::try_from(decode(signature)?.as_slice()).map_err(|_| "bad signature")?;
    let signed = &token[..token.rfind('.').ok_or("not a JWT")?];
    shared
        .verifying_key
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| "signature does not verify")?;
    let claims: Value = serde_json::from_slice(&decode(claims)?).map_err(|_| "bad claims")?;
    let iss = match claims.get("iss") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    if iss != Some(APP_ID) {
        return Err("iss is not the app id");
    }
    let (Some(iat), Some(exp)) = (
        claims.get("iat").and_then(Value::as_i64),
        claims.get("exp").and_then(Value::as_i64),
    ) else {
        return Err("iat and exp are required");
    };
    let now = shared.now().unix_seconds();
    if exp - iat > 600 || exp <= now || iat > now + 60 || exp > now + 600 {
        return Err("the JWT is not valid now or lasts more than 10 minutes");
    }
    Ok(())
}

/// GitHub's answer to a REST request without a `User-Agent` (403), when `request` has
/// none.
fn without_user_agent(request: &Request) -> Option<ResponseTemplate> {
    request
        .headers
        .get("user-agent")
        .is_none_or(|v| v.as_bytes().is_empty())
        .then(|| {
            verbatim_json(
                403,
                r#"{"message":"Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes."}"#,
            )
        })
}

fn jwt_refused() -> ResponseTemplate {
    verbatim_json(
        401,
        r#"{"message":"A JSON web token could not be decoded","documentation_url":"https://docs.github.com/rest","status":"401"}"#,
    )
}

fn not_found() -> ResponseTemplate {
    verbatim_json(
        404,
        r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest/apps/apps","status":"404"}"#,
    )
}

fn installation_json(shared: &Shared, id: u64, installation: &Installation) -> Value {
    json!({
        "id": id,
        "account": {"login": installation.account, "type": "Organization"},
        "app_id": APP_ID,
        "app_slug": APP_SLUG,
        "target_type": "Organization",
        "repository_selection": "selected",
        "html_url": format!("{}/organizations/{}/settings/installations/{id}", shared.uri, installation.account),
    })
}

fn installation_id(request: &Request) -> Option<u64> {
    request
        .url
        .path_segments()?
        .nth(2)
        .and_then(|s| s.parse().ok())
}

/// `GET /app`: the App the JWT authenticates (a subset of GitHub's documented fields).
struct AppEndpoint(Arc<Shared>);

impl Respond for AppEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some(refused) = without_user_agent(request) {
            return refused;
        }
        if verify_app_jwt(&self.0, request).is_err() {
            return jwt_refused();
        }
        json_body(&json!({
            "id": APP_ID,
            "slug": APP_SLUG,
            "name": "Acme Agent",
            "owner": {"login": "acme", "type": "Organization"},
            "html_url": format!("{}/apps/{APP_SLUG}", self.0.uri),
            "permissions": {"issues": "write", "metadata": "read"},
            "events": ["issues", "pull_request"],
        }))
    }
}

struct InstallationEndpoint(Arc<Shared>);

impl Respond for InstallationEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some(refused) = without_user_agent(request) {
            return refused;
        }
        if verify_app_jwt(&self.0, request).is_err() {
            return jwt_refused();
        }
        let Some(id) = installation_id(request) else {
            return not_found();
        };
        let installations = self
            .0
            .installations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match installations.get(&id) {
            Some(installation) => json_body(&installation_json(&self.0, id, installation)),
            None => not_found(),
        }
    }
}

struct InstallationTokens(Arc<Shared>);

impl Respond for InstallationTokens {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let ledger = &self.0.ledger;
        if let Some(failure) = ledger.temporary_failure() {
            return failure;
        }
        if let Some(refused) = without_user_agent(request) {
            return refused;
        }
        if verify_app_jwt(&self.0, request).is_err() {
            return jwt_refused();
        }
        let Some(id) = installation_id(request) else {
            return not_found();
        };
        let requested: Option<Vec<String>> = if request.body.is_empty() {
            None
        } else {
            match serde_json::from_slice::<Value>(&request.body) {
                Ok(body) => body.get("repositories").and_then(Value::as_array).map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                }),
                Err(_) => {
                    return verbatim_json(
                        400,
                        r#"{"message":"Problems parsing JSON","status":"400"}"#,
                    );
                }
            }
        };
        self.0
            .installation_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(InstallationTokenRequest {
                installation_id: id,
                repositories: requested.clone(),
            });
        let installations = self
            .0
            .installations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(installation) = installations.get(&id) else {
            return not_found();
        };
        let names = requested
            .clone()
            .unwrap_or_else(|| installation.repositories.clone());
        if let Some(unknown) = names
            .iter()
            .find(|n| !installation.repositories.contains(n))
        {
            return verbatim_json(
                422,
                &json!({
                    "message": format!("There is at least one repository that does not exist or is not accessible to the parent installation: {unknown}"),
                    "status": "422",
                })
                .to_string(),
            );
        }
        let expires_at = self.0.now().saturating_add(Duration::from_secs(3600));
        let token = ledger.issue_access("ghs_");
        self.0
            .minted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                token.clone(),
                Minted {
                    installation: id,
                    repositories: requested.clone(),
                    expires_at,
                },
            );
        let repositories: Vec<Value> = names
            .iter()
            .map(|n| json!({"name": n, "full_name": format!("{}/{n}", installation.account)}))
            .collect();
        ledger.delayed(
            ResponseTemplate::new(201).set_body_raw(
                json!({
                    "token": token,
                    "expires_at": Timestamp::from_unix_seconds(expires_at.unix_seconds()).to_rfc3339().replace(".000Z", "Z"),
                    "permissions": {"contents": "write", "issues": "write", "metadata": "read", "pull_requests": "write"},
                    "repository_selection": if requested.is_some() { "selected" } else { "all" },
                    "repositories": repositories,
                })
                .to_string(),
                "application/json; charset=utf-8",
            ),
        )
    }
}

/// `GET /user/installations`: the App's installations the user of a GitHub App user
/// token (`ghu_`) can access, `per_page` (default 30, at most 100) at a time from `page`
/// (default 1), with GitHub's `Link` header (`prev`, `next`, `last`, `first`) built on
/// the host the request was sent to.
struct UserInstallations(Arc<Shared>);

fn validation_failed(field: &str) -> ResponseTemplate {
    verbatim_json(
        422,
        &json!({
            "message": "Validation Failed",
            "errors": [{"resource": "Pagination", "field": field, "code": "invalid"}],
            "documentation_url": "https://docs.github.com/rest",
            "status": "422",
        })
        .to_string(),
    )
}

/// A page's `Link` URL, built on the host the request was sent to.
fn page_link(request: &Request, page: usize) -> String {
    let host = request
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in request.url.query_pairs().filter(|(k, _)| k != "page") {
        query.append_pair(&k, &v);
    }
    query.append_pair("page", &page.to_string());
    format!("<http://{host}{}?{}>", request.url.path(), query.finish())
}

/// `items`, paged as GitHub's REST lists are: `per_page` (default 30, at most 100) from
/// `page` (default 1), in an object with `total_count` and the items under `member`
/// (plus `extra` members), with a `Link` header (`prev`, `next`, `last`, `first`).
fn paged(
    request: &Request,
    items: Vec<Value>,
    member: &str,
    extra: &[(&str, Value)],
) -> ResponseTemplate {
    let param = |name: &str| {
        request
            .url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let per_page = match param("per_page").map(|v| v.parse::<usize>()) {
        None => 30,
        Some(Ok(n)) => n.clamp(1, 100),
        Some(Err(_)) => return validation_failed("per_page"),
    };
    let page = match param("page").map(|v| v.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => return validation_failed("page"),
    };
    let total = items.len();
    let last = total.div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", page_link(request, page - 1)));
    }
    if page < last {
        links.push(format!("{}; rel=\"next\"", page_link(request, page + 1)));
        links.push(format!("{}; rel=\"last\"", page_link(request, last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", page_link(request, 1)));
    }
    let mut body = json!({"total_count": total});
    for (name, value) in extra {
        body[*name] = value.clone();
    }
    body[member] = Value::Array(slice);
    let response = json_body(&body);
    if links.is_empty() {
        response
    } else {
        response.insert_header("link", links.join(", ").as_str())
    }
}

fn bad_credentials() -> ResponseTemplate {
    verbatim_json(
        401,
        r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}"#,
    )
}

impl Respond for UserInstallations {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some(refused) = without_user_agent(request) {
            return refused;
        }
        let token = bearer(request).filter(|t| self.0.ledger.access_is_live(t));
        match token {
            None => return bad_credentials(),
            // Only a GitHub App user access token lists installations.
            Some(token) if !token.starts_with("ghu_") => {
                return verbatim_json(
                    403,
                    r#"{"message":"You must authenticate with an access token authorized to a GitHub App in order to list installations","documentation_url":"https://docs.github.com/rest/apps/installations#list-app-installations-accessible-to-the-user-access-token","status":"403"}"#,
                );
            }
            Some(_) => {}
        }
        let visible: Vec<Value> = self
            .0
            .installations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, i)| i.user_access)
            .map(|(id, i)| installation_json(&self.0, *id, i))
            .collect();
        paged(request, visible, "installations", &[])
    }
}

/// `GET /installation/repositories`: the repositories an installation token reaches,
/// for that token only.
struct InstallationRepositories(Arc<Shared>);

impl Respond for InstallationRepositories {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.listings.record(request);
        if let Some(refused) = without_user_agent(request) {
            return refused;
        }
        let Some(reach) = bearer(request).and_then(|t| self.0.reach(&t)) else {
            return bad_credentials();
        };
        let uri = &self.0.uri;
        let repositories: Vec<Value> = reach
            .repositories
            .iter()
            .map(|name| {
                let full_name = format!("{}/{name}", reach.account);
                // A repository's id stays whatever else the installation holds.
                let id = full_name.bytes().fold(500_000_u64, |h, b| {
                    h.wrapping_mul(31).wrapping_add(u64::from(b))
                }) % 1_000_000_000;
                json!({
                    "id": id,
                    "node_id": format!("R_kgDOB{id}"),
                    "name": name,
                    "full_name": full_name,
                    "private": true,
                    "owner": {"login": reach.account, "type": "Organization"},
                    "html_url": format!("{uri}/{full_name}"),
                    "url": format!("{uri}/repos/{full_name}"),
                })
            })
            .collect();
        let selection = if reach.selected { "selected" } else { "all" };
        paged(
            request,
            repositories,
            "repositories",
            &[("repository_selection", json!(selection))],
        )
    }
}

/// `DELETE /applications/{client_id}/grant`: the OAuth app deletes a user's
/// authorization, named by one of its tokens.
struct DeleteGrant(Arc<Shared>);

impl Respond for DeleteGrant {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some(failure) = self.0.ledger.temporary_failure() {
            return failure;
        }
        if let Some(refused) = without_user_agent(request) {
            return refused;
        }
        if basic_credentials(request) != Some((CLIENT_ID.to_owned(), CLIENT_SECRET.to_owned())) {
            return verbatim_json(
                401,
                r#"{"message":"Requires authentication","documentation_url":"https://docs.github.com/rest/apps/oauth-applications#delete-an-app-authorization","status":"401"}"#,
            );
        }
        let token = serde_json::from_slice::<Value>(&request.body)
            .ok()
            .and_then(|v| v["access_token"].as_str().map(str::to_owned));
        match token {
            None => verbatim_json(
                422,
                r#"{"message":"Invalid request.\n\n\"access_token\" wasn't supplied.","documentation_url":"https://docs.github.com/rest/apps/oauth-applications#delete-an-app-authorization","status":"422"}"#,
            ),
            Some(token) if self.0.ledger.revoke_grant(&token) => ResponseTemplate::new(204),
            Some(_) => not_found(),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use integrations_core::host::{HttpClient, HttpResponse, ReqwestHttpClient};

    use super::*;

    async fn send(request: http::Request<Bytes>) -> HttpResponse {
        ReqwestHttpClient::new()
            .unwrap()
            .send(request)
            .await
            .unwrap()
    }

    fn content_type(response: &HttpResponse) -> &str {
        response.headers()["content-type"].to_str().unwrap()
    }

    /// The token endpoint answers form-encoded unless asked for JSON (providers.md §2.2),
    /// its errors too, with HTTP 200.
    #[tokio::test]
    async fn token_errors_are_form_encoded_unless_json_is_asked_for() {
        let mock = GitHubMock::start_oauth_app().await;
        let exchange = |accept: Option<&str>| {
            let mut request =
                http::Request::post(format!("{}/login/oauth/access_token", mock.uri()))
                    .header("content-type", "application/x-www-form-urlencoded");
            if let Some(accept) = accept {
                request = request.header("accept", accept);
            }
            request
                .body(Bytes::from(format!(
                    "client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}&code=not-a-code"
                )))
                .unwrap()
        };
        let form = send(exchange(None)).await;
        assert_eq!(form.status(), 200);
        assert!(content_type(&form).starts_with("application/x-www-form-urlencoded"));
        let fields: BTreeMap<String, String> = url::form_urlencoded::parse(form.body())
            .into_owned()
            .collect();
        assert_eq!(fields["error"], "bad_verification_code");
        assert_eq!(
            fields["error_description"],
            "The code passed is incorrect or expired."
        );
        let json = send(exchange(Some("application/json"))).await;
        assert!(content_type(&json).starts_with("application/json"));
        let body: Value = serde_json::from_slice(json.body()).unwrap();
        assert_eq!(body["error"], "bad_verification_code");

        // Wrong client credentials: form-encoded as well.
        let request = http::Request::post(format!("{}/login/oauth/access_token", mock.uri()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Bytes::from(format!(
                "client_id={CLIENT_ID}&client_secret=wrong&code=x"
            )))
            .unwrap();
        let wrong = send(request).await;
        assert!(
            std::str::from_utf8(wrong.body())
                .unwrap()
                .starts_with("error=incorrect_client_credentials&")
        );
    }

    /// An installation token reaches its installation's repositories (those it was
    /// narrowed to, when it was): `/installation/repositories` lists them, page by page,
    /// and the sync API served beside the mock reads them and hides any other (404). An
    /// expired token, or one of a removed installation, is `Bad credentials`.
    #[tokio::test]
    async fn installation_tokens_reach_their_installations_repositories_only() {
        let clock = Arc::new(crate::ManualClock::new(Timestamp::from_unix_seconds(
            1_795_000_000,
        )));
        let mock = GitHubMock::start().await.with_clock(clock.clone());
        let api = crate::mock::api::GitHubSyncApi::cloud(clock.clone()).await;
        api.serve_with(&mock).await;
        for name in [
            "octo-org/octo-repo",
            "octo-org/other-repo",
            "octo-org/private",
        ] {
            api.create_repo(name);
        }
        let mint = |token: &str, repositories: Option<Vec<String>>| {
            mock.shared.minted.lock().unwrap().insert(
                token.to_owned(),
                Minted {
                    installation: INSTALLATION_ID,
                    repositories,
                    expires_at: clock.now().saturating_add(Duration::from_secs(3600)),
                },
            );
        };
        mint("ghs_all", None);
        mint("ghs_one", Some(vec!["other-repo".to_owned()]));
        let get = |path: String, token: &'static str| {
            let uri = mock.uri();
            async move {
                send(
                    http::Request::get(format!("{uri}{path}"))
                        .header("user-agent", "test")
                        .header("authorization", format!("Bearer {token}"))
                        .body(Bytes::new())
                        .unwrap(),
                )
                .await
            }
        };
        let names = |response: &HttpResponse| -> Vec<String> {
            let body: Value = serde_json::from_slice(response.body()).unwrap();
            body["repositories"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["full_name"].as_str().unwrap().to_owned())
                .collect()
        };
        let all = get("/installation/repositories".into(), "ghs_all").await;
        assert_eq!(all.status(), 200);
        assert_eq!(names(&all), ["octo-org/octo-repo", "octo-org/other-repo"]);
        let body: Value = serde_json::from_slice(all.body()).unwrap();
        assert_eq!(
            (
                body["total_count"].as_u64(),
                body["repository_selection"].as_str()
            ),
            (Some(2), Some("all"))
        );
        let one = get("/installation/repositories".into(), "ghs_one").await;
        assert_eq!(names(&one), ["octo-org/other-repo"]);
        let paged = get(
            "/installation/repositories?per_page=1&page=2".into(),
            "ghs_all",
        )
        .await;
        assert_eq!(names(&paged), ["octo-org/other-repo"]);
        let link = paged.headers()["link"].to_str().unwrap().to_owned();
        assert!(
            link.contains("rel=\"prev\"") && !link.contains("rel=\"next\""),
            "{link}"
        );

        let issues = |repo: &str| format!("/repos/{repo}/issues");
        assert_eq!(
            get(issues("octo-org/octo-repo"), "ghs_all").await.status(),
            200
        );
        assert_eq!(
            get(issues("octo-org/private"), "ghs_all").await.status(),
            404
        );
        assert_eq!(
            get(issues("octo-org/octo-repo"), "ghs_one").await.status(),
            404
        );
        assert_eq!(
            get(issues("octo-org/other-repo"), "ghs_one").await.status(),
            200
        );
        assert_eq!(
            get(issues("octo-org/octo-repo"), "ghs_nope").await.status(),
            401
        );

        // Taken out of the installation, a repository is neither listed nor read.
        mock.remove_installation_repository(INSTALLATION_ID, "octo-repo");
        let all = get("/installation/repositories".into(), "ghs_all").await;
        assert_eq!(names(&all), ["octo-org/other-repo"]);
        assert_eq!(
            get(issues("octo-org/octo-repo"), "ghs_all").await.status(),
            404
        );

        clock.advance(Duration::from_secs(3600));
        assert_eq!(
            get("/installation/repositories".into(), "ghs_all")
                .await
                .status(),
            401
        );
        mint("ghs_fresh", None);
        mock.uninstall(INSTALLATION_ID);
        assert_eq!(
            get(issues("octo-org/other-repo"), "ghs_fresh")
                .await
                .status(),
            401
        );
        assert_eq!(mock.installation_listings().len(), 5);
    }

    /// The App endpoints refuse a request without `User-Agent`, as the REST API does.
    #[tokio::test]
    async fn app_endpoints_require_a_user_agent() {
        let mock = GitHubMock::start().await;
        let request = http::Request::get(format!(
            "{}/app/installations/{INSTALLATION_ID}",
            mock.uri()
        ))
        .header("user-agent", "")
        .body(Bytes::new())
        .unwrap();
        let response = send(request).await;
        assert_eq!(response.status(), 403);
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("User-Agent header")
        );
    }
}
