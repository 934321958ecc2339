//! OpenAI configs.

use std::collections::BTreeMap;

use integrations_core::Secret;
use integrations_core::schema::BaseUrl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How hard a model reasons.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasoningEffort {
    /// Low effort.
    Low,
    /// Medium effort.
    Medium,
    /// High effort.
    High,
    /// Extra-high effort.
    Xhigh,
}

impl ReasoningEffort {
    /// The effort as written in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Xhigh => "xhigh",
        }
    }
}

/// What bindings may do with one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ModelCapability {
    /// The reasoning efforts bindings may choose.
    #[schemars(length(min = 1))]
    pub reasoning_efforts: Vec<ReasoningEffort>,
    /// The effort used when a binding names none.
    #[serde(default)]
    pub default_reasoning_effort: Option<ReasoningEffort>,
}

fn default_api_base_url() -> BaseUrl {
    BaseUrl::parse("https://api.openai.com/v1").unwrap_or_else(|e| panic!("{e}"))
}

fn default_models() -> BTreeMap<String, ModelCapability> {
    let all = vec![
        ReasoningEffort::Low,
        ReasoningEffort::Medium,
        ReasoningEffort::High,
        ReasoningEffort::Xhigh,
    ];
    BTreeMap::from([
        (
            "gpt-5-codex".to_owned(),
            ModelCapability {
                reasoning_efforts: all,
                default_reasoning_effort: Some(ReasoningEffort::Medium),
            },
        ),
        (
            "gpt-5".to_owned(),
            ModelCapability {
                reasoning_efforts: vec![
                    ReasoningEffort::Low,
                    ReasoningEffort::Medium,
                    ReasoningEffort::High,
                ],
                default_reasoning_effort: Some(ReasoningEffort::Medium),
            },
        ),
    ])
}

/// The OpenAI target config.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OpenAiTargetConfig {
    /// Base URL of the OpenAI API.
    #[serde(default = "default_api_base_url")]
    pub api_base_url: BaseUrl,
    /// The models bindings may use, by model id, with their reasoning efforts.
    #[serde(default = "default_models")]
    pub models: BTreeMap<String, ModelCapability>,
}

/// The OpenAI target secrets.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OpenAiTargetSecrets {
    /// The webhook signing secret of the project's webhook endpoint: `whsec_` and base64,
    /// as the OpenAI dashboard shows it. Any other value is refused when the secrets are
    /// validated, not at the first delivery.
    #[serde(default, deserialize_with = "webhook_secret")]
    #[schemars(regex(pattern = r"^whsec_[A-Za-z0-9+/]+={0,2}$"))]
    pub webhook_secret: Option<Secret>,
}

/// A `whsec_` secret whose rest is base64 (the HMAC key OpenAI signs with).
fn webhook_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    use base64::Engine as _;
    let Some(secret) = Option::<Secret>::deserialize(d)? else {
        return Ok(None);
    };
    let key = secret
        .expose()
        .strip_prefix("whsec_")
        .ok_or_else(|| serde::de::Error::custom("an OpenAI webhook secret starts with whsec_"))?;
    // As the verifier decodes it (padding optional).
    match base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT.decode(key) {
        Ok(bytes) if !bytes.is_empty() => Ok(Some(secret)),
        _ => Err(serde::de::Error::custom(
            "an OpenAI webhook secret is whsec_ followed by base64",
        )),
    }
}

/// The agent runtime a binding runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AgentRuntime {
    /// The Codex CLI.
    CodexCli,
}

/// The OpenAI binding config.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OpenAiBindingConfig {
    /// The agent runtime.
    pub runtime: AgentRuntime,
    /// The model, one of the target's models.
    #[schemars(length(min = 1))]
    pub model: String,
    /// The reasoning effort; the model's default when absent.
    #[serde(default)]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// Extra instructions for the agent.
    #[serde(default)]
    pub additional_instructions: Option<String>,
}

/// The config of an API-key connection.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OpenAiConnectionConfig {
    /// Sent as `OpenAI-Organization` when the key spans several organizations.
    #[serde(default)]
    pub organization: Option<String>,
    /// Sent as `OpenAI-Project` when the key spans several projects.
    #[serde(default)]
    pub project: Option<String>,
}
