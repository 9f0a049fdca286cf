//! Audits: a healthy site passes clean; catalogs and clouds with known defects produce the
//! right failing finding and exit code; `--as-of`, `--since-last`, stored audits; every
//! report format against its golden file; the HTML rendered by headless Chromium; the live
//! controls against moto.

use crate::support::{repo_root, Sandbox};
use serde_json::Value;

fn audit(s: &Sandbox, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["audit", "--site", "shop"];
    args.extend(extra);
    s.json(&args)
}

/// The status of one finding (panics, showing the report, when it is absent).
fn status(report: &Value, control: &str, component: Option<&str>) -> String {
    let f = finding(report, control, component);
    f["status"].as_str().unwrap().to_string()
}

fn finding<'a>(report: &'a Value, control: &str, component: Option<&str>) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["control"] == control && f["component"].as_str() == component)
        .unwrap_or_else(|| panic!("no finding {control}/{component:?} in {report:#}"))
}

fn not_passing(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] != "pass")
        .map(|f| format!("{} {} {}", f["status"], f["control"], f["component"]))
        .collect()
}

/// Run one SQL statement against the sandbox's catalog (to age points: "a catalog with a
/// stale component").
fn sql(s: &Sandbox, statement: &str) {
    let url = format!("sqlite://{}", s.catalog().display());
    let statement = statement.to_string();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query(&statement).execute(&pool).await.unwrap();
            pool.close().await;
        });
}

fn healthy() -> Sandbox {
    let s = Sandbox::new();
    s.wpb().args(["run", "--all"]).assert().success();
    s.wpb().args(["drill", "--site", "shop"]).assert().success();
    s
}

#[test]
fn a_healthy_site_passes_clean_and_the_audit_is_stored() {
    let s = healthy();
    let (code, r) = audit(&s, &[]);
    assert_eq!(code, 0, "{:?}", not_passing(&r));
    assert_eq!(r["status"], "pass");
    assert_eq!(r["audit_version"], 1);
    assert_eq!(r["live"], true);
    assert!(not_passing(&r).is_empty(), "{:?}", not_passing(&r));
    // Every control is there, for every component it concerns.
    for (control, component) in [
        ("rpo", Some("db")),
        ("rpo", Some("media")),
        ("policy", Some("web")),
        ("dr-copy", Some("files")),
        ("retention", Some("web")),
        ("encryption", Some("db")),
        ("failed-runs", Some("files")),
        ("aurora-pitr-window", Some("db")),
        ("s3-versioning", Some("media")),
        ("s3-replication", Some("media")),
        ("vault-lock", Some("files")),
        ("drill", None),
        ("drill-leftovers", None),
        ("staging", None),
        ("unfinished-plans", None),
        ("orphaned-points", None),
        ("orphaned-ebs-snapshots", None),
        ("expired-points", None),
        ("unmanaged-snapshots", None),
    ] {
        let f = finding(&r, control, component);
        assert!(
            !f["evidence"].as_array().unwrap().is_empty() || f["summary"] != "",
            "{f}"
        );
    }
    assert_eq!(
        finding(&r, "rpo", Some("db"))["evidence"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Stored with one row per finding, as monitoring queries read them.
    let rows: Vec<(String, Option<String>, String, String)> =
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", s.catalog().display()))
                .await
                .unwrap();
            sqlx::query_as(
                "SELECT control, component, status, evidence FROM audit_findings
                 WHERE audit_id = (SELECT max(id) FROM audits) ORDER BY id",
            )
            .fetch_all(&db)
            .await
            .unwrap()
        });
    let findings = r["findings"].as_array().unwrap();
    assert_eq!(rows.len(), findings.len());
    for ((control, component, status, evidence), f) in rows.iter().zip(findings) {
        assert_eq!(control, f["control"].as_str().unwrap());
        assert_eq!(component.as_deref(), f["component"].as_str());
        assert_eq!(status, f["status"].as_str().unwrap());
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(evidence).unwrap(),
            f["evidence"]
        );
    }

    // Stored: the next audit compares with it.
    let (code, again) = audit(&s, &["--since-last"]);
    assert_eq!(code, 0);
    assert!(again["since"]["previous_id"].as_i64().unwrap() >= 1);
    assert_eq!(again["since"]["changes"], serde_json::json!([]));
}

#[test]
fn known_defects_each_fail_their_control_with_exit_2() {
    let s = Sandbox::new();
    // A missing DR copy: copying the web tier's AMI is refused.
    s.sim(&[
        "fault",
        "access-denied",
        "--site",
        "shop",
        "--component",
        "web",
        "--op",
        "copy",
    ]);
    s.wpb().args(["run", "--all"]).output().unwrap();
    s.sim(&["clear-faults"]);
    // Two failed runs in a row of the database.
    s.sim(&[
        "fault",
        "access-denied",
        "--site",
        "shop",
        "--component",
        "db",
        "--op",
        "create",
    ]);
    for _ in 0..2 {
        let out = s.wpb().args(["run", "--policy", "db"]).output().unwrap();
        assert_ne!(out.status.code(), Some(0));
    }
    s.sim(&["clear-faults"]);
    // A stale component: the media bucket's points are 3 hours old (RPO 1h).
    sql(
        &s,
        "UPDATE recovery_points SET
             point_time = strftime('%Y-%m-%dT%H:%M:%fZ', point_time, '-3 hours'),
             created_at = strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '-3 hours'),
             completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', completed_at, '-3 hours')
         WHERE component_id = (SELECT id FROM components WHERE name = 'media')",
    );
    // An orphaned AMI snapshot: the AMI deregistered in the console, its snapshot kept.
    let (_, points) = s.json(&["points", "--site", "shop", "--component", "web"]);
    let ami = points["points"][0]["provider_id"]
        .as_str()
        .unwrap()
        .to_string();
    s.sim(&["delete-point", &ami, "--keep-snapshots"]);
    // Replication of the media bucket switched off; the EFS vault unlocked.
    s.sim(&[
        "set",
        "--site",
        "shop",
        "--component",
        "media",
        "--replication",
        "false",
    ]);
    s.sim(&[
        "set",
        "--site",
        "shop",
        "--component",
        "files",
        "--vault-lock",
        "false",
    ]);
    // A failed drill: the restored site does not answer.
    s.sim(&["health", "--site", "shop", "--status", "500"]);
    let out = s.wpb().args(["drill", "--site", "shop"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0), "the drill must fail");
    // An untagged snapshot taken by hand.
    s.sim(&["snapshot-by-hand", "--site", "shop", "--component", "db"]);

    let (code, r) = audit(&s, &[]);
    assert_eq!(code, 2, "{:?}", not_passing(&r));
    assert_eq!(r["status"], "fail");
    assert_eq!(status(&r, "rpo", Some("media")), "fail");
    assert!(finding(&r, "rpo", Some("media"))["summary"]
        .as_str()
        .unwrap()
        .contains("3h"));
    assert_eq!(status(&r, "rpo", Some("files")), "pass");
    assert_eq!(status(&r, "dr-copy", Some("web")), "fail");
    assert_eq!(status(&r, "dr-copy", Some("files")), "pass");
    assert_eq!(status(&r, "failed-runs", Some("db")), "fail");
    assert!(finding(&r, "failed-runs", Some("db"))["summary"]
        .as_str()
        .unwrap()
        .contains("last 2 run(s) failed"));
    assert_eq!(status(&r, "orphaned-ebs-snapshots", None), "fail");
    let orphan = finding(&r, "orphaned-ebs-snapshots", None);
    assert!(
        orphan["summary"].as_str().unwrap().starts_with("1 EBS"),
        "{orphan}"
    );
    assert!(orphan["evidence"][0].as_str().unwrap().contains("snap-"));
    assert_eq!(status(&r, "s3-replication", Some("media")), "fail");
    assert_eq!(status(&r, "s3-versioning", Some("media")), "pass");
    assert_eq!(status(&r, "vault-lock", Some("files")), "fail");
    assert_eq!(status(&r, "drill", None), "fail");
    assert_eq!(status(&r, "drill-leftovers", None), "warn");
    assert_eq!(status(&r, "unmanaged-snapshots", None), "warn");
    assert!(r["waste"]["resources"].as_u64().unwrap() >= 2);
    // Worst first.
    let order: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    let rank = |s: &str| {
        ["fail", "warn", "pass"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    assert!(
        order.windows(2).all(|w| rank(w[0]) <= rank(w[1])),
        "{order:?}"
    );
}

#[test]
fn warnings_alone_exit_1_and_since_last_shows_the_change() {
    let s = healthy();
    let (code, _) = audit(&s, &[]);
    assert_eq!(code, 0);
    s.sim(&["snapshot-by-hand", "--site", "shop", "--component", "web"]);
    let (code, r) = audit(&s, &["--since-last"]);
    assert_eq!(code, 1, "{:?}", not_passing(&r));
    assert_eq!(r["status"], "warn");
    let changes = r["since"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["control"], "unmanaged-snapshots");
    assert_eq!(changes[0]["before"], "pass");
    assert_eq!(changes[0]["after"], "warn");

    // The table says the same at a glance: verdict first, worst first.
    let out = s
        .wpb()
        .args(["audit", "--site", "shop", "--since-last", "--no-store"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("WARN — site shop"), "{text}");
    assert!(
        text.contains("0 change(s)"),
        "compared with the stored warn audit: {text}"
    );
    let first_row = text
        .lines()
        .find(|l| l.contains("WARN ") && l.contains('┆'))
        .unwrap();
    assert!(first_row.contains("unmanaged-snapshots"), "{text}");
}

#[test]
fn as_of_evaluates_the_catalog_as_it_stood_then() {
    let s = Sandbox::new();
    let before = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.wpb().args(["run", "--all"]).assert().success();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let after_run = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.wpb().args(["drill", "--site", "shop"]).assert().success();
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();

    let (code, r) = audit(&s, &["--as-of", &stamp(before), "--no-store"]);
    assert_eq!(code, 2);
    assert_eq!(
        r["live"], false,
        "live settings are not read for a past instant"
    );
    assert_eq!(status(&r, "rpo", Some("db")), "fail");
    assert!(finding(&r, "rpo", Some("db"))["summary"]
        .as_str()
        .unwrap()
        .contains("no available point"));
    assert!(r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["control"] != "s3-replication" && f["control"] != "orphaned-points"));

    // After the backups, before the drill: points pass, the drill does not exist yet.
    let (code, r) = audit(&s, &["--as-of", &stamp(after_run), "--no-store"]);
    assert_eq!(code, 2, "{:?}", not_passing(&r));
    assert_eq!(status(&r, "rpo", Some("db")), "pass");
    assert_eq!(status(&r, "drill", None), "fail");
    assert_eq!(not_passing(&r).len(), 1, "{:?}", not_passing(&r));
    let (code, now) = audit(&s, &["--no-store"]);
    assert_eq!(code, 0, "{:?}", not_passing(&now));
    assert_eq!(status(&now, "drill", None), "pass");
}

#[test]
fn bad_audit_input_is_refused_saying_what_is_accepted() {
    let s = Sandbox::new();
    let out = s
        .wpb()
        .args(["audit", "--site", "shop", "--as-of", "last tuesdayish"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--as-of"));
    let out = s
        .wpb()
        .args(["audit", "--site", "shop", "--as-of", "2099-01-01T00:00:00Z"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in the future"));
    let out = s.wpb().args(["audit", "--site", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));

    // Three mistakes in [sites.audit]: three problems reported, nothing audited.
    let cfg = std::fs::read_to_string(s.config()).unwrap();
    let cfg = cfg.replacen(
        "[sites.health_check]",
        "[sites.audit]\nmax_dr_copy_age = \"soon\"\nmin_pitr_days = 90\nrequire_lock = true\n\n[sites.health_check]",
        1,
    );
    std::fs::write(s.config(), cfg).unwrap();
    let out = s.wpb().args(["audit", "--site", "shop"]).output().unwrap();
    assert_eq!(out.status.code(), Some(65));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in ["max_dr_copy_age", "min_pitr_days", "require_lock"] {
        assert!(err.contains(needle), "{needle} not reported:\n{err}");
    }
}

/// With several sites and no `--site`: every site audited into one report, a summary line
/// per site worst first, each site's findings as its own audit has them, each stored, and
/// the exit code the worst site's — one cron line or monitoring check for the fleet.
#[test]
fn a_fleet_audit_covers_every_site_and_exits_with_the_worst() {
    let s = healthy();
    s.wpb().args(["drill", "--site", "blog"]).assert().success();
    // The shop's media bucket goes stale (RPO 1h): the shop fails, the blog does not.
    sql(
        &s,
        "UPDATE recovery_points SET
             point_time = strftime('%Y-%m-%dT%H:%M:%fZ', point_time, '-3 hours'),
             created_at = strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '-3 hours'),
             completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', completed_at, '-3 hours')
         WHERE component_id = (SELECT id FROM components WHERE name = 'media')",
    );
    let (code, fleet) = s.json(&["audit"]);
    assert_eq!(fleet["status"], "fail", "{:#}", fleet["summary"]);
    assert_eq!(code, 2);
    let summary = fleet["summary"].as_array().unwrap();
    assert_eq!(
        summary
            .iter()
            .map(|l| l["site"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["shop", "blog"],
        "worst first"
    );
    assert_ne!(summary[1]["status"], "fail", "{summary:#?}");
    assert!(summary[0]["failing"]
        .as_array()
        .unwrap()
        .contains(&"rpo".into()));
    assert_eq!(fleet["sites_by_status"]["fail"], 1);
    for report in fleet["reports"].as_array().unwrap() {
        let site = report["site"].as_str().unwrap();
        let (alone_code, alone) = s.json(&["audit", "--site", site, "--no-store"]);
        assert_eq!(alone["status"], report["status"], "{site}");
        // The same findings (their summaries say ages, which moved on meanwhile).
        assert_eq!(not_passing(&alone), not_passing(report), "{site}");
        assert_eq!(
            alone["findings"].as_array().unwrap().len(),
            report["findings"].as_array().unwrap().len()
        );
        let line = summary.iter().find(|l| l["site"] == site).unwrap();
        assert_eq!(line["status"], report["status"]);
        assert!(alone_code <= code, "the fleet's code is the worst site's");
    }
    // Each site's audit is stored: the next fleet audit compares each with its own.
    let (_, again) = s.json(&["audit", "--since-last"]);
    for report in again["reports"].as_array().unwrap() {
        assert!(
            report["since"]["previous_id"].as_i64().is_some(),
            "{report:#}"
        );
    }
    // CSV: one header, every site's findings; Markdown and table start with the summary.
    let out = s
        .wpb()
        .args(["audit", "--format", "csv", "--no-store"])
        .output()
        .unwrap();
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(csv.matches("site,as_of,status").count(), 1);
    assert!(
        csv.lines().any(|l| l.starts_with("blog,")) && csv.lines().any(|l| l.starts_with("shop,"))
    );
    let out = s
        .wpb()
        .args(["audit", "--format", "markdown", "--no-store"])
        .output()
        .unwrap();
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.starts_with("# Backup audit: 2 site(s) — FAIL"), "{md}");
    assert!(md.contains("\n## Backup audit: shop — FAIL"), "{md}");
}

// ---- report formats ----

/// `text` is the golden file `tests/golden/FILE` (`WPBACKUP_UPDATE_GOLDEN=1` rewrites it).
fn assert_golden(text: &str, file: &str) {
    let path = repo_root().join("tests/golden").join(file);
    if std::env::var_os("WPBACKUP_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (WPBACKUP_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert_eq!(text, golden, "{file} differs from its golden file");
}

fn golden_report() -> wpbackup::domain::audit::Report {
    use wpbackup::domain::audit::*;
    let t = |d: u32, h: u32| {
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, d, h, 0, 0).unwrap()
    };
    let f = |control: &str, component: Option<&str>, status: Status, summary: &str| Finding {
        control: control.into(),
        component: component.map(Into::into),
        status,
        summary: summary.into(),
        evidence: vec![format!("evidence of {control}")],
        remediation: (status != Status::Pass).then(|| format!("fix {control} <now> & \"here\"")),
    };
    Report {
        audit_version: AUDIT_VERSION,
        site: "shop".into(),
        as_of: t(28, 12),
        created_at: t(28, 12),
        status: Status::Fail,
        counts: Counts {
            pass: 2,
            warn: 1,
            fail: 2,
        },
        live: true,
        waste: Waste {
            resources: 2,
            size_bytes: 3 << 30,
        },
        findings: vec![
            f(
                "rpo",
                Some("media"),
                Status::Fail,
                "newest point is 3h old (RPO 1h)",
            ),
            f(
                "s3-replication",
                Some("media"),
                Status::Fail,
                "s3.replication is off | check, now",
            ),
            f(
                "unmanaged-snapshots",
                None,
                Status::Warn,
                "1 snapshots of the site's resources",
            ),
            f(
                "rpo",
                Some("db"),
                Status::Pass,
                "newest point is 10m old (RPO 4h)",
            ),
            f(
                "drill",
                None,
                Status::Pass,
                "drill d-1 2d ago recovered in 14m",
            ),
        ],
        timeline_from: t(14, 12),
        timelines: vec![
            Timeline {
                component: "db".into(),
                rpo_seconds: 4 * 3600,
                points: (0..14).map(|d| t(15 + d, 2)).collect(),
                dr_points: (0..14).map(|d| t(15 + d, 3)).collect(),
                gaps: vec![(t(14, 12), t(15, 2))],
            },
            Timeline {
                component: "media".into(),
                rpo_seconds: 3600,
                points: vec![t(20, 1), t(27, 9)],
                dr_points: vec![],
                gaps: vec![
                    (t(14, 12), t(20, 1)),
                    (t(20, 1), t(27, 9)),
                    (t(27, 9), t(28, 12)),
                ],
            },
        ],
        since: Some(Since {
            previous_id: 7,
            previous_created_at: t(27, 12),
            previous_status: Status::Warn,
            changes: vec![Change {
                control: "s3-replication".into(),
                component: Some("media".into()),
                before: Some(Status::Pass),
                after: Some(Status::Fail),
            }],
        }),
    }
}

#[test]
fn every_report_format_matches_its_golden_file() {
    use wpbackup::cli::audit_report::{render, Format};
    let report = golden_report();
    for (format, file) in [
        (Format::Table, "audit.txt"),
        (Format::Json, "audit.json"),
        (Format::Csv, "audit.csv"),
        (Format::Markdown, "audit.md"),
        (Format::Html, "audit.html"),
    ] {
        assert_golden(&render(&report, format, Some(100)), file);
    }
    // The JSON is the report, read back whole (stable for scripts).
    let back: wpbackup::domain::audit::Report =
        serde_json::from_str(&render(&report, Format::Json, None)).unwrap();
    assert_eq!(back, report);
}

/// Two sites: the golden shop (failing) and a blog that passes.
fn golden_fleet() -> wpbackup::domain::audit::FleetReport {
    use wpbackup::domain::audit::*;
    let shop = golden_report();
    let mut blog = golden_report();
    blog.site = "blog".into();
    blog.status = Status::Pass;
    blog.findings.retain(|f| f.status == Status::Pass);
    blog.counts = Counts {
        pass: blog.findings.len(),
        warn: 0,
        fail: 0,
    };
    blog.waste = Waste::default();
    FleetReport::new(
        vec![blog, shop],
        golden_report().as_of,
        golden_report().created_at,
    )
}

#[test]
fn every_fleet_report_format_matches_its_golden_file() {
    use wpbackup::cli::audit_report::{render_fleet, Format};
    let fleet = golden_fleet();
    assert_eq!(fleet.reports[0].site, "shop", "worst first");
    for (format, file) in [
        (Format::Table, "fleet.txt"),
        (Format::Json, "fleet.json"),
        (Format::Csv, "fleet.csv"),
        (Format::Markdown, "fleet.md"),
        (Format::Html, "fleet.html"),
    ] {
        assert_golden(&render_fleet(&fleet, format, Some(100)), file);
    }
    let back: wpbackup::domain::audit::FleetReport =
        serde_json::from_str(&render_fleet(&fleet, Format::Json, None)).unwrap();
    assert_eq!(back, fleet);
}

fn chromium() -> std::path::PathBuf {
    let path = std::env::var_os("WPBACKUP_TEST_CHROMIUM")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    assert!(
        path.exists(),
        "Chromium not found at {}: run the tests with ./scripts/test.sh (it installs Debian's chromium)",
        path.display()
    );
    path
}

#[test]
fn the_html_report_renders_in_headless_chromium() {
    use wpbackup::cli::audit_report::{render, Format};
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("audit.html");
    std::fs::write(&html, render(&golden_report(), Format::Html, None)).unwrap();
    let png = dir.path().join("audit.png");
    let out = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1100,800",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        png.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1100, 800));
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let non_white = pixels.iter().filter(|p| p[..3] != [255, 255, 255]).count();
    // The FAIL badge and the RPO gap bands are red; point ticks are blue.
    let red = pixels
        .iter()
        .filter(|p| p[0] > 180 && p[1] < 90 && p[2] < 90)
        .count();
    let blue = pixels
        .iter()
        .filter(|p| p[2] > 180 && p[0] < 60 && p[1] < 140)
        .count();
    assert!(
        non_white > pixels.len() / 50,
        "blank page: {non_white} non-white pixels"
    );
    assert!(red > 200, "no red (verdict, gaps): {red}");
    assert!(blue > 50, "no blue point ticks: {blue}");
}

// ---- live controls on moto ----

#[tokio::test]
async fn live_controls_are_read_from_moto() {
    use crate::aws_moto::{clients, create_site, set_replication, wpbackup_aws, write_config};
    let prefix = format!("au{}", std::process::id());
    let site = create_site(&prefix).await;
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &site);
    let east = clients("us-east-1").await;
    let vault = format!("{prefix}-vault");
    east.backup
        .create_backup_vault()
        .backup_vault_name(&vault)
        .send()
        .await
        .unwrap();
    clients("us-west-2")
        .await
        .backup
        .create_backup_vault()
        .backup_vault_name(format!("{vault}-dr"))
        .send()
        .await
        .unwrap();
    let fs = east
        .efs
        .create_file_system()
        .creation_token(&prefix)
        .encrypted(true)
        .send()
        .await
        .unwrap();
    std::fs::write(
        dir.path().join("policies/files.toml"),
        format!(
            "version = 1\nname = \"files\"\nkind = \"efs\"\nschedule = \"0 * * * *\"\nrpo = \"1h\"\n[retention]\ndaily = 7\n[[dr_copies]]\nregion = \"us-west-2\"\nvault = \"{vault}-dr\"\n[dr_copies.retention]\ndaily = 3\n[efs]\nfile_system_id = \"{}\"\nvault = \"{vault}\"\niam_role_arn = \"arn:aws:iam::123456789012:role/backup\"\n",
            fs.file_system_id()
        ),
    )
    .unwrap();
    let run_audit = || {
        let out = wpbackup_aws(dir.path())
            .args(["--json", "audit", "--no-store"])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code().unwrap(), v)
    };
    let (code, r) = run_audit();
    assert_eq!(code, 2, "no points yet: {:?}", not_passing(&r));
    assert_eq!(r["live"], true);
    assert_eq!(status(&r, "s3-versioning", Some("media")), "pass");
    // moto stores DeleteMarkerReplication as Disabled whatever is sent (docs/aws.md), so
    // the control fails on that alone while the rule itself is read as enabled.
    let replication = finding(&r, "s3-replication", Some("media"));
    let summary = replication["summary"].as_str().unwrap();
    assert!(
        summary.contains("s3.replication.delete_markers"),
        "{replication:#}"
    );
    assert!(!summary.contains("s3.replication is"), "{replication:#}");
    assert_eq!(status(&r, "aurora-pitr-window", Some("db")), "pass");
    assert_eq!(
        status(&r, "vault-lock", Some("files")),
        "fail",
        "moto vaults are unlocked"
    );
    assert!(finding(&r, "vault-lock", Some("files"))["summary"]
        .as_str()
        .unwrap()
        .contains("not locked"));

    // Both vaults locked: the control passes.
    for (c, name) in [
        (&east, vault.clone()),
        (&clients("us-west-2").await, format!("{vault}-dr")),
    ] {
        c.backup
            .put_backup_vault_lock_configuration()
            .backup_vault_name(name)
            .min_retention_days(7)
            .send()
            .await
            .unwrap();
    }
    let (_, r) = run_audit();
    assert_eq!(status(&r, "vault-lock", Some("files")), "pass", "{r:#}");

    // Replication switched off, the continuous-backup window cut to one day.
    set_replication(&east, &site.bucket, &site.dr_bucket, false).await;
    east.rds
        .modify_db_cluster()
        .db_cluster_identifier(&site.cluster)
        .backup_retention_period(1)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let (code, r) = run_audit();
    assert_eq!(code, 2);
    let replication = finding(&r, "s3-replication", Some("media"));
    assert_eq!(replication["status"], "fail");
    assert!(
        replication["summary"]
            .as_str()
            .unwrap()
            .contains("s3.replication is"),
        "{replication:#}"
    );
    assert_eq!(status(&r, "aurora-pitr-window", Some("db")), "fail");
    assert!(finding(&r, "aurora-pitr-window", Some("db"))["summary"]
        .as_str()
        .unwrap()
        .contains("is 1"));
}

/// A restore plan left unfinished keeps its points from retention: the audit says so once
/// it has been unchanged for longer than `max_unfinished_plan_age`, naming the plan, how
/// long, and the points it keeps; `restore list` marks it; finished, it is no longer
/// reported.
#[test]
fn an_unfinished_restore_plan_is_reported_with_the_points_it_pins() {
    let s = Sandbox::new();
    // A restore whose health check fails: it stops before the cutover, `failed`.
    let exec = super::restore::backed_up_then_restored_failing_its_health_check(&s);
    let id = exec["plan_id"].as_str().unwrap().to_string();
    let (_, fresh) = audit(&s, &["--no-store"]);
    let f = finding(&fresh, "unfinished-plans", None);
    assert_eq!(f["status"], "pass", "{f:#}");
    assert!(f["evidence"][0].as_str().unwrap().contains(&id), "{f:#}");
    s.edit(
        "wpbackup.toml",
        "timeout = \"10s\"\n",
        "timeout = \"10s\"\n[sites.audit]\nmax_unfinished_plan_age = \"1s\"\n",
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_, old) = audit(&s, &["--no-store"]);
    let f = finding(&old, "unfinished-plans", None);
    assert_eq!(f["status"], "warn", "{f:#}");
    let summary = f["summary"].as_str().unwrap();
    assert!(
        summary.contains(&id) && summary.contains("failed"),
        "{summary}"
    );
    assert!(summary.contains("point(s) from retention"), "{summary}");
    let evidence = f["evidence"][0].as_str().unwrap();
    // It restores every component of shop: it keeps their points (the bucket is reverted
    // by time and keeps none).
    for component in [
        "web wpb-shop-web-",
        "db wpb-shop-db-",
        "files wpb-shop-files-",
    ] {
        assert!(evidence.contains(component), "{component}: {evidence}");
    }
    assert!(f["remediation"]
        .as_str()
        .unwrap()
        .contains(&format!("wpbackup restore resume {id}")));
    let list = s.wpb().args(["restore", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("failed (UNFINISHED)"), "{text}");
    assert!(
        text.contains("1 unfinished plan(s) keep their points"),
        "{text}"
    );
    // Finished: nothing unfinished any more.
    s.wpb()
        .args(["sim", "health", "--site", "shop", "--status", "200"])
        .assert()
        .success();
    s.wpb()
        .args(["restore", "resume", &id, "--yes"])
        .assert()
        .success();
    let (_, done) = audit(&s, &["--no-store"]);
    let f = finding(&done, "unfinished-plans", None);
    assert_eq!(f["status"], "pass", "{f:#}");
    assert_eq!(f["summary"], "no unfinished restore plan");
}
