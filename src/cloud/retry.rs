//! A retrying decorator for ports whose adapter has no retry layer of its own (the
//! simulator). The AWS adapters use the SDK's retry configuration instead, so that two
//! blind loops are never stacked.

use super::{CloudResult, ProviderPoint, RecoveryPoints, Tags};
use crate::domain::model::PointKind;
use crate::domain::policy::{DrCopy, Target};
use async_trait::async_trait;
use std::future::Future;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

pub struct Retrying<P> {
    inner: P,
    policy: RetryPolicy,
}

impl<P> Retrying<P> {
    pub fn new(inner: P, policy: RetryPolicy) -> Self {
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
                    // Exponential backoff; deterministic (no jitter) so tests are repeatable.
                    let delay = self
                        .policy
                        .base_delay
                        .saturating_mul(1 << (attempt - 1).min(16))
                        .min(self.policy.max_delay);
                    tracing::debug!(op, attempt, error = %e, ?delay, "retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl<P: RecoveryPoints> RecoveryPoints for Retrying<P> {
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
