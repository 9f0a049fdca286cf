//! Restores and drills: plan (read the catalog and the live PITR window, choose sources,
//! build the step graph), then execute the graph — independent steps in parallel, every
//! step's state and provider ids written before and after it acts, so `resume` finishes a
//! crashed plan without redoing finished steps or duplicating resources — and roll back.
//!
//! `prepare` plans, `execute` runs the step graph, `rollback` undoes the cutover; the steps
//! themselves live in one module per family: `cluster` (Aurora), `file_system` (EFS),
//! `web` (the web tier), `bucket` (S3), `health`, `cutover` (the public address) and
//! `teardown` (drills).

mod bucket;
mod cdn;
mod cluster;
mod cutover;
mod execute;
mod file_system;
mod finalize;
mod health;
mod isolate;
mod prepare;
mod rollback;
mod staging;
mod teardown;
mod web;

use super::{Engine, EngineError};
use crate::catalog::{CatalogError, PlanRecord, StepRecord};
use crate::cloud::{
    Cloud, CloudError, CloudErrorKind, ClusterRestore, ClusterSource, HealthRequest, LaunchRequest,
    ProviderPoint,
};
use crate::domain::model::RecoveryPoint;
use crate::domain::planner::{
    choose_sources, ComponentInput, PlanError, PointsByComponent, RestoreTo,
};
use crate::domain::policy::Target;
use crate::domain::restore_plan::{
    build_plan, Action, Address, BuildError, Plan, PlanStatus, Probing, Purpose, SiteFacts, Step,
    StepState,
};
use crate::domain::selection::objects_as_of;
use crate::domain::site::{EntryPoint, Site};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub use finalize::Replaced;
pub use health::{ask_until_healthy, HealthFailure};
pub use staging::{staging_state, StagingCopy};
pub use teardown::DrillResource;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Cloud(#[from] CloudError),
    /// The instant cannot be restored (names the range that can).
    #[error(transparent)]
    Coverage(#[from] PlanError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("no restore plan {0:?} in the catalog; `wpbackup restore list` shows them")]
    UnknownPlan(String),
    /// A plan file or state that cannot be executed, with every reason.
    #[error("{0}")]
    Refused(String),
    #[error("another restore is executing against the catalog {0}; wait for it, or resume its plan when it has stopped")]
    Busy(String),
}

/// What to plan.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    pub site: String,
    pub at: DateTime<Utc>,
    pub to: RestoreTo,
    pub only: Vec<String>,
    pub purpose: Purpose,
}

/// Live progress of an execution (a terminal display, log lines, or nothing).
pub trait RestoreProgress: Send + Sync {
    fn started(&self, step: &Step, attempt: i64);
    fn note(&self, key: &str, note: &str);
    fn finished(&self, key: &str, state: StepState, seconds: f64, detail: &str);
}

pub struct NoProgress;

impl RestoreProgress for NoProgress {
    fn started(&self, _: &Step, _: i64) {}
    fn note(&self, _: &str, _: &str) {}
    fn finished(&self, _: &str, _: StepState, _: f64, _: &str) {}
}

/// How an execution ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Execution {
    pub plan_id: String,
    /// completed | failed | executing (stopped; resume it) | torn-down
    pub status: PlanStatus,
    pub steps: Vec<StepRecord>,
    /// The step that failed and why.
    pub failure: Option<String>,
    /// Drills: from the first step's start to a healthy restored site.
    pub recovery_seconds: Option<i64>,
    /// Drills: the site's recovery-time objective (`[sites.audit] max_recovery_time`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_target_seconds: Option<i64>,
    /// Drills: every resource the drill created, its deletion and its read-back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drill_resources: Vec<teardown::DrillResource>,
}

fn to_provider_point(p: &RecoveryPoint) -> ProviderPoint {
    ProviderPoint {
        kind: p.kind,
        region: p.region.clone(),
        name: p.name.clone(),
        provider_id: p.provider_id.clone(),
        arn: p.arn.clone(),
        state: p.state,
        point_time: p.point_time,
        metadata: p.metadata.clone(),
        tags: Default::default(),
        failure_reason: None,
    }
}

fn entry_of(a: &Address) -> EntryPoint {
    match a {
        Address::LightsailStaticIp { name } => EntryPoint::LightsailStaticIp { name: name.clone() },
        Address::Ec2ElasticIp { allocation_id } => EntryPoint::Ec2ElasticIp {
            allocation_id: allocation_id.clone(),
        },
        Address::AlbListener { listener_arn } => EntryPoint::AlbListener {
            listener_arn: listener_arn.clone(),
        },
    }
}

fn address_of(e: &EntryPoint) -> Address {
    match e {
        EntryPoint::LightsailStaticIp { name } => Address::LightsailStaticIp { name: name.clone() },
        EntryPoint::Ec2ElasticIp { allocation_id } => Address::Ec2ElasticIp {
            allocation_id: allocation_id.clone(),
        },
        EntryPoint::AlbListener { listener_arn } => Address::AlbListener {
            listener_arn: listener_arn.clone(),
        },
    }
}

impl Engine {
    /// The catalog's restore lock (one executing restore per catalog).
    async fn restore_lock(&self) -> Result<crate::catalog::RestoreLock, RestoreError> {
        self.catalog
            .try_lock_restores()
            .await?
            .ok_or_else(|| RestoreError::Busy(self.catalog.location().to_string()))
    }

    /// The site's lock, exclusively: waits for the site's backup runs in flight to finish,
    /// and keeps new ones from starting until the restore step is done.
    async fn site_lock(&self, site: &str) -> Result<crate::catalog::RestoreLock, RestoreError> {
        if let Some(lock) = self.catalog.lock_site(site, true, false).await? {
            return Ok(lock);
        }
        tracing::info!(%site, "waiting for the site's backup runs in flight to finish");
        self.catalog
            .lock_site(site, true, true)
            .await?
            .ok_or_else(|| RestoreError::Busy(format!("{} (site {site})", self.catalog.location())))
    }
}

/// Why a torn-down drill does not count as an isolated one (`None`: it does): it created
/// resources in a VPC without a security group of its own (a drill made before drills
/// were isolated), or its teardown did not read back that everything is gone.
pub(crate) fn drill_isolation(plan: &Plan, steps: &[StepRecord]) -> Option<String> {
    use crate::domain::restore_plan::LaunchInstance;
    let in_vpc = plan.steps.iter().any(|s| {
        matches!(
            &s.action,
            Action::RestoreCluster(_) | Action::RestoreFileSystem(_) | Action::LaunchGroup(_)
        ) || matches!(&s.action, Action::LaunchInstance(LaunchInstance { point_kind, .. }) if *point_kind == crate::domain::model::PointKind::Ec2Ami)
    });
    let isolated = plan
        .steps
        .iter()
        .any(|s| matches!(s.action, Action::Isolate(_)));
    if in_vpc && !isolated {
        return Some(
            "not isolated from production: its resources were in production's security groups (a drill made before wpbackup isolated drills)".into(),
        );
    }
    let verified = steps.iter().any(|s| {
        s.key.ends_with(".teardown")
            && s.state == StepState::Done
            && s.outputs.get("verified_gone") == Some(&Value::Bool(true))
    });
    (!verified).then(|| "its teardown did not verify that everything it created is gone".into())
}

/// How to reach a staging copy: where its web tier answered the health check, and the
/// site's URL (its Host header) to ask there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StagingAccess {
    /// The restored instance's address, or each healthy instance of a restored group.
    pub addresses: Vec<String>,
    /// The site's health-check URL: its host is the Host header to send.
    pub url: String,
    pub host: String,
    /// Who its security group lets in on `port` besides its own members
    /// (`[sites.drill] health_check_from`); empty: only hosts in `security_group`.
    pub allowed_from: Vec<String>,
    pub port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_group: Option<String>,
}

impl StagingAccess {
    /// A command that asks the copy for the site's URL (`curl --resolve` sends the site's
    /// Host header, and its SNI name over https, to the copy's address).
    pub fn curl(&self) -> Option<String> {
        let address = self.addresses.first()?;
        let url = reqwest::Url::parse(&self.url).ok()?;
        let port = url.port_or_known_default()?;
        Some(format!(
            "curl --resolve '{}:{port}:{address}' '{}'",
            self.host, self.url
        ))
    }
}

/// Where a plan's web tier answered (a staging copy's), from its recorded steps; `None`
/// when the plan checked no web tier.
pub fn staging_access(plan: &Plan, steps: &[StepRecord]) -> Option<StagingAccess> {
    let url = plan.steps.iter().find_map(|s| match &s.action {
        Action::HealthCheck(h) => Some(h.url.clone()),
        Action::CheckTargets(c) => Some(c.url.clone()),
        _ => None,
    })?;
    let mut addresses = Vec::new();
    for s in steps {
        if s.key.ends_with(".launch-instance") {
            addresses.extend(s.output("address").map(str::to_string));
        }
        if let Some(list) = s.outputs.get("addresses").and_then(Value::as_array) {
            addresses.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
        }
    }
    addresses.dedup();
    let parsed = reqwest::Url::parse(&url).ok();
    let host = parsed
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let isolate = plan.steps.iter().find_map(|s| match &s.action {
        Action::Isolate(i) => Some((s.key.as_str(), i)),
        _ => None,
    });
    Some(StagingAccess {
        addresses,
        host,
        allowed_from: isolate
            .map(|(_, i)| i.health_check_from.clone())
            .unwrap_or_default(),
        port: isolate
            .map(|(_, i)| i.port)
            .or_else(|| parsed.as_ref().and_then(|u| u.port_or_known_default()))
            .unwrap_or(443),
        security_group: isolate.and_then(|(key, _)| {
            steps
                .iter()
                .find(|s| s.key == key)
                .and_then(|s| s.output("security_group"))
                .map(str::to_string)
        }),
        url,
    })
}

pub(crate) fn recovery_seconds(steps: &[StepRecord]) -> Option<i64> {
    let start = steps.iter().filter_map(|s| s.started_at).min()?;
    let healthy = steps
        .iter()
        .find(|s| s.key == "site.health-check" && s.state == StepState::Done)?
        .finished_at?;
    Some((healthy - start).num_seconds())
}
