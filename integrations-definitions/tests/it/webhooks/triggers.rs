//! Sync triggers: the events the shipped normalizers produce from real deliveries name
//! the streams their sync sources offer.

use integrations_core::sync::SyncTriggers;
use integrations_core::webhook::EventType;
use integrations_definitions::{github, linear, slack};

use super::*;

/// A fixture, its provider's triggers, and the streams it must touch.
type Case = (&'static str, fn() -> SyncTriggers, &'static [&'static str]);

#[tokio::test]
async fn real_deliveries_trigger_their_streams() {
    let world = World::new().await;
    let expected: &[Case] = &[
        (
            "linear/issue.update.korosuke613.json",
            linear::sync_triggers,
            &["issues"],
        ),
        (
            "linear/issue.create.korosuke613.json",
            linear::sync_triggers,
            &["issues"],
        ),
        (
            "linear/comment.create.docs-example.json",
            linear::sync_triggers,
            &["comments"],
        ),
        (
            "github/issues.opened.payload.json",
            github::sync_triggers,
            &["issues"],
        ),
        (
            "github/issues.edited.payload.json",
            github::sync_triggers,
            &["issues"],
        ),
        (
            "github/pull_request.opened.payload.json",
            github::sync_triggers,
            &["pull_requests"],
        ),
        (
            "github/pull_request.closed.payload.json",
            github::sync_triggers,
            &["pull_requests"],
        ),
        ("github/push.payload.json", github::sync_triggers, &[]),
        // A comment moves its issue's (or pull request's) `updated_at` and count.
        (
            "github/issue_comment.created.payload.json",
            github::sync_triggers,
            &["issues", "pull_requests"],
        ),
        (
            "slack/event_callback.message.channels.docs-example.json",
            slack::sync_triggers,
            &["messages"],
        ),
        (
            "slack/event_callback.app_mention.docs-example.json",
            slack::sync_triggers,
            &[],
        ),
    ];
    for (file, triggers, streams) in expected {
        let event = deliver(&world, file).await;
        let triggers = triggers();
        let got: Vec<&str> = triggers
            .streams_for(&event.event_type)
            .into_iter()
            .collect();
        assert_eq!(&got, streams, "{file} ({})", event.event_type);
    }
    // Reviews move their pull request's `updated_at`.
    for event in [
        "github.pull_request_review.submitted",
        "github.pull_request_review_comment.created",
        "github.pull_request_review_thread.resolved",
    ] {
        let event = EventType::new(event).unwrap();
        assert_eq!(
            github::sync_triggers()
                .streams_for(&event)
                .into_iter()
                .collect::<Vec<_>>(),
            ["pull_requests"],
            "{event}"
        );
    }
    // A project event (Linear's `Project` type) names the projects stream.
    let project = EventType::new("linear.project.updated").unwrap();
    assert_eq!(
        linear::sync_triggers()
            .streams_for(&project)
            .into_iter()
            .collect::<Vec<_>>(),
        ["projects"]
    );
}
