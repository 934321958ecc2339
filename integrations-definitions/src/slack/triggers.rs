//! Which Slack events touch which sync stream.

use integrations_core::sync::SyncTriggers;

/// Slack's message events (`slack.message.*`: posted, changed, deleted) change the
/// `messages` stream, for a [`SyncTriggerSink`](integrations_core::sync::SyncTriggerSink).
pub fn sync_triggers() -> SyncTriggers {
    SyncTriggers::new().on("slack.message.*", "messages")
}
