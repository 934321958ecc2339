//! The shipped tools, each end to end against its mock API (which checks the request's
//! shape) through the real reqwest client on loopback.

use std::sync::Arc;
use std::time::Duration;

use integrations_core::host::{Clock, ReqwestHttpClient};
use integrations_core::model::{
    Capability, Connection, CredentialType, Publication, PublicationScope,
};
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::tools::export::openai::OpenAiApi as OpenAiShape;
use integrations_core::tools::export::{anthropic, gemini, mcp, openai};
use integrations_core::tools::{
    CallContext, Policies, PolicySet, Runtime, Session, ToolPolicy, ToolResult, ToolStatus,
};
use integrations_core::{
    ConnectionId, ConnectionMethodId, DefinitionKey, ErrorKind, PublicationId, Registry, TargetId,
    TenantId, Timestamp, UserId, WorkspaceId,
};
use integrations_definitions::linear::tools::ISSUE_CREATE;
use integrations_testkit::mock::MockProvider;
use integrations_testkit::mock::api::{
    FakeTokenManager, GitHubApi, GitHubFailure, LinearApi, LinearFailure, OpenAiApi, OpenAiFailure,
    RefreshEndpoint, Scheme, SlackApi, SlackFailure,
};
use integrations_testkit::tool_formats::{
    check_anthropic_tool, check_gemini_declaration, check_mcp_tool, check_openai_strict_tool,
};
use integrations_testkit::{TestHost, assert_debug_secret_free};
use serde_json::{Value, json};

const CAPABILITIES: &[&str] = &[
    "issue.create",
    "issue.update",
    "comment.write",
    "issue.read",
    "team.read",
    "repo.read",
    "pr.read",
    "message.send",
    "reaction.write",
    "channel.read",
    "model.read",
];

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn workspace() -> WorkspaceId {
    WorkspaceId::new("eng").unwrap()
}

/// A host on loopback HTTP with one target of `key`, and a runtime whose writes run
/// without approval (the approval path has its own test).
struct Env {
    test: TestHost,
    registry: Arc<Registry>,
    key: DefinitionKey,
    tokens: Arc<FakeTokenManager>,
}

impl Env {
    async fn new(key: &str, target_config: Value) -> Self {
        Self::with_refresh(key, target_config, None).await
    }

    async fn with_refresh(key: &str, target_config: Value, token_url: Option<&str>) -> Self {
        let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new().unwrap()));
        test.clock.set(Timestamp::from_unix_seconds(1_790_000_000));
        let registry = Arc::new(integrations_definitions::registry());
        let key: DefinitionKey = key.parse().unwrap();
        WriteService::new(registry.clone(), test.host().clone())
            .put_target(
                TargetInput::new(tenant(), TargetId::new("target").unwrap(), key.clone())
                    .with_config(target_config),
            )
            .await
            .unwrap();
        let mut tokens = FakeTokenManager::new(test.host().clone());
        if let Some(url) = token_url {
            tokens = tokens.with_token_endpoint(url);
        }
        Self {
            test,
            registry,
            key,
            tokens: Arc::new(tokens),
        }
    }

    fn runtime(&self) -> Runtime {
        Runtime::new(
            self.registry.clone(),
            self.test.host().clone(),
            self.tokens.clone(),
        )
        .with_policies(Arc::new(Policies::new().with_workspace(
            tenant(),
            workspace(),
            PolicySet::new().with_integration(self.key.clone(), ToolPolicy::Auto),
        )))
    }

    async fn publish(&self, connection: &str) -> CallContext {
        let mut publication = Publication::new(
            tenant(),
            PublicationId::new(format!("pub-{connection}")).unwrap(),
            ConnectionId::new(connection).unwrap(),
            PublicationScope::Workspace {
                workspace: workspace(),
            },
            self.test.clock.now(),
        );
        for capability in CAPABILITIES {
            publication
                .capabilities
                .insert(Capability::new(*capability).unwrap());
        }
        self.test
            .host()
            .publications()
            .put_publication(&publication)
            .await
            .unwrap();
        CallContext::new(
            Session::new(tenant(), workspace()),
            ConnectionId::new(connection).unwrap(),
        )
        .with_publication(publication.id)
    }

    /// An API-key connection through the write service.
    async fn api_key(&self, id: &str, field: &str, secret: &str, config: Value) -> CallContext {
        WriteService::new(self.registry.clone(), self.test.host().clone())
            .put_connection(
                ConnectionInput::new(
                    tenant(),
                    ConnectionId::new(id).unwrap(),
                    TargetId::new("target").unwrap(),
                    ConnectionMethodId::new("api-key").unwrap(),
                )
                .with_config(config)
                .with_secret(field, secret),
            )
            .await
            .unwrap();
        self.publish(id).await
    }

    /// An OAuth connection, as the OAuth flow would leave it.
    async fn oauth(&self, id: &str, access: &str, refresh: &str) -> CallContext {
        let connection = Connection::new(
            tenant(),
            ConnectionId::new(id).unwrap(),
            TargetId::new("target").unwrap(),
            self.key.clone(),
            ConnectionMethodId::new("oauth2").unwrap(),
            self.test.clock.now(),
        );
        self.test
            .host()
            .connections()
            .put_connection(&connection)
            .await
            .unwrap();
        self.tokens
            .store(
                &connection,
                &[
                    (CredentialType::OAUTH2_ACCESS_TOKEN, access),
                    (CredentialType::OAUTH2_REFRESH_TOKEN, refresh),
                ],
            )
            .await
            .unwrap();
        self.publish(id).await
    }
}

fn ok(result: &ToolResult) -> Value {
    assert_eq!(result.status, ToolStatus::Completed, "{result:#?}");
    result.structured_content.clone().unwrap()
}

fn code(result: &ToolResult) -> &str {
    result.error_code().unwrap_or("<none>")
}

// ---------------------------------------------------------------- Linear

async fn linear() -> (LinearApi, Env, CallContext, String) {
    let api = LinearApi::start().await;
    api.accept_api_key("lin_api_key123");
    let team = api.add_team("ENG", "Engineering");
    let env = Env::new(
        "linear::linear-default",
        json!({"api_base_url": api.base_url()}),
    )
    .await;
    let call = env
        .api_key("linear", "api_key", "lin_api_key123", json!({}))
        .await;
    (api, env, call, team)
}

#[tokio::test]
async fn a_title_with_graphql_syntax_reaches_linear_inside_the_variables_unchanged() {
    let (api, env, call, team) = linear().await;
    let title = r#"a "quoted" \ back\slash "}) { __typename }"#;
    let result = env
        .runtime()
        .call(
            "linear_create_issue",
            json!({"team_id": team, "title": title, "description": "Steps: …", "priority": "high"}),
            &call,
        )
        .await;
    let issue = ok(&result);
    assert_eq!(issue["identifier"], "ENG-1");
    assert_eq!(issue["title"], title);

    let requests = api.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/graphql");
    assert_eq!(sent.header("content-type"), Some("application/json"));
    // A personal API key goes without a scheme.
    assert_eq!(sent.header("authorization"), Some("lin_api_key123"));
    let body = sent.json();
    let query = body["query"].as_str().unwrap();
    assert_eq!(query, ISSUE_CREATE);
    assert!(!query.contains(title) && !query.contains("__typename") && !query.contains("quoted"));
    assert_eq!(body["variables"]["input"]["title"], title);
    assert_eq!(body["variables"]["input"]["teamId"], team.as_str());
    assert_eq!(body["variables"]["input"]["priority"], 2);
    assert_eq!(api.issue("ENG-1").unwrap()["title"], title);
}

/// Linear can make a change and still answer with an error for a field of its result
/// (GraphQL returns what resolved beside the errors of what did not). The call is then
/// not a plain failure an agent would repeat, making the issue twice: it says the change
/// was made, and which issue.
#[tokio::test]
async fn a_linear_issue_created_despite_an_error_beside_it_is_not_to_be_repeated() {
    let (api, env, call, team) = linear().await;
    api.fail_next(LinearFailure::ErrorBesideCreatedIssue);
    let result = env
        .runtime()
        .call(
            "linear_create_issue",
            json!({"team_id": team, "title": "Made once"}),
            &call,
        )
        .await;
    assert_eq!(code(&result), "linear.applied_with_errors");
    let failure = result.failure.clone().unwrap();
    assert!(failure.message.contains("(ENG-1)"), "{}", failure.message);
    assert!(
        failure.message.contains("do not repeat"),
        "{}",
        failure.message
    );
    assert_eq!(api.issue("ENG-1").unwrap()["title"], "Made once");
    assert!(
        !failure.message.contains("Made once"),
        "the input is never quoted"
    );
}

/// `success: true` with the item `null` (the payload's item is nullable) is a change
/// made: the agent is told not to repeat it, not that nothing was saved.
#[tokio::test]
async fn a_linear_issue_created_but_not_returned_is_not_to_be_repeated() {
    let (api, env, call, team) = linear().await;
    api.fail_next(LinearFailure::CreatedNotReturned);
    let result = env
        .runtime()
        .call(
            "linear_create_issue",
            json!({"team_id": team, "title": "Made unseen"}),
            &call,
        )
        .await;
    assert_eq!(code(&result), "linear.applied_with_errors");
    assert!(result.failure.unwrap().message.contains("do not repeat"));
    assert_eq!(api.issue("ENG-1").unwrap()["title"], "Made unseen");
}

#[tokio::test]
async fn a_linear_write_asks_first_and_runs_once_approved() {
    let (api, env, call, team) = linear().await;
    let runtime = Runtime::new(
        env.registry.clone(),
        env.test.host().clone(),
        env.tokens.clone(),
    );
    let pending = runtime
        .call(
            "linear_create_issue",
            json!({"team_id": team, "title": "Needs a yes"}),
            &call,
        )
        .await;
    assert_eq!(pending.status, ToolStatus::ApprovalRequired);
    assert!(
        api.requests().is_empty(),
        "nothing reaches Linear before approval"
    );
    let id = pending.approval.unwrap().id;
    let done = runtime
        .approve(&tenant(), &id, &UserId::new("lead").unwrap())
        .await;
    assert_eq!(ok(&done)["identifier"], "ENG-1");
    assert_eq!(api.requests().len(), 1);
    // Reads run without asking.
    let teams = runtime.call("linear_list_teams", json!({}), &call).await;
    assert_eq!(ok(&teams)["teams"][0]["key"], "ENG");
}

#[tokio::test]
async fn linear_oauth_tokens_are_bearer_and_refreshed_once_when_refused() {
    let api = LinearApi::start().await;
    api.add_team("ENG", "Engineering");
    api.accept_oauth_token("lin-access-0");
    let refresh = RefreshEndpoint::mount(
        api.provider(),
        "/oauth/token",
        api.tokens().clone(),
        Scheme::Bearer,
        "lin-refresh-0",
        "lin",
    )
    .await;
    let env = Env::with_refresh(
        "linear::linear-default",
        json!({"api_base_url": api.base_url()}),
        Some(refresh.url()),
    )
    .await;
    let call = env
        .oauth("linear-oauth", "lin-access-0", "lin-refresh-0")
        .await;
    let runtime = env.runtime();
    ok(&runtime.call("linear_list_teams", json!({}), &call).await);
    assert_eq!(
        api.requests()[0].header("authorization"),
        Some("Bearer lin-access-0")
    );

    // The token expires at Linear: AUTHENTICATION_ERROR (HTTP 400), one refresh, one retry.
    api.tokens().revoke("lin-access-0");
    ok(&runtime.call("linear_list_teams", json!({}), &call).await);
    let auth: Vec<String> = api
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(
        auth,
        [
            "Bearer lin-access-0",
            "Bearer lin-access-0",
            "Bearer lin-access-1"
        ]
    );
    assert_eq!(env.tokens.refreshes(), 1);
    assert_eq!(refresh.current_refresh_token(), "lin-refresh-1");
}

#[tokio::test]
async fn linear_updates_comments_and_lists_with_cursors() {
    let (api, env, call, team) = linear().await;
    let runtime = env.runtime();
    ok(&runtime
        .call(
            "linear_create_issue",
            json!({"team_id": team, "title": "First"}),
            &call,
        )
        .await);
    let updated = ok(&runtime
        .call(
            "linear_update_issue",
            json!({"id": "ENG-1", "title": "First, renamed", "state_id": "state-done"}),
            &call,
        )
        .await);
    assert_eq!(updated["title"], "First, renamed");
    assert_eq!(updated["state"], "Done");
    let before = api.requests().len();
    let nothing = runtime
        .call("linear_update_issue", json!({"id": "ENG-1"}), &call)
        .await;
    assert_eq!(code(&nothing), "linear.nothing_to_update");
    assert_eq!(api.requests().len(), before, "nothing was sent");

    let comment = ok(&runtime
        .call(
            "linear_create_comment",
            json!({"issue_id": "ENG-1", "body": "Looking into it."}),
            &call,
        )
        .await);
    assert!(comment["url"].as_str().unwrap().contains("#comment-"));
    assert_eq!(api.comments()[0]["body"], "Looking into it.");

    api.add_issues(&team, 7);
    let other = api.add_team("OPS", "Operations");
    api.add_issues(&other, 2);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = ok(&runtime
            .call(
                "linear_list_issues",
                json!({"team_id": team, "limit": 3, "cursor": cursor}),
                &call,
            )
            .await);
        pages += 1;
        let sent = api.requests().last().unwrap().json();
        assert_eq!(sent["variables"]["first"], 3);
        assert_eq!(sent["variables"]["after"], json!(cursor));
        assert_eq!(
            sent["variables"]["filter"],
            json!({"team": {"id": {"eq": team}}})
        );
        for issue in page["issues"].as_array().unwrap() {
            seen.push(issue["identifier"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 8);
    assert!(seen.iter().all(|i| i.starts_with("ENG-")));

    let teams = ok(&runtime
        .call("linear_list_teams", json!({"limit": 1}), &call)
        .await);
    assert_eq!(teams["teams"].as_array().unwrap().len(), 1);
    assert!(teams["next_cursor"].is_string());
}

#[tokio::test]
async fn linear_rate_limits_and_errors_are_typed() {
    let (api, env, call, team) = linear().await;
    let runtime = env.runtime();
    api.fail_next(LinearFailure::RateLimited {
        now_ms: env.test.clock.now().unix_millis(),
        reset_in: Duration::from_secs(30),
    });
    let limited = runtime.call("linear_list_teams", json!({}), &call).await;
    assert_eq!(code(&limited), "tool.rate_limited");
    let failure = limited.failure.unwrap();
    assert_eq!(failure.kind, ErrorKind::RateLimited);
    assert_eq!(failure.retry_after, Some(Duration::from_secs(30)));
    // Refused for complexity, with requests left: the wait is the complexity limit's.
    api.fail_next(LinearFailure::ComplexityLimited {
        now_ms: env.test.clock.now().unix_millis(),
        reset_in: Duration::from_secs(600),
    });
    let limited = runtime.call("linear_list_teams", json!({}), &call).await;
    assert_eq!(code(&limited), "tool.rate_limited");
    assert_eq!(
        limited.failure.unwrap().retry_after,
        Some(Duration::from_secs(600))
    );

    // Refused by an endpoint's own limit, with requests left for an hour: the wait is the
    // endpoint limit's.
    api.fail_next(LinearFailure::EndpointLimited {
        now_ms: env.test.clock.now().unix_millis(),
        reset_in: Duration::from_secs(20),
    });
    let limited = runtime.call("linear_list_teams", json!({}), &call).await;
    assert_eq!(code(&limited), "tool.rate_limited");
    assert_eq!(
        limited.failure.unwrap().retry_after,
        Some(Duration::from_secs(20))
    );

    // A team id Linear does not know: `Entity not found: Team` (as `INPUT_ERROR`) is a
    // missing entity, with the code every provider's 404 gets.
    let unknown = runtime
        .call(
            "linear_create_issue",
            json!({"team_id": "00000000-0000-4000-8000-000000000000", "title": "x"}),
            &call,
        )
        .await;
    assert_eq!(code(&unknown), "tool.upstream_not_found");
    let failure = unknown.failure.unwrap();
    assert_eq!(failure.kind, ErrorKind::NotFound);
    assert!(
        failure.message.contains("no such Team"),
        "{}",
        failure.message
    );
    let _ = team;
}

/// Agents know teams by their key (`ENG` in `ENG-123`): the list filter takes a key
/// (Linear's `TeamFilter.key`, case ignored), and an issue created in a team named by its
/// key goes to that team's id, looked up first. A key no team has creates nothing.
#[tokio::test]
async fn linear_tools_take_a_team_key_where_they_take_a_team_id() {
    let (api, env, call, team) = linear().await;
    let runtime = env.runtime();
    api.add_issues(&team, 2);
    let other = api.add_team("OPS", "Operations");
    api.add_issues(&other, 3);

    let page = ok(&runtime
        .call("linear_list_issues", json!({"team_id": "ops"}), &call)
        .await);
    let sent = api.requests().last().unwrap().json();
    assert_eq!(
        sent["variables"]["filter"],
        json!({"team": {"key": {"eqIgnoreCase": "ops"}}})
    );
    let identifiers: Vec<&str> = page["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(identifiers.len(), 3, "{page}");
    assert!(identifiers.iter().all(|i| i.starts_with("OPS-")));

    let before = api.requests().len();
    let created = ok(&runtime
        .call(
            "linear_create_issue",
            json!({"team_id": "OPS", "title": "By key"}),
            &call,
        )
        .await);
    assert_eq!(created["identifier"], "OPS-4");
    let sent: Vec<Value> = api.requests()[before..]
        .iter()
        .map(integrations_testkit::mock::api::Recorded::json)
        .collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0]["variables"]["filter"],
        json!({"key": {"eqIgnoreCase": "OPS"}})
    );
    assert_eq!(sent[1]["variables"]["input"]["teamId"], other.as_str());

    let before = api.requests().len();
    let unknown = runtime
        .call(
            "linear_create_issue",
            json!({"team_id": "NOPE", "title": "Nowhere"}),
            &call,
        )
        .await;
    assert_eq!(code(&unknown), "tool.upstream_not_found");
    assert_eq!(unknown.failure.unwrap().kind, ErrorKind::NotFound);
    assert_eq!(api.requests().len(), before + 1, "only the lookup was sent");
}

/// GraphQL answers what resolved next to the errors of what did not: any `errors[]`
/// entry fails the call, an entry without a code with `linear.graphql_error`, and
/// Linear's message is never passed on.
#[tokio::test]
async fn linear_graphql_errors_fail_the_call_even_beside_partial_data() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let linear = MockProvider::start().await;
    let teams = json!({
        "nodes": [{"id": "team-1", "key": "ENG", "name": "Engineering"}],
        "pageInfo": {"hasNextPage": false, "endCursor": null},
    });
    let answers = [
        // A field failed: partial data and an error without a code, HTTP 200.
        json!({
            "data": {"teams": teams},
            "errors": [{
                "message": "Unexpected failure reading team OPS-private-roadmap",
                "path": ["teams", "nodes", 1],
                "locations": [{"line": 2, "column": 3}],
            }],
        }),
        // A coded error beside data keeps its code.
        json!({
            "data": {"teams": teams},
            "errors": [{"message": "Forbidden", "extensions": {"code": "FORBIDDEN"}}],
        }),
    ];
    for answer in answers {
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .up_to_n_times(1)
            .expect(1)
            .mount(linear.server())
            .await;
    }
    let env = Env::new(
        "linear::linear-default",
        json!({"api_base_url": linear.uri()}),
    )
    .await;
    let call = env
        .api_key("linear", "api_key", "lin_api_key123", json!({}))
        .await;
    let runtime = env.runtime();
    let partial = runtime.call("linear_list_teams", json!({}), &call).await;
    assert_eq!(code(&partial), "linear.graphql_error");
    assert_eq!(partial.failure.clone().unwrap().kind, ErrorKind::Provider);
    let text = partial.to_mcp().to_string();
    assert!(!text.contains("OPS-private-roadmap"), "{text}");
    let forbidden = runtime.call("linear_list_teams", json!({}), &call).await;
    assert_eq!(code(&forbidden), "tool.forbidden");
    assert!(
        forbidden.failure.unwrap().message.contains("(FORBIDDEN)"),
        "Linear's code is named"
    );
}

/// Tools run through a connection, so the default team and channel are the connection's
/// (`default_team_id`, `default_channel`): a call that names none uses it, and without
/// one the call is refused before anything is sent. The binding fields of the same name
/// reach no tool and are marked deprecated.
#[tokio::test]
async fn a_call_without_a_team_or_channel_uses_the_connections_default() {
    let (api, env, _, team) = linear().await;
    let runtime = env.runtime();
    let with_default = env
        .api_key(
            "linear-default",
            "api_key",
            "lin_api_key123",
            json!({"default_team_id": team}),
        )
        .await;
    let issue = ok(&runtime
        .call(
            "linear_create_issue",
            json!({"title": "No team named"}),
            &with_default,
        )
        .await);
    assert_eq!(issue["identifier"], "ENG-1");
    let sent = api.requests().last().unwrap().json();
    assert_eq!(sent["variables"]["input"]["teamId"], team.as_str());
    let without = env
        .api_key("linear-plain", "api_key", "lin_api_key123", json!({}))
        .await;
    let before = api.requests().len();
    let refused = runtime
        .call("linear_create_issue", json!({"title": "x"}), &without)
        .await;
    assert_eq!(code(&refused), "linear.team_required");
    assert_eq!(refused.failure.unwrap().kind, ErrorKind::InvalidInput);
    assert_eq!(api.requests().len(), before, "nothing was sent");

    let (api, env, _) = slack().await;
    let general = api.add_channel("general", true, false);
    let runtime = env.runtime();
    let with_default = env
        .api_key(
            "slack-default",
            "bot_token",
            "xoxb-1",
            json!({"default_channel": general}),
        )
        .await;
    let sent = ok(&runtime
        .call(
            "slack_send_message",
            json!({"text": "Deployed"}),
            &with_default,
        )
        .await);
    assert_eq!(sent["channel"], general.as_str());
    assert_eq!(
        api.requests().last().unwrap().json()["channel"],
        general.as_str()
    );
    let without = env
        .api_key("slack-plain", "bot_token", "xoxb-1", json!({}))
        .await;
    let before = api.requests().len();
    let refused = runtime
        .call("slack_send_message", json!({"text": "x"}), &without)
        .await;
    assert_eq!(code(&refused), "slack.channel_required");
    assert_eq!(api.requests().len(), before, "nothing was sent");

    let registry = integrations_definitions::registry();
    for (key, field) in [
        ("linear::linear-default", "default_team_id"),
        ("slack::slack-default", "default_channel"),
    ] {
        let entry = registry.get(&key.parse().unwrap()).unwrap();
        let schema = entry.binding_config().json_schema().clone();
        assert_eq!(schema["properties"][field]["deprecated"], true, "{key}");
    }
}

// ---------------------------------------------------------------- GitHub

async fn github(enterprise: bool) -> (GitHubApi, Env, CallContext) {
    let api = if enterprise {
        GitHubApi::enterprise_server().await
    } else {
        GitHubApi::cloud().await
    };
    api.accept_token("ghp_token");
    api.add_repo("octo", "repo");
    let env = if enterprise {
        Env::new(
            "github::github-enterprise-server",
            json!({"web_base_url": api.web_base_url()}),
        )
        .await
    } else {
        Env::new(
            "github::github-cloud",
            json!({"api_base_url": api.api_base_url(), "web_base_url": api.web_base_url()}),
        )
        .await
    };
    let call = env.api_key("github", "token", "ghp_token", json!({})).await;
    (api, env, call)
}

#[tokio::test]
async fn github_tools_work_on_cloud_and_enterprise_server() {
    for enterprise in [false, true] {
        let (api, env, call) = github(enterprise).await;
        let runtime = env.runtime();
        let prefix = if enterprise { "/api/v3" } else { "" };

        let issue = ok(&runtime
            .call(
                "github_create_issue",
                json!({"repository": "octo/repo", "title": "Crash on start", "body": "Trace…", "labels": ["bug"]}),
                &call,
            )
            .await);
        assert_eq!(issue["number"], 1);
        assert_eq!(
            issue["html_url"],
            format!("{}/octo/repo/issues/1", api.web_base_url())
        );
        assert!(issue["node_id"].as_str().unwrap().starts_with("I_"));
        let sent = api.requests().last().unwrap().clone();
        assert_eq!(sent.path, format!("{prefix}/repos/octo/repo/issues"));
        assert_eq!(sent.header("accept"), Some("application/vnd.github+json"));
        assert_eq!(sent.header("x-github-api-version"), Some("2022-11-28"));
        assert!(
            sent.header("user-agent")
                .unwrap()
                .starts_with("integrations-rs/")
        );
        assert_eq!(sent.header("authorization"), Some("Bearer ghp_token"));
        assert_eq!(sent.json()["labels"], json!(["bug"]));

        let comment = ok(&runtime
            .call(
                "github_create_issue_comment",
                json!({"repository": "octo/repo", "issue_number": 1, "body": "On it."}),
                &call,
            )
            .await);
        assert!(
            comment["html_url"]
                .as_str()
                .unwrap()
                .contains("#issuecomment-")
        );
        assert_eq!(api.comments("octo", "repo")[0]["body"], "On it.");

        api.add_pulls("octo", "repo", 5, "open");
        api.add_pulls("octo", "repo", 1, "closed");
        let mut numbers = Vec::new();
        let mut cursor: Option<String> = None;
        let mut requested = Vec::new();
        loop {
            let page = ok(&runtime
                .call(
                    "github_list_pull_requests",
                    json!({"repository": "octo/repo", "state": "open", "limit": 2, "cursor": cursor}),
                    &call,
                )
                .await);
            let sent = api.requests().last().unwrap().clone();
            requested.push(format!(
                "{}{}?{}",
                api.web_base_url(),
                sent.path,
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(sent.query.iter())
                    .finish()
            ));
            for pr in page["pull_requests"].as_array().unwrap() {
                numbers.push(pr["number"].as_u64().unwrap());
                assert_eq!(pr["base"], "main");
            }
            match page["next_cursor"].as_str() {
                Some(next) => {
                    cursor = Some(next.to_owned());
                }
                None => break,
            }
        }
        assert_eq!(numbers, [2, 3, 4, 5, 6]);
        assert_eq!(requested.len(), 3);
        // The next link was followed verbatim.
        assert!(
            requested[1].ends_with("state=open&per_page=2&page=2"),
            "{requested:?}"
        );

        api.add_file("octo", "repo", "README.md", "# Hello\nworld ✓\n".as_bytes());
        api.add_file("octo", "repo", "src/lib/mod.rs", b"pub fn f() {}\n");
        api.add_file(
            "octo",
            "repo",
            "assets/logo.png",
            &[0x89, 0x50, 0x4e, 0x47, 0xff, 0x00],
        );
        let readme = ok(&runtime
            .call(
                "github_get_file_contents",
                json!({"repository": "octo/repo", "path": "README.md", "ref": "main"}),
                &call,
            )
            .await);
        assert_eq!(readme["content"], "# Hello\nworld ✓\n");
        assert_eq!(readme["encoding"], "utf-8");
        let nested = ok(&runtime
            .call(
                "github_get_file_contents",
                json!({"repository": "octo/repo", "path": "src/lib/mod.rs"}),
                &call,
            )
            .await);
        assert_eq!(nested["content"], "pub fn f() {}\n");
        assert_eq!(
            api.requests().last().unwrap().path,
            format!("{prefix}/repos/octo/repo/contents/src/lib/mod.rs")
        );
        let logo = ok(&runtime
            .call(
                "github_get_file_contents",
                json!({"repository": "octo/repo", "path": "assets/logo.png"}),
                &call,
            )
            .await);
        assert_eq!(logo["encoding"], "base64");
        assert_eq!(logo["content"], "iVBOR/8A");
        let dir = ok(&runtime
            .call(
                "github_get_file_contents",
                json!({"repository": "octo/repo", "path": "src"}),
                &call,
            )
            .await);
        assert_eq!(dir["kind"], "dir");
        assert_eq!(dir["entries"][0]["name"], "lib");
        let before = api.requests().len();
        let escape = runtime
            .call(
                "github_get_file_contents",
                json!({"repository": "octo/repo", "path": "src/../../secrets"}),
                &call,
            )
            .await;
        assert_eq!(code(&escape), "tool.invalid_path_segment");
        assert_eq!(api.requests().len(), before, "nothing was sent");
        let missing = runtime
            .call(
                "github_get_file_contents",
                json!({"repository": "octo/repo", "path": "README.md", "ref": "gone"}),
                &call,
            )
            .await;
        assert_eq!(code(&missing), "tool.upstream_not_found");

        for i in 0..3 {
            api.add_issue("octo", "repo", &format!("Login fails {i}"));
        }
        let found = ok(&runtime
            .call(
                "github_search_issues",
                json!({"query": "repo:octo/repo is:issue login", "limit": 2}),
                &call,
            )
            .await);
        assert_eq!(found["total_count"], 3);
        assert_eq!(found["items"][0]["repository"], "octo/repo");
        assert_eq!(found["items"][0]["is_pull_request"], false);
        let sent = api.requests().last().unwrap().clone();
        assert_eq!(sent.path, format!("{prefix}/search/issues"));
        assert_eq!(sent.query_param("q"), Some("repo:octo/repo is:issue login"));
        // A cursor continues its own search only: another query, or another order,
        // is refused before anything is sent.
        let before = api.requests().len();
        for other in [
            json!({"query": "repo:octo/repo is:issue crash", "cursor": found["next_cursor"]}),
            json!({
                "query": "repo:octo/repo is:issue login",
                "order": "asc",
                "cursor": found["next_cursor"],
            }),
        ] {
            let refused = runtime.call("github_search_issues", other, &call).await;
            assert_eq!(code(&refused), "github.invalid_cursor", "{refused:?}");
        }
        assert_eq!(api.requests().len(), before);
        let rest = ok(&runtime
            .call(
                "github_search_issues",
                json!({"query": "repo:octo/repo is:issue login", "cursor": found["next_cursor"]}),
                &call,
            )
            .await);
        assert_eq!(rest["items"].as_array().unwrap().len(), 1);
        assert!(rest["next_cursor"].is_null());
        // GitHub refuses a search that could return issues and pull requests alike: a
        // query naming neither searches issues; one naming pull requests is sent as it is.
        api.add_pulls("octo", "repo", 1, "open");
        let untyped = ok(&runtime
            .call(
                "github_search_issues",
                json!({"query": "repo:octo/repo login"}),
                &call,
            )
            .await);
        assert_eq!(untyped["total_count"], 3);
        let sent = api.requests().last().unwrap().clone();
        assert_eq!(sent.query_param("q"), Some("repo:octo/repo login is:issue"));
        let pulls = ok(&runtime
            .call(
                "github_search_issues",
                json!({"query": "repo:octo/repo is:pr change"}),
                &call,
            )
            .await);
        let items = pulls["items"].as_array().unwrap();
        assert!(!items.is_empty());
        assert!(
            items.iter().all(|i| i["is_pull_request"] == true),
            "{pulls}"
        );
        let sent = api.requests().last().unwrap().clone();
        assert_eq!(sent.query_param("q"), Some("repo:octo/repo is:pr change"));
        api.provider().assert_no_unexpected();
    }
}

/// The repository root is listed (`/`, `""` or no path: `GET .../contents`, an array of
/// entries, as GitHub answers), a trailing slash names the directory, and a symlink or a
/// submodule (no `content`) is answered with what it points at, not as a large file.
#[tokio::test]
async fn github_file_contents_list_the_root_and_answer_links_and_submodules() {
    for enterprise in [false, true] {
        let (api, env, call) = github(enterprise).await;
        let runtime = env.runtime();
        let prefix = if enterprise { "/api/v3" } else { "" };
        api.add_file("octo", "repo", "README.md", b"# Hello\n");
        api.add_file("octo", "repo", "src/lib.rs", b"pub fn f() {}\n");
        api.add_symlink("octo", "repo", "docs", "/srv/shared/docs");
        api.add_symlink("octo", "repo", "src/readme", "../README.md");
        api.add_submodule(
            "octo",
            "repo",
            "vendor",
            "https://github.com/octo/vendor.git",
        );

        for path in [json!("/"), json!(""), Value::Null] {
            let mut args = json!({"repository": "octo/repo"});
            if !path.is_null() {
                args["path"] = path.clone();
            }
            let root = ok(&runtime.call("github_get_file_contents", args, &call).await);
            assert_eq!(
                api.requests().last().unwrap().path,
                format!("{prefix}/repos/octo/repo/contents"),
                "{path}"
            );
            assert_eq!(root["kind"], "dir");
            assert_eq!(root["path"], "");
            let entries: Vec<(String, String)> = root["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap().to_owned(),
                        e["type"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            let entry = |name: &str, kind: &str| (name.to_owned(), kind.to_owned());
            assert_eq!(
                entries,
                [
                    entry("README.md", "file"),
                    entry("docs", "symlink"),
                    entry("src", "dir"),
                    // GitHub lists a submodule as a file.
                    entry("vendor", "file"),
                ]
            );
        }

        let src = ok(&runtime
            .call(
                "github_get_file_contents",
                json!({"repository": "octo/repo", "path": "src/"}),
                &call,
            )
            .await);
        assert_eq!(
            api.requests().last().unwrap().path,
            format!("{prefix}/repos/octo/repo/contents/src")
        );
        assert_eq!(
            (src["kind"].as_str(), src["path"].as_str()),
            (Some("dir"), Some("src"))
        );
        assert_eq!(src["entries"].as_array().unwrap().len(), 2);

        let submodule = ok(&runtime
            .call(
                "github_get_file_contents",
                json!({"repository": "octo/repo", "path": "vendor"}),
                &call,
            )
            .await);
        assert_eq!(submodule["kind"], "submodule");
        assert_eq!(submodule["target"], "https://github.com/octo/vendor.git");
        assert!(submodule["content"].is_null());
        let symlink = ok(&runtime
            .call(
                "github_get_file_contents",
                json!({"repository": "octo/repo", "path": "docs"}),
                &call,
            )
            .await);
        assert_eq!(
            (symlink["kind"].as_str(), symlink["target"].as_str()),
            (Some("symlink"), Some("/srv/shared/docs"))
        );
        // A symlink to a file of the repository is read as that file.
        let linked = ok(&runtime
            .call(
                "github_get_file_contents",
                json!({"repository": "octo/repo", "path": "src/readme"}),
                &call,
            )
            .await);
        assert_eq!(
            (linked["kind"].as_str(), linked["content"].as_str()),
            (Some("file"), Some("# Hello\n"))
        );
        // A file too large for the endpoint is still reported as one.
        api.add_file("octo", "repo", "big.bin", &vec![b'x'; 1024 * 1024 + 1]);
        let big = runtime
            .call(
                "github_get_file_contents",
                json!({"repository": "octo/repo", "path": "big.bin"}),
                &call,
            )
            .await;
        assert_eq!(code(&big), "github.file_too_large");
        // Empty segments inside a path are still refused, and nothing is sent.
        let before = api.requests().len();
        let doubled = runtime
            .call(
                "github_get_file_contents",
                json!({"repository": "octo/repo", "path": "src//lib.rs"}),
                &call,
            )
            .await;
        assert_eq!(code(&doubled), "tool.invalid_path_segment");
        assert_eq!(api.requests().len(), before);
    }
}

#[tokio::test]
async fn github_cursors_never_leave_the_target() {
    let (api, env, call) = github(true).await;
    let base = api.api_base_url();
    let web = api.web_base_url();
    let host = web.trim_start_matches("http://");
    for cursor in [
        "https://evil.example/api/v3/repos/octo/repo/pulls?page=2".to_owned(),
        format!("http://user@{host}/api/v3/repos/octo/repo/pulls?page=2"),
        format!("{base}/../../login?page=2"),
        format!("{base}/%2e%2e/%2E%2E/login"),
        format!("{web}/octo/repo/pulls?page=2"),
        "not a url".to_owned(),
    ] {
        let result = env
            .runtime()
            .call(
                "github_list_pull_requests",
                json!({"repository": "octo/repo", "cursor": cursor}),
                &call,
            )
            .await;
        assert_eq!(code(&result), "github.invalid_cursor", "{cursor}");
    }
    assert!(api.requests().is_empty());
}

#[tokio::test]
async fn github_cursors_are_sealed_and_an_altered_or_forged_one_sends_nothing() {
    let (api, env, call) = github(true).await;
    let runtime = env.runtime();
    api.add_pulls("octo", "repo", 3, "open");
    let first = ok(&runtime
        .call(
            "github_list_pull_requests",
            json!({"repository": "octo/repo", "limit": 1}),
            &call,
        )
        .await);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    // Opaque: the link it carries cannot be read, so it cannot be edited either.
    assert!(!cursor.contains("page="), "{cursor}");
    assert!(!cursor.contains("/repos/"), "{cursor}");
    let sent = api.requests().len();

    // Every one character change of the cursor is refused before anything is sent.
    let mut altered = Vec::new();
    for (i, c) in cursor.char_indices().step_by(7) {
        let replacement = if c == 'A' { 'B' } else { 'A' };
        let mut forged = cursor.clone();
        forged.replace_range(i..i + c.len_utf8(), &replacement.to_string());
        altered.push(forged);
    }
    let link = format!(
        "{}/repos/octo/repo/pulls?per_page=100&page=1",
        api.api_base_url()
    );
    // A link on the API itself, which the old cursors accepted: the agent chose the page
    // size and the repository.
    altered.push(link.clone());
    altered.push(format!("c2.{}", &cursor[3..]));
    altered.push(cursor[..cursor.len() - 2].to_owned());
    for forged in &altered {
        let result = runtime
            .call(
                "github_list_pull_requests",
                json!({"repository": "octo/repo", "cursor": forged}),
                &call,
            )
            .await;
        assert_eq!(code(&result), "github.invalid_cursor", "{forged}");
    }
    // A cursor of one tool does not open in another.
    let search = runtime
        .call(
            "github_search_issues",
            json!({"query": "is:pr", "cursor": cursor}),
            &call,
        )
        .await;
    assert_eq!(code(&search), "github.invalid_cursor");
    // Nor for another repository: GitHub's next links name the repository by its id, so
    // the page would come back as the other one's.
    let elsewhere = runtime
        .call(
            "github_list_pull_requests",
            json!({"repository": "octo/other", "cursor": cursor}),
            &call,
        )
        .await;
    assert_eq!(code(&elsewhere), "github.invalid_cursor");
    assert!(
        elsewhere
            .failure
            .as_ref()
            .unwrap()
            .message
            .contains("another repository")
    );
    assert_eq!(
        api.requests().len(),
        sent,
        "no refused cursor made a request"
    );

    // The genuine cursor still reads the next page.
    let second = ok(&runtime
        .call(
            "github_list_pull_requests",
            json!({"repository": "octo/repo", "cursor": cursor}),
            &call,
        )
        .await);
    assert_eq!(second["pull_requests"].as_array().unwrap().len(), 1);
    assert_eq!(api.requests().len(), sent + 1);
    assert_eq!(
        api.requests().last().unwrap().query_param("page"),
        Some("2")
    );
}

/// A renamed or transferred repository's old name is answered with a redirect (301 for
/// reads, 307 for writes), not followed: the agent is told to use the new name, and a
/// write sent to the old name makes nothing.
#[tokio::test]
async fn a_moved_github_repository_is_named_as_moved() {
    let (api, env, call) = github(false).await;
    let runtime = env.runtime();
    api.move_repo(("octo", "repo"), ("octo", "renamed"));
    let read = runtime
        .call(
            "github_list_pull_requests",
            json!({"repository": "octo/repo"}),
            &call,
        )
        .await;
    assert_eq!(code(&read), "github.repository_moved", "{read:?}");
    assert!(read.failure.as_ref().unwrap().message.contains("301"));
    let write = runtime
        .call(
            "github_create_issue",
            json!({"repository": "octo/repo", "title": "Lost?"}),
            &call,
        )
        .await;
    assert_eq!(code(&write), "github.repository_moved", "{write:?}");
    assert_eq!(write.failure.unwrap().kind, ErrorKind::InvalidInput);
    assert!(api.titles("octo", "renamed").is_empty());
    // The new name works.
    ok(&runtime
        .call(
            "github_create_issue",
            json!({"repository": "octo/renamed", "title": "Found"}),
            &call,
        )
        .await);
    assert_eq!(api.titles("octo", "renamed"), ["Found"]);
    // Any other redirect keeps its status error: it moved nothing.
    for tool in ["github_search_issues", "github_list_pull_requests"] {
        api.fail_next(GitHubFailure::Found {
            location: "https://sso.example.com/login".to_owned(),
        });
        let arguments = if tool == "github_search_issues" {
            json!({"query": "crash"})
        } else {
            json!({"repository": "octo/renamed"})
        };
        let redirected = runtime.call(tool, arguments, &call).await;
        assert_eq!(
            code(&redirected),
            "tool.upstream_error",
            "{tool}: {redirected:?}"
        );
    }
}

#[tokio::test]
async fn github_rate_limits_become_one_retryable_error() {
    let (api, env, call) = github(false).await;
    let runtime = env.runtime();
    let now = env.test.clock.now().unix_seconds();
    api.fail_next(GitHubFailure::PrimaryRateLimit {
        reset_epoch_seconds: now + 120,
    });
    let primary = runtime
        .call("github_search_issues", json!({"query": "x"}), &call)
        .await;
    assert_eq!(code(&primary), "tool.rate_limited");
    assert_eq!(
        primary.failure.unwrap().retry_after,
        Some(Duration::from_secs(120))
    );
    api.fail_next(GitHubFailure::SecondaryRateLimit {
        retry_after_seconds: 61,
    });
    let secondary = runtime
        .call(
            "github_create_issue",
            json!({"repository": "octo/repo", "title": "x"}),
            &call,
        )
        .await;
    assert_eq!(code(&secondary), "tool.rate_limited");
    assert_eq!(
        secondary.failure.unwrap().retry_after,
        Some(Duration::from_secs(61))
    );
}

#[tokio::test]
async fn github_refuses_a_bad_token_without_refreshing() {
    let (api, env, call) = github(true).await;
    api.tokens().revoke_all();
    let result = env
        .runtime()
        .call("github_search_issues", json!({"query": "x"}), &call)
        .await;
    assert_eq!(code(&result), "tool.unauthorized");
    assert_eq!(env.tokens.refreshes(), 0);
    assert_debug_secret_free(&result, "ghp_token");
}

/// A refused credential is `tool.unauthorized` whichever provider refused it and however
/// (GitHub's HTTP 401, Linear's `AUTHENTICATION_ERROR` with HTTP 400, Slack's
/// `invalid_auth` with HTTP 200); the provider's own code is named in the message. An
/// API key cannot be refreshed, so none is tried.
#[tokio::test]
async fn a_refused_credential_has_one_code_whichever_provider_refused_it() {
    let (github_api, github_env, github_call) = github(false).await;
    github_api.tokens().revoke_all();
    let github = github_env
        .runtime()
        .call("github_search_issues", json!({"query": "x"}), &github_call)
        .await;

    let (linear_api, linear_env, linear_call, _) = linear().await;
    linear_api.tokens().revoke("lin_api_key123");
    let linear = linear_env
        .runtime()
        .call("linear_list_teams", json!({}), &linear_call)
        .await;

    let (slack_api, slack_env, slack_call) = slack().await;
    slack_api.tokens().revoke("xoxb-1");
    let slack = slack_env
        .runtime()
        .call("slack_list_channels", json!({}), &slack_call)
        .await;

    for (result, named) in [
        (&github, "HTTP 401"),
        (&linear, "AUTHENTICATION_ERROR"),
        (&slack, "invalid_auth"),
    ] {
        assert_eq!(code(result), "tool.unauthorized", "{result:#?}");
        let failure = result.failure.as_ref().unwrap();
        assert_eq!(failure.kind, ErrorKind::PermissionDenied);
        assert!(failure.message.contains(named), "{}", failure.message);
    }
    assert_eq!(
        (
            github_env.tokens.refreshes(),
            linear_env.tokens.refreshes(),
            slack_env.tokens.refreshes()
        ),
        (0, 0, 0)
    );
    assert_debug_secret_free(&linear, "lin_api_key123");
    assert_debug_secret_free(&slack, "xoxb-1");
}

#[tokio::test]
async fn an_enterprise_server_refuses_api_versions_it_does_not_know() {
    let api = GitHubApi::enterprise_server().await;
    api.accept_token("ghp_token");
    let env = Env::new(
        "github::github-enterprise-server",
        json!({"web_base_url": api.web_base_url(), "api_version": "2026-03-10"}),
    )
    .await;
    let call = env.api_key("github", "token", "ghp_token", json!({})).await;
    let result = env
        .runtime()
        .call("github_search_issues", json!({"query": "x"}), &call)
        .await;
    assert_eq!(code(&result), "tool.upstream_bad_request");
}

// ---------------------------------------------------------------- Slack

async fn slack() -> (SlackApi, Env, CallContext) {
    let api = SlackApi::start().await;
    api.accept_token("xoxb-1");
    let env = Env::new(
        "slack::slack-default",
        json!({"api_base_url": api.api_base_url()}),
    )
    .await;
    let call = env.api_key("slack", "bot_token", "xoxb-1", json!({})).await;
    (api, env, call)
}

#[tokio::test]
async fn slack_messages_threads_and_reactions() {
    let (api, env, call) = slack().await;
    let general = api.add_channel("general", true, false);
    let outside = api.add_channel("private-ish", false, false);
    let runtime = env.runtime();

    let sent = ok(&runtime
        .call(
            "slack_send_message",
            json!({"channel": general, "text": "Deployed *v2*"}),
            &call,
        )
        .await);
    assert_eq!(sent["channel"], general.as_str());
    let request = api.requests().last().unwrap().clone();
    assert_eq!(request.path, "/api/chat.postMessage");
    assert_eq!(
        request.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(request.header("authorization"), Some("Bearer xoxb-1"));
    assert_eq!(
        request.json(),
        json!({"channel": general, "text": "Deployed *v2*"})
    );

    let parent = api.add_message(&general, "Is prod down?");
    let reply = ok(&runtime
        .call(
            "slack_reply_in_thread",
            json!({"channel": general, "thread_ts": parent, "text": "Looking."}),
            &call,
        )
        .await);
    assert_eq!(reply["thread_ts"], parent.as_str());
    let messages = api.messages();
    assert_eq!(messages.last().unwrap()["thread_ts"], parent.as_str());

    let lost = runtime
        .call(
            "slack_reply_in_thread",
            json!({"channel": general, "thread_ts": "1.000001", "text": "x"}),
            &call,
        )
        .await;
    assert_eq!(code(&lost), "tool.upstream_not_found");
    let failure = lost.failure.unwrap();
    assert_eq!(failure.kind, ErrorKind::NotFound);
    assert!(
        failure.message.contains("thread_not_found"),
        "{}",
        failure.message
    );

    let refused = runtime
        .call(
            "slack_send_message",
            json!({"channel": outside, "text": "hi"}),
            &call,
        )
        .await;
    assert_eq!(code(&refused), "slack.not_in_channel");
    assert!(
        refused.to_mcp()["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("not_in_channel")
    );

    let reaction = ok(&runtime
        .call(
            "slack_add_reaction",
            json!({"channel": general, "timestamp": parent, "name": "eyes"}),
            &call,
        )
        .await);
    assert_eq!(reaction["name"], "eyes");
    let request = api.requests().last().unwrap().clone();
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(request.form()["name"], "eyes");
    // The tool is idempotent: Slack answers the repeat `already_reacted`, and the repeat
    // succeeds with the same result.
    let twice = ok(&runtime
        .call(
            "slack_add_reaction",
            json!({"channel": general, "timestamp": parent, "name": "eyes"}),
            &call,
        )
        .await);
    assert_eq!(twice, reaction);
    assert_eq!(
        api.requests().last().unwrap().form()["name"],
        "eyes",
        "the repeat reached Slack"
    );
    let reactions = api.messages();
    let message = reactions
        .iter()
        .find(|m| m["ts"] == parent.as_str())
        .unwrap();
    assert_eq!(message["reactions"], json!(["eyes"]));

    // A skin tone is part of the name Slack takes.
    let toned = ok(&runtime
        .call(
            "slack_add_reaction",
            json!({"channel": general, "timestamp": parent, "name": "thumbsup::skin-tone-2"}),
            &call,
        )
        .await);
    assert_eq!(toned["name"], "thumbsup::skin-tone-2");
    let bad_tone = runtime
        .call(
            "slack_add_reaction",
            json!({"channel": general, "timestamp": parent, "name": "thumbsup::skin-tone-9"}),
            &call,
        )
        .await;
    assert_eq!(code(&bad_tone), "tool.invalid_arguments");
}

/// The default bot scopes of a Slack target let every Slack tool run.
#[tokio::test]
async fn slack_tool_methods_are_covered_by_the_default_scopes() {
    let (api, env, call) = slack().await;
    let general = api.add_channel("general", true, false);
    let parent = api.add_message(&general, "Is prod down?");
    let runtime = env.runtime();
    let calls = [
        (
            "slack_send_message",
            json!({"channel": general, "text": "Hi"}),
        ),
        (
            "slack_reply_in_thread",
            json!({"channel": general, "thread_ts": parent, "text": "Looking."}),
        ),
        ("slack_list_channels", json!({})),
        (
            "slack_add_reaction",
            json!({"channel": general, "timestamp": parent, "name": "eyes"}),
        ),
    ];
    let mut names: Vec<&str> = calls.iter().map(|(name, _)| *name).collect();
    for (name, args) in calls {
        ok(&runtime.call(name, args, &call).await);
    }
    // Every Slack tool was called.
    let registry = integrations_definitions::registry();
    let entry = registry
        .get(&"slack::slack-default".parse().unwrap())
        .unwrap();
    let mut shipped: Vec<&str> = entry.tools().iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    shipped.sort_unstable();
    assert_eq!(names, shipped);
    crate::slack_scopes::assert_default_scopes_cover(&api.requests());
}

#[tokio::test]
async fn slack_channels_are_listed_with_cursors_until_the_empty_one() {
    let (api, env, call) = slack().await;
    for i in 0..5 {
        api.add_channel(&format!("team-{i}"), true, false);
    }
    api.add_channel("old", true, true);
    let runtime = env.runtime();
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = ok(&runtime
            .call(
                "slack_list_channels",
                json!({"limit": 2, "cursor": cursor, "exclude_archived": true, "types": ["public_channel"]}),
                &call,
            )
            .await);
        pages += 1;
        let sent = api.requests().last().unwrap().clone();
        assert_eq!(sent.method, "GET");
        assert_eq!(sent.query_param("limit"), Some("2"));
        assert_eq!(sent.query_param("cursor"), cursor.as_deref());
        assert_eq!(sent.query_param("types"), Some("public_channel"));
        for channel in page["channels"].as_array().unwrap() {
            names.push(channel["name"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["team-0", "team-1", "team-2", "team-3", "team-4"]);

    // A direct message has no name: the user it is with says who it is.
    let dm = api.add_direct_message("U0ALICE");
    let ims = ok(&runtime
        .call("slack_list_channels", json!({"types": ["im"]}), &call)
        .await);
    let listed = &ims["channels"][0];
    assert_eq!(listed["id"], dm.as_str());
    assert_eq!(listed["user"], "U0ALICE");
    assert_eq!(listed["is_im"], true);
    assert_eq!(listed["is_mpim"], false);
    assert_eq!(ims["channels"].as_array().unwrap().len(), 1);
    let bad = runtime
        .call(
            "slack_list_channels",
            json!({"cursor": "not-a-cursor"}),
            &call,
        )
        .await;
    assert_eq!(code(&bad), "tool.upstream_rejected");
    assert!(
        bad.failure.unwrap().message.contains("invalid_cursor"),
        "Slack's error is named"
    );
}

#[tokio::test]
async fn slack_rate_limits_and_expired_tokens() {
    let api = SlackApi::start().await;
    api.accept_token("xoxe.xoxb-0");
    let general = api.add_channel("general", true, false);
    let refresh = RefreshEndpoint::mount(
        api.provider(),
        "/api/oauth.v2.access",
        api.tokens().clone(),
        Scheme::Bearer,
        "xoxe-1-refresh",
        "xoxe.xoxb",
    )
    .await;
    let env = Env::with_refresh(
        "slack::slack-default",
        json!({"api_base_url": api.api_base_url()}),
        Some(refresh.url()),
    )
    .await;
    let call = env
        .oauth("slack-oauth", "xoxe.xoxb-0", "xoxe-1-refresh")
        .await;
    let runtime = env.runtime();

    api.fail_next(SlackFailure::RateLimited {
        retry_after_seconds: 3,
    });
    let limited = runtime
        .call(
            "slack_send_message",
            json!({"channel": general, "text": "x"}),
            &call,
        )
        .await;
    assert_eq!(code(&limited), "tool.rate_limited");
    assert_eq!(
        limited.failure.unwrap().retry_after,
        Some(Duration::from_secs(3))
    );

    // A rotated token expires: Slack says invalid_auth with HTTP 200; one refresh, one retry.
    api.tokens().revoke("xoxe.xoxb-0");
    ok(&runtime
        .call(
            "slack_send_message",
            json!({"channel": general, "text": "again"}),
            &call,
        )
        .await);
    assert_eq!(env.tokens.refreshes(), 1);
    assert_eq!(
        api.requests().last().unwrap().header("authorization"),
        Some("Bearer xoxe.xoxb-access-1")
    );
}

// ---------------------------------------------------------------- OpenAI

#[tokio::test]
async fn openai_models_are_listed_with_the_organization_headers() {
    let api = OpenAiApi::start().await;
    api.accept_key("sk-test-123456");
    api.require_organization("org-1", "proj_1");
    let env = Env::new(
        "openai::openai-default",
        json!({"api_base_url": api.api_base_url()}),
    )
    .await;
    let call = env
        .api_key(
            "openai",
            "api_key",
            "sk-test-123456",
            json!({"organization": "org-1", "project": "proj_1"}),
        )
        .await;
    let runtime = env.runtime();
    let models = ok(&runtime.call("openai_list_models", json!({}), &call).await);
    assert_eq!(models["models"][0]["id"], "gpt-5");
    assert_eq!(models["models"].as_array().unwrap().len(), 2);
    let sent = api.requests().last().unwrap().clone();
    assert_eq!(sent.path, "/v1/models");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-test-123456"));
    assert_eq!(sent.header("openai-organization"), Some("org-1"));
    assert_eq!(sent.header("openai-project"), Some("proj_1"));

    api.fail_next(OpenAiFailure::RateLimited {
        retry_after_seconds: 20,
    });
    let limited = runtime.call("openai_list_models", json!({}), &call).await;
    assert_eq!(
        limited.failure.unwrap().retry_after,
        Some(Duration::from_secs(20))
    );

    // OpenAI's 401 body quotes part of the key; none of it is passed on.
    let wrong = env
        .api_key("openai-wrong", "api_key", "sk-wrong-999999", json!({}))
        .await;
    let refused = runtime.call("openai_list_models", json!({}), &wrong).await;
    assert_eq!(code(&refused), "tool.unauthorized");
    let text = refused.to_mcp().to_string();
    for fragment in ["sk-wrong-999999", "9999", "Incorrect API key"] {
        assert!(!text.contains(fragment), "{fragment} in {text}");
    }
    assert_debug_secret_free(&refused, "sk-wrong-999999");
}

/// A 429 `insufficient_quota` is billing, not a rate limit: not retryable, its own code,
/// and nothing of OpenAI's message passed on.
#[tokio::test]
async fn openai_insufficient_quota_is_not_a_retryable_rate_limit() {
    let api = OpenAiApi::start().await;
    api.accept_key("sk-test-123456");
    let env = Env::new(
        "openai::openai-default",
        json!({"api_base_url": api.api_base_url()}),
    )
    .await;
    let call = env
        .api_key("openai", "api_key", "sk-test-123456", json!({}))
        .await;
    let runtime = env.runtime();
    api.fail_next(OpenAiFailure::InsufficientQuota);
    let refused = runtime.call("openai_list_models", json!({}), &call).await;
    assert_eq!(code(&refused), "openai.insufficient_quota");
    let failure = refused.failure.clone().unwrap();
    assert_eq!(failure.kind, ErrorKind::Provider);
    assert_eq!(failure.retry_after, None);
    let text = refused.to_mcp().to_string();
    assert!(!text.contains("exceeded your current quota"), "{text}");
    // A real rate limit is still one.
    api.fail_next(OpenAiFailure::RateLimited {
        retry_after_seconds: 5,
    });
    let limited = runtime.call("openai_list_models", json!({}), &call).await;
    assert_eq!(code(&limited), "tool.rate_limited");
    assert_eq!(
        limited.failure.unwrap().retry_after,
        Some(Duration::from_secs(5))
    );
    // Without `retry-after`, the wait is the reset of the limit that is spent (tokens,
    // as OpenAI writes it), not the requests' and not a default.
    api.fail_next(OpenAiFailure::TokensLimited {
        reset: "6m0s".to_owned(),
    });
    let limited = runtime.call("openai_list_models", json!({}), &call).await;
    assert_eq!(code(&limited), "tool.rate_limited");
    assert_eq!(
        limited.failure.unwrap().retry_after,
        Some(Duration::from_secs(360))
    );
}

// ---------------------------------------------------------------- Catalog and exports

#[test]
fn every_shipped_tool_exports_to_every_format() {
    let registry = integrations_definitions::registry();
    let mut names = Vec::new();
    for entry in registry.iter() {
        for tool in entry.tools() {
            if entry.key().variant() == "github-cloud" || entry.key().family() != "github" {
                names.push(tool.name.clone());
            }
            let family = entry.key().family();
            let what = format!("{} {}", entry.key(), tool.name);
            assert!(tool.capability.is_some(), "{what} names its capability");
            assert!(tool.title.is_some(), "{what} has a title");
            let expected = if tool.annotations.read_only {
                ToolPolicy::Auto
            } else {
                ToolPolicy::Ask
            };
            assert_eq!(tool.default_policy(family), expected, "{what}");
            let problems = check_mcp_tool(&mcp::tool(tool));
            assert!(problems.is_empty(), "{what} mcp: {problems:?}");
            for shape in [OpenAiShape::Responses, OpenAiShape::ChatCompletions] {
                let exported = openai::tool(tool, shape).unwrap();
                let problems = check_openai_strict_tool(&exported);
                assert!(
                    problems.is_empty(),
                    "{what} openai: {problems:?}\n{exported:#}"
                );
            }
            let exported = anthropic::tool(tool).unwrap();
            let problems = check_anthropic_tool(&exported);
            assert!(problems.is_empty(), "{what} anthropic: {problems:?}");
            let exported = gemini::function_declaration(tool).unwrap();
            let problems = check_gemini_declaration(&exported);
            assert!(
                problems.is_empty(),
                "{what} gemini: {problems:?}\n{exported:#}"
            );
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "github_create_issue",
            "github_create_issue_comment",
            "github_get_file_contents",
            "github_list_pull_requests",
            "github_search_issues",
            "linear_create_comment",
            "linear_create_issue",
            "linear_list_issues",
            "linear_list_teams",
            "linear_update_issue",
            "openai_list_models",
            "slack_add_reaction",
            "slack_list_channels",
            "slack_reply_in_thread",
            "slack_send_message",
        ]
    );
    // Both GitHub variants offer the same tools.
    let owners: Vec<&str> = registry
        .tool_owners("github_create_issue")
        .map(DefinitionKey::as_str)
        .collect();
    assert_eq!(
        owners,
        ["github::github-cloud", "github::github-enterprise-server"]
    );
}
