//! Sync: pulling a provider's records into the host, full or incremental, resumable.
//!
//! A provider offers streams through its [`SyncSource`] capability and returns one page
//! at a time. The [`SyncRunner`] drives pages into the host's [`RecordSink`] and saves a
//! [`SyncCheckpoint`](crate::model::SyncCheckpoint) after every page with
//! compare-and-swap, so:
//!
//! * a crash resumes from the last saved page (pages are delivered at least once, so
//!   sinks upsert by record id);
//! * two runners of one stream cannot both advance it: the loser gets
//!   `sync.concurrent_run` and stops;
//! * an incremental sync starts from the watermark (the newest `updated_at` seen) of the
//!   last completed sync.
//!
//! Webhooks keep streams fresh: a [`SyncTriggerSink`] in front of the host's event sink
//! schedules an incremental run of each stream an ingested event touches
//! ([`SyncTriggers`]), and a [`SyncScheduler`] coalesces bursts into one run per window.

mod runner;
mod source;
mod trigger;

pub use runner::{RecordSink, SyncReport, SyncRunner};
pub use source::{SyncMode, SyncPage, SyncRecord, SyncRequest, SyncSource, SyncStream};
pub use trigger::{
    RunStarter, SchedulerStatus, SyncRunnerStarter, SyncScheduler, SyncTriggerSink, SyncTriggers,
    TriggeredRun,
};
