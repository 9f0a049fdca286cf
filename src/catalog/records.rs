//! What the catalog records and hands back: the data of the port, the same whichever
//! backend stores it.

use super::{CatalogError, CatalogResult};
use crate::domain::audit::{Report, Status};
use crate::domain::model::{PointKind, PointState, RestoreMetadata, RunPhase};
use crate::domain::restore_plan::{Plan, PlanStatus, Purpose, StepState};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A point to record (new, or an update of a known one by region/kind/provider id).
#[derive(Debug, Clone)]
pub struct PointRecord {
    pub component_id: i64,
    pub run_id: Option<i64>,
    pub kind: PointKind,
    pub region: String,
    pub name: String,
    pub provider_id: String,
    pub arn: Option<String>,
    pub point_time: DateTime<Utc>,
    pub state: PointState,
    pub source_point_id: Option<i64>,
    pub managed: bool,
    pub metadata: RestoreMetadata,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// How a run ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunOutcome {
    pub points_created: u32,
    pub points_failed: u32,
    pub copies_created: u32,
    pub copies_failed: u32,
    pub failure_reason: Option<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub site: String,
    pub component: String,
    pub trigger: String,
    pub policy_hash: String,
    pub scheduled_for: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub phase: RunPhase,
    pub points_created: u32,
    pub points_failed: u32,
    pub copies_created: u32,
    pub copies_failed: u32,
    pub failure_reason: Option<String>,
    pub warnings: Vec<String>,
}

/// Which points to list.
#[derive(Debug, Clone, Default)]
pub struct PointFilter {
    pub site: Option<String>,
    pub component: Option<String>,
    pub include_deleted: bool,
}

/// A hold as the catalog records it.
#[derive(Debug, Clone, Serialize)]
pub struct HoldRecord {
    pub id: i64,
    pub site: String,
    pub component: String,
    /// `None`: the hold covers every point of the component.
    pub point_id: Option<i64>,
    pub point_name: Option<String>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub released_at: Option<DateTime<Utc>>,
}

/// Who holds the one-daemon-per-catalog lease.
#[derive(Debug, Clone, Serialize)]
pub struct Lease {
    pub holder: String,
    pub pid: i64,
    pub acquired_at: String,
    pub heartbeat_at: String,
    pub expires_at: String,
}

/// Figures for `/metrics`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MetricsSnapshot {
    /// (site, component, newest available point time in the primary region).
    pub last_success: Vec<(String, String, DateTime<Utc>)>,
    pub runs_by_phase: Vec<(String, i64)>,
    pub points_by_state: Vec<(String, i64)>,
    /// (site, component, seconds) of the newest finished run.
    pub last_run_seconds: Vec<(String, String, f64)>,
    /// (site, component, records of scheduled fires that did not run).
    pub missed_fires: Vec<(String, String, i64)>,
    /// (site, component, runs that ended failed).
    pub run_failures: Vec<(String, String, i64)>,
}

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

/// A restored resource adopted for a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adoption {
    pub site: String,
    pub component: String,
    pub resource_id: String,
    pub replaced: String,
    pub region: String,
    pub plan_id: String,
    pub since: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// A fire claimed by a daemon and not done yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimedFire {
    pub component_id: i64,
    pub site: String,
    pub component: String,
    pub scheduled_for: DateTime<Utc>,
    pub holder: String,
}
