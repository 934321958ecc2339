use serde_json::Value;

use crate::definition::{BindingContext, ConnectionView, TargetView};
use crate::model::{Connection, Target};
use crate::schema::Parsed;
use crate::{IntegrationKind, Registry, ValidationIssue};

/// The parsed configs of a binding that passed every check.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PreparedBinding {
    /// The target config.
    pub target_config: Parsed,
    /// The connection config.
    pub connection_config: Parsed,
    /// The binding config.
    pub binding_config: Parsed,
    /// The binding kind.
    pub kind: IntegrationKind,
}

impl PreparedBinding {
    /// The context the definition sees.
    pub fn context<'a>(
        &'a self,
        target: &'a Target,
        connection: &'a Connection,
    ) -> BindingContext<'a> {
        BindingContext::new(
            TargetView::new(target, &self.target_config),
            ConnectionView::new(connection, &self.connection_config),
            self.kind,
            &self.binding_config,
        )
    }
}

/// Every check of a binding, shared by write time and compile time so the two cannot
/// disagree: the connection belongs to the target and is active, the target is enabled,
/// the kind equals the definition's, the target, connection and binding configs parse,
/// and the definition's own [`validate_binding`] passes.
///
/// [`validate_binding`]: crate::definition::IntegrationDefinition::validate_binding
///
/// # Errors
///
/// Every issue found, with codes `binding.connection_mismatch`,
/// `binding.connection_not_active`, `binding.target_disabled`,
/// `binding.unknown_definition`, `binding.kind_mismatch`, `binding.unknown_method`,
/// `binding.invalid_target_config` / `binding.invalid_connection_config` (stored configs
/// that no longer parse), schema codes under `/config`, and the definition's codes under
/// `/config`.
pub fn prepare_binding(
    registry: &Registry,
    target: &Target,
    connection: &Connection,
    kind: IntegrationKind,
    config: &Value,
) -> Result<PreparedBinding, Vec<ValidationIssue>> {
    let mut issues = Vec::new();
    if connection.tenant != target.tenant
        || connection.target != target.id
        || connection.key != target.key
    {
        issues.push(ValidationIssue::new(
            crate::codes::issues::binding::CONNECTION_MISMATCH,
            "/connection",
            "the connection does not belong to this target",
        ));
    }
    if !connection.is_active() {
        issues.push(ValidationIssue::new(
            crate::codes::issues::binding::CONNECTION_NOT_ACTIVE,
            "/connection",
            format!("the connection is {}", connection.status.as_str()),
        ));
    }
    if !target.enabled {
        issues.push(ValidationIssue::new(
            crate::codes::issues::binding::TARGET_DISABLED,
            "/connection",
            "the connection's target is disabled",
        ));
    }
    let Some(entry) = registry.get(&target.key) else {
        issues.push(ValidationIssue::new(
            crate::codes::issues::binding::UNKNOWN_DEFINITION,
            "/connection",
            format!("no integration is registered under {}", target.key),
        ));
        return Err(issues);
    };
    if entry.kind() != kind {
        issues.push(ValidationIssue::new(
            crate::codes::issues::binding::KIND_MISMATCH,
            "/kind",
            format!(
                "{} is {} {} integration, not {kind}",
                target.key,
                if entry.kind() == IntegrationKind::Agent {
                    "an"
                } else {
                    "a"
                },
                entry.kind()
            ),
        ));
    }
    let target_config = entry.target_config().parse(&target.config).map_err(|_| {
        ValidationIssue::new(
            crate::codes::issues::binding::INVALID_TARGET_CONFIG,
            "/connection",
            "the target's stored config no longer validates; the operator must fix it",
        )
    });
    let connection_config = match entry.method(&connection.method) {
        None => Err(ValidationIssue::new(
            crate::codes::issues::binding::UNKNOWN_METHOD,
            "/connection",
            format!(
                "{} has no connection method {}",
                target.key, connection.method
            ),
        )),
        Some(method) => method.config().parse(&connection.config).map_err(|_| {
            ValidationIssue::new(
                crate::codes::issues::binding::INVALID_CONNECTION_CONFIG,
                "/connection",
                "the connection's stored config no longer validates; reconnect it",
            )
        }),
    };
    let binding_config = entry.binding_config().parse(config).map_err(|found| {
        found
            .into_iter()
            .map(|i| i.under("/config"))
            .collect::<Vec<_>>()
    });

    match (target_config, connection_config, binding_config) {
        (Ok(target_config), Ok(connection_config), Ok(binding_config)) => {
            let prepared = PreparedBinding {
                target_config,
                connection_config,
                binding_config,
                kind,
            };
            // The definition's own checks run only on well-formed input.
            let found = entry
                .definition()
                .validate_binding(&prepared.context(target, connection));
            issues.extend(found.into_iter().map(|i| i.under("/config")));
            if issues.is_empty() {
                Ok(prepared)
            } else {
                Err(issues)
            }
        }
        (target_config, connection_config, binding_config) => {
            issues.extend(target_config.err());
            issues.extend(connection_config.err());
            issues.extend(binding_config.err().into_iter().flatten());
            Err(issues)
        }
    }
}
