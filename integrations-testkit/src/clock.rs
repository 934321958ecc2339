//! [`ManualClock`]: time that moves only when a test moves it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use integrations_core::Timestamp;
use integrations_core::host::{Clock, Sleeper};

/// A clock that stands still until advanced. Share it in an `Arc` with the host.
///
/// It is also a [`Sleeper`]: a sleep moves the clock forward by its duration at once
/// and is recorded ([`sleeps`](Self::sleeps)), so a test asserts how long an engine
/// paused without waiting.
#[derive(Debug)]
pub struct ManualClock {
    millis: AtomicI64,
    sleeps: Mutex<Vec<Duration>>,
}

impl ManualClock {
    /// A clock at `now`.
    pub fn new(now: Timestamp) -> Self {
        Self {
            millis: AtomicI64::new(now.unix_millis()),
            sleeps: Mutex::new(Vec::new()),
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

    /// Every sleep taken through this clock as a [`Sleeper`], in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
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

#[async_trait]
impl Sleeper for ManualClock {
    async fn sleep(&self, duration: Duration) {
        self.sleeps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(duration);
        self.advance(duration);
        // Let other tasks run, as a real sleep would.
        tokio::task::yield_now().await;
    }
}
