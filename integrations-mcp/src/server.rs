//! [`McpService`] (the host's handle) and [`McpServer`] (one MCP connection's handler).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use integrations_core::definition::ToolDescriptor;
use integrations_core::tools::{
    AmbiguousTool, ApprovalRequest, CONTINUE_TOOL_NAME, CallContext, MAX_TOOL_NAME_LEN, Manifest,
    ManifestTool, Runtime, Session, ToolPolicy, ToolResult, ToolStatus, continuation_tool, export,
    sanitize_tool_name,
};
use integrations_core::{ConnectionId, Error, TenantId, UserId};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities,
    ElicitRequestParams, ElicitationAction, ErrorCode, Implementation, InitializeRequestParams,
    InitializeResult, InputRequest, InputRequests, InputRequiredResult, InputResponses,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion,
    ServerCapabilities, ServerConfig, SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt as _};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::broadcast;

use crate::approvals::{Approvals, CallKey, Found, Known, Lookup, Reservation, denied};
use crate::session::Principal;
use crate::{McpOptions, McpSession};

/// The JSON-RPC error code of 2025-11-25's `URLElicitationRequired`: the request needs
/// the user to visit a URL (here: the host's approval page) before it is retried.
pub const URL_ELICITATION_REQUIRED: i32 = -32042;

/// The newest MCP revision the server speaks (the `tools/call` input-required flow, no
/// `initialize`); clients of 2025-06-18 and 2025-11-25 negotiate their own.
pub const NEWEST_REVISION: ProtocolVersion = ProtocolVersion::V_2026_07_28;

/// The key of the approval's URL-mode elicitation in a 2026-07-28 `input_required`
/// result's `inputRequests` (and of the client's answer in `inputResponses`).
pub const APPROVAL_INPUT: &str = "approval";

/// What a `tools/list` cursor starts with; the hex of the last tool name listed follows.
const LIST_CURSOR: &str = "after:";

/// The `tools/list` cursor that continues after the tool `name`. It names the tool
/// rather than counting tools: the manifest may be rebuilt between two pages, and a tool
/// added or removed before the count would shift it, so the client would skip or repeat
/// tools. Hex keeps it opaque and free of characters a client might mangle.
fn list_cursor(name: &str) -> String {
    format!("{LIST_CURSOR}{}", hex::encode(name))
}

/// The tool name `cursor` continues after, when it is a cursor [`list_cursor`] gives.
fn listed_after(cursor: &str) -> Option<String> {
    let name = String::from_utf8(hex::decode(cursor.strip_prefix(LIST_CURSOR)?).ok()?).ok()?;
    (!name.is_empty() && name.len() <= MAX_TOOL_NAME_LEN && sanitize_tool_name(&name) == name)
        .then_some(name)
}

/// Where the page after the tool `after` starts in the listed descriptors: `tools` in
/// name order, then the continuation tool. The tool need not be there any more: the
/// page starts at the first name after it, so the tools that stayed are neither skipped
/// nor repeated.
fn start_after(tools: &[&ManifestTool], descriptors: usize, after: &str) -> usize {
    if after == CONTINUE_TOOL_NAME {
        return descriptors;
    }
    tools.partition_point(|tool| tool.descriptor.name.as_str() <= after)
}

/// The descriptors `tools/list` gives for `tools`: theirs, then the continuation tool
/// (none when there is no tool).
fn listed(tools: &[&ManifestTool]) -> Vec<ToolDescriptor> {
    let mut out: Vec<ToolDescriptor> = tools.iter().map(|t| t.descriptor.clone()).collect();
    if !out.is_empty() {
        out.push(continuation_tool());
    }
    out
}

/// What a 2026-07-28 client echoes on its retry of an `ask` call: its answers to the
/// input requests and the opaque `requestState` (never trusted as an approval).
#[derive(Default)]
struct Retry {
    responses: Option<InputResponses>,
    state: Option<String>,
}

pub(crate) struct Shared {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) approvals: Approvals,
    pub(crate) options: McpOptions,
    /// Tool-list changes: of one tenant, or (`None`) of all.
    changes: broadcast::Sender<Option<TenantId>>,
    /// Manifests recently built, per session; cleared by `tools_changed`.
    manifests: Arc<Mutex<Manifests>>,
    /// The tools each session's log line last named as ambiguous: a line is written when
    /// the set changes, not at every manifest.
    ambiguous_logged: Arc<Mutex<HashMap<Session, Vec<AmbiguousTool>>>>,
}

/// The most sessions whose last ambiguity warning is remembered; past it, all are
/// forgotten (each then logs once more).
const AMBIGUOUS_LOGGED_LIMIT: usize = 1024;

/// Manifests by session, with when each was built.
/// The manifests built lately, by session, and how many times
/// [`McpService::tools_changed`] cleared them: a manifest whose build began before the
/// last clear is not kept (it may list what the change took away).
#[derive(Default)]
struct Manifests {
    by_session: HashMap<Session, (Instant, Arc<Manifest>)>,
    generation: u64,
}

/// How long a built manifest is reused (the runtime checks policy again on every call).
const MANIFEST_TTL: Duration = Duration::from_secs(2);

impl Shared {
    /// The tools of `manifest` that calls of `session` can run: a tool that needs a
    /// capability only when the session's publication for its connection grants it
    /// now. The runtime refuses the others on every call (`tool.capability_missing`,
    /// `tool.publication_*`), so listing them would only send the agent into refusals;
    /// the host's log names them (when `log`: for a list's first page).
    async fn callable<'m>(
        &self,
        session: &McpSession,
        manifest: &'m Manifest,
        log: bool,
    ) -> Result<Vec<&'m ManifestTool>, ErrorData> {
        let host = self.runtime.host();
        let now = host.clock().now();
        let mut publications = HashMap::new();
        let mut tools = Vec::with_capacity(manifest.tools.len());
        let mut hidden = Vec::new();
        for tool in &manifest.tools {
            let Some(capability) = &tool.descriptor.capability else {
                tools.push(tool);
                continue;
            };
            let publication = match session.publications.get(&tool.connection) {
                None => None,
                Some(id) => {
                    if let Some(read) = publications.get(id) {
                        Option::clone(read)
                    } else {
                        let read = host
                            .publications()
                            .get_publication(&session.session.tenant, id)
                            .await
                            .map_err(|e| internal(&e))?
                            .map(Arc::new);
                        publications.insert(id.clone(), read.clone());
                        read
                    }
                }
            };
            let grants = publication.is_some_and(|p| {
                p.refusal(&tool.connection, &session.session, capability, now)
                    .is_none()
            });
            if grants {
                tools.push(tool);
            } else {
                hidden.push(tool.descriptor.name.as_str());
            }
        }
        if log && !hidden.is_empty() {
            tracing::info!(
                target: "integrations::mcp",
                tenant = %session.session.tenant,
                workspace = %session.session.workspace,
                tools = ?hidden,
                "tools left out of tools/list: they need a capability that no publication of this session grants (give the session a publication for their connection)"
            );
        }
        Ok(tools)
    }

    async fn manifest(&self, session: &Session) -> Result<Arc<Manifest>, ErrorData> {
        let (cached, generation) = {
            let manifests = self
                .manifests
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let cached = manifests
                .by_session
                .get(session)
                .filter(|(at, _)| at.elapsed() < MANIFEST_TTL)
                .map(|(_, m)| Arc::clone(m));
            (cached, manifests.generation)
        };
        if let Some(manifest) = cached {
            return Ok(manifest);
        }
        let manifest = Arc::new(
            self.runtime
                .manifest(session)
                .await
                .map_err(|e| internal(&e))?,
        );
        if self.ambiguity_is_news(session, &manifest.ambiguous) {
            // The agent does not see these tools, and `tools/list` cannot say why: the
            // host's log does, once for each set of them a session meets.
            let tools: Vec<&str> = manifest.ambiguous.iter().map(|t| t.name.as_str()).collect();
            let mut connections: Vec<&str> = manifest
                .ambiguous
                .iter()
                .flat_map(|t| {
                    t.connections
                        .iter()
                        .map(integrations_core::ConnectionId::as_str)
                })
                .collect();
            connections.sort_unstable();
            connections.dedup();
            tracing::warn!(
                tenant = %session.tenant,
                workspace = %session.workspace,
                tools = ?tools,
                connections = ?connections,
                "tools left out of tools/list: several connections of one integration apply to the session at the same scope; narrow one's scope (user, project) or disable one"
            );
        }
        let mut manifests = self
            .manifests
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Built from records read before a change the host announced since: served to
        // this request, never to the ones the announcement sends to list again.
        if manifests.generation == generation {
            manifests
                .by_session
                .retain(|_, (at, _)| at.elapsed() < MANIFEST_TTL);
            manifests
                .by_session
                .insert(session.clone(), (Instant::now(), Arc::clone(&manifest)));
        }
        Ok(manifest)
    }

    /// Whether `ambiguous` (a session's tools left out as ambiguous) differs from what
    /// the session's last warning named; remembers it.
    fn ambiguity_is_news(&self, session: &Session, ambiguous: &[AmbiguousTool]) -> bool {
        let mut logged = self
            .ambiguous_logged
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if logged
            .get(session)
            .map_or(ambiguous.is_empty(), |last| last == ambiguous)
        {
            return false;
        }
        if logged.len() >= AMBIGUOUS_LOGGED_LIMIT {
            logged.clear();
        }
        logged.insert(session.clone(), ambiguous.to_vec());
        !ambiguous.is_empty()
    }
}

/// The host's handle on the MCP server: makes [`McpServer`]s for connections, serves
/// stdio and HTTP, holds the [`Approvals`], and announces tool-list changes. Cheap to
/// clone.
#[derive(Clone)]
pub struct McpService {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for McpService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpService")
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl McpService {
    /// A service over `runtime` with the default [`McpOptions`].
    pub fn new(runtime: Arc<Runtime>) -> Self {
        let (changes, _) = broadcast::channel(16);
        Self {
            shared: Arc::new(Shared {
                approvals: Approvals::new(Arc::clone(&runtime)),
                runtime,
                options: McpOptions::new(),
                changes,
                manifests: Arc::default(),
                ambiguous_logged: Arc::default(),
            }),
        }
    }

    /// Replaces the options. Call it before making servers.
    #[must_use]
    pub fn with_options(self, options: McpOptions) -> Self {
        Self {
            shared: Arc::new(Shared {
                runtime: Arc::clone(&self.shared.runtime),
                approvals: self
                    .shared
                    .approvals
                    .clone()
                    .with_run_lease(options.approval_run_lease),
                options,
                changes: self.shared.changes.clone(),
                manifests: Arc::clone(&self.shared.manifests),
                ambiguous_logged: Arc::clone(&self.shared.ambiguous_logged),
            }),
        }
    }

    /// The approvals a person settles in the host.
    pub fn approvals(&self) -> &Approvals {
        &self.shared.approvals
    }

    /// The runtime.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.shared.runtime
    }

    /// Tells every connected client that the tool list may have changed
    /// (`notifications/tools/list_changed`): call it when connections, policies or
    /// publications change (a tool that needs a capability is listed only while a
    /// publication grants it). A change of one tenant's is better announced with
    /// [`tools_changed_for`](Self::tools_changed_for).
    pub fn tools_changed(&self) {
        self.announce(None);
    }

    /// Tells the connected clients of `tenant` that their tool list may have changed:
    /// the other tenants' clients are not sent to list again.
    pub fn tools_changed_for(&self, tenant: &TenantId) {
        self.announce(Some(tenant));
    }

    fn announce(&self, tenant: Option<&TenantId>) {
        {
            let mut manifests = self
                .shared
                .manifests
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match tenant {
                Some(tenant) => manifests.by_session.retain(|s, _| &s.tenant != tenant),
                None => manifests.by_session.clear(),
            }
            // Any change: a manifest being built now is not kept (it may be the
            // tenant's, read before the change).
            manifests.generation += 1;
        }
        let _ = self.shared.changes.send(tenant.cloned());
    }

    /// A server for one connection that acts for `session` (stdio, in-process, or any
    /// rmcp transport).
    pub fn server(&self, session: McpSession) -> McpServer {
        McpServer::new(Arc::clone(&self.shared), Some(session), false)
    }

    /// Serves `session` on stdin and stdout until the client disconnects.
    ///
    /// # Errors
    ///
    /// `mcp.transport` when the handshake or the transport fails.
    pub async fn serve_stdio(&self, session: McpSession) -> Result<(), Error> {
        serve(self.server(session), rmcp::transport::stdio()).await
    }

    /// Serves `session` on stdin and stdout, **trusting the client's form-mode
    /// elicitation `accept` as the user's approval** of an `ask` call.
    ///
    /// Only for a local client whose UI is the user's own: any MCP client can declare
    /// elicitation and answer `accept` without showing anything to anyone, so in this
    /// mode the client decides whether writes run. The approval is recorded as given by
    /// the session's user (or `mcp-stdio-client`). Clients without form elicitation get
    /// the host approval flow as usual. Never offered over HTTP.
    ///
    /// # Errors
    ///
    /// `mcp.transport` when the handshake or the transport fails.
    pub async fn serve_stdio_trusting_client(&self, session: McpSession) -> Result<(), Error> {
        serve(self.trusting_server(session), rmcp::transport::stdio()).await
    }

    /// A server for a local connection that trusts form-mode `accept` (see
    /// [`serve_stdio_trusting_client`](Self::serve_stdio_trusting_client)), for hosts
    /// that run their own local transport.
    pub fn trusting_server(&self, session: McpSession) -> McpServer {
        McpServer::new(Arc::clone(&self.shared), Some(session), true)
    }

    pub(crate) fn http_server(&self) -> McpServer {
        McpServer::new(Arc::clone(&self.shared), None, false)
    }
}

async fn serve<T, E, A>(server: McpServer, transport: T) -> Result<(), Error>
where
    T: rmcp::transport::IntoTransport<RoleServer, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let running = server.serve(transport).await.map_err(|e| {
        crate::codes::mcp::TRANSPORT
            .error("the MCP handshake failed")
            .with_source(e)
    })?;
    running.waiting().await.map_err(|e| {
        crate::codes::mcp::TRANSPORT
            .error("the MCP server stopped unexpectedly")
            .with_source(e)
    })?;
    Ok(())
}

/// The next [`Connection::id`].
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(0);

/// Random for each process: with a connection's id, a continuation scope no connection
/// of any process of the host shares (the scope binds pages kept in the host's store).
fn process_nonce() -> &'static str {
    static NONCE: OnceLock<String> = OnceLock::new();
    NONCE.get_or_init(|| {
        let mut bytes = [0_u8; 16];
        if getrandom::fill(&mut bytes).is_ok() {
            return hex::encode(bytes);
        }
        // Without the system's randomness: the process and std's per-process hash keys.
        let keyed =
            std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 0_u8);
        format!("{}-{keyed:016x}", std::process::id())
    })
}

struct Connection {
    /// Tells this connection's continuation pages from another's.
    id: u64,
    /// The session of a stdio or in-process connection.
    fixed: Option<McpSession>,
    /// The session an HTTP connection was opened by; later requests must match it.
    bound: OnceLock<McpSession>,
    /// Set by `initialize`: over HTTP, a connection with a session (one made for a
    /// 2026-07-28 request serves that request only, and never sees `initialize`).
    initialized: OnceLock<()>,
    /// Whether form-mode `accept` counts as approval (local stdio opt-in).
    trust_form: bool,
    /// Whether the tool-list watcher runs.
    watching: OnceLock<()>,
}

/// One MCP connection's handler: an [`rmcp::ServerHandler`] serving its session's
/// manifest. Made by [`McpService`].
#[derive(Clone)]
pub struct McpServer {
    shared: Arc<Shared>,
    connection: Arc<Connection>,
}

impl fmt::Debug for McpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpServer")
            .field("session", &self.connection.fixed)
            .field("trust_form", &self.connection.trust_form)
            .finish_non_exhaustive()
    }
}

fn internal(error: &Error) -> ErrorData {
    ErrorData::internal_error(format!("{}: {}", error.code(), error.message()), None)
}

fn cancelled() -> ErrorData {
    ErrorData::new(
        ErrorCode::INTERNAL_ERROR,
        "the client cancelled the request",
        None,
    )
}

fn to_rmcp(result: &ToolResult) -> Result<CallToolResult, ErrorData> {
    serde_json::from_value(result.to_mcp())
        .map_err(|_| ErrorData::internal_error("a tool result could not be encoded", None))
}

fn client_capabilities(context: &RequestContext<RoleServer>) -> Option<ClientCapabilities> {
    context.meta.client_capabilities().or_else(|| {
        context
            .peer
            .peer_info()
            .map(|info| info.capabilities.clone())
    })
}

impl McpServer {
    fn new(shared: Arc<Shared>, fixed: Option<McpSession>, trust_form: bool) -> Self {
        Self {
            shared,
            connection: Arc::new(Connection {
                id: NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed),
                fixed,
                bound: OnceLock::new(),
                initialized: OnceLock::new(),
                trust_form,
                watching: OnceLock::new(),
            }),
        }
    }

    /// The session a request acts for: the connection's own, or (HTTP) the one the
    /// authenticator put on the request, which must be the one that opened the session.
    fn principal(&self, context: &RequestContext<RoleServer>) -> Result<McpSession, ErrorData> {
        if let Some(session) = &self.connection.fixed {
            return Ok(session.clone());
        }
        let session = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<McpSession>())
            .cloned()
            .ok_or_else(|| ErrorData::invalid_request("the request is not authenticated", None))?;
        let bound = self.connection.bound.get_or_init(|| session.clone());
        if bound != &session {
            return Err(ErrorData::invalid_request(
                "this MCP session belongs to another principal",
                None,
            ));
        }
        Ok(session)
    }

    /// Sends the peer `notifications/tools/list_changed` for the changes of `tenant`
    /// (every change when the connection's principal is not known yet).
    fn watch_changes(&self, peer: rmcp::Peer<RoleServer>, tenant: Option<TenantId>) {
        if self.connection.watching.set(()).is_err() {
            return;
        }
        let mut changes = self.shared.changes.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    change = changes.recv() => match change {
                        Ok(Some(other)) if tenant.as_ref().is_some_and(|t| t != &other) => {}
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                            if peer.notify_tool_list_changed().await.is_err() {
                                break;
                            }
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    () = tokio::time::sleep(Duration::from_secs(5)) => {
                        if peer.is_transport_closed() {
                            break;
                        }
                    }
                }
            }
        });
    }

    /// Runs a call, sending progress notifications while it takes long and giving up
    /// when the client cancels it.
    async fn run(
        &self,
        name: &str,
        arguments: Value,
        call: &CallContext,
        context: &RequestContext<RoleServer>,
    ) -> Result<ToolResult, ErrorData> {
        let work = self.shared.runtime.call(name, arguments, call);
        self.watch(name, work, context).await
    }

    /// Waits for `work` (a call of `name`), sending progress notifications while it
    /// takes long and giving up when the client cancels it.
    async fn watch<T>(
        &self,
        name: &str,
        work: impl Future<Output = T>,
        context: &RequestContext<RoleServer>,
    ) -> Result<T, ErrorData> {
        let progress = context.meta.get_progress_token();
        let interval = self.shared.options.progress_interval;
        tokio::pin!(work);
        let mut next = tokio::time::Instant::now() + interval;
        let mut ticks = 0_u32;
        loop {
            tokio::select! {
                result = &mut work => return Ok(result),
                () = context.ct.cancelled() => return Err(cancelled()),
                () = tokio::time::sleep_until(next), if progress.is_some() => {
                    ticks += 1;
                    next += interval;
                    if let Some(token) = &progress {
                        let mut param = ProgressNotificationParam::new(token.clone(), f64::from(ticks));
                        param.message = Some(format!("{name} is still running"));
                        let _ = context.peer.notify_progress(param).await;
                    }
                }
            }
        }
    }

    /// The [continuation scope](CallContext::continuation_scope) of this connection's
    /// calls for `session`: in a stateful MCP session (stdio, in-process, or HTTP opened
    /// with `initialize`) one of its own, so only that session reads the pages of its
    /// results; for a 2026-07-28 request over HTTP, which has no session (rmcp makes a
    /// server for each), one its principal's next request with the same publications
    /// has too, through any instance of the host (none without publications). The
    /// runtime keeps no scope with an approval request: an approved call's pages go
    /// with its result to the retry from whichever session.
    fn continuation_scope(&self, session: &McpSession) -> Option<String> {
        let connection = &self.connection;
        if connection.fixed.is_some() || connection.initialized.get().is_some() {
            return Some(format!("mcp-session:{}:{}", process_nonce(), connection.id));
        }
        if session.publications.is_empty() {
            return None;
        }
        let publications = json!(
            session
                .publications
                .iter()
                .map(|(c, p)| [c.as_str(), p.as_str()])
                .collect::<Vec<_>>()
        );
        let digest = Sha256::digest(publications.to_string().as_bytes());
        Some(format!("mcp-publications:{}", hex::encode(digest)))
    }

    /// The context of a call of `session` through `connection`, in this connection's
    /// continuation scope.
    fn call_context(&self, session: &McpSession, connection: ConnectionId) -> CallContext {
        let call = call_context(session, connection);
        match self.continuation_scope(session) {
            Some(scope) => call.with_continuation_scope(scope),
            None => call,
        }
    }

    /// A call of the continuation tool: the next page of a result this session (or,
    /// for the result of an approved call, its principal) was given, read from the
    /// host's store whichever instance kept it.
    async fn continue_result(
        &self,
        session: &McpSession,
        arguments: Value,
        context: &RequestContext<RoleServer>,
    ) -> Result<ToolResult, ErrorData> {
        let scope = self.continuation_scope(session);
        let work =
            self.shared
                .runtime
                .continue_tool_for(arguments, &session.session, scope.as_deref());
        self.watch(CONTINUE_TOOL_NAME, work, context).await
    }

    /// An `ask` call: the result a person's approval produced, or the approval to ask for.
    async fn ask(
        &self,
        session: &McpSession,
        name: &str,
        arguments: Value,
        call: &CallContext,
        retry: Retry,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let key = CallKey::new(session, name, &arguments);
        let approvals = &self.shared.approvals;
        let principal = Principal::of(&session.session);
        let known = loop {
            let looked = approvals.lookup(key, &principal).await;
            let looked = match looked {
                Ok(looked) => looked,
                Err(e) => return to_rmcp(&ToolResult::failure(&e)).map(Into::into),
            };
            match looked {
                Lookup::Known(known) => break *known,
                // Refused before the runtime is asked: nothing is stored for it.
                Lookup::Full => {
                    return to_rmcp(&ToolResult::failure(&approvals.too_many())).map(Into::into);
                }
                // An identical call (a retry) is asking right now: take its request.
                Lookup::InFlight(asking) => {
                    tokio::select! {
                        () = asking.wait() => {}
                        () = context.ct.cancelled() => return Err(cancelled()),
                    }
                }
                // The reservation ends with the call and its registration.
                Lookup::Fresh(reservation) => {
                    match self
                        .ask_once(name, arguments, call, reservation, context)
                        .await?
                    {
                        Asked::Waiting(registered) => match *registered {
                            Ok(known) => break known,
                            Err(e) => return to_rmcp(&ToolResult::failure(&e)).map(Into::into),
                        },
                        Asked::Answered(result) => return to_rmcp(&result).map(Into::into),
                    }
                }
            }
        };
        self.answer(session, key, known, retry, context).await
    }

    /// Asks the runtime about an `ask` call and registers the request it stores, to the
    /// end in a task of its own: the runtime stores the request before it answers, and
    /// only a registered request is counted against the principal's cap and found by a
    /// retry, so a client that cancels meanwhile stops waiting, not the work. The task
    /// never runs a tool ([`Runtime::ask`](integrations_core::tools::Runtime::ask)): a
    /// call whose policy is no longer `ask` runs here, where a cancel stops it.
    async fn ask_once(
        &self,
        name: &str,
        arguments: Value,
        call: &CallContext,
        reservation: Reservation,
        context: &RequestContext<RoleServer>,
    ) -> Result<Asked, ErrorData> {
        let asking = {
            let runtime = Arc::clone(&self.shared.runtime);
            let (name, call) = (name.to_owned(), call.clone());
            tokio::spawn(async move {
                match runtime.ask(&name, arguments, &call).await {
                    Ok(result) => Ok(settle(result, reservation).await),
                    Err(arguments) => Err((arguments, reservation)),
                }
            })
        };
        match self.watch(name, asking, context).await? {
            Ok(Ok(asked)) => Ok(asked),
            // The policy is not `ask` now: the call runs as any other (the reservation
            // ends with it).
            Ok(Err((arguments, reservation))) => {
                let result = self.run(name, arguments, call, context).await?;
                Ok(settle(result, reservation).await)
            }
            Err(_stopped) => Err(ErrorData::internal_error(
                "the call's approval request could not be registered (its task stopped)",
                None,
            )),
        }
    }

    /// The answer to a call the desk knows: its result once it ran, the denial, or
    /// (still pending) the approval to ask for.
    async fn answer(
        &self,
        session: &McpSession,
        key: CallKey,
        known: Known,
        retry: Retry,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match known {
            Known::Settled(result) => to_rmcp(&result).map(Into::into),
            Known::Denied(request) => to_rmcp(&denied(&request)).map(Into::into),
            Known::Running(request) => approval_running(&request).map(Into::into),
            Known::Pending(request) => {
                self.ask_for_approval(session, key, &request, retry, context)
                    .await
            }
        }
    }

    /// A call waiting in `request`: asks for the approval, as the client can be asked.
    async fn ask_for_approval(
        &self,
        session: &McpSession,
        key: CallKey,
        request: &ApprovalRequest,
        retry: Retry,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let capabilities = client_capabilities(context);
        let elicitation = capabilities.as_ref().and_then(|c| c.elicitation.as_ref());
        let version = context.protocol_version();
        let input_flow = version
            .as_ref()
            .is_some_and(|v| v.as_str() >= NEWEST_REVISION.as_str());
        let trusted = self.connection.trust_form
            && self.connection.fixed.is_some()
            && elicitation.is_some_and(|e| e.form.is_some() || e.url.is_none());
        if trusted && input_flow {
            return self.ask_client_inline(session, key, request, retry).await;
        }
        if trusted {
            return self.ask_client(session, key, request, context).await;
        }
        let url = self.shared.options.approval_url_of(request.id.as_str());
        if let Some(url) = &url
            && input_flow
            && elicitation.is_some_and(|e| e.url.is_some())
        {
            // 2026-07-28: the input-required flow. The client shows the URL and retries;
            // its answer is never taken as approval (the desk above decides).
            return input_required(
                json!({
                    "mode": "url",
                    "url": url,
                    "message": approval_message(request, Some(url)),
                }),
                request.id.as_str(),
            )
            .map(Into::into);
        }
        let newer = version
            .as_ref()
            .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2025_11_25.as_str());
        if let Some(url) = &url
            && newer
            && elicitation.is_some_and(|e| e.url.is_some())
        {
            return Err(ErrorData::new(
                ErrorCode(URL_ELICITATION_REQUIRED),
                "This call needs a person's approval in the host before it runs.",
                Some(json!({
                    "elicitations": [{
                        "mode": "url",
                        "elicitationId": request.id.as_str(),
                        "url": url,
                        "message": approval_message(request, Some(url)),
                    }],
                })),
            ));
        }
        approval_required(request, url.as_deref()).map(Into::into)
    }

    /// The opt-in local trust mode on 2026-07-28, where a server asks through an
    /// `input_required` result: the first call asks (form mode), the retry carrying this
    /// request's state and an `accept` approves it as the user.
    async fn ask_client_inline(
        &self,
        session: &McpSession,
        key: CallKey,
        request: &ApprovalRequest,
        retry: Retry,
    ) -> Result<CallToolResponse, ErrorData> {
        let answer = retry
            .responses
            .as_ref()
            .filter(|_| retry.state.as_deref() == Some(request.id.as_str()))
            .and_then(|r| r.get(APPROVAL_INPUT))
            .and_then(|a| a.get("action"))
            .and_then(Value::as_str);
        let Some(answer) = answer else {
            return input_required(
                json!({
                    "mode": "form",
                    "message": format!(
                        "Allow {} to run with these arguments?\n{}",
                        request.tool, request.arguments
                    ),
                    "requestedSchema": {"type": "object", "properties": {}},
                }),
                request.id.as_str(),
            )
            .map(Into::into);
        };
        let approvals = &self.shared.approvals;
        let tenant = &session.session.tenant;
        let approver = session
            .session
            .user
            .clone()
            .or_else(|| UserId::new("mcp-stdio-client").ok())
            .ok_or_else(|| ErrorData::internal_error("no approver", None))?;
        if answer == "accept" {
            approvals.approve(tenant, &request.id, &approver).await;
            return match settled(approvals.find(key, tenant).await) {
                Some(result) => to_rmcp(&result).map(Into::into),
                None => approval_required(request, None).map(Into::into),
            };
        }
        let _ = approvals.deny(tenant, &request.id, &approver).await;
        let _ = approvals.find(key, tenant).await;
        to_rmcp(&denied(request)).map(Into::into)
    }

    /// The opt-in local trust mode: asks the client (form mode) and takes its `accept`
    /// as the user's approval.
    async fn ask_client(
        &self,
        session: &McpSession,
        key: CallKey,
        request: &ApprovalRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let params: ElicitRequestParams = serde_json::from_value(json!({
            "mode": "form",
            "message": format!(
                "Allow {} to run with these arguments?\n{}",
                request.tool, request.arguments
            ),
            "requestedSchema": {"type": "object", "properties": {}},
        }))
        .map_err(|_| ErrorData::internal_error("an elicitation could not be encoded", None))?;
        let answer = context.peer.create_elicitation(params).await;
        let approvals = &self.shared.approvals;
        let tenant = &session.session.tenant;
        match answer.map(|a| a.action) {
            Ok(ElicitationAction::Accept) => {
                let approver = session
                    .session
                    .user
                    .clone()
                    .or_else(|| UserId::new("mcp-stdio-client").ok())
                    .ok_or_else(|| ErrorData::internal_error("no approver", None))?;
                approvals.approve(tenant, &request.id, &approver).await;
                match settled(approvals.find(key, tenant).await) {
                    Some(result) => to_rmcp(&result).map(Into::into),
                    None => approval_required(request, None).map(Into::into),
                }
            }
            Ok(_) => {
                let approver = session
                    .session
                    .user
                    .clone()
                    .or_else(|| UserId::new("mcp-stdio-client").ok())
                    .ok_or_else(|| ErrorData::internal_error("no approver", None))?;
                let _ = approvals.deny(tenant, &request.id, &approver).await;
                let _ = approvals.find(key, tenant).await;
                to_rmcp(&denied(request)).map(Into::into)
            }
            Err(_) => approval_required(request, None).map(Into::into),
        }
    }
}

fn call_context(session: &McpSession, connection: ConnectionId) -> CallContext {
    let publication = session.publications.get(&connection).cloned();
    let call = CallContext::new(session.session.clone(), connection);
    match publication {
        Some(publication) => call.with_publication(publication),
        None => call,
    }
}

fn approval_message(request: &ApprovalRequest, url: Option<&str>) -> String {
    let place = url.map_or_else(
        || "in the host application".to_owned(),
        |url| format!("at {url}"),
    );
    format!(
        "This call of {} needs a person's approval and has not run. Approve request {} {place}, then call the tool again with the same arguments to receive its result. The request expires at {}.",
        request.tool,
        request.id,
        request.expires_at.to_rfc3339()
    )
}

/// A 2026-07-28 `input_required` result asking the client for `elicitation` (the
/// params of an `elicitation/create`), with the approval id as the opaque request state.
fn input_required(elicitation: Value, approval: &str) -> Result<InputRequiredResult, ErrorData> {
    let mut request = serde_json::Map::new();
    request.insert("method".into(), json!("elicitation/create"));
    request.insert("params".into(), elicitation);
    let request: InputRequest = serde_json::from_value(Value::Object(request))
        .map_err(|_| ErrorData::internal_error("an elicitation could not be encoded", None))?;
    let mut requests = InputRequests::new();
    requests.insert(APPROVAL_INPUT.to_owned(), request);
    Ok(InputRequiredResult::new(
        Some(requests),
        Some(approval.to_owned()),
    ))
}

/// The result of a call the desk found approved and run (handed over now).
fn settled(found: Result<Found, integrations_core::Error>) -> Option<Box<ToolResult>> {
    match found {
        Ok(Found::Known(known)) => match *known {
            Known::Settled(result) => Some(result),
            _ => None,
        },
        Ok(Found::Nothing | Found::InFlight(_)) | Err(_) => None,
    }
}

/// What `result` comes to for an `ask` call: the request it names registered under
/// `reservation`, or the result itself.
async fn settle(result: ToolResult, reservation: Reservation) -> Asked {
    match approval_of(&result) {
        Some(request) => Asked::Waiting(Box::new(reservation.register(request).await)),
        None => Asked::Answered(result),
    }
}

/// What asking the runtime about an `ask` call came to.
enum Asked {
    /// The call waits in a request, registered (or why it could not be).
    Waiting(Box<Result<Known, Error>>),
    /// The runtime answered without a request (a failure, or a policy changed to `auto`).
    Answered(ToolResult),
}

/// The approval request a call's result stored, when the runtime asked for one.
fn approval_of(result: &ToolResult) -> Option<ApprovalRequest> {
    result
        .approval
        .as_deref()
        .cloned()
        .filter(|_| result.status == ToolStatus::ApprovalRequired)
}

/// The answer to a retry while the approved call runs: not a new request (the call is
/// running once already), and not yet its result.
fn approval_running(request: &ApprovalRequest) -> Result<CallToolResult, ErrorData> {
    serde_json::from_value(json!({
        "resultType": "complete",
        "content": [{"type": "text", "text": format!(
            "This call of {} was approved (request {}) and is running now. Call the tool again with the same arguments in a moment to receive its result.",
            request.tool, request.id
        )}],
        "isError": true,
        "_meta": {
            "integrations/approval": {
                "id": request.id.as_str(),
                "tool": request.tool,
                "running": true,
            },
            "integrations/error": code_meta(
                crate::codes::mcp::APPROVAL_RUNNING,
                "the approved call is running now; call again in a moment",
            ),
        },
    }))
    .map_err(|_| ErrorData::internal_error("a tool result could not be encoded", None))
}

fn approval_required(
    request: &ApprovalRequest,
    url: Option<&str>,
) -> Result<CallToolResult, ErrorData> {
    let mut approval = json!({
        "id": request.id.as_str(),
        "tool": request.tool,
        "expiresAt": request.expires_at.to_rfc3339(),
    });
    if let Some(url) = url {
        approval["url"] = json!(url);
    }
    serde_json::from_value(json!({
        "resultType": "complete",
        "content": [{"type": "text", "text": approval_message(request, url)}],
        "isError": true,
        "_meta": {
            "integrations/approval": approval,
            "integrations/error": code_meta(
                integrations_core::codes::tool::APPROVAL_REQUIRED,
                "the call needs a person's approval and has not run",
            ),
        },
    }))
    .map_err(|_| ErrorData::internal_error("a tool result could not be encoded", None))
}

/// The `integrations/error` member of an `isError` result that is not a failure (an
/// approval asked for, a call running): its stable code, as failures carry theirs.
fn code_meta(code: integrations_core::Code, message: &str) -> Value {
    json!({
        "kind": code.kind().as_str(),
        "code": code.as_str(),
        "message": message,
        "retryable": code.kind() == integrations_core::ErrorKind::Unavailable,
    })
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new(
            self.shared.options.name.clone(),
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(self.shared.options.instructions.clone())
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&NEWEST_REVISION))
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        self.principal(&context)?;
        let _ = self.connection.initialized.set(());
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let tenant = self
            .connection
            .fixed
            .as_ref()
            .or_else(|| self.connection.bound.get())
            .map(|session| session.session.tenant.clone());
        self.watch_changes(context.peer, tenant);
    }

    /// 2026-07-28 clients, which have no session to be notified on, learn that the tool
    /// list changed through `subscriptions/listen`: the one category offered is
    /// `toolsListChanged`.
    fn accepted_subscription_filter(
        &self,
        _requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(SubscriptionFilter::builder().tools_list_changed().build())
    }

    /// Sends `notifications/tools/list_changed` on the subscription each time the host
    /// calls [`McpService::tools_changed`], until the client cancels it.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let tenant = self.principal(context.request_context())?.session.tenant;
        // A client that asked for none of what the server offers hears nothing; its
        // subscription stays open until it cancels it (the sink would refuse the
        // notification, and ending would be a teardown the client never asked for).
        if context.accepted().tools_list_changed != Some(true) {
            context.cancelled().await;
            return Ok(());
        }
        let mut changes = self.shared.changes.subscribe();
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                change = changes.recv() => match change {
                    Ok(Some(other)) if other != tenant => {}
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        if context.sink().notify_tool_list_changed().await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
            }
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let session = self.principal(&context)?;
        self.watch_changes(context.peer.clone(), Some(session.session.tenant.clone()));
        let manifest = self.shared.manifest(&session.session).await?;
        let cursor = request.and_then(|r| r.cursor);
        let tools = self
            .shared
            .callable(&session, &manifest, cursor.is_none())
            .await?;
        let descriptors = listed(&tools);
        let start = match cursor {
            None => 0,
            Some(cursor) => {
                let after = listed_after(&cursor)
                    .ok_or_else(|| ErrorData::invalid_params("the cursor is not valid", None))?;
                start_after(&tools, descriptors.len(), &after)
            }
        };
        let end = start
            .saturating_add(self.shared.options.page_size)
            .min(descriptors.len());
        let tools: Vec<Value> = descriptors[start..end]
            .iter()
            .map(export::mcp::tool)
            .collect();
        // `resultType` is required from 2026-07-28; rmcp strips it for older peers.
        let mut out = json!({ "resultType": "complete", "tools": tools });
        if let Some(last) = descriptors[start..end].last()
            && end < descriptors.len()
        {
            out["nextCursor"] = json!(list_cursor(&last.name));
        }
        serde_json::from_value(out)
            .map_err(|_| ErrorData::internal_error("the tool list could not be encoded", None))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let session = self.principal(&context)?;
        let name = request.name.as_ref();
        let retry = Retry {
            responses: request.input_responses,
            state: request.request_state,
        };
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        if name == CONTINUE_TOOL_NAME {
            let result = self.continue_result(&session, arguments, &context).await?;
            return to_rmcp(&result).map(Into::into);
        }
        // The desk first, whatever the tool's policy is now: a call waiting for a person,
        // or approved and run, is answered by its request even when the tool has been
        // switched to `auto` (running it here would run it twice) or to `block` (its
        // result would never be handed over) since.
        let key = CallKey::new(&session, name, &arguments);
        loop {
            let found = self
                .shared
                .approvals
                .find(key, &session.session.tenant)
                .await;
            let found = match found {
                Ok(found) => found,
                Err(e) => return to_rmcp(&ToolResult::failure(&e)).map(Into::into),
            };
            match found {
                Found::Known(known) => {
                    return self.answer(&session, key, *known, retry, &context).await;
                }
                Found::InFlight(asking) => {
                    tokio::select! {
                        () = asking.wait() => {}
                        () = context.ct.cancelled() => return Err(cancelled()),
                    }
                }
                Found::Nothing => break,
            }
        }
        let manifest = self.shared.manifest(&session.session).await?;
        let Some(tool) = manifest.get(name) else {
            let shown: String = name.chars().take(64).collect();
            return Err(ErrorData::invalid_params(
                format!("Unknown tool: {shown}"),
                None,
            ));
        };
        let call = self.call_context(&session, tool.connection.clone());
        if tool.policy == ToolPolicy::Ask {
            return self
                .ask(&session, name, arguments, &call, retry, &context)
                .await;
        }
        let result = self.run(name, arguments, &call, &context).await?;
        if let Some(request) = approval_of(&result) {
            // The manifest (cached a moment) was stale and the runtime asks now: keep
            // the request here as an `ask` call does, or no one here could approve it.
            let known = match self.shared.approvals.register(key, request).await {
                Ok(known) => known,
                Err(refused) => return to_rmcp(&ToolResult::failure(&refused)).map(Into::into),
            };
            return self.answer(&session, key, known, retry, &context).await;
        }
        to_rmcp(&result).map(Into::into)
    }
}
