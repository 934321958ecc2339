//! [`ManualClock`]: time that moves only when a test moves it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use integrations_core::Timestamp;
use integrations_core::host::Clock;

/// A clock that stands still until advanced. Share it in an `Arc` with the host.
#[derive(Debug)]
pub struct ManualClock {
    millis: AtomicI64,
}

impl ManualClock {
    /// A clock at `now`.
    pub fn new(now: Timestamp) -> Self {
        Self {
            millis: AtomicI64::new(now.unix_millis()),
        }
    }

    /// A clock at a Unix time in seconds.
    pub fn at_unix_seconds(seconds: i64) -> Self {
        Self::new(Timestamp::from_unix_seconds(seconds))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.millis.fetch_add(millis, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, now: Timestamp) {
        self.millis.store(now.unix_millis(), Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    /// 2026-01-01T00:00:00Z.
    fn default() -> Self {
        Self::at_unix_seconds(1_767_225_600)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.millis.load(Ordering::SeqCst))
    }
}
