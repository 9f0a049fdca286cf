//! Fleets: the real binary on the sandbox with its catalog on PostgreSQL (the throwaway
//! server `scripts/test.sh` starts), and the checks on a PostgreSQL catalog URL.

use super::restore::{content_of, steps_by_key};
use super::support::Sandbox;
use std::time::Duration;

/// The sandbox (blog and shop) with its catalog in a new PostgreSQL database.
fn sandbox_on_postgres() -> (Sandbox, String) {
    let s = Sandbox::new();
    let url = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(super::support::postgres_database());
    s.edit(
        "wpbackup.toml",
        "catalog = \"wpbackup.db\"",
        &format!("catalog = \"{url}\""),
    );
    (s, url)
}

fn rows(url: &str, sql: &str) -> i64 {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    })
}

/// Backups, a restore to before the damage with its cutover and rollback, a drill and an
/// audit, all through the CLI, with every record in PostgreSQL and no SQLite file made.
#[test]
fn the_sandbox_runs_backs_up_restores_and_audits_on_a_postgresql_catalog() {
    let (s, url) = sandbox_on_postgres();
    s.wpb().args(["run", "--all"]).assert().success();
    assert!(!s.catalog().exists(), "no SQLite catalog was made");
    let (code, points) = s.json(&["points"]);
    assert_eq!(code, 0, "{points:#}");
    let points = points["points"].as_array().unwrap();
    let sites: std::collections::BTreeSet<&str> =
        points.iter().map(|p| p["site"].as_str().unwrap()).collect();
    assert_eq!(sites, ["blog", "shop"].into_iter().collect());
    assert_eq!(
        rows(
            &url,
            "SELECT count(*) FROM recovery_points WHERE state <> 'deleted'"
        ),
        points.len() as i64,
        "the points listed are the rows in PostgreSQL"
    );
    let (code, runs) = s.json(&["runs"]);
    assert_eq!(code, 0);
    assert!(
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["phase"] == "Completed"),
        "{runs:#}"
    );

    // An instant T, then the database damaged after it: restored to T, cut over, rolled back.
    std::thread::sleep(Duration::from_millis(1100));
    let t = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    std::thread::sleep(Duration::from_millis(1100));
    s.sim(&[
        "damage",
        "--site",
        "shop",
        "--component",
        "db",
        "--what",
        "spam siteurl",
    ]);
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
    assert_eq!(exec["status"], "completed", "{exec:#}");
    let id = exec["plan_id"].as_str().unwrap().to_string();
    let db = content_of(&s, "shop", "db", None);
    assert!(
        !db["content"]["summary"]
            .as_str()
            .unwrap()
            .contains("DAMAGED"),
        "{db}"
    );
    let (_, show) = s.json(&["restore", "show", &id]);
    assert!(
        steps_by_key(&show).values().all(|st| st["state"] == "done"),
        "{show:#}"
    );
    assert_eq!(
        rows(&url, "SELECT count(*) FROM serving WHERE ended_at IS NULL"),
        3,
        "the restored cluster, file system and web server are adopted"
    );
    let (code, rb) = s.json(&["restore", "rollback", &id, "--yes"]);
    assert_eq!(code, 0, "{rb:#}");
    assert_eq!(rb["status"], "rolled-back");
    assert_eq!(
        rows(&url, "SELECT count(*) FROM serving WHERE ended_at IS NULL"),
        0
    );

    let (code, drill) = s.json(&["drill", "--site", "blog"]);
    assert_eq!(code, 0, "{drill:#}");
    assert_eq!(drill["status"], "torn-down");

    let out = s
        .wpb()
        .args(["--json", "audit", "--site", "blog"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["site"], "blog");
    assert_eq!(
        out.status.code(),
        Some(report_exit_code(&report)),
        "{report:#}"
    );
    assert_eq!(
        rows(&url, "SELECT count(*) FROM audits"),
        1,
        "the audit is stored"
    );
    assert!(rows(&url, "SELECT count(*) FROM audit_findings") > 0);
}

fn report_exit_code(report: &serde_json::Value) -> i32 {
    match report["status"].as_str().unwrap() {
        "pass" => 0,
        "warn" => 1,
        _ => 2,
    }
}

/// A password in the catalog URL would sit in the configuration file: refused before any
/// connection, without echoing it.
#[test]
fn a_catalog_url_with_a_password_is_refused_without_showing_it() {
    let s = Sandbox::new();
    s.edit(
        "wpbackup.toml",
        "catalog = \"wpbackup.db\"",
        "catalog = \"postgres://wpbackup:hunter2@127.0.0.1:1/wpbackup\"",
    );
    let out = s.wpb().args(["points"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(err.contains("PGPASSWORD"), "{err}");
    assert!(err.contains("wpbackup.toml"), "names the file: {err}");
    assert!(!err.contains("hunter2"), "{err}");
}

/// An unreachable server is a clear, unavailable error naming the URL (without a password).
#[test]
fn an_unreachable_postgresql_catalog_says_where_it_tried() {
    let s = Sandbox::new();
    s.edit(
        "wpbackup.toml",
        "catalog = \"wpbackup.db\"",
        "catalog = \"postgres://wpbackup@127.0.0.1:1/wpbackup?connect_timeout=2\"",
    );
    let out = s.wpb().args(["points"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect to the catalog postgres://wpbackup@127.0.0.1:1/wpbackup"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(74), "{err}");
}
