//! `wpbackup catalog migrate --to postgres://…`: move a SQLite catalog to PostgreSQL.

use super::render::table;
use super::{usage, Cli, CliResult};
use crate::catalog::CatalogLocation;
use crate::exit;
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum CatalogCommand {
    /// Copy the SQLite catalog into an empty PostgreSQL database (every run, point, hold,
    /// plan and audit, with their ids), then compare the row counts of every table.
    /// The SQLite file is left as it was.
    Migrate(MigrateArgs),
}

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// The PostgreSQL catalog, e.g. postgres://wpbackup@db.internal/wpbackup (the password
    /// from PGPASSWORD or a password file, never in the URL).
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// The SQLite catalog to copy (default: `catalog` in the configuration).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
}

pub async fn run(cli: &Cli, command: &CatalogCommand) -> CliResult {
    let CatalogCommand::Migrate(args) = command;
    let to = match CatalogLocation::parse(&args.to, std::path::Path::new(".")) {
        Ok(CatalogLocation::Postgres(url)) => url,
        Ok(CatalogLocation::Sqlite(_) | CatalogLocation::Memory(_)) => {
            return Err(usage(
                "--to takes a postgres:// URL, e.g. postgres://wpbackup@db.internal/wpbackup",
            ))
        }
        Err(e) => return Err(usage(format!("--to: {e}"))),
    };
    let from = match &args.from {
        Some(path) => path.clone(),
        None => {
            let config = super::load_config(&cli.config)?;
            match config.catalog.sqlite_path() {
                Some(path) => path.to_path_buf(),
                None => {
                    return Err(usage(format!(
                        "the configured catalog is already PostgreSQL ({}); give the SQLite file with --from",
                        config.catalog
                    )))
                }
            }
        }
    };
    let counts = crate::catalog::sqlite_to_postgres(&from, &to).await?;
    let shown = CatalogLocation::redact(&to);
    if cli.json {
        super::print_json(&serde_json::json!({
            "from": from.display().to_string(),
            "to": shown,
            "tables": counts,
        }));
        return Ok(exit::OK);
    }
    let mut t = table(&["table", "rows in SQLite", "rows in PostgreSQL"]);
    for c in &counts {
        t.add_row(vec![
            c.table.clone(),
            c.sqlite.to_string(),
            c.postgres.to_string(),
        ]);
    }
    println!("{t}");
    println!(
        "copied {} to {shown}: every table has the same number of rows.\n\
         Next: set catalog = \"{shown}\" in the configuration and restart the daemon; \
         keep {} until the daemon has run on PostgreSQL.",
        from.display(),
        from.display()
    );
    Ok(exit::OK)
}
