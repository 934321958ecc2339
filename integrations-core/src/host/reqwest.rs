//! The default [`HttpClient`], over reqwest.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

use super::http::{HttpClient, HttpRequest, HttpResponse, timeout_error};
use crate::Error;

/// An [`HttpClient`] over a [`reqwest::Client`]: rustls (with the `rustls` feature),
/// timeouts, redirects off by default, and a limit on response body size.
///
/// Redirects are off because token endpoints must not be followed across hosts (the
/// oauth2 crate's SSRF warning); turn them on only for clients that never carry
/// credentials.
#[derive(Clone)]
pub struct ReqwestHttpClient {
    client: reqwest::Client,
    max_response_bytes: usize,
}

impl fmt::Debug for ReqwestHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestHttpClient")
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

/// Builds a [`ReqwestHttpClient`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ReqwestHttpClientBuilder {
    timeout: Duration,
    connect_timeout: Duration,
    follow_redirects: bool,
    user_agent: String,
    max_response_bytes: usize,
}

impl Default for ReqwestHttpClientBuilder {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            follow_redirects: false,
            user_agent: concat!("integrations-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_response_bytes: 16 * 1024 * 1024,
        }
    }
}

impl ReqwestHttpClientBuilder {
    /// The whole-request timeout (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The connect timeout (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Follow up to 10 redirects (default: never).
    pub fn follow_redirects(mut self, follow: bool) -> Self {
        self.follow_redirects = follow;
        self
    }

    /// The `User-Agent` sent when a request has none.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The largest response body read (default 16 MiB); larger bodies fail.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](crate::ErrorKind::Configuration) (`http.client_build`) when reqwest cannot build a
    /// client (for example no TLS provider is installed with `rustls-no-provider`).
    pub fn build(self) -> Result<ReqwestHttpClient, Error> {
        let redirect = if self.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        };
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .redirect(redirect)
            .user_agent(self.user_agent)
            .build()
            .map_err(|e| {
                crate::codes::http::CLIENT_BUILD
                    .error("the HTTP client could not be built")
                    .with_source(e.without_url())
            })?;
        Ok(ReqwestHttpClient {
            client,
            max_response_bytes: self.max_response_bytes,
        })
    }
}

impl ReqwestHttpClient {
    /// A client with the defaults of [`ReqwestHttpClientBuilder`].
    ///
    /// # Errors
    ///
    /// As [`ReqwestHttpClientBuilder::build`].
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }

    /// A builder.
    pub fn builder() -> ReqwestHttpClientBuilder {
        ReqwestHttpClientBuilder::default()
    }

    /// Wraps an existing reqwest client, keeping its settings (redirects included).
    pub fn from_client(client: reqwest::Client) -> Self {
        Self {
            client,
            max_response_bytes: ReqwestHttpClientBuilder::default().max_response_bytes,
        }
    }
}

fn transport_error(e: &reqwest::Error) -> Error {
    if e.is_timeout() {
        return timeout_error();
    }
    if e.is_connect() {
        return crate::codes::http::CONNECT.error("the HTTP connection could not be made");
    }
    crate::codes::http::FAILED.error("the HTTP request failed")
}

#[async_trait]
impl HttpClient for ReqwestHttpClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
        let request = reqwest::Request::try_from(request).map_err(|e| {
            crate::codes::http::INVALID_REQUEST
                .with_issues("the HTTP request cannot be sent", Vec::new())
                .with_source(e.without_url())
        })?;
        let mut response = self
            .client
            .execute(request)
            .await
            .map_err(|e| transport_error(&e).with_source(e.without_url()))?;
        let mut builder = http::Response::builder()
            .status(response.status())
            .version(response.version());
        if let Some(headers) = builder.headers_mut() {
            *headers = std::mem::take(response.headers_mut());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(&e).with_source(e.without_url()))?
        {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(crate::codes::http::BODY_TOO_LARGE
                    .error("the HTTP response body is larger than the configured limit"));
            }
            body.extend_from_slice(&chunk);
        }
        builder
            .body(Bytes::from(body))
            .map_err(|e| Error::internal("an HTTP response could not be rebuilt").with_source(e))
    }
}
