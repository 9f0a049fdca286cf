//! What audits read (the catalog as it stood at an instant) and what they store.

use super::PgCatalog;
use crate::catalog::rows::{audit_from_row, run_facts_by_component, state_as_of, CatalogRow};
use crate::catalog::{AuditRecord, AuditStore, CatalogError, CatalogResult};
use crate::domain::audit::{Report, RunFacts};
use crate::domain::model::{ComponentKind, PointKind, PointState, RecoveryPoint, RestoreMetadata};
use crate::domain::planner::PointsByComponent;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use std::collections::{BTreeMap, HashMap};

#[async_trait]
impl AuditStore for PgCatalog {
    /// One query: PostgreSQL streams the rows in the order planning needs.
    async fn points_as_of(
        &self,
        site: &str,
        as_of: DateTime<Utc>,
    ) -> CatalogResult<PointsByComponent> {
        let rows = sqlx::query(
            "SELECT p.id, p.kind, p.region, p.name, p.provider_id, p.point_time, p.state,
                    p.source_point_id, p.run_id, p.managed, p.encrypted, p.size_bytes,
                    p.failure_reason, p.created_at, p.completed_at,
                    c.name AS component_name, c.kind AS component_kind
             FROM recovery_points p JOIN components c ON c.id = p.component_id
                                    JOIN sites s ON s.id = c.site_id
             WHERE s.name = $1 AND p.created_at <= $2 AND p.point_time <= $2
               AND (p.state <> 'deleted' OR p.deleted_at > $2)
             ORDER BY p.component_id, p.point_time, p.id",
        )
        .bind(site)
        .bind(as_of)
        .fetch_all(&self.pool)
        .await?;
        let mut points = Vec::with_capacity(rows.len());
        for r in &rows {
            let completed_at = r.opt_instant("completed_at")?;
            let state = r.text("state")?;
            let state = PointState::parse(&state)
                .ok_or_else(|| CatalogError::Corrupt(format!("point state {state:?}")))?;
            let kind = r.text("kind")?;
            let ckind = r.text("component_kind")?;
            let encrypted: Option<bool> = sqlx::Row::try_get(r, "encrypted")?;
            points.push(RecoveryPoint {
                id: r.int("id")?,
                site: site.to_string(),
                component: r.text("component_name")?,
                component_kind: ComponentKind::parse(&ckind)
                    .ok_or_else(|| CatalogError::Corrupt(format!("component kind {ckind:?}")))?,
                kind: PointKind::parse(&kind)
                    .ok_or_else(|| CatalogError::Corrupt(format!("point kind {kind:?}")))?,
                region: r.text("region")?,
                name: r.text("name")?,
                provider_id: r.text("provider_id")?,
                arn: None,
                point_time: r.instant("point_time")?,
                state: state_as_of(state, completed_at, as_of),
                source_point_id: r.opt_int("source_point_id")?,
                run_id: r.opt_int("run_id")?,
                managed: r.flag("managed")?,
                metadata: RestoreMetadata {
                    encrypted,
                    size_bytes: r.opt_int("size_bytes")?.map(|b| b.max(0) as u64),
                    ..Default::default()
                },
                failure_reason: r.opt_text("failure_reason")?,
                created_at: r.instant("created_at")?,
                completed_at,
            });
        }
        Ok(PointsByComponent::new(points))
    }

    async fn point_states(
        &self,
        site: &str,
        found: &[(String, PointKind, String)],
    ) -> CatalogResult<HashMap<(String, String), PointState>> {
        if found.is_empty() {
            return Ok(HashMap::new());
        }
        let regions: Vec<&str> = found.iter().map(|(r, _, _)| r.as_str()).collect();
        let kinds: Vec<&str> = found.iter().map(|(_, k, _)| k.as_str()).collect();
        let ids: Vec<&str> = found.iter().map(|(_, _, i)| i.as_str()).collect();
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT p.region, p.provider_id, p.state
             FROM unnest($2::text[], $3::text[], $4::text[]) AS k(region, kind, provider_id)
             JOIN recovery_points p ON p.region = k.region AND p.kind = k.kind
                                   AND p.provider_id = k.provider_id
             JOIN components c ON c.id = p.component_id JOIN sites s ON s.id = c.site_id
             WHERE s.name = $1",
        )
        .bind(site)
        .bind(&regions)
        .bind(&kinds)
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(region, id, state)| {
                let st = PointState::parse(&state)
                    .ok_or_else(|| CatalogError::Corrupt(format!("point state {state:?}")))?;
                Ok(((region, id), st))
            })
            .collect()
    }

    async fn recent_runs(
        &self,
        site: &str,
        as_of: DateTime<Utc>,
        per_component: i64,
    ) -> CatalogResult<BTreeMap<String, Vec<RunFacts>>> {
        let rows = sqlx::query(
            "SELECT r.id, r.started_at, r.phase, r.failure_reason, c.name AS component_name
             FROM components c JOIN sites s ON s.id = c.site_id
             CROSS JOIN LATERAL (
                 SELECT r2.* FROM runs r2
                 WHERE r2.component_id = c.id AND r2.started_at <= $2
                   AND r2.started_at >= coalesce((
                       SELECT r3.started_at FROM runs r3
                       WHERE r3.component_id = c.id AND r3.started_at <= $2
                         AND r3.phase NOT IN ('Failed', 'Skipped', 'InProgress')
                       ORDER BY r3.started_at DESC LIMIT 1), '-infinity')
                 ORDER BY r2.started_at DESC, r2.id DESC LIMIT $3) r
             WHERE s.name = $1
             ORDER BY component_name, r.started_at DESC, r.id DESC",
        )
        .bind(site)
        .bind(as_of)
        .bind(per_component)
        .fetch_all(&self.pool)
        .await?;
        run_facts_by_component(&rows, usize::MAX)
    }

    async fn missed_fires(
        &self,
        site: &str,
        since: DateTime<Utc>,
        as_of: DateTime<Utc>,
        per_component: usize,
    ) -> CatalogResult<BTreeMap<String, Vec<RunFacts>>> {
        let rows = sqlx::query(
            "SELECT r.id, r.started_at, r.phase, r.failure_reason, c.name AS component_name
             FROM runs r JOIN components c ON c.id = r.component_id
             JOIN sites s ON s.id = c.site_id
             WHERE s.name = $1 AND r.phase = 'Skipped' AND r.trigger = 'schedule'
               AND r.failure_reason LIKE $4 || '%'
               AND r.started_at > $2 AND r.started_at <= $3
             ORDER BY component_name, r.started_at DESC, r.id DESC",
        )
        .bind(site)
        .bind(since)
        .bind(as_of)
        .bind(crate::domain::model::MISSED_FIRE)
        .fetch_all(&self.pool)
        .await?;
        run_facts_by_component(&rows, per_component)
    }

    async fn insert_audit(&self, report: &Report) -> CatalogResult<i64> {
        let stored = Report {
            timelines: Vec::new(),
            ..report.clone()
        };
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO audits (site_id, as_of, created_at, status, report)
             VALUES ((SELECT id FROM sites WHERE name = $1), $2, $3, $4, $5) RETURNING id",
        )
        .bind(&report.site)
        .bind(report.as_of)
        .bind(report.created_at)
        .bind(report.status.as_str())
        .bind(Json(&stored))
        .fetch_one(&mut *tx)
        .await?;
        // One statement for all findings: the server walks the stored report.
        sqlx::query(
            "INSERT INTO audit_findings (audit_id, control, component, status, evidence, remediation)
             SELECT a.id, f ->> 'control', f ->> 'component', f ->> 'status',
                    f -> 'evidence', f ->> 'remediation'
             FROM audits a CROSS JOIN LATERAL jsonb_array_elements(a.report -> 'findings') f
             WHERE a.id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn last_audit(
        &self,
        site: &str,
        before_id: Option<i64>,
    ) -> CatalogResult<Option<AuditRecord>> {
        let row = sqlx::query(
            "SELECT a.*, s.name AS site_name FROM audits a JOIN sites s ON s.id = a.site_id
             WHERE s.name = $1 AND ($2::bigint IS NULL OR a.id < $2) ORDER BY a.id DESC LIMIT 1",
        )
        .bind(site)
        .bind(before_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(audit_from_row).transpose()
    }
}
