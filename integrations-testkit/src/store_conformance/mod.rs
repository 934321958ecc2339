//! The store conformance suite: one call a host puts in its own tests, against its own
//! [`Stores`] implementation, to prove it has the semantics the SDK relies on.
//!
//! ```no_run
//! # async fn run(my_stores: std::sync::Arc<dyn integrations_core::host::Stores>) {
//! use integrations_testkit::store_conformance::StoreConformance;
//!
//! StoreConformance::new(my_stores).run().await.assert_passed();
//! # }
//! ```
//!
//! Run it against a dedicated database (a fresh file or schema): it writes records under
//! tenants of its own (`sc-<pid>-<n>-…`) and leaves them there. It checks, each as a
//! named [`StoreCheck`]:
//!
//! * **round trips**: every record type, with every optional field set and with none,
//!   reads back equal (sealed bytes included);
//! * **listing**: upserts replace, lists are ordered by id and filtered, deletes report
//!   whether the record existed, webhook routing finds connections and `find_targets`
//!   finds targets across tenants in (tenant, id) order;
//! * **connection status**: an atomic status change returns the updated connection and
//!   moves `updated_at` strictly forward (to `now`, or 1 ms past the stored one);
//!   `set_connection_status_if` writes only from the expected status;
//!   `put_connection_if_unchanged` writes only over the revision read;
//! * **credential compare-and-swap**, **checkpoint compare-and-swap**: a stale version is
//!   refused with `store.version_conflict` and changes nothing;
//! * **take once**: OAuth states, approvals and continuations are returned once, never
//!   once expired (an expired entry taken is deleted and reported absent), and a
//!   duplicate put is a conflict;
//! * **webhook dedup**: `record_event_if_new` is true once per (tenant, key, id), and
//!   `forget_event` makes it new again;
//! * **concurrency**: N tasks (64 by default) racing on a credential swap,
//!   `put_connection_if_unchanged` from one read, a checkpoint save, each take,
//!   `record_event_if_new` and `set_connection_status_if`: exactly one wins each race,
//!   and what is stored is the winner's;
//! * **tenant isolation**: tenant B never reads, lists, takes, changes or deletes tenant
//!   A's records by id;
//! * **purge**: [`purge_expired`](integrations_core::host::purge_expired) deletes exactly
//!   the records expired (or received) before the retention, and nothing live;
//! * **sync leases**: one holder per stream at a time, renewals, expiry, release, and of
//!   N racing runners exactly one acquires;
//! * **NUL text**: text a store keeps in a column of its own (event ids, external
//!   subjects, endpoint keys, credential slots, stream names, lease holders, continuation
//!   ids) is refused with `store.invalid_text` when it holds a NUL character, as
//!   PostgreSQL must refuse it, and nothing is written.

#[macro_use]
mod checks;
mod nul_text;
mod records;
mod sync_leases;

use std::fmt;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use integrations_core::host::Stores;

/// One check of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum StoreCheck {
    /// Every record type reads back equal, with every optional field and with none;
    /// targets and connections read shared too, and a write replaces a shared record
    /// rather than editing it; a store that answers `get_target_now` or
    /// `get_connection_now` answers as the shared reads do, records never stored
    /// included.
    RoundTrips,
    /// Upserts, ordered and filtered lists, deletes, webhook routing lookups.
    Listing,
    /// `set_connection_status` is atomic, returns the updated connection and moves
    /// `updated_at` strictly forward; `set_connection_status_if` writes only from the
    /// expected status; `put_connection_if_unchanged` writes only over the revision read;
    /// `put_connection_if_absent` never writes over a stored connection.
    ConnectionStatus,
    /// Credentials are written only by compare-and-swap on their version, and versions
    /// never repeat: a set stored after a delete continues from the deleted set's version.
    CredentialCas,
    /// Checkpoints are saved only by compare-and-swap on their version, and
    /// `delete_checkpoints` deletes exactly one connection's.
    CheckpointCas,
    /// OAuth states, approvals and continuations are taken once, and never once expired;
    /// `delete_approvals` deletes exactly one connection's approval requests.
    TakeOnce,
    /// Webhook events are recorded once per (tenant, key, external id); a store that
    /// answers `event_delivery` keeps each event in progress until marked delivered, and
    /// lets exactly one redelivery take over an event whose delivery stalled.
    WebhookDedup,
    /// Of N concurrent tasks racing on one record, exactly one wins (among them
    /// `put_connection_if_unchanged` calls from one read, each writing its own record, and
    /// `put_connection_if_absent` calls of one new id).
    Concurrency,
    /// No operation of one tenant sees or changes another tenant's records.
    TenantIsolation,
    /// Housekeeping purges exactly the expired records.
    Purge,
    /// A sync stream's lease has one holder at a time: renewals, expiry, release, races.
    SyncLeases,
    /// Text holding a NUL character is refused with `store.invalid_text`, and nothing is
    /// written.
    NulText,
}

impl StoreCheck {
    /// Every check, in the order they run.
    pub const ALL: [StoreCheck; 12] = [
        StoreCheck::RoundTrips,
        StoreCheck::Listing,
        StoreCheck::ConnectionStatus,
        StoreCheck::CredentialCas,
        StoreCheck::CheckpointCas,
        StoreCheck::TakeOnce,
        StoreCheck::WebhookDedup,
        StoreCheck::Concurrency,
        StoreCheck::TenantIsolation,
        StoreCheck::Purge,
        StoreCheck::SyncLeases,
        StoreCheck::NulText,
    ];

    /// The check's name (`round_trips`, `tenant_isolation`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::RoundTrips => "round_trips",
            Self::Listing => "listing",
            Self::ConnectionStatus => "connection_status",
            Self::CredentialCas => "credential_cas",
            Self::CheckpointCas => "checkpoint_cas",
            Self::TakeOnce => "take_once",
            Self::WebhookDedup => "webhook_dedup",
            Self::Concurrency => "concurrency",
            Self::TenantIsolation => "tenant_isolation",
            Self::Purge => "purge",
            Self::SyncLeases => "sync_leases",
            Self::NulText => "nul_text",
        }
    }
}

impl fmt::Display for StoreCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The suite, configured.
#[derive(Clone)]
pub struct StoreConformance {
    stores: Arc<dyn Stores>,
    tasks: usize,
    checks: Vec<StoreCheck>,
}

impl fmt::Debug for StoreConformance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConformance")
            .field("tasks", &self.tasks)
            .field("checks", &self.checks)
            .finish_non_exhaustive()
    }
}

impl StoreConformance {
    /// The whole suite against `stores`, with 64 racing tasks.
    pub fn new(stores: Arc<dyn Stores>) -> Self {
        Self {
            stores,
            tasks: 64,
            checks: StoreCheck::ALL.to_vec(),
        }
    }

    /// How many tasks race in [`StoreCheck::Concurrency`] (at least 2).
    #[must_use]
    pub fn with_tasks(mut self, tasks: usize) -> Self {
        self.tasks = tasks.max(2);
        self
    }

    /// Runs only these checks.
    #[must_use]
    pub fn only(mut self, checks: &[StoreCheck]) -> Self {
        self.checks = checks.to_vec();
        self
    }

    /// Runs the checks, one after the other; a failing check does not stop the others.
    pub async fn run(self) -> StoreReport {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let mut results = Vec::with_capacity(self.checks.len());
        for check in self.checks {
            let scope =
                checks::Scope::new(format!("sc-{}-{run}-{}", std::process::id(), check.name()));
            let outcome = checks::run(check, &self.stores, &scope, self.tasks).await;
            results.push((check, outcome));
        }
        StoreReport { results }
    }
}

/// The suite's results.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreReport {
    /// Each check run, with the first problem it found (`Err`) or `Ok`.
    pub results: Vec<(StoreCheck, Result<(), String>)>,
}

impl StoreReport {
    /// Whether no check failed.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|(_, r)| r.is_ok())
    }

    /// The result of one check, if it ran.
    pub fn result(&self, check: StoreCheck) -> Option<&Result<(), String>> {
        self.results
            .iter()
            .find(|(c, _)| *c == check)
            .map(|(_, r)| r)
    }

    /// Fails the test with a readable list of every failed check.
    ///
    /// # Panics
    ///
    /// When a check failed.
    pub fn assert_passed(&self) {
        let mut text = String::new();
        for (check, result) in &self.results {
            if let Err(problem) = result {
                let _ = writeln!(text, "  {check}: {problem}");
            }
        }
        assert!(text.is_empty(), "the stores do not conform:\n{text}");
    }
}
