//! The write-time service validates everything and stores nothing on failure.

use std::sync::Arc;

use integrations_core::auth::{ApiKeyConnections, Authorizations, Disconnect};
use integrations_core::definition::IdentityCheck;
use integrations_core::host::{HttpClient, HttpRequest, SecretCipherExt, from_fn};
use integrations_core::model::{Connection, ConnectionStatus, ManagedWebhook, ProfileVersion};
use integrations_core::plan::AuthInjection;
use integrations_core::service::{
    BindingInput, ConnectionInput, TargetInput, WriteService, credential_aad, target_secrets_aad,
};
use integrations_core::{
    BindingId, ConnectionId, ConnectionMethodId, ErrorKind, IntegrationKind, ProfileId, Registry,
    TargetId, TenantId,
};
use integrations_testkit::TestHost;
use serde_json::json;

use crate::support::{Meddle, Meddling, TestIntegration, host_with_connections};

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

/// A service over `test`'s stores whose connection writes meet `meddle` between their
/// read and their write, and the meddling store (to ask whether it meddled).
fn meddled(
    test: &TestHost,
    service: &WriteService,
    meddle: Meddle,
) -> (Arc<Meddling>, WriteService) {
    let meddling = Meddling::new(test.store.clone(), meddle);
    let host = host_with_connections(test, meddling.clone());
    (
        meddling,
        WriteService::new(Arc::new(service.registry().clone()), host),
    )
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

/// An HTTP client answering the identity check with the account the key names:
/// `trk_<account>_<n>` is a key of `<account>`.
fn accounts() -> Arc<dyn HttpClient> {
    Arc::new(from_fn(|request: HttpRequest| async move {
        let key = request.headers()["authorization"]
            .to_str()
            .unwrap()
            .trim_start_matches("Bearer ")
            .to_owned();
        let account = key.split('_').nth(1).unwrap_or_default().to_owned();
        let body = serde_json::to_vec(&json!({"account": account})).unwrap();
        Ok(http::Response::new(bytes::Bytes::from(body)))
    }))
}

/// A host whose identity check names the key's account, and API-key connections over it.
async fn verified_setup() -> (TestHost, Arc<Registry>, ApiKeyConnections) {
    let test = TestHost::with_http(accounts());
    let mut integration = TestIntegration::new("tracker::cloud");
    integration.identity = Some(
        IdentityCheck::get("https://t.example.com/me", AuthInjection::Bearer)
            .with_subject_pointer("/account"),
    );
    let mut registry = Registry::new();
    registry.register(integration.arc()).unwrap();
    let registry = Arc::new(registry);
    WriteService::new(registry.clone(), test.host().clone())
        .put_target(target_input())
        .await
        .unwrap();
    let keys = ApiKeyConnections::new(registry.clone(), test.host().clone());
    (test, registry, keys)
}

fn key_input(id: &str, key: &str) -> ConnectionInput {
    ConnectionInput::new(
        tenant(),
        ConnectionId::new(id).unwrap(),
        TargetId::new("tracker").unwrap(),
        ConnectionMethodId::new("api-key").unwrap(),
    )
    .with_secret("api_token", key)
}

/// The stored key of a connection, opened.
async fn stored_key(test: &TestHost, connection: &Connection) -> String {
    let set = test
        .host()
        .credentials()
        .load_credentials(&tenant(), &connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(set.credentials.len(), 1);
    set.credentials[0]
        .open(connection, test.host().cipher())
        .unwrap()
        .expose()
        .to_owned()
}

/// (status, previous, cause) of every status change audited so far.
fn status_trail(test: &TestHost) -> Vec<(String, String, String)> {
    test.audit
        .with_action("connection.status_changed")
        .iter()
        .map(|e| {
            (
                e.detail["status"].clone(),
                e.detail["previous"].clone(),
                e.detail["cause"].clone(),
            )
        })
        .collect()
}

fn trail_row(status: &str, previous: &str, cause: &str) -> (String, String, String) {
    (status.to_owned(), previous.to_owned(), cause.to_owned())
}

#[tokio::test]
async fn a_new_key_for_a_disconnected_account_makes_its_connection_active_again() {
    let (test, registry, keys) = verified_setup().await;
    let first = keys
        .connect(key_input("conn-1", "trk_acct1_one"))
        .await
        .unwrap();
    assert_eq!(first.external_subject.as_deref(), Some("acct1"));
    let disconnected = Authorizations::new(registry.clone(), test.host().clone())
        .disconnect(Disconnect::new(tenant(), first.id.clone()))
        .await
        .unwrap();
    assert!(!disconnected.connection.is_active());

    // The same account again (under another id): its connection takes the new key and
    // is usable again.
    let again = keys
        .connect(key_input("conn-2", "trk_acct1_two"))
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(again.status, ConnectionStatus::Active);
    let stored = test
        .host()
        .connections()
        .get_connection(&tenant(), &first.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, ConnectionStatus::Active);
    assert_eq!(stored_key(&test, &stored).await, "trk_acct1_two");
    assert_eq!(
        test.host()
            .connections()
            .list_connections(&tenant())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        status_trail(&test),
        [
            trail_row("revoked", "active", "disconnect"),
            trail_row("active", "revoked", "reauthorize"),
        ]
    );
}

#[tokio::test]
async fn a_new_key_repairs_a_connection_in_error_and_an_update_without_one_does_not() {
    let (test, registry, keys) = verified_setup().await;
    let first = keys
        .connect(key_input("conn-1", "trk_acct1_one"))
        .await
        .unwrap();
    let refused = ConnectionStatus::Error {
        reason: "the provider refused the key".into(),
    };
    test.host()
        .connections()
        .set_connection_status(
            &tenant(),
            &first.id,
            refused.clone(),
            test.host().clock().now(),
        )
        .await
        .unwrap();
    // A config update without a key keeps the status.
    let mut update = key_input("conn-1", "unused");
    update.secrets.clear();
    update.external_subject = Some("acct1".into());
    let kept = WriteService::new(registry, test.host().clone())
        .put_connection(update)
        .await
        .unwrap();
    assert_eq!(kept.status, refused);
    assert!(status_trail(&test).is_empty());

    let repaired = keys
        .connect(key_input("conn-1", "trk_acct1_two"))
        .await
        .unwrap();
    assert_eq!(repaired.status, ConnectionStatus::Active);
    assert_eq!(stored_key(&test, &repaired).await, "trk_acct1_two");
    assert_eq!(
        status_trail(&test),
        [trail_row("active", "error", "reauthorize")]
    );
    // A key for an active connection is no status change.
    keys.connect(key_input("conn-1", "trk_acct1_three"))
        .await
        .unwrap();
    assert_eq!(status_trail(&test).len(), 1);
}

#[tokio::test]
async fn the_account_the_provider_names_is_the_connections_subject() {
    let (test, _registry, keys) = verified_setup().await;
    let before = test.store.record_count();
    // A subject given that the provider contradicts is refused; nothing is stored.
    let e = keys
        .connect(key_input("conn-1", "trk_acct1_one").with_external_subject("acct2"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Conflict, "auth.subject_mismatch")
    );
    integrations_testkit::assert_secret_free(&e, "trk_acct1_one");
    assert_eq!(test.store.record_count(), before);
    // The provider's subject is stored.
    let first = keys
        .connect(key_input("conn-1", "trk_acct1_one").with_external_subject("acct1"))
        .await
        .unwrap();
    assert_eq!(first.external_subject.as_deref(), Some("acct1"));

    // A key of another account never replaces the connection's key...
    let e = keys
        .connect(key_input("conn-1", "trk_acct2_one"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "auth.subject_mismatch");
    assert_eq!(stored_key(&test, &first).await, "trk_acct1_one");
    // ...nor, asked for this connection, lands on the other account's connection.
    let second = keys
        .connect(key_input("conn-2", "trk_acct2_one"))
        .await
        .unwrap();
    assert_eq!(second.external_subject.as_deref(), Some("acct2"));
    let e = keys
        .connect(key_input("conn-1", "trk_acct2_two"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "auth.subject_mismatch");
    assert_eq!(stored_key(&test, &first).await, "trk_acct1_one");
    assert_eq!(stored_key(&test, &second).await, "trk_acct2_one");
}

/// A managed webhook registered and an endpoint key given meanwhile, as
/// [`ManagedWebhooks`](integrations_core::webhook::ManagedWebhooks) does.
fn registers_a_hook() -> Meddle {
    Box::new(|mut stored: Connection| {
        stored.endpoint_key = Some("ep_registered".into());
        stored.managed_webhook = Some(ManagedWebhook::new(
            "hook-1",
            "https://app.example.com/webhooks/tracker/cloud/ep_registered",
            stored.updated_at,
        ));
        Some(stored)
    })
}

#[tokio::test]
async fn a_connection_write_keeps_what_another_writer_changed_meanwhile() {
    let (test, service) = setup();
    service.put_target(target_input()).await.unwrap();
    service.put_connection(connection_input()).await.unwrap();

    let (meddling, writer) = meddled(&test, &service, registers_a_hook());
    let written = writer
        .put_connection(
            connection_input()
                .with_secret("api_token", "trk_NEW-KEY")
                .with_config(json!({})),
        )
        .await
        .unwrap();
    assert!(meddling.meddled());
    let stored = test
        .host()
        .connections()
        .get_connection(&tenant(), &written.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.endpoint_key.as_deref(), Some("ep_registered"));
    assert_eq!(
        stored.managed_webhook.as_ref().map(|h| h.hook_id.as_str()),
        Some("hook-1")
    );
    assert_eq!(stored, written);
    assert_eq!(stored_key(&test, &stored).await, "trk_NEW-KEY");
}

/// A create that finds the id taken at its insert (another writer created the connection
/// after this one read none) does not write over that record: it reads it again and
/// writes as a revision of it, keeping what the other writer stored and this one does not
/// set.
#[tokio::test]
async fn a_create_that_meets_another_create_writes_over_its_record_as_a_revision() {
    let (test, service) = setup();
    service.put_target(target_input()).await.unwrap();
    let input = connection_input();
    let mut other = Connection::new(
        tenant(),
        input.id.clone(),
        input.target.clone(),
        "tracker::cloud".parse().unwrap(),
        input.method.clone(),
        integrations_core::Timestamp::from_unix_seconds(1),
    );
    other.granted_scopes = vec!["other".into()];
    let meddling = Meddling::creating_first(test.store.clone(), other.clone());
    let writer = WriteService::new(
        Arc::new(service.registry().clone()),
        host_with_connections(&test, meddling.clone()),
    );
    let written = writer.put_connection(input).await.unwrap();
    let stored = test
        .host()
        .connections()
        .get_connection(&tenant(), &written.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, written);
    assert_eq!(stored.created_at, other.created_at);
    assert_eq!(stored.granted_scopes, ["other"]);
    assert!(stored.updated_at > other.updated_at);
    assert_eq!(stored_key(&test, &stored).await, "trk_CONNECTION-SECRET");
    assert!(meddling.meddled());
}

/// A write whose record changed under it so that it is then refused (here the record
/// now names another target) leaves the key it swapped in no longer there: the stored
/// key is the one before, never a key the refused write brought.
#[tokio::test]
async fn a_refused_write_puts_back_the_credentials_it_swapped_in() {
    let (test, service) = setup();
    service.put_target(target_input()).await.unwrap();
    let before = service.put_connection(connection_input()).await.unwrap();
    let moved: Meddle = Box::new(|mut stored: Connection| {
        stored.target = TargetId::new("elsewhere").unwrap();
        stored.updated_at = stored
            .updated_at
            .saturating_add(std::time::Duration::from_secs(1));
        Some(stored)
    });
    let (meddling, writer) = meddled(&test, &service, moved);
    let error = writer
        .put_connection(
            connection_input()
                .with_secret("api_token", "trk_REFUSED-KEY")
                .with_config(json!({})),
        )
        .await
        .unwrap_err();
    assert!(meddling.meddled());
    assert_eq!(error.code(), "connection.invalid", "{error}");
    assert_eq!(stored_key(&test, &before).await, "trk_CONNECTION-SECRET");
}

#[tokio::test]
async fn a_connection_write_does_not_bring_back_the_record_read() {
    let (test, service) = setup();
    service.put_target(target_input()).await.unwrap();
    service.put_connection(connection_input()).await.unwrap();
    // Revoked meanwhile: a write without a key keeps the revocation...
    let revoke: Meddle = Box::new(|mut stored: Connection| {
        stored.status = ConnectionStatus::Revoked {
            reason: "revoked meanwhile".into(),
        };
        Some(stored)
    });
    let (meddling, writer) = meddled(&test, &service, revoke);
    let mut update = connection_input().with_config(json!({}));
    update.secrets.clear();
    let written = writer.put_connection(update).await.unwrap();
    assert!(meddling.meddled());
    assert!(matches!(written.status, ConnectionStatus::Revoked { .. }));
    assert_eq!(
        test.host()
            .connections()
            .get_connection(&tenant(), &written.id)
            .await
            .unwrap()
            .unwrap(),
        written
    );
}

/// Two writes of a connection in one millisecond (the clock does not move here): the
/// second is still a new revision, so a writer holding the first cannot write over it.
/// Before, the second kept `updated_at`, status and endpoint key, and a compare-and-set
/// from the first read went through and undid it.
#[tokio::test]
async fn a_connection_write_in_the_millisecond_of_the_last_is_a_new_revision() {
    let (test, service) = setup();
    service.put_target(target_input()).await.unwrap();
    service.put_connection(connection_input()).await.unwrap();
    let connections = test.host().connections();
    let read = connections
        .get_connection(&tenant(), &ConnectionId::new("conn-1").unwrap())
        .await
        .unwrap()
        .unwrap();

    let mut update = connection_input().with_config(json!({}));
    update.secrets.clear();
    update.external_subject = Some("acct-renamed".into());
    let written = service.put_connection(update).await.unwrap();
    assert!(written.updated_at > read.updated_at);
    assert!(!written.is_revision_of(&read));

    let mut stale = read.clone();
    stale.granted_scopes = vec!["stale".into()];
    assert!(
        !connections
            .put_connection_if_unchanged(&read, &stale)
            .await
            .unwrap()
    );
    let stored = connections
        .get_connection(&tenant(), &read.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, written);
}

/// A write retried over a record another writer changed meanwhile, stamped later than
/// this process's clock (another host's clock ahead): the retry's record is still later
/// than the one it read again. Before, every attempt reused the time taken before the
/// first, and the retry moved `updated_at` back.
#[tokio::test]
async fn a_retried_connection_write_is_later_than_the_record_it_read_again() {
    let (test, service) = setup();
    service.put_target(target_input()).await.unwrap();
    let first = service.put_connection(connection_input()).await.unwrap();
    let ahead = first
        .updated_at
        .saturating_add(std::time::Duration::from_secs(5));
    let from_ahead: Meddle = Box::new(move |mut stored: Connection| {
        stored.granted_scopes = vec!["read".into()];
        stored.updated_at = ahead;
        Some(stored)
    });
    let (meddling, writer) = meddled(&test, &service, from_ahead);
    let mut update = connection_input().with_config(json!({}));
    update.secrets.clear();
    let written = writer.put_connection(update).await.unwrap();
    assert!(meddling.meddled());
    assert_eq!(written.granted_scopes, ["read"]);
    assert!(
        written.updated_at > ahead,
        "{:?} is not after {ahead:?}",
        written.updated_at
    );
}
