//! The conformance suite, on every shipped definition: one table.

use std::sync::Arc;

use integrations_core::Timestamp;
use integrations_core::provider::Integration;
use integrations_definitions::github::GitHub;
use integrations_definitions::linear::Linear;
use integrations_definitions::openai::OpenAi;
use integrations_definitions::slack::Slack;
use integrations_testkit::conformance::{Check, Conformance, Outcome, WebhookSample};

const GITHUB_ISSUE: &[u8] = include_bytes!("../fixtures/github/issues.opened.payload.json");
const GHES_ISSUE: &[u8] = include_bytes!("../fixtures/github/ghes-3.5/issues.opened.json");
const LINEAR_COMMENT: &[u8] = include_bytes!("../fixtures/linear/comment.create.docs-example.json");
const SLACK_MENTION: &[u8] =
    include_bytes!("../fixtures/slack/event_callback.app_mention.docs-example.json");
const OPENAI_RESPONSE: &[u8] =
    include_bytes!("../fixtures/openai/response.completed.docs-example.json");

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(seconds)
}

fn table() -> Vec<(Arc<dyn Integration>, Vec<WebhookSample>)> {
    vec![
        (
            Arc::new(GitHub::cloud()),
            vec![WebhookSample::new(GITHUB_ISSUE, at(1_750_000_000)).with_event("issues")],
        ),
        (
            Arc::new(GitHub::enterprise_server()),
            vec![WebhookSample::new(GHES_ISSUE, at(1_750_000_000)).with_event("issues")],
        ),
        (
            Arc::new(Linear::new()),
            // Linear signs the body's own webhookTimestamp (milliseconds).
            vec![
                WebhookSample::new(
                    LINEAR_COMMENT,
                    Timestamp::from_unix_millis(1_676_056_940_508),
                )
                .with_event("Comment"),
            ],
        ),
        (
            Arc::new(Slack::new()),
            vec![WebhookSample::new(SLACK_MENTION, at(1_531_420_618))],
        ),
        (
            Arc::new(OpenAi::new()),
            vec![WebhookSample::new(OPENAI_RESPONSE, at(1_750_287_078))],
        ),
    ]
}

#[tokio::test]
async fn every_shipped_definition_conforms() {
    for (integration, samples) in table() {
        let mut suite = Conformance::new(integration);
        for sample in samples {
            suite = suite.with_webhook_sample(sample);
        }
        let report = suite.run().await;
        report.assert_passed();
        // Every check ran: none was skipped for a shipped definition, which all have
        // tools, webhooks and compiled plans.
        for check in Check::ALL {
            assert_eq!(
                report.outcome(check),
                Some(&Outcome::Passed),
                "{} {check}",
                report.key
            );
        }
    }
}
