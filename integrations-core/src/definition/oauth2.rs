use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, ValidationIssue};

/// The stable code of an OAuth 2.0 endpoint (authorization, token or revocation) that is
/// neither `https` nor plain `http` on a loopback address.
pub const INSECURE_ENDPOINT: &str = crate::codes::oauth::INSECURE_ENDPOINT.as_str();

/// Whether `url` may carry OAuth 2.0 traffic (codes, client secrets, tokens): an
/// `https` URL, or an `http` URL whose host is a loopback address (`127.0.0.0/8`, `::1`
/// or `localhost`, where local mocks and development servers run). A URL that does not
/// parse is not judged here (the flows refuse it as `oauth.invalid_url`).
pub fn is_secure_endpoint(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return true;
    };
    match parsed.scheme() {
        "https" => true,
        "http" => match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => {
                name.eq_ignore_ascii_case("localhost") || name.eq_ignore_ascii_case("localhost.")
            }
            None => false,
        },
        _ => false,
    }
}

/// How scopes are joined in the authorization request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ScopeSeparator {
    /// `read write` (RFC 6749; GitHub).
    Space,
    /// `read,write` (Linear, Slack).
    Comma,
}

impl ScopeSeparator {
    /// The separator character.
    pub fn as_char(self) -> char {
        match self {
            Self::Space => ' ',
            Self::Comma => ',',
        }
    }
}

/// Whether and how the provider supports PKCE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Pkce {
    /// Not supported: no challenge is sent.
    Unsupported,
    /// S256 is supported and always used.
    S256,
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1, preferred).
    BasicHeader,
    /// `client_id` and `client_secret` in the form body.
    RequestBody,
}

/// The declarative OAuth 2.0 data of a connection method: endpoints, scopes and the
/// provider's quirks, as data the generic engine reads. No provider needs code for these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OAuth2Spec {
    /// The authorization endpoint.
    pub authorize_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// The revocation endpoint, if any: [`Authorizations::disconnect`] posts to it with
    /// the connection's access token as a Bearer credential (Linear `oauth/revoke`,
    /// Slack `auth.revoke`), reading the answer with [`success_field`](Self::success_field)
    /// like a token answer. Without one, disconnecting only forgets the tokens.
    ///
    /// [`Authorizations::disconnect`]: crate::auth::Authorizations::disconnect
    pub revoke_url: Option<String>,
    /// Scopes requested when the caller names none.
    pub default_scopes: Vec<String>,
    /// How scopes are joined in the authorization URL.
    pub scope_separator: ScopeSeparator,
    /// PKCE support.
    pub pkce: Pkce,
    /// Client authentication at the token endpoint.
    pub client_auth: ClientAuth,
    /// Extra query parameters of the authorization URL (Linear `actor=user`).
    pub extra_authorize_params: BTreeMap<String, String>,
    /// Extra headers on token requests (GitHub `Accept: application/json`, without which
    /// it answers form-encoded).
    pub token_request_headers: BTreeMap<String, String>,
    /// A boolean member of the token response that must be `true` (Slack `ok`); errors
    /// come back with HTTP 200 and this member `false`.
    pub success_field: Option<String>,
    /// A JSON Pointer into the token response that holds the connection's external
    /// subject (Slack `/team/id`).
    pub subject_pointer: Option<String>,
    /// Whether the provider rotates refresh tokens: each refresh returns a new one and
    /// invalidates the one it was sent. The token manager always stores a returned
    /// refresh token in the same swap as its access token; with rotation declared, a
    /// refresh answer without a new one also drops the used one, which is never sent
    /// again (the connection then needs reauthorizing when the access token expires).
    pub rotates_refresh_tokens: bool,
    /// The access-token lifetime to assume when the response has no `expires_in`; `None`
    /// means such tokens do not expire.
    pub default_expires_in_secs: Option<u64>,
    /// The OAuth client id, usually read from the target config by
    /// [`IntegrationDefinition::oauth2`](super::IntegrationDefinition::oauth2). `None` in
    /// a definition's static spec; the flows refuse to start without one.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The member of the target secrets that holds the client secret (default
    /// `client_secret`). When the target secrets have no such member the client is
    /// treated as public (PKCE without a secret).
    #[serde(default = "default_client_secret_field")]
    pub client_secret_field: String,
    /// Error codes, beyond the standard `invalid_grant`, with which this provider says a
    /// grant is dead (GitHub `bad_refresh_token`, Slack `invalid_refresh_token`). A refresh
    /// failing with one of them marks the connection `error`.
    #[serde(default)]
    pub grant_error_codes: Vec<String>,
}

fn default_client_secret_field() -> String {
    "client_secret".to_owned()
}

impl OAuth2Spec {
    /// A spec with the standard defaults: space-separated scopes, PKCE S256, HTTP Basic
    /// client authentication, no quirks.
    pub fn new(authorize_url: impl Into<String>, token_url: impl Into<String>) -> Self {
        Self {
            authorize_url: authorize_url.into(),
            token_url: token_url.into(),
            revoke_url: None,
            default_scopes: Vec::new(),
            scope_separator: ScopeSeparator::Space,
            pkce: Pkce::S256,
            client_auth: ClientAuth::BasicHeader,
            extra_authorize_params: BTreeMap::new(),
            token_request_headers: BTreeMap::new(),
            success_field: None,
            subject_pointer: None,
            rotates_refresh_tokens: false,
            default_expires_in_secs: None,
            client_id: None,
            client_secret_field: default_client_secret_field(),
            grant_error_codes: Vec::new(),
        }
    }

    /// Sets the OAuth client id (from the target config).
    #[must_use]
    pub fn with_client_id(mut self, client_id: Option<impl Into<String>>) -> Self {
        self.client_id = client_id.map(Into::into);
        self
    }

    /// Sets the member of the target secrets that holds the client secret.
    #[must_use]
    pub fn with_client_secret_field(mut self, field: impl Into<String>) -> Self {
        self.client_secret_field = field.into();
        self
    }

    /// Adds an error code meaning the grant is dead (beyond `invalid_grant`).
    #[must_use]
    pub fn with_grant_error_code(mut self, code: impl Into<String>) -> Self {
        self.grant_error_codes.push(code.into());
        self
    }

    /// Sets the revocation endpoint (see [`revoke_url`](Self::revoke_url)).
    #[must_use]
    pub fn with_revoke_url(mut self, url: impl Into<String>) -> Self {
        self.revoke_url = Some(url.into());
        self
    }

    /// Sets the default scopes.
    #[must_use]
    pub fn with_default_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.default_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the scope separator.
    #[must_use]
    pub fn with_scope_separator(mut self, separator: ScopeSeparator) -> Self {
        self.scope_separator = separator;
        self
    }

    /// Sets PKCE support.
    #[must_use]
    pub fn with_pkce(mut self, pkce: Pkce) -> Self {
        self.pkce = pkce;
        self
    }

    /// Sets client authentication.
    #[must_use]
    pub fn with_client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = auth;
        self
    }

    /// Adds an authorization URL parameter.
    #[must_use]
    pub fn with_authorize_param(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.extra_authorize_params
            .insert(name.into(), value.into());
        self
    }

    /// Adds a token request header.
    #[must_use]
    pub fn with_token_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.token_request_headers.insert(name.into(), value.into());
        self
    }

    /// Sets the success member (Slack `ok`).
    #[must_use]
    pub fn with_success_field(mut self, field: impl Into<String>) -> Self {
        self.success_field = Some(field.into());
        self
    }

    /// Sets the JSON Pointer of the external subject in the token response.
    #[must_use]
    pub fn with_subject_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.subject_pointer = Some(pointer.into());
        self
    }

    /// Declares that refresh tokens rotate.
    #[must_use]
    pub fn with_rotating_refresh_tokens(mut self) -> Self {
        self.rotates_refresh_tokens = true;
        self
    }

    /// Sets the lifetime assumed when `expires_in` is absent.
    #[must_use]
    pub fn with_default_expires_in_secs(mut self, secs: u64) -> Self {
        self.default_expires_in_secs = Some(secs);
        self
    }

    /// The endpoints (named by field) of this spec that are not secure (see
    /// [`is_secure_endpoint`]).
    fn insecure_endpoints(&self) -> impl Iterator<Item = &'static str> {
        [
            ("authorize_url", Some(self.authorize_url.as_str())),
            ("token_url", Some(self.token_url.as_str())),
            ("revoke_url", self.revoke_url.as_deref()),
        ]
        .into_iter()
        .filter_map(|(field, url)| url.filter(|u| !is_secure_endpoint(u)).map(|_| field))
    }

    /// One [`INSECURE_ENDPOINT`] issue, under `path`, per endpoint that is neither
    /// `https` nor loopback `http`.
    pub fn endpoint_issues(&self, path: &str) -> Vec<ValidationIssue> {
        self.insecure_endpoints()
            .map(|field| {
                ValidationIssue::new(
                    INSECURE_ENDPOINT,
                    format!("{path}/{field}"),
                    format!(
                        "the OAuth 2.0 {field} must use https (plain http only on a loopback address)"
                    ),
                )
            })
            .collect()
    }

    /// Checks, before any request, that every endpoint is `https` or loopback `http`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](crate::ErrorKind::Configuration)
    /// [`INSECURE_ENDPOINT`] naming the first endpoint that is not.
    pub fn require_secure_endpoints(&self) -> Result<(), Error> {
        match self.insecure_endpoints().next() {
            None => Ok(()),
            Some(field) => Err(crate::codes::oauth::INSECURE_ENDPOINT.error(format!(
                    "the OAuth 2.0 {field} must use https (plain http only on a loopback address); nothing was sent"
                ),
            )),
        }
    }

    /// Joins scopes with this provider's separator.
    pub fn join_scopes(&self, scopes: &[String]) -> String {
        let sep = self.scope_separator.as_char().to_string();
        scopes.join(&sep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_and_loopback_http_are_secure_other_http_is_not() {
        for url in [
            "https://auth.example.com/token",
            "http://127.0.0.1:8080/token",
            "http://127.255.0.9/token",
            "http://[::1]:9/token",
            "http://localhost:9/token",
            "http://LOCALHOST/token",
            "not a url",
        ] {
            assert!(is_secure_endpoint(url), "{url}");
        }
        for url in [
            "http://auth.example.com/token",
            "http://128.0.0.1/token",
            "http://[::2]/token",
            "http://localhost.example.com/token",
            "http://10.0.0.1/token",
            "ftp://auth.example.com/token",
        ] {
            assert!(!is_secure_endpoint(url), "{url}");
        }
        let spec = OAuth2Spec::new("https://a.test/authorize", "http://a.test/token")
            .with_revoke_url("http://a.test/revoke");
        let issues: Vec<_> = spec
            .endpoint_issues("/m")
            .into_iter()
            .map(|i| i.path)
            .collect();
        assert_eq!(issues, ["/m/token_url", "/m/revoke_url"]);
        assert_eq!(
            spec.require_secure_endpoints().unwrap_err().code(),
            INSECURE_ENDPOINT
        );
    }
}
