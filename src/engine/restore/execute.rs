//! Executing a plan: the step graph, independent steps in parallel, every step's state
//! and outputs recorded before and after it acts (so `resume` continues a crashed plan).

use super::*;
use std::collections::HashMap;

impl Engine {
    /// Execute (or resume) a stored plan. `stop` turning true (Ctrl-C) starts no new step;
    /// steps in flight finish and are recorded, and the plan can be resumed.
    ///
    /// A staging copy's teardown step is held: the plan completes with the copy up, and
    /// [`Engine::staging_down`] runs the teardown.
    pub async fn execute_plan(
        &self,
        id: &str,
        progress: Arc<dyn RestoreProgress>,
        stop: watch::Receiver<bool>,
    ) -> Result<Execution, RestoreError> {
        self.run_plan(id, progress, stop, false).await
    }

    /// Tear down a staging copy: its teardown step, whatever state the rest of the copy is
    /// in (up, failed half-way or stopped); every resource it created deleted and read back
    /// until gone. Run again after a failure, it continues where the deletions stopped.
    pub async fn staging_down(
        &self,
        id: &str,
        progress: Arc<dyn RestoreProgress>,
        stop: watch::Receiver<bool>,
    ) -> Result<Execution, RestoreError> {
        self.run_plan(id, progress, stop, true).await
    }

    async fn run_plan(
        &self,
        id: &str,
        progress: Arc<dyn RestoreProgress>,
        mut stop: watch::Receiver<bool>,
        down: bool,
    ) -> Result<Execution, RestoreError> {
        let _lock = self.restore_lock().await?;
        let rec = self.plan_record(id).await?;
        let staging = rec.purpose == Purpose::Staging;
        if down && !staging {
            return Err(RestoreError::Refused(format!(
                "{id} is a {} plan, not a staging copy; `wpbackup staging list` shows the staging copies",
                rec.purpose.as_str()
            )));
        }
        if down && rec.status == PlanStatus::TornDown {
            return Err(RestoreError::Refused(format!(
                "staging copy {id} is already torn down"
            )));
        }
        if !down && staging && rec.status == PlanStatus::Completed {
            return Err(RestoreError::Refused(format!(
                "staging copy {id} is up; `wpbackup staging down {id}` tears it down"
            )));
        }
        if !down && rec.status.is_final() {
            return Err(RestoreError::Refused(format!(
                "plan {id} is {}; there is nothing left to execute",
                rec.status
            )));
        }
        // A restore acts on the site's components: no backup of them meanwhile. A drill
        // or a staging copy works on copies under its own names and lets backups go on.
        let _site_lock = match rec.purpose {
            Purpose::Restore => Some(self.site_lock(&rec.site).await?),
            Purpose::Drill | Purpose::Staging => None,
        };
        let plan = Arc::new(rec.plan()?);
        // As served when the execution starts: what a cutover replaces.
        let site = self.site_as_served(&plan.site).await?;
        let cloud = self.cloud_for(&site).await?;
        self.catalog
            .set_plan_status(id, PlanStatus::Executing, self.clock.now())
            .await?;
        let mut records: BTreeMap<String, StepRecord> = self
            .catalog
            .restore_steps(id)
            .await?
            .into_iter()
            .map(|s| (s.key.clone(), s))
            .collect();
        if staging && !down {
            let tearing = plan.steps.iter().any(|s| {
                matches!(s.action, Action::Teardown(_))
                    && records
                        .get(&s.key)
                        .is_some_and(|r| r.state != StepState::Pending)
            });
            if tearing {
                return Err(RestoreError::Refused(format!(
                    "staging copy {id} is being torn down; `wpbackup staging down {id}` finishes it"
                )));
            }
        }
        let mut attempted: BTreeSet<String> = BTreeSet::new();
        let mut inflight = tokio::task::JoinSet::new();
        // Which step each task runs: a step that panics (a bug) still fails as that step.
        let mut running: HashMap<tokio::task::Id, (String, std::time::Instant)> = HashMap::new();
        let mut failure: Option<String> = None;
        let mut stopping = *stop.borrow();
        loop {
            if !stopping && failure.is_none() {
                for step in &plan.steps {
                    let r = &records[&step.key];
                    // Bringing a staging copy up never starts its teardown; taking it
                    // down starts nothing else.
                    let teardown = matches!(step.action, Action::Teardown(_));
                    if staging && teardown != down {
                        continue;
                    }
                    let finished = r.state.is_finished();
                    // `staging down` deletes whatever the copy's steps made, finished or
                    // not (nothing of it runs meanwhile: the restore lock is held).
                    let ready = (staging && down)
                        || step
                            .depends_on
                            .iter()
                            .all(|d| records.get(d).is_some_and(|r| r.state.is_finished()));
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
                    let task = inflight.spawn(async move {
                        let key = ctx.step.key.clone();
                        let result = ctx.run().await;
                        (key, started.elapsed().as_secs_f64(), result)
                    });
                    running.insert(task.id(), (step.key.clone(), started));
                }
            }
            if inflight.is_empty() {
                break;
            }
            tokio::select! {
                Some(joined) = inflight.join_next_with_id() => {
                    let (key, secs, result) = match joined {
                        Ok((task, done)) => {
                            running.remove(&task);
                            done
                        }
                        Err(e) => {
                            let (key, started) = running
                                .remove(&e.id())
                                .unwrap_or_else(|| ("plan".into(), std::time::Instant::now()));
                            // What the step recorded before it broke is kept for the resume.
                            let saved = self
                                .catalog
                                .restore_steps(id)
                                .await?
                                .into_iter()
                                .find(|s| s.key == key)
                                .map(|s| s.outputs)
                                .unwrap_or_default();
                            let why = if e.is_panic() {
                                "the step stopped on an internal error (a bug in wpbackup; details in the log); \
                                 what it recorded is kept, `wpbackup restore resume` tries it again"
                            } else {
                                "the step was cancelled; `wpbackup restore resume` tries it again"
                            };
                            tracing::error!(step = %key, error = %e, "restore step ended abnormally");
                            (key, started.elapsed().as_secs_f64(), Err((why.to_string(), saved)))
                        }
                    };
                    let now = self.clock.now();
                    match result {
                        Ok(StepOutcome { state, outputs, detail }) => {
                            self.catalog.finish_restore_step(id, &key, state, &outputs, None, now).await?;
                            progress.finished(&key, state, secs, &detail);
                        }
                        Err((e, outputs)) => {
                            self.catalog.finish_restore_step(id, &key, StepState::Failed, &outputs, Some(&e), now).await?;
                            progress.finished(&key, StepState::Failed, secs, &e);
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
        let done = |pick: &dyn Fn(&Step) -> bool| {
            plan.steps
                .iter()
                .filter(|s| pick(s))
                .all(|s| records.get(&s.key).is_some_and(|r| r.state.is_finished()))
        };
        let is_teardown = |s: &Step| matches!(s.action, Action::Teardown(_));
        let status = if down && done(&is_teardown) {
            PlanStatus::TornDown
        } else if !down && done(&|s| !staging || !is_teardown(s)) {
            match plan.purpose {
                // A staging copy up: every step but its teardown done.
                Purpose::Restore | Purpose::Staging => PlanStatus::Completed,
                Purpose::Drill => PlanStatus::TornDown,
            }
        } else if failure.is_some() {
            PlanStatus::Failed
        } else {
            PlanStatus::Executing
        };
        self.end_plan(id, status, failure, true).await
    }

    /// Record where the plan ended and report it, with its steps as the catalog has them;
    /// `measure`: with the recovery time (an execution, not a rollback).
    pub(super) async fn end_plan(
        &self,
        id: &str,
        status: PlanStatus,
        failure: Option<String>,
        measure: bool,
    ) -> Result<Execution, RestoreError> {
        self.catalog
            .set_plan_status(id, status, self.clock.now())
            .await?;
        let steps = self.catalog.restore_steps(id).await?;
        let recovery_seconds = if measure {
            recovery_seconds(&steps)
        } else {
            None
        };
        let drill_resources: Vec<super::teardown::DrillResource> = steps
            .iter()
            .find(|s| s.key.ends_with(".teardown"))
            .and_then(|s| s.outputs.get("resources"))
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let rec = self.plan_record(id).await?;
        let recovery_target_seconds = match rec.purpose {
            Purpose::Drill | Purpose::Staging => self
                .site(&rec.site)
                .ok()
                .map(|s| s.audit.max_recovery_time.as_secs() as i64),
            Purpose::Restore => None,
        };
        Ok(Execution {
            plan_id: id.to_string(),
            status,
            steps,
            failure,
            recovery_seconds,
            recovery_target_seconds,
            drill_resources,
        })
    }
}

struct StepOutcome {
    state: StepState,
    outputs: Map<String, Value>,
    detail: String,
}

/// Everything one step needs; run on its own task.
pub(super) struct StepCtx {
    pub(super) engine: Engine,
    pub(super) cloud: Cloud,
    pub(super) site: Site,
    pub(super) plan: Arc<Plan>,
    pub(super) step: Step,
    /// This step's outputs from an earlier attempt (resume).
    pub(super) own: Map<String, Value>,
    /// Every step's recorded outputs.
    pub(super) outputs: BTreeMap<String, Map<String, Value>>,
    pub(super) progress: Arc<dyn RestoreProgress>,
}

type StepResult = Result<StepOutcome, (String, Map<String, Value>)>;

/// What a step's action ends with: its state (`done`, `skipped`) and a one-line detail, or
/// why it failed.
pub(super) type StepAct = Result<(StepState, String), StepError>;

/// Why a step failed: a cloud call's error keeps its kind (throttled, access denied, …) and
/// says what to do about it; otherwise wpbackup's own reason.
#[derive(Debug)]
pub(super) struct StepError {
    /// The kind of the cloud error, when a cloud call failed.
    pub kind: Option<CloudErrorKind>,
    pub message: String,
}

impl From<CloudError> for StepError {
    fn from(e: CloudError) -> Self {
        Self {
            kind: Some(e.kind),
            message: format!("{e} — {}", e.guidance()),
        }
    }
}

impl From<String> for StepError {
    fn from(message: String) -> Self {
        Self {
            kind: None,
            message,
        }
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl StepCtx {
    pub(super) fn timeout(&self) -> Duration {
        Duration::from_secs((self.step.expected_seconds * 3).max(3600))
    }

    pub(super) fn interval(&self) -> Duration {
        self.engine.poll_interval_for(&self.site)
    }

    /// Record progress now (so a crash after this point is resumed from here).
    pub(super) async fn save(&self, out: &Map<String, Value>) -> Result<(), String> {
        self.engine
            .catalog
            .record_step_outputs(&self.plan.id, &self.step.key, out)
            .await
            .map_err(|e| e.to_string())
    }

    pub(super) fn dep_output(&self, step: &str, name: &str) -> Option<String> {
        self.outputs
            .get(step)
            .and_then(|o| o.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    pub(super) async fn point(&self, id: i64) -> Result<ProviderPoint, String> {
        match self.engine.catalog.point(id).await {
            Ok(Some(p)) => Ok(to_provider_point(&p)),
            Ok(None) => Err(format!("point {id} is not in the catalog")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// A list of names the step recorded under `name` (what an earlier attempt did).
    pub(super) fn recorded_list(out: &Map<String, Value>, name: &str) -> Vec<String> {
        out.get(name)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn tags(&self) -> crate::cloud::Tags {
        self.plan.tags.clone()
    }

    async fn run(self) -> StepResult {
        let mut out = self.own.clone();
        out.remove("error_kind"); // from an earlier failed attempt
        match self.act(&mut out).await {
            Ok((state, detail)) => Ok(StepOutcome {
                state,
                outputs: out,
                detail,
            }),
            Err(e) => {
                // Kept with the step (`restore show`): what kind of cloud error stopped it.
                if let Some(kind) = e.kind {
                    out.insert("error_kind".into(), json!(kind.as_str()));
                }
                Err((e.message, out))
            }
        }
    }

    async fn act(&self, out: &mut Map<String, Value>) -> StepAct {
        match &self.step.action {
            Action::RestoreCluster(s) => self.restore_cluster(s, out).await,
            Action::CreateClusterInstance(s) => self.create_cluster_instance(s, out).await,
            Action::RestoreFileSystem(s) => self.restore_file_system(s, out).await,
            Action::LaunchInstance(s) => self.launch_instance(s, out).await,
            Action::RevertBucket(s) => self.revert_bucket(s, out).await,
            Action::HealthCheck(s) => self.health_check(s, out).await,
            Action::VerifyPublic(s) => self.verify_public(s, out).await,
            Action::SwapCluster(s) => self.swap_cluster(s, out).await,
            Action::MoveAddress(s) => self.move_address(s, out).await,
            Action::Manual(s) => self.manual(s, out).await,
            Action::Teardown(s) => self.teardown(s, out).await,
            Action::LaunchGroup(s) => self.launch_group(s, out).await,
            Action::CheckTargets(s) => self.check_targets(s, out).await,
            Action::SwitchListener(s) => self.switch_listener(s, out).await,
            Action::Isolate(s) => self.isolate(s, out).await,
            Action::InvalidateCdn(s) => self.invalidate_cdn(s, out).await,
        }
    }
}
