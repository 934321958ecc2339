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
        vec![ValidationIssue::new(
            crate::codes::url::INVALID,
            "",
            why.to_owned(),
        )],
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

    /// A URL under this base, built segment by segment: fixed segments from code with
    /// [`path`](UrlBuilder::path), segments from a tool's arguments with
    /// [`arg`](UrlBuilder::arg) (each percent-encoded, so a `/` inside stays inside).
    ///
    /// ```
    /// use integrations_core::schema::BaseUrl;
    ///
    /// let base = BaseUrl::parse("https://ghe.example.com/api/v3")?;
    /// let url = base.url().path("repos").arg("/owner", "octo cat").arg("/path", "a/b").build()?;
    /// assert_eq!(url.as_str(), "https://ghe.example.com/api/v3/repos/octo%20cat/a%2Fb");
    /// let err = base.url().path("repos").arg("/repo", "..").build().unwrap_err();
    /// assert_eq!(err.code(), "tool.invalid_path_segment");
    /// assert_eq!(err.issues()[0].path, "/repo");
    /// # Ok::<(), integrations_core::Error>(())
    /// ```
    pub fn url(&self) -> UrlBuilder {
        // A base URL was parsed by `url` and has an http(s) scheme, so it parses again
        // and can have a path; `build` reports it as internal if not.
        UrlBuilder {
            url: url::Url::parse(&self.full).ok(),
            refused: None,
        }
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

/// A URL under a [`BaseUrl`], from [`BaseUrl::url`]. It owns what it builds, so a
/// helper can return the common prefix (`repos/{owner}/{repo}`) for callers to extend.
#[derive(Debug)]
#[must_use = "call build() for the URL"]
pub struct UrlBuilder {
    url: Option<url::Url>,
    /// The first refusal: the JSON Pointer of the argument (`""` for a fixed segment).
    refused: Option<String>,
}

impl UrlBuilder {
    /// Appends fixed segments written in code: `"repos"`, or several at once with `/`
    /// between them (`"search/issues"`).
    pub fn path(mut self, segments: &str) -> Self {
        for segment in segments.split('/') {
            self = self.push("", segment);
        }
        self
    }

    /// Appends one segment taken from the tool argument at JSON Pointer `pointer`
    /// (`"/owner"`), percent-encoded whole: a `/` inside stays inside the segment.
    pub fn arg(self, pointer: &str, value: &str) -> Self {
        self.push(pointer, value)
    }

    /// Appends the query parameter `name=value`, form-encoded (a `&` or `=` in `value`
    /// stays inside it); parameters keep the order they were added in.
    ///
    /// ```
    /// use integrations_core::schema::BaseUrl;
    ///
    /// let base = BaseUrl::parse("https://api.example.com/v1")?;
    /// let url = base.url().path("search").query("q", "a&b=c").query("per_page", "50").build()?;
    /// assert_eq!(url.as_str(), "https://api.example.com/v1/search?q=a%26b%3Dc&per_page=50");
    /// # Ok::<(), integrations_core::Error>(())
    /// ```
    pub fn query(mut self, name: &str, value: &str) -> Self {
        if let Some(url) = self.url.as_mut() {
            url.query_pairs_mut().append_pair(name, value);
        }
        self
    }

    fn push(mut self, pointer: &str, segment: &str) -> Self {
        if self.refused.is_some() {
            return self;
        }
        if segment.is_empty() || segment == "." || segment == ".." {
            self.refused = Some(pointer.to_owned());
        } else if let Some(Ok(mut path)) = self.url.as_mut().map(url::Url::path_segments_mut) {
            path.pop_if_empty().push(segment);
        }
        self
    }

    /// The URL.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)
    /// (`tool.invalid_path_segment`, the issue at the argument's pointer) for an empty,
    /// `.` or `..` segment, which would otherwise change the path silently.
    pub fn build(self) -> Result<url::Url, Error> {
        match (self.refused, self.url) {
            (Some(pointer), _) => Err(invalid_segment(pointer)),
            (None, Some(url)) => Ok(url),
            (None, None) => Err(Error::internal("a base URL did not parse again")),
        }
    }
}

fn invalid_segment(pointer: String) -> Error {
    let code = crate::codes::tool::INVALID_PATH_SEGMENT;
    code.with_issues(
        "an argument used in the request path is empty or is `.` or `..`",
        vec![ValidationIssue::new(
            code.as_str(),
            pointer,
            "must not be empty, `.` or `..`",
        )],
    )
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
