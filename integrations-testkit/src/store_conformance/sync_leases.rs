//! The sync lease check: one holder per stream, renewals, expiry, release, and a race
//! of N tasks with exactly one winner.

use std::sync::Arc;

use integrations_core::host::Stores;
use integrations_core::model::SyncLease;

use super::checks::{Outcome, Scope, ok, race};
use super::records::{self as r, at};

fn lease(scope: &Scope, stream: &str, holder: &str, until: i64) -> SyncLease {
    SyncLease::new(
        scope.tenant("a"),
        r::connection_id("c"),
        stream,
        holder,
        at(until),
    )
}

pub(super) async fn sync_leases(stores: &Arc<dyn Stores>, scope: &Scope, tasks: usize) -> Outcome {
    let s = &**stores;
    let first = lease(scope, "issues", "run-1", 100);
    let second = lease(scope, "issues", "run-2", 200);
    let acquire = |l: SyncLease, now: i64| async move {
        ok(
            s.acquire_sync_lease(&l, at(now)).await,
            "acquire_sync_lease",
        )
    };
    ensure!(acquire(first.clone(), 0).await?, "a free lease was refused");
    // Tenants are apart: another tenant's runner holds its own lease on a stream with the
    // same connection id and name, and releasing it leaves this tenant's held.
    let mut theirs = lease(scope, "issues", "run-b", 100);
    theirs.tenant = scope.tenant("b");
    ensure!(
        acquire(theirs.clone(), 10).await?,
        "another tenant's stream was held by this tenant's lease"
    );
    ensure!(
        ok(
            s.release_sync_lease(&theirs.tenant, &theirs.connection, "issues", "run-b")
                .await,
            "release_sync_lease"
        )?,
        "another tenant could not release its own lease"
    );
    ensure!(
        !acquire(second.clone(), 20).await?,
        "another tenant's release freed this tenant's lease"
    );
    ensure!(
        !acquire(second.clone(), 50).await?,
        "a live lease was taken by another holder"
    );
    ensure!(
        acquire(lease(scope, "comments", "run-2", 200), 50).await?,
        "another stream's lease was refused while one stream was held"
    );
    ensure!(
        acquire(lease(scope, "issues", "run-1", 150), 60).await?,
        "the holder could not renew its own lease"
    );
    ensure!(
        !acquire(second.clone(), 120).await?,
        "a renewed lease was taken before its new expiry"
    );
    ensure!(
        !ok(
            s.release_sync_lease(&second.tenant, &second.connection, "issues", "run-2")
                .await,
            "release_sync_lease"
        )?,
        "another holder released a lease it does not hold"
    );
    ensure!(
        acquire(second.clone(), 150).await?,
        "an expired lease (at its expiry instant) could not be taken"
    );
    ensure!(
        !ok(
            s.release_sync_lease(&first.tenant, &first.connection, "issues", "run-1")
                .await,
            "release_sync_lease"
        )?,
        "the previous holder released the lease taken over after it expired"
    );
    ensure!(
        !acquire(first.clone(), 160).await?,
        "the previous holder took back a live lease"
    );
    ensure!(
        ok(
            s.release_sync_lease(&second.tenant, &second.connection, "issues", "run-2")
                .await,
            "release_sync_lease"
        )?,
        "the holder could not release its lease"
    );
    ensure!(
        acquire(first, 160).await?,
        "a released lease could not be taken"
    );

    // N runners start at once: exactly one holds the stream.
    let winners = race(tasks, |i| {
        let stores = stores.clone();
        let l = lease(scope, "race", &format!("racer-{i}"), 1_000);
        async move {
            stores
                .acquire_sync_lease(&l, at(0))
                .await
                .map_err(|e| format!("acquire_sync_lease failed: {}", e.code()))
        }
    })
    .await?;
    ensure!(
        winners == 1,
        "{winners} of {tasks} racing runners acquired one stream's lease"
    );
    Ok(())
}
