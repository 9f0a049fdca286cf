//! `kill -9` at random instants of `run --all`, then one complete run and `sync`: the cloud
//! and the catalog agree — no point recorded twice, none the cloud has missing from the
//! catalog, none left `creating`, no run left in progress. (Seeded; a failure prints the
//! seed: WPBACKUP_CRASH_SEED reproduces it.)

use super::support::Sandbox;
use std::time::Duration;

#[test]
fn runs_killed_at_random_instants_leave_nothing_lost_duplicated_or_stuck() {
    let seed = std::env::var("WPBACKUP_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let sb = Sandbox::new();
    let bin = assert_cmd::cargo::cargo_bin("wpbackup");
    let mut killed_at = Vec::new();
    for _ in 0..12 {
        let mut child = std::process::Command::new(&bin)
            .current_dir(sb.path())
            .args(["--config", "wpbackup.toml", "run", "--all"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let after = rng.u64(0..1_500);
        std::thread::sleep(Duration::from_millis(after));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        killed_at.push(after);
    }
    let context = format!("seed {seed}, killed after {killed_at:?} ms");

    let (code, run) = sb.json(&["run", "--all"]);
    assert_eq!(code, 0, "{context}: {run:#}");
    let (code, sync) = sb.json(&["sync"]);
    assert_eq!(code, 0, "{context}: {sync:#}");

    super::support::assert_cloud_and_catalog_agree(&sb, &context);
}
