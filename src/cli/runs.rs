//! `wpbackup runs`: recent runs, their phase, counts and failure reason.

use super::render::{table, when};
use super::{Cli, CliResult};
use crate::catalog::Catalog;
use crate::exit;

#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    #[arg(long)]
    pub site: Option<String>,
    #[arg(long)]
    pub component: Option<String>,
    /// How many runs to show, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
}

pub async fn run(cli: &Cli, args: &RunsArgs) -> CliResult {
    let config = super::load_config(&cli.config)?;
    let catalog = Catalog::connect(&config.catalog, false).await?;
    let runs = catalog
        .runs(args.site.as_deref(), args.component.as_deref(), args.limit)
        .await?;
    if cli.json {
        super::print_json(&serde_json::json!({ "runs": runs }));
        return Ok(exit::OK);
    }
    let mut t = table(&[
        "run",
        "site",
        "component",
        "trigger",
        "started",
        "phase",
        "points",
        "copies",
        "policy",
        "reason",
    ]);
    for r in &runs {
        t.add_row(vec![
            r.id.to_string(),
            r.site.clone(),
            r.component.clone(),
            r.trigger.clone(),
            when(r.started_at),
            r.phase.to_string(),
            format!("{} ok / {} failed", r.points_created, r.points_failed),
            format!("{} ok / {} failed", r.copies_created, r.copies_failed),
            r.policy_hash[..12].to_string(),
            r.failure_reason.clone().unwrap_or_default(),
        ]);
    }
    println!("{t}");
    Ok(exit::OK)
}
