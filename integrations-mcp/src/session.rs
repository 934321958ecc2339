//! [`McpSession`]: who an MCP client acts for; [`McpOptions`]: how the server behaves.

use std::collections::BTreeMap;
use std::time::Duration;

use integrations_core::tools::Session;
use integrations_core::{ConnectionId, PublicationId, TenantId, UserId, WorkspaceId};

/// Who an MCP client acts for: the agent [`Session`] whose manifest it sees, and, per
/// connection, the publication that grants its tools' capabilities.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct McpSession {
    /// The agent session (tenant, workspace, user, project, issue).
    pub session: Session,
    /// The publication calls through each connection go with. A tool that needs a
    /// capability is listed only while its connection's publication grants it, and a
    /// call of it refuses without one.
    pub publications: BTreeMap<ConnectionId, PublicationId>,
}

impl McpSession {
    /// A session with no publication.
    pub fn new(session: Session) -> Self {
        Self {
            session,
            publications: BTreeMap::new(),
        }
    }

    /// Calls through `connection` go with `publication`.
    #[must_use]
    pub fn with_publication(
        mut self,
        connection: ConnectionId,
        publication: PublicationId,
    ) -> Self {
        self.publications.insert(connection, publication);
        self
    }
}

/// Whose share of the server's per-principal state (pending approvals) a request uses: the tenant, workspace and user it acts for. Project, issue
/// and publications are left out, so a client cannot get a fresh share by varying them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Principal {
    tenant: TenantId,
    workspace: WorkspaceId,
    user: Option<UserId>,
}

impl Principal {
    /// The principal `session` acts for.
    pub(crate) fn of(session: &Session) -> Self {
        Self {
            tenant: session.tenant.clone(),
            workspace: session.workspace.clone(),
            user: session.user.clone(),
        }
    }

    /// The principal's tenant.
    pub(crate) fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The principal's workspace.
    pub(crate) fn workspace(&self) -> &WorkspaceId {
        &self.workspace
    }

    /// The principal's user.
    pub(crate) fn user(&self) -> Option<&UserId> {
        self.user.as_ref()
    }

    /// Whether `session` acts for this principal (without building one to compare).
    pub(crate) fn is_of(&self, session: &Session) -> bool {
        self.tenant == session.tenant
            && self.workspace == session.workspace
            && self.user == session.user
    }
}

/// How an [`McpService`](crate::McpService) behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct McpOptions {
    /// The name the server gives in `initialize` (`serverInfo.name`).
    pub name: String,
    /// The base URL of the host's approval page; an approval's URL is `<base>/<id>`.
    pub approval_url: Option<String>,
    /// How many tools one `tools/list` page holds (at least 1).
    pub page_size: usize,
    /// How long a call runs before progress notifications start, and their interval.
    pub progress_interval: Duration,
    /// Instructions for the model, sent in `initialize`.
    pub instructions: String,
    /// How long the record of an approved call that runs lives unless the process
    /// running it renews it (it does, every fifth of this): a process that dies during
    /// a run leaves the record `running` at most this long, then the client's retry
    /// asks anew. Default ten minutes.
    pub approval_run_lease: Duration,
}

impl Default for McpOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl McpOptions {
    /// The defaults: name `integrations`, no approval page, 100 tools a page, progress
    /// after one second, running approved calls' records leased for ten minutes.
    pub fn new() -> Self {
        Self {
            name: "integrations".to_owned(),
            approval_url: None,
            page_size: 100,
            progress_interval: Duration::from_secs(1),
            approval_run_lease: Duration::from_secs(10 * 60),
            instructions: "Tools of the user's connected integrations. Some writes need a person's approval in the host: such a call answers with an approval URL; after the approval, call the tool again with the same arguments to receive its result. A result that was too large ends with a cursor for integrations_continue_result.".to_owned(),
        }
    }

    /// Sets the server name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the base URL of the host's approval page (`https://app.example.com/approvals`).
    #[must_use]
    pub fn with_approval_url(mut self, url: impl Into<String>) -> Self {
        let url: String = url.into();
        self.approval_url = Some(url.trim_end_matches('/').to_owned());
        self
    }

    /// Sets how many tools one `tools/list` page holds.
    #[must_use]
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// Sets when progress notifications start, and their interval.
    #[must_use]
    pub fn with_progress_interval(mut self, interval: Duration) -> Self {
        self.progress_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Sets how long a running approved call's record lives without renewal (at least
    /// a second).
    #[must_use]
    pub fn with_approval_run_lease(mut self, lease: Duration) -> Self {
        self.approval_run_lease = lease.max(Duration::from_secs(1));
        self
    }

    pub(crate) fn approval_url_of(&self, id: &str) -> Option<String> {
        self.approval_url
            .as_ref()
            .map(|base| format!("{base}/{id}"))
    }
}
