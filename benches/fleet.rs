//! A fleet on one PostgreSQL catalog: 10,000 sites × 5 components (web AMI, Aurora, EFS, two
//! S3 buckets), every one "daily at 02:00" with `spread = "1h"`, on the simulator, shared by
//! three daemons through one simulated day. Then, on the catalog that day left, `restore
//! --at` for one site (the `wpbackup` binary: process start to plan printed) and the fleet
//! audit end to end. Run with `cargo bench --bench fleet`; it starts its own PostgreSQL
//! server (Debian's binaries, as `scripts/test.sh` does) and prints its figures (no
//! assertions on time).
//!
//! The day is compressed: the daemons' clock runs `WPBACKUP_BENCH_SPEED` times faster than
//! the wall clock (default 10), so the 02:00–03:00 window that holds every fire of the day
//! passes in 6 minutes and offers the daemons ten times a real fleet's load. The daemons are
//! the real `Daemon` (rows, heartbeats, claims, retention after each point), three in one
//! process on one runtime, each with its own connections, sharing one simulated cloud.
//! Lags are given in wall-clock seconds (virtual seconds ÷ speed).
//!
//! `WPBACKUP_BENCH_SITES` (default 10000), `WPBACKUP_BENCH_DAEMONS` (3),
//! `WPBACKUP_BENCH_CONCURRENCY` (runs at once per daemon, default 16).

use chrono::{DateTime, TimeZone, Utc};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wpbackup::catalog::Catalog;
use wpbackup::cli::audit_report::{render_fleet, Format};
use wpbackup::cloud::sim::SimMemory;
use wpbackup::daemon::{Control, Daemon, DaemonOptions};
use wpbackup::domain::time::{Clock, ManualClock};
use wpbackup::engine::{Engine, Sleeper};

#[path = "common/postgres.rs"]
mod postgres;

// The allocator the `wpbackup` binary uses (src/main.rs), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Virtual time running `factor` times faster than the wall clock from `origin`.
struct ScaledClock {
    origin: DateTime<Utc>,
    real: Instant,
    factor: f64,
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.real.elapsed().mul_f64(self.factor);
        self.origin + chrono::Duration::from_std(elapsed).expect("in range")
    }
}

/// Sleeping on the scaled clock: a virtual duration takes `1/factor` of it.
struct ScaledSleeper(f64);

#[async_trait::async_trait]
impl Sleeper for ScaledSleeper {
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d.div_f64(self.0)).await;
    }
}

/// A fire: site, component, scheduled instant.
type Fire = (String, String, DateTime<Utc>);

const VAULT_ROLE: &str = "arn:aws:iam::123456789012:role/wpbackup-aws-backup";

/// `wpbackup.toml`, `sites.d/<site>.toml` and `policies/<site>/*.toml` for `n` sites.
fn write_fleet(dir: &Path, n: usize, catalog: &str) {
    std::fs::write(
        dir.join("wpbackup.toml"),
        format!(
            "version = 1\ncatalog = \"{catalog}\"\n\n[sim]\nstate_file = \"sim.json\"\n\
             creating_for = \"2s\"\npoll_interval = \"1s\"\n"
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.join("sites.d")).unwrap();
    let common = "schedule = \"0 2 * * *\"\nspread = \"1h\"\nrpo = \"25h\"\n\n[retention]\ndaily = 7\nweekly = 4\n";
    for i in 0..n {
        let site = format!("site-{i:05}");
        std::fs::write(
            dir.join("sites.d").join(format!("{site}.toml")),
            format!(
                "name = \"{site}\"\nprovider = \"sim\"\nregion = \"us-east-1\"\ndr_region = \"us-west-2\"\n\
                 policies = \"policies/{site}\"\n\n[entry_point]\nec2_elastic_ip_allocation = \"eipalloc-{i:017x}\"\n\n\
                 [health_check]\nurl = \"https://{site}.example.com/wp-login.php\"\n"
            ),
        )
        .unwrap();
        let pdir = dir.join("policies").join(&site);
        std::fs::create_dir_all(&pdir).unwrap();
        let policies = [
            ("web", "ec2-instance", format!("[ec2]\ninstance_id = \"i-{i:017x}\"\n")),
            (
                "db",
                "aurora-cluster",
                format!("[aurora]\ncluster_identifier = \"{site}-db\"\npitr_days = 7\n"),
            ),
            (
                "files",
                "efs",
                format!(
                    "[efs]\nfile_system_id = \"fs-{i:017x}\"\nvault = \"fleet-vault\"\niam_role_arn = \"{VAULT_ROLE}\"\n"
                ),
            ),
            ("media", "s3-bucket", format!("[s3]\nbucket = \"{site}-media\"\ndr_bucket = \"{site}-media-dr\"\n")),
            ("assets", "s3-bucket", format!("[s3]\nbucket = \"{site}-assets\"\ndr_bucket = \"{site}-assets-dr\"\n")),
        ];
        for (name, kind, settings) in policies {
            std::fs::write(
                pdir.join(format!("{name}.toml")),
                format!("version = 1\nname = \"{name}\"\nkind = \"{kind}\"\n{common}\n{settings}"),
            )
            .unwrap();
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark: run with `cargo bench --bench fleet`");
        return;
    }
    let sites: usize = env_or("WPBACKUP_BENCH_SITES", 10_000);
    let speed: f64 = env_or("WPBACKUP_BENCH_SPEED", 10.0);
    let daemons: usize = env_or("WPBACKUP_BENCH_DAEMONS", 3);
    let concurrency: usize = env_or("WPBACKUP_BENCH_CONCURRENCY", 16);
    let pg = postgres::Postgres::start();
    println!("{} on {}", pg.version, pg.url);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    write_fleet(dir.path(), sites, &pg.url);
    println!(
        "fleet: {sites} sites × 5 components written in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(bench(
        dir.path(),
        &pg.url,
        sites,
        speed,
        daemons,
        concurrency,
    ));
}

async fn bench(
    dir: &Path,
    url: &str,
    sites: usize,
    speed: f64,
    daemons: usize,
    concurrency: usize,
) {
    let config_path = dir.join("wpbackup.toml");
    let day = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let day_end = day + chrono::Duration::days(1);
    let t = Instant::now();
    let (config, warnings) = wpbackup::config::load(&config_path, day)
        .unwrap_or_else(|e| panic!("the fleet's configuration: {e}"));
    let load_secs = t.elapsed().as_secs_f64();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.sites.len(), sites);

    // Every fire of the day, from the schedules (with each site's spread).
    let mut expected: HashMap<(String, String), Vec<DateTime<Utc>>> = HashMap::new();
    for s in &config.sites {
        for p in &s.policies {
            let mut at = day - chrono::Duration::seconds(1);
            while let Some(next) = p.schedule.next_after(at).filter(|t| *t < day_end) {
                expected
                    .entry((s.name.clone(), p.name.clone()))
                    .or_default()
                    .push(next);
                at = next;
            }
        }
    }
    let fires: usize = expected.values().map(Vec::len).sum();
    let first = *expected.values().flatten().min().unwrap();
    let last = *expected.values().flatten().max().unwrap();
    println!(
        "config: {sites} sites read in {load_secs:.2} s; the day holds {fires} fires, all in {} – {} \
         (none before or after: the clock starts a minute before the first)",
        first.format("%H:%M"),
        last.format("%H:%M")
    );

    // The schema, made once before the daemons connect.
    Catalog::connect(&config.catalog, true)
        .await
        .expect("catalog");
    let memory = SimMemory::default();
    let clock = Arc::new(ScaledClock {
        origin: first - chrono::Duration::minutes(1),
        real: Instant::now(),
        factor: speed,
    });
    let (tx, rx) = tokio::sync::watch::channel(Control::Run);
    let mut handles = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..daemons {
        let own = Catalog::connect(&config.catalog, false).await.unwrap();
        let mut engine = Engine::new(config.clone(), own);
        engine.clock = clock.clone();
        engine.sleeper = Arc::new(ScaledSleeper(speed));
        engine.sim_memory = Some(memory.clone());
        let mut daemon = Daemon::new(
            engine,
            config_path.clone(),
            DaemonOptions {
                concurrency,
                ..Default::default()
            },
        );
        daemon.acquire().await.expect("join the daemons");
        statuses.push(daemon.status.clone());
        let rx = rx.clone();
        handles.push(tokio::spawn(async move { daemon.run(rx, None).await }));
    }

    // Watch the claims until every fire of the day is done (or the day is over).
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .unwrap();
    let mut last_print = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let row =
            sqlx::query("SELECT count(*) FILTER (WHERE state = 'done'), count(*) FROM fire_claims")
                .fetch_one(&pool)
                .await
                .unwrap();
        let (done, claimed): (i64, i64) = (row.get(0), row.get(1));
        let now = clock.now();
        if last_print.elapsed() > Duration::from_secs(15) {
            eprintln!(
                "  {}: {done} of {fires} fires done, {} running",
                now.format("%H:%M:%S"),
                claimed - done
            );
            last_print = Instant::now();
        }
        if (done as usize >= fires && now > last) || now >= day_end {
            break;
        }
    }
    let _ = tx.send(Control::Stop);
    for h in handles {
        h.await.unwrap().expect("daemon");
    }

    // Every fire: its runs (duplicates, misses, lag) from the catalog.
    let rows = sqlx::query(
        "SELECT s.name, c.name, r.scheduled_for, r.started_at, r.finished_at, r.phase, \
                (SELECT count(*) FROM recovery_points p WHERE p.run_id = r.id) \
         FROM runs r JOIN components c ON c.id = r.component_id JOIN sites s ON s.id = c.site_id \
         WHERE r.trigger = 'schedule'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    // (site, component, fire) → each run's phase and points.
    let mut runs_of: BTreeMap<Fire, Vec<(String, i64)>> = BTreeMap::new();
    let mut lags = Vec::new();
    let mut last_finish = first;
    for r in &rows {
        let (site, comp): (String, String) = (r.get(0), r.get(1));
        let at: DateTime<Utc> = r.get(2);
        let started: DateTime<Utc> = r.get(3);
        let finished: Option<DateTime<Utc>> = r.get(4);
        let phase: String = r.get(5);
        let points: i64 = r.get(6);
        if phase != "Skipped" {
            lags.push((started - at).num_milliseconds() as f64 / 1000.0 / speed);
        }
        if let Some(f) = finished {
            last_finish = last_finish.max(f);
        }
        runs_of
            .entry((site, comp, at))
            .or_default()
            .push((phase, points));
    }
    let mut duplicates = 0;
    let mut misses = 0;
    let mut not_one_point = 0;
    for ((site, comp), ats) in &expected {
        for at in ats {
            let runs = runs_of
                .get(&(site.clone(), comp.clone(), *at))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let ran: Vec<_> = runs.iter().filter(|(ph, _)| ph != "Skipped").collect();
            duplicates += ran.len().saturating_sub(1);
            if !ran.iter().any(|(ph, _)| ph == "Completed") {
                misses += 1;
            }
            if ran.iter().map(|(_, n)| n).sum::<i64>() != 1 {
                not_one_point += 1;
            }
        }
    }
    let unexpected = rows.len() - runs_of.values().map(Vec::len).sum::<usize>()
        + runs_of
            .keys()
            .filter(|(s, c, at)| {
                !expected
                    .get(&(s.clone(), c.clone()))
                    .is_some_and(|v| v.contains(at))
            })
            .count();
    lags.sort_by(f64::total_cmp);
    let window_wall = (last - first).num_milliseconds() as f64 / 1000.0 / speed;
    let busy_wall = (last_finish - first).num_milliseconds() as f64 / 1000.0 / speed;
    println!(
        "\nthe day: {} schedule runs for {fires} fires: duplicates {duplicates}, misses {misses}, \
         fires without exactly one point {not_one_point}, runs for no fire {unexpected}",
        rows.len()
    );
    println!(
        "  offered: {fires} fires in {window_wall:.0} s of wall clock ({:.1} fires/s; a real day's \
         window: {:.1} fires/s); done {:.1} fires/s (first fire to last run's end: {busy_wall:.0} s)",
        fires as f64 / window_wall,
        fires as f64 / (window_wall * speed),
        fires as f64 / busy_wall
    );
    println!(
        "  lag from scheduled instant to run start (wall clock): p50 {:.3} s, p99 {:.3} s, max {:.3} s",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(f64::NAN)
    );
    for (i, st) in statuses.iter().enumerate() {
        let st = st.lock().unwrap();
        println!(
            "  daemon {i}: claimed {}, claimed by another first {}, taken over {}",
            st.fires_claimed, st.fires_claimed_elsewhere, st.fires_taken_over
        );
    }
    let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&pool)
        .await
        .unwrap();
    let points: i64 = sqlx::query_scalar("SELECT count(*) FROM recovery_points")
        .fetch_one(&pool)
        .await
        .unwrap();
    println!(
        "  catalog: {:.1} MB ({} runs, {points} points)",
        size as f64 / 1e6,
        rows.len()
    );

    // Reference: one round trip to the server, as every catalog statement pays it.
    let t = Instant::now();
    for _ in 0..1000 {
        sqlx::query("SELECT 1").execute(&pool).await.unwrap();
    }
    let round_trip_us = t.elapsed().as_secs_f64() * 1000.0;
    println!("  reference: a PostgreSQL round trip {round_trip_us:.0} µs (1,000 × SELECT 1)");

    // `restore --at` for one site, as the operator runs it: process start to plan printed.
    memory
        .save_to(&config.sim.state_file)
        .expect("simulator state file");
    let site = format!("site-{:05}", sites / 2);
    let at = (last_finish + chrono::Duration::minutes(1)).to_rfc3339();
    let bin = env!("CARGO_BIN_EXE_wpbackup");
    let timed = |args: &[&str]| {
        let t = Instant::now();
        let out = std::process::Command::new(bin)
            .current_dir(dir)
            .args(args)
            .env("WPBACKUP_LOG", "warn")
            .output()
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (secs, String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let restore = [
        "--config",
        "wpbackup.toml",
        "restore",
        "--site",
        site.as_str(),
        "--at",
        at.as_str(),
    ];
    let (_, plan) = timed(&restore);
    assert!(plan.contains(&site), "{plan}");
    let restore_secs = median((0..5).map(|_| timed(&restore).0).collect());
    let policy_check = median(
        (0..3)
            .map(|_| timed(&["--config", "wpbackup.toml", "policy", "check"]).0)
            .collect(),
    );
    let version = median((0..5).map(|_| timed(&["--version"]).0).collect());
    println!(
        "\nrestore --at for {site} (wpbackup binary, process start to plan printed): median {:.0} ms of 5\n  \
         reference: `policy check` of the fleet's configuration (reading it: {sites} site files, \
         {} policy files) {:.0} ms; `wpbackup --version` {:.1} ms",
        restore_secs * 1000.0,
        sites * 5,
        policy_check * 1000.0,
        version * 1000.0
    );

    // The fleet audit end to end, as `wpbackup audit` runs it with no --site: every site's
    // audit (catalog, live settings and inventory from the simulator), stored, the report
    // rendered. In this process: the simulator's state file is made for a sandbox, not
    // for 50,000 resources (every call reads it whole).
    let audit_catalog = Catalog::connect(&config.catalog, false).await.unwrap();
    let mut engine = Engine::new(config.clone(), audit_catalog.clone());
    let clock = Arc::new(ManualClock::new(last_finish + chrono::Duration::hours(1)));
    engine.clock = clock;
    engine.sim_memory = Some(memory.clone());
    let mut json_secs = Vec::new();
    let mut html_secs = Vec::new();
    let mut worst = None;
    for format in [Format::Json, Format::Html, Format::Json] {
        let t = Instant::now();
        let report = engine.audit_fleet(None, false, true).await.expect("audit");
        let text = render_fleet(&report, format, None);
        let secs = t.elapsed().as_secs_f64();
        worst = Some((report.status, text.len()));
        match format {
            Format::Html => html_secs.push(secs),
            _ => json_secs.push(secs),
        }
    }
    let t = Instant::now();
    let all = audit_catalog
        .points(&wpbackup::catalog::PointFilter::default())
        .await
        .unwrap();
    let read_points = t.elapsed().as_secs_f64();
    println!(
        "fleet audit end to end ({sites} sites, stored, rendered): median {:.2} s with the JSON report, \
         {:.2} s with the HTML report (status {:?}, last report {} bytes)\n  \
         reference: reading the catalog's {} points {:.0} ms",
        median(json_secs),
        median(html_secs),
        worst.map(|w| w.0),
        worst.map_or(0, |w| w.1),
        all.len(),
        read_points * 1000.0
    );
}
