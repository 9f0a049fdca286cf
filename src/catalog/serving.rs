//! Adoptions: which restored resource serves a component in place of the one its policy
//! names (table `serving`). Written at a restore's cutover, ended by its rollback.

use super::{parse_opt_ts, parse_ts, ts, Catalog, CatalogResult};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

/// A restored resource adopted for a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adoption {
    pub site: String,
    pub component: String,
    pub resource_id: String,
    pub replaced: String,
    pub region: String,
    pub plan_id: String,
    pub since: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl Catalog {
    /// Record that `resource_id` serves `component` from now on (idempotent per plan and
    /// component: a resumed cutover records it once).
    #[allow(clippy::too_many_arguments)]
    pub async fn adopt(
        &self,
        site: &str,
        component: &str,
        resource_id: &str,
        replaced: &str,
        region: &str,
        plan_id: &str,
        now: DateTime<Utc>,
    ) -> CatalogResult<()> {
        sqlx::query(
            "INSERT INTO serving (site, component, resource_id, replaced, region, plan_id, since)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (plan_id, component) DO NOTHING",
        )
        .bind(site)
        .bind(component)
        .bind(resource_id)
        .bind(replaced)
        .bind(region)
        .bind(plan_id)
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// End a plan's adoptions (its rollback): what served before serves again.
    pub async fn end_adoptions(&self, plan_id: &str, now: DateTime<Utc>) -> CatalogResult<u64> {
        let r =
            sqlx::query("UPDATE serving SET ended_at = ?2 WHERE plan_id = ?1 AND ended_at IS NULL")
                .bind(plan_id)
                .bind(ts(now))
                .execute(&self.pool)
                .await?;
        Ok(r.rows_affected())
    }

    /// Per component of `site`, the adoption in force (the newest that has not ended).
    pub async fn serving(&self, site: &str) -> CatalogResult<Vec<Adoption>> {
        let rows = sqlx::query(
            "SELECT site, component, resource_id, replaced, region, plan_id, since, ended_at
             FROM serving s
             WHERE site = ?1 AND ended_at IS NULL
               AND since = (SELECT max(since) FROM serving t
                            WHERE t.site = s.site AND t.component = s.component
                              AND t.ended_at IS NULL)
             ORDER BY component",
        )
        .bind(site)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(adoption_from_row).collect()
    }

    /// Every adoption a plan made (ended or not).
    pub async fn adoptions_of_plan(&self, plan_id: &str) -> CatalogResult<Vec<Adoption>> {
        let rows = sqlx::query(
            "SELECT site, component, resource_id, replaced, region, plan_id, since, ended_at
             FROM serving WHERE plan_id = ?1 ORDER BY component",
        )
        .bind(plan_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(adoption_from_row).collect()
    }
}

fn adoption_from_row(r: &sqlx::sqlite::SqliteRow) -> CatalogResult<Adoption> {
    Ok(Adoption {
        site: r.try_get("site")?,
        component: r.try_get("component")?,
        resource_id: r.try_get("resource_id")?,
        replaced: r.try_get("replaced")?,
        region: r.try_get("region")?,
        plan_id: r.try_get("plan_id")?,
        since: parse_ts(&r.try_get::<String, _>("since")?)?,
        ended_at: parse_opt_ts(r.try_get("ended_at")?)?,
    })
}
