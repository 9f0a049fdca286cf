//! A large site for benchmarks: 10,000 components (Aurora, EFS, EC2, S3 in turn), each
//! with 100 points (80 primary every 6 hours, 20 DR copies), in catalog order.

use chrono::{DateTime, Duration, Utc};
use wpbackup::domain::model::{ComponentKind, PointState, RecoveryPoint, RestoreMetadata};
use wpbackup::domain::policy::{DrCopy, Hooks, Policy, PolicySource, Retention, Target};
use wpbackup::domain::schedule::CronSchedule;

pub const COMPONENTS: usize = 10_000;
pub const PER_COMPONENT: usize = 100;

fn target(kind: ComponentKind, c: usize) -> Target {
    match kind {
        ComponentKind::AuroraCluster => Target::AuroraCluster {
            cluster_identifier: format!("db{c}"),
            pitr_days: 7,
        },
        ComponentKind::Efs => Target::Efs {
            file_system_id: format!("fs-{c}"),
            vault: "v".into(),
            iam_role_arn: "arn:aws:iam::1:role/r".into(),
        },
        ComponentKind::S3Bucket => Target::S3Bucket {
            bucket: format!("b{c}"),
            dr_bucket: format!("b{c}-dr"),
            noncurrent_version_days: None,
        },
        _ => Target::Ec2Instance {
            instance_id: format!("i-{c}"),
            no_reboot: true,
            launch: Default::default(),
        },
    }
}

pub fn policies() -> Vec<Policy> {
    let kinds = [
        ComponentKind::AuroraCluster,
        ComponentKind::Efs,
        ComponentKind::Ec2Instance,
        ComponentKind::S3Bucket,
    ];
    (0..COMPONENTS)
        .map(|c| {
            let kind = kinds[c % kinds.len()];
            Policy {
                name: format!("c{c}"),
                kind,
                description: None,
                schedule: CronSchedule::parse("0 */6 * * *", chrono_tz::UTC).unwrap(),
                rpo: std::time::Duration::from_secs(6 * 3600),
                wait_timeout: std::time::Duration::from_secs(3600),
                retention: Retention {
                    daily: Some(7),
                    weekly: Some(4),
                    ..Default::default()
                },
                dr_copies: vec![DrCopy {
                    region: "us-west-2".into(),
                    retention: Retention {
                        daily: Some(7),
                        ..Default::default()
                    },
                    vault: None,
                }],
                hooks: Hooks::default(),
                tags: Default::default(),
                target: target(kind, c),
                source: PolicySource {
                    path: "p.toml".into(),
                    content_hash: String::new(),
                    body: String::new(),
                },
            }
        })
        .collect()
}

/// Points in the order the catalog returns them (by component, then time).
pub fn points(policies: &[Policy], now: DateTime<Utc>) -> Vec<RecoveryPoint> {
    let mut points = Vec::with_capacity(policies.len() * PER_COMPONENT);
    let mut id = 0i64;
    for (c, pol) in policies.iter().enumerate() {
        for i in 0..PER_COMPONENT {
            id += 1;
            let region = if i < 80 { "us-east-1" } else { "us-west-2" };
            let t = now - Duration::hours(6 * (i as i64 % 80)) - Duration::minutes(c as i64 % 60);
            points.push(RecoveryPoint {
                id,
                site: "shop".into(),
                component: pol.name.clone(),
                component_kind: pol.kind,
                kind: pol.kind.point_kind(),
                region: region.into(),
                name: format!("p{id}"),
                provider_id: format!("pid-{id}"),
                arn: None,
                point_time: t,
                state: PointState::Available,
                source_point_id: None,
                run_id: None,
                managed: true,
                metadata: RestoreMetadata {
                    encrypted: Some(true),
                    size_bytes: Some(8 << 30),
                    ..Default::default()
                },
                failure_reason: None,
                created_at: t,
                completed_at: Some(t),
            });
        }
    }
    points.sort_by(|a, b| {
        (a.component.as_str(), a.point_time, a.id).cmp(&(b.component.as_str(), b.point_time, b.id))
    });
    points
}
