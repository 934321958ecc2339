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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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

/// One entry of an error-code catalogue: a stable `area.reason` string, the one
/// [`ErrorKind`] every error with this code has, and what the code means.
///
/// Codes are declared once, in a catalogue such as [`crate::codes`] (see
/// [`error_codes!`](crate::error_codes)), and errors are built from them with
/// [`Code::error`] or [`Error::from_code`], which take the kind from the code: the same
/// condition cannot get two kinds. Every code of the workspace is listed in
/// [`docs/error-codes.md`](https://github.com/integrations-rs/integrations/blob/main/docs/error-codes.md).
///
/// ```
/// use integrations_core::{Code, ErrorKind, codes};
///
/// const GONE: Code = Code::new("shop.gone", ErrorKind::NotFound, "The shop was closed.");
/// let e = GONE.error("the shop you asked for was closed");
/// assert_eq!((e.kind(), e.code()), (ErrorKind::NotFound, "shop.gone"));
/// assert_eq!(codes::auth::TARGET_DISABLED.kind(), ErrorKind::PermissionDenied);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code {
    text: &'static str,
    kind: ErrorKind,
    meaning: &'static str,
}

impl Code {
    /// Declares a code.
    ///
    /// # Panics
    ///
    /// When `code` is not `area.reason` (lowercase ASCII letters, digits and `_`, one dot
    /// between two non-empty parts) or `meaning` is empty. In a `const` this is a
    /// compile-time error.
    #[must_use]
    pub const fn new(code: &'static str, kind: ErrorKind, meaning: &'static str) -> Self {
        assert!(is_code_shaped(code), "an error code is `area.reason`");
        assert!(!meaning.is_empty(), "an error code has a meaning");
        Self {
            text: code,
            kind,
            meaning,
        }
    }

    /// The stable `area.reason` string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        self.text
    }

    /// The kind of every error with this code.
    #[must_use]
    pub const fn kind(self) -> ErrorKind {
        self.kind
    }

    /// What the code means, one or two sentences for the documentation.
    #[must_use]
    pub const fn meaning(self) -> &'static str {
        self.meaning
    }

    /// An error with this code and its kind. `message` must be safe to show to a user and
    /// must never contain secret material.
    pub fn error(self, message: impl Into<Cow<'static, str>>) -> Error {
        Error::from_code(self, message)
    }

    /// An error with this code and its kind, carrying every validation issue found.
    pub fn with_issues(
        self,
        message: impl Into<Cow<'static, str>>,
        issues: Vec<ValidationIssue>,
    ) -> Error {
        Error::from_code(self, message).with_issues(issues)
    }
}

/// Whether `code` is `area.reason`: lowercase ASCII letters, digits and `_`, one dot
/// between two non-empty parts, each starting with a letter.
#[must_use]
pub const fn is_code_shaped(code: &str) -> bool {
    let bytes = code.as_bytes();
    let mut i = 0;
    let mut dots = 0;
    let mut part_start = true;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'.' {
            if part_start {
                return false;
            }
            dots += 1;
            part_start = true;
        } else if part_start {
            if !b.is_ascii_lowercase() {
                return false;
            }
            part_start = false;
        } else if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return false;
        }
        i += 1;
    }
    dots == 1 && !part_start
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl PartialEq<Code> for str {
    fn eq(&self, other: &Code) -> bool {
        self == other.text
    }
}

impl PartialEq<Code> for &str {
    fn eq(&self, other: &Code) -> bool {
        *self == other.text
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl From<Code> for String {
    fn from(code: Code) -> Self {
        code.text.to_owned()
    }
}

/// One entry of a catalogue of validation-issue codes: a stable `area.reason` string and
/// what it means. An issue has no [`ErrorKind`] of its own: it travels in an error (such
/// as `compile.invalid` or `registry.invalid_definition`) whose code has one.
///
/// Issue codes are declared once, in a catalogue (see
/// [`issue_codes!`](crate::issue_codes)), and issues are built from them with
/// [`IssueCode::issue`] or [`ValidationIssue::new`], which takes the constant. Where an
/// issue repeats the code of the error that carries it (`key.invalid`), that error's
/// [`Code`] is used instead. Every issue code of the workspace is listed in
/// `docs/error-codes.md`.
///
/// ```
/// use integrations_core::IssueCode;
///
/// const CLOSED: IssueCode = IssueCode::new("shop.closed", "The shop named is closed.");
/// let issue = CLOSED.issue("/shop", "this shop is closed");
/// assert_eq!((issue.code.as_str(), issue.path.as_str()), ("shop.closed", "/shop"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IssueCode {
    text: &'static str,
    meaning: &'static str,
}

impl IssueCode {
    /// Declares an issue code.
    ///
    /// # Panics
    ///
    /// When `code` is not `area.reason` (see [`Code::new`]) or `meaning` is empty. In a
    /// `const` this is a compile-time error.
    #[must_use]
    pub const fn new(code: &'static str, meaning: &'static str) -> Self {
        assert!(is_code_shaped(code), "an issue code is `area.reason`");
        assert!(!meaning.is_empty(), "an issue code has a meaning");
        Self {
            text: code,
            meaning,
        }
    }

    /// The stable `area.reason` string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        self.text
    }

    /// What the code means, one or two sentences for the documentation.
    #[must_use]
    pub const fn meaning(self) -> &'static str {
        self.meaning
    }

    /// An issue with this code at `path` (a JSON Pointer). `message` must be safe to show
    /// to a user: it never echoes the submitted value.
    pub fn issue(self, path: impl Into<String>, message: impl Into<String>) -> ValidationIssue {
        ValidationIssue::new(self, path, message)
    }
}

impl fmt::Debug for IssueCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl fmt::Display for IssueCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl From<IssueCode> for String {
    fn from(code: IssueCode) -> Self {
        code.text.to_owned()
    }
}

impl PartialEq<IssueCode> for str {
    fn eq(&self, other: &IssueCode) -> bool {
        self == other.text
    }
}

impl PartialEq<IssueCode> for &str {
    fn eq(&self, other: &IssueCode) -> bool {
        *self == other.text
    }
}

impl PartialEq<&str> for IssueCode {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl PartialEq<IssueCode> for String {
    fn eq(&self, other: &IssueCode) -> bool {
        self == other.text
    }
}

/// Declares a catalogue of validation-issue codes: one module per area, one
/// [`IssueCode`] constant per code (its meaning is also its rustdoc), and `ALL`, every
/// code in declaration order.
///
/// ```
/// mod issues {
///     integrations_core::issue_codes! {
///         /// Issue codes of the shop.
///         pub mod shop {
///             CLOSED = "shop.closed", "The shop named is closed.";
///         }
///     }
/// }
/// assert_eq!(issues::ALL, &[issues::shop::CLOSED]);
/// ```
#[macro_export]
macro_rules! issue_codes {
    ($( $(#[$attr:meta])* pub mod $area:ident {
        $( $name:ident = $code:literal, $meaning:literal; )*
    } )*) => {
        $(
            $(#[$attr])*
            pub mod $area {
                $(
                    #[doc = $meaning]
                    pub const $name: $crate::IssueCode = $crate::IssueCode::new($code, $meaning);
                )*
            }
        )*
        /// Every issue code of this catalogue, in declaration order.
        pub const ALL: &[$crate::IssueCode] = &[$($($area::$name,)*)*];
    };
}

/// Declares an error-code catalogue: one module per area, one [`Code`] constant per code
/// (its meaning is also its rustdoc), and `ALL`, every code in declaration order.
///
/// ```
/// mod codes {
///     integrations_core::error_codes! {
///         /// Codes of the shop.
///         pub mod shop {
///             GONE = "shop.gone", NotFound, "The shop was closed.";
///         }
///     }
/// }
/// assert_eq!(codes::ALL, &[codes::shop::GONE]);
/// ```
#[macro_export]
macro_rules! error_codes {
    ($( $(#[$attr:meta])* pub mod $area:ident {
        $( $name:ident = $code:literal, $kind:ident, $meaning:literal; )*
    } )*) => {
        $(
            $(#[$attr])*
            pub mod $area {
                $(
                    #[doc = $meaning]
                    pub const $name: $crate::Code =
                        $crate::Code::new($code, $crate::ErrorKind::$kind, $meaning);
                )*
            }
        )*
        /// Every code of this catalogue, in declaration order.
        pub const ALL: &[$crate::Code] = &[$($($area::$name,)*)*];
    };
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
    /// Builds an error from a catalogued [`Code`], taking its kind from the code. `message`
    /// must be safe to show to a user and must never contain secret material.
    pub fn from_code(code: Code, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(code.kind, code.text, message)
    }

    /// Builds an error with a kind and code given separately: the escape hatch for codes
    /// that are not in a catalogue, such as a provider crate's own. Prefer a [`Code`]
    /// constant and [`Code::error`], which cannot give one code two kinds. `code` is a
    /// stable `area.reason` string; `message` must be safe to show to a user and must
    /// never contain secret material.
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
        crate::codes::store::FAILED
            .error("the host store failed")
            .with_source(source)
    }

    /// An [`ErrorKind::Internal`] error: an invariant of this crate did not hold.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::from_code(crate::codes::internal::BUG, message)
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

    /// The stable code, `area.reason` (for example `oauth.state_expired`). Every code the
    /// workspace emits, with its kind and meaning, is listed in
    /// [`docs/error-codes.md`](https://github.com/integrations-rs/integrations/blob/main/docs/error-codes.md)
    /// and catalogued in [`crate::codes`].
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
    fn a_code_gives_its_kind() {
        const GONE: Code = Code::new("shop.gone", ErrorKind::NotFound, "The shop was closed.");
        let e = GONE.error("closed");
        assert_eq!(
            (e.kind(), e.code(), e.message()),
            (ErrorKind::NotFound, "shop.gone", "closed")
        );
        assert!(e.code() == GONE && GONE == "shop.gone");
        assert_eq!(format!("{GONE:?} {GONE}"), "shop.gone shop.gone");
        let issues = vec![ValidationIssue::new("shop.gone", "/x", "m")];
        assert_eq!(GONE.with_issues("m", issues).issues().len(), 1);
    }

    #[test]
    fn code_shape() {
        for good in ["a.b", "auth.target_disabled", "x1.y_2"] {
            assert!(is_code_shaped(good), "{good}");
        }
        for bad in [
            "", "a", "a.", ".b", "a.b.c", "A.b", "a.B", "1a.b", "a._b", "a-b.c", "a. b",
        ] {
            assert!(!is_code_shaped(bad), "{bad}");
        }
    }

    #[test]
    #[should_panic(expected = "area.reason")]
    fn a_misshapen_code_is_refused() {
        let _ = Code::new("Not A Code", ErrorKind::Internal, "m");
    }

    #[test]
    fn error_is_send_sync_and_small() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }
}
