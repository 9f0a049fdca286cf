//! The simulator's elastic web tier: launch templates, Auto Scaling groups whose
//! instances boot from the template (its AMI's content, its user data — so they are wired
//! to what the user data names), target groups whose health follows the instances (not
//! ready: `initial`; failed, or wired to damaged data: `unhealthy` with status 500), and
//! listeners that forward to target groups.

use super::restore::{key_of, SimResource};
use super::{sim_error, SimCloud, SimState};
use crate::cloud::web_tier::{
    Forward, GroupInfo, GroupInstance, GroupRequest, LaunchTemplateData, TargetGroupInfo,
    TargetHealth, TemplateRef, WebTiers,
};
use crate::cloud::{CloudErrorKind, CloudResult, Tags};
use crate::domain::model::ComponentKind;
use crate::domain::names::TAG_MANAGED;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SimWebTier {
    /// By `region/id`.
    templates: BTreeMap<String, SimTemplate>,
    /// By `region/name`.
    groups: BTreeMap<String, SimGroup>,
    /// By ARN.
    target_groups: BTreeMap<String, SimTargetGroup>,
    /// By ARN: where the listener forwards.
    listeners: BTreeMap<String, Vec<Forward>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SimTemplate {
    id: String,
    name: String,
    data: LaunchTemplateData,
    tags: Tags,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SimGroup {
    request: GroupRequest,
    instances: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SimTargetGroup {
    info: TargetGroupInfo,
    tags: Tags,
}

fn is_managed(tags: &Tags) -> bool {
    tags.get(TAG_MANAGED).map(String::as_str) == Some("true")
}

fn refuse_unmanaged(tags: &Tags, op: &str, id: &str) -> CloudResult<()> {
    if is_managed(tags) {
        Ok(())
    } else {
        Err(sim_error(
            CloudErrorKind::Invalid,
            op,
            format!("{id} is not tagged {TAG_MANAGED}=true; wpbackup deletes only what it created"),
        ))
    }
}

fn digest(s: &str) -> String {
    super::content::digest_of(s)[..12].to_string()
}

impl SimState {
    /// Launch `group`'s missing instances (to its desired capacity) from its template.
    /// `live`: the site's original group, whose instances serve the group's live content
    /// (damage included); otherwise they hold the content of the AMI they boot from.
    fn fill_group(
        &mut self,
        region: &str,
        name: &str,
        ready_at: DateTime<Utc>,
        live: bool,
    ) -> CloudResult<()> {
        let key = key_of(region, name);
        let Some(g) = self.web.groups.get(&key).cloned() else {
            return Ok(());
        };
        let t = self
            .web
            .templates
            .get(&key_of(region, &g.request.launch_template_id))
            .cloned()
            .ok_or_else(|| {
                sim_error(
                    CloudErrorKind::Invalid,
                    "CreateAutoScalingGroup",
                    format!("no launch template {}", g.request.launch_template_id),
                )
            })?;
        let image = t.data.image_id.clone().unwrap_or_default();
        let content = self
            .points
            .values()
            .find(|p| !p.deleted && p.provider_id == image)
            .map(|p| p.content.clone())
            .unwrap_or_else(|| self.content_of(ComponentKind::Ec2Instance, &image, ready_at));
        let mut ids = g.instances.clone();
        let mut n = ids.len();
        while (ids.len() as i32) < g.request.desired_capacity {
            let id = format!("i-sim{}", digest(&format!("{region}/{name}/{n}")));
            n += 1;
            let r = SimResource {
                content: (!live).then(|| content.clone()),
                live_of: live.then(|| name.to_string()),
                tags: g.request.tags.clone(),
                user_data: t.data.user_data.clone(),
                security_groups: t.data.security_group_ids.clone(),
                ..SimResource::new("instance", region, &id, ready_at)
            };
            self.resources.insert(key_of(region, &id), r);
            ids.push(id);
        }
        if let Some(g) = self.web.groups.get_mut(&key) {
            g.instances = ids;
        }
        Ok(())
    }

    /// What a point of `group` records besides its AMI (see
    /// [`crate::cloud::web_tier::GroupPointSettings`]); invalid when no instance is
    /// InService.
    pub(super) fn group_settings(
        &self,
        region: &str,
        group: &str,
        now: DateTime<Utc>,
    ) -> CloudResult<BTreeMap<String, String>> {
        let g = self.web.groups.get(&key_of(region, group)).ok_or_else(|| {
            sim_error(
                CloudErrorKind::NotFound,
                "DescribeAutoScalingGroups",
                format!("no Auto Scaling group {group} in {region}"),
            )
        })?;
        let imaged = g
            .instances
            .iter()
            .find(|i| {
                self.resources
                    .get(&key_of(region, i))
                    .is_some_and(|r| !r.deleted && !r.failed && now >= r.ready_at)
            })
            .ok_or_else(|| {
                sim_error(
                    CloudErrorKind::Invalid,
                    "CreateImage",
                    format!("Auto Scaling group {group} has no InService instance to image"),
                )
            })?;
        let template = self
            .web
            .templates
            .get(&key_of(region, &g.request.launch_template_id))
            .map(|t| t.data.clone())
            .unwrap_or_default();
        let target_group = g
            .request
            .target_group_arns
            .first()
            .and_then(|arn| self.web.target_groups.get(arn))
            .map(|t| t.info.clone());
        Ok(crate::cloud::web_tier::GroupPointSettings {
            imaged_instance: imaged.clone(),
            launch_template: template,
            min_size: g.request.min_size,
            max_size: g.request.max_size,
            desired_capacity: g.request.desired_capacity,
            subnets: g.request.subnets.clone(),
            health_check_type: g.request.health_check_type.clone(),
            health_check_grace_period: g.request.health_check_grace_period,
            target_group,
        }
        .to_extra())
    }

    fn target_state(
        &self,
        region: &str,
        instance: &str,
        now: DateTime<Utc>,
    ) -> (String, Option<String>) {
        match self.resources.get(&key_of(region, instance)) {
            None => ("unavailable".into(), Some("Target.NotRegistered".into())),
            Some(r) if r.deleted => (
                "draining".into(),
                Some("Target.DeregistrationInProgress".into()),
            ),
            Some(r) if r.failed => ("unhealthy".into(), Some("Target.FailedHealthChecks".into())),
            Some(r) if now < r.ready_at => {
                ("initial".into(), Some("Elb.RegistrationInProgress".into()))
            }
            Some(r) => match r
                .user_data
                .as_deref()
                .and_then(|ud| self.wiring_damage(region, ud, now))
            {
                Some(why) => (
                    "unhealthy".into(),
                    Some(format!(
                        "Health checks failed with these codes: [500] ({why})"
                    )),
                ),
                None => ("healthy".into(), None),
            },
        }
    }
}

impl SimCloud {
    /// A site's original web tier (as the operator built it): its launch template, target
    /// group, listener and group of `size` instances. No-op once the group exists.
    #[allow(clippy::too_many_arguments)]
    pub fn seed_web_tier(
        &self,
        region: &str,
        group: &str,
        listener_arn: &str,
        image: &str,
        user_data: Option<String>,
        size: i32,
        subnets: &[String],
    ) -> CloudResult<()> {
        let ready = super::restore::origin();
        self.with_state(|s| {
            if s.web.groups.contains_key(&key_of(region, group)) {
                return Ok(());
            }
            let template = format!("lt-{}", digest(group));
            s.web.templates.insert(
                key_of(region, &template),
                SimTemplate {
                    id: template.clone(),
                    name: format!("{group}-template"),
                    data: LaunchTemplateData {
                        image_id: Some(image.to_string()),
                        instance_type: Some("t3.medium".into()),
                        user_data,
                        ..Default::default()
                    },
                    tags: Tags::new(),
                },
            );
            let tg = format!(
                "arn:aws:elasticloadbalancing:{region}:000000000000:targetgroup/{group}/{}",
                digest(&format!("tg/{group}"))
            );
            s.web.target_groups.insert(
                tg.clone(),
                SimTargetGroup {
                    info: TargetGroupInfo {
                        arn: tg.clone(),
                        name: group.to_string(),
                        protocol: Some("HTTP".into()),
                        port: Some(80),
                        vpc_id: Some("vpc-sim".into()),
                        health_check_path: Some("/wp-login.php".into()),
                        matcher: Some("200".into()),
                        ..Default::default()
                    },
                    tags: Tags::new(),
                },
            );
            s.web.listeners.insert(
                listener_arn.to_string(),
                vec![Forward {
                    target_group_arn: tg.clone(),
                    weight: None,
                }],
            );
            s.web.groups.insert(
                key_of(region, group),
                SimGroup {
                    request: GroupRequest {
                        name: group.to_string(),
                        launch_template_id: template,
                        min_size: size,
                        max_size: size * 2,
                        desired_capacity: size,
                        subnets: subnets.to_vec(),
                        target_group_arns: vec![tg],
                        health_check_type: Some("ELB".into()),
                        health_check_grace_period: Some(300),
                        tags: Tags::new(),
                    },
                    instances: vec![],
                },
            );
            s.fill_group(region, group, ready, true)
        })?
    }

    /// The instances a listener sends visitors to now (for `sim content`).
    pub fn listener_instances(&self, region: &str, listener_arn: &str) -> CloudResult<Vec<String>> {
        self.with_state(|s| {
            let tgs: Vec<String> = s
                .web
                .listeners
                .get(listener_arn)
                .map(|f| f.iter().map(|f| f.target_group_arn.clone()).collect())
                .unwrap_or_default();
            let prefix = format!("{region}/");
            s.web
                .groups
                .iter()
                .filter(|(k, g)| {
                    k.starts_with(&prefix)
                        && g.request.target_group_arns.iter().any(|t| tgs.contains(t))
                })
                .map(|(_, g)| g)
                .flat_map(|g| g.instances.clone())
                .filter(|i| {
                    s.resources
                        .get(&key_of(region, i))
                        .is_some_and(|r| !r.deleted)
                })
                .collect()
        })
    }
}

#[async_trait]
impl WebTiers for SimCloud {
    async fn describe_group(&self, region: &str, name: &str) -> CloudResult<GroupInfo> {
        let now = self.clock.now();
        self.faulted(
            Some(name),
            super::FaultOp::Describe,
            "DescribeAutoScalingGroups",
            |s, _, _| {
                let g = s.web.groups.get(&key_of(region, name)).ok_or_else(|| {
                    sim_error(
                        CloudErrorKind::NotFound,
                        "DescribeAutoScalingGroups",
                        format!("no Auto Scaling group {name} in {region}"),
                    )
                })?;
                let t = s
                    .web
                    .templates
                    .get(&key_of(region, &g.request.launch_template_id));
                Ok(GroupInfo {
                    name: name.to_string(),
                    min_size: g.request.min_size,
                    max_size: g.request.max_size,
                    desired_capacity: g.request.desired_capacity,
                    subnets: g.request.subnets.clone(),
                    target_group_arns: g.request.target_group_arns.clone(),
                    launch_template: t.map(|t| TemplateRef {
                        id: t.id.clone(),
                        name: t.name.clone(),
                        version: "$Default".into(),
                    }),
                    health_check_type: g.request.health_check_type.clone(),
                    health_check_grace_period: g.request.health_check_grace_period,
                    instances: g
                        .instances
                        .iter()
                        .filter_map(|i| s.resources.get(&key_of(region, i)))
                        .filter(|r| !r.deleted)
                        .map(|r| GroupInstance {
                            id: r.id.clone(),
                            lifecycle_state: if now < r.ready_at {
                                "Pending".into()
                            } else {
                                "InService".into()
                            },
                            healthy: !r.failed,
                        })
                        .collect(),
                    tags: g.request.tags.clone(),
                })
            },
        )
        .await
    }

    async fn launch_template_data(
        &self,
        region: &str,
        template_id: &str,
        _version: &str,
    ) -> CloudResult<LaunchTemplateData> {
        self.faulted(
            None,
            super::FaultOp::Describe,
            "DescribeLaunchTemplateVersions",
            |s, _, _| {
                s.web
                    .templates
                    .get(&key_of(region, template_id))
                    .map(|t| t.data.clone())
                    .ok_or_else(|| {
                        sim_error(
                            CloudErrorKind::NotFound,
                            "DescribeLaunchTemplateVersions",
                            format!("no launch template {template_id}"),
                        )
                    })
            },
        )
        .await
    }

    async fn create_launch_template(
        &self,
        region: &str,
        name: &str,
        data: &LaunchTemplateData,
        tags: &Tags,
    ) -> CloudResult<String> {
        self.faulted(
            None,
            super::FaultOp::Create,
            "CreateLaunchTemplate",
            |s, _, _| {
                if let Some(t) = s.web.templates.values().find(|t| t.name == name) {
                    return Ok(t.id.clone());
                }
                let id = format!("lt-{}", digest(&format!("{region}/{name}")));
                s.web.templates.insert(
                    key_of(region, &id),
                    SimTemplate {
                        id: id.clone(),
                        name: name.to_string(),
                        data: data.clone(),
                        tags: tags.clone(),
                    },
                );
                Ok(id)
            },
        )
        .await
    }

    async fn describe_target_group(
        &self,
        _region: &str,
        arn: &str,
    ) -> CloudResult<TargetGroupInfo> {
        self.faulted(
            None,
            super::FaultOp::Describe,
            "DescribeTargetGroups",
            |s, _, _| {
                s.web
                    .target_groups
                    .get(arn)
                    .map(|t| t.info.clone())
                    .ok_or_else(|| {
                        sim_error(
                            CloudErrorKind::NotFound,
                            "DescribeTargetGroups",
                            format!("no target group {arn}"),
                        )
                    })
            },
        )
        .await
    }

    async fn create_target_group(
        &self,
        region: &str,
        name: &str,
        like: &TargetGroupInfo,
        tags: &Tags,
    ) -> CloudResult<String> {
        self.faulted(
            None,
            super::FaultOp::Create,
            "CreateTargetGroup",
            |s, _, _| {
                if let Some(t) = s.web.target_groups.values().find(|t| t.info.name == name) {
                    return Ok(t.info.arn.clone());
                }
                let arn = format!(
                    "arn:aws:elasticloadbalancing:{region}:000000000000:targetgroup/{name}/{}",
                    digest(&format!("tg/{name}"))
                );
                s.web.target_groups.insert(
                    arn.clone(),
                    SimTargetGroup {
                        info: TargetGroupInfo {
                            arn: arn.clone(),
                            name: name.to_string(),
                            ..like.clone()
                        },
                        tags: tags.clone(),
                    },
                );
                Ok(arn)
            },
        )
        .await
    }

    async fn create_group(&self, region: &str, req: &GroupRequest) -> CloudResult<()> {
        let ready_at = self.restored_ready_at("group", self.clock.now());
        self.faulted(
            None,
            super::FaultOp::Create,
            "CreateAutoScalingGroup",
            |s, fail, _| {
                let key = key_of(region, &req.name);
                if s.web.groups.contains_key(&key) {
                    return Ok(());
                }
                for tg in &req.target_group_arns {
                    if !s.web.target_groups.contains_key(tg) {
                        return Err(sim_error(
                            CloudErrorKind::Invalid,
                            "CreateAutoScalingGroup",
                            format!("no target group {tg}"),
                        ));
                    }
                }
                s.web.groups.insert(
                    key,
                    SimGroup {
                        request: req.clone(),
                        instances: vec![],
                    },
                );
                s.fill_group(region, &req.name, ready_at, false)?;
                if fail {
                    // A faulted launch: the instances never come up healthy.
                    let ids = s.web.groups[&key_of(region, &req.name)].instances.clone();
                    for i in ids {
                        if let Some(r) = s.resources.get_mut(&key_of(region, &i)) {
                            r.failed = true;
                        }
                    }
                }
                Ok(())
            },
        )
        .await
    }

    async fn target_health(
        &self,
        region: &str,
        target_group_arn: &str,
    ) -> CloudResult<Vec<TargetHealth>> {
        let now = self.clock.now();
        self.faulted(
            None,
            super::FaultOp::Describe,
            "DescribeTargetHealth",
            |s, _, _| {
                if !s.web.target_groups.contains_key(target_group_arn) {
                    return Err(sim_error(
                        CloudErrorKind::NotFound,
                        "DescribeTargetHealth",
                        format!("no target group {target_group_arn}"),
                    ));
                }
                let port = s.web.target_groups[target_group_arn].info.port;
                Ok(s.web
                    .groups
                    .values()
                    .filter(|g| {
                        g.request
                            .target_group_arns
                            .iter()
                            .any(|t| t == target_group_arn)
                    })
                    .flat_map(|g| g.instances.clone())
                    .map(|i| {
                        let (state, reason) = s.target_state(region, &i, now);
                        TargetHealth {
                            instance: i,
                            port,
                            state,
                            reason,
                        }
                    })
                    .collect())
            },
        )
        .await
    }

    async fn listener_forward(
        &self,
        _region: &str,
        listener_arn: &str,
    ) -> CloudResult<Vec<Forward>> {
        self.faulted(
            None,
            super::FaultOp::Describe,
            "DescribeListeners",
            |s, _, _| {
                s.web.listeners.get(listener_arn).cloned().ok_or_else(|| {
                    sim_error(
                        CloudErrorKind::NotFound,
                        "DescribeListeners",
                        format!("no listener {listener_arn}"),
                    )
                })
            },
        )
        .await
    }

    async fn set_listener_forward(
        &self,
        _region: &str,
        listener_arn: &str,
        to: &[Forward],
    ) -> CloudResult<()> {
        self.faulted(None, super::FaultOp::Any, "ModifyListener", |s, _, _| {
            for f in to {
                if !s.web.target_groups.contains_key(&f.target_group_arn) {
                    return Err(sim_error(
                        CloudErrorKind::Invalid,
                        "ModifyListener",
                        format!("no target group {}", f.target_group_arn),
                    ));
                }
            }
            let l = s.web.listeners.get_mut(listener_arn).ok_or_else(|| {
                sim_error(
                    CloudErrorKind::NotFound,
                    "ModifyListener",
                    format!("no listener {listener_arn}"),
                )
            })?;
            *l = to.to_vec();
            Ok(())
        })
        .await
    }

    async fn delete_group(&self, region: &str, name: &str) -> CloudResult<()> {
        self.faulted(
            None,
            super::FaultOp::Delete,
            "DeleteAutoScalingGroup",
            |s, _, _| {
                let key = key_of(region, name);
                let g = s.web.groups.get(&key).ok_or_else(|| {
                    sim_error(
                        CloudErrorKind::NotFound,
                        "DeleteAutoScalingGroup",
                        format!("no Auto Scaling group {name}"),
                    )
                })?;
                refuse_unmanaged(&g.request.tags, "DeleteAutoScalingGroup", name)?;
                let g = s.web.groups.remove(&key).expect("checked");
                for i in g.instances {
                    if let Some(r) = s.resources.get_mut(&key_of(region, &i)) {
                        r.deleted = true;
                    }
                }
                Ok(())
            },
        )
        .await
    }

    async fn delete_target_group(&self, _region: &str, arn: &str) -> CloudResult<()> {
        self.faulted(
            None,
            super::FaultOp::Delete,
            "DeleteTargetGroup",
            |s, _, _| {
                let t = s.web.target_groups.get(arn).ok_or_else(|| {
                    sim_error(
                        CloudErrorKind::NotFound,
                        "DeleteTargetGroup",
                        format!("no target group {arn}"),
                    )
                })?;
                refuse_unmanaged(&t.tags, "DeleteTargetGroup", arn)?;
                let in_use = s
                    .web
                    .listeners
                    .values()
                    .flatten()
                    .any(|f| f.target_group_arn == arn);
                if in_use {
                    return Err(sim_error(
                        CloudErrorKind::Invalid,
                        "DeleteTargetGroup",
                        format!("target group {arn} is currently in use by a listener"),
                    ));
                }
                s.web.target_groups.remove(arn);
                Ok(())
            },
        )
        .await
    }

    async fn delete_launch_template(&self, region: &str, id: &str) -> CloudResult<()> {
        self.faulted(
            None,
            super::FaultOp::Delete,
            "DeleteLaunchTemplate",
            |s, _, _| {
                let key = key_of(region, id);
                let t = s.web.templates.get(&key).ok_or_else(|| {
                    sim_error(
                        CloudErrorKind::NotFound,
                        "DeleteLaunchTemplate",
                        format!("no launch template {id}"),
                    )
                })?;
                refuse_unmanaged(&t.tags, "DeleteLaunchTemplate", id)?;
                s.web.templates.remove(&key);
                Ok(())
            },
        )
        .await
    }
}
