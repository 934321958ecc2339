//! Connection precedence by scope: when several connections of one integration apply to
//! a request, the most specific wins (user over project over workspace over
//! organization), by [`ConnectionScope::precedence`], never by comparing strings. Two
//! applicable connections at the winning rank are an error, never a guess.

use crate::host::Host;
use crate::model::{Connection, ConnectionScope, ConnectionStatus};
use crate::{DefinitionKey, Error, ProjectId, TenantId, UserId, WorkspaceId};

/// Who and where a request is made: the user, project and workspace it runs for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestScope {
    /// The workspace.
    pub workspace: Option<WorkspaceId>,
    /// The project.
    pub project: Option<ProjectId>,
    /// The user.
    pub user: Option<UserId>,
}

impl RequestScope {
    /// A request made for the organization only.
    pub fn organization() -> Self {
        Self::default()
    }

    /// Sets the workspace.
    #[must_use]
    pub fn with_workspace(mut self, workspace: WorkspaceId) -> Self {
        self.workspace = Some(workspace);
        self
    }

    /// Sets the project.
    #[must_use]
    pub fn with_project(mut self, project: ProjectId) -> Self {
        self.project = Some(project);
        self
    }

    /// Sets the user.
    #[must_use]
    pub fn with_user(mut self, user: UserId) -> Self {
        self.user = Some(user);
        self
    }

    /// Whether a connection of `scope` applies to this request: an organization
    /// connection always; a workspace, project or user connection when it names this
    /// request's workspace, project or user.
    pub fn applies(&self, scope: &ConnectionScope) -> bool {
        #[allow(
            unreachable_patterns,
            reason = "ConnectionScope is non-exhaustive; an unknown level never applies"
        )]
        match scope {
            ConnectionScope::Organization => true,
            ConnectionScope::Workspace { workspace } => self.workspace.as_ref() == Some(workspace),
            ConnectionScope::Project { project } => self.project.as_ref() == Some(project),
            ConnectionScope::User { user } => self.user.as_ref() == Some(user),
            _ => false,
        }
    }
}

/// The connection of `key` that a request with `scope` uses: among the candidates of that
/// definition that apply and are not revoked, the one of the highest
/// [`precedence`](ConnectionScope::precedence). A winner in `error` is returned as is
/// (the caller reports that it needs reauthorizing) rather than silently replaced by a
/// less specific connection acting as someone else.
///
/// # Errors
///
/// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) (`auth.ambiguous_connection`)
/// when several connections apply at the winning rank.
pub fn select_connection<'a, I>(
    candidates: I,
    key: &DefinitionKey,
    scope: &RequestScope,
) -> Result<Option<&'a Connection>, Error>
where
    I: IntoIterator<Item = &'a Connection>,
{
    let mut best: Option<&Connection> = None;
    let mut tied = false;
    for candidate in candidates {
        if &candidate.key != key
            || matches!(candidate.status, ConnectionStatus::Revoked { .. })
            || !scope.applies(&candidate.scope)
        {
            continue;
        }
        match best {
            None => best = Some(candidate),
            Some(current) => {
                let (a, b) = (candidate.scope.precedence(), current.scope.precedence());
                if a > b {
                    best = Some(candidate);
                    tied = false;
                } else if a == b {
                    tied = true;
                }
            }
        }
    }
    match best {
        Some(winner) if tied => Err(crate::codes::auth::AMBIGUOUS_CONNECTION.error(format!(
            "several {} connections of {key} apply; remove one or make one more specific",
            winner.scope.level()
        ))),
        other => Ok(other),
    }
}

/// Lists the tenant's connections and applies [`select_connection`].
///
/// # Errors
///
/// As [`select_connection`]; storage errors.
pub async fn find_connection(
    host: &Host,
    tenant: &TenantId,
    key: &DefinitionKey,
    scope: &RequestScope,
) -> Result<Option<Connection>, Error> {
    let connections = host.connections().list_connections(tenant).await?;
    Ok(select_connection(&connections, key, scope)?.cloned())
}
