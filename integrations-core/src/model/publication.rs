use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ConnectionId, Error, PublicationId, TenantId, Timestamp, UserId, WorkspaceId};

/// A capability an agent may be granted through a publication: `issue.create`,
/// `comment.write`, `message.send`. Dotted segments of lowercase letters, digits and `_`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Capability(Cow<'static, str>);

impl Capability {
    /// Parses a capability.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)
    /// (`capability.invalid`) unless it is two or more dot-separated segments of
    /// `[a-z0-9_]`.
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        let segments: Vec<&str> = name.split('.').collect();
        let ok = segments.len() >= 2
            && name.len() <= 128
            && segments.iter().all(|s| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            });
        if ok {
            Ok(Self(Cow::Owned(name)))
        } else {
            Err(crate::codes::capability::INVALID
                .error("a capability is dot-separated lowercase segments, such as issue.create"))
        }
    }

    /// A capability from a literal, checked at compile time:
    /// `const ISSUE_CREATE: Capability = Capability::from_static("issue.create");`.
    /// Use it in a `const` item (or a `const { }` block): there a bad literal does not
    /// compile.
    ///
    /// # Panics
    ///
    /// When `name` breaks the rules of [`new`](Self::new): at compile time in const
    /// context.
    pub const fn from_static(name: &'static str) -> Self {
        assert!(
            static_capability_is_valid(name),
            "invalid capability literal: two or more dot-separated segments of a-z, 0-9 and _"
        );
        Self(Cow::Borrowed(name))
    }

    /// The capability's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// [`Capability::new`]'s rules, in const context.
const fn static_capability_is_valid(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > 128 {
        return false;
    }
    let mut segments = 1;
    let mut segment_len = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'.' {
            if segment_len == 0 {
                return false;
            }
            segments += 1;
            segment_len = 0;
        } else if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' {
            segment_len += 1;
        } else {
            return false;
        }
        i += 1;
    }
    segments >= 2 && segment_len > 0
}

impl TryFrom<String> for Capability {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl From<Capability> for String {
    fn from(c: Capability) -> String {
        c.0.into_owned()
    }
}

impl fmt::Debug for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Capability({})", self.0)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a publication applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "level", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PublicationScope {
    /// Every session in a workspace.
    Workspace {
        /// The workspace.
        workspace: WorkspaceId,
    },
    /// Sessions about one issue or conversation (a provider-side id).
    Issue {
        /// The provider-side issue id or conversation key.
        issue: String,
    },
    /// Sessions acting for one user.
    User {
        /// The user.
        user: UserId,
    },
}

/// The set of capabilities an agent session may use through one connection, with its
/// scope and optional expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Publication {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The publication's id.
    pub id: PublicationId,
    /// The connection the capabilities are used through.
    pub connection: ConnectionId,
    /// Where it applies.
    pub scope: PublicationScope,
    /// What the agent may do.
    pub capabilities: BTreeSet<Capability>,
    /// When it stops applying, if it does.
    pub expires_at: Option<Timestamp>,
    /// When it was created.
    pub created_at: Timestamp,
}

impl Publication {
    /// A publication with no capabilities and no expiry.
    pub fn new(
        tenant: TenantId,
        id: PublicationId,
        connection: ConnectionId,
        scope: PublicationScope,
        now: Timestamp,
    ) -> Self {
        Self {
            tenant,
            id,
            connection,
            scope,
            capabilities: BTreeSet::new(),
            expires_at: None,
            created_at: now,
        }
    }

    /// Whether the publication grants `capability` at `now`.
    pub fn allows(&self, capability: &Capability, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|at| now < at) && self.capabilities.contains(capability)
    }

    /// Why a call of `session` through `connection` that needs `capability` may not go
    /// with this publication at `now`, checked in this order; `None` when it may. The
    /// tool runtime refuses a call for the first reason; a front end listing tools
    /// leaves out the ones it would refuse.
    pub fn refusal(
        &self,
        connection: &ConnectionId,
        session: &super::Session,
        capability: &Capability,
        now: Timestamp,
    ) -> Option<PublicationRefusal> {
        if &self.connection != connection || !session.is_in(&self.scope) {
            return Some(PublicationRefusal::Mismatch);
        }
        if self.expires_at.is_some_and(|at| now >= at) {
            return Some(PublicationRefusal::Expired);
        }
        if !self.capabilities.contains(capability) {
            return Some(PublicationRefusal::CapabilityMissing);
        }
        None
    }
}

/// Why a publication does not let a call through: see [`Publication::refusal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicationRefusal {
    /// It is for another connection, or its scope does not cover the session.
    Mismatch,
    /// It has expired.
    Expired,
    /// It does not grant the capability.
    CapabilityMissing,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_grammar() {
        assert!(Capability::new("issue.create").is_ok());
        assert!(Capability::new("pr.review_comment.write").is_ok());
        for bad in [
            "issue",
            "Issue.create",
            "issue..create",
            ".x",
            "issue.create ",
        ] {
            assert!(Capability::new(bad).is_err(), "{bad}");
            assert!(!static_capability_is_valid(bad), "{bad}");
        }
        for bad in ["x.", "", &"a.".repeat(65)] {
            assert!(Capability::new(bad).is_err(), "{bad}");
            assert!(!static_capability_is_valid(bad), "{bad}");
        }
        assert_eq!(
            const { Capability::from_static("pr.review_comment.write") },
            Capability::new("pr.review_comment.write").unwrap()
        );
    }

    #[test]
    fn allows_checks_expiry() {
        let mut p = Publication::new(
            TenantId::new("t").unwrap(),
            PublicationId::new("p").unwrap(),
            ConnectionId::new("c").unwrap(),
            PublicationScope::Issue {
                issue: "ENG-1".into(),
            },
            Timestamp::from_unix_seconds(0),
        );
        let create = Capability::new("issue.create").unwrap();
        assert!(!p.allows(&create, Timestamp::from_unix_seconds(1)));
        p.capabilities.insert(create.clone());
        assert!(p.allows(&create, Timestamp::from_unix_seconds(1)));
        p.expires_at = Some(Timestamp::from_unix_seconds(10));
        assert!(!p.allows(&create, Timestamp::from_unix_seconds(10)));
    }
}
