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
