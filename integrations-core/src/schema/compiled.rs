use std::any::Any;
use std::fmt;
use std::sync::Arc;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use super::spec::ConfigSpec;
use crate::issue::escape_pointer_token;
use crate::{Error, IssueCode, ValidationIssue};

/// A compiled config schema: the spec plus its validator, built once, `Send + Sync`.
#[derive(Clone)]
pub struct ConfigSchema {
    spec: ConfigSpec,
    validator: Arc<jsonschema::Validator>,
}

impl fmt::Debug for ConfigSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigSchema")
            .field("type", &self.spec.type_name())
            .finish_non_exhaustive()
    }
}

/// The issue code of a failed JSON Schema keyword: `schema.<keyword>` in snake case,
/// each a constant of the catalogue; a keyword this version does not know (a custom one)
/// is `schema.invalid_value`.
fn code_for(keyword: &str) -> IssueCode {
    use crate::codes::issues::schema;
    match keyword {
        "additionalItems" => schema::ADDITIONAL_ITEMS,
        "additionalProperties" => schema::ADDITIONAL_PROPERTIES,
        "anyOf" => schema::ANY_OF,
        "const" => schema::CONST,
        "contains" => schema::CONTAINS,
        "contentEncoding" => schema::CONTENT_ENCODING,
        "contentMediaType" => schema::CONTENT_MEDIA_TYPE,
        "enum" => schema::ENUM,
        "exclusiveMaximum" => schema::EXCLUSIVE_MAXIMUM,
        "exclusiveMinimum" => schema::EXCLUSIVE_MINIMUM,
        "falseSchema" => schema::FALSE_SCHEMA,
        "format" => schema::FORMAT,
        "maxItems" => schema::MAX_ITEMS,
        "maxLength" => schema::MAX_LENGTH,
        "maxProperties" => schema::MAX_PROPERTIES,
        "maximum" => schema::MAXIMUM,
        "minItems" => schema::MIN_ITEMS,
        "minLength" => schema::MIN_LENGTH,
        "minProperties" => schema::MIN_PROPERTIES,
        "minimum" => schema::MINIMUM,
        "multipleOf" => schema::MULTIPLE_OF,
        "not" => schema::NOT,
        "oneOf" => schema::ONE_OF,
        "pattern" => schema::PATTERN,
        "propertyNames" => schema::PROPERTY_NAMES,
        "$ref" => schema::REF,
        "required" => schema::REQUIRED,
        "type" => schema::TYPE,
        "unevaluatedItems" => schema::UNEVALUATED_ITEMS,
        "unevaluatedProperties" => schema::UNEVALUATED_PROPERTIES,
        "uniqueItems" => schema::UNIQUE_ITEMS,
        _ => schema::INVALID_VALUE,
    }
}

impl ConfigSchema {
    pub(crate) fn compile(spec: ConfigSpec) -> Result<Self, Error> {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(spec.json_schema())
            .map_err(|e| {
                crate::codes::schema::DOES_NOT_COMPILE.error(format!(
                    "the JSON Schema of {} does not compile: {}",
                    spec.type_name(),
                    e.masked()
                ))
            })?;
        Ok(Self {
            spec,
            validator: Arc::new(validator),
        })
    }

    /// The spec this schema was compiled from.
    pub fn spec(&self) -> &ConfigSpec {
        &self.spec
    }

    /// The JSON Schema.
    pub fn json_schema(&self) -> &Value {
        self.spec.json_schema()
    }

    /// Every problem with `raw`, in a stable order (by path, then code). Empty when valid
    /// against the schema. Messages never contain the submitted values.
    pub fn validate(&self, raw: &Value) -> Vec<ValidationIssue> {
        // Most values are valid: the validity check alone skips the error machinery
        // (locations, messages) and is cheaper. The validator answers both the same.
        if self.validator.is_valid(raw) {
            return Vec::new();
        }
        let mut issues = Vec::new();
        for error in self.validator.iter_errors(raw) {
            let path = error.instance_path().as_str().to_owned();
            let code = code_for(error.kind().keyword());
            match error.kind() {
                ValidationErrorKind::Required { property } => {
                    let name = property.as_str().unwrap_or_default();
                    issues.push(ValidationIssue::new(
                        code,
                        format!("{path}/{}", escape_pointer_token(name)),
                        "this field is required",
                    ));
                }
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    for name in unexpected {
                        issues.push(ValidationIssue::new(
                            code,
                            format!("{path}/{}", escape_pointer_token(name)),
                            "this field is not allowed here",
                        ));
                    }
                }
                ValidationErrorKind::Pattern { pattern }
                    if pattern == super::url::BASE_URL_PATTERN =>
                {
                    issues.push(ValidationIssue::new(code, path, super::url::BASE_URL_RULE));
                }
                _ => issues.push(ValidationIssue::new(code, path, error.masked().to_string())),
            }
        }
        issues.sort_by(|a, b| (&a.path, &a.code, &a.message).cmp(&(&b.path, &b.code, &b.message)));
        issues.dedup();
        issues
    }

    /// Validates `raw` and, when it is valid, deserializes it into the spec's type.
    ///
    /// # Errors
    ///
    /// Every issue found; `schema.invalid_value` (at the field's pointer, with the
    /// deserializer's reason) when the value passes the schema but the type's own
    /// deserializer still refuses it.
    pub fn parse(&self, raw: &Value) -> Result<Parsed, Vec<ValidationIssue>> {
        let issues = self.validate(raw);
        if !issues.is_empty() {
            return Err(issues);
        }
        match (self.spec.parse_fn())(raw) {
            Ok(typed) => Ok(Parsed {
                raw: Arc::new(raw.clone()),
                typed,
                type_name: self.spec.type_name(),
                debug: self.spec.debug_fn(),
            }),
            // The field's pointer and serde's reason, its quoted parts masked: a value
            // is never echoed, and a Rust type name is never shown.
            Err(e) => Err(vec![ValidationIssue::new(
                crate::codes::issues::schema::INVALID_VALUE,
                e.pointer,
                e.reason,
            )]),
        }
    }
}

/// A validated config: the raw JSON as submitted and the typed value it parsed into.
///
/// `Debug` shows only the type name, since configs can hold secrets.
#[derive(Clone)]
pub struct Parsed {
    raw: Arc<Value>,
    typed: Arc<dyn Any + Send + Sync>,
    type_name: &'static str,
    debug: super::spec::DebugFn,
}

impl fmt::Debug for Parsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Parsed<{}>", self.type_name)
    }
}

impl Parsed {
    /// A parsed value built directly (for tests and for engines that already hold both).
    pub fn new<T: Any + fmt::Debug + Send + Sync>(raw: Value, typed: T) -> Self {
        Self {
            raw: Arc::new(raw),
            typed: Arc::new(typed),
            type_name: std::any::type_name::<T>(),
            debug: |value| {
                value
                    .downcast_ref::<T>()
                    .map_or_else(String::new, |v| format!("{v:?}"))
            },
        }
    }

    /// The `Debug` rendering of the typed value: what a log line of the parsed config
    /// would show. Secrets inside it must print redacted; the conformance suite checks.
    pub fn typed_debug(&self) -> String {
        (self.debug)(&*self.typed)
    }

    /// The raw JSON as submitted.
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// The typed value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Internal`](crate::ErrorKind::Internal) (`schema.type_mismatch`) when
    /// the config was declared with another type than `T`.
    pub fn get<T: Any>(&self) -> Result<&T, Error> {
        self.typed.downcast_ref::<T>().ok_or_else(|| {
            crate::codes::schema::TYPE_MISMATCH.error(format!(
                "a config of type {} was read as {}",
                self.type_name,
                std::any::type_name::<T>()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::Secret;

    /// Reasoning effort.
    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Effort {
        Low,
        High,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Config {
        #[schemars(url)]
        api_base_url: String,
        #[schemars(length(min = 1))]
        repositories: Vec<String>,
        effort: Effort,
        #[serde(default)]
        token: Option<Secret>,
        #[schemars(range(min = 1, max = 10))]
        #[serde(default)]
        retries: Option<u8>,
    }

    fn schema() -> ConfigSchema {
        ConfigSpec::of::<Config>().compile().unwrap()
    }

    fn codes(issues: &[ValidationIssue]) -> Vec<(&str, &str)> {
        issues
            .iter()
            .map(|i| (i.code.as_str(), i.path.as_str()))
            .collect()
    }

    /// A type whose schema is looser than its deserializer.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Loose {
        #[schemars(with = "Vec<String>")]
        mirrors: Vec<crate::schema::BaseUrl>,
    }

    #[test]
    fn a_value_the_type_refuses_is_reported_at_its_field_without_echo() {
        let schema = ConfigSpec::of::<Loose>().compile().unwrap();
        let issues = schema
            .parse(&json!({"mirrors": ["https://a.test", "https://me:hunter2@b.test"]}))
            .unwrap_err();
        assert_eq!(codes(&issues), [("schema.invalid_value", "/mirrors/1")]);
        let message = &issues[0].message;
        assert_eq!(
            message,
            "invalid base URL: a base URL carries no credentials"
        );
        assert!(!message.contains("hunter2") && !message.contains("Loose"));
    }

    /// `validate` answers a valid value from the validity check alone; the check must
    /// agree with the error list on every shape the schema has.
    #[test]
    fn the_validity_check_agrees_with_the_error_list() {
        let schema = schema();
        let valid =
            json!({"api_base_url": "https://x.test", "repositories": ["a"], "effort": "low"});
        let mut values = vec![valid.clone(), json!(null), json!([]), json!("x"), json!({})];
        for (field, bad) in [
            ("api_base_url", json!("not a url")),
            ("api_base_url", json!(7)),
            ("repositories", json!([])),
            ("repositories", json!([1])),
            ("effort", json!("medium")),
            ("token", json!({"x": 1})),
            ("retries", json!(0)),
            ("retries", json!(11)),
            ("retries", json!(null)),
            ("retries", json!(3)),
            ("unknown", json!(true)),
        ] {
            let mut value = valid.clone();
            value[field] = bad;
            values.push(value);
        }
        let mut missing = valid.clone();
        missing.as_object_mut().unwrap().remove("effort");
        values.push(missing);
        for value in &values {
            assert_eq!(
                schema.validator.is_valid(value),
                schema.validator.iter_errors(value).next().is_none(),
                "{value}"
            );
            assert_eq!(
                schema.validate(value).is_empty(),
                schema.validator.is_valid(value)
            );
        }
        assert!(schema.validate(&valid).is_empty());
        assert!(
            values
                .iter()
                .filter(|v| !schema.validate(v).is_empty())
                .count()
                > 10
        );
    }

    #[test]
    fn serde_messages_are_masked() {
        assert_eq!(
            super::super::spec::mask_quoted("unknown variant `sk-1`, expected \"a\""),
            "unknown variant …, expected \"a\""
        );
    }

    #[test]
    fn a_base_url_with_credentials_fails_the_schema_with_a_sentence() {
        #[derive(Debug, Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct Target {
            api_base_url: crate::schema::BaseUrl,
        }
        let schema = ConfigSpec::of::<Target>().compile().unwrap();
        for bad in ["https://u:p@x.test", "https://x.test?q=1"] {
            let issues = schema.parse(&json!({ "api_base_url": bad })).unwrap_err();
            assert_eq!(
                codes(&issues),
                [("schema.pattern", "/api_base_url")],
                "{bad}"
            );
            assert_eq!(issues[0].message, super::super::url::BASE_URL_RULE);
        }
        assert!(
            schema
                .parse(&json!({"api_base_url": "https://x.test/@team"}))
                .is_ok()
        );
    }

    #[test]
    fn valid_input_parses_into_the_type() {
        let parsed = schema()
            .parse(&json!({
                "api_base_url": "https://api.example.com",
                "repositories": ["a/b"],
                "effort": "high",
                "token": "tok",
            }))
            .unwrap();
        let config = parsed.get::<Config>().unwrap();
        assert_eq!(config.effort, Effort::High);
        assert_eq!(config.token.as_ref().unwrap().expose(), "tok");
        assert_eq!(parsed.raw()["effort"], "high");
        assert_eq!(
            format!("{parsed:?}"),
            format!("Parsed<{}>", std::any::type_name::<Config>())
        );
        assert_eq!(
            parsed.get::<String>().unwrap_err().code(),
            "schema.type_mismatch"
        );
    }

    #[test]
    fn every_issue_is_reported_with_code_and_path() {
        let issues = schema()
            .parse(&json!({
                "api_base_url": "not a url",
                "repositories": [],
                "effort": "extreme",
                "retries": 11,
                "extra": true,
            }))
            .unwrap_err();
        assert_eq!(
            codes(&issues),
            [
                ("schema.format", "/api_base_url"),
                ("schema.enum", "/effort"),
                ("schema.additional_properties", "/extra"),
                ("schema.min_items", "/repositories"),
                ("schema.maximum", "/retries"),
            ]
        );
        let missing = schema().parse(&json!({})).unwrap_err();
        assert_eq!(
            codes(&missing),
            [
                ("schema.required", "/api_base_url"),
                ("schema.required", "/effort"),
                ("schema.required", "/repositories"),
            ]
        );
        let wrong_type = schema().parse(&json!([])).unwrap_err();
        assert_eq!(codes(&wrong_type), [("schema.type", "")]);
    }

    #[test]
    fn messages_never_echo_the_value() {
        let secret = "sk-live-DO-NOT-ECHO";
        let issues = schema()
            .parse(&json!({
                "api_base_url": secret,
                "repositories": secret,
                "effort": secret,
                "token": 5,
                "retries": secret,
            }))
            .unwrap_err();
        assert!(issues.len() >= 4);
        for issue in &issues {
            assert!(!issue.message.contains(secret), "{issue}");
            assert!(!format!("{issue:?}").contains(secret));
        }
    }

    #[test]
    fn schemas_that_do_not_compile_are_rejected() {
        let bad = ConfigSpec::from_json_schema(json!({"type": "no-such-type"}));
        assert_eq!(bad.compile().unwrap_err().code(), "schema.does_not_compile");
        let remote =
            ConfigSpec::from_json_schema(json!({"$ref": "https://example.com/schema.json"}));
        assert_eq!(
            remote.compile().unwrap_err().code(),
            "schema.does_not_compile"
        );
    }

    #[test]
    fn empty_spec_accepts_only_empty_objects() {
        let schema = ConfigSpec::empty().compile().unwrap();
        assert!(schema.parse(&json!({})).is_ok());
        assert_eq!(
            codes(&schema.parse(&json!({"x": 1})).unwrap_err()),
            [("schema.additional_properties", "/x")]
        );
    }

    #[test]
    fn keyword_codes_are_snake_case() {
        assert_eq!(
            code_for("additionalProperties"),
            "schema.additional_properties"
        );
        assert_eq!(code_for("minItems"), "schema.min_items");
        assert_eq!(code_for("type"), "schema.type");
    }

    /// Every keyword jsonschema reports has its own catalogued code, `schema.<keyword>`
    /// in snake case (as the codes were derived before the catalogue).
    #[test]
    fn every_keyword_has_its_catalogued_code() {
        let snake = |keyword: &str| {
            let mut code = String::from("schema.");
            for (i, c) in keyword.chars().enumerate() {
                if c.is_ascii_uppercase() {
                    if i > 0 {
                        code.push('_');
                    }
                    code.push(c.to_ascii_lowercase());
                } else {
                    code.push(c);
                }
            }
            code
        };
        let keywords = [
            "additionalItems",
            "additionalProperties",
            "anyOf",
            "const",
            "contains",
            "contentEncoding",
            "contentMediaType",
            "enum",
            "exclusiveMaximum",
            "exclusiveMinimum",
            "falseSchema",
            "format",
            "maxItems",
            "maxLength",
            "maxProperties",
            "maximum",
            "minItems",
            "minLength",
            "minProperties",
            "minimum",
            "multipleOf",
            "not",
            "oneOf",
            "pattern",
            "propertyNames",
            "required",
            "type",
            "unevaluatedItems",
            "unevaluatedProperties",
            "uniqueItems",
        ];
        for keyword in keywords {
            let code = code_for(keyword);
            assert_eq!(code.as_str(), snake(keyword), "{keyword}");
            assert!(crate::codes::issues::ALL.contains(&code), "{keyword}");
        }
        assert_eq!(code_for("$ref"), "schema.ref");
        assert_eq!(code_for("x-custom"), "schema.invalid_value");
    }
}
