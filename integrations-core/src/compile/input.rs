//! What the compiler reads: a profile version and its bindings, each with the connection
//! and target it uses. Built in code, read from a JSON profile document, or loaded from
//! the host's stores.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::host::Host;
use crate::loaded::Loader;
use crate::model::{Connection, ConnectionStatus, ProfileVersion, Target};
use crate::plan::SandboxPaths;
use crate::{
    BindingId, ConnectionId, ConnectionMethodId, DefinitionKey, Error, IntegrationKind, IssueCode,
    ProfileId, Registry, TargetId, TenantId, Timestamp, ValidationIssue, escape_pointer_token,
};

/// One binding to compile, with the records it uses. The target's secrets, if the record
/// holds any, are never read: compilation sees configs only.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProfileBinding {
    /// The binding's id.
    pub id: BindingId,
    /// Its kind; must equal its definition's.
    pub kind: IntegrationKind,
    /// The binding config as written.
    pub config: Value,
    /// The connection it uses.
    pub connection: Connection,
    /// The connection's target.
    pub target: Target,
}

impl ProfileBinding {
    /// A binding with config `{}`.
    pub fn new(
        id: BindingId,
        kind: IntegrationKind,
        connection: Connection,
        target: Target,
    ) -> Self {
        Self {
            id,
            kind,
            config: Value::Object(serde_json::Map::new()),
            connection,
            target,
        }
    }

    /// Sets the binding config.
    #[must_use]
    pub fn with_config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }
}

/// A profile version to compile: the tenant, the profile version, the sandbox paths and
/// the bindings (in any order: the plan does not depend on it).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProfileInput {
    /// The tenant; every record must belong to it.
    pub tenant: TenantId,
    /// The profile version.
    pub profile: ProfileVersion,
    /// Paths inside the sandbox.
    pub sandbox: SandboxPaths,
    /// The bindings.
    pub bindings: Vec<ProfileBinding>,
}

impl ProfileInput {
    /// A profile with no bindings and the default sandbox paths.
    pub fn new(tenant: TenantId, profile: ProfileVersion) -> Self {
        Self {
            tenant,
            profile,
            sandbox: SandboxPaths::default(),
            bindings: Vec::new(),
        }
    }

    /// Sets the sandbox paths.
    #[must_use]
    pub fn with_sandbox(mut self, sandbox: SandboxPaths) -> Self {
        self.sandbox = sandbox;
        self
    }

    /// Adds a binding.
    #[must_use]
    pub fn with_binding(mut self, binding: ProfileBinding) -> Self {
        self.bindings.push(binding);
        self
    }

    /// Reads a profile document (the format `integrations compile profile.json` reads;
    /// see the README):
    ///
    /// ```
    /// use integrations_core::compile::ProfileInput;
    ///
    /// let profile = ProfileInput::from_json(r#"{
    ///   "tenant": "acme",
    ///   "profile": "sandbox",
    ///   "version": 3,
    ///   "targets": [{"id": "slack", "key": "slack::slack-default"}],
    ///   "connections": [{"id": "slack-bot", "target": "slack", "method": "api-key"}],
    ///   "bindings": [{"id": "chat", "kind": "connector", "connection": "slack-bot"}]
    /// }"#)?;
    /// assert_eq!(profile.bindings[0].target.id.as_str(), "slack");
    /// # Ok::<(), integrations_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)
    /// (`compile.invalid_document`) when the text is not a valid document (the message
    /// names the line and never quotes a value), or with issues
    /// `compile.duplicate_id` and `compile.unknown_reference` when ids repeat or a
    /// reference names no record.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let document: Document = serde_json::from_str(text).map_err(|e| document_error(&e))?;
        document.resolve()
    }

    /// As [`from_json`](Self::from_json), from a parsed JSON value.
    ///
    /// # Errors
    ///
    /// As [`from_json`](Self::from_json).
    pub fn from_value(value: &Value) -> Result<Self, Error> {
        let document = Document::deserialize(value).map_err(|e| document_error(&e))?;
        document.resolve()
    }

    /// Loads a profile version's bindings from the host's stores, with their connections
    /// and targets: the first half of [`load_with`](Self::load_with)'s lookup (records
    /// are read and matched here; without a registry, the definitions are looked up, and
    /// the targets checked, when the profile compiles).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`compile.invalid`)
    /// with issues `binding.connection_not_found`, `binding.target_not_found` and
    /// `binding.connection_mismatch` for every binding whose records are missing or
    /// mismatched; storage errors.
    pub async fn load(
        host: &Host,
        tenant: &TenantId,
        profile: &ProfileVersion,
    ) -> Result<Self, Error> {
        let loader = Loader::new(Arc::new(Registry::new()), host.clone());
        Self::load_records(&loader, tenant, profile, false).await
    }

    /// Loads a profile version's bindings with their connections and targets through
    /// `loader`, the start-up lookup every engine runs: the same reads, and the same
    /// checks of each target (it exists, is of its connection's definition, is enabled,
    /// its definition is registered, its config parses, in the loader's per-version
    /// cache). Every binding is looked at; what the lookup refuses becomes an issue of
    /// that binding (under `/bindings/<id>/connection`) rather than ending the load:
    ///
    /// | the lookup's error | the binding's issue |
    /// |---|---|
    /// | `auth.connection_not_found` | `binding.connection_not_found` |
    /// | `auth.target_not_found` | `binding.target_not_found` |
    /// | `auth.target_mismatch` | `binding.connection_mismatch` |
    /// | `auth.target_disabled` | `binding.target_disabled` |
    /// | `registry.unknown_definition` | `binding.unknown_definition` |
    ///
    /// A target config that no longer parses is reported once, where compile reports it:
    /// `binding.invalid_target_config` at `/targets/<id>/config`, with each schema issue
    /// under it. The rest of each binding (its connection's state and config, its own
    /// config) is checked when the profile compiles, by the checks a binding gets when it
    /// is written.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`compile.invalid`)
    /// with the issues above for every binding whose records the lookup refuses; storage
    /// errors.
    pub async fn load_with(
        loader: &Loader,
        tenant: &TenantId,
        profile: &ProfileVersion,
    ) -> Result<Self, Error> {
        Self::load_records(loader, tenant, profile, true).await
    }

    /// [`load_with`](Self::load_with); the targets' second half of the lookup only when
    /// `check_targets`.
    async fn load_records(
        loader: &Loader,
        tenant: &TenantId,
        profile: &ProfileVersion,
        check_targets: bool,
    ) -> Result<Self, Error> {
        let bindings = loader
            .host()
            .bindings()
            .list_bindings(tenant, profile)
            .await?;
        // Each record is read and checked once, whatever number of bindings use it;
        // what the lookup refused is kept as the issue it becomes.
        let mut connections: BTreeMap<ConnectionId, Result<Connection, Refused>> = BTreeMap::new();
        let mut targets: BTreeMap<ConnectionId, Result<Arc<Target>, Refused>> = BTreeMap::new();
        let mut checked: BTreeMap<TargetId, Checked> = BTreeMap::new();
        let mut issues = Vec::new();
        let mut input = Self::new(tenant.clone(), profile.clone());
        for binding in bindings {
            let at = format!(
                "/bindings/{}/connection",
                escape_pointer_token(binding.id.as_str())
            );
            if !connections.contains_key(&binding.connection) {
                let found = refused(loader.stored_connection(tenant, &binding.connection).await)?;
                connections.insert(binding.connection.clone(), found);
            }
            let connection = match &connections[&binding.connection] {
                Ok(connection) => connection,
                Err(refused) => {
                    issues.push(refused.issue(at));
                    continue;
                }
            };
            if !targets.contains_key(&connection.id) {
                let found = refused(loader.stored_target_of(connection).await)?;
                targets.insert(connection.id.clone(), found);
            }
            let target = match &targets[&connection.id] {
                Ok(target) => target,
                Err(refused) => {
                    issues.push(refused.issue(at));
                    continue;
                }
            };
            if check_targets && !checked.contains_key(&target.id) {
                let check = check(loader, target, &mut issues)?;
                checked.insert(target.id.clone(), check);
            }
            match checked.get(&target.id) {
                Some(Checked::Refused(refused)) => issues.push(refused.issue(at)),
                Some(Checked::Reported) => {}
                Some(Checked::Passed) | None => input.bindings.push(
                    ProfileBinding::new(
                        binding.id,
                        binding.kind,
                        connection.clone(),
                        Target::clone(target),
                    )
                    .with_config(binding.config),
                ),
            }
        }
        if issues.is_empty() {
            Ok(input)
        } else {
            Err(crate::codes::compile::INVALID.with_issues(
                "some bindings of the profile refer to records that do not exist, do not match or cannot be used",
                issues,
            ))
        }
    }
}

/// What the second half of the lookup said about a target.
enum Checked {
    /// The target can be used.
    Passed,
    /// The lookup refused it: an issue of each binding that uses it.
    Refused(Refused),
    /// Its config does not parse: reported once, at the target.
    Reported,
}

/// The second half of the lookup for `target`; a config that does not parse is reported
/// into `issues` at `/targets/<id>/config`, its schema issues under it.
fn check(
    loader: &Loader,
    target: &Arc<Target>,
    issues: &mut Vec<ValidationIssue>,
) -> Result<Checked, Error> {
    let Err(error) = loader.check_target(target) else {
        return Ok(Checked::Passed);
    };
    if error.code() == crate::codes::auth::TARGET_CONFIG_INVALID {
        let at = format!(
            "/targets/{}/config",
            escape_pointer_token(target.id.as_str())
        );
        issues.push(crate::codes::issues::binding::INVALID_TARGET_CONFIG.issue(
            at.clone(),
            "the target's config is invalid; the bindings that use it cannot compile",
        ));
        issues.extend(error.issues().iter().map(|i| i.clone().under(&at)));
        return Ok(Checked::Reported);
    }
    match refused::<()>(Err(error))? {
        Ok(()) => Ok(Checked::Passed),
        Err(refused) => Ok(Checked::Refused(refused)),
    }
}

/// A record the loader refused, as the issue of each binding that uses it.
#[derive(Clone, Copy)]
struct Refused {
    code: IssueCode,
    message: &'static str,
}

impl Refused {
    fn issue(self, at: String) -> ValidationIssue {
        self.code.issue(at, self.message)
    }
}

/// What the loader answered, a refusal it names by code turned into a [`Refused`]; any
/// other error (a storage failure) ends the load.
fn refused<T>(found: Result<T, Error>) -> Result<Result<T, Refused>, Error> {
    use crate::codes::auth;
    use crate::codes::issues::binding;
    let error = match found {
        Ok(record) => return Ok(Ok(record)),
        Err(error) => error,
    };
    let (code, message) = match error.code() {
        c if c == auth::CONNECTION_NOT_FOUND => (
            binding::CONNECTION_NOT_FOUND,
            "the connection does not exist",
        ),
        c if c == auth::TARGET_NOT_FOUND => (
            binding::TARGET_NOT_FOUND,
            "the connection's target does not exist",
        ),
        c if c == auth::TARGET_MISMATCH => (
            binding::CONNECTION_MISMATCH,
            "the connection's target belongs to another definition",
        ),
        c if c == auth::TARGET_DISABLED => (
            binding::TARGET_DISABLED,
            "the connection's target is disabled",
        ),
        c if c == crate::codes::registry::UNKNOWN_DEFINITION => (
            binding::UNKNOWN_DEFINITION,
            "no integration is registered under the target's key",
        ),
        _ => return Err(error),
    };
    Ok(Err(Refused { code, message }))
}

/// A serde error's message without the values it may quote.
fn document_error(e: &serde_json::Error) -> Error {
    let message = if e.is_data() {
        // The message names the refused value or key (it may be a secret pasted into
        // the wrong field): masked; serde's own position is kept.
        format!(
            "the profile document is not valid: {}",
            crate::schema::mask_quoted(&e.to_string())
        )
    } else {
        format!(
            "the profile document is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        )
    };
    crate::codes::compile::INVALID_DOCUMENT.error(message)
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    tenant: TenantId,
    profile: ProfileId,
    version: u64,
    #[serde(default)]
    sandbox: SandboxPaths,
    #[serde(default)]
    targets: Vec<TargetDocument>,
    #[serde(default)]
    connections: Vec<ConnectionDocument>,
    #[serde(default)]
    bindings: Vec<BindingDocument>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetDocument {
    id: TargetId,
    key: DefinitionKey,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default = "empty_object")]
    config: Value,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "snake_case")]
enum StatusDocument {
    #[default]
    Active,
    Error,
    Revoked,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionDocument {
    id: ConnectionId,
    target: TargetId,
    method: ConnectionMethodId,
    #[serde(default)]
    status: StatusDocument,
    #[serde(default)]
    status_reason: Option<String>,
    #[serde(default)]
    external_subject: Option<String>,
    #[serde(default = "empty_object")]
    config: Value,
    #[serde(default)]
    granted_scopes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingDocument {
    id: BindingId,
    kind: IntegrationKind,
    connection: ConnectionId,
    #[serde(default = "empty_object")]
    config: Value,
}

impl Document {
    fn resolve(self) -> Result<ProfileInput, Error> {
        let now = Timestamp::UNIX_EPOCH;
        let mut issues = Vec::new();
        let mut targets: BTreeMap<TargetId, Target> = BTreeMap::new();
        for doc in self.targets {
            let mut target = Target::new(self.tenant.clone(), doc.id.clone(), doc.key, now);
            target.enabled = doc.enabled;
            target.display_name = doc.display_name;
            target.config = doc.config;
            let at = format!("/targets/{}/id", escape_pointer_token(doc.id.as_str()));
            if targets.insert(doc.id, target).is_some() {
                issues.push(ValidationIssue::new(
                    crate::codes::issues::compile::DUPLICATE_ID,
                    at,
                    "another target has this id",
                ));
            }
        }
        let mut connections: BTreeMap<ConnectionId, Connection> = BTreeMap::new();
        for doc in self.connections {
            let Some(target) = targets.get(&doc.target) else {
                issues.push(ValidationIssue::new(
                    crate::codes::issues::compile::UNKNOWN_REFERENCE,
                    format!(
                        "/connections/{}/target",
                        escape_pointer_token(doc.id.as_str())
                    ),
                    "no target of the document has this id",
                ));
                continue;
            };
            let mut connection = Connection::new(
                self.tenant.clone(),
                doc.id.clone(),
                doc.target,
                target.key.clone(),
                doc.method,
                now,
            );
            let reason = doc.status_reason.unwrap_or_default();
            connection.status = match doc.status {
                StatusDocument::Active => ConnectionStatus::Active,
                StatusDocument::Error => ConnectionStatus::Error { reason },
                StatusDocument::Revoked => ConnectionStatus::Revoked { reason },
            };
            connection.external_subject = doc.external_subject;
            connection.config = doc.config;
            connection.granted_scopes = doc.granted_scopes;
            let at = format!("/connections/{}/id", escape_pointer_token(doc.id.as_str()));
            if connections.insert(doc.id, connection).is_some() {
                issues.push(ValidationIssue::new(
                    crate::codes::issues::compile::DUPLICATE_ID,
                    at,
                    "another connection has this id",
                ));
            }
        }
        let mut input = ProfileInput::new(
            self.tenant.clone(),
            ProfileVersion::new(self.profile, self.version),
        )
        .with_sandbox(self.sandbox);
        let mut seen = BTreeSet::new();
        for doc in self.bindings {
            if !seen.insert(doc.id.clone()) {
                issues.push(ValidationIssue::new(
                    crate::codes::issues::compile::DUPLICATE_ID,
                    format!("/bindings/{}/id", escape_pointer_token(doc.id.as_str())),
                    "another binding has this id",
                ));
            }
            let Some(connection) = connections.get(&doc.connection) else {
                issues.push(ValidationIssue::new(
                    crate::codes::issues::compile::UNKNOWN_REFERENCE,
                    format!(
                        "/bindings/{}/connection",
                        escape_pointer_token(doc.id.as_str())
                    ),
                    "no connection of the document has this id",
                ));
                continue;
            };
            let Some(target) = targets.get(&connection.target) else {
                continue;
            };
            input.bindings.push(
                ProfileBinding::new(doc.id, doc.kind, connection.clone(), target.clone())
                    .with_config(doc.config),
            );
        }
        if issues.is_empty() {
            Ok(input)
        } else {
            Err(crate::codes::compile::INVALID_DOCUMENT.with_issues(
                "the profile document has duplicate ids or references to missing records",
                issues,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_never_quote_values() {
        let err = ProfileInput::from_json(
            r#"{"tenant": "acme", "profile": "p", "version": "sk-SECRET-123"}"#,
        )
        .unwrap_err();
        assert_eq!(err.code(), "compile.invalid_document");
        assert!(!err.to_string().contains("SECRET"), "{err}");
        let err = ProfileInput::from_json("{\"tenant\": ").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let err =
            ProfileInput::from_json(r#"{"tenant": "acme", "profile": "p", "version": 1, "x": 1}"#)
                .unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown field …, expected one of `tenant`"),
            "{err}"
        );
        assert!(err.to_string().contains("line 1 column 52"), "{err}");
    }

    /// serde names a refused value or key between backticks, and quotes strings with
    /// their escapes: none of it reaches the message (a token pasted into the wrong field
    /// of a profile is not printed back).
    #[test]
    fn values_in_backticks_or_after_escaped_quotes_are_not_quoted_either() {
        for document in [
            r#"{"tenant": "acme", "profile": "p", "version": 1,
                "targets": [{"id": "t", "key": "slack::slack-default"}],
                "connections": [{"id": "c", "target": "t", "method": "api-key", "status": "xoxb-1234-SECRETTOKEN"}]}"#,
            r#"{"tenant": "acme", "profile": "p", "version": 1,
                "targets": [{"id": "t", "key": "slack::slack-default"}],
                "connections": [{"id": "c", "target": "t", "method": "api-key", "granted_scopes": "a\"xoxb-1234-SECRETTOKEN"}]}"#,
            r#"{"tenant": "acme", "profile": "p", "version": 1, "xoxb-1234-SECRETTOKEN": 1}"#,
        ] {
            let err = ProfileInput::from_json(document).unwrap_err();
            assert_eq!(err.code(), "compile.invalid_document");
            integrations_testkit::assert_secret_free(&err, "SECRETTOKEN");
            assert!(err.to_string().contains("line "), "{err}");
            let value: Value = serde_json::from_str(document).unwrap();
            let err = ProfileInput::from_value(&value).unwrap_err();
            integrations_testkit::assert_secret_free(&err, "SECRETTOKEN");
        }
    }

    #[test]
    fn references_are_resolved_and_checked() {
        let err = ProfileInput::from_json(
            r#"{"tenant": "acme", "profile": "p", "version": 1,
                "targets": [{"id": "t", "key": "slack::slack-default"}, {"id": "t", "key": "slack::slack-default"}],
                "connections": [{"id": "c", "target": "nope", "method": "api-key"}],
                "bindings": [{"id": "b", "kind": "connector", "connection": "c"}]}"#,
        )
        .unwrap_err();
        let got: Vec<(&str, &str)> = err
            .issues()
            .iter()
            .map(|i| (i.code.as_str(), i.path.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("compile.duplicate_id", "/targets/t/id"),
                ("compile.unknown_reference", "/connections/c/target"),
                ("compile.unknown_reference", "/bindings/b/connection"),
            ]
        );
    }

    #[test]
    fn defaults_make_short_documents() {
        let input = ProfileInput::from_json(
            r#"{"tenant": "acme", "profile": "p", "version": 2,
                "targets": [{"id": "t", "key": "slack::slack-default", "enabled": false}],
                "connections": [{"id": "c", "target": "t", "method": "api-key", "status": "revoked", "status_reason": "rotated"}],
                "bindings": [{"id": "b", "kind": "connector", "connection": "c", "config": {"default_channel": "C1"}}]}"#,
        )
        .unwrap();
        let b = &input.bindings[0];
        assert!(!b.target.enabled);
        assert_eq!(b.connection.key.as_str(), "slack::slack-default");
        assert_eq!(b.connection.status.as_str(), "revoked");
        assert_eq!(b.config["default_channel"], "C1");
        assert_eq!(input.sandbox, SandboxPaths::default());
        assert_eq!(input.profile.version, 2);
    }

    #[test]
    fn sandbox_paths_are_checked_and_unknown_ones_refused() {
        let typo = ProfileInput::from_json(
            r#"{"tenant": "acme", "profile": "p", "version": 1, "sandbox": {"hom": "/x"}}"#,
        )
        .unwrap_err();
        assert_eq!(typo.code(), "compile.invalid_document");

        let input = ProfileInput::from_json(
            r#"{"tenant": "acme", "profile": "p", "version": 1,
                "sandbox": {"home": "home/sandbox", "projects": "/home/sandbox/../etc",
                            "runtime_data": "/a//b", "bin": "/usr/local/bin"}}"#,
        )
        .unwrap();
        let error = crate::compile::compile(&crate::registry::Registry::new(), &input).unwrap_err();
        let issues: Vec<(&str, &str)> = error
            .issues()
            .iter()
            .map(|i| (i.code.as_str(), i.path.as_str()))
            .collect();
        assert_eq!(
            issues,
            [
                ("compile.invalid_sandbox_path", "/sandbox/home"),
                ("compile.invalid_sandbox_path", "/sandbox/projects"),
                ("compile.invalid_sandbox_path", "/sandbox/runtime_data"),
            ]
        );
        let fine =
            ProfileInput::from_json(r#"{"tenant": "acme", "profile": "p", "version": 1}"#).unwrap();
        assert!(crate::compile::compile(&crate::registry::Registry::new(), &fine).is_ok());
    }
}
