//! [`ToolHttp`]: credentialed HTTP for tools, and small helpers to build requests and
//! read responses without ever echoing a body or a URL into an error.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::credential::{CredentialRequest, CredentialSource, ResolvedCredential};
use crate::host::{AuditAction, AuditEventRef, AuditOutcome, Host, HttpRequest, HttpResponse};
use crate::model::Connection;
use crate::plan::{AuthInjection, CredentialSelector};
use crate::{DefinitionKey, Error, Secret, UserId};

/// How a request carries the connection's credential: which credential, how it is put on
/// the request, and how to recognize the provider's refusal of it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestAuth {
    /// Which credential of the connection.
    pub selector: CredentialSelector,
    /// Where it goes on the request.
    pub injection: AuthInjection,
    /// Whether a response means "this credential was refused" (default: HTTP 401). On a
    /// refusal the credential source is told, and the request is sent once more with the
    /// fresh credential it returns.
    pub rejected: fn(&HttpResponse) -> bool,
}

fn is_unauthorized(response: &HttpResponse) -> bool {
    response.status() == StatusCode::UNAUTHORIZED
}

impl RequestAuth {
    /// A credential injected as `injection`; refused on HTTP 401.
    pub fn new(selector: CredentialSelector, injection: AuthInjection) -> Self {
        Self {
            selector,
            injection,
            rejected: is_unauthorized,
        }
    }

    /// `Authorization: Bearer <credential>`.
    pub fn bearer(selector: CredentialSelector) -> Self {
        Self::new(selector, AuthInjection::Bearer)
    }

    /// `Authorization: Basic base64(<username>:<credential>)`: the account name with an
    /// API token as its password (Jira Cloud's email and API token).
    pub fn basic(selector: CredentialSelector, username: impl Into<String>) -> Self {
        Self::new(
            selector,
            AuthInjection::Basic {
                username: Some(username.into()),
            },
        )
    }

    /// `<name>: <credential>`, with no scheme (Linear personal API keys in
    /// `Authorization`).
    pub fn raw_header(selector: CredentialSelector, name: impl Into<String>) -> Self {
        Self::new(
            selector,
            AuthInjection::Header {
                name: name.into(),
                prefix: None,
            },
        )
    }

    /// Recognizes refusals with `rejected` instead of HTTP 401 alone (providers that
    /// answer a bad token with HTTP 200 and an error body).
    #[must_use]
    pub fn with_rejection(mut self, rejected: fn(&HttpResponse) -> bool) -> Self {
        self.rejected = rejected;
        self
    }
}

/// Sends requests with the connection's credential, through the host's [`HttpClient`]
/// and the [`CredentialSource`].
///
/// When the provider refuses the credential, the source is told
/// ([`credential_rejected`](CredentialSource::credential_rejected)) and the request is
/// sent exactly once more with the fresh credential it returns; a source that cannot
/// renew (a static key) makes the refusal the answer. Every use of a credential is
/// audited (`credential.used`).
///
/// [`HttpClient`]: crate::host::HttpClient
#[derive(Clone)]
pub struct ToolHttp {
    host: Host,
    credentials: Arc<dyn CredentialSource>,
    connection: Arc<Connection>,
    tool: Arc<str>,
    actor: Option<UserId>,
    /// The definition's default headers; `None` when it has none.
    default_headers: Option<Arc<http::HeaderMap>>,
}

impl fmt::Debug for ToolHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolHttp")
            .field("connection", &self.connection.id)
            .field("tool", &self.tool)
            .finish_non_exhaustive()
    }
}

impl ToolHttp {
    pub(crate) fn new(
        host: Host,
        credentials: Arc<dyn CredentialSource>,
        connection: Arc<Connection>,
        tool: Arc<str>,
        actor: Option<UserId>,
    ) -> Self {
        Self {
            host,
            credentials,
            connection,
            tool,
            actor,
            default_headers: None,
        }
    }

    /// Adds `headers` (the definition's
    /// [`default_headers`](crate::definition::IntegrationDefinition::default_headers)) to
    /// every request that does not set them itself.
    pub(crate) fn with_default_headers(mut self, headers: Arc<http::HeaderMap>) -> Self {
        self.default_headers = (!headers.is_empty()).then_some(headers);
        self
    }

    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The host the requests go through (its clock, cipher and audit sink serve the
    /// tool's context too).
    pub(crate) fn host(&self) -> &Host {
        &self.host
    }

    /// The tool the requests are made for.
    pub(crate) fn tool(&self) -> &str {
        &self.tool
    }

    fn key(&self) -> &DefinitionKey {
        &self.connection.key
    }

    /// Audits a use of the credential; `attempt` is `1` or `2` (the retry after a
    /// refusal).
    async fn audit(&self, outcome: AuditOutcome, attempt: &'static str) {
        let detail = [("tool", &*self.tool), ("attempt", attempt)];
        let event = AuditEventRef::new(
            self.host.clock().now(),
            &self.connection.tenant,
            &AuditAction::CREDENTIAL_USED,
            &outcome,
        )
        .with_key(Some(self.key()))
        .with_connection(Some(&self.connection.id))
        .with_actor(self.actor.as_ref())
        .with_detail(&detail);
        self.host.audit().record_ref(event).await;
    }

    /// Sends `request` with the definition's default headers added where it does not set
    /// them, and the credential `auth` names injected.
    ///
    /// # Errors
    ///
    /// The credential source's errors (no credential, refresh failures); the HTTP
    /// client's errors (timeouts, connection failures); `tool.credential_unusable` when
    /// the credential cannot be put in a header. A refused credential is not an error
    /// here: the caller reads the status.
    pub async fn send(
        &self,
        request: HttpRequest,
        auth: &RequestAuth,
    ) -> Result<HttpResponse, Error> {
        let mut request = request;
        if let Some(defaults) = &self.default_headers {
            add_missing_headers(request.headers_mut(), defaults);
        }
        let credential_request = CredentialRequest::new(&self.connection, &auth.selector);
        let credential = match self.credentials.credential(&credential_request).await {
            Ok(credential) => credential,
            Err(e) => {
                self.audit(
                    AuditOutcome::Failure {
                        code: e.code().to_owned(),
                    },
                    "1",
                )
                .await;
                return Err(e);
            }
        };
        let first = inject(clone_request(&request), &auth.injection, &credential.value)?;
        let response = self.host.http().send(first).await?;
        if !(auth.rejected)(&response) {
            self.audit(AuditOutcome::Success, "1").await;
            return Ok(response);
        }
        self.audit(
            AuditOutcome::Failure {
                code: crate::codes::credential::REJECTED.into(),
            },
            "1",
        )
        .await;
        let fresh: Option<ResolvedCredential> = self
            .credentials
            .credential_rejected(&credential_request, &credential.value)
            .await?;
        let Some(fresh) = fresh else {
            return Ok(response);
        };
        let second = inject(request, &auth.injection, &fresh.value)?;
        let response = self.host.http().send(second).await?;
        let outcome = if (auth.rejected)(&response) {
            AuditOutcome::Failure {
                code: crate::codes::credential::REJECTED.into(),
            }
        } else {
            AuditOutcome::Success
        };
        self.audit(outcome, "2").await;
        Ok(response)
    }
}

impl ToolHttp {
    /// Sends `request` as [`send`](Self::send) does and reads a successful answer's JSON
    /// body as `T`: the usual end of a REST call, in one step.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); HTTP 429 as `tool.rate_limited` with the wait its
    /// `Retry-After` says (seconds or an HTTP date; else a minute); another non-success
    /// status as [`status_error`] maps it (`tool.unauthorized`,
    /// `tool.upstream_not_found`...); `tool.unexpected_response` when the body is not
    /// the JSON expected. Bodies are never quoted. A provider that signals limits
    /// otherwise (a 403 with a remaining-count header, a GraphQL error) is read with a
    /// [`RateLimitRule`](super::RateLimitRule) before this.
    pub async fn fetch<T: DeserializeOwned>(
        &self,
        request: HttpRequest,
        auth: &RequestAuth,
    ) -> Result<T, Error> {
        let response = self.send(request, auth).await?;
        if !response.status().is_success() {
            if response.status() == StatusCode::TOO_MANY_REQUESTS
                && let Some(limited) =
                    super::RateLimitRule::new().check(&response, self.host.clock().now())
            {
                return Err(limited);
            }
            return Err(status_error(response.status()));
        }
        read_json(&response)
    }
}

/// Adds to `headers` every header of `defaults` it does not have, with all its values
/// (a header the request sets keeps the request's values).
pub(crate) fn add_missing_headers(headers: &mut http::HeaderMap, defaults: &http::HeaderMap) {
    for name in defaults.keys() {
        if !headers.contains_key(name) {
            for value in defaults.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
    }
}

pub(crate) fn clone_request(request: &HttpRequest) -> HttpRequest {
    let mut copy = http::Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

fn unusable() -> Error {
    crate::codes::tool::CREDENTIAL_UNUSABLE
        .error("the connection's credential cannot be put on an HTTP request")
}

fn sensitive(value: &str) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::from_str(value).map_err(|_| unusable())?;
    value.set_sensitive(true);
    Ok(value)
}

/// Puts `secret` on `request` as `injection` says, replacing any header of the same name.
pub(crate) fn inject(
    mut request: HttpRequest,
    injection: &AuthInjection,
    secret: &Secret,
) -> Result<HttpRequest, Error> {
    let headers = request.headers_mut();
    match injection {
        AuthInjection::Bearer => {
            let value = zeroize::Zeroizing::new(format!("Bearer {}", secret.expose()));
            headers.insert(AUTHORIZATION, sensitive(&value)?);
        }
        AuthInjection::Basic { username } => {
            let plain = zeroize::Zeroizing::new(match username {
                Some(user) => format!("{user}:{}", secret.expose()),
                None => secret.expose().to_owned(),
            });
            let value = zeroize::Zeroizing::new(format!("Basic {}", STANDARD.encode(&*plain)));
            headers.insert(AUTHORIZATION, sensitive(&value)?);
        }
        AuthInjection::Header { name, prefix } => {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| unusable())?;
            let value = zeroize::Zeroizing::new(format!(
                "{}{}",
                prefix.as_deref().unwrap_or(""),
                secret.expose()
            ));
            headers.insert(name, sensitive(&value)?);
        }
        AuthInjection::Query { name } => {
            let mut url = url::Url::parse(&request.uri().to_string()).map_err(|_| unusable())?;
            url.query_pairs_mut().append_pair(name, secret.expose());
            *request.uri_mut() = url.as_str().parse().map_err(|_| unusable())?;
        }
        #[allow(unreachable_patterns)]
        _ => return Err(unusable()),
    }
    Ok(request)
}

/// A request without a body.
///
/// # Errors
///
/// `http.invalid_request` when the URL is not a valid URI.
pub fn request(method: Method, url: &str) -> Result<HttpRequest, Error> {
    http::Request::builder()
        .method(method)
        .uri(url)
        .body(Bytes::new())
        .map_err(|_| {
            crate::codes::http::INVALID_REQUEST
                .with_issues("the request URL is not valid", Vec::new())
        })
}

/// A request with a JSON body and `Content-Type: application/json`.
///
/// # Errors
///
/// As [`request`]; `internal` when `body` cannot be serialized.
pub fn json_request<T: Serialize + ?Sized>(
    method: Method,
    url: &str,
    body: &T,
) -> Result<HttpRequest, Error> {
    let bytes = serde_json::to_vec(body)
        .map_err(|e| Error::internal("a request body could not be encoded").with_source(e))?;
    let mut request = request(method, url)?;
    *request.body_mut() = Bytes::from(bytes);
    request
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(request)
}

/// Reads a JSON response body as `T`.
///
/// # Errors
///
/// [`ErrorKind::Provider`](crate::ErrorKind::Provider) (`tool.unexpected_response`) when the body is not the JSON
/// expected; the body is never quoted.
pub fn read_json<T: DeserializeOwned>(response: &HttpResponse) -> Result<T, Error> {
    serde_json::from_slice(response.body()).map_err(|_| {
        crate::codes::tool::UNEXPECTED_RESPONSE.error(format!(
            "the provider answered HTTP {} with a body that is not the JSON expected",
            response.status().as_u16()
        ))
    })
}

/// The error for a non-success HTTP status, by status class. Bodies are never quoted.
pub fn status_error(status: StatusCode) -> Error {
    let code = status.as_u16();
    let (reason, what) = match code {
        400 => (
            crate::codes::tool::UPSTREAM_BAD_REQUEST,
            "refused the request as malformed",
        ),
        401 => (
            crate::codes::tool::UNAUTHORIZED,
            "refused the connection's credential",
        ),
        403 => (
            crate::codes::tool::FORBIDDEN,
            "does not let the connection do this",
        ),
        404 | 410 => (
            crate::codes::tool::UPSTREAM_NOT_FOUND,
            "has no such resource, or hides it from the connection",
        ),
        409 => (crate::codes::tool::UPSTREAM_CONFLICT, "reported a conflict"),
        422 => (
            crate::codes::tool::UPSTREAM_REJECTED,
            "rejected the request's content",
        ),
        429 => {
            return super::rate_limited(super::DEFAULT_RATE_LIMIT_WAIT);
        }
        500..=599 => (
            crate::codes::tool::UPSTREAM_UNAVAILABLE,
            "failed or is unavailable",
        ),
        _ => (
            crate::codes::tool::UPSTREAM_ERROR,
            "answered with an unexpected status",
        ),
    };
    reason.error(format!("the provider {what} (HTTP {code})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::schema::BaseUrl;

    fn get(url: &str) -> HttpRequest {
        request(Method::GET, url).unwrap()
    }

    /// Every value of a default header the request lacks is added; a header the request
    /// sets keeps its own values.
    #[test]
    fn default_headers_are_added_whole_where_missing() {
        let mut defaults = http::HeaderMap::new();
        defaults.append("x-feature", "a".parse().unwrap());
        defaults.append("x-feature", "b".parse().unwrap());
        defaults.insert("accept", "application/json".parse().unwrap());
        let mut request = get("https://api.example.com/x");
        request
            .headers_mut()
            .insert("accept", "text/plain".parse().unwrap());
        add_missing_headers(request.headers_mut(), &defaults);
        let features: Vec<_> = request.headers().get_all("x-feature").iter().collect();
        assert_eq!(features, ["a", "b"]);
        let accepts: Vec<_> = request.headers().get_all("accept").iter().collect();
        assert_eq!(accepts, ["text/plain"]);
    }

    #[test]
    fn injects_every_way() {
        let secret = Secret::from("tok-123");
        let r = inject(get("https://x.test/a"), &AuthInjection::Bearer, &secret).unwrap();
        assert_eq!(r.headers()[AUTHORIZATION], "Bearer tok-123");
        assert!(r.headers()[AUTHORIZATION].is_sensitive());

        let r = inject(
            get("https://x.test/a"),
            &AuthInjection::Basic {
                username: Some("x-access-token".into()),
            },
            &secret,
        )
        .unwrap();
        assert_eq!(
            r.headers()[AUTHORIZATION],
            format!("Basic {}", STANDARD.encode("x-access-token:tok-123"))
        );

        let mut existing = get("https://x.test/a");
        existing
            .headers_mut()
            .insert(AUTHORIZATION, HeaderValue::from_static("stale"));
        let r = inject(
            existing,
            &AuthInjection::Header {
                name: "Authorization".into(),
                prefix: None,
            },
            &secret,
        )
        .unwrap();
        assert_eq!(r.headers().get_all(AUTHORIZATION).iter().count(), 1);
        assert_eq!(r.headers()[AUTHORIZATION], "tok-123");

        let r = inject(
            get("https://x.test/a?b=1"),
            &AuthInjection::Query { name: "key".into() },
            &secret,
        )
        .unwrap();
        assert_eq!(r.uri().to_string(), "https://x.test/a?b=1&key=tok-123");
    }

    #[test]
    fn credentials_that_cannot_be_headers_are_refused_without_echo() {
        let secret = Secret::from("bad\nvalue-secret");
        let err = inject(get("https://x.test/"), &AuthInjection::Bearer, &secret).unwrap_err();
        assert_eq!(err.code(), "tool.credential_unusable");
        assert!(!format!("{err:?}").contains("value-secret"));
    }

    #[test]
    fn urls_encode_segments_and_refuse_dot_segments() {
        let base = BaseUrl::parse("https://api.github.com").unwrap();
        let url = base
            .url()
            .path("repos")
            .arg("/owner", "o")
            .arg("/path", "dir/file.md")
            .build()
            .unwrap();
        assert_eq!(url.as_str(), "https://api.github.com/repos/o/dir%2Ffile.md");
        let url = base.url().path("search/issues").build().unwrap();
        assert_eq!(url.as_str(), "https://api.github.com/search/issues");
        let nested = BaseUrl::parse("https://ghe.test/api/v3/").unwrap();
        let url = nested
            .url()
            .path("user")
            .arg("/q", "a b?c#d")
            .build()
            .unwrap();
        assert_eq!(url.as_str(), "https://ghe.test/api/v3/user/a%20b%3Fc%23d");
        for bad in ["", ".", ".."] {
            let err = base
                .url()
                .path("repos")
                .arg("/owner", "o")
                .arg("/repo", bad)
                .arg("/path", "..")
                .build()
                .unwrap_err();
            assert_eq!(err.code(), "tool.invalid_path_segment");
            assert_eq!(err.issues()[0].path, "/repo", "the first refusal is named");
            let err = base.url().path("repos//x").build().unwrap_err();
            assert_eq!(err.issues()[0].path, "");
        }
    }

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(
            status_error(StatusCode::UNAUTHORIZED).code(),
            "tool.unauthorized"
        );
        assert_eq!(
            status_error(StatusCode::NOT_FOUND).kind(),
            ErrorKind::NotFound
        );
        let limited = status_error(StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.kind(), ErrorKind::RateLimited);
        assert!(limited.retry_after().is_some());
        assert!(status_error(StatusCode::BAD_GATEWAY).is_temporary());
    }

    #[test]
    fn json_bodies_are_read_without_quoting_them() {
        let response = http::Response::builder()
            .status(200)
            .body(Bytes::from_static(b"<html>secret-page</html>"))
            .unwrap();
        let err = read_json::<serde_json::Value>(&response).unwrap_err();
        assert_eq!(err.code(), "tool.unexpected_response");
        assert!(!err.to_string().contains("secret-page"));
    }
}
