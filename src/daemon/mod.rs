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
        .with_claims(holder.clone());
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
        let now = self.scheduler.engine.clock.now();
        let mut lease = Lease {
            catalog: self.catalog.clone(),
            holder: self.holder.clone(),
            ttl: self.lease_ttl,
            last_renewed: now,
            shared: self.shared,
        };
        if let Err(e) = self.scheduler.run(control, until, &mut lease).await {
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
/// of the TTL.
struct Lease {
    catalog: Catalog,
    holder: String,
    ttl: Duration,
    last_renewed: DateTime<Utc>,
    shared: bool,
}

impl Lease {
    /// Renew; `Ok(false)`: it is no longer this daemon's.
    async fn renew(&self, now: DateTime<Utc>) -> Result<bool, crate::catalog::CatalogError> {
        if self.shared {
            return self.catalog.renew_daemon(&self.holder, now, self.ttl).await;
        }
        if !self
            .catalog
            .renew_lease(&self.holder, now, self.ttl)
            .await?
        {
            return Ok(false);
        }
        self.catalog
            .join_daemons(&self.holder, i64::from(std::process::id()), now, self.ttl)
            .await?;
        Ok(true)
    }
}

impl Heartbeat for Lease {
    type Error = DaemonError;

    fn every(&self) -> Option<Duration> {
        Some(self.ttl / 3)
    }

    async fn beat(&mut self, now: DateTime<Utc>) -> Result<(), DaemonError> {
        let since = now - self.last_renewed;
        if since < chrono::Duration::from_std(self.ttl / 3).unwrap_or_default() {
            return Ok(());
        }
        match self.renew(now).await {
            Ok(true) => {
                self.last_renewed = now;
                Ok(())
            }
            Ok(false) if self.shared => Err(DaemonError::LeaseLost(
                "the other daemons: its row had expired (no heartbeat for longer than the lease) and its fires were taken over".into(),
            )),
            Ok(false) => {
                let who = self
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
            // expires; try again at the next turn until then.
            Err(e) if since < chrono::Duration::from_std(self.ttl).unwrap_or_default() => {
                tracing::warn!(error = %e, "could not renew the lease; trying again");
                Ok(())
            }
            Err(e) => Err(DaemonError::LeaseExpired(e)),
        }
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
