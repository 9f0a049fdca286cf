//! `wpbackup daemon`: run every policy on its schedule until SIGTERM/SIGINT; SIGHUP reloads.

use super::{Cli, CliResult};
use crate::daemon::{Control, Daemon, DaemonError, DaemonOptions};
use crate::domain::time::parse_duration;
use crate::exit;
use std::net::SocketAddr;

#[derive(clap::Args, Debug)]
pub struct DaemonArgs {
    /// Most runs at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// A fire missed while the daemon was down is run once at start if younger than this.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub start_window: std::time::Duration,
    /// Loopback address for /healthz and /metrics ("off" to disable).
    #[arg(long, default_value = "127.0.0.1:9187")]
    pub listen: String,
    /// Lease time-to-live (a dead daemon's lease expires after this).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub lease_ttl: std::time::Duration,
    /// Do not apply retention after successful points.
    #[arg(long)]
    pub no_prune: bool,
}

pub async fn run(cli: &Cli, args: &DaemonArgs) -> CliResult {
    let engine = super::engine(cli, true).await?;
    let options = DaemonOptions {
        concurrency: args.concurrency,
        start_window: args.start_window,
        lease_ttl: args.lease_ttl,
        prune: !args.no_prune,
    };
    let clock = engine.clock.clone();
    let catalog = engine.catalog.clone();
    let mut daemon = Daemon::new(engine, cli.config.clone(), options);
    if let Err(e) = daemon.acquire().await {
        return Err(failure(e));
    }
    let server = if args.listen == "off" {
        None
    } else {
        let addr: SocketAddr = args.listen.parse().map_err(|_| {
            super::usage(format!(
                "--listen {:?} is not an address like 127.0.0.1:9187 (or \"off\")",
                args.listen
            ))
        })?;
        let served =
            crate::daemon::http::serve(addr, catalog.clone(), daemon.status.clone(), clock).await;
        let (bound, handle) = match served {
            Ok(x) => x,
            Err(e) => {
                daemon.release().await;
                return Err(super::usage(format!(
                    "--listen {addr}: {e} (choose another address, or \"off\")"
                )));
            }
        };
        tracing::info!(%bound, "health and metrics on http://{bound}/healthz and /metrics");
        Some(handle)
    };
    let (tx, rx) = tokio::sync::watch::channel(Control::Run);
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM: stopping"); let _ = tx.send(Control::Stop); }
                _ = int.recv() => { tracing::info!("SIGINT: stopping"); let _ = tx.send(Control::Stop); }
                _ = hup.recv() => { tracing::info!("SIGHUP: reloading"); let _ = tx.send(Control::Reload); }
            }
        }
    });
    tracing::info!("daemon started");
    let result = daemon.run(rx, None).await;
    if let Some(h) = server {
        h.abort();
    }
    catalog.close().await;
    match result {
        Ok(()) => {
            tracing::info!("daemon stopped");
            Ok(exit::OK)
        }
        Err(e) => Err(failure(e)),
    }
}

/// Exit codes the systemd unit acts on (docs/daemon.md): 75 when another daemon holds or
/// took the catalog (not restarted: they would fight over it), 74 for catalog trouble
/// (restarted), 65 for a bad configuration (not restarted).
fn failure(e: DaemonError) -> super::Failure {
    match e {
        DaemonError::Engine(e) => e.into(),
        DaemonError::Catalog(e) => e.into(),
        e @ (DaemonError::LeaseHeld { .. } | DaemonError::LeaseLost(_)) => super::Failure {
            code: exit::LOCKED,
            error: e.into(),
        },
        e @ DaemonError::LeaseExpired(_) => super::Failure {
            code: exit::CATALOG,
            error: e.into(),
        },
    }
}
