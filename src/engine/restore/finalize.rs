//! Finalizing a restore: once the operator has confirmed the restored site, the resources
//! its cutover replaced are retired. Only wpbackup-tagged ones are deleted (a resource an
//! earlier restore made); the site's original resources are the operator's and are listed
//! to delete by hand. After a finalize the plan can no longer be rolled back.

use super::*;
use crate::domain::model::{ComponentKind, PointKind};
use crate::domain::restore_plan::SwapCluster;

/// A resource a restore's cutover replaced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Replaced {
    pub component: String,
    pub kind: ComponentKind,
    pub region: String,
    pub resource: String,
}

/// Step keys of a finalize are `finalize.<component>`.
const PREFIX: &str = "finalize.";

impl Engine {
    /// What `restore finalize` retires for a completed restore plan.
    pub async fn replaced_by(&self, id: &str) -> Result<Vec<Replaced>, RestoreError> {
        let rec = self.plan_record(id).await?;
        if rec.purpose != Purpose::Restore || rec.status != PlanStatus::Completed {
            return Err(RestoreError::Refused(format!(
                "plan {id} is a {} that is {}: only a completed restore is finalized",
                rec.purpose.as_str(),
                rec.status
            )));
        }
        let plan = rec.plan()?;
        let site = self.site(&plan.site)?;
        let mut out = Vec::new();
        for a in self.catalog.adoptions_of_plan(id).await? {
            if a.ended_at.is_some() || a.replaced.is_empty() {
                continue;
            }
            if let Some(p) = site.policy(&a.component) {
                out.push(Replaced {
                    component: a.component,
                    kind: p.kind,
                    region: a.region,
                    resource: a.replaced,
                });
            }
        }
        let steps = self.catalog.restore_steps(id).await?;
        for s in &plan.steps {
            if let Action::SwapCluster(SwapCluster {
                region,
                renamed_away,
                ..
            }) = &s.action
            {
                let done = steps
                    .iter()
                    .any(|r| r.key == s.key && r.state == StepState::Done);
                if done {
                    out.push(Replaced {
                        component: s.component.clone().unwrap_or_else(|| "db".into()),
                        kind: ComponentKind::AuroraCluster,
                        region: region.clone(),
                        resource: renamed_away.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Retire what the plan's cutover replaced: delete the wpbackup-tagged ones, list the
    /// others (the site's originals) as kept. Steps already done are not redone.
    pub async fn finalize_plan(
        &self,
        id: &str,
        progress: Arc<dyn RestoreProgress>,
    ) -> Result<Execution, RestoreError> {
        let _lock = self.restore_lock().await?;
        let replaced = self.replaced_by(id).await?;
        let plan = self.plan_record(id).await?.plan()?;
        let site = self.site(&plan.site)?.clone();
        let cloud = self.cloud_for(&site).await?;
        let done: BTreeSet<String> = self
            .catalog
            .restore_steps(id)
            .await?
            .into_iter()
            .filter(|s| s.key.starts_with(PREFIX) && s.state.is_finished())
            .map(|s| s.key)
            .collect();
        let mut failure = None;
        for r in replaced {
            let key = format!("{PREFIX}{}", r.component);
            if done.contains(&key) {
                continue;
            }
            self.catalog.add_restore_step(id, &key, &[]).await?;
            self.catalog
                .start_restore_step(id, &key, self.clock.now())
                .await?;
            let started = std::time::Instant::now();
            let res = match r.kind {
                ComponentKind::Ec2Instance => {
                    cloud
                        .restores
                        .delete_instance(PointKind::Ec2Ami, &r.region, &r.resource)
                        .await
                }
                ComponentKind::AutoScalingGroup => {
                    super::teardown::retire_group(&cloud, &r.region, &r.resource)
                        .await
                        .map(|_| ())
                }
                ComponentKind::LightsailInstance => {
                    cloud
                        .restores
                        .delete_instance(PointKind::LightsailSnapshot, &r.region, &r.resource)
                        .await
                }
                ComponentKind::AuroraCluster => {
                    cloud.restores.delete_cluster(&r.region, &r.resource).await
                }
                ComponentKind::Efs => {
                    cloud
                        .restores
                        .delete_file_system(&r.region, &r.resource)
                        .await
                }
                ComponentKind::S3Bucket => Ok(()),
            };
            let mut out = Map::new();
            out.insert("resource".into(), json!(r.resource));
            let (state, detail, error) = match res {
                Ok(()) => (StepState::Done, format!("{} deleted", r.resource), None),
                Err(e) if e.kind == CloudErrorKind::NotFound => (
                    StepState::Done,
                    format!("{} already gone", r.resource),
                    None,
                ),
                // Not wpbackup's (the site's original): the operator's to delete.
                Err(e) if e.kind == CloudErrorKind::Invalid => {
                    out.insert("kept".into(), json!(true));
                    (
                        StepState::Skipped,
                        format!(
                            "{} kept: it was not created by wpbackup; delete it yourself once you no longer need it",
                            r.resource
                        ),
                        None,
                    )
                }
                Err(e) => {
                    let msg = format!("{e} — {}", e.guidance());
                    failure.get_or_insert(format!("{key}: {msg}"));
                    (StepState::Failed, msg.clone(), Some(msg))
                }
            };
            out.insert("detail".into(), json!(detail));
            self.catalog
                .finish_restore_step(id, &key, state, &out, error.as_deref(), self.clock.now())
                .await?;
            progress.finished(&key, state, started.elapsed().as_secs_f64(), &detail);
        }
        // The plan stays completed in the catalog (what it restored serves the site); a
        // failed delete is reported and a second finalize tries it again.
        Ok(Execution {
            plan_id: id.to_string(),
            status: if failure.is_none() {
                PlanStatus::Completed
            } else {
                PlanStatus::Failed
            },
            steps: self.catalog.restore_steps(id).await?,
            failure,
            recovery_seconds: None,
            recovery_target_seconds: None,
            drill_resources: vec![],
        })
    }

    /// Whether a finalize retired anything of the plan (then it cannot be rolled back).
    pub(super) async fn finalized(&self, id: &str) -> Result<bool, RestoreError> {
        Ok(self
            .catalog
            .restore_steps(id)
            .await?
            .iter()
            .any(|s| s.key.starts_with(PREFIX) && s.state == StepState::Done))
    }
}
