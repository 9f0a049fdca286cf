//! The one table of every SDK operation the adapters call: the IAM action(s) it needs, the
//! component kind and purpose it serves, and the resources it is scoped to. `iam-policy`
//! builds its statements from it, the error mapping names the missing action on
//! AccessDenied from it, and the tests fail when an adapter calls an operation it lacks.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::{Arc, Mutex};

/// The AWS services wpbackup calls, named as the SDK names them in operation metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Ec2,
    Rds,
    S3,
    Backup,
    Efs,
    Lightsail,
    AutoScaling,
    Elbv2,
    CloudFront,
}

impl Service {
    pub const ALL: [Service; 9] = [
        Service::Ec2,
        Service::Rds,
        Service::S3,
        Service::Backup,
        Service::Efs,
        Service::Lightsail,
        Service::AutoScaling,
        Service::Elbv2,
        Service::CloudFront,
    ];

    /// The service name in the SDK's operation metadata.
    pub fn sdk_name(self) -> &'static str {
        match self {
            Service::Ec2 => "EC2",
            Service::Rds => "RDS",
            Service::S3 => "S3",
            Service::Backup => "Backup",
            Service::Efs => "EFS",
            Service::Lightsail => "Lightsail",
            Service::AutoScaling => "Auto Scaling",
            Service::Elbv2 => "Elastic Load Balancing v2",
            Service::CloudFront => "CloudFront",
        }
    }

    pub fn from_sdk_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.sdk_name() == name)
    }
}

/// What a part of wpbackup does with an operation; `iam-policy --for` selects by it.
/// Backup covers `run`, `snapshot`, the daemon and `prune`; restore covers `restore`,
/// `drill` and rollback; audit covers `audit`, `sync` and `settings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    Backup,
    Restore,
    Audit,
}

impl Purpose {
    pub const ALL: [Purpose; 3] = [Purpose::Backup, Purpose::Restore, Purpose::Audit];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Backup => "backup",
            Purpose::Restore => "restore",
            Purpose::Audit => "audit",
        }
    }
}

/// The part of a site an operation serves: a component kind or an entry point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    Lightsail,
    Ec2,
    /// The Auto Scaling web tier (also granted the `Ec2` rows: it images instances).
    AutoScaling,
    Aurora,
    Efs,
    S3,
    StaticIp,
    ElasticIp,
    /// The ALB listener in front of an Auto Scaling web tier.
    Listener,
    /// The CloudFront distribution in front of the site (`cloudfront_distribution_id`).
    Cdn,
    /// A drill's (or staging copy's) own network isolation: a security group per drill
    /// in the site's VPC (sites with EC2, Auto Scaling, Aurora or EFS components).
    Isolation,
}

/// Which resources a statement names, resolved by `iam` against one component's
/// configuration (ids, vault, role, buckets, regions, account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The API has no resource-level permissions: `*`, limited to the site's regions.
    Regional,
    /// The protected resource itself (instance, cluster, file system, buckets).
    Protected,
    /// The protected resource and the component's own points (create calls).
    ProtectedAndPoints,
    /// The component's own points in every region it uses.
    Points,
    /// Every snapshot of the protected resource, managed or not (listing, `sync`).
    AllSnapshots,
    /// Tagging new points, only with the `wpbackup:managed` tag in the request.
    TagNewPoints,
    /// Tagging what `RunInstances` creates, only as part of that launch.
    TagOnLaunch,
    /// Deleting points, only those tagged `wpbackup:managed`.
    ManagedPoints,
    /// The component's backup vaults and their recovery points.
    Vaults,
    /// The Lightsail instance's add-ons (only with automatic snapshots configured).
    AddOn,
    /// Passing the configured AWS Backup role to `backup.amazonaws.com`.
    PassRole,
    /// What a restore creates from a point: the new resource and what it is built from.
    Launch,
    /// Resources a restore created (and, for clusters, the renamed original).
    Restored,
    /// Deleting what a restore created, only if tagged `wpbackup:managed`.
    ManagedRestored,
    /// The network interfaces (and their subnets and groups) of mount targets, which EFS
    /// creates and deletes in the caller's name.
    Network,
    /// The objects of the protected bucket (reverting to an instant).
    Objects,
    /// The site's entry point and the instances it can be moved to.
    EntryPoint,
    /// The site's CloudFront distribution.
    Distribution,
    /// Creating a drill's security group: only with the `wpbackup:managed` tag in the request.
    IsolationCreate,
    /// Tagging a security group, only as part of its creation.
    IsolationTagOnCreate,
    /// Changing the rules of, and deleting, security groups tagged `wpbackup:managed`.
    IsolationManaged,
}

/// One row: an SDK operation, the IAM action(s) it needs, and for what.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub service: Service,
    /// The SDK's operation name (as in its metadata and the API reference).
    pub name: &'static str,
    pub actions: &'static [&'static str],
    pub part: Part,
    pub purposes: &'static [Purpose],
    pub scope: Scope,
}

use Part as K;
use Purpose::{Audit as A, Backup as B, Restore as R};
use Scope as S;
use Service as V;

const fn op(
    service: Service,
    name: &'static str,
    actions: &'static [&'static str],
    part: Part,
    purposes: &'static [Purpose],
    scope: Scope,
) -> Operation {
    Operation {
        service,
        name,
        actions,
        part,
        purposes,
        scope,
    }
}

/// Every operation the adapters call. An operation used by several parts or with
/// different scopes has one row each (companion actions such as `iam:PassRole` get a row
/// of their own, scoped to what they act on).
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    // ── Lightsail instance: ARNs carry generated ids, so statements are scoped to the
    // account and regions; deletions to resources tagged wpbackup:managed.
    op(V::Lightsail, "GetInstance", &["lightsail:GetInstance"], K::Lightsail, &[B, R, A], S::Protected),
    op(V::Lightsail, "CreateInstanceSnapshot", &["lightsail:CreateInstanceSnapshot"], K::Lightsail, &[B], S::ProtectedAndPoints),
    op(V::Lightsail, "GetInstanceSnapshot", &["lightsail:GetInstanceSnapshot"], K::Lightsail, &[B, R, A], S::Points),
    op(V::Lightsail, "GetInstanceSnapshots", &["lightsail:GetInstanceSnapshots"], K::Lightsail, &[B, A], S::AllSnapshots),
    op(V::Lightsail, "CopySnapshot", &["lightsail:CopySnapshot"], K::Lightsail, &[B], S::Points),
    op(V::Lightsail, "TagResource", &["lightsail:TagResource"], K::Lightsail, &[B], S::Points),
    op(V::Lightsail, "GetAutoSnapshots", &["lightsail:GetAutoSnapshots"], K::Lightsail, &[B, A], S::Protected),
    op(V::Lightsail, "EnableAddOn", &["lightsail:EnableAddOn"], K::Lightsail, &[B], S::AddOn),
    op(V::Lightsail, "DeleteInstanceSnapshot", &["lightsail:DeleteInstanceSnapshot"], K::Lightsail, &[B], S::ManagedPoints),
    op(V::Lightsail, "CreateInstancesFromSnapshot", &["lightsail:CreateInstancesFromSnapshot", "lightsail:TagResource"], K::Lightsail, &[R], S::Launch),
    op(V::Lightsail, "GetInstance", &["lightsail:GetInstance"], K::Lightsail, &[R], S::Restored),
    op(V::Lightsail, "DeleteInstance", &["lightsail:DeleteInstance"], K::Lightsail, &[R], S::ManagedRestored),
    // ── EC2 instance behind an Elastic IP. Describe calls have no resource-level scope.
    op(V::Ec2, "DescribeInstances", &["ec2:DescribeInstances"], K::Ec2, &[B, R, A], S::Regional),
    op(V::Ec2, "DescribeImages", &["ec2:DescribeImages"], K::Ec2, &[B, R, A], S::Regional),
    op(V::Ec2, "DescribeSnapshots", &["ec2:DescribeSnapshots"], K::Ec2, &[B, A], S::Regional),
    op(V::Ec2, "CreateImage", &["ec2:CreateImage"], K::Ec2, &[B], S::ProtectedAndPoints),
    op(V::Ec2, "CopyImage", &["ec2:CopyImage"], K::Ec2, &[B], S::Points),
    op(V::Ec2, "CreateTags", &["ec2:CreateTags"], K::Ec2, &[B], S::TagNewPoints),
    op(V::Ec2, "DeregisterImage", &["ec2:DeregisterImage"], K::Ec2, &[B], S::ManagedPoints),
    op(V::Ec2, "DeleteSnapshot", &["ec2:DeleteSnapshot"], K::Ec2, &[B], S::ManagedPoints),
    // RunInstances with tag specifications also needs CreateTags on the new resources.
    op(V::Ec2, "RunInstances", &["ec2:RunInstances"], K::Ec2, &[R], S::Launch),
    op(V::Ec2, "RunInstances", &["ec2:CreateTags"], K::Ec2, &[R], S::TagOnLaunch),
    op(V::Ec2, "TerminateInstances", &["ec2:TerminateInstances"], K::Ec2, &[R], S::ManagedRestored),
    // ── Auto Scaling web tier: besides the EC2 rows (images of an instance of the group),
    // reading the group, its launch template and target group, and imaging only
    // instances of this group (their aws:autoscaling:groupName tag).
    op(V::AutoScaling, "DescribeAutoScalingGroups", &["autoscaling:DescribeAutoScalingGroups"], K::AutoScaling, &[B, R, A], S::Regional),
    op(V::Ec2, "DescribeLaunchTemplateVersions", &["ec2:DescribeLaunchTemplateVersions"], K::AutoScaling, &[B, R], S::Regional),
    op(V::Elbv2, "DescribeTargetGroups", &["elasticloadbalancing:DescribeTargetGroups"], K::AutoScaling, &[B, R], S::Regional),
    op(V::Ec2, "CreateImage", &["ec2:CreateImage"], K::AutoScaling, &[B], S::Protected),
    // A restore's separate tier: a new launch template (never a version of the site's), a
    // target group like the original's, a group; checked through target health; deleted
    // (drill teardown, finalize) only when tagged wpbackup's. Creating a group from a
    // launch template also needs the EC2 rows' RunInstances on what it launches.
    op(V::Ec2, "DescribeLaunchTemplates", &["ec2:DescribeLaunchTemplates"], K::AutoScaling, &[R], S::Regional),
    op(V::Ec2, "CreateLaunchTemplate", &["ec2:CreateLaunchTemplate", "ec2:CreateTags"], K::AutoScaling, &[R], S::Launch),
    op(V::Elbv2, "CreateTargetGroup", &["elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:AddTags"], K::AutoScaling, &[R], S::Launch),
    op(V::AutoScaling, "CreateAutoScalingGroup", &["autoscaling:CreateAutoScalingGroup", "autoscaling:CreateOrUpdateTags"], K::AutoScaling, &[R], S::Launch),
    // A launch template with an instance profile passes its role to EC2.
    op(V::AutoScaling, "CreateAutoScalingGroup", &["iam:PassRole"], K::AutoScaling, &[R], S::PassRole),
    op(V::Elbv2, "DescribeTargetHealth", &["elasticloadbalancing:DescribeTargetHealth"], K::AutoScaling, &[R], S::Regional),
    op(V::Elbv2, "DescribeTags", &["elasticloadbalancing:DescribeTags"], K::AutoScaling, &[R], S::Regional),
    op(V::AutoScaling, "DeleteAutoScalingGroup", &["autoscaling:DeleteAutoScalingGroup"], K::AutoScaling, &[R], S::ManagedRestored),
    op(V::Elbv2, "DeleteTargetGroup", &["elasticloadbalancing:DeleteTargetGroup"], K::AutoScaling, &[R], S::ManagedRestored),
    op(V::Ec2, "DeleteLaunchTemplate", &["ec2:DeleteLaunchTemplate"], K::AutoScaling, &[R], S::ManagedRestored),
    // ── Aurora cluster.
    op(V::Rds, "DescribeDBClusters", &["rds:DescribeDBClusters"], K::Aurora, &[B, R, A], S::Protected),
    op(V::Rds, "DescribeDBInstances", &["rds:DescribeDBInstances"], K::Aurora, &[B, R, A], S::Protected),
    op(V::Rds, "CreateDBClusterSnapshot", &["rds:CreateDBClusterSnapshot", "rds:AddTagsToResource"], K::Aurora, &[B], S::ProtectedAndPoints),
    op(V::Rds, "CopyDBClusterSnapshot", &["rds:CopyDBClusterSnapshot", "rds:AddTagsToResource"], K::Aurora, &[B], S::Points),
    op(V::Rds, "DescribeDBClusterSnapshots", &["rds:DescribeDBClusterSnapshots"], K::Aurora, &[B, R, A], S::AllSnapshots),
    op(V::Rds, "ListTagsForResource", &["rds:ListTagsForResource"], K::Aurora, &[B, A], S::AllSnapshots),
    op(V::Rds, "DeleteDBClusterSnapshot", &["rds:DeleteDBClusterSnapshot"], K::Aurora, &[B], S::ManagedPoints),
    op(V::Rds, "RestoreDBClusterToPointInTime", &["rds:RestoreDBClusterToPointInTime", "rds:AddTagsToResource"], K::Aurora, &[R], S::Launch),
    op(V::Rds, "RestoreDBClusterFromSnapshot", &["rds:RestoreDBClusterFromSnapshot", "rds:AddTagsToResource"], K::Aurora, &[R], S::Launch),
    op(V::Rds, "CreateDBInstance", &["rds:CreateDBInstance"], K::Aurora, &[R], S::Launch),
    op(V::Rds, "DescribeDBClusters", &["rds:DescribeDBClusters"], K::Aurora, &[R], S::Restored),
    op(V::Rds, "ModifyDBCluster", &["rds:ModifyDBCluster"], K::Aurora, &[R], S::Restored),
    op(V::Rds, "DeleteDBInstance", &["rds:DeleteDBInstance"], K::Aurora, &[R], S::ManagedRestored),
    op(V::Rds, "DeleteDBCluster", &["rds:DeleteDBCluster"], K::Aurora, &[R], S::ManagedRestored),
    // ── EFS through AWS Backup.
    op(V::Efs, "DescribeFileSystems", &["elasticfilesystem:DescribeFileSystems"], K::Efs, &[B, A], S::Protected),
    op(V::Efs, "DescribeMountTargets", &["elasticfilesystem:DescribeMountTargets"], K::Efs, &[B, A], S::Protected),
    op(V::Efs, "DescribeMountTargetSecurityGroups", &["elasticfilesystem:DescribeMountTargetSecurityGroups"], K::Efs, &[B, A], S::Protected),
    op(V::Backup, "StartBackupJob", &["backup:StartBackupJob"], K::Efs, &[B], S::Vaults),
    op(V::Backup, "StartCopyJob", &["backup:StartCopyJob"], K::Efs, &[B], S::Vaults),
    op(V::Backup, "DescribeRecoveryPoint", &["backup:DescribeRecoveryPoint"], K::Efs, &[B, R, A], S::Vaults),
    op(V::Backup, "ListRecoveryPointsByBackupVault", &["backup:ListRecoveryPointsByBackupVault"], K::Efs, &[B, A], S::Vaults),
    op(V::Backup, "DescribeBackupVault", &["backup:DescribeBackupVault"], K::Efs, &[B, A], S::Vaults),
    op(V::Backup, "ListTags", &["backup:ListTags"], K::Efs, &[B, A], S::Vaults),
    op(V::Backup, "TagResource", &["backup:TagResource"], K::Efs, &[B], S::Vaults),
    // Job descriptions and by-resource listing have no resource-level scope.
    op(V::Backup, "DescribeBackupJob", &["backup:DescribeBackupJob"], K::Efs, &[B], S::Regional),
    op(V::Backup, "DescribeCopyJob", &["backup:DescribeCopyJob"], K::Efs, &[B], S::Regional),
    op(V::Backup, "ListRecoveryPointsByResource", &["backup:ListRecoveryPointsByResource"], K::Efs, &[B, A], S::Regional),
    op(V::Backup, "DeleteRecoveryPoint", &["backup:DeleteRecoveryPoint"], K::Efs, &[B], S::ManagedPoints),
    op(V::Backup, "StartBackupJob", &["iam:PassRole"], K::Efs, &[B], S::PassRole),
    // A restore job creates the file system as the role: it needs PassRole as well.
    op(V::Backup, "StartRestoreJob", &["backup:StartRestoreJob"], K::Efs, &[R], S::Vaults),
    op(V::Backup, "StartRestoreJob", &["iam:PassRole"], K::Efs, &[R], S::PassRole),
    op(V::Backup, "DescribeRestoreJob", &["backup:DescribeRestoreJob"], K::Efs, &[R], S::Regional),
    op(V::Efs, "TagResource", &["elasticfilesystem:TagResource"], K::Efs, &[R], S::Restored),
    op(V::Efs, "DescribeFileSystems", &["elasticfilesystem:DescribeFileSystems"], K::Efs, &[R], S::Restored),
    op(V::Efs, "DescribeMountTargets", &["elasticfilesystem:DescribeMountTargets"], K::Efs, &[R], S::Restored),
    op(V::Efs, "CreateMountTarget", &["elasticfilesystem:CreateMountTarget"], K::Efs, &[R], S::Restored),
    // EFS creates the mount target's network interface in the caller's name.
    op(V::Efs, "CreateMountTarget", &["ec2:DescribeSubnets", "ec2:DescribeNetworkInterfaces"], K::Efs, &[R], S::Regional),
    op(V::Efs, "CreateMountTarget", &["ec2:CreateNetworkInterface"], K::Efs, &[R], S::Network),
    op(V::Efs, "DeleteMountTarget", &["elasticfilesystem:DeleteMountTarget"], K::Efs, &[R], S::ManagedRestored),
    op(V::Efs, "DeleteMountTarget", &["ec2:DeleteNetworkInterface"], K::Efs, &[R], S::Network),
    op(V::Efs, "DeleteFileSystem", &["elasticfilesystem:DeleteFileSystem"], K::Efs, &[R], S::ManagedRestored),
    // ── S3 bucket: versioning and replication are the history; a restore reverts objects.
    op(V::S3, "GetBucketVersioning", &["s3:GetBucketVersioning"], K::S3, &[B, R, A], S::Protected),
    op(V::S3, "GetBucketReplication", &["s3:GetReplicationConfiguration"], K::S3, &[B, A], S::Protected),
    op(V::S3, "GetBucketLifecycleConfiguration", &["s3:GetLifecycleConfiguration"], K::S3, &[B, A], S::Protected),
    op(V::S3, "ListObjectVersions", &["s3:ListBucketVersions"], K::S3, &[R], S::Protected),
    // A copy of an old version onto the current key: reading the version, writing the key.
    op(V::S3, "CopyObject", &["s3:GetObjectVersion", "s3:PutObject"], K::S3, &[R], S::Objects),
    op(V::S3, "DeleteObject", &["s3:DeleteObject"], K::S3, &[R], S::Objects),
    // ── Entry points, moved by the cutover and read back by rollback.
    op(V::Ec2, "DescribeAddresses", &["ec2:DescribeAddresses"], K::ElasticIp, &[R, A], S::Regional),
    op(V::Ec2, "AssociateAddress", &["ec2:AssociateAddress"], K::ElasticIp, &[R], S::EntryPoint),
    op(V::Elbv2, "DescribeListeners", &["elasticloadbalancing:DescribeListeners"], K::Listener, &[R, A], S::Regional),
    op(V::Elbv2, "ModifyListener", &["elasticloadbalancing:ModifyListener"], K::Listener, &[R], S::EntryPoint),
    op(V::Lightsail, "GetStaticIp", &["lightsail:GetStaticIp"], K::StaticIp, &[R, A], S::EntryPoint),
    op(V::Lightsail, "AttachStaticIp", &["lightsail:AttachStaticIp"], K::StaticIp, &[R], S::EntryPoint),
    op(V::Lightsail, "DetachStaticIp", &["lightsail:DetachStaticIp"], K::StaticIp, &[R], S::EntryPoint),
    // ── CloudFront: after a restore reverted objects, their paths are invalidated (and
    // waited for); a restore that changed the web tier reads the origins.
    op(V::CloudFront, "CreateInvalidation", &["cloudfront:CreateInvalidation"], K::Cdn, &[R], S::Distribution),
    op(V::CloudFront, "GetInvalidation", &["cloudfront:GetInvalidation"], K::Cdn, &[R], S::Distribution),
    op(V::CloudFront, "GetDistribution", &["cloudfront:GetDistribution"], K::Cdn, &[R], S::Distribution),
    // ── Drill isolation: the drill's own security group in the site's VPC, its rules made
    // exactly "its members and the health check in, its members out", deleted at teardown.
    op(V::Ec2, "DescribeSubnets", &["ec2:DescribeSubnets"], K::Isolation, &[R], S::Regional),
    op(V::Ec2, "DescribeVpcs", &["ec2:DescribeVpcs"], K::Isolation, &[R], S::Regional),
    op(V::Rds, "DescribeDBSubnetGroups", &["rds:DescribeDBSubnetGroups"], K::Isolation, &[R], S::Regional),
    op(V::Ec2, "DescribeSecurityGroups", &["ec2:DescribeSecurityGroups"], K::Isolation, &[R, A], S::Regional),
    op(V::Ec2, "CreateSecurityGroup", &["ec2:CreateSecurityGroup"], K::Isolation, &[R], S::IsolationCreate),
    op(V::Ec2, "CreateSecurityGroup", &["ec2:CreateTags"], K::Isolation, &[R], S::IsolationTagOnCreate),
    op(V::Ec2, "RevokeSecurityGroupEgress", &["ec2:RevokeSecurityGroupEgress"], K::Isolation, &[R], S::IsolationManaged),
    op(V::Ec2, "AuthorizeSecurityGroupEgress", &["ec2:AuthorizeSecurityGroupEgress"], K::Isolation, &[R], S::IsolationManaged),
    op(V::Ec2, "RevokeSecurityGroupIngress", &["ec2:RevokeSecurityGroupIngress"], K::Isolation, &[R], S::IsolationManaged),
    op(V::Ec2, "AuthorizeSecurityGroupIngress", &["ec2:AuthorizeSecurityGroupIngress"], K::Isolation, &[R], S::IsolationManaged),
    op(V::Ec2, "DeleteSecurityGroup", &["ec2:DeleteSecurityGroup"], K::Isolation, &[R], S::IsolationManaged),
];

/// The rows of one SDK operation.
pub fn rows(service: Service, name: &str) -> impl Iterator<Item = &'static Operation> + '_ {
    OPERATIONS
        .iter()
        .filter(move |o| o.service == service && o.name == name)
}

/// Every IAM action an SDK operation needs (all rows), or `None` if the table lacks it.
pub fn actions(service: Service, name: &str) -> Option<Vec<&'static str>> {
    let mut out: Vec<&'static str> = rows(service, name)
        .flat_map(|o| o.actions.iter().copied())
        .collect();
    out.sort_unstable();
    out.dedup();
    (!out.is_empty()).then_some(out)
}

/// One SDK call seen by a [`CallLog`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Call {
    /// The SDK's service name (`EC2`, `RDS`, …).
    pub service: String,
    pub operation: String,
}

/// An interceptor that records every operation a client sends (before serialization, so
/// calls that fail are recorded too). Tests attach it to prove the table is complete.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl CallLog {
    /// Every call recorded so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("call log lock").clone()
    }

    pub fn clear(&self) {
        self.calls.lock().expect("call log lock").clear();
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "wpbackup::CallLog"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.calls.lock().expect("call log lock").push(Call {
                service: m.service().to_string(),
                operation: m.name().to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IAM action named like the operation, where IAM names it differently.
    const RENAMED: [(&str, &str); 4] = [
        ("GetBucketReplication", "s3:GetReplicationConfiguration"),
        (
            "GetBucketLifecycleConfiguration",
            "s3:GetLifecycleConfiguration",
        ),
        ("ListObjectVersions", "s3:ListBucketVersions"),
        ("CopyObject", "s3:PutObject"),
    ];

    #[test]
    fn every_operation_needs_the_action_of_its_own_name() {
        for o in OPERATIONS {
            let prefix = match o.service {
                Service::Ec2 => "ec2",
                Service::Rds => "rds",
                Service::S3 => "s3",
                Service::Backup => "backup",
                Service::Efs => "elasticfilesystem",
                Service::Lightsail => "lightsail",
                Service::AutoScaling => "autoscaling",
                Service::Elbv2 => "elasticloadbalancing",
                Service::CloudFront => "cloudfront",
            };
            let own = RENAMED
                .iter()
                .find(|(n, _)| *n == o.name)
                .map(|(_, a)| a.to_string())
                .unwrap_or_else(|| format!("{prefix}:{}", o.name));
            let all = actions(o.service, o.name).expect("its own rows");
            assert!(
                all.contains(&own.as_str()),
                "{} needs {own}; the table grants {all:?}",
                o.name
            );
        }
    }

    #[test]
    fn every_action_is_a_service_prefixed_name_without_wildcards() {
        for o in OPERATIONS {
            for a in o.actions {
                let (svc, name) = a.split_once(':').expect("service:Action");
                assert!(!svc.is_empty() && !name.is_empty(), "{a}");
                assert!(!a.contains('*'), "{a} is a wildcard");
                assert!(
                    name.chars().all(|c| c.is_ascii_alphanumeric()),
                    "{a} is not an action name"
                );
            }
            assert!(!o.purposes.is_empty(), "{} has no purpose", o.name);
        }
    }

    /// Each adapter's error mapping names its operations with [`map_sdk`]; every one must
    /// be in the table, or the AccessDenied guidance would name no action.
    #[test]
    fn every_operation_the_adapters_map_errors_for_is_in_the_table() {
        let sources = [
            include_str!("ec2.rs"),
            include_str!("rds.rs"),
            include_str!("s3.rs"),
            include_str!("backup.rs"),
            include_str!("lightsail.rs"),
            include_str!("restore.rs"),
            include_str!("web_tier.rs"),
        ];
        let mut seen = 0;
        for src in sources {
            for (i, _) in src.match_indices("map_sdk(Service::") {
                let rest = &src[i + "map_sdk(Service::".len()..];
                let (svc, rest) = rest.split_once(',').expect("map_sdk(Service::X, \"Op\"");
                let name = rest.trim_start().trim_start_matches('"');
                let name = &name[..name.find('"').expect("quoted operation")];
                let service = match svc {
                    "Ec2" => Service::Ec2,
                    "Rds" => Service::Rds,
                    "S3" => Service::S3,
                    "Backup" => Service::Backup,
                    "Efs" => Service::Efs,
                    "Lightsail" => Service::Lightsail,
                    "AutoScaling" => Service::AutoScaling,
                    "Elbv2" => Service::Elbv2,
                    other => panic!("unknown service {other}"),
                };
                assert!(
                    actions(service, name).is_some(),
                    "{svc}:{name} is mapped by an adapter but missing from OPERATIONS"
                );
                seen += 1;
            }
        }
        assert!(
            seen > 50,
            "only {seen} map_sdk calls found: did the pattern change?"
        );
    }
}
