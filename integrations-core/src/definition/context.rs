use crate::model::{Connection, ProfileVersion, Target};
use crate::plan::SandboxPaths;
use crate::schema::Parsed;
use crate::{BindingId, IntegrationKind, TenantId};

/// A target with its parsed config. Target secrets are deliberately absent: validation
/// and compilation never see secrets, so a compiled plan cannot contain one.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TargetView<'a> {
    /// The target record.
    pub target: &'a Target,
    /// Its config, parsed with the definition's target-config spec.
    pub config: &'a Parsed,
}

impl<'a> TargetView<'a> {
    /// A view.
    pub fn new(target: &'a Target, config: &'a Parsed) -> Self {
        Self { target, config }
    }
}

/// A connection with its parsed config.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ConnectionView<'a> {
    /// The connection record.
    pub connection: &'a Connection,
    /// Its config, parsed with its method's spec.
    pub config: &'a Parsed,
}

impl<'a> ConnectionView<'a> {
    /// A view.
    pub fn new(connection: &'a Connection, config: &'a Parsed) -> Self {
        Self { connection, config }
    }
}

/// What [`validate_binding`](super::IntegrationDefinition::validate_binding) sees. The
/// same context is built at write time and at compile time, so the two can never
/// disagree.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct BindingContext<'a> {
    /// The target.
    pub target: TargetView<'a>,
    /// The connection.
    pub connection: ConnectionView<'a>,
    /// The binding's kind.
    pub kind: IntegrationKind,
    /// The binding config, parsed with the definition's binding-config spec.
    pub binding_config: &'a Parsed,
}

impl<'a> BindingContext<'a> {
    /// A context.
    pub fn new(
        target: TargetView<'a>,
        connection: ConnectionView<'a>,
        kind: IntegrationKind,
        binding_config: &'a Parsed,
    ) -> Self {
        Self {
            target,
            connection,
            kind,
            binding_config,
        }
    }
}

/// What [`compile_binding`](super::IntegrationDefinition::compile_binding) and
/// [`mcp_servers`](super::IntegrationDefinition::mcp_servers) see.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CompileInput<'a> {
    /// The tenant.
    pub tenant: &'a TenantId,
    /// The profile version being compiled.
    pub profile: &'a ProfileVersion,
    /// The binding's id.
    pub binding: &'a BindingId,
    /// The validated binding context.
    pub context: BindingContext<'a>,
    /// Fixed paths inside the sandbox.
    pub sandbox: &'a SandboxPaths,
}

impl<'a> CompileInput<'a> {
    /// An input.
    pub fn new(
        tenant: &'a TenantId,
        profile: &'a ProfileVersion,
        binding: &'a BindingId,
        context: BindingContext<'a>,
        sandbox: &'a SandboxPaths,
    ) -> Self {
        Self {
            tenant,
            profile,
            binding,
            context,
            sandbox,
        }
    }

    /// The target config.
    pub fn target_config(&self) -> &'a Parsed {
        self.context.target.config
    }

    /// The connection config.
    pub fn connection_config(&self) -> &'a Parsed {
        self.context.connection.config
    }

    /// The binding config.
    pub fn binding_config(&self) -> &'a Parsed {
        self.context.binding_config
    }

    /// The connection record.
    pub fn connection(&self) -> &'a Connection {
        self.context.connection.connection
    }
}
