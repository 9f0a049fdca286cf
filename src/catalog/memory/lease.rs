//! The daemon's lease, the daemons and their claimed fires, what the scheduler reads back
//! after a restart, and `/metrics`.

use super::{ms, ClaimRow, LeaseRow, MemoryCatalog};
use crate::catalog::{CatalogResult, ClaimedFire, Lease, LeaseStore, MetricsSnapshot};
use crate::domain::model::{PointState, RunPhase, MISSED_FIRE};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

fn until(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    ms(crate::domain::time::add_saturating(now, ttl))
}

#[async_trait]
impl LeaseStore for MemoryCatalog {
    async fn acquire_lease(
        &self,
        holder: &str,
        pid: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<Result<(), Lease>> {
        let mut st = self.state();
        let now = ms(now);
        match &st.lease {
            Some(l) if l.expires_at > now && l.holder != holder => Ok(Err(l.record())),
            _ => {
                st.lease = Some(LeaseRow {
                    holder: holder.to_string(),
                    pid,
                    acquired_at: now,
                    heartbeat_at: now,
                    expires_at: until(now, ttl),
                });
                Ok(Ok(()))
            }
        }
    }

    async fn take_over_lease(
        &self,
        old_holder: &str,
        holder: &str,
        pid: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<bool> {
        let mut st = self.state();
        match &mut st.lease {
            Some(l) if l.holder == old_holder => {
                let now = ms(now);
                *l = LeaseRow {
                    holder: holder.to_string(),
                    pid,
                    acquired_at: now,
                    heartbeat_at: now,
                    expires_at: until(now, ttl),
                };
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn renew_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<bool> {
        let mut st = self.state();
        match &mut st.lease {
            Some(l) if l.holder == holder => {
                l.heartbeat_at = ms(now);
                l.expires_at = until(now, ttl);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_lease(&self, holder: &str) -> CatalogResult<()> {
        let mut st = self.state();
        if st.lease.as_ref().is_some_and(|l| l.holder == holder) {
            st.lease = None;
        }
        Ok(())
    }

    async fn current_lease(&self) -> CatalogResult<Option<Lease>> {
        Ok(self.state().lease.as_ref().map(LeaseRow::record))
    }

    async fn last_scheduled_fire(&self, component_id: i64) -> CatalogResult<Option<DateTime<Utc>>> {
        let st = self.state();
        let Some(c) = st.component(component_id) else {
            return Ok(None);
        };
        Ok(c.runs
            .iter()
            .map(|&id| &st.runs[(id - 1) as usize])
            .filter(|r| {
                r.trigger == "schedule"
                    && !matches!(r.phase, RunPhase::InProgress | RunPhase::Interrupted)
            })
            .map(|r| r.scheduled_for)
            .max())
    }

    async fn interrupted_attempts(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
    ) -> CatalogResult<i64> {
        let st = self.state();
        let Some(c) = st.component(component_id) else {
            return Ok(0);
        };
        let at = ms(scheduled_for);
        Ok(c.runs
            .iter()
            .map(|&id| &st.runs[(id - 1) as usize])
            .filter(|r| {
                r.trigger == "schedule" && r.scheduled_for == at && r.phase == RunPhase::Interrupted
            })
            .count() as i64)
    }

    async fn runs_in_progress(&self) -> CatalogResult<Vec<(i64, Option<i64>, String, String)>> {
        let st = self.state();
        Ok(st
            .runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.phase == RunPhase::InProgress)
            .map(|(i, r)| {
                let c = st.component(r.component_id).expect("a run's component");
                (
                    i as i64 + 1,
                    r.pid,
                    st.site_name(c.site_id).to_string(),
                    c.name.clone(),
                )
            })
            .collect())
    }

    async fn metrics(&self) -> CatalogResult<MetricsSnapshot> {
        let st = self.state();
        let names = |component_id: i64| {
            let c = st.component(component_id).expect("a component");
            (st.site_name(c.site_id).to_string(), c.name.clone())
        };
        let mut last: BTreeMap<(String, String), DateTime<Utc>> = BTreeMap::new();
        let mut by_state: BTreeMap<&'static str, i64> = BTreeMap::new();
        for p in &st.points {
            *by_state.entry(p.state.as_str()).or_default() += 1;
            let c = st.component(p.component_id).expect("a point's component");
            if p.state == PointState::Available
                && st.sites[(c.site_id - 1) as usize].region == p.region
            {
                let t = last.entry(names(p.component_id)).or_insert(p.point_time);
                *t = (*t).max(p.point_time);
            }
        }
        let mut by_phase: BTreeMap<&'static str, i64> = BTreeMap::new();
        let mut missed: BTreeMap<(String, String), i64> = BTreeMap::new();
        let mut failures: BTreeMap<(String, String), i64> = BTreeMap::new();
        let mut newest_finished: BTreeMap<i64, usize> = BTreeMap::new();
        for (i, r) in st.runs.iter().enumerate() {
            *by_phase.entry(r.phase.as_str()).or_default() += 1;
            if r.phase == RunPhase::Skipped
                && r.trigger == "schedule"
                && r.outcome
                    .failure_reason
                    .as_deref()
                    .is_some_and(|f| f.starts_with(MISSED_FIRE))
            {
                *missed.entry(names(r.component_id)).or_default() += 1;
            }
            if r.phase == RunPhase::Failed {
                *failures.entry(names(r.component_id)).or_default() += 1;
            }
            if r.finished_at.is_some() && r.phase != RunPhase::Skipped {
                newest_finished.insert(r.component_id, i);
            }
        }
        Ok(MetricsSnapshot {
            last_success: last.into_iter().map(|((s, c), t)| (s, c, t)).collect(),
            runs_by_phase: by_phase
                .into_iter()
                .map(|(k, n)| (k.to_string(), n))
                .collect(),
            points_by_state: by_state
                .into_iter()
                .map(|(k, n)| (k.to_string(), n))
                .collect(),
            last_run_seconds: newest_finished
                .into_values()
                .map(|i| {
                    let r = &st.runs[i];
                    let (site, component) = names(r.component_id);
                    let secs = (r.finished_at.expect("finished") - r.started_at).num_milliseconds()
                        as f64
                        / 1000.0;
                    (site, component, secs)
                })
                .collect(),
            missed_fires: missed.into_iter().map(|((s, c), n)| (s, c, n)).collect(),
            run_failures: failures.into_iter().map(|((s, c), n)| (s, c, n)).collect(),
        })
    }

    async fn join_daemons(
        &self,
        holder: &str,
        pid: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<()> {
        let mut st = self.state();
        let now = ms(now);
        let row = st
            .daemons
            .entry(holder.to_string())
            .or_insert_with(|| LeaseRow {
                holder: holder.to_string(),
                pid,
                acquired_at: now,
                heartbeat_at: now,
                expires_at: now,
            });
        row.heartbeat_at = now;
        row.expires_at = until(now, ttl);
        Ok(())
    }

    async fn renew_daemon(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> CatalogResult<bool> {
        let mut st = self.state();
        match st.daemons.get_mut(holder) {
            Some(row) => {
                row.heartbeat_at = ms(now);
                row.expires_at = until(now, ttl);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn leave_daemons(&self, holder: &str) -> CatalogResult<()> {
        self.state().daemons.remove(holder);
        Ok(())
    }

    async fn live_daemons(&self, now: DateTime<Utc>) -> CatalogResult<Vec<Lease>> {
        let st = self.state();
        let now = ms(now);
        let mut live: Vec<&LeaseRow> = st.daemons.values().filter(|d| d.expires_at > now).collect();
        live.sort_by(|a, b| (a.acquired_at, &a.holder).cmp(&(b.acquired_at, &b.holder)));
        Ok(live.into_iter().map(LeaseRow::record).collect())
    }

    async fn claim_fire(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
        holder: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<Option<i64>> {
        let mut st = self.state();
        let now = ms(now);
        let key = (component_id, ms(scheduled_for));
        match st.claims.get(&key) {
            None => {
                st.claims.insert(
                    key,
                    ClaimRow {
                        holder: holder.to_string(),
                        done: false,
                        takeovers: 0,
                    },
                );
                Ok(Some(0))
            }
            Some(c) if !c.done && c.holder != holder && !st.daemon_alive(&c.holder, now) => {
                let c = st.claims.get_mut(&key).expect("found above");
                c.holder = holder.to_string();
                c.takeovers += 1;
                Ok(Some(c.takeovers))
            }
            Some(_) => Ok(None),
        }
    }

    async fn finish_fire(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
        holder: &str,
    ) -> CatalogResult<()> {
        let mut st = self.state();
        if let Some(c) = st
            .claims
            .get_mut(&(component_id, ms(scheduled_for)))
            .filter(|c| c.holder == holder)
        {
            c.done = true;
        }
        Ok(())
    }

    async fn fire_held_by_live_daemon(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> CatalogResult<bool> {
        let st = self.state();
        Ok(st
            .claims
            .get(&(component_id, ms(scheduled_for)))
            .is_some_and(|c| !c.done && st.daemon_alive(&c.holder, ms(now))))
    }

    async fn claimed_fires(
        &self,
        dead_at: Option<DateTime<Utc>>,
    ) -> CatalogResult<Vec<ClaimedFire>> {
        let st = self.state();
        let mut fires: Vec<ClaimedFire> = st
            .claims
            .iter()
            .filter(|(_, c)| {
                !c.done && dead_at.is_none_or(|at| !st.daemon_alive(&c.holder, ms(at)))
            })
            .map(|(&(component_id, scheduled_for), c)| {
                let comp = st.component(component_id).expect("a claim's component");
                ClaimedFire {
                    component_id,
                    site: st.site_name(comp.site_id).to_string(),
                    component: comp.name.clone(),
                    scheduled_for,
                    holder: c.holder.clone(),
                }
            })
            .collect();
        fires.sort_by_key(|f| (f.scheduled_for, f.component_id));
        Ok(fires)
    }
}
