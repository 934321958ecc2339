//! [`LinearApi`]: Linear's GraphQL API (`POST /graphql`).
//!
//! Like Linear, it takes `{"query", "variables"}` as JSON; personal API keys in
//! `Authorization: <key>` and OAuth tokens as `Bearer`; answers errors in `errors[]` with
//! `extensions.code` (authentication errors and rate limits with HTTP 400, as Linear
//! does); validates the variables against the input types (unknown fields are refused);
//! and paginates connections with `pageInfo { hasNextPage endCursor }`.
//!
//! It only accepts the operations the shipped tools send, recognized by their signatures,
//! and refuses any document holding a string literal: values travel in `variables`,
//! never inside the query text.

#![allow(
    clippy::result_large_err,
    reason = "the errors are the HTTP answers of a test mock, built once per request"
)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::{Auth, Journal, Recorded, Scheme, Tokens, lock};
use crate::mock::MockProvider;
use crate::mock::oauth::LinearMock;

/// A failure the mock returns for the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinearFailure {
    /// `RATELIMITED`, HTTP 400, with `X-RateLimit-Requests-Reset` (epoch milliseconds)
    /// this long after `now_ms`.
    RateLimited {
        /// The current time, epoch milliseconds (the tests' manual clock).
        now_ms: i64,
        /// How long until the limit resets.
        reset_in: Duration,
    },
    /// `RATELIMITED`, HTTP 400, for the complexity limit (a leaky bucket): less
    /// complexity left (`X-RateLimit-Complexity-Remaining`) than the query cost
    /// (`X-Complexity`), its reset this long after `now_ms`, while the request limit has
    /// requests left and resets within the second.
    ComplexityLimited {
        /// The current time, epoch milliseconds (the tests' manual clock).
        now_ms: i64,
        /// How long until the complexity limit resets.
        reset_in: Duration,
    },
    /// `RATELIMITED`, HTTP 400, for an endpoint's own limit
    /// (`X-RateLimit-Endpoint-Requests-*`): none left there, its reset this long after
    /// `now_ms`, while the request limit has requests left and resets in an hour.
    EndpointLimited {
        /// The current time, epoch milliseconds (the tests' manual clock).
        now_ms: i64,
        /// How long until the endpoint's limit resets.
        reset_in: Duration,
    },
    /// The next `issueCreate` creates the issue, but its `url` fails to resolve: the
    /// answer (HTTP 200) carries the data with `url` null and an `errors` entry for that
    /// path (`INTERNAL_SERVER_ERROR`), as GraphQL answers a field that failed beside
    /// ones that did not.
    ErrorBesideCreatedIssue,
    /// The next `issueCreate` creates the issue and answers `success: true` with
    /// `issue: null` (the payload's item is nullable: a token that may create in a team
    /// but not read the issue back).
    CreatedNotReturned,
}

#[derive(Debug, Clone)]
struct Team {
    id: String,
    key: String,
    name: String,
    next_number: u64,
}

#[derive(Debug, Clone)]
struct Issue {
    id: String,
    identifier: String,
    team_id: String,
    title: String,
    description: Option<String>,
    priority: i64,
    state: (&'static str, &'static str),
    url: String,
    updated_at: String,
}

#[derive(Debug, Default)]
struct State {
    teams: Vec<Team>,
    issues: Vec<Issue>,
    comments: Vec<Value>,
    fail_next: VecDeque<LinearFailure>,
    /// The next `issueCreate` answers with an error beside its data.
    error_beside_created: bool,
    /// The next `issueCreate` answers its issue as `null`.
    created_not_returned: bool,
    serial: u64,
}

impl State {
    fn next_id(&mut self) -> String {
        self.serial += 1;
        format!(
            "{:08x}-81e3-4154-b5b9-{:012x}",
            0x9cfb_482a_u32, self.serial
        )
    }
}

/// The workspace's teams, for the other mounts on the same API (webhooks are created for
/// a team).
#[derive(Debug, Clone)]
pub(super) struct TeamLookup(Arc<Mutex<State>>);

impl TeamLookup {
    /// The id and key of the team whose id or key is `id_or_key`.
    pub(super) fn resolve(&self, id_or_key: &str) -> Option<(String, String)> {
        lock(&self.0)
            .teams
            .iter()
            .find(|t| t.id == id_or_key || t.key == id_or_key)
            .map(|t| (t.id.clone(), t.key.clone()))
    }
}

/// Linear's GraphQL API on loopback.
#[derive(Debug)]
pub struct LinearApi {
    provider: MockProvider,
    state: Arc<Mutex<State>>,
    tokens: Tokens,
    journal: Journal,
}

const ISSUE_CREATE_FIELDS: &[&str] = &[
    "teamId",
    "title",
    "description",
    "priority",
    "assigneeId",
    "stateId",
    "labelIds",
    "projectId",
    "cycleId",
    "parentId",
    "dueDate",
    "estimate",
];
const ISSUE_UPDATE_FIELDS: &[&str] = &[
    "title",
    "description",
    "priority",
    "assigneeId",
    "stateId",
    "labelIds",
    "addedLabelIds",
    "removedLabelIds",
    "projectId",
    "cycleId",
    "parentId",
    "dueDate",
    "estimate",
    "teamId",
    "trashed",
];
const COMMENT_CREATE_FIELDS: &[&str] = &["body", "issueId", "parentId", "doNotSubscribeToIssue"];
const WORKFLOW_STATES: &[(&str, &str, &str)] = &[
    ("state-backlog", "Backlog", "backlog"),
    ("state-todo", "Todo", "unstarted"),
    ("state-in-progress", "In Progress", "started"),
    ("state-done", "Done", "completed"),
];

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
    // Business errors come back with HTTP 200 and `data: null`.
    let mut body = error_body("INPUT_ERROR", message);
    body["data"] = Value::Null;
    ResponseTemplate::new(200).set_body_json(body)
}

fn data(value: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"data": value}))
}

/// Checks that `input` is an object with only `allowed` fields.
fn check_input(
    input: Option<&Value>,
    type_name: &str,
    allowed: &[&str],
) -> Result<Map<String, Value>, ResponseTemplate> {
    let Some(Value::Object(input)) = input else {
        return Err(validation(&format!(
            "Variable \"$input\" of required type \"{type_name}!\" was not provided."
        )));
    };
    if let Some(unknown) = input.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(validation(&format!(
            "Variable \"$input\" got invalid value; Field \"{unknown}\" is not defined by type \"{type_name}\"."
        )));
    }
    Ok(input.clone())
}

fn string_field(
    input: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, ResponseTemplate> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(validation(&format!(
            "Variable \"$input\" got invalid value; Field \"{name}\": String cannot represent a non string value"
        ))),
    }
}

fn priority_field(input: &Map<String, Value>) -> Result<Option<i64>, ResponseTemplate> {
    match input.get("priority") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(p @ 0..=4) => Ok(Some(p)),
            _ => Err(input_error("priority must be between 0 and 4")),
        },
        Some(_) => Err(validation("Int cannot represent non-integer value")),
    }
}

fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(40).collect()
}

fn issue_json(issue: &Issue) -> Value {
    json!({
        "id": issue.id,
        "identifier": issue.identifier,
        "title": issue.title,
        "url": issue.url,
        "updatedAt": issue.updated_at,
        "priority": issue.priority,
        "description": issue.description,
        "state": {"name": issue.state.0, "type": issue.state.1},
    })
}

/// The page of `items` after the cursor `after` (an item id), `first` long.
fn page<T: Clone>(
    items: &[T],
    id: impl Fn(&T) -> &str,
    first: &Value,
    after: Option<&Value>,
) -> Result<(Vec<T>, bool, Option<String>), ResponseTemplate> {
    let Some(first) = first.as_u64() else {
        return Err(validation(
            "Variable \"$first\" of type \"Int\" must be a non-negative integer.",
        ));
    };
    if first == 0 || first > 250 {
        return Err(input_error("first must be between 1 and 250"));
    }
    let start = match after {
        None | Some(Value::Null) => 0,
        Some(Value::String(cursor)) => match items.iter().position(|i| id(i) == cursor) {
            Some(p) => p + 1,
            None => return Err(input_error("Invalid cursor")),
        },
        Some(_) => return Err(validation("String cannot represent a non string value")),
    };
    let first = usize::try_from(first).unwrap_or(usize::MAX);
    let rest = &items[start.min(items.len())..];
    let nodes: Vec<T> = rest.iter().take(first).cloned().collect();
    let has_next = rest.len() > first;
    let end = nodes.last().map(|n| id(n).to_owned());
    Ok((nodes, has_next, end))
}

struct Responder {
    state: Arc<Mutex<State>>,
    tokens: Tokens,
    journal: Journal,
}

enum Operation {
    IssueCreate,
    IssueUpdate,
    CommentCreate,
    Issues,
    Teams,
    TeamsFiltered,
}

/// The first field of `query`'s selection (`teams`, `issueCreate`): the endpoint whose
/// own limit Linear names.
fn root_field(query: &str) -> String {
    query
        .split_once('{')
        .map(|(_, rest)| {
            rest.trim_start()
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect()
        })
        .unwrap_or_default()
}

fn operation(query: &str) -> Option<Operation> {
    let has = |parts: &[&str]| parts.iter().all(|p| query.contains(p));
    if has(&[
        "mutation",
        "issueCreate(input: $input)",
        "$input: IssueCreateInput!",
    ]) {
        Some(Operation::IssueCreate)
    } else if has(&[
        "mutation",
        "issueUpdate(id: $id, input: $input)",
        "$id: String!",
        "$input: IssueUpdateInput!",
    ]) {
        Some(Operation::IssueUpdate)
    } else if has(&[
        "mutation",
        "commentCreate(input: $input)",
        "$input: CommentCreateInput!",
    ]) {
        Some(Operation::CommentCreate)
    } else if has(&[
        "query",
        "issues(first: $first, after: $after, filter: $filter",
        "$first: Int!",
        "$after: String",
        "$filter: IssueFilter",
        "pageInfo",
        "hasNextPage",
        "endCursor",
    ]) {
        Some(Operation::Issues)
    } else if has(&[
        "query",
        "teams(first: $first, after: $after)",
        "$first: Int!",
        "$after: String",
        "pageInfo",
    ]) {
        Some(Operation::Teams)
    } else if has(&[
        "query",
        "teams(first: 1, filter: $filter)",
        "$filter: TeamFilter",
        "nodes",
    ]) {
        Some(Operation::TeamsFiltered)
    } else {
        None
    }
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let recorded = self.journal.record(request);
        let failure = {
            let mut state = lock(&self.state);
            match state.fail_next.pop_front() {
                Some(LinearFailure::ErrorBesideCreatedIssue) => {
                    state.error_beside_created = true;
                    None
                }
                Some(LinearFailure::CreatedNotReturned) => {
                    state.created_not_returned = true;
                    None
                }
                other => other,
            }
        };
        if let Some(failure) = failure {
            return match failure {
                LinearFailure::RateLimited { now_ms, reset_in } => {
                    let reset = now_ms + i64::try_from(reset_in.as_millis()).unwrap_or(i64::MAX);
                    graphql_error(400, "RATELIMITED", "Rate limit exceeded")
                        .insert_header("X-RateLimit-Requests-Limit", "5000")
                        .insert_header("X-RateLimit-Requests-Remaining", "0")
                        .insert_header("X-RateLimit-Requests-Reset", reset.to_string().as_str())
                }
                LinearFailure::ComplexityLimited { now_ms, reset_in } => {
                    let reset = now_ms + i64::try_from(reset_in.as_millis()).unwrap_or(i64::MAX);
                    graphql_error(400, "RATELIMITED", "Rate limit exceeded")
                        .insert_header("X-RateLimit-Requests-Limit", "5000")
                        .insert_header("X-RateLimit-Requests-Remaining", "4990")
                        .insert_header(
                            "X-RateLimit-Requests-Reset",
                            (now_ms + 1_000).to_string().as_str(),
                        )
                        .insert_header("X-RateLimit-Complexity-Limit", "3000000")
                        .insert_header("X-RateLimit-Complexity-Remaining", "1200")
                        .insert_header("X-Complexity", "5000")
                        .insert_header("X-RateLimit-Complexity-Reset", reset.to_string().as_str())
                }
                LinearFailure::EndpointLimited { now_ms, reset_in } => {
                    let reset = now_ms + i64::try_from(reset_in.as_millis()).unwrap_or(i64::MAX);
                    graphql_error(400, "RATELIMITED", "Rate limit exceeded")
                        .insert_header("X-RateLimit-Requests-Limit", "5000")
                        .insert_header("X-RateLimit-Requests-Remaining", "4990")
                        .insert_header(
                            "X-RateLimit-Requests-Reset",
                            (now_ms + 3_600_000).to_string().as_str(),
                        )
                        .insert_header(
                            "X-RateLimit-Endpoint-Name",
                            root_field(recorded.json()["query"].as_str().unwrap_or_default())
                                .as_str(),
                        )
                        .insert_header("X-RateLimit-Endpoint-Requests-Limit", "100")
                        .insert_header("X-RateLimit-Endpoint-Requests-Remaining", "0")
                        .insert_header(
                            "X-RateLimit-Endpoint-Requests-Reset",
                            reset.to_string().as_str(),
                        )
                }
                LinearFailure::ErrorBesideCreatedIssue | LinearFailure::CreatedNotReturned => {
                    unreachable!("taken out above: it applies to the next issueCreate")
                }
            };
        }
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
        match op {
            Operation::IssueCreate => issue_create(&mut state, &variables),
            Operation::IssueUpdate => issue_update(&mut state, &variables),
            Operation::CommentCreate => comment_create(&mut state, &variables),
            Operation::Issues => issues(&state, &variables),
            Operation::Teams => teams(&state, &variables),
            Operation::TeamsFiltered => teams_filtered(&state, &variables),
        }
    }
}

fn issue_create(state: &mut State, variables: &Value) -> ResponseTemplate {
    let input = match check_input(
        variables.get("input"),
        "IssueCreateInput",
        ISSUE_CREATE_FIELDS,
    ) {
        Ok(input) => input,
        Err(e) => return e,
    };
    let (team_id, title, description, priority) = match (
        string_field(&input, "teamId"),
        string_field(&input, "title"),
        string_field(&input, "description"),
        priority_field(&input),
    ) {
        (Ok(Some(t)), Ok(title), Ok(d), Ok(p)) => (t, title.unwrap_or_default(), d, p),
        (Ok(None), ..) => {
            return validation(
                "Variable \"$input\" got invalid value; Field \"teamId\" of required type \"String!\" was not provided.",
            );
        }
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => return e,
    };
    let id = state.next_id();
    let Some(team) = state.teams.iter_mut().find(|t| t.id == team_id) else {
        return input_error("Entity not found: Team");
    };
    let number = team.next_number;
    team.next_number += 1;
    let identifier = format!("{}-{number}", team.key);
    let issue = Issue {
        url: format!(
            "https://linear.app/acme/issue/{identifier}/{}",
            slug(&title)
        ),
        id,
        identifier,
        team_id,
        title,
        description,
        priority: priority.unwrap_or(0),
        state: ("Todo", "unstarted"),
        updated_at: "2026-11-21T09:30:00.000Z".to_owned(),
    };
    let mut out = issue_json(&issue);
    state.issues.push(issue);
    let created = json!({"issueCreate": {"success": true, "lastSyncId": 1042.0, "issue": out}});
    if std::mem::take(&mut state.created_not_returned) {
        return data(
            &json!({"issueCreate": {"success": true, "lastSyncId": 1042.0, "issue": null}}),
        );
    }
    if std::mem::take(&mut state.error_beside_created) {
        out["url"] = Value::Null;
        return ResponseTemplate::new(200).set_body_json(json!({
            "data": {"issueCreate": {"success": true, "lastSyncId": 1042.0, "issue": out}},
            "errors": [{
                "message": "Internal server error",
                "path": ["issueCreate", "issue", "url"],
                "locations": [{"line": 4, "column": 28}],
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "type": "internal error"},
            }],
        }));
    }
    data(&created)
}

fn issue_update(state: &mut State, variables: &Value) -> ResponseTemplate {
    let Some(id) = variables.get("id").and_then(Value::as_str) else {
        return validation("Variable \"$id\" of required type \"String!\" was not provided.");
    };
    let input = match check_input(
        variables.get("input"),
        "IssueUpdateInput",
        ISSUE_UPDATE_FIELDS,
    ) {
        Ok(input) => input,
        Err(e) => return e,
    };
    let (title, description, priority, state_id) = match (
        string_field(&input, "title"),
        string_field(&input, "description"),
        priority_field(&input),
        string_field(&input, "stateId"),
    ) {
        (Ok(t), Ok(d), Ok(p), Ok(s)) => (t, d, p, s),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => return e,
    };
    let new_state = match state_id {
        None => None,
        Some(s) => match WORKFLOW_STATES.iter().find(|(id, ..)| *id == s) {
            Some((_, name, kind)) => Some((*name, *kind)),
            None => return input_error("Entity not found: WorkflowState"),
        },
    };
    let Some(issue) = state
        .issues
        .iter_mut()
        .find(|i| i.id == id || i.identifier == id)
    else {
        return input_error("Entity not found: Issue");
    };
    if let Some(title) = title {
        issue.title = title;
    }
    if description.is_some() {
        issue.description = description;
    }
    if let Some(priority) = priority {
        issue.priority = priority;
    }
    if let Some(s) = new_state {
        issue.state = s;
    }
    "2026-11-21T10:00:00.000Z".clone_into(&mut issue.updated_at);
    data(
        &json!({"issueUpdate": {"success": true, "lastSyncId": 1043.0, "issue": issue_json(issue)}}),
    )
}

fn comment_create(state: &mut State, variables: &Value) -> ResponseTemplate {
    let input = match check_input(
        variables.get("input"),
        "CommentCreateInput",
        COMMENT_CREATE_FIELDS,
    ) {
        Ok(input) => input,
        Err(e) => return e,
    };
    let (issue_id, body) = match (
        string_field(&input, "issueId"),
        string_field(&input, "body"),
    ) {
        (Ok(Some(i)), Ok(Some(b))) => (i, b),
        (Err(e), _) | (_, Err(e)) => return e,
        _ => return input_error("issueId and body are required"),
    };
    let id = state.next_id();
    let Some(issue) = state
        .issues
        .iter()
        .find(|i| i.id == issue_id || i.identifier == issue_id)
    else {
        return input_error("Entity not found: Issue");
    };
    let comment = json!({
        "id": id,
        "body": body,
        "url": format!("{}#comment-{}", issue.url, &id[..8]),
        "issueId": issue.id,
    });
    state.comments.push(comment.clone());
    data(&json!({"commentCreate": {"success": true, "lastSyncId": 1044.0, "comment": comment}}))
}

/// What a `TeamFilter` this mock evaluates asks for: `{id: {eq}}`, `{key: {eq}}` or
/// `{key: {eqIgnoreCase}}` (Linear's `IDComparator` and `StringComparator`).
enum TeamMatch {
    Id(String),
    Key(String),
    KeyIgnoringCase(String),
}

impl TeamMatch {
    fn of(filter: &Value) -> Option<Self> {
        let object = filter.as_object().filter(|f| f.len() == 1)?;
        let (field, comparator) = object.iter().next()?;
        let comparator = comparator.as_object().filter(|c| c.len() == 1)?;
        let (operator, value) = comparator.iter().next()?;
        let value = value.as_str()?.to_owned();
        match (field.as_str(), operator.as_str()) {
            ("id", "eq") => Some(Self::Id(value)),
            ("key", "eq") => Some(Self::Key(value)),
            ("key", "eqIgnoreCase") => Some(Self::KeyIgnoringCase(value)),
            _ => None,
        }
    }

    fn matches(&self, team: &Team) -> bool {
        match self {
            Self::Id(id) => &team.id == id,
            Self::Key(key) => &team.key == key,
            Self::KeyIgnoringCase(key) => team.key.eq_ignore_ascii_case(key),
        }
    }
}

const TEAM_FILTERS: &str =
    "this mock supports only the team filters {id: {eq}}, {key: {eq}} and {key: {eqIgnoreCase}}";

fn issues(state: &State, variables: &Value) -> ResponseTemplate {
    let team = match variables.get("filter") {
        None | Some(Value::Null) => None,
        Some(filter) => {
            let only_team = filter.as_object().is_some_and(|f| f.len() == 1);
            match filter.get("team").and_then(TeamMatch::of) {
                Some(team) if only_team => Some(team),
                _ => return validation(TEAM_FILTERS),
            }
        }
    };
    let selected: Vec<Issue> = state
        .issues
        .iter()
        .filter(|i| {
            team.as_ref().is_none_or(|t| {
                state
                    .teams
                    .iter()
                    .any(|team| team.id == i.team_id && t.matches(team))
            })
        })
        .cloned()
        .collect();
    let (nodes, has_next, end) = match page(
        &selected,
        |i| &i.id,
        variables.get("first").unwrap_or(&Value::Null),
        variables.get("after"),
    ) {
        Ok(p) => p,
        Err(e) => return e,
    };
    data(&json!({"issues": {
        "nodes": nodes.iter().map(issue_json).collect::<Vec<_>>(),
        "pageInfo": {"hasNextPage": has_next, "endCursor": end},
    }}))
}

fn teams(state: &State, variables: &Value) -> ResponseTemplate {
    let (nodes, has_next, end) = match page(
        &state.teams,
        |t| &t.id,
        variables.get("first").unwrap_or(&Value::Null),
        variables.get("after"),
    ) {
        Ok(p) => p,
        Err(e) => return e,
    };
    data(&json!({"teams": {
        "nodes": nodes.iter().map(|t| json!({"id": t.id, "key": t.key, "name": t.name})).collect::<Vec<_>>(),
        "pageInfo": {"hasNextPage": has_next, "endCursor": end},
    }}))
}

fn teams_filtered(state: &State, variables: &Value) -> ResponseTemplate {
    let Some(wanted) = variables.get("filter").and_then(TeamMatch::of) else {
        return validation(TEAM_FILTERS);
    };
    let nodes: Vec<Value> = state
        .teams
        .iter()
        .filter(|t| wanted.matches(t))
        .take(1)
        .map(|t| json!({"id": t.id, "key": t.key, "name": t.name}))
        .collect();
    data(&json!({"teams": {"nodes": nodes}}))
}

impl LinearApi {
    /// Starts the API with no teams and no accepted token.
    pub async fn start() -> Self {
        let provider = MockProvider::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        let tokens = Tokens::new();
        let journal = Journal::default();
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .respond_with(Responder {
                state: state.clone(),
                tokens: tokens.clone(),
                journal: journal.clone(),
            })
            .named("linear graphql")
            .mount(provider.server())
            .await;
        Self {
            provider,
            state,
            tokens,
            journal,
        }
    }

    /// Serves this API on the OAuth mock's server too, so one base URL answers OAuth,
    /// the `viewer` identity query and the API, as Linear's does, and accepts (as
    /// `Bearer`) exactly the access tokens the OAuth mock issued and has not rotated away.
    /// Point the target's `api_base_url` at [`LinearMock::uri`].
    pub async fn serve_with(&self, oauth: &LinearMock) {
        self.tokens.accept_issued_by(oauth.live_access());
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .respond_with(Responder {
                state: self.state.clone(),
                tokens: self.tokens.clone(),
                journal: self.journal.clone(),
            })
            // Below the OAuth mock's `viewer` answer, above its catch-all.
            .with_priority(6)
            .named("linear graphql (served with the OAuth mock)")
            .mount(oauth.provider().server())
            .await;
    }

    /// The API base URL (the target's `api_base_url`; GraphQL is at `/graphql`).
    pub fn base_url(&self) -> String {
        self.provider.uri()
    }

    /// The mock server.
    pub fn provider(&self) -> &MockProvider {
        &self.provider
    }

    /// The accepted tokens.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// Accepts a personal API key (`Authorization: <key>`, no scheme).
    pub fn accept_api_key(&self, key: &str) {
        self.tokens.accept(key, Scheme::Raw);
    }

    /// Accepts an OAuth access token (`Authorization: Bearer <token>`).
    pub fn accept_oauth_token(&self, token: &str) {
        self.tokens.accept(token, Scheme::Bearer);
    }

    /// Adds a team and returns its id.
    pub fn add_team(&self, key: &str, name: &str) -> String {
        let mut state = lock(&self.state);
        let id = state.next_id();
        state.teams.push(Team {
            id: id.clone(),
            key: key.to_owned(),
            name: name.to_owned(),
            next_number: 1,
        });
        id
    }

    /// Whether `id_or_key` names one of the workspace's teams, as Linear resolves a
    /// `teamId` (the team's id or its key).
    pub(super) fn teams(&self) -> TeamLookup {
        TeamLookup(self.state.clone())
    }

    /// Adds `count` issues to a team (titles `Issue 1`...).
    pub fn add_issues(&self, team_id: &str, count: usize) {
        let mut state = lock(&self.state);
        for _ in 0..count {
            let id = state.next_id();
            let Some(team) = state.teams.iter_mut().find(|t| t.id == team_id) else {
                return;
            };
            let number = team.next_number;
            team.next_number += 1;
            let identifier = format!("{}-{number}", team.key);
            let title = format!("Issue {number}");
            state.issues.push(Issue {
                url: format!(
                    "https://linear.app/acme/issue/{identifier}/{}",
                    slug(&title)
                ),
                id,
                identifier,
                team_id: team_id.to_owned(),
                title,
                description: None,
                priority: 0,
                state: ("Backlog", "backlog"),
                updated_at: "2026-11-20T08:00:00.000Z".to_owned(),
            });
        }
    }

    /// The issue with this id or identifier, as the API would return it.
    pub fn issue(&self, id: &str) -> Option<Value> {
        lock(&self.state)
            .issues
            .iter()
            .find(|i| i.id == id || i.identifier == id)
            .map(issue_json)
    }

    /// The comments created so far.
    pub fn comments(&self) -> Vec<Value> {
        lock(&self.state).comments.clone()
    }

    /// Makes the next request fail.
    pub fn fail_next(&self, failure: LinearFailure) {
        lock(&self.state).fail_next.push_back(failure);
    }

    /// Every request received.
    pub fn requests(&self) -> Vec<Recorded> {
        self.journal.all()
    }
}
