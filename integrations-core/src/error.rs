//! The one error type of `integrations-core`.
//!
//! Every failure carries a stable [`ErrorKind`] (what class of thing went wrong, for
//! control flow) and a stable string [`code`](Error::code) such as
//! `webhook.signature_mismatch` (for logs, APIs and tests). `Display` describes this layer
//! only, in words a user can act on; causes are reached through
//! [`source`](std::error::Error::source).
//!
//! # Security
//!
//! No error built by this crate contains a secret, a token, a raw credential or an
//! expected signature, in its `Display`, its `Debug` or its source chain. Third-party
//! errors that might (reqwest errors carry URLs) are scrubbed before they are attached.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::issue::ValidationIssue;

/// A boxed error usable as a source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What class of failure an [`Error`] is. Stable: match on it for control flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller's input is invalid; [`Error::issues`] lists what is wrong. Nothing was changed.
    InvalidInput,
    /// A record, definition, tool or route that was asked for does not exist.
    NotFound,
    /// The operation lost a race or would overwrite something: a duplicate key, a
    /// compare-and-swap whose expected version no longer holds, an ambiguous match.
    Conflict,
    /// A signature, state parameter, grant or timestamp did not verify.
    Verification,
    /// A policy, capability or scope forbids the operation.
    PermissionDenied,
    /// A provider rate limit was hit; [`Error::retry_after`] says how long to wait.
    RateLimited,
    /// The provider answered with a permanent refusal (for example `invalid_grant`).
    Provider,
    /// A temporary failure: a timeout, a refused connection, a 5xx. Retrying may succeed.
    Unavailable,
    /// The host's storage failed.
    Storage,
    /// Encryption or decryption failed: wrong key, tampered ciphertext, wrong associated data.
    Crypto,
    /// A definition, target or host is configured in a way that cannot work.
    Configuration,
    /// A bug: an invariant of this crate did not hold.
    Internal,
}

impl ErrorKind {
    /// The kind as a stable lowercase word (`invalid_input`, `not_found`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Verification => "verification",
            Self::PermissionDenied => "permission_denied",
            Self::RateLimited => "rate_limited",
            Self::Provider => "provider",
            Self::Unavailable => "unavailable",
            Self::Storage => "storage",
            Self::Crypto => "crypto",
            Self::Configuration => "configuration",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of `integrations-core`: a kind, a stable code, a safe message, and optionally
/// validation issues, a retry hint and a source.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    issues: Vec<ValidationIssue>,
    retry_after: Option<Duration>,
    source: Option<BoxError>,
}

impl Error {
    /// Builds an error. `code` is a stable `area.reason` string; `message` must be safe to
    /// show to a user and must never contain secret material.
    pub fn new(
        kind: ErrorKind,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                code: code.into(),
                message: message.into(),
                issues: Vec::new(),
                retry_after: None,
                source: None,
            }),
        }
    }

    /// An [`ErrorKind::InvalidInput`] error carrying every issue found.
    pub fn invalid_input(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
        issues: Vec<ValidationIssue>,
    ) -> Self {
        Self::new(ErrorKind::InvalidInput, code, message).with_issues(issues)
    }

    /// An [`ErrorKind::NotFound`] error.
    pub fn not_found(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(ErrorKind::NotFound, code, message)
    }

    /// An [`ErrorKind::Conflict`] error.
    pub fn conflict(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(ErrorKind::Conflict, code, message)
    }

    /// An [`ErrorKind::Configuration`] error.
    pub fn configuration(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(ErrorKind::Configuration, code, message)
    }

    /// An [`ErrorKind::Storage`] error wrapping the host store's own error.
    pub fn storage(source: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Storage, "store.failed", "the host store failed").with_source(source)
    }

    /// An [`ErrorKind::Internal`] error: an invariant of this crate did not hold.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Internal, "internal", message)
    }

    /// Attaches a source. The source must not reveal secrets in its `Display` or `Debug`.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// Attaches validation issues.
    #[must_use]
    pub fn with_issues(mut self, issues: Vec<ValidationIssue>) -> Self {
        self.inner.issues = issues;
        self
    }

    /// Attaches how long to wait before retrying.
    #[must_use]
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.inner.retry_after = Some(wait);
        self
    }

    /// The class of failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The stable code, `area.reason` (for example `oauth.state_expired`).
    pub fn code(&self) -> &str {
        &self.inner.code
    }

    /// The safe, human-readable message of this layer (the same as `Display`).
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Every validation issue found, for [`ErrorKind::InvalidInput`]; empty otherwise.
    pub fn issues(&self) -> &[ValidationIssue] {
        &self.inner.issues
    }

    /// How long to wait before retrying, when the failure says so.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::Unavailable | ErrorKind::RateLimited | ErrorKind::Storage
        )
    }

    /// Whether this is [`ErrorKind::NotFound`].
    pub fn is_not_found(&self) -> bool {
        self.inner.kind == ErrorKind::NotFound
    }

    /// Whether this is [`ErrorKind::Conflict`].
    pub fn is_conflict(&self) -> bool {
        self.inner.kind == ErrorKind::Conflict
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("code", &self.inner.code)
            .field("message", &self.inner.message);
        if !self.inner.issues.is_empty() {
            d.field("issues", &self.inner.issues);
        }
        if let Some(wait) = self.inner.retry_after {
            d.field("retry_after", &wait);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_message_and_code_is_stable() {
        let e = Error::new(
            ErrorKind::Verification,
            "webhook.signature_mismatch",
            "the signature does not match",
        );
        assert_eq!(e.to_string(), "the signature does not match");
        assert_eq!(e.code(), "webhook.signature_mismatch");
        assert_eq!(e.kind(), ErrorKind::Verification);
        assert!(!e.is_temporary());
    }

    #[test]
    fn temporary_kinds() {
        for kind in [
            ErrorKind::Unavailable,
            ErrorKind::RateLimited,
            ErrorKind::Storage,
        ] {
            assert!(Error::new(kind, "x.y", "m").is_temporary());
        }
        assert!(!Error::new(ErrorKind::Provider, "x.y", "m").is_temporary());
    }

    #[test]
    fn error_is_send_sync_and_small() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }
}
