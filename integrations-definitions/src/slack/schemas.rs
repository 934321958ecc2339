//! Slack configs.

use integrations_core::Secret;
use integrations_core::schema::BaseUrl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn url(s: &str) -> BaseUrl {
    BaseUrl::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

fn default_api() -> BaseUrl {
    url("https://slack.com/api")
}

fn default_web() -> BaseUrl {
    url("https://slack.com")
}

/// The bot scopes the shipped tools, sync and triggers need (Slack's method and event
/// pages): `chat.postMessage` `chat:write`; `reactions.add` `reactions:write`;
/// `conversations.list` (public channels) `channels:read`; the sync's
/// `users.conversations` over public and private channels `channels:read` and
/// `groups:read`, and their `conversations.history` `channels:history` and
/// `groups:history`, which are also what the `message.channels` and `message.groups`
/// events behind `slack.message.*` need; `app_mention` events `app_mentions:read`.
fn default_bot_scopes() -> Vec<String> {
    [
        "app_mentions:read",
        "channels:history",
        "channels:read",
        "chat:write",
        "groups:history",
        "groups:read",
        "reactions:write",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The Slack target config.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SlackTargetConfig {
    /// The Web API base URL.
    #[serde(default = "default_api")]
    pub api_base_url: BaseUrl,
    /// The web base URL (the OAuth consent page).
    #[serde(default = "default_web")]
    pub web_base_url: BaseUrl,
    /// The app's client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The app id (`A0KRD7HC3`); events of other apps are refused.
    #[serde(default)]
    pub app_id: Option<String>,
    /// The bot scopes requested (default: those the shipped tools, sync and triggers
    /// need: `app_mentions:read`, `channels:history`, `channels:read`, `chat:write`,
    /// `groups:history`, `groups:read`, `reactions:write`).
    #[serde(default = "default_bot_scopes")]
    pub bot_scopes: Vec<String>,
    /// Whether the `messages` stream reads thread replies (`conversations.replies`, one
    /// call per thread and page; default true). Off, it holds top-level messages,
    /// thread parents and the replies also sent to the channel, as the history lists
    /// them.
    #[serde(default = "default_true")]
    pub thread_replies: bool,
    /// How many days before the last run an incremental sync looks for threads with
    /// new replies (default 1, at most 30). Slack's history lists a thread under its
    /// parent, so a reply to an older thread is found only by reading the parent again:
    /// the history of those days is read again for the parents, and only the threads
    /// with replies after the last run (their parents and new replies) and the new
    /// messages become records. 0 reads the replies of new threads only. Each day costs
    /// a day of each channel's history per run: for apps Slack limits to a request a
    /// minute (distributed outside the Marketplace), prefer 0.
    #[serde(default = "default_thread_lookback_days")]
    #[schemars(range(max = 30))]
    pub thread_lookback_days: u32,
}

fn default_true() -> bool {
    true
}

fn default_thread_lookback_days() -> u32 {
    1
}

/// The Slack target secrets.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SlackTargetSecrets {
    /// The app's client secret.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// The app's signing secret (request verification).
    #[serde(default)]
    pub signing_secret: Option<Secret>,
}

/// The Slack binding config.
///
/// A binding compiles to the egress route to the Web API; the SDK's tools run through a
/// connection, never through a binding, so nothing a binding holds reaches them. The
/// channel `slack_send_message` posts to when a call names none is the connection's
/// [`default_channel`](SlackConnectionConfig::default_channel).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SlackBindingConfig {
    /// Deprecated and ignored: no tool reads a binding's config. Set `default_channel` in
    /// the connection's config instead. Still accepted so that existing bindings compile.
    #[serde(default)]
    #[schemars(extend("deprecated" = true))]
    pub default_channel: Option<String>,
}

/// The config of a bot-token or OAuth connection.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SlackConnectionConfig {
    /// The channel's id (`C0123456789`) `slack_send_message` posts to when a call names
    /// no `channel`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub default_channel: Option<String>,
}
