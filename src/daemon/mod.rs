//! The scheduler daemon: the scheduling core (`engine::scheduler`) with a heartbeat;
//! `/healthz` and `/metrics` (`http`).
//!
//! * On SQLite, one daemon per catalog: it holds the catalog's lease, a row renewed at every
//!   third of its TTL. A renewal that fails (a busy catalog) is retried until the lease
//!   would expire; a daemon that can no longer be sure it holds the lease, or finds it
//!   taken, stops new work, lets the runs in flight finish and exits (74 / 75). A daemon on
//!   this host whose process is gone (kill -9) has its lease taken over at once.
//! * On PostgreSQL, any number of daemons share the schedule: each has a row in `daemons`
//!   renewed the same way, and claims every fire before running it (one claim row per
//!   component and instant: exactly one daemon runs it). The fires of a daemon whose row
//!   expired (it died) or that left (SIGTERM) are taken over by the others. A daemon whose
//!   own row was found expired stops like one that lost its lease.
//! * Both record their row in `daemons` and claim their fires, so the code is one.

pub mod http;
pub mod memory;

use crate::catalog::Catalog;
use crate::engine::scheduler::{pid_alive, Heartbeat, ScheduleOptions, Scheduler};
use crate::engine::{Engine, EngineError};
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

pub use crate::engine::scheduler::{Control, SchedulerStatus as DaemonStatus};

#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// Most runs at once, across all sites.
    pub concurrency: usize,
    /// A missed fire younger than this is run once at start; older ones are recorded as missed.
    pub start_window: Duration,
    /// How long the lease lasts without a heartbeat.
    pub lease_ttl: Duration,
    /// Apply retention after successful points.
    pub prune: bool,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        let s = ScheduleOptions::default();
        Self {
            concurrency: s.concurrency,
            start_window: s.start_window,
            lease_ttl: Duration::from_secs(60),
            prune: s.prune,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("another wpbackup daemon holds this catalog: {holder} (pid {pid}, heartbeat {heartbeat_at}, lease until {expires_at}). \
             Stop it first; a daemon that died releases its lease when it expires")]
    LeaseHeld {
        holder: String,
        pid: i64,
        heartbeat_at: String,
        expires_at: String,
    },
    #[error("this daemon lost its lease to {0}; stopped after the runs in flight finished")]
    LeaseLost(String),
    #[error("could not renew the lease before it expired ({0}); stopped after the runs in flight finished")]
    LeaseExpired(crate::catalog::CatalogError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
}

pub struct Daemon {
    scheduler: Scheduler,
    catalog: Catalog,
    holder: String,
    lease_ttl: Duration,
    /// Several daemons share the catalog (PostgreSQL): no exclusive lease.
    shared: bool,
    pub status: Arc<Mutex<DaemonStatus>>,
}

impl Daemon {
    pub fn new(engine: Engine, config_path: PathBuf, options: DaemonOptions) -> Self {
        static INSTANCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let holder = format!(
            "{}:{}:{}:{}",
            hostname(),
            std::process::id(),
            engine.clock.now().format("%Y%m%dT%H%M%SZ"),
            INSTANCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let catalog = engine.catalog.clone();
        let shared = matches!(
            catalog.location(),
            crate::catalog::CatalogLocation::Postgres(_)
        );
        let scheduler = Scheduler::new(
            engine,
            config_path,
            ScheduleOptions {
                concurrency: options.concurrency,
                start_window: options.start_window,
                prune: options.prune,
            },
        )
        .with_claims(holder.clone())
        .on_idle(memory::release_code_pages);
        scheduler.status.lock().expect("status").holder = holder.clone();
        Self {
            status: scheduler.status.clone(),
            scheduler,
            catalog,
            holder,
            lease_ttl: options.lease_ttl,
            shared,
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Join the catalog's daemons; on SQLite, take the lease first (or say who holds it).
    pub async fn acquire(&self) -> Result<(), DaemonError> {
        if !self.shared {
            self.acquire_lease().await?;
        }
        let now = self.scheduler.engine.clock.now();
        // Rows of daemons known dead need not expire before their fires are taken over:
        // on SQLite every other daemon (this one holds the lease now), on PostgreSQL those
        // of this host whose process is gone (kill -9).
        for other in self.catalog.live_daemons(now).await? {
            let dead = !self.shared
                || (other.holder.split(':').next() == Some(hostname().as_str())
                    && !pid_alive(other.pid));
            if other.holder != self.holder && dead {
                tracing::warn!(holder = %other.holder, "a daemon that is no longer running left fires; they are taken over");
                self.catalog.leave_daemons(&other.holder).await?;
            }
        }
        self.catalog
            .join_daemons(
                &self.holder,
                i64::from(std::process::id()),
                now,
                self.lease_ttl,
            )
            .await?;
        Ok(())
    }

    async fn acquire_lease(&self) -> Result<(), DaemonError> {
        let now = self.scheduler.engine.clock.now();
        match self
            .catalog
            .acquire_lease(
                &self.holder,
                i64::from(std::process::id()),
                now,
                self.lease_ttl,
            )
            .await?
        {
            Ok(()) => Ok(()),
            // Held by a daemon on this host whose process is gone (killed): no need to wait
            // for the lease to expire.
            Err(l)
                if l.holder.split(':').next() == Some(hostname().as_str()) && !pid_alive(l.pid) =>
            {
                tracing::warn!(holder = %l.holder, "taking over the lease of a daemon that is no longer running");
                if self
                    .catalog
                    .take_over_lease(
                        &l.holder,
                        &self.holder,
                        i64::from(std::process::id()),
                        now,
                        self.lease_ttl,
                    )
                    .await?
                {
                    Ok(())
                } else {
                    Box::pin(self.acquire_lease()).await
                }
            }
            Err(l) => Err(DaemonError::LeaseHeld {
                holder: l.holder,
                pid: l.pid,
                heartbeat_at: l.heartbeat_at,
                expires_at: l.expires_at,
            }),
        }
    }

    /// Leave the catalog's daemons — fires still claimed go to the others at once — and
    /// give the lease back (e.g. when start-up fails after taking it, or at the end).
    pub async fn release(&self) {
        if let Err(e) = self.catalog.leave_daemons(&self.holder).await {
            tracing::warn!(error = %e, "could not leave the daemons; this one's row expires on its own");
        }
        if self.shared {
            return;
        }
        if let Err(e) = self.catalog.release_lease(&self.holder).await {
            tracing::warn!(error = %e, "could not release the lease; it expires on its own");
        }
    }

    /// Reconcile runs left in progress by a process that died.
    pub async fn recover(&self) -> Result<usize, DaemonError> {
        Ok(self.scheduler.recover().await?)
    }

    /// Run until told to stop (or `until`, on a virtual clock), then wait for runs in
    /// flight and release the lease. A lost lease stops new work and is returned.
    pub async fn run(
        &mut self,
        control: watch::Receiver<Control>,
        until: Option<DateTime<Utc>>,
    ) -> Result<(), DaemonError> {
        let engine = &self.scheduler.engine;
        // The heartbeat on a task of its own, so that no turn of the loop — claiming the
        // thousands of fires a fleet has due at 02:00 on a busy machine, catching up at
        // start — and no wait for the runs in flight at stop lets the row expire while this
        // daemon works (the others would take its fires over and run them twice). The task
        // sleeps until a renewal is due, and the loop sleeps until its next fire: an idle
        // daemon wakes once per renewal. On a virtual clock that only moves when the loop
        // sleeps, the loop's own beats suffice (a task sleeping there would move the clock
        // itself).
        let background = !engine.sleeper.moves_clock();
        let mut lease = Lease::new(
            self.catalog.clone(),
            self.holder.clone(),
            self.lease_ttl,
            self.shared,
            background,
            engine.clock.now(),
            self.status.clone(),
        );
        let beating = background.then(|| {
            let lease = lease.clone();
            let clock = engine.clock.clone();
            let sleeper = engine.sleeper.clone();
            tokio::spawn(async move {
                let mut wait = lease.0.ttl / 3;
                loop {
                    sleeper.sleep(wait).await;
                    match lease.beat_in_background(clock.now()).await {
                        std::ops::ControlFlow::Continue(next) => wait = next,
                        std::ops::ControlFlow::Break(()) => break,
                    }
                }
            })
        });
        let result = self.scheduler.run(control, until, &mut lease).await;
        if let Some(task) = beating {
            task.abort();
        }
        if let Err(e) = result {
            tracing::error!(error = %e, "stopped");
            // Hand back what it can: its row (its claims go to the others), not a lease
            // that is another daemon's now.
            if let Err(e) = self.catalog.leave_daemons(&self.holder).await {
                tracing::warn!(error = %e, "could not leave the daemons");
            }
            return Err(e);
        }
        self.release().await;
        Ok(())
    }
}

/// The daemon's heartbeat: renew the lease (SQLite) and its row in `daemons` every third
/// of the TTL — from the task that beats in the background (which wakes the loop when the
/// lease is lost and, on a shared catalog, after each renewal, to look for the fires of
/// stopped daemons), and at every turn of the scheduling loop and before each fire it
/// claims, which is also where the loop learns that the lease was lost (it then claims
/// nothing more).
#[derive(Clone)]
struct Lease(Arc<LeaseInner>);

struct LeaseInner {
    catalog: Catalog,
    holder: String,
    ttl: Duration,
    shared: bool,
    /// A task beats in the background: the loop need not turn for the lease, only when
    /// `wake` is notified.
    background: bool,
    wake: tokio::sync::Notify,
    state: tokio::sync::Mutex<LeaseState>,
    /// Where `/healthz` and `/metrics` see the lease.
    status: Arc<Mutex<DaemonStatus>>,
}

struct LeaseState {
    last_renewed: DateTime<Utc>,
    /// Found by the background task, for the loop's next beat.
    lost: Option<DaemonError>,
    /// The lease is gone (the loop has been told, or is about to be): renew no more.
    ended: bool,
}

impl Lease {
    fn new(
        catalog: Catalog,
        holder: String,
        ttl: Duration,
        shared: bool,
        background: bool,
        now: DateTime<Utc>,
        status: Arc<Mutex<DaemonStatus>>,
    ) -> Self {
        let lease = Self(Arc::new(LeaseInner {
            catalog,
            holder,
            ttl,
            shared,
            background,
            wake: tokio::sync::Notify::new(),
            state: tokio::sync::Mutex::new(LeaseState {
                last_renewed: now,
                lost: None,
                ended: false,
            }),
            status,
        }));
        lease.report(|l| {
            l.held = true;
            l.expires_at = Some(crate::domain::time::add_saturating(now, ttl));
        });
        lease
    }

    /// Update what `/healthz` and `/metrics` say about the lease.
    fn report(&self, f: impl FnOnce(&mut crate::engine::scheduler::LeaseStatus)) {
        let mut st = self.0.status.lock().expect("status");
        f(st.lease.get_or_insert_with(Default::default));
    }

    /// Renew; `Ok(false)`: it is no longer this daemon's.
    async fn renew(&self, now: DateTime<Utc>) -> Result<bool, crate::catalog::CatalogError> {
        let l = &self.0;
        if l.shared {
            return l.catalog.renew_daemon(&l.holder, now, l.ttl).await;
        }
        if !l.catalog.renew_lease(&l.holder, now, l.ttl).await? {
            return Ok(false);
        }
        l.catalog
            .join_daemons(&l.holder, i64::from(std::process::id()), now, l.ttl)
            .await?;
        Ok(true)
    }

    /// Renew when a third of the TTL has passed since the last renewal.
    async fn renew_if_due(
        &self,
        state: &mut LeaseState,
        now: DateTime<Utc>,
    ) -> Result<(), DaemonError> {
        let ttl = self.0.ttl;
        let since = now - state.last_renewed;
        if since < chrono::Duration::from_std(ttl / 3).unwrap_or_default() {
            return Ok(());
        }
        let result = self.renew_or_explain(state, now, since).await;
        match &result {
            Ok(()) if state.last_renewed == now => self.report(|l| {
                l.expires_at = Some(crate::domain::time::add_saturating(now, ttl));
            }),
            Ok(()) => self.report(|l| l.renewal_failures += 1),
            Err(_) => self.report(|l| l.held = false),
        }
        result
    }

    async fn renew_or_explain(
        &self,
        state: &mut LeaseState,
        now: DateTime<Utc>,
        since: chrono::Duration,
    ) -> Result<(), DaemonError> {
        let ttl = self.0.ttl;
        match self.renew(now).await {
            Ok(true) => {
                state.last_renewed = now;
                Ok(())
            }
            Ok(false) if self.0.shared => Err(DaemonError::LeaseLost(
                "the other daemons: its row had expired (no heartbeat for longer than the lease) and its fires were taken over".into(),
            )),
            Ok(false) => {
                let who = self
                    .0
                    .catalog
                    .current_lease()
                    .await
                    .ok()
                    .flatten()
                    .map(|l| l.holder)
                    .unwrap_or_default();
                Err(DaemonError::LeaseLost(who))
            }
            // A busy or briefly unavailable catalog: the lease is still ours until it
            // expires; try again at the next beat until then.
            Err(e) if since < chrono::Duration::from_std(ttl).unwrap_or_default() => {
                tracing::warn!(error = %e, "could not renew the lease; trying again");
                Ok(())
            }
            Err(e) => Err(DaemonError::LeaseExpired(e)),
        }
    }

    /// The background task's beat: how long until the next (a third of the TTL after the
    /// last renewal; a sixth of it to try again after a renewal failed), or `Break` once the
    /// lease is gone (what went wrong is kept for the loop, which is woken).
    async fn beat_in_background(&self, now: DateTime<Utc>) -> std::ops::ControlFlow<(), Duration> {
        let mut state = self.0.state.lock().await;
        if state.ended {
            return std::ops::ControlFlow::Break(());
        }
        let ttl = self.0.ttl;
        match self.renew_if_due(&mut state, now).await {
            Ok(()) => {
                if self.0.shared && state.last_renewed == now {
                    // Time for the loop to look for fires of daemons that stopped.
                    self.0.wake.notify_one();
                }
                let due =
                    state.last_renewed + chrono::Duration::from_std(ttl / 3).unwrap_or_default();
                std::ops::ControlFlow::Continue(match (due - now).to_std() {
                    Ok(d) if d > Duration::ZERO => d,
                    _ => ttl / 6,
                })
            }
            Err(e) => {
                tracing::error!(error = %e, "the lease is lost: no new work");
                state.lost = Some(e);
                state.ended = true;
                self.0.wake.notify_one();
                std::ops::ControlFlow::Break(())
            }
        }
    }
}

impl Heartbeat for Lease {
    type Error = DaemonError;

    fn every(&self) -> Option<Duration> {
        (!self.0.background).then_some(self.0.ttl / 3)
    }

    fn woken(&self) -> impl std::future::Future<Output = ()> + Send + '_ {
        let background = self.0.background;
        async move {
            if background {
                self.0.wake.notified().await
            } else {
                std::future::pending().await
            }
        }
    }

    async fn beat(&mut self, now: DateTime<Utc>) -> Result<(), DaemonError> {
        let mut state = self.0.state.lock().await;
        if let Some(e) = state.lost.take() {
            return Err(e);
        }
        if state.ended {
            return Err(DaemonError::LeaseLost(
                "the lease was already lost; no new work".into(),
            ));
        }
        let result = self.renew_if_due(&mut state, now).await;
        if result.is_err() {
            state.ended = true;
        }
        result
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}
