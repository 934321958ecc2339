//! Issue 13 point 4: a user's connection is reauthorized only by that user. The generic
//! provider here names no account (no external subject), so the subject check cannot
//! tell whose grant comes back: without the scope check, another user would swap their
//! own tokens into the connection.

use integrations_core::auth::{Authorizations, CompleteAuthorization, StartAuthorization};
use integrations_core::host::ConnectionStore;
use integrations_core::model::{AuthorizationIntent, ConnectionScope};
use integrations_core::{ConnectionId, ErrorKind, UserId};
use integrations_testkit::mock::oauth::LinearMock;

use crate::auth_support::{REDIRECT, setup, target_id, tenant};

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

fn reauthorize(connection: &ConnectionId) -> StartAuthorization {
    StartAuthorization::new(
        tenant(),
        target_id(),
        "oauth2".parse().unwrap(),
        REDIRECT,
        AuthorizationIntent::Reauthorize {
            connection: connection.clone(),
        },
    )
}

#[tokio::test]
async fn only_its_user_reauthorizes_a_users_connection() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let auth = Authorizations::new(registry, test.host().clone());
    let alice = user("alice");
    let redirect = auth
        .start(
            StartAuthorization::create(
                tenant(),
                target_id(),
                "oauth2".parse().unwrap(),
                REDIRECT,
                ConnectionScope::User {
                    user: alice.clone(),
                },
            )
            .with_user(alice.clone()),
        )
        .await
        .unwrap();
    let query = mock.authorize(&redirect.url).unwrap();
    let connection = auth
        .complete(CompleteAuthorization::new(tenant(), REDIRECT, query).with_user(alice.clone()))
        .await
        .unwrap();
    assert!(connection.external_subject.is_none());
    let before = test
        .store
        .raw_credentials(&tenant(), &connection.id)
        .unwrap();
    let pending = test.store.pending_oauth_states();

    // Bob, or a session with no user, cannot start reauthorizing Alice's connection.
    for by in [Some(user("bob")), None] {
        let mut request = reauthorize(&connection.id);
        if let Some(by) = by {
            request = request.with_user(by);
        }
        let e = auth.start(request).await.unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::InvalidInput, "auth.scope_user_mismatch")
        );
    }
    assert_eq!(test.store.pending_oauth_states(), pending);
    assert_eq!(
        test.store
            .raw_credentials(&tenant(), &connection.id)
            .unwrap(),
        before
    );

    // Alice can.
    let redirect = auth
        .start(reauthorize(&connection.id).with_user(alice.clone()))
        .await
        .unwrap();
    let query = mock.authorize(&redirect.url).unwrap();
    let repaired = auth
        .complete(CompleteAuthorization::new(tenant(), REDIRECT, query).with_user(alice))
        .await
        .unwrap();
    assert_eq!(repaired.id, connection.id);
    assert_eq!(
        test.store.list_connections(&tenant()).await.unwrap().len(),
        1
    );
}
