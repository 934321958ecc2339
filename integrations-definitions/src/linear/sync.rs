//! Linear sync: the `issues`, `comments` and `projects` streams over GraphQL.
//!
//! Each page is one query of the stream's connection with `first: 50`, `after` (the
//! previous page's `pageInfo.endCursor`), `orderBy: createdAt` (a full run's cursor
//! stays valid while records change) and `includeArchived: true`. An incremental run
//! adds `filter: {updatedAt: {gt: <watermark>}}`. Creation order is not `updatedAt`
//! order, so a record updated after its page was read may be older than one read later:
//! the watermark never passes the run's start minus
//! [`WATERMARK_MARGIN`](integrations_core::sync::WATERMARK_MARGIN), and the next run
//! reads it again. Records whose `archivedAt` is set, or
//! issues whose `trashed` is true, are reported as deletes. Records removed for good
//! (trash emptied after 30 days) are not listed by Linear at all: a host that must drop
//! them deletes the stream and runs a full sync.
//!
//! An incremental run also reads in full the teams the token has gained access to since
//! the stream last read everything (a private team its user joined, say): what was
//! changed there before the watermark was never read. Each run lists the teams first
//! (`teams`, 250 a page); the checkpoint keeps the teams read in full, and a run that has
//! others reads their records first, with the stream's team filter (`team`, `issue.team`,
//! `accessibleTeams`) and no `updatedAt`, then the changes of every team. A team the token
//! lost access to is forgotten, so regaining it reads it in full again. Comments that are
//! not on an issue (on project updates, say) have no team and are read from the
//! watermark only.
//!
//! Rate limits come as `errors[].extensions.code = "RATELIMITED"` (HTTP 400); the wait
//! is until `X-RateLimit-Complexity-Reset` when the complexity budget is the one
//! exhausted (`X-RateLimit-Complexity-Remaining: 0`), else `X-RateLimit-Requests-Reset`
//! (both epoch milliseconds). See `docs/sync.md` for the sources.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use async_trait::async_trait;
use http::Method;
use integrations_core::definition::{ConnectionMethodKind, IntegrationDefinition};
use integrations_core::host::HttpResponse;
use integrations_core::sync::{SyncPage, SyncRecord, SyncRequest, SyncSource, SyncStream};
use integrations_core::tools::{RateLimitRule, RequestAuth, ResetFormat, json_request};
use integrations_core::{Error, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Linear;
use super::schemas::LinearTargetConfig;
use crate::sync_support;

/// Records per page: Linear's default connection size, well under the 10 000-point
/// complexity cap of one query.
pub const PAGE_SIZE: u64 = 50;

/// The `issues` page query.
pub const SYNC_ISSUES: &str = "query SyncIssues($first: Int!, $after: String, $filter: IssueFilter, $includeArchived: Boolean) {
  issues(first: $first, after: $after, filter: $filter, orderBy: createdAt, includeArchived: $includeArchived) {
    nodes { id identifier title description priority url createdAt updatedAt archivedAt trashed state { name type } team { id } }
    pageInfo { hasNextPage endCursor }
  }
}";

/// The `comments` page query.
pub const SYNC_COMMENTS: &str = "query SyncComments($first: Int!, $after: String, $filter: CommentFilter, $includeArchived: Boolean) {
  comments(first: $first, after: $after, filter: $filter, orderBy: createdAt, includeArchived: $includeArchived) {
    nodes { id body url createdAt updatedAt archivedAt issue { id } user { id } }
    pageInfo { hasNextPage endCursor }
  }
}";

/// The `projects` page query.
pub const SYNC_PROJECTS: &str = "query SyncProjects($first: Int!, $after: String, $filter: ProjectFilter, $includeArchived: Boolean) {
  projects(first: $first, after: $after, filter: $filter, orderBy: createdAt, includeArchived: $includeArchived) {
    nodes { id name description state url createdAt updatedAt archivedAt }
    pageInfo { hasNextPage endCursor }
  }
}";

/// The teams query: the teams the token can read.
pub const SYNC_TEAMS: &str = "query SyncTeams($first: Int!, $after: String) {
  teams(first: $first, after: $after) {
    nodes { id }
    pageInfo { hasNextPage endCursor }
  }
}";

/// Teams per page of [`SYNC_TEAMS`]: Linear's largest page.
pub const TEAMS_PAGE_SIZE: u64 = 250;

static REQUESTS_LIMIT: LazyLock<RateLimitRule> = LazyLock::new(|| {
    RateLimitRule::new()
        .with_graphql_code("RATELIMITED")
        .with_reset_header("X-RateLimit-Requests-Reset", ResetFormat::EpochMillis)
});

static COMPLEXITY_LIMIT: LazyLock<RateLimitRule> = LazyLock::new(|| {
    RateLimitRule::new()
        .with_graphql_code("RATELIMITED")
        .with_reset_header("X-RateLimit-Complexity-Reset", ResetFormat::EpochMillis)
});

fn streams() -> Vec<SyncStream> {
    vec![
        SyncStream::new("issues", true),
        SyncStream::new("comments", true),
        SyncStream::new("projects", true),
    ]
}

/// Where a run is: the teams listed at its start, the teams it reads in full before the
/// changes (an incremental run's newcomers, until read), and Linear's cursor in the
/// current query.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    teams: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    newcomers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

/// Kept with the checkpoint: the teams whose records the stream has read in full (in a
/// full run, or as newcomers in an incremental one). A completed run names every team it
/// listed: the runner keeps a source's state only when its run completes.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    read: BTreeSet<String>,
}

/// The filter selecting a stream's records of `teams`.
fn team_filter(stream: &str, teams: &[String]) -> Value {
    let team = json!({"id": {"in": teams}});
    match stream {
        "issues" => json!({"team": team}),
        "comments" => json!({"issue": {"team": team}}),
        _ => json!({"accessibleTeams": {"some": team}}),
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    errors: Vec<GraphQlError>,
}

#[derive(Deserialize)]
struct GraphQlError {
    #[serde(default)]
    extensions: Option<Extensions>,
}

#[derive(Deserialize)]
struct Extensions {
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
struct Connection {
    nodes: Vec<Value>,
    #[serde(rename = "pageInfo")]
    page_info: PageInfo,
}

#[derive(Deserialize)]
struct PageInfo {
    #[serde(rename = "hasNextPage")]
    has_next_page: bool,
    #[serde(rename = "endCursor")]
    end_cursor: Option<String>,
}

/// Linear refuses a token with HTTP 401 or `AUTHENTICATION_ERROR` (often HTTP 400).
fn rejected(response: &HttpResponse) -> bool {
    response.status() == http::StatusCode::UNAUTHORIZED
        || serde_json::from_slice::<Envelope>(response.body()).is_ok_and(|e| {
            e.errors.iter().any(|e| {
                e.extensions
                    .as_ref()
                    .and_then(|x| x.code.as_deref())
                    .is_some_and(|c| c == "AUTHENTICATION_ERROR")
            })
        })
}

fn rate_limit(response: &HttpResponse, now: integrations_core::Timestamp) -> Option<Error> {
    if !REQUESTS_LIMIT.is_limited(response) {
        return None;
    }
    // The complexity limit is a leaky bucket: it refuses a query that costs more than
    // is left (`X-Complexity`), not only once nothing is left.
    let number = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let complexity = number("X-RateLimit-Complexity-Remaining")
        .is_some_and(|left| left == 0 || number("X-Complexity").is_some_and(|cost| left < cost));
    let rule = if complexity {
        &*COMPLEXITY_LIMIT
    } else {
        &*REQUESTS_LIMIT
    };
    let wait = rule.wait(response, now);
    Some(
        crate::codes::sync::RATE_LIMITED
            .error(format!(
                "Linear's {} limit was reached; retry after {} ms",
                if complexity { "complexity" } else { "request" },
                wait.as_millis()
            ))
            .with_retry_after(wait),
    )
}

/// A node as a record, or as a delete when archived or trashed.
enum Node {
    Record(SyncRecord),
    Deleted(String),
}

fn read_node(node: Value) -> Option<Node> {
    let id = node.get("id")?.as_str()?.to_owned();
    let archived = node.get("archivedAt").is_some_and(|v| !v.is_null());
    let trashed = node.get("trashed").and_then(Value::as_bool) == Some(true);
    if archived || trashed {
        return Some(Node::Deleted(id));
    }
    let updated_at = node
        .get("updatedAt")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some(Node::Record(SyncRecord::new(id, updated_at, node)))
}

#[async_trait]
impl SyncSource for Linear {
    fn streams(&self) -> Vec<SyncStream> {
        streams()
    }

    /// `updatedAt` is Linear's clock, RFC 3339 with milliseconds.
    fn watermark_at(&self, _stream: &str, at: Timestamp) -> Option<String> {
        Some(at.to_rfc3339())
    }

    async fn fetch_page(&self, request: SyncRequest<'_>) -> Result<SyncPage, Error> {
        let (document, field) = match request.stream {
            "issues" => (SYNC_ISSUES, "issues"),
            "comments" => (SYNC_COMMENTS, "comments"),
            "projects" => (SYNC_PROJECTS, "projects"),
            other => return Err(sync_support::unknown_stream("Linear", other, &streams())),
        };
        let config = request.target_config.get::<LinearTargetConfig>()?;
        let (selector, kind) =
            sync_support::credential(&self.connection_methods(), request.connection)?;
        let auth = match kind {
            // Personal API keys are sent as they are, without a scheme.
            ConnectionMethodKind::ApiKey => RequestAuth::raw_header(selector, "Authorization"),
            _ => RequestAuth::bearer(selector),
        }
        .with_rejection(rejected);
        let call = Call {
            request: &request,
            url: format!(
                "{}/graphql",
                config.api_base_url.as_str().trim_end_matches('/')
            ),
            auth,
        };
        let mut state: State = serde_json::from_value(request.state.clone()).unwrap_or_default();
        let mut cursor: Cursor = if let Some(saved) = request.cursor {
            sync_support::decode_cursor("Linear", saved)?
        } else {
            let teams = call.teams().await?;
            // Only a run reading changes has newcomers: any other reads everything.
            let newcomers = if request.since.is_some() {
                teams
                    .iter()
                    .filter(|t| !state.read.contains(*t))
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            Cursor {
                teams,
                newcomers,
                after: None,
            }
        };
        // A team the run does not list (access lost) is forgotten: regained, it was not
        // read meanwhile.
        let known = state.read.len();
        let listed: BTreeSet<&String> = cursor.teams.iter().collect();
        state.read.retain(|t| listed.contains(t));
        let mut changed = state.read.len() != known;

        let newcomers = !cursor.newcomers.is_empty();
        let filter = if newcomers {
            Some(team_filter(field, &cursor.newcomers))
        } else {
            request
                .since
                .map(|since| json!({"updatedAt": {"gt": since}}))
        };
        let variables = json!({
            "first": PAGE_SIZE,
            "after": cursor.after,
            "filter": filter,
            "includeArchived": true,
        });
        let connection = call.query(document, variables, field).await?;
        let status = http::StatusCode::OK;
        let mut records = Vec::with_capacity(connection.nodes.len());
        let mut deleted = Vec::new();
        for node in connection.nodes {
            match read_node(node) {
                Some(Node::Record(r)) => records.push(r),
                Some(Node::Deleted(id)) => deleted.push(id),
                None => return Err(sync_support::unexpected("Linear", status)),
            }
        }
        let more = if connection.page_info.has_next_page {
            cursor.after = Some(
                connection
                    .page_info
                    .end_cursor
                    .ok_or_else(|| sync_support::unexpected("Linear", status))?,
            );
            true
        } else if newcomers {
            // The newcomers are read; the changes of every team come next.
            cursor.newcomers.clear();
            cursor.after = None;
            true
        } else {
            // The run is complete: every team listed at its start has been read in full,
            // in this run or before (the newcomers were all the others).
            for team in &cursor.teams {
                changed |= state.read.insert(team.clone());
            }
            false
        };
        let next = if more {
            Some(sync_support::encode_cursor("Linear", &cursor)?)
        } else {
            None
        };
        let page = SyncPage::new(records, next).with_deleted(deleted);
        Ok(sync_support::with_state_if(page, changed, &state))
    }
}

/// One sync run's requests to Linear's GraphQL endpoint.
struct Call<'a> {
    request: &'a SyncRequest<'a>,
    url: String,
    auth: RequestAuth,
}

impl Call<'_> {
    /// The connection `field` of the answer to `document`.
    async fn query(
        &self,
        document: &str,
        variables: Value,
        field: &str,
    ) -> Result<Connection, Error> {
        let resumed = variables.get("after").is_some_and(|after| !after.is_null());
        let body = json!({"query": document, "variables": variables});
        let response = self
            .request
            .send(json_request(Method::POST, &self.url, &body)?, &self.auth)
            .await?;
        if let Some(limited) = rate_limit(&response, self.request.clock.now()) {
            return Err(limited);
        }
        // A server error is temporary whatever its body says; a client error's body names
        // Linear's reason.
        if response.status().is_server_error()
            || response.status() == http::StatusCode::REQUEST_TIMEOUT
        {
            return Err(sync_support::status("Linear", response.status()));
        }
        let envelope: Envelope = match serde_json::from_slice(response.body()) {
            Ok(envelope) => envelope,
            Err(_) if !response.status().is_success() => {
                return Err(sync_support::status("Linear", response.status()));
            }
            Err(_) => return Err(sync_support::unexpected("Linear", response.status())),
        };
        if let Some(code) = envelope
            .errors
            .iter()
            .find_map(|e| e.extensions.as_ref().and_then(|x| x.code.clone()))
            .or_else(|| (!envelope.errors.is_empty()).then(|| "UNKNOWN".to_owned()))
        {
            // Linear refuses the input of a query that pages on from a cursor it no
            // longer knows: the runner drops a saved cursor refused so and reads the
            // pages from the start (a cursor found refused mid-run fails the run).
            if resumed && matches!(code.as_str(), "INPUT_ERROR" | "INVALID_INPUT") {
                return Err(
                    integrations_core::codes::sync::INVALID_CURSOR.error(format!(
                        "Linear refused the {field} query's cursor ({code})"
                    )),
                );
            }
            return Err(crate::codes::sync::PROVIDER_ERROR.error(format!(
                "Linear answered the {field} query with the error {code} (HTTP {})",
                response.status().as_u16()
            )));
        }
        if !response.status().is_success() {
            return Err(sync_support::status("Linear", response.status()));
        }
        envelope
            .data
            .and_then(|mut d| d.get_mut(field).map(Value::take))
            .and_then(|c| serde_json::from_value(c).ok())
            .ok_or_else(|| sync_support::unexpected("Linear", response.status()))
    }

    /// The ids of the teams the token can read, sorted.
    async fn teams(&self) -> Result<Vec<String>, Error> {
        let mut teams = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let variables = json!({"first": TEAMS_PAGE_SIZE, "after": after});
            let page = self.query(SYNC_TEAMS, variables, "teams").await?;
            for node in page.nodes {
                let id = node
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| sync_support::unexpected("Linear", http::StatusCode::OK))?;
                teams.push(id.to_owned());
            }
            match (page.page_info.has_next_page, page.page_info.end_cursor) {
                (true, Some(end)) => after = Some(end),
                (true, None) => {
                    return Err(sync_support::unexpected("Linear", http::StatusCode::OK));
                }
                (false, _) => break,
            }
        }
        teams.sort();
        teams.dedup();
        Ok(teams)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use integrations_core::Timestamp;

    use super::*;

    /// A refusal for complexity with some left, less than the query cost (Linear's
    /// complexity limit is a leaky bucket), waits for the complexity reset, not the
    /// request limit's.
    #[test]
    fn a_leaky_complexity_refusal_waits_for_the_complexity_reset() {
        let now = Timestamp::from_unix_seconds(1_800_000_000);
        let at = |ms: i64| (now.unix_millis() + ms).to_string();
        let response = http::Response::builder()
            .status(400)
            .header("X-RateLimit-Requests-Remaining", "4990")
            .header("X-RateLimit-Requests-Reset", at(1_000))
            .header("X-RateLimit-Complexity-Remaining", "1200")
            .header("X-Complexity", "5000")
            .header("X-RateLimit-Complexity-Reset", at(600_000))
            .body(bytes::Bytes::from_static(
                br#"{"errors":[{"message":"Rate limit exceeded","extensions":{"code":"RATELIMITED"}}]}"#,
            ))
            .unwrap();
        let error = rate_limit(&response, now).expect("rate limited");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(600)));
        assert!(error.message().contains("complexity"), "{error}");
    }
}
