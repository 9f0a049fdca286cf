//! Builders shared by the domain's unit tests.

use super::model::{ComponentKind, PointKind, PointState, RecoveryPoint, RestoreMetadata};
use super::policy::{Hooks, Policy, PolicySource, Retention, Target};
use super::schedule::CronSchedule;
use chrono::{DateTime, Utc};

/// A policy every 6 hours keeping 7 dailies, with the given RPO in hours.
pub fn policy(name: &str, kind: ComponentKind, target: Target, rpo_h: u64) -> Policy {
    Policy {
        name: name.into(),
        kind,
        description: None,
        schedule: CronSchedule::parse("0 */6 * * *", chrono_tz::UTC).unwrap(),
        rpo: std::time::Duration::from_secs(rpo_h * 3600),
        wait_timeout: std::time::Duration::from_secs(3600),
        retention: Retention {
            daily: Some(7),
            ..Default::default()
        },
        dr_copies: vec![],
        hooks: Hooks::default(),
        tags: Default::default(),
        target,
        source: PolicySource {
            path: "p".into(),
            content_hash: String::new(),
            body: String::new(),
        },
    }
}

pub fn point(
    id: i64,
    comp: &str,
    kind: PointKind,
    region: &str,
    at: DateTime<Utc>,
    state: PointState,
) -> RecoveryPoint {
    RecoveryPoint {
        id,
        site: "shop".into(),
        component: comp.into(),
        component_kind: ComponentKind::Ec2Instance,
        kind,
        region: region.into(),
        name: format!("p{id}"),
        provider_id: format!("p{id}"),
        arn: None,
        point_time: at,
        state,
        source_point_id: (region == "us-west-2").then_some(id - 100),
        run_id: None,
        managed: true,
        metadata: RestoreMetadata::default(),
        failure_reason: None,
        created_at: at,
        completed_at: Some(at),
    }
}

/// An Aurora cluster snapshot of `comp`, not a copy.
pub fn aurora_point(
    id: i64,
    comp: &str,
    region: &str,
    at: DateTime<Utc>,
    state: PointState,
) -> RecoveryPoint {
    RecoveryPoint {
        component_kind: ComponentKind::AuroraCluster,
        source_point_id: None,
        ..point(
            id,
            comp,
            PointKind::AuroraClusterSnapshot,
            region,
            at,
            state,
        )
    }
}
