//! GitHub (cloud and Enterprise Server): subjects, order keys, conversations, form bodies, refusals.

use integrations_core::host::ConnectionStore;
use integrations_definitions::github::webhook::INSTALLATION_SUSPENDED;

use super::*;

#[tokio::test]
async fn github_events_carry_typed_subjects_order_keys_and_conversations() {
    let world = World::new().await;
    let event = deliver(&world, "github/issue_comment.created.payload.json").await;
    assert_eq!(event.provider_event_type, "issue_comment");
    assert_eq!(
        event.external_event_id,
        "delivery-github-issue_comment-created-payload-json"
    );
    assert_eq!(event.delivery_id, Some(event.external_event_id.clone()));
    assert_eq!(event.connection.as_str(), "gh-repo");
    let s = event.subject.as_ref().unwrap();
    assert_eq!(s.kind, SubjectKind::Comment);
    assert_eq!(s.id, "492700400");
    assert_eq!(s.number.as_deref(), Some("1"));
    assert_eq!(
        s.title.as_deref(),
        Some("Spelling error in the README file")
    );
    assert_eq!(
        s.text.as_deref(),
        Some("You are totally right! I'll get this fixed right away.")
    );
    assert_eq!(s.actor.as_deref(), Some("Codertocat"));
    assert_eq!(s.container.as_deref(), Some("Codertocat/Hello-World"));
    assert_eq!(
        s.url.as_deref(),
        Some("https://github.com/Codertocat/Hello-World/issues/1#issuecomment-492700400")
    );
    assert_eq!(
        event.source_order_key.as_deref(),
        Some("2019-05-15T15:20:21.000Z#00000000000492700400")
    );
    assert_eq!(
        event.dispatch.key().unwrap().to_string(),
        "github:Codertocat/Hello-World:1"
    );

    let event = deliver(&world, "github/pull_request.opened.payload.json").await;
    let s = event.subject.as_ref().unwrap();
    assert_eq!(
        (s.kind, s.number.as_deref()),
        (SubjectKind::PullRequest, Some("2"))
    );
    assert_eq!(event.connection.as_str(), "gh-1");

    let event = deliver(&world, "github/push.with-installation.payload.json").await;
    let s = event.subject.as_ref().unwrap();
    assert_eq!(s.kind, SubjectKind::Push);
    assert_eq!(s.title.as_deref(), Some("refs/tags/simple-tag"));

    // Enterprise Server: same shapes, the server's URLs, its own connection.
    let event = deliver(&world, "github/ghes-3.5/pull_request.opened.json").await;
    assert_eq!(event.key.as_str(), GHES);
    assert_eq!(event.connection.as_str(), "ghe-5");
    let s = event.subject.as_ref().unwrap();
    assert_eq!(
        s.url.as_deref(),
        Some("https://octocoders.github.io/Codertocat/Hello-World/pull/2")
    );
}

#[tokio::test]
async fn github_form_encoded_deliveries_are_verified_over_the_form_bytes() {
    let world = World::new().await;
    let json = body("github/issues.opened.payload.json");
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", std::str::from_utf8(&json).unwrap())
        .finish();
    let signed = signer(GITHUB)
        .sign(
            &Delivery::new(form.as_bytes(), world.now())
                .with_id("form-1")
                .with_event("issues")
                .with_content_type("application/x-www-form-urlencoded"),
        )
        .unwrap();
    let event = world
        .ingest
        .ingest(signed.request_to(&key(GITHUB), "ep-gh-repo"))
        .await
        .unwrap()
        .event
        .unwrap();
    assert_eq!(event.event_type.as_str(), "github.issues.opened");
    // The payload is the decoded JSON, not the form.
    assert_eq!(event.payload.get().as_bytes(), json.as_slice());

    // The signature covers the form bytes: a changed form is refused.
    let tampered = signed.with_body(form.replace("Spelling", "Spellinh").into_bytes());
    let response = world
        .ingest
        .handle(tampered.request_to(&key(GITHUB), "ep-gh-repo"))
        .await;
    assert_eq!(response.status, 401);
}

#[tokio::test]
async fn github_deliveries_need_their_headers_and_a_known_content_type() {
    let world = World::new().await;
    let case = case_of("github/issues.opened.payload.json");
    let body = body(case.file);
    let signed = sign(&world, case, &body, "d-1");
    for (tampered, status, code) in [
        (
            signed.clone().without_header("x-github-event"),
            400,
            codes::MISSING_HEADER,
        ),
        (
            signed.clone().without_header("x-github-delivery"),
            400,
            codes::MISSING_HEADER,
        ),
        (
            signed.clone().without_header("x-hub-signature-256"),
            400,
            codes::MISSING_HEADER,
        ),
        (
            signed.clone().with_header("content-type", "text/xml"),
            415,
            codes::UNSUPPORTED_CONTENT_TYPE,
        ),
        (
            signed.clone().with_header(
                "x-hub-signature-256",
                signed
                    .header("x-hub-signature-256")
                    .unwrap()
                    .replace("sha256=", "sha1="),
            ),
            400,
            codes::MALFORMED_SIGNATURE,
        ),
    ] {
        let response = world.ingest.handle(request(case, &tampered)).await;
        assert_eq!(
            (response.status.as_u16(), error_code(&response)),
            (status, code.to_owned())
        );
    }
}

/// A fixture's JSON with `edit` applied, compact, as GitHub would send it.
fn edited(file: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&body(file)).unwrap();
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

async fn send(world: &World, event: &str, body: &[u8], id: &str) -> WebhookResponse {
    let signed = signer(GITHUB)
        .sign(
            &Delivery::new(body, world.now())
                .with_id(id)
                .with_event(event),
        )
        .unwrap();
    world.ingest.handle(signed.request(&key(GITHUB))).await
}

#[tokio::test]
async fn an_uninstalled_app_revokes_its_connection_once() {
    let world = World::new().await;
    // The fixture's installation (id 2) is connection gh-2's.
    let event = deliver(&world, "github/installation.deleted.payload.json").await;
    assert_eq!(event.event_type.as_str(), "github.installation.deleted");
    assert_eq!(event.connection.as_str(), "gh-2");
    assert!(matches!(
        world.status("gh-2").await,
        ConnectionStatus::Revoked { reason } if reason.contains("uninstalled")
    ));
    let changes = world.test.audit.with_action("connection.status_changed");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].detail["status"], "revoked");
    assert_eq!(changes[0].detail["cause"], "webhook");
    assert_eq!(
        changes[0].detail["event_type"],
        "github.installation.deleted"
    );

    // The same delivery again: a duplicate, answered 2xx, applied once, delivered once.
    let body = body("github/installation.deleted.payload.json");
    let again = send(
        &world,
        "installation",
        &body,
        "delivery-github-installation-deleted-payload-json",
    )
    .await;
    assert_eq!(again.status, 200);
    assert_eq!(
        world
            .test
            .audit
            .with_action("connection.status_changed")
            .len(),
        1
    );
    assert_eq!(world.test.events.events().len(), 1);

    // Any other event of the uninstalled installation finds no connection.
    let push = edited("github/push.with-installation.payload.json", |v| {
        v["installation"]["id"] = json!(2);
    });
    let refused = send(&world, "push", &push, "d-after-uninstall").await;
    assert_eq!(
        (refused.status.as_u16(), error_code(&refused)),
        (404, codes::CONNECTION_NOT_FOUND.to_owned())
    );
    assert_eq!(world.test.events.events().len(), 1);
}

#[tokio::test]
async fn a_failed_delivery_of_the_uninstall_is_retried_to_the_revoked_connection() {
    let world = World::new().await;
    let body = body("github/installation.deleted.payload.json");
    world.test.events.fail_next(1);
    let failed = send(&world, "installation", &body, "d-uninstall").await;
    assert_eq!(failed.status, 503);
    // Revoked already; the record was released, so GitHub's retry is processed and
    // reaches the sink.
    assert!(matches!(
        world.status("gh-2").await,
        ConnectionStatus::Revoked { .. }
    ));
    let retried = send(&world, "installation", &body, "d-uninstall").await;
    assert_eq!(retried.status, 200);
    let delivered = world.test.events.events();
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        delivered[0].event_type.as_str(),
        "github.installation.deleted"
    );
    assert_eq!(
        world
            .test
            .audit
            .with_action("connection.status_changed")
            .len(),
        1
    );
}

#[tokio::test]
async fn a_suspended_installation_is_in_error_until_unsuspended() {
    let world = World::new().await;
    let lifecycle = |action: &'static str| {
        edited("github/installation.deleted.payload.json", move |v| {
            v["action"] = json!(action);
            v["installation"]["id"] = json!(1);
        })
    };
    let suspended = send(&world, "installation", &lifecycle("suspend"), "d-s1").await;
    assert_eq!(suspended.status, 200);
    assert_eq!(
        world.status("gh-1").await,
        ConnectionStatus::Error {
            reason: INSTALLATION_SUSPENDED.to_owned()
        }
    );
    // A connection in error still receives its events.
    let event = deliver(&world, "github/pull_request.opened.payload.json").await;
    assert_eq!(event.connection.as_str(), "gh-1");

    let resumed = send(&world, "installation", &lifecycle("unsuspend"), "d-u1").await;
    assert_eq!(resumed.status, 200);
    assert_eq!(world.status("gh-1").await, ConnectionStatus::Active);

    // An unsuspension never clears an error that needs repair.
    let broken = ConnectionStatus::Error {
        reason: "the refresh token was revoked".to_owned(),
    };
    world
        .test
        .store
        .set_connection_status(
            &tenant("acme"),
            &ConnectionId::new("gh-1").unwrap(),
            broken.clone(),
            world.now(),
        )
        .await
        .unwrap();
    let suspended = send(&world, "installation", &lifecycle("suspend"), "d-s2").await;
    assert_eq!(suspended.status, 200);
    let resumed = send(&world, "installation", &lifecycle("unsuspend"), "d-u2").await;
    assert_eq!(resumed.status, 200);
    assert_eq!(world.status("gh-1").await, broken);
}

/// Issue 13 point 3: `X-GitHub-Event` is not signed. A signed `issues` body whose action
/// is `deleted`, resent with `X-GitHub-Event: installation`, must not revoke anything.
#[tokio::test]
async fn a_signed_body_resent_as_an_installation_event_changes_no_grant() {
    let world = World::new().await;
    // An issue deleted in a repository of installation 1 (connection gh-1).
    let deleted_issue = edited("github/issues.opened.payload.json", |v| {
        v["action"] = json!("deleted");
        v["installation"] = json!({"id": 1, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="});
    });
    for (event, id) in [
        ("installation", "d-spoof-1"),
        ("installation_repositories", "d-spoof-2"),
    ] {
        let response = send(&world, event, &deleted_issue, id).await;
        assert_eq!(
            (response.status.as_u16(), error_code(&response)),
            (400, codes::EVENT_TYPE_MISMATCH.to_owned()),
            "{event}"
        );
    }
    assert_eq!(world.status("gh-1").await, ConnectionStatus::Active);
    assert!(world.test.events.events().is_empty());
    assert!(
        world
            .test
            .audit
            .with_action("connection.status_changed")
            .is_empty()
    );

    // A genuine uninstall sent under another event name is refused too, not delivered as
    // an event that merely looks harmless.
    let uninstall = edited("github/installation.deleted.payload.json", |v| {
        v["installation"]["id"] = json!(1);
    });
    let response = send(&world, "issues", &uninstall, "d-spoof-3").await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (400, codes::EVENT_TYPE_MISMATCH.to_owned())
    );
    assert_eq!(world.status("gh-1").await, ConnectionStatus::Active);

    // The genuine event, with its own name, still revokes.
    let response = send(&world, "installation", &uninstall, "d-real").await;
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert!(matches!(
        world.status("gh-1").await,
        ConnectionStatus::Revoked { .. }
    ));
}

/// Issue 13 point 6: a signed `pull_request_review_comment` whose `pull_request` lacks
/// the fields a full payload has (its id among them) normalizes; the subject is the
/// comment, as precise as the payload allows.
#[tokio::test]
async fn a_review_comment_on_a_sparse_pull_request_normalizes() {
    let world = World::new().await;
    let body = serde_json::to_vec(&json!({
        "action": "created",
        "comment": {"id": 77, "body": "nit", "user": {"login": "octocat"}},
        "pull_request": {"number": 3},
        "repository": {"full_name": "octo-org/octo-repo"},
        "installation": {"id": 1},
    }))
    .unwrap();
    let response = send(&world, "pull_request_review_comment", &body, "d-sparse").await;
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let event = world.test.events.events().pop().unwrap();
    assert_eq!(
        event.event_type.as_str(),
        "github.pull_request_review_comment.created"
    );
    let subject = event.subject.unwrap();
    assert_eq!(subject.kind, SubjectKind::Comment);
    assert_eq!(subject.id, "77");
    assert_eq!(subject.number.as_deref(), Some("3"));

    // Without the comment's id, the subject is the pull request, when it has one.
    let body = serde_json::to_vec(&json!({
        "action": "created",
        "comment": {"body": "nit"},
        "pull_request": {"id": 9, "number": 3},
        "installation": {"id": 1},
    }))
    .unwrap();
    let response = send(&world, "pull_request_review_comment", &body, "d-sparse-2").await;
    assert_eq!(response.status, 200);
    let subject = world.test.events.events().pop().unwrap().subject.unwrap();
    assert_eq!(
        (subject.kind, subject.id.as_str()),
        (SubjectKind::PullRequest, "9")
    );
}
