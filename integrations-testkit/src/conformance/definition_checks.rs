//! Identity, schemas, connection methods and secret redaction.

use std::collections::BTreeSet;
use std::sync::Arc;

use integrations_core::definition::{
    ConnectionMethod, ConnectionMethodKind, IntegrationDefinition,
};
use integrations_core::provider::Integration;
use integrations_core::schema::{ConfigSpec, Parsed};
use integrations_core::{DefinitionKey, Registry};
use serde_json::Value;

use super::{Outcome, outcome};

pub(super) fn identity(integration: &Arc<dyn Integration>) -> Outcome {
    let mut problems = Vec::new();
    let key = integration.key();
    if key.to_string().parse::<DefinitionKey>().ok().as_ref() != Some(&key) {
        problems.push(format!(
            "the key {key} does not round-trip through its text form"
        ));
    }
    let metadata = integration.metadata();
    for (field, value) in [
        ("name", &metadata.name),
        ("description", &metadata.description),
        ("logo_key", &metadata.logo_key),
        ("category", &metadata.category),
    ] {
        if value.trim().is_empty() {
            problems.push(format!("the metadata {field} is blank"));
        }
    }
    if let Some(url) = &metadata.docs_url
        && !matches!(
            url::Url::parse(url)
                .map(|u| u.scheme().to_owned())
                .as_deref(),
            Ok("https" | "http")
        )
    {
        problems.push("the docs URL is not an http(s) URL".to_owned());
    }
    if let Err(e) = Registry::new().register(Arc::clone(integration)) {
        problems.push(format!(
            "a registry refuses the definition: {} ({})",
            e.message(),
            e.code()
        ));
        for issue in e.issues() {
            problems.push(format!("  {issue}"));
        }
    }
    outcome(problems)
}

fn check_spec(
    what: &str,
    spec: &ConfigSpec,
    need_example: bool,
    problems: &mut Vec<String>,
) -> Vec<Parsed> {
    let schema = match spec.compile() {
        Ok(schema) => schema,
        Err(e) => {
            problems.push(format!(
                "the {what} schema does not compile: {}",
                e.message()
            ));
            return Vec::new();
        }
    };
    if need_example && spec.examples().is_empty() {
        problems.push(format!("the {what} schema has no example"));
    }
    let mut parsed = Vec::new();
    for (i, example) in spec.examples().iter().enumerate() {
        match schema.parse(example) {
            Ok(p) => parsed.push(p),
            Err(issues) => {
                let codes: Vec<String> = issues.iter().map(ToString::to_string).collect();
                problems.push(format!(
                    "{what} example {i} does not parse: {}",
                    codes.join("; ")
                ));
            }
        }
    }
    parsed
}

pub(super) fn schemas(definition: &dyn IntegrationDefinition) -> Outcome {
    let mut problems = Vec::new();
    check_spec(
        "target config",
        &definition.target_config(),
        true,
        &mut problems,
    );
    check_spec(
        "target secrets",
        &definition.target_secrets(),
        true,
        &mut problems,
    );
    check_spec(
        "binding config",
        &definition.binding_config(),
        true,
        &mut problems,
    );
    for method in definition.connection_methods() {
        check_spec(
            &format!("connection:{} config", method.id),
            &method.config,
            false,
            &mut problems,
        );
    }
    outcome(problems)
}

/// The first parsed target-config example, if any.
pub(super) fn example_target_config(definition: &dyn IntegrationDefinition) -> Option<Parsed> {
    let spec = definition.target_config();
    let schema = spec.compile().ok()?;
    spec.examples().iter().find_map(|e| schema.parse(e).ok())
}

/// The client id the conformance check adds to a target-config example that names none.
const EXAMPLE_CLIENT_ID: &str = "conformance-client-id";

/// Whether `method`'s OAuth 2.0 data names a client id for some target-config example:
/// as written, or with a `client_id` added where the example has none and the schema
/// takes one (an example may leave optional members out).
fn resolves_client_id(definition: &dyn IntegrationDefinition, method: &ConnectionMethod) -> bool {
    let spec = definition.target_config();
    let Ok(schema) = spec.compile() else {
        return false;
    };
    let names_client_id = |example: &Value| {
        schema.parse(example).ok().is_some_and(|parsed| {
            definition
                .oauth2(method, &parsed)
                .and_then(|spec| spec.client_id)
                .is_some_and(|id| !id.is_empty())
        })
    };
    spec.examples().iter().any(|example| {
        names_client_id(example)
            || match example {
                Value::Object(members) if !members.contains_key("client_id") => {
                    let mut with_id = members.clone();
                    with_id.insert("client_id".to_owned(), EXAMPLE_CLIENT_ID.into());
                    names_client_id(&Value::Object(with_id))
                }
                _ => false,
            }
    })
}

fn check_url(what: &str, url: &str, problems: &mut Vec<String>) {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host_str().is_some() => {}
        _ => problems.push(format!("{what} is not an absolute http(s) URL")),
    }
}

/// The outcome of the connection-method checks, and their warnings.
pub(super) fn connection_methods(integration: &dyn Integration) -> (Outcome, Vec<String>) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let methods = integration.connection_methods();
    if methods.is_empty() {
        problems.push("the definition has no connection method".to_owned());
    }
    let target = example_target_config(integration);
    let secret_fields: BTreeSet<String> = integration
        .target_secrets()
        .json_schema()
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let mut ids = BTreeSet::new();
    for method in &methods {
        let id = &method.id;
        if !ids.insert(id.clone()) {
            problems.push(format!("the connection method {id} is declared twice"));
        }
        if method.label.trim().is_empty() {
            problems.push(format!("the connection method {id} has no label"));
        }
        match method.kind {
            ConnectionMethodKind::OAuth2AuthorizationCode
            | ConnectionMethodKind::OAuth2ClientCredentials => {
                let Some(target) = &target else {
                    problems.push(format!(
                        "{id}: no target-config example to resolve OAuth 2.0 data for"
                    ));
                    continue;
                };
                match integration.oauth2(method, target) {
                    None => problems.push(format!(
                        "{id}: an OAuth 2.0 method without OAuth 2.0 data for the example target"
                    )),
                    Some(spec) => {
                        check_url(
                            &format!("{id}: the authorization URL"),
                            &spec.authorize_url,
                            &mut problems,
                        );
                        check_url(
                            &format!("{id}: the token URL"),
                            &spec.token_url,
                            &mut problems,
                        );
                        if let Some(revoke) = &spec.revoke_url {
                            check_url(&format!("{id}: the revocation URL"), revoke, &mut problems);
                        }
                        if !resolves_client_id(integration, method) {
                            problems.push(format!(
                                "{id}: the OAuth 2.0 data names no client id for any target-config example, so no connection can start (auth.missing_client_id): IntegrationDefinition::oauth2 must set OAuth2Spec::client_id, usually from the target config's client_id; a definition reading it from another member (DeclaredIntegration::with_oauth_client_id_pointer) adds a target-config example that names it"
                            ));
                        }
                        if !secret_fields.contains(&spec.client_secret_field) {
                            problems.push(format!(
                                "{id}: the client secret field {} is not in the target secrets schema",
                                spec.client_secret_field
                            ));
                        }
                    }
                }
            }
            ConnectionMethodKind::ApiKey => {
                if method.secret_fields.is_empty() {
                    problems.push(format!("{id}: an API-key method takes no secret"));
                }
                let mut names = BTreeSet::new();
                for field in &method.secret_fields {
                    if !names.insert(field.name.as_str()) {
                        problems.push(format!(
                            "{id}: the secret field {} is declared twice",
                            field.name
                        ));
                    }
                }
                match target
                    .as_ref()
                    .map(|t| integration.identity_check(method, t))
                {
                    Some(Some(check)) => check_url(
                        &format!("{id}: the identity check URL"),
                        &check.url,
                        &mut problems,
                    ),
                    Some(None) => warnings.push(format!(
                        "{id}: an API-key method without an identity check: keys are stored without proof that they work, and connections name no external subject (implement IntegrationDefinition::identity_check)"
                    )),
                    None => {}
                }
            }
            ConnectionMethodKind::Redirect if integration.redirect_flow(id).is_none() => {
                problems.push(format!(
                    "{id}: a redirect method whose provider has no redirect flow"
                ));
            }
            _ => {}
        }
        if method.kind != ConnectionMethodKind::OAuth2AuthorizationCode
            && integration.grant_revoker(id).is_some()
        {
            problems.push(format!(
                "{id}: the provider has a grant revoker for it, but only OAuth 2.0 authorization-code connections are revoked at the provider"
            ));
        }
    }
    (outcome(problems), warnings)
}

/// Every string leaf of a JSON value at least 6 bytes long: the secret values of an
/// example.
fn string_leaves(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.len() >= 6 => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| string_leaves(v, out)),
        Value::Object(map) => map.values().for_each(|v| string_leaves(v, out)),
        _ => {}
    }
}

/// The same document with every string leaf wrapped in an array: wrong types everywhere,
/// so every secret value meets a validation message.
fn wrong_types(value: &Value) -> Value {
    match value {
        Value::String(_) => Value::Array(vec![value.clone()]),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), wrong_types(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub(super) fn secrets_redacted(definition: &dyn IntegrationDefinition) -> Outcome {
    let mut problems = Vec::new();
    let spec = definition.target_secrets();
    let schema_json = spec.json_schema().clone();
    if let Some(properties) = schema_json.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let is_string = match property.get("type") {
                Some(Value::String(t)) => t == "string",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
                _ => false,
            };
            if is_string && property.get("writeOnly") != Some(&Value::Bool(true)) {
                problems.push(format!(
                    "the target secret {name} is a plain string: declare it as integrations_core::Secret"
                ));
            }
        }
    }
    let Ok(schema) = spec.compile() else {
        return outcome(problems);
    };
    for (i, example) in spec.examples().iter().enumerate() {
        let mut secrets = Vec::new();
        string_leaves(example, &mut secrets);
        if let Ok(parsed) = schema.parse(example) {
            let debug = format!("{parsed:?} {}", parsed.typed_debug());
            if secrets.iter().any(|s| debug.contains(s.as_str())) {
                problems.push(format!(
                    "the Debug output of parsed target secrets example {i} shows a secret"
                ));
            }
        }
        if let Err(issues) = schema.parse(&wrong_types(example)) {
            let text = format!("{issues:?}");
            if secrets.iter().any(|s| text.contains(s.as_str())) {
                problems.push(format!(
                    "a validation issue of target secrets example {i} quotes a secret"
                ));
            }
        }
    }
    outcome(problems)
}
