//! One time model: instants are UTC; input accepts RFC 3339, local times with a zone,
//! and relative times ("2h ago").

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::sync::Mutex;
use std::time::Duration;

/// Where "now" comes from. Domain code takes `now` as an argument; adapters and the
/// engine hold a `Clock` so tests (and `simulate`) can run on virtual time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }
    pub fn set(&self, t: DateTime<Utc>) {
        *self.now.lock().expect("clock lock") = t;
    }
    pub fn advance(&self, d: Duration) {
        let mut now = self.now.lock().expect("clock lock");
        *now = add_saturating(*now, d);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock lock")
    }
}

/// Why an instant given by a person could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot read {input:?} as a time: {reason}. Accepted: RFC 3339 (2026-11-27T14:05:00Z), \
a local time with an optional zone (\"2026-11-27 14:05\", \"2026-11-27 14:05 Europe/Berlin\"), \
a date (2026-11-27), a relative time (\"2h ago\", \"90m ago\", \"3 days ago\") or \"now\""
)]
pub struct TimeParseError {
    pub input: String,
    pub reason: String,
}

/// Parse an instant as a person types it. `default_zone` applies to local times without a zone.
pub fn parse_instant(
    input: &str,
    now: DateTime<Utc>,
    default_zone: Tz,
) -> Result<DateTime<Utc>, TimeParseError> {
    let s = input.trim();
    let err = |reason: &str| TimeParseError {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    if s.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    let in_range = |t: DateTime<Utc>| {
        if (EARLIEST_INSTANT..=LATEST_INSTANT).contains(&t.naive_utc().date()) {
            Ok(t)
        } else {
            Err(err(&format!(
                "{t} is outside the instants wpbackup handles ({EARLIEST_INSTANT} to {LATEST_INSTANT})"
            )))
        }
    };
    if let Some(rel) = s.strip_suffix("ago") {
        let d = parse_duration(rel).map_err(|e| err(&format!("bad relative duration: {e}")))?;
        return in_range(sub_saturating(now, d));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return in_range(t.with_timezone(&Utc));
    }
    // "<local date time> [Zone/Name]"
    let (local, zone) = match s.rsplit_once(' ') {
        Some((head, tail)) if tail.contains('/') || tail.eq_ignore_ascii_case("UTC") => {
            let tz: Tz = tail
                .parse()
                .map_err(|_| err(&format!("unknown time zone {tail:?}")))?;
            (head.trim(), tz)
        }
        _ => (s, default_zone),
    };
    let naive = parse_naive(local).ok_or_else(|| err("not a recognised date/time form"))?;
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) => in_range(t.with_timezone(&Utc)),
        // A repeated local time (DST fall-back): take the earlier instant, as cron does.
        LocalResult::Ambiguous(a, _) => in_range(a.with_timezone(&Utc)),
        LocalResult::None => Err(err(&format!(
            "{local} does not exist in {zone} (skipped by a daylight-saving change)"
        ))),
    }
}

fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    const FORMATS: [&str; 4] = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ];
    for f in FORMATS {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// The earliest and latest dates an instant typed by a person may fall on.
pub const EARLIEST_INSTANT: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
pub const LATEST_INSTANT: NaiveDate = NaiveDate::from_ymd_opt(9999, 12, 31).expect("valid date");

/// The longest duration accepted anywhere (policies, holds, `--at … ago`): 100 years. Every
/// duration wpbackup adds to or subtracts from an instant has passed through
/// [`parse_duration`], so that arithmetic stays inside chrono's range.
pub const MAX_DURATION: Duration = Duration::from_secs(36_525 * 86_400);

/// Parse a duration such as "24h", "7d", "90m", "1h 30m" (at most [`MAX_DURATION`]).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        format!("{e}; write a duration such as \"30m\", \"6h\", \"7d\" or \"1h 30m\"")
    })?;
    if d > MAX_DURATION {
        return Err(format!(
            "{:?} is longer than 100 years, the longest duration accepted",
            s.trim()
        ));
    }
    Ok(d)
}

/// A duration that must be longer than zero (intervals, timeouts, objectives).
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!(
            "{:?} is zero; give a positive duration such as \"30s\", \"24h\" or \"7d\"",
            s.trim()
        ));
    }
    Ok(d)
}

/// `t + d`, or the latest representable instant when that overflows.
pub fn add_saturating(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `t - d`, or the earliest representable instant when that overflows.
pub fn sub_saturating(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Render a duration compactly for people ("2h 5m", "3d 4h").
pub fn format_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    if secs < 0 {
        return format!("-{}", format_duration(-d));
    }
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (hours, rem) = (rem / 3600, rem % 3600);
    let (mins, s) = (rem / 60, rem % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days}d"));
    }
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if mins > 0 && days == 0 {
        parts.push(format!("{mins}m"));
    }
    if parts.is_empty() {
        parts.push(format!("{s}s"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
    }

    #[test]
    fn out_of_range_durations_and_instants_are_errors_not_panics() {
        let utc = chrono_tz::UTC;
        let e = parse_duration("300000y").unwrap_err();
        assert!(e.contains("longer than 100 years"), "{e}");
        assert_eq!(
            parse_duration("100y").unwrap(),
            Duration::from_secs(100 * 31_557_600)
        );
        let e = parse_instant("300000y ago", now(), utc).unwrap_err();
        assert!(e.reason.contains("longer than 100 years"), "{e}");
        let e = parse_instant("1000y ago", now(), utc).unwrap_err();
        assert!(e.reason.contains("longer than 100 years"), "{e}");
        let e = parse_instant("1900-01-01", now(), utc).unwrap_err();
        assert!(e.reason.contains("outside the instants"), "{e}");
        assert_eq!(
            add_saturating(DateTime::<Utc>::MAX_UTC, Duration::from_secs(1)),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(
            sub_saturating(now(), Duration::MAX),
            DateTime::<Utc>::MIN_UTC
        );
    }

    #[test]
    fn accepts_the_documented_forms() {
        let utc = chrono_tz::UTC;
        let t = |s| parse_instant(s, now(), utc).unwrap().to_rfc3339();
        assert_eq!(t("2026-11-27T14:05:00Z"), "2026-11-27T14:05:00+00:00");
        assert_eq!(t("2026-11-27T14:05:00+01:00"), "2026-11-27T13:05:00+00:00");
        assert_eq!(t("2026-11-27 14:05"), "2026-11-27T14:05:00+00:00");
        assert_eq!(
            t("2026-11-27 14:05 Europe/Berlin"),
            "2026-11-27T13:05:00+00:00"
        );
        assert_eq!(t("2026-11-27"), "2026-11-27T00:00:00+00:00");
        assert_eq!(t("2h ago"), "2026-11-28T10:00:00+00:00");
        assert_eq!(t("3days ago"), "2026-11-25T12:00:00+00:00");
        assert_eq!(t("now"), "2026-11-28T12:00:00+00:00");
    }

    #[test]
    fn rejects_with_guidance() {
        let e = parse_instant("yesterday-ish", now(), chrono_tz::UTC).unwrap_err();
        assert!(e.to_string().contains("RFC 3339"), "{e}");
        let e = parse_instant("2026-03-29 02:30 Europe/Berlin", now(), chrono_tz::UTC).unwrap_err();
        assert!(e.reason.contains("does not exist"), "{e}");
        let e = parse_instant("2026-03-29 02:30 Mars/Olympus", now(), chrono_tz::UTC).unwrap_err();
        assert!(e.reason.contains("unknown time zone"), "{e}");
    }

    #[test]
    fn formats_durations() {
        assert_eq!(format_duration(chrono::Duration::minutes(125)), "2h 5m");
        assert_eq!(format_duration(chrono::Duration::hours(76)), "3d 4h");
        assert_eq!(format_duration(chrono::Duration::seconds(7)), "7s");
    }
}
