//! The elastic web tier's settings as recorded with a point and carried in a restore plan:
//! plain data (the ports in `cloud::web_tier` use the same types).

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
