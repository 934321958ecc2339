//! The OAuth mocks speak each provider's protocol, quirks included, whoever calls them.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use integrations_core::host::{HttpClient, HttpResponse, ReqwestHttpClient};
use integrations_testkit::ManualClock;
use integrations_testkit::mock::MockProvider;
use integrations_testkit::mock::api::{
    MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, RefreshEndpoint, Scheme, Tokens,
};
use integrations_testkit::mock::oauth::{
    CODE_TTL, ClientAuthSeen, FailureMode, GitHubMock, LinearMock, SlackMock,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "https://app.test/callback";

fn http() -> Arc<dyn HttpClient> {
    Arc::new(ReqwestHttpClient::new().unwrap())
}

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

fn authorize_url(base: &str, client_id: &str, scope: &str, pkce: bool) -> String {
    let mut url = url::Url::parse(base).unwrap();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("state", "st-1")
            .append_pair("scope", scope);
        if pkce {
            q.append_pair("code_challenge", &challenge())
                .append_pair("code_challenge_method", "S256");
        }
    }
    url.into()
}

fn code_of(query: &str) -> String {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

async fn post(
    http: &Arc<dyn HttpClient>,
    url: &str,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> HttpResponse {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut request = http::Request::post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Bytes::from(body))
        .unwrap();
    for (k, v) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    http.send(request).await.unwrap()
}

fn json(response: &HttpResponse) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}

fn client(mock_config: &Value, secrets: &Value) -> (String, String) {
    (
        mock_config["client_id"].as_str().unwrap().to_owned(),
        secrets["client_secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn github_answers_forms_by_default_and_errors_with_http_200() {
    let mock = GitHubMock::start_oauth_app().await;
    let (id, secret) = client(&mock.target_config(), &mock.target_secrets());
    let http = http();
    let token_url = format!("{}/login/oauth/access_token", mock.uri());
    let authorize = format!("{}/login/oauth/authorize", mock.uri());

    let query = mock
        .authorize(&authorize_url(&authorize, &id, "repo gist", true))
        .unwrap();
    let exchange = |code: String| {
        vec![
            ("client_id".to_owned(), id.clone()),
            ("client_secret".to_owned(), secret.clone()),
            ("code".to_owned(), code),
            ("redirect_uri".to_owned(), REDIRECT.to_owned()),
            ("code_verifier".to_owned(), VERIFIER.to_owned()),
        ]
    };
    let form: Vec<(String, String)> = exchange(code_of(&query));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // No Accept: application/json: form-encoded, scopes comma-separated.
    let r = post(&http, &token_url, &pairs, &[]).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    let body = std::str::from_utf8(r.body()).unwrap();
    assert!(body.starts_with("access_token=gho_"), "{body}");
    assert!(
        body.ends_with("&scope=repo%2Cgist&token_type=bearer"),
        "{body}"
    );

    // The code is single use: the fixture's error, with HTTP 200.
    let r = post(&http, &token_url, &pairs, &[("accept", "application/json")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(&r)["error"], "bad_verification_code");

    // A wrong verifier is refused.
    let query = mock
        .authorize(&authorize_url(&authorize, &id, "repo", true))
        .unwrap();
    let mut form = exchange(code_of(&query));
    form[4].1 = "not-the-verifier-not-the-verifier-not-the-ver".to_owned();
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = post(&http, &token_url, &pairs, &[("accept", "application/json")]).await;
    assert_eq!(json(&r)["error"], "bad_verification_code");

    // Wrong client secret.
    let r = post(
        &http,
        &token_url,
        &[("client_id", &id), ("client_secret", "nope"), ("code", "x")],
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["error"].as_str()),
        (200, Some("incorrect_client_credentials"))
    );
    assert_eq!(mock.code_exchanges(), 4);
}

#[tokio::test]
async fn github_refresh_tokens_are_single_use_and_failures_switch() {
    let mock = GitHubMock::start().await;
    let (id, secret) = client(&mock.target_config(), &mock.target_secrets());
    let http = http();
    let token_url = format!("{}/login/oauth/access_token", mock.uri());
    let query = mock
        .authorize(&authorize_url(
            &format!("{}/login/oauth/authorize", mock.uri()),
            &id,
            "",
            false,
        ))
        .unwrap();
    let accept = [("accept", "application/json")];
    let code = code_of(&query);
    let r = post(
        &http,
        &token_url,
        &[
            ("client_id", &id),
            ("client_secret", &secret),
            ("code", &code),
        ],
        &accept,
    )
    .await;
    let body = json(&r);
    assert_eq!(body["expires_in"], 28_800);
    assert_eq!(body["refresh_token_expires_in"], 15_811_200);
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let grant = [
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let r = post(&http, &token_url, &grant, &accept).await;
    let rotated = json(&r)["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rotated, refresh);
    assert_eq!(mock.last_refresh_token(), Some(rotated));
    let r = post(&http, &token_url, &grant, &accept).await;
    assert_eq!(json(&r)["error"], "bad_refresh_token");
    assert_eq!(mock.refresh_requests(), 2);

    mock.set_failure(FailureMode::RateLimited {
        retry_after_secs: 9,
    });
    let r = post(&http, &token_url, &grant, &accept).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "9");
    mock.set_failure(FailureMode::Unavailable);
    assert_eq!(post(&http, &token_url, &grant, &accept).await.status(), 503);
    assert_eq!(mock.refresh_requests(), 4);
}

#[tokio::test]
async fn linear_checks_pkce_comma_scopes_and_client_credentials() {
    let mock = LinearMock::start().await;
    let (id, secret) = client(&mock.target_config(), &mock.target_secrets());
    let http = http();
    let token_url = format!("{}/oauth/token", mock.uri());
    let authorize = format!("{}/oauth/authorize", mock.uri());
    // Scopes joined with spaces are one unknown scope to Linear; PKCE is required here.
    assert!(
        mock.authorize(&authorize_url(&authorize, &id, "read write", true))
            .is_err()
    );
    assert!(
        mock.authorize(&authorize_url(&authorize, &id, "read,write", false))
            .is_err()
    );

    let query = mock
        .authorize(&authorize_url(&authorize, &id, "read,write", true))
        .unwrap();
    let code = code_of(&query);
    let wrong = [
        ("grant_type", "authorization_code"),
        ("client_id", id.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        (
            "code_verifier",
            "wrong-verifier-wrong-verifier-wrong-verifie",
        ),
    ];
    let r = post(&http, &token_url, &wrong, &[]).await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    mock.use_array_scopes(true);
    let query = mock
        .authorize(&authorize_url(&authorize, &id, "read,write", true))
        .unwrap();
    let code = code_of(&query);
    // A public (PKCE) client may leave the secret out.
    let right = [
        ("grant_type", "authorization_code"),
        ("client_id", id.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let r = post(&http, &token_url, &right, &[]).await;
    assert_eq!(r.status(), 200);
    let body = json(&r);
    assert_eq!(body["scope"], serde_json::json!(["read", "write"]));
    assert_eq!(body["expires_in"], 86_399);
    assert!(
        body["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("lin_refresh_")
    );

    // Client credentials: HTTP Basic accepted; disabled apps get the documented error.
    let basic = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    let cc = [
        ("grant_type", "client_credentials"),
        ("scope", "read,write"),
    ];
    let r = post(&http, &token_url, &cc, &[("authorization", &basic)]).await;
    assert_eq!(json(&r)["expires_in"], 2_591_999);
    mock.enable_client_credentials(false);
    let r = post(&http, &token_url, &cc, &[("authorization", &basic)]).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        std::str::from_utf8(r.body()).unwrap(),
        include_str!("../../src/mock/oauth/fixtures/linear.error.client-credentials-disabled.json")
    );
    assert_eq!(mock.client_credentials_requests(), 2);
}

#[tokio::test]
async fn slack_answers_http_200_with_ok_false() {
    let mock = SlackMock::start().await;
    let (id, secret) = client(&mock.target_config(), &mock.target_secrets());
    let http = http();
    let token_url = format!("{}/api/oauth.v2.access", mock.uri());
    let query = mock
        .authorize(&authorize_url(
            &format!("{}/oauth/v2/authorize", mock.uri()),
            &id,
            "commands",
            false,
        ))
        .unwrap();
    let code = code_of(&query);
    let basic = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    let r = post(
        &http,
        &token_url,
        &[
            ("code", code.as_str()),
            ("redirect_uri", "https://other.test/cb"),
        ],
        &[("authorization", &basic)],
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["error"].as_str()),
        (200, Some("bad_redirect_uri"))
    );
    let query = mock
        .authorize(&authorize_url(
            &format!("{}/oauth/v2/authorize", mock.uri()),
            &id,
            "commands",
            false,
        ))
        .unwrap();
    let code = code_of(&query);
    let bad = format!("Basic {}", STANDARD.encode(format!("{id}:wrong")));
    let r = post(
        &http,
        &token_url,
        &[("code", code.as_str())],
        &[("authorization", &bad)],
    )
    .await;
    assert_eq!(
        json(&r),
        serde_json::json!({"ok": false, "error": "bad_client_secret"})
    );
    let r = post(
        &http,
        &token_url,
        &[("code", code.as_str()), ("redirect_uri", REDIRECT)],
        &[("authorization", &basic)],
    )
    .await;
    let body = json(&r);
    assert_eq!(body["ok"], true);
    assert_eq!(body["team"]["id"], mock.team_id());
    assert_eq!(body["token_type"], "bot");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let grant = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    assert_eq!(
        json(&post(&http, &token_url, &grant, &[("authorization", &basic)]).await)["ok"],
        true
    );
    let r = post(&http, &token_url, &grant, &[("authorization", &basic)]).await;
    assert_eq!(
        json(&r),
        serde_json::json!({"ok": false, "error": "invalid_refresh_token"})
    );
}

#[tokio::test]
async fn a_request_nobody_expected_fails_readably() {
    let mock = SlackMock::start().await;
    let r = http()
        .send(
            http::Request::get(format!("{}/api/users.list?token=xoxb-secret", mock.uri()))
                .body(Bytes::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 599);
    assert_eq!(
        mock.provider().unexpected_requests(),
        ["GET /api/users.list?token"]
    );
    let message = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        mock.provider().assert_no_unexpected();
    }))
    .unwrap_err();
    let text = message.downcast_ref::<String>().unwrap();
    assert!(text.contains("GET /api/users.list"));
    assert!(!text.contains("xoxb-secret"));
    std::mem::forget(mock);
}

/// A Linear code exchange as a client would send it.
fn linear_exchange<'a>(id: &'a str, secret: &'a str, code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", id),
        ("client_secret", secret),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]
}

#[tokio::test]
async fn an_exchange_without_its_redirect_uri_is_refused_where_the_provider_requires_it() {
    let http = http();
    // Linear and Slack: the authorization request carried a redirect_uri, so the token
    // request must repeat it (RFC 6749 §4.1.3). A client that leaves it out is caught.
    let linear = LinearMock::start().await;
    let (id, secret) = client(&linear.target_config(), &linear.target_secrets());
    let query = linear
        .authorize(&authorize_url(
            &format!("{}/oauth/authorize", linear.uri()),
            &id,
            "read",
            true,
        ))
        .unwrap();
    let code = code_of(&query);
    let mut form = linear_exchange(&id, &secret, &code);
    form.retain(|(k, _)| *k != "redirect_uri");
    let r = post(&http, &format!("{}/oauth/token", linear.uri()), &form, &[]).await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let slack = SlackMock::start().await;
    let (id, secret) = client(&slack.target_config(), &slack.target_secrets());
    let query = slack
        .authorize(&authorize_url(
            &format!("{}/oauth/v2/authorize", slack.uri()),
            &id,
            "commands",
            false,
        ))
        .unwrap();
    let basic = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    let r = post(
        &http,
        &format!("{}/api/oauth.v2.access", slack.uri()),
        &[("code", code_of(&query).as_str())],
        &[("authorization", &basic)],
    )
    .await;
    assert_eq!(
        json(&r),
        serde_json::json!({"ok": false, "error": "bad_redirect_uri"})
    );

    // GitHub documents redirect_uri as optional in the token request.
    let github = GitHubMock::start_oauth_app().await;
    let (id, secret) = client(&github.target_config(), &github.target_secrets());
    let query = github
        .authorize(&authorize_url(
            &format!("{}/login/oauth/authorize", github.uri()),
            &id,
            "repo",
            false,
        ))
        .unwrap();
    let r = post(
        &http,
        &format!("{}/login/oauth/access_token", github.uri()),
        &[
            ("client_id", &id),
            ("client_secret", &secret),
            ("code", &code_of(&query)),
        ],
        &[("accept", "application/json")],
    )
    .await;
    assert!(json(&r)["access_token"].is_string());
}

#[tokio::test]
async fn codes_expire_after_ten_minutes_and_belong_to_their_client() {
    let http = http();
    let clock = Arc::new(ManualClock::at_unix_seconds(1_750_000_000));
    let mock = LinearMock::start().await;
    mock.set_clock(clock.clone());
    mock.register_client("lin_client_other", "other-client-secret-0b7e");
    let (id, secret) = client(&mock.target_config(), &mock.target_secrets());
    let authorize = format!("{}/oauth/authorize", mock.uri());
    let token_url = format!("{}/oauth/token", mock.uri());

    // A code older than ten minutes is refused...
    let code = code_of(
        &mock
            .authorize(&authorize_url(&authorize, &id, "read", true))
            .unwrap(),
    );
    clock.advance(CODE_TTL);
    let r = post(
        &http,
        &token_url,
        &linear_exchange(&id, &secret, &code),
        &[],
    )
    .await;
    assert_eq!(json(&r)["error"], "invalid_grant");

    // ...and so is a code issued to another client, though that client authenticates.
    let code = code_of(
        &mock
            .authorize(&authorize_url(&authorize, &id, "read", true))
            .unwrap(),
    );
    let r = post(
        &http,
        &token_url,
        &linear_exchange("lin_client_other", "other-client-secret-0b7e", &code),
        &[],
    )
    .await;
    assert_eq!(json(&r)["error"], "invalid_grant");

    // A fresh code of this client still works.
    let code = code_of(
        &mock
            .authorize(&authorize_url(&authorize, &id, "read", true))
            .unwrap(),
    );
    clock.advance(std::time::Duration::from_secs(599));
    let r = post(
        &http,
        &token_url,
        &linear_exchange(&id, &secret, &code),
        &[],
    )
    .await;
    assert!(json(&r)["access_token"].is_string());
}

#[tokio::test]
async fn client_authentication_is_enforced_not_only_recorded() {
    let http = http();
    // GitHub: the documented client_id/client_secret parameters; HTTP Basic is refused.
    let github = GitHubMock::start_oauth_app().await;
    let (id, secret) = client(&github.target_config(), &github.target_secrets());
    let query = github
        .authorize(&authorize_url(
            &format!("{}/login/oauth/authorize", github.uri()),
            &id,
            "repo",
            false,
        ))
        .unwrap();
    let basic = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    let r = post(
        &http,
        &format!("{}/login/oauth/access_token", github.uri()),
        &[("code", &code_of(&query))],
        &[("accept", "application/json"), ("authorization", &basic)],
    )
    .await;
    assert_eq!(json(&r)["error"], "incorrect_client_credentials");

    // Linear takes either method, never both at once (RFC 6749 §2.3)...
    let linear = LinearMock::start().await;
    let (id, secret) = client(&linear.target_config(), &linear.target_secrets());
    let token_url = format!("{}/oauth/token", linear.uri());
    let basic = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    let cc = [
        ("grant_type", "client_credentials"),
        ("scope", "read"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let r = post(&http, &token_url, &cc, &[("authorization", &basic)]).await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // ...and only the registered one when the client is registered for one.
    linear.require_client_auth(Some(ClientAuthSeen::Basic));
    let r = post(&http, &token_url, &cc, &[]).await;
    assert_eq!(r.status(), 401);
    let r = post(&http, &token_url, &cc[..2], &[("authorization", &basic)]).await;
    assert_eq!(r.status(), 200);
    let seen: Vec<ClientAuthSeen> = linear
        .token_requests()
        .iter()
        .map(|r| r.client_auth)
        .collect();
    assert_eq!(
        seen,
        [
            ClientAuthSeen::Both,
            ClientAuthSeen::Body,
            ClientAuthSeen::Basic
        ]
    );
}

#[tokio::test]
async fn a_replayed_refresh_token_or_code_revokes_the_whole_family() {
    let http = http();
    let mock = LinearMock::start().await;
    let (id, secret) = client(&mock.target_config(), &mock.target_secrets());
    let token_url = format!("{}/oauth/token", mock.uri());
    let code = code_of(
        &mock
            .authorize(&authorize_url(
                &format!("{}/oauth/authorize", mock.uri()),
                &id,
                "read",
                true,
            ))
            .unwrap(),
    );
    let first = json(
        &post(
            &http,
            &token_url,
            &linear_exchange(&id, &secret, &code),
            &[],
        )
        .await,
    );
    let refresh = |token: &str| {
        vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("client_id".to_owned(), id.clone()),
            ("client_secret".to_owned(), secret.clone()),
            ("refresh_token".to_owned(), token.to_owned()),
        ]
    };
    let pairs = |form: &[(String, String)]| -> Vec<(String, String)> { form.to_vec() };
    let send = |form: Vec<(String, String)>| {
        let http = Arc::clone(&http);
        let token_url = token_url.clone();
        async move {
            let pairs: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            json(&post(&http, &token_url, &pairs, &[]).await)
        }
    };
    let old_refresh = first["refresh_token"].as_str().unwrap().to_owned();
    let second = send(pairs(&refresh(&old_refresh))).await;
    let new_access = second["access_token"].as_str().unwrap().to_owned();
    let new_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert!(mock.access_is_live(&new_access));

    // The rotated token comes back: a copy exists, so everything of the grant dies.
    let replay = send(pairs(&refresh(&old_refresh))).await;
    assert_eq!(replay["error"], "invalid_grant");
    assert!(
        !mock.access_is_live(&new_access),
        "the family's access token died"
    );
    let after = send(pairs(&refresh(&new_refresh))).await;
    assert_eq!(after["error"], "invalid_grant", "so did its refresh token");
    assert_eq!(mock.replays(), 1);

    // A code exchanged twice revokes what its first exchange issued, where the provider
    // does (RFC 6749 §4.1.2).
    mock.revoke_on_code_replay(true);
    let code = code_of(
        &mock
            .authorize(&authorize_url(
                &format!("{}/oauth/authorize", mock.uri()),
                &id,
                "read",
                true,
            ))
            .unwrap(),
    );
    let issued = json(
        &post(
            &http,
            &token_url,
            &linear_exchange(&id, &secret, &code),
            &[],
        )
        .await,
    );
    let access = issued["access_token"].as_str().unwrap();
    assert!(mock.access_is_live(access));
    let again = json(
        &post(
            &http,
            &token_url,
            &linear_exchange(&id, &secret, &code),
            &[],
        )
        .await,
    );
    assert_eq!(again["error"], "invalid_grant");
    assert!(!mock.access_is_live(access));
    assert_eq!(mock.replays(), 2);
}

#[tokio::test]
async fn the_api_refresh_endpoint_authenticates_its_client_and_revokes_replayed_families() {
    let provider = MockProvider::start().await;
    let tokens = Tokens::new();
    let endpoint = RefreshEndpoint::mount(
        &provider,
        "/oauth/token",
        tokens.clone(),
        Scheme::Bearer,
        "refresh-0",
        "api",
    )
    .await;
    let http = http();
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{MOCK_CLIENT_ID}:{MOCK_CLIENT_SECRET}"))
    );
    let grant = |token: &'static str| [("grant_type", "refresh_token"), ("refresh_token", token)];
    // No client authentication, a wrong secret, or two methods at once: refused.
    let r = post(&http, endpoint.url(), &grant("refresh-0"), &[]).await;
    assert_eq!(r.status(), 401);
    let wrong = format!(
        "Basic {}",
        STANDARD.encode(format!("{MOCK_CLIENT_ID}:nope"))
    );
    let r = post(
        &http,
        endpoint.url(),
        &grant("refresh-0"),
        &[("authorization", &wrong)],
    )
    .await;
    assert_eq!(r.status(), 401);
    let mut both = grant("refresh-0").to_vec();
    both.push(("client_secret", MOCK_CLIENT_SECRET));
    let r = post(&http, endpoint.url(), &both, &[("authorization", &basic)]).await;
    assert_eq!(json(&r)["error"], "invalid_request");
    assert_eq!(endpoint.issued(), 0);

    let r = post(
        &http,
        endpoint.url(),
        &grant("refresh-0"),
        &[("authorization", &basic)],
    )
    .await;
    let access = json(&r)["access_token"].as_str().unwrap().to_owned();
    assert!(tokens.accepts(Some(&format!("Bearer {access}"))));
    // Replaying the rotated token revokes the family.
    let r = post(
        &http,
        endpoint.url(),
        &grant("refresh-0"),
        &[("authorization", &basic)],
    )
    .await;
    assert_eq!(json(&r)["error"], "invalid_grant");
    assert!(endpoint.family_revoked());
    assert!(!tokens.accepts(Some(&format!("Bearer {access}"))));
    let current = endpoint.current_refresh_token();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", current.as_str()),
    ];
    let r = post(&http, endpoint.url(), &form, &[("authorization", &basic)]).await;
    assert_eq!(json(&r)["error"], "invalid_grant");
}
