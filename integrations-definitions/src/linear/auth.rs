//! Linear auth: the identity check, a GraphQL `viewer` query that also names the
//! organization (the subject Linear webhooks are routed by, `organizationId`).

use integrations_core::definition::{ConnectionMethod, ConnectionMethodKind, IdentityCheck};
use integrations_core::plan::AuthInjection;
use integrations_core::schema::Parsed;
use serde_json::json;

use super::schemas::LinearTargetConfig;

/// `POST /graphql { viewer { id organization { id } } }`. Personal API keys go bare in
/// `Authorization`; OAuth tokens as `Bearer`. GraphQL errors (`/errors`) mean refusal.
pub(crate) fn identity_check(
    method: &ConnectionMethod,
    target_config: &Parsed,
) -> Option<IdentityCheck> {
    let config = target_config.get::<LinearTargetConfig>().ok()?;
    let injection = match method.kind {
        ConnectionMethodKind::ApiKey => AuthInjection::Header {
            name: "Authorization".to_owned(),
            prefix: None,
        },
        _ => AuthInjection::Bearer,
    };
    Some(
        IdentityCheck::post(config.api_base_url.join("/graphql"), injection)
            .with_json_body(&json!({"query": "query Viewer { viewer { id organization { id } } }"}))
            .with_error_pointer("/errors")
            .with_subject_pointer("/data/viewer/organization/id"),
    )
}
