//! The contract every `RecoveryPoints` implementation must honour, for every component
//! kind. It runs against the simulator here; the AWS adapters join it on moto.

use chrono::{TimeZone, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use wpbackup::cloud::retry::{RetryPolicy, Retrying};
use wpbackup::cloud::sim::{content::content_at, FaultKind, FaultOp, SimCloud};
use wpbackup::cloud::{
    CloudErrorKind, ClusterRestore, ClusterSource, LaunchRequest, ProtectionSettings,
    ProviderPoint, RecoveryPoints, ResourceStatus, Restores, Tags,
};
use wpbackup::domain::model::PointKind;
use wpbackup::domain::model::{ComponentKind, PointState};
use wpbackup::domain::names::{point_tags, TAG_MANAGED};
use wpbackup::domain::policy::{DrCopy, Retention, Target};
use wpbackup::domain::site::EntryPoint;
use wpbackup::domain::time::Clock;
use wpbackup::domain::time::ManualClock;

pub const PRIMARY: &str = "us-east-1";
pub const DR: &str = "us-west-2";

pub fn targets() -> Vec<(ComponentKind, Target)> {
    vec![
        (
            ComponentKind::LightsailInstance,
            Target::LightsailInstance {
                instance_name: "WordPress-1".into(),
                auto_snapshot_time: Some("03:00".into()),
            },
        ),
        (
            ComponentKind::Ec2Instance,
            Target::Ec2Instance {
                instance_id: "i-0abc".into(),
                no_reboot: true,
                launch: Default::default(),
            },
        ),
        (
            ComponentKind::AuroraCluster,
            Target::AuroraCluster {
                cluster_identifier: "wp-db".into(),
                pitr_days: 7,
            },
        ),
        (
            ComponentKind::Efs,
            Target::Efs {
                file_system_id: "fs-0abc".into(),
                vault: "v".into(),
                iam_role_arn: "arn:aws:iam::1:role/b".into(),
            },
        ),
        (
            ComponentKind::S3Bucket,
            Target::S3Bucket {
                bucket: "media".into(),
                dr_bucket: "media-dr".into(),
                noncurrent_version_days: Some(30),
            },
        ),
    ]
}

fn tags_for(site: &str, component: &str) -> Tags {
    let scheduled = Utc.with_ymd_and_hms(2026, 11, 27, 14, 0, 0).unwrap();
    point_tags(site, component, 1, scheduled, &BTreeMap::new())
}

fn tags(component: &str) -> Tags {
    tags_for("shop", component)
}

pub fn dr_copy() -> DrCopy {
    DrCopy {
        region: DR.into(),
        retention: Retention {
            daily: Some(3),
            ..Default::default()
        },
        vault: Some("v-dr".into()),
    }
}

/// Poll until a point leaves `creating` (immediately on the simulator after a tick).
async fn settle(points: &dyn RecoveryPoints, p: &ProviderPoint) -> ProviderPoint {
    for _ in 0..100 {
        let now = points
            .describe_point(p.kind, &p.region, &p.provider_id)
            .await
            .expect("describe");
        if now.state != PointState::Creating {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} still creating", p.name);
}

/// The contract every implementation honours, for each (kind, target) it is given.
/// `tick` lets time pass (the simulator's clock); real services just need polling.
pub async fn contract(
    points: &dyn RecoveryPoints,
    site: &str,
    cases: &[(ComponentKind, Target)],
    tick: &(dyn Fn() + Sync),
) {
    let unique = std::process::id();
    for (kind, target) in cases {
        let comp = kind.as_str();
        let name = format!("wpb-{site}-{comp}-20261127t1400z-{unique}");
        let tags = tags_for(site, comp);
        let created = points
            .create_point(target, PRIMARY, &name, &tags)
            .await
            .expect("create");
        assert_eq!(created.kind, kind.point_kind());
        assert_eq!(created.region, PRIMARY);
        assert_eq!(created.name, name);
        assert!(matches!(
            created.state,
            PointState::Creating | PointState::Available
        ));
        assert_eq!(
            created.tags.get(TAG_MANAGED).map(String::as_str),
            Some("true"),
            "{comp}: tagged"
        );

        // The deterministic name is an idempotency key (S3 checkpoints are catalog records).
        if *kind != ComponentKind::S3Bucket {
            let again = points
                .create_point(target, PRIMARY, &name, &tags)
                .await
                .unwrap_err();
            assert_eq!(again.kind, CloudErrorKind::AlreadyExists, "{comp}: {again}");
            let found = points
                .find_point(kind.point_kind(), PRIMARY, &name)
                .await
                .unwrap()
                .expect("found by name");
            assert_eq!(found.provider_id, created.provider_id);
            assert!(
                points
                    .find_point(kind.point_kind(), DR, &name)
                    .await
                    .unwrap()
                    .is_none(),
                "regions are separate"
            );
        }

        tick();
        let done = settle(points, &created).await;
        assert_eq!(
            done.state,
            PointState::Available,
            "{comp}: {:?}",
            done.failure_reason
        );

        let copy_name = format!("{name}-{DR}");
        let copy = points
            .copy_point(&done, target, &dr_copy(), &copy_name, &tags)
            .await
            .expect("copy");
        assert_eq!(copy.region, DR);
        assert_eq!(
            copy.point_time, done.point_time,
            "a copy holds the source's instant"
        );
        assert_ne!(
            (&copy.region, &copy.provider_id),
            (&done.region, &done.provider_id)
        );
        tick();
        let copy = settle(points, &copy).await;
        assert_eq!(copy.state, PointState::Available);

        if *kind != ComponentKind::S3Bucket {
            let listed = points.list_managed_points(site, DR).await.unwrap();
            assert!(
                listed.iter().any(|p| p.provider_id == copy.provider_id),
                "{comp}: copy listed in DR: {listed:#?}"
            );
            assert!(points
                .list_managed_points("other-site", DR)
                .await
                .unwrap()
                .is_empty());

            points
                .delete_point(copy.kind, DR, &copy.provider_id)
                .await
                .expect("delete");
            let gone = points
                .describe_point(copy.kind, DR, &copy.provider_id)
                .await;
            assert!(
                gone.as_ref()
                    .is_err_and(|e| e.kind == CloudErrorKind::NotFound)
                    || gone.as_ref().is_ok_and(|p| matches!(
                        p.state,
                        PointState::Deleted | PointState::Deleting
                    )),
                "{comp}: deleted copy still there: {gone:?}"
            );
        }
    }
}

fn sim_at(dir: &std::path::Path) -> (SimCloud, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 27, 14, 0, 0).unwrap(),
    ));
    let sim = SimCloud::new(
        &dir.join("sim.json"),
        clock.clone(),
        Duration::from_secs(120),
    );
    (sim, clock)
}

#[tokio::test]
async fn simulator_honours_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, clock) = sim_at(dir.path());
    let c = clock.clone();
    contract(&sim, "shop", &targets(), &move || {
        c.advance(Duration::from_secs(121))
    })
    .await;
}

/// The simulator in memory (`simulate`, the benchmarks) keeps its index of points between
/// calls: a point created, copied or deleted after a lookup built it is found (or not) as
/// it should be.
#[tokio::test]
async fn simulator_in_memory_honours_the_contract() {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 27, 14, 0, 0).unwrap(),
    ));
    let sim = SimCloud::in_memory(
        wpbackup::cloud::sim::SimMemory::default(),
        clock.clone(),
        Duration::from_secs(120),
    );
    // Built before anything exists: every later point has to be added to it.
    assert!(sim
        .list_managed_points("shop", PRIMARY)
        .await
        .unwrap()
        .is_empty());
    let c = clock.clone();
    contract(&sim, "shop", &targets(), &move || {
        c.advance(Duration::from_secs(121))
    })
    .await;
}

#[tokio::test]
async fn simulator_state_persists_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, clock) = sim_at(dir.path());
    let (_, target) = &targets()[2];
    let p = sim
        .create_point(target, PRIMARY, "wpb-shop-db-x", &tags("db"))
        .await
        .unwrap();
    let again = SimCloud::new(
        &dir.path().join("sim.json"),
        clock.clone(),
        Duration::from_secs(120),
    );
    let seen = again
        .describe_point(p.kind, PRIMARY, &p.provider_id)
        .await
        .unwrap();
    assert_eq!(seen.state, PointState::Creating);
    clock.advance(Duration::from_secs(120));
    assert_eq!(
        again
            .describe_point(p.kind, PRIMARY, &p.provider_id)
            .await
            .unwrap()
            .state,
        PointState::Available
    );
}

#[tokio::test]
async fn points_capture_content_as_of_their_instant() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, clock) = sim_at(dir.path());
    let (kind, target) = &targets()[2];
    let p = sim
        .create_point(target, PRIMARY, "wpb-shop-db-x", &tags("db"))
        .await
        .unwrap();
    let at_point = content_at(*kind, "wp-db", p.point_time);
    clock.advance(Duration::from_secs(6 * 3600));
    let later = sim.live_content(*kind, "wp-db").unwrap();
    assert_ne!(later, at_point, "the database keeps changing");
    assert_eq!(
        sim.point_content(&p.provider_id).unwrap(),
        Some(at_point.clone())
    );
    assert!(later.generation > at_point.generation);
    assert_eq!(
        p.metadata.extra.get("content_digest"),
        Some(&at_point.digest)
    );
}

#[tokio::test]
async fn injected_faults_and_retries() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, clock) = sim_at(dir.path());
    let (_, target) = &targets()[1];
    // Two throttles, then success: the retrying decorator absorbs them.
    sim.add_fault(
        Some("i-0abc".into()),
        FaultOp::Create,
        FaultKind::Throttle,
        Some(2),
    )
    .unwrap();
    let retrying = Retrying::new(
        SimCloud::new(
            &dir.path().join("sim.json"),
            clock.clone(),
            Duration::from_secs(120),
        ),
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        },
    );
    retrying
        .create_point(target, PRIMARY, "p1", &tags("web"))
        .await
        .expect("retried to success");
    assert!(sim.faults().unwrap().is_empty(), "fault used up");

    // Without the decorator the throttle surfaces, classified.
    sim.add_fault(None, FaultOp::Any, FaultKind::Transient, Some(1))
        .unwrap();
    let e = sim
        .create_point(target, PRIMARY, "p2", &tags("web"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::Transient);
    assert!(e.is_retryable());

    sim.add_fault(
        Some("i-0abc".into()),
        FaultOp::Create,
        FaultKind::AccessDenied,
        None,
    )
    .unwrap();
    let e = retrying
        .create_point(target, PRIMARY, "p3", &tags("web"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::AccessDenied);
    assert!(!e.is_retryable());
    assert_eq!(sim.clear_faults().unwrap(), 1);

    // A point that ends failed.
    sim.add_fault(None, FaultOp::Create, FaultKind::FailPoint, Some(1))
        .unwrap();
    let p = sim
        .create_point(target, PRIMARY, "p4", &tags("web"))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(121));
    let p = sim
        .describe_point(p.kind, PRIMARY, &p.provider_id)
        .await
        .unwrap();
    assert_eq!(p.state, PointState::Failed);
    assert!(p.failure_reason.is_some());
}

#[tokio::test]
async fn s3_checkpoint_requires_versioning_and_replication() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, _clock) = sim_at(dir.path());
    let (_, target) = &targets()[4];
    let mut s = sim.settings("media").unwrap();
    s.replication = false;
    sim.set_settings("media", s).unwrap();
    let e = sim
        .create_point(target, PRIMARY, "cp", &tags("media"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::Invalid);
    assert!(e.message.contains("replication"), "{e}");
    let checks = sim.inspect(target, PRIMARY).await.unwrap();
    assert!(checks
        .iter()
        .any(|c| c.setting == "s3.replication" && !c.ok));
}

#[tokio::test]
async fn lightsail_auto_snapshot_addon_is_enabled_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, _clock) = sim_at(dir.path());
    let (_, target) = &targets()[0];
    assert!(sim
        .inspect(target, PRIMARY)
        .await
        .unwrap()
        .iter()
        .any(|c| !c.ok));
    assert_eq!(sim.ensure(target, PRIMARY).await.unwrap().len(), 1);
    assert!(
        sim.ensure(target, PRIMARY).await.unwrap().is_empty(),
        "idempotent"
    );
    assert!(sim
        .inspect(target, PRIMARY)
        .await
        .unwrap()
        .iter()
        .all(|c| c.ok));
}

/// Wait until a restored resource is ready (ticking the simulator's clock on the way).
async fn ready<F, Fut>(f: F, tick: &(dyn Fn() + Sync)) -> ResourceStatus
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = wpbackup::cloud::CloudResult<ResourceStatus>>,
{
    wpbackup::cloud::wait::until_ready(
        "a restored resource",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            tick();
            f()
        },
    )
    .await
    .expect("ready")
}

/// The restore contract: launch from an AMI (idempotent), move the address; restore a
/// cluster to a point in time and from a snapshot, add its instance, rename-swap.
pub async fn restore_contract(
    points: &dyn RecoveryPoints,
    restores: &dyn Restores,
    site: &str,
    instance_target: &Target,
    cluster_target: &Target,
    entry: &EntryPoint,
    tick: &(dyn Fn() + Sync),
) {
    let unique = std::process::id();
    // An AMI, then an instance from it with recorded settings.
    let ami = points
        .create_point(
            instance_target,
            PRIMARY,
            &format!("wpb-{site}-web-r{unique}"),
            &tags_for(site, "web"),
        )
        .await
        .unwrap();
    tick();
    let ami = settle(points, &ami).await;
    let req = LaunchRequest {
        name: format!("{site}-web-restored-{unique}"),
        instance_type: ami
            .metadata
            .instance_type
            .clone()
            .or(Some("t3.micro".into())),
        subnet_id: ami.metadata.subnet_id.clone(),
        security_group_ids: ami.metadata.security_group_ids.clone(),
        tags: tags_for(site, "web"),
        ..Default::default()
    };
    let launched = restores.launch_instance(&ami, &req).await.expect("launch");
    let again = restores
        .launch_instance(&ami, &req)
        .await
        .expect("launch again");
    assert_eq!(again.id, launched.id, "launching is idempotent on the name");
    let id = launched.id.clone();
    let inst = ready(
        || restores.describe_instance(PointKind::Ec2Ami, PRIMARY, &id),
        tick,
    )
    .await;
    assert!(inst.address.is_some());

    restores
        .move_address(entry, PRIMARY, &inst.id)
        .await
        .expect("move address");
    assert_eq!(
        restores
            .address_target(entry, PRIMARY)
            .await
            .unwrap()
            .as_deref(),
        Some(inst.id.as_str())
    );

    // Aurora: point-in-time restore inside the window, its instance, and a rename swap.
    let Target::AuroraCluster {
        cluster_identifier: cluster,
        ..
    } = cluster_target
    else {
        panic!("an aurora target")
    };
    let (earliest, latest) = restores
        .restorable_window(PRIMARY, cluster)
        .await
        .unwrap()
        .expect("a PITR window");
    assert!(earliest < latest);
    let restored = format!("{cluster}-r{unique}");
    let req = ClusterRestore {
        cluster: restored.clone(),
        source: ClusterSource::PointInTime {
            cluster: cluster.clone(),
            at: earliest + (latest - earliest) / 2,
        },
        engine: Some("aurora-mysql".into()),
        subnet_group: None,
        security_group_ids: vec![],
        tags: tags_for(site, "db"),
    };
    restores.restore_cluster(PRIMARY, &req).await.expect("PITR");
    let outside = ClusterRestore {
        cluster: format!("{restored}-x"),
        source: ClusterSource::PointInTime {
            cluster: cluster.clone(),
            at: earliest - chrono::Duration::days(3),
        },
        ..req.clone()
    };
    let e = restores
        .restore_cluster(PRIMARY, &outside)
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind, CloudErrorKind::Invalid | CloudErrorKind::Permanent),
        "{e}"
    );
    ready(|| restores.describe_cluster(PRIMARY, &restored), tick).await;
    restores
        .create_cluster_instance(
            PRIMARY,
            &restored,
            &format!("{restored}-1"),
            "db.r6g.large",
            "aurora-mysql",
        )
        .await
        .expect("instance");

    let snap = points
        .create_point(
            cluster_target,
            PRIMARY,
            &format!("wpb-{site}-db-r{unique}"),
            &tags_for(site, "db"),
        )
        .await
        .unwrap();
    tick();
    let snap = settle(points, &snap).await;
    let from_snap = format!("{cluster}-s{unique}");
    restores
        .restore_cluster(
            PRIMARY,
            &ClusterRestore {
                cluster: from_snap.clone(),
                source: ClusterSource::Snapshot {
                    snapshot: snap.provider_id.clone(),
                },
                ..req.clone()
            },
        )
        .await
        .expect("restore from snapshot");
    ready(|| restores.describe_cluster(PRIMARY, &from_snap), tick).await;

    // Swap: the old cluster renamed away, the restored one renamed in.
    let old = format!("{cluster}-old{unique}");
    restores
        .rename_cluster(PRIMARY, cluster, &old)
        .await
        .expect("rename old away");
    ready(|| restores.describe_cluster(PRIMARY, &old), tick).await;
    restores
        .rename_cluster(PRIMARY, &restored, cluster)
        .await
        .expect("rename restored in");
    let swapped = ready(|| restores.describe_cluster(PRIMARY, cluster), tick).await;
    assert_eq!(swapped.id, *cluster);
    let gone = restores.describe_cluster(PRIMARY, &restored).await;
    assert!(
        gone.is_err_and(|e| e.kind == CloudErrorKind::NotFound),
        "the restored name moved"
    );
}

#[tokio::test]
async fn simulator_honours_the_restore_contract() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, clock) = sim_at(dir.path());
    let c = clock.clone();
    let targets = targets();
    let entry = EntryPoint::Ec2ElasticIp {
        allocation_id: "eipalloc-0sim".into(),
    };
    restore_contract(
        &sim,
        &sim,
        "shop",
        &targets[1].1,
        &targets[2].1,
        &entry,
        &move || c.advance(Duration::from_secs(121)),
    )
    .await;
}

#[tokio::test]
async fn simulated_restores_carry_the_content_of_their_instant() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, clock) = sim_at(dir.path());
    let t0 = clock.now();
    clock.advance(Duration::from_secs(3 * 3600));
    let at = t0 + chrono::Duration::minutes(95);
    let req = ClusterRestore {
        cluster: "wp-db-restored".into(),
        source: ClusterSource::PointInTime {
            cluster: "wp-db".into(),
            at,
        },
        engine: None,
        subnet_group: None,
        security_group_ids: vec![],
        tags: Default::default(),
    };
    sim.restore_cluster(PRIMARY, &req).await.unwrap();
    let restored = sim
        .resource_content(ComponentKind::AuroraCluster, PRIMARY, "wp-db-restored")
        .unwrap()
        .unwrap();
    assert_eq!(
        restored,
        content_at(ComponentKind::AuroraCluster, "wp-db", at)
    );
    assert_ne!(
        restored,
        sim.live_content(ComponentKind::AuroraCluster, "wp-db")
            .unwrap()
    );

    // Bucket history: as of T, then reverted non-destructively.
    let versions = sim.object_versions(PRIMARY, "media").await.unwrap();
    let t = clock.now() - chrono::Duration::hours(2);
    let then = wpbackup::domain::selection::objects_as_of(&versions, t);
    let now = wpbackup::domain::selection::objects_as_of(&versions, clock.now());
    let changed: Vec<_> = then
        .iter()
        .filter(|(k, v)| now.get(*k) != Some(v))
        .collect();
    assert!(
        !changed.is_empty(),
        "two hours of writes changed some objects"
    );
    for (key, v) in &changed {
        sim.revert_object(
            PRIMARY,
            "media",
            key,
            v.as_ref().map(|v| v.version_id.as_str()),
        )
        .await
        .unwrap();
    }
    let after = sim.object_versions(PRIMARY, "media").await.unwrap();
    assert_eq!(
        after.len(),
        versions.len() + changed.len(),
        "reverts add versions, never remove"
    );
    let reverted = wpbackup::domain::selection::objects_as_of(&after, clock.now());
    for (key, v) in &changed {
        assert_eq!(
            reverted[*key].is_some(),
            v.is_some(),
            "{key} present as at T"
        );
    }
}
