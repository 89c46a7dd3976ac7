//! Time comes from a [`Clock`] so tests drive expiries and renewals without sleeping.

use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told: for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Set the time.
    pub fn set(&self, t: DateTime<Utc>) {
        *self.now.lock() = t;
    }

    /// Move the time forward by `seconds`.
    pub fn advance_seconds(&self, seconds: i64) {
        let mut now = self.now.lock();
        *now += Duration::seconds(seconds);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock()
    }
}

/// Format a time the way the API shows it: `2026-03-30 16:26:15+00`.
pub fn format_dt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S+00").to_string()
}

/// Parse a time given by a caller: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` (UTC), or either of
/// those with `T`, `Z` or a `+HH[:MM]` offset.
pub fn parse_dt(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    let t = t.replacen('T', " ", 1);
    for fmt in ["%Y-%m-%d %H:%M:%S%#z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(d) = DateTime::parse_from_str(&t, fmt) {
            return Some(d.with_timezone(&Utc));
        }
    }
    let t = t.trim_end_matches('Z');
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(t, fmt) {
            return Some(d.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_callers_send() {
        let want = parse_dt("2013-03-30 13:26:15").unwrap();
        for s in [
            "2013-03-30 16:26:15+03",
            "2013-03-30T13:26:15Z",
            "2013-03-30 13:26:15+00:00",
            "2013-03-30T16:26:15+03:00",
        ] {
            assert_eq!(parse_dt(s), Some(want), "{s}");
        }
        assert_eq!(format_dt(want), "2013-03-30 13:26:15+00");
        assert_eq!(parse_dt(&format_dt(want)), Some(want));
        assert!(parse_dt("2013-02-30").is_none());
        assert!(parse_dt("yesterday").is_none());
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(parse_dt("2026-01-31").unwrap());
        c.advance_seconds(90);
        assert_eq!(format_dt(c.now()), "2026-01-31 00:01:30+00");
    }
}
