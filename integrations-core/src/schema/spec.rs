use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::compiled::ConfigSchema;
use super::form::FieldHint;
use crate::Error;

pub(crate) type ParseFn = fn(&Value) -> Result<Arc<dyn Any + Send + Sync>, ParseError>;

/// Why a value the schema accepted did not deserialize: where (a JSON Pointer) and why
/// (serde's message with every quoted part masked, so no submitted value is echoed).
#[derive(Debug)]
pub(crate) struct ParseError {
    pub(crate) pointer: String,
    pub(crate) reason: String,
}

impl ParseError {
    fn new(e: &serde_path_to_error::Error<serde_json::Error>) -> Self {
        use serde_path_to_error::Segment;
        let mut pointer = String::new();
        for segment in e.path() {
            let token = match segment {
                Segment::Seq { index } => index.to_string(),
                Segment::Map { key } => crate::escape_pointer_token(key),
                Segment::Enum { variant } => crate::escape_pointer_token(variant),
                Segment::Unknown => continue,
            };
            pointer.push('/');
            pointer.push_str(&token);
        }
        Self {
            pointer,
            reason: mask_quoted(&e.inner().to_string()),
        }
    }
}

/// A serde error's message without the input it quotes: serde names a refused value or
/// key between quotes or backticks (`invalid type: string "…"`, ``unknown variant `…` ``),
/// and it may be a secret typed into the wrong field. Use it on a serde error's message
/// before it goes into an [`Error`](crate::Error) or a log.
///
/// Every `"…"` or `` `…` `` part is replaced by `…`, except where serde names what the
/// type itself expects: after `, expected` (the fields or variants the type has) and in
/// `missing field` and `duplicate field` (a field of the type). An unknown variant's or
/// field's name is masked whole, a backtick inside it included (serde does not escape
/// it). serde quotes a string with
/// its `Debug` form (`string "a\"b"`), so inside `"…"` a backslash escapes the next
/// character: an escaped quote never ends the part. A part left open masks the rest.
///
/// ```
/// use integrations_core::schema::mask_quoted;
///
/// let e = serde_json::from_str::<bool>(r#""xoxb-1""#).unwrap_err();
/// assert_eq!(
///     mask_quoted(&e.to_string()),
///     "invalid type: string …, expected a boolean at line 1 column 8"
/// );
/// assert_eq!(
///     mask_quoted("unknown variant `xoxb-1`, expected `auto` or `ask`"),
///     "unknown variant …, expected `auto` or `ask`"
/// );
/// ```
pub fn mask_quoted(text: &str) -> String {
    if text.starts_with("missing field `") || text.starts_with("duplicate field `") {
        return text.to_owned();
    }
    // serde writes an unknown variant or field between backticks unescaped, so a
    // backtick inside it would end the masked part early: the whole name is masked, up
    // to where serde says what the type has (the last such place: the name comes first).
    for prefix in ["unknown variant `", "unknown field `"] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let end = ["`, expected ", "`, there are no "]
                .iter()
                .filter_map(|marker| rest.rfind(marker).map(|at| at + 1))
                .max();
            let head = &prefix[..prefix.len() - 1];
            return match end {
                Some(end) => format!("{head}…{}", &rest[end..]),
                None => format!("{head}…"),
            };
        }
    }
    let mut kept = String::with_capacity(text.len());
    let mut open: Option<char> = None;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        match open {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => open = None,
            Some(_) => {}
            None if c == ',' && text[at..].starts_with(", expected ") => {
                // What the type expects is the type's own text, never the input.
                kept.push_str(&text[at..]);
                break;
            }
            None if c == '"' || c == '`' => {
                kept.push('…');
                open = Some(c);
            }
            None => kept.push(c),
        }
    }
    kept
}

pub(crate) type DebugFn = fn(&(dyn Any + Send + Sync)) -> String;

fn debug_as<T: fmt::Debug + 'static>(value: &(dyn Any + Send + Sync)) -> String {
    value
        .downcast_ref::<T>()
        .map_or_else(String::new, |v| format!("{v:?}"))
}

fn parse_as<T: DeserializeOwned + Send + Sync + 'static>(
    value: &Value,
) -> Result<Arc<dyn Any + Send + Sync>, ParseError> {
    serde_path_to_error::deserialize::<_, T>(value)
        .map(|t| Arc::new(t) as Arc<dyn Any + Send + Sync>)
        .map_err(|e| ParseError::new(&e))
}

#[allow(clippy::unnecessary_wraps, reason = "must match ParseFn")]
fn parse_raw(value: &Value) -> Result<Arc<dyn Any + Send + Sync>, ParseError> {
    Ok(Arc::new(value.clone()))
}

/// Describes one config: its JSON Schema, how to parse a validated value into its Rust
/// type, examples that must validate, and form hints. Cheap to clone.
///
/// A spec is only a description; [`compile`](Self::compile) builds the validator (the
/// registry does this once per definition at registration).
#[derive(Clone)]
pub struct ConfigSpec {
    inner: Arc<SpecInner>,
}

pub(crate) struct SpecInner {
    pub(crate) type_name: &'static str,
    pub(crate) schema: Value,
    pub(crate) parse: ParseFn,
    pub(crate) debug: DebugFn,
    pub(crate) examples: Vec<Value>,
    pub(crate) hints: BTreeMap<String, FieldHint>,
}

impl fmt::Debug for ConfigSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigSpec")
            .field("type", &self.inner.type_name)
            .finish_non_exhaustive()
    }
}

impl ConfigSpec {
    /// The spec of a config type: its schema is derived with schemars (JSON Schema 2020-12);
    /// validated values deserialize into `T`, reachable with
    /// [`Parsed::get::<T>`](super::Parsed::get).
    ///
    /// Mark config structs `#[serde(deny_unknown_fields)]` so unknown keys are rejected,
    /// and use [`Secret`](crate::Secret) for secret fields. The `Debug` bound lets the
    /// conformance suite prove that a parsed config never prints a secret.
    pub fn of<T>() -> Self
    where
        T: JsonSchema + DeserializeOwned + fmt::Debug + Send + Sync + 'static,
    {
        let schema = schemars::schema_for!(T).to_value();
        Self::build(
            std::any::type_name::<T>(),
            schema,
            parse_as::<T>,
            debug_as::<T>,
        )
    }

    /// A spec from a hand-written JSON Schema, for configs without a Rust type; the parsed
    /// value is the [`serde_json::Value`] itself.
    pub fn from_json_schema(schema: Value) -> Self {
        Self::build("serde_json::Value", schema, parse_raw, debug_as::<Value>)
    }

    /// The spec of a config that must be an empty object (`{}`), the default for
    /// definitions that take no config. It carries `{}` as its example, so a definition
    /// that keeps the default is documented and checked like any other.
    pub fn empty() -> Self {
        Self::build(
            "()",
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {},
                "additionalProperties": false,
            }),
            parse_raw,
            debug_as::<Value>,
        )
        .with_example(json!({}))
    }

    fn build(type_name: &'static str, schema: Value, parse: ParseFn, debug: DebugFn) -> Self {
        Self {
            inner: Arc::new(SpecInner {
                type_name,
                schema,
                parse,
                debug,
                examples: Vec::new(),
                hints: BTreeMap::new(),
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut SpecInner {
        // Specs are built once and then shared; copy on write if already shared.
        if Arc::get_mut(&mut self.inner).is_none() {
            let inner = &self.inner;
            self.inner = Arc::new(SpecInner {
                type_name: inner.type_name,
                schema: inner.schema.clone(),
                parse: inner.parse,
                debug: inner.debug,
                examples: inner.examples.clone(),
                hints: inner.hints.clone(),
            });
        }
        Arc::get_mut(&mut self.inner).expect("unique after copy")
    }

    /// Adds an example value; the conformance suite checks that every example validates.
    #[must_use]
    pub fn with_example(mut self, example: Value) -> Self {
        self.inner_mut().examples.push(example);
        self
    }

    /// Adds a form hint for the field at `pointer` (a JSON Pointer, `/api_base_url`).
    #[must_use]
    pub fn with_hint(mut self, pointer: impl Into<String>, hint: FieldHint) -> Self {
        self.inner_mut().hints.insert(pointer.into(), hint);
        self
    }

    /// The JSON Schema.
    pub fn json_schema(&self) -> &Value {
        &self.inner.schema
    }

    /// The Rust type the config parses into.
    pub fn type_name(&self) -> &'static str {
        self.inner.type_name
    }

    /// The examples.
    pub fn examples(&self) -> &[Value] {
        &self.inner.examples
    }

    /// The form hints, by JSON Pointer.
    pub fn hints(&self) -> &BTreeMap<String, FieldHint> {
        &self.inner.hints
    }

    pub(crate) fn parse_fn(&self) -> ParseFn {
        self.inner.parse
    }

    pub(crate) fn debug_fn(&self) -> DebugFn {
        self.inner.debug
    }

    /// Builds the validator.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](crate::ErrorKind::Configuration)
    /// (`schema.does_not_compile`) when the schema is not a valid JSON Schema, or refers
    /// to a remote `$ref` (never fetched).
    pub fn compile(&self) -> Result<ConfigSchema, Error> {
        ConfigSchema::compile(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde::de::{self, Error as _, Unexpected};

    use super::*;

    #[test]
    fn an_escaped_quote_does_not_end_a_masked_part() {
        let message =
            de::value::Error::invalid_value(Unexpected::Str("x\"sk-SECRET"), &"a ticket key")
                .to_string();
        assert!(message.contains(r#""x\"sk-SECRET""#), "{message}");
        assert_eq!(
            mask_quoted(&message),
            "invalid value: string …, expected a ticket key"
        );
        // A backslash escaping a backslash leaves the next quote to close the part.
        assert_eq!(mask_quoted(r#"a "b\\" c "d\"e" f"#), "a … c … f");
        // An unterminated part masks the rest.
        assert_eq!(mask_quoted(r#"a "b\" c"#), "a …");
        // What the type expects is kept; ", expected" inside a masked part is not that.
        assert_eq!(
            mask_quoted("unknown field `sk-1`, expected one of `tenant`, `profile`"),
            "unknown field …, expected one of `tenant`, `profile`"
        );
        assert_eq!(
            mask_quoted(r#"invalid value: string "a, expected `b` sk-2", expected a key"#),
            "invalid value: string …, expected a key"
        );
        assert_eq!(
            mask_quoted("missing field `tenant`"),
            "missing field `tenant`"
        );
        // A backtick inside an unknown variant or field does not end its mask, nor does
        // serde's own wording inside it.
        assert_eq!(
            mask_quoted("unknown variant `pw`Tail-SECRET-9`, expected one of `auto`, `ask`"),
            "unknown variant …, expected one of `auto`, `ask`"
        );
        assert_eq!(
            mask_quoted("unknown field `pw`Key-SECRET-7`, there are no fields"),
            "unknown field …, there are no fields"
        );
        assert_eq!(
            mask_quoted("unknown field `a`, expected `b` SECRET`, expected `tenant`"),
            "unknown field …, expected `tenant`"
        );
        assert_eq!(mask_quoted("unknown variant `SECRET"), "unknown variant …");
    }

    /// A ticket key whose deserializer refuses a value with serde's quoted message.
    #[derive(Debug)]
    struct TicketKey;

    impl<'de> Deserialize<'de> for TicketKey {
        fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let text = String::deserialize(deserializer)?;
            Err(de::Error::invalid_value(
                Unexpected::Str(&text),
                &"a ticket key",
            ))
        }
    }

    impl schemars::JsonSchema for TicketKey {
        fn schema_name() -> std::borrow::Cow<'static, str> {
            "TicketKey".into()
        }
        fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
            schemars::json_schema!({"type": "string"})
        }
    }

    #[derive(Debug, Deserialize, schemars::JsonSchema)]
    #[allow(dead_code, reason = "only parsed")]
    struct Config {
        key: TicketKey,
    }

    #[test]
    fn a_refused_value_with_an_escaped_quote_is_not_echoed() {
        let schema = ConfigSpec::of::<Config>().compile().unwrap();
        let issues = schema
            .parse(&json!({"key": "x\"sk-SECRET and more"}))
            .unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, "/key");
        assert!(
            !issues[0].message.contains("SECRET"),
            "{}",
            issues[0].message
        );
        assert!(!issues[0].message.contains("more"), "{}", issues[0].message);
    }
}
