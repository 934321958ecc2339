//! [`Timestamp`]: an instant in UTC with millisecond precision.
//!
//! Nothing in this crate reads the system clock directly: engines take a
//! [`Clock`](crate::host::Clock) from the host, so tests move time by hand.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::Error;

/// An instant, as milliseconds since the Unix epoch (UTC). Serialized as RFC 3339
/// (`2026-11-21T09:30:00.000Z`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const UNIX_EPOCH: Self = Self(0);

    /// An instant from milliseconds since the epoch.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// An instant from seconds since the epoch.
    pub const fn from_unix_seconds(seconds: i64) -> Self {
        Self(seconds.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded toward negative infinity).
    pub const fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This instant moved forward by `d` (saturating).
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(duration_millis(d)))
    }

    /// This instant moved back by `d` (saturating).
    #[must_use]
    pub fn saturating_sub(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(duration_millis(d)))
    }

    /// How long after `earlier` this instant is; zero when it is not after.
    pub fn duration_since(self, earlier: Self) -> Duration {
        let diff = self.0.saturating_sub(earlier.0);
        Duration::from_millis(u64::try_from(diff).unwrap_or(0))
    }

    /// The absolute distance between two instants.
    pub fn abs_diff(self, other: Self) -> Duration {
        Duration::from_millis(self.0.abs_diff(other.0))
    }

    /// Parses an RFC 3339 date-time (`2019-05-15T15:20:41Z`, with any offset and
    /// fractional seconds; precision beyond milliseconds is truncated).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`time.invalid`) when
    /// the text is not an RFC 3339 date-time.
    pub fn parse_rfc3339(text: &str) -> Result<Self, Error> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
            crate::codes::time::INVALID
                .with_issues("the value is not an RFC 3339 date-time", Vec::new())
                .with_source(e)
        })?;
        let nanos = parsed.unix_timestamp_nanos();
        let millis = i64::try_from(nanos.div_euclid(1_000_000))
            .map_err(|_| crate::codes::time::INVALID.error("the date-time is out of range"))?;
        Ok(Self(millis))
    }

    /// Formats as RFC 3339 in UTC with milliseconds (`2026-11-21T09:30:00.000Z`).
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.millisecond()
            ),
            // Out of the representable calendar range: fall back to the raw number so the
            // value is never lost.
            Err(_) => format!("@{}", self.0),
        }
    }
}

fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        // `@<ms>`: what `to_rfc3339` writes for an instant past the calendar's range
        // (a "never expires" `Duration::MAX` added to now), read back as written.
        if let Some(millis) = text.strip_prefix('@').and_then(|m| m.parse::<i64>().ok()) {
            return Ok(Self(millis));
        }
        Self::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let t = Timestamp::parse_rfc3339("2019-05-15T15:20:41.123Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2019-05-15T15:20:41.123Z");
        let offset = Timestamp::parse_rfc3339("2019-05-15T17:20:41+02:00").unwrap();
        assert_eq!(offset.to_rfc3339(), "2019-05-15T15:20:41.000Z");
        assert_eq!(offset.unix_seconds(), 1_557_933_641);
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn arithmetic() {
        let t = Timestamp::from_unix_seconds(100);
        assert_eq!(
            t.saturating_add(Duration::from_millis(1500)).unix_millis(),
            101_500
        );
        assert_eq!(t.saturating_sub(Duration::from_secs(1)).unix_seconds(), 99);
        assert_eq!(
            t.duration_since(Timestamp::from_unix_seconds(40)),
            Duration::from_secs(60)
        );
        assert_eq!(
            Timestamp::from_unix_seconds(40).duration_since(t),
            Duration::ZERO
        );
        assert_eq!(
            Timestamp::from_unix_seconds(40).abs_diff(t),
            Duration::from_secs(60)
        );
        assert_eq!(Timestamp::from_unix_millis(-1).unix_seconds(), -1);
    }

    /// An instant past the calendar's range (a `Duration::MAX` expiry) is written as
    /// `@<ms>` and read back as the same instant, so a stored record holding one stays
    /// readable.
    #[test]
    fn an_instant_past_the_calendar_round_trips_through_serde() {
        for millis in [i64::MAX, i64::MIN, 253_402_300_800_000] {
            let t = Timestamp::from_unix_millis(millis);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(
                serde_json::from_str::<Timestamp>(&json).unwrap(),
                t,
                "{json}"
            );
        }
        let far = Timestamp::from_unix_seconds(0).saturating_add(Duration::MAX);
        let json = serde_json::to_string(&far).unwrap();
        assert!(json.starts_with("\"@"), "{json}");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), far);
        assert!(serde_json::from_str::<Timestamp>("\"@soon\"").is_err());
    }

    #[test]
    fn serde_uses_rfc3339() {
        let t = Timestamp::from_unix_seconds(1_750_861_210);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2025-06-25T14:20:10.000Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }
}
