//! Sites, components, policies and runs; holds and deletions.

use super::{ms, ComponentRow, DeletionRow, HoldRow, MemoryCatalog, PolicyRow, RunRow, SiteRow};
use crate::catalog::{
    CatalogError, CatalogResult, HoldRecord, HoldStore, PointStore, RunOutcome, RunRecord, RunStore,
};
use crate::domain::model::{PointState, RecoveryPoint, RunPhase};
use crate::domain::policy::{Policy, PolicySource};
use crate::domain::site::Site;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

fn no_component(id: i64) -> CatalogError {
    CatalogError::Refused(format!("no component {id} in the catalog"))
}

impl super::State {
    fn run_record(&self, id: i64) -> Option<RunRecord> {
        let r = self.run(id)?;
        let c = self.component(r.component_id)?;
        Some(RunRecord {
            id,
            site: self.site_name(c.site_id).to_string(),
            component: c.name.clone(),
            trigger: r.trigger.clone(),
            policy_hash: self.policies[(r.policy_id - 1) as usize]
                .content_hash
                .clone(),
            scheduled_for: r.scheduled_for,
            started_at: r.started_at,
            finished_at: r.finished_at,
            phase: r.phase,
            points_created: r.outcome.points_created,
            points_failed: r.outcome.points_failed,
            copies_created: r.outcome.copies_created,
            copies_failed: r.outcome.copies_failed,
            failure_reason: r.outcome.failure_reason.clone(),
            warnings: r.outcome.warnings.clone(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_run(
        &mut self,
        component_id: i64,
        policy_id: i64,
        trigger: &str,
        scheduled_for: DateTime<Utc>,
        now: DateTime<Utc>,
        phase: RunPhase,
        reason: Option<&str>,
    ) -> CatalogResult<i64> {
        if usize::try_from(policy_id - 1).map_or(true, |i| i >= self.policies.len()) {
            return Err(CatalogError::Refused(format!(
                "no policy {policy_id} in the catalog"
            )));
        }
        let id = self.runs.len() as i64 + 1;
        let in_progress = phase == RunPhase::InProgress;
        self.component_mut(component_id)
            .ok_or_else(|| no_component(component_id))?
            .runs
            .push(id);
        self.runs.push(RunRow {
            component_id,
            policy_id,
            trigger: trigger.to_string(),
            scheduled_for: ms(scheduled_for),
            started_at: ms(now),
            finished_at: (!in_progress).then(|| ms(now)),
            phase,
            outcome: RunOutcome {
                failure_reason: reason.map(str::to_string),
                ..Default::default()
            },
            pid: in_progress.then(|| i64::from(std::process::id())),
        });
        Ok(id)
    }
}

#[async_trait]
impl RunStore for MemoryCatalog {
    async fn upsert_site(&self, site: &Site, _now: DateTime<Utc>) -> CatalogResult<i64> {
        let mut st = self.state();
        if let Some(&id) = st.site_ids.get(&site.name) {
            st.sites[(id - 1) as usize].region = site.region.clone();
            return Ok(id);
        }
        st.sites.push(SiteRow {
            name: site.name.clone(),
            region: site.region.clone(),
        });
        let id = st.sites.len() as i64;
        st.site_ids.insert(site.name.clone(), id);
        Ok(id)
    }

    async fn upsert_component(
        &self,
        site_id: i64,
        policy: &Policy,
        _now: DateTime<Utc>,
    ) -> CatalogResult<i64> {
        let mut st = self.state();
        if usize::try_from(site_id - 1).map_or(true, |i| i >= st.sites.len()) {
            return Err(CatalogError::Refused(format!(
                "no site {site_id} in the catalog"
            )));
        }
        let key = (site_id, policy.name.clone());
        if let Some(&id) = st.component_ids.get(&key) {
            st.components[(id - 1) as usize].kind = policy.kind;
            return Ok(id);
        }
        st.components.push(ComponentRow {
            site_id,
            name: policy.name.clone(),
            kind: policy.kind,
            points: Vec::new(),
            live_points: Default::default(),
            runs: Vec::new(),
        });
        let id = st.components.len() as i64;
        st.component_ids.insert(key, id);
        Ok(id)
    }

    async fn record_policy(
        &self,
        component_id: i64,
        source: &PolicySource,
        _now: DateTime<Utc>,
    ) -> CatalogResult<i64> {
        let mut st = self.state();
        st.component(component_id)
            .ok_or_else(|| no_component(component_id))?;
        let key = (component_id, source.content_hash.clone());
        if let Some(&id) = st.policy_ids.get(&key) {
            return Ok(id);
        }
        st.policies.push(PolicyRow {
            content_hash: source.content_hash.clone(),
        });
        let id = st.policies.len() as i64;
        st.policy_ids.insert(key, id);
        Ok(id)
    }

    async fn run_in_progress(
        &self,
        component_id: i64,
    ) -> CatalogResult<Option<(i64, Option<i64>)>> {
        let st = self.state();
        let Some(c) = st.component(component_id) else {
            return Ok(None);
        };
        Ok(c.runs
            .iter()
            .map(|&id| (id, &st.runs[(id - 1) as usize]))
            .find(|(_, r)| r.phase == RunPhase::InProgress)
            .map(|(id, r)| (id, r.pid)))
    }

    async fn fail_own_unfinished_run(
        &self,
        component_id: i64,
        scheduled_for: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<Option<i64>> {
        let mut st = self.state();
        let Some(c) = st.component(component_id) else {
            return Ok(None);
        };
        let pid = Some(i64::from(std::process::id()));
        let at = ms(scheduled_for);
        let ids: Vec<i64> = c
            .runs
            .iter()
            .copied()
            .filter(|&id| {
                let r = &st.runs[(id - 1) as usize];
                r.scheduled_for == at && r.phase == RunPhase::InProgress && r.pid == pid
            })
            .collect();
        for &id in &ids {
            let r = st.run_mut(id).expect("indexed run");
            r.phase = RunPhase::Failed;
            r.finished_at = Some(ms(now));
            r.outcome.failure_reason = Some(reason.to_string());
        }
        Ok(ids.into_iter().max())
    }

    async fn mark_interrupted(
        &self,
        run_id: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        let mut st = self.state();
        if let Some(r) = st
            .run_mut(run_id)
            .filter(|r| r.phase == RunPhase::InProgress)
        {
            r.phase = RunPhase::Interrupted;
            r.finished_at = Some(ms(now));
            r.outcome.failure_reason = Some(reason.to_string());
        }
        Ok(())
    }

    async fn points_of_run(&self, run_id: i64) -> CatalogResult<Vec<RecoveryPoint>> {
        let st = self.state();
        let Some(r) = st.run(run_id) else {
            return Ok(Vec::new());
        };
        let c = st.component(r.component_id).expect("a run's component");
        Ok(c.points
            .iter()
            .filter(|&&id| st.points[(id - 1) as usize].run_id == Some(run_id))
            .map(|&id| st.point_record(id))
            .collect())
    }

    async fn start_run(
        &self,
        component_id: i64,
        policy_id: i64,
        trigger: &str,
        scheduled_for: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> CatalogResult<i64> {
        self.state().insert_run(
            component_id,
            policy_id,
            trigger,
            scheduled_for,
            now,
            RunPhase::InProgress,
            None,
        )
    }

    async fn record_skipped_run(
        &self,
        component_id: i64,
        policy_id: i64,
        trigger: &str,
        scheduled_for: DateTime<Utc>,
        now: DateTime<Utc>,
        reason: &str,
    ) -> CatalogResult<i64> {
        self.state().insert_run(
            component_id,
            policy_id,
            trigger,
            scheduled_for,
            now,
            RunPhase::Skipped,
            Some(reason),
        )
    }

    async fn finish_run(
        &self,
        run_id: i64,
        phase: RunPhase,
        outcome: &RunOutcome,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        if let Some(r) = self.state().run_mut(run_id) {
            r.phase = phase;
            r.finished_at = Some(ms(now));
            r.outcome = outcome.clone();
        }
        Ok(())
    }

    async fn run_by_id(&self, run_id: i64) -> CatalogResult<Option<RunRecord>> {
        Ok(self.state().run_record(run_id))
    }

    async fn runs(
        &self,
        site: Option<&str>,
        component: Option<&str>,
        limit: i64,
    ) -> CatalogResult<Vec<RunRecord>> {
        let st = self.state();
        let limit = usize::try_from(limit).unwrap_or(0);
        let ids: Vec<i64> = match site {
            Some(site) => {
                let mut ids: Vec<i64> = st
                    .components_of(site)
                    .into_iter()
                    .filter(|&c| {
                        component.is_none_or(|n| st.components[(c - 1) as usize].name == n)
                    })
                    .flat_map(|c| st.components[(c - 1) as usize].runs.iter().copied())
                    .collect();
                ids.sort_unstable_by(|a, b| b.cmp(a));
                ids.truncate(limit);
                ids
            }
            None => (1..=st.runs.len() as i64)
                .rev()
                .filter(|&id| {
                    component.is_none_or(|n| {
                        st.components[(st.runs[(id - 1) as usize].component_id - 1) as usize].name
                            == n
                    })
                })
                .take(limit)
                .collect(),
        };
        Ok(ids.into_iter().filter_map(|id| st.run_record(id)).collect())
    }
}

#[async_trait]
impl HoldStore for MemoryCatalog {
    async fn component_id(&self, site: &str, component: &str) -> CatalogResult<Option<i64>> {
        let st = self.state();
        Ok(st
            .site_ids
            .get(site)
            .and_then(|&s| st.component_ids.get(&(s, component.to_string())))
            .copied())
    }

    async fn add_hold(
        &self,
        component_id: i64,
        point_id: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> CatalogResult<i64> {
        let mut st = self.state();
        st.component(component_id)
            .ok_or_else(|| no_component(component_id))?;
        if let Some(p) = point_id {
            st.point_row(p)
                .ok_or_else(|| CatalogError::Refused(format!("no point {p} in the catalog")))?;
        }
        st.holds.push(HoldRow {
            point_id,
            component_id,
            reason: reason.to_string(),
            created_at: ms(now),
            expires_at: expires_at.map(ms),
            released_at: None,
        });
        Ok(st.holds.len() as i64)
    }

    async fn release_hold(&self, id: i64, now: DateTime<Utc>) -> CatalogResult<bool> {
        let mut st = self.state();
        match usize::try_from(id - 1)
            .ok()
            .and_then(|i| st.holds.get_mut(i))
            .filter(|h| h.released_at.is_none())
        {
            Some(h) => {
                h.released_at = Some(ms(now));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn holds(&self, active_at: Option<DateTime<Utc>>) -> CatalogResult<Vec<HoldRecord>> {
        let st = self.state();
        let active_at = active_at.map(ms);
        Ok(st
            .holds
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, h)| {
                active_at
                    .is_none_or(|at| h.released_at.is_none() && h.expires_at.is_none_or(|e| e > at))
            })
            .map(|(i, h)| {
                let c = st.component(h.component_id).expect("a hold's component");
                HoldRecord {
                    id: i as i64 + 1,
                    site: st.site_name(c.site_id).to_string(),
                    component: c.name.clone(),
                    point_id: h.point_id,
                    point_name: h
                        .point_id
                        .and_then(|p| st.point_row(p))
                        .map(|p| p.name.clone()),
                    reason: h.reason.clone(),
                    created_at: h.created_at,
                    expires_at: h.expires_at,
                    released_at: h.released_at,
                }
            })
            .collect())
    }

    async fn planned_points(&self) -> CatalogResult<Vec<(i64, String)>> {
        use crate::domain::restore_plan::PlanStatus;
        let st = self.state();
        Ok(st
            .plan_points
            .iter()
            .filter(|(plan, _)| {
                st.plan_ids.get(plan).is_some_and(|&i| {
                    matches!(
                        st.plans[i].status,
                        PlanStatus::Planned | PlanStatus::Executing | PlanStatus::Failed
                    )
                })
            })
            .map(|(plan, point)| (*point, plan.clone()))
            .collect())
    }

    async fn begin_deletion(
        &self,
        point_id: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<i64> {
        let mut st = self.state();
        st.point_row(point_id)
            .ok_or_else(|| CatalogError::Refused(format!("no point {point_id} in the catalog")))?;
        st.set_state(point_id, PointState::Deleting, None, now);
        st.deletions.push(DeletionRow {
            point_id,
            requested_at: ms(now),
            reason: reason.to_string(),
            outcome: "pending",
            error: None,
        });
        Ok(st.deletions.len() as i64)
    }

    async fn finish_deletion(
        &self,
        deletion_id: i64,
        point_id: i64,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        {
            let mut st = self.state();
            if let Some(d) = usize::try_from(deletion_id - 1)
                .ok()
                .and_then(|i| st.deletions.get_mut(i))
            {
                d.outcome = if error.is_some() { "failed" } else { "deleted" };
                d.error = error.map(str::to_string);
            }
        }
        if error.is_none() {
            self.set_point_state(point_id, PointState::Deleted, None, now)
                .await?;
        }
        Ok(())
    }

    async fn deletions_of(
        &self,
        point_id: i64,
    ) -> CatalogResult<Vec<(String, String, String, Option<String>)>> {
        Ok(self
            .state()
            .deletions
            .iter()
            .filter(|d| d.point_id == point_id)
            .map(|d| {
                (
                    crate::catalog::ts(d.requested_at),
                    d.reason.clone(),
                    d.outcome.to_string(),
                    d.error.clone(),
                )
            })
            .collect())
    }
}
