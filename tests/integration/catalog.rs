//! The SQLite catalog on a real file: migrations, WAL, the bounded WAL, and refusing a
//! catalog written by a newer schema.

use chrono::{TimeZone, Utc};
use std::path::Path;
use wpbackup::catalog::{Catalog, CatalogError, PointRecord};
use wpbackup::config::{load_policy_dir, site_context};
use wpbackup::domain::model::{PointKind, PointState, RestoreMetadata};
use wpbackup::domain::site::Site;

pub(crate) fn t(h: u32, m: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0).unwrap()
}

/// The sandbox's "shop" site, read through the real configuration loader.
pub(crate) fn shop() -> (tempfile::TempDir, Site) {
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
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count();
    assert_eq!(
        rows.len(),
        migrations,
        "every SQL file in migrations/ is applied"
    );
}

/// The sandbox's catalog opened as the migrator opens it: one connection, foreign keys on.
async fn catalog_with_foreign_keys(path: &std::path::Path) -> sqlx::SqlitePool {
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .foreign_keys(true),
        )
        .await
        .unwrap()
}

async fn count(conn: &sqlx::SqlitePool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(conn)
        .await
        .unwrap()
}

/// A migration run again on populated tables (what an old catalog goes through), in a
/// transaction with foreign keys on, as the migrator runs it: it commits (no reference
/// left dangling) and the foreign-key check finds nothing.
async fn migrate_again(conn: &sqlx::SqlitePool, migration: &str) {
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(migration).execute(&mut *tx).await.unwrap();
    tx.commit().await.expect("no reference left dangling");
    let dangling: Vec<(String, i64, String, i64)> = sqlx::query_as("PRAGMA foreign_key_check")
        .fetch_all(conn)
        .await
        .unwrap();
    assert!(dangling.is_empty(), "{dangling:?}");
}

/// Migration 0006 rebuilds `components` (a CHECK constraint cannot change in place): on a
/// catalog with runs and points, every row and every reference to a component survives,
/// and the new kind is accepted while an unknown one is still refused.
#[tokio::test]
async fn the_components_rebuild_keeps_rows_and_references() {
    let s = super::support::Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    let path = s.path().join("wpbackup.db");
    let conn = catalog_with_foreign_keys(&path).await;
    let counts = || async {
        (
            count(&conn, "SELECT count(*) FROM components").await,
            count(&conn, "SELECT count(*) FROM runs").await,
            count(&conn, "SELECT count(*) FROM recovery_points").await,
        )
    };
    let before = counts().await;
    assert!(before.0 > 0 && before.1 > 0 && before.2 > 0, "{before:?}");
    migrate_again(
        &conn,
        include_str!("../../migrations/0006_auto_scaling_kind.sql"),
    )
    .await;
    assert_eq!(counts().await, before);
    let joined = count(
        &conn,
        "SELECT count(*) FROM recovery_points p JOIN components c ON c.id = p.component_id",
    )
    .await;
    assert_eq!(joined, before.2);
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

/// 0008 rebuilds `restore_plans` for the staging purpose: on a catalog with a drill (its
/// steps, its pinned points), every plan and every reference to it survives, and a plan
/// may now be a staging copy but nothing else.
#[tokio::test]
async fn the_restore_plans_rebuild_keeps_plans_and_references() {
    let s = super::support::Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    s.wpb().args(["drill", "--site", "shop"]).assert().success();
    let path = s.path().join("wpbackup.db");
    let conn = catalog_with_foreign_keys(&path).await;
    let counts = || async {
        (
            count(&conn, "SELECT count(*) FROM restore_plans").await,
            count(&conn, "SELECT count(*) FROM restore_steps").await,
            count(&conn, "SELECT count(*) FROM restore_plan_points").await,
        )
    };
    let before = counts().await;
    assert!(before.0 > 0 && before.1 > 0 && before.2 > 0, "{before:?}");
    migrate_again(
        &conn,
        include_str!("../../migrations/0008_staging_purpose.sql"),
    )
    .await;
    assert_eq!(counts().await, before);
    let joined = count(
        &conn,
        "SELECT count(*) FROM restore_steps s JOIN restore_plans p ON p.id = s.plan_id",
    )
    .await;
    assert_eq!(joined, before.1);
    let insert = |purpose: &'static str| {
        let conn = conn.clone();
        async move {
            sqlx::query(
                "INSERT INTO restore_plans (id, site_id, purpose, target_time, to_region,
                     plan_version, plan, status, created_at, updated_at)
                 SELECT 'p-' || ?1, id, ?1, '2026-12-01T00:00:00Z', 'us-east-1', 1, '{}',
                     'planned', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z'
                 FROM sites LIMIT 1",
            )
            .bind(purpose)
            .execute(&conn)
            .await
        }
    };
    insert("staging").await.unwrap();
    assert!(insert("bogus").await.is_err());
    conn.close().await;
    Catalog::open(&path, false).await.unwrap().close().await;
}
