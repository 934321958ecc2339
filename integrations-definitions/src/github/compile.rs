//! What a GitHub binding compiles to: git over HTTPS per repository, the REST and
//! GraphQL APIs (and uploads on github.com), the `gh` CLI, and one clone per repository.

use std::collections::BTreeMap;

use integrations_core::definition::CompileInput;
use integrations_core::model::CredentialType;
use integrations_core::plan::{
    Artifact, AuthInjection, BindingPlan, CredentialSelector, EgressRouteSpec, InstallStep,
    RouteMatch, WorkspaceSource,
};
use integrations_core::schema::BaseUrl;
use integrations_core::{Error, ValidationIssue};
use serde_json::Value;

use super::schemas::{GitHubBindingConfig, RepositoryName};
use super::{GitHub, Variant};

/// The username git sends with a token over HTTPS.
pub const GIT_USERNAME: &str = "x-access-token";

/// The placeholder token the `gh` CLI starts with; the egress proxy replaces the
/// `Authorization` header it sends.
pub const GH_DUMMY_TOKEN: &str = "egress-proxy-injects-the-real-token";

/// The `gh` release installed.
const GH_VERSION: &str = "2.63.0";

const GIT_METHODS: [&str; 2] = ["GET", "POST"];
const API_METHODS: [&str; 5] = ["DELETE", "GET", "PATCH", "POST", "PUT"];

fn issues(e: &Error) -> Vec<ValidationIssue> {
    vec![ValidationIssue::new(e.code(), "", e.message())]
}

/// The credential type of installation tokens.
fn installation_token() -> CredentialType {
    match CredentialType::new("github_installation_token") {
        Ok(t) => t,
        Err(e) => panic!("a shipped credential type is invalid: {e}"),
    }
}

fn root_or(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

/// The path of a URL on `host`, when the URL is on that host.
fn path_on(url: &str, host: &str) -> Option<String> {
    let base = BaseUrl::parse(url).ok()?;
    (base.host() == host).then(|| root_or(base.path()).to_owned())
}

pub(super) fn compile(
    github: &GitHub,
    input: &CompileInput<'_>,
) -> Result<BindingPlan, Vec<ValidationIssue>> {
    let endpoints = github
        .endpoints(input.target_config())
        .map_err(|e| issues(&e))?;
    let binding = input
        .binding_config()
        .get::<GitHubBindingConfig>()
        .map_err(|e| issues(&e))?;
    let mut repositories: Vec<&RepositoryName> = binding.repositories.iter().collect();
    repositories.sort();
    repositories.dedup();

    let selector = match input.connection().method.as_str() {
        "api-key" => CredentialSelector::of_type(CredentialType::API_KEY),
        "oauth2" => CredentialSelector::of_type(CredentialType::OAUTH2_ACCESS_TOKEN),
        // The App's installation tokens, minted by the auth engine's resolver and
        // narrowed to the binding's repositories (`owner/name`, sorted, deduplicated).
        super::auth::INSTALLATION_METHOD => CredentialSelector::of_type(installation_token())
            .with_resolver(super::auth::INSTALLATION_TOKEN_RESOLVER)
            .with_parameter(
                "repositories",
                Value::Array(
                    repositories
                        .iter()
                        .map(|r| Value::String(r.as_str().to_owned()))
                        .collect(),
                ),
            ),
        _ => {
            return Err(vec![ValidationIssue::new(
                crate::codes::issues::github::UNSUPPORTED_CONNECTION_METHOD,
                "",
                "GitHub bindings need an api-key, oauth2 or github-app-installation connection",
            )]);
        }
    };

    let api_route = |base: &BaseUrl, extra: Option<String>| {
        let root = root_or(base.path());
        // Never `DELETE /installation/token`, which revokes the installation token the
        // route lends (the proxy would go on sending it until it expired).
        let mut matcher = RouteMatch::host(base.host())
            .with_path_prefix(root)
            .with_methods(API_METHODS)
            .excluding_path_prefix(format!("{}/installation/token", root.trim_end_matches('/')));
        if let Some(extra) = extra {
            matcher = matcher.with_path_prefix(extra);
        }
        EgressRouteSpec::new(
            matcher,
            base.as_str(),
            AuthInjection::Bearer,
            selector.clone(),
        )
        .with_default_header("Accept", "application/vnd.github+json")
        .with_default_header("X-GitHub-Api-Version", endpoints.api_version.as_str())
    };
    // The REST API, and GraphQL when it lives outside the REST base (`/api/graphql` on a
    // server, next to `/api/v3`).
    let mut plan = BindingPlan::new().with_route(api_route(
        &endpoints.api,
        path_on(&endpoints.graphql, endpoints.api.host()),
    ));
    if let Some(uploads) = &endpoints.uploads {
        plan = plan.with_route(api_route(uploads, None));
    }
    let web = &endpoints.web;
    for repository in &repositories {
        let path = format!("/{}/{}", repository.owner(), repository.name());
        plan = plan
            .with_route(EgressRouteSpec::new(
                RouteMatch::host(web.host())
                    .with_path_prefix(format!("{}{path}.git", web.path()))
                    .with_methods(GIT_METHODS),
                web.as_str(),
                AuthInjection::Basic {
                    username: Some(GIT_USERNAME.to_owned()),
                },
                selector.clone(),
            ))
            .with_workspace_source(WorkspaceSource::new(
                format!("{}{path}", input.sandbox.projects),
                web.join(&format!("{path}.git")),
            ));
    }
    Ok(plan.with_artifact(gh_artifact(github.variant(), web)))
}

/// The GitHub CLI, with a placeholder token so it starts; on a server, `GH_HOST` names
/// it and the token variable is the enterprise one.
fn gh_artifact(variant: Variant, web: &BaseUrl) -> Artifact {
    let asset = |arch: &str| format!("gh_{GH_VERSION}_linux_{arch}.tar.gz");
    let artifact = Artifact::new(
        "gh-cli",
        "GitHub CLI",
        vec![InstallStep::GithubRelease {
            repository: "cli/cli".to_owned(),
            tag: Some(format!("v{GH_VERSION}")),
            assets: BTreeMap::from([
                ("aarch64".to_owned(), asset("arm64")),
                ("x86_64".to_owned(), asset("amd64")),
            ]),
            binary: "gh".to_owned(),
        }],
    );
    match variant {
        Variant::Cloud => artifact.with_env("GH_TOKEN", GH_DUMMY_TOKEN),
        Variant::EnterpriseServer => artifact
            .with_env("GH_ENTERPRISE_TOKEN", GH_DUMMY_TOKEN)
            .with_env("GH_HOST", web.host()),
    }
}
