//! S3: versioning + cross-region replication. A checkpoint verifies both and records
//! "history is retained up to here"; it is a catalog record, not a cloud resource.

use super::error::map_sdk;
use super::operations::Service;
use super::AwsCloud;
use crate::cloud::{CloudError, CloudErrorKind, CloudResult, ProviderPoint, SettingCheck, Tags};
use crate::domain::model::{PointKind, PointState, RestoreMetadata};
use crate::domain::policy::{DrCopy, Target};
use aws_sdk_s3::types::{
    BucketVersioningStatus, DeleteMarkerReplicationStatus, ReplicationRuleStatus,
};
use aws_sdk_s3::Client;
use chrono::{DateTime, SecondsFormat, Utc};

/// What a bucket's protection looks like, read live.
#[derive(Debug, Clone, Default)]
pub struct BucketProtection {
    pub versioning: Option<String>,
    /// Enabled replication rules: (destination bucket ARN, delete markers replicated).
    pub replication: Vec<(String, bool)>,
    /// Smallest noncurrent-version expiration in days, if a lifecycle rule sets one.
    pub noncurrent_expiration_days: Option<i32>,
}

pub async fn versioning(c: &Client, bucket: &str) -> CloudResult<Option<String>> {
    match c.get_bucket_versioning().bucket(bucket).send().await {
        Ok(out) => Ok(out.status().map(|s| s.as_str().to_string())),
        Err(e) => match lenient_versioning(&e) {
            Some(status) => Ok(status),
            None => Err(map_sdk(Service::S3, "GetBucketVersioning", e)),
        },
    }
}

/// S3-compatible endpoints (moto 5.2 among them) may answer 200 with a
/// `<GetBucketVersioningResponse>` root that the SDK's strict parser rejects, although
/// the `<Status>` inside is well-formed: read it from the raw body then.
fn lenient_versioning<E>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> Option<Option<String>> {
    let aws_smithy_runtime_api::client::result::SdkError::ServiceError(se) = e else {
        return None;
    };
    let raw = se.raw();
    if raw.status().as_u16() != 200 {
        return None;
    }
    let body = std::str::from_utf8(raw.body().bytes()?).ok()?;
    if !body.contains("GetBucketVersioningResponse") {
        return None;
    }
    Some(
        body.split_once("<Status>")
            .and_then(|(_, rest)| rest.split_once("</Status>"))
            .map(|(status, _)| status.to_string()),
    )
}

pub async fn protection(c: &Client, bucket: &str) -> CloudResult<BucketProtection> {
    let versioning = versioning(c, bucket).await?;
    let replication = match c.get_bucket_replication().bucket(bucket).send().await {
        Ok(out) => out
            .replication_configuration()
            .map(|cfg| {
                cfg.rules()
                    .iter()
                    .filter(|r| r.status() == &ReplicationRuleStatus::Enabled)
                    .filter_map(|r| {
                        let dest = r.destination()?.bucket().to_string();
                        let markers = r
                            .delete_marker_replication()
                            .and_then(|d| d.status())
                            .is_some_and(|s| s == &DeleteMarkerReplicationStatus::Enabled);
                        Some((dest, markers))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Err(e) => {
            let e = map_sdk(Service::S3, "GetBucketReplication", e);
            if e.kind == CloudErrorKind::NotFound
                || e.message.contains("ReplicationConfigurationNotFound")
            {
                Vec::new()
            } else {
                return Err(e);
            }
        }
    };
    let noncurrent_expiration_days = match c
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => out
            .rules()
            .iter()
            .filter_map(|r| {
                r.noncurrent_version_expiration()
                    .and_then(|n| n.noncurrent_days())
            })
            .min(),
        Err(e) => {
            let e = map_sdk(Service::S3, "GetBucketLifecycleConfiguration", e);
            if e.kind == CloudErrorKind::NotFound
                || e.message.contains("NoSuchLifecycleConfiguration")
            {
                None
            } else {
                return Err(e);
            }
        }
    };
    Ok(BucketProtection {
        versioning,
        replication,
        noncurrent_expiration_days,
    })
}

fn dr_region_for(cloud: &AwsCloud, bucket: &str) -> String {
    cloud
        .policy_for(bucket)
        .and_then(|p| p.dr_copies.first().map(|c| c.region.clone()))
        .unwrap_or_else(|| cloud.site().dr_region.clone())
}

fn checks(
    target: &Target,
    src: &BucketProtection,
    dr_versioning: Option<&str>,
) -> Vec<SettingCheck> {
    let Target::S3Bucket {
        dr_bucket,
        noncurrent_version_days,
        ..
    } = target
    else {
        return Vec::new();
    };
    let dest_arn = format!("arn:aws:s3:::{dr_bucket}");
    let rule = src
        .replication
        .iter()
        .find(|(d, _)| *d == dest_arn || d == dr_bucket);
    let mut out = vec![
        SettingCheck {
            setting: "s3.versioning".into(),
            expected: "Enabled".into(),
            actual: src
                .versioning
                .clone()
                .unwrap_or_else(|| "never enabled".into()),
            ok: src.versioning.as_deref() == Some(BucketVersioningStatus::Enabled.as_str()),
        },
        SettingCheck {
            setting: "s3.replication".into(),
            expected: format!("an enabled rule to {dest_arn}"),
            actual: if rule.is_some() {
                "enabled".into()
            } else {
                format!(
                    "{} enabled rule(s), none to {dr_bucket}",
                    src.replication.len()
                )
            },
            ok: rule.is_some(),
        },
        SettingCheck {
            setting: "s3.replication.delete_markers".into(),
            expected: "Enabled".into(),
            actual: if rule.is_some_and(|(_, m)| *m) {
                "Enabled".into()
            } else {
                "Disabled".into()
            },
            ok: rule.is_some_and(|(_, m)| *m),
        },
        SettingCheck {
            setting: "s3.dr_bucket.versioning".into(),
            expected: "Enabled".into(),
            actual: dr_versioning.unwrap_or("never enabled").to_string(),
            ok: dr_versioning == Some(BucketVersioningStatus::Enabled.as_str()),
        },
    ];
    if let Some(days) = noncurrent_version_days {
        out.push(SettingCheck {
            setting: "s3.noncurrent_version_days".into(),
            expected: format!(">= {days} (or never expired)"),
            actual: src
                .noncurrent_expiration_days
                .map(|d| d.to_string())
                .unwrap_or_else(|| "never expired".into()),
            ok: src
                .noncurrent_expiration_days
                .is_none_or(|d| d >= *days as i32),
        });
    }
    out
}

pub async fn inspect(
    cloud: &AwsCloud,
    region: &str,
    target: &Target,
) -> CloudResult<Vec<SettingCheck>> {
    let Target::S3Bucket {
        bucket, dr_bucket, ..
    } = target
    else {
        return Ok(Vec::new());
    };
    let src = protection(&cloud.clients(region)?.s3, bucket).await?;
    let dr = cloud.clients(&dr_region_for(cloud, bucket))?;
    let dr_versioning = versioning(&dr.s3, dr_bucket).await?;
    Ok(checks(target, &src, dr_versioning.as_deref()))
}

fn checkpoint_id(bucket: &str, at: DateTime<Utc>) -> String {
    format!(
        "s3://{bucket}#{}",
        at.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

/// Verify versioning on both buckets and the replication rule; record the checkpoint.
pub async fn checkpoint(
    cloud: &AwsCloud,
    region: &str,
    target: &Target,
    name: &str,
    tags: &Tags,
) -> CloudResult<ProviderPoint> {
    let Target::S3Bucket { bucket, .. } = target else {
        unreachable!("checkpoint is only called for S3 targets");
    };
    let now = cloud.clock.now();
    let failing: Vec<String> = inspect(cloud, region, target)
        .await?
        .into_iter()
        .filter(|c| {
            !c.ok
                && c.setting != "s3.noncurrent_version_days"
                && c.setting != "s3.replication.delete_markers"
        })
        .map(|c| format!("{} is {} (expected {})", c.setting, c.actual, c.expected))
        .collect();
    if !failing.is_empty() {
        return Err(CloudError::new(
            CloudErrorKind::Invalid,
            "Checkpoint",
            format!(
                "bucket {bucket}: {}; history is not being retained",
                failing.join("; ")
            ),
        ));
    }
    Ok(ProviderPoint {
        kind: PointKind::S3Checkpoint,
        region: region.to_string(),
        name: name.to_string(),
        provider_id: checkpoint_id(bucket, now),
        arn: Some(format!("arn:aws:s3:::{bucket}")),
        state: PointState::Available,
        point_time: now,
        metadata: RestoreMetadata::default(),
        tags: tags.clone(),
        failure_reason: None,
    })
}

/// The DR side of a checkpoint: the replica bucket keeps versions too.
pub async fn checkpoint_replica(
    cloud: &AwsCloud,
    source: &ProviderPoint,
    target: &Target,
    copy: &DrCopy,
    name: &str,
    tags: &Tags,
) -> CloudResult<ProviderPoint> {
    let Target::S3Bucket { dr_bucket, .. } = target else {
        unreachable!("checkpoint_replica is only called for S3 targets");
    };
    let c = cloud.clients(&copy.region)?;
    let v = versioning(&c.s3, dr_bucket).await?;
    if v.as_deref() != Some(BucketVersioningStatus::Enabled.as_str()) {
        return Err(CloudError::new(
            CloudErrorKind::Invalid,
            "Checkpoint",
            format!(
                "replica bucket {dr_bucket} in {}: versioning is {}",
                copy.region,
                v.unwrap_or_else(|| "never enabled".into())
            ),
        ));
    }
    Ok(ProviderPoint {
        kind: PointKind::S3Checkpoint,
        region: copy.region.clone(),
        name: name.to_string(),
        provider_id: checkpoint_id(dr_bucket, source.point_time),
        arn: Some(format!("arn:aws:s3:::{dr_bucket}")),
        state: PointState::Available,
        point_time: source.point_time,
        metadata: RestoreMetadata::default(),
        tags: tags.clone(),
        failure_reason: None,
    })
}

pub fn describe_checkpoint(region: &str, provider_id: &str) -> CloudResult<ProviderPoint> {
    let (bucket, at) = provider_id
        .strip_prefix("s3://")
        .and_then(|s| s.split_once('#'))
        .ok_or_else(|| {
            CloudError::new(
                CloudErrorKind::Invalid,
                "DescribeCheckpoint",
                format!("{provider_id} is not a checkpoint id"),
            )
        })?;
    let at = DateTime::parse_from_rfc3339(at)
        .map_err(|e| CloudError::new(CloudErrorKind::Invalid, "DescribeCheckpoint", e.to_string()))?
        .with_timezone(&Utc);
    Ok(ProviderPoint {
        kind: PointKind::S3Checkpoint,
        region: region.to_string(),
        name: provider_id.to_string(),
        provider_id: provider_id.to_string(),
        arn: Some(format!("arn:aws:s3:::{bucket}")),
        state: PointState::Available,
        point_time: at,
        metadata: RestoreMetadata::default(),
        tags: Tags::new(),
        failure_reason: None,
    })
}
