//! Pre/post hooks: an operator's command (e.g. WordPress maintenance mode) run with a
//! timeout, its outcome reported, never its environment's secrets.

use crate::domain::policy::Hook;
use std::process::Stdio;
use tokio::process::Command;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOutcome {
    Succeeded,
    Failed(String),
}

/// Context passed to the hook as environment variables.
pub struct HookEnv<'a> {
    pub site: &'a str,
    pub component: &'a str,
    pub phase: &'a str,
    pub point_name: &'a str,
    pub run_id: i64,
}

pub async fn run_hook(hook: &Hook, env: &HookEnv<'_>) -> HookOutcome {
    let Some((program, args)) = hook.command.split_first() else {
        return HookOutcome::Failed("empty command".into());
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("WPBACKUP_SITE", env.site)
        .env("WPBACKUP_COMPONENT", env.component)
        .env("WPBACKUP_HOOK", env.phase)
        .env("WPBACKUP_POINT_NAME", env.point_name)
        .env("WPBACKUP_RUN_ID", env.run_id.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return HookOutcome::Failed(format!("cannot start {program:?}: {e}")),
    };
    match tokio::time::timeout(hook.timeout, child.wait_with_output()).await {
        Err(_) => HookOutcome::Failed(format!(
            "{} hook timed out after {} (killed)",
            env.phase,
            humantime::format_duration(hook.timeout)
        )),
        Ok(Err(e)) => HookOutcome::Failed(format!("{} hook: {e}", env.phase)),
        Ok(Ok(out)) if out.status.success() => HookOutcome::Succeeded,
        Ok(Ok(out)) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            HookOutcome::Failed(format!(
                "{} hook exited with {}{}",
                env.phase,
                out.status,
                if tail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", tail.join(" | "))
                }
            ))
        }
    }
}
