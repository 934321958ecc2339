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
use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use serde_json::json;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (demo, client, call) = rt.block_on(async {
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
        (demo, client, call)
    });
    let mut group = c.benchmark_group("mcp");
    group.bench_function("runtime_call", |b| {
        b.to_async(&rt).iter(|| async {
            let result = demo
                .runtime
                .call("linear_list_teams", json!({}), &call)
                .await;
            black_box(result)
        });
    });
    group.bench_function("mcp_tools_call", |b| {
        b.to_async(&rt).iter(|| async {
            let result = client
                .call_tool(CallToolRequestParams::new("linear_list_teams"))
                .await
                .unwrap();
            black_box(result)
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
