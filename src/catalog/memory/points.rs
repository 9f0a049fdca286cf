//! Recovery points: recorded, updated as they progress, read by filter, by component and by id.

use super::{ms, MemoryCatalog, PointRow, State};
use crate::catalog::{CatalogError, CatalogResult, PointFilter, PointRecord, PointStore};
use crate::domain::model::{PointState, RecoveryPoint};
use crate::domain::planner::PointsByComponent;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

impl State {
    pub(super) fn point_record(&self, id: i64) -> RecoveryPoint {
        let p = &self.points[(id - 1) as usize];
        let c = self.component(p.component_id).expect("a point's component");
        RecoveryPoint {
            id,
            site: self.site_name(c.site_id).to_string(),
            component: c.name.clone(),
            component_kind: c.kind,
            kind: p.kind,
            region: p.region.clone(),
            name: p.name.clone(),
            provider_id: p.provider_id.clone(),
            arn: p.arn.clone(),
            point_time: p.point_time,
            state: p.state,
            source_point_id: p.source_point_id,
            run_id: p.run_id,
            managed: p.managed,
            metadata: p.metadata.clone(),
            failure_reason: p.failure_reason.clone(),
            created_at: p.created_at,
            completed_at: p.completed_at,
        }
    }

    /// A point's state, with the instants that go with it and the component's index of
    /// the points that are not deleted.
    pub(super) fn set_state(
        &mut self,
        id: i64,
        state: PointState,
        failure_reason: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let Some(p) = usize::try_from(id - 1)
            .ok()
            .and_then(|i| self.points.get_mut(i))
        else {
            return;
        };
        p.state = state;
        if let Some(r) = failure_reason {
            p.failure_reason = Some(r.to_string());
        }
        if matches!(state, PointState::Available | PointState::Failed) {
            p.completed_at = p.completed_at.or(Some(ms(now)));
        }
        if state == PointState::Deleted {
            p.deleted_at = Some(ms(now));
        }
        let component = p.component_id;
        let c = self.component_mut(component).expect("a point's component");
        if state == PointState::Deleted {
            c.live_points.remove(&id);
        } else {
            c.live_points.insert(id);
        }
    }

    fn upsert_point(&mut self, p: &PointRecord, now: DateTime<Utc>) -> CatalogResult<i64> {
        let completed_at =
            matches!(p.state, PointState::Available | PointState::Failed).then(|| ms(now));
        let key = (p.region.clone(), p.kind, p.provider_id.clone());
        if let Some(&id) = self.point_keys.get(&key) {
            let row = &mut self.points[(id - 1) as usize];
            row.arn = p.arn.clone().or(row.arn.take());
            row.metadata = p.metadata.clone();
            row.failure_reason = p.failure_reason.clone();
            row.run_id = p.run_id.or(row.run_id);
            row.completed_at = row.completed_at.or(completed_at);
            // The state only: deleted_at is set_point_state's.
            row.state = p.state;
            let component = row.component_id;
            let c = self.component_mut(component).expect("a point's component");
            if p.state == PointState::Deleted {
                c.live_points.remove(&id);
            } else {
                c.live_points.insert(id);
            }
            return Ok(id);
        }
        if self.component(p.component_id).is_none() {
            return Err(CatalogError::Refused(format!(
                "no component {} in the catalog",
                p.component_id
            )));
        }
        let id = self.points.len() as i64 + 1;
        self.points.push(PointRow {
            component_id: p.component_id,
            run_id: p.run_id,
            kind: p.kind,
            region: p.region.clone(),
            name: p.name.clone(),
            provider_id: p.provider_id.clone(),
            arn: p.arn.clone(),
            point_time: ms(p.point_time),
            state: p.state,
            source_point_id: p.source_point_id,
            managed: p.managed,
            metadata: p.metadata.clone(),
            failure_reason: p.failure_reason.clone(),
            created_at: ms(p.created_at),
            completed_at,
            deleted_at: None,
        });
        self.point_keys.insert(key, id);
        let c = self.component_mut(p.component_id).expect("checked above");
        c.points.push(id);
        if p.state != PointState::Deleted {
            c.live_points.insert(id);
        }
        Ok(id)
    }

    /// Ids of a component's points (all of them, or those not deleted), by (time, id).
    pub(super) fn points_of(&self, component_id: i64, include_deleted: bool) -> Vec<i64> {
        let Some(c) = self.component(component_id) else {
            return Vec::new();
        };
        let mut ids: Vec<i64> = if include_deleted {
            c.points.clone()
        } else {
            c.live_points.iter().copied().collect()
        };
        ids.sort_by_key(|&id| (self.points[(id - 1) as usize].point_time, id));
        ids
    }
}

#[async_trait]
impl PointStore for MemoryCatalog {
    async fn upsert_point(&self, p: &PointRecord, now: DateTime<Utc>) -> CatalogResult<i64> {
        self.state().upsert_point(p, now)
    }

    async fn upsert_points(
        &self,
        points: &[PointRecord],
        now: DateTime<Utc>,
    ) -> CatalogResult<Vec<i64>> {
        let mut st = self.state();
        // All or none: check every point's component before the first is written.
        if let Some(p) = points
            .iter()
            .find(|p| st.component(p.component_id).is_none())
        {
            return Err(CatalogError::Refused(format!(
                "no component {} in the catalog",
                p.component_id
            )));
        }
        points.iter().map(|p| st.upsert_point(p, now)).collect()
    }

    async fn set_point_state(
        &self,
        id: i64,
        state: PointState,
        failure_reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        self.state().set_state(id, state, failure_reason, now);
        Ok(())
    }

    async fn points(&self, filter: &PointFilter) -> CatalogResult<Vec<RecoveryPoint>> {
        let st = self.state();
        let components: Vec<i64> = match &filter.site {
            Some(site) => st.components_of(site),
            None => (1..=st.components.len() as i64).collect(),
        };
        let mut ids: Vec<i64> = components
            .into_iter()
            .filter(|&c| {
                filter
                    .component
                    .as_ref()
                    .is_none_or(|n| st.components[(c - 1) as usize].name == *n)
            })
            .flat_map(|c| st.points_of(c, filter.include_deleted))
            .collect();
        ids.sort_by_key(|&id| (st.points[(id - 1) as usize].point_time, id));
        Ok(ids.into_iter().map(|id| st.point_record(id)).collect())
    }

    async fn points_by_component(&self, site: &str) -> CatalogResult<PointsByComponent> {
        let st = self.state();
        let mut components = st.components_of(site);
        components.sort_by(|a, b| {
            st.components[(a - 1) as usize]
                .name
                .cmp(&st.components[(b - 1) as usize].name)
        });
        let points = components
            .into_iter()
            .flat_map(|c| st.points_of(c, false))
            .map(|id| st.point_record(id))
            .collect();
        Ok(PointsByComponent::new(points))
    }

    async fn point_named(
        &self,
        component_id: i64,
        region: &str,
        name: &str,
    ) -> CatalogResult<Option<RecoveryPoint>> {
        let st = self.state();
        let Some(c) = st.component(component_id) else {
            return Ok(None);
        };
        Ok(c.live_points
            .iter()
            .rev()
            .copied()
            .find(|&id| {
                let p = &st.points[(id - 1) as usize];
                p.region == region && p.name == name
            })
            .map(|id| st.point_record(id)))
    }

    async fn point(&self, id: i64) -> CatalogResult<Option<RecoveryPoint>> {
        let st = self.state();
        Ok(st.point_row(id).is_some().then(|| st.point_record(id)))
    }
}
