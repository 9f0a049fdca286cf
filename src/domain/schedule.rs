//! Cron schedules with crontab semantics, evaluated in a time zone.
//!
//! The `cron` crate wants 6–7 fields (seconds first), numbers Sunday as 1 and ANDs
//! day-of-month with day-of-week. Operators write 5-field crontab lines where Sunday is
//! 0 or 7 and, when both day fields are restricted, *either* may match (Vixie cron).
//! [`CronSchedule::parse`] translates the crontab form so that it means what it says.
//!
//! Daylight saving follows Vixie cron: a local time skipped by the spring-forward jump
//! fires once, at the transition; a local time repeated by the fall-back fires once, at
//! its first occurrence. Next-fire is a pure function of (schedule, zone, as-of).

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::HashMap;
use std::str::FromStr;

/// A parsed, validated schedule: crontab expression plus the zone it is read in.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expression: String,
    zone: Tz,
    /// One schedule, or two whose union is the crontab meaning (day-of-month OR day-of-week).
    parts: Vec<cron::Schedule>,
    /// Every fire moved this much later (a policy's `spread`: see [`spread_offset`]).
    offset: Duration,
}

/// A site's deterministic place in a spread window: whole minutes in `[0, spread)`, from a
/// hash of the site's name — the same on every host and at every start, different between
/// sites, so a fleet configured "daily at 02:00" does not call the same API in the same
/// second; one site's components sharing the window fire together (one instant to
/// restore the whole site to).
pub fn spread_offset(site: &str, spread: std::time::Duration) -> Duration {
    use sha2::{Digest, Sha256};
    let minutes = (spread.as_secs() / 60).max(1);
    let digest = Sha256::digest(site.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let minute = u64::from_be_bytes(first) % minutes;
    Duration::minutes(i64::try_from(minute).unwrap_or(0))
}

const DOW_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl CronSchedule {
    /// Parse a 5-field crontab expression (`min hour dom month dow`) or one of the
    /// macros `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`, `@annually`.
    pub fn parse(expression: &str, zone: Tz) -> Result<Self, String> {
        let expr = expression.trim();
        let fields: Vec<&str> = match expr {
            "@hourly" => vec!["0", "*", "*", "*", "*"],
            "@daily" | "@midnight" => vec!["0", "0", "*", "*", "*"],
            "@weekly" => vec!["0", "0", "*", "*", "0"],
            "@monthly" => vec!["0", "0", "1", "*", "*"],
            "@yearly" | "@annually" => vec!["0", "0", "1", "1", "*"],
            e if e.starts_with('@') => {
                return Err(format!(
                    "unknown macro {e:?}; accepted: @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually"
                ))
            }
            e => e.split_whitespace().collect(),
        };
        if fields.len() != 5 {
            return Err(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}; \
                 example: \"30 2 * * *\" is 02:30 every day",
                fields.len()
            ));
        }
        let (min, hour, dom, month, dow) = (fields[0], fields[1], fields[2], fields[3], fields[4]);
        let dow_days = parse_dow(dow)?;
        let dow_expr = if dow_days.len() == 7 {
            "*".to_string()
        } else {
            dow_days
                .iter()
                .map(|d| DOW_NAMES[*d as usize])
                .collect::<Vec<_>>()
                .join(",")
        };
        let build = |dom: &str, dow: &str| -> Result<cron::Schedule, String> {
            let six = format!("0 {min} {hour} {dom} {month} {dow}");
            cron::Schedule::from_str(&six).map_err(|e| format!("{e}"))
        };
        // Vixie cron: if either day field starts with '*', days must match both (the
        // starred one matches everything); if both are restricted, either may match.
        let parts = if dom.starts_with('*') || dow.starts_with('*') {
            vec![build(dom, &dow_expr)?]
        } else {
            vec![build(dom, "*")?, build("*", &dow_expr)?]
        };
        // A valid expression can still name no real day ("0 0 30 2 *": February 30th): it
        // would never fire, and the component would silently go without backups.
        let epoch = Utc
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .single()
            .expect("valid");
        if parts.iter().all(|p| p.after(&epoch).next().is_none()) {
            return Err(format!(
                "{expr:?} never fires: no calendar day matches its day-of-month ({dom}) and month ({month}) fields"
            ));
        }
        Ok(Self {
            expression: expr.to_string(),
            zone,
            parts,
            offset: Duration::zero(),
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The same schedule with every fire `offset` later.
    pub fn with_offset(mut self, offset: Duration) -> Self {
        self.offset = offset;
        self
    }

    /// How much later than the cron expression says every fire is.
    pub fn offset(&self) -> Duration {
        self.offset
    }

    /// The first fire strictly after `as_of`.
    pub fn next_after(&self, as_of: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_unshifted_after(as_of - self.offset)
            .map(|t| t + self.offset)
    }

    fn next_unshifted_after(&self, as_of: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Mapping local wall times to instants is monotone, so walk local candidates from a
        // little before as_of's wall time (covers a repeated hour) until one lands after it.
        let start_local = as_of.with_timezone(&self.zone).naive_local() - Duration::hours(3);
        let start = Utc.from_utc_datetime(&start_local);
        let mut best: Option<DateTime<Utc>> = None;
        for part in &self.parts {
            for candidate in part.after(&start).take(100_000) {
                let instant = self.local_to_instant(candidate.naive_utc());
                if instant > as_of {
                    if best.is_none_or(|b| instant < b) {
                        best = Some(instant);
                    }
                    break;
                }
            }
        }
        best
    }

    /// The next `n` fires after `as_of`.
    pub fn upcoming(&self, as_of: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut t = as_of;
        while out.len() < n {
            match self.next_after(t) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }

    /// The most recent fire at or before `as_of` (searching back up to ~400 days).
    pub fn previous_at_or_before(&self, as_of: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut lo = as_of - Duration::hours(1);
        let limit = as_of - Duration::days(400);
        while lo > limit {
            let mut last = None;
            let mut t = lo - Duration::seconds(1);
            while let Some(next) = self.next_after(t) {
                if next > as_of {
                    break;
                }
                last = Some(next);
                t = next;
            }
            if last.is_some() {
                return last;
            }
            lo -= (as_of - lo) * 2;
        }
        None
    }

    /// The longest gap between consecutive fires over the year after `as_of` (at most
    /// 2,000 fires looked at): the worst-case interval the RPO must cover.
    ///
    /// Walking a year of fires costs ~1 ms for a daily schedule, and a fleet's thousands of
    /// policies share a handful of schedules: the answer is remembered per expression, zone
    /// and hour of `as_of` (a spread's offset moves every fire alike, so the gaps are the
    /// same; within the hour the year looked at barely moves).
    pub fn longest_interval(&self, as_of: DateTime<Utc>) -> Option<Duration> {
        type Key = (String, Tz, i64);
        static SEEN: std::sync::LazyLock<std::sync::Mutex<HashMap<Key, Option<Duration>>>> =
            std::sync::LazyLock::new(Default::default);
        let key = (self.expression.clone(), self.zone, as_of.timestamp() / 3600);
        if let Some(known) = SEEN.lock().expect("schedule memo").get(&key) {
            return *known;
        }
        let longest = self.walk_longest_interval(as_of);
        let mut seen = SEEN.lock().expect("schedule memo");
        if seen.len() >= 10_000 {
            seen.clear(); // a daemon reloading for years: stay small
        }
        seen.insert(key, longest);
        longest
    }

    fn walk_longest_interval(&self, as_of: DateTime<Utc>) -> Option<Duration> {
        let horizon = as_of + Duration::days(366);
        let mut prev = self.next_after(as_of)?;
        let mut longest = Duration::zero();
        for _ in 0..2000 {
            let Some(next) = self.next_after(prev) else {
                break;
            };
            longest = longest.max(next - prev);
            prev = next;
            if next > horizon {
                break;
            }
        }
        if longest.is_zero() {
            None
        } else {
            Some(longest)
        }
    }

    fn local_to_instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.zone.from_local_datetime(&local) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            LocalResult::None => {
                // Skipped by a spring-forward jump: fire at the transition, i.e. the first
                // instant whose wall time is after the requested one.
                let mut probe = local;
                for _ in 0..(4 * 60) {
                    probe += Duration::minutes(1);
                    if let Some(t) = self.zone.from_local_datetime(&probe).earliest() {
                        return t.with_timezone(&Utc);
                    }
                }
                Utc.from_utc_datetime(&local)
            }
        }
    }
}

/// Expand a crontab day-of-week field into day numbers 0 (Sunday) ..= 6.
fn parse_dow(field: &str) -> Result<Vec<u8>, String> {
    let mut days = [false; 7];
    for token in field.split(',') {
        let (range, step) = match token.split_once('/') {
            Some((r, s)) => {
                let step: u8 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("bad step {s:?} in day-of-week {field:?}"))?;
                (r, step)
            }
            None => (token, 1),
        };
        let (lo, hi) = if range == "*" {
            (0, 6)
        } else if let Some((a, b)) = range.split_once('-') {
            (dow_value(a, field)?, dow_value(b, field)?)
        } else {
            let v = dow_value(range, field)?;
            (v, if token.contains('/') { 6 } else { v })
        };
        if lo > hi {
            return Err(format!(
                "day-of-week range {range:?} runs backwards; write e.g. \"5-7\" or \"FRI,SAT,SUN\""
            ));
        }
        let mut d = lo;
        while d <= hi {
            days[(d % 7) as usize] = true;
            d += step;
        }
    }
    Ok((0u8..7).filter(|d| days[*d as usize]).collect())
}

fn dow_value(s: &str, field: &str) -> Result<u8, String> {
    if let Ok(n) = s.parse::<u8>() {
        if n <= 7 {
            return Ok(n);
        }
        return Err(format!(
            "day-of-week {n} in {field:?} is out of range; use 0-7 (0 and 7 are Sunday) or SUN-SAT"
        ));
    }
    DOW_NAMES
        .iter()
        .position(|name| name.eq_ignore_ascii_case(s))
        .map(|p| p as u8)
        .ok_or_else(|| {
            format!("day-of-week {s:?} in {field:?} is not a day; use 0-7 or SUN, MON, … SAT")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn fires(expr: &str, zone: &str, from: &str, n: usize) -> Vec<String> {
        let s = CronSchedule::parse(expr, zone.parse().unwrap()).unwrap();
        s.upcoming(utc(from), n)
            .iter()
            .map(|t| t.to_rfc3339())
            .collect()
    }

    #[test]
    fn a_spread_moves_every_fire_by_the_sites_place_in_the_window() {
        let daily = CronSchedule::parse("0 2 * * *", chrono_tz::UTC).unwrap();
        let window = std::time::Duration::from_secs(3600);
        let offset = spread_offset("shop", window);
        assert_eq!(offset, spread_offset("shop", window), "deterministic");
        assert!(offset >= Duration::zero() && offset < Duration::hours(1));
        assert_eq!(offset.num_seconds() % 60, 0, "whole minutes");
        let spread = daily.clone().with_offset(offset);
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let base = daily.next_after(t).unwrap();
        assert_eq!(spread.next_after(t), Some(base + offset));
        assert_eq!(
            spread.previous_at_or_before(base + offset),
            Some(base + offset)
        );
        assert_eq!(
            spread.previous_at_or_before(base + offset - Duration::seconds(1)),
            Some(base + offset - Duration::days(1))
        );
        assert_eq!(spread.longest_interval(t), daily.longest_interval(t));
        // A fleet lands all over the window, not in one minute.
        let mut minutes = std::collections::BTreeMap::new();
        for n in 0..1000 {
            *minutes
                .entry(spread_offset(&format!("site-{n}"), window).num_minutes())
                .or_insert(0) += 1;
        }
        assert_eq!(minutes.len(), 60, "every minute of the hour used");
        assert!(minutes.values().all(|&n| n < 40), "{minutes:?}");
    }

    #[test]
    fn five_field_daily() {
        assert_eq!(
            fires("30 2 * * *", "UTC", "2026-11-28T00:00:00Z", 2),
            ["2026-11-28T02:30:00+00:00", "2026-11-29T02:30:00+00:00"]
        );
    }

    #[test]
    fn dst_spring_forward_fires_once_at_transition() {
        // Europe/Berlin jumps 02:00 CET -> 03:00 CEST on 2026-03-29 (01:00 UTC).
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2026-03-28T00:00:00Z", 3),
            [
                "2026-03-28T01:30:00+00:00",
                "2026-03-29T01:00:00+00:00",
                "2026-03-30T00:30:00+00:00"
            ]
        );
    }

    #[test]
    fn dst_fall_back_fires_once() {
        // 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice; fire only the first.
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2),
            ["2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"]
        );
        // Asking from inside the repeated hour does not fire it again.
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2026-10-25T00:45:00Z", 1),
            ["2026-10-26T01:30:00+00:00"]
        );
    }

    #[test]
    fn sunday_is_zero_and_seven_and_monday_is_one() {
        // 2026-11-29 is a Sunday, 2026-11-30 a Monday.
        assert_eq!(
            fires("0 3 * * 0", "UTC", "2026-11-28T00:00:00Z", 1),
            ["2026-11-29T03:00:00+00:00"]
        );
        assert_eq!(
            fires("0 3 * * 7", "UTC", "2026-11-28T00:00:00Z", 1),
            ["2026-11-29T03:00:00+00:00"]
        );
        assert_eq!(
            fires("0 3 * * 1", "UTC", "2026-11-28T00:00:00Z", 1),
            ["2026-11-30T03:00:00+00:00"]
        );
        assert_eq!(
            fires("0 3 * * mon-fri", "UTC", "2026-11-28T00:00:00Z", 1),
            ["2026-11-30T03:00:00+00:00"]
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_when_both_restricted() {
        // "the 1st, or any Monday": from Sat 2026-11-28 -> Mon 30th, then Tue 1 Dec.
        assert_eq!(
            fires("0 0 1 * 1", "UTC", "2026-11-28T00:00:00Z", 2),
            ["2026-11-30T00:00:00+00:00", "2026-12-01T00:00:00+00:00"]
        );
    }

    #[test]
    fn leap_day_and_yearly_and_every_minute() {
        assert_eq!(
            fires("0 12 29 2 *", "UTC", "2026-11-28T00:00:00Z", 1),
            ["2028-02-29T12:00:00+00:00"]
        );
        assert_eq!(
            fires("@yearly", "UTC", "2026-11-28T00:00:00Z", 1),
            ["2027-01-01T00:00:00+00:00"]
        );
        assert_eq!(
            fires("* * * * *", "UTC", "2026-11-28T00:00:30Z", 2),
            ["2026-11-28T00:01:00+00:00", "2026-11-28T00:02:00+00:00"]
        );
    }

    #[test]
    fn longest_interval_and_previous() {
        let s = CronSchedule::parse("0 */6 * * *", chrono_tz::UTC).unwrap();
        assert_eq!(
            s.longest_interval(utc("2026-11-28T00:00:00Z")),
            Some(Duration::hours(6))
        );
        assert_eq!(
            s.previous_at_or_before(utc("2026-11-28T13:00:00Z")),
            Some(utc("2026-11-28T12:00:00Z"))
        );
        let weekdays = CronSchedule::parse("0 1 * * 1-5", chrono_tz::UTC).unwrap();
        assert_eq!(
            weekdays.longest_interval(utc("2026-11-28T00:00:00Z")),
            Some(Duration::days(3))
        );
    }

    #[test]
    fn rejects_with_guidance() {
        for (expr, needle) in [
            ("0 3 * *", "expected 5 fields"),
            ("0 0 3 * * *", "expected 5 fields"),
            ("61 3 * * *", ""),
            ("0 3 * * 8", "out of range"),
            ("@often", "unknown macro"),
            ("0 0 30 2 *", "never fires"),
            ("0 0 31 4,6,9,11 *", "never fires"),
        ] {
            let e = CronSchedule::parse(expr, chrono_tz::UTC).unwrap_err();
            assert!(e.contains(needle), "{expr}: {e}");
        }
        // Rare is not never: February 29th fires in leap years.
        let leap = CronSchedule::parse("0 0 29 2 *", chrono_tz::UTC).unwrap();
        assert_eq!(
            leap.next_after(utc("2026-12-03T00:00:00Z")),
            Some(utc("2028-02-29T00:00:00Z"))
        );
    }
}
