//! `integrations mcp serve`: the MCP server, on stdio or streamable HTTP.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use clap::{Args, Subcommand};
use integrations_core::tools::ApprovalId;
use integrations_core::{Error, ErrorKind};
use integrations_mcp::demo::Demo;
use integrations_mcp::{McpAuthenticator, McpHttpOptions, McpOptions, McpSession};
use subtle::ConstantTimeEq as _;

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
    /// bearer token comes from `INTEGRATIONS_MCP_TOKEN`, or a random one is printed.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Serve the connections stored in this database.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Serve the offline demo tenant: Linear, GitHub, Slack and OpenAI connections on
    /// mock APIs on loopback, and an approval page on loopback.
    #[arg(long)]
    demo: bool,
    /// Where the demo's approval page listens (loopback only).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    approval_addr: SocketAddr,
    /// stdio only, off by default: take the client's form-mode elicitation `accept` as the
    /// user's approval of an `ask` tool. Only for a local client whose UI is yours: any
    /// client can answer `accept` without asking anyone.
    #[arg(long)]
    trust_client_approvals: bool,
}

fn usage(code: &'static str, message: &'static str) -> Error {
    Error::new(ErrorKind::Configuration, code, message)
}

fn io_error(message: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::new(ErrorKind::Unavailable, "mcp.io", message).with_source(e)
}

/// Runs `integrations mcp <command>`.
pub(crate) fn run(command: McpCommand) -> Result<ExitCode, Error> {
    let McpCommand::Serve(args) = command;
    if args.database_url.is_some() {
        return Err(usage(
            "mcp.database_not_supported",
            "--database-url is not supported yet: serving stored connections over MCP is not wired; use --demo",
        ));
    }
    if !args.demo {
        return Err(usage(
            "mcp.nothing_to_serve",
            "pass --demo to serve the offline demo tenant (stored connections need --database-url, not supported yet)",
        ));
    }
    if args.trust_client_approvals && args.http.is_some() {
        return Err(usage(
            "mcp.trust_over_http",
            "--trust-client-approvals is for a local stdio client only, never for HTTP",
        ));
    }
    if !args.approval_addr.ip().is_loopback() {
        return Err(usage(
            "mcp.approval_addr_not_loopback",
            "the demo approval page has no login: it listens on loopback only",
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal("the async runtime could not start").with_source(e))?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

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

async fn serve(args: ServeArgs) -> Result<(), Error> {
    let approvals = tokio::net::TcpListener::bind(args.approval_addr)
        .await
        .map_err(io_error("the approval page could not listen"))?;
    let approvals_addr = approvals
        .local_addr()
        .map_err(io_error("the approval page has no address"))?;
    let approval_base = format!("http://{approvals_addr}/approvals");
    let demo = Arc::new(
        Demo::start(
            McpOptions::new()
                .with_name("integrations-demo")
                .with_approval_url(&approval_base),
        )
        .await?,
    );
    let page = demo.approval_router();
    tokio::spawn(async move {
        let _ = axum::serve(approvals, page).await;
    });
    eprintln!("integrations mcp: demo tenant `demo`, workspace `main`, user `demo-user`");
    eprintln!("integrations mcp: approval page: {approval_base}");

    let Some(addr) = args.http else {
        eprintln!("integrations mcp: serving MCP on stdio");
        let session = demo.session.clone();
        return if args.trust_client_approvals {
            eprintln!(
                "integrations mcp: trusting the client's elicitation `accept` as approval (--trust-client-approvals)"
            );
            demo.service.serve_stdio_trusting_client(session).await
        } else {
            demo.service.serve_stdio(session).await
        };
    };
    let token = match std::env::var("INTEGRATIONS_MCP_TOKEN") {
        Ok(token) if !token.trim().is_empty() => token,
        _ => {
            let token = ApprovalId::generate()?.as_str().to_owned();
            eprintln!("integrations mcp: bearer token: {token}");
            token
        }
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(io_error("the MCP server could not listen"))?;
    let local = listener
        .local_addr()
        .map_err(io_error("the MCP server has no address"))?;
    let mut options = McpHttpOptions::new();
    if !local.ip().is_loopback() {
        let mut hosts = options.allowed_hosts.clone();
        hosts.push(local.ip().to_string());
        options = options.with_allowed_hosts(hosts);
    }
    let router = demo.service.http_router(
        Arc::new(DemoToken {
            token,
            session: demo.session.clone(),
        }),
        options,
    );
    let app = axum::Router::new().nest("/mcp", router);
    eprintln!("integrations mcp: serving MCP at http://{local}/mcp");
    axum::serve(listener, app)
        .await
        .map_err(io_error("the MCP server stopped"))
}
