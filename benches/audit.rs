//! An audit of a catalog of 1,000,000 points across 10,000 components (target: under 2 s).
//! First in memory: grouping the points, every control for every component (RPO, policy,
//! DR copy, retention compliance, encryption, failed runs, live settings), drills, waste,
//! the timelines, and rendering the JSON and HTML reports. Then end to end: the site in a
//! real catalog file (with 800,000 runs), audited through `Engine::audit` as the command
//! does, once as wpbackup keeps a catalog (retention applied) and once with every point
//! still available (retention never ran). Run with `cargo bench --bench audit`; prints its
//! figures (no assertions on time).

use chrono::{TimeZone, Utc};
use std::time::Instant;
use wpbackup::cli::audit_report::{render, Format};
use wpbackup::domain::audit::{
    audit, AuditFacts, AuditParams, ComponentFacts, Inventory, RunFacts, SettingCheck,
};
use wpbackup::domain::model::RunPhase;
use wpbackup::domain::planner::PointsByComponent;

#[path = "common/fixture.rs"]
mod fixture;
#[path = "common/reference.rs"]
mod reference;

// The allocator the `wpbackup` binary uses (src/main.rs), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark: run with `cargo bench --bench audit`");
        return;
    }
    // WPBACKUP_BENCH_TRACE=sqlx=debug: every statement with its elapsed time, on stderr.
    if let Ok(filter) = std::env::var("WPBACKUP_BENCH_TRACE") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
    let policies = fixture::policies();
    let points = fixture::points(&policies, now);
    let runs: Vec<RunFacts> = (0..20)
        .map(|i| RunFacts {
            id: i,
            started_at: now - chrono::Duration::hours(6 * i),
            phase: RunPhase::Completed,
            failure_reason: None,
        })
        .collect();
    let settings = vec![SettingCheck {
        setting: "aurora.backup_retention_days".into(),
        expected: ">= 7".into(),
        actual: "7".into(),
        ok: true,
    }];
    let params = AuditParams::default();
    let mut runs_ms = Vec::new();
    for _ in 0..5 {
        let flat = points.clone();
        let t = Instant::now();
        let grouped = PointsByComponent::new(flat);
        let facts = AuditFacts {
            site: "shop",
            primary_region: "us-east-1",
            as_of: now,
            components: policies
                .iter()
                .map(|p| ComponentFacts {
                    policy: p,
                    points: grouped.of(&p.name),
                    runs: &runs,
                    missed: &[],
                    live: Some(Ok(settings.clone())),
                })
                .collect(),
            drills: &[],
            drill_leftovers: vec![],
            stagings: &[],
            unfinished_plans: &[],
            inventory: Some(Inventory::default()),
            guards: &Default::default(),
            served: vec![],
        };
        let report = audit(&facts, &params, now);
        let audited = t.elapsed();
        let json = render(&report, Format::Json, None);
        let html = render(&report, Format::Html, None);
        let elapsed = t.elapsed();
        println!(
            "audited {} components over {} points: {} findings in {elapsed:.2?} (controls {audited:.2?}, JSON {} MB and HTML {} MB {:.2?})",
            policies.len(),
            grouped.len(),
            report.findings.len(),
            json.len() >> 20,
            html.len() >> 20,
            elapsed - audited
        );
        runs_ms.push(elapsed);
    }
    runs_ms.sort();
    let median = runs_ms[runs_ms.len() / 2];
    println!("median (in memory): {median:.2?} (target: under 2 s)");
    let n = points.len();
    reference::print_ratio("the audit in memory", median, n, reference::sort_keys(n));

    // End to end: the same site in a real catalog file, audited as `wpbackup audit` does.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(end_to_end(&policies, &points, now));
}

/// Write the site into a SQLite catalog (points, one completed run per primary point),
/// then time `Engine::audit` — catalog reads, live settings and inventory (simulator),
/// every control, storing the audit with `--since-last` — and rendering its report:
/// first as wpbackup keeps a catalog (retention applied after every run: the points it
/// removed are deleted rows), then as a catalog where retention never ran (every point
/// still available; the worst case).
async fn end_to_end(
    policies: &[wpbackup::domain::policy::Policy],
    points: &[wpbackup::domain::model::RecoveryPoint],
    now: chrono::DateTime<Utc>,
) {
    use std::sync::Arc;
    use wpbackup::catalog::{Catalog, PointRecord};
    use wpbackup::domain::retention::{prune_plan, Action, Guards};
    use wpbackup::domain::site::{Config, EntryPoint, HealthCheck, Provider, SimSettings, Site};
    use wpbackup::engine::audit::AuditRequest;
    use wpbackup::engine::Engine;

    let dir = tempfile::tempdir().unwrap();
    let catalog_path = dir.path().join("bench.db");
    let catalog = Catalog::open(&catalog_path, true).await.unwrap();
    let site = Site {
        name: "shop".into(),
        provider: Provider::Sim,
        region: "us-east-1".into(),
        dr_region: "us-west-2".into(),
        timezone: chrono_tz::UTC,
        policies_dir: dir.path().into(),
        entry_point: EntryPoint::Ec2ElasticIp {
            allocation_id: "eipalloc-1".into(),
        },
        health_check: HealthCheck {
            url: "https://shop.example.com/wp-login.php".into(),
            expect_status: 200,
            timeout: std::time::Duration::from_secs(10),
            attempts: 10,
            interval: None,
        },
        drill: Default::default(),
        dr_network: Default::default(),
        cloudfront_distribution_id: None,
        aws: Default::default(),
        audit: AuditParams::default(),
        policies: policies.to_vec(),
    };
    let t = Instant::now();
    let site_id = catalog.upsert_site(&site, now).await.unwrap();
    let mut ids = std::collections::HashMap::new();
    for p in policies {
        let id = catalog.upsert_component(site_id, p, now).await.unwrap();
        catalog.record_policy(id, &p.source, now).await.unwrap();
        ids.insert(p.name.clone(), id);
    }
    // In transactions of 10,000 points, as a large import would write them.
    let records: Vec<PointRecord> = points
        .iter()
        .map(|p| PointRecord {
            component_id: ids[&p.component],
            run_id: None,
            kind: p.kind,
            region: p.region.clone(),
            name: p.name.clone(),
            provider_id: p.provider_id.clone(),
            arn: None,
            point_time: p.point_time,
            state: p.state,
            source_point_id: None,
            managed: true,
            metadata: p.metadata.clone(),
            failure_reason: None,
            created_at: p.created_at,
        })
        .collect();
    let mut point_ids = Vec::with_capacity(records.len());
    for chunk in records.chunks(10_000) {
        point_ids.extend(catalog.upsert_points(chunk, now).await.unwrap());
    }
    // Retention as the daemon applies it after each run: what the rules remove is deleted.
    let grouped = PointsByComponent::new(
        points
            .iter()
            .zip(&point_ids)
            .map(|(p, id)| {
                let mut p = p.clone();
                p.id = *id;
                p
            })
            .collect(),
    );
    let removed: Vec<i64> = policies
        .iter()
        .flat_map(|p| {
            prune_plan(p, "us-east-1", grouped.of(&p.name), &Guards::default(), now)
                .into_iter()
                .filter(|d| d.action == Action::Remove)
                .map(|d| d.point_id)
        })
        .collect();
    // Runs and deletions straight in SQL: the catalog has no bulk API for them.
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", catalog_path.display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO runs (component_id, policy_id, trigger, scheduled_for, started_at,
                           finished_at, phase, points_created)
         SELECT p.component_id, pol.id, 'schedule', p.point_time, p.point_time, p.point_time,
                'Completed', 1
         FROM recovery_points p JOIN policies pol ON pol.component_id = p.component_id
         WHERE p.region = 'us-east-1' ORDER BY p.point_time, p.component_id",
    )
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE recovery_points SET state = 'deleted', deleted_at = ?2
         WHERE id IN (SELECT value FROM json_each(?1))",
    )
    .bind(serde_json::to_string(&removed).unwrap())
    .bind(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    .execute(&db)
    .await
    .unwrap();
    println!(
        "wrote a catalog of {} points ({} deleted by retention) and {} runs in {:.2?}",
        points.len(),
        removed.len(),
        points.len() * 4 / 5,
        t.elapsed()
    );

    let config = Config {
        path: dir.path().join("wpbackup.toml"),
        catalog: wpbackup::catalog::CatalogLocation::Sqlite(catalog_path.clone()),
        limits: Default::default(),
        sim: SimSettings {
            state_file: dir.path().join("sim.json"),
            creating_for: std::time::Duration::ZERO,
            poll_interval: std::time::Duration::from_secs(1),
            restore_durations: Default::default(),
        },
        sites: vec![site],
    };
    let mut engine = Engine::new(config, catalog);
    engine.clock = Arc::new(wpbackup::domain::time::ManualClock::new(now));
    engine.sim_memory = Some(Default::default());
    let request = AuditRequest {
        site: "shop".into(),
        as_of: None,
        since_last: true,
        store: true,
    };
    for scenario in ["retention applied", "retention never ran"] {
        if scenario == "retention never ran" {
            sqlx::query("UPDATE recovery_points SET state = 'available', deleted_at = NULL")
                .execute(&db)
                .await
                .unwrap();
        }
        let mut json_runs = Vec::new();
        let mut html_runs = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let outcome = engine.audit(&request).await.unwrap();
            let audited = t.elapsed();
            let json = render(&outcome.report, Format::Json, None);
            let with_json = t.elapsed();
            let t_html = Instant::now();
            let html = render(&outcome.report, Format::Html, None);
            let with_html = audited + t_html.elapsed();
            println!(
                "{scenario}: audit in {audited:.2?} ({} findings, stored); \
                 + JSON ({} MB) {with_json:.2?}; + HTML ({} MB) {with_html:.2?}",
                outcome.report.findings.len(),
                json.len() >> 20,
                html.len() >> 20,
            );
            json_runs.push(with_json);
            html_runs.push(with_html);
        }
        json_runs.sort();
        html_runs.sort();
        println!(
            "median end to end, {scenario}: {:.2?} with the JSON report, {:.2?} with the HTML report (target: under 2 s)",
            json_runs[2], html_runs[2]
        );
    }
}
