//! Planning a restore or drill: the catalog's points, the live PITR windows, the plan.

use super::*;

/// [earliest, latest] restorable instants of a cluster.
type Window = (DateTime<Utc>, DateTime<Utc>);

struct RestoreInputs {
    points: PointsByComponent,
    /// Aurora components' live restorable windows.
    windows: BTreeMap<String, Option<Window>>,
}

impl RestoreInputs {
    fn component_inputs<'a>(&'a self, site: &'a Site) -> Vec<ComponentInput<'a>> {
        site.policies
            .iter()
            .map(|p| ComponentInput {
                policy: p,
                points: self.points.of(&p.name),
                pitr_window: self.windows.get(&p.name).copied().flatten(),
            })
            .collect()
    }
}

impl Engine {
    /// The catalog's points of a site and (restoring in place) the live PITR windows.
    async fn restore_inputs(
        &self,
        site: &Site,
        to: RestoreTo,
        only: &[String],
    ) -> Result<RestoreInputs, RestoreError> {
        let cloud = self.cloud_for(site).await?;
        let points = self.catalog.points_by_component(&site.name).await?;
        let mut windows = BTreeMap::new();
        for p in &site.policies {
            if let (
                Target::AuroraCluster {
                    cluster_identifier, ..
                },
                RestoreTo::Primary,
            ) = (&p.target, to)
            {
                if only.is_empty() || only.contains(&p.name) {
                    let w = cloud
                        .restores
                        .restorable_window(&site.region, cluster_identifier)
                        .await?;
                    windows.insert(p.name.clone(), w);
                }
            }
        }
        Ok(RestoreInputs { points, windows })
    }

    /// The instants a site can be restored to (stated when `--at` cannot be read).
    pub async fn restore_coverage(
        &self,
        site: &str,
        to: RestoreTo,
        only: &[String],
    ) -> Result<(Option<DateTime<Utc>>, DateTime<Utc>), RestoreError> {
        let site = self.site_as_served(site).await?;
        let inputs = self.restore_inputs(&site, to, only).await?;
        let ci = inputs.component_inputs(&site);
        Ok(crate::domain::planner::coverage(
            self.clock.now(),
            to,
            &site.region,
            &site.dr_region,
            &ci,
            only,
        ))
    }

    /// Plan a restore or drill of `req.site` to `req.at` (nothing is changed anywhere).
    pub async fn prepare_restore(&self, req: &RestoreRequest) -> Result<Plan, RestoreError> {
        let site = self.site_as_served(&req.site).await?;
        let now = self.clock.now();
        let (only, added) = with_web_tier_for_files(&site, &req.only);
        let gathered = self.restore_inputs(&site, req.to, &only).await?;
        let inputs = gathered.component_inputs(&site);
        let mut selection = choose_sources(
            req.at,
            now,
            req.to,
            &site.region,
            &site.dr_region,
            &inputs,
            &only,
        )?;
        selection.warnings.extend(added);
        let history = self.catalog.step_duration_history().await?;
        let facts = SiteFacts {
            site: &site.name,
            primary_region: &site.region,
            dr_region: &site.dr_region,
            address: address_of(&site.entry_point),
            health_url: &site.health_check.url,
            expect_status: site.health_check.expect_status,
            health: Probing {
                timeout_secs: site.health_check.timeout.as_secs().max(1),
                attempts: site.health_check.attempts,
                interval_ms: Some(
                    u64::try_from(
                        site.health_check
                            .interval
                            .unwrap_or_else(|| self.poll_interval_for(&site))
                            .as_millis(),
                    )
                    .unwrap_or(u64::MAX),
                ),
            },
            targets: site
                .policies
                .iter()
                .map(|p| (p.name.clone(), &p.target))
                .collect(),
            points: &gathered.points,
            drill_health_check_from: &site.drill.health_check_from,
            dr_network: &site.dr_network,
            cloudfront_distribution_id: site.cloudfront_distribution_id.as_deref(),
        };
        let mut plan = build_plan(&selection, &facts, req.purpose, now, &history)?;
        plan.seal(&self.catalog.identity().await?);
        Ok(plan)
    }

    /// Store a plan for execution; the JSON is kept byte for byte. A plan already stored
    /// must be the same plan (then it is resumed, not duplicated).
    pub async fn store_plan(&self, plan: &Plan, json: &str) -> Result<(), RestoreError> {
        if let Err(problems) = plan.validate() {
            return Err(RestoreError::Refused(format!(
                "the plan cannot be executed:\n  - {}",
                problems.join("\n  - ")
            )));
        }
        if let Err(why) = plan.check_seal(&self.catalog.identity().await?) {
            return Err(RestoreError::Refused(format!(
                "the plan cannot be executed: {why}"
            )));
        }
        let site = self.site(&plan.site)?.clone();
        let mut problems = Vec::new();
        for c in &plan.components {
            if site.policy(&c.component).is_none() {
                problems.push(format!(
                    "component {:?} is no longer configured for site {}",
                    c.component, site.name
                ));
            }
            if let Some(id) = c.point_id {
                match self.catalog.point(id).await? {
                    // The point must be this component's, and the one the plan describes.
                    Some(p)
                        if p.site != plan.site
                            || p.component != c.component
                            || !c.source.starts_with(&format!("{} in {}", p.provider_id, p.region)) =>
                    {
                        problems.push(format!(
                            "{}: point {id} is {} of {}/{} in this catalog, not the source the plan names ({})",
                            c.component, p.provider_id, p.site, p.component, c.source
                        ))
                    }
                    Some(p) if p.state == crate::domain::model::PointState::Available => {}
                    Some(p) => problems.push(format!(
                        "{}: point {} ({}) is {} now; make a new plan",
                        c.component,
                        id,
                        p.provider_id,
                        p.state.as_str()
                    )),
                    None => problems.push(format!(
                        "{}: point {id} is not in this catalog",
                        c.component
                    )),
                }
            }
        }
        if !problems.is_empty() {
            return Err(RestoreError::Refused(format!(
                "the plan cannot be executed:\n  - {}",
                problems.join("\n  - ")
            )));
        }
        let now = self.clock.now();
        let site_id = self.catalog.upsert_site(&site, now).await?;
        if !self.catalog.insert_plan(site_id, plan, json, now).await? {
            let existing = self
                .catalog
                .restore_plan(&plan.id)
                .await?
                .ok_or_else(|| RestoreError::UnknownPlan(plan.id.clone()))?;
            if existing.plan()? != *plan {
                return Err(RestoreError::Refused(format!(
                    "a different plan with id {} is already in the catalog",
                    plan.id
                )));
            }
        }
        Ok(())
    }

    pub async fn plan_record(&self, id: &str) -> Result<PlanRecord, RestoreError> {
        self.catalog
            .restore_plan(id)
            .await?
            .ok_or_else(|| RestoreError::UnknownPlan(id.to_string()))
    }
}

/// A restored file system is a new one that only a server launched wired to it mounts: a
/// restore of `--only` files on a site with an EC2 or Auto Scaling web tier restores the
/// web tier too (its
/// point as of the same instant). Returns the components to restore and what was added why.
fn with_web_tier_for_files(site: &Site, only: &[String]) -> (Vec<String>, Vec<String>) {
    let mut only = only.to_vec();
    let files: Vec<&str> = site
        .policies
        .iter()
        .filter(|p| matches!(p.target, Target::Efs { .. }) && only.contains(&p.name))
        .map(|p| p.name.as_str())
        .collect();
    let mut added = Vec::new();
    if files.is_empty() {
        return (only, added);
    }
    for p in &site.policies {
        if matches!(
            p.target,
            Target::Ec2Instance { .. } | Target::AutoScalingGroup { .. }
        ) && !only.contains(&p.name)
        {
            added.push(format!(
                "{} added: the restored file system of {} is mounted only by a web server launched wired to it",
                p.name,
                files.join(", ")
            ));
            only.push(p.name.clone());
        }
    }
    (only, added)
}
