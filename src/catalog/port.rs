//! The catalog port: every operation the engine, the daemon and the CLI ask of a catalog,
//! split along the tables. [`CatalogStore`] is all of them; SQLite (`sqlite/`) and
//! PostgreSQL (`postgres/`) implement it, and `tests/integration/catalog_contract.rs` runs
//! one suite against both.

use super::{
    Adoption, AuditRecord, CatalogResult, ClaimedFire, HoldRecord, Lease, MetricsSnapshot,
    PlanRecord, PointFilter, PointRecord, RestoreLock, RunOutcome, RunRecord, StepRecord,
};
use crate::domain::audit::{Report, RunFacts};
use crate::domain::model::{PointKind, PointState, RecoveryPoint, RunPhase};
use crate::domain::planner::PointsByComponent;
use crate::domain::policy::{Policy, PolicySource};
use crate::domain::restore_plan::{DurationHistory, Plan, PlanStatus, StepState};
use crate::domain::site::Site;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// A whole catalog: every table's operations, and the catalog's own.
#[async_trait]
pub trait CatalogStore:
    RunStore + PointStore + HoldStore + LeaseStore + AuditStore + RestoreStore + ServingStore
{
    /// This catalog's id (made once, when it is created): restore plans carry it.
    async fn identity(&self) -> CatalogResult<String>;
    /// The newest migration applied.
    async fn schema_version(&self) -> CatalogResult<i64>;
    /// Take the lock that lets one restore execute at a time on this catalog, without
    /// waiting: `None` when another process holds it. Released when the guard is dropped
    /// (or the process dies).
    async fn try_lock_restores(&self) -> CatalogResult<Option<RestoreLock>>;
    /// A site's lock: shared by its backup runs, exclusive for a restore (or rollback,
    /// finalize) of the site, so that the two never act on the site's components at once.
    /// `wait`: block until it can be taken; otherwise `None` when it cannot now.
    async fn lock_site(
        &self,
        site: &str,
        exclusive: bool,
        wait: bool,
    ) -> CatalogResult<Option<RestoreLock>>;
    async fn close(&self);
}

/// Sites, components, the policy texts runs ran under, and runs.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Record (or update) a site; returns its id.
    async fn upsert_site(&self, site: &Site, now: DateTime<Utc>) -> CatalogResult<i64>;
    /// Record (or update) a component from its policy; returns its id.
    async fn upsert_component(
        &self,
        site_id: i64,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> CatalogResult<i64>;
    /// Record the exact policy text a run is about to use; returns its id.
    async fn record_policy(
        &self,
        component_id: i64,
        source: &PolicySource,
        now: DateTime<Utc>,
    ) -> CatalogResult<i64>;
    /// The run of this component still `InProgress`, if any: (run id, process id).
    async fn run_in_progress(&self, component_id: i64)
        -> CatalogResult<Option<(i64, Option<i64>)>>;
    /// Close a run whose process died: `Interrupted`, with what is known.
    /// Close as `Failed` the run of this component for `scheduled_for` that this process
    /// left `InProgress` (its task ended on an error or a panic); its id, if there was one.
    async fn fail_own_unfinished_run(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<Option<i64>>;
    async fn mark_interrupted(
        &self,
        run_id: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<()>;
    /// Points of a run (to reconcile after a crash).
    async fn points_of_run(&self, run_id: i64) -> CatalogResult<Vec<RecoveryPoint>>;
    async fn start_run(
        &self,
        component_id: i64,
        policy_id: i64,
        trigger: &str,
        scheduled_for: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> CatalogResult<i64>;
    /// Record a run that was not started (e.g. the previous one is still running).
    async fn record_skipped_run(
        &self,
        component_id: i64,
        policy_id: i64,
        trigger: &str,
        scheduled_for: DateTime<Utc>,
        now: DateTime<Utc>,
        reason: &str,
    ) -> CatalogResult<i64>;
    async fn finish_run(
        &self,
        run_id: i64,
        phase: RunPhase,
        outcome: &RunOutcome,
        now: DateTime<Utc>,
    ) -> CatalogResult<()>;
    /// One run by id.
    async fn run_by_id(&self, run_id: i64) -> CatalogResult<Option<RunRecord>>;
    /// Runs, newest first.
    async fn runs(
        &self,
        site: Option<&str>,
        component: Option<&str>,
        limit: i64,
    ) -> CatalogResult<Vec<RunRecord>>;
}

/// Recovery points: recorded, updated as they progress, read by filter, by component and by id.
#[async_trait]
pub trait PointStore: Send + Sync {
    /// Insert a point, or update the one with the same (region, kind, provider id). A run
    /// that adopts a known point becomes its run, so that the recovery of that run, if it
    /// is interrupted, reconciles the point too.
    async fn upsert_point(&self, p: &PointRecord, now: DateTime<Utc>) -> CatalogResult<i64>;
    /// Upsert many points in one transaction (all or none): imports and large syncs.
    async fn upsert_points(
        &self,
        points: &[PointRecord],
        now: DateTime<Utc>,
    ) -> CatalogResult<Vec<i64>>;
    /// Change a point's state (e.g. `creating` → `available`).
    async fn set_point_state(
        &self,
        id: i64,
        state: PointState,
        failure_reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> CatalogResult<()>;
    /// Recovery points, oldest first.
    async fn points(&self, filter: &PointFilter) -> CatalogResult<Vec<RecoveryPoint>>;
    /// A site's points (not deleted) grouped by component, each oldest first: what
    /// planning and auditing read. Ordered by the database so grouping is one pass.
    async fn points_by_component(&self, site: &str) -> CatalogResult<PointsByComponent>;
    /// The newest point of a component in a region with this name (not deleted).
    async fn point_named(
        &self,
        component_id: i64,
        region: &str,
        name: &str,
    ) -> CatalogResult<Option<RecoveryPoint>>;
    async fn point(&self, id: i64) -> CatalogResult<Option<RecoveryPoint>>;
}

/// Holds that keep points from retention, and the record of each deletion.
#[async_trait]
pub trait HoldStore: Send + Sync {
    async fn component_id(&self, site: &str, component: &str) -> CatalogResult<Option<i64>>;
    /// Hold a point (or, with `point_id = None`, every point of a component) from retention.
    async fn add_hold(
        &self,
        component_id: i64,
        point_id: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> CatalogResult<i64>;
    /// Release a hold; false when no active hold has this id.
    async fn release_hold(&self, id: i64, now: DateTime<Utc>) -> CatalogResult<bool>;
    /// Holds, newest first; with `active_at`, only those in force then.
    async fn holds(&self, active_at: Option<DateTime<Utc>>) -> CatalogResult<Vec<HoldRecord>>;
    /// Points that unfinished restore plans rely on (point id → plan id).
    async fn planned_points(&self) -> CatalogResult<Vec<(i64, String)>>;
    /// Record that a point is about to be deleted, and why (before the cloud call).
    async fn begin_deletion(
        &self,
        point_id: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<i64>;
    /// How the deletion went; a failed one stays `deleting` so the next prune retries it.
    async fn finish_deletion(
        &self,
        deletion_id: i64,
        point_id: i64,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> CatalogResult<()>;
    /// The recorded deletion history of a point: (requested at, reason, outcome, error).
    async fn deletions_of(
        &self,
        point_id: i64,
    ) -> CatalogResult<Vec<(String, String, String, Option<String>)>>;
}

/// The one-daemon lease, what the scheduler reads back after a restart, and `/metrics`.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Take the lease if it is free, expired, or already ours; otherwise return its holder.
    async fn acquire_lease(
        &self,
        holder: &str,
        pid: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<Result<(), Lease>>;
    /// Take the lease from `old_holder` (known dead), whatever its expiry.
    async fn take_over_lease(
        &self,
        old_holder: &str,
        holder: &str,
        pid: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<bool>;
    /// Extend our lease; false when it is no longer ours.
    async fn renew_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<bool>;
    async fn release_lease(&self, holder: &str) -> CatalogResult<()>;
    async fn current_lease(&self) -> CatalogResult<Option<Lease>>;
    /// The newest instant a scheduled run of this component was for and that was dealt
    /// with: the run ended (completed, failed, skipped or recorded as missed). A fire whose
    /// run a crash interrupted does not count: the daemon runs it again on start.
    async fn last_scheduled_fire(&self, component_id: i64) -> CatalogResult<Option<DateTime<Utc>>>;
    /// How many scheduled runs of this component for `scheduled_for` a crash interrupted.
    async fn interrupted_attempts(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
    ) -> CatalogResult<i64>;
    /// Runs left `InProgress`: (run id, pid, site, component).
    async fn runs_in_progress(&self) -> CatalogResult<Vec<(i64, Option<i64>, String, String)>>;
    async fn metrics(&self) -> CatalogResult<MetricsSnapshot>;

    /// Register this daemon among the catalog's daemons (or renew its row) until
    /// `now + ttl`.
    async fn join_daemons(
        &self,
        holder: &str,
        pid: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<()>;

    /// Renew this daemon's row; false when it is gone (it was taken for dead).
    async fn renew_daemon(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<bool>;

    /// Remove this daemon's row: fires it still holds are orphaned at once, and the other
    /// daemons take them over at their next heartbeat.
    async fn leave_daemons(&self, holder: &str) -> CatalogResult<()>;

    /// The daemons whose rows have not expired at `now`, oldest first.
    async fn live_daemons(&self, now: DateTime<Utc>) -> CatalogResult<Vec<Lease>>;

    /// Claim the fire of a component at `scheduled_for`: `Some(0)` when this daemon claimed
    /// it, `Some(n)` when it took it over from a dead daemon (the n-th takeover), `None`
    /// when a live daemon holds it or its run is done. One statement on the claim's
    /// primary key: two daemons can never both win.
    async fn claim_fire(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
        holder: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<Option<i64>>;

    /// The claimed fire's run ended, or the fire was recorded as missed.
    async fn finish_fire(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
        holder: &str,
    ) -> CatalogResult<()>;

    /// Whether a live daemon (row not expired at `now`) holds the claim of this fire: its
    /// run is going on, on whatever host.
    async fn fire_held_by_live_daemon(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> CatalogResult<bool>;

    /// Fires claimed and not done: all of them, or with `dead_at`, only those of daemons
    /// whose rows are gone or expired then (what to take over).
    async fn claimed_fires(
        &self,
        dead_at: Option<DateTime<Utc>>,
    ) -> CatalogResult<Vec<ClaimedFire>>;
}

/// What audits read (the catalog as it stood at an instant) and what they store.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// A site's points as they stood at `as_of`, by component, oldest first: taken by then,
    /// not yet deleted then (a point deleted later counts as available), and a point still
    /// being created then counts as creating. Light points for audits: of the restore
    /// metadata only `encrypted` and `size_bytes` (their own columns) are read.
    async fn points_as_of(
        &self,
        site: &str,
        as_of: DateTime<Utc>,
    ) -> CatalogResult<PointsByComponent>;
    /// The catalog's state now of each of `found` (region, kind, provider id) that it
    /// records for the site. Looks up only those (through the unique index), so an audit
    /// of a large catalog does not read every point to check the handful the cloud lists.
    async fn point_states(
        &self,
        site: &str,
        found: &[(String, PointKind, String)],
    ) -> CatalogResult<HashMap<(String, String), PointState>>;
    /// Each component's runs started by `as_of`, newest first, back to and including its
    /// newest run that ended otherwise than failed (not skipped, not in progress): what a
    /// streak of failures is counted from. At most `per_component` each. Through the
    /// (component, start) index, a handful of rows per component however many runs the
    /// catalog holds (a window over every run took seconds for 800,000).
    async fn recent_runs(
        &self,
        site: &str,
        as_of: DateTime<Utc>,
        per_component: i64,
    ) -> CatalogResult<BTreeMap<String, Vec<RunFacts>>>;
    /// Each component's records of scheduled fires that did not run (the daemon was down,
    /// past the start window, or a fire interrupted twice: reasons starting "missed"),
    /// recorded in (`since`, `as_of`], newest first, at most `per_component` each.
    async fn missed_fires(
        &self,
        site: &str,
        since: DateTime<Utc>,
        as_of: DateTime<Utc>,
        per_component: usize,
    ) -> CatalogResult<BTreeMap<String, Vec<RunFacts>>>;
    /// Store an audit and its findings; returns its id. Without the timelines: they are
    /// the bulk of a large site's report (every point of the last days), the catalog
    /// itself holds them (`wpbackup audit --as-of`), and `--since-last` compares findings.
    async fn insert_audit(&self, report: &Report) -> CatalogResult<i64>;
    /// The newest stored audit of a site (before `before_id`, when given).
    async fn last_audit(
        &self,
        site: &str,
        before_id: Option<i64>,
    ) -> CatalogResult<Option<AuditRecord>>;
}

/// Restore plans and their steps.
#[async_trait]
pub trait RestoreStore: Send + Sync {
    /// Store a plan with its steps (all pending) and the points it relies on, in one
    /// transaction. Returns false (and changes nothing) when a plan with this id exists.
    async fn insert_plan(
        &self,
        site_id: i64,
        plan: &Plan,
        plan_json: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<bool>;
    async fn restore_plan(&self, id: &str) -> CatalogResult<Option<PlanRecord>>;
    /// Plans, newest first.
    async fn restore_plans(&self, site: Option<&str>, limit: i64)
        -> CatalogResult<Vec<PlanRecord>>;
    async fn set_plan_status(
        &self,
        id: &str,
        status: PlanStatus,
        now: DateTime<Utc>,
    ) -> CatalogResult<()>;
    /// A plan's steps, in the plan's order (rollback steps last).
    async fn restore_steps(&self, plan_id: &str) -> CatalogResult<Vec<StepRecord>>;
    /// Add a step to a stored plan (rollback); no-op when it exists.
    async fn add_restore_step(
        &self,
        plan_id: &str,
        key: &str,
        depends_on: &[String],
    ) -> CatalogResult<()>;
    /// Mark a step running, before it acts.
    async fn start_restore_step(
        &self,
        plan_id: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<()>;
    /// Record what a running step has done so far (ids of what it created).
    async fn record_step_outputs(
        &self,
        plan_id: &str,
        key: &str,
        outputs: &serde_json::Map<String, serde_json::Value>,
    ) -> CatalogResult<()>;
    /// Mark a step done / failed / skipped, after it acted.
    async fn finish_restore_step(
        &self,
        plan_id: &str,
        key: &str,
        state: StepState,
        outputs: &serde_json::Map<String, serde_json::Value>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> CatalogResult<()>;
    /// Median measured duration of finished steps, per action kind (the step key's last
    /// part), over every plan: what plans use as expected durations.
    async fn step_duration_history(&self) -> CatalogResult<DurationHistory>;
}

/// Adoptions: which restored resource serves a component in place of the one its policy names.
#[async_trait]
pub trait ServingStore: Send + Sync {
    /// Record that `resource_id` serves `component` from now on (idempotent per plan and
    /// component: a resumed cutover records it once).
    #[allow(clippy::too_many_arguments)]
    async fn adopt(
        &self,
        site: &str,
        component: &str,
        resource_id: &str,
        replaced: &str,
        region: &str,
        plan_id: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<()>;
    /// End a plan's adoptions (its rollback): what served before serves again.
    async fn end_adoptions(&self, plan_id: &str, now: DateTime<Utc>) -> CatalogResult<u64>;
    /// Per component of `site`, the adoption in force (the newest that has not ended).
    async fn serving(&self, site: &str) -> CatalogResult<Vec<Adoption>>;
    /// Every adoption a plan made (ended or not).
    async fn adoptions_of_plan(&self, plan_id: &str) -> CatalogResult<Vec<Adoption>>;
}
