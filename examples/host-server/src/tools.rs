//! The tool route: an agent's tool call, run by the tool runtime on a connection, for the
//! session the caller's bearer token stands for.
//!
//! `POST /tools/{name}` with `Authorization: Bearer <token>` and
//! `{"connection", "publication"?, "arguments"?}` answers `200` with the MCP
//! `CallToolResult` (a tool that fails says so inside it, `isError: true`), or an error
//! in the shared shape when the request itself is wrong.
//!
//! Who is calling is never read from the body: the host's [`McpAuthenticator`] (given
//! with [`App::with_tool_auth`](crate::App::with_tool_auth), the same trait `/mcp` uses)
//! turns the token into the session (tenant, workspace, user) the call acts for, before
//! the body is read. Without an authenticator the route runs nothing
//! ([`codes::TOOL_AUTH_NOT_CONFIGURED`]); without a token it knows,
//! [`codes::UNAUTHENTICATED`]; both `401` with `WWW-Authenticate: Bearer`. The call goes
//! with the body's `publication`, else the one the token's session names for the
//! connection; the runtime checks that it grants this connection to this session.

use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use integrations::core::model::{Publication, PublicationScope};
use integrations::core::tools::CallContext;
use integrations::core::{ConnectionId, PublicationId};
use integrations::prelude::*;
use integrations_mcp::McpSession;
use serde_json::Value;

use crate::App;
use crate::error::{self, codes};

/// A tool call's body. Unknown fields are refused, so a caller still sending the
/// `tenant`, `workspace` or `user` this route once read learns they are not taken.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallBody {
    connection: ConnectionId,
    #[serde(default)]
    publication: Option<PublicationId>,
    #[serde(default)]
    arguments: Option<Value>,
}

/// How long a caller waits when the authenticator could not answer.
const AUTH_RETRY: Duration = Duration::from_secs(5);

/// `POST /tools/{name}`.
pub(crate) async fn call(
    State(app): State<App>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    // Who is calling, before the body is read.
    let principal = match authenticate(&app, request.headers()).await {
        Ok(principal) => principal,
        Err(answer) => return answer,
    };
    let Ok(Json(body)) = Json::<CallBody>::from_request(request, &()).await else {
        return error::response(&Error::invalid_input(
            codes::INVALID_BODY,
            "the body must be JSON: {\"connection\", \"publication\"?, \"arguments\"?} (the tenant, workspace and user come from the bearer token)",
            Vec::new(),
        ));
    };
    match run(&app, &name, principal, body).await {
        Ok(result) => Json(result).into_response(),
        Err(e) => error::response(&e),
    }
}

/// The session the request's bearer token stands for, or the answer refusing it.
async fn authenticate(app: &App, headers: &HeaderMap) -> Result<McpSession, Response> {
    let Some(authenticator) = app.tool_authenticator() else {
        return Err(unauthorized(&Error::new(
            ErrorKind::Verification,
            codes::TOOL_AUTH_NOT_CONFIGURED,
            "this server authenticates no tool calls: the host has not given it an authenticator",
        )));
    };
    let refused = || {
        unauthorized(&Error::new(
            ErrorKind::Verification,
            codes::UNAUTHENTICATED,
            "a valid bearer token is required (Authorization: Bearer <token>)",
        ))
    };
    let Some(token) = bearer(headers) else {
        return Err(refused());
    };
    match authenticator.authenticate(token).await {
        Ok(Some(principal)) => Ok(principal),
        Ok(None) => Err(refused()),
        // The cause stays on the server: it may describe the host's store.
        Err(_) => Err(error::response(
            &Error::new(
                ErrorKind::Unavailable,
                codes::AUTH_UNAVAILABLE,
                "the request could not be authenticated right now",
            )
            .with_retry_after(AUTH_RETRY),
        )),
    }
}

/// A `401` answer that says which scheme to use.
fn unauthorized(error: &Error) -> Response {
    let mut answer = error::response(error);
    answer
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    answer
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case), when there is
/// one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

async fn run(app: &App, name: &str, principal: McpSession, body: CallBody) -> Result<Value, Error> {
    let Some((_, descriptor)) = app.registry().find_tool(name) else {
        return Err(Error::not_found(
            codes::UNKNOWN_ROUTE,
            "no registered integration has this tool",
        ));
    };
    let session = principal.session;
    let (tenant, workspace) = (session.tenant.clone(), session.workspace.clone());
    let publication = body
        .publication
        .or_else(|| principal.publications.get(&body.connection).cloned());
    let publication = match (publication, &descriptor.capability) {
        (Some(id), _) => Some(id),
        // The demo publishes the connection to the workspace on first use; a real host
        // publishes connections through its own administration.
        (None, Some(capability)) if app.demo() => {
            let id = PublicationId::new(format!("demo-{workspace}"))?;
            let host = app.host();
            let publications = host.publications();
            let mut publication = match publications.get_publication(&tenant, &id).await? {
                Some(existing) if existing.connection == body.connection => existing,
                _ => Publication::new(
                    tenant.clone(),
                    id.clone(),
                    body.connection.clone(),
                    PublicationScope::Workspace { workspace },
                    host.clock().now(),
                ),
            };
            publication.capabilities.insert(capability.clone());
            publications.put_publication(&publication).await?;
            Some(id)
        }
        (None, _) => None,
    };
    let mut context = CallContext::new(session, body.connection);
    if let Some(id) = publication {
        context = context.with_publication(id);
    }
    let arguments = body
        .arguments
        .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
    let result = app.runtime().call(name, arguments, &context).await;
    Ok(result.to_mcp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bearer_token_is_taken() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            headers
        };
        assert_eq!(bearer(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&with("bearer  abc ")), Some("abc"));
        for refused in ["Basic abc", "Bearer", "Bearer ", "abc", "Token abc"] {
            assert_eq!(bearer(&with(refused)), None, "{refused}");
        }
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
