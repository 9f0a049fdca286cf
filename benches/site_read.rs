//! One site's catalog read at fleet size: a SQLite catalog of 10,000 sites × 5 components
//! (web AMI, Aurora, EFS, two S3 buckets) × 100 points — 5,000,000 points, 70 % of them
//! history (deleted by retention), written in fleet order (each point time of every site
//! before the next, so one site's points are spread over the whole table) — and a drill of
//! every site (15 finished steps each). Then, with the `wpbackup` binary, process start to
//! output: `restore --site S --at T` (the plan printed), `points --site S` and
//! `points --site S --at T`.
//!
//! The reference is the same command on a catalog that holds only that site (the same rows,
//! written by the same statements): a read that touches only the site's rows takes as long
//! on both, whatever the fleet holds, so the ratio says how much of the fleet a command
//! reads. Run with `cargo bench --bench site_read`; prints its figures (no assertions on
//! time). `WPBACKUP_BENCH_SITES` (default 10000), `WPBACKUP_BENCH_POINTS` (per component,
//! default 100); `WPBACKUP_BENCH_KEEP=1` leaves both catalogs' directories behind.
//!
//! The configuration names only the site read (reading 10,000 site files is measured by
//! `benches/fleet.rs`); the site's first points are taken by `wpbackup run` on the
//! simulator, and the generated points copy their restore metadata.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const POLICIES: [(&str, &str, &str); 5] = [
    ("web", "ec2-instance", "ec2-ami"),
    ("db", "aurora-cluster", "aurora-cluster-snapshot"),
    ("files", "efs", "efs-recovery-point"),
    ("media", "s3-bucket", "s3-checkpoint"),
    ("assets", "s3-bucket", "s3-checkpoint"),
];

/// A configuration with one site, `site-<index>`, on the simulator.
fn write_config(dir: &Path, index: usize) -> String {
    let site = format!("site-{index:05}");
    std::fs::write(
        dir.join("wpbackup.toml"),
        format!(
            "version = 1\ncatalog = \"catalog.db\"\n\n[sim]\nstate_file = \"sim.json\"\n\
             creating_for = \"0s\"\npoll_interval = \"10ms\"\n\n\
             [[sites]]\nname = \"{site}\"\nprovider = \"sim\"\nregion = \"us-east-1\"\n\
             dr_region = \"us-west-2\"\npolicies = \"policies\"\n\n[sites.entry_point]\n\
             ec2_elastic_ip_allocation = \"eipalloc-{index:017x}\"\n\n[sites.health_check]\n\
             url = \"https://{site}.example.com/wp-login.php\"\n"
        ),
    )
    .unwrap();
    let pdir = dir.join("policies");
    std::fs::create_dir_all(&pdir).unwrap();
    for (name, kind, _) in POLICIES {
        let settings = match kind {
            "ec2-instance" => format!("[ec2]\ninstance_id = \"i-{index:017x}\"\n"),
            "aurora-cluster" => {
                format!("[aurora]\ncluster_identifier = \"{site}-db\"\npitr_days = 7\n")
            }
            "efs" => format!(
                "[efs]\nfile_system_id = \"fs-{index:017x}\"\nvault = \"fleet-vault\"\n\
                 iam_role_arn = \"arn:aws:iam::123456789012:role/backup\"\n"
            ),
            _ => format!("[s3]\nbucket = \"{site}-{name}\"\ndr_bucket = \"{site}-{name}-dr\"\n"),
        };
        std::fs::write(
            pdir.join(format!("{name}.toml")),
            format!(
                "version = 1\nname = \"{name}\"\nkind = \"{kind}\"\nschedule = \"0 2 * * *\"\n\
                 rpo = \"25h\"\n\n[retention]\ndaily = 7\nweekly = 4\n\n{settings}"
            ),
        )
        .unwrap();
    }
    site
}

fn wpbackup(dir: &Path, args: &[&str]) -> (Duration, String) {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_wpbackup"))
        .current_dir(dir)
        .args(["--config", "wpbackup.toml"])
        .args(args)
        .env("WPBACKUP_LOG", "warn")
        .output()
        .unwrap();
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (took, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Sites `0..sites` other than the one already recorded, their components, `per` points of
/// every component (the newest 30 % not deleted; every fifth a DR copy of the one before) and a finished drill of every site. One statement each, in SQLite.
fn generate(dir: &Path, sites: usize, only: Option<usize>, per: usize) {
    let db = dir.join("catalog.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::sqlite::SqliteConnectOptions;
        use sqlx::ConnectOptions;
        let mut conn = SqliteConnectOptions::new()
            .filename(&db)
            .pragma("journal_mode", "WAL")
            .pragma("synchronous", "OFF")
            .connect()
            .await
            .unwrap();
        let (from, to) = match only {
            Some(i) => (i, i),
            None => (0, sites - 1),
        };
        let kinds = serde_json::to_string(
            &POLICIES
                .iter()
                .map(|(n, k, p)| [*n, *k, *p])
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let statements = [
            format!(
                "WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i < {to})
                 INSERT OR IGNORE INTO sites (name, provider, region, dr_region, created_at, updated_at)
                 SELECT printf('site-%05d', i), 'sim', 'us-east-1', 'us-west-2',
                        '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z' FROM n"
            ),
            format!(
                "INSERT OR IGNORE INTO components (site_id, name, kind, resource_id, created_at)
                 SELECT s.id, c.value ->> 0, c.value ->> 1, s.name || '-' || (c.value ->> 0),
                        '2025-01-01T00:00:00.000Z'
                 FROM sites s, json_each('{kinds}') c"
            ),
            // Every component's points in time order, all sites at each instant: 6 hours
            // apart, the newest an hour ago. CROSS JOIN keeps the loops in this order (the
            // instant outermost), so ids follow time as a fleet's daemons write them.
            format!(
                "WITH RECURSIVE k(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM k WHERE k < {last}),
                 template(kind, metadata) AS (
                     SELECT kind, metadata FROM recovery_points GROUP BY kind),
                 kinds(component, point_kind) AS (
                     SELECT DISTINCT c.value ->> 1, c.value ->> 2 FROM json_each('{kinds}') c),
                 rows AS (
                     SELECT k.k, c.id AS component_id, s.name AS site, c.name AS component,
                            kinds.point_kind AS kind, t.metadata,
                            CASE WHEN k.k % 5 = 4 THEN 'us-west-2' ELSE 'us-east-1' END AS region,
                            -- A DR copy holds the instant of the point it copies.
                            k.k - (k.k % 5 = 4) AS of,
                            strftime('%Y-%m-%dT%H:%M:%fZ', 'now',
                                     printf('-%d seconds', ({per} - k.k + (k.k % 5 = 4)) * 21600 - 18000)) AS at
                     FROM k CROSS JOIN components c CROSS JOIN sites s CROSS JOIN kinds
                          CROSS JOIN template t
                     WHERE s.id = c.site_id AND kinds.component = c.kind
                       AND t.kind = kinds.point_kind)
                 INSERT INTO recovery_points (component_id, kind, region, name, provider_id, point_time,
                     state, managed, encrypted, size_bytes, metadata, created_at, completed_at, deleted_at)
                 SELECT component_id, kind, region,
                        printf('wpb-%s-%s-%d', site, component, of),
                        printf('wpb-%s-%s-%d', site, component, of), at,
                        CASE WHEN k * 10 < {per} * 7 THEN 'deleted' ELSE 'available' END,
                        1, 1, 1048576 * (1 + k % 7), metadata, at,
                        strftime('%Y-%m-%dT%H:%M:%fZ', at, '+10 minutes'),
                        CASE WHEN k * 10 < {per} * 7
                             THEN strftime('%Y-%m-%dT%H:%M:%fZ', at, '+20 days') END
                 FROM rows",
                last = per - 1,
                kinds = kinds,
            ),
            "UPDATE recovery_points AS d SET source_point_id = p.id
             FROM recovery_points p
             WHERE d.region = 'us-west-2' AND d.source_point_id IS NULL AND d.name LIKE 'wpb-site-%'
               AND p.region = 'us-east-1' AND p.kind = d.kind AND p.provider_id = d.provider_id"
                .to_string(),
            // A finished drill of every site: 15 steps of 1 to 15 minutes.
            "INSERT INTO restore_plans (id, site_id, purpose, target_time, to_region, plan_version,
                 plan, status, created_at, updated_at)
             SELECT 'rp-bench-' || s.name, s.id, 'drill', '2026-01-01T00:00:00.000Z', 'us-west-2',
                    1, '{}', 'torn-down', '2026-01-01T00:00:00.000Z', '2026-01-01T01:00:00.000Z'
             FROM sites s"
                .to_string(),
            "WITH RECURSIVE k(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM k WHERE k < 15)
             INSERT INTO restore_steps (plan_id, step_key, state, started_at, finished_at)
             SELECT p.id, 'step' || k || '.action' || (k % 5), 'done', '2026-01-01T00:00:00.000Z',
                    strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01T00:00:00.000Z', printf('+%d minutes', k))
             FROM restore_plans p, k WHERE p.id LIKE 'rp-bench-%'"
                .to_string(),
        ];
        for s in statements {
            sqlx::query(&s).execute(&mut conn).await.unwrap();
        }
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .unwrap();
    });
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A fresh directory with the site's configuration, its first points taken by `wpbackup
/// run` on the simulator, then the generated rows (the whole fleet, or only the site).
fn catalog(sites: usize, index: usize, per: usize, fleet: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let site = write_config(dir.path(), index);
    wpbackup(dir.path(), &["run", "--all", "--site", &site, "--no-prune"]);
    let t = Instant::now();
    generate(dir.path(), sites, (!fleet).then_some(index), per);
    let size = std::fs::metadata(dir.path().join("catalog.db"))
        .unwrap()
        .len();
    println!(
        "{}: written in {:.1} s, {:.0} MB",
        if fleet {
            format!("fleet catalog ({sites} sites × 5 components × {per} points)")
        } else {
            format!("reference catalog ({site} only, the same rows)")
        },
        t.elapsed().as_secs_f64(),
        size as f64 / 1e6
    );
    dir
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark: run with `cargo bench --bench site_read`");
        return;
    }
    let sites: usize = env_or("WPBACKUP_BENCH_SITES", 10_000);
    let per: usize = env_or("WPBACKUP_BENCH_POINTS", 100);
    let index = sites / 2;
    let site = format!("site-{index:05}");
    let fleet = catalog(sites, index, per, true);
    let alone = catalog(sites, index, per, false);
    if std::env::var_os("WPBACKUP_BENCH_KEEP").is_some() {
        println!(
            "kept (WPBACKUP_BENCH_KEEP): {} and {}",
            fleet.path().display(),
            alone.path().display()
        );
    }
    // Two days ago: between generated points, every component has a choice.
    let at = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    let commands: [(&str, Vec<&str>); 3] = [
        (
            "restore --at (plan printed)",
            vec!["restore", "--site", &site, "--at", &at],
        ),
        ("points --site", vec!["points", "--site", &site]),
        (
            "points --site --at",
            vec!["points", "--site", &site, "--at", &at],
        ),
    ];
    println!("\n{site}, wpbackup binary, process start to output, median of 7:");
    for (what, args) in &commands {
        let (_, big) = wpbackup(fleet.path(), args);
        let (_, small) = wpbackup(alone.path(), args);
        // The same rows give the same output (the plan's identity and times aside).
        assert_eq!(
            big.lines().count(),
            small.lines().count(),
            "{what}: fleet\n{big}\nalone\n{small}"
        );
        let on_fleet = median((0..7).map(|_| wpbackup(fleet.path(), args).0).collect());
        let on_site = median((0..7).map(|_| wpbackup(alone.path(), args).0).collect());
        println!(
            "  {what:<28} fleet catalog {:>7.1} ms; reference (the site alone) {:>6.1} ms; \
             fleet ÷ reference = {:.2} ({} lines)",
            on_fleet.as_secs_f64() * 1e3,
            on_site.as_secs_f64() * 1e3,
            on_fleet.as_secs_f64() / on_site.as_secs_f64(),
            big.lines().count()
        );
    }
    let (version, _) = wpbackup(fleet.path(), &["--version"]);
    println!(
        "  (`wpbackup --version`: {:.1} ms)",
        version.as_secs_f64() * 1e3
    );
    if std::env::var_os("WPBACKUP_BENCH_KEEP").is_some() {
        std::mem::forget((fleet, alone));
    }
}
