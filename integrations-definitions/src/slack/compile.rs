//! What a Slack binding compiles to: a route to the Web API with the token injected.

use integrations_core::definition::CompileInput;
use integrations_core::model::CredentialType;
use integrations_core::plan::{
    AuthInjection, BindingPlan, CredentialSelector, EgressRouteSpec, RouteMatch,
};
use integrations_core::{Error, ValidationIssue};

use super::schemas::SlackTargetConfig;

fn issues(e: &Error) -> Vec<ValidationIssue> {
    vec![ValidationIssue::new(e.code(), "", e.message())]
}

pub(super) fn compile(input: &CompileInput<'_>) -> Result<BindingPlan, Vec<ValidationIssue>> {
    let target = input
        .target_config()
        .get::<SlackTargetConfig>()
        .map_err(|e| issues(&e))?;
    let selector = match input.connection().method.as_str() {
        "api-key" => CredentialSelector::of_type(CredentialType::API_KEY),
        "oauth2" => CredentialSelector::of_type(CredentialType::OAUTH2_ACCESS_TOKEN),
        _ => {
            return Err(vec![ValidationIssue::new(
                crate::codes::issues::slack::UNSUPPORTED_CONNECTION_METHOD,
                "",
                "Slack bindings need an api-key or oauth2 connection",
            )]);
        }
    };
    let api = &target.api_base_url;
    let prefix = if api.path().is_empty() {
        "/"
    } else {
        api.path()
    };
    // The sandbox uses the Web API with the connection's token, but never to destroy
    // that token: `auth.revoke` would revoke it, `apps.uninstall` remove the app.
    let under = prefix.trim_end_matches('/');
    Ok(BindingPlan::new().with_route(EgressRouteSpec::new(
        RouteMatch::host(api.host())
            .with_path_prefix(prefix)
            .with_methods(["GET", "POST"])
            .excluding_path_prefix(format!("{under}/auth.revoke"))
            .excluding_path_prefix(format!("{under}/apps.uninstall")),
        api.as_str(),
        AuthInjection::Bearer,
        selector,
    )))
}
