//! Sync: pulling a provider's records into the host, full or incremental, resumable.
//!
//! A provider offers streams through its [`SyncSource`] capability and returns one page
//! at a time. The [`SyncRunner`] drives pages into the host's [`RecordSink`] and saves a
//! [`SyncCheckpoint`](crate::model::SyncCheckpoint) after every page with
//! compare-and-swap, so:
//!
//! * a crashed full run resumes from the last saved page, a crashed incremental run
//!   starts again from the watermark (pages are delivered at least once, so sinks upsert
//!   by record id);
//! * two runners of one stream never run at once: a run takes the stream's lease in the
//!   [`CheckpointStore`](crate::host::CheckpointStore) (`sync.lease_held` otherwise),
//!   renews it after every page and releases it at the end; a runner that died holds it
//!   until it expires. Behind the lease, the checkpoint's compare-and-swap still makes a
//!   stale runner stop with `sync.concurrent_run`;
//! * a provider's rate limit (an error of kind `RateLimited` from the source) pauses the
//!   run for the wait the provider gave, through the runner's
//!   [`Sleeper`](crate::host::Sleeper), and the same page is fetched again: never a busy
//!   loop. Limits in a row (no page fetched between them) pause at least twice as long
//!   as the one before (up to [`MAX_RATE_LIMIT_BACKOFF`], or the provider's wait when
//!   longer), and after [`MAX_RATE_LIMITS_IN_A_ROW`] the next ends the run with the
//!   provider's `RateLimited` error, its checkpoint kept for the next run; so does a
//!   wait longer than [`MAX_RATE_LIMIT_WAIT`], at once;
//! * a credential the provider refuses and that cannot be renewed stops the run with
//!   `sync.credential_rejected` and marks the connection `error`; a connection that is
//!   not active, or whose target is disabled (`auth.target_disabled`), does not run;
//! * an incremental sync starts from the watermark of the last completed sync: the newest
//!   `updated_at` it saw, but never later than its start minus [`WATERMARK_MARGIN`], so
//!   a record changed during a run after its page was read is read by the next run.
//!
//! Webhooks keep streams fresh: a [`SyncTriggerSink`] in front of the host's event sink
//! schedules an incremental run of each stream an ingested event touches
//! ([`SyncTriggers`]), and a [`SyncScheduler`] coalesces bursts into one run per window.

mod runner;
mod trigger;

pub use crate::provider::sync::{
    SyncMode, SyncPage, SyncRecord, SyncRequest, SyncSource, SyncStream, credential_rejected,
};
pub use runner::{
    DEFAULT_LEASE_TTL, MAX_RATE_LIMIT_BACKOFF, MAX_RATE_LIMIT_WAIT, MAX_RATE_LIMITS_IN_A_ROW,
    MIN_RATE_LIMIT_WAIT, RecordSink, SyncObserver, SyncReport, SyncRunner, WATERMARK_MARGIN,
};
pub use trigger::{
    DEFAULT_RETRY_ATTEMPTS, DEFAULT_RETRY_BACKOFF, MAX_LEASE_HELD_RETRY_INTERVAL,
    MIN_LEASE_HELD_RETRY_INTERVAL, RunStarter, SchedulerStatus, SyncRunnerStarter, SyncScheduler,
    SyncTriggerSink, SyncTriggers, TriggeredRun,
};
