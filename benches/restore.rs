//! How close a restore comes to its critical path. The shipped binary executes restore
//! plans of the sandbox's `shop` (Aurora + EFS + an EC2 server behind an Elastic IP) and
//! `news` (Aurora + EFS + an Auto Scaling group behind a load balancer) on the simulator,
//! whose restored resources take realistic relative durations (a PITR cluster 12 min, its
//! instance 8 min, the EFS restore job 6 min and its mount targets 90 s, an instance 2 min,
//! the group 3 min), time-scaled 1 min → 400 ms, polled with AWS's 15 s interval scaled
//! alike (100 ms).
//!
//! Figures per site, and for the shop's web server alone (median of 3 fresh sandboxes):
//! * the critical path: the longest dependency chain of the plan, each step weighted by
//!   how long the simulator makes its resources take (the reference, measured in the same
//!   run from the plan the binary wrote);
//! * the makespan: first step started → last step finished, from the catalog;
//! * their ratio (target ≤ 1.1), and the share of the makespan spent past a critical step's
//!   readiness — sleeping until the next poll, and bookkeeping.
//!
//! Run with `cargo bench --bench restore`; prints its figures (no assertions on time).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Real minutes → bench time.
const SCALE: f64 = 0.4 / 60.0;

/// The simulator's kinds and their realistic durations (seconds of AWS time).
const DURATIONS: [(&str, f64); 7] = [
    ("cluster", 720.0),
    ("cluster-instance", 480.0),
    ("file-system", 360.0),
    ("mount-target", 90.0),
    ("instance", 120.0),
    ("group", 180.0),
    ("invalidation", 90.0),
];

/// What each step waits for in the simulator (its own duration: the sum).
fn intrinsic(step_key: &str) -> f64 {
    let action = step_key.rsplit('.').next().unwrap_or(step_key);
    let kinds: &[&str] = match action {
        "restore-cluster" => &["cluster"],
        "create-cluster-instance" => &["cluster-instance"],
        "restore-file-system" => &["file-system", "mount-target"],
        "launch-instance" => &["instance"],
        "launch-group" => &["group"],
        "invalidate-cdn" => &["invalidation"],
        _ => &[],
    };
    kinds
        .iter()
        .map(|k| {
            DURATIONS
                .iter()
                .find(|(n, _)| n == k)
                .map_or(0.0, |(_, d)| *d)
                * SCALE
        })
        .sum()
}

fn wpbackup(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wpbackup"));
    c.current_dir(dir)
        .arg("--config")
        .arg(dir.join("wpbackup.toml"));
    c
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let out = wpbackup(dir).arg("--json").args(args).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A fresh sandbox with realistic restore durations, backed up once.
fn sandbox() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ok = Command::new(env!("CARGO_BIN_EXE_wpbackup"))
        .args(["init", "--sandbox"])
        .arg(dir.path())
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "init --sandbox");
    let cfg = dir.path().join("wpbackup.toml");
    let poll = 15.0 * SCALE;
    let mut durations = String::from("\n[sim.restore_durations]\n");
    for (kind, secs) in DURATIONS {
        durations.push_str(&format!(
            "{kind} = \"{}ms\"\n",
            (secs * SCALE * 1000.0) as u64
        ));
    }
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("creating_for = \"2s\"", "creating_for = \"300ms\"")
        .replace(
            "poll_interval = \"250ms\"",
            &format!("poll_interval = \"{}ms\"", (poll * 1000.0) as u64),
        );
    // The `[sim]` table is followed by the sites: its sub-table goes right after it.
    let at = text.find("\n[[sites]]").expect("sites after [sim]");
    let text = format!("{}{durations}{}", &text[..at], &text[at..]);
    std::fs::write(&cfg, text).unwrap();
    let run = json(dir.path(), &["run", "--all"]);
    let runs = run["runs"].as_array().expect("runs");
    assert!(
        runs.iter().all(|r| r["phase"] == "Completed"),
        "the backups: {run:#}"
    );
    dir
}

fn seconds(v: &Value) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
    Some(t.timestamp_micros() as f64 / 1e6)
}

struct Figures {
    critical: f64,
    makespan: f64,
    /// Summed over the critical chain: time past each step's own duration.
    lag_on_path: f64,
    steps: usize,
}

/// Executes a restore of `site` to now (of the components `only`, when given) and
/// measures it from the catalog's step records.
fn measure(site: &str, only: Option<&str>) -> Figures {
    let dir = sandbox();
    let mut args = vec![
        "restore",
        "--site",
        site,
        "--at",
        "now",
        "--execute",
        "--yes",
    ];
    if let Some(only) = only {
        args.extend(["--only", only]);
    }
    let exec = json(dir.path(), &args);
    assert_eq!(exec["status"], "completed", "{exec:#}");
    let id = exec["plan_id"].as_str().unwrap();
    let show = json(dir.path(), &["restore", "show", id]);
    let steps = show["steps"].as_array().unwrap();
    let by_key: BTreeMap<&str, &Value> = steps
        .iter()
        .map(|s| (s["key"].as_str().unwrap(), s))
        .collect();
    // The longest chain by intrinsic durations (steps are listed after their dependencies).
    let mut longest: BTreeMap<&str, (f64, Vec<&str>)> = BTreeMap::new();
    for s in steps {
        let key = s["key"].as_str().unwrap();
        let (before, mut chain) = s["depends_on"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| longest.get(d.as_str().unwrap()))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .cloned()
            .unwrap_or_default();
        chain.push(key);
        longest.insert(key, (before + intrinsic(key), chain));
    }
    let (critical, chain) = longest
        .values()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .cloned()
        .unwrap();
    let started = steps
        .iter()
        .filter_map(|s| seconds(&s["started_at"]))
        .fold(f64::MAX, f64::min);
    let finished = steps
        .iter()
        .filter_map(|s| seconds(&s["finished_at"]))
        .fold(f64::MIN, f64::max);
    let lag_on_path = chain
        .iter()
        .filter_map(|k| {
            let s = by_key[k];
            Some(seconds(&s["finished_at"])? - seconds(&s["started_at"])? - intrinsic(k))
        })
        .map(|lag| lag.max(0.0))
        .sum();
    Figures {
        critical,
        makespan: finished - started,
        lag_on_path,
        steps: steps.len(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark: run with `cargo bench --bench restore`");
        return;
    }
    println!(
        "restored resources: {} (1 min → {:?}); poll interval 15 s → {:?}",
        DURATIONS
            .iter()
            .map(|(k, d)| format!("{k} {}s", d))
            .collect::<Vec<_>>()
            .join(", "),
        Duration::from_secs_f64(60.0 * SCALE),
        Duration::from_secs_f64(15.0 * SCALE)
    );
    // The whole site, and its web server alone (short steps: where polling shows).
    for (site, only) in [("shop", None), ("news", None), ("shop", Some("web"))] {
        let runs: Vec<Figures> = (0..3).map(|_| measure(site, only)).collect();
        let site = match only {
            Some(c) => format!("{site} --only {c}"),
            None => site.to_string(),
        };
        let critical = median(runs.iter().map(|f| f.critical).collect());
        let makespan = median(runs.iter().map(|f| f.makespan).collect());
        let lag = median(runs.iter().map(|f| f.lag_on_path).collect());
        let ratios: Vec<String> = runs
            .iter()
            .map(|f| format!("{:.3}", f.makespan / f.critical))
            .collect();
        println!(
            "{site}: {} steps; critical path {critical:.2}s (= {:.1} min on AWS), makespan {makespan:.2}s (median of 3): makespan ÷ critical path {:.3} (runs: {}); past readiness on the critical path {:.1}% of the makespan",
            runs[0].steps,
            critical / SCALE / 60.0,
            makespan / critical,
            ratios.join(", "),
            100.0 * lag / makespan
        );
    }
}
