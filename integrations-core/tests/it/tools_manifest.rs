//! The manifest: only enabled tools of integrations with an active connection, with the
//! effective policy and the connection that applies (explicit precedence, never lexical).

use std::sync::Arc;

use integrations_core::model::{ConnectionScope, ConnectionStatus};
use integrations_core::tools::{CONTINUE_TOOL_NAME, Policies, PolicySet, Session, ToolPolicy};
use integrations_core::{ConnectionId, TargetId, UserId};
use integrations_testkit::tool_formats::check_mcp_tool;

use crate::tools_support::{Env, tenant, workspace};

fn names(manifest: &integrations_core::tools::Manifest) -> Vec<&str> {
    manifest
        .tools
        .iter()
        .map(|t| t.descriptor.name.as_str())
        .collect()
}

async fn set_scope(env: &Env, id: &str, scope: ConnectionScope) {
    let connections = env.test.host().connections();
    let mut connection = connections
        .get_connection(&tenant(), &ConnectionId::new(id).unwrap())
        .await
        .unwrap()
        .unwrap();
    connection.scope = scope;
    connections.put_connection(&connection).await.unwrap();
}

#[tokio::test]
async fn two_connections_of_equal_rank_make_a_tool_ambiguous() {
    let env = Env::new().await;
    let manifest = env
        .runtime()
        .manifest(&Session::new(tenant(), workspace()))
        .await
        .unwrap();
    assert!(manifest.tools.is_empty());
    let ambiguous: Vec<(&str, Vec<&str>)> = manifest
        .ambiguous
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.connections.iter().map(ConnectionId::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        ambiguous,
        [
            ("tracker_create_ticket", vec!["conn-key", "conn-oauth"]),
            ("tracker_explode_now", vec!["conn-key", "conn-oauth"]),
            ("tracker_list_tickets", vec!["conn-key", "conn-oauth"]),
        ]
    );
    assert!(manifest.descriptors().is_empty());
}

#[tokio::test]
async fn the_most_specific_connection_applies() {
    let env = Env::new().await;
    let alice = UserId::new("alice").unwrap();
    set_scope(
        &env,
        "conn-oauth",
        ConnectionScope::User {
            user: alice.clone(),
        },
    )
    .await;
    let runtime = env.runtime();

    let as_alice = runtime
        .manifest(&Session::new(tenant(), workspace()).with_user(alice))
        .await
        .unwrap();
    assert!(as_alice.ambiguous.is_empty());
    assert!(
        as_alice
            .tools
            .iter()
            .all(|t| t.connection.as_str() == "conn-oauth")
    );

    let anyone = runtime
        .manifest(&Session::new(tenant(), workspace()))
        .await
        .unwrap();
    assert_eq!(
        names(&anyone),
        [
            "tracker_create_ticket",
            "tracker_explode_now",
            "tracker_list_tickets"
        ]
    );
    assert!(
        anyone
            .tools
            .iter()
            .all(|t| t.connection.as_str() == "conn-key")
    );
    let policies: Vec<ToolPolicy> = anyone.tools.iter().map(|t| t.policy).collect();
    assert_eq!(
        policies,
        [ToolPolicy::Ask, ToolPolicy::Auto, ToolPolicy::Auto]
    );
    assert_eq!(
        anyone.get("tracker_list_tickets").unwrap().key.as_str(),
        "tracker::cloud"
    );

    // The exports get the tools and the continuation tool, all valid MCP.
    let descriptors = anyone.descriptors();
    assert_eq!(descriptors.last().unwrap().name, CONTINUE_TOOL_NAME);
    for d in &descriptors {
        assert!(check_mcp_tool(&integrations_core::tools::export::mcp::tool(d)).is_empty());
    }
}

#[tokio::test]
async fn blocked_tools_and_unusable_connections_are_left_out() {
    let env = Env::new().await;
    set_scope(
        &env,
        "conn-oauth",
        ConnectionScope::Workspace {
            workspace: "design".parse().unwrap(),
        },
    )
    .await;
    let runtime = env.runtime_with(Arc::new(
        Policies::new().with_workspace(
            tenant(),
            workspace(),
            PolicySet::new()
                .with_tool("tracker_explode_now", ToolPolicy::Block)
                .unwrap()
                .with_tool("tracker_create_ticket", ToolPolicy::Auto)
                .unwrap(),
        ),
    ));
    let session = Session::new(tenant(), workspace());
    let manifest = runtime.manifest(&session).await.unwrap();
    assert_eq!(
        names(&manifest),
        ["tracker_create_ticket", "tracker_list_tickets"]
    );
    assert_eq!(manifest.tools[0].policy, ToolPolicy::Auto);

    // An inactive connection offers nothing.
    env.test
        .host()
        .connections()
        .set_connection_status(
            &tenant(),
            &ConnectionId::new("conn-key").unwrap(),
            ConnectionStatus::Revoked {
                reason: "revoked by the user".into(),
            },
            integrations_core::Timestamp::from_unix_seconds(1),
        )
        .await
        .unwrap();
    assert!(runtime.manifest(&session).await.unwrap().tools.is_empty());

    // Neither does a connection whose target is disabled.
    let design = Session::new(tenant(), "design".parse().unwrap());
    assert_eq!(runtime.manifest(&design).await.unwrap().tools.len(), 3);
    let targets = env.test.host().targets();
    let mut target = targets
        .get_target(&tenant(), &TargetId::new("tracker").unwrap())
        .await
        .unwrap()
        .unwrap();
    target.enabled = false;
    targets.put_target(&target).await.unwrap();
    assert!(runtime.manifest(&design).await.unwrap().tools.is_empty());
}

/// A call naming a connection the manifest leaves out for its session (scoped to another
/// user or workspace) is refused, never run with that connection's credential.
#[tokio::test]
async fn a_call_through_a_connection_scoped_to_someone_else_is_refused() {
    let env = Env::new().await;
    let alice = UserId::new("alice").unwrap();
    set_scope(
        &env,
        "conn-key",
        ConnectionScope::User {
            user: alice.clone(),
        },
    )
    .await;
    let runtime = env.runtime();
    let mut bob = env.call("conn-key");
    bob.session = Session::new(tenant(), workspace()).with_user(UserId::new("bob").unwrap());
    let refused = runtime
        .call(
            "tracker_list_tickets",
            serde_json::json!({"count": 1}),
            &bob,
        )
        .await;
    assert_eq!(
        refused.failure.as_ref().map(|f| f.code.as_str()),
        Some("tool.connection_out_of_scope"),
        "{refused:?}"
    );
    assert_eq!(env.listings(), 0, "nothing ran");
    // Alice's own call runs.
    let mut alice_call = env.call("conn-key");
    alice_call.session = Session::new(tenant(), workspace()).with_user(alice);
    let done = runtime
        .call(
            "tracker_list_tickets",
            serde_json::json!({"count": 1}),
            &alice_call,
        )
        .await;
    assert_eq!(
        done.status,
        integrations_core::tools::ToolStatus::Completed,
        "{done:?}"
    );
}
