//! End to end: the real binary on the simulator, as a new user runs it.

use super::support::{repo_root, Sandbox};
use predicates::prelude::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

fn points(sb: &Sandbox) -> Vec<Value> {
    let (code, v) = sb.json(&["points"]);
    assert_eq!(code, 0);
    v["points"].as_array().unwrap().clone()
}

#[test]
fn sandbox_run_all_gives_every_kind_a_point_and_a_dr_copy() {
    let sb = Sandbox::as_shipped();
    let (code, v) = sb.json(&["run", "--all"]);
    assert_eq!(code, 0, "{v:#}");
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 9);
    assert!(runs.iter().all(|r| r["phase"] == "Completed"), "{v:#}");

    let pts = points(&sb);
    let available: BTreeSet<(String, String, String, String)> = pts
        .iter()
        .filter(|p| p["state"] == "available")
        .map(|p| {
            (
                p["site"].as_str().unwrap().to_string(),
                p["component_kind"].as_str().unwrap().to_string(),
                p["region"].as_str().unwrap().to_string(),
                if p["source_point_id"].is_null() {
                    "point"
                } else {
                    "copy"
                }
                .to_string(),
            )
        })
        .collect();
    let expect = [
        ("blog", "lightsail-instance"),
        ("shop", "ec2-instance"),
        ("shop", "aurora-cluster"),
        ("shop", "efs"),
        ("shop", "s3-bucket"),
        ("news", "auto-scaling-group"),
        ("news", "aurora-cluster"),
        ("news", "efs"),
        ("news", "s3-bucket"),
    ];
    for (site, kind) in expect {
        for (region, what) in [("us-east-1", "point"), ("us-west-2", "copy")] {
            assert!(
                available.contains(&(site.into(), kind.into(), region.into(), what.into())),
                "no available {what} of {site}/{kind} in {region}: {available:?}"
            );
        }
    }
    // Names are deterministic and every point carries what a restore needs.
    for p in &pts {
        assert!(p["name"]
            .as_str()
            .unwrap()
            .starts_with(&format!("wpb-{}-", p["site"].as_str().unwrap())));
        assert_eq!(p["managed"], true);
    }
    let ami = pts
        .iter()
        .find(|p| p["kind"] == "ec2-ami" && p["region"] == "us-east-1")
        .unwrap();
    assert!(ami["metadata"]["instance_type"].is_string());
    assert!(!ami["metadata"]["ebs_snapshot_ids"]
        .as_array()
        .unwrap()
        .is_empty());
    // The Auto Scaling tier's AMI records the group's settings of the moment.
    let group_ami = pts
        .iter()
        .find(|p| p["component_kind"] == "auto-scaling-group" && p["region"] == "us-east-1")
        .unwrap();
    let settings: Value = serde_json::from_str(
        group_ami["metadata"]["extra"]["auto_scaling_group"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(settings["desired_capacity"], 2, "{settings:#}");
    assert!(settings["launch_template"]["user_data"]
        .as_str()
        .unwrap()
        .contains("fs-0abcdef0123456789:/ /var/www/html efs _netdev,tls"));
    assert_eq!(
        settings["target_group"]["health_check_path"],
        "/wp-login.php"
    );

    // --at selects the newest point at or before T, per component and region.
    let (_, sel) = sb.json(&["points", "--site", "shop", "--at", "now"]);
    assert_eq!(sel["selected"].as_array().unwrap().len(), 8, "{sel:#}");
    let (_, before) = sb.json(&["points", "--at", "2020-01-01T00:00:00Z"]);
    assert!(before["selected"].as_array().unwrap().is_empty());

    // The run is recorded with the policy it ran under.
    let (_, runs) = sb.json(&["runs"]);
    assert_eq!(runs["runs"].as_array().unwrap().len(), 9);
    assert!(runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["policy_hash"].as_str().unwrap().len() == 64));
}

#[test]
fn a_second_run_in_the_same_minute_adopts_instead_of_duplicating() {
    let sb = Sandbox::new();
    // The database (a cloud snapshot) and the media bucket (an S3 checkpoint: a catalog
    // record only, which nothing in the cloud would refuse to duplicate).
    let (c1, _) = sb.json(&["run", "--policy", "shop/db", "--policy", "shop/media"]);
    let (c2, v) = sb.json(&["run", "--policy", "db", "--policy", "media"]);
    assert_eq!((c1, c2), (0, 0), "{v:#}");
    let pts = points(&sb);
    // A one-minute boundary may fall between the two runs (or inside the first, between its
    // components): then there are two instants, and retention (`keep_daily`: the newest of
    // the day) may already have let some of the older ones go. Either way no name twice,
    // and each component has a point and its DR copy.
    let names: BTreeSet<&str> = pts.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(pts.len(), names.len(), "no name recorded twice: {pts:#?}");
    assert!((4..=8).contains(&pts.len()), "{pts:#?}");
    for component in ["db", "media"] {
        let regions: BTreeSet<&str> = pts
            .iter()
            .filter(|p| p["component"] == component)
            .map(|p| p["region"].as_str().unwrap())
            .collect();
        assert_eq!(
            regions.len(),
            2,
            "{component}: a point and its copy: {pts:#?}"
        );
    }
}

/// Inject a `kind` fault into the next create call of shop/db, run everything: only db
/// fails (exit 1), with a reason containing `reason`; its four siblings complete.
fn only_db_fails(kind: &str, reason: &str) -> Sandbox {
    let sb = Sandbox::new();
    let fault = [
        "sim",
        "fault",
        kind,
        "--site",
        "shop",
        "--component",
        "db",
        "--op",
        "create",
        "--times",
        "1",
    ];
    sb.wpb().args(fault).assert().success();
    let (code, v) = sb.json(&["run", "--all"]);
    assert_eq!(code, wpbackup::exit::PARTIAL, "{v:#}");
    let (_, runs) = sb.json(&["runs"]);
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5, "{runs:#?}");
    for r in runs {
        if r["component"] == "db" {
            assert_eq!(r["phase"], "Failed", "{r:#}");
            let why = r["failure_reason"].as_str().unwrap();
            assert!(why.contains(reason), "{why}");
        } else {
            assert_eq!(r["phase"], "Completed", "{r:#}");
        }
    }
    sb
}

#[test]
fn an_injected_failure_fails_only_that_component() {
    let sb = only_db_fails("fail-point", "failed");
    let (_, runs) = sb.json(&["runs", "--component", "db"]);
    assert_eq!(runs["runs"][0]["points_failed"], 1, "{runs:#}");
    let failed: Vec<Value> = points(&sb)
        .into_iter()
        .filter(|p| p["component"] == "db")
        .collect();
    assert_eq!(failed.len(), 1, "no DR copy of a failed point");
    assert_eq!(failed[0]["state"], "failed");
}

/// A panic in one component's run (a bug, injected by the simulator) is that component's
/// failed run, recorded: its siblings complete, and the policy runs again next time.
#[test]
fn a_panic_in_one_component_fails_only_that_component() {
    let sb = only_db_fails("panic", "the run panicked: simulated panic");
    let (code, v) = sb.json(&["run", "--policy", "shop/db"]);
    assert_eq!(code, wpbackup::exit::OK, "not left in progress: {v:#}");
}

#[test]
fn a_failing_pre_hook_with_on_error_fail_takes_no_point_but_runs_the_post_hook() {
    let sb = Sandbox::new();
    let path = sb.path().join("policies/shop/db.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace(
        "[hooks.pre]\n# Flush WordPress object caches so the snapshot and the cache agree (optional).\ncommand = \"echo flushing caches for $WPBACKUP_SITE/$WPBACKUP_COMPONENT\"\ntimeout = \"1m\"\non_error = \"continue\"",
        "[hooks.pre]\ncommand = \"echo maintenance broke >&2; exit 3\"\non_error = \"fail\"\n\n[hooks.post]\ncommand = \"touch post-hook-ran\"",
    );
    assert!(text.contains("exit 3"));
    std::fs::write(&path, text).unwrap();
    let (code, v) = sb.json(&["run", "--policy", "shop/db"]);
    assert_eq!(code, wpbackup::exit::FAILED, "{v:#}");
    let run = &v["runs"][0];
    assert_eq!(run["phase"], "Failed");
    assert!(
        run["failure_reason"]
            .as_str()
            .unwrap()
            .contains("maintenance broke"),
        "{run:#}"
    );
    assert!(run["point"].is_null());
    assert!(
        sb.path().join("post-hook-ran").exists(),
        "post-hook always runs"
    );
}

/// `policy check` on the sandbox's configuration: exit 65, and what it printed.
fn rejected_by_policy_check(sb: &Sandbox) -> String {
    let out = sb
        .wpb()
        .args(["policy", "check"])
        .assert()
        .code(wpbackup::exit::INVALID_CONFIG);
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

#[test]
fn a_policy_with_several_mistakes_is_reported_whole_and_nothing_is_written() {
    let sb = Sandbox::new();
    let bad = "version = 1\nname = \"db\"\nkind = \"aurora-cluster\"\nschedule = \"0 3 * *\"\ntimezone = \"Nowhere/Else\"\nrpo = \"4h\"\n\n[aurora]\ncluster_identifier = \"wp\"\npitr_days = 50\n\n[retention]\ndaily = 0\n";
    std::fs::write(sb.path().join("policies/shop/db.toml"), bad).unwrap();
    let stdout = rejected_by_policy_check(&sb);
    for needle in [
        "db.toml:4:12: error: `schedule`",
        "db.toml:5:12: error: `timezone`",
        "db.toml:10:13: error: `aurora.pitr_days`",
        "db.toml:12:1: error: `retention`",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    // `run` refuses the whole configuration and does not create the catalog.
    sb.wpb()
        .args(["run", "--all"])
        .assert()
        .code(wpbackup::exit::INVALID_CONFIG)
        .stderr(predicate::str::contains("pitr_days"));
    assert!(!sb.catalog().exists(), "nothing written to the catalog");
}

#[test]
fn shipped_policies_pass_policy_check() {
    let sb = Sandbox::new();
    let root = repo_root().join("policies");
    sb.cmd()
        .arg("policy")
        .arg("check")
        .arg(root.join("single-server"))
        .arg(root.join("elastic"))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "5 policy file(s) valid, 0 error(s), 0 warning(s)",
        ));
    // A directory is searched at any depth; each directory is its own group.
    sb.cmd()
        .args(["--config", "none.toml", "policy", "check"])
        .arg(&root)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "6 policy file(s) valid, 0 error(s), 0 warning(s)",
        ));
    // And the sandbox's own copies, with its sites' regions, print three fire times each.
    let (code, v) = sb.json(&["policy", "check"]);
    assert_eq!(code, 0, "{v:#}");
    for p in v["policies"].as_array().unwrap() {
        assert_eq!(p["next_fires"].as_array().unwrap().len(), 3);
    }
}

#[test]
fn bad_cli_input_says_what_is_accepted() {
    let sb = Sandbox::new();
    sb.wpb().args(["run"]).assert().code(wpbackup::exit::USAGE);
    sb.wpb()
        .args(["run", "--policy", "nope"])
        .assert()
        .code(wpbackup::exit::USAGE)
        .stderr(predicate::str::contains("known: blog/wordpress"));
    sb.wpb().args(["run", "--all"]).assert().success();
    sb.wpb()
        .args(["points", "--at", "yesterday-ish"])
        .assert()
        .code(wpbackup::exit::USAGE)
        .stderr(predicate::str::contains("RFC 3339"));
    // Out-of-range durations and instants: usage errors, never a panic (exit 101).
    for args in [
        &["points", "--at", "300000y ago"][..],
        &["points", "--at", "+300000-01-01T00:00:00Z"],
        &[
            "hold",
            "add",
            "--point",
            "1",
            "--reason",
            "r",
            "--expires",
            "300000y",
        ],
        &[
            "snapshot", "--site", "blog", "--reason", "r", "--hold", "300000y",
        ],
        &["restore", "--site", "blog", "--at", "300000y ago"],
    ] {
        sb.wpb()
            .args(args)
            .assert()
            .code(wpbackup::exit::USAGE)
            .stderr(
                predicate::str::contains("longer than 100 years")
                    .or(predicate::str::contains("RFC 3339")),
            );
    }
    sb.cmd()
        .args(["--config", "missing.toml", "points"])
        .assert()
        .code(wpbackup::exit::INVALID_CONFIG)
        .stderr(predicate::str::contains("init --sandbox"));
}

/// A catalog file that is not a database: exit 74, and the cause said once (sqlx's errors
/// repeat their cause's text).
#[test]
fn a_file_that_is_not_a_catalog_is_refused_with_the_cause_said_once() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.path().join("wpbackup.db"),
        "SQLite format 3\0 and then garbage",
    )
    .unwrap();
    let out = sb.wpb().args(["points"]).output().unwrap();
    assert_eq!(out.status.code(), Some(wpbackup::exit::CATALOG));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot open the catalog"), "{err}");
    assert_eq!(err.matches("file is not a database").count(), 1, "{err}");
}

#[test]
fn init_refuses_to_overwrite() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["init", "--sandbox"])
        .arg(sb.path())
        .assert()
        .code(wpbackup::exit::USAGE);
    sb.cmd()
        .args(["init", "--force", "--sandbox"])
        .arg(sb.path())
        .assert()
        .success();
}

#[test]
fn a_run_killed_midway_is_recovered_by_the_next_run() {
    let sb = Sandbox::new();
    sb.edit(
        "wpbackup.toml",
        "creating_for = \"300ms\"",
        "creating_for = \"4s\"",
    );
    let bin = assert_cmd::cargo::cargo_bin("wpbackup");
    let mut child = std::process::Command::new(bin)
        .current_dir(sb.path())
        .args(["--config", "wpbackup.toml", "run", "--policy", "shop/db"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the point exists (the run is then waiting for it), then SIGKILL.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let state =
            std::fs::read_to_string(sb.path().join("wpbackup.db.sim.json")).unwrap_or_default();
        if state.contains("wpb-shop-db-") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run never created its point"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let (_, runs) = sb.json(&["runs"]);
    assert_eq!(runs["runs"][0]["phase"], "InProgress");
    std::thread::sleep(std::time::Duration::from_secs(4));
    let (code, v) = sb.json(&["run", "--policy", "shop/db"]);
    assert_eq!(code, 0, "{v:#}");
    let (_, runs) = sb.json(&["runs"]);
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let old = &runs[1];
    assert_eq!(old["phase"], "Interrupted");
    assert!(
        old["failure_reason"]
            .as_str()
            .unwrap()
            .contains("reconciled"),
        "{old:#}"
    );
    // The killed run's point was not forgotten: it is now available in the catalog.
    let pts = points(&sb);
    assert!(pts.iter().all(|p| p["state"] == "available"), "{pts:#?}");
    let names: BTreeSet<&str> = pts.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), pts.len(), "nothing duplicated");
}

#[test]
fn sync_finds_points_deleted_outside_and_unmanaged_snapshots_and_imports_what_the_catalog_lacks() {
    let sb = Sandbox::new();
    sb.wpb().args(["run", "--all"]).assert().success();
    let pts = points(&sb);
    let db = pts
        .iter()
        .find(|p| p["component"] == "db" && p["region"] == "us-east-1")
        .unwrap();
    let db_id = db["provider_id"].as_str().unwrap().to_string();
    sb.wpb()
        .args(["sim", "delete-point", &db_id])
        .assert()
        .success();
    sb.wpb()
        .args([
            "sim",
            "snapshot-by-hand",
            "--site",
            "shop",
            "--component",
            "web",
        ])
        .assert()
        .success();

    let (code, v) = sb.json(&["sync", "--site", "shop"]);
    assert_eq!(code, 0, "{v:#}");
    let shop = &v["sites"][0];
    assert_eq!(shop["missing"].as_array().unwrap().len(), 1, "{shop:#}");
    assert_eq!(shop["missing"][0]["provider_id"], db_id.as_str());
    assert_eq!(shop["unmanaged"].as_array().unwrap().len(), 1, "{shop:#}");
    assert_eq!(shop["unmanaged"][0]["component"], "web");
    assert!(shop["imported"].as_array().unwrap().is_empty());
    let (_, all) = sb.json(&["points", "--component", "db"]);
    assert!(all["points"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["provider_id"] == db_id.as_str() && p["state"] == "missing"));

    // A fresh catalog learns every tagged point from the cloud (checkpoints are
    // catalog records, so they cannot be recovered this way).
    std::fs::remove_file(sb.catalog()).unwrap();
    let (code, v) = sb.json(&["sync"]);
    assert_eq!(code, 0, "{v:#}");
    let imported: usize = v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["imported"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        imported,
        10 - 2 - 1,
        "5 points + 5 copies, minus S3's two, minus the deleted one"
    );
    let pts = points(&sb);
    // Copies are linked to their sources again — except db's, whose source is gone.
    for p in pts.iter().filter(|p| p["region"] == "us-west-2") {
        assert_eq!(
            p["source_point_id"].is_null(),
            p["component"] == "db",
            "{p:#}"
        );
    }
}

#[test]
fn iam_policy_is_least_privilege_for_exactly_the_configured_components() {
    let sb = Sandbox::new();
    let (code, doc) = sb.json(&["iam-policy", "--site", "shop", "--account", "123456789012"]);
    assert_eq!(code, 0);
    assert_eq!(doc["Version"], "2012-10-17");
    let text = doc.to_string();
    assert!(
        !text.contains("Principal"),
        "an identity policy has no Principal"
    );
    let statements = doc["Statement"].as_array().unwrap();
    let mut services = BTreeSet::new();
    for s in statements {
        assert_eq!(s["Effect"], "Allow");
        let actions: Vec<&str> = s["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let resources: Vec<&str> = s["Resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        for a in &actions {
            assert!(!a.contains('*'), "no wildcard actions: {a}");
            services.insert(a.split(':').next().unwrap().to_string());
            // Two deletes cannot carry the tag: EFS deletes a mount target's network
            // interface in the caller's name, and reverting an object adds a delete marker
            // (history stays; `s3:DeleteObjectVersion` is never granted).
            assert_ne!(*a, "s3:DeleteObjectVersion", "history is never destroyed");
            if (a.contains("Delete") || a.contains("Deregister") || a.contains("Terminate"))
                && !["ec2:DeleteNetworkInterface", "s3:DeleteObject"].contains(a)
            {
                let cond = s["Condition"]["StringEquals"]
                    .as_object()
                    .expect("deletes are conditioned");
                assert!(
                    cond.iter()
                        .any(|(k, v)| k.ends_with("ResourceTag/wpbackup:managed") && v == "true"),
                    "{s:#}"
                );
            }
        }
        if resources.contains(&"*") {
            // Only calls without resource-level permissions, and then only in the site's regions.
            assert!(
                actions
                    .iter()
                    .all(|a| a.contains(":Describe") || a.contains(":List")),
                "{s:#}"
            );
            assert!(
                s["Condition"]["StringEquals"]["aws:RequestedRegion"].is_array(),
                "{s:#}"
            );
        }
        for r in resources.iter().filter(|r| **r != "*") {
            assert!(
                r.contains("123456789012")
                    || r.starts_with("arn:aws:s3:::")
                    || r.contains("::image/"),
                "{r}"
            );
        }
    }
    assert_eq!(
        services.into_iter().collect::<Vec<_>>(),
        ["backup", "ec2", "elasticfilesystem", "iam", "rds", "s3"],
        "shop has EC2, Aurora, EFS and S3 — and no Lightsail"
    );
    for configured in [
        "instance/i-0123456789abcdef0",
        "cluster:wordpress-aurora",
        "cluster-snapshot:wpb-shop-db-*",
        "file-system/fs-0123456789abcdef0",
        "backup-vault:wordpress-vault",
        "backup-vault:wordpress-vault-dr",
        "role/wpbackup-aws-backup",
        "arn:aws:s3:::example-wordpress-media-dr",
    ] {
        assert!(
            text.contains(configured),
            "{configured} scoped in the policy"
        );
    }
    let pass_role = statements
        .iter()
        .find(|s| s["Action"][0] == "iam:PassRole")
        .unwrap();
    assert_eq!(
        pass_role["Condition"]["StringEquals"]["iam:PassedToService"],
        "backup.amazonaws.com"
    );
    // A drill's own security group: created only with the managed tag in the request,
    // its rules changed (and it deleted) only when it carries the tag.
    let granting = |action: &str| {
        statements
            .iter()
            .find(|s| s["Action"].as_array().unwrap().iter().any(|a| a == action))
            .unwrap_or_else(|| panic!("{action} granted"))
    };
    assert_eq!(
        granting("ec2:CreateSecurityGroup")["Condition"]["StringEquals"]
            ["aws:RequestTag/wpbackup:managed"],
        "true"
    );
    for changes in [
        "ec2:RevokeSecurityGroupEgress",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:DeleteSecurityGroup",
    ] {
        let st = granting(changes);
        assert_eq!(
            st["Condition"]["StringEquals"]["ec2:ResourceTag/wpbackup:managed"], "true",
            "{st:#}"
        );
        assert_eq!(
            st["Resource"],
            serde_json::json!(["arn:aws:ec2:us-east-1:123456789012:security-group/*"])
        );
    }

    // By purpose: backup grants no launch, restore no image creation, all is the union.
    let granted = |purposes: &[&str]| -> BTreeSet<String> {
        let mut args = vec!["iam-policy", "--site", "shop"];
        for p in purposes {
            args.extend(["--for", p]);
        }
        let (code, doc) = sb.json(&args);
        assert_eq!(code, 0, "{args:?}");
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["Action"].as_array().unwrap().clone())
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    };
    let backup = granted(&["backup"]);
    let restore = granted(&["restore"]);
    let audit = granted(&["audit"]);
    let all = granted(&[]);
    assert!(backup.contains("ec2:CreateImage") && backup.contains("backup:StartBackupJob"));
    assert!(!backup.contains("ec2:RunInstances"), "{backup:?}");
    for needed in [
        "ec2:RunInstances",
        "ec2:AssociateAddress",
        "ec2:DescribeAddresses",
        "ec2:TerminateInstances",
        "rds:RestoreDBClusterToPointInTime",
        "rds:CreateDBInstance",
        "rds:ModifyDBCluster",
        "rds:DeleteDBCluster",
        "backup:StartRestoreJob",
        "elasticfilesystem:CreateMountTarget",
        "s3:ListBucketVersions",
        "s3:GetObjectVersion",
        "s3:PutObject",
    ] {
        assert!(restore.contains(needed), "--for restore lacks {needed}");
        assert!(all.contains(needed), "the default policy lacks {needed}");
    }
    assert!(!restore.contains("ec2:CreateImage"), "{restore:?}");
    assert!(
        audit
            .iter()
            .all(|a| a.contains(":Describe") || a.contains(":List") || a.contains(":Get")),
        "audit only reads: {audit:?}"
    );
    let union: BTreeSet<String> = backup
        .iter()
        .chain(&restore)
        .chain(&audit)
        .cloned()
        .collect();
    assert_eq!(all, union, "the default is every purpose");
    assert_eq!(granted(&["backup", "restore", "audit"]), all);
    sb.wpb()
        .args(["iam-policy", "--for", "everything"])
        .assert()
        .code(wpbackup::exit::USAGE);

    let (_, blog) = sb.json(&["iam-policy", "--site", "blog"]);
    let blog_text = blog.to_string();
    for needed in [
        "lightsail:CreateInstanceSnapshot",
        "lightsail:EnableAddOn",
        "lightsail:CreateInstancesFromSnapshot",
        "lightsail:AttachStaticIp",
    ] {
        assert!(blog_text.contains(needed), "blog lacks {needed}");
    }
    assert!(!blog_text.contains("ec2:") && !blog_text.contains("rds:"));
    sb.wpb()
        .args(["iam-policy", "--account", "12"])
        .assert()
        .code(wpbackup::exit::USAGE);
}

/// Add `n` daily points of shop/db (days before now) straight into the catalog.
pub(crate) fn backfill_db_points(sb: &Sandbox, days: &[i64]) -> Vec<i64> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let catalog = wpbackup::catalog::Catalog::open(&sb.catalog(), false)
            .await
            .unwrap();
        let component = catalog
            .component_id("shop", "db")
            .await
            .unwrap()
            .expect("db known");
        let now = chrono::Utc::now();
        let mut ids = Vec::new();
        for d in days {
            let t = now - chrono::Duration::days(*d);
            let name = format!("wpb-shop-db-old{d}");
            let id = catalog
                .upsert_point(
                    &wpbackup::catalog::PointRecord {
                        component_id: component,
                        run_id: None,
                        kind: wpbackup::domain::model::PointKind::AuroraClusterSnapshot,
                        region: "us-east-1".into(),
                        name: name.clone(),
                        provider_id: name,
                        arn: None,
                        point_time: t,
                        state: wpbackup::domain::model::PointState::Available,
                        source_point_id: None,
                        managed: true,
                        metadata: Default::default(),
                        failure_reason: None,
                        created_at: t,
                    },
                    now,
                )
                .await
                .unwrap();
            ids.push(id);
        }
        catalog.close().await;
        ids
    })
}

#[test]
fn prune_dry_run_explains_and_prune_deletes_with_holds_and_retries() {
    let sb = Sandbox::new();
    sb.wpb()
        .args(["run", "--policy", "shop/db"])
        .assert()
        .success();
    // 400 days of history: db keeps keep_last 6, daily 14, weekly 8, monthly 12, yearly 2.
    let days: Vec<i64> = (1..=400).collect();
    let ids = backfill_db_points(&sb, &days);
    let oldest = *ids.last().unwrap();
    let (code, v) = sb.json(&["prune", "--site", "shop", "--component", "db", "--dry-run"]);
    assert_eq!(code, 0);
    let decisions = v["sites"][0]["decisions"].as_array().unwrap();
    let east: Vec<&serde_json::Value> = decisions
        .iter()
        .filter(|d| d["region"] == "us-east-1")
        .collect();
    assert_eq!(east.len(), 401);
    let kept = east.iter().filter(|d| d["action"] == "keep").count();
    assert!(
        (25..=40).contains(&kept),
        "rules keep a few dozen of 401: {kept}"
    );
    for d in &east {
        assert!(
            !d["reasons"].as_array().unwrap().is_empty(),
            "every decision has a reason: {d}"
        );
    }
    let (_, pts) = sb.json(&["points", "--component", "db"]);
    assert_eq!(
        pts["points"].as_array().unwrap().len(),
        402,
        "dry run deletes nothing"
    );

    // Hold the oldest point; fail every deletion once.
    sb.wpb()
        .args([
            "hold",
            "add",
            "--point",
            &oldest.to_string(),
            "--reason",
            "audit evidence",
        ])
        .assert()
        .success();
    sb.wpb()
        .args([
            "sim",
            "fault",
            "access-denied",
            "--op",
            "delete",
            "--times",
            "3",
        ])
        .assert()
        .success();
    let (code, v) = sb.json(&["prune", "--site", "shop", "--component", "db"]);
    assert_eq!(code, wpbackup::exit::PARTIAL, "some deletions failed");
    let failed = v["sites"][0]["failed"].as_array().unwrap().len();
    assert_eq!(failed, 3);
    let held = v["sites"][0]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["point_id"] == oldest)
        .unwrap();
    assert_eq!(held["action"], "keep");
    assert!(held["reasons"].to_string().contains("audit evidence"));

    // The failed ones are retried by the next prune and succeed.
    let (code, v) = sb.json(&["prune", "--site", "shop", "--component", "db"]);
    assert_eq!(code, 0, "{v:#}");
    let retried = v["sites"][0]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["reasons"].to_string().contains("retry"))
        .count();
    assert_eq!(retried, 3);
    let (_, pts) = sb.json(&["points", "--component", "db", "--site", "shop"]);
    let left = pts["points"].as_array().unwrap();
    assert_eq!(
        left.len(),
        kept + 1 + 1,
        "kept + the held one + the DR copy"
    );
    assert!(left.iter().any(|p| p["id"] == oldest));

    let (_, holds) = sb.json(&["hold", "list"]);
    let hold_id = holds["holds"][0]["id"].as_i64().unwrap();
    sb.wpb()
        .args(["hold", "remove", &hold_id.to_string()])
        .assert()
        .success();
    let (_, v) = sb.json(&["prune", "--site", "shop", "--component", "db", "--dry-run"]);
    let d = v["sites"][0]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["point_id"] == oldest)
        .unwrap();
    assert_eq!(
        d["action"], "remove",
        "released hold: the rules decide again"
    );
}

#[test]
fn a_configuration_with_several_mistakes_is_reported_whole() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.config(),
        "version = 1\ncatalog = \"x.db\"\n[[sites]]\nname = \"Bad_Name\"\nprovider = \"gcp\"\nregion = \"us-east-1\"\ndr_region = \"us-east-1\"\npolicies = \"p\"\n",
    )
    .unwrap();
    let stdout = rejected_by_policy_check(&sb);
    for needle in [
        "wpbackup.toml:3:1: error: `sites[0].entry_point`: missing required key",
        "wpbackup.toml:3:1: error: `sites[0].health_check`: missing required key",
        "wpbackup.toml:4:8: error: `sites[0].name`",
        "wpbackup.toml:5:12: error: `sites[0].provider`: unknown provider \"gcp\"",
        "wpbackup.toml:7:13: error: `sites[0].dr_region`: dr_region must differ",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    sb.wpb()
        .args(["run", "--all"])
        .assert()
        .code(wpbackup::exit::INVALID_CONFIG);
    assert!(!sb.path().join("x.db").exists());
}

/// Values of the right type but out of range are errors naming what is accepted, never a
/// silent default: the status 999 used to become 200.
#[test]
fn out_of_range_settings_are_reported_with_what_is_accepted() {
    let sb = Sandbox::new();
    let config = sb.config();
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace("poll_interval = \"50ms\"", "poll_interval = \"0s\"")
        .replace("\"StaticIp-1\"", "\"\"")
        .replace("eipalloc-0123456789abcdef0", "eipalloc-")
        .replace(
            "https://blog.example.com/wp-login.php\"",
            "https://blog.example.com/wp login.php\"\nexpect_status = -5",
        )
        .replace("expect_status = 200", "expect_status = 999")
        .replace("timeout = \"10s\"", "timeout = \"0s\"");
    std::fs::write(&config, text).unwrap();
    let stdout = rejected_by_policy_check(&sb);
    for needle in [
        "`sim.poll_interval`: \"0s\" is zero; give a positive duration",
        "`sites[0].entry_point.lightsail_static_ip`: \"\" is not a Lightsail static IP name",
        "`sites[0].health_check.url`: \"https://blog.example.com/wp login.php\" contains ' '",
        "`sites[0].health_check.expect_status`: -5 is not an HTTP status; expected 100 to 599",
        "`sites[1].entry_point.ec2_elastic_ip_allocation`: \"eipalloc-\" is not an Elastic IP allocation id",
        "`sites[1].health_check.expect_status`: 999 is not an HTTP status",
        "`sites[1].health_check.timeout`: \"0s\" is zero",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    assert_eq!(stdout.matches(": error: ").count(), 7, "{stdout}");
}

/// A directory that links back to itself is read once; a file far too large to be a policy
/// is one clear error, not one per line; past 100 problems in a file, one line counts the rest.
#[test]
fn policy_check_survives_symlink_loops_huge_files_and_floods_of_mistakes() {
    let sb = Sandbox::new();
    let dir = sb.path().join("policies");
    std::os::unix::fs::symlink(&dir, dir.join("shop").join("loop")).unwrap();
    let out = sb
        .wpb()
        .args(["--json", "policy", "check"])
        .arg(&dir)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(wpbackup::exit::OK);
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["policies"].as_array().unwrap().len(), 5, "{report}");

    let huge = sb.path().join("huge.toml");
    std::fs::write(&huge, "garbage ".repeat(1_250_000)).unwrap();
    let many = sb.path().join("many.toml");
    std::fs::write(&many, "this is not toml\n".repeat(300)).unwrap();
    let out = sb
        .wpb()
        .args(["--json", "policy", "check"])
        .arg(&huge)
        .arg(&many)
        .assert()
        .code(wpbackup::exit::INVALID_CONFIG);
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let diags = report["diagnostics"].as_array().unwrap();
    let of = |f: &str| -> Vec<&str> {
        diags
            .iter()
            .filter(|d| d["file"].as_str().unwrap().ends_with(f))
            .map(|d| d["message"].as_str().unwrap())
            .collect()
    };
    let huge_msgs = of("huge.toml");
    assert_eq!(huge_msgs.len(), 1, "{huge_msgs:?}");
    assert!(
        huge_msgs[0].contains("larger than 1024 KiB"),
        "{huge_msgs:?}"
    );
    let many_msgs = of("many.toml");
    assert_eq!(many_msgs.len(), 101, "{many_msgs:?}");
    assert!(
        many_msgs[100].contains("more problems in this file not shown"),
        "{:?}",
        many_msgs[100]
    );
}

#[test]
fn a_point_the_cloud_has_but_a_killed_run_never_recorded_is_adopted() {
    use wpbackup::cloud::RecoveryPoints;
    let sb = Sandbox::new();
    sb.wpb()
        .args(["run", "--policy", "shop/db", "--no-prune"])
        .assert()
        .success();
    let scheduled = chrono::Utc::now() - chrono::Duration::hours(3);
    let scheduled =
        chrono::DurationRound::duration_trunc(scheduled, chrono::Duration::minutes(1)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let name = wpbackup::domain::names::point_name("shop", "db", scheduled);
    let crashed_run = rt.block_on(async {
        let (config, _) = wpbackup::config::load(&sb.config(), chrono::Utc::now()).unwrap();
        let policy = config.site("shop").unwrap().policy("db").unwrap().clone();
        let catalog = wpbackup::catalog::Catalog::open(&sb.catalog(), false)
            .await
            .unwrap();
        let component = catalog.component_id("shop", "db").await.unwrap().unwrap();
        let policy_id = catalog
            .record_policy(component, &policy.source, chrono::Utc::now())
            .await
            .unwrap();
        let run = catalog
            .start_run(component, policy_id, "manual", scheduled, scheduled)
            .await
            .unwrap();
        catalog.close().await;
        // The process that ran it is gone (no such pid).
        let conn = sqlx::sqlite::SqlitePoolOptions::new()
            .connect(&format!("sqlite://{}", sb.catalog().display()))
            .await
            .unwrap();
        sqlx::query("UPDATE runs SET pid = 4194000 WHERE id = ?1")
            .bind(run)
            .execute(&conn)
            .await
            .unwrap();
        conn.close().await;
        // It had asked the cloud for the point, and died before recording it.
        let sim = wpbackup::cloud::sim::SimCloud::new(
            &sb.path().join("wpbackup.db.sim.json"),
            Arc::new(wpbackup::domain::time::SystemClock),
            std::time::Duration::ZERO,
        );
        let tags =
            wpbackup::domain::names::point_tags("shop", "db", run, scheduled, &Default::default());
        sim.create_point(&policy.target, "us-east-1", &name, &tags)
            .await
            .unwrap();
        run
    });
    let (code, v) = sb.json(&["run", "--policy", "shop/db", "--no-prune"]);
    assert_eq!(code, 0, "{v:#}");
    let (_, runs) = sb.json(&["runs"]);
    let crashed = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == crashed_run)
        .unwrap();
    assert_eq!(crashed["phase"], "Interrupted");
    assert!(
        crashed["failure_reason"]
            .as_str()
            .unwrap()
            .contains(&format!("{name} found in us-east-1 and recorded")),
        "{crashed:#}"
    );
    let pts = points(&sb);
    let adopted = pts
        .iter()
        .find(|p| p["name"] == name.as_str())
        .expect("the point is in the catalog now");
    assert_eq!(adopted["run_id"], crashed_run);
    assert_eq!(adopted["state"], "available");
}

/// Completions and man pages come from the CLI's own definitions: bash sources the script
/// and registers it, zsh and fish get theirs, every subcommand is in them; `man` prints a
/// roff page and `man --out DIR` writes one per command.
#[test]
fn completions_source_in_bash_and_man_pages_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::new();
    let out = sb.cmd().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let script = dir.path().join("wpbackup.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let registered = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p wpbackup",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(
        registered.status.success(),
        "{}",
        String::from_utf8_lossy(&registered.stderr)
    );
    assert!(String::from_utf8_lossy(&registered.stdout).contains("_wpbackup wpbackup"));
    let bash = String::from_utf8_lossy(&out.stdout).to_string();
    for sub in ["restore", "staging", "drill", "audit", "completions"] {
        assert!(bash.contains(sub), "{sub} in the bash completions");
    }
    let zsh = sb.cmd().args(["completions", "zsh"]).output().unwrap();
    assert!(String::from_utf8_lossy(&zsh.stdout).starts_with("#compdef wpbackup"));
    let fish = sb.cmd().args(["completions", "fish"]).output().unwrap();
    assert!(String::from_utf8_lossy(&fish.stdout).contains("complete -c wpbackup"));
    let bad = sb.cmd().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(64), "a usage error");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("possible values"));

    let man = sb.cmd().arg("man").output().unwrap();
    assert!(man.status.success());
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(page.contains(".TH wpbackup 1"), "{page}");
    assert!(page.contains("staging"), "{page}");
    let pages = dir.path().join("man");
    sb.cmd()
        .args(["man", "--out"])
        .arg(&pages)
        .assert()
        .success();
    for name in [
        "wpbackup.1",
        "wpbackup-restore.1",
        "wpbackup-staging-up.1",
        "wpbackup-completions.1",
    ] {
        assert!(pages.join(name).exists(), "{name}");
    }
}
