//! `tools/call` over MCP (rmcp client, in-process duplex transport) beside
//! `Runtime::call` alone: the same read tool on the same demo tenant, in the same run.
//! The goal is MCP ≤ 1.5× the runtime alone.
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use integrations_core::tools::CallContext;
use integrations_mcp::McpOptions;
use integrations_mcp::demo::Demo;
use rmcp::model::{CallToolRequestParams, CallToolResult, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt as _};
use serde_json::json;

/// An MCP server whose one tool answers at once with a fixed result shaped like
/// `linear_list_teams`'s: what rmcp's client, framing and dispatch cost alone.
#[derive(Clone)]
struct Echo(CallToolResult);

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, ErrorData> {
        Ok(self.0.clone().into())
    }
}

/// Both sides (and rmcp's round trip alone) on `rt`, as group `name`.
fn group(c: &mut Criterion, name: &str, rt: &tokio::runtime::Runtime) {
    let (demo, client, call, echo) = rt.block_on(async {
        let demo = Demo::start(McpOptions::new()).await.unwrap();
        let (server_io, client_io) = tokio::io::duplex(1 << 20);
        let server = demo.service.server(demo.session.clone());
        tokio::spawn(async move {
            if let Ok(running) = server.serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        let client = ().serve(client_io).await.unwrap();
        let manifest = demo.runtime.manifest(&demo.session.session).await.unwrap();
        let tool = manifest.get("linear_list_teams").unwrap();
        let publication = demo.session.publications[&tool.connection].clone();
        let call = CallContext::new(demo.session.session.clone(), tool.connection.clone())
            .with_publication(publication);
        // Both sides must do the real work: a completed call through the mock Linear API.
        let direct = demo
            .runtime
            .call("linear_list_teams", json!({}), &call)
            .await;
        assert!(!direct.is_error(), "{direct:?}");
        let over_mcp = client
            .call_tool(CallToolRequestParams::new("linear_list_teams"))
            .await
            .unwrap();
        assert_eq!(over_mcp.is_error, Some(false), "{over_mcp:?}");
        let (server_io, client_io) = tokio::io::duplex(1 << 20);
        let server = Echo(over_mcp);
        tokio::spawn(async move {
            if let Ok(running) = server.serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        let echo = ().serve(client_io).await.unwrap();
        (demo, client, call, echo)
    });
    let mut group = c.benchmark_group(name);
    group.bench_function("runtime_call", |b| {
        b.to_async(rt).iter(|| async {
            let result = demo
                .runtime
                .call("linear_list_teams", json!({}), &call)
                .await;
            black_box(result)
        });
    });
    group.bench_function("mcp_tools_call", |b| {
        b.to_async(rt).iter(|| async {
            let result = client
                .call_tool(CallToolRequestParams::new("linear_list_teams"))
                .await
                .unwrap();
            black_box(result)
        });
    });
    // Not a goal: rmcp's own round trip (client, duplex framing, dispatch) with no tool
    // work, to tell the transport's share of `mcp_tools_call` from the server's.
    group.bench_function("rmcp_round_trip_only", |b| {
        b.to_async(rt).iter(|| async {
            let result = echo
                .call_tool(CallToolRequestParams::new("linear_list_teams"))
                .await
                .unwrap();
            black_box(result)
        });
    });
    group.finish();
    rt.block_on(async move { drop((client, echo, demo)) });
}

fn bench(c: &mut Criterion) {
    // A server with a thread pool, as `integrations mcp serve` runs.
    let pool = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    group(c, "mcp", &pool);
    // One thread: the task hand-offs of both paths cost no cross-thread wake-ups, so the
    // ratio shows the work rather than the scheduler of a shared machine.
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    group(c, "mcp_current_thread", &single);
}

criterion_group!(benches, bench);
criterion_main!(benches);
