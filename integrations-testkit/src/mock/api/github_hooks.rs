//! [`GitHubHooks`]: GitHub's repository and organization webhook administration
//! (`GET`/`POST /repos/{owner}/{repo}/hooks`, `GET`/`PATCH`/`DELETE
//! /repos/{owner}/{repo}/hooks/{id}`, and the same under `/orgs/{org}/hooks`) on a
//! [`GitHubApi`]'s server.
//!
//! As GitHub does: `User-Agent` required (403); `Bad credentials` (401) for an unknown
//! token and `Not Found` (404) without one, for a repository or organization it does not
//! know, for a token without admin rights on it ([`GitHubHooks::deny_admin`]) and for an
//! unknown hook id; `name` must be `web`; `config.url` is required and must be a URL,
//! `config.content_type` is `json` or `form` (422 `Validation Failed`); a second hook with
//! the same URL is 422 `Hook already exists on this repository`; the secret is never
//! shown again (`********`); lists paginate with `per_page` (at most 100) and `page`;
//! an update (`PATCH`) replaces the `config` given (its `url` required, as on create),
//! the `events` and `active`, and answers 200 with the hook; a delete answers 204.

#![allow(
    clippy::result_large_err,
    reason = "the errors are the HTTP answers of a test mock, built once per request"
)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::path_regex;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::{Auth, GitHubApi, Journal, Recorded, Tokens, lock};

#[derive(Debug, Clone)]
struct Hook {
    id: u64,
    /// `repos/{owner}/{repo}` or `orgs/{org}`.
    owner: String,
    url: String,
    content_type: String,
    secret: Option<String>,
    events: Vec<String>,
    active: bool,
}

#[derive(Debug, Default)]
struct State {
    owners: BTreeSet<String>,
    hooks: Vec<Hook>,
    next_id: u64,
    not_admin: bool,
}

/// GitHub's webhook administration, mounted on a [`GitHubApi`].
#[derive(Debug, Clone)]
pub struct GitHubHooks {
    state: Arc<Mutex<State>>,
    journal: Journal,
}

fn message(status: u16, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "message": text,
        "documentation_url": "https://docs.github.com/rest/webhooks",
        "status": status.to_string(),
    }))
}

fn not_found() -> ResponseTemplate {
    message(404, "Not Found")
}

fn validation(message: &str) -> ResponseTemplate {
    ResponseTemplate::new(422).set_body_json(json!({
        "message": "Validation Failed",
        "errors": [{"resource": "Hook", "code": "custom", "message": message}],
        "documentation_url": "https://docs.github.com/rest/webhooks/repos#create-a-repository-webhook",
        "status": "422",
    }))
}

struct Responder {
    state: Arc<Mutex<State>>,
    tokens: Tokens,
    journal: Journal,
    prefix: String,
    api: String,
}

impl Hook {
    fn json(&self, api: &str) -> Value {
        let kind = if self.owner.starts_with("orgs/") {
            "Organization"
        } else {
            "Repository"
        };
        let mut config = json!({
            "url": self.url,
            "content_type": self.content_type,
            "insecure_ssl": "0",
        });
        if self.secret.is_some() {
            config["secret"] = json!("********");
        }
        let base = format!("{api}/{}/hooks/{}", self.owner, self.id);
        json!({
            "type": kind,
            "id": self.id,
            "name": "web",
            "active": self.active,
            "events": self.events,
            "config": config,
            "updated_at": "2026-01-01T00:00:00Z",
            "created_at": "2026-01-01T00:00:00Z",
            "url": base,
            "ping_url": format!("{base}/pings"),
            "deliveries_url": format!("{base}/deliveries"),
            "last_response": {"code": null, "status": "unused", "message": null},
        })
    }
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let recorded = self.journal.record(request);
        if recorded.header("user-agent").is_none_or(str::is_empty) {
            return message(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header.",
            );
        }
        match self.tokens.check(request) {
            Auth::Valid => {}
            Auth::Invalid => return message(401, "Bad credentials"),
            Auth::Missing => return message(401, "Requires authentication"),
        }
        let Some(rest) = recorded.path.strip_prefix(&self.prefix) else {
            return not_found();
        };
        let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        let (owner, id) = match segments.as_slice() {
            ["repos", o, r, "hooks"] => (format!("repos/{o}/{r}"), None),
            ["repos", o, r, "hooks", id] => (format!("repos/{o}/{r}"), Some(*id)),
            ["orgs", o, "hooks"] => (format!("orgs/{o}"), None),
            ["orgs", o, "hooks", id] => (format!("orgs/{o}"), Some(*id)),
            _ => return not_found(),
        };
        let mut state = lock(&self.state);
        // Without admin rights, GitHub hides the hooks of a repository as not found.
        if !state.owners.contains(&owner) || state.not_admin {
            return not_found();
        }
        match (recorded.method.as_str(), id) {
            ("GET", None) => self.list(&state, &owner, &recorded),
            ("POST", None) => self.create(&mut state, &owner, &recorded),
            ("GET", Some(id)) => match find(&state, &owner, id) {
                Some(i) => ResponseTemplate::new(200).set_body_json(state.hooks[i].json(&self.api)),
                None => not_found(),
            },
            ("PATCH", Some(id)) => match find(&state, &owner, id) {
                Some(i) => self.update(&mut state, i, &recorded),
                None => not_found(),
            },
            ("DELETE", Some(id)) => match find(&state, &owner, id) {
                Some(i) => {
                    state.hooks.remove(i);
                    ResponseTemplate::new(204)
                }
                None => not_found(),
            },
            _ => not_found(),
        }
    }
}

fn find(state: &State, owner: &str, id: &str) -> Option<usize> {
    let id: u64 = id.parse().ok()?;
    state
        .hooks
        .iter()
        .position(|h| h.owner == owner && h.id == id)
}

impl Responder {
    fn list(&self, state: &State, owner: &str, recorded: &Recorded) -> ResponseTemplate {
        let per_page = recorded
            .query_param("per_page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page = recorded
            .query_param("page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let hooks: Vec<Value> = state
            .hooks
            .iter()
            .filter(|h| h.owner == owner)
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|h| h.json(&self.api))
            .collect();
        ResponseTemplate::new(200).set_body_json(Value::Array(hooks))
    }

    fn create(&self, state: &mut State, owner: &str, recorded: &Recorded) -> ResponseTemplate {
        let body = recorded.json();
        if !body.is_object() {
            return message(400, "Problems parsing JSON");
        }
        if let Some(name) = body.get("name")
            && name != "web"
        {
            return validation("Name must be \"web\"");
        }
        let config = match HookConfig::read(&body, state, owner, None) {
            Ok(config) => config,
            Err(e) => return e,
        };
        let events = match events(&body) {
            Ok(events) => events.unwrap_or_else(|| vec!["push".to_owned()]),
            Err(e) => return e,
        };
        state.next_id += 1;
        let hook = Hook {
            id: 480_000_000 + state.next_id,
            owner: owner.to_owned(),
            url: config.url,
            content_type: config.content_type,
            secret: config.secret,
            events,
            active: body.get("active").and_then(Value::as_bool).unwrap_or(true),
        };
        let out = hook.json(&self.api);
        state.hooks.push(hook);
        ResponseTemplate::new(201).set_body_json(out)
    }

    /// `PATCH .../hooks/{id}` of the hook at `index`.
    fn update(&self, state: &mut State, index: usize, recorded: &Recorded) -> ResponseTemplate {
        let body = recorded.json();
        if !body.is_object() {
            return message(400, "Problems parsing JSON");
        }
        let owner = state.hooks[index].owner.clone();
        let config = if body.get("config").is_some() {
            match HookConfig::read(&body, state, &owner, Some(index)) {
                Ok(config) => Some(config),
                Err(e) => return e,
            }
        } else {
            None
        };
        let events = match events(&body) {
            Ok(events) => events,
            Err(e) => return e,
        };
        let active = match body.get("active") {
            None => None,
            Some(Value::Bool(active)) => Some(*active),
            Some(_) => return validation("Active must be a boolean"),
        };
        let gives_secret = body["config"].get("secret").is_some();
        let hook = &mut state.hooks[index];
        if let Some(config) = config {
            hook.url = config.url;
            hook.content_type = config.content_type;
            // A config without a secret keeps the hook's (the mock's reading).
            if gives_secret {
                hook.secret = config.secret;
            }
        }
        if let Some(events) = events {
            hook.events = events;
        }
        if let Some(active) = active {
            hook.active = active;
        }
        ResponseTemplate::new(200).set_body_json(hook.json(&self.api))
    }
}

/// A hook's `config`, as a create or an update gives it.
struct HookConfig {
    url: String,
    content_type: String,
    secret: Option<String>,
}

impl HookConfig {
    /// `body.config`, checked as GitHub does; its URL must not be another hook's of
    /// `owner` (the hook at `keep` being updated may keep its own).
    fn read(
        body: &Value,
        state: &State,
        owner: &str,
        keep: Option<usize>,
    ) -> Result<Self, ResponseTemplate> {
        let Some(config) = body.get("config").and_then(Value::as_object) else {
            return Err(validation("Config must be an object"));
        };
        let Some(url) = config.get("url").and_then(Value::as_str) else {
            return Err(validation("Config url can't be blank"));
        };
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => return Err(validation("Config url is not a valid URL")),
        }
        let content_type = match config.get("content_type").and_then(Value::as_str) {
            None | Some("form") => "form",
            Some("json") => "json",
            Some(_) => return Err(validation("Config content_type must be json or form")),
        };
        let taken = state
            .hooks
            .iter()
            .enumerate()
            .any(|(i, h)| Some(i) != keep && h.owner == owner && h.url == url);
        if taken {
            let place = if owner.starts_with("orgs/") {
                "organization"
            } else {
                "repository"
            };
            return Err(validation(&format!("Hook already exists on this {place}")));
        }
        Ok(Self {
            url: url.to_owned(),
            content_type: content_type.to_owned(),
            secret: config
                .get("secret")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        })
    }
}

/// `body.events`, when given.
fn events(body: &Value) -> Result<Option<Vec<String>>, ResponseTemplate> {
    match body.get("events") {
        None => Ok(None),
        Some(Value::Array(events)) => Ok(Some(
            events
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        )),
        Some(_) => Err(validation("Events must be an array")),
    }
}

impl GitHubHooks {
    /// Serves webhook administration on `api`'s server (with `api`'s accepted tokens),
    /// ahead of its other routes.
    pub async fn mount(api: &GitHubApi) -> Self {
        let hooks = Self {
            state: Arc::new(Mutex::new(State::default())),
            journal: Journal::default(),
        };
        let base = api.api_base_url();
        let prefix = base
            .strip_prefix(&api.web_base_url())
            .unwrap_or_default()
            .to_owned();
        Mock::given(path_regex(format!(
            "^{prefix}/(repos/[^/]+/[^/]+|orgs/[^/]+)/hooks(/[^/]+)?$"
        )))
        .respond_with(Responder {
            state: hooks.state.clone(),
            tokens: api.tokens().clone(),
            journal: hooks.journal.clone(),
            prefix,
            api: base,
        })
        .with_priority(1)
        .named("github hooks")
        .mount(api.provider().server())
        .await;
        hooks
    }

    /// Makes `owner/repo` a repository whose hooks the token may manage.
    pub fn add_repo(&self, owner: &str, repo: &str) {
        lock(&self.state)
            .owners
            .insert(format!("repos/{owner}/{repo}"));
    }

    /// Makes `org` an organization whose hooks the token may manage.
    pub fn add_org(&self, org: &str) {
        lock(&self.state).owners.insert(format!("orgs/{org}"));
    }

    /// The token loses admin rights: every hook request answers 404, as GitHub does.
    pub fn deny_admin(&self) {
        lock(&self.state).not_admin = true;
    }

    /// The hooks registered, as GitHub lists them, plus the owner (`repos/o/r`,
    /// `orgs/o`) and the secret the mock keeps (never shown by GitHub).
    pub fn hooks(&self) -> Vec<Value> {
        lock(&self.state)
            .hooks
            .iter()
            .map(|h| {
                let mut v = h.json("");
                v["owner"] = json!(h.owner);
                v["secret"] = json!(h.secret);
                v
            })
            .collect()
    }

    /// Adds a hook as if made in GitHub's settings for `owner` (`repos/o/r` or `orgs/o`),
    /// active, for the `push` event; returns its id.
    pub fn add_hook(&self, owner: &str, url: &str, secret: Option<&str>) -> u64 {
        let mut state = lock(&self.state);
        state.next_id += 1;
        let id = 480_000_000 + state.next_id;
        state.hooks.push(Hook {
            id,
            owner: owner.to_owned(),
            url: url.to_owned(),
            content_type: "form".to_owned(),
            secret: secret.map(str::to_owned),
            events: vec!["push".to_owned()],
            active: true,
        });
        id
    }

    /// Deactivates a hook, as its settings page does.
    pub fn deactivate_hook(&self, id: u64) {
        if let Some(hook) = lock(&self.state).hooks.iter_mut().find(|h| h.id == id) {
            hook.active = false;
        }
    }

    /// Deletes a hook as if removed in GitHub's settings.
    pub fn remove_hook(&self, id: u64) {
        lock(&self.state).hooks.retain(|h| h.id != id);
    }

    /// Every hook request received.
    pub fn requests(&self) -> Vec<Recorded> {
        self.journal.all()
    }
}
