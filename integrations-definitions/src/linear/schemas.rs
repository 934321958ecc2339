//! Linear configs.

use integrations_core::Secret;
use integrations_core::schema::BaseUrl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn url(s: &str) -> BaseUrl {
    BaseUrl::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

fn default_api() -> BaseUrl {
    url("https://api.linear.app")
}

fn default_web() -> BaseUrl {
    url("https://linear.app")
}

fn default_mcp() -> BaseUrl {
    url("https://mcp.linear.app/mcp")
}

fn default_scopes() -> Vec<String> {
    vec!["read".to_owned(), "write".to_owned()]
}

/// Who Linear records as acting for an OAuth token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Actor {
    /// The authorizing user.
    User,
    /// The application (agents; enables `app:assignable` and `app:mentionable`).
    App,
}

impl Actor {
    /// As sent in `actor=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::App => "app",
        }
    }
}

fn default_actor() -> Actor {
    Actor::User
}

/// The Linear target config.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LinearTargetConfig {
    /// The API base URL (GraphQL at `/graphql`, OAuth tokens at `/oauth/token`).
    #[serde(default = "default_api")]
    pub api_base_url: BaseUrl,
    /// The web base URL (the OAuth consent page).
    #[serde(default = "default_web")]
    pub web_base_url: BaseUrl,
    /// Linear's hosted MCP server.
    #[serde(default = "default_mcp")]
    pub mcp_url: BaseUrl,
    /// The OAuth application's client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The scopes requested (`read` is always granted).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Who OAuth tokens act as.
    #[serde(default = "default_actor")]
    pub actor: Actor,
}

/// The Linear target secrets.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LinearTargetSecrets {
    /// The OAuth application's client secret.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// The webhook signing secret.
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
}

/// The Linear binding config.
///
/// A binding compiles to Linear's hosted MCP server and the route to it; the SDK's tools
/// run through a connection, never through a binding, so nothing a binding holds reaches
/// them. The team `linear_create_issue` uses when a call names none is the connection's
/// [`default_team_id`](LinearConnectionConfig::default_team_id).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LinearBindingConfig {
    /// Deprecated and ignored: no tool reads a binding's config. Set `default_team_id` in
    /// the connection's config instead. Still accepted so that existing bindings compile.
    #[serde(default)]
    #[schemars(extend("deprecated" = true))]
    pub default_team_id: Option<String>,
}

/// The config of an API-key or OAuth connection: which team its managed webhook covers
/// ([`hooks`](super::hooks)), and the team new issues go to when a tool call names none.
/// Without a `webhook_team` the hook covers every public team of the organization.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LinearConnectionConfig {
    /// The team (its id, or its key such as `ENG`) the managed webhook is registered for.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"))]
    pub webhook_team: Option<String>,
    /// The team (its id, or its key such as `ENG`; `linear_list_teams` lists them)
    /// `linear_create_issue` creates issues in when a call names no `team_id`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub default_team_id: Option<String>,
}
