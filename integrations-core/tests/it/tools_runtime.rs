//! The tool runtime: approvals (exactly once), policies, capabilities, schema errors,
//! a refused credential refreshed once, rate limits, panics, trimming, audit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use integrations_core::host::{AuditOutcome, Clock};
use integrations_core::model::{Capability, ConnectionStatus, CredentialType, PublicationScope};
use integrations_core::tools::{
    CONTINUE_TOOL_NAME, CallContext, Policies, PolicySet, Session, ToolPolicy, ToolResult,
    ToolStatus,
};
use integrations_core::{ConnectionId, ErrorKind, PublicationId, TargetId, TenantId, UserId};
use integrations_testkit::assert_debug_secret_free;
use serde_json::{Value, json};

use crate::tools_support::{Env, Next, tenant, workspace};

fn auto_everywhere() -> Arc<Policies> {
    Arc::new(Policies::new().with_workspace(
        tenant(),
        workspace(),
        PolicySet::new().with_integration("tracker::cloud".parse().unwrap(), ToolPolicy::Auto),
    ))
}

fn code(result: &ToolResult) -> &str {
    result.error_code().unwrap_or("<none>")
}

fn approver() -> UserId {
    UserId::new("alice").unwrap()
}

#[tokio::test]
async fn a_write_asks_and_runs_exactly_once_when_approved() {
    let env = Env::new().await;
    let runtime = env.runtime();
    let call = env.call("conn-key");
    let result = runtime
        .call(
            "tracker_create_ticket",
            json!({"title": "Fix login"}),
            &call,
        )
        .await;
    assert_eq!(result.status, ToolStatus::ApprovalRequired);
    assert!(result.is_error());
    assert_eq!(env.executions(), 0, "nothing runs before approval");
    let request = result.approval.clone().unwrap();
    assert_eq!(request.tool, "tracker_create_ticket");
    assert_eq!(request.arguments, json!({"title": "Fix login"}));
    let mcp = result.to_mcp();
    assert_eq!(
        mcp["_meta"]["integrations/approval"]["id"],
        request.id.as_str()
    );
    assert_eq!(env.test.store.pending_approvals(), 1);

    // The approval returns the tool's own result, not an acknowledgement.
    let approved = runtime.approve(&tenant(), &request.id, &approver()).await;
    assert_eq!(approved.status, ToolStatus::Completed, "{approved:?}");
    assert_eq!(
        approved.structured_content,
        Some(json!({"id": "T-1", "title": "Fix login"}))
    );
    assert_eq!(env.executions(), 1);
    assert_eq!(env.test.store.pending_approvals(), 0);

    let again = runtime.approve(&tenant(), &request.id, &approver()).await;
    assert_eq!(code(&again), "tool.approval_not_found");
    assert_eq!(env.executions(), 1);

    let audit = env.test.audit.events();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"tool.approval_requested"), "{actions:?}");
    assert!(actions.contains(&"tool.approval_granted"), "{actions:?}");
    let called = env.test.audit.with_action("tool.called");
    let run = called
        .iter()
        .find(|e| e.outcome == AuditOutcome::Success)
        .unwrap();
    assert_eq!(run.detail["approval_id"], request.id.as_str());
    assert_eq!(run.detail["approved_by"], "alice");
    assert_eq!(run.detail["tool"], "tracker_create_ticket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_64_concurrent_approvals_in_two_processes_exactly_one_runs() {
    let env = Env::new().await;
    let first = Arc::new(env.runtime());
    // A second process: another runtime sharing the stores.
    let other_host = env.test.sharing_stores_with_http(Arc::new(
        integrations_core::host::ReqwestHttpClient::new().unwrap(),
    ));
    let second = Arc::new(integrations_core::tools::Runtime::new(
        env.registry.clone(),
        other_host.host().clone(),
        env.tokens.clone(),
    ));
    let request = first
        .call(
            "tracker_create_ticket",
            json!({"title": "Once"}),
            &env.call("conn-key"),
        )
        .await
        .approval
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let runtime = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let id = request.id.clone();
        tasks.push(tokio::spawn(async move {
            runtime.approve(&tenant(), &id, &approver()).await
        }));
    }
    let mut completed = 0;
    let mut not_found = 0;
    for task in tasks {
        let result = task.await.unwrap();
        if result.status == ToolStatus::Completed {
            completed += 1;
        } else {
            assert_eq!(code(&result), "tool.approval_not_found");
            not_found += 1;
        }
    }
    assert_eq!((completed, not_found), (1, 63));
    assert_eq!(env.executions(), 1);
}

#[tokio::test]
async fn denied_and_expired_approvals_never_run() {
    let env = Env::new().await;
    let runtime = env.runtime().with_approval_ttl(Duration::from_secs(60));
    let call = env.call("conn-key");
    let denied = runtime
        .call("tracker_create_ticket", json!({"title": "No"}), &call)
        .await
        .approval
        .unwrap();
    let removed = runtime
        .deny(&tenant(), &denied.id, &approver())
        .await
        .unwrap();
    assert_eq!(removed.id, denied.id);
    assert_eq!(
        code(&runtime.approve(&tenant(), &denied.id, &approver()).await),
        "tool.approval_not_found"
    );
    assert_eq!(
        runtime
            .deny(&tenant(), &denied.id, &approver())
            .await
            .unwrap_err()
            .code(),
        "tool.approval_not_found"
    );

    let late = runtime
        .call("tracker_create_ticket", json!({"title": "Late"}), &call)
        .await
        .approval
        .unwrap();
    env.test.clock.advance(Duration::from_secs(61));
    let result = runtime.approve(&tenant(), &late.id, &approver()).await;
    // The store deletes the expired request and reports it absent (never returns it).
    assert_eq!(code(&result), "tool.approval_not_found");
    assert_eq!(env.executions(), 0);
    assert_eq!(
        code(&runtime.approve(&tenant(), &late.id, &approver()).await),
        "tool.approval_not_found"
    );

    // Another tenant cannot approve this tenant's request.
    let mine = runtime
        .call("tracker_create_ticket", json!({"title": "Mine"}), &call)
        .await
        .approval
        .unwrap();
    let other = TenantId::new("other").unwrap();
    assert_eq!(
        code(&runtime.approve(&other, &mine.id, &approver()).await),
        "tool.approval_not_found"
    );
    assert_eq!(env.test.store.pending_approvals(), 1);
}

#[tokio::test]
async fn an_approved_call_is_checked_again_when_it_runs() {
    let env = Env::new().await;
    let call = env.call("conn-key");
    let request = env
        .runtime()
        .call("tracker_create_ticket", json!({"title": "Later"}), &call)
        .await
        .approval
        .unwrap();
    // The workspace blocks the tool before anyone approves.
    let blocking = env.runtime_with(Arc::new(
        Policies::new().with_workspace(
            tenant(),
            workspace(),
            PolicySet::new()
                .with_tool("tracker_create_ticket", ToolPolicy::Block)
                .unwrap(),
        ),
    ));
    let result = blocking.approve(&tenant(), &request.id, &approver()).await;
    assert_eq!(code(&result), "tool.blocked");
    assert_eq!(env.executions(), 0);
}

#[tokio::test]
async fn a_blocked_tool_never_runs() {
    let env = Env::new().await;
    let runtime = env.runtime_with(Arc::new(Policies::new().with_workspace(
        tenant(),
        workspace(),
        PolicySet::new().with_integration("tracker::cloud".parse().unwrap(), ToolPolicy::Block),
    )));
    let result = runtime
        .call(
            "tracker_list_tickets",
            json!({"count": 1}),
            &env.call("conn-key"),
        )
        .await;
    assert_eq!(result.status, ToolStatus::Failed);
    assert_eq!(code(&result), "tool.blocked");
    assert_eq!(
        result.failure.as_ref().unwrap().kind,
        ErrorKind::PermissionDenied
    );
    assert_eq!(result.to_mcp()["isError"], true);
    let decided = env.test.audit.with_action("tool.policy_decided");
    assert_eq!(
        decided[0].outcome,
        AuditOutcome::Denied {
            code: "tool.blocked".into()
        }
    );
    assert_eq!(decided[0].detail["origin"], "integration");
    assert_eq!(env.listings(), 0, "a blocked tool must not run");
    // Another workspace is not affected.
    let mut elsewhere = env.call("conn-key");
    elsewhere.session = Session::new(tenant(), "design".parse().unwrap());
    elsewhere.publication = None;
    let result = runtime
        .call("tracker_list_tickets", json!({"count": 1}), &elsewhere)
        .await;
    // It passes the policy and stops at the capability check instead.
    assert_eq!(code(&result), "tool.capability_missing");
    assert_eq!(env.listings(), 0);
    // The counter does count: the same tool runs where nothing blocks it.
    let allowed = env
        .runtime_with(auto_everywhere())
        .call(
            "tracker_list_tickets",
            json!({"count": 1}),
            &env.call("conn-key"),
        )
        .await;
    assert_eq!(allowed.status, ToolStatus::Completed, "{allowed:?}");
    assert_eq!(env.listings(), 1);
}

#[tokio::test]
async fn a_tool_override_beats_the_integration_override() {
    let env = Env::new().await;
    let runtime = env.runtime_with(Arc::new(
        Policies::new().with_workspace(
            tenant(),
            workspace(),
            PolicySet::new()
                .with_integration("tracker::cloud".parse().unwrap(), ToolPolicy::Block)
                .with_tool("tracker_create_ticket", ToolPolicy::Auto)
                .unwrap(),
        ),
    ));
    let result = runtime
        .call(
            "tracker_create_ticket",
            json!({"title": "Now"}),
            &env.call("conn-key"),
        )
        .await;
    assert_eq!(result.status, ToolStatus::Completed, "{result:?}");
    assert_eq!(env.executions(), 1);
}

#[tokio::test]
async fn a_missing_capability_is_refused() {
    let env = Env::new().await;
    let runtime = env.runtime_with(auto_everywhere());
    let args = json!({"title": "x"});

    let mut none = env.call("conn-key");
    none.publication = None;
    let result = runtime
        .call("tracker_create_ticket", args.clone(), &none)
        .await;
    assert_eq!(code(&result), "tool.capability_missing");

    // A publication that grants something else.
    let mut narrow = env
        .test
        .host()
        .publications()
        .get_publication(&tenant(), &PublicationId::new("pub-conn-key").unwrap())
        .await
        .unwrap()
        .unwrap();
    narrow
        .capabilities
        .remove(&Capability::new("ticket.create").unwrap());
    env.test
        .host()
        .publications()
        .put_publication(&narrow)
        .await
        .unwrap();
    let result = runtime
        .call("tracker_create_ticket", args.clone(), &env.call("conn-key"))
        .await;
    assert_eq!(code(&result), "tool.capability_missing");
    assert_eq!(
        result.failure.as_ref().unwrap().kind,
        ErrorKind::PermissionDenied
    );

    // The publication of another connection does not count.
    let mut crossed = env.call("conn-key");
    crossed.publication = Some(PublicationId::new("pub-conn-oauth").unwrap());
    assert_eq!(
        code(
            &runtime
                .call("tracker_create_ticket", args.clone(), &crossed)
                .await
        ),
        "tool.publication_mismatch"
    );

    // A publication scoped to one issue covers only sessions about it.
    let mut scoped = env
        .test
        .host()
        .publications()
        .get_publication(&tenant(), &PublicationId::new("pub-conn-oauth").unwrap())
        .await
        .unwrap()
        .unwrap();
    scoped.scope = PublicationScope::Issue {
        issue: "ENG-7".into(),
    };
    env.test
        .host()
        .publications()
        .put_publication(&scoped)
        .await
        .unwrap();
    let call = env.call("conn-oauth");
    assert_eq!(
        code(
            &runtime
                .call("tracker_create_ticket", args.clone(), &call)
                .await
        ),
        "tool.publication_mismatch"
    );
    let mut about = env.call("conn-oauth");
    about.session = about.session.clone().with_issue("ENG-7");
    assert_eq!(
        runtime
            .call("tracker_create_ticket", args.clone(), &about)
            .await
            .status,
        ToolStatus::Completed
    );

    // An expired publication.
    scoped.expires_at = Some(env.test.clock.now());
    env.test
        .host()
        .publications()
        .put_publication(&scoped)
        .await
        .unwrap();
    assert_eq!(
        code(&runtime.call("tracker_create_ticket", args, &about).await),
        "tool.publication_expired"
    );
    assert_eq!(env.executions(), 1);
    let denied: Vec<_> = env
        .test
        .audit
        .with_action("tool.called")
        .into_iter()
        .filter(|e| matches!(e.outcome, AuditOutcome::Denied { .. }))
        .collect();
    assert_eq!(denied.len(), 5);
}

#[tokio::test]
async fn bad_arguments_name_every_field_and_echo_nothing() {
    let env = Env::new().await;
    let runtime = env.runtime_with(auto_everywhere());
    let secret = "sk-live-DO-NOT-ECHO";
    let result = runtime
        .call(
            "tracker_create_ticket",
            json!({"priority": secret, "points": 99, "bogus": secret}),
            &env.call("conn-key"),
        )
        .await;
    assert_eq!(code(&result), "tool.invalid_arguments");
    let failure = result.failure.as_ref().unwrap();
    assert_eq!(failure.kind, ErrorKind::InvalidInput);
    let issues: Vec<(&str, &str)> = failure
        .issues
        .iter()
        .map(|i| (i.path.as_str(), i.code.as_str()))
        .collect();
    assert_eq!(
        issues,
        [
            ("/bogus", "schema.additional_properties"),
            ("/points", "schema.maximum"),
            ("/priority", "schema.any_of"),
            ("/title", "schema.required"),
        ]
    );
    let mcp = result.to_mcp().to_string();
    assert!(!mcp.contains(secret), "{mcp}");
    assert_debug_secret_free(&result, secret);
    assert_eq!(env.executions(), 0);
    let text = result.to_mcp()["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("/title: this field is required"), "{text}");

    // A strict-mode model sends null for optional fields: that means "not given".
    let ok = runtime
        .call(
            "tracker_create_ticket",
            json!({"title": "t", "priority": null, "points": null}),
            &env.call("conn-key"),
        )
        .await;
    assert_eq!(ok.status, ToolStatus::Completed, "{ok:?}");
    // But a required field cannot be null.
    let null_title = runtime
        .call(
            "tracker_create_ticket",
            json!({"title": null}),
            &env.call("conn-key"),
        )
        .await;
    assert_eq!(code(&null_title), "tool.invalid_arguments");
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_the_call_retried() {
    let env = Env::new().await;
    let runtime = env.runtime_with(auto_everywhere());
    // The access token expired at the provider.
    env.api_tokens.revoke("oauth-initial");
    let result = runtime
        .call(
            "tracker_create_ticket",
            json!({"title": "Retry"}),
            &env.call("conn-oauth"),
        )
        .await;
    assert_eq!(result.status, ToolStatus::Completed, "{result:?}");
    assert_eq!(env.tokens.refreshes(), 1);
    assert_eq!(env.refresh.issued(), 1);
    let used = env.test.audit.with_action("credential.used");
    let outcomes: Vec<(&str, &AuditOutcome)> = used
        .iter()
        .map(|e| (e.detail["attempt"].as_str(), &e.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            (
                "1",
                &AuditOutcome::Failure {
                    code: "credential.rejected".into()
                }
            ),
            ("2", &AuditOutcome::Success),
        ]
    );
    // The next call uses the refreshed token directly.
    let again = runtime
        .call(
            "tracker_create_ticket",
            json!({"title": "Again"}),
            &env.call("conn-oauth"),
        )
        .await;
    assert_eq!(again.status, ToolStatus::Completed);
    assert_eq!(env.tokens.refreshes(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refusals_refresh_once() {
    let env = Env::new().await;
    let runtime = Arc::new(env.runtime_with(auto_everywhere()));
    env.api_tokens.revoke("oauth-initial");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let runtime = runtime.clone();
        let call = env.call("conn-oauth");
        tasks.push(tokio::spawn(async move {
            runtime
                .call(
                    "tracker_create_ticket",
                    json!({"title": format!("t{i}")}),
                    &call,
                )
                .await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().status, ToolStatus::Completed);
    }
    assert_eq!(env.tokens.refreshes(), 1);
}

#[tokio::test]
async fn a_refused_static_key_is_not_retried() {
    let env = Env::new().await;
    let runtime = env.runtime_with(auto_everywhere());
    env.api_tokens.revoke("trk_static");
    let result = runtime
        .call(
            "tracker_create_ticket",
            json!({"title": "x"}),
            &env.call("conn-key"),
        )
        .await;
    assert_eq!(code(&result), "tool.unauthorized");
    assert_eq!(env.tokens.refreshes(), 0);
    // The provider's body (which here echoes the header) is never passed on.
    assert_debug_secret_free(&result, "trk_static");
    assert!(!result.to_mcp().to_string().contains("trk_static"));
    for event in env.test.audit.events() {
        assert_debug_secret_free(&event, "trk_static");
    }
}

#[tokio::test]
async fn a_rate_limit_is_one_retryable_error_with_the_wait() {
    let env = Env::new().await;
    let runtime = env.runtime_with(auto_everywhere());
    *env.next.lock().unwrap() = Next::RateLimited;
    let result = runtime
        .call(
            "tracker_create_ticket",
            json!({"title": "x"}),
            &env.call("conn-key"),
        )
        .await;
    assert_eq!(code(&result), "tool.rate_limited");
    let failure = result.failure.as_ref().unwrap();
    assert_eq!(failure.kind, ErrorKind::RateLimited);
    assert!(failure.is_temporary());
    assert_eq!(failure.retry_after, Some(Duration::from_secs(7)));
    let mcp = result.to_mcp();
    assert_eq!(mcp["_meta"]["integrations/error"]["retryAfterSeconds"], 7.0);
    assert_eq!(mcp["_meta"]["integrations/error"]["retryable"], true);
}

#[tokio::test]
async fn a_panicking_tool_is_an_error_result() {
    let env = Env::new().await;
    let runtime = env.runtime();
    let result = runtime
        .call("tracker_explode_now", json!({}), &env.call("conn-key"))
        .await;
    assert_eq!(code(&result), "tool.panicked");
    assert_eq!(result.failure.as_ref().unwrap().kind, ErrorKind::Internal);
    // The runtime still works.
    let next = runtime
        .call(
            "tracker_list_tickets",
            json!({"count": 2}),
            &env.call("conn-key"),
        )
        .await;
    assert_eq!(next.status, ToolStatus::Completed);
}

#[tokio::test]
async fn unknown_tools_connections_and_tenants_are_error_results() {
    let env = Env::new().await;
    let runtime = env.runtime();
    let call = env.call("conn-key");
    assert_eq!(
        code(
            &runtime
                .call("tracker_delete_everything", json!({}), &call)
                .await
        ),
        "tool.not_found"
    );
    let mut foreign = call.clone();
    foreign.session.tenant = TenantId::new("other").unwrap();
    assert_eq!(
        code(
            &runtime
                .call("tracker_list_tickets", json!({"count": 1}), &foreign)
                .await
        ),
        "auth.connection_not_found"
    );
    let mut missing = call.clone();
    missing.connection = ConnectionId::new("conn-nope").unwrap();
    assert_eq!(
        code(
            &runtime
                .call("tracker_list_tickets", json!({"count": 1}), &missing)
                .await
        ),
        "auth.connection_not_found"
    );
    env.test
        .host()
        .connections()
        .set_connection_status(
            &tenant(),
            &ConnectionId::new("conn-key").unwrap(),
            ConnectionStatus::Error {
                reason: "refresh token rejected".into(),
            },
            env.test.clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(
        code(
            &runtime
                .call("tracker_list_tickets", json!({"count": 1}), &call)
                .await
        ),
        "auth.connection_not_active"
    );
}

#[tokio::test]
async fn large_results_are_trimmed_and_continued_in_pages() {
    let env = Env::new().await;
    let runtime = env.runtime().with_result_budget(2_000);
    let call = env.call("conn-key");
    let first = runtime
        .call("tracker_list_tickets", json!({"count": 300}), &call)
        .await;
    assert_eq!(first.status, ToolStatus::Completed);
    let page = first.structured_content.clone().unwrap();
    assert!(page.to_string().len() <= 2_000);
    let continuation = first.continuation.clone().unwrap();
    assert_eq!(continuation.pointer, "/tickets");
    assert!(first.content[1].clone() != first.content[0]);
    let mut seen: Vec<Value> = page["tickets"].as_array().unwrap().clone();
    let mut cursor = Some(continuation.cursor.clone());
    // Someone else's session cannot read it.
    let mut stranger = call.clone();
    stranger.session = Session::new(tenant(), "design".parse().unwrap());
    // Nor another user of the same workspace and connection.
    let mut colleague = call.clone();
    colleague.session = Session::new(tenant(), workspace()).with_user("mallory".parse().unwrap());
    for other in [&stranger, &colleague] {
        assert_eq!(
            code(&runtime.continue_result(&continuation.cursor, other).await),
            "tool.continuation_not_found"
        );
    }
    while let Some(c) = cursor {
        // The agent continues through the reserved tool.
        let next = runtime
            .call(CONTINUE_TOOL_NAME, json!({"cursor": c}), &call)
            .await;
        assert_eq!(next.status, ToolStatus::Completed, "{next:?}");
        let page = next.structured_content.unwrap();
        assert!(page.to_string().len() <= 2_000);
        seen.extend(page["tickets"].as_array().unwrap().iter().cloned());
        cursor = next.continuation.map(|c| c.cursor);
    }
    assert_eq!(seen.len(), 300);
    assert_eq!(seen[299]["id"], "T-299");
    assert_eq!(
        code(
            &runtime
                .call(CONTINUE_TOOL_NAME, json!({"cursor": ""}), &call)
                .await
        ),
        "tool.invalid_arguments"
    );
}

/// A result whose one item is larger than the budget is cut inside the item: no page
/// handed to the model is over the budget, and the pages hold the whole item.
#[tokio::test]
async fn one_item_larger_than_the_budget_is_cut_inside_never_passed_whole() {
    let env = Env::new().await;
    let runtime = env.runtime().with_result_budget(2_000);
    let call = env.call("conn-key");
    let first = runtime
        .call(
            "tracker_list_tickets",
            json!({"count": 1, "title_len": 10_000}),
            &call,
        )
        .await;
    assert_eq!(first.status, ToolStatus::Completed, "{first:?}");
    let mut title = String::new();
    let mut result = first;
    loop {
        let page = result.structured_content.clone().unwrap();
        assert!(
            page.to_string().len() <= 2_000,
            "{}",
            page.to_string().len()
        );
        for ticket in page["tickets"].as_array().unwrap() {
            title.push_str(ticket["title"].as_str().unwrap());
        }
        let Some(continuation) = result.continuation else {
            break;
        };
        result = runtime
            .call(
                CONTINUE_TOOL_NAME,
                json!({"cursor": continuation.cursor}),
                &call,
            )
            .await;
        assert_eq!(result.status, ToolStatus::Completed, "{result:?}");
    }
    assert_eq!(title.len(), 10_000);
    assert!(title.starts_with("Ticket number 0x"));
}

/// Two items each larger than the budget: the list is cut between them, and each item
/// again inside its title. Every page (and its note to the model) names the place it was
/// cut at, the title inside the item, not the list.
#[tokio::test]
async fn pages_cut_inside_an_item_name_the_place_inside_it() {
    let env = Env::new().await;
    let runtime = env.runtime().with_result_budget(2_000);
    let call = env.call("conn-key");
    let mut result = runtime
        .call(
            "tracker_list_tickets",
            json!({"count": 2, "title_len": 5_000}),
            &call,
        )
        .await;
    let mut pages = 0;
    let mut ids = Vec::new();
    while let Some(continuation) = result.continuation.clone() {
        pages += 1;
        assert_eq!(continuation.pointer, "/tickets/0/title", "page {pages}");
        let note = match result.content.last() {
            Some(integrations_core::tools::ToolContent::Text { text, .. }) => text.clone(),
            other => panic!("no note: {other:?}"),
        };
        assert!(note.contains("split at /tickets/0/title;"), "{note}");
        let page = result.structured_content.clone().unwrap();
        let tickets = page["tickets"].as_array().unwrap();
        assert_eq!(tickets.len(), 1, "a page cut inside an item holds it alone");
        ids.push(tickets[0]["id"].clone());
        result = runtime
            .call(
                CONTINUE_TOOL_NAME,
                json!({"cursor": continuation.cursor}),
                &call,
            )
            .await;
        assert_eq!(result.status, ToolStatus::Completed, "{result:?}");
    }
    assert!(pages >= 5, "{pages}");
    ids.dedup();
    assert_eq!(ids.len(), 2, "both items, in order: {ids:?}");
}

#[tokio::test]
async fn continuations_are_sealed_in_the_store_and_read_once_from_any_process() {
    let env = Env::new().await;
    let first = env.runtime().with_result_budget(2_000);
    // A second process: another runtime sharing the stores (and the key ring).
    let other_host = env.test.sharing_stores_with_http(Arc::new(
        integrations_core::host::ReqwestHttpClient::new().unwrap(),
    ));
    let second = integrations_core::tools::Runtime::new(
        env.registry.clone(),
        other_host.host().clone(),
        env.tokens.clone(),
    )
    .with_result_budget(2_000);
    let call = env.call("conn-key");
    let result = first
        .call("tracker_list_tickets", json!({"count": 300}), &call)
        .await;
    let cursor = result.continuation.unwrap().cursor;

    // At rest: keyed by a digest of the cursor bound to the call's workspace, user,
    // project and continuation scope (none of the last three here), the pages sealed.
    let stored = env.test.store.raw_continuations();
    assert_eq!(stored.len(), 1);
    let record = &stored[0];
    assert_eq!(
        record.id,
        hex_sha256(&format!("2\n{cursor}\n{}\n\n\n-\n", workspace()))
    );
    assert_eq!(record.connection.as_str(), "conn-key");
    assert_eq!(record.page, 1);
    assert!(record.remaining_pages > 1);
    let at_rest = serde_json::to_string(record).unwrap();
    assert!(!at_rest.contains(&cursor));
    assert!(
        !at_rest.contains("Ticket number"),
        "pages stored in the clear"
    );

    // Another connection of the same workspace cannot read it, and does not destroy it.
    let mut stranger = call.clone();
    stranger.connection = ConnectionId::new("conn-oauth").unwrap();
    let refused = second.continue_result(&cursor, &stranger).await;
    assert_eq!(code(&refused), "tool.continuation_not_found");
    assert_eq!(env.test.store.raw_continuations().len(), 1);

    // The other process reads page 2; the first reads page 3 from its cursor.
    let page2 = second.continue_result(&cursor, &call).await;
    assert_eq!(page2.status, ToolStatus::Completed, "{page2:?}");
    let next = page2.continuation.clone().unwrap().cursor;
    let page3 = first.continue_result(&next, &call).await;
    assert_eq!(page3.status, ToolStatus::Completed, "{page3:?}");
    let ids = |r: &ToolResult| -> Vec<Value> {
        r.structured_content.as_ref().unwrap()["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].clone())
            .collect()
    };
    let (two, three) = (ids(&page2), ids(&page3));
    assert!(!two.is_empty() && !three.is_empty());
    assert!(two.iter().all(|id| !three.contains(id)));

    // Each cursor is read once, wherever.
    assert_eq!(
        code(&first.continue_result(&cursor, &call).await),
        "tool.continuation_not_found"
    );
    // A cursor that is not one the runtime issues is refused before the store is asked.
    assert_eq!(
        code(&first.continue_result("../../etc/passwd", &call).await),
        "tool.continuation_not_found"
    );

    // Fifteen minutes later the rest has expired.
    let last = page3.continuation.unwrap().cursor;
    env.test.clock.advance(Duration::from_secs(15 * 60 + 1));
    assert_eq!(
        code(&second.continue_result(&last, &call).await),
        "tool.continuation_not_found"
    );
}

/// A host that knows who asks but not which connection a cursor continues (an MCP
/// request with no session of its own) reads the next page for the session; the
/// connection comes from the record, and the continuation scope keeps one conversation's
/// pages from another's.
#[tokio::test]
async fn a_session_reads_the_next_page_without_naming_the_connection() {
    let env = Env::new().await;
    let runtime = env.runtime().with_result_budget(2_000);
    let call = env.call("conn-key");
    let session = call.session.clone();
    let first = runtime
        .call("tracker_list_tickets", json!({"count": 300}), &call)
        .await;
    let cursor = first.continuation.unwrap().cursor;

    // Another workspace, user, project or issue finds nothing, and leaves the pages to
    // their owner.
    let stranger = Session::new(tenant(), "design".parse().unwrap());
    let colleague = Session::new(tenant(), workspace()).with_user("mallory".parse().unwrap());
    let project = session.clone().with_project("other".parse().unwrap());
    let issue = session.clone().with_issue("ENG-9");
    let empty_issue = session.clone().with_issue("");
    for reader in [&stranger, &colleague, &project, &issue, &empty_issue] {
        assert_eq!(
            code(&runtime.continue_result_for(&cursor, reader, None).await),
            "tool.continuation_not_found"
        );
    }
    assert_eq!(env.test.store.raw_continuations().len(), 1);

    let before = env.test.audit.events().len();
    let page2 = runtime.continue_result_for(&cursor, &session, None).await;
    assert_eq!(page2.status, ToolStatus::Completed, "{page2:?}");
    let called = env.test.audit.events().split_off(before);
    assert_eq!(called.len(), 1, "{called:?}");
    assert_eq!(called[0].action.as_str(), "tool.called");
    assert_eq!(called[0].connection.as_ref().unwrap().as_str(), "conn-key");
    assert_eq!(called[0].detail["tool"], CONTINUE_TOOL_NAME);
    // Its own next cursor continues through the same connection, named or not.
    let next = page2.continuation.unwrap().cursor;
    let page3 = runtime.continue_result(&next, &call).await;
    assert_eq!(page3.status, ToolStatus::Completed, "{page3:?}");
    assert_eq!(
        code(&runtime.continue_result_for(&cursor, &session, None).await),
        "tool.continuation_not_found"
    );

    // The reserved tool's arguments are checked as through `Runtime::call`.
    assert_eq!(
        code(
            &runtime
                .continue_tool_for(json!({"cursor": next, "page": 2}), &session, None)
                .await
        ),
        "tool.invalid_arguments"
    );
}

/// Pages of a call with a continuation scope are read in that scope only, with or
/// without the connection named; pages kept with no scope are the session's, read in
/// any scope.
#[tokio::test]
async fn a_continuation_scope_keeps_one_conversations_pages_from_another() {
    let env = Env::new().await;
    let runtime = env.runtime().with_result_budget(2_000);
    let scoped = env
        .call("conn-key")
        .with_continuation_scope("mcp-session-1");
    let first = runtime
        .call("tracker_list_tickets", json!({"count": 300}), &scoped)
        .await;
    let cursor = first.continuation.unwrap().cursor;
    let session = scoped.session.clone();

    let unscoped = env.call("conn-key");
    let sibling = env
        .call("conn-key")
        .with_continuation_scope("mcp-session-2");
    for other in [&unscoped, &sibling] {
        assert_eq!(
            code(&runtime.continue_result(&cursor, other).await),
            "tool.continuation_not_found"
        );
    }
    for scope in [None, Some("mcp-session-2")] {
        assert_eq!(
            code(&runtime.continue_result_for(&cursor, &session, scope).await),
            "tool.continuation_not_found"
        );
    }
    let next = runtime
        .continue_result_for(&cursor, &session, Some("mcp-session-1"))
        .await;
    assert_eq!(next.status, ToolStatus::Completed, "{next:?}");
    let later = next.continuation.unwrap().cursor;
    assert_eq!(
        code(&runtime.continue_result(&later, &unscoped).await),
        "tool.continuation_not_found"
    );
    let last = runtime.continue_result(&later, &scoped).await;
    assert_eq!(last.status, ToolStatus::Completed, "{last:?}");

    // Pages kept with no scope: any scope of the session reads them, and the pages
    // after keep that binding (another scope reads on).
    let open = runtime
        .call("tracker_list_tickets", json!({"count": 300}), &unscoped)
        .await;
    let cursor = open.continuation.unwrap().cursor;
    let read = runtime
        .continue_result_for(&cursor, &session, Some("mcp-session-1"))
        .await;
    assert_eq!(read.status, ToolStatus::Completed, "{read:?}");
    let next = read.continuation.unwrap().cursor;
    let read = runtime.continue_result(&next, &sibling).await;
    assert_eq!(read.status, ToolStatus::Completed, "{read:?}");
}

/// `Runtime::ask` stores the approval request of an `ask` call and never runs a tool: a
/// call whose policy is not `ask` gets its arguments back, with nothing stored or run.
#[tokio::test]
async fn asking_stores_a_request_and_never_runs_the_tool() {
    let env = Env::new().await;
    let runtime = env.runtime();
    let call = env.call("conn-key");
    // `tracker_create_ticket` asks by default.
    let asked = runtime
        .ask("tracker_create_ticket", json!({"title": "asked"}), &call)
        .await
        .expect("the policy is ask");
    assert_eq!(asked.status, ToolStatus::ApprovalRequired);
    let request = asked.approval.unwrap();
    assert!(
        env.test
            .host()
            .approvals()
            .take_approval(&tenant(), &request.id, env.test.clock.now())
            .await
            .unwrap()
            .is_some()
    );
    // Auto now: the arguments come back, and nothing ran or was stored.
    let auto = env.runtime_with(auto_everywhere());
    let arguments = json!({"title": "not asked"});
    let before = env.test.store.record_count();
    let back = auto
        .ask("tracker_create_ticket", arguments.clone(), &call)
        .await
        .unwrap_err();
    assert_eq!(back, arguments);
    assert_eq!(env.test.store.record_count(), before, "nothing stored");
    assert!(
        env.test.audit.with_action("tool.called").is_empty(),
        "nothing ran"
    );
    let created = auto.call("tracker_create_ticket", back, &call).await;
    assert_eq!(created.status, ToolStatus::Completed, "{created:?}");
    // A refusal is an answer, audited, as through `call`.
    let refused = runtime
        .ask("tracker_create_ticket", json!({"title": 7}), &call)
        .await
        .expect("answered");
    assert_eq!(code(&refused), "tool.invalid_arguments");
}

/// An approval request keeps no continuation scope: the approved call's result, and the
/// pages after its first, go to the session's retry from whichever conversation.
#[tokio::test]
async fn an_approval_request_keeps_no_continuation_scope() {
    let env = Env::new().await;
    let runtime = env.runtime();
    let call = env
        .call("conn-key")
        .with_continuation_scope("conversation-1");
    let result = runtime
        .call("tracker_create_ticket", json!({"title": "scoped"}), &call)
        .await;
    let request = result.approval.unwrap();
    assert_eq!(request.context.continuation_scope, None);
    assert_eq!(request.context.session, call.session);
    // Stored so: taken out as an approval takes it.
    let stored = env
        .test
        .host()
        .approvals()
        .take_approval(&tenant(), &request.id, env.test.clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.context.continuation_scope, None);
}

/// The pages of an approved call's large result wait for the agent's retry, which may
/// come long after the approval (the MCP server keeps the result an hour); other
/// results' pages wait 15 minutes.
#[tokio::test]
async fn the_pages_of_an_approved_result_wait_as_long_as_its_retry() {
    let env = Env::new().await;
    let asks = || {
        Arc::new(Policies::new().with_workspace(
            tenant(),
            workspace(),
            PolicySet::new().with_integration("tracker::cloud".parse().unwrap(), ToolPolicy::Ask),
        ))
    };
    let runtime = env.runtime_with(asks()).with_result_budget(2_000);
    let call = env.call("conn-key");
    let asked = runtime
        .call("tracker_list_tickets", json!({"count": 300}), &call)
        .await;
    // In MCP terms an error result, and like every one it carries a stable code; it is
    // not a failure.
    let mcp = asked.to_mcp();
    assert_eq!(mcp["isError"], true);
    assert_eq!(
        mcp["_meta"]["integrations/error"]["code"],
        "tool.approval_required"
    );
    assert!(asked.failure.is_none());
    let request = asked.approval.expect("the call asks");
    let approved = runtime.approve(&tenant(), &request.id, &approver()).await;
    assert_eq!(approved.status, ToolStatus::Completed, "{approved:?}");
    let cursor = approved.continuation.expect("a large result").cursor;
    env.test.clock.advance(Duration::from_secs(50 * 60));
    let page2 = runtime.continue_result(&cursor, &call).await;
    assert_eq!(page2.status, ToolStatus::Completed, "{page2:?}");
    // The rest, being read, waits as any result's pages do.
    let next = page2.continuation.unwrap().cursor;
    env.test.clock.advance(Duration::from_secs(15 * 60 + 1));
    assert_eq!(
        code(&runtime.continue_result(&next, &call).await),
        "tool.continuation_not_found"
    );

    // Configurable, as the host keeps results as long as it does.
    let short = env
        .runtime_with(asks())
        .with_result_budget(2_000)
        .with_approved_pages_ttl(Duration::from_secs(60));
    let asked = short
        .call("tracker_list_tickets", json!({"count": 300}), &call)
        .await;
    let approved = short
        .approve(&tenant(), &asked.approval.unwrap().id, &approver())
        .await;
    let cursor = approved.continuation.unwrap().cursor;
    env.test.clock.advance(Duration::from_secs(61));
    assert_eq!(
        code(&short.continue_result(&cursor, &call).await),
        "tool.continuation_not_found"
    );
}

/// A read whose next pages cannot be kept (a brief store error) leaves its cursor
/// readable: the page was never handed over.
#[tokio::test]
async fn a_failed_continuation_read_keeps_its_cursor() {
    let env = Env::new().await;
    let (runtime, flaky) = FlakyContinuations::runtime(&env);
    let call = env.call("conn-key");
    let first = runtime
        .call("tracker_list_tickets", json!({"count": 300}), &call)
        .await;
    let cursor = first.continuation.unwrap().cursor;
    // The write of the pages after page 2 fails.
    flaky.failing_puts.store(1, Ordering::SeqCst);
    let failed = runtime.continue_result(&cursor, &call).await;
    assert_eq!(code(&failed), "store.failed", "{failed:?}");
    let page2 = runtime.continue_result(&cursor, &call).await;
    assert_eq!(page2.status, ToolStatus::Completed, "{page2:?}");
    assert!(page2.continuation.is_some());
}

/// A read dropped after it took its record (its client cancelled while the next pages
/// were being kept) puts the record back: the page was never handed over.
#[tokio::test]
async fn a_cancelled_continuation_read_keeps_its_cursor() {
    let env = Env::new().await;
    let (runtime, flaky) = FlakyContinuations::runtime(&env);
    let call = env.call("conn-key");
    let first = runtime
        .call("tracker_list_tickets", json!({"count": 300}), &call)
        .await;
    let cursor = first.continuation.unwrap().cursor;
    flaky.slow_puts_ms.store(2_000, Ordering::SeqCst);
    let cancelled = tokio::time::timeout(
        Duration::from_millis(200),
        runtime.continue_result(&cursor, &call),
    )
    .await;
    assert!(
        cancelled.is_err(),
        "the read was still keeping the next pages"
    );
    flaky.slow_puts_ms.store(0, Ordering::SeqCst);
    let mut page2 = None;
    for _ in 0..100 {
        let read = runtime.continue_result(&cursor, &call).await;
        if read.status == ToolStatus::Completed {
            page2 = Some(read);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let page2 = page2.expect("the cursor reads its page after the cancelled read");
    assert!(page2.continuation.is_some());
}

/// The memory store's continuations, whose next `failing_puts` writes fail, and whose
/// writes take `slow_puts_ms` first.
struct FlakyContinuations {
    inner: Arc<integrations_testkit::MemoryStore>,
    failing_puts: AtomicUsize,
    slow_puts_ms: AtomicU64,
}

impl FlakyContinuations {
    /// A runtime (result budget 2,000 bytes) over `env`'s host with these
    /// continuations.
    fn runtime(env: &Env) -> (integrations_core::tools::Runtime, Arc<Self>) {
        let flaky = Arc::new(Self {
            inner: env.test.store.clone(),
            failing_puts: AtomicUsize::new(0),
            slow_puts_ms: AtomicU64::new(0),
        });
        let host = integrations_core::host::Host::builder()
            .stores(env.test.store.clone())
            .continuations(flaky.clone())
            .http(env.test.host().http_arc())
            .cipher(env.test.keys.clone())
            .clock(env.test.clock.clone())
            .audit(env.test.audit.clone())
            .build()
            .unwrap();
        let runtime =
            integrations_core::tools::Runtime::new(env.registry.clone(), host, env.tokens.clone())
                .with_result_budget(2_000);
        (runtime, flaky)
    }
}

#[async_trait::async_trait]
impl integrations_core::host::ContinuationStore for FlakyContinuations {
    async fn put_continuation(
        &self,
        pending: &integrations_core::model::PendingContinuation,
    ) -> Result<(), integrations_core::Error> {
        let failing = self
            .failing_puts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(integrations_core::codes::store::FAILED.error("the store is down"));
        }
        let slow = self.slow_puts_ms.load(Ordering::SeqCst);
        if slow > 0 {
            tokio::time::sleep(Duration::from_millis(slow)).await;
        }
        self.inner.put_continuation(pending).await
    }

    async fn take_continuation(
        &self,
        tenant: &TenantId,
        id: &str,
        now: integrations_core::Timestamp,
    ) -> Result<Option<integrations_core::model::PendingContinuation>, integrations_core::Error>
    {
        self.inner.take_continuation(tenant, id, now).await
    }
}

/// SHA-256 of `text`, lowercase hex.
fn hex_sha256(text: &str) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

#[tokio::test]
async fn every_call_and_decision_is_audited_without_secrets() {
    let env = Env::new().await;
    let runtime = env.runtime_with(auto_everywhere());
    let result = runtime
        .call(
            "tracker_create_ticket",
            json!({"title": "audited"}),
            &env.call("conn-oauth"),
        )
        .await;
    assert_eq!(result.status, ToolStatus::Completed);
    let events = env.test.audit.events();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["tool.policy_decided", "credential.used", "tool.called"]
    );
    let called = &events[2];
    assert_eq!(called.tenant, tenant());
    assert_eq!(called.key.as_ref().unwrap().as_str(), "tracker::cloud");
    assert_eq!(called.connection.as_ref().unwrap().as_str(), "conn-oauth");
    assert_eq!(called.detail["policy"], "auto");
    for event in &events {
        assert_debug_secret_free(event, "oauth-initial");
        assert_debug_secret_free(event, "refresh-0");
    }
    assert_debug_secret_free(&result, "oauth-initial");
}

#[tokio::test]
async fn a_call_context_round_trips_for_storage() {
    let call = CallContext::new(
        Session::new(tenant(), workspace())
            .with_user(approver())
            .with_issue("ENG-1"),
        ConnectionId::new("c").unwrap(),
    );
    let back: CallContext = serde_json::from_value(serde_json::to_value(&call).unwrap()).unwrap();
    assert_eq!(back, call);
}

#[tokio::test]
async fn credential_failures_never_carry_the_credential() {
    let env = Env::new().await;
    let runtime = env.runtime_with(auto_everywhere());
    let oauth = env
        .test
        .host()
        .connections()
        .get_connection(&tenant(), &ConnectionId::new("conn-oauth").unwrap())
        .await
        .unwrap()
        .unwrap();

    // A stored token that cannot be a header value.
    env.tokens
        .store(
            &oauth,
            &[
                (CredentialType::OAUTH2_ACCESS_TOKEN, "bad\nsecret-value-1"),
                (CredentialType::OAUTH2_REFRESH_TOKEN, "refresh-secret-2"),
            ],
        )
        .await
        .unwrap();
    let result = runtime
        .call(
            "tracker_create_ticket",
            json!({"title": "x"}),
            &env.call("conn-oauth"),
        )
        .await;
    assert_eq!(code(&result), "tool.credential_unusable");
    assert_debug_secret_free(&result, "secret-value-1");
    assert!(!result.to_mcp().to_string().contains("secret-value-1"));

    // A refused token whose refresh the token endpoint refuses too.
    env.tokens
        .store(
            &oauth,
            &[
                (CredentialType::OAUTH2_ACCESS_TOKEN, "expired-secret-3"),
                (CredentialType::OAUTH2_REFRESH_TOKEN, "revoked-secret-4"),
            ],
        )
        .await
        .unwrap();
    let result = runtime
        .call(
            "tracker_create_ticket",
            json!({"title": "x"}),
            &env.call("conn-oauth"),
        )
        .await;
    assert_eq!(code(&result), "oauth.refresh_failed");
    for secret in ["expired-secret-3", "revoked-secret-4"] {
        assert_debug_secret_free(&result, secret);
        assert!(!result.to_mcp().to_string().contains(secret));
        for event in env.test.audit.events() {
            assert_debug_secret_free(&event, secret);
        }
    }
}

/// The real token manager (not the testkit's fake): fifty concurrent calls that all get a
/// 401 for the same stale access token cause exactly one refresh at the token endpoint,
/// and every call is retried with the new token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_refusals_refresh_once_with_the_real_token_manager() {
    let env = Env::new().await;
    // The token endpoint answers slowly, so every call gets its 401 while the one
    // refresh is in flight and waits for it.
    let runtime =
        Arc::new(env.runtime_with_token_manager(auto_everywhere(), Duration::from_millis(500)));
    env.api_tokens.revoke("oauth-initial");
    let mut tasks = Vec::new();
    for i in 0..50 {
        let runtime = runtime.clone();
        let call = env.call("conn-oauth");
        tasks.push(tokio::spawn(async move {
            runtime
                .call(
                    "tracker_create_ticket",
                    json!({"title": format!("t{i}")}),
                    &call,
                )
                .await
        }));
    }
    for task in tasks {
        let result = task.await.unwrap();
        assert_eq!(result.status, ToolStatus::Completed, "{result:?}");
    }
    assert_eq!(env.refresh.issued(), 1, "one network refresh");
    assert_eq!(
        env.tokens.refreshes(),
        0,
        "the fake token manager was not used"
    );
    assert_eq!(env.refresh.current_refresh_token(), "oauth-refresh-1");
    let refreshed = env.test.audit.with_action("credential.refreshed");
    assert_eq!(refreshed.len(), 1);
    assert_eq!(refreshed[0].outcome, AuditOutcome::Success);
}

/// A disabled target and a target of another definition are refused by the tool runtime
/// with the same codes and kinds as the OAuth engine, sync and webhooks use.
#[tokio::test]
async fn a_disabled_or_mismatched_target_has_the_shared_code_and_kind() {
    let env = Env::new().await;
    let runtime = env.runtime();
    let call = env.call("conn-key");
    let failure = |result: &ToolResult| {
        let failure = result.failure.as_ref().expect("a failure");
        (failure.kind, failure.code.clone())
    };
    let targets = env.test.host().targets();
    let original = targets
        .get_target(&tenant(), &TargetId::new("tracker").unwrap())
        .await
        .unwrap()
        .unwrap();

    let mut disabled = original.clone();
    disabled.enabled = false;
    targets.put_target(&disabled).await.unwrap();
    let result = runtime
        .call("tracker_list_tickets", json!({"count": 1}), &call)
        .await;
    assert_eq!(
        failure(&result),
        (
            ErrorKind::PermissionDenied,
            "auth.target_disabled".to_owned()
        )
    );
    assert_eq!(
        integrations_core::codes::auth::TARGET_DISABLED.kind(),
        ErrorKind::PermissionDenied
    );

    let mut foreign = original.clone();
    foreign.key = "other::cloud".parse().unwrap();
    targets.put_target(&foreign).await.unwrap();
    let result = runtime
        .call("tracker_list_tickets", json!({"count": 1}), &call)
        .await;
    assert_eq!(
        failure(&result),
        (ErrorKind::Configuration, "auth.target_mismatch".to_owned())
    );
}

/// The runtime keeps what a tool context needs of a connection and its target between
/// calls, and never past a change to either record: a target disabled after a call
/// stops the next one, and a new target config is the one the next call's tool reads.
#[tokio::test]
async fn a_target_changed_between_calls_is_the_one_the_next_call_uses() {
    let env = Env::new().await;
    let runtime = env.runtime_with(auto_everywhere());
    let call = env.call("conn-key");
    let create = || runtime.call("tracker_create_ticket", json!({"title": "x"}), &call);
    let targets = env.test.host().targets();
    let id = TargetId::new("tracker").unwrap();
    let original = targets.get_target(&tenant(), &id).await.unwrap().unwrap();
    let api = env.api.server();
    let posts_to = async |path: &str| {
        let received = api.received_requests().await.unwrap();
        received.iter().filter(|r| r.url.path() == path).count()
    };

    let result = create().await;
    assert_eq!(result.status, ToolStatus::Completed, "{result:?}");
    assert_eq!(posts_to("/v1/tickets").await, 1);

    let mut disabled = original.clone();
    disabled.enabled = false;
    targets.put_target(&disabled).await.unwrap();
    assert_eq!(code(&create().await), "auth.target_disabled");

    // Enabled again, with the API under another base: the tool's request follows it.
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/v2/tickets"))
        .respond_with(
            wiremock::ResponseTemplate::new(201).set_body_json(json!({"id": "T-2", "title": "x"})),
        )
        .mount(api)
        .await;
    let mut moved = original.clone();
    moved.config = json!({"api_base_url": format!("{}/v2", env.api.uri())});
    targets.put_target(&moved).await.unwrap();
    let result = create().await;
    assert_eq!(result.status, ToolStatus::Completed, "{result:?}");
    assert_eq!(result.structured_content.unwrap()["id"], "T-2");
    assert_eq!(posts_to("/v2/tickets").await, 1);
    assert_eq!(posts_to("/v1/tickets").await, 1);

    targets.put_target(&original).await.unwrap();
    let result = create().await;
    assert_eq!(result.status, ToolStatus::Completed, "{result:?}");
    assert_eq!(posts_to("/v1/tickets").await, 2);
    assert_eq!(env.executions(), 3, "the disabled target's call never ran");
}

/// A sink that records synchronously.
#[derive(Default)]
struct SynchronousSink {
    events: std::sync::Mutex<Vec<integrations_core::host::AuditEvent>>,
}

#[async_trait::async_trait]
impl integrations_core::host::AuditSink for SynchronousSink {
    async fn record(&self, _event: integrations_core::host::AuditEvent) {
        panic!("the runtime awaited a sink that records synchronously");
    }

    fn record_now(&self, event: &integrations_core::host::AuditEventRef<'_>) -> bool {
        self.events.lock().unwrap().push(event.to_event());
        true
    }
}

/// A sink that records at once is given every record of a call that way (its `record`
/// panics), with the same records, in the same order, as an awaited sink receives.
#[tokio::test]
async fn a_synchronous_audit_sink_records_every_event_of_a_call_without_a_future() {
    let env = Env::new().await;
    let sink = Arc::new(SynchronousSink::default());
    let host = integrations_core::host::Host::builder()
        .stores(env.test.store.clone())
        .http(Arc::new(integrations_testkit::offline_http()))
        .cipher(env.test.keys.clone())
        .clock(env.test.clock.clone())
        .audit(sink.clone())
        .build()
        .unwrap();
    let synchronous =
        integrations_core::tools::Runtime::new(env.registry.clone(), host, env.tokens.clone());
    let call = env.call("conn-key");
    let args = json!({"count": 2});

    let result = synchronous
        .call("tracker_list_tickets", args.clone(), &call)
        .await;
    assert_eq!(result.status, ToolStatus::Completed, "{result:?}");
    let awaited = env
        .runtime()
        .call("tracker_list_tickets", args, &call)
        .await;
    assert_eq!(awaited.status, ToolStatus::Completed, "{awaited:?}");

    let recorded = sink.events.lock().unwrap().clone();
    let summary = |events: &[integrations_core::host::AuditEvent]| {
        events
            .iter()
            .map(|e| {
                let action = e.action.as_str().to_owned();
                (action, e.outcome.clone(), e.detail.clone())
            })
            .collect::<Vec<_>>()
    };
    let names: Vec<_> = recorded.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(names, ["tool.policy_decided", "tool.called"]);
    assert!(recorded.iter().all(|e| e.outcome == AuditOutcome::Success));
    assert_eq!(summary(&recorded), summary(&env.test.audit.events()));
}

/// An approval store whose first take fails before taking anything, as a store that is
/// briefly unreachable does.
struct FirstTakeFails {
    inner: Arc<integrations_testkit::MemoryStore>,
    failed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl integrations_core::host::ApprovalStore for FirstTakeFails {
    async fn put_approval(
        &self,
        request: &integrations_core::tools::ApprovalRequest,
    ) -> Result<(), integrations_core::Error> {
        self.inner.put_approval(request).await
    }

    async fn take_approval(
        &self,
        tenant: &TenantId,
        id: &integrations_core::tools::ApprovalId,
        now: integrations_core::Timestamp,
    ) -> Result<Option<integrations_core::tools::ApprovalRequest>, integrations_core::Error> {
        if !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(integrations_core::codes::store::FAILED.error("the store is down"));
        }
        self.inner.take_approval(tenant, id, now).await
    }
}

/// `try_approve` tells a request that was never taken (nothing ran, it is still pending)
/// from one that was: a host keeping results for a retry keeps only the latter.
#[tokio::test]
async fn try_approve_tells_a_request_not_taken_from_one_that_ran() {
    use integrations_core::host::Host;

    let env = Env::new().await;
    let host = Host::builder()
        .stores(env.test.store.clone())
        .http(Arc::new(
            integrations_core::host::ReqwestHttpClient::new().unwrap(),
        ))
        .cipher(env.test.keys.clone())
        .clock(env.test.clock.clone())
        .audit(env.test.audit.clone())
        .approvals(Arc::new(FirstTakeFails {
            inner: env.test.store.clone(),
            failed: std::sync::atomic::AtomicBool::new(false),
        }))
        .build()
        .unwrap();
    let runtime =
        integrations_core::tools::Runtime::new(env.registry.clone(), host, env.tokens.clone());
    let call = env.call("conn-key");
    let asked = runtime
        .call(
            "tracker_create_ticket",
            json!({"title": "Fix login"}),
            &call,
        )
        .await;
    let request = asked.approval.clone().unwrap();

    let failed = runtime
        .try_approve(&tenant(), &request.id, &approver())
        .await
        .unwrap_err();
    assert_eq!(failed.code(), "store.failed");
    assert_eq!(env.executions(), 0);
    assert_eq!(env.test.store.pending_approvals(), 1, "still pending");

    let ran = runtime
        .try_approve(&tenant(), &request.id, &approver())
        .await
        .unwrap();
    assert_eq!(ran.status, ToolStatus::Completed, "{ran:?}");
    assert_eq!(env.executions(), 1);

    let gone = runtime
        .try_approve(&tenant(), &request.id, &approver())
        .await
        .unwrap_err();
    assert_eq!(gone.code(), "tool.approval_not_found");
}

/// Pages an earlier release stored (a bare array of pages, all cut at the record's
/// pointer) are still read after an upgrade.
#[tokio::test]
async fn continuations_stored_by_an_earlier_release_are_still_read() {
    let env = Env::new().await;
    let runtime = env.runtime().with_result_budget(2_000);
    let call = env.call("conn-key");
    let first = runtime
        .call("tracker_list_tickets", json!({"count": 300}), &call)
        .await;
    let cursor = first.continuation.unwrap().cursor;
    let mut record = env.test.store.raw_continuations().remove(0);
    assert_eq!(record.pointer, "/tickets");
    let host = env.test.host();
    let aad = integrations_core::sealing::continuation_pages_aad(&record.tenant, &record.id);
    let stored: Value =
        serde_json::from_slice(&host.cipher().open(&record.pages, &aad).unwrap()).unwrap();
    let pages = stored["pages"].as_array().unwrap().clone();
    let pointers = stored["pointers"].as_array().unwrap();
    assert_eq!(pages.len(), pointers.len());
    assert!(pointers.iter().all(|p| p == "/tickets"), "{pointers:?}");
    // Rewritten as the earlier release wrote it (records are written once: taken out,
    // then put back), under the id it gave (bound to the connection, not to a project
    // or scope).
    let now = env.test.clock.now();
    host.continuations()
        .take_continuation(&record.tenant, &record.id, now)
        .await
        .unwrap()
        .unwrap();
    record.id = hex_sha256(&format!("{cursor}\n{}\nconn-key\n", workspace()));
    let aad = integrations_core::sealing::continuation_pages_aad(&record.tenant, &record.id);
    record.pages = host
        .cipher()
        .seal(&serde_json::to_vec(&pages).unwrap(), &aad)
        .unwrap();
    host.continuations()
        .put_continuation(&record)
        .await
        .unwrap();

    let next = runtime.continue_result(&cursor, &call).await;
    assert_eq!(next.status, ToolStatus::Completed, "{next:?}");
    assert_eq!(next.structured_content.unwrap(), pages[0]);
    assert_eq!(next.continuation.unwrap().pointer, "/tickets");
}
