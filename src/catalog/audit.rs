//! What audits read (the catalog as it stood at an instant) and what they store.

use super::{no_returned_row, parse_opt_ts, parse_ts, ts, Catalog, CatalogError, CatalogResult};
use crate::domain::audit::{Report, RunFacts, Status};
use crate::domain::model::{
    ComponentKind, PointKind, PointState, RecoveryPoint, RestoreMetadata, RunPhase,
};
use crate::domain::planner::PointsByComponent;
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// A stored audit.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: i64,
    pub site: String,
    pub as_of: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub status: Status,
    pub report: Report,
}

impl Catalog {
    /// A site's points as they stood at `as_of`, by component, oldest first: taken by then,
    /// not yet deleted then (a point deleted later counts as available), and a point still
    /// being created then counts as creating. Light rows for audits: of the restore
    /// metadata only `encrypted` and `size_bytes` (their own columns) are read, and no
    /// ORDER BY: the join walks each component's points through the component index, so
    /// rows come grouped by component, and `PointsByComponent` puts each in time order
    /// (or sorts everything, should a plan ever interleave them). No JSON parsed, no
    /// million-row sort in SQLite.
    pub async fn points_as_of(
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
             WHERE c.site_id = (SELECT id FROM sites WHERE name = ?1)
               AND p.created_at <= ?2 AND p.point_time <= ?2
               AND (p.state <> 'deleted' OR p.deleted_at > ?2)",
        )
        .bind(site)
        .bind(ts(as_of))
        .fetch_all(&self.pool)
        .await?;
        let mut points = Vec::with_capacity(rows.len());
        for r in &rows {
            let kind: String = r.try_get("kind")?;
            let state: String = r.try_get("state")?;
            let ckind: String = r.try_get("component_kind")?;
            let corrupt = |what: &str, v: &str| CatalogError::Corrupt(format!("{what} {v:?}"));
            let mut state =
                PointState::parse(&state).ok_or_else(|| corrupt("point state", &state))?;
            let completed_at = parse_opt_ts(r.try_get("completed_at")?)?;
            if state == PointState::Deleted {
                state = PointState::Available;
            }
            if state == PointState::Available && completed_at.is_some_and(|c| c > as_of) {
                state = PointState::Creating;
            }
            points.push(RecoveryPoint {
                id: r.try_get("id")?,
                site: site.to_string(),
                component: r.try_get("component_name")?,
                component_kind: ComponentKind::parse(&ckind)
                    .ok_or_else(|| corrupt("component kind", &ckind))?,
                kind: PointKind::parse(&kind).ok_or_else(|| corrupt("point kind", &kind))?,
                region: r.try_get("region")?,
                name: r.try_get("name")?,
                provider_id: r.try_get("provider_id")?,
                arn: None,
                point_time: parse_ts(&r.try_get::<String, _>("point_time")?)?,
                state,
                source_point_id: r.try_get("source_point_id")?,
                run_id: r.try_get("run_id")?,
                managed: r.try_get("managed")?,
                metadata: RestoreMetadata {
                    encrypted: r.try_get("encrypted")?,
                    size_bytes: r
                        .try_get::<Option<i64>, _>("size_bytes")?
                        .map(|b| b.max(0) as u64),
                    ..Default::default()
                },
                failure_reason: r.try_get("failure_reason")?,
                created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
                completed_at,
            });
        }
        Ok(PointsByComponent::new(points))
    }

    /// Every point of a site ever recorded, by (region, provider id): its state now.
    pub async fn point_states(
        &self,
        site: &str,
    ) -> CatalogResult<HashMap<(String, String), PointState>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT p.region, p.provider_id, p.state FROM recovery_points p
             JOIN components c ON c.id = p.component_id JOIN sites s ON s.id = c.site_id
             WHERE s.name = ?1",
        )
        .bind(site)
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

    /// Each component's latest `per_component` runs started by `as_of`, newest first.
    pub async fn recent_runs(
        &self,
        site: &str,
        as_of: DateTime<Utc>,
        per_component: i64,
    ) -> CatalogResult<BTreeMap<String, Vec<RunFacts>>> {
        let rows = sqlx::query(
            "SELECT * FROM (
                 SELECT r.id, r.started_at, r.phase, r.failure_reason, c.name AS component_name,
                        ROW_NUMBER() OVER (PARTITION BY r.component_id ORDER BY r.id DESC) AS n
                 FROM runs r JOIN components c ON c.id = r.component_id
                             JOIN sites s ON s.id = c.site_id
                 WHERE s.name = ?1 AND r.started_at <= ?2)
             WHERE n <= ?3 ORDER BY component_name, id DESC",
        )
        .bind(site)
        .bind(ts(as_of))
        .bind(per_component)
        .fetch_all(&self.pool)
        .await?;
        let mut out: BTreeMap<String, Vec<RunFacts>> = BTreeMap::new();
        for r in &rows {
            let phase: String = r.try_get("phase")?;
            out.entry(r.try_get("component_name")?)
                .or_default()
                .push(RunFacts {
                    id: r.try_get("id")?,
                    started_at: parse_ts(&r.try_get::<String, _>("started_at")?)?,
                    phase: RunPhase::parse(&phase)
                        .ok_or_else(|| CatalogError::Corrupt(format!("run phase {phase:?}")))?,
                    failure_reason: r.try_get("failure_reason")?,
                });
        }
        Ok(out)
    }

    /// Store an audit and its findings; returns its id.
    pub async fn insert_audit(&self, report: &Report) -> CatalogResult<i64> {
        let json = serde_json::to_string(report).expect("report serialises");
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO audits (site_id, as_of, created_at, status, report)
             VALUES ((SELECT id FROM sites WHERE name = ?1), ?2, ?3, ?4, ?5) RETURNING id",
        )
        .bind(&report.site)
        .bind(ts(report.as_of))
        .bind(ts(report.created_at))
        .bind(report.status.as_str())
        .bind(json)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .next()
        .ok_or_else(no_returned_row)?;
        for f in &report.findings {
            sqlx::query(
                "INSERT INTO audit_findings (audit_id, control, component, status, evidence, remediation)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .bind(id)
            .bind(&f.control)
            .bind(&f.component)
            .bind(f.status.as_str())
            .bind(serde_json::to_string(&f.evidence).expect("evidence serialises"))
            .bind(&f.remediation)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// The newest stored audit of a site (before `before_id`, when given).
    pub async fn last_audit(
        &self,
        site: &str,
        before_id: Option<i64>,
    ) -> CatalogResult<Option<AuditRecord>> {
        let row = sqlx::query(
            "SELECT a.*, s.name AS site_name FROM audits a JOIN sites s ON s.id = a.site_id
             WHERE s.name = ?1 AND (?2 IS NULL OR a.id < ?2) ORDER BY a.id DESC LIMIT 1",
        )
        .bind(site)
        .bind(before_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let status: String = r.try_get("status")?;
        let report: String = r.try_get("report")?;
        Ok(Some(AuditRecord {
            id: r.try_get("id")?,
            site: r.try_get("site_name")?,
            as_of: parse_ts(&r.try_get::<String, _>("as_of")?)?,
            created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
            status: Status::parse(&status)
                .ok_or_else(|| CatalogError::Corrupt(format!("audit status {status:?}")))?,
            report: serde_json::from_str(&report)
                .map_err(|e| CatalogError::Corrupt(format!("audit report: {e}")))?,
        }))
    }
}
