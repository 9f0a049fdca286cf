//! CloudFront (a global service: its clients are the primary region's): invalidations
//! after a restore reverted objects, and the distribution's origins.

use super::error::map_sdk;
use super::operations::Service;
use super::AwsCloud;
use crate::cloud::cdn::Cdn;
use crate::cloud::{CloudError, CloudErrorKind, CloudResult, ResourceState};
use async_trait::async_trait;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};

fn invalid(op: &str, e: impl std::fmt::Display) -> CloudError {
    CloudError::new(CloudErrorKind::Invalid, op, e.to_string())
}

#[async_trait]
impl Cdn for AwsCloud {
    async fn create_invalidation(
        &self,
        distribution: &str,
        paths: &[String],
        caller_reference: &str,
    ) -> CloudResult<String> {
        let c = self.clients(&self.site().region)?;
        let batch = InvalidationBatch::builder()
            .caller_reference(caller_reference)
            .paths(
                Paths::builder()
                    .quantity(paths.len() as i32)
                    .set_items(Some(paths.to_vec()))
                    .build()
                    .map_err(|e| invalid("CreateInvalidation", e))?,
            )
            .build()
            .map_err(|e| invalid("CreateInvalidation", e))?;
        let out = c
            .cloudfront
            .create_invalidation()
            .distribution_id(distribution)
            .invalidation_batch(batch)
            .send()
            .await
            .map_err(|e| map_sdk(Service::CloudFront, "CreateInvalidation", e))?;
        out.invalidation()
            .map(|i| i.id().to_string())
            .ok_or_else(|| {
                CloudError::new(
                    CloudErrorKind::Permanent,
                    "CreateInvalidation",
                    "the answer names no invalidation",
                )
            })
    }

    async fn invalidation_state(&self, distribution: &str, id: &str) -> CloudResult<ResourceState> {
        let c = self.clients(&self.site().region)?;
        let out = c
            .cloudfront
            .get_invalidation()
            .distribution_id(distribution)
            .id(id)
            .send()
            .await
            .map_err(|e| map_sdk(Service::CloudFront, "GetInvalidation", e))?;
        // AWS says `Completed` (and `InProgress` before); moto 5.2.5 says `COMPLETED`.
        Ok(match out.invalidation().map(|i| i.status()) {
            Some(s) if s.eq_ignore_ascii_case("completed") => ResourceState::Ready,
            _ => ResourceState::Pending,
        })
    }

    async fn origins(&self, distribution: &str) -> CloudResult<Vec<String>> {
        let c = self.clients(&self.site().region)?;
        let out = c
            .cloudfront
            .get_distribution()
            .id(distribution)
            .send()
            .await
            .map_err(|e| map_sdk(Service::CloudFront, "GetDistribution", e))?;
        Ok(out
            .distribution()
            .and_then(|d| d.distribution_config())
            .and_then(|c| c.origins())
            .map(|o| {
                o.items()
                    .iter()
                    .map(|i| i.domain_name().to_string())
                    .collect()
            })
            .unwrap_or_default())
    }
}
