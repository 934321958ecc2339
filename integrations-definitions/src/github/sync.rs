//! GitHub sync (github.com and Enterprise Server): the `issues` and `pull_requests`
//! streams of the repositories in the connection's `sync_repositories`, over REST.
//!
//! * `issues`: `GET /repos/{owner}/{repo}/issues?state=all&per_page=100`, oldest first
//!   (`sort=created&direction=asc`) in a full run; an incremental run asks
//!   `sort=updated&direction=desc&since=<watermark>` (GitHub's `since` is inclusive, so
//!   the newest record of the last run comes again: writes are idempotent). Newest
//!   first, an item updated during the run moves to page 1, already read, and the
//!   unread items shift to later pages: repeated, never skipped (oldest first, the item
//!   after a page boundary would be skipped). The issues
//!   list holds pull requests too (items with a `pull_request` key); they are left to
//!   the other stream.
//! * `pull_requests`: `GET /repos/{owner}/{repo}/pulls?state=all&per_page=100`, which
//!   has no `since`: a full run reads `sort=created&direction=asc`; an incremental run
//!   reads `sort=updated&direction=desc` and stops at the first pull request updated
//!   before the watermark.
//!
//! A repository added to `sync_repositories` since the last full run (not among those
//! the checkpoint says were read in full) is read as in a full run by the next
//! incremental one.
//!
//! One watermark serves every repository of the list, so a change in a repository read
//! early in a run may be older than one read later: the watermark never passes the
//! run's start minus [`WATERMARK_MARGIN`](integrations_core::sync::WATERMARK_MARGIN),
//! and the next run reads such a change.
//!
//! Pages follow the `Link` header's `rel="next"` URL verbatim, only when it stays under
//! the target's API base URL (the token never goes elsewhere). The first page of each
//! repository is asked with `If-None-Match` and the `ETag` of its last answer (kept with
//! the checkpoint): a `304 Not Modified` costs no rate limit and yields no records.
//!
//! Record ids are `owner/repo#number`. Deletes: GitHub lists no tombstones. A closed
//! issue or pull request is a change (its `state` is `closed`), not a delete; an issue
//! an administrator deleted, or one transferred to another repository, is no longer
//! listed, so it is **not detected**: a host that must drop them deletes the stream and
//! runs a full sync. Pull requests cannot be deleted.
//!
//! Rate limits: 403 or 429 with `x-ratelimit-remaining: 0` waits until
//! `x-ratelimit-reset` (epoch seconds); a secondary limit (403/429 with `retry-after`,
//! or the "secondary rate limit" message) waits `retry-after` seconds, or 60 s when it
//! gives none; limits in a row back off exponentially (the runner's
//! `MAX_RATE_LIMIT_BACKOFF`, `MAX_RATE_LIMITS_IN_A_ROW`), as GitHub asks.
//!
//! **GitHub App installations** sync the repositories the installation reaches, the
//! ones its owner chose on GitHub (all, or a selection): each run starts with a page of
//! its own that lists them (`GET /installation/repositories`, every page, with an
//! installation token the token manager mints) and walks that list; a repository added to
//! the installation since is read in full by the next incremental run, as one added to
//! `sync_repositories` is. A repository that leaves the installation (or is renamed)
//! while a run walks the list answers 404 (or 301) and is passed over: the next run's
//! list has the current names. A repository whose issues are turned off answers the
//! issue list 410 and is passed over by the `issues` stream, on either kind of
//! connection. A repository passed over is no longer counted as read (the cursor carries
//! it, since a resumed run starts from the last completed run's state), so it is read in
//! full when it comes back.
//! Token and OAuth connections walk their `sync_repositories`. See `docs/sync.md` for
//! the sources.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use http::Method;
use http::header::{ETAG, IF_NONE_MATCH, LINK};
use integrations_core::sync::{
    SyncMode, SyncPage, SyncRecord, SyncRequest, SyncSource, SyncStream,
};
use integrations_core::tools::{RateLimitRule, RequestAuth, ResetFormat, request as new_request};
use integrations_core::{Error, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::GitHub;
use super::schemas::{GitHubConnectionConfig, GitHubEndpoints, RepositoryName};
use crate::sync_support;

/// Items per page: GitHub's maximum.
pub const PER_PAGE: u32 = 100;

/// The most pages of an installation's repositories a run lists (10,000 repositories),
/// a bound on a `Link` chain that does not end.
const MAX_LISTING_PAGES: u32 = 100;

static RATE_LIMIT: LazyLock<RateLimitRule> = LazyLock::new(|| {
    RateLimitRule::new()
        .with_status(403)
        .with_remaining_header("x-ratelimit-remaining")
        .with_reset_header("x-ratelimit-reset", ResetFormat::EpochSeconds)
        .with_body_marker("secondary rate limit")
        .with_default_wait(Duration::from_secs(60))
});

fn streams() -> Vec<SyncStream> {
    vec![
        SyncStream::new("issues", true),
        SyncStream::new("pull_requests", true),
    ]
}

/// Where a run is: which repository of the list, and the next page's URL in it.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    repo: usize,
    /// The list the run walks (`sync_repositories`, or the installation's repositories,
    /// when it started). For `sync_repositories`, a cursor of another list is refused:
    /// resumed against an edited list, its position would name another repository (its
    /// records filed under the wrong name), or skip one. An installation's run keeps
    /// walking the list it started with.
    #[serde(default)]
    repositories: Vec<RepositoryName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// The repositories this run passed over (gone from the installation, renamed, or
    /// without issues): each page takes them out of the source state's `read` again,
    /// since a resumed run starts from the state of the last completed one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    passed_over: Vec<RepositoryName>,
    /// The repositories this run read in full: each page adds them to the source state's
    /// `read` again, for the same reason, so that a run resumed after an interruption
    /// still counts them when it completes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    read: Vec<RepositoryName>,
}

/// Kept with the checkpoint.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// By repository, the URL and `ETag` of the first page of its last incremental read,
    /// when that answer showed every change (see `conditional`).
    #[serde(default)]
    etags: BTreeMap<String, (String, String)>,
    /// The repositories whose whole history the stream has read (in a full run, or as a
    /// newcomer in an incremental one). An incremental run reads any other repository of
    /// the list (added to `sync_repositories` since) in full: what changed there before
    /// the watermark was never read.
    #[serde(default)]
    read: BTreeSet<RepositoryName>,
}

fn invalid(code: integrations_core::Code, message: &'static str) -> Error {
    code.error(message)
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_owned())
    })
}

fn first_url(
    endpoints: &GitHubEndpoints,
    repo: &RepositoryName,
    pulls: bool,
    since: Option<&str>,
) -> Result<String, Error> {
    let list = if pulls { "pulls" } else { "issues" };
    let mut url = endpoints
        .api
        .url()
        .path("repos")
        .arg("/sync_repositories", repo.owner())
        .arg("/sync_repositories", repo.name())
        .path(list)
        .build()?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("state", "all");
        match (pulls, since) {
            (_, None) => {
                q.append_pair("sort", "created");
                q.append_pair("direction", "asc");
            }
            (false, Some(since)) => {
                // Newest first, as pull requests: an item updated during the run moves
                // to the top, which only repeats items on later pages; oldest first it
                // would move to the end and shift an unread item onto a page already read.
                q.append_pair("sort", "updated");
                q.append_pair("direction", "desc");
                q.append_pair("since", since);
            }
            (true, Some(_)) => {
                q.append_pair("sort", "updated");
                q.append_pair("direction", "desc");
            }
        }
        q.append_pair("per_page", &PER_PAGE.to_string());
    }
    Ok(url.to_string())
}

/// The error of an answer that is one of GitHub's rate limits, with the wait it asks for.
fn rate_limited(response: &integrations_core::host::HttpResponse, now: Timestamp) -> Option<Error> {
    let limited = RATE_LIMIT.check(response, now)?;
    let wait = limited.retry_after().unwrap_or(Duration::from_secs(60));
    Some(
        crate::codes::sync::RATE_LIMITED
            .error(format!(
                "GitHub's rate limit was reached; retry after {} s",
                wait.as_secs()
            ))
            .with_retry_after(wait),
    )
}

/// The `sync_repositories` of a token or OAuth connection.
fn configured_repositories(config: &Value) -> Result<Vec<RepositoryName>, Error> {
    let config: GitHubConnectionConfig = serde_json::from_value(config.clone()).map_err(|_| {
        invalid(
            integrations_core::codes::auth::CONNECTION_CONFIG_INVALID,
            "the connection's config does not name repositories to sync",
        )
    })?;
    if config.sync_repositories.is_empty() {
        return Err(invalid(
            crate::codes::sync::NO_REPOSITORIES,
            "set the connection's `sync_repositories` (owner/name) to sync GitHub",
        ));
    }
    Ok(config.sync_repositories)
}

#[derive(Deserialize)]
struct Listed {
    full_name: String,
}

#[derive(Deserialize)]
struct Listing {
    repositories: Vec<Listed>,
}

/// The repositories an App installation reaches (`GET /installation/repositories`,
/// every page), in GitHub's order, each once.
async fn installation_repositories(
    request: &SyncRequest<'_>,
    endpoints: &GitHubEndpoints,
    auth: &RequestAuth,
) -> Result<Vec<RepositoryName>, Error> {
    let api_prefix = format!("{}/", endpoints.api.as_str().trim_end_matches('/'));
    let mut url = endpoints
        .api
        .url()
        .path("installation")
        .path("repositories")
        .build()?;
    url.query_pairs_mut()
        .append_pair("per_page", &PER_PAGE.to_string());
    let mut url = url.to_string();
    let mut repositories: Vec<RepositoryName> = Vec::new();
    let mut seen = HashSet::new();
    for _ in 0..MAX_LISTING_PAGES {
        let response = request.send(new_request(Method::GET, &url)?, auth).await?;
        if let Some(limited) = rate_limited(&response, request.clock.now()) {
            return Err(limited);
        }
        if !response.status().is_success() {
            return Err(sync_support::status("GitHub", response.status()));
        }
        let listing: Listing = serde_json::from_slice(response.body())
            .map_err(|_| sync_support::unexpected("GitHub", response.status()))?;
        for listed in listing.repositories {
            let Some(name) = RepositoryName::parse(&listed.full_name) else {
                // A name this crate cannot file records under: left out, not the run.
                tracing::warn!(
                    target: "integrations::sync",
                    repository = %listed.full_name,
                    "GitHub listed an installation repository whose name is not owner/name; it is not synced"
                );
                continue;
            };
            if seen.insert(name.clone()) {
                repositories.push(name);
            }
        }
        match response
            .headers()
            .get(LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link)
        {
            None => return Ok(repositories),
            Some(next) if next.starts_with(&api_prefix) => url = next,
            Some(_) => {
                return Err(crate::codes::sync::UNEXPECTED_RESPONSE
                    .error("GitHub's next-page link leads outside the API base URL"));
            }
        }
    }
    Err(crate::codes::sync::UNEXPECTED_RESPONSE.error(format!(
        "GitHub's list of the installation's repositories did not end within {MAX_LISTING_PAGES} pages"
    )))
}

#[async_trait]
impl SyncSource for GitHub {
    fn streams(&self) -> Vec<SyncStream> {
        streams()
    }

    /// `updated_at` is GitHub's clock, RFC 3339 in whole seconds.
    fn watermark_at(&self, _stream: &str, at: Timestamp) -> Option<String> {
        Some(
            Timestamp::from_unix_seconds(at.unix_seconds())
                .to_rfc3339()
                .replace(".000Z", "Z"),
        )
    }

    #[allow(
        clippy::too_many_lines,
        reason = "one page: request, conditional answer, paging"
    )]
    async fn fetch_page(&self, request: SyncRequest<'_>) -> Result<SyncPage, Error> {
        let pulls = match request.stream {
            "issues" => false,
            "pull_requests" => true,
            other => return Err(sync_support::unknown_stream("GitHub", other, &streams())),
        };
        let endpoints = self.endpoints(request.target_config)?;
        let auth = super::auth::api_auth(request.default_credential());
        let installation = request.connection.method.as_str() == super::auth::INSTALLATION_METHOD;
        let saved: Option<Cursor> = request
            .cursor
            .map(|c| sync_support::decode_cursor("GitHub", c))
            .transpose()?;
        let repos = match (&saved, installation) {
            (Some(saved), true) => saved.repositories.clone(),
            (None, true) => {
                let repositories = installation_repositories(&request, &endpoints, &auth).await?;
                if !repositories.is_empty() {
                    // The list is a page of its own: a failure on the first repository's
                    // page (a rate limit) retries that page, not the whole listing.
                    let cursor = Cursor {
                        repo: 0,
                        repositories,
                        next: None,
                        passed_over: Vec::new(),
                        read: Vec::new(),
                    };
                    let cursor = sync_support::encode_cursor("GitHub", &cursor)?;
                    return Ok(SyncPage::new(Vec::new(), Some(cursor)));
                }
                repositories
            }
            (_, false) => {
                let repos = configured_repositories(&request.connection.config)?;
                if saved.as_ref().is_some_and(|c| c.repositories != repos) {
                    return Err(invalid(
                        integrations_core::codes::sync::INVALID_CURSOR,
                        "the saved cursor walks another list of repositories than the connection's sync_repositories",
                    ));
                }
                repos
            }
        };
        let cursor = saved.unwrap_or_else(|| Cursor {
            repo: 0,
            repositories: repos.clone(),
            next: None,
            passed_over: Vec::new(),
            read: Vec::new(),
        });
        let mut state: State = serde_json::from_value(request.state.clone()).unwrap_or_default();
        let mut changed = sync_support::reconcile_read(
            &mut state.read,
            &repos,
            &cursor.passed_over,
            &cursor.read,
        );
        let Some(repo) = repos.get(cursor.repo) else {
            if repos.is_empty() {
                // An installation that reaches no repository (yet): nothing to read.
                return Ok(sync_support::with_state_if(
                    SyncPage::new(Vec::new(), None),
                    changed,
                    &state,
                ));
            }
            return Err(invalid(
                integrations_core::codes::sync::INVALID_CURSOR,
                "the saved cursor names no repository",
            ));
        };
        let since = match request.mode {
            SyncMode::Incremental if state.read.contains(repo) => request.since,
            _ => None,
        };
        let api_prefix = format!("{}/", endpoints.api.as_str().trim_end_matches('/'));
        let first_page = cursor.next.is_none();
        let url = match &cursor.next {
            Some(next) if next.starts_with(&api_prefix) => next.clone(),
            Some(_) => {
                return Err(crate::codes::sync::UNEXPECTED_RESPONSE
                    .error("GitHub's next-page link leads outside the API base URL"));
            }
            None => first_url(&endpoints, repo, pulls, since)?,
        };
        // `send` adds the definition's default headers (Accept, API version, User-Agent).
        let mut http_request = new_request(Method::GET, &url)?;
        // Only an incremental run's first page is asked conditionally: a 304 there means
        // nothing changed in the repository since (see `conditional` below).
        let conditional_ask = first_page && since.is_some();
        if conditional_ask
            && let Some((asked, etag)) = state.etags.get(repo.as_str())
            && *asked == url
            && let Ok(value) = http::HeaderValue::from_str(etag)
        {
            http_request.headers_mut().insert(IF_NONE_MATCH, value);
        }
        let response = request.send(http_request, &auth).await?;
        if let Some(limited) = rate_limited(&response, request.clock.now()) {
            return Err(limited);
        }
        let after_repo =
            |next: Option<String>, passed_over: &[RepositoryName], read: &[RepositoryName]| {
                let cursor = match next {
                    Some(next) => Cursor {
                        repo: cursor.repo,
                        repositories: repos.clone(),
                        next: Some(next),
                        passed_over: passed_over.to_vec(),
                        read: read.to_vec(),
                    },
                    None if cursor.repo + 1 < repos.len() => Cursor {
                        repo: cursor.repo + 1,
                        repositories: repos.clone(),
                        next: None,
                        passed_over: passed_over.to_vec(),
                        read: read.to_vec(),
                    },
                    None => return None,
                };
                serde_json::to_string(&cursor).ok()
            };
        if response.status() == http::StatusCode::NOT_MODIFIED {
            // Nothing changed since this repository's first page was last read.
            return Ok(sync_support::with_state_if(
                SyncPage::new(
                    Vec::new(),
                    after_repo(None, &cursor.passed_over, &cursor.read),
                ),
                changed,
                &state,
            ));
        }
        // 410: the repository's issues are turned off (forks start so). 404 and 301 on an
        // installation's list: the repository left the installation, or was renamed,
        // since the run listed it (the next run's list has the current names).
        let status = response.status();
        let passed = status == http::StatusCode::GONE && !pulls
            || installation
                && (status == http::StatusCode::NOT_FOUND
                    || status == http::StatusCode::MOVED_PERMANENTLY);
        if passed {
            // Passed over, and no longer counted as read: when it comes back (issues
            // turned on, given back to the App, or under its new name) it is read in
            // full, since what changed meanwhile was never read.
            tracing::warn!(
                target: "integrations::sync",
                repository = %repo,
                status = status.as_u16(),
                stream = request.stream,
                "a GitHub repository was passed over"
            );
            changed |= state.read.remove(repo);
            changed |= state.etags.remove(repo.as_str()).is_some();
            let mut passed_over = cursor.passed_over.clone();
            passed_over.push(repo.clone());
            let read: Vec<RepositoryName> =
                cursor.read.iter().filter(|r| *r != repo).cloned().collect();
            return Ok(sync_support::with_state_if(
                SyncPage::new(Vec::new(), after_repo(None, &passed_over, &read)),
                changed,
                &state,
            ));
        }
        if response.status() == http::StatusCode::MOVED_PERMANENTLY {
            // Not followed: the records would be filed under the old name.
            return Err(crate::codes::sync::REPOSITORY_MOVED.error(format!(
                "GitHub says the repository {repo} was renamed or transferred (HTTP 301); put its new name in the connection's sync_repositories"
            )));
        }
        if response.status() == http::StatusCode::NOT_FOUND {
            return Err(crate::codes::sync::REPOSITORY_NOT_FOUND.error(format!(
                "GitHub has no repository {repo} this connection can read (HTTP 404); correct or remove it in the connection's sync_repositories"
            )));
        }
        if response.status() == http::StatusCode::FORBIDDEN {
            // Not a rate limit (those were answered above): the token may not read it.
            let reason = serde_json::from_slice::<Value>(response.body())
                .ok()
                .and_then(|body| body.get("message")?.as_str().map(str::to_owned))
                .map_or_else(
                    || "no reason given".to_owned(),
                    |m| m.chars().take(200).collect::<String>(),
                );
            return Err(crate::codes::sync::REPOSITORY_FORBIDDEN.error(format!(
                "GitHub refused to list the repository {repo} (HTTP 403: {reason}); give the connection access to it, or remove it from the connection's sync_repositories"
            )));
        }
        if !response.status().is_success() {
            return Err(sync_support::status("GitHub", response.status()));
        }
        let items: Vec<Value> = serde_json::from_slice(response.body())
            .map_err(|_| sync_support::unexpected("GitHub", response.status()))?;
        let mut records = Vec::with_capacity(items.len());
        let mut reached_watermark = false;
        for mut item in items {
            if !pulls && item.get("pull_request").is_some() {
                continue;
            }
            let number = item
                .get("number")
                .and_then(Value::as_u64)
                .ok_or_else(|| sync_support::unexpected("GitHub", response.status()))?;
            let updated_at = item
                .get("updated_at")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if pulls
                && let (Some(since), Some(at)) = (since, updated_at.as_deref())
                && at < since
            {
                // Newest first: everything from here on is older than the watermark.
                reached_watermark = true;
                break;
            }
            item["repository"] = json!(repo.as_str());
            records.push(SyncRecord::new(
                format!("{repo}#{number}"),
                updated_at,
                item,
            ));
        }
        let next = if reached_watermark {
            None
        } else {
            response
                .headers()
                .get(LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link)
        };
        // An unchanged first page proves nothing changed when it held every change: the
        // pull requests newest first (any update moves one to the top), or issues that
        // fit on one page.
        let conditional = conditional_ask && (pulls || next.is_none());
        let mut read = cursor.read.clone();
        if next.is_none() {
            changed |= state.read.insert(repo.clone());
            if !read.contains(repo) {
                read.push(repo.clone());
            }
        }
        if conditional
            && let Some(etag) = response.headers().get(ETAG).and_then(|v| v.to_str().ok())
        {
            state
                .etags
                .insert(repo.as_str().to_owned(), (url, etag.to_owned()));
            changed = true;
        }
        Ok(sync_support::with_state_if(
            SyncPage::new(records, after_repo(next, &cursor.passed_over, &read)),
            changed,
            &state,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn reads_the_next_link() {
        let link = "<https://api.github.com/repositories/1300192/issues?page=2>; rel=\"prev\", <https://api.github.com/repositories/1300192/issues?page=4>; rel=\"next\", <https://api.github.com/repositories/1300192/issues?page=515>; rel=\"last\"";
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://api.github.com/repositories/1300192/issues?page=4")
        );
        assert_eq!(next_link("<https://x/a?page=1>; rel=\"first\""), None);
    }
}
