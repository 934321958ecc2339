//! [`Runtime`]: validates, decides policy, checks capabilities, executes, trims and
//! audits tool calls, and never panics.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;

use super::continuation::Continuations;
use super::manifest::applies;
use super::panic::{CatchPanic, Panicked};
use super::{
    ApprovalId, CONTINUE_TOOL_NAME, CallContext, Manifest, PolicyDecision, PolicySet, PolicySource,
    Session, ToolContext, ToolDescriptor, ToolHttp, ToolPolicy, ToolResult,
};
use crate::credential::CredentialSource;
use crate::host::{AuditAction, AuditEventRef, AuditOutcome, Host};
use crate::loaded::Loader;
use crate::model::{Connection, Publication, PublicationRefusal, Target};
use crate::provider::tools::{CallParts, ConnectionParts};
use crate::registry::{RegisteredIntegration, RegisteredTool};
use crate::{ConnectionId, DefinitionKey, Error, ErrorKind, Registry, UserId};

/// The default size budget of a result: the JSON of its structured content, in bytes.
pub const DEFAULT_RESULT_BUDGET: usize = 24 * 1024;

/// How long an approval request can be approved, by default.
pub const DEFAULT_APPROVAL_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long the pages of an approved call's trimmed result wait for their first read, by
/// default: 65 minutes, past the hour the MCP server keeps the result for the agent's
/// retry (which starts once the call and its audit are done); other results' pages wait
/// 15 minutes.
pub const DEFAULT_APPROVED_PAGES_TTL: Duration = Duration::from_secs(65 * 60);

/// Runs tool calls for agents.
///
/// [`call`](Self::call), in order: finds the connection (in the caller's tenant) and the
/// tool its integration offers; validates the arguments against the tool's compiled input
/// schema (every bad field named by JSON Pointer, no value echoed); decides the policy
/// (workspace overrides, then the tool's default): `block` refuses, `ask` stores an
/// [`ApprovalRequest`](super::ApprovalRequest) and returns it, `auto` runs; checks that the publication grants the
/// tool's capability (in scope, not expired, through this connection); runs the tool with
/// a [`ToolContext`] whose HTTP carries the connection's credential (one refresh and
/// retry when the provider refuses it); trims the result to the size budget with a
/// continuation cursor; audits every decision and call. Every failure, a panicking tool
/// included, comes back as an error result with a stable code.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use integrations_core::credential::CredentialSource;
/// # use integrations_core::host::Host;
/// # use integrations_core::tools::{CallContext, Runtime, Session};
/// # use integrations_core::{ConnectionId, Registry, TenantId, WorkspaceId};
/// # async fn run(registry: Arc<Registry>, host: Host, tokens: Arc<dyn CredentialSource>) -> Result<(), integrations_core::Error> {
/// let runtime = Runtime::new(registry, host, tokens);
/// let session = Session::new(TenantId::new("acme")?, WorkspaceId::new("eng")?);
/// let call = CallContext::new(session, ConnectionId::new("linear-1")?);
/// let result = runtime
///     .call("linear_list_teams", serde_json::json!({}), &call)
///     .await;
/// println!("{}", result.to_mcp());
/// # Ok(()) }
/// ```
pub struct Runtime {
    pub(super) registry: Arc<Registry>,
    /// Shared with every call's [`ToolHttp`] (a clone is one reference count).
    pub(super) host: Host,
    pub(super) credentials: Arc<dyn CredentialSource>,
    /// `None` until [`with_policies`](Self::with_policies): then every tool has its
    /// default policy, decided without a call.
    pub(super) policies: Option<Arc<dyn PolicySource>>,
    pub(super) result_budget: usize,
    pub(super) approval_ttl: Duration,
    pub(super) continuations: Continuations,
    pub(super) loader: Loader,
    /// The connection parts of tool contexts, by connection.
    contexts: ConnectionPartsCache,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("registry", &self.registry)
            .field("result_budget", &self.result_budget)
            .field("approval_ttl", &self.approval_ttl)
            .finish_non_exhaustive()
    }
}

/// What the checks before execution established.
pub(super) struct Prepared<'r> {
    pub(super) entry: &'r Arc<RegisteredIntegration>,
    pub(super) tool: RegisteredTool<'r>,
    pub(super) connection: Arc<Connection>,
    pub(super) decision: PolicyDecision,
    pub(super) publication: Option<Arc<Publication>>,
}

/// The details of an audit record about a call, on the stack: its workspace, the
/// caller's pairs (at most four), then the approval's ids when it runs by approval.
pub(super) struct CallDetail<'a> {
    pairs: [(&'a str, &'a str); 7],
    len: usize,
}

impl<'a> CallDetail<'a> {
    pub(super) fn new<const N: usize>(
        context: &'a CallContext,
        given: [(&'a str, &'a str); N],
        approved: Option<&Approved<'a>>,
    ) -> Self {
        Self::in_session(&context.session, given, approved)
    }

    /// The details of a call in `session`, whose connection may not be known.
    pub(super) fn in_session<const N: usize>(
        session: &'a Session,
        given: [(&'a str, &'a str); N],
        approved: Option<&Approved<'a>>,
    ) -> Self {
        const { assert!(N <= 4, "at most four pairs") };
        let mut pairs = [("", ""); 7];
        pairs[0] = ("workspace", session.workspace.as_str());
        pairs[1..=N].copy_from_slice(&given);
        let mut len = N + 1;
        if let Some(approved) = approved {
            pairs[len] = ("approval_id", approved.id.as_str());
            pairs[len + 1] = ("approved_by", approved.by.as_str());
            len += 2;
        }
        Self { pairs, len }
    }

    fn as_slice(&self) -> &[(&'a str, &'a str)] {
        &self.pairs[..self.len]
    }
}

/// An approval being carried out: who approved which request.
pub(super) struct Approved<'a> {
    pub(super) id: &'a ApprovalId,
    pub(super) by: &'a UserId,
}

impl Runtime {
    /// The parts of the host the tool runtime uses; a host can check them at start-up with
    /// [`Host::require`].
    pub const HOST_PARTS: &'static [crate::host::HostPart] = &[
        crate::host::HostPart::Targets,
        crate::host::HostPart::Connections,
        crate::host::HostPart::Credentials,
        crate::host::HostPart::Http,
        crate::host::HostPart::Approvals,
        crate::host::HostPart::Publications,
        crate::host::HostPart::Continuations,
    ];

    /// A runtime over `registry` and `host`, taking credentials from `credentials` (the
    /// token manager), with no policy overrides, a [`DEFAULT_RESULT_BUDGET`] and a
    /// [`DEFAULT_APPROVAL_TTL`].
    ///
    /// # Host
    ///
    /// Uses the targets and connections stores, the HTTP client, the cipher, the clock and
    /// the audit sink for every call; the approval store for `ask` tools, the publication
    /// store for calls through a publication, the continuation store for results past the
    /// budget. A part the host was built without fails the call that needs it with
    /// `host.part_missing`.
    pub fn new(
        registry: Arc<Registry>,
        host: Host,
        credentials: Arc<dyn CredentialSource>,
    ) -> Self {
        Self {
            loader: Loader::new(Arc::clone(&registry), host.clone()),
            contexts: ConnectionPartsCache::default(),
            registry,
            host,
            credentials,
            policies: None,
            result_budget: DEFAULT_RESULT_BUDGET,
            approval_ttl: DEFAULT_APPROVAL_TTL,
            continuations: Continuations::new(
                Duration::from_secs(15 * 60),
                DEFAULT_APPROVED_PAGES_TTL,
            ),
        }
    }

    /// Reads workspace policy overrides from `policies`.
    #[must_use]
    pub fn with_policies(mut self, policies: Arc<dyn PolicySource>) -> Self {
        self.policies = Some(policies);
        self
    }

    /// Sets the result budget: the most bytes of JSON a result's structured content may
    /// have before it is split into pages (at least 256).
    #[must_use]
    pub fn with_result_budget(mut self, bytes: usize) -> Self {
        self.result_budget = bytes.max(256);
        self
    }

    /// Sets how long the pages of an approved call's trimmed result wait for their first
    /// read ([`DEFAULT_APPROVED_PAGES_TTL`] by default). Keep it at least as long as the
    /// host keeps the call's result for the agent's retry, or the retry gets the first
    /// page and a cursor to pages gone.
    #[must_use]
    pub fn with_approved_pages_ttl(mut self, ttl: Duration) -> Self {
        self.continuations.approved_ttl = ttl;
        self
    }

    /// Sets how long an approval request can be approved.
    #[must_use]
    pub fn with_approval_ttl(mut self, ttl: Duration) -> Self {
        self.approval_ttl = ttl;
        self
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The host (stores, clock, sinks) the runtime works with.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Calls the tool `name` with `arguments`, as described on [`Runtime`].
    pub async fn call(&self, name: &str, arguments: Value, context: &CallContext) -> ToolResult {
        // The paths off the common one (continuations, approvals) run boxed, so the
        // future of every call stays small: it is moved whole on each await.
        if name == CONTINUE_TOOL_NAME {
            return Box::pin(self.continue_tool(arguments, context)).await;
        }
        let mut arguments = arguments;
        let prepared = match self.prepare(name, &mut arguments, context, None).await {
            Ok(prepared) => prepared,
            Err(result) => return *result,
        };
        match prepared.decision.policy {
            ToolPolicy::Ask => Box::pin(self.request_approval(&prepared, arguments, context)).await,
            _ => self.execute(&prepared, arguments, context, None).await,
        }
    }

    /// [`call`](Self::call) for a call whose policy the caller expects to be `ask`: it
    /// stores the approval request and answers it (or the failure that refused the call,
    /// audited), and never runs the tool. When the policy decided now is not `ask`,
    /// nothing is stored or run, and the arguments come back (`Err`) for
    /// [`call`](Self::call), which decides and audits anew (the policy decision is then
    /// recorded twice). So a host can finish asking
    /// in a task of its own after its caller stopped waiting (a stored request it does
    /// not keep track of would be lost), without a tool ever running unseen.
    ///
    /// # Errors
    ///
    /// The arguments, when the policy is not `ask` (the reserved continuation tool
    /// included).
    pub async fn ask(
        &self,
        name: &str,
        arguments: Value,
        context: &CallContext,
    ) -> Result<ToolResult, Value> {
        if name == CONTINUE_TOOL_NAME {
            return Err(arguments);
        }
        let mut arguments = arguments;
        let prepared = match self.prepare(name, &mut arguments, context, None).await {
            Ok(prepared) => prepared,
            Err(result) => return Ok(*result),
        };
        if prepared.decision.policy == ToolPolicy::Ask {
            Ok(Box::pin(self.request_approval(&prepared, arguments, context)).await)
        } else {
            Err(arguments)
        }
    }

    /// The tools the agent of `session` sees: see [`Manifest`]. Connections whose target
    /// is missing or disabled are left out.
    ///
    /// # Errors
    ///
    /// Storage errors, and the policy source's errors.
    pub async fn manifest(&self, session: &Session) -> Result<Manifest, Error> {
        let connections = self
            .host
            .connections()
            .list_connections(&session.tenant)
            .await?;
        let mut usable = Vec::new();
        let mut enabled = BTreeMap::new();
        for connection in connections {
            if !connection.is_active() || !applies(&connection.scope, session) {
                continue;
            }
            let target_enabled = if let Some(on) = enabled.get(&connection.target) {
                *on
            } else {
                let on = self
                    .host
                    .targets()
                    .get_target(&session.tenant, &connection.target)
                    .await?
                    .is_some_and(|t| t.enabled && t.key == connection.key);
                enabled.insert(connection.target.clone(), on);
                on
            };
            if target_enabled {
                usable.push(connection);
            }
        }
        let policies = self.policy_set(&session.tenant, &session.workspace).await?;
        Ok(Manifest::build(&self.registry, &usable, session, &policies))
    }

    /// The workspace's policy overrides: none without a policy source.
    async fn policy_set(
        &self,
        tenant: &crate::TenantId,
        workspace: &crate::WorkspaceId,
    ) -> Result<PolicySet, Error> {
        match &self.policies {
            Some(source) => source.policy_set(tenant, workspace).await,
            None => Ok(PolicySet::new()),
        }
    }

    /// The error result of `error`, audited. Boxed: failures are off the common path,
    /// and their futures would otherwise widen every caller's.
    pub(super) fn fail<'a>(
        &'a self,
        context: &'a CallContext,
        key: Option<&'a DefinitionKey>,
        tool: &'a str,
        error: &'a Error,
        approved: Option<&'a Approved<'a>>,
    ) -> Pin<Box<dyn Future<Output = ToolResult> + Send + 'a>> {
        Box::pin(async move {
            let result = ToolResult::failure(error);
            self.audit_call(context, key, tool, &result, None, approved)
                .await;
            result
        })
    }

    /// Records an event about the call `context`. Not `async`: the sink records at once
    /// when it can ([`AuditSink::record_now`](crate::host::AuditSink::record_now)), else
    /// its (boxed) future is handed back, so callers' futures do not carry a copy of this
    /// one's.
    pub(super) fn record<'a>(
        &'a self,
        context: &'a CallContext,
        key: Option<&'a DefinitionKey>,
        action: &'a AuditAction,
        outcome: &'a AuditOutcome,
        detail: &'a CallDetail<'a>,
    ) -> Recording<'a> {
        self.record_in(
            &context.session,
            Some(&context.connection),
            key,
            action,
            outcome,
            detail,
        )
    }

    /// Records an event about a call in `session` through `connection`, when known.
    pub(super) fn record_in<'a>(
        &'a self,
        session: &'a Session,
        connection: Option<&'a ConnectionId>,
        key: Option<&'a DefinitionKey>,
        action: &'a AuditAction,
        outcome: &'a AuditOutcome,
        detail: &'a CallDetail<'a>,
    ) -> Recording<'a> {
        let event = AuditEventRef::new(self.host.clock().now(), &session.tenant, action, outcome)
            .with_key(key)
            .with_connection(connection)
            .with_actor(session.user.as_ref())
            .with_detail(detail.as_slice());
        let sink = self.host.audit();
        if sink.record_now(&event) {
            Recording::Done
        } else {
            Recording::Pending(sink.record_ref(event))
        }
    }

    /// Records the `tool.called` event of `result` (with the call's `policy` once it was
    /// decided).
    pub(super) async fn audit_call(
        &self,
        context: &CallContext,
        key: Option<&DefinitionKey>,
        tool: &str,
        result: &ToolResult,
        policy: Option<ToolPolicy>,
        approved: Option<&Approved<'_>>,
    ) {
        self.audit_tool(
            &context.session,
            Some(&context.connection),
            key,
            tool,
            result,
            policy,
            approved,
        )
        .await;
    }

    /// Records the `tool.called` event of a call in `session` through `connection`, when
    /// known.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn audit_tool(
        &self,
        session: &Session,
        connection: Option<&ConnectionId>,
        key: Option<&DefinitionKey>,
        tool: &str,
        result: &ToolResult,
        policy: Option<ToolPolicy>,
        approved: Option<&Approved<'_>>,
    ) {
        let outcome = match &result.failure {
            None => AuditOutcome::Success,
            Some(f) if f.kind == ErrorKind::PermissionDenied => AuditOutcome::Denied {
                code: f.code.clone(),
            },
            Some(f) => AuditOutcome::Failure {
                code: f.code.clone(),
            },
        };
        let detail = match policy {
            Some(policy) => CallDetail::in_session(
                session,
                [("tool", tool), ("policy", policy.as_str())],
                approved,
            ),
            None => CallDetail::in_session(session, [("tool", tool)], approved),
        };
        self.record_in(
            session,
            connection,
            key,
            &AuditAction::TOOL_CALLED,
            &outcome,
            &detail,
        )
        .await;
    }

    /// Every check before execution. On failure, the error result (already audited).
    pub(super) async fn prepare(
        &self,
        name: &str,
        arguments: &mut Value,
        context: &CallContext,
        approved: Option<&Approved<'_>>,
    ) -> Result<Prepared<'_>, Box<ToolResult>> {
        let tenant = &context.session.tenant;
        let connections = self.host.connections();
        let read = match connections.get_connection_now(tenant, &context.connection) {
            Some(read) => read,
            None => {
                connections
                    .get_connection_shared(tenant, &context.connection)
                    .await
            }
        };
        let connection = match read {
            Ok(Some(connection)) => connection,
            Ok(None) => {
                let e = crate::loaded::connection_not_found();
                return Err(self.fail(context, None, name, &e, approved).await.into());
            }
            Err(e) => return Err(self.fail(context, None, name, &e, approved).await.into()),
        };
        let key = &connection.key;
        // The manifest leaves out connections scoped to another user, workspace or
        // project; a call naming one anyway is refused before anything else is said
        // about it (its integration, its tools), never run with its credential.
        if !applies(&connection.scope, &context.session) {
            let e = crate::codes::tool::CONNECTION_OUT_OF_SCOPE.error(
                "the connection is scoped to another user, workspace or project than the call's session",
            );
            return Err(self
                .fail(context, Some(key), name, &e, approved)
                .await
                .into());
        }
        let Some(entry) = self.registry.get(key) else {
            let e = crate::codes::tool::UNKNOWN_INTEGRATION
                .error(format!("no integration is registered under {key}"));
            return Err(self
                .fail(context, Some(key), name, &e, approved)
                .await
                .into());
        };
        let Some(tool) = entry.tool(name) else {
            let e = if self.registry.tool_owners(name).next().is_some() {
                crate::codes::tool::NOT_OFFERED.error(format!(
                        "{key} does not offer the tool {name}; call it through a connection of an integration that does"
                    ),
                )
            } else {
                crate::codes::tool::NOT_FOUND.error("no integration offers a tool with this name")
            };
            return Err(self
                .fail(context, Some(key), name, &e, approved)
                .await
                .into());
        };
        if !connection.is_active() {
            let e = crate::codes::auth::CONNECTION_NOT_ACTIVE.error(format!(
                "the connection is {}; reconnect it before using its tools",
                connection.status.as_str()
            ));
            return Err(self
                .fail(context, Some(key), name, &e, approved)
                .await
                .into());
        }

        super::arguments::drop_optional_nulls(&tool.descriptor.input_schema, arguments);
        let issues = tool.input.validate(arguments);
        if !issues.is_empty() {
            let e = crate::codes::tool::INVALID_ARGUMENTS.with_issues(
                format!("the arguments of {name} do not match its input schema"),
                issues,
            );
            return Err(self
                .fail(context, Some(key), name, &e, approved)
                .await
                .into());
        }

        let policies: PolicySet = match self.policy_set(tenant, &context.session.workspace).await {
            Ok(set) => set,
            Err(e) => {
                return Err(self
                    .fail(context, Some(key), name, &e, approved)
                    .await
                    .into());
            }
        };
        let decision = policies.decide_registered(key, &tool);
        let detail = CallDetail::new(
            context,
            [
                ("tool", name),
                ("policy", decision.policy.as_str()),
                ("origin", decision.origin.as_str()),
            ],
            approved,
        );
        if decision.policy == ToolPolicy::Block {
            let denied = AuditOutcome::Denied {
                code: crate::codes::tool::BLOCKED.into(),
            };
            self.record(
                context,
                Some(key),
                &AuditAction::POLICY_DECIDED,
                &denied,
                &detail,
            )
            .await;
            let e = crate::codes::tool::BLOCKED
                .error(format!("the tool {name} is blocked in this workspace"));
            return Err(self
                .fail(context, Some(key), name, &e, approved)
                .await
                .into());
        }
        self.record(
            context,
            Some(key),
            &AuditAction::POLICY_DECIDED,
            &AuditOutcome::Success,
            &detail,
        )
        .await;

        // Only tools that need a capability read a publication; the others skip the
        // (boxed) check and its future.
        let checked = if tool.descriptor.capability.is_some() {
            Box::pin(self.check_capability(tool.descriptor, &connection, context)).await
        } else {
            Ok(None)
        };
        let publication = match checked {
            Ok(publication) => publication,
            Err(e) => {
                return Err(self
                    .fail(context, Some(key), name, &e, approved)
                    .await
                    .into());
            }
        };
        Ok(Prepared {
            entry,
            tool,
            connection,
            decision,
            publication,
        })
    }

    /// The publication that allows the call, when the tool needs a capability.
    async fn check_capability(
        &self,
        tool: &ToolDescriptor,
        connection: &Connection,
        context: &CallContext,
    ) -> Result<Option<Arc<Publication>>, Error> {
        let Some(capability) = &tool.capability else {
            return Ok(None);
        };
        let denied = |code: crate::Code, message: String| code.error(message);
        let Some(id) = &context.publication else {
            return Err(denied(
                crate::codes::tool::CAPABILITY_MISSING,
                format!(
                    "the tool needs the capability {capability}, and the call has no publication"
                ),
            ));
        };
        let Some(publication) = self
            .host
            .publications()
            .get_publication(&context.session.tenant, id)
            .await?
        else {
            return Err(denied(
                crate::codes::tool::PUBLICATION_NOT_FOUND,
                "the call's publication does not exist in this tenant".to_owned(),
            ));
        };
        let now = self.host.clock().now();
        match publication.refusal(&connection.id, &context.session, capability, now) {
            None => Ok(Some(Arc::new(publication))),
            Some(PublicationRefusal::Mismatch) => Err(denied(
                crate::codes::tool::PUBLICATION_MISMATCH,
                "the call's publication is for another connection or does not cover this session"
                    .to_owned(),
            )),
            Some(PublicationRefusal::Expired) => Err(denied(
                crate::codes::tool::PUBLICATION_EXPIRED,
                "the call's publication has expired".to_owned(),
            )),
            Some(PublicationRefusal::CapabilityMissing) => Err(denied(
                crate::codes::tool::CAPABILITY_MISSING,
                format!("the call's publication does not grant the capability {capability}"),
            )),
        }
    }

    pub(super) async fn execute(
        &self,
        prepared: &Prepared<'_>,
        arguments: Value,
        context: &CallContext,
        approved: Option<&Approved<'_>>,
    ) -> ToolResult {
        let name = prepared.tool.descriptor.name.as_str();
        let key = &prepared.connection.key;
        let tool_context = match self.tool_context(prepared, context).await {
            Ok(c) => c,
            Err(e) => return self.fail(context, Some(key), name, &e, approved).await,
        };
        let Some(executor) = prepared.entry.integration().tools() else {
            let e = crate::codes::tool::NOT_EXECUTABLE.error(format!(
                "{key} lists the tool {name} but cannot execute tools"
            ));
            return self.fail(context, Some(key), name, &e, approved).await;
        };
        let run = CatchPanic {
            inner: executor.execute(name, arguments, &tool_context),
        };
        let outcome =
            match run.await {
                Ok(outcome) => outcome,
                Err(Panicked) => Err(crate::codes::tool::PANICKED
                    .error("the tool failed unexpectedly (it panicked)")),
            };
        let result = match outcome {
            Ok(value) => self.trimmed(value, context, approved.is_some()).await,
            Err(e) => ToolResult::failure(&e),
        };
        let policy = Some(prepared.decision.policy);
        self.audit_call(context, Some(key), name, &result, policy, approved)
            .await;
        result
    }

    async fn tool_context(
        &self,
        prepared: &Prepared<'_>,
        context: &CallContext,
    ) -> Result<ToolContext, Error> {
        let connection = &prepared.connection;
        // The stored target is read on every call (so a disabled target stops its tools
        // at once); what depends only on it, the connection, the call's ids and the tool
        // is built once and kept while they are unchanged.
        let target = self.loader.stored_target_of(connection).await?;
        // The publication is the call's own (it is read anew for each call).
        let publication = prepared.publication.clone();
        let build = |connection_parts: &Arc<ConnectionParts>| {
            let http = ToolHttp::new(
                self.host.clone(),
                Arc::clone(&self.credentials),
                Arc::clone(connection),
                Arc::clone(prepared.tool.shared_name),
                context.session.user.clone(),
            )
            .with_default_headers(Arc::clone(&connection_parts.default_headers));
            Arc::new(CallParts {
                call: context.clone(),
                connection: Arc::clone(connection_parts),
                http,
            })
        };
        let tool = prepared.tool.index;
        if let Some(parts) = self.contexts.get(connection, &target, context, tool, build) {
            return Ok(ToolContext::new(parts, publication));
        }
        let connection_parts = Arc::new(self.connection_parts(prepared, &target)?);
        let parts = build(&connection_parts);
        self.contexts.insert(
            Arc::clone(connection),
            target,
            connection_parts,
            tool,
            Arc::clone(&parts),
        );
        Ok(ToolContext::new(parts, publication))
    }

    /// The connection's part of a tool context, from its stored `target`: the rest of
    /// the loader's lookup (enabled, definition, config), the connection method and its
    /// parsed config, the definition's default headers.
    fn connection_parts(
        &self,
        prepared: &Prepared<'_>,
        target: &Arc<Target>,
    ) -> Result<ConnectionParts, Error> {
        let connection: &Connection = &prepared.connection;
        let target = self.loader.check_target(target)?;
        target.check_connection(connection)?;
        let method = prepared.entry.method(&connection.method).ok_or_else(|| {
            crate::codes::tool::UNKNOWN_METHOD.error(format!(
                "{} has no connection method {}",
                connection.key, connection.method
            ))
        })?;
        let connection_config = method.parse_stored_config(&connection.config)?;
        Ok(ConnectionParts {
            method: method.method().kind,
            default_credential: method.shared_default_credential().cloned(),
            target_config: target.config.clone(),
            connection_config,
            default_headers: Arc::clone(target.shared_default_headers()?),
        })
    }
}

/// The most connections whose tool-context parts are kept; past it the cache starts over.
const CONTEXTS_LIMIT: usize = 1024;

/// The parts of tool contexts, by connection: each entry has the connection and target
/// records it was built from and serves a call only while both are unchanged (the very
/// records, from a store that shares them, or equal ones, from a store that reads them
/// anew). Besides the connection's part, it keeps, for each of the integration's tools,
/// the context (but its publication) of the tool's last call through the connection, which
/// serves the next calls of the tool with equal ids.
///
/// One context per tool: a session that calls several tools in turn finds each kept, and
/// a call of another session costs one comparison of ids before it builds its own.
#[derive(Default)]
struct ConnectionPartsCache {
    entries: Mutex<HashMap<ConnectionId, CachedParts>>,
}

struct CachedParts {
    connection: Arc<Connection>,
    target: Arc<Target>,
    parts: Arc<ConnectionParts>,
    /// By the tool's position in the integration's catalog.
    calls: Vec<Option<Arc<CallParts>>>,
}

impl ConnectionPartsCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConnectionId, CachedParts>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The context for a call with `call`'s ids of the tool at `tool` in the catalog,
    /// when the cache has the connection's part for these records: the kept one if its
    /// ids are the same, else one `build` makes from the connection's part, kept in its
    /// place (one lock for both). `None` when the records are new to the cache.
    fn get(
        &self,
        connection: &Arc<Connection>,
        target: &Arc<Target>,
        call: &CallContext,
        tool: usize,
        build: impl FnOnce(&Arc<ConnectionParts>) -> Arc<CallParts>,
    ) -> Option<Arc<CallParts>> {
        let mut entries = self.lock();
        let cached = entries.get_mut(&connection.id)?;
        if !(unchanged(&cached.connection, connection) && unchanged(&cached.target, target)) {
            return None;
        }
        if cached.calls.len() <= tool {
            cached.calls.resize(tool + 1, None);
        }
        let slot = &mut cached.calls[tool];
        if let Some(parts) = slot
            && parts.call == *call
        {
            return Some(Arc::clone(parts));
        }
        let parts = build(&cached.parts);
        // The context it replaces is dropped after the lock is released.
        let replaced = slot.replace(Arc::clone(&parts));
        drop(entries);
        drop(replaced);
        Some(parts)
    }

    /// Starts the entry of `connection` (replacing one built from other records) with its
    /// connection part and the context `call` of the tool at `tool`.
    fn insert(
        &self,
        connection: Arc<Connection>,
        target: Arc<Target>,
        parts: Arc<ConnectionParts>,
        tool: usize,
        call: Arc<CallParts>,
    ) {
        let mut calls = vec![None; tool + 1];
        calls[tool] = Some(call);
        let mut entries = self.lock();
        if entries.len() >= CONTEXTS_LIMIT {
            entries.clear();
        }
        let replaced = entries.insert(
            connection.id.clone(),
            CachedParts {
                connection,
                target,
                parts,
                calls,
            },
        );
        drop(entries);
        drop(replaced);
    }
}

/// Whether `now` is the record `then` was: the same allocation, or equal.
fn unchanged<T: PartialEq>(then: &Arc<T>, now: &Arc<T>) -> bool {
    Arc::ptr_eq(then, now) || **then == **now
}

/// An audit record being written: already written by a synchronous sink, or the sink's
/// future.
pub(super) enum Recording<'a> {
    Done,
    Pending(Pin<Box<dyn Future<Output = ()> + Send + 'a>>),
}

impl Future for Recording<'_> {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.get_mut() {
            Self::Done => std::task::Poll::Ready(()),
            Self::Pending(future) => future.as_mut().poll(cx),
        }
    }
}
