//! The demo tenant, rmcp clients, and a check that no secret crosses the wire.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use integrations_core::host::ApprovalStore;
use integrations_core::tools::{ApprovalCall, ApprovalId, ApprovalRequest, ApprovalStage};
use integrations_core::{Error, TenantId, Timestamp};
use integrations_mcp::demo::{Demo, SECRETS};
use integrations_mcp::{McpOptions, McpServer};
use integrations_testkit::MemoryStore;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientConfig, ElicitRequestParams, ElicitResult,
    ElicitationAction,
};
use rmcp::service::{NotificationContext, RequestContext, RunningService};
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceError, ServiceExt as _};
use serde_json::{Value, json};
use tokio::sync::Notify;

pub(crate) const APPROVALS: &str = "http://127.0.0.1:9/approvals";

pub(crate) async fn demo() -> Arc<Demo> {
    demo_with(McpOptions::new()).await
}

pub(crate) async fn demo_with(options: McpOptions) -> Arc<Demo> {
    Arc::new(
        Demo::start(options.with_approval_url(APPROVALS))
            .await
            .unwrap(),
    )
}

/// A client whose capabilities and elicitation answers a test chooses.
#[derive(Clone)]
pub(crate) struct Client {
    pub(crate) info: ClientConfig,
    /// Answer every elicitation with `accept` (a client that shows nobody anything).
    pub(crate) accept: bool,
    pub(crate) elicitations: Arc<AtomicUsize>,
    pub(crate) list_changed: Arc<Notify>,
    pub(crate) progress: Arc<AtomicUsize>,
}

impl Client {
    /// `elicitation`: the capability JSON (`{"form": {}, "url": {}}`), or none.
    pub(crate) fn new(elicitation: Option<Value>, accept: bool) -> Self {
        let mut capabilities = json!({});
        if let Some(e) = elicitation {
            capabilities["elicitation"] = e;
        }
        let info = serde_json::from_value(json!({
            "protocolVersion": "2025-11-25",
            "capabilities": capabilities,
            "clientInfo": {"name": "rmcp-test-client", "version": "1.0.0"},
        }))
        .unwrap();
        Self {
            info,
            accept,
            elicitations: Arc::default(),
            list_changed: Arc::default(),
            progress: Arc::default(),
        }
    }

    pub(crate) fn plain() -> Self {
        Self::new(None, false)
    }
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn create_elicitation(
        &self,
        _request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        self.elicitations.fetch_add(1, Ordering::SeqCst);
        let action = if self.accept {
            ElicitationAction::Accept
        } else {
            ElicitationAction::Decline
        };
        Ok(serde_json::from_value(json!({"action": action, "content": {}})).unwrap())
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed.notify_one();
    }

    async fn on_progress(
        &self,
        _params: rmcp::model::ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.fetch_add(1, Ordering::SeqCst);
    }
}

pub(crate) type Running = RunningService<RoleClient, Client>;

/// `client` connected in-process (a duplex pipe, as stdio would be) to `server`.
pub(crate) async fn connect(server: McpServer, client: Client) -> Running {
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    client.serve(client_io).await.unwrap()
}

pub(crate) async fn plain(demo: &Demo) -> Running {
    connect(demo.service.server(demo.session.clone()), Client::plain()).await
}

pub(crate) fn call(name: &'static str, arguments: Value) -> CallToolRequestParams {
    let Value::Object(arguments) = arguments else {
        panic!("arguments are an object")
    };
    CallToolRequestParams::new(name).with_arguments(arguments)
}

/// Fails when any demo secret appears in `wire` (anything that crossed the protocol).
pub(crate) fn assert_no_secret(wire: &str) {
    for secret in SECRETS {
        assert!(!wire.contains(secret), "a secret crossed the wire: {wire}");
    }
}

pub(crate) fn json_of(result: &CallToolResult) -> Value {
    let value = serde_json::to_value(result).unwrap();
    assert_no_secret(&value.to_string());
    value
}

pub(crate) fn text(result: &CallToolResult) -> String {
    json_of(result)["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub(crate) fn mcp_error(error: ServiceError) -> ErrorData {
    integrations_testkit::assert_secret_free(&error, SECRETS[0]);
    match error {
        ServiceError::McpError(e) => {
            assert_no_secret(&serde_json::to_string(&e).unwrap());
            e
        }
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}

pub(crate) fn calls(demo: &Demo, field: &str) -> u64 {
    demo.provider_calls()[field].as_u64().unwrap()
}

/// `slack_send_message` of `text` to the demo's channel: an `ask` tool.
pub(crate) fn send_message(demo: &Demo, text: &str) -> CallToolRequestParams {
    call(
        "slack_send_message",
        json!({"channel": demo.channel, "text": text}),
    )
}

/// The approval id of an `ask` call's result.
pub(crate) fn approval_id(result: &Value) -> ApprovalId {
    ApprovalId::new(
        result["_meta"]["integrations/approval"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no approval in {result}")),
    )
    .unwrap()
}

/// What an approval store wrapper does before the demo's store answers a put or a take.
#[async_trait]
pub(crate) trait ApprovalHooks: Send + Sync + 'static {
    /// Before `request` is stored.
    async fn before_put(&self, _request: &ApprovalRequest) -> Result<(), Error> {
        Ok(())
    }

    /// Before a request is taken.
    async fn before_take(&self) -> Result<(), Error> {
        Ok(())
    }

    /// After a request was taken (or found missing).
    async fn after_take(&self) {}

    /// After an approval call was stored: an error here is the store's answer, though
    /// the write landed (a connection lost after the commit).
    async fn after_put_call(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// The demo's approval store, with `hooks` run before each put and take of a request;
/// everything else goes straight to the store.
pub(crate) struct Hooked<H> {
    pub(crate) store: Arc<MemoryStore>,
    pub(crate) hooks: H,
}

#[async_trait]
impl<H: ApprovalHooks> ApprovalStore for Hooked<H> {
    async fn put_approval(&self, request: &ApprovalRequest) -> Result<(), Error> {
        self.hooks.before_put(request).await?;
        self.store.put_approval(request).await
    }

    async fn take_approval(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        now: Timestamp,
    ) -> Result<Option<ApprovalRequest>, Error> {
        self.hooks.before_take().await?;
        let taken = self.store.take_approval(tenant, id, now).await;
        self.hooks.after_take().await;
        taken
    }

    async fn put_approval_call(
        &self,
        call: &ApprovalCall,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        let stored = self.store.put_approval_call(call, now).await;
        self.hooks.after_put_call().await?;
        stored
    }

    async fn get_approval_call(
        &self,
        tenant: &TenantId,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        self.store.get_approval_call(tenant, key, now).await
    }

    async fn find_approval_call(
        &self,
        tenant: &TenantId,
        approval: &ApprovalId,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        self.store.find_approval_call(tenant, approval, now).await
    }

    async fn list_approval_calls(
        &self,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<Vec<ApprovalCall>, Error> {
        self.store.list_approval_calls(tenant, now).await
    }

    async fn count_pending_approval_calls(
        &self,
        tenant: &TenantId,
        workspace: &integrations_core::WorkspaceId,
        user: Option<&integrations_core::UserId>,
        now: Timestamp,
    ) -> Result<u64, Error> {
        self.store
            .count_pending_approval_calls(tenant, workspace, user, now)
            .await
    }

    async fn update_approval_call(
        &self,
        call: &ApprovalCall,
        from: ApprovalStage,
    ) -> Result<bool, Error> {
        self.store.update_approval_call(call, from).await
    }

    async fn take_answered_call(
        &self,
        tenant: &TenantId,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        self.store.take_answered_call(tenant, key, now).await
    }
}
