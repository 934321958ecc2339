//! [`Clock`]: where every engine reads the time.

use crate::Timestamp;

/// A source of the current time. Engines never read the system clock themselves, so
/// tests move time with a manual clock (`integrations_testkit::ManualClock`).
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct SystemClock;

impl SystemClock {
    /// The system clock.
    pub fn new() -> Self {
        Self
    }
}

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place that reads the system clock"
    )]
    fn now(&self) -> Timestamp {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_unix_millis(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Waits. Engines that pause (a sync run waiting out a provider's rate limit) sleep
/// through a `Sleeper`, so tests substitute one that moves a manual clock instead of
/// waiting (`integrations_testkit::ManualClock` is both).
#[async_trait::async_trait]
pub trait Sleeper: Send + Sync {
    /// Returns after `duration`.
    async fn sleep(&self, duration: std::time::Duration);
}

/// Sleeps on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct TokioSleeper;

impl TokioSleeper {
    /// The tokio sleeper.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait::async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_after_2025() {
        assert!(SystemClock.now() > Timestamp::from_unix_seconds(1_735_689_600));
    }
}
