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

fn default_bot_scopes() -> Vec<String> {
    [
        "app_mentions:read",
        "channels:read",
        "chat:write",
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
    /// The bot scopes requested.
    #[serde(default = "default_bot_scopes")]
    pub bot_scopes: Vec<String>,
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
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SlackBindingConfig {
    /// The channel messages go to when a tool call names none.
    #[serde(default)]
    pub default_channel: Option<String>,
}
