//! [`GitHubSyncApi`]: the parts of GitHub's REST API a sync reads, on github.com (`/`) or
//! GitHub Enterprise Server (`/api/v3`).
//!
//! * `GET /repos/{owner}/{repo}/issues?state=all&sort=&direction=&since=&per_page=&page=`:
//!   issues **and pull requests** (those carry a `pull_request` key); `since` keeps
//!   items updated at or after it; `state` defaults to `open`, `sort` to `created`,
//!   `direction` to `desc`, `per_page` to 30 (at most 100).
//! * `GET /repos/{owner}/{repo}/pulls?state=all&sort=created|updated&direction=&per_page=&page=`:
//!   pull requests only, no `since`.
//!
//! As GitHub does, it refuses requests without `User-Agent` (403); answers `Bad
//! credentials` (401) to an unknown token; paginates with a `Link` header (`next`,
//! `last`, `first`, `prev`); sends an `ETag` and answers `304 Not Modified` with no body
//! to a matching `If-None-Match`, **without counting it against the rate limit**; sends
//! `x-ratelimit-{limit,remaining,used,reset,resource}` on every answer; signals the
//! primary limit with 403 and `x-ratelimit-remaining: 0` plus `x-ratelimit-reset` (epoch
//! seconds), and a secondary limit with 403, a "secondary rate limit" message and
//! `retry-after` (seconds).
//!
//! Served beside a [`GitHubMock`] ([`GitHubSyncApi::serve_with`]), it also takes the
//! installation tokens that mock mints, for the repositories each reaches: another
//! repository is `404 Not Found` to it, as GitHub answers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use integrations_core::host::Clock;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::sync_common::{Faults, MockClock, SyncFault, hang, next_serial, stamp};
use super::{Auth, Journal, Recorded, Scheme, Tokens, lock};
use crate::mock::MockProvider;
use crate::mock::oauth::GitHubMock;
use crate::mock::oauth::github::Reach;

/// What an installation token reaches, from the App mock that minted it.
type Installations = Arc<dyn Fn(&str) -> Option<Reach> + Send + Sync>;

#[derive(Debug, Clone)]
struct Item {
    number: u64,
    title: String,
    state: &'static str,
    pull: bool,
    created: u64,
    updated: u64,
}

#[derive(Debug, Default)]
struct State {
    repos: BTreeMap<String, Vec<Item>>,
    /// Repositories renamed or transferred: the old name, and the numeric id GitHub's
    /// redirect names.
    moved: BTreeMap<String, u64>,
    serial: u64,
    faults: Faults,
    /// Repositories whose issues are turned off.
    no_issues: std::collections::BTreeSet<String>,
    /// Repositories whose lists answer `403` with this message.
    forbidden: BTreeMap<String, String>,
    /// Requests counted against the primary limit.
    used: u64,
    /// Answers `304 Not Modified`.
    not_modified: u64,
    follow: Option<MockClock>,
}

struct Responder {
    state: Arc<Mutex<State>>,
    tokens: Tokens,
    installations: Option<Installations>,
    journal: Journal,
    clock: MockClock,
    api: String,
    origin: String,
    prefix: &'static str,
}

fn message(status: u16, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "message": text,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.to_string(),
    }))
}

fn validation_failed(field: &str) -> ResponseTemplate {
    ResponseTemplate::new(422).set_body_json(json!({
        "message": "Validation Failed",
        "errors": [{"resource": "Issue", "field": field, "code": "invalid"}],
        "documentation_url": "https://docs.github.com/rest",
        "status": "422",
    }))
}

impl Responder {
    fn issue_json(&self, repo: &str, item: &Item) -> Value {
        let mut out = json!({
            "id": 1_000_000 + item.number,
            "node_id": format!("I_kwDOA{}", item.number),
            "number": item.number,
            "title": item.title,
            "state": item.state,
            "user": {"login": "octocat", "id": 1, "type": "User"},
            "url": format!("{}/repos/{repo}/issues/{}", self.api, item.number),
            "html_url": format!("https://github.com/{repo}/issues/{}", item.number),
            "created_at": stamp(item.created, false),
            "updated_at": stamp(item.updated, false),
            "closed_at": (item.state == "closed").then(|| stamp(item.updated, false)),
        });
        if item.pull {
            out["pull_request"] = json!({
                "url": format!("{}/repos/{repo}/pulls/{}", self.api, item.number),
                "html_url": format!("https://github.com/{repo}/pull/{}", item.number),
                "merged_at": null,
            });
        }
        out
    }

    fn pull_json(&self, repo: &str, item: &Item) -> Value {
        json!({
            "id": 2_000_000 + item.number,
            "node_id": format!("PR_kwDOA{}", item.number),
            "number": item.number,
            "state": item.state,
            "title": item.title,
            "draft": false,
            "user": {"login": "octocat", "id": 1, "type": "User"},
            "url": format!("{}/repos/{repo}/pulls/{}", self.api, item.number),
            "html_url": format!("https://github.com/{repo}/pull/{}", item.number),
            "head": {"ref": format!("feature-{}", item.number)},
            "base": {"ref": "main"},
            "created_at": stamp(item.created, false),
            "updated_at": stamp(item.updated, false),
            "merged_at": null,
        })
    }

    fn limit_headers(&self, template: ResponseTemplate, used: u64) -> ResponseTemplate {
        let reset = self.clock.now().unix_seconds() + 3600;
        template
            .insert_header("x-ratelimit-limit", "5000")
            .insert_header(
                "x-ratelimit-remaining",
                (5000 - used.min(5000)).to_string().as_str(),
            )
            .insert_header("x-ratelimit-used", used.to_string().as_str())
            .insert_header("x-ratelimit-reset", reset.to_string().as_str())
            .insert_header("x-ratelimit-resource", "core")
    }

    fn fault(&self, fault: SyncFault) -> ResponseTemplate {
        let now = self.clock.now();
        match fault {
            SyncFault::RateLimited(wait) => {
                let reset = now.saturating_add(wait).unix_seconds();
                message(
                    403,
                    "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
                )
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-used", "5000")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .insert_header("x-ratelimit-resource", "core")
            }
            SyncFault::SecondaryLimit(wait) => message(
                403,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            )
            .insert_header("retry-after", wait.as_secs().to_string().as_str()),
            SyncFault::ServerError => message(502, "Server Error"),
            SyncFault::Hang => hang(),
        }
    }

    fn list(&self, recorded: &Recorded, repo: &str, pulls: bool) -> ResponseTemplate {
        let q = |name: &str| recorded.query_param(name);
        let state_filter = q("state").unwrap_or("open");
        if !["open", "closed", "all"].contains(&state_filter) {
            return validation_failed("state");
        }
        let sort = q("sort").unwrap_or("created");
        if !["created", "updated"].contains(&sort) {
            return validation_failed("sort");
        }
        let ascending = match q("direction") {
            None | Some("desc") => false,
            Some("asc") => true,
            Some(_) => return validation_failed("direction"),
        };
        let per_page = match q("per_page").map(str::parse::<usize>) {
            None => 30,
            Some(Ok(n)) => n.clamp(1, 100),
            Some(Err(_)) => return validation_failed("per_page"),
        };
        let page = match q("page").map(str::parse::<usize>) {
            None => 1,
            Some(Ok(n)) if n >= 1 => n,
            Some(_) => return validation_failed("page"),
        };
        let since = if pulls { None } else { q("since") };
        if since.is_some_and(|s| !s.ends_with('Z') || s.len() < 20) {
            return validation_failed("since");
        }
        let mut state = lock(&self.state);
        if let Some(id) = state.moved.get(repo) {
            // GitHub answers a renamed or transferred repository's old name with a
            // permanent redirect to the repository's id.
            let kind = if pulls { "pulls" } else { "issues" };
            let location = format!("{}/repositories/{id}/{kind}", self.api);
            return ResponseTemplate::new(301)
                .insert_header("location", location.as_str())
                .set_body_json(json!({
                    "message": "Moved Permanently",
                    "url": location,
                    "documentation_url": "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects",
                }));
        }
        let Some(items) = state.repos.get(repo) else {
            return message(404, "Not Found");
        };
        if let Some(refusal) = state.forbidden.get(repo) {
            return message(403, refusal);
        }
        if !pulls && state.no_issues.contains(repo) {
            return message(410, "Issues are disabled for this repo");
        }
        let mut selected: Vec<Item> = items
            .iter()
            .filter(|i| !pulls || i.pull)
            .filter(|i| state_filter == "all" || i.state == state_filter)
            .filter(|i| since.is_none_or(|s| stamp(i.updated, false).as_str() >= s))
            .cloned()
            .collect();
        selected.sort_by_key(|i| {
            let key = if sort == "updated" {
                i.updated
            } else {
                i.created
            };
            (key, i.number)
        });
        if !ascending {
            selected.reverse();
        }
        let last = selected.len().div_ceil(per_page).max(1);
        let body: Vec<Value> = selected
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|i| {
                if pulls {
                    self.pull_json(repo, i)
                } else {
                    self.issue_json(repo, i)
                }
            })
            .collect();
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let digest = Sha256::digest(&body)
            .iter()
            .take(12)
            .fold(String::new(), |mut out, b| {
                let _ = write!(out, "{b:02x}");
                out
            });
        let etag = format!("W/\"{digest}\"");
        if recorded.header("if-none-match") == Some(etag.as_str()) {
            // Not counted against the limit.
            state.not_modified += 1;
            let used = state.used;
            drop(state);
            return self
                .limit_headers(ResponseTemplate::new(304), used)
                .insert_header("etag", etag.as_str());
        }
        state.used += 1;
        state.faults.pages += 1;
        let used = state.used;
        drop(state);
        let link_to = |n: usize| {
            let mut url = url::Url::parse(&format!("{}{}", self.origin, recorded.path))
                .unwrap_or_else(|_| unreachable!("the mock's own URL parses"));
            {
                let mut pairs = url.query_pairs_mut();
                for (k, v) in recorded.query.iter().filter(|(k, _)| k != "page") {
                    pairs.append_pair(k, v);
                }
                pairs.append_pair("page", &n.to_string());
            }
            url.to_string()
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(format!("<{}>; rel=\"prev\"", link_to(page - 1)));
        }
        if page < last {
            links.push(format!("<{}>; rel=\"next\"", link_to(page + 1)));
            links.push(format!("<{}>; rel=\"last\"", link_to(last)));
        }
        if page > 1 {
            links.push(format!("<{}>; rel=\"first\"", link_to(1)));
        }
        let mut template = ResponseTemplate::new(200)
            .set_body_raw(body, "application/json; charset=utf-8")
            .insert_header("etag", etag.as_str());
        if !links.is_empty() {
            template = template.insert_header("link", links.join(", ").as_str());
        }
        self.limit_headers(template, used)
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
        let rest = recorded
            .path
            .strip_prefix(self.prefix)
            .and_then(|p| p.strip_prefix("/repos/"))
            .unwrap_or("");
        let parts: Vec<&str> = rest.split('/').collect();
        let route = match parts.as_slice() {
            [owner, name, "issues"] => Some((format!("{owner}/{name}"), false)),
            [owner, name, "pulls"] => Some((format!("{owner}/{name}"), true)),
            _ => None,
        };
        // Credentials first, as GitHub checks them.
        let reach = if self.tokens.check(request) == Auth::Valid {
            None
        } else {
            let reach = self
                .installations
                .as_ref()
                .zip(crate::mock::oauth::bearer(request))
                .and_then(|(reach, token)| reach(&token));
            if reach.is_none() {
                return message(401, "Bad credentials");
            }
            reach
        };
        let Some((repo, pulls)) = route else {
            return message(404, "Not Found");
        };
        // GitHub hides a (private) repository an installation token cannot read.
        if reach.is_some_and(|reach| !reach.reaches(&repo)) {
            return message(404, "Not Found");
        }
        if let Some(fault) = lock(&self.state).faults.take() {
            return self.fault(fault);
        }
        self.list(&recorded, &repo, pulls)
    }
}

/// GitHub's sync-facing REST API on loopback.
#[derive(Debug)]
pub struct GitHubSyncApi {
    provider: MockProvider,
    clock: MockClock,
    state: Arc<Mutex<State>>,
    tokens: Tokens,
    journal: Journal,
    prefix: &'static str,
}

impl GitHubSyncApi {
    async fn start(clock: Arc<dyn Clock>, enterprise: bool) -> Self {
        let provider = MockProvider::start().await;
        let prefix = if enterprise { "/api/v3" } else { "" };
        let state = Arc::new(Mutex::new(State::default()));
        let tokens = Tokens::new();
        let journal = Journal::default();
        Mock::given(method("GET"))
            .and(path_regex(format!(
                r"^{prefix}/repos/[^/]+/[^/]+/(issues|pulls)$"
            )))
            .respond_with(Responder {
                state: state.clone(),
                tokens: tokens.clone(),
                installations: None,
                journal: journal.clone(),
                clock: MockClock(Some(clock.clone())),
                api: format!("{}{prefix}", provider.uri()),
                origin: provider.uri(),
                prefix,
            })
            .named("github rest sync")
            .mount(provider.server())
            .await;
        Self {
            provider,
            clock: MockClock(Some(clock)),
            state,
            tokens,
            journal,
            prefix,
        }
    }

    /// Serves this API on `app`'s server too (github.com's paths), so one base URL
    /// answers the App's endpoints (installation tokens, `/installation/repositories`) and
    /// the issues and pull requests, as github.com does; there it also takes every live
    /// installation token `app` minted, for the repositories that token reaches, and the
    /// user and OAuth access tokens `app` issued and has not rotated away, for every
    /// repository. Point
    /// the target's `api_base_url` at [`GitHubMock::uri`]; repositories are still made
    /// here ([`create_repo`](Self::create_repo), [`add`](Self::add)), by their full name.
    ///
    /// # Panics
    ///
    /// For an API of a GitHub Enterprise Server (the App mock is github.com's).
    pub async fn serve_with(&self, app: &GitHubMock) {
        assert!(
            self.prefix.is_empty(),
            "the App mock serves github.com's paths"
        );
        self.tokens.accept_issued_by(app.live_user_access());
        Mock::given(method("GET"))
            .and(path_regex(r"^/repos/[^/]+/[^/]+/(issues|pulls)$"))
            .respond_with(Responder {
                state: self.state.clone(),
                tokens: self.tokens.clone(),
                installations: Some(Arc::new(app.installation_reach())),
                journal: self.journal.clone(),
                clock: self.clock.clone(),
                api: app.uri(),
                origin: app.uri(),
                prefix: "",
            })
            .named("github rest sync (served with the App mock)")
            .mount(app.provider().server())
            .await;
    }

    /// github.com's API (paths at the root).
    pub async fn cloud(clock: Arc<dyn Clock>) -> Self {
        Self::start(clock, false).await
    }

    /// A GitHub Enterprise Server's API (paths under `/api/v3`).
    pub async fn enterprise_server(clock: Arc<dyn Clock>) -> Self {
        Self::start(clock, true).await
    }

    /// The API base URL (the target's `api_base_url`).
    pub fn base_url(&self) -> String {
        format!("{}{}", self.provider.uri(), self.prefix)
    }

    /// The server's URL (a GHES target's `web_base_url`: its API is under `/api/v3`).
    pub fn server_url(&self) -> String {
        self.provider.uri()
    }

    /// Accepts a token (`Bearer` or `token`).
    pub fn accept_token(&self, token: &str) {
        self.tokens.accept(token, Scheme::BearerOrToken);
    }

    /// The accepted tokens (revoke them to model a revoked connection).
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// Renames `repo` to `to` (both `owner/name`), as a rename or a transfer does: its
    /// items move to the new name, and lists of the old one answer `301 Moved
    /// Permanently` with a `Location` naming the repository by id.
    ///
    /// # Panics
    ///
    /// For an unknown repository.
    pub fn move_repo(&self, repo: &str, to: &str) {
        let mut state = lock(&self.state);
        let items = state.repos.remove(repo).expect("a repository of the mock");
        state.repos.insert(to.to_owned(), items);
        let id = 100_000 + state.moved.len() as u64;
        state.moved.insert(repo.to_owned(), id);
    }

    /// Turns `repo`'s issues off (as forks start): its issue list answers `410 Gone`
    /// ("Issues are disabled for this repo"); its pull requests stay. `enable_issues`
    /// turns them back on.
    pub fn disable_issues(&self, repo: &str) {
        lock(&self.state).no_issues.insert(repo.to_owned());
    }

    /// Makes `repo`'s lists answer `403 Forbidden` with `refusal` as GitHub's message, as
    /// GitHub refuses a token it does not let read the repository:
    /// "Resource not accessible by integration" (an App or fine-grained token without
    /// the permission), or an organization's SAML enforcement.
    pub fn forbid(&self, repo: &str, refusal: &str) {
        lock(&self.state)
            .forbidden
            .insert(repo.to_owned(), refusal.to_owned());
    }

    /// Turns `repo`'s issues back on.
    pub fn enable_issues(&self, repo: &str) {
        lock(&self.state).no_issues.remove(repo);
    }

    /// Creates an empty repository (`owner/name`); lists of an unknown one answer 404.
    pub fn create_repo(&self, repo: &str) {
        lock(&self.state).repos.entry(repo.to_owned()).or_default();
    }

    /// Adds `count` issues (or pull requests) to `repo` (`owner/name`) and returns their
    /// numbers.
    pub fn add(&self, repo: &str, count: usize, pulls: bool) -> Vec<u64> {
        let mut state = lock(&self.state);
        (0..count)
            .map(|_| {
                state.serial = next_serial(state.serial, state.follow.as_ref());
                let serial = state.serial;
                let items = state.repos.entry(repo.to_owned()).or_default();
                let number = items.len() as u64 + 1;
                items.push(Item {
                    number,
                    title: format!("Item {number}"),
                    state: "open",
                    pull: pulls,
                    created: serial,
                    updated: serial,
                });
                number
            })
            .collect()
    }

    fn edit(&self, repo: &str, number: u64, change: impl FnOnce(&mut Item)) {
        let mut state = lock(&self.state);
        state.serial = next_serial(state.serial, state.follow.as_ref());
        let serial = state.serial;
        let item = state
            .repos
            .get_mut(repo)
            .and_then(|items| items.iter_mut().find(|i| i.number == number))
            .unwrap_or_else(|| panic!("no item {repo}#{number}"));
        change(item);
        item.updated = serial;
    }

    /// Edits an item's title (its `updated_at` moves).
    ///
    /// # Panics
    ///
    /// For an unknown item.
    pub fn update(&self, repo: &str, number: u64, title: &str) {
        self.edit(repo, number, |i| title.clone_into(&mut i.title));
    }

    /// Closes an item.
    ///
    /// # Panics
    ///
    /// For an unknown item.
    pub fn close(&self, repo: &str, number: u64) {
        self.edit(repo, number, |i| i.state = "closed");
    }

    /// Deletes an issue, as an administrator can: it vanishes from every list, with no
    /// trace a sync could read.
    pub fn delete(&self, repo: &str, number: u64) {
        if let Some(items) = lock(&self.state).repos.get_mut(repo) {
            items.retain(|i| i.number != number);
        }
    }

    /// From now on, stamps each change with `clock`'s time (or one second after the last
    /// change, if later), as the provider does with its own clock; by default changes are
    /// one second apart from 2026-11-01T00:00:00Z whatever the clock says.
    pub fn follow_clock(&self, clock: Arc<dyn Clock>) {
        lock(&self.state).follow = Some(MockClock(Some(clock)));
    }

    /// The next `count` list calls get `fault`.
    pub fn fail_next(&self, count: usize, fault: SyncFault) {
        lock(&self.state).faults.next_for(count, fault);
    }

    /// After `pages` more pages are served, the next list call gets `fault`.
    pub fn fail_after_pages(&self, pages: u64, fault: SyncFault) {
        lock(&self.state).faults.after_pages(pages, fault);
    }

    /// Serves normally again.
    pub fn heal(&self) {
        lock(&self.state).faults.clear();
    }

    /// List calls received (failed ones and `304`s included).
    pub fn calls(&self) -> u64 {
        lock(&self.state).faults.calls
    }

    /// Requests counted against the primary rate limit (`304`s are not).
    pub fn rate_limit_used(&self) -> u64 {
        lock(&self.state).used
    }

    /// `304 Not Modified` answers given.
    pub fn not_modified(&self) -> u64 {
        lock(&self.state).not_modified
    }

    /// Every request received.
    pub fn requests(&self) -> Vec<Recorded> {
        self.journal.all()
    }
}
