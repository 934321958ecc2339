//! [`GitHubApi`]: GitHub's REST API, on github.com (`/`) or GitHub Enterprise Server
//! (`/api/v3`).
//!
//! Like GitHub, it refuses requests without `User-Agent` (403) and with an
//! `X-GitHub-Api-Version` it does not know (400; a server knows fewer versions than
//! github.com); takes tokens as `Bearer` or `token`; answers `Bad credentials` (401) for
//! an unknown token and hides private repositories without one (404); paginates lists
//! with a `Link` header (`rel="next"`, `"last"`, ...); wraps search results in
//! `{total_count, incomplete_results, items}` and refuses (422) an issue search whose
//! query names neither `is:issue` nor `is:pull-request` (`is:pr`, `type:issue`,
//! `type:pr`); returns file contents base64-encoded in
//! 60-column lines (none over 1 MB: `encoding: "none"`), a directory as an array of
//! entries (the root at `/contents`, with or without a trailing slash; submodules listed
//! as `file`), a symlink as the file it points at or as itself (`target`), a submodule
//! with its `submodule_git_url`; and signals rate limits with 403 and
//! `x-ratelimit-remaining: 0` or a secondary-limit message with `retry-after`.

#![allow(
    clippy::result_large_err,
    reason = "the errors are the HTTP answers of a test mock, built once per request"
)]

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use wiremock::matchers::path_regex;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::{Auth, Journal, Recorded, Scheme, Tokens, lock};
use crate::mock::MockProvider;

/// A failure the mock returns for the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GitHubFailure {
    /// The primary limit: 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`.
    PrimaryRateLimit {
        /// When the limit resets, epoch seconds.
        reset_epoch_seconds: i64,
    },
    /// A secondary limit: 403 with a message and `retry-after`.
    SecondaryRateLimit {
        /// The `retry-after` seconds.
        retry_after_seconds: u64,
    },
    /// A `302 Found` to another address, as a proxy or a misconfigured GitHub Enterprise
    /// Server in front of the API answers (not a moved repository).
    Found {
        /// The `Location`.
        location: String,
    },
}

#[derive(Debug, Clone)]
struct Issue {
    number: u64,
    title: String,
    body: Option<String>,
    state: String,
    labels: Vec<String>,
    pull: Option<(String, String, bool)>,
}

/// A tree entry that is not a blob: what `contents` answers without `content`.
#[derive(Debug, Clone)]
enum Link {
    /// A symbolic link to this target (a path, relative to the link's directory).
    Symlink(String),
    /// A submodule cloned from this git URL.
    Submodule(String),
}

#[derive(Debug, Default)]
struct Repo {
    items: Vec<Issue>,
    comments: Vec<Value>,
    files: BTreeMap<String, Vec<u8>>,
    links: BTreeMap<String, Link>,
}

/// The largest file whose contents `contents` returns (1 MB); larger ones come with
/// `encoding: "none"` and empty `content`.
const CONTENTS_LIMIT: usize = 1024 * 1024;

/// A symlink's target resolved against the link's directory, when it stays inside the
/// repository (an absolute target points outside it, as on disk).
fn resolve(link: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for segment in target.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    Some(parts.join("/"))
}

#[derive(Debug, Default)]
struct State {
    repos: BTreeMap<(String, String), Repo>,
    /// Renamed or transferred repositories: the old name, and the repository's id.
    moved: BTreeMap<(String, String), u64>,
    fail_next: VecDeque<GitHubFailure>,
    serial: u64,
}

/// GitHub's REST API on loopback.
#[derive(Debug)]
pub struct GitHubApi {
    provider: MockProvider,
    state: Arc<Mutex<State>>,
    tokens: Tokens,
    journal: Journal,
    prefix: &'static str,
}

struct Responder {
    state: Arc<Mutex<State>>,
    tokens: Tokens,
    journal: Journal,
    web: String,
    api: String,
    prefix: &'static str,
    versions: &'static [&'static str],
    enterprise: bool,
}

fn percent_decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn message(status: u16, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "message": text,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.to_string(),
    }))
}

fn not_found() -> ResponseTemplate {
    message(404, "Not Found")
}

fn validation_failed(resource: &str, field: &str, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(422).set_body_json(json!({
        "message": "Validation Failed",
        "errors": [{"resource": resource, "field": field, "code": code}],
        "documentation_url": "https://docs.github.com/rest",
        "status": "422",
    }))
}

/// GitHub's refusal of an issue search that could return both issues and pull requests
/// (third-party reports quote its message; GitHub's REST docs do not show the body).
/// GitHub refuses it at least for fine-grained personal access tokens and GitHub App
/// tokens; the mock refuses it for every token, so a client that passes here passes
/// there.
fn untyped_search() -> ResponseTemplate {
    ResponseTemplate::new(422).set_body_json(json!({
        "message": "Validation Failed",
        "errors": [{
            "message": "Query must include 'is:issue' or 'is:pull-request'",
            "resource": "Search",
            "field": "q",
            "code": "invalid",
        }],
        "documentation_url": "https://docs.github.com/rest/search/search#search-issues-and-pull-requests",
        "status": "422",
    }))
}

impl Responder {
    fn issue_json(&self, owner: &str, repo: &str, issue: &Issue, serial: u64) -> Value {
        let kind = if issue.pull.is_some() {
            "pull"
        } else {
            "issues"
        };
        let mut out = json!({
            "id": 1_000_000 + issue.number,
            "node_id": format!("I_kwDOA{serial:04}{}", issue.number),
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "locked": false,
            "labels": issue.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
            "user": {"login": "octocat", "id": 1, "type": "User"},
            "comments": 0,
            "url": format!("{}/repos/{owner}/{repo}/issues/{}", self.api, issue.number),
            "repository_url": format!("{}/repos/{owner}/{repo}", self.api),
            "html_url": format!("{}/{owner}/{repo}/{kind}/{}", self.web, issue.number),
            "created_at": "2026-11-20T08:00:00Z",
            "updated_at": "2026-11-21T09:30:00Z",
        });
        if issue.pull.is_some() {
            out["pull_request"] = json!({
                "url": format!("{}/repos/{owner}/{repo}/pulls/{}", self.api, issue.number),
                "html_url": format!("{}/{owner}/{repo}/pull/{}", self.web, issue.number),
            });
        }
        out
    }

    fn pull_json(&self, owner: &str, repo: &str, issue: &Issue) -> Value {
        let (head, base, draft) = issue.pull.clone().unwrap_or_default();
        json!({
            "id": 2_000_000 + issue.number,
            "node_id": format!("PR_kwDOA{}", issue.number),
            "number": issue.number,
            "state": issue.state,
            "title": issue.title,
            "body": issue.body,
            "draft": draft,
            "user": {"login": "octocat", "id": 1, "type": "User"},
            "url": format!("{}/repos/{owner}/{repo}/pulls/{}", self.api, issue.number),
            "html_url": format!("{}/{owner}/{repo}/pull/{}", self.web, issue.number),
            "head": {"ref": head, "label": format!("{owner}:{head}"), "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e"},
            "base": {"ref": base, "label": format!("{owner}:{base}"), "sha": "9049f1265b7d61be4a8904a9a27120d2064dab3b"},
            "created_at": "2026-11-20T08:00:00Z",
            "updated_at": "2026-11-21T09:30:00Z",
            "merged_at": null,
        })
    }

    /// The blob SHA the mock gives `bytes`.
    fn blob_sha(bytes: &[u8], serial: u64) -> String {
        format!(
            "{:040x}",
            u64::try_from(bytes.len()).unwrap_or(0) * 7919 + serial
        )
    }

    /// The fields every `contents` object has: `name`, `path`, `sha`, `size` and the
    /// API, git, web and download URLs with their `_links`.
    fn entry_json(&self, owner: &str, repo: &str, path: &str, kind: &str, size: usize) -> Value {
        let name = path.rsplit('/').next().unwrap_or(path);
        let sha = format!("{:040x}", path.len() * 104_729 + size);
        let url = format!("{}/repos/{owner}/{repo}/contents/{path}?ref=main", self.api);
        let git_url = format!(
            "{}/repos/{owner}/{repo}/git/{}/{sha}",
            self.api,
            if kind == "dir" { "trees" } else { "blobs" }
        );
        let html_url = format!(
            "{}/{owner}/{repo}/{}/main/{path}",
            self.web,
            if kind == "dir" { "tree" } else { "blob" }
        );
        let download_url =
            (kind != "dir").then(|| format!("{}/{owner}/{repo}/raw/main/{path}", self.web));
        json!({
            "type": kind,
            "size": size,
            "name": name,
            "path": path,
            "sha": sha,
            "url": url,
            "git_url": git_url,
            "html_url": html_url,
            "download_url": download_url,
            "_links": {"self": url, "git": git_url, "html": html_url},
        })
    }

    /// A file: its contents base64-encoded in 60-column lines, or none over 1 MB.
    fn file_json(&self, owner: &str, repo: &str, path: &str, bytes: &[u8], serial: u64) -> Value {
        let mut out = self.entry_json(owner, repo, path, "file", bytes.len());
        out["sha"] = json!(Self::blob_sha(bytes, serial));
        if bytes.len() > CONTENTS_LIMIT {
            out["encoding"] = json!("none");
            out["content"] = json!("");
        } else {
            let encoded = STANDARD.encode(bytes);
            let mut content = String::new();
            for chunk in encoded.as_bytes().chunks(60) {
                content.push_str(&String::from_utf8_lossy(chunk));
                content.push('\n');
            }
            out["encoding"] = json!("base64");
            out["content"] = json!(content);
        }
        out
    }

    /// A symlink whose target is not a file of the repository, or a submodule: what it
    /// points at, without `content`.
    fn link_json(&self, owner: &str, repo: &str, path: &str, link: &Link) -> Value {
        match link {
            Link::Symlink(target) => {
                let mut out = self.entry_json(owner, repo, path, "symlink", target.len());
                out["target"] = json!(target);
                out
            }
            Link::Submodule(git_url) => {
                let mut out = self.entry_json(owner, repo, path, "submodule", 0);
                out["submodule_git_url"] = json!(git_url);
                out["download_url"] = Value::Null;
                out
            }
        }
    }

    /// One page of `items` and the `Link` header for `recorded`.
    fn paginate(
        &self,
        recorded: &Recorded,
        items: Vec<Value>,
    ) -> Result<(Vec<Value>, Option<String>), ResponseTemplate> {
        let per_page = match recorded.query_param("per_page").map(str::parse::<usize>) {
            None => 30,
            Some(Ok(n)) => n.clamp(1, 100),
            Some(Err(_)) => return Err(validation_failed("Pagination", "per_page", "invalid")),
        };
        let page = match recorded.query_param("page").map(str::parse::<usize>) {
            None => 1,
            Some(Ok(n)) if n >= 1 => n,
            Some(_) => return Err(validation_failed("Pagination", "page", "invalid")),
        };
        let last = items.len().div_ceil(per_page).max(1);
        let slice: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        let link_to = |n: usize| {
            let mut query: Vec<(String, String)> = recorded
                .query
                .iter()
                .filter(|(k, _)| k != "page")
                .cloned()
                .collect();
            query.push(("page".into(), n.to_string()));
            let encoded: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            format!("<{}{}?{encoded}>", self.web, recorded.path)
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
        }
        if page < last {
            links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
            links.push(format!("{}; rel=\"last\"", link_to(last)));
        }
        if page > 1 {
            links.push(format!("{}; rel=\"first\"", link_to(1)));
        }
        Ok((slice, (!links.is_empty()).then(|| links.join(", "))))
    }

    fn with_headers(&self, response: ResponseTemplate, resource: &str) -> ResponseTemplate {
        let response = response
            .insert_header("x-ratelimit-limit", "5000")
            .insert_header("x-ratelimit-remaining", "4999")
            .insert_header("x-ratelimit-used", "1")
            .insert_header("x-ratelimit-reset", "1795000000")
            .insert_header("x-ratelimit-resource", resource)
            .insert_header("x-github-request-id", "CAFE:1234:5678:9ABC:0001");
        if self.enterprise {
            response.insert_header("x-github-enterprise-version", "3.17.0")
        } else {
            response
        }
    }

    fn route(&self, recorded: &Recorded, request: &Request) -> ResponseTemplate {
        let Some(rest) = recorded.path.strip_prefix(self.prefix) else {
            return not_found();
        };
        let segments: Vec<String> = rest.split('/').skip(1).map(percent_decode).collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let mut state = lock(&self.state);
        state.serial += 1;
        let serial = state.serial;
        if let ["repos", owner, repo, rest @ ..] = segments.as_slice()
            && let Some(id) = state.moved.get(&((*owner).to_owned(), (*repo).to_owned()))
        {
            // GitHub answers a renamed or transferred repository's old name with a
            // redirect to the repository's id: permanent for reads, and 307 for other
            // methods, which must be sent again as they were.
            let mut location = format!("{}/repositories/{id}", self.api);
            for segment in rest {
                location.push('/');
                location.push_str(segment);
            }
            let (status, reason) = if matches!(recorded.method.as_str(), "GET" | "HEAD") {
                (301, "Moved Permanently")
            } else {
                (307, "Temporary Redirect")
            };
            return ResponseTemplate::new(status)
                .insert_header("location", location.as_str())
                .set_body_json(json!({
                    "message": reason,
                    "url": location,
                    "documentation_url": "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects",
                }));
        }
        match (recorded.method.as_str(), segments.as_slice()) {
            ("POST", ["repos", owner, repo, "issues"]) => {
                let Some(r) = state
                    .repos
                    .get_mut(&((*owner).to_owned(), (*repo).to_owned()))
                else {
                    return not_found();
                };
                let body: Value = match request.body_json() {
                    Ok(Value::Object(b)) => Value::Object(b),
                    _ => return message(400, "Problems parsing JSON"),
                };
                let title = match body.get("title") {
                    Some(Value::String(t)) if !t.is_empty() => t.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => return validation_failed("Issue", "title", "missing_field"),
                };
                let labels = match body.get("labels") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(l)) if l.iter().all(Value::is_string) => l
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    _ => return validation_failed("Issue", "labels", "invalid"),
                };
                let issue = Issue {
                    number: u64::try_from(r.items.len()).unwrap_or(0) + 1,
                    title,
                    body: body.get("body").and_then(Value::as_str).map(str::to_owned),
                    state: "open".into(),
                    labels,
                    pull: None,
                };
                let out = self.issue_json(owner, repo, &issue, serial);
                r.items.push(issue);
                let location = out["url"].as_str().unwrap_or_default().to_owned();
                ResponseTemplate::new(201)
                    .set_body_json(out)
                    .insert_header("location", location.as_str())
            }
            ("POST", ["repos", owner, repo, "issues", number, "comments"]) => {
                let Some(r) = state
                    .repos
                    .get_mut(&((*owner).to_owned(), (*repo).to_owned()))
                else {
                    return not_found();
                };
                let Some(issue) = number
                    .parse::<u64>()
                    .ok()
                    .and_then(|n| r.items.iter().find(|i| i.number == n))
                else {
                    return not_found();
                };
                let Ok(body) = request.body_json::<Value>() else {
                    return message(400, "Problems parsing JSON");
                };
                let Some(text) = body.get("body").and_then(Value::as_str) else {
                    return validation_failed("IssueComment", "body", "missing_field");
                };
                let id = 3_000_000 + serial;
                let kind = if issue.pull.is_some() {
                    "pull"
                } else {
                    "issues"
                };
                let comment = json!({
                    "id": id,
                    "node_id": format!("IC_kwDOA{id}"),
                    "body": text,
                    "user": {"login": "octocat", "id": 1, "type": "User"},
                    "url": format!("{}/repos/{owner}/{repo}/issues/comments/{id}", self.api),
                    "html_url": format!("{}/{owner}/{repo}/{kind}/{}#issuecomment-{id}", self.web, issue.number),
                    "issue_url": format!("{}/repos/{owner}/{repo}/issues/{}", self.api, issue.number),
                    "created_at": "2026-11-21T09:30:00Z",
                    "updated_at": "2026-11-21T09:30:00Z",
                });
                r.comments.push(comment.clone());
                ResponseTemplate::new(201).set_body_json(comment)
            }
            ("GET", ["repos", owner, repo, "pulls"]) => {
                let Some(r) = state.repos.get(&((*owner).to_owned(), (*repo).to_owned())) else {
                    return not_found();
                };
                let wanted = recorded.query_param("state").unwrap_or("open");
                if !matches!(wanted, "open" | "closed" | "all") {
                    return validation_failed("PullRequest", "state", "invalid");
                }
                let pulls: Vec<Value> = r
                    .items
                    .iter()
                    .filter(|i| i.pull.is_some() && (wanted == "all" || i.state == wanted))
                    .map(|i| self.pull_json(owner, repo, i))
                    .collect();
                match self.paginate(recorded, pulls) {
                    Ok((page, link)) => {
                        let response = ResponseTemplate::new(200).set_body_json(page);
                        match link {
                            Some(link) => response.insert_header("link", link.as_str()),
                            None => response,
                        }
                    }
                    Err(e) => e,
                }
            }
            ("GET", ["repos", owner, repo, "contents", path @ ..]) => {
                let Some(r) = state.repos.get(&((*owner).to_owned(), (*repo).to_owned())) else {
                    return not_found();
                };
                if let Some(reference) = recorded.query_param("ref")
                    && reference != "main"
                {
                    return message(404, &format!("No commit found for the ref {reference}"));
                }
                // `/contents`, `/contents/` and `/contents/dir/` name directories alike.
                let joined = path.join("/");
                let mut path = joined.strip_suffix('/').unwrap_or(&joined).to_owned();
                if let Some(Link::Symlink(target)) = r.links.get(&path)
                    && let Some(file) = resolve(&path, target).filter(|f| r.files.contains_key(f))
                {
                    // A symlink to a file of the repository answers with that file.
                    path = file;
                }
                if let Some(bytes) = r.files.get(&path) {
                    return ResponseTemplate::new(200)
                        .set_body_json(self.file_json(owner, repo, &path, bytes, serial));
                }
                if let Some(link) = r.links.get(&path) {
                    return ResponseTemplate::new(200)
                        .set_body_json(self.link_json(owner, repo, &path, link));
                }
                let dir = if path.is_empty() {
                    String::new()
                } else {
                    format!("{path}/")
                };
                let mut entries: BTreeMap<String, Value> = BTreeMap::new();
                for (file, bytes) in &r.files {
                    if let Some(rest) = file.strip_prefix(&dir) {
                        match rest.split_once('/') {
                            Some((sub, _)) => entries.insert(
                                sub.to_owned(),
                                self.entry_json(owner, repo, &format!("{dir}{sub}"), "dir", 0),
                            ),
                            None => entries.insert(
                                rest.to_owned(),
                                self.entry_json(owner, repo, file, "file", bytes.len()),
                            ),
                        };
                    }
                }
                for (name, link) in &r.links {
                    if let Some(rest) = name.strip_prefix(&dir) {
                        let entry = match (rest.split_once('/'), link) {
                            (Some((sub, _)), _) => {
                                self.entry_json(owner, repo, &format!("{dir}{sub}"), "dir", 0)
                            }
                            (None, Link::Symlink(target)) => {
                                self.entry_json(owner, repo, name, "symlink", target.len())
                            }
                            // GitHub lists submodules as files, for backwards
                            // compatibility, without a git URL.
                            (None, Link::Submodule(_)) => {
                                let mut entry = self.entry_json(owner, repo, name, "file", 0);
                                entry["git_url"] = Value::Null;
                                entry["download_url"] = Value::Null;
                                entry["_links"]["git"] = Value::Null;
                                entry
                            }
                        };
                        let key = rest.split('/').next().unwrap_or(rest).to_owned();
                        entries.entry(key).or_insert(entry);
                    }
                }
                if entries.is_empty() {
                    return if dir.is_empty() {
                        message(404, "This repository is empty.")
                    } else {
                        not_found()
                    };
                }
                let listing: Vec<Value> = entries.into_values().collect();
                ResponseTemplate::new(200).set_body_json(listing)
            }
            ("GET", ["search", "issues"]) => {
                let Some(q) = recorded.query_param("q").filter(|q| !q.trim().is_empty()) else {
                    return validation_failed("Search", "q", "missing");
                };
                let mut repo_filter = None;
                let mut kind_filter = None;
                let mut state_filter = None;
                let mut words = Vec::new();
                for raw in q.split_whitespace() {
                    // Qualifiers are read without regard to case; a negated one (`-is:pr`)
                    // filters nothing here.
                    let term = match raw.split_once(':') {
                        Some((key, value))
                            if key.eq_ignore_ascii_case("is")
                                || key.eq_ignore_ascii_case("type") =>
                        {
                            format!(
                                "{}:{}",
                                key.to_ascii_lowercase(),
                                value.to_ascii_lowercase()
                            )
                        }
                        _ => raw.to_owned(),
                    };
                    let term = term.as_str();
                    if term.starts_with('-') && term.contains(':') {
                        continue;
                    }
                    if let Some(repo) = term.strip_prefix("repo:") {
                        repo_filter = Some(repo.to_owned());
                    } else if let Some(is) = term.strip_prefix("is:") {
                        match is {
                            "issue" => kind_filter = Some("issue".to_owned()),
                            "pr" | "pull-request" => kind_filter = Some("pr".to_owned()),
                            "open" | "closed" => state_filter = Some(is.to_owned()),
                            _ => {}
                        }
                    } else if let Some(kind) = term.strip_prefix("type:") {
                        match kind {
                            "issue" => kind_filter = Some("issue".to_owned()),
                            "pr" => kind_filter = Some("pr".to_owned()),
                            _ => {}
                        }
                    } else if let Some(s) = term.strip_prefix("state:") {
                        state_filter = Some(s.to_owned());
                    } else {
                        words.push(term.to_lowercase());
                    }
                }
                if kind_filter.is_none() {
                    return untyped_search();
                }
                let mut items = Vec::new();
                for ((owner, repo), r) in &state.repos {
                    if repo_filter
                        .as_ref()
                        .is_some_and(|f| f != &format!("{owner}/{repo}"))
                    {
                        continue;
                    }
                    for issue in &r.items {
                        let kind = if issue.pull.is_some() { "pr" } else { "issue" };
                        let title = issue.title.to_lowercase();
                        if kind_filter.as_ref().is_some_and(|k| k != kind)
                            || state_filter.as_ref().is_some_and(|s| s != &issue.state)
                            || !words.iter().all(|w| title.contains(w.as_str()))
                        {
                            continue;
                        }
                        let mut item = self.issue_json(owner, repo, issue, serial);
                        item["score"] = json!(1.0);
                        items.push(item);
                    }
                }
                let total = items.len();
                match self.paginate(recorded, items) {
                    Ok((page, link)) => {
                        let response = ResponseTemplate::new(200).set_body_json(json!({
                            "total_count": total,
                            "incomplete_results": false,
                            "items": page,
                        }));
                        match link {
                            Some(link) => response.insert_header("link", link.as_str()),
                            None => response,
                        }
                    }
                    Err(e) => e,
                }
            }
            _ => not_found(),
        }
    }
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let recorded = self.journal.record(request);
        let resource = if recorded.path.contains("/search/") {
            "search"
        } else {
            "core"
        };
        if let Some(failure) = lock(&self.state).fail_next.pop_front() {
            return match failure {
                GitHubFailure::PrimaryRateLimit { reset_epoch_seconds } => message(
                    403,
                    "API rate limit exceeded for installation ID 1. If you reach out to GitHub Support for help, please include the request ID.",
                )
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-used", "5000")
                .insert_header("x-ratelimit-reset", reset_epoch_seconds.to_string().as_str())
                .insert_header("x-ratelimit-resource", resource),
                GitHubFailure::SecondaryRateLimit { retry_after_seconds } => message(
                    403,
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                )
                .insert_header("retry-after", retry_after_seconds.to_string().as_str()),
                GitHubFailure::Found { location } => {
                    ResponseTemplate::new(302).insert_header("location", location.as_str())
                }
            };
        }
        if recorded.header("user-agent").is_none_or(str::is_empty) {
            return message(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.",
            );
        }
        if let Some(version) = recorded.header("x-github-api-version")
            && !self.versions.contains(&version)
        {
            let mut text = format!(
                "Unsupported 'X-GitHub-Api-Version' header: {version}. Supported versions are:"
            );
            for v in self.versions {
                let _ = write!(text, " {v}");
            }
            return message(400, &text);
        }
        match self.tokens.check(request) {
            Auth::Valid => {}
            Auth::Invalid => return message(401, "Bad credentials"),
            // Private repositories are hidden from anonymous requests.
            Auth::Missing => return not_found(),
        }
        self.with_headers(self.route(&recorded, request), resource)
    }
}

impl GitHubApi {
    async fn start(enterprise: bool) -> Self {
        let provider = MockProvider::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        let tokens = Tokens::new();
        let journal = Journal::default();
        let prefix = if enterprise { "/api/v3" } else { "" };
        let web = provider.uri();
        Mock::given(path_regex(format!("^{prefix}/(repos|search)/")))
            .respond_with(Responder {
                state: state.clone(),
                tokens: tokens.clone(),
                journal: journal.clone(),
                api: format!("{web}{prefix}"),
                web,
                prefix,
                versions: if enterprise {
                    &["2022-11-28"]
                } else {
                    &["2022-11-28", "2026-03-10"]
                },
                enterprise,
            })
            .named(if enterprise {
                "github enterprise server rest"
            } else {
                "github rest"
            })
            .mount(provider.server())
            .await;
        Self {
            provider,
            state,
            tokens,
            journal,
            prefix,
        }
    }

    /// github.com: the REST API at the root of the server.
    pub async fn cloud() -> Self {
        Self::start(false).await
    }

    /// GitHub Enterprise Server: the REST API under `/api/v3`, answering with
    /// `X-GitHub-Enterprise-Version`, knowing only API version `2022-11-28`.
    pub async fn enterprise_server() -> Self {
        Self::start(true).await
    }

    /// The web base URL (`https://github.com`, `https://ghe.example.com`).
    pub fn web_base_url(&self) -> String {
        self.provider.uri()
    }

    /// The REST API base URL (`https://api.github.com`, `https://ghe.example.com/api/v3`).
    pub fn api_base_url(&self) -> String {
        format!("{}{}", self.provider.uri(), self.prefix)
    }

    /// The mock server.
    pub fn provider(&self) -> &MockProvider {
        &self.provider
    }

    /// The accepted tokens.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// Accepts `token` as `Bearer` or `token`.
    pub fn accept_token(&self, token: &str) {
        self.tokens.accept(token, Scheme::BearerOrToken);
    }

    /// Adds an empty repository.
    pub fn add_repo(&self, owner: &str, repo: &str) {
        lock(&self.state)
            .repos
            .entry((owner.to_owned(), repo.to_owned()))
            .or_default();
    }

    /// Renames or transfers `owner/repo` to `to_owner/to_repo`: its old name is answered
    /// with GitHub's redirect to the repository's id (`301` for reads, `307` for writes).
    ///
    /// # Panics
    ///
    /// When the mock has no repository `owner/repo`.
    pub fn move_repo(&self, (owner, repo): (&str, &str), (to_owner, to_repo): (&str, &str)) {
        let mut state = lock(&self.state);
        let old = (owner.to_owned(), repo.to_owned());
        let moved = state.repos.remove(&old).expect("a repository of the mock");
        state
            .repos
            .insert((to_owner.to_owned(), to_repo.to_owned()), moved);
        let id = 200_000 + state.moved.len() as u64;
        state.moved.insert(old, id);
    }

    /// Adds an issue and returns its number.
    pub fn add_issue(&self, owner: &str, repo: &str, title: &str) -> u64 {
        let mut state = lock(&self.state);
        let r = state
            .repos
            .entry((owner.to_owned(), repo.to_owned()))
            .or_default();
        let number = u64::try_from(r.items.len()).unwrap_or(0) + 1;
        r.items.push(Issue {
            number,
            title: title.to_owned(),
            body: None,
            state: "open".into(),
            labels: Vec::new(),
            pull: None,
        });
        number
    }

    /// Adds `count` pull requests in `state` (`open` or `closed`), titled `Change <n>`.
    pub fn add_pulls(&self, owner: &str, repo: &str, count: usize, pr_state: &str) {
        let mut state = lock(&self.state);
        let r = state
            .repos
            .entry((owner.to_owned(), repo.to_owned()))
            .or_default();
        for _ in 0..count {
            let number = u64::try_from(r.items.len()).unwrap_or(0) + 1;
            r.items.push(Issue {
                number,
                title: format!("Change {number}"),
                body: Some("A change.".into()),
                state: pr_state.to_owned(),
                labels: Vec::new(),
                pull: Some((format!("feature-{number}"), "main".into(), false)),
            });
        }
    }

    /// Adds a file on `main`.
    pub fn add_file(&self, owner: &str, repo: &str, path: &str, contents: &[u8]) {
        lock(&self.state)
            .repos
            .entry((owner.to_owned(), repo.to_owned()))
            .or_default()
            .files
            .insert(path.to_owned(), contents.to_vec());
    }

    /// Adds a symbolic link on `main` pointing at `target` (a path relative to the
    /// link's directory, or an absolute one, outside the repository). Read, it answers
    /// with the file it points at when that is a file of the repository, else with the
    /// link itself (`type: "symlink"`, `target`, no `content`).
    pub fn add_symlink(&self, owner: &str, repo: &str, path: &str, target: &str) {
        lock(&self.state)
            .repos
            .entry((owner.to_owned(), repo.to_owned()))
            .or_default()
            .links
            .insert(path.to_owned(), Link::Symlink(target.to_owned()));
    }

    /// Adds a submodule on `main` cloned from `git_url`. Read, it answers
    /// `type: "submodule"` with `submodule_git_url` and no `content`; a directory
    /// listing shows it as a `file`, as GitHub does.
    pub fn add_submodule(&self, owner: &str, repo: &str, path: &str, git_url: &str) {
        lock(&self.state)
            .repos
            .entry((owner.to_owned(), repo.to_owned()))
            .or_default()
            .links
            .insert(path.to_owned(), Link::Submodule(git_url.to_owned()));
    }

    /// The comments created in a repository.
    pub fn comments(&self, owner: &str, repo: &str) -> Vec<Value> {
        lock(&self.state)
            .repos
            .get(&(owner.to_owned(), repo.to_owned()))
            .map(|r| r.comments.clone())
            .unwrap_or_default()
    }

    /// The titles of a repository's issues and pull requests, by number.
    pub fn titles(&self, owner: &str, repo: &str) -> Vec<String> {
        lock(&self.state)
            .repos
            .get(&(owner.to_owned(), repo.to_owned()))
            .map(|r| r.items.iter().map(|i| i.title.clone()).collect())
            .unwrap_or_default()
    }

    /// Makes the next request fail.
    pub fn fail_next(&self, failure: GitHubFailure) {
        lock(&self.state).fail_next.push_back(failure);
    }

    /// Every request received.
    pub fn requests(&self) -> Vec<Recorded> {
        self.journal.all()
    }
}
