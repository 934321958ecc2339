//! [`LinearWebhooks`]: Linear's webhook administration (`webhooks`, `webhookCreate`,
//! `webhookUpdate`, `webhookDelete`) on a [`LinearApi`]'s GraphQL endpoint.
//!
//! As Linear does: the same token rules as the rest of the API (`AUTHENTICATION_ERROR`
//! with HTTP 400); creating needs an admin (`FORBIDDEN` otherwise, see
//! [`LinearWebhooks::deny_admin`]); `WebhookCreateInput` refuses unknown fields and
//! requires `url` and `resourceTypes` (`GRAPHQL_VALIDATION_FAILED`, HTTP 400) and one of
//! `teamId` / `allPublicTeams` (`INPUT_ERROR`, HTTP 200 with `data: null`), a `teamId`
//! naming no team (by id or key) of the workspace is `Entity not found: Team`
//! (`INPUT_ERROR`); a secret
//! given is kept, none given makes Linear generate one (`lin_wh_...`);
//! `WebhookUpdateInput` takes only `label`, `secret`, `enabled`, `url` and
//! `resourceTypes` (a hook's team cannot be changed); updating or deleting an unknown id
//! is `Entity not found: Webhook` (`INPUT_ERROR`); `webhooks` paginates with
//! `pageInfo { hasNextPage endCursor }` and names a team hook's `team { id key }`.

#![allow(
    clippy::result_large_err,
    reason = "the errors are the HTTP answers of a test mock, built once per request"
)]

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, Request, Respond, ResponseTemplate};

use super::linear::TeamLookup;
use super::{Auth, Journal, LinearApi, Recorded, Tokens, lock};
use crate::mock::oauth::LinearMock;

const CREATE_FIELDS: &[&str] = &[
    "id",
    "url",
    "label",
    "teamId",
    "allPublicTeams",
    "resourceTypes",
    "secret",
    "enabled",
];

const UPDATE_FIELDS: &[&str] = &["label", "secret", "enabled", "url", "resourceTypes"];

#[derive(Debug, Clone)]
struct Hook {
    id: String,
    /// `None` for an OAuth application's webhook (its URL is the OAuth client's).
    url: Option<String>,
    label: Option<String>,
    /// The team's id and key.
    team: Option<(String, String)>,
    all_public_teams: bool,
    resource_types: Vec<String>,
    secret: String,
    enabled: bool,
}

impl Hook {
    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "url": self.url,
            "label": self.label,
            "enabled": self.enabled,
            "allPublicTeams": self.all_public_teams,
            "resourceTypes": self.resource_types,
            "team": self.team.as_ref().map(|(id, key)| json!({"id": id, "key": key})),
            "secret": self.secret,
        })
    }
}

#[derive(Debug, Default)]
struct State {
    hooks: Vec<Hook>,
    serial: u64,
    not_admin: bool,
}

/// Linear's webhook administration, mounted on a [`LinearApi`].
#[derive(Debug, Clone)]
pub struct LinearWebhooks {
    state: Arc<Mutex<State>>,
    journal: Journal,
}

fn error_body(code: &str, message: &str) -> Value {
    json!({"errors": [{
        "message": message,
        "extensions": {"code": code, "userPresentableMessage": message},
    }]})
}

fn graphql_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(error_body(code, message))
}

fn validation(message: &str) -> ResponseTemplate {
    graphql_error(400, "GRAPHQL_VALIDATION_FAILED", message)
}

fn input_error(message: &str) -> ResponseTemplate {
    let mut body = error_body("INPUT_ERROR", message);
    body["data"] = Value::Null;
    ResponseTemplate::new(200).set_body_json(body)
}

fn data(value: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"data": value}))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    List,
    Create,
    Update,
    Delete,
}

fn operation(query: &str) -> Option<Operation> {
    let has = |parts: &[&str]| parts.iter().all(|p| query.contains(p));
    if has(&[
        "mutation",
        "webhookCreate(input: $input)",
        "$input: WebhookCreateInput!",
    ]) {
        Some(Operation::Create)
    } else if has(&[
        "mutation",
        "webhookUpdate(id: $id, input: $input)",
        "$id: String!",
        "$input: WebhookUpdateInput!",
    ]) {
        Some(Operation::Update)
    } else if has(&["mutation", "webhookDelete(id: $id)", "$id: String!"]) {
        Some(Operation::Delete)
    } else if has(&[
        "query",
        "webhooks(first: $first, after: $after)",
        "$first: Int!",
        "$after: String",
        "pageInfo",
    ]) {
        Some(Operation::List)
    } else {
        None
    }
}

/// Matches the GraphQL requests naming a webhook operation.
struct WebhookOperation;

impl Match for WebhookOperation {
    fn matches(&self, request: &Request) -> bool {
        serde_json::from_slice::<Value>(&request.body)
            .ok()
            .and_then(|b| b.get("query").and_then(Value::as_str).map(str::to_owned))
            .is_some_and(|q| {
                q.contains("webhookCreate(")
                    || q.contains("webhookUpdate(")
                    || q.contains("webhookDelete(")
                    || q.contains("webhooks(")
            })
    }
}

struct Responder {
    state: Arc<Mutex<State>>,
    teams: TeamLookup,
    tokens: Tokens,
    journal: Journal,
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let recorded = self.journal.record(request);
        if !recorded
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
        {
            return validation("POST body must be JSON (Content-Type: application/json)");
        }
        if self.tokens.check(request) != Auth::Valid {
            return graphql_error(
                400,
                "AUTHENTICATION_ERROR",
                "Authentication required, not authenticated",
            );
        }
        let body = recorded.json();
        let Some(query) = body.get("query").and_then(Value::as_str) else {
            return validation("Must provide query string.");
        };
        if query.contains('"') {
            return validation(
                "this mock accepts only documents whose values are passed as variables",
            );
        }
        let variables = body.get("variables").cloned().unwrap_or(Value::Null);
        let Some(op) = operation(query) else {
            return validation("Cannot query this field on this type (unknown operation).");
        };
        let mut state = lock(&self.state);
        // Reading webhooks needs admin rights too.
        if state.not_admin {
            return graphql_error(
                400,
                "FORBIDDEN",
                "Invalid scope: `admin` required for this operation",
            );
        }
        match op {
            Operation::List => list(&state, &variables),
            Operation::Create => create(&mut state, &self.teams, &variables),
            Operation::Update => update(&mut state, &variables),
            Operation::Delete => delete(&mut state, &variables),
        }
    }
}

fn list(state: &State, variables: &Value) -> ResponseTemplate {
    let Some(first) = variables.get("first").and_then(Value::as_u64) else {
        return validation("Variable \"$first\" of required type \"Int!\" was not provided.");
    };
    if first == 0 || first > 250 {
        return input_error("first must be between 1 and 250");
    }
    let start = match variables.get("after") {
        None | Some(Value::Null) => 0,
        Some(Value::String(cursor)) => match state.hooks.iter().position(|h| &h.id == cursor) {
            Some(p) => p + 1,
            None => return input_error("Invalid cursor"),
        },
        Some(_) => return validation("String cannot represent a non string value"),
    };
    let first = usize::try_from(first).unwrap_or(usize::MAX);
    let rest = &state.hooks[start.min(state.hooks.len())..];
    let nodes: Vec<&Hook> = rest.iter().take(first).collect();
    let has_next = rest.len() > first;
    let end = nodes.last().map(|h| h.id.clone());
    data(&json!({"webhooks": {
        "nodes": nodes.iter().map(|h| h.json()).collect::<Vec<_>>(),
        "pageInfo": {"hasNextPage": has_next, "endCursor": end},
    }}))
}

fn check_input(
    input: Option<&Value>,
    kind: &str,
    fields: &[&str],
) -> Result<Map<String, Value>, ResponseTemplate> {
    let Some(Value::Object(input)) = input else {
        return Err(validation(&format!(
            "Variable \"$input\" of required type \"{kind}!\" was not provided."
        )));
    };
    if let Some(unknown) = input.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(validation(&format!(
            "Variable \"$input\" got invalid value; Field \"{unknown}\" is not defined by type \"{kind}\"."
        )));
    }
    Ok(input.clone())
}

/// `resourceTypes`, when given: a non-empty list of strings.
fn resource_types(input: &Map<String, Value>) -> Result<Option<Vec<String>>, ResponseTemplate> {
    match input.get("resourceTypes") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(types)) if types.iter().all(Value::is_string) => {
            if types.is_empty() {
                return Err(input_error("resourceTypes must not be empty"));
            }
            Ok(Some(
                types
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            ))
        }
        Some(Value::Array(_)) => Err(validation("String cannot represent a non string value")),
        Some(_) => Err(validation("[String!] cannot represent a non list value")),
    }
}

fn valid_url(url: &str) -> bool {
    matches!(url::Url::parse(url), Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

fn string(input: &Map<String, Value>, name: &str) -> Result<Option<String>, ResponseTemplate> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(validation(&format!(
            "Variable \"$input\" got invalid value; Field \"{name}\": String cannot represent a non string value"
        ))),
    }
}

fn create(state: &mut State, teams: &TeamLookup, variables: &Value) -> ResponseTemplate {
    let input = match check_input(variables.get("input"), "WebhookCreateInput", CREATE_FIELDS) {
        Ok(input) => input,
        Err(e) => return e,
    };
    let (url, label, team_id, secret) = match (
        string(&input, "url"),
        string(&input, "label"),
        string(&input, "teamId"),
        string(&input, "secret"),
    ) {
        (Ok(Some(url)), Ok(label), Ok(team), Ok(secret)) => (url, label, team, secret),
        (Ok(None), ..) => {
            return validation(
                "Variable \"$input\" got invalid value; Field \"url\" of required type \"String!\" was not provided.",
            );
        }
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => return e,
    };
    let resource_types = match resource_types(&input) {
        Ok(Some(types)) => types,
        Ok(None) => {
            return validation(
                "Variable \"$input\" got invalid value; Field \"resourceTypes\" of required type \"[String!]!\" was not provided.",
            );
        }
        Err(e) => return e,
    };
    let all_public_teams = match input.get("allPublicTeams") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return validation("Boolean cannot represent a non boolean value"),
    };
    if team_id.is_none() && !all_public_teams {
        return input_error("Either teamId or allPublicTeams must be set");
    }
    let team = match team_id.map(|t| teams.resolve(&t)) {
        None => None,
        Some(Some(team)) => Some(team),
        Some(None) => return input_error("Entity not found: Team"),
    };
    if !valid_url(&url) {
        return input_error("url must be a valid URL");
    }
    state.serial += 1;
    let id = format!(
        "{:08x}-4a1b-4c2d-9e3f-{:012x}",
        0x5f0b_0ab1_u32, state.serial
    );
    let secret = secret.unwrap_or_else(|| format!("lin_wh_{:032x}", state.serial * 7919));
    let hook = Hook {
        id,
        url: Some(url),
        label,
        team,
        all_public_teams,
        resource_types,
        secret,
        enabled: !matches!(input.get("enabled"), Some(Value::Bool(false))),
    };
    let out = json!({"id": hook.id, "url": hook.url, "enabled": hook.enabled});
    state.hooks.push(hook);
    data(&json!({"webhookCreate": {"success": true, "lastSyncId": 2001.0, "webhook": out}}))
}

fn update(state: &mut State, variables: &Value) -> ResponseTemplate {
    let Some(id) = variables.get("id").and_then(Value::as_str) else {
        return validation("Variable \"$id\" of required type \"String!\" was not provided.");
    };
    let input = match check_input(variables.get("input"), "WebhookUpdateInput", UPDATE_FIELDS) {
        Ok(input) => input,
        Err(e) => return e,
    };
    let (url, label, secret) = match (
        string(&input, "url"),
        string(&input, "label"),
        string(&input, "secret"),
    ) {
        (Ok(url), Ok(label), Ok(secret)) => (url, label, secret),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return e,
    };
    let types = match resource_types(&input) {
        Ok(types) => types,
        Err(e) => return e,
    };
    let enabled = match input.get("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return validation("Boolean cannot represent a non boolean value"),
    };
    if url.as_deref().is_some_and(|u| !valid_url(u)) {
        return input_error("url must be a valid URL");
    }
    let Some(hook) = state.hooks.iter_mut().find(|h| h.id == id) else {
        return input_error("Entity not found: Webhook");
    };
    if let Some(url) = url {
        hook.url = Some(url);
    }
    if label.is_some() {
        hook.label = label;
    }
    if let Some(secret) = secret {
        hook.secret = secret;
    }
    if let Some(types) = types {
        hook.resource_types = types;
    }
    if let Some(enabled) = enabled {
        hook.enabled = enabled;
    }
    let out = json!({"id": hook.id, "url": hook.url, "enabled": hook.enabled});
    data(&json!({"webhookUpdate": {"success": true, "lastSyncId": 2003.0, "webhook": out}}))
}

fn delete(state: &mut State, variables: &Value) -> ResponseTemplate {
    let Some(id) = variables.get("id").and_then(Value::as_str) else {
        return validation("Variable \"$id\" of required type \"String!\" was not provided.");
    };
    let before = state.hooks.len();
    state.hooks.retain(|h| h.id != id);
    if state.hooks.len() == before {
        return input_error("Entity not found: Webhook");
    }
    data(&json!({"webhookDelete": {"success": true, "lastSyncId": 2002.0}}))
}

impl LinearWebhooks {
    /// Serves webhook administration on `api`'s `/graphql` (with `api`'s accepted
    /// tokens), ahead of its other operations.
    pub async fn mount(api: &LinearApi) -> Self {
        let hooks = Self {
            state: Arc::new(Mutex::new(State::default())),
            journal: Journal::default(),
        };
        hooks
            .mock(api, "linear webhooks")
            .mount(api.provider().server())
            .await;
        hooks
    }

    /// Serves the same webhook administration on the OAuth mock's server too, for an
    /// `api` that [`LinearApi::serve_with`] the OAuth mock: one base URL answers OAuth,
    /// the API and webhooks, with the access tokens the OAuth mock issued.
    pub async fn serve_with(&self, api: &LinearApi, oauth: &LinearMock) {
        self.mock(api, "linear webhooks (served with the OAuth mock)")
            .mount(oauth.provider().server())
            .await;
    }

    /// Webhook operations only, above the API's and the OAuth mock's other answers.
    fn mock(&self, api: &LinearApi, name: &'static str) -> Mock {
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(WebhookOperation)
            .respond_with(Responder {
                state: self.state.clone(),
                teams: api.teams(),
                tokens: api.tokens().clone(),
                journal: self.journal.clone(),
            })
            .with_priority(1)
            .named(name)
    }

    /// The webhooks registered, as `webhooks` returns them plus `secret`, `label`,
    /// `allPublicTeams`, `resourceTypes` and `team`.
    pub fn hooks(&self) -> Vec<Value> {
        lock(&self.state).hooks.iter().map(Hook::json).collect()
    }

    /// Adds a webhook as if made in Linear's settings; returns its id.
    pub fn add_hook(&self, url: &str, secret: &str) -> String {
        self.push_hook(Some(url), secret)
    }

    /// Adds an OAuth application's webhook, as Linear makes one for an app configured
    /// with a webhook when a workspace authorizes it: listed with a `null` URL (it
    /// delivers to the URL configured on the OAuth client). Returns its id.
    pub fn add_app_hook(&self, secret: &str) -> String {
        self.push_hook(None, secret)
    }

    fn push_hook(&self, url: Option<&str>, secret: &str) -> String {
        let mut state = lock(&self.state);
        state.serial += 1;
        let id = format!(
            "{:08x}-4a1b-4c2d-9e3f-{:012x}",
            0x5f0b_0ab1_u32, state.serial
        );
        state.hooks.push(Hook {
            id: id.clone(),
            url: url.map(str::to_owned),
            label: None,
            team: None,
            all_public_teams: true,
            resource_types: vec!["Issue".to_owned()],
            secret: secret.to_owned(),
            enabled: true,
        });
        id
    }

    /// Disables a webhook, as Linear does to one whose deliveries keep failing.
    pub fn disable_hook(&self, id: &str) {
        if let Some(hook) = lock(&self.state).hooks.iter_mut().find(|h| h.id == id) {
            hook.enabled = false;
        }
    }

    /// Deletes a webhook as if removed in Linear's settings.
    pub fn remove_hook(&self, id: &str) {
        lock(&self.state).hooks.retain(|h| h.id != id);
    }

    /// Makes the token's user a non-admin: listing, creating, updating and deleting
    /// webhooks answer `FORBIDDEN`.
    pub fn deny_admin(&self) {
        lock(&self.state).not_admin = true;
    }

    /// Every webhook request received.
    pub fn requests(&self) -> Vec<Recorded> {
        self.journal.all()
    }
}
