//! Per-component backup policies (validated; see `config::policy` for the file format).

use super::model::ComponentKind;
use super::schedule::CronSchedule;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Policy {
    /// The component's name, unique within its site.
    pub name: String,
    pub kind: ComponentKind,
    pub description: Option<String>,
    pub schedule: CronSchedule,
    /// Recovery point objective: the most data the site may lose.
    pub rpo: Duration,
    /// How long a point may stay `creating` before the run gives up on it.
    pub wait_timeout: Duration,
    pub retention: Retention,
    pub dr_copies: Vec<DrCopy>,
    pub hooks: Hooks,
    pub tags: BTreeMap<String, String>,
    pub target: Target,
    pub source: PolicySource,
}

/// Where a policy came from: the run records the hash of exactly what it ran under.
#[derive(Debug, Clone)]
pub struct PolicySource {
    pub path: PathBuf,
    pub content_hash: String,
    pub body: String,
}

/// The resource a policy protects, and how, per component kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    LightsailInstance {
        instance_name: String,
        /// Lightsail's own daily auto-snapshot add-on, at this UTC time of day ("HH:00").
        auto_snapshot_time: Option<String>,
    },
    Ec2Instance {
        instance_id: String,
        /// Take the AMI without rebooting (crash-consistent) instead of a clean reboot.
        no_reboot: bool,
        /// How a restore launches a server from a point: wired to the restored data.
        launch: super::wiring::WebLaunch,
    },
    /// The elastic web tier: a point is an AMI of one InService instance of the group,
    /// with the group's launch template data, size and target group as of then.
    AutoScalingGroup {
        group_name: String,
        no_reboot: bool,
        launch: super::wiring::WebLaunch,
    },
    AuroraCluster {
        cluster_identifier: String,
        /// Continuous-backup (point-in-time recovery) window the cluster must keep, 1–35 days.
        pitr_days: u32,
    },
    Efs {
        file_system_id: String,
        vault: String,
        iam_role_arn: String,
    },
    S3Bucket {
        bucket: String,
        dr_bucket: String,
        /// Noncurrent versions must be kept at least this long (lifecycle rule).
        noncurrent_version_days: Option<u32>,
    },
}

impl Target {
    /// The same protection of another resource of the same kind: what a restore adopted
    /// in place of the one the policy names (a bucket is never replaced).
    pub fn with_resource(&self, id: &str) -> Target {
        let mut t = self.clone();
        match &mut t {
            Target::LightsailInstance { instance_name, .. } => *instance_name = id.to_string(),
            Target::Ec2Instance { instance_id, .. } => *instance_id = id.to_string(),
            Target::AutoScalingGroup { group_name, .. } => *group_name = id.to_string(),
            Target::AuroraCluster {
                cluster_identifier, ..
            } => *cluster_identifier = id.to_string(),
            Target::Efs { file_system_id, .. } => *file_system_id = id.to_string(),
            Target::S3Bucket { .. } => {}
        }
        t
    }

    /// The id of the protected resource (instance name/id, cluster id, file system, bucket).
    pub fn resource_id(&self) -> &str {
        match self {
            Target::LightsailInstance { instance_name, .. } => instance_name,
            Target::Ec2Instance { instance_id, .. } => instance_id,
            Target::AutoScalingGroup { group_name, .. } => group_name,
            Target::AuroraCluster {
                cluster_identifier, ..
            } => cluster_identifier,
            Target::Efs { file_system_id, .. } => file_system_id,
            Target::S3Bucket { bucket, .. } => bucket,
        }
    }
}

/// Keep rules, named as restic names them. A point is kept if any rule keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    pub keep_last: Option<u32>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
    pub within: Option<Duration>,
}

impl Retention {
    /// True when no rule would keep anything (every count zero or absent, no `within`).
    pub fn keeps_nothing(&self) -> bool {
        let counts = [
            self.keep_last,
            self.hourly,
            self.daily,
            self.weekly,
            self.monthly,
            self.yearly,
        ];
        counts.iter().all(|c| c.unwrap_or(0) == 0) && self.within.is_none_or(|w| w.is_zero())
    }
}

/// A copy of every point to another region, with its own retention.
#[derive(Debug, Clone, PartialEq)]
pub struct DrCopy {
    pub region: String,
    pub retention: Retention,
    /// EFS only: the AWS Backup vault in the DR region.
    pub vault: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// The component's run fails (a failing pre-hook means no point is taken).
    Fail,
    /// Log it, record a warning, carry on.
    Continue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    /// argv; a single string in the file runs through `sh -c`.
    pub command: Vec<String>,
    pub timeout: Duration,
    pub on_error: OnError,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hooks {
    pub pre: Option<Hook>,
    pub post: Option<Hook>,
}
