//! What the sync mocks share: a provider clock, failure injection by call count, and
//! timestamps that order as text.

use std::sync::Arc;
use std::time::Duration;

use integrations_core::Timestamp;
use integrations_core::host::Clock;

/// A failure a sync mock injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncFault {
    /// The provider's rate limit, resetting this long after the mock's clock reads now.
    /// Each provider answers it its own way (Linear: HTTP 400 `RATELIMITED`; GitHub: 403
    /// with `x-ratelimit-remaining: 0`; Slack: 429 with `Retry-After`).
    RateLimited(Duration),
    /// The provider's other limit: Linear's complexity budget, GitHub's secondary limit
    /// (403 with `retry-after`). Slack has one kind and answers as `RateLimited`.
    SecondaryLimit(Duration),
    /// HTTP 500 (or 502 for GitHub), a transient server error.
    ServerError,
    /// The request is held and never answered (a run killed mid-request).
    Hang,
}

/// Failures scheduled by list-call number.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// (faults left, fault) for the next calls.
    next: Vec<SyncFault>,
    /// After this many successful list pages, the next call gets this fault.
    after_pages: Option<(u64, SyncFault)>,
    /// List pages served so far.
    pub(crate) pages: u64,
    /// List calls received so far (failed ones included, 304s included).
    pub(crate) calls: u64,
}

impl Faults {
    pub(crate) fn next_for(&mut self, count: usize, fault: SyncFault) {
        for _ in 0..count {
            self.next.push(fault);
        }
    }

    pub(crate) fn after_pages(&mut self, pages: u64, fault: SyncFault) {
        self.after_pages = Some((pages + self.pages, fault));
    }

    pub(crate) fn clear(&mut self) {
        self.next.clear();
        self.after_pages = None;
    }

    /// Counts a list call and returns the fault it gets, if any.
    pub(crate) fn take(&mut self) -> Option<SyncFault> {
        self.calls += 1;
        if !self.next.is_empty() {
            return Some(self.next.remove(0));
        }
        if let Some((at, fault)) = &self.after_pages
            && self.pages >= *at
        {
            let fault = *fault;
            if fault != SyncFault::Hang {
                self.after_pages = None;
            }
            return Some(fault);
        }
        None
    }
}

/// The mock's view of the time: the tests' manual clock when given, so reset headers are
/// relative to the time the runner sees.
#[derive(Clone)]
pub(crate) struct MockClock(pub(crate) Option<Arc<dyn Clock>>);

impl std::fmt::Debug for MockClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MockClock")
    }
}

impl MockClock {
    pub(crate) fn now(&self) -> Timestamp {
        self.0
            .as_ref()
            .map_or_else(|| Timestamp::from_unix_seconds(1_767_225_600), |c| c.now())
    }
}

/// The next edit's serial (seconds after 2026-11-01T00:00:00Z, see [`stamp`]): one
/// second after the last edit or, when the mock follows a clock, that clock's time if it
/// is later, as a provider stamps a change with its own clock.
pub(crate) fn next_serial(serial: u64, follow: Option<&MockClock>) -> u64 {
    let now = follow.map_or(0, |clock| {
        u64::try_from(clock.now().unix_seconds() - BASE).unwrap_or(0)
    });
    (serial + 1).max(now)
}

const BASE: i64 = 1_793_491_200;

/// A hung answer: wiremock delays it far beyond any test.
pub(crate) fn hang() -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(500).set_delay(Duration::from_secs(3600))
}

/// RFC 3339, `serial` seconds after 2026-11-01T00:00:00Z, so later edits order later as
/// text: with milliseconds as Linear writes it, or whole seconds as GitHub does.
pub(crate) fn stamp(serial: u64, millis: bool) -> String {
    let base = Timestamp::from_unix_seconds(BASE);
    let text = base
        .saturating_add(Duration::from_secs(serial))
        .to_rfc3339();
    if millis {
        text
    } else {
        // `...:SS.000Z` becomes `...:SSZ`.
        text.replace(".000Z", "Z")
    }
}
