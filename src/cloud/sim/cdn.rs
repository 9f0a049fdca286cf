//! The simulator's CloudFront: invalidations recorded with their paths, completed a short
//! while after they are made (as the points are), idempotent on the caller reference; a
//! distribution's origin is `localhost` (it resolves wherever the tests run).

use super::{sim_error, SimCloud};
use crate::cloud::cdn::Cdn;
use crate::cloud::{CloudErrorKind, CloudResult, ResourceState};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An invalidation the simulator holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimInvalidation {
    pub distribution: String,
    pub id: String,
    pub caller_reference: String,
    pub paths: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
}

#[async_trait]
impl Cdn for SimCloud {
    async fn create_invalidation(
        &self,
        distribution: &str,
        paths: &[String],
        caller_reference: &str,
    ) -> CloudResult<String> {
        let now = self.clock.now();
        let completed_at = self.restored_ready_at("invalidation", now);
        self.faulted(
            None,
            super::FaultOp::Create,
            "CreateInvalidation",
            |s, _, _| {
                if let Some(i) = s
                    .invalidations
                    .iter()
                    .find(|i| i.distribution == distribution && i.caller_reference == caller_reference)
                {
                    return if i.paths == paths {
                        Ok(i.id.clone())
                    } else {
                        Err(sim_error(
                            CloudErrorKind::AlreadyExists,
                            "CreateInvalidation",
                            format!(
                                "InvalidationBatchAlreadyExists: caller reference {caller_reference} was used with other paths"
                            ),
                        ))
                    };
                }
                let id = format!(
                    "I{}",
                    &super::content::digest_of(&format!("{distribution}/{caller_reference}"))[..12]
                        .to_uppercase()
                );
                s.invalidations.push(SimInvalidation {
                    distribution: distribution.to_string(),
                    id: id.clone(),
                    caller_reference: caller_reference.to_string(),
                    paths: paths.to_vec(),
                    created_at: now,
                    completed_at,
                });
                Ok(id)
            },
        )
        .await
    }

    async fn invalidation_state(&self, distribution: &str, id: &str) -> CloudResult<ResourceState> {
        let now = self.clock.now();
        self.faulted(
            None,
            super::FaultOp::Describe,
            "GetInvalidation",
            |s, _, _| {
                let i = s
                    .invalidations
                    .iter()
                    .find(|i| i.distribution == distribution && i.id == id)
                    .ok_or_else(|| {
                        sim_error(
                            CloudErrorKind::NotFound,
                            "GetInvalidation",
                            format!("NoSuchInvalidation: {id} in {distribution}"),
                        )
                    })?;
                Ok(if now >= i.completed_at {
                    ResourceState::Ready
                } else {
                    ResourceState::Pending
                })
            },
        )
        .await
    }

    async fn origins(&self, _distribution: &str) -> CloudResult<Vec<String>> {
        self.fault_gate(None, super::FaultOp::Describe, "GetDistribution")
            .await?;
        Ok(vec!["localhost".into()])
    }
}
