//! `wpbackup completions bash|zsh|fish|elvish|powershell` and `wpbackup man [--out DIR]`: shell completions and man
//! pages generated from the CLI's own definitions, so they never disagree with it.

use super::{Cli, CliResult};
use crate::exit;
use clap::CommandFactory;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write a page per command (wpbackup.1, wpbackup-restore.1, …) into DIR instead of
    /// printing the top-level page.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn completions(args: &CompletionsArgs) -> CliResult {
    let mut cmd = Cli::command();
    // Rendered first: the generator panics on a write error (`| head` closing the pipe).
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "wpbackup", &mut out);
    print(&out)
}

/// Whole to stdout; a reader that stopped early (a closed pipe) is not an error.
fn print(bytes: &[u8]) -> CliResult {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(exit::OK),
    }
}

pub fn man(args: &ManArgs) -> CliResult {
    let cmd = Cli::command();
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                super::usage(format!("--out {}: cannot create it ({e})", dir.display()))
            })?;
            clap_mangen::generate_to(cmd, dir).map_err(|e| {
                super::usage(format!(
                    "--out {}: cannot write the pages ({e})",
                    dir.display()
                ))
            })?;
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            return print(&out);
        }
    }
    Ok(exit::OK)
}
