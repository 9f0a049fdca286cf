//! Fleets: the real binary on the sandbox with its catalog on PostgreSQL (the throwaway
//! server `scripts/test.sh` starts), and the checks on a PostgreSQL catalog URL.

use super::restore::{content_of, steps_by_key};
use super::support::Sandbox;
use serde_json::Value;
use std::collections::BTreeSet;
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

/// A SQLite catalog with runs, points, a hold, an audit and a reviewed plan, copied to
/// PostgreSQL: every table's rows, the same `points`, `runs`, `hold list` and `restore list`
/// afterwards, the plan reviewed before the move applies after it, new rows continue after
/// the copied ids, and a second copy into the same database is refused.
/// A catalog over TLS (the test server speaks it with a certificate from a CA of the run's
/// own): with `sslmode=verify-full` and that CA every connection is encrypted, as the server
/// reports in `pg_stat_ssl`, and the binary works over it; a CA that did not sign the
/// server's certificate is refused, saying it is the certificate.
#[test]
fn a_postgresql_catalog_over_tls_checks_the_servers_certificate() {
    let ca = std::env::var("WPBACKUP_TEST_POSTGRES_CA").expect(
        "WPBACKUP_TEST_POSTGRES_CA is not set: run the tests with ./scripts/test.sh, which starts the PostgreSQL server with TLS",
    );
    let (s, url) = sandbox_on_postgres();
    let database = url.rsplit('/').next().unwrap().to_string();
    let tls_url = format!("{url}?sslmode=verify-full&sslrootcert={ca}");
    s.edit(
        "wpbackup.toml",
        &format!("catalog = \"{url}\""),
        &format!("catalog = \"{tls_url}\""),
    );
    s.wpb()
        .args(["run", "--site", "shop", "--policy", "db"])
        .assert()
        .success();
    let (_, pts) = s.json(&["points", "--site", "shop", "--component", "db"]);
    assert!(!pts["points"].as_array().unwrap().is_empty(), "{pts:#}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let location = wpbackup::domain::site::CatalogLocation::Postgres(tls_url.clone());
        let catalog = wpbackup::catalog::Catalog::connect(&location, false)
            .await
            .expect("the catalog over TLS");
        assert!(!catalog.identity().await.unwrap().is_empty());
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        let (encrypted, all): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a ON a.pid = s.pid \
             WHERE a.datname = $1 AND a.application_name = 'wpbackup'",
        )
        .bind(&database)
        .fetch_one(&admin)
        .await
        .unwrap();
        assert!(all > 0, "the catalog's connections are listed");
        assert_eq!(
            encrypted, all,
            "every connection of the catalog is encrypted"
        );
        admin.close().await;
    });

    // A CA of another's: the server's certificate is not trusted.
    let other = s.path().join("other-ca");
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=not the server's CA", "-keyout"])
        .arg(other.with_extension("key"))
        .arg("-out")
        .arg(other.with_extension("crt"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    s.edit(
        "wpbackup.toml",
        &format!("sslrootcert={ca}"),
        &format!("sslrootcert={}", other.with_extension("crt").display()),
    );
    let out = s.wpb().args(["status"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("certificate"), "{err}");
    assert!(err.contains(&database), "says which catalog: {err}");
}

#[test]
fn a_sqlite_catalog_is_copied_to_postgresql_and_reads_the_same() {
    let s = Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    let (_, points) = s.json(&["points"]);
    let oldest = points["points"][0]["id"].as_i64().unwrap();
    s.wpb()
        .args([
            "hold",
            "add",
            "--point",
            &oldest.to_string(),
            "--reason",
            "evidence",
        ])
        .assert()
        .success();
    s.wpb().args(["audit", "--site", "shop"]).output().unwrap();
    let (code, drill) = s.json(&["drill", "--site", "blog"]);
    assert_eq!(code, 0, "{drill:#}");
    // A plan reviewed, not yet applied: a file, bound to the catalog it was made from.
    let plan = s.path().join("plan.json");
    s.wpb()
        .args(["restore", "--site", "blog", "--at", "now", "--out"])
        .arg(&plan)
        .assert()
        .success();
    let views = |s: &Sandbox| {
        ["points", "runs", "hold list", "restore list"].map(|args| {
            let args: Vec<&str> = args.split(' ').collect();
            let (code, v) = s.json(&args);
            assert_eq!(code, 0, "{args:?}: {v:#}");
            v
        })
    };
    let before = views(&s);

    let url = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(super::support::postgres_database());
    let (code, copied) = s.json(&["catalog", "migrate", "--to", &url]);
    assert_eq!(code, 0, "{copied:#}");
    let tables = copied["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 15, "{copied:#}");
    assert!(
        tables.iter().all(|t| t["sqlite"] == t["postgres"]),
        "{copied:#}"
    );
    let count = |name: &str| {
        tables.iter().find(|t| t["table"] == name).unwrap()["postgres"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(
        count("recovery_points"),
        before[0]["points"].as_array().unwrap().len() as i64
    );
    assert_eq!(
        (count("holds"), count("audits"), count("restore_plans")),
        (1, 1, 1)
    );
    assert!(count("audit_findings") > 0 && count("restore_steps") > 0);

    s.edit(
        "wpbackup.toml",
        "catalog = \"wpbackup.db\"",
        &format!("catalog = \"{url}\""),
    );
    let after = views(&s);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "the same on PostgreSQL");
    }

    // The plan reviewed on SQLite is bound to the catalog's identity, which moved with it.
    let out = s
        .wpb()
        .args(["restore", "apply"])
        .arg(&plan)
        .arg("--yes")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Its steps were inserted after the copied ones; a new hold too.
    s.wpb()
        .args([
            "hold",
            "add",
            "--point",
            &oldest.to_string(),
            "--reason",
            "after the move",
        ])
        .assert()
        .success();
    let (_, holds) = s.json(&["hold", "list"]);
    let ids: Vec<i64> = holds["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![2, 1],
        "ids continue after the copied ones: {holds:#}"
    );

    let again = s
        .wpb()
        .args(["catalog", "migrate", "--from"])
        .arg(s.catalog())
        .args(["--to", &url])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(74), "{err}");
    assert!(err.contains("already records 2 site(s)"), "{err}");
}

/// `status`: every site's components against their RPO, the next fire and the last run;
/// a stale component; a failed plan left unfinished; the daemon holding the catalog.
#[test]
fn status_shows_each_component_against_its_rpo_unfinished_plans_and_the_daemon() {
    let s = Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    let (code, st) = s.json(&["status"]);
    assert_eq!(code, 0, "{st:#}");
    assert!(st["daemon"].is_null(), "no daemon has run: {st:#}");
    let sites = st["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 2);
    let now = chrono::Utc::now();
    for site in sites {
        for c in site["components"].as_array().unwrap() {
            assert_eq!(c["state"], "ok", "{c:#}");
            assert_eq!(c["last_run"]["phase"], "Completed", "{c:#}");
            assert!(c["age_seconds"].as_i64().unwrap() < c["rpo_seconds"].as_i64().unwrap());
            let next: chrono::DateTime<chrono::Utc> =
                c["next_fire"].as_str().unwrap().parse().unwrap();
            assert!(next > now - chrono::Duration::seconds(5), "{c:#}");
        }
    }

    // The media bucket's points 3 hours old (RPO 1h): stale.
    let url = format!("sqlite://{}", s.catalog().display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query(
            "UPDATE recovery_points SET
                 point_time = strftime('%Y-%m-%dT%H:%M:%fZ', point_time, '-3 hours')
             WHERE component_id = (SELECT id FROM components WHERE name = 'media')",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    });
    // A drill that fails stays unfinished.
    s.sim(&["fault", "access-denied", "--op", "create", "--times", "1"]);
    let (code, _) = s.json(&["drill", "--site", "blog"]);
    assert_ne!(code, 0);
    s.sim(&["clear-faults"]);
    let (_, st) = s.json(&["status", "--site", "shop"]);
    assert_eq!(st["sites"].as_array().unwrap().len(), 1);
    let media = st["sites"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "media")
        .unwrap()
        .clone();
    assert_eq!(media["state"], "stale", "{media:#}");
    let (_, st) = s.json(&["status", "--site", "blog"]);
    let plans = st["sites"][0]["unfinished_plans"].as_array().unwrap();
    assert_eq!(plans.len(), 1, "{st:#}");
    assert_eq!(
        (plans[0]["purpose"].as_str(), plans[0]["status"].as_str()),
        (Some("drill"), Some("failed"))
    );
    let table = s.wpb().args(["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("STALE") && text.contains("unfinished plan"),
        "{text}"
    );

    // A daemon holding the catalog is shown with its heartbeat.
    let mut daemon = std::process::Command::new(assert_cmd::cargo::cargo_bin("wpbackup"))
        .current_dir(s.path())
        .args(["--config", "wpbackup.toml", "daemon", "--listen", "off"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut shown = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, st) = s.json(&["status"]);
        if st["daemon"]["alive"] == true {
            shown = st["daemon"].clone();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(
        shown["pid"].as_i64(),
        Some(i64::from(daemon.id())),
        "{shown:#}"
    );
}

/// The blog's `[[sites]]` table of the sandbox, as a file of its own (root keys).
const BLOG_TABLE: &str = "[[sites]]
name = \"blog\"
provider = \"sim\"
region = \"us-east-1\"
dr_region = \"us-west-2\"
timezone = \"Europe/Berlin\"
policies = \"policies/blog\"
[sites.entry_point]
lightsail_static_ip = \"StaticIp-1\"
[sites.health_check]
url = \"https://blog.example.com/wp-login.php\"
";

fn as_site_file(table: &str) -> String {
    table.replace("[[sites]]\n", "").replace("[sites.", "[")
}

/// Sites from `sites.d/`, one file per site, beside those of `wpbackup.toml`: the same
/// site works the same from either place.
#[test]
fn sites_come_from_a_directory_one_file_per_site() {
    let s = Sandbox::new();
    s.edit("wpbackup.toml", BLOG_TABLE, "");
    std::fs::create_dir(s.path().join("sites.d")).unwrap();
    std::fs::write(s.path().join("sites.d/blog.toml"), as_site_file(BLOG_TABLE)).unwrap();
    s.wpb().args(["run", "--all"]).assert().success();
    let (_, st) = s.json(&["status"]);
    let sites: Vec<&str> = st["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["site"].as_str().unwrap())
        .collect();
    assert_eq!(
        sites,
        vec!["shop", "blog"],
        "wpbackup.toml's, then sites.d's"
    );
    assert!(
        st["sites"][1]["components"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "ok"),
        "{st:#}"
    );
    // `sites_dir` names another directory; only that one is read then.
    std::fs::rename(s.path().join("sites.d"), s.path().join("fleet")).unwrap();
    s.edit(
        "wpbackup.toml",
        "version = 1\n",
        "version = 1\nsites_dir = \"fleet\"\n",
    );
    let (code, points) = s.json(&["points", "--site", "blog"]);
    assert_eq!(code, 0, "{points:#}");
    assert!(!points["points"].as_array().unwrap().is_empty());
}

/// Every mistake in every site file, each with its file and line, and nothing written.
#[test]
fn every_mistake_in_the_site_files_is_reported_with_its_file_and_line() {
    let s = Sandbox::new();
    std::fs::create_dir(s.path().join("sites.d")).unwrap();
    let bad = as_site_file(BLOG_TABLE)
        .replace("name = \"blog\"", "name = \"blog2\"")
        .replace("region = \"us-east-1\"", "region = \"moon-1\"")
        .replace("timezone", "timezon");
    std::fs::write(s.path().join("sites.d/a-blog.toml"), bad).unwrap();
    // A second file claims the shop, which wpbackup.toml defines.
    let dup = as_site_file(BLOG_TABLE).replace("name = \"blog\"", "name = \"shop\"");
    std::fs::write(s.path().join("sites.d/b-shop.toml"), dup).unwrap();
    std::fs::write(s.path().join("sites.d/README.md"), "not a site").unwrap();
    let out = s.wpb().args(["run", "--all"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{err}");
    for needle in [
        "sites.d/a-blog.toml:3:",
        "moon-1",
        "sites.d/a-blog.toml:5:",
        "timezon",
        "sites.d/b-shop.toml:1:",
        "duplicate site name \"shop\"",
        "3 problem(s)",
    ] {
        assert!(err.contains(needle), "{needle} missing:\n{err}");
    }
    assert!(!err.contains("README"), "{err}");
    assert!(!s.catalog().exists(), "nothing was written");
}

/// `spread`: the site's fires move to its deterministic place in the window — what the
/// daemon and `status` use as the next fire.
#[test]
fn a_spread_schedule_fires_at_the_sites_place_in_the_window() {
    use wpbackup::domain::schedule::{spread_offset, CronSchedule};
    let s = Sandbox::new();
    s.edit(
        "policies/shop/db.toml",
        "rpo = \"4h\"",
        "rpo = \"4h\"\nspread = \"3h\"",
    );
    s.wpb().args(["policy", "check"]).assert().success();
    s.wpb()
        .args(["run", "--policy", "shop/db"])
        .assert()
        .success();
    let (code, st) = s.json(&["status", "--site", "shop"]);
    assert_eq!(code, 0, "{st:#}");
    let as_of: chrono::DateTime<chrono::Utc> = st["as_of"].as_str().unwrap().parse().unwrap();
    let offset = spread_offset("shop", Duration::from_secs(3 * 3600));
    let expected = CronSchedule::parse("0 */4 * * *", chrono_tz::UTC)
        .unwrap()
        .with_offset(offset)
        .next_after(as_of)
        .unwrap();
    let db = st["sites"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "db")
        .unwrap()
        .clone();
    let next: chrono::DateTime<chrono::Utc> = db["next_fire"].as_str().unwrap().parse().unwrap();
    assert_eq!(next, expected, "{db:#}");
}

/// `[limits]`: at most this many runs at once per AWS service, across sites. Two sites'
/// Aurora runs started together overlap without a limit and follow each other with
/// `rds = 1`.
#[test]
fn a_service_limit_keeps_runs_of_that_service_apart() {
    let overlapping = |limited: bool| {
        let s = Sandbox::as_shipped();
        if limited {
            let cfg = s.config();
            let text = std::fs::read_to_string(&cfg).unwrap() + "\n[limits]\nrds = 1\n";
            std::fs::write(&cfg, text).unwrap();
        }
        s.wpb()
            .args(["run", "--policy", "shop/db", "--policy", "news/db"])
            .assert()
            .success();
        let (_, runs) = s.json(&["runs", "--component", "db"]);
        let spans: Vec<(String, String)> = runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["started_at"].as_str().unwrap().to_string(),
                    r["finished_at"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(spans.len(), 2, "{runs:#}");
        // RFC 3339 in UTC with the same precision: text order is time order.
        spans[0].0 < spans[1].1 && spans[1].0 < spans[0].1
    };
    assert!(overlapping(false), "without a limit both run at once");
    assert!(!overlapping(true), "with rds = 1 one after the other");
}

/// A zero limit or an unknown service is refused with what would be accepted.
#[test]
fn bad_limits_are_refused_saying_what_is_accepted() {
    let s = Sandbox::new();
    let cfg = s.config();
    let text = std::fs::read_to_string(&cfg).unwrap() + "\n[limits]\nrds = 0\ndynamo = 2\n";
    std::fs::write(&cfg, text).unwrap();
    let out = s.wpb().args(["run", "--all"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(
        err.contains("`limits.rds`") && err.contains("give 1 or more"),
        "{err}"
    );
    assert!(err.contains("dynamo"), "{err}");
}

/// A child process killed when dropped (a failing test leaves no daemon behind).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn query_rows(url: &str, sql: &str) -> Vec<(String, String, String)> {
    try_query_rows(url, sql).unwrap()
}

/// As `query_rows`; an error (e.g. no tables before a daemon made the catalog) returned.
fn try_query_rows(url: &str, sql: &str) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::PgPool::connect(url).await?;
        let rows = sqlx::query_as(sql).fetch_all(&pool).await;
        pool.close().await;
        rows
    })
}

/// `wpbackup daemon` on the sandbox, with no HTTP endpoint, the lease TTL given and `extra`
/// arguments.
fn spawn_daemon(s: &Sandbox, lease_ttl: &str, extra: &[&str]) -> Child {
    Child(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("wpbackup"))
            .current_dir(s.path())
            .args([
                "--config",
                "wpbackup.toml",
                "daemon",
                "--listen",
                "off",
                "--lease-ttl",
                lease_ttl,
            ])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The runs of shop/files (empty until a daemon has made the catalog).
fn files_runs(s: &Sandbox) -> Vec<Value> {
    super::support::shop_files_runs(s, 100).unwrap_or_default()
}

/// The runs of shop/files once `done` holds for them (at most 100 s).
fn wait_for_runs(s: &Sandbox, what: &str, done: &dyn Fn(&[Value]) -> bool) -> Vec<Value> {
    super::support::poll_until(what, 100, || files_runs(s), done)
}

/// The first fire of shop/files to start: its instant and the daemon that claimed it.
fn first_fire_in_progress(s: &Sandbox, url: &str) -> (String, String) {
    let first = wait_for_runs(s, "no daemon started the fire", &|r| {
        r.iter().any(|r| r["phase"] == "InProgress")
    });
    let fire = first.iter().find(|r| r["phase"] == "InProgress").unwrap()["scheduled_for"]
        .as_str()
        .unwrap()
        .to_string();
    let claims = query_rows(
        url,
        "SELECT holder, state, scheduled_for::text FROM fire_claims",
    );
    assert_eq!(claims.len(), 1, "one claim for the fire: {claims:?}");
    (fire, claims[0].0.clone())
}

/// A sandbox on PostgreSQL whose shop/files fires every minute and takes `creating_for`.
fn files_every_minute(creating_for: &str) -> (Sandbox, String) {
    let (s, url) = sandbox_on_postgres();
    s.edit(
        "wpbackup.toml",
        "creating_for = \"300ms\"",
        &format!("creating_for = \"{creating_for}\""),
    );
    s.edit(
        "policies/shop/files.toml",
        "schedule = \"15 */6 * * *\"",
        "schedule = \"* * * * *\"",
    );
    (s, url)
}

fn sigterm(d: &Child) {
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &d.0.id().to_string()])
        .status()
        .unwrap()
        .success());
}

/// Three daemons on one PostgreSQL catalog share a fire every minute: each fire is claimed
/// by exactly one; the daemon running a fire is killed (SIGKILL) mid-run, and another takes
/// the fire over once the dead one's row expires, re-runs it — adopting the point the
/// killed run had started — and SIGTERM hands the survivors' rows back.
#[test]
fn three_daemons_share_the_schedule_and_take_over_a_killed_ones_fire() {
    let (s, url) = files_every_minute("6s");
    let mut daemons: Vec<Child> = (0..3).map(|_| spawn_daemon(&s, "6s", &[])).collect();
    let wait = |what: &str, done: &dyn Fn(&[Value]) -> bool| wait_for_runs(&s, what, done);
    // The claim names the daemon running it; kill that one.
    let (fire, holder) = first_fire_in_progress(&s, &url);
    // `status` shows the three daemons, and which one runs the fire.
    let (_, st) = s.json(&["status", "--site", "shop"]);
    assert_eq!(st["daemons"].as_array().unwrap().len(), 3, "{st:#}");
    let files = st["sites"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "files")
        .unwrap()
        .clone();
    assert_eq!(files["claimed_by"], holder.as_str(), "{files:#}");
    let pid: u32 = holder.split(':').nth(1).unwrap().parse().unwrap();
    let victim = daemons
        .iter()
        .position(|d| d.0.id() == pid)
        .expect("a daemon of this test");
    let mut killed = daemons.remove(victim);
    killed.0.kill().unwrap();
    killed.0.wait().unwrap();

    let done = wait("the killed daemon's fire was not taken over", &|r| {
        r.iter()
            .any(|r| r["scheduled_for"] == fire.as_str() && r["phase"] == "Completed")
    });
    let of_fire: Vec<&Value> = done
        .iter()
        .filter(|r| r["scheduled_for"] == fire.as_str())
        .collect();
    let phases: BTreeSet<&str> = of_fire
        .iter()
        .map(|r| r["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        of_fire.len(),
        2,
        "the killed run and one re-run: {of_fire:#?}"
    );
    assert_eq!(
        phases,
        BTreeSet::from(["Completed", "Interrupted"]),
        "{of_fire:#?}"
    );
    let claims = query_rows(
        &url,
        "SELECT holder, state, takeovers::text FROM fire_claims",
    );
    let taken = claims
        .iter()
        .find(|c| c.2 == "1")
        .expect("the fire was taken over once");
    assert_ne!(taken.0, holder, "by another daemon: {claims:?}");

    // Every scheduled fire so far: exactly one run that is not the killed one, one point.
    let all = files_runs(&s);
    let mut per_fire: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in all
        .iter()
        .filter(|r| r["trigger"] == "schedule" && r["phase"] != "Interrupted")
    {
        *per_fire
            .entry(r["scheduled_for"].as_str().unwrap())
            .or_default() += 1;
    }
    assert!(
        per_fire.values().all(|&n| n == 1),
        "a fire ran twice: {all:#?}"
    );
    let (_, pts) = s.json(&["points", "--site", "shop", "--component", "files"]);
    let names: Vec<&str> = pts["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["region"] == "us-east-1")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "no point taken twice: {names:?}");

    // SIGTERM: the survivors finish what runs and leave; no row is left behind.
    for d in &daemons {
        sigterm(d);
    }
    for d in &mut daemons {
        assert_eq!(d.0.wait().unwrap().code(), Some(0));
    }
    let left = query_rows(
        &url,
        "SELECT holder, pid::text, expires_at::text FROM daemons",
    );
    assert!(
        left.iter().all(|d| d.0 == holder),
        "only the killed daemon's row may remain: {left:?}"
    );
}

/// A daemon told to stop while a run of its is in flight keeps its row alive until the run
/// ends — longer than its lease lasts — so no other daemon takes that fire over and runs it
/// a second time (the heartbeat beats on a task of its own, not only between the loop's
/// turns, which have ended).
#[test]
fn a_stopping_daemon_keeps_its_fire_while_the_run_outlasts_its_lease() {
    let (s, url) = files_every_minute("12s");
    let daemons: Vec<Child> = (0..2).map(|_| spawn_daemon(&s, "3s", &[])).collect();
    let (fire, holder) = first_fire_in_progress(&s, &url);
    let pid: u32 = holder.split(':').nth(1).unwrap().parse().unwrap();
    let (mut stopping, other): (Vec<Child>, Vec<Child>) =
        daemons.into_iter().partition(|d| d.0.id() == pid);
    let mut stopping = stopping.pop().expect("a daemon of this test runs the fire");
    sigterm(&stopping);
    // It exits once its run has ended, and only then.
    assert_eq!(stopping.0.wait().unwrap().code(), Some(0));
    let runs = files_runs(&s);
    let of_fire: Vec<&Value> = runs
        .iter()
        .filter(|r| r["scheduled_for"] == fire.as_str())
        .collect();
    assert_eq!(of_fire.len(), 1, "one run of the fire: {of_fire:#?}");
    assert_eq!(of_fire[0]["phase"], "Completed", "{of_fire:#?}");
    let taken = query_rows(
        &url,
        "SELECT holder, state, takeovers::text FROM fire_claims WHERE takeovers > 0",
    );
    assert!(taken.is_empty(), "no fire was taken over: {taken:?}");
    drop(other);
}

/// SIGTERM hands back the fires a daemon claimed and has not started: a daemon running one
/// backup at a time claims the four fires of a minute and starts one; told to stop, it
/// lets that run finish and leaves the three others, which a second daemon takes over at
/// once — it does not keep the operator (or systemd's stop timeout) waiting for a queue
/// that others can run. Every fire runs exactly once.
#[test]
fn sigterm_hands_back_the_fires_a_daemon_has_not_started() {
    let (s, url) = files_every_minute("8s");
    for (policy, schedule) in [
        ("db", "0 */4 * * *"),
        ("media", "0 * * * *"),
        ("web", "30 2 * * *"),
    ] {
        s.edit(
            &format!("policies/shop/{policy}.toml"),
            &format!("schedule = \"{schedule}\""),
            "schedule = \"* * * * *\"",
        );
    }
    let mut first = spawn_daemon(&s, "4s", &["--concurrency", "1"]);
    let first_pid = first.0.id().to_string();
    // The first minute's four fires claimed, one of them running.
    let deadline = std::time::Instant::now() + Duration::from_secs(100);
    let fire = loop {
        // Empty until the daemon has made the catalog.
        let started = try_query_rows(
            &url,
            "SELECT r.scheduled_for::text, r.phase, c.name FROM runs r \
             JOIN components c ON c.id = r.component_id WHERE r.phase = 'InProgress'",
        )
        .unwrap_or_default();
        if let Some((fire, _, _)) = started.first() {
            break fire.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no fire started");
        std::thread::sleep(Duration::from_millis(200));
    };
    let of_fire = |sql: &str| query_rows(&url, &sql.replace("$FIRE", &fire));
    let claims = of_fire(
        "SELECT holder, state, takeovers::text FROM fire_claims WHERE scheduled_for = '$FIRE'",
    );
    assert_eq!(claims.len(), 4, "the minute's four fires: {claims:?}");
    assert!(claims
        .iter()
        .all(|c| c.0.split(':').nth(1) == Some(first_pid.as_str())));

    let _second = spawn_daemon(&s, "4s", &["--concurrency", "4"]);
    std::thread::sleep(Duration::from_secs(1));
    sigterm(&first);
    assert_eq!(first.0.wait().unwrap().code(), Some(0));

    let deadline = std::time::Instant::now() + Duration::from_secs(100);
    let runs = loop {
        let runs = of_fire(
            "SELECT c.name, r.phase, r.pid::text FROM runs r JOIN components c ON c.id = r.component_id \
             WHERE r.trigger = 'schedule' AND r.scheduled_for = '$FIRE' ORDER BY c.name",
        );
        if runs.len() == 4 && runs.iter().all(|r| r.1 == "Completed") {
            break runs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the fires handed back were not run: {runs:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let by_first = runs.iter().filter(|r| r.2 == first_pid).count();
    assert_eq!(
        by_first, 1,
        "the stopping daemon ran only the fire it had started: {runs:?}"
    );
    let claims = of_fire(
        "SELECT holder, state, takeovers::text FROM fire_claims WHERE scheduled_for = '$FIRE'",
    );
    let taken: Vec<_> = claims.iter().filter(|c| c.2 == "1").collect();
    assert_eq!(
        taken.len(),
        3,
        "three fires handed back and taken over: {claims:?}"
    );
    assert!(
        taken
            .iter()
            .all(|c| c.0.split(':').nth(1) != Some(first_pid.as_str())),
        "{claims:?}"
    );
    assert!(claims.iter().all(|c| c.1 == "done"), "{claims:?}");
}

/// A restore and a backup never act on a site's components at once: a backup started while
/// the site's restore executes is skipped and says why; a rollback waits for the backup in
/// flight to finish before it acts.
#[test]
fn a_restore_and_a_backup_of_the_same_site_never_act_at_once() {
    let s = Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    std::thread::sleep(Duration::from_millis(1100));
    let t = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    std::thread::sleep(Duration::from_millis(1100));
    let spawn = |args: &[&str]| {
        Child(
            std::process::Command::new(assert_cmd::cargo::cargo_bin("wpbackup"))
                .current_dir(s.path())
                .args(["--config", "wpbackup.toml", "--json"])
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    // The restore's creations are slow; a backup of the shop meanwhile is skipped.
    s.sim(&[
        "fault",
        "latency",
        "--latency-ms",
        "2500",
        "--op",
        "create",
        "--times",
        "2",
    ]);
    let mut restore = spawn(&[
        "restore",
        "--site",
        "shop",
        "--at",
        &t,
        "--execute",
        "--yes",
    ]);
    until("the restore never started executing", &|| {
        let (_, list) = s.json(&["restore", "list"]);
        list["plans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["status"] == "executing")
    });
    s.wpb()
        .args(["run", "--policy", "shop/media"])
        .output()
        .unwrap();
    let (_, runs) = s.json(&[
        "runs",
        "--site",
        "shop",
        "--component",
        "media",
        "--limit",
        "1",
    ]);
    let newest = &runs["runs"][0];
    assert_eq!(newest["phase"], "Skipped", "{runs:#}");
    assert!(
        newest["failure_reason"]
            .as_str()
            .unwrap()
            .contains("a restore of site shop is executing"),
        "{runs:#}"
    );
    assert_eq!(restore.0.wait().unwrap().code(), Some(0));
    let mut out = String::new();
    std::io::Read::read_to_string(restore.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    let id = serde_json::from_str::<Value>(&out).unwrap()["plan_id"]
        .as_str()
        .unwrap()
        .to_string();

    // A slow backup of the database in flight: the rollback waits for it, then acts.
    s.sim(&["clear-faults"]);
    s.sim(&[
        "fault",
        "latency",
        "--latency-ms",
        "2500",
        "--site",
        "shop",
        "--component",
        "db",
        "--op",
        "create",
        "--times",
        "1",
    ]);
    let mut backup = spawn(&["run", "--policy", "shop/db"]);
    until("the backup never started", &|| {
        let (_, runs) = s.json(&[
            "runs",
            "--site",
            "shop",
            "--component",
            "db",
            "--limit",
            "1",
        ]);
        runs["runs"][0]["phase"] == "InProgress"
    });
    let (code, rb) = s.json(&["restore", "rollback", &id, "--yes"]);
    assert_eq!(code, 0, "{rb:#}");
    backup.0.wait().unwrap();
    let (_, runs) = s.json(&[
        "runs",
        "--site",
        "shop",
        "--component",
        "db",
        "--limit",
        "1",
    ]);
    let finished: chrono::DateTime<chrono::Utc> = runs["runs"][0]["finished_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (_, show) = s.json(&["restore", "show", &id]);
    let rollback_started = show["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| st["key"].as_str().unwrap().starts_with("rollback"))
        .filter_map(|st| st["started_at"].as_str())
        .map(|t| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap())
        .min()
        .expect("rollback steps ran");
    assert!(
        rollback_started >= finished,
        "the rollback acted at {rollback_started} while the backup ran until {finished}"
    );
}
