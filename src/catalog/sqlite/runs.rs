//! Sites, components, the policy texts runs ran under, and runs.

use super::SqliteCatalog;
use crate::catalog::rows::{point_from_row, run_from_row};
use crate::catalog::{no_returned_row, ts, CatalogResult, RunOutcome, RunRecord, RunStore};
use crate::domain::model::{RecoveryPoint, RunPhase};
use crate::domain::policy::{Policy, PolicySource};
use crate::domain::site::Site;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl RunStore for SqliteCatalog {
    async fn upsert_site(&self, site: &Site, now: DateTime<Utc>) -> CatalogResult<i64> {
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

    async fn upsert_component(
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

    async fn record_policy(
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

    async fn run_in_progress(
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

    async fn fail_own_unfinished_run(
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

    async fn mark_interrupted(
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

    async fn points_of_run(&self, run_id: i64) -> CatalogResult<Vec<RecoveryPoint>> {
        let rows = sqlx::query(crate::point_rows!("WHERE p.run_id = ?1 ORDER BY p.id"))
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(point_from_row).collect()
    }

    async fn start_run(
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

    async fn record_skipped_run(
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

    async fn finish_run(
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

    async fn run_by_id(&self, run_id: i64) -> CatalogResult<Option<RunRecord>> {
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

    async fn runs(
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
}
