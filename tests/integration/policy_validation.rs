//! Policy validation as a table of good and bad cases: every problem reported, with its
//! line and key; and every shipped example valid.

use chrono::{TimeZone, Utc};
use std::path::PathBuf;
use wpbackup::config::policy::PolicyContext;
use wpbackup::config::reader::{Diagnostic, Severity};
use wpbackup::config::{check_policy_files, policy_files};

fn ctx() -> PolicyContext {
    PolicyContext {
        site: Some("shop".into()),
        primary_region: Some("us-east-1".into()),
        dr_region: Some("us-west-2".into()),
    }
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
}

/// Write each (file name, text) and check them as one site's policies.
fn check(files: &[(&str, &str)]) -> (usize, Vec<Diagnostic>) {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = files
        .iter()
        .map(|(name, text)| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        })
        .collect();
    let (policies, diags) = check_policy_files(&paths, &ctx(), now());
    (policies.len(), diags)
}

const GOOD_DB: &str = r#"version = 1
name = "db"
kind = "aurora-cluster"
schedule = "0 */4 * * *"
rpo = "4h"

[aurora]
cluster_identifier = "wp"
pitr_days = 7

[retention]
daily = 7

[[dr_copies]]
region = "us-west-2"
[dr_copies.retention]
daily = 3
"#;

/// (case, policy text, expected problems as (severity, line, key, message fragment)).
type Case = (
    &'static str,
    String,
    Vec<(Severity, usize, &'static str, &'static str)>,
);

fn cases() -> Vec<Case> {
    use Severity::*;
    let replace = |from: &str, to: &str| GOOD_DB.replace(from, to);
    vec![
        ("valid", GOOD_DB.to_string(), vec![]),
        ("unknown key", replace("rpo = \"4h\"", "rpo = \"4h\"\nshedule = \"x\""), vec![(Error, 6, "shedule", "unknown key `shedule`; did you mean `schedule`?")]),
        ("wrong type", replace("rpo = \"4h\"", "rpo = 4"), vec![(Error, 5, "rpo", "expected a string, found an integer")]),
        ("missing required key", replace("rpo = \"4h\"\n", ""), vec![(Error, 1, "rpo", "missing required key `rpo`")]),
        ("missing version", replace("version = 1\n", ""), vec![(Error, 1, "version", "missing required key `version`")]),
        ("unsupported version", replace("version = 1", "version = 7"), vec![(Error, 1, "version", "unsupported policy format version 7")]),
        ("invalid cron", replace("0 */4 * * *", "0 */4 * *"), vec![(Error, 4, "schedule", "expected 5 fields")]),
        ("cron out of range", replace("0 */4 * * *", "0 25 * * *"), vec![(Error, 4, "schedule", "invalid cron expression")]),
        ("unknown time zone", replace("rpo = \"4h\"", "rpo = \"4h\"\ntimezone = \"Europe/Atlantis\""), vec![(Error, 6, "timezone", "unknown time zone \"Europe/Atlantis\"")]),
        ("retention keeps nothing", replace("daily = 7", "daily = 0"), vec![(Error, 11, "retention", "retention keeps nothing")]),
        ("dr retention keeps nothing", replace("daily = 3", "weekly = 0"), vec![(Error, 16, "dr_copies[0].retention", "retention keeps nothing")]),
        ("dr copy to the primary region", replace("region = \"us-west-2\"", "region = \"us-east-1\""), vec![(Error, 15, "dr_copies[0].region", "primary region")]),
        ("pitr days too high", replace("pitr_days = 7", "pitr_days = 36"), vec![(Error, 9, "aurora.pitr_days", "outside 1-35")]),
        ("pitr days zero", replace("pitr_days = 7", "pitr_days = 0"), vec![(Error, 9, "aurora.pitr_days", "outside 1-35")]),
        ("rpo shorter than interval", replace("rpo = \"4h\"", "rpo = \"1h\""), vec![(Warning, 5, "rpo", "shorter than the schedule's longest interval (4h)")]),
        ("bad duration", replace("rpo = \"4h\"", "rpo = \"four hours\""), vec![(Error, 5, "rpo", "write a duration such as")]),
        ("unknown kind", replace("aurora-cluster", "aurora"), vec![(Error, 3, "kind", "unknown kind \"aurora\"")]),
        ("settings table for another kind", replace("[aurora]", "[ec2]"), vec![(Error, 1, "aurora", "missing required key `aurora`"), (Error, 7, "ec2", "[ec2] holds the settings of kind ec2-instance, but this policy's kind is aurora-cluster")]),
        ("hook on_error", format!("{GOOD_DB}\n[hooks.pre]\ncommand = \"true\"\non_error = \"ignore\"\n"), vec![(Error, 21, "hooks.pre.on_error", "expected \"fail\" or \"continue\"")]),
        ("reserved tag", format!("{GOOD_DB}\n[tags]\n\"wpbackup:site\" = \"x\"\n"), vec![(Error, 1, "tags.wpbackup:site", "reserved")]),
        ("syntax error", "version = 1\nname = \"db\n".to_string(), vec![(Error, 2, "", "TOML syntax")]),
        ("cron that never fires", replace("0 */4 * * *", "0 0 30 2 *"), vec![(Error, 4, "schedule", "never fires")]),
        ("duration out of range", replace("rpo = \"4h\"", "rpo = \"4h\"\nwait_timeout = \"300000y\""), vec![(Error, 6, "wait_timeout", "longer than 100 years")]),
        ("zero timeout", replace("rpo = \"4h\"", "rpo = \"4h\"\nwait_timeout = \"0s\""), vec![(Error, 6, "wait_timeout", "is zero")]),
        ("spread within the interval", replace("rpo = \"4h\"", "rpo = \"4h\"\nspread = \"30m\""), vec![]),
        ("spread under a minute", replace("rpo = \"4h\"", "rpo = \"4h\"\nspread = \"30s\""), vec![(Error, 6, "spread", "shorter than a minute")]),
        ("spread as long as the interval", replace("rpo = \"4h\"", "rpo = \"4h\"\nspread = \"4h\""), vec![(Error, 6, "spread", "not shorter than the time between fires (4h)")]),
        ("retention window out of range", replace("daily = 7", "daily = 7\nwithin = \"300000y\""), vec![(Error, 13, "retention.within", "longer than 100 years")]),
        (
            "auto scaling web tier",
            "version = 1\nname = \"web\"\nkind = \"auto-scaling-group\"\nschedule = \"0 2 * * *\"\nrpo = \"25h\"\n[auto_scaling]\ngroup_name = \"shop-web\"\n[retention]\ndaily = 7\n[[dr_copies]]\nregion = \"us-west-2\"\n[dr_copies.retention]\ndaily = 3\n[restore]\nmount_path = \"/var/www/html\"\n".to_string(),
            vec![],
        ),
        (
            "auto scaling group named by its ARN",
            "version = 1\nname = \"web\"\nkind = \"auto-scaling-group\"\nschedule = \"0 2 * * *\"\nrpo = \"25h\"\n[auto_scaling]\ngroup_name = \"arn:aws:autoscaling:us-east-1:1:autoScalingGroup:x:autoScalingGroupName/shop-web\"\n[retention]\ndaily = 7\n[[dr_copies]]\nregion = \"us-west-2\"\n[dr_copies.retention]\ndaily = 3\n".to_string(),
            vec![(Severity::Error, 7, "auto_scaling.group_name", "not its ARN")],
        ),
        ("restore settings on a database", format!("{GOOD_DB}\n[restore]\nmount_path = \"/srv\"\n"), vec![(Error, 19, "restore", "only ec2-instance and auto-scaling-group policies take it")]),
        (
            "web restore settings with four mistakes",
            "version = 1\nname = \"web\"\nkind = \"ec2-instance\"\nschedule = \"0 2 * * *\"\nrpo = \"25h\"\n[ec2]\ninstance_id = \"i-0abc\"\n[retention]\ndaily = 7\n[[dr_copies]]\nregion = \"us-west-2\"\n[dr_copies.retention]\ndaily = 3\n[restore]\nmount_path = \"var/www\"\nuser_data = \"{{fs}} {{db_host}} {{site}} {{open\"\n".to_string(),
            vec![
                (Error, 15, "restore.mount_path", "not an absolute path"),
                (Error, 16, "restore.user_data", "unknown placeholder {{fs}}"),
                (Error, 16, "restore.user_data", "unknown placeholder {{db_host}}"),
                (Error, 16, "restore.user_data", "unclosed"),
            ],
        ),
        (
            "five mistakes at once",
            "version = 1\nname = \"db\"\nkind = \"aurora-cluster\"\nschedule = \"61 * * * *\"\ntimezone = \"Nowhere/Else\"\nrpo = \"4h\"\ncolour = \"red\"\n[aurora]\ncluster_identifier = \"wp\"\npitr_days = 99\n[retention]\nkeep_last = 0\n".to_string(),
            vec![
                (Error, 4, "schedule", "invalid cron"),
                (Error, 5, "timezone", "unknown time zone"),
                (Error, 7, "colour", "unknown key"),
                (Error, 10, "aurora.pitr_days", "outside 1-35"),
                (Error, 11, "retention", "keeps nothing"),
            ],
        ),
    ]
}

#[test]
fn validation_table() {
    let mut failures = Vec::new();
    for (case, text, expected) in cases() {
        let (valid, diags) = check(&[("p.toml", &text)]);
        let got: Vec<(Severity, usize, String, String)> = diags
            .iter()
            .map(|d| (d.severity, d.line, d.key.clone(), d.message.clone()))
            .collect();
        let matches = got.len() == expected.len()
            && expected
                .iter()
                .zip(&got)
                .all(|((s, l, k, m), (gs, gl, gk, gm))| {
                    s == gs && l == gl && k == gk && gm.contains(m)
                });
        let errors = expected.iter().filter(|e| e.0 == Severity::Error).count();
        let validity_ok = (valid == 1) == (errors == 0);
        if !matches || !validity_ok {
            failures.push(format!(
                "{case}: expected {expected:?}\n   got {got:?} (valid policies: {valid})"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn duplicate_component_names_across_files() {
    let (valid, diags) = check(&[("a.toml", GOOD_DB), ("b.toml", GOOD_DB)]);
    assert_eq!(valid, 1);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(diags[0].file.ends_with("b.toml"));
    assert_eq!(diags[0].key, "name");
    assert_eq!(diags[0].line, 2);
    assert!(
        diags[0].message.contains("duplicate component name \"db\""),
        "{}",
        diags[0].message
    );
}

#[test]
fn every_shipped_example_policy_is_valid() {
    let root = super::support::repo_root().join("policies");
    let mut n = 0;
    for dir in ["single-server", "elastic"] {
        let files = policy_files(&root.join(dir)).unwrap();
        assert!(!files.is_empty(), "{dir} has examples");
        let (policies, diags) = check_policy_files(&files, &ctx(), now());
        assert!(diags.is_empty(), "{dir}: {diags:#?}");
        assert_eq!(policies.len(), files.len());
        n += policies.len();
    }
    // Both deployments together cover every component kind of the whitepaper.
    assert_eq!(n, 5);
}
