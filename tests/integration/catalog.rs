//! The catalog on a real SQLite file: migrations, WAL, round trips, and refusing a
//! catalog written by a newer schema.

use chrono::{TimeZone, Utc};
use std::path::Path;
use wpbackup::catalog::{Catalog, CatalogError, PointFilter, PointRecord, RunOutcome};
use wpbackup::config::{load_policy_dir, site_context};
use wpbackup::domain::model::{PointKind, PointState, RestoreMetadata, RunPhase};
use wpbackup::domain::site::Site;

fn t(h: u32, m: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0).unwrap()
}

/// The sandbox's "shop" site, read through the real configuration loader.
fn shop() -> (tempfile::TempDir, Site) {
    let sb = super::support::Sandbox::new();
    let (config, _) = wpbackup::config::load(&sb.config(), t(12, 0)).expect("sandbox config");
    let site = config.site("shop").unwrap().clone();
    let (policies, diags) = load_policy_dir(&site.policies_dir, &site_context(&site), t(12, 0));
    assert!(diags.is_empty());
    assert_eq!(policies.len(), 4);
    (sb.dir, site)
}

async fn open(path: &Path) -> Catalog {
    Catalog::open(path, true).await.expect("catalog opens")
}

#[tokio::test]
async fn migrates_a_new_file_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let catalog = open(&path).await;
    assert_eq!(
        catalog.schema_version().await.unwrap(),
        wpbackup::catalog::supported_schema_version()
    );
    catalog.close().await;
    // WAL is a property of the file: a plain connection sees it.
    let conn = sqlx::sqlite::SqlitePoolOptions::new()
        .connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&conn)
            .await
            .unwrap();
    for needed in [
        "audit_findings",
        "audits",
        "components",
        "holds",
        "point_deletions",
        "policies",
        "recovery_points",
        "restore_plan_points",
        "restore_plans",
        "restore_steps",
        "runs",
        "sites",
    ] {
        assert!(
            tables.iter().any(|t| t == needed),
            "missing table {needed}: {tables:?}"
        );
    }
}

#[tokio::test]
async fn missing_catalog_is_not_created_by_readers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.db");
    let err = Catalog::open(&path, false).await.err().expect("refuses");
    assert!(matches!(err, CatalogError::Missing(_)), "{err}");
    assert!(!path.exists());
}

/// A catalog created and closed by wpbackup, opened again with plain sqlx.
async fn fresh_raw(path: &Path) -> sqlx::SqlitePool {
    open(path).await.close().await;
    sqlx::sqlite::SqlitePoolOptions::new()
        .connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

#[tokio::test]
async fn refuses_a_catalog_from_a_newer_schema_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    {
        let conn = fresh_raw(&path).await;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time)
             VALUES (9999, 'from the future', '2030-01-01', 1, x'00', 0)",
        )
        .execute(&conn)
        .await
        .unwrap();
        conn.close().await;
    }
    let err = Catalog::open(&path, true).await.err().expect("refuses");
    let msg = err.to_string();
    assert!(
        matches!(err, CatalogError::NewerSchema { found: 9999, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("newer wpbackup") && msg.contains("Upgrade"),
        "{msg}"
    );
}

#[tokio::test]
async fn records_sites_policies_runs_and_points() {
    let (dir, site) = shop();
    let catalog = open(&dir.path().join("c.db")).await;
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

#[tokio::test]
async fn two_connections_share_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let (_d, site) = shop();
    let a = open(&path).await;
    let b = open(&path).await;
    let (x, y) = tokio::join!(a.upsert_site(&site, t(1, 0)), b.upsert_site(&site, t(1, 1)));
    assert_eq!(x.unwrap(), y.unwrap());
}

#[tokio::test]
async fn many_points_are_written_all_or_none_and_read_as_of_an_instant() {
    let (dir, site) = shop();
    let catalog = open(&dir.path().join("c.db")).await;
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

#[tokio::test]
async fn the_wal_stays_bounded_under_many_single_commits() {
    let (dir, site) = shop();
    let path = dir.path().join("c.db");
    let catalog = open(&path).await;
    let site_id = catalog.upsert_site(&site, t(12, 0)).await.unwrap();
    let comp = catalog
        .upsert_component(site_id, site.policy("db").unwrap(), t(12, 0))
        .await
        .unwrap();
    for i in 0..3000 {
        let record = PointRecord {
            component_id: comp,
            run_id: None,
            kind: PointKind::AuroraClusterSnapshot,
            region: "us-east-1".into(),
            name: format!("wpb-shop-db-{i}"),
            provider_id: format!("snap-{i}"),
            arn: None,
            point_time: t(10, 0),
            state: PointState::Available,
            source_point_id: None,
            managed: true,
            metadata: RestoreMetadata::default(),
            failure_reason: None,
            created_at: t(10, 0),
        };
        catalog.upsert_point(&record, t(10, 0)).await.unwrap();
    }
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    eprintln!("WAL after 3000 commits: {size} bytes");
    assert!(size < 16 << 20, "WAL grew to {size} bytes");
}

/// Builds up to 0.1 embedded the migrations with `sqlx::migrate!`; `build.rs` now does it.
/// A catalog records each applied migration's checksum and sqlx refuses to open one whose
/// recorded checksum differs from the embedded one, so the rows written must stay those the
/// macro wrote (read from a catalog created by the last build that used it).
#[tokio::test]
async fn migrations_are_recorded_as_the_sqlx_macro_recorded_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let conn = fresh_raw(&path).await;
    let rows: Vec<(i64, String, String, bool)> = sqlx::query_as(
        "SELECT version, description, hex(checksum), success FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&conn)
    .await
    .unwrap();
    conn.close().await;
    let expected = [
        (1, "initial", "89A601A03D7A78D3B86F1DD72C578B94ED927B1919A0F07E79FF26EDB3916D971038C7D27867270F999FE7B5A668C73D"),
        (2, "daemon lease", "0DEA61F187EDE17570B8C1D4C1C31C04F163ACF068BBB43DDE8457B2ACF0C0DB84C75FEA47471324E11703F96C9BEE74"),
        (3, "points by deletion", "CE3A3154CB3AD947C8EC3EF90030BF72E6D84F2BF921A1B2A2ADE225968258791FA9EDBB6B238675DDA1F2BE445C8DE5"),
    ];
    assert!(rows.len() >= expected.len(), "{rows:?}");
    for ((version, description, checksum, success), (v, d, c)) in rows.iter().zip(expected) {
        assert_eq!(
            (*version, description.as_str(), checksum.as_str(), *success),
            (v, d, c, true)
        );
    }
    assert_eq!(
        rows.last().unwrap().0,
        wpbackup::catalog::supported_schema_version()
    );
    let migrations = std::fs::read_dir(env!("CARGO_MANIFEST_DIR").to_owned() + "/migrations")
        .unwrap()
        .count();
    assert_eq!(
        rows.len(),
        migrations,
        "every file in migrations/ is applied"
    );
}

/// Migration 0006 rebuilds `components` (a CHECK constraint cannot change in place): on a
/// catalog with runs and points, every row and every reference to a component survives,
/// and the new kind is accepted while an unknown one is still refused.
#[tokio::test]
async fn the_components_rebuild_keeps_rows_and_references() {
    let s = super::support::Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    let path = s.path().join("wpbackup.db");
    let conn = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .foreign_keys(true),
        )
        .await
        .unwrap();
    let count = |sql: &'static str| {
        let conn = conn.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&conn)
                .await
                .unwrap()
        }
    };
    let before = (
        count("SELECT count(*) FROM components").await,
        count("SELECT count(*) FROM runs").await,
        count("SELECT count(*) FROM recovery_points").await,
    );
    assert!(before.0 > 0 && before.1 > 0 && before.2 > 0, "{before:?}");
    // The migration again, on populated tables (what an old catalog goes through), in a
    // transaction with foreign keys on, as the migrator runs it.
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(include_str!("../../migrations/0006_auto_scaling_kind.sql"))
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.expect("no reference left dangling");
    let after = (
        count("SELECT count(*) FROM components").await,
        count("SELECT count(*) FROM runs").await,
        count("SELECT count(*) FROM recovery_points").await,
    );
    assert_eq!(before, after);
    let dangling: Vec<(String, i64, String, i64)> = sqlx::query_as("PRAGMA foreign_key_check")
        .fetch_all(&conn)
        .await
        .unwrap();
    assert!(dangling.is_empty(), "{dangling:?}");
    let joined =
        count("SELECT count(*) FROM recovery_points p JOIN components c ON c.id = p.component_id")
            .await;
    assert_eq!(joined, after.2);
    let insert = |kind: &'static str| {
        let conn = conn.clone();
        async move {
            sqlx::query(
                "INSERT INTO components (site_id, name, kind, resource_id, created_at)
                 SELECT id, ?1, ?1, 'x', '2026-12-01T00:00:00Z' FROM sites LIMIT 1",
            )
            .bind(kind)
            .execute(&conn)
            .await
        }
    };
    insert("auto-scaling-group").await.unwrap();
    assert!(insert("bogus-kind").await.is_err());
    conn.close().await;
    // And the catalog still opens.
    Catalog::open(&path, false).await.unwrap().close().await;
}
