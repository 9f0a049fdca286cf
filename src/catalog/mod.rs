//! The catalog: the only code that speaks SQL. SQLite through sqlx, WAL mode and a busy
//! timeout so the daemon and a CLI can share one file; append-only migrations embedded
//! from `migrations/`. Schema described in `docs/catalog.md`.

mod audit;
mod restore;
mod serving;
pub use audit::AuditRecord;
pub use restore::{PlanRecord, StepRecord};
pub use serving::Adoption;

use crate::domain::model::{
    ComponentKind, PointKind, PointState, RecoveryPoint, RestoreMetadata, RunPhase,
};
use crate::domain::policy::{Policy, PolicySource};
use crate::domain::site::Site;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, SqlitePool};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// The migrations in `migrations/`, embedded by `build.rs`.
static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| Migrator {
    migrations: embedded::MIGRATIONS
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                sql.starts_with("-- no-transaction"),
            )
        })
        .collect(),
    ..Migrator::DEFAULT
});

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("no catalog at {0}: run `wpbackup run` (or `wpbackup init --sandbox DIR`) to create one, or check `catalog` in the config")]
    Missing(PathBuf),
    #[error("cannot open the catalog {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("the catalog {path} was written by a newer wpbackup (schema {found}; this build knows up to {supported}). \
             Upgrade wpbackup; the catalog was not modified")]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("cannot migrate the catalog {path}: {source}")]
    Migrate {
        path: PathBuf,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("catalog query failed: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("catalog holds an unreadable value: {0}")]
    Corrupt(String),
}

pub type CatalogResult<T> = Result<T, CatalogError>;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_ts(s: &str) -> CatalogResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| CatalogError::Corrupt(format!("timestamp {s:?}: {e}")))
}

fn parse_opt_ts(s: Option<String>) -> CatalogResult<Option<DateTime<Utc>>> {
    s.as_deref().map(parse_ts).transpose()
}

/// A query of recovery points with their site and component names (what `point_from_row`
/// reads), completed by its `WHERE …` clause.
macro_rules! point_rows {
    ($rest:literal) => {
        concat!(
            "SELECT p.*, s.name AS site_name, c.name AS component_name, c.kind AS component_kind
             FROM recovery_points p JOIN components c ON c.id = p.component_id
                                    JOIN sites s ON s.id = c.site_id ",
            $rest
        )
    };
}

/// The newest schema version this build knows.
pub fn supported_schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

#[derive(Clone)]
pub struct Catalog {
    pool: SqlitePool,
    path: PathBuf,
}

/// A point to record (new, or an update of a known one by region/kind/provider id).
#[derive(Debug, Clone)]
pub struct PointRecord {
    pub component_id: i64,
    pub run_id: Option<i64>,
    pub kind: PointKind,
    pub region: String,
    pub name: String,
    pub provider_id: String,
    pub arn: Option<String>,
    pub point_time: DateTime<Utc>,
    pub state: PointState,
    pub source_point_id: Option<i64>,
    pub managed: bool,
    pub metadata: RestoreMetadata,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// How a run ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunOutcome {
    pub points_created: u32,
    pub points_failed: u32,
    pub copies_created: u32,
    pub copies_failed: u32,
    pub failure_reason: Option<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub site: String,
    pub component: String,
    pub trigger: String,
    pub policy_hash: String,
    pub scheduled_for: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub phase: RunPhase,
    pub points_created: u32,
    pub points_failed: u32,
    pub copies_created: u32,
    pub copies_failed: u32,
    pub failure_reason: Option<String>,
    pub warnings: Vec<String>,
}

/// Which points to list.
#[derive(Debug, Clone, Default)]
pub struct PointFilter {
    pub site: Option<String>,
    pub component: Option<String>,
    pub include_deleted: bool,
}

impl Catalog {
    /// Open (and, with `create`, create) the catalog, refusing one written by a newer schema,
    /// then apply any pending migrations.
    pub async fn open(path: &Path, create: bool) -> CatalogResult<Self> {
        Self::open_with(path, create, true).await
    }

    /// A throwaway catalog (`simulate`): the same schema, without waiting for the disk.
    pub async fn open_scratch(path: &Path) -> CatalogResult<Self> {
        Self::open_with(path, true, false).await
    }

    async fn open_with(path: &Path, create: bool, durable: bool) -> CatalogResult<Self> {
        if !create && !path.exists() {
            return Err(CatalogError::Missing(path.to_path_buf()));
        }
        if let Some(dir) = path.parent() {
            if create && !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| CatalogError::Open {
                    path: path.to_path_buf(),
                    source: sqlx::Error::Io(e),
                })?;
            }
        }
        let open_err = |source| CatalogError::Open {
            path: path.to_path_buf(),
            source,
        };
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(open_err)?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10))
            .synchronous(if durable {
                sqlx::sqlite::SqliteSynchronous::Full
            } else {
                sqlx::sqlite::SqliteSynchronous::Off
            })
            .foreign_keys(true)
            // Once a checkpoint resets the WAL, shrink the file back to 64 MiB (the default
            // keeps the largest size it ever reached).
            .pragma("journal_size_limit", "67108864");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        let catalog = Self {
            pool,
            path: path.to_path_buf(),
        };
        catalog.refuse_newer_schema().await?;
        MIGRATOR
            .run(&catalog.pool)
            .await
            .map_err(|source| CatalogError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(catalog)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn refuse_newer_schema(&self) -> CatalogResult<()> {
        let has_table: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&self.pool)
        .await?;
        if has_table.is_none() {
            return Ok(());
        }
        let found: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&self.pool)
            .await?;
        let supported = supported_schema_version();
        match found {
            Some(found) if found > supported => Err(CatalogError::NewerSchema {
                path: self.path.clone(),
                found,
                supported,
            }),
            _ => Ok(()),
        }
    }

    /// This catalog's id (made once, by migration 4).
    pub async fn identity(&self) -> CatalogResult<String> {
        Ok(
            sqlx::query_scalar("SELECT catalog_id FROM catalog_identity WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn schema_version(&self) -> CatalogResult<i64> {
        Ok(
            sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM _sqlx_migrations")
                .fetch_one(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Record (or update) a site; returns its id.
    pub async fn upsert_site(&self, site: &Site, now: DateTime<Utc>) -> CatalogResult<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sites (name, provider, region, dr_region, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (name) DO UPDATE SET provider = ?2, region = ?3, dr_region = ?4, updated_at = ?5
             RETURNING id",
        )
        .bind(&site.name)
        .bind(site.provider.as_str())
        .bind(&site.region)
        .bind(&site.dr_region)
        .bind(ts(now))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .next()
        .ok_or_else(no_returned_row)?;
        Ok(id)
    }

    /// Record (or update) a component from its policy; returns its id.
    pub async fn upsert_component(
        &self,
        site_id: i64,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> CatalogResult<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO components (site_id, name, kind, resource_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (site_id, name) DO UPDATE SET kind = ?3, resource_id = ?4
             RETURNING id",
        )
        .bind(site_id)
        .bind(&policy.name)
        .bind(policy.kind.as_str())
        .bind(policy.target.resource_id())
        .bind(ts(now))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .next()
        .ok_or_else(no_returned_row)?;
        Ok(id)
    }

    /// Record the exact policy text a run is about to use; returns its id.
    pub async fn record_policy(
        &self,
        component_id: i64,
        source: &PolicySource,
        now: DateTime<Utc>,
    ) -> CatalogResult<i64> {
        sqlx::query(
            "INSERT INTO policies (component_id, content_hash, source_path, body, first_seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (component_id, content_hash) DO NOTHING",
        )
        .bind(component_id)
        .bind(&source.content_hash)
        .bind(source.path.display().to_string())
        .bind(&source.body)
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "SELECT id FROM policies WHERE component_id = ?1 AND content_hash = ?2",
        )
        .bind(component_id)
        .bind(&source.content_hash)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    /// The run of this component still `InProgress`, if any: (run id, process id).
    pub async fn run_in_progress(
        &self,
        component_id: i64,
    ) -> CatalogResult<Option<(i64, Option<i64>)>> {
        Ok(sqlx::query_as(
            "SELECT id, pid FROM runs WHERE component_id = ?1 AND phase = 'InProgress' ORDER BY id LIMIT 1",
        )
        .bind(component_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Close a run whose process died: `Interrupted`, with what is known.
    /// Close as `Failed` the run of this component for `scheduled_for` that this process
    /// left `InProgress` (its task ended on an error or a panic); its id, if there was one.
    pub async fn fail_own_unfinished_run(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<Option<i64>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE runs SET phase = 'Failed', finished_at = ?3, failure_reason = ?4
             WHERE component_id = ?1 AND scheduled_for = ?2 AND phase = 'InProgress' AND pid = ?5
             RETURNING id",
        )
        .bind(component_id)
        .bind(ts(scheduled_for))
        .bind(ts(now))
        .bind(reason)
        .bind(i64::from(std::process::id()))
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().max())
    }

    pub async fn mark_interrupted(
        &self,
        run_id: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        sqlx::query(
            "UPDATE runs SET phase = 'Interrupted', finished_at = ?2, failure_reason = ?3
             WHERE id = ?1 AND phase = 'InProgress'",
        )
        .bind(run_id)
        .bind(ts(now))
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Points of a run (to reconcile after a crash).
    pub async fn points_of_run(&self, run_id: i64) -> CatalogResult<Vec<RecoveryPoint>> {
        let rows = sqlx::query(point_rows!("WHERE p.run_id = ?1 ORDER BY p.id"))
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(point_from_row).collect()
    }

    pub async fn start_run(
        &self,
        component_id: i64,
        policy_id: i64,
        trigger: &str,
        scheduled_for: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> CatalogResult<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO runs (component_id, policy_id, trigger, scheduled_for, started_at, phase, pid)
             VALUES (?1, ?2, ?3, ?4, ?5, 'InProgress', ?6) RETURNING id",
        )
        .bind(component_id)
        .bind(policy_id)
        .bind(trigger)
        .bind(ts(scheduled_for))
        .bind(ts(now))
        .bind(i64::from(std::process::id()))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .next()
        .ok_or_else(no_returned_row)?;
        Ok(id)
    }

    /// Record a run that was not started (e.g. the previous one is still running).
    pub async fn record_skipped_run(
        &self,
        component_id: i64,
        policy_id: i64,
        trigger: &str,
        scheduled_for: DateTime<Utc>,
        now: DateTime<Utc>,
        reason: &str,
    ) -> CatalogResult<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO runs (component_id, policy_id, trigger, scheduled_for, started_at, finished_at, phase, failure_reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, 'Skipped', ?6) RETURNING id",
        )
        .bind(component_id)
        .bind(policy_id)
        .bind(trigger)
        .bind(ts(scheduled_for))
        .bind(ts(now))
        .bind(reason)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .next()
        .ok_or_else(no_returned_row)?;
        Ok(id)
    }

    pub async fn finish_run(
        &self,
        run_id: i64,
        phase: RunPhase,
        outcome: &RunOutcome,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        sqlx::query(
            "UPDATE runs SET phase = ?2, finished_at = ?3, points_created = ?4, points_failed = ?5,
                 copies_created = ?6, copies_failed = ?7, failure_reason = ?8, warnings = ?9
             WHERE id = ?1",
        )
        .bind(run_id)
        .bind(phase.as_str())
        .bind(ts(now))
        .bind(outcome.points_created)
        .bind(outcome.points_failed)
        .bind(outcome.copies_created)
        .bind(outcome.copies_failed)
        .bind(&outcome.failure_reason)
        .bind(serde_json::to_string(&outcome.warnings).expect("strings serialise"))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One run by id.
    pub async fn run_by_id(&self, run_id: i64) -> CatalogResult<Option<RunRecord>> {
        let row = sqlx::query(
            "SELECT r.*, s.name AS site_name, c.name AS component_name, p.content_hash
             FROM runs r JOIN components c ON c.id = r.component_id
                         JOIN sites s ON s.id = c.site_id
                         JOIN policies p ON p.id = r.policy_id
             WHERE r.id = ?1",
        )
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// Runs, newest first.
    pub async fn runs(
        &self,
        site: Option<&str>,
        component: Option<&str>,
        limit: i64,
    ) -> CatalogResult<Vec<RunRecord>> {
        let rows = sqlx::query(
            "SELECT r.*, s.name AS site_name, c.name AS component_name, p.content_hash
             FROM runs r JOIN components c ON c.id = r.component_id
                         JOIN sites s ON s.id = c.site_id
                         JOIN policies p ON p.id = r.policy_id
             WHERE (?1 IS NULL OR s.name = ?1) AND (?2 IS NULL OR c.name = ?2)
             ORDER BY r.id DESC LIMIT ?3",
        )
        .bind(site)
        .bind(component)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// Insert a point, or update the one with the same (region, kind, provider id).
    pub async fn upsert_point(&self, p: &PointRecord, now: DateTime<Utc>) -> CatalogResult<i64> {
        upsert_point_with(&self.pool, p, now).await
    }

    /// Upsert many points in one transaction (all or none): imports and large syncs.
    pub async fn upsert_points(
        &self,
        points: &[PointRecord],
        now: DateTime<Utc>,
    ) -> CatalogResult<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(points.len());
        for p in points {
            ids.push(upsert_point_with(&mut *tx, p, now).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Change a point's state (e.g. `creating` → `available`).
    pub async fn set_point_state(
        &self,
        id: i64,
        state: PointState,
        failure_reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        let done = matches!(state, PointState::Available | PointState::Failed);
        let deleted = matches!(state, PointState::Deleted);
        sqlx::query(
            "UPDATE recovery_points SET state = ?2, failure_reason = COALESCE(?3, failure_reason),
                 completed_at = CASE WHEN ?4 THEN COALESCE(completed_at, ?5) ELSE completed_at END,
                 deleted_at = CASE WHEN ?6 THEN ?5 ELSE deleted_at END
             WHERE id = ?1",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(failure_reason)
        .bind(done)
        .bind(ts(now))
        .bind(deleted)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Recovery points, oldest first.
    pub async fn points(&self, filter: &PointFilter) -> CatalogResult<Vec<RecoveryPoint>> {
        let rows = sqlx::query(point_rows!(
            "WHERE (?1 IS NULL OR s.name = ?1) AND (?2 IS NULL OR c.name = ?2)
               AND (?3 OR p.state NOT IN ('deleted'))
             ORDER BY p.point_time, p.id"
        ))
        .bind(&filter.site)
        .bind(&filter.component)
        .bind(filter.include_deleted)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(point_from_row).collect()
    }

    /// A site's points (not deleted) grouped by component, each oldest first: what
    /// planning and auditing read. Ordered by the database so grouping is one pass.
    pub async fn points_by_component(
        &self,
        site: &str,
    ) -> CatalogResult<crate::domain::planner::PointsByComponent> {
        let rows = sqlx::query(point_rows!(
            "WHERE s.name = ?1 AND p.state NOT IN ('deleted')
             ORDER BY c.name, p.point_time, p.id"
        ))
        .bind(site)
        .fetch_all(&self.pool)
        .await?;
        let points = rows
            .iter()
            .map(point_from_row)
            .collect::<CatalogResult<Vec<_>>>()?;
        Ok(crate::domain::planner::PointsByComponent::new(points))
    }

    /// The newest point of a component in a region with this name (not deleted).
    pub async fn point_named(
        &self,
        component_id: i64,
        region: &str,
        name: &str,
    ) -> CatalogResult<Option<RecoveryPoint>> {
        let row = sqlx::query(point_rows!(
            "WHERE p.component_id = ?1 AND p.region = ?2 AND p.name = ?3 AND p.state <> 'deleted'
             ORDER BY p.id DESC LIMIT 1"
        ))
        .bind(component_id)
        .bind(region)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(point_from_row).transpose()
    }

    pub async fn point(&self, id: i64) -> CatalogResult<Option<RecoveryPoint>> {
        let row = sqlx::query(point_rows!("WHERE p.id = ?1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(point_from_row).transpose()
    }
}

/// A hold as the catalog records it.
#[derive(Debug, Clone, Serialize)]
pub struct HoldRecord {
    pub id: i64,
    pub site: String,
    pub component: String,
    /// `None`: the hold covers every point of the component.
    pub point_id: Option<i64>,
    pub point_name: Option<String>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub released_at: Option<DateTime<Utc>>,
}

impl Catalog {
    pub async fn component_id(&self, site: &str, component: &str) -> CatalogResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT c.id FROM components c JOIN sites s ON s.id = c.site_id WHERE s.name = ?1 AND c.name = ?2",
        )
        .bind(site)
        .bind(component)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Hold a point (or, with `point_id = None`, every point of a component) from retention.
    pub async fn add_hold(
        &self,
        component_id: i64,
        point_id: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> CatalogResult<i64> {
        sqlx::query_scalar(
            "INSERT INTO holds (point_id, component_id, reason, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        )
        .bind(point_id)
        .bind(component_id)
        .bind(reason)
        .bind(ts(now))
        .bind(expires_at.map(ts))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .next()
        .ok_or_else(no_returned_row)
    }

    /// Release a hold; false when no active hold has this id.
    pub async fn release_hold(&self, id: i64, now: DateTime<Utc>) -> CatalogResult<bool> {
        let done =
            sqlx::query("UPDATE holds SET released_at = ?2 WHERE id = ?1 AND released_at IS NULL")
                .bind(id)
                .bind(ts(now))
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Holds, newest first; with `active_at`, only those in force then.
    pub async fn holds(&self, active_at: Option<DateTime<Utc>>) -> CatalogResult<Vec<HoldRecord>> {
        let rows = sqlx::query(
            "SELECT h.*, s.name AS site_name, c.name AS component_name, p.name AS point_name
             FROM holds h JOIN components c ON c.id = h.component_id
                          JOIN sites s ON s.id = c.site_id
                          LEFT JOIN recovery_points p ON p.id = h.point_id
             WHERE ?1 IS NULL OR (h.released_at IS NULL AND (h.expires_at IS NULL OR h.expires_at > ?1))
             ORDER BY h.id DESC",
        )
        .bind(active_at.map(ts))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HoldRecord {
                    id: r.try_get("id")?,
                    site: r.try_get("site_name")?,
                    component: r.try_get("component_name")?,
                    point_id: r.try_get("point_id")?,
                    point_name: r.try_get("point_name")?,
                    reason: r.try_get("reason")?,
                    created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
                    expires_at: parse_opt_ts(r.try_get("expires_at")?)?,
                    released_at: parse_opt_ts(r.try_get("released_at")?)?,
                })
            })
            .collect()
    }

    /// Points that unfinished restore plans rely on (point id → plan id).
    pub async fn planned_points(&self) -> CatalogResult<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT pp.point_id, pp.plan_id FROM restore_plan_points pp
             JOIN restore_plans r ON r.id = pp.plan_id
             WHERE r.status IN ('planned', 'executing', 'failed')",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Record that a point is about to be deleted, and why (before the cloud call).
    pub async fn begin_deletion(
        &self,
        point_id: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<i64> {
        sqlx::query("UPDATE recovery_points SET state = 'deleting' WHERE id = ?1")
            .bind(point_id)
            .execute(&self.pool)
            .await?;
        sqlx::query_scalar(
            "INSERT INTO point_deletions (point_id, requested_at, reason, outcome, attempts)
             VALUES (?1, ?2, ?3, 'pending', 1) RETURNING id",
        )
        .bind(point_id)
        .bind(ts(now))
        .bind(reason)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .next()
        .ok_or_else(no_returned_row)
    }

    /// How the deletion went; a failed one stays `deleting` so the next prune retries it.
    pub async fn finish_deletion(
        &self,
        deletion_id: i64,
        point_id: i64,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        sqlx::query("UPDATE point_deletions SET outcome = ?2, error = ?3 WHERE id = ?1")
            .bind(deletion_id)
            .bind(if error.is_some() { "failed" } else { "deleted" })
            .bind(error)
            .execute(&self.pool)
            .await?;
        if error.is_none() {
            self.set_point_state(point_id, PointState::Deleted, None, now)
                .await?;
        }
        Ok(())
    }

    /// The recorded deletion history of a point: (requested at, reason, outcome, error).
    pub async fn deletions_of(
        &self,
        point_id: i64,
    ) -> CatalogResult<Vec<(String, String, String, Option<String>)>> {
        Ok(sqlx::query_as(
            "SELECT requested_at, reason, outcome, error FROM point_deletions WHERE point_id = ?1 ORDER BY id",
        )
        .bind(point_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Who holds the one-daemon-per-catalog lease.
#[derive(Debug, Clone, Serialize)]
pub struct Lease {
    pub holder: String,
    pub pid: i64,
    pub acquired_at: String,
    pub heartbeat_at: String,
    pub expires_at: String,
}

/// Figures for `/metrics`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MetricsSnapshot {
    /// (site, component, newest available point time in the primary region).
    pub last_success: Vec<(String, String, DateTime<Utc>)>,
    pub runs_by_phase: Vec<(String, i64)>,
    pub points_by_state: Vec<(String, i64)>,
    /// (site, component, seconds) of the newest finished run.
    pub last_run_seconds: Vec<(String, String, f64)>,
    /// (site, component, records of scheduled fires that did not run).
    pub missed_fires: Vec<(String, String, i64)>,
}

impl Catalog {
    /// Take the lease if it is free, expired, or already ours; otherwise return its holder.
    pub async fn acquire_lease(
        &self,
        holder: &str,
        pid: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<Result<(), Lease>> {
        let expires = crate::domain::time::add_saturating(now, ttl);
        // One statement, so two daemons racing cannot both win.
        sqlx::query(
            "INSERT INTO daemon_lease (id, holder, pid, acquired_at, heartbeat_at, expires_at)
             VALUES (1, ?1, ?2, ?3, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, pid = excluded.pid,
                 acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at,
                 expires_at = excluded.expires_at
             WHERE daemon_lease.expires_at <= ?3 OR daemon_lease.holder = excluded.holder",
        )
        .bind(holder)
        .bind(pid)
        .bind(ts(now))
        .bind(ts(expires))
        .execute(&self.pool)
        .await?;
        let lease = self.current_lease().await?.expect("lease row exists");
        Ok(if lease.holder == holder {
            Ok(())
        } else {
            Err(lease)
        })
    }

    /// Take the lease from `old_holder` (known dead), whatever its expiry.
    pub async fn take_over_lease(
        &self,
        old_holder: &str,
        holder: &str,
        pid: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<bool> {
        let expires = crate::domain::time::add_saturating(now, ttl);
        let done = sqlx::query(
            "UPDATE daemon_lease SET holder = ?2, pid = ?3, acquired_at = ?4, heartbeat_at = ?4, expires_at = ?5
             WHERE id = 1 AND holder = ?1",
        )
        .bind(old_holder)
        .bind(holder)
        .bind(pid)
        .bind(ts(now))
        .bind(ts(expires))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Extend our lease; false when it is no longer ours.
    pub async fn renew_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<bool> {
        let expires = crate::domain::time::add_saturating(now, ttl);
        let done = sqlx::query("UPDATE daemon_lease SET heartbeat_at = ?2, expires_at = ?3 WHERE id = 1 AND holder = ?1")
            .bind(holder)
            .bind(ts(now))
            .bind(ts(expires))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn release_lease(&self, holder: &str) -> CatalogResult<()> {
        sqlx::query("DELETE FROM daemon_lease WHERE id = 1 AND holder = ?1")
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn current_lease(&self) -> CatalogResult<Option<Lease>> {
        let row = sqlx::query(
            "SELECT holder, pid, acquired_at, heartbeat_at, expires_at FROM daemon_lease WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => Some(Lease {
                holder: row.try_get("holder")?,
                pid: row.try_get("pid")?,
                acquired_at: row.try_get("acquired_at")?,
                heartbeat_at: row.try_get("heartbeat_at")?,
                expires_at: row.try_get("expires_at")?,
            }),
            None => None,
        })
    }

    /// The newest instant a scheduled run of this component was for and that was dealt
    /// with: the run ended (completed, failed, skipped or recorded as missed). A fire whose
    /// run a crash interrupted does not count: the daemon runs it again on start.
    pub async fn last_scheduled_fire(
        &self,
        component_id: i64,
    ) -> CatalogResult<Option<DateTime<Utc>>> {
        let t: Option<String> = sqlx::query_scalar(
            "SELECT MAX(scheduled_for) FROM runs WHERE component_id = ?1 AND trigger = 'schedule'
               AND phase NOT IN ('InProgress', 'Interrupted')",
        )
        .bind(component_id)
        .fetch_one(&self.pool)
        .await?;
        parse_opt_ts(t)
    }

    /// How many scheduled runs of this component for `scheduled_for` a crash interrupted.
    pub async fn interrupted_attempts(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
    ) -> CatalogResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM runs WHERE component_id = ?1 AND trigger = 'schedule'
               AND scheduled_for = ?2 AND phase = 'Interrupted'",
        )
        .bind(component_id)
        .bind(ts(scheduled_for))
        .fetch_one(&self.pool)
        .await?)
    }

    /// Runs left `InProgress`: (run id, pid, site, component).
    pub async fn runs_in_progress(&self) -> CatalogResult<Vec<(i64, Option<i64>, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT r.id, r.pid, s.name, c.name FROM runs r JOIN components c ON c.id = r.component_id
             JOIN sites s ON s.id = c.site_id WHERE r.phase = 'InProgress' ORDER BY r.id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn metrics(&self) -> CatalogResult<MetricsSnapshot> {
        let last: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT s.name, c.name, MAX(p.point_time) FROM recovery_points p
             JOIN components c ON c.id = p.component_id JOIN sites s ON s.id = c.site_id
             WHERE p.state = 'available' AND p.region = s.region GROUP BY s.name, c.name",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut snapshot = MetricsSnapshot {
            runs_by_phase: sqlx::query_as(
                "SELECT phase, COUNT(*) FROM runs GROUP BY phase ORDER BY phase",
            )
            .fetch_all(&self.pool)
            .await?,
            points_by_state: sqlx::query_as(
                "SELECT state, COUNT(*) FROM recovery_points GROUP BY state ORDER BY state",
            )
            .fetch_all(&self.pool)
            .await?,
            ..Default::default()
        };
        for (site, component, t) in last {
            snapshot.last_success.push((site, component, parse_ts(&t)?));
        }
        snapshot.missed_fires = sqlx::query_as(
            "SELECT s.name, c.name, COUNT(*) FROM runs r
             JOIN components c ON c.id = r.component_id JOIN sites s ON s.id = c.site_id
             WHERE r.phase = 'Skipped' AND r.trigger = 'schedule' AND r.failure_reason LIKE ?1 || '%'
             GROUP BY s.name, c.name ORDER BY s.name, c.name",
        )
        .bind(crate::domain::model::MISSED_FIRE)
        .fetch_all(&self.pool)
        .await?;
        let durations: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT s.name, c.name, r.started_at, r.finished_at FROM runs r
             JOIN components c ON c.id = r.component_id JOIN sites s ON s.id = c.site_id
             WHERE r.id IN (SELECT MAX(id) FROM runs WHERE finished_at IS NOT NULL
                            AND phase NOT IN ('Skipped') GROUP BY component_id)",
        )
        .fetch_all(&self.pool)
        .await?;
        for (site, component, a, b) in durations {
            let secs = (parse_ts(&b)? - parse_ts(&a)?).num_milliseconds() as f64 / 1000.0;
            snapshot.last_run_seconds.push((site, component, secs));
        }
        Ok(snapshot)
    }
}

/// The one upsert of a point, on the pool or inside a transaction.
async fn upsert_point_with<'e, E>(e: E, p: &PointRecord, now: DateTime<Utc>) -> CatalogResult<i64>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let completed_at =
        matches!(p.state, PointState::Available | PointState::Failed).then(|| ts(now));
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO recovery_points (component_id, run_id, kind, region, name, provider_id, arn,
             point_time, state, source_point_id, managed, encrypted, size_bytes, metadata,
             failure_reason, created_at, completed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (region, kind, provider_id) DO UPDATE SET
             state = ?9, arn = COALESCE(?7, arn), metadata = ?14, failure_reason = ?15,
             encrypted = ?12, size_bytes = ?13,
             completed_at = COALESCE(completed_at, ?17)
         RETURNING id",
    )
    .bind(p.component_id)
    .bind(p.run_id)
    .bind(p.kind.as_str())
    .bind(&p.region)
    .bind(&p.name)
    .bind(&p.provider_id)
    .bind(&p.arn)
    .bind(ts(p.point_time))
    .bind(p.state.as_str())
    .bind(p.source_point_id)
    .bind(p.managed)
    .bind(p.metadata.encrypted)
    .bind(p.metadata.size_bytes.map(|s| s as i64))
    .bind(serde_json::to_string(&p.metadata).expect("metadata serialises"))
    .bind(&p.failure_reason)
    .bind(ts(p.created_at))
    .bind(completed_at)
    .fetch_all(e)
    .await?
    .into_iter()
    .next()
    .ok_or_else(no_returned_row)?;
    Ok(id)
}

/// `INSERT … RETURNING` statements are read with `fetch_all`, never `fetch_one`: sqlx leaves
/// a statement that was not stepped to its end un-reset, which pins the WAL — checkpoints
/// can then never reset it, and it grew by ~20 KB per commit (13 GB for a million points).
fn no_returned_row() -> CatalogError {
    CatalogError::Corrupt("an INSERT … RETURNING statement returned no row".into())
}

fn point_from_row(r: &SqliteRow) -> CatalogResult<RecoveryPoint> {
    let kind: String = r.try_get("kind")?;
    let state: String = r.try_get("state")?;
    let ckind: String = r.try_get("component_kind")?;
    let metadata: String = r.try_get("metadata")?;
    Ok(RecoveryPoint {
        id: r.try_get("id")?,
        site: r.try_get("site_name")?,
        component: r.try_get("component_name")?,
        component_kind: ComponentKind::parse(&ckind)
            .ok_or_else(|| CatalogError::Corrupt(format!("component kind {ckind:?}")))?,
        kind: PointKind::parse(&kind)
            .ok_or_else(|| CatalogError::Corrupt(format!("point kind {kind:?}")))?,
        region: r.try_get("region")?,
        name: r.try_get("name")?,
        provider_id: r.try_get("provider_id")?,
        arn: r.try_get("arn")?,
        point_time: parse_ts(&r.try_get::<String, _>("point_time")?)?,
        state: PointState::parse(&state)
            .ok_or_else(|| CatalogError::Corrupt(format!("point state {state:?}")))?,
        source_point_id: r.try_get("source_point_id")?,
        run_id: r.try_get("run_id")?,
        managed: r.try_get("managed")?,
        metadata: serde_json::from_str(&metadata)
            .map_err(|e| CatalogError::Corrupt(format!("point metadata: {e}")))?,
        failure_reason: r.try_get("failure_reason")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        completed_at: parse_opt_ts(r.try_get("completed_at")?)?,
    })
}

fn run_from_row(r: &SqliteRow) -> CatalogResult<RunRecord> {
    let phase: String = r.try_get("phase")?;
    let warnings: String = r.try_get("warnings")?;
    Ok(RunRecord {
        id: r.try_get("id")?,
        site: r.try_get("site_name")?,
        component: r.try_get("component_name")?,
        trigger: r.try_get("trigger")?,
        policy_hash: r.try_get("content_hash")?,
        scheduled_for: parse_ts(&r.try_get::<String, _>("scheduled_for")?)?,
        started_at: parse_ts(&r.try_get::<String, _>("started_at")?)?,
        finished_at: parse_opt_ts(r.try_get("finished_at")?)?,
        phase: RunPhase::parse(&phase)
            .ok_or_else(|| CatalogError::Corrupt(format!("run phase {phase:?}")))?,
        points_created: r.try_get("points_created")?,
        points_failed: r.try_get("points_failed")?,
        copies_created: r.try_get("copies_created")?,
        copies_failed: r.try_get("copies_failed")?,
        failure_reason: r.try_get("failure_reason")?,
        warnings: serde_json::from_str(&warnings)
            .map_err(|e| CatalogError::Corrupt(format!("run warnings: {e}")))?,
    })
}
