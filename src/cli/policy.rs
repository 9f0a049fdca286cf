//! `wpbackup policy check [FILES…]`: every problem at once (file, line, key), and the next
//! three fire times of each valid policy.

use super::{Cli, CliResult};
use crate::config::policy::PolicyContext;
use crate::config::reader::{Diagnostic, Severity};
use crate::config::{self, check_policy_files, policy_files, site_context};
use crate::domain::policy::Policy;
use crate::exit;
use chrono::Utc;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand, Debug)]
pub enum PolicyCommand {
    /// Check policy files (default: every site's policies in the configuration).
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Policy files or directories; checked as the policies of the site whose directory
    /// holds them (or of --site).
    pub files: Vec<PathBuf>,
    /// Check the files as policies of this site (its regions are used for DR checks).
    #[arg(long)]
    pub site: Option<String>,
}

#[derive(Serialize)]
struct CheckedPolicy {
    file: PathBuf,
    site: Option<String>,
    name: String,
    kind: String,
    schedule: String,
    timezone: String,
    content_hash: String,
    next_fires: Vec<String>,
}

#[derive(Serialize)]
struct CheckReport {
    valid: bool,
    errors: usize,
    warnings: usize,
    policies: Vec<CheckedPolicy>,
    diagnostics: Vec<Diagnostic>,
}

pub fn run(cli: &Cli, cmd: &PolicyCommand) -> CliResult {
    let PolicyCommand::Check(args) = cmd;
    let now = Utc::now();
    let mut diagnostics = Vec::new();
    let mut checked: Vec<(Option<String>, Policy)> = Vec::new();

    // The configuration gives the site context (regions) for DR checks.
    let config = if cli.config.exists() {
        match config::load_without_policies(&cli.config) {
            Ok(c) => Some(c),
            Err(e) => {
                diagnostics.extend(e.diagnostics);
                None
            }
        }
    } else {
        None
    };

    // Files are checked in groups, one per site (or, without one, per directory): names
    // must be unique within a group.
    let mut groups: BTreeMap<String, (Option<String>, PolicyContext, Vec<PathBuf>)> =
        BTreeMap::new();
    if args.files.is_empty() {
        match &config {
            // The configuration itself is invalid: its problems are the report.
            None if !diagnostics.is_empty() => {}
            None => {
                return Err(super::usage(format!(
                    "no policy files given and no configuration at {}; pass FILES or --config",
                    cli.config.display()
                )))
            }
            Some(_) => {}
        }
        for site in config.iter().flat_map(|c| &c.sites) {
            let files = policy_files(&site.policies_dir).unwrap_or_default();
            if files.is_empty() {
                diagnostics.push(Diagnostic {
                    severity: Severity::Error,
                    file: site.policies_dir.clone(),
                    line: 0,
                    column: 0,
                    key: String::new(),
                    message: format!(
                        "site {}: no policy files (*.toml) in this directory",
                        site.name
                    ),
                });
            }
            groups.insert(
                format!("site {}", site.name),
                (Some(site.name.clone()), site_context(site), files),
            );
        }
    } else {
        for f in &args.files {
            let files = if f.is_dir() {
                policy_files_recursive(f)
                    .map_err(|e| super::usage(format!("{}: {e}", f.display())))?
            } else {
                vec![f.clone()]
            };
            for file in files {
                let site = match (&args.site, &config) {
                    (Some(s), Some(c)) => Some(c.site(s).ok_or_else(|| {
                        super::usage(format!("no site named {s:?} in {}", cli.config.display()))
                    })?),
                    (Some(s), None) => {
                        return Err(super::usage(format!(
                            "--site {s} needs a configuration; none at {}",
                            cli.config.display()
                        )))
                    }
                    (None, Some(c)) => c.sites.iter().find(|s| same_dir(&s.policies_dir, &file)),
                    (None, None) => None,
                };
                let key = match site {
                    Some(s) => format!("site {}", s.name),
                    None => format!("dir {}", file.parent().unwrap_or(Path::new(".")).display()),
                };
                let ctx = site.map(site_context).unwrap_or_default();
                groups
                    .entry(key)
                    .or_insert_with(|| (site.map(|s| s.name.clone()), ctx, Vec::new()))
                    .2
                    .push(file);
            }
        }
    }

    for (site, ctx, files) in groups.values() {
        let (policies, diags) = check_policy_files(files, ctx, now);
        diagnostics.extend(diags);
        checked.extend(policies.into_iter().map(|p| (site.clone(), p)));
    }

    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    let policies: Vec<CheckedPolicy> = checked
        .iter()
        .map(|(site, p)| CheckedPolicy {
            file: p.source.path.clone(),
            site: site.clone(),
            name: p.name.clone(),
            kind: p.kind.to_string(),
            schedule: p.schedule.expression().to_string(),
            timezone: p.schedule.zone().name().to_string(),
            content_hash: p.source.content_hash.clone(),
            next_fires: p
                .schedule
                .upcoming(now, 3)
                .iter()
                .map(|t| t.with_timezone(&p.schedule.zone()).to_rfc3339())
                .collect(),
        })
        .collect();
    let report = CheckReport {
        valid: errors == 0,
        errors,
        warnings,
        policies,
        diagnostics,
    };
    if cli.json {
        super::print_json(&report);
    } else {
        for d in &report.diagnostics {
            println!("{d}");
        }
        for p in &report.policies {
            println!(
                "ok  {} — {}{} ({}), \"{}\" in {}; next: {}",
                p.file.display(),
                p.site
                    .as_deref()
                    .map(|s| format!("{s}/"))
                    .unwrap_or_default(),
                p.name,
                p.kind,
                p.schedule,
                p.timezone,
                p.next_fires.join(", ")
            );
        }
        println!(
            "{} policy file(s) valid, {} error(s), {} warning(s)",
            report.policies.len(),
            report.errors,
            report.warnings
        );
    }
    Ok(if report.errors > 0 {
        exit::INVALID_CONFIG
    } else if report.warnings > 0 {
        exit::PARTIAL
    } else {
        exit::OK
    })
}

/// Every `*.toml` under `dir`, at any depth, sorted. Each directory is read once, however
/// many symbolic links lead to it (a link to a parent would otherwise never end).
fn policy_files_recursive(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn walk(
        dir: &Path,
        seen: &mut std::collections::HashSet<PathBuf>,
        out: &mut Vec<PathBuf>,
    ) -> std::io::Result<()> {
        if !seen.insert(dir.canonicalize()?) {
            return Ok(());
        }
        out.extend(policy_files(dir)?);
        let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        subdirs.sort();
        for d in subdirs {
            walk(&d, seen, out)?;
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, &mut std::collections::HashSet::new(), &mut out)?;
    Ok(out)
}

fn same_dir(dir: &Path, file: &Path) -> bool {
    let parent = file.parent().unwrap_or(Path::new("."));
    match (dir.canonicalize(), parent.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
