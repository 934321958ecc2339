//! `integrations mcp serve`: the MCP server, on stdio or streamable HTTP.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use clap::{Args, Subcommand};
use integrations_core::auth::TokenManager;
use integrations_core::host::{Host, ReqwestHttpClient};
use integrations_core::tools::{ApprovalId, Policies, PolicySet, Runtime, Session};
use integrations_core::{
    Error, PublicationId, Registry, TenantId, UserId, ValidationIssue, WorkspaceId,
};
#[cfg(feature = "demo")]
use integrations_mcp::demo::Demo;
use integrations_mcp::{
    McpAuthenticator, McpHttpOptions, McpOptions, McpService, McpSession, PageKey,
};
use subtle::ConstantTimeEq as _;

use crate::commands::stores::{OpenStores, StoreArgs};

/// The MCP server.
#[derive(Debug, Subcommand)]
pub(crate) enum McpCommand {
    /// Serve a tenant's connected tools over MCP: stdio by default, or streamable HTTP
    /// at `http://ADDR/mcp` with `--http ADDR`.
    Serve(ServeArgs),
}

/// `integrations mcp serve` options.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Serve streamable HTTP on this address (`127.0.0.1:8765`) instead of stdio. The
    /// bearer token comes from `--token-file`, `INTEGRATIONS_MCP_TOKEN`, or a random one
    /// is printed.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// `--http` only: a host name (or address) clients reach the server by, besides
    /// loopback and the `--http` address itself (repeatable): requests whose `Host`
    /// header names no allowed host are refused (DNS rebinding). Required when `--http`
    /// listens on every interface (`0.0.0.0`, `::`).
    #[arg(long = "allowed-host", value_name = "HOST")]
    allowed_hosts: Vec<String>,
    /// The stored records to serve (`--database-url`, `SEALING_KEY` or `--key-file`).
    #[command(flatten)]
    stores: StoreArgs,
    /// With a database: the tenant whose connections are served.
    #[arg(long, value_name = "TENANT")]
    tenant: Option<String>,
    /// With a database: the workspace the agent works in (its policies and
    /// publications apply).
    #[arg(long, value_name = "WORKSPACE", default_value = "default")]
    workspace: String,
    /// With a database: the user the agent acts for (also who approves on the approval
    /// page; `cli-reviewer` without it).
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// With a database: a stored publication granting its connection's tool capabilities
    /// (repeatable; a tool that needs a capability is listed only where one grants it).
    #[arg(long = "publication", value_name = "ID")]
    publications: Vec<String>,
    /// With a database: a JSON policy file for the workspace:
    /// `{"tools": {"slack_send_message": "ask"}, "integrations": {"github::github-cloud": "block"}}`.
    #[arg(long, value_name = "FILE")]
    policy: Option<std::path::PathBuf>,
    /// Serve the offline demo tenant: Linear, GitHub, Slack and OpenAI connections on
    /// mock APIs on loopback, and an approval page on loopback. The database, if any, is
    /// not opened.
    #[arg(long)]
    demo: bool,
    /// Where the approval page listens (loopback only: whoever opens the sign-in link it
    /// prints approves as `--user`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    approval_addr: SocketAddr,
    /// stdio only, off by default: take the client's form-mode elicitation `accept` as the
    /// user's approval of an `ask` tool. Only for a local client whose UI is yours: any
    /// client can answer `accept` without asking anyone.
    #[arg(long)]
    trust_client_approvals: bool,
    /// `--http` only: a file whose first line is the bearer token clients must send
    /// (at least 16 characters). Else `INTEGRATIONS_MCP_TOKEN` (at least 16 characters
    /// too), else a random token is printed on stderr.
    #[arg(long, value_name = "FILE")]
    token_file: Option<std::path::PathBuf>,
}

fn usage(code: integrations_core::Code, message: &'static str) -> Error {
    code.error(message)
}

fn io_error(message: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    // The OS reason is in the message: the CLI prints messages, not sources.
    move |e| {
        crate::codes::mcp::IO
            .error(format!("{message}: {e}"))
            .with_source(e)
    }
}

/// Runs `integrations mcp <command>`.
pub(crate) fn run(command: McpCommand) -> Result<ExitCode, Error> {
    let McpCommand::Serve(args) = command;
    match (args.demo, args.stores.is_given()) {
        (false, false) => {
            return Err(usage(
                crate::codes::mcp::NOTHING_TO_SERVE,
                "give --database-url URL (or DATABASE_URL) and --tenant to serve stored connections, or --demo for the offline demo tenant",
            ));
        }
        (false, true) if args.tenant.is_none() => {
            return Err(usage(
                crate::codes::mcp::TENANT_REQUIRED,
                "give --tenant: whose stored connections to serve",
            ));
        }
        _ => {}
    }
    if args.trust_client_approvals && args.http.is_some() {
        return Err(usage(
            crate::codes::mcp::TRUST_OVER_HTTP,
            "--trust-client-approvals is for a local stdio client only, never for HTTP",
        ));
    }
    if args.http.is_some_and(|addr| addr.ip().is_unspecified()) && args.allowed_hosts.is_empty() {
        return Err(usage(
            crate::codes::mcp::ALLOWED_HOST_REQUIRED,
            "--http on every interface serves only clients whose Host header names an allowed host: give --allowed-host NAME for each name clients use",
        ));
    }
    if !args.approval_addr.ip().is_loopback() {
        return Err(usage(
            crate::codes::mcp::APPROVAL_ADDR_NOT_LOOPBACK,
            "the approval page is for the person at this machine: it listens on loopback only",
        ));
    }
    // Read (and a short one refused) before anything starts, as the other usage errors
    // are.
    let given = if args.http.is_some() {
        given_token(&args)?
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal("the async runtime could not start").with_source(e))?;
    runtime.block_on(serve(args, given))?;
    Ok(ExitCode::SUCCESS)
}

/// The one bearer token `mcp serve --http` accepts, for the served session.
struct DemoToken {
    token: String,
    session: McpSession,
}

#[async_trait]
impl McpAuthenticator for DemoToken {
    async fn authenticate(&self, token: &str) -> Result<Option<McpSession>, Error> {
        let same: bool = token.as_bytes().ct_eq(self.token.as_bytes()).into();
        Ok(same.then(|| self.session.clone()))
    }
}

/// What one `mcp serve` serves: the service, the session clients act for, and the
/// approval page for the person at this machine, with the key that signs them in.
struct Served {
    service: McpService,
    session: McpSession,
    page: axum::Router,
    page_key: PageKey,
}

/// Serves with the bearer token `given` (`--token-file` or `INTEGRATIONS_MCP_TOKEN`),
/// else a random one, over HTTP.
async fn serve(args: ServeArgs, given: Option<String>) -> Result<(), Error> {
    let approvals = tokio::net::TcpListener::bind(args.approval_addr)
        .await
        .map_err(io_error("the approval page could not listen"))?;
    let approvals_addr = approvals
        .local_addr()
        .map_err(io_error("the approval page has no address"))?;
    // The MCP listener too is bound before anything is printed: a port in use fails
    // with its code on stderr's first line, as every failure does.
    let http = match args.http {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(io_error("the MCP server could not listen"))?,
        ),
        None => None,
    };
    let approval_base = format!("http://{approvals_addr}/approvals");
    let served = if args.demo {
        demo(&approval_base).await?
    } else {
        stored(&args, &approval_base).await?
    };
    let page = served.page.clone();
    tokio::spawn(async move {
        let _ = axum::serve(approvals, page).await;
    });
    eprintln!("integrations mcp: approval page: {approval_base}");
    // The sign-in link goes to the operator only: the approval URLs an MCP client is
    // given carry no key, so the agent cannot approve its own calls through them.
    eprintln!(
        "integrations mcp: approval page sign-in (open it once in your browser; do not share it): http://{approvals_addr}{}",
        served.page_key.sign_in_path()
    );
    serve_mcp(&args, served, given, http).await
}

#[cfg(not(feature = "demo"))]
#[allow(
    clippy::unused_async,
    reason = "the same signature as the demo it stands for"
)]
async fn demo(_approval_base: &str) -> Result<Served, Error> {
    Err(super::demo_unavailable())
}

#[cfg(feature = "demo")]
async fn demo(approval_base: &str) -> Result<Served, Error> {
    let demo = Arc::new(
        Demo::start(
            McpOptions::new()
                .with_name("integrations-demo")
                .with_approval_url(approval_base),
        )
        .await?,
    );
    eprintln!("integrations mcp: demo tenant `demo`, workspace `main`, user `demo-user`");
    Ok(Served {
        service: demo.service.clone(),
        session: demo.session.clone(),
        page: demo.approval_router(),
        page_key: demo.page_key().clone(),
    })
}

/// The tenant's stored connections: the stores opened with the sealing key, a runtime
/// over them (the workspace's policy file, if any), and the session of `--tenant`,
/// `--workspace`, `--user` and the `--publication`s.
async fn stored(args: &ServeArgs, approval_base: &str) -> Result<Served, Error> {
    let tenant = TenantId::new(args.tenant.clone().unwrap_or_default())?;
    let workspace = WorkspaceId::new(args.workspace.clone())?;
    let user = args.user.clone().map(UserId::new).transpose()?;
    let registry = Arc::new(integrations_definitions::registry());
    let policies = args
        .policy
        .as_deref()
        .map(|path| policy_file(path, &registry))
        .transpose()?;
    let OpenStores { stores, keys } = args.stores.open().await?;
    let host = Host::builder()
        .stores(stores)
        .http(Arc::new(ReqwestHttpClient::new()?))
        .cipher(keys)
        .build()?;
    let mut session = Session::new(tenant.clone(), workspace.clone());
    if let Some(user) = &user {
        session = session.with_user(user.clone());
    }
    let mut session = McpSession::new(session);
    for id in &args.publications {
        let id = PublicationId::new(id.clone())?;
        let Some(publication) = host.publications().get_publication(&tenant, &id).await? else {
            return Err(crate::codes::mcp::PUBLICATION_NOT_FOUND
                .error(format!("the tenant has no publication {id}")));
        };
        session = session.with_publication(publication.connection, id);
    }
    let tokens = Arc::new(TokenManager::new(Arc::clone(&registry), host.clone()));
    let mut runtime = Runtime::new(registry, host, tokens);
    if let Some(set) = policies {
        runtime = runtime.with_policies(Arc::new(Policies::new().with_workspace(
            tenant.clone(),
            workspace.clone(),
            set,
        )));
    }
    let service = McpService::new(Arc::new(runtime)).with_options(
        McpOptions::new()
            .with_name("integrations")
            .with_approval_url(approval_base),
    );
    let reviewer = match user {
        Some(user) => user,
        None => UserId::new("cli-reviewer")?,
    };
    let page_key = PageKey::generate()?;
    let page = service
        .approvals()
        .loopback_page(tenant.clone(), reviewer, page_key.clone());
    eprintln!(
        "integrations mcp: tenant `{tenant}`, workspace `{workspace}`, {} publication(s), from the database",
        session.publications.len()
    );
    if session.publications.is_empty() {
        // Without one, tools/list leaves out every tool that needs a capability (every
        // shipped Linear, GitHub and Slack tool): say why here, where the user looks.
        eprintln!(
            "integrations mcp: no --publication given: tools that need a capability are not listed (grant them with a stored publication, --publication ID)"
        );
    }
    Ok(Served {
        service,
        session,
        page,
        page_key,
    })
}

/// A workspace policy file (JSON [`PolicySet`]; either map may be left out). A file
/// written by hand is read strictly: an unknown member, a tool no integration offers or
/// an integration not registered is refused, never silently left without effect (a
/// `block` with a typo in its tool's name would block nothing).
fn policy_file(path: &std::path::Path, registry: &Registry) -> Result<PolicySet, Error> {
    let invalid = |detail: String| {
        crate::codes::mcp::POLICY_INVALID.error(format!(
                "the policy file is not a policy set ({{\"tools\": {{name: \"auto\"|\"ask\"|\"block\"}}, \"integrations\": {{key: ...}}}}): {detail}"
            ),
        )
    };
    let text = std::fs::read_to_string(path).map_err(|e| crate::io::unreadable(path, e))?;
    let mut value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| invalid(format!("line {}, column {}", e.line(), e.column())))?;
    let Some(object) = value.as_object_mut() else {
        return Err(invalid("not an object".to_owned()));
    };
    if object
        .keys()
        .any(|key| !matches!(key.as_str(), "tools" | "integrations"))
    {
        return Err(invalid(
            "it has a member other than \"tools\" and \"integrations\"".to_owned(),
        ));
    }
    for key in ["tools", "integrations"] {
        object
            .entry(key)
            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    }
    let set: PolicySet = serde_json::from_value(value)
        .map_err(|e| invalid(integrations_core::schema::mask_quoted(&e.to_string())))?;
    let mut issues = Vec::new();
    for name in set.tools.keys() {
        if registry.tool_owners(name).next().is_none() {
            // A tool's name is quoted only when it is one (never a value pasted there).
            let message = if integrations_core::definition::sanitize_tool_name(name) == *name {
                format!("no integration offers a tool named {name}")
            } else {
                "not a tool name".to_owned()
            };
            issues.push(ValidationIssue::new(
                crate::codes::mcp::POLICY_INVALID,
                "/tools",
                message,
            ));
        }
    }
    for key in set.integrations.keys() {
        if registry.get(key).is_none() {
            issues.push(ValidationIssue::new(
                crate::codes::mcp::POLICY_INVALID,
                "/integrations",
                format!("no integration is registered under {key}"),
            ));
        }
    }
    if let Some(first) = issues.first() {
        return Err(crate::codes::mcp::POLICY_INVALID.with_issues(
            format!(
                "the policy file names what nothing here is ({}), so its policy would apply to nothing",
                first.message
            ),
            issues,
        ));
    }
    Ok(set)
}

/// The bearer token of the HTTP transport: the one the user gave, else a random one
/// printed on stderr.
fn bearer_token(given: Option<String>) -> Result<String, Error> {
    if let Some(token) = given {
        return Ok(token);
    }
    let token = ApprovalId::generate()?.as_str().to_owned();
    eprintln!("integrations mcp: bearer token: {token}");
    Ok(token)
}

/// The bearer token the user gave (`--token-file`, else `INTEGRATIONS_MCP_TOKEN`),
/// refused when shorter than 16 characters, whichever way it came: a short one would be
/// guessed.
fn given_token(args: &ServeArgs) -> Result<Option<String>, Error> {
    let (token, source) = if let Some(path) = &args.token_file {
        let text = std::fs::read_to_string(path).map_err(|e| crate::io::unreadable(path, e))?;
        (
            text.lines().next().unwrap_or_default().trim().to_owned(),
            "--token-file",
        )
    } else {
        match std::env::var("INTEGRATIONS_MCP_TOKEN") {
            Ok(token) if !token.trim().is_empty() => {
                (token.trim().to_owned(), "INTEGRATIONS_MCP_TOKEN")
            }
            _ => return Ok(None),
        }
    };
    if token.len() < 16 {
        return Err(crate::codes::mcp::TOKEN_TOO_SHORT.error(format!(
            "the bearer token in {source} must be at least 16 characters"
        )));
    }
    Ok(Some(token))
}

/// Serves on `http`, the bound listener of `--http`, else on stdio.
async fn serve_mcp(
    args: &ServeArgs,
    served: Served,
    given: Option<String>,
    http: Option<tokio::net::TcpListener>,
) -> Result<(), Error> {
    let Served {
        service, session, ..
    } = served;
    let Some(listener) = http else {
        eprintln!("integrations mcp: serving MCP on stdio");
        return if args.trust_client_approvals {
            eprintln!(
                "integrations mcp: trusting the client's elicitation `accept` as approval (--trust-client-approvals)"
            );
            service.serve_stdio_trusting_client(session).await
        } else {
            service.serve_stdio(session).await
        };
    };
    let token = bearer_token(given)?;
    let local = listener
        .local_addr()
        .map_err(io_error("the MCP server has no address"))?;
    let mut options = McpHttpOptions::new();
    let mut hosts = options.allowed_hosts.clone();
    if !local.ip().is_loopback() && !local.ip().is_unspecified() {
        hosts.push(local.ip().to_string());
    }
    hosts.extend(args.allowed_hosts.iter().cloned());
    options = options.with_allowed_hosts(hosts);
    let router = service.http_router(Arc::new(DemoToken { token, session }), options);
    let app = axum::Router::new().nest("/mcp", router);
    let shown = match args.allowed_hosts.first() {
        Some(host) if local.ip().is_unspecified() => format!("{host}:{}", local.port()),
        _ => local.to_string(),
    };
    eprintln!("integrations mcp: serving MCP at http://{shown}/mcp");
    axum::serve(listener, app)
        .await
        .map_err(io_error("the MCP server stopped"))
}
