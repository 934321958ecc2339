//! `compile_binding` determinism.

use std::sync::Arc;

use integrations_core::compile::{ProfileBinding, ProfileInput, compile};
use integrations_core::model::{Connection, ProfileVersion, Target};
use integrations_core::provider::Integration;
use integrations_core::{
    BindingId, ConnectionId, ProfileId, Registry, TargetId, TenantId, Timestamp,
};
use serde_json::Value;

use super::{Outcome, outcome};

const ID: &str = "conformance";

fn id<T: TryFrom<&'static str>>() -> T {
    T::try_from(ID).unwrap_or_else(|_| panic!("a fixed id is valid"))
}

pub(super) fn determinism(integration: &Arc<dyn Integration>) -> Outcome {
    let mut registry = Registry::new();
    if registry.register(Arc::clone(integration)).is_err() {
        return Outcome::Skipped("the definition does not register (see identity)".to_owned());
    }
    let key = integration.key();
    let Some(target_config) = integration.target_config().examples().first().cloned() else {
        return Outcome::Failed(vec![
            "no target-config example to compile against".to_owned(),
        ]);
    };
    let now = Timestamp::from_unix_seconds(1_767_225_600);
    let tenant: TenantId = id();
    let mut target = Target::new(tenant.clone(), id::<TargetId>(), key.clone(), now);
    target.config = target_config;
    let binding_examples = integration.binding_config().examples().to_vec();
    let mut problems = Vec::new();
    for (i, binding_config) in binding_examples.iter().enumerate() {
        let mut compiled_once = false;
        let mut refusals = Vec::new();
        for method in integration.connection_methods() {
            let mut connection = Connection::new(
                tenant.clone(),
                id::<ConnectionId>(),
                target.id.clone(),
                key.clone(),
                method.id.clone(),
                now,
            );
            connection.config = method
                .config
                .examples()
                .first()
                .cloned()
                .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
            connection.external_subject = Some("12345".to_owned());
            let profile =
                ProfileInput::new(tenant.clone(), ProfileVersion::new(id::<ProfileId>(), 1))
                    .with_binding(
                        ProfileBinding::new(
                            id::<BindingId>(),
                            integration.kind(),
                            connection,
                            target.clone(),
                        )
                        .with_config(binding_config.clone()),
                    );
            match (compile(&registry, &profile), compile(&registry, &profile)) {
                (Ok(first), Ok(second)) => {
                    compiled_once = true;
                    if first.to_canonical_json() != second.to_canonical_json()
                        || first.hash() != second.hash()
                    {
                        problems.push(format!(
                            "binding example {i} with connection method {} compiles to two different plans",
                            method.id
                        ));
                    }
                }
                (Err(a), Err(b)) => {
                    if a.code() != b.code() || a.issues() != b.issues() {
                        problems.push(format!(
                            "binding example {i} with {} fails differently twice",
                            method.id
                        ));
                    }
                    refusals.push(format!(
                        "{}: {}",
                        method.id,
                        a.issues()
                            .first()
                            .map_or_else(|| a.code().to_owned(), ToString::to_string)
                    ));
                }
                _ => problems.push(format!(
                    "binding example {i} with {} compiles only once of two",
                    method.id
                )),
            }
        }
        if !compiled_once {
            problems.push(format!(
                "binding example {i} compiles with no connection method ({})",
                refusals.join("; ")
            ));
        }
    }
    if binding_examples.is_empty() {
        problems.push("the binding config has no example to compile".to_owned());
    }
    outcome(problems)
}
