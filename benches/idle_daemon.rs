//! The idle daemon, measured on the binary that ships: `wpbackup daemon` started as the
//! systemd unit (docs/wpbackup.service) starts it — JSON logs, /healthz and /metrics on a
//! loopback port — on the sandbox as `init --sandbox` writes it (9 policies), then with 50
//! policies. Read from /proc while it waits: RSS (and its anonymous and file-backed parts),
//! peak RSS, CPU, and wake-ups (context switches of all its threads) beside the lease
//! renewals it owes in the same time (one every third of the 60 s lease). Targets:
//! ≤ 15 MB RSS, no wake-ups but renewals and fires. Run with `cargo bench --bench
//! idle_daemon` (`WPBACKUP_BENCH_SECS` sets the wait, default 60). Linux only.

use std::path::Path;
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

/// Context switches of every thread of `pid`: each is a wake-up (or a preemption).
fn switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|s| {
            s.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// The daemon renews its lease every third of its TTL (`--lease-ttl`, 60 s by default).
const RENEWAL_EVERY_SECS: f64 = 20.0;

fn measure(bin: &str, dir: &Path, label: &str, secs: u64) {
    let mut child = std::process::Command::new(bin)
        .current_dir(dir)
        .args([
            "--config",
            "wpbackup.toml",
            "--log-format",
            "json",
            "daemon",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("WPBACKUP_LOG", "info")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Start-up (configuration, catalog, migrations) and the fires of the last hour it
    // catches up on: measured from the first 5 s in which it used no CPU, within 3 minutes.
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let mut quiet_since = (Instant::now(), cpu_ticks(pid).unwrap());
    while quiet_since.0.elapsed() < Duration::from_secs(5)
        && started.elapsed() < Duration::from_secs(180)
    {
        std::thread::sleep(Duration::from_millis(500));
        let ticks = cpu_ticks(pid).unwrap();
        if ticks != quiet_since.1 {
            quiet_since = (Instant::now(), ticks);
        }
    }
    let busy = started.elapsed().as_secs_f64() - 5.0;
    let ticks0 = cpu_ticks(pid).unwrap();
    let woke0 = switches(pid);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let ticks1 = cpu_ticks(pid).unwrap();
    let woke = switches(pid) - woke0;
    let wall = t0.elapsed().as_secs_f64();
    let mb = |key| proc_field(pid, key).unwrap() as f64 / 1024.0;
    let (rss, anon, file, hwm) = (mb("VmRSS:"), mb("RssAnon:"), mb("RssFile:"), mb("VmHWM:"));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let cpu = (ticks1 - ticks0) as f64 / 100.0 / wall * 100.0; // USER_HZ = 100
    let renewals = wall / RENEWAL_EVERY_SECS;
    println!(
        "idle daemon, {label}, {wall:.0} s after {busy:.0} s of start-up and catch-up: RSS {rss:.1} MB (anonymous {anon:.1}, file {file:.1}; \
         peak at start-up {hwm:.1}), CPU {cpu:.3} % of a core, {woke} context switches \
         ({:.1} per lease renewal, {renewals:.0} renewals due) — targets: ≤ 15 MB, wake-ups \
         only to renew and fire",
        woke as f64 / renewals.max(1.0)
    );
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
    measure(bin, dir.path(), "the sandbox as shipped", secs);
    // 50 policies: 41 more like shop's media bucket, scheduled far from now.
    let shop = dir.path().join("policies/shop");
    let template = std::fs::read_to_string(shop.join("media.toml")).unwrap();
    for i in 0..41 {
        let body = template
            .replace("name = \"media\"", &format!("name = \"media-{i}\""))
            .replace("schedule = \"0 * * * *\"", "schedule = \"0 0 1 1 *\"");
        assert_ne!(
            body, template,
            "the sandbox's media policy changed: update this bench"
        );
        std::fs::write(shop.join(format!("media-{i}.toml")), body).unwrap();
    }
    measure(bin, dir.path(), "50 policies", secs);
}
