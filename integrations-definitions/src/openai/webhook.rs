//! OpenAI webhooks: [Standard Webhooks](https://www.standardwebhooks.com/)
//! (`webhook-id`, `webhook-timestamp` within 300 s, `webhook-signature: v1,<base64>`,
//! `whsec_` secrets). Webhooks are configured per project and the payload names no
//! project, so deliveries route by an endpoint key; `webhook-id` deduplicates.
//!
//! Event types map into `openai.<object>.<action>` by joining all but the last dotted
//! segment with `_`: `response.completed` → `openai.response.completed`,
//! `fine_tuning.job.succeeded` → `openai.fine_tuning_job.succeeded`.

use std::borrow::Cow;
use std::time::Duration;

use integrations_core::model::CredentialType;
use integrations_core::webhook::{
    Classification, ConversationKey, EventSubject, EventType, InboundRequest, NormalizeContext,
    Normalized, SessionDispatch, StandardScheme, SubjectKind, WebhookEvent, WebhookHandler,
    WebhookSource, errors, source_order_key,
};
use integrations_core::{Error, Timestamp};
use serde::Deserialize;

use super::OpenAi;

/// `webhook-id`.
pub const ID_HEADER: &str = "webhook-id";
/// `webhook-timestamp`.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// `webhook-signature`.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

pub(super) fn source() -> WebhookSource {
    WebhookSource::new(StandardScheme::new(
        ID_HEADER,
        TIMESTAMP_HEADER,
        SIGNATURE_HEADER,
    ))
    .with_target_secret("webhook_secret")
    .with_connection_credential(CredentialType::WEBHOOK_SECRET)
    .with_delivery_header(ID_HEADER)
    .with_ack_deadline(Duration::from_secs(5))
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(borrow, default)]
    data: Option<Data<'a>>,
}

/// The fields every event has, read alone when `data` has unexpected types.
#[derive(Deserialize)]
struct Bare<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(default)]
    created_at: Option<i64>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
}

/// `a.b` → (`a`, `b`); `a.b.c` → (`a_b`, `c`); `a` → (`a`, `received`).
fn object_and_action(kind: &str) -> (String, &str) {
    match kind.rsplit_once('.') {
        Some((object, action)) => (object.replace('.', "_"), action),
        None => (kind.to_owned(), "received"),
    }
}

impl WebhookHandler for OpenAi {
    fn classify(&self, request: &InboundRequest<'_>) -> Result<Classification, Error> {
        Classification::endpoint_event(request, ID_HEADER)
    }

    fn normalize(
        &self,
        request: &InboundRequest<'_>,
        context: &NormalizeContext<'_>,
    ) -> Result<Normalized, Error> {
        // A payload whose `data` has unexpected types still normalizes, without a subject.
        let payload: Payload<'_> = if let Ok(payload) = serde_json::from_slice(request.body) {
            payload
        } else {
            let bare: Bare<'_> = serde_json::from_slice(request.body)
                .map_err(|_| errors::invalid_payload("not an OpenAI event (id and type)"))?;
            Payload {
                id: bare.id,
                kind: bare.kind,
                created_at: bare.created_at,
                data: None,
            }
        };
        let (object, action) = object_and_action(&payload.kind);
        let occurred_at = payload
            .created_at
            .map(Timestamp::from_unix_seconds)
            .or(context.signed_at);
        let subject = payload.data.as_ref().and_then(|d| d.id.as_ref()).map(|id| {
            let mut s = EventSubject::new(SubjectKind::Other, id.as_ref());
            s.container = Some(object.clone());
            s
        });
        Ok(Normalized::new(
            EventType::from_parts("openai", &object, action),
            payload.kind.as_ref(),
        )
        .with_occurred_at(occurred_at)
        .with_source_order_key(occurred_at.map(|at| source_order_key(at, &payload.id)))
        .with_subject(subject))
    }

    fn dispatch(&self, event: &WebhookEvent) -> SessionDispatch {
        // A background response finishing continues the session that started it.
        match (event.event_type.object(), &event.subject) {
            ("response", Some(subject)) => {
                SessionDispatch::resume(ConversationKey::new("openai", "response", &subject.id))
            }
            _ => SessionDispatch::ignore("not a conversation event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_types_map_to_three_segments() {
        assert_eq!(
            object_and_action("response.completed"),
            ("response".to_owned(), "completed")
        );
        assert_eq!(
            object_and_action("fine_tuning.job.succeeded"),
            ("fine_tuning_job".to_owned(), "succeeded")
        );
        assert_eq!(
            object_and_action("eval.run.canceled"),
            ("eval_run".to_owned(), "canceled")
        );
        assert_eq!(object_and_action("x"), ("x".to_owned(), "received"));
    }
}
