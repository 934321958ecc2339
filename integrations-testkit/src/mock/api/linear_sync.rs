//! [`LinearSyncApi`]: the parts of Linear's GraphQL API a sync reads: the `issues`,
//! `comments` and `projects` connections, and `teams`.
//!
//! As Linear does, each takes `first`/`after` (the cursor is the last node's id;
//! `first` at most 250). The record connections also take a `filter`, `orderBy:
//! createdAt` (creation order, so a full run's cursor is stable while records change) and
//! `includeArchived` (archived and trashed records are left out unless it is true;
//! trashing an issue archives it). Every edit, archive or trash moves `updatedAt`. The
//! filters this mock knows are `updatedAt: {gt: <ISO>}` and the record's team, each
//! optional and both together meaning both (Linear ands the fields of a filter): `team:
//! {id: {in: [..]}}` for issues, `issue: {team: {id: {in: [..]}}}` for comments, and
//! `accessibleTeams: {some: {id: {in: [..]}}}` for projects.
//!
//! Every record belongs to a team (`team-eng` unless added with
//! [`LinearSyncApi::add_to_team`]). The token reads only the teams it has access to: the
//! records of the others are in no answer, and `teams` lists only those it reads.
//!
//! Answers carry `X-RateLimit-Requests-*` and `X-Complexity`; limits come back as
//! HTTP 400 with `errors[].extensions.code = "RATELIMITED"` and the reset, epoch
//! milliseconds, in `X-RateLimit-Requests-Reset` (request limit) or
//! `X-RateLimit-Complexity-Reset` (complexity limit), the exhausted one's `-Remaining`
//! at 0. A refused token is `AUTHENTICATION_ERROR`, HTTP 400.

#![allow(
    clippy::result_large_err,
    reason = "the errors are the HTTP answers of a test mock, built once per request"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use integrations_core::host::Clock;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::sync_common::{Faults, MockClock, SyncFault, hang, next_serial, stamp};
use super::{Auth, Journal, Recorded, Scheme, Tokens, lock};
use crate::mock::MockProvider;

const STREAMS: &[(&str, &str)] = &[
    ("issues", "IssueFilter"),
    ("comments", "CommentFilter"),
    ("projects", "ProjectFilter"),
];

#[derive(Debug, Clone)]
struct Item {
    id: String,
    team: String,
    created: u64,
    updated: u64,
    archived: bool,
    trashed: bool,
    title: String,
}

#[derive(Debug)]
struct Team {
    id: String,
    /// Whether the token has access to the team.
    readable: bool,
}

#[derive(Debug, Default)]
struct State {
    streams: [Vec<Item>; 3],
    /// In creation order.
    teams: Vec<Team>,
    serial: u64,
    faults: Faults,
    follow: Option<MockClock>,
}

impl State {
    fn readable(&self, team: &str) -> bool {
        self.teams.iter().any(|t| t.id == team && t.readable)
    }

    fn tick(&mut self) -> u64 {
        self.serial = next_serial(self.serial, self.follow.as_ref());
        self.serial
    }
}

fn index(stream: &str) -> usize {
    STREAMS
        .iter()
        .position(|(s, _)| *s == stream)
        .unwrap_or_else(|| panic!("Linear has no sync stream {stream}"))
}

fn graphql_error(code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({"errors": [{
        "message": message,
        "extensions": {"code": code, "userPresentableMessage": message},
    }]}))
}

fn node(stream: usize, item: &Item) -> Value {
    let archived_at = item.archived.then(|| stamp(item.updated, true));
    let mut node = json!({
        "id": item.id,
        "createdAt": stamp(item.created, true),
        "updatedAt": stamp(item.updated, true),
        "archivedAt": archived_at,
    });
    match stream {
        0 => {
            node["team"] = json!({"id": item.team});
            node["title"] = json!(item.title);
            node["identifier"] = json!(format!("ENG-{}", item.created));
            node["trashed"] = json!(item.trashed.then_some(true));
            node["state"] = json!({"name": "Todo", "type": "unstarted"});
        }
        1 => {
            node["body"] = json!(item.title);
            node["issue"] = json!({"id": "issue-of-comment"});
        }
        _ => {
            node["name"] = json!(item.title);
            node["state"] = json!("started");
        }
    }
    node
}

struct Responder {
    state: Arc<Mutex<State>>,
    tokens: Tokens,
    journal: Journal,
    clock: MockClock,
}

impl Responder {
    fn limit_headers(&self, template: ResponseTemplate) -> ResponseTemplate {
        let reset = self.clock.now().unix_millis() + 3_600_000;
        template
            .insert_header("X-RateLimit-Requests-Limit", "5000")
            .insert_header("X-RateLimit-Requests-Remaining", "4999")
            .insert_header("X-RateLimit-Requests-Reset", reset.to_string().as_str())
    }

    fn fault(&self, fault: SyncFault) -> ResponseTemplate {
        let reset = |wait: Duration| {
            (self.clock.now().unix_millis() + i64::try_from(wait.as_millis()).unwrap_or(0))
                .to_string()
        };
        match fault {
            SyncFault::RateLimited(wait) => {
                graphql_error("RATELIMITED", "Rate limit exceeded: requests")
                    .insert_header("X-RateLimit-Requests-Limit", "5000")
                    .insert_header("X-RateLimit-Requests-Remaining", "0")
                    .insert_header("X-RateLimit-Requests-Reset", reset(wait).as_str())
            }
            SyncFault::SecondaryLimit(wait) => {
                graphql_error("RATELIMITED", "Rate limit exceeded: complexity")
                    .insert_header("X-RateLimit-Requests-Remaining", "4000")
                    .insert_header(
                        "X-RateLimit-Requests-Reset",
                        reset(Duration::from_secs(3600)).as_str(),
                    )
                    .insert_header("X-RateLimit-Complexity-Limit", "250000")
                    .insert_header("X-RateLimit-Complexity-Remaining", "0")
                    .insert_header("X-RateLimit-Complexity-Reset", reset(wait).as_str())
            }
            SyncFault::ServerError => ResponseTemplate::new(500)
                .set_body_json(json!({"errors": [{"message": "Internal server error"}]})),
            SyncFault::Hang => hang(),
        }
    }
}

/// The stream a query reads, when it is a sync query of the expected shape.
fn stream_of(query: &str) -> Option<usize> {
    STREAMS.iter().position(|(stream, filter)| {
        let has = |p: &str| query.contains(p);
        has("query")
            && has(&format!(
                "{stream}(first: $first, after: $after, filter: $filter, orderBy: createdAt, includeArchived: $includeArchived)"
            ))
            && has("$first: Int!")
            && has("$after: String")
            && has(&format!("$filter: {filter}"))
            && has("$includeArchived: Boolean")
            && has("pageInfo")
            && has("hasNextPage")
            && has("endCursor")
    })
}

/// Whether a query is the `teams` query of the expected shape.
fn is_teams_query(query: &str) -> bool {
    let has = |p: &str| query.contains(p);
    has("query")
        && has("teams(first: $first, after: $after)")
        && has("$first: Int!")
        && has("$after: String")
        && has("nodes { id }")
        && has("hasNextPage")
        && has("endCursor")
}

/// What a record filter asks for.
#[derive(Default)]
struct Filter {
    /// `updatedAt > gt`.
    updated_after: Option<String>,
    /// The record's team is one of these.
    teams: Option<Vec<String>>,
}

/// A filter's parts; `Err` for a filter this mock does not know.
fn read_filter(stream: usize, filter: Option<&Value>) -> Result<Filter, ResponseTemplate> {
    let unknown = || {
        graphql_error(
            "GRAPHQL_VALIDATION_FAILED",
            "this mock supports only the filters updatedAt: {gt: <ISO 8601>} and the record's team (id: {in: [..]})",
        )
    };
    let fields = match filter {
        None | Some(Value::Null) => return Ok(Filter::default()),
        Some(Value::Object(fields)) if !fields.is_empty() => fields,
        Some(_) => return Err(unknown()),
    };
    // Where each stream's team filter sits, and the keys that lead to its `id: {in}`.
    let team_path: &[&str] = match stream {
        0 => &["team"],
        1 => &["issue", "team"],
        _ => &["accessibleTeams", "some"],
    };
    let mut read = Filter::default();
    for (name, value) in fields {
        if name == "updatedAt" {
            let gt = value.get("gt").and_then(Value::as_str);
            let only = value.as_object().is_some_and(|f| f.len() == 1);
            match gt {
                Some(gt) if only && gt.ends_with('Z') && gt.len() >= 20 => {
                    read.updated_after = Some(gt.to_owned());
                }
                _ => return Err(unknown()),
            }
        } else if name == team_path[0] {
            let mut at = value;
            for key in team_path[1..].iter().chain(&["id"]) {
                match at.as_object() {
                    Some(o) if o.len() == 1 && o.contains_key(*key) => at = &o[*key],
                    _ => return Err(unknown()),
                }
            }
            let ids = at
                .as_object()
                .filter(|o| o.len() == 1)
                .and_then(|o| o.get("in"))
                .and_then(Value::as_array)
                .ok_or_else(unknown)?;
            let ids: Option<Vec<String>> =
                ids.iter().map(|v| v.as_str().map(str::to_owned)).collect();
            read.teams = Some(ids.ok_or_else(unknown)?);
        } else {
            return Err(unknown());
        }
    }
    Ok(read)
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let recorded = self.journal.record(request);
        if self.tokens.check(request) != Auth::Valid {
            return graphql_error(
                "AUTHENTICATION_ERROR",
                "Authentication required, not authenticated",
            );
        }
        let body = recorded.json();
        let query = body.get("query").and_then(Value::as_str).unwrap_or("");
        if query.contains('"') {
            return graphql_error(
                "GRAPHQL_VALIDATION_FAILED",
                "this mock accepts only documents whose values are passed as variables",
            );
        }
        let teams = is_teams_query(query);
        let stream = stream_of(query);
        if stream.is_none() && !teams {
            return graphql_error(
                "GRAPHQL_VALIDATION_FAILED",
                "Cannot query this field (not a sync query this mock knows).",
            );
        }
        let variables = body.get("variables").cloned().unwrap_or(Value::Null);
        let mut state = lock(&self.state);
        if let Some(fault) = state.faults.take() {
            return self.fault(fault);
        }
        let Some(first) = variables.get("first").and_then(Value::as_u64) else {
            return graphql_error(
                "GRAPHQL_VALIDATION_FAILED",
                "Variable \"$first\" of required type \"Int!\" was not provided.",
            );
        };
        if first == 0 || first > 250 {
            return graphql_error("INPUT_ERROR", "first must be between 1 and 250");
        }
        let first = usize::try_from(first).unwrap_or(usize::MAX);
        let Some(stream) = stream else {
            let readable: Vec<&Team> = state.teams.iter().filter(|t| t.readable).collect();
            let start = match after(&variables, |after| {
                readable.iter().position(|t| t.id == after).map(|p| p + 1)
            }) {
                Ok(start) => start,
                Err(e) => return e,
            };
            let rest = &readable[start.min(readable.len())..];
            let page = &rest[..first.min(rest.len())];
            let nodes: Vec<Value> = page.iter().map(|t| json!({"id": t.id})).collect();
            let end = page.last().map(|t| t.id.clone());
            let has_next = rest.len() > first;
            drop(state);
            return self.limit_headers(ResponseTemplate::new(200).set_body_json(json!({
                "data": {"teams": {
                    "nodes": nodes,
                    "pageInfo": {"hasNextPage": has_next, "endCursor": end},
                }},
            })));
        };
        let filter = match read_filter(stream, variables.get("filter")) {
            Ok(f) => f,
            Err(e) => return e,
        };
        let archived = variables
            .get("includeArchived")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let selected: Vec<&Item> = state.streams[stream]
            .iter()
            .filter(|i| state.readable(&i.team))
            .filter(|i| archived || !i.archived)
            .filter(|i| {
                filter
                    .updated_after
                    .as_deref()
                    .is_none_or(|s| stamp(i.updated, true).as_str() > s)
            })
            .filter(|i| filter.teams.as_ref().is_none_or(|t| t.contains(&i.team)))
            .collect();
        let start = match after(&variables, |after| {
            match selected.iter().position(|i| i.id == after) {
                Some(p) => Some(p + 1),
                // Linear's cursors survive records changing; this mock's is the last id,
                // which the stream keeps even when the filter drops it.
                None => state.streams[stream]
                    .iter()
                    .find(|i| i.id == after)
                    .map(|found| {
                        selected
                            .iter()
                            .position(|i| i.created > found.created)
                            .unwrap_or(selected.len())
                    }),
            }
        }) {
            Ok(start) => start,
            Err(e) => return e,
        };
        let rest = &selected[start.min(selected.len())..];
        let nodes: Vec<Value> = rest.iter().take(first).map(|i| node(stream, i)).collect();
        let has_next = rest.len() > first;
        let end = rest[..first.min(rest.len())].last().map(|i| i.id.clone());
        let name = STREAMS[stream].0;
        state.faults.pages += 1;
        drop(state);
        self.limit_headers(
            ResponseTemplate::new(200)
                .insert_header("X-Complexity", (first * 12 + 1).to_string().as_str())
                .set_body_json(json!({"data": {name: {
                    "nodes": nodes,
                    "pageInfo": {"hasNextPage": has_next, "endCursor": end},
                }}})),
        )
    }
}

/// Where a page starts: 0 without `after`, else what `position` finds for it (an
/// unknown cursor is `INPUT_ERROR`).
fn after(
    variables: &Value,
    position: impl FnOnce(&str) -> Option<usize>,
) -> Result<usize, ResponseTemplate> {
    match variables.get("after") {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(after)) => {
            position(after).ok_or_else(|| graphql_error("INPUT_ERROR", "Invalid cursor"))
        }
        Some(_) => Err(graphql_error(
            "GRAPHQL_VALIDATION_FAILED",
            "String cannot represent a non string value",
        )),
    }
}

/// Linear's sync-facing GraphQL API on loopback.
#[derive(Debug)]
pub struct LinearSyncApi {
    provider: MockProvider,
    state: Arc<Mutex<State>>,
    tokens: Tokens,
    journal: Journal,
}

impl LinearSyncApi {
    /// The team [`add`](Self::add) adds records to; the token has access to it.
    pub const DEFAULT_TEAM: &str = "team-eng";

    /// Starts the API with no records and no accepted token; reset headers are relative
    /// to `clock` (the tests' manual clock).
    pub async fn start(clock: Arc<dyn Clock>) -> Self {
        let provider = MockProvider::start().await;
        let state = Arc::new(Mutex::new(State {
            teams: vec![Team {
                id: Self::DEFAULT_TEAM.to_owned(),
                readable: true,
            }],
            ..State::default()
        }));
        let tokens = Tokens::new();
        let journal = Journal::default();
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .respond_with(Responder {
                state: state.clone(),
                tokens: tokens.clone(),
                journal: journal.clone(),
                clock: MockClock(Some(clock)),
            })
            .named("linear graphql sync")
            .mount(provider.server())
            .await;
        Self {
            provider,
            state,
            tokens,
            journal,
        }
    }

    /// The API base URL (the target's `api_base_url`).
    pub fn base_url(&self) -> String {
        self.provider.uri()
    }

    /// Accepts a personal API key (`Authorization: <key>`, no scheme).
    pub fn accept_api_key(&self, key: &str) {
        self.tokens.accept(key, Scheme::Raw);
    }

    /// Accepts an OAuth access token (`Authorization: Bearer <token>`).
    pub fn accept_oauth_token(&self, token: &str) {
        self.tokens.accept(token, Scheme::Bearer);
    }

    /// The accepted tokens (revoke them to model a revoked connection).
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// Adds `count` records to `stream` (`issues`, `comments`, `projects`) of
    /// [`DEFAULT_TEAM`](Self::DEFAULT_TEAM) and returns their ids, in creation order.
    ///
    /// # Panics
    ///
    /// For an unknown stream.
    pub fn add(&self, stream: &str, count: usize) -> Vec<String> {
        self.add_to_team(stream, Self::DEFAULT_TEAM, count)
    }

    /// Adds `count` records to `stream` of `team` (the issue of a comment, or one of a
    /// project's teams, is in `team`) and returns their ids, in creation order. A team
    /// not known yet is added, the token without access to it.
    ///
    /// # Panics
    ///
    /// For an unknown stream.
    pub fn add_to_team(&self, stream: &str, team: &str, count: usize) -> Vec<String> {
        let s = index(stream);
        let mut state = lock(&self.state);
        if !state.teams.iter().any(|t| t.id == team) {
            state.teams.push(Team {
                id: team.to_owned(),
                readable: false,
            });
        }
        (0..count)
            .map(|_| {
                let serial = state.tick();
                let id = format!("{stream}-{serial:06}");
                state.streams[s].push(Item {
                    id: id.clone(),
                    team: team.to_owned(),
                    created: serial,
                    updated: serial,
                    archived: false,
                    trashed: false,
                    title: format!("{stream} {serial}"),
                });
                id
            })
            .collect()
    }

    fn edit(&self, stream: &str, id: &str, change: impl FnOnce(&mut Item)) {
        let s = index(stream);
        let mut state = lock(&self.state);
        let serial = state.tick();
        let item = state.streams[s]
            .iter_mut()
            .find(|i| i.id == id)
            .unwrap_or_else(|| panic!("no {stream} record {id}"));
        change(item);
        item.updated = serial;
    }

    /// Edits a record's title (its `updatedAt` moves).
    ///
    /// # Panics
    ///
    /// For an unknown stream or id.
    pub fn update(&self, stream: &str, id: &str, title: &str) {
        self.edit(stream, id, |i| title.clone_into(&mut i.title));
    }

    /// Archives a record.
    ///
    /// # Panics
    ///
    /// For an unknown stream or id.
    pub fn archive(&self, stream: &str, id: &str) {
        self.edit(stream, id, |i| i.archived = true);
    }

    /// Trashes an issue (Linear archives it too).
    ///
    /// # Panics
    ///
    /// For an unknown id.
    pub fn trash(&self, id: &str) {
        self.edit("issues", id, |i| {
            i.trashed = true;
            i.archived = true;
        });
    }

    /// Gives the token access to `team` (its user joined a private team, say), or takes
    /// it away. Its records appear in, or leave, every answer; none of them changes.
    ///
    /// # Panics
    ///
    /// For a team no record was added to.
    pub fn set_team_access(&self, team: &str, readable: bool) {
        let mut state = lock(&self.state);
        let found = state.teams.iter_mut().find(|t| t.id == team);
        found.expect("a team records were added to").readable = readable;
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

    /// After `pages` more pages are served, the next list call gets `fault` (a
    /// [`SyncFault::Hang`] holds every later call too).
    pub fn fail_after_pages(&self, pages: u64, fault: SyncFault) {
        lock(&self.state).faults.after_pages(pages, fault);
    }

    /// Serves normally again.
    pub fn heal(&self) {
        lock(&self.state).faults.clear();
    }

    /// List calls received (failed ones included).
    pub fn calls(&self) -> u64 {
        lock(&self.state).faults.calls
    }

    /// Every request received.
    pub fn requests(&self) -> Vec<Recorded> {
        self.journal.all()
    }
}
