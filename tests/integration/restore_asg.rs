//! The reference architecture restored (the sandbox's `news`: an Auto Scaling group behind
//! an ALB listener, Aurora, EFS, S3), through the binary: a plugin broken on EFS and a row
//! changed in the database, `restore --at` before it — a separate group wired to the
//! restored data, every target checked, the listener switched — killed mid-way and resumed,
//! proven by content served through the listener; the next backups protect the restored
//! tier; rollback switches the listener back. Also: a drill, and a tier wired to the
//! damaged data that never receives traffic.

use super::restore::{
    apply_killed_mid_way, backed_up_then_on, content_of, next_scheduled_runs_of, sim_state,
    steps_by_key,
};
use crate::support::Sandbox;
use serde_json::Value;

const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/news/50dc6c495c0c9188/f2f7dc8efc522ab2";

/// The target groups the sandbox's listener forwards to.
fn listener_forward(s: &Sandbox) -> Vec<String> {
    sim_state(s)["web"]["listeners"][LISTENER]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["target_group_arn"].as_str().unwrap().to_string())
        .collect()
}

fn damaged(v: &Value) -> bool {
    v["content"]["summary"]
        .as_str()
        .unwrap()
        .contains("DAMAGED")
}

#[test]
fn the_reference_architecture_is_restored_wired_checked_and_switched_at_its_listener() {
    let (s, t) = backed_up_then_on(
        "news",
        &[
            (
                "files",
                "plugin upgrade: fatal error in wp-content/plugins/cart",
            ),
            ("db", "wp_options.siteurl changed to a spam domain"),
        ],
    );
    let original_forward = listener_forward(&s);
    assert_eq!(original_forward.len(), 1);
    assert!(
        damaged(&content_of(&s, "news", "web", None)),
        "the live tier serves the damage"
    );

    // Reviewed: a separate group wired to the restored data; no rename swap.
    let plan_path = s.path().join("news-plan.json");
    let out = s
        .wpb()
        .args(["restore", "--site", "news", "--at", &t, "--out"])
        .arg(&plan_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for expected in [
        "web.launch-group  after: db.create-cluster-instance, db.restore-cluster, files.restore-file-system",
        "autoscaling:CreateAutoScalingGroup",
        "elasticloadbalancing:DescribeTargetHealth until every target is healthy",
        "site.switch-listener",
        "| echo '<file_system from files.restore-file-system>:/ /var/www/html efs _netdev,tls 0 0' >> /etc/fstab",
        "<endpoint from db.restore-cluster>",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(!text.contains("swap-cluster"), "{text}");
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&plan_path).unwrap()).unwrap();
    let id = plan["id"].as_str().unwrap().to_string();

    // Killed mid-way, resumed: done steps are not redone.
    apply_killed_mid_way(&s, &plan_path, &id);
    let (_, show) = s.json(&["restore", "show", &id]);
    assert_eq!(show["status"], "executing", "{show:#}");
    assert_eq!(
        steps_by_key(&show)["site.switch-listener"]["state"],
        "pending"
    );
    assert_eq!(
        listener_forward(&s),
        original_forward,
        "nothing cut over yet"
    );
    let (code, exec) = s.json(&["restore", "resume", &id, "--yes"]);
    assert_eq!(code, 0, "{exec:#}");
    assert_eq!(exec["status"], "completed");
    let (_, show) = s.json(&["restore", "show", &id]);
    let steps = steps_by_key(&show);

    // The restored group: from the AMI of T, its user data naming the restored data.
    let group = &steps["web.launch-group"]["outputs"];
    let fs = steps["files.restore-file-system"]["outputs"]["file_system"]
        .as_str()
        .unwrap();
    let endpoint = steps["db.restore-cluster"]["outputs"]["endpoint"]
        .as_str()
        .unwrap();
    let user_data = group["user_data"].as_str().unwrap();
    assert!(
        user_data.contains(&format!("{fs}:/ /var/www/html efs _netdev,tls")),
        "{user_data}"
    );
    assert!(
        user_data.contains(&format!("'DB_HOST', '{endpoint}'")),
        "{user_data}"
    );
    let state = sim_state(&s);
    let instances: Vec<&str> = group["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert_eq!(instances.len(), 2, "the size of T");
    for i in &instances {
        let r = &state["resources"][format!("us-east-1/{i}")];
        assert_eq!(r["user_data"].as_str(), Some(user_data), "{r:#}");
        assert_eq!(r["tags"]["wpbackup:restore-plan"], Value::from(id.clone()));
    }
    // Every target was checked, before the listener moved.
    let answers = steps["site.health-check"]["outputs"]["answers"]
        .as_array()
        .unwrap();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(
        steps["site.health-check"]["finished_at"].as_str().unwrap()
            <= steps["site.switch-listener"]["started_at"]
                .as_str()
                .unwrap()
    );
    let tg = group["target_group"].as_str().unwrap();
    assert_eq!(listener_forward(&s), vec![tg.to_string()]);
    assert_eq!(
        steps["site.switch-listener"]["outputs"]["previous"][0]["target_group_arn"],
        Value::from(original_forward[0].clone())
    );

    // Through the listener: the data of T, served by the restored tier.
    let web = content_of(&s, "news", "web", None);
    assert!(!damaged(&web), "{web:#}");
    let served = web["content"]["summary"].as_str().unwrap();
    assert!(served.contains(&format!("wired to efs {fs}")), "{served}");
    let files = content_of(&s, "news", "files", None);
    assert_eq!(
        files["content"]["digest"],
        content_of(&s, "news", "files", Some(&t))["content"]["digest"]
    );

    // The next backups protect the restored group, file system and cluster.
    next_scheduled_runs_of(&s, "news", &["web", "files", "db"]);
    let restored_group = group["group"].as_str().unwrap();
    let restored_cluster = steps["db.restore-cluster"]["outputs"]["cluster"]
        .as_str()
        .unwrap();
    let points = sim_state(&s)["points"].clone();
    for resource in [restored_group, fs, restored_cluster] {
        assert!(
            points
                .as_object()
                .unwrap()
                .values()
                .any(|p| p["resource"] == resource && p["region"] == "us-east-1"),
            "no point of {resource}"
        );
    }

    // Rollback: the listener forwards to the original group again, backups with it.
    let (code, rb) = s.json(&["restore", "rollback", &id, "--yes"]);
    assert_eq!(code, 0, "{rb:#}");
    assert_eq!(listener_forward(&s), original_forward);
    assert!(damaged(&content_of(&s, "news", "web", None)));
    let (_, pts) = s.json(&["points", "--site", "news"]);
    assert_eq!(pts["serving"], Value::Array(vec![]), "{pts:#}");
}

#[test]
fn a_drill_of_the_reference_architecture_tears_its_group_down() {
    let s = Sandbox::as_shipped();
    s.wpb().args(["run", "--all"]).assert().success();
    let before = listener_forward(&s);
    let (code, exec) = s.json(&["drill", "--site", "news"]);
    assert_eq!(code, 0, "{exec:#}");
    assert_eq!(exec["status"], "torn-down");
    let steps: std::collections::BTreeMap<String, Value> = exec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| (st["key"].as_str().unwrap().to_string(), st.clone()))
        .collect();
    let group = steps["web.launch-group"]["outputs"]["group"]
        .as_str()
        .unwrap();
    let deleted = steps["drill.teardown"]["outputs"]["deleted"].to_string();
    assert!(deleted.contains(group), "{deleted}");
    let web = &sim_state(&s)["web"];
    assert!(
        !web["groups"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.ends_with(group)),
        "the drill's group is gone"
    );
    assert!(
        !web["target_groups"]
            .as_object()
            .unwrap()
            .values()
            .any(|t| t["tags"]["wpbackup:restore-plan"] == exec["plan_id"]),
        "the drill's target group is gone"
    );
    assert_eq!(
        listener_forward(&s),
        before,
        "a drill never touches the listener"
    );
    // In no target group (no load balancer can send it traffic), its instances in the
    // drill's own security group and asked directly.
    let launch = &steps["web.launch-group"];
    assert!(launch["outputs"]["target_group"].is_null(), "{launch:#}");
    let sg = steps["drill.isolate"]["outputs"]["security_group"]
        .as_str()
        .unwrap();
    let instances = launch["outputs"]["instances"].as_array().unwrap().clone();
    assert!(!instances.is_empty());
    let state = sim_state(&s);
    for i in &instances {
        let r = state["resources"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.ends_with(i.as_str().unwrap()))
            .map(|(_, r)| r.clone())
            .unwrap();
        assert_eq!(r["security_groups"], serde_json::json!([sg]), "{r:#}");
        assert_eq!(r["deleted"], true);
    }
    let checked = steps["site.health-check"]["outputs"]["targets"].clone();
    assert_eq!(
        checked,
        Value::Array(instances),
        "each instance asked directly"
    );
    let report = exec["drill_resources"].as_array().unwrap();
    assert!(report.iter().all(|r| r["gone"] == true), "{report:#?}");
    assert!(report
        .iter()
        .any(|r| r["kind"] == "auto-scaling-group" && r["id"] == group));
}

#[test]
fn a_tier_wired_to_the_damaged_files_never_receives_traffic() {
    let s = Sandbox::as_shipped();
    s.wpb().args(["run", "--all"]).assert().success();
    let before = listener_forward(&s);
    s.wpb()
        .args(["sim", "damage", "--site", "news", "--component", "files"])
        .assert()
        .success();
    // A template that mounts the original (damaged) file system, whatever is restored.
    s.edit(
        "policies/news/web.toml",
        "[restore]",
        "[restore]\nuser_data = \"echo 'fs-0abcdef0123456789:/ {{mount_path}} efs _netdev,tls 0 0' >> /etc/fstab\"",
    );
    let (code, exec) = s.json(&[
        "restore",
        "--site",
        "news",
        "--at",
        "now",
        "--execute",
        "--yes",
    ]);
    assert_eq!(code, 2, "{exec:#}");
    let failure = exec["failure"].as_str().unwrap();
    assert!(
        failure.contains("site.health-check")
            && failure.contains("unhealthy")
            && failure.contains("nothing was cut over"),
        "{failure}"
    );
    assert_eq!(listener_forward(&s), before);
}

/// A staging copy of the reference architecture: its own group in no target group (no load
/// balancer sends it traffic), every instance health-checked directly and printed as where
/// to reach it; the listener never changes; `staging down` removes the group and all it made.
#[test]
fn a_staging_copy_of_the_reference_architecture_stays_off_the_listener_and_comes_down() {
    let s = Sandbox::as_shipped();
    s.wpb().args(["run", "--all"]).assert().success();
    let before = listener_forward(&s);
    let out = s
        .wpb()
        .args(["staging", "up", "--site", "news"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, list) = s.json(&["staging", "list", "--site", "news"]);
    let copy = list["staging"][0].clone();
    let id = copy["id"].as_str().unwrap().to_string();
    assert_eq!(copy["state"], "up", "{copy:#}");
    let (_, show) = s.json(&["restore", "show", &id]);
    let steps = steps_by_key(&show);
    let launch = &steps["web.launch-group"];
    assert!(launch["outputs"]["target_group"].is_null(), "{launch:#}");
    let group = launch["outputs"]["group"].as_str().unwrap().to_string();
    let addresses = steps["site.health-check"]["outputs"]["addresses"].clone();
    assert_eq!(
        addresses.as_array().unwrap().len(),
        launch["outputs"]["instances"].as_array().unwrap().len()
    );
    assert_eq!(copy["access"]["addresses"], addresses);
    let first = addresses[0].as_str().unwrap();
    assert!(
        text.contains(&format!("curl --resolve 'news.example.com:443:{first}'")),
        "{text}"
    );
    assert!(
        text.contains(&format!("wpbackup staging down {id}")),
        "{text}"
    );
    assert_eq!(
        listener_forward(&s),
        before,
        "staging up never touches the listener"
    );

    let (code, down) = s.json(&["staging", "down", &id]);
    assert_eq!(code, 0, "{down:#}");
    let report = down["execution"]["drill_resources"].as_array().unwrap();
    assert!(report
        .iter()
        .any(|r| r["kind"] == "auto-scaling-group" && r["id"] == group.as_str()));
    assert!(report.iter().all(|r| r["gone"] == true), "{report:#?}");
    let web = &sim_state(&s)["web"];
    assert!(
        !web["groups"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.ends_with(&group)),
        "the staging group is gone"
    );
    assert_eq!(
        listener_forward(&s),
        before,
        "staging down never touches the listener"
    );
}

const NEWS_DR_NETWORK: &str = "[sites.dr_network]
subnets = [\"subnet-0sim0dr01\", \"subnet-0sim0dr02\"]
security_group_ids = [\"sg-0sim0drweb\"]
db_subnet_group = \"wp-db-subnets-dr\"
db_security_group_ids = [\"sg-0sim0drdb\"]
file_system_security_group_ids = [\"sg-0sim0drnfs\"]
";

/// `restore --to dr` of the reference architecture: refused without the DR network (naming
/// the keys the group needs), then with it — the group launched from the DR copy of its AMI
/// on the DR subnets and security groups, in no target group (the primary's listener does
/// not serve the DR region), each instance checked directly, and the last step by hand
/// naming the group and where its instances answer. The primary listener is untouched.
#[test]
fn a_dr_restore_of_the_reference_architecture_launches_its_group_on_the_dr_network() {
    let s = Sandbox::as_shipped();
    s.wpb().args(["run", "--all"]).assert().success();
    let dr = ["restore", "--site", "news", "--at", "now", "--to", "dr"];
    let out = s.wpb().args(dr).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{err}");
    for says in [
        "[sites.dr_network]",
        "subnets (for",
        "security_group_ids (for",
        "web",
    ] {
        assert!(err.contains(says), "{says}: {err}");
    }
    s.edit(
        "wpbackup.toml",
        "url = \"https://news.example.com/wp-login.php\"\n",
        &format!("url = \"https://news.example.com/wp-login.php\"\n{NEWS_DR_NETWORK}"),
    );
    let before = listener_forward(&s);
    let (code, plan) = s.json(&dr);
    assert_eq!(code, 0, "{plan:#}");
    assert_eq!(plan["region"], "us-west-2");
    let step = |key: &str| {
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|st| st["key"] == key)
            .unwrap_or_else(|| panic!("no step {key}: {plan:#}"))
            .clone()
    };
    let launch = step("web.launch-group");
    assert_eq!(launch["region"], "us-west-2");
    assert_eq!(
        launch["subnets"],
        serde_json::json!(["subnet-0sim0dr01", "subnet-0sim0dr02"])
    );
    assert_eq!(
        launch["template"]["security_group_ids"],
        serde_json::json!(["sg-0sim0drweb"])
    );
    assert!(launch["target_group"].is_null(), "{launch:#}");
    assert_eq!(step("site.health-check")["direct"], true);
    assert!(step("site.manual")["instruction"]
        .as_str()
        .unwrap()
        .contains(launch["group"].as_str().unwrap()));
    let keys: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| st["key"].as_str().unwrap())
        .collect();
    assert!(!keys.contains(&"site.switch-listener"), "{keys:?}");

    let mut exec_args = dr.to_vec();
    exec_args.extend(["--execute", "--yes"]);
    let (code, exec) = s.json(&exec_args);
    assert_eq!(code, 0, "{exec:#}");
    assert_eq!(exec["status"], "completed");
    let steps = steps_by_key(&exec);
    let addresses = steps["site.health-check"]["outputs"]["addresses"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!addresses.is_empty());
    let said = steps["site.manual"]["outputs"]["instruction"]
        .as_str()
        .unwrap()
        .to_string();
    for a in &addresses {
        assert!(said.contains(a.as_str().unwrap()), "{said}");
    }
    let group = steps["web.launch-group"]["outputs"]["group"]
        .as_str()
        .unwrap();
    let state = sim_state(&s);
    let instances = steps["web.launch-group"]["outputs"]["instances"]
        .as_array()
        .unwrap();
    for i in instances {
        let r = state["resources"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.ends_with(i.as_str().unwrap()))
            .map(|(_, r)| r.clone())
            .unwrap();
        assert_eq!(
            r["security_groups"],
            serde_json::json!(["sg-0sim0drweb"]),
            "{r:#}"
        );
        assert_eq!(r["region"], "us-west-2", "{r:#}");
    }
    assert!(!group.is_empty());
    assert_eq!(
        listener_forward(&s),
        before,
        "the primary listener is untouched"
    );
}
