//! Approval requests: a call whose policy is `ask` is stored as an [`ApprovalRequest`]
//! and runs once a human approves it.
//!
//! Requests live in the host's [`ApprovalStore`](crate::host::ApprovalStore), which takes
//! a request out exactly once, so an approved call executes exactly once even when two
//! people approve it at the same moment or two processes race on it.

use serde_json::Value;

use super::Runtime;
use super::runtime::{Approved, CallDetail, Prepared};
use crate::host::{AuditAction, AuditEvent, AuditOutcome};
use crate::model::CallContext;
use crate::model::{ApprovalId, ApprovalRequest};
use crate::provider::tools::ToolResult;
use crate::{Error, ErrorKind, TenantId, UserId};

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
        self.try_approve(tenant, id, approver)
            .await
            .unwrap_or_else(|e| ToolResult::failure(&e))
    }

    /// [`approve`](Self::approve), telling apart a request that was never taken from
    /// one that was: `Err` when the request was not taken out of the store (none is
    /// pending under `id`, it expired, or the store failed first), so nothing ran and a
    /// pending request is still there; `Ok` with the call's result once it was taken,
    /// whether the call then ran or was refused by a check (the request is gone either
    /// way). A caller that keeps the result for someone (an MCP client's retry) keeps
    /// only an `Ok`.
    ///
    /// # Errors
    ///
    /// `tool.approval_not_found` when no such request is pending; storage errors.
    pub async fn try_approve(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        approver: &UserId,
    ) -> Result<ToolResult, Error> {
        let mut request = self
            .take_approval(tenant, id, approver, "tool.approval_granted")
            .await?;
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
            Err(result) => return Ok(*result),
        };
        Ok(self
            .execute(&prepared, request.arguments, &request.context, Some(&grant))
            .await)
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
        // The request keeps no continuation scope: the result of the approved call (and
        // the pages after its first) goes to the session's retry from whichever
        // conversation it comes.
        let mut asked = context.clone();
        asked.continuation_scope = None;
        let request = ApprovalRequest::new(
            id,
            name.clone(),
            key.clone(),
            arguments,
            asked,
            self.host.clock().now(),
            self.approval_ttl,
        );
        if let Err(e) = self.host.approvals().put_approval(&request).await {
            return self.fail(context, Some(key), name, &e, None).await;
        }
        let detail = CallDetail::new(
            context,
            [("tool", name), ("approval_id", request.id.as_str())],
            None,
        );
        self.record(
            context,
            Some(key),
            &AuditAction::custom("tool.approval_requested"),
            &AuditOutcome::Success,
            &detail,
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
