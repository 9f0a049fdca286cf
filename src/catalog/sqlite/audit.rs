//! What audits read (the catalog as it stood at an instant) and what they store.

use super::SqliteCatalog;
use crate::catalog::rows::{audit_from_row, run_facts_by_component, state_as_of};
use crate::catalog::{
    no_returned_row, parse_ts, ts, AuditRecord, AuditStore, CatalogError, CatalogResult,
};
use crate::domain::audit::{Report, RunFacts};
use crate::domain::model::{ComponentKind, PointKind, PointState, RecoveryPoint, RestoreMetadata};
use crate::domain::planner::PointsByComponent;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

#[async_trait]
impl AuditStore for SqliteCatalog {
    /// Catalogs hold millions of points and sqlx hands rows over one by one between its
    /// SQLite thread and the caller (~3 µs a row, more than SQLite's own work). So SQLite
    /// aggregates each column of a range of point ids into one JSON array — one row per
    /// range — and the ranges are read on parallel connections.
    async fn points_as_of(
        &self,
        site: &str,
        as_of: DateTime<Utc>,
    ) -> CatalogResult<PointsByComponent> {
        self.points_as_of_in(site, as_of, MIN_IDS_PER_READER, None)
            .await
    }

    async fn point_states(
        &self,
        site: &str,
        found: &[(String, PointKind, String)],
    ) -> CatalogResult<HashMap<(String, String), PointState>> {
        if found.is_empty() {
            return Ok(HashMap::new());
        }
        let keys = serde_json::to_string(
            &found
                .iter()
                .map(|(region, kind, id)| [region.as_str(), kind.as_str(), id.as_str()])
                .collect::<Vec<_>>(),
        )
        .expect("keys serialise");
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT p.region, p.provider_id, p.state FROM json_each(?2) k
             JOIN recovery_points p ON p.region = k.value ->> 0 AND p.kind = k.value ->> 1
                                   AND p.provider_id = k.value ->> 2
             JOIN components c ON c.id = p.component_id JOIN sites s ON s.id = c.site_id
             WHERE s.name = ?1",
        )
        .bind(site)
        .bind(keys)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(region, id, state)| {
                let st = PointState::parse(&state)
                    .ok_or_else(|| CatalogError::Corrupt(format!("point state {state:?}")))?;
                Ok(((region, id), st))
            })
            .collect()
    }

    async fn recent_runs(
        &self,
        site: &str,
        as_of: DateTime<Utc>,
        per_component: i64,
    ) -> CatalogResult<BTreeMap<String, Vec<RunFacts>>> {
        let rows = sqlx::query(
            "SELECT r.id, r.started_at, r.phase, r.failure_reason, c.name AS component_name
             FROM components c JOIN sites s ON s.id = c.site_id
             JOIN runs r ON r.id IN (
                 SELECT r2.id FROM runs r2
                 WHERE r2.component_id = c.id AND r2.started_at <= ?2
                   AND r2.started_at >= coalesce((
                       SELECT r3.started_at FROM runs r3
                       WHERE r3.component_id = c.id AND r3.started_at <= ?2
                         AND r3.phase NOT IN ('Failed', 'Skipped', 'InProgress')
                       ORDER BY r3.started_at DESC LIMIT 1), '')
                 ORDER BY r2.started_at DESC, r2.id DESC LIMIT ?3)
             WHERE s.name = ?1
             ORDER BY component_name, r.started_at DESC, r.id DESC",
        )
        .bind(site)
        .bind(ts(as_of))
        .bind(per_component)
        .fetch_all(&self.pool)
        .await?;
        run_facts_by_component(&rows, usize::MAX)
    }

    async fn missed_fires(
        &self,
        site: &str,
        since: DateTime<Utc>,
        as_of: DateTime<Utc>,
        per_component: usize,
    ) -> CatalogResult<BTreeMap<String, Vec<RunFacts>>> {
        let rows = sqlx::query(
            "SELECT r.id, r.started_at, r.phase, r.failure_reason, c.name AS component_name
             FROM runs r JOIN components c ON c.id = r.component_id
             JOIN sites s ON s.id = c.site_id
             WHERE s.name = ?1 AND r.phase = 'Skipped' AND r.trigger = 'schedule'
               AND r.failure_reason LIKE ?4 || '%'
               AND r.started_at > ?2 AND r.started_at <= ?3
             ORDER BY component_name, r.started_at DESC, r.id DESC",
        )
        .bind(site)
        .bind(ts(since))
        .bind(ts(as_of))
        .bind(crate::domain::model::MISSED_FIRE)
        .fetch_all(&self.pool)
        .await?;
        run_facts_by_component(&rows, per_component)
    }

    async fn insert_audit(&self, report: &Report) -> CatalogResult<i64> {
        let stored = Report {
            timelines: Vec::new(),
            ..report.clone()
        };
        let json = serde_json::to_string(&stored).expect("report serialises");
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO audits (site_id, as_of, created_at, status, report)
             VALUES ((SELECT id FROM sites WHERE name = ?1), ?2, ?3, ?4, ?5) RETURNING id",
        )
        .bind(&report.site)
        .bind(ts(report.as_of))
        .bind(ts(report.created_at))
        .bind(report.status.as_str())
        .bind(&json)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .next()
        .ok_or_else(no_returned_row)?;
        // One statement for all findings (an audit of a large site has tens of thousands):
        // SQLite walks the report's findings itself.
        sqlx::query(
            "INSERT INTO audit_findings (audit_id, control, component, status, evidence, remediation)
             SELECT ?1, f.value ->> 'control', f.value ->> 'component', f.value ->> 'status',
                    f.value -> 'evidence', f.value ->> 'remediation'
             FROM json_each(?2, '$.findings') f",
        )
        .bind(id)
        .bind(&json)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn last_audit(
        &self,
        site: &str,
        before_id: Option<i64>,
    ) -> CatalogResult<Option<AuditRecord>> {
        let row = sqlx::query(
            "SELECT a.*, s.name AS site_name FROM audits a JOIN sites s ON s.id = a.site_id
             WHERE s.name = ?1 AND (?2 IS NULL OR a.id < ?2) ORDER BY a.id DESC LIMIT 1",
        )
        .bind(site)
        .bind(before_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(audit_from_row).transpose()
    }
}

impl SqliteCatalog {
    /// `skip_history`: `None` decides from the share of deleted points.
    async fn points_as_of_in(
        &self,
        site: &str,
        as_of: DateTime<Utc>,
        min_ids_per_reader: i64,
        skip_history: Option<bool>,
    ) -> CatalogResult<PointsByComponent> {
        // One row for all components too (10,000 rows one by one: ~70 ms).
        let components: String = sqlx::query_scalar(
            "SELECT json_group_array(json_array(c.id, c.name, c.kind))
             FROM components c JOIN sites s ON s.id = c.site_id WHERE s.name = ?1",
        )
        .bind(site)
        .fetch_one(&self.pool)
        .await?;
        let components: Vec<(i64, String, String)> = serde_json::from_str(&components)
            .map_err(|e| CatalogError::Corrupt(format!("components: {e}")))?;
        let (low, high, deleted): (Option<i64>, Option<i64>, i64) = sqlx::query_as(
            "SELECT min(id), max(id),
                    (SELECT count(*) FROM recovery_points WHERE state = 'deleted')
             FROM recovery_points",
        )
        .fetch_one(&self.pool)
        .await?;
        let (Some(low), Some(high)) = (low, high) else {
            return Ok(PointsByComponent::default());
        };
        // A catalog kept by retention is mostly history (deleted points): skip it through
        // the indexes. One whose points are mostly still there is read faster in id order.
        let skip_history = skip_history.unwrap_or(deleted * 2 > high - low + 1);
        let mut reads = Vec::new();
        for (from, to) in id_ranges(low, high, POINT_READERS, min_ids_per_reader) {
            let pool = self.pool.clone();
            let site = site.to_string();
            reads.push(tokio::spawn(async move {
                read_point_columns(&pool, &site, as_of, from, to, skip_history).await
            }));
        }
        let mut columns = Vec::new();
        for read in reads {
            columns.push(
                read.await
                    .map_err(|e| CatalogError::Corrupt(format!("point reader: {e}")))??,
            );
        }
        let names: HashMap<i64, (String, ComponentKind)> = components
            .into_iter()
            .map(|(id, name, kind)| {
                let kind = ComponentKind::parse(&kind)
                    .ok_or_else(|| CatalogError::Corrupt(format!("component kind {kind:?}")))?;
                Ok((id, (name, kind)))
            })
            .collect::<CatalogResult<_>>()?;
        // Order by (component, time, id) through a small key vector, then move each point
        // out of its columns once.
        let mut order: Vec<(i64, DateTime<Utc>, i64, usize, usize)> = Vec::new();
        for (chunk, cols) in columns.iter().enumerate() {
            for i in 0..cols.id.len() {
                order.push((
                    cols.component_id[i],
                    cols.point_time[i],
                    cols.id[i],
                    chunk,
                    i,
                ));
            }
        }
        order.sort_unstable();
        let mut points = Vec::with_capacity(order.len());
        for (component_id, point_time, id, chunk, i) in order {
            let cols = &mut columns[chunk];
            let (component, component_kind) = names.get(&component_id).ok_or_else(|| {
                CatalogError::Corrupt(format!("point {id}: no component {component_id}"))
            })?;
            let completed_at = cols.completed_at[i];
            let state = state_as_of(cols.state[i], completed_at, as_of);
            points.push(RecoveryPoint {
                id,
                site: site.to_string(),
                component: component.clone(),
                component_kind: *component_kind,
                kind: cols.kind[i],
                region: std::mem::take(&mut cols.region[i]),
                name: std::mem::take(&mut cols.name[i]),
                provider_id: std::mem::take(&mut cols.provider_id[i]),
                arn: None,
                point_time,
                state,
                source_point_id: cols.source_point_id[i],
                run_id: cols.run_id[i],
                managed: cols.managed[i] != 0,
                metadata: RestoreMetadata {
                    encrypted: cols.encrypted[i].map(|e| e != 0),
                    size_bytes: cols.size_bytes[i].map(|b| b.max(0) as u64),
                    ..Default::default()
                },
                failure_reason: cols.failure_reason[i].take(),
                created_at: cols.created_at[i],
                completed_at,
            });
        }
        Ok(PointsByComponent::new(points))
    }
}

/// Parallel connections reading a site's points (the pool holds four).
const POINT_READERS: i64 = 4;
/// Below this many ids one reader is quicker than several.
const MIN_IDS_PER_READER: i64 = 50_000;

/// `[low, high]` cut into at most `parts` ranges of ids (inclusive bounds), each of at
/// least `min_ids` ids.
fn id_ranges(low: i64, high: i64, parts: i64, min_ids: i64) -> Vec<(i64, i64)> {
    let span = high - low + 1;
    let parts = (span / min_ids.max(1)).clamp(1, parts.max(1));
    let step = (span + parts - 1) / parts;
    (0..parts)
        .map(|k| (low + k * step, (low + (k + 1) * step - 1).min(high)))
        .filter(|(from, to)| from <= to)
        .collect()
}

/// One range of a site's points as of an instant, column by column.
#[derive(Default)]
struct PointColumns {
    id: Vec<i64>,
    component_id: Vec<i64>,
    kind: Vec<PointKind>,
    region: Vec<String>,
    name: Vec<String>,
    provider_id: Vec<String>,
    point_time: Vec<DateTime<Utc>>,
    state: Vec<PointState>,
    source_point_id: Vec<Option<i64>>,
    run_id: Vec<Option<i64>>,
    managed: Vec<i64>,
    encrypted: Vec<Option<i64>>,
    size_bytes: Vec<Option<i64>>,
    failure_reason: Vec<Option<String>>,
    created_at: Vec<DateTime<Utc>>,
    completed_at: Vec<Option<DateTime<Utc>>>,
}

async fn read_point_columns(
    pool: &sqlx::SqlitePool,
    site: &str,
    as_of: DateTime<Utc>,
    from: i64,
    to: i64,
    skip_history: bool,
) -> CatalogResult<PointColumns> {
    // Columns in this order, each a JSON array over the same rows. Skipping the history,
    // the points not deleted come through the state index (its entries are ordered by
    // state, then id, so a range of ids is a range of each state) and those deleted after
    // the instant through the deletion index: the deleted points are never visited.
    // Otherwise the range is walked in rowid order (NOT INDEXED: through the component
    // index every range would visit all of the site's points).
    const COLUMNS: [&str; 16] = [
        "id",
        "component_id",
        "kind",
        "region",
        "name",
        "provider_id",
        "point_time",
        "state",
        "source_point_id",
        "run_id",
        "managed",
        "encrypted",
        "size_bytes",
        "failure_reason",
        "created_at",
        "completed_at",
    ];
    let select = COLUMNS
        .iter()
        .map(|c| format!("json_group_array(p.{c})"))
        .collect::<Vec<_>>()
        .join(", ");
    let points = if skip_history {
        let not_deleted = PointState::ALL
            .iter()
            .filter(|s| **s != PointState::Deleted)
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "(SELECT * FROM recovery_points
              WHERE state IN ({not_deleted}) AND id BETWEEN ?3 AND ?4
              UNION ALL
              SELECT * FROM recovery_points INDEXED BY points_by_deletion
              WHERE deleted_at > ?2 AND state = 'deleted' AND id BETWEEN ?3 AND ?4)"
        )
    } else {
        "(SELECT * FROM recovery_points NOT INDEXED
          WHERE id BETWEEN ?3 AND ?4 AND (state <> 'deleted' OR deleted_at > ?2))"
            .to_string()
    };
    let row = sqlx::query(&format!(
        "SELECT count(*), {select} FROM {points} p
         WHERE p.component_id IN (SELECT c.id FROM components c JOIN sites s ON s.id = c.site_id
                                  WHERE s.name = ?1)
           AND p.created_at <= ?2 AND p.point_time <= ?2"
    ))
    .bind(site)
    .bind(ts(as_of))
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let n = usize::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0);
    fn column<T: serde::de::DeserializeOwned>(
        row: &sqlx::sqlite::SqliteRow,
        index: usize,
        name: &str,
        n: usize,
    ) -> CatalogResult<Vec<T>> {
        let text: &str = row.try_get(index)?;
        let values: Vec<T> = serde_json::from_str(text)
            .map_err(|e| CatalogError::Corrupt(format!("recovery_points.{name}: {e}")))?;
        if values.len() != n {
            return Err(CatalogError::Corrupt(format!(
                "recovery_points.{name}: {} values for {n} points",
                values.len()
            )));
        }
        Ok(values)
    }
    let texts = |index: usize| column::<String>(&row, index + 1, COLUMNS[index], n);
    fn parsed<T>(
        texts: Vec<String>,
        parse: impl Fn(&str) -> Option<T>,
        what: &str,
    ) -> CatalogResult<Vec<T>> {
        texts
            .iter()
            .map(|v| parse(v).ok_or_else(|| CatalogError::Corrupt(format!("{what} {v:?}"))))
            .collect()
    }
    let instants = |index: usize| {
        column::<Option<String>>(&row, index + 1, COLUMNS[index], n)?
            .into_iter()
            .map(|t| t.as_deref().map(parse_ts).transpose())
            .collect::<CatalogResult<Vec<_>>>()
    };
    let required = |v: Vec<Option<DateTime<Utc>>>, name: &str| {
        v.into_iter()
            .map(|t| {
                t.ok_or_else(|| CatalogError::Corrupt(format!("recovery_points.{name} is null")))
            })
            .collect::<CatalogResult<Vec<_>>>()
    };
    Ok(PointColumns {
        id: column(&row, 1, COLUMNS[0], n)?,
        component_id: column(&row, 2, COLUMNS[1], n)?,
        kind: parsed(texts(2)?, PointKind::parse, "point kind")?,
        region: texts(3)?,
        name: texts(4)?,
        provider_id: texts(5)?,
        point_time: required(instants(6)?, COLUMNS[6])?,
        state: parsed(texts(7)?, PointState::parse, "point state")?,
        source_point_id: column(&row, 9, COLUMNS[8], n)?,
        run_id: column(&row, 10, COLUMNS[9], n)?,
        managed: column(&row, 11, COLUMNS[10], n)?,
        encrypted: column(&row, 12, COLUMNS[11], n)?,
        size_bytes: column(&row, 13, COLUMNS[12], n)?,
        failure_reason: column(&row, 14, COLUMNS[13], n)?,
        created_at: required(instants(14)?, COLUMNS[14])?,
        completed_at: instants(15)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, h, 0, 0).unwrap()
    }

    #[test]
    fn id_ranges_cover_every_id_once() {
        assert_eq!(id_ranges(1, 10, 4, 100), vec![(1, 10)]);
        assert_eq!(id_ranges(1, 10, 4, 5), vec![(1, 5), (6, 10)]);
        assert_eq!(
            id_ranges(1, 10, 4, 2),
            vec![(1, 3), (4, 6), (7, 9), (10, 10)]
        );
        assert_eq!(id_ranges(7, 7, 4, 1), vec![(7, 7)]);
    }

    /// Reading in several ranges on parallel connections, through the indexes or in id
    /// order, gives exactly what one reader gives: points grouped by component and in time order though their ids interleave,
    /// every column intact (text that needs JSON escaping too), the state as of then.
    #[tokio::test]
    async fn points_read_in_ranges_are_the_points_read_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = SqliteCatalog::open(&dir.path().join("c.db"), true, false)
            .await
            .unwrap();
        let now = ts(t(12));
        sqlx::query("INSERT INTO sites VALUES (1, 'shop', 'sim', 'us-east-1', 'us-west-2', ?1, ?1), (2, 'other', 'sim', 'us-east-1', 'us-west-2', ?1, ?1)")
            .bind(&now)
            .execute(&catalog.pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO components VALUES (1, 1, 'db', 'aurora-cluster', 'db1', ?1), (2, 1, 'web', 'ec2-instance', 'i-1', ?1), (3, 2, 'db', 'aurora-cluster', 'db2', ?1)")
            .bind(&now)
            .execute(&catalog.pool)
            .await
            .unwrap();
        for i in 1..=40i64 {
            let component = 1 + i % 3;
            let kind = if component == 2 {
                "ec2-ami"
            } else {
                "aurora-cluster-snapshot"
            };
            let at = t(0) + chrono::Duration::minutes(17 * (40 - i));
            let (state, deleted_at) = match i % 5 {
                0 => ("deleted", Some(ts(t(11)))),
                1 => ("deleted", Some(ts(t(13)))),
                2 => ("failed", None),
                _ => ("available", None),
            };
            sqlx::query(
                "INSERT INTO recovery_points (id, component_id, run_id, kind, region, name,
                     provider_id, point_time, state, managed, encrypted, size_bytes,
                     failure_reason, created_at, completed_at, deleted_at)
                 VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )
            .bind(i)
            .bind(component)
            .bind(kind)
            .bind(if i % 4 == 0 { "us-west-2" } else { "us-east-1" })
            .bind(format!("wpb-shop-\"quoted\", ünïcode\n{i}"))
            .bind(format!("snap,{i}"))
            .bind(ts(at))
            .bind(state)
            .bind(i % 7 != 0)
            .bind(match i % 3 {
                0 => None,
                1 => Some(true),
                _ => Some(false),
            })
            .bind((i % 2 == 0).then_some(i << 30))
            .bind((state == "failed").then(|| format!("quota \"{i}\"")))
            .bind(ts(at))
            .bind(ts(if i == 13 { t(13) } else { at }))
            .bind(deleted_at)
            .execute(&catalog.pool)
            .await
            .unwrap();
        }
        let as_of = t(12);
        let once = catalog
            .points_as_of_in("shop", as_of, 1_000, None)
            .await
            .unwrap();
        let ranges = catalog
            .points_as_of_in("shop", as_of, 3, Some(false))
            .await
            .unwrap();
        let skipping = catalog
            .points_as_of_in("shop", as_of, 3, Some(true))
            .await
            .unwrap();
        assert_eq!(format!("{:?}", once.all()), format!("{:?}", ranges.all()));
        assert_eq!(format!("{:?}", once.all()), format!("{:?}", skipping.all()));

        // Of 40 points, 14 are the other site's and the 3 deleted by 11:00 are gone.
        let shop: Vec<i64> = (1..=40i64)
            .filter(|i| 1 + i % 3 != 3 && i % 5 != 0)
            .collect();
        assert_eq!(ranges.len(), shop.len());
        for name in ["db", "web"] {
            let points = ranges.of(name);
            assert!(!points.is_empty());
            assert!(points
                .iter()
                .all(|p| p.component == name && p.site == "shop"));
            assert!(points
                .windows(2)
                .all(|w| w[0].point_time <= w[1].point_time));
        }
        let by_id = |id: i64| ranges.all().iter().find(|p| p.id == id).unwrap();
        let p = by_id(4);
        assert_eq!(p.name, "wpb-shop-\"quoted\", ünïcode\n4");
        assert_eq!(p.provider_id, "snap,4");
        assert_eq!(p.region, "us-west-2");
        assert_eq!(p.kind, PointKind::Ec2Ami);
        assert_eq!(p.component_kind, ComponentKind::Ec2Instance);
        assert_eq!(p.metadata.encrypted, Some(true));
        assert_eq!(p.metadata.size_bytes, Some(4 << 30));
        assert_eq!(by_id(3).metadata.encrypted, None);
        assert!(!by_id(28).managed);
        assert_eq!(by_id(7).state, PointState::Failed);
        assert_eq!(by_id(7).failure_reason.as_deref(), Some("quota \"7\""));
        // Deleted only after the instant: it was still there.
        assert_eq!(by_id(1).state, PointState::Available);
        // Completed only after the instant: it was still being created.
        assert_eq!(by_id(13).state, PointState::Creating);
    }
}
