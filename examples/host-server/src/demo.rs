//! The offline demo (`host-server --demo`, or `HOST_SERVER_DEMO=1`): every provider is
//! one of the testkit's mock servers on loopback, so a new user completes an OAuth
//! connection, a signed webhook and a tool call with `curl` and no accounts.
//!
//! * **Linear**: the OAuth mock (authorization code with PKCE, the `viewer` identity
//!   query) with the GraphQL API mock served on the same base URL, holding one team.
//! * **GitHub**: the GitHub App mock (installation and user authorization).
//! * **Slack**: the OAuth v2 mock.
//!
//! Each mock also answers its consent page (`GET /oauth/authorize`, Slack's
//! `/oauth/v2/authorize`, GitHub's `/login/oauth/authorize` and App installation page)
//! as a user who approves: `302` back to the application's callback with the code and
//! state the provider would send. `curl -L` with a cookie jar follows the whole flow.
//!
//! The webhook secrets are the constants below, printed at start-up: sign a delivery
//! with `integrations webhook sign` and post it. Nothing here is for a real deployment.

use std::sync::{Arc, Weak};

use integrations_testkit::mock::api::LinearApi;
use integrations_testkit::mock::oauth::{GitHubMock, LinearMock, SlackMock};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

/// The demo Linear target's webhook signing secret.
pub const LINEAR_WEBHOOK_SECRET: &str = "demo-linear-webhook-secret";
/// The demo GitHub target's webhook secret.
pub const GITHUB_WEBHOOK_SECRET: &str = "demo-github-webhook-secret";
/// The demo Slack target's signing secret.
pub const SLACK_SIGNING_SECRET: &str = "demo-slack-signing-secret";

/// The mock providers of the demo, alive as long as this value.
pub struct Demo {
    linear: Arc<LinearMock>,
    linear_api: LinearApi,
    github: Arc<GitHubMock>,
    slack: Arc<SlackMock>,
    team: String,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("linear", &self.linear.uri())
            .field("github", &self.github.uri())
            .field("slack", &self.slack.uri())
            .finish_non_exhaustive()
    }
}

/// A target the demo stores: its id, definition key, config and secrets. Its `Debug`
/// leaves the secrets' values out.
#[derive(Clone)]
#[non_exhaustive]
pub struct DemoTarget {
    /// The target id (`linear`, `github`, `slack`).
    pub id: &'static str,
    /// The definition key.
    pub key: &'static str,
    /// The config, pointing at the mock.
    pub config: Value,
    /// The secrets the mock expects, and the demo webhook secret.
    pub secrets: Value,
}

impl std::fmt::Debug for DemoTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets: Vec<&String> = self
            .secrets
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        f.debug_struct("DemoTarget")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("config", &self.config)
            .field("secrets", &secrets)
            .finish()
    }
}

/// A consent page that approves: the mock checks the authorization URL as the provider
/// would and the browser is sent back to `callback` with the answer.
type Consent<M> = fn(&M, &str) -> Result<String, String>;

async fn mount_consent<M: Send + Sync + 'static>(
    mock: &Arc<M>,
    server: &wiremock::MockServer,
    route: &str,
    callback: &str,
    consent: Consent<M>,
) {
    // Weak: the mock owns its server, which owns this responder.
    let weak: Weak<M> = Arc::downgrade(mock);
    let callback = callback.to_owned();
    let origin = server.uri();
    Mock::given(method("GET"))
        .and(path(route))
        .respond_with(move |request: &Request| {
            let Some(mock) = weak.upgrade() else {
                return ResponseTemplate::new(503);
            };
            // The URL as the browser asked for it (wiremock's names no real host).
            let mut asked = format!("{origin}{}", request.url.path());
            if let Some(query) = request.url.query() {
                asked = format!("{asked}?{query}");
            }
            match consent(&mock, &asked) {
                Ok(query) => ResponseTemplate::new(302)
                    .insert_header("location", format!("{callback}?{query}").as_str()),
                Err(why) => ResponseTemplate::new(400).set_body_string(format!(
                    "the mock provider refuses this authorization: {why}"
                )),
            }
        })
        .with_priority(1)
        .named("demo consent page")
        .mount(server)
        .await;
}

impl Demo {
    /// Starts the mocks; their consent pages send the browser back to `callback_url`
    /// (the application's [`callback_url`](crate::App::callback_url)).
    pub async fn start(callback_url: &str) -> Self {
        let linear = Arc::new(LinearMock::start().await);
        let linear_api = LinearApi::start().await;
        linear_api.serve_with(&linear).await;
        let team = linear_api.add_team("ENG", "Engineering");
        mount_consent(
            &linear,
            linear.provider().server(),
            "/oauth/authorize",
            callback_url,
            LinearMock::authorize,
        )
        .await;

        let github = Arc::new(GitHubMock::start().await);
        let slug = github.target_config()["app_slug"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        mount_consent(
            &github,
            github.provider().server(),
            &format!("/apps/{slug}/installations/new"),
            callback_url,
            GitHubMock::install,
        )
        .await;
        mount_consent(
            &github,
            github.provider().server(),
            "/login/oauth/authorize",
            callback_url,
            GitHubMock::authorize,
        )
        .await;

        let slack = Arc::new(SlackMock::start().await);
        mount_consent(
            &slack,
            slack.provider().server(),
            "/oauth/v2/authorize",
            callback_url,
            SlackMock::authorize,
        )
        .await;
        Self {
            linear,
            linear_api,
            github,
            slack,
            team,
        }
    }

    /// The targets to store, each pointing at its mock.
    pub fn targets(&self) -> Vec<DemoTarget> {
        let with = |mut secrets: Value, name: &str, value: &str| {
            secrets[name] = Value::String(value.to_owned());
            secrets
        };
        vec![
            DemoTarget {
                id: "linear",
                key: "linear::linear-default",
                config: self.linear.target_config(),
                secrets: with(
                    self.linear.target_secrets(),
                    "webhook_secret",
                    LINEAR_WEBHOOK_SECRET,
                ),
            },
            DemoTarget {
                id: "github",
                key: "github::github-cloud",
                config: self.github.target_config(),
                secrets: with(
                    self.github.target_secrets(),
                    "webhook_secret",
                    GITHUB_WEBHOOK_SECRET,
                ),
            },
            DemoTarget {
                id: "slack",
                key: "slack::slack-default",
                config: self.slack.target_config(),
                secrets: with(
                    self.slack.target_secrets(),
                    "signing_secret",
                    SLACK_SIGNING_SECRET,
                ),
            },
        ]
    }

    /// The id of the Linear team the API mock holds (`linear_list_teams` lists it).
    pub fn linear_team(&self) -> &str {
        &self.team
    }

    /// The Linear organization a demo connection belongs to (webhook bodies name it).
    pub fn linear_organization(&self) -> &'static str {
        self.linear.organization_id()
    }

    /// The Linear API mock.
    pub fn linear_api(&self) -> &LinearApi {
        &self.linear_api
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A demo target's secrets (mock client secrets, webhook signing secrets) never print.
    #[tokio::test]
    async fn a_demo_targets_debug_names_its_secrets_not_their_values() {
        let demo = Demo::start("https://app.example.com/oauth/callback").await;
        for target in demo.targets() {
            let shown = format!("{target:?}");
            for (name, value) in target.secrets.as_object().unwrap() {
                assert!(shown.contains(name.as_str()), "{shown}");
                let value = value.as_str().unwrap();
                assert!(!shown.contains(value), "{name} printed: {shown}");
            }
        }
    }
}
