//! Helpers for handlers that read payloads: ordering keys, form bodies, lenient
//! timestamps, snake-case names. Generic: nothing here knows a provider.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde_json::value::RawValue;

use crate::definition::webhook::errors;
use crate::{Error, Timestamp};

/// How many digits numeric ids are padded to in order keys.
const ORDER_ID_DIGITS: usize = 20;

/// A key that orders the events of one source: `<occurred-at RFC 3339>#<id>`, where an
/// all-digit id is zero-padded to 20 digits and a decimal id (`1355517523.000005`) has
/// its integer part padded, so keys sort as the instants and ids do.
///
/// ```
/// use integrations_core::Timestamp;
/// use integrations_core::webhook::source_order_key;
///
/// let at = Timestamp::parse_rfc3339("2019-05-15T15:20:21Z")?;
/// assert_eq!(
///     source_order_key(at, "492700400"),
///     "2019-05-15T15:20:21.000Z#00000000000492700400"
/// );
/// assert_eq!(
///     source_order_key(at, "1355517523.000005"),
///     "2019-05-15T15:20:21.000Z#00000000001355517523.000005"
/// );
/// assert_eq!(source_order_key(at, "evt_1"), "2019-05-15T15:20:21.000Z#evt_1");
/// # Ok::<(), integrations_core::Error>(())
/// ```
pub fn source_order_key(occurred_at: Timestamp, id: &str) -> String {
    let (int, frac) = match id.split_once('.') {
        Some((int, frac)) if frac.bytes().all(|b| b.is_ascii_digit()) => (int, Some(frac)),
        _ => (id, None),
    };
    let numeric = !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit());
    let padded = if numeric && int.len() < ORDER_ID_DIGITS {
        let mut s = "0".repeat(ORDER_ID_DIGITS - int.len());
        s.push_str(int);
        match frac {
            Some(frac) => format!("{s}.{frac}"),
            None => s,
        }
    } else {
        id.to_owned()
    };
    format!("{}#{padded}", occurred_at.to_rfc3339())
}

/// Whether a body is form-encoded: by its `content-type` when present, otherwise by its
/// first byte not being `{` or `[` (JSON bodies start with one).
pub fn is_form_encoded(content_type: Option<&str>, body: &[u8]) -> bool {
    match content_type {
        Some(ct) => ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        }),
        None => !matches!(
            body.iter().find(|b| !b.is_ascii_whitespace()),
            Some(b'{' | b'[')
        ),
    }
}

/// Whether a `content-type` is JSON (`application/json`, `application/*+json`, with
/// any parameters).
pub fn is_json_content_type(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    // Byte-wise: the header is unsigned input and may hold any UTF-8, so it is never
    // sliced at an offset that could fall inside a character.
    let media = media.as_bytes();
    media.eq_ignore_ascii_case(b"application/json")
        || (media.len() > 17
            && media[..12].eq_ignore_ascii_case(b"application/")
            && media[media.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

/// The first value of `name` in a form-encoded body, decoded.
pub fn form_value<'a>(body: &'a [u8], name: &str) -> Option<Cow<'a, str>> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Every field of a form-encoded body as a JSON object (the first value of each name
/// wins), for providers that post forms without a JSON payload: the event's payload
/// must be JSON.
///
/// # Errors
///
/// `webhook.invalid_payload` when the fields cannot be encoded (never, in practice).
pub fn form_to_json(body: &[u8]) -> Result<Box<RawValue>, Error> {
    let mut map = std::collections::BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        map.entry(name).or_insert(value);
    }
    let text = serde_json::to_string(&map)
        .map_err(|_| errors::invalid_payload("the form cannot be represented as JSON"))?;
    raw_json(text)
}

/// JSON text as a [`RawValue`], kept byte for byte.
///
/// # Errors
///
/// `webhook.invalid_payload` when the text is not JSON.
pub fn raw_json(text: String) -> Result<Box<RawValue>, Error> {
    RawValue::from_string(text).map_err(|_| errors::invalid_payload("the body is not JSON"))
}

/// Deserializes a timestamp written as an RFC 3339 string or as Unix seconds (GitHub
/// writes both), `null` as `None`. For `#[serde(deserialize_with = ...)]` on an
/// `Option<Timestamp>` field (with `#[serde(default)]`).
///
/// # Errors
///
/// When the value is neither.
pub fn lenient_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    d.deserialize_any(LenientTimestamp)
}

struct LenientTimestamp;

impl Visitor<'_> for LenientTimestamp {
    type Value = Option<Timestamp>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 date-time or Unix seconds")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Timestamp::parse_rfc3339(v)
            .map(Some)
            .map_err(|_| E::custom("not an RFC 3339 date-time"))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Timestamp::from_unix_seconds(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(|v| Some(Timestamp::from_unix_seconds(v)))
            .map_err(|_| E::custom("Unix seconds out of range"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// `CamelCase` or `camelCase` to `snake_case`, keeping acronyms together:
/// `IssueLabel` → `issue_label`, `IssueSLA` → `issue_sla`, `OAuthApp` → `oauth_app`,
/// `highRisk` → `high_risk`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    let mut upper_run = 0usize;
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let after_lower = prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
            let ends_acronym = upper_run >= 2 && next.is_some_and(|n| n.is_ascii_lowercase());
            if (after_lower || ends_acronym) && !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            upper_run += 1;
            out.push(c.to_ascii_lowercase());
        } else {
            upper_run = 0;
            out.push(if c == '-' || c == ' ' { '_' } else { c });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `webhook_slack` fuzz target: a `content-type` with a multi-byte
    /// character across byte 12 (or 5 from the end) panicked the pipeline, before any
    /// signature was checked.
    #[test]
    fn content_types_with_any_utf8_are_read_without_panicking() {
        for content_type in [
            "urlslack-\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}",
            "applicationé/x+json",
            "application/vnd.x+jsoné",
            "application/vnd.ü+json",
            "éééééééééééé",
        ] {
            let _ = is_json_content_type(content_type);
        }
        assert!(is_json_content_type("application/vnd.github+json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(!is_json_content_type("application/vnd.ü+jsonx"));
    }

    #[test]
    fn snake_cases() {
        for (input, want) in [
            ("Issue", "issue"),
            ("IssueLabel", "issue_label"),
            ("IssueSLA", "issue_sla"),
            ("OAuthApp", "oauth_app"),
            ("AgentSessionEvent", "agent_session_event"),
            ("highRisk", "high_risk"),
            ("HTTPServer", "http_server"),
            ("create", "create"),
        ] {
            assert_eq!(snake_case(input), want, "{input}");
        }
    }

    #[test]
    fn content_types() {
        assert!(is_form_encoded(
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            b"{}"
        ));
        assert!(!is_form_encoded(Some("application/json"), b"payload=x"));
        assert!(is_form_encoded(None, b"payload=%7B%7D"));
        assert!(!is_form_encoded(None, b"  {\"a\":1}"));
        assert!(is_json_content_type("application/json; charset=utf-8"));
        assert!(is_json_content_type("application/vnd.github+json"));
        assert!(!is_json_content_type("text/plain"));
    }

    #[test]
    fn forms() {
        let body = b"a=1&payload=%7B%22x%22%3A1%7D&a=2";
        assert_eq!(form_value(body, "payload").as_deref(), Some("{\"x\":1}"));
        assert_eq!(form_value(body, "a").as_deref(), Some("1"));
        assert_eq!(
            form_to_json(body).unwrap().get(),
            r#"{"a":"1","payload":"{\"x\":1}"}"#
        );
    }

    #[test]
    fn lenient_timestamps() {
        #[derive(serde::Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "lenient_timestamp")]
            at: Option<Timestamp>,
        }
        let parse = |s: &str| serde_json::from_str::<T>(s).map(|t| t.at);
        assert_eq!(
            parse(r#"{"at":1557933657}"#).unwrap(),
            Some(Timestamp::from_unix_seconds(1_557_933_657))
        );
        assert_eq!(
            parse(r#"{"at":"2019-05-15T15:20:57Z"}"#).unwrap(),
            Some(Timestamp::from_unix_seconds(1_557_933_657))
        );
        assert_eq!(parse(r#"{"at":null}"#).unwrap(), None);
        assert_eq!(parse("{}").unwrap(), None);
        assert!(parse(r#"{"at":true}"#).is_err());
    }
}
