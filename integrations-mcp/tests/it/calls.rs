//! tools/call: reads, failures, approvals settled by the host, continuations, concurrency,
//! progress and cancellation.

use std::sync::atomic::Ordering;
use std::time::Duration;

use integrations_core::UserId;
use integrations_core::tools::ApprovalId;
use integrations_mcp::URL_ELICITATION_REQUIRED;
use integrations_mcp::demo::{BLOCKED_TOOL, Demo, REVIEWER};
use rmcp::model::{ErrorCode, NumberOrString, ProgressToken, RequestMetaObject};
use serde_json::{Value, json};

use crate::support::{
    APPROVALS, Client, Running, approval_id, call, calls, connect, demo, json_of, mcp_error, plain,
    send_message, text,
};

/// A call of `integrations_continue_result` with `arguments`, as JSON.
pub(crate) async fn continue_result(client: &Running, arguments: Value) -> Value {
    json_of(
        &client
            .call_tool(call("integrations_continue_result", arguments))
            .await
            .unwrap(),
    )
}

async fn send(client: &Running, demo: &Demo, text: &str) -> Value {
    json_of(&client.call_tool(send_message(demo, text)).await.unwrap())
}

async fn approve(demo: &Demo, id: &ApprovalId) -> integrations_core::tools::ToolResult {
    demo.service
        .approvals()
        .approve(
            &demo.session.session.tenant,
            id,
            &UserId::new(REVIEWER).unwrap(),
        )
        .await
}

#[tokio::test]
async fn a_read_tool_answers_with_structured_content_and_text() {
    let demo = demo().await;
    let client = plain(&demo).await;
    let result = client
        .call_tool(call("linear_list_teams", json!({})))
        .await
        .unwrap();
    let value = json_of(&result);
    assert_eq!(value["isError"], false, "{value}");
    assert_eq!(
        value["structuredContent"]["teams"][0]["key"], "ENG",
        "{value}"
    );
    let text: Value = serde_json::from_str(&text(&result)).unwrap();
    assert_eq!(text, value["structuredContent"]);
}

#[tokio::test]
async fn bad_arguments_are_an_error_result_naming_the_field_without_the_value() {
    let demo = demo().await;
    let client = plain(&demo).await;
    let result = client
        .call_tool(call(
            "slack_send_message",
            json!({"channel": 424_242, "text": "the-value-must-not-come-back", "unexpected": true}),
        ))
        .await
        .unwrap();
    let value = json_of(&result);
    assert_eq!(value["isError"], true);
    let error = &value["_meta"]["integrations/error"];
    assert_eq!(error["code"], "tool.invalid_arguments", "{value}");
    let paths: Vec<&str> = error["issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["path"].as_str())
        .collect();
    assert!(paths.contains(&"/channel"), "{paths:?}");
    assert!(!value.to_string().contains("424242"), "{value}");
    assert!(!value.to_string().contains("the-value-must-not-come-back"));
    assert_eq!(calls(&demo, "slack"), 0);
}

#[tokio::test]
async fn unknown_and_blocked_tools_are_json_rpc_errors() {
    let demo = demo().await;
    let client = plain(&demo).await;
    for name in ["no_such_tool", BLOCKED_TOOL] {
        let error = client
            .call_tool(call(
                name,
                json!({"channel": demo.channel, "timestamp": "1.2", "name": "x"}),
            ))
            .await
            .unwrap_err();
        assert_eq!(mcp_error(error).code, ErrorCode::INVALID_PARAMS, "{name}");
    }
    assert_eq!(calls(&demo, "slack"), 0);
}

#[tokio::test]
async fn an_ask_tool_runs_once_across_approval_retries_concurrent_retries_and_a_replay() {
    let demo = demo().await;
    let client = plain(&demo).await;

    let asked = send(&client, &demo, "deploy v2").await;
    assert_eq!(asked["isError"], true);
    let id = approval_id(&asked);
    let url = asked["_meta"]["integrations/approval"]["url"]
        .as_str()
        .unwrap();
    assert_eq!(url, format!("{APPROVALS}/{id}"));
    assert!(asked["content"][0]["text"].as_str().unwrap().contains(url));
    assert_eq!(calls(&demo, "slack_messages"), 0);

    // A retry before anyone approved: the same request, nothing runs.
    let again = send(&client, &demo, "deploy v2").await;
    assert_eq!(approval_id(&again), id);
    assert_eq!(calls(&demo, "slack_messages"), 0);

    // The host approves: the call runs, once.
    let done = approve(&demo, &id).await;
    assert!(!done.is_error(), "{done:?}");
    assert_eq!(calls(&demo, "slack_messages"), 1);
    // A replayed approval runs nothing.
    let replay = approve(&demo, &id).await;
    assert_eq!(replay.error_code(), Some("tool.approval_not_found"));
    assert_eq!(calls(&demo, "slack_messages"), 1);

    // Concurrent retries: one receives the result; none runs the call again.
    let retries = (0..6).map(|_| send(&client, &demo, "deploy v2"));
    let results = futures_join(retries).await;
    let completed: Vec<&Value> = results.iter().filter(|r| r["isError"] == false).collect();
    assert_eq!(completed.len(), 1, "{results:?}");
    assert_eq!(
        completed[0]["structuredContent"],
        done.structured_content.clone().unwrap()
    );
    assert_eq!(calls(&demo, "slack_messages"), 1);
    // The others wait in new requests; approving none of them runs anything.
    assert_eq!(
        demo.service
            .approvals()
            .pending(&demo.session.session.tenant)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn futures_join<F: std::future::Future<Output = Value>>(
    futures: impl Iterator<Item = F>,
) -> Vec<Value> {
    let mut set = Vec::new();
    for f in futures {
        set.push(f);
    }
    let mut out = Vec::new();
    // Poll them together.
    let joined = join_all(set).await;
    out.extend(joined);
    out
}

async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => outputs[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

/// Two processes of one host (two services over the same stores): a call asked through
/// one is listed and approved through the other, runs once, and the client's retry
/// through either gets its result, once. A second approval, from either, runs nothing.
#[tokio::test]
async fn any_process_of_the_host_settles_an_approval_and_answers_the_retry() {
    let demo = demo().await;
    let client = plain(&demo).await;
    let id = approval_id(&send(&client, &demo, "ship it").await);
    let elsewhere = integrations_mcp::McpService::new(demo.runtime.clone());
    let tenant = &demo.session.session.tenant;
    let reviewer = UserId::new(REVIEWER).unwrap();

    // Both list it.
    for service in [&demo.service, &elsewhere] {
        let pending = service.approvals().pending(tenant).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].request.id, id);
        assert!(
            service
                .approvals()
                .get(tenant, &id)
                .await
                .unwrap()
                .is_some()
        );
    }
    // A client of the other process retrying before the approval is told it waits.
    let other_client = connect(elsewhere.server(demo.session.clone()), Client::plain()).await;
    let waiting = send(&other_client, &demo, "ship it").await;
    assert_eq!(approval_id(&waiting), id, "{waiting}");
    assert_eq!(calls(&demo, "slack_messages"), 0);

    let done = elsewhere.approvals().approve(tenant, &id, &reviewer).await;
    assert!(!done.is_error(), "{done:?}");
    assert_eq!(calls(&demo, "slack_messages"), 1);
    for service in [&demo.service, &elsewhere] {
        let again = service.approvals().approve(tenant, &id, &reviewer).await;
        assert_eq!(again.error_code(), Some("tool.approval_not_found"));
        assert!(
            service
                .approvals()
                .pending(tenant)
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(calls(&demo, "slack_messages"), 1);

    // The retry through the first process gets the result the other stored; once.
    let retry = send(&client, &demo, "ship it").await;
    assert_eq!(retry["isError"], false, "{retry}");
    assert_eq!(
        retry["structuredContent"],
        done.to_mcp()["structuredContent"]
    );
    let next = send(&other_client, &demo, "ship it").await;
    assert_ne!(approval_id(&next), id, "a new call asks anew: {next}");
    assert_eq!(calls(&demo, "slack_messages"), 1);
}

/// A denial through one process reaches a client retrying through another.
#[tokio::test]
async fn a_denial_through_one_process_answers_the_retry_through_another() {
    let demo = demo().await;
    let client = plain(&demo).await;
    let id = approval_id(&send(&client, &demo, "never").await);
    let elsewhere = integrations_mcp::McpService::new(demo.runtime.clone());
    let tenant = &demo.session.session.tenant;
    elsewhere
        .approvals()
        .deny(tenant, &id, &UserId::new(REVIEWER).unwrap())
        .await
        .unwrap();
    let other_client = connect(elsewhere.server(demo.session.clone()), Client::plain()).await;
    let retry = send(&other_client, &demo, "never").await;
    assert_eq!(retry["isError"], true, "{retry}");
    assert_eq!(
        retry["_meta"]["integrations/error"]["code"], "mcp.approval_denied",
        "{retry}"
    );
    assert_eq!(calls(&demo, "slack_messages"), 0);
    assert!(
        demo.service
            .approvals()
            .pending(tenant)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_denied_call_never_runs_and_the_retry_is_told() {
    let demo = demo().await;
    let client = plain(&demo).await;
    let id = approval_id(&send(&client, &demo, "rm -rf").await);
    demo.service
        .approvals()
        .deny(
            &demo.session.session.tenant,
            &id,
            &UserId::new(REVIEWER).unwrap(),
        )
        .await
        .unwrap();
    let retry = send(&client, &demo, "rm -rf").await;
    assert_eq!(
        retry["_meta"]["integrations/error"]["code"],
        "mcp.approval_denied"
    );
    assert_eq!(calls(&demo, "slack_messages"), 0);
}

#[tokio::test]
async fn url_mode_clients_get_url_elicitation_required_pointing_at_the_approval_page() {
    let demo = demo().await;
    let client = connect(
        demo.service.server(demo.session.clone()),
        Client::new(Some(json!({"url": {}})), false),
    )
    .await;
    let error = client
        .call_tool(call(
            "slack_send_message",
            json!({"channel": demo.channel, "text": "hi"}),
        ))
        .await
        .unwrap_err();
    let error = mcp_error(error);
    assert_eq!(error.code, ErrorCode(URL_ELICITATION_REQUIRED));
    let elicitation = &error.data.as_ref().unwrap()["elicitations"][0];
    assert_eq!(elicitation["mode"], "url");
    let id = ApprovalId::new(elicitation["elicitationId"].as_str().unwrap()).unwrap();
    assert_eq!(elicitation["url"], format!("{APPROVALS}/{id}"));
    assert_eq!(calls(&demo, "slack_messages"), 0);

    approve(&demo, &id).await;
    let retry = client
        .call_tool(call(
            "slack_send_message",
            json!({"channel": demo.channel, "text": "hi"}),
        ))
        .await
        .unwrap();
    assert_eq!(json_of(&retry)["isError"], false);
    assert_eq!(calls(&demo, "slack_messages"), 1);
}

#[tokio::test]
async fn a_client_accepting_every_elicitation_cannot_run_an_ask_tool() {
    let demo = demo().await;
    let forger = Client::new(Some(json!({"form": {}})), true);
    let elicitations = forger.elicitations.clone();
    let client = connect(demo.service.server(demo.session.clone()), forger).await;
    for _ in 0..3 {
        let result = send(&client, &demo, "forged").await;
        assert_eq!(result["isError"], true);
        assert!(result["_meta"]["integrations/approval"]["id"].is_string());
        assert_eq!(
            result["_meta"]["integrations/error"]["code"], "tool.approval_required",
            "{result}"
        );
    }
    assert_eq!(calls(&demo, "slack_messages"), 0);
    assert_eq!(
        elicitations.load(Ordering::SeqCst),
        0,
        "the server asked the client"
    );
}

#[tokio::test]
async fn the_opt_in_local_trust_mode_takes_a_form_accept_as_approval() {
    let demo = demo().await;
    let local = Client::new(Some(json!({"form": {}})), true);
    let elicitations = local.elicitations.clone();
    let client = connect(demo.service.trusting_server(demo.session.clone()), local).await;
    let result = send(&client, &demo, "trusted").await;
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(elicitations.load(Ordering::SeqCst), 1);
    assert_eq!(calls(&demo, "slack_messages"), 1);

    // A decline denies: nothing runs.
    let declining = Client::new(Some(json!({"form": {}})), false);
    let client = connect(
        demo.service.trusting_server(demo.session.clone()),
        declining,
    )
    .await;
    let result = send(&client, &demo, "declined").await;
    assert_eq!(
        result["_meta"]["integrations/error"]["code"],
        "mcp.approval_denied"
    );
    assert_eq!(calls(&demo, "slack_messages"), 1);
}

#[tokio::test]
async fn a_large_result_continues_within_its_session_only() {
    let demo = demo().await;
    let client = plain(&demo).await;
    let first = json_of(
        &client
            .call_tool(call("linear_list_issues", json!({"limit": 50})))
            .await
            .unwrap(),
    );
    assert_eq!(first["isError"], false, "{first}");
    let cursor = first["_meta"]["integrations/continuation"]["cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("not trimmed: {first}"))
        .to_owned();

    // Another session cannot read it.
    let other = plain(&demo).await;
    let stolen = json_of(
        &other
            .call_tool(call(
                "integrations_continue_result",
                json!({"cursor": cursor}),
            ))
            .await
            .unwrap(),
    );
    assert_eq!(
        stolen["_meta"]["integrations/error"]["code"],
        "tool.continuation_not_found"
    );

    let next = continue_result(&client, json!({"cursor": cursor})).await;
    assert_eq!(next["isError"], false, "{next}");
    assert!(next["structuredContent"].is_object() || next["structuredContent"].is_array());
}

/// A continuation call that fails before reading its page (an extra argument) leaves
/// the cursor valid: the pages are still in the store.
#[tokio::test]
async fn a_continuation_call_with_bad_arguments_keeps_its_cursor() {
    let demo = demo().await;
    let client = plain(&demo).await;
    let first = json_of(
        &client
            .call_tool(call("linear_list_issues", json!({"limit": 50})))
            .await
            .unwrap(),
    );
    let cursor = first["_meta"]["integrations/continuation"]["cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("not trimmed: {first}"))
        .to_owned();

    let bad = continue_result(&client, json!({"cursor": cursor, "page": 2})).await;
    assert_eq!(
        bad["_meta"]["integrations/error"]["code"], "tool.invalid_arguments",
        "{bad}"
    );

    let next = continue_result(&client, json!({"cursor": cursor})).await;
    assert_eq!(next["isError"], false, "{next}");
    // Read once: the cursor is used up now.
    let again = continue_result(&client, json!({"cursor": cursor})).await;
    assert_eq!(
        again["_meta"]["integrations/error"]["code"], "tool.continuation_not_found",
        "{again}"
    );
}

#[tokio::test]
async fn twenty_concurrent_calls_all_answer() {
    let demo = demo().await;
    let client = plain(&demo).await;
    let calls = (0..20).map(|_| async {
        json_of(
            &client
                .call_tool(call("linear_list_teams", json!({})))
                .await
                .unwrap(),
        )
    });
    let results = join_all(calls.collect()).await;
    assert!(results.iter().all(|r| r["isError"] == false));
}

#[tokio::test]
async fn slow_calls_report_progress_and_cancellation_stops_waiting() {
    let demo = demo().await;
    demo.set_latency(Duration::from_millis(2300));
    let client = Client::plain();
    let progress = client.progress.clone();
    let running = connect(demo.service.server(demo.session.clone()), client).await;
    let mut params = call("linear_list_teams", json!({}));
    params.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
        NumberOrString::Number(7),
    )));
    let result = running.call_tool(params).await.unwrap();
    assert_eq!(json_of(&result)["isError"], false);
    assert!(progress.load(Ordering::SeqCst) >= 2, "{progress:?}");

    // Cancelled: the server stops waiting, so the provider is never called.
    let before = calls(&demo, "linear");
    demo.set_latency(Duration::from_millis(1500));
    let handle = running
        .peer()
        .send_cancellable_request(
            rmcp::model::ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(call(
                "linear_list_teams",
                json!({}),
            ))),
            rmcp::service::PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    handle.cancel(Some("changed my mind".into())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        calls(&demo, "linear"),
        before,
        "the cancelled call reached Linear"
    );
    demo.set_latency(Duration::ZERO);
    // The connection still serves.
    let after = running
        .call_tool(call("linear_list_teams", json!({})))
        .await
        .unwrap();
    assert_eq!(json_of(&after)["isError"], false);
}

#[tokio::test]
async fn concurrent_approvals_run_the_call_once() {
    let demo = demo().await;
    let client = plain(&demo).await;
    let id = approval_id(&send(&client, &demo, "race").await);
    let results = join_all((0..5).map(|_| approve(&demo, &id)).collect()).await;
    let ran = results.iter().filter(|r| !r.is_error()).count();
    assert_eq!(ran, 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.is_error())
            .all(|r| r.error_code() == Some("tool.approval_not_found"))
    );
    assert_eq!(calls(&demo, "slack_messages"), 1);
    let retry = send(&client, &demo, "race").await;
    assert_eq!(retry["isError"], false, "{retry}");
    assert_eq!(calls(&demo, "slack_messages"), 1);
}
