//! `wpbackup prune [--site S] [--component C] [--dry-run]`: apply retention, showing the
//! decision table — every point, kept or removed, with the rule or guard that decided it.

use super::render::{table, when};
use super::{Cli, CliResult};
use crate::domain::retention::Action;
use crate::exit;

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    #[arg(long)]
    pub site: Option<String>,
    /// Only this component (needs --site when several sites have it).
    #[arg(long)]
    pub component: Option<String>,
    /// Show the decisions; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(cli: &Cli, args: &PruneArgs) -> CliResult {
    let mut engine = super::engine(cli, true).await?;
    engine.progress = super::progress::display(cli);
    let sites: Vec<_> = match &args.site {
        Some(s) => vec![engine.site(s)?.clone()],
        None => engine.config.sites.clone(),
    };
    if let Some(c) = &args.component {
        if !sites.iter().any(|s| s.policy(c).is_some()) {
            return Err(super::usage(format!(
                "no component named {c:?} in the selected site(s)"
            )));
        }
    }
    let mut reports = Vec::new();
    for site in &sites {
        if args
            .component
            .as_ref()
            .is_some_and(|c| site.policy(c).is_none())
        {
            continue;
        }
        reports.push(
            engine
                .prune_site(site, args.component.as_deref(), args.dry_run)
                .await?,
        );
    }
    engine.catalog.close().await;
    if cli.json {
        super::print_json(&serde_json::json!({ "dry_run": args.dry_run, "sites": reports }));
    } else {
        for r in &reports {
            let removes = r
                .decisions
                .iter()
                .filter(|d| d.action == Action::Remove)
                .count();
            println!(
                "site {}: {} point(s) kept, {} to remove{}",
                r.site,
                r.decisions.len() - removes,
                removes,
                if r.dry_run {
                    " (dry run: nothing deleted)"
                } else {
                    ""
                }
            );
            let mut t = table(&[
                "component",
                "region",
                "point",
                "point time",
                "state",
                "decision",
                "why",
            ]);
            for d in &r.decisions {
                t.add_row(vec![
                    d.component.to_string(),
                    d.region.to_string(),
                    d.name.clone(),
                    when(d.point_time),
                    d.state.to_string(),
                    match d.action {
                        Action::Keep => "keep".into(),
                        Action::Remove if r.dry_run => "would remove".into(),
                        Action::Remove if r.deleted.contains(&d.point_id) => "removed".into(),
                        Action::Remove => "remove failed".into(),
                    },
                    d.reasons.join("; "),
                ]);
            }
            println!("{t}");
            for (id, e) in &r.failed {
                eprintln!("warning: point {id} could not be deleted (will be retried): {e}");
            }
        }
    }
    Ok(if reports.iter().any(|r| !r.failed.is_empty()) {
        exit::PARTIAL
    } else {
        exit::OK
    })
}
