//! Session dispatch: what an event means for agent sessions (create one, resume one, or
//! nothing), keyed by the conversation it belongs to.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The conversation an event belongs to, unique within one connection: a GitHub issue or
/// pull request (`github:octo-org/octo-repo:42`), a Linear issue
/// (`linear:issue:<issue id>`), a Slack thread (`slack:<channel>:<thread ts>`).
///
/// Hosts key agent sessions by `(tenant, connection, conversation key)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConversationKey {
    /// The provider family (`github`).
    pub family: String,
    /// What contains the conversation (`octo-org/octo-repo`, `issue`, a channel id).
    pub scope: String,
    /// The conversation inside it (an issue number, an issue id, a thread timestamp).
    pub thread: String,
}

impl ConversationKey {
    /// A key from its three parts.
    pub fn new(
        family: impl Into<String>,
        scope: impl Into<String>,
        thread: impl Into<String>,
    ) -> Self {
        Self {
            family: family.into(),
            scope: scope.into(),
            thread: thread.into(),
        }
    }
}

impl fmt::Display for ConversationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.family, self.scope, self.thread)
    }
}

/// What an event means for agent sessions.
///
/// The provider decides from the event alone (pure): it cannot know whether a session
/// exists, so `Resume` means "this continues the conversation; deliver it to the session
/// under this key if there is one", and `Create` means "this starts a conversation".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "dispatch", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionDispatch {
    /// The event starts a conversation (an issue opened, an app mention, a DM).
    Create {
        /// The conversation.
        key: ConversationKey,
    },
    /// The event continues a conversation (a comment, a thread reply).
    Resume {
        /// The conversation.
        key: ConversationKey,
    },
    /// The event concerns no session.
    Ignore {
        /// Why, as a short stable phrase (`bot message`, `not a conversation event`).
        reason: Cow<'static, str>,
    },
}

impl SessionDispatch {
    /// Start the conversation `key`.
    pub fn create(key: ConversationKey) -> Self {
        Self::Create { key }
    }

    /// Continue the conversation `key`.
    pub fn resume(key: ConversationKey) -> Self {
        Self::Resume { key }
    }

    /// Concerns no session, because `reason`.
    pub fn ignore(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::Ignore {
            reason: reason.into(),
        }
    }

    /// The conversation, unless ignored.
    pub fn key(&self) -> Option<&ConversationKey> {
        match self {
            Self::Create { key } | Self::Resume { key } => Some(key),
            Self::Ignore { .. } => None,
        }
    }

    /// `create`, `resume` or `ignore`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::Resume { .. } => "resume",
            Self::Ignore { .. } => "ignore",
        }
    }
}

impl Default for SessionDispatch {
    fn default() -> Self {
        Self::ignore("no session dispatch")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_tagged() {
        let d = SessionDispatch::resume(ConversationKey::new("github", "o/r", "42"));
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({"dispatch": "resume", "key": {"family": "github", "scope": "o/r", "thread": "42"}})
        );
        assert_eq!(d.key().unwrap().to_string(), "github:o/r:42");
        assert_eq!(SessionDispatch::default().as_str(), "ignore");
        let back: SessionDispatch =
            serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }
}
