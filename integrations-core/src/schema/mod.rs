//! Typed configuration schemas.
//!
//! A config is a Rust type (`serde` + `schemars`). [`ConfigSpec::of`] derives its JSON
//! Schema from the type; [`ConfigSpec::compile`] builds the validator once (jsonschema,
//! with format checks and **no** network or file resolution of `$ref`);
//! [`ConfigSchema::parse`] validates raw JSON against the schema *before* deserializing
//! it, so schema and type cannot drift and every problem is reported, not just the first.
//!
//! Issues carry stable codes `schema.<keyword>` (`schema.required`, `schema.type`,
//! `schema.additional_properties`, `schema.enum`, `schema.format`, ...) and messages that
//! never echo the submitted value.
//!
//! ```
//! use integrations_core::schema::ConfigSpec;
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! #[derive(Debug, Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct TargetConfig {
//!     /// Base URL of the API.
//!     api_base_url: String,
//! }
//!
//! let schema = ConfigSpec::of::<TargetConfig>().compile()?;
//! let parsed = schema.parse(&serde_json::json!({"api_base_url": "https://api.example.com"}))
//!     .expect("valid");
//! assert_eq!(parsed.get::<TargetConfig>()?.api_base_url, "https://api.example.com");
//!
//! let issues = schema.parse(&serde_json::json!({"api_base_uri": 1})).unwrap_err();
//! let codes: Vec<&str> = issues.iter().map(|i| i.code.as_str()).collect();
//! assert_eq!(codes, ["schema.additional_properties", "schema.required"]);
//! # Ok::<(), integrations_core::Error>(())
//! ```

mod compiled;
mod form;
mod kind;
mod spec;
mod url;

pub use compiled::{ConfigSchema, Parsed};
pub use form::{Choice, FieldHint, Form, FormContext, Widget};
pub use kind::ConfigKind;
pub use spec::{ConfigSpec, mask_quoted};
pub use url::{BaseUrl, UrlBuilder};
