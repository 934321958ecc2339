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
    /// A connection's config was replaced
    /// ([`WriteService::configure_connection`](crate::service::WriteService::configure_connection)).
    pub const CONNECTION_CONFIGURED: Self = Self(Cow::Borrowed("connection.configured"));
    /// A connection's status changed.
    pub const CONNECTION_STATUS_CHANGED: Self = Self(Cow::Borrowed("connection.status_changed"));
    /// A connection was forgotten: disconnected, and its record, publications and sync
    /// checkpoints deleted.
    pub const CONNECTION_FORGOTTEN: Self = Self(Cow::Borrowed("connection.forgotten"));
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

/// One audit record with its parts borrowed: what an engine on a hot path (a tool call)
/// hands a sink through [`AuditSink::record_ref`], so that a sink which writes the record
/// out in place allocates nothing. [`to_event`](Self::to_event) makes the owned
/// [`AuditEvent`] with the same fields.
///
/// `detail` is a list of `(name, value)` pairs; as with [`AuditEvent::with_detail`], a
/// later pair replaces an earlier one of the same name.
///
/// ```
/// use integrations_core::host::{AuditAction, AuditEventRef, AuditOutcome};
/// use integrations_core::{TenantId, Timestamp};
///
/// let tenant = TenantId::new("acme")?;
/// let detail = [("tool", "tracker_list_tickets"), ("policy", "auto")];
/// let event = AuditEventRef::new(
///     Timestamp::from_unix_seconds(1_790_000_000),
///     &tenant,
///     &AuditAction::TOOL_CALLED,
///     &AuditOutcome::Success,
/// )
/// .with_detail(&detail)
/// .to_event();
/// assert_eq!(event.detail["policy"], "auto");
/// # Ok::<(), integrations_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AuditEventRef<'a> {
    /// When it happened.
    pub at: Timestamp,
    /// The tenant.
    pub tenant: &'a TenantId,
    /// What happened.
    pub action: &'a AuditAction,
    /// How it ended.
    pub outcome: &'a AuditOutcome,
    /// The definition involved.
    pub key: Option<&'a DefinitionKey>,
    /// The connection involved.
    pub connection: Option<&'a ConnectionId>,
    /// The user the action was taken for.
    pub actor: Option<&'a UserId>,
    /// Extra non-secret facts, as `(name, value)` pairs; a later pair replaces an
    /// earlier one of the same name.
    pub detail: &'a [(&'a str, &'a str)],
}

impl<'a> AuditEventRef<'a> {
    /// A record with no key, connection, actor or detail.
    pub fn new(
        at: Timestamp,
        tenant: &'a TenantId,
        action: &'a AuditAction,
        outcome: &'a AuditOutcome,
    ) -> Self {
        Self {
            at,
            tenant,
            action,
            outcome,
            key: None,
            connection: None,
            actor: None,
            detail: &[],
        }
    }

    /// Sets the definition key.
    #[must_use]
    pub fn with_key(mut self, key: Option<&'a DefinitionKey>) -> Self {
        self.key = key;
        self
    }

    /// Sets the connection.
    #[must_use]
    pub fn with_connection(mut self, connection: Option<&'a ConnectionId>) -> Self {
        self.connection = connection;
        self
    }

    /// Sets the actor.
    #[must_use]
    pub fn with_actor(mut self, actor: Option<&'a UserId>) -> Self {
        self.actor = actor;
        self
    }

    /// Sets the details.
    #[must_use]
    pub fn with_detail(mut self, detail: &'a [(&'a str, &'a str)]) -> Self {
        self.detail = detail;
        self
    }

    /// The owned record with the same fields.
    pub fn to_event(&self) -> AuditEvent {
        AuditEvent {
            at: self.at,
            tenant: self.tenant.clone(),
            action: self.action.clone(),
            outcome: self.outcome.clone(),
            key: self.key.cloned(),
            connection: self.connection.cloned(),
            actor: self.actor.cloned(),
            detail: self
                .detail
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        }
    }
}

/// Receives audit records. Recording must not fail the audited operation, so the methods
/// return nothing: a sink that can fail handles (and reports) its own errors.
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Records one event.
    async fn record(&self, event: AuditEvent);

    /// Records one event given with its parts borrowed. The default makes the owned
    /// [`AuditEvent`] ([`AuditEventRef::to_event`]) and passes it to
    /// [`record`](Self::record); a sink that writes records out in place (as
    /// [`TracingAuditSink`] does) overrides it to skip the copy.
    async fn record_ref(&self, event: AuditEventRef<'_>) {
        self.record(event.to_event()).await;
    }

    /// Records one event at once, without a future, when the sink can: a sink that writes
    /// synchronously (a `tracing` event, a send into a bounded channel) overrides it and
    /// returns `true`. The default returns `false`; the caller then awaits
    /// [`record_ref`](Self::record_ref). The tool runtime tries it first on every call,
    /// so a synchronous sink costs no allocation per record.
    fn record_now(&self, event: &AuditEventRef<'_>) -> bool {
        let _ = event;
        false
    }
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
        emit(
            &event.tenant,
            &event.action,
            &event.outcome,
            event.key.as_ref(),
            event.connection.as_ref(),
            &event.detail,
        );
    }

    async fn record_ref(&self, event: AuditEventRef<'_>) {
        self.record_now(&event);
    }

    fn record_now(&self, event: &AuditEventRef<'_>) -> bool {
        emit(
            event.tenant,
            event.action,
            event.outcome,
            event.key,
            event.connection,
            &DetailMap(event.detail),
        );
        true
    }
}

/// The `tracing` event of one record: the same fields whether the record is owned or
/// borrowed, formatted only when a subscriber takes the event.
fn emit(
    tenant: &TenantId,
    action: &AuditAction,
    outcome: &AuditOutcome,
    key: Option<&DefinitionKey>,
    connection: Option<&ConnectionId>,
    detail: &dyn fmt::Debug,
) {
    tracing::info!(
        target: "integrations::audit",
        tenant = %tenant,
        action = %action,
        outcome = %OutcomeText(outcome),
        key = key.map(DefinitionKey::as_str),
        connection = connection.map(ConnectionId::as_str),
        detail = ?detail,
        "audit"
    );
}

/// An outcome as one word: `success`, `failure:<code>`, `denied:<code>`.
struct OutcomeText<'a>(&'a AuditOutcome);

impl fmt::Display for OutcomeText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            AuditOutcome::Success => f.write_str("success"),
            AuditOutcome::Failure { code } => write!(f, "failure:{code}"),
            AuditOutcome::Denied { code } => write!(f, "denied:{code}"),
        }
    }
}

/// Borrowed details formatted as the owned record's map is: ordered by name, a later
/// pair replacing an earlier one of the same name.
struct DetailMap<'a>(&'a [(&'a str, &'a str)]);

impl fmt::Debug for DetailMap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let map: BTreeMap<&str, &str> = self.0.iter().copied().collect();
        f.debug_map().entries(map).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_borrowed_record_makes_the_same_event_and_the_same_traced_text() {
        let tenant = TenantId::new("acme").unwrap();
        let key: DefinitionKey = "tracker::cloud".parse().unwrap();
        let connection = ConnectionId::new("c1").unwrap();
        let actor = UserId::new("alice").unwrap();
        let outcome = AuditOutcome::Denied {
            code: "tool.blocked".into(),
        };
        let detail = [("tool", "t"), ("policy", "block"), ("tool", "tracker_x")];
        let borrowed = AuditEventRef::new(
            Timestamp::from_unix_seconds(1_790_000_000),
            &tenant,
            &AuditAction::POLICY_DECIDED,
            &outcome,
        )
        .with_key(Some(&key))
        .with_connection(Some(&connection))
        .with_actor(Some(&actor))
        .with_detail(&detail);
        let owned = AuditEvent::new(
            Timestamp::from_unix_seconds(1_790_000_000),
            tenant.clone(),
            AuditAction::POLICY_DECIDED,
            outcome.clone(),
        )
        .with_key(key.clone())
        .with_connection(connection.clone())
        .with_actor(Some(actor.clone()))
        .with_detail("tool", "t")
        .with_detail("policy", "block")
        .with_detail("tool", "tracker_x");
        assert_eq!(borrowed.to_event(), owned);
        assert_eq!(
            format!("{:?}", DetailMap(&detail)),
            format!("{:?}", owned.detail)
        );
        assert_eq!(OutcomeText(&outcome).to_string(), "denied:tool.blocked");
        assert_eq!(
            OutcomeText(&AuditOutcome::Failure { code: "x.y".into() }).to_string(),
            "failure:x.y"
        );
        assert_eq!(OutcomeText(&AuditOutcome::Success).to_string(), "success");

        let text = traced(tracing::Level::INFO, &borrowed);
        for field in [
            "integrations::audit",
            "tenant=acme",
            "action=tool.policy_decided",
            "outcome=denied:tool.blocked",
            "key=\"tracker::cloud\"",
            "connection=\"c1\"",
            "detail={\"policy\": \"block\", \"tool\": \"tracker_x\"}",
        ] {
            assert!(text.contains(field), "{field} is missing from {text}");
        }
        // A subscriber that does not take INFO gets nothing, and the record still counts
        // as written: the sink has nothing to wait for.
        assert_eq!(traced(tracing::Level::WARN, &borrowed), "");
    }

    /// The text a `fmt` subscriber at `level` writes while `record_now` records `event`.
    fn traced(level: tracing::Level, event: &AuditEventRef<'_>) -> String {
        #[derive(Clone, Default)]
        struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            assert!(TracingAuditSink::new().record_now(event));
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }
}
