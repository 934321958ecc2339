//! Which GitHub webhook events touch which sync stream.

use integrations_core::sync::SyncTriggers;

/// GitHub's event types that change a synced stream: issues (`github.issues.*`) and pull
/// requests (`github.pull_request.*`), for a
/// [`SyncTriggerSink`](integrations_core::sync::SyncTriggerSink).
pub fn sync_triggers() -> SyncTriggers {
    SyncTriggers::new()
        .on("github.issues.*", "issues")
        .on("github.pull_request.*", "pull_requests")
}
