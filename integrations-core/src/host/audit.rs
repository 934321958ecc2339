//! [`AuditSink`]: where every credential use, refresh, tool call and policy decision is
//! recorded.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{ConnectionId, DefinitionKey, TenantId, Timestamp, UserId};

/// What was audited: `credential.used`, `credential.refreshed`, `tool.called`, ... An open
/// set of dotted names; provider crates may add their own.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuditAction(Cow<'static, str>);

impl AuditAction {
    /// A credential was handed to a caller (egress injection, tool HTTP).
    pub const CREDENTIAL_USED: Self = Self(Cow::Borrowed("credential.used"));
    /// An access token was refreshed (or a refresh was attempted).
    pub const CREDENTIAL_REFRESHED: Self = Self(Cow::Borrowed("credential.refreshed"));
    /// A connection was created or re-authorized.
    pub const CONNECTION_AUTHORIZED: Self = Self(Cow::Borrowed("connection.authorized"));
    /// A connection's status changed.
    pub const CONNECTION_STATUS_CHANGED: Self = Self(Cow::Borrowed("connection.status_changed"));
    /// A tool policy was decided.
    pub const POLICY_DECIDED: Self = Self(Cow::Borrowed("tool.policy_decided"));
    /// A tool was called.
    pub const TOOL_CALLED: Self = Self(Cow::Borrowed("tool.called"));

    /// A custom action name.
    pub fn custom(name: impl Into<Cow<'static, str>>) -> Self {
        Self(name.into())
    }

    /// The action's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditAction({})", self.0)
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an audited action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditOutcome {
    /// It succeeded (or, for a policy decision, the call may run).
    Success,
    /// It failed, with the stable error code.
    Failure {
        /// The error's stable code.
        code: String,
    },
    /// A policy or capability check refused it.
    Denied {
        /// Why, as a stable code.
        code: String,
    },
}

/// One audit record. It never holds a secret: `detail` carries ids, names and codes only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// When it happened.
    pub at: Timestamp,
    /// The tenant.
    pub tenant: TenantId,
    /// What happened.
    pub action: AuditAction,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The definition involved.
    pub key: Option<DefinitionKey>,
    /// The connection involved.
    pub connection: Option<ConnectionId>,
    /// The user the action was taken for.
    pub actor: Option<UserId>,
    /// Extra non-secret facts (`tool`, `policy`, `route`, `status`).
    pub detail: BTreeMap<String, String>,
}

impl AuditEvent {
    /// A record with no key, connection, actor or detail.
    pub fn new(
        at: Timestamp,
        tenant: TenantId,
        action: AuditAction,
        outcome: AuditOutcome,
    ) -> Self {
        Self {
            at,
            tenant,
            action,
            outcome,
            key: None,
            connection: None,
            actor: None,
            detail: BTreeMap::new(),
        }
    }

    /// Sets the definition key.
    #[must_use]
    pub fn with_key(mut self, key: DefinitionKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the connection.
    #[must_use]
    pub fn with_connection(mut self, connection: ConnectionId) -> Self {
        self.connection = Some(connection);
        self
    }

    /// Sets the actor.
    #[must_use]
    pub fn with_actor(mut self, actor: Option<UserId>) -> Self {
        self.actor = actor;
        self
    }

    /// Adds a detail.
    #[must_use]
    pub fn with_detail(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.detail.insert(name.into(), value.into());
        self
    }
}

/// Receives audit records. Recording must not fail the audited operation, so the method
/// returns nothing: a sink that can fail handles (and reports) its own errors.
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Records one event.
    async fn record(&self, event: AuditEvent);
}

/// An [`AuditSink`] that emits each record as a `tracing` event at `INFO` on the
/// `integrations::audit` target.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct TracingAuditSink;

impl TracingAuditSink {
    /// The sink.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl AuditSink for TracingAuditSink {
    async fn record(&self, event: AuditEvent) {
        let outcome = match &event.outcome {
            AuditOutcome::Success => "success".to_owned(),
            AuditOutcome::Failure { code } => format!("failure:{code}"),
            AuditOutcome::Denied { code } => format!("denied:{code}"),
        };
        tracing::info!(
            target: "integrations::audit",
            tenant = %event.tenant,
            action = %event.action,
            outcome = %outcome,
            key = event.key.as_ref().map(DefinitionKey::as_str),
            connection = event.connection.as_ref().map(ConnectionId::as_str),
            detail = ?event.detail,
            "audit"
        );
    }
}
