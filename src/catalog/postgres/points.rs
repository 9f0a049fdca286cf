//! Recovery points: recorded, updated as they progress, read by filter, by component and by id.

use super::PgCatalog;
use crate::catalog::rows::point_from_row;
use crate::catalog::{CatalogResult, PointFilter, PointRecord, PointStore};
use crate::domain::model::{PointState, RecoveryPoint};
use crate::domain::planner::PointsByComponent;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;

#[async_trait]
impl PointStore for PgCatalog {
    async fn upsert_point(&self, p: &PointRecord, now: DateTime<Utc>) -> CatalogResult<i64> {
        upsert_point_with(&self.pool, p, now).await
    }

    async fn upsert_points(
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

    async fn set_point_state(
        &self,
        id: i64,
        state: PointState,
        failure_reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        let done = matches!(state, PointState::Available | PointState::Failed);
        let deleted = matches!(state, PointState::Deleted);
        sqlx::query(
            "UPDATE recovery_points SET state = $2, failure_reason = COALESCE($3, failure_reason),
                 completed_at = CASE WHEN $4 THEN COALESCE(completed_at, $5) ELSE completed_at END,
                 deleted_at = CASE WHEN $6 THEN $5 ELSE deleted_at END
             WHERE id = $1",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(failure_reason)
        .bind(done)
        .bind(now)
        .bind(deleted)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn points(&self, filter: &PointFilter) -> CatalogResult<Vec<RecoveryPoint>> {
        let rows = sqlx::query(crate::point_rows!(
            "WHERE ($1::text IS NULL OR s.name = $1) AND ($2::text IS NULL OR c.name = $2)
               AND ($3 OR p.state <> 'deleted')
             ORDER BY p.point_time, p.id"
        ))
        .bind(&filter.site)
        .bind(&filter.component)
        .bind(filter.include_deleted)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(point_from_row).collect()
    }

    async fn points_by_component(&self, site: &str) -> CatalogResult<PointsByComponent> {
        let rows = sqlx::query(crate::point_rows!(
            "WHERE s.name = $1 AND p.state <> 'deleted'
             ORDER BY c.name, p.point_time, p.id"
        ))
        .bind(site)
        .fetch_all(&self.pool)
        .await?;
        let points = rows
            .iter()
            .map(point_from_row)
            .collect::<CatalogResult<Vec<_>>>()?;
        Ok(PointsByComponent::new(points))
    }

    async fn point_named(
        &self,
        component_id: i64,
        region: &str,
        name: &str,
    ) -> CatalogResult<Option<RecoveryPoint>> {
        let row = sqlx::query(crate::point_rows!(
            "WHERE p.component_id = $1 AND p.region = $2 AND p.name = $3 AND p.state <> 'deleted'
             ORDER BY p.id DESC LIMIT 1"
        ))
        .bind(component_id)
        .bind(region)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(point_from_row).transpose()
    }

    async fn point(&self, id: i64) -> CatalogResult<Option<RecoveryPoint>> {
        let row = sqlx::query(crate::point_rows!("WHERE p.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(point_from_row).transpose()
    }
}

/// The one upsert of a point, on the pool or inside a transaction.
async fn upsert_point_with<'e, E>(e: E, p: &PointRecord, now: DateTime<Utc>) -> CatalogResult<i64>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    let completed_at = matches!(p.state, PointState::Available | PointState::Failed).then_some(now);
    let size_bytes = p
        .metadata
        .size_bytes
        .map(|s| i64::try_from(s).unwrap_or(i64::MAX));
    Ok(sqlx::query_scalar(
        "INSERT INTO recovery_points (component_id, run_id, kind, region, name, provider_id, arn,
             point_time, state, source_point_id, managed, encrypted, size_bytes, metadata,
             failure_reason, created_at, completed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         ON CONFLICT (region, kind, provider_id) DO UPDATE SET
             state = $9, arn = COALESCE($7, recovery_points.arn), metadata = $14,
             run_id = COALESCE($2, recovery_points.run_id),
             failure_reason = $15, encrypted = $12, size_bytes = $13,
             completed_at = COALESCE(recovery_points.completed_at, $17)
         RETURNING id",
    )
    .bind(p.component_id)
    .bind(p.run_id)
    .bind(p.kind.as_str())
    .bind(&p.region)
    .bind(&p.name)
    .bind(&p.provider_id)
    .bind(&p.arn)
    .bind(p.point_time)
    .bind(p.state.as_str())
    .bind(p.source_point_id)
    .bind(p.managed)
    .bind(p.metadata.encrypted)
    .bind(size_bytes)
    .bind(Json(&p.metadata))
    .bind(&p.failure_reason)
    .bind(p.created_at)
    .bind(completed_at)
    .fetch_one(e)
    .await?)
}
