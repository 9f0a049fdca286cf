//! `wpbackup simulate --days N`: a policy's consequences before it costs money.

use super::render::{table, when};
use super::{Cli, CliResult};
use crate::exit;
use chrono::{DurationRound, Utc};

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// How many days to simulate.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Only this site.
    #[arg(long)]
    pub site: Option<String>,
}

pub async fn run(cli: &Cli, args: &SimulateArgs) -> CliResult {
    if args.days == 0 || args.days > 3660 {
        return Err(super::usage("--days must be between 1 and 3660"));
    }
    let mut config = super::load_config(&cli.config)?;
    if let Some(s) = &args.site {
        if config.site(s).is_none() {
            return Err(super::usage(format!("no site named {s:?}")));
        }
        config.sites.retain(|x| &x.name == s);
    }
    let start = Utc::now()
        .duration_trunc(chrono::Duration::minutes(1))
        .expect("minute");
    let report = crate::engine::simulate::simulate(
        config,
        &cli.config,
        args.days,
        start,
        None,
        super::progress::display(cli),
    )
    .await?;
    if cli.json {
        super::print_json(&report);
    } else {
        println!(
            "Simulated {} day(s), {} → {}, on the simulator (no cloud calls).",
            report.days,
            when(report.start),
            when(report.end)
        );
        if !report.hooks_not_run.is_empty() {
            println!(
                "Hooks not run (they act on the real site): {}.",
                report.hooks_not_run.join(", ")
            );
        }
        let mut t = table(&[
            "site",
            "component",
            "schedule",
            "runs",
            "points at end",
            "removed by retention",
            "worst gap",
            "RPO",
        ]);
        for c in &report.components {
            let join = |m: &std::collections::BTreeMap<String, usize>| {
                m.iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            t.add_row(vec![
                c.site.clone(),
                c.component.clone(),
                c.schedule.clone(),
                join(&c.runs),
                join(&c.points_at_end),
                join(&c.removed_by_retention),
                c.worst_gap.clone(),
                format!("{}{}", c.rpo, if c.rpo_exceeded { " EXCEEDED" } else { "" }),
            ]);
        }
        println!("{t}");
    }
    Ok(if report.components.iter().any(|c| c.rpo_exceeded) {
        exit::PARTIAL
    } else {
        exit::OK
    })
}
