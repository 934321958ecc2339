//! The bridge from the `oauth2` crate to the host's [`HttpClient`].
//!
//! `oauth2` builds every token request (grant type, code, PKCE verifier, redirect URI,
//! client authentication as HTTP Basic or form fields, scopes) and hands it to this
//! adapter, which adds the provider's extra token headers, sends it through the host
//! client (which never follows redirects) and keeps the raw response. The engine then
//! reads that raw response with its own quirk-aware parser
//! ([`token_response`](super::token_response)), because `oauth2`'s standard parser
//! cannot read form-encoded answers, errors inside HTTP 200 or Slack's `ok: false`.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

use crate::Error;
use crate::host::{HttpClient, HttpResponse};

/// The error `oauth2` sees when the host client failed; the engine reads the real error
/// from the adapter.
#[derive(Debug)]
pub(crate) struct AdapterError;

impl fmt::Display for AdapterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the token request could not be sent")
    }
}

impl std::error::Error for AdapterError {}

/// Sends `oauth2`'s requests through the host client and captures the raw outcome.
pub(crate) struct TokenEndpointHttp {
    http: Arc<dyn HttpClient>,
    headers: BTreeMap<String, String>,
    outcome: Mutex<Option<Result<HttpResponse, Error>>>,
}

impl TokenEndpointHttp {
    pub(crate) fn new(http: Arc<dyn HttpClient>, headers: &BTreeMap<String, String>) -> Self {
        Self {
            http,
            headers: headers.clone(),
            outcome: Mutex::new(None),
        }
    }

    /// The raw outcome of the one request sent, or `None` when `oauth2` sent nothing.
    pub(crate) fn take_outcome(&self) -> Option<Result<HttpResponse, Error>> {
        self.outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn record(&self, outcome: Result<HttpResponse, Error>) {
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
    }

    fn convert(&self, request: oauth2::HttpRequest) -> Result<crate::host::HttpRequest, Error> {
        let (mut parts, body) = request.into_parts();
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                crate::codes::oauth::INVALID_TOKEN_HEADER
                    .error("a token request header name of the definition is invalid")
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                crate::codes::oauth::INVALID_TOKEN_HEADER
                    .error("a token request header value of the definition is invalid")
            })?;
            parts.headers.insert(name, value);
        }
        Ok(http::Request::from_parts(parts, Bytes::from(body)))
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for TokenEndpointHttp {
    type Error = AdapterError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, AdapterError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = match self.convert(request) {
                Ok(request) => request,
                Err(e) => {
                    self.record(Err(e));
                    return Err(AdapterError);
                }
            };
            match self.http.send(request).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    self.record(Ok(http::Response::from_parts(parts.clone(), body.clone())));
                    Ok(http::Response::from_parts(parts, body.to_vec()))
                }
                Err(e) => {
                    self.record(Err(e));
                    Err(AdapterError)
                }
            }
        })
    }
}

/// Runs one `oauth2` token request through `adapter` and returns the raw response.
pub(crate) async fn send<F, T, E>(
    adapter: &TokenEndpointHttp,
    request: F,
) -> Result<HttpResponse, Error>
where
    F: Future<Output = Result<T, E>>,
{
    // oauth2's own parse result is not used: the raw response is read by our parser.
    let parsed = request.await;
    match adapter.take_outcome() {
        Some(outcome) => outcome,
        None => Err(match parsed {
            Ok(_) => Error::internal("the token request produced no response"),
            Err(_) => crate::codes::oauth::INVALID_TOKEN_REQUEST
                .error("the token request could not be built from the definition's OAuth 2.0 data"),
        }),
    }
}
