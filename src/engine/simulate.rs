//! What-if: run a configuration's policies on the simulator with a virtual clock for N days
//! — no cloud calls, a catalog in memory — and report per component the points left per
//! region, what retention removed, and the worst gap between points against the RPO.

use crate::catalog::{Catalog, PointFilter};
use crate::cloud::sim::SimMemory;
use crate::domain::model::PointState;
use crate::domain::site::{Config, Provider};
use crate::domain::time::{format_duration, ManualClock};
use crate::engine::scheduler::{Control, NoHeartbeat, ScheduleOptions, Scheduler};
use crate::engine::{Engine, EngineError, Progress, Sleeper, VirtualSleeper};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize)]
pub struct ComponentOutcome {
    pub site: String,
    pub component: String,
    pub kind: String,
    pub schedule: String,
    pub rpo: String,
    pub runs: BTreeMap<String, usize>,
    /// Available points at the end, per region.
    pub points_at_end: BTreeMap<String, usize>,
    /// Points retention deleted, per region.
    pub removed_by_retention: BTreeMap<String, usize>,
    /// Longest time without a newer point (primary region), including from the start.
    pub worst_gap: String,
    pub worst_gap_seconds: i64,
    pub worst_gap_ends_at: Option<DateTime<Utc>>,
    pub rpo_exceeded: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SimulateReport {
    pub days: u32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub components: Vec<ComponentOutcome>,
    /// `site/component (pre, post)` of the policies whose hooks were not run: a hook acts
    /// on the real site (maintenance mode, caches), which a what-if must not touch.
    pub hooks_not_run: Vec<String>,
}

/// Virtual time that reports each simulated day it enters to `progress`.
struct DayByDay {
    clock: Arc<ManualClock>,
    start: DateTime<Utc>,
    days: u32,
    reported: std::sync::atomic::AtomicI64,
    progress: Arc<dyn Progress>,
}

#[async_trait::async_trait]
impl Sleeper for DayByDay {
    async fn sleep(&self, d: std::time::Duration) {
        VirtualSleeper(self.clock.clone()).sleep(d).await;
        let now = crate::domain::time::Clock::now(self.clock.as_ref());
        let day = (now - self.start).num_days();
        if self
            .reported
            .fetch_max(day, std::sync::atomic::Ordering::Relaxed)
            < day
        {
            self.progress.note(
                "simulate",
                &format!(
                    "day {}/{} ({})",
                    day.min(i64::from(self.days)),
                    self.days,
                    now.format("%Y-%m-%d")
                ),
            );
        }
    }
    fn moves_clock(&self) -> bool {
        true
    }
}

/// Simulate `days` days from `start` on a throwaway catalog: in memory, or with
/// `sqlite_scratch`, a SQLite file in that directory (the slower path simulations took
/// before the memory catalog, kept to check that both tell the same story). `progress`
/// hears of each simulated day.
pub async fn simulate(
    mut config: Config,
    config_path: &Path,
    days: u32,
    start: DateTime<Utc>,
    sqlite_scratch: Option<&Path>,
    progress: Arc<dyn Progress>,
) -> Result<SimulateReport, EngineError> {
    let began = std::time::Instant::now();
    progress.started(
        "simulate",
        &format!("{days} day(s) of the policies on a virtual clock"),
    );
    let mut hooks_not_run = Vec::new();
    for s in &mut config.sites {
        s.provider = Provider::Sim;
        for p in &mut s.policies {
            let hooks = std::mem::take(&mut p.hooks);
            let which: Vec<&str> = [("pre", hooks.pre.is_some()), ("post", hooks.post.is_some())]
                .into_iter()
                .filter_map(|(w, set)| set.then_some(w))
                .collect();
            if !which.is_empty() {
                hooks_not_run.push(format!("{}/{} ({})", s.name, p.name, which.join(", ")));
            }
        }
    }
    let catalog = match sqlite_scratch {
        Some(dir) => Catalog::open_scratch(&dir.join("simulate.db")).await?,
        None => Catalog::in_memory(),
    };
    let clock = Arc::new(ManualClock::new(start));
    let mut engine = Engine::new(config.clone(), catalog.clone());
    engine.clock = clock.clone();
    engine.sleeper = Arc::new(DayByDay {
        clock: clock.clone(),
        start,
        days,
        reported: std::sync::atomic::AtomicI64::new(0),
        progress: progress.clone(),
    });
    engine.sim_memory = Some(SimMemory::default());
    let end = start + Duration::days(i64::from(days));
    // The daemon's scheduling core, without the lease: nothing else uses a scratch catalog.
    let mut scheduler = Scheduler::new(
        engine,
        config_path.to_path_buf(),
        ScheduleOptions::default(),
    );
    let (_tx, rx) = tokio::sync::watch::channel(Control::Run);
    scheduler.run(rx, Some(end), &mut NoHeartbeat).await?;
    progress.note("simulate", "summing up the runs and points");

    let runs = catalog.runs(None, None, i64::MAX).await?;
    let points = catalog
        .points(&PointFilter {
            include_deleted: true,
            ..Default::default()
        })
        .await?;
    let mut components = Vec::new();
    for site in &config.sites {
        for p in &site.policies {
            let mut phases: BTreeMap<String, usize> = BTreeMap::new();
            for r in runs
                .iter()
                .filter(|r| r.site == site.name && r.component == p.name)
            {
                *phases.entry(r.phase.to_string()).or_default() += 1;
            }
            let mine: Vec<_> = points
                .iter()
                .filter(|x| x.site == site.name && x.component == p.name)
                .collect();
            let mut at_end: BTreeMap<String, usize> = BTreeMap::new();
            let mut removed: BTreeMap<String, usize> = BTreeMap::new();
            for x in &mine {
                match x.state {
                    PointState::Available => *at_end.entry(x.region.clone()).or_default() += 1,
                    PointState::Deleted => *removed.entry(x.region.clone()).or_default() += 1,
                    _ => {}
                }
            }
            // Every point that became available counted while it existed.
            let mut times: Vec<DateTime<Utc>> = mine
                .iter()
                .filter(|x| {
                    x.region == site.region
                        && matches!(x.state, PointState::Available | PointState::Deleted)
                })
                .map(|x| x.point_time)
                .collect();
            times.sort();
            let mut prev = start;
            let mut worst = (Duration::zero(), None);
            for t in times.iter().copied().chain(std::iter::once(end)) {
                if t - prev > worst.0 {
                    worst = (t - prev, Some(t));
                }
                prev = prev.max(t);
            }
            let rpo = Duration::from_std(p.rpo).unwrap_or(Duration::MAX);
            components.push(ComponentOutcome {
                site: site.name.clone(),
                component: p.name.clone(),
                kind: p.kind.to_string(),
                schedule: format!("{} ({})", p.schedule.expression(), p.schedule.zone().name()),
                rpo: humantime::format_duration(p.rpo).to_string(),
                runs: phases,
                points_at_end: at_end,
                removed_by_retention: removed,
                worst_gap: format_duration(worst.0),
                worst_gap_seconds: worst.0.num_seconds(),
                worst_gap_ends_at: worst.1,
                // A point lands a few seconds after its fire; a minute of slack keeps an
                // interval equal to the RPO from reading as a breach.
                rpo_exceeded: worst.0 > rpo + Duration::minutes(1),
            });
        }
    }
    catalog.close().await;
    progress.finished(
        "simulate",
        true,
        began.elapsed().as_secs_f64(),
        &format!(
            "{} run(s) of {} component(s) simulated",
            components
                .iter()
                .map(|c: &ComponentOutcome| c.runs.values().sum::<usize>())
                .sum::<usize>(),
            components.len()
        ),
    );
    Ok(SimulateReport {
        days,
        start,
        end,
        components,
        hooks_not_run,
    })
}
