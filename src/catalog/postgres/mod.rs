//! The catalog on PostgreSQL: for fleets, shared by several daemons on several hosts.
//! sqlx's postgres driver; append-only migrations embedded from `migrations/postgres/`.
//! Connection settings come from the `postgres://` URL and the standard `PG*` variables
//! (`PGHOST`, `PGUSER`, `PGPASSWORD`, `PGSSLMODE`, `PGSSLROOTCERT`, …) or a password file
//! (`PGPASSFILE`, `~/.pgpass`); a password is never taken from the configuration file.

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
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

static MIGRATOR: LazyLock<Migrator> =
    LazyLock::new(|| super::migrator(super::embedded::POSTGRES_MIGRATIONS));

/// The newest schema version this build knows on PostgreSQL.
pub fn supported_schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The key of the advisory lock that lets one restore execute at a time per catalog
/// (`pg_try_advisory_xact_lock`): "wpbr" in ASCII.
const RESTORE_LOCK_KEY: i64 = 0x7770_6272;

pub(crate) struct PgCatalog {
    pub(super) pool: PgPool,
    /// For the connections that hold locks (outside the pool).
    options: PgConnectOptions,
    /// The URL without its password, for messages.
    shown: String,
}

impl PgCatalog {
    /// Connect, refuse a schema newer than this build knows, then apply pending
    /// migrations (`create`), or refuse a database that holds no catalog yet.
    pub(crate) async fn open(url: &str, create: bool) -> CatalogResult<Self> {
        let shown = super::CatalogLocation::redact(url);
        let connect_err = |source| CatalogError::Connect {
            url: shown.clone(),
            source,
        };
        let options = PgConnectOptions::from_str(url)
            .map_err(connect_err)?
            .application_name("wpbackup");
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(connect_err)?;
        let catalog = Self {
            pool,
            options,
            shown,
        };
        let found: Option<i64> = if catalog.has_schema().await? {
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
                .fetch_one(&catalog.pool)
                .await?
        } else if create {
            None
        } else {
            return Err(CatalogError::Empty(catalog.shown.clone()));
        };
        let supported = supported_schema_version();
        if let Some(found) = found.filter(|f| *f > supported) {
            return Err(CatalogError::NewerSchema {
                location: catalog.shown.clone(),
                found,
                supported,
            });
        }
        // sqlx's migrator holds an advisory lock while it runs: daemons started together
        // migrate once.
        MIGRATOR
            .run(&catalog.pool)
            .await
            .map_err(|source| CatalogError::Migrate {
                location: catalog.shown.clone(),
                source,
            })?;
        Ok(catalog)
    }

    /// A session-level advisory lock on a connection of its own (not the pool's: a backup
    /// holds its site's lock for the whole run, and must not starve the pool). Dropping
    /// the guard closes the connection, and the server releases the lock with the session —
    /// as it does when the process dies.
    async fn session_lock(&self, sql: &str, key: i64) -> CatalogResult<Option<RestoreLock>> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect_with(&self.options).await?;
        let taken: bool = sqlx::query_scalar(sql)
            .bind(key)
            .fetch_one(&mut conn)
            .await?;
        Ok(taken.then(|| RestoreLock::new(conn)))
    }

    async fn has_schema(&self) -> CatalogResult<bool> {
        Ok(
            sqlx::query_scalar::<_, bool>("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

#[async_trait]
impl CatalogStore for PgCatalog {
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

    async fn try_lock_restores(&self) -> CatalogResult<Option<RestoreLock>> {
        self.session_lock("SELECT pg_try_advisory_lock($1)", RESTORE_LOCK_KEY)
            .await
    }

    async fn lock_site(
        &self,
        site: &str,
        exclusive: bool,
        wait: bool,
    ) -> CatalogResult<Option<RestoreLock>> {
        let sql = match (exclusive, wait) {
            (true, true) => "SELECT pg_advisory_lock($1) IS NOT NULL",
            (true, false) => "SELECT pg_try_advisory_lock($1)",
            (false, true) => "SELECT pg_advisory_lock_shared($1) IS NOT NULL",
            (false, false) => "SELECT pg_try_advisory_lock_shared($1)",
        };
        self.session_lock(sql, super::site_lock_key(site)).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
