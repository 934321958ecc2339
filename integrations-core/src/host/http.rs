//! [`HttpClient`]: how the SDK talks to providers. The host supplies it.

use std::fmt;
use std::future::Future;

use async_trait::async_trait;
use bytes::Bytes;

use crate::Error;

/// An outbound request.
pub type HttpRequest = http::Request<Bytes>;
/// A response, with its whole body.
pub type HttpResponse = http::Response<Bytes>;

/// Sends one HTTP request and returns the whole response.
///
/// A non-2xx status is **not** an error here: callers read the status. Errors are for
/// requests that got no response: timeouts, refused connections, TLS failures, bodies over
/// a limit. Implementations must not follow redirects to a token endpoint's answer (an
/// SSRF risk) unless asked, and must not put URLs in errors (URLs can carry tokens).
///
/// Use [`ReqwestHttpClient`](crate::host::ReqwestHttpClient) (feature `rustls`), or a
/// closure through [`from_fn`].
#[async_trait]
pub trait HttpClient: Send + Sync {
    /// Sends `request`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable) for timeouts and connection failures (codes
    /// `http.timeout`, `http.connect`, `http.failed`), [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)
    /// (`http.invalid_request`) for a request that cannot be sent.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, Error>;
}

/// An [`HttpClient`] made from an async closure.
///
/// ```
/// use bytes::Bytes;
/// use integrations_core::host::{HttpClient, from_fn};
///
/// # async fn run() -> Result<(), integrations_core::Error> {
/// let client = from_fn(|request: http::Request<Bytes>| async move {
///     assert_eq!(request.uri().path(), "/v1/models");
///     Ok(http::Response::new(Bytes::from_static(b"{\"data\":[]}")))
/// });
/// let response = client
///     .send(http::Request::get("https://api.openai.com/v1/models").body(Bytes::new()).unwrap())
///     .await?;
/// assert_eq!(response.status(), 200);
/// # Ok(()) }
/// ```
pub fn from_fn<F, Fut>(f: F) -> FnHttpClient<F>
where
    F: Fn(HttpRequest) -> Fut + Send + Sync,
    Fut: Future<Output = Result<HttpResponse, Error>> + Send,
{
    FnHttpClient(f)
}

/// The [`HttpClient`] returned by [`from_fn`].
#[derive(Clone)]
pub struct FnHttpClient<F>(F);

impl<F> fmt::Debug for FnHttpClient<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnHttpClient")
    }
}

#[async_trait]
impl<F, Fut> HttpClient for FnHttpClient<F>
where
    F: Fn(HttpRequest) -> Fut + Send + Sync,
    Fut: Future<Output = Result<HttpResponse, Error>> + Send,
{
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
        (self.0)(request).await
    }
}

/// The error for a request that timed out.
pub fn timeout_error() -> Error {
    crate::codes::http::TIMEOUT.error("the HTTP request timed out")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closures_are_clients() {
        let client = from_fn(|req: HttpRequest| async move {
            let body = req.into_body();
            Ok(http::Response::new(body))
        });
        let dyn_client: &dyn HttpClient = &client;
        let response = dyn_client
            .send(
                http::Request::post("https://example.test/echo")
                    .body(Bytes::from_static(b"ping"))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.body().as_ref(), b"ping");
    }
}
