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
}

/// `INSERT … RETURNING` statements are read with `fetch_all`, never `fetch_one`: sqlx leaves
/// a statement that was not stepped to its end un-reset, which pins the WAL — checkpoints
/// can then never reset it, and it grew by ~20 KB per commit (13 GB for a million points).
fn no_returned_row() -> CatalogError {
    CatalogError::Corrupt("an INSERT … RETURNING statement returned no row".into())
}

// Declared after the row macros above, which they use.
mod holds;
mod lease;
mod points;
mod runs;
pub use holds::HoldRecord;
pub use lease::{Lease, MetricsSnapshot};
