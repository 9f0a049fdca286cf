//! The idle daemon with 50 policies (targets: < 30 MB RSS, < 1% of a core): it sleeps
//! until the next fire instead of polling. Run with `cargo bench --bench idle_daemon`
//! (`WPBACKUP_BENCH_SECS` sets the duration, default 60). Linux only (reads /proc).

use std::time::{Duration, Instant};

fn proc_field(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark: run with `cargo bench --bench idle_daemon`");
        return;
    }
    let secs: u64 = std::env::var("WPBACKUP_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let bin = env!("CARGO_BIN_EXE_wpbackup");
    let dir = tempfile::tempdir().unwrap();
    assert!(std::process::Command::new(bin)
        .args(["init", "--sandbox"])
        .arg(dir.path())
        .status()
        .unwrap()
        .success());
    // 50 policies (10 per component kind's example), scheduled far from now.
    let shop = dir.path().join("policies/shop");
    let template = std::fs::read_to_string(shop.join("media.toml")).unwrap();
    for i in 0..46 {
        let body = template
            .replace("name = \"media\"", &format!("name = \"media-{i}\""))
            .replace("schedule = \"0 * * * *\"", "schedule = \"0 0 1 1 *\"");
        std::fs::write(shop.join(format!("media-{i}.toml")), body).unwrap();
    }
    let mut child = std::process::Command::new(bin)
        .current_dir(dir.path())
        .args([
            "--config",
            "wpbackup.toml",
            "daemon",
            "--listen",
            "off",
            "--no-prune",
        ])
        .env("WPBACKUP_LOG", "warn")
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2)); // start-up (config, catalog, migrations)
    let pid = child.id();
    let ticks0 = cpu_ticks(pid).unwrap();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let ticks1 = cpu_ticks(pid).unwrap();
    let wall = t0.elapsed().as_secs_f64();
    let rss_kb = proc_field(pid, "VmRSS:").unwrap();
    let hwm_kb = proc_field(pid, "VmHWM:").unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let hz = 100.0; // USER_HZ on Linux
    let cpu = (ticks1 - ticks0) as f64 / hz / wall * 100.0;
    println!("idle daemon, 50 policies, {wall:.0} s: RSS {:.1} MB (peak {:.1} MB), CPU {cpu:.3}% of a core (targets: < 30 MB, < 1%)", rss_kb as f64 / 1024.0, hwm_kb as f64 / 1024.0);
}
