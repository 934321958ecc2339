//! Linear webhooks: `Linear-Signature` (bare hex HMAC-SHA256 of the raw body), the
//! body's `webhookTimestamp` (milliseconds) within 60 s checked after the signature,
//! `Linear-Delivery` deduplicates, `Linear-Event` must agree with the payload's `type`,
//! routed by `organizationId` or an endpoint key.
//!
//! A body without `webhookTimestamp` is refused (`webhook.missing_timestamp`): Linear's
//! SDK falls back to the `Linear-Timestamp` header for such bodies, but that header is
//! not signed, so a captured body could be replayed forever under a fresh header and
//! delivery id. Linear puts the field in every delivery it sends today.

use std::borrow::Cow;
use std::time::Duration;

use integrations_core::model::CredentialType;
use integrations_core::webhook::{
    BodyTimestamp, Classification, ConversationKey, EventRoute, EventSubject, EventType,
    GrantChange, HmacHexScheme, InboundRequest, NormalizeContext, Normalized, Routing,
    SessionDispatch, SubjectKind, TimestampUnit, WebhookEvent, WebhookHandler, WebhookSource,
    errors, is_form_encoded, lenient_timestamp, snake_case, source_order_key,
};
use integrations_core::{Error, Timestamp};
use serde::Deserialize;

use super::Linear;

/// `Linear-Signature`.
pub const SIGNATURE_HEADER: &str = "linear-signature";
/// `Linear-Delivery`.
pub const DELIVERY_HEADER: &str = "linear-delivery";
/// `Linear-Event`.
pub const EVENT_HEADER: &str = "linear-event";
/// `Linear-Timestamp`: never read, as it is not signed (see the module docs).
pub const TIMESTAMP_HEADER: &str = "linear-timestamp";
/// The body field holding the send time in milliseconds.
pub const TIMESTAMP_FIELD: &str = "webhookTimestamp";

pub(super) fn source() -> WebhookSource {
    WebhookSource::new(HmacHexScheme::new(SIGNATURE_HEADER).with_body_timestamp(
        BodyTimestamp::new(
            TIMESTAMP_FIELD,
            TimestampUnit::Milliseconds,
            Duration::from_secs(60),
        ),
    ))
    .with_target_secret("webhook_secret")
    .with_connection_credential(CredentialType::WEBHOOK_SECRET)
    .with_event_header(EVENT_HEADER)
    .with_event_field("type")
    .with_delivery_header(DELIVERY_HEADER)
    .with_ack_deadline(Duration::from_secs(5))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoutingFields<'a> {
    #[serde(borrow, default)]
    organization_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    oauth_client_id: Option<Cow<'a, str>>,
}

/// The `type` of the event Linear sends when a workspace de-authorizes an OAuth app.
const OAUTH_APP: &str = "OAuthApp";

/// What an event changes about the connection: an `OAuthApp` `revoked` (the workspace
/// de-authorized the app) revokes it.
fn grant_change(kind: &str, action: &str) -> Option<GrantChange> {
    (kind == OAUTH_APP && action == "revoked")
        .then(|| GrantChange::revoked("the Linear workspace de-authorized the OAuth app"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    created_at: Option<Timestamp>,
    #[serde(borrow, default)]
    data: Option<Data<'a>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
    #[serde(default)]
    webhook_timestamp: Option<i64>,
    #[serde(borrow, default)]
    actor: Option<Named<'a>>,
    #[serde(borrow, default)]
    agent_session: Option<AgentSession<'a>>,
}

/// The fields every Linear event has, read alone when others have unexpected types.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bare<'a> {
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(default)]
    webhook_timestamp: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    identifier: Option<Cow<'a, str>>,
    #[serde(default)]
    number: Option<serde_json::Number>,
    #[serde(borrow, default)]
    title: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    description: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    body: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    issue_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    issue: Option<IssueRef<'a>>,
    #[serde(borrow, default)]
    team: Option<Team<'a>>,
    #[serde(borrow, default)]
    user: Option<Named<'a>>,
    #[serde(borrow, default)]
    creator: Option<Named<'a>>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    updated_at: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IssueRef<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    identifier: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    title: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Team<'a> {
    #[serde(borrow, default)]
    key: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentSession<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    issue_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    issue: Option<IssueRef<'a>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
}

fn owned(value: Option<&Cow<'_, str>>) -> Option<String> {
    value.map(|v| v.clone().into_owned())
}

fn name_of(named: Option<&Named<'_>>) -> Option<String> {
    named.and_then(|n| owned(n.name.as_ref().or(n.id.as_ref())))
}

/// `create` → `created`, `update` → `updated`, `remove` → `removed`; other actions
/// (`set`, `highRisk`, `prompted`, `revoked`) in snake case.
fn action_word(action: &str) -> String {
    match action {
        "create" => "created".to_owned(),
        "update" => "updated".to_owned(),
        "remove" => "removed".to_owned(),
        other => snake_case(other),
    }
}

/// A Linear number is a JSON number (a float in the GraphQL schema): `11`, never `11.0`.
fn number_text(n: &serde_json::Number) -> String {
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    match n.as_f64() {
        #[allow(clippy::cast_possible_truncation, reason = "a whole number in range")]
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => (f as i64).to_string(),
        _ => n.to_string(),
    }
}

impl Payload<'_> {
    fn subject(&self) -> Option<EventSubject> {
        let actor = name_of(self.actor.as_ref());
        if let Some(session) = &self.agent_session {
            let mut subject = EventSubject::new(
                SubjectKind::Other,
                owned(session.id.as_ref()).unwrap_or_default(),
            );
            let issue = session.issue.as_ref();
            subject.parent = owned(
                session
                    .issue_id
                    .as_ref()
                    .or_else(|| issue.and_then(|i| i.id.as_ref())),
            );
            subject.number = issue.and_then(|i| owned(i.identifier.as_ref()));
            subject.title = issue.and_then(|i| owned(i.title.as_ref()));
            subject.url =
                owned(session.url.as_ref()).or_else(|| issue.and_then(|i| owned(i.url.as_ref())));
            subject.actor = actor;
            return Some(subject);
        }
        let data = self.data.as_ref()?;
        let id = owned(data.id.as_ref())?;
        let url = owned(data.url.as_ref()).or_else(|| owned(self.url.as_ref()));
        let subject = match self.kind.as_ref() {
            "Issue" => {
                let mut s = EventSubject::new(SubjectKind::Issue, id);
                let team = data.team.as_ref().and_then(|t| owned(t.key.as_ref()));
                s.number = owned(data.identifier.as_ref()).or_else(|| {
                    let number = data.number.as_ref().map(number_text)?;
                    Some(match &team {
                        Some(team) => format!("{team}-{number}"),
                        None => number,
                    })
                });
                s.title = owned(data.title.as_ref());
                s.text = owned(data.description.as_ref());
                s.actor = actor.or_else(|| name_of(data.creator.as_ref()));
                s.container = team;
                s.url = url;
                s
            }
            "Comment" => {
                let mut s = EventSubject::new(SubjectKind::Comment, id);
                let issue = data.issue.as_ref();
                s.text = owned(data.body.as_ref());
                s.parent = owned(
                    data.issue_id
                        .as_ref()
                        .or_else(|| issue.and_then(|i| i.id.as_ref())),
                );
                s.number = issue.and_then(|i| owned(i.identifier.as_ref()));
                s.title = issue.and_then(|i| owned(i.title.as_ref()));
                s.actor = actor.or_else(|| name_of(data.user.as_ref()));
                s.url = url;
                s
            }
            _ => {
                let mut s = EventSubject::new(SubjectKind::Other, id);
                s.title = owned(data.title.as_ref().or(data.name.as_ref()));
                s.actor = actor;
                s.url = url;
                s
            }
        };
        Some(subject)
    }
}

impl WebhookHandler for Linear {
    fn classify(&self, request: &InboundRequest<'_>) -> Result<Classification, Error> {
        let delivery = request
            .headers
            .get(DELIVERY_HEADER)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| errors::missing_header(DELIVERY_HEADER))?;
        if is_form_encoded(request.headers.get("content-type"), request.body) {
            return Err(errors::unsupported_content_type());
        }
        let fields: RoutingFields<'_> = serde_json::from_slice(request.body)
            .map_err(|_| errors::invalid_payload("not a Linear JSON object"))?;
        let mut routing = Routing::optional_subject(fields.organization_id.map(Cow::into_owned));
        // An app's de-authorization names the app: it must be the target's OAuth client.
        if fields.kind.as_deref() == Some(OAUTH_APP)
            && let Some(client) = fields.oauth_client_id
        {
            routing = routing.with_target_claim("/client_id", client.into_owned());
        }
        Ok(Classification::Event(
            EventRoute::new(routing, delivery).with_delivery_id(delivery),
        ))
    }

    fn normalize(
        &self,
        request: &InboundRequest<'_>,
        context: &NormalizeContext<'_>,
    ) -> Result<Normalized, Error> {
        // A payload whose other fields have unexpected types still normalizes, without a
        // subject.
        let payload: Payload<'_> = if let Ok(payload) = serde_json::from_slice(request.body) {
            payload
        } else {
            let bare: Bare<'_> = serde_json::from_slice(request.body)
                .map_err(|_| errors::invalid_payload("not a Linear event (action and type)"))?;
            Payload {
                action: bare.action,
                kind: bare.kind,
                created_at: None,
                data: None,
                url: None,
                webhook_timestamp: bare.webhook_timestamp,
                actor: None,
                agent_session: None,
            }
        };
        let header = request
            .headers
            .get(EVENT_HEADER)
            .ok_or_else(|| errors::missing_header(EVENT_HEADER))?;
        if header != payload.kind {
            return Err(errors::event_type_mismatch(EVENT_HEADER));
        }
        let event_type = EventType::from_parts(
            "linear",
            &snake_case(&payload.kind),
            &action_word(&payload.action),
        );
        let occurred_at = payload
            .created_at
            .or_else(|| payload.data.as_ref().and_then(|d| d.updated_at))
            .or(payload.webhook_timestamp.map(Timestamp::from_unix_millis))
            .or(context.signed_at);
        let order_id = payload
            .webhook_timestamp
            .map_or_else(|| context.route.dedup_id.clone(), |ms| ms.to_string());
        Ok(Normalized::new(event_type, payload.kind.as_ref())
            .with_occurred_at(occurred_at)
            .with_source_order_key(occurred_at.map(|at| source_order_key(at, &order_id)))
            .with_subject(payload.subject())
            .with_grant(grant_change(&payload.kind, &payload.action)))
    }

    fn dispatch(&self, event: &WebhookEvent) -> SessionDispatch {
        let Some(subject) = &event.subject else {
            return SessionDispatch::ignore("no issue");
        };
        let issue = match subject.kind {
            SubjectKind::Issue => Some(&subject.id),
            _ => subject.parent.as_ref(),
        };
        let Some(issue) = issue else {
            return SessionDispatch::ignore("no issue");
        };
        let key = ConversationKey::new("linear", "issue", issue);
        match (event.event_type.object(), event.event_type.action()) {
            ("issue" | "agent_session_event", "created") => SessionDispatch::create(key),
            ("issue", "updated") | ("comment", "created") | ("agent_session_event", "prompted") => {
                SessionDispatch::resume(key)
            }
            _ => SessionDispatch::ignore("not a conversation event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_numbers() {
        assert_eq!(action_word("create"), "created");
        assert_eq!(action_word("highRisk"), "high_risk");
        assert_eq!(number_text(&serde_json::Number::from(11)), "11");
        assert_eq!(
            number_text(&serde_json::Number::from_f64(11.0).unwrap()),
            "11"
        );
    }
}
