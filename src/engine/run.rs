//! One-shot backup of policies: pre-hook → point (deterministic name, tags) → wait until
//! available → DR copies → post-hook → record. One component's failure never stops another.

use super::hooks::{run_hook, HookEnv, HookOutcome};
use super::{Engine, EngineError};
use crate::catalog::{PointRecord, RunOutcome};
use crate::cloud::{Cloud, CloudError, CloudErrorKind, ProviderPoint, Tags};
use crate::domain::model::{ComponentKind, PointKind, PointState, RunPhase};
use crate::domain::names::{copy_name, point_name, point_tags};
use crate::domain::policy::{OnError, Policy};
use crate::domain::site::Site;
use chrono::{DateTime, DurationRound, Utc};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Manual,
    Schedule,
    OnDemand,
    Simulate,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
            Trigger::OnDemand => "on-demand",
            Trigger::Simulate => "simulate",
        }
    }
}

/// One point or copy as the run saw it.
#[derive(Debug, Clone, Serialize)]
pub struct PointReport {
    pub catalog_id: i64,
    pub region: String,
    pub name: String,
    pub provider_id: String,
    pub state: PointState,
    pub failure_reason: Option<String>,
}

/// What happened to one component.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub site: String,
    pub component: String,
    pub kind: ComponentKind,
    pub run_id: i64,
    pub phase: RunPhase,
    pub scheduled_for: DateTime<Utc>,
    pub point: Option<PointReport>,
    pub copies: Vec<PointReport>,
    pub failure_reason: Option<String>,
    pub warnings: Vec<String>,
    pub duration_secs: f64,
}

impl RunReport {
    /// A run that took no point (skipped, or stopped before it could), and why.
    fn without_point(
        site: &Site,
        policy: &Policy,
        run_id: i64,
        phase: RunPhase,
        scheduled_for: DateTime<Utc>,
        reason: String,
    ) -> Self {
        RunReport {
            site: site.name.clone(),
            component: policy.name.clone(),
            kind: policy.kind,
            run_id,
            phase,
            scheduled_for,
            point: None,
            copies: Vec::new(),
            failure_reason: Some(reason),
            warnings: Vec::new(),
            duration_secs: 0.0,
        }
    }
}

/// One policy to run, with the instant its names derive from.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub site: String,
    pub policy: String,
    pub scheduled_for: DateTime<Utc>,
    pub trigger: Trigger,
}

impl Engine {
    /// The instant a manual run is named after: now, to the minute. Two manual runs in
    /// the same minute are one point (the second adopts the first).
    pub fn manual_instant(&self) -> DateTime<Utc> {
        self.clock
            .now()
            .duration_trunc(chrono::Duration::minutes(1))
            .expect("minute truncation")
    }

    /// With a `[limits]` entry for the policy's service, one of that service's slots: a run
    /// takes it before anything else (before a place among the concurrent runs, so runs
    /// waiting for a busy service do not hold places others could use) and holds it to its
    /// end. `None`: the service is not limited.
    pub async fn service_slot(&self, req: &RunRequest) -> Option<OwnedSemaphorePermit> {
        let service = self
            .config
            .site(&req.site)
            .and_then(|s| s.policy(&req.policy))
            .map(|p| p.kind.service())?;
        let limit = self.service_limits.get(service)?.clone();
        Some(limit.acquire_owned().await.expect("semaphore open"))
    }

    /// Run several policies concurrently (at most `concurrency` at once).
    pub async fn run_many(
        &self,
        requests: Vec<RunRequest>,
        concurrency: usize,
    ) -> Result<Vec<RunReport>, EngineError> {
        // Validate every request before starting anything.
        for r in &requests {
            let site = self.site(&r.site)?;
            self.cloud_for(site).await?;
            if site.policy(&r.policy).is_none() {
                return Err(unknown_policy(site, &r.policy));
            }
        }
        let limit = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut set = tokio::task::JoinSet::new();
        for (i, r) in requests.into_iter().enumerate() {
            let engine = self.clone();
            let limit = limit.clone();
            set.spawn(async move {
                let _slot = engine.service_slot(&r).await;
                let _permit = limit.acquire_owned().await.expect("semaphore open");
                (i, engine.run_policy_isolated(r).await)
            });
        }
        // Every run finishes, whatever happens to the others: the set is never dropped early.
        let mut out = Vec::new();
        let mut error = None;
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((i, Ok(report))) => out.push((i, report)),
                Ok((_, Err(e))) => {
                    error.get_or_insert(e);
                }
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        if let Some(e) = error {
            return Err(e);
        }
        out.sort_by_key(|(i, _)| *i);
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }

    /// Run one policy in a task of its own: an error or a panic in it becomes that
    /// component's failed run, recorded as such (so the policy can run again), never its
    /// siblings'. Err only when even that cannot be recorded (the catalog is unusable).
    /// The caller holds the policy's service slot ([`Engine::service_slot`]).
    pub async fn run_policy_isolated(&self, req: RunRequest) -> Result<RunReport, EngineError> {
        let engine = self.clone();
        let task_req = req.clone();
        let joined = tokio::spawn(async move { engine.run_policy(&task_req).await }).await;
        let reason = match joined {
            Ok(Ok(report)) => return Ok(report),
            Ok(Err(e)) => format!("the run stopped on an error: {e}"),
            Err(e) if e.is_panic() => {
                let panic = e.into_panic();
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                format!("internal error, please report it: the run panicked: {what}")
            }
            Err(e) => format!("the run was cancelled: {e}"),
        };
        tracing::error!(site = %req.site, component = %req.policy, %reason, "run failed");
        self.progress
            .finished(&format!("{}/{}", req.site, req.policy), false, 0.0, &reason);
        let site = self.site(&req.site)?;
        let policy = site
            .policy(&req.policy)
            .ok_or_else(|| unknown_policy(site, &req.policy))?;
        let now = self.clock.now();
        let run_id = match self.catalog.component_id(&site.name, &policy.name).await? {
            Some(component) => self
                .catalog
                .fail_own_unfinished_run(component, req.scheduled_for, &reason, now)
                .await?
                .unwrap_or(0),
            None => 0,
        };
        Ok(RunReport::without_point(
            site,
            policy,
            run_id,
            RunPhase::Failed,
            req.scheduled_for,
            reason,
        ))
    }

    /// Run one policy end to end and record it.
    pub async fn run_policy(&self, req: &RunRequest) -> Result<RunReport, EngineError> {
        // What serves the site now: after a restore, the adopted resources.
        let served = self.site_as_served(&req.site).await?;
        let site = &served;
        let policy = site
            .policy(&req.policy)
            .ok_or_else(|| unknown_policy(site, &req.policy))?;
        let cloud = self.cloud_for(site).await?;
        let started = self.clock.now();
        let site_id = self.catalog.upsert_site(site, started).await?;
        let component_id = self
            .catalog
            .upsert_component(site_id, policy, started)
            .await?;
        let policy_id = self
            .catalog
            .record_policy(component_id, &policy.source, started)
            .await?;

        // Record a run that does not start, and why.
        let skip = |reason: String| async move {
            let run_id = self
                .catalog
                .record_skipped_run(
                    component_id,
                    policy_id,
                    req.trigger.as_str(),
                    req.scheduled_for,
                    started,
                    &reason,
                )
                .await?;
            self.progress.finished(
                &format!("{}/{}", site.name, policy.name),
                true,
                0.0,
                &format!("skipped: {reason}"),
            );
            Ok::<_, EngineError>(RunReport::without_point(
                site,
                policy,
                run_id,
                RunPhase::Skipped,
                req.scheduled_for,
                reason,
            ))
        };
        // A restore of the site holds its lock exclusively: no backup acts on the site's
        // components meanwhile (held to the end of the run).
        let Some(_site_lock) = self.catalog.lock_site(&site.name, false, false).await? else {
            return skip(format!(
                "a restore of site {} is executing; backups of the site wait for it to finish",
                site.name
            ))
            .await;
        };

        if let Some((other, pid)) = self.catalog.run_in_progress(component_id).await? {
            // Alive: its process is, on this host, or a live daemon (on any host) holds
            // the fire it runs.
            let held = match self.catalog.run_by_id(other).await? {
                Some(r) => {
                    self.catalog
                        .fire_held_by_live_daemon(component_id, r.scheduled_for, started)
                        .await?
                }
                None => false,
            };
            if pid.is_some_and(process_alive) || held {
                return skip(format!(
                    "run {other} of this policy is still in progress (process {})",
                    pid.unwrap_or_default()
                ))
                .await;
            }
            self.recover_interrupted_run(&cloud, other, pid).await?;
        }

        let run_id = self
            .catalog
            .start_run(
                component_id,
                policy_id,
                req.trigger.as_str(),
                req.scheduled_for,
                started,
            )
            .await?;
        tracing::info!(site = %site.name, component = %policy.name, run_id, "run started");
        let key = format!("{}/{}", site.name, policy.name);
        let name = point_name(&site.name, &policy.name, req.scheduled_for);
        self.progress.started(
            &key,
            &format!("{} point {name} (run {run_id})", policy.kind),
        );
        let mut ctx = RunCtx {
            engine: self,
            site,
            policy,
            cloud: &cloud,
            component_id,
            run_id,
            name,
            tags: point_tags(
                &site.name,
                &policy.name,
                run_id,
                req.scheduled_for,
                &policy.tags,
            ),
            outcome: RunOutcome::default(),
            point: None,
            copies: Vec::new(),
            partial: false,
        };
        let phase = ctx.execute().await?;
        let finished = self.clock.now();
        self.catalog
            .finish_run(run_id, phase, &ctx.outcome, finished)
            .await?;
        tracing::info!(site = %site.name, component = %policy.name, run_id, phase = %phase,
            reason = ctx.outcome.failure_reason.as_deref().unwrap_or(""), "run finished");
        let secs = (finished - started).num_milliseconds() as f64 / 1000.0;
        let summary = match (&ctx.outcome.failure_reason, &ctx.point) {
            (Some(why), _) => format!("{phase}: {why}"),
            (None, Some(p)) => format!(
                "{phase}: {}{}",
                p.provider_id,
                match ctx.copies.len() {
                    0 => String::new(),
                    n => format!(" and {n} DR cop{}", if n == 1 { "y" } else { "ies" }),
                }
            ),
            (None, None) => phase.to_string(),
        };
        self.progress.finished(
            &key,
            matches!(phase, RunPhase::Completed | RunPhase::PartiallyFailed),
            secs,
            &summary,
        );
        Ok(RunReport {
            site: site.name.clone(),
            component: policy.name.clone(),
            kind: policy.kind,
            run_id,
            phase,
            scheduled_for: req.scheduled_for,
            point: ctx.point,
            copies: ctx.copies,
            failure_reason: ctx.outcome.failure_reason,
            warnings: ctx.outcome.warnings,
            duration_secs: secs,
        })
    }
}

impl Engine {
    /// A run whose process is gone: bring its points up to date with the cloud and close
    /// it as `Interrupted`, so the policy can run again.
    pub(crate) async fn recover_interrupted_run(
        &self,
        cloud: &Cloud,
        run_id: i64,
        pid: Option<i64>,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut notes = Vec::new();
        // A process killed between asking the cloud for a point and recording it leaves a
        // point only the cloud knows: find it by its deterministic name and record it.
        if let Some(run) = self.catalog.run_by_id(run_id).await? {
            notes.extend(self.adopt_unrecorded_points(cloud, &run, run_id).await?);
        }
        for p in self.catalog.points_of_run(run_id).await? {
            if p.state != PointState::Creating {
                continue;
            }
            match cloud
                .points
                .describe_point(p.kind, &p.region, &p.provider_id)
                .await
            {
                Ok(seen) => {
                    self.catalog
                        .set_point_state(p.id, seen.state, seen.failure_reason.as_deref(), now)
                        .await?;
                    notes.push(format!("{} is {}", p.name, seen.state));
                }
                Err(e) if e.kind == CloudErrorKind::NotFound => {
                    self.catalog
                        .set_point_state(p.id, PointState::Missing, Some(&e.message), now)
                        .await?;
                    notes.push(format!("{} is missing", p.name));
                }
                Err(e) => notes.push(format!("{} not reconciled: {e}", p.name)),
            }
        }
        let reason = format!(
            "the process running it ({}) ended before it finished{}",
            pid.map(|p| p.to_string())
                .unwrap_or_else(|| "unknown".into()),
            if notes.is_empty() {
                String::new()
            } else {
                format!("; reconciled: {}", notes.join(", "))
            }
        );
        tracing::warn!(run_id, %reason, "recovered an interrupted run");
        self.catalog.mark_interrupted(run_id, &reason, now).await?;
        Ok(())
    }
}

impl Engine {
    /// Record the points (and DR copies) an interrupted run made but never recorded.
    async fn adopt_unrecorded_points(
        &self,
        cloud: &Cloud,
        run: &crate::catalog::RunRecord,
        run_id: i64,
    ) -> Result<Vec<String>, EngineError> {
        let mut notes = Vec::new();
        let Some(site) = self.config.site(&run.site) else {
            return Ok(notes);
        };
        let Some(policy) = site.policy(&run.component) else {
            return Ok(notes);
        };
        let Some(component_id) = self.catalog.component_id(&run.site, &run.component).await? else {
            return Ok(notes);
        };
        let kind = policy.kind.point_kind();
        let name = point_name(&site.name, &policy.name, run.scheduled_for);
        let known = self.catalog.points_of_run(run_id).await?;
        let mut source_id = known.iter().find(|p| p.region == site.region).map(|p| p.id);
        let mut wanted = vec![(site.region.clone(), name.clone(), None)];
        wanted.extend(
            policy
                .dr_copies
                .iter()
                .map(|c| (c.region.clone(), copy_name(&name, &c.region), Some(()))),
        );
        for (region, n, is_copy) in wanted {
            if known.iter().any(|p| p.region == region && p.name == n) {
                continue;
            }
            let Ok(Some(found)) = cloud.points.find_point(kind, &region, &n).await else {
                continue;
            };
            let now = self.clock.now();
            let id = self
                .catalog
                .upsert_point(
                    &PointRecord {
                        component_id,
                        run_id: Some(run_id),
                        kind: found.kind,
                        region: found.region.clone(),
                        name: found.name.clone(),
                        provider_id: found.provider_id.clone(),
                        arn: found.arn.clone(),
                        point_time: found.point_time,
                        state: found.state,
                        source_point_id: if is_copy.is_some() { source_id } else { None },
                        managed: true,
                        metadata: found.metadata.clone(),
                        failure_reason: found.failure_reason.clone(),
                        created_at: now,
                    },
                    now,
                )
                .await?;
            if is_copy.is_none() {
                source_id = Some(id);
            }
            notes.push(format!(
                "{} found in {region} and recorded ({})",
                found.name, found.state
            ));
        }
        Ok(notes)
    }
}

/// Whether the process that started a run is still running (on this host).
fn process_alive(pid: i64) -> bool {
    if pid == i64::from(std::process::id()) {
        return true;
    }
    if cfg!(target_os = "linux") {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        // Without /proc, assume it may be alive: skipping is safe, running twice is not.
        true
    }
}

fn unknown_policy(site: &Site, name: &str) -> EngineError {
    EngineError::UnknownPolicy(
        name.to_string(),
        site.policies
            .iter()
            .map(|p| format!("{}/{}", site.name, p.name))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

struct RunCtx<'a> {
    engine: &'a Engine,
    site: &'a Site,
    policy: &'a Policy,
    cloud: &'a Cloud,
    component_id: i64,
    run_id: i64,
    name: String,
    tags: Tags,
    outcome: RunOutcome,
    point: Option<PointReport>,
    copies: Vec<PointReport>,
    /// Something after the point failed (a copy, a post-hook with on_error = fail).
    partial: bool,
}

impl RunCtx<'_> {
    async fn execute(&mut self) -> Result<RunPhase, EngineError> {
        let pre_ok = match &self.policy.hooks.pre {
            Some(hook) => self.hook(hook, "pre").await,
            None => true,
        };
        let mut phase = RunPhase::Failed;
        if pre_ok {
            phase = self.take_point_and_copies().await?;
        }
        // The post-hook always runs, even after a failure: whatever the pre-hook did
        // (maintenance mode, a paused cron) must be undone.
        if let Some(hook) = &self.policy.hooks.post {
            if !self.hook(hook, "post").await && phase == RunPhase::Completed {
                phase = RunPhase::PartiallyFailed;
            }
        }
        if phase == RunPhase::Completed && self.partial {
            phase = RunPhase::PartiallyFailed;
        }
        Ok(phase)
    }

    /// Run a hook; false when it failed and its on_error is `fail`.
    async fn hook(&mut self, hook: &crate::domain::policy::Hook, which: &str) -> bool {
        self.note(&format!("running its {which}-hook"));
        let env = HookEnv {
            site: &self.site.name,
            component: &self.policy.name,
            phase: which,
            point_name: &self.name,
            run_id: self.run_id,
        };
        match run_hook(hook, &env).await {
            HookOutcome::Succeeded => true,
            HookOutcome::Failed(msg) if hook.on_error == OnError::Continue => {
                self.outcome
                    .warnings
                    .push(format!("{msg} (on_error = continue)"));
                true
            }
            HookOutcome::Failed(msg) => {
                if self.outcome.failure_reason.is_none() {
                    self.outcome.failure_reason = Some(msg);
                }
                false
            }
        }
    }

    /// What the run is doing now, for the progress display.
    fn note(&self, what: &str) {
        self.engine
            .progress
            .note(&format!("{}/{}", self.site.name, self.policy.name), what);
    }

    async fn take_point_and_copies(&mut self) -> Result<RunPhase, EngineError> {
        self.note(&format!("creating {} in {}", self.name, self.site.region));
        let points = &self.cloud.points;
        let region = self.site.region.clone();
        let kind = self.policy.kind.point_kind();
        let created = match points
            .create_point(&self.policy.target, &region, &self.name, &self.tags)
            .await
        {
            Ok(p) => Ok(p),
            // Deterministic name already taken: a previous attempt made it. Adopt it.
            Err(e) if e.kind == CloudErrorKind::AlreadyExists => {
                let earlier = self
                    .engine
                    .catalog
                    .point_named(self.component_id, &region, &self.name)
                    .await?;
                let resource = self.policy.target.resource_id();
                match points.find_point(kind, &region, &self.name).await {
                    // Taken of the resource a restore replaced since (same minute): it
                    // does not protect what serves the site now.
                    Ok(Some(_))
                        if earlier.as_ref().is_some_and(|p| {
                            p.metadata
                                .extra
                                .get("resource")
                                .is_some_and(|r| r != resource)
                        }) =>
                    {
                        Err(crate::cloud::CloudError::new(
                            CloudErrorKind::AlreadyExists,
                            "CreatePoint",
                            format!(
                                "{} is taken by a point of the resource a restore replaced since; \
                                 run again in the next minute to protect {resource}",
                                self.name
                            ),
                        ))
                    }
                    Ok(Some(p)) => {
                        self.outcome.warnings.push(format!(
                            "point {} already existed (an earlier attempt made it); adopted",
                            self.name
                        ));
                        Ok(p)
                    }
                    Ok(None) => Err(e),
                    Err(e2) => Err(e2),
                }
            }
            Err(e) => Err(e),
        };
        let mut created = match created {
            Ok(p) => p,
            Err(e) => {
                self.fail_point(&e);
                return Ok(RunPhase::Failed);
            }
        };
        // The resource the point is of (after a restore: the adopted one), for `points`.
        created
            .metadata
            .extra
            .entry("resource".into())
            .or_insert_with(|| self.policy.target.resource_id().to_string());
        // An S3 checkpoint is a record, not a cloud resource, so nothing in the cloud stops
        // a second one for the same fire: a run repeated after a crash verifies the bucket
        // again and updates the checkpoint the first attempt recorded (same id and instant,
        // so its DR side matches too) instead of adding another.
        if kind == PointKind::S3Checkpoint {
            if let Some(earlier) = self
                .engine
                .catalog
                .point_named(self.component_id, &region, &self.name)
                .await?
            {
                created.provider_id = earlier.provider_id;
                created.point_time = earlier.point_time;
                self.outcome.warnings.push(format!(
                    "checkpoint {} already recorded (an earlier attempt made it); verified again",
                    self.name
                ));
            }
        }
        let point_id = self.record(&created, None).await?;
        let done = self.wait_available(point_id, created).await?;
        self.point = Some(report(point_id, &done));
        if done.state != PointState::Available {
            self.outcome.points_failed += 1;
            self.outcome.failure_reason.get_or_insert_with(|| {
                format!(
                    "point {} ended {}: {}",
                    done.name,
                    done.state,
                    done.failure_reason.clone().unwrap_or_default()
                )
            });
            return Ok(RunPhase::Failed);
        }
        self.outcome.points_created += 1;

        for copy in &self.policy.dr_copies {
            let name = copy_name(&self.name, &copy.region);
            self.note(&format!("copying to {} as {name}", copy.region));
            let started = match points
                .copy_point(&done, &self.policy.target, copy, &name, &self.tags)
                .await
            {
                Err(e) if e.kind == CloudErrorKind::AlreadyExists => points
                    .find_point(kind, &copy.region, &name)
                    .await
                    .and_then(|p| p.ok_or(e)),
                other => other,
            };
            match started {
                Ok(c) => {
                    let copy_id = self.record(&c, Some(point_id)).await?;
                    let c = self.wait_available(copy_id, c).await?;
                    if c.state == PointState::Available {
                        self.outcome.copies_created += 1;
                    } else {
                        self.outcome.copies_failed += 1;
                        self.partial = true;
                        self.outcome.failure_reason.get_or_insert_with(|| {
                            format!("DR copy {} to {} ended {}", c.name, c.region, c.state)
                        });
                    }
                    self.copies.push(report(copy_id, &c));
                }
                Err(e) => {
                    self.outcome.copies_failed += 1;
                    self.partial = true;
                    self.outcome
                        .failure_reason
                        .get_or_insert_with(|| format!("DR copy to {}: {e}", copy.region));
                }
            }
        }

        match self
            .cloud
            .settings
            .ensure(&self.policy.target, &self.site.region)
            .await
        {
            Ok(changes) => {
                for c in changes {
                    tracing::info!(component = %self.policy.name, "{c}");
                }
            }
            Err(e) => self
                .outcome
                .warnings
                .push(format!("could not apply protection settings: {e}")),
        }
        match self
            .cloud
            .settings
            .inspect(&self.policy.target, &self.site.region)
            .await
        {
            Ok(checks) => {
                for c in checks.iter().filter(|c| !c.ok) {
                    self.outcome.warnings.push(format!(
                        "{} is {}, expected {}",
                        c.setting, c.actual, c.expected
                    ));
                }
            }
            Err(e) => self
                .outcome
                .warnings
                .push(format!("could not read protection settings: {e}")),
        }
        Ok(RunPhase::Completed)
    }

    fn fail_point(&mut self, e: &CloudError) {
        self.outcome.points_failed += 1;
        self.outcome.failure_reason = Some(format!("{e} — {}", e.guidance()));
    }

    async fn record(&self, p: &ProviderPoint, source: Option<i64>) -> Result<i64, EngineError> {
        let now = self.engine.clock.now();
        Ok(self
            .engine
            .catalog
            .upsert_point(
                &PointRecord {
                    component_id: self.component_id,
                    run_id: Some(self.run_id),
                    kind: p.kind,
                    region: p.region.clone(),
                    name: p.name.clone(),
                    provider_id: p.provider_id.clone(),
                    arn: p.arn.clone(),
                    point_time: p.point_time,
                    state: p.state,
                    source_point_id: source,
                    managed: true,
                    metadata: p.metadata.clone(),
                    failure_reason: p.failure_reason.clone(),
                    created_at: now,
                },
                now,
            )
            .await?)
    }

    /// Poll until the point leaves `creating`, or the policy's wait timeout passes.
    async fn wait_available(
        &mut self,
        point_id: i64,
        mut p: ProviderPoint,
    ) -> Result<ProviderPoint, EngineError> {
        let deadline =
            crate::domain::time::add_saturating(self.engine.clock.now(), self.policy.wait_timeout);
        let interval = self.engine.poll_interval_for(self.site);
        if p.state == PointState::Creating {
            self.note(&format!(
                "waiting for {} in {} to become available (wait_timeout {})",
                p.provider_id,
                p.region,
                humantime::format_duration(self.policy.wait_timeout)
            ));
        }
        while p.state == PointState::Creating {
            if self.engine.clock.now() >= deadline {
                p.failure_reason = Some(format!(
                    "still creating after {} (wait_timeout); it will be reconciled later",
                    humantime::format_duration(self.policy.wait_timeout)
                ));
                return Ok(p);
            }
            self.engine
                .sleeper
                .sleep(interval.min(Duration::from_secs(60)))
                .await;
            match self
                .cloud
                .points
                .describe_point(p.kind, &p.region, &p.provider_id)
                .await
            {
                Ok(mut next) => {
                    // What the create call recorded beyond the image itself (the group's
                    // settings, the resource) stays with the point and its copies.
                    for (k, v) in std::mem::take(&mut p.metadata.extra) {
                        next.metadata.extra.entry(k).or_insert(v);
                    }
                    p = next
                }
                Err(e) if e.is_retryable() => {
                    self.outcome
                        .warnings
                        .push(format!("polling {}: {e}", p.name));
                }
                Err(e) => {
                    p.state = PointState::Failed;
                    p.failure_reason = Some(e.to_string());
                }
            }
        }
        let now = self.engine.clock.now();
        self.engine
            .catalog
            .set_point_state(point_id, p.state, p.failure_reason.as_deref(), now)
            .await?;
        Ok(p)
    }
}

fn report(id: i64, p: &ProviderPoint) -> PointReport {
    PointReport {
        catalog_id: id,
        region: p.region.clone(),
        name: p.name.clone(),
        provider_id: p.provider_id.clone(),
        state: p.state,
        failure_reason: p.failure_reason.clone(),
    }
}
