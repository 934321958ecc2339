//! Webhooks over HTTP: deliveries signed as the provider signs them, posted with their
//! exact bytes, verified and recorded once by the ingest pipeline behind the route.

use integrations::definitions::github::GitHub;
use integrations::definitions::slack::Slack;
use integrations_testkit::{Delivery, TestHost, WebhookSigner};
use serde_json::json;

use super::*;

const GITHUB: &str = "github::github-cloud";
const SLACK: &str = "slack::slack-default";
const GITHUB_SECRET: &str = "host-server-github-webhook-secret";
const SLACK_SECRET: &str = "host-server-slack-signing-secret";
const PUSH: &str = "github/push.with-installation.payload.json";
const GITHUB_ROUTE: &str = "/webhooks/github/github-cloud";

/// A GitHub target with a webhook secret, and a connection for installation `1`: the
/// installation the fixture's payload names, which routes the delivery.
async fn github_server(configure: impl FnOnce(App) -> App) -> Server {
    // Webhooks make no outbound call: the offline host proves it.
    let server = Server::start_with(TestHost::new(), configure).await;
    server
        .put_target(
            "github",
            GITHUB,
            json!({}),
            json!({"webhook_secret": GITHUB_SECRET}),
        )
        .await;
    server
        .put_connection(
            "gh-installation-1",
            "github",
            ("token", "ghp_example"),
            Some("1"),
            None,
        )
        .await;
    server
}

fn github_signer() -> WebhookSigner {
    WebhookSigner::for_definition(&GitHub::cloud(), GITHUB_SECRET)
        .unwrap()
        .with_header("user-agent", "GitHub-Hookshot/044aadd")
}

#[tokio::test]
async fn a_github_delivery_reaches_the_sink_once() {
    let server = github_server(|app| app).await;
    let body = fixture(PUSH);
    let delivery_id = "5f0a7d50-3b1e-11f0-8e2b-2f1c2c6b5a01";
    let signed = github_signer()
        .sign(
            &Delivery::new(&body, server.now())
                .with_id(delivery_id)
                .with_event("push"),
        )
        .unwrap();

    let first = server.post(GITHUB_ROUTE, &signed).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["outcome"], "delivered");
    let events = server.test.events.events();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.event_type.as_str(), "github.push.pushed");
    assert_eq!(event.connection.as_str(), "gh-installation-1");
    assert_eq!(event.tenant, tenant());
    assert_eq!(event.external_event_id, delivery_id);
    // The payload reached the sink as it was sent.
    assert_eq!(
        serde_json::from_str::<Value>(event.payload.get()).unwrap(),
        serde_json::from_slice::<Value>(&body).unwrap()
    );

    // GitHub redelivers (a timeout on its side, a manual redelivery): answered 2xx so it
    // stops, and not delivered again.
    let again = server.post(GITHUB_ROUTE, &signed).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["outcome"], "duplicate");
    assert_eq!(server.test.events.events().len(), 1);

    // The body changed after signing: refused before anything is recorded.
    let text = String::from_utf8(body.clone()).unwrap();
    let tampered = signed
        .clone()
        .with_body(text.replace("refs/tags/simple-tag", "refs/tags/simple-taG"));
    let refused = server.post(GITHUB_ROUTE, &tampered).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.code(), "webhook.signature_mismatch");
    // A new delivery id does not help a forgery either.
    let forged = tampered.with_header("x-github-delivery", "6a1b8e61-3b1e-11f0-8e2b-2f1c2c6b5a02");
    let refused_again = server.post(GITHUB_ROUTE, &forged).await;
    assert_eq!(refused_again.code(), "webhook.signature_mismatch");
    assert_eq!(server.test.events.events().len(), 1);
    assert_eq!(server.test.store.recorded_events().len(), 1);

    for answer in [&first, &again, &refused, &refused_again] {
        answer.assert_free_of(&[GITHUB_SECRET.to_owned()]);
    }
    server.stop().await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_the_ingest_code() {
    const LIMIT: usize = 8 * 1024;
    let server = github_server(|app| app.with_max_body_bytes(LIMIT)).await;
    let signer = github_signer();
    let body = fixture(PUSH);
    assert!(body.len() <= LIMIT);

    // Under the limit: delivered.
    let fits = signer
        .sign(
            &Delivery::new(&body, server.now())
                .with_id("under-1")
                .with_event("push"),
        )
        .unwrap();
    assert_eq!(server.post(GITHUB_ROUTE, &fits).await.status, 200);

    // One byte over, and far over (JSON padded with whitespace, correctly signed): the
    // router stops reading at the limit and answers as the pipeline does.
    for (id, size) in [("over-1", LIMIT + 1), ("over-2", 4 * LIMIT)] {
        let mut padded = body.clone();
        padded.resize(size, b' ');
        let oversized = signer
            .sign(
                &Delivery::new(&padded, server.now())
                    .with_id(id)
                    .with_event("push"),
            )
            .unwrap();
        let answer = server.post(GITHUB_ROUTE, &oversized).await;
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (413, "webhook.body_too_large")
        );
    }
    assert_eq!(server.test.events.events().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn bodies_under_the_ingest_limit_are_read_whole() {
    // axum refuses bodies over 2 MiB unless told otherwise; GitHub sends up to 25 MiB, so
    // the router must take the ingest's limit, not axum's.
    let server = github_server(|app| app).await;
    let mut body = fixture(PUSH);
    body.resize(3 * 1024 * 1024, b' ');
    let signed = github_signer()
        .sign(
            &Delivery::new(&body, server.now())
                .with_id("large-1")
                .with_event("push"),
        )
        .unwrap();
    let answer = server.post(GITHUB_ROUTE, &signed).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(server.test.events.events().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn unknown_webhook_routes_are_refused() {
    let server = github_server(|app| app).await;
    let signed = github_signer()
        .sign(
            &Delivery::new(b"{}", server.now())
                .with_id("x-1")
                .with_event("ping"),
        )
        .unwrap();
    for (path, code) in [
        ("/webhooks/nothing/nowhere", "webhook.unknown_definition"),
        (
            "/webhooks/github/github-cloud/not.a.key",
            "webhook.invalid_route",
        ),
        ("/webhooks/github", "host_server.unknown_route"),
    ] {
        let answer = server.post(path, &signed).await;
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (404, code),
            "{path}"
        );
    }
    assert!(server.test.events.events().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_slack_challenge_is_echoed_only_when_signed() {
    let server = Server::start(TestHost::new()).await;
    server
        .put_target(
            "slack",
            SLACK,
            json!({}),
            json!({"signing_secret": SLACK_SECRET}),
        )
        .await;
    // `url_verification` names no team: it is routed by the endpoint key in its URL.
    server
        .put_connection(
            "slack-acme",
            "slack",
            ("bot_token", "xoxb-example"),
            None,
            Some("ep-slack-acme"),
        )
        .await;
    let route = "/webhooks/slack/slack-default/ep-slack-acme";
    let body = fixture("slack/url_verification.docs-example.json");
    let challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";

    // Signed with another secret: refused, the challenge not echoed, Slack told not to
    // retry.
    let forged = WebhookSigner::for_definition(&Slack::new(), "not-the-signing-secret")
        .unwrap()
        .sign(&Delivery::new(&body, server.now()))
        .unwrap();
    let refused = server.post(route, &forged).await;
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (401, "webhook.signature_mismatch")
    );
    assert!(!refused.text().contains(challenge));
    assert_eq!(refused.header("x-slack-no-retry"), "1");

    // Signed with the app's signing secret: the challenge comes back as plain text.
    let signed = WebhookSigner::for_definition(&Slack::new(), SLACK_SECRET)
        .unwrap()
        .sign(&Delivery::new(&body, server.now()))
        .unwrap();
    let answered = server.post(route, &signed).await;
    assert_eq!(answered.status, 200, "{}", answered.text());
    assert_eq!(answered.text(), challenge);
    assert!(answered.header("content-type").starts_with("text/plain"));

    assert!(server.test.events.events().is_empty());
    for answer in [&refused, &answered] {
        answer.assert_free_of(&[SLACK_SECRET.to_owned()]);
    }
    server.stop().await;
}

/// Issue 14 point 1: Slack checks the Request URL the server prints
/// (`/webhooks/slack/slack-default`) when the app is configured, before any workspace
/// installs it: with a target and no connection, the signed `url_verification` is
/// verified against the target's signing secret and answered.
#[tokio::test]
async fn slack_verifies_the_printed_request_url_before_any_install() {
    let server = Server::start(TestHost::new()).await;
    server
        .put_target(
            "slack",
            SLACK,
            json!({}),
            json!({"signing_secret": SLACK_SECRET}),
        )
        .await;
    let key: DefinitionKey = SLACK.parse().unwrap();
    let route = url::Url::parse(&server.app.webhook_url(&key, None))
        .unwrap()
        .path()
        .to_owned();
    assert_eq!(route, "/webhooks/slack/slack-default");
    let body = fixture("slack/url_verification.docs-example.json");
    let challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";

    let signed = WebhookSigner::for_definition(&Slack::new(), SLACK_SECRET)
        .unwrap()
        .sign(&Delivery::new(&body, server.now()))
        .unwrap();
    let answered = server.post(&route, &signed).await;
    assert_eq!(answered.status, 200, "{}", answered.text());
    assert_eq!(answered.text(), challenge);

    let forged = WebhookSigner::for_definition(&Slack::new(), "not-the-signing-secret")
        .unwrap()
        .sign(&Delivery::new(&body, server.now()))
        .unwrap();
    let refused = server.post(&route, &forged).await;
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (401, "webhook.signature_mismatch")
    );
    assert!(!refused.text().contains(challenge));
    assert!(server.test.events.events().is_empty());
    for answer in [&refused, &answered] {
        answer.assert_free_of(&[SLACK_SECRET.to_owned()]);
    }
    server.stop().await;
}
