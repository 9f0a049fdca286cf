//! Progress of long commands (`run`, `snapshot`, `prune`, `sync`, `simulate`, restores,
//! drills and staging copies): a line per unit of work that updates in place on a
//! terminal (indicatif), one plain line per event on stderr otherwise (logs, pipes, CI),
//! nothing with `--json` — stdout carries the JSON alone and stderr stays quiet.

use super::Cli;
use crate::domain::restore_plan::{Step, StepState};
use crate::domain::time::format_duration;
use crate::engine::restore::RestoreProgress;
use crate::engine::{Progress, Silent};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

/// The display for this invocation.
pub fn display(cli: &Cli) -> Arc<dyn Progress> {
    if cli.json {
        Arc::new(Silent)
    } else if std::io::stderr().is_terminal() {
        Arc::new(Terminal::default())
    } else {
        Arc::new(Lines)
    }
}

/// The display, for a restore plan's steps.
pub fn for_steps(cli: &Cli) -> Arc<dyn RestoreProgress> {
    Arc::new(Steps(display(cli)))
}

/// A spinner per unit of work with its elapsed time and what it waits for; a ✔ or ✘ line
/// when it ends.
#[derive(Default)]
struct Terminal {
    multi: indicatif::MultiProgress,
    bars: Mutex<HashMap<String, indicatif::ProgressBar>>,
}

impl Progress for Terminal {
    fn started(&self, key: &str, what: &str) {
        let bar = self.multi.add(indicatif::ProgressBar::new_spinner());
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {prefix:32} {elapsed:>5} {wide_msg}",
            )
            .expect("template"),
        );
        bar.set_prefix(key.to_string());
        bar.set_message(what.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        self.bars.lock().expect("bars").insert(key.to_string(), bar);
    }

    fn note(&self, key: &str, note: &str) {
        match self.bars.lock().expect("bars").get(key) {
            Some(b) => b.set_message(note.to_string()),
            None => {
                let _ = self.multi.println(format!("{key}: {note}"));
            }
        }
    }

    fn finished(&self, key: &str, ok: bool, seconds: f64, summary: &str) {
        let mark = if ok { "✔" } else { "✘" };
        let msg = format!("{mark} {key:32} {seconds:>6.1}s {summary}");
        match self.bars.lock().expect("bars").remove(key) {
            Some(b) => {
                b.set_style(indicatif::ProgressStyle::with_template("{msg}").expect("template"));
                b.finish_with_message(msg);
            }
            None => {
                let _ = self.multi.println(msg);
            }
        }
    }
}

/// One line per event on stderr, time-stamped.
struct Lines;

fn stamp() -> String {
    chrono::Utc::now().format("%H:%M:%S").to_string()
}

impl Progress for Lines {
    fn started(&self, key: &str, what: &str) {
        eprintln!("{} start  {key}: {what}", stamp());
    }
    fn note(&self, key: &str, note: &str) {
        eprintln!("{} note   {key}: {note}", stamp());
    }
    fn finished(&self, key: &str, ok: bool, seconds: f64, summary: &str) {
        let word = if ok { "done  " } else { "failed" };
        eprintln!("{} {word} {key} after {seconds:.1}s: {summary}", stamp());
    }
}

/// A restore plan's steps on a display: what each step calls and how long it is expected
/// to take when it starts, its state when it ends.
struct Steps(Arc<dyn Progress>);

impl RestoreProgress for Steps {
    fn started(&self, step: &Step, attempt: i64) {
        // Whole: a terminal's line cuts it to its width, a log keeps it.
        let what = format!(
            "{} (expected ~{}){}",
            step.calls.join("; "),
            format_duration(chrono::Duration::seconds(step.expected_seconds as i64)),
            if attempt > 1 {
                format!(", attempt {attempt}")
            } else {
                String::new()
            }
        );
        self.0.started(&step.key, &what);
    }
    fn note(&self, key: &str, note: &str) {
        self.0.note(key, note);
    }
    fn finished(&self, key: &str, state: StepState, seconds: f64, detail: &str) {
        let ok = matches!(state, StepState::Done | StepState::Skipped);
        let summary = match state {
            StepState::Done => detail.to_string(),
            other => format!("{other}: {detail}"),
        };
        self.0.finished(key, ok, seconds, &summary);
    }
}
