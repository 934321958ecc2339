//! The webhook route: hand the raw request to [`Ingest`](integrations::core::webhook::Ingest)
//! and send back its answer.
//!
//! Signatures are computed over the exact bytes the provider sent, so the body is taken
//! as [`Bytes`], never parsed or re-serialized on the way in. The answer is whatever the
//! pipeline decided: `200` for a delivered or duplicate event, Slack's challenge echoed
//! (only once the signature verified), or a failure with its status, its stable code and
//! the provider's no-retry header on 4xx answers.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use integrations::core::webhook::{Headers, WebhookRequest, WebhookResponse, errors};
use integrations::prelude::*;

use crate::App;
use crate::error::codes;

/// `POST /webhooks/{family}/{variant}[/{endpoint}]`
pub(crate) async fn receive(
    State(app): State<App>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // The SDK reads the route itself (definition key and endpoint key), so a host nesting
    // this router under a prefix builds the same request.
    let mut request =
        match WebhookRequest::from_path(uri.path(), Headers::from_http(&headers), Bytes::new()) {
            Ok(request) => request,
            Err(error) => return send(WebhookResponse::for_error(&error)),
        };
    request.body = match body {
        Ok(body) => body,
        // The router stopped reading at the ingest's limit (`App::with_max_body_bytes`):
        // the same refusal the pipeline would give, with the provider's no-retry header.
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let error = errors::body_too_large(app.ingest().max_body_bytes());
            return send(app.ingest().error_response(&request.key, &error));
        }
        Err(_) => {
            let error = Error::invalid_input(
                codes::UNREADABLE_BODY,
                "the request body could not be read",
                Vec::new(),
            );
            return send(app.ingest().error_response(&request.key, &error));
        }
    };
    send(app.ingest().handle(request).await)
}

fn send(response: WebhookResponse) -> Response {
    response.into_http().map(Body::from).into_response()
}
