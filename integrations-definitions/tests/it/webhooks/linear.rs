//! Linear: the event header, the signed timestamp, subjects and conversations.

use super::*;

#[tokio::test]
async fn linear_events_check_the_event_header_and_the_signed_timestamp() {
    let world = World::new().await;
    let event = deliver(&world, "linear/comment.create.docs-example.json").await;
    assert_eq!(event.connection.as_str(), "lin-org");
    let s = event.subject.as_ref().unwrap();
    assert_eq!(s.kind, SubjectKind::Comment);
    assert_eq!(
        s.parent.as_deref(),
        Some("539068e2-ae88-4d09-bd75-22eb4a59612f")
    );
    assert_eq!(
        event.dispatch,
        SessionDispatch::resume(integrations_core::webhook::ConversationKey::new(
            "linear",
            "issue",
            "539068e2-ae88-4d09-bd75-22eb4a59612f"
        ))
    );
    assert_eq!(
        event.source_order_key.as_deref(),
        Some("2020-01-23T12:53:18.084Z#00000001676056940508")
    );
    let event = deliver(&world, "linear/issue.create.korosuke613.json").await;
    let s = event.subject.as_ref().unwrap();
    assert_eq!(s.number.as_deref(), Some("KOR-11"));
    assert_eq!(s.container.as_deref(), Some("KOR"));
    assert_eq!(s.title.as_deref(), Some("webhook test"));

    let case = case_of("linear/comment.create.docs-example.json");
    let body = body(case.file);
    // Linear-Event must agree with the payload's type.
    clock_for(&world, case, &body);
    let signed = signer(LINEAR)
        .sign(
            &Delivery::new(&body, world.now())
                .with_id("d-x")
                .with_event("Issue"),
        )
        .unwrap();
    let response = world.ingest.handle(request(case, &signed)).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (400, codes::EVENT_TYPE_MISMATCH.to_owned())
    );
    // A replay a minute after the signed webhookTimestamp is refused.
    let signed = sign(&world, case, &body, "d-y");
    world.test.clock.advance(Duration::from_secs(60));
    let response = world.ingest.handle(request(case, &signed)).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (401, codes::TIMESTAMP_OUT_OF_WINDOW.to_owned())
    );
    // A changed timestamp inside the body breaks the signature.
    let text = String::from_utf8(body.clone()).unwrap();
    let moved = text.replace("1676056940508", "1676056940509");
    let response = world
        .ingest
        .handle(request(case, &signed.clone().with_body(moved.into_bytes())))
        .await;
    assert_eq!(response.status, 401);
}

/// Linear's `OAuthApp` `revoked` event (providers.md: `oauthClientId`,
/// `organizationId`), for the organization of connection `lin-org`.
fn oauth_app_revoked(world: &World, client: &str) -> Vec<u8> {
    let sent_ms = world.now().unix_millis();
    serde_json::to_vec(&json!({
        "action": "revoked",
        "type": "OAuthApp",
        "oauthClientId": client,
        "organizationId": "dc844923-f9a4-40a3-825c-dea7747e57d6",
        "createdAt": "2026-01-01T00:00:00.000Z",
        "webhookTimestamp": sent_ms,
        "webhookId": "5f0b0ab1-2b6e-4a59-a6b4-5b1f5c1f9d3e",
    }))
    .unwrap()
}

#[tokio::test]
async fn a_deauthorized_oauth_app_revokes_the_connection_of_its_target_only() {
    let world = World::new().await;
    world
        .target(
            "acme",
            "lin",
            LINEAR,
            json!({"client_id": "lin_client_ours"}),
            json!({"webhook_secret": LINEAR_SECRET}),
        )
        .await;
    let send = |body: Vec<u8>, id: &'static str| {
        let signed = signer(LINEAR)
            .sign(
                &Delivery::new(&body, world.now())
                    .with_id(id)
                    .with_event("OAuthApp"),
            )
            .unwrap();
        world.ingest.handle(signed.request(&key(LINEAR)))
    };

    // Another OAuth app's de-authorization is not this target's.
    let response = send(oauth_app_revoked(&world, "lin_client_other"), "d-other").await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (403, codes::TARGET_MISMATCH.to_owned())
    );
    assert_eq!(world.status("lin-org").await, ConnectionStatus::Active);

    let response = send(oauth_app_revoked(&world, "lin_client_ours"), "d-ours").await;
    assert_eq!(response.status, 200);
    let events = world.test.events.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type.as_str(), "linear.oauth_app.revoked");
    assert!(matches!(
        world.status("lin-org").await,
        ConnectionStatus::Revoked { reason } if reason.contains("de-authorized")
    ));
}

/// Issue 13 point 5: a body without `webhookTimestamp` has no signed send time. The
/// unsigned `Linear-Timestamp` header must not give it a replay window: such a delivery
/// could be replayed forever with a fresh header and delivery id.
#[tokio::test]
async fn a_body_without_a_signed_timestamp_is_refused_whatever_its_header() {
    let world = World::new().await;
    let mut value: Value =
        serde_json::from_slice(&body("linear/comment.create.docs-example.json")).unwrap();
    value.as_object_mut().unwrap().remove("webhookTimestamp");
    let unstamped = serde_json::to_vec(&value).unwrap();
    world
        .test
        .clock
        .set(Timestamp::from_unix_seconds(1_767_225_600));
    let signed = signer(LINEAR)
        .sign(
            &Delivery::new(&unstamped, world.now())
                .with_id("d-unstamped")
                .with_event("Comment"),
        )
        .unwrap()
        // A fresh header, as an attacker replaying the captured body would send it.
        .with_header("linear-timestamp", world.now().unix_millis().to_string());
    let response = world.ingest.handle(signed.request(&key(LINEAR))).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (401, codes::MISSING_TIMESTAMP.to_owned())
    );
    assert!(world.test.events.events().is_empty());
}
