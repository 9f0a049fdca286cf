//! The elastic web tier on AWS: Auto Scaling groups, EC2 launch templates, ALB target
//! groups and listeners. A restore always creates a *new* launch template with the full
//! data (never a version of the site's: moto fails groups on such versions with user data,
//! and a restored stack must not change the original's template).

use super::error::map_sdk;
use super::operations::Service;
use super::restore::refuse_unmanaged;
use super::AwsCloud;
use crate::cloud::web_tier::{
    Forward, GroupInfo, GroupInstance, GroupRequest, LaunchTemplateData, TargetGroupInfo,
    TargetHealth, TemplateRef, WebTiers,
};
use crate::cloud::{CloudError, CloudErrorKind, CloudResult, Tags};
use crate::domain::names::TAG_MANAGED;
use async_trait::async_trait;
use aws_sdk_autoscaling::types as asg;
use aws_sdk_ec2::types as ec2;
use aws_sdk_elasticloadbalancingv2::types as elb;

fn managed(tags: impl IntoIterator<Item = (Option<String>, Option<String>)>) -> bool {
    tags.into_iter()
        .any(|(k, v)| k.as_deref() == Some(TAG_MANAGED) && v.as_deref() == Some("true"))
}

fn not_found(op: &str, what: String) -> CloudError {
    CloudError::new(CloudErrorKind::NotFound, op, what)
}

fn group_info(g: &asg::AutoScalingGroup) -> GroupInfo {
    GroupInfo {
        name: g.auto_scaling_group_name().unwrap_or_default().to_string(),
        min_size: g.min_size().unwrap_or_default(),
        max_size: g.max_size().unwrap_or_default(),
        desired_capacity: g.desired_capacity().unwrap_or_default(),
        subnets: g
            .vpc_zone_identifier()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        target_group_arns: g.target_group_arns().to_vec(),
        launch_template: g.launch_template().map(|t| TemplateRef {
            id: t.launch_template_id().unwrap_or_default().to_string(),
            name: t.launch_template_name().unwrap_or_default().to_string(),
            version: t.version().unwrap_or("$Default").to_string(),
        }),
        health_check_type: g.health_check_type().map(str::to_string),
        health_check_grace_period: g.health_check_grace_period(),
        instances: g
            .instances()
            .iter()
            .map(|i| GroupInstance {
                id: i.instance_id().unwrap_or_default().to_string(),
                lifecycle_state: i
                    .lifecycle_state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                healthy: i.health_status() == Some("Healthy"),
            })
            .collect(),
        tags: g
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
    }
}

impl AwsCloud {
    /// A point of the group: an AMI of one InService instance (the first by id, so a
    /// retried run images the same one), with the group's settings as of now.
    pub(super) async fn create_group_point(
        &self,
        region: &str,
        group: &str,
        no_reboot: bool,
        name: &str,
        tags: &Tags,
    ) -> CloudResult<crate::cloud::ProviderPoint> {
        let g = self.describe_group(region, group).await?;
        let mut live: Vec<&GroupInstance> = g.instances.iter().filter(|i| i.in_service()).collect();
        live.sort_by(|a, b| a.id.cmp(&b.id));
        let imaged = live.first().ok_or_else(|| {
            CloudError::new(
                CloudErrorKind::Invalid,
                "CreateImage",
                format!("Auto Scaling group {group} has no InService instance to image"),
            )
        })?;
        let template = match &g.launch_template {
            Some(t) => self.launch_template_data(region, &t.id, &t.version).await?,
            None => LaunchTemplateData::default(),
        };
        let target_group = match g.target_group_arns.first() {
            Some(arn) => Some(self.describe_target_group(region, arn).await?),
            None => None,
        };
        let c = self.clients(region)?;
        let mut p =
            super::ec2::create_image(&c.ec2, region, &imaged.id, no_reboot, name, tags).await?;
        p.metadata.extra.extend(
            crate::cloud::web_tier::GroupPointSettings {
                imaged_instance: imaged.id.clone(),
                launch_template: template,
                min_size: g.min_size,
                max_size: g.max_size,
                desired_capacity: g.desired_capacity,
                subnets: g.subnets.clone(),
                health_check_type: g.health_check_type.clone(),
                health_check_grace_period: g.health_check_grace_period,
                target_group,
            }
            .to_extra(),
        );
        Ok(p)
    }

    /// The launch template named `name`, if there is one: (id, managed).
    async fn template_named(
        &self,
        region: &str,
        name: &str,
    ) -> CloudResult<Option<(String, bool)>> {
        let c = self.clients(region)?;
        let out = c
            .ec2
            .describe_launch_templates()
            .filters(
                ec2::Filter::builder()
                    .name("launch-template-name")
                    .values(name)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| map_sdk(Service::Ec2, "DescribeLaunchTemplates", e))?;
        Ok(out.launch_templates().first().map(|t| {
            (
                t.launch_template_id().unwrap_or_default().to_string(),
                managed(
                    t.tags()
                        .iter()
                        .map(|t| (t.key().map(str::to_string), t.value().map(str::to_string))),
                ),
            )
        }))
    }

    /// The target group named `name`, if there is one.
    async fn target_group_named(&self, region: &str, name: &str) -> CloudResult<Option<String>> {
        let c = self.clients(region)?;
        match c.elbv2.describe_target_groups().names(name).send().await {
            Ok(out) => Ok(out
                .target_groups()
                .first()
                .and_then(|t| t.target_group_arn())
                .map(str::to_string)),
            Err(e) => {
                let e = map_sdk(Service::Elbv2, "DescribeTargetGroups", e);
                if e.kind == CloudErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }
}

#[async_trait]
impl WebTiers for AwsCloud {
    async fn describe_group(&self, region: &str, name: &str) -> CloudResult<GroupInfo> {
        let c = self.clients(region)?;
        let out = c
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .map_err(|e| map_sdk(Service::AutoScaling, "DescribeAutoScalingGroups", e))?;
        out.auto_scaling_groups()
            .first()
            .map(group_info)
            .ok_or_else(|| {
                not_found(
                    "DescribeAutoScalingGroups",
                    format!("no Auto Scaling group {name} in {region}"),
                )
            })
    }

    async fn launch_template_data(
        &self,
        region: &str,
        template_id: &str,
        version: &str,
    ) -> CloudResult<LaunchTemplateData> {
        let c = self.clients(region)?;
        let out = c
            .ec2
            .describe_launch_template_versions()
            .launch_template_id(template_id)
            .versions(version)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Ec2, "DescribeLaunchTemplateVersions", e))?;
        let v = out.launch_template_versions().first().ok_or_else(|| {
            not_found(
                "DescribeLaunchTemplateVersions",
                format!("launch template {template_id} has no version {version}"),
            )
        })?;
        let d = v.launch_template_data();
        Ok(LaunchTemplateData {
            image_id: d.and_then(|d| d.image_id()).map(str::to_string),
            instance_type: d
                .and_then(|d| d.instance_type())
                .map(|t| t.as_str().to_string()),
            key_name: d.and_then(|d| d.key_name()).map(str::to_string),
            security_group_ids: d
                .map(|d| d.security_group_ids().to_vec())
                .unwrap_or_default(),
            iam_instance_profile: d
                .and_then(|d| d.iam_instance_profile())
                .and_then(|p| p.arn().or(p.name()).map(str::to_string)),
            user_data: d
                .and_then(|d| d.user_data())
                .and_then(|b| aws_smithy_types::base64::decode(b).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
        })
    }

    async fn create_launch_template(
        &self,
        region: &str,
        name: &str,
        data: &LaunchTemplateData,
        tags: &Tags,
    ) -> CloudResult<String> {
        if let Some((id, _)) = self.template_named(region, name).await? {
            return Ok(id);
        }
        let c = self.clients(region)?;
        let mut d = ec2::RequestLaunchTemplateData::builder()
            .set_image_id(data.image_id.clone())
            .set_key_name(data.key_name.clone())
            .set_user_data(
                data.user_data
                    .as_deref()
                    .map(aws_smithy_types::base64::encode),
            );
        if let Some(t) = &data.instance_type {
            d = d.instance_type(ec2::InstanceType::from(t.as_str()));
        }
        if !data.security_group_ids.is_empty() {
            d = d.set_security_group_ids(Some(data.security_group_ids.clone()));
        }
        if let Some(p) = &data.iam_instance_profile {
            let spec = ec2::LaunchTemplateIamInstanceProfileSpecificationRequest::builder();
            d = d.iam_instance_profile(if p.starts_with("arn:") {
                spec.arn(p).build()
            } else {
                spec.name(p).build()
            });
        }
        let mut spec =
            ec2::TagSpecification::builder().resource_type(ec2::ResourceType::LaunchTemplate);
        for (k, v) in tags {
            spec = spec.tags(ec2::Tag::builder().key(k).value(v).build());
        }
        let out = c
            .ec2
            .create_launch_template()
            .launch_template_name(name)
            .launch_template_data(d.build())
            .tag_specifications(spec.build())
            .send()
            .await
            .map_err(|e| map_sdk(Service::Ec2, "CreateLaunchTemplate", e))?;
        out.launch_template()
            .and_then(|t| t.launch_template_id())
            .map(str::to_string)
            .ok_or_else(|| {
                CloudError::new(
                    CloudErrorKind::Permanent,
                    "CreateLaunchTemplate",
                    "no launch template id returned",
                )
            })
    }

    async fn describe_target_group(&self, region: &str, arn: &str) -> CloudResult<TargetGroupInfo> {
        let c = self.clients(region)?;
        let out = c
            .elbv2
            .describe_target_groups()
            .target_group_arns(arn)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Elbv2, "DescribeTargetGroups", e))?;
        let t = out
            .target_groups()
            .first()
            .ok_or_else(|| not_found("DescribeTargetGroups", format!("no target group {arn}")))?;
        Ok(TargetGroupInfo {
            arn: t.target_group_arn().unwrap_or_default().to_string(),
            name: t.target_group_name().unwrap_or_default().to_string(),
            protocol: t.protocol().map(|p| p.as_str().to_string()),
            port: t.port(),
            vpc_id: t.vpc_id().map(str::to_string),
            health_check_protocol: t.health_check_protocol().map(|p| p.as_str().to_string()),
            health_check_port: t.health_check_port().map(str::to_string),
            health_check_path: t.health_check_path().map(str::to_string),
            health_check_interval_seconds: t.health_check_interval_seconds(),
            health_check_timeout_seconds: t.health_check_timeout_seconds(),
            healthy_threshold_count: t.healthy_threshold_count(),
            unhealthy_threshold_count: t.unhealthy_threshold_count(),
            matcher: t.matcher().and_then(|m| m.http_code()).map(str::to_string),
        })
    }

    async fn create_target_group(
        &self,
        region: &str,
        name: &str,
        like: &TargetGroupInfo,
        tags: &Tags,
    ) -> CloudResult<String> {
        if let Some(arn) = self.target_group_named(region, name).await? {
            return Ok(arn);
        }
        let c = self.clients(region)?;
        let mut req = c
            .elbv2
            .create_target_group()
            .name(name)
            .target_type(elb::TargetTypeEnum::Instance)
            .set_port(like.port)
            .set_vpc_id(like.vpc_id.clone())
            .set_health_check_port(like.health_check_port.clone())
            .set_health_check_path(like.health_check_path.clone())
            .set_health_check_interval_seconds(like.health_check_interval_seconds)
            .set_health_check_timeout_seconds(like.health_check_timeout_seconds)
            .set_healthy_threshold_count(like.healthy_threshold_count)
            .set_unhealthy_threshold_count(like.unhealthy_threshold_count)
            .set_protocol(like.protocol.as_deref().map(elb::ProtocolEnum::from))
            .set_health_check_protocol(
                like.health_check_protocol
                    .as_deref()
                    .map(elb::ProtocolEnum::from),
            );
        if let Some(m) = &like.matcher {
            req = req.matcher(elb::Matcher::builder().http_code(m).build());
        }
        for (k, v) in tags {
            req = req.tags(elb::Tag::builder().key(k).value(v).build());
        }
        let out = req
            .send()
            .await
            .map_err(|e| map_sdk(Service::Elbv2, "CreateTargetGroup", e))?;
        out.target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .map(str::to_string)
            .ok_or_else(|| {
                CloudError::new(
                    CloudErrorKind::Permanent,
                    "CreateTargetGroup",
                    "no target group returned",
                )
            })
    }

    async fn create_group(&self, region: &str, req: &GroupRequest) -> CloudResult<()> {
        match self.describe_group(region, &req.name).await {
            Ok(_) => return Ok(()),
            Err(e) if e.kind == CloudErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let c = self.clients(region)?;
        let mut call = c
            .autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(&req.name)
            .launch_template(
                asg::LaunchTemplateSpecification::builder()
                    .launch_template_id(&req.launch_template_id)
                    .version("$Default")
                    .build(),
            )
            .min_size(req.min_size)
            .max_size(req.max_size)
            .desired_capacity(req.desired_capacity)
            .vpc_zone_identifier(req.subnets.join(","))
            .set_target_group_arns(Some(req.target_group_arns.clone()))
            .set_health_check_type(req.health_check_type.clone())
            .set_health_check_grace_period(req.health_check_grace_period);
        for (k, v) in &req.tags {
            call = call.tags(
                asg::Tag::builder()
                    .key(k)
                    .value(v)
                    .resource_id(&req.name)
                    .resource_type("auto-scaling-group")
                    .propagate_at_launch(true)
                    .build(),
            );
        }
        match call.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = map_sdk(Service::AutoScaling, "CreateAutoScalingGroup", e);
                // Created by an earlier attempt between the describe and now.
                if e.kind == CloudErrorKind::AlreadyExists {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn target_health(
        &self,
        region: &str,
        target_group_arn: &str,
    ) -> CloudResult<Vec<TargetHealth>> {
        let c = self.clients(region)?;
        let out = c
            .elbv2
            .describe_target_health()
            .target_group_arn(target_group_arn)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Elbv2, "DescribeTargetHealth", e))?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .map(|d| TargetHealth {
                instance: d
                    .target()
                    .and_then(|t| t.id())
                    .unwrap_or_default()
                    .to_string(),
                port: d.target().and_then(|t| t.port()),
                state: d
                    .target_health()
                    .and_then(|h| h.state())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                reason: d
                    .target_health()
                    .and_then(|h| h.description().or(h.reason().map(|r| r.as_str())))
                    .map(str::to_string),
            })
            .collect())
    }

    async fn listener_forward(
        &self,
        region: &str,
        listener_arn: &str,
    ) -> CloudResult<Vec<Forward>> {
        let c = self.clients(region)?;
        let out = c
            .elbv2
            .describe_listeners()
            .listener_arns(listener_arn)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Elbv2, "DescribeListeners", e))?;
        let l = out
            .listeners()
            .first()
            .ok_or_else(|| not_found("DescribeListeners", format!("no listener {listener_arn}")))?;
        let forward = l
            .default_actions()
            .iter()
            .find(|a| a.r#type() == Some(&elb::ActionTypeEnum::Forward))
            .ok_or_else(|| {
                CloudError::new(
                    CloudErrorKind::Invalid,
                    "DescribeListeners",
                    format!(
                        "listener {listener_arn} does not forward to a target group (its default action is {}); \
                         name the listener that forwards to the web tier (usually HTTPS:443)",
                        l.default_actions()
                            .first()
                            .and_then(|a| a.r#type())
                            .map(|t| t.as_str())
                            .unwrap_or("none")
                    ),
                )
            })?;
        let tuples: Vec<Forward> = forward
            .forward_config()
            .map(|f| {
                f.target_groups()
                    .iter()
                    .filter_map(|t| {
                        Some(Forward {
                            target_group_arn: t.target_group_arn()?.to_string(),
                            weight: t.weight(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !tuples.is_empty() {
            return Ok(tuples);
        }
        Ok(forward
            .target_group_arn()
            .map(|arn| {
                vec![Forward {
                    target_group_arn: arn.to_string(),
                    weight: None,
                }]
            })
            .unwrap_or_default())
    }

    async fn set_listener_forward(
        &self,
        region: &str,
        listener_arn: &str,
        to: &[Forward],
    ) -> CloudResult<()> {
        let c = self.clients(region)?;
        let action = match to {
            [one] if one.weight.is_none() => elb::Action::builder()
                .r#type(elb::ActionTypeEnum::Forward)
                .target_group_arn(&one.target_group_arn)
                .build(),
            many => elb::Action::builder()
                .r#type(elb::ActionTypeEnum::Forward)
                .forward_config(
                    elb::ForwardActionConfig::builder()
                        .set_target_groups(Some(
                            many.iter()
                                .map(|f| {
                                    elb::TargetGroupTuple::builder()
                                        .target_group_arn(&f.target_group_arn)
                                        .set_weight(f.weight)
                                        .build()
                                })
                                .collect(),
                        ))
                        .build(),
                )
                .build(),
        };
        c.elbv2
            .modify_listener()
            .listener_arn(listener_arn)
            .default_actions(action)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Elbv2, "ModifyListener", e))?;
        Ok(())
    }

    async fn delete_group(&self, region: &str, name: &str) -> CloudResult<()> {
        let g = self.describe_group(region, name).await?;
        refuse_unmanaged(
            g.tags.get(TAG_MANAGED).map(String::as_str) == Some("true"),
            "DeleteAutoScalingGroup",
            name,
        )?;
        let c = self.clients(region)?;
        c.autoscaling
            .delete_auto_scaling_group()
            .auto_scaling_group_name(name)
            .force_delete(true)
            .send()
            .await
            .map_err(|e| map_sdk(Service::AutoScaling, "DeleteAutoScalingGroup", e))?;
        Ok(())
    }

    async fn delete_target_group(&self, region: &str, arn: &str) -> CloudResult<()> {
        let c = self.clients(region)?;
        let out = c
            .elbv2
            .describe_tags()
            .resource_arns(arn)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Elbv2, "DescribeTags", e))?;
        let is_managed = managed(out.tag_descriptions().iter().flat_map(|d| {
            d.tags()
                .iter()
                .map(|t| (t.key().map(str::to_string), t.value().map(str::to_string)))
        }));
        refuse_unmanaged(is_managed, "DeleteTargetGroup", arn)?;
        c.elbv2
            .delete_target_group()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Elbv2, "DeleteTargetGroup", e))?;
        Ok(())
    }

    async fn delete_launch_template(&self, region: &str, id: &str) -> CloudResult<()> {
        let c = self.clients(region)?;
        let out = c
            .ec2
            .describe_launch_templates()
            .launch_template_ids(id)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Ec2, "DescribeLaunchTemplates", e))?;
        let t = out.launch_templates().first().ok_or_else(|| {
            not_found(
                "DescribeLaunchTemplates",
                format!("no launch template {id}"),
            )
        })?;
        let is_managed = managed(
            t.tags()
                .iter()
                .map(|t| (t.key().map(str::to_string), t.value().map(str::to_string))),
        );
        refuse_unmanaged(is_managed, "DeleteLaunchTemplate", id)?;
        c.ec2
            .delete_launch_template()
            .launch_template_id(id)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Ec2, "DeleteLaunchTemplate", e))?;
        Ok(())
    }
}
