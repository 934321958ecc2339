//! Which Linear webhook events touch which sync stream.

use integrations_core::sync::SyncTriggers;

/// Linear's event types that change a synced stream: issues (`linear.issue.*`), comments
/// (`linear.comment.*`) and projects (`linear.project.*`), for a
/// [`SyncTriggerSink`](integrations_core::sync::SyncTriggerSink).
pub fn sync_triggers() -> SyncTriggers {
    SyncTriggers::new()
        .on("linear.issue.*", "issues")
        .on("linear.comment.*", "comments")
        .on("linear.project.*", "projects")
}
