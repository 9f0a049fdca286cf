//! The command line: parse, build a context, call the engine, render. `anyhow` lives
//! here and nowhere below; every failure maps to a documented exit code.

pub mod audit;
pub mod audit_report;
mod catalog;
mod completions;
mod daemon;
mod hold;
mod iam;
mod init;
mod points;
mod policy;
mod progress;
mod prune;
mod render;
mod restore;
mod run;
mod runs;
mod sim;
mod simulate;
mod staging;
mod status;
mod sync;

use crate::catalog::{Catalog, CatalogError};
use crate::config::{self, ConfigError};
use crate::domain::site::Config;
use crate::engine::{Engine, EngineError};
use crate::exit;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "wpbackup",
    version,
    about = "Backup and disaster recovery for WordPress sites on AWS",
    long_about = "Backup and disaster recovery for WordPress sites on AWS.\n\n\
    Start with `wpbackup init --sandbox DIR`, then `wpbackup --config DIR/wpbackup.toml run --all`.\n\
    Exit codes: 0 ok, 1 partial/warnings, 2 failed, 64 usage, 65 invalid config/policy, \
    69 cloud unavailable, 70 internal, 74 catalog (see docs/exit-codes.md)."
)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        default_value = "wpbackup.toml",
        env = "WPBACKUP_CONFIG"
    )]
    pub config: PathBuf,
    /// Machine-readable JSON on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log format on stderr (level from WPBACKUP_LOG or RUST_LOG, default "info").
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a ready-to-run sandbox (simulated AWS, one site of each deployment).
    Init(init::InitArgs),
    /// Validate policy files.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Take recovery points now (one-shot; for system cron or by hand).
    Run(run::RunArgs),
    /// List recovery points in the catalog.
    Points(points::PointsArgs),
    /// List recent runs and how they ended.
    Runs(runs::RunsArgs),
    /// Run every policy on its schedule (SIGTERM/SIGINT stop, SIGHUP reloads).
    Daemon(daemon::DaemonArgs),
    /// What-if: run the policies on the simulator with a virtual clock for N days.
    Simulate(simulate::SimulateArgs),
    /// Apply retention (or, with --dry-run, show what it would do, and why).
    Prune(prune::PruneArgs),
    /// Keep points from retention: add, remove, list holds.
    #[command(subcommand)]
    Hold(hold::HoldCommand),
    /// Reconcile the catalog with the cloud: import tagged points it lacks, mark points
    /// deleted outside wpbackup, list unmanaged snapshots. Read-only towards the cloud.
    Sync(sync::SyncArgs),
    /// Print the least-privilege IAM policy (JSON) for the configured components.
    IamPolicy(iam::IamArgs),
    /// Restore the site to an instant: plan for review (--out), execute (--execute / apply),
    /// resume, roll back, show, list.
    Restore(restore::RestoreArgs),
    /// Rehearse a restore: restore into isolated names, health-check, measure the recovery
    /// time, tear down. Never cuts over.
    Drill(restore::DrillArgs),
    /// A copy of the site in an isolated stack that stays up (test an upgrade there
    /// first): `up`, `list`, `down`. Never a cutover, never production data.
    #[command(subcommand)]
    Staging(staging::StagingCommand),
    /// Take a point of every component now (before a risky change), held from retention.
    Snapshot(restore::SnapshotArgs),
    /// Audit backups: RPO, DR copies, retention, live protection settings, failed runs,
    /// drills, orphans and waste. Exit 0 all pass, 1 warnings, 2 failures.
    Audit(audit::AuditArgs),
    /// Control the simulator (fault injection, resource settings).
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// The first screen: per site and component the newest point against the RPO, the
    /// next fire, the last run; unfinished restore plans; the daemon holding the catalog.
    Status(status::StatusArgs),
    /// Manage the catalog itself: `migrate` copies a SQLite catalog to PostgreSQL.
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
    /// Print shell completions (bash, zsh, fish, …): e.g.
    /// `wpbackup completions bash > /etc/bash_completion.d/wpbackup`.
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff), or with --out DIR write one page per command.
    Man(completions::ManArgs),
}

/// An error with the exit code it maps to.
pub struct Failure {
    pub code: i32,
    pub error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        let error: anyhow::Error = e.into();
        use crate::engine::restore::RestoreError;
        let code = if let Some(e) = error.downcast_ref::<RestoreError>() {
            match e {
                RestoreError::Coverage(_) | RestoreError::UnknownPlan(_) => exit::USAGE,
                RestoreError::Build(_) | RestoreError::Refused(_) => exit::INVALID_CONFIG,
                RestoreError::Busy(_) => exit::LOCKED,
                RestoreError::Cloud(_) => exit::CLOUD_UNAVAILABLE,
                RestoreError::Catalog(_) | RestoreError::Engine(EngineError::Catalog(_)) => {
                    exit::CATALOG
                }
                RestoreError::Engine(_) => exit::USAGE,
            }
        } else if error.downcast_ref::<ConfigError>().is_some() {
            exit::INVALID_CONFIG
        } else if let Some(e) = error.downcast_ref::<EngineError>() {
            match e {
                EngineError::Catalog(_) => exit::CATALOG,
                EngineError::UnknownSite(..) | EngineError::UnknownPolicy(..) => exit::USAGE,
            }
        } else if error.downcast_ref::<crate::cloud::CloudError>().is_some() {
            exit::CLOUD_UNAVAILABLE
        } else if error.downcast_ref::<CatalogError>().is_some() {
            exit::CATALOG
        } else if error
            .downcast_ref::<crate::domain::time::TimeParseError>()
            .is_some()
        {
            exit::USAGE
        } else {
            exit::INTERNAL
        };
        Failure { code, error }
    }
}

pub type CliResult = Result<i32, Failure>;

pub fn usage(msg: impl Into<String>) -> Failure {
    Failure {
        code: exit::USAGE,
        error: anyhow::anyhow!(msg.into()),
    }
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    let default_level = if matches!(cli.command, Command::Daemon(_)) {
        "info"
    } else {
        "warn"
    };
    init_logging(cli.log_format, default_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(dispatch(&cli)) {
        Ok(code) => code,
        Err(f) => {
            eprintln!("error: {}", error_text(&f.error));
            f.code
        }
    }
}

/// An error and its causes on one line, each said once: many errors (sqlx's among them)
/// already include their cause's text, which `{:#}` would repeat.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn init_logging(format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("WPBACKUP_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn dispatch(cli: &Cli) -> CliResult {
    match &cli.command {
        Command::Init(a) => init::run(cli, a),
        Command::Completions(a) => completions::completions(a),
        Command::Man(a) => completions::man(a),
        Command::Policy(c) => policy::run(cli, c),
        Command::Run(a) => run::run(cli, a).await,
        Command::Points(a) => points::run(cli, a).await,
        Command::Runs(a) => runs::run(cli, a).await,
        Command::Sync(a) => sync::run(cli, a).await,
        Command::Prune(a) => prune::run(cli, a).await,
        Command::Daemon(a) => daemon::run(cli, a).await,
        Command::Simulate(a) => simulate::run(cli, a).await,
        Command::Hold(c) => hold::run(cli, c).await,
        Command::IamPolicy(a) => iam::run(cli, a),
        Command::Sim(c) => sim::run(cli, c).await,
        Command::Restore(a) => restore::run(cli, a).await,
        Command::Drill(a) => restore::drill(cli, a).await,
        Command::Staging(c) => staging::run(cli, c).await,
        Command::Snapshot(a) => restore::snapshot(cli, a).await,
        Command::Audit(a) => audit::run(cli, a).await,
        Command::Catalog(c) => catalog::run(cli, c).await,
        Command::Status(a) => status::run(cli, a).await,
    }
}

/// Load the configuration; warnings go to stderr, errors fail with every problem listed.
/// (`policy check` shows warnings; other commands log them at debug level.)
pub fn load_config(path: &Path) -> Result<Config, Failure> {
    let now = chrono::Utc::now();
    let (config, warnings) = config::load(path, now)?;
    for w in warnings {
        tracing::debug!("{w}");
    }
    Ok(config)
}

/// Configuration + catalog + engine, ready for a command.
pub async fn engine(cli: &Cli, create_catalog: bool) -> Result<Engine, Failure> {
    let config = load_config(&cli.config)?;
    let catalog = Catalog::connect(&config.catalog, create_catalog).await?;
    Ok(Engine::new(config, catalog))
}

/// Write `text` to `path` whole or not at all (a temporary file beside it, then renamed).
pub fn write_whole(path: &Path, text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let fail = |e: &dyn std::fmt::Display| usage(format!("cannot write {}: {e}", path.display()));
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| fail(&e))?;
    tmp.write_all(text.as_bytes()).map_err(|e| fail(&e))?;
    tmp.persist(path).map_err(|e| fail(&e))?;
    Ok(())
}

pub fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("output serialises")
    );
}
