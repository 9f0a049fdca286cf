//! One retrying decorator for every port: throttled and transient errors are tried again
//! with exponential backoff and jitter, up to a bound. On the simulator it is the only retry
//! layer; on AWS it sits *over* the SDK's own retries (standard mode, a few attempts within
//! seconds) with longer delays, for throttling that outlasts the SDK's attempts — a restore
//! under sustained rate limiting slows down instead of failing.

use super::network::{IsolatedGroupRequest, Networks, SecurityGroupInfo, VpcOf};
use super::web_tier::{
    Forward, GroupInfo, GroupRequest, LaunchTemplateData, TargetGroupInfo, TargetHealth, WebTiers,
};
use super::{
    CloudError, CloudResult, ClusterRestore, HealthAnswer, HealthProbe, HealthRequest,
    LaunchRequest, ObjectVersion, ProtectionSettings, ProviderPoint, RecoveryPoints,
    ResourceStatus, Restores, SettingCheck, Tags,
};
use crate::domain::model::PointKind;
use crate::domain::policy::{DrCopy, Target};
use crate::domain::site::EntryPoint;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (1: no retry).
    pub max_attempts: u32,
    /// The delay before the second attempt; doubled for each further one.
    pub base_delay: Duration,
    /// No delay is longer than this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// The simulator's: the only retry layer there.
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Over the AWS SDK's own attempts: few, and long enough apart for a rate limit to
    /// recover (each of these attempts is itself up to 5 SDK attempts).
    pub fn over_sdk() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(30),
        }
    }

    /// Health probes: the health check already repeats its attempts, so a probe only
    /// absorbs a single blip.
    pub fn probe() -> Self {
        Self {
            max_attempts: 2,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(1),
        }
    }

    /// The delay after failed attempt `attempt` (1-based): "equal jitter" — half of the
    /// exponential step fixed, half random — so concurrent callers do not retry in step,
    /// yet every delay stays within [step/2, step].
    pub fn delay(&self, attempt: u32) -> Duration {
        let step = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let half = step / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half.saturating_add(Duration::from_millis(fastrand::u64(0..=jitter_ms)))
    }
}

/// A port with every call retried under a [`RetryPolicy`].
pub struct Retrying<P: ?Sized> {
    inner: Arc<P>,
    policy: RetryPolicy,
}

impl<P> Retrying<P> {
    pub fn new(inner: P, policy: RetryPolicy) -> Self {
        Self::shared(Arc::new(inner), policy)
    }
}

impl<P: ?Sized> Retrying<P> {
    /// Over an adapter that also serves other ports (one AWS adapter implements three).
    pub fn shared(inner: Arc<P>, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }

    async fn run<T, F, Fut>(&self, op: &str, mut f: F) -> CloudResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = CloudResult<T>>,
    {
        let mut attempt = 1;
        loop {
            match f().await {
                Err(e) if e.is_retryable() && attempt < self.policy.max_attempts => {
                    let delay = self.policy.delay(attempt);
                    tracing::debug!(op, attempt, error = %e, ?delay, "retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) if e.is_retryable() && attempt > 1 => {
                    return Err(CloudError {
                        message: format!("{} (gave up after {attempt} attempts)", e.message),
                        ..e
                    })
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl<P: RecoveryPoints + ?Sized> RecoveryPoints for Retrying<P> {
    async fn create_point(
        &self,
        target: &Target,
        region: &str,
        name: &str,
        tags: &Tags,
    ) -> CloudResult<ProviderPoint> {
        self.run("create_point", || {
            self.inner.create_point(target, region, name, tags)
        })
        .await
    }

    async fn describe_point(
        &self,
        kind: PointKind,
        region: &str,
        provider_id: &str,
    ) -> CloudResult<ProviderPoint> {
        self.run("describe_point", || {
            self.inner.describe_point(kind, region, provider_id)
        })
        .await
    }

    async fn find_point(
        &self,
        kind: PointKind,
        region: &str,
        name: &str,
    ) -> CloudResult<Option<ProviderPoint>> {
        self.run("find_point", || self.inner.find_point(kind, region, name))
            .await
    }

    async fn copy_point(
        &self,
        source: &ProviderPoint,
        target: &Target,
        copy: &DrCopy,
        name: &str,
        tags: &Tags,
    ) -> CloudResult<ProviderPoint> {
        self.run("copy_point", || {
            self.inner.copy_point(source, target, copy, name, tags)
        })
        .await
    }

    async fn delete_point(
        &self,
        kind: PointKind,
        region: &str,
        provider_id: &str,
    ) -> CloudResult<()> {
        self.run("delete_point", || {
            self.inner.delete_point(kind, region, provider_id)
        })
        .await
    }

    async fn list_unmanaged_points(
        &self,
        target: &Target,
        region: &str,
    ) -> CloudResult<Vec<ProviderPoint>> {
        self.run("list_unmanaged_points", || {
            self.inner.list_unmanaged_points(target, region)
        })
        .await
    }

    async fn list_managed_points(
        &self,
        site: &str,
        region: &str,
    ) -> CloudResult<Vec<ProviderPoint>> {
        self.run("list_managed_points", || {
            self.inner.list_managed_points(site, region)
        })
        .await
    }

    async fn list_leftover_snapshots(
        &self,
        site: &str,
        region: &str,
    ) -> CloudResult<Vec<ProviderPoint>> {
        self.run("list_leftover_snapshots", || {
            self.inner.list_leftover_snapshots(site, region)
        })
        .await
    }
}

#[async_trait]
impl<P: ProtectionSettings + ?Sized> ProtectionSettings for Retrying<P> {
    async fn inspect(&self, target: &Target, region: &str) -> CloudResult<Vec<SettingCheck>> {
        self.run("inspect", || self.inner.inspect(target, region))
            .await
    }

    async fn ensure(&self, target: &Target, region: &str) -> CloudResult<Vec<String>> {
        self.run("ensure", || self.inner.ensure(target, region))
            .await
    }
}

#[async_trait]
impl<P: HealthProbe + ?Sized> HealthProbe for Retrying<P> {
    async fn probe(&self, req: &HealthRequest) -> CloudResult<HealthAnswer> {
        self.run("probe", || self.inner.probe(req)).await
    }
}

// Every restore call is safe to repeat: launches and restore jobs are idempotent on their
// name or token, and the others set a state (an address, a name, a current version).
#[async_trait]
impl<P: Restores + ?Sized> Restores for Retrying<P> {
    async fn launch_instance(
        &self,
        point: &ProviderPoint,
        req: &LaunchRequest,
    ) -> CloudResult<ResourceStatus> {
        self.run("launch_instance", || self.inner.launch_instance(point, req))
            .await
    }

    async fn describe_instance(
        &self,
        kind: PointKind,
        region: &str,
        id: &str,
    ) -> CloudResult<ResourceStatus> {
        self.run("describe_instance", || {
            self.inner.describe_instance(kind, region, id)
        })
        .await
    }

    async fn restorable_window(
        &self,
        region: &str,
        cluster: &str,
    ) -> CloudResult<Option<(DateTime<Utc>, DateTime<Utc>)>> {
        self.run("restorable_window", || {
            self.inner.restorable_window(region, cluster)
        })
        .await
    }

    async fn restore_cluster(
        &self,
        region: &str,
        req: &ClusterRestore,
    ) -> CloudResult<ResourceStatus> {
        self.run("restore_cluster", || {
            self.inner.restore_cluster(region, req)
        })
        .await
    }

    async fn create_cluster_instance(
        &self,
        region: &str,
        cluster: &str,
        instance: &str,
        class: &str,
        engine: &str,
    ) -> CloudResult<ResourceStatus> {
        self.run("create_cluster_instance", || {
            self.inner
                .create_cluster_instance(region, cluster, instance, class, engine)
        })
        .await
    }

    async fn describe_cluster(&self, region: &str, cluster: &str) -> CloudResult<ResourceStatus> {
        self.run("describe_cluster", || {
            self.inner.describe_cluster(region, cluster)
        })
        .await
    }

    async fn describe_cluster_instance(
        &self,
        region: &str,
        instance: &str,
    ) -> CloudResult<ResourceStatus> {
        self.run("describe_cluster_instance", || {
            self.inner.describe_cluster_instance(region, instance)
        })
        .await
    }

    async fn cluster_tags(&self, region: &str, cluster: &str) -> CloudResult<Tags> {
        self.run("cluster_tags", || self.inner.cluster_tags(region, cluster))
            .await
    }

    async fn rename_cluster(&self, region: &str, from: &str, to: &str) -> CloudResult<()> {
        self.run("rename_cluster", || {
            self.inner.rename_cluster(region, from, to)
        })
        .await
    }

    async fn restore_file_system(
        &self,
        point: &ProviderPoint,
        role_arn: &str,
        token: &str,
    ) -> CloudResult<String> {
        self.run("restore_file_system", || {
            self.inner.restore_file_system(point, role_arn, token)
        })
        .await
    }

    async fn describe_file_system_restore(
        &self,
        region: &str,
        job: &str,
    ) -> CloudResult<ResourceStatus> {
        self.run("describe_file_system_restore", || {
            self.inner.describe_file_system_restore(region, job)
        })
        .await
    }

    async fn address_target(
        &self,
        entry: &EntryPoint,
        region: &str,
    ) -> CloudResult<Option<String>> {
        self.run("address_target", || {
            self.inner.address_target(entry, region)
        })
        .await
    }

    async fn move_address(
        &self,
        entry: &EntryPoint,
        region: &str,
        instance: &str,
    ) -> CloudResult<()> {
        self.run("move_address", || {
            self.inner.move_address(entry, region, instance)
        })
        .await
    }

    async fn finish_file_system_restore(
        &self,
        region: &str,
        file_system: &str,
        subnets: &[String],
        security_group_ids: &[String],
        tags: &Tags,
    ) -> CloudResult<Vec<String>> {
        self.run("finish_file_system_restore", || {
            self.inner.finish_file_system_restore(
                region,
                file_system,
                subnets,
                security_group_ids,
                tags,
            )
        })
        .await
    }

    async fn mount_targets(
        &self,
        region: &str,
        file_system: &str,
    ) -> CloudResult<Vec<(String, crate::cloud::ResourceState)>> {
        self.run("mount_targets", || {
            self.inner.mount_targets(region, file_system)
        })
        .await
    }

    async fn delete_instance(&self, kind: PointKind, region: &str, id: &str) -> CloudResult<()> {
        self.run("delete_instance", || {
            self.inner.delete_instance(kind, region, id)
        })
        .await
    }

    async fn delete_cluster(&self, region: &str, cluster: &str) -> CloudResult<()> {
        self.run("delete_cluster", || {
            self.inner.delete_cluster(region, cluster)
        })
        .await
    }

    async fn delete_file_system(&self, region: &str, file_system: &str) -> CloudResult<()> {
        self.run("delete_file_system", || {
            self.inner.delete_file_system(region, file_system)
        })
        .await
    }

    async fn object_versions(&self, region: &str, bucket: &str) -> CloudResult<Vec<ObjectVersion>> {
        self.run("object_versions", || {
            self.inner.object_versions(region, bucket)
        })
        .await
    }

    async fn revert_object(
        &self,
        region: &str,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> CloudResult<()> {
        self.run("revert_object", || {
            self.inner.revert_object(region, bucket, key, version)
        })
        .await
    }
}

// Web-tier calls are safe to repeat too: creations are idempotent on their names, the
// listener switch sets a state, deletions of what is gone are not-found.
#[async_trait]
impl<P: WebTiers + ?Sized> WebTiers for Retrying<P> {
    async fn describe_group(&self, region: &str, name: &str) -> CloudResult<GroupInfo> {
        self.run("describe_group", || self.inner.describe_group(region, name))
            .await
    }

    async fn launch_template_data(
        &self,
        region: &str,
        template_id: &str,
        version: &str,
    ) -> CloudResult<LaunchTemplateData> {
        self.run("launch_template_data", || {
            self.inner
                .launch_template_data(region, template_id, version)
        })
        .await
    }

    async fn create_launch_template(
        &self,
        region: &str,
        name: &str,
        data: &LaunchTemplateData,
        tags: &Tags,
    ) -> CloudResult<String> {
        self.run("create_launch_template", || {
            self.inner.create_launch_template(region, name, data, tags)
        })
        .await
    }

    async fn describe_target_group(&self, region: &str, arn: &str) -> CloudResult<TargetGroupInfo> {
        self.run("describe_target_group", || {
            self.inner.describe_target_group(region, arn)
        })
        .await
    }

    async fn create_target_group(
        &self,
        region: &str,
        name: &str,
        like: &TargetGroupInfo,
        tags: &Tags,
    ) -> CloudResult<String> {
        self.run("create_target_group", || {
            self.inner.create_target_group(region, name, like, tags)
        })
        .await
    }

    async fn create_group(&self, region: &str, req: &GroupRequest) -> CloudResult<()> {
        self.run("create_group", || self.inner.create_group(region, req))
            .await
    }

    async fn target_health(
        &self,
        region: &str,
        target_group_arn: &str,
    ) -> CloudResult<Vec<TargetHealth>> {
        self.run("target_health", || {
            self.inner.target_health(region, target_group_arn)
        })
        .await
    }

    async fn listener_forward(
        &self,
        region: &str,
        listener_arn: &str,
    ) -> CloudResult<Vec<Forward>> {
        self.run("listener_forward", || {
            self.inner.listener_forward(region, listener_arn)
        })
        .await
    }

    async fn set_listener_forward(
        &self,
        region: &str,
        listener_arn: &str,
        to: &[Forward],
    ) -> CloudResult<()> {
        self.run("set_listener_forward", || {
            self.inner.set_listener_forward(region, listener_arn, to)
        })
        .await
    }

    async fn delete_group(&self, region: &str, name: &str) -> CloudResult<()> {
        self.run("delete_group", || self.inner.delete_group(region, name))
            .await
    }

    async fn delete_target_group(&self, region: &str, arn: &str) -> CloudResult<()> {
        self.run("delete_target_group", || {
            self.inner.delete_target_group(region, arn)
        })
        .await
    }

    async fn delete_launch_template(&self, region: &str, id: &str) -> CloudResult<()> {
        self.run("delete_launch_template", || {
            self.inner.delete_launch_template(region, id)
        })
        .await
    }
}

// Network calls: the group's creation is idempotent on its name, rules are ensured, and
// deleting a group still in use is transient (its interfaces are going away).
#[async_trait]
impl<P: Networks + ?Sized> Networks for Retrying<P> {
    async fn vpc_of(&self, region: &str, of: &VpcOf) -> CloudResult<String> {
        self.run("vpc_of", || self.inner.vpc_of(region, of)).await
    }

    async fn create_isolated_group(
        &self,
        region: &str,
        req: &IsolatedGroupRequest,
    ) -> CloudResult<SecurityGroupInfo> {
        self.run("create_isolated_group", || {
            self.inner.create_isolated_group(region, req)
        })
        .await
    }

    async fn describe_security_group(
        &self,
        region: &str,
        id: &str,
    ) -> CloudResult<SecurityGroupInfo> {
        self.run("describe_security_group", || {
            self.inner.describe_security_group(region, id)
        })
        .await
    }

    async fn delete_security_group(&self, region: &str, id: &str) -> CloudResult<()> {
        self.run("delete_security_group", || {
            self.inner.delete_security_group(region, id)
        })
        .await
    }
}

// CDN calls: an invalidation is idempotent on its caller reference; the rest reads.
#[async_trait]
impl<P: super::cdn::Cdn + ?Sized> super::cdn::Cdn for Retrying<P> {
    async fn create_invalidation(
        &self,
        distribution: &str,
        paths: &[String],
        caller_reference: &str,
    ) -> CloudResult<String> {
        self.run("create_invalidation", || {
            self.inner
                .create_invalidation(distribution, paths, caller_reference)
        })
        .await
    }

    async fn invalidation_state(
        &self,
        distribution: &str,
        id: &str,
    ) -> CloudResult<super::ResourceState> {
        self.run("invalidation_state", || {
            self.inner.invalidation_state(distribution, id)
        })
        .await
    }

    async fn origins(&self, distribution: &str) -> CloudResult<Vec<String>> {
        self.run("origins", || self.inner.origins(distribution))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_with_jitter_within_bounds() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for _ in 0..200 {
            for (attempt, step_ms) in [
                (1, 100),
                (2, 200),
                (3, 400),
                (4, 800),
                (5, 1000),
                (30, 1000),
            ] {
                let d = p.delay(attempt).as_millis() as u64;
                assert!(
                    (step_ms / 2..=step_ms).contains(&d),
                    "attempt {attempt}: {d} ms outside [{}, {step_ms}]",
                    step_ms / 2
                );
            }
        }
        let spread: std::collections::BTreeSet<_> = (0..50).map(|_| p.delay(4)).collect();
        assert!(spread.len() > 5, "jittered: {spread:?}");
    }

    #[test]
    fn huge_policies_do_not_overflow() {
        let p = RetryPolicy {
            max_attempts: u32::MAX,
            base_delay: Duration::MAX,
            max_delay: Duration::MAX,
        };
        assert!(p.delay(u32::MAX) >= Duration::MAX / 2);
    }
}
