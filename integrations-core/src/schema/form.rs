use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::spec::ConfigSpec;
use crate::issue::escape_pointer_token;

/// How a UI should render a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Widget {
    /// A one-line text input.
    Text,
    /// A masked input whose value is never shown back (secrets).
    Password,
    /// A multi-line text input.
    Textarea,
    /// A choice among [`FieldHint::choices`].
    Select,
    /// A boolean.
    Checkbox,
    /// A number.
    Number,
    /// A URL.
    Url,
    /// A list of values.
    List,
}

/// One choice of a select field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Choice {
    /// The value submitted.
    pub value: Value,
    /// The label shown.
    pub label: String,
}

impl Choice {
    /// A choice.
    pub fn new(value: impl Into<Value>, label: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            label: label.into(),
        }
    }
}

/// UI hints for one field. The schema stays the source of truth for validation; hints
/// only describe rendering.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FieldHint {
    /// The label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Help text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The widget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub widget: Option<Widget>,
    /// Placeholder text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    /// Position among the fields; lower first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<i32>,
    /// The choices of a select field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<Choice>>,
    /// Whether to hide the field (advanced settings).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub hidden: bool,
}

impl FieldHint {
    /// An empty hint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the label.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Sets the help text.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the widget.
    #[must_use]
    pub fn widget(mut self, widget: Widget) -> Self {
        self.widget = Some(widget);
        self
    }

    /// Sets the placeholder.
    #[must_use]
    pub fn placeholder(mut self, placeholder: impl Into<String>) -> Self {
        self.placeholder = Some(placeholder.into());
        self
    }

    /// Sets the order.
    #[must_use]
    pub fn order(mut self, order: i32) -> Self {
        self.order = Some(order);
        self
    }

    /// Sets the choices (and the select widget).
    #[must_use]
    pub fn choices(mut self, choices: Vec<Choice>) -> Self {
        self.choices = Some(choices);
        self.widget = Some(Widget::Select);
        self
    }

    /// Hides the field.
    #[must_use]
    pub fn hidden(mut self) -> Self {
        self.hidden = true;
        self
    }

    fn fill_from(&mut self, other: &FieldHint) {
        if other.label.is_some() {
            self.label.clone_from(&other.label);
        }
        if other.help.is_some() {
            self.help.clone_from(&other.help);
        }
        if other.widget.is_some() {
            self.widget = other.widget;
        }
        if other.placeholder.is_some() {
            self.placeholder.clone_from(&other.placeholder);
        }
        if other.order.is_some() {
            self.order = other.order;
        }
        if other.choices.is_some() {
            self.choices.clone_from(&other.choices);
        }
        self.hidden |= other.hidden;
    }
}

/// What a form is rendered for: the configs it may depend on. A definition narrows
/// choices with it (a binding form offers only the models its target allows).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct FormContext<'a> {
    /// The target config, when known.
    pub target_config: Option<&'a Value>,
    /// The connection config, when known.
    pub connection_config: Option<&'a Value>,
    /// The current value of the form being edited, when there is one.
    pub current: Option<&'a Value>,
}

impl<'a> FormContext<'a> {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the target config.
    #[must_use]
    pub fn with_target_config(mut self, config: &'a Value) -> Self {
        self.target_config = Some(config);
        self
    }

    /// Sets the connection config.
    #[must_use]
    pub fn with_connection_config(mut self, config: &'a Value) -> Self {
        self.connection_config = Some(config);
        self
    }

    /// Sets the current value.
    #[must_use]
    pub fn with_current(mut self, current: &'a Value) -> Self {
        self.current = Some(current);
        self
    }
}

/// A resolved form: the JSON Schema plus hints for each top-level field, by JSON Pointer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Form {
    /// The JSON Schema of the value.
    pub schema: Value,
    /// Hints by JSON Pointer (`/api_base_url`).
    pub fields: BTreeMap<String, FieldHint>,
}

impl Form {
    /// The form of a spec: hints derived from the schema (secrets as passwords, enums as
    /// selects with their documented labels, booleans as checkboxes, URLs, numbers, lists),
    /// then the spec's own hints on top.
    pub fn from_spec(spec: &ConfigSpec) -> Self {
        let schema = spec.json_schema().clone();
        let mut fields = BTreeMap::new();
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                let property = resolve_ref(&schema, property);
                fields.insert(
                    format!("/{}", escape_pointer_token(name)),
                    derive_hint(name, property),
                );
            }
        }
        for (pointer, hint) in spec.hints() {
            fields.entry(pointer.clone()).or_default().fill_from(hint);
        }
        Self { schema, fields }
    }

    /// Keeps only the choices of the field at `pointer` for which `keep` is true.
    pub fn narrow_choices(&mut self, pointer: &str, keep: impl Fn(&Value) -> bool) {
        if let Some(choices) = self
            .fields
            .get_mut(pointer)
            .and_then(|f| f.choices.as_mut())
        {
            choices.retain(|c| keep(&c.value));
        }
    }

    /// Replaces the choices of the field at `pointer`.
    pub fn set_choices(&mut self, pointer: &str, choices: Vec<Choice>) {
        let field = self.fields.entry(pointer.to_owned()).or_default();
        field.choices = Some(choices);
        field.widget = Some(Widget::Select);
    }
}

fn resolve_ref<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let target = schema
        .get("$ref")
        .or_else(|| {
            // schemars wraps a documented `$ref` in `allOf: [{ "$ref": ... }]` in some drafts.
            schema
                .get("allOf")
                .and_then(Value::as_array)
                .filter(|a| a.len() == 1)
                .and_then(|a| a[0].get("$ref"))
        })
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer));
    target.unwrap_or(schema)
}

fn humanize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, word) in name.split(['_', '-']).filter(|w| !w.is_empty()).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            if i == 0 {
                out.extend(first.to_uppercase());
            } else {
                out.push(first);
            }
            out.push_str(chars.as_str());
        }
    }
    out
}

fn schema_types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn enum_choices(schema: &Value) -> Option<Vec<Choice>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(
            values
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| {
                    Choice::new(
                        v.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect(),
        );
    }
    let variants = schema.get("oneOf").and_then(Value::as_array)?;
    let mut choices = Vec::new();
    for variant in variants {
        let value = variant.get("const")?;
        let label = variant
            .get("description")
            .and_then(Value::as_str)
            .map_or_else(
                || {
                    value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned)
                },
                str::to_owned,
            );
        choices.push(Choice::new(value.clone(), label));
    }
    Some(choices)
}

fn derive_hint(name: &str, schema: &Value) -> FieldHint {
    let mut hint = FieldHint::new().label(
        schema
            .get("title")
            .and_then(Value::as_str)
            .map_or_else(|| humanize(name), str::to_owned),
    );
    if let Some(help) = schema.get("description").and_then(Value::as_str) {
        hint = hint.help(help);
    }
    let types = schema_types(schema);
    if schema.get("writeOnly").and_then(Value::as_bool) == Some(true) {
        hint = hint.widget(Widget::Password);
    } else if let Some(choices) = enum_choices(schema) {
        hint = hint.choices(choices);
    } else if types.contains(&"boolean") {
        hint = hint.widget(Widget::Checkbox);
    } else if types.contains(&"integer") || types.contains(&"number") {
        hint = hint.widget(Widget::Number);
    } else if types.contains(&"array") {
        hint = hint.widget(Widget::List);
    } else if matches!(
        schema.get("format").and_then(Value::as_str),
        Some("uri" | "url")
    ) {
        hint = hint.widget(Widget::Url);
    } else if types.contains(&"string") {
        hint = hint.widget(Widget::Text);
    }
    hint
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::Secret;

    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    #[allow(dead_code)]
    enum Effort {
        /// Fast and cheap
        Low,
        /// Thorough
        High,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Config {
        /// The API base URL.
        #[schemars(url)]
        api_base_url: String,
        client_secret: Secret,
        effort: Effort,
        verbose: bool,
        retries: u8,
        repositories: Vec<String>,
        model: String,
    }

    #[test]
    fn hints_are_derived_from_the_schema() {
        let spec = ConfigSpec::of::<Config>()
            .with_hint("/model", FieldHint::new().placeholder("gpt-5").order(1));
        let form = Form::from_spec(&spec);
        let f = |p: &str| form.fields.get(p).unwrap();
        assert_eq!(f("/api_base_url").widget, Some(Widget::Url));
        assert_eq!(f("/api_base_url").label.as_deref(), Some("Api base url"));
        assert_eq!(
            f("/api_base_url").help.as_deref(),
            Some("The API base URL.")
        );
        assert_eq!(f("/client_secret").widget, Some(Widget::Password));
        assert_eq!(f("/verbose").widget, Some(Widget::Checkbox));
        assert_eq!(f("/retries").widget, Some(Widget::Number));
        assert_eq!(f("/repositories").widget, Some(Widget::List));
        assert_eq!(f("/model").widget, Some(Widget::Text));
        assert_eq!(f("/model").placeholder.as_deref(), Some("gpt-5"));
        let effort = f("/effort");
        assert_eq!(effort.widget, Some(Widget::Select));
        let choices = effort.choices.as_ref().unwrap();
        assert_eq!(choices.len(), 2);
        assert_eq!(choices[0].value, json!("low"));
    }

    #[test]
    fn choices_narrow_with_context() {
        let mut form = Form::from_spec(&ConfigSpec::of::<Config>());
        form.narrow_choices("/effort", |v| v == "high");
        let choices = form.fields["/effort"].choices.as_ref().unwrap();
        assert_eq!(choices.len(), 1);
        form.set_choices("/model", vec![Choice::new("gpt-5", "GPT-5")]);
        assert_eq!(form.fields["/model"].widget, Some(Widget::Select));
    }
}
