//! Shared helpers: a sandbox on disk and the wpbackup binary.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    /// The tests' usual fixture: the shipped sandbox's `blog` (Lightsail) and `shop` (an
    /// EC2 server behind an Elastic IP, Aurora, EFS, S3), without the reference
    /// architecture `news` — most tests are about one behaviour, not the sandbox itself.
    pub fn new() -> Self {
        let s = Self::as_shipped();
        let cfg = s.config();
        let text = std::fs::read_to_string(&cfg).unwrap();
        let news = text
            .find("\n# The elastic reference architecture of the whitepaper")
            .expect("the shipped sandbox has the news site");
        std::fs::write(&cfg, &text[..news + 1]).unwrap();
        std::fs::remove_dir_all(s.path().join("policies/news")).unwrap();
        s
    }

    /// `wpbackup init --sandbox` as shipped (blog, shop and news), with simulated points
    /// that become available quickly.
    pub fn as_shipped() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Sandbox { dir };
        s.cmd()
            .args(["init", "--sandbox"])
            .arg(s.path())
            .assert()
            .success();
        let cfg = s.config();
        let text = std::fs::read_to_string(&cfg).unwrap();
        let text = text
            .replace("creating_for = \"2s\"", "creating_for = \"300ms\"")
            .replace("poll_interval = \"250ms\"", "poll_interval = \"50ms\"");
        std::fs::write(&cfg, text).unwrap();
        s
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces `from` with `to` in the sandbox file `file` (relative to the sandbox); fails
    /// the test if `from` is not there, so an edit can never silently do nothing.
    pub fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("wpbackup.toml")
    }

    pub fn catalog(&self) -> PathBuf {
        self.path().join("wpbackup.db")
    }

    /// The binary, run in the sandbox directory.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("wpbackup").expect("binary built");
        c.current_dir(self.path()).env_remove("WPBACKUP_CONFIG");
        c
    }

    /// The binary with `--config <sandbox>/wpbackup.toml`.
    pub fn wpb(&self) -> Command {
        let mut c = self.cmd();
        c.arg("--config").arg(self.config());
        c
    }

    /// `wpbackup sim ARGS…`, which must succeed (changing the simulated cloud).
    pub fn sim(&self, args: &[&str]) {
        self.wpb().arg("sim").args(args).assert().success();
    }

    /// Run with `--json` and parse stdout; returns (exit code, JSON).
    pub fn json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let out = self.wpb().arg("--json").args(args).output().expect("runs");
        let code = out.status.code().expect("exit code");
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (code, v)
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every call recorded in `log` is in the adapters' operation table, and every IAM action it
/// needs is granted by the policy `iam-policy --for <purpose>` prints for `site`. Clears the
/// log for the next phase.
pub fn assert_policy_grants(
    log: &wpbackup::cloud::aws::operations::CallLog,
    site: &wpbackup::domain::site::Site,
    purpose: wpbackup::cloud::aws::operations::Purpose,
    phase: &str,
) {
    use wpbackup::cloud::aws::iam::{granted_actions, policy_document};
    use wpbackup::cloud::aws::operations::{actions, Service};
    let calls: std::collections::BTreeSet<_> = log.calls().into_iter().collect();
    assert!(!calls.is_empty(), "{phase}: no AWS calls were recorded");
    let granted = granted_actions(&policy_document(&[site], Some("123456789012"), &[purpose]));
    let mut missing = std::collections::BTreeSet::new();
    for c in &calls {
        let service = Service::from_sdk_name(&c.service)
            .unwrap_or_else(|| panic!("{phase}: a call to unknown service {}", c.service));
        match actions(service, &c.operation) {
            None => {
                missing.insert(format!(
                    "{}:{} is not in the operation table",
                    c.service, c.operation
                ));
            }
            Some(needed) => {
                for a in needed.into_iter().filter(|a| !granted.contains(*a)) {
                    missing.insert(format!("{a} (for {}:{})", c.service, c.operation));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{phase}: `iam-policy --for {}` does not grant {missing:#?}",
        purpose.as_str()
    );
    log.clear();
}

/// After `run` and `sync`: the cloud and the catalog agree — no point recorded twice, none
/// left `creating`, no run left in progress, and every wpbackup-tagged point the simulated
/// cloud holds is in the catalog. `context` (seed, kill instants) prefixes every failure.
pub fn assert_cloud_and_catalog_agree(sb: &Sandbox, context: &str) {
    use serde_json::Value;
    use std::collections::BTreeSet;
    let (_, pts) = sb.json(&["points", "--all"]);
    let pts = pts["points"].as_array().unwrap();
    let mut names = BTreeSet::new();
    for p in pts.iter().filter(|p| p["state"] != "deleted") {
        let key = (
            p["component"].as_str().unwrap().to_string(),
            p["region"].as_str().unwrap().to_string(),
            p["name"].as_str().unwrap().to_string(),
        );
        assert!(
            names.insert(key.clone()),
            "{context}: {key:?} recorded twice"
        );
        assert_ne!(p["state"], "creating", "{context}: left creating: {p:#}");
    }
    let (_, runs) = sb.json(&["runs", "--limit", "1000"]);
    for r in runs["runs"].as_array().unwrap() {
        assert_ne!(r["phase"], "InProgress", "{context}: {r:#}");
    }

    // Every point the simulated cloud holds, tagged as wpbackup's, is in the catalog. S3
    // checkpoints are left out: on AWS a checkpoint is a catalog record, not a resource (the
    // simulator keeps one to model versions), so a run killed before recording one loses
    // nothing — the next run checkpoints the bucket again.
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(sb.path().join("wpbackup.db.sim.json")).unwrap(),
    )
    .unwrap();
    let recorded: BTreeSet<&str> = pts
        .iter()
        .map(|p| p["provider_id"].as_str().unwrap())
        .collect();
    for (_, p) in state["points"].as_object().unwrap() {
        if p["deleted"] == true
            || p["tags"]["wpbackup:managed"] != "true"
            || p["kind"] == "s3-checkpoint"
        {
            continue;
        }
        let id = p["provider_id"].as_str().unwrap();
        assert!(
            recorded.contains(id),
            "{context}: the cloud has {id}, the catalog does not"
        );
    }
}

/// The URL of a new, empty database on the throwaway PostgreSQL server that
/// `scripts/test.sh` starts (`WPBACKUP_TEST_POSTGRES` names its maintenance database).
pub async fn postgres_database() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let admin = std::env::var("WPBACKUP_TEST_POSTGRES").expect(
        "WPBACKUP_TEST_POSTGRES is not set: run the tests with ./scripts/test.sh, which starts a throwaway PostgreSQL server",
    );
    let name = format!(
        "wpb_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let pool = sqlx::PgPool::connect(&admin)
        .await
        .expect("the test PostgreSQL server answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create a test database");
    pool.close().await;
    let mut url = url::Url::parse(&admin).expect("WPBACKUP_TEST_POSTGRES is a URL");
    url.set_path(&name);
    url.to_string()
}

/// Polls `fetch` (every 200 ms, `secs` at most) until `done` holds for what it returns.
pub fn poll_until(
    what: &str,
    secs: u64,
    fetch: impl Fn() -> Vec<serde_json::Value>,
    done: &dyn Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let got = fetch();
        if done(&got) {
            return got;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {got:#?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// `wpbackup --json runs` of shop/files, newest first (at most `limit`); `None` when the
/// command fails (e.g. before a daemon has made the catalog).
pub fn shop_files_runs(sb: &Sandbox, limit: usize) -> Option<Vec<serde_json::Value>> {
    let out = sb
        .wpb()
        .args(["--json", "runs", "--site", "shop", "--component", "files"])
        .args(["--limit", &limit.to_string()])
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["runs"].as_array().cloned()
}
