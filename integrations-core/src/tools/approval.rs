//! Approval requests: a call whose policy is `ask` is stored as an [`ApprovalRequest`]
//! and runs once a human approves it.
//!
//! Requests live in the host's [`ApprovalStore`](crate::host::ApprovalStore), which takes
//! a request out exactly once, so an approved call executes exactly once even when two
//! people approve it at the same moment or two processes race on it.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::runtime::{Approved, Prepared};
use super::{CallContext, Runtime, ToolResult};
use crate::host::{AuditAction, AuditEvent, AuditOutcome};
use crate::{DefinitionKey, Error, ErrorKind, TenantId, Timestamp, UserId};

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
    /// [`ErrorKind::Internal`](crate::ErrorKind::Internal) (`tool.random_failed`) when
    /// the operating system has no randomness to give.
    pub fn generate() -> Result<Self, Error> {
        random_token().map(Self)
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub(crate) fn random_token() -> Result<String, Error> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| {
        crate::codes::tool::RANDOM_FAILED
            .error("the operating system could not supply random bytes")
    })?;
    Ok(bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        use fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    }))
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

impl Runtime {
    /// Approves the pending request `id` of `tenant` and runs it, returning the tool's
    /// own result. The request is taken out of the store first, so of any number of
    /// concurrent approvals (in any number of processes) exactly one runs the call; the
    /// others get `tool.approval_not_found`.
    ///
    /// Everything is checked again at approval time with the stored context: the
    /// connection, the arguments, the policy (a tool blocked since is refused) and the
    /// publication (one expired since is refused).
    pub async fn approve(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        approver: &UserId,
    ) -> ToolResult {
        let mut request = match self
            .take_approval(tenant, id, approver, "tool.approval_granted")
            .await
        {
            Ok(request) => request,
            Err(e) => return ToolResult::failure(&e),
        };
        let grant = Approved { id, by: approver };
        let prepared = match self
            .prepare(
                &request.tool,
                &mut request.arguments,
                &request.context,
                Some(&grant),
            )
            .await
        {
            Ok(prepared) => prepared,
            Err(result) => return result,
        };
        self.execute(&prepared, request.arguments, &request.context, Some(&grant))
            .await
    }

    /// Denies the pending request `id` of `tenant`: it is removed and never runs.
    ///
    /// # Errors
    ///
    /// `tool.approval_not_found` when there is no such pending request (already approved,
    /// denied or expired); storage errors.
    pub async fn deny(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        approver: &UserId,
    ) -> Result<ApprovalRequest, Error> {
        self.take_approval(tenant, id, approver, "tool.approval_denied")
            .await
    }

    pub(super) async fn request_approval(
        &self,
        prepared: &Prepared<'_>,
        arguments: Value,
        context: &CallContext,
    ) -> ToolResult {
        let name = &prepared.tool.descriptor.name;
        let key = &prepared.connection.key;
        let id = match ApprovalId::generate() {
            Ok(id) => id,
            Err(e) => return self.fail(context, Some(key), name, &e, None).await,
        };
        let request = ApprovalRequest::new(
            id,
            name.clone(),
            key.clone(),
            arguments,
            context.clone(),
            self.host.clock().now(),
            self.approval_ttl,
        );
        if let Err(e) = self.host.approvals().put_approval(&request).await {
            return self.fail(context, Some(key), name, &e, None).await;
        }
        self.record(
            context,
            Some(key),
            AuditAction::custom("tool.approval_requested"),
            AuditOutcome::Success,
            &[
                ("tool", name.clone()),
                ("approval_id", request.id.to_string()),
            ],
        )
        .await;
        ToolResult::approval_required(request)
    }

    /// Takes a pending request out of the store (once), audited as `action`.
    async fn take_approval(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        approver: &UserId,
        action: &'static str,
    ) -> Result<ApprovalRequest, Error> {
        let now = self.host.clock().now();
        let taken = self.host.approvals().take_approval(tenant, id, now).await;
        let (request, result) = match taken {
            Ok(Some(request)) if request.is_expired(now) => (
                Some(request),
                Err(crate::codes::tool::APPROVAL_EXPIRED.error("the approval request expired; the agent must call the tool again",
                )),
            ),
            Ok(Some(request)) => (Some(request.clone()), Ok(request)),
            Ok(None) => (
                None,
                Err(crate::codes::tool::APPROVAL_NOT_FOUND.error("no pending approval request has this id: it was approved, denied or expired, or never existed",
                )),
            ),
            Err(e) => (None, Err(e)),
        };
        let outcome = match &result {
            Ok(_) => AuditOutcome::Success,
            Err(e) if e.kind() == ErrorKind::PermissionDenied => AuditOutcome::Denied {
                code: e.code().to_owned(),
            },
            Err(e) => AuditOutcome::Failure {
                code: e.code().to_owned(),
            },
        };
        let mut event = AuditEvent::new(now, tenant.clone(), AuditAction::custom(action), outcome)
            .with_detail("approval_id", id.to_string())
            .with_detail("approver", approver.to_string());
        if let Some(request) = &request {
            event = event
                .with_key(request.key.clone())
                .with_connection(request.context.connection.clone())
                .with_actor(request.context.session.user.clone())
                .with_detail("tool", request.tool.clone());
        }
        self.host.audit().record(event).await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::Session;
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
