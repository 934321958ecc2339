//! GitHub webhooks, github.com and Enterprise Server alike: `X-Hub-Signature-256`
//! (`sha256=` + hex HMAC-SHA256 of the raw body, no timestamp), `X-GitHub-Event` and
//! `X-GitHub-Delivery` (the same on redelivery, so it deduplicates), JSON or
//! form-encoded (`payload=`) bodies, routed by `installation.id` or an endpoint key.
//!
//! Enterprise Server deliveries carry `X-GitHub-Enterprise-Host` and
//! `X-GitHub-Enterprise-Version` and `https://HOST/api/v3/...` URLs in the payload; the
//! shape is otherwise the same, so one handler serves both variants.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use http::StatusCode;

use integrations_core::model::CredentialType;
use integrations_core::webhook::{
    Classification, ConversationKey, EventRoute, EventSubject, EventType, GrantChange, Handshake,
    HmacHexScheme, InboundRequest, NormalizeContext, Normalized, Routing, SessionDispatch,
    SubjectKind, WebhookEvent, WebhookHandler, WebhookResponse, WebhookSource, errors, form_value,
    is_form_encoded, is_json_content_type, lenient_timestamp, raw_json, source_order_key,
};
use integrations_core::{Error, Timestamp};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::{GitHub, Variant};

/// `X-GitHub-Event`.
pub const EVENT_HEADER: &str = "x-github-event";
/// `X-GitHub-Delivery`.
pub const DELIVERY_HEADER: &str = "x-github-delivery";
/// `X-Hub-Signature-256`.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// `X-GitHub-Enterprise-Host` (Enterprise Server only).
pub const ENTERPRISE_HOST_HEADER: &str = "x-github-enterprise-host";
/// `X-GitHub-Enterprise-Version` (Enterprise Server only).
pub const ENTERPRISE_VERSION_HEADER: &str = "x-github-enterprise-version";

/// The action of events that have none (`ping`, `create`, ...); `push` is `pushed`.
const NO_ACTION: &str = "received";

pub(super) fn source(variant: Variant) -> WebhookSource {
    // GitHub waits 10 s on github.com and 30 s on Enterprise Server.
    let deadline = match variant {
        Variant::Cloud => Duration::from_secs(10),
        Variant::EnterpriseServer => Duration::from_secs(30),
    };
    WebhookSource::new(HmacHexScheme::new(SIGNATURE_HEADER).with_prefix("sha256="))
        .with_target_secret("webhook_secret")
        .with_connection_credential(CredentialType::WEBHOOK_SECRET)
        .with_event_header(EVENT_HEADER)
        .with_delivery_header(DELIVERY_HEADER)
        .with_ack_deadline(deadline)
}

/// The JSON of a delivery: the body, or the `payload` field of a form body.
enum Json<'a> {
    Body(&'a [u8]),
    Form(String),
}

impl Json<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Body(b) => b,
            Self::Form(s) => s.as_bytes(),
        }
    }
}

fn json<'a>(request: &InboundRequest<'a>) -> Result<Json<'a>, Error> {
    let content_type = request.headers.get("content-type");
    if is_form_encoded(content_type, request.body) {
        // The signature covers the raw form bytes; only normalization reads the JSON.
        let payload = form_value(request.body, "payload")
            .ok_or_else(|| errors::invalid_payload("a form body needs a payload field"))?;
        Ok(Json::Form(payload.into_owned()))
    } else if content_type.is_none_or(is_json_content_type) {
        Ok(Json::Body(request.body))
    } else {
        Err(errors::unsupported_content_type())
    }
}

fn header<'a>(request: &InboundRequest<'a>, name: &str) -> Result<&'a str, Error> {
    request
        .headers
        .get(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| errors::missing_header(name))
}

#[derive(Deserialize)]
struct RoutingFields {
    #[serde(default)]
    installation: Option<Id>,
}

#[derive(Deserialize)]
struct Id {
    id: u64,
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow, default)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    issue: Option<Item<'a>>,
    #[serde(borrow, default)]
    pull_request: Option<Item<'a>>,
    #[serde(borrow, default)]
    comment: Option<Comment<'a>>,
    #[serde(borrow, default)]
    review: Option<Comment<'a>>,
    #[serde(borrow, default)]
    repository: Option<Repository<'a>>,
    #[serde(borrow, default)]
    sender: Option<User<'a>>,
    #[serde(borrow, default, rename = "ref")]
    git_ref: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    after: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    compare: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    head_commit: Option<Commit<'a>>,
    #[serde(borrow, default)]
    pusher: Option<Pusher<'a>>,
    #[serde(default)]
    hook: Option<Dated>,
    #[serde(default)]
    installation: Option<Dated>,
}

#[derive(Deserialize)]
struct Item<'a> {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    number: Option<u64>,
    #[serde(borrow, default)]
    title: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    body: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    html_url: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    created_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    updated_at: Option<Timestamp>,
}

#[derive(Deserialize)]
struct Comment<'a> {
    #[serde(default)]
    id: Option<u64>,
    #[serde(borrow, default)]
    body: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    html_url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user: Option<User<'a>>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    created_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    updated_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    submitted_at: Option<Timestamp>,
}

#[derive(Deserialize)]
struct Repository<'a> {
    #[serde(borrow, default)]
    full_name: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    pushed_at: Option<Timestamp>,
}

#[derive(Deserialize)]
struct User<'a> {
    #[serde(borrow, default)]
    login: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Commit<'a> {
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    timestamp: Option<Timestamp>,
}

#[derive(Deserialize)]
struct Pusher<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Dated {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    created_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    updated_at: Option<Timestamp>,
}

/// A payload read for its action only, when its other fields have unexpected types.
#[derive(Deserialize)]
struct Bare<'a> {
    #[serde(borrow, default)]
    action: Option<MaybeText<'a>>,
}

/// A string, or `None` for any other JSON value.
struct MaybeText<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for MaybeText<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = <&RawValue>::deserialize(d)?;
        Ok(Self(
            serde_json::from_str::<Cow<'_, str>>(value.get())
                .ok()
                .map(|c| Cow::Owned(c.into_owned())),
        ))
    }
}

impl<'a> Payload<'a> {
    fn bare(action: Option<Cow<'a, str>>) -> Self {
        Self {
            action,
            issue: None,
            pull_request: None,
            comment: None,
            review: None,
            repository: None,
            sender: None,
            git_ref: None,
            after: None,
            compare: None,
            head_commit: None,
            pusher: None,
            hook: None,
            installation: None,
        }
    }
}

fn owned(value: Option<&Cow<'_, str>>) -> Option<String> {
    value.map(|v| v.clone().into_owned())
}

impl Item<'_> {
    /// The item as a subject; `None` without its id.
    fn subject(&self, kind: SubjectKind, payload: &Payload<'_>) -> Option<EventSubject> {
        let mut subject = EventSubject::new(kind, self.id?.to_string());
        subject.number = self.number.map(|n| n.to_string());
        subject.title = owned(self.title.as_ref());
        subject.text = owned(self.body.as_ref());
        subject.url = owned(self.html_url.as_ref());
        subject.actor = payload.actor();
        subject.container = payload.container();
        Some(subject)
    }

    fn at(&self) -> Option<Timestamp> {
        self.updated_at.or(self.created_at)
    }
}

impl Comment<'_> {
    /// The comment as a subject; `None` without its id.
    fn subject(&self, parent: Option<&Item<'_>>, payload: &Payload<'_>) -> Option<EventSubject> {
        let mut subject = EventSubject::new(SubjectKind::Comment, self.id?.to_string());
        subject.text = owned(self.body.as_ref());
        subject.url = owned(self.html_url.as_ref());
        subject.actor = payload
            .actor()
            .or_else(|| self.user.as_ref().and_then(|u| owned(u.login.as_ref())));
        subject.container = payload.container();
        if let Some(parent) = parent {
            subject.number = parent.number.map(|n| n.to_string());
            subject.parent.clone_from(&subject.number);
            subject.title = owned(parent.title.as_ref());
        }
        Some(subject)
    }

    fn at(&self) -> Option<Timestamp> {
        self.submitted_at.or(self.updated_at).or(self.created_at)
    }
}

impl Payload<'_> {
    fn actor(&self) -> Option<String> {
        self.sender.as_ref().and_then(|s| owned(s.login.as_ref()))
    }

    fn container(&self) -> Option<String> {
        self.repository
            .as_ref()
            .and_then(|r| owned(r.full_name.as_ref()))
    }

    /// The subject, when it about, and the time and id that order it.
    fn subject(&self, event: &str) -> (Option<EventSubject>, Option<Timestamp>, Option<String>) {
        let item = |item: Option<&Item<'_>>, kind| match item {
            Some(item) => (
                item.subject(kind, self),
                item.at(),
                item.id.map(|id| id.to_string()),
            ),
            None => (None, None, None),
        };
        match event {
            "issues" => item(self.issue.as_ref(), SubjectKind::Issue),
            "pull_request" => item(self.pull_request.as_ref(), SubjectKind::PullRequest),
            "issue_comment" | "pull_request_review_comment" | "pull_request_review" => {
                let comment = if event == "pull_request_review" {
                    self.review.as_ref()
                } else {
                    self.comment.as_ref()
                };
                let parent = self.issue.as_ref().or(self.pull_request.as_ref());
                if let Some((c, subject)) =
                    comment.and_then(|c| Some((c, c.subject(parent, self)?)))
                {
                    (Some(subject), c.at(), c.id.map(|id| id.to_string()))
                } else {
                    // Without the comment's id, the subject is what it is on.
                    let kind = if self.issue.is_some() {
                        SubjectKind::Issue
                    } else {
                        SubjectKind::PullRequest
                    };
                    item(parent, kind)
                }
            }
            "push" => {
                let mut subject = EventSubject::new(
                    SubjectKind::Push,
                    owned(self.after.as_ref()).unwrap_or_default(),
                );
                subject.title = owned(self.git_ref.as_ref());
                subject.text = self
                    .head_commit
                    .as_ref()
                    .and_then(|c| owned(c.message.as_ref()));
                subject.url = owned(self.compare.as_ref());
                subject.actor = self
                    .pusher
                    .as_ref()
                    .and_then(|p| owned(p.name.as_ref()))
                    .or_else(|| self.actor());
                subject.container = self.container();
                let at = self
                    .head_commit
                    .as_ref()
                    .and_then(|c| c.timestamp)
                    .or_else(|| self.repository.as_ref().and_then(|r| r.pushed_at));
                let id = owned(self.after.as_ref());
                (Some(subject), at, id)
            }
            _ => {
                // Hooks (`ping`) and installations carry their own dates.
                let dated = self.hook.as_ref().or(self.installation.as_ref());
                let at = dated.and_then(|d| d.updated_at.or(d.created_at));
                let id = dated.and_then(|d| d.id).map(|id| id.to_string());
                (None, at, id)
            }
        }
    }
}

/// The reason a suspended installation's connection is in `error`.
pub const INSTALLATION_SUSPENDED: &str =
    "the GitHub App installation is suspended; GitHub refuses its tokens until it is unsuspended";

/// What a payload must carry for the event `X-GitHub-Event` names.
enum Carries {
    /// A top-level field.
    Field(&'static str),
    /// A whole installation object (with its `account`), as only the installation
    /// lifecycle events carry; every other event names its installation by id alone.
    Installation,
    /// None of these top-level fields, which belong to other events.
    NoneOf(&'static [&'static str]),
}

/// The shape of the payload of each event whose shape GitHub documents and this handler
/// relies on. `X-GitHub-Event` is not signed: a signed body resent under another event
/// name must not pass for that event (issue 13: a signed `issues` `deleted` resent as
/// `installation` would revoke the connection). Events not listed are taken as named;
/// they change no grant.
const SHAPES: &[(&str, &[Carries])] = &[
    ("issues", &[Carries::Field("issue")]),
    (
        "issue_comment",
        &[Carries::Field("issue"), Carries::Field("comment")],
    ),
    ("pull_request", &[Carries::Field("pull_request")]),
    (
        "pull_request_review",
        &[Carries::Field("pull_request"), Carries::Field("review")],
    ),
    (
        "pull_request_review_comment",
        &[Carries::Field("pull_request"), Carries::Field("comment")],
    ),
    (
        "pull_request_review_thread",
        &[Carries::Field("pull_request"), Carries::Field("thread")],
    ),
    ("push", &[Carries::Field("ref"), Carries::Field("after")]),
    ("create", &[Carries::Field("ref")]),
    ("delete", &[Carries::Field("ref")]),
    ("ping", &[Carries::Field("hook")]),
    (
        "installation",
        &[
            Carries::Installation,
            Carries::NoneOf(&[
                "repositories_added",
                "repositories_removed",
                "target_type",
                "issue",
                "pull_request",
                "comment",
                "review",
                "hook",
                "ref",
            ]),
        ],
    ),
    ("installation_repositories", &[Carries::Installation]),
];

/// The top-level fields of a payload, unparsed.
#[derive(Deserialize)]
struct Shape<'a>(#[serde(borrow)] BTreeMap<Cow<'a, str>, &'a RawValue>);

#[derive(Deserialize)]
struct FullInstallation {
    #[serde(default)]
    account: Option<IgnoredAny>,
}

/// Whether the payload has the shape of `event`.
fn shape_agrees(event: &str, json: &[u8]) -> Result<bool, Error> {
    let Some((_, needs)) = SHAPES.iter().find(|(name, _)| *name == event) else {
        return Ok(true);
    };
    let shape: Shape<'_> = serde_json::from_slice(json)
        .map_err(|_| errors::invalid_payload("not a GitHub JSON object"))?;
    let present = |field: &str| shape.0.get(field).is_some_and(|v| v.get() != "null");
    Ok(needs.iter().all(|need| match need {
        Carries::Field(field) => present(field),
        Carries::Installation => shape.0.get("installation").is_some_and(|raw| {
            serde_json::from_str::<FullInstallation>(raw.get()).is_ok_and(|i| i.account.is_some())
        }),
        Carries::NoneOf(fields) => !fields.iter().any(|f| present(f)),
    }))
}

/// A delivery read in one pass: the fields normalization needs, typed and borrowed, and
/// whether each top-level field an event's shape names is there. Everything else is
/// skipped, and still validated: the whole body must be JSON.
#[derive(Deserialize)]
struct Delivery<'a> {
    #[serde(borrow, default)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    issue: Option<Item<'a>>,
    #[serde(borrow, default)]
    pull_request: Option<Item<'a>>,
    #[serde(borrow, default)]
    comment: Option<Comment<'a>>,
    #[serde(borrow, default)]
    review: Option<Comment<'a>>,
    #[serde(borrow, default)]
    repository: Option<Repository<'a>>,
    #[serde(borrow, default)]
    sender: Option<User<'a>>,
    #[serde(borrow, default, rename = "ref")]
    git_ref: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    after: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    compare: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    head_commit: Option<Commit<'a>>,
    #[serde(borrow, default)]
    pusher: Option<Pusher<'a>>,
    #[serde(default)]
    hook: Option<Dated>,
    /// Read twice more, when needed: as [`Dated`] and for its `account` (it is small,
    /// except in the installation events that need the account).
    #[serde(borrow, default)]
    installation: Option<&'a RawValue>,
    #[serde(default)]
    thread: Option<IgnoredAny>,
    #[serde(default)]
    repositories_added: Option<IgnoredAny>,
    #[serde(default)]
    repositories_removed: Option<IgnoredAny>,
    #[serde(default)]
    target_type: Option<IgnoredAny>,
}

impl<'a> Delivery<'a> {
    /// The delivery, or `None` where one pass cannot tell what the reference reader
    /// ([`reference_payload`]) would: not UTF-8, not a JSON object, a repeated field, a
    /// field of an unexpected type. The caller then reads it that way.
    fn read(json: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(json).ok()?;
        // A derived struct also reads a JSON array, which the reference refuses.
        if !text
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .starts_with('{')
        {
            return None;
        }
        serde_json::from_str(text).ok()
    }

    /// Whether the top-level `field` is there and not `null`; `None` for a field this
    /// reader does not track.
    fn present(&self, field: &str) -> Option<bool> {
        Some(match field {
            "issue" => self.issue.is_some(),
            "pull_request" => self.pull_request.is_some(),
            "comment" => self.comment.is_some(),
            "review" => self.review.is_some(),
            "thread" => self.thread.is_some(),
            "ref" => self.git_ref.is_some(),
            "after" => self.after.is_some(),
            "hook" => self.hook.is_some(),
            "installation" => self.installation.is_some(),
            "repositories_added" => self.repositories_added.is_some(),
            "repositories_removed" => self.repositories_removed.is_some(),
            "target_type" => self.target_type.is_some(),
            _ => return None,
        })
    }

    /// Whether the delivery has the shape of `event`, as [`shape_agrees`] decides it.
    fn shape_agrees(&self, event: &str) -> Option<bool> {
        let Some((_, needs)) = SHAPES.iter().find(|(name, _)| *name == event) else {
            return Some(true);
        };
        for need in *needs {
            let agrees = match need {
                Carries::Field(field) => self.present(field)?,
                Carries::Installation => self.installation.is_some_and(|raw| {
                    serde_json::from_str::<FullInstallation>(raw.get())
                        .is_ok_and(|i| i.account.is_some())
                }),
                Carries::NoneOf(fields) => {
                    let mut none = true;
                    for field in *fields {
                        none &= !self.present(field)?;
                    }
                    none
                }
            };
            if !agrees {
                return Some(false);
            }
        }
        Some(true)
    }

    /// The payload of an `event` delivery, or its refusal; `None` to read it the
    /// reference way.
    fn into_payload(self, event: &str) -> Option<Result<Payload<'a>, Error>> {
        if !self.shape_agrees(event)? {
            return Some(Err(errors::event_type_mismatch(EVENT_HEADER)));
        }
        let installation = match self.installation {
            Some(raw) => Some(serde_json::from_str::<Dated>(raw.get()).ok()?),
            None => None,
        };
        Some(Ok(Payload {
            action: self.action,
            issue: self.issue,
            pull_request: self.pull_request,
            comment: self.comment,
            review: self.review,
            repository: self.repository,
            sender: self.sender,
            git_ref: self.git_ref,
            after: self.after,
            compare: self.compare,
            head_commit: self.head_commit,
            pusher: self.pusher,
            hook: self.hook,
            installation,
        }))
    }
}

/// The payload read the reference way, one question at a time: the shape (every
/// top-level field, unparsed), then the typed fields, then the action alone when a field
/// has an unexpected type. Slower; the one-pass [`Delivery`] must agree with it.
fn reference_payload<'a>(event: &str, json: &'a [u8]) -> Result<Payload<'a>, Error> {
    if !shape_agrees(event, json)? {
        return Err(errors::event_type_mismatch(EVENT_HEADER));
    }
    // A payload with fields of unexpected types still normalizes, without a subject.
    if let Ok(payload) = serde_json::from_slice(json) {
        Ok(payload)
    } else {
        let bare: Bare<'_> = serde_json::from_slice(json)
            .map_err(|_| errors::invalid_payload("not a GitHub JSON object"))?;
        Ok(Payload::bare(bare.action.and_then(|a| a.0)))
    }
}

/// What an `installation` event changes about the connection of that installation:
/// `deleted` (the App was uninstalled) revokes it; `suspend` and `unsuspend` suspend and
/// resume it. Called only for payloads whose shape agrees with the event.
fn grant_change(event: &str, action: &str) -> Option<GrantChange> {
    match (event, action) {
        ("installation", "deleted") => Some(GrantChange::revoked(
            "the GitHub App was uninstalled from the account",
        )),
        ("installation", "suspend") => Some(GrantChange::suspended(INSTALLATION_SUSPENDED)),
        ("installation", "unsuspend") => Some(GrantChange::resumed(INSTALLATION_SUSPENDED)),
        _ => None,
    }
}

/// The normalization of a payload, however it was read.
fn normalized(event: &str, payload: &Payload<'_>) -> Normalized {
    let action = match (event, payload.action.as_deref()) {
        ("push", _) => "pushed",
        (_, Some(action)) if !action.is_empty() => action,
        _ => NO_ACTION,
    };
    let (subject, occurred_at, order_id) = payload.subject(event);
    let source_order_key = occurred_at
        .zip(order_id)
        .map(|(at, id)| source_order_key(at, &id));
    Normalized::new(EventType::from_parts("github", event, action), event)
        .with_occurred_at(occurred_at)
        .with_source_order_key(source_order_key)
        .with_subject(subject)
        .with_grant(grant_change(event, action))
}

impl WebhookHandler for GitHub {
    fn classify(&self, request: &InboundRequest<'_>) -> Result<Classification, Error> {
        let event = header(request, EVENT_HEADER)?;
        let delivery = header(request, DELIVERY_HEADER)?;
        let json = json(request)?;
        let fields: RoutingFields = serde_json::from_slice(json.bytes())
            .map_err(|_| errors::invalid_payload("not a GitHub JSON object"))?;
        // A GitHub App's webhook is pinged when it is set up, before any installation:
        // on the app-level route, the ping is verified against the target and answered.
        if event == "ping" && fields.installation.is_none() && request.endpoint.is_none() {
            return Ok(Classification::Handshake(Handshake::verified(
                Routing::endpoint_only(),
                WebhookResponse::json(
                    StatusCode::OK,
                    &serde_json::json!({"ok": true, "outcome": "answered"}),
                ),
            )));
        }
        let routing = Routing::optional_subject(fields.installation.map(|i| i.id.to_string()));
        Ok(Classification::Event(
            EventRoute::new(routing, delivery).with_delivery_id(delivery),
        ))
    }

    fn normalize(
        &self,
        request: &InboundRequest<'_>,
        _context: &NormalizeContext<'_>,
    ) -> Result<Normalized, Error> {
        let event = header(request, EVENT_HEADER)?;
        let json = json(request)?;
        let payload = match Delivery::read(json.bytes()).and_then(|d| d.into_payload(event)) {
            Some(payload) => payload?,
            None => reference_payload(event, json.bytes())?,
        };
        let normalized = normalized(event, &payload);
        match json {
            // The form's JSON field is the payload; a JSON body is kept as it came.
            Json::Form(text) => Ok(normalized.with_payload(raw_json(text)?)),
            Json::Body(_) => Ok(normalized),
        }
    }

    fn dispatch(&self, event: &WebhookEvent) -> SessionDispatch {
        let Some(subject) = &event.subject else {
            return SessionDispatch::ignore("not about an issue or pull request");
        };
        let (Some(repository), Some(number)) = (&subject.container, &subject.number) else {
            return SessionDispatch::ignore("not about an issue or pull request");
        };
        let key = ConversationKey::new("github", repository, number);
        match (event.event_type.object(), event.event_type.action()) {
            ("issues" | "pull_request", "opened" | "reopened") => SessionDispatch::create(key),
            ("issue_comment" | "pull_request_review_comment", "created")
            | ("pull_request_review", "submitted")
            | (
                "issues" | "pull_request",
                "edited" | "closed" | "assigned" | "labeled" | "synchronize" | "ready_for_review",
            ) => SessionDispatch::resume(key),
            _ => SessionDispatch::ignore("not a conversation event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use integrations_core::webhook::Headers;

    use super::*;

    fn key() -> integrations_core::DefinitionKey {
        const { integrations_core::DefinitionKey::from_static("github::github-cloud") }
    }

    /// The normalization of `json` as `event`, through the one-pass reader (falling back as
    /// `normalize` does) and through the reference reader, and whether one pass sufficed.
    fn both_ways(event: &str, json: &[u8]) -> (String, String, bool) {
        let show = |r: Result<Payload<'_>, Error>| match r {
            Ok(payload) => format!("{:?}", normalized(event, &payload)),
            Err(e) => format!("{}: {e}", e.code()),
        };
        let fast = Delivery::read(json).and_then(|d| d.into_payload(event));
        let one_pass = fast.is_some();
        let fast = show(fast.unwrap_or_else(|| reference_payload(event, json)));
        (fast, show(reference_payload(event, json)), one_pass)
    }

    fn fixtures() -> Vec<(String, Vec<u8>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/github");
        let mut out = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    out.push((name, std::fs::read(&path).unwrap()));
                }
            }
        }
        assert!(out.len() >= 17, "the GitHub fixtures: {}", out.len());
        out
    }

    /// Variants of a payload that stress what the one-pass reader decides: each top-level
    /// field removed, `null`, of another type, repeated; the whole as an array, truncated,
    /// not UTF-8; installations with and without an account.
    fn variants(json: &[u8]) -> Vec<Vec<u8>> {
        let value: serde_json::Value = serde_json::from_slice(json).unwrap();
        let object = value.as_object().unwrap();
        let mut out = vec![json.to_vec()];
        let mut edited = Vec::new();
        let mut with = |f: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
            let mut o = object.clone();
            f(&mut o);
            edited.push(serde_json::to_vec(&o).unwrap());
        };
        let mut keys: Vec<String> = object.keys().cloned().collect();
        for need in SHAPES.iter().flat_map(|(_, needs)| needs.iter()) {
            match need {
                Carries::Field(field) => keys.push((*field).to_owned()),
                Carries::NoneOf(fields) => keys.extend(fields.iter().map(|f| (*f).to_owned())),
                Carries::Installation => {}
            }
        }
        keys.extend(["installation", "action", "sender"].map(String::from));
        keys.sort();
        keys.dedup();
        for key in &keys {
            with(&|o| {
                o.remove(key);
            });
            with(&|o| {
                o.insert(key.clone(), serde_json::Value::Null);
            });
            with(&|o| {
                o.insert(key.clone(), serde_json::json!(42));
            });
            with(&|o| {
                o.insert(key.clone(), serde_json::json!({"id": 9, "account": {}}));
            });
            with(&|o| {
                o.insert(
                    key.clone(),
                    serde_json::json!([1, null, "2019-05-15T15:20:21Z"]),
                );
            });
            let mut repeated = format!("{{\"{key}\":null,").into_bytes();
            repeated.extend_from_slice(&json[json.iter().position(|b| *b == b'{').unwrap() + 1..]);
            out.push(repeated);
        }
        for installation in [
            serde_json::json!({"id": 1}),
            serde_json::json!({"id": 1, "account": null}),
            serde_json::json!({"id": "one", "account": {"login": "x"}}),
            serde_json::json!([1]),
        ] {
            with(&|o| {
                o.insert("installation".into(), installation.clone());
            });
        }
        let mut array = b"[".to_vec();
        array.extend_from_slice(json);
        array.push(b']');
        out.push(array);
        out.push(json[..json.len() / 2].to_vec());
        out.push(
            json.iter()
                .map(|b| if *b == b'e' { 0xff } else { *b })
                .collect(),
        );
        out.push(b"{\"action\":\"\\u0063losed\", \"\\u0069ssue\": {\"id\": 1}}".to_vec());
        out.append(&mut edited);
        out
    }

    /// The one-pass reader normalizes every GitHub fixture, and every variant of one, as
    /// the reference reader does (the same event or the same refusal), and reads every
    /// unmodified fixture in one pass.
    #[test]
    fn one_pass_reading_agrees_with_the_reference_on_every_fixture() {
        let events: Vec<&str> = SHAPES
            .iter()
            .map(|(name, _)| *name)
            .chain(["star"])
            .collect();
        let mut compared = 0;
        for (name, json) in fixtures() {
            let own = name.split('.').next().unwrap();
            let (fast, reference, one_pass) = both_ways(own, &json);
            assert_eq!(fast, reference, "{name}");
            assert!(one_pass, "{name} is read in one pass");
            assert!(!fast.starts_with("webhook."), "{name}: {fast}");
            for variant in variants(&json) {
                for event in &events {
                    let (fast, reference, _) = both_ways(event, &variant);
                    assert_eq!(
                        fast,
                        reference,
                        "{name} as {event}: {}",
                        String::from_utf8_lossy(&variant)
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 10_000, "{compared}");
    }

    /// Every field an event's shape names is one the one-pass reader tracks: otherwise
    /// such deliveries would all take the slow way.
    #[test]
    fn the_one_pass_reader_tracks_every_shape_field() {
        let delivery = Delivery::read(b"{}").unwrap();
        for (event, needs) in SHAPES {
            for need in *needs {
                let fields = match need {
                    Carries::Field(field) => std::slice::from_ref(field),
                    Carries::NoneOf(fields) => fields,
                    Carries::Installation => &["installation"][..],
                };
                for field in fields {
                    assert_eq!(delivery.present(field), Some(false), "{event}: {field}");
                }
            }
        }
    }

    #[test]
    fn classify_needs_the_event_and_delivery_headers() {
        let body = br#"{"action":"opened","installation":{"id":7}}"#;
        let key = key();
        let headers = Headers::new()
            .with(EVENT_HEADER, "issues")
            .with(DELIVERY_HEADER, "d-1");
        let c = GitHub::cloud()
            .classify(&InboundRequest::new(&key, &headers, body))
            .unwrap();
        let Classification::Event(route) = c else {
            panic!("an event")
        };
        assert_eq!(route.routing.subject.as_deref(), Some("7"));
        assert_eq!(route.dedup_id, "d-1");

        let headers = Headers::new().with(EVENT_HEADER, "issues");
        let err = GitHub::cloud()
            .classify(&InboundRequest::new(&key, &headers, body))
            .unwrap_err();
        assert_eq!(err.code(), "webhook.missing_header");
        let headers = Headers::new()
            .with(EVENT_HEADER, "issues")
            .with(DELIVERY_HEADER, "d-1")
            .with("content-type", "text/plain");
        let err = GitHub::cloud()
            .classify(&InboundRequest::new(&key, &headers, body))
            .unwrap_err();
        assert_eq!(err.code(), "webhook.unsupported_content_type");
    }
}
