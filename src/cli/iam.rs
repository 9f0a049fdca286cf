//! `wpbackup iam-policy [--site S] [--account ID] [--for backup|restore|audit|all]`: the
//! least-privilege IAM policy (JSON), built from the adapters' operation table.

use super::{Cli, CliResult};
use crate::cloud::aws::iam::policy_document;
use crate::cloud::aws::operations::Purpose;
use crate::exit;

#[derive(clap::Args, Debug)]
pub struct IamArgs {
    /// Only this site (default: every site in the configuration).
    #[arg(long)]
    pub site: Option<String>,
    /// The 12-digit AWS account id to put in ARNs (default: `*`).
    #[arg(long)]
    pub account: Option<String>,
    /// What the credentials are for: `backup` (run, snapshot, daemon, prune), `restore`
    /// (restore, drill, rollback), `audit` (audit, sync, settings), or `all`. Repeatable.
    #[arg(long = "for", value_enum, default_value = "all")]
    pub purposes: Vec<PurposeArg>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurposeArg {
    Backup,
    Restore,
    Audit,
    All,
}

impl PurposeArg {
    fn purposes(self) -> &'static [Purpose] {
        match self {
            PurposeArg::Backup => &[Purpose::Backup],
            PurposeArg::Restore => &[Purpose::Restore],
            PurposeArg::Audit => &[Purpose::Audit],
            PurposeArg::All => &Purpose::ALL,
        }
    }
}

pub fn run(cli: &Cli, args: &IamArgs) -> CliResult {
    let config = super::load_config(&cli.config)?;
    if let Some(a) = &args.account {
        if a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit()) {
            return Err(super::usage(format!(
                "--account {a:?} is not an AWS account id; expected 12 digits"
            )));
        }
    }
    let sites: Vec<_> = match &args.site {
        Some(s) => vec![config.site(s).ok_or_else(|| {
            super::usage(format!(
                "no site named {s:?}; known sites: {}",
                config
                    .sites
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?],
        None => config.sites.iter().collect(),
    };
    // The document is JSON either way; --json is accepted for uniformity.
    let mut purposes: Vec<Purpose> = args
        .purposes
        .iter()
        .flat_map(|p| p.purposes().iter().copied())
        .collect();
    purposes.sort();
    purposes.dedup();
    super::print_json(&policy_document(&sites, args.account.as_deref(), &purposes));
    Ok(exit::OK)
}
