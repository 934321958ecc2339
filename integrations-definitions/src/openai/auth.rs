//! `OpenAI` auth: the identity check of an API key, `GET /models`.

use integrations_core::definition::{ConnectionMethod, IdentityCheck};
use integrations_core::plan::AuthInjection;
use integrations_core::schema::Parsed;

use super::schemas::OpenAiTargetConfig;

/// `GET {api_base_url}/models` with the key as `Bearer`.
pub(crate) fn identity_check(
    method: &ConnectionMethod,
    target_config: &Parsed,
) -> Option<IdentityCheck> {
    let _ = method;
    let config = target_config.get::<OpenAiTargetConfig>().ok()?;
    Some(IdentityCheck::get(
        config.api_base_url.join("/models"),
        AuthInjection::Bearer,
    ))
}
