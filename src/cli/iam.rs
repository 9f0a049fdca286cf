//! `wpbackup iam-policy [--site S] [--account ID]`: the least-privilege IAM policy (JSON).

use super::{Cli, CliResult};
use crate::cloud::aws::iam::policy_document;
use crate::exit;

#[derive(clap::Args, Debug)]
pub struct IamArgs {
    /// Only this site (default: every site in the configuration).
    #[arg(long)]
    pub site: Option<String>,
    /// The 12-digit AWS account id to put in ARNs (default: `*`).
    #[arg(long)]
    pub account: Option<String>,
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
    super::print_json(&policy_document(&sites, args.account.as_deref()));
    Ok(exit::OK)
}
