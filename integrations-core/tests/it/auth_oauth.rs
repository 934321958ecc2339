//! The authorization-code engine: state handling, PKCE, storage, reauthorization.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use integrations_core::auth::{
    Authorizations, CompleteAuthorization, Disconnect, StartAuthorization,
};
use integrations_core::host::{
    AuditOutcome, Clock, ConnectionStore, CredentialStore, Host, OAuthStateStore, Sealed,
    SecretCipherExt,
};
use integrations_core::model::{
    AuthorizationIntent, Connection, ConnectionScope, ConnectionStatus, Credential, CredentialSet,
    CredentialType, ManagedWebhook,
};
use integrations_core::service::credential_aad;
use integrations_core::{ConnectionId, ErrorKind, Registry, TenantId, Timestamp, UserId};
use integrations_testkit::mock::oauth::LinearMock;
use integrations_testkit::{MemoryStore, TestHost};
use sha2::{Digest, Sha256};

use crate::auth_support::{REDIRECT, connect, setup, target_id, tenant};
use crate::support::{Meddle, Meddling, host_with_connections};

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn start_request() -> StartAuthorization {
    StartAuthorization::create(
        tenant(),
        target_id(),
        "oauth2".parse().unwrap(),
        REDIRECT,
        ConnectionScope::Organization,
    )
}

#[tokio::test]
async fn round_trip_with_pkce_stores_sealed_tokens() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let auth = Authorizations::new(registry.clone(), test.host().clone());
    let redirect = auth.start(start_request()).await.unwrap();
    assert_eq!(
        query_param(&redirect.url, "scope").as_deref(),
        Some("read,write")
    );
    assert_eq!(
        query_param(&redirect.url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(test.store.pending_oauth_states(), 1);

    let query = mock.authorize(&redirect.url).unwrap();
    let connection = auth
        .complete(CompleteAuthorization::new(tenant(), REDIRECT, query))
        .await
        .unwrap();
    assert!(connection.is_active());
    assert_eq!(connection.granted_scopes, ["read", "write"]);
    assert!(connection.id.as_str().starts_with("conn_"));
    assert_eq!(test.store.pending_oauth_states(), 0);

    // The mock checked the verifier against the challenge (S256) and got the client id in
    // the body.
    let requests = mock.token_requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].code_verifier);

    // Tokens at rest are ciphertext bound to the connection.
    let set = test
        .store
        .raw_credentials(&tenant(), &connection.id)
        .unwrap();
    assert_eq!(set.version, 1);
    let issued = mock.issued_secrets();
    assert_eq!(issued.len(), 2);
    for credential in &set.credentials {
        for token in &issued {
            assert!(
                !credential
                    .value
                    .ciphertext()
                    .windows(token.len())
                    .any(|w| w == token.as_bytes())
            );
        }
    }
    let access = set
        .find(&CredentialType::OAUTH2_ACCESS_TOKEN, None)
        .unwrap()
        .unwrap();
    let opened = test
        .keys
        .open_secret(
            &access.value,
            &credential_aad(&connection, &CredentialType::OAUTH2_ACCESS_TOKEN, None),
        )
        .unwrap();
    assert!(issued.contains(&opened.expose().to_owned()));
    assert_eq!(
        access.expires_at,
        Some(crate::auth_support::now(&test).saturating_add(Duration::from_secs(86_399)))
    );
    let refresh = set
        .find(&CredentialType::OAUTH2_REFRESH_TOKEN, None)
        .unwrap()
        .unwrap();
    assert!(refresh.expires_at.is_none());

    let audit = test.audit.with_action("connection.authorized");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].outcome, AuditOutcome::Success);
    assert_eq!(audit[0].connection.as_ref(), Some(&connection.id));
}

#[tokio::test]
async fn the_pending_record_holds_a_digest_and_a_sealed_verifier() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let auth = Authorizations::new(registry, test.host().clone());
    let redirect = auth
        .start(start_request().with_user(UserId::new("u-1").unwrap()))
        .await
        .unwrap();
    let state = query_param(&redirect.url, "state").unwrap();
    let digest = hex(&Sha256::digest(state.as_bytes()));
    let pending = test
        .store
        .take_oauth_state(&digest, test.clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.state_digest, digest);
    assert_eq!(pending.tenant, tenant());
    assert_eq!(pending.user, Some(UserId::new("u-1").unwrap()));
    assert_eq!(pending.redirect_uri, REDIRECT);
    assert_eq!(
        pending.intent,
        AuthorizationIntent::Create {
            scope: ConnectionScope::Organization
        }
    );
    assert_eq!(
        pending.expires_at.duration_since(pending.created_at),
        Duration::from_secs(600)
    );
    let serialized = serde_json::to_string(&pending).unwrap();
    assert!(!serialized.contains(&state));
    let sealed = pending.pkce_verifier.unwrap();
    assert_eq!(sealed.key_id(), integrations_testkit::TEST_KEY_ID);
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Starts an authorization and lets the mock consent; returns the callback query.
async fn consented(
    auth: &Authorizations,
    mock: &LinearMock,
    request: StartAuthorization,
) -> String {
    let redirect = auth.start(request).await.unwrap();
    mock.authorize(&redirect.url).unwrap()
}

#[tokio::test]
async fn a_replayed_state_is_rejected_and_nothing_more_is_stored() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let auth = Authorizations::new(registry, test.host().clone());
    let query = consented(&auth, &mock, start_request()).await;
    auth.complete(CompleteAuthorization::new(
        tenant(),
        REDIRECT,
        query.clone(),
    ))
    .await
    .unwrap();
    let stored = test.store.record_count();
    let e = auth
        .complete(CompleteAuthorization::new(tenant(), REDIRECT, query))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Verification, "oauth.unknown_state")
    );
    assert_eq!(test.store.record_count(), stored);
    assert_eq!(mock.code_exchanges(), 1);
}

#[tokio::test]
async fn an_expired_state_is_rejected_by_the_manual_clock() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let auth = Authorizations::new(registry, test.host().clone());
    let baseline = test.store.record_count();

    let query = consented(&auth, &mock, start_request()).await;
    test.clock.advance(Duration::from_secs(600));
    let e = auth
        .complete(CompleteAuthorization::new(tenant(), REDIRECT, query))
        .await
        .unwrap_err();
    // The store deletes the expired state and reports it absent (never returns it).
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Verification, "oauth.unknown_state")
    );
    assert_eq!(test.store.pending_oauth_states(), 0);
    assert_eq!(test.store.record_count(), baseline);
    assert_eq!(mock.code_exchanges(), 0);

    // One second short of the TTL still works.
    let query = consented(&auth, &mock, start_request()).await;
    test.clock.advance(Duration::from_secs(599));
    auth.complete(CompleteAuthorization::new(tenant(), REDIRECT, query))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_state_from_another_tenant_user_or_redirect_uri_is_rejected() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let auth = Authorizations::new(registry, test.host().clone());
    let baseline = test.store.record_count();
    let alice = UserId::new("alice").unwrap();

    let cases: Vec<(CompleteAuthorization, &str)> = vec![
        (
            CompleteAuthorization::new(TenantId::new("evil").unwrap(), REDIRECT, String::new())
                .with_user(alice.clone()),
            "oauth.state_mismatch",
        ),
        (
            CompleteAuthorization::new(tenant(), REDIRECT, String::new())
                .with_user(UserId::new("mallory").unwrap()),
            "oauth.state_mismatch",
        ),
        (
            CompleteAuthorization::new(tenant(), REDIRECT, String::new()),
            "oauth.state_mismatch",
        ),
        (
            CompleteAuthorization::new(
                tenant(),
                "https://evil.example.com/oauth/callback",
                String::new(),
            )
            .with_user(alice.clone()),
            "oauth.redirect_uri_mismatch",
        ),
        (
            CompleteAuthorization::new(tenant(), REDIRECT, String::new())
                .with_user(alice.clone())
                .with_key("github::github-cloud".parse().unwrap()),
            "oauth.state_mismatch",
        ),
    ];
    for (mut callback, code) in cases {
        callback.query = consented(&auth, &mock, start_request().with_user(alice.clone())).await;
        let replay = callback.query.clone();
        let e = auth.complete(callback).await.unwrap_err();
        assert_eq!((e.kind(), e.code()), (ErrorKind::Verification, code));
        assert_eq!(test.store.record_count(), baseline, "{code}");
        // The state was consumed: the right caller cannot use it afterwards either.
        let e = auth
            .complete(
                CompleteAuthorization::new(tenant(), REDIRECT, replay).with_user(alice.clone()),
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), "oauth.unknown_state");
    }
    assert_eq!(mock.code_exchanges(), 0);
}

#[tokio::test]
async fn provider_errors_and_malformed_callbacks_store_nothing() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let auth = Authorizations::new(registry, test.host().clone());
    let baseline = test.store.record_count();

    let redirect = auth.start(start_request()).await.unwrap();
    let e = auth
        .complete(CompleteAuthorization::new(
            tenant(),
            REDIRECT,
            mock.deny(&redirect.url),
        ))
        .await
        .unwrap_err();
    // The user declined: `oauth.access_denied`, as the catalogue and the token endpoint
    // path say (it was `oauth.authorization_failed`, the code for the other errors).
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Provider, "oauth.access_denied")
    );
    assert!(e.message().contains("access_denied"));
    assert!(!e.message().contains("denied your application"));
    // Any other error on the callback.
    let redirect = auth.start(start_request()).await.unwrap();
    let state = query_param(&redirect.url, "state").unwrap();
    let e = auth
        .complete(CompleteAuthorization::new(
            tenant(),
            REDIRECT,
            format!("error=temporarily_unavailable&state={state}"),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Provider, "oauth.authorization_failed")
    );
    assert!(e.message().contains("temporarily_unavailable"));

    for (query, code) in [
        ("code=abc", "oauth.missing_state"),
        ("code=abc&state=forged", "oauth.unknown_state"),
        ("code=a&state=b&state=c", "oauth.invalid_callback"),
    ] {
        let e = auth
            .complete(CompleteAuthorization::new(tenant(), REDIRECT, query))
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{query}");
    }

    // A state without a code.
    let redirect = auth.start(start_request()).await.unwrap();
    let state = query_param(&redirect.url, "state").unwrap();
    let e = auth
        .complete(CompleteAuthorization::new(
            tenant(),
            REDIRECT,
            format!("state={state}"),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oauth.missing_code");

    // A code the provider refuses (used already).
    let query = mock
        .authorize(&auth.start(start_request()).await.unwrap().url)
        .unwrap();
    let code = query_param(&format!("https://x.test/?{query}"), "code").unwrap();
    let other = auth.start(start_request()).await.unwrap();
    let other_state = query_param(&other.url, "state").unwrap();
    // Spend the code on the first state...
    auth.complete(CompleteAuthorization::new(tenant(), REDIRECT, query))
        .await
        .unwrap();
    // (the second state is still pending: it is consumed below)
    let after_first = test.store.record_count() - 1;
    // ...then present it again with the second one.
    let e = auth
        .complete(CompleteAuthorization::new(
            tenant(),
            REDIRECT,
            format!("code={code}&state={other_state}"),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Provider, "oauth.invalid_grant")
    );
    assert_eq!(test.store.record_count(), after_first);
    assert!(baseline < after_first);
    assert_eq!(test.store.pending_oauth_states(), 0);
}

#[tokio::test]
async fn start_refuses_bad_requests_without_storing() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let auth = Authorizations::new(registry, test.host().clone());
    let baseline = test.store.record_count();
    let cases = [
        (start_request().with_scopes(["read"]), None),
        (
            StartAuthorization::create(
                tenant(),
                target_id(),
                "oauth2".parse().unwrap(),
                "not a url",
                ConnectionScope::Organization,
            ),
            Some("oauth.invalid_redirect_uri"),
        ),
        // The callback is completed at its URI without the query and compared exactly:
        // a redirect URI with a query could never match.
        (
            StartAuthorization::create(
                tenant(),
                target_id(),
                "oauth2".parse().unwrap(),
                format!("{REDIRECT}?next=/home"),
                ConnectionScope::Organization,
            ),
            Some("oauth.invalid_redirect_uri"),
        ),
        (
            StartAuthorization::create(
                tenant(),
                target_id(),
                "oauth2".parse().unwrap(),
                format!("{REDIRECT}?"),
                ConnectionScope::Organization,
            ),
            Some("oauth.invalid_redirect_uri"),
        ),
        (
            StartAuthorization::create(
                tenant(),
                target_id(),
                "oauth2".parse().unwrap(),
                format!("{REDIRECT}#done"),
                ConnectionScope::Organization,
            ),
            Some("oauth.invalid_redirect_uri"),
        ),
        (
            StartAuthorization::create(
                tenant(),
                target_id(),
                "api-key".parse().unwrap(),
                REDIRECT,
                ConnectionScope::Organization,
            ),
            Some("auth.method_not_redirect"),
        ),
        (
            StartAuthorization::create(
                tenant(),
                "missing".parse().unwrap(),
                "oauth2".parse().unwrap(),
                REDIRECT,
                ConnectionScope::Organization,
            ),
            Some("auth.target_not_found"),
        ),
        (
            StartAuthorization::create(
                tenant(),
                target_id(),
                "oauth2".parse().unwrap(),
                REDIRECT,
                ConnectionScope::User {
                    user: UserId::new("bob").unwrap(),
                },
            )
            .with_user(UserId::new("alice").unwrap()),
            Some("auth.scope_user_mismatch"),
        ),
        (
            StartAuthorization::new(
                tenant(),
                target_id(),
                "oauth2".parse().unwrap(),
                REDIRECT,
                AuthorizationIntent::Reauthorize {
                    connection: ConnectionId::new("nope").unwrap(),
                },
            ),
            Some("auth.connection_not_found"),
        ),
    ];
    for (request, expected) in cases {
        match expected {
            None => {
                let redirect = auth.start(request).await.unwrap();
                assert_eq!(query_param(&redirect.url, "scope").as_deref(), Some("read"));
                test.store
                    .take_oauth_state(
                        &hex(&Sha256::digest(
                            query_param(&redirect.url, "state").unwrap().as_bytes(),
                        )),
                        test.clock.now(),
                    )
                    .await
                    .unwrap()
                    .unwrap();
            }
            Some(code) => {
                let e = auth.start(request).await.unwrap_err();
                assert_eq!(e.code(), code);
            }
        }
        assert_eq!(test.store.record_count(), baseline);
    }
}

#[tokio::test]
async fn reauthorizing_repairs_the_connection_in_place() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let connection = connected_in_error(&test, &registry, &mock).await;
    let before = test
        .store
        .raw_credentials(&tenant(), &connection.id)
        .unwrap();

    let auth = Authorizations::new(registry, test.host().clone());
    let query = consented(
        &auth,
        &mock,
        StartAuthorization::new(
            tenant(),
            target_id(),
            "oauth2".parse().unwrap(),
            REDIRECT,
            AuthorizationIntent::Reauthorize {
                connection: connection.id.clone(),
            },
        ),
    )
    .await;
    let repaired = auth
        .complete(CompleteAuthorization::new(tenant(), REDIRECT, query))
        .await
        .unwrap();
    assert_eq!(repaired.id, connection.id);
    assert!(repaired.is_active());
    let after = test
        .store
        .raw_credentials(&tenant(), &connection.id)
        .unwrap();
    assert_eq!(after.version, before.version + 1);
    assert_ne!(after.credentials, before.credentials);
    assert_eq!(
        test.store.list_connections(&tenant()).await.unwrap().len(),
        1
    );
    let audit = test.audit.with_action("connection.authorized");
    assert_eq!(
        audit
            .last()
            .unwrap()
            .detail
            .get("intent")
            .map(String::as_str),
        Some("reauthorize")
    );

    // Creating with a taken id is refused before the code is exchanged.
    let exchanges = mock.code_exchanges();
    let query = consented(&auth, &mock, start_request()).await;
    let e = auth
        .complete(
            CompleteAuthorization::new(tenant(), REDIRECT, query)
                .with_connection_id(connection.id.clone()),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Conflict, "auth.connection_exists")
    );
    assert_eq!(mock.code_exchanges(), exchanges);
}

/// A connection made through `mock`, then put in `error` (its refresh token rejected):
/// the connection a reauthorization repairs.
async fn connected_in_error(
    test: &TestHost,
    registry: &Arc<Registry>,
    mock: &LinearMock,
) -> Connection {
    let connection = connect(test, registry, mock).await;
    test.store
        .set_connection_status(
            &tenant(),
            &connection.id,
            ConnectionStatus::Error {
                reason: "refresh token rejected".into(),
            },
            crate::auth_support::now(test),
        )
        .await
        .unwrap();
    connection
}

/// The reauthorization of `connection` through `host`: its callback's result.
async fn reauthorize_through(
    host: Host,
    registry: &Arc<Registry>,
    mock: &LinearMock,
    connection: &Connection,
) -> Result<Connection, integrations_core::Error> {
    let auth = Authorizations::new(registry.clone(), host);
    let query = consented(
        &auth,
        mock,
        StartAuthorization::new(
            tenant(),
            target_id(),
            "oauth2".parse().unwrap(),
            REDIRECT,
            AuthorizationIntent::Reauthorize {
                connection: connection.id.clone(),
            },
        ),
    )
    .await;
    auth.complete(CompleteAuthorization::new(tenant(), REDIRECT, query))
        .await
}

#[tokio::test]
async fn a_reauthorization_keeps_what_another_writer_changed_meanwhile() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let connection = connected_in_error(&test, &registry, &mock).await;
    // A managed webhook is registered between the reauthorization's read and its write.
    let meddle: Meddle = Box::new(|mut stored: Connection| {
        stored.endpoint_key = Some("ep_registered".into());
        stored.managed_webhook = Some(ManagedWebhook::new(
            "hook-1",
            "https://app.example.com/webhooks/tracker/tracker-oauth/ep_registered",
            stored.updated_at,
        ));
        Some(stored)
    });
    let meddling = Meddling::new(test.store.clone(), meddle);
    let host = host_with_connections(&test, meddling.clone());
    let repaired = reauthorize_through(host, &registry, &mock, &connection)
        .await
        .unwrap();
    assert!(meddling.meddled());
    assert!(repaired.is_active());
    let stored = test
        .store
        .get_connection(&tenant(), &connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, repaired);
    assert_eq!(stored.endpoint_key.as_deref(), Some("ep_registered"));
    assert!(stored.managed_webhook.is_some());
    // Audited once, error -> active.
    let changes = test.audit.with_action("connection.status_changed");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].detail["previous"], "error");
    assert_eq!(changes[0].detail["status"], "active");
}

#[tokio::test]
async fn a_connection_deleted_during_its_reauthorization_stays_deleted() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let connection = connect(&test, &registry, &mock).await;
    let meddling = Meddling::new(test.store.clone(), Box::new(|_| None));
    let host = host_with_connections(&test, meddling.clone());
    let e = reauthorize_through(host, &registry, &mock, &connection)
        .await
        .unwrap_err();
    assert!(meddling.meddled());
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::NotFound, "auth.connection_not_found")
    );
    assert!(
        test.store
            .get_connection(&tenant(), &connection.id)
            .await
            .unwrap()
            .is_none()
    );
    // Nor are the tokens it obtained left under the deleted id, where nothing would
    // ever use, refresh or delete them.
    assert!(
        test.store
            .load_credentials(&tenant(), &connection.id)
            .await
            .unwrap()
            .is_none()
    );
}

/// A disconnect that lands while a reauthorization runs (between its read and its
/// write) wins: the connection stays revoked, not active with the reauthorization's
/// tokens written back over the disconnect's deletion.
#[tokio::test]
async fn a_connection_disconnected_during_its_reauthorization_stays_revoked() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let connection = connected_in_error(&test, &registry, &mock).await;
    let meddle: Meddle = Box::new(|mut stored: Connection| {
        stored.status = ConnectionStatus::Revoked {
            reason: integrations_core::auth::DISCONNECTED.to_owned(),
        };
        Some(stored)
    });
    let meddling = Meddling::new(test.store.clone(), meddle);
    let host = host_with_connections(&test, meddling.clone());
    let e = reauthorize_through(host, &registry, &mock, &connection)
        .await
        .unwrap_err();
    assert!(meddling.meddled());
    assert_eq!(e.code(), "store.version_conflict", "{e:?}");
    let stored = test
        .store
        .get_connection(&tenant(), &connection.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(stored.status, ConnectionStatus::Revoked { .. }),
        "{:?}",
        stored.status
    );
    assert!(
        test.store
            .load_credentials(&tenant(), &connection.id)
            .await
            .unwrap()
            .is_none(),
        "the reauthorization's tokens were left under a disconnected connection"
    );
}

/// What a reauthorization of a connection in error did through `store` (made from the
/// test's memory store): its outcome, and the stored credentials before and after.
struct ReauthorizedOver {
    outcome: Result<Connection, integrations_core::Error>,
    before: CredentialSet,
    after: CredentialSet,
    stored: Connection,
}

async fn reauthorized_over(
    store: impl FnOnce(Arc<MemoryStore>) -> Arc<Meddling>,
) -> ReauthorizedOver {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let connection = connected_in_error(&test, &registry, &mock).await;
    let credentials = || async {
        let set = test.store.load_credentials(&tenant(), &connection.id).await;
        set.unwrap().unwrap()
    };
    let before = credentials().await;
    let meddling = store(test.store.clone());
    let host = host_with_connections(&test, meddling.clone());
    let outcome = reauthorize_through(host, &registry, &mock, &connection).await;
    assert!(meddling.meddled());
    let after = credentials().await;
    let stored = test.store.get_connection(&tenant(), &connection.id).await;
    ReauthorizedOver {
        outcome,
        before,
        after,
        stored: stored.unwrap().unwrap(),
    }
}

/// A reauthorization that fails after storing its tokens (the record's write fails: a
/// store error) puts the credentials it replaced back: nothing is changed.
#[tokio::test]
async fn a_reauthorization_failing_after_its_tokens_were_stored_puts_the_old_ones_back() {
    let done = Box::pin(reauthorized_over(Meddling::failing)).await;
    let e = done.outcome.unwrap_err();
    assert_eq!(e.code(), "store.failed", "{e:?}");
    assert_eq!(
        done.after.credentials, done.before.credentials,
        "the reauthorization's tokens were left under the record it could not write"
    );
    assert!(done.after.version > done.before.version, "{:?}", done.after);
    assert!(matches!(done.stored.status, ConnectionStatus::Error { .. }));
}

/// A record write whose answer is lost after it landed (a store error after the commit)
/// is a reauthorization done: its tokens stay with the record that names them.
#[tokio::test]
async fn a_reauthorization_whose_record_write_landed_before_an_error_keeps_its_tokens() {
    let done = Box::pin(reauthorized_over(Meddling::losing_answer)).await;
    assert!(done.outcome.unwrap().is_active());
    assert_ne!(
        done.after.credentials, done.before.credentials,
        "the new tokens stay"
    );
    assert!(done.stored.is_active());
}

/// Forgetting a connection disconnects it, then deletes its publications, its sync
/// checkpoints, the tool calls through it waiting for approval and its record, and
/// nothing of another connection's.
#[tokio::test]
async fn forgetting_a_connection_leaves_nothing_that_names_it() {
    use integrations_core::host::{ApprovalStore, CheckpointStore, PublicationStore};
    use integrations_core::model::{Publication, PublicationScope, SyncCheckpoint};
    use integrations_core::tools::{ApprovalId, ApprovalRequest, CallContext, Session};
    use integrations_core::{PublicationId, WorkspaceId};

    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let connection = connect(&test, &registry, &mock).await;
    let other = ConnectionId::new("other").unwrap();
    let at = crate::auth_support::now(&test);
    for (id, through) in [
        ("p-1", &connection.id),
        ("p-2", &connection.id),
        ("p-3", &other),
    ] {
        let publication = Publication::new(
            tenant(),
            PublicationId::new(id).unwrap(),
            through.clone(),
            PublicationScope::Workspace {
                workspace: WorkspaceId::new("w").unwrap(),
            },
            at,
        );
        test.store.put_publication(&publication).await.unwrap();
    }
    for (through, stream) in [
        (&connection.id, "issues"),
        (&connection.id, "comments"),
        (&other, "issues"),
    ] {
        let checkpoint = SyncCheckpoint::new(tenant(), through.clone(), stream, at);
        test.store.save_checkpoint(&checkpoint).await.unwrap();
    }
    let session = Session::new(tenant(), WorkspaceId::new("w").unwrap());
    for (id, through) in [("a-1", &connection.id), ("a-2", &other)] {
        let request = ApprovalRequest::new(
            ApprovalId::new(id).unwrap(),
            "linear_create_issue",
            connection.key.clone(),
            serde_json::json!({"title": "Crash"}),
            CallContext::new(session.clone(), through.clone()),
            at,
            std::time::Duration::from_secs(3600),
        );
        test.store.put_approval(&request).await.unwrap();
    }
    let auth = Authorizations::new(registry, test.host().clone());
    let forgotten = auth
        .forget(Disconnect::new(tenant(), connection.id.clone()))
        .await
        .unwrap();
    assert_eq!(
        (
            forgotten.publications_deleted,
            forgotten.checkpoints_deleted,
            forgotten.approvals_deleted
        ),
        (2, 2, 1)
    );
    assert!(matches!(
        forgotten.disconnected.connection.status,
        ConnectionStatus::Revoked { .. }
    ));
    assert!(forgotten.disconnected.credentials_deleted);
    let store = &test.store;
    assert!(
        store
            .get_connection(&tenant(), &connection.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .load_credentials(&tenant(), &connection.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .list_publications(&tenant(), &connection.id)
            .await
            .unwrap()
            .is_empty()
    );
    for stream in ["issues", "comments"] {
        assert!(
            store
                .load_checkpoint(&tenant(), &connection.id, stream)
                .await
                .unwrap()
                .is_none()
        );
    }
    // The other connection's records stay.
    assert_eq!(
        store
            .list_publications(&tenant(), &other)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .load_checkpoint(&tenant(), &other, "issues")
            .await
            .unwrap()
            .is_some()
    );
    let taken = |id: &'static str| async move {
        store
            .take_approval(&tenant(), &ApprovalId::new(id).unwrap(), at)
            .await
            .unwrap()
    };
    assert!(taken("a-1").await.is_none(), "the forgotten call is gone");
    assert!(taken("a-2").await.is_some(), "the other connection's stays");
    let events = test.audit.with_action("connection.forgotten");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].connection.as_ref(), Some(&connection.id));
    assert_eq!(events[0].detail["publications_deleted"], "2");
    assert_eq!(events[0].detail["checkpoints_deleted"], "2");
    assert_eq!(events[0].detail["approvals_deleted"], "1");
    // Forgotten is forgotten: a second call finds no connection.
    let again = auth
        .forget(Disconnect::new(tenant(), connection.id.clone()))
        .await
        .unwrap_err();
    assert_eq!(again.code(), "auth.connection_not_found");
}

/// A checkpoint store that never implemented `delete_checkpoints` (the trait's default).
struct CheckpointsWithoutDelete(Arc<MemoryStore>);

#[async_trait]
impl integrations_core::host::CheckpointStore for CheckpointsWithoutDelete {
    async fn load_checkpoint(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        stream: &str,
    ) -> Result<Option<integrations_core::model::SyncCheckpoint>, integrations_core::Error> {
        self.0.load_checkpoint(tenant, connection, stream).await
    }
    async fn save_checkpoint(
        &self,
        checkpoint: &integrations_core::model::SyncCheckpoint,
    ) -> Result<u64, integrations_core::Error> {
        self.0.save_checkpoint(checkpoint).await
    }
    async fn acquire_sync_lease(
        &self,
        lease: &integrations_core::model::SyncLease,
        now: Timestamp,
    ) -> Result<bool, integrations_core::Error> {
        self.0.acquire_sync_lease(lease, now).await
    }
    async fn release_sync_lease(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        stream: &str,
        holder: &str,
    ) -> Result<bool, integrations_core::Error> {
        self.0
            .release_sync_lease(tenant, connection, stream, holder)
            .await
    }
}

/// Forgetting through a checkpoint store that cannot delete checkpoints says what was
/// done and what to do, and keeps the record, so that forgetting again once the store
/// can finishes the job.
#[tokio::test]
async fn forgetting_through_a_store_without_delete_checkpoints_says_what_is_left() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let connection = connect(&test, &registry, &mock).await;
    let host = Host::builder()
        .stores(test.store.clone())
        .checkpoints(Arc::new(CheckpointsWithoutDelete(test.store.clone())))
        .http(test.host().http_arc())
        .cipher(test.keys.clone())
        .clock(test.clock.clone())
        .audit(test.audit.clone())
        .build()
        .unwrap();
    let e = Authorizations::new(Arc::clone(&registry), host)
        .forget(Disconnect::new(tenant(), connection.id.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "store.not_implemented");
    assert!(e.message().contains("is disconnected"), "{}", e.message());
    assert!(
        e.message().contains("delete_checkpoints"),
        "{}",
        e.message()
    );
    let kept = test
        .store
        .get_connection(&tenant(), &connection.id)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(kept.status, ConnectionStatus::Revoked { .. }));
    // With a store that can, forgetting again finishes the job.
    let forgotten = Authorizations::new(registry, test.host().clone())
        .forget(Disconnect::new(tenant(), connection.id.clone()))
        .await
        .unwrap();
    assert!(!forgotten.disconnected.credentials_deleted);
    assert!(
        test.store
            .get_connection(&tenant(), &connection.id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_second_disconnect_audits_no_second_status_change() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let connection = connect(&test, &registry, &mock).await;
    let auth = Authorizations::new(registry, test.host().clone());
    for _ in 0..2 {
        let disconnected = auth
            .disconnect(Disconnect::new(tenant(), connection.id.clone()))
            .await
            .unwrap();
        assert!(matches!(
            disconnected.connection.status,
            ConnectionStatus::Revoked { .. }
        ));
    }
    let changes = test.audit.with_action("connection.status_changed");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].detail["previous"], "active");
    assert_eq!(changes[0].detail["status"], "revoked");
}

#[tokio::test]
async fn credentials_left_for_a_chosen_id_do_not_block_it() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let chosen = ConnectionId::new("chosen").unwrap();
    // A create that stopped after its credentials, before its record.
    let left = Credential::new(
        CredentialType::OAUTH2_ACCESS_TOKEN,
        Sealed::new("k", vec![1, 2, 3]),
        crate::auth_support::now(&test),
    );
    test.store
        .swap_credentials(&tenant(), &chosen, None, vec![left])
        .await
        .unwrap();
    let auth = Authorizations::new(registry, test.host().clone());
    let query = consented(&auth, &mock, start_request()).await;
    let connection = auth
        .complete(
            CompleteAuthorization::new(tenant(), REDIRECT, query)
                .with_connection_id(chosen.clone()),
        )
        .await
        .unwrap();
    assert_eq!(connection.id, chosen);
    let set = test.store.raw_credentials(&tenant(), &chosen).unwrap();
    assert_eq!(set.version, 2);
    let access = set
        .find(&CredentialType::OAUTH2_ACCESS_TOKEN, None)
        .unwrap()
        .unwrap();
    assert!(access.open(&connection, test.host().cipher()).is_ok());
}

/// A credential store where another create of the same id swaps its credentials in
/// right after this one read the (absent) set.
struct RacingCreate {
    inner: Arc<MemoryStore>,
    raced: AtomicUsize,
}

#[async_trait]
impl CredentialStore for RacingCreate {
    async fn load_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<CredentialSet>, integrations_core::Error> {
        let read = self.inner.load_credentials(tenant, connection).await?;
        if self.raced.fetch_add(1, Ordering::SeqCst) == 0 {
            let theirs = Credential::new(
                CredentialType::OAUTH2_ACCESS_TOKEN,
                Sealed::new("k", vec![9]),
                Timestamp::UNIX_EPOCH,
            );
            self.inner
                .swap_credentials(tenant, connection, None, vec![theirs])
                .await?;
        }
        Ok(read)
    }
    async fn swap_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        expected_version: Option<u64>,
        credentials: Vec<Credential>,
    ) -> Result<u64, integrations_core::Error> {
        self.inner
            .swap_credentials(tenant, connection, expected_version, credentials)
            .await
    }
    async fn delete_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<bool, integrations_core::Error> {
        self.inner.delete_credentials(tenant, connection).await
    }
}

/// Consents through `mock` and completes the authorization under the chosen id
/// `chosen`, on `test`'s host with `credentials` (and `connections`, when given) as its
/// stores.
async fn complete_chosen_over(
    test: &TestHost,
    registry: Arc<Registry>,
    mock: &LinearMock,
    chosen: &ConnectionId,
    credentials: Arc<dyn CredentialStore>,
    connections: Option<Arc<dyn ConnectionStore>>,
) -> Result<Connection, integrations_core::Error> {
    let mut builder = Host::builder()
        .stores(test.store.clone())
        .credentials(credentials)
        .http(test.host().http_arc())
        .cipher(test.keys.clone())
        .clock(test.clock.clone())
        .audit(test.audit.clone());
    if let Some(connections) = connections {
        builder = builder.connections(connections);
    }
    let auth = Authorizations::new(registry, builder.build().unwrap());
    let query = consented(&auth, mock, start_request()).await;
    auth.complete(
        CompleteAuthorization::new(tenant(), REDIRECT, query).with_connection_id(chosen.clone()),
    )
    .await
}

#[tokio::test]
async fn two_creates_of_one_chosen_id_race_to_one_connection_exists() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let racing = Arc::new(RacingCreate {
        inner: test.store.clone(),
        raced: AtomicUsize::new(0),
    });
    let chosen = ConnectionId::new("chosen").unwrap();
    let e = complete_chosen_over(&test, registry, &mock, &chosen, racing, None)
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Conflict, "auth.connection_exists")
    );
    // The other create's credentials stay; this one stored no record.
    assert!(
        test.store
            .get_connection(&tenant(), &ConnectionId::new("chosen").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let set = test
        .store
        .raw_credentials(&tenant(), &ConnectionId::new("chosen").unwrap())
        .unwrap();
    assert_eq!(set.version, 1);
    assert_eq!(set.credentials[0].value.ciphertext(), [9]);
}

/// A credential store where, right after this create swapped its credentials in,
/// another create of the same id reads this one's set and swaps its own over it; then
/// it stores its record first (`theirs`), or, without one, loses the insert and never
/// gets to put back what it read.
struct OvertakingCreate {
    inner: Arc<MemoryStore>,
    theirs: Option<Connection>,
    overtaken: AtomicUsize,
}

#[async_trait]
impl CredentialStore for OvertakingCreate {
    async fn load_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<CredentialSet>, integrations_core::Error> {
        self.inner.load_credentials(tenant, connection).await
    }
    async fn swap_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        expected_version: Option<u64>,
        credentials: Vec<Credential>,
    ) -> Result<u64, integrations_core::Error> {
        let swapped = self
            .inner
            .swap_credentials(tenant, connection, expected_version, credentials)
            .await?;
        if self.overtaken.fetch_add(1, Ordering::SeqCst) == 0 {
            let mine = self.inner.load_credentials(tenant, connection).await?;
            let theirs = Credential::new(
                CredentialType::OAUTH2_ACCESS_TOKEN,
                Sealed::new("k", vec![9]),
                Timestamp::UNIX_EPOCH,
            );
            self.inner
                .swap_credentials(tenant, connection, mine.map(|s| s.version), vec![theirs])
                .await?;
            if let Some(record) = &self.theirs {
                assert!(self.inner.put_connection_if_absent(record).await?);
            }
        }
        Ok(swapped)
    }
    async fn delete_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<bool, integrations_core::Error> {
        self.inner.delete_credentials(tenant, connection).await
    }
}

/// The other interleaving of two creates of one chosen id: the other create reads this
/// one's credentials, swaps its own over them and stores its record first. This create
/// then finds the id taken: it is told so, and neither writes over the winner's record
/// nor leaves its own credentials under it.
#[tokio::test]
async fn a_create_overtaken_after_its_credentials_leaves_the_winner_whole() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let chosen = ConnectionId::new("chosen").unwrap();
    let mut theirs = Connection::new(
        tenant(),
        chosen.clone(),
        target_id(),
        crate::auth_support::KEY.parse().unwrap(),
        "oauth2".parse().unwrap(),
        crate::auth_support::now(&test),
    );
    theirs.granted_scopes = vec!["theirs".into()];
    let overtaking = Arc::new(OvertakingCreate {
        inner: test.store.clone(),
        theirs: Some(theirs.clone()),
        overtaken: AtomicUsize::new(0),
    });
    let e = complete_chosen_over(&test, registry, &mock, &chosen, overtaking.clone(), None)
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Conflict, "auth.connection_exists")
    );
    assert!(overtaking.overtaken.load(Ordering::SeqCst) >= 1);
    // The winner's record and credentials, as it stored them.
    let stored = test
        .store
        .get_connection(&tenant(), &chosen)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, theirs);
    let set = test.store.raw_credentials(&tenant(), &chosen).unwrap();
    assert_eq!(set.version, 2);
    assert_eq!(set.credentials.len(), 1);
    assert_eq!(set.credentials[0].value.ciphertext(), [9]);
}

/// The create that wins the insert after the other create swapped its set over this
/// one's (and lost, and did not put back what it read) keeps its own credentials: the
/// winner's record never holds the loser's grant.
#[tokio::test]
async fn the_create_that_wins_the_insert_keeps_its_own_credentials() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let chosen = ConnectionId::new("chosen").unwrap();
    let overtaking = Arc::new(OvertakingCreate {
        inner: test.store.clone(),
        theirs: None,
        overtaken: AtomicUsize::new(0),
    });
    let connection =
        complete_chosen_over(&test, registry, &mock, &chosen, overtaking.clone(), None)
            .await
            .unwrap();
    assert!(overtaking.overtaken.load(Ordering::SeqCst) >= 1);
    // Its own set again, swapped over the loser's: version 3, and it opens.
    let set = test.store.raw_credentials(&tenant(), &chosen).unwrap();
    assert_eq!(set.version, 3);
    let access = set
        .find(&CredentialType::OAUTH2_ACCESS_TOKEN, None)
        .unwrap()
        .unwrap();
    assert_ne!(access.value.ciphertext(), [9]);
    let token = access.open(&connection, test.host().cipher()).unwrap();
    assert!(mock.access_is_live(token.expose()));
}

/// The winner of the insert leaves the credential set alone once its record changed
/// (here disconnected right after the insert): the set its new writer left there is the
/// one to keep, even when it is not the one this create swapped in.
#[tokio::test]
async fn the_winner_leaves_the_set_alone_once_its_record_changed() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let chosen = ConnectionId::new("chosen").unwrap();
    let overtaking = Arc::new(OvertakingCreate {
        inner: test.store.clone(),
        theirs: None,
        overtaken: AtomicUsize::new(0),
    });
    let revoked: Meddle = Box::new(|mut stored: Connection| {
        stored.status = ConnectionStatus::Revoked {
            reason: "disconnected".into(),
        };
        stored.touch(stored.updated_at);
        Some(stored)
    });
    let connections = Meddling::after_insert(test.store.clone(), revoked);
    complete_chosen_over(
        &test,
        registry,
        &mock,
        &chosen,
        overtaking,
        Some(connections.clone()),
    )
    .await
    .unwrap();
    assert!(connections.meddled());
    // Not swapped again: the version the other writer left.
    let set = test.store.raw_credentials(&tenant(), &chosen).unwrap();
    assert_eq!(set.version, 2);
}

// ---- Plain-HTTP endpoints ----

/// A definition whose static OAuth 2.0 data names plain-`http` endpoints on `host`.
struct PlainHttp(&'static str);

impl integrations_core::definition::IntegrationDefinition for PlainHttp {
    fn key(&self) -> integrations_core::DefinitionKey {
        "plain::plain-http".parse().unwrap()
    }
    fn kind(&self) -> integrations_core::IntegrationKind {
        integrations_core::IntegrationKind::Connector
    }
    fn metadata(&self) -> integrations_core::definition::Metadata {
        integrations_core::definition::Metadata::new("Plain", "Plain HTTP.", "plain", "other")
    }
    fn connection_methods(&self) -> Vec<integrations_core::definition::ConnectionMethod> {
        let host = self.0;
        vec![
            integrations_core::definition::ConnectionMethod::oauth2_authorization_code(
                "oauth2",
                "Sign in",
                integrations_core::definition::OAuth2Spec::new(
                    format!("http://{host}/oauth/authorize"),
                    format!("http://{host}/oauth/token"),
                )
                .with_revoke_url(format!("http://{host}/oauth/revoke")),
            )
            .unwrap(),
        ]
    }
}

impl integrations_core::provider::IntegrationProvider for PlainHttp {}

#[test]
fn the_registry_refuses_plain_http_oauth_endpoints_except_on_loopback() {
    let mut registry = integrations_core::Registry::new();
    let e = registry
        .register(std::sync::Arc::new(PlainHttp("auth.example.com")))
        .unwrap_err();
    let issues: Vec<_> = e
        .issues()
        .iter()
        .map(|i| (i.code.as_str(), i.path.as_str()))
        .collect();
    assert_eq!(
        issues,
        [
            (
                "oauth.insecure_endpoint",
                "/connection_methods/0/oauth2/authorize_url"
            ),
            (
                "oauth.insecure_endpoint",
                "/connection_methods/0/oauth2/token_url"
            ),
            (
                "oauth.insecure_endpoint",
                "/connection_methods/0/oauth2/revoke_url"
            ),
        ],
        "{e:?}"
    );
    for loopback in ["127.0.0.1:9", "127.8.9.10", "[::1]:9", "localhost:9"] {
        let mut registry = integrations_core::Registry::new();
        registry
            .register(std::sync::Arc::new(PlainHttp(loopback)))
            .unwrap_or_else(|e| panic!("{loopback}: {e:?}"));
    }
}

#[tokio::test]
async fn a_target_pointing_oauth_at_plain_http_is_refused_and_so_is_the_request() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use integrations_core::auth::TokenManager;
    use integrations_core::host::{HttpRequest, TargetStore};
    use integrations_core::service::{TargetInput, WriteService};

    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let connection = connect(&test, &registry, &mock).await;
    let mut config = mock.target_config();
    config["api_base_url"] = serde_json::json!("http://tracker.example.com");
    let e = WriteService::new(registry.clone(), test.host().clone())
        .put_target(
            TargetInput::new(
                tenant(),
                target_id(),
                crate::auth_support::KEY.parse().unwrap(),
            )
            .with_config(config.clone())
            .with_secrets(mock.target_secrets()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "target.invalid");
    assert!(
        e.issues()
            .iter()
            .any(|i| i.code == "oauth.insecure_endpoint" && i.path.starts_with("/config")),
        "{e:?}"
    );

    // A target written straight to the store (older data) is refused at request time,
    // before anything is sent.
    let mut target = test
        .store
        .get_target(&tenant(), &target_id())
        .await
        .unwrap()
        .unwrap();
    target.config = config;
    test.store.put_target(&target).await.unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let counting = {
        let sent = sent.clone();
        integrations_core::host::from_fn(move |_request: HttpRequest| {
            sent.fetch_add(1, Ordering::SeqCst);
            async { Err(integrations_core::host::timeout_error()) }
        })
    };
    let offline = test.sharing_stores_with_http(Arc::new(counting));
    test.clock.advance(Duration::from_secs(86_400));
    let e = TokenManager::new(registry.clone(), offline.host().clone())
        .access_token(&connection)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oauth.insecure_endpoint");
    // Nor does an authorization start: the user would be sent to a plain-http page.
    let e = Authorizations::new(registry.clone(), offline.host().clone())
        .start(start_request())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oauth.insecure_endpoint");
    assert_eq!(sent.load(Ordering::SeqCst), 0);
    assert_eq!(
        test.store
            .get_connection(&tenant(), &connection.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        ConnectionStatus::Active
    );
}
