//! OpenAI (Standard Webhooks): the published vector, the window, dotted event types, endpoint routing.

use super::*;

#[tokio::test]
async fn openai_events_verify_the_published_vector_and_map_dotted_types() {
    let world = World::new().await;
    let case = case_of("openai/response.completed.sdk-test-vector.body.json");
    let body = body(case.file);
    clock_for(&world, case, &body);
    let signed = sign(&world, case, &body, "wh_685c059ae39c8190af8c71ed1022a24d");
    assert_eq!(
        signed.header("webhook-signature"),
        Some("v1,gUAg4R2hWouRZqRQG4uJypNS8YK885G838+EHb4nKBY=")
    );
    let event = world
        .ingest
        .ingest(request(case, &signed))
        .await
        .unwrap()
        .event
        .unwrap();
    assert_eq!(
        event.external_event_id,
        "wh_685c059ae39c8190af8c71ed1022a24d"
    );
    assert_eq!(event.subject.as_ref().unwrap().id, "resp_123");
    assert_eq!(
        event.dispatch.key().unwrap().to_string(),
        "openai:response:resp_123"
    );

    // Too old: 301 s after the signed timestamp.
    world.test.clock.advance(Duration::from_secs(301));
    let response = world.ingest.handle(request(case, &signed)).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (401, codes::TIMESTAMP_OUT_OF_WINDOW.to_owned())
    );

    // Dotted types become three segments.
    let body = br#"{"id":"evt_1","object":"event","created_at":1767225600,"type":"fine_tuning.job.succeeded","data":{"id":"ftjob_1"}}"#;
    world
        .test
        .clock
        .set(Timestamp::from_unix_seconds(1_767_225_600));
    let signed = signer(OPENAI)
        .sign(&Delivery::new(body, world.now()).with_id("wh_2"))
        .unwrap();
    let event = world
        .ingest
        .ingest(signed.request_to(&key(OPENAI), "ep-openai"))
        .await
        .unwrap()
        .event
        .unwrap();
    assert_eq!(
        event.event_type.as_str(),
        "openai.fine_tuning_job.succeeded"
    );
    assert_eq!(event.dispatch.as_str(), "ignore");
    // Without an endpoint key an OpenAI delivery cannot be routed.
    let response = world.ingest.handle(signed.request(&key(OPENAI))).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (404, codes::UNROUTABLE.to_owned())
    );
}
