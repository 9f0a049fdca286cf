//! The catalog in one SQLite file, the embedded default: sqlx's SQLite driver, WAL mode
//! and a busy timeout so the daemon and a CLI can share the file; append-only migrations
//! embedded from `migrations/` (the `*.sql` files there; `postgres/` is PostgreSQL's).

mod audit;
mod holds;
mod lease;
mod points;
mod restore;
mod runs;
mod serving;

use super::{CatalogError, CatalogResult, CatalogStore, RestoreLock};
use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::SqlitePool;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

static MIGRATOR: LazyLock<Migrator> =
    LazyLock::new(|| super::migrator(super::embedded::SQLITE_MIGRATIONS));

/// The newest schema version this build knows on SQLite.
pub fn supported_schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

pub(crate) struct SqliteCatalog {
    pub(super) pool: SqlitePool,
    path: PathBuf,
}

impl SqliteCatalog {
    /// Open (and, with `create`, create) the file, refusing one written by a newer
    /// schema, then apply any pending migrations. `durable: false` (simulate's scratch
    /// catalog) does not wait for the disk.
    pub(crate) async fn open(path: &Path, create: bool, durable: bool) -> CatalogResult<Self> {
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
                location: path.display().to_string(),
                source,
            })?;
        Ok(catalog)
    }

    /// The file `<catalog><suffix>` beside the catalog, opened for locking.
    fn lock_file(&self, suffix: &str) -> CatalogResult<(std::fs::File, PathBuf)> {
        let mut path = self.path.as_os_str().to_owned();
        path.push(suffix);
        let path = PathBuf::from(path);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| CatalogError::Open {
                path: path.clone(),
                source: sqlx::Error::Io(e),
            })?;
        Ok((file, path))
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
                location: self.path.display().to_string(),
                found,
                supported,
            }),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl CatalogStore for SqliteCatalog {
    async fn identity(&self) -> CatalogResult<String> {
        Ok(
            sqlx::query_scalar("SELECT catalog_id FROM catalog_identity WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn schema_version(&self) -> CatalogResult<i64> {
        Ok(
            sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM _sqlx_migrations")
                .fetch_one(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    /// An exclusive lock on `<catalog>.restore.lock`, beside the file.
    async fn try_lock_restores(&self) -> CatalogResult<Option<RestoreLock>> {
        use fs4::fs_std::FileExt;
        let (file, _) = self.lock_file(".restore.lock")?;
        Ok(match file.try_lock_exclusive() {
            Ok(true) => Some(RestoreLock::new(file)),
            _ => None,
        })
    }

    /// A shared or exclusive lock on `<catalog>.site-<name>.lock`, beside the file.
    async fn lock_site(
        &self,
        site: &str,
        exclusive: bool,
        wait: bool,
    ) -> CatalogResult<Option<RestoreLock>> {
        use fs4::fs_std::FileExt;
        let (file, path) = self.lock_file(&format!(".site-{site}.lock"))?;
        let locked = tokio::task::spawn_blocking(move || {
            let taken = match (exclusive, wait) {
                (true, true) => FileExt::lock_exclusive(&file).map(|()| true),
                (true, false) => FileExt::try_lock_exclusive(&file),
                (false, true) => FileExt::lock_shared(&file).map(|()| true),
                (false, false) => FileExt::try_lock_shared(&file),
            };
            (file, taken)
        })
        .await
        .map_err(|e| CatalogError::Corrupt(format!("site lock: {e}")))?;
        match locked {
            (file, Ok(true)) => Ok(Some(RestoreLock::new(file))),
            (_, Ok(false)) => Ok(None),
            (_, Err(e)) => Err(CatalogError::Open {
                path,
                source: sqlx::Error::Io(e),
            }),
        }
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
