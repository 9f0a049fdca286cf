//! Restores on the sandbox (simulated AWS), through the binary: an operator's incident —
//! backups, damage, plan before the damage, execute, crash, resume, verify by content,
//! roll back — plus failing health checks, drills, coverage errors and bad plan files.

use crate::support::Sandbox;
use serde_json::{json, Value};
use std::time::Duration;

/// Restore the shop site to now, without asking.
const RESTORE_SHOP_NOW: &[&str] = &[
    "restore",
    "--site",
    "shop",
    "--at",
    "now",
    "--execute",
    "--yes",
];

pub(super) fn sim_state(s: &Sandbox) -> Value {
    let text = std::fs::read_to_string(s.path().join("wpbackup.db.sim.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Resources the simulator holds that a plan created (by its tag).
fn resources_of_plan(s: &Sandbox, plan: &str) -> Vec<Value> {
    sim_state(s)["resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["tags"]["wpbackup:restore-plan"] == plan)
        .cloned()
        .collect()
}

/// The simulated media bucket keeps receiving uploads, one object every 10 minutes of wall
/// time (generation g writes object g mod 50, at 2026-01-01 + g × 600 s). An upload after the
/// restore is the live site at work, not a failed revert: those keys are left out.
fn assert_same_media_except_new_uploads(now: &Value, at_t: &Value, t: &str) {
    let origin = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
    let generation = |at: chrono::DateTime<chrono::FixedOffset>| (at - origin).num_seconds() / 600;
    let since = generation(chrono::DateTime::parse_from_rfc3339(t).unwrap());
    let until = generation(chrono::Utc::now().fixed_offset());
    let uploaded: std::collections::BTreeSet<String> = (since + 1..=until)
        .map(|g| format!("wp-content/uploads/obj-{:02}.jpg", g % 50))
        .collect();
    let without = |v: &Value| {
        let mut m = v.as_object().unwrap().clone();
        m.retain(|k, _| !uploaded.contains(k));
        m
    };
    assert!(
        uploaded.len() < 5,
        "the test ran for too long: {uploaded:?}"
    );
    assert_eq!(
        without(now),
        without(at_t),
        "uploaded since T: {uploaded:?}"
    );
}

fn content(s: &Sandbox, component: &str, at: Option<&str>) -> Value {
    content_of(s, "shop", component, at)
}

/// What a site's component holds now (what the site serves), or held at `at`.
pub(super) fn content_of(s: &Sandbox, site: &str, component: &str, at: Option<&str>) -> Value {
    let mut args = vec!["sim", "content", "--site", site, "--component", component];
    if let Some(at) = at {
        args.extend(["--at", at]);
    }
    let (code, v) = s.json(&args);
    assert_eq!(code, 0, "{v}");
    v
}

pub(super) fn steps_by_key(show: &Value) -> std::collections::BTreeMap<String, Value> {
    show["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["key"].as_str().unwrap().to_string(), s.clone()))
        .collect()
}

/// Backups of the shop, then an instant T, then damage to every component after T.
fn backed_up_then_damaged() -> (Sandbox, String) {
    backed_up_then(&[
        ("db", "wp_options.siteurl changed to a spam domain"),
        ("web", "malicious plugin installed"),
        ("media", "images overwritten"),
    ])
}

/// Backups of the shop, then an instant T, then this damage after T.
fn backed_up_then(damage: &[(&str, &str)]) -> (Sandbox, String) {
    backed_up_then_on("shop", damage)
}

/// Backups of every site, then an instant T, then this damage to `site` after T.
pub(super) fn backed_up_then_on(site: &str, damage: &[(&str, &str)]) -> (Sandbox, String) {
    let s = match site {
        "news" => Sandbox::as_shipped(),
        _ => Sandbox::new(),
    };
    s.wpb().args(["run", "--all"]).assert().success();
    std::thread::sleep(Duration::from_millis(1100));
    let t = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    std::thread::sleep(Duration::from_millis(1100));
    for &(component, what) in damage {
        s.wpb()
            .args([
                "sim",
                "damage",
                "--site",
                site,
                "--component",
                component,
                "--what",
                what,
            ])
            .assert()
            .success();
    }
    (s, t)
}

#[test]
fn incident_restore_before_the_damage_survives_a_crash_and_rolls_back() {
    let (s, t) = backed_up_then_damaged();
    let damaged_db = content(&s, "db", None);
    assert!(damaged_db["content"]["summary"]
        .as_str()
        .unwrap()
        .contains("DAMAGED"));

    // Review: the plan is printed and written, nothing is changed.
    let plan_path = s.path().join("plan.json");
    let out = s
        .wpb()
        .args(["restore", "--site", "shop", "--at", &t, "--out"])
        .arg(&plan_path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "db.restore-cluster",
        "site.health-check",
        "site.move-address",
        "ec2:AssociateAddress",
        "data lost (gap)",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&plan_path).unwrap()).unwrap();
    assert_eq!(plan["plan_version"], 1);
    let id = plan["id"].as_str().unwrap().to_string();
    assert!(
        resources_of_plan(&s, &id).is_empty(),
        "planning created nothing"
    );

    // Execute with create calls slowed down, and kill it mid-way.
    apply_killed_mid_way(&s, &plan_path, &id);
    let (_, show) = s.json(&["restore", "show", &id]);
    assert_eq!(show["status"], "executing", "{show:#}");
    let before: Vec<String> = steps_by_key(&show)
        .into_iter()
        .filter(|(_, st)| st["state"] == "done")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(steps_by_key(&show)["site.move-address"]["state"], "pending");

    // Resume finishes it without redoing finished steps or duplicating resources.
    let (code, exec) = s.json(&["restore", "resume", &id, "--yes"]);
    assert_eq!(code, 0, "{exec:#}");
    assert_eq!(exec["status"], "completed");
    let (_, show) = s.json(&["restore", "show", &id]);
    let steps = steps_by_key(&show);
    for k in &before {
        assert_eq!(steps[k]["attempts"], 1, "{k} was redone: {show:#}");
    }
    assert!(steps.values().all(|st| st["state"] == "done"), "{show:#}");
    let created = resources_of_plan(&s, &id);
    let instances = created.iter().filter(|r| r["kind"] == "instance").count();
    let clusters = created.iter().filter(|r| r["kind"] == "cluster").count();
    assert_eq!((instances, clusters), (1, 1), "{created:#?}");

    // The data is the state at T: DB, web and media without the damage.
    let db_now = content(&s, "db", None);
    let db_at_point = &plan["components"][0];
    assert_eq!(db_at_point["component"], "db");
    let db_then = content(&s, "db", Some(db_at_point["point_time"].as_str().unwrap()));
    assert_eq!(
        db_now["content"], db_then["content"],
        "DB restored to its point"
    );
    assert!(!db_now["content"]["summary"]
        .as_str()
        .unwrap()
        .contains("DAMAGED"));
    let web_now = content(&s, "web", None);
    assert!(
        !web_now["content"]["summary"]
            .as_str()
            .unwrap()
            .contains("DAMAGED"),
        "{web_now}"
    );
    assert_same_media_except_new_uploads(
        &content(&s, "media", None)["objects"],
        &content(&s, "media", Some(&t))["objects"],
        &t,
    );
    // The public address points at the restored instance; the old one is kept.
    let restored = steps["web.launch-instance"]["outputs"]["instance"]
        .as_str()
        .unwrap()
        .to_string();
    let eip = &sim_state(&s)["addresses"]["eip:eipalloc-0123456789abcdef0"];
    assert_eq!(eip, &Value::from(restored.clone()));
    assert_eq!(
        steps["site.move-address"]["outputs"]["previous_instance"],
        "i-0123456789abcdef0"
    );

    // Rollback: the address and the DB endpoint go back.
    let (code, rb) = s.json(&["restore", "rollback", &id, "--yes"]);
    assert_eq!(code, 0, "{rb:#}");
    assert_eq!(rb["status"], "rolled-back");
    assert_eq!(
        sim_state(&s)["addresses"]["eip:eipalloc-0123456789abcdef0"],
        "i-0123456789abcdef0"
    );
    assert_eq!(
        content(&s, "db", None)["content"]["digest"]
            .as_str()
            .unwrap()
            .len(),
        16
    );
    assert!(content(&s, "db", None)["content"]["summary"]
        .as_str()
        .unwrap()
        .contains("DAMAGED"));
    // Nothing was deleted: the restored cluster is kept under its own name.
    assert_eq!(
        resources_of_plan(&s, &id)
            .iter()
            .filter(|r| r["kind"] == "cluster")
            .count(),
        1
    );
}

/// Backups of every site, then a restore of shop to now whose health check answers 500:
/// it stops before the cutover, `failed` (exit 2). Its execution report.
pub(super) fn backed_up_then_restored_failing_its_health_check(s: &Sandbox) -> Value {
    s.wpb().args(["run", "--all"]).assert().success();
    s.wpb()
        .args(["sim", "health", "--site", "shop", "--status", "500"])
        .assert()
        .success();
    let (code, exec) = s.json(RESTORE_SHOP_NOW);
    assert_eq!(code, 2, "{exec:#}");
    assert_eq!(exec["status"], "failed");
    exec
}

#[test]
fn a_failing_health_check_stops_before_the_cutover() {
    let s = Sandbox::new();
    let exec = backed_up_then_restored_failing_its_health_check(&s);
    let failure = exec["failure"].as_str().unwrap();
    assert!(
        failure.contains("site.health-check") && failure.contains("answered 500"),
        "{failure}"
    );
    let id = exec["plan_id"].as_str().unwrap().to_string();
    let (_, show) = s.json(&["restore", "show", &id]);
    let steps = steps_by_key(&show);
    for k in ["site.move-address", "site.verify-public"] {
        assert_eq!(steps[k]["state"], "pending", "{k} must not run: {show:#}");
    }
    assert_eq!(
        sim_state(&s)["addresses"]["eip:eipalloc-0123456789abcdef0"],
        "i-0123456789abcdef0"
    );

    // Fixed: resume retries the check and cuts over.
    s.wpb()
        .args(["sim", "health", "--site", "shop", "--status", "200"])
        .assert()
        .success();
    let (code, exec) = s.json(&["restore", "resume", &id, "--yes"]);
    assert_eq!(code, 0, "{exec:#}");
    assert_eq!(exec["status"], "completed");
    assert_ne!(
        sim_state(&s)["addresses"]["eip:eipalloc-0123456789abcdef0"],
        "i-0123456789abcdef0"
    );
}

#[test]
fn executing_without_confirmation_is_refused() {
    let s = Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    let out = s
        .wpb()
        .args(["restore", "--site", "blog", "--at", "now", "--execute"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    let (_, list) = s.json(&["restore", "list"]);
    assert_eq!(
        list["plans"].as_array().unwrap().len(),
        0,
        "nothing stored or run"
    );
}

#[test]
fn a_drill_restores_checks_measures_and_tears_down() {
    let s = Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    // What production is made of: where its address points, its bucket's writes, its
    // web tier's listeners, its points.
    let production = |state: &Value| {
        json!({
            "addresses": state["addresses"],
            "object_writes": state["object_writes"],
            "listeners": state["web"]["listeners"],
            "points": state["points"].as_object().map(|p| p.len()),
        })
    };
    let before = production(&sim_state(&s));
    let (code, exec) = s.json(&["drill", "--site", "shop"]);
    assert_eq!(code, 0, "{exec:#}");
    assert_eq!(exec["status"], "torn-down");
    assert!(exec["recovery_seconds"].as_i64().unwrap() >= 0);
    let id = exec["plan_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("drill-shop-"));
    let created = resources_of_plan(&s, &id);
    assert!(created.len() >= 3, "{created:#?}");
    assert!(
        created.iter().all(|r| r["deleted"] == true),
        "torn down: {created:#?}"
    );
    let keys: Vec<&str> = exec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"drill.teardown") && !keys.contains(&"site.move-address"),
        "{keys:?}"
    );
    // Isolated names, no cutover, the bucket only counted.
    assert_eq!(
        sim_state(&s)["addresses"]["eip:eipalloc-0123456789abcdef0"],
        "i-0123456789abcdef0"
    );
    let media = exec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "media.revert-bucket")
        .unwrap();
    assert!(media["outputs"]["would_revert"].is_number(), "{media}");
    let (_, list) = s.json(&["restore", "list"]);
    assert_eq!(list["plans"][0]["status"], "torn-down");
    assert_eq!(list["plans"][0]["purpose"], "drill");

    // Isolated: everything the drill restored was in its own security group, made first
    // and deleted last; production is exactly as before.
    let step = |key: &str| {
        exec["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("no step {key}: {exec:#}"))
            .clone()
    };
    let sg = step("drill.isolate")["outputs"]["security_group"]
        .as_str()
        .unwrap()
        .to_string();
    let rules = step("drill.isolate")["outputs"]["rules"].clone();
    assert_eq!(
        rules,
        json!([format!("in all {sg}"), format!("out all {sg}")]),
        "only its own members in and out: {rules}"
    );
    for r in &created {
        if r["kind"] == "instance" || r["kind"] == "cluster" || r["kind"] == "file-system" {
            assert_eq!(r["security_groups"], json!([sg]), "{r:#}");
        }
    }
    assert!(
        sim_state(&s)["security_groups"]
            .as_object()
            .unwrap()
            .is_empty(),
        "the drill's security group is deleted"
    );
    assert_eq!(production(&sim_state(&s)), before, "production unchanged");
    // The report: every resource created, deleted and read back gone; the recovery time
    // against the site's objective.
    let report = exec["drill_resources"].as_array().unwrap();
    let kinds: Vec<&str> = report.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    for k in [
        "instance",
        "aurora-cluster",
        "efs-file-system",
        "security-group",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    assert_eq!(kinds.last(), Some(&"security-group"), "deleted last");
    assert!(
        report
            .iter()
            .all(|r| r["deleted"] == true && r["gone"] == true),
        "{report:#?}"
    );
    assert_eq!(exec["recovery_target_seconds"], 4 * 3600);
    let text = s.wpb().args(["drill", "--site", "shop"]).output().unwrap();
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(
        out.contains("verified gone") && out.contains("recovery-time objective"),
        "{out}"
    );
    // The audit counts it.
    let (_, audit) = s.json(&["audit", "--site", "shop"]);
    let drill = audit["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["control"] == "drill")
        .unwrap()
        .clone();
    assert_eq!(drill["status"], "pass", "{drill:#}");
}

#[test]
fn a_drill_that_would_share_production_data_is_refused_naming_it() {
    let s = Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    let out = s
        .wpb()
        .args(["drill", "--site", "shop", "--only", "web"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{err}");
    for says in ["production file system", "production database", "--only"] {
        assert!(err.contains(says), "{says}: {err}");
    }
    let (_, list) = s.json(&["restore", "list"]);
    assert_eq!(list["plans"], json!([]), "no plan stored, nothing created");
    // With the data it is wired to, it runs.
    s.wpb()
        .args(["drill", "--site", "shop", "--only", "web,files,db"])
        .assert()
        .success();
}

#[test]
fn instants_outside_coverage_fail_with_the_coverage_stated() {
    let s = Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    for (at, says) in [
        ("2099-01-01 00:00", "latest instant that can be restored"),
        (
            "2020-01-01 00:00",
            "; web has no point at or before it (its first is",
        ),
        (
            "2020-01-01 00:00",
            "cannot be restored: db has no point at or before it",
        ),
        (
            "2020-01-01 00:00",
            "every component can be restored to any instant from",
        ),
        ("last tuesday-ish", "can be restored to any instant from"),
    ] {
        let out = s
            .wpb()
            .args(["restore", "--site", "shop", "--at", at])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{at}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{at}: {err}");
    }
    let out = s
        .wpb()
        .args([
            "restore", "--site", "shop", "--at", "now", "--only", "cache",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("components: "));
}

/// Back everything up, then write a plan of shop at now to `path`.
fn backed_up_and_planned(s: &Sandbox, path: &std::path::Path) {
    s.wpb().args(["run", "--all"]).assert().success();
    s.wpb()
        .args(["restore", "--site", "shop", "--at", "now", "--out"])
        .arg(path)
        .assert()
        .success();
}

/// `restore apply PATH --yes`.
fn apply(s: &Sandbox, path: &std::path::Path) -> std::process::Output {
    s.wpb()
        .args(["restore", "apply"])
        .arg(path)
        .arg("--yes")
        .output()
        .unwrap()
}

#[test]
fn a_plan_file_with_mistakes_is_refused_with_every_mistake() {
    let s = Sandbox::new();
    let path = s.path().join("plan.json");
    backed_up_and_planned(&s, &path);
    let mut plan: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    plan["plan_version"] = 99.into();
    plan["steps"][0]["depends_on"] = serde_json::json!(["site.verify-public"]);
    std::fs::write(&path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    let out = apply(&s, &path);
    assert_eq!(out.status.code(), Some(65));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("plan_version 99") && err.contains("not an earlier step"),
        "{err}"
    );
    let (_, list) = s.json(&["restore", "list"]);
    assert_eq!(list["plans"].as_array().unwrap().len(), 0);
}

/// A plan file is bound to its catalog and to its content: an edited plan, a plan from
/// another catalog and a plan whose points were swapped between components (digest made
/// again) are each refused, saying why; nothing is stored or executed.
#[test]
fn plan_files_are_bound_to_their_catalog_and_content() {
    use wpbackup::domain::restore_plan::Plan;
    let refused = |s: &Sandbox, path: &std::path::Path, needle: &str| {
        let out = apply(s, path);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(65), "{err}");
        assert!(err.contains(needle), "{needle:?} not in: {err}");
        let (_, list) = s.json(&["restore", "list"]);
        assert_eq!(list["plans"].as_array().unwrap().len(), 0, "nothing stored");
    };
    let s = Sandbox::new();
    let path = s.path().join("plan.json");
    backed_up_and_planned(&s, &path);
    let text = std::fs::read_to_string(&path).unwrap();
    let plan: Plan = serde_json::from_str(&text).unwrap();
    assert_eq!(plan.digest.as_deref(), Some(plan.content_digest().as_str()));

    // Edited by hand.
    let edited = s.path().join("edited.json");
    std::fs::write(
        &edited,
        text.replacen("\"tags\": {", "\"tags\": {\"x\": \"y\",", 1),
    )
    .unwrap();
    refused(&s, &edited, "changed after wpbackup wrote it");

    // Points swapped between two components, the digest made again.
    let mut swapped = plan.clone();
    let ids: Vec<usize> = (0..swapped.components.len())
        .filter(|i| swapped.components[*i].point_id.is_some())
        .take(2)
        .collect();
    let (a, b) = (ids[0], ids[1]);
    let pa = swapped.components[a].point_id;
    swapped.components[a].point_id = swapped.components[b].point_id;
    swapped.components[b].point_id = pa;
    let catalog_id = swapped.catalog_id.clone().unwrap();
    swapped.seal(&catalog_id);
    let swapped_path = s.path().join("swapped.json");
    std::fs::write(
        &swapped_path,
        serde_json::to_string_pretty(&swapped).unwrap(),
    )
    .unwrap();
    refused(&s, &swapped_path, "not the source the plan names");

    // Made from another catalog.
    let foreign = s.path().join("foreign.json");
    backed_up_and_planned(&Sandbox::new(), &foreign);
    refused(&s, &foreign, "made from another catalog");

    // The plan as written applies.
    let out = apply(&s, &path);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_dr_plan_uses_the_copies_and_leaves_dns_to_the_operator() {
    let s = Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    let (code, plan) = s.json(&["restore", "--site", "shop", "--at", "now", "--to", "dr"]);
    assert_eq!(code, 0, "{plan:#}");
    assert_eq!(plan["region"], "us-west-2");
    let keys: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"site.manual") && !keys.contains(&"site.move-address"),
        "{keys:?}"
    );
    for c in plan["components"].as_array().unwrap() {
        let src = c["source"].as_str().unwrap();
        assert!(src.contains("us-west-2") || src.contains("-dr"), "{src}");
    }
    // Every component in the DR region's own network, as configured.
    let action = |key: &str| {
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("{key}"))
            .clone()
    };
    assert_eq!(
        action("web.launch-instance")["subnet_id"],
        "subnet-0sim0dr01"
    );
    assert_eq!(
        action("web.launch-instance")["security_group_ids"],
        json!(["sg-0sim0drweb"])
    );
    assert_eq!(
        action("db.restore-cluster")["subnet_group"],
        "wp-db-subnets-dr"
    );
    assert_eq!(
        action("db.restore-cluster")["security_group_ids"],
        json!(["sg-0sim0drdb"])
    );
    assert_eq!(
        action("files.restore-file-system")["subnets"],
        json!(["subnet-0sim0dr01", "subnet-0sim0dr02"])
    );
    assert_eq!(
        action("files.restore-file-system")["security_group_ids"],
        json!(["sg-0sim0drnfs"])
    );

    // Without [sites.dr_network]: refused, naming the keys.
    s.edit(
        "wpbackup.toml",
        "db_subnet_group = \"wp-db-subnets-dr\"\n",
        "",
    );
    s.edit(
        "wpbackup.toml",
        "security_group_ids = [\"sg-0sim0drweb\"]\n",
        "",
    );
    let out = s
        .wpb()
        .args(["restore", "--site", "shop", "--at", "now", "--to", "dr"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{err}");
    for says in [
        "[sites.dr_network]",
        "db_subnet_group (for db)",
        "security_group_ids (for web)",
        "us-west-2",
    ] {
        assert!(err.contains(says), "{says}: {err}");
    }
}

#[test]
fn snapshot_takes_every_component_now_and_holds_it() {
    let s = Sandbox::new();
    let (code, out) = s.json(&[
        "snapshot",
        "--site",
        "shop",
        "--reason",
        "before upgrading WooCommerce",
        "--hold",
        "7d",
    ]);
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(out["runs"].as_array().unwrap().len(), 4);
    let holds = out["holds"].as_array().unwrap();
    assert!(holds.len() >= 4, "{out:#}");
    let (_, list) = s.json(&["hold", "list"]);
    let text = list.to_string();
    assert!(text.contains("before upgrading WooCommerce"), "{text}");
}

/// The real probe: the URL's host in the Host header, the TCP connection to the given
/// address (as `curl --resolve`), redirects not followed, refusals retryable.
#[tokio::test]
async fn the_http_probe_asks_the_given_address_with_the_sites_host_name() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wpbackup::cloud::{CloudErrorKind, HealthProbe, HealthRequest};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = sock.read(&mut buf).await.unwrap();
        sock.write_all(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    });
    let probe = wpbackup::cloud::probe::HttpProbe;
    let req = HealthRequest {
        url: format!("http://shop.example.com:{port}/wp-login.php"),
        address: Some("127.0.0.1".into()),
        expect_status: 200,
        timeout: Duration::from_secs(5),
    };
    let answer = probe.probe(&req).await.unwrap();
    assert_eq!(answer.status, 302, "redirects are reported, not followed");
    assert_eq!(answer.peer, format!("127.0.0.1:{port}"));
    let request = server.await.unwrap();
    assert!(
        request.starts_with("GET /wp-login.php HTTP/1.1"),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains(&format!("host: shop.example.com:{port}")),
        "{request}"
    );

    // Nothing listening: a retryable error that says so (the health check names the
    // address: tests/integration/health_check.rs).
    let err = probe.probe(&req).await.unwrap_err();
    assert_eq!(err.kind, CloudErrorKind::Transient);
    assert!(err.message.starts_with("connection refused"), "{err}");
}

/// Every call the simulator answers is throttled 30 % of the time, spread evenly (a service
/// under sustained rate limiting): backups, a restore and a drill still complete, because
/// every port goes through the retry decorator.
#[test]
fn backups_a_restore_and_a_drill_complete_under_sustained_throttling() {
    let s = Sandbox::new();
    s.wpb()
        .args(["sim", "fault", "throttle", "--percent", "30"])
        .assert()
        .success();
    let (code, run) = s.json(&["run", "--all"]);
    assert_eq!(code, 0, "{run:#}");
    let (code, exec) = s.json(RESTORE_SHOP_NOW);
    assert_eq!(code, 0, "{exec:#}");
    assert_eq!(exec["status"], "completed", "{exec:#}");
    let out = s.wpb().args(["drill", "--site", "blog"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = sim_state(&s);
    let faults = state["faults"].as_array().unwrap();
    assert_eq!(faults[0]["kind"], "throttle-share", "{faults:#?}");
    let calls = faults[0]["calls"].as_u64();
    assert!(
        calls.is_some_and(|c| c > 100),
        "the fault saw the calls: {faults:#?}"
    );
}

#[test]
fn a_restore_step_that_panics_fails_as_that_step_and_the_plan_resumes() {
    let s = Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    // The first create call of the restore panics, as a bug would.
    s.sim(&["fault", "panic", "--op", "create", "--times", "1"]);
    let (code, exec) = s.json(RESTORE_SHOP_NOW);
    assert_eq!(code, 2, "a failed plan, not a crash: {exec:#}");
    assert_eq!(exec["status"], "failed");
    let failure = exec["failure"].as_str().unwrap();
    assert!(failure.contains("internal error"), "{failure}");
    let id = exec["plan_id"].as_str().unwrap().to_string();
    let (_, show) = s.json(&["restore", "show", &id]);
    let steps = steps_by_key(&show);
    let failed: Vec<&String> = steps
        .iter()
        .filter(|(_, v)| v["state"] == "failed")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(failed.len(), 1, "only the step that broke: {show:#}");
    assert!(failure.starts_with(failed[0].as_str()), "{failure}");
    assert!(
        steps.values().all(|v| v["state"] != "running"),
        "no step left running: {show:#}"
    );
    // Nothing was cut over.
    assert_eq!(steps["site.move-address"]["state"], "pending");

    let (code, exec) = s.json(&["restore", "resume", &id, "--yes"]);
    assert_eq!(code, 0, "{exec:#}");
    assert_eq!(exec["status"], "completed");
}

#[test]
fn a_failure_after_the_cutover_says_the_cutover_is_done_and_how_to_roll_back() {
    let s = Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    // The restored instance answers; the site through its public address does not.
    s.sim(&["health", "--site", "shop", "--status", "503", "--public"]);
    let (code, exec) = s.json(RESTORE_SHOP_NOW);
    assert_eq!(code, 2, "{exec:#}");
    let failure = exec["failure"].as_str().unwrap();
    assert!(
        failure.starts_with("site.verify-public") && failure.contains("answered 503"),
        "{failure}"
    );
    assert!(
        !failure.contains("nothing was cut over"),
        "the address has moved: {failure}"
    );
    let id = exec["plan_id"].as_str().unwrap().to_string();
    assert!(
        failure.contains("the cutover is done")
            && failure.contains(&format!("wpbackup restore rollback {id}")),
        "{failure}"
    );
    let (_, show) = s.json(&["restore", "show", &id]);
    let steps = steps_by_key(&show);
    assert_eq!(steps["site.health-check"]["state"], "done");
    assert_eq!(steps["site.move-address"]["state"], "done");
    let (code, rb) = s.json(&["restore", "rollback", &id, "--yes"]);
    assert_eq!(code, 0, "{rb:#}");
    assert_eq!(rb["status"], "rolled-back");
}

#[test]
fn a_step_stopped_by_the_cloud_keeps_the_errors_kind_and_says_what_to_do() {
    let s = Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    s.sim(&["fault", "access-denied", "--op", "create", "--times", "1"]);
    let (code, exec) = s.json(RESTORE_SHOP_NOW);
    assert_eq!(code, 2, "{exec:#}");
    let failure = exec["failure"].as_str().unwrap();
    assert!(failure.contains("(access-denied)"), "{failure}");
    assert!(failure.contains("wpbackup iam-policy"), "{failure}");
    let id = exec["plan_id"].as_str().unwrap().to_string();
    let (_, show) = s.json(&["restore", "show", &id]);
    let failed: Vec<Value> = steps_by_key(&show)
        .into_values()
        .filter(|v| v["state"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{show:#}");
    assert_eq!(
        failed[0]["outputs"]["error_kind"], "access-denied",
        "{show:#}"
    );
    // Once granted, the resume succeeds and the kind is not left behind.
    let (code, exec) = s.json(&["restore", "resume", &id, "--yes"]);
    assert_eq!(code, 0, "{exec:#}");
    let (_, show) = s.json(&["restore", "show", &id]);
    assert!(
        steps_by_key(&show)
            .values()
            .all(|v| v["outputs"].get("error_kind").is_none()),
        "{show:#}"
    );
}

/// The plugin-upgrade runbook: the code lives on EFS, so restoring `files` launches a web
/// server wired to the *restored* file system, checks it there, and only then moves the
/// address. The next backups protect the restored file system and server; rollback hands
/// them back.
#[test]
fn a_broken_plugin_is_restored_checked_against_the_restored_files_then_adopted() {
    let (s, t) = backed_up_then(&[(
        "files",
        "plugin upgrade: fatal error in wp-content/plugins/cart",
    )]);
    let original_fs = content(&s, "files", None)["resource"]
        .as_str()
        .unwrap()
        .to_string();

    // Reviewed: the web tier is added and its user data mounts the restored file system.
    let out = s
        .wpb()
        .args(["restore", "--site", "shop", "--at", &t, "--only", "files"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for expected in [
        "web added: the restored file system of files",
        "web.launch-instance  after: files.restore-file-system",
        "| echo '<file_system from files.restore-file-system>:/ /var/www/html efs _netdev,tls 0 0' >> /etc/fstab",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(!text.contains("swap-cluster"), "{text}");

    // Restores `files` to T, executed (the plan id is per second: one per second).
    let restore = |s: &Sandbox| {
        let (code, exec) = s.json(&[
            "restore",
            "--site",
            "shop",
            "--at",
            &t,
            "--only",
            "files",
            "--execute",
            "--yes",
        ]);
        assert_eq!(code, 0, "{exec:#}");
        assert_eq!(exec["status"], "completed");
        std::thread::sleep(Duration::from_millis(1100));
        exec["plan_id"].as_str().unwrap().to_string()
    };
    let id = restore(&s);
    let (_, show) = s.json(&["restore", "show", &id]);
    let steps = steps_by_key(&show);
    let restored_fs = steps["files.restore-file-system"]["outputs"]["file_system"]
        .as_str()
        .unwrap()
        .to_string();
    let server = steps["web.launch-instance"]["outputs"]["instance"]
        .as_str()
        .unwrap()
        .to_string();
    let user_data = steps["web.launch-instance"]["outputs"]["user_data"]
        .as_str()
        .unwrap();
    assert!(
        user_data.contains(&format!("{restored_fs}:/ /var/www/html efs _netdev,tls")),
        "{user_data}"
    );
    assert!(!user_data.contains(&original_fs), "{user_data}");
    // The health check asked the restored server before the address moved.
    assert!(
        steps["site.health-check"]["finished_at"].as_str().unwrap()
            <= steps["site.move-address"]["started_at"].as_str().unwrap()
    );

    // The site serves the files of T through the restored server.
    let web = content(&s, "web", None);
    let served = web["content"]["summary"].as_str().unwrap();
    assert!(
        served.contains(&format!("wired to efs {restored_fs}")) && !served.contains("DAMAGED"),
        "{served}"
    );
    let files = content(&s, "files", None);
    assert_eq!(files["resource"], Value::from(restored_fs.clone()));
    assert_eq!(
        files["content"]["digest"],
        content(&s, "files", Some(&t))["content"]["digest"]
    );

    // The next scheduled backups take points of what serves now.
    next_scheduled_runs(&s, &["files", "web"]);
    let points = sim_state(&s)["points"].clone();
    let newest_of = |resource: &str| {
        points
            .as_object()
            .unwrap()
            .values()
            .filter(|p| p["resource"] == resource && p["region"] == "us-east-1")
            .count()
    };
    assert_eq!(
        newest_of(&restored_fs),
        1,
        "one point of the restored files"
    );
    assert_eq!(newest_of(&server), 1, "one AMI of the restored server");
    let (_, pts) = s.json(&["points", "--site", "shop"]);
    let text = pts.to_string();
    assert!(text.contains(&restored_fs), "{text}");

    // Rollback: the address goes back, and the backups with it.
    let (code, rb) = s.json(&["restore", "rollback", &id, "--yes"]);
    assert_eq!(code, 0, "{rb:#}");
    assert_eq!(
        content(&s, "files", None)["resource"],
        Value::from(original_fs.clone())
    );

    // Restored twice: finalizing the second retires the first one's file system and
    // server (wpbackup's, tagged); finalizing the first keeps the site's originals.
    let first = restore(&s);
    let first_fs = content(&s, "files", None)["resource"]
        .as_str()
        .unwrap()
        .to_string();
    let second = restore(&s);
    assert_ne!(
        content(&s, "files", None)["resource"],
        Value::from(first_fs.clone())
    );
    let (code, fin) = s.json(&["restore", "finalize", &second, "--yes"]);
    assert_eq!(code, 0, "{fin:#}");
    let fin = steps_by_key(&fin);
    assert_eq!(fin["finalize.files"]["state"], "done", "{fin:#?}");
    assert_eq!(fin["finalize.web"]["state"], "done", "{fin:#?}");
    let gone = |id: &str| {
        sim_state(&s)["resources"]
            .as_object()
            .unwrap()
            .values()
            .any(|r| r["id"] == id && r["deleted"] == true)
    };
    assert!(
        gone(&first_fs),
        "the first restore's file system is deleted"
    );
    let (code, fin) = s.json(&["restore", "finalize", &first, "--yes"]);
    assert_eq!(code, 0, "{fin:#}");
    let fin = steps_by_key(&fin);
    assert_eq!(fin["finalize.files"]["state"], "skipped", "{fin:#?}");
    assert!(
        !gone(&original_fs),
        "the site's own file system is never deleted"
    );
    // A finalized plan cannot be rolled back.
    let out = s
        .wpb()
        .args(["restore", "rollback", &second, "--yes"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is finalized"));
}

/// A server wired to the damaged file system serves the damage: the health check fails
/// and nothing is cut over (the simulator tells the two stacks apart).
#[test]
fn a_server_wired_to_the_damaged_files_fails_its_health_check() {
    let s = Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    let original_fs = content(&s, "files", None)["resource"]
        .as_str()
        .unwrap()
        .to_string();
    s.wpb()
        .args(["sim", "damage", "--site", "shop", "--component", "files"])
        .assert()
        .success();
    // A template that mounts the original file system, whatever the plan restores.
    s.edit(
        "policies/shop/web.toml",
        "[restore]",
        &format!("[restore]\nuser_data = \"echo '{original_fs}:/ {{{{mount_path}}}} efs _netdev,tls 0 0' >> /etc/fstab\""),
    );
    let (code, exec) = s.json(&[
        "restore",
        "--site",
        "shop",
        "--at",
        "now",
        "--only",
        "web",
        "--execute",
        "--yes",
    ]);
    assert_eq!(code, 2, "{exec:#}");
    let failure = exec["failure"].as_str().unwrap();
    assert!(
        failure.contains("site.health-check") && failure.contains("answered 500"),
        "{failure}"
    );
    assert_eq!(
        sim_state(&s)["addresses"]["eip:eipalloc-0123456789abcdef0"],
        "i-0123456789abcdef0"
    );
}

/// Run policies of the shop as their next scheduled fire would (an instant after this
/// minute's manual runs, whose point names are taken).
fn next_scheduled_runs(s: &Sandbox, policies: &[&str]) {
    next_scheduled_runs_of(s, "shop", policies)
}

/// Run policies of `site` as their next scheduled fire would.
pub(super) fn next_scheduled_runs_of(s: &Sandbox, site: &str, policies: &[&str]) {
    use wpbackup::engine::run::{RunRequest, Trigger};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (config, _) = wpbackup::config::load(&s.config(), chrono::Utc::now()).unwrap();
        let catalog = wpbackup::catalog::Catalog::connect(&config.catalog, false)
            .await
            .unwrap();
        let engine = wpbackup::engine::Engine::new(config, catalog);
        for p in policies {
            let r = engine
                .run_policy(&RunRequest {
                    site: site.into(),
                    policy: p.to_string(),
                    scheduled_for: engine.manual_instant() + chrono::Duration::minutes(1),
                    trigger: Trigger::Schedule,
                })
                .await
                .unwrap();
            assert!(r.failure_reason.is_none(), "{r:?}");
        }
        engine.catalog.close().await;
    });
}

/// `restore apply` with create calls slowed down, killed while a step runs: the plan is
/// left `executing` for a resume.
pub(super) fn apply_killed_mid_way(s: &Sandbox, plan_path: &std::path::Path, id: &str) {
    s.wpb()
        .args([
            "sim",
            "fault",
            "latency",
            "--latency-ms",
            "1500",
            "--op",
            "create",
            "--times",
            "2",
        ])
        .assert()
        .success();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("wpbackup"))
        .current_dir(s.path())
        .arg("--config")
        .arg(s.config())
        .args(["restore", "apply"])
        .arg(plan_path)
        .arg("--yes")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = s
            .wpb()
            .args(["--json", "restore", "show", id])
            .output()
            .unwrap();
        if out.status.success() {
            let show: Value = serde_json::from_slice(&out.stdout).unwrap();
            if steps_by_key(&show)
                .values()
                .any(|st| st["state"] == "running")
            {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "no step started");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_restore_behind_cloudfront_invalidates_exactly_what_it_reverted_before_it_reports_success() {
    let (s, t) = backed_up_then(&[("media", "images overwritten"), ("web", "defaced theme")]);
    s.edit(
        "wpbackup.toml",
        "policies = \"policies/shop\"\n",
        "policies = \"policies/shop\"\ncloudfront_distribution_id = \"E2QWRUHAPOMQZL\"\n",
    );
    let (code, exec) = s.json(&[
        "restore",
        "--site",
        "shop",
        "--at",
        &t,
        "--execute",
        "--yes",
    ]);
    assert_eq!(code, 0, "{exec:#}");
    assert_eq!(exec["status"], "completed");
    let steps = steps_by_key(&exec);
    let reverted: Vec<String> = steps["media.revert-bucket"]["outputs"]["reverted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| format!("/{}", k.as_str().unwrap()))
        .collect();
    assert!(!reverted.is_empty(), "the damage was reverted");
    let cdn = &steps["site.invalidate-cdn"];
    assert_eq!(cdn["state"], "done", "{cdn:#}");
    let mut paths: Vec<String> = serde_json::from_value(cdn["outputs"]["paths"].clone()).unwrap();
    paths.sort();
    let mut want = reverted.clone();
    want.sort();
    assert_eq!(paths, want, "exactly the reverted objects");
    assert_eq!(cdn["outputs"]["origins"][0]["resolves"], true, "{cdn:#}");
    // The invalidation exists with those paths, and completed before the step (the last
    // of the restore) finished.
    let state = sim_state(&s);
    let inv = state["invalidations"].as_array().unwrap();
    assert_eq!(inv.len(), 1, "{inv:#?}");
    let mut inv_paths: Vec<String> = serde_json::from_value(inv[0]["paths"].clone()).unwrap();
    inv_paths.sort();
    assert_eq!(inv_paths, want);
    assert_eq!(inv[0]["distribution"], "E2QWRUHAPOMQZL");
    let completed =
        chrono::DateTime::parse_from_rfc3339(inv[0]["completed_at"].as_str().unwrap()).unwrap();
    let finished =
        chrono::DateTime::parse_from_rfc3339(cdn["finished_at"].as_str().unwrap()).unwrap();
    assert!(completed <= finished, "{completed} after {finished}");
    let order: Vec<&str> = exec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(order.last(), Some(&"site.invalidate-cdn"), "{order:?}");
}

/// Appendix D's staging environment on the single-instance elastic site: `staging up`
/// restores the newest points into an isolated stack that stays up and says how to reach
/// it; `staging list` shows it with what it costs; the audit flags it once it is older
/// than `max_staging_age`; `staging down` deletes everything it made and reads it back
/// gone. Production — address, bucket, listeners, points, database and files — is exactly
/// as before throughout.
#[test]
fn a_staging_copy_comes_up_isolated_is_listed_flagged_when_old_and_torn_down() {
    let s = Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    let production = |s: &Sandbox| {
        let state = sim_state(s);
        json!({
            "addresses": state["addresses"],
            "object_writes": state["object_writes"],
            "listeners": state["web"]["listeners"],
            "points": state["points"].as_object().map(|p| p.len()),
            // What serves production's data (its content moves on with the wall clock).
            "db": content(s, "db", None)["resource"],
            "files": content(s, "files", None)["resource"],
        })
    };
    let before = production(&s);

    let (code, up) = s.json(&["staging", "up", "--site", "shop"]);
    assert_eq!(code, 0, "{up:#}");
    let exec = &up["execution"];
    assert_eq!(exec["status"], "completed", "{exec:#}");
    let id = exec["plan_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("stg-shop-"), "{id}");
    let steps = steps_by_key(exec);
    assert!(
        !steps.contains_key("site.move-address"),
        "never a cutover: {:?}",
        steps.keys()
    );
    assert_eq!(
        steps["staging.teardown"]["state"], "pending",
        "held until staging down"
    );
    // Up, in its own security group, reachable at the restored server's address with the
    // site's Host header.
    let copy = &up["staging"];
    assert_eq!(copy["state"], "up", "{copy:#}");
    let address = steps["web.launch-instance"]["outputs"]["address"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(copy["access"]["addresses"], json!([address]));
    assert_eq!(copy["access"]["host"], "shop.example.com");
    let sg = steps["staging.isolate"]["outputs"]["security_group"]
        .as_str()
        .unwrap()
        .to_string();
    let created = resources_of_plan(&s, &id);
    let mut kinds: Vec<&str> = Vec::new();
    for r in &created {
        assert_eq!(r["deleted"], false, "up: {r:#}");
        if let Some(k) = r["kind"].as_str() {
            kinds.push(k);
        }
        if r["kind"] == "instance" || r["kind"] == "cluster" || r["kind"] == "file-system" {
            assert_eq!(r["security_groups"], json!([sg]), "{r:#}");
        }
    }
    for k in ["instance", "cluster", "file-system"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    assert_eq!(production(&s), before, "production unchanged by staging up");

    // Listed with its address and resources; the text says how to reach it.
    let (_, list) = s.json(&["staging", "list", "--site", "shop"]);
    let listed = list["staging"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{list:#}");
    assert_eq!(listed[0]["id"], id.as_str());
    let listed_ids: Vec<&str> = listed[0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(listed_ids.contains(&sg.as_str()), "{listed_ids:?}");
    let text = s.wpb().args(["staging", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&id) && text.contains(&address) && text.contains("up"),
        "{text}"
    );
    // Not a restore: nothing to roll back, nothing to resume.
    let out = s
        .wpb()
        .args(["restore", "rollback", &id, "--yes"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("wpbackup staging down {id}")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s
        .wpb()
        .args(["restore", "resume", &id, "--yes"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is up"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The audit: fine while young, flagged past max_staging_age.
    let staging_finding = |s: &Sandbox| {
        let (_, audit) = s.json(&["audit", "--site", "shop", "--no-store"]);
        audit["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["control"] == "staging")
            .cloned()
            .unwrap_or_else(|| panic!("no staging control: {audit:#}"))
    };
    assert_eq!(staging_finding(&s)["status"], "pass");
    s.edit(
        "wpbackup.toml",
        "timeout = \"10s\"\n",
        "timeout = \"10s\"\n[sites.audit]\nmax_staging_age = \"1s\"\n",
    );
    std::thread::sleep(Duration::from_millis(1100));
    let flagged = staging_finding(&s);
    assert_eq!(flagged["status"], "warn", "{flagged:#}");
    assert!(
        flagged["summary"].as_str().unwrap().contains(&id),
        "{flagged:#}"
    );
    assert!(
        flagged["evidence"].to_string().contains(&address)
            || flagged["evidence"].to_string().contains(&sg),
        "{flagged:#}"
    );
    assert!(flagged["remediation"]
        .as_str()
        .unwrap()
        .contains(&format!("wpbackup staging down {id}")));

    // Down: every resource deleted and read back gone; production still as before.
    let (code, down) = s.json(&["staging", "down", &id]);
    assert_eq!(code, 0, "{down:#}");
    assert_eq!(down["execution"]["status"], "torn-down");
    let report = down["execution"]["drill_resources"].as_array().unwrap();
    assert!(report.len() >= 4, "{report:#?}");
    assert!(
        report
            .iter()
            .all(|r| r["deleted"] == true && r["gone"] == true),
        "{report:#?}"
    );
    assert!(resources_of_plan(&s, &id)
        .iter()
        .all(|r| r["deleted"] == true));
    assert!(sim_state(&s)["security_groups"]
        .as_object()
        .unwrap()
        .is_empty());
    assert_eq!(
        production(&s),
        before,
        "production unchanged by staging down"
    );
    let (_, list) = s.json(&["staging", "list"]);
    assert_eq!(list["staging"], json!([]));
    let (_, all) = s.json(&["staging", "list", "--all"]);
    assert_eq!(all["staging"][0]["state"], "torn down");
    assert_eq!(staging_finding(&s)["status"], "pass");
    let again = s.wpb().args(["staging", "down", &id]).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already torn down"));
}
