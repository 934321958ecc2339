//! The store conformance suite passes on `MemoryStore`, and fails on stores that break a
//! promise (so the suite cannot pass vacuously).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use integrations_core::host::{
    ApprovalStore, BindingStore, CheckpointStore, ConnectionQuery, ConnectionStore,
    ContinuationStore, CredentialStore, EventDelivery, OAuthStateStore, PublicationStore,
    TargetStore, WebhookEventStore,
};
use integrations_core::model::{
    Binding, Connection, ConnectionStatus, Credential, CredentialSet, PendingAuthorization,
    ProfileVersion, Publication, SyncCheckpoint, SyncLease, Target,
};
use integrations_core::tools::{ApprovalId, ApprovalRequest, PendingContinuation};
use integrations_core::webhook::WebhookEvent;
use integrations_core::{
    BindingId, ConnectionId, DefinitionKey, Error, PublicationId, TargetId, TenantId, Timestamp,
};
use integrations_testkit::MemoryStore;
use integrations_testkit::store_conformance::{StoreCheck, StoreConformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    StoreConformance::new(Arc::new(MemoryStore::new()))
        .run()
        .await
        .assert_passed();
}

/// A store with two classic bugs: take does not remove (a read, not a take), and the
/// webhook events of all tenants share one dedup key space.
#[derive(Default)]
struct Broken {
    inner: MemoryStore,
    /// When set, a third bug: shared target reads come from a cache no write updates.
    stale_shared_targets: Option<Mutex<SharedTargets>>,
    /// When set, OAuth states are taken once and webhook events are kept per tenant with
    /// their delivery states, and the bug is another: a stalled event is never taken over
    /// (the trait's default).
    never_takes_over: bool,
    /// When set, event ids are cut at a NUL character (as a C string is) rather than
    /// refused, and the tenant is kept.
    cuts_at_nul: bool,
    /// Which careful connection write, if any, reads then writes in separate steps (as
    /// the trait's defaults do), with a round trip to the database between them; the
    /// others are `MemoryStore`'s atomic ones.
    two_steps: TwoSteps,
    /// When set, `delete_checkpoints` fails as the trait's default does.
    keeps_checkpoints: bool,
}

/// A careful connection write made in two steps.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum TwoSteps {
    #[default]
    Neither,
    /// `put_connection_if_unchanged` reads, compares, then writes.
    IfUnchanged,
    /// `put_connection_if_absent` looks for the record, then inserts.
    IfAbsent,
}

type SharedTargets = HashMap<(TenantId, TargetId), Arc<Target>>;

#[async_trait]
impl TargetStore for Broken {
    async fn get_target(&self, t: &TenantId, id: &TargetId) -> Result<Option<Target>, Error> {
        self.inner.get_target(t, id).await
    }
    async fn put_target(&self, target: &Target) -> Result<(), Error> {
        self.inner.put_target(target).await
    }
    async fn list_targets(&self, t: &TenantId) -> Result<Vec<Target>, Error> {
        self.inner.list_targets(t).await
    }
    async fn delete_target(&self, t: &TenantId, id: &TargetId) -> Result<bool, Error> {
        self.inner.delete_target(t, id).await
    }
    async fn get_target_shared(
        &self,
        t: &TenantId,
        id: &TargetId,
    ) -> Result<Option<Arc<Target>>, Error> {
        let fresh = self.inner.get_target_shared(t, id).await?;
        let (Some(cache), Some(fresh)) = (&self.stale_shared_targets, fresh.clone()) else {
            return Ok(fresh);
        };
        let mut cache = cache.lock().expect("not poisoned");
        Ok(Some(Arc::clone(
            cache.entry((t.clone(), id.clone())).or_insert(fresh),
        )))
    }
    async fn find_targets(&self, key: &DefinitionKey) -> Result<Vec<Target>, Error> {
        // Bug: newest tenant first (`ORDER BY tenant DESC`).
        let mut found = self.inner.find_targets(key).await?;
        found.sort_by(|x, y| y.tenant.cmp(&x.tenant).then_with(|| x.id.cmp(&y.id)));
        Ok(found)
    }
}

#[async_trait]
impl ConnectionStore for Broken {
    async fn get_connection(
        &self,
        t: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, Error> {
        self.inner.get_connection(t, id).await
    }
    async fn put_connection(&self, c: &Connection) -> Result<(), Error> {
        self.inner.put_connection(c).await
    }
    async fn list_connections(&self, t: &TenantId) -> Result<Vec<Connection>, Error> {
        self.inner.list_connections(t).await
    }
    async fn delete_connection(&self, t: &TenantId, id: &ConnectionId) -> Result<bool, Error> {
        self.inner.delete_connection(t, id).await
    }
    async fn find_connections(&self, q: &ConnectionQuery) -> Result<Vec<Connection>, Error> {
        self.inner.find_connections(q).await
    }
    async fn set_connection_status(
        &self,
        t: &TenantId,
        id: &ConnectionId,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<Connection>, Error> {
        self.inner.set_connection_status(t, id, status, now).await
    }
    async fn set_connection_status_if(
        &self,
        t: &TenantId,
        id: &ConnectionId,
        _expected: &ConnectionStatus,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<Connection>, Error> {
        // Bug: ignores the expected status (a revoked connection can be marked active).
        self.inner.set_connection_status(t, id, status, now).await
    }
    async fn put_connection_if_unchanged(
        &self,
        read: &Connection,
        connection: &Connection,
    ) -> Result<bool, Error> {
        if self.two_steps != TwoSteps::IfUnchanged {
            return self
                .inner
                .put_connection_if_unchanged(read, connection)
                .await;
        }
        // Bug: not one step. Every racer reads the same revision before any writes.
        let stored = self
            .inner
            .get_connection(&connection.tenant, &connection.id)
            .await?;
        tokio::task::yield_now().await;
        match stored {
            Some(stored) if stored.is_revision_of(read) => {
                self.inner.put_connection(connection).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn put_connection_if_absent(&self, connection: &Connection) -> Result<bool, Error> {
        if self.two_steps != TwoSteps::IfAbsent {
            return self.inner.put_connection_if_absent(connection).await;
        }
        // Bug: not one step. Every racer finds no record before any inserts.
        let stored = self
            .inner
            .get_connection(&connection.tenant, &connection.id)
            .await?;
        tokio::task::yield_now().await;
        if stored.is_some() {
            return Ok(false);
        }
        self.inner.put_connection(connection).await?;
        Ok(true)
    }
}

#[async_trait]
impl CredentialStore for Broken {
    async fn load_credentials(
        &self,
        t: &TenantId,
        c: &ConnectionId,
    ) -> Result<Option<CredentialSet>, Error> {
        self.inner.load_credentials(t, c).await
    }
    async fn swap_credentials(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        expected: Option<u64>,
        credentials: Vec<Credential>,
    ) -> Result<u64, Error> {
        self.inner
            .swap_credentials(t, c, expected, credentials)
            .await
    }
    async fn delete_credentials(&self, t: &TenantId, c: &ConnectionId) -> Result<bool, Error> {
        self.inner.delete_credentials(t, c).await
    }
}

#[async_trait]
impl BindingStore for Broken {
    async fn get_binding(&self, t: &TenantId, id: &BindingId) -> Result<Option<Binding>, Error> {
        self.inner.get_binding(t, id).await
    }
    async fn put_binding(&self, b: &Binding) -> Result<(), Error> {
        self.inner.put_binding(b).await
    }
    async fn list_bindings(&self, t: &TenantId, p: &ProfileVersion) -> Result<Vec<Binding>, Error> {
        self.inner.list_bindings(t, p).await
    }
    async fn delete_binding(&self, t: &TenantId, id: &BindingId) -> Result<bool, Error> {
        self.inner.delete_binding(t, id).await
    }
}

#[async_trait]
impl OAuthStateStore for Broken {
    async fn put_oauth_state(&self, p: &PendingAuthorization) -> Result<(), Error> {
        self.inner.put_oauth_state(p).await
    }
    async fn take_oauth_state(
        &self,
        digest: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, Error> {
        if self.never_takes_over {
            return self.inner.take_oauth_state(digest, now).await;
        }
        // Bug: reads without removing; the state can be used twice.
        let taken = self.inner.take_oauth_state(digest, now).await?;
        if let Some(p) = &taken {
            self.inner.put_oauth_state(p).await?;
        }
        Ok(taken)
    }
}

#[async_trait]
impl WebhookEventStore for Broken {
    async fn record_event_if_new(&self, event: &WebhookEvent) -> Result<bool, Error> {
        if self.cuts_at_nul {
            // Bug: the text after a NUL is lost instead of refused.
            let mut cut = event.clone();
            cut.external_event_id.truncate(
                cut.external_event_id
                    .find('\0')
                    .unwrap_or(cut.external_event_id.len()),
            );
            return self.inner.record_event_if_new(&cut).await;
        }
        if self.never_takes_over {
            return self.inner.record_event_if_new(event).await;
        }
        // Bug: dedup ignores the tenant.
        let mut shared = event.clone();
        shared.tenant = TenantId::new("shared").unwrap();
        self.inner.record_event_if_new(&shared).await
    }
    async fn forget_event(&self, t: &TenantId, k: &DefinitionKey, id: &str) -> Result<bool, Error> {
        if self.never_takes_over {
            return self.inner.forget_event(t, k, id).await;
        }
        self.inner
            .forget_event(&TenantId::new("shared").unwrap(), k, id)
            .await
    }
    async fn mark_event_delivered(
        &self,
        t: &TenantId,
        k: &DefinitionKey,
        id: &str,
    ) -> Result<(), Error> {
        if self.never_takes_over {
            return self.inner.mark_event_delivered(t, k, id).await;
        }
        Ok(())
    }
    async fn event_delivery(
        &self,
        t: &TenantId,
        k: &DefinitionKey,
        id: &str,
    ) -> Result<Option<EventDelivery>, Error> {
        if self.never_takes_over {
            return self.inner.event_delivery(t, k, id).await;
        }
        Ok(None)
    }
}

#[async_trait]
impl PublicationStore for Broken {
    async fn get_publication(
        &self,
        t: &TenantId,
        id: &PublicationId,
    ) -> Result<Option<Publication>, Error> {
        self.inner.get_publication(t, id).await
    }
    async fn put_publication(&self, p: &Publication) -> Result<(), Error> {
        self.inner.put_publication(p).await
    }
    async fn list_publications(
        &self,
        t: &TenantId,
        c: &ConnectionId,
    ) -> Result<Vec<Publication>, Error> {
        self.inner.list_publications(t, c).await
    }
    async fn delete_publication(&self, t: &TenantId, id: &PublicationId) -> Result<bool, Error> {
        self.inner.delete_publication(t, id).await
    }
}

#[async_trait]
impl CheckpointStore for Broken {
    async fn load_checkpoint(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        s: &str,
    ) -> Result<Option<SyncCheckpoint>, Error> {
        self.inner.load_checkpoint(t, c, s).await
    }
    async fn save_checkpoint(&self, c: &SyncCheckpoint) -> Result<u64, Error> {
        self.inner.save_checkpoint(c).await
    }
    async fn delete_checkpoints(&self, t: &TenantId, c: &ConnectionId) -> Result<usize, Error> {
        if self.keeps_checkpoints {
            return Err(integrations_core::codes::store::NOT_IMPLEMENTED.error("the default"));
        }
        self.inner.delete_checkpoints(t, c).await
    }
    async fn acquire_sync_lease(&self, l: &SyncLease, now: Timestamp) -> Result<bool, Error> {
        // Broken: a lease is granted whoever holds it, as a read-then-write would race.
        self.inner.acquire_sync_lease(l, now).await?;
        Ok(true)
    }
    async fn release_sync_lease(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        s: &str,
        h: &str,
    ) -> Result<bool, Error> {
        self.inner.release_sync_lease(t, c, s, h).await
    }
}

#[async_trait]
impl ApprovalStore for Broken {
    async fn put_approval(&self, r: &ApprovalRequest) -> Result<(), Error> {
        self.inner.put_approval(r).await
    }
    async fn take_approval(
        &self,
        t: &TenantId,
        id: &ApprovalId,
        now: Timestamp,
    ) -> Result<Option<ApprovalRequest>, Error> {
        self.inner.take_approval(t, id, now).await
    }
    // Bug: no purge (the default keeps everything).
}

#[async_trait]
impl ContinuationStore for Broken {
    async fn put_continuation(&self, p: &PendingContinuation) -> Result<(), Error> {
        self.inner.put_continuation(p).await
    }
    async fn take_continuation(
        &self,
        t: &TenantId,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<PendingContinuation>, Error> {
        self.inner.take_continuation(t, id, now).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_suite_finds_broken_stores() {
    let report = StoreConformance::new(Arc::new(Broken::default()))
        .run()
        .await;
    assert!(!report.passed());
    for failing in [
        StoreCheck::Listing,
        StoreCheck::ConnectionStatus,
        StoreCheck::TakeOnce,
        StoreCheck::Concurrency,
        StoreCheck::WebhookDedup,
        StoreCheck::Purge,
        StoreCheck::SyncLeases,
    ] {
        assert!(
            report.result(failing).is_some_and(Result::is_err),
            "{failing} passed on a broken store: {report:?}"
        );
    }
    for passing in [
        StoreCheck::RoundTrips,
        StoreCheck::CredentialCas,
        StoreCheck::CheckpointCas,
    ] {
        assert_eq!(report.result(passing), Some(&Ok(())), "{passing}");
    }
}

/// The failure `check` reports for `store` alone; `what` names the failure expected.
async fn failure_of(store: Broken, check: StoreCheck, what: &str) -> String {
    let report = StoreConformance::new(Arc::new(store))
        .only(&[check])
        .run()
        .await;
    report
        .result(check)
        .and_then(|r| r.clone().err())
        .unwrap_or_else(|| panic!("{what}: {check} passed"))
}

/// A store that takes text holding a NUL (here an event id, cut at the NUL) fails the NUL
/// text check: PostgreSQL cannot store it, so a host would meet the refusal only in
/// production.
#[tokio::test]
async fn a_store_that_takes_text_with_a_nul_fails() {
    let cutting = Broken {
        cuts_at_nul: true,
        ..Broken::default()
    };
    let failure = failure_of(cutting, StoreCheck::NulText, "the NUL text check fails").await;
    assert!(failure.contains("record_event_if_new"), "{failure}");
    assert!(failure.contains("store.invalid_text"), "{failure}");
}

/// A store whose shared target reads come from a cache that writes do not update fails
/// the round trip: the tool runtime would keep running on a target that was disabled.
#[tokio::test]
async fn a_store_whose_shared_reads_go_stale_fails_the_round_trip() {
    let stale = Broken {
        stale_shared_targets: Some(Mutex::default()),
        ..Broken::default()
    };
    let failure = failure_of(stale, StoreCheck::RoundTrips, "round_trips fails").await;
    assert!(
        failure.contains("a rewritten target read shared"),
        "{failure}"
    );
}

/// A store that keeps delivery states but never takes a stalled event over fails: its
/// hosts would never deliver an event whose first delivery died with its process.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_that_never_takes_a_stalled_event_over_fails() {
    let store = Broken {
        never_takes_over: true,
        ..Broken::default()
    };
    let report = StoreConformance::new(Arc::new(store))
        .only(&[StoreCheck::WebhookDedup, StoreCheck::Concurrency])
        .run()
        .await;
    let failure = |check| {
        report
            .result(check)
            .and_then(|r: &Result<(), String>| r.clone().err())
            .unwrap_or_else(|| panic!("{check} passed: {report:?}"))
    };
    let dedup = failure(StoreCheck::WebhookDedup);
    assert!(dedup.contains("was not taken over"), "{dedup}");
    let race = failure(StoreCheck::Concurrency);
    assert!(
        race.contains("0 of") && race.contains("takeovers"),
        "{race}"
    );
}

/// A store whose `put_connection_if_unchanged` reads, compares and writes in separate
/// steps (the trait's default) fails the concurrency check: of writers that read one
/// revision, several write, each over the last, and a webhook registered by one is lost
/// to the next. Otherwise this store is correct where the check looks.
#[tokio::test]
async fn a_store_that_compares_then_writes_a_connection_fails_the_race() {
    let store = Broken {
        never_takes_over: true,
        two_steps: TwoSteps::IfUnchanged,
        ..Broken::default()
    };
    let failure = failure_of(
        store,
        StoreCheck::Concurrency,
        "the concurrency check fails",
    )
    .await;
    assert!(
        failure.contains("concurrent put_connection_if_unchanged calls from one read wrote"),
        "{failure}"
    );
    assert!(!failure.starts_with("1 of"), "{failure}");

    // The same store with the atomic write passes that race (and fails later, at the
    // takeovers it never makes).
    let atomic = Broken {
        never_takes_over: true,
        ..Broken::default()
    };
    let failure = failure_of(
        atomic,
        StoreCheck::Concurrency,
        "the concurrency check fails at the takeovers",
    )
    .await;
    assert!(failure.contains("takeovers"), "{failure}");
}

/// A store whose `put_connection_if_absent` looks, then inserts, in separate steps (the
/// trait's default) fails the concurrency check: several creates of one chosen id all
/// succeed, and every record but the last is lost.
#[tokio::test]
async fn a_store_that_looks_then_inserts_a_connection_fails_the_race() {
    let store = Broken {
        never_takes_over: true,
        two_steps: TwoSteps::IfAbsent,
        ..Broken::default()
    };
    let failure = failure_of(
        store,
        StoreCheck::Concurrency,
        "the concurrency check fails",
    )
    .await;
    assert!(
        failure.contains("concurrent put_connection_if_absent calls of one id inserted"),
        "{failure}"
    );
    assert!(!failure.starts_with("1 of"), "{failure}");
}

/// A store that never implemented `delete_checkpoints` fails the checkpoint check, saying
/// so: a connection forgotten there would leave its checkpoints to the next one.
#[tokio::test]
async fn a_store_without_delete_checkpoints_fails_the_checkpoint_check() {
    let store = Broken {
        keeps_checkpoints: true,
        ..Broken::default()
    };
    let failure = failure_of(
        store,
        StoreCheck::CheckpointCas,
        "the checkpoint check fails",
    )
    .await;
    assert!(failure.contains("delete_checkpoints"), "{failure}");
    assert!(failure.contains("store.not_implemented"), "{failure}");
}
