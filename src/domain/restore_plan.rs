//! Restore planning, step two (pure): from the chosen sources, the step graph that brings
//! the site back — restores in parallel, then a health check of the restored instance,
//! then the cutover (DB endpoint swap, public IP move), then a check through the public
//! address. The plan is a versioned artifact: what is reviewed is byte for byte what runs.

use super::model::{ComponentKind, PointKind, RestoreMetadata};
use super::names::{TAG_MANAGED, TAG_SITE};
use super::planner::{Selection, Source};
use super::policy::Target;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The plan format; `restore apply` refuses any other.
pub const PLAN_VERSION: u32 = 1;
/// Tag on everything a restore or drill creates: which plan made it.
pub const TAG_PLAN: &str = "wpbackup:restore-plan";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Bring the site back and cut over.
    Restore,
    /// Restore into isolated names, health-check, measure, tear down. No cutover.
    Drill,
    /// A drill's isolated stack that stays up (testing an upgrade on a copy of the site)
    /// until `staging down` tears it down. No cutover.
    Staging,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Restore => "restore",
            Purpose::Drill => "drill",
            Purpose::Staging => "staging",
        }
    }

    /// Restored into a security group of its own, wired only to its own restored data,
    /// health-checked directly, never cut over: a drill or a staging copy.
    pub fn is_isolated(self) -> bool {
        matches!(self, Purpose::Drill | Purpose::Staging)
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Purpose::Restore, Purpose::Drill, Purpose::Staging]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// Where one step of a plan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed,
    /// Nothing to execute (a step done by hand, shown in the plan).
    Skipped,
}

impl StepState {
    pub const ALL: [StepState; 5] = [
        StepState::Pending,
        StepState::Running,
        StepState::Done,
        StepState::Failed,
        StepState::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Done or skipped: the steps that depend on it may start.
    pub fn is_finished(self) -> bool {
        matches!(self, StepState::Done | StepState::Skipped)
    }
}

impl std::fmt::Display for StepState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where a plan is, as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanStatus {
    /// Stored for review; nothing executed.
    Planned,
    /// Started (or stopped half-way): `restore resume` continues it.
    Executing,
    /// A restore whose every step is done.
    Completed,
    /// A step failed; resume after fixing the cause, or roll back.
    Failed,
    /// The cutover was undone.
    RolledBack,
    /// A drill that ran and removed what it created.
    TornDown,
}

impl PlanStatus {
    pub const ALL: [PlanStatus; 6] = [
        PlanStatus::Planned,
        PlanStatus::Executing,
        PlanStatus::Completed,
        PlanStatus::Failed,
        PlanStatus::RolledBack,
        PlanStatus::TornDown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Planned => "planned",
            PlanStatus::Executing => "executing",
            PlanStatus::Completed => "completed",
            PlanStatus::Failed => "failed",
            PlanStatus::RolledBack => "rolled-back",
            PlanStatus::TornDown => "torn-down",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Nothing is left to execute.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PlanStatus::Completed | PlanStatus::RolledBack | PlanStatus::TornDown
        )
    }
}

impl std::fmt::Display for PlanStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The public address, as the plan names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Address {
    LightsailStaticIp { name: String },
    Ec2ElasticIp { allocation_id: String },
    AlbListener { listener_arn: String },
}

/// What one step does. Every action is idempotent on the names the plan fixes, so a
/// resumed plan never duplicates a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum Action {
    /// Aurora: a new cluster from continuous backup at `at`, or from a snapshot.
    RestoreCluster(RestoreCluster),
    CreateClusterInstance(CreateClusterInstance),
    /// EFS: an AWS Backup restore job to a new file system, then its mount targets.
    RestoreFileSystem(RestoreFileSystem),
    /// EC2 from an AMI / Lightsail from an instance snapshot, with the recorded settings.
    LaunchInstance(LaunchInstance),
    /// Make every object current as it was at `at` again (copies and delete markers;
    /// history is kept). In a drill: only count what would change.
    RevertBucket(RevertBucket),
    /// GET the site's URL from the restored instance (step `instance_step`) with the
    /// site's Host header.
    HealthCheck(HealthCheck),
    /// Keep the DB endpoint: the original cluster renamed away, the restored one renamed in.
    SwapCluster(SwapCluster),
    /// Point the static/Elastic IP at the instance launched by `instance_step`.
    MoveAddress(MoveAddress),
    /// GET the site's URL through its public address.
    VerifyPublic(VerifyPublic),
    /// Something the operator does by hand (DNS for a DR restore); shown, not executed.
    Manual(Manual),
    /// Drill: delete what the listed steps created (tagged resources only).
    Teardown(Teardown),
    /// Auto Scaling: a separate restored tier — its own launch template (the point's AMI
    /// and template data of T, wired user data), target group (the original's health-check
    /// settings) and group (the size of T) — until its instances are InService.
    LaunchGroup(LaunchGroup),
    /// Every target of the restored group's target group healthy, then the site's URL
    /// answering through each target with the site's Host header.
    CheckTargets(CheckTargets),
    /// The cutover of an Auto Scaling tier: the listener forwards to the restored target
    /// group; its previous forward is recorded for rollback.
    SwitchListener(SwitchListener),
    /// Drill: a security group of the drill's own, which every resource it creates is put
    /// in instead of production's: its members reach each other (web → database, web →
    /// file system), the health check reaches the web tier, nothing else gets in or out.
    Isolate(Isolate),
    /// CloudFront: after the cutover, the paths of the objects the restore reverted are
    /// invalidated (waited for until completed); when the web tier changed, whether the
    /// distribution's origins still resolve. A drill: skipped, saying what it would do.
    InvalidateCdn(InvalidateCdn),
}

/// At most this many paths are invalidated one by one (in batches of
/// [`CDN_BATCH_PATHS`]); past it, one `/*` (CloudFront allows 3,000 file paths in
/// progress at a time).
pub const CDN_MAX_PATHS: usize = 3000;
/// Paths per invalidation request.
pub const CDN_BATCH_PATHS: usize = 1000;

/// See [`Action::InvalidateCdn`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvalidateCdn {
    pub distribution_id: String,
    /// The bucket reverts whose `reverted` keys are invalidated.
    pub bucket_steps: Vec<String>,
    /// Past this many paths, one `/*`.
    pub max_paths: usize,
    /// The plan changes the web tier: read the origins and resolve them.
    pub check_origins: bool,
    /// A drill: nothing is invalidated.
    pub dry_run: bool,
}

/// Drill: the drill's own security group (see [`Action::Isolate`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Isolate {
    pub region: String,
    pub name: String,
    pub vpc: super::isolation::VpcOf,
    /// Where wpbackup's health check comes from (CIDR blocks, `sg-…` groups): let in on
    /// `port` only.
    pub health_check_from: Vec<String>,
    pub port: u16,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Auto Scaling: the restored tier, created under names fixed by the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchGroup {
    pub region: String,
    pub point_id: i64,
    pub image: String,
    pub group: String,
    pub launch_template: String,
    /// `None` in a drill: the drill's group is in no target group, so no load balancer can
    /// send it traffic.
    pub target_group: Option<String>,
    /// The point's launch template data (its image replaced by the point's AMI).
    pub template: Box<super::web_tier::LaunchTemplateData>,
    pub user_data: Option<UserData>,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: i32,
    pub subnets: Vec<String>,
    /// The settings the restored target group copies.
    pub like: Box<super::web_tier::TargetGroupInfo>,
    pub health_check_type: Option<String>,
    pub health_check_grace_period: Option<i32>,
    /// A drill: the instances get the security group made by this step instead of the
    /// recorded ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_group_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckTargets {
    pub region: String,
    pub group_step: String,
    pub url: String,
    pub expect_status: u16,
    #[serde(flatten)]
    pub probing: Probing,
    /// A drill: the group is in no target group; each running instance is asked directly.
    #[serde(default, skip_serializing_if = "is_false")]
    pub direct: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchListener {
    pub region: String,
    pub listener_arn: String,
    pub group_step: String,
}

/// Aurora: a new cluster from continuous backup at `at`, or from a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreCluster {
    pub region: String,
    pub cluster: String,
    /// `Some`: point-in-time restore of this cluster at `at`.
    pub pitr_of: Option<String>,
    pub at: Option<DateTime<Utc>>,
    /// Otherwise: this snapshot (identifier or ARN).
    pub snapshot: Option<String>,
    pub engine: Option<String>,
    pub subnet_group: Option<String>,
    pub security_group_ids: Vec<String>,
    /// A drill: the security group made by this step instead of `security_group_ids`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_group_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateClusterInstance {
    pub region: String,
    pub cluster: String,
    pub instance: String,
    pub class: String,
    pub engine: String,
}

/// EFS: an AWS Backup restore job to a new file system, then its mount targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreFileSystem {
    pub region: String,
    pub point_id: i64,
    pub recovery_point: String,
    pub role_arn: String,
    pub token: String,
    pub subnets: Vec<String>,
    pub security_group_ids: Vec<String>,
    /// A drill: the mount targets get the security group made by this step instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_group_from: Option<String>,
}

/// EC2 from an AMI / Lightsail from an instance snapshot, with the recorded settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchInstance {
    pub region: String,
    pub point_id: i64,
    pub point_kind: PointKind,
    pub image: String,
    pub name: String,
    pub instance_type: Option<String>,
    pub bundle_id: Option<String>,
    pub subnet_id: Option<String>,
    pub security_group_ids: Vec<String>,
    pub availability_zone: Option<String>,
    pub key_name: Option<String>,
    /// EC2: what the server runs at boot, wired to the plan's restored data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<UserData>,
    /// A drill: the security group made by this step instead of `security_group_ids`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_group_from: Option<String>,
}

/// A web server's user data: the policy's template and where each placeholder's value
/// comes from. Values that only exist once a step has run (a restored file system's id, a
/// restored cluster's endpoint) are filled in at launch and recorded in the step's outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserData {
    pub template: String,
    pub values: BTreeMap<String, WireValue>,
}

/// Where a placeholder's value comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "from")]
pub enum WireValue {
    /// Known when planning (the site, a live file system's id, the mount path).
    Value { value: String },
    /// An output of an earlier step of this plan (e.g. `file_system` of the file-system
    /// restore, `endpoint` of the cluster restore).
    StepOutput { step: String, output: String },
    /// The endpoint of a live cluster this plan does not restore (read at launch).
    ClusterEndpoint { region: String, cluster: String },
}

impl UserData {
    /// The user data as it will be rendered, with values not known yet shown as
    /// `<step: output>` (for review).
    pub fn preview(&self) -> String {
        let values = self
            .values
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    WireValue::Value { value } => value.clone(),
                    WireValue::StepOutput { step, output } => format!("<{output} from {step}>"),
                    WireValue::ClusterEndpoint { cluster, .. } => {
                        format!("<endpoint of live cluster {cluster}>")
                    }
                };
                (k.clone(), text)
            })
            .collect();
        super::wiring::render(&self.template, &values)
            .unwrap_or_else(|e| format!("(cannot render: {e})"))
    }

    /// The steps whose outputs the user data needs.
    pub fn steps(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .values
            .values()
            .filter_map(|w| match w {
                WireValue::StepOutput { step, .. } => Some(step.clone()),
                _ => None,
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Make every object current as it was at `at` again (copies and delete markers;
/// history is kept). In a drill: only count what would change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevertBucket {
    pub region: String,
    pub bucket: String,
    pub at: DateTime<Utc>,
    pub dry_run: bool,
}

/// GET the site's URL from the restored instance (step `instance_step`) with the
/// site's Host header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub url: String,
    pub expect_status: u16,
    #[serde(flatten)]
    pub probing: Probing,
    pub instance_step: String,
}

/// How a health check asks (`[sites.health_check]`): each GET allowed `timeout_secs`, up
/// to `attempts` of them, `interval_ms` apart — a booting web server refuses connections or
/// answers 502 for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probing {
    pub timeout_secs: u64,
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Plans written before it could be configured: the wait interval of the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
}

/// What plans written before `attempts` could be configured did.
fn default_attempts() -> u32 {
    super::site::DEFAULT_HEALTH_ATTEMPTS
}

impl Probing {
    /// "up to 10 attempts 15s apart, each allowed 10s" (the plan's description).
    pub fn describe(&self) -> String {
        let each = format!("each allowed {}s", self.timeout_secs);
        match (self.attempts, self.interval_ms) {
            (1, _) => format!("1 attempt, {each}"),
            (n, Some(ms)) => format!(
                "up to {n} attempts {} apart, {each}",
                humantime::format_duration(std::time::Duration::from_millis(ms))
            ),
            (n, None) => format!("up to {n} attempts at the wait interval, {each}"),
        }
    }
}

/// Keep the DB endpoint: the original cluster renamed away, the restored one renamed in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwapCluster {
    pub region: String,
    pub original: String,
    pub restored: String,
    pub renamed_away: String,
}

/// Point the static/Elastic IP at the instance launched by `instance_step`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoveAddress {
    pub region: String,
    pub address: Address,
    pub instance_step: String,
}

/// GET the site's URL through its public address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyPublic {
    pub url: String,
    pub expect_status: u16,
    #[serde(flatten)]
    pub probing: Probing,
}

/// Something the operator does by hand (DNS for a DR restore); shown, not executed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manual {
    pub instruction: String,
}

/// Drill: delete what the listed steps created (tagged resources only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Teardown {
    pub steps: Vec<String>,
}

impl Action {
    /// A short name for the kind of work (expected durations are kept per kind).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::RestoreCluster(_) => "restore-cluster",
            Action::CreateClusterInstance(_) => "create-cluster-instance",
            Action::RestoreFileSystem(_) => "restore-file-system",
            Action::LaunchInstance(_) => "launch-instance",
            Action::RevertBucket(_) => "revert-bucket",
            Action::HealthCheck(_) => "health-check",
            Action::SwapCluster(_) => "swap-cluster",
            Action::MoveAddress(_) => "move-address",
            Action::VerifyPublic(_) => "verify-public",
            Action::Manual(_) => "manual",
            Action::Teardown(_) => "teardown",
            Action::LaunchGroup(_) => "launch-group",
            Action::CheckTargets(_) => "health-check",
            Action::SwitchListener(_) => "switch-listener",
            Action::Isolate(_) => "isolate",
            Action::InvalidateCdn(_) => "invalidate-cdn",
        }
    }

    /// Whether the step changes what visitors see (needs the operator's confirmation).
    pub fn is_cutover(&self) -> bool {
        matches!(
            self,
            Action::SwapCluster(_)
                | Action::MoveAddress(_)
                | Action::SwitchListener(_)
                | Action::RevertBucket(RevertBucket { dry_run: false, .. })
        )
    }

    /// A typical duration when the catalog has none measured.
    pub fn default_seconds(&self) -> u64 {
        match self {
            Action::RestoreCluster(_) => 1200,
            Action::CreateClusterInstance(_) => 600,
            Action::RestoreFileSystem(_) => 900,
            Action::LaunchInstance(_) => 180,
            Action::RevertBucket(_) => 60,
            Action::HealthCheck(_) | Action::VerifyPublic(_) => 30,
            Action::SwapCluster(_) => 180,
            Action::MoveAddress(_) => 10,
            Action::Manual(_) => 0,
            Action::Teardown(_) => 300,
            Action::LaunchGroup(_) => 420,
            Action::CheckTargets(_) => 60,
            Action::SwitchListener(_) => 10,
            Action::Isolate(_) => 10,
            Action::InvalidateCdn(_) => 300,
        }
    }

    /// The API calls the step makes, for review.
    pub fn calls(&self) -> Vec<String> {
        match self {
            Action::RestoreCluster(RestoreCluster {
                cluster,
                pitr_of,
                at,
                snapshot,
                ..
            }) => match (pitr_of, at, snapshot) {
                (Some(src), Some(at), _) => vec![
                    format!(
                        "rds:RestoreDBClusterToPointInTime(SourceDBClusterIdentifier={src}, \
                         RestoreToTime={}, DBClusterIdentifier={cluster})",
                        at.to_rfc3339()
                    ),
                    format!("rds:DescribeDBClusters({cluster}) until available"),
                ],
                (_, _, snap) => vec![
                    format!(
                        "rds:RestoreDBClusterFromSnapshot(SnapshotIdentifier={}, DBClusterIdentifier={cluster})",
                        snap.as_deref().unwrap_or("?")
                    ),
                    format!("rds:DescribeDBClusters({cluster}) until available"),
                ],
            },
            Action::CreateClusterInstance(CreateClusterInstance {
                cluster,
                instance,
                class,
                ..
            }) => vec![
                format!("rds:CreateDBInstance(DBInstanceIdentifier={instance}, DBClusterIdentifier={cluster}, DBInstanceClass={class})"),
                format!("rds:DescribeDBInstances({instance}) until available, then DescribeDBClusters({cluster})"),
            ],
            Action::RestoreFileSystem(RestoreFileSystem {
                recovery_point,
                subnets,
                ..
            }) => vec![
                format!("backup:StartRestoreJob(RecoveryPointArn={recovery_point}, newFileSystem=true)"),
                "backup:DescribeRestoreJob until COMPLETED".into(),
                format!("efs:TagResource; efs:CreateMountTarget in {}", if subnets.is_empty() { "(no recorded subnets)".to_string() } else { subnets.join(", ") }),
            ],
            Action::LaunchInstance(LaunchInstance {
                point_kind,
                image,
                name,
                user_data,
                ..
            }) => match point_kind {
                PointKind::LightsailSnapshot => vec![
                    format!("lightsail:CreateInstancesFromSnapshot(InstanceSnapshotName={image}, InstanceNames={name})"),
                    format!("lightsail:GetInstance({name}) until running"),
                ],
                _ => {
                    let mut v = vec![format!(
                        "ec2:RunInstances(ImageId={image}, ClientToken={name}, Name={name}{})",
                        if user_data.is_some() { ", UserData below" } else { "" }
                    )];
                    if let Some(u) = user_data {
                        v.push(format!(
                            "user data wired to: {}",
                            u.values
                                .iter()
                                .filter(|(k, _)| *k == "file_system_id" || *k == "db_endpoint")
                                .map(|(k, w)| format!(
                                    "{k} = {}",
                                    match w {
                                        WireValue::Value { value } => value.clone(),
                                        WireValue::StepOutput { step, output } =>
                                            format!("{output} of {step} (restored)"),
                                        WireValue::ClusterEndpoint { cluster, .. } =>
                                            format!("endpoint of {cluster} (live)"),
                                    }
                                ))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    v.push("ec2:DescribeInstances until running".into());
                    v
                }
            },
            Action::RevertBucket(RevertBucket {
                bucket, at, dry_run, ..
            }) => {
                let mut v = vec![format!("s3:ListObjectVersions({bucket})")];
                if !dry_run {
                    v.push(format!(
                        "s3:CopyObject(versionId as of {}) / s3:DeleteObject (delete marker) for each key that differs",
                        at.to_rfc3339()
                    ));
                }
                v
            }
            Action::HealthCheck(HealthCheck {
                url,
                expect_status,
                probing,
                ..
            }) => vec![format!(
                "GET {url} from the restored instance's address (Host: {}), expect {expect_status}; {}",
                host_of(url),
                probing.describe()
            )],
            Action::SwapCluster(SwapCluster {
                original,
                restored,
                renamed_away,
                ..
            }) => vec![
                format!("rds:ModifyDBCluster({original} → {renamed_away}) and wait"),
                format!("rds:ModifyDBCluster({restored} → {original}) and wait"),
            ],
            Action::MoveAddress(MoveAddress { address, .. }) => match address {
                Address::LightsailStaticIp { name } => vec![
                    format!("lightsail:DetachStaticIp({name})"),
                    format!("lightsail:AttachStaticIp({name}, restored instance)"),
                ],
                Address::Ec2ElasticIp { allocation_id } => vec![format!(
                    "ec2:AssociateAddress(AllocationId={allocation_id}, restored instance, AllowReassociation=true)"
                )],
                // Refused when planning: a listener forwards to a target group.
                Address::AlbListener { listener_arn } => vec![format!(
                    "elasticloadbalancing:ModifyListener({listener_arn}) — needs an auto-scaling-group web tier"
                )],
            },
            Action::VerifyPublic(VerifyPublic {
                url,
                expect_status,
                probing,
            }) => vec![format!(
                "GET {url} through the public address, expect {expect_status}; {}",
                probing.describe()
            )],
            Action::Manual(Manual { instruction }) => vec![format!("by hand: {instruction}")],
            Action::Teardown(Teardown { steps }) => vec![format!(
                "delete the resources created by {} (tag {TAG_PLAN} checked)",
                steps.join(", ")
            )],
            Action::LaunchGroup(LaunchGroup {
                image,
                group,
                launch_template,
                target_group,
                template,
                desired_capacity,
                subnets,
                like,
                security_group_from,
                ..
            }) => {
                let mut v = vec![format!(
                    "ec2:CreateLaunchTemplate({launch_template}: ImageId={image}, InstanceType={}, {}UserData below)",
                    template.instance_type.as_deref().unwrap_or("as recorded"),
                    match security_group_from {
                        Some(s) => format!("SecurityGroups=the group of {s}, "),
                        None => String::new(),
                    }
                )];
                match target_group {
                    Some(tg) => v.push(format!(
                        "elasticloadbalancing:CreateTargetGroup({tg}, like {}: health check {} {})",
                        like.name,
                        like.health_check_protocol.as_deref().unwrap_or("HTTP"),
                        like.health_check_path.as_deref().unwrap_or("/")
                    )),
                    None => v.push(
                        "no target group: no load balancer can send the group traffic".into(),
                    ),
                }
                v.push(format!(
                    "autoscaling:CreateAutoScalingGroup({group}, desired {desired_capacity}, subnets {})",
                    subnets.join(",")
                ));
                v.push(
                    "autoscaling:DescribeAutoScalingGroups until every instance is InService"
                        .into(),
                );
                v
            }
            Action::CheckTargets(CheckTargets {
                url,
                expect_status,
                direct,
                probing,
                ..
            }) => {
                let mut v = Vec::new();
                if !direct {
                    v.push(
                        "elasticloadbalancing:DescribeTargetHealth until every target is healthy"
                            .into(),
                    );
                }
                v.push(format!(
                    "GET {url} from each {}'s address (Host: {}), expect {expect_status}; {}",
                    if *direct { "instance" } else { "target" },
                    host_of(url),
                    probing.describe()
                ));
                v
            }
            Action::Isolate(Isolate {
                name,
                vpc,
                health_check_from,
                port,
                ..
            }) => vec![
                format!("ec2:CreateSecurityGroup({name} in {vpc}, tagged {TAG_PLAN})"),
                "ec2:RevokeSecurityGroupEgress(all to 0.0.0.0/0); ec2:AuthorizeSecurityGroupEgress(all to itself)".into(),
                format!(
                    "ec2:AuthorizeSecurityGroupIngress(all from itself{})",
                    if health_check_from.is_empty() {
                        String::new()
                    } else {
                        format!("; tcp/{port} from {}", health_check_from.join(", "))
                    }
                ),
            ],
            Action::InvalidateCdn(InvalidateCdn {
                distribution_id,
                bucket_steps,
                max_paths,
                check_origins,
                dry_run,
            }) => {
                let mut v = Vec::new();
                if *dry_run {
                    v.push(format!(
                        "skipped in a drill: nothing is invalidated in {distribution_id}"
                    ));
                    return v;
                }
                if *check_origins {
                    v.push(format!(
                        "cloudfront:GetDistribution({distribution_id}); resolve each origin's domain name"
                    ));
                }
                v.push(format!(
                    "cloudfront:CreateInvalidation({distribution_id}, the paths of the objects {} reverted, {CDN_BATCH_PATHS} per request; \"/*\" past {max_paths})",
                    bucket_steps.join(", ")
                ));
                v.push(format!(
                    "cloudfront:GetInvalidation({distribution_id}) until Completed"
                ));
                v
            }
            Action::SwitchListener(SwitchListener { listener_arn, .. }) => vec![
                format!("elasticloadbalancing:DescribeListeners({listener_arn}) (the forward kept for rollback)"),
                format!("elasticloadbalancing:ModifyListener({listener_arn}, forward to the restored target group)"),
            ],
        }
    }
}

/// The host name in a URL (for the Host header shown in plans).
pub fn host_of(url: &str) -> &str {
    url.split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub key: String,
    pub component: Option<String>,
    pub depends_on: Vec<String>,
    #[serde(flatten)]
    pub action: Action,
    pub calls: Vec<String>,
    pub expected_seconds: u64,
    /// Where the estimate comes from ("median of 3 past runs", "typical duration").
    pub estimate: String,
}

/// A component's chosen source, as the plan records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentPlan {
    pub component: String,
    pub kind: ComponentKind,
    pub source: String,
    pub point_id: Option<i64>,
    pub point_time: DateTime<Utc>,
    pub gap_seconds: i64,
    pub rpo_seconds: i64,
    pub rpo_exceeded: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub plan_version: u32,
    pub id: String,
    pub site: String,
    pub purpose: Purpose,
    pub at: DateTime<Utc>,
    /// "primary" or "dr".
    pub to: String,
    pub region: String,
    pub created_at: DateTime<Utc>,
    pub components: Vec<ComponentPlan>,
    pub skew_seconds: i64,
    pub warnings: Vec<String>,
    /// Tags put on everything the plan creates.
    pub tags: BTreeMap<String, String>,
    pub steps: Vec<Step>,
    /// The catalog the plan was made from (its point ids are that catalog's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_id: Option<String>,
    /// SHA-256 of the plan without this field ([`Plan::content_digest`]): an edited plan
    /// file no longer matches it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl Plan {
    /// SHA-256 (hex) of the plan's content: everything but `digest`, serialised.
    pub fn content_digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut unsealed = self.clone();
        unsealed.digest = None;
        let json = serde_json::to_vec(&unsealed).expect("a plan serialises");
        hex::encode(Sha256::digest(&json))
    }

    /// Bind the plan to its catalog and record its digest.
    pub fn seal(&mut self, catalog_id: &str) {
        self.catalog_id = Some(catalog_id.to_string());
        self.digest = Some(self.content_digest());
    }

    /// Why a plan read from a file must not run against the catalog `catalog_id`: made
    /// before plans were sealed, edited after it was written, or made from another catalog.
    pub fn check_seal(&self, catalog_id: &str) -> Result<(), String> {
        let again = "make the plan again with `wpbackup restore --at … --out FILE`";
        let Some(digest) = &self.digest else {
            return Err(format!(
                "the plan carries no digest (an older wpbackup wrote it); {again}"
            ));
        };
        if *digest != self.content_digest() {
            return Err(format!(
                "the plan was changed after wpbackup wrote it (its digest no longer matches); {again}"
            ));
        }
        match &self.catalog_id {
            Some(id) if id == catalog_id => Ok(()),
            Some(id) => Err(format!(
                "the plan was made from another catalog ({id}; this one is {catalog_id}): its point ids name other points; {again} from this catalog"
            )),
            None => Err(format!("the plan names no catalog; {again}")),
        }
    }

    pub fn step(&self, key: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.key == key)
    }

    /// Points the plan restores from (kept from retention while it is unfinished).
    pub fn point_ids(&self) -> Vec<i64> {
        self.components.iter().filter_map(|c| c.point_id).collect()
    }

    /// Expected wall time: the longest dependency chain of expected durations.
    pub fn expected_seconds(&self) -> u64 {
        let mut finish: BTreeMap<&str, u64> = BTreeMap::new();
        for s in &self.steps {
            let start = s
                .depends_on
                .iter()
                .filter_map(|d| finish.get(d.as_str()))
                .max()
                .copied()
                .unwrap_or(0);
            finish.insert(&s.key, start + s.expected_seconds);
        }
        finish.values().max().copied().unwrap_or(0)
    }

    /// Everything wrong with a plan read from a file, at once.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.plan_version != PLAN_VERSION {
            problems.push(format!(
                "plan_version {} is not supported; this wpbackup executes plan_version {PLAN_VERSION} (make the plan again with `wpbackup restore --at … --out FILE`)",
                self.plan_version
            ));
        }
        let mut seen = BTreeSet::new();
        for s in &self.steps {
            if !seen.insert(s.key.as_str()) {
                problems.push(format!("step {:?} appears twice", s.key));
            }
            for d in &s.depends_on {
                // Steps may depend only on steps listed before them: no cycles possible.
                if !seen.contains(d.as_str()) || d == &s.key {
                    problems.push(format!(
                        "step {:?} depends on {d:?}, which is not an earlier step of the plan",
                        s.key
                    ));
                }
            }
            let refers = match &s.action {
                Action::HealthCheck(HealthCheck { instance_step, .. })
                | Action::MoveAddress(MoveAddress { instance_step, .. }) => {
                    vec![instance_step.clone()]
                }
                Action::Teardown(Teardown { steps }) => steps.clone(),
                Action::LaunchInstance(LaunchInstance {
                    user_data: Some(u), ..
                })
                | Action::LaunchGroup(LaunchGroup {
                    user_data: Some(u), ..
                }) => u.steps(),
                Action::CheckTargets(CheckTargets { group_step, .. })
                | Action::SwitchListener(SwitchListener { group_step, .. }) => {
                    vec![group_step.clone()]
                }
                _ => vec![],
            };
            for r in refers {
                if !s.depends_on.contains(&r) {
                    problems.push(format!(
                        "step {:?} uses the outcome of {r:?} but does not depend on it",
                        s.key
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// Measured durations of past steps, by action kind (the last part of a step key, e.g.
/// `restore-cluster` of `db.restore-cluster`): (median seconds, how many).
pub type DurationHistory = BTreeMap<String, (u64, usize)>;

/// What the plan builder needs about the site.
pub struct SiteFacts<'a> {
    pub site: &'a str,
    pub primary_region: &'a str,
    pub dr_region: &'a str,
    pub address: Address,
    pub health_url: &'a str,
    pub expect_status: u16,
    /// How the health checks ask (attempts, interval, per-attempt timeout).
    pub health: Probing,
    /// Per component: its target (policy) and its points (for recorded settings).
    pub targets: BTreeMap<String, &'a Target>,
    /// The site's points by component: lookups stay within one component's points.
    pub points: &'a super::planner::PointsByComponent,
    /// `[sites.drill] health_check_from`: where a drill's health check comes from.
    pub drill_health_check_from: &'a [String],
    /// `[sites.dr_network]`: what a DR restore creates its resources in.
    pub dr_network: &'a super::site::DrNetwork,
    /// The CloudFront distribution in front of the site.
    pub cloudfront_distribution_id: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot plan {component}: {reason}")]
pub struct BuildError {
    pub component: String,
    pub reason: String,
}

/// Identifier-safe stamp of the plan's creation ("20261128t0530").
fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dt%H%M%S").to_string()
}

/// The plan id: `rp-<site>-<stamp>` (restore) / `drill-<site>-<stamp>`.
pub fn plan_id(purpose: Purpose, site: &str, created_at: DateTime<Utc>) -> String {
    let prefix = match purpose {
        Purpose::Restore => "rp",
        Purpose::Drill => "drill",
        Purpose::Staging => "stg",
    };
    format!("{prefix}-{site}-{}", stamp(created_at))
}

/// Build the step graph for `selection`.
pub fn build_plan(
    selection: &Selection,
    facts: &SiteFacts<'_>,
    purpose: Purpose,
    created_at: DateTime<Utc>,
    history: &DurationHistory,
) -> Result<Plan, BuildError> {
    use super::planner::RestoreTo;
    let id = plan_id(purpose, facts.site, created_at);
    let st = stamp(created_at);
    let suffix = match purpose {
        Purpose::Restore => format!("r{st}"),
        Purpose::Drill => format!("drill{st}"),
        Purpose::Staging => format!("stg{st}"),
    };
    let region = match selection.to {
        RestoreTo::Primary => facts.primary_region,
        RestoreTo::Dr => facts.dr_region,
    }
    .to_string();
    if selection.to == RestoreTo::Dr {
        dr_network_complete(selection, facts)?;
    }
    let dr = facts.dr_network;
    let mut tags = BTreeMap::new();
    tags.insert(TAG_MANAGED.to_string(), "true".to_string());
    tags.insert(TAG_SITE.to_string(), facts.site.to_string());
    tags.insert(TAG_PLAN.to_string(), id.clone());

    let mut steps: Vec<Step> = Vec::new();
    let mut components = Vec::new();
    let mut instance_step: Option<String> = None;
    let mut group_step: Option<String> = None;
    let mut db_ready_step: Option<String> = None;
    let mut swap: Option<Action> = None;
    let mut wired_web = false;
    let mut restore_steps: Vec<String> = Vec::new();
    let mut created_steps: Vec<String> = Vec::new();

    // The web tier is launched last, wired to what the plan restores before it.
    let mut ordered: Vec<&super::planner::Choice> = selection.choices.iter().collect();
    ordered.sort_by_key(|c| {
        matches!(
            c.kind,
            ComponentKind::Ec2Instance | ComponentKind::LightsailInstance
        )
    });
    let wiring = Wiring::of(selection, facts, &region);
    let mut warnings = selection.warnings.clone();

    // A drill's resources go into a security group of its own, made first.
    let isolate_key: Option<String> = match purpose {
        Purpose::Drill | Purpose::Staging => drill_vpc(selection, facts).map(|vpc| {
            let key = format!("{}.isolate", purpose.as_str());
            steps.push(step(
                &key,
                "",
                vec![],
                Action::Isolate(Isolate {
                    region: region.clone(),
                    name: format!("wpb-{}-{suffix}", facts.site),
                    vpc,
                    health_check_from: facts.drill_health_check_from.to_vec(),
                    port: super::isolation::port_of(facts.health_url),
                }),
                history,
            ));
            created_steps.push(key.clone());
            key
        }),
        Purpose::Restore => None,
    };
    let isolated = |mut deps: Vec<String>| {
        if let Some(k) = &isolate_key {
            deps.push(k.clone());
            deps.sort();
            dedup(&mut deps);
        }
        deps
    };
    let recorded_groups = |ids: &Vec<String>| {
        if isolate_key.is_some() {
            vec![]
        } else {
            ids.clone()
        }
    };

    for choice in ordered {
        let comp = &choice.component;
        let err = |reason: String| BuildError {
            component: comp.clone(),
            reason,
        };
        let target = facts
            .targets
            .get(comp)
            .ok_or_else(|| err("no policy for it in the configuration".into()))?;
        let (source_text, point_id) = match &choice.source {
            Source::PointInTime { cluster, at } => (
                format!("point-in-time of {cluster} at {}", at.to_rfc3339()),
                None,
            ),
            Source::Point {
                point_id,
                provider_id,
                region,
                from_dr_copy,
            } => (
                format!(
                    "{provider_id} in {region}{}",
                    if *from_dr_copy { " (DR copy)" } else { "" }
                ),
                Some(*point_id),
            ),
            Source::BucketAsOf { bucket, at, .. } => (
                format!("{bucket}: every object as of {}", at.to_rfc3339()),
                None,
            ),
        };
        components.push(ComponentPlan {
            component: comp.clone(),
            kind: choice.kind,
            source: source_text,
            point_id,
            point_time: choice.point_time,
            gap_seconds: choice.gap_seconds,
            rpo_seconds: choice.rpo_seconds,
            rpo_exceeded: choice.rpo_exceeded,
        });
        let chosen = point_id.and_then(|id| {
            // Oldest first: search to the chosen point's time, not through all of them.
            let list = facts.points.of(comp);
            let from = list.partition_point(|p| p.point_time < choice.point_time);
            list[from..].iter().find(|p| p.id == id)
        });
        match (target, &choice.source) {
            (
                Target::AuroraCluster {
                    cluster_identifier, ..
                },
                source,
            ) => {
                // Settings from the chosen snapshot, or (PITR) from the newest point.
                let no_meta = RestoreMetadata::default();
                let meta = chosen
                    .or_else(|| facts.points.of(comp).last())
                    .map_or(&no_meta, |p| &p.metadata);
                let restored = match (purpose, selection.to) {
                    // In the DR region the original name is free: no swap needed.
                    (Purpose::Restore, RestoreTo::Dr) => cluster_identifier.clone(),
                    _ => format!("{cluster_identifier}-{suffix}"),
                };
                let (pitr_of, at, snapshot) = match source {
                    Source::PointInTime { cluster, at } => (Some(cluster.clone()), Some(*at), None),
                    Source::Point { provider_id, .. } => (
                        None,
                        None,
                        // Its identifier: the snapshot is in the restore's own region and
                        // account (an ARN is for snapshots shared from another account).
                        Some(provider_id.clone()),
                    ),
                    Source::BucketAsOf { .. } => {
                        return Err(err("a bucket source for a cluster".into()))
                    }
                };
                let engine = meta.extra.get("engine").cloned();
                let key = format!("{comp}.restore-cluster");
                steps.push(step(
                    &key,
                    comp,
                    isolated(vec![]),
                    Action::RestoreCluster(RestoreCluster {
                        region: region.clone(),
                        cluster: restored.clone(),
                        pitr_of,
                        at,
                        snapshot,
                        engine: engine.clone(),
                        subnet_group: match selection.to {
                            RestoreTo::Primary => meta.extra.get("db_subnet_group").cloned(),
                            RestoreTo::Dr => dr.db_subnet_group.clone(),
                        },
                        security_group_ids: match selection.to {
                            RestoreTo::Primary => recorded_groups(&meta.security_group_ids),
                            RestoreTo::Dr => dr.db_security_group_ids.clone(),
                        },
                        security_group_from: isolate_key.clone(),
                    }),
                    history,
                ));
                let ikey = format!("{comp}.create-cluster-instance");
                steps.push(step(
                    &ikey,
                    comp,
                    vec![key.clone()],
                    Action::CreateClusterInstance(CreateClusterInstance {
                        region: region.clone(),
                        cluster: restored.clone(),
                        instance: format!("{restored}-1"),
                        class: meta
                            .instance_type
                            .clone()
                            .unwrap_or_else(|| "db.r6g.large".into()),
                        engine: engine.unwrap_or_else(|| "aurora-mysql".into()),
                    }),
                    history,
                ));
                created_steps.push(key);
                restore_steps.push(ikey.clone());
                db_ready_step = Some(ikey);
                if purpose == Purpose::Restore && selection.to == RestoreTo::Primary {
                    swap = Some(Action::SwapCluster(SwapCluster {
                        region: region.clone(),
                        original: cluster_identifier.clone(),
                        restored,
                        renamed_away: format!("{cluster_identifier}-old{st}"),
                    }));
                }
            }
            (Target::Efs { iam_role_arn, .. }, Source::Point { provider_id, .. }) => {
                let p = chosen
                    .ok_or_else(|| err(format!("point {provider_id} is not in the catalog")))?;
                let subnets = match selection.to {
                    RestoreTo::Dr => dr.subnets.clone(),
                    RestoreTo::Primary => p
                        .metadata
                        .extra
                        .get("mount_target_subnets")
                        .map(|s| {
                            s.split(',')
                                .filter(|s| !s.is_empty())
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                let key = format!("{comp}.restore-file-system");
                steps.push(step(
                    &key,
                    comp,
                    isolated(vec![]),
                    Action::RestoreFileSystem(RestoreFileSystem {
                        region: region.clone(),
                        point_id: p.id,
                        recovery_point: p.provider_id.clone(),
                        role_arn: iam_role_arn.clone(),
                        token: format!("{id}-{comp}"),
                        subnets,
                        security_group_ids: match selection.to {
                            RestoreTo::Primary => recorded_groups(&p.metadata.security_group_ids),
                            RestoreTo::Dr => dr.file_system_security_group_ids.clone(),
                        },
                        security_group_from: isolate_key.clone(),
                    }),
                    history,
                ));
                created_steps.push(key.clone());
                restore_steps.push(key);
            }
            (
                Target::Ec2Instance { .. } | Target::LightsailInstance { .. },
                Source::Point { provider_id, .. },
            ) => {
                let p = chosen
                    .ok_or_else(|| err(format!("point {provider_id} is not in the catalog")))?;
                if let Address::AlbListener { .. } = facts.address {
                    return Err(err(
                        "the site's entry point is an ALB listener, which forwards to a target group: \
                         its web tier must be an auto-scaling-group policy, or the entry point an Elastic IP"
                            .into(),
                    ));
                }
                let m = &p.metadata;
                let key = format!("{comp}.launch-instance");
                let user_data = match target {
                    Target::Ec2Instance { launch, .. } => {
                        Some(wiring.user_data(facts.site, launch).map_err(err)?)
                    }
                    _ => None,
                };
                if let (true, Some(u)) = (purpose.is_isolated(), &user_data) {
                    refuse_shared(u, facts).map_err(err)?;
                }
                let deps = match user_data {
                    Some(_) => isolated(wiring.ready_steps.clone()),
                    None => vec![],
                };
                steps.push(step(
                    &key,
                    comp,
                    deps,
                    Action::LaunchInstance(LaunchInstance {
                        region: region.clone(),
                        point_id: p.id,
                        point_kind: p.kind,
                        image: p.provider_id.clone(),
                        name: format!("wpb-{}-{comp}-{suffix}", facts.site),
                        instance_type: m.instance_type.clone(),
                        bundle_id: m.bundle_id.clone(),
                        // A DR launch cannot use the primary region's subnet and groups: the
                        // configured DR ones (Lightsail has none).
                        subnet_id: match selection.to {
                            RestoreTo::Primary => m.subnet_id.clone(),
                            RestoreTo::Dr if p.kind == PointKind::Ec2Ami => {
                                dr.subnets.first().cloned()
                            }
                            RestoreTo::Dr => None,
                        },
                        security_group_ids: match selection.to {
                            RestoreTo::Primary => recorded_groups(&m.security_group_ids),
                            RestoreTo::Dr if p.kind == PointKind::Ec2Ami => {
                                dr.security_group_ids.clone()
                            }
                            RestoreTo::Dr => vec![],
                        },
                        availability_zone: (selection.to == RestoreTo::Primary)
                            .then(|| m.availability_zone.clone())
                            .flatten(),
                        key_name: m.extra.get("key_name").cloned(),
                        user_data,
                        // Lightsail instances have no security groups (and share nothing).
                        security_group_from: isolate_key
                            .clone()
                            .filter(|_| p.kind == PointKind::Ec2Ami),
                    }),
                    history,
                ));
                created_steps.push(key.clone());
                restore_steps.push(key.clone());
                instance_step = Some(key);
                if matches!(target, Target::Ec2Instance { .. }) {
                    // The restored server uses the restored cluster by its own endpoint:
                    // no rename swap, the cutover is the address alone.
                    wired_web = true;
                }
            }
            (
                Target::S3Bucket { .. },
                Source::BucketAsOf {
                    bucket,
                    region: r,
                    at,
                },
            ) => {
                let key = format!("{comp}.revert-bucket");
                steps.push(step(
                    &key,
                    comp,
                    vec![],
                    Action::RevertBucket(RevertBucket {
                        region: r.clone(),
                        bucket: bucket.clone(),
                        at: *at,
                        dry_run: purpose.is_isolated(),
                    }),
                    history,
                ));
                restore_steps.push(key);
            }
            (Target::AutoScalingGroup { launch, .. }, Source::Point { provider_id, .. }) => {
                let p = chosen
                    .ok_or_else(|| err(format!("point {provider_id} is not in the catalog")))?;
                let settings = super::web_tier::GroupPointSettings::from_extra(&p.metadata.extra)
                    .ok_or_else(|| {
                        err(format!(
                            "point {provider_id} records no Auto Scaling group settings (launch template, size); restore to the instant of a newer point"
                        ))
                    })?;
                // In the DR region the primary's listener does not exist: the group is
                // launched on the DR network, checked directly, and put behind a load
                // balancer there by hand (like DNS).
                let dr_tier = selection.to == RestoreTo::Dr;
                if purpose == Purpose::Restore
                    && !dr_tier
                    && !matches!(facts.address, Address::AlbListener { .. })
                {
                    return Err(err(
                        "an auto-scaling-group web tier is cut over at its ALB listener: set [sites.entry_point] alb_listener_arn"
                            .into(),
                    ));
                }
                let like = settings.target_group.clone().ok_or_else(|| {
                    err(format!(
                        "point {provider_id} records no target group: the group was in none when it was taken"
                    ))
                })?;
                let mut template = settings.launch_template.clone();
                template.image_id = Some(p.provider_id.clone());
                template.security_group_ids = if dr_tier {
                    dr.security_group_ids.clone()
                } else {
                    recorded_groups(&template.security_group_ids)
                };
                let user_data = wiring.user_data(facts.site, launch).map_err(err)?;
                if purpose.is_isolated() {
                    refuse_shared(&user_data, facts).map_err(err)?;
                }
                let key = format!("{comp}.launch-group");
                let name = format!("wpb-{}-{comp}-{suffix}", facts.site);
                steps.push(step(
                    &key,
                    comp,
                    isolated(wiring.ready_steps.clone()),
                    Action::LaunchGroup(LaunchGroup {
                        region: region.clone(),
                        point_id: p.id,
                        image: p.provider_id.clone(),
                        group: name.clone(),
                        launch_template: name,
                        // A drill's group is in no target group: no load balancer reaches
                        // it; nor, until the operator puts it behind one, a DR group.
                        target_group: (purpose == Purpose::Restore && !dr_tier)
                            .then(|| target_group_name(facts.site, comp, &suffix)),
                        template: Box::new(template),
                        user_data: Some(user_data),
                        min_size: settings.min_size,
                        max_size: settings.max_size,
                        desired_capacity: settings.desired_capacity,
                        subnets: if dr_tier {
                            dr.subnets.clone()
                        } else {
                            settings.subnets.clone()
                        },
                        like: Box::new(like),
                        health_check_type: settings.health_check_type.clone(),
                        health_check_grace_period: settings.health_check_grace_period,
                        security_group_from: isolate_key.clone(),
                    }),
                    history,
                ));
                created_steps.push(key.clone());
                restore_steps.push(key.clone());
                group_step = Some(key);
                wired_web = true;
            }
            (_, other) => {
                return Err(err(format!(
                    "unexpected source {other:?} for a {} component",
                    choice.kind
                )))
            }
        }
    }

    // The components table in the selection's order (steps put the web tier last). The
    // positions looked up once: a search per comparison made a fleet's plan quadratic
    // (10,000 components took half a second).
    let position: std::collections::HashMap<&str, usize> = selection
        .choices
        .iter()
        .enumerate()
        .rev() // the first of equal names wins, as `position` found it
        .map(|(i, x)| (x.component.as_str(), i))
        .collect();
    components.sort_by_key(|c| position.get(c.component.as_str()).copied());

    // Health check of the restored web tier, with the data it is wired to ready.
    let mut gate: Vec<String> = Vec::new();
    let check = match (&group_step, &instance_step) {
        (Some(group), _) => Some(Action::CheckTargets(CheckTargets {
            region: region.clone(),
            group_step: group.clone(),
            url: facts.health_url.to_string(),
            expect_status: facts.expect_status,
            probing: facts.health,
            direct: purpose.is_isolated() || selection.to == RestoreTo::Dr,
        })),
        (None, Some(inst)) => Some(Action::HealthCheck(HealthCheck {
            url: facts.health_url.to_string(),
            expect_status: facts.expect_status,
            probing: facts.health,
            instance_step: inst.clone(),
        })),
        (None, None) => None,
    };
    if isolate_key.is_some()
        && (group_step.is_some() || instance_step.is_some())
        && facts.drill_health_check_from.is_empty()
    {
        warnings.push(format!(
            "the {}'s web tier lets in only its own members: on AWS its health check reaches it only if [sites.drill] health_check_from names where wpbackup runs (a CIDR block or its security group; tcp/{}){}",
            if purpose == Purpose::Staging { "staging copy" } else { "drill" },
            super::isolation::port_of(facts.health_url),
            if purpose == Purpose::Staging {
                " — and where you test it from"
            } else {
                ""
            }
        ));
    }
    if let Some(check) = check {
        let mut deps: Vec<String> = restore_steps
            .iter()
            .filter(|k| !k.ends_with(".revert-bucket"))
            .cloned()
            .collect();
        deps.sort();
        steps.push(step("site.health-check", "", deps, check, history));
        gate.push("site.health-check".into());
    } else if let Some(db) = &db_ready_step {
        gate.push(db.clone());
    }

    match (purpose, selection.to) {
        (Purpose::Restore, RestoreTo::Primary) => {
            let mut last = gate.clone();
            let mut cut_over = false;
            if let Some(swap) = swap.filter(|_| !wired_web) {
                cut_over = true;
                let comp = swap_component(&selection.choices);
                let key = format!("{comp}.swap-cluster");
                steps.push(step(&key, &comp, gate.clone(), swap, history));
                last = vec![key];
            }
            if let (Some(group), Address::AlbListener { listener_arn }) =
                (&group_step, &facts.address)
            {
                let mut deps = last.clone();
                deps.push(group.clone());
                dedup(&mut deps);
                steps.push(step(
                    "site.switch-listener",
                    "",
                    deps,
                    Action::SwitchListener(SwitchListener {
                        region: region.clone(),
                        listener_arn: listener_arn.clone(),
                        group_step: group.clone(),
                    }),
                    history,
                ));
                last = vec!["site.switch-listener".into()];
                cut_over = true;
            }
            if let Some(inst) = &instance_step {
                let mut deps = last.clone();
                deps.push(inst.clone());
                dedup(&mut deps);
                steps.push(step(
                    "site.move-address",
                    "",
                    deps,
                    Action::MoveAddress(MoveAddress {
                        region: region.clone(),
                        address: facts.address.clone(),
                        instance_step: inst.clone(),
                    }),
                    history,
                ));
                last = vec!["site.move-address".into()];
                cut_over = true;
            }
            if cut_over {
                // After the cutover, the site must answer where visitors reach it.
                let mut deps = last.clone();
                deps.extend(
                    restore_steps
                        .iter()
                        .filter(|k| k.ends_with(".revert-bucket"))
                        .cloned(),
                );
                steps.push(step(
                    "site.verify-public",
                    "",
                    deps,
                    Action::VerifyPublic(VerifyPublic {
                        url: facts.health_url.to_string(),
                        expect_status: facts.expect_status,
                        probing: facts.health,
                    }),
                    history,
                ));
                last = vec!["site.verify-public".into()];
            }
            // The CDN last: what it serves is what the restore put back.
            let buckets: Vec<String> = restore_steps
                .iter()
                .filter(|k| k.ends_with(".revert-bucket"))
                .cloned()
                .collect();
            if let (Some(dist), false) = (facts.cloudfront_distribution_id, buckets.is_empty()) {
                let mut deps = last.clone();
                deps.extend(buckets.iter().cloned());
                dedup(&mut deps);
                steps.push(step(
                    "site.invalidate-cdn",
                    "",
                    deps,
                    Action::InvalidateCdn(InvalidateCdn {
                        distribution_id: dist.to_string(),
                        bucket_steps: buckets,
                        max_paths: CDN_MAX_PATHS,
                        check_origins: instance_step.is_some() || group_step.is_some(),
                        dry_run: false,
                    }),
                    history,
                ));
            }
        }
        (Purpose::Restore, RestoreTo::Dr) => {
            if let Some(group) = &group_step {
                let name = steps
                    .iter()
                    .find(|s| &s.key == group)
                    .and_then(|s| match &s.action {
                        Action::LaunchGroup(l) => Some(l.group.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                steps.push(step("site.manual", "", gate.clone(), Action::Manual(Manual {
                    instruction: format!(
                        "the primary region's load balancer does not serve {region}: register the restored Auto Scaling group {name} (health-checked, in no target group) with a target group of a load balancer in {region} (`aws autoscaling attach-load-balancer-target-groups`), point DNS for {} at that load balancer, and DB_HOST in wp-config.php at the restored cluster's endpoint (the group's user data already names it)",
                        host_of(facts.health_url)
                    ),
                }), history));
            } else if instance_step.is_some() {
                steps.push(step("site.manual", "", gate.clone(), Action::Manual(Manual {
                    instruction: format!(
                        "static and Elastic IPs are regional: point DNS for {} at the restored instance's public address in {region} (shown by `wpbackup restore show {id}`), and DB_HOST in wp-config.php at the restored cluster's endpoint",
                        host_of(facts.health_url)
                    ),
                }), history));
            }
        }
        (Purpose::Drill | Purpose::Staging, _) => {
            let buckets: Vec<String> = restore_steps
                .iter()
                .filter(|k| k.ends_with(".revert-bucket"))
                .cloned()
                .collect();
            if let (Some(dist), false) = (facts.cloudfront_distribution_id, buckets.is_empty()) {
                steps.push(step(
                    "site.invalidate-cdn",
                    "",
                    buckets.clone(),
                    Action::InvalidateCdn(InvalidateCdn {
                        distribution_id: dist.to_string(),
                        bucket_steps: buckets,
                        max_paths: CDN_MAX_PATHS,
                        check_origins: false,
                        dry_run: true,
                    }),
                    history,
                ));
            }
            // A staging copy's teardown names only what it deletes: the executor holds
            // it until `staging down`, which runs it whatever state those steps are in
            // (it also takes down a copy that failed half-way up).
            let deps = if purpose == Purpose::Staging {
                created_steps.clone()
            } else {
                let mut deps: Vec<String> = gate.clone();
                deps.extend(created_steps.iter().cloned());
                deps.extend(restore_steps.iter().cloned());
                dedup(&mut deps);
                deps
            };
            steps.push(step(
                &format!("{}.teardown", purpose.as_str()),
                "",
                deps,
                Action::Teardown(Teardown {
                    steps: created_steps.clone(),
                }),
                history,
            ));
        }
    }

    Ok(Plan {
        plan_version: PLAN_VERSION,
        id,
        site: facts.site.to_string(),
        purpose,
        at: selection.at,
        to: match selection.to {
            RestoreTo::Primary => "primary".into(),
            RestoreTo::Dr => "dr".into(),
        },
        region,
        created_at,
        components,
        skew_seconds: selection.skew_seconds,
        warnings,
        tags,
        steps,
        catalog_id: None,
        digest: None,
    })
}

/// A DR restore creates every resource in the DR region, whose networking only the
/// configuration can name: refuse to plan without it, naming each missing key and the
/// components that need it.
fn dr_network_complete(selection: &Selection, facts: &SiteFacts<'_>) -> Result<(), BuildError> {
    let dr = facts.dr_network;
    let mut missing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in &selection.choices {
        let needs: &[(&str, bool)] = match c.kind {
            ComponentKind::Ec2Instance | ComponentKind::AutoScalingGroup => &[
                ("subnets", dr.subnets.is_empty()),
                ("security_group_ids", dr.security_group_ids.is_empty()),
            ],
            ComponentKind::Efs => &[
                ("subnets", dr.subnets.is_empty()),
                (
                    "file_system_security_group_ids",
                    dr.file_system_security_group_ids.is_empty(),
                ),
            ],
            ComponentKind::AuroraCluster => &[
                ("db_subnet_group", dr.db_subnet_group.is_none()),
                ("db_security_group_ids", dr.db_security_group_ids.is_empty()),
            ],
            _ => &[],
        };
        for (key, absent) in needs {
            if *absent {
                missing.entry(key).or_default().push(&c.component);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let mut components: Vec<&str> = missing.values().flatten().copied().collect();
    components.sort();
    components.dedup();
    Err(BuildError {
        component: components.join(", "),
        reason: format!(
            "a restore --to dr creates them in {}, whose networking the configuration does not name (the primary region's subnets and security groups do not exist there); set in [sites.dr_network]: {}",
            facts.dr_region,
            missing
                .iter()
                .map(|(k, comps)| format!("{k} (for {})", comps.join(", ")))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// The VPC a drill's own security group is made in: of the subnet its web tier or file
/// system is recorded in, else of its cluster's DB subnet group. `None`: the drill creates
/// nothing in a VPC (a Lightsail instance, buckets only counted).
fn drill_vpc(selection: &Selection, facts: &SiteFacts<'_>) -> Option<super::isolation::VpcOf> {
    use super::isolation::VpcOf;
    let mut found: Option<VpcOf> = None;
    let mut in_vpc = false;
    for c in &selection.choices {
        let list = facts.points.of(&c.component);
        let p = match &c.source {
            Source::Point { point_id, .. } => list.iter().find(|p| p.id == *point_id),
            Source::PointInTime { .. } => list.last(),
            Source::BucketAsOf { .. } => continue,
        };
        let m = p.map(|p| &p.metadata);
        let subnet = match c.kind {
            ComponentKind::Ec2Instance | ComponentKind::AutoScalingGroup => {
                in_vpc = true;
                m.and_then(|m| {
                    m.subnet_id.clone().or_else(|| {
                        super::web_tier::GroupPointSettings::from_extra(&m.extra)
                            .and_then(|g| g.subnets.first().cloned())
                    })
                })
            }
            ComponentKind::Efs => {
                in_vpc = true;
                m.and_then(|m| {
                    m.subnet_id.clone().or_else(|| {
                        m.extra
                            .get("mount_target_subnets")
                            .and_then(|s| s.split(',').find(|s| !s.is_empty()))
                            .map(str::to_string)
                    })
                })
            }
            ComponentKind::AuroraCluster => {
                in_vpc = true;
                if found.is_none() {
                    found = m
                        .and_then(|m| m.extra.get("db_subnet_group"))
                        .map(|name| VpcOf::DbSubnetGroup { name: name.clone() });
                }
                None
            }
            _ => None,
        };
        if let Some(subnet) = subnet {
            return Some(VpcOf::Subnet { subnet });
        }
    }
    in_vpc.then(|| found.unwrap_or(VpcOf::Default))
}

/// A drill's web servers must be wired to the drill's own data: refuse user data that
/// would mount a production file system or use a production database, naming them.
fn refuse_shared(u: &UserData, facts: &SiteFacts<'_>) -> Result<(), String> {
    let mut production: Vec<(String, String)> = Vec::new();
    for (comp, target) in &facts.targets {
        match target {
            Target::Efs { file_system_id, .. } => production.push((
                file_system_id.clone(),
                format!("the production file system {file_system_id} (component {comp})"),
            )),
            Target::AuroraCluster {
                cluster_identifier, ..
            } => production.push((
                cluster_identifier.clone(),
                format!("the production database {cluster_identifier} (component {comp})"),
            )),
            _ => {}
        }
    }
    let mut shared: Vec<String> = Vec::new();
    let mut add: Vec<String> = Vec::new();
    for (name, v) in &u.values {
        match v {
            WireValue::Value { value } if name == "file_system_id" => {
                if let Some((_, what)) = production.iter().find(|(id, _)| id == value) {
                    shared.push(format!("mount {what}"));
                }
            }
            WireValue::ClusterEndpoint { cluster, .. } => {
                if let Some((_, what)) = production.iter().find(|(id, _)| id == cluster) {
                    shared.push(format!("use {what}"));
                }
            }
            _ => continue,
        }
    }
    for (_, what) in super::isolation::production_named_in(&u.template, &production) {
        shared.push(format!("name {what} in its user-data template"));
    }
    if shared.is_empty() {
        return Ok(());
    }
    for (comp, target) in &facts.targets {
        if matches!(target, Target::Efs { .. } | Target::AuroraCluster { .. })
            && shared
                .iter()
                .any(|s| s.contains(&format!("(component {comp})")))
        {
            add.push(comp.clone());
        }
    }
    Err(format!(
        "a drill shares nothing with production, but its web servers would {}; {}",
        shared.join(" and "),
        if add.is_empty() {
            "use {{file_system_id}} and {{db_endpoint}} in the template instead of fixed ids"
                .to_string()
        } else {
            format!(
                "drill them together: leave out --only, or add --only {}",
                add.join(",")
            )
        }
    ))
}

/// Where a launched web server's user-data values come from in this plan: the restored
/// file system and cluster when the plan restores them, the live ones otherwise.
struct Wiring {
    region: String,
    file_system: Option<WireValue>,
    db_endpoint: Option<WireValue>,
    /// Steps after which the wired resources are usable (launch waits for them).
    ready_steps: Vec<String>,
}

impl Wiring {
    fn of(selection: &Selection, facts: &SiteFacts<'_>, region: &str) -> Self {
        let chosen = |comp: &str| selection.choices.iter().any(|c| c.component == comp);
        let mut w = Wiring {
            region: region.to_string(),
            file_system: None,
            db_endpoint: None,
            ready_steps: vec![],
        };
        for (comp, target) in &facts.targets {
            match target {
                Target::Efs { file_system_id, .. } if w.file_system.is_none() => {
                    w.file_system = Some(if chosen(comp) {
                        let step = format!("{comp}.restore-file-system");
                        w.ready_steps.push(step.clone());
                        WireValue::StepOutput {
                            step,
                            output: "file_system".into(),
                        }
                    } else {
                        WireValue::Value {
                            value: file_system_id.clone(),
                        }
                    });
                }
                Target::AuroraCluster {
                    cluster_identifier, ..
                } if w.db_endpoint.is_none() => {
                    w.db_endpoint = Some(if chosen(comp) {
                        w.ready_steps.push(format!("{comp}.restore-cluster"));
                        w.ready_steps
                            .push(format!("{comp}.create-cluster-instance"));
                        WireValue::StepOutput {
                            step: format!("{comp}.restore-cluster"),
                            output: "endpoint".into(),
                        }
                    } else {
                        WireValue::ClusterEndpoint {
                            region: region.to_string(),
                            cluster: cluster_identifier.clone(),
                        }
                    });
                }
                _ => {}
            }
        }
        w.ready_steps.sort();
        w
    }

    /// The user data of a web server of `site` launched with `launch`; an error names a
    /// placeholder this site cannot fill.
    fn user_data(&self, site: &str, launch: &super::wiring::WebLaunch) -> Result<UserData, String> {
        let template = launch.user_data.clone().unwrap_or_else(|| {
            super::wiring::default_template(self.file_system.is_some(), self.db_endpoint.is_some())
        });
        let used = super::wiring::placeholders(&template).map_err(|p| p.join("; "))?;
        let mut values = BTreeMap::new();
        for name in used {
            let v = match name.as_str() {
                "site" => Some(WireValue::Value { value: site.into() }),
                "region" => Some(WireValue::Value {
                    value: self.region.clone(),
                }),
                "mount_path" => Some(WireValue::Value {
                    value: launch.mount_path.clone(),
                }),
                "file_system_id" => self.file_system.clone(),
                "db_endpoint" => self.db_endpoint.clone(),
                _ => None,
            };
            let v = v.ok_or_else(|| {
                format!(
                    "its user-data template uses {{{{{name}}}}}, but the site has no {} component to fill it",
                    if name == "db_endpoint" { "aurora-cluster" } else { "efs" }
                )
            })?;
            values.insert(name, v);
        }
        Ok(UserData { template, values })
    }
}

/// A target group name: at most 32 letters, digits and hyphens, unique per plan (the
/// plan's stamp) — `wpb-<stamp>-<site-component, shortened>`.
fn target_group_name(site: &str, component: &str, suffix: &str) -> String {
    let base = format!("wpb-{suffix}-");
    let room = 32usize.saturating_sub(base.len());
    let tail: String = format!("{site}-{component}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(room)
        .collect();
    format!("{base}{}", tail.trim_end_matches('-'))
}

fn swap_component(choices: &[super::planner::Choice]) -> String {
    choices
        .iter()
        .find(|c| c.kind == ComponentKind::AuroraCluster)
        .map(|c| c.component.clone())
        .unwrap_or_else(|| "db".into())
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    v.retain(|x| seen.insert(x.clone()));
}

fn step(
    key: &str,
    component: &str,
    depends_on: Vec<String>,
    action: Action,
    history: &DurationHistory,
) -> Step {
    let (expected_seconds, estimate) = match history.get(action.kind()) {
        Some((median, n)) if *n > 0 => (*median, format!("median of {n} past run(s)")),
        _ => (
            action.default_seconds(),
            "typical duration (none measured yet)".into(),
        ),
    };
    Step {
        key: key.to_string(),
        component: (!component.is_empty()).then(|| component.to_string()),
        depends_on,
        calls: action.calls(),
        action,
        expected_seconds,
        estimate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::PointState;
    use crate::domain::model::RecoveryPoint;
    use crate::domain::planner::{Choice, PointsByComponent, RestoreTo};
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0).unwrap()
    }

    fn point(id: i64, component: &str, kind: PointKind, provider_id: &str) -> RecoveryPoint {
        let mut metadata = RestoreMetadata {
            instance_type: Some("t3.small".into()),
            subnet_id: Some("subnet-1".into()),
            security_group_ids: vec!["sg-1".into()],
            ..Default::default()
        };
        metadata
            .extra
            .insert("mount_target_subnets".into(), "subnet-1,subnet-2".into());
        metadata
            .extra
            .insert("engine".into(), "aurora-mysql".into());
        RecoveryPoint {
            id,
            site: "shop".into(),
            component: component.into(),
            component_kind: kind.component_kind_hint(),
            kind,
            region: "us-east-1".into(),
            name: format!("p{id}"),
            provider_id: provider_id.into(),
            arn: None,
            point_time: t(14, 0),
            state: PointState::Available,
            source_point_id: None,
            run_id: None,
            managed: true,
            metadata,
            failure_reason: None,
            created_at: t(14, 0),
            completed_at: None,
        }
    }

    trait Hint {
        fn component_kind_hint(self) -> ComponentKind;
    }
    impl Hint for PointKind {
        fn component_kind_hint(self) -> ComponentKind {
            match self {
                PointKind::Ec2Ami => ComponentKind::Ec2Instance,
                PointKind::EfsRecoveryPoint => ComponentKind::Efs,
                _ => ComponentKind::AuroraCluster,
            }
        }
    }

    fn choice(component: &str, kind: ComponentKind, source: Source) -> Choice {
        Choice {
            component: component.into(),
            kind,
            source,
            point_time: t(14, 0),
            gap_seconds: 300,
            rpo_seconds: 3600,
            rpo_exceeded: false,
        }
    }

    struct Fixture {
        targets: Vec<(String, Target)>,
        points: Vec<RecoveryPoint>,
    }

    fn fixture() -> Fixture {
        Fixture {
            targets: vec![
                (
                    "db".into(),
                    Target::AuroraCluster {
                        cluster_identifier: "wp-db".into(),
                        pitr_days: 7,
                    },
                ),
                (
                    "files".into(),
                    Target::Efs {
                        file_system_id: "fs-1".into(),
                        vault: "v".into(),
                        iam_role_arn: "arn:role".into(),
                    },
                ),
                (
                    "web".into(),
                    Target::Ec2Instance {
                        instance_id: "i-1".into(),
                        no_reboot: true,
                        launch: Default::default(),
                    },
                ),
                (
                    "media".into(),
                    Target::S3Bucket {
                        bucket: "media".into(),
                        dr_bucket: "media-dr".into(),
                        noncurrent_version_days: None,
                    },
                ),
            ],
            points: vec![
                point(1, "db", PointKind::AuroraClusterSnapshot, "wp-db-snap"),
                point(2, "files", PointKind::EfsRecoveryPoint, "arn:rp:2"),
                point(3, "web", PointKind::Ec2Ami, "ami-3"),
            ],
        }
    }

    fn selection(to: RestoreTo) -> Selection {
        let at = t(14, 5);
        Selection {
            at,
            to,
            choices: vec![
                choice(
                    "db",
                    ComponentKind::AuroraCluster,
                    Source::PointInTime {
                        cluster: "wp-db".into(),
                        at,
                    },
                ),
                choice(
                    "files",
                    ComponentKind::Efs,
                    Source::Point {
                        point_id: 2,
                        region: "us-east-1".into(),
                        provider_id: "arn:rp:2".into(),
                        from_dr_copy: false,
                    },
                ),
                choice(
                    "web",
                    ComponentKind::Ec2Instance,
                    Source::Point {
                        point_id: 3,
                        region: "us-east-1".into(),
                        provider_id: "ami-3".into(),
                        from_dr_copy: false,
                    },
                ),
                choice(
                    "media",
                    ComponentKind::S3Bucket,
                    Source::BucketAsOf {
                        bucket: "media".into(),
                        region: "us-east-1".into(),
                        at,
                    },
                ),
            ],
            skew_seconds: 300,
            warnings: vec![],
        }
    }

    /// The fixture's site as the builder sees it.
    fn facts<'a>(f: &'a Fixture, points: &'a PointsByComponent) -> SiteFacts<'a> {
        SiteFacts {
            site: "shop",
            primary_region: "us-east-1",
            dr_region: "us-west-2",
            address: Address::Ec2ElasticIp {
                allocation_id: "eipalloc-1".into(),
            },
            health_url: "https://shop.example.com/wp-login.php",
            expect_status: 200,
            health: Probing {
                timeout_secs: 10,
                attempts: 10,
                interval_ms: Some(15_000),
            },
            targets: f.targets.iter().map(|(n, t)| (n.clone(), t)).collect(),
            points,
            drill_health_check_from: &[],
            dr_network: &NO_DR_NETWORK,
            cloudfront_distribution_id: None,
        }
    }

    static NO_DR_NETWORK: crate::domain::site::DrNetwork = crate::domain::site::DrNetwork {
        subnets: Vec::new(),
        security_group_ids: Vec::new(),
        db_subnet_group: None,
        db_security_group_ids: Vec::new(),
        file_system_security_group_ids: Vec::new(),
    };

    fn build(f: &Fixture, purpose: Purpose, to: RestoreTo, history: &DurationHistory) -> Plan {
        let points = PointsByComponent::new(f.points.clone());
        build_plan(
            &selection(to),
            &facts(f, &points),
            purpose,
            t(15, 0),
            history,
        )
        .unwrap()
    }

    fn deps<'a>(p: &'a Plan, key: &str) -> Vec<&'a str> {
        p.step(key)
            .unwrap_or_else(|| panic!("no step {key}"))
            .depends_on
            .iter()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn restore_gates_the_cutover_behind_a_health_check() {
        let f = fixture();
        let p = build(
            &f,
            Purpose::Restore,
            RestoreTo::Primary,
            &DurationHistory::new(),
        );
        assert_eq!(p.id, "rp-shop-20261127t150000");
        assert!(p.validate().is_ok());
        let keys: Vec<&str> = p.steps.iter().map(|s| s.key.as_str()).collect();
        // No rename swap: the restored web server is wired to the restored cluster by its
        // own endpoint, and the cutover is the address alone.
        assert_eq!(
            keys,
            [
                "db.restore-cluster",
                "db.create-cluster-instance",
                "files.restore-file-system",
                "media.revert-bucket",
                "web.launch-instance",
                "site.health-check",
                "site.move-address",
                "site.verify-public",
            ]
        );
        // Data restores start at once, in parallel; the web tier once they are usable.
        for k in [
            "db.restore-cluster",
            "files.restore-file-system",
            "media.revert-bucket",
        ] {
            assert!(deps(&p, k).is_empty(), "{k}");
        }
        assert_eq!(
            deps(&p, "web.launch-instance"),
            [
                "db.create-cluster-instance",
                "db.restore-cluster",
                "files.restore-file-system"
            ]
        );
        assert_eq!(
            deps(&p, "site.health-check"),
            [
                "db.create-cluster-instance",
                "files.restore-file-system",
                "web.launch-instance"
            ]
        );
        assert_eq!(
            deps(&p, "site.move-address"),
            ["site.health-check", "web.launch-instance"]
        );
        assert_eq!(
            deps(&p, "site.verify-public"),
            ["site.move-address", "media.revert-bucket"]
        );
        // The launched server mounts the restored file system and uses the restored cluster.
        match &p.step("web.launch-instance").unwrap().action {
            Action::LaunchInstance(LaunchInstance {
                user_data: Some(u), ..
            }) => {
                assert_eq!(
                    u.values["file_system_id"],
                    WireValue::StepOutput {
                        step: "files.restore-file-system".into(),
                        output: "file_system".into()
                    }
                );
                assert_eq!(
                    u.values["db_endpoint"],
                    WireValue::StepOutput {
                        step: "db.restore-cluster".into(),
                        output: "endpoint".into()
                    }
                );
                let preview = u.preview();
                assert!(
                    preview.contains("<file_system from files.restore-file-system>:/ /var/www/html efs _netdev,tls"),
                    "{preview}"
                );
                assert!(
                    preview.contains("<endpoint from db.restore-cluster>"),
                    "{preview}"
                );
            }
            other => panic!("{other:?}"),
        }
        match &p.step("db.restore-cluster").unwrap().action {
            Action::RestoreCluster(RestoreCluster {
                cluster,
                pitr_of,
                at,
                ..
            }) => {
                assert_eq!(cluster, "wp-db-r20261127t150000");
                assert_eq!(pitr_of.as_deref(), Some("wp-db"));
                assert_eq!(*at, Some(t(14, 5)));
            }
            other => panic!("{other:?}"),
        }
        match &p.step("files.restore-file-system").unwrap().action {
            Action::RestoreFileSystem(RestoreFileSystem { subnets, .. }) => {
                assert_eq!(subnets, &["subnet-1", "subnet-2"])
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.tags[TAG_PLAN], p.id);
        assert_eq!(p.point_ids(), [2, 3]);
        assert!(p.step("db.swap-cluster").is_none());
        assert!(p.step("site.move-address").unwrap().action.is_cutover());
    }

    /// A restore in place of one component of the fixture.
    fn restore_only(f: &Fixture, component: &str) -> Result<Plan, BuildError> {
        let points = PointsByComponent::new(f.points.clone());
        let mut sel = selection(RestoreTo::Primary);
        sel.choices.retain(|c| c.component == component);
        build_plan(
            &sel,
            &facts(f, &points),
            Purpose::Restore,
            t(15, 0),
            &DurationHistory::new(),
        )
    }

    #[test]
    fn an_auto_scaling_tier_is_launched_separately_checked_then_switched_at_the_listener() {
        use crate::domain::web_tier::{GroupPointSettings, LaunchTemplateData, TargetGroupInfo};
        let mut f = fixture();
        for (n, t) in f.targets.iter_mut() {
            if n == "web" {
                *t = Target::AutoScalingGroup {
                    group_name: "shop-web".into(),
                    no_reboot: true,
                    launch: Default::default(),
                };
            }
        }
        for p in f.points.iter_mut().filter(|p| p.component == "web") {
            p.metadata.extra.extend(
                GroupPointSettings {
                    imaged_instance: "i-1".into(),
                    launch_template: LaunchTemplateData {
                        image_id: Some("ami-original".into()),
                        instance_type: Some("t3.large".into()),
                        ..Default::default()
                    },
                    min_size: 2,
                    max_size: 6,
                    desired_capacity: 3,
                    subnets: vec!["subnet-a".into(), "subnet-b".into()],
                    target_group: Some(TargetGroupInfo {
                        arn: "arn:tg/shop".into(),
                        name: "shop".into(),
                        health_check_path: Some("/wp-login.php".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }
                .to_extra(),
            );
        }
        let points = PointsByComponent::new(f.points.clone());
        let mut facts = facts(&f, &points);
        // An Elastic IP cannot front a group.
        let refused = build_plan(
            &selection(RestoreTo::Primary),
            &facts,
            Purpose::Restore,
            t(15, 0),
            &DurationHistory::new(),
        )
        .unwrap_err();
        assert!(refused.reason.contains("alb_listener_arn"), "{refused}");
        facts.address = Address::AlbListener {
            listener_arn: "arn:listener".into(),
        };
        let p = build_plan(
            &selection(RestoreTo::Primary),
            &facts,
            Purpose::Restore,
            t(15, 0),
            &DurationHistory::new(),
        )
        .unwrap();
        assert!(p.validate().is_ok(), "{:?}", p.validate());
        let keys: Vec<&str> = p.steps.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "db.restore-cluster",
                "db.create-cluster-instance",
                "files.restore-file-system",
                "media.revert-bucket",
                "web.launch-group",
                "site.health-check",
                "site.switch-listener",
                "site.verify-public",
            ]
        );
        assert_eq!(
            deps(&p, "site.switch-listener"),
            ["site.health-check", "web.launch-group"]
        );
        match &p.step("web.launch-group").unwrap().action {
            Action::LaunchGroup(g) => {
                // The AMI of the point, the settings of T, names of the plan's own.
                assert_eq!(g.template.image_id.as_deref(), Some("ami-3"));
                assert_eq!(g.template.instance_type.as_deref(), Some("t3.large"));
                assert_eq!((g.min_size, g.max_size, g.desired_capacity), (2, 6, 3));
                assert_eq!(g.subnets, ["subnet-a", "subnet-b"]);
                assert_eq!(g.like.health_check_path.as_deref(), Some("/wp-login.php"));
                assert_eq!(g.group, "wpb-shop-web-r20261127t150000");
                let tg = g.target_group.as_deref().unwrap();
                assert!(tg.len() <= 32, "{tg}");
                assert!(tg.starts_with("wpb-r20261127t150000-"));
                assert!(g
                    .user_data
                    .as_ref()
                    .unwrap()
                    .steps()
                    .contains(&"files.restore-file-system".to_string()));
            }
            other => panic!("{other:?}"),
        }
        assert!(p.step("site.switch-listener").unwrap().action.is_cutover());
    }

    #[test]
    fn a_database_alone_keeps_its_endpoint_by_a_rename_swap() {
        // Nothing is launched to wire to the restored cluster: the web servers that serve
        // the site keep the endpoint in wp-config.php, so the restored cluster takes it.
        let p = restore_only(&fixture(), "db").unwrap();
        let keys: Vec<&str> = p.steps.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "db.restore-cluster",
                "db.create-cluster-instance",
                "db.swap-cluster",
                "site.verify-public"
            ]
        );
    }

    #[test]
    fn a_web_server_alone_is_wired_to_the_live_data_and_a_bad_template_is_refused() {
        let mut f = fixture();
        let p = restore_only(&f, "web").unwrap();
        assert!(deps(&p, "web.launch-instance").is_empty());
        match &p.step("web.launch-instance").unwrap().action {
            Action::LaunchInstance(LaunchInstance {
                user_data: Some(u), ..
            }) => {
                assert_eq!(
                    u.values["file_system_id"],
                    WireValue::Value {
                        value: "fs-1".into()
                    }
                );
                assert_eq!(
                    u.values["db_endpoint"],
                    WireValue::ClusterEndpoint {
                        region: "us-east-1".into(),
                        cluster: "wp-db".into()
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        // A template that needs a database on a site without one cannot be planned.
        f.targets.retain(|(n, _)| n != "db");
        for (_, t) in f.targets.iter_mut() {
            if let Target::Ec2Instance { launch, .. } = t {
                launch.user_data = Some("host={{db_endpoint}}".into());
            }
        }
        let err = restore_only(&f, "web").unwrap_err();
        assert_eq!(err.component, "web");
        assert!(err.reason.contains("{{db_endpoint}}"), "{err}");
    }

    #[test]
    fn expected_durations_come_from_history_and_the_critical_path() {
        let f = fixture();
        let mut h = DurationHistory::new();
        h.insert("restore-cluster".into(), (600, 3));
        let p = build(&f, Purpose::Restore, RestoreTo::Primary, &h);
        let s = p.step("db.restore-cluster").unwrap();
        assert_eq!(
            (s.expected_seconds, s.estimate.as_str()),
            (600, "median of 3 past run(s)")
        );
        // cluster 600 + instance 600 + launch 180 + health 30 + move 10 + verify 30 (EFS 900
        // is shorter than 1200).
        assert_eq!(p.expected_seconds(), 600 + 600 + 180 + 30 + 10 + 30);
    }

    #[test]
    fn a_drill_never_cuts_over_and_tears_down_what_it_made() {
        let f = fixture();
        let p = build(
            &f,
            Purpose::Drill,
            RestoreTo::Primary,
            &DurationHistory::new(),
        );
        assert!(p.id.starts_with("drill-shop-"));
        assert!(p.steps.iter().all(|s| !s.action.is_cutover()), "{p:#?}");
        match &p.step("drill.teardown").unwrap().action {
            Action::Teardown(Teardown { steps }) => assert_eq!(
                steps,
                &[
                    "drill.isolate",
                    "db.restore-cluster",
                    "files.restore-file-system",
                    "web.launch-instance"
                ]
            ),
            other => panic!("{other:?}"),
        }
        assert!(deps(&p, "drill.teardown").contains(&"site.health-check"));
        assert!(matches!(
            p.step("media.revert-bucket").unwrap().action,
            Action::RevertBucket(RevertBucket { dry_run: true, .. })
        ));
        // Its own security group, made first in the VPC of the web tier's subnet, and no
        // restored resource in production's groups.
        assert_eq!(p.steps[0].key, "drill.isolate");
        match &p.steps[0].action {
            Action::Isolate(i) => {
                assert_eq!(
                    i.vpc,
                    crate::domain::isolation::VpcOf::Subnet {
                        subnet: "subnet-1".into()
                    }
                );
                assert_eq!(i.port, 443);
                assert!(i.name.starts_with("wpb-shop-drill"), "{}", i.name);
            }
            other => panic!("{other:?}"),
        }
        let isolate = Some("drill.isolate".to_string());
        for s in &p.steps {
            let (recorded, from) = match &s.action {
                Action::RestoreCluster(c) => (&c.security_group_ids, &c.security_group_from),
                Action::RestoreFileSystem(f) => (&f.security_group_ids, &f.security_group_from),
                Action::LaunchInstance(l) => (&l.security_group_ids, &l.security_group_from),
                _ => continue,
            };
            assert!(recorded.is_empty(), "{}: {recorded:?}", s.key);
            assert_eq!(from, &isolate, "{}", s.key);
            assert!(deps(&p, &s.key).contains(&"drill.isolate"), "{}", s.key);
        }
        assert!(
            p.warnings.iter().any(|w| w.contains("health_check_from")),
            "{:?}",
            p.warnings
        );
        // A restore keeps the recorded groups and makes none.
        let r = build(
            &f,
            Purpose::Restore,
            RestoreTo::Primary,
            &DurationHistory::new(),
        );
        assert!(r.step("drill.isolate").is_none());
        match &r.step("web.launch-instance").unwrap().action {
            Action::LaunchInstance(l) => {
                assert_eq!(l.security_group_ids, ["sg-1"]);
                assert_eq!(l.security_group_from, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_staging_copy_is_isolated_like_a_drill_and_its_teardown_waits_for_staging_down() {
        let f = fixture();
        let p = build(
            &f,
            Purpose::Staging,
            RestoreTo::Primary,
            &DurationHistory::new(),
        );
        assert!(p.id.starts_with("stg-shop-"), "{}", p.id);
        assert_eq!(p.purpose, Purpose::Staging);
        assert!(p.steps.iter().all(|s| !s.action.is_cutover()), "{p:#?}");
        // Its own security group first; every restored resource in it, none in production's.
        assert_eq!(p.steps[0].key, "staging.isolate");
        match &p.steps[0].action {
            Action::Isolate(i) => assert!(i.name.starts_with("wpb-shop-stg"), "{}", i.name),
            other => panic!("{other:?}"),
        }
        let isolate = Some("staging.isolate".to_string());
        let mut restored = 0;
        for s in &p.steps {
            let (recorded, from) = match &s.action {
                Action::RestoreCluster(c) => (&c.security_group_ids, &c.security_group_from),
                Action::RestoreFileSystem(f) => (&f.security_group_ids, &f.security_group_from),
                Action::LaunchInstance(l) => (&l.security_group_ids, &l.security_group_from),
                _ => continue,
            };
            restored += 1;
            assert!(recorded.is_empty(), "{}: {recorded:?}", s.key);
            assert_eq!(from, &isolate, "{}", s.key);
        }
        assert_eq!(restored, 3);
        // S3 is not copied (nothing of production's bucket is changed).
        assert!(matches!(
            p.step("media.revert-bucket").unwrap().action,
            Action::RevertBucket(RevertBucket { dry_run: true, .. })
        ));
        // The teardown lists everything it made and depends on nothing else (the executor
        // holds it until `staging down`, which runs it whatever state those steps are in).
        let teardown = p.step("staging.teardown").unwrap();
        assert!(!teardown
            .depends_on
            .contains(&"site.health-check".to_string()));
        match &teardown.action {
            Action::Teardown(Teardown { steps }) => assert_eq!(
                steps,
                &[
                    "staging.isolate",
                    "db.restore-cluster",
                    "files.restore-file-system",
                    "web.launch-instance"
                ]
            ),
            other => panic!("{other:?}"),
        }
        assert!(p.step("drill.teardown").is_none() && p.step("drill.isolate").is_none());
        match &p.step("site.health-check").map(|s| &s.action) {
            Some(Action::HealthCheck(_)) => {}
            other => panic!("a staging copy is health-checked directly: {other:?}"),
        }
    }

    #[test]
    fn a_site_behind_cloudfront_invalidates_what_the_restore_reverted_last() {
        let f = fixture();
        let points = PointsByComponent::new(f.points.clone());
        let mut facts = facts(&f, &points);
        facts.cloudfront_distribution_id = Some("E2QWRUHAPOMQZL");
        let sel = selection(RestoreTo::Primary);
        let p = build_plan(
            &sel,
            &facts,
            Purpose::Restore,
            t(15, 0),
            &DurationHistory::new(),
        )
        .unwrap();
        let last = p.steps.last().unwrap();
        assert_eq!(last.key, "site.invalidate-cdn");
        assert!(deps(&p, "site.invalidate-cdn").contains(&"site.verify-public"));
        assert!(deps(&p, "site.invalidate-cdn").contains(&"media.revert-bucket"));
        match &last.action {
            Action::InvalidateCdn(c) => {
                assert_eq!(c.bucket_steps, ["media.revert-bucket"]);
                assert!(c.check_origins, "the web tier changes");
                assert!(!c.dry_run);
                assert_eq!(c.max_paths, CDN_MAX_PATHS);
            }
            other => panic!("{other:?}"),
        }
        assert!(last.calls.iter().any(|c| c.contains("CreateInvalidation")));
        // A drill shows it, skipped; without a distribution there is no such step.
        let d = build_plan(
            &sel,
            &facts,
            Purpose::Drill,
            t(15, 0),
            &DurationHistory::new(),
        )
        .unwrap();
        assert!(matches!(
            d.step("site.invalidate-cdn").unwrap().action,
            Action::InvalidateCdn(InvalidateCdn { dry_run: true, .. })
        ));
        facts.cloudfront_distribution_id = None;
        let n = build_plan(
            &sel,
            &facts,
            Purpose::Restore,
            t(15, 0),
            &DurationHistory::new(),
        )
        .unwrap();
        assert!(n.step("site.invalidate-cdn").is_none());
    }

    #[test]
    fn a_drill_of_a_web_tier_wired_to_production_data_is_refused_naming_it() {
        let f = fixture();
        let mut sel = selection(RestoreTo::Primary);
        sel.choices
            .retain(|c| c.component == "web" || c.component == "media");
        let points = PointsByComponent::new(f.points.clone());
        let facts = facts(&f, &points);
        let err = build_plan(
            &sel,
            &facts,
            Purpose::Drill,
            t(15, 0),
            &DurationHistory::new(),
        )
        .unwrap_err();
        assert_eq!(err.component, "web");
        for says in ["production file system", "production database", "--only"] {
            assert!(err.reason.contains(says), "{says}: {}", err.reason);
        }
        // The same selection restores (a restore is meant to use the live data it keeps).
        assert!(build_plan(
            &sel,
            &facts,
            Purpose::Restore,
            t(15, 0),
            &DurationHistory::new()
        )
        .is_ok());
    }

    #[test]
    fn a_dr_restore_keeps_the_name_and_leaves_dns_to_the_operator() {
        let f = fixture();
        let mut sel = selection(RestoreTo::Dr);
        sel.choices[0].source = Source::Point {
            point_id: 1,
            region: "us-west-2".into(),
            provider_id: "wp-db-snap".into(),
            from_dr_copy: true,
        };
        let points = PointsByComponent::new(f.points.clone());
        let mut facts = facts(&f, &points);
        // Without the DR region's networking: refused, naming every missing key.
        let err = build_plan(
            &sel,
            &facts,
            Purpose::Restore,
            t(15, 0),
            &DurationHistory::new(),
        )
        .unwrap_err();
        for key in [
            "subnets",
            "security_group_ids",
            "db_subnet_group",
            "db_security_group_ids",
            "file_system_security_group_ids",
            "[sites.dr_network]",
            "us-west-2",
        ] {
            assert!(err.reason.contains(key), "{key}: {err}");
        }
        assert_eq!(err.component, "db, files, web");
        let net = crate::domain::site::DrNetwork {
            subnets: vec!["subnet-dr1".into(), "subnet-dr2".into()],
            security_group_ids: vec!["sg-drweb".into()],
            db_subnet_group: Some("dr-db".into()),
            db_security_group_ids: vec!["sg-drdb".into()],
            file_system_security_group_ids: vec!["sg-drnfs".into()],
        };
        facts.dr_network = &net;
        let p = build_plan(
            &sel,
            &facts,
            Purpose::Restore,
            t(15, 0),
            &DurationHistory::new(),
        )
        .unwrap();
        assert_eq!(p.region, "us-west-2");
        assert!(p.step("db.swap-cluster").is_none() && p.step("site.move-address").is_none());
        assert!(matches!(
            p.step("site.manual").unwrap().action,
            Action::Manual(_)
        ));
        match &p.step("db.restore-cluster").unwrap().action {
            Action::RestoreCluster(RestoreCluster {
                cluster,
                snapshot,
                subnet_group,
                security_group_ids,
                ..
            }) => {
                assert_eq!(cluster, "wp-db");
                assert_eq!(snapshot.as_deref(), Some("wp-db-snap"));
                assert_eq!(subnet_group.as_deref(), Some("dr-db"));
                assert_eq!(security_group_ids, &["sg-drdb"]);
            }
            other => panic!("{other:?}"),
        }
        match &p.step("web.launch-instance").unwrap().action {
            Action::LaunchInstance(LaunchInstance {
                subnet_id,
                security_group_ids,
                availability_zone,
                ..
            }) => {
                assert_eq!(subnet_id.as_deref(), Some("subnet-dr1"));
                assert_eq!(security_group_ids, &["sg-drweb"]);
                assert!(availability_zone.is_none(), "the primary's AZ dropped");
            }
            other => panic!("{other:?}"),
        }
        match &p.step("files.restore-file-system").unwrap().action {
            Action::RestoreFileSystem(RestoreFileSystem {
                subnets,
                security_group_ids,
                ..
            }) => {
                assert_eq!(subnets, &["subnet-dr1", "subnet-dr2"]);
                assert_eq!(security_group_ids, &["sg-drnfs"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn validation_reports_every_problem() {
        let f = fixture();
        let mut p = build(
            &f,
            Purpose::Restore,
            RestoreTo::Primary,
            &DurationHistory::new(),
        );
        p.plan_version = 7;
        p.steps[0].depends_on = vec!["site.verify-public".into()];
        let dup = p.steps[1].clone();
        p.steps.push(dup);
        p.steps
            .iter_mut()
            .find(|s| s.key == "site.move-address")
            .unwrap()
            .depends_on
            .clear();
        let problems = p.validate().unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:#?}");
    }

    #[test]
    fn host_of_urls() {
        assert_eq!(
            host_of("https://shop.example.com/wp-login.php"),
            "shop.example.com"
        );
        assert_eq!(host_of("http://shop.example.com:8080/"), "shop.example.com");
    }

    #[test]
    fn actions_keep_the_plan_file_format_of_version_1() {
        // Plans stored by earlier versions (struct variants) must read back, and new plans
        // must be byte-compatible with them: the tag and the fields, flat.
        let stored = serde_json::json!({
            "action": "move-address",
            "region": "us-east-1",
            "address": {"type": "ec2-elastic-ip", "allocation_id": "eipalloc-1"},
            "instance_step": "web.launch-instance"
        });
        let action: Action = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(
            action,
            Action::MoveAddress(MoveAddress {
                region: "us-east-1".into(),
                address: Address::Ec2ElasticIp {
                    allocation_id: "eipalloc-1".into()
                },
                instance_step: "web.launch-instance".into(),
            })
        );
        assert_eq!(serde_json::to_value(&action).unwrap(), stored);
    }

    #[test]
    fn step_states_and_plan_statuses_read_back_what_they_write() {
        for s in StepState::ALL {
            assert_eq!(StepState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in PlanStatus::ALL {
            assert_eq!(PlanStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(StepState::parse("DONE"), None);
        assert_eq!(format!("{:<7}|", StepState::Done), "done   |");
        assert!(PlanStatus::TornDown.is_final() && !PlanStatus::Failed.is_final());
    }
}
