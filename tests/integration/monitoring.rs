//! The Grafana dashboard and Prometheus alerting rules in `docs/monitoring/` use only
//! metrics the daemon exports (checked against a real scrape in the daemon test), and are
//! well-formed: the dashboard is JSON with a query on every panel, every rule has an alert
//! name, an expression and a summary, and the four conditions operators page on are there.

use crate::support::repo_root;
use std::collections::BTreeSet;

fn read(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("docs/monitoring").join(name)).unwrap()
}

/// Every `wpbackup_…` metric name a text mentions.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("wpbackup_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// The metric names a scrape exports: every sample's name and every `# TYPE` (a metric
/// with no series yet, e.g. no failed run, still declares itself).
fn exported(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter_map(|l| match l.strip_prefix("# TYPE ") {
            Some(t) => t.split_whitespace().next(),
            None if l.starts_with('#') => None,
            None => l.split(['{', ' ']).next(),
        })
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// What the daemon test calls with its scrape of `/metrics`.
pub fn assert_dashboard_and_alerts_use_only(scrape: &str) {
    let exported = exported(scrape);
    for file in ["wpbackup-dashboard.json", "wpbackup-alerts.yml"] {
        let used = metric_names(&read(file));
        assert!(!used.is_empty(), "{file} uses no wpbackup metric");
        let unknown: Vec<&String> = used.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{file} uses metrics the daemon does not export: {unknown:?}\nexported: {exported:?}"
        );
    }
}

#[test]
fn the_dashboard_is_grafana_json_with_a_query_on_every_panel() {
    let d: serde_json::Value = serde_json::from_str(&read("wpbackup-dashboard.json")).unwrap();
    assert_eq!(d["title"], "wpbackup");
    let panels = d["panels"].as_array().unwrap();
    assert!(panels.len() >= 8, "{}", panels.len());
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "panel ids are unique"
        );
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{p}");
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            assert!(expr.contains("wpbackup_"), "{expr}");
            assert_eq!(
                expr.matches('(').count(),
                expr.matches(')').count(),
                "{expr}"
            );
        }
        assert_eq!(
            p["datasource"]["uid"], "${DS_PROMETHEUS}",
            "importable: {p}"
        );
    }
}

#[test]
fn the_alert_rules_cover_rpo_failed_runs_missed_fires_and_the_lease() {
    let text = read("wpbackup-alerts.yml");
    assert!(text.starts_with('#') || text.starts_with("groups:"));
    assert!(text.contains("\ngroups:\n"), "a Prometheus rule file");
    // Each rule: `- alert: Name`, then its expr and a summary, before the next rule.
    let rules: Vec<&str> = text.split("- alert: ").skip(1).collect();
    assert!(rules.len() >= 4, "{}", rules.len());
    let mut exprs = Vec::new();
    for rule in &rules {
        let name = rule.lines().next().unwrap().trim();
        assert!(
            name.starts_with("Wpbackup") && name.chars().all(|c| c.is_ascii_alphanumeric()),
            "{name}"
        );
        let expr = rule
            .lines()
            .find_map(|l| l.trim().strip_prefix("expr: "))
            .unwrap_or_else(|| panic!("{name} has no expr"));
        assert_eq!(
            expr.matches('(').count(),
            expr.matches(')').count(),
            "{expr}"
        );
        assert!(rule.contains("summary: "), "{name} has no summary");
        assert!(rule.contains("severity: "), "{name} has no severity");
        exprs.push(expr);
    }
    for (what, metric) in [
        ("newest point older than the RPO", "wpbackup_rpo_seconds"),
        ("failed runs", "wpbackup_run_failures_total"),
        ("missed fires", "wpbackup_missed_fires_total"),
        ("lease lost", "wpbackup_daemon_lease_held"),
    ] {
        assert!(
            exprs.iter().any(|e| e.contains(metric)),
            "no rule alerts on {what} ({metric})"
        );
    }
}
