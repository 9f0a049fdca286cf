//! The CDN port: CloudFront in front of the site. After a restore reverted objects, the
//! distribution would keep serving the defaced copies until their TTL ran out: the restore
//! invalidates their paths and waits until the invalidation completes; when it changed the
//! web tier, it reads the distribution's origins to say whether they still resolve.
//! Adapters: `sim` and `aws` (aws-sdk-cloudfront).

use super::{CloudResult, ResourceState};
use async_trait::async_trait;

#[async_trait]
pub trait Cdn: Send + Sync {
    /// Invalidate `paths` (each starting with `/`; `/*` for everything). Idempotent on
    /// `caller_reference`: the same reference and paths return the same invalidation.
    /// Returns its id.
    async fn create_invalidation(
        &self,
        distribution: &str,
        paths: &[String],
        caller_reference: &str,
    ) -> CloudResult<String>;
    /// `Ready` once the invalidation completed, `Pending` while in progress.
    async fn invalidation_state(&self, distribution: &str, id: &str) -> CloudResult<ResourceState>;
    /// The domain names of the distribution's origins.
    async fn origins(&self, distribution: &str) -> CloudResult<Vec<String>>;
}
