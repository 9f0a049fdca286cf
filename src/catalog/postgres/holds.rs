//! Holds that keep points from retention, and the record of each deletion.

use super::PgCatalog;
use crate::catalog::rows::hold_from_row;
use crate::catalog::{CatalogResult, HoldRecord, HoldStore, PointStore};
use crate::domain::model::PointState;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl HoldStore for PgCatalog {
    async fn component_id(&self, site: &str, component: &str) -> CatalogResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT c.id FROM components c JOIN sites s ON s.id = c.site_id WHERE s.name = $1 AND c.name = $2",
        )
        .bind(site)
        .bind(component)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn add_hold(
        &self,
        component_id: i64,
        point_id: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> CatalogResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO holds (point_id, component_id, reason, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(point_id)
        .bind(component_id)
        .bind(reason)
        .bind(now)
        .bind(expires_at)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn release_hold(&self, id: i64, now: DateTime<Utc>) -> CatalogResult<bool> {
        let done =
            sqlx::query("UPDATE holds SET released_at = $2 WHERE id = $1 AND released_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn holds(&self, active_at: Option<DateTime<Utc>>) -> CatalogResult<Vec<HoldRecord>> {
        let rows = sqlx::query(
            "SELECT h.*, s.name AS site_name, c.name AS component_name, p.name AS point_name
             FROM holds h JOIN components c ON c.id = h.component_id
                          JOIN sites s ON s.id = c.site_id
                          LEFT JOIN recovery_points p ON p.id = h.point_id
             WHERE $1::timestamptz IS NULL
                OR (h.released_at IS NULL AND (h.expires_at IS NULL OR h.expires_at > $1))
             ORDER BY h.id DESC",
        )
        .bind(active_at)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(hold_from_row).collect()
    }

    async fn planned_points(&self) -> CatalogResult<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT pp.point_id, pp.plan_id FROM restore_plan_points pp
             JOIN restore_plans r ON r.id = pp.plan_id
             WHERE r.status IN ('planned', 'executing', 'failed')",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn begin_deletion(
        &self,
        point_id: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<i64> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE recovery_points SET state = 'deleting' WHERE id = $1")
            .bind(point_id)
            .execute(&mut *tx)
            .await?;
        let id = sqlx::query_scalar(
            "INSERT INTO point_deletions (point_id, requested_at, reason, outcome, attempts)
             VALUES ($1, $2, $3, 'pending', 1) RETURNING id",
        )
        .bind(point_id)
        .bind(now)
        .bind(reason)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn finish_deletion(
        &self,
        deletion_id: i64,
        point_id: i64,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        sqlx::query("UPDATE point_deletions SET outcome = $2, error = $3 WHERE id = $1")
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

    async fn deletions_of(
        &self,
        point_id: i64,
    ) -> CatalogResult<Vec<(String, String, String, Option<String>)>> {
        let rows: Vec<(DateTime<Utc>, String, String, Option<String>)> = sqlx::query_as(
            "SELECT requested_at, reason, outcome, error FROM point_deletions WHERE point_id = $1 ORDER BY id",
        )
        .bind(point_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(at, reason, outcome, error)| (crate::catalog::ts(at), reason, outcome, error))
            .collect())
    }
}
