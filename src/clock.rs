//! The registry's notion of "now", injected everywhere time matters.
//!
//! Validity windows, key windows, ledger timestamps and deadlines all read the clock through this
//! trait so that tests can pin or advance time instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use time::OffsetDateTime;

/// China Standard Time, UTC+8: the one time zone of licence validity days, statistics days and
/// every time shown to people. Everything that needs it goes through [`china_time`].
pub const CHINA_STANDARD_TIME: time::UtcOffset = match time::UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    Err(_) => time::UtcOffset::UTC,
};

/// The moment `unix` seconds in China Standard Time (the epoch for values out of range).
pub fn china_time(unix: UnixSeconds) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(CHINA_STANDARD_TIME)
}

/// Seconds since the Unix epoch (UTC). Persisted values use this width.
pub type UnixSeconds = i64;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time as whole seconds since the Unix epoch.
    fn now_unix(&self) -> UnixSeconds;

    /// The current time as milliseconds since the Unix epoch, for ledger timestamps.
    fn now_unix_ms(&self) -> i64 {
        self.now_unix().saturating_mul(1000)
    }

    /// The current time as a calendar value.
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.now_unix()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> UnixSeconds {
        OffsetDateTime::now_utc().unix_timestamp()
    }

    fn now_unix_ms(&self) -> i64 {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
    }
}

/// A clock that only moves when told to; shared handles see the same time.
#[derive(Debug, Clone)]
pub struct FixedClock {
    seconds: Arc<AtomicI64>,
}

impl FixedClock {
    /// A clock standing at `seconds` since the epoch.
    pub fn at(seconds: UnixSeconds) -> Self {
        Self {
            seconds: Arc::new(AtomicI64::new(seconds)),
        }
    }

    /// Moves the clock to `seconds`.
    pub fn set(&self, seconds: UnixSeconds) {
        self.seconds.store(seconds, Ordering::SeqCst);
    }

    /// Moves the clock forward by `delta_seconds` (negative moves it back).
    pub fn advance(&self, delta_seconds: i64) {
        self.seconds.fetch_add(delta_seconds, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_unix(&self) -> UnixSeconds {
        self.seconds.load(Ordering::SeqCst)
    }
}

/// Another clock shifted by a fixed number of seconds: for rehearsals and tests of what happens
/// near expiry, configured explicitly and logged at start-up.
#[derive(Clone)]
pub struct OffsetClock {
    pub inner: Arc<dyn Clock>,
    pub offset_seconds: i64,
}

impl Clock for OffsetClock {
    fn now_unix(&self) -> UnixSeconds {
        self.inner.now_unix().saturating_add(self.offset_seconds)
    }

    fn now_unix_ms(&self) -> i64 {
        self.inner
            .now_unix_ms()
            .saturating_add(self.offset_seconds.saturating_mul(1000))
    }
}

/// Formats a Unix time as RFC 3339 (UTC), for JSON and human output.
pub fn rfc3339(seconds: UnixSeconds) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| seconds.to_string())
}

/// Parses an RFC 3339 timestamp into Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<UnixSeconds> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::at(1_700_000_000);
        let shared = clock.clone();
        assert_eq!(shared.now_unix(), 1_700_000_000);
        clock.advance(60);
        assert_eq!(shared.now_unix(), 1_700_000_060);
        clock.set(5);
        assert_eq!(shared.now_unix_ms(), 5_000);
    }

    #[test]
    fn rfc3339_round_trips() {
        let text = rfc3339(1_700_000_000);
        assert_eq!(text, "2023-11-14T22:13:20Z");
        assert_eq!(parse_rfc3339(&text), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
