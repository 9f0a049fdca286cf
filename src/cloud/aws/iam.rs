//! The least-privilege IAM policy for a site: exactly the actions the adapters call for the
//! configured components, on ARNs scoped to those resources wherever the API allows, and
//! deletions only of resources tagged `wpbackup:managed`. An identity policy: no
//! `Principal` (the whitepaper's example grants `Principal: *`; this never does).

use crate::domain::policy::Target;
use crate::domain::site::Site;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn statement(
    sid: String,
    actions: &[&str],
    resources: Vec<String>,
    condition: Option<Value>,
) -> Value {
    let mut s = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": resources,
    });
    if let Some(c) = condition {
        s["Condition"] = c;
    }
    s
}

fn sid(site: &str, component: &str, what: &str) -> String {
    let clean = |s: &str| -> String {
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|p| !p.is_empty())
            .map(|p| {
                let mut c = p.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect()
    };
    format!("{}{}{}", clean(site), clean(component), what)
}

fn managed_only(key: &str) -> Value {
    json!({ "StringEquals": { key: "true" } })
}

fn in_regions(regions: &[String]) -> Value {
    json!({ "StringEquals": { "aws:RequestedRegion": regions } })
}

/// The policy document for the given sites (one statement group per component).
/// `account` fills ARNs; without it they use `*` for the account field.
pub fn policy_document(sites: &[&Site], account: Option<&str>) -> Value {
    let acct = account.unwrap_or("*");
    let mut statements = Vec::new();
    for site in sites {
        let prefix = format!("wpb-{}-", site.name);
        for p in &site.policies {
            let mut regions: Vec<String> = vec![site.region.clone()];
            regions.extend(p.dr_copies.iter().map(|c| c.region.clone()));
            let regions: Vec<String> = regions
                .into_iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let each =
                |f: &dyn Fn(&str) -> String| regions.iter().map(|r| f(r)).collect::<Vec<_>>();
            let s = &site.name;
            let c = &p.name;
            match &p.target {
                Target::LightsailInstance { .. } => {
                    // Lightsail ARNs carry generated ids, not names: scope by account and region.
                    let any = each(&|r| format!("arn:aws:lightsail:{r}:{acct}:*"));
                    statements.push(statement(
                        sid(s, c, "Snapshots"),
                        &[
                            "lightsail:GetInstance",
                            "lightsail:GetInstanceSnapshot",
                            "lightsail:GetInstanceSnapshots",
                            "lightsail:GetAutoSnapshots",
                            "lightsail:CreateInstanceSnapshot",
                            "lightsail:CopySnapshot",
                            "lightsail:TagResource",
                        ],
                        any.clone(),
                        None,
                    ));
                    if matches!(
                        &p.target,
                        Target::LightsailInstance {
                            auto_snapshot_time: Some(_),
                            ..
                        }
                    ) {
                        statements.push(statement(
                            sid(s, c, "AutoSnapshotAddOn"),
                            &["lightsail:EnableAddOn"],
                            each(&|r| format!("arn:aws:lightsail:{r}:{acct}:Instance/*")),
                            None,
                        ));
                    }
                    statements.push(statement(
                        sid(s, c, "DeleteManaged"),
                        &["lightsail:DeleteInstanceSnapshot"],
                        each(&|r| format!("arn:aws:lightsail:{r}:{acct}:InstanceSnapshot/*")),
                        Some(managed_only("aws:ResourceTag/wpbackup:managed")),
                    ));
                }
                Target::Ec2Instance { instance_id, .. } => {
                    // Describe calls support no resource-level permissions: limit by region.
                    statements.push(statement(
                        sid(s, c, "Describe"),
                        &[
                            "ec2:DescribeInstances",
                            "ec2:DescribeImages",
                            "ec2:DescribeSnapshots",
                        ],
                        vec!["*".into()],
                        Some(in_regions(&regions)),
                    ));
                    statements.push(statement(
                        sid(s, c, "CreateImage"),
                        &["ec2:CreateImage"],
                        vec![
                            format!("arn:aws:ec2:{}:{acct}:instance/{instance_id}", site.region),
                            format!("arn:aws:ec2:{}::image/*", site.region),
                            format!("arn:aws:ec2:{}:{acct}:snapshot/*", site.region),
                        ],
                        None,
                    ));
                    statements.push(statement(
                        sid(s, c, "CopyImage"),
                        &["ec2:CopyImage"],
                        each(&|r| format!("arn:aws:ec2:{r}::image/*")),
                        None,
                    ));
                    let images_and_snapshots: Vec<String> = regions
                        .iter()
                        .flat_map(|r| {
                            [
                                format!("arn:aws:ec2:{r}::image/*"),
                                format!("arn:aws:ec2:{r}:{acct}:snapshot/*"),
                            ]
                        })
                        .collect();
                    statements.push(statement(
                        sid(s, c, "TagOwn"),
                        &["ec2:CreateTags"],
                        images_and_snapshots.clone(),
                        Some(managed_only("aws:RequestTag/wpbackup:managed")),
                    ));
                    statements.push(statement(
                        sid(s, c, "DeleteManaged"),
                        &["ec2:DeregisterImage", "ec2:DeleteSnapshot"],
                        images_and_snapshots,
                        Some(managed_only("ec2:ResourceTag/wpbackup:managed")),
                    ));
                }
                Target::AuroraCluster {
                    cluster_identifier, ..
                } => {
                    let own_snapshots =
                        each(&|r| format!("arn:aws:rds:{r}:{acct}:cluster-snapshot:{prefix}{c}-*"));
                    statements.push(statement(
                        sid(s, c, "ReadCluster"),
                        &["rds:DescribeDBClusters", "rds:DescribeDBInstances"],
                        vec![
                            format!(
                                "arn:aws:rds:{}:{acct}:cluster:{cluster_identifier}",
                                site.region
                            ),
                            format!("arn:aws:rds:{}:{acct}:db:*", site.region),
                        ],
                        None,
                    ));
                    statements.push(statement(
                        sid(s, c, "ListSnapshots"),
                        &["rds:DescribeDBClusterSnapshots", "rds:ListTagsForResource"],
                        regions
                            .iter()
                            .flat_map(|r| {
                                [
                                    format!("arn:aws:rds:{r}:{acct}:cluster-snapshot:*"),
                                    format!("arn:aws:rds:{r}:{acct}:cluster:{cluster_identifier}"),
                                ]
                            })
                            .collect(),
                        None,
                    ));
                    let mut create = vec![format!(
                        "arn:aws:rds:{}:{acct}:cluster:{cluster_identifier}",
                        site.region
                    )];
                    create.extend(own_snapshots.clone());
                    statements.push(statement(
                        sid(s, c, "Snapshot"),
                        &[
                            "rds:CreateDBClusterSnapshot",
                            "rds:CopyDBClusterSnapshot",
                            "rds:AddTagsToResource",
                        ],
                        create,
                        None,
                    ));
                    statements.push(statement(
                        sid(s, c, "DeleteManaged"),
                        &["rds:DeleteDBClusterSnapshot"],
                        own_snapshots,
                        Some(managed_only("aws:ResourceTag/wpbackup:managed")),
                    ));
                }
                Target::Efs {
                    file_system_id,
                    vault,
                    iam_role_arn,
                } => {
                    let mut vaults = vec![format!(
                        "arn:aws:backup:{}:{acct}:backup-vault:{vault}",
                        site.region
                    )];
                    for copy in &p.dr_copies {
                        if let Some(v) = &copy.vault {
                            vaults.push(format!(
                                "arn:aws:backup:{}:{acct}:backup-vault:{v}",
                                copy.region
                            ));
                        }
                    }
                    let points = each(&|r| format!("arn:aws:backup:{r}:{acct}:recovery-point:*"));
                    statements.push(statement(
                        sid(s, c, "ReadFileSystem"),
                        &[
                            "elasticfilesystem:DescribeFileSystems",
                            "elasticfilesystem:DescribeMountTargets",
                            "elasticfilesystem:DescribeMountTargetSecurityGroups",
                        ],
                        vec![format!(
                            "arn:aws:elasticfilesystem:{}:{acct}:file-system/{file_system_id}",
                            site.region
                        )],
                        None,
                    ));
                    let mut backup_resources = vaults.clone();
                    backup_resources.extend(points.clone());
                    statements.push(statement(
                        sid(s, c, "Backup"),
                        &[
                            "backup:StartBackupJob",
                            "backup:StartCopyJob",
                            "backup:DescribeRecoveryPoint",
                            "backup:ListRecoveryPointsByBackupVault",
                            "backup:DescribeBackupVault",
                            "backup:ListTags",
                            "backup:TagResource",
                        ],
                        backup_resources,
                        None,
                    ));
                    // Job descriptions and by-resource listing have no resource-level scope.
                    statements.push(statement(
                        sid(s, c, "Jobs"),
                        &[
                            "backup:DescribeBackupJob",
                            "backup:DescribeCopyJob",
                            "backup:ListRecoveryPointsByResource",
                        ],
                        vec!["*".into()],
                        Some(in_regions(&regions)),
                    ));
                    statements.push(statement(
                        sid(s, c, "DeleteManaged"),
                        &["backup:DeleteRecoveryPoint"],
                        points,
                        Some(managed_only("aws:ResourceTag/wpbackup:managed")),
                    ));
                    statements.push(statement(
                        sid(s, c, "PassBackupRole"),
                        &["iam:PassRole"],
                        vec![iam_role_arn.clone()],
                        Some(json!({ "StringEquals": { "iam:PassedToService": "backup.amazonaws.com" } })),
                    ));
                }
                Target::S3Bucket {
                    bucket, dr_bucket, ..
                } => {
                    statements.push(statement(
                        sid(s, c, "ReadProtection"),
                        &[
                            "s3:GetBucketVersioning",
                            "s3:GetReplicationConfiguration",
                            "s3:GetLifecycleConfiguration",
                        ],
                        vec![
                            format!("arn:aws:s3:::{bucket}"),
                            format!("arn:aws:s3:::{dr_bucket}"),
                        ],
                        None,
                    ));
                }
            }
        }
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

#[cfg(test)]
mod tests {
    #[test]
    fn sid_is_alphanumeric() {
        assert_eq!(
            super::sid("my-shop", "db-main", "Delete"),
            "MyShopDbMainDelete"
        );
    }
}
