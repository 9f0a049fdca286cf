//! `wpbackup points [--site S] [--component C] [--at T]`: what the catalog holds, or
//! what would be chosen as of T.

use super::render::{table, when};
use super::{Cli, CliResult};
use crate::catalog::{Catalog, PointFilter};
use crate::domain::selection::select_as_of;
use crate::domain::time::{format_duration, parse_instant};
use crate::exit;
use chrono::Utc;

#[derive(clap::Args, Debug)]
pub struct PointsArgs {
    #[arg(long)]
    pub site: Option<String>,
    #[arg(long)]
    pub component: Option<String>,
    /// Show only what would be chosen as of this time, per component and region
    /// (RFC 3339, "2026-11-27 14:05 [Zone]", "2h ago").
    #[arg(long, value_name = "T")]
    pub at: Option<String>,
    /// Include deleted points.
    #[arg(long)]
    pub all: bool,
}

pub async fn run(cli: &Cli, args: &PointsArgs) -> CliResult {
    let config = super::load_config(&cli.config)?;
    if let Some(s) = &args.site {
        if config.site(s).is_none() {
            return Err(super::usage(format!(
                "no site named {s:?}; known sites: {}",
                config
                    .sites
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let catalog = Catalog::connect(&config.catalog, false).await?;
    let points = catalog
        .points(&PointFilter {
            site: args.site.clone(),
            component: args.component.clone(),
            include_deleted: args.all,
        })
        .await?;
    // Resources a restore adopted in place of the ones the policies name.
    let mut serving = Vec::new();
    for site in &config.sites {
        if args.site.as_ref().is_none_or(|s| *s == site.name) {
            serving.extend(
                catalog
                    .serving(&site.name)
                    .await?
                    .into_iter()
                    .filter(|a| args.component.as_ref().is_none_or(|c| *c == a.component)),
            );
        }
    }
    catalog.close().await;

    let Some(at_text) = &args.at else {
        if cli.json {
            super::print_json(&serde_json::json!({ "points": points, "serving": serving }));
        } else {
            for a in &serving {
                println!(
                    "{}/{}: backups protect {} since {} (restored by {}; replaces {})",
                    a.site,
                    a.component,
                    a.resource_id,
                    when(a.since),
                    a.plan_id,
                    a.replaced
                );
            }
            let mut t = table(&[
                "id",
                "site",
                "component",
                "kind",
                "region",
                "point time",
                "state",
                "provider id",
                "of resource",
                "copy of",
            ]);
            for p in &points {
                t.add_row(vec![
                    p.id.to_string(),
                    p.site.clone(),
                    p.component.clone(),
                    p.kind.to_string(),
                    p.region.clone(),
                    when(p.point_time),
                    p.state.to_string(),
                    p.provider_id.clone(),
                    p.metadata
                        .extra
                        .get("resource")
                        .cloned()
                        .unwrap_or_default(),
                    p.source_point_id.map(|s| s.to_string()).unwrap_or_default(),
                ]);
            }
            println!("{t}");
            println!("{} point(s)", points.len());
        }
        return Ok(exit::OK);
    };

    let zone = args
        .site
        .as_deref()
        .and_then(|s| config.site(s))
        .map(|s| s.timezone)
        .unwrap_or(chrono_tz::UTC);
    let at = parse_instant(at_text, Utc::now(), zone)?;
    let selected = select_as_of(&points, at);
    if cli.json {
        let items: Vec<_> = selected
            .values()
            .map(|s| {
                serde_json::json!({
                    "site": s.point.site,
                    "component": s.point.component,
                    "region": s.point.region,
                    "gap_seconds": s.gap.num_seconds(),
                    "point": s.point,
                })
            })
            .collect();
        super::print_json(&serde_json::json!({ "at": at, "selected": items }));
    } else {
        println!(
            "As of {} (newest available point at or before it):",
            when(at)
        );
        let mut t = table(&[
            "site",
            "component",
            "region",
            "point",
            "point time",
            "data-loss gap",
        ]);
        for s in selected.values() {
            t.add_row(vec![
                s.point.site.clone(),
                s.point.component.clone(),
                s.point.region.clone(),
                s.point.provider_id.clone(),
                when(s.point.point_time),
                format_duration(s.gap),
            ]);
        }
        println!("{t}");
        if selected.is_empty() {
            let first = points.iter().map(|p| p.point_time).min();
            match first {
                Some(f) => println!(
                    "No point at or before {}; the earliest is {}.",
                    when(at),
                    when(f)
                ),
                None => println!("The catalog holds no points yet."),
            }
        }
    }
    Ok(exit::OK)
}
