//! Which GitHub webhook events touch which sync stream.

use integrations_core::sync::SyncTriggers;

/// GitHub's event types that change a synced stream, for a
/// [`SyncTriggerSink`](integrations_core::sync::SyncTriggerSink): issues
/// (`github.issues.*`) and pull requests (`github.pull_request.*`), and what moves their
/// records' `updated_at` (and an issue's `comments` count) without being one of those
/// events: comments (`github.issue_comment.*`, on an issue or a pull request: both
/// streams, as the event type does not say which), reviews and review comments and
/// threads (`github.pull_request_review*.*`).
pub fn sync_triggers() -> SyncTriggers {
    SyncTriggers::new()
        .on("github.issues.*", "issues")
        .on("github.pull_request.*", "pull_requests")
        .on("github.issue_comment.*", "issues")
        .on("github.issue_comment.*", "pull_requests")
        .on("github.pull_request_review.*", "pull_requests")
        .on("github.pull_request_review_comment.*", "pull_requests")
        .on("github.pull_request_review_thread.*", "pull_requests")
}
