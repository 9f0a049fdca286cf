//! `wpbackup run --all | --policy NAME`: take points now.

use super::render::{table, when};
use super::{Cli, CliResult};
use crate::domain::model::RunPhase;
use crate::engine::run::{RunRequest, Trigger};
use crate::exit;

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["all", "policy"])))]
pub struct RunArgs {
    /// Run every policy (of --site, or of all sites).
    #[arg(long)]
    pub all: bool,
    /// Run one policy: NAME, or SITE/NAME when several sites have one of that name.
    #[arg(long, value_name = "NAME")]
    pub policy: Vec<String>,
    /// Restrict to one site.
    #[arg(long)]
    pub site: Option<String>,
    /// How many components to back up at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Do not apply retention after successful points (see `wpbackup prune`).
    #[arg(long)]
    pub no_prune: bool,
}

pub async fn run(cli: &Cli, args: &RunArgs) -> CliResult {
    let mut engine = super::engine(cli, true).await?;
    engine.progress = super::progress::display(cli);
    if let Some(s) = &args.site {
        engine.site(s)?;
    }
    let at = engine.manual_instant();
    let mut requests = Vec::new();
    for site in &engine.config.sites {
        if args.site.as_ref().is_some_and(|s| *s != site.name) {
            continue;
        }
        for p in &site.policies {
            let wanted = args.all
                || args
                    .policy
                    .iter()
                    .any(|n| *n == p.name || *n == format!("{}/{}", site.name, p.name));
            if wanted {
                requests.push(RunRequest {
                    site: site.name.clone(),
                    policy: p.name.clone(),
                    scheduled_for: at,
                    trigger: Trigger::Manual,
                });
            }
        }
    }
    for n in &args.policy {
        let matches = requests
            .iter()
            .filter(|r| *n == r.policy || *n == format!("{}/{}", r.site, r.policy))
            .count();
        if matches == 0 {
            let known: Vec<String> = engine
                .config
                .sites
                .iter()
                .flat_map(|s| {
                    s.policies
                        .iter()
                        .map(move |p| format!("{}/{}", s.name, p.name))
                })
                .collect();
            return Err(super::usage(format!(
                "no policy named {n:?}; known: {}",
                known.join(", ")
            )));
        }
        if matches > 1 {
            return Err(super::usage(format!(
                "{n:?} names a policy in several sites; write SITE/{n} or pass --site"
            )));
        }
    }
    if requests.is_empty() {
        return Err(super::usage("no policies to run (the site has none?)"));
    }
    let reports = engine.run_many(requests, args.concurrency).await?;
    // Retention runs after a successful point, per component.
    let mut pruned = Vec::new();
    if !args.no_prune {
        for r in reports
            .iter()
            .filter(|r| matches!(r.phase, RunPhase::Completed | RunPhase::PartiallyFailed))
        {
            let site = engine.site(&r.site)?.clone();
            let p = engine.prune_site(&site, Some(&r.component), false).await?;
            pruned.push(serde_json::json!({
                "site": r.site,
                "component": r.component,
                "deleted": p.deleted,
                "failed": p.failed,
            }));
        }
    }
    engine.catalog.close().await;

    if cli.json {
        super::print_json(&serde_json::json!({ "runs": reports, "pruned": pruned }));
    } else {
        let mut t = table(&[
            "site",
            "component",
            "kind",
            "run",
            "phase",
            "point",
            "DR copies",
            "reason / warnings",
        ]);
        for r in &reports {
            let copies = r
                .copies
                .iter()
                .map(|c| format!("{} {}", c.region, c.state))
                .collect::<Vec<_>>()
                .join(", ");
            let mut notes: Vec<String> = r.failure_reason.iter().cloned().collect();
            notes.extend(r.warnings.iter().map(|w| format!("warning: {w}")));
            t.add_row(vec![
                r.site.clone(),
                r.component.clone(),
                r.kind.to_string(),
                r.run_id.to_string(),
                r.phase.to_string(),
                r.point
                    .as_ref()
                    .map(|p| format!("{} ({})", p.provider_id, p.state))
                    .unwrap_or_else(|| "-".into()),
                copies,
                notes.join("; "),
            ]);
        }
        println!("Run of {} (named after {})", reports.len(), when(at));
        println!("{t}");
        let deleted: usize = pruned
            .iter()
            .map(|p| p["deleted"].as_array().map_or(0, Vec::len))
            .sum();
        if deleted > 0 {
            println!("Retention removed {deleted} point(s); see `wpbackup prune --dry-run` for the reasons.");
        }
    }
    let completed = reports
        .iter()
        .filter(|r| r.phase == RunPhase::Completed)
        .count();
    let failed = reports
        .iter()
        .filter(|r| r.phase == RunPhase::Failed)
        .count();
    Ok(if completed == reports.len() {
        exit::OK
    } else if failed == reports.len() {
        exit::FAILED
    } else {
        exit::PARTIAL
    })
}
