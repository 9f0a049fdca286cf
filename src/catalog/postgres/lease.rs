//! The one-daemon lease, what the scheduler reads back after a restart, and `/metrics`.

use super::PgCatalog;
use crate::catalog::rows::lease_from_row;
use crate::catalog::{CatalogResult, ClaimedFire, Lease, LeaseStore, MetricsSnapshot};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

#[async_trait]
impl LeaseStore for PgCatalog {
    async fn acquire_lease(
        &self,
        holder: &str,
        pid: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<Result<(), Lease>> {
        let expires = crate::domain::time::add_saturating(now, ttl);
        sqlx::query(
            "INSERT INTO daemon_lease (id, holder, pid, acquired_at, heartbeat_at, expires_at)
             VALUES (1, $1, $2, $3, $3, $4)
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, pid = excluded.pid,
                 acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at,
                 expires_at = excluded.expires_at
             WHERE daemon_lease.expires_at <= $3 OR daemon_lease.holder = excluded.holder",
        )
        .bind(holder)
        .bind(pid)
        .bind(now)
        .bind(expires)
        .execute(&self.pool)
        .await?;
        let lease = self.current_lease().await?.expect("lease row exists");
        Ok(if lease.holder == holder {
            Ok(())
        } else {
            Err(lease)
        })
    }

    async fn take_over_lease(
        &self,
        old_holder: &str,
        holder: &str,
        pid: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<bool> {
        let expires = crate::domain::time::add_saturating(now, ttl);
        let done = sqlx::query(
            "UPDATE daemon_lease SET holder = $2, pid = $3, acquired_at = $4, heartbeat_at = $4, expires_at = $5
             WHERE id = 1 AND holder = $1",
        )
        .bind(old_holder)
        .bind(holder)
        .bind(pid)
        .bind(now)
        .bind(expires)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn renew_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<bool> {
        let expires = crate::domain::time::add_saturating(now, ttl);
        let done = sqlx::query(
            "UPDATE daemon_lease SET heartbeat_at = $2, expires_at = $3 WHERE id = 1 AND holder = $1",
        )
        .bind(holder)
        .bind(now)
        .bind(expires)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lease(&self, holder: &str) -> CatalogResult<()> {
        sqlx::query("DELETE FROM daemon_lease WHERE id = 1 AND holder = $1")
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn current_lease(&self) -> CatalogResult<Option<Lease>> {
        let row = sqlx::query(
            "SELECT holder, pid, acquired_at, heartbeat_at, expires_at FROM daemon_lease WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(lease_from_row).transpose()
    }

    async fn last_scheduled_fire(&self, component_id: i64) -> CatalogResult<Option<DateTime<Utc>>> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(scheduled_for) FROM runs WHERE component_id = $1 AND trigger = 'schedule'
               AND phase NOT IN ('InProgress', 'Interrupted')",
        )
        .bind(component_id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn interrupted_attempts(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
    ) -> CatalogResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM runs WHERE component_id = $1 AND trigger = 'schedule'
               AND scheduled_for = $2 AND phase = 'Interrupted'",
        )
        .bind(component_id)
        .bind(scheduled_for)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn runs_in_progress(&self) -> CatalogResult<Vec<(i64, Option<i64>, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT r.id, r.pid, s.name, c.name FROM runs r JOIN components c ON c.id = r.component_id
             JOIN sites s ON s.id = c.site_id WHERE r.phase = 'InProgress' ORDER BY r.id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn metrics(&self) -> CatalogResult<MetricsSnapshot> {
        let last_success = sqlx::query_as(
            "SELECT s.name, c.name, MAX(p.point_time) FROM recovery_points p
             JOIN components c ON c.id = p.component_id JOIN sites s ON s.id = c.site_id
             WHERE p.state = 'available' AND p.region = s.region GROUP BY s.name, c.name",
        )
        .fetch_all(&self.pool)
        .await?;
        let runs_by_phase =
            sqlx::query_as("SELECT phase, COUNT(*) FROM runs GROUP BY phase ORDER BY phase")
                .fetch_all(&self.pool)
                .await?;
        let points_by_state = sqlx::query_as(
            "SELECT state, COUNT(*) FROM recovery_points GROUP BY state ORDER BY state",
        )
        .fetch_all(&self.pool)
        .await?;
        let missed_fires = sqlx::query_as(
            "SELECT s.name, c.name, COUNT(*) FROM runs r
             JOIN components c ON c.id = r.component_id JOIN sites s ON s.id = c.site_id
             WHERE r.phase = 'Skipped' AND r.trigger = 'schedule' AND r.failure_reason LIKE $1 || '%'
             GROUP BY s.name, c.name ORDER BY s.name, c.name",
        )
        .bind(crate::domain::model::MISSED_FIRE)
        .fetch_all(&self.pool)
        .await?;
        let run_failures = sqlx::query_as(
            "SELECT s.name, c.name, COUNT(*) FROM runs r
             JOIN components c ON c.id = r.component_id JOIN sites s ON s.id = c.site_id
             WHERE r.phase = 'Failed' GROUP BY s.name, c.name ORDER BY s.name, c.name",
        )
        .fetch_all(&self.pool)
        .await?;
        let last_run_seconds = sqlx::query_as(
            "SELECT DISTINCT ON (r.component_id) s.name, c.name,
                    EXTRACT(EPOCH FROM r.finished_at - r.started_at)::float8
             FROM runs r JOIN components c ON c.id = r.component_id JOIN sites s ON s.id = c.site_id
             WHERE r.finished_at IS NOT NULL AND r.phase <> 'Skipped'
             ORDER BY r.component_id, r.id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(MetricsSnapshot {
            last_success,
            runs_by_phase,
            points_by_state,
            last_run_seconds,
            missed_fires,
            run_failures,
        })
    }

    async fn join_daemons(
        &self,
        holder: &str,
        pid: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<()> {
        let expires = crate::domain::time::add_saturating(now, ttl);
        sqlx::query(
            "INSERT INTO daemons (holder, pid, started_at, heartbeat_at, expires_at)
             VALUES ($1, $2, $3, $3, $4)
             ON CONFLICT (holder) DO UPDATE SET heartbeat_at = $3, expires_at = $4",
        )
        .bind(holder)
        .bind(pid)
        .bind(now)
        .bind(expires)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn renew_daemon(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<bool> {
        let expires = crate::domain::time::add_saturating(now, ttl);
        let done =
            sqlx::query("UPDATE daemons SET heartbeat_at = $2, expires_at = $3 WHERE holder = $1")
                .bind(holder)
                .bind(now)
                .bind(expires)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn leave_daemons(&self, holder: &str) -> CatalogResult<()> {
        sqlx::query("DELETE FROM daemons WHERE holder = $1")
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn live_daemons(&self, now: DateTime<Utc>) -> CatalogResult<Vec<Lease>> {
        let rows = sqlx::query(
            "SELECT holder, pid, started_at AS acquired_at, heartbeat_at, expires_at FROM daemons
             WHERE expires_at > $1 ORDER BY started_at, holder",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(lease_from_row).collect()
    }

    async fn claim_fire(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
        holder: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<Option<i64>> {
        // Two daemons inserting at once: one inserts, the other waits for it and then
        // finds the row held by a live daemon — no update, no row returned.
        Ok(sqlx::query_scalar(
            "INSERT INTO fire_claims (component_id, scheduled_for, holder, claimed_at, state)
             VALUES ($1, $2, $3, $4, 'claimed')
             ON CONFLICT (component_id, scheduled_for) DO UPDATE
                 SET holder = excluded.holder, claimed_at = excluded.claimed_at,
                     takeovers = fire_claims.takeovers + 1
                 WHERE fire_claims.state = 'claimed' AND fire_claims.holder <> excluded.holder
                   AND NOT EXISTS (SELECT 1 FROM daemons d
                                   WHERE d.holder = fire_claims.holder AND d.expires_at > $4)
             RETURNING takeovers",
        )
        .bind(component_id)
        .bind(scheduled_for)
        .bind(holder)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn finish_fire(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
        holder: &str,
    ) -> CatalogResult<()> {
        sqlx::query(
            "UPDATE fire_claims SET state = 'done'
             WHERE component_id = $1 AND scheduled_for = $2 AND holder = $3",
        )
        .bind(component_id)
        .bind(scheduled_for)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn fire_held_by_live_daemon(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> CatalogResult<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM fire_claims f JOIN daemons d ON d.holder = f.holder
                            WHERE f.component_id = $1 AND f.scheduled_for = $2
                              AND f.state = 'claimed' AND d.expires_at > $3)",
        )
        .bind(component_id)
        .bind(scheduled_for)
        .bind(now)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn claimed_fires(
        &self,
        dead_at: Option<DateTime<Utc>>,
    ) -> CatalogResult<Vec<ClaimedFire>> {
        let rows: Vec<(i64, String, String, DateTime<Utc>, String)> = sqlx::query_as(
            "SELECT f.component_id, s.name, c.name, f.scheduled_for, f.holder
             FROM fire_claims f JOIN components c ON c.id = f.component_id
                                JOIN sites s ON s.id = c.site_id
             WHERE f.state = 'claimed'
               AND ($1::timestamptz IS NULL
                    OR NOT EXISTS (SELECT 1 FROM daemons d
                                   WHERE d.holder = f.holder AND d.expires_at > $1))
             ORDER BY f.scheduled_for, f.component_id",
        )
        .bind(dead_at)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(component_id, site, component, scheduled_for, holder)| ClaimedFire {
                    component_id,
                    site,
                    component,
                    scheduled_for,
                    holder,
                },
            )
            .collect())
    }
}
