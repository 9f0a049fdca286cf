//! Restores and drills: plan (read the catalog and the live PITR window, choose sources,
//! build the step graph), then execute the graph — independent steps in parallel, every
//! step's state and provider ids written before and after it acts, so `resume` finishes a
//! crashed plan without redoing finished steps or duplicating resources — and roll back.

use super::{Engine, EngineError};
use crate::catalog::{CatalogError, PlanRecord, StepRecord};
use crate::cloud::{
    Cloud, CloudError, CloudErrorKind, ClusterRestore, ClusterSource, HealthRequest, LaunchRequest,
    ProviderPoint,
};
use crate::domain::model::RecoveryPoint;
use crate::domain::planner::{
    choose_sources, ComponentInput, PlanError, PointsByComponent, RestoreTo,
};
use crate::domain::policy::Target;
use crate::domain::restore_plan::{
    build_plan, Action, Address, BuildError, Plan, Purpose, SiteFacts, Step,
};
use crate::domain::selection::objects_as_of;
use crate::domain::site::{EntryPoint, Site};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Cloud(#[from] CloudError),
    /// The instant cannot be restored (names the range that can).
    #[error(transparent)]
    Coverage(#[from] PlanError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("no restore plan {0:?} in the catalog; `wpbackup restore list` shows them")]
    UnknownPlan(String),
    /// A plan file or state that cannot be executed, with every reason.
    #[error("{0}")]
    Refused(String),
    #[error("another restore is executing against this catalog (lock {0}); wait for it, or resume its plan when it has stopped")]
    Busy(String),
}

/// What to plan.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    pub site: String,
    pub at: DateTime<Utc>,
    pub to: RestoreTo,
    pub only: Vec<String>,
    pub purpose: Purpose,
}

/// Live progress of an execution (a terminal display, log lines, or nothing).
pub trait RestoreProgress: Send + Sync {
    fn started(&self, step: &Step, attempt: i64);
    fn note(&self, key: &str, note: &str);
    fn finished(&self, key: &str, state: &str, seconds: f64, detail: &str);
}

pub struct NoProgress;

impl RestoreProgress for NoProgress {
    fn started(&self, _: &Step, _: i64) {}
    fn note(&self, _: &str, _: &str) {}
    fn finished(&self, _: &str, _: &str, _: f64, _: &str) {}
}

/// How an execution ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Execution {
    pub plan_id: String,
    /// completed | failed | executing (stopped; resume it) | torn-down
    pub status: String,
    pub steps: Vec<StepRecord>,
    /// The step that failed and why.
    pub failure: Option<String>,
    /// Drills: from the first step's start to a healthy restored site.
    pub recovery_seconds: Option<i64>,
}

fn to_provider_point(p: &RecoveryPoint) -> ProviderPoint {
    ProviderPoint {
        kind: p.kind,
        region: p.region.clone(),
        name: p.name.clone(),
        provider_id: p.provider_id.clone(),
        arn: p.arn.clone(),
        state: p.state,
        point_time: p.point_time,
        metadata: p.metadata.clone(),
        tags: Default::default(),
        failure_reason: None,
    }
}

fn entry_of(a: &Address) -> EntryPoint {
    match a {
        Address::LightsailStaticIp { name } => EntryPoint::LightsailStaticIp { name: name.clone() },
        Address::Ec2ElasticIp { allocation_id } => EntryPoint::Ec2ElasticIp {
            allocation_id: allocation_id.clone(),
        },
    }
}

fn address_of(e: &EntryPoint) -> Address {
    match e {
        EntryPoint::LightsailStaticIp { name } => Address::LightsailStaticIp { name: name.clone() },
        EntryPoint::Ec2ElasticIp { allocation_id } => Address::Ec2ElasticIp {
            allocation_id: allocation_id.clone(),
        },
    }
}

/// [earliest, latest] restorable instants of a cluster.
type Window = (DateTime<Utc>, DateTime<Utc>);

struct RestoreInputs {
    points: PointsByComponent,
    /// Aurora components' live restorable windows.
    windows: BTreeMap<String, Option<Window>>,
}

impl RestoreInputs {
    fn component_inputs<'a>(&'a self, site: &'a Site) -> Vec<ComponentInput<'a>> {
        site.policies
            .iter()
            .map(|p| ComponentInput {
                policy: p,
                points: self.points.of(&p.name),
                pitr_window: self.windows.get(&p.name).copied().flatten(),
            })
            .collect()
    }
}

/// Holds the restore lock (one executing restore per catalog).
pub struct RestoreLock(#[allow(dead_code)] std::fs::File);

impl Engine {
    fn restore_lock(&self) -> Result<RestoreLock, RestoreError> {
        use fs4::fs_std::FileExt;
        let mut path = self.catalog.path().as_os_str().to_owned();
        path.push(".restore.lock");
        let path = std::path::PathBuf::from(path);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| RestoreError::Refused(format!("cannot open {}: {e}", path.display())))?;
        match file.try_lock_exclusive() {
            Ok(true) => Ok(RestoreLock(file)),
            _ => Err(RestoreError::Busy(path.display().to_string())),
        }
    }

    /// The catalog's points of a site and (restoring in place) the live PITR windows.
    async fn restore_inputs(
        &self,
        site: &Site,
        to: RestoreTo,
        only: &[String],
    ) -> Result<RestoreInputs, RestoreError> {
        let cloud = self.cloud_for(site).await?;
        let points = self.catalog.points_by_component(&site.name).await?;
        let mut windows = BTreeMap::new();
        for p in &site.policies {
            if let (
                Target::AuroraCluster {
                    cluster_identifier, ..
                },
                RestoreTo::Primary,
            ) = (&p.target, to)
            {
                if only.is_empty() || only.contains(&p.name) {
                    let w = cloud
                        .restores
                        .restorable_window(&site.region, cluster_identifier)
                        .await?;
                    windows.insert(p.name.clone(), w);
                }
            }
        }
        Ok(RestoreInputs { points, windows })
    }

    /// The instants a site can be restored to (stated when `--at` cannot be read).
    pub async fn restore_coverage(
        &self,
        site: &str,
        to: RestoreTo,
        only: &[String],
    ) -> Result<(Option<DateTime<Utc>>, DateTime<Utc>), RestoreError> {
        let site = self.site(site)?.clone();
        let inputs = self.restore_inputs(&site, to, only).await?;
        let ci = inputs.component_inputs(&site);
        Ok(crate::domain::planner::coverage(
            self.clock.now(),
            to,
            &site.region,
            &site.dr_region,
            &ci,
            only,
        ))
    }

    /// Plan a restore or drill of `req.site` to `req.at` (nothing is changed anywhere).
    pub async fn prepare_restore(&self, req: &RestoreRequest) -> Result<Plan, RestoreError> {
        let site = self.site(&req.site)?.clone();
        let now = self.clock.now();
        let gathered = self.restore_inputs(&site, req.to, &req.only).await?;
        let inputs = gathered.component_inputs(&site);
        let selection = choose_sources(
            req.at,
            now,
            req.to,
            &site.region,
            &site.dr_region,
            &inputs,
            &req.only,
        )?;
        let history = self.catalog.step_duration_history().await?;
        let facts = SiteFacts {
            site: &site.name,
            primary_region: &site.region,
            dr_region: &site.dr_region,
            address: address_of(&site.entry_point),
            health_url: &site.health_check.url,
            expect_status: site.health_check.expect_status,
            health_timeout_secs: site.health_check.timeout.as_secs().max(1),
            targets: site
                .policies
                .iter()
                .map(|p| (p.name.clone(), &p.target))
                .collect(),
            points: &gathered.points,
        };
        let mut plan = build_plan(&selection, &facts, req.purpose, now, &history)?;
        plan.seal(&self.catalog.identity().await?);
        Ok(plan)
    }

    /// Store a plan for execution; the JSON is kept byte for byte. A plan already stored
    /// must be the same plan (then it is resumed, not duplicated).
    pub async fn store_plan(&self, plan: &Plan, json: &str) -> Result<(), RestoreError> {
        if let Err(problems) = plan.validate() {
            return Err(RestoreError::Refused(format!(
                "the plan cannot be executed:\n  - {}",
                problems.join("\n  - ")
            )));
        }
        if let Err(why) = plan.check_seal(&self.catalog.identity().await?) {
            return Err(RestoreError::Refused(format!(
                "the plan cannot be executed: {why}"
            )));
        }
        let site = self.site(&plan.site)?.clone();
        let mut problems = Vec::new();
        for c in &plan.components {
            if site.policy(&c.component).is_none() {
                problems.push(format!(
                    "component {:?} is no longer configured for site {}",
                    c.component, site.name
                ));
            }
            if let Some(id) = c.point_id {
                match self.catalog.point(id).await? {
                    // The point must be this component's, and the one the plan describes.
                    Some(p)
                        if p.site != plan.site
                            || p.component != c.component
                            || !c.source.starts_with(&format!("{} in {}", p.provider_id, p.region)) =>
                    {
                        problems.push(format!(
                            "{}: point {id} is {} of {}/{} in this catalog, not the source the plan names ({})",
                            c.component, p.provider_id, p.site, p.component, c.source
                        ))
                    }
                    Some(p) if p.state == crate::domain::model::PointState::Available => {}
                    Some(p) => problems.push(format!(
                        "{}: point {} ({}) is {} now; make a new plan",
                        c.component,
                        id,
                        p.provider_id,
                        p.state.as_str()
                    )),
                    None => problems.push(format!(
                        "{}: point {id} is not in this catalog",
                        c.component
                    )),
                }
            }
        }
        if !problems.is_empty() {
            return Err(RestoreError::Refused(format!(
                "the plan cannot be executed:\n  - {}",
                problems.join("\n  - ")
            )));
        }
        let now = self.clock.now();
        let site_id = self.catalog.upsert_site(&site, now).await?;
        if !self.catalog.insert_plan(site_id, plan, json, now).await? {
            let existing = self
                .catalog
                .restore_plan(&plan.id)
                .await?
                .ok_or_else(|| RestoreError::UnknownPlan(plan.id.clone()))?;
            if existing.plan()? != *plan {
                return Err(RestoreError::Refused(format!(
                    "a different plan with id {} is already in the catalog",
                    plan.id
                )));
            }
        }
        Ok(())
    }

    pub async fn plan_record(&self, id: &str) -> Result<PlanRecord, RestoreError> {
        self.catalog
            .restore_plan(id)
            .await?
            .ok_or_else(|| RestoreError::UnknownPlan(id.to_string()))
    }

    /// Execute (or resume) a stored plan. `stop` turning true (Ctrl-C) starts no new step;
    /// steps in flight finish and are recorded, and the plan can be resumed.
    pub async fn execute_plan(
        &self,
        id: &str,
        progress: Arc<dyn RestoreProgress>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<Execution, RestoreError> {
        let _lock = self.restore_lock()?;
        let rec = self.plan_record(id).await?;
        if matches!(
            rec.status.as_str(),
            "completed" | "rolled-back" | "torn-down"
        ) {
            return Err(RestoreError::Refused(format!(
                "plan {id} is {}; there is nothing left to execute",
                rec.status
            )));
        }
        let plan = Arc::new(rec.plan()?);
        let site = self.site(&plan.site)?.clone();
        let cloud = self.cloud_for(&site).await?;
        self.catalog
            .set_plan_status(id, "executing", self.clock.now())
            .await?;
        let mut records: BTreeMap<String, StepRecord> = self
            .catalog
            .restore_steps(id)
            .await?
            .into_iter()
            .map(|s| (s.key.clone(), s))
            .collect();
        let mut attempted: BTreeSet<String> = BTreeSet::new();
        let mut inflight = tokio::task::JoinSet::new();
        let mut failure: Option<String> = None;
        let mut stopping = *stop.borrow();
        loop {
            if !stopping && failure.is_none() {
                for step in &plan.steps {
                    let r = &records[&step.key];
                    let finished = matches!(r.state.as_str(), "done" | "skipped");
                    let ready = step.depends_on.iter().all(|d| {
                        records
                            .get(d)
                            .is_some_and(|r| matches!(r.state.as_str(), "done" | "skipped"))
                    });
                    if finished || !ready || attempted.contains(&step.key) {
                        continue;
                    }
                    attempted.insert(step.key.clone());
                    self.catalog
                        .start_restore_step(id, &step.key, self.clock.now())
                        .await?;
                    progress.started(step, r.attempts + 1);
                    let deps: BTreeMap<String, Map<String, Value>> = records
                        .iter()
                        .map(|(k, r)| (k.clone(), r.outputs.clone()))
                        .collect();
                    let ctx = StepCtx {
                        engine: self.clone(),
                        cloud: cloud.clone(),
                        site: site.clone(),
                        plan: plan.clone(),
                        step: step.clone(),
                        own: r.outputs.clone(),
                        outputs: deps,
                        progress: progress.clone(),
                    };
                    let started = std::time::Instant::now();
                    inflight.spawn(async move {
                        let key = ctx.step.key.clone();
                        let result = ctx.run().await;
                        (key, started.elapsed().as_secs_f64(), result)
                    });
                }
            }
            if inflight.is_empty() {
                break;
            }
            tokio::select! {
                joined = inflight.join_next() => {
                    let (key, secs, result) = joined.expect("non-empty").expect("restore step panicked");
                    let now = self.clock.now();
                    match result {
                        Ok(StepOutcome { state, outputs, detail }) => {
                            self.catalog.finish_restore_step(id, &key, state, &outputs, None, now).await?;
                            progress.finished(&key, state, secs, &detail);
                        }
                        Err((e, outputs)) => {
                            self.catalog.finish_restore_step(id, &key, "failed", &outputs, Some(&e), now).await?;
                            progress.finished(&key, "failed", secs, &e);
                            failure.get_or_insert(format!("{key}: {e}"));
                        }
                    }
                    for s in self.catalog.restore_steps(id).await? {
                        records.insert(s.key.clone(), s);
                    }
                }
                _ = stop.changed(), if !stopping => {
                    stopping = true;
                    progress.note("plan", "stopping: steps in flight finish, no new step starts; `wpbackup restore resume` continues");
                }
            }
        }
        let all_done = plan.steps.iter().all(|s| {
            records
                .get(&s.key)
                .is_some_and(|r| matches!(r.state.as_str(), "done" | "skipped"))
        });
        let status = if all_done {
            match plan.purpose {
                Purpose::Restore => "completed",
                Purpose::Drill => "torn-down",
            }
        } else if failure.is_some() {
            "failed"
        } else {
            "executing"
        };
        self.catalog
            .set_plan_status(id, status, self.clock.now())
            .await?;
        let steps = self.catalog.restore_steps(id).await?;
        let recovery_seconds = recovery_seconds(&steps);
        Ok(Execution {
            plan_id: id.to_string(),
            status: status.to_string(),
            steps,
            failure,
            recovery_seconds,
        })
    }

    /// Move the public address and the DB endpoint back to what they were before the
    /// plan's cutover. Restored resources are kept (renamed), nothing is deleted.
    pub async fn rollback_plan(
        &self,
        id: &str,
        progress: Arc<dyn RestoreProgress>,
    ) -> Result<Execution, RestoreError> {
        let _lock = self.restore_lock()?;
        let rec = self.plan_record(id).await?;
        if rec.purpose != "restore" {
            return Err(RestoreError::Refused(format!(
                "{id} is a drill; drills never cut over, there is nothing to roll back"
            )));
        }
        if rec.status == "rolled-back" {
            return Err(RestoreError::Refused(format!(
                "plan {id} is already rolled back"
            )));
        }
        let plan = rec.plan()?;
        let site = self.site(&plan.site)?.clone();
        let cloud = self.cloud_for(&site).await?;
        let records: BTreeMap<String, StepRecord> = self
            .catalog
            .restore_steps(id)
            .await?
            .into_iter()
            .map(|s| (s.key.clone(), s))
            .collect();
        let touched = |r: &StepRecord| r.state != "pending";
        let mut failure = None;
        // The address first: visitors go back to the old instance at once.
        if let Some(step) = plan
            .steps
            .iter()
            .find(|s| matches!(s.action, Action::MoveAddress { .. }))
        {
            let r = &records[&step.key];
            if let (
                true,
                Some(prev),
                Action::MoveAddress {
                    region, address, ..
                },
            ) = (touched(r), r.output("previous_instance"), &step.action)
            {
                let key = "rollback.move-address";
                self.catalog.add_restore_step(id, key, &[]).await?;
                self.catalog
                    .start_restore_step(id, key, self.clock.now())
                    .await?;
                progress.note(key, &format!("moving the address back to {prev}"));
                let started = std::time::Instant::now();
                let mut out = Map::new();
                out.insert("instance".into(), json!(prev));
                let res = cloud
                    .restores
                    .move_address(&entry_of(address), region, prev)
                    .await;
                self.finish_rollback_step(
                    id,
                    key,
                    res,
                    &out,
                    started,
                    prev,
                    &*progress,
                    &mut failure,
                )
                .await?;
            }
        }
        if let Some(step) = plan
            .steps
            .iter()
            .find(|s| matches!(s.action, Action::SwapCluster { .. }))
        {
            let r = &records[&step.key];
            if let (
                true,
                Action::SwapCluster {
                    region,
                    original,
                    restored,
                    renamed_away,
                },
            ) = (touched(r), &step.action)
            {
                let key = "rollback.swap-cluster";
                self.catalog.add_restore_step(id, key, &[]).await?;
                self.catalog
                    .start_restore_step(id, key, self.clock.now())
                    .await?;
                let started = std::time::Instant::now();
                let mut out = Map::new();
                let res: Result<(), CloudError> = async {
                    let restored_in = r
                        .outputs
                        .get("restored_renamed")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    let original_away = r
                        .outputs
                        .get("original_renamed")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    if restored_in {
                        progress.note(
                            key,
                            &format!("renaming {original} (restored) back to {restored}"),
                        );
                        rename_tolerant(&cloud, region, original, restored).await?;
                        wait_cluster(
                            &cloud,
                            region,
                            restored,
                            ROLLBACK_WAIT,
                            self.poll_interval_for(&site),
                        )
                        .await?;
                        out.insert("restored_renamed_back".into(), json!(true));
                    }
                    if original_away || restored_in {
                        progress.note(key, &format!("renaming {renamed_away} back to {original}"));
                        rename_tolerant(&cloud, region, renamed_away, original).await?;
                        wait_cluster(
                            &cloud,
                            region,
                            original,
                            ROLLBACK_WAIT,
                            self.poll_interval_for(&site),
                        )
                        .await?;
                        out.insert("original_renamed_back".into(), json!(true));
                    }
                    Ok(())
                }
                .await;
                self.finish_rollback_step(
                    id,
                    key,
                    res,
                    &out,
                    started,
                    "DB endpoint back on the original cluster",
                    &*progress,
                    &mut failure,
                )
                .await?;
            }
        }
        let status = if failure.is_none() {
            "rolled-back"
        } else {
            "failed"
        };
        self.catalog
            .set_plan_status(id, status, self.clock.now())
            .await?;
        Ok(Execution {
            plan_id: id.to_string(),
            status: status.into(),
            steps: self.catalog.restore_steps(id).await?,
            failure,
            recovery_seconds: None,
        })
    }
}

/// How long a rollback waits for each rename.
const ROLLBACK_WAIT: Duration = Duration::from_secs(3600);

impl Engine {
    /// Record how a rollback step ended; a failure is kept as the plan's first failure.
    #[allow(clippy::too_many_arguments)]
    async fn finish_rollback_step(
        &self,
        id: &str,
        key: &str,
        res: Result<(), CloudError>,
        out: &Map<String, Value>,
        started: std::time::Instant,
        ok_detail: &str,
        progress: &dyn RestoreProgress,
        failure: &mut Option<String>,
    ) -> Result<(), RestoreError> {
        let err = res.err().map(|e| e.to_string());
        let state = if err.is_none() { "done" } else { "failed" };
        self.catalog
            .finish_restore_step(id, key, state, out, err.as_deref(), self.clock.now())
            .await?;
        progress.finished(
            key,
            state,
            started.elapsed().as_secs_f64(),
            err.as_deref().unwrap_or(ok_detail),
        );
        if let Some(e) = err {
            failure.get_or_insert(format!("{key}: {e}"));
        }
        Ok(())
    }
}

/// Wait until a DB cluster is available (after a restore or a rename).
async fn wait_cluster(
    cloud: &Cloud,
    region: &str,
    cluster: &str,
    timeout: Duration,
    interval: Duration,
) -> Result<crate::cloud::ResourceStatus, CloudError> {
    let r = cloud.restores.clone();
    crate::cloud::wait::until_ready(&format!("DB cluster {cluster}"), timeout, interval, || {
        let r = r.clone();
        async move { r.describe_cluster(region, cluster).await }
    })
    .await
}

/// Rename, treating "the source is gone and the destination exists" as already done.
async fn rename_tolerant(
    cloud: &Cloud,
    region: &str,
    from: &str,
    to: &str,
) -> Result<(), CloudError> {
    match cloud.restores.rename_cluster(region, from, to).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind == CloudErrorKind::NotFound => {
            // Done by an earlier attempt?
            cloud
                .restores
                .describe_cluster(region, to)
                .await
                .map(|_| ())
                .map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

pub(crate) fn recovery_seconds(steps: &[StepRecord]) -> Option<i64> {
    let start = steps.iter().filter_map(|s| s.started_at).min()?;
    let healthy = steps
        .iter()
        .find(|s| s.key == "site.health-check" && s.state == "done")?
        .finished_at?;
    Some((healthy - start).num_seconds())
}

struct StepOutcome {
    state: &'static str,
    outputs: Map<String, Value>,
    detail: String,
}

/// Everything one step needs; run on its own task.
struct StepCtx {
    engine: Engine,
    cloud: Cloud,
    site: Site,
    plan: Arc<Plan>,
    step: Step,
    /// This step's outputs from an earlier attempt (resume).
    own: Map<String, Value>,
    /// Every step's recorded outputs.
    outputs: BTreeMap<String, Map<String, Value>>,
    progress: Arc<dyn RestoreProgress>,
}

type StepResult = Result<StepOutcome, (String, Map<String, Value>)>;

impl StepCtx {
    fn timeout(&self) -> Duration {
        Duration::from_secs((self.step.expected_seconds * 3).max(3600))
    }

    fn interval(&self) -> Duration {
        self.engine.poll_interval_for(&self.site)
    }

    /// Record progress now (so a crash after this point is resumed from here).
    async fn save(&self, out: &Map<String, Value>) -> Result<(), String> {
        self.engine
            .catalog
            .record_step_outputs(&self.plan.id, &self.step.key, out)
            .await
            .map_err(|e| e.to_string())
    }

    fn dep_output(&self, step: &str, name: &str) -> Option<String> {
        self.outputs
            .get(step)
            .and_then(|o| o.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    async fn point(&self, id: i64) -> Result<ProviderPoint, String> {
        match self.engine.catalog.point(id).await {
            Ok(Some(p)) => Ok(to_provider_point(&p)),
            Ok(None) => Err(format!("point {id} is not in the catalog")),
            Err(e) => Err(e.to_string()),
        }
    }

    fn tags(&self) -> crate::cloud::Tags {
        self.plan.tags.clone()
    }

    async fn run(self) -> StepResult {
        let mut out = self.own.clone();
        match self.act(&mut out).await {
            Ok((state, detail)) => Ok(StepOutcome {
                state,
                outputs: out,
                detail,
            }),
            Err(e) => Err((e, out)),
        }
    }

    async fn act(&self, out: &mut Map<String, Value>) -> Result<(&'static str, String), String> {
        let r = self.cloud.restores.clone();
        let key = &self.step.key;
        match &self.step.action {
            Action::RestoreCluster {
                region,
                cluster,
                pitr_of,
                at,
                snapshot,
                engine,
                subnet_group,
                security_group_ids,
            } => {
                let source = match (pitr_of, at, snapshot) {
                    (Some(c), Some(at), _) => ClusterSource::PointInTime {
                        cluster: c.clone(),
                        at: *at,
                    },
                    (_, _, Some(s)) => ClusterSource::Snapshot {
                        snapshot: s.clone(),
                    },
                    _ => return Err("the plan names neither a PITR time nor a snapshot".into()),
                };
                let req = ClusterRestore {
                    cluster: cluster.clone(),
                    source,
                    engine: engine.clone(),
                    subnet_group: subnet_group.clone(),
                    security_group_ids: security_group_ids.clone(),
                    tags: self.tags(),
                };
                match r.restore_cluster(region, &req).await {
                    Ok(_) => {}
                    // Created by an earlier attempt of this plan (the name is the plan's own).
                    Err(e) if e.kind == CloudErrorKind::AlreadyExists => {
                        self.progress.note(
                            key,
                            &format!("{cluster} exists from an earlier attempt; waiting for it"),
                        );
                    }
                    Err(e) => return Err(e.to_string()),
                }
                out.insert("cluster".into(), json!(cluster));
                self.save(out).await?;
                let st = self.wait_cluster(region, cluster).await?;
                out.insert("endpoint".into(), json!(st.address));
                Ok(("done", format!("cluster {cluster} available")))
            }
            Action::CreateClusterInstance {
                region,
                cluster,
                instance,
                class,
                engine,
            } => {
                match r
                    .create_cluster_instance(region, cluster, instance, class, engine)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.kind == CloudErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e.to_string()),
                }
                out.insert("instance".into(), json!(instance));
                self.save(out).await?;
                self.wait_cluster(region, cluster).await?;
                Ok(("done", format!("instance {instance} of {cluster} created")))
            }
            Action::RestoreFileSystem {
                region,
                point_id,
                role_arn,
                token,
                subnets,
                security_group_ids,
                ..
            } => {
                let job = match out.get("job").and_then(Value::as_str) {
                    Some(j) => j.to_string(),
                    None => {
                        let point = self.point(*point_id).await?;
                        let job = r
                            .restore_file_system(&point, role_arn, token)
                            .await
                            .map_err(|e| e.to_string())?;
                        out.insert("job".into(), json!(job));
                        self.save(out).await?;
                        job
                    }
                };
                self.progress.note(key, &format!("restore job {job}"));
                let rr = r.clone();
                let st = crate::cloud::wait::until_ready(
                    &format!("restore job {job}"),
                    self.timeout(),
                    self.interval(),
                    || {
                        let rr = rr.clone();
                        let job = job.clone();
                        async move { rr.describe_file_system_restore(region, &job).await }
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
                out.insert("file_system".into(), json!(st.id));
                self.save(out).await?;
                let mts = r
                    .finish_file_system_restore(
                        region,
                        &st.id,
                        subnets,
                        security_group_ids,
                        &self.tags(),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                out.insert("mount_targets".into(), json!(mts));
                Ok((
                    "done",
                    format!("file system {} with {} mount target(s)", st.id, mts.len()),
                ))
            }
            Action::LaunchInstance {
                region,
                point_id,
                point_kind,
                name,
                instance_type,
                bundle_id,
                subnet_id,
                security_group_ids,
                availability_zone,
                key_name,
                ..
            } => {
                let id = match out.get("instance").and_then(Value::as_str) {
                    Some(i) => i.to_string(),
                    None => {
                        let point = self.point(*point_id).await?;
                        let req = LaunchRequest {
                            name: name.clone(),
                            instance_type: instance_type.clone(),
                            bundle_id: bundle_id.clone(),
                            subnet_id: subnet_id.clone(),
                            security_group_ids: security_group_ids.clone(),
                            availability_zone: availability_zone.clone(),
                            key_name: key_name.clone(),
                            tags: self.tags(),
                        };
                        // Idempotent on the name: a resumed launch adopts the instance.
                        let st = r
                            .launch_instance(&point, &req)
                            .await
                            .map_err(|e| e.to_string())?;
                        out.insert("instance".into(), json!(st.id));
                        self.save(out).await?;
                        st.id
                    }
                };
                let rr = r.clone();
                let kind = *point_kind;
                let st = crate::cloud::wait::until_ready(
                    &format!("instance {id}"),
                    self.timeout(),
                    self.interval(),
                    || {
                        let rr = rr.clone();
                        let id = id.clone();
                        async move { rr.describe_instance(kind, region, &id).await }
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
                out.insert("address".into(), json!(st.address));
                Ok((
                    "done",
                    format!(
                        "instance {id} running at {}",
                        st.address.unwrap_or_default()
                    ),
                ))
            }
            Action::RevertBucket {
                region,
                bucket,
                at,
                dry_run,
            } => {
                let versions = r
                    .object_versions(region, bucket)
                    .await
                    .map_err(|e| e.to_string())?;
                let wanted = objects_as_of(&versions, *at);
                let current = objects_as_of(&versions, DateTime::<Utc>::MAX_UTC);
                let mut done: BTreeSet<String> = out
                    .get("reverted")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let keys: BTreeSet<&String> = wanted.keys().chain(current.keys()).collect();
                let mut differ = Vec::new();
                for k in keys {
                    let w = wanted.get(k).cloned().flatten();
                    let c = current.get(k).cloned().flatten();
                    if w.as_ref().map(|v| &v.version_id) != c.as_ref().map(|v| &v.version_id) {
                        differ.push((k.clone(), w.map(|v| v.version_id)));
                    }
                }
                if *dry_run {
                    out.insert("would_revert".into(), json!(differ.len()));
                    return Ok((
                        "done",
                        format!(
                            "{} object(s) differ from {at}; a restore would revert them",
                            differ.len()
                        ),
                    ));
                }
                let todo: Vec<_> = differ
                    .into_iter()
                    .filter(|(k, _)| !done.contains(k))
                    .collect();
                self.progress
                    .note(key, &format!("{} object(s) to revert", todo.len()));
                for (i, (k, v)) in todo.iter().enumerate() {
                    r.revert_object(region, bucket, k, v.as_deref())
                        .await
                        .map_err(|e| e.to_string())?;
                    done.insert(k.clone());
                    if i % 25 == 24 || i + 1 == todo.len() {
                        out.insert("reverted".into(), json!(done));
                        self.save(out).await?;
                    }
                }
                out.insert("reverted".into(), json!(done));
                Ok(("done", format!("{} object(s) reverted to their versions as of {at} (new versions; history kept)", done.len())))
            }
            Action::HealthCheck {
                url,
                expect_status,
                timeout_secs,
                instance_step,
            } => {
                let address = self
                    .dep_output(instance_step, "address")
                    .ok_or_else(|| format!("{instance_step} recorded no address to check"))?;
                let answer = self
                    .check(url, Some(address), *expect_status, *timeout_secs)
                    .await?;
                out.insert("status".into(), json!(answer.0));
                out.insert("peer".into(), json!(answer.1));
                Ok((
                    "done",
                    format!("{url} answered {} from {}", answer.0, answer.1),
                ))
            }
            Action::VerifyPublic {
                url,
                expect_status,
                timeout_secs,
            } => {
                let answer = self.check(url, None, *expect_status, *timeout_secs).await?;
                out.insert("status".into(), json!(answer.0));
                Ok((
                    "done",
                    format!("{url} answered {} through the public address", answer.0),
                ))
            }
            Action::SwapCluster {
                region,
                original,
                restored,
                renamed_away,
            } => {
                let flag = |out: &Map<String, Value>, k: &str| {
                    out.get(k).and_then(Value::as_bool).unwrap_or(false)
                };
                if !flag(out, "original_renamed") {
                    self.progress
                        .note(key, &format!("renaming {original} → {renamed_away}"));
                    rename_tolerant(&self.cloud, region, original, renamed_away)
                        .await
                        .map_err(|e| e.to_string())?;
                    out.insert("original_renamed".into(), json!(true));
                    self.save(out).await?;
                }
                self.wait_cluster(region, renamed_away).await?;
                if !flag(out, "restored_renamed") {
                    self.progress
                        .note(key, &format!("renaming {restored} → {original}"));
                    rename_tolerant(&self.cloud, region, restored, original)
                        .await
                        .map_err(|e| e.to_string())?;
                    out.insert("restored_renamed".into(), json!(true));
                    self.save(out).await?;
                }
                let st = self.wait_cluster(region, original).await?;
                out.insert("endpoint".into(), json!(st.address));
                Ok((
                    "done",
                    format!(
                        "{original} is the restored cluster; the old one is kept as {renamed_away}"
                    ),
                ))
            }
            Action::MoveAddress {
                region,
                address,
                instance_step,
            } => {
                let entry = entry_of(address);
                let instance = self
                    .dep_output(instance_step, "instance")
                    .ok_or_else(|| format!("{instance_step} recorded no instance"))?;
                if !out.contains_key("previous_instance") {
                    let prev = r
                        .address_target(&entry, region)
                        .await
                        .map_err(|e| e.to_string())?;
                    out.insert("previous_instance".into(), json!(prev));
                    self.save(out).await?;
                }
                r.move_address(&entry, region, &instance)
                    .await
                    .map_err(|e| e.to_string())?;
                let now_at = r
                    .address_target(&entry, region)
                    .await
                    .map_err(|e| e.to_string())?;
                if now_at.as_deref() != Some(instance.as_str()) {
                    return Err(format!(
                        "the address still points at {now_at:?}, not {instance}"
                    ));
                }
                out.insert("instance".into(), json!(instance));
                Ok((
                    "done",
                    format!(
                        "public address now on {instance} (was {})",
                        out["previous_instance"].as_str().unwrap_or("unattached")
                    ),
                ))
            }
            Action::Manual { instruction } => {
                let mut text = instruction.clone();
                for (k, o) in &self.outputs {
                    if let Some(a) = o.get("address").and_then(Value::as_str) {
                        text.push_str(&format!("; {k}: {a}"));
                    }
                    if let Some(a) = o.get("endpoint").and_then(Value::as_str) {
                        text.push_str(&format!("; {k}: {a}"));
                    }
                }
                out.insert("instruction".into(), json!(text));
                Ok(("skipped", format!("BY HAND: {text}")))
            }
            Action::Teardown { steps } => {
                let mut deleted: Vec<String> = out
                    .get("deleted")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                for s in steps {
                    let Some(step) = self.plan.step(s) else {
                        continue;
                    };
                    let region = &self.plan.region;
                    let res = match &step.action {
                        Action::LaunchInstance { point_kind, .. } => match self
                            .dep_output(s, "instance")
                        {
                            Some(i) if !deleted.contains(&i) => {
                                Some((i.clone(), r.delete_instance(*point_kind, region, &i).await))
                            }
                            _ => None,
                        },
                        Action::RestoreCluster { .. } => match self.dep_output(s, "cluster") {
                            Some(c) if !deleted.contains(&c) => {
                                Some((c.clone(), r.delete_cluster(region, &c).await))
                            }
                            _ => None,
                        },
                        Action::RestoreFileSystem { .. } => match self.dep_output(s, "file_system")
                        {
                            Some(f) if !deleted.contains(&f) => {
                                Some((f.clone(), r.delete_file_system(region, &f).await))
                            }
                            _ => None,
                        },
                        _ => None,
                    };
                    if let Some((id, res)) = res {
                        match res {
                            Ok(()) => {}
                            Err(e) if e.kind == CloudErrorKind::NotFound => {}
                            Err(e) => return Err(e.to_string()),
                        }
                        self.progress.note(&self.step.key, &format!("deleted {id}"));
                        deleted.push(id);
                        out.insert("deleted".into(), json!(deleted));
                        self.save(out).await?;
                    }
                }
                out.insert("deleted".into(), json!(deleted));
                Ok((
                    "done",
                    format!(
                        "deleted {}",
                        if deleted.is_empty() {
                            "nothing".into()
                        } else {
                            deleted.join(", ")
                        }
                    ),
                ))
            }
        }
    }

    async fn wait_cluster(
        &self,
        region: &str,
        cluster: &str,
    ) -> Result<crate::cloud::ResourceStatus, String> {
        wait_cluster(
            &self.cloud,
            region,
            cluster,
            self.timeout(),
            self.interval(),
        )
        .await
        .map_err(|e| e.to_string())
    }

    /// GET the URL (from `address`, or publicly) until it answers as expected, a few
    /// times: a booting web server refuses connections or answers 502 for a while.
    async fn check(
        &self,
        url: &str,
        address: Option<String>,
        expect: u16,
        timeout_secs: u64,
    ) -> Result<(u16, String), String> {
        const ATTEMPTS: u32 = 10;
        let req = HealthRequest {
            url: url.to_string(),
            address: address.clone(),
            expect_status: expect,
            timeout: Duration::from_secs(timeout_secs),
        };
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            match self.cloud.probe.probe(&req).await {
                Ok(a) if a.status == expect => return Ok((a.status, a.peer)),
                Ok(a) => {
                    last = format!("answered {} (expected {expect}) from {}", a.status, a.peer)
                }
                Err(e) => last = e.to_string(),
            }
            self.progress.note(
                &self.step.key,
                &format!("attempt {attempt}/{ATTEMPTS}: {last}"),
            );
            if attempt < ATTEMPTS {
                self.engine.sleeper.sleep(self.interval()).await;
            }
        }
        Err(format!(
            "health check failed: GET {url}{} {last} after {ATTEMPTS} attempts; nothing was cut over",
            address.map(|a| format!(" via {a}")).unwrap_or_default()
        ))
    }
}
