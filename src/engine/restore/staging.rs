//! Staging copies (`wpbackup staging …`): a drill's isolated stack that stays up. Brought
//! up by executing a `staging` plan (its teardown held), torn down by
//! [`Engine::staging_down`]; here, what the catalog says about each copy.

use super::*;
use crate::domain::audit::Resource;

/// A staging copy as `staging list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StagingCopy {
    pub id: String,
    pub site: String,
    /// The instant its data was restored to.
    pub target_time: DateTime<Utc>,
    pub status: PlanStatus,
    /// `up`, `coming up`, `partly up (failed)`, `torn down`, `planned`.
    pub state: &'static str,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How to reach it (while it is up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<StagingAccess>,
    /// What it restored and has not deleted: what it costs.
    pub resources: Vec<Resource>,
}

/// How a staging plan's status reads to an operator.
pub fn staging_state(status: PlanStatus) -> &'static str {
    match status {
        PlanStatus::Completed => "up",
        PlanStatus::Executing => "coming up (stopped; resume or tear down)",
        PlanStatus::Failed => "partly up (failed)",
        PlanStatus::TornDown => "torn down",
        PlanStatus::Planned => "planned",
        PlanStatus::RolledBack => "rolled back",
    }
}

impl Engine {
    /// The staging copies of a site (or of every site), newest first; `all` includes the
    /// torn-down ones.
    pub async fn staging_copies(
        &self,
        site: Option<&str>,
        all: bool,
    ) -> Result<Vec<StagingCopy>, RestoreError> {
        let mut out = Vec::new();
        for rec in self.catalog.restore_plans(site, i64::MAX).await? {
            if rec.purpose != Purpose::Staging || (!all && rec.status == PlanStatus::TornDown) {
                continue;
            }
            out.push(self.staging_copy_of(rec).await?);
        }
        Ok(out)
    }

    /// One staging copy by its plan id (`None`: that plan is not a staging copy).
    pub async fn staging_copy(&self, id: &str) -> Result<Option<StagingCopy>, RestoreError> {
        let rec = self.plan_record(id).await?;
        if rec.purpose != Purpose::Staging {
            return Ok(None);
        }
        Ok(Some(self.staging_copy_of(rec).await?))
    }

    async fn staging_copy_of(&self, rec: PlanRecord) -> Result<StagingCopy, RestoreError> {
        let steps = self.catalog.restore_steps(&rec.id).await?;
        let access = match rec.status {
            PlanStatus::Completed => staging_access(&rec.plan()?, &steps),
            _ => None,
        };
        Ok(StagingCopy {
            resources: crate::engine::audit::restored_not_deleted(
                rec.purpose,
                &rec.id,
                &rec.to_region,
                &steps,
            ),
            id: rec.id,
            site: rec.site,
            target_time: rec.target_time,
            status: rec.status,
            state: staging_state(rec.status),
            created_at: rec.created_at,
            updated_at: rec.updated_at,
            access,
        })
    }
}
