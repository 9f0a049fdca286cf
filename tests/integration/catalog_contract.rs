//! The catalog contract: one suite of stories run against every implementation of the
//! catalog port — a SQLite file, a database on the throwaway PostgreSQL server that
//! `scripts/test.sh` starts, and the catalog in memory that `simulate` runs on. Every operation of `CatalogStore` is exercised here; what is
//! particular to one backend (SQLite's WAL, its migrations) is in `catalog.rs`.

use super::catalog::{shop, t};
use chrono::Duration as Days;
use std::time::Duration;
use wpbackup::catalog::{Catalog, CatalogLocation, PointFilter, PointRecord, RunOutcome};
use wpbackup::domain::audit::{Report, Status};
use wpbackup::domain::model::{PointKind, PointState, RestoreMetadata, RunPhase};
use wpbackup::domain::restore_plan::{Plan, PlanStatus, StepState};

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
    Memory,
}

impl Backend {
    /// A new, empty catalog (and the directory that holds a SQLite file).
    async fn fresh(self) -> (Catalog, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let location = match self {
            Backend::Sqlite => CatalogLocation::Sqlite(dir.path().join("c.db")),
            Backend::Postgres => {
                CatalogLocation::Postgres(super::support::postgres_database().await)
            }
            Backend::Memory => memory_location(&dir),
        };
        let catalog = Catalog::connect(&location, true)
            .await
            .unwrap_or_else(|e| panic!("{self:?} catalog opens: {e}"));
        (catalog, dir)
    }
}

/// A memory catalog's name of its own, from the test's directory.
fn memory_location(dir: &tempfile::TempDir) -> CatalogLocation {
    CatalogLocation::Memory(dir.path().display().to_string())
}

/// Each story as three tests, `sqlite::story`, `postgres::story` and `memory::story`.
macro_rules! on_every_backend {
    ($($story:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $story() {
                super::$story(super::Backend::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $story() {
                super::$story(super::Backend::Postgres).await
            })*
        }
        mod memory {
            $(#[tokio::test]
            async fn $story() {
                super::$story(super::Backend::Memory).await
            })*
        }
    };
}

on_every_backend!(
    a_new_catalog_has_the_newest_schema_and_keeps_its_identity,
    a_database_without_a_catalog_is_not_created_by_readers,
    records_sites_policies_runs_and_points,
    two_connections_share_the_catalog,
    many_points_are_written_all_or_none_and_read_as_of_an_instant,
    runs_are_skipped_interrupted_and_failed_and_read_back_after_a_restart,
    holds_and_deletions_are_recorded,
    one_daemon_holds_the_lease,
    metrics_count_runs_points_and_missed_fires,
    audits_are_stored_and_read_back_with_the_runs_they_count,
    restore_plans_steps_and_adoptions_round_trip,
    one_restore_at_a_time,
    each_fire_is_claimed_once_and_a_dead_daemons_fires_are_taken_over,
    backups_share_a_site_and_a_restore_has_it_alone,
);

/// A recorded site with its `db` component and that policy's row: (site id, component, policy).
async fn shop_db(catalog: &Catalog) -> (wpbackup::domain::site::Site, i64, i64, tempfile::TempDir) {
    let (dir, site) = shop();
    let site_id = catalog.upsert_site(&site, t(12, 0)).await.unwrap();
    let db = site.policy("db").unwrap();
    let comp = catalog
        .upsert_component(site_id, db, t(12, 0))
        .await
        .unwrap();
    let pol = catalog
        .record_policy(comp, &db.source, t(12, 0))
        .await
        .unwrap();
    (site, comp, pol, dir)
}

fn point(component_id: i64, run_id: Option<i64>, id: &str, h: u32) -> PointRecord {
    PointRecord {
        component_id,
        run_id,
        kind: PointKind::AuroraClusterSnapshot,
        region: "us-east-1".into(),
        name: format!("wpb-shop-db-{id}"),
        provider_id: id.into(),
        arn: None,
        point_time: t(h, 0),
        state: PointState::Available,
        source_point_id: None,
        managed: true,
        metadata: RestoreMetadata {
            encrypted: Some(true),
            size_bytes: Some(5 << 30),
            ..Default::default()
        },
        failure_reason: None,
        created_at: t(h, 0),
    }
}

async fn a_new_catalog_has_the_newest_schema_and_keeps_its_identity(backend: Backend) {
    let (catalog, _file) = backend.fresh().await;
    let newest = match backend {
        Backend::Sqlite | Backend::Memory => wpbackup::catalog::supported_schema_version(),
        Backend::Postgres => wpbackup::catalog::supported_postgres_schema_version(),
    };
    assert_eq!(catalog.schema_version().await.unwrap(), newest);
    let id = catalog.identity().await.unwrap();
    assert_eq!(id.len(), 32, "a 128-bit id in hex: {id}");
    catalog.close().await;
    let again = Catalog::connect(catalog.location(), false).await.unwrap();
    assert_eq!(again.identity().await.unwrap(), id, "made once, kept");
}

async fn a_database_without_a_catalog_is_not_created_by_readers(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let location = match backend {
        Backend::Sqlite => CatalogLocation::Sqlite(dir.path().join("none.db")),
        Backend::Postgres => CatalogLocation::Postgres(super::support::postgres_database().await),
        Backend::Memory => memory_location(&dir),
    };
    let err = match Catalog::connect(&location, false).await {
        Ok(_) => panic!("a reader opened an empty {backend:?} catalog"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("wpbackup run"), "{err}");
    // Still nothing there: the creating open finds no schema and makes version 1 onwards.
    let catalog = Catalog::connect(&location, true).await.unwrap();
    assert!(catalog.schema_version().await.unwrap() >= 1);
}

async fn runs_are_skipped_interrupted_and_failed_and_read_back_after_a_restart(backend: Backend) {
    let (catalog, _file) = backend.fresh().await;
    let (_site, comp, pol, _dir) = shop_db(&catalog).await;
    assert_eq!(catalog.last_scheduled_fire(comp).await.unwrap(), None);
    let done = catalog
        .start_run(comp, pol, "schedule", t(1, 0), t(1, 0))
        .await
        .unwrap();
    catalog
        .finish_run(done, RunPhase::Completed, &RunOutcome::default(), t(1, 5))
        .await
        .unwrap();
    let skipped = catalog
        .record_skipped_run(
            comp,
            pol,
            "schedule",
            t(2, 0),
            t(2, 1),
            "missed: the daemon was down",
        )
        .await
        .unwrap();
    assert_eq!(
        catalog.last_scheduled_fire(comp).await.unwrap(),
        Some(t(2, 0)),
        "a skipped fire was dealt with"
    );
    // A fire a crash interrupted does not count, and its attempts are counted.
    let crashed = catalog
        .start_run(comp, pol, "schedule", t(3, 0), t(3, 0))
        .await
        .unwrap();
    assert_eq!(catalog.runs_in_progress().await.unwrap().len(), 1);
    let p = catalog
        .upsert_point(&point(comp, Some(crashed), "snap-crashed", 3), t(3, 1))
        .await
        .unwrap();
    assert_eq!(
        catalog
            .points_of_run(crashed)
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect::<Vec<_>>(),
        vec![p]
    );
    // A later run adopting the same point (same provider id) becomes its run: the
    // recovery of that run, should it be interrupted too, finds the point.
    let adopting = catalog
        .start_run(comp, pol, "manual", t(3, 0), t(3, 1))
        .await
        .unwrap();
    let mut again = point(comp, Some(adopting), "snap-crashed", 3);
    again.state = PointState::Creating;
    assert_eq!(catalog.upsert_point(&again, t(3, 1)).await.unwrap(), p);
    assert_eq!(
        catalog.points_of_run(adopting).await.unwrap()[0].id,
        p,
        "the adopting run's point"
    );
    assert!(catalog.points_of_run(crashed).await.unwrap().is_empty());
    catalog
        .mark_interrupted(adopting, "killed too", t(3, 2))
        .await
        .unwrap();
    catalog
        .mark_interrupted(crashed, "the daemon died", t(3, 2))
        .await
        .unwrap();
    assert_eq!(
        catalog.interrupted_attempts(comp, t(3, 0)).await.unwrap(),
        1
    );
    assert_eq!(
        catalog.last_scheduled_fire(comp).await.unwrap(),
        Some(t(2, 0))
    );
    assert!(catalog.runs_in_progress().await.unwrap().is_empty());
    // A run this process left in progress is closed as failed, once.
    let own = catalog
        .start_run(comp, pol, "schedule", t(4, 0), t(4, 0))
        .await
        .unwrap();
    assert_eq!(
        catalog
            .fail_own_unfinished_run(comp, t(4, 0), "the task panicked", t(4, 1))
            .await
            .unwrap(),
        Some(own)
    );
    assert_eq!(
        catalog
            .fail_own_unfinished_run(comp, t(4, 0), "again", t(4, 2))
            .await
            .unwrap(),
        None
    );
    let runs = catalog.runs(None, None, 10).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| (r.id, r.phase)).collect::<Vec<_>>(),
        vec![
            (own, RunPhase::Failed),
            (adopting, RunPhase::Interrupted),
            (crashed, RunPhase::Interrupted),
            (skipped, RunPhase::Skipped),
            (done, RunPhase::Completed)
        ],
        "newest first"
    );
    assert_eq!(catalog.runs(None, None, 2).await.unwrap().len(), 2);
    assert!(catalog
        .runs(Some("other"), None, 10)
        .await
        .unwrap()
        .is_empty());
    let one = catalog.run_by_id(skipped).await.unwrap().unwrap();
    assert_eq!(
        one.failure_reason.as_deref(),
        Some("missed: the daemon was down")
    );
    assert_eq!(one.scheduled_for, t(2, 0));
    assert_eq!(one.finished_at, Some(t(2, 1)));
    assert!(catalog.run_by_id(9_999).await.unwrap().is_none());
}

async fn holds_and_deletions_are_recorded(backend: Backend) {
    let (catalog, _file) = backend.fresh().await;
    let (_site, comp, _pol, _dir) = shop_db(&catalog).await;
    assert_eq!(
        catalog.component_id("shop", "db").await.unwrap(),
        Some(comp)
    );
    assert_eq!(catalog.component_id("shop", "nope").await.unwrap(), None);
    let p = catalog
        .upsert_point(&point(comp, None, "snap-1", 1), t(1, 0))
        .await
        .unwrap();
    let whole = catalog
        .add_hold(comp, None, "legal", t(2, 0), None)
        .await
        .unwrap();
    let one = catalog
        .add_hold(comp, Some(p), "investigation", t(2, 0), Some(t(5, 0)))
        .await
        .unwrap();
    let active = |h| {
        let catalog = &catalog;
        async move {
            catalog
                .holds(Some(t(h, 0)))
                .await
                .unwrap()
                .iter()
                .map(|h| h.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(active(3).await, vec![one, whole], "newest first");
    assert_eq!(
        active(6).await,
        vec![whole],
        "the point's hold expired at 5:00"
    );
    let all = catalog.holds(None).await.unwrap();
    let held = all.iter().find(|h| h.id == one).unwrap();
    assert_eq!(held.point_name.as_deref(), Some("wpb-shop-db-snap-1"));
    assert_eq!(
        (held.site.as_str(), held.component.as_str()),
        ("shop", "db")
    );
    assert_eq!(held.expires_at, Some(t(5, 0)));
    assert!(catalog.release_hold(whole, t(4, 0)).await.unwrap());
    assert!(
        !catalog.release_hold(whole, t(4, 1)).await.unwrap(),
        "released once"
    );
    assert_eq!(active(4).await, vec![one]);

    let failed = catalog
        .begin_deletion(p, "retention: keep 7 daily", t(7, 0))
        .await
        .unwrap();
    assert_eq!(
        catalog.point(p).await.unwrap().unwrap().state,
        PointState::Deleting
    );
    catalog
        .finish_deletion(failed, p, Some("throttled"), t(7, 1))
        .await
        .unwrap();
    assert_eq!(
        catalog.point(p).await.unwrap().unwrap().state,
        PointState::Deleting,
        "a failed deletion is retried by the next prune"
    );
    let retried = catalog
        .begin_deletion(p, "retention: keep 7 daily", t(8, 0))
        .await
        .unwrap();
    catalog
        .finish_deletion(retried, p, None, t(8, 1))
        .await
        .unwrap();
    assert_eq!(
        catalog.point(p).await.unwrap().unwrap().state,
        PointState::Deleted
    );
    let history = catalog.deletions_of(p).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].2, "failed");
    assert_eq!(history[0].3.as_deref(), Some("throttled"));
    assert_eq!(history[1].2, "deleted");
    assert_eq!(history[1].0, "2026-11-27T08:00:00.000Z");
}

async fn one_daemon_holds_the_lease(backend: Backend) {
    let (catalog, _file) = backend.fresh().await;
    let ttl = Duration::from_secs(60);
    assert!(catalog.current_lease().await.unwrap().is_none());
    assert!(catalog
        .acquire_lease("a", 1, t(1, 0), ttl)
        .await
        .unwrap()
        .is_ok());
    let refused = catalog.acquire_lease("b", 2, t(1, 0), ttl).await.unwrap();
    assert_eq!(refused.unwrap_err().holder, "a");
    assert!(catalog.renew_lease("a", t(1, 1), ttl).await.unwrap());
    assert!(!catalog.renew_lease("b", t(1, 1), ttl).await.unwrap());
    let lease = catalog.current_lease().await.unwrap().unwrap();
    assert_eq!(lease.heartbeat_at, "2026-11-27T01:01:00.000Z");
    assert_eq!(lease.expires_at, "2026-11-27T01:02:00.000Z");
    // Expired: another daemon takes it.
    assert!(catalog
        .acquire_lease("b", 2, t(1, 3), ttl)
        .await
        .unwrap()
        .is_ok());
    assert!(
        !catalog.renew_lease("a", t(1, 3), ttl).await.unwrap(),
        "a lost it"
    );
    assert!(catalog
        .take_over_lease("b", "c", 3, t(1, 4), ttl)
        .await
        .unwrap());
    assert!(!catalog
        .take_over_lease("b", "d", 4, t(1, 4), ttl)
        .await
        .unwrap());
    catalog.release_lease("b").await.unwrap();
    assert_eq!(
        catalog.current_lease().await.unwrap().unwrap().holder,
        "c",
        "not b's to release"
    );
    catalog.release_lease("c").await.unwrap();
    assert!(catalog.current_lease().await.unwrap().is_none());
}

async fn metrics_count_runs_points_and_missed_fires(backend: Backend) {
    let (catalog, _file) = backend.fresh().await;
    let (_site, comp, pol, _dir) = shop_db(&catalog).await;
    let run = catalog
        .start_run(comp, pol, "schedule", t(1, 0), t(1, 0))
        .await
        .unwrap();
    catalog
        .upsert_point(&point(comp, Some(run), "snap-1", 1), t(1, 0))
        .await
        .unwrap();
    catalog
        .upsert_point(&point(comp, Some(run), "snap-2", 2), t(2, 0))
        .await
        .unwrap();
    catalog
        .finish_run(run, RunPhase::Completed, &RunOutcome::default(), t(1, 1))
        .await
        .unwrap();
    catalog
        .record_skipped_run(
            comp,
            pol,
            "schedule",
            t(3, 0),
            t(3, 0),
            wpbackup::domain::model::MISSED_FIRE,
        )
        .await
        .unwrap();
    let m = catalog.metrics().await.unwrap();
    assert_eq!(m.last_success, vec![("shop".into(), "db".into(), t(2, 0))]);
    assert_eq!(
        m.runs_by_phase,
        vec![("Completed".into(), 1), ("Skipped".into(), 1)]
    );
    assert_eq!(m.points_by_state, vec![("available".into(), 2)]);
    assert_eq!(m.last_run_seconds, vec![("shop".into(), "db".into(), 60.0)]);
    assert_eq!(m.missed_fires, vec![("shop".into(), "db".into(), 1)]);
    assert_eq!(m.run_failures, vec![], "no run failed yet");

    // A failed run: counted per component, and it is the newest finished run.
    let failed = catalog
        .start_run(comp, pol, "schedule", t(4, 0), t(4, 0))
        .await
        .unwrap();
    catalog
        .finish_run(failed, RunPhase::Failed, &RunOutcome::default(), t(4, 2))
        .await
        .unwrap();
    let m = catalog.metrics().await.unwrap();
    assert_eq!(m.run_failures, vec![("shop".into(), "db".into(), 1)]);
    assert_eq!(
        m.last_run_seconds,
        vec![("shop".into(), "db".into(), 120.0)]
    );
    assert_eq!(m.last_success, vec![("shop".into(), "db".into(), t(2, 0))]);
}

async fn audits_are_stored_and_read_back_with_the_runs_they_count(backend: Backend) {
    let (catalog, _file) = backend.fresh().await;
    let (_site, comp, pol, _dir) = shop_db(&catalog).await;
    // Completed at 1:00, failed at 2:00 and 3:00: the streak counts back to 1:00.
    for (h, phase) in [
        (0, RunPhase::Completed),
        (1, RunPhase::Completed),
        (2, RunPhase::Failed),
        (3, RunPhase::Failed),
    ] {
        let run = catalog
            .start_run(comp, pol, "schedule", t(h, 0), t(h, 0))
            .await
            .unwrap();
        catalog
            .finish_run(run, phase, &RunOutcome::default(), t(h, 1))
            .await
            .unwrap();
    }
    catalog
        .record_skipped_run(
            comp,
            pol,
            "schedule",
            t(4, 0),
            t(4, 0),
            wpbackup::domain::model::MISSED_FIRE,
        )
        .await
        .unwrap();
    let recent = catalog.recent_runs("shop", t(3, 30), 10).await.unwrap();
    assert_eq!(
        recent["db"]
            .iter()
            .map(|r| (r.started_at, r.phase))
            .collect::<Vec<_>>(),
        vec![
            (t(3, 0), RunPhase::Failed),
            (t(2, 0), RunPhase::Failed),
            (t(1, 0), RunPhase::Completed)
        ]
    );
    assert_eq!(
        catalog.recent_runs("shop", t(3, 30), 2).await.unwrap()["db"].len(),
        2
    );
    let missed = catalog
        .missed_fires("shop", t(0, 0), t(5, 0), 5)
        .await
        .unwrap();
    assert_eq!(missed["db"].len(), 1);
    assert!(
        catalog
            .missed_fires("shop", t(4, 0), t(5, 0), 5)
            .await
            .unwrap()
            .is_empty(),
        "since is exclusive"
    );

    let p = catalog
        .upsert_point(&point(comp, None, "snap-1", 1), t(1, 0))
        .await
        .unwrap();
    let states = catalog
        .point_states(
            "shop",
            &[
                (
                    "us-east-1".into(),
                    PointKind::AuroraClusterSnapshot,
                    "snap-1".into(),
                ),
                (
                    "us-east-1".into(),
                    PointKind::AuroraClusterSnapshot,
                    "unknown".into(),
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(
        states[&("us-east-1".to_string(), "snap-1".to_string())],
        PointState::Available
    );
    let light = catalog.points_as_of("shop", t(2, 0)).await.unwrap();
    let got = &light.of("db")[0];
    assert_eq!(
        (got.id, got.metadata.encrypted, got.metadata.size_bytes),
        (p, Some(true), Some(5 << 30))
    );

    let mut report: Report = serde_json::from_str(include_str!("../golden/audit.json")).unwrap();
    report.site = "shop".into();
    let first = catalog.insert_audit(&report).await.unwrap();
    report.created_at += Days::hours(1);
    report.status = Status::Pass;
    let second = catalog.insert_audit(&report).await.unwrap();
    let newest = catalog.last_audit("shop", None).await.unwrap().unwrap();
    assert_eq!((newest.id, newest.status), (second, Status::Pass));
    assert_eq!(
        newest.report.findings, report.findings,
        "findings round-trip"
    );
    assert!(
        newest.report.timelines.is_empty(),
        "timelines are not stored"
    );
    let previous = catalog
        .last_audit("shop", Some(second))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((previous.id, previous.status), (first, Status::Fail));
    assert!(catalog
        .last_audit("shop", Some(first))
        .await
        .unwrap()
        .is_none());
}

async fn each_fire_is_claimed_once_and_a_dead_daemons_fires_are_taken_over(backend: Backend) {
    let (catalog, _file) = backend.fresh().await;
    let (_site, comp, _pol, _dir) = shop_db(&catalog).await;
    let ttl = Duration::from_secs(60);
    let fire = t(2, 0);
    for (holder, pid) in [("a", 1), ("b", 2)] {
        catalog
            .join_daemons(holder, pid, t(1, 0), ttl)
            .await
            .unwrap();
    }
    assert_eq!(
        catalog.claim_fire(comp, fire, "a", t(1, 0)).await.unwrap(),
        Some(0)
    );
    let open = catalog.claimed_fires(None).await.unwrap();
    assert_eq!(
        open.iter()
            .map(|f| (f.holder.as_str(), f.scheduled_for))
            .collect::<Vec<_>>(),
        vec![("a", fire)],
        "the open claims, whoever holds them"
    );
    assert_eq!(
        catalog.claim_fire(comp, fire, "b", t(1, 0)).await.unwrap(),
        None,
        "a holds it"
    );
    assert_eq!(
        catalog.claim_fire(comp, fire, "a", t(1, 0)).await.unwrap(),
        None,
        "once"
    );
    assert!(catalog
        .claimed_fires(Some(t(1, 0)))
        .await
        .unwrap()
        .is_empty());
    // b heartbeats, a does not: at 1:02 a's row has expired and its fire is orphaned.
    assert!(catalog
        .renew_daemon("b", t(1, 1), Duration::from_secs(600))
        .await
        .unwrap());
    let live = catalog.live_daemons(t(1, 2)).await.unwrap();
    assert_eq!(
        live.iter().map(|d| d.holder.as_str()).collect::<Vec<_>>(),
        vec!["b"]
    );
    let orphaned = catalog.claimed_fires(Some(t(1, 2))).await.unwrap();
    assert_eq!(orphaned.len(), 1);
    assert_eq!(
        (
            orphaned[0].holder.as_str(),
            orphaned[0].scheduled_for,
            orphaned[0].component.as_str()
        ),
        ("a", fire, "db")
    );
    assert_eq!(
        catalog.claim_fire(comp, fire, "b", t(1, 2)).await.unwrap(),
        Some(1),
        "taken over"
    );
    assert!(catalog
        .claimed_fires(Some(t(1, 2)))
        .await
        .unwrap()
        .is_empty());
    catalog.finish_fire(comp, fire, "b").await.unwrap();
    catalog.join_daemons("c", 3, t(1, 2), ttl).await.unwrap();
    assert_eq!(
        catalog.claim_fire(comp, fire, "c", t(5, 0)).await.unwrap(),
        None,
        "done stays done"
    );
    // A daemon that leaves hands its open fires to the others at once.
    let next = t(3, 0);
    assert_eq!(
        catalog.claim_fire(comp, next, "b", t(1, 2)).await.unwrap(),
        Some(0)
    );
    catalog.leave_daemons("b").await.unwrap();
    assert!(
        !catalog.renew_daemon("b", t(1, 2), ttl).await.unwrap(),
        "gone"
    );
    assert_eq!(
        catalog.claimed_fires(Some(t(1, 2))).await.unwrap()[0].scheduled_for,
        next
    );
    assert_eq!(
        catalog.claim_fire(comp, next, "c", t(1, 2)).await.unwrap(),
        Some(1)
    );

    // Eight daemons claiming one fire at the same moment: exactly one wins.
    let racing = t(4, 0);
    let mut claims = tokio::task::JoinSet::new();
    for n in 0..8 {
        let catalog = Catalog::connect(catalog.location(), false).await.unwrap();
        claims.spawn(async move {
            let holder = format!("racer-{n}");
            catalog
                .join_daemons(&holder, n, t(3, 59), Duration::from_secs(600))
                .await
                .unwrap();
            catalog
                .claim_fire(comp, racing, &holder, t(4, 0))
                .await
                .unwrap()
        });
    }
    let mut won = 0;
    while let Some(claim) = claims.join_next().await {
        won += usize::from(claim.unwrap().is_some());
    }
    assert_eq!(won, 1);
}

async fn backups_share_a_site_and_a_restore_has_it_alone(backend: Backend) {
    let (catalog, _file) = backend.fresh().await;
    let other = Catalog::connect(catalog.location(), false).await.unwrap();
    let run1 = catalog
        .lock_site("shop", false, false)
        .await
        .unwrap()
        .expect("free");
    let run2 = other
        .lock_site("shop", false, false)
        .await
        .unwrap()
        .expect("shared");
    assert!(
        other
            .lock_site("shop", true, false)
            .await
            .unwrap()
            .is_none(),
        "runs in flight"
    );
    assert!(
        other
            .lock_site("blog", true, false)
            .await
            .unwrap()
            .is_some(),
        "another site"
    );
    // A restore waiting for the runs gets the site once both are done.
    let waiting = {
        let other = Catalog::connect(catalog.location(), false).await.unwrap();
        tokio::spawn(async move { other.lock_site("shop", true, true).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "waits while runs hold the site");
    drop(run1);
    drop(run2);
    let restore = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("taken once the runs are done")
        .unwrap()
        .expect("exclusive");
    let mut refused = None;
    for _ in 0..20 {
        refused = Some(
            catalog
                .lock_site("shop", false, false)
                .await
                .unwrap()
                .is_none(),
        );
        if refused == Some(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(refused, Some(true), "no backup starts during the restore");
    drop(restore);
}

fn plan(id: &str, point_id: i64) -> Plan {
    serde_json::from_value(serde_json::json!({
        "plan_version": 1, "id": id, "site": "shop", "purpose": "restore",
        "at": "2026-11-27T01:00:00Z", "to": "primary", "region": "us-east-1",
        "created_at": "2026-11-27T02:00:00Z",
        "components": [{"component": "db", "kind": "aurora-cluster", "source": "snapshot",
                        "point_id": point_id, "point_time": "2026-11-27T01:00:00Z",
                        "gap_seconds": 0, "rpo_seconds": 3600, "rpo_exceeded": false}],
        "skew_seconds": 0, "warnings": [], "tags": {},
        "steps": [
            {"key": "db.manual", "component": "db", "depends_on": [], "action": "manual",
             "instruction": "look", "calls": [], "expected_seconds": 60, "estimate": "typical"},
            {"key": "site.manual", "component": null, "depends_on": ["db.manual"], "action": "manual",
             "instruction": "look again", "calls": [], "expected_seconds": 60, "estimate": "typical"}
        ]
    }))
    .expect("a plan")
}

async fn restore_plans_steps_and_adoptions_round_trip(backend: Backend) {
    let (catalog, _file) = backend.fresh().await;
    let (_site, comp, _pol, _dir) = shop_db(&catalog).await;
    let site_id = catalog.upsert_site(&shop().1, t(12, 0)).await.unwrap();
    let p = catalog
        .upsert_point(&point(comp, None, "snap-1", 1), t(1, 0))
        .await
        .unwrap();
    let plan = plan("rp-1", p);
    // Key order and spacing of the reviewed JSON are kept byte for byte.
    let json = serde_json::to_string_pretty(&plan).unwrap();
    assert!(catalog
        .insert_plan(site_id, &plan, &json, t(2, 0))
        .await
        .unwrap());
    assert!(
        !catalog
            .insert_plan(site_id, &plan, &json, t(2, 1))
            .await
            .unwrap(),
        "once"
    );
    let stored = catalog.restore_plan("rp-1").await.unwrap().unwrap();
    assert_eq!(stored.plan_json, json);
    assert_eq!(stored.plan().unwrap(), plan);
    assert_eq!(
        (stored.status, stored.target_time),
        (PlanStatus::Planned, t(1, 0))
    );
    assert_eq!(
        catalog.planned_points().await.unwrap(),
        vec![(p, "rp-1".to_string())]
    );
    assert_eq!(
        catalog.restore_plans(Some("shop"), 5).await.unwrap().len(),
        1
    );
    assert!(catalog
        .restore_plans(Some("blog"), 5)
        .await
        .unwrap()
        .is_empty());

    catalog
        .set_plan_status("rp-1", PlanStatus::Executing, t(2, 2))
        .await
        .unwrap();
    catalog
        .start_restore_step("rp-1", "db.manual", t(2, 2))
        .await
        .unwrap();
    let mut outputs = serde_json::Map::new();
    outputs.insert("cluster".into(), "wpb-restored".into());
    catalog
        .record_step_outputs("rp-1", "db.manual", &outputs)
        .await
        .unwrap();
    let steps = catalog.restore_steps("rp-1").await.unwrap();
    assert_eq!(steps[0].state, StepState::Running);
    assert_eq!(steps[0].output("cluster"), Some("wpb-restored"));
    assert_eq!(steps[0].attempts, 1);
    catalog
        .finish_restore_step(
            "rp-1",
            "db.manual",
            StepState::Done,
            &outputs,
            None,
            t(2, 7),
        )
        .await
        .unwrap();
    catalog
        .finish_restore_step(
            "rp-1",
            "site.manual",
            StepState::Failed,
            &serde_json::Map::new(),
            Some("refused"),
            t(2, 8),
        )
        .await
        .unwrap();
    catalog
        .add_restore_step("rp-1", "rollback.db", &["db.manual".to_string()])
        .await
        .unwrap();
    catalog
        .add_restore_step("rp-1", "rollback.db", &[])
        .await
        .unwrap();
    let steps = catalog.restore_steps("rp-1").await.unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.key.as_str(), s.state))
            .collect::<Vec<_>>(),
        vec![
            ("db.manual", StepState::Done),
            ("site.manual", StepState::Failed),
            ("rollback.db", StepState::Pending)
        ],
        "in the plan's order, rollback last"
    );
    assert_eq!(steps[1].error.as_deref(), Some("refused"));
    assert_eq!(
        steps[2].depends_on,
        vec!["db.manual".to_string()],
        "added once"
    );
    assert_eq!(steps[0].finished_at, Some(t(2, 7)));
    assert_eq!(
        catalog.step_duration_history().await.unwrap()["manual"],
        (300, 1)
    );

    catalog
        .adopt(
            "shop",
            "db",
            "wpb-restored",
            "shop-db",
            "us-east-1",
            "rp-1",
            t(2, 7),
        )
        .await
        .unwrap();
    catalog
        .adopt(
            "shop",
            "db",
            "wpb-restored",
            "shop-db",
            "us-east-1",
            "rp-1",
            t(2, 9),
        )
        .await
        .unwrap();
    let serving = catalog.serving("shop").await.unwrap();
    assert_eq!(serving.len(), 1, "recorded once per plan and component");
    assert_eq!(
        (serving[0].resource_id.as_str(), serving[0].since),
        ("wpb-restored", t(2, 7))
    );
    assert_eq!(catalog.end_adoptions("rp-1", t(3, 0)).await.unwrap(), 1);
    assert!(catalog.serving("shop").await.unwrap().is_empty());
    assert_eq!(
        catalog.adoptions_of_plan("rp-1").await.unwrap()[0].ended_at,
        Some(t(3, 0))
    );

    catalog
        .set_plan_status("rp-1", PlanStatus::Completed, t(3, 0))
        .await
        .unwrap();
    assert!(
        catalog.planned_points().await.unwrap().is_empty(),
        "a finished plan pins nothing"
    );
}

async fn one_restore_at_a_time(backend: Backend) {
    let (catalog, _file) = backend.fresh().await;
    let other = Catalog::connect(catalog.location(), false).await.unwrap();
    let held = catalog.try_lock_restores().await.unwrap().expect("free");
    assert!(
        other.try_lock_restores().await.unwrap().is_none(),
        "held by the first"
    );
    drop(held);
    // Released with its guard (PostgreSQL rolls the holding transaction back as the
    // connection goes back to the pool).
    let mut again = None;
    for _ in 0..50 {
        again = other.try_lock_restores().await.unwrap();
        if again.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "free again once dropped");
}
async fn records_sites_policies_runs_and_points(backend: Backend) {
    let (_dir, site) = shop();
    let (catalog, _file) = backend.fresh().await;
    let site_id = catalog.upsert_site(&site, t(12, 0)).await.unwrap();
    assert_eq!(
        catalog.upsert_site(&site, t(12, 1)).await.unwrap(),
        site_id,
        "upsert is idempotent"
    );
    let db = site.policy("db").unwrap();
    let comp = catalog
        .upsert_component(site_id, db, t(12, 0))
        .await
        .unwrap();
    let pol = catalog
        .record_policy(comp, &db.source, t(12, 0))
        .await
        .unwrap();
    assert_eq!(
        catalog
            .record_policy(comp, &db.source, t(13, 0))
            .await
            .unwrap(),
        pol,
        "same text, same policy row"
    );
    let mut changed = db.source.clone();
    changed.content_hash = "different".into();
    assert_ne!(
        catalog
            .record_policy(comp, &changed, t(13, 0))
            .await
            .unwrap(),
        pol
    );

    let run = catalog
        .start_run(comp, pol, "manual", t(14, 0), t(14, 0))
        .await
        .unwrap();
    let own_pid = i64::from(std::process::id());
    assert_eq!(
        catalog.run_in_progress(comp).await.unwrap(),
        Some((run, Some(own_pid)))
    );
    let meta = RestoreMetadata {
        instance_type: Some("db.r6g.large".into()),
        availability_zone: Some("us-east-1a".into()),
        subnet_id: Some("subnet-1".into()),
        security_group_ids: vec!["sg-1".into()],
        size_bytes: Some(1 << 30),
        encrypted: Some(true),
        ..Default::default()
    };
    let record = |region: &str, id: &str, source: Option<i64>, state| PointRecord {
        component_id: comp,
        run_id: Some(run),
        kind: PointKind::AuroraClusterSnapshot,
        region: region.into(),
        name: "wpb-shop-db-20261127t1400z".into(),
        provider_id: id.into(),
        arn: Some(format!("arn:aws:rds:{region}:1:cluster-snapshot:{id}")),
        point_time: t(14, 0),
        state,
        source_point_id: source,
        managed: true,
        metadata: meta.clone(),
        failure_reason: None,
        created_at: t(14, 0),
    };
    let primary = catalog
        .upsert_point(
            &record("us-east-1", "snap-a", None, PointState::Creating),
            t(14, 0),
        )
        .await
        .unwrap();
    // Same provider id again (a retry or a reconcile) updates, never duplicates.
    assert_eq!(
        catalog
            .upsert_point(
                &record("us-east-1", "snap-a", None, PointState::Available),
                t(14, 5)
            )
            .await
            .unwrap(),
        primary
    );
    let copy = catalog
        .upsert_point(
            &record("us-west-2", "snap-a", Some(primary), PointState::Creating),
            t(14, 6),
        )
        .await
        .unwrap();
    catalog
        .set_point_state(copy, PointState::Available, None, t(14, 9))
        .await
        .unwrap();
    catalog
        .finish_run(
            run,
            RunPhase::Completed,
            &RunOutcome {
                points_created: 1,
                copies_created: 1,
                warnings: vec!["w".into()],
                ..Default::default()
            },
            t(14, 10),
        )
        .await
        .unwrap();

    let points = catalog
        .points(&PointFilter {
            site: Some("shop".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(points.len(), 2);
    let p = points.iter().find(|p| p.id == primary).unwrap();
    assert_eq!(p.state, PointState::Available);
    assert_eq!(p.metadata, meta, "restore metadata survives the round trip");
    assert_eq!(p.completed_at, Some(t(14, 5)));
    let c = points.iter().find(|p| p.id == copy).unwrap();
    assert_eq!(c.source_point_id, Some(primary));
    assert_eq!(c.region, "us-west-2");
    assert_eq!(c.completed_at, Some(t(14, 9)));

    let runs = catalog.runs(Some("shop"), Some("db"), 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].phase, RunPhase::Completed);
    assert_eq!(
        runs[0].policy_hash, db.source.content_hash,
        "the run records the policy it ran under"
    );
    assert_eq!(runs[0].warnings, vec!["w".to_string()]);
    assert_eq!(catalog.run_in_progress(comp).await.unwrap(), None);

    // Deleted points drop out of the default listing but stay on record.
    catalog
        .set_point_state(copy, PointState::Deleted, None, t(15, 0))
        .await
        .unwrap();
    assert_eq!(
        catalog.points(&PointFilter::default()).await.unwrap().len(),
        1
    );
    assert_eq!(
        catalog
            .points(&PointFilter {
                include_deleted: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        2
    );
}

/// Two processes (two pools) upserting the same site at once agree on its id.
async fn two_connections_share_the_catalog(backend: Backend) {
    let (_d, site) = shop();
    let (a, _file) = backend.fresh().await;
    let b = Catalog::connect(a.location(), false).await.unwrap();
    let (x, y) = tokio::join!(a.upsert_site(&site, t(1, 0)), b.upsert_site(&site, t(1, 1)));
    assert_eq!(x.unwrap(), y.unwrap());
}

async fn many_points_are_written_all_or_none_and_read_as_of_an_instant(backend: Backend) {
    let (_dir, site) = shop();
    let (catalog, _file) = backend.fresh().await;
    let site_id = catalog.upsert_site(&site, t(12, 0)).await.unwrap();
    let comp = catalog
        .upsert_component(site_id, site.policy("db").unwrap(), t(12, 0))
        .await
        .unwrap();
    let record = |component_id: i64, id: &str, h: u32| PointRecord {
        component_id,
        run_id: None,
        kind: PointKind::AuroraClusterSnapshot,
        region: "us-east-1".into(),
        name: format!("wpb-shop-db-{id}"),
        provider_id: id.into(),
        arn: None,
        point_time: t(h, 0),
        state: PointState::Available,
        source_point_id: None,
        managed: true,
        metadata: RestoreMetadata::default(),
        failure_reason: None,
        created_at: t(h, 0),
    };
    // One bad record (an unknown component) and nothing of the batch is written.
    let bad = [record(comp, "snap-1", 10), record(9999, "snap-2", 11)];
    assert!(catalog.upsert_points(&bad, t(12, 0)).await.is_err());
    assert!(catalog
        .points_by_component("shop")
        .await
        .unwrap()
        .is_empty());

    let good = [
        record(comp, "snap-1", 10),
        record(comp, "snap-2", 11),
        record(comp, "snap-3", 13),
    ];
    let ids = catalog.upsert_points(&good, t(10, 0)).await.unwrap();
    assert_eq!(ids.len(), 3);
    // Deleted at 14:00: before then it still counts, after it does not.
    catalog
        .set_point_state(ids[0], PointState::Deleted, None, t(14, 0))
        .await
        .unwrap();
    let at = |h: u32| {
        let catalog = &catalog;
        async move {
            catalog
                .points_as_of("shop", t(h, 30))
                .await
                .unwrap()
                .of("db")
                .iter()
                .map(|p| (p.provider_id.clone(), p.state))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        at(11).await,
        vec![
            ("snap-1".to_string(), PointState::Available),
            ("snap-2".to_string(), PointState::Available)
        ],
        "as of 11:30: the two points taken by then, the first not yet deleted"
    );
    assert_eq!(
        at(14).await,
        vec![
            ("snap-2".to_string(), PointState::Available),
            ("snap-3".to_string(), PointState::Available)
        ]
    );
}
