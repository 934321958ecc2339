//! A minimal approval page for a person at this machine: [`Approvals::loopback_page`].

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use integrations_core::tools::ApprovalId;
use integrations_core::{TenantId, UserId};
use serde_json::{Value, json};

use crate::Approvals;

#[derive(Clone)]
struct Desk {
    approvals: Approvals,
    tenant: TenantId,
    reviewer: UserId,
}

impl Approvals {
    /// An approval page for `tenant`'s pending calls, settled as `reviewer`:
    /// `GET /approvals` (pending requests, JSON), `GET /approvals/{id}` (a page with
    /// Approve and Deny buttons), `POST /approvals/{id}/approve` and
    /// `POST /approvals/{id}/deny`.
    ///
    /// It has **no login**: whoever reaches it approves as `reviewer`. Serve it on
    /// loopback only, for the person at this machine (`integrations mcp serve`); a real
    /// host puts its own page, behind its own authentication, in front of
    /// [`approve`](Self::approve) and [`deny`](Self::deny).
    pub fn loopback_page(&self, tenant: TenantId, reviewer: UserId) -> Router {
        Router::new()
            .route("/approvals", get(list))
            .route("/approvals/{id}", get(page))
            .route("/approvals/{id}/approve", post(approve))
            .route("/approvals/{id}/deny", post(deny))
            .with_state(Desk {
                approvals: self.clone(),
                tenant,
                reviewer,
            })
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": {"code": "tool.approval_not_found", "message": "no pending approval request has this id"}})),
    )
        .into_response()
}

async fn list(State(desk): State<Desk>) -> Response {
    let pending: Vec<Value> = desk
        .approvals
        .pending(&desk.tenant)
        .into_iter()
        .map(|p| {
            json!({
                "id": p.request.id.as_str(),
                "tool": p.request.tool,
                "arguments": p.request.arguments,
                "expiresAt": p.request.expires_at.to_rfc3339(),
            })
        })
        .collect();
    axum::Json(json!({ "pending": pending })).into_response()
}

async fn page(State(desk): State<Desk>, Path(id): Path<String>) -> Response {
    let Ok(id) = ApprovalId::new(id) else {
        return not_found();
    };
    let Some(pending) = desk.approvals.get(&desk.tenant, &id) else {
        return not_found();
    };
    let request = &pending.request;
    let arguments = serde_json::to_string_pretty(&request.arguments).unwrap_or_default();
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Approve {tool}?</title></head><body>\
         <h1>Approve <code>{tool}</code>?</h1>\
         <p>An agent acting for {user} wants to run this tool with:</p><pre>{arguments}</pre>\
         <form method=\"post\" action=\"/approvals/{id}/approve\"><button>Approve</button></form>\
         <form method=\"post\" action=\"/approvals/{id}/deny\"><button>Deny</button></form>\
         <p>Expires at {expires}.</p></body></html>",
        tool = escape(&request.tool),
        user = escape(request.context.session.user.as_ref().map_or("nobody", UserId::as_str)),
        arguments = escape(&arguments),
        id = escape(id.as_str()),
        expires = escape(&request.expires_at.to_rfc3339()),
    ))
    .into_response()
}

async fn approve(State(desk): State<Desk>, Path(id): Path<String>) -> Response {
    let Ok(id) = ApprovalId::new(id) else {
        return not_found();
    };
    let result = desk
        .approvals
        .approve(&desk.tenant, &id, &desk.reviewer)
        .await;
    let status = if result.error_code() == Some("tool.approval_not_found") {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    (
        status,
        axum::Json(json!({"approved": status == StatusCode::OK, "result": result.to_mcp()})),
    )
        .into_response()
}

async fn deny(State(desk): State<Desk>, Path(id): Path<String>) -> Response {
    let Ok(id) = ApprovalId::new(id) else {
        return not_found();
    };
    match desk.approvals.deny(&desk.tenant, &id, &desk.reviewer).await {
        Ok(()) => axum::Json(json!({"denied": true})).into_response(),
        Err(_) => not_found(),
    }
}
