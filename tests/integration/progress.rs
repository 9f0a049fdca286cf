//! Progress of long commands: one plain line per event on stderr when it is not a
//! terminal, a line per component that updates in place on one (a pseudo-terminal from
//! `script`), and nothing with `--json`.

use crate::support::Sandbox;

/// (exit code, stdout, stderr).
fn run(s: &Sandbox, args: &[&str]) -> (i32, String, String) {
    let out = s.wpb().args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The lines of `text` about `key` with `event` ("start ", "note  ", "done  ", "failed").
fn events<'t>(text: &'t str, event: &str, key: &str) -> Vec<&'t str> {
    let head = format!(" {event} {key}");
    text.lines()
        .filter(|l| l.get(8..).is_some_and(|rest| rest.starts_with(&head)))
        .collect()
}

#[test]
fn run_sync_prune_and_simulate_report_each_event_on_a_line_when_piped() {
    let s = Sandbox::new();
    let (code, out, err) = run(&s, &["run", "--all"]);
    assert_eq!(code, 0, "{out}\n{err}");
    for key in [
        "blog/wordpress",
        "shop/web",
        "shop/db",
        "shop/files",
        "shop/media",
    ] {
        let started = events(&err, "start ", &format!("{key}:"));
        assert_eq!(started.len(), 1, "{key}:\n{err}");
        let done = events(&err, "done  ", &format!("{key} after "));
        assert_eq!(done.len(), 1, "{key}:\n{err}");
        assert!(done[0].contains("s: Completed: "), "{}", done[0]);
    }
    // What a run waits for, and its DR copy.
    let db = events(&err, "note  ", "shop/db:");
    assert!(
        db.iter()
            .any(|l| l.contains("waiting for") && l.contains("to become available")),
        "{err}"
    );
    assert!(
        db.iter().any(|l| l.contains("copying to us-west-2")),
        "{err}"
    );
    assert!(
        out.contains("Completed"),
        "the table stays on stdout: {out}"
    );

    // --json: the JSON on stdout, nothing else anywhere.
    let (code, out, err) = run(&s, &["--json", "run", "--all"]);
    assert_eq!(code, 0);
    assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok());
    assert_eq!(err, "", "nothing extra with --json");

    let (code, _, err) = run(&s, &["sync", "--site", "shop"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(events(&err, "start ", "sync shop:").len(), 1, "{err}");
    assert!(
        events(&err, "note  ", "sync shop:")
            .iter()
            .any(|l| l.ends_with("listing the points tagged for the site in us-west-2")),
        "{err}"
    );
    let done = events(&err, "done  ", "sync shop after ");
    assert!(done.len() == 1 && done[0].contains("imported"), "{err}");

    // 30 days of daily points: retention deletes some of them, one by one.
    let days: Vec<i64> = (1..=30).collect();
    crate::cli::backfill_db_points(&s, &days);
    let (code, _, err) = run(&s, &["prune", "--site", "shop", "--component", "db"]);
    assert_eq!(code, 0, "{err}");
    let started = events(&err, "start ", "prune shop/db:");
    assert!(
        started.len() == 1 && started[0].contains("point(s) past retention to delete"),
        "{err}"
    );
    let deleting = events(&err, "note  ", "prune shop/db: deleting ");
    assert!(!deleting.is_empty(), "{err}");
    let n = deleting.len();
    assert!(deleting[n - 1].ends_with(&format!("({n}/{n})")), "{err}");
    let done = events(&err, "done  ", "prune shop/db after ");
    assert!(
        done.len() == 1 && done[0].ends_with(&format!(": {n} deleted")),
        "{err}"
    );

    let (code, _, err) = run(&s, &["simulate", "--days", "2"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(events(&err, "start ", "simulate:").len(), 1, "{err}");
    assert!(
        events(&err, "note  ", "simulate: day 1/2 (").len() == 1,
        "one line per simulated day: {err}"
    );
    assert_eq!(events(&err, "done  ", "simulate after ").len(), 1, "{err}");
}

/// On a terminal (the pseudo-terminal `script` gives the command): spinners that end as
/// one ✔ line per component with its time and outcome; no plain event lines.
#[test]
fn on_a_terminal_each_component_ends_as_one_line_with_its_outcome() {
    let s = Sandbox::new();
    let bin = assert_cmd::cargo::cargo_bin("wpbackup");
    let command = format!(
        "{} --config {} run --all",
        shlex::try_quote(bin.to_str().unwrap()).unwrap(),
        shlex::try_quote(s.config().to_str().unwrap()).unwrap()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .current_dir(s.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for key in ["blog/wordpress", "shop/db", "shop/media"] {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!("✔ {key}")) && l.contains("Completed: ")),
            "{key}:\n{text}"
        );
    }
    assert!(
        !text.contains(" start  "),
        "no plain lines on a terminal:\n{text}"
    );
}
