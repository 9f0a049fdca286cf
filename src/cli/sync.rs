//! `wpbackup sync [--site S]`: reconcile the catalog with the cloud (read-only there).

use super::render::{table, when};
use super::{Cli, CliResult};
use crate::exit;

#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    /// Only this site (default: every site).
    #[arg(long)]
    pub site: Option<String>,
}

pub async fn run(cli: &Cli, args: &SyncArgs) -> CliResult {
    let mut engine = super::engine(cli, true).await?;
    engine.progress = super::progress::display(cli);
    let sites: Vec<_> = match &args.site {
        Some(s) => vec![engine.site(s)?.clone()],
        None => engine.config.sites.clone(),
    };
    let mut reports = Vec::new();
    for site in &sites {
        reports.push(engine.sync_site(site).await?);
    }
    engine.catalog.close().await;
    if cli.json {
        super::print_json(&serde_json::json!({ "sites": reports }));
    } else {
        for r in &reports {
            println!(
                "site {}: {} imported, {} missing (deleted outside wpbackup), {} updated, {} unmanaged",
                r.site,
                r.imported.len(),
                r.missing.len(),
                r.updated.len(),
                r.unmanaged.len()
            );
            let mut t = table(&[
                "change",
                "component",
                "kind",
                "region",
                "name / id",
                "point time",
                "size",
            ]);
            let rows = [
                ("imported", &r.imported),
                ("missing", &r.missing),
                ("updated", &r.updated),
                ("unmanaged", &r.unmanaged),
            ];
            let mut any = false;
            for (what, list) in rows {
                for p in list {
                    any = true;
                    t.add_row(vec![
                        what.to_string(),
                        p.component.clone(),
                        p.kind.to_string(),
                        p.region.clone(),
                        if p.name == p.provider_id {
                            p.name.clone()
                        } else {
                            format!("{} ({})", p.name, p.provider_id)
                        },
                        when(p.point_time),
                        p.size_bytes
                            .map(|b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64))
                            .unwrap_or_default(),
                    ]);
                }
            }
            if any {
                println!("{t}");
            }
            for p in &r.problems {
                eprintln!("warning: {p}");
            }
        }
    }
    Ok(if reports.iter().any(|r| !r.problems.is_empty()) {
        exit::PARTIAL
    } else {
        exit::OK
    })
}
