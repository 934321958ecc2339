//! The NUL text check: text a store keeps in a column of its own is refused when it
//! holds a NUL character, with `store.invalid_text`, and nothing is written. PostgreSQL
//! cannot store a NUL in a text column, so no store may take one: a host tested on a store
//! that does would meet the refusal only in production.

use std::fmt::Debug;

use integrations_core::host::Stores;
use integrations_core::model::SyncLease;
use integrations_core::{Error, ErrorKind};

use super::checks::{Outcome, Scope, ok};
use super::records::{self as r, at};

/// `result` must be the refusal of text holding a NUL.
fn refused<T: Debug>(result: Result<T, Error>, what: &str) -> Outcome {
    match result {
        Err(e) if e.kind() == ErrorKind::InvalidInput && e.code() == "store.invalid_text" => Ok(()),
        Err(e) => Err(format!(
            "{what} with text holding a NUL failed with {} ({}), not store.invalid_text",
            e.code(),
            e.message()
        )),
        Ok(answer) => Err(format!(
            "{what} took text holding a NUL (answered {answer:?}); PostgreSQL cannot store one, \
             so refuse it with store.invalid_text"
        )),
    }
}

pub(super) async fn nul_text(s: &dyn Stores, scope: &Scope) -> Outcome {
    let t = scope.tenant("a");

    // A webhook event id: refused, and nothing recorded under the text before the NUL
    // either (a store that cuts C strings there would).
    let id = scope.name("delivery");
    let event = r::event(&t, &format!("{id}\0b"), at(0), false);
    refused(
        s.record_event_if_new(&event).await,
        "record_event_if_new (external event id)",
    )?;
    refused(
        s.forget_event(&t, &event.key, &event.external_event_id)
            .await,
        "forget_event (external event id)",
    )?;
    ensure!(
        ok(
            s.record_event_if_new(&r::event(&t, &id, at(0), false))
                .await,
            "record_event_if_new"
        )?,
        "an event id holding a NUL was recorded as the text before the NUL"
    );

    // A connection's external subject and endpoint key.
    let mut connection = r::connection(&t, "c-nul", false);
    connection.external_subject = Some("org\0x".into());
    refused(
        s.put_connection(&connection).await,
        "put_connection (external subject)",
    )?;
    connection.external_subject = None;
    connection.endpoint_key = Some("ep\0x".into());
    refused(
        s.put_connection(&connection).await,
        "put_connection (endpoint key)",
    )?;
    ensure!(
        ok(s.get_connection(&t, &connection.id).await, "get_connection")?.is_none(),
        "a connection whose text holds a NUL was stored"
    );

    // A credential slot.
    let credential = r::credentials("nul").swap_remove(0).with_slot("b\0t");
    refused(
        s.swap_credentials(&t, &connection.id, None, vec![credential])
            .await,
        "swap_credentials (credential slot)",
    )?;
    ensure!(
        ok(
            s.load_credentials(&t, &connection.id).await,
            "load_credentials"
        )?
        .is_none(),
        "credentials with a slot holding a NUL were stored"
    );

    // A sync stream name and a lease holder.
    let checkpoint = r::checkpoint(&t, "issues\0x", false);
    refused(
        s.save_checkpoint(&checkpoint).await,
        "save_checkpoint (stream name)",
    )?;
    refused(
        s.load_checkpoint(&t, &checkpoint.connection, &checkpoint.stream)
            .await,
        "load_checkpoint (stream name)",
    )?;
    let lease =
        |holder: &str| SyncLease::new(t.clone(), r::connection_id("c1"), "issues", holder, at(100));
    refused(
        s.acquire_sync_lease(&lease("run\0x"), at(0)).await,
        "acquire_sync_lease (lease holder)",
    )?;
    ensure!(
        ok(
            s.acquire_sync_lease(&lease("run-2"), at(0)).await,
            "acquire_sync_lease"
        )?,
        "a lease whose holder holds a NUL was taken"
    );

    // A continuation id.
    refused(
        s.take_continuation(&t, "cursor\0x", at(0)).await,
        "take_continuation (continuation id)",
    )?;
    Ok(())
}
