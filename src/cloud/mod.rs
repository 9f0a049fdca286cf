//! Ports: what wpbackup needs from a cloud, in wpbackup's own types. Adapters: `sim`
//! (the embedded simulator) and, in its own module, AWS. No SDK type crosses this line.

pub mod aws;
pub mod retry;
pub mod sim;

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
            CloudErrorKind::AccessDenied => "grant the actions printed by `wpbackup iam-policy` to the credentials in use",
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
}

/// One live setting that a component's recoverability depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingCheck {
    /// e.g. `s3.versioning`, `aurora.backup_retention_days`.
    pub setting: String,
    pub expected: String,
    pub actual: String,
    pub ok: bool,
}

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
}
