//! EFS through AWS Backup: backup jobs into a vault, copy jobs to a DR vault, recovery
//! points as the catalog's points.

use super::error::{map_sdk, refuse_unmanaged};
use super::operations::Service;
use super::{is_managed, to_chrono, AwsCloud, Clients};
use crate::cloud::{CloudError, CloudErrorKind, CloudResult, ProviderPoint, Tags};
use crate::domain::model::{PointKind, PointState, RestoreMetadata};
use crate::domain::policy::{DrCopy, Retention, Target};
use aws_sdk_backup::types::{Lifecycle, RecoveryPointStatus};

/// A lifecycle backstop: if wpbackup stops pruning, AWS Backup still expires a point some
/// time after every retention rule would have let it go.
pub fn backstop_days(r: &Retention) -> i64 {
    let horizon = [
        r.hourly.map(|h| i64::from(h) / 24 + 1),
        r.daily.map(i64::from),
        r.weekly.map(|w| i64::from(w) * 7),
        r.monthly.map(|m| i64::from(m) * 31),
        r.yearly.map(|y| i64::from(y) * 366),
        r.within.map(|w| (w.as_secs() / 86_400) as i64 + 1),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(0);
    horizon.max(35) + 30
}

fn status_of(
    s: Option<&RecoveryPointStatus>,
    message: Option<&str>,
) -> (PointState, Option<String>) {
    match s {
        Some(RecoveryPointStatus::Completed) | Some(RecoveryPointStatus::Available) => {
            (PointState::Available, None)
        }
        Some(RecoveryPointStatus::Creating) | None => (PointState::Creating, None),
        Some(RecoveryPointStatus::Deleting) => (PointState::Deleting, None),
        Some(other) => (
            PointState::Failed,
            Some(format!(
                "recovery point {}{}",
                other.as_str(),
                message.map(|m| format!(": {m}")).unwrap_or_default()
            )),
        ),
    }
}

/// A recovery point as a port point (shared by describe and both listings).
struct RpFacts<'a> {
    arn: &'a str,
    status: Option<&'a RecoveryPointStatus>,
    message: Option<&'a str>,
    created: Option<&'a aws_smithy_types::DateTime>,
    size: Option<i64>,
    vault: Option<&'a str>,
}

fn rp_point(
    region: &str,
    f: RpFacts<'_>,
    tags: Tags,
    mut metadata: RestoreMetadata,
) -> ProviderPoint {
    let (state, failure_reason) = status_of(f.status, f.message);
    metadata.size_bytes = metadata.size_bytes.or(f.size.map(|s| s.max(0) as u64));
    if let Some(v) = f.vault {
        metadata.extra.insert("vault".into(), v.to_string());
    }
    let point_time = super::cloud_time(f.created.and_then(to_chrono), &mut metadata);
    ProviderPoint {
        kind: PointKind::EfsRecoveryPoint,
        region: region.to_string(),
        name: tags
            .get("wpbackup:name")
            .cloned()
            .unwrap_or_else(|| f.arn.to_string()),
        provider_id: f.arn.to_string(),
        arn: Some(f.arn.to_string()),
        state,
        point_time,
        metadata,
        tags,
        failure_reason,
    }
}

async fn file_system_metadata(c: &Clients, fs_id: &str) -> CloudResult<(String, RestoreMetadata)> {
    let out = c
        .efs
        .describe_file_systems()
        .file_system_id(fs_id)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Efs, "DescribeFileSystems", e))?;
    let fs = out.file_systems().first().ok_or_else(|| {
        CloudError::new(
            CloudErrorKind::NotFound,
            "DescribeFileSystems",
            format!("no file system {fs_id}"),
        )
    })?;
    let arn = fs.file_system_arn().map(str::to_string).unwrap_or_default();
    let mut m = RestoreMetadata {
        size_bytes: fs.size_in_bytes().map(|s| s.value().max(0) as u64),
        encrypted: fs.encrypted(),
        kms_key_id: fs.kms_key_id().map(str::to_string),
        availability_zone: fs.availability_zone_name().map(str::to_string),
        ..Default::default()
    };
    m.extra.insert(
        "performance_mode".into(),
        fs.performance_mode().as_str().to_string(),
    );
    if let Some(t) = fs.throughput_mode() {
        m.extra
            .insert("throughput_mode".into(), t.as_str().to_string());
    }
    // Mount targets, so a restored file system can be mounted where the old one was.
    if let Ok(mts) = c
        .efs
        .describe_mount_targets()
        .file_system_id(fs_id)
        .send()
        .await
    {
        let subnets: Vec<String> = mts
            .mount_targets()
            .iter()
            .map(|m| m.subnet_id().to_string())
            .collect();
        if !subnets.is_empty() {
            m.subnet_id = subnets.first().cloned();
            m.extra
                .insert("mount_target_subnets".into(), subnets.join(","));
        }
        if let Some(mt) = mts.mount_targets().first().map(|m| m.mount_target_id()) {
            if let Ok(sgs) = c
                .efs
                .describe_mount_target_security_groups()
                .mount_target_id(mt)
                .send()
                .await
            {
                m.security_group_ids = sgs.security_groups().to_vec();
            }
        }
    }
    m.extra
        .insert("source_file_system".into(), fs_id.to_string());
    Ok((arn, m))
}

pub async fn start_backup(
    cloud: &AwsCloud,
    c: &Clients,
    region: &str,
    target: &Target,
    name: &str,
    tags: &Tags,
) -> CloudResult<ProviderPoint> {
    let Target::Efs {
        file_system_id,
        vault,
        iam_role_arn,
    } = target
    else {
        unreachable!("start_backup is only called for EFS targets");
    };
    let (fs_arn, mut metadata) = file_system_metadata(c, file_system_id).await?;
    let days = cloud
        .policy_for(file_system_id)
        .map(|p| backstop_days(&p.retention))
        .unwrap_or(400);
    // The deterministic name is the idempotency token: a retried start returns the same job.
    let mut rp_tags = tags.clone();
    rp_tags.insert("wpbackup:name".into(), name.to_string());
    let out = c
        .backup
        .start_backup_job()
        .backup_vault_name(vault)
        .resource_arn(&fs_arn)
        .iam_role_arn(iam_role_arn)
        .idempotency_token(name)
        .lifecycle(Lifecycle::builder().delete_after_days(days).build())
        .set_recovery_point_tags(Some(rp_tags.clone().into_iter().collect()))
        .send()
        .await
        .map_err(|e| map_sdk(Service::Backup, "StartBackupJob", e))?;
    let job_id = out.backup_job_id().unwrap_or_default().to_string();
    let mut rp_arn = out.recovery_point_arn().map(str::to_string);
    let mut started = out.creation_date().and_then(to_chrono);
    // The recovery point ARN can lag the job's start; ask the job.
    for _ in 0..60 {
        if rp_arn.is_some() {
            break;
        }
        tokio::time::sleep(cloud.poll).await;
        let job = c
            .backup
            .describe_backup_job()
            .backup_job_id(&job_id)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Backup, "DescribeBackupJob", e))?;
        rp_arn = job.recovery_point_arn().map(str::to_string);
        started = started.or(job.creation_date().and_then(to_chrono));
        if let Some(state) = job.state() {
            if matches!(state.as_str(), "FAILED" | "ABORTED" | "EXPIRED") {
                return Err(CloudError::new(
                    CloudErrorKind::Permanent,
                    "StartBackupJob",
                    format!(
                        "backup job {job_id} {}: {}",
                        state.as_str(),
                        job.status_message().unwrap_or_default()
                    ),
                ));
            }
        }
    }
    let rp_arn = rp_arn.ok_or_else(|| {
        CloudError::new(
            CloudErrorKind::Transient,
            "DescribeBackupJob",
            format!("backup job {job_id} has no recovery point yet"),
        )
    })?;
    metadata.extra.insert("backup_job_id".into(), job_id);
    metadata.extra.insert("vault".into(), vault.clone());
    Ok(ProviderPoint {
        kind: PointKind::EfsRecoveryPoint,
        region: region.to_string(),
        name: name.to_string(),
        provider_id: rp_arn.clone(),
        arn: Some(rp_arn),
        state: PointState::Creating,
        point_time: started.unwrap_or_else(|| cloud.clock.now()),
        metadata,
        tags: rp_tags,
        failure_reason: None,
    })
}

/// Find the point in whichever of the site's vaults in `region` holds it.
pub async fn describe_recovery_point(
    cloud: &AwsCloud,
    c: &Clients,
    region: &str,
    arn: &str,
) -> CloudResult<ProviderPoint> {
    for vault in cloud.vaults_in(region) {
        match c
            .backup
            .describe_recovery_point()
            .backup_vault_name(&vault)
            .recovery_point_arn(arn)
            .send()
            .await
        {
            Ok(rp) => {
                let tags = list_tags(c, arn).await.unwrap_or_default();
                let mut metadata = RestoreMetadata {
                    encrypted: Some(rp.is_encrypted()),
                    kms_key_id: rp.encryption_key_arn().map(str::to_string),
                    ..Default::default()
                };
                if let Some(r) = rp.resource_arn() {
                    metadata.extra.insert("resource_arn".into(), r.to_string());
                }
                let facts = RpFacts {
                    arn,
                    status: rp.status(),
                    message: rp.status_message(),
                    created: rp.creation_date(),
                    size: rp.backup_size_in_bytes(),
                    vault: Some(&vault),
                };
                return Ok(rp_point(region, facts, tags, metadata));
            }
            Err(e) => {
                let e = map_sdk(Service::Backup, "DescribeRecoveryPoint", e);
                if e.kind != CloudErrorKind::NotFound {
                    return Err(e);
                }
            }
        }
    }
    Err(CloudError::new(
        CloudErrorKind::NotFound,
        "DescribeRecoveryPoint",
        format!(
            "recovery point {arn} is in none of the site's vaults in {region} ({})",
            cloud.vaults_in(region).join(", ")
        ),
    ))
}

/// Points carry their deterministic name as the `wpbackup:name` tag.
pub async fn find_by_name(
    cloud: &AwsCloud,
    c: &Clients,
    region: &str,
    name: &str,
) -> CloudResult<Option<ProviderPoint>> {
    Ok(list_recovery_points(cloud, c, region)
        .await?
        .into_iter()
        .find(|p| p.tags.get("wpbackup:name").map(String::as_str) == Some(name)))
}

async fn list_tags(c: &Clients, arn: &str) -> CloudResult<Tags> {
    let out = c
        .backup
        .list_tags()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Backup, "ListTags", e))?;
    Ok(out
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

pub async fn list_recovery_points(
    cloud: &AwsCloud,
    c: &Clients,
    region: &str,
) -> CloudResult<Vec<ProviderPoint>> {
    let mut out = Vec::new();
    for vault in cloud.vaults_in(region) {
        let rps = c
            .backup
            .list_recovery_points_by_backup_vault()
            .backup_vault_name(&vault)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| map_sdk(Service::Backup, "ListRecoveryPointsByBackupVault", e))?;
        for rp in rps {
            let Some(arn) = rp.recovery_point_arn() else {
                continue;
            };
            let tags = list_tags(c, arn).await?;
            let facts = RpFacts {
                arn,
                status: rp.status(),
                message: rp.status_message(),
                created: rp.creation_date(),
                size: rp.backup_size_in_bytes(),
                vault: Some(&vault),
            };
            out.push(rp_point(region, facts, tags, RestoreMetadata::default()));
        }
    }
    Ok(out)
}

/// The account id inside an ARN (`arn:aws:backup:<region>:<account>:…`).
fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// Start a copy job from the source region's vault to the DR vault; the copy's recovery
/// point ARN is known once the job has created it.
pub async fn copy_recovery_point(
    cloud: &AwsCloud,
    source: &ProviderPoint,
    target: &Target,
    copy: &DrCopy,
    name: &str,
) -> CloudResult<ProviderPoint> {
    let Target::Efs {
        vault,
        iam_role_arn,
        file_system_id,
    } = target
    else {
        unreachable!("copy_recovery_point is only called for EFS targets");
    };
    let dr_vault = copy.vault.as_deref().ok_or_else(|| {
        CloudError::new(
            CloudErrorKind::Invalid,
            "StartCopyJob",
            "the DR copy has no vault (policy: dr_copies.vault)",
        )
    })?;
    let account = account_of(&source.provider_id).ok_or_else(|| {
        CloudError::new(
            CloudErrorKind::Invalid,
            "StartCopyJob",
            format!("cannot read the account from {}", source.provider_id),
        )
    })?;
    let dest_vault_arn = format!(
        "arn:aws:backup:{}:{account}:backup-vault:{dr_vault}",
        copy.region
    );
    let src = cloud.clients(&source.region)?;
    let out = src
        .backup
        .start_copy_job()
        .recovery_point_arn(&source.provider_id)
        .source_backup_vault_name(vault)
        .destination_backup_vault_arn(&dest_vault_arn)
        .iam_role_arn(iam_role_arn)
        .idempotency_token(name)
        .lifecycle(
            Lifecycle::builder()
                .delete_after_days(backstop_days(&copy.retention))
                .build(),
        )
        .send()
        .await
        .map_err(|e| map_sdk(Service::Backup, "StartCopyJob", e))?;
    let job_id = out.copy_job_id().unwrap_or_default().to_string();
    let mut dest_arn = None;
    for _ in 0..120 {
        let job = src
            .backup
            .describe_copy_job()
            .copy_job_id(&job_id)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Backup, "DescribeCopyJob", e))?;
        let job = job.copy_job();
        if let Some(state) = job.and_then(|j| j.state()) {
            if matches!(state.as_str(), "FAILED" | "ABORTED") {
                return Err(CloudError::new(
                    CloudErrorKind::Permanent,
                    "StartCopyJob",
                    format!(
                        "copy job {job_id} {}: {}",
                        state.as_str(),
                        job.and_then(|j| j.status_message()).unwrap_or_default()
                    ),
                ));
            }
        }
        dest_arn = job
            .and_then(|j| j.destination_recovery_point_arn())
            .map(str::to_string);
        if dest_arn.is_some() {
            break;
        }
        tokio::time::sleep(cloud.poll).await;
    }
    let dest_arn = dest_arn.ok_or_else(|| {
        CloudError::new(
            CloudErrorKind::Transient,
            "DescribeCopyJob",
            format!("copy job {job_id} has not created its recovery point yet"),
        )
    })?;
    // Copies do not inherit recovery-point tags: tag the copy.
    let dest = cloud.clients(&copy.region)?;
    let mut tags = source.tags.clone();
    tags.insert("wpbackup:name".into(), name.to_string());
    dest.backup
        .tag_resource()
        .resource_arn(&dest_arn)
        .set_tags(Some(tags.clone().into_iter().collect()))
        .send()
        .await
        .map_err(|e| map_sdk(Service::Backup, "TagResource", e))?;
    let mut metadata = source.metadata.clone();
    metadata.extra.insert("vault".into(), dr_vault.to_string());
    metadata.extra.insert("copy_job_id".into(), job_id);
    metadata
        .extra
        .insert("source_file_system".into(), file_system_id.clone());
    Ok(ProviderPoint {
        kind: PointKind::EfsRecoveryPoint,
        region: copy.region.clone(),
        name: name.to_string(),
        provider_id: dest_arn.clone(),
        arn: Some(dest_arn),
        state: PointState::Creating,
        point_time: source.point_time,
        metadata,
        tags,
        failure_reason: None,
    })
}

pub async fn delete_recovery_point(
    cloud: &AwsCloud,
    c: &Clients,
    region: &str,
    arn: &str,
) -> CloudResult<()> {
    let p = describe_recovery_point(cloud, c, region, arn).await?;
    if !is_managed(&p.tags) {
        return Err(refuse_unmanaged(
            "DeleteRecoveryPoint",
            &format!("recovery point {arn}"),
        ));
    }
    let vault = p.metadata.extra.get("vault").cloned().unwrap_or_default();
    c.backup
        .delete_recovery_point()
        .backup_vault_name(vault)
        .recovery_point_arn(arn)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Backup, "DeleteRecoveryPoint", e))?;
    Ok(())
}

/// Recovery points of one file system in any vault (for `sync`: the untagged ones are
/// unmanaged, e.g. made by an AWS Backup plan outside wpbackup).
pub async fn list_points_of_resource(
    c: &Clients,
    region: &str,
    file_system_id: &str,
) -> CloudResult<Vec<ProviderPoint>> {
    let (fs_arn, _) = file_system_metadata(c, file_system_id).await?;
    let rps = c
        .backup
        .list_recovery_points_by_resource()
        .resource_arn(&fs_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| map_sdk(Service::Backup, "ListRecoveryPointsByResource", e))?;
    let mut out = Vec::new();
    for rp in rps {
        let Some(arn) = rp.recovery_point_arn() else {
            continue;
        };
        let tags = list_tags(c, arn).await?;
        let facts = RpFacts {
            arn,
            status: rp.status(),
            message: rp.status_message(),
            created: rp.creation_date(),
            size: rp.backup_size_bytes(),
            vault: rp.backup_vault_name(),
        };
        out.push(rp_point(region, facts, tags, RestoreMetadata::default()));
    }
    Ok(out)
}

/// The file system exists and is readable, and each vault the policy uses exists; whether
/// a vault is locked (WORM) is reported for audits.
pub async fn inspect(
    cloud: &AwsCloud,
    c: &Clients,
    region: &str,
    target: &Target,
) -> CloudResult<Vec<crate::cloud::SettingCheck>> {
    use crate::cloud::SettingCheck;
    let Target::Efs {
        file_system_id,
        vault,
        ..
    } = target
    else {
        return Ok(Vec::new());
    };
    let (_, meta) = file_system_metadata(c, file_system_id).await?;
    let mut checks = vec![SettingCheck {
        setting: "efs.encrypted".into(),
        expected: "true".into(),
        actual: meta.encrypted.unwrap_or(false).to_string(),
        ok: meta.encrypted.unwrap_or(false),
    }];
    let mut vaults = vec![(region.to_string(), vault.clone())];
    if let Some(p) = cloud.policy_for(file_system_id) {
        vaults.extend(
            p.dr_copies
                .iter()
                .filter_map(|d| d.vault.clone().map(|v| (d.region.clone(), v))),
        );
    }
    for (r, v) in vaults {
        let vc = cloud.clients(&r)?;
        match vc
            .backup
            .describe_backup_vault()
            .backup_vault_name(&v)
            .send()
            .await
        {
            Ok(out) => checks.push(SettingCheck {
                setting: format!("backup.vault_lock[{r}/{v}]"),
                expected: "locked (recommended)".into(),
                actual: if out.locked() == Some(true) {
                    "locked".into()
                } else {
                    "not locked".into()
                },
                // A missing lock is an audit finding, not a reason to warn on every run.
                ok: true,
            }),
            Err(e) => {
                let e = map_sdk(Service::Backup, "DescribeBackupVault", e);
                if e.kind != CloudErrorKind::NotFound && e.kind != CloudErrorKind::AccessDenied {
                    return Err(e);
                }
                checks.push(SettingCheck {
                    setting: format!("backup.vault[{r}/{v}]"),
                    expected: "exists".into(),
                    actual: e.message,
                    ok: false,
                });
            }
        }
    }
    Ok(checks)
}
