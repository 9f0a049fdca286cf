//! Adoptions: which restored resource serves a component in place of the one its policy
//! names (table `serving`). Written at a restore's cutover, ended by its rollback.

use super::SqliteCatalog;
use crate::catalog::rows::adoption_from_row;
use crate::catalog::{ts, Adoption, CatalogResult, ServingStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl ServingStore for SqliteCatalog {
    #[allow(clippy::too_many_arguments)]
    async fn adopt(
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

    async fn end_adoptions(&self, plan_id: &str, now: DateTime<Utc>) -> CatalogResult<u64> {
        let r =
            sqlx::query("UPDATE serving SET ended_at = ?2 WHERE plan_id = ?1 AND ended_at IS NULL")
                .bind(plan_id)
                .bind(ts(now))
                .execute(&self.pool)
                .await?;
        Ok(r.rows_affected())
    }

    async fn serving(&self, site: &str) -> CatalogResult<Vec<Adoption>> {
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

    async fn adoptions_of_plan(&self, plan_id: &str) -> CatalogResult<Vec<Adoption>> {
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
