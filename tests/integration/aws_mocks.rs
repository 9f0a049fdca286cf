//! Lightsail and AWS Backup jobs, which moto does not cover: the real SDK clients with the
//! SDK's own mock layer (aws-smithy-mocks): success, pagination, throttling then success,
//! not-found, already-exists.

use super::support::assert_policy_grants;
use aws_sdk_backup::operation::describe_recovery_point::{
    DescribeRecoveryPointError, DescribeRecoveryPointOutput,
};
use aws_sdk_backup::types::{RecoveryPointByBackupVault, RecoveryPointStatus};
use aws_sdk_lightsail::operation::get_instance::GetInstanceOutput;
use aws_sdk_lightsail::operation::get_instance_snapshot::{
    GetInstanceSnapshotError, GetInstanceSnapshotOutput,
};
use aws_sdk_lightsail::operation::get_instance_snapshots::GetInstanceSnapshotsOutput;
use aws_sdk_lightsail::types::{
    AddOn, Instance, InstanceSnapshot, InstanceSnapshotState, ResourceLocation, Tag,
};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::DateTime as SmithyTime;
use chrono::TimeZone;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use wpbackup::cloud::aws::operations::{CallLog, Purpose as IamPurpose};
use wpbackup::cloud::aws::{AwsCloud, Clients};
use wpbackup::cloud::{CloudErrorKind, ProtectionSettings, RecoveryPoints};
use wpbackup::domain::model::{PointKind, PointState};
use wpbackup::domain::names::point_tags;
use wpbackup::domain::policy::Target;
use wpbackup::domain::site::Site;
use wpbackup::domain::time::SystemClock;

const REGION: &str = "us-east-1";
const DR: &str = "us-west-2";

fn fast_retries(attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(5))
}

/// Clients whose other services are never called (they point nowhere).
fn idle_clients() -> Clients {
    let region = aws_config::Region::new(REGION);
    let creds = aws_credential_types::Credentials::for_tests();
    macro_rules! idle {
        ($sdk:ident) => {
            $sdk::Client::from_conf(
                $sdk::Config::builder()
                    .behavior_version_latest()
                    .region(region.clone())
                    .credentials_provider(creds.clone())
                    .build(),
            )
        };
    }
    Clients {
        ec2: idle!(aws_sdk_ec2),
        rds: idle!(aws_sdk_rds),
        s3: idle!(aws_sdk_s3),
        backup: idle!(aws_sdk_backup),
        efs: idle!(aws_sdk_efs),
        lightsail: idle!(aws_sdk_lightsail),
        autoscaling: idle!(aws_sdk_autoscaling),
        elbv2: idle!(aws_sdk_elasticloadbalancingv2),
        cloudfront: idle!(aws_sdk_cloudfront),
    }
}

/// The sandbox's sites, as the adapters see them.
fn site(name: &str) -> Site {
    let sb = super::support::Sandbox::new();
    let (config, _) = wpbackup::config::load(&sb.config(), chrono::Utc::now()).unwrap();
    config.site(name).unwrap().clone()
}

fn cloud(site: &Site, region_clients: Vec<(&str, Clients)>) -> AwsCloud {
    let map: HashMap<String, Clients> = region_clients
        .into_iter()
        .map(|(r, c)| (r.to_string(), c))
        .collect();
    AwsCloud::with_clients(site, Arc::new(SystemClock), map)
}

/// `cloud`, with every call its clients send recorded into `log`.
fn cloud_logged(log: &CallLog, site: &Site, region_clients: Vec<(&str, Clients)>) -> AwsCloud {
    cloud(
        site,
        region_clients
            .into_iter()
            .map(|(r, c)| (r, c.recorded(log)))
            .collect(),
    )
}

fn tags() -> wpbackup::cloud::Tags {
    let at = chrono::Utc
        .with_ymd_and_hms(2026, 11, 27, 14, 0, 0)
        .unwrap();
    point_tags("blog", "wordpress", 7, at, &Default::default())
}

fn snapshot(
    name: &str,
    state: InstanceSnapshotState,
    managed_site: Option<&str>,
) -> InstanceSnapshot {
    let mut b = InstanceSnapshot::builder()
        .name(name)
        .arn(format!(
            "arn:aws:lightsail:{REGION}:1:InstanceSnapshot/{name}"
        ))
        .state(state)
        .created_at(SmithyTime::from_secs(1_795_000_000))
        .size_in_gb(80)
        .from_instance_name("WordPress-1")
        .from_bundle_id("medium_3_0")
        .location(
            ResourceLocation::builder()
                .availability_zone("us-east-1a")
                .build(),
        );
    if let Some(site) = managed_site {
        b = b
            .tags(Tag::builder().key("wpbackup:managed").value("true").build())
            .tags(Tag::builder().key("wpbackup:site").value(site).build());
    }
    b.build()
}

fn lightsail_target() -> Target {
    Target::LightsailInstance {
        instance_name: "WordPress-1".into(),
        auto_snapshot_time: Some("03:00".into()),
    }
}

fn get_instance_rule(addon_enabled: bool) -> Rule {
    mock!(aws_sdk_lightsail::Client::get_instance).then_output(move || {
        let mut i = Instance::builder()
            .name("WordPress-1")
            .bundle_id("medium_3_0")
            .blueprint_id("wordpress")
            .location(
                ResourceLocation::builder()
                    .availability_zone("us-east-1a")
                    .build(),
            );
        if addon_enabled {
            i = i.add_ons(
                AddOn::builder()
                    .name("AutoSnapshot")
                    .status("Enabled")
                    .snapshot_time_of_day("03:00")
                    .build(),
            );
        }
        GetInstanceOutput::builder().instance(i.build()).build()
    })
}

fn not_found() -> GetInstanceSnapshotError {
    GetInstanceSnapshotError::NotFoundException(
        aws_sdk_lightsail::types::error::NotFoundException::builder()
            .message("snapshot not found")
            .build(),
    )
}

#[tokio::test]
async fn lightsail_snapshot_is_created_tagged_and_becomes_available() {
    let log = CallLog::default();
    let get_instance = get_instance_rule(false);
    let lookup = mock!(aws_sdk_lightsail::Client::get_instance_snapshot)
        .sequence()
        .error(not_found)
        .output(|| {
            GetInstanceSnapshotOutput::builder()
                .instance_snapshot(snapshot(
                    "snap-a",
                    InstanceSnapshotState::Pending,
                    Some("blog"),
                ))
                .build()
        })
        .output(|| {
            GetInstanceSnapshotOutput::builder()
                .instance_snapshot(snapshot(
                    "snap-a",
                    InstanceSnapshotState::Available,
                    Some("blog"),
                ))
                .build()
        })
        .build();
    let create = mock!(aws_sdk_lightsail::Client::create_instance_snapshot)
        .match_requests(|r| {
            r.instance_name() == Some("WordPress-1")
                && r.instance_snapshot_name() == Some("snap-a")
                && r.tags().iter().any(|t| t.key() == Some("wpbackup:managed") && t.value() == Some("true"))
        })
        .then_output(|| aws_sdk_lightsail::operation::create_instance_snapshot::CreateInstanceSnapshotOutput::builder().build());
    let mut clients = idle_clients();
    clients.lightsail = mock_client!(
        aws_sdk_lightsail,
        RuleMode::MatchAny,
        &[&get_instance, &lookup, &create]
    );
    let aws = cloud_logged(&log, &site("blog"), vec![(REGION, clients)]);

    let p = aws
        .create_point(&lightsail_target(), REGION, "snap-a", &tags())
        .await
        .expect("created");
    assert_eq!(create.num_calls(), 1);
    assert_eq!(p.kind, PointKind::LightsailSnapshot);
    assert_eq!(p.state, PointState::Creating);
    assert_eq!(p.metadata.bundle_id.as_deref(), Some("medium_3_0"));
    assert_eq!(p.metadata.availability_zone.as_deref(), Some("us-east-1a"));
    assert_eq!(p.metadata.size_bytes, Some(80 << 30));
    let p = aws
        .describe_point(p.kind, REGION, &p.provider_id)
        .await
        .unwrap();
    assert_eq!(p.state, PointState::Available);
    assert_policy_grants(
        &log,
        &site("blog"),
        IamPurpose::Backup,
        "lightsail_snapshot_is_created_tagged_and_becomes_available",
    );
}

#[tokio::test]
async fn lightsail_existing_name_is_already_exists_and_nothing_is_created() {
    let lookup = mock!(aws_sdk_lightsail::Client::get_instance_snapshot).then_output(|| {
        GetInstanceSnapshotOutput::builder()
            .instance_snapshot(snapshot(
                "snap-a",
                InstanceSnapshotState::Available,
                Some("blog"),
            ))
            .build()
    });
    let create = mock!(aws_sdk_lightsail::Client::create_instance_snapshot)
        .then_output(|| aws_sdk_lightsail::operation::create_instance_snapshot::CreateInstanceSnapshotOutput::builder().build());
    let mut clients = idle_clients();
    clients.lightsail = mock_client!(
        aws_sdk_lightsail,
        RuleMode::MatchAny,
        &[&get_instance_rule(false), &lookup, &create]
    );
    let aws = cloud(&site("blog"), vec![(REGION, clients)]);
    let e = aws
        .create_point(&lightsail_target(), REGION, "snap-a", &tags())
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::AlreadyExists, "{e}");
    assert_eq!(create.num_calls(), 0);
    let found = aws
        .find_point(PointKind::LightsailSnapshot, REGION, "snap-a")
        .await
        .unwrap();
    assert_eq!(found.map(|p| p.provider_id).as_deref(), Some("snap-a"));
}

#[tokio::test]
async fn lightsail_not_found() {
    let lookup = mock!(aws_sdk_lightsail::Client::get_instance_snapshot).then_error(not_found);
    let mut clients = idle_clients();
    clients.lightsail = mock_client!(aws_sdk_lightsail, RuleMode::MatchAny, &[&lookup]);
    let aws = cloud(&site("blog"), vec![(REGION, clients)]);
    let e = aws
        .describe_point(PointKind::LightsailSnapshot, REGION, "gone")
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::NotFound);
    assert!(
        e.message.contains("snapshot not found"),
        "the service's message is kept: {e}"
    );
    assert!(aws
        .find_point(PointKind::LightsailSnapshot, REGION, "gone")
        .await
        .unwrap()
        .is_none());
}

/// A snapshot the cloud describes without a creation time is flagged, with the epoch as its
/// time — never stamped with the clock, which would make an old point look fresh.
#[tokio::test]
async fn a_point_without_a_creation_time_is_flagged_not_stamped_now() {
    let answer = |dated: bool| {
        let mut s = snapshot("snap-a", InstanceSnapshotState::Available, Some("blog"));
        if !dated {
            s.created_at = None;
        }
        GetInstanceSnapshotOutput::builder()
            .instance_snapshot(s)
            .build()
    };
    let lookup = mock!(aws_sdk_lightsail::Client::get_instance_snapshot)
        .sequence()
        .output(move || answer(false))
        .output(move || answer(true))
        .build();
    let mut clients = idle_clients();
    clients.lightsail = mock_client!(aws_sdk_lightsail, RuleMode::Sequential, &[&lookup]);
    let aws = cloud(&site("blog"), vec![(REGION, clients)]);
    let describe = || aws.describe_point(PointKind::LightsailSnapshot, REGION, "snap-a");
    let undated = describe().await.unwrap();
    assert!(undated.metadata.time_unknown, "{undated:?}");
    assert_eq!(undated.point_time, chrono::DateTime::UNIX_EPOCH);
    let dated = describe().await.unwrap();
    assert!(!dated.metadata.time_unknown, "{dated:?}");
    assert_eq!(dated.point_time.timestamp(), 1_795_000_000);
}

#[tokio::test]
async fn lightsail_throttling_is_retried_by_the_sdk() {
    let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    let lookup = mock!(aws_sdk_lightsail::Client::get_instance_snapshot)
        .sequence()
        .http_status(400, Some(throttled.to_string()))
        .times(2)
        .output(|| {
            GetInstanceSnapshotOutput::builder()
                .instance_snapshot(snapshot(
                    "snap-a",
                    InstanceSnapshotState::Available,
                    Some("blog"),
                ))
                .build()
        })
        .build();
    let mut clients = idle_clients();
    clients.lightsail = mock_client!(aws_sdk_lightsail, RuleMode::Sequential, &[&lookup], |c| c
        .retry_config(fast_retries(3)));
    let aws = cloud(&site("blog"), vec![(REGION, clients)]);
    let p = aws
        .describe_point(PointKind::LightsailSnapshot, REGION, "snap-a")
        .await
        .expect("retried to success");
    assert_eq!(p.state, PointState::Available);
    assert_eq!(lookup.num_calls(), 3);

    // When throttling outlasts the retries, the error says so.
    let lookup = mock!(aws_sdk_lightsail::Client::get_instance_snapshot)
        .sequence()
        .http_status(400, Some(throttled.to_string()))
        .times(5)
        .build();
    let mut clients = idle_clients();
    clients.lightsail = mock_client!(aws_sdk_lightsail, RuleMode::Sequential, &[&lookup], |c| c
        .retry_config(fast_retries(2)));
    let aws = cloud(&site("blog"), vec![(REGION, clients)]);
    let e = aws
        .describe_point(PointKind::LightsailSnapshot, REGION, "snap-a")
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::Throttled, "{e}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn lightsail_listing_follows_pages_and_keeps_only_the_sites_managed_points() {
    let page1 = mock!(aws_sdk_lightsail::Client::get_instance_snapshots)
        .match_requests(|r| r.page_token().is_none())
        .then_output(|| {
            GetInstanceSnapshotsOutput::builder()
                .instance_snapshots(snapshot(
                    "ours-1",
                    InstanceSnapshotState::Available,
                    Some("blog"),
                ))
                .instance_snapshots(snapshot(
                    "manual-by-hand",
                    InstanceSnapshotState::Available,
                    None,
                ))
                .next_page_token("page-2")
                .build()
        });
    let page2 = mock!(aws_sdk_lightsail::Client::get_instance_snapshots)
        .match_requests(|r| r.page_token() == Some("page-2"))
        .then_output(|| {
            GetInstanceSnapshotsOutput::builder()
                .instance_snapshots(snapshot(
                    "ours-2",
                    InstanceSnapshotState::Available,
                    Some("blog"),
                ))
                .instance_snapshots(snapshot(
                    "other-site",
                    InstanceSnapshotState::Available,
                    Some("shop"),
                ))
                .build()
        });
    let mut clients = idle_clients();
    clients.lightsail = mock_client!(aws_sdk_lightsail, RuleMode::MatchAny, &[&page1, &page2]);
    let aws = cloud(&site("blog"), vec![(REGION, clients)]);
    let mut names: Vec<String> = aws
        .list_managed_points("blog", REGION)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort();
    assert_eq!(names, ["ours-1", "ours-2"]);
    assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
}

#[tokio::test]
async fn lightsail_copy_is_made_from_the_destination_and_tagged() {
    let log = CallLog::default();
    let copy = mock!(aws_sdk_lightsail::Client::copy_snapshot)
        .match_requests(|r| {
            r.source_snapshot_name() == Some("snap-a")
                && r.source_region().map(|s| s.as_str()) == Some(REGION)
                && r.target_snapshot_name() == Some("snap-a-us-west-2")
        })
        .then_output(|| {
            aws_sdk_lightsail::operation::copy_snapshot::CopySnapshotOutput::builder().build()
        });
    let tag = mock!(aws_sdk_lightsail::Client::tag_resource)
        .match_requests(|r| {
            r.resource_name() == Some("snap-a-us-west-2")
                && r.tags().iter().any(|t| t.key() == Some("wpbackup:managed"))
        })
        .then_output(|| {
            aws_sdk_lightsail::operation::tag_resource::TagResourceOutput::builder().build()
        });
    let lookup = mock!(aws_sdk_lightsail::Client::get_instance_snapshot).then_output(|| {
        GetInstanceSnapshotOutput::builder()
            .instance_snapshot(snapshot(
                "snap-a-us-west-2",
                InstanceSnapshotState::Pending,
                Some("blog"),
            ))
            .build()
    });
    let mut dr = idle_clients();
    dr.lightsail = mock_client!(
        aws_sdk_lightsail,
        RuleMode::MatchAny,
        &[&copy, &tag, &lookup]
    );
    let aws = cloud_logged(
        &log,
        &site("blog"),
        vec![(REGION, idle_clients()), (DR, dr)],
    );
    let source = wpbackup::cloud::ProviderPoint {
        kind: PointKind::LightsailSnapshot,
        region: REGION.into(),
        name: "snap-a".into(),
        provider_id: "snap-a".into(),
        arn: None,
        state: PointState::Available,
        point_time: chrono::Utc
            .with_ymd_and_hms(2026, 11, 27, 14, 0, 0)
            .unwrap(),
        metadata: Default::default(),
        tags: tags(),
        failure_reason: None,
    };
    let dr_copy = super::cloud_contract::dr_copy();
    let p = aws
        .copy_point(
            &source,
            &lightsail_target(),
            &dr_copy,
            "snap-a-us-west-2",
            &tags(),
        )
        .await
        .unwrap();
    assert_eq!((copy.num_calls(), tag.num_calls()), (1, 1));
    assert_eq!(p.region, DR);
    assert_eq!(p.point_time, source.point_time);
    assert_policy_grants(
        &log,
        &site("blog"),
        IamPurpose::Backup,
        "lightsail_copy_is_made_from_the_destination_and_tagged",
    );
}

#[tokio::test]
async fn lightsail_auto_snapshot_addon_is_enabled_once() {
    let log = CallLog::default();
    let enable = mock!(aws_sdk_lightsail::Client::enable_add_on)
        .match_requests(|r| {
            r.resource_name() == Some("WordPress-1")
                && r.add_on_request()
                    .and_then(|a| a.auto_snapshot_add_on_request())
                    .and_then(|a| a.snapshot_time_of_day())
                    == Some("03:00")
        })
        .then_output(|| {
            aws_sdk_lightsail::operation::enable_add_on::EnableAddOnOutput::builder().build()
        });
    let mut clients = idle_clients();
    clients.lightsail = mock_client!(
        aws_sdk_lightsail,
        RuleMode::MatchAny,
        &[&get_instance_rule(false), &enable]
    );
    let aws = cloud_logged(&log, &site("blog"), vec![(REGION, clients)]);
    let changes = aws.ensure(&lightsail_target(), REGION).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(enable.num_calls(), 1);

    let mut clients = idle_clients();
    clients.lightsail = mock_client!(
        aws_sdk_lightsail,
        RuleMode::MatchAny,
        &[&get_instance_rule(true), &enable]
    );
    let aws = cloud_logged(&log, &site("blog"), vec![(REGION, clients)]);
    assert!(aws
        .ensure(&lightsail_target(), REGION)
        .await
        .unwrap()
        .is_empty());
    assert!(aws
        .inspect(&lightsail_target(), REGION)
        .await
        .unwrap()
        .iter()
        .all(|c| c.ok));
    assert_eq!(enable.num_calls(), 1, "not enabled twice");
    assert_policy_grants(
        &log,
        &site("blog"),
        IamPurpose::Backup,
        "lightsail_auto_snapshot_addon_is_enabled_once",
    );
}

// ---------------------------------------------------------------- AWS Backup (EFS)

const FS: &str = "fs-0123456789abcdef0";
const VAULT: &str = "wordpress-vault";
const RP: &str = "arn:aws:backup:us-east-1:123456789012:recovery-point:rp-1";
const RP_DR: &str = "arn:aws:backup:us-west-2:123456789012:recovery-point:rp-2";

fn efs_target() -> Target {
    Target::Efs {
        file_system_id: FS.into(),
        vault: VAULT.into(),
        iam_role_arn: "arn:aws:iam::123456789012:role/wpbackup-aws-backup".into(),
    }
}

fn efs_client() -> aws_sdk_efs::Client {
    use aws_sdk_efs::types::{
        FileSystemDescription, FileSystemSize, LifeCycleState, PerformanceMode,
    };
    let describe = mock!(aws_sdk_efs::Client::describe_file_systems).then_output(|| {
        aws_sdk_efs::operation::describe_file_systems::DescribeFileSystemsOutput::builder()
            .file_systems(
                FileSystemDescription::builder()
                    .owner_id("123456789012")
                    .creation_token("wp")
                    .file_system_id(FS)
                    .file_system_arn(format!(
                        "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/{FS}"
                    ))
                    .creation_time(SmithyTime::from_secs(1_790_000_000))
                    .life_cycle_state(LifeCycleState::Available)
                    .number_of_mount_targets(0)
                    .size_in_bytes(FileSystemSize::builder().value(5_000_000).build())
                    .performance_mode(PerformanceMode::GeneralPurpose)
                    .encrypted(true)
                    .set_tags(Some(vec![]))
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let mounts = mock!(aws_sdk_efs::Client::describe_mount_targets).then_output(|| {
        aws_sdk_efs::operation::describe_mount_targets::DescribeMountTargetsOutput::builder()
            .build()
    });
    mock_client!(aws_sdk_efs, RuleMode::MatchAny, &[&describe, &mounts])
}

fn recovery_point(status: RecoveryPointStatus) -> DescribeRecoveryPointOutput {
    DescribeRecoveryPointOutput::builder()
        .recovery_point_arn(RP)
        .backup_vault_name(VAULT)
        .status(status)
        .creation_date(SmithyTime::from_secs(1_795_000_000))
        .backup_size_in_bytes(5_000_000)
        .is_encrypted(true)
        .build()
}

fn list_tags_rule() -> Rule {
    mock!(aws_sdk_backup::Client::list_tags).then_output(|| {
        let mut t: HashMap<String, String> = tags().into_iter().collect();
        t.insert("wpbackup:name".into(), "wpb-shop-files-x".into());
        aws_sdk_backup::operation::list_tags::ListTagsOutput::builder()
            .set_tags(Some(t))
            .build()
    })
}

#[tokio::test]
async fn efs_backup_job_with_idempotency_token_lifecycle_and_tags() {
    let log = CallLog::default();
    let start = mock!(aws_sdk_backup::Client::start_backup_job)
        .match_requests(|r| {
            r.backup_vault_name() == Some(VAULT)
                && r.resource_arn().is_some_and(|a| a.ends_with(FS))
                && r.idempotency_token() == Some("wpb-shop-files-x")
                && r.lifecycle()
                    .and_then(|l| l.delete_after_days())
                    .is_some_and(|d| d > 180)
                && r.recovery_point_tags()
                    .is_some_and(|t| t.get("wpbackup:managed").map(String::as_str) == Some("true"))
        })
        .then_output(|| {
            aws_sdk_backup::operation::start_backup_job::StartBackupJobOutput::builder()
                .backup_job_id("job-1")
                .recovery_point_arn(RP)
                .creation_date(SmithyTime::from_secs(1_795_000_000))
                .build()
        });
    let describe = mock!(aws_sdk_backup::Client::describe_recovery_point)
        .sequence()
        .output(|| recovery_point(RecoveryPointStatus::Creating))
        .output(|| recovery_point(RecoveryPointStatus::Completed))
        .build();
    let mut clients = idle_clients();
    clients.efs = efs_client();
    clients.backup = mock_client!(
        aws_sdk_backup,
        RuleMode::MatchAny,
        &[&start, &describe, &list_tags_rule()]
    );
    let aws = cloud_logged(&log, &site("shop"), vec![(REGION, clients)]);
    let p = aws
        .create_point(&efs_target(), REGION, "wpb-shop-files-x", &tags())
        .await
        .expect("started");
    assert_eq!(
        start.num_calls(),
        1,
        "request carried vault, token, lifecycle and tags"
    );
    assert_eq!(p.provider_id, RP);
    assert_eq!(p.state, PointState::Creating);
    assert_eq!(p.metadata.encrypted, Some(true));
    assert_eq!(
        p.metadata.extra.get("vault").map(String::as_str),
        Some(VAULT)
    );
    assert_eq!(
        aws.describe_point(p.kind, REGION, RP).await.unwrap().state,
        PointState::Creating
    );
    let done = aws.describe_point(p.kind, REGION, RP).await.unwrap();
    assert_eq!(done.state, PointState::Available);
    assert_eq!(
        done.tags.get("wpbackup:name").map(String::as_str),
        Some("wpb-shop-files-x")
    );
    assert_policy_grants(
        &log,
        &site("shop"),
        IamPurpose::Backup,
        "efs_backup_job_with_idempotency_token_lifecycle_and_tags",
    );
}

#[tokio::test]
async fn efs_throttling_then_success_and_not_found() {
    let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    let describe = mock!(aws_sdk_backup::Client::describe_recovery_point)
        .sequence()
        .http_status(400, Some(throttled.to_string()))
        .times(2)
        .output(|| recovery_point(RecoveryPointStatus::Completed))
        .build();
    let mut clients = idle_clients();
    clients.backup = mock_client!(
        aws_sdk_backup,
        RuleMode::MatchAny,
        &[&describe, &list_tags_rule()],
        |c| c.retry_config(fast_retries(3))
    );
    let aws = cloud(&site("shop"), vec![(REGION, clients)]);
    let p = aws
        .describe_point(PointKind::EfsRecoveryPoint, REGION, RP)
        .await
        .expect("retried");
    assert_eq!(p.state, PointState::Available);
    assert_eq!(describe.num_calls(), 3);

    let missing = mock!(aws_sdk_backup::Client::describe_recovery_point).then_error(|| {
        DescribeRecoveryPointError::ResourceNotFoundException(
            aws_sdk_backup::types::error::ResourceNotFoundException::builder()
                .message("no such recovery point")
                .build(),
        )
    });
    let mut clients = idle_clients();
    clients.backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&missing]);
    let aws = cloud(&site("shop"), vec![(REGION, clients)]);
    let e = aws
        .describe_point(PointKind::EfsRecoveryPoint, REGION, RP)
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn efs_existing_point_is_found_by_name_across_pages() {
    let rp = |arn: &str| {
        RecoveryPointByBackupVault::builder()
            .recovery_point_arn(arn)
            .status(RecoveryPointStatus::Completed)
            .build()
    };
    let page1 = mock!(aws_sdk_backup::Client::list_recovery_points_by_backup_vault)
        .match_requests(|r| r.next_token().is_none())
        .then_output(move || {
            aws_sdk_backup::operation::list_recovery_points_by_backup_vault::ListRecoveryPointsByBackupVaultOutput::builder()
                .recovery_points(rp("arn:aws:backup:us-east-1:123456789012:recovery-point:other"))
                .next_token("more")
                .build()
        });
    let page2 = mock!(aws_sdk_backup::Client::list_recovery_points_by_backup_vault)
        .match_requests(|r| r.next_token() == Some("more"))
        .then_output(move || {
            aws_sdk_backup::operation::list_recovery_points_by_backup_vault::ListRecoveryPointsByBackupVaultOutput::builder()
                .recovery_points(rp(RP))
                .build()
        });
    let tags_other = mock!(aws_sdk_backup::Client::list_tags)
        .match_requests(|r| r.resource_arn().is_some_and(|a| a.ends_with(":other")))
        .then_output(|| aws_sdk_backup::operation::list_tags::ListTagsOutput::builder().build());
    let mut clients = idle_clients();
    clients.backup = mock_client!(
        aws_sdk_backup,
        RuleMode::MatchAny,
        &[&page1, &page2, &tags_other, &list_tags_rule()]
    );
    let aws = cloud(&site("shop"), vec![(REGION, clients)]);
    let found = aws
        .find_point(PointKind::EfsRecoveryPoint, REGION, "wpb-shop-files-x")
        .await
        .unwrap();
    assert_eq!(found.map(|p| p.provider_id).as_deref(), Some(RP));
    assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
}

#[tokio::test]
async fn efs_copy_job_goes_to_the_dr_vault() {
    let log = CallLog::default();
    let start = mock!(aws_sdk_backup::Client::start_copy_job)
        .match_requests(|r| {
            r.recovery_point_arn() == Some(RP)
                && r.source_backup_vault_name() == Some(VAULT)
                && r.destination_backup_vault_arn()
                    == Some("arn:aws:backup:us-west-2:123456789012:backup-vault:wordpress-vault-dr")
                && r.idempotency_token() == Some("copy-1")
        })
        .then_output(|| {
            aws_sdk_backup::operation::start_copy_job::StartCopyJobOutput::builder()
                .copy_job_id("cj-1")
                .build()
        });
    let describe = mock!(aws_sdk_backup::Client::describe_copy_job)
        .sequence()
        .output(|| {
            aws_sdk_backup::operation::describe_copy_job::DescribeCopyJobOutput::builder()
                .copy_job(
                    aws_sdk_backup::types::CopyJob::builder()
                        .copy_job_id("cj-1")
                        .build(),
                )
                .build()
        })
        .output(|| {
            aws_sdk_backup::operation::describe_copy_job::DescribeCopyJobOutput::builder()
                .copy_job(
                    aws_sdk_backup::types::CopyJob::builder()
                        .copy_job_id("cj-1")
                        .destination_recovery_point_arn(RP_DR)
                        .build(),
                )
                .build()
        })
        .build();
    let tag = mock!(aws_sdk_backup::Client::tag_resource)
        .match_requests(|r| r.resource_arn() == Some(RP_DR))
        .then_output(|| {
            aws_sdk_backup::operation::tag_resource::TagResourceOutput::builder().build()
        });
    let mut east = idle_clients();
    east.backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&start, &describe]);
    let mut west = idle_clients();
    west.backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&tag]);
    let aws = cloud_logged(&log, &site("shop"), vec![(REGION, east), (DR, west)]);
    let source = wpbackup::cloud::ProviderPoint {
        kind: PointKind::EfsRecoveryPoint,
        region: REGION.into(),
        name: "wpb-shop-files-x".into(),
        provider_id: RP.into(),
        arn: Some(RP.into()),
        state: PointState::Available,
        point_time: chrono::Utc
            .with_ymd_and_hms(2026, 11, 27, 14, 0, 0)
            .unwrap(),
        metadata: Default::default(),
        tags: tags(),
        failure_reason: None,
    };
    let mut copy = super::cloud_contract::dr_copy();
    copy.vault = Some("wordpress-vault-dr".into());
    let p = aws
        .copy_point(&source, &efs_target(), &copy, "copy-1", &tags())
        .await
        .expect("copied");
    assert_eq!(
        (start.num_calls(), describe.num_calls(), tag.num_calls()),
        (1, 2, 1)
    );
    assert_eq!(p.provider_id, RP_DR);
    assert_eq!(p.region, DR);
    assert_eq!(p.point_time, source.point_time);
    assert_policy_grants(
        &log,
        &site("shop"),
        IamPurpose::Backup,
        "efs_copy_job_goes_to_the_dr_vault",
    );
}

#[tokio::test]
async fn lightsail_instance_from_snapshot_and_static_ip_moved() {
    let log = CallLog::default();
    use aws_sdk_lightsail::types::{InstanceState, StaticIp};
    use wpbackup::cloud::{LaunchRequest, ResourceState, Restores};
    use wpbackup::domain::site::EntryPoint;
    let create = mock!(aws_sdk_lightsail::Client::create_instances_from_snapshot)
        .match_requests(|r| {
            r.instance_names() == ["wordpress-restored"]
                && r.instance_snapshot_name() == Some("snap-a")
                && r.bundle_id() == Some("medium_3_0")
                && r.availability_zone() == Some("us-east-1a")
        })
        .then_output(|| aws_sdk_lightsail::operation::create_instances_from_snapshot::CreateInstancesFromSnapshotOutput::builder().build());
    let get = mock!(aws_sdk_lightsail::Client::get_instance)
        .match_requests(|r| r.instance_name() == Some("wordpress-restored"))
        .then_output(|| {
            GetInstanceOutput::builder()
                .instance(
                    Instance::builder()
                        .name("wordpress-restored")
                        .public_ip_address("203.0.113.7")
                        .state(InstanceState::builder().name("running").build())
                        .build(),
                )
                .build()
        });
    let static_ip = mock!(aws_sdk_lightsail::Client::get_static_ip).then_output(|| {
        aws_sdk_lightsail::operation::get_static_ip::GetStaticIpOutput::builder()
            .static_ip(
                StaticIp::builder()
                    .name("StaticIp-1")
                    .is_attached(true)
                    .attached_to("WordPress-1")
                    .build(),
            )
            .build()
    });
    let detach = mock!(aws_sdk_lightsail::Client::detach_static_ip)
        .match_requests(|r| r.static_ip_name() == Some("StaticIp-1"))
        .then_output(|| {
            aws_sdk_lightsail::operation::detach_static_ip::DetachStaticIpOutput::builder().build()
        });
    let attach = mock!(aws_sdk_lightsail::Client::attach_static_ip)
        .match_requests(|r| {
            r.static_ip_name() == Some("StaticIp-1")
                && r.instance_name() == Some("wordpress-restored")
        })
        .then_output(|| {
            aws_sdk_lightsail::operation::attach_static_ip::AttachStaticIpOutput::builder().build()
        });
    let mut clients = idle_clients();
    clients.lightsail = mock_client!(
        aws_sdk_lightsail,
        RuleMode::MatchAny,
        &[&create, &get, &static_ip, &detach, &attach]
    );
    let aws = cloud_logged(&log, &site("blog"), vec![(REGION, clients)]);
    let point = wpbackup::cloud::ProviderPoint {
        kind: PointKind::LightsailSnapshot,
        region: REGION.into(),
        name: "snap-a".into(),
        provider_id: "snap-a".into(),
        arn: None,
        state: PointState::Available,
        point_time: chrono::Utc::now(),
        metadata: wpbackup::domain::model::RestoreMetadata {
            bundle_id: Some("medium_3_0".into()),
            availability_zone: Some("us-east-1a".into()),
            ..Default::default()
        },
        tags: tags(),
        failure_reason: None,
    };
    let req = LaunchRequest {
        name: "wordpress-restored".into(),
        availability_zone: point.metadata.availability_zone.clone(),
        tags: tags(),
        ..Default::default()
    };
    let status = aws.launch_instance(&point, &req).await.expect("created");
    assert_eq!(status.state, ResourceState::Ready);
    assert_eq!(status.address.as_deref(), Some("203.0.113.7"));
    assert_eq!(
        create.num_calls(),
        1,
        "bundle and AZ came from the recorded metadata"
    );

    let entry = EntryPoint::LightsailStaticIp {
        name: "StaticIp-1".into(),
    };
    assert_eq!(
        aws.address_target(&entry, REGION).await.unwrap().as_deref(),
        Some("WordPress-1")
    );
    aws.move_address(&entry, REGION, "wordpress-restored")
        .await
        .expect("moved");
    assert_eq!(
        (detach.num_calls(), attach.num_calls()),
        (1, 1),
        "detach, then attach"
    );
    assert_policy_grants(
        &log,
        &site("blog"),
        IamPurpose::Restore,
        "lightsail_instance_from_snapshot_and_static_ip_moved",
    );
}

#[tokio::test]
async fn efs_restore_job_to_a_new_file_system() {
    let log = CallLog::default();
    use wpbackup::cloud::{ResourceState, Restores};
    let start = mock!(aws_sdk_backup::Client::start_restore_job)
        .match_requests(|r| {
            let m = r.metadata().cloned().unwrap_or_default();
            r.recovery_point_arn() == Some(RP)
                && r.idempotency_token() == Some("restore-1")
                && m.get("newFileSystem").map(String::as_str) == Some("true")
                && m.get("Encrypted").map(String::as_str) == Some("true")
        })
        .then_output(|| {
            aws_sdk_backup::operation::start_restore_job::StartRestoreJobOutput::builder()
                .restore_job_id("rj-1")
                .build()
        });
    let describe = mock!(aws_sdk_backup::Client::describe_restore_job)
        .sequence()
        .output(|| {
            aws_sdk_backup::operation::describe_restore_job::DescribeRestoreJobOutput::builder()
                .restore_job_id("rj-1")
                .status(aws_sdk_backup::types::RestoreJobStatus::Running)
                .build()
        })
        .output(|| {
            aws_sdk_backup::operation::describe_restore_job::DescribeRestoreJobOutput::builder()
                .restore_job_id("rj-1")
                .status(aws_sdk_backup::types::RestoreJobStatus::Completed)
                .created_resource_arn(
                    "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0restored",
                )
                .build()
        })
        .build();
    let mut clients = idle_clients();
    clients.backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&start, &describe]);
    let aws = cloud_logged(&log, &site("shop"), vec![(REGION, clients)]);
    let point = wpbackup::cloud::ProviderPoint {
        kind: PointKind::EfsRecoveryPoint,
        region: REGION.into(),
        name: "wpb-shop-files-x".into(),
        provider_id: RP.into(),
        arn: Some(RP.into()),
        state: PointState::Available,
        point_time: chrono::Utc::now(),
        metadata: wpbackup::domain::model::RestoreMetadata {
            encrypted: Some(true),
            ..Default::default()
        },
        tags: tags(),
        failure_reason: None,
    };
    let job = aws
        .restore_file_system(
            &point,
            "arn:aws:iam::123456789012:role/wpbackup-aws-backup",
            "restore-1",
        )
        .await
        .unwrap();
    assert_eq!(job, "rj-1");
    assert_eq!(start.num_calls(), 1);
    assert_eq!(
        aws.describe_file_system_restore(REGION, &job)
            .await
            .unwrap()
            .state,
        ResourceState::Pending
    );
    let done = aws
        .describe_file_system_restore(REGION, &job)
        .await
        .unwrap();
    assert_eq!(done.state, ResourceState::Ready);
    assert_eq!(done.id, "fs-0restored");
    assert_policy_grants(
        &log,
        &site("shop"),
        IamPurpose::Restore,
        "efs_restore_job_to_a_new_file_system",
    );
}

#[tokio::test]
async fn lightsail_automatic_snapshots_listed_and_promoted_to_manual() {
    use aws_sdk_lightsail::types::AutoSnapshotDetails;
    let list = mock!(aws_sdk_lightsail::Client::get_auto_snapshots)
        .match_requests(|r| r.resource_name() == Some("WordPress-1"))
        .then_output(|| {
            aws_sdk_lightsail::operation::get_auto_snapshots::GetAutoSnapshotsOutput::builder()
                .auto_snapshots(AutoSnapshotDetails::builder().date("2026-11-26").build())
                .auto_snapshots(AutoSnapshotDetails::builder().date("2026-11-27").build())
                .build()
        });
    let copy = mock!(aws_sdk_lightsail::Client::copy_snapshot)
        .match_requests(|r| {
            r.source_resource_name() == Some("WordPress-1")
                && r.restore_date() == Some("2026-11-27")
                && r.target_snapshot_name() == Some("wpb-blog-wordpress-auto-20261127")
        })
        .then_output(|| {
            aws_sdk_lightsail::operation::copy_snapshot::CopySnapshotOutput::builder().build()
        });
    let tag = mock!(aws_sdk_lightsail::Client::tag_resource).then_output(|| {
        aws_sdk_lightsail::operation::tag_resource::TagResourceOutput::builder().build()
    });
    let lookup = mock!(aws_sdk_lightsail::Client::get_instance_snapshot).then_output(|| {
        GetInstanceSnapshotOutput::builder()
            .instance_snapshot(snapshot(
                "wpb-blog-wordpress-auto-20261127",
                InstanceSnapshotState::Pending,
                Some("blog"),
            ))
            .build()
    });
    let client = mock_client!(
        aws_sdk_lightsail,
        RuleMode::MatchAny,
        &[&list, &copy, &tag, &lookup]
    );
    let dates = wpbackup::cloud::aws::lightsail::list_auto_snapshots(&client, "WordPress-1")
        .await
        .unwrap();
    assert_eq!(dates, ["2026-11-26", "2026-11-27"]);
    let p = wpbackup::cloud::aws::lightsail::promote_auto_snapshot(
        &client,
        REGION,
        "WordPress-1",
        "2026-11-27",
        "wpb-blog-wordpress-auto-20261127",
        &tags(),
    )
    .await
    .unwrap();
    assert_eq!((copy.num_calls(), tag.num_calls()), (1, 1));
    assert_eq!(p.state, PointState::Creating);
}
