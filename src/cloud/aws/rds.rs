//! RDS/Aurora: manual cluster snapshots, and the cluster's continuous-backup window.

use super::error::{map_sdk, refuse_unmanaged};
use super::operations::Service;
use super::{is_managed, tag_map, to_chrono};
use crate::cloud::{CloudError, CloudErrorKind, CloudResult, ProviderPoint, SettingCheck, Tags};
use crate::domain::model::{PointKind, PointState, RestoreMetadata};
use aws_sdk_rds::types::{DbCluster, DbClusterSnapshot, Tag};
use aws_sdk_rds::Client;

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub async fn describe_cluster(c: &Client, id: &str) -> CloudResult<DbCluster> {
    let out = c
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Rds, "DescribeDBClusters", e))?;
    out.db_clusters().first().cloned().ok_or_else(|| {
        CloudError::new(
            CloudErrorKind::NotFound,
            "DescribeDBClusters",
            format!("no DB cluster {id}"),
        )
    })
}

/// What a restore of the cluster needs: engine, subnet group, security groups, the
/// writer's instance class, encryption.
async fn cluster_metadata(c: &Client, cluster: &DbCluster) -> RestoreMetadata {
    let mut m = RestoreMetadata {
        security_group_ids: cluster
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id())
            .map(str::to_string)
            .collect(),
        encrypted: cluster.storage_encrypted(),
        kms_key_id: cluster.kms_key_id().map(str::to_string),
        ..Default::default()
    };
    let extra = &mut m.extra;
    if let Some(v) = cluster.engine() {
        extra.insert("engine".into(), v.to_string());
    }
    if let Some(v) = cluster.engine_version() {
        extra.insert("engine_version".into(), v.to_string());
    }
    if let Some(v) = cluster.db_subnet_group() {
        extra.insert("db_subnet_group".into(), v.to_string());
    }
    if let Some(v) = cluster.db_cluster_parameter_group() {
        extra.insert("db_cluster_parameter_group".into(), v.to_string());
    }
    if let Some(v) = cluster.port() {
        extra.insert("port".into(), v.to_string());
    }
    let writer = cluster
        .db_cluster_members()
        .iter()
        .find(|m| m.is_cluster_writer() == Some(true))
        .or_else(|| cluster.db_cluster_members().first())
        .and_then(|m| m.db_instance_identifier());
    if let Some(writer) = writer {
        if let Ok(out) = c
            .describe_db_instances()
            .db_instance_identifier(writer)
            .send()
            .await
        {
            if let Some(i) = out.db_instances().first() {
                m.instance_type = i.db_instance_class().map(str::to_string);
                m.availability_zone = i.availability_zone().map(str::to_string);
            }
        }
    }
    m
}

fn point_of(s: &DbClusterSnapshot, region: &str) -> ProviderPoint {
    let (state, failure_reason) = match s.status() {
        Some("available") => (PointState::Available, None),
        Some("creating") | Some("copying") | Some("pending") => (PointState::Creating, None),
        Some("deleting") => (PointState::Deleting, None),
        other => (
            PointState::Failed,
            Some(format!("snapshot status {}", other.unwrap_or("unknown"))),
        ),
    };
    let id = s
        .db_cluster_snapshot_identifier()
        .unwrap_or_default()
        .to_string();
    let mut metadata = RestoreMetadata {
        encrypted: s.storage_encrypted(),
        kms_key_id: s.kms_key_id().map(str::to_string),
        size_bytes: s
            .allocated_storage()
            .filter(|g| *g > 0)
            .map(|g| g as u64 * (1 << 30)),
        ..Default::default()
    };
    if let Some(e) = s.engine() {
        metadata.extra.insert("engine".into(), e.to_string());
    }
    if let Some(e) = s.engine_version() {
        metadata
            .extra
            .insert("engine_version".into(), e.to_string());
    }
    if let Some(c) = s.db_cluster_identifier() {
        metadata
            .extra
            .insert("source_cluster".into(), c.to_string());
    }
    let point_time = super::cloud_time(s.snapshot_create_time().and_then(to_chrono), &mut metadata);
    ProviderPoint {
        kind: PointKind::AuroraClusterSnapshot,
        region: region.to_string(),
        name: id.clone(),
        provider_id: id,
        arn: s.db_cluster_snapshot_arn().map(str::to_string),
        state,
        point_time,
        metadata,
        tags: tag_map(
            s.tag_list()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
        ),
        failure_reason,
    }
}

pub async fn create_snapshot(
    c: &Client,
    region: &str,
    cluster_id: &str,
    name: &str,
    tags: &Tags,
) -> CloudResult<ProviderPoint> {
    let cluster = describe_cluster(c, cluster_id).await?;
    let meta = cluster_metadata(c, &cluster).await;
    let out = c
        .create_db_cluster_snapshot()
        .db_cluster_snapshot_identifier(name)
        .db_cluster_identifier(cluster_id)
        .set_tags(Some(sdk_tags(tags)))
        .send()
        .await
        .map_err(|e| map_sdk(Service::Rds, "CreateDBClusterSnapshot", e))?;
    let snap = out.db_cluster_snapshot().ok_or_else(|| {
        CloudError::new(
            CloudErrorKind::Permanent,
            "CreateDBClusterSnapshot",
            "no snapshot returned",
        )
    })?;
    let mut p = point_of(snap, region);
    if p.tags.is_empty() {
        p.tags = tags.clone();
    }
    let size = p.metadata.size_bytes;
    let mut merged = meta;
    merged.size_bytes = size;
    merged.extra.extend(p.metadata.extra);
    p.metadata = merged;
    Ok(p)
}

pub async fn describe_snapshot(c: &Client, region: &str, id: &str) -> CloudResult<ProviderPoint> {
    let out = c
        .describe_db_cluster_snapshots()
        .db_cluster_snapshot_identifier(id)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Rds, "DescribeDBClusterSnapshots", e))?;
    out.db_cluster_snapshots()
        .first()
        .map(|s| point_of(s, region))
        .ok_or_else(|| {
            CloudError::new(
                CloudErrorKind::NotFound,
                "DescribeDBClusterSnapshots",
                format!("no cluster snapshot {id} in {region}"),
            )
        })
}

/// Manual cluster snapshots in the region — of one cluster, or of all (paginated, tags
/// fetched where the listing omits them).
pub async fn list_snapshots(
    c: &Client,
    region: &str,
    cluster_id: Option<&str>,
) -> CloudResult<Vec<ProviderPoint>> {
    let snaps = c
        .describe_db_cluster_snapshots()
        .set_db_cluster_identifier(cluster_id.map(str::to_string))
        .snapshot_type("manual")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| map_sdk(Service::Rds, "DescribeDBClusterSnapshots", e))?;
    let mut out = Vec::new();
    for s in &snaps {
        let mut p = point_of(s, region);
        // Not every endpoint returns TagList here; ask for the tags then.
        if p.tags.is_empty() {
            if let Some(arn) = &p.arn {
                p.tags = list_tags(c, arn).await?;
            }
        }
        out.push(p);
    }
    Ok(out)
}

pub async fn copy_snapshot(
    dest: &Client,
    source: &ProviderPoint,
    dest_region: &str,
    name: &str,
    tags: &Tags,
) -> CloudResult<ProviderPoint> {
    // Cross-region copies are made from the destination, naming the source by ARN.
    let source_arn = source.arn.clone().ok_or_else(|| {
        CloudError::new(
            CloudErrorKind::Invalid,
            "CopyDBClusterSnapshot",
            format!("source {} has no ARN", source.name),
        )
    })?;
    let out = dest
        .copy_db_cluster_snapshot()
        .source_db_cluster_snapshot_identifier(source_arn)
        .target_db_cluster_snapshot_identifier(name)
        .set_tags(Some(sdk_tags(tags)))
        .send()
        .await
        .map_err(|e| map_sdk(Service::Rds, "CopyDBClusterSnapshot", e))?;
    let snap = out.db_cluster_snapshot().ok_or_else(|| {
        CloudError::new(
            CloudErrorKind::Permanent,
            "CopyDBClusterSnapshot",
            "no snapshot returned",
        )
    })?;
    let mut p = point_of(snap, dest_region);
    if p.tags.is_empty() {
        p.tags = tags.clone();
    }
    p.point_time = source.point_time;
    let mut meta = source.metadata.clone();
    meta.security_group_ids.clear();
    meta.availability_zone = None;
    p.metadata = meta;
    Ok(p)
}

pub async fn delete_snapshot(c: &Client, id: &str) -> CloudResult<()> {
    let p = describe_snapshot(c, "", id).await?;
    let tags = if p.tags.is_empty() {
        list_tags(c, p.arn.as_deref().unwrap_or_default()).await?
    } else {
        p.tags
    };
    if !is_managed(&tags) {
        return Err(refuse_unmanaged(
            "DeleteDBClusterSnapshot",
            &format!("cluster snapshot {id}"),
        ));
    }
    c.delete_db_cluster_snapshot()
        .db_cluster_snapshot_identifier(id)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Rds, "DeleteDBClusterSnapshot", e))?;
    Ok(())
}

async fn list_tags(c: &Client, arn: &str) -> CloudResult<Tags> {
    let out = c
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Rds, "ListTagsForResource", e))?;
    Ok(tag_map(out.tag_list().iter().map(|t| {
        (t.key().unwrap_or_default(), t.value().unwrap_or_default())
    })))
}

/// The continuous-backup window the cluster keeps, against the policy's `pitr_days`.
pub async fn inspect_retention(
    c: &Client,
    cluster_id: &str,
    pitr_days: u32,
) -> CloudResult<Vec<SettingCheck>> {
    let cluster = describe_cluster(c, cluster_id).await?;
    let actual = cluster.backup_retention_period().unwrap_or(0);
    Ok(vec![SettingCheck {
        setting: "aurora.backup_retention_days".into(),
        expected: format!(">= {pitr_days}"),
        actual: actual.to_string(),
        ok: actual >= pitr_days as i32,
    }])
}
