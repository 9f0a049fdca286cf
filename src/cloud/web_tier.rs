//! The elastic web tier's port: Auto Scaling groups launched from launch templates,
//! registered in ALB target groups, behind a listener — read for backups (what to image,
//! with which settings), created for restores (a separate group and target group wired to
//! the restored data), and switched at the cutover (the listener's forward, kept for
//! rollback). wpbackup's own types in and out; adapters: `sim` and `aws`.

use super::{CloudResult, Tags};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A launch template's settings (one version): what an instance of the group boots with.
/// Recorded with each point, so a restore to T launches with the settings of T.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplateData {
    pub image_id: Option<String>,
    pub instance_type: Option<String>,
    pub key_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_group_ids: Vec<String>,
    /// The instance profile (ARN, else name).
    pub iam_instance_profile: Option<String>,
    /// Decoded (plain text).
    pub user_data: Option<String>,
}

/// The launch template a group uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRef {
    pub id: String,
    pub name: String,
    /// A version number, `$Latest` or `$Default`.
    pub version: String,
}

/// One instance of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInstance {
    pub id: String,
    /// `InService`, `Pending`, `Terminating`, … (Auto Scaling's lifecycle state).
    pub lifecycle_state: String,
    /// Auto Scaling's own health status is `Healthy`.
    pub healthy: bool,
}

impl GroupInstance {
    pub fn in_service(&self) -> bool {
        self.lifecycle_state == "InService" && self.healthy
    }
}

/// An Auto Scaling group as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    pub name: String,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: i32,
    /// Subnets the group launches into.
    pub subnets: Vec<String>,
    pub target_group_arns: Vec<String>,
    pub launch_template: Option<TemplateRef>,
    /// `EC2` or `ELB`.
    pub health_check_type: Option<String>,
    pub health_check_grace_period: Option<i32>,
    pub instances: Vec<GroupInstance>,
    pub tags: Tags,
}

/// What a restore creates: a group of its own, on its own launch template, in its own
/// target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRequest {
    pub name: String,
    pub launch_template_id: String,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: i32,
    pub subnets: Vec<String>,
    pub target_group_arns: Vec<String>,
    pub health_check_type: Option<String>,
    pub health_check_grace_period: Option<i32>,
    pub tags: Tags,
}

/// A target group's settings, copied to the restored stack's own target group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupInfo {
    pub arn: String,
    pub name: String,
    pub protocol: Option<String>,
    pub port: Option<i32>,
    pub vpc_id: Option<String>,
    pub health_check_protocol: Option<String>,
    pub health_check_port: Option<String>,
    pub health_check_path: Option<String>,
    pub health_check_interval_seconds: Option<i32>,
    pub health_check_timeout_seconds: Option<i32>,
    pub healthy_threshold_count: Option<i32>,
    pub unhealthy_threshold_count: Option<i32>,
    /// HTTP codes counted healthy ("200", "200-399").
    pub matcher: Option<String>,
}

/// One registered target and what the load balancer thinks of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetHealth {
    pub instance: String,
    pub port: Option<i32>,
    /// `initial`, `healthy`, `unhealthy`, `unused`, `draining`, `unavailable`.
    pub state: String,
    pub reason: Option<String>,
}

/// Where a listener forwards: target groups and their weights (one group: a plain
/// forward). The cutover replaces it; rollback puts the recorded one back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    pub target_group_arn: String,
    pub weight: Option<i32>,
}

/// What a point of an Auto Scaling group records besides its AMI, so a restore to T uses
/// the settings of T: kept in the point's metadata under [`GROUP_SETTINGS_KEY`] (JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPointSettings {
    /// The instance the AMI was made of.
    pub imaged_instance: String,
    pub launch_template: LaunchTemplateData,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: i32,
    pub subnets: Vec<String>,
    pub health_check_type: Option<String>,
    pub health_check_grace_period: Option<i32>,
    /// The settings of the group's (first) target group.
    pub target_group: Option<TargetGroupInfo>,
}

/// The metadata key of [`GroupPointSettings`].
pub const GROUP_SETTINGS_KEY: &str = "auto_scaling_group";

impl GroupPointSettings {
    pub fn to_extra(&self) -> std::collections::BTreeMap<String, String> {
        let mut m = std::collections::BTreeMap::new();
        m.insert(
            GROUP_SETTINGS_KEY.to_string(),
            serde_json::to_string(self).expect("plain data serialises"),
        );
        m
    }

    /// From a point's metadata; `None` when it has none (not a group's point).
    pub fn from_extra(extra: &std::collections::BTreeMap<String, String>) -> Option<Self> {
        extra
            .get(GROUP_SETTINGS_KEY)
            .and_then(|s| serde_json::from_str(s).ok())
    }
}

#[async_trait]
pub trait WebTiers: Send + Sync {
    /// The group, or not-found.
    async fn describe_group(&self, region: &str, name: &str) -> CloudResult<GroupInfo>;
    /// The settings of one version of a launch template (`$Default`, `$Latest` or a number).
    async fn launch_template_data(
        &self,
        region: &str,
        template_id: &str,
        version: &str,
    ) -> CloudResult<LaunchTemplateData>;
    /// A new launch template (always a new template with the full data, never a version of
    /// another). Idempotent on `name`: an existing one of that name is returned. Returns
    /// its id.
    async fn create_launch_template(
        &self,
        region: &str,
        name: &str,
        data: &LaunchTemplateData,
        tags: &Tags,
    ) -> CloudResult<String>;
    async fn describe_target_group(&self, region: &str, arn: &str) -> CloudResult<TargetGroupInfo>;
    /// A new target group with `like`'s protocol, port, VPC and health-check settings.
    /// Idempotent on `name`. Returns its ARN.
    async fn create_target_group(
        &self,
        region: &str,
        name: &str,
        like: &TargetGroupInfo,
        tags: &Tags,
    ) -> CloudResult<String>;
    /// A new group; an existing group of that name is left as it is (idempotent).
    async fn create_group(&self, region: &str, req: &GroupRequest) -> CloudResult<()>;
    async fn target_health(
        &self,
        region: &str,
        target_group_arn: &str,
    ) -> CloudResult<Vec<TargetHealth>>;
    /// Where the listener's default action forwards; invalid when it does not forward
    /// (a redirect, a fixed response).
    async fn listener_forward(&self, region: &str, listener_arn: &str)
        -> CloudResult<Vec<Forward>>;
    /// Make the listener's default action forward to `to`.
    async fn set_listener_forward(
        &self,
        region: &str,
        listener_arn: &str,
        to: &[Forward],
    ) -> CloudResult<()>;
    /// Delete a group (and its instances) a restore created. Refuses (kind `Invalid`) one
    /// without the `wpbackup:managed` tag.
    async fn delete_group(&self, region: &str, name: &str) -> CloudResult<()>;
    /// Same tag rule.
    async fn delete_target_group(&self, region: &str, arn: &str) -> CloudResult<()>;
    /// Same tag rule.
    async fn delete_launch_template(&self, region: &str, id: &str) -> CloudResult<()>;
}
