//! Restore-side operations on AWS: launch from AMIs and Lightsail snapshots, Aurora
//! point-in-time and snapshot restores (cluster, then its instance), renames, EFS restore
//! jobs, moving the static/Elastic IP, and S3 version history with non-destructive reverts.

use super::error::map_sdk;
use super::operations::Service;
use super::{to_chrono, AwsCloud};
use crate::cloud::{
    CloudError, CloudErrorKind, CloudResult, ClusterRestore, ClusterSource, LaunchRequest,
    ObjectVersion, ProviderPoint, ResourceState, ResourceStatus, Restores,
};
use crate::domain::model::PointKind;
use crate::domain::names::TAG_MANAGED;
use crate::domain::site::EntryPoint;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

fn ec2_tags(
    resource: aws_sdk_ec2::types::ResourceType,
    req: &LaunchRequest,
) -> aws_sdk_ec2::types::TagSpecification {
    let mut spec = aws_sdk_ec2::types::TagSpecification::builder().resource_type(resource);
    spec = spec.tags(
        aws_sdk_ec2::types::Tag::builder()
            .key("Name")
            .value(&req.name)
            .build(),
    );
    for (k, v) in &req.tags {
        spec = spec.tags(aws_sdk_ec2::types::Tag::builder().key(k).value(v).build());
    }
    spec.build()
}

fn rds_tags(tags: &crate::cloud::Tags) -> Vec<aws_sdk_rds::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// wpbackup deletes only what it created.
pub(super) fn refuse_unmanaged(managed: bool, op: &str, id: &str) -> CloudResult<()> {
    if managed {
        return Ok(());
    }
    Err(CloudError::new(
        CloudErrorKind::Invalid,
        op,
        format!(
            "{id} is not tagged {TAG_MANAGED}=true; wpbackup deletes only resources it created"
        ),
    ))
}

/// An ALB listener points at a target group, not an instance: the web tier's cutover
/// switches it ([`crate::cloud::web_tier::WebTiers::set_listener_forward`]).
pub(crate) fn listener_is_not_an_address(op: &str) -> CloudError {
    CloudError::new(
        CloudErrorKind::Invalid,
        op,
        "an ALB listener forwards to a target group, not to one instance; it is switched by the web tier's cutover",
    )
}

fn unsupported(op: &str, what: &str) -> CloudError {
    CloudError::new(
        CloudErrorKind::Invalid,
        op,
        format!("{what} cannot be launched as an instance"),
    )
}

fn ec2_instance_status(i: &aws_sdk_ec2::types::Instance) -> ResourceStatus {
    use aws_sdk_ec2::types::InstanceStateName as S;
    let state = match i.state().and_then(|s| s.name()) {
        Some(S::Running) => ResourceState::Ready,
        Some(S::Pending) => ResourceState::Pending,
        Some(S::Terminated) | Some(S::ShuttingDown) => ResourceState::Gone,
        _ => ResourceState::Failed,
    };
    ResourceStatus {
        id: i.instance_id().unwrap_or_default().to_string(),
        state,
        address: i
            .public_ip_address()
            .or(i.private_ip_address())
            .map(str::to_string),
        detail: i
            .state_reason()
            .and_then(|r| r.message())
            .map(str::to_string),
    }
}

fn cluster_status(c: &aws_sdk_rds::types::DbCluster) -> ResourceStatus {
    let state = match c.status() {
        Some("available") => ResourceState::Ready,
        Some("creating")
        | Some("backing-up")
        | Some("modifying")
        | Some("renaming")
        | Some("resetting-master-credentials")
        | Some("upgrading") => ResourceState::Pending,
        Some("deleting") => ResourceState::Gone,
        _ => ResourceState::Failed,
    };
    ResourceStatus {
        id: c.db_cluster_identifier().unwrap_or_default().to_string(),
        state,
        address: c.endpoint().map(str::to_string),
        detail: c.status().map(str::to_string),
    }
}

/// A DB instance's state: `available` is ready; the states it passes through on its way
/// (creating, backing-up, configuring-…, modifying, rebooting…) pending; the ones it does
/// not come back from failed.
fn db_instance_status(id: &str, i: &aws_sdk_rds::types::DbInstance) -> ResourceStatus {
    let status = i.db_instance_status();
    let state = match status {
        Some("available") => ResourceState::Ready,
        Some("deleting") => ResourceState::Gone,
        Some("failed")
        | Some("incompatible-parameters")
        | Some("incompatible-network")
        | Some("incompatible-restore")
        | Some("inaccessible-encryption-credentials")
        | Some("storage-full") => ResourceState::Failed,
        _ => ResourceState::Pending,
    };
    ResourceStatus {
        id: id.to_string(),
        state,
        address: i.endpoint().and_then(|e| e.address()).map(str::to_string),
        detail: status.map(str::to_string),
    }
}

#[async_trait]
impl Restores for AwsCloud {
    async fn launch_instance(
        &self,
        point: &ProviderPoint,
        req: &LaunchRequest,
    ) -> CloudResult<ResourceStatus> {
        let c = self.clients(&point.region)?;
        match point.kind {
            PointKind::Ec2Ami => {
                // An instance launched by an earlier attempt (found by its Name tag) is
                // adopted; the client token guards the same on AWS, not on every endpoint.
                let existing = c
                    .ec2
                    .describe_instances()
                    .filters(
                        aws_sdk_ec2::types::Filter::builder()
                            .name("tag:Name")
                            .values(&req.name)
                            .build(),
                    )
                    .filters(
                        aws_sdk_ec2::types::Filter::builder()
                            .name("instance-state-name")
                            .values("pending")
                            .values("running")
                            .values("stopping")
                            .values("stopped")
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::Ec2, "DescribeInstances", e))?;
                if let Some(i) = existing
                    .reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .next()
                {
                    return Ok(ec2_instance_status(i));
                }
                let mut run = c
                    .ec2
                    .run_instances()
                    .image_id(&point.provider_id)
                    .min_count(1)
                    .max_count(1)
                    // The name is the idempotency token: a resumed restore never launches twice.
                    .client_token(&req.name)
                    .tag_specifications(ec2_tags(aws_sdk_ec2::types::ResourceType::Instance, req))
                    .set_subnet_id(req.subnet_id.clone())
                    .set_key_name(req.key_name.clone())
                    // RunInstances takes user data base64-encoded.
                    .set_user_data(
                        req.user_data
                            .as_deref()
                            .map(aws_smithy_types::base64::encode),
                    );
                if let Some(t) = &req.instance_type {
                    run = run.instance_type(aws_sdk_ec2::types::InstanceType::from(t.as_str()));
                }
                if !req.security_group_ids.is_empty() {
                    run = run.set_security_group_ids(Some(req.security_group_ids.clone()));
                }
                let out = run
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::Ec2, "RunInstances", e))?;
                out.instances()
                    .first()
                    .map(ec2_instance_status)
                    .ok_or_else(|| {
                        CloudError::new(
                            CloudErrorKind::Permanent,
                            "RunInstances",
                            "no instance returned",
                        )
                    })
            }
            PointKind::LightsailSnapshot => {
                let zone = req
                    .availability_zone
                    .clone()
                    .unwrap_or_else(|| format!("{}a", point.region));
                let bundle = req
                    .bundle_id
                    .clone()
                    .or_else(|| point.metadata.bundle_id.clone())
                    .ok_or_else(|| {
                        CloudError::new(
                            CloudErrorKind::Invalid,
                            "CreateInstancesFromSnapshot",
                            "no bundle recorded for the snapshot",
                        )
                    })?;
                let tags: Vec<aws_sdk_lightsail::types::Tag> = req
                    .tags
                    .iter()
                    .map(|(k, v)| {
                        aws_sdk_lightsail::types::Tag::builder()
                            .key(k)
                            .value(v)
                            .build()
                    })
                    .collect();
                match c
                    .lightsail
                    .create_instances_from_snapshot()
                    .instance_names(&req.name)
                    .instance_snapshot_name(&point.provider_id)
                    .availability_zone(zone)
                    .bundle_id(bundle)
                    .set_tags(Some(tags))
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) => {
                        let e = map_sdk(Service::Lightsail, "CreateInstancesFromSnapshot", e);
                        // Already created by an earlier attempt: adopt it.
                        if !(e.kind == CloudErrorKind::AlreadyExists
                            || e.message.contains("already in use"))
                        {
                            return Err(e);
                        }
                    }
                }
                self.describe_instance(point.kind, &point.region, &req.name)
                    .await
            }
            other => Err(unsupported("LaunchInstance", other.as_str())),
        }
    }

    async fn describe_instance(
        &self,
        kind: PointKind,
        region: &str,
        id: &str,
    ) -> CloudResult<ResourceStatus> {
        let c = self.clients(region)?;
        match kind {
            PointKind::Ec2Ami => {
                let out = c
                    .ec2
                    .describe_instances()
                    .instance_ids(id)
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::Ec2, "DescribeInstances", e))?;
                out.reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .next()
                    .map(ec2_instance_status)
                    .ok_or_else(|| {
                        CloudError::new(
                            CloudErrorKind::NotFound,
                            "DescribeInstances",
                            format!("no instance {id}"),
                        )
                    })
            }
            PointKind::LightsailSnapshot => {
                let out = c
                    .lightsail
                    .get_instance()
                    .instance_name(id)
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::Lightsail, "GetInstance", e))?;
                let i = out.instance().ok_or_else(|| {
                    CloudError::new(
                        CloudErrorKind::NotFound,
                        "GetInstance",
                        format!("no instance {id}"),
                    )
                })?;
                let state = match i.state().and_then(|s| s.name()) {
                    Some("running") => ResourceState::Ready,
                    Some("pending") | Some("starting") => ResourceState::Pending,
                    Some("terminated") | Some("shutting-down") => ResourceState::Gone,
                    _ => ResourceState::Failed,
                };
                Ok(ResourceStatus {
                    id: id.to_string(),
                    state,
                    address: i
                        .public_ip_address()
                        .or(i.private_ip_address())
                        .map(str::to_string),
                    detail: i.state().and_then(|s| s.name()).map(str::to_string),
                })
            }
            other => Err(unsupported("DescribeInstance", other.as_str())),
        }
    }

    async fn restorable_window(
        &self,
        region: &str,
        cluster: &str,
    ) -> CloudResult<Option<(DateTime<Utc>, DateTime<Utc>)>> {
        let c = self.clients(region)?;
        let cl = super::rds::describe_cluster(&c.rds, cluster).await?;
        Ok(
            match (
                cl.earliest_restorable_time().and_then(to_chrono),
                cl.latest_restorable_time().and_then(to_chrono),
            ) {
                (Some(a), Some(b)) if a <= b => Some((a, b)),
                _ => None,
            },
        )
    }

    async fn restore_cluster(
        &self,
        region: &str,
        req: &ClusterRestore,
    ) -> CloudResult<ResourceStatus> {
        let c = self.clients(region)?;
        let sgs = (!req.security_group_ids.is_empty()).then(|| req.security_group_ids.clone());
        if let ClusterSource::PointInTime { cluster, at } = &req.source {
            // Say which instants are possible rather than relay a bare InvalidRestoreFault.
            match self.restorable_window(region, cluster).await? {
                Some((a, b)) if *at >= a && *at <= b => {}
                Some((a, b)) => {
                    return Err(CloudError::new(
                        CloudErrorKind::Invalid,
                        "RestoreDBClusterToPointInTime",
                        format!("{at} is outside {cluster}'s restorable window [{a}, {b}]"),
                    ))
                }
                None => {
                    return Err(CloudError::new(
                        CloudErrorKind::Invalid,
                        "RestoreDBClusterToPointInTime",
                        format!("{cluster} reports no restorable window (is its backup retention period set?)"),
                    ))
                }
            }
        }
        let out = match &req.source {
            ClusterSource::PointInTime { cluster, at } => c
                .rds
                .restore_db_cluster_to_point_in_time()
                .source_db_cluster_identifier(cluster)
                .db_cluster_identifier(&req.cluster)
                .restore_to_time(aws_smithy_types::DateTime::from_millis(
                    at.timestamp_millis(),
                ))
                .set_db_subnet_group_name(req.subnet_group.clone())
                .set_vpc_security_group_ids(sgs)
                .set_tags(Some(rds_tags(&req.tags)))
                .send()
                .await
                .map_err(|e| map_sdk(Service::Rds, "RestoreDBClusterToPointInTime", e))?
                .db_cluster()
                .map(cluster_status),
            ClusterSource::Snapshot { snapshot } => c
                .rds
                .restore_db_cluster_from_snapshot()
                .db_cluster_identifier(&req.cluster)
                .snapshot_identifier(snapshot)
                .engine(req.engine.clone().unwrap_or_else(|| "aurora-mysql".into()))
                .set_db_subnet_group_name(req.subnet_group.clone())
                .set_vpc_security_group_ids(sgs)
                .set_tags(Some(rds_tags(&req.tags)))
                .send()
                .await
                .map_err(|e| map_sdk(Service::Rds, "RestoreDBClusterFromSnapshot", e))?
                .db_cluster()
                .map(cluster_status),
        };
        out.ok_or_else(|| {
            CloudError::new(
                CloudErrorKind::Permanent,
                "RestoreDBCluster",
                "no cluster returned",
            )
        })
    }

    async fn create_cluster_instance(
        &self,
        region: &str,
        cluster: &str,
        instance: &str,
        class: &str,
        engine: &str,
    ) -> CloudResult<ResourceStatus> {
        let c = self.clients(region)?;
        let out = c
            .rds
            .create_db_instance()
            .db_instance_identifier(instance)
            .db_cluster_identifier(cluster)
            .db_instance_class(class)
            .engine(engine)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Rds, "CreateDBInstance", e))?;
        let i = out.db_instance().ok_or_else(|| {
            CloudError::new(
                CloudErrorKind::Permanent,
                "CreateDBInstance",
                "no instance returned",
            )
        })?;
        Ok(db_instance_status(instance, i))
    }

    async fn describe_cluster(&self, region: &str, cluster: &str) -> CloudResult<ResourceStatus> {
        let c = self.clients(region)?;
        Ok(cluster_status(
            &super::rds::describe_cluster(&c.rds, cluster).await?,
        ))
    }

    async fn describe_cluster_instance(
        &self,
        region: &str,
        instance: &str,
    ) -> CloudResult<ResourceStatus> {
        let c = self.clients(region)?;
        let out = c
            .rds
            .describe_db_instances()
            .db_instance_identifier(instance)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Rds, "DescribeDBInstances", e))?;
        let i = out.db_instances().first().ok_or_else(|| {
            CloudError::new(
                CloudErrorKind::NotFound,
                "DescribeDBInstances",
                format!("no DB instance {instance}"),
            )
        })?;
        Ok(db_instance_status(instance, i))
    }

    async fn cluster_tags(&self, region: &str, cluster: &str) -> CloudResult<crate::cloud::Tags> {
        let c = self.clients(region)?;
        let d = super::rds::describe_cluster(&c.rds, cluster).await?;
        Ok(d.tag_list()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect())
    }

    async fn rename_cluster(&self, region: &str, from: &str, to: &str) -> CloudResult<()> {
        let c = self.clients(region)?;
        c.rds
            .modify_db_cluster()
            .db_cluster_identifier(from)
            .new_db_cluster_identifier(to)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Rds, "ModifyDBCluster", e))?;
        Ok(())
    }

    async fn restore_file_system(
        &self,
        point: &ProviderPoint,
        role_arn: &str,
        token: &str,
    ) -> CloudResult<String> {
        let c = self.clients(&point.region)?;
        let m = &point.metadata;
        let mut req = c
            .backup
            .start_restore_job()
            .recovery_point_arn(&point.provider_id)
            .iam_role_arn(role_arn)
            .idempotency_token(token)
            .resource_type("EFS")
            .metadata("newFileSystem", "true")
            .metadata("CreationToken", token)
            .metadata("Encrypted", m.encrypted.unwrap_or(true).to_string())
            .metadata(
                "PerformanceMode",
                m.extra
                    .get("performance_mode")
                    .cloned()
                    .unwrap_or_else(|| "generalPurpose".into()),
            );
        if let Some(k) = &m.kms_key_id {
            req = req.metadata("KmsKeyId", k);
        }
        let out = req
            .send()
            .await
            .map_err(|e| map_sdk(Service::Backup, "StartRestoreJob", e))?;
        out.restore_job_id().map(str::to_string).ok_or_else(|| {
            CloudError::new(
                CloudErrorKind::Permanent,
                "StartRestoreJob",
                "no job id returned",
            )
        })
    }

    async fn describe_file_system_restore(
        &self,
        region: &str,
        job: &str,
    ) -> CloudResult<ResourceStatus> {
        let c = self.clients(region)?;
        let out = c
            .backup
            .describe_restore_job()
            .restore_job_id(job)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Backup, "DescribeRestoreJob", e))?;
        let status = out
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        let state = match status.as_str() {
            "COMPLETED" => ResourceState::Ready,
            "PENDING" | "RUNNING" => ResourceState::Pending,
            _ => ResourceState::Failed,
        };
        let fs_id = out
            .created_resource_arn()
            .and_then(|a| a.rsplit('/').next())
            .map(str::to_string);
        Ok(ResourceStatus {
            id: fs_id.unwrap_or_else(|| job.to_string()),
            state,
            address: None,
            detail: Some(format!(
                "{status}{}",
                out.status_message()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )),
        })
    }

    async fn address_target(
        &self,
        entry: &EntryPoint,
        region: &str,
    ) -> CloudResult<Option<String>> {
        let c = self.clients(region)?;
        match entry {
            EntryPoint::Ec2ElasticIp { allocation_id } => {
                let out = c
                    .ec2
                    .describe_addresses()
                    .allocation_ids(allocation_id)
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::Ec2, "DescribeAddresses", e))?;
                let addr = out.addresses().first().ok_or_else(|| {
                    CloudError::new(
                        CloudErrorKind::NotFound,
                        "DescribeAddresses",
                        format!("no Elastic IP {allocation_id}"),
                    )
                })?;
                Ok(addr.instance_id().map(str::to_string))
            }
            EntryPoint::LightsailStaticIp { name } => {
                let out = c
                    .lightsail
                    .get_static_ip()
                    .static_ip_name(name)
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::Lightsail, "GetStaticIp", e))?;
                Ok(out
                    .static_ip()
                    .filter(|s| s.is_attached() == Some(true))
                    .and_then(|s| s.attached_to())
                    .map(str::to_string))
            }
            EntryPoint::AlbListener { .. } => Err(listener_is_not_an_address("DescribeListeners")),
        }
    }

    async fn move_address(
        &self,
        entry: &EntryPoint,
        region: &str,
        instance: &str,
    ) -> CloudResult<()> {
        let c = self.clients(region)?;
        match entry {
            EntryPoint::AlbListener { .. } => Err(listener_is_not_an_address("ModifyListener")),
            EntryPoint::Ec2ElasticIp { allocation_id } => {
                c.ec2
                    .associate_address()
                    .allocation_id(allocation_id)
                    .instance_id(instance)
                    .allow_reassociation(true)
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::Ec2, "AssociateAddress", e))?;
                Ok(())
            }
            EntryPoint::LightsailStaticIp { name } => {
                if let Some(current) = self.address_target(entry, region).await? {
                    if current == instance {
                        return Ok(());
                    }
                    c.lightsail
                        .detach_static_ip()
                        .static_ip_name(name)
                        .send()
                        .await
                        .map_err(|e| map_sdk(Service::Lightsail, "DetachStaticIp", e))?;
                }
                c.lightsail
                    .attach_static_ip()
                    .static_ip_name(name)
                    .instance_name(instance)
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::Lightsail, "AttachStaticIp", e))?;
                Ok(())
            }
        }
    }

    async fn finish_file_system_restore(
        &self,
        region: &str,
        file_system: &str,
        subnets: &[String],
        security_group_ids: &[String],
        tags: &crate::cloud::Tags,
    ) -> CloudResult<Vec<String>> {
        let c = self.clients(region)?;
        let efs_tags: Vec<aws_sdk_efs::types::Tag> = tags
            .iter()
            .filter_map(|(k, v)| {
                aws_sdk_efs::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .ok()
            })
            .collect();
        c.efs
            .tag_resource()
            .resource_id(file_system)
            .set_tags(Some(efs_tags))
            .send()
            .await
            .map_err(|e| map_sdk(Service::Efs, "TagResource", e))?;
        let existing = describe_mount_targets(&c.efs, file_system).await?;
        let mut ids: Vec<String> = Vec::new();
        for subnet in subnets {
            if let Some(m) = existing
                .mount_targets()
                .iter()
                .find(|m| m.subnet_id() == subnet)
            {
                ids.push(m.mount_target_id().to_string());
                continue;
            }
            let out = c
                .efs
                .create_mount_target()
                .file_system_id(file_system)
                .subnet_id(subnet)
                .set_security_groups(
                    (!security_group_ids.is_empty()).then(|| security_group_ids.to_vec()),
                )
                .send()
                .await
                .map_err(|e| map_sdk(Service::Efs, "CreateMountTarget", e))?;
            ids.push(out.mount_target_id().to_string());
        }
        Ok(ids)
    }

    async fn mount_targets(
        &self,
        region: &str,
        file_system: &str,
    ) -> CloudResult<Vec<(String, ResourceState)>> {
        use aws_sdk_efs::types::LifeCycleState;
        let c = self.clients(region)?;
        let out = describe_mount_targets(&c.efs, file_system).await?;
        Ok(out
            .mount_targets()
            .iter()
            .map(|m| {
                let state = match m.life_cycle_state() {
                    LifeCycleState::Available => ResourceState::Ready,
                    LifeCycleState::Creating | LifeCycleState::Updating => ResourceState::Pending,
                    LifeCycleState::Deleted | LifeCycleState::Deleting => ResourceState::Gone,
                    _ => ResourceState::Failed,
                };
                (m.subnet_id().to_string(), state)
            })
            .collect())
    }

    async fn delete_instance(&self, kind: PointKind, region: &str, id: &str) -> CloudResult<()> {
        let c = self.clients(region)?;
        match kind {
            PointKind::Ec2Ami => {
                let out = c
                    .ec2
                    .describe_instances()
                    .instance_ids(id)
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::Ec2, "DescribeInstances", e))?;
                let managed = out
                    .reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .flat_map(|i| i.tags())
                    .any(|t| t.key() == Some(TAG_MANAGED) && t.value() == Some("true"));
                refuse_unmanaged(managed, "TerminateInstances", id)?;
                c.ec2
                    .terminate_instances()
                    .instance_ids(id)
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::Ec2, "TerminateInstances", e))?;
                Ok(())
            }
            PointKind::LightsailSnapshot => {
                let out = c
                    .lightsail
                    .get_instance()
                    .instance_name(id)
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::Lightsail, "GetInstance", e))?;
                let managed = out
                    .instance()
                    .map(|i| i.tags())
                    .unwrap_or_default()
                    .iter()
                    .any(|t| t.key() == Some(TAG_MANAGED) && t.value() == Some("true"));
                refuse_unmanaged(managed, "DeleteInstance", id)?;
                c.lightsail
                    .delete_instance()
                    .instance_name(id)
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::Lightsail, "DeleteInstance", e))?;
                Ok(())
            }
            other => Err(unsupported("DeleteInstance", other.as_str())),
        }
    }

    async fn delete_cluster(&self, region: &str, cluster: &str) -> CloudResult<()> {
        let c = self.clients(region)?;
        let cl = super::rds::describe_cluster(&c.rds, cluster).await?;
        let managed = cl
            .tag_list()
            .iter()
            .any(|t| t.key() == Some(TAG_MANAGED) && t.value() == Some("true"));
        refuse_unmanaged(managed, "DeleteDBCluster", cluster)?;
        for m in cl.db_cluster_members() {
            if let Some(i) = m.db_instance_identifier() {
                match c
                    .rds
                    .delete_db_instance()
                    .db_instance_identifier(i)
                    .skip_final_snapshot(true)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) => {
                        let e = map_sdk(Service::Rds, "DeleteDBInstance", e);
                        if e.kind != CloudErrorKind::NotFound {
                            return Err(e);
                        }
                    }
                }
            }
        }
        c.rds
            .delete_db_cluster()
            .db_cluster_identifier(cluster)
            .skip_final_snapshot(true)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Rds, "DeleteDBCluster", e))?;
        Ok(())
    }

    async fn delete_file_system(&self, region: &str, file_system: &str) -> CloudResult<()> {
        let c = self.clients(region)?;
        let out = c
            .efs
            .describe_file_systems()
            .file_system_id(file_system)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Efs, "DescribeFileSystems", e))?;
        let managed = out
            .file_systems()
            .iter()
            .flat_map(|f| f.tags())
            .any(|t| t.key() == TAG_MANAGED && t.value() == "true");
        refuse_unmanaged(managed, "DeleteFileSystem", file_system)?;
        let mts = c
            .efs
            .describe_mount_targets()
            .file_system_id(file_system)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Efs, "DescribeMountTargets", e))?;
        for m in mts.mount_targets() {
            c.efs
                .delete_mount_target()
                .mount_target_id(m.mount_target_id())
                .send()
                .await
                .map_err(|e| map_sdk(Service::Efs, "DeleteMountTarget", e))?;
        }
        c.efs
            .delete_file_system()
            .file_system_id(file_system)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Efs, "DeleteFileSystem", e))?;
        Ok(())
    }

    async fn object_versions(&self, region: &str, bucket: &str) -> CloudResult<Vec<ObjectVersion>> {
        let c = self.clients(region)?;
        let mut out: Vec<ObjectVersion> = Vec::new();
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let page =
                c.s3.list_object_versions()
                    .bucket(bucket)
                    .set_key_marker(key_marker.clone())
                    .set_version_id_marker(version_marker.clone())
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::S3, "ListObjectVersions", e))?;
            // Versions and delete markers come in two lists, each newest first per key;
            // merge them per key by time, keeping each list's order within a second.
            let mut entries: Vec<(usize, ObjectVersion)> = Vec::new();
            for (i, v) in page.versions().iter().enumerate() {
                entries.push((
                    i,
                    ObjectVersion {
                        key: v.key().unwrap_or_default().to_string(),
                        version_id: v.version_id().unwrap_or("null").to_string(),
                        last_modified: v.last_modified().and_then(to_chrono).unwrap_or_default(),
                        is_delete_marker: false,
                        is_latest: v.is_latest().unwrap_or(false),
                    },
                ));
            }
            for (i, d) in page.delete_markers().iter().enumerate() {
                entries.push((
                    i,
                    ObjectVersion {
                        key: d.key().unwrap_or_default().to_string(),
                        version_id: d.version_id().unwrap_or("null").to_string(),
                        last_modified: d.last_modified().and_then(to_chrono).unwrap_or_default(),
                        is_delete_marker: true,
                        is_latest: d.is_latest().unwrap_or(false),
                    },
                ));
            }
            entries.sort_by(|(ia, a), (ib, b)| {
                a.key
                    .cmp(&b.key)
                    .then(b.last_modified.cmp(&a.last_modified))
                    .then(b.is_latest.cmp(&a.is_latest))
                    .then(ia.cmp(ib))
            });
            out.extend(entries.into_iter().map(|(_, v)| v));
            if page.is_truncated() == Some(true) {
                key_marker = page.next_key_marker().map(str::to_string);
                version_marker = page.next_version_id_marker().map(str::to_string);
                if key_marker.is_none() {
                    break;
                }
            } else {
                break;
            }
        }
        Ok(out)
    }

    async fn revert_object(
        &self,
        region: &str,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> CloudResult<()> {
        let c = self.clients(region)?;
        match version {
            Some(v) => {
                let source = format!("{bucket}/{}?versionId={v}", urlencode_key(key));
                c.s3.copy_object()
                    .bucket(bucket)
                    .key(key)
                    .copy_source(source)
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::S3, "CopyObject", e))?;
            }
            None => {
                // No version id: S3 adds a delete marker; every version stays in history.
                c.s3.delete_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::S3, "DeleteObject", e))?;
            }
        }
        Ok(())
    }
}

/// Percent-encode a key for `x-amz-copy-source` (slashes kept).
fn urlencode_key(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn describe_mount_targets(
    efs: &aws_sdk_efs::Client,
    file_system: &str,
) -> CloudResult<aws_sdk_efs::operation::describe_mount_targets::DescribeMountTargetsOutput> {
    efs.describe_mount_targets()
        .file_system_id(file_system)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Efs, "DescribeMountTargets", e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn copy_source_keys_are_encoded() {
        assert_eq!(
            super::urlencode_key("uploads/2026/a b+c.jpg"),
            "uploads/2026/a%20b%2Bc.jpg"
        );
    }
}
