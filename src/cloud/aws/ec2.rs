//! EC2: AMIs (with their EBS snapshots) as recovery points.

use super::error::{map_sdk, refuse_unmanaged};
use super::operations::Service;
use super::{is_managed, tag_map};
use crate::cloud::{CloudError, CloudErrorKind, CloudResult, ProviderPoint, Tags};
use crate::domain::model::{PointKind, PointState, RestoreMetadata};
use aws_sdk_ec2::types::{Filter, Image, ImageState, ResourceType, Tag, TagSpecification};
use aws_sdk_ec2::Client;
use chrono::{DateTime, Utc};

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// What a restore needs from the instance (type, subnet, security groups, AZ).
async fn instance_metadata(c: &Client, instance_id: &str) -> CloudResult<RestoreMetadata> {
    let out = c
        .describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Ec2, "DescribeInstances", e))?;
    let inst = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next()
        .ok_or_else(|| {
            CloudError::new(
                CloudErrorKind::NotFound,
                "DescribeInstances",
                format!("no instance {instance_id}"),
            )
        })?;
    let mut m = RestoreMetadata {
        instance_type: inst.instance_type().map(|t| t.as_str().to_string()),
        subnet_id: inst.subnet_id().map(str::to_string),
        availability_zone: inst
            .placement()
            .and_then(|p| p.availability_zone())
            .map(str::to_string),
        security_group_ids: inst
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id())
            .map(str::to_string)
            .collect(),
        ..Default::default()
    };
    if let Some(key) = inst.key_name() {
        m.extra.insert("key_name".into(), key.to_string());
    }
    if let Some(profile) = inst.iam_instance_profile().and_then(|p| p.arn()) {
        m.extra
            .insert("iam_instance_profile".into(), profile.to_string());
    }
    m.extra
        .insert("source_instance_id".into(), instance_id.to_string());
    Ok(m)
}

pub async fn create_image(
    c: &Client,
    region: &str,
    instance_id: &str,
    no_reboot: bool,
    name: &str,
    tags: &Tags,
) -> CloudResult<ProviderPoint> {
    // AMI names are unique per account and region in AWS; not every endpoint enforces it,
    // so check first: the deterministic name must mean "reconcile", never a second image.
    if find_image(c, region, name).await?.is_some() {
        return Err(CloudError::new(
            CloudErrorKind::AlreadyExists,
            "CreateImage",
            format!("an image named {name} already exists in {region}"),
        ));
    }
    let instance = instance_metadata(c, instance_id).await?;
    // Tags go on the image here and on its snapshots once their ids are known (moto
    // rejects a snapshot TagSpecification in CreateImage; AWS accepts both ways).
    let out = c
        .create_image()
        .instance_id(instance_id)
        .name(name)
        .description(format!("wpbackup point {name}"))
        .no_reboot(no_reboot)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Image)
                .set_tags(Some(sdk_tags(tags)))
                .build(),
        )
        .send()
        .await
        .map_err(|e| map_sdk(Service::Ec2, "CreateImage", e))?;
    let image_id = out.image_id().ok_or_else(|| {
        CloudError::new(
            CloudErrorKind::Permanent,
            "CreateImage",
            "no image id returned",
        )
    })?;
    let mut p = describe_image(c, region, image_id).await?;
    merge(&mut p.metadata, instance);
    Ok(p)
}

fn merge(into: &mut RestoreMetadata, from: RestoreMetadata) {
    into.instance_type = into.instance_type.take().or(from.instance_type);
    into.subnet_id = into.subnet_id.take().or(from.subnet_id);
    into.availability_zone = into.availability_zone.take().or(from.availability_zone);
    if into.security_group_ids.is_empty() {
        into.security_group_ids = from.security_group_ids;
    }
    for (k, v) in from.extra {
        into.extra.entry(k).or_insert(v);
    }
}

fn state_of(image: &Image) -> (PointState, Option<String>) {
    let reason = image
        .state_reason()
        .and_then(|r| r.message())
        .map(str::to_string);
    match image.state() {
        Some(ImageState::Available) => (PointState::Available, None),
        Some(ImageState::Pending) | Some(ImageState::Transient) => (PointState::Creating, None),
        Some(ImageState::Deregistered) => (PointState::Deleted, reason),
        _ => (
            PointState::Failed,
            reason.or_else(|| Some(format!("image state {:?}", image.state()))),
        ),
    }
}

fn point_of(image: &Image, region: &str) -> ProviderPoint {
    let (state, failure_reason) = state_of(image);
    let id = image.image_id().unwrap_or_default().to_string();
    let snapshots: Vec<String> = image
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
        .map(str::to_string)
        .collect();
    let size_gib: i64 = image
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs().and_then(|e| e.volume_size()))
        .map(i64::from)
        .sum();
    let encrypted = image
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs().and_then(|e| e.encrypted()))
        .reduce(|a, b| a && b);
    let mut metadata = RestoreMetadata {
        ebs_snapshot_ids: snapshots,
        size_bytes: (size_gib > 0).then_some(size_gib as u64 * (1 << 30)),
        encrypted,
        ..Default::default()
    };
    if let Some(a) = image.architecture() {
        metadata
            .extra
            .insert("architecture".into(), a.as_str().to_string());
    }
    if let Some(root) = image.root_device_name() {
        metadata
            .extra
            .insert("root_device_name".into(), root.to_string());
    }
    let tags = tag_map(
        image
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    );
    let point_time = super::cloud_time(
        image
            .creation_date()
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            .map(|d| d.with_timezone(&Utc)),
        &mut metadata,
    );
    ProviderPoint {
        kind: PointKind::Ec2Ami,
        region: region.to_string(),
        name: image.name().unwrap_or_default().to_string(),
        arn: Some(format!("arn:aws:ec2:{region}::image/{id}")),
        provider_id: id,
        state,
        point_time,
        metadata,
        tags,
        failure_reason,
    }
}

pub async fn describe_image(
    c: &Client,
    region: &str,
    image_id: &str,
) -> CloudResult<ProviderPoint> {
    let out = c
        .describe_images()
        .image_ids(image_id)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Ec2, "DescribeImages", e))?;
    let image = out.images().first().ok_or_else(|| {
        CloudError::new(
            CloudErrorKind::NotFound,
            "DescribeImages",
            format!("no image {image_id} in {region}"),
        )
    })?;
    let p = point_of(image, region);
    if p.state == PointState::Available && is_managed(&p.tags) {
        tag_snapshots(c, &p).await?;
    }
    Ok(p)
}

/// Give an image's EBS snapshots the image's tags (idempotent), so they are recognisably
/// part of the point — and deleted with it, never orphaned.
async fn tag_snapshots(c: &Client, p: &ProviderPoint) -> CloudResult<()> {
    if p.metadata.ebs_snapshot_ids.is_empty() {
        return Ok(());
    }
    let mut req = c
        .create_tags()
        .set_resources(Some(p.metadata.ebs_snapshot_ids.clone()));
    for t in sdk_tags(&p.tags) {
        req = req.tags(t);
    }
    req.tags(
        Tag::builder()
            .key("wpbackup:image")
            .value(&p.provider_id)
            .build(),
    )
    .send()
    .await
    .map_err(|e| map_sdk(Service::Ec2, "CreateTags", e))?;
    Ok(())
}

pub async fn find_image(
    c: &Client,
    region: &str,
    name: &str,
) -> CloudResult<Option<ProviderPoint>> {
    let out = c
        .describe_images()
        .owners("self")
        .filters(Filter::builder().name("name").values(name).build())
        .send()
        .await
        .map_err(|e| map_sdk(Service::Ec2, "DescribeImages", e))?;
    Ok(out.images().first().map(|i| point_of(i, region)))
}

/// Filters for what wpbackup tagged for `site` (images and their snapshots alike).
fn managed_by_site(site: &str) -> Vec<Filter> {
    vec![
        Filter::builder()
            .name("tag:wpbackup:managed")
            .values("true")
            .build(),
        Filter::builder()
            .name("tag:wpbackup:site")
            .values(site)
            .build(),
    ]
}

pub async fn list_managed_images(
    c: &Client,
    region: &str,
    site: &str,
) -> CloudResult<Vec<ProviderPoint>> {
    let images = c
        .describe_images()
        .owners("self")
        .set_filters(Some(managed_by_site(site)))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| map_sdk(Service::Ec2, "DescribeImages", e))?;
    Ok(images.iter().map(|i| point_of(i, region)).collect())
}

pub async fn copy_image(
    dest: &Client,
    source: &ProviderPoint,
    dest_region: &str,
    name: &str,
    tags: &Tags,
) -> CloudResult<ProviderPoint> {
    // CopyImage is called in the destination region.
    let out = dest
        .copy_image()
        .source_image_id(&source.provider_id)
        .source_region(&source.region)
        .name(name)
        .description(format!(
            "wpbackup DR copy of {} from {}",
            source.name, source.region
        ))
        .send()
        .await
        .map_err(|e| map_sdk(Service::Ec2, "CopyImage", e))?;
    let image_id = out.image_id().ok_or_else(|| {
        CloudError::new(
            CloudErrorKind::Permanent,
            "CopyImage",
            "no image id returned",
        )
    })?;
    let mut req = dest.create_tags().resources(image_id);
    for t in sdk_tags(tags) {
        req = req.tags(t);
    }
    req.send()
        .await
        .map_err(|e| map_sdk(Service::Ec2, "CreateTags", e))?;
    let mut p = describe_image(dest, dest_region, image_id).await?;
    p.point_time = source.point_time;
    let mut meta = source.metadata.clone();
    meta.ebs_snapshot_ids = p.metadata.ebs_snapshot_ids.clone();
    meta.subnet_id = None;
    meta.security_group_ids.clear();
    meta.availability_zone = None;
    p.metadata = meta;
    Ok(p)
}

/// Deregister the AMI *and* delete its EBS snapshots (deregistering alone leaves them,
/// costing money). Refuses anything not tagged as wpbackup's.
pub async fn delete_image(c: &Client, image_id: &str) -> CloudResult<()> {
    let out = c
        .describe_images()
        .image_ids(image_id)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Ec2, "DescribeImages", e))?;
    let Some(image) = out.images().first() else {
        return Err(CloudError::new(
            CloudErrorKind::NotFound,
            "DeregisterImage",
            format!("no image {image_id}"),
        ));
    };
    let p = point_of(image, "");
    if !is_managed(&p.tags) {
        return Err(refuse_unmanaged(
            "DeregisterImage",
            &format!("image {image_id}"),
        ));
    }
    c.deregister_image()
        .image_id(image_id)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Ec2, "DeregisterImage", e))?;
    for snap in &p.metadata.ebs_snapshot_ids {
        match c.delete_snapshot().snapshot_id(snap).send().await {
            Ok(_) => {}
            Err(e) => {
                let e = map_sdk(Service::Ec2, "DeleteSnapshot", e);
                if e.kind != CloudErrorKind::NotFound {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// EBS snapshots of the instance's volumes (for `sync`: the untagged ones are unmanaged).
pub async fn list_instance_snapshots(
    c: &Client,
    region: &str,
    instance_id: &str,
) -> CloudResult<Vec<ProviderPoint>> {
    let out = c
        .describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Ec2, "DescribeInstances", e))?;
    let volumes: Vec<String> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .flat_map(|i| i.block_device_mappings())
        .filter_map(|m| m.ebs().and_then(|e| e.volume_id()))
        .map(str::to_string)
        .collect();
    if volumes.is_empty() {
        return Ok(Vec::new());
    }
    let snaps = c
        .describe_snapshots()
        .owner_ids("self")
        .filters(
            Filter::builder()
                .name("volume-id")
                .set_values(Some(volumes))
                .build(),
        )
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| map_sdk(Service::Ec2, "DescribeSnapshots", e))?;
    Ok(snaps.iter().map(|s| snapshot_point(s, region)).collect())
}

fn snapshot_point(s: &aws_sdk_ec2::types::Snapshot, region: &str) -> ProviderPoint {
    let id = s.snapshot_id().unwrap_or_default().to_string();
    let mut metadata = RestoreMetadata {
        size_bytes: s.volume_size().map(|g| g.max(0) as u64 * (1 << 30)),
        encrypted: s.encrypted(),
        ..Default::default()
    };
    metadata
        .extra
        .insert("resource_type".into(), "ebs-snapshot".into());
    if let Some(v) = s.volume_id() {
        metadata.extra.insert("volume_id".into(), v.to_string());
    }
    let point_time = super::cloud_time(s.start_time().and_then(super::to_chrono), &mut metadata);
    ProviderPoint {
        kind: PointKind::Ec2Ami,
        region: region.to_string(),
        name: format!("EBS snapshot of {}", s.volume_id().unwrap_or("?")),
        arn: Some(format!("arn:aws:ec2:{region}::snapshot/{id}")),
        provider_id: id,
        state: PointState::Available,
        point_time,
        metadata,
        tags: tag_map(
            s.tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
        ),
        failure_reason: None,
    }
}

/// wpbackup-tagged EBS snapshots of `site` whose AMI no longer exists: deregistering an
/// AMI (outside wpbackup) leaves its snapshots, and they are still billed.
pub async fn list_leftover_snapshots(
    c: &Client,
    region: &str,
    site: &str,
) -> CloudResult<Vec<ProviderPoint>> {
    let snaps = c
        .describe_snapshots()
        .owner_ids("self")
        .set_filters(Some(managed_by_site(site)))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| map_sdk(Service::Ec2, "DescribeSnapshots", e))?;
    if snaps.is_empty() {
        return Ok(Vec::new());
    }
    let images = c
        .describe_images()
        .owners("self")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| map_sdk(Service::Ec2, "DescribeImages", e))?;
    let used: std::collections::HashSet<&str> = images
        .iter()
        .flat_map(|i| i.block_device_mappings())
        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
        .collect();
    Ok(snaps
        .iter()
        .filter(|s| s.snapshot_id().is_some_and(|id| !used.contains(id)))
        .map(|s| snapshot_point(s, region))
        .collect())
}
