//! A throwaway PostgreSQL server for a benchmark, started as `scripts/test.sh` starts the
//! tests' one: Debian's server binaries, `initdb` into a temporary directory, `pg_ctl` on a
//! free 127.0.0.1 port, stopped (and the directory removed) when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// `runuser -u postgres --` when running as root (initdb refuses root).
    as_pg: Vec<String>,
    pub url: String,
    pub version: String,
}

fn server_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|d| d.join("pg_ctl").is_file() && d.join("initdb").is_file())
        .collect();
    // Newest major version (directories are named by it).
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
}

/// `program`, as the `postgres` user when `as_pg` says so, in `dir`.
fn command(as_pg: &[String], program: &Path, dir: &Path) -> Command {
    let mut c = match as_pg.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(program);
            c
        }
        None => Command::new(program),
    };
    c.current_dir(dir);
    c
}

fn run(cmd: &mut Command, what: &str, log: &Path) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n{}{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

impl Postgres {
    /// Start one, or say how to install the server binaries.
    pub fn start() -> Postgres {
        let Some(bin) = server_bin() else {
            eprintln!(
                "PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin): \
                 run ./scripts/test.sh once (it installs Debian's postgresql package) or \
                 apt-get install postgresql"
            );
            std::process::exit(2);
        };
        let dir = tempfile::Builder::new()
            .prefix("wpbackup-bench-pg.")
            .tempdir()
            .expect("temporary directory");
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let as_pg: Vec<String> = if root {
            run(
                Command::new("chown").arg("postgres").arg(dir.path()),
                "chown postgres",
                Path::new("/dev/null"),
            );
            ["runuser", "-u", "postgres", "--"]
                .map(String::from)
                .to_vec()
        } else {
            Vec::new()
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");
        let cmd = |program: &Path| command(&as_pg, program, dir.path());
        run(
            cmd(&bin.join("initdb")).arg("-D").arg(&data).args([
                "-U",
                "wpbackup",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]),
            "initdb",
            &log,
        );
        // Durable settings are the server's business; this one measures wpbackup's work.
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300 -c shared_buffers=256MB",
            dir.path().display()
        );
        run(
            cmd(&bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "-o", &options, "start"]),
            "pg_ctl start",
            &log,
        );
        let version = Command::new(bin.join("postgres"))
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        Postgres {
            url: format!("postgres://wpbackup@127.0.0.1:{port}/postgres"),
            bin,
            dir,
            as_pg,
            version,
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = command(&self.as_pg, &self.bin.join("pg_ctl"), self.dir.path())
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
