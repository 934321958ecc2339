//! The normalized webhook event: what every provider's deliveries become.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::SessionDispatch;
use crate::{ConnectionId, DefinitionKey, Error, TenantId, Timestamp};

/// An event type, `<family>.<object>.<action>`: `github.issues.opened`,
/// `github.push.pushed`, `linear.issue.updated`, `slack.message.posted`,
/// `openai.response.completed`. Three non-empty segments of `[a-z0-9_-]`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventType(String);

impl EventType {
    /// Parses an event type.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)
    /// (`webhook.invalid_event_type`) unless it is three non-empty dot-separated segments
    /// of lowercase letters, digits, `_` and `-`.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        let segments: Vec<&str> = value.split('.').collect();
        let ok = segments.len() == 3
            && segments.iter().all(|s| {
                !s.is_empty()
                    && s.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                    })
            });
        if ok {
            Ok(Self(value))
        } else {
            Err(crate::codes::webhook::INVALID_EVENT_TYPE
                .error("an event type is <family>.<object>.<action> in lowercase"))
        }
    }

    /// Builds `<family>.<object>.<action>` from parts, lowercasing them and replacing any
    /// other character with `_`; empty parts become `unknown`.
    pub fn from_parts(family: &str, object: &str, action: &str) -> Self {
        // One allocation: every webhook event builds one.
        let mut out = String::with_capacity(family.len() + object.len() + action.len() + 2);
        for (i, part) in [family, object, action].into_iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            if part.is_empty() {
                out.push_str("unknown");
            }
            out.extend(part.chars().map(|c| {
                let c = c.to_ascii_lowercase();
                if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            }));
        }
        Self(out)
    }

    /// The event type as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The family segment.
    pub fn family(&self) -> &str {
        self.0.split('.').next().unwrap_or_default()
    }

    /// The object segment.
    pub fn object(&self) -> &str {
        self.0.split('.').nth(1).unwrap_or_default()
    }

    /// The action segment.
    pub fn action(&self) -> &str {
        self.0.split('.').nth(2).unwrap_or_default()
    }
}

impl TryFrom<String> for EventType {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl From<EventType> for String {
    fn from(t: EventType) -> String {
        t.0
    }
}

impl fmt::Debug for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventType({})", self.0)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SubjectKind {
    /// An issue (GitHub issue, Linear issue).
    Issue,
    /// A pull request.
    PullRequest,
    /// A comment on an issue or pull request.
    Comment,
    /// A chat message.
    Message,
    /// A push of commits.
    Push,
    /// Something else (a response, a job).
    Other,
}

/// A typed view of the thing an event is about, for the fields every consumer wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventSubject {
    /// What it is.
    pub kind: SubjectKind,
    /// The provider's id for it.
    pub id: String,
    /// A human number or identifier (`42`, `ENG-123`), when there is one.
    pub number: Option<String>,
    /// The title (issues, pull requests).
    pub title: Option<String>,
    /// The text (comments, messages).
    pub text: Option<String>,
    /// A link to it.
    pub url: Option<String>,
    /// Who caused the event (login, user id, name).
    pub actor: Option<String>,
    /// The container: `owner/repo` on GitHub, the team key on Linear, the channel on Slack.
    pub container: Option<String>,
    /// What it belongs to: the issue of a Linear comment, the thread root (`thread_ts`)
    /// of a Slack reply.
    #[serde(default)]
    pub parent: Option<String>,
}

impl EventSubject {
    /// A subject with only its kind and id.
    pub fn new(kind: SubjectKind, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
            number: None,
            title: None,
            text: None,
            url: None,
            actor: None,
            container: None,
            parent: None,
        }
    }

    /// Sets the number.
    #[must_use]
    pub fn with_number(mut self, number: impl Into<String>) -> Self {
        self.number = Some(number.into());
        self
    }

    /// Sets the title.
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the text.
    #[must_use]
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Sets the URL.
    #[must_use]
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Sets the actor.
    #[must_use]
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Sets the container.
    #[must_use]
    pub fn with_container(mut self, container: impl Into<String>) -> Self {
        self.container = Some(container.into());
        self
    }

    /// Sets the parent.
    #[must_use]
    pub fn with_parent(mut self, parent: impl Into<String>) -> Self {
        self.parent = Some(parent.into());
        self
    }
}

/// A verified, normalized, deduplicated inbound event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebhookEvent {
    /// The tenant of the connection it was routed to.
    pub tenant: TenantId,
    /// The connection it was routed to.
    pub connection: ConnectionId,
    /// The definition that received it.
    pub key: DefinitionKey,
    /// `<family>.<object>.<action>`.
    pub event_type: EventType,
    /// The provider's own name for the event (`issues`, `Issue`, `message`, `response.completed`).
    pub provider_event_type: String,
    /// The id that deduplicates the event: the delivery id where the provider resends it
    /// unchanged on retries (GitHub, Linear, Standard Webhooks), the event id otherwise
    /// (Slack `event_id`).
    pub external_event_id: String,
    /// The delivery id, when the provider sends one.
    pub delivery_id: Option<String>,
    /// When the provider says it happened.
    pub occurred_at: Option<Timestamp>,
    /// When it was received.
    pub received_at: Timestamp,
    /// A key that orders events of one source: `<occurred-at RFC 3339>#<zero-padded id>`.
    pub source_order_key: Option<String>,
    /// What it is about, where that helps.
    pub subject: Option<EventSubject>,
    /// What the event means for agent sessions (the provider's
    /// [`dispatch`](crate::provider::webhook::WebhookHandler::dispatch)).
    #[serde(default)]
    pub dispatch: SessionDispatch,
    /// The provider's JSON payload, kept as raw bytes (never re-serialized).
    pub payload: Box<RawValue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_grammar() {
        assert!(EventType::new("github.issues.opened").is_ok());
        assert!(EventType::new("github.issue_comment.created").is_ok());
        for bad in [
            "github.issues",
            "github.issues.opened.x",
            "GitHub.issues.opened",
            "a..b",
        ] {
            assert!(EventType::new(bad).is_err(), "{bad}");
        }
        let t = EventType::from_parts("linear", "Issue", "");
        assert_eq!(t.as_str(), "linear.issue.unknown");
        assert_eq!(
            EventType::from_parts("slack", "app mention", "x").as_str(),
            "slack.app_mention.x"
        );
        assert_eq!(
            EventType::from_parts("", "Ünïcode é", "").as_str(),
            "unknown._n_code__.unknown"
        );
        assert_eq!(t.family(), "linear");
        assert_eq!(t.object(), "issue");
        assert_eq!(t.action(), "unknown");
    }
}
