//! Drills: delete what the drill created (tagged resources only).

use super::execute::{StepAct, StepCtx};
use super::*;
use crate::domain::restore_plan::{LaunchInstance, Teardown};

impl StepCtx {
    pub(super) async fn teardown(&self, s: &Teardown, out: &mut Map<String, Value>) -> StepAct {
        let Teardown { steps } = s;
        let r = self.cloud.restores.clone();
        let mut deleted: Vec<String> = Self::recorded_list(out, "deleted");
        for s in steps {
            let Some(step) = self.plan.step(s) else {
                continue;
            };
            let region = &self.plan.region;
            let res = match &step.action {
                Action::LaunchInstance(LaunchInstance { point_kind, .. }) => {
                    match self.dep_output(s, "instance") {
                        Some(i) if !deleted.contains(&i) => {
                            Some((i.clone(), r.delete_instance(*point_kind, region, &i).await))
                        }
                        _ => None,
                    }
                }
                Action::RestoreCluster(_) => match self.dep_output(s, "cluster") {
                    Some(c) if !deleted.contains(&c) => {
                        Some((c.clone(), r.delete_cluster(region, &c).await))
                    }
                    _ => None,
                },
                Action::LaunchGroup(_) => match self.dep_output(s, "group") {
                    Some(g) if !deleted.contains(&g) => Some((
                        g.clone(),
                        retire_group(&self.cloud, region, &g).await.map(|_| ()),
                    )),
                    _ => None,
                },
                Action::RestoreFileSystem(_) => match self.dep_output(s, "file_system") {
                    Some(f) if !deleted.contains(&f) => {
                        Some((f.clone(), r.delete_file_system(region, &f).await))
                    }
                    _ => None,
                },
                _ => None,
            };
            if let Some((id, res)) = res {
                match res {
                    Ok(()) => {}
                    Err(e) if e.kind == CloudErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
                self.progress.note(&self.step.key, &format!("deleted {id}"));
                deleted.push(id);
                out.insert("deleted".into(), json!(deleted));
                self.save(out).await?;
            }
        }
        out.insert("deleted".into(), json!(deleted));
        Ok((
            StepState::Done,
            format!(
                "deleted {}",
                if deleted.is_empty() {
                    "nothing".into()
                } else {
                    deleted.join(", ")
                }
            ),
        ))
    }
}

/// Delete an Auto Scaling group with its instances, then its target groups and launch
/// template — each only if wpbackup created it (tagged): the group refused is an error of
/// kind `Invalid`, an untagged target group or template is left. Returns what was deleted.
pub(super) async fn retire_group(
    cloud: &Cloud,
    region: &str,
    group: &str,
) -> Result<Vec<String>, CloudError> {
    let g = cloud.web.describe_group(region, group).await?;
    cloud.web.delete_group(region, group).await?;
    let mut deleted = vec![group.to_string()];
    for tg in &g.target_group_arns {
        match cloud.web.delete_target_group(region, tg).await {
            Ok(()) => deleted.push(tg.clone()),
            Err(e) if matches!(e.kind, CloudErrorKind::Invalid | CloudErrorKind::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(t) = &g.launch_template {
        match cloud.web.delete_launch_template(region, &t.id).await {
            Ok(()) => deleted.push(t.id.clone()),
            Err(e) if matches!(e.kind, CloudErrorKind::Invalid | CloudErrorKind::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}
