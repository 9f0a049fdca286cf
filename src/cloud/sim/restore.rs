//! The simulator's side of restores: launched instances, restored clusters and file
//! systems carry *content* (from the point, or from the live resource at the restore
//! instant), so a restore can be checked by comparing content; addresses move; bucket
//! history is generated from the content model and reverts add new versions.

use super::content::{content_at, Content, WRITE_INTERVAL_SECS};
use super::{sim_error, SimCloud};
use crate::cloud::{
    CloudErrorKind, CloudResult, ClusterRestore, ClusterSource, LaunchRequest, ObjectVersion,
    ProviderPoint, ResourceState, ResourceStatus, Restores,
};
use crate::domain::model::{ComponentKind, PointKind};
use crate::domain::site::EntryPoint;
use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A resource a restore created (or an original renamed away).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimResource {
    pub kind: String,
    #[serde(default)]
    pub tags: crate::cloud::Tags,
    #[serde(default)]
    pub mount_targets: Vec<String>,
    /// Each mount target's subnet and when it becomes available.
    #[serde(default)]
    pub mount_subnets: Vec<(String, DateTime<Utc>)>,
    /// What a launched instance runs at boot (its wiring to a file system and database).
    #[serde(default)]
    pub user_data: Option<String>,
    /// The security groups it was created in (instances, clusters, mount targets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub deleted: bool,
    pub region: String,
    pub id: String,
    pub ready_at: DateTime<Utc>,
    /// Fixed content, or `None` when this is an original resource (live content).
    pub content: Option<Content>,
    /// For a renamed original: the resource whose live content it has.
    pub live_of: Option<String>,
    pub cluster: Option<String>,
    pub failed: bool,
}

/// A write made through the simulator's S3 (a revert).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimObjectWrite {
    pub bucket: String,
    pub key: String,
    pub at: DateTime<Utc>,
    pub version_id: String,
    pub delete_marker: bool,
}

impl SimResource {
    pub(super) fn new(kind: &str, region: &str, id: &str, ready_at: DateTime<Utc>) -> Self {
        Self {
            kind: kind.into(),
            tags: Default::default(),
            mount_targets: vec![],
            mount_subnets: vec![],
            user_data: None,
            security_groups: vec![],
            deleted: false,
            region: region.into(),
            id: id.into(),
            ready_at,
            content: None,
            live_of: None,
            cluster: None,
            failed: false,
        }
    }
}

pub(super) fn key_of(region: &str, id: &str) -> String {
    format!("{region}/{id}")
}

fn entry_key(entry: &EntryPoint) -> String {
    match entry {
        EntryPoint::Ec2ElasticIp { allocation_id } => format!("eip:{allocation_id}"),
        EntryPoint::LightsailStaticIp { name } => format!("static-ip:{name}"),
        EntryPoint::AlbListener { listener_arn } => format!("listener:{listener_arn}"),
    }
}

/// How much bucket history the simulator keeps (older noncurrent versions expired).
const HISTORY_DAYS: i64 = 30;
const OBJECTS: u64 = 50;

pub(super) fn origin() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// The generated history: write `g` puts object `g % 50`; every seventh write deletes it.
fn generated_versions(bucket: &str, now: DateTime<Utc>) -> Vec<ObjectVersion> {
    let g_now = content_at(ComponentKind::S3Bucket, bucket, now).generation;
    let first = g_now.saturating_sub((HISTORY_DAYS * 86_400 / WRITE_INTERVAL_SECS) as u64);
    let mut out = Vec::new();
    for k in 0..OBJECTS {
        let key = format!("wp-content/uploads/obj-{k:02}.jpg");
        let mut g = if g_now >= k {
            g_now - (g_now - k) % OBJECTS
        } else {
            continue;
        };
        let mut latest = true;
        loop {
            if g < first {
                break;
            }
            out.push(ObjectVersion {
                key: key.clone(),
                version_id: format!("v{g}"),
                last_modified: origin() + Duration::seconds(g as i64 * WRITE_INTERVAL_SECS),
                is_delete_marker: g % 7 == 3,
                is_latest: latest,
            });
            latest = false;
            if g < OBJECTS {
                break;
            }
            g -= OBJECTS;
        }
    }
    out
}

/// What a simulated server's user data wires it to: the file systems it mounts (`fs-…`
/// ids) and the databases it uses (cluster endpoints), as its boot script would.
fn wired_resources(user_data: &str) -> Vec<(ComponentKind, String)> {
    let mut out = Vec::new();
    for token in user_data.split(|c: char| !(c.is_ascii_alphanumeric() || "-._".contains(c))) {
        if token.starts_with("fs-") && token.len() > 3 {
            out.push((ComponentKind::Efs, token.to_string()));
        } else if let Some((cluster, _)) = token.split_once(".cluster-") {
            out.push((ComponentKind::AuroraCluster, cluster.to_string()));
        }
    }
    out.dedup();
    out
}

impl super::SimState {
    /// The content of a resource now: a restored one's own, a renamed original's live
    /// content, or an original's.
    fn current_content(
        &self,
        kind: ComponentKind,
        region: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Content {
        match self
            .resources
            .get(&key_of(region, id))
            .filter(|r| r.kind != "renamed-away")
        {
            Some(SimResource {
                content: Some(c), ..
            }) => c.clone(),
            Some(SimResource {
                live_of: Some(orig),
                ..
            }) => self.content_of(kind, orig, now),
            _ => self.content_of(kind, id, now),
        }
    }

    /// Why a server wired by `user_data` serves a broken site (a damaged file system or
    /// database it uses), if it does.
    pub(super) fn wiring_damage(
        &self,
        region: &str,
        user_data: &str,
        now: DateTime<Utc>,
    ) -> Option<String> {
        wired_resources(user_data)
            .into_iter()
            .find_map(|(kind, id)| {
                let c = self.current_content(kind, region, &id, now);
                c.summary
                    .contains("DAMAGED")
                    .then(|| format!("{id} ({kind}): {}", c.summary))
            })
    }
}

impl SimCloud {
    /// A site's public address starts out on its original instance (which then exists as
    /// an untagged, live resource: restores can move the address back to it, drills can
    /// never delete it). No-op once the address has a target.
    pub fn attach_original(
        &self,
        entry: &EntryPoint,
        region: &str,
        instance: &str,
    ) -> CloudResult<()> {
        self.with_state(|s| {
            let k = entry_key(entry);
            if s.addresses.contains_key(&k) {
                return;
            }
            s.addresses.insert(k, instance.to_string());
            s.resources
                .entry(key_of(region, instance))
                .or_insert_with(|| SimResource::new("instance", region, instance, origin()));
        })
    }

    async fn delete_resource(
        &self,
        region: &str,
        id: &str,
        kind: &str,
        op: &str,
    ) -> CloudResult<()> {
        self.faulted(None, super::FaultOp::Delete, op, |s, _, _| {
            // An id the simulator never made is one of the site's originals: it exists,
            // untagged (refused below like any resource wpbackup did not create).
            let r = s
                .resources
                .entry(key_of(region, id))
                .or_insert_with(|| SimResource::new(kind, region, id, origin()));
            let r = Some(r)
                .filter(|r| r.kind == kind && !r.deleted)
                .ok_or_else(|| {
                    sim_error(
                        CloudErrorKind::NotFound,
                        op,
                        format!("no {kind} {id} in {region}"),
                    )
                })?;
            if r.tags
                .get(crate::domain::names::TAG_MANAGED)
                .map(String::as_str)
                != Some("true")
            {
                return Err(sim_error(
                    CloudErrorKind::Invalid,
                    op,
                    format!(
                        "{kind} {id} is not tagged {}=true; wpbackup deletes only what it created",
                        crate::domain::names::TAG_MANAGED
                    ),
                ));
            }
            r.deleted = true;
            Ok(())
        })
        .await
    }

    /// Each key's version as the bucket stands at `at`, with reverts resolved to the version
    /// they copied: `None` when the key is absent. (Two instants with equal maps hold the
    /// same objects.)
    pub async fn bucket_state(
        &self,
        bucket: &str,
        at: DateTime<Utc>,
    ) -> CloudResult<std::collections::BTreeMap<String, Option<String>>> {
        let versions = self.object_versions("", bucket).await?;
        Ok(crate::domain::selection::objects_as_of(&versions, at)
            .into_iter()
            .map(|(k, v)| {
                let v = v.map(|v| match v.version_id.split_once('-') {
                    Some((r, src)) if r.starts_with("revert") => src.to_string(),
                    _ => v.version_id,
                });
                (k, v.filter(|v| v != "delete"))
            })
            .collect())
    }

    /// The content a restored (or original, renamed) resource holds now.
    pub fn resource_content(
        &self,
        kind: ComponentKind,
        region: &str,
        id: &str,
    ) -> CloudResult<Option<Content>> {
        let now = self.clock.now();
        self.with_state(|s| {
            s.resources
                .get(&key_of(region, id))
                .filter(|r| r.kind != "renamed-away")
                .map(|r| match (&r.content, &r.live_of) {
                    (Some(c), _) => c.clone(),
                    (None, Some(orig)) => s.content_of(kind, orig, now),
                    (None, None) => s.content_of(kind, id, now),
                })
        })
    }

    /// What the site serves now for `kind`: the cluster under `resource`'s name, or the
    /// instance the public address points at (original or restored).
    pub async fn serving_content(
        &self,
        kind: ComponentKind,
        entry: &EntryPoint,
        region: &str,
        resource: &str,
    ) -> CloudResult<Content> {
        let id = match (kind, entry) {
            // Behind a listener: the first instance of what it forwards to.
            (ComponentKind::AutoScalingGroup, EntryPoint::AlbListener { listener_arn }) => self
                .listener_instances(region, listener_arn)?
                .into_iter()
                .next()
                .unwrap_or_else(|| resource.to_string()),
            (ComponentKind::Ec2Instance | ComponentKind::LightsailInstance, _) => self
                .address_target(entry, region)
                .await?
                .unwrap_or_else(|| resource.to_string()),
            _ => resource.to_string(),
        };
        let mut content = match self.resource_content(kind, region, &id)? {
            Some(c) => c,
            None => self.content_at(kind, resource, self.clock.now())?,
        };
        // A web server also serves the data it is wired to.
        let now = self.clock.now();
        let wired = self.with_state(|s| {
            s.resources
                .get(&key_of(region, &id))
                .and_then(|r| r.user_data.as_deref())
                .map(|ud| {
                    wired_resources(ud)
                        .into_iter()
                        .map(|(k, rid)| {
                            let c = s.current_content(k, region, &rid, now);
                            format!("{k} {rid} ({}: {})", c.digest, c.summary)
                        })
                        .collect::<Vec<_>>()
                })
        })?;
        if let Some(w) = wired.filter(|w| !w.is_empty()) {
            content.summary = format!("{} — wired to {}", content.summary, w.join("; "));
        }
        Ok(content)
    }

    pub(super) fn status(r: &SimResource, now: DateTime<Utc>) -> ResourceStatus {
        ResourceStatus {
            id: r.id.clone(),
            state: if r.deleted {
                ResourceState::Gone
            } else if r.failed {
                ResourceState::Failed
            } else if now < r.ready_at {
                ResourceState::Pending
            } else {
                ResourceState::Ready
            },
            address: Some(match r.kind.as_str() {
                "cluster" => format!("{}.cluster-sim.{}.rds.amazonaws.com", r.id, r.region),
                // 24 bits of the id's digest: two instances of one test never share an
                // address (a byte sum did, and a health check reached the wrong server).
                _ => {
                    let d = super::content::digest_of(&r.id);
                    let b = |i: usize| u8::from_str_radix(&d[2 * i..2 * i + 2], 16).unwrap_or(0);
                    format!("10.{}.{}.{}", b(0), b(1), 1 + b(2) % 254)
                }
            }),
            detail: None,
        }
    }
}

#[async_trait]
impl Restores for SimCloud {
    async fn launch_instance(
        &self,
        point: &ProviderPoint,
        req: &LaunchRequest,
    ) -> CloudResult<ResourceStatus> {
        if !matches!(point.kind, PointKind::Ec2Ami | PointKind::LightsailSnapshot) {
            return Err(sim_error(
                CloudErrorKind::Invalid,
                "LaunchInstance",
                format!("{} cannot be launched", point.kind),
            ));
        }
        let ready_at = self.restored_ready_at("instance", self.clock.now());
        let now = self.clock.now();
        self.faulted(
            None,
            super::FaultOp::Create,
            "LaunchInstance",
            |s, fail, _| {
                let content = s
                    .points
                    .get(&point.provider_id)
                    .filter(|p| !p.deleted)
                    .map(|p| p.content.clone())
                    .ok_or_else(|| {
                        sim_error(
                            CloudErrorKind::NotFound,
                            "LaunchInstance",
                            format!("no point {}", point.provider_id),
                        )
                    })?;
                let id = match point.kind {
                    PointKind::LightsailSnapshot => req.name.clone(),
                    _ => format!("i-sim{}", &super::content::digest_of(&req.name)[..12]),
                };
                // Idempotent on the name.
                let r = s
                    .resources
                    .entry(key_of(&point.region, &id))
                    .or_insert_with(|| SimResource {
                        content: Some(content),
                        failed: fail,
                        tags: req.tags.clone(),
                        user_data: req.user_data.clone(),
                        security_groups: req.security_group_ids.clone(),
                        ..SimResource::new("instance", &point.region, &id, ready_at)
                    });
                Ok(Self::status(r, now))
            },
        )
        .await
    }

    async fn describe_instance(
        &self,
        _kind: PointKind,
        region: &str,
        id: &str,
    ) -> CloudResult<ResourceStatus> {
        let now = self.clock.now();
        self.faulted(
            None,
            super::FaultOp::Describe,
            "DescribeInstance",
            |s, _, _| {
                s.resources
                    .get(&key_of(region, id))
                    .map(|r| Self::status(r, now))
                    .ok_or_else(|| {
                        sim_error(
                            CloudErrorKind::NotFound,
                            "DescribeInstance",
                            format!("no instance {id} in {region}"),
                        )
                    })
            },
        )
        .await
    }

    async fn restorable_window(
        &self,
        _region: &str,
        cluster: &str,
    ) -> CloudResult<Option<(DateTime<Utc>, DateTime<Utc>)>> {
        self.fault_gate(
            Some(cluster),
            super::FaultOp::Describe,
            "DescribeDBClusters",
        )
        .await?;
        let now = self.clock.now();
        let days = self.settings(cluster)?.backup_retention_days;
        // Continuous backup reaches back `days`, and forward to about five minutes ago.
        Ok(Some((
            now - Duration::days(i64::from(days)),
            now - Duration::minutes(5),
        )))
    }

    async fn restore_cluster(
        &self,
        region: &str,
        req: &ClusterRestore,
    ) -> CloudResult<ResourceStatus> {
        let window = match &req.source {
            ClusterSource::PointInTime { cluster, .. } => {
                self.restorable_window(region, cluster).await?
            }
            ClusterSource::Snapshot { .. } => None,
        };
        let ready_at = self.restored_ready_at("cluster", self.clock.now());
        let now = self.clock.now();
        self.faulted(
            None,
            super::FaultOp::Create,
            "RestoreDBCluster",
            |s, fail, _| {
                let key = key_of(region, &req.cluster);
                if let Some(existing) = s.resources.get(&key).filter(|r| r.kind != "renamed-away") {
                    return Err(sim_error(
                        CloudErrorKind::AlreadyExists,
                        "RestoreDBCluster",
                        format!("cluster {} already exists", existing.id),
                    ));
                }
                let content = match &req.source {
                    ClusterSource::PointInTime { cluster, at } => {
                        let (a, b) = window.expect("window for PITR");
                        if *at < a || *at > b {
                            return Err(sim_error(
                                CloudErrorKind::Invalid,
                                "RestoreDBClusterToPointInTime",
                                format!(
                                    "restore time {at} is outside the restorable window [{a}, {b}]"
                                ),
                            ));
                        }
                        s.content_of(ComponentKind::AuroraCluster, cluster, *at)
                    }
                    ClusterSource::Snapshot { snapshot } => s
                        .points
                        .values()
                        .find(|p| !p.deleted && (p.provider_id == *snapshot || p.arn == *snapshot))
                        .map(|p| p.content.clone())
                        .ok_or_else(|| {
                            sim_error(
                                CloudErrorKind::NotFound,
                                "RestoreDBClusterFromSnapshot",
                                format!("no snapshot {snapshot}"),
                            )
                        })?,
                };
                let r = SimResource {
                    content: Some(content),
                    failed: fail,
                    tags: req.tags.clone(),
                    security_groups: req.security_group_ids.clone(),
                    ..SimResource::new("cluster", region, &req.cluster, ready_at)
                };
                let st = Self::status(&r, now);
                s.resources.insert(key, r);
                Ok(st)
            },
        )
        .await
    }

    async fn create_cluster_instance(
        &self,
        region: &str,
        cluster: &str,
        instance: &str,
        _class: &str,
        _engine: &str,
    ) -> CloudResult<ResourceStatus> {
        let ready_at = self.restored_ready_at("cluster-instance", self.clock.now());
        let now = self.clock.now();
        self.faulted(
            None,
            super::FaultOp::Create,
            "CreateDBInstance",
            |s, fail, _| {
                let r = s
                    .resources
                    .entry(key_of(region, instance))
                    .or_insert_with(|| SimResource {
                        cluster: Some(cluster.into()),
                        failed: fail,
                        ..SimResource::new("cluster-instance", region, instance, ready_at)
                    });
                Ok(Self::status(r, now))
            },
        )
        .await
    }

    async fn cluster_tags(&self, region: &str, cluster: &str) -> CloudResult<crate::cloud::Tags> {
        self.faulted(
            None,
            super::FaultOp::Describe,
            "DescribeDBClusters",
            |s, _, _| {
                // Only clusters a restore made are known by name here (the originals are
                // implicit): any other name is not found.
                s.resources
                    .get(&key_of(region, cluster))
                    .filter(|r| r.kind == "cluster" && !r.deleted)
                    .map(|r| r.tags.clone())
                    .ok_or_else(|| {
                        sim_error(
                            CloudErrorKind::NotFound,
                            "DescribeDBClusters",
                            format!("no DB cluster {cluster} in {region}"),
                        )
                    })
            },
        )
        .await
    }

    async fn describe_cluster(&self, region: &str, cluster: &str) -> CloudResult<ResourceStatus> {
        let now = self.clock.now();
        self.faulted(
            None,
            super::FaultOp::Describe,
            "DescribeDBClusters",
            |s, _, _| {
                match s.resources.get(&key_of(region, cluster)) {
                    Some(r) if r.kind != "renamed-away" => Ok(Self::status(r, now)),
                    Some(_) => Err(sim_error(
                        CloudErrorKind::NotFound,
                        "DescribeDBClusters",
                        format!("no DB cluster {cluster}"),
                    )),
                    // An original cluster nobody renamed: it exists, with live content.
                    None => Ok(ResourceStatus {
                        id: cluster.into(),
                        state: ResourceState::Ready,
                        address: Some(format!("{cluster}.cluster-sim.{region}.rds.amazonaws.com")),
                        detail: None,
                    }),
                }
            },
        )
        .await
    }

    async fn describe_cluster_instance(
        &self,
        region: &str,
        instance: &str,
    ) -> CloudResult<ResourceStatus> {
        let now = self.clock.now();
        self.faulted(
            None,
            super::FaultOp::Describe,
            "DescribeDBInstances",
            |s, _, _| match s.resources.get(&key_of(region, instance)) {
                Some(r) if r.kind == "cluster-instance" => Ok(Self::status(r, now)),
                _ => Err(sim_error(
                    CloudErrorKind::NotFound,
                    "DescribeDBInstances",
                    format!("no DB instance {instance}"),
                )),
            },
        )
        .await
    }

    async fn rename_cluster(&self, region: &str, from: &str, to: &str) -> CloudResult<()> {
        let now = self.clock.now();
        self.faulted(None, super::FaultOp::Any, "ModifyDBCluster", |s, _, _| {
            let to_key = key_of(region, to);
            if s.resources
                .get(&to_key)
                .is_some_and(|r| r.kind != "renamed-away")
            {
                return Err(sim_error(
                    CloudErrorKind::AlreadyExists,
                    "ModifyDBCluster",
                    format!("cluster {to} already exists"),
                ));
            }
            let from_key = key_of(region, from);
            let moved = match s.resources.remove(&from_key) {
                Some(r) if r.kind == "renamed-away" => {
                    s.resources.insert(from_key, r);
                    return Err(sim_error(
                        CloudErrorKind::NotFound,
                        "ModifyDBCluster",
                        format!("no DB cluster {from}"),
                    ));
                }
                Some(mut r) => {
                    r.id = to.into();
                    r
                }
                // Renaming an original away: it keeps its live content under the new name.
                None => SimResource {
                    live_of: Some(from.into()),
                    ..SimResource::new("cluster", region, to, now)
                },
            };
            // The old name is free now (a later restore or rename may take it).
            s.resources.insert(
                from_key,
                SimResource::new("renamed-away", region, from, now),
            );
            s.resources.insert(to_key, moved);
            Ok(())
        })
        .await
    }

    async fn restore_file_system(
        &self,
        point: &ProviderPoint,
        _role_arn: &str,
        token: &str,
    ) -> CloudResult<String> {
        let ready_at = self.restored_ready_at("file-system", self.clock.now());
        self.faulted(
            None,
            super::FaultOp::Create,
            "StartRestoreJob",
            |s, fail, _| {
                let content = s
                    .points
                    .get(&point.provider_id)
                    .filter(|p| !p.deleted)
                    .map(|p| p.content.clone())
                    .ok_or_else(|| {
                        sim_error(
                            CloudErrorKind::NotFound,
                            "StartRestoreJob",
                            format!("no recovery point {}", point.provider_id),
                        )
                    })?;
                let job = format!("restore-{}", &super::content::digest_of(token)[..12]);
                let fs = format!("fs-sim{}", &super::content::digest_of(token)[..10]);
                s.resources
                    .entry(key_of(&point.region, &job))
                    .or_insert_with(|| SimResource {
                        content: Some(content.clone()),
                        failed: fail,
                        ..SimResource::new("restore-job", &point.region, &fs, ready_at)
                    });
                s.resources
                    .entry(key_of(&point.region, &fs))
                    .or_insert_with(|| SimResource {
                        content: Some(content),
                        failed: fail,
                        ..SimResource::new("file-system", &point.region, &fs, ready_at)
                    });
                Ok(job)
            },
        )
        .await
    }

    async fn describe_file_system_restore(
        &self,
        region: &str,
        job: &str,
    ) -> CloudResult<ResourceStatus> {
        let now = self.clock.now();
        self.faulted(
            None,
            super::FaultOp::Describe,
            "DescribeRestoreJob",
            |s, _, _| {
                s.resources
                    .get(&key_of(region, job))
                    .map(|r| Self::status(r, now))
                    .ok_or_else(|| {
                        sim_error(
                            CloudErrorKind::NotFound,
                            "DescribeRestoreJob",
                            format!("no restore job {job}"),
                        )
                    })
            },
        )
        .await
    }

    async fn address_target(
        &self,
        entry: &EntryPoint,
        _region: &str,
    ) -> CloudResult<Option<String>> {
        self.fault_gate(None, super::FaultOp::Describe, "DescribeAddresses")
            .await?;
        self.with_state(|s| s.addresses.get(&entry_key(entry)).cloned())
    }

    async fn move_address(
        &self,
        entry: &EntryPoint,
        region: &str,
        instance: &str,
    ) -> CloudResult<()> {
        self.faulted(None, super::FaultOp::Any, "MoveAddress", |s, _, _| {
            if !s.resources.contains_key(&key_of(region, instance)) {
                return Err(sim_error(
                    CloudErrorKind::NotFound,
                    "MoveAddress",
                    format!("no instance {instance} in {region}"),
                ));
            }
            s.addresses.insert(entry_key(entry), instance.to_string());
            Ok(())
        })
        .await
    }

    async fn finish_file_system_restore(
        &self,
        region: &str,
        file_system: &str,
        subnets: &[String],
        security_group_ids: &[String],
        tags: &crate::cloud::Tags,
    ) -> CloudResult<Vec<String>> {
        let ready_at = self.restored_ready_at("mount-target", self.clock.now());
        self.faulted(None, super::FaultOp::Any, "CreateMountTarget", |s, _, _| {
            let r = s
                .resources
                .get_mut(&key_of(region, file_system))
                .filter(|r| r.kind == "file-system" && !r.deleted)
                .ok_or_else(|| {
                    sim_error(
                        CloudErrorKind::NotFound,
                        "CreateMountTarget",
                        format!("no file system {file_system} in {region}"),
                    )
                })?;
            r.tags.extend(tags.clone());
            if r.mount_targets.is_empty() {
                r.security_groups = security_group_ids.to_vec();
            }
            for subnet in subnets {
                let id = format!(
                    "fsmt-{}",
                    &super::content::digest_of(&format!("{file_system}{subnet}"))[..10]
                );
                if !r.mount_targets.contains(&id) {
                    r.mount_targets.push(id);
                    r.mount_subnets.push((subnet.clone(), ready_at));
                }
            }
            Ok(r.mount_targets.clone())
        })
        .await
    }

    async fn mount_targets(
        &self,
        region: &str,
        file_system: &str,
    ) -> CloudResult<Vec<(String, ResourceState)>> {
        let now = self.clock.now();
        self.faulted(
            None,
            super::FaultOp::Describe,
            "DescribeMountTargets",
            |s, _, _| {
                let r = s
                    .resources
                    .get(&key_of(region, file_system))
                    .filter(|r| r.kind == "file-system" && !r.deleted)
                    .ok_or_else(|| {
                        sim_error(
                            CloudErrorKind::NotFound,
                            "DescribeMountTargets",
                            format!("no file system {file_system} in {region}"),
                        )
                    })?;
                // A mount target becomes available a while after it is created.
                Ok(r.mount_subnets
                    .iter()
                    .map(|(subnet, ready_at)| {
                        let state = if now >= *ready_at {
                            ResourceState::Ready
                        } else {
                            ResourceState::Pending
                        };
                        (subnet.clone(), state)
                    })
                    .collect())
            },
        )
        .await
    }

    async fn delete_instance(&self, _kind: PointKind, region: &str, id: &str) -> CloudResult<()> {
        self.delete_resource(region, id, "instance", "TerminateInstances")
            .await
    }

    async fn delete_cluster(&self, region: &str, cluster: &str) -> CloudResult<()> {
        self.delete_resource(region, cluster, "cluster", "DeleteDBCluster")
            .await?;
        // Its instances go with it.
        self.with_state(|s| {
            for r in s.resources.values_mut() {
                if r.kind == "cluster-instance" && r.cluster.as_deref() == Some(cluster) {
                    r.deleted = true;
                }
            }
        })
    }

    async fn delete_file_system(&self, region: &str, file_system: &str) -> CloudResult<()> {
        self.delete_resource(region, file_system, "file-system", "DeleteFileSystem")
            .await
    }

    async fn object_versions(
        &self,
        _region: &str,
        bucket: &str,
    ) -> CloudResult<Vec<ObjectVersion>> {
        self.fault_gate(Some(bucket), super::FaultOp::Describe, "ListObjectVersions")
            .await?;
        let now = self.clock.now();
        let writes = self.with_state(|s| {
            s.object_writes
                .iter()
                .filter(|w| w.bucket == bucket)
                .cloned()
                .collect::<Vec<_>>()
        })?;
        let mut all = generated_versions(bucket, now);
        all.extend(writes.into_iter().map(|w| ObjectVersion {
            key: w.key,
            version_id: w.version_id,
            last_modified: w.at,
            is_delete_marker: w.delete_marker,
            is_latest: false,
        }));
        // Newest first per key; among same-second entries, later writes first.
        all.sort_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then(b.last_modified.cmp(&a.last_modified))
        });
        let mut last_key = String::new();
        for v in &mut all {
            v.is_latest = v.key != last_key;
            last_key = v.key.clone();
        }
        Ok(all)
    }

    async fn revert_object(
        &self,
        _region: &str,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> CloudResult<()> {
        let now = self.clock.now();
        self.faulted(None, super::FaultOp::Any, "RevertObject", |s, _, _| {
            let n = s.object_writes.len();
            s.object_writes.push(SimObjectWrite {
                bucket: bucket.into(),
                key: key.into(),
                at: now,
                version_id: format!("revert{n}-{}", version.unwrap_or("delete")),
                delete_marker: version.is_none(),
            });
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl crate::cloud::HealthProbe for SimCloud {
    /// A simulated web server: the restored instance answers once it is ready, with the
    /// status set by `wpbackup sim health` for the URL's host (200 by default).
    async fn probe(
        &self,
        req: &crate::cloud::HealthRequest,
    ) -> CloudResult<crate::cloud::HealthAnswer> {
        let host = req
            .url
            .split("://")
            .nth(1)
            .unwrap_or(&req.url)
            .split(['/', ':'])
            .next()
            .unwrap_or_default()
            .to_string();
        let now = self.clock.now();
        self.with_state(|s| {
            if let Some(addr) = &req.address {
                let server = s.resources.values().find(|r| {
                    r.kind == "instance"
                        && !r.deleted
                        && !r.failed
                        && now >= r.ready_at
                        && Self::status(r, now).address.as_deref() == Some(addr.as_str())
                });
                let Some(server) = server else {
                    return Err(sim_error(
                        CloudErrorKind::Transient,
                        "HealthCheck",
                        format!("GET {}: connection refused by {addr}", req.url),
                    ));
                };
                // A server wired to a damaged file system or database serves the damage:
                // WordPress answers 500 (a fatal error in a broken plugin, a bad row).
                if let Some(ud) = &server.user_data {
                    if s.wiring_damage(&server.region, ud, now).is_some() {
                        return Ok(crate::cloud::HealthAnswer {
                            status: 500,
                            peer: addr.clone(),
                            body: "<p>There has been a critical error on this website.</p>".into(),
                        });
                    }
                }
            }
            let public = req
                .address
                .is_none()
                .then(|| s.public_health.get(&host))
                .flatten();
            let status = public
                .or_else(|| s.health.get(&host))
                .copied()
                .unwrap_or(200);
            Ok(crate::cloud::HealthAnswer {
                status,
                peer: req.address.clone().unwrap_or(host),
                body: if status == req.expect_status {
                    String::new()
                } else {
                    format!("<h1>{status}</h1> (set by wpbackup sim health)")
                },
            })
        })?
    }
}
