//! Slack requests: the Events API (JSON), slash commands and interactivity (forms), all
//! signed `v0` over `v0:{X-Slack-Request-Timestamp}:{raw body}` within 300 s.
//!
//! * `url_verification` is answered with its challenge, **after** the signature
//!   verifies: on the app-level route (`/webhooks/slack/{variant}`) against the signing
//!   secrets of the definition's targets, as Slack sends it before any workspace installs
//!   the app; on an endpoint route against its connection's target.
//! * `event_callback` events deduplicate by `event_id` and route by `team_id`; the
//!   `api_app_id` must be the target's `app_id` when the target names one.
//! * Slash commands and interactions deduplicate by `trigger_id`.
//! * `ssl_check=1` probes (unsigned, carrying nothing) get an empty 200.
//! * Payloads leave out Slack's deprecated verification `token`: a long-lived shared
//!   secret some apps still accept as proof a request came from Slack, which the signing
//!   secret replaces; it is never stored with the event nor handed to the event sink.
//!   A slash command's or interaction's `response_url` is kept (the host answers through
//!   it); it lets its holder post into the channel for 30 minutes, so hosts that keep
//!   events longer treat it as sensitive.
//!
//! Slack wants an answer within 3 s: hosts with slow sinks use
//! [`Ingest::accept`](integrations_core::webhook::Ingest::accept).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use http::StatusCode;
use integrations_core::model::CredentialType;
use integrations_core::webhook::{
    Classification, ConversationKey, EventRoute, EventSubject, EventType, GrantChange, Handshake,
    InboundRequest, NormalizeContext, Normalized, Routing, SessionDispatch, SlackScheme,
    SubjectKind, WebhookEvent, WebhookHandler, WebhookResponse, WebhookSource, errors,
    form_to_json, form_value, is_form_encoded, is_json_content_type, raw_json, source_order_key,
};
use integrations_core::{Error, Timestamp};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::Slack;

/// `X-Slack-Signature`.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// `X-Slack-Request-Timestamp`.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// `X-Slack-No-Retry`: a 4xx answer with it asks Slack not to retry.
pub const NO_RETRY_HEADER: &str = "x-slack-no-retry";

/// Past-tense verbs that end Slack event names (`channel_created`, `app_uninstalled`).
const VERBS: &[&str] = &[
    "added",
    "archive",
    "archived",
    "changed",
    "created",
    "deleted",
    "joined",
    "left",
    "moved",
    "opened",
    "rename",
    "renamed",
    "removed",
    "requested",
    "revoked",
    "shared",
    "unarchive",
    "unarchived",
    "uninstalled",
    "unshared",
    "updated",
    "upgraded",
];

pub(super) fn source() -> WebhookSource {
    WebhookSource::new(SlackScheme::new(SIGNATURE_HEADER, TIMESTAMP_HEADER))
        .with_target_secret("signing_secret")
        .with_connection_credential(CredentialType::WEBHOOK_SECRET)
        .with_ack_deadline(Duration::from_secs(3))
        .with_no_retry_header(NO_RETRY_HEADER, "1")
}

/// A string field that Slack sometimes sends as an object (`channel` in
/// `channel_created`, `user` in `user_change`): the string, or `None`.
#[derive(Default)]
struct Text<'a>(Option<Cow<'a, str>>);

impl Text<'_> {
    fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }

    fn owned(&self) -> Option<String> {
        self.0.as_ref().map(|c| c.clone().into_owned())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Borrowed(v))))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_owned()))))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v))))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_string()))))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_string()))))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Text(None))
    }
}

/// The envelope fields classification reads.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    challenge: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    team_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    api_app_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(default)]
    minute_rate_limited: Option<i64>,
}

/// An `event_callback` as normalization reads it.
#[derive(Deserialize)]
struct Callback<'a> {
    #[serde(default)]
    event_time: Option<i64>,
    #[serde(borrow, default)]
    event: Option<InnerEvent<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InnerEvent<'a> {
    #[serde(borrow, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow)]
    subtype: Text<'a>,
    #[serde(borrow)]
    user: Text<'a>,
    #[serde(borrow)]
    bot_id: Text<'a>,
    #[serde(borrow)]
    text: Text<'a>,
    #[serde(borrow)]
    ts: Text<'a>,
    #[serde(borrow)]
    thread_ts: Text<'a>,
    #[serde(borrow)]
    channel: Text<'a>,
    #[serde(borrow)]
    channel_type: Text<'a>,
    #[serde(borrow)]
    event_ts: Text<'a>,
    #[serde(borrow)]
    reaction: Text<'a>,
    #[serde(borrow)]
    message: Option<&'a RawValue>,
    #[serde(borrow)]
    item: Option<&'a RawValue>,
    tokens: Option<RevokedTokens>,
}

/// The tokens a `tokens_revoked` event lists (user ids, by token kind).
#[derive(Deserialize, Default)]
#[serde(default)]
struct RevokedTokens {
    bot: Vec<serde::de::IgnoredAny>,
}

/// What an event changes about the connection (which holds the app's bot token):
/// `app_uninstalled`, and `tokens_revoked` naming bot tokens, revoke it. A
/// `tokens_revoked` for user tokens only leaves the bot token, and the connection, alone.
fn grant_change(kind: &str, event: &InnerEvent<'_>) -> Option<GrantChange> {
    match kind {
        "app_uninstalled" => Some(GrantChange::revoked(
            "the Slack app was uninstalled from the workspace",
        )),
        "tokens_revoked" if event.tokens.as_ref().is_some_and(|t| !t.bot.is_empty()) => Some(
            GrantChange::revoked("the Slack workspace revoked the app's bot token"),
        ),
        _ => None,
    }
}

/// An edited message, or the item a reaction is on.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Nested<'a> {
    #[serde(borrow)]
    user: Text<'a>,
    #[serde(borrow)]
    bot_id: Text<'a>,
    #[serde(borrow)]
    text: Text<'a>,
    #[serde(borrow)]
    ts: Text<'a>,
    #[serde(borrow)]
    thread_ts: Text<'a>,
    #[serde(borrow)]
    channel: Text<'a>,
}

fn nested(raw: Option<&RawValue>) -> Nested<'_> {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
        .unwrap_or_default()
}

/// The fields of an interaction payload that route and name it.
#[derive(Deserialize)]
struct Interaction<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    team: Option<Ref<'a>>,
    #[serde(borrow, default)]
    api_app_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    trigger_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user: Option<Ref<'a>>,
    #[serde(borrow, default)]
    channel: Option<Ref<'a>>,
    #[serde(borrow, default)]
    action_ts: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Ref<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
}

fn owned(value: Option<&Cow<'_, str>>) -> Option<String> {
    value.map(|v| v.clone().into_owned())
}

/// Slack's `event_time` is Unix seconds; documentation examples also show microsecond
/// and millisecond values, read by their magnitude.
fn epoch(value: i64) -> Timestamp {
    if value > 100_000_000_000_000 {
        Timestamp::from_unix_millis(value / 1000)
    } else if value > 100_000_000_000 {
        Timestamp::from_unix_millis(value)
    } else {
        Timestamp::from_unix_seconds(value)
    }
}

/// A Slack `ts` (`1355517523.000005`) as an instant.
fn ts_time(ts: &str) -> Option<Timestamp> {
    let seconds = ts.split('.').next()?.parse::<i64>().ok()?;
    Some(epoch(seconds))
}

/// `<object>.<action>` of an Events API event.
fn object_and_action(kind: &str, subtype: Option<&str>) -> (String, String) {
    let pair = |o: &str, a: &str| (o.to_owned(), a.to_owned());
    match (kind, subtype) {
        (
            "message",
            None | Some("bot_message" | "thread_broadcast" | "file_share" | "me_message"),
        ) => pair("message", "posted"),
        ("message", Some("message_changed")) => pair("message", "edited"),
        ("message", Some("message_deleted")) => pair("message", "deleted"),
        ("message", Some("message_replied")) => pair("message", "replied"),
        ("message", Some(other)) => pair("message", other),
        ("app_mention", _) => pair("app_mention", "created"),
        ("reaction_added", _) => pair("reaction", "added"),
        ("reaction_removed", _) => pair("reaction", "removed"),
        _ => match kind.rsplit_once('_') {
            Some((object, verb)) if VERBS.contains(&verb) => pair(object, verb),
            _ => pair(kind, "received"),
        },
    }
}

fn json_envelope<'a>(request: &InboundRequest<'a>) -> Result<Envelope<'a>, Error> {
    serde_json::from_slice(request.body)
        .map_err(|_| errors::invalid_payload("not a Slack request (no type)"))
}

fn app_claim(routing: Routing, app: Option<&Cow<'_, str>>) -> Routing {
    match app {
        Some(app) => routing.with_target_claim("/app_id", app.as_ref()),
        None => routing,
    }
}

impl Slack {
    fn classify_form(request: &InboundRequest<'_>) -> Result<Classification, Error> {
        let body = request.body;
        if form_value(body, "ssl_check").as_deref() == Some("1") {
            return Ok(Classification::Handshake(Handshake::unverified(
                WebhookResponse::new(StatusCode::OK),
            )));
        }
        if let Some(payload) = form_value(body, "payload") {
            let interaction: Interaction<'_> = serde_json::from_str(&payload)
                .map_err(|_| errors::invalid_payload("not a Slack interaction payload"))?;
            let team = interaction.team.as_ref().and_then(|t| owned(t.id.as_ref()));
            let dedup = owned(interaction.trigger_id.as_ref())
                .or_else(|| {
                    interaction
                        .action_ts
                        .as_ref()
                        .map(|ts| format!("{}:{ts}", interaction.kind))
                })
                .ok_or_else(|| errors::invalid_payload("an interaction without a trigger_id"))?;
            let routing = app_claim(
                Routing::optional_subject(team),
                interaction.api_app_id.as_ref(),
            );
            return Ok(Classification::Event(EventRoute::new(routing, dedup)));
        }
        if form_value(body, "command").is_some() {
            let team = form_value(body, "team_id").map(Cow::into_owned);
            let trigger = form_value(body, "trigger_id")
                .ok_or_else(|| errors::invalid_payload("a slash command without a trigger_id"))?;
            let app = form_value(body, "api_app_id");
            let routing = app_claim(Routing::optional_subject(team), app.as_ref());
            return Ok(Classification::Event(EventRoute::new(
                routing,
                trigger.into_owned(),
            )));
        }
        Err(errors::invalid_payload(
            "a form that is neither a slash command nor an interaction",
        ))
    }

    fn normalize_form(
        request: &InboundRequest<'_>,
        context: &NormalizeContext<'_>,
    ) -> Result<Normalized, Error> {
        let body = request.body;
        let at = context.signed_at;
        let order = |id: &str| at.map(|at| source_order_key(at, id));
        if let Some(payload) = form_value(body, "payload") {
            let interaction: Interaction<'_> = serde_json::from_str(&payload)
                .map_err(|_| errors::invalid_payload("not a Slack interaction payload"))?;
            let id = &context.route.dedup_id;
            let mut subject = EventSubject::new(SubjectKind::Other, id.clone());
            subject.actor = interaction.user.as_ref().and_then(|u| owned(u.id.as_ref()));
            subject.container = interaction
                .channel
                .as_ref()
                .and_then(|c| owned(c.id.as_ref()));
            let normalized = Normalized::new(
                EventType::from_parts("slack", "interaction", &interaction.kind),
                interaction.kind.as_ref(),
            )
            .with_occurred_at(at)
            .with_source_order_key(order(id))
            .with_subject(Some(subject));
            return Ok(normalized.with_payload(without_token(payload.as_bytes())?));
        }
        // A slash command: its fields become the JSON payload.
        let field = |name: &str| form_value(body, name).map(Cow::into_owned);
        let trigger = &context.route.dedup_id;
        let mut subject = EventSubject::new(SubjectKind::Message, trigger.clone());
        subject.title = field("command");
        subject.text = field("text");
        subject.actor = field("user_id");
        subject.container = field("channel_id");
        Ok(Normalized::new(
            EventType::from_parts("slack", "command", "invoked"),
            "slash_command",
        )
        .with_occurred_at(at)
        .with_source_order_key(order(trigger))
        .with_subject(Some(subject))
        .with_payload(without_token(form_to_json(body)?.get().as_bytes())?))
    }

    fn normalize_callback(request: &InboundRequest<'_>) -> Result<Normalized, Error> {
        let callback: Callback<'_> = serde_json::from_slice(request.body)
            .map_err(|_| errors::invalid_payload("not a Slack event callback"))?;
        let event = callback.event.unwrap_or_default();
        let kind = event
            .kind
            .get()
            .ok_or_else(|| errors::invalid_payload("an event callback without an event type"))?;
        let (object, action) = object_and_action(kind, event.subtype.get());
        let occurred_at = callback
            .event_time
            .map(epoch)
            .or_else(|| event.event_ts.get().and_then(ts_time));
        let order_id = event.event_ts.get().or(event.ts.get());
        let source_order_key = occurred_at
            .zip(order_id)
            .map(|(at, id)| source_order_key(at, id));

        let subject = match object.as_str() {
            "message" | "app_mention" => {
                let edited = nested(event.message);
                let (ts, text, user, thread) = if event.subtype.get() == Some("message_changed") {
                    (&edited.ts, &edited.text, &edited.user, &edited.thread_ts)
                } else {
                    (&event.ts, &event.text, &event.user, &event.thread_ts)
                };
                ts.owned().map(|ts| {
                    let mut s = EventSubject::new(SubjectKind::Message, ts.clone());
                    s.text = text.owned();
                    s.actor = user.owned().or_else(|| event.bot_id.owned());
                    s.container = event.channel.owned();
                    s.parent = thread.owned().filter(|t| *t != ts);
                    s
                })
            }
            "reaction" => {
                let item = nested(event.item);
                item.ts.owned().map(|ts| {
                    let mut s = EventSubject::new(SubjectKind::Message, ts);
                    s.title = event.reaction.owned();
                    s.actor = event.user.owned();
                    s.container = item.channel.owned();
                    s
                })
            }
            _ => None,
        };
        let grant = grant_change(kind, &event);
        let payload = without_token(request.body)?;
        Ok(
            Normalized::new(EventType::from_parts("slack", &object, &action), kind)
                .with_payload(payload)
                .with_occurred_at(occurred_at)
                .with_source_order_key(source_order_key)
                .with_subject(subject)
                .with_grant(grant),
        )
    }
}

/// The JSON object `json` without its top-level `token` (Slack's verification token), the
/// other members as they were (their order aside).
fn without_token(json: &[u8]) -> Result<Box<RawValue>, Error> {
    let mut members: std::collections::BTreeMap<String, Box<RawValue>> =
        serde_json::from_slice(json)
            .map_err(|_| errors::invalid_payload("a Slack payload that is not a JSON object"))?;
    if members.remove("token").is_none() {
        // Nothing to leave out: kept exactly as received.
        let text = std::str::from_utf8(json)
            .map_err(|_| errors::invalid_payload("the body is not UTF-8"))?;
        return raw_json(text.to_owned());
    }
    let text = serde_json::to_string(&members)
        .map_err(|_| errors::invalid_payload("a Slack payload that cannot be written back"))?;
    raw_json(text)
}

impl WebhookHandler for Slack {
    fn probe(&self, request: &InboundRequest<'_>) -> Option<WebhookResponse> {
        (is_form_encoded(request.headers.get("content-type"), request.body)
            && form_value(request.body, "ssl_check").as_deref() == Some("1"))
        .then(|| WebhookResponse::new(StatusCode::OK))
    }

    fn classify(&self, request: &InboundRequest<'_>) -> Result<Classification, Error> {
        let content_type = request.headers.get("content-type");
        if is_form_encoded(content_type, request.body) {
            return Self::classify_form(request);
        }
        if !content_type.is_none_or(is_json_content_type) {
            return Err(errors::unsupported_content_type());
        }
        let envelope = json_envelope(request)?;
        let team = owned(envelope.team_id.as_ref());
        match envelope.kind.as_ref() {
            "url_verification" => {
                let challenge = envelope.challenge.ok_or_else(|| {
                    errors::invalid_payload("a url_verification without a challenge")
                })?;
                Ok(Classification::Handshake(Handshake::verified(
                    Routing::optional_subject(team),
                    WebhookResponse::text(StatusCode::OK, challenge),
                )))
            }
            "event_callback" => {
                let event_id = envelope.event_id.ok_or_else(|| {
                    errors::invalid_payload("an event callback without an event_id")
                })?;
                let routing = app_claim(
                    Routing::optional_subject(team),
                    envelope.api_app_id.as_ref(),
                );
                Ok(Classification::Event(EventRoute::new(routing, event_id)))
            }
            "app_rate_limited" => {
                let minute = envelope.minute_rate_limited.unwrap_or_default();
                let dedup = format!(
                    "app_rate_limited:{}:{minute}",
                    team.as_deref().unwrap_or("-")
                );
                let routing = app_claim(
                    Routing::optional_subject(team),
                    envelope.api_app_id.as_ref(),
                );
                Ok(Classification::Event(EventRoute::new(routing, dedup)))
            }
            _ => Err(errors::invalid_payload("an unsupported Slack request type")),
        }
    }

    fn normalize(
        &self,
        request: &InboundRequest<'_>,
        context: &NormalizeContext<'_>,
    ) -> Result<Normalized, Error> {
        if is_form_encoded(request.headers.get("content-type"), request.body) {
            return Self::normalize_form(request, context);
        }
        let envelope = json_envelope(request)?;
        if envelope.kind == "app_rate_limited" {
            let at = envelope.minute_rate_limited.map(epoch);
            return Ok(Normalized::new(
                EventType::from_parts("slack", "app", "rate_limited"),
                "app_rate_limited",
            )
            .with_occurred_at(at)
            .with_source_order_key(at.map(|at| source_order_key(at, &context.route.dedup_id)))
            .with_payload(without_token(request.body)?));
        }
        Self::normalize_callback(request)
    }

    fn dispatch(&self, event: &WebhookEvent) -> SessionDispatch {
        let Some(subject) = &event.subject else {
            return SessionDispatch::ignore("no message");
        };
        let Some(channel) = &subject.container else {
            return SessionDispatch::ignore("no channel");
        };
        let object = event.event_type.object();
        let action = event.event_type.action();
        if (object, action) == ("command", "invoked") {
            return SessionDispatch::create(ConversationKey::new("slack", channel, &subject.id));
        }
        if !matches!(
            (object, action),
            ("message", "posted") | ("app_mention", "created")
        ) {
            return SessionDispatch::ignore("not a conversation event");
        }
        let view: Callback<'_> = serde_json::from_str(event.payload.get()).unwrap_or(Callback {
            event_time: None,
            event: None,
        });
        let inner = view.event.unwrap_or_default();
        if inner.bot_id.get().is_some() || inner.subtype.get() == Some("bot_message") {
            // The app's own messages come back as events: never a new turn.
            return SessionDispatch::ignore("bot message");
        }
        let in_thread = subject.parent.as_ref();
        let thread = in_thread.unwrap_or(&subject.id);
        let key = ConversationKey::new("slack", channel, thread);
        match (object, in_thread, inner.channel_type.get()) {
            ("app_mention", None, _) | ("message", None, Some("im")) => {
                SessionDispatch::create(key)
            }
            (_, Some(_), _) => SessionDispatch::resume(key),
            _ => SessionDispatch::ignore("a channel message outside a thread"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names() {
        let t = |k, s| object_and_action(k, s);
        assert_eq!(t("message", None), ("message".into(), "posted".into()));
        assert_eq!(
            t("message", Some("message_changed")),
            ("message".into(), "edited".into())
        );
        assert_eq!(
            t("channel_created", None),
            ("channel".into(), "created".into())
        );
        assert_eq!(
            t("app_uninstalled", None),
            ("app".into(), "uninstalled".into())
        );
        assert_eq!(
            t("member_joined_channel", None),
            ("member_joined_channel".into(), "received".into())
        );
    }

    #[test]
    fn lenient_text_fields() {
        let e: InnerEvent<'_> = serde_json::from_str(
            r#"{"type":"channel_created","channel":{"id":"C1"},"user":"U1","ts":"1.2","x":[1]}"#,
        )
        .unwrap();
        assert_eq!(e.channel.get(), None);
        assert_eq!(e.user.get(), Some("U1"));
        assert_eq!(e.kind.get(), Some("channel_created"));
    }

    #[test]
    fn slack_times() {
        assert_eq!(epoch(1_355_517_523).unix_seconds(), 1_355_517_523);
        assert_eq!(epoch(1_515_449_522_000_016).unix_seconds(), 1_515_449_522);
        assert_eq!(
            ts_time("1355517523.000005").unwrap().unix_seconds(),
            1_355_517_523
        );
    }
}
