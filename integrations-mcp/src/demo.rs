//! An offline demo tenant (feature `demo`): Linear, GitHub, Slack and OpenAI connections
//! whose APIs are the testkit's mock servers on loopback, an in-memory host, and an
//! approval page. `integrations mcp serve --demo` serves it; the tests use it too.
//!
//! The approval page signs its person in with a [`PageKey`] link shown only to the
//! operator; bind it to loopback only. A real host puts its own approval page, behind its
//! own authentication, in front of [`Approvals`](crate::Approvals).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use integrations_core::auth::TokenManager;
use integrations_core::host::{Clock as _, HttpClient, ReqwestHttpClient, from_fn};
use integrations_core::model::{Capability, Publication, PublicationScope};
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::tools::{Policies, PolicySet, Runtime, Session, ToolPolicy};
use integrations_core::{
    ConnectionId, ConnectionMethodId, Error, PublicationId, TargetId, TenantId, Timestamp, UserId,
    WorkspaceId,
};
use integrations_testkit::TestHost;
use integrations_testkit::mock::api::{GitHubApi, LinearApi, OpenAiApi, SlackApi};
use serde_json::{Value, json};

use crate::{McpOptions, McpService, McpSession, PageKey};

/// The demo's Linear API key (a secret: it must never reach an MCP client or a log).
pub const LINEAR_KEY: &str = "lin_api_demo_7f3c9a1e5b2d4f6a8c0e";
/// The demo's GitHub token.
pub const GITHUB_TOKEN: &str = "ghp_demo_4b8d2f6a0c9e1b3d5f7a9c2e4b6d8f0a1c3e";
/// The demo's Slack bot token.
pub const SLACK_TOKEN: &str = "xoxb-demo-1111-2222-Zq8Wm3Kp9Rt5Yv2Xn7Lb";
/// The demo's OpenAI API key.
pub const OPENAI_KEY: &str = "sk-demo-Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz";

/// Every secret of the demo, for tests that prove none leaks.
pub const SECRETS: &[&str] = &[LINEAR_KEY, GITHUB_TOKEN, SLACK_TOKEN, OPENAI_KEY];

/// The tool the demo workspace blocks.
pub const BLOCKED_TOOL: &str = "slack_add_reaction";

/// Who approves on the demo approval page.
pub const REVIEWER: &str = "demo-reviewer";

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

/// The demo tenant: mock provider APIs, an in-memory host, a runtime and an MCP service.
#[non_exhaustive]
pub struct Demo {
    /// The in-memory host.
    pub test: TestHost,
    /// The tool runtime.
    pub runtime: Arc<Runtime>,
    /// The MCP service.
    pub service: McpService,
    /// The session MCP clients act for.
    pub session: McpSession,
    /// The mock Linear API.
    pub linear: LinearApi,
    /// The mock GitHub API.
    pub github: GitHubApi,
    /// The mock Slack API.
    pub slack: SlackApi,
    /// The mock OpenAI API.
    pub openai: OpenAiApi,
    /// The Linear team `ENG`'s id.
    pub team: String,
    /// The Slack channel `#general`'s id.
    pub channel: String,
    latency: Arc<AtomicU64>,
    page_key: PageKey,
}

impl fmt::Debug for Demo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Demo")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

fn tenant() -> Result<TenantId, Error> {
    TenantId::new("demo")
}

impl Demo {
    /// Starts the mock APIs on loopback and sets up the tenant `demo`, workspace `main`,
    /// user `demo-user`: a connection to each provider, a publication granting every tool
    /// capability, writes under `ask`, [`BLOCKED_TOOL`] blocked, and results trimmed at
    /// 2 KiB so large lists come in pages.
    ///
    /// # Errors
    ///
    /// When the in-memory setup fails (it does not, barring bugs), or no HTTP client can
    /// be built.
    pub async fn start(options: McpOptions) -> Result<Self, Error> {
        let reqwest = ReqwestHttpClient::new()?;
        let latency = Arc::new(AtomicU64::new(0));
        let delay = Arc::clone(&latency);
        let reqwest = Arc::new(reqwest);
        let http = from_fn(move |request| {
            let reqwest = Arc::clone(&reqwest);
            let wait = Duration::from_millis(delay.load(Ordering::Relaxed));
            async move {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                reqwest.send(request).await
            }
        });
        let test = TestHost::with_http(Arc::new(http));
        test.clock.set(Timestamp::from_unix_seconds(1_790_000_000));
        let registry = Arc::new(integrations_definitions::registry());
        let host = test.host().clone();
        let writes = WriteService::new(Arc::clone(&registry), host.clone());
        let tenant = tenant()?;
        let workspace = WorkspaceId::new("main")?;

        let linear = LinearApi::start().await;
        linear.accept_api_key(LINEAR_KEY);
        let team = linear.add_team("ENG", "Engineering");
        linear.add_issues(&team, 60);
        let github = GitHubApi::cloud().await;
        github.accept_token(GITHUB_TOKEN);
        github.add_repo("octo", "demo");
        github.add_issue("octo", "demo", "The demo works");
        let slack = SlackApi::start().await;
        slack.accept_token(SLACK_TOKEN);
        let channel = slack.add_channel("general", true, false);
        let openai = OpenAiApi::start().await;
        openai.accept_key(OPENAI_KEY);

        let providers = [
            (
                "linear",
                "linear::linear-default",
                json!({"api_base_url": linear.base_url()}),
                "api_key",
                LINEAR_KEY,
            ),
            (
                "github",
                "github::github-cloud",
                json!({"api_base_url": github.api_base_url(), "web_base_url": github.web_base_url()}),
                "token",
                GITHUB_TOKEN,
            ),
            (
                "slack",
                "slack::slack-default",
                json!({"api_base_url": slack.api_base_url()}),
                "bot_token",
                SLACK_TOKEN,
            ),
            (
                "openai",
                "openai::openai-default",
                json!({"api_base_url": openai.api_base_url()}),
                "api_key",
                OPENAI_KEY,
            ),
        ];
        let policies = PolicySet::new().with_tool(BLOCKED_TOOL, ToolPolicy::Block)?;
        let mut session = McpSession::new(
            Session::new(tenant.clone(), workspace.clone()).with_user(UserId::new("demo-user")?),
        );
        for (id, key, config, field, secret) in providers {
            writes
                .put_target(
                    TargetInput::new(tenant.clone(), TargetId::new(id)?, key.parse()?)
                        .with_config(config),
                )
                .await?;
            writes
                .put_connection(
                    ConnectionInput::new(
                        tenant.clone(),
                        ConnectionId::new(id)?,
                        TargetId::new(id)?,
                        ConnectionMethodId::new("api-key")?,
                    )
                    .with_secret(field, secret),
                )
                .await?;
            let mut publication = Publication::new(
                tenant.clone(),
                PublicationId::new(format!("agent-{id}"))?,
                ConnectionId::new(id)?,
                PublicationScope::Workspace {
                    workspace: workspace.clone(),
                },
                test.clock.now(),
            );
            for capability in CAPABILITIES {
                publication
                    .capabilities
                    .insert(Capability::new(*capability)?);
            }
            host.publications().put_publication(&publication).await?;
            session = session.with_publication(ConnectionId::new(id)?, publication.id);
        }
        let tokens = Arc::new(TokenManager::new(Arc::clone(&registry), host.clone()));
        let runtime = Arc::new(
            Runtime::new(registry, host, tokens)
                .with_policies(Arc::new(Policies::new().with_workspace(
                    tenant.clone(),
                    workspace.clone(),
                    policies,
                )))
                .with_result_budget(2048),
        );
        let service = McpService::new(Arc::clone(&runtime)).with_options(options);
        Ok(Self {
            test,
            runtime,
            service,
            session,
            linear,
            github,
            slack,
            openai,
            team,
            channel,
            latency,
            page_key: PageKey::generate()?,
        })
    }

    /// Makes every provider call wait `latency` first (to try progress and cancellation).
    pub fn set_latency(&self, latency: Duration) {
        let millis = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.latency.store(millis, Ordering::Relaxed);
    }

    /// How many requests each mock provider received, and how many were writes
    /// (`slack_messages`: `chat.postMessage`; `linear_writes`: mutations).
    pub fn provider_calls(&self) -> Value {
        let slack = self.slack.requests();
        let linear = self.linear.requests();
        json!({
            "linear": linear.len(),
            "linear_writes": linear
                .iter()
                .filter(|r| String::from_utf8_lossy(&r.body).contains("mutation"))
                .count(),
            "github": self.github.requests().len(),
            "slack": slack.len(),
            "slack_messages": slack
                .iter()
                .filter(|r| r.path.ends_with("chat.postMessage"))
                .count(),
            "openai": self.openai.requests().len(),
        })
    }

    /// The key that signs a browser in to the [approval page](Self::approval_router).
    pub fn page_key(&self) -> &PageKey {
        &self.page_key
    }

    /// The approval page, for loopback only ([`Approvals::loopback_page`](crate::Approvals::loopback_page)
    /// as [`REVIEWER`], signed in with [`page_key`](Self::page_key)), and
    /// `GET /demo/calls` ([`provider_calls`](Self::provider_calls)).
    pub fn approval_router(self: &Arc<Self>) -> Router {
        let page = UserId::new(REVIEWER).map_or_else(
            |_| Router::new(),
            |reviewer| {
                self.service.approvals().loopback_page(
                    self.session.session.tenant.clone(),
                    reviewer,
                    self.page_key.clone(),
                )
            },
        );
        page.merge(
            Router::new()
                .route("/demo/calls", get(calls))
                .with_state(Arc::clone(self)),
        )
    }
}

async fn calls(State(demo): State<Arc<Demo>>) -> Response {
    axum::Json(demo.provider_calls()).into_response()
}
