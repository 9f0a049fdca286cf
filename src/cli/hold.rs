//! `wpbackup hold add|remove|list`: keep points (or a whole component) from retention.

use super::render::{table, when};
use super::{Cli, CliResult};
use crate::domain::time::{add_saturating, parse_duration, parse_instant};
use crate::exit;
use chrono::Utc;

#[derive(clap::Subcommand, Debug)]
pub enum HoldCommand {
    /// Hold a point (--point ID) or every point of a component (--site S --component C).
    Add(AddArgs),
    /// Release a hold.
    Remove {
        /// The hold's id (see `hold list`).
        id: i64,
    },
    /// List holds in force (with --all, released and expired ones too).
    List {
        #[arg(long)]
        all: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// Catalog id of the point (see `points`).
    #[arg(long, conflicts_with = "component")]
    pub point: Option<i64>,
    #[arg(long)]
    pub site: Option<String>,
    #[arg(long)]
    pub component: Option<String>,
    /// Why (recorded, shown by prune).
    #[arg(long)]
    pub reason: String,
    /// When the hold ends: a duration ("7d") or a time; default: until removed.
    #[arg(long)]
    pub expires: Option<String>,
}

pub async fn run(cli: &Cli, cmd: &HoldCommand) -> CliResult {
    let engine = super::engine(cli, true).await?;
    let now = Utc::now();
    let catalog = &engine.catalog;
    let code = match cmd {
        HoldCommand::Add(a) => {
            let expires = match &a.expires {
                None => None,
                // A duration ("30d") or an instant.
                Some(e) if humantime::parse_duration(e.trim()).is_ok() => Some(add_saturating(
                    now,
                    parse_duration(e).map_err(|m| super::usage(format!("--expires {e:?}: {m}")))?,
                )),
                Some(e) => Some(parse_instant(e, now, chrono_tz::UTC)?),
            };
            if expires.is_some_and(|e| e <= now) {
                return Err(super::usage("--expires is in the past"));
            }
            let (component_id, point_id, what) = match (a.point, &a.site, &a.component) {
                (Some(id), _, _) => {
                    let p = catalog.point(id).await?.ok_or_else(|| {
                        super::usage(format!("no point with id {id}; see `wpbackup points`"))
                    })?;
                    let c = catalog
                        .component_id(&p.site, &p.component)
                        .await?
                        .expect("a point's component exists");
                    (c, Some(id), format!("point {id} ({})", p.name))
                }
                (None, Some(site), Some(component)) => {
                    let c = catalog.component_id(site, component).await?.ok_or_else(|| {
                        super::usage(format!("the catalog knows no component {site}/{component} (run it once first)"))
                    })?;
                    (c, None, format!("every point of {site}/{component}"))
                }
                _ => {
                    return Err(super::usage(
                        "give --point ID, or --site S and --component C",
                    ))
                }
            };
            let id = catalog
                .add_hold(component_id, point_id, &a.reason, now, expires)
                .await?;
            if cli.json {
                super::print_json(
                    &serde_json::json!({ "hold": id, "point_id": point_id, "expires_at": expires }),
                );
            } else {
                println!(
                    "hold {id}: {what} kept from retention{}",
                    expires
                        .map(|e| format!(" until {}", when(e)))
                        .unwrap_or_default()
                );
            }
            exit::OK
        }
        HoldCommand::Remove { id } => {
            if !catalog.release_hold(*id, now).await? {
                return Err(super::usage(format!(
                    "no active hold {id}; see `wpbackup hold list`"
                )));
            }
            if cli.json {
                super::print_json(&serde_json::json!({ "released": id }));
            } else {
                println!("hold {id} released");
            }
            exit::OK
        }
        HoldCommand::List { all } => {
            let holds = catalog.holds(if *all { None } else { Some(now) }).await?;
            if cli.json {
                super::print_json(&serde_json::json!({ "holds": holds }));
            } else {
                let mut t = table(&[
                    "id",
                    "site",
                    "component",
                    "point",
                    "reason",
                    "since",
                    "until",
                ]);
                for h in &holds {
                    t.add_row(vec![
                        h.id.to_string(),
                        h.site.clone(),
                        h.component.clone(),
                        h.point_name.clone().unwrap_or_else(|| "(all)".into()),
                        h.reason.clone(),
                        when(h.created_at),
                        match (h.released_at, h.expires_at) {
                            (Some(r), _) => format!("released {}", when(r)),
                            (None, Some(e)) => when(e),
                            (None, None) => "until removed".into(),
                        },
                    ]);
                }
                println!("{t}");
            }
            exit::OK
        }
    };
    engine.catalog.close().await;
    Ok(code)
}
