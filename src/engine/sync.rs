//! `sync`: reconcile the catalog with the cloud. Imports wpbackup-tagged points the
//! catalog lacks, marks points deleted outside wpbackup as `missing`, and lists snapshots
//! of the site's resources that wpbackup did not make. Read-only towards the cloud.

use super::{Engine, EngineError};
use crate::catalog::{PointFilter, PointRecord};
use crate::cloud::CloudErrorKind;
use crate::domain::model::{PointKind, PointState};
use crate::domain::names::TAG_COMPONENT;
use crate::domain::site::Site;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Serialize)]
pub struct SyncedPoint {
    pub component: String,
    pub kind: PointKind,
    pub region: String,
    pub name: String,
    pub provider_id: String,
    pub point_time: DateTime<Utc>,
    pub state: PointState,
    pub size_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    pub site: String,
    /// Tagged points found in the cloud and added to the catalog.
    pub imported: Vec<SyncedPoint>,
    /// Catalog points the cloud no longer has (deleted outside wpbackup).
    pub missing: Vec<SyncedPoint>,
    /// Catalog points whose state the cloud reports differently (now updated).
    pub updated: Vec<SyncedPoint>,
    /// Snapshots of the site's resources that wpbackup did not make.
    pub unmanaged: Vec<SyncedPoint>,
    /// What could not be checked, and why.
    pub problems: Vec<String>,
}

impl Engine {
    pub async fn sync_site(&self, site: &Site) -> Result<SyncReport, EngineError> {
        let key = format!("sync {}", site.name);
        let started = std::time::Instant::now();
        self.progress.started(
            &key,
            "the site's tagged points in the cloud against the catalog",
        );
        let result = self.sync_site_inner(site, &key).await;
        match &result {
            Ok(r) => self.progress.finished(
                &key,
                r.problems.is_empty(),
                started.elapsed().as_secs_f64(),
                &format!(
                    "{} imported, {} missing, {} updated, {} not made by wpbackup, {} problem(s)",
                    r.imported.len(),
                    r.missing.len(),
                    r.updated.len(),
                    r.unmanaged.len(),
                    r.problems.len()
                ),
            ),
            Err(e) => {
                self.progress
                    .finished(&key, false, started.elapsed().as_secs_f64(), &e.to_string())
            }
        }
        result
    }

    async fn sync_site_inner(&self, site: &Site, key: &str) -> Result<SyncReport, EngineError> {
        let served = self.site_as_served(&site.name).await?;
        let site = &served;
        let cloud = self.cloud_for(site).await?;
        let now = self.clock.now();
        let site_id = self.catalog.upsert_site(site, now).await?;
        let mut components = BTreeMap::new();
        for p in &site.policies {
            let id = self.catalog.upsert_component(site_id, p, now).await?;
            components.insert(p.name.clone(), id);
        }
        let mut report = SyncReport {
            site: site.name.clone(),
            ..Default::default()
        };
        // Primary first, so that copies find their sources among imported points.
        let mut regions = vec![site.region.clone()];
        for p in &site.policies {
            for c in &p.dr_copies {
                if !regions.contains(&c.region) {
                    regions.push(c.region.clone());
                }
            }
        }
        let mut known = self
            .catalog
            .points(&PointFilter {
                site: Some(site.name.clone()),
                include_deleted: true,
                ..Default::default()
            })
            .await?;
        for region in &regions {
            self.progress.note(
                key,
                &format!("listing the points tagged for the site in {region}"),
            );
            let in_cloud = match cloud.points.list_managed_points(&site.name, region).await {
                Ok(v) => v,
                Err(e) => {
                    report
                        .problems
                        .push(format!("{region}: cannot list points: {e}"));
                    continue;
                }
            };
            let cloud_ids: BTreeSet<&str> =
                in_cloud.iter().map(|p| p.provider_id.as_str()).collect();
            // Import what the catalog lacks.
            for p in &in_cloud {
                if known.iter().any(|k| {
                    k.region == p.region && k.kind == p.kind && k.provider_id == p.provider_id
                }) {
                    continue;
                }
                let component = p.tags.get(TAG_COMPONENT).cloned().unwrap_or_default();
                let Some(&component_id) = components.get(&component) else {
                    report.problems.push(format!(
                        "{} {} in {region} is tagged for component {component:?}, which has no policy here; not imported",
                        p.kind, p.provider_id
                    ));
                    continue;
                };
                // A copy is named <source name>-<region>.
                let source = p
                    .name
                    .strip_suffix(&format!("-{region}"))
                    .and_then(|base| known.iter().find(|k| k.name == base && k.region != *region))
                    .map(|k| k.id);
                let id = self
                    .catalog
                    .upsert_point(
                        &PointRecord {
                            component_id,
                            run_id: None,
                            kind: p.kind,
                            region: p.region.clone(),
                            name: p.name.clone(),
                            provider_id: p.provider_id.clone(),
                            arn: p.arn.clone(),
                            point_time: p.point_time,
                            state: p.state,
                            source_point_id: source,
                            managed: true,
                            metadata: p.metadata.clone(),
                            failure_reason: p.failure_reason.clone(),
                            created_at: now,
                        },
                        now,
                    )
                    .await?;
                report.imported.push(synced(&component, p));
                if let Some(point) = self.catalog.point(id).await? {
                    known.push(point);
                }
            }
            // Catalog points the listing does not show: confirm one by one.
            for k in known.iter().filter(|k| {
                k.region == *region
                    && k.managed
                    && k.kind != PointKind::S3Checkpoint
                    && matches!(
                        k.state,
                        PointState::Available | PointState::Creating | PointState::Failed
                    )
            }) {
                let seen = if cloud_ids.contains(k.provider_id.as_str()) {
                    in_cloud
                        .iter()
                        .find(|p| p.provider_id == k.provider_id)
                        .cloned()
                        .map(Ok)
                } else {
                    Some(
                        cloud
                            .points
                            .describe_point(k.kind, &k.region, &k.provider_id)
                            .await,
                    )
                };
                match seen {
                    Some(Ok(p)) if p.state != k.state => {
                        self.catalog
                            .set_point_state(k.id, p.state, p.failure_reason.as_deref(), now)
                            .await?;
                        report.updated.push(synced(&k.component, &p));
                    }
                    Some(Ok(_)) | None => {}
                    Some(Err(e)) if e.kind == CloudErrorKind::NotFound => {
                        self.catalog
                            .set_point_state(
                                k.id,
                                PointState::Missing,
                                Some("deleted outside wpbackup (found by sync)"),
                                now,
                            )
                            .await?;
                        report.missing.push(SyncedPoint {
                            component: k.component.clone(),
                            kind: k.kind,
                            region: k.region.clone(),
                            name: k.name.clone(),
                            provider_id: k.provider_id.clone(),
                            point_time: k.point_time,
                            state: PointState::Missing,
                            size_bytes: k.metadata.size_bytes,
                        });
                    }
                    Some(Err(e)) => report
                        .problems
                        .push(format!("{} {}: {e}", k.kind, k.provider_id)),
                }
            }
        }
        for p in &site.policies {
            self.progress.note(
                key,
                &format!("looking for snapshots of {} made by others", p.name),
            );
            match cloud
                .points
                .list_unmanaged_points(&p.target, &site.region)
                .await
            {
                Ok(found) => report
                    .unmanaged
                    .extend(found.iter().map(|u| synced(&p.name, u))),
                Err(e) => report
                    .problems
                    .push(format!("{}: cannot list unmanaged snapshots: {e}", p.name)),
            }
        }
        Ok(report)
    }
}

fn synced(component: &str, p: &crate::cloud::ProviderPoint) -> SyncedPoint {
    SyncedPoint {
        component: component.to_string(),
        kind: p.kind,
        region: p.region.clone(),
        name: p.name.clone(),
        provider_id: p.provider_id.clone(),
        point_time: p.point_time,
        state: p.state,
        size_bytes: p.metadata.size_bytes,
    }
}
