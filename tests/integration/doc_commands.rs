//! Every `wpbackup …` command the documentation and the messages name parses: README,
//! `docs/`, `policies/README.md` (inline code and the lines of code blocks), and the
//! commands quoted in the source's messages and audit remediations. A renamed flag or
//! subcommand fails here, naming the file and line that still says the old one.

use clap::error::ErrorKind;
use clap::Parser;
use std::path::{Path, PathBuf};
use wpbackup::cli::Cli;

/// Files below `dir` (recursively) whose name ends with `ext`.
fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.to_string_lossy().ends_with(ext) {
            out.push(path);
        }
    }
}

/// The commands a text names, with their line numbers: inline code spans starting
/// `wpbackup `, and (Markdown) code-block lines starting `wpbackup ` or `$W ` (the README's
/// `W="cargo run -q -- …"`).
fn commands_in(text: &str, markdown: bool) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut pending: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if markdown && line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if markdown && in_block {
            let mut l = line.trim().trim_start_matches("$ ").to_string();
            if let Some((start, so_far)) = pending.take() {
                l = format!("{so_far} {l}");
                if let Some(cont) = l.strip_suffix('\\') {
                    pending = Some((start, cont.to_string()));
                } else {
                    out.push((start, l));
                }
                continue;
            }
            let l = l
                .strip_prefix("$W ")
                .map(|r| format!("wpbackup {r}"))
                .unwrap_or(l);
            if l.starts_with("wpbackup ") {
                // A comment after the command is prose.
                let l = match l.find(" #") {
                    Some(i) => l[..i].trim_end().to_string(),
                    None => l,
                };
                match l.strip_suffix('\\') {
                    Some(cont) => pending = Some((n, cont.to_string())),
                    None => out.push((n, l)),
                }
            }
            continue;
        }
        // Inline code: the spans between backticks.
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 1 && span.starts_with("wpbackup ") {
                out.push((n, span.to_string()));
            }
        }
    }
    out
}

/// A documented command as arguments: placeholders (`<plan id>`, `{id}` in a format
/// string, `…`) made values, optional `[…]` parts dropped, the first of alternatives
/// (`a|b`, `--all \| --policy NAME`) kept.
fn arguments(command: &str) -> Vec<String> {
    let mut s = command.replace("\\|", "|");
    // Balanced [...], <...> and {...}: dropped, a value, a value.
    for (open, close, with) in [('[', ']', ""), ('<', '>', "x"), ('{', '}', "x")] {
        while let Some(start) = s.find(open) {
            let mut depth = 0;
            let mut end = None;
            for (i, c) in s[start..].char_indices() {
                if c == open {
                    depth += 1;
                } else if c == close {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(start + i);
                        break;
                    }
                }
            }
            let Some(end) = end else { break };
            s.replace_range(start..=end, with);
        }
    }
    let words =
        shlex::split(&s).unwrap_or_else(|| s.split_whitespace().map(String::from).collect());
    let mut args: Vec<String> = Vec::new();
    for w in words.into_iter().skip(1) {
        if matches!(w.as_str(), "|" | "||" | "&&" | ";")
            || w.starts_with('>')
            || w.starts_with("2>")
        {
            break; // the first alternative of a whole command line, the shell's next, a redirection
        }
        if w == "…" || w == "..." {
            // A value left out ("--reason …"), else "and so on".
            if args.last().is_some_and(|a| a.starts_with("--")) {
                args.push("x".into());
            }
            continue;
        }
        let w = w.split('|').next().unwrap_or_default().replace('…', "x");
        // A placeholder (N, ID, FILE, T): a value that also reads as a number.
        let placeholder = !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase() || c == '_');
        args.push(if placeholder { "1".into() } else { w });
    }
    args
}

#[test]
fn every_wpbackup_command_in_the_docs_and_messages_parses() {
    let root = super::support::repo_root();
    let mut sources = vec![root.join("README.md"), root.join("policies/README.md")];
    files(&root.join("docs"), ".md", &mut sources);
    let markdown = sources.len();
    files(&root.join("src"), ".rs", &mut sources);
    let mut checked = 0;
    let mut broken = Vec::new();
    for (i, path) in sources.iter().enumerate() {
        let text = std::fs::read_to_string(path).unwrap();
        for (line, command) in commands_in(&text, i < markdown) {
            let args = arguments(&command);
            if args.is_empty() {
                continue;
            }
            checked += 1;
            let parse = |args: &[String]| {
                Cli::try_parse_from(std::iter::once("wpbackup".to_string()).chain(args.to_vec()))
            };
            // A flag named in a sentence ("`wpbackup audit --as-of`") is shown without its
            // value: given one.
            let parsed = parse(&args).or_else(|e| match args.last() {
                Some(last) if last.starts_with("--") => {
                    let mut with_value = args.clone();
                    with_value.push("x".into());
                    parse(&with_value)
                }
                _ => Err(e),
            });
            if let Err(e) = parsed {
                // Naming a command without all its arguments ("`wpbackup hold add`" in a
                // sentence) is fine; an unknown subcommand, flag or value is not.
                let named_only = matches!(
                    e.kind(),
                    ErrorKind::MissingRequiredArgument
                        | ErrorKind::MissingSubcommand
                        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                        | ErrorKind::DisplayHelp
                        | ErrorKind::DisplayVersion
                );
                if !named_only {
                    broken.push(format!(
                        "{}:{line}: `{command}` (as {args:?}): {}",
                        path.strip_prefix(&root).unwrap_or(path).display(),
                        e.render().to_string().lines().next().unwrap_or_default()
                    ));
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} commands found: the scan is broken"
    );
    assert!(
        broken.is_empty(),
        "{} broken:\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn documented_commands_are_read_as_an_operator_would_type_them() {
    assert_eq!(
        arguments("wpbackup restore --at T [--site S] [--only C,…] [--to primary|dr]"),
        ["restore", "--at", "1"]
    );
    assert_eq!(
        arguments("wpbackup run --all \\| --policy NAME [--site S]"),
        ["run", "--all"]
    );
    assert_eq!(
        arguments("wpbackup snapshot --reason \"…\" [--hold 7d]"),
        ["snapshot", "--reason", "x"]
    );
    assert_eq!(
        arguments("wpbackup audit --out /tmp/a.html || alert \"$?\""),
        ["audit", "--out", "/tmp/a.html"]
    );
    assert_eq!(
        arguments("wpbackup staging down {id}"),
        ["staging", "down", "x"]
    );
    assert_eq!(
        arguments("wpbackup snapshot --reason \"before upgrading WooCommerce\" --hold 7d"),
        [
            "snapshot",
            "--reason",
            "before upgrading WooCommerce",
            "--hold",
            "7d"
        ]
    );
    let found = commands_in(
        "Run `wpbackup audit --site shop` now.\n```sh\n$W drill --site shop   # rehearse\nwpbackup restore \\\n  --at now\n```\n",
        true,
    );
    assert_eq!(
        found,
        [
            (1, "wpbackup audit --site shop".to_string()),
            (3, "wpbackup drill --site shop".to_string()),
            (4, "wpbackup restore  --at now".to_string()),
        ]
    );
}
