//! The catalog: the only code that speaks SQL. A port, [`CatalogStore`] (split along the
//! tables into [`RunStore`], [`PointStore`], …), with three implementations: SQLite, the
//! embedded default (`sqlite/`: one file, WAL mode and a busy timeout so the daemon and a
//! CLI can share it), PostgreSQL for fleets (`postgres/`: several daemons on several
//! hosts), and one in this process's memory (`memory/`: what `simulate` runs on). The two
//! databases have their own append-only migrations, embedded from `migrations/` (SQLite)
//! and `migrations/postgres/`. Schema described in `docs/catalog.md`, fleets in
//! `docs/fleet.md`.

mod copy;
mod port;
mod records;
pub(crate) mod rows;
pub use crate::domain::site::CatalogLocation;
pub use copy::{sqlite_to_postgres, TableCount};
pub use port::{
    AuditStore, CatalogStore, HoldStore, LeaseStore, PointStore, RestoreStore, RunStore,
    ServingStore,
};
pub use records::{
    Adoption, AuditRecord, ClaimedFire, HoldRecord, Lease, MetricsSnapshot, PlanRecord,
    PointFilter, PointRecord, RunOutcome, RunRecord, StepRecord,
};

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// A migrator over migrations embedded by `build.rs`.
fn migrator(migrations: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    Migrator {
        migrations: migrations
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
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("no catalog at {0}: run `wpbackup run` (or `wpbackup init --sandbox DIR`) to create one, or check `catalog` in the config")]
    Missing(PathBuf),
    #[error("the PostgreSQL database {0} holds no wpbackup catalog yet: run `wpbackup run` (or `wpbackup catalog migrate --to URL` to copy a SQLite catalog there), or check `catalog` in the config")]
    Empty(String),
    #[error("cannot open the catalog {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot connect to the catalog {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("the catalog {location} was written by a newer wpbackup (schema {found}; this build knows up to {supported}). \
             Upgrade wpbackup; the catalog was not modified")]
    NewerSchema {
        location: String,
        found: i64,
        supported: i64,
    },
    #[error("cannot migrate the catalog {location}: {source}")]
    Migrate {
        location: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// An operation on the catalog that its state does not allow, with the reason.
    #[error("{0}")]
    Refused(String),
    #[error("catalog query failed: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("catalog holds an unreadable value: {0}")]
    Corrupt(String),
}

pub type CatalogResult<T> = Result<T, CatalogError>;

/// An instant as the SQLite catalog stores it (RFC 3339, milliseconds, `Z`).
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn parse_ts(s: &str) -> CatalogResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| CatalogError::Corrupt(format!("timestamp {s:?}: {e}")))
}

/// A query of recovery points with their site and component names (what
/// `rows::point_from_row` reads), completed by its `WHERE …` clause. The same on both
/// backends.
#[macro_export]
#[doc(hidden)]
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

/// Plans with their site's name (what `rows::plan_from_row` reads).
const PLAN_SELECT: &str =
    "SELECT r.*, s.name AS site_name FROM restore_plans r JOIN sites s ON s.id = r.site_id";

/// Held while a restore executes (see [`CatalogStore::try_lock_restores`]).
pub struct RestoreLock(#[allow(dead_code)] Box<dyn std::any::Any + Send>);

impl RestoreLock {
    pub(crate) fn new(guard: impl std::any::Any + Send) -> Self {
        Self(Box::new(guard))
    }
}

/// An open catalog: the port, whichever backend is behind it. Cheap to clone; every
/// operation of [`CatalogStore`] is called on it directly.
#[derive(Clone)]
pub struct Catalog {
    store: Arc<dyn CatalogStore>,
    location: CatalogLocation,
}

impl std::ops::Deref for Catalog {
    type Target = dyn CatalogStore;
    fn deref(&self) -> &Self::Target {
        &*self.store
    }
}

impl Catalog {
    /// Open (and, with `create`, create) the catalog at `location`, refusing one written
    /// by a newer schema, then apply any pending migrations.
    pub async fn connect(location: &CatalogLocation, create: bool) -> CatalogResult<Self> {
        let store: Arc<dyn CatalogStore> = match location {
            CatalogLocation::Sqlite(path) => {
                Arc::new(sqlite::SqliteCatalog::open(path, create, true).await?)
            }
            CatalogLocation::Postgres(url) => {
                Arc::new(postgres::PgCatalog::open(url, create).await?)
            }
            CatalogLocation::Memory(name) => memory::MemoryCatalog::named(name, create)?,
        };
        Ok(Self {
            store,
            location: location.clone(),
        })
    }

    /// Open a SQLite catalog file.
    pub async fn open(path: &Path, create: bool) -> CatalogResult<Self> {
        Self::connect(&CatalogLocation::Sqlite(path.to_path_buf()), create).await
    }

    /// A throwaway SQLite catalog: the same schema, without waiting for the disk.
    pub async fn open_scratch(path: &Path) -> CatalogResult<Self> {
        Ok(Self {
            store: Arc::new(sqlite::SqliteCatalog::open(path, true, false).await?),
            location: CatalogLocation::Sqlite(path.to_path_buf()),
        })
    }

    /// A new, empty catalog in this process's memory (`simulate`), under a name of its own.
    pub fn in_memory() -> Self {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!(
            "{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let location = CatalogLocation::Memory(name.clone());
        Self {
            store: memory::MemoryCatalog::named(&name, true).expect("a new name"),
            location,
        }
    }

    pub fn location(&self) -> &CatalogLocation {
        &self.location
    }
}

/// The newest SQLite schema version this build knows.
pub fn supported_schema_version() -> i64 {
    sqlite::supported_schema_version()
}

/// The newest PostgreSQL schema version this build knows.
pub fn supported_postgres_schema_version() -> i64 {
    postgres::supported_schema_version()
}

/// The advisory-lock key of a site's lock (PostgreSQL): 64 bits of SHA-256 of its name.
fn site_lock_key(site: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("wpbackup-site:{site}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// `INSERT … RETURNING` statements are read with `fetch_all`, never `fetch_one`, on
/// SQLite: sqlx leaves a statement that was not stepped to its end un-reset, which pins
/// the WAL — checkpoints can then never reset it, and it grew by ~20 KB per commit (13 GB
/// for a million points).
fn no_returned_row() -> CatalogError {
    CatalogError::Corrupt("an INSERT … RETURNING statement returned no row".into())
}

mod memory;
mod postgres;
mod sqlite;
