//! [`ValidationIssue`]: one thing wrong with an input, with a stable code and a JSON
//! Pointer to where it is.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One problem found in an input.
///
/// * `code` is stable and machine-readable, `family.reason` (`schema.required`,
///   `binding.kind_mismatch`, `openai.unsupported_model`).
/// * `path` is an RFC 6901 JSON Pointer into the document that was submitted (`""` for
///   the whole document, `/config/api_base_url` for one field).
/// * `message` is safe to show to a user: it never echoes the submitted value, so a
///   secret typed into the wrong field never comes back in an error.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ValidationIssue {
    /// Stable code, `family.reason`.
    pub code: String,
    /// JSON Pointer to the offending value.
    pub path: String,
    /// Safe human-readable message.
    pub message: String,
}

impl ValidationIssue {
    /// Builds an issue.
    pub fn new(
        code: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code: code.into(),
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same issue, its path placed under `prefix` (a JSON Pointer such as `/config`).
    #[must_use]
    pub fn under(mut self, prefix: &str) -> Self {
        self.path = format!("{prefix}{}", self.path);
        self
    }
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{} at {}: {}", self.code, path, self.message)
    }
}

/// Escapes one JSON Pointer reference token (RFC 6901: `~` as `~0`, `/` as `~1`).
pub fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_prefixes_the_path() {
        let issue = ValidationIssue::new("schema.required", "/api_base_url", "is required")
            .under("/config");
        assert_eq!(issue.path, "/config/api_base_url");
        assert_eq!(
            issue.to_string(),
            "schema.required at /config/api_base_url: is required"
        );
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(escape_pointer_token("a/b~c"), "a~1b~0c");
    }
}
