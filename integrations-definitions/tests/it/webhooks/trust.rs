//! What a delivery must prove before anything reads it (issue 13 point 7), probes that
//! precede every connection (issue 14 point 1), and verified deliveries of event types
//! the fixtures do not have (issue 13 point 6).

use integrations_core::webhook::WebhookRequest;
use proptest::prelude::*;

use super::*;

/// Every provider's route with an endpoint key, and the delivery headers it would carry.
const ENDPOINT_ROUTES: &[(&str, &str)] = &[
    (GITHUB, "ep-gh-repo"),
    (LINEAR, "ep-lin-old"),
    (SLACK, "ep-slack-acme"),
    (OPENAI, "ep-openai"),
];

/// Bodies that are not any provider's payload.
const GARBAGE: &[&[u8]] = &[b"not json at all", b"{}", b"[1,2]", b"payload=%7B"];

fn forged(k: &str, body: &[u8], now: Timestamp) -> SignedDelivery {
    let definition: Box<dyn integrations_core::definition::IntegrationDefinition> = match k {
        GITHUB => Box::new(GitHub::cloud()),
        LINEAR => Box::new(Linear::new()),
        SLACK => Box::new(Slack::new()),
        _ => Box::new(OpenAi::new()),
    };
    let secret = if k == OPENAI {
        "whsec_bm90LXRoZS1zZWNyZXQtbm90LXRoZS1zZWNyZXQ="
    } else {
        "not-the-secret"
    };
    // No event or delivery header: an attacker's request, signed with a guess.
    WebhookSigner::for_definition(definition.as_ref(), secret)
        .unwrap()
        .sign(&Delivery::new(body, now).with_id("wh_forged"))
        .unwrap()
        .without_header("x-github-delivery")
        .without_header("linear-delivery")
}

/// Where the endpoint key names the connection, the signature is checked before the body
/// or any other header is read: an unauthenticated request learns nothing but
/// `signature_mismatch`, whatever it carries.
#[tokio::test]
async fn an_unauthenticated_body_on_an_endpoint_route_is_only_a_signature_mismatch() {
    let world = World::new().await;
    for (k, endpoint) in ENDPOINT_ROUTES {
        for body in GARBAGE {
            let signed = forged(k, body, world.now());
            let response = world
                .ingest
                .handle(signed.request_to(&key(k), endpoint))
                .await;
            assert_eq!(
                (response.status.as_u16(), error_code(&response)),
                (401, codes::SIGNATURE_MISMATCH.to_owned()),
                "{k} {}",
                String::from_utf8_lossy(body)
            );
        }
    }
    assert!(world.test.events.events().is_empty());
}

/// Where one target holds every secret a delivery could be signed with (the only Linear,
/// GitHub or `OpenAI` target here), the app-level route verifies first too. Slack has
/// two tenants' targets: routing must read the payload, and reads only its routing
/// fields.
#[tokio::test]
async fn the_single_target_of_an_app_level_route_verifies_before_reading() {
    let world = World::new().await;
    for k in [GITHUB, LINEAR, OPENAI] {
        for body in GARBAGE {
            let signed = forged(k, body, world.now());
            let response = world.ingest.handle(signed.request(&key(k))).await;
            assert_eq!(
                (response.status.as_u16(), error_code(&response)),
                (401, codes::SIGNATURE_MISMATCH.to_owned()),
                "{k} {}",
                String::from_utf8_lossy(body)
            );
        }
    }
}

/// A world with targets and no connection: an app just configured, installed nowhere.
async fn unconnected() -> World {
    let registry = Arc::new(registry());
    let test = TestHost::new();
    let ingest = Ingest::new(registry.clone(), test.host().clone()).unwrap();
    let service = WriteService::new(registry, test.host().clone());
    let world = World {
        test,
        ingest,
        service,
    };
    world
        .target(
            "acme",
            "slack",
            SLACK,
            json!({"app_id": "A0KRD7HC3"}),
            json!({"signing_secret": SLACK_SECRET}),
        )
        .await;
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
}

/// Slack verifies the Request URL before any workspace installs the app: the signed
/// `url_verification` on the app-level route is verified against the target's signing
/// secret and answered with its challenge.
#[tokio::test]
async fn slack_verifies_the_request_url_before_any_workspace_installs_the_app() {
    let world = unconnected().await;
    let body = body("slack/url_verification.docs-example.json");
    let challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";
    let signed = signer(SLACK)
        .sign(&Delivery::new(&body, world.now()))
        .unwrap();
    let answered = world
        .ingest
        .ingest(signed.request(&key(SLACK)))
        .await
        .unwrap();
    assert_eq!(answered.outcome, IngestOutcome::Answered);
    assert_eq!(answered.response.body, challenge);

    // Only a signature by the target's secret is answered.
    let forged = forged(SLACK, &body, world.now());
    let response = world.ingest.handle(forged.request(&key(SLACK))).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (401, codes::SIGNATURE_MISMATCH.to_owned())
    );
    assert!(!String::from_utf8_lossy(&response.body).contains(challenge));
    let stale = signed.clone();
    world.test.clock.advance(Duration::from_secs(301));
    let response = world.ingest.handle(stale.request(&key(SLACK))).await;
    assert_eq!(response.status, 401);

    // A disabled target answers nothing.
    world
        .test
        .clock
        .set(Timestamp::from_unix_seconds(1_767_225_600));
    let mut target = world
        .test
        .host()
        .targets()
        .get_target(&tenant("acme"), &TargetId::new("slack").unwrap())
        .await
        .unwrap()
        .unwrap();
    target.enabled = false;
    world
        .test
        .host()
        .targets()
        .put_target(&target)
        .await
        .unwrap();
    let signed = signer(SLACK)
        .sign(&Delivery::new(&body, world.now()))
        .unwrap();
    let response = world.ingest.handle(signed.request(&key(SLACK))).await;
    assert_ne!(response.status, 200);
    assert!(world.test.events.events().is_empty());
}

/// Every enabled target is tried for an app-level probe: one whose secrets do not open
/// (another tenant's, sealed under a retired key) does not stop the others, and the
/// probe's body is kept small, as each target costs a signature check.
#[tokio::test]
async fn an_app_level_probe_passes_a_target_whose_secrets_do_not_open() {
    let world = unconnected().await;
    // A target of a tenant listed before `acme` whose sealed secrets open under no key
    // (its record copied from acme's: the seal names the tenant).
    let targets = world.test.host().targets();
    let mut broken = targets
        .get_target(&tenant("acme"), &TargetId::new("slack").unwrap())
        .await
        .unwrap()
        .unwrap();
    broken.tenant = tenant("aardvark");
    targets.put_target(&broken).await.unwrap();
    let body = body("slack/url_verification.docs-example.json");
    let signed = signer(SLACK)
        .sign(&Delivery::new(&body, world.now()))
        .unwrap();
    let answered = world
        .ingest
        .ingest(signed.request(&key(SLACK)))
        .await
        .unwrap();
    assert_eq!(answered.outcome, IngestOutcome::Answered);

    // A forged probe is a signature mismatch, not the broken target's trouble.
    let forged = forged(SLACK, &body, world.now());
    let response = world.ingest.handle(forged.request(&key(SLACK))).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (401, codes::SIGNATURE_MISMATCH.to_owned())
    );

    // A large body is refused before any target is tried.
    let mut large: Value = serde_json::from_slice(&body).unwrap();
    large["padding"] = json!("x".repeat(70 * 1024));
    let large = serde_json::to_vec(&large).unwrap();
    let signed = signer(SLACK)
        .sign(&Delivery::new(&large, world.now()))
        .unwrap();
    let response = world.ingest.handle(signed.request(&key(SLACK))).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (413, codes::BODY_TOO_LARGE.to_owned())
    );
    assert!(world.test.events.events().is_empty());
}

/// A GitHub App's `ping` comes when the App's webhook is set up, before any installation:
/// verified against the target's webhook secret and answered on the app-level route.
#[tokio::test]
async fn a_github_app_ping_is_answered_on_the_app_level_route() {
    let world = unconnected().await;
    let ping = {
        let mut v: Value =
            serde_json::from_slice(&body("github/ping.with-app_id.payload.json")).unwrap();
        v["hook"]["type"] = json!("App");
        let object = v.as_object_mut().unwrap();
        object.remove("repository");
        object.remove("organization");
        serde_json::to_vec(&v).unwrap()
    };
    let signed = signer(GITHUB)
        .sign(
            &Delivery::new(&ping, world.now())
                .with_id("d-ping")
                .with_event("ping"),
        )
        .unwrap();
    let answered = world
        .ingest
        .ingest(signed.request(&key(GITHUB)))
        .await
        .unwrap();
    assert_eq!(answered.outcome, IngestOutcome::Answered);
    assert_eq!(answered.response.status, 200);

    let forged = forged(GITHUB, &ping, world.now())
        .with_header("x-github-event", "ping")
        .with_header("x-github-delivery", "d-ping-2");
    let response = world.ingest.handle(forged.request(&key(GITHUB))).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (401, codes::SIGNATURE_MISMATCH.to_owned())
    );
    assert!(world.test.events.events().is_empty());
}

// ---------------------------------------------------------------------------------------
// Generated deliveries of event types no fixture has.

/// An object with each of `fields` present or not, as `keep` says.
fn partial(fields: Vec<(&str, Value)>, keep: &[bool]) -> Value {
    let mut object = serde_json::Map::new();
    for (i, (name, value)) in fields.into_iter().enumerate() {
        if keep.get(i).copied().unwrap_or(true) {
            object.insert(name.to_owned(), value);
        }
    }
    Value::Object(object)
}

/// GitHub events whose payloads the fixtures do not have, with the top-level object each
/// carries.
const GITHUB_EVENTS: &[(&str, &[&str])] = &[
    ("pull_request_review_comment", &["comment", "pull_request"]),
    ("pull_request_review", &["review", "pull_request"]),
    ("pull_request_review_thread", &["thread", "pull_request"]),
    ("check_run", &["check_run"]),
    ("check_suite", &["check_suite"]),
    ("release", &["release"]),
    ("label", &["label"]),
    ("milestone", &["milestone"]),
    ("discussion", &["discussion"]),
    ("discussion_comment", &["comment", "discussion"]),
    ("workflow_run", &["workflow_run"]),
    ("workflow_job", &["workflow_job"]),
    ("create", &[]),
    ("delete", &[]),
    ("star", &[]),
    ("fork", &["forkee"]),
    ("member", &["member"]),
    ("repository", &[]),
    ("security_advisory", &["security_advisory"]),
    ("issues", &["issue"]),
    ("issue_comment", &["comment", "issue"]),
    ("pull_request", &["pull_request"]),
];

fn github_object(id: u64, text: &str, keep: &[bool]) -> Value {
    partial(
        vec![
            ("id", json!(id)),
            ("number", json!(id % 1000)),
            ("title", json!(text)),
            (
                "body",
                if text.len().is_multiple_of(2) {
                    json!(text)
                } else {
                    Value::Null
                },
            ),
            ("html_url", json!(format!("https://github.com/o/r/x/{id}"))),
            ("user", json!({"login": text})),
            ("created_at", json!("2026-01-01T00:00:00Z")),
            (
                "updated_at",
                if id.is_multiple_of(3) {
                    json!(1_767_225_600)
                } else {
                    json!("2026-01-02T00:00:00Z")
                },
            ),
            ("submitted_at", Value::Null),
        ],
        keep,
    )
}

fn linear_data(id: &str, text: &str, keep: &[bool]) -> Value {
    partial(
        vec![
            ("id", json!(id)),
            ("identifier", json!(format!("ENG-{}", text.len()))),
            ("number", json!(text.len())),
            ("title", json!(text)),
            ("name", json!(text)),
            ("body", json!(text)),
            ("issueId", json!(id)),
            ("issue", json!({"id": id, "title": text})),
            ("team", json!({"key": "ENG"})),
            ("user", json!({"id": id, "name": text})),
            ("updatedAt", json!("2026-01-01T00:00:00.000Z")),
        ],
        keep,
    )
}

fn slack_event(kind: &str, text: &str, keep: &[bool]) -> Value {
    let mut event = partial(
        vec![
            (
                "user",
                if keep.last() == Some(&true) {
                    json!("U1")
                } else {
                    json!({"id": "U1"})
                },
            ),
            ("text", json!(text)),
            ("ts", json!("1767225600.000100")),
            ("thread_ts", json!("1767225600.000001")),
            (
                "channel",
                if text.is_empty() {
                    json!({"id": "C1"})
                } else {
                    json!("C1")
                },
            ),
            ("event_ts", json!("1767225600.000100")),
            (
                "item",
                json!({"type": "message", "channel": "C1", "ts": "1.2"}),
            ),
            ("reaction", json!(text)),
            ("subtype", Value::Null),
        ],
        keep,
    );
    event["type"] = json!(kind);
    event
}

/// Replaces the `n`-th nested leaf (below the top level, in document order; never a
/// `type`, nor what routes or signs the delivery) with a value of another JSON type: a
/// provider may send any field with a type its documentation does not show.
fn scramble(body: &mut Value, n: usize) {
    fn leaves<'v>(value: &'v mut Value, depth: usize, out: &mut Vec<&'v mut Value>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    if key == "type" || key == "installation" {
                        continue;
                    }
                    leaves(child, depth + 1, out);
                }
            }
            Value::Array(items) => {
                for child in items {
                    leaves(child, depth + 1, out);
                }
            }
            leaf if depth >= 2 => out.push(leaf),
            _ => {}
        }
    }
    let mut found = Vec::new();
    leaves(body, 0, &mut found);
    let count = found.len();
    if count == 0 {
        return;
    }
    let leaf = found.swap_remove(n % count);
    *leaf = match leaf {
        Value::String(_) => json!(7),
        Value::Number(_) => json!("7"),
        Value::Bool(_) => json!({"unexpected": true}),
        _ => json!(["unexpected"]),
    };
}

#[derive(Debug, Clone)]
struct Generated {
    kind: usize,
    id: u64,
    text: String,
    keep: Vec<bool>,
    keep_inner: Vec<bool>,
    chaos: Option<usize>,
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        0usize..64,
        1u64..u64::from(u32::MAX),
        "[a-zA-Z ]{0,12}",
        proptest::collection::vec(any::<bool>(), 12),
        proptest::collection::vec(any::<bool>(), 12),
        proptest::option::of(0usize..64),
    )
        .prop_map(|(kind, id, text, keep, keep_inner, chaos)| Generated {
            kind,
            id,
            text,
            keep,
            keep_inner,
            chaos,
        })
}

/// One generated delivery for `k`, signed, and the route it goes to.
fn generated_delivery(world: &World, k: &str, g: &Generated, n: u64) -> WebhookRequest {
    let id = format!("gen-{n}");
    let now = world.now();
    match k {
        GITHUB => {
            let (event, objects) = GITHUB_EVENTS[g.kind % GITHUB_EVENTS.len()];
            let mut body = partial(
                vec![
                    (
                        "action",
                        json!(["created", "edited", "deleted", "completed"][g.kind % 4]),
                    ),
                    ("repository", json!({"full_name": "octo/repo"})),
                    ("sender", json!({"login": g.text})),
                ],
                &g.keep,
            );
            body["ref"] = json!("refs/heads/main");
            for (i, name) in objects.iter().enumerate() {
                let keep: Vec<bool> = g.keep_inner.iter().skip(i).copied().collect();
                body[*name] = github_object(g.id + i as u64, &g.text, &keep);
            }
            body["installation"] = json!({"id": 1});
            if let Some(n) = g.chaos {
                scramble(&mut body, n);
            }
            let bytes = serde_json::to_vec(&body).unwrap();
            signer(GITHUB)
                .sign(&Delivery::new(&bytes, now).with_id(&id).with_event(event))
                .unwrap()
                .request(&key(GITHUB))
        }
        LINEAR => {
            let kinds = [
                "Project",
                "Cycle",
                "IssueLabel",
                "Reaction",
                "Document",
                "ProjectUpdate",
                "Attachment",
                "AgentSessionEvent",
                "Issue",
                "Comment",
                "Initiative",
                "Customer",
            ];
            let kind = kinds[g.kind % kinds.len()];
            let action = ["create", "update", "remove", "set"][g.kind % 4];
            let mut body = json!({
                "action": action,
                "type": kind,
                "organizationId": "dc844923-f9a4-40a3-825c-dea7747e57d6",
                "webhookTimestamp": now.unix_millis(),
                "webhookId": "000042e3-d123-4980-b49f-8e140eef9329",
            });
            if g.keep[0] {
                body["data"] = linear_data(&g.id.to_string(), &g.text, &g.keep_inner);
            }
            if g.keep[1] {
                body["createdAt"] = json!("2026-01-01T00:00:00.000Z");
            }
            if g.keep[2] {
                body["actor"] = json!({"id": "u", "name": g.text});
            }
            if kind == "AgentSessionEvent" && g.keep[3] {
                body["agentSession"] = partial(
                    vec![
                        ("id", json!("s1")),
                        ("issueId", json!("i1")),
                        ("url", json!("https://linear.app/x")),
                    ],
                    &g.keep_inner,
                );
            }
            if let Some(n) = g.chaos {
                scramble(&mut body, n);
            }
            let bytes = serde_json::to_vec(&body).unwrap();
            signer(LINEAR)
                .sign(&Delivery::new(&bytes, now).with_id(&id).with_event(kind))
                .unwrap()
                .request(&key(LINEAR))
        }
        SLACK => {
            let kinds = [
                "member_joined_channel",
                "channel_rename",
                "file_shared",
                "pin_added",
                "reaction_added",
                "team_join",
                "user_change",
                "emoji_changed",
                "message",
                "app_home_opened",
                "link_shared",
                "subteam_updated",
            ];
            let kind = kinds[g.kind % kinds.len()];
            let mut body = json!({
                "type": "event_callback",
                "team_id": "T123ABC456",
                "event_id": format!("Ev{n}"),
            });
            if g.keep[0] {
                body["event_time"] = json!(1_767_225_600);
            }
            body["event"] = slack_event(kind, &g.text, &g.keep_inner);
            if let Some(n) = g.chaos {
                scramble(&mut body, n);
            }
            let bytes = serde_json::to_vec(&body).unwrap();
            signer(SLACK)
                .sign(&Delivery::new(&bytes, now))
                .unwrap()
                .request(&key(SLACK))
        }
        _ => {
            let kinds = [
                "batch.completed",
                "batch.failed",
                "eval.run.succeeded",
                "fine_tuning.job.cancelled",
                "response.incomplete",
                "realtime.call.incoming",
            ];
            let mut body = json!({
                "id": format!("evt_{n}"),
                "object": "event",
                "type": kinds[g.kind % kinds.len()],
            });
            if g.keep[0] {
                body["created_at"] = json!(now.unix_seconds());
            }
            if g.keep[1] {
                body["data"] = partial(vec![("id", json!(format!("obj_{}", g.id)))], &g.keep_inner);
            }
            if let Some(n) = g.chaos {
                scramble(&mut body, n);
            }
            let bytes = serde_json::to_vec(&body).unwrap();
            signer(OPENAI)
                .sign(&Delivery::new(&bytes, now).with_id(&format!("wh_{n}")))
                .unwrap()
                .request_to(&key(OPENAI), "ep-openai")
        }
    }
}

/// Every verified delivery of any event type of a shipped provider normalizes: missing
/// optional fields make the subject coarser, never the event fail.
#[test]
fn every_verified_delivery_of_any_event_type_normalizes() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let world = runtime.block_on(World::new());
    runtime.block_on(async {
        world
            .test
            .clock
            .set(Timestamp::from_unix_seconds(1_767_225_600));
    });
    let counter = std::sync::atomic::AtomicU64::new(0);
    let config = ProptestConfig {
        cases: 160,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(g in generated(), provider in 0usize..4)| {
        let k = [GITHUB, LINEAR, SLACK, OPENAI][provider];
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let request = generated_delivery(&world, k, &g, n);
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let ingested = runtime.block_on(world.ingest.ingest(request));
        match ingested {
            Ok(ingested) => prop_assert_eq!(ingested.outcome, IngestOutcome::Delivered, "{}", body),
            Err(e) => prop_assert!(false, "{k}: {} {} for {}", e.code(), e, body),
        }
    });
}
