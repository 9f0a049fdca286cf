//! `wpbackup status [--site S]`: per site and component the newest point and its age
//! against the RPO, the next fire and the last run; unfinished restore plans; the daemon.

use super::render::{table, when};
use super::{Cli, CliResult};
use crate::exit;

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// One site (default: every configured site).
    #[arg(long)]
    pub site: Option<String>,
}

pub async fn run(cli: &Cli, args: &StatusArgs) -> CliResult {
    let engine = super::engine(cli, false).await?;
    let status = engine.status(args.site.as_deref()).await?;
    if cli.json {
        super::print_json(&status);
        return Ok(exit::OK);
    }
    if status.daemons.is_empty() {
        match &status.daemon {
            Some(d) => println!(
                "daemon: none running — the lease of {} expired at {} (start `wpbackup daemon`)",
                d.holder, d.expires_at
            ),
            None => println!("daemon: none has run on this catalog (start `wpbackup daemon`)"),
        }
    }
    for d in &status.daemons {
        println!(
            "daemon: {} (pid {}), last heartbeat {}",
            d.holder, d.pid, d.heartbeat_at
        );
    }
    let mut t = table(&[
        "site",
        "component",
        "newest point",
        "age / RPO",
        "state",
        "next fire",
        "last run",
    ]);
    let age = |s: i64| humantime::format_duration(std::time::Duration::from_secs(s.max(0) as u64));
    for site in &status.sites {
        for c in &site.components {
            t.add_row(vec![
                site.site.clone(),
                c.component.clone(),
                c.newest_point.map(when).unwrap_or_else(|| "-".into()),
                format!(
                    "{} / {}",
                    c.age_seconds
                        .map(|a| age(a).to_string())
                        .unwrap_or_else(|| "-".into()),
                    age(c.rpo_seconds)
                ),
                c.state.to_uppercase(),
                c.next_fire.map(when).unwrap_or_else(|| "-".into()),
                match (&c.last_run, &c.claimed_by) {
                    (Some(r), Some(d)) => {
                        format!("{} {} (daemon {d})", r.phase.as_str(), when(r.started_at))
                    }
                    (Some(r), None) => format!("{} {}", r.phase.as_str(), when(r.started_at)),
                    (None, _) => "-".into(),
                },
            ]);
        }
    }
    println!("{t}");
    let plans: Vec<_> = status
        .sites
        .iter()
        .flat_map(|s| s.unfinished_plans.iter().map(move |p| (&s.site, p)))
        .collect();
    if !plans.is_empty() {
        let mut t = table(&["site", "unfinished plan", "purpose", "status", "since"]);
        for (site, p) in plans {
            t.add_row(vec![
                site.clone(),
                p.id.clone(),
                p.purpose.as_str().to_string(),
                p.status.as_str().to_string(),
                when(p.updated_at),
            ]);
        }
        println!("{t}\nunfinished plans keep their points from retention: resume, roll back or finalize them (`wpbackup restore show ID`)");
    }
    Ok(exit::OK)
}
