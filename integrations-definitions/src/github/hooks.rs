//! Managed webhooks for GitHub personal-access-token and OAuth connections: a repository
//! hook (`/repos/{owner}/{repo}/hooks`) or an organization hook (`/orgs/{org}/hooks`),
//! named by the connection's config
//! ([`GitHubConnectionConfig`]).
//!
//! The hook is `web`, active, JSON, signed with the secret the SDK generated (GitHub
//! never shows a secret again: it answers `********`), for the `issues`,
//! `pull_request`, `issue_comment`, `pull_request_review` and
//! `pull_request_review_comment` events (the last two resume agent sessions on a pull
//! request's reviews, as the handler's dispatch does). An existing hook is found by its
//! `config.url` in `GET .../hooks`; a create racing another answers 422 `Hook already
//! exists`, after which the list is read again. A hook found is kept and brought up to
//! date (`PATCH`: active, the events, the config with the connection's secret), since
//! its secret cannot be read back: one deactivated in GitHub's settings, or left from a
//! registration whose secret was since deleted, works again. Deleting an unknown hook
//! answers 404, which is [`HookRemoval::AlreadyGone`].
//!
//! A hook's place (`repos/{owner}/{repo}` or `orgs/{org}`) is recorded with it
//! ([`RegisteredHook::place`]): deleting looks there, so a hook is found even after the
//! connection's config came to name another repository, and the managed layer deletes
//! the hook a connection left at its previous place when it registers at a new one.
//!
//! GitHub App installations have nothing to register: an App's webhook is configured
//! once, on the App, and delivers for every installation.

use async_trait::async_trait;
use http::{Method, StatusCode};
use integrations_core::host::HttpResponse;
use integrations_core::plan::CredentialSelector;
use integrations_core::schema::UrlBuilder;
use integrations_core::tools::request as bare_request;
use integrations_core::tools::{RequestAuth, json_request, status_error};
use integrations_core::webhook::{HookRemoval, HookRequest, RegisteredHook, WebhookRegistrar};
use integrations_core::{Error, Secret};
use serde::Deserialize;
use serde_json::json;

use super::GitHub;
use super::schemas::GitHubConnectionConfig;

/// The events a managed hook subscribes to.
pub const EVENTS: &[&str] = &[
    "issues",
    "pull_request",
    "issue_comment",
    "pull_request_review",
    "pull_request_review_comment",
];

/// The most pages of hooks looked through (100 a page).
const MAX_PAGES: u32 = 10;

/// The GitHub registrar.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct GitHubHooks;

fn auth(selector: &CredentialSelector) -> RequestAuth {
    RequestAuth::bearer(selector.clone())
}

fn unexpected() -> Error {
    crate::codes::webhook::UNEXPECTED_RESPONSE
        .error("GitHub answered with a body that is not the hook expected")
}

/// Where a hook lives: a repository's hooks or an organization's.
enum Place {
    Repository { owner: String, name: String },
    Organization(String),
}

impl Place {
    /// The place the connection's config names.
    fn configured(request: &HookRequest<'_>) -> Result<Self, Error> {
        let config = request.connection_config.get::<GitHubConnectionConfig>()?;
        match (&config.webhook_repository, &config.webhook_organization) {
            (Some(repo), None) => Ok(Self::Repository {
                owner: repo.owner().to_owned(),
                name: repo.name().to_owned(),
            }),
            (None, Some(org)) => Ok(Self::Organization(org.clone())),
            _ => Err(crate::codes::github::WEBHOOK_TARGET_MISSING.error(
                "the connection's config names no webhook_repository or webhook_organization (exactly one)",
            )),
        }
    }

    /// The place a hook was recorded at ([`Place::as_recorded`]), else the configured one.
    fn of(request: &HookRequest<'_>) -> Result<Self, Error> {
        let Some(recorded) = request.place else {
            return Self::configured(request);
        };
        let parts: Vec<&str> = recorded.split('/').collect();
        match parts.as_slice() {
            ["repos", owner, name] if !owner.is_empty() && !name.is_empty() => {
                Ok(Self::Repository {
                    owner: (*owner).to_owned(),
                    name: (*name).to_owned(),
                })
            }
            ["orgs", org] if !org.is_empty() => Ok(Self::Organization((*org).to_owned())),
            _ => Err(unexpected_place()),
        }
    }

    /// `repos/{owner}/{repo}` or `orgs/{org}`, as recorded with the hook.
    fn as_recorded(&self) -> String {
        match self {
            Self::Repository { owner, name } => format!("repos/{owner}/{name}"),
            Self::Organization(org) => format!("orgs/{org}"),
        }
    }

    /// Its hooks collection URL (`repos/{owner}/{repo}/hooks` or `orgs/{org}/hooks`).
    fn collection(&self, request: &HookRequest<'_>) -> Result<UrlBuilder, Error> {
        let github = if request.connection.key.variant() == "github-enterprise-server" {
            GitHub::enterprise_server()
        } else {
            GitHub::cloud()
        };
        let api = github.endpoints(request.target_config)?.api;
        Ok(match self {
            Self::Repository { owner, name } => api
                .url()
                .path("repos")
                .arg("/webhook_repository", owner)
                .arg("/webhook_repository", name)
                .path("hooks"),
            Self::Organization(org) => api
                .url()
                .path("orgs")
                .arg("/webhook_organization", org)
                .path("hooks"),
        })
    }
}

fn unexpected_place() -> Error {
    crate::codes::webhook::UNEXPECTED_RESPONSE
        .error("the hook's recorded place is not a GitHub repository or organization")
}

/// The hooks collection URL of the place the request names (see [`Place::of`]).
fn collection(request: &HookRequest<'_>) -> Result<UrlBuilder, Error> {
    Place::of(request)?.collection(request)
}

/// The error an answer means, when it is not a success.
fn failure(request: &HookRequest<'_>, response: &HttpResponse) -> Error {
    if let Some(temporary) =
        super::http_errors::transient(response, "managing a webhook", request.now)
    {
        return temporary;
    }
    status_error(response.status())
}

#[derive(Deserialize)]
struct HookConfig {
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct Hook {
    id: u64,
    #[serde(default)]
    config: Option<HookConfig>,
}

#[derive(Deserialize)]
struct ValidationError {
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct Validation {
    #[serde(default)]
    errors: Vec<ValidationError>,
}

/// The id of the hook delivering to `target`, if there is one.
async fn find(request: &HookRequest<'_>, target: &str) -> Result<Option<String>, Error> {
    find_where(request, |h| {
        h.config.as_ref().and_then(|c| c.url.as_deref()) == Some(target)
    })
    .await
}

/// The id of the first listed hook `wanted` picks, if there is one.
async fn find_where(
    request: &HookRequest<'_>,
    wanted: impl Fn(&Hook) -> bool,
) -> Result<Option<String>, Error> {
    for page in 1..=MAX_PAGES {
        let mut list_url = collection(request)?.build()?;
        list_url
            .query_pairs_mut()
            .append_pair("per_page", "100")
            .append_pair("page", &page.to_string());
        let response = request
            .http
            .send(request_get(&list_url)?, &auth(request.credential))
            .await?;
        if !response.status().is_success() {
            return Err(failure(request, &response));
        }
        let hooks: Vec<Hook> = serde_json::from_slice(response.body()).map_err(|_| unexpected())?;
        let count = hooks.len();
        if let Some(hook) = hooks.into_iter().find(|h| wanted(h)) {
            return Ok(Some(hook.id.to_string()));
        }
        if count < 100 {
            return Ok(None);
        }
    }
    Ok(None)
}

/// The hook's body: what a create sends, and what an update of a kept hook sets.
fn hook_body(request: &HookRequest<'_>, secret: &Secret) -> serde_json::Value {
    json!({
        "active": true,
        "events": EVENTS,
        "config": {
            "url": request.url,
            "content_type": "json",
            "insecure_ssl": "0",
            "secret": secret.expose(),
        },
    })
}

/// Keeps the hook `id`, brought to [`hook_body`].
async fn keep(
    request: &HookRequest<'_>,
    id: String,
    secret: &Secret,
) -> Result<RegisteredHook, Error> {
    let place = Place::of(request)?;
    let target = place.collection(request)?.arg("", &id).build()?;
    let update = json_request(Method::PATCH, target.as_str(), &hook_body(request, secret))?;
    let response = request.http.send(update, &auth(request.credential)).await?;
    if response.status() != StatusCode::OK {
        return Err(failure(request, &response));
    }
    Ok(RegisteredHook::existing(id).at(place.as_recorded()))
}

fn request_get(url: &url::Url) -> Result<integrations_core::host::HttpRequest, Error> {
    bare_request(Method::GET, url.as_str())
}

fn already_exists(response: &HttpResponse) -> bool {
    response.status() == StatusCode::UNPROCESSABLE_ENTITY
        && serde_json::from_slice::<Validation>(response.body()).is_ok_and(|v| {
            v.errors.iter().any(|e| {
                e.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("Hook already exists"))
            })
        })
}

#[async_trait]
impl WebhookRegistrar for GitHubHooks {
    async fn register(
        &self,
        request: &HookRequest<'_>,
        secret: &Secret,
    ) -> Result<RegisteredHook, Error> {
        if let Some(id) = find(request, request.url).await? {
            return keep(request, id, secret).await;
        }
        let mut body = hook_body(request, secret);
        body["name"] = json!("web");
        let create = json_request(Method::POST, collection(request)?.build()?.as_str(), &body)?;
        let response = request.http.send(create, &auth(request.credential)).await?;
        if already_exists(&response) {
            // Another registration won the race: use its hook.
            let id = find(request, request.url).await?.ok_or_else(unexpected)?;
            return keep(request, id, secret).await;
        }
        if response.status() != StatusCode::CREATED {
            return Err(failure(request, &response));
        }
        let hook: Hook = serde_json::from_slice(response.body()).map_err(|_| unexpected())?;
        Ok(RegisteredHook::created(hook.id.to_string()).at(Place::of(request)?.as_recorded()))
    }

    async fn unregister(
        &self,
        request: &HookRequest<'_>,
        hook_id: &str,
    ) -> Result<HookRemoval, Error> {
        let target = collection(request)?.arg("", hook_id).build()?;
        let response = request
            .http
            .send(
                bare_request(Method::DELETE, target.as_str())?,
                &auth(request.credential),
            )
            .await?;
        match response.status() {
            StatusCode::NO_CONTENT => Ok(HookRemoval::Deleted),
            // GitHub also answers 404 to a token without admin rights on the repository:
            // only a hook list that can be read and lacks the hook's id means it is gone
            // (a hook with its URL and another id, one registered since, is not it).
            StatusCode::NOT_FOUND => {
                match find_where(request, |h| h.id.to_string() == hook_id).await? {
                    Some(_) => Err(failure(request, &response)),
                    None => Ok(HookRemoval::AlreadyGone),
                }
            }
            _ => Err(failure(request, &response)),
        }
    }
}
