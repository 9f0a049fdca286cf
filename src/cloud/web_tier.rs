//! The elastic web tier's port: Auto Scaling groups launched from launch templates,
//! registered in ALB target groups, behind a listener — read for backups (what to image,
//! with which settings), created for restores (a separate group and target group wired to
//! the restored data), and switched at the cutover (the listener's forward, kept for
//! rollback). wpbackup's own types in and out; adapters: `sim` and `aws`.

use super::{CloudResult, Tags};
pub use crate::domain::web_tier::{
    GroupPointSettings, LaunchTemplateData, TargetGroupInfo, GROUP_SETTINGS_KEY,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

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
