//! [`ConnectionLifecycle`]: the one owner of connection status changes writes each
//! transition through the store and audits it once, with the same fields every time.

use integrations_core::host::{AuditEvent, AuditOutcome, Clock};
use integrations_core::lifecycle::{Cause, ConnectionLifecycle, StatusChange};
use integrations_core::model::{Connection, ConnectionStatus};
use integrations_core::{ConnectionId, ConnectionMethodId, TargetId, TenantId, UserId};
use integrations_testkit::TestHost;

fn error(reason: &str) -> ConnectionStatus {
    ConnectionStatus::Error {
        reason: reason.to_owned(),
    }
}

fn revoked() -> ConnectionStatus {
    ConnectionStatus::Revoked {
        reason: "revoked by the user".to_owned(),
    }
}

async fn stored(test: &TestHost, id: &str) -> Connection {
    let connection = Connection::new(
        TenantId::new("acme").unwrap(),
        ConnectionId::new(id).unwrap(),
        TargetId::new("t").unwrap(),
        "tracker::cloud".parse().unwrap(),
        ConnectionMethodId::new("oauth2").unwrap(),
        test.clock.now(),
    );
    test.host()
        .connections()
        .put_connection(&connection)
        .await
        .unwrap();
    connection
}

async fn status(test: &TestHost, connection: &Connection) -> ConnectionStatus {
    test.host()
        .connections()
        .get_connection(&connection.tenant, &connection.id)
        .await
        .unwrap()
        .unwrap()
        .status
}

/// (status, previous, cause) of every status change audited so far.
fn trail(test: &TestHost) -> Vec<(String, String, String)> {
    test.audit
        .with_action("connection.status_changed")
        .iter()
        .map(|e: &AuditEvent| {
            assert_eq!(e.outcome, AuditOutcome::Success);
            (
                e.detail["status"].clone(),
                e.detail["previous"].clone(),
                e.detail["cause"].clone(),
            )
        })
        .collect()
}

fn row(status: &str, previous: &str, cause: &str) -> (String, String, String) {
    (status.to_owned(), previous.to_owned(), cause.to_owned())
}

#[tokio::test]
async fn every_transition_is_written_and_audited_once_with_the_same_fields() {
    let test = TestHost::new();
    let lifecycle = ConnectionLifecycle::new(test.host().clone());
    let mut connection = stored(&test, "c1").await;

    // active -> error (a refused grant, only from the status read)
    let updated = lifecycle
        .change(
            StatusChange::new(&connection, error("refused"), Cause::Credential)
                .if_unchanged()
                .with_detail("code", "oauth.invalid_grant"),
        )
        .await
        .unwrap()
        .expect("written");
    assert_eq!(updated.status, error("refused"));
    connection = updated;
    // error -> active (new credentials landed)
    connection = lifecycle
        .change(
            StatusChange::new(&connection, ConnectionStatus::Active, Cause::Credential)
                .if_unchanged(),
        )
        .await
        .unwrap()
        .expect("written");
    // active -> revoked (a webhook withdrew the grant)
    connection = lifecycle
        .change(
            StatusChange::new(&connection, revoked(), Cause::Webhook)
                .with_detail("external_event_id", "d-1"),
        )
        .await
        .unwrap()
        .expect("written");
    assert_eq!(status(&test, &connection).await, revoked());
    // revoked -> active, written with the whole record by a reauthorization
    let previous = connection.status.clone();
    connection.status = ConnectionStatus::Active;
    test.host()
        .connections()
        .put_connection(&connection)
        .await
        .unwrap();
    lifecycle
        .written(
            &previous,
            &connection,
            Cause::Reauthorize,
            Some(UserId::new("alice").unwrap()),
        )
        .await;
    // active -> error (a sync run refused), then error -> revoked (disconnect)
    connection = lifecycle
        .change(
            StatusChange::new(&connection, error("sync.credential_rejected"), Cause::Sync)
                .if_unchanged(),
        )
        .await
        .unwrap()
        .expect("written");
    connection = lifecycle
        .change(
            StatusChange::new(&connection, revoked(), Cause::Disconnect)
                .with_actor(Some(UserId::new("bob").unwrap()))
                .with_detail("remote", "revoked"),
        )
        .await
        .unwrap()
        .expect("written");
    assert_eq!(status(&test, &connection).await, revoked());

    assert_eq!(
        trail(&test),
        vec![
            row("error", "active", "credential"),
            row("active", "error", "credential"),
            row("revoked", "active", "webhook"),
            row("active", "revoked", "reauthorize"),
            row("error", "active", "sync"),
            row("revoked", "error", "disconnect"),
        ]
    );
    let events = test.audit.with_action("connection.status_changed");
    for event in &events {
        assert_eq!(event.connection.as_ref(), Some(&connection.id));
        assert_eq!(event.key.as_ref(), Some(&connection.key));
        assert_eq!(event.tenant, connection.tenant);
    }
    assert_eq!(events[0].detail["code"], "oauth.invalid_grant");
    assert_eq!(events[2].detail["external_event_id"], "d-1");
    assert_eq!(events[3].actor.as_ref().map(UserId::as_str), Some("alice"));
    assert_eq!(events[5].actor.as_ref().map(UserId::as_str), Some("bob"));
    assert_eq!(events[5].detail["remote"], "revoked");
}

#[tokio::test]
async fn a_change_the_store_does_not_take_writes_and_audits_nothing() {
    let test = TestHost::new();
    let lifecycle = ConnectionLifecycle::new(test.host().clone());
    let connection = stored(&test, "c1").await;
    // Revoked meanwhile: an `error` write from the active status read does not apply.
    test.host()
        .connections()
        .set_connection_status(
            &connection.tenant,
            &connection.id,
            revoked(),
            test.clock.now(),
        )
        .await
        .unwrap();
    let stale = lifecycle
        .change(StatusChange::new(&connection, error("refused"), Cause::Credential).if_unchanged())
        .await
        .unwrap();
    assert!(stale.is_none());
    assert_eq!(status(&test, &connection).await, revoked());
    // A connection that does not exist.
    let mut ghost = connection.clone();
    ghost.id = ConnectionId::new("ghost").unwrap();
    let missing = lifecycle
        .change(StatusChange::new(&ghost, revoked(), Cause::Disconnect))
        .await
        .unwrap();
    assert!(missing.is_none());
    // A reauthorization of an active connection changes no status.
    let mut active = stored(&test, "c2").await;
    active.status = ConnectionStatus::Active;
    lifecycle
        .written(&ConnectionStatus::Active, &active, Cause::Reauthorize, None)
        .await;
    assert!(trail(&test).is_empty());
}
