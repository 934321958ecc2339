//! GitHub (cloud and Enterprise Server): subjects, order keys, conversations, form bodies, refusals.

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
