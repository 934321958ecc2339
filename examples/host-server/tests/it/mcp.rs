//! `/mcp` next to the OAuth and webhook routes: an MCP client (rmcp's, over streamable
//! HTTP on loopback) lists the session's tools and calls one on a connection to the
//! testkit's mock Linear API with a token the host issued; without one, 401.

use std::sync::Arc;

use host_server::McpTokens;
use integrations::core::tools::Session;
use integrations::core::{ConnectionId, PublicationId, UserId, WorkspaceId};
use integrations_mcp::{McpHttpOptions, McpSession};
use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

use super::tenant;
use super::tools::{LINEAR_KEY, linear_server};

const TOKEN: &str = "host-issued-mcp-token-5c1d9e";

#[tokio::test]
async fn mcp_lists_and_calls_with_a_host_token_and_refuses_without_one() {
    let session = McpSession::new(
        Session::new(tenant(), WorkspaceId::new("main").unwrap())
            .with_user(UserId::new("alice").unwrap()),
    )
    .with_publication(
        ConnectionId::new("linear").unwrap(),
        PublicationId::new("agent-linear").unwrap(),
    );
    let tokens = McpTokens::new().with_token(TOKEN, session);
    let (linear, server) =
        linear_server(|app| app.with_mcp(Arc::new(tokens), McpHttpOptions::new())).await;

    // Without a token, or with a wrong one: 401, before any MCP processing.
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1.0.0"},
        },
    });
    for token in [None, Some("not-a-token")] {
        let mut request = reqwest::Client::new()
            .post(server.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{token:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }

    // With the host's token: the session's tools, and a call on the mock API.
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(server.url("/mcp")).auth_header(TOKEN),
    );
    let client = ().serve(transport).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        tools.iter().any(|t| t.name == "linear_list_teams"),
        "{tools:?}"
    );
    assert!(tools.iter().all(|t| t.name.starts_with("linear_")
        || t.name == integrations::core::tools::CONTINUE_TOOL_NAME));
    let result = client
        .call_tool(CallToolRequestParams::new("linear_list_teams"))
        .await
        .unwrap();
    let value = serde_json::to_value(&result).unwrap();
    assert_eq!(value["isError"], false, "{value}");
    assert_eq!(
        value["structuredContent"]["teams"][0]["key"], "ENG",
        "{value}"
    );
    assert!(!value.to_string().contains(LINEAR_KEY));
    assert_eq!(linear.requests().len(), 1);
    client.cancel().await.unwrap();

    // The other routes are still there.
    let other = server.get("/oauth/callback?state=x&code=y", None).await;
    assert_ne!(other.status, 404);
    server.stop().await;
}
