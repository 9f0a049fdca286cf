//! The web-tier port's contract, run against the simulator and against the AWS adapter on
//! moto: read the site's Auto Scaling group, its launch template and target group; build a
//! separate restored stack (a new launch template with its own user data, a target group
//! with the same health-check settings, a group of two); its targets become healthy; the
//! listener is switched and put back; deletions refuse what wpbackup did not create.

use super::cloud_contract::PRIMARY;
use std::sync::Arc;
use std::time::Duration;
use wpbackup::cloud::web_tier::{Forward, GroupPointSettings, GroupRequest, WebTiers};
use wpbackup::cloud::{CloudErrorKind, CloudResult, RecoveryPoints, ResourceState, Restores, Tags};
use wpbackup::domain::model::{PointKind, PointState};
use wpbackup::domain::policy::Target;

/// A site's web tier as the operator built it.
pub struct WebSite {
    pub group: String,
    pub listener_arn: String,
    pub image: String,
}

fn managed_tags(site: &str) -> Tags {
    [
        ("wpbackup:managed", "true"),
        ("wpbackup:site", site),
        ("wpbackup:restore-plan", "rp-contract"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Ask again (ticking the simulator's clock) until `check` accepts the answer.
async fn eventually<T, F, Fut>(
    what: &str,
    f: F,
    check: impl Fn(&T) -> bool,
    tick: &(dyn Fn() + Sync),
) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = CloudResult<T>>,
    T: std::fmt::Debug,
{
    let mut last = None;
    for _ in 0..100 {
        tick();
        let v = f().await.unwrap_or_else(|e| panic!("{what}: {e}"));
        if check(&v) {
            return v;
        }
        last = Some(v);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: never as expected; last answer {last:?}")
}

pub async fn web_tier_contract(
    web: &dyn WebTiers,
    restores: &dyn Restores,
    site: &str,
    original: &WebSite,
    tick: &(dyn Fn() + Sync),
) {
    let unique = std::process::id();
    // The original: its template, its target group, its listener.
    let group = eventually(
        "the original group",
        || web.describe_group(PRIMARY, &original.group),
        |g| !g.instances.is_empty() && g.instances.iter().all(|i| i.in_service()),
        tick,
    )
    .await;
    assert!(group.desired_capacity >= 1 && group.max_size >= group.min_size);
    assert!(!group.subnets.is_empty(), "{group:?}");
    let template = group.launch_template.clone().expect("a launch template");
    let data = web
        .launch_template_data(PRIMARY, &template.id, &template.version)
        .await
        .unwrap();
    assert_eq!(data.image_id.as_deref(), Some(original.image.as_str()));
    let original_tg = group.target_group_arns[0].clone();
    let tg_info = web
        .describe_target_group(PRIMARY, &original_tg)
        .await
        .unwrap();
    let forward = web
        .listener_forward(PRIMARY, &original.listener_arn)
        .await
        .unwrap();
    assert_eq!(
        forward
            .iter()
            .map(|f| f.target_group_arn.as_str())
            .collect::<Vec<_>>(),
        [original_tg.as_str()]
    );

    // A restored stack: a new template with its own user data (idempotent on the name) …
    let tags = managed_tags(site);
    let mut restored_data = data.clone();
    restored_data.user_data = Some(format!("#!/bin/bash\necho 'fs-restored{unique}:/ /var/www/html efs _netdev,tls 0 0' >> /etc/fstab\n"));
    let lt_name = format!("{site}-web-r{unique}");
    let lt = web
        .create_launch_template(PRIMARY, &lt_name, &restored_data, &tags)
        .await
        .unwrap();
    assert_eq!(
        web.create_launch_template(PRIMARY, &lt_name, &restored_data, &tags)
            .await
            .unwrap(),
        lt,
        "creating a launch template is idempotent on its name"
    );
    let read_back = web
        .launch_template_data(PRIMARY, &lt, "$Default")
        .await
        .unwrap();
    assert_eq!(read_back.user_data, restored_data.user_data);
    assert_eq!(read_back.image_id, data.image_id);
    // … a target group with the original's health-check settings …
    let tg_name = format!("wpb-r{unique}");
    let tg = web
        .create_target_group(PRIMARY, &tg_name, &tg_info, &tags)
        .await
        .unwrap();
    assert_eq!(
        web.create_target_group(PRIMARY, &tg_name, &tg_info, &tags)
            .await
            .unwrap(),
        tg
    );
    let new_info = web.describe_target_group(PRIMARY, &tg).await.unwrap();
    assert_eq!(new_info.health_check_path, tg_info.health_check_path);
    assert_eq!(new_info.protocol, tg_info.protocol);
    assert_eq!(new_info.port, tg_info.port);
    assert_eq!(new_info.vpc_id, tg_info.vpc_id);
    // … and a group of two in it.
    let req = GroupRequest {
        name: format!("{site}-web-r{unique}"),
        launch_template_id: lt.clone(),
        min_size: 2,
        max_size: 4,
        desired_capacity: 2,
        subnets: group.subnets.clone(),
        target_group_arns: vec![tg.clone()],
        health_check_type: Some("ELB".into()),
        health_check_grace_period: Some(60),
        tags: tags.clone(),
    };
    web.create_group(PRIMARY, &req).await.unwrap();
    web.create_group(PRIMARY, &req).await.expect("idempotent");
    let restored = eventually(
        "the restored group",
        || web.describe_group(PRIMARY, &req.name),
        |g| g.instances.len() == 2 && g.instances.iter().all(|i| i.in_service()),
        tick,
    )
    .await;
    let mut members: Vec<String> = restored.instances.iter().map(|i| i.id.clone()).collect();
    members.sort();
    for i in &restored.instances {
        assert!(
            !group.instances.iter().any(|o| o.id == i.id),
            "new instances"
        );
    }
    let health = eventually(
        "the restored targets",
        || web.target_health(PRIMARY, &tg),
        |h| h.len() == 2 && h.iter().all(|t| t.state == "healthy"),
        tick,
    )
    .await;
    let mut targets: Vec<String> = health.iter().map(|t| t.instance.clone()).collect();
    targets.sort();
    assert_eq!(
        targets, members,
        "the group's instances are the target group's targets"
    );
    for i in &members {
        let st = restores
            .describe_instance(PointKind::Ec2Ami, PRIMARY, i)
            .await
            .unwrap();
        assert_eq!(st.state, ResourceState::Ready, "{st:?}");
        assert!(st.address.is_some(), "{st:?}");
    }

    // The cutover and its rollback: the listener forwards to the restored group, then back.
    let to = [Forward {
        target_group_arn: tg.clone(),
        weight: None,
    }];
    web.set_listener_forward(PRIMARY, &original.listener_arn, &to)
        .await
        .unwrap();
    assert_eq!(
        web.listener_forward(PRIMARY, &original.listener_arn)
            .await
            .unwrap(),
        to
    );
    web.set_listener_forward(PRIMARY, &original.listener_arn, &forward)
        .await
        .unwrap();
    assert_eq!(
        web.listener_forward(PRIMARY, &original.listener_arn)
            .await
            .unwrap(),
        forward
    );

    // What wpbackup did not create is never deleted; what it created is.
    let refused = |r: CloudResult<()>, what: &str| {
        assert!(
            r.as_ref().is_err_and(|e| e.kind == CloudErrorKind::Invalid),
            "{what}: {r:?}"
        )
    };
    refused(
        web.delete_group(PRIMARY, &original.group).await,
        "the original group",
    );
    refused(
        web.delete_target_group(PRIMARY, &original_tg).await,
        "the original target group",
    );
    refused(
        web.delete_launch_template(PRIMARY, &template.id).await,
        "the original template",
    );
    web.delete_group(PRIMARY, &req.name).await.unwrap();
    eventually(
        "the restored group gone",
        || async {
            Ok(web
                .describe_group(PRIMARY, &req.name)
                .await
                .is_err_and(|e| e.kind == CloudErrorKind::NotFound))
        },
        |gone| *gone,
        tick,
    )
    .await;
    web.delete_target_group(PRIMARY, &tg).await.unwrap();
    web.delete_launch_template(PRIMARY, &lt).await.unwrap();
    assert!(web
        .describe_target_group(PRIMARY, &tg)
        .await
        .is_err_and(|e| e.kind == CloudErrorKind::NotFound));
    // The original is untouched.
    let after = web.describe_group(PRIMARY, &original.group).await.unwrap();
    assert_eq!(after.instances.len(), group.instances.len());
}

/// A point of the group: an AMI of one of its InService instances, recording the group's
/// launch template data, size, subnets and target group settings as of now.
pub async fn group_point_contract(
    points: &dyn RecoveryPoints,
    web: &dyn WebTiers,
    site: &str,
    original: &WebSite,
    tick: &(dyn Fn() + Sync),
) {
    let target = Target::AutoScalingGroup {
        group_name: original.group.clone(),
        no_reboot: true,
        launch: Default::default(),
    };
    let group = web.describe_group(PRIMARY, &original.group).await.unwrap();
    let name = format!("wpb-{site}-web-{}", std::process::id());
    let p = points
        .create_point(&target, PRIMARY, &name, &managed_tags(site))
        .await
        .unwrap();
    assert_eq!(p.kind, PointKind::Ec2Ami);
    let settings = GroupPointSettings::from_extra(&p.metadata.extra).expect("group settings");
    assert!(
        group
            .instances
            .iter()
            .any(|i| i.id == settings.imaged_instance),
        "{settings:?}"
    );
    assert_eq!(
        settings.launch_template.image_id.as_deref(),
        Some(original.image.as_str())
    );
    assert!(settings.launch_template.user_data.is_some());
    assert_eq!(
        (
            settings.min_size,
            settings.max_size,
            settings.desired_capacity
        ),
        (group.min_size, group.max_size, group.desired_capacity)
    );
    assert_eq!(settings.subnets, group.subnets);
    assert_eq!(
        settings.target_group.map(|t| t.arn),
        group.target_group_arns.first().cloned()
    );
    // The AMI becomes available like any other.
    tick();
    let done = eventually(
        "the group's AMI",
        || points.describe_point(p.kind, PRIMARY, &p.provider_id),
        |d| d.state == PointState::Available,
        tick,
    )
    .await;
    assert_eq!(done.provider_id, p.provider_id);
}

#[tokio::test]
async fn simulator_honours_the_web_tier_contract() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(wpbackup::domain::time::ManualClock::new(
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 27, 14, 0, 0).unwrap(),
    ));
    let sim = wpbackup::cloud::sim::SimCloud::new(
        &dir.path().join("sim.json"),
        clock.clone(),
        Duration::from_secs(120),
    );
    let original = WebSite {
        group: "shop-web".into(),
        listener_arn: "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/shop/1/1"
            .into(),
        image: "ami-0original".into(),
    };
    sim.seed_web_tier(
        PRIMARY,
        &original.group,
        &original.listener_arn,
        &original.image,
        Some("#!/bin/bash\necho original\n".into()),
        2,
        &["subnet-a".to_string(), "subnet-b".to_string()],
    )
    .unwrap();
    let c = clock.clone();
    let tick = move || c.advance(Duration::from_secs(61));
    group_point_contract(&sim, &sim, "shop", &original, &tick).await;
    web_tier_contract(&sim, &sim, "shop", &original, &tick).await;
}

/// The reference architecture's web tier built in moto by the SDK directly (not by
/// wpbackup): a launch template with user data, a target group, an ALB in two subnets with
/// a listener forwarding to it, and an Auto Scaling group of two in it.
pub async fn create_moto_web_tier(prefix: &str) -> WebSite {
    use aws_sdk_autoscaling::types as asg;
    use aws_sdk_ec2::types as ec2;
    use aws_sdk_elasticloadbalancingv2::types as elb;
    let c = super::aws_moto::clients(PRIMARY).await;
    let vpcs = c.ec2.describe_vpcs().send().await.unwrap();
    let vpc = vpcs
        .vpcs()
        .iter()
        .find(|v| v.is_default() == Some(true))
        .and_then(|v| v.vpc_id())
        .expect("moto has a default VPC")
        .to_string();
    let subnets = c
        .ec2
        .describe_subnets()
        .filters(ec2::Filter::builder().name("vpc-id").values(&vpc).build())
        .send()
        .await
        .unwrap();
    let subnets: Vec<String> = subnets
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_id())
        .take(2)
        .map(str::to_string)
        .collect();
    assert_eq!(subnets.len(), 2, "two subnets in the default VPC");
    let images = c
        .ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap();
    let image = images.images()[0].image_id().unwrap().to_string();
    let lt = c
        .ec2
        .create_launch_template()
        .launch_template_name(format!("{prefix}-lt"))
        .launch_template_data(
            ec2::RequestLaunchTemplateData::builder()
                .image_id(&image)
                .instance_type(ec2::InstanceType::T3Micro)
                .user_data(aws_smithy_types::base64::encode(
                    "#!/bin/bash\necho 'fs-0original:/ /var/www/html efs _netdev,tls 0 0' >> /etc/fstab\n",
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let lt = lt
        .launch_template()
        .unwrap()
        .launch_template_id()
        .unwrap()
        .to_string();
    let tg = c
        .elbv2
        .create_target_group()
        .name(format!("{prefix}-tg"))
        .protocol(elb::ProtocolEnum::Http)
        .port(80)
        .vpc_id(&vpc)
        .health_check_path("/wp-login.php")
        .target_type(elb::TargetTypeEnum::Instance)
        .send()
        .await
        .unwrap();
    let tg = tg.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    let lb = c
        .elbv2
        .create_load_balancer()
        .name(format!("{prefix}-alb"))
        .set_subnets(Some(subnets.clone()))
        .send()
        .await
        .unwrap();
    let lb = lb.load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    let listener = c
        .elbv2
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(elb::ProtocolEnum::Http)
        .port(80)
        .default_actions(
            elb::Action::builder()
                .r#type(elb::ActionTypeEnum::Forward)
                .target_group_arn(&tg)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let listener = listener.listeners()[0].listener_arn().unwrap().to_string();
    let group = format!("{prefix}-asg");
    c.autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name(&group)
        .launch_template(
            asg::LaunchTemplateSpecification::builder()
                .launch_template_id(&lt)
                .version("$Default")
                .build(),
        )
        .min_size(2)
        .max_size(4)
        .desired_capacity(2)
        .vpc_zone_identifier(subnets.join(","))
        .target_group_arns(&tg)
        .send()
        .await
        .unwrap();
    WebSite {
        group,
        listener_arn: listener,
        image,
    }
}

#[tokio::test]
async fn aws_web_tier_honours_the_contract_on_moto() {
    let prefix = super::aws_moto::unique("wt");
    let original = create_moto_web_tier(&prefix).await;
    let sb = super::support::Sandbox::new();
    let (config, _) = wpbackup::config::load(&sb.config(), chrono::Utc::now()).unwrap();
    let site = config.site("shop").unwrap().clone();
    let mut map = std::collections::HashMap::new();
    map.insert(PRIMARY.to_string(), super::aws_moto::clients(PRIMARY).await);
    let aws = wpbackup::cloud::aws::AwsCloud::with_clients(
        &site,
        Arc::new(wpbackup::domain::time::SystemClock),
        map,
    );
    web_tier_contract(&aws, &aws, &prefix, &original, &|| {}).await;
    group_point_contract(&aws, &aws, &prefix, &original, &|| {}).await;
}
