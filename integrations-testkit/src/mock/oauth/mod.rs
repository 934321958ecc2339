//! Mock OAuth providers for GitHub, Linear and Slack on loopback, and [`OAuth2Mock`],
//! one that does what any [`OAuth2Spec`](integrations_core::definition::OAuth2Spec)
//! declares, for the authors of other providers.
//!
//! Each mock is a [`MockProvider`](super::MockProvider) (so any request it does not
//! expect fails the test readably) serving the provider's token endpoint as the provider
//! does, quirks included, plus the identity endpoint the definitions call:
//!
//! * the authorize step is a helper (`authorize`) that plays the user consenting: it
//!   checks the authorization URL our engine built, records the PKCE challenge and
//!   returns the callback query with a single-use code;
//! * the token endpoint checks client authentication as the provider expects it (one
//!   method per request, RFC 6749 §2.3; the method the provider documents, or the one a
//!   test registers with `require_client_auth`), the code (single use, bound to the
//!   client it was issued to, expired after [`CODE_TTL`] by the mock's clock), its
//!   redirect URI (required where the authorization request carried one and the provider
//!   documents it, RFC 6749 §4.1.3) and the PKCE `code_verifier` against the recorded
//!   challenge (S256);
//! * refresh tokens are single use and rotate; presenting a rotated one again is a
//!   replay, and revokes the whole token family, every access and refresh token
//!   descended from that authorization (RFC 9700 §4.14.2), then gets the provider's
//!   `invalid_grant` equivalent; a used code is refused, and with
//!   `revoke_on_code_replay` also revokes its family (RFC 6749 §4.1.2);
//! * failure modes switch at run time ([`FailureMode`]: 503, 429 with `Retry-After`,
//!   revoked grants), an optional delay widens race windows, and every token request is
//!   counted and recorded so tests can assert "exactly one refresh".
//!
//! Tokens are fresh per mock and per request, and [`issued_secrets`](GitHubMock::issued_secrets)
//! lists them so tests can check none leaks into logs or errors.

pub(crate) mod github;
mod linear;
mod slack;
mod standard;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use integrations_core::Timestamp;
use integrations_core::host::{Clock, SystemClock};
use sha2::{Digest, Sha256};
use wiremock::{Request, ResponseTemplate};

pub use self::github::{GITHUB_APP_TEST_KEY_PEM, GitHubMock, InstallationTokenRequest};
pub use self::linear::LinearMock;
pub use self::slack::SlackMock;
pub use self::standard::OAuth2Mock;

/// How a mock's token endpoint misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FailureMode {
    /// Answers normally.
    #[default]
    None,
    /// Answers `503 Service Unavailable`.
    Unavailable,
    /// Answers `429 Too Many Requests` with `Retry-After`.
    RateLimited {
        /// The `Retry-After` seconds.
        retry_after_secs: u64,
    },
    /// Every grant was revoked: refreshes (and identity calls) are refused the way the
    /// provider refuses a revoked grant.
    Revoked,
}

/// How a token request authenticated its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthSeen {
    /// HTTP Basic.
    Basic,
    /// `client_id` (and `client_secret`) form fields.
    Body,
    /// No client credentials.
    None,
    /// HTTP Basic and a `client_secret` form field at once, which RFC 6749 §2.3 forbids
    /// (refused).
    Both,
}

/// How long an authorization code lives: ten minutes, GitHub's documented limit and the
/// maximum RFC 6749 §4.1.2 recommends.
pub const CODE_TTL: Duration = Duration::from_secs(600);

/// One token request, as the mock saw it (no secret values).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenRequestRecord {
    /// `grant_type` (`authorization_code`, `refresh_token`, `client_credentials`).
    pub grant_type: String,
    /// How the client authenticated.
    pub client_auth: ClientAuthSeen,
    /// The `scope` parameter, when sent.
    pub scope: Option<String>,
    /// Whether a `code_verifier` was sent.
    pub code_verifier: bool,
}

/// A code the authorize step issued.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) challenge: Option<String>,
    /// The client the code was issued to.
    pub(crate) client_id: String,
    /// When it was issued, by the mock's clock.
    pub(crate) issued_at: Timestamp,
    /// The token family its exchange starts (set when the code is taken).
    pub(crate) family: u64,
}

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeRefusal {
    /// Never issued.
    Unknown,
    /// Older than [`CODE_TTL`].
    Expired,
    /// Issued to another client.
    OtherClient,
    /// Already exchanged: the tokens issued for it were revoked.
    Replayed,
}

/// What happened to a refresh token presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshUse {
    Live,
    Reused,
    Unknown,
}

#[derive(Default)]
struct LedgerState {
    seq: u64,
    salt: u64,
    codes: HashMap<String, Grant>,
    access: HashSet<String>,
    refresh_live: HashSet<String>,
    refresh_used: HashSet<String>,
    /// The refresh token issued with each access token, for revoking a whole grant.
    grants: HashMap<String, String>,
    revocations: usize,
    last_refresh: Option<String>,
    issued: Vec<String>,
    failure: FailureMode,
    delay: Duration,
    requests: Vec<TokenRequestRecord>,
    /// The token family of each token issued in one.
    family_of: HashMap<String, u64>,
    /// The tokens of each family.
    members: HashMap<u64, Vec<String>>,
    /// Codes already exchanged, with the family their exchange started.
    used_codes: HashMap<String, u64>,
    /// Families revoked by a replay.
    replays: usize,
    /// The one client-authentication method the client is registered for, if any.
    client_auth: Option<ClientAuthSeen>,
    /// Other clients (apps) of the provider, by id, with their secrets.
    other_clients: HashMap<String, String>,
    /// Whether a code exchanged twice revokes what its first exchange issued.
    revoke_on_code_replay: bool,
    /// A replayed refresh token is refused without revoking its family (default: it
    /// revokes it, RFC 9700 §4.14.2).
    keep_family_on_refresh_replay: bool,
}

/// The accessors every OAuth mock shares: its [`MockProvider`], failure and delay
/// switches, and what its ledger saw. Expands inside `impl` of a mock with `provider`
/// and `shared.ledger` fields.
macro_rules! ledger_accessors {
    () => {
        /// The underlying mock provider.
        pub fn provider(&self) -> &crate::mock::MockProvider {
            &self.provider
        }

        /// Switches the failure mode of the token (and revocation) endpoints.
        pub fn set_failure(&self, mode: super::FailureMode) {
            self.shared.ledger.set_failure(mode);
        }

        /// Delays every token answer.
        pub fn set_delay(&self, delay: std::time::Duration) {
            self.shared.ledger.set_delay(delay);
        }

        /// Every token request so far.
        pub fn token_requests(&self) -> Vec<super::TokenRequestRecord> {
            self.shared.ledger.requests()
        }

        /// How many refresh requests arrived.
        pub fn refresh_requests(&self) -> usize {
            self.shared.ledger.count("refresh_token")
        }

        /// How many code exchanges arrived.
        pub fn code_exchanges(&self) -> usize {
            self.shared.ledger.count("authorization_code")
        }

        /// The refresh token issued last.
        pub fn last_refresh_token(&self) -> Option<String> {
            self.shared.ledger.last_refresh()
        }

        /// Every token the mock issued (to assert none leaks).
        pub fn issued_secrets(&self) -> Vec<String> {
            self.shared.ledger.issued()
        }

        /// Whether `token` is an access token this mock issued (or accepts) and has not
        /// rotated away, expired or revoked.
        pub fn access_is_live(&self, token: &str) -> bool {
            self.shared.ledger.access_is_live(token)
        }

        /// How many grants the revocation endpoint revoked.
        pub fn revocations(&self) -> usize {
            self.shared.ledger.revocations()
        }

        /// How many token families a replayed refresh token or code revoked.
        pub fn replays(&self) -> usize {
            self.shared.ledger.replays()
        }

        /// Registers the client for one authentication method only, as a provider's
        /// `token_endpoint_auth_method` does (`None`: any the provider documents); a token
        /// request authenticating another way is refused as the provider refuses bad
        /// client credentials.
        pub fn require_client_auth(&self, method: Option<super::ClientAuthSeen>) {
            self.shared.ledger.set_client_auth(method);
        }

        /// Makes a code exchanged twice revoke every token its first exchange issued, as
        /// RFC 6749 §4.1.2 recommends (default off: none of the three providers documents
        /// it; a replayed code is always refused).
        pub fn revoke_on_code_replay(&self, on: bool) {
            self.shared.ledger.set_revoke_on_code_replay(on);
        }

        /// Whether a refresh token presented again after its rotation revokes every token
        /// of its family (default on, RFC 9700 §4.14.2); off, the replay is only refused,
        /// as providers that document rotation but not reuse detection may do.
        pub fn revoke_family_on_refresh_replay(&self, on: bool) {
            self.shared.ledger.set_revoke_family_on_refresh_replay(on);
        }

        /// Registers a second OAuth client (another app) of the provider: it may authorize
        /// and authenticate too, so a test can show that codes are bound to the client
        /// they were issued to.
        pub fn register_client(&self, client_id: &str, client_secret: &str) {
            self.shared.ledger.register_client(client_id, client_secret);
        }

        /// Dates codes by `clock` (default: the system clock), so a test can let one
        /// expire.
        pub fn set_clock(&self, clock: std::sync::Arc<dyn integrations_core::host::Clock>) {
            self.shared.ledger.set_clock(clock);
        }
    };
}

pub(crate) use ledger_accessors;

/// The state shared by a mock's responders.
pub(crate) struct Ledger {
    state: Mutex<LedgerState>,
    clock: Mutex<Arc<dyn Clock>>,
}

impl Default for Ledger {
    fn default() -> Self {
        Self {
            state: Mutex::new(LedgerState::default()),
            clock: Mutex::new(Arc::new(SystemClock::new())),
        }
    }
}

/// Every live token of `family` stops working.
fn revoke_family(state: &mut LedgerState, family: u64) {
    let members = state.members.get(&family).cloned().unwrap_or_default();
    for token in members {
        state.access.remove(&token);
        state.refresh_live.remove(&token);
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Ledger {
    pub(crate) fn new(salt: u64) -> Self {
        let ledger = Self::default();
        ledger.lock().salt = salt;
        ledger
    }

    fn lock(&self) -> MutexGuard<'_, LedgerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh value: `prefix` and 32 hex digits, unique per mock and call.
    pub(crate) fn fresh(&self, prefix: &str) -> String {
        let mut state = self.lock();
        state.seq += 1;
        let a = splitmix(state.salt ^ state.seq);
        let b = splitmix(a ^ state.seq.rotate_left(17));
        format!("{prefix}{a:016x}{b:016x}")
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .now()
    }

    pub(crate) fn set_clock(&self, clock: Arc<dyn Clock>) {
        *self.clock.lock().unwrap_or_else(PoisonError::into_inner) = clock;
    }

    pub(crate) fn issue_code(&self, grant: Grant) -> String {
        let code = self.fresh("code_");
        self.lock().codes.insert(code.clone(), grant);
        code
    }

    /// Takes a code (single use) for `client_id`: an unknown, expired or other client's
    /// code is refused; a code exchanged before is a replay that revokes every token its
    /// first exchange started.
    pub(crate) fn take_code(
        &self,
        code: &str,
        client_id: Option<&str>,
    ) -> Result<Grant, CodeRefusal> {
        let now = self.now();
        let mut state = self.lock();
        let Some(mut grant) = state.codes.remove(code) else {
            return match state.used_codes.get(code).copied() {
                Some(family) => {
                    if state.revoke_on_code_replay {
                        revoke_family(&mut state, family);
                        state.replays += 1;
                    }
                    Err(CodeRefusal::Replayed)
                }
                None => Err(CodeRefusal::Unknown),
            };
        };
        state.seq += 1;
        let family = state.seq;
        state.used_codes.insert(code.to_owned(), family);
        if now.duration_since(grant.issued_at) >= CODE_TTL {
            return Err(CodeRefusal::Expired);
        }
        if client_id != Some(grant.client_id.as_str()) {
            return Err(CodeRefusal::OtherClient);
        }
        grant.family = family;
        Ok(grant)
    }

    /// A new token family, for tokens issued without a code of this ledger.
    pub(crate) fn new_family(&self) -> u64 {
        let mut state = self.lock();
        state.seq += 1;
        state.seq
    }

    /// The family of a token, if it was issued in one.
    pub(crate) fn family_of(&self, token: &str) -> Option<u64> {
        self.lock().family_of.get(token).copied()
    }

    /// Puts tokens in a family: a replay in it revokes them.
    pub(crate) fn adopt(&self, family: u64, tokens: &[&str]) {
        let mut state = self.lock();
        for token in tokens {
            state.family_of.insert((*token).to_owned(), family);
            state
                .members
                .entry(family)
                .or_default()
                .push((*token).to_owned());
        }
    }

    pub(crate) fn set_revoke_on_code_replay(&self, on: bool) {
        self.lock().revoke_on_code_replay = on;
    }

    pub(crate) fn set_revoke_family_on_refresh_replay(&self, on: bool) {
        self.lock().keep_family_on_refresh_replay = !on;
    }

    pub(crate) fn register_client(&self, client_id: &str, client_secret: &str) {
        self.lock()
            .other_clients
            .insert(client_id.to_owned(), client_secret.to_owned());
    }

    /// Whether `client_id` is one of the other clients registered.
    pub(crate) fn is_other_client(&self, client_id: &str) -> bool {
        self.lock().other_clients.contains_key(client_id)
    }

    /// The secret of another client registered.
    pub(crate) fn other_client_secret(&self, client_id: &str) -> Option<String> {
        self.lock().other_clients.get(client_id).cloned()
    }

    /// Whether `id` and `secret` are the mock's own client (`own`) or another one
    /// registered.
    pub(crate) fn client_matches(
        &self,
        own: (&str, &str),
        id: Option<&str>,
        secret: Option<&str>,
    ) -> bool {
        match (id, secret) {
            (Some(id), Some(secret)) if id == own.0 => secret == own.1,
            (Some(id), Some(secret)) => self.other_client_secret(id).as_deref() == Some(secret),
            _ => false,
        }
    }

    pub(crate) fn replays(&self) -> usize {
        self.lock().replays
    }

    pub(crate) fn set_client_auth(&self, method: Option<ClientAuthSeen>) {
        self.lock().client_auth = method;
    }

    /// Whether a request that authenticated with `seen` may: never two methods at once,
    /// and only the registered method when there is one.
    pub(crate) fn client_auth_allowed(&self, seen: ClientAuthSeen) -> bool {
        match (seen, self.lock().client_auth) {
            (ClientAuthSeen::Both, _) => false,
            (_, None) => true,
            (seen, Some(registered)) => seen == registered,
        }
    }

    pub(crate) fn issue_access(&self, prefix: &str) -> String {
        let token = self.fresh(prefix);
        let mut state = self.lock();
        state.access.insert(token.clone());
        state.issued.push(token.clone());
        token
    }

    pub(crate) fn issue_refresh(&self, prefix: &str) -> String {
        let token = self.fresh(prefix);
        let mut state = self.lock();
        state.refresh_live.insert(token.clone());
        state.issued.push(token.clone());
        state.last_refresh = Some(token.clone());
        token
    }

    /// Records that `refresh` was issued with `access`: revoking the grant of `access`
    /// kills both.
    pub(crate) fn link(&self, access: &str, refresh: &str) {
        self.lock()
            .grants
            .insert(access.to_owned(), refresh.to_owned());
    }

    /// Revokes the grant of a live access token: it, and the refresh token issued with
    /// it, stop working. `false` when the token is not live.
    pub(crate) fn revoke_grant(&self, access: &str) -> bool {
        let mut state = self.lock();
        if state.failure == FailureMode::Revoked || !state.access.remove(access) {
            return false;
        }
        if let Some(refresh) = state.grants.remove(access) {
            state.refresh_live.remove(&refresh);
        }
        state.revocations += 1;
        true
    }

    /// How many grants were revoked.
    pub(crate) fn revocations(&self) -> usize {
        self.lock().revocations
    }

    /// Accepts a value as a live access token (a personal token or API key).
    pub(crate) fn accept_access(&self, token: &str) {
        self.lock().access.insert(token.to_owned());
    }

    pub(crate) fn revoke_access(&self, token: &str) {
        self.lock().access.remove(token);
    }

    /// Every access token issued so far stops working (it expired at the provider before
    /// the client expected); refresh tokens stay live.
    pub(crate) fn expire_access(&self) {
        self.lock().access.clear();
    }

    pub(crate) fn access_is_live(&self, token: &str) -> bool {
        let state = self.lock();
        state.failure != FailureMode::Revoked && state.access.contains(token)
    }

    /// Whether a refresh token is live, without using it (a provider that does not rotate
    /// them).
    pub(crate) fn refresh_is_live(&self, token: &str) -> bool {
        self.lock().refresh_live.contains(token)
    }

    /// Uses a refresh token once: live ones die (and their holder must use the new one).
    /// A used one presented again is a replay: its whole family is revoked.
    pub(crate) fn use_refresh(&self, token: &str) -> RefreshUse {
        let mut state = self.lock();
        if state.refresh_live.remove(token) {
            state.refresh_used.insert(token.to_owned());
            RefreshUse::Live
        } else if state.refresh_used.contains(token) {
            if let Some(family) = state.family_of.get(token).copied()
                && !state.keep_family_on_refresh_replay
            {
                revoke_family(&mut state, family);
                state.replays += 1;
            }
            RefreshUse::Reused
        } else {
            RefreshUse::Unknown
        }
    }

    pub(crate) fn record(&self, record: TokenRequestRecord) {
        self.lock().requests.push(record);
    }

    pub(crate) fn failure(&self) -> FailureMode {
        self.lock().failure
    }

    pub(crate) fn set_failure(&self, mode: FailureMode) {
        self.lock().failure = mode;
    }

    pub(crate) fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    pub(crate) fn delay(&self) -> Duration {
        self.lock().delay
    }

    pub(crate) fn requests(&self) -> Vec<TokenRequestRecord> {
        self.lock().requests.clone()
    }

    pub(crate) fn count(&self, grant_type: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.grant_type == grant_type)
            .count()
    }

    pub(crate) fn last_refresh(&self) -> Option<String> {
        self.lock().last_refresh.clone()
    }

    pub(crate) fn issued(&self) -> Vec<String> {
        self.lock().issued.clone()
    }

    /// The 503 or 429 answer of the current failure mode, when it is one.
    pub(crate) fn temporary_failure(&self) -> Option<ResponseTemplate> {
        match self.failure() {
            FailureMode::Unavailable => Some(
                ResponseTemplate::new(503)
                    .set_body_raw("<html><body>Service Unavailable</body></html>", "text/html"),
            ),
            FailureMode::RateLimited { retry_after_secs } => Some(
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", retry_after_secs.to_string().as_str())
                    .set_body_raw("rate limited", "text/plain"),
            ),
            _ => None,
        }
    }

    /// Applies the configured delay to an answer.
    pub(crate) fn delayed(&self, response: ResponseTemplate) -> ResponseTemplate {
        let delay = self.delay();
        if delay.is_zero() {
            response
        } else {
            response.set_delay(delay)
        }
    }
}

/// `BASE64URL(SHA256(verifier)) == challenge` (RFC 7636 S256).
pub(crate) fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

/// A form body as a map (a repeated key keeps its first value).
pub(crate) fn form(request: &Request) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(&request.body) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// Whether the request body is form-encoded.
pub(crate) fn is_form(request: &Request) -> bool {
    request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// The client id and secret of an HTTP Basic header (each part URL-decoded, RFC 6749
/// §2.3.1).
pub(crate) fn basic_credentials(request: &Request) -> Option<(String, String)> {
    let value = request.headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

/// The client credentials a token request presented, and how.
pub(crate) fn client_credentials(
    request: &Request,
    form: &BTreeMap<String, String>,
) -> (Option<String>, Option<String>, ClientAuthSeen) {
    if let Some((id, secret)) = basic_credentials(request) {
        if form.contains_key("client_secret") {
            return (Some(id), Some(secret), ClientAuthSeen::Both);
        }
        return (Some(id), Some(secret), ClientAuthSeen::Basic);
    }
    match form.get("client_id") {
        Some(id) => (
            Some(id.clone()),
            form.get("client_secret").cloned(),
            ClientAuthSeen::Body,
        ),
        None => (None, None, ClientAuthSeen::None),
    }
}

/// The token of a request's `Authorization: Bearer <token>` or `Authorization: token
/// <token>`, the two forms GitHub takes (providers.md §3.2).
pub(crate) fn bearer(request: &Request) -> Option<String> {
    let value = request.headers.get("authorization")?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))
        .map(str::to_owned)
}

/// The token of a request's `Authorization: Bearer <token>` only (the scheme is
/// case-insensitive): how Linear and Slack take a token in a header.
pub(crate) fn bearer_only(request: &Request) -> Option<String> {
    let value = request.headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// What the authorize step requires of a URL.
pub(crate) struct AuthorizeRules<'a> {
    /// `scheme://host:port/path` of the authorization endpoint.
    pub(crate) endpoint: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) separator: char,
    /// Scopes the provider knows; others are refused.
    pub(crate) known_scopes: Option<&'a [&'a str]>,
    /// Whether a PKCE challenge is required.
    pub(crate) require_pkce: bool,
}

/// Plays the user consenting to an authorization URL; returns the callback query.
pub(crate) fn consent(
    ledger: &Ledger,
    authorization_url: &str,
    rules: &AuthorizeRules<'_>,
) -> Result<String, String> {
    let url = url::Url::parse(authorization_url)
        .map_err(|_| "the authorization URL is not a URL".to_owned())?;
    let endpoint = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    ) + url.path();
    if endpoint != rules.endpoint {
        return Err(format!(
            "the authorization URL points at {endpoint}, not {}",
            rules.endpoint
        ));
    }
    let mut params = BTreeMap::new();
    for (k, v) in url.query_pairs() {
        if params
            .insert(k.clone().into_owned(), v.into_owned())
            .is_some()
        {
            return Err(format!("the authorization URL repeats {k}"));
        }
    }
    let get = |name: &str| params.get(name).map(String::as_str);
    if get("response_type") != Some("code") {
        return Err("response_type must be code".to_owned());
    }
    let client_id = get("client_id").unwrap_or_default();
    if client_id != rules.client_id && !ledger.is_other_client(client_id) {
        return Err("unknown client_id".to_owned());
    }
    let redirect_uri = get("redirect_uri").ok_or("redirect_uri is missing")?;
    url::Url::parse(redirect_uri).map_err(|_| "redirect_uri is not absolute".to_owned())?;
    let state = get("state")
        .filter(|s| !s.is_empty())
        .ok_or("state is missing")?;
    let scopes: Vec<String> = get("scope")
        .map(|s| {
            s.split(rules.separator)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(known) = rules.known_scopes
        && let Some(unknown) = scopes.iter().find(|s| !known.contains(&s.as_str()))
    {
        return Err(format!("unknown scope {unknown:?}"));
    }
    let challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (Some(challenge), Some("S256")) => Some(challenge.to_owned()),
        (Some(_), _) => return Err("code_challenge_method must be S256".to_owned()),
        (None, _) if rules.require_pkce => {
            return Err("a PKCE code_challenge is required".to_owned());
        }
        (None, _) => None,
    };
    let code = ledger.issue_code(Grant {
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        challenge,
        client_id: client_id.to_owned(),
        issued_at: ledger.now(),
        family: 0,
    });
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", &code)
        .append_pair("state", state)
        .finish();
    Ok(query)
}

/// The callback query of a user who refused, for an authorization URL.
pub(crate) fn refusal(authorization_url: &str) -> String {
    let state = url::Url::parse(authorization_url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default();
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("error", "access_denied")
        .append_pair(
            "error_description",
            "The user has denied your application access.",
        )
        .append_pair("state", &state)
        .finish()
}

/// Checks a code exchange against the code's grant: the redirect URI (which must be sent
/// when `require_redirect_uri`, RFC 6749 §4.1.3, and must match when sent) and the PKCE
/// verifier.
pub(crate) fn check_exchange(
    grant: &Grant,
    form: &BTreeMap<String, String>,
    require_redirect_uri: bool,
) -> Result<(), &'static str> {
    match form.get("redirect_uri") {
        Some(sent) if sent != &grant.redirect_uri => return Err("redirect_uri"),
        None if require_redirect_uri => return Err("redirect_uri"),
        _ => {}
    }
    if let Some(challenge) = &grant.challenge {
        match form.get("code_verifier") {
            Some(verifier) if pkce_matches(verifier, challenge) => {}
            _ => return Err("code_verifier"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_known_answer() {
        // RFC 7636 appendix B.
        assert!(pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "other",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }

    #[test]
    fn fresh_values_are_unique() {
        let a = Ledger::new(1);
        let b = Ledger::new(2);
        let x = a.fresh("t_");
        assert_ne!(x, a.fresh("t_"));
        assert_ne!(x, b.fresh("t_"));
        assert_eq!(x.len(), 2 + 32);
    }
}
