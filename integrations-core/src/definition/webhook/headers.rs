//! [`Headers`]: request headers normalized once, so every scheme and handler reads them
//! the same way.

use std::collections::BTreeMap;
use std::fmt;

/// Request headers, normalized: names trimmed and lowercased, values trimmed, repeated
/// names joined with `,` in arrival order, blank names dropped. Lookups ignore case.
///
/// `Debug` redacts the values of headers that may carry signatures or credentials (any
/// name containing `signature`, `authorization`, `cookie`, `token` or `secret`).
///
/// ```
/// use integrations_core::webhook::Headers;
///
/// let headers = Headers::from_pairs([
///     (" X-GitHub-Event ", " issues "),
///     ("Accept", "a"),
///     ("accept", "b"),
///     ("", "dropped"),
/// ]);
/// assert_eq!(headers.get("x-github-event"), Some("issues"));
/// assert_eq!(headers.get("ACCEPT"), Some("a,b"));
/// assert_eq!(headers.len(), 2);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    map: BTreeMap<String, String>,
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Headers from name/value pairs, normalized. Values that are not UTF-8 are decoded
    /// lossily (a signature in such a value fails verification).
    pub fn from_pairs<I, N, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let mut headers = Self::new();
        for (name, value) in pairs {
            headers.append(name.as_ref(), value.as_ref());
        }
        headers
    }

    /// Headers from an [`http::HeaderMap`], normalized.
    pub fn from_http(map: &http::HeaderMap) -> Self {
        Self::from_pairs(map.iter().map(|(n, v)| (n.as_str(), v.as_bytes())))
    }

    /// Adds a header; a repeated name is joined to the earlier value with `,`.
    pub fn append(&mut self, name: &str, value: impl AsRef<[u8]>) {
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        let value = String::from_utf8_lossy(value.as_ref());
        let value = value.trim();
        let name = name.to_ascii_lowercase();
        match self.map.get_mut(&name) {
            Some(existing) => {
                existing.push(',');
                existing.push_str(value);
            }
            None => {
                self.map.insert(name, value.to_owned());
            }
        }
    }

    /// Adds a header, builder style.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.append(name, value);
        self
    }

    /// Replaces a header's value.
    pub fn set(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.remove(name);
        self.append(name, value);
    }

    /// Removes a header, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.map.remove(&name.trim().to_ascii_lowercase())
    }

    /// The value of a header, by name in any case.
    pub fn get(&self, name: &str) -> Option<&str> {
        if name.bytes().any(|b| b.is_ascii_uppercase() || b == b' ') {
            self.map
                .get(&name.trim().to_ascii_lowercase())
                .map(String::as_str)
        } else {
            self.map.get(name).map(String::as_str)
        }
    }

    /// Whether the header is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every header, lowercased names in byte-wise order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// How many distinct names.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

fn is_sensitive(name: &str) -> bool {
    ["signature", "authorization", "cookie", "token", "secret"]
        .iter()
        .any(|s| name.contains(s))
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.map {
            if is_sensitive(name) {
                map.entry(name, &"[REDACTED]");
            } else {
                map.entry(name, value);
            }
        }
        map.finish()
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Self::from_pairs(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names_values_and_repeats() {
        let mut map = http::HeaderMap::new();
        map.append("X-Slack-Signature", "v0=abc".parse().unwrap());
        map.append("Via", " one ".parse().unwrap());
        map.append("via", "two".parse().unwrap());
        let headers = Headers::from_http(&map);
        assert_eq!(headers.get("via"), Some("one,two"));
        assert_eq!(headers.get("X-SLACK-SIGNATURE"), Some("v0=abc"));
        assert!(!format!("{headers:?}").contains("abc"));
        assert!(format!("{headers:?}").contains("one,two"));
    }

    #[test]
    fn set_and_remove() {
        let mut headers = Headers::new().with("A", "1").with("a", "2");
        assert_eq!(headers.get("a"), Some("1,2"));
        headers.set("A", "3");
        assert_eq!(headers.get("a"), Some("3"));
        assert_eq!(headers.remove("A").as_deref(), Some("3"));
        assert!(headers.is_empty());
        headers.append("   ", "x");
        assert!(headers.is_empty());
    }
}
