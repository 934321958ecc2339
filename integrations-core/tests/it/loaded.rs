//! The one start-up lookup ([`Loader`]): every engine refuses a disabled target with the
//! same code and kind, and a target's parsed config is reused only while its stored
//! record is unchanged.

use std::sync::Arc;

use integrations_core::auth::TokenManager;
use integrations_core::loaded::Loader;
use integrations_core::model::Target;
use integrations_core::service::{TargetInput, WriteService};
use integrations_core::tools::{Policies, PolicySet, ToolPolicy, ToolStatus};
use integrations_core::{ConnectionId, ErrorKind, TargetId};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::tools_support::{Env, tenant, workspace};

fn auto(env: &Env) -> integrations_core::tools::Runtime {
    env.runtime_with(Arc::new(Policies::new().with_workspace(
        tenant(),
        workspace(),
        PolicySet::new().with_integration("tracker::cloud".parse().unwrap(), ToolPolicy::Auto),
    )))
}

fn tracker() -> TargetId {
    TargetId::new("tracker").unwrap()
}

async fn stored_target(env: &Env) -> Target {
    env.test
        .host()
        .targets()
        .get_target(&tenant(), &tracker())
        .await
        .unwrap()
        .unwrap()
}

async fn disable(env: &Env) {
    let mut target = stored_target(env).await;
    target.enabled = false;
    env.test.host().targets().put_target(&target).await.unwrap();
}

#[tokio::test]
async fn a_disabled_target_is_refused_with_one_code_and_kind_by_every_engine() {
    let env = Env::new().await;
    let runtime = auto(&env);
    let create = json!({"title": "A"});
    let before = runtime
        .call(
            "tracker_create_ticket",
            create.clone(),
            &env.call("conn-key"),
        )
        .await;
    assert_eq!(before.status, ToolStatus::Completed, "{before:?}");
    disable(&env).await;

    // A tool call (through the same runtime, whose loader holds the enabled version).
    let result = runtime
        .call("tracker_create_ticket", create, &env.call("conn-key"))
        .await;
    let failure = result.failure.expect("refused");
    assert_eq!(failure.code, "auth.target_disabled");
    assert_eq!(failure.kind, ErrorKind::PermissionDenied);
    assert_eq!(env.executions(), 1, "the tool did not run again");

    // A token for the connection.
    let oauth = env
        .test
        .host()
        .connections()
        .get_connection(&tenant(), &ConnectionId::new("conn-oauth").unwrap())
        .await
        .unwrap()
        .unwrap();
    let tokens = TokenManager::new(env.registry.clone(), env.test.host().clone());
    let err = tokens.access_token(&oauth).await.unwrap_err();
    assert_eq!(err.code(), "auth.target_disabled");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);

    // The loader itself, for the target and for the connection.
    let loader = Loader::new(env.registry.clone(), env.test.host().clone());
    let err = loader.target(&tenant(), &tracker()).await.unwrap_err();
    assert_eq!(
        (err.code(), err.kind()),
        ("auth.target_disabled", ErrorKind::PermissionDenied)
    );
    let err = loader
        .connection(&tenant(), &ConnectionId::new("conn-key").unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.kind()),
        ("auth.target_disabled", ErrorKind::PermissionDenied)
    );
}

#[tokio::test]
async fn the_loader_names_each_missing_record_with_one_code() {
    let env = Env::new().await;
    let loader = Loader::new(env.registry.clone(), env.test.host().clone());
    let err = loader
        .connection(&tenant(), &ConnectionId::new("ghost").unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.kind()),
        ("auth.connection_not_found", ErrorKind::NotFound)
    );
    let err = loader
        .target(&tenant(), &TargetId::new("ghost").unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.kind()),
        ("auth.target_not_found", ErrorKind::NotFound)
    );
    // A connection paired with a target of another tenant's id space is refused.
    let mut connection = env
        .test
        .host()
        .connections()
        .get_connection(&tenant(), &ConnectionId::new("conn-key").unwrap())
        .await
        .unwrap()
        .unwrap();
    connection.key = "tracker::other".parse().unwrap();
    let err = loader.for_connection(connection).await.unwrap_err();
    assert_eq!(
        (err.code(), err.kind()),
        ("auth.target_mismatch", ErrorKind::Configuration)
    );
    // A stored config that no longer validates.
    let mut target = stored_target(&env).await;
    target.config = json!({"api_base_url": 7});
    env.test.host().targets().put_target(&target).await.unwrap();
    let err = loader.target(&tenant(), &tracker()).await.unwrap_err();
    assert_eq!(
        (err.code(), err.kind()),
        ("auth.target_config_invalid", ErrorKind::Configuration)
    );
    assert!(!err.issues().is_empty());
}

#[tokio::test]
async fn a_target_version_is_parsed_once_and_a_new_version_is_never_served_stale() {
    let env = Env::new().await;
    let loader = Loader::new(env.registry.clone(), env.test.host().clone());
    let first = loader.target(&tenant(), &tracker()).await.unwrap();
    let again = loader.target(&tenant(), &tracker()).await.unwrap();
    assert!(Arc::ptr_eq(&first.target, &again.target), "reused");

    // A new config, written at the same instant (the manual clock does not move): the
    // update stamp is unchanged, the content is not.
    let service = WriteService::new(env.registry.clone(), env.test.host().clone());
    let moved = format!("{}/v2", env.api.uri());
    service
        .put_target(
            TargetInput::new(tenant(), tracker(), "tracker::cloud".parse().unwrap())
                .with_config(json!({"api_base_url": moved})),
        )
        .await
        .unwrap();
    assert_eq!(
        stored_target(&env).await.updated_at,
        first.target.updated_at
    );
    let fresh = loader.target(&tenant(), &tracker()).await.unwrap();
    assert!(!Arc::ptr_eq(&first.target, &fresh.target));
    assert_eq!(fresh.config.raw()["api_base_url"], json!(moved));

    // Through the tool runtime: the call after the change goes to the new base URL, and
    // the one after the change back to the old one.
    Mock::given(method("POST"))
        .and(path("/v2/tickets"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "from-v2", "title": "A"})),
        )
        .mount(env.api.server())
        .await;
    let runtime = auto(&env);
    let call = env.call("conn-key");
    let args = json!({"title": "A"});
    let moved_call = runtime
        .call("tracker_create_ticket", args.clone(), &call)
        .await;
    assert_eq!(moved_call.status, ToolStatus::Completed, "{moved_call:?}");
    assert_eq!(
        moved_call.structured_content.as_ref().unwrap()["id"],
        "from-v2"
    );
    service
        .put_target(
            TargetInput::new(tenant(), tracker(), "tracker::cloud".parse().unwrap())
                .with_config(json!({"api_base_url": format!("{}/v1", env.api.uri())})),
        )
        .await
        .unwrap();
    let back = runtime.call("tracker_create_ticket", args, &call).await;
    assert_eq!(back.status, ToolStatus::Completed, "{back:?}");
    assert_ne!(back.structured_content.as_ref().unwrap()["id"], "from-v2");
    assert_eq!(env.executions(), 2);

    // Re-enabling after a disable serves the enabled record, not a remembered refusal.
    disable(&env).await;
    assert!(loader.target(&tenant(), &tracker()).await.is_err());
    let mut target = stored_target(&env).await;
    target.enabled = true;
    env.test.host().targets().put_target(&target).await.unwrap();
    assert!(loader.target(&tenant(), &tracker()).await.is_ok());
}

/// The two halves ingest and compile use (read the target, check it later) share the
/// lookup's per-version cache, and only the second refuses a disabled target.
#[tokio::test]
async fn the_lookup_in_two_halves_shares_the_cache_and_refuses_a_disabled_target_last() {
    let env = Env::new().await;
    let loader = Loader::new(env.registry.clone(), env.test.host().clone());
    let connection = loader
        .stored_connection(&tenant(), &ConnectionId::new("conn-key").unwrap())
        .await
        .unwrap();
    let whole = loader.target(&tenant(), &tracker()).await.unwrap();
    let stored = loader.stored_target_of(&connection).await.unwrap();
    let checked = loader.check_target(&stored).unwrap();
    assert!(Arc::ptr_eq(&whole.target, &checked.target), "one version");

    disable(&env).await;
    let stored = loader.stored_target_of(&connection).await.unwrap();
    assert!(!stored.enabled, "read without the enabled check");
    let err = loader.check_target(&stored).unwrap_err();
    assert_eq!(
        (err.code(), err.kind()),
        ("auth.target_disabled", ErrorKind::PermissionDenied)
    );

    let mut stray = connection.clone();
    stray.key = "tracker::other".parse().unwrap();
    let err = loader.stored_target_of(&stray).await.unwrap_err();
    assert_eq!(err.code(), "auth.target_mismatch");
    let err = loader
        .stored_connection(&tenant(), &ConnectionId::new("ghost").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "auth.connection_not_found");
}
