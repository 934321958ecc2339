//! Slack auth: the identity check, `auth.test`, which answers `ok` and names the
//! workspace (the subject Slack events are routed by, `team_id`).

use integrations_core::definition::{ConnectionMethod, IdentityCheck};
use integrations_core::plan::AuthInjection;
use integrations_core::schema::Parsed;

use super::schemas::SlackTargetConfig;

/// `POST auth.test` with the token as `Bearer`; `ok` must be `true`.
pub(crate) fn identity_check(
    method: &ConnectionMethod,
    target_config: &Parsed,
) -> Option<IdentityCheck> {
    let _ = method;
    let config = target_config.get::<SlackTargetConfig>().ok()?;
    Some(
        IdentityCheck::post(
            config.api_base_url.join("/auth.test"),
            AuthInjection::Bearer,
        )
        .with_success_field("ok")
        .with_subject_pointer("/team_id"),
    )
}
