//! What audits read and store; restore plans and their steps; adoptions.

use super::{ms, AuditRow, MemoryCatalog, PlanRow, StepRow};
use crate::catalog::rows::{duration_history, state_as_of};
use crate::catalog::{
    Adoption, AuditRecord, AuditStore, CatalogError, CatalogResult, PlanRecord, RestoreStore,
    ServingStore, StepRecord,
};
use crate::domain::audit::{Report, RunFacts};
use crate::domain::model::{PointKind, PointState, RecoveryPoint, RestoreMetadata, RunPhase};
use crate::domain::planner::PointsByComponent;
use crate::domain::restore_plan::{DurationHistory, Plan, PlanStatus, StepState};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

impl super::State {
    /// A site's components, by name.
    fn components_by_name(&self, site: &str) -> Vec<i64> {
        let mut ids = self.components_of(site);
        ids.sort_by(|a, b| {
            self.components[(a - 1) as usize]
                .name
                .cmp(&self.components[(b - 1) as usize].name)
        });
        ids
    }

    fn run_facts(&self, id: i64) -> RunFacts {
        let r = &self.runs[(id - 1) as usize];
        RunFacts {
            id,
            started_at: r.started_at,
            phase: r.phase,
            failure_reason: r.outcome.failure_reason.clone(),
        }
    }

    fn plan_record(&self, p: &PlanRow) -> PlanRecord {
        PlanRecord {
            id: p.id.clone(),
            site: self.site_name(p.site_id).to_string(),
            purpose: p.purpose,
            target_time: p.target_time,
            to_region: p.to_region.clone(),
            status: p.status,
            created_at: p.created_at,
            updated_at: p.updated_at,
            plan_json: p.plan_json.clone(),
        }
    }

    fn step_mut(&mut self, plan_id: &str, key: &str) -> Option<&mut StepRow> {
        self.steps
            .iter_mut()
            .find(|s| s.plan_id == plan_id && s.key == key)
    }
}

#[async_trait]
impl AuditStore for MemoryCatalog {
    async fn points_as_of(
        &self,
        site: &str,
        as_of: DateTime<Utc>,
    ) -> CatalogResult<PointsByComponent> {
        let st = self.state();
        let as_of = ms(as_of);
        let mut points = Vec::new();
        for c in st.components_by_name(site) {
            for id in st.points_of(c, true) {
                let p = &st.points[(id - 1) as usize];
                let there =
                    p.state != PointState::Deleted || p.deleted_at.is_some_and(|d| d > as_of);
                if !there || p.created_at > as_of || p.point_time > as_of {
                    continue;
                }
                let comp = &st.components[(c - 1) as usize];
                // Light points, as the other catalogs read them for audits.
                points.push(RecoveryPoint {
                    id,
                    site: site.to_string(),
                    component: comp.name.clone(),
                    component_kind: comp.kind,
                    kind: p.kind,
                    region: p.region.clone(),
                    name: p.name.clone(),
                    provider_id: p.provider_id.clone(),
                    arn: None,
                    point_time: p.point_time,
                    state: state_as_of(p.state, p.completed_at, as_of),
                    source_point_id: p.source_point_id,
                    run_id: p.run_id,
                    managed: p.managed,
                    metadata: RestoreMetadata {
                        encrypted: p.metadata.encrypted,
                        size_bytes: p.metadata.size_bytes,
                        ..Default::default()
                    },
                    failure_reason: p.failure_reason.clone(),
                    created_at: p.created_at,
                    completed_at: p.completed_at,
                });
            }
        }
        Ok(PointsByComponent::new(points))
    }

    async fn point_states(
        &self,
        site: &str,
        found: &[(String, PointKind, String)],
    ) -> CatalogResult<HashMap<(String, String), PointState>> {
        let st = self.state();
        let Some(&site_id) = st.site_ids.get(site) else {
            return Ok(HashMap::new());
        };
        Ok(found
            .iter()
            .filter_map(|key| st.point_keys.get(key))
            .map(|&id| &st.points[(id - 1) as usize])
            .filter(|p| st.components[(p.component_id - 1) as usize].site_id == site_id)
            .map(|p| ((p.region.clone(), p.provider_id.clone()), p.state))
            .collect())
    }

    async fn recent_runs(
        &self,
        site: &str,
        as_of: DateTime<Utc>,
        per_component: i64,
    ) -> CatalogResult<BTreeMap<String, Vec<RunFacts>>> {
        let st = self.state();
        let as_of = ms(as_of);
        let per_component = usize::try_from(per_component).unwrap_or(0);
        let mut out = BTreeMap::new();
        for c in st.components_by_name(site) {
            let comp = &st.components[(c - 1) as usize];
            let mut runs: Vec<i64> = comp
                .runs
                .iter()
                .copied()
                .filter(|&id| st.runs[(id - 1) as usize].started_at <= as_of)
                .collect();
            runs.sort_by_key(|&id| std::cmp::Reverse((st.runs[(id - 1) as usize].started_at, id)));
            // Back to and including the newest run that ended otherwise than failed.
            let floor = runs
                .iter()
                .map(|&id| &st.runs[(id - 1) as usize])
                .find(|r| {
                    !matches!(
                        r.phase,
                        RunPhase::Failed | RunPhase::Skipped | RunPhase::InProgress
                    )
                })
                .map(|r| r.started_at);
            let facts: Vec<RunFacts> = runs
                .into_iter()
                .filter(|&id| floor.is_none_or(|f| st.runs[(id - 1) as usize].started_at >= f))
                .take(per_component)
                .map(|id| st.run_facts(id))
                .collect();
            if !facts.is_empty() {
                out.insert(comp.name.clone(), facts);
            }
        }
        Ok(out)
    }

    async fn missed_fires(
        &self,
        site: &str,
        since: DateTime<Utc>,
        as_of: DateTime<Utc>,
        per_component: usize,
    ) -> CatalogResult<BTreeMap<String, Vec<RunFacts>>> {
        let st = self.state();
        let (since, as_of) = (ms(since), ms(as_of));
        let mut out = BTreeMap::new();
        for c in st.components_by_name(site) {
            let comp = &st.components[(c - 1) as usize];
            let mut runs: Vec<i64> = comp
                .runs
                .iter()
                .copied()
                .filter(|&id| {
                    let r = &st.runs[(id - 1) as usize];
                    r.phase == RunPhase::Skipped
                        && r.trigger == "schedule"
                        && r.outcome
                            .failure_reason
                            .as_deref()
                            .is_some_and(|f| f.starts_with(crate::domain::model::MISSED_FIRE))
                        && r.started_at > since
                        && r.started_at <= as_of
                })
                .collect();
            runs.sort_by_key(|&id| std::cmp::Reverse((st.runs[(id - 1) as usize].started_at, id)));
            runs.truncate(per_component);
            if !runs.is_empty() {
                out.insert(
                    comp.name.clone(),
                    runs.into_iter().map(|id| st.run_facts(id)).collect(),
                );
            }
        }
        Ok(out)
    }

    async fn insert_audit(&self, report: &Report) -> CatalogResult<i64> {
        let stored = Report {
            timelines: Vec::new(),
            ..report.clone()
        };
        let json = serde_json::to_string(&stored).expect("report serialises");
        let mut st = self.state();
        let site_id = st.site_ids.get(&report.site).copied();
        st.audits.push(AuditRow {
            site_id,
            as_of: ms(report.as_of),
            created_at: ms(report.created_at),
            status: report.status,
            report: json,
        });
        Ok(st.audits.len() as i64)
    }

    async fn last_audit(
        &self,
        site: &str,
        before_id: Option<i64>,
    ) -> CatalogResult<Option<AuditRecord>> {
        let st = self.state();
        let Some(&site_id) = st.site_ids.get(site) else {
            return Ok(None);
        };
        let Some((i, a)) = st.audits.iter().enumerate().rev().find(|(i, a)| {
            a.site_id == Some(site_id) && before_id.is_none_or(|b| (*i as i64 + 1) < b)
        }) else {
            return Ok(None);
        };
        Ok(Some(AuditRecord {
            id: i as i64 + 1,
            site: site.to_string(),
            as_of: a.as_of,
            created_at: a.created_at,
            status: a.status,
            report: serde_json::from_str(&a.report)
                .map_err(|e| CatalogError::Corrupt(format!("audit report: {e}")))?,
        }))
    }
}

#[async_trait]
impl RestoreStore for MemoryCatalog {
    async fn insert_plan(
        &self,
        site_id: i64,
        plan: &Plan,
        plan_json: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<bool> {
        let mut st = self.state();
        if st.plan_ids.contains_key(&plan.id) {
            return Ok(false);
        }
        if usize::try_from(site_id - 1).map_or(true, |i| i >= st.sites.len()) {
            return Err(CatalogError::Refused(format!(
                "no site {site_id} in the catalog"
            )));
        }
        let now = ms(now);
        let index = st.plans.len();
        st.plan_ids.insert(plan.id.clone(), index);
        st.plans.push(PlanRow {
            id: plan.id.clone(),
            site_id,
            purpose: plan.purpose,
            target_time: ms(plan.at),
            to_region: plan.region.clone(),
            plan_json: plan_json.to_string(),
            status: PlanStatus::Planned,
            created_at: now,
            updated_at: now,
        });
        for s in &plan.steps {
            st.steps.push(StepRow {
                plan_id: plan.id.clone(),
                key: s.key.clone(),
                depends_on: s.depends_on.clone(),
                state: StepState::Pending,
                started_at: None,
                finished_at: None,
                outputs: Default::default(),
                error: None,
                attempts: 0,
            });
        }
        for p in plan.point_ids() {
            st.plan_points.insert((plan.id.clone(), p));
        }
        Ok(true)
    }

    async fn restore_plan(&self, id: &str) -> CatalogResult<Option<PlanRecord>> {
        let st = self.state();
        Ok(st.plan_ids.get(id).map(|&i| st.plan_record(&st.plans[i])))
    }

    async fn restore_plans(
        &self,
        site: Option<&str>,
        limit: i64,
    ) -> CatalogResult<Vec<PlanRecord>> {
        let st = self.state();
        let mut plans: Vec<&PlanRow> = st
            .plans
            .iter()
            .filter(|p| site.is_none_or(|s| st.site_name(p.site_id) == s))
            .collect();
        plans.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        plans.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(plans.into_iter().map(|p| st.plan_record(p)).collect())
    }

    async fn set_plan_status(
        &self,
        id: &str,
        status: PlanStatus,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        let mut st = self.state();
        if let Some(&i) = st.plan_ids.get(id) {
            st.plans[i].status = status;
            st.plans[i].updated_at = ms(now);
        }
        Ok(())
    }

    async fn restore_steps(&self, plan_id: &str) -> CatalogResult<Vec<StepRecord>> {
        Ok(self
            .state()
            .steps
            .iter()
            .filter(|s| s.plan_id == plan_id)
            .map(|s| StepRecord {
                key: s.key.clone(),
                depends_on: s.depends_on.clone(),
                state: s.state,
                started_at: s.started_at,
                finished_at: s.finished_at,
                outputs: s.outputs.clone(),
                error: s.error.clone(),
                attempts: s.attempts,
            })
            .collect())
    }

    async fn add_restore_step(
        &self,
        plan_id: &str,
        key: &str,
        depends_on: &[String],
    ) -> CatalogResult<()> {
        let mut st = self.state();
        if !st.plan_ids.contains_key(plan_id) {
            return Err(CatalogError::Refused(format!(
                "no restore plan {plan_id} in the catalog"
            )));
        }
        if st.step_mut(plan_id, key).is_none() {
            st.steps.push(StepRow {
                plan_id: plan_id.to_string(),
                key: key.to_string(),
                depends_on: depends_on.to_vec(),
                state: StepState::Pending,
                started_at: None,
                finished_at: None,
                outputs: Default::default(),
                error: None,
                attempts: 0,
            });
        }
        Ok(())
    }

    async fn start_restore_step(
        &self,
        plan_id: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        if let Some(s) = self.state().step_mut(plan_id, key) {
            s.state = StepState::Running;
            s.started_at = Some(ms(now));
            s.finished_at = None;
            s.error = None;
            s.attempts += 1;
        }
        Ok(())
    }

    async fn record_step_outputs(
        &self,
        plan_id: &str,
        key: &str,
        outputs: &serde_json::Map<String, serde_json::Value>,
    ) -> CatalogResult<()> {
        if let Some(s) = self.state().step_mut(plan_id, key) {
            s.outputs = outputs.clone();
        }
        Ok(())
    }

    async fn finish_restore_step(
        &self,
        plan_id: &str,
        key: &str,
        state: StepState,
        outputs: &serde_json::Map<String, serde_json::Value>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        if let Some(s) = self.state().step_mut(plan_id, key) {
            s.state = state;
            s.outputs = outputs.clone();
            s.error = error.map(str::to_string);
            s.finished_at = Some(ms(now));
        }
        Ok(())
    }

    async fn step_duration_history(&self) -> CatalogResult<DurationHistory> {
        let st = self.state();
        Ok(duration_history(st.steps.iter().filter_map(|s| {
            match (s.state, s.started_at, s.finished_at) {
                (StepState::Done, Some(a), Some(b)) => Some((s.key.clone(), a, b)),
                _ => None,
            }
        })))
    }
}

#[async_trait]
impl ServingStore for MemoryCatalog {
    #[allow(clippy::too_many_arguments)]
    async fn adopt(
        &self,
        site: &str,
        component: &str,
        resource_id: &str,
        replaced: &str,
        region: &str,
        plan_id: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        let mut st = self.state();
        if !st.plan_ids.contains_key(plan_id) {
            return Err(CatalogError::Refused(format!(
                "no restore plan {plan_id} in the catalog"
            )));
        }
        if st
            .serving
            .iter()
            .any(|s| s.plan_id == plan_id && s.component == component)
        {
            return Ok(());
        }
        st.serving.push(Adoption {
            site: site.to_string(),
            component: component.to_string(),
            resource_id: resource_id.to_string(),
            replaced: replaced.to_string(),
            region: region.to_string(),
            plan_id: plan_id.to_string(),
            since: ms(now),
            ended_at: None,
        });
        Ok(())
    }

    async fn end_adoptions(&self, plan_id: &str, now: DateTime<Utc>) -> CatalogResult<u64> {
        let mut st = self.state();
        let mut n = 0;
        for s in st
            .serving
            .iter_mut()
            .filter(|s| s.plan_id == plan_id && s.ended_at.is_none())
        {
            s.ended_at = Some(ms(now));
            n += 1;
        }
        Ok(n)
    }

    async fn serving(&self, site: &str) -> CatalogResult<Vec<Adoption>> {
        let st = self.state();
        let open: Vec<&Adoption> = st
            .serving
            .iter()
            .filter(|a| a.site == site && a.ended_at.is_none())
            .collect();
        let mut newest: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
        for a in &open {
            let t = newest.entry(a.component.as_str()).or_insert(a.since);
            *t = (*t).max(a.since);
        }
        let mut out: Vec<Adoption> = open
            .into_iter()
            .filter(|a| newest.get(a.component.as_str()) == Some(&a.since))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.component.cmp(&b.component));
        Ok(out)
    }

    async fn adoptions_of_plan(&self, plan_id: &str) -> CatalogResult<Vec<Adoption>> {
        let st = self.state();
        let mut out: Vec<Adoption> = st
            .serving
            .iter()
            .filter(|a| a.plan_id == plan_id)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.component.cmp(&b.component));
        Ok(out)
    }
}
