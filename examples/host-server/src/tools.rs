//! The tool route: an agent's tool call, run by the tool runtime on a connection.
//!
//! `POST /tools/{name}` with `{"tenant", "connection", "workspace", "user"?,
//! "publication"?, "arguments"}` answers `200` with the MCP `CallToolResult` (a tool that
//! fails says so inside it, `isError: true`), or an error in the shared shape when the
//! request itself is wrong.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use integrations::core::model::{Publication, PublicationScope};
use integrations::core::tools::{CallContext, Session};
use integrations::core::{ConnectionId, PublicationId, UserId, WorkspaceId};
use integrations::prelude::*;
use serde_json::Value;

use crate::App;
use crate::error::{self, codes};

/// A tool call's body.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallBody {
    tenant: TenantId,
    connection: ConnectionId,
    workspace: WorkspaceId,
    #[serde(default)]
    user: Option<UserId>,
    #[serde(default)]
    publication: Option<PublicationId>,
    #[serde(default)]
    arguments: Option<Value>,
}

/// `POST /tools/{name}`.
pub(crate) async fn call(
    State(app): State<App>,
    Path(name): Path<String>,
    body: Result<Json<CallBody>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return error::response(&Error::invalid_input(
            codes::INVALID_BODY,
            "the body must be JSON: {\"tenant\", \"connection\", \"workspace\", \"user\"?, \"publication\"?, \"arguments\"}",
            Vec::new(),
        ));
    };
    match run(&app, &name, body).await {
        Ok(result) => Json(result).into_response(),
        Err(e) => error::response(&e),
    }
}

async fn run(app: &App, name: &str, body: CallBody) -> Result<Value, Error> {
    let Some((_, descriptor)) = app.registry().find_tool(name) else {
        return Err(Error::not_found(
            codes::UNKNOWN_ROUTE,
            "no registered integration has this tool",
        ));
    };
    let mut session = Session::new(body.tenant.clone(), body.workspace.clone());
    if let Some(user) = body.user {
        session = session.with_user(user);
    }
    let mut context = CallContext::new(session, body.connection.clone());
    let publication = match (body.publication, &descriptor.capability) {
        (Some(id), _) => Some(id),
        // The demo publishes the connection to the workspace on first use; a real host
        // publishes connections through its own administration.
        (None, Some(capability)) if app.demo() => {
            let id = PublicationId::new(format!("demo-{}", body.workspace))?;
            let host = app.host();
            let publications = host.publications();
            let mut publication = match publications.get_publication(&body.tenant, &id).await? {
                Some(existing) if existing.connection == body.connection => existing,
                _ => Publication::new(
                    body.tenant.clone(),
                    id.clone(),
                    body.connection.clone(),
                    PublicationScope::Workspace {
                        workspace: body.workspace.clone(),
                    },
                    host.clock().now(),
                ),
            };
            publication.capabilities.insert(capability.clone());
            publications.put_publication(&publication).await?;
            Some(id)
        }
        (None, _) => None,
    };
    if let Some(id) = publication {
        context = context.with_publication(id);
    }
    let arguments = body
        .arguments
        .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
    let result = app.runtime().call(name, arguments, &context).await;
    Ok(result.to_mcp())
}
