//! Who is calling and with what: [`Session`] (the agent's tenant, workspace, user,
//! project and subject), [`CallContext`] (a session plus the connection and publication a
//! call goes through), and [`ToolContext`] (what a tool implementation sees while it runs).

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::ToolHttp;
use crate::definition::ConnectionMethodKind;
use crate::host::{AuditAction, AuditEvent, AuditOutcome, Host};
use crate::model::{CallContext, Session};
use crate::model::{Connection, Publication};
use crate::plan::CredentialSelector;
use crate::schema::Parsed;
use crate::sealing::{Aad, Sealed};
use crate::{DefinitionKey, Error, ProjectId, TenantId, Timestamp, UserId, WorkspaceId};

/// The version prefix of sealed paging cursors.
const CURSOR_PREFIX: &str = "c1";

/// What a tool implementation sees while it runs: the ids of the call, the connection and
/// its parsed config, the target's parsed config, the publication, credentialed HTTP
/// ([`ToolHttp`]), the clock and the audit sink. Cheap to clone.
///
/// It deliberately gives no access to the host's stores: a tool can use its connection's
/// credential through [`http`](Self::http) but never read a credential table.
#[derive(Clone)]
pub struct ToolContext {
    parts: Arc<CallParts>,
    publication: Option<Arc<Publication>>,
}

/// What a tool context holds that depends only on the connection record and its target's
/// stored version, not on the call: built once per pair of records and shared by every
/// call through them.
pub(crate) struct ConnectionParts {
    pub(crate) method: ConnectionMethodKind,
    pub(crate) default_credential: Option<Arc<CredentialSelector>>,
    pub(crate) target_config: Parsed,
    pub(crate) connection_config: Parsed,
    pub(crate) default_headers: Arc<http::HeaderMap>,
}

/// What a tool context holds besides the publication: the call's ids, the connection's
/// parts and the tool's HTTP (which holds the tool's name, the connection and the host
/// once for both). It depends on the call's ids, the tool and the records, and is shared
/// by every call that has the same.
pub(crate) struct CallParts {
    pub(crate) call: CallContext,
    pub(crate) connection: Arc<ConnectionParts>,
    pub(crate) http: ToolHttp,
}

impl fmt::Debug for ToolContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolContext")
            .field("tool", &self.tool_name())
            .field("key", self.key())
            .field("call", &self.parts.call)
            .finish_non_exhaustive()
    }
}

impl ToolContext {
    /// The context of a call with `parts`, allowed by `publication`.
    pub(crate) fn new(parts: Arc<CallParts>, publication: Option<Arc<Publication>>) -> Self {
        Self { parts, publication }
    }

    fn host(&self) -> &Host {
        self.parts.http.host()
    }

    /// The call's ids.
    pub fn call(&self) -> &CallContext {
        &self.parts.call
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.parts.call.session
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.parts.call.session.tenant
    }

    /// The workspace.
    pub fn workspace(&self) -> &WorkspaceId {
        &self.parts.call.session.workspace
    }

    /// The user the agent acts for.
    pub fn user(&self) -> Option<&UserId> {
        self.parts.call.session.user.as_ref()
    }

    /// The project.
    pub fn project(&self) -> Option<&ProjectId> {
        self.parts.call.session.project.as_ref()
    }

    /// The tool being run.
    pub fn tool_name(&self) -> &str {
        self.parts.http.tool()
    }

    /// The connection's definition (`github::github-enterprise-server`).
    pub fn key(&self) -> &DefinitionKey {
        &self.connection().key
    }

    /// The connection.
    pub fn connection(&self) -> &Connection {
        self.parts.http.connection()
    }

    /// How the connection was made (API key, OAuth 2.0, redirect).
    pub fn method_kind(&self) -> ConnectionMethodKind {
        self.parts.connection.method
    }

    /// The credential a request uses by default: the first secret field of an API-key
    /// connection (its type and slot), the OAuth 2.0 access token of an OAuth connection,
    /// and nothing for redirect connections (their provider names a resolver).
    pub fn default_credential(&self) -> Option<&CredentialSelector> {
        self.parts.connection.default_credential.as_deref()
    }

    /// The connection's config, parsed with its connection method's spec.
    pub fn connection_config(&self) -> &Parsed {
        &self.parts.connection.connection_config
    }

    /// The target's config, parsed with the definition's spec (base URLs live here).
    pub fn target_config(&self) -> &Parsed {
        &self.parts.connection.target_config
    }

    /// The publication the call was allowed by, when it has one.
    pub fn publication(&self) -> Option<&Publication> {
        self.publication.as_deref()
    }

    /// Credentialed HTTP through the connection.
    pub fn http(&self) -> &ToolHttp {
        &self.parts.http
    }

    /// The current time, from the host's clock.
    pub fn now(&self) -> Timestamp {
        self.host().clock().now()
    }

    /// The associated data of this context's paging cursors: its tenant, connection,
    /// definition and tool, so a cursor opens only where it was made.
    fn cursor_aad(&self) -> Aad {
        let id = format!("{}/{}", self.key(), self.connection().id);
        crate::sealing::tool_cursor_aad(self.tenant(), &id, self.tool_name())
    }

    /// Seals `state` (a provider's next-page link or cursor) into an opaque paging cursor
    /// an agent can hand back but neither read nor alter: sealed with the host's cipher,
    /// bound to the tenant, the connection, the definition and the tool. Use it for any
    /// provider cursor that names a URL or request a tool would otherwise follow, so an
    /// agent cannot steer the next request; [`open_cursor`](Self::open_cursor) reverses it.
    ///
    /// # Errors
    ///
    /// When the host's cipher cannot seal.
    pub fn seal_cursor(&self, state: &str) -> Result<String, Error> {
        let sealed = self
            .host()
            .cipher()
            .seal(state.as_bytes(), &self.cursor_aad())?;
        Ok(format!(
            "{CURSOR_PREFIX}.{}.{}",
            URL_SAFE_NO_PAD.encode(sealed.key_id()),
            URL_SAFE_NO_PAD.encode(sealed.ciphertext())
        ))
    }

    /// The state a cursor of [`seal_cursor`](Self::seal_cursor) carries, or `None` when
    /// `cursor` is not one this tool sealed for this connection (forged, altered, made for
    /// another tool, connection or tenant, or sealed with a key the host no longer has).
    pub fn open_cursor(&self, cursor: &str) -> Option<String> {
        let mut parts = cursor.split('.');
        let (Some(CURSOR_PREFIX), Some(key_id), Some(ciphertext), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let key_id = String::from_utf8(URL_SAFE_NO_PAD.decode(key_id).ok()?).ok()?;
        let ciphertext = URL_SAFE_NO_PAD.decode(ciphertext).ok()?;
        let plaintext = self
            .host()
            .cipher()
            .open(&Sealed::new(key_id, ciphertext), &self.cursor_aad())
            .ok()?;
        String::from_utf8(plaintext.to_vec()).ok()
    }

    /// Records an audit event about this call (for tools with effects worth their own
    /// record). `detail` must hold ids, names and codes only, never a secret.
    pub async fn audit(
        &self,
        action: AuditAction,
        outcome: AuditOutcome,
        detail: impl IntoIterator<Item = (String, String)>,
    ) {
        let mut event = AuditEvent::new(self.now(), self.tenant().clone(), action, outcome)
            .with_key(self.key().clone())
            .with_connection(self.parts.call.connection.clone())
            .with_actor(self.user().cloned())
            .with_detail("tool", self.tool_name());
        for (name, value) in detail {
            event = event.with_detail(name, value);
        }
        self.host().audit().record(event).await;
    }
}
