//! OpenAI tools, over the OpenAI API (`<api_base_url>/models`).
//!
//! The API key goes as `Bearer`; a connection bound to an organization or project sends
//! `OpenAI-Organization` / `OpenAI-Project`. OpenAI's error bodies quote part of the key,
//! so they are never passed on: failures carry the status class only. Rate limits are
//! HTTP 429 with `retry-after`; a 429 whose `error.code` is `insufficient_quota` (billing
//! exhausted) is not one, and is not retryable (`openai.insufficient_quota`).

use std::sync::LazyLock;

use http::header::HeaderValue;
use http::{Method, StatusCode};
use integrations_core::Error;
use integrations_core::host::HttpResponse;
use integrations_core::tools::{
    RateLimitRule, RequestAuth, ResetFormat, Tool, ToolAnnotations, ToolContext, ToolDescriptor,
    ToolSet, read_json, request, status_error,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schemas::{OpenAiConnectionConfig, OpenAiTargetConfig};

static TOOLS: LazyLock<ToolSet> = LazyLock::new(|| ToolSet::new().with(ListModels));

/// OpenAI counts requests and tokens apart, each with its reset as a duration
/// (`x-ratelimit-reset-requests: 12ms`, `x-ratelimit-reset-tokens: 6m0s`): a 429 without
/// `retry-after` waits for the reset of the limit that is spent.
static RATE_LIMIT: LazyLock<RateLimitRule> = LazyLock::new(|| {
    RateLimitRule::new()
        .with_bucket(
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
            ResetFormat::Duration,
        )
        .with_bucket(
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
            ResetFormat::Duration,
        )
});

/// The OpenAI tools.
pub fn tool_set() -> &'static ToolSet {
    &TOOLS
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorCode,
}

#[derive(Deserialize)]
struct ErrorCode {
    #[serde(default)]
    code: Option<String>,
}

/// A 429 whose `error.code` is `insufficient_quota`: the key's organization or project
/// has no credit or hit its spending limit. Waiting does not help, so it is not the
/// (retryable) rate limit. Only the code is read: OpenAI's messages are never passed on.
fn quota_exhausted(response: &HttpResponse) -> Option<Error> {
    if response.status() != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let body: ErrorBody = serde_json::from_slice(response.body()).ok()?;
    (body.error.code.as_deref() == Some("insufficient_quota")).then(|| {
        crate::codes::openai::INSUFFICIENT_QUOTA.error(
            "OpenAI refused the request: the API key's quota is used up (insufficient_quota); \
             check the plan and billing of its organization or project",
        )
    })
}

/// Arguments of `openai_list_models`: none.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ListModelsArgs {}

/// A model.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct Model {
    /// The model's id (`gpt-5`).
    pub id: String,
    /// Who owns it (`system`, `openai`, an organization).
    pub owned_by: String,
    /// When it was created, Unix seconds.
    pub created: i64,
}

/// The models the key can use.
#[derive(Debug, Serialize, JsonSchema)]
#[non_exhaustive]
pub struct ModelList {
    /// The models, in the order OpenAI lists them.
    pub models: Vec<Model>,
}

#[derive(Deserialize)]
struct Listed {
    data: Vec<Model>,
}

/// `openai_list_models`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ListModels;

impl Tool for ListModels {
    type Args = ListModelsArgs;
    type Output = ModelList;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<ListModelsArgs>(
            "openai_list_models",
            "List the OpenAI models the connection's API key can use.",
        )
        .with_title("List OpenAI models")
        .with_annotations(ToolAnnotations::read_only())
        .with_capability(const { integrations_core::model::Capability::from_static("model.read") })
    }

    async fn call(&self, _args: ListModelsArgs, context: &ToolContext) -> Result<ModelList, Error> {
        let target = context.target_config().get::<OpenAiTargetConfig>()?;
        let url = target.api_base_url.url().path("models").build()?;
        let mut request = request(Method::GET, url.as_str())?;
        if let Ok(config) = context.connection_config().get::<OpenAiConnectionConfig>() {
            for (name, value) in [
                ("openai-organization", &config.organization),
                ("openai-project", &config.project),
            ] {
                if let Some(value) = value {
                    let value = HeaderValue::from_str(value).map_err(|_| {
                        crate::codes::openai::INVALID_HEADER.error(
                            "the connection's organization or project cannot be sent as a header",
                        )
                    })?;
                    request.headers_mut().insert(name, value);
                }
            }
        }
        let selector = context.default_credential().cloned().ok_or_else(|| {
            crate::codes::openai::NO_CREDENTIAL.error("this OpenAI connection has no API key")
        })?;
        let response = context
            .http()
            .send(request, &RequestAuth::bearer(selector))
            .await?;
        if let Some(exhausted) = quota_exhausted(&response) {
            return Err(exhausted);
        }
        if let Some(limited) = RATE_LIMIT.check(&response, context.now()) {
            return Err(limited);
        }
        if !response.status().is_success() {
            return Err(status_error(response.status()));
        }
        let listed: Listed = read_json(&response)?;
        Ok(ModelList {
            models: listed.data,
        })
    }
}
