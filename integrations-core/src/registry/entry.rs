use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use crate::definition::{CONTINUE_TOOL_NAME, ToolDescriptor, ToolPolicy, check_tool_name};
use crate::definition::{ConnectionMethod, ConnectionMethodKind, IntegrationDefinition, Metadata};
use crate::plan::{CredentialSelector, McpConfigTarget};
use crate::provider::Integration;
use crate::schema::{ConfigKind, ConfigSchema, ConfigSpec, Form, FormContext};
use crate::{ConnectionMethodId, DefinitionKey, Error, IntegrationKind, ValidationIssue};

/// A connection method with its compiled config schema.
#[derive(Debug, Clone)]
pub struct RegisteredMethod {
    method: ConnectionMethod,
    config: ConfigSchema,
    default_credential: Option<Arc<CredentialSelector>>,
}

impl RegisteredMethod {
    fn new(method: ConnectionMethod, config: ConfigSchema) -> Self {
        let default_credential = method.default_credential().map(Arc::new);
        Self {
            method,
            config,
            default_credential,
        }
    }

    /// The method.
    pub fn method(&self) -> &ConnectionMethod {
        &self.method
    }

    /// Its compiled config schema.
    pub fn config(&self) -> &ConfigSchema {
        &self.config
    }

    /// A connection's stored config, parsed with this method's schema: the one rule for
    /// every engine that reads one back.
    ///
    /// # Errors
    ///
    /// `auth.connection_config_invalid` (with the issues) when it no longer matches.
    pub(crate) fn parse_stored_config(
        &self,
        config: &serde_json::Value,
    ) -> Result<crate::schema::Parsed, Error> {
        self.config.parse(config).map_err(|issues| {
            crate::codes::auth::CONNECTION_CONFIG_INVALID.with_issues(
                "the connection's config no longer matches its schema",
                issues,
            )
        })
    }

    /// [`ConnectionMethod::default_credential`], made once at registration.
    pub fn default_credential(&self) -> Option<&CredentialSelector> {
        self.default_credential.as_deref()
    }

    /// [`default_credential`](Self::default_credential), shared with every tool context.
    pub(crate) fn shared_default_credential(&self) -> Option<&Arc<CredentialSelector>> {
        self.default_credential.as_ref()
    }
}

/// A tool of a registered integration with its compiled input schema.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RegisteredTool<'a> {
    /// The descriptor.
    pub descriptor: &'a ToolDescriptor,
    /// The compiled input schema, which every call's arguments are validated against.
    pub input: &'a ConfigSchema,
    /// The tool's default policy ([`ToolDescriptor::default_policy`] for its definition's
    /// family), decided once at registration.
    pub default_policy: ToolPolicy,
    /// The name, shared with every call's HTTP client.
    pub(crate) shared_name: &'a Arc<str>,
    /// Its position in the integration's tool catalog.
    pub(crate) index: usize,
}

/// What registration compiles and decides once per tool.
struct CompiledTool {
    input: ConfigSchema,
    default_policy: ToolPolicy,
    name: Arc<str>,
}

/// A registered integration: the integration itself plus everything static about it,
/// read and compiled once.
pub struct RegisteredIntegration {
    integration: Arc<dyn Integration>,
    key: DefinitionKey,
    kind: IntegrationKind,
    metadata: Metadata,
    target_config: ConfigSchema,
    target_secrets: ConfigSchema,
    binding_config: ConfigSchema,
    methods: Vec<RegisteredMethod>,
    tools: Vec<ToolDescriptor>,
    /// In catalog order, beside `tools`.
    compiled_tools: Vec<CompiledTool>,
    mcp_config_target: Option<McpConfigTarget>,
}

impl fmt::Debug for RegisteredIntegration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredIntegration")
            .field("key", &self.key)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Whether `slot` can name a credential: 1 to 64 bytes, none of them whitespace, a
/// control character (a store cannot keep a NUL) or invisible.
fn is_slot(slot: &str) -> bool {
    !slot.is_empty()
        && slot.len() <= 64
        && !slot
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || crate::id::is_invisible(c))
}

fn compile_spec(
    spec: &ConfigSpec,
    path: &str,
    issues: &mut Vec<ValidationIssue>,
) -> Option<ConfigSchema> {
    match spec.compile() {
        Ok(schema) => {
            for (i, example) in spec.examples().iter().enumerate() {
                if !schema.validate(example).is_empty() {
                    issues.push(ValidationIssue::new(
                        crate::codes::issues::registry::INVALID_EXAMPLE,
                        format!("{path}/examples/{i}"),
                        "an example does not validate against its schema",
                    ));
                }
            }
            Some(schema)
        }
        Err(e) => {
            issues.push(ValidationIssue::new(
                crate::codes::issues::registry::SCHEMA_DOES_NOT_COMPILE,
                path.to_owned(),
                e.message().to_owned(),
            ));
            None
        }
    }
}

impl RegisteredIntegration {
    pub(crate) fn build(integration: Arc<dyn Integration>) -> Result<Self, Error> {
        let key = integration.key();
        let kind = integration.kind();
        let metadata = integration.metadata();
        let mut issues = Vec::new();
        for (field, value, code) in [
            (
                "name",
                &metadata.name,
                crate::codes::issues::registry::BLANK_NAME,
            ),
            (
                "description",
                &metadata.description,
                crate::codes::issues::registry::BLANK_DESCRIPTION,
            ),
            (
                "logo_key",
                &metadata.logo_key,
                crate::codes::issues::registry::BLANK_LOGO_KEY,
            ),
            (
                "category",
                &metadata.category,
                crate::codes::issues::registry::BLANK_CATEGORY,
            ),
        ] {
            if value.trim().is_empty() {
                issues.push(ValidationIssue::new(
                    code,
                    format!("/metadata/{field}"),
                    format!("the {field} must not be blank"),
                ));
            }
        }

        let target_config =
            compile_spec(&integration.target_config(), "/target_config", &mut issues);
        let target_secrets = compile_spec(
            &integration.target_secrets(),
            "/target_secrets",
            &mut issues,
        );
        let binding_config = compile_spec(
            &integration.binding_config(),
            "/binding_config",
            &mut issues,
        );

        let methods = integration.connection_methods();
        if methods.is_empty() {
            issues.push(ValidationIssue::new(
                crate::codes::issues::registry::NO_CONNECTION_METHODS,
                "/connection_methods",
                "a definition needs at least one connection method",
            ));
        }
        let mut seen = BTreeSet::new();
        let mut registered_methods = Vec::new();
        for (i, method) in methods.into_iter().enumerate() {
            let path = format!("/connection_methods/{i}");
            if !seen.insert(method.id.clone()) {
                issues.push(ValidationIssue::new(
                    crate::codes::issues::registry::DUPLICATE_METHOD,
                    format!("{path}/id"),
                    format!("the connection method {} is declared twice", method.id),
                ));
            }
            if method.label.trim().is_empty() {
                issues.push(ValidationIssue::new(
                    crate::codes::issues::registry::BLANK_METHOD_LABEL,
                    format!("{path}/label"),
                    "a connection method needs a label",
                ));
            }
            match method.kind {
                ConnectionMethodKind::OAuth2AuthorizationCode
                | ConnectionMethodKind::OAuth2ClientCredentials
                    if method.oauth2.is_none() =>
                {
                    issues.push(ValidationIssue::new(
                        crate::codes::issues::registry::MISSING_OAUTH2,
                        format!("{path}/oauth2"),
                        "an OAuth 2.0 connection method needs its OAuth 2.0 data",
                    ));
                }
                ConnectionMethodKind::OAuth2AuthorizationCode
                | ConnectionMethodKind::OAuth2ClientCredentials => {
                    if let Some(spec) = &method.oauth2 {
                        issues.extend(spec.endpoint_issues(&format!("{path}/oauth2")));
                    }
                }
                ConnectionMethodKind::ApiKey if method.secret_fields.is_empty() => {
                    issues.push(ValidationIssue::new(
                        crate::codes::issues::registry::MISSING_SECRET_FIELDS,
                        format!("{path}/secret_fields"),
                        "an API-key connection method needs at least one secret field",
                    ));
                }
                _ => {}
            }
            let mut secret_names = BTreeSet::new();
            // Each field is stored as the credential of its type and slot, sealed under
            // them: two fields in one place would be two credentials no lookup tells
            // apart.
            let mut credential_places = BTreeSet::new();
            for (j, field) in method.secret_fields.iter().enumerate() {
                if !secret_names.insert(field.name.clone()) {
                    issues.push(ValidationIssue::new(
                        crate::codes::issues::registry::DUPLICATE_SECRET_FIELD,
                        format!("{path}/secret_fields"),
                        format!("the secret field {} is declared twice", field.name),
                    ));
                }
                if let Some(slot) = &field.slot
                    && !is_slot(slot)
                {
                    issues.push(ValidationIssue::new(
                        crate::codes::issues::registry::INVALID_SECRET_SLOT,
                        format!("{path}/secret_fields/{j}/slot"),
                        format!(
                            "the slot of the secret field {} must be 1 to 64 bytes without whitespace, control or invisible characters",
                            field.name
                        ),
                    ));
                }
                if !credential_places.insert((&field.credential_type, field.slot.as_deref())) {
                    issues.push(ValidationIssue::new(
                        crate::codes::issues::registry::DUPLICATE_CREDENTIAL_SLOT,
                        format!("{path}/secret_fields/{j}"),
                        format!(
                            "the secret field {} is stored as the same {} credential{} as another field; give each a slot of its own",
                            field.name,
                            field.credential_type,
                            match &field.slot {
                                Some(_) => " and slot",
                                None => " without a slot",
                            }
                        ),
                    ));
                }
            }
            if let Some(config) =
                compile_spec(&method.config, &format!("{path}/config"), &mut issues)
            {
                registered_methods.push(RegisteredMethod::new(method, config));
            }
        }

        let tools = integration.tool_catalog();
        let mut compiled_tools = Vec::with_capacity(tools.len());
        for (i, tool) in tools.iter().enumerate() {
            let path = format!("/tools/{i}");
            if let Err(e) = check_tool_name(&key, &tool.name) {
                for issue in e.issues() {
                    issues.push(ValidationIssue::new(
                        issue.code.clone(),
                        format!("{path}/name"),
                        e.message().to_owned(),
                    ));
                }
            }
            if tool.name == CONTINUE_TOOL_NAME {
                issues.push(ValidationIssue::new(
                    crate::codes::issues::registry::RESERVED_TOOL_NAME,
                    format!("{path}/name"),
                    format!("the tool name {CONTINUE_TOOL_NAME} is reserved by the tool runtime"),
                ));
            }
            if tool.description.trim().is_empty() {
                issues.push(ValidationIssue::new(
                    crate::codes::issues::registry::BLANK_TOOL_DESCRIPTION,
                    format!("{path}/description"),
                    "a tool needs a description",
                ));
            }
            if tool.input_schema.get("type").and_then(|t| t.as_str()) != Some("object") {
                issues.push(ValidationIssue::new(
                    crate::codes::issues::registry::TOOL_SCHEMA_NOT_OBJECT,
                    format!("{path}/input_schema"),
                    "a tool's input schema must be of type object",
                ));
            }
            match ConfigSpec::from_json_schema(tool.input_schema.clone()).compile() {
                Ok(input) => compiled_tools.push(CompiledTool {
                    input,
                    default_policy: tool.default_policy(key.family()),
                    name: Arc::from(tool.name.as_str()),
                }),
                Err(e) => issues.push(ValidationIssue::new(
                    crate::codes::issues::registry::SCHEMA_DOES_NOT_COMPILE,
                    format!("{path}/input_schema"),
                    e.message().to_owned(),
                )),
            }
            if let Some(output) = &tool.output_schema
                && let Err(e) = ConfigSpec::from_json_schema(output.clone()).compile()
            {
                issues.push(ValidationIssue::new(
                    crate::codes::issues::registry::SCHEMA_DOES_NOT_COMPILE,
                    format!("{path}/output_schema"),
                    e.message().to_owned(),
                ));
            }
        }

        match (target_config, target_secrets, binding_config) {
            (Some(target_config), Some(target_secrets), Some(binding_config))
                if issues.is_empty() =>
            {
                let mcp_config_target = integration.mcp_config_target();
                Ok(Self {
                    integration,
                    key,
                    kind,
                    metadata,
                    target_config,
                    target_secrets,
                    binding_config,
                    methods: registered_methods,
                    tools,
                    compiled_tools,
                    mcp_config_target,
                })
            }
            _ => Err(crate::codes::registry::INVALID_DEFINITION
                .with_issues(format!("the definition {key} is invalid"), issues)),
        }
    }

    /// The integration.
    pub fn integration(&self) -> &Arc<dyn Integration> {
        &self.integration
    }

    /// The integration as its definition half.
    pub fn definition(&self) -> &dyn IntegrationDefinition {
        &*self.integration
    }

    /// `family::variant`.
    pub fn key(&self) -> &DefinitionKey {
        &self.key
    }

    /// The kind.
    pub fn kind(&self) -> IntegrationKind {
        self.kind
    }

    /// The metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The compiled target-config schema.
    pub fn target_config(&self) -> &ConfigSchema {
        &self.target_config
    }

    /// The compiled target-secrets schema.
    pub fn target_secrets(&self) -> &ConfigSchema {
        &self.target_secrets
    }

    /// The compiled binding-config schema.
    pub fn binding_config(&self) -> &ConfigSchema {
        &self.binding_config
    }

    /// The connection methods, in declaration order.
    pub fn methods(&self) -> &[RegisteredMethod] {
        &self.methods
    }

    /// One connection method.
    pub fn method(&self, id: &ConnectionMethodId) -> Option<&RegisteredMethod> {
        self.methods.iter().find(|m| &m.method.id == id)
    }

    /// The tool catalog.
    pub fn tools(&self) -> &[ToolDescriptor] {
        &self.tools
    }

    /// One tool of the catalog, by name, with its compiled input schema.
    pub fn tool(&self, name: &str) -> Option<RegisteredTool<'_>> {
        self.tools
            .iter()
            .zip(&self.compiled_tools)
            .enumerate()
            .find(|(_, (d, _))| d.name == name)
            .map(|(index, (descriptor, compiled))| RegisteredTool {
                descriptor,
                input: &compiled.input,
                default_policy: compiled.default_policy,
                shared_name: &compiled.name,
                index,
            })
    }

    /// Where the profile's MCP servers are written, for agent definitions.
    pub fn mcp_config_target(&self) -> Option<&McpConfigTarget> {
        self.mcp_config_target.as_ref()
    }

    /// The compiled schema of one of the configs.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) `registry.unknown_method` for a
    /// connection method the definition does not have.
    pub fn schema(&self, kind: &ConfigKind) -> Result<&ConfigSchema, Error> {
        match kind {
            ConfigKind::TargetConfig => Ok(&self.target_config),
            ConfigKind::TargetSecrets => Ok(&self.target_secrets),
            ConfigKind::BindingConfig => Ok(&self.binding_config),
            ConfigKind::ConnectionConfig(method) => self
                .method(method)
                .map(RegisteredMethod::config)
                .ok_or_else(|| {
                    crate::codes::registry::UNKNOWN_METHOD
                        .error(format!("{} has no connection method {method}", self.key))
                }),
            #[allow(unreachable_patterns)]
            _ => Err(crate::codes::registry::UNKNOWN_CONFIG.error("unknown config kind")),
        }
    }

    /// The form of one of the configs, narrowed for its context by the definition.
    ///
    /// # Errors
    ///
    /// As [`schema`](Self::schema).
    pub fn form(&self, kind: &ConfigKind, context: &FormContext<'_>) -> Result<Form, Error> {
        let schema = self.schema(kind)?;
        let mut form = Form::from_spec(schema.spec());
        self.integration.narrow_form(kind, context, &mut form);
        Ok(form)
    }
}
