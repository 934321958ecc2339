//! Refusals: every request the proxy does not forward gets a status, a stable code in
//! the [`ERROR_HEADER`] header and the same code with a message in a JSON body.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use integrations_core::{Code, Error, ErrorKind};

use crate::body::ProxyBody;

/// The response header that carries the stable code of a refusal.
pub const ERROR_HEADER: &str = "x-integrations-error";

/// Why the proxy refused a request: a status, a stable code (`area.reason`) and a message
/// that never holds a secret. The code is a catalogue's: the proxy's own
/// ([`codes::refusal`](crate::codes::refusal)), or that of the SDK error refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.as_str().to_owned(),
            message: message.into(),
        }
    }

    /// 407: the sandbox did not authenticate.
    pub(crate) fn auth_required(code: Code, message: impl Into<String>) -> Self {
        Self::new(StatusCode::PROXY_AUTHENTICATION_REQUIRED, code, message)
    }

    /// 403: the sandbox may not make this request.
    pub(crate) fn forbidden(code: Code, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 502: the upstream could not be reached or answered badly.
    pub(crate) fn bad_gateway(code: Code, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, code, message)
    }

    /// A refusal with `status` that passes an SDK error's code and message on (a
    /// credential source's, a certificate's).
    pub(crate) fn with_status(status: StatusCode, error: &Error) -> Self {
        Self {
            status,
            code: error.code().to_owned(),
            message: error.message().to_owned(),
        }
    }

    /// A refusal for an SDK error: grant problems are 407, scope problems 403, bad
    /// requests 400, the rest 502. The SDK's messages never hold a secret.
    pub(crate) fn from_error(error: &Error) -> Self {
        let status = match (error.kind(), error.code()) {
            (_, "egress.grant_invalid" | "egress.grant_expired") => {
                StatusCode::PROXY_AUTHENTICATION_REQUIRED
            }
            (ErrorKind::PermissionDenied | ErrorKind::Conflict | ErrorKind::NotFound, _) => {
                StatusCode::FORBIDDEN
            }
            (ErrorKind::InvalidInput, _) => StatusCode::BAD_REQUEST,
            _ => StatusCode::BAD_GATEWAY,
        };
        Self::with_status(status, error)
    }

    /// The response.
    pub(crate) fn into_response(self) -> Response<ProxyBody> {
        let body = serde_json::json!({
            "error": {"code": self.code, "message": self.message}
        });
        let mut response = Response::new(
            Full::new(Bytes::from(body.to_string()))
                .map_err(|never| match never {})
                .boxed(),
        );
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(code) = HeaderValue::from_str(&self.code) {
            headers.insert(ERROR_HEADER, code);
        }
        if self.status == StatusCode::PROXY_AUTHENTICATION_REQUIRED {
            headers.insert(
                header::PROXY_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"integrations-egress\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_errors_are_407_and_scope_errors_403() {
        let expired = Error::new(
            ErrorKind::Verification,
            "egress.grant_expired",
            "the egress grant has expired",
        );
        assert_eq!(
            Refusal::from_error(&expired).status,
            StatusCode::PROXY_AUTHENTICATION_REQUIRED
        );
        let scope = Error::new(ErrorKind::PermissionDenied, "egress.grant_scope", "no");
        let response = Refusal::from_error(&scope).into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[ERROR_HEADER], "egress.grant_scope");
    }
}
