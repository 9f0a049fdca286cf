//! Prune: the retention plan for a site's points, then (unless a dry run) the deletions,
//! each recorded before and after it acts. A failed delete leaves the point `deleting`, and
//! the next prune retries it — never forgotten.

use super::{Engine, EngineError};
use crate::catalog::PointFilter;
use crate::cloud::CloudErrorKind;
use crate::domain::model::PointState;
use crate::domain::planner::PointsByComponent;
use crate::domain::retention::{prune_plan, Action, Decision, Guards};
use crate::domain::site::Site;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    pub site: String,
    pub dry_run: bool,
    pub decisions: Vec<Decision>,
    /// Point ids deleted now.
    pub deleted: Vec<i64>,
    /// Deletions that failed (point id, error); retried by the next prune.
    pub failed: Vec<(i64, String)>,
}

impl Engine {
    /// Plan (and unless `dry_run`, apply) retention for a site, or one of its components.
    /// What keeps points beyond the rules at `at`: the site's holds active then and the
    /// points unfinished restore plans need. Prune and the audit's retention control honour
    /// the same guards.
    pub async fn guards(&self, site: &Site, at: DateTime<Utc>) -> Result<Guards, EngineError> {
        let mut guards = Guards::default();
        for h in self.catalog.holds(Some(at)).await? {
            if h.site != site.name {
                continue;
            }
            let why = format!("hold {}: {}", h.id, h.reason);
            match h.point_id {
                Some(p) => {
                    guards.held_points.insert(p, why);
                }
                None => {
                    guards
                        .held_components
                        .insert((h.site.clone(), h.component.clone()), why);
                }
            }
        }
        guards.planned = self.catalog.planned_points().await?.into_iter().collect();
        Ok(guards)
    }

    pub async fn prune_site(
        &self,
        site: &Site,
        component: Option<&str>,
        dry_run: bool,
    ) -> Result<PruneReport, EngineError> {
        let now = self.clock.now();
        let points = self
            .catalog
            .points(&PointFilter {
                site: Some(site.name.clone()),
                component: component.map(str::to_string),
                include_deleted: false,
            })
            .await?;
        let guards = self.guards(site, now).await?;
        // Each policy decides over its component's points only (a slice of the index):
        // filtering the site's points per policy cost components × points on a fleet site.
        let points = PointsByComponent::new(points);

        let mut decisions = Vec::new();
        for policy in site
            .policies
            .iter()
            .filter(|p| component.is_none_or(|c| c == p.name))
        {
            decisions.extend(prune_plan(
                policy,
                &site.region,
                points.of(&policy.name),
                &guards,
                now,
            ));
        }
        let points = points.all();
        // Deletions that failed before are retried (they were decided already).
        for p in points
            .iter()
            .filter(|p| p.state == PointState::Deleting && p.managed)
        {
            decisions.push(Decision {
                point_id: p.id,
                site: p.site.as_str().into(),
                component: p.component.as_str().into(),
                region: p.region.as_str().into(),
                name: p.name.clone(),
                point_time: p.point_time,
                state: p.state,
                action: Action::Remove,
                reasons: vec!["retry: an earlier deletion did not finish".into()],
            });
        }
        let mut report = PruneReport {
            site: site.name.clone(),
            dry_run,
            decisions,
            deleted: Vec::new(),
            failed: Vec::new(),
        };
        if dry_run {
            return Ok(report);
        }
        let cloud = self.cloud_for(site).await?;
        let removals = report
            .decisions
            .iter()
            .filter(|d| d.action == Action::Remove)
            .count();
        let key = match component {
            Some(c) => format!("prune {}/{c}", site.name),
            None => format!("prune {}", site.name),
        };
        // Each removal finds its point by id (a search of the site's points for each was
        // removals × points).
        let by_id: std::collections::HashMap<i64, &crate::domain::model::RecoveryPoint> =
            points.iter().map(|p| (p.id, p)).collect();
        let started = std::time::Instant::now();
        if removals > 0 {
            self.progress.started(
                &key,
                &format!("{removals} point(s) past retention to delete"),
            );
        }
        for (i, d) in report
            .decisions
            .iter()
            .filter(|d| d.action == Action::Remove)
            .enumerate()
        {
            let Some(&p) = by_id.get(&d.point_id) else {
                continue;
            };
            self.progress.note(
                &key,
                &format!(
                    "deleting {} in {} ({}/{removals})",
                    p.provider_id,
                    p.region,
                    i + 1
                ),
            );
            let deletion = self
                .catalog
                .begin_deletion(p.id, &d.reasons.join("; "), self.clock.now())
                .await?;
            let result = cloud
                .points
                .delete_point(p.kind, &p.region, &p.provider_id)
                .await;
            let error = match result {
                Ok(()) => None,
                // Already gone: the goal is reached.
                Err(e) if e.kind == CloudErrorKind::NotFound => None,
                Err(e) => Some(format!("{e} — {}", e.guidance())),
            };
            self.catalog
                .finish_deletion(deletion, p.id, error.as_deref(), self.clock.now())
                .await?;
            match error {
                None => report.deleted.push(p.id),
                Some(e) => {
                    tracing::warn!(point = %p.name, error = %e, "deletion failed; will be retried");
                    report.failed.push((p.id, e));
                }
            }
        }
        if removals > 0 {
            self.progress.finished(
                &key,
                report.failed.is_empty(),
                started.elapsed().as_secs_f64(),
                &format!(
                    "{} deleted{}",
                    report.deleted.len(),
                    match report.failed.len() {
                        0 => String::new(),
                        n => format!(", {n} failed (retried at the next prune)"),
                    }
                ),
            );
        }
        Ok(report)
    }
}
