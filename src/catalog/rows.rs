//! Rows to records, written once for both backends. Each backend reads its columns through
//! [`CatalogRow`] — SQLite keeps instants as RFC 3339 text and JSON as text, PostgreSQL as
//! `TIMESTAMPTZ` and `JSONB` — and the conversion to the domain's types is shared, so the
//! two catalogs cannot drift in what a row means.

use super::{
    parse_ts, Adoption, CatalogError, CatalogResult, HoldRecord, Lease, PlanRecord, RunRecord,
    StepRecord,
};
use crate::domain::model::{ComponentKind, PointKind, PointState, RecoveryPoint, RunPhase};
use crate::domain::restore_plan::{PlanStatus, Purpose, StepState};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::Row;

/// A row of either backend, read column by column.
pub(crate) trait CatalogRow {
    fn text(&self, column: &str) -> CatalogResult<String>;
    fn opt_text(&self, column: &str) -> CatalogResult<Option<String>>;
    fn int(&self, column: &str) -> CatalogResult<i64>;
    fn opt_int(&self, column: &str) -> CatalogResult<Option<i64>>;
    fn flag(&self, column: &str) -> CatalogResult<bool>;
    fn instant(&self, column: &str) -> CatalogResult<DateTime<Utc>>;
    fn opt_instant(&self, column: &str) -> CatalogResult<Option<DateTime<Utc>>>;
    /// A JSON document (`what` names it in an error).
    fn json<T: DeserializeOwned>(&self, column: &str, what: &str) -> CatalogResult<T>;
}

impl CatalogRow for sqlx::sqlite::SqliteRow {
    fn text(&self, column: &str) -> CatalogResult<String> {
        Ok(self.try_get(column)?)
    }
    fn opt_text(&self, column: &str) -> CatalogResult<Option<String>> {
        Ok(self.try_get(column)?)
    }
    fn int(&self, column: &str) -> CatalogResult<i64> {
        Ok(self.try_get(column)?)
    }
    fn opt_int(&self, column: &str) -> CatalogResult<Option<i64>> {
        Ok(self.try_get(column)?)
    }
    fn flag(&self, column: &str) -> CatalogResult<bool> {
        Ok(self.try_get(column)?)
    }
    fn instant(&self, column: &str) -> CatalogResult<DateTime<Utc>> {
        parse_ts(&self.try_get::<String, _>(column)?)
    }
    fn opt_instant(&self, column: &str) -> CatalogResult<Option<DateTime<Utc>>> {
        self.try_get::<Option<String>, _>(column)?
            .as_deref()
            .map(parse_ts)
            .transpose()
    }
    fn json<T: DeserializeOwned>(&self, column: &str, what: &str) -> CatalogResult<T> {
        let text: String = self.try_get(column)?;
        serde_json::from_str(&text).map_err(|e| CatalogError::Corrupt(format!("{what}: {e}")))
    }
}

impl CatalogRow for sqlx::postgres::PgRow {
    fn text(&self, column: &str) -> CatalogResult<String> {
        Ok(self.try_get(column)?)
    }
    fn opt_text(&self, column: &str) -> CatalogResult<Option<String>> {
        Ok(self.try_get(column)?)
    }
    fn int(&self, column: &str) -> CatalogResult<i64> {
        Ok(self.try_get(column)?)
    }
    fn opt_int(&self, column: &str) -> CatalogResult<Option<i64>> {
        Ok(self.try_get(column)?)
    }
    fn flag(&self, column: &str) -> CatalogResult<bool> {
        Ok(self.try_get(column)?)
    }
    fn instant(&self, column: &str) -> CatalogResult<DateTime<Utc>> {
        Ok(self.try_get(column)?)
    }
    fn opt_instant(&self, column: &str) -> CatalogResult<Option<DateTime<Utc>>> {
        Ok(self.try_get(column)?)
    }
    fn json<T: DeserializeOwned>(&self, column: &str, what: &str) -> CatalogResult<T> {
        let value: serde_json::Value = self.try_get(column)?;
        serde_json::from_value(value).map_err(|e| CatalogError::Corrupt(format!("{what}: {e}")))
    }
}

fn parsed<T>(value: String, what: &str, parse: impl FnOnce(&str) -> Option<T>) -> CatalogResult<T> {
    parse(&value).ok_or_else(|| CatalogError::Corrupt(format!("{what} {value:?}")))
}

fn count(r: &impl CatalogRow, column: &str) -> CatalogResult<u32> {
    let n = r.int(column)?;
    u32::try_from(n).map_err(|_| CatalogError::Corrupt(format!("{column} {n}")))
}

/// A point with its site and component names (the columns `point_rows!` selects).
pub(crate) fn point_from_row(r: &impl CatalogRow) -> CatalogResult<RecoveryPoint> {
    Ok(RecoveryPoint {
        id: r.int("id")?,
        site: r.text("site_name")?,
        component: r.text("component_name")?,
        component_kind: parsed(
            r.text("component_kind")?,
            "component kind",
            ComponentKind::parse,
        )?,
        kind: parsed(r.text("kind")?, "point kind", PointKind::parse)?,
        region: r.text("region")?,
        name: r.text("name")?,
        provider_id: r.text("provider_id")?,
        arn: r.opt_text("arn")?,
        point_time: r.instant("point_time")?,
        state: parsed(r.text("state")?, "point state", PointState::parse)?,
        source_point_id: r.opt_int("source_point_id")?,
        run_id: r.opt_int("run_id")?,
        managed: r.flag("managed")?,
        metadata: r.json("metadata", "point metadata")?,
        failure_reason: r.opt_text("failure_reason")?,
        created_at: r.instant("created_at")?,
        completed_at: r.opt_instant("completed_at")?,
    })
}

/// How a point stood at `as_of` (for audits): one deleted only later was still there, and
/// one completed only later was still being created.
pub(crate) fn state_as_of(
    state: PointState,
    completed_at: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
) -> PointState {
    let state = if state == PointState::Deleted {
        PointState::Available
    } else {
        state
    };
    if state == PointState::Available && completed_at.is_some_and(|c| c > as_of) {
        PointState::Creating
    } else {
        state
    }
}

/// A run with its site, component and policy hash.
pub(crate) fn run_from_row(r: &impl CatalogRow) -> CatalogResult<RunRecord> {
    Ok(RunRecord {
        id: r.int("id")?,
        site: r.text("site_name")?,
        component: r.text("component_name")?,
        trigger: r.text("trigger")?,
        policy_hash: r.text("content_hash")?,
        scheduled_for: r.instant("scheduled_for")?,
        started_at: r.instant("started_at")?,
        finished_at: r.opt_instant("finished_at")?,
        phase: parsed(r.text("phase")?, "run phase", RunPhase::parse)?,
        points_created: count(r, "points_created")?,
        points_failed: count(r, "points_failed")?,
        copies_created: count(r, "copies_created")?,
        copies_failed: count(r, "copies_failed")?,
        failure_reason: r.opt_text("failure_reason")?,
        warnings: r.json("warnings", "run warnings")?,
    })
}

pub(crate) fn hold_from_row(r: &impl CatalogRow) -> CatalogResult<HoldRecord> {
    Ok(HoldRecord {
        id: r.int("id")?,
        site: r.text("site_name")?,
        component: r.text("component_name")?,
        point_id: r.opt_int("point_id")?,
        point_name: r.opt_text("point_name")?,
        reason: r.text("reason")?,
        created_at: r.instant("created_at")?,
        expires_at: r.opt_instant("expires_at")?,
        released_at: r.opt_instant("released_at")?,
    })
}

pub(crate) fn lease_from_row(r: &impl CatalogRow) -> CatalogResult<Lease> {
    Ok(Lease {
        holder: r.text("holder")?,
        pid: r.int("pid")?,
        acquired_at: super::ts(r.instant("acquired_at")?),
        heartbeat_at: super::ts(r.instant("heartbeat_at")?),
        expires_at: super::ts(r.instant("expires_at")?),
    })
}

/// A plan with its site's name; the plan JSON byte for byte.
pub(crate) fn plan_from_row(r: &impl CatalogRow) -> CatalogResult<PlanRecord> {
    Ok(PlanRecord {
        id: r.text("id")?,
        site: r.text("site_name")?,
        purpose: parsed(r.text("purpose")?, "plan purpose", Purpose::parse)?,
        target_time: r.instant("target_time")?,
        to_region: r.text("to_region")?,
        status: parsed(r.text("status")?, "plan status", PlanStatus::parse)?,
        created_at: r.instant("created_at")?,
        updated_at: r.instant("updated_at")?,
        plan_json: r.text("plan")?,
    })
}

pub(crate) fn step_from_row(r: &impl CatalogRow) -> CatalogResult<StepRecord> {
    Ok(StepRecord {
        key: r.text("step_key")?,
        depends_on: r.json("depends_on", "depends_on")?,
        state: parsed(r.text("state")?, "step state", StepState::parse)?,
        started_at: r.opt_instant("started_at")?,
        finished_at: r.opt_instant("finished_at")?,
        outputs: r.json("provider_ids", "provider_ids")?,
        error: r.opt_text("error")?,
        attempts: r.int("attempts")?,
    })
}

pub(crate) fn adoption_from_row(r: &impl CatalogRow) -> CatalogResult<Adoption> {
    Ok(Adoption {
        site: r.text("site")?,
        component: r.text("component")?,
        resource_id: r.text("resource_id")?,
        replaced: r.text("replaced")?,
        region: r.text("region")?,
        plan_id: r.text("plan_id")?,
        since: r.instant("since")?,
        ended_at: r.opt_instant("ended_at")?,
    })
}

/// Median measured seconds of finished steps per action kind (the key's last part).
pub(crate) fn duration_history(
    steps: impl IntoIterator<Item = (String, DateTime<Utc>, DateTime<Utc>)>,
) -> crate::domain::restore_plan::DurationHistory {
    let mut by_kind: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for (key, started, finished) in steps {
        let kind = key.rsplit('.').next().unwrap_or(&key).to_string();
        let secs = (finished - started).num_seconds().max(0) as u64;
        by_kind.entry(kind).or_default().push(secs);
    }
    by_kind
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_unstable();
            (k, (v[v.len() / 2], v.len()))
        })
        .collect()
}

pub(crate) fn audit_from_row(r: &impl CatalogRow) -> CatalogResult<super::AuditRecord> {
    Ok(super::AuditRecord {
        id: r.int("id")?,
        site: r.text("site_name")?,
        as_of: r.instant("as_of")?,
        created_at: r.instant("created_at")?,
        status: parsed(
            r.text("status")?,
            "audit status",
            crate::domain::audit::Status::parse,
        )?,
        report: r.json("report", "audit report")?,
    })
}

/// Runs as audits count them, grouped by component (rows ordered by component, newest
/// first), at most `per_component` each.
pub(crate) fn run_facts_by_component<R: CatalogRow>(
    rows: &[R],
    per_component: usize,
) -> CatalogResult<std::collections::BTreeMap<String, Vec<crate::domain::audit::RunFacts>>> {
    let mut out: std::collections::BTreeMap<String, Vec<_>> = Default::default();
    for r in rows {
        let list: &mut Vec<_> = out.entry(r.text("component_name")?).or_default();
        if list.len() < per_component {
            list.push(crate::domain::audit::RunFacts {
                id: r.int("id")?,
                started_at: r.instant("started_at")?,
                phase: parsed(r.text("phase")?, "run phase", RunPhase::parse)?,
                failure_reason: r.opt_text("failure_reason")?,
            });
        }
    }
    Ok(out)
}
