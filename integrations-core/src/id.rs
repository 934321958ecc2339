//! Identifier newtypes. No bare `String` id crosses a module boundary.
//!
//! Every id is 1 to 256 bytes of printable, non-whitespace, visible characters. Ids are
//! chosen by the host (database keys, UUIDs, slugs); this crate only checks that they can
//! be used safely as map keys, in associated data and in route ids, and that two ids that
//! look the same are the same: format characters (zero-width spaces, bidirectional
//! overrides) and other invisible code points are refused.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::issue::ValidationIssue;

/// The longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 256;

pub(crate) fn check_id(kind: &'static str, value: &str) -> Result<(), Error> {
    let problem = if value.is_empty() {
        Some("must not be empty")
    } else if value.len() > MAX_ID_LEN {
        Some("must be at most 256 bytes")
    } else if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Some("must not contain whitespace or control characters")
    } else if value.chars().any(is_invisible) {
        Some("must not contain invisible or format characters")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(why) => Err(crate::codes::id::INVALID.with_issues(
            format!("invalid {kind}: it {why}"),
            vec![ValidationIssue::new(
                crate::codes::id::INVALID,
                "",
                format!("{kind} {why}"),
            )],
        )),
    }
}

/// Whether `c` is an invisible character that makes an id look like another or display
/// reordered, and has no place in legitimate text of any script: the soft hyphen, the
/// combining grapheme joiner, the Arabic letter mark, the Hangul fillers, the Khmer
/// inherent vowels, the Mongolian vowel separator, the zero-width space, the
/// left-to-right and right-to-left marks, bidirectional embeddings, overrides and
/// isolates, the word joiner and invisible operators, the byte order mark, interlinear
/// annotation characters, shorthand format controls, musical symbol format controls, tag
/// characters, and the blank Braille pattern.
///
/// Not refused, because words and emoji need them: the zero-width non-joiner and joiner
/// (U+200C, U+200D: Persian, Indic scripts, emoji sequences), variation selectors
/// (`❤️`, ideographic variants in Japanese names, Mongolian free variation selectors),
/// and the prepended concatenation marks of Arabic and other scripts.
///
/// An id holding one looks like another id (`adm\u{200B}in`, `admin`), or displays
/// reordered (U+202E). The list is written out here rather than taken from a Unicode
/// table crate.
pub(crate) const fn is_invisible(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180E
            | 0x200B
            | 0x200E..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x2800
            | 0x3164
            | 0xFEFF
            | 0xFFA0
            | 0xFFF9..=0xFFFB
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE007F
    )
}

/// Whether a static id literal is valid, in const context: 1 to 256 bytes of printable
/// ASCII other than space (a subset of what [`check_id`] accepts at run time).
pub(crate) const fn static_id_is_valid(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_ID_LEN {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_graphic() {
            return false;
        }
        i += 1;
    }
    true
}

/// An id's text: a literal from [`from_static`](TenantId::from_static), or a shared
/// string. Equality, order and hashing are by the text alone.
#[derive(Clone)]
pub(crate) enum IdText {
    Static(&'static str),
    Shared(Arc<str>),
}

impl IdText {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Static(s) => s,
            Self::Shared(s) => s,
        }
    }
}

impl PartialEq for IdText {
    fn eq(&self, other: &Self) -> bool {
        let (this, that) = (self.as_str(), other.as_str());
        // Clones of one id share their text: equal without reading it.
        std::ptr::eq(this, that) || this == that
    }
}

impl Eq for IdText {}

impl PartialOrd for IdText {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IdText {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for IdText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(IdText);

        impl $name {
            /// Parses an id.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`id.invalid`) when the value is empty, longer
            /// than 256 bytes, or holds whitespace, control, format or other invisible
            /// characters (zero-width spaces, bidirectional overrides).
            pub fn new(value: impl Into<String>) -> Result<Self, Error> {
                let value = value.into();
                check_id($what, &value)?;
                Ok(Self(IdText::Shared(Arc::from(value))))
            }

            #[doc = concat!("An id from a literal, checked at compile time: `const ID: ", stringify!($name), " = ", stringify!($name), "::from_static(\"main\");`.")]
            ///
            /// The literal must be 1 to 256 bytes of printable ASCII without spaces. Use it
            /// in a `const` item (or a `const { }` block): there a bad literal is a compile
            /// error. Ids that come from input go through [`new`](Self::new).
            ///
            /// # Panics
            ///
            /// On an invalid literal: at compile time in const context.
            pub const fn from_static(value: &'static str) -> Self {
                assert!(
                    static_id_is_valid(value),
                    concat!("invalid ", $what, " literal: 1 to 256 bytes of printable ASCII without spaces")
                );
                Self(IdText::Static(value))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0.as_str())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.0.as_str()
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(value: String) -> Result<Self, Error> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(value: &str) -> Result<Self, Error> {
                Self::new(value)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(value: &str) -> Result<Self, Error> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.as_str().to_owned()
            }
        }
    };
}

id_type!(
    /// The tenant (organization) that owns a record. Every record carries one.
    TenantId,
    "tenant id"
);
id_type!(
    /// An operator-managed target: one enabled provider variant in one environment.
    TargetId,
    "target id"
);
id_type!(
    /// A connection: an authenticated relationship to a target.
    ConnectionId,
    "connection id"
);
id_type!(
    /// A binding of a connection to an agent-sandbox profile version.
    BindingId,
    "binding id"
);
id_type!(
    /// An agent-sandbox profile.
    ProfileId,
    "profile id"
);
id_type!(
    /// A user inside a tenant.
    UserId,
    "user id"
);
id_type!(
    /// A workspace inside a tenant.
    WorkspaceId,
    "workspace id"
);
id_type!(
    /// A project inside a tenant.
    ProjectId,
    "project id"
);
id_type!(
    /// A publication: the capabilities an agent session may use through a connection.
    PublicationId,
    "publication id"
);
id_type!(
    /// A connection method of a definition (`api-key`, `oauth2`, `github-app-installation`).
    ConnectionMethodId,
    "connection method id"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn accepts_uuids_and_slugs() {
        assert!(TenantId::new("acme").is_ok());
        assert!(ConnectionId::new("2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9").is_ok());
        assert!(ConnectionMethodId::new("github-app-installation").is_ok());
    }

    #[test]
    fn rejects_blank_whitespace_control_and_long() {
        for bad in ["", "a b", "a\nb", "tab\there", "\u{7}"] {
            let err = TenantId::new(bad).unwrap_err();
            assert_eq!(err.code(), "id.invalid", "{bad:?}");
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
        assert!(TenantId::new("x".repeat(MAX_ID_LEN)).is_ok());
        assert!(TenantId::new("x".repeat(MAX_ID_LEN + 1)).is_err());
    }

    #[test]
    fn rejects_invisible_and_format_characters() {
        for bad in [
            "adm\u{200B}in",
            "\u{202E}nimda",
            "a\u{2066}b\u{2069}",
            "\u{FEFF}acme",
            "a\u{00AD}b",
            "a\u{E0041}",
            "a\u{3164}b",
            "a\u{2800}b",
            "a\u{061C}b",
        ] {
            let err = TenantId::new(bad).unwrap_err();
            assert_eq!(err.code(), "id.invalid", "{bad:?}");
            assert!(err.message().contains("invisible"), "{bad:?}");
            assert!(serde_json::from_value::<TenantId>(bad.into()).is_err());
        }
        // Visible letters of any script stay valid, with the joiners and variation
        // selectors their words and emoji need.
        for good in [
            "équipe",
            "日本",
            "мир",
            "a-b_c.d:e/f",
            "שלום",
            "علی\u{200C}رضا",
            "👩\u{200D}💻",
            "❤\u{FE0F}",
            "葛\u{E0100}",
        ] {
            assert!(TenantId::new(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn static_ids_equal_parsed_ones() {
        const MAIN: WorkspaceId = WorkspaceId::from_static("main");
        const METHOD: ConnectionMethodId =
            ConnectionMethodId::from_static("github-app-installation");
        let parsed = WorkspaceId::new("main").unwrap();
        assert_eq!(MAIN, parsed);
        assert_eq!(MAIN.cmp(&parsed), std::cmp::Ordering::Equal);
        let mut set = std::collections::HashSet::new();
        set.insert(parsed);
        assert!(set.contains(&MAIN));
        assert_eq!(format!("{MAIN:?} {MAIN}"), "WorkspaceId(\"main\") main");
        assert_eq!(String::from(METHOD), "github-app-installation");
        assert_eq!(serde_json::to_string(&MAIN).unwrap(), "\"main\"");
    }

    #[test]
    fn static_id_check_refuses_what_new_refuses() {
        for bad in ["", "a b", "a\nb", "tab\there", "\u{7}"] {
            assert!(!static_id_is_valid(bad), "{bad:?}");
        }
        assert!(!static_id_is_valid(&"x".repeat(MAX_ID_LEN + 1)));
        for good in ["acme", "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9", "a.b_c:d/e"] {
            assert!(static_id_is_valid(good), "{good:?}");
            assert!(TenantId::new(good).is_ok());
        }
    }

    #[test]
    fn serde_validates() {
        let ok: TenantId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(ok.as_str(), "acme");
        assert!(serde_json::from_str::<TenantId>("\"\"").is_err());
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"acme\"");
    }
}
