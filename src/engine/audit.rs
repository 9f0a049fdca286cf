//! Audits: gather the catalog as it stood at an instant (and, for the present, the live
//! settings and the cloud's inventory), run the pure controls, store the result.

use super::{Engine, EngineError};
use crate::catalog::StepRecord;
use crate::cloud::{Cloud, ProviderPoint};
use crate::domain::audit::{
    audit, changes, AuditFacts, ComponentFacts, DrillFacts, Inventory, Report, Resource, Since,
    StagingFacts, UnfinishedPlan,
};
use crate::domain::model::PointState;
use crate::domain::restore_plan::{PlanStatus, Purpose, StepState};
use crate::domain::site::Site;
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

/// Runs looked at per component (enough to count consecutive failures).
const RUNS_PER_COMPONENT: i64 = 20;

#[derive(Debug, Clone)]
pub struct AuditRequest {
    pub site: String,
    /// Evaluate the catalog as it stood then; `None`: now (live controls included).
    pub as_of: Option<DateTime<Utc>>,
    /// Add what changed since the previous stored audit.
    pub since_last: bool,
    /// Keep the audit in the catalog (monitoring runs do; `--no-store` for a peek).
    pub store: bool,
}

/// An audit's report and the id it was stored under.
pub struct AuditOutcome {
    pub id: Option<i64>,
    pub report: Report,
}

/// Sites audited at once by a fleet audit (each reads the catalog and, for the present, its
/// cloud account).
const SITES_AT_ONCE: usize = 4;

impl Engine {
    /// Every configured site's audit (each stored like a site's own), as one fleet report.
    pub async fn audit_fleet(
        &self,
        as_of: Option<DateTime<Utc>>,
        since_last: bool,
        store: bool,
    ) -> Result<crate::domain::audit::FleetReport, EngineError> {
        let now = self.clock.now();
        let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(SITES_AT_ONCE));
        let mut audits = tokio::task::JoinSet::new();
        for site in &self.config.sites {
            let engine = self.clone();
            let limit = limit.clone();
            let req = AuditRequest {
                site: site.name.clone(),
                as_of,
                since_last,
                store,
            };
            audits.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("semaphore open");
                engine.audit(&req).await
            });
        }
        let mut reports = Vec::with_capacity(self.config.sites.len());
        while let Some(done) = audits.join_next().await {
            match done {
                Ok(outcome) => reports.push(outcome?.report),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        let as_of = as_of.unwrap_or(now).min(now);
        Ok(crate::domain::audit::FleetReport::new(reports, as_of, now))
    }

    pub async fn audit(&self, req: &AuditRequest) -> Result<AuditOutcome, EngineError> {
        let site = self.site_as_served(&req.site).await?;
        let now = self.clock.now();
        let as_of = req.as_of.unwrap_or(now).min(now);
        let live = req.as_of.is_none();
        let points = self.catalog.points_as_of(&site.name, as_of).await?;
        let runs = self
            .catalog
            .recent_runs(&site.name, as_of, RUNS_PER_COMPONENT)
            .await?;
        let missed_since =
            crate::domain::time::sub_saturating(as_of, site.audit.missed_fires_window);
        let missed = self
            .catalog
            .missed_fires(&site.name, missed_since, as_of, RUNS_PER_COMPONENT as usize)
            .await?;
        let (drills, drill_leftovers, stagings) = self.drills(&site, as_of).await?;
        let unfinished_plans = self.unfinished_plans(&site, as_of, points.all()).await?;
        let guards = self.guards(&site, as_of).await?;
        let cloud = if live {
            Some(self.cloud_for(&site).await?)
        } else {
            None
        };
        let mut components = Vec::new();
        for p in &site.policies {
            let live_settings = match &cloud {
                Some(c) => Some(
                    c.settings
                        .inspect(&p.target, &site.region)
                        .await
                        .map_err(|e| format!("{e} — {}", e.guidance())),
                ),
                None => None,
            };
            components.push(ComponentFacts {
                policy: p,
                points: points.of(&p.name),
                runs: runs.get(&p.name).map(Vec::as_slice).unwrap_or(&[]),
                missed: missed.get(&p.name).map(Vec::as_slice).unwrap_or(&[]),
                live: live_settings,
            });
        }
        let inventory = match &cloud {
            Some(c) => Some(self.inventory(&site, c).await?),
            None => None,
        };
        let facts = AuditFacts {
            site: &site.name,
            primary_region: &site.region,
            as_of,
            components,
            drills: &drills,
            drill_leftovers,
            stagings: &stagings,
            unfinished_plans: &unfinished_plans,
            inventory,
            guards: &guards,
            served: self
                .catalog
                .serving(&site.name)
                .await?
                .into_iter()
                .map(|a| crate::domain::audit::Served {
                    component: a.component,
                    resource_id: a.resource_id,
                    replaced: a.replaced,
                    plan_id: a.plan_id,
                    since: a.since,
                })
                .collect(),
        };
        let mut report = audit(&facts, &site.audit, now);
        if req.since_last {
            if let Some(prev) = self.catalog.last_audit(&site.name, None).await? {
                report.since = Some(Since {
                    previous_id: prev.id,
                    previous_created_at: prev.created_at,
                    previous_status: prev.status,
                    changes: changes(&prev.report.findings, &report.findings),
                });
            }
        }
        let id = if req.store {
            Some(self.catalog.insert_audit(&report).await?)
        } else {
            None
        };
        Ok(AuditOutcome { id, report })
    }

    /// The site's drills created by `as_of` (newest first), what unfinished ones left, and
    /// the staging copies up at `as_of` (newest first) with what they hold.
    async fn drills(
        &self,
        site: &Site,
        as_of: DateTime<Utc>,
    ) -> Result<(Vec<DrillFacts>, Vec<Resource>, Vec<StagingFacts>), EngineError> {
        let plans = self.catalog.restore_plans(Some(&site.name), 1000).await?;
        let mut drills = Vec::new();
        let mut leftovers = Vec::new();
        let mut stagings = Vec::new();
        for plan in plans.iter().filter(|p| {
            p.purpose == Purpose::Staging
                && p.created_at <= as_of
                // Up at `as_of`: not torn down yet, or torn down (last changed) after it.
                && (p.status != PlanStatus::TornDown || p.updated_at > as_of)
                && p.status != PlanStatus::Planned
        }) {
            let steps = self.catalog.restore_steps(&plan.id).await?;
            stagings.push(StagingFacts {
                plan_id: plan.id.clone(),
                created_at: plan.created_at,
                status: plan.status,
                resources: restored_not_deleted(plan.purpose, &plan.id, &plan.to_region, &steps),
            });
        }
        for plan in plans
            .iter()
            .filter(|p| p.purpose == Purpose::Drill && p.created_at <= as_of)
        {
            let steps = self.catalog.restore_steps(&plan.id).await?;
            let failure = steps
                .iter()
                .find(|s| s.state == StepState::Failed)
                .map(|s| format!("{}: {}", s.key, s.error.as_deref().unwrap_or("failed")));
            let not_isolated = match plan.status {
                PlanStatus::TornDown => match self.catalog.restore_plan(&plan.id).await? {
                    Some(rec) => match rec.plan() {
                        Ok(p) => super::restore::drill_isolation(&p, &steps),
                        Err(e) => Some(format!("its plan cannot be read: {e}")),
                    },
                    None => Some("its plan is not in the catalog".into()),
                },
                _ => None,
            };
            drills.push(DrillFacts {
                plan_id: plan.id.clone(),
                created_at: plan.created_at,
                status: plan.status,
                recovery_seconds: super::restore::recovery_seconds(&steps),
                failure,
                not_isolated,
            });
            if !matches!(plan.status, PlanStatus::TornDown | PlanStatus::Planned) {
                leftovers.extend(restored_not_deleted(
                    plan.purpose,
                    &plan.id,
                    &plan.to_region,
                    &steps,
                ));
            }
        }
        Ok((drills, leftovers, stagings))
    }

    /// The site's plans left planned, executing or failed at `as_of` (newest first), with
    /// the points each keeps from retention.
    async fn unfinished_plans(
        &self,
        site: &Site,
        as_of: DateTime<Utc>,
        points: &[crate::domain::model::RecoveryPoint],
    ) -> Result<Vec<UnfinishedPlan>, EngineError> {
        let plans = self.catalog.restore_plans(Some(&site.name), 1000).await?;
        let unfinished: Vec<_> = plans
            .into_iter()
            .filter(|p| {
                p.created_at <= as_of
                    && matches!(
                        p.status,
                        PlanStatus::Planned | PlanStatus::Executing | PlanStatus::Failed
                    )
            })
            .collect();
        if unfinished.is_empty() {
            return Ok(vec![]);
        }
        let pins = self.catalog.planned_points().await?;
        let described = |id: i64| {
            points
                .iter()
                .find(|p| p.id == id)
                .map(|p| format!("{} {} ({})", p.component, p.name, p.provider_id))
                .unwrap_or_else(|| format!("point {id}"))
        };
        Ok(unfinished
            .into_iter()
            .map(|p| UnfinishedPlan {
                pinned: pins
                    .iter()
                    .filter(|(_, plan)| *plan == p.id)
                    .map(|(point, _)| described(*point))
                    .collect(),
                plan_id: p.id,
                purpose: p.purpose.as_str().to_string(),
                status: p.status,
                created_at: p.created_at,
                updated_at: p.updated_at,
            })
            .collect())
    }

    /// What the cloud holds for the site beyond what the catalog knows.
    async fn inventory(&self, site: &Site, cloud: &Cloud) -> Result<Inventory, EngineError> {
        let mut inv = Inventory::default();
        let resource = |p: &ProviderPoint, note: &str| Resource {
            kind: p.kind.as_str().to_string(),
            region: p.region.clone(),
            id: p.provider_id.clone(),
            component: p.tags.get(crate::domain::names::TAG_COMPONENT).cloned(),
            size_bytes: p.metadata.size_bytes,
            note: note.to_string(),
        };
        for region in [&site.region, &site.dr_region] {
            match cloud.points.list_managed_points(&site.name, region).await {
                Ok(found) => {
                    let keys: Vec<_> = found
                        .iter()
                        .map(|p| (p.region.clone(), p.kind, p.provider_id.clone()))
                        .collect();
                    let known = self.catalog.point_states(&site.name, &keys).await?;
                    for p in found {
                        match known.get(&(p.region.clone(), p.provider_id.clone())) {
                            None => inv
                                .unknown_managed
                                .push(resource(&p, "tagged for this site, not in the catalog")),
                            Some(PointState::Deleted) => inv.expired_still_existing.push(resource(
                                &p,
                                "deleted by retention in the catalog, still exists",
                            )),
                            Some(_) => {}
                        }
                    }
                }
                Err(e) => inv
                    .errors
                    .push(("orphaned-points".into(), format!("{region}: {e}"))),
            }
            match cloud
                .points
                .list_leftover_snapshots(&site.name, region)
                .await
            {
                Ok(found) => inv.leftover_ebs_snapshots.extend(
                    found
                        .iter()
                        .map(|p| resource(p, "its AMI no longer exists")),
                ),
                Err(e) => inv
                    .errors
                    .push(("orphaned-ebs-snapshots".into(), format!("{region}: {e}"))),
            }
        }
        for p in &site.policies {
            match cloud
                .points
                .list_unmanaged_points(&p.target, &site.region)
                .await
            {
                Ok(found) => inv.unmanaged.extend(found.iter().map(|x| {
                    let mut r = resource(x, "not made by wpbackup");
                    r.component = Some(p.name.clone());
                    r
                })),
                Err(e) => inv
                    .errors
                    .push(("unmanaged-snapshots".into(), format!("{}: {e}", p.name))),
            }
        }
        Ok(inv)
    }
}

/// Resources a drill or staging copy restored that its teardown did not delete (its
/// cost-bearing resources).
pub(crate) fn restored_not_deleted(
    purpose: Purpose,
    plan_id: &str,
    region: &str,
    steps: &[StepRecord],
) -> Vec<Resource> {
    let deleted: BTreeSet<&str> = steps
        .iter()
        .filter(|s| s.key.ends_with(".teardown"))
        .filter_map(|s| s.outputs.get("deleted").and_then(|v| v.as_array()))
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    let mut out = Vec::new();
    for s in steps {
        let (kind, output) = if s.key.ends_with(".restore-cluster") {
            ("aurora-cluster", "cluster")
        } else if s.key.ends_with(".restore-file-system") {
            ("efs-file-system", "file_system")
        } else if s.key.ends_with(".launch-instance") {
            ("instance", "instance")
        } else if s.key.ends_with(".launch-group") {
            ("auto-scaling-group", "group")
        } else if s.key.ends_with(".isolate") {
            ("security-group", "security_group")
        } else {
            continue;
        };
        if let Some(id) = s.output(output).filter(|id| !deleted.contains(id)) {
            out.push(Resource {
                kind: kind.into(),
                region: region.to_string(),
                id: id.to_string(),
                component: s.key.split('.').next().map(str::to_string),
                size_bytes: None,
                note: match purpose {
                    Purpose::Staging => format!("restored by staging copy {plan_id}"),
                    _ => format!("restored by drill {plan_id}, never torn down"),
                },
            });
        }
    }
    out
}
