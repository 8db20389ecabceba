//! Time as Swell stores it: milliseconds since the Unix epoch, UTC.

use jiff::{Timestamp, tz::TimeZone};

/// Milliseconds since 1970-01-01T00:00:00Z. Every stored instant uses this
/// one representation on both backends, so comparisons compile to the same
/// SQL everywhere and cost one integer compare.
pub type Millis = i64;

pub fn to_millis(t: Timestamp) -> Millis {
    t.as_millisecond()
}

pub fn from_millis(ms: Millis) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// RFC 3339 in UTC with milliseconds, the form the API answers with.
pub fn format_millis(ms: Millis) -> String {
    from_millis(ms)
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Parses an RFC 3339 date-time (`2026-01-31T10:00:00+07:00`). A bare date
/// is refused here: callers that accept dates say so.
pub fn parse_datetime(s: &str) -> Result<Timestamp, String> {
    s.trim()
        .parse::<Timestamp>()
        .map_err(|_| format!("'{s}' is not an RFC 3339 date-time"))
}

/// Parses a calendar date `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<jiff::civil::Date, String> {
    s.trim()
        .parse::<jiff::civil::Date>()
        .map_err(|_| format!("'{s}' is not a date (YYYY-MM-DD)"))
}

/// Checks an IANA time zone name (`Asia/Ho_Chi_Minh`).
pub fn parse_timezone(s: &str) -> Result<String, String> {
    let s = s.trim();
    TimeZone::get(s)
        .map(|_| s.to_string())
        .map_err(|_| format!("'{s}' is not a known time zone"))
}

/// A source of the current time. Production uses the system clock; tests
/// and benchmarks inject their own.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
    fn now_millis(&self) -> Millis {
        to_millis(self.now())
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told: tests run week-long workflows in
/// milliseconds with it.
#[derive(Debug)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn new(start: Millis) -> ManualClock {
        ManualClock(std::sync::atomic::AtomicI64::new(start))
    }

    /// Moves the clock on by `ms`.
    pub fn advance(&self, ms: Millis) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn set(&self, ms: Millis) {
        self.0.store(ms, std::sync::atomic::Ordering::SeqCst);
    }

    /// A clock at an RFC 3339 instant (tests).
    pub fn at(rfc3339: &str) -> std::sync::Arc<ManualClock> {
        let at: Timestamp = rfc3339.parse().expect("an RFC 3339 instant");
        std::sync::Arc::new(ManualClock::new(to_millis(at)))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        from_millis(self.now_millis())
    }
    fn now_millis(&self) -> Millis {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Serialises stored milliseconds as RFC 3339 for the API.
pub fn serialize_millis<S: serde::Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_millis(*ms))
}

/// Serialises optional stored milliseconds as RFC 3339 or null.
pub fn serialize_opt_millis<S: serde::Serializer>(
    ms: &Option<Millis>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&format_millis(*ms)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip_through_rfc3339() {
        let t = parse_datetime("2026-01-31T10:00:00.250+07:00").unwrap();
        let ms = to_millis(t);
        assert_eq!(format_millis(ms), "2026-01-31T03:00:00.250Z");
    }

    #[test]
    fn unknown_zones_and_bad_dates_are_rejected() {
        assert!(parse_timezone("Asia/Ho_Chi_Minh").is_ok());
        assert!(parse_timezone("Mars/Olympus").is_err());
        assert!(parse_date("2026-02-30").is_err());
        assert!(parse_datetime("yesterday").is_err());
    }
}
