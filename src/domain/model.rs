//! The vocabulary: component kinds, recovery points, their states, run phases.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What a component is, as named in policy files (`kind = "aurora-cluster"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentKind {
    LightsailInstance,
    Ec2Instance,
    /// The elastic web tier: an Auto Scaling group behind an ALB.
    AutoScalingGroup,
    AuroraCluster,
    Efs,
    S3Bucket,
}

impl ComponentKind {
    /// The AWS service whose API a run of this kind mostly calls (`[limits]` keys).
    pub fn service(self) -> &'static str {
        match self {
            ComponentKind::LightsailInstance => "lightsail",
            ComponentKind::Ec2Instance | ComponentKind::AutoScalingGroup => "ec2",
            ComponentKind::AuroraCluster => "rds",
            ComponentKind::Efs => "backup",
            ComponentKind::S3Bucket => "s3",
        }
    }

    /// Every service a kind maps to, for `[limits]`.
    pub const SERVICES: [&'static str; 5] = ["ec2", "rds", "backup", "s3", "lightsail"];

    pub const ALL: [ComponentKind; 6] = [
        ComponentKind::LightsailInstance,
        ComponentKind::Ec2Instance,
        ComponentKind::AutoScalingGroup,
        ComponentKind::AuroraCluster,
        ComponentKind::Efs,
        ComponentKind::S3Bucket,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::LightsailInstance => "lightsail-instance",
            ComponentKind::Ec2Instance => "ec2-instance",
            ComponentKind::AutoScalingGroup => "auto-scaling-group",
            ComponentKind::AuroraCluster => "aurora-cluster",
            ComponentKind::Efs => "efs",
            ComponentKind::S3Bucket => "s3-bucket",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind of recovery point a backup of this component produces.
    pub fn point_kind(self) -> PointKind {
        match self {
            ComponentKind::LightsailInstance => PointKind::LightsailSnapshot,
            ComponentKind::Ec2Instance | ComponentKind::AutoScalingGroup => PointKind::Ec2Ami,
            ComponentKind::AuroraCluster => PointKind::AuroraClusterSnapshot,
            ComponentKind::Efs => PointKind::EfsRecoveryPoint,
            ComponentKind::S3Bucket => PointKind::S3Checkpoint,
        }
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a recovery point physically is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PointKind {
    LightsailSnapshot,
    Ec2Ami,
    AuroraClusterSnapshot,
    EfsRecoveryPoint,
    /// "Versioned history of the bucket (and its replica) is retained up to here."
    S3Checkpoint,
}

impl PointKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PointKind::LightsailSnapshot => "lightsail-snapshot",
            PointKind::Ec2Ami => "ec2-ami",
            PointKind::AuroraClusterSnapshot => "aurora-cluster-snapshot",
            PointKind::EfsRecoveryPoint => "efs-recovery-point",
            PointKind::S3Checkpoint => "s3-checkpoint",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            PointKind::LightsailSnapshot,
            PointKind::Ec2Ami,
            PointKind::AuroraClusterSnapshot,
            PointKind::EfsRecoveryPoint,
            PointKind::S3Checkpoint,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for PointKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lifecycle of a recovery point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PointState {
    Creating,
    Available,
    Failed,
    Deleting,
    Deleted,
    /// The catalog knows it but the cloud no longer has it (deleted outside wpbackup).
    Missing,
}

impl PointState {
    /// Every state (`parse` reads through this list, so a state missing here is unreadable
    /// from the catalog — never silently skipped by a query built from it).
    pub const ALL: [PointState; 6] = [
        PointState::Creating,
        PointState::Available,
        PointState::Failed,
        PointState::Deleting,
        PointState::Deleted,
        PointState::Missing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PointState::Creating => "creating",
            PointState::Available => "available",
            PointState::Failed => "failed",
            PointState::Deleting => "deleting",
            PointState::Deleted => "deleted",
            PointState::Missing => "missing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for PointState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the reason of a skipped scheduled run begins when the fire did not run at all (the
/// daemon was down past the start window, or the fire was interrupted twice): the audit's
/// `missed-fires` control and `/metrics` count these.
pub const MISSED_FIRE: &str = "missed";

/// Phase of a run, after Velero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RunPhase {
    InProgress,
    Completed,
    /// The point was taken but something after it failed (a DR copy, a post-hook).
    PartiallyFailed,
    Failed,
    /// Not started because a run of the same policy was still in progress.
    Skipped,
    /// A process died mid-run; reconciliation decided the outcome later.
    Interrupted,
}

impl RunPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            RunPhase::InProgress => "InProgress",
            RunPhase::Completed => "Completed",
            RunPhase::PartiallyFailed => "PartiallyFailed",
            RunPhase::Failed => "Failed",
            RunPhase::Skipped => "Skipped",
            RunPhase::Interrupted => "Interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RunPhase::InProgress,
            RunPhase::Completed,
            RunPhase::PartiallyFailed,
            RunPhase::Failed,
            RunPhase::Skipped,
            RunPhase::Interrupted,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for RunPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is needed to restore from a point later, recorded when it is taken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestoreMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    /// Lightsail bundle id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_group_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// EBS snapshots that belong to an AMI (deleted with it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ebs_snapshot_ids: Vec<String>,
    /// Anything else a provider wants to remember (engine version, DB subnet group, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
    /// The cloud gave no creation time: `point_time` is not the instant the point holds
    /// (it is the Unix epoch), so the point is never chosen for "as of T" nor counted
    /// as fresh.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub time_unknown: bool,
}

/// A recovery point as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryPoint {
    pub id: i64,
    pub site: String,
    pub component: String,
    pub component_kind: ComponentKind,
    pub kind: PointKind,
    pub region: String,
    /// Deterministic name (`wpb-<site>-<component>-<instant>`), also the idempotency key.
    pub name: String,
    /// Snapshot name / AMI id / snapshot identifier / recovery point ARN.
    pub provider_id: String,
    pub arn: Option<String>,
    /// The instant whose state the point holds.
    pub point_time: DateTime<Utc>,
    pub state: PointState,
    /// For a DR copy: the catalog id of the point it was copied from.
    pub source_point_id: Option<i64>,
    pub run_id: Option<i64>,
    pub managed: bool,
    pub metadata: RestoreMetadata,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl RecoveryPoint {
    pub fn is_copy(&self) -> bool {
        self.source_point_id.is_some()
    }
}

/// One object version as S3 lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectVersion {
    pub key: String,
    pub version_id: String,
    pub last_modified: DateTime<Utc>,
    pub is_delete_marker: bool,
    pub is_latest: bool,
}
