//! Retention over a catalog of 1,000,000 points across 10,000 components (target: < 1 s).
//! Run with `cargo bench --bench retention`; prints its figures (no assertions on time).

use chrono::{Duration, TimeZone, Utc};
use std::time::Instant;
use wpbackup::domain::model::{
    ComponentKind, PointKind, PointState, RecoveryPoint, RestoreMetadata,
};
use wpbackup::domain::planner::PointsByComponent;
use wpbackup::domain::policy::{DrCopy, Hooks, Policy, PolicySource, Retention, Target};
use wpbackup::domain::retention::{prune_plan, Action, Guards};
use wpbackup::domain::schedule::CronSchedule;

#[path = "common/reference.rs"]
mod reference;

// The allocator the `wpbackup` binary uses (src/main.rs), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark: run with `cargo bench --bench retention`");
        return;
    }
    let components = 10_000;
    let per_component = 100; // 80 primary + 20 DR copies
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
    let policy = |name: String| Policy {
        name,
        kind: ComponentKind::AuroraCluster,
        description: None,
        schedule: CronSchedule::parse("0 */6 * * *", chrono_tz::UTC).unwrap(),
        rpo: std::time::Duration::from_secs(6 * 3600),
        wait_timeout: std::time::Duration::from_secs(3600),
        retention: Retention {
            keep_last: Some(4),
            daily: Some(7),
            weekly: Some(4),
            monthly: Some(6),
            ..Default::default()
        },
        dr_copies: vec![DrCopy {
            region: "us-west-2".into(),
            retention: Retention {
                daily: Some(7),
                ..Default::default()
            },
            vault: None,
        }],
        hooks: Hooks::default(),
        tags: Default::default(),
        target: Target::AuroraCluster {
            cluster_identifier: "c".into(),
            pitr_days: 7,
        },
        source: PolicySource {
            path: "p.toml".into(),
            content_hash: String::new(),
            body: String::new(),
        },
    };
    let t0 = Instant::now();
    let mut points = Vec::with_capacity(components * per_component);
    let mut id = 0i64;
    for c in 0..components {
        for i in 0..per_component {
            id += 1;
            let region = if i < 80 { "us-east-1" } else { "us-west-2" };
            let t = now - Duration::hours(6 * (i as i64 % 80));
            points.push(RecoveryPoint {
                id,
                site: "shop".into(),
                component: format!("c{c}"),
                component_kind: ComponentKind::AuroraCluster,
                kind: PointKind::AuroraClusterSnapshot,
                region: region.into(),
                name: String::new(),
                provider_id: String::new(),
                arn: None,
                point_time: t,
                state: PointState::Available,
                source_point_id: None,
                run_id: None,
                managed: true,
                metadata: RestoreMetadata::default(),
                failure_reason: None,
                created_at: t,
                completed_at: Some(t),
            });
        }
    }
    println!(
        "built {} points across {components} components in {:.2?}",
        points.len(),
        t0.elapsed()
    );
    let policies: Vec<Policy> = (0..components).map(|c| policy(format!("c{c}"))).collect();

    let mut runs = Vec::new();
    for _ in 0..3 {
        // The points as the catalog hands them over, by component (its points_by_component
        // orders them so), read outside the timer: the catalog's reads are
        // benches/audit.rs's business.
        let mut input = points.clone();
        input.sort_by(|a, b| {
            (&a.component, a.point_time, a.id).cmp(&(&b.component, b.point_time, b.id))
        });
        let t = Instant::now();
        // Grouped as `wpbackup prune` groups them: one index of slices, no copies.
        let by_component = PointsByComponent::new(input);
        let grouped = t.elapsed();
        let guards = Guards::default();
        let mut removed = 0usize;
        let mut decided = 0usize;
        for pol in &policies {
            let d = prune_plan(pol, "us-east-1", by_component.of(&pol.name), &guards, now);
            decided += d.len();
            removed += d.iter().filter(|d| d.action == Action::Remove).count();
        }
        let elapsed = t.elapsed();
        println!(
            "retention decided {decided} points ({removed} to remove) in {elapsed:.2?} (grouping {grouped:.2?})"
        );
        runs.push(elapsed);
        let t = Instant::now();
        drop(by_component);
        println!("  then {:.2?} freeing the points", t.elapsed());
    }
    runs.sort();
    println!("median: {:.2?} (target: under 1 s)", runs[1]);
    let n = points.len();
    reference::print_ratio("retention", runs[1], n, reference::sort_keys(n));
}
