//! `wpbackup audit`: can the site be brought back, to when, and what is paid for that is
//! not needed? Exit 0 all pass, 1 warnings, 2 failures (docs/exit-codes.md).

use super::audit_report::{render, render_fleet, Format};
use super::{Cli, CliResult};
use crate::engine::audit::AuditRequest;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// The site. Without it, every configured site is audited into one report (a summary
    /// per site, worst first, then each site's findings) whose exit code is the worst site's.
    #[arg(long)]
    pub site: Option<String>,
    /// Evaluate the catalog as it stood at this instant ("2026-11-27 14:05", "3 days ago");
    /// live settings and the cloud inventory are read only for the present.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Output format (--json is the same as --format json).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the report to this file (whole or not at all) instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also show what changed since the previous stored audit of the site.
    #[arg(long)]
    pub since_last: bool,
    /// Do not store this audit in the catalog.
    #[arg(long)]
    pub no_store: bool,
}

pub async fn run(cli: &Cli, a: &AuditArgs) -> CliResult {
    // A site never backed up gets an audit that says so, not a missing-catalog error.
    let engine = super::engine(cli, true).await?;
    let fleet = a.site.is_none() && engine.config.sites.len() > 1;
    let site = if fleet {
        None
    } else {
        Some(super::restore::site_name(&engine, &a.site)?)
    };
    let now = engine.clock.now();
    let as_of = match &a.as_of {
        None => None,
        Some(text) => {
            // A fleet's sites may be in several time zones: a fleet audit reads local
            // times as UTC.
            let zone = match &site {
                Some(site) => engine.site(site)?.timezone,
                None => chrono_tz::UTC,
            };
            let t = crate::domain::time::parse_instant(text, now, zone)
                .map_err(|e| super::usage(format!("--as-of: {e}")))?;
            if t > now {
                return Err(super::usage(format!(
                    "--as-of {} is in the future; give an instant up to now ({})",
                    t.to_rfc3339(),
                    now.to_rfc3339()
                )));
            }
            Some(t)
        }
    };
    let format = a.format.unwrap_or(if cli.json {
        Format::Json
    } else {
        Format::Table
    });
    let width = if a.out.is_none() && std::io::stdout().is_terminal() {
        None
    } else {
        Some(120)
    };
    let (text, status, stored) = match site {
        None => {
            let report = engine.audit_fleet(as_of, a.since_last, !a.no_store).await?;
            let what = format!("{} site(s)", report.reports.len());
            (render_fleet(&report, format, width), report.status, what)
        }
        Some(site) => {
            let outcome = engine
                .audit(&AuditRequest {
                    site,
                    as_of,
                    since_last: a.since_last,
                    store: !a.no_store,
                })
                .await?;
            let what = format!(
                "audit{}",
                outcome.id.map(|i| format!(" {i}")).unwrap_or_default()
            );
            (
                render(&outcome.report, format, width),
                outcome.report.status,
                what,
            )
        }
    };
    match &a.out {
        Some(path) => {
            super::write_whole(path, &text)?;
            eprintln!(
                "{stored} written to {}: {}",
                path.display(),
                status.as_str()
            );
        }
        None => print!("{text}"),
    }
    Ok(status.exit_code())
}
