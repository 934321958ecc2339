//! Jira webhooks: `X-Hub-Signature: sha256=<hex>` over the raw body, deduplicated by
//! `X-Atlassian-Webhook-Identifier`, routed by the endpoint key of the webhook URL (one
//! Jira site per connection).

use integrations_core::provider::prelude::*;

const SIGNATURE: &str = "x-hub-signature";
const DELIVERY: &str = "x-atlassian-webhook-identifier";

pub(crate) fn source() -> WebhookSource {
    WebhookSource::new(HmacHexScheme::new(SIGNATURE).with_prefix("sha256="))
        .with_target_secret("webhook_secret")
        .with_delivery_header(DELIVERY)
}

/// The fields normalization reads, borrowed from the body.
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(rename = "webhookEvent")]
    webhook_event: &'a str,
    timestamp: Option<i64>,
    #[serde(borrow)]
    issue: Option<IssueRef<'a>>,
    #[serde(borrow)]
    user: Option<UserRef<'a>>,
}

#[derive(Deserialize)]
struct IssueRef<'a> {
    id: &'a str,
    key: &'a str,
    #[serde(borrow)]
    fields: Option<Fields<'a>>,
}

#[derive(Deserialize)]
struct Fields<'a> {
    summary: Option<&'a str>,
}

#[derive(Deserialize)]
struct UserRef<'a> {
    #[serde(rename = "displayName")]
    display_name: Option<&'a str>,
}

/// Classifies and normalizes Jira's deliveries.
pub(crate) struct JiraWebhooks;

impl WebhookHandler for JiraWebhooks {
    fn classify(&self, request: &InboundRequest<'_>) -> Result<Classification> {
        Classification::endpoint_event(request, DELIVERY)
    }

    fn normalize(
        &self,
        request: &InboundRequest<'_>,
        _context: &NormalizeContext<'_>,
    ) -> Result<Normalized> {
        let payload: Payload<'_> = request.json("a Jira webhook delivery")?;
        // `jira:issue_updated` → `jira.issue.updated`; `comment_created` → `jira.comment.created`.
        let name = payload.webhook_event.trim_start_matches("jira:");
        let (object, action) = name.split_once('_').unwrap_or((name, "unknown"));
        let mut normalized = Normalized::new(
            EventType::from_parts("jira", object, action),
            payload.webhook_event,
        )
        .with_occurred_at(payload.timestamp.map(Timestamp::from_unix_millis));
        if let Some(issue) = payload.issue {
            let mut subject =
                EventSubject::new(SubjectKind::Issue, issue.id).with_number(issue.key);
            subject.title = issue.fields.and_then(|f| f.summary).map(str::to_owned);
            subject.actor = payload.user.and_then(|u| u.display_name).map(str::to_owned);
            subject.container = issue
                .key
                .split_once('-')
                .map(|(project, _)| project.to_owned());
            normalized = normalized.with_subject(Some(subject));
        }
        Ok(normalized)
    }
}
