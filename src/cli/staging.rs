//! `wpbackup staging up|list|down`: a copy of the site restored into an isolated stack
//! (Appendix D: test a plugin, theme or WordPress upgrade there first), up until torn down.

use super::render::{table, when};
use super::restore::{
    plan_for, print_steps, print_torn_down, show_and_store, stop_on_ctrl_c, PlanArgs, ToChoice,
};
use super::{Cli, CliResult};
use crate::domain::restore_plan::{PlanStatus, Purpose};
use crate::domain::time::format_duration;
use crate::engine::restore::{Execution, StagingCopy};
use crate::engine::Engine;
use crate::exit;

#[derive(clap::Subcommand, Debug)]
pub enum StagingCommand {
    /// Restore the site's newest points (or those of --at) into an isolated stack of its
    /// own — its own database, file system and security group, no production traffic, no
    /// cutover — health-check it and leave it up; prints how to reach it.
    Up {
        #[arg(long)]
        site: Option<String>,
        /// The instant to copy (default: now, the newest points).
        #[arg(long)]
        at: Option<String>,
        /// Copy only these components (comma-separated or repeated).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Plan only: print what would be brought up.
        #[arg(long)]
        dry_run: bool,
    },
    /// The staging copies that are up (or, with --all, every one), newest first: age,
    /// address and the resources they cost.
    List {
        #[arg(long)]
        site: Option<String>,
        /// Include the torn-down ones.
        #[arg(long)]
        all: bool,
    },
    /// Tear a staging copy down: every resource it created deleted and read back until
    /// gone (run again after a failure, it continues). Production is not touched.
    Down { id: String },
}

pub async fn run(cli: &Cli, cmd: &StagingCommand) -> CliResult {
    match cmd {
        StagingCommand::Up {
            site,
            at,
            only,
            dry_run,
        } => up(cli, site, at.as_deref(), only, *dry_run).await,
        StagingCommand::List { site, all } => {
            let engine = super::engine(cli, false).await?;
            list(cli, &engine, site.as_deref(), *all).await
        }
        StagingCommand::Down { id } => {
            let engine = super::engine(cli, false).await?;
            let exec = engine
                .staging_down(id, super::progress::for_steps(cli), stop_on_ctrl_c())
                .await?;
            report(cli, &engine, &exec).await
        }
    }
}

async fn up(
    cli: &Cli,
    site: &Option<String>,
    at: Option<&str>,
    only: &[String],
    dry_run: bool,
) -> CliResult {
    let engine = super::engine(cli, false).await?;
    let args = PlanArgs {
        site: site.clone(),
        at: None,
        only: only.to_vec(),
        to: ToChoice::Primary,
    };
    let plan = plan_for(&engine, &args, at.unwrap_or("now"), Purpose::Staging).await?;
    // Like a drill: nothing visitors see, nothing of production changed; no prompt.
    if !show_and_store(cli, &engine, &plan, dry_run).await? {
        return Ok(exit::OK);
    }
    let exec = engine
        .execute_plan(&plan.id, super::progress::for_steps(cli), stop_on_ctrl_c())
        .await?;
    report(cli, &engine, &exec).await
}

async fn report(cli: &Cli, engine: &Engine, exec: &Execution) -> CliResult {
    let copy = engine.staging_copy(&exec.plan_id).await?;
    if cli.json {
        super::print_json(&serde_json::json!({ "execution": exec, "staging": copy }));
    } else {
        println!();
        print_steps(&exec.steps);
        let id = &exec.plan_id;
        match exec.status {
            PlanStatus::Completed => {
                println!("Staging copy {id} is up.");
                if let Some(c) = &copy {
                    print_access(c);
                }
                println!("Tear it down when the test is done: wpbackup staging down {id}");
            }
            PlanStatus::TornDown => {
                print_torn_down(&exec.drill_resources);
                println!(
                    "Staging copy {id} is torn down: every resource it created was deleted and read back as gone."
                );
            }
            PlanStatus::Executing => println!(
                "Staging copy {id} stopped before it was up. Continue with: wpbackup restore resume {id} — or tear down what it made: wpbackup staging down {id}"
            ),
            _ => println!(
                "Staging copy {id} FAILED: {}\nFix the cause, then: wpbackup restore resume {id} — or tear down what it made: wpbackup staging down {id}",
                exec.failure.as_deref().unwrap_or("see the steps above")
            ),
        }
    }
    Ok(match exec.status {
        PlanStatus::Completed | PlanStatus::TornDown => exit::OK,
        PlanStatus::Executing => exit::PARTIAL,
        _ => exit::FAILED,
    })
}

fn print_access(c: &StagingCopy) {
    let Some(a) = &c.access else { return };
    if a.addresses.is_empty() {
        return;
    }
    println!(
        "Reach it at {} with the site's Host header {}:",
        a.addresses.join(", "),
        a.host
    );
    if let Some(curl) = a.curl() {
        println!("  {curl}");
    }
    println!(
        "  or, for a browser, add to /etc/hosts: {} {}",
        a.addresses[0], a.host
    );
    if let Some(sg) = &a.security_group {
        if a.allowed_from.is_empty() {
            println!(
                "Its security group {sg} lets in only its own members: reach it from a host in {sg}, or name where you test from in [sites.drill] health_check_from (tcp/{})",
                a.port
            );
        } else {
            println!(
                "Its security group {sg} lets in tcp/{} from {} only",
                a.port,
                a.allowed_from.join(", ")
            );
        }
    }
}

async fn list(cli: &Cli, engine: &Engine, site: Option<&str>, all: bool) -> CliResult {
    if let Some(s) = site {
        super::restore::site_name(engine, &Some(s.to_string()))?;
    }
    let copies = engine.staging_copies(site, all).await?;
    if cli.json {
        super::print_json(&serde_json::json!({ "staging": copies }));
        return Ok(exit::OK);
    }
    if copies.is_empty() {
        println!(
            "No staging copy {}. Bring one up: wpbackup staging up --site SITE",
            if all { "on record" } else { "is up" }
        );
        return Ok(exit::OK);
    }
    let now = engine.clock.now();
    let mut t = table(&[
        "id",
        "site",
        "state",
        "data as of",
        "up since",
        "age",
        "address",
        "resources",
    ]);
    for c in &copies {
        t.add_row(vec![
            c.id.clone(),
            c.site.clone(),
            c.state.to_string(),
            when(c.target_time),
            when(c.created_at),
            format_duration(now - c.created_at),
            c.access
                .as_ref()
                .map(|a| a.addresses.join(", "))
                .unwrap_or_default(),
            c.resources
                .iter()
                .map(|r| format!("{} {}", r.kind, r.id))
                .collect::<Vec<_>>()
                .join("\n"),
        ]);
    }
    println!("{t}");
    Ok(exit::OK)
}
