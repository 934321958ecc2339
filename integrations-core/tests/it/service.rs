//! The write-time service validates everything and stores nothing on failure.

use std::sync::Arc;

use integrations_core::host::SecretCipherExt;
use integrations_core::model::{ConnectionStatus, ProfileVersion};
use integrations_core::service::{
    BindingInput, ConnectionInput, TargetInput, WriteService, credential_aad, target_secrets_aad,
};
use integrations_core::{
    BindingId, ConnectionId, ConnectionMethodId, ErrorKind, IntegrationKind, ProfileId, Registry,
    TargetId, TenantId,
};
use integrations_testkit::TestHost;
use serde_json::json;

use crate::support::TestIntegration;

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn setup() -> (TestHost, WriteService) {
    let test = TestHost::new();
    let mut registry = Registry::new();
    registry
        .register(TestIntegration::new("tracker::cloud").arc())
        .unwrap();
    let service = WriteService::new(Arc::new(registry), test.host().clone());
    (test, service)
}

fn target_input() -> TargetInput {
    TargetInput::new(
        tenant(),
        TargetId::new("tracker").unwrap(),
        "tracker::cloud".parse().unwrap(),
    )
    .with_config(json!({"site_url": "https://t.example.com", "projects": ["ENG"]}))
    .with_secrets(json!({"webhook_secret": "whs-TARGET-SECRET"}))
}

fn connection_input() -> ConnectionInput {
    ConnectionInput::new(
        tenant(),
        ConnectionId::new("conn-1").unwrap(),
        TargetId::new("tracker").unwrap(),
        ConnectionMethodId::new("api-key").unwrap(),
    )
    .with_secret("api_token", "trk_CONNECTION-SECRET")
}

fn binding_input(project: &str) -> BindingInput {
    BindingInput::new(
        tenant(),
        BindingId::new("b-1").unwrap(),
        ProfileVersion::new(ProfileId::new("sandbox").unwrap(), 3),
        ConnectionId::new("conn-1").unwrap(),
        IntegrationKind::Connector,
    )
    .with_config(json!({"project": project}))
}

fn codes(err: &integrations_core::Error) -> Vec<(String, String)> {
    err.issues()
        .iter()
        .map(|i| (i.code.clone(), i.path.clone()))
        .collect()
}

#[tokio::test]
async fn a_valid_target_is_stored_with_sealed_secrets() {
    let (test, service) = setup();
    let target = service.put_target(target_input()).await.unwrap();
    let stored = test
        .host()
        .targets()
        .get_target(&tenant(), &target.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.config["site_url"], "https://t.example.com");
    let sealed = stored.secrets.clone().unwrap();
    let raw = serde_json::to_string(&stored).unwrap();
    assert!(
        !raw.contains("whs-TARGET-SECRET"),
        "secrets are ciphertext at rest"
    );
    let opened = test
        .keys
        .open_secret(&sealed, &target_secrets_aad(&stored))
        .unwrap();
    assert!(opened.expose().contains("whs-TARGET-SECRET"));

    // Updating without secrets keeps the sealed ones.
    let mut update = target_input();
    update.secrets = None;
    let updated = service.put_target(update.enabled(false)).await.unwrap();
    assert_eq!(updated.secrets, Some(sealed));
    assert!(!updated.enabled);
}

#[tokio::test]
async fn an_invalid_target_reports_every_issue_and_stores_nothing() {
    let (test, service) = setup();
    let input = target_input()
        .with_config(json!({"site_url": 5, "extra": true}))
        .with_secrets(json!({"webhook_secret": 7, "token": "whs-LEAK"}));
    let err = service.put_target(input).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.code(), "target.invalid");
    assert_eq!(
        codes(&err),
        [
            (
                "schema.additional_properties".into(),
                "/config/extra".into()
            ),
            ("schema.type".into(), "/config/site_url".into()),
            (
                "schema.additional_properties".into(),
                "/secrets/token".into()
            ),
            ("schema.type".into(), "/secrets/webhook_secret".into()),
        ]
    );
    assert_eq!(test.store.record_count(), 0);
    integrations_testkit::assert_secret_free(&err, "whs-LEAK");

    let unknown = TargetInput::new(
        tenant(),
        TargetId::new("x").unwrap(),
        "nope::nope".parse().unwrap(),
    );
    let err = service.put_target(unknown).await.unwrap_err();
    assert_eq!(
        codes(&err),
        [("registry.unknown_definition".into(), "/key".into())]
    );

    // A new target without secrets is validated as `{}`: the required secret is missing.
    let mut no_secrets = target_input();
    no_secrets.secrets = None;
    let err = service.put_target(no_secrets).await.unwrap_err();
    assert_eq!(
        codes(&err),
        [("schema.required".into(), "/secrets/webhook_secret".into())]
    );
    assert_eq!(test.store.record_count(), 0);
}

#[tokio::test]
async fn a_valid_connection_stores_its_key_sealed() {
    let (test, service) = setup();
    service.put_target(target_input()).await.unwrap();
    let connection = service.put_connection(connection_input()).await.unwrap();
    assert!(connection.is_active());
    let set = test
        .host()
        .credentials()
        .load_credentials(&tenant(), &connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(set.version, 1);
    assert_eq!(set.credentials.len(), 1);
    let credential = &set.credentials[0];
    assert!(
        !serde_json::to_string(&set)
            .unwrap()
            .contains("trk_CONNECTION-SECRET")
    );
    let aad = credential_aad(&connection, &credential.credential_type, None);
    assert_eq!(
        test.keys
            .open_secret(&credential.value, &aad)
            .unwrap()
            .expose(),
        "trk_CONNECTION-SECRET"
    );
}

#[tokio::test]
async fn an_invalid_connection_reports_every_issue_and_stores_nothing() {
    let (test, service) = setup();
    service
        .put_target(target_input().enabled(false))
        .await
        .unwrap();
    let before = test.store.record_count();
    let input = connection_input()
        .with_secret("api_token", "WRONG-PREFIX-SECRET")
        .with_secret("other", "x")
        .with_config(json!({"x": 1}));
    let err = service.put_connection(input).await.unwrap_err();
    assert_eq!(err.code(), "connection.invalid");
    assert_eq!(
        codes(&err),
        [
            ("connection.target_disabled".into(), "/target".into()),
            ("schema.additional_properties".into(), "/config/x".into()),
            ("connection.unknown_secret".into(), "/secrets/other".into()),
            (
                "connection.secret_prefix".into(),
                "/secrets/api_token".into()
            ),
        ]
    );
    integrations_testkit::assert_secret_free(&err, "WRONG-PREFIX-SECRET");
    assert_eq!(test.store.record_count(), before);

    let missing = ConnectionInput::new(
        tenant(),
        ConnectionId::new("conn-2").unwrap(),
        TargetId::new("tracker").unwrap(),
        ConnectionMethodId::new("oauth2").unwrap(),
    );
    let err = service.put_connection(missing).await.unwrap_err();
    assert!(codes(&err).contains(&("connection.unknown_method".into(), "/method".into())));

    let no_target = ConnectionInput::new(
        tenant(),
        ConnectionId::new("conn-3").unwrap(),
        TargetId::new("ghost").unwrap(),
        ConnectionMethodId::new("api-key").unwrap(),
    );
    let err = service.put_connection(no_target).await.unwrap_err();
    assert_eq!(
        codes(&err),
        [("connection.target_not_found".into(), "/target".into())]
    );

    let empty = connection_input().with_secret("api_token", "  ");
    let err = service.put_connection(empty).await.unwrap_err();
    assert!(codes(&err).contains(&(
        "connection.empty_secret".into(),
        "/secrets/api_token".into()
    )));
    assert_eq!(test.store.record_count(), before);
}

#[tokio::test]
async fn a_valid_binding_is_stored() {
    let (test, service) = setup();
    service.put_target(target_input()).await.unwrap();
    service.put_connection(connection_input()).await.unwrap();
    let binding = service.put_binding(binding_input("ENG")).await.unwrap();
    assert_eq!(binding.profile_version, 3);
    let before = test.store.record_count();
    // Replacing keeps one record.
    service.put_binding(binding_input("ENG")).await.unwrap();
    assert_eq!(test.store.record_count(), before);
}

#[tokio::test]
async fn an_invalid_binding_reports_every_issue_and_stores_nothing() {
    let (test, service) = setup();
    service.put_target(target_input()).await.unwrap();
    service.put_connection(connection_input()).await.unwrap();
    let before = test.store.record_count();

    // The definition's own check.
    let err = service.put_binding(binding_input("OPS")).await.unwrap_err();
    assert_eq!(err.code(), "binding.invalid");
    assert_eq!(
        codes(&err),
        [("tracker.unknown_project".into(), "/config/project".into())]
    );

    // Kind, schema and connection status, all at once.
    test.host()
        .connections()
        .set_connection_status(
            &tenant(),
            &ConnectionId::new("conn-1").unwrap(),
            ConnectionStatus::Error {
                reason: "invalid_grant".into(),
            },
            test.host().clock().now(),
        )
        .await
        .unwrap();
    let mut input = binding_input("");
    input.kind = IntegrationKind::Git;
    let err = service.put_binding(input).await.unwrap_err();
    assert_eq!(
        codes(&err),
        [
            ("binding.connection_not_active".into(), "/connection".into()),
            ("binding.kind_mismatch".into(), "/kind".into()),
            ("schema.min_length".into(), "/config/project".into()),
        ]
    );

    let mut ghost = binding_input("ENG");
    ghost.connection = ConnectionId::new("ghost").unwrap();
    let err = service.put_binding(ghost).await.unwrap_err();
    assert_eq!(
        codes(&err),
        [("binding.connection_not_found".into(), "/connection".into())]
    );
    assert_eq!(test.store.record_count(), before);
}

#[tokio::test]
async fn a_disabled_target_blocks_bindings() {
    let (test, service) = setup();
    service.put_target(target_input()).await.unwrap();
    service.put_connection(connection_input()).await.unwrap();
    let mut disable = target_input();
    disable.secrets = None;
    service.put_target(disable.enabled(false)).await.unwrap();
    let before = test.store.record_count();
    let err = service.put_binding(binding_input("ENG")).await.unwrap_err();
    assert_eq!(
        codes(&err),
        [("binding.target_disabled".into(), "/connection".into())]
    );
    assert_eq!(test.store.record_count(), before);
}
