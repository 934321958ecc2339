//! Who a tool call is made for: [`Session`] (the agent's tenant, workspace, user, project
//! and subject) and [`CallContext`] (a session plus the connection and publication a call
//! goes through).

use serde::{Deserialize, Serialize};

use super::PublicationScope;
use crate::{ConnectionId, ProjectId, PublicationId, TenantId, UserId, WorkspaceId};

/// The agent session a call is made for: its tenant and workspace, and optionally the
/// user it acts for, the project, and the provider-side issue or conversation it is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Session {
    /// The tenant.
    pub tenant: TenantId,
    /// The workspace; policy overrides are per workspace.
    pub workspace: WorkspaceId,
    /// The user the agent acts for.
    pub user: Option<UserId>,
    /// The project.
    pub project: Option<ProjectId>,
    /// The provider-side issue or conversation the session is about (`ENG-123`), matched
    /// against publications scoped to one issue.
    pub issue: Option<String>,
}

impl Session {
    /// A session in a workspace, for no particular user, project or issue.
    pub fn new(tenant: TenantId, workspace: WorkspaceId) -> Self {
        Self {
            tenant,
            workspace,
            user: None,
            project: None,
            issue: None,
        }
    }

    /// Sets the user.
    #[must_use]
    pub fn with_user(mut self, user: UserId) -> Self {
        self.user = Some(user);
        self
    }

    /// Sets the project.
    #[must_use]
    pub fn with_project(mut self, project: ProjectId) -> Self {
        self.project = Some(project);
        self
    }

    /// Sets the issue or conversation.
    #[must_use]
    pub fn with_issue(mut self, issue: impl Into<String>) -> Self {
        self.issue = Some(issue.into());
        self
    }

    /// Whether a publication with `scope` applies to this session.
    pub fn is_in(&self, scope: &PublicationScope) -> bool {
        match scope {
            PublicationScope::Workspace { workspace } => &self.workspace == workspace,
            PublicationScope::Issue { issue } => self.issue.as_ref() == Some(issue),
            PublicationScope::User { user } => self.user.as_ref() == Some(user),
        }
    }
}

/// What the host tells the runtime about one call: the session, the connection the call
/// goes through (the manifest says which), and the publication granting capabilities.
///
/// Only ids: the runtime loads the records from the host's stores, scoped to the tenant,
/// so a call can never reach another tenant's connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CallContext {
    /// The session.
    pub session: Session,
    /// The connection.
    pub connection: ConnectionId,
    /// The publication; tools that need a capability refuse to run without one.
    pub publication: Option<PublicationId>,
    /// Who may read the next pages of a result this call trims. `None` (the default)
    /// binds them to the session: calls of the same tenant, workspace, user and project.
    /// A scope narrows that to the calls with the same scope: a host that serves several
    /// conversations of one user and must keep their pages apart (one MCP session from
    /// another) sets one per conversation. A call with a scope still reads the pages its
    /// session kept with none. Free-form, compared exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_scope: Option<String>,
}

impl CallContext {
    /// A call in `session` through `connection`, with no publication.
    pub fn new(session: Session, connection: ConnectionId) -> Self {
        Self {
            session,
            connection,
            publication: None,
            continuation_scope: None,
        }
    }

    /// Sets the publication.
    #[must_use]
    pub fn with_publication(mut self, publication: PublicationId) -> Self {
        self.publication = Some(publication);
        self
    }

    /// Sets the [continuation scope](Self::continuation_scope).
    #[must_use]
    pub fn with_continuation_scope(mut self, scope: impl Into<String>) -> Self {
        self.continuation_scope = Some(scope.into());
        self
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.session.tenant
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_match_publication_scopes() {
        let session = Session::new(TenantId::new("t").unwrap(), WorkspaceId::new("w").unwrap())
            .with_user(UserId::new("u").unwrap())
            .with_issue("ENG-1");
        assert!(session.is_in(&PublicationScope::Workspace {
            workspace: WorkspaceId::new("w").unwrap()
        }));
        assert!(!session.is_in(&PublicationScope::Workspace {
            workspace: WorkspaceId::new("x").unwrap()
        }));
        assert!(session.is_in(&PublicationScope::User {
            user: UserId::new("u").unwrap()
        }));
        assert!(session.is_in(&PublicationScope::Issue {
            issue: "ENG-1".into()
        }));
        assert!(!session.is_in(&PublicationScope::Issue {
            issue: "ENG-2".into()
        }));
        let anonymous = Session::new(TenantId::new("t").unwrap(), WorkspaceId::new("w").unwrap());
        assert!(!anonymous.is_in(&PublicationScope::User {
            user: UserId::new("u").unwrap()
        }));
    }
}
