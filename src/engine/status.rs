//! `wpbackup status`: the first screen an operator looks at — per site and component the
//! newest point and its age against the RPO, the next scheduled fire and how the last run
//! ended; the restore plans left unfinished; which daemon holds the catalog.

use super::{Engine, EngineError};
use crate::catalog::Lease;
use crate::domain::model::RunPhase;
use crate::domain::restore_plan::{PlanStatus, Purpose};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize)]
pub struct FleetStatus {
    pub as_of: DateTime<Utc>,
    /// The daemon holding a SQLite catalog's lease (alive or not), if any has run.
    pub daemon: Option<DaemonStatus>,
    /// Every daemon heartbeating on the catalog now (several on PostgreSQL).
    pub daemons: Vec<DaemonStatus>,
    pub sites: Vec<SiteStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DaemonStatus {
    pub holder: String,
    pub pid: i64,
    pub heartbeat_at: String,
    pub expires_at: String,
    /// The lease has not expired: the daemon is heartbeating.
    pub alive: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SiteStatus {
    pub site: String,
    pub components: Vec<ComponentStatus>,
    /// Plans planned, executing or failed: they keep their points from retention.
    pub unfinished_plans: Vec<PlanLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    pub component: String,
    pub kind: String,
    /// The newest available point in the site's region.
    pub newest_point: Option<DateTime<Utc>>,
    pub age_seconds: Option<i64>,
    pub rpo_seconds: i64,
    /// `ok` (within the RPO), `stale` (older than the RPO) or `none` (no point yet).
    pub state: &'static str,
    pub next_fire: Option<DateTime<Utc>>,
    pub last_run: Option<LastRun>,
    /// The daemon holding a fire of this component that is not done (running it), if any.
    pub claimed_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub id: i64,
    pub phase: RunPhase,
    pub started_at: DateTime<Utc>,
    pub failure_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanLine {
    pub id: String,
    pub purpose: Purpose,
    pub status: PlanStatus,
    pub updated_at: DateTime<Utc>,
}

/// Unfinished plans read per site (newest first); more are summarised by `restore list`.
const PLANS_PER_SITE: i64 = 20;

impl Engine {
    /// The status of one site, or of every configured site.
    pub async fn status(&self, site: Option<&str>) -> Result<FleetStatus, EngineError> {
        let now = self.clock.now();
        let sites = match site {
            Some(name) => vec![self.site(name)?.clone()],
            None => self.config.sites.clone(),
        };
        // One read of the newest point of every component.
        let newest: HashMap<(String, String), DateTime<Utc>> = self
            .catalog
            .metrics()
            .await?
            .last_success
            .into_iter()
            .map(|(s, c, t)| ((s, c), t))
            .collect();
        let daemon = self.catalog.current_lease().await?.map(|l: Lease| {
            let alive = crate::catalog::parse_ts(&l.expires_at).is_ok_and(|e| e > now);
            DaemonStatus {
                holder: l.holder,
                pid: l.pid,
                heartbeat_at: l.heartbeat_at,
                expires_at: l.expires_at,
                alive,
            }
        });
        let daemons = self
            .catalog
            .live_daemons(now)
            .await?
            .into_iter()
            .map(|l| DaemonStatus {
                holder: l.holder,
                pid: l.pid,
                heartbeat_at: l.heartbeat_at,
                expires_at: l.expires_at,
                alive: true,
            })
            .collect();
        // Open claims: which daemon runs which fire now.
        let claimed: HashMap<(String, String), String> = self
            .catalog
            .claimed_fires(None)
            .await?
            .into_iter()
            .map(|f| ((f.site, f.component), f.holder))
            .collect();
        let mut out = Vec::with_capacity(sites.len());
        for site in &sites {
            let mut components = Vec::with_capacity(site.policies.len());
            for p in &site.policies {
                let newest_point = newest.get(&(site.name.clone(), p.name.clone())).copied();
                let age = newest_point.map(|t| (now - t).num_seconds().max(0));
                let rpo = i64::try_from(p.rpo.as_secs()).unwrap_or(i64::MAX);
                let last_run = self
                    .catalog
                    .runs(Some(&site.name), Some(&p.name), 1)
                    .await?
                    .into_iter()
                    .next()
                    .map(|r| LastRun {
                        id: r.id,
                        phase: r.phase,
                        started_at: r.started_at,
                        failure_reason: r.failure_reason,
                    });
                components.push(ComponentStatus {
                    component: p.name.clone(),
                    kind: p.kind.as_str().to_string(),
                    newest_point,
                    age_seconds: age,
                    rpo_seconds: rpo,
                    state: match age {
                        None => "none",
                        Some(a) if a > rpo => "stale",
                        Some(_) => "ok",
                    },
                    next_fire: p.schedule.next_after(now),
                    last_run,
                    claimed_by: claimed.get(&(site.name.clone(), p.name.clone())).cloned(),
                });
            }
            let unfinished_plans = self
                .catalog
                .restore_plans(Some(&site.name), PLANS_PER_SITE)
                .await?
                .into_iter()
                .filter(|p| {
                    matches!(
                        p.status,
                        PlanStatus::Planned | PlanStatus::Executing | PlanStatus::Failed
                    )
                })
                .map(|p| PlanLine {
                    id: p.id,
                    purpose: p.purpose,
                    status: p.status,
                    updated_at: p.updated_at,
                })
                .collect();
            out.push(SiteStatus {
                site: site.name.clone(),
                components,
                unfinished_plans,
            });
        }
        Ok(FleetStatus {
            as_of: now,
            daemon,
            daemons,
            sites: out,
        })
    }
}
