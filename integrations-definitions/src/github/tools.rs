//! GitHub tools, over the REST API of github.com or a GitHub Enterprise Server.
//!
//! Requests go to the target's REST base (`https://api.github.com`,
//! `https://HOST/api/v3`) with `Accept: application/vnd.github+json`, the target's
//! `X-GitHub-Api-Version` and a `User-Agent`. Lists paginate with the `Link` header: a
//! page's `next_cursor` is its `rel="next"` URL sealed with the host's cipher
//! ([`ToolContext::seal_cursor`]), bound to the tenant, connection and tool, and to the
//! repository listed or the search (query, sort, order) made, so an agent can hand it
//! back but neither read nor steer it, nor continue another list with it; the link is
//! then followed verbatim (and only on the target's API). Rate limits (403 or 429 with `x-ratelimit-remaining: 0`, or a secondary
//! limit with `retry-after`) become `tool.rate_limited` with the wait.

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use http::header::{ACCEPT, HeaderMap, HeaderValue, USER_AGENT};
use integrations_core::host::{HttpRequest, HttpResponse};
use integrations_core::schema::UrlBuilder;
use integrations_core::tools::{
    RateLimitRule, RequestAuth, ResetFormat, Tool, ToolAnnotations, ToolContext, ToolDescriptor,
    ToolSet, json_request, read_json, request, status_error,
};
use integrations_core::{Error, ValidationIssue};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::GitHub;
use super::schemas::{GitHubEndpoints, RepositoryName};

/// The `User-Agent` GitHub requires.
pub const USER_AGENT_VALUE: &str = concat!("integrations-rs/", env!("CARGO_PKG_VERSION"));

static TOOLS: LazyLock<ToolSet> = LazyLock::new(|| {
    ToolSet::new()
        .with(CreateIssue)
        .with(CreateIssueComment)
        .with(ListPullRequests)
        .with(GetFileContents)
        .with(SearchIssues)
});

/// GitHub's rate limits (providers.md §3.2): 429, or 403 with `x-ratelimit-remaining: 0`,
/// `retry-after` or a secondary-limit message; the wait from `retry-after`, else from
/// `x-ratelimit-reset` (epoch seconds) once the quota is spent, else a minute.
pub(super) static RATE_LIMIT: LazyLock<RateLimitRule> = LazyLock::new(|| {
    RateLimitRule::new()
        .with_status(403)
        .with_remaining_header("x-ratelimit-remaining")
        .with_reset_header("x-ratelimit-reset", ResetFormat::EpochSeconds)
        .with_body_marker("secondary rate limit")
});

/// The GitHub tools (the same for github.com and GitHub Enterprise Server).
pub fn tool_set() -> &'static ToolSet {
    &TOOLS
}

fn endpoints(context: &ToolContext) -> Result<GitHubEndpoints, Error> {
    let github = if context.key().variant() == "github-enterprise-server" {
        GitHub::enterprise_server()
    } else {
        GitHub::cloud()
    };
    github.endpoints(context.target_config())
}

fn auth(context: &ToolContext) -> RequestAuth {
    super::auth::api_auth(context.default_credential())
}

/// The headers of every GitHub API request (the definition's default headers).
pub(super) fn default_headers(endpoints: &GitHubEndpoints) -> Result<HeaderMap, Error> {
    let version = HeaderValue::from_str(&endpoints.api_version).map_err(|_| {
        crate::codes::github::INVALID_API_VERSION
            .error("the target's API version cannot be sent as a header")
    })?;
    let mut h = HeaderMap::new();
    h.insert(
        ACCEPT,
        HeaderValue::from_static("application/vnd.github+json"),
    );
    h.insert("x-github-api-version", version);
    h.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    Ok(h)
}

/// Sends a request; success bodies are returned, everything else is an error.
async fn send(context: &ToolContext, request: HttpRequest) -> Result<HttpResponse, Error> {
    // Accept, the API version and User-Agent come from the definition's default headers.
    let names_repository = request.uri().path().contains("/repos/");
    let response = context.http().send(request, &auth(context)).await?;
    if let Some(limited) = RATE_LIMIT.check(&response, context.now()) {
        return Err(limited);
    }
    if response.status() == http::StatusCode::UNPROCESSABLE_ENTITY {
        return Err(status_error(response.status()).with_issues(rejected_fields(&response)));
    }
    // Redirects are not followed; GitHub answers a renamed or transferred repository's
    // old name with one (301 for reads, 307 for writes, to the repository's id). Any
    // other status stays what it is.
    if names_repository
        && matches!(
            response.status(),
            http::StatusCode::MOVED_PERMANENTLY
                | http::StatusCode::TEMPORARY_REDIRECT
                | http::StatusCode::PERMANENT_REDIRECT
        )
    {
        return Err(crate::codes::github::REPOSITORY_MOVED.error(format!(
            "GitHub says the repository was renamed or transferred (HTTP {}); call again with its new owner/name",
            response.status().as_u16()
        )));
    }
    if !response.status().is_success() {
        return Err(status_error(response.status()));
    }
    Ok(response)
}

/// One entry of a 422's `errors`.
#[derive(Deserialize)]
struct FieldError {
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
struct ValidationFailed {
    /// Objects, mostly; GitHub sometimes sends plain strings, which are skipped.
    #[serde(default)]
    errors: Vec<Value>,
}

/// What GitHub's `422 Validation Failed` says was wrong, so an agent can correct its
/// call: each entry's resource, field and code (`missing_field`, `invalid`,
/// `already_exists`...), when they are plain names. Never a value or a free-text
/// message: those can quote what was sent.
fn rejected_fields(response: &HttpResponse) -> Vec<ValidationIssue> {
    let plain = |text: &Option<String>| {
        text.as_deref()
            .filter(|t| {
                !t.is_empty()
                    && t.len() <= 64
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            })
            .map(str::to_owned)
    };
    let Ok(failed) = serde_json::from_slice::<ValidationFailed>(response.body()) else {
        return Vec::new();
    };
    failed
        .errors
        .into_iter()
        .filter_map(|e| serde_json::from_value::<FieldError>(e).ok())
        .filter_map(|e| {
            let code = plain(&e.code)?;
            let field = plain(&e.field).unwrap_or_else(|| "?".to_owned());
            let resource = plain(&e.resource).unwrap_or_else(|| "?".to_owned());
            Some(ValidationIssue::new(
                crate::codes::issues::github::FIELD_REJECTED,
                "",
                format!("GitHub refused {resource}.{field}: {code}"),
            ))
        })
        .take(16)
        .collect()
}

async fn get_json<T: DeserializeOwned>(
    context: &ToolContext,
    url: &str,
) -> Result<(T, Option<String>), Error> {
    let response = send(context, request(Method::GET, url)?).await?;
    let next = next_link(&response);
    Ok((read_json(&response)?, next))
}

/// The `rel="next"` URL of a `Link` header.
pub(super) fn next_link(response: &HttpResponse) -> Option<String> {
    let header = response.headers().get("link")?.to_str().ok()?;
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().eq_ignore_ascii_case("rel=\"next\""));
        let url = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_owned())
    })
}

/// A cursor is a `next` link GitHub gave, sealed for this tool and connection
/// ([`ToolContext::seal_cursor`]): a forged or altered one, or one made for another tool or
/// connection, is refused before anything is sent. The link it carries must still point at
/// the target's API (same scheme, host and port, a path under the API's, dot segments
/// resolved first), so a cursor can never send the credential elsewhere.
fn checked_cursor(context: &ToolContext, cursor: &str, of: &ListOf<'_>) -> Result<String, Error> {
    let api = url::Url::parse(endpoints(context)?.api.as_str())
        .map_err(|_| Error::internal("a base URL did not parse again"))?;
    let refused = || {
        crate::codes::github::INVALID_CURSOR.with_issues(
            "the cursor is not a next-page cursor this tool gave for this connection",
            vec![ValidationIssue::new(
                crate::codes::github::INVALID_CURSOR,
                "/cursor",
                "pass the next_cursor of a previous page of this tool unchanged",
            )],
        )
    };
    let sealed = context.open_cursor(cursor).ok_or_else(refused)?;
    let (was, link) = sealed.split_once('\n').ok_or_else(refused)?;
    if !was.eq_ignore_ascii_case(&of.key()) {
        // GitHub's next links name a repository by its numeric id, and carry the
        // search's own query: without this, the page of another repository would come
        // back as this one's, and another search's as this one's.
        let (message, hint) = match of {
            ListOf::Repository(_) => (
                "the cursor continues a list of another repository than the one asked for",
                "pass a cursor of this repository's list, or none to start it again",
            ),
            ListOf::Search { .. } => (
                "the cursor continues another search than the one asked for (query, sort or order)",
                "pass the query, sort and order of the cursor's first page, or no cursor to start this search",
            ),
        };
        return Err(crate::codes::github::INVALID_CURSOR.with_issues(
            message,
            vec![ValidationIssue::new(
                crate::codes::github::INVALID_CURSOR,
                "/cursor",
                hint,
            )],
        ));
    }
    let next = url::Url::parse(link).map_err(|_| refused())?;
    if on_api(&api, &next) {
        Ok(next.to_string())
    } else {
        Err(refused())
    }
}

/// What a list a cursor continues is of: a repository's list, or one search.
enum ListOf<'a> {
    Repository(&'a RepositoryName),
    Search {
        query: &'a str,
        sort: Option<SearchSort>,
        order: Option<Direction>,
    },
}

impl ListOf<'_> {
    /// What the cursor is sealed with: the repository, or the search as a JSON array
    /// (no raw line break, which ends this part of the sealed text).
    fn key(&self) -> String {
        match self {
            Self::Repository(repository) => repository.as_str().to_owned(),
            Self::Search { query, sort, order } => json!([
                query,
                sort.map(SearchSort::as_str),
                order.map(Direction::as_str)
            ])
            .to_string(),
        }
    }
}

/// The `next_cursor` of a page: its `next` link, sealed with what the list is of, so a
/// cursor is refused for another repository or search.
fn next_cursor(
    context: &ToolContext,
    next: Option<String>,
    of: &ListOf<'_>,
) -> Result<Option<String>, Error> {
    let of = of.key();
    next.map(|link| context.seal_cursor(&format!("{of}\n{link}")))
        .transpose()
}

/// Whether `link` points at the API `api` (same scheme, host and port, a path under the
/// API's, no credentials or fragment; dot segments were resolved when it was parsed):
/// only then may a request to it carry a credential.
pub(super) fn on_api(api: &url::Url, link: &url::Url) -> bool {
    let api_path = api.path().trim_end_matches('/');
    link.origin() == api.origin()
        && link.username().is_empty()
        && link.password().is_none()
        && link.fragment().is_none()
        && link.path().starts_with(&format!("{api_path}/"))
}

/// `repos/{owner}/{repo}` under the API base, for the caller to extend.
fn repo_url(context: &ToolContext, repository: &RepositoryName) -> Result<UrlBuilder, Error> {
    Ok(endpoints(context)?
        .api
        .url()
        .path("repos")
        .arg("/repository", repository.owner())
        .arg("/repository", repository.name()))
}

fn with_query(mut url: url::Url, pairs: &[(&str, Option<String>)]) -> url::Url {
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    url
}

fn per_page(limit: Option<u8>) -> String {
    limit.unwrap_or(30).clamp(1, 100).to_string()
}

/// Sort direction.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Direction {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

#[derive(Deserialize)]
struct User {
    login: String,
}

/// The login of an item's author: GitHub documents the user of a pull request and of a
/// search item as nullable (a deleted account), and shows such an author as `ghost`.
fn author(user: Option<User>) -> String {
    user.map_or_else(|| "ghost".to_owned(), |u| u.login)
}

// ---- github_create_issue ----

/// Arguments of `github_create_issue`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CreateIssueArgs {
    /// The repository, `owner/name`.
    pub repository: RepositoryName,
    /// The title.
    #[schemars(length(min = 1, max = 256))]
    pub title: String,
    /// The body, in Markdown.
    #[serde(default)]
    pub body: Option<String>,
    /// Label names.
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// Logins of the people to assign.
    #[serde(default)]
    pub assignees: Option<Vec<String>>,
}

/// An issue, as created.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct IssueRef {
    /// The issue number in its repository.
    pub number: u64,
    /// The REST id.
    pub id: u64,
    /// The GraphQL node id.
    pub node_id: String,
    /// The issue's web URL.
    pub html_url: String,
    /// The title.
    pub title: String,
    /// `open` or `closed`.
    pub state: String,
}

/// `github_create_issue`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CreateIssue;

impl Tool for CreateIssue {
    type Args = CreateIssueArgs;
    type Output = IssueRef;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<CreateIssueArgs>(
            "github_create_issue",
            "Open an issue in a GitHub repository. Returns its number and URL.",
        )
        .with_title("Create GitHub issue")
        .with_annotations(ToolAnnotations::additive())
        .with_capability(
            const { integrations_core::model::Capability::from_static("issue.create") },
        )
    }

    async fn call(&self, args: CreateIssueArgs, context: &ToolContext) -> Result<IssueRef, Error> {
        let url = repo_url(context, &args.repository)?
            .path("issues")
            .build()?;
        let mut body = Map::new();
        body.insert("title".into(), json!(args.title));
        if let Some(text) = args.body {
            body.insert("body".into(), json!(text));
        }
        if let Some(labels) = args.labels {
            body.insert("labels".into(), json!(labels));
        }
        if let Some(assignees) = args.assignees {
            body.insert("assignees".into(), json!(assignees));
        }
        let response = send(context, json_request(Method::POST, url.as_str(), &body)?).await?;
        read_json(&response)
    }
}

// ---- github_create_issue_comment ----

/// Arguments of `github_create_issue_comment`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CreateIssueCommentArgs {
    /// The repository, `owner/name`.
    pub repository: RepositoryName,
    /// The issue or pull request number.
    #[schemars(range(min = 1))]
    pub issue_number: u64,
    /// The comment, in Markdown.
    #[schemars(length(min = 1))]
    pub body: String,
}

/// A comment, as created.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct CommentRef {
    /// The REST id.
    pub id: u64,
    /// The GraphQL node id.
    pub node_id: String,
    /// The comment's web URL.
    pub html_url: String,
}

/// `github_create_issue_comment`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CreateIssueComment;

impl Tool for CreateIssueComment {
    type Args = CreateIssueCommentArgs;
    type Output = CommentRef;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<CreateIssueCommentArgs>(
            "github_create_issue_comment",
            "Comment on a GitHub issue or pull request (pull requests are issues).",
        )
        .with_title("Comment on GitHub issue")
        .with_annotations(ToolAnnotations::additive())
        .with_capability(
            const { integrations_core::model::Capability::from_static("comment.write") },
        )
    }

    async fn call(
        &self,
        args: CreateIssueCommentArgs,
        context: &ToolContext,
    ) -> Result<CommentRef, Error> {
        let number = args.issue_number.to_string();
        let url = repo_url(context, &args.repository)?
            .path("issues")
            .arg("/issue_number", &number)
            .path("comments")
            .build()?;
        let response = send(
            context,
            json_request(Method::POST, url.as_str(), &json!({"body": args.body}))?,
        )
        .await?;
        read_json(&response)
    }
}

// ---- github_list_pull_requests ----

/// Which pull requests.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PullState {
    /// Open ones.
    Open,
    /// Closed and merged ones.
    Closed,
    /// All.
    All,
}

impl PullState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::All => "all",
        }
    }
}

/// How pull requests are ordered.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PullSort {
    /// By creation.
    Created,
    /// By last update.
    Updated,
    /// By comment count.
    Popularity,
    /// By age, for pull requests updated in the last month.
    LongRunning,
}

impl PullSort {
    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Popularity => "popularity",
            Self::LongRunning => "long-running",
        }
    }
}

/// Arguments of `github_list_pull_requests`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ListPullRequestsArgs {
    /// The repository, `owner/name`.
    pub repository: RepositoryName,
    /// Which pull requests (default open).
    #[serde(default)]
    pub state: Option<PullState>,
    /// Only those into this base branch.
    #[serde(default)]
    pub base: Option<String>,
    /// Only those from this head, `user:branch`.
    #[serde(default)]
    pub head: Option<String>,
    /// The order (default created).
    #[serde(default)]
    pub sort: Option<PullSort>,
    /// The direction.
    #[serde(default)]
    pub direction: Option<Direction>,
    /// How many per page (1 to 100, default 30).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u8>,
    /// The `next_cursor` of the previous page, unchanged (it is sealed: an altered one,
    /// or one of another repository's list, is refused); the other filters are then
    /// those of the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A pull request in a list.
#[derive(Debug, Serialize, JsonSchema)]
#[non_exhaustive]
pub struct PullSummary {
    /// The number.
    pub number: u64,
    /// The title.
    pub title: String,
    /// `open` or `closed`.
    pub state: String,
    /// Whether it is a draft.
    pub draft: bool,
    /// The web URL.
    pub html_url: String,
    /// The author's login.
    pub author: String,
    /// The head branch.
    pub head: String,
    /// The base branch.
    pub base: String,
    /// When it was last updated (RFC 3339).
    pub updated_at: String,
}

/// A page of pull requests.
#[derive(Debug, Serialize, JsonSchema)]
#[non_exhaustive]
pub struct PullPage {
    /// The pull requests.
    pub pull_requests: Vec<PullSummary>,
    /// Pass as `cursor` to read the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    name: String,
}

#[derive(Deserialize)]
struct PullNode {
    number: u64,
    title: String,
    state: String,
    #[serde(default)]
    draft: bool,
    html_url: String,
    #[serde(default)]
    user: Option<User>,
    head: Branch,
    base: Branch,
    updated_at: String,
}

/// `github_list_pull_requests`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ListPullRequests;

impl Tool for ListPullRequests {
    type Args = ListPullRequestsArgs;
    type Output = PullPage;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<ListPullRequestsArgs>(
            "github_list_pull_requests",
            "List the pull requests of a GitHub repository, a page at a time.",
        )
        .with_title("List GitHub pull requests")
        .with_annotations(ToolAnnotations::read_only())
        .with_capability(const { integrations_core::model::Capability::from_static("pr.read") })
    }

    async fn call(
        &self,
        args: ListPullRequestsArgs,
        context: &ToolContext,
    ) -> Result<PullPage, Error> {
        let url = match &args.cursor {
            Some(cursor) => checked_cursor(context, cursor, &ListOf::Repository(&args.repository))?,
            None => with_query(
                repo_url(context, &args.repository)?.path("pulls").build()?,
                &[
                    ("state", args.state.map(|s| s.as_str().to_owned())),
                    ("base", args.base),
                    ("head", args.head),
                    ("sort", args.sort.map(|s| s.as_str().to_owned())),
                    ("direction", args.direction.map(|d| d.as_str().to_owned())),
                    ("per_page", Some(per_page(args.limit))),
                ],
            )
            .to_string(),
        };
        let (nodes, next): (Vec<PullNode>, _) = get_json(context, &url).await?;
        Ok(PullPage {
            pull_requests: nodes
                .into_iter()
                .map(|n| PullSummary {
                    number: n.number,
                    title: n.title,
                    state: n.state,
                    draft: n.draft,
                    html_url: n.html_url,
                    author: author(n.user),
                    head: n.head.name,
                    base: n.base.name,
                    updated_at: n.updated_at,
                })
                .collect(),
            next_cursor: next_cursor(context, next, &ListOf::Repository(&args.repository))?,
        })
    }
}

// ---- github_get_file_contents ----

/// Arguments of `github_get_file_contents`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GetFileContentsArgs {
    /// The repository, `owner/name`.
    pub repository: RepositoryName,
    /// The file or directory path from the repository root (`src/main.rs`, `src/`);
    /// empty, `/` or left out: the root directory. Empty segments inside, `.` and `..`
    /// are refused.
    #[serde(default)]
    pub path: Option<String>,
    /// A branch, tag or commit (default: the default branch).
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
}

/// An entry of a directory.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct DirectoryEntry {
    /// The name.
    pub name: String,
    /// The path from the repository root.
    pub path: String,
    /// `file`, `dir` or `symlink` (GitHub lists submodules as `file`; read one to see
    /// that it is a `submodule`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The size in bytes (files).
    #[serde(default)]
    pub size: u64,
}

/// A file's contents, a directory's entries, or what a symlink or submodule points at.
#[derive(Debug, Serialize, JsonSchema)]
#[non_exhaustive]
pub struct FileContents {
    /// The path (empty for the repository root).
    pub path: String,
    /// `file`, `dir`, `symlink` (one whose target is not a file of the repository) or
    /// `submodule`.
    pub kind: String,
    /// The blob SHA (files, symlinks), or the commit a submodule is at.
    pub sha: Option<String>,
    /// The size in bytes (files, symlinks).
    pub size: Option<u64>,
    /// How `content` is written: `utf-8` text, or `base64` for binary files.
    pub encoding: Option<String>,
    /// The file's contents (files).
    pub content: Option<String>,
    /// The entries (directories). GitHub lists at most 1,000 entries of a directory:
    /// with 1,000 here, there may be more, which this tool cannot list.
    pub entries: Option<Vec<DirectoryEntry>>,
    /// Where a symlink points, or a submodule's git URL.
    pub target: Option<String>,
    /// The web URL (files, symlinks, submodules).
    pub html_url: Option<String>,
}

#[derive(Deserialize)]
struct FileNode {
    #[serde(rename = "type", default = "file_kind")]
    kind: String,
    path: String,
    sha: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    content: Option<String>,
    /// A symlink's target.
    #[serde(default)]
    target: Option<String>,
    /// A submodule's git URL.
    #[serde(default)]
    submodule_git_url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

fn file_kind() -> String {
    "file".to_owned()
}

/// The path segments of a `path` argument: a leading `/` and one trailing `/` are
/// dropped, so `""`, `"/"` and no path at all name the repository root.
fn path_segments(path: Option<&str>) -> Vec<&str> {
    let path = path.unwrap_or_default().trim_start_matches('/');
    let path = path.strip_suffix('/').unwrap_or(path);
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').collect()
    }
}

impl FileNode {
    /// A symlink (whose target is not a file of the repository: GitHub answers such a
    /// symlink with the file's contents) or a submodule: what it points at, no contents.
    fn link(self) -> FileContents {
        let target = if self.kind == "submodule" {
            self.submodule_git_url
        } else {
            self.target
        };
        let size = (self.kind != "submodule").then_some(self.size);
        FileContents {
            path: self.path,
            kind: self.kind,
            sha: Some(self.sha),
            size,
            encoding: None,
            content: None,
            entries: None,
            target,
            html_url: self.html_url,
        }
    }
}

/// `github_get_file_contents`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct GetFileContents;

impl Tool for GetFileContents {
    type Args = GetFileContentsArgs;
    type Output = FileContents;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<GetFileContentsArgs>(
            "github_get_file_contents",
            "Read a file (decoded) or list a directory (the root when no path is given) of a GitHub repository.",
        )
        .with_title("Get GitHub file contents")
        .with_annotations(ToolAnnotations::read_only())
        .with_capability(const { integrations_core::model::Capability::from_static("repo.read") })
    }

    async fn call(
        &self,
        args: GetFileContentsArgs,
        context: &ToolContext,
    ) -> Result<FileContents, Error> {
        let segments = path_segments(args.path.as_deref());
        let path = segments.join("/");
        let url = segments.iter().fold(
            repo_url(context, &args.repository)?.path("contents"),
            |url, s| url.arg("/path", s),
        );
        let url = with_query(url.build()?, &[("ref", args.reference)]);
        let (value, _): (Value, _) = get_json(context, url.as_str()).await?;
        if let Value::Array(_) = value {
            let entries: Vec<DirectoryEntry> = serde_json::from_value(value).map_err(|_| {
                integrations_core::codes::tool::UNEXPECTED_RESPONSE
                    .error("GitHub answered with a directory listing that is not the JSON expected")
            })?;
            return Ok(FileContents {
                path,
                kind: "dir".into(),
                sha: None,
                size: None,
                encoding: None,
                content: None,
                entries: Some(entries),
                target: None,
                html_url: None,
            });
        }
        let file: FileNode = serde_json::from_value(value).map_err(|_| {
            integrations_core::codes::tool::UNEXPECTED_RESPONSE
                .error("GitHub answered with file contents that are not the JSON expected")
        })?;
        match file.kind.as_str() {
            "file" => {}
            "symlink" | "submodule" => return Ok(file.link()),
            _ => {
                return Err(integrations_core::codes::tool::UNEXPECTED_RESPONSE
                    .error("GitHub answered with an entry of a type this tool does not know"));
            }
        }
        let (encoding, text) = match (file.encoding.as_deref(), file.content) {
            (Some("base64"), Some(encoded)) => {
                let compact: String = encoded
                    .chars()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect();
                let bytes = STANDARD.decode(compact.as_bytes()).map_err(|_| {
                    crate::codes::github::INVALID_CONTENT
                        .error("GitHub sent file contents that are not valid base64")
                })?;
                match String::from_utf8(bytes) {
                    Ok(text) => ("utf-8", text),
                    Err(e) => ("base64", STANDARD.encode(e.into_bytes())),
                }
            }
            // Files over 1 MB come without content (encoding "none").
            _ => {
                return Err(crate::codes::github::FILE_TOO_LARGE.error(
                    "GitHub does not return the contents of files this large through this endpoint",
                ));
            }
        };
        Ok(FileContents {
            path: file.path,
            kind: "file".into(),
            sha: Some(file.sha),
            size: Some(file.size),
            encoding: Some(encoding.to_owned()),
            content: Some(text),
            entries: None,
            target: None,
            html_url: file.html_url,
        })
    }
}

// ---- github_search_issues ----

/// How search results are ordered.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SearchSort {
    /// By comment count.
    Comments,
    /// By reaction count.
    Reactions,
    /// By creation.
    Created,
    /// By last update.
    Updated,
}

impl SearchSort {
    fn as_str(self) -> &'static str {
        match self {
            Self::Comments => "comments",
            Self::Reactions => "reactions",
            Self::Created => "created",
            Self::Updated => "updated",
        }
    }
}

/// Arguments of `github_search_issues`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SearchIssuesArgs {
    /// GitHub search syntax: words and qualifiers such as `repo:owner/name`, `is:issue`,
    /// `is:pr`, `is:open`, `label:bug`. Issues and pull requests are searched apart:
    /// with `is:pr` (or `is:pull-request`), pull requests; otherwise issues (`is:issue`
    /// is added when the query names neither, since GitHub refuses a search that could
    /// return both).
    #[schemars(length(min = 1, max = 256))]
    pub query: String,
    /// The order (default best match).
    #[serde(default)]
    pub sort: Option<SearchSort>,
    /// The direction.
    #[serde(default)]
    pub order: Option<Direction>,
    /// How many per page (1 to 100, default 30).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u8>,
    /// The `next_cursor` of the previous page, unchanged (it is sealed: an altered one
    /// is refused), with the first page's query, sort and order: a cursor of another
    /// search is refused.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// An issue or pull request found.
#[derive(Debug, Serialize, JsonSchema)]
#[non_exhaustive]
pub struct SearchItem {
    /// The number.
    pub number: u64,
    /// The title.
    pub title: String,
    /// `open` or `closed`.
    pub state: String,
    /// The web URL.
    pub html_url: String,
    /// The repository, `owner/name`.
    pub repository: String,
    /// Whether it is a pull request.
    pub is_pull_request: bool,
    /// The author's login.
    pub author: String,
}

/// A page of search results.
#[derive(Debug, Serialize, JsonSchema)]
#[non_exhaustive]
pub struct SearchPage {
    /// How many match in all.
    pub total_count: u64,
    /// Whether GitHub stopped searching early (results may be missing).
    pub incomplete_results: bool,
    /// The matches.
    pub items: Vec<SearchItem>,
    /// Pass as `cursor` to read the next page; absent on the last page. GitHub returns
    /// at most 1,000 results of a search: past them there is no next page, even when
    /// `total_count` is larger; narrow the query to reach the rest.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct SearchNode {
    number: u64,
    title: String,
    state: String,
    html_url: String,
    repository_url: String,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    pull_request: Option<Value>,
}

#[derive(Deserialize)]
struct SearchResponse {
    total_count: u64,
    incomplete_results: bool,
    items: Vec<SearchNode>,
}

/// `owner/name` from a repository's API URL (`.../repos/owner/name`).
fn repository_of(url: &str) -> String {
    let mut parts = url.rsplit('/');
    let name = parts.next().unwrap_or_default();
    let owner = parts.next().unwrap_or_default();
    format!("{owner}/{name}")
}

/// `query` naming what it searches for: GitHub refuses (422, "Query must include
/// 'is:issue' or 'is:pull-request'") an issue search that could return both, so a query
/// that names neither searches issues, and one that only excludes a kind (`-is:issue`)
/// searches the other. Quoted phrases are words, not qualifiers; a qualifier inside
/// parentheses counts.
fn typed_query(query: String) -> String {
    const ISSUE: [&str; 2] = ["is:issue", "type:issue"];
    const PULL: [&str; 3] = ["is:pr", "is:pull-request", "type:pr"];
    let mut named = false;
    let mut excluded_issues = false;
    let mut quoted = false;
    for term in query.split_whitespace() {
        let was_quoted = quoted;
        quoted ^= term.matches('"').count() % 2 == 1;
        if was_quoted || term.starts_with('"') {
            continue;
        }
        let term = term
            .trim_matches(|c| c == '(' || c == ')')
            .to_ascii_lowercase();
        let (negated, qualifier) = match term.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, term.as_str()),
        };
        let is_issue = ISSUE.contains(&qualifier);
        if !negated && (is_issue || PULL.contains(&qualifier)) {
            named = true;
        }
        excluded_issues |= negated && is_issue;
    }
    match (named, excluded_issues) {
        (true, _) => query,
        (false, true) => format!("{query} is:pr"),
        (false, false) => format!("{query} is:issue"),
    }
}

/// `github_search_issues`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SearchIssues;

impl Tool for SearchIssues {
    type Args = SearchIssuesArgs;
    type Output = SearchPage;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<SearchIssuesArgs>(
            "github_search_issues",
            "Search GitHub issues (or, with is:pr in the query, pull requests) with GitHub's search syntax, a page at a time.",
        )
        .with_title("Search GitHub issues")
        .with_annotations(ToolAnnotations::read_only())
        .with_capability(const { integrations_core::model::Capability::from_static("issue.read") })
    }

    async fn call(
        &self,
        args: SearchIssuesArgs,
        context: &ToolContext,
    ) -> Result<SearchPage, Error> {
        let search = ListOf::Search {
            query: &args.query,
            sort: args.sort,
            order: args.order,
        };
        let url = if let Some(cursor) = &args.cursor {
            checked_cursor(context, cursor, &search)?
        } else {
            let endpoints = endpoints(context)?;
            let base = endpoints.api.url().path("search/issues").build()?;
            with_query(
                base,
                &[
                    ("q", Some(typed_query(args.query.clone()))),
                    ("sort", args.sort.map(|s| s.as_str().to_owned())),
                    ("order", args.order.map(|d| d.as_str().to_owned())),
                    ("per_page", Some(per_page(args.limit))),
                ],
            )
            .to_string()
        };
        let (found, next): (SearchResponse, _) = get_json(context, &url).await?;
        Ok(SearchPage {
            total_count: found.total_count,
            incomplete_results: found.incomplete_results,
            items: found
                .items
                .into_iter()
                .map(|n| SearchItem {
                    number: n.number,
                    title: n.title,
                    state: n.state,
                    html_url: n.html_url,
                    repository: repository_of(&n.repository_url),
                    is_pull_request: n.pull_request.is_some(),
                    author: author(n.user),
                })
                .collect(),
            next_cursor: next_cursor(context, next, &search)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{PullNode, SearchNode, author, rejected_fields, typed_query};

    /// GitHub documents the user of a pull request and of a search item as nullable (a
    /// deleted account): such an item is read, its author shown as GitHub shows it.
    #[test]
    fn an_item_whose_author_was_deleted_is_read_with_the_ghost_author() {
        let pull: PullNode = serde_json::from_value(json!({
            "number": 7, "title": "t", "state": "open", "html_url": "https://github.com/o/r/pull/7",
            "user": null, "head": {"ref": "f"}, "base": {"ref": "main"},
            "updated_at": "2026-11-01T00:00:00Z",
        }))
        .unwrap();
        assert_eq!(author(pull.user), "ghost");
        let found: SearchNode = serde_json::from_value(json!({
            "number": 7, "title": "t", "state": "open", "html_url": "https://github.com/o/r/issues/7",
            "repository_url": "https://api.github.com/repos/o/r",
        }))
        .unwrap();
        assert_eq!(author(found.user), "ghost");
    }

    #[test]
    fn a_query_naming_neither_issues_nor_pull_requests_searches_issues() {
        assert_eq!(typed_query("bug label:x".into()), "bug label:x is:issue");
        for typed in [
            "is:pr bug",
            "bug IS:ISSUE",
            "type:pr x",
            "is:pull-request y",
        ] {
            assert_eq!(typed_query(typed.into()), typed);
        }
        // A negated kind names no kind; excluding issues asks for pull requests.
        assert_eq!(typed_query("-is:pr bug".into()), "-is:pr bug is:issue");
        assert_eq!(typed_query("-is:issue bug".into()), "-is:issue bug is:pr");
        // A quoted phrase is words; parentheses group qualifiers.
        assert_eq!(
            typed_query("\"fix is:pr docs\" x".into()),
            "\"fix is:pr docs\" x is:issue"
        );
        assert_eq!(typed_query("(is:pr label:x)".into()), "(is:pr label:x)");
    }

    /// GitHub's `422 Validation Failed` names what it refused: each entry's resource,
    /// field and code become an issue an agent can act on; values, free-text messages
    /// and anything that is not a plain name never do.
    #[test]
    fn a_validation_failure_names_the_fields_github_refused_and_no_value() {
        let body = json!({
            "message": "Validation Failed",
            "errors": [
                {"resource": "Issue", "field": "title", "code": "missing_field"},
                {"resource": "Issue", "field": "assignees", "code": "invalid", "value": "secret-login"},
                {"resource": "Issue", "code": "custom", "message": "the body quoted secret-login"},
                {"resource": "Issue", "field": "x\" onerror=\"", "code": "invalid"},
                {"message": "no code at all"},
                "a string entry",
            ],
            "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue",
            "status": "422",
        });
        let response = http::Response::builder()
            .status(422)
            .body(bytes::Bytes::from(body.to_string()))
            .unwrap();
        let issues = rejected_fields(&response);
        let messages: Vec<&str> = issues.iter().map(|i| i.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "GitHub refused Issue.title: missing_field",
                "GitHub refused Issue.assignees: invalid",
                "GitHub refused Issue.?: custom",
                "GitHub refused Issue.?: invalid",
            ]
        );
        assert!(issues.iter().all(|i| i.code == "github.field_rejected"));
        assert!(messages.iter().all(|m| !m.contains("secret-login")));
        let not_json = http::Response::builder()
            .status(422)
            .body(bytes::Bytes::from_static(b"<html>"))
            .unwrap();
        assert!(rejected_fields(&not_json).is_empty());
    }
}
