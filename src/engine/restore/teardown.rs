//! Drills: delete what the drill created (tagged resources only), then make sure it is
//! gone — every instance terminated, cluster and file system deleted or being deleted,
//! group and templates not found — and last the drill's security group, once nothing
//! uses it. The step's outputs list every resource with its deletion: the drill report.

use super::execute::{StepAct, StepCtx};
use super::*;
use crate::cloud::ResourceState;
use crate::domain::model::PointKind;
use crate::domain::restore_plan::{LaunchInstance, Teardown};

/// One resource a drill created, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DrillResource {
    /// instance | aurora-cluster | efs-file-system | auto-scaling-group | target-group |
    /// launch-template | security-group
    pub kind: String,
    pub id: String,
    /// The plan step that created it.
    pub step: String,
    pub deleted: bool,
    /// Read back after the deletion: not found, or terminated / being deleted.
    pub gone: bool,
}

impl StepCtx {
    pub(super) async fn teardown(&self, s: &Teardown, out: &mut Map<String, Value>) -> StepAct {
        let Teardown { steps } = s;
        let region = self.plan.region.clone();
        let mut resources: Vec<DrillResource> = out
            .get("resources")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        // What the drill made, from its steps' outputs (the security group last: the
        // others must be gone before it can be deleted).
        let mut made: Vec<(String, String, String)> = Vec::new();
        let mut group_step = None;
        for key in steps {
            let Some(step) = self.plan.step(key) else {
                continue;
            };
            let out_of = |name: &str| self.dep_output(key, name);
            match &step.action {
                Action::LaunchInstance(LaunchInstance { .. }) => {
                    if let Some(i) = out_of("instance") {
                        made.push(("instance".into(), i, key.clone()));
                    }
                }
                Action::RestoreCluster(_) => {
                    if let Some(c) = out_of("cluster") {
                        made.push(("aurora-cluster".into(), c, key.clone()));
                    }
                }
                Action::RestoreFileSystem(_) => {
                    if let Some(f) = out_of("file_system") {
                        made.push(("efs-file-system".into(), f, key.clone()));
                    }
                }
                Action::LaunchGroup(_) => {
                    let instances = self
                        .outputs
                        .get(key)
                        .map(|o| Self::recorded_list(o, "instances"))
                        .unwrap_or_default();
                    if let Some(g) = out_of("group") {
                        made.push(("auto-scaling-group".into(), g, key.clone()));
                    }
                    for i in instances {
                        made.push(("group-instance".into(), i, key.clone()));
                    }
                    if let Some(t) = out_of("target_group") {
                        made.push(("target-group".into(), t, key.clone()));
                    }
                    if let Some(t) = out_of("launch_template") {
                        made.push(("launch-template".into(), t, key.clone()));
                    }
                }
                Action::Isolate(_) => group_step = Some(key.clone()),
                _ => {}
            }
        }
        if let Some(key) = &group_step {
            if let Some(g) = self.dep_output(key, "security_group") {
                made.push(("security-group".into(), g, key.clone()));
            }
        }
        for (kind, id, step) in &made {
            if !resources.iter().any(|r| &r.id == id) {
                resources.push(DrillResource {
                    kind: kind.clone(),
                    id: id.clone(),
                    step: step.clone(),
                    deleted: false,
                    gone: false,
                });
            }
        }
        for i in 0..resources.len() {
            if resources[i].gone {
                continue;
            }
            let r = resources[i].clone();
            if r.kind == "security-group" {
                // Its users' network interfaces go away a while after them.
                for other in resources.iter().filter(|o| o.kind != "security-group") {
                    if !other.gone {
                        return Err(format!(
                            "{} {} is not gone yet; the security group {} is kept until it is",
                            other.kind, other.id, r.id
                        )
                        .into());
                    }
                }
            }
            if !r.deleted {
                self.delete(&region, &r).await?;
                resources[i].deleted = true;
                self.progress
                    .note(&self.step.key, &format!("deleted {} {}", r.kind, r.id));
                out.insert("resources".into(), json!(resources));
                self.save(out).await?;
            }
            self.wait_gone(&region, &r).await?;
            resources[i].gone = true;
            out.insert("resources".into(), json!(resources));
            self.save(out).await?;
        }
        let deleted: Vec<String> = resources
            .iter()
            .filter(|r| r.deleted)
            .map(|r| r.id.clone())
            .collect();
        out.insert("deleted".into(), json!(deleted));
        out.insert("resources".into(), json!(resources));
        out.insert("verified_gone".into(), json!(true));
        Ok((
            StepState::Done,
            if resources.is_empty() {
                "created nothing to delete".to_string()
            } else {
                format!(
                    "deleted and verified gone: {}",
                    resources
                        .iter()
                        .map(|r| format!("{} {}", r.kind, r.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        ))
    }

    /// Delete one resource (tagged wpbackup's, or the adapter refuses); already gone is fine.
    async fn delete(&self, region: &str, r: &DrillResource) -> Result<(), CloudError> {
        let restores = &self.cloud.restores;
        let web = &self.cloud.web;
        let res = match r.kind.as_str() {
            "instance" => {
                let kind = self.instance_kind(&r.step);
                restores.delete_instance(kind, region, &r.id).await
            }
            "aurora-cluster" => restores.delete_cluster(region, &r.id).await,
            "efs-file-system" => restores.delete_file_system(region, &r.id).await,
            "auto-scaling-group" => web.delete_group(region, &r.id).await,
            // Deleted with their group.
            "group-instance" => Ok(()),
            "target-group" => web.delete_target_group(region, &r.id).await,
            "launch-template" => web.delete_launch_template(region, &r.id).await,
            "security-group" => {
                let net = self.cloud.net.clone();
                let id = r.id.clone();
                let region = region.to_string();
                // Still in use while the interfaces of what was deleted linger: waited for.
                crate::cloud::wait::until_ready(
                    &format!("deletion of security group {id}"),
                    self.timeout(),
                    self.interval(),
                    || {
                        let net = net.clone();
                        let id = id.clone();
                        let region = region.clone();
                        async move {
                            let state = match net.delete_security_group(&region, &id).await {
                                Ok(()) => ResourceState::Ready,
                                Err(e) if e.kind == CloudErrorKind::NotFound => {
                                    ResourceState::Ready
                                }
                                Err(e) if e.is_retryable() => ResourceState::Pending,
                                Err(e) => return Err(e),
                            };
                            Ok(crate::cloud::ResourceStatus {
                                id: id.clone(),
                                state,
                                address: None,
                                detail: Some("still used by a network interface".into()),
                            })
                        }
                    },
                )
                .await
                .map(|_| ())
                .map_err(|e| {
                    CloudError::new(
                        CloudErrorKind::Transient,
                        "DeleteSecurityGroup",
                        e.to_string(),
                    )
                })
            }
            other => Err(CloudError::new(
                CloudErrorKind::Invalid,
                "teardown",
                format!("unknown resource kind {other}"),
            )),
        };
        match res {
            Ok(()) => Ok(()),
            Err(e) if e.kind == CloudErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn instance_kind(&self, step: &str) -> PointKind {
        match self.plan.step(step).map(|s| &s.action) {
            Some(Action::LaunchInstance(l)) => l.point_kind,
            _ => PointKind::Ec2Ami,
        }
    }

    /// Read the resource back until the cloud says it is gone (not found, terminated,
    /// being deleted).
    async fn wait_gone(&self, region: &str, r: &DrillResource) -> Result<(), String> {
        let cloud = self.cloud.clone();
        let kind = self.instance_kind(&r.step);
        let r2 = r.clone();
        let region = region.to_string();
        crate::cloud::wait::until_ready(
            &format!("{} {} to be gone", r.kind, r.id),
            self.timeout(),
            self.interval(),
            || {
                let cloud = cloud.clone();
                let r = r2.clone();
                let region = region.clone();
                async move {
                    let found: Result<ResourceState, CloudError> = match r.kind.as_str() {
                        "instance" => cloud
                            .restores
                            .describe_instance(kind, &region, &r.id)
                            .await
                            .map(|s| s.state),
                        "group-instance" => cloud
                            .restores
                            .describe_instance(PointKind::Ec2Ami, &region, &r.id)
                            .await
                            .map(|s| s.state),
                        "aurora-cluster" => cloud
                            .restores
                            .describe_cluster(&region, &r.id)
                            .await
                            .map(|s| s.state),
                        "efs-file-system" => cloud
                            .restores
                            .mount_targets(&region, &r.id)
                            .await
                            .map(|_| ResourceState::Ready),
                        "auto-scaling-group" => cloud
                            .web
                            .describe_group(&region, &r.id)
                            .await
                            .map(|_| ResourceState::Ready),
                        "target-group" => cloud
                            .web
                            .describe_target_group(&region, &r.id)
                            .await
                            .map(|_| ResourceState::Ready),
                        "launch-template" => cloud
                            .web
                            .launch_template_data(&region, &r.id, "$Default")
                            .await
                            .map(|_| ResourceState::Ready),
                        "security-group" => cloud
                            .net
                            .describe_security_group(&region, &r.id)
                            .await
                            .map(|_| ResourceState::Ready),
                        _ => Ok(ResourceState::Gone),
                    };
                    let state = match found {
                        Err(e) if e.kind == CloudErrorKind::NotFound => ResourceState::Ready,
                        Err(e) => return Err(e),
                        Ok(ResourceState::Gone) => ResourceState::Ready,
                        Ok(_) => ResourceState::Pending,
                    };
                    Ok(crate::cloud::ResourceStatus {
                        id: r.id.clone(),
                        state,
                        address: None,
                        detail: Some("still exists".into()),
                    })
                }
            },
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("{} {} was deleted but is not gone: {e}", r.kind, r.id))
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
