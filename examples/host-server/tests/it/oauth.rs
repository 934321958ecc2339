//! OAuth over HTTP: the start route follows a link the application signed and
//! redirects to the provider, the test plays the user at the mock provider, and the
//! callback route completes the connection, its token exchange going over loopback
//! through the real `ReqwestHttpClient`. Links that are unsigned, changed or expired
//! store nothing.

use std::sync::Arc;

use integrations::core::auth::{DEFAULT_STATE_TTL, TokenManager};
use integrations::core::host::{ConnectionStore, ReqwestHttpClient};
use integrations::core::model::{ConnectionStatus, CredentialType};
use integrations_testkit::mock::oauth::{GitHubMock, LinearMock};
use integrations_testkit::{TEST_KEY_ID, TestHost};
use serde_json::json;

use super::*;

const LINEAR: &str = "linear::linear-default";
const GITHUB: &str = "github::github-cloud";

/// The signed start link connecting the Linear target as alice.
fn linear_start(server: &Server) -> String {
    start_path(&server.app, LINEAR, "linear", "oauth2", Some("alice"))
}

/// A host whose HTTP client is the real one: token exchanges and identity calls go over
/// loopback to the mocks.
fn online_host() -> TestHost {
    TestHost::with_http(Arc::new(ReqwestHttpClient::new().unwrap()))
}

async fn linear_server() -> (LinearMock, Server) {
    let mock = LinearMock::start().await;
    let server = Server::start(online_host()).await;
    server
        .put_target(
            "linear",
            LINEAR,
            mock.target_config(),
            mock.target_secrets(),
        )
        .await;
    (mock, server)
}

#[tokio::test]
async fn a_linear_connection_is_completed_over_http() {
    let (mock, server) = linear_server().await;

    // 1. The browser asks to connect Linear and is sent to Linear's consent page, with
    //    this server's callback as the redirect URI and a session cookie saying who asked.
    let start = server.get(&linear_start(&server), None).await;
    assert_eq!(start.status, 302, "{}", start.text());
    let location = start.header("location").to_owned();
    assert!(
        location.starts_with(&format!("{}/oauth/authorize?", mock.uri())),
        "{location}"
    );
    assert_eq!(
        param(&location, "redirect_uri"),
        Some(server.url("/oauth/callback"))
    );
    assert_eq!(
        param(&location, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(start.header("cache-control"), "no-store");
    let cookie = start.session_cookie();
    assert_eq!(server.test.store.pending_oauth_states(), 1);

    // 2. The user consents at Linear (the mock records the PKCE challenge), and Linear
    //    redirects the browser back with a one-time code and the state.
    let query = mock.authorize(&location).unwrap();

    // 3. The callback completes the connection: the code is exchanged over loopback.
    let callback = format!("/oauth/callback?{query}");
    let done = server.get(&callback, Some(&cookie)).await;
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(done.header("cache-control"), "no-store");
    let body = done.json();
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    assert_eq!(
        (body["key"].as_str(), body["status"].as_str()),
        (Some(LINEAR), Some("active"))
    );
    let id = ConnectionId::new(body["connection"].as_str().unwrap()).unwrap();

    // The connection is stored active, named after the Linear organization (what its
    // webhooks are routed by).
    let connection = server
        .test
        .store
        .get_connection(&tenant(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(connection.status, ConnectionStatus::Active);
    assert_eq!(connection.method.as_str(), "oauth2");
    assert_eq!(
        connection.external_subject.as_deref(),
        Some(mock.organization_id())
    );

    // Its tokens are stored sealed: ciphertext under the host's key, never the token.
    let issued = mock.issued_secrets();
    assert_eq!(issued.len(), 2, "an access and a refresh token");
    let stored = server.test.store.raw_credentials(&tenant(), &id).unwrap();
    let mut types: Vec<&str> = stored
        .credentials
        .iter()
        .map(|c| c.credential_type.as_str())
        .collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            CredentialType::OAUTH2_ACCESS_TOKEN.as_str(),
            CredentialType::OAUTH2_REFRESH_TOKEN.as_str()
        ]
    );
    for credential in &stored.credentials {
        assert_eq!(credential.value.key_id(), TEST_KEY_ID);
        for token in &issued {
            let ciphertext = credential.value.ciphertext();
            assert!(
                !ciphertext
                    .windows(token.len())
                    .any(|w| w == token.as_bytes()),
                "a token is stored in clear"
            );
        }
    }
    // ... and they open to the token Linear issued.
    let tokens = TokenManager::new(server.app.registry().clone(), server.test.host().clone());
    let token = tokens.access_token(&connection).await.unwrap();
    assert_eq!(token.value.expose(), issued[0]);

    // Linear saw exactly one code exchange, with a PKCE verifier; the mock answers
    // `invalid_grant` unless the verifier hashes to the challenge it recorded, so the
    // stored tokens prove the verifier was the right one.
    assert_eq!(mock.code_exchanges(), 1);
    let requests = mock.token_requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].code_verifier);

    // 4. The same callback again (a replay, a double click): refused, nothing stored.
    let records = server.test.store.record_count();
    let replay = server.get(&callback, Some(&cookie)).await;
    assert_eq!(replay.status, 401);
    assert_eq!(replay.code(), "oauth.unknown_state");
    assert_eq!(server.test.store.record_count(), records);
    assert_eq!(mock.code_exchanges(), 1);

    // No answer carried a token or the client secret.
    let mut secrets = issued;
    secrets.push(mock.client_secret().to_owned());
    for answer in [&start, &done, &replay] {
        answer.assert_free_of(&secrets);
    }
    server.stop().await;
}

#[tokio::test]
async fn the_callback_must_return_to_the_session_that_started_it() {
    let (mock, server) = linear_server().await;
    let start = server.get(&linear_start(&server), None).await;
    let cookie = start.session_cookie();
    let callback = format!(
        "/oauth/callback?{}",
        mock.authorize(start.header("location")).unwrap()
    );
    let records = server.test.store.record_count();

    // Without the session, the callback cannot say who it is for: refused, and the
    // authorization is still pending for the right browser.
    let anonymous = server.get(&callback, None).await;
    assert_eq!(
        (anonymous.status, anonymous.code().as_str()),
        (401, "host_server.no_session")
    );
    assert_eq!(server.test.store.pending_oauth_states(), 1);

    // In another tenant's session (an attacker's link opened by a victim): refused, and
    // the state is spent.
    let foreign = format!("{SESSION_COOKIE}=tenant=mallory&user=alice");
    let mismatch = server.get(&callback, Some(&foreign)).await;
    assert_eq!(
        (mismatch.status, mismatch.code().as_str()),
        (401, "oauth.state_mismatch")
    );
    let late = server.get(&callback, Some(&cookie)).await;
    assert_eq!(
        (late.status, late.code().as_str()),
        (401, "oauth.unknown_state")
    );

    // A user who declines at Linear: Linear redirects with `error=access_denied`.
    let start = server.get(&linear_start(&server), None).await;
    let declined = mock.deny(start.header("location"));
    let refused = server
        .get(
            &format!("/oauth/callback?{declined}"),
            Some(&start.session_cookie()),
        )
        .await;
    // A declined authorization: the catalogue's `oauth.access_denied` (the provider's
    // other callback errors are `oauth.authorization_failed`, 502), answered 403.
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (403, "oauth.access_denied")
    );

    assert_eq!(mock.code_exchanges(), 0);
    assert_eq!(server.test.store.pending_oauth_states(), 0);
    assert_eq!(server.test.store.record_count(), records - 1);
    server.stop().await;
}

#[tokio::test]
async fn bad_start_requests_are_refused_with_stable_codes() {
    let server = Server::start(TestHost::new()).await;
    server
        .put_target(
            "linear",
            LINEAR,
            json!({"client_id": "lin_client_1"}),
            json!({}),
        )
        .await;

    let missing = server
        .get("/oauth/linear/linear-default/start?target=linear", None)
        .await;
    // (Parameters are read before the signature is checked: a link missing them is not
    // a link at all.)
    assert_eq!(
        (missing.status, missing.code().as_str()),
        (400, "host_server.invalid_query")
    );
    let paths: Vec<String> = missing.json()["error"]["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, ["/tenant", "/method"]);

    // Every link below is signed: what is refused is what it says.
    let link = |key, target, method| start_path(&server.app, key, target, method, None);
    let signed = link(LINEAR, "linear", "oauth2");
    let query = signed.split_once('?').unwrap().1;
    for (path, status, code) in [
        (
            format!("/oauth/nothing/nowhere/start?{query}"),
            404,
            "host_server.unknown_route",
        ),
        (
            format!("/oauth/Linear/linear-default/start?{query}"),
            404,
            "host_server.unknown_route",
        ),
        // A GitHub link for the Linear target.
        (
            link(GITHUB, "linear", "oauth2"),
            404,
            "host_server.target_mismatch",
        ),
        (
            link(LINEAR, "missing", "oauth2"),
            404,
            "auth.target_not_found",
        ),
        (
            link(LINEAR, "linear", "api-key"),
            400,
            "auth.method_not_redirect",
        ),
        (
            "/oauth/elsewhere".to_owned(),
            404,
            "host_server.unknown_route",
        ),
    ] {
        let answer = server.get(&path, None).await;
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (status, code),
            "{path}"
        );
        assert!(answer.headers.get("set-cookie").is_none(), "{path}");
    }
    assert_eq!(server.test.store.pending_oauth_states(), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_github_app_installation_is_completed_over_http() {
    let test = online_host();
    // The mock judges the App's JWTs by the host's clock.
    let mock = GitHubMock::start()
        .await
        .with_clock(test.clock.clone() as Arc<dyn Clock>);
    let server = Server::start(test).await;
    server
        .put_target(
            "github",
            GITHUB,
            mock.target_config(),
            mock.target_secrets(),
        )
        .await;

    // The start route sends the browser to the App's installation page.
    let start = server
        .get(
            &start_path(
                &server.app,
                GITHUB,
                "github",
                "github-app-installation",
                None,
            ),
            None,
        )
        .await;
    assert_eq!(start.status, 302, "{}", start.text());
    let location = start.header("location");
    assert!(
        location.starts_with(&format!(
            "{}/apps/acme-agent/installations/new?state=",
            mock.uri()
        )),
        "{location}"
    );

    // GitHub redirects back to the App's setup URL (this callback) with the installation.
    let query = mock.install(location).unwrap();
    assert!(query.contains("setup_action=install"));
    let callback = format!("/oauth/callback?{query}");
    let done = server.get(&callback, Some(&start.session_cookie())).await;
    assert_eq!(done.status, 200, "{}", done.text());
    let id = ConnectionId::new(done.json()["connection"].as_str().unwrap()).unwrap();
    let connection = server
        .test
        .store
        .get_connection(&tenant(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(connection.method.as_str(), "github-app-installation");
    assert_eq!(
        connection.external_subject,
        Some(mock.installation_id().to_string())
    );
    assert_eq!(connection.status, ConnectionStatus::Active);

    let replay = server.get(&callback, Some(&start.session_cookie())).await;
    assert_eq!(
        (replay.status, replay.code().as_str()),
        (401, "oauth.unknown_state")
    );
    for answer in [&start, &done, &replay] {
        answer.assert_free_of(&[mock.client_secret().to_owned()]);
    }
    server.stop().await;
}

/// Refused at the start route: `401` with `code`, and nothing stored, set or redirected.
async fn refused(server: &Server, path: &str, code: &str, secrets: &[String]) {
    let records = server.test.store.record_count();
    let answer = server.get(path, None).await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (401, code),
        "{path}: {}",
        answer.text()
    );
    assert!(answer.headers.get("set-cookie").is_none(), "{path}");
    assert!(answer.headers.get("location").is_none(), "{path}");
    answer.assert_free_of(secrets);
    assert_eq!(server.test.store.pending_oauth_states(), 0, "{path}");
    assert_eq!(server.test.store.record_count(), records, "{path}");
}

/// A link with its `name` parameter's value replaced.
fn with_param(path: &str, name: &str, value: &str) -> String {
    let (route, query) = path.split_once('?').unwrap();
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.clone(), if k == name { value.into() } else { v })),
        )
        .finish();
    format!("{route}?{query}")
}

#[tokio::test]
async fn start_links_that_are_unsigned_changed_or_expired_store_nothing() {
    let (mock, server) = linear_server().await;
    let signed = linear_start(&server);
    let sig = param(&server.url(&signed), "sig").unwrap();

    // The attack: a link naming the attacker's tenant, sent to a victim. Unsigned, as
    // start URLs used to be.
    refused(
        &server,
        "/oauth/linear/linear-default/start?tenant=mallory&target=linear&method=oauth2",
        "host_server.invalid_start_link",
        &[],
    )
    .await;
    // A link the application signed, with its tenant (or user, or target) changed. The
    // answer never shows the signature the changed link would need.
    let theirs = server.app.start_link(
        &LINEAR.parse().unwrap(),
        &TenantId::new("mallory").unwrap(),
        &TargetId::new("linear").unwrap(),
        &"oauth2".parse().unwrap(),
        Some(&UserId::new("alice").unwrap()),
    );
    let expected = param(&theirs, "sig").unwrap();
    assert_ne!(expected, sig);
    for (name, value) in [
        ("tenant", "mallory"),
        ("user", "mallory"),
        ("target", "github"),
        ("expires", "99999999999"),
        ("sig", &"0".repeat(64)),
        ("sig", "not-hex"),
    ] {
        refused(
            &server,
            &with_param(&signed, name, value),
            "host_server.invalid_start_link",
            &[sig.clone(), expected.clone()],
        )
        .await;
    }
    // Without its user, or its signature.
    let without = |name: &str| {
        let (route, query) = signed.split_once('?').unwrap();
        let query: Vec<&str> = query
            .split('&')
            .filter(|p| !p.starts_with(&format!("{name}=")))
            .collect();
        format!("{route}?{}", query.join("&"))
    };
    for name in ["user", "sig", "expires"] {
        refused(
            &server,
            &without(name),
            "host_server.invalid_start_link",
            &[],
        )
        .await;
    }
    // Signed by another application (its own random key).
    let other = App::new(
        server.app.registry().clone(),
        server.test.host().clone(),
        &server.base,
    )
    .unwrap();
    refused(
        &server,
        &start_path(&other, LINEAR, "linear", "oauth2", Some("alice")),
        "host_server.invalid_start_link",
        &[],
    )
    .await;

    // The signed link is good until it expires ...
    server
        .test
        .clock
        .advance(DEFAULT_STATE_TTL.saturating_sub(Duration::from_secs(1)));
    let start = server.get(&signed, None).await;
    assert_eq!(start.status, 302, "{}", start.text());
    assert!(mock.authorize(start.header("location")).is_ok());
    // ... and not after.
    server.test.clock.advance(Duration::from_secs(1));
    let records = server.test.store.record_count();
    let late = server.get(&signed, None).await;
    assert_eq!(
        (late.status, late.code().as_str()),
        (401, "host_server.start_link_expired")
    );
    assert!(late.headers.get("set-cookie").is_none());
    assert_eq!(
        server.test.store.pending_oauth_states(),
        1,
        "the first start"
    );
    assert_eq!(server.test.store.record_count(), records);
    server.stop().await;
}

#[tokio::test]
async fn applications_sharing_a_link_key_follow_each_others_links() {
    const KEY: [u8; 32] = [42; 32];
    let mock = LinearMock::start().await;
    let server = Server::start_with(online_host(), |app| app.with_link_key(KEY)).await;
    server
        .put_target(
            "linear",
            LINEAR,
            mock.target_config(),
            mock.target_secrets(),
        )
        .await;
    // Another instance on the same stores, behind the same public base.
    let sibling = App::new(
        server.app.registry().clone(),
        server.test.host().clone(),
        &server.base,
    )
    .unwrap();
    let path = |app: &App| start_path(app, LINEAR, "linear", "oauth2", None);

    let answer = server
        .get(&path(&sibling.clone().with_link_key(KEY)), None)
        .await;
    assert_eq!(answer.status, 302, "{}", answer.text());
    let answer = server
        .get(&path(&sibling.with_link_key([43; 32])), None)
        .await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (401, "host_server.invalid_start_link")
    );
    server.stop().await;
}
