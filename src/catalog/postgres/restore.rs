//! Restore plans and their steps: the plan JSON as reviewed, each step's state, timing and
//! provider ids (written before and after the step acts, so a crash can be resumed).

use super::PgCatalog;
use crate::catalog::rows::{duration_history, plan_from_row, step_from_row};
use crate::catalog::{CatalogResult, PlanRecord, RestoreStore, StepRecord, PLAN_SELECT};
use crate::domain::restore_plan::{DurationHistory, Plan, PlanStatus, StepState};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;

type Outputs = serde_json::Map<String, serde_json::Value>;

#[async_trait]
impl RestoreStore for PgCatalog {
    async fn insert_plan(
        &self,
        site_id: i64,
        plan: &Plan,
        plan_json: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<bool> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO restore_plans (id, site_id, purpose, target_time, to_region, plan_version,
                                        plan, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'planned', $8, $8)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&plan.id)
        .bind(site_id)
        .bind(plan.purpose.as_str())
        .bind(plan.at)
        .bind(&plan.region)
        .bind(i64::from(plan.plan_version))
        .bind(plan_json)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !inserted {
            return Ok(false);
        }
        for s in &plan.steps {
            sqlx::query(
                "INSERT INTO restore_steps (plan_id, step_key, depends_on, state) VALUES ($1, $2, $3, 'pending')",
            )
            .bind(&plan.id)
            .bind(&s.key)
            .bind(Json(&s.depends_on))
            .execute(&mut *tx)
            .await?;
        }
        let points = plan.point_ids();
        sqlx::query(
            "INSERT INTO restore_plan_points (plan_id, point_id)
             SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
        )
        .bind(&plan.id)
        .bind(&points)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn restore_plan(&self, id: &str) -> CatalogResult<Option<PlanRecord>> {
        let row = sqlx::query(&format!("{PLAN_SELECT} WHERE r.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(plan_from_row).transpose()
    }

    async fn restore_plans(
        &self,
        site: Option<&str>,
        limit: i64,
    ) -> CatalogResult<Vec<PlanRecord>> {
        let rows = sqlx::query(&format!(
            "{PLAN_SELECT} WHERE ($1::text IS NULL OR s.name = $1)
             ORDER BY r.created_at DESC, r.id DESC LIMIT $2"
        ))
        .bind(site)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(plan_from_row).collect()
    }

    async fn set_plan_status(
        &self,
        id: &str,
        status: PlanStatus,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        sqlx::query("UPDATE restore_plans SET status = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(status.as_str())
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn restore_steps(&self, plan_id: &str) -> CatalogResult<Vec<StepRecord>> {
        let rows = sqlx::query("SELECT * FROM restore_steps WHERE plan_id = $1 ORDER BY id")
            .bind(plan_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(step_from_row).collect()
    }

    async fn add_restore_step(
        &self,
        plan_id: &str,
        key: &str,
        depends_on: &[String],
    ) -> CatalogResult<()> {
        sqlx::query(
            "INSERT INTO restore_steps (plan_id, step_key, depends_on, state) VALUES ($1, $2, $3, 'pending')
             ON CONFLICT (plan_id, step_key) DO NOTHING",
        )
        .bind(plan_id)
        .bind(key)
        .bind(Json(depends_on))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn start_restore_step(
        &self,
        plan_id: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        sqlx::query(
            "UPDATE restore_steps SET state = 'running', started_at = $3, finished_at = NULL,
                                      error = NULL, attempts = attempts + 1
             WHERE plan_id = $1 AND step_key = $2",
        )
        .bind(plan_id)
        .bind(key)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_step_outputs(
        &self,
        plan_id: &str,
        key: &str,
        outputs: &Outputs,
    ) -> CatalogResult<()> {
        sqlx::query(
            "UPDATE restore_steps SET provider_ids = $3 WHERE plan_id = $1 AND step_key = $2",
        )
        .bind(plan_id)
        .bind(key)
        .bind(Json(outputs))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish_restore_step(
        &self,
        plan_id: &str,
        key: &str,
        state: StepState,
        outputs: &Outputs,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        sqlx::query(
            "UPDATE restore_steps SET state = $3, provider_ids = $4, error = $5, finished_at = $6
             WHERE plan_id = $1 AND step_key = $2",
        )
        .bind(plan_id)
        .bind(key)
        .bind(state.as_str())
        .bind(Json(outputs))
        .bind(error)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn step_duration_history(&self) -> CatalogResult<DurationHistory> {
        let rows: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT step_key, started_at, finished_at FROM restore_steps
             WHERE state = 'done' AND started_at IS NOT NULL AND finished_at IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(duration_history(rows))
    }
}
