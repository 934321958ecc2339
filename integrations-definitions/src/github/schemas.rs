//! GitHub configs (cloud and enterprise server).

use std::fmt;

use integrations_core::Secret;
use integrations_core::schema::BaseUrl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn url(s: &str) -> BaseUrl {
    BaseUrl::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

fn default_cloud_api() -> BaseUrl {
    url("https://api.github.com")
}

fn default_cloud_web() -> BaseUrl {
    url("https://github.com")
}

fn default_cloud_uploads() -> BaseUrl {
    url("https://uploads.github.com")
}

fn default_api_version() -> String {
    "2022-11-28".to_owned()
}

fn default_true() -> bool {
    true
}

/// The github.com target config. Every URL has the github.com default; override them
/// only to point at a test server.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GitHubCloudTargetConfig {
    /// The REST API base URL.
    #[serde(default = "default_cloud_api")]
    pub api_base_url: BaseUrl,
    /// The web base URL (OAuth, git over HTTPS).
    #[serde(default = "default_cloud_web")]
    pub web_base_url: BaseUrl,
    /// The uploads base URL (release assets).
    #[serde(default = "default_cloud_uploads")]
    pub uploads_base_url: BaseUrl,
    /// The REST API version sent as `X-GitHub-Api-Version`.
    #[serde(default = "default_api_version")]
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub api_version: String,
    /// The GitHub App id (App installations and installation tokens).
    #[serde(default)]
    pub app_id: Option<u64>,
    /// The GitHub App slug (installation URL).
    #[serde(default)]
    pub app_slug: Option<String>,
    /// The OAuth client id (OAuth app or GitHub App).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Whether an App installation callback must prove who installed the App (default
    /// `true`). GitHub lets anyone call the setup URL with any `installation_id`, so the
    /// SDK refuses a callback that carries no OAuth `code` (enable "Request user
    /// authorization (OAuth) during installation" on the App, and give the target its
    /// `client_id` and `client_secret`), and stores the installation only when the
    /// user's access token lists it. Set `false` only when the host verifies that the
    /// installing user owns the installation some other way before it calls the SDK;
    /// a callback that does carry a `code` is verified either way.
    #[serde(default = "default_true")]
    pub verify_installation_owner: bool,
}

/// The GitHub Enterprise Server target config.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GitHubServerTargetConfig {
    /// The server's web base URL (`https://ghe.example.com`).
    pub web_base_url: BaseUrl,
    /// The REST API base URL; `<web_base_url>/api/v3` when absent.
    #[serde(default)]
    pub api_base_url: Option<BaseUrl>,
    /// The REST API version sent as `X-GitHub-Api-Version`. Servers may not know newer
    /// versions; keep the default unless yours does.
    #[serde(default = "default_api_version")]
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub api_version: String,
    /// The GitHub App id.
    #[serde(default)]
    pub app_id: Option<u64>,
    /// The GitHub App slug.
    #[serde(default)]
    pub app_slug: Option<String>,
    /// The OAuth client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Whether an App installation callback must prove who installed the App (default
    /// `true`). GitHub lets anyone call the setup URL with any `installation_id`, so the
    /// SDK refuses a callback that carries no OAuth `code` (enable "Request user
    /// authorization (OAuth) during installation" on the App, and give the target its
    /// `client_id` and `client_secret`), and stores the installation only when the
    /// user's access token lists it. Set `false` only when the host verifies that the
    /// installing user owns the installation some other way before it calls the SDK;
    /// a callback that does carry a `code` is verified either way.
    #[serde(default = "default_true")]
    pub verify_installation_owner: bool,
}

/// The endpoints of a GitHub target, cloud or server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GitHubEndpoints {
    /// Web base (`https://github.com`, `https://ghe.example.com`).
    pub web: BaseUrl,
    /// REST API base (`https://api.github.com`, `https://ghe.example.com/api/v3`).
    pub api: BaseUrl,
    /// GraphQL endpoint (`https://api.github.com/graphql`, `https://ghe.example.com/api/graphql`).
    pub graphql: String,
    /// Uploads base (cloud only).
    pub uploads: Option<BaseUrl>,
    /// `X-GitHub-Api-Version`.
    pub api_version: String,
    /// The GitHub App id.
    pub app_id: Option<u64>,
    /// The GitHub App slug.
    pub app_slug: Option<String>,
    /// The OAuth client id.
    pub client_id: Option<String>,
    /// Whether App installation callbacks must prove who installed the App.
    pub verify_installation_owner: bool,
}

impl GitHubCloudTargetConfig {
    /// The endpoints.
    pub fn endpoints(&self) -> GitHubEndpoints {
        GitHubEndpoints {
            web: self.web_base_url.clone(),
            api: self.api_base_url.clone(),
            graphql: self.api_base_url.join("/graphql"),
            uploads: Some(self.uploads_base_url.clone()),
            api_version: self.api_version.clone(),
            app_id: self.app_id,
            app_slug: self.app_slug.clone(),
            client_id: self.client_id.clone(),
            verify_installation_owner: self.verify_installation_owner,
        }
    }
}

impl GitHubServerTargetConfig {
    /// The endpoints.
    pub fn endpoints(&self) -> GitHubEndpoints {
        let api = self
            .api_base_url
            .clone()
            .unwrap_or_else(|| url(&self.web_base_url.join("/api/v3")));
        GitHubEndpoints {
            graphql: self.web_base_url.join("/api/graphql"),
            web: self.web_base_url.clone(),
            api,
            uploads: None,
            api_version: self.api_version.clone(),
            app_id: self.app_id,
            app_slug: self.app_slug.clone(),
            client_id: self.client_id.clone(),
            verify_installation_owner: self.verify_installation_owner,
        }
    }
}

/// The GitHub target secrets.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GitHubTargetSecrets {
    /// The OAuth client secret.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// The GitHub App private key (PEM).
    #[serde(default)]
    pub app_private_key_pem: Option<Secret>,
    /// The webhook secret of the app or repository webhooks.
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
}

/// A repository, `owner/name`: an owner of 1 to 39 letters, digits and hyphens (not
/// starting with a hyphen), and a name of 1 to 100 letters, digits, `.`, `_` and `-`
/// other than `.` and `..`, which GitHub does not allow and which would step out of a
/// path built from the name (a workspace directory, a URL).
///
/// The schema and deserialization refuse anything else.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct RepositoryName(
    // The name alternatives spell "not `.` or `..`" without look-around, which not every
    // JSON Schema consumer (tool-call exports) supports: one character that is not a
    // dot, two that are not both dots, or three and more.
    #[schemars(regex(
        pattern = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/(?:[A-Za-z0-9_-]|[A-Za-z0-9._-][A-Za-z0-9_-]|[A-Za-z0-9_-]\.|[A-Za-z0-9._-]{3,100})$"
    ))]
    String,
);

/// Whether `text` is `owner/name` as [`RepositoryName`] documents.
fn is_repository_name(text: &str) -> bool {
    let Some((owner, name)) = text.split_once('/') else {
        return false;
    };
    let owner_ok = (1..=39).contains(&owner.len())
        && !owner.starts_with('-')
        && owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let name_ok = (1..=100).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    owner_ok && name_ok
}

impl<'de> Deserialize<'de> for RepositoryName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if is_repository_name(&text) {
            Ok(Self(text))
        } else {
            Err(serde::de::Error::custom(
                "a repository is owner/name, and its name cannot be . or ..",
            ))
        }
    }
}

impl RepositoryName {
    /// `text` when it is `owner/name` as documented above.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        is_repository_name(text).then(|| Self(text.to_owned()))
    }

    /// The owner.
    pub fn owner(&self) -> &str {
        self.0.split_once('/').map_or("", |(o, _)| o)
    }

    /// The repository name.
    pub fn name(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, n)| n)
    }

    /// `owner/name`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The GitHub binding config.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GitHubBindingConfig {
    /// The repositories the sandbox may clone and work on. Git routes reach only these;
    /// an App installation's token is narrowed to them on the API too, but a personal
    /// access or OAuth token keeps its whole reach on the API route (GraphQL included):
    /// use an App installation or a fine-grained token for these repositories where the
    /// sandbox must see no others.
    #[schemars(length(min = 1))]
    pub repositories: Vec<RepositoryName>,
}

/// The config of a personal-access-token or OAuth connection: where the SDK registers the
/// connection's webhook ([`hooks`](super::hooks); neither set: no hook is registered), and
/// the repositories sync reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GitHubConnectionConfig {
    /// A repository hook (`owner/name`), needing admin rights on it (`admin:repo_hook`).
    #[serde(default)]
    pub webhook_repository: Option<RepositoryName>,
    /// An organization hook, needing an organization owner (`admin:org_hook`).
    #[serde(default)]
    #[schemars(regex(pattern = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$"))]
    pub webhook_organization: Option<String>,
    /// The repositories the `issues` and `pull_requests` sync streams read, in order.
    #[serde(default)]
    pub sync_repositories: Vec<RepositoryName>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Deserialization refuses `.` and `..` as a name, as the schema does
    /// (`compile::a_repository_named_dot_dot_is_a_schema_issue` checks the schema).
    #[test]
    fn dot_and_dot_dot_are_not_repository_names() {
        for good in GOOD {
            assert!(
                serde_json::from_value::<RepositoryName>(json!(good)).is_ok(),
                "{good}"
            );
        }
        for bad in BAD {
            assert!(
                serde_json::from_value::<RepositoryName>(json!(bad)).is_err(),
                "{bad}"
            );
        }
    }

    const GOOD: &[&str] = &[
        "acme/api",
        "acme/.github",
        "acme/a",
        "acme/a.",
        "acme/.a",
        "acme/...",
        "Octo-Org/x_y-z.rs",
    ];

    const BAD: &[&str] = &[
        "acme/..",
        "acme/.",
        "acme/",
        "acme",
        "-acme/api",
        "acme/a/b",
        "../api",
        "acme/a b",
    ];
}
