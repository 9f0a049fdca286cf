//! Ports: what wpbackup needs from a cloud, in wpbackup's own types. Adapters: `sim`
//! (the embedded simulator) and, in its own module, AWS. No SDK type crosses this line.

pub mod aws;
pub mod cdn;
pub mod network;
pub mod probe;
pub mod retry;
pub mod sim;
pub mod wait;
pub mod web_tier;

use crate::domain::model::{PointKind, PointState, RestoreMetadata};
use crate::domain::policy::{DrCopy, Target};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

pub type Tags = BTreeMap<String, String>;

/// The small taxonomy the engine acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloudErrorKind {
    Throttled,
    Transient,
    NotFound,
    AlreadyExists,
    AccessDenied,
    Invalid,
    Permanent,
}

impl CloudErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CloudErrorKind::Throttled => "throttled",
            CloudErrorKind::Transient => "transient",
            CloudErrorKind::NotFound => "not-found",
            CloudErrorKind::AlreadyExists => "already-exists",
            CloudErrorKind::AccessDenied => "access-denied",
            CloudErrorKind::Invalid => "invalid",
            CloudErrorKind::Permanent => "permanent",
        }
    }
}

/// An error from a cloud call: its kind, the operation, and the service's own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed ({}): {message}", kind.as_str())]
pub struct CloudError {
    pub kind: CloudErrorKind,
    pub operation: String,
    pub message: String,
}

impl CloudError {
    pub fn new(kind: CloudErrorKind, operation: &str, message: impl Into<String>) -> Self {
        Self {
            kind,
            operation: operation.to_string(),
            message: message.into(),
        }
    }

    /// Whether trying again later can help.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            CloudErrorKind::Throttled | CloudErrorKind::Transient
        )
    }

    /// What an operator can do about it.
    pub fn guidance(&self) -> &'static str {
        match self.kind {
            CloudErrorKind::Throttled => "the API is rate-limiting; it was retried with backoff — run again later or spread schedules",
            CloudErrorKind::Transient => "a temporary service error; it was retried — run again",
            CloudErrorKind::NotFound => "check the resource id in the policy and the region",
            CloudErrorKind::AlreadyExists => "a resource with this deterministic name exists; wpbackup adopts it",
            CloudErrorKind::AccessDenied => "grant the actions printed by `wpbackup iam-policy` (`--for backup|restore|audit`) to the credentials in use",
            CloudErrorKind::Invalid => "the request was rejected as invalid; check the policy's settings",
            CloudErrorKind::Permanent => "the service refused; see its message",
        }
    }
}

pub type CloudResult<T> = Result<T, CloudError>;

/// A recovery point as the cloud reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderPoint {
    pub kind: PointKind,
    pub region: String,
    pub name: String,
    pub provider_id: String,
    pub arn: Option<String>,
    pub state: PointState,
    pub point_time: DateTime<Utc>,
    pub metadata: RestoreMetadata,
    pub tags: Tags,
    pub failure_reason: Option<String>,
}

/// Taking, copying, inspecting and deleting recovery points, for every component kind.
#[async_trait]
pub trait RecoveryPoints: Send + Sync {
    /// Start a point of `target` in `region`. Already-exists on `name` is an error of that
    /// kind; the caller reconciles with [`RecoveryPoints::find_point`].
    async fn create_point(
        &self,
        target: &Target,
        region: &str,
        name: &str,
        tags: &Tags,
    ) -> CloudResult<ProviderPoint>;

    async fn describe_point(
        &self,
        kind: PointKind,
        region: &str,
        provider_id: &str,
    ) -> CloudResult<ProviderPoint>;

    /// The point with this deterministic name, if the cloud has one.
    async fn find_point(
        &self,
        kind: PointKind,
        region: &str,
        name: &str,
    ) -> CloudResult<Option<ProviderPoint>>;

    /// Copy an available point to `copy.region` (called from the destination where the
    /// service requires it).
    async fn copy_point(
        &self,
        source: &ProviderPoint,
        target: &Target,
        copy: &DrCopy,
        name: &str,
        tags: &Tags,
    ) -> CloudResult<ProviderPoint>;

    async fn delete_point(
        &self,
        kind: PointKind,
        region: &str,
        provider_id: &str,
    ) -> CloudResult<()>;

    /// Snapshots of `target`'s resource in `region` that wpbackup did not make (no
    /// `wpbackup:managed` tag): reported by `sync` and audits, never deleted.
    async fn list_unmanaged_points(
        &self,
        target: &Target,
        region: &str,
    ) -> CloudResult<Vec<ProviderPoint>>;

    /// Every wpbackup-tagged point of `site` in `region`.
    async fn list_managed_points(
        &self,
        site: &str,
        region: &str,
    ) -> CloudResult<Vec<ProviderPoint>>;

    /// wpbackup-tagged EBS snapshots of `site` in `region` whose AMI no longer exists
    /// (deregistering an AMI leaves its snapshots behind, still billed): for audits.
    async fn list_leftover_snapshots(
        &self,
        site: &str,
        region: &str,
    ) -> CloudResult<Vec<ProviderPoint>>;
}

pub use crate::domain::audit::SettingCheck;

/// Reading (and where the policy asks, enabling) the settings that make a component
/// recoverable: PITR window, bucket versioning and replication, the Lightsail add-on.
#[async_trait]
pub trait ProtectionSettings: Send + Sync {
    async fn inspect(&self, target: &Target, region: &str) -> CloudResult<Vec<SettingCheck>>;

    /// Turn on what the policy asks the provider to do itself (the Lightsail auto-snapshot
    /// add-on); returns a description of each change made. Never turns anything off.
    async fn ensure(&self, target: &Target, region: &str) -> CloudResult<Vec<String>>;
}

/// Everything the engine needs from one site's cloud.
#[derive(Clone)]
pub struct Cloud {
    pub points: Arc<dyn RecoveryPoints>,
    pub settings: Arc<dyn ProtectionSettings>,
    pub restores: Arc<dyn Restores>,
    pub probe: Arc<dyn HealthProbe>,
    pub web: Arc<dyn web_tier::WebTiers>,
    pub net: Arc<dyn network::Networks>,
    pub cdn: Arc<dyn cdn::Cdn>,
}

/// One HTTP health check: `url` fetched from `address` (the restored instance, or `None`
/// for the public address DNS gives), with the URL's own host in `Host`/SNI — what
/// `curl --resolve host:port:address url` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRequest {
    pub url: String,
    pub address: Option<String>,
    pub expect_status: u16,
    pub timeout: std::time::Duration,
}

/// What answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthAnswer {
    pub status: u16,
    /// Where the request went (address:port).
    pub peer: String,
    /// The first bytes of the body when the status was not the one expected (whitespace
    /// collapsed): WordPress's "critical error" page, a proxy's "Bad Gateway".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
}

/// Asks a web server whether the site answers. A connection failure is an error of kind
/// `Transient` (the instance may still be booting) whose message is the cause alone
/// ("connection refused", "timed out after 10s", "DNS: …", "TLS: …"); a wrong status is an
/// `Ok` answer the caller judges.
#[async_trait]
pub trait HealthProbe: Send + Sync {
    async fn probe(&self, req: &HealthRequest) -> CloudResult<HealthAnswer>;
}

/// Whether a restored resource is usable yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceState {
    Pending,
    Ready,
    Failed,
    Gone,
}

/// A resource created (or renamed) by a restore, as the cloud reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceStatus {
    /// Instance id / instance name / cluster identifier / file system id.
    pub id: String,
    pub state: ResourceState,
    /// Where it answers: public (else private) IP of an instance, a cluster's endpoint.
    pub address: Option<String>,
    pub detail: Option<String>,
}

/// Settings for an instance launched from a point (taken from the point's metadata).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchRequest {
    /// Instance name (Lightsail) / `Name` tag and idempotency token (EC2).
    pub name: String,
    pub instance_type: Option<String>,
    pub bundle_id: Option<String>,
    pub subnet_id: Option<String>,
    pub security_group_ids: Vec<String>,
    pub availability_zone: Option<String>,
    pub key_name: Option<String>,
    /// EC2: the script the instance runs at boot (plain text; the adapter encodes it).
    pub user_data: Option<String>,
    pub tags: Tags,
}

/// Where a restored cluster's data comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "from")]
pub enum ClusterSource {
    /// Continuous backup of `cluster` at exactly `at` (inside its restorable window).
    PointInTime { cluster: String, at: DateTime<Utc> },
    /// A cluster snapshot (identifier or ARN).
    Snapshot { snapshot: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRestore {
    /// Identifier of the new cluster.
    pub cluster: String,
    pub source: ClusterSource,
    pub engine: Option<String>,
    pub subnet_group: Option<String>,
    pub security_group_ids: Vec<String>,
    pub tags: Tags,
}

pub use crate::domain::model::ObjectVersion;

/// What a restore needs beyond taking points: launching from points, restoring clusters
/// and file systems, moving the public address, and reading/reverting bucket history.
#[async_trait]
pub trait Restores: Send + Sync {
    /// EC2: run an instance from an AMI; Lightsail: create an instance from a snapshot.
    /// Idempotent on `req.name`.
    async fn launch_instance(
        &self,
        point: &ProviderPoint,
        req: &LaunchRequest,
    ) -> CloudResult<ResourceStatus>;
    async fn describe_instance(
        &self,
        kind: PointKind,
        region: &str,
        id: &str,
    ) -> CloudResult<ResourceStatus>;

    /// The instants a cluster can be restored to now: [earliest, latest].
    async fn restorable_window(
        &self,
        region: &str,
        cluster: &str,
    ) -> CloudResult<Option<(DateTime<Utc>, DateTime<Utc>)>>;
    /// Create the cluster (only the cluster: add instances with `create_cluster_instance`).
    async fn restore_cluster(
        &self,
        region: &str,
        req: &ClusterRestore,
    ) -> CloudResult<ResourceStatus>;
    async fn create_cluster_instance(
        &self,
        region: &str,
        cluster: &str,
        instance: &str,
        class: &str,
        engine: &str,
    ) -> CloudResult<ResourceStatus>;
    async fn describe_cluster(&self, region: &str, cluster: &str) -> CloudResult<ResourceStatus>;
    /// A cluster's DB instance: the cluster is `available` long before a new writer is —
    /// a web server wired to it before then cannot connect.
    async fn describe_cluster_instance(
        &self,
        region: &str,
        instance: &str,
    ) -> CloudResult<ResourceStatus>;
    /// The cluster's tags (who made it: a restore adopts only a cluster its own plan created).
    async fn cluster_tags(&self, region: &str, cluster: &str) -> CloudResult<Tags>;
    /// Rename (keeps the endpoint's DNS pattern, so "old away, restored in" keeps wp-config.php valid).
    async fn rename_cluster(&self, region: &str, from: &str, to: &str) -> CloudResult<()>;

    /// Restore an EFS recovery point to a new file system; returns the restore job id.
    async fn restore_file_system(
        &self,
        point: &ProviderPoint,
        role_arn: &str,
        token: &str,
    ) -> CloudResult<String>;
    /// The job's state and, once done, the new file system's id.
    async fn describe_file_system_restore(
        &self,
        region: &str,
        job: &str,
    ) -> CloudResult<ResourceStatus>;

    /// The instance the site's public address points at now.
    async fn address_target(
        &self,
        entry: &crate::domain::site::EntryPoint,
        region: &str,
    ) -> CloudResult<Option<String>>;
    /// Point the static IP / Elastic IP at `instance`.
    async fn move_address(
        &self,
        entry: &crate::domain::site::EntryPoint,
        region: &str,
        instance: &str,
    ) -> CloudResult<()>;

    /// Make a restored file system usable and wpbackup's: tag it, and give it a mount
    /// target in each of `subnets` (skipping subnets that have one), so it mounts where the
    /// original did. Returns the mount target ids.
    async fn finish_file_system_restore(
        &self,
        region: &str,
        file_system: &str,
        subnets: &[String],
        security_group_ids: &[String],
        tags: &Tags,
    ) -> CloudResult<Vec<String>>;

    /// The file system's mount targets: (subnet, state) each — a server mounts only
    /// through an available one in its AZ.
    async fn mount_targets(
        &self,
        region: &str,
        file_system: &str,
    ) -> CloudResult<Vec<(String, ResourceState)>>;

    /// Delete an instance a restore or drill created. Refuses (kind `Invalid`) a resource
    /// without the `wpbackup:managed` tag: wpbackup deletes only what it made.
    async fn delete_instance(&self, kind: PointKind, region: &str, id: &str) -> CloudResult<()>;
    /// Delete a restored cluster and its instances (no final snapshot: it is a copy).
    /// Same tag rule.
    async fn delete_cluster(&self, region: &str, cluster: &str) -> CloudResult<()>;
    /// Delete a restored file system and its mount targets. Same tag rule.
    async fn delete_file_system(&self, region: &str, file_system: &str) -> CloudResult<()>;

    /// Every version and delete marker of the bucket (all pages), newest first per key.
    async fn object_versions(&self, region: &str, bucket: &str) -> CloudResult<Vec<ObjectVersion>>;
    /// Make `key` current as `version` again (a copy: a new version), or — with `None` —
    /// absent (a delete marker). History is never destroyed.
    async fn revert_object(
        &self,
        region: &str,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> CloudResult<()>;
}
