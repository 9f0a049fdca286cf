//! `wpbackup restore …`, `wpbackup drill`, `wpbackup snapshot`: plan for review, execute
//! with confirmation and live progress, resume, roll back, show, list.

use super::render::{table, when};
use super::{Cli, CliResult, Failure};
use crate::catalog::StepRecord;
use crate::domain::planner::RestoreTo;
use crate::domain::restore_plan::{Plan, PlanStatus, Purpose};
use crate::domain::time::{format_duration, parse_duration, parse_instant};
use crate::engine::restore::{Execution, RestoreError, RestoreRequest};
use crate::engine::run::{RunRequest, Trigger};
use crate::engine::Engine;
use crate::exit;
use clap::ValueEnum;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ToChoice {
    /// The site's own region: restore in place and cut over.
    Primary,
    /// The DR region, from the copies (DNS is a manual step: static IPs are regional).
    Dr,
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RestoreArgs {
    #[command(subcommand)]
    pub command: Option<RestoreCommand>,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Write the plan (JSON, versioned) to FILE for review; `restore apply FILE` runs it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Execute the plan now (asks for confirmation unless --yes).
    #[arg(long)]
    pub execute: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// The site (optional when the configuration has one).
    #[arg(long)]
    pub site: Option<String>,
    /// The instant to restore to: "2026-11-27 14:05" (site's time zone), RFC 3339, "2h ago".
    #[arg(long)]
    pub at: Option<String>,
    /// Restore only these components (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Where the restored site runs.
    #[arg(long, value_enum, default_value_t = ToChoice::Primary)]
    pub to: ToChoice,
}

#[derive(clap::Subcommand, Debug)]
pub enum RestoreCommand {
    /// Execute a plan file written by `restore --out`.
    Apply {
        file: PathBuf,
        #[arg(long)]
        yes: bool,
    },
    /// Finish a plan that stopped (crash, Ctrl-C, failed step): done steps are not redone.
    Resume {
        id: String,
        #[arg(long)]
        yes: bool,
    },
    /// Move the public address and the DB endpoint back to what they were before the plan.
    Rollback {
        id: String,
        #[arg(long)]
        yes: bool,
    },
    /// Retire what a completed restore replaced (the old server, cluster, file system),
    /// once the restored site is confirmed: wpbackup-tagged resources are deleted, the
    /// site's originals are listed to delete by hand. The plan can no longer be rolled back.
    Finalize {
        id: String,
        #[arg(long)]
        yes: bool,
    },
    /// A plan, its steps, their state, timing and provider ids.
    Show { id: String },
    /// Restore plans and drills, newest first.
    List {
        #[arg(long)]
        site: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

#[derive(clap::Args, Debug)]
pub struct DrillArgs {
    #[arg(long)]
    pub site: Option<String>,
    /// The instant to restore to (default: now).
    #[arg(long)]
    pub at: Option<String>,
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Plan only: print what the drill would do.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(clap::Args, Debug)]
pub struct SnapshotArgs {
    #[arg(long)]
    pub site: Option<String>,
    /// Why (recorded with the hold): "before upgrading WooCommerce".
    #[arg(long)]
    pub reason: String,
    /// Keep these points from retention for this long ("7d").
    #[arg(long, value_name = "DURATION")]
    pub hold: Option<String>,
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

pub(super) fn site_name(engine: &Engine, site: &Option<String>) -> Result<String, Failure> {
    match site {
        Some(s) => Ok(engine.site(s)?.name.clone()),
        None if engine.config.sites.len() == 1 => Ok(engine.config.sites[0].name.clone()),
        None => Err(super::usage(format!(
            "--site is needed: the configuration has sites {}",
            engine
                .config
                .sites
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

pub async fn run(cli: &Cli, args: &RestoreArgs) -> CliResult {
    let engine = super::engine(cli, false).await?;
    match &args.command {
        Some(RestoreCommand::Apply { file, yes }) => apply(cli, &engine, file, *yes).await,
        Some(RestoreCommand::Resume { id, yes }) => {
            let rec = engine.plan_record(id).await?;
            let plan = rec.plan().map_err(RestoreError::from)?;
            confirm(&plan, *yes, "resume")?;
            execute(cli, &engine, &plan.id).await
        }
        Some(RestoreCommand::Rollback { id, yes }) => rollback(cli, &engine, id, *yes).await,
        Some(RestoreCommand::Finalize { id, yes }) => finalize(cli, &engine, id, *yes).await,
        Some(RestoreCommand::Show { id }) => show(cli, &engine, id).await,
        Some(RestoreCommand::List { site, limit }) => {
            list(cli, &engine, site.as_deref(), *limit).await
        }
        None => {
            let Some(at) = &args.plan.at else {
                return Err(super::usage(
                    "restore needs --at TIME (or a subcommand: apply, resume, rollback, finalize, show, list)",
                ));
            };
            let plan = plan_for(&engine, &args.plan, at, Purpose::Restore).await?;
            let json = plan_json(&plan);
            if let Some(path) = &args.out {
                write_plan(path, &json)?;
            }
            if !args.execute {
                if cli.json {
                    println!("{json}");
                } else {
                    print_plan(&plan);
                    match &args.out {
                        Some(p) => println!("\nPlan written to {}. Execute it with: wpbackup restore apply {}", p.display(), p.display()),
                        None => println!("\nNothing was changed. Execute with --execute, or save with --out FILE and run `wpbackup restore apply FILE`."),
                    }
                }
                return Ok(exit::OK);
            }
            if !cli.json {
                print_plan(&plan);
            }
            confirm(&plan, args.yes, "execute")?;
            engine.store_plan(&plan, &json).await?;
            execute(cli, &engine, &plan.id).await
        }
    }
}

pub(super) async fn plan_for(
    engine: &Engine,
    args: &PlanArgs,
    at: &str,
    purpose: Purpose,
) -> Result<Plan, Failure> {
    let site = site_name(engine, &args.site)?;
    let zone = engine.site(&site)?.timezone;
    let to = match args.to {
        ToChoice::Primary => RestoreTo::Primary,
        ToChoice::Dr => RestoreTo::Dr,
    };
    let at = match parse_instant(at, engine.clock.now(), zone) {
        // Kept exact: "now" must not round down to before a point taken this second.
        Ok(t) => t,
        Err(e) => {
            // Say what can be restored, so the next try can succeed.
            let range = match engine.restore_coverage(&site, to, &args.only).await {
                Ok((Some(a), b)) => format!(
                    "; site {site} can be restored to any instant from {} to {}",
                    a.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    b.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                Ok((None, _)) => {
                    format!("; site {site} has a component with no recovery point yet")
                }
                Err(_) => String::new(),
            };
            return Err(super::usage(format!("{e}{range}")));
        }
    };
    let req = RestoreRequest {
        site,
        at,
        to,
        only: args.only.clone(),
        purpose,
    };
    Ok(engine.prepare_restore(&req).await?)
}

pub(super) fn plan_json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).expect("plans serialise")
}

fn write_plan(path: &std::path::Path, json: &str) -> Result<(), Failure> {
    super::write_whole(path, &format!("{json}\n"))
}

async fn apply(cli: &Cli, engine: &Engine, file: &PathBuf, yes: bool) -> CliResult {
    let text = std::fs::read_to_string(file)
        .map_err(|e| super::usage(format!("cannot read the plan {}: {e}", file.display())))?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| Failure {
        code: exit::INVALID_CONFIG,
        error: anyhow::anyhow!(
            "{} is not a wpbackup restore plan: {e} (make one with `wpbackup restore --at TIME --out FILE`)",
            file.display()
        ),
    })?;
    if !cli.json {
        print_plan(&plan);
    }
    confirm(&plan, yes, "execute")?;
    engine.store_plan(&plan, text.trim_end()).await?;
    execute(cli, engine, &plan.id).await
}

/// Destructive steps need the operator's word: `--yes`, or typing the site's name.
fn confirm(plan: &Plan, yes: bool, verb: &str) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    let cutover: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.action.is_cutover())
        .map(|s| s.key.as_str())
        .collect();
    if !std::io::stdin().is_terminal() {
        return Err(super::usage(format!(
            "refusing to {verb} plan {} without confirmation: stdin is not a terminal; pass --yes",
            plan.id
        )));
    }
    eprintln!(
        "\nThis will {verb} plan {} for site {} ({} step(s) change what visitors see: {}).\nOld resources are kept. Type the site name ({}) to continue: ",
        plan.id,
        plan.site,
        cutover.len(),
        if cutover.is_empty() { "none".into() } else { cutover.join(", ") },
        plan.site
    );
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| super::usage(e.to_string()))?;
    if line.trim() != plan.site {
        return Err(super::usage("not confirmed; nothing was changed"));
    }
    Ok(())
}

/// Ctrl-C: the first stops starting steps (in-flight ones finish and are recorded).
pub(super) fn stop_on_ctrl_c() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = tx.send(true);
            // Keep the sender alive until the execution ends.
            tx.closed().await;
        }
    });
    rx
}

async fn execute(cli: &Cli, engine: &Engine, id: &str) -> CliResult {
    let exec = engine
        .execute_plan(id, super::progress::for_steps(cli), stop_on_ctrl_c())
        .await?;
    report_execution(cli, &exec)
}

fn report_execution(cli: &Cli, exec: &Execution) -> CliResult {
    if cli.json {
        super::print_json(exec);
    } else {
        println!();
        print_steps(&exec.steps);
        match exec.status {
            PlanStatus::Completed => println!("Plan {} completed. Roll back with: wpbackup restore rollback {}", exec.plan_id, exec.plan_id),
            PlanStatus::TornDown => {
                print_torn_down(&exec.drill_resources);
                let took = exec.recovery_seconds;
                println!(
                    "Drill {} passed and was torn down. Measured recovery time: {}{}.",
                    exec.plan_id,
                    took.map(|s| format_duration(chrono::Duration::seconds(s)))
                        .unwrap_or_else(|| "n/a".into()),
                    match (took, exec.recovery_target_seconds) {
                        (Some(s), Some(rto)) => format!(
                            " ({} the recovery-time objective of {})",
                            if s <= rto { "within" } else { "OVER" },
                            format_duration(chrono::Duration::seconds(rto))
                        ),
                        _ => String::new(),
                    }
                )
            }
            PlanStatus::RolledBack => println!("Plan {} rolled back: address and DB endpoint are back on the old resources (restored ones kept).", exec.plan_id),
            PlanStatus::Executing => println!("Plan {} stopped before finishing. Continue with: wpbackup restore resume {}", exec.plan_id, exec.plan_id),
            PlanStatus::Failed | PlanStatus::Planned => println!(
                "Plan {} FAILED: {}\nFix the cause, then: wpbackup restore resume {}",
                exec.plan_id,
                exec.failure.as_deref().unwrap_or("see the steps above"),
                exec.plan_id
            ),
        }
    }
    Ok(match exec.status {
        PlanStatus::Completed | PlanStatus::TornDown | PlanStatus::RolledBack => exit::OK,
        PlanStatus::Executing => exit::PARTIAL,
        PlanStatus::Failed | PlanStatus::Planned => exit::FAILED,
    })
}

/// What a teardown deleted and read back as gone, one row per resource.
pub(super) fn print_torn_down(resources: &[crate::engine::restore::DrillResource]) {
    if resources.is_empty() {
        return;
    }
    let mut t = table(&["created", "id", "by step", "deleted", "verified gone"]);
    for r in resources {
        t.add_row(vec![
            r.kind.clone(),
            r.id.clone(),
            r.step.clone(),
            if r.deleted { "yes" } else { "no" }.to_string(),
            if r.gone { "yes" } else { "NO" }.to_string(),
        ]);
    }
    println!("{t}");
}

pub(super) fn print_plan(plan: &Plan) {
    println!(
        "{} plan {} — site {} as of {} ({} region {})",
        match plan.purpose {
            Purpose::Restore => "Restore",
            Purpose::Drill => "Drill",
            Purpose::Staging => "Staging",
        },
        plan.id,
        plan.site,
        when(plan.at),
        plan.to,
        plan.region
    );
    let mut t = table(&[
        "component",
        "kind",
        "source",
        "point time",
        "data lost (gap)",
        "RPO",
    ]);
    for c in &plan.components {
        t.add_row(vec![
            c.component.clone(),
            c.kind.as_str().to_string(),
            c.source.clone(),
            when(c.point_time),
            format_duration(chrono::Duration::seconds(c.gap_seconds)),
            format!(
                "{} {}",
                if c.rpo_exceeded { "EXCEEDED" } else { "ok" },
                format_duration(chrono::Duration::seconds(c.rpo_seconds))
            ),
        ]);
    }
    println!("{t}");
    println!(
        "Skew between components: {}",
        format_duration(chrono::Duration::seconds(plan.skew_seconds))
    );
    for w in &plan.warnings {
        println!("warning: {w}");
    }
    println!(
        "\nSteps (independent steps run in parallel; expected total ~{}):",
        format_duration(chrono::Duration::seconds(plan.expected_seconds() as i64))
    );
    for (i, s) in plan.steps.iter().enumerate() {
        println!(
            "{:>2}. {}  after: {}  expected ~{} ({})",
            i + 1,
            s.key,
            if s.depends_on.is_empty() {
                "—".to_string()
            } else {
                s.depends_on.join(", ")
            },
            format_duration(chrono::Duration::seconds(s.expected_seconds as i64)),
            s.estimate
        );
        for c in &s.calls {
            println!("      {c}");
        }
        use crate::domain::restore_plan::{Action, LaunchGroup, LaunchInstance};
        if let Action::LaunchInstance(LaunchInstance {
            user_data: Some(u), ..
        })
        | Action::LaunchGroup(LaunchGroup {
            user_data: Some(u), ..
        }) = &s.action
        {
            println!("      user data (values from other steps filled in at launch):");
            for line in u.preview().lines() {
                println!("        | {line}");
            }
        }
    }
}

pub(super) fn print_steps(steps: &[StepRecord]) {
    let mut t = table(&["step", "state", "attempts", "took", "provider ids / error"]);
    for s in steps {
        let took = match (s.started_at, s.finished_at) {
            (Some(a), Some(b)) => format_duration(b - a),
            (Some(_), None) => "…".into(),
            _ => String::new(),
        };
        let detail = match &s.error {
            Some(e) => e.clone(),
            None => s
                .outputs
                .iter()
                .filter(|(k, _)| k.as_str() != "reverted")
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    )
                })
                .collect::<Vec<_>>()
                .join(" "),
        };
        t.add_row(vec![
            s.key.clone(),
            s.state.to_string(),
            s.attempts.to_string(),
            took,
            detail,
        ]);
    }
    println!("{t}");
}

async fn rollback(cli: &Cli, engine: &Engine, id: &str, yes: bool) -> CliResult {
    let rec = engine.plan_record(id).await?;
    let plan = rec.plan().map_err(RestoreError::from)?;
    confirm(&plan, yes, "roll back")?;
    let exec = engine
        .rollback_plan(id, super::progress::for_steps(cli))
        .await?;
    report_execution(cli, &exec)
}

async fn finalize(cli: &Cli, engine: &Engine, id: &str, yes: bool) -> CliResult {
    let replaced = engine.replaced_by(id).await?;
    if replaced.is_empty() {
        println!("Plan {id} replaced nothing that is still kept: nothing to finalize.");
        return Ok(exit::OK);
    }
    let list: Vec<String> = replaced
        .iter()
        .map(|r| format!("{} {} ({})", r.kind, r.resource, r.component))
        .collect();
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(super::usage(format!(
                "refusing to finalize plan {id} without confirmation: stdin is not a terminal; pass --yes \
                 (it retires {}; the plan can no longer be rolled back)",
                list.join(", ")
            )));
        }
        let rec = engine.plan_record(id).await?;
        eprintln!(
            "\nThis retires what plan {id} replaced: {}.\nwpbackup deletes only resources it created (tagged); the others are listed to delete by hand.\nThe plan can no longer be rolled back. Type the site name ({}) to continue: ",
            list.join(", "),
            rec.site
        );
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| super::usage(format!("cannot read the confirmation: {e}")))?;
        if line.trim() != rec.site {
            return Err(super::usage("not confirmed; nothing was changed"));
        }
    }
    let exec = engine
        .finalize_plan(id, super::progress::for_steps(cli))
        .await?;
    if cli.json {
        super::print_json(&exec);
    } else {
        print_steps(&exec.steps);
    }
    Ok(match exec.status {
        PlanStatus::Completed => exit::OK,
        _ => exit::FAILED,
    })
}

async fn show(cli: &Cli, engine: &Engine, id: &str) -> CliResult {
    let rec = engine.plan_record(id).await?;
    let plan = rec.plan().map_err(RestoreError::from)?;
    let steps = engine.catalog.restore_steps(id).await?;
    if cli.json {
        super::print_json(&serde_json::json!({
            "id": rec.id, "site": rec.site, "purpose": rec.purpose, "status": rec.status,
            "target_time": rec.target_time, "region": rec.to_region,
            "created_at": rec.created_at, "updated_at": rec.updated_at,
            "plan": plan, "steps": steps,
        }));
    } else {
        print_plan(&plan);
        println!(
            "\nStatus: {} (updated {})",
            rec.status,
            when(rec.updated_at)
        );
        print_steps(&steps);
    }
    Ok(exit::OK)
}

async fn list(cli: &Cli, engine: &Engine, site: Option<&str>, limit: i64) -> CliResult {
    let plans = engine.catalog.restore_plans(site, limit).await?;
    if cli.json {
        super::print_json(&serde_json::json!({ "plans": plans }));
        return Ok(exit::OK);
    }
    let mut t = table(&[
        "id", "site", "purpose", "as of", "region", "status", "created", "updated",
    ]);
    let unfinished = |s: PlanStatus| {
        matches!(
            s,
            PlanStatus::Planned | PlanStatus::Executing | PlanStatus::Failed
        )
    };
    for p in &plans {
        t.add_row(vec![
            p.id.clone(),
            p.site.clone(),
            p.purpose.as_str().to_string(),
            when(p.target_time),
            p.to_region.clone(),
            if unfinished(p.status) {
                format!("{} (UNFINISHED)", p.status)
            } else {
                p.status.to_string()
            },
            when(p.created_at),
            when(p.updated_at),
        ]);
    }
    println!("{t}");
    let n = plans.iter().filter(|p| unfinished(p.status)).count();
    if n > 0 {
        println!(
            "{n} unfinished plan(s) keep their points from retention: `wpbackup restore show ID` says where each stopped, `wpbackup restore resume ID` finishes it"
        );
    }
    Ok(exit::OK)
}

pub async fn drill(cli: &Cli, args: &DrillArgs) -> CliResult {
    let engine = super::engine(cli, false).await?;
    let plan_args = PlanArgs {
        site: args.site.clone(),
        at: None,
        only: args.only.clone(),
        to: ToChoice::Primary,
    };
    let at = args.at.clone().unwrap_or_else(|| "now".into());
    let plan = plan_for(&engine, &plan_args, &at, Purpose::Drill).await?;
    // A drill touches nothing visitors see and deletes only what it created: no prompt.
    if !show_and_store(cli, &engine, &plan, args.dry_run).await? {
        return Ok(exit::OK);
    }
    execute(cli, &engine, &plan.id).await
}

/// An isolated plan (drill, staging copy) printed — as JSON alone with `--dry-run --json`
/// — and, unless `dry_run`, stored to be executed at once: whether it was stored.
pub(super) async fn show_and_store(
    cli: &Cli,
    engine: &Engine,
    plan: &Plan,
    dry_run: bool,
) -> Result<bool, Failure> {
    if dry_run && cli.json {
        println!("{}", plan_json(plan));
    } else if !cli.json {
        print_plan(plan);
    }
    if !dry_run {
        engine.store_plan(plan, &plan_json(plan)).await?;
    }
    Ok(!dry_run)
}

pub async fn snapshot(cli: &Cli, args: &SnapshotArgs) -> CliResult {
    let mut engine = super::engine(cli, true).await?;
    engine.progress = super::progress::display(cli);
    let site = site_name(&engine, &args.site)?;
    let now = engine.clock.now();
    let expires = match &args.hold {
        Some(h) => Some(crate::domain::time::add_saturating(
            now,
            parse_duration(h).map_err(|e| super::usage(format!("--hold {h:?}: {e}")))?,
        )),
        None => None,
    };
    let s = engine.site(&site)?.clone();
    for o in &args.only {
        if s.policy(o).is_none() {
            return Err(super::usage(format!(
                "site {site} has no component {o:?}; components: {}",
                s.policies
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let at = engine.manual_instant();
    let requests: Vec<RunRequest> = s
        .policies
        .iter()
        .filter(|p| args.only.is_empty() || args.only.contains(&p.name))
        .map(|p| RunRequest {
            site: site.clone(),
            policy: p.name.clone(),
            scheduled_for: at,
            trigger: Trigger::OnDemand,
        })
        .collect();
    let reports = engine.run_many(requests, 4).await?;
    let mut held = Vec::new();
    let reason = format!("snapshot: {}", args.reason);
    for r in &reports {
        if let Some(component_id) = engine.catalog.component_id(&site, &r.component).await? {
            for p in r.point.iter().chain(&r.copies) {
                if p.state != crate::domain::model::PointState::Failed {
                    let hold = engine
                        .catalog
                        .add_hold(component_id, Some(p.catalog_id), &reason, now, expires)
                        .await?;
                    held.push(serde_json::json!({"hold": hold, "point": p.catalog_id, "component": r.component, "name": p.name}));
                }
            }
        }
    }
    let failed = reports
        .iter()
        .filter(|r| r.failure_reason.is_some())
        .count();
    if cli.json {
        super::print_json(
            &serde_json::json!({ "runs": reports, "holds": held, "hold_expires": expires }),
        );
    } else {
        let mut t = table(&["component", "phase", "point", "held until", "failure"]);
        for r in &reports {
            t.add_row(vec![
                r.component.clone(),
                r.phase.as_str().to_string(),
                r.point
                    .as_ref()
                    .map(|p| format!("{} ({})", p.name, p.provider_id))
                    .unwrap_or_default(),
                if r.point.is_some() {
                    expires
                        .map(when)
                        .unwrap_or_else(|| "until `hold remove`".into())
                } else {
                    String::new()
                },
                r.failure_reason.clone().unwrap_or_default(),
            ]);
        }
        println!("{t}");
        println!(
            "Reason recorded with {} hold(s): {}",
            held.len(),
            args.reason
        );
    }
    Ok(if failed == 0 {
        exit::OK
    } else if failed < reports.len() {
        exit::PARTIAL
    } else {
        exit::FAILED
    })
}
