//! Sync streams.

use std::collections::BTreeSet;

use integrations_core::Timestamp;
use integrations_core::provider::Integration;

use super::{Outcome, outcome};

/// The outcome of the sync-stream checks, and their warnings. A provider without sync
/// passes: it has no stream to get wrong.
pub(super) fn streams(integration: &dyn Integration) -> (Outcome, Vec<String>) {
    let Some(source) = integration.sync() else {
        return (Outcome::Passed, Vec::new());
    };
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let streams = source.streams();
    if streams.is_empty() {
        problems.push("the provider has a sync source that offers no stream".to_owned());
    }
    let mut names = BTreeSet::new();
    for stream in &streams {
        let name = stream.name.as_str();
        if name.trim().is_empty() {
            problems.push("a sync stream has an empty name".to_owned());
            continue;
        }
        if !names.insert(name) {
            problems.push(format!(
                "the sync stream {name} is declared twice (runs and checkpoints are kept by name)"
            ));
        }
        if stream.incremental
            && source
                .watermark_at(name, Timestamp::from_unix_seconds(1_750_000_000))
                .is_none()
        {
            warnings.push(format!(
                "{name}: an incremental stream that keeps the default watermark_at (None): its watermark is the newest updated_at seen, so a record changed during a run, on a page already read, is missed by the next incremental run unless the source reads in updated_at order (implement SyncSource::watermark_at)"
            ));
        }
    }
    (outcome(problems), warnings)
}
