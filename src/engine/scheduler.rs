//! The scheduling core: takes every policy's points on time. The daemon runs it behind a
//! lease (one daemon per catalog); `simulate` runs it on a virtual clock with no lease.
//!
//! * Next fire is a pure function of (schedule, zone, as-of) — `domain::schedule`.
//! * On start, a policy whose last fire was missed runs once (never a storm of catch-ups)
//!   if the fire is within the start window; otherwise the miss is recorded. A fire a crash
//!   interrupted runs again, once.
//! * A policy still running is not started again (the fire is recorded as skipped); a global
//!   concurrency limit bounds runs.
//! * Runs interrupted by a crash are reconciled at start (see `engine::run`).
//! * The loop sleeps until the next fire (or the next heartbeat) — it does not poll.

use crate::config;
use crate::domain::model::{RunPhase, MISSED_FIRE};
use crate::engine::run::{RunRequest, Trigger};
use crate::engine::{Engine, EngineError};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

/// With no heartbeat and no fire ahead, how long the loop sleeps before looking again.
const IDLE_WAKE: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct ScheduleOptions {
    /// Most runs at once, across all sites.
    pub concurrency: usize,
    /// A missed fire younger than this is run once at start; older ones are recorded as missed.
    pub start_window: Duration,
    /// Apply retention after successful points.
    pub prune: bool,
}

impl Default for ScheduleOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            start_window: Duration::from_secs(3600),
            prune: true,
        }
    }
}

/// What the scheduler is doing, for `/healthz` and `/metrics`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SchedulerStatus {
    /// Who runs it (the daemon's lease holder).
    pub holder: String,
    pub started_at: Option<DateTime<Utc>>,
    pub last_loop_at: Option<DateTime<Utc>>,
    /// Set while the loop waits (for its next fire, a control message or the heartbeat):
    /// when it means to wake up at the latest.
    pub sleeping_until: Option<DateTime<Utc>>,
    pub next_fire: Option<DateTime<Utc>>,
    pub running: Vec<String>,
    pub policies: usize,
    pub reloads: u64,
    pub last_reload_error: Option<String>,
    /// Fires this daemon claimed (taken-over ones included).
    pub fires_claimed: u64,
    /// Fires it took over from a daemon that died or left.
    pub fires_taken_over: u64,
    /// Fires another daemon had claimed first.
    pub fires_claimed_elsewhere: u64,
    /// From each claimed fire's scheduled instant to its run's start: sum, count, max.
    pub lag_seconds_sum: f64,
    pub lag_count: u64,
    pub lag_seconds_max: f64,
    /// (site, component, RPO seconds) of every policy in force (in `/metrics`, not in
    /// `/healthz`: a fleet has thousands).
    #[serde(skip)]
    pub objectives: Vec<(String, String, f64)>,
    /// The daemon's lease (its row, on a shared catalog): held, until when unless renewed,
    /// and how many renewals failed. `None` before it has one.
    pub lease: Option<LeaseStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LeaseStatus {
    pub held: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub renewal_failures: u64,
}

/// Control messages (signals, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Run,
    Reload,
    Stop,
}

/// Called at every turn of the loop and before each fire is claimed: the daemon renews its
/// lease here (when due, unless a task of its own beats). An error stops the loop — no
/// new work; the runs in flight finish and are recorded — and is returned.
pub trait Heartbeat {
    type Error: From<EngineError>;
    /// The longest the loop may sleep between two calls (`None`: as long as it likes).
    fn every(&self) -> Option<Duration>;
    /// Resolves when the loop should turn before its next fire although `every` lets it
    /// sleep: the lease was lost, or (several daemons) fires of a stopped daemon may be
    /// waiting. Never, by default.
    fn woken(&self) -> impl std::future::Future<Output = ()> + Send + '_ {
        std::future::pending()
    }
    fn beat(
        &mut self,
        now: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send;
}

/// No heartbeat: nothing to renew (`simulate`, on a scratch catalog).
pub struct NoHeartbeat;

impl Heartbeat for NoHeartbeat {
    type Error = EngineError;
    fn every(&self) -> Option<Duration> {
        None
    }
    async fn beat(&mut self, _: DateTime<Utc>) -> Result<(), EngineError> {
        Ok(())
    }
}

pub struct Scheduler {
    pub(crate) engine: Engine,
    config_path: PathBuf,
    options: ScheduleOptions,
    pub status: Arc<Mutex<SchedulerStatus>>,
    running: Arc<Mutex<BTreeSet<(String, String)>>>,
    limit: Arc<Semaphore>,
    /// The daemon's name when every fire is claimed before it runs (so that several
    /// daemons on one catalog run each fire once); `None` (`simulate`): no claims.
    claims: Option<String>,
    /// Each policy's next fire, kept between turns: only those that have fired are
    /// computed again (a fleet has tens of thousands of policies; a cron walk costs µs).
    upcoming: BTreeMap<PolicyKey, DateTime<Utc>>,
    /// Catalog ids of the policies' components, recorded once per configuration.
    component_ids: Mutex<HashMap<PolicyKey, i64>>,
    /// Told to stop (or the lease is lost): fires claimed but still waiting for a run slot
    /// are not started — their claims are handed back.
    stopping: Arc<std::sync::atomic::AtomicBool>,
    /// Called before the first wait and before each wait that follows finished runs (the
    /// daemon hands back the code pages start-up or the runs touched: `daemon::memory`).
    on_idle: Option<fn() -> usize>,
}

type PolicyKey = (String, String);

impl Scheduler {
    pub fn new(engine: Engine, config_path: PathBuf, options: ScheduleOptions) -> Self {
        let limit = Arc::new(Semaphore::new(options.concurrency.max(1)));
        Self {
            engine,
            config_path,
            options,
            status: Arc::default(),
            running: Arc::default(),
            limit,
            claims: None,
            on_idle: None,
            upcoming: BTreeMap::new(),
            component_ids: Mutex::default(),
            stopping: Arc::default(),
        }
    }

    /// Claim every fire as `holder` before running it.
    pub fn with_claims(mut self, holder: String) -> Self {
        self.claims = Some(holder);
        self
    }

    /// Call `f` before the loop's first wait, and before each wait once the runs started
    /// since the last call have all finished.
    pub fn on_idle(mut self, f: fn() -> usize) -> Self {
        self.on_idle = Some(f);
        self
    }

    /// The catalog id of a policy's component (recorded on first use).
    async fn component_id(&self, key: &PolicyKey) -> Result<Option<i64>, EngineError> {
        if let Some(id) = self.component_ids.lock().expect("ids").get(key) {
            return Ok(Some(*id));
        }
        let now = self.engine.clock.now();
        let site = self.engine.site(&key.0)?;
        let Some(p) = site.policy(&key.1) else {
            return Ok(None);
        };
        let site_id = self.engine.catalog.upsert_site(site, now).await?;
        let id = self
            .engine
            .catalog
            .upsert_component(site_id, p, now)
            .await?;
        self.component_ids
            .lock()
            .expect("ids")
            .insert(key.clone(), id);
        Ok(Some(id))
    }

    /// Claim a fire (with claims on): `Some(component id)` when this daemon is to run it.
    /// Without claims every fire is this process's (`Some(0)`).
    async fn claim(&self, key: &PolicyKey, at: DateTime<Utc>) -> Option<i64> {
        let Some(holder) = &self.claims else {
            return Some(0);
        };
        let result = async {
            let Some(component) = self.component_id(key).await? else {
                return Ok(None);
            };
            let now = self.engine.clock.now();
            Ok::<_, EngineError>(
                self.engine
                    .catalog
                    .claim_fire(component, at, holder, now)
                    .await?
                    .map(|takeovers| (component, takeovers)),
            )
        }
        .await;
        let mut st = self.status.lock().expect("status");
        match result {
            Ok(Some((component, takeovers))) => {
                st.fires_claimed += 1;
                if takeovers > 0 {
                    st.fires_taken_over += 1;
                }
                Some(component)
            }
            Ok(None) => {
                st.fires_claimed_elsewhere += 1;
                None
            }
            // Not sure to hold it: leave it; if nobody runs it, it is missed and recorded.
            Err(e) => {
                tracing::error!(site = %key.0, component = %key.1, fire = %at, error = %e, "cannot claim the fire");
                None
            }
        }
    }

    /// Mark a claimed fire done (its run ended, or it was recorded as skipped).
    async fn finish_claim(
        engine: &Engine,
        holder: Option<&str>,
        component: i64,
        at: DateTime<Utc>,
    ) {
        if let Some(holder) = holder {
            if let Err(e) = engine.catalog.finish_fire(component, at, holder).await {
                tracing::warn!(error = %e, fire = %at, "cannot mark the claimed fire done; should this daemon stop first, another runs it again (adopting its point)");
            }
        }
    }

    /// Fires claimed by daemons that died or left: claim each, close the run it left in
    /// progress, and run it again (or record it missed when it is past the start window).
    async fn take_over_orphans(
        &self,
        tasks: &mut tokio::task::JoinSet<()>,
    ) -> Result<(), EngineError> {
        let Some(holder) = &self.claims else {
            return Ok(());
        };
        let now = self.engine.clock.now();
        for o in self.engine.catalog.claimed_fires(Some(now)).await? {
            let key = (o.site.clone(), o.component.clone());
            if self
                .engine
                .config
                .site(&o.site)
                .and_then(|s| s.policy(&o.component))
                .is_none()
            {
                continue;
            }
            let Some(takeovers) = self
                .engine
                .catalog
                .claim_fire(o.component_id, o.scheduled_for, holder, now)
                .await?
            else {
                continue;
            };
            {
                let mut st = self.status.lock().expect("status");
                st.fires_claimed += 1;
                st.fires_taken_over += u64::from(takeovers > 0);
            }
            let reason = format!(
                "the daemon {} running it stopped (no heartbeat); taken over by {holder}",
                o.holder
            );
            // The run the dead daemon left in progress for this fire (not a manual run).
            if let Some((run, _pid)) = self.engine.catalog.run_in_progress(o.component_id).await? {
                let of_fire =
                    self.engine.catalog.run_by_id(run).await?.is_some_and(|r| {
                        r.trigger == "schedule" && r.scheduled_for == o.scheduled_for
                    });
                if of_fire {
                    self.engine
                        .catalog
                        .mark_interrupted(run, &reason, now)
                        .await?;
                }
            }
            // A fire a later one has superseded (recorded missed by a catch-up, or followed
            // by a fire that ran) is closed, not run again.
            if self
                .engine
                .catalog
                .last_scheduled_fire(o.component_id)
                .await?
                .is_some_and(|last| last >= o.scheduled_for)
            {
                Self::finish_claim(&self.engine, Some(holder), o.component_id, o.scheduled_for)
                    .await;
                continue;
            }
            tracing::warn!(site = %o.site, component = %o.component, fire = %o.scheduled_for, from = %o.holder, "taking over a fire");
            let late = (now - o.scheduled_for).to_std().unwrap_or_default();
            if late <= self.options.start_window {
                self.fire(&key, o.scheduled_for, tasks, Some(o.component_id))
                    .await;
            } else {
                self.record_missed(
                    &key,
                    o.component_id,
                    o.scheduled_for,
                    &format!(
                        "{MISSED_FIRE}: {reason}, {} late, past the start window ({})",
                        humantime::format_duration(Duration::from_secs(late.as_secs())),
                        humantime::format_duration(self.options.start_window)
                    ),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Record a fire that will not run, and close its claim.
    async fn record_missed(
        &self,
        key: &PolicyKey,
        component: i64,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), EngineError> {
        self.record_skip(key, component, at, reason).await?;
        Self::finish_claim(&self.engine, self.claims.as_deref(), component, at).await;
        Ok(())
    }

    /// Record a scheduled fire that was not run, and why.
    async fn record_skip(
        &self,
        key: &PolicyKey,
        component: i64,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), EngineError> {
        let now = self.engine.clock.now();
        let site = self.engine.site(&key.0)?;
        let Some(p) = site.policy(&key.1) else {
            return Ok(());
        };
        let policy_id = self
            .engine
            .catalog
            .record_policy(component, &p.source, now)
            .await?;
        self.engine
            .catalog
            .record_skipped_run(component, policy_id, "schedule", at, now, reason)
            .await?;
        tracing::warn!(site = %key.0, component = %key.1, fire = %at, %reason, "skipped fire");
        Ok(())
    }

    /// Reconcile runs left in progress by a process that died. A run whose process is
    /// alive (ours, or a `wpbackup run` beside the daemon) is left alone.
    ///
    /// On a PostgreSQL catalog the daemons may run on several hosts, where a process id
    /// says nothing: a daemon's runs are recovered by whoever takes its fires over
    /// ([`Scheduler::take_over_orphans`]) once its row has expired.
    pub async fn recover(&self) -> Result<usize, EngineError> {
        if matches!(
            self.engine.catalog.location(),
            crate::catalog::CatalogLocation::Postgres(_)
        ) {
            return Ok(0);
        }
        let mut n = 0;
        for (run_id, pid, site, _component) in self.engine.catalog.runs_in_progress().await? {
            if pid.is_some_and(|p| p == i64::from(std::process::id()) || pid_alive(p)) {
                continue;
            }
            let Some(site) = self.engine.config.site(&site).cloned() else {
                continue;
            };
            let cloud = self.engine.cloud_for(&site).await?;
            self.engine
                .recover_interrupted_run(&cloud, run_id, pid)
                .await?;
            n += 1;
        }
        Ok(n)
    }

    /// Every policy in force, with its site's name.
    fn policies(&self) -> impl Iterator<Item = (&str, &crate::domain::policy::Policy)> {
        self.engine
            .config
            .sites
            .iter()
            .flat_map(|s| s.policies.iter().map(move |p| (s.name.as_str(), p)))
    }

    /// Every policy's (site, component, RPO in seconds), for the metrics.
    fn objectives(&self) -> Vec<(String, String, f64)> {
        self.policies()
            .map(|(s, p)| (s.to_string(), p.name.clone(), p.rpo.as_secs_f64()))
            .collect()
    }

    fn policy_keys(&self) -> Vec<PolicyKey> {
        self.policies()
            .map(|(s, p)| (s.to_string(), p.name.clone()))
            .collect()
    }

    /// On start: the fire each policy should catch up on (at most one each), and the misses
    /// too old to catch up, which are recorded.
    async fn catch_up(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(PolicyKey, DateTime<Utc>, i64)>, EngineError> {
        let mut due = Vec::new();
        for site in &self.engine.config.sites {
            let site_id = self.engine.catalog.upsert_site(site, now).await?;
            for p in &site.policies {
                let component = self
                    .engine
                    .catalog
                    .upsert_component(site_id, p, now)
                    .await?;
                let last = self.engine.catalog.last_scheduled_fire(component).await?;
                let Some(prev) = p.schedule.previous_at_or_before(now) else {
                    continue;
                };
                if last.is_some_and(|last| prev <= last) {
                    continue;
                }
                // `last` skips fires a crash interrupted: `prev` may be one (even the first
                // fire ever). It is run again, once; a fire interrupted twice is recorded as
                // missed.
                let attempts = self
                    .engine
                    .catalog
                    .interrupted_attempts(component, prev)
                    .await?;
                if last.is_none() && attempts == 0 {
                    continue; // never scheduled before: start from now
                }
                // Several daemons starting together: the one that claims the fire catches up.
                if let Some(holder) = &self.claims {
                    if self
                        .engine
                        .catalog
                        .claim_fire(component, prev, holder, now)
                        .await?
                        .is_none()
                    {
                        continue;
                    }
                    self.status.lock().expect("status").fires_claimed += 1;
                }
                let policy_id = self
                    .engine
                    .catalog
                    .record_policy(component, &p.source, now)
                    .await?;
                // Fires between the last run and `prev` are gone for good: one record says so.
                let mut skipped = Vec::new();
                let mut t = last.unwrap_or(prev);
                while let Some(next) = p.schedule.next_after(t) {
                    if next >= prev || skipped.len() >= 10_000 {
                        break;
                    }
                    skipped.push(next);
                    t = next;
                }
                if let (Some(first), Some(last_missed)) = (skipped.first(), skipped.last()) {
                    let reason = format!(
                        "{MISSED_FIRE} {} fire(s) from {first} to {last_missed}: the daemon was not running",
                        skipped.len()
                    );
                    self.engine
                        .catalog
                        .record_skipped_run(component, policy_id, "schedule", *first, now, &reason)
                        .await?;
                    tracing::warn!(site = %site.name, component = %p.name, %reason, "missed fires");
                }
                let late = (now - prev).to_std().unwrap_or_default();
                if attempts >= 2 {
                    let reason = format!(
                        "{MISSED_FIRE}: the run for {prev} was interrupted {attempts} times; not tried again"
                    );
                    self.engine
                        .catalog
                        .record_skipped_run(component, policy_id, "schedule", prev, now, &reason)
                        .await?;
                    tracing::warn!(site = %site.name, component = %p.name, %reason, "missed fire");
                    Self::finish_claim(&self.engine, self.claims.as_deref(), component, prev).await;
                } else if late <= self.options.start_window {
                    due.push(((site.name.clone(), p.name.clone()), prev, component));
                } else {
                    let reason = format!(
                        "{MISSED_FIRE}: the daemon was not running at {prev}; {} late is past the start window ({})",
                        humantime::format_duration(Duration::from_secs(late.as_secs())),
                        humantime::format_duration(self.options.start_window)
                    );
                    self.engine
                        .catalog
                        .record_skipped_run(component, policy_id, "schedule", prev, now, &reason)
                        .await?;
                    tracing::warn!(site = %site.name, component = %p.name, %reason, "missed fire");
                    Self::finish_claim(&self.engine, self.claims.as_deref(), component, prev).await;
                }
            }
        }
        Ok(due)
    }

    /// Bring every policy's next fire after `as_of` up to date; the earliest of them.
    ///
    /// A kept fire later than `as_of` is still the next one (it was the first after an
    /// earlier instant); only fires at or before `as_of` are computed again.
    fn refresh_upcoming(&mut self, as_of: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut earliest: Option<DateTime<Utc>> = None;
        for s in &self.engine.config.sites {
            for p in &s.policies {
                let key = (s.name.clone(), p.name.clone());
                let next = match self.upcoming.get(&key) {
                    Some(t) if *t > as_of => Some(*t),
                    _ => {
                        let t = p.schedule.next_after(as_of);
                        match t {
                            Some(t) => self.upcoming.insert(key, t),
                            None => self.upcoming.remove(&key),
                        };
                        t
                    }
                };
                earliest = match (earliest, next) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        earliest
    }

    /// The kept fires due at `now`.
    fn due(&self, now: DateTime<Utc>) -> Vec<(PolicyKey, DateTime<Utc>)> {
        self.upcoming
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, at)| (k.clone(), *at))
            .collect()
    }

    /// Start a run unless that policy is still running (then record the skip). With
    /// claims, the fire is claimed first (`claimed`: already, by catch-up or a takeover)
    /// and the claim is closed when the run ends.
    async fn fire(
        &self,
        key: &PolicyKey,
        at: DateTime<Utc>,
        tasks: &mut tokio::task::JoinSet<()>,
        claimed: Option<i64>,
    ) {
        let component = match claimed {
            Some(c) => c,
            None => match self.claim(key, at).await {
                Some(c) => c,
                None => return, // another daemon runs it
            },
        };
        let holder = self.claims.clone();
        let already = !self.running.lock().expect("running").insert(key.clone());
        if already {
            if let Err(e) = self.record_overlap(key, at).await {
                tracing::error!(error = %e, "cannot record a skipped run");
            }
            Self::finish_claim(&self.engine, holder.as_deref(), component, at).await;
            return;
        }
        if holder.is_some() {
            let lag = (self.engine.clock.now() - at).num_milliseconds().max(0) as f64 / 1000.0;
            let mut st = self.status.lock().expect("status");
            st.lag_seconds_sum += lag;
            st.lag_count += 1;
            st.lag_seconds_max = st.lag_seconds_max.max(lag);
        }
        let engine = self.engine.clone();
        let running = self.running.clone();
        let limit = self.limit.clone();
        let prune = self.options.prune;
        let key = key.clone();
        let stopping = self.stopping.clone();
        tasks.spawn(async move {
            let req = RunRequest {
                site: key.0.clone(),
                policy: key.1.clone(),
                scheduled_for: at,
                trigger: Trigger::Schedule,
            };
            let _slot = engine.service_slot(&req).await;
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                // Claimed, never started: the claim stays open, and the other daemons take
                // it over as soon as this one has left (on SQLite, the next start does) —
                // a stop does not wait for a queue of fires that others can run now.
                tracing::info!(site = %key.0, component = %key.1, fire = %at, "not started before the stop; the fire is handed back");
                running.lock().expect("running").remove(&key);
                return;
            }
            match engine.run_policy_isolated(req).await {
                Ok(r) => {
                    if prune && matches!(r.phase, RunPhase::Completed | RunPhase::PartiallyFailed) {
                        if let Ok(site) = engine.site(&key.0).cloned() {
                            if let Err(e) = engine.prune_site(&site, Some(&key.1), false).await {
                                tracing::error!(site = %key.0, component = %key.1, error = %e, "retention failed");
                            }
                        }
                    }
                }
                Err(e) => tracing::error!(site = %key.0, component = %key.1, error = %e, "run failed to start"),
            }
            Self::finish_claim(&engine, holder.as_deref(), component, at).await;
            running.lock().expect("running").remove(&key);
        });
    }

    async fn record_overlap(&self, key: &PolicyKey, at: DateTime<Utc>) -> Result<(), EngineError> {
        let Some(component) = self.component_id(key).await? else {
            return Ok(());
        };
        self.record_skip(
            key,
            component,
            at,
            "the previous run of this policy is still in progress",
        )
        .await
    }

    /// Re-read the configuration and policies; a bad edit keeps the old set.
    fn reload(&mut self) {
        let now = self.engine.clock.now();
        match config::load(&self.config_path, now) {
            Ok((config, warnings)) => {
                for w in warnings {
                    tracing::warn!("{w}");
                }
                let n = config.sites.iter().map(|s| s.policies.len()).sum::<usize>();
                let mut engine = Engine::new(config, self.engine.catalog.clone());
                engine.clock = self.engine.clock.clone();
                engine.sleeper = self.engine.sleeper.clone();
                engine.poll_interval = self.engine.poll_interval;
                engine.sim_memory = self.engine.sim_memory.clone();
                self.engine = engine;
                // Policies, schedules and components may have changed: compute them again.
                self.upcoming.clear();
                self.component_ids.lock().expect("ids").clear();
                let mut st = self.status.lock().expect("status");
                st.reloads += 1;
                st.policies = n;
                st.objectives = self.objectives();
                st.last_reload_error = None;
                tracing::info!(policies = n, "configuration reloaded");
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::error!(error = %msg, "reload refused; keeping the previous configuration");
                self.status.lock().expect("status").last_reload_error = Some(msg);
            }
        }
    }

    /// Run until told to stop (or `until`, on a virtual clock) or until the heartbeat says
    /// stop, then wait for the runs in flight.
    pub async fn run<H: Heartbeat>(
        &mut self,
        mut control: watch::Receiver<Control>,
        until: Option<DateTime<Utc>>,
        heartbeat: &mut H,
    ) -> Result<(), H::Error> {
        let started = self.engine.clock.now();
        {
            let mut st = self.status.lock().expect("status");
            st.started_at = Some(started);
            st.policies = self.policy_keys().len();
            st.objectives = self.objectives();
        }
        let recovered = self.recover().await?;
        if recovered > 0 {
            tracing::warn!(recovered, "reconciled runs interrupted by a crash");
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (key, at, component) in self.catch_up(started).await? {
            tracing::info!(site = %key.0, component = %key.1, fire = %at, "catching up one missed fire");
            self.fire(&key, at, &mut tasks, Some(component)).await;
        }
        let mut as_of = started;
        // Set when the heartbeat says stop: no new work; runs in flight finish and are
        // recorded.
        let mut lost: Option<H::Error> = None;
        // Set when a bounded run reached `until`: every other way out of the loop (told to
        // stop, the control channel gone, the lease lost) hands back the fires not started.
        let mut reached_until = false;
        let heartbeat_every = heartbeat.every();
        // Start-up, or runs that have finished since: `on_idle` is due before the next wait.
        let mut idle_pending = true;
        loop {
            if until.is_some() {
                // Bounded (virtual-time) runs: let runs finish before time moves on, so a
                // simulated clock racing ahead cannot make runs overlap that would not.
                while tasks.join_next().await.is_some() {
                    idle_pending = true;
                }
            }
            while tasks.try_join_next().is_some() {
                idle_pending = true;
            }
            let now = self.engine.clock.now();
            if let Err(e) = heartbeat.beat(now).await {
                lost = Some(e);
                break;
            }
            if let Err(e) = self.take_over_orphans(&mut tasks).await {
                tracing::warn!(error = %e, "could not look for fires of stopped daemons; trying again at the next turn");
            }
            let next = self.refresh_upcoming(as_of);
            {
                let mut st = self.status.lock().expect("status");
                st.last_loop_at = Some(now);
                st.next_fire = next;
                st.running = self
                    .running
                    .lock()
                    .expect("running")
                    .iter()
                    .map(|(s, c)| format!("{s}/{c}"))
                    .collect();
            }
            if until.is_some_and(|u| next.is_none_or(|n| n > u)) {
                reached_until = true;
                break;
            }
            let wake = match next {
                Some(n) if n > now => {
                    let until_fire = (n - now).to_std().unwrap_or_default();
                    heartbeat_every.map_or(until_fire, |h| until_fire.min(h))
                }
                Some(_) => Duration::ZERO,
                None => heartbeat_every.unwrap_or(IDLE_WAKE),
            };
            if idle_pending && tasks.is_empty() && wake > Duration::ZERO {
                idle_pending = false;
                if let Some(f) = self.on_idle {
                    let released = f();
                    tracing::debug!(
                        released_kib = released / 1024,
                        "waiting: code pages handed back"
                    );
                }
            }
            self.status.lock().expect("status").sleeping_until = Some(
                crate::domain::time::add_saturating(self.engine.clock.now(), wake),
            );
            let woke = tokio::select! {
                _ = self.engine.sleeper.sleep(wake) => None,
                _ = heartbeat.woken() => None,
                changed = control.changed() => Some(changed),
            };
            self.status.lock().expect("status").sleeping_until = None;
            if let Some(changed) = woke {
                if changed.is_err() {
                    break;
                }
                let c = *control.borrow_and_update();
                match c {
                    Control::Stop => break,
                    Control::Reload => {
                        self.reload();
                        as_of = self.engine.clock.now();
                        continue;
                    }
                    Control::Run => {}
                }
            }
            let now = self.engine.clock.now();
            let due = self.due(now);
            for (key, at) in &due {
                // A fleet's turn can claim thousands of fires: a lease lost meanwhile
                // (found by the daemon's background beat) stops the claiming at once.
                if let Err(e) = heartbeat.beat(self.engine.clock.now()).await {
                    lost = Some(e);
                    break;
                }
                self.fire(key, *at, &mut tasks, None).await;
            }
            if lost.is_some() {
                break;
            }
            // Everything at or before `now` has fired; the next search starts there.
            if !due.is_empty() {
                as_of = now.max(as_of);
            }
        }
        if !reached_until {
            self.stopping
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        tracing::info!("stopping: waiting for runs in flight");
        while tasks.join_next().await.is_some() {}
        match lost {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Whether a process is alive (on Linux; elsewhere assume it is).
pub(crate) fn pid_alive(pid: i64) -> bool {
    if !cfg!(target_os = "linux") {
        return true; // cannot tell: wait for the lease to expire
    }
    pid == i64::from(std::process::id()) || std::path::Path::new(&format!("/proc/{pid}")).exists()
}
