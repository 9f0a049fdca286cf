//! No input panics: the duration, instant, cron, policy and configuration parsers fed
//! thousands of random and mutated inputs (seeded; a failure prints the seed and the
//! input). A panic fails the test; every rejection must say what is wrong.

use super::support::Sandbox;
use chrono::{TimeZone, Utc};
use wpbackup::config::policy::PolicyContext;
use wpbackup::domain::schedule::CronSchedule;
use wpbackup::domain::time::{parse_duration, parse_instant};

/// Pieces that parsers trip on: numbers at the limits, units, separators, quotes,
/// brackets, TOML syntax, cron syntax, non-ASCII.
const TOKENS: &[&str] = &[
    "0",
    "1",
    "-1",
    "7",
    "30",
    "59",
    "60",
    "99",
    "999",
    "-5",
    "65536",
    "2147483648",
    "9223372036854775807",
    "99999999999999999999",
    "300000",
    "1e400",
    "inf",
    "nan",
    "0x10",
    "y",
    "d",
    "h",
    "m",
    "s",
    "ms",
    "ns",
    "years",
    " ago",
    "ago",
    "now",
    "T",
    "Z",
    "+",
    "-",
    ":",
    "/",
    "*",
    ",",
    "@",
    "@daily",
    "?",
    "L",
    "#",
    "W",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "=",
    ".",
    "..",
    "\\",
    "\\u0000",
    "\u{0}",
    "é",
    "日本",
    "🦀",
    "\u{202e}",
    "true",
    "false",
    "2026-02-30",
    "2026-11-27T14:05:00Z",
    "9999-12-31",
    "+300000-01-01T00:00:00Z",
    "Europe/Berlin",
    "Nowhere/Else",
    "UTC",
    "0 0 30 2 *",
    "*/0 * * * *",
    "60 24 32 13 8",
    "1-0",
    "5/0",
    "us-east-1",
    "eipalloc-",
    "https://",
    "http://a b",
    "version = 1",
    "kind = \"efs\"",
    "[retention]",
    "[[dr_copies]]",
    "[sites.health_check]",
    "expect_status = 999",
    "timeout = \"0s\"",
];

fn token(rng: &mut fastrand::Rng) -> &'static str {
    TOKENS[rng.usize(..TOKENS.len())]
}

fn random_text(rng: &mut fastrand::Rng) -> String {
    (0..rng.usize(0..6)).map(|_| token(rng)).collect()
}

/// 1 to 4 random edits of `text`: delete a span, insert or replace with a token, duplicate
/// a line, truncate.
fn mutate(rng: &mut fastrand::Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..rng.usize(1..=4) {
        let at = rng.usize(..=chars.len());
        match rng.u8(..5) {
            0 => {
                let end = (at + rng.usize(0..20)).min(chars.len());
                chars.drain(at..end);
            }
            1 => {
                chars.splice(at..at, token(rng).chars());
            }
            2 => {
                let end = (at + rng.usize(1..8)).min(chars.len());
                chars.splice(at..end, token(rng).chars());
            }
            3 => {
                let line: String = chars[..at]
                    .iter()
                    .rev()
                    .take_while(|c| **c != '\n')
                    .collect();
                let line: String = line.chars().rev().collect();
                chars.splice(at..at, format!("\n{line}\n").chars());
            }
            _ => chars.truncate(at),
        }
    }
    chars.into_iter().collect()
}

fn seed() -> u64 {
    std::env::var("WPBACKUP_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..))
}

/// Run `check` on `n` inputs made by `make`; on a panic, say which seed and input.
fn each_input(
    name: &str,
    n: usize,
    make: impl Fn(&mut fastrand::Rng) -> String,
    check: impl Fn(&str),
) {
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..n {
        let input = make(&mut rng);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input)));
        if let Err(panic) = outcome {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{name}: input {input:?} panicked ({what}); reproduce with WPBACKUP_FUZZ_SEED={seed}");
        }
    }
}

#[test]
fn durations_instants_and_schedules() {
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
    each_input("parsers", 5_000, random_text, |s| {
        if let Err(e) = parse_duration(s) {
            assert!(!e.is_empty());
        }
        match parse_instant(s, now, chrono_tz::Europe::Berlin) {
            // Whatever is accepted can be used in arithmetic and printed.
            Ok(t) => {
                let _ = (t - now, t.to_rfc3339());
            }
            Err(e) => assert!(!e.reason.is_empty()),
        }
        match CronSchedule::parse(s, chrono_tz::Europe::Berlin) {
            Ok(c) => {
                let next = c.upcoming(now, 3);
                assert!(!next.is_empty(), "{s:?} was accepted but never fires");
            }
            Err(e) => assert!(!e.is_empty()),
        }
    });
}

#[test]
fn mutated_policies() {
    let ctx = PolicyContext {
        site: Some("shop".into()),
        primary_region: Some("us-east-1".into()),
        dr_region: Some("us-west-2".into()),
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let examples: Vec<String> = [
        "elastic/db.toml",
        "elastic/files.toml",
        "elastic/media.toml",
        "elastic/web.toml",
        "elastic-single-instance/web.toml",
        "single-server/wordpress.toml",
    ]
    .iter()
    .map(|p| std::fs::read_to_string(super::support::repo_root().join("policies").join(p)).unwrap())
    .collect();
    let path = dir.path().join("p.toml");
    each_input(
        "policies",
        1_000,
        |rng| {
            let i = rng.usize(..examples.len());
            mutate(rng, &examples[i])
        },
        |text| {
            std::fs::write(&path, text).unwrap();
            let (_, diags) =
                wpbackup::config::check_policy_files(std::slice::from_ref(&path), &ctx, now);
            for d in diags {
                assert!(
                    !d.message.is_empty() && d.line <= text.lines().count() + 1,
                    "{d}"
                );
            }
        },
    );
}

#[test]
fn mutated_configurations() {
    let sb = Sandbox::new();
    let config = sb.config();
    let good = std::fs::read_to_string(&config).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
    each_input(
        "configuration",
        500,
        |rng| mutate(rng, &good),
        |text| {
            std::fs::write(&config, text).unwrap();
            if let Err(e) = wpbackup::config::load(&config, now) {
                assert!(!e.diagnostics.is_empty(), "rejected without saying why");
                assert!(e.diagnostics.iter().all(|d| !d.message.is_empty()));
            }
        },
    );
}
