//! Linear tools, over Linear's GraphQL API.
//!
//! Every GraphQL document is a constant; every value an agent supplies travels in
//! `variables`, never in the document text, so no argument can change the operation.
//! Personal API keys go in `Authorization: <key>`; OAuth tokens as `Bearer`. Errors come
//! in `errors[]` whatever the HTTP status; any entry fails the call, even beside partial
//! `data`, classified by `extensions.code` (`RATELIMITED` becomes `tool.rate_limited` with
//! the wait from `X-RateLimit-Requests-Reset`, epoch milliseconds; no code:
//! `linear.graphql_error`).

use std::sync::LazyLock;

use http::Method;
use integrations_core::Error;
use integrations_core::definition::ConnectionMethodKind;
use integrations_core::host::HttpResponse;
use integrations_core::tools::{
    RateLimitRule, RequestAuth, ResetFormat, Tool, ToolAnnotations, ToolContext, ToolDescriptor,
    ToolSet, json_request, status_error,
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::schemas::{LinearConnectionConfig, LinearTargetConfig};

/// Creates an issue.
pub const ISSUE_CREATE: &str = "mutation IssueCreate($input: IssueCreateInput!) {
  issueCreate(input: $input) {
    success
    issue { id identifier url title }
  }
}";

/// Updates an issue.
pub const ISSUE_UPDATE: &str = "mutation IssueUpdate($id: String!, $input: IssueUpdateInput!) {
  issueUpdate(id: $id, input: $input) {
    success
    issue { id identifier url title state { name type } }
  }
}";

/// Comments on an issue.
pub const COMMENT_CREATE: &str = "mutation CommentCreate($input: CommentCreateInput!) {
  commentCreate(input: $input) {
    success
    comment { id url }
  }
}";

/// Lists issues, most recently updated first, a page at a time.
pub const ISSUES: &str = "query Issues($first: Int!, $after: String, $filter: IssueFilter) {
  issues(first: $first, after: $after, filter: $filter, orderBy: updatedAt) {
    nodes { id identifier title url updatedAt priority state { name type } }
    pageInfo { hasNextPage endCursor }
  }
}";

/// The team with a key (`ENG`), case ignored: `filter` is `{key: {eqIgnoreCase}}`.
pub const TEAM_BY_KEY: &str = "query TeamByKey($filter: TeamFilter) {
  teams(first: 1, filter: $filter) {
    nodes { id key name }
  }
}";

/// Lists teams, a page at a time.
pub const TEAMS: &str = "query Teams($first: Int!, $after: String) {
  teams(first: $first, after: $after) {
    nodes { id key name }
    pageInfo { hasNextPage endCursor }
  }
}";

static TOOLS: LazyLock<ToolSet> = LazyLock::new(|| {
    ToolSet::new()
        .with(CreateIssue)
        .with(UpdateIssue)
        .with(CreateComment)
        .with(ListIssues)
        .with(ListTeams)
});

/// Linear counts requests, an endpoint's own requests and query complexity apart: a
/// refusal waits for the reset of the limit that is spent (the request limit's when the
/// answer does not say).
pub(super) static RATE_LIMIT: LazyLock<RateLimitRule> = LazyLock::new(|| {
    RateLimitRule::new()
        .with_graphql_code("RATELIMITED")
        .with_bucket(
            "X-RateLimit-Requests-Remaining",
            "X-RateLimit-Requests-Reset",
            ResetFormat::EpochMillis,
        )
        .with_bucket(
            "X-RateLimit-Endpoint-Requests-Remaining",
            "X-RateLimit-Endpoint-Requests-Reset",
            ResetFormat::EpochMillis,
        )
        // The complexity bucket last: `X-Complexity` is its cost.
        .with_bucket(
            "X-RateLimit-Complexity-Remaining",
            "X-RateLimit-Complexity-Reset",
            ResetFormat::EpochMillis,
        )
        .with_bucket_cost("X-Complexity")
        .with_reset_header("X-RateLimit-Requests-Reset", ResetFormat::EpochMillis)
});

/// The Linear tools.
pub fn tool_set() -> &'static ToolSet {
    &TOOLS
}

#[derive(Deserialize)]
pub(super) struct GraphQlError {
    /// Read only to recognise `Entity not found: <Type>`; never passed on (Linear's
    /// messages can quote the submitted variables).
    #[serde(default)]
    pub(super) message: Option<String>,
    #[serde(default)]
    pub(super) extensions: Option<Extensions>,
}

#[derive(Deserialize)]
pub(super) struct Extensions {
    #[serde(default)]
    pub(super) code: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct GraphQlResponse {
    #[serde(default)]
    pub(super) data: Option<Value>,
    #[serde(default)]
    pub(super) errors: Vec<GraphQlError>,
}

fn error_codes(response: &HttpResponse) -> Vec<String> {
    serde_json::from_slice::<GraphQlResponse>(response.body())
        .map(|r| {
            r.errors
                .into_iter()
                .filter_map(|e| e.extensions.and_then(|x| x.code))
                .collect()
        })
        .unwrap_or_default()
}

/// Linear refuses a token with HTTP 401 or with `AUTHENTICATION_ERROR` (often HTTP 400).
pub(super) fn rejected(response: &HttpResponse) -> bool {
    response.status() == http::StatusCode::UNAUTHORIZED
        || error_codes(response)
            .iter()
            .any(|c| c == "AUTHENTICATION_ERROR")
}

fn auth(context: &ToolContext) -> Result<RequestAuth, Error> {
    let selector = context.default_credential().cloned().ok_or_else(|| {
        crate::codes::linear::NO_CREDENTIAL
            .error("this Linear connection has no credential tools can use")
    })?;
    let auth = match context.method_kind() {
        // Personal API keys are sent as they are, without a scheme.
        ConnectionMethodKind::ApiKey => RequestAuth::raw_header(selector, "Authorization"),
        _ => RequestAuth::bearer(selector),
    };
    Ok(auth.with_rejection(rejected))
}

/// The error of a GraphQL error entry with `extensions.code` `code` and `message`.
///
/// A condition every provider has gets the runtime's code for it, as an HTTP status
/// would (`tool.unauthorized`, `tool.forbidden`, `tool.upstream_not_found`,
/// `tool.upstream_rejected`, `tool.upstream_unavailable`), so hosts and agents match one
/// code whichever provider answered; Linear's own code is named in the message. Linear
/// reports an id naming nothing as `INPUT_ERROR` with the message `Entity not found:
/// <Type>`: that is a missing entity, not invalid input. Linear's messages can quote the
/// submitted variables, so only the code and an entity's type name are passed on.
pub(super) fn linear_error(code: &str, message: Option<&str>) -> Error {
    use integrations_core::codes::tool;
    let shown: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    let refused_input = matches!(code, "INPUT_ERROR" | "INVALID_INPUT" | "ENTITY_NOT_FOUND");
    if let Some(entity) = message.filter(|_| refused_input).and_then(missing_entity) {
        return tool::UPSTREAM_NOT_FOUND.error(format!(
            "Linear has no such {entity}, or hides it from the connection ({shown})"
        ));
    }
    let reason = match code {
        "AUTHENTICATION_ERROR" => tool::UNAUTHORIZED,
        "FORBIDDEN" => tool::FORBIDDEN,
        "INPUT_ERROR" | "INVALID_INPUT" | "BAD_USER_INPUT" | "GRAPHQL_VALIDATION_FAILED" => {
            tool::UPSTREAM_REJECTED
        }
        "ENTITY_NOT_FOUND" => tool::UPSTREAM_NOT_FOUND,
        "INTERNAL_SERVER_ERROR" => tool::UPSTREAM_UNAVAILABLE,
        _ => crate::codes::linear::ERROR,
    };
    reason.error(format!("Linear refused the request ({shown})"))
}

/// The entity type of Linear's `Entity not found: <Type>` message (`Issue`, `Team`),
/// when it is a plain type name.
fn missing_entity(message: &str) -> Option<&str> {
    let entity = message.strip_prefix("Entity not found")?;
    let entity = entity.strip_prefix(':').unwrap_or(entity).trim();
    if entity.is_empty() {
        return Some("entity");
    }
    let plain = entity.len() <= 32 && entity.bytes().all(|b| b.is_ascii_alphabetic());
    Some(if plain { entity } else { "entity" })
}

/// The error of a GraphQL answer with any `errors[]` entry. Every entry fails the call,
/// even beside `data` (GraphQL returns what did resolve next to the errors of what did
/// not: partial data is not a success); a mutation whose payload reports success fails
/// with `linear.applied_with_errors` instead (see `applied_despite`). The first `extensions.code` decides the error
/// ([`linear_error`]); entries without a code give `linear.graphql_error`. Linear's
/// messages are never passed on: they can quote the submitted variables.
pub(super) fn graphql_failure(body: Option<&GraphQlResponse>) -> Option<Error> {
    let errors = &body?.errors;
    if errors.is_empty() {
        return None;
    }
    Some(
        match errors.iter().find_map(|e| {
            let code = e.extensions.as_ref()?.code.as_deref()?;
            Some(linear_error(code, e.message.as_deref()))
        }) {
            Some(error) => error,
            None => crate::codes::linear::GRAPHQL_ERROR.error(
                "Linear answered with GraphQL errors that carry no error code; the request did not fully succeed",
            ),
        },
    )
}

/// The error of a mutation that Linear made although it answered with errors beside its
/// data (a field of the result failed to resolve): `data.<root>.success` is `true`. The
/// call must not be repeated, which a plain failure would invite (the change would be
/// made twice), so the error says it was made, and names what it made when Linear gave
/// an identifier. `None` for anything else (a query, a mutation that failed).
fn applied_despite(body: Option<&GraphQlResponse>, root: &str) -> Option<Error> {
    let payload = body?.data.as_ref()?.get(root)?;
    if payload.get("success").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let made = ["issue", "comment"].iter().find_map(|item| {
        let item = payload.get(*item)?;
        let name = item
            .get("identifier")
            .or_else(|| item.get("id"))?
            .as_str()?;
        let plain = name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plain.then(|| name.to_owned())
    });
    let made = made.map_or_else(String::new, |name| format!(" ({name})"));
    Some(crate::codes::linear::APPLIED_WITH_ERRORS.error(format!(
        "Linear made the change{made} but answered with errors for part of its result; do not repeat the call, which would make it again"
    )))
}

/// Runs one GraphQL operation and returns `data.<root>` as `T`.
async fn graphql<T: DeserializeOwned>(
    context: &ToolContext,
    document: &str,
    variables: Value,
    root: &str,
) -> Result<T, Error> {
    let config = context.target_config().get::<LinearTargetConfig>()?;
    let url = config.api_base_url.url().path("graphql").build()?;
    let request = json_request(
        Method::POST,
        url.as_str(),
        &json!({"query": document, "variables": variables}),
    )?;
    let response = context.http().send(request, &auth(context)?).await?;
    if let Some(limited) = RATE_LIMIT.check(&response, context.now()) {
        return Err(limited);
    }
    let body: Option<GraphQlResponse> = serde_json::from_slice(response.body()).ok();
    if let Some(failure) = graphql_failure(body.as_ref()) {
        return Err(applied_despite(body.as_ref(), root).unwrap_or(failure));
    }
    if !response.status().is_success() {
        return Err(status_error(response.status()));
    }
    let unexpected = || {
        integrations_core::codes::tool::UNEXPECTED_RESPONSE
            .error("Linear answered with a body that is not the GraphQL result expected")
    };
    let data = body.and_then(|b| b.data).ok_or_else(unexpected)?;
    let value = data.get(root).cloned().ok_or_else(unexpected)?;
    serde_json::from_value(value).map_err(|_| unexpected())
}

/// An issue's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Priority {
    /// No priority.
    None,
    /// Urgent.
    Urgent,
    /// High.
    High,
    /// Medium.
    Medium,
    /// Low.
    Low,
}

impl Priority {
    fn number(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Urgent => 1,
            Self::High => 2,
            Self::Medium => 3,
            Self::Low => 4,
        }
    }
}

fn insert<T: Serialize>(map: &mut Map<String, Value>, name: &str, value: Option<T>) {
    if let Some(value) = value
        && let Ok(value) = serde_json::to_value(value)
    {
        map.insert(name.to_owned(), value);
    }
}

fn page_size(limit: Option<u8>) -> u8 {
    limit.unwrap_or(25).clamp(1, 100)
}

/// What a mutation did to its item.
#[derive(Clone, Copy)]
enum Made {
    Created,
    Updated,
}

#[derive(Deserialize)]
struct Payload<T> {
    success: bool,
    #[serde(alias = "issue", alias = "comment")]
    item: Option<T>,
}

/// The item of a mutation's `payload` that made or changed (`made`) a `what`.
fn created<T>(payload: Payload<T>, what: &str, made: Made) -> Result<T, Error> {
    match payload {
        Payload {
            success: true,
            item: Some(item),
        } => Ok(item),
        // The payload's item is nullable: made, but not given back (a token that may
        // create in a team but not read what it made). Not "not saved", which would
        // invite the agent to make it again.
        Payload {
            success: true,
            item: None,
        } => Err(crate::codes::linear::APPLIED_WITH_ERRORS.error(match made {
            Made::Created => format!(
                "Linear made the {what} but did not return it; do not repeat the call, which would make it again"
            ),
            Made::Updated => format!(
                "Linear updated the {what} but did not return it; read it to see the change"
            ),
        })),
        Payload { success: false, .. } => {
            Err(crate::codes::linear::NOT_SAVED.error(format!("Linear did not save the {what}")))
        }
    }
}

#[derive(Deserialize)]
struct Connection<T> {
    nodes: Vec<T>,
    #[serde(rename = "pageInfo")]
    page_info: PageInfo,
}

/// A list asked for without its page info.
#[derive(Deserialize)]
struct Nodes<T> {
    nodes: Vec<T>,
}

#[derive(Deserialize)]
struct PageInfo {
    #[serde(rename = "hasNextPage")]
    has_next_page: bool,
    #[serde(rename = "endCursor")]
    end_cursor: Option<String>,
}

impl PageInfo {
    fn next(self) -> Option<String> {
        self.has_next_page.then_some(self.end_cursor).flatten()
    }
}

// ---- linear_create_issue ----

/// The connection's `default_team_id`, for a call that names no team.
fn default_team(context: &ToolContext) -> Result<String, Error> {
    context
        .connection_config()
        .get::<LinearConnectionConfig>()
        .ok()
        .and_then(|c| c.default_team_id.clone())
        .ok_or_else(|| {
            crate::codes::linear::TEAM_REQUIRED.with_issues(
                "name the team (team_id): the connection has no default_team_id",
                vec![integrations_core::ValidationIssue::new(
                    crate::codes::linear::TEAM_REQUIRED,
                    "/team_id",
                    "required when the connection's config has no default_team_id",
                )],
            )
        })
}

/// Whether `team` is a Linear id (a UUID) rather than a team key (`ENG`).
fn is_id(team: &str) -> bool {
    team.len() == 36
        && team.bytes().enumerate().all(|(at, b)| match at {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The `TeamFilter` that selects `team`: its id, or its key, case ignored.
fn team_filter(team: &str) -> Value {
    if is_id(team) {
        json!({"id": {"eq": team}})
    } else {
        json!({"key": {"eqIgnoreCase": team}})
    }
}

/// The id of `team` (an id, returned as it is, or a key, looked up).
async fn team_id(context: &ToolContext, team: String) -> Result<String, Error> {
    #[derive(Deserialize)]
    struct Team {
        id: String,
    }
    if is_id(&team) {
        return Ok(team);
    }
    let found: Nodes<Team> = graphql(
        context,
        TEAM_BY_KEY,
        json!({"filter": team_filter(&team)}),
        "teams",
    )
    .await?;
    found.nodes.into_iter().next().map(|t| t.id).ok_or_else(|| {
        integrations_core::codes::tool::UPSTREAM_NOT_FOUND.error(format!(
            "the Linear workspace has no team with the key {}; linear_list_teams lists them",
            team.chars().take(32).collect::<String>()
        ))
    })
}

/// Arguments of `linear_create_issue`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CreateIssueArgs {
    /// The team: its id or its key (`ENG`); `linear_list_teams` lists them. Left out:
    /// the connection's `default_team_id`.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub team_id: Option<String>,
    /// The title.
    #[schemars(length(min = 1, max = 512))]
    pub title: String,
    /// The description, in Markdown.
    #[serde(default)]
    pub description: Option<String>,
    /// The priority.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// The assignee's user id.
    #[serde(default)]
    pub assignee_id: Option<String>,
    /// Label ids.
    #[serde(default)]
    pub label_ids: Option<Vec<String>>,
    /// The parent issue's id, to create a sub-issue.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// The project's id.
    #[serde(default)]
    pub project_id: Option<String>,
}

/// An issue, as the write tools return it.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct IssueRef {
    /// The issue's id (UUID).
    pub id: String,
    /// The human identifier (`ENG-123`).
    pub identifier: String,
    /// The issue's web URL.
    pub url: String,
    /// The title.
    pub title: String,
}

/// `linear_create_issue`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CreateIssue;

impl Tool for CreateIssue {
    type Args = CreateIssueArgs;
    type Output = IssueRef;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<CreateIssueArgs>(
            "linear_create_issue",
            "Create an issue in a Linear team (the connection's default team when none is named). Returns its identifier and URL.",
        )
        .with_title("Create Linear issue")
        .with_annotations(ToolAnnotations::additive())
        .with_capability(
            const { integrations_core::model::Capability::from_static("issue.create") },
        )
    }

    async fn call(&self, args: CreateIssueArgs, context: &ToolContext) -> Result<IssueRef, Error> {
        let team = match args.team_id {
            Some(team) => team,
            None => default_team(context)?,
        };
        let team = team_id(context, team).await?;
        let mut input = Map::new();
        input.insert("teamId".into(), json!(team));
        input.insert("title".into(), json!(args.title));
        insert(&mut input, "description", args.description);
        insert(&mut input, "priority", args.priority.map(Priority::number));
        insert(&mut input, "assigneeId", args.assignee_id);
        insert(&mut input, "labelIds", args.label_ids);
        insert(&mut input, "parentId", args.parent_id);
        insert(&mut input, "projectId", args.project_id);
        let payload: Payload<IssueRef> = graphql(
            context,
            ISSUE_CREATE,
            json!({"input": input}),
            "issueCreate",
        )
        .await?;
        created(payload, "issue", Made::Created)
    }
}

// ---- linear_update_issue ----

/// Arguments of `linear_update_issue`. Fields left out are not changed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UpdateIssueArgs {
    /// The issue's id or identifier (`ENG-123`).
    #[schemars(length(min = 1))]
    pub id: String,
    /// A new title.
    #[serde(default)]
    #[schemars(length(min = 1, max = 512))]
    pub title: Option<String>,
    /// A new description, in Markdown.
    #[serde(default)]
    pub description: Option<String>,
    /// A new priority.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// The id of the workflow state to move the issue to.
    #[serde(default)]
    pub state_id: Option<String>,
    /// The new assignee's user id.
    #[serde(default)]
    pub assignee_id: Option<String>,
    /// The complete new set of label ids.
    #[serde(default)]
    pub label_ids: Option<Vec<String>>,
}

/// An issue after an update.
#[derive(Debug, Serialize, JsonSchema)]
#[non_exhaustive]
pub struct UpdatedIssue {
    /// The issue's id (UUID).
    pub id: String,
    /// The human identifier (`ENG-123`).
    pub identifier: String,
    /// The issue's web URL.
    pub url: String,
    /// The title.
    pub title: String,
    /// The workflow state's name.
    pub state: String,
}

#[derive(Deserialize)]
struct UpdatedNode {
    id: String,
    identifier: String,
    url: String,
    title: String,
    state: StateNode,
}

#[derive(Deserialize)]
struct StateNode {
    name: String,
    #[serde(rename = "type", default)]
    kind: String,
}

/// `linear_update_issue`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct UpdateIssue;

impl Tool for UpdateIssue {
    type Args = UpdateIssueArgs;
    type Output = UpdatedIssue;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<UpdateIssueArgs>(
            "linear_update_issue",
            "Change a Linear issue's title, description, priority, state, assignee or labels. Fields left out stay as they are.",
        )
        .with_title("Update Linear issue")
        .with_annotations(ToolAnnotations::idempotent_update())
        .with_capability(const { integrations_core::model::Capability::from_static("issue.update") })
    }

    async fn call(
        &self,
        args: UpdateIssueArgs,
        context: &ToolContext,
    ) -> Result<UpdatedIssue, Error> {
        let mut input = Map::new();
        insert(&mut input, "title", args.title);
        insert(&mut input, "description", args.description);
        insert(&mut input, "priority", args.priority.map(Priority::number));
        insert(&mut input, "stateId", args.state_id);
        insert(&mut input, "assigneeId", args.assignee_id);
        insert(&mut input, "labelIds", args.label_ids);
        if input.is_empty() {
            return Err(crate::codes::linear::NOTHING_TO_UPDATE.with_issues(
                "name at least one field to change",
                vec![integrations_core::ValidationIssue::new(
                    crate::codes::linear::NOTHING_TO_UPDATE,
                    "",
                    "no field to change was given",
                )],
            ));
        }
        let payload: Payload<UpdatedNode> = graphql(
            context,
            ISSUE_UPDATE,
            json!({"id": args.id, "input": input}),
            "issueUpdate",
        )
        .await?;
        let node = created(payload, "issue", Made::Updated)?;
        Ok(UpdatedIssue {
            id: node.id,
            identifier: node.identifier,
            url: node.url,
            title: node.title,
            state: node.state.name,
        })
    }
}

// ---- linear_create_comment ----

/// Arguments of `linear_create_comment`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CreateCommentArgs {
    /// The issue's id or identifier (`ENG-123`).
    #[schemars(length(min = 1))]
    pub issue_id: String,
    /// The comment, in Markdown.
    #[schemars(length(min = 1))]
    pub body: String,
    /// The comment to reply to, to answer in its thread.
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// A comment.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct CommentRef {
    /// The comment's id.
    pub id: String,
    /// The comment's web URL.
    pub url: String,
}

/// `linear_create_comment`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CreateComment;

impl Tool for CreateComment {
    type Args = CreateCommentArgs;
    type Output = CommentRef;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<CreateCommentArgs>(
            "linear_create_comment",
            "Comment on a Linear issue, or reply in a comment's thread.",
        )
        .with_title("Comment on Linear issue")
        .with_annotations(ToolAnnotations::additive())
        .with_capability(
            const { integrations_core::model::Capability::from_static("comment.write") },
        )
    }

    async fn call(
        &self,
        args: CreateCommentArgs,
        context: &ToolContext,
    ) -> Result<CommentRef, Error> {
        let mut input = Map::new();
        input.insert("issueId".into(), json!(args.issue_id));
        input.insert("body".into(), json!(args.body));
        insert(&mut input, "parentId", args.parent_id);
        let payload: Payload<CommentRef> = graphql(
            context,
            COMMENT_CREATE,
            json!({"input": input}),
            "commentCreate",
        )
        .await?;
        created(payload, "comment", Made::Created)
    }
}

// ---- linear_list_issues ----

/// Arguments of `linear_list_issues`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ListIssuesArgs {
    /// Only issues of this team: its id or its key (`ENG`).
    #[serde(default)]
    pub team_id: Option<String>,
    /// How many issues per page (1 to 100, default 25).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u8>,
    /// The `next_cursor` of the previous page, to read the next one.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// An issue in a list.
#[derive(Debug, Serialize, JsonSchema)]
#[non_exhaustive]
pub struct IssueSummary {
    /// The issue's id (UUID).
    pub id: String,
    /// The human identifier (`ENG-123`).
    pub identifier: String,
    /// The title.
    pub title: String,
    /// The issue's web URL.
    pub url: String,
    /// The workflow state's name.
    pub state: String,
    /// The workflow state's type (`backlog`, `unstarted`, `started`, `completed`, `canceled`).
    pub state_type: String,
    /// The priority, 0 (none) to 4 (low).
    pub priority: u8,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

/// A page of issues.
#[derive(Debug, Serialize, JsonSchema)]
#[non_exhaustive]
pub struct IssuePage {
    /// The issues, most recently updated first.
    pub issues: Vec<IssueSummary>,
    /// Pass as `cursor` to read the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct IssueNode {
    id: String,
    identifier: String,
    title: String,
    url: String,
    #[serde(rename = "updatedAt")]
    updated_at: String,
    #[serde(default)]
    priority: f64,
    state: StateNode,
}

/// `linear_list_issues`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ListIssues;

impl Tool for ListIssues {
    type Args = ListIssuesArgs;
    type Output = IssuePage;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<ListIssuesArgs>(
            "linear_list_issues",
            "List Linear issues, most recently updated first, optionally of one team, a page at a time.",
        )
        .with_title("List Linear issues")
        .with_annotations(ToolAnnotations::read_only())
        .with_capability(const { integrations_core::model::Capability::from_static("issue.read") })
    }

    async fn call(&self, args: ListIssuesArgs, context: &ToolContext) -> Result<IssuePage, Error> {
        let filter = args.team_id.map(|team| json!({"team": team_filter(&team)}));
        let variables = json!({
            "first": page_size(args.limit),
            "after": args.cursor,
            "filter": filter,
        });
        let connection: Connection<IssueNode> =
            graphql(context, ISSUES, variables, "issues").await?;
        Ok(IssuePage {
            issues: connection
                .nodes
                .into_iter()
                .map(|n| IssueSummary {
                    id: n.id,
                    identifier: n.identifier,
                    title: n.title,
                    url: n.url,
                    state: n.state.name,
                    state_type: n.state.kind,
                    // Linear's priority is a Float holding 0 to 4.
                    priority: [0.0, 1.0, 2.0, 3.0, 4.0]
                        .iter()
                        .position(|p| (n.priority - p).abs() < 0.5)
                        .and_then(|p| u8::try_from(p).ok())
                        .unwrap_or(0),
                    updated_at: n.updated_at,
                })
                .collect(),
            next_cursor: connection.page_info.next(),
        })
    }
}

// ---- linear_list_teams ----

/// Arguments of `linear_list_teams`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ListTeamsArgs {
    /// How many teams per page (1 to 100, default 25).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u8>,
    /// The `next_cursor` of the previous page, to read the next one.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A team.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct Team {
    /// The team's id.
    pub id: String,
    /// Its key, the prefix of its issue identifiers (`ENG`).
    pub key: String,
    /// Its name.
    pub name: String,
}

/// A page of teams.
#[derive(Debug, Serialize, JsonSchema)]
#[non_exhaustive]
pub struct TeamPage {
    /// The teams.
    pub teams: Vec<Team>,
    /// Pass as `cursor` to read the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `linear_list_teams`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ListTeams;

impl Tool for ListTeams {
    type Args = ListTeamsArgs;
    type Output = TeamPage;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<ListTeamsArgs>(
            "linear_list_teams",
            "List the Linear teams the connection can see, with the ids other tools take.",
        )
        .with_title("List Linear teams")
        .with_annotations(ToolAnnotations::read_only())
        .with_capability(const { integrations_core::model::Capability::from_static("team.read") })
    }

    async fn call(&self, args: ListTeamsArgs, context: &ToolContext) -> Result<TeamPage, Error> {
        let variables = json!({"first": page_size(args.limit), "after": args.cursor});
        let connection: Connection<Team> = graphql(context, TEAMS, variables, "teams").await?;
        Ok(TeamPage {
            teams: connection.nodes,
            next_cursor: connection.page_info.next(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linears_codes_become_the_runtimes_codes_for_the_same_condition() {
        let cases = [
            ("AUTHENTICATION_ERROR", None, "tool.unauthorized"),
            ("FORBIDDEN", None, "tool.forbidden"),
            (
                "INPUT_ERROR",
                Some("Argument Validation Error"),
                "tool.upstream_rejected",
            ),
            (
                "INPUT_ERROR",
                Some("Entity not found: Issue"),
                "tool.upstream_not_found",
            ),
            ("ENTITY_NOT_FOUND", None, "tool.upstream_not_found"),
            ("INTERNAL_SERVER_ERROR", None, "tool.upstream_unavailable"),
            ("SOMETHING_NEW", None, "linear.error"),
            // A message only names a missing entity beside an input error.
            (
                "FORBIDDEN",
                Some("Entity not found: Team"),
                "tool.forbidden",
            ),
        ];
        for (code, message, expected) in cases {
            assert_eq!(
                linear_error(code, message).code(),
                expected,
                "{code} {message:?}"
            );
        }
    }

    #[test]
    fn only_a_plain_type_name_of_a_missing_entity_is_passed_on() {
        assert_eq!(missing_entity("Entity not found: Team"), Some("Team"));
        assert_eq!(missing_entity("Entity not found"), Some("entity"));
        assert_eq!(
            missing_entity("Entity not found: Issue with id 'secret-title'"),
            Some("entity")
        );
        assert_eq!(missing_entity("Argument Validation Error"), None);
        let error = linear_error("INPUT_ERROR", Some("Entity not found: Issue - ENG-1 title"));
        assert!(!error.message().contains("ENG-1"), "{}", error.message());
    }
}
