//! Every webhook payload in `tests/fixtures/` is signed as its provider would sign it,
//! ingested end to end through `Ingest` on a `TestHost` with a stored target and
//! connection, verified, normalized, delivered once, and answered; plus each provider's
//! refusals.
//!
//! Bodies of `*.body.*` fixtures are sent byte for byte; the other fixtures are
//! reformatted documentation examples, sent compact (whitespace outside strings removed,
//! key order kept) as the providers send JSON.

mod github;
mod linear;
mod openai;
mod same_account;
mod slack;
mod triggers;
mod trust;
mod webhook_only;

use std::sync::Arc;
use std::time::Duration;

use integrations_core::host::ConnectionStore as _;
use integrations_core::model::ConnectionStatus;
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::webhook::{
    Ingest, IngestOutcome, SessionDispatch, SubjectKind, WebhookEvent, WebhookResponse, codes,
};
use integrations_core::{ConnectionId, DefinitionKey, TargetId, TenantId, Timestamp};
use integrations_definitions::github::GitHub;
use integrations_definitions::linear::Linear;
use integrations_definitions::openai::OpenAi;
use integrations_definitions::registry;
use integrations_definitions::slack::Slack;
use integrations_testkit::{Delivery, SignedDelivery, TestHost, WebhookSigner};
use serde_json::{Value, json};

const GITHUB_SECRET: &str = "gh-webhook-secret-It's a Secret to Everybody";
const LINEAR_SECRET: &str = "lin_wh_example_signing_secret";
/// Slack's published signing secret, so the published signature can be checked too.
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// The OpenAI SDK's test secret.
const OPENAI_SECRET: &str = "whsec_RdvaYFYUXuIFuEbvZHwMfYFhUf7aMYjYcmM24+Aj40c=";

const GITHUB: &str = "github::github-cloud";
const GHES: &str = "github::github-enterprise-server";
const LINEAR: &str = "linear::linear-default";
const SLACK: &str = "slack::slack-default";
const OPENAI: &str = "openai::openai-default";

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// JSON without the whitespace outside strings, keys in their order.
fn compact(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
            out.push(b);
        } else if !b.is_ascii_whitespace() {
            out.push(b);
        }
    }
    out
}

/// The body a fixture is sent as.
fn body(path: &str) -> Vec<u8> {
    let raw = fixture(path);
    if path.contains(".body.") {
        raw
    } else {
        let compacted = compact(&raw);
        // Reformatting never changes the content.
        assert_eq!(
            serde_json::from_slice::<Value>(&compacted).unwrap(),
            serde_json::from_slice::<Value>(&raw).unwrap()
        );
        stamped(path, compacted)
    }
}

/// The send time Linear signs inside every body today, for older captures that predate
/// `webhookTimestamp` (a body without it is refused: its replay window would come from an
/// unsigned header). Appended as the last field, as Linear sends it.
const LINEAR_CAPTURE_MS: i64 = 1_767_225_600_000;

fn stamped(path: &str, compacted: Vec<u8>) -> Vec<u8> {
    let value: Value = serde_json::from_slice(&compacted).unwrap();
    if !path.starts_with("linear/") || value.get("webhookTimestamp").is_some() {
        return compacted;
    }
    let mut out = compacted;
    assert_eq!(out.pop(), Some(b'}'));
    out.extend_from_slice(format!(",\"webhookTimestamp\":{LINEAR_CAPTURE_MS}}}").as_bytes());
    out
}

fn key(k: &str) -> DefinitionKey {
    k.parse().unwrap()
}

fn tenant(t: &str) -> TenantId {
    TenantId::new(t).unwrap()
}

struct World {
    test: TestHost,
    ingest: Ingest,
    service: WriteService,
}

impl World {
    async fn new() -> Self {
        let registry = Arc::new(registry());
        let test = TestHost::new();
        let ingest = Ingest::new(registry.clone(), test.host().clone()).unwrap();
        let service = WriteService::new(registry, test.host().clone());
        let world = Self {
            test,
            ingest,
            service,
        };
        world
            .target(
                "acme",
                "gh",
                GITHUB,
                json!({}),
                json!({"webhook_secret": GITHUB_SECRET}),
            )
            .await;
        world
            .target(
                "acme",
                "ghe",
                GHES,
                json!({"web_base_url": "https://octocoders.github.io"}),
                json!({"webhook_secret": GITHUB_SECRET}),
            )
            .await;
        world
            .target(
                "acme",
                "lin",
                LINEAR,
                json!({}),
                json!({"webhook_secret": LINEAR_SECRET}),
            )
            .await;
        world
            .target(
                "acme",
                "slack",
                SLACK,
                json!({}),
                json!({"signing_secret": SLACK_SECRET}),
            )
            .await;
        world
            .target(
                "beta",
                "slack",
                SLACK,
                json!({}),
                json!({"signing_secret": SLACK_SECRET}),
            )
            .await;
        world
            .target(
                "acme",
                "oai",
                OPENAI,
                json!({}),
                json!({"webhook_secret": OPENAI_SECRET}),
            )
            .await;

        let github = [
            ("gh-1", "gh", "token", "ghp_1", Some("1"), None),
            ("gh-957387", "gh", "token", "ghp_2", Some("957387"), None),
            ("gh-2", "gh", "token", "ghp_3", Some("2"), None),
            ("gh-repo", "gh", "token", "ghp_4", None, Some("ep-gh-repo")),
            ("ghe-5", "ghe", "token", "ghp_5", Some("5"), None),
            (
                "ghe-repo",
                "ghe",
                "token",
                "ghp_6",
                None,
                Some("ep-ghe-repo"),
            ),
            (
                "lin-org",
                "lin",
                "api_key",
                "lin_api_1",
                Some("dc844923-f9a4-40a3-825c-dea7747e57d6"),
                None,
            ),
            (
                "lin-old",
                "lin",
                "api_key",
                "lin_api_2",
                None,
                Some("ep-lin-old"),
            ),
            (
                "sl-1",
                "slack",
                "bot_token",
                "xoxb-1",
                Some("T123ABC456"),
                None,
            ),
            (
                "sl-2",
                "slack",
                "bot_token",
                "xoxb-2",
                Some("T061EG9R6"),
                Some("ep-slack-acme"),
            ),
            (
                "sl-3",
                "slack",
                "bot_token",
                "xoxb-3",
                Some("T123456"),
                None,
            ),
            (
                "sl-4",
                "slack",
                "bot_token",
                "xoxb-4",
                Some("T1DC2JH3J"),
                None,
            ),
            (
                "oai-1",
                "oai",
                "api_key",
                "sk-test",
                None,
                Some("ep-openai"),
            ),
        ];
        for (id, target, field, secret, subject, endpoint) in github {
            world
                .connection("acme", id, target, field, secret, subject, endpoint)
                .await;
        }
        // The Slack docs' message.channels and message.im examples share an event_id; the
        // second goes to another tenant's connection for the same team.
        world
            .connection(
                "beta",
                "sl-beta",
                "slack",
                "bot_token",
                "xoxb-5",
                Some("T061EG9R6"),
                Some("ep-slack-beta"),
            )
            .await;
        world
    }

    async fn target(&self, t: &str, id: &str, k: &str, config: Value, secrets: Value) {
        self.service
            .put_target(
                TargetInput::new(tenant(t), TargetId::new(id).unwrap(), key(k))
                    .with_config(config)
                    .with_secrets(secrets),
            )
            .await
            .unwrap();
    }

    #[allow(clippy::too_many_arguments)]
    async fn connection(
        &self,
        t: &str,
        id: &str,
        target: &str,
        field: &str,
        secret: &str,
        subject: Option<&str>,
        endpoint: Option<&str>,
    ) {
        let mut input = ConnectionInput::new(
            tenant(t),
            ConnectionId::new(id).unwrap(),
            TargetId::new(target).unwrap(),
            "api-key".parse().unwrap(),
        )
        .with_secret(field, secret);
        if let Some(subject) = subject {
            input = input.with_external_subject(subject);
        }
        if let Some(endpoint) = endpoint {
            input = input.with_endpoint_key(endpoint);
        }
        self.service.put_connection(input).await.unwrap();
    }

    fn now(&self) -> Timestamp {
        self.test.host().clock().now()
    }

    /// The stored status of tenant `acme`'s connection `id`.
    async fn status(&self, id: &str) -> ConnectionStatus {
        self.test
            .store
            .get_connection(&tenant("acme"), &ConnectionId::new(id).unwrap())
            .await
            .unwrap()
            .unwrap()
            .status
    }
}

fn signer(k: &str) -> WebhookSigner {
    match k {
        GITHUB => WebhookSigner::for_definition(&GitHub::cloud(), GITHUB_SECRET)
            .unwrap()
            .with_header("user-agent", "GitHub-Hookshot/044aadd"),
        GHES => WebhookSigner::for_definition(&GitHub::enterprise_server(), GITHUB_SECRET)
            .unwrap()
            .with_header("user-agent", "GitHub-Hookshot/044aadd")
            .with_header("x-github-enterprise-host", "octocoders.github.io")
            .with_header("x-github-enterprise-version", "3.5.0"),
        LINEAR => WebhookSigner::for_definition(&Linear::new(), LINEAR_SECRET)
            .unwrap()
            .with_header("user-agent", "Linear-Webhook"),
        SLACK => WebhookSigner::for_definition(&Slack::new(), SLACK_SECRET).unwrap(),
        OPENAI => WebhookSigner::for_definition(&OpenAi::new(), OPENAI_SECRET)
            .unwrap()
            .with_header(
                "user-agent",
                "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)",
            ),
        other => panic!("no signer for {other}"),
    }
}

/// One fixture delivery and what it must become.
struct Case {
    file: &'static str,
    key: &'static str,
    endpoint: Option<&'static str>,
    /// The provider's event name header value (GitHub `X-GitHub-Event`, Linear
    /// `Linear-Event`).
    event: Option<&'static str>,
    /// The normalized type; `None` for a handshake.
    event_type: Option<&'static str>,
    dispatch: &'static str,
}

const fn case(
    file: &'static str,
    key: &'static str,
    endpoint: Option<&'static str>,
    event: Option<&'static str>,
    event_type: Option<&'static str>,
    dispatch: &'static str,
) -> Case {
    Case {
        file,
        key,
        endpoint,
        event,
        event_type,
        dispatch,
    }
}

const REPO: Option<&str> = Some("ep-gh-repo");
const GHE_REPO: Option<&str> = Some("ep-ghe-repo");

#[rustfmt::skip]
const CASES: &[Case] = &[
    case("github/installation.created.payload.json", GITHUB, None, Some("installation"), Some("github.installation.created"), "ignore"),
    case("github/installation.deleted.payload.json", GITHUB, None, Some("installation"), Some("github.installation.deleted"), "ignore"),
    case("github/issue_comment.created.payload.json", GITHUB, REPO, Some("issue_comment"), Some("github.issue_comment.created"), "resume"),
    case("github/issue_comment.created.with-installation.payload.json", GITHUB, None, Some("issue_comment"), Some("github.issue_comment.created"), "resume"),
    case("github/issues.edited.payload.json", GITHUB, REPO, Some("issues"), Some("github.issues.edited"), "resume"),
    case("github/issues.opened.payload.json", GITHUB, REPO, Some("issues"), Some("github.issues.opened"), "create"),
    case("github/ping.payload.json", GITHUB, REPO, Some("ping"), Some("github.ping.received"), "ignore"),
    case("github/ping.with-app_id.payload.json", GITHUB, REPO, Some("ping"), Some("github.ping.received"), "ignore"),
    case("github/pull_request.closed.payload.json", GITHUB, None, Some("pull_request"), Some("github.pull_request.closed"), "resume"),
    case("github/pull_request.opened.payload.json", GITHUB, None, Some("pull_request"), Some("github.pull_request.opened"), "create"),
    case("github/push.payload.json", GITHUB, REPO, Some("push"), Some("github.push.pushed"), "ignore"),
    case("github/push.with-installation.payload.json", GITHUB, None, Some("push"), Some("github.push.pushed"), "ignore"),
    case("github/ghes-3.5/issue_comment.created.json", GHES, None, Some("issue_comment"), Some("github.issue_comment.created"), "resume"),
    case("github/ghes-3.5/issues.opened.json", GHES, None, Some("issues"), Some("github.issues.opened"), "create"),
    case("github/ghes-3.5/ping.payload.json", GHES, GHE_REPO, Some("ping"), Some("github.ping.received"), "ignore"),
    case("github/ghes-3.5/pull_request.opened.json", GHES, None, Some("pull_request"), Some("github.pull_request.opened"), "create"),
    case("github/ghes-3.5/push.payload.json", GHES, None, Some("push"), Some("github.push.pushed"), "ignore"),
    case("linear/comment.create.docs-example.json", LINEAR, None, Some("Comment"), Some("linear.comment.created"), "resume"),
    case("linear/comment.create.korosuke613.json", LINEAR, Some("ep-lin-old"), Some("Comment"), Some("linear.comment.created"), "resume"),
    case("linear/issue.create.korosuke613.json", LINEAR, Some("ep-lin-old"), Some("Issue"), Some("linear.issue.created"), "create"),
    case("linear/issue.update.korosuke613.json", LINEAR, Some("ep-lin-old"), Some("Issue"), Some("linear.issue.updated"), "resume"),
    case("slack/app_rate_limited.docs-example.json", SLACK, None, None, Some("slack.app.rate_limited"), "ignore"),
    case("slack/event_callback.app_mention.docs-example.json", SLACK, None, None, Some("slack.app_mention.created"), "create"),
    case("slack/event_callback.app_mention.legacy-authed_users.json", SLACK, Some("ep-slack-acme"), None, Some("slack.app_mention.created"), "create"),
    case("slack/event_callback.message.channels.docs-example.json", SLACK, Some("ep-slack-acme"), None, Some("slack.message.posted"), "ignore"),
    case("slack/event_callback.message.im.docs-example.json", SLACK, Some("ep-slack-beta"), None, Some("slack.message.posted"), "create"),
    case("slack/slash_command.signing-example.body.txt", SLACK, None, None, Some("slack.command.invoked"), "create"),
    case("slack/url_verification.docs-example.json", SLACK, Some("ep-slack-acme"), None, None, ""),
    case("openai/response.completed.docs-example.json", OPENAI, Some("ep-openai"), None, Some("openai.response.completed"), "resume"),
    case("openai/response.completed.sdk-test-vector.body.json", OPENAI, Some("ep-openai"), None, Some("openai.response.completed"), "resume"),
];

/// Sets the clock where a fixture needs it: at the time signed inside a Linear body, at
/// the published time of a known-answer vector.
fn clock_for(world: &World, case: &Case, body: &[u8]) {
    let value: Value = if case.file.starts_with("slack/slash_command") {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap()
    };
    if let Some(ms) = value["webhookTimestamp"].as_i64() {
        world
            .test
            .clock
            .set(Timestamp::from_unix_millis(ms + 1_500));
    } else if case.file.starts_with("slack/slash_command") {
        world
            .test
            .clock
            .set(Timestamp::from_unix_seconds(1_531_420_618));
    } else if case.file.contains("sdk-test-vector") {
        world
            .test
            .clock
            .set(Timestamp::from_unix_seconds(1_750_861_210));
    } else {
        world
            .test
            .clock
            .set(Timestamp::from_unix_seconds(1_767_225_600));
    }
}

fn sign(world: &World, case: &Case, body: &[u8], id: &str) -> SignedDelivery {
    let mut delivery = Delivery::new(body, world.now()).with_id(id);
    if let Some(event) = case.event {
        delivery = delivery.with_event(event);
    }
    signer(case.key).sign(&delivery).unwrap()
}

fn request(case: &Case, signed: &SignedDelivery) -> integrations_core::webhook::WebhookRequest {
    match case.endpoint {
        Some(e) => signed.request_to(&key(case.key), e),
        None => signed.request(&key(case.key)),
    }
}

fn delivery_id(case: &Case, i: usize) -> String {
    if case.file.contains("sdk-test-vector") {
        "wh_685c059ae39c8190af8c71ed1022a24d".to_owned()
    } else {
        format!("delivery-{i:03}-0b2c1f4e")
    }
}

#[tokio::test]
async fn every_fixture_payload_is_signed_verified_normalized_and_delivered_once() {
    let world = World::new().await;
    let mut delivered = 0;
    for (i, case) in CASES.iter().enumerate() {
        let body = body(case.file);
        clock_for(&world, case, &body);
        let signed = sign(&world, case, &body, &delivery_id(case, i));
        let ingested = world
            .ingest
            .ingest(request(case, &signed))
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", case.file));
        assert_eq!(ingested.response.status, 200, "{}", case.file);
        let Some(event_type) = case.event_type else {
            assert_eq!(ingested.outcome, IngestOutcome::Answered, "{}", case.file);
            continue;
        };
        assert_eq!(ingested.outcome, IngestOutcome::Delivered, "{}", case.file);
        delivered += 1;
        let event = ingested.event.unwrap();
        assert_eq!(event.event_type.as_str(), event_type, "{}", case.file);
        assert_eq!(
            event.dispatch.as_str(),
            case.dispatch,
            "{}: {:?}",
            case.file,
            event.dispatch
        );
        assert_eq!(event.received_at, world.now());
        assert!(event.source_order_key.is_some(), "{}", case.file);
        assert!(event.occurred_at.is_some(), "{}", case.file);
        if case.file.starts_with("slack/slash_command") {
            // A slash command's form fields become its JSON payload, but the verification
            // token; the `response_url` the host answers through is kept.
            let payload: Value = serde_json::from_str(event.payload.get()).unwrap();
            assert_eq!(payload["command"], "/webhook-collect");
            assert!(payload.get("token").is_none(), "{payload}");
            assert!(
                payload["response_url"]
                    .as_str()
                    .unwrap()
                    .starts_with("https://hooks.slack.com/commands/")
            );
        } else if case.file.starts_with("slack/") {
            // Slack's payloads are the body but its verification token.
            let mut expected: Value = serde_json::from_slice(&body).unwrap();
            if let Some(object) = expected.as_object_mut() {
                object.remove("token");
            }
            let payload: Value = serde_json::from_str(event.payload.get()).unwrap();
            assert_eq!(payload, expected, "{}", case.file);
        } else {
            assert_eq!(
                event.payload.get().as_bytes(),
                body.as_slice(),
                "{}",
                case.file
            );
        }

        // A redelivery is answered 2xx and never reaches the sink again.
        let again = world.ingest.ingest(request(case, &signed)).await.unwrap();
        assert_eq!(again.outcome, IngestOutcome::Duplicate, "{}", case.file);
        assert!(again.response.status.is_success());
    }
    assert_eq!(delivered, CASES.len() - 1);
    assert_eq!(world.test.events.events().len(), delivered);
    assert_eq!(world.test.store.recorded_events().len(), delivered);
    // No Slack verification token (the fixtures' are Slack's documented examples) is
    // stored or handed on.
    for token in [
        "xyzz0WbapA4vBCDEFasx0q6G",
        "ZZZZZZWSxiZZZ2yIvs3peJ",
        "one-long-verification-token",
        "Jhj5dZrVaK7ZwHHjRyZWjbDl",
    ] {
        for event in world.test.events.events() {
            let text = serde_json::to_string(&event).unwrap();
            assert!(!text.contains(token), "{token} in {text}");
        }
        for event in world.test.store.recorded_events() {
            let text = serde_json::to_string(&event).unwrap();
            assert!(!text.contains(token), "{token} in {text}");
        }
    }
}

fn case_of(file: &str) -> &'static Case {
    CASES
        .iter()
        .find(|c| c.file == file)
        .unwrap_or_else(|| panic!("no case {file}"))
}

async fn deliver(world: &World, file: &str) -> WebhookEvent {
    let case = case_of(file);
    let body = body(case.file);
    clock_for(world, case, &body);
    let id = format!("delivery-{}", file.replace(['/', '.'], "-"));
    let signed = sign(world, case, &body, &id);
    world
        .ingest
        .ingest(request(case, &signed))
        .await
        .unwrap_or_else(|e| panic!("{file}: {e:?}"))
        .event
        .unwrap()
}

fn error_code(response: &WebhookResponse) -> String {
    serde_json::from_slice::<Value>(&response.body).unwrap()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn every_shipped_definition_declares_a_webhook_source_and_handler() {
    let registry = Arc::new(registry());
    let ingest = Ingest::new(registry.clone(), TestHost::new().host().clone()).unwrap();
    for key in registry.keys() {
        let source = ingest.source(key).unwrap_or_else(|| panic!("{key}"));
        assert!(!source.target_secret_fields().is_empty(), "{key}");
    }
}
