//! The runtime-plan compiler: a profile version's bindings in, one deterministic
//! [`CompiledRuntimePlan`] out.
//!
//! [`compile`] runs, for every binding (in byte-wise order of binding id, whatever the
//! input order):
//!
//! 1. the checks of [`prepare_binding`], the very function that runs when a binding is
//!    written, so write time and compile time cannot disagree: the connection belongs to
//!    the target, is active, the target is enabled, the kind is the definition's, the
//!    configs parse, the definition's `validate_binding` passes (same codes, paths under
//!    `/bindings/<id>`);
//! 2. the definition's `compile_binding` and `mcp_servers`;
//! 3. route stamping: ids `egress_rule_<binding>` then `egress_rule_<binding>_<n>`
//!    (n = index + 1), the binding, connection and definition, the canonical matcher.
//!
//! Then, across the profile: overlapping routes (found through an index by host and
//! prefix, decided by the one [`Matcher`]), route ids that
//! collide, env keys that conflict or are reserved for the proxy (`HTTP_PROXY`,
//! `HTTPS_PROXY`, `NO_PROXY`, `ALL_PROXY`, any case), runtime-client files whose path or
//! id conflict, processes and endpoints that conflict or refer to nothing, artifacts
//! that are not equal, workspace sources that collide, MCP servers that are invalid or
//! share a name; and the MCP pass writes the profile's servers into the config file each
//! agent definition names ([`McpConfigWriter`](crate::mcp::McpConfigWriter)).
//!
//! Every issue is collected (not just the first) and returned, sorted, in one
//! [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) error `compile.invalid`.
//! The issue codes are the constants of [`codes`] plus those of [`prepare_binding`].
//!
//! Two bindings whose routes claim the same host, method and path space (two GitHub
//! bindings on github.com, say) conflict: a request must map to exactly one credential.
//!
//! Artifacts with one key must have the same name and install steps (else
//! [`codes::ARTIFACT_CONFLICT`]); identical ones are installed once, and their env maps
//! merge key by key (a key with two values is [`codes::ENV_CONFLICT`]). Runtime clients
//! with one id merge the same way; their launch arguments are the fragments of each
//! binding in binding-id order, a fragment equal to an earlier one dropped.

mod assemble;
pub mod codes;
mod input;
mod mcp_pass;

pub use input::{ProfileBinding, ProfileInput};

use http::{HeaderName, HeaderValue};

use crate::definition::CompileInput;
use crate::egress::{Matcher, overlapping_pairs};
use crate::plan::{
    AuthInjection, BindingPlan, CompiledRoute, CompiledRuntimePlan, McpConfigTarget, McpServer,
    RouteId,
};
use crate::service::prepare_binding;
use crate::{
    BindingId, ConnectionId, DefinitionKey, Error, Registry, ValidationIssue, escape_pointer_token,
};

/// What one binding contributed, before the profile-wide checks.
struct Compiled<'a> {
    id: &'a BindingId,
    key: DefinitionKey,
    connection: ConnectionId,
    plan: BindingPlan,
    mcp_servers: Vec<McpServer>,
    mcp_target: Option<McpConfigTarget>,
}

pub(crate) fn binding_path(id: &BindingId) -> String {
    format!("/bindings/{}", escape_pointer_token(id.as_str()))
}

/// Compiles a profile version into a runtime plan.
///
/// ```
/// use integrations_core::compile::{ProfileInput, compile};
/// use integrations_core::model::ProfileVersion;
/// use integrations_core::{ProfileId, Registry, TenantId};
///
/// let profile = ProfileInput::new(
///     TenantId::new("acme")?,
///     ProfileVersion::new(ProfileId::new("sandbox")?, 1),
/// );
/// let plan = compile(&Registry::new(), &profile)?;
/// assert!(plan.egress_routes.is_empty());
/// assert_eq!(plan.hash().len(), 64);
/// # Ok::<(), integrations_core::Error>(())
/// ```
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`compile.invalid`)
/// carrying every issue found, sorted by path, code and message.
pub fn compile(registry: &Registry, profile: &ProfileInput) -> Result<CompiledRuntimePlan, Error> {
    let mut issues = sandbox_issues(&profile.sandbox);
    let mut bindings: Vec<_> = profile.bindings.iter().collect();
    bindings.sort_by(|a, b| a.id.cmp(&b.id));
    // A repeated binding id is reported, and none of the bindings sharing it is
    // compiled: which one to keep would depend on the input order.
    let mut unique = Vec::with_capacity(bindings.len());
    let mut i = 0;
    while i < bindings.len() {
        let mut j = i + 1;
        while j < bindings.len() && bindings[j].id == bindings[i].id {
            j += 1;
        }
        if j - i > 1 {
            issues.push(ValidationIssue::new(
                codes::DUPLICATE_BINDING,
                binding_path(&bindings[i].id),
                format!("{} bindings have this id", j - i),
            ));
        } else {
            unique.push(bindings[i]);
        }
        i = j;
    }

    let mut compiled = Vec::with_capacity(unique.len());
    for binding in unique {
        match compile_binding(registry, profile, binding) {
            Ok(c) => compiled.push(c),
            Err(found) => issues.extend(found),
        }
    }

    let egress_routes = stamp_routes(&compiled, &mut issues);
    let artifacts = assemble::artifacts(&compiled, &mut issues);
    let mut runtime_clients = assemble::runtime_clients(&compiled, &mut issues);
    let workspace_sources = assemble::workspace_sources(&compiled, &mut issues);
    let (mcp_servers, mcp_config_updates) =
        mcp_pass::run(&compiled, &mut runtime_clients, &mut issues);

    if !issues.is_empty() {
        issues.sort_by(|a, b| (&a.path, &a.code, &a.message).cmp(&(&b.path, &b.code, &b.message)));
        issues.dedup();
        return Err(crate::codes::compile::INVALID.with_issues(
            format!(
                "the profile does not compile: {} issue{}",
                issues.len(),
                if issues.len() == 1 { "" } else { "s" }
            ),
            issues,
        ));
    }
    Ok(CompiledRuntimePlan {
        tenant: profile.tenant.clone(),
        profile: profile.profile.clone(),
        sandbox: profile.sandbox.clone(),
        egress_routes,
        artifacts,
        runtime_clients,
        workspace_sources,
        mcp_servers,
        mcp_config_updates,
    })
}

/// The sandbox paths that are not absolute, plain paths: definitions join workspace and
/// file paths onto them, so a relative one, a `..` or an empty segment would put files
/// elsewhere than the plan says.
fn sandbox_issues(sandbox: &crate::plan::SandboxPaths) -> Vec<ValidationIssue> {
    sandbox
        .named()
        .into_iter()
        .filter(|(_, path)| {
            let segments = path.strip_prefix('/').map(|rest| rest.split('/'));
            !segments.is_some_and(|mut segments| {
                segments.all(|s| !s.is_empty() && s != "." && s != "..")
            }) || path.chars().any(char::is_control)
        })
        .map(|(name, _)| {
            ValidationIssue::new(
                codes::INVALID_SANDBOX_PATH,
                format!("/sandbox/{name}"),
                "a sandbox path is absolute, with no empty, `.` or `..` segment and no control character",
            )
        })
        .collect()
}

fn compile_binding<'a>(
    registry: &Registry,
    profile: &'a ProfileInput,
    binding: &'a ProfileBinding,
) -> Result<Compiled<'a>, Vec<ValidationIssue>> {
    let base = binding_path(&binding.id);
    let mut issues = Vec::new();
    if binding.connection.tenant != profile.tenant || binding.target.tenant != profile.tenant {
        issues.push(ValidationIssue::new(
            codes::TENANT_MISMATCH,
            format!("{base}/connection"),
            "the connection or its target belongs to another tenant",
        ));
    }
    let prepared = prepare_binding(
        registry,
        &binding.target,
        &binding.connection,
        binding.kind,
        &binding.config,
    );
    let prepared = match prepared {
        Ok(prepared) if issues.is_empty() => prepared,
        Ok(_) => return Err(issues),
        Err(found) => {
            for issue in found {
                issues.extend(config_issues(registry, binding, issue, &base));
            }
            return Err(issues);
        }
    };
    let Some(entry) = registry.get(&binding.target.key) else {
        return Err(vec![ValidationIssue::new(
            crate::codes::issues::binding::UNKNOWN_DEFINITION,
            format!("{base}/connection"),
            "no integration is registered under the target's key",
        )]);
    };
    let context = prepared.context(&binding.target, &binding.connection);
    let input = CompileInput::new(
        &profile.tenant,
        &profile.profile,
        &binding.id,
        context,
        &profile.sandbox,
    );
    let definition = entry.definition();
    let plan = definition.compile_binding(&input).map_err(|found| {
        found
            .into_iter()
            .map(|i| i.under(&base))
            .collect::<Vec<_>>()
    })?;
    let mcp_servers = definition.mcp_servers(&input);
    Ok(Compiled {
        id: &binding.id,
        key: binding.target.key.clone(),
        connection: binding.connection.id.clone(),
        plan,
        mcp_servers,
        mcp_target: entry.mcp_config_target().cloned(),
    })
}

/// An issue of [`prepare_binding`], placed for a compile input. A target or connection
/// config that does not validate is reported where it is written (`/targets/<id>/config`,
/// `/connections/<id>/config`, whether the input is a profile document or the host's
/// stores), with each of its schema issues; every other issue goes under the binding.
fn config_issues(
    registry: &Registry,
    binding: &ProfileBinding,
    issue: ValidationIssue,
    base: &str,
) -> Vec<ValidationIssue> {
    let entry = registry.get(&binding.target.key);
    let (at, what, found) = match issue.code.as_str() {
        "binding.invalid_target_config" => (
            format!(
                "/targets/{}/config",
                escape_pointer_token(binding.target.id.as_str())
            ),
            "target",
            entry.map(|e| e.target_config().parse(&binding.target.config)),
        ),
        "binding.invalid_connection_config" => (
            format!(
                "/connections/{}/config",
                escape_pointer_token(binding.connection.id.as_str())
            ),
            "connection",
            entry
                .and_then(|e| e.method(&binding.connection.method))
                .map(|m| m.config().parse(&binding.connection.config)),
        ),
        _ => return vec![issue.under(base)],
    };
    let mut issues = vec![ValidationIssue::new(
        issue.code,
        at.clone(),
        format!("the {what}'s config is invalid; the bindings that use it cannot compile"),
    )];
    if let Some(Err(found)) = found {
        issues.extend(found.into_iter().map(|i| i.under(&at)));
    }
    issues
}

/// Stamps ids, canonical matchers and lowercased header names on every route, checks
/// each route, the uniqueness of ids, and overlaps across the profile.
fn stamp_routes(
    compiled: &[Compiled<'_>],
    issues: &mut Vec<ValidationIssue>,
) -> Vec<CompiledRoute> {
    let mut routes: Vec<(CompiledRoute, Matcher, String)> = Vec::new();
    for binding in compiled {
        let base = binding_path(binding.id);
        for (index, spec) in binding.plan.egress_routes.iter().enumerate() {
            let at = format!("{base}/egress_routes/{index}");
            let before = issues.len();
            let matcher = match Matcher::new(&spec.matcher) {
                Ok(m) => Some(m),
                Err(e) => {
                    issues.push(ValidationIssue::new(
                        codes::INVALID_ROUTE,
                        format!("{at}/matcher"),
                        e.message().to_owned(),
                    ));
                    None
                }
            };
            check_upstream(&spec.upstream, &at, issues);
            check_injection(&spec.injection, &at, issues);
            let headers = lowercase_headers(&spec.headers, &format!("{at}/headers"), issues);
            let default_headers = lowercase_headers(
                &spec.default_headers,
                &format!("{at}/default_headers"),
                issues,
            );
            let Some(matcher) = matcher else { continue };
            if issues.len() > before {
                continue;
            }
            let route = CompiledRoute {
                id: RouteId::for_binding(binding.id, index),
                binding: binding.id.clone(),
                connection: binding.connection.clone(),
                definition: binding.key.clone(),
                matcher: matcher.to_route_match(),
                upstream: spec.upstream.clone(),
                injection: spec.injection.clone(),
                credential: spec.credential.clone(),
                headers,
                default_headers,
            };
            routes.push((route, matcher, at));
        }
    }
    routes.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    for pair in routes.windows(2) {
        if pair[0].0.id == pair[1].0.id {
            issues.push(ValidationIssue::new(
                codes::ROUTE_ID_CONFLICT,
                pair[1].2.clone(),
                format!(
                    "this route's id {} is also the id of a route of binding {}",
                    pair[1].0.id, pair[0].0.binding
                ),
            ));
        }
    }
    let mut compiled_routes = Vec::with_capacity(routes.len());
    let mut matchers = Vec::with_capacity(routes.len());
    let mut paths = Vec::with_capacity(routes.len());
    for (route, matcher, path) in routes {
        compiled_routes.push(route);
        matchers.push(matcher);
        paths.push(path);
    }
    for (i, j) in overlapping_pairs(&matchers) {
        let (a, b) = (&compiled_routes[i], &compiled_routes[j]);
        let host = matchers[i]
            .hosts()
            .iter()
            .find(|h| matchers[j].names_host(h))
            .map_or("", String::as_str);
        issues.push(ValidationIssue::new(
            codes::ROUTE_CONFLICT,
            paths[j].clone(),
            format!(
                "route {} overlaps route {} of binding {} on host {host}: a request would match both",
                b.id, a.id, a.binding
            ),
        ));
    }
    compiled_routes
}

fn check_upstream(upstream: &str, at: &str, issues: &mut Vec<ValidationIssue>) {
    let ok = url::Url::parse(upstream).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host().is_some()
            && u.query().is_none()
            && u.fragment().is_none()
            && u.username().is_empty()
            && u.password().is_none()
    });
    if !ok {
        issues.push(ValidationIssue::new(
            codes::INVALID_ROUTE,
            format!("{at}/upstream"),
            "the upstream is an absolute http or https URL without query, fragment or credentials",
        ));
    }
}

fn check_injection(injection: &AuthInjection, at: &str, issues: &mut Vec<ValidationIssue>) {
    let problem = match injection {
        AuthInjection::Basic {
            username: Some(user),
        } if user.contains(':') || user.is_empty() => {
            Some("a basic-auth username is not empty and holds no colon")
        }
        AuthInjection::Header { name, .. } if HeaderName::from_bytes(name.as_bytes()).is_err() => {
            Some("the credential header name is not a valid header name")
        }
        AuthInjection::Query { name } if name.is_empty() => {
            Some("the credential query parameter has a name")
        }
        _ => None,
    };
    if let Some(message) = problem {
        issues.push(ValidationIssue::new(
            codes::INVALID_ROUTE,
            format!("{at}/injection"),
            message,
        ));
    }
}

fn lowercase_headers(
    headers: &std::collections::BTreeMap<String, String>,
    at: &str,
    issues: &mut Vec<ValidationIssue>,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for (name, value) in headers {
        let valid =
            HeaderName::from_bytes(name.as_bytes()).is_ok() && HeaderValue::from_str(value).is_ok();
        let lower = name.to_ascii_lowercase();
        let credential = matches!(lower.as_str(), "authorization" | "proxy-authorization");
        if !valid || credential {
            issues.push(ValidationIssue::new(
                codes::INVALID_ROUTE,
                format!("{at}/{}", escape_pointer_token(name)),
                "a route header is a valid, non-credential header",
            ));
        } else if out.insert(lower, value.clone()).is_some() {
            issues.push(ValidationIssue::new(
                codes::INVALID_ROUTE,
                format!("{at}/{}", escape_pointer_token(name)),
                "two route headers have this name in different cases",
            ));
        }
    }
    out
}
