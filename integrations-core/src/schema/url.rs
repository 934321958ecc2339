use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, ValidationIssue};

/// A normalized `http(s)` base URL for configs: no query, no fragment, no credentials,
/// no trailing slash (`https://ghe.example.com/api/v3`). The root path is the empty
/// string, so `https://api.github.com/` normalizes to `https://api.github.com`.
///
/// Its JSON Schema is a `uri`-formatted string that refuses credentials (`user:pw@`), `?`
/// and `#`, so bad values are reported with schema codes before deserialization, and
/// `integrations schema`, forms and validation agree.
///
/// ```
/// use integrations_core::schema::BaseUrl;
/// let url = BaseUrl::parse("https://GHE.example.com:8443/api/v3/")?;
/// assert_eq!(url.as_str(), "https://ghe.example.com:8443/api/v3");
/// assert_eq!(url.host(), "ghe.example.com");
/// assert_eq!(url.path(), "/api/v3");
/// assert_eq!(url.join("/repos/a/b"), "https://ghe.example.com:8443/api/v3/repos/a/b");
/// assert!(BaseUrl::parse("https://x.test/?a=1").is_err());
/// # Ok::<(), integrations_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BaseUrl {
    full: String,
    host: String,
    path_start: usize,
}

/// The JSON Schema pattern of a base URL: `http(s)://`, an authority without credentials
/// (`@`), and no query, fragment or whitespace.
pub(crate) const BASE_URL_PATTERN: &str = "^https?://[^/?#@\\s]+(/[^?#\\s]*)?$";

/// What [`BASE_URL_PATTERN`] requires, as an issue message.
pub(crate) const BASE_URL_RULE: &str =
    "must be an absolute http(s) URL without credentials, query or fragment";

fn invalid(why: &str) -> Error {
    crate::codes::url::INVALID.with_issues(
        format!("invalid base URL: {why}"),
        vec![ValidationIssue::new("url.invalid", "", why.to_owned())],
    )
}

impl BaseUrl {
    /// Parses and normalizes a base URL.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`url.invalid`) unless
    /// it is an absolute `http` or `https` URL with a host and no query, fragment or
    /// credentials.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let url = url::Url::parse(text).map_err(|_| invalid("it is not an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() || text.contains(['?', '#']) {
            return Err(invalid("a base URL has no query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("a base URL carries no credentials"));
        }
        let Some(host) = url.host_str() else {
            return Err(invalid("a base URL needs a host"));
        };
        let host = host.to_ascii_lowercase();
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let prefix = format!("{}://{authority}", url.scheme());
        let path = url.path().trim_end_matches('/');
        Ok(Self {
            path_start: prefix.len(),
            full: format!("{prefix}{path}"),
            host,
        })
    }

    /// The URL, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The host, lowercase, without port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The path (`""` for the root, `/api/v3`).
    pub fn path(&self) -> &str {
        &self.full[self.path_start..]
    }

    /// The URL with `path` appended (`path` should start with `/`).
    pub fn join(&self, path: &str) -> String {
        if path.is_empty() || path.starts_with('/') {
            format!("{}{path}", self.full)
        } else {
            format!("{}/{path}", self.full)
        }
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BaseUrl({})", self.full)
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl Serialize for BaseUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.full)
    }
}

impl<'de> Deserialize<'de> for BaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for BaseUrl {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("BaseUrl")
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "uri",
            "pattern": BASE_URL_PATTERN,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        let cases = [
            ("https://api.github.com", "https://api.github.com", ""),
            ("https://api.github.com/", "https://api.github.com", ""),
            ("https://API.GitHub.com//", "https://api.github.com", ""),
            (
                "http://localhost:8080/v1/",
                "http://localhost:8080/v1",
                "/v1",
            ),
            ("https://[::1]:9/x", "https://[::1]:9/x", "/x"),
        ];
        for (input, full, path) in cases {
            let url = BaseUrl::parse(input).unwrap();
            assert_eq!(url.as_str(), full, "{input}");
            assert_eq!(url.path(), path, "{input}");
        }
        assert_eq!(BaseUrl::parse("https://[::1]:9/x").unwrap().host(), "[::1]");
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "api.github.com",
            "ftp://x.test",
            "https://x.test/?q",
            "https://x.test/#f",
            "https://u:p@x.test",
        ] {
            assert_eq!(
                BaseUrl::parse(bad).unwrap_err().code(),
                "url.invalid",
                "{bad}"
            );
        }
    }
}
