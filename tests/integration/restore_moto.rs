//! A whole restore plan executed by the engine against moto: Aurora point-in-time restore +
//! instance, AMI → instance wired to the restored cluster by its user data, Elastic IP moved, S3 objects reverted, health
//! check of the restored instance with the site's Host header; then rollback.

use super::aws_moto::{clients, create_site, write_config};
use super::cloud_contract::PRIMARY;
use super::support::assert_policy_grants;
use std::sync::{Arc, Mutex};
use wpbackup::cloud::aws::operations::{CallLog, Purpose as IamPurpose};
use wpbackup::cloud::aws::AwsCloud;
use wpbackup::cloud::{CloudResult, HealthAnswer, HealthProbe, HealthRequest};
use wpbackup::domain::planner::RestoreTo;
use wpbackup::domain::restore_plan::{Action, LaunchInstance, PlanStatus, Purpose};
use wpbackup::engine::restore::{NoProgress, RestoreRequest};
use wpbackup::engine::run::{RunRequest, Trigger};

/// moto's instances serve no HTTP: this double answers 200 and records what was asked.
#[derive(Default)]
struct RecordingProbe(Mutex<Vec<HealthRequest>>);

#[async_trait::async_trait]
impl HealthProbe for RecordingProbe {
    async fn probe(&self, req: &HealthRequest) -> CloudResult<HealthAnswer> {
        self.0.lock().unwrap().push(req.clone());
        Ok(HealthAnswer {
            status: 200,
            peer: req.address.clone().unwrap_or_else(|| "public".into()),
            body: String::new(),
        })
    }
}

async fn object_body(bucket: &str, key: &str) -> String {
    let c = clients(PRIMARY).await;
    let o =
        c.s3.get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    String::from_utf8(o.body.collect().await.unwrap().to_vec()).unwrap()
}

/// Plan a restore or drill of the whole site to `at`, store the plan and execute it.
async fn plan_and_execute(
    engine: &wpbackup::engine::Engine,
    site: &str,
    at: chrono::DateTime<chrono::Utc>,
    purpose: Purpose,
) -> (
    wpbackup::domain::restore_plan::Plan,
    wpbackup::engine::restore::Execution,
) {
    execute_request(
        engine,
        &RestoreRequest {
            site: site.to_string(),
            at,
            to: RestoreTo::Primary,
            only: vec![],
            purpose,
        },
    )
    .await
}

/// Plan what `req` asks for, store the plan and execute it.
async fn execute_request(
    engine: &wpbackup::engine::Engine,
    req: &RestoreRequest,
) -> (
    wpbackup::domain::restore_plan::Plan,
    wpbackup::engine::restore::Execution,
) {
    let plan = engine.prepare_restore(req).await.unwrap();
    let json = serde_json::to_string_pretty(&plan).unwrap();
    engine.store_plan(&plan, &json).await.unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let exec = engine
        .execute_plan(&plan.id, Arc::new(NoProgress), rx)
        .await
        .unwrap();
    (plan, exec)
}

/// Every policy of the site run now, each with its point and its DR copy.
async fn backed_up_with_dr_copies(
    engine: &wpbackup::engine::Engine,
    s: &wpbackup::domain::site::Site,
) {
    let reports = engine
        .run_many(every_policy(s, engine.manual_instant()), 3)
        .await
        .unwrap();
    assert!(
        reports
            .iter()
            .all(|r| r.failure_reason.is_none() && !r.copies.is_empty()),
        "{reports:#?}"
    );
}

/// A run of every policy of the site at `at`, by hand.
fn every_policy(
    s: &wpbackup::domain::site::Site,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<RunRequest> {
    s.policies
        .iter()
        .map(|p| RunRequest {
            site: s.name.clone(),
            policy: p.name.clone(),
            scheduled_for: at,
            trigger: Trigger::Manual,
        })
        .collect()
}

/// A site on moto under a fresh prefix (`<tag><digits>`) and its configuration in a
/// temporary directory (kept while it lives).
async fn moto_site(
    tag: &str,
) -> (
    String,
    super::aws_moto::MotoSite,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let prefix = format!(
        "{tag}{}",
        chrono::Utc::now().timestamp_subsec_nanos() % 1_000_000
    );
    let site = create_site(&prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &site);
    (prefix, site, dir, cfg)
}

/// An engine on the catalog and site of `cfg`, its AWS adapters on moto recording every
/// call they make, health checks answered by a [`RecordingProbe`].
async fn engine_on_moto(
    cfg: &std::path::Path,
) -> (
    wpbackup::engine::Engine,
    wpbackup::domain::site::Site,
    CallLog,
    Arc<RecordingProbe>,
) {
    let (config, _) = wpbackup::config::load(cfg, chrono::Utc::now()).unwrap();
    let catalog = wpbackup::catalog::Catalog::connect(&config.catalog, true)
        .await
        .unwrap();
    let mut engine = wpbackup::engine::Engine::new(config, catalog);
    engine.poll_interval = Some(std::time::Duration::from_millis(100));
    let s = engine.config.sites[0].clone();
    // Every call the adapters make, checked phase by phase against `iam-policy --for`.
    let log = CallLog::default();
    let aws = Arc::new(AwsCloud::with_clients(&s, engine.clock.clone(), {
        let mut m = std::collections::HashMap::new();
        m.insert(PRIMARY.to_string(), clients(PRIMARY).await.recorded(&log));
        m.insert(
            super::cloud_contract::DR.to_string(),
            clients(super::cloud_contract::DR).await.recorded(&log),
        );
        m
    }));
    let probe = Arc::new(RecordingProbe::default());
    engine
        .set_cloud(
            &s.name,
            wpbackup::cloud::Cloud {
                points: aws.clone(),
                settings: aws.clone(),
                restores: aws.clone(),
                probe: probe.clone(),
                web: aws.clone(),
                net: aws.clone(),
                cdn: aws.clone(),
            },
        )
        .await;
    (engine, s, log, probe)
}

/// A CloudFront distribution on moto in front of the site; its id.
async fn create_distribution(c: &wpbackup::cloud::aws::Clients, prefix: &str) -> String {
    use aws_sdk_cloudfront::types::{
        CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, Origin, OriginProtocolPolicy,
        Origins, ViewerProtocolPolicy,
    };
    let origin = Origin::builder()
        .id("web")
        .domain_name(format!("{prefix}.example.com"))
        .custom_origin_config(
            CustomOriginConfig::builder()
                .http_port(80)
                .https_port(443)
                .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let config = DistributionConfig::builder()
        .caller_reference(prefix)
        .comment("wpbackup test")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("web")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let out = c
        .cloudfront
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .unwrap();
    out.distribution().unwrap().id().to_string()
}

#[tokio::test]
async fn a_restore_plan_runs_on_moto_and_rolls_back() {
    let (prefix, site, _dir, cfg) = moto_site("rst").await;
    let c = clients(PRIMARY).await;
    for (k, v) in [("a.jpg", "a-good"), ("b.jpg", "b-good")] {
        c.s3.put_object()
            .bucket(&site.bucket)
            .key(k)
            .body(v.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }

    // The site is behind a CloudFront distribution (on moto).
    let distribution = create_distribution(&c, &prefix).await;
    let text = std::fs::read_to_string(&cfg).unwrap().replacen(
        "policies = \"policies\"\n",
        &format!("policies = \"policies\"\ncloudfront_distribution_id = \"{distribution}\"\n"),
        1,
    );
    std::fs::write(&cfg, text).unwrap();

    let (engine, s, log, probe) = engine_on_moto(&cfg).await;
    let reports = engine
        .run_many(every_policy(&s, engine.manual_instant()), 3)
        .await
        .unwrap();
    assert!(
        reports.iter().all(|r| r.failure_reason.is_none()),
        "{reports:#?}"
    );
    assert_policy_grants(&log, &s, IamPurpose::Backup, "run");

    // T, then the damage: objects overwritten, one deleted, one added.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let t = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 0);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    c.s3.put_object()
        .bucket(&site.bucket)
        .key("a.jpg")
        .body(b"a-DEFACED".to_vec().into())
        .send()
        .await
        .unwrap();
    c.s3.delete_object()
        .bucket(&site.bucket)
        .key("b.jpg")
        .send()
        .await
        .unwrap();
    c.s3.put_object()
        .bucket(&site.bucket)
        .key("spam.html")
        .body(b"spam".to_vec().into())
        .send()
        .await
        .unwrap();

    let (plan, exec) = plan_and_execute(&engine, &s.name, t, Purpose::Restore).await;
    let db = plan
        .components
        .iter()
        .find(|c| c.component == "db")
        .unwrap();
    assert!(
        db.source.starts_with("point-in-time"),
        "inside moto's window: {plan:#?}"
    );
    assert_eq!(exec.status, PlanStatus::Completed, "{exec:#?}");
    assert_policy_grants(&log, &s, IamPurpose::Restore, "restore");
    let out = |k: &str, f: &str| {
        exec.steps
            .iter()
            .find(|s| s.key == k)
            .unwrap()
            .output(f)
            .map(str::to_string)
    };

    // The web instance: launched from the AMI of the point, and the Elastic IP is on it.
    let restored = out("web.launch-instance", "instance").unwrap();
    let inst = c
        .ec2
        .describe_instances()
        .instance_ids(&restored)
        .send()
        .await
        .unwrap();
    let inst = &inst.reservations()[0].instances()[0];
    let ami = plan.steps.iter().find_map(|st| match &st.action {
        Action::LaunchInstance(LaunchInstance { image, .. }) => Some(image.clone()),
        _ => None,
    });
    assert_eq!(inst.image_id().map(str::to_string), ami);
    let eip = c
        .ec2
        .describe_addresses()
        .allocation_ids(&site.allocation_id)
        .send()
        .await
        .unwrap();
    assert_eq!(eip.addresses()[0].instance_id(), Some(restored.as_str()));
    // The health check went to the restored instance with the site's host name.
    let asked = probe.0.lock().unwrap().clone();
    // (its own address, recorded at launch — not the Elastic IP it was given afterwards)
    assert_eq!(asked[0].address, out("web.launch-instance", "address"));
    assert_ne!(asked[0].address.as_deref(), eip.addresses()[0].public_ip());
    assert_eq!(
        asked[0].url,
        format!("https://{prefix}.example.com/wp-login.php")
    );
    assert!(
        asked.iter().any(|r| r.address.is_none()),
        "public verification"
    );

    // The restored server was launched wired to the restored cluster (its user data names
    // the restored endpoint); no rename: the original cluster is untouched and kept.
    let restored_cluster = out("db.restore-cluster", "cluster").unwrap();
    let endpoint = out("db.restore-cluster", "endpoint").unwrap();
    let attr = c
        .ec2
        .describe_instance_attribute()
        .instance_id(&restored)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    let user_data = String::from_utf8(
        aws_smithy_types::base64::decode(attr.user_data().and_then(|v| v.value()).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(
        user_data.contains(&format!("'DB_HOST', '{endpoint}'")),
        "{user_data}"
    );
    assert_eq!(
        out("web.launch-instance", "user_data").as_deref(),
        Some(user_data.as_str())
    );
    assert!(
        plan.steps
            .iter()
            .all(|st| !matches!(st.action, Action::SwapCluster(_))),
        "no rename swap when a web server is wired to the restored cluster"
    );
    let original = c
        .rds
        .describe_db_clusters()
        .db_cluster_identifier(&site.cluster)
        .send()
        .await
        .unwrap();
    assert!(!original.db_clusters()[0]
        .tag_list()
        .iter()
        .any(|t| t.key() == Some("wpbackup:restore-plan")));

    // The next backup protects what serves the site now: the restored cluster.
    let served = engine.catalog.serving(&s.name).await.unwrap();
    let served: std::collections::BTreeMap<_, _> = served
        .iter()
        .map(|a| (a.component.as_str(), a.resource_id.as_str()))
        .collect();
    assert_eq!(served.get("db"), Some(&restored_cluster.as_str()));
    assert_eq!(served.get("web"), Some(&restored.as_str()));
    let report = engine
        .run_policy(&RunRequest {
            site: s.name.clone(),
            policy: "db".into(),
            // Not the minute of the first backups: that name is taken by their snapshot.
            scheduled_for: engine.manual_instant() + chrono::Duration::minutes(1),
            trigger: Trigger::Manual,
        })
        .await
        .unwrap();
    assert_policy_grants(&log, &s, IamPurpose::Backup, "run after the restore");
    let snap = report.point.as_ref().expect("a point").provider_id.clone();
    let snaps = c
        .rds
        .describe_db_cluster_snapshots()
        .db_cluster_snapshot_identifier(&snap)
        .send()
        .await
        .unwrap();
    assert_eq!(
        snaps.db_cluster_snapshots()[0].db_cluster_identifier(),
        Some(restored_cluster.as_str())
    );

    // S3: as of T again, with the damage still in the history.
    assert_eq!(object_body(&site.bucket, "a.jpg").await, "a-good");
    assert_eq!(object_body(&site.bucket, "b.jpg").await, "b-good");
    assert!(c
        .s3
        .head_object()
        .bucket(&site.bucket)
        .key("spam.html")
        .send()
        .await
        .is_err());
    let versions =
        c.s3.list_object_versions()
            .bucket(&site.bucket)
            .prefix("a.jpg")
            .send()
            .await
            .unwrap();
    assert!(versions.versions().len() >= 3, "history kept");

    // CloudFront: one invalidation of exactly the reverted paths, completed before the
    // restore reported success (the step is the plan's last and waits for it).
    let invalidations = c
        .cloudfront
        .list_invalidations()
        .distribution_id(&distribution)
        .send()
        .await
        .unwrap();
    let items = invalidations
        .invalidation_list()
        .map(|l| l.items().to_vec())
        .unwrap_or_default();
    assert_eq!(items.len(), 1, "{items:#?}");
    let step = exec
        .steps
        .iter()
        .find(|s| s.key == "site.invalidate-cdn")
        .unwrap();
    assert_eq!(
        step.outputs.get("invalidations"),
        Some(&serde_json::json!([items[0].id()]))
    );
    let inv = c
        .cloudfront
        .get_invalidation()
        .distribution_id(&distribution)
        .id(items[0].id())
        .send()
        .await
        .unwrap();
    let inv = inv.invalidation().unwrap();
    assert!(inv.status().eq_ignore_ascii_case("completed"), "{inv:?}");
    let mut paths: Vec<String> = inv
        .invalidation_batch()
        .and_then(|b| b.paths())
        .map(|p| p.items().to_vec())
        .unwrap_or_default();
    paths.sort();
    assert_eq!(paths, ["/a.jpg", "/b.jpg", "/spam.html"]);
    assert_eq!(
        plan.steps.last().map(|st| st.key.as_str()),
        Some("site.invalidate-cdn")
    );

    // Rollback: the Elastic IP goes back, and with it what the backups protect.
    let rb = engine
        .rollback_plan(&plan.id, Arc::new(NoProgress))
        .await
        .unwrap();
    assert_eq!(rb.status, PlanStatus::RolledBack, "{rb:#?}");
    assert_policy_grants(&log, &s, IamPurpose::Restore, "rollback");
    let eip = c
        .ec2
        .describe_addresses()
        .allocation_ids(&site.allocation_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        eip.addresses()[0].instance_id(),
        Some(site.instance_id.as_str())
    );
    assert!(engine.catalog.serving(&s.name).await.unwrap().is_empty());

    // A drill to the same instant while production serves: launched in its own security
    // group, checked directly, then torn down (tagged deletes) — production as it was.
    let before = production(&c, &site, None).await;
    probe.0.lock().unwrap().clear();
    let (_, exec) = plan_and_execute(&engine, &s.name, t, Purpose::Drill).await;
    assert_eq!(exec.status, PlanStatus::TornDown, "{exec:#?}");
    assert_policy_grants(&log, &s, IamPurpose::Restore, "drill");
    assert_eq!(
        production(&c, &site, None).await,
        before,
        "production unchanged"
    );
    assert_isolated_and_gone(&c, &exec).await;
    let asked = probe.0.lock().unwrap().clone();
    assert!(
        !asked.is_empty() && asked.iter().all(|r| r.address.is_some()),
        "the drill is asked directly, never through the public address: {asked:#?}"
    );
    assert!(exec.recovery_seconds.is_some());
    staging_up_and_down(&engine, &s, &site, None, t, &log).await;

    // Reading back what the cloud has, and the audit's live controls.
    engine.sync_site(&s).await.unwrap();
    assert_policy_grants(&log, &s, IamPurpose::Audit, "sync");
    engine
        .audit(&wpbackup::engine::audit::AuditRequest {
            site: s.name.clone(),
            as_of: None,
            since_last: false,
            store: false,
        })
        .await
        .unwrap();
    assert_policy_grants(&log, &s, IamPurpose::Audit, "audit");

    // A second run the same day: prune deletes the day's older points (daily keeps the
    // newest of each day).
    engine
        .run_many(every_policy(&s, engine.manual_instant()), 3)
        .await
        .unwrap();
    log.clear();
    let pruned = engine.prune_site(&s, None, false).await.unwrap();
    assert!(
        !pruned.deleted.is_empty() && pruned.failed.is_empty(),
        "the day's older points go: {pruned:#?}"
    );
    assert_policy_grants(&log, &s, IamPurpose::Backup, "prune");
}

/// The reference architecture on moto, end to end through the engine and the AWS
/// adapters: backups of an Auto Scaling group behind an ALB (plus Aurora and S3), a
/// restore to T — a separate group launched from the AMI of T with user data naming the
/// restored cluster, every target checked, the listener switched — the next backup of the
/// restored group, rollback, and a drill torn down; every call granted by `iam-policy`.
/// The moto site's web tier made an Auto Scaling group behind an ALB listener (the
/// reference architecture): the group and listener created, the policy and entry point
/// rewritten to name them.
async fn with_auto_scaling_tier(
    prefix: &str,
    site: &super::aws_moto::MotoSite,
    dir: &std::path::Path,
    cfg: &std::path::Path,
) -> super::web_tier_contract::WebSite {
    let tier = super::web_tier_contract::create_moto_web_tier(prefix).await;
    let text = std::fs::read_to_string(cfg).unwrap().replace(
        &format!("ec2_elastic_ip_allocation = \"{}\"", site.allocation_id),
        &format!("alb_listener_arn = \"{}\"", tier.listener_arn),
    );
    std::fs::write(cfg, text).unwrap();
    let web = dir.join("policies/web.toml");
    let text = std::fs::read_to_string(&web).unwrap();
    let text = text
        .replace("kind = \"ec2-instance\"", "kind = \"auto-scaling-group\"")
        .replace(
            &format!("[ec2]\ninstance_id = \"{}\"", site.instance_id),
            &format!("[auto_scaling]\ngroup_name = \"{}\"", tier.group),
        );
    std::fs::write(&web, text).unwrap();
    tier
}

#[tokio::test]
async fn an_auto_scaling_tier_is_restored_behind_its_listener_on_moto() {
    let (prefix, site, dir, cfg) = moto_site("asg").await;
    let tier = with_auto_scaling_tier(&prefix, &site, dir.path(), &cfg).await;

    let (engine, s, log, probe) = engine_on_moto(&cfg).await;
    let run_all = |at| every_policy(&s, at);
    let reports = engine
        .run_many(run_all(engine.manual_instant()), 3)
        .await
        .unwrap();
    assert!(
        reports.iter().all(|r| r.failure_reason.is_none()),
        "{reports:#?}"
    );
    assert_policy_grants(&log, &s, IamPurpose::Backup, "run");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let t = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 0);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let (plan, exec) = plan_and_execute(&engine, &s.name, t, Purpose::Restore).await;
    assert_eq!(exec.status, PlanStatus::Completed, "{exec:#?}");
    assert_policy_grants(&log, &s, IamPurpose::Restore, "restore");
    let out = |k: &str, f: &str| {
        exec.steps
            .iter()
            .find(|s| s.key == k)
            .unwrap()
            .output(f)
            .map(str::to_string)
    };
    let c = clients(PRIMARY).await;
    // The listener forwards to the restored target group.
    let tg = out("web.launch-group", "target_group").unwrap();
    let listeners = c
        .elbv2
        .describe_listeners()
        .listener_arns(&tier.listener_arn)
        .send()
        .await
        .unwrap();
    let action = &listeners.listeners()[0].default_actions()[0];
    let forwards_to: Vec<String> = action
        .target_group_arn()
        .map(|a| vec![a.to_string()])
        .unwrap_or_else(|| {
            action
                .forward_config()
                .unwrap()
                .target_groups()
                .iter()
                .filter_map(|t| t.target_group_arn().map(str::to_string))
                .collect()
        });
    assert_eq!(forwards_to, vec![tg.clone()]);
    // The restored group: instances from the AMI of T, its template naming the restored
    // cluster's endpoint; the health check asked each of them.
    let group = out("web.launch-group", "group").unwrap();
    let g = c
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&group)
        .send()
        .await
        .unwrap();
    let g = &g.auto_scaling_groups()[0];
    let ami = plan.steps.iter().find_map(|st| match &st.action {
        Action::LaunchGroup(l) => Some(l.image.clone()),
        _ => None,
    });
    let ids: Vec<String> = g
        .instances()
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 2, "{g:?}");
    let described = c
        .ec2
        .describe_instances()
        .set_instance_ids(Some(ids.clone()))
        .send()
        .await
        .unwrap();
    for i in described.reservations().iter().flat_map(|r| r.instances()) {
        assert_eq!(i.image_id().map(str::to_string), ami);
    }
    let lt = g.launch_template().unwrap().launch_template_id().unwrap();
    let versions = c
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(lt)
        .versions("$Default")
        .send()
        .await
        .unwrap();
    let user_data = String::from_utf8(
        aws_smithy_types::base64::decode(
            versions.launch_template_versions()[0]
                .launch_template_data()
                .unwrap()
                .user_data()
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let endpoint = out("db.restore-cluster", "endpoint").unwrap();
    assert!(user_data.contains(&endpoint), "{user_data}");
    let asked: Vec<Option<String>> = probe
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.address.clone())
        .collect();
    assert!(
        asked.iter().filter(|a| a.is_some()).count() >= 2,
        "every target asked directly: {asked:?}"
    );

    // The next backup images an instance of the restored group.
    let next = engine
        .run_policy(&RunRequest {
            site: s.name.clone(),
            policy: "web".into(),
            scheduled_for: engine.manual_instant() + chrono::Duration::minutes(1),
            trigger: Trigger::Schedule,
        })
        .await
        .unwrap();
    assert!(next.failure_reason.is_none(), "{next:?}");
    assert_policy_grants(&log, &s, IamPurpose::Backup, "run after the restore");
    let p = engine
        .catalog
        .point(next.point.as_ref().unwrap().catalog_id)
        .await
        .unwrap()
        .unwrap();
    let settings =
        wpbackup::cloud::web_tier::GroupPointSettings::from_extra(&p.metadata.extra).unwrap();
    assert!(ids.contains(&settings.imaged_instance), "{settings:?}");

    // Rollback: the listener forwards to the original target group again.
    let rb = engine
        .rollback_plan(&plan.id, Arc::new(NoProgress))
        .await
        .unwrap();
    assert_eq!(rb.status, PlanStatus::RolledBack, "{rb:#?}");
    assert_policy_grants(&log, &s, IamPurpose::Restore, "rollback");
    let listeners = c
        .elbv2
        .describe_listeners()
        .listener_arns(&tier.listener_arn)
        .send()
        .await
        .unwrap();
    let action = &listeners.listeners()[0].default_actions()[0];
    assert_ne!(action.target_group_arn(), Some(tg.as_str()));
    assert!(engine.catalog.serving(&s.name).await.unwrap().is_empty());

    // A drill: its own group, checked, torn down; the listener untouched.
    let before = production(&c, &site, Some(&tier.listener_arn)).await;
    let (drill, exec) = plan_and_execute(&engine, &s.name, t, Purpose::Drill).await;
    assert_eq!(exec.status, PlanStatus::TornDown, "{exec:#?}");
    assert_policy_grants(&log, &s, IamPurpose::Restore, "drill");
    assert_eq!(
        production(&c, &site, Some(&tier.listener_arn)).await,
        before,
        "production unchanged"
    );
    assert_isolated_and_gone(&c, &exec).await;
    let drill_group = drill
        .steps
        .iter()
        .find_map(|st| match &st.action {
            Action::LaunchGroup(l) => Some(l.group.clone()),
            _ => None,
        })
        .unwrap();
    let left = c
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&drill_group)
        .send()
        .await
        .unwrap();
    assert!(left.auto_scaling_groups().is_empty(), "{left:?}");
    staging_up_and_down(&engine, &s, &site, Some(&tier.listener_arn), t, &log).await;
}

/// A staging copy of the site at `t` while production serves: up and left up (its
/// instances running in its own security group, listed with where to reach them), then
/// torn down with everything read back gone; production as before, every call granted.
async fn staging_up_and_down(
    engine: &wpbackup::engine::Engine,
    s: &wpbackup::domain::site::Site,
    site: &super::aws_moto::MotoSite,
    listener: Option<&str>,
    t: chrono::DateTime<chrono::Utc>,
    log: &CallLog,
) {
    let c = clients(PRIMARY).await;
    let before = production(&c, site, listener).await;
    let (plan, up) = plan_and_execute(engine, &s.name, t, Purpose::Staging).await;
    assert_eq!(up.status, PlanStatus::Completed, "{up:#?}");
    assert_policy_grants(log, s, IamPurpose::Restore, "staging up");
    assert_eq!(
        production(&c, site, listener).await,
        before,
        "production unchanged by staging up"
    );
    let sg = up
        .steps
        .iter()
        .find(|st| st.key == "staging.isolate")
        .and_then(|st| st.output("security_group"))
        .unwrap()
        .to_string();
    let copies = engine.staging_copies(Some(&s.name), false).await.unwrap();
    let copy = copies.iter().find(|x| x.id == plan.id).expect("listed");
    assert_eq!(copy.state, "up");
    let access = copy.access.as_ref().unwrap();
    assert!(!access.addresses.is_empty(), "{access:?}");
    assert_eq!(access.security_group.as_deref(), Some(sg.as_str()));
    // Up on AWS: its web servers running, in its own security group only.
    let instances: Vec<String> = up
        .steps
        .iter()
        .filter(|st| st.key.ends_with(".launch-instance") || st.key.ends_with(".launch-group"))
        .flat_map(|st| {
            st.output("instance")
                .map(|i| vec![i.to_string()])
                .or_else(|| {
                    st.outputs
                        .get("instances")
                        .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
                })
                .unwrap_or_default()
        })
        .collect();
    assert!(!instances.is_empty());
    let described = c
        .ec2
        .describe_instances()
        .set_instance_ids(Some(instances.clone()))
        .send()
        .await
        .unwrap();
    for i in described.reservations().iter().flat_map(|r| r.instances()) {
        assert_eq!(
            i.state().and_then(|st| st.name()),
            Some(&aws_sdk_ec2::types::InstanceStateName::Running),
            "{i:?}"
        );
        let groups = group_ids(i);
        assert_eq!(groups, [sg.as_str()]);
    }
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let down = engine
        .staging_down(&plan.id, Arc::new(NoProgress), rx)
        .await
        .unwrap();
    assert_eq!(down.status, PlanStatus::TornDown, "{down:#?}");
    assert_policy_grants(log, s, IamPurpose::Restore, "staging down");
    assert_isolated_and_gone(&c, &down).await;
    assert_eq!(
        production(&c, site, listener).await,
        before,
        "production unchanged by staging down"
    );
    assert!(engine
        .staging_copies(Some(&s.name), false)
        .await
        .unwrap()
        .is_empty());
}

/// The security groups an instance is in.
fn group_ids(i: &aws_sdk_ec2::types::Instance) -> Vec<&str> {
    i.security_groups()
        .iter()
        .filter_map(|g| g.group_id())
        .collect()
}

/// Production as the AWS APIs show it: where the Elastic IP points (or the listener
/// forwards), the site's instance (state, security groups), its cluster (status,
/// security groups), its bucket's versions.
async fn production(
    c: &wpbackup::cloud::aws::Clients,
    site: &super::aws_moto::MotoSite,
    listener: Option<&str>,
) -> String {
    let eip = c
        .ec2
        .describe_addresses()
        .allocation_ids(&site.allocation_id)
        .send()
        .await
        .unwrap();
    let inst = c
        .ec2
        .describe_instances()
        .instance_ids(&site.instance_id)
        .send()
        .await
        .unwrap();
    let i = &inst.reservations()[0].instances()[0];
    let cluster = c
        .rds
        .describe_db_clusters()
        .db_cluster_identifier(&site.cluster)
        .send()
        .await
        .unwrap();
    let cl = &cluster.db_clusters()[0];
    let versions =
        c.s3.list_object_versions()
            .bucket(&site.bucket)
            .send()
            .await
            .unwrap();
    let forward = match listener {
        Some(arn) => format!(
            "{:?}",
            c.elbv2
                .describe_listeners()
                .listener_arns(arn)
                .send()
                .await
                .unwrap()
                .listeners()[0]
                .default_actions()
        ),
        None => String::new(),
    };
    format!(
        "eip → {:?}; instance {:?} {:?} {:?}; cluster {:?} {:?} {:?}; {} versions, {} delete markers; listener {forward}",
        eip.addresses()[0].instance_id(),
        i.instance_id(),
        i.state().and_then(|s| s.name()),
        i.security_groups().iter().map(|g| g.group_id()).collect::<Vec<_>>(),
        cl.db_cluster_identifier(),
        cl.status(),
        cl.vpc_security_groups().iter().map(|g| g.vpc_security_group_id()).collect::<Vec<_>>(),
        versions.versions().len(),
        versions.delete_markers().len(),
    )
}

/// Every resource the drill reports, read back through the AWS APIs: instances
/// terminated (and in the drill's own security group only), clusters gone or deleting,
/// the security group gone.
async fn assert_isolated_and_gone(
    c: &wpbackup::cloud::aws::Clients,
    exec: &wpbackup::engine::restore::Execution,
) {
    let sg = exec
        .steps
        .iter()
        .find(|s| s.key.ends_with(".isolate"))
        .and_then(|s| s.output("security_group"))
        .expect("the drill or staging copy made its own security group")
        .to_string();
    assert!(!exec.drill_resources.is_empty());
    for r in &exec.drill_resources {
        assert!(r.deleted && r.gone, "{r:?}");
        match r.kind.as_str() {
            "instance" | "group-instance" => {
                let out = c
                    .ec2
                    .describe_instances()
                    .instance_ids(&r.id)
                    .send()
                    .await
                    .unwrap();
                let i = &out.reservations()[0].instances()[0];
                assert_eq!(
                    i.state().and_then(|s| s.name()),
                    Some(&aws_sdk_ec2::types::InstanceStateName::Terminated),
                    "{r:?}"
                );
                let groups = group_ids(i);
                assert_eq!(groups, [sg.as_str()], "{r:?}: only the drill's group");
            }
            "aurora-cluster" => {
                match c
                    .rds
                    .describe_db_clusters()
                    .db_cluster_identifier(&r.id)
                    .send()
                    .await
                {
                    Err(_) => {}
                    Ok(o) => assert!(
                        o.db_clusters()
                            .iter()
                            .all(|d| d.status() == Some("deleting")),
                        "{r:?}: {o:?}"
                    ),
                }
            }
            "security-group" => {
                assert_eq!(r.id, sg);
                let left = c
                    .ec2
                    .describe_security_groups()
                    .group_ids(&r.id)
                    .send()
                    .await;
                assert!(
                    left.map(|o| o.security_groups().is_empty()).unwrap_or(true),
                    "{r:?} still exists"
                );
            }
            "auto-scaling-group" => {
                let left = c
                    .autoscaling
                    .describe_auto_scaling_groups()
                    .auto_scaling_group_names(&r.id)
                    .send()
                    .await
                    .unwrap();
                assert!(left.auto_scaling_groups().is_empty(), "{r:?}");
            }
            _ => {}
        }
    }
    assert_eq!(
        exec.drill_resources.last().map(|r| r.kind.as_str()),
        Some("security-group"),
        "deleted last"
    );
}

/// The DR region's own network on moto: a VPC with two subnets, security groups for the
/// web server and the database, a DB subnet group. Returns the `[sites.dr_network]` table.
async fn create_dr_network(c: &wpbackup::cloud::aws::Clients, prefix: &str) -> (String, DrIds) {
    let vpc = c
        .ec2
        .create_vpc()
        .cidr_block("10.42.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnets = Vec::new();
    for (i, az) in ["us-west-2a", "us-west-2b"].iter().enumerate() {
        let s = c
            .ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.42.{i}.0/24"))
            .availability_zone(*az)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let group = |name: &'static str| {
        let c = c.clone();
        let vpc = vpc.clone();
        let prefix = prefix.to_string();
        async move {
            c.ec2
                .create_security_group()
                .group_name(format!("{prefix}-{name}"))
                .description("wordpress in the DR region")
                .vpc_id(&vpc)
                .send()
                .await
                .unwrap()
                .group_id()
                .unwrap()
                .to_string()
        }
    };
    let web = group("web").await;
    let db = group("db").await;
    let subnet_group = format!("{prefix}-dr-db");
    c.rds
        .create_db_subnet_group()
        .db_subnet_group_name(&subnet_group)
        .db_subnet_group_description("wordpress in the DR region")
        .set_subnet_ids(Some(subnets.clone()))
        .send()
        .await
        .unwrap();
    let table = format!(
        "[sites.dr_network]\nsubnets = [\"{}\", \"{}\"]\nsecurity_group_ids = [\"{web}\"]\ndb_subnet_group = \"{subnet_group}\"\ndb_security_group_ids = [\"{db}\"]\n",
        subnets[0], subnets[1]
    );
    (
        table,
        DrIds {
            subnet: subnets[0].clone(),
            subnets: subnets.clone(),
            web,
            db,
            subnet_group,
        },
    )
}

struct DrIds {
    subnet: String,
    /// Every subnet of `[sites.dr_network]` (a group spreads over them).
    subnets: Vec<String>,
    web: String,
    db: String,
    subnet_group: String,
}

#[tokio::test]
async fn a_dr_restore_on_moto_uses_the_dr_regions_network_and_adopts_nothing() {
    use super::cloud_contract::DR;
    let (prefix, site, _dir, cfg) = moto_site("drn").await;
    let (engine, s, log, _probe) = engine_on_moto(&cfg).await;
    backed_up_with_dr_copies(&engine, &s).await;
    let request = RestoreRequest {
        site: s.name.clone(),
        at: chrono::Utc::now(),
        to: RestoreTo::Dr,
        only: vec![],
        purpose: Purpose::Restore,
    };
    // Planned without the DR keys: refused, naming them.
    let err = engine
        .prepare_restore(&request)
        .await
        .unwrap_err()
        .to_string();
    for key in [
        "[sites.dr_network]",
        "subnets",
        "db_subnet_group",
        "us-west-2",
    ] {
        assert!(err.contains(key), "{key}: {err}");
    }

    // With them.
    let west = clients(DR).await;
    let (table, ids) = create_dr_network(&west, &prefix).await;
    let text = std::fs::read_to_string(&cfg).unwrap() + &table;
    std::fs::write(&cfg, text).unwrap();
    drop(engine);
    let (engine, s, log2, _probe) = engine_on_moto(&cfg).await;
    let plan = engine.prepare_restore(&request).await.unwrap();
    assert_eq!(plan.region, DR);
    engine
        .store_plan(&plan, &serde_json::to_string_pretty(&plan).unwrap())
        .await
        .unwrap();
    // A cluster of the original's name already in the DR region, not wpbackup's: the
    // restore stops there instead of adopting it.
    west.rds
        .create_db_cluster()
        .db_cluster_identifier(&site.cluster)
        .engine("aurora-mysql")
        .master_username("admin")
        .master_user_password("someone-elses")
        .send()
        .await
        .unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let exec = engine
        .execute_plan(&plan.id, Arc::new(NoProgress), rx.clone())
        .await
        .unwrap();
    assert_eq!(exec.status, PlanStatus::Failed, "{exec:#?}");
    let failure = exec.failure.clone().unwrap_or_default();
    assert!(
        failure.contains("does not adopt") && failure.contains(&site.cluster),
        "{failure}"
    );
    west.rds
        .delete_db_cluster()
        .db_cluster_identifier(&site.cluster)
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
    let exec = engine
        .execute_plan(&plan.id, Arc::new(NoProgress), rx)
        .await
        .unwrap();
    assert_eq!(exec.status, PlanStatus::Completed, "{exec:#?}");
    assert_policy_grants(&log, &s, IamPurpose::Backup, "run");
    assert_policy_grants(&log2, &s, IamPurpose::Restore, "restore --to dr");

    // Every restored resource in the DR network.
    let out = |k: &str, f: &str| {
        exec.steps
            .iter()
            .find(|s| s.key == k)
            .and_then(|s| s.output(f))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{k} {f}: {exec:#?}"))
    };
    let inst = west
        .ec2
        .describe_instances()
        .instance_ids(out("web.launch-instance", "instance"))
        .send()
        .await
        .unwrap();
    let inst = &inst.reservations()[0].instances()[0];
    assert_eq!(inst.subnet_id(), Some(ids.subnet.as_str()));
    let groups = group_ids(inst);
    assert_eq!(groups, [ids.web.as_str()]);
    let cl = west
        .rds
        .describe_db_clusters()
        .db_cluster_identifier(&site.cluster)
        .send()
        .await
        .unwrap();
    let cl = &cl.db_clusters()[0];
    assert_eq!(cl.db_subnet_group(), Some(ids.subnet_group.as_str()));
    let groups: Vec<&str> = cl
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(groups, [ids.db.as_str()]);
    assert!(
        cl.tag_list().iter().any(
            |t| t.key() == Some("wpbackup:restore-plan") && t.value() == Some(plan.id.as_str())
        ),
        "{cl:?}"
    );
}

/// `restore --to dr` of an Auto Scaling tier on moto: the group launched in the DR region
/// from the copy of its AMI, on the DR subnets and security group, in no target group,
/// its instances checked directly; the primary listener untouched; every call granted.
#[tokio::test]
async fn a_dr_restore_of_an_auto_scaling_tier_on_moto_launches_it_on_the_dr_network() {
    use super::cloud_contract::DR;
    let (prefix, site, dir, cfg) = moto_site("drg").await;
    let tier = with_auto_scaling_tier(&prefix, &site, dir.path(), &cfg).await;
    let west = clients(DR).await;
    let (table, ids) = create_dr_network(&west, &prefix).await;
    let text = std::fs::read_to_string(&cfg).unwrap() + &table;
    std::fs::write(&cfg, text).unwrap();
    let (engine, s, log, _probe) = engine_on_moto(&cfg).await;
    backed_up_with_dr_copies(&engine, &s).await;
    let c = clients(PRIMARY).await;
    let before = production(&c, &site, Some(&tier.listener_arn)).await;
    log.clear();
    let (plan, exec) = execute_request(
        &engine,
        &RestoreRequest {
            site: s.name.clone(),
            at: chrono::Utc::now(),
            to: RestoreTo::Dr,
            only: vec![],
            purpose: Purpose::Restore,
        },
    )
    .await;
    assert_eq!(exec.status, PlanStatus::Completed, "{exec:#?}");
    assert_policy_grants(&log, &s, IamPurpose::Restore, "restore --to dr");
    let launch = exec
        .steps
        .iter()
        .find(|st| st.key == "web.launch-group")
        .unwrap();
    assert!(launch.output("target_group").is_none(), "{launch:?}");
    let group = launch.output("group").unwrap();
    let g = west
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .unwrap();
    let g = &g.auto_scaling_groups()[0];
    assert!(g.target_group_arns().is_empty(), "{g:?}");
    let ids_of: Vec<String> = g
        .instances()
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    assert!(!ids_of.is_empty(), "{g:?}");
    let described = west
        .ec2
        .describe_instances()
        .set_instance_ids(Some(ids_of))
        .send()
        .await
        .unwrap();
    let ami = plan.steps.iter().find_map(|st| match &st.action {
        Action::LaunchGroup(l) => Some(l.image.clone()),
        _ => None,
    });
    for i in described.reservations().iter().flat_map(|r| r.instances()) {
        assert_eq!(i.image_id().map(str::to_string), ami, "the DR copy's AMI");
        assert!(
            i.subnet_id()
                .is_some_and(|x| ids.subnets.iter().any(|s| s == x)),
            "{i:?}"
        );
        let groups = group_ids(i);
        assert_eq!(groups, [ids.web.as_str()]);
    }
    let manual = exec
        .steps
        .iter()
        .find(|st| st.key == "site.manual")
        .unwrap();
    assert!(
        manual.output("instruction").unwrap().contains(group),
        "{manual:?}"
    );
    assert_eq!(
        production(&c, &site, Some(&tier.listener_arn)).await,
        before,
        "the primary listener untouched"
    );
}
