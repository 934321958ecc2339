//! Slack: the verified challenge, the published vector, routing by team, threads and bots, interactions, acknowledge-now.

use super::*;

#[tokio::test]
async fn a_slack_challenge_is_echoed_only_after_the_signature_verifies() {
    let world = World::new().await;
    let case = case_of("slack/url_verification.docs-example.json");
    let body = body(case.file);
    let challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";
    let signed = sign(&world, case, &body, "unused");
    let answered = world.ingest.ingest(request(case, &signed)).await.unwrap();
    assert_eq!(answered.outcome, IngestOutcome::Answered);
    assert_eq!(answered.response.body, challenge);
    assert!(answered.response.headers["content-type"].starts_with("text/plain"));

    let forged = WebhookSigner::for_definition(&Slack::new(), "not-the-signing-secret")
        .unwrap()
        .sign(&Delivery::new(&body, world.now()))
        .unwrap();
    let unsigned = signed.clone().without_header("x-slack-signature");
    for (request, status, stale) in [
        (request(case, &forged), 401, false),
        (request(case, &unsigned), 400, false),
        (request(case, &signed), 401, true),
    ] {
        if stale {
            world.test.clock.advance(Duration::from_secs(301));
        }
        let response = world.ingest.handle(request).await;
        assert_eq!(response.status, status);
        assert!(!String::from_utf8_lossy(&response.body).contains(challenge));
        assert_eq!(
            response.headers.get("x-slack-no-retry").map(String::as_str),
            Some("1")
        );
    }
    assert!(world.test.events.events().is_empty());
}

#[tokio::test]
async fn slack_signatures_match_the_published_vector_end_to_end() {
    let world = World::new().await;
    let case = case_of("slack/slash_command.signing-example.body.txt");
    let body = body(case.file);
    clock_for(&world, case, &body);
    let signed = sign(&world, case, &body, "unused");
    assert_eq!(
        signed.header("x-slack-signature"),
        Some("v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
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
        "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    );
    assert_eq!(event.connection.as_str(), "sl-4");
    let s = event.subject.as_ref().unwrap();
    assert_eq!(s.title.as_deref(), Some("/webhook-collect"));
    assert_eq!(s.container.as_deref(), Some("G8PSS9T3V"));
    assert_eq!(
        event.occurred_at,
        Some(Timestamp::from_unix_seconds(1_531_420_618))
    );
}

#[tokio::test]
async fn slack_events_route_by_team_and_refuse_another_app() {
    let world = World::new().await;
    let event = deliver(&world, "slack/event_callback.message.im.docs-example.json").await;
    assert_eq!(
        (event.tenant.as_str(), event.connection.as_str()),
        ("beta", "sl-beta")
    );
    let s = event.subject.as_ref().unwrap();
    assert_eq!(s.container.as_deref(), Some("D024BE91L"));
    assert_eq!(s.text.as_deref(), Some("Hello hello can you hear me?"));
    assert_eq!(
        event.dispatch.key().unwrap().to_string(),
        "slack:D024BE91L:1355517523.000005"
    );
    assert_eq!(
        event.source_order_key.as_deref(),
        Some("2012-12-14T20:38:43.000Z#00000000001355517523.000005")
    );

    // The target names its app: another app's events are refused after verification.
    world
        .target(
            "acme",
            "slack",
            SLACK,
            json!({"app_id": "A0NOTTHIS"}),
            json!({"signing_secret": SLACK_SECRET}),
        )
        .await;
    let case = case_of("slack/event_callback.app_mention.docs-example.json");
    let body = body(case.file);
    let signed = sign(&world, case, &body, "x");
    let response = world.ingest.handle(request(case, &signed)).await;
    assert_eq!(
        (response.status.as_u16(), error_code(&response)),
        (403, codes::TARGET_MISMATCH.to_owned())
    );
    world
        .target(
            "acme",
            "slack",
            SLACK,
            json!({"app_id": "A123ABC456"}),
            json!({"signing_secret": SLACK_SECRET}),
        )
        .await;
    assert_eq!(
        world.ingest.handle(request(case, &signed)).await.status,
        200
    );
}

#[tokio::test]
async fn slack_threads_bots_and_ssl_checks() {
    let world = World::new().await;
    let at = world.now().unix_seconds();
    let message = |extra: Value, id: &str| {
        let mut event = json!({"type": "message", "channel": "C024BE91L", "user": "U1", "text": "hi", "ts": "1767225600.000200", "channel_type": "channel"});
        for (k, v) in extra.as_object().unwrap() {
            event[k] = v.clone();
        }
        serde_json::to_vec(&json!({"type": "event_callback", "team_id": "T123ABC456", "api_app_id": "A1", "event_id": id, "event_time": at, "event": event})).unwrap()
    };
    let send = |body: Vec<u8>| {
        let signed = signer(SLACK)
            .sign(&Delivery::new(&body, world.now()))
            .unwrap();
        let ingest = world.ingest.clone();
        async move {
            ingest
                .ingest(signed.request(&key(SLACK)))
                .await
                .unwrap()
                .event
                .unwrap()
        }
    };
    let reply = send(message(json!({"thread_ts": "1767225000.000100"}), "Ev1")).await;
    assert_eq!(
        reply.dispatch,
        SessionDispatch::resume(integrations_core::webhook::ConversationKey::new(
            "slack",
            "C024BE91L",
            "1767225000.000100"
        ))
    );
    let bot = send(message(
        json!({"bot_id": "B1", "thread_ts": "1767225000.000100"}),
        "Ev2",
    ))
    .await;
    assert_eq!(bot.dispatch, SessionDispatch::ignore("bot message"));
    let edited = send(message(
        json!({"subtype": "message_changed", "message": {"text": "edited", "user": "U1", "ts": "1767225600.000200"}}),
        "Ev3",
    ))
    .await;
    assert_eq!(edited.event_type.as_str(), "slack.message.edited");
    assert_eq!(
        edited.subject.as_ref().unwrap().text.as_deref(),
        Some("edited")
    );
    let reaction = send(
        serde_json::to_vec(&json!({"type": "event_callback", "team_id": "T123ABC456", "event_id": "Ev4", "event_time": at,
            "event": {"type": "reaction_added", "user": "U1", "reaction": "eyes", "item": {"type": "message", "channel": "C1", "ts": "1.2"}, "event_ts": "1767225600.000300"}}))
        .unwrap(),
    )
    .await;
    assert_eq!(reaction.event_type.as_str(), "slack.reaction.added");
    assert_eq!(
        reaction.subject.as_ref().unwrap().title.as_deref(),
        Some("eyes")
    );
    let channel = send(
        serde_json::to_vec(&json!({"type": "event_callback", "team_id": "T123ABC456", "event_id": "Ev5", "event_time": at,
            "event": {"type": "channel_created", "channel": {"id": "C9", "name": "new"}, "event_ts": "1767225600.000400"}}))
        .unwrap(),
    )
    .await;
    assert_eq!(channel.event_type.as_str(), "slack.channel.created");

    // An ssl_check probe is unsigned and answered empty, with no event.
    let probe = integrations_core::webhook::WebhookRequest::new(
        key(SLACK),
        integrations_core::webhook::Headers::new()
            .with("content-type", "application/x-www-form-urlencoded"),
        "ssl_check=1&token=x",
    );
    let answered = world.ingest.ingest(probe).await.unwrap();
    assert_eq!(answered.outcome, IngestOutcome::Answered);
    assert!(answered.response.body.is_empty());
    assert_eq!(world.test.events.events().len(), 5);
}

#[tokio::test]
async fn slack_interactions_are_events_deduplicated_by_trigger() {
    let world = World::new().await;
    let mut payload = json!({"type": "block_actions", "team": {"id": "T123ABC456"}, "api_app_id": "A1",
        "token": "verification-TOKEN-7f1", "response_url": "https://hooks.slack.com/actions/T1/2/abc",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0", "user": {"id": "U1"}, "channel": {"id": "C1"}, "actions": []});
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let signed = signer(SLACK)
        .sign(&Delivery::new(form.as_bytes(), world.now()))
        .unwrap();
    let event = world
        .ingest
        .ingest(signed.request(&key(SLACK)))
        .await
        .unwrap()
        .event
        .unwrap();
    assert_eq!(event.event_type.as_str(), "slack.interaction.block_actions");
    assert_eq!(
        event.external_event_id,
        "13345224609.738474920.8088930838d88f008e0"
    );
    // The payload, but Slack's verification token.
    let payload_back: Value = serde_json::from_str(event.payload.get()).unwrap();
    payload.as_object_mut().unwrap().remove("token");
    assert_eq!(payload_back, payload);
    assert!(!event.payload.get().contains("verification-TOKEN-7f1"));
    let again = world
        .ingest
        .ingest(signed.request(&key(SLACK)))
        .await
        .unwrap();
    assert_eq!(again.outcome, IngestOutcome::Duplicate);
}

#[tokio::test]
async fn slack_can_be_acknowledged_now_and_processed_later() {
    let world = World::new().await;
    let case = case_of("slack/event_callback.app_mention.docs-example.json");
    let body = body(case.file);
    let signed = sign(&world, case, &body, "x");
    assert_eq!(
        world.ingest.source(&key(SLACK)).unwrap().ack_deadline(),
        Some(Duration::from_secs(3))
    );
    let accepted = world.ingest.accept(request(case, &signed)).await.unwrap();
    assert_eq!(
        (accepted.outcome, accepted.response.status.as_u16()),
        (IngestOutcome::Accepted, 200)
    );
    assert!(world.test.events.events().is_empty());
    let delivered = tokio::spawn(accepted.pending.unwrap().deliver())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivered.event_type.as_str(), "slack.app_mention.created");
    assert_eq!(world.test.events.events().len(), 1);
}

/// An `event_callback` of the shape Slack's Events API documents, for team `T123ABC456`.
fn callback(event: &Value, event_id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "token": "XXYYZZ",
        "team_id": "T123ABC456",
        "api_app_id": "A123ABC456",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_767_225_600,
    }))
    .unwrap()
}

async fn send(world: &World, body: &[u8]) -> integrations_core::webhook::Ingested {
    let signed = signer(SLACK)
        .sign(&Delivery::new(body, world.now()))
        .unwrap();
    world
        .ingest
        .ingest(signed.request(&key(SLACK)))
        .await
        .unwrap()
}

#[tokio::test]
async fn slack_uninstalls_and_revoked_bot_tokens_revoke_the_connection() {
    // User tokens revoked: the bot token, and the connection, are left alone.
    let world = World::new().await;
    let users_only = callback(
        &json!({"type": "tokens_revoked", "tokens": {"oauth": ["U061F7AUR"], "bot": []}}),
        "Ev01USERS",
    );
    let ingested = send(&world, &users_only).await;
    assert_eq!(
        ingested.event.unwrap().event_type.as_str(),
        "slack.tokens.revoked"
    );
    assert_eq!(world.status("sl-1").await, ConnectionStatus::Active);

    // The bot token revoked: the connection is.
    let bot = callback(
        &json!({"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0BOT1234"]}}),
        "Ev01BOT",
    );
    assert_eq!(send(&world, &bot).await.outcome, IngestOutcome::Delivered);
    assert!(matches!(
        world.status("sl-1").await,
        ConnectionStatus::Revoked { reason } if reason.contains("bot token")
    ));

    // The app uninstalled.
    let world = World::new().await;
    let uninstalled = callback(&json!({"type": "app_uninstalled"}), "Ev01UNINSTALL");
    let ingested = send(&world, &uninstalled).await;
    assert_eq!(
        ingested.event.unwrap().event_type.as_str(),
        "slack.app.uninstalled"
    );
    assert!(matches!(
        world.status("sl-1").await,
        ConnectionStatus::Revoked { reason } if reason.contains("uninstalled")
    ));
    // Slack's retry of the same event is a duplicate; a new event finds no connection.
    assert_eq!(
        send(&world, &uninstalled).await.outcome,
        IngestOutcome::Duplicate
    );
    let later = callback(
        &json!({"type": "app_mention", "user": "U061F7AUR", "text": "hi", "ts": "1.2", "channel": "C1", "event_ts": "1.2"}),
        "Ev01LATER",
    );
    let signed = signer(SLACK)
        .sign(&Delivery::new(&later, world.now()))
        .unwrap();
    let refused = world.ingest.handle(signed.request(&key(SLACK))).await;
    assert_eq!(
        (refused.status.as_u16(), error_code(&refused)),
        (404, codes::CONNECTION_NOT_FOUND.to_owned())
    );
}
