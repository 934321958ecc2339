//! Approval requests: tool calls waiting, in the host's
//! [`ApprovalStore`](crate::host::ApprovalStore), for a human to approve them.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::CallContext;
use crate::{DefinitionKey, Error, TenantId, Timestamp};

/// The id of an approval request: 128 random bits, hex.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApprovalId(String);

impl ApprovalId {
    /// Parses an id (as a host reads it back from a UI or an API).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`id.invalid`) when
    /// empty, longer than 256 bytes, or holding whitespace or control characters.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        crate::id::check_id("approval id", &value)?;
        Ok(Self(value))
    }

    /// A fresh random id.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Crypto`](crate::ErrorKind::Crypto) (`crypto.random_failed`) when
    /// the operating system has no randomness to give.
    pub fn generate() -> Result<Self, Error> {
        crate::sealing::random_token().map(Self)
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApprovalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApprovalId({:?})", self.0)
    }
}

impl fmt::Display for ApprovalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ApprovalId {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<ApprovalId> for String {
    fn from(id: ApprovalId) -> String {
        id.0
    }
}

impl std::str::FromStr for ApprovalId {
    type Err = Error;
    fn from_str(value: &str) -> Result<Self, Error> {
        Self::new(value)
    }
}

/// A tool call waiting for a human's approval: everything needed to run it later, and
/// nothing secret (arguments are what the agent sent; credentials are fetched when it
/// runs).
///
/// A plain record with public fields, so hosts can store it in their database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApprovalRequest {
    /// The owning tenant (the same as `context.session.tenant`).
    pub tenant: TenantId,
    /// The request's id.
    pub id: ApprovalId,
    /// The tool.
    pub tool: String,
    /// The integration that offers it (the connection's definition).
    pub key: DefinitionKey,
    /// The validated arguments.
    pub arguments: Value,
    /// Who called it, through which connection and publication.
    pub context: CallContext,
    /// When the call was made.
    pub requested_at: Timestamp,
    /// After this instant the request can no longer be approved.
    pub expires_at: Timestamp,
}

impl ApprovalRequest {
    /// A request made at `now` that expires after `ttl`.
    pub fn new(
        id: ApprovalId,
        tool: impl Into<String>,
        key: DefinitionKey,
        arguments: Value,
        context: CallContext,
        now: Timestamp,
        ttl: Duration,
    ) -> Self {
        Self {
            tenant: context.session.tenant.clone(),
            id,
            tool: tool.into(),
            key,
            arguments,
            context,
            requested_at: now,
            expires_at: now.saturating_add(ttl),
        }
    }

    /// Whether it can still be approved at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }
}

/// Where an approved call stands, for the client that asked and will ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ApprovalStage {
    /// Waiting for a person.
    Pending,
    /// A person approved it and it runs now.
    Running,
    /// It ran: its result waits for the client's retry.
    Settled,
    /// A person denied it.
    Denied,
}

impl ApprovalStage {
    /// The stage as a word: `pending`, `running`, `settled`, `denied`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Settled => "settled",
            Self::Denied => "denied",
        }
    }
}

/// A call an MCP client made that waits for, or was answered by, a person's approval:
/// found by the call's key (a digest of who called, the tool and the arguments), so the
/// client's retry of the same call, in any process of the host, gets its answer.
///
/// A plain record with public fields, so hosts can store it in their database. The
/// result of a settled call is sealed with the host's cipher
/// ([`approval_result_aad`](crate::sealing::approval_result_aad)): a record holds no
/// readable result data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApprovalCall {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The call's key: lowercase hex, unique per tenant.
    pub key: String,
    /// The approval request the call waits in (one call per request).
    pub request: ApprovalRequest,
    /// Where it stands.
    pub stage: ApprovalStage,
    /// The call's result, sealed, once settled.
    pub result: Option<crate::sealing::Sealed>,
    /// When the stage last changed.
    pub updated_at: Timestamp,
    /// After this instant the record is gone: a store never returns it.
    pub expires_at: Timestamp,
}

impl ApprovalCall {
    /// The record of a call that waits in `request` (pending until the request expires).
    pub fn pending(key: impl Into<String>, request: ApprovalRequest, now: Timestamp) -> Self {
        Self {
            tenant: request.tenant.clone(),
            key: key.into(),
            expires_at: request.expires_at,
            request,
            stage: ApprovalStage::Pending,
            result: None,
            updated_at: now,
        }
    }

    /// This call at `stage` from `now` until `expires_at`, with `result` (settled only).
    #[must_use]
    pub fn at_stage(
        &self,
        stage: ApprovalStage,
        result: Option<crate::sealing::Sealed>,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Self {
        Self {
            stage,
            result,
            updated_at: now,
            expires_at,
            ..self.clone()
        }
    }

    /// Whether it waits for a person at `now` (pending, its request not expired) for a
    /// call of `workspace` and `user`: what
    /// [`ApprovalStore::count_pending_approval_calls`](crate::host::ApprovalStore::count_pending_approval_calls)
    /// counts.
    pub fn is_pending_for(
        &self,
        workspace: &crate::WorkspaceId,
        user: Option<&crate::UserId>,
        now: Timestamp,
    ) -> bool {
        let session = &self.request.context.session;
        self.stage == ApprovalStage::Pending
            && !self.request.is_expired(now)
            && self.is_live(now)
            && &session.workspace == workspace
            && session.user.as_ref() == user
    }

    /// Whether a store still returns it at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Session;
    use crate::{ConnectionId, WorkspaceId};

    #[test]
    fn ids_are_random_hex_and_parse_back() {
        let a = ApprovalId::generate().unwrap();
        let b = ApprovalId::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.as_str().parse::<ApprovalId>().unwrap(), a);
        assert!(ApprovalId::new("has space").is_err());
        assert!(serde_json::from_str::<ApprovalId>("\"\"").is_err());
    }

    #[test]
    fn requests_expire() {
        let session = Session::new(TenantId::new("t").unwrap(), WorkspaceId::new("w").unwrap());
        let context = CallContext::new(session, ConnectionId::new("c").unwrap());
        let now = Timestamp::from_unix_seconds(100);
        let request = ApprovalRequest::new(
            ApprovalId::generate().unwrap(),
            "tracker_create_ticket",
            "tracker::cloud".parse().unwrap(),
            serde_json::json!({"title": "x"}),
            context,
            now,
            Duration::from_secs(60),
        );
        assert_eq!(request.tenant.as_str(), "t");
        assert!(!request.is_expired(Timestamp::from_unix_seconds(159)));
        assert!(request.is_expired(Timestamp::from_unix_seconds(160)));
        let json = serde_json::to_value(&request).unwrap();
        let back: ApprovalRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back, request);
    }
}
