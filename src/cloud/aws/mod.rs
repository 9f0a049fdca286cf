//! AWS adapters on the official SDK crates: one module per service; no SDK type leaves
//! this module. Retries of throttling and transient errors are the SDK's own (standard
//! retry mode), never a second loop here.

pub mod backup;
pub mod cdn;
pub mod ec2;
pub mod error;
pub mod iam;
pub mod lightsail;
pub mod network;
pub mod operations;
pub mod rds;
pub mod restore;
pub mod s3;
pub mod web_tier;

use crate::cloud::{
    CloudError, CloudErrorKind, CloudResult, ProtectionSettings, ProviderPoint, RecoveryPoints,
    SettingCheck, Tags,
};
use crate::domain::model::PointKind;
use crate::domain::policy::{DrCopy, Policy, Target};
use crate::domain::site::Site;
use crate::domain::time::Clock;
use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use chrono::{DateTime, Utc};
use operations::CallLog;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The service clients for one region.
#[derive(Clone, Debug)]
pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub rds: aws_sdk_rds::Client,
    pub s3: aws_sdk_s3::Client,
    pub backup: aws_sdk_backup::Client,
    pub efs: aws_sdk_efs::Client,
    pub lightsail: aws_sdk_lightsail::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    /// CloudFront is global: the client of any region reaches it.
    pub cloudfront: aws_sdk_cloudfront::Client,
}

impl Clients {
    /// Clients for `region` from shared configuration. With an endpoint override (moto,
    /// S3-compatible stores) S3 uses path-style addressing.
    pub fn for_region(base: &SdkConfig, region: &str) -> Self {
        let region = Region::new(region.to_string());
        // An endpoint override (config key or AWS_ENDPOINT_URL[_S3]) means an S3-compatible
        // endpoint such as moto: use path-style addressing there.
        let path_style = base.endpoint_url().is_some()
            || std::env::var_os("AWS_ENDPOINT_URL").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        Clients {
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(base)
                    .region(region.clone())
                    .build(),
            ),
            rds: aws_sdk_rds::Client::from_conf(
                aws_sdk_rds::config::Builder::from(base)
                    .region(region.clone())
                    .build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(base)
                    .region(region.clone())
                    .force_path_style(path_style)
                    .build(),
            ),
            backup: aws_sdk_backup::Client::from_conf(
                aws_sdk_backup::config::Builder::from(base)
                    .region(region.clone())
                    .build(),
            ),
            efs: aws_sdk_efs::Client::from_conf(
                aws_sdk_efs::config::Builder::from(base)
                    .region(region.clone())
                    .build(),
            ),
            lightsail: aws_sdk_lightsail::Client::from_conf(
                aws_sdk_lightsail::config::Builder::from(base)
                    .region(region.clone())
                    .build(),
            ),
            autoscaling: aws_sdk_autoscaling::Client::from_conf(
                aws_sdk_autoscaling::config::Builder::from(base)
                    .region(region.clone())
                    .build(),
            ),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::from_conf(
                aws_sdk_elasticloadbalancingv2::config::Builder::from(base)
                    .region(region.clone())
                    .build(),
            ),
            cloudfront: aws_sdk_cloudfront::Client::from_conf(
                aws_sdk_cloudfront::config::Builder::from(base)
                    .region(region)
                    .build(),
            ),
        }
    }
}

impl Clients {
    /// The same clients, also recording every operation they send into `log` (tests prove
    /// with it that `iam-policy` grants every call the adapters make).
    pub fn recorded(self, log: &CallLog) -> Self {
        macro_rules! with_log {
            ($sdk:ident, $client:expr) => {
                $sdk::Client::from_conf(
                    $client
                        .config()
                        .to_builder()
                        .interceptor(log.clone())
                        .build(),
                )
            };
        }
        Clients {
            ec2: with_log!(aws_sdk_ec2, self.ec2),
            rds: with_log!(aws_sdk_rds, self.rds),
            s3: with_log!(aws_sdk_s3, self.s3),
            backup: with_log!(aws_sdk_backup, self.backup),
            efs: with_log!(aws_sdk_efs, self.efs),
            lightsail: with_log!(aws_sdk_lightsail, self.lightsail),
            autoscaling: with_log!(aws_sdk_autoscaling, self.autoscaling),
            elbv2: with_log!(aws_sdk_elasticloadbalancingv2, self.elbv2),
            cloudfront: with_log!(aws_sdk_cloudfront, self.cloudfront),
        }
    }
}

/// The one HTTPS client of every SDK client and credential provider: hyper 1 and rustls
/// with the ring provider — the stack reqwest uses for the health check — and the system's
/// root certificates. (The SDK crates' default features would compile a second, legacy stack
/// and aws-lc-sys beside it; Cargo.toml turns them off.)
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The SDK's configuration loader with wpbackup's HTTPS client: the standard credential
/// chain (environment, shared config and credentials files with profiles, SSO,
/// `credential_process`, web identity, ECS and EC2 instance metadata) and region resolution.
pub fn sdk_defaults() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client())
}

/// Load shared AWS configuration for a site: the standard credential chain (environment,
/// profiles, SSO, instance role), an optional profile, an optional role to assume, and an
/// optional endpoint override (`AWS_ENDPOINT_URL` is honoured by aws-config as well).
pub async fn load_sdk_config(site: &Site) -> SdkConfig {
    let mut loader = sdk_defaults()
        .region(Region::new(site.region.clone()))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(5)
                .with_initial_backoff(Duration::from_millis(500)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(profile) = &site.aws.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &site.aws.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let base = loader.load().await;
    match &site.aws.assume_role_arn {
        Some(role) => {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
                .session_name(format!("wpbackup-{}", site.name))
                .configure(&base)
                .build()
                .await;
            base.into_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                )
                .build()
        }
        None => base,
    }
}

/// The AWS implementation of every port, for one site.
pub struct AwsCloud {
    site: Site,
    base: Option<SdkConfig>,
    clients: Mutex<HashMap<String, Arc<Clients>>>,
    pub(crate) clock: Arc<dyn Clock>,
    /// How often long-running copy starts (AWS Backup copy jobs) are polled.
    pub(crate) poll: Duration,
}

impl AwsCloud {
    pub async fn connect(site: &Site, clock: Arc<dyn Clock>) -> Self {
        let base = load_sdk_config(site).await;
        Self {
            site: site.clone(),
            base: Some(base),
            clients: Mutex::new(HashMap::new()),
            clock,
            poll: Duration::from_secs(5),
        }
    }

    /// An adapter over given clients (tests: the SDK's mock layer).
    pub fn with_clients(
        site: &Site,
        clock: Arc<dyn Clock>,
        clients: HashMap<String, Clients>,
    ) -> Self {
        Self {
            site: site.clone(),
            base: None,
            clients: Mutex::new(clients.into_iter().map(|(r, c)| (r, Arc::new(c))).collect()),
            clock,
            poll: Duration::from_millis(10),
        }
    }

    pub(crate) fn clients(&self, region: &str) -> CloudResult<Arc<Clients>> {
        let mut map = self.clients.lock().expect("clients lock");
        if let Some(c) = map.get(region) {
            return Ok(c.clone());
        }
        let base = self.base.as_ref().ok_or_else(|| {
            CloudError::new(
                CloudErrorKind::Invalid,
                "clients",
                format!("no clients for region {region}"),
            )
        })?;
        let c = Arc::new(Clients::for_region(base, region));
        map.insert(region.to_string(), c.clone());
        Ok(c)
    }

    pub(crate) fn site(&self) -> &Site {
        &self.site
    }

    /// The policy protecting `resource_id` (for settings a port call does not carry).
    pub(crate) fn policy_for(&self, resource_id: &str) -> Option<&Policy> {
        self.site
            .policies
            .iter()
            .find(|p| p.target.resource_id() == resource_id)
    }

    /// AWS Backup vaults this site uses in `region`.
    pub(crate) fn vaults_in(&self, region: &str) -> Vec<String> {
        let mut v = Vec::new();
        for p in &self.site.policies {
            if let Target::Efs { vault, .. } = &p.target {
                if region == self.site.region {
                    v.push(vault.clone());
                }
                for c in &p.dr_copies {
                    if c.region == region {
                        v.extend(c.vault.clone());
                    }
                }
            }
        }
        v.sort();
        v.dedup();
        v
    }
}

/// SDK timestamp → chrono.
pub(crate) fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// A point's time as the cloud gives it. Never the clock: a point found without one (an
/// import by `sync`, a listing) would look fresh to the RPO checks and be chosen for any T.
/// It is flagged instead, with the Unix epoch as its time.
pub(crate) fn cloud_time(
    t: Option<DateTime<Utc>>,
    metadata: &mut crate::domain::model::RestoreMetadata,
) -> DateTime<Utc> {
    t.unwrap_or_else(|| {
        metadata.time_unknown = true;
        DateTime::UNIX_EPOCH
    })
}

/// The tags as a map, from any service's tag list.
pub(crate) fn tag_map<I, K, V>(tags: I) -> Tags
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    tags.into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

pub(crate) fn is_managed(tags: &Tags) -> bool {
    tags.get(crate::domain::names::TAG_MANAGED)
        .map(String::as_str)
        == Some("true")
}

pub(crate) fn belongs_to(tags: &Tags, site: &str) -> bool {
    is_managed(tags) && tags.get(crate::domain::names::TAG_SITE).map(String::as_str) == Some(site)
}

#[async_trait]
impl RecoveryPoints for AwsCloud {
    async fn create_point(
        &self,
        target: &Target,
        region: &str,
        name: &str,
        tags: &Tags,
    ) -> CloudResult<ProviderPoint> {
        let c = self.clients(region)?;
        match target {
            Target::LightsailInstance { instance_name, .. } => {
                lightsail::create_snapshot(&c.lightsail, region, instance_name, name, tags).await
            }
            Target::Ec2Instance {
                instance_id,
                no_reboot,
                ..
            } => ec2::create_image(&c.ec2, region, instance_id, *no_reboot, name, tags).await,
            Target::AutoScalingGroup {
                group_name,
                no_reboot,
                ..
            } => {
                self.create_group_point(region, group_name, *no_reboot, name, tags)
                    .await
            }
            Target::AuroraCluster {
                cluster_identifier, ..
            } => rds::create_snapshot(&c.rds, region, cluster_identifier, name, tags).await,
            Target::Efs { .. } => backup::start_backup(self, &c, region, target, name, tags).await,
            Target::S3Bucket { .. } => s3::checkpoint(self, region, target, name, tags).await,
        }
    }

    async fn describe_point(
        &self,
        kind: PointKind,
        region: &str,
        provider_id: &str,
    ) -> CloudResult<ProviderPoint> {
        let c = self.clients(region)?;
        match kind {
            PointKind::LightsailSnapshot => {
                lightsail::describe_snapshot(&c.lightsail, region, provider_id).await
            }
            PointKind::Ec2Ami => ec2::describe_image(&c.ec2, region, provider_id).await,
            PointKind::AuroraClusterSnapshot => {
                rds::describe_snapshot(&c.rds, region, provider_id).await
            }
            PointKind::EfsRecoveryPoint => {
                backup::describe_recovery_point(self, &c, region, provider_id).await
            }
            PointKind::S3Checkpoint => s3::describe_checkpoint(region, provider_id),
        }
    }

    async fn find_point(
        &self,
        kind: PointKind,
        region: &str,
        name: &str,
    ) -> CloudResult<Option<ProviderPoint>> {
        let c = self.clients(region)?;
        let found = match kind {
            PointKind::LightsailSnapshot => {
                lightsail::describe_snapshot(&c.lightsail, region, name).await
            }
            PointKind::Ec2Ami => return ec2::find_image(&c.ec2, region, name).await,
            PointKind::AuroraClusterSnapshot => rds::describe_snapshot(&c.rds, region, name).await,
            PointKind::EfsRecoveryPoint => {
                return backup::find_by_name(self, &c, region, name).await
            }
            // Checkpoints live only in the catalog; nothing to find in the cloud.
            PointKind::S3Checkpoint => return Ok(None),
        };
        match found {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.kind == CloudErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn copy_point(
        &self,
        source: &ProviderPoint,
        target: &Target,
        copy: &DrCopy,
        name: &str,
        tags: &Tags,
    ) -> CloudResult<ProviderPoint> {
        let dest = self.clients(&copy.region)?;
        match source.kind {
            PointKind::LightsailSnapshot => {
                lightsail::copy_snapshot(&dest.lightsail, source, &copy.region, name, tags).await
            }
            PointKind::Ec2Ami => ec2::copy_image(&dest.ec2, source, &copy.region, name, tags).await,
            PointKind::AuroraClusterSnapshot => {
                rds::copy_snapshot(&dest.rds, source, &copy.region, name, tags).await
            }
            PointKind::EfsRecoveryPoint => {
                backup::copy_recovery_point(self, source, target, copy, name).await
            }
            PointKind::S3Checkpoint => {
                s3::checkpoint_replica(self, source, target, copy, name, tags).await
            }
        }
    }

    async fn delete_point(
        &self,
        kind: PointKind,
        region: &str,
        provider_id: &str,
    ) -> CloudResult<()> {
        let c = self.clients(region)?;
        match kind {
            PointKind::LightsailSnapshot => {
                lightsail::delete_snapshot(&c.lightsail, provider_id).await
            }
            PointKind::Ec2Ami => ec2::delete_image(&c.ec2, provider_id).await,
            PointKind::AuroraClusterSnapshot => rds::delete_snapshot(&c.rds, provider_id).await,
            PointKind::EfsRecoveryPoint => {
                backup::delete_recovery_point(self, &c, region, provider_id).await
            }
            PointKind::S3Checkpoint => Ok(()),
        }
    }

    async fn list_unmanaged_points(
        &self,
        target: &Target,
        region: &str,
    ) -> CloudResult<Vec<ProviderPoint>> {
        let c = self.clients(region)?;
        let mut found = match target {
            Target::LightsailInstance { instance_name, .. } => {
                let mut all = lightsail::list_snapshots(&c.lightsail, region).await?;
                all.retain(|p| p.metadata.extra.get("source_instance") == Some(instance_name));
                all
            }
            Target::Ec2Instance { instance_id, .. } => {
                ec2::list_instance_snapshots(&c.ec2, region, instance_id).await?
            }
            // Images of the group's current instances made outside wpbackup.
            Target::AutoScalingGroup { group_name, .. } => {
                use crate::cloud::web_tier::WebTiers;
                let g = self.describe_group(region, group_name).await?;
                let mut all = Vec::new();
                for i in &g.instances {
                    all.extend(ec2::list_instance_snapshots(&c.ec2, region, &i.id).await?);
                }
                all
            }
            Target::AuroraCluster {
                cluster_identifier, ..
            } => rds::list_snapshots(&c.rds, region, Some(cluster_identifier)).await?,
            Target::Efs { file_system_id, .. } => {
                backup::list_points_of_resource(&c, region, file_system_id).await?
            }
            Target::S3Bucket { .. } => Vec::new(),
        };
        found.retain(|p| !is_managed(&p.tags));
        Ok(found)
    }

    async fn list_managed_points(
        &self,
        site: &str,
        region: &str,
    ) -> CloudResult<Vec<ProviderPoint>> {
        let c = self.clients(region)?;
        let kinds: std::collections::BTreeSet<_> =
            self.site.policies.iter().map(|p| p.kind).collect();
        let mut out = Vec::new();
        for kind in kinds {
            use crate::domain::model::ComponentKind as K;
            let mut found = match kind {
                K::LightsailInstance => lightsail::list_snapshots(&c.lightsail, region).await?,
                K::Ec2Instance | K::AutoScalingGroup => {
                    ec2::list_managed_images(&c.ec2, region, site).await?
                }
                K::AuroraCluster => rds::list_snapshots(&c.rds, region, None).await?,
                K::Efs => backup::list_recovery_points(self, &c, region).await?,
                K::S3Bucket => Vec::new(),
            };
            found.retain(|p| belongs_to(&p.tags, site));
            out.extend(found);
        }
        Ok(out)
    }

    async fn list_leftover_snapshots(
        &self,
        site: &str,
        region: &str,
    ) -> CloudResult<Vec<ProviderPoint>> {
        if !self
            .site
            .policies
            .iter()
            .any(|p| p.kind.point_kind() == PointKind::Ec2Ami)
        {
            return Ok(Vec::new());
        }
        let c = self.clients(region)?;
        ec2::list_leftover_snapshots(&c.ec2, region, site).await
    }
}

#[async_trait]
impl ProtectionSettings for AwsCloud {
    async fn inspect(&self, target: &Target, region: &str) -> CloudResult<Vec<SettingCheck>> {
        let c = self.clients(region)?;
        match target {
            Target::LightsailInstance {
                instance_name,
                auto_snapshot_time,
            } => {
                lightsail::inspect_addon(&c.lightsail, instance_name, auto_snapshot_time.as_deref())
                    .await
            }
            Target::AuroraCluster {
                cluster_identifier,
                pitr_days,
            } => rds::inspect_retention(&c.rds, cluster_identifier, *pitr_days).await,
            Target::S3Bucket { .. } => s3::inspect(self, region, target).await,
            Target::Efs { .. } => backup::inspect(self, &c, region, target).await,
            Target::Ec2Instance { .. } | Target::AutoScalingGroup { .. } => Ok(Vec::new()),
        }
    }

    async fn ensure(&self, target: &Target, region: &str) -> CloudResult<Vec<String>> {
        match target {
            Target::LightsailInstance {
                instance_name,
                auto_snapshot_time: Some(time),
            } => {
                let c = self.clients(region)?;
                lightsail::ensure_addon(&c.lightsail, instance_name, time).await
            }
            _ => Ok(Vec::new()),
        }
    }
}
