//! OpenAI tools, over the OpenAI API (`<api_base_url>/models`).
//!
//! The API key goes as `Bearer`; a connection bound to an organization or project sends
//! `OpenAI-Organization` / `OpenAI-Project`. OpenAI's error bodies quote part of the key,
//! so they are never passed on: failures carry the status class only. Rate limits are
//! HTTP 429 with `retry-after`.

use std::sync::LazyLock;

use http::Method;
use http::header::HeaderValue;
use integrations_core::Error;
use integrations_core::tools::{
    RateLimitRule, RequestAuth, Tool, ToolAnnotations, ToolContext, ToolDescriptor, ToolSet,
    read_json, request, status_error,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schemas::{OpenAiConnectionConfig, OpenAiTargetConfig};

static TOOLS: LazyLock<ToolSet> = LazyLock::new(|| ToolSet::new().with(ListModels));

static RATE_LIMIT: LazyLock<RateLimitRule> = LazyLock::new(RateLimitRule::new);

/// The OpenAI tools.
pub fn tool_set() -> &'static ToolSet {
    &TOOLS
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
