//! Restore plans and their steps: the plan JSON as reviewed, each step's state, timing and
//! provider ids (written before and after the step acts, so a crash can be resumed).

use super::{parse_opt_ts, parse_ts, ts, Catalog, CatalogError, CatalogResult};
use crate::domain::restore_plan::{DurationHistory, Plan, PlanStatus, Purpose, StepState};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

/// A stored plan (the JSON is kept byte for byte).
#[derive(Debug, Clone, Serialize)]
pub struct PlanRecord {
    pub id: String,
    pub site: String,
    pub purpose: Purpose,
    pub target_time: DateTime<Utc>,
    pub to_region: String,
    pub status: PlanStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub plan_json: String,
}

impl PlanRecord {
    pub fn plan(&self) -> CatalogResult<Plan> {
        serde_json::from_str(&self.plan_json)
            .map_err(|e| CatalogError::Corrupt(format!("plan {}: {e}", self.id)))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub key: String,
    pub depends_on: Vec<String>,
    pub state: StepState,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What the step created or changed (instance id, cluster, file system, previous
    /// instance behind the address…).
    pub outputs: serde_json::Map<String, serde_json::Value>,
    pub error: Option<String>,
    pub attempts: i64,
}

impl StepRecord {
    pub fn output(&self, name: &str) -> Option<&str> {
        self.outputs.get(name).and_then(|v| v.as_str())
    }
}

fn plan_from_row(r: &sqlx::sqlite::SqliteRow) -> CatalogResult<PlanRecord> {
    Ok(PlanRecord {
        id: r.try_get("id")?,
        site: r.try_get("site_name")?,
        purpose: {
            let s: String = r.try_get("purpose")?;
            Purpose::parse(&s)
                .ok_or_else(|| CatalogError::Corrupt(format!("plan purpose {s:?}")))?
        },
        target_time: parse_ts(&r.try_get::<String, _>("target_time")?)?,
        to_region: r.try_get("to_region")?,
        status: {
            let s: String = r.try_get("status")?;
            PlanStatus::parse(&s)
                .ok_or_else(|| CatalogError::Corrupt(format!("plan status {s:?}")))?
        },
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
        plan_json: r.try_get("plan")?,
    })
}

const PLAN_SELECT: &str =
    "SELECT r.*, s.name AS site_name FROM restore_plans r JOIN sites s ON s.id = r.site_id";

impl Catalog {
    /// Store a plan with its steps (all pending) and the points it relies on, in one
    /// transaction. Returns false (and changes nothing) when a plan with this id exists.
    pub async fn insert_plan(
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
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'planned', ?8, ?8)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&plan.id)
        .bind(site_id)
        .bind(plan.purpose.as_str())
        .bind(ts(plan.at))
        .bind(&plan.region)
        .bind(i64::from(plan.plan_version))
        .bind(plan_json)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !inserted {
            return Ok(false);
        }
        for s in &plan.steps {
            sqlx::query(
                "INSERT INTO restore_steps (plan_id, step_key, depends_on, state) VALUES (?1, ?2, ?3, 'pending')",
            )
            .bind(&plan.id)
            .bind(&s.key)
            .bind(serde_json::to_string(&s.depends_on).expect("strings serialise"))
            .execute(&mut *tx)
            .await?;
        }
        for p in plan.point_ids() {
            sqlx::query(
                "INSERT OR IGNORE INTO restore_plan_points (plan_id, point_id) VALUES (?1, ?2)",
            )
            .bind(&plan.id)
            .bind(p)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn restore_plan(&self, id: &str) -> CatalogResult<Option<PlanRecord>> {
        let row = sqlx::query(&format!("{PLAN_SELECT} WHERE r.id = ?1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(plan_from_row).transpose()
    }

    /// Plans, newest first.
    pub async fn restore_plans(
        &self,
        site: Option<&str>,
        limit: i64,
    ) -> CatalogResult<Vec<PlanRecord>> {
        let rows = sqlx::query(&format!(
            "{PLAN_SELECT} WHERE (?1 IS NULL OR s.name = ?1) ORDER BY r.created_at DESC, r.id DESC LIMIT ?2"
        ))
        .bind(site)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(plan_from_row).collect()
    }

    pub async fn set_plan_status(
        &self,
        id: &str,
        status: PlanStatus,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        sqlx::query("UPDATE restore_plans SET status = ?2, updated_at = ?3 WHERE id = ?1")
            .bind(id)
            .bind(status.as_str())
            .bind(ts(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A plan's steps, in the plan's order (rollback steps last).
    pub async fn restore_steps(&self, plan_id: &str) -> CatalogResult<Vec<StepRecord>> {
        let rows = sqlx::query("SELECT * FROM restore_steps WHERE plan_id = ?1 ORDER BY id")
            .bind(plan_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let deps: String = r.try_get("depends_on")?;
                let outputs: String = r.try_get("provider_ids")?;
                Ok(StepRecord {
                    key: r.try_get("step_key")?,
                    depends_on: serde_json::from_str(&deps)
                        .map_err(|e| CatalogError::Corrupt(format!("depends_on: {e}")))?,
                    state: {
                        let s: String = r.try_get("state")?;
                        StepState::parse(&s)
                            .ok_or_else(|| CatalogError::Corrupt(format!("step state {s:?}")))?
                    },
                    started_at: parse_opt_ts(r.try_get("started_at")?)?,
                    finished_at: parse_opt_ts(r.try_get("finished_at")?)?,
                    outputs: serde_json::from_str(&outputs)
                        .map_err(|e| CatalogError::Corrupt(format!("provider_ids: {e}")))?,
                    error: r.try_get("error")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Add a step to a stored plan (rollback); no-op when it exists.
    pub async fn add_restore_step(
        &self,
        plan_id: &str,
        key: &str,
        depends_on: &[String],
    ) -> CatalogResult<()> {
        sqlx::query(
            "INSERT INTO restore_steps (plan_id, step_key, depends_on, state) VALUES (?1, ?2, ?3, 'pending')
             ON CONFLICT (plan_id, step_key) DO NOTHING",
        )
        .bind(plan_id)
        .bind(key)
        .bind(serde_json::to_string(depends_on).expect("strings serialise"))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Mark a step running, before it acts.
    pub async fn start_restore_step(
        &self,
        plan_id: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        sqlx::query(
            "UPDATE restore_steps SET state = 'running', started_at = ?3, finished_at = NULL,
                                      error = NULL, attempts = attempts + 1
             WHERE plan_id = ?1 AND step_key = ?2",
        )
        .bind(plan_id)
        .bind(key)
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Record what a running step has done so far (ids of what it created).
    pub async fn record_step_outputs(
        &self,
        plan_id: &str,
        key: &str,
        outputs: &serde_json::Map<String, serde_json::Value>,
    ) -> CatalogResult<()> {
        sqlx::query(
            "UPDATE restore_steps SET provider_ids = ?3 WHERE plan_id = ?1 AND step_key = ?2",
        )
        .bind(plan_id)
        .bind(key)
        .bind(serde_json::Value::Object(outputs.clone()).to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Mark a step done / failed / skipped, after it acted.
    pub async fn finish_restore_step(
        &self,
        plan_id: &str,
        key: &str,
        state: StepState,
        outputs: &serde_json::Map<String, serde_json::Value>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        sqlx::query(
            "UPDATE restore_steps SET state = ?3, provider_ids = ?4, error = ?5, finished_at = ?6
             WHERE plan_id = ?1 AND step_key = ?2",
        )
        .bind(plan_id)
        .bind(key)
        .bind(state.as_str())
        .bind(serde_json::Value::Object(outputs.clone()).to_string())
        .bind(error)
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Median measured duration of finished steps, per action kind (the step key's last
    /// part), over every plan: what plans use as expected durations.
    pub async fn step_duration_history(&self) -> CatalogResult<DurationHistory> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT step_key, started_at, finished_at FROM restore_steps
             WHERE state = 'done' AND started_at IS NOT NULL AND finished_at IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut by_kind: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
        for (key, a, b) in rows {
            let kind = key.rsplit('.').next().unwrap_or(&key).to_string();
            let secs = (parse_ts(&b)? - parse_ts(&a)?).num_seconds().max(0) as u64;
            by_kind.entry(kind).or_default().push(secs);
        }
        Ok(by_kind
            .into_iter()
            .map(|(k, mut v)| {
                v.sort_unstable();
                (k, (v[v.len() / 2], v.len()))
            })
            .collect())
    }
}
