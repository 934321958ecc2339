//! [`DefinitionKey`] (`family::variant`) and [`IntegrationKind`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::id::IdText;
use crate::issue::ValidationIssue;

/// The longest family or variant, in bytes.
pub const MAX_SEGMENT_LEN: usize = 64;

/// Identifies a definition: a provider family and one of its variants, written
/// `family::variant` (for example `github::github-enterprise-server`).
///
/// Both parts are lowercase ASCII letters, digits and single hyphens, start with a letter,
/// and are at most 64 bytes. Keys order byte-wise, so listings are stable on every machine
/// and in every locale.
///
/// ```
/// use integrations_core::DefinitionKey;
///
/// let key: DefinitionKey = "github::github-cloud".parse()?;
/// assert_eq!(key.family(), "github");
/// assert_eq!(key.variant(), "github-cloud");
/// assert!("GitHub::cloud".parse::<DefinitionKey>().is_err());
/// # Ok::<(), integrations_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DefinitionKey {
    // Stored as the full `family::variant` string, a literal or shared: a clone never
    // allocates. Ordering is byte-wise on that string (`split` follows from it), so it
    // never depends on a locale.
    full: IdText,
    split: usize,
}

impl DefinitionKey {
    /// Builds a key from its two parts.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`key.invalid`) when a
    /// part is empty, too long, or holds characters other than `a-z`, `0-9` and `-`.
    pub fn new(family: &str, variant: &str) -> Result<Self, Error> {
        check_segment("family", family)?;
        check_segment("variant", variant)?;
        Ok(Self {
            full: IdText::Shared(format!("{family}::{variant}").into()),
            split: family.len(),
        })
    }

    /// A key from a literal, checked at compile time:
    ///
    /// ```
    /// use integrations_core::DefinitionKey;
    ///
    /// const JIRA: DefinitionKey = DefinitionKey::from_static("jira::jira-cloud");
    /// assert_eq!(JIRA.variant(), "jira-cloud");
    /// assert_eq!(JIRA, "jira::jira-cloud".parse()?);
    /// # Ok::<(), integrations_core::Error>(())
    /// ```
    ///
    /// Use it in a `const` item (or a `const { }` block): there a bad literal does not
    /// compile.
    ///
    /// ```compile_fail
    /// use integrations_core::DefinitionKey;
    ///
    /// const BAD: DefinitionKey = DefinitionKey::from_static("Jira::cloud");
    /// ```
    ///
    /// # Panics
    ///
    /// When `key` is not a valid `family::variant` (the rules of [`new`](Self::new)): at
    /// compile time in const context.
    pub const fn from_static(key: &'static str) -> Self {
        let Some(split) = static_split(key) else {
            panic!(
                "invalid definition key literal: family::variant, each 1 to 64 lowercase letters, digits and single hyphens, starting with a letter"
            );
        };
        Self {
            full: IdText::Static(key),
            split,
        }
    }

    /// The provider family (`github`).
    pub fn family(&self) -> &str {
        &self.full.as_str()[..self.split]
    }

    /// The variant (`github-enterprise-server`).
    pub fn variant(&self) -> &str {
        &self.full.as_str()[self.split + 2..]
    }

    /// The key as `family::variant`.
    pub fn as_str(&self) -> &str {
        self.full.as_str()
    }
}

fn invalid(message: String) -> Error {
    crate::codes::key::INVALID.with_issues(
        message.clone(),
        vec![ValidationIssue::new(
            crate::codes::key::INVALID,
            "",
            message,
        )],
    )
}

/// Where the family of a valid `family::variant` ends, in const context; `None` when
/// [`DefinitionKey::from_str`] would refuse it.
const fn static_split(key: &str) -> Option<usize> {
    let bytes = key.as_bytes();
    let mut split = 0;
    while split + 1 < bytes.len() && !(bytes[split] == b':' && bytes[split + 1] == b':') {
        split += 1;
    }
    if split + 1 >= bytes.len()
        || !segment_is_valid(bytes, 0, split)
        || !segment_is_valid(bytes, split + 2, bytes.len())
    {
        return None;
    }
    Some(split)
}

/// [`check_segment`]'s rules on `bytes[start..end]`, in const context.
const fn segment_is_valid(bytes: &[u8], start: usize, end: usize) -> bool {
    if start >= end || end - start > MAX_SEGMENT_LEN || !bytes[start].is_ascii_lowercase() {
        return false;
    }
    if bytes[end - 1] == b'-' {
        return false;
    }
    let mut i = start;
    while i < end {
        let b = bytes[i];
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return false;
        }
        if b == b'-' && i + 1 < end && bytes[i + 1] == b'-' {
            return false;
        }
        i += 1;
    }
    true
}

fn check_segment(what: &str, s: &str) -> Result<(), Error> {
    if s.is_empty() {
        return Err(invalid(format!(
            "the {what} of a definition key must not be empty"
        )));
    }
    if s.len() > MAX_SEGMENT_LEN {
        return Err(invalid(format!(
            "the {what} of a definition key must be at most {MAX_SEGMENT_LEN} bytes"
        )));
    }
    let bytes = s.as_bytes();
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    if !bytes[0].is_ascii_lowercase()
        || !bytes.iter().copied().all(allowed)
        || s.ends_with('-')
        || s.contains("--")
    {
        return Err(invalid(format!(
            "the {what} of a definition key must be lowercase letters, digits and single hyphens, starting with a letter"
        )));
    }
    Ok(())
}

impl FromStr for DefinitionKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let Some((family, variant)) = s.split_once("::") else {
            return Err(invalid(
                "a definition key must be written family::variant".to_owned(),
            ));
        };
        Self::new(family, variant)
    }
}

impl TryFrom<String> for DefinitionKey {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<DefinitionKey> for String {
    fn from(key: DefinitionKey) -> String {
        key.full.as_str().to_owned()
    }
}

impl fmt::Display for DefinitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.full.as_str())
    }
}

impl fmt::Debug for DefinitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DefinitionKey({})", self.full.as_str())
    }
}

/// What a definition is for. A binding's kind must equal its definition's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IntegrationKind {
    /// An agent runtime (`OpenAI` Codex): model access for the sandbox's agent.
    Agent,
    /// A connector to a product the agent works with (Linear, Slack).
    Connector,
    /// A git host (GitHub): repositories, clones and the code-review API.
    Git,
}

impl IntegrationKind {
    /// The kind as written in JSON (`agent`, `connector`, `git`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Connector => "connector",
            Self::Git => "git",
        }
    }
}

impl fmt::Display for IntegrationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_splits() {
        let key: DefinitionKey = "github::github-enterprise-server".parse().unwrap();
        assert_eq!(key.family(), "github");
        assert_eq!(key.variant(), "github-enterprise-server");
        assert_eq!(key.to_string(), "github::github-enterprise-server");
        assert_eq!(
            key,
            DefinitionKey::new("github", "github-enterprise-server").unwrap()
        );
    }

    #[test]
    fn rejects_malformed_keys() {
        for bad in [
            "",
            "github",
            "github:cloud",
            "::cloud",
            "github::",
            "GitHub::cloud",
            "github::Cloud",
            "git hub::cloud",
            "github::cloud::x",
            "1github::cloud",
            "github::-cloud",
            "github::cloud-",
            "github::clo--ud",
            "github::clo_ud",
            "github::clöud",
        ] {
            let err = bad.parse::<DefinitionKey>().unwrap_err();
            assert_eq!(err.code(), "key.invalid", "{bad:?}");
            assert_eq!(static_split(bad), None, "from_static accepts {bad:?}");
        }
        let long = "a".repeat(MAX_SEGMENT_LEN + 1);
        assert!(DefinitionKey::new(&long, "x").is_err());
        assert!(DefinitionKey::new(&long[1..], "x").is_ok());
    }

    #[test]
    fn static_keys_equal_parsed_ones() {
        const CLOUD: DefinitionKey = DefinitionKey::from_static("github::github-cloud");
        let parsed: DefinitionKey = "github::github-cloud".parse().unwrap();
        assert_eq!(CLOUD, parsed);
        assert_eq!(
            (CLOUD.family(), CLOUD.variant()),
            ("github", "github-cloud")
        );
        let mut set = std::collections::HashSet::new();
        set.insert(parsed);
        assert!(set.contains(&CLOUD));
        let longest = format!("{}::a", "a".repeat(MAX_SEGMENT_LEN));
        assert_eq!(static_split(&longest), Some(MAX_SEGMENT_LEN));
        assert_eq!(static_split(&format!("a{longest}")), None);
        assert_eq!(format!("{CLOUD:?}"), "DefinitionKey(github::github-cloud)");
    }

    #[test]
    fn orders_bytewise_on_the_written_key() {
        let mut keys: Vec<DefinitionKey> = [
            "linear::linear-default",
            "github::github-enterprise-server",
            "github-x::a",
            "github::github-cloud",
            "a::z",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        keys.sort();
        let got: Vec<&str> = keys.iter().map(DefinitionKey::as_str).collect();
        assert_eq!(
            got,
            [
                "a::z",
                "github-x::a",
                "github::github-cloud",
                "github::github-enterprise-server",
                "linear::linear-default",
            ]
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let key: DefinitionKey = serde_json::from_str("\"slack::slack-default\"").unwrap();
        assert_eq!(
            serde_json::to_string(&key).unwrap(),
            "\"slack::slack-default\""
        );
        assert!(serde_json::from_str::<DefinitionKey>("\"slack\"").is_err());
        let kind: IntegrationKind = serde_json::from_str("\"git\"").unwrap();
        assert_eq!(kind, IntegrationKind::Git);
    }
}
