//! Retention audits: pure controls over what the catalog (and, for live controls, the
//! cloud) says about a site at one instant. Each control yields findings with a status,
//! the evidence it looked at and what to do about it. No I/O: the engine gathers the facts.

use super::model::{ComponentKind, PointState, RecoveryPoint, RunPhase, MISSED_FIRE};
use super::policy::{Policy, Retention};
use super::restore_plan::PlanStatus;
use super::retention::{prune_plan, Action as Keep, Guards};
use super::time::format_duration;
use chrono::{DateTime, Duration, Utc};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Version of the JSON report; bumped only for changes that break readers.
pub const AUDIT_VERSION: u32 = 1;

/// Worst last: `Pass < Warn < Fail`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// Exit code for monitoring: 0 pass, 1 warnings, 2 failures.
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Pass => 0,
            Status::Warn => 1,
            Status::Fail => 2,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pass" => Some(Status::Pass),
            "warn" => Some(Status::Warn),
            "fail" => Some(Status::Fail),
            _ => None,
        }
    }
}

/// The controls' parameters (`[sites.audit]` in wpbackup.toml); the defaults suit a
/// production WordPress site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditParams {
    /// A policy's schedule must fire at least this often.
    pub max_backup_interval: std::time::Duration,
    /// A policy's retention must cover at least this long.
    pub min_retention: std::time::Duration,
    /// The newest DR copy must be at most this old.
    pub max_dr_copy_age: std::time::Duration,
    /// Aurora's continuous-backup window must be at least this many days.
    pub min_pitr_days: u32,
    /// This many failed runs in a row fail the control (fewer warn).
    pub max_consecutive_failures: u32,
    /// The newest successful drill must be at most this old.
    pub max_drill_age: std::time::Duration,
    /// A drill's measured recovery time must be within this (the RTO).
    pub max_recovery_time: std::time::Duration,
    /// A staging copy (`wpbackup staging up`) up for longer than this is flagged: it costs
    /// what a second site costs and its data grows stale.
    pub max_staging_age: std::time::Duration,
    /// A restore plan left planned, executing or failed for longer than this is flagged: it
    /// keeps its points from retention.
    pub max_unfinished_plan_age: std::time::Duration,
    /// Days drawn on the coverage timeline.
    pub timeline_days: u32,
    /// The AWS Backup vaults of EFS policies must be locked (WORM).
    pub require_vault_lock: bool,
    /// Scheduled fires missed within this long before the audit instant are reported.
    pub missed_fires_window: std::time::Duration,
}

impl Default for AuditParams {
    fn default() -> Self {
        let h = |n: u64| std::time::Duration::from_secs(n * 3600);
        Self {
            max_backup_interval: h(24),
            min_retention: h(7 * 24),
            max_dr_copy_age: h(48),
            min_pitr_days: 7,
            max_consecutive_failures: 2,
            max_drill_age: h(30 * 24),
            max_recovery_time: h(4),
            max_staging_age: h(7 * 24),
            max_unfinished_plan_age: h(24),
            timeline_days: 14,
            require_vault_lock: true,
            missed_fires_window: h(7 * 24),
        }
    }
}

/// One live setting that a component's recoverability depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingCheck {
    /// e.g. `s3.versioning`, `aurora.backup_retention_days`.
    pub setting: String,
    pub expected: String,
    pub actual: String,
    pub ok: bool,
}

/// A run as the audit needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFacts {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub phase: RunPhase,
    pub failure_reason: Option<String>,
}

/// A drill as the audit needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillFacts {
    pub plan_id: String,
    pub created_at: DateTime<Utc>,
    /// completed drills end `torn-down`; anything else did not finish.
    pub status: PlanStatus,
    pub recovery_seconds: Option<i64>,
    pub failure: Option<String>,
    /// Why the drill does not count although it ended torn down: it was not isolated from
    /// production (made by an older wpbackup) or its teardown did not verify that
    /// everything it created is gone. `None`: isolated and verified.
    pub not_isolated: Option<String>,
}

/// A staging copy that was up at the audit instant, as the audit needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct StagingFacts {
    pub plan_id: String,
    pub created_at: DateTime<Utc>,
    /// `completed`: up; `failed` or `executing`: partly up.
    pub status: PlanStatus,
    /// What it restored and its teardown has not deleted.
    pub resources: Vec<Resource>,
}

/// A restore plan, drill or staging copy left planned, executing or failed at the audit
/// instant: it keeps the points it needs from retention.
#[derive(Debug, Clone, PartialEq)]
pub struct UnfinishedPlan {
    pub plan_id: String,
    /// restore | drill | staging
    pub purpose: String,
    pub status: PlanStatus,
    pub created_at: DateTime<Utc>,
    /// When it last changed (a step ran, it was stored).
    pub updated_at: DateTime<Utc>,
    /// The points it keeps from retention, described ("db wpb-shop-db-… (rds:…)").
    pub pinned: Vec<String>,
}

/// A resource that costs money and that the audit found (orphans, leftovers, unmanaged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub kind: String,
    pub region: String,
    pub id: String,
    pub component: Option<String>,
    pub size_bytes: Option<u64>,
    pub note: String,
}

/// What the cloud holds beyond what the catalog knows (read live).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// wpbackup-tagged points of the site that the catalog has no record of.
    pub unknown_managed: Vec<Resource>,
    /// Points the catalog records as deleted (expired) that still exist.
    pub expired_still_existing: Vec<Resource>,
    /// wpbackup-tagged EBS snapshots whose AMI was deregistered.
    pub leftover_ebs_snapshots: Vec<Resource>,
    /// Snapshots of the site's resources that wpbackup did not make.
    pub unmanaged: Vec<Resource>,
    /// Live reads that failed (control, why): the audit says so instead of passing.
    pub errors: Vec<(String, String)>,
}

/// One component's facts at the audit instant.
pub struct ComponentFacts<'a> {
    pub policy: &'a Policy,
    /// Its points as they stood at the audit instant, oldest first.
    pub points: &'a [RecoveryPoint],
    /// Its runs started by the audit instant, newest first (a few suffice).
    pub runs: &'a [RunFacts],
    /// Records of its scheduled fires that did not run, from the last
    /// `AuditParams::missed_fires_window` before the audit instant, newest first.
    pub missed: &'a [RunFacts],
    /// Live settings (`None` when not read: a past `--as-of`); `Err` when reading failed.
    pub live: Option<Result<Vec<SettingCheck>, String>>,
}

/// Everything an audit looks at.
pub struct AuditFacts<'a> {
    pub site: &'a str,
    pub primary_region: &'a str,
    pub as_of: DateTime<Utc>,
    pub components: Vec<ComponentFacts<'a>>,
    /// Drills of the site created by the audit instant, newest first.
    pub drills: &'a [DrillFacts],
    /// Resources restored by drills that were never torn down (from the catalog).
    pub drill_leftovers: Vec<Resource>,
    /// Staging copies up at the audit instant, newest first.
    pub stagings: &'a [StagingFacts],
    /// Plans unfinished at the audit instant, newest first.
    pub unfinished_plans: &'a [UnfinishedPlan],
    /// `None` when live controls were not evaluated.
    pub inventory: Option<Inventory>,
    /// Holds and restore plans that keep points beyond the rules, as prune honours them:
    /// a held point is not "past retention".
    pub guards: &'a Guards,
    /// Resources restores adopted in place of the ones the policies name.
    pub served: Vec<Served>,
}

/// A restored resource that serves a component (and is what its backups protect) in
/// place of the one its policy names; the replaced one is kept for rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Served {
    pub component: String,
    pub resource_id: String,
    pub replaced: String,
    pub plan_id: String,
    pub since: DateTime<Utc>,
}

/// How long replaced resources may be kept for rollback before the audit warns that they
/// still cost money.
pub const REPLACED_KEPT_WARN_DAYS: i64 = 7;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub control: String,
    pub component: Option<String>,
    pub status: Status,
    pub summary: String,
    /// The points, runs or settings the control looked at.
    pub evidence: Vec<String>,
    pub remediation: Option<String>,
}

/// Recovery points of one component on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub component: String,
    pub rpo_seconds: i64,
    /// Primary-region points in the window.
    pub points: Vec<DateTime<Utc>>,
    /// DR copies in the window.
    pub dr_points: Vec<DateTime<Utc>>,
    /// Stretches longer than the RPO without a primary point: [start, end].
    pub gaps: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
}

/// What the site pays for that it does not need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waste {
    pub resources: usize,
    pub size_bytes: u64,
}

/// A finding whose status differs from the previous audit's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub control: String,
    pub component: Option<String>,
    /// `None`: the finding is new.
    pub before: Option<Status>,
    /// `None`: the finding is gone.
    pub after: Option<Status>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub audit_version: u32,
    pub site: String,
    pub as_of: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub status: Status,
    pub counts: Counts,
    /// Whether live settings and cloud inventory were read (not for a past `--as-of`).
    pub live: bool,
    pub waste: Waste,
    /// Worst first, then by control and component.
    pub findings: Vec<Finding>,
    /// Start of the coverage timelines (they end at `as_of`).
    pub timeline_from: DateTime<Utc>,
    pub timelines: Vec<Timeline>,
    /// Filled by `--since-last`: what changed since `previous`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Since>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Since {
    pub previous_id: i64,
    pub previous_created_at: DateTime<Utc>,
    pub previous_status: Status,
    pub changes: Vec<Change>,
}

impl Report {
    /// Exit code for monitoring: 0 all pass, 1 warnings, 2 failures.
    pub fn exit_code(&self) -> i32 {
        self.status.exit_code()
    }
}

/// Every site's audit in one report: the fleet's verdict is its worst site's, so one cron
/// line or one monitoring check covers the fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetReport {
    pub audit_version: u32,
    pub as_of: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// The worst status of any site.
    pub status: Status,
    /// Sites by status.
    pub sites_by_status: Counts,
    /// One line per site, worst first, then by name.
    pub summary: Vec<SiteSummary>,
    /// Each site's whole report, in the summary's order.
    pub reports: Vec<Report>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteSummary {
    pub site: String,
    pub status: Status,
    /// Findings by status.
    pub counts: Counts,
    /// The controls that fail, then those that warn (each once).
    pub failing: Vec<String>,
    pub warning: Vec<String>,
}

impl FleetReport {
    pub fn new(mut reports: Vec<Report>, as_of: DateTime<Utc>, created_at: DateTime<Utc>) -> Self {
        reports.sort_by(|a, b| b.status.cmp(&a.status).then_with(|| a.site.cmp(&b.site)));
        let mut sites_by_status = Counts::default();
        let summary = reports
            .iter()
            .map(|r| {
                match r.status {
                    Status::Pass => sites_by_status.pass += 1,
                    Status::Warn => sites_by_status.warn += 1,
                    Status::Fail => sites_by_status.fail += 1,
                }
                let controls = |status: Status| {
                    let mut out: Vec<String> = Vec::new();
                    for f in r.findings.iter().filter(|f| f.status == status) {
                        if !out.contains(&f.control) {
                            out.push(f.control.clone());
                        }
                    }
                    out
                };
                SiteSummary {
                    site: r.site.clone(),
                    status: r.status,
                    counts: r.counts.clone(),
                    failing: controls(Status::Fail),
                    warning: controls(Status::Warn),
                }
            })
            .collect();
        Self {
            audit_version: AUDIT_VERSION,
            as_of,
            created_at,
            status: reports.iter().map(|r| r.status).max().unwrap_or_default(),
            sites_by_status,
            summary,
            reports,
        }
    }

    /// Exit code for monitoring, the worst site's: 0 all pass, 1 warnings, 2 failures.
    pub fn exit_code(&self) -> i32 {
        self.status.exit_code()
    }
}

fn finding(
    control: &str,
    component: Option<&str>,
    status: Status,
    summary: String,
    evidence: Vec<String>,
    remediation: Option<&str>,
) -> Finding {
    Finding {
        control: control.to_string(),
        component: component.map(str::to_string),
        status,
        summary,
        evidence,
        remediation: (status != Status::Pass)
            .then(|| remediation.map(str::to_string))
            .flatten(),
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn describe(p: &RecoveryPoint) -> String {
    format!(
        "point {} {} in {} at {} ({})",
        p.id,
        p.provider_id,
        p.region,
        stamp(p.point_time),
        p.state.as_str()
    )
}

fn std_dur(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

/// How long a retention keeps points, given the schedule's interval (`keep_last` counts runs).
fn retention_span(r: &Retention, interval: Duration) -> Duration {
    let n = |c: Option<u32>| i32::try_from(c.unwrap_or(0)).unwrap_or(i32::MAX);
    [
        r.within.map(std_dur).unwrap_or_else(Duration::zero),
        interval * n(r.keep_last),
        Duration::hours(n(r.hourly).into()),
        Duration::days(n(r.daily).into()),
        Duration::weeks(n(r.weekly).into()),
        Duration::days(30 * i64::from(n(r.monthly))),
        Duration::days(365 * i64::from(n(r.yearly))),
    ]
    .into_iter()
    .max()
    .unwrap_or_else(Duration::zero)
}

/// Bucket rules and their lengths, for "points the rules should have kept".
fn bucket_rules(r: &Retention) -> Vec<(&'static str, u32, Duration)> {
    [
        ("hourly", r.hourly, Duration::hours(1)),
        ("daily", r.daily, Duration::days(1)),
        ("weekly", r.weekly, Duration::weeks(1)),
    ]
    .into_iter()
    .filter_map(|(n, c, d)| c.filter(|c| *c > 0).map(|c| (n, c, d)))
    .collect()
}

/// Run every control over `facts`. Schedule intervals are computed once per expression and
/// zone (many components share a schedule; an interval walks the cron over a week).
pub fn audit(facts: &AuditFacts<'_>, params: &AuditParams, created_at: DateTime<Utc>) -> Report {
    let as_of = facts.as_of;
    // The longest interval of each distinct schedule (sites share a handful).
    let mut intervals: HashMap<(&str, &str), Option<Duration>> = HashMap::new();
    for c in &facts.components {
        let s = &c.policy.schedule;
        intervals
            .entry((s.expression(), s.zone().name()))
            .or_insert_with(|| week_interval(c.policy, as_of));
    }
    // Components are independent: large sites are audited on every core, in order.
    let per_component: Vec<(Vec<Finding>, Timeline)> = facts
        .components
        .par_iter()
        .map(|c| {
            let s = &c.policy.schedule;
            let interval = intervals[&(s.expression(), s.zone().name())];
            component_findings(facts, c, interval, params)
        })
        .collect();
    let mut findings = Vec::new();
    let mut timelines = Vec::new();
    for (f, t) in per_component {
        findings.extend(f);
        timelines.push(t);
    }

    findings.extend(drill_findings(facts, params));
    findings.extend(staging_findings(facts, params));
    findings.extend(unfinished_plan_findings(facts, params));
    findings.extend(waste_findings(facts));
    findings.extend(served_findings(facts));

    findings.sort_by(|a, b| {
        b.status
            .cmp(&a.status)
            .then_with(|| a.control.cmp(&b.control))
            .then_with(|| a.component.cmp(&b.component))
    });
    let mut counts = Counts::default();
    for f in &findings {
        match f.status {
            Status::Pass => counts.pass += 1,
            Status::Warn => counts.warn += 1,
            Status::Fail => counts.fail += 1,
        }
    }
    let waste = {
        let mut w = Waste::default();
        let mut add = |r: &Resource| {
            w.resources += 1;
            w.size_bytes += r.size_bytes.unwrap_or(0);
        };
        facts.drill_leftovers.iter().for_each(&mut add);
        facts
            .stagings
            .iter()
            .filter(|st| stale_staging(facts, params, st))
            .flat_map(|st| &st.resources)
            .for_each(&mut add);
        if let Some(inv) = &facts.inventory {
            inv.unknown_managed
                .iter()
                .chain(&inv.expired_still_existing)
                .chain(&inv.leftover_ebs_snapshots)
                .chain(&inv.unmanaged)
                .for_each(&mut add);
        }
        w
    };
    Report {
        audit_version: AUDIT_VERSION,
        site: facts.site.to_string(),
        as_of,
        created_at,
        status: findings.iter().map(|f| f.status).max().unwrap_or_default(),
        counts,
        live: facts.inventory.is_some(),
        waste,
        findings,
        timeline_from: as_of - Duration::days(params.timeline_days.into()),
        timelines,
        since: None,
    }
}

/// One component's findings and its timeline.
fn component_findings(
    facts: &AuditFacts<'_>,
    c: &ComponentFacts<'_>,
    interval: Option<Duration>,
    params: &AuditParams,
) -> (Vec<Finding>, Timeline) {
    let as_of = facts.as_of;
    let p = c.policy;
    let comp = Some(p.name.as_str());
    let rpo = std_dur(p.rpo);
    let mut findings = Vec::new();

    let available = |x: &&RecoveryPoint| x.state == PointState::Available;
    let primary: Vec<&RecoveryPoint> = c
        .points
        .iter()
        .filter(|x| x.region == facts.primary_region)
        .filter(available)
        .collect();

    // RPO: the newest available point.
    findings.push(match primary.last() {
        Some(newest) => {
            let age = as_of - newest.point_time;
            let status = if age <= rpo { Status::Pass } else { Status::Fail };
            finding(
                "rpo",
                comp,
                status,
                format!(
                    "newest point is {} old (RPO {})",
                    format_duration(age),
                    format_duration(rpo)
                ),
                vec![describe(newest)],
                Some("run `wpbackup run --policy NAME` now, then find why scheduled runs stopped (`wpbackup runs`, the daemon's log)"),
            )
        }
        None => finding(
            "rpo",
            comp,
            Status::Fail,
            "no available point at all".into(),
            vec![format!("{} point(s) in the catalog, none available in {}", c.points.len(), facts.primary_region)],
            Some("run `wpbackup run --policy NAME` and check that it completes"),
        ),
    });

    // Policy: frequency and retention at least the required minimum.
    let mut problems = Vec::new();
    let mut evidence = vec![format!(
        "schedule {:?} ({}), RPO {}",
        p.schedule.expression(),
        p.schedule.zone(),
        format_duration(rpo)
    )];
    match interval {
        Some(i) if i > std_dur(params.max_backup_interval) => problems.push(format!(
            "runs up to {} apart (required: at least every {})",
            format_duration(i),
            format_duration(std_dur(params.max_backup_interval))
        )),
        Some(i) => evidence.push(format!("longest interval {}", format_duration(i))),
        None => problems.push("the schedule never fires".into()),
    }
    let span = retention_span(&p.retention, interval.unwrap_or_else(Duration::zero));
    evidence.push(format!("retention covers {}", format_duration(span)));
    if span < std_dur(params.min_retention) {
        problems.push(format!(
            "retention keeps {} (required: at least {})",
            format_duration(span),
            format_duration(std_dur(params.min_retention))
        ));
    }
    findings.push(finding(
        "policy",
        comp,
        if problems.is_empty() { Status::Pass } else { Status::Fail },
        if problems.is_empty() {
            "schedule and retention meet the minimum".into()
        } else {
            problems.join("; ")
        },
        evidence,
        Some("tighten `schedule` or lengthen `[retention]` in the policy file, then `wpbackup policy check`"),
    ));

    // DR copy (S3 is replicated live instead: see the s3 controls).
    if p.kind != ComponentKind::S3Bucket {
        let dr: Vec<&RecoveryPoint> = c
            .points
            .iter()
            .filter(|x| x.region != facts.primary_region)
            .filter(available)
            .collect();
        findings.push(match (p.dr_copies.is_empty(), dr.last()) {
            (true, _) => finding(
                "dr-copy",
                comp,
                Status::Fail,
                "no DR copy is configured".into(),
                vec![],
                Some("add a [[dr_copies]] table with the DR region to the policy"),
            ),
            (false, None) => finding(
                "dr-copy",
                comp,
                Status::Fail,
                "no DR copy exists".into(),
                vec![format!(
                    "configured for {}",
                    p.dr_copies.iter().map(|d| d.region.as_str()).collect::<Vec<_>>().join(", ")
                )],
                Some("check the copy step of recent runs (`wpbackup runs`) and the DR region's permissions"),
            ),
            (false, Some(newest)) => {
                let age = as_of - newest.point_time;
                let ok = age <= std_dur(params.max_dr_copy_age);
                finding(
                    "dr-copy",
                    comp,
                    if ok { Status::Pass } else { Status::Fail },
                    format!(
                        "newest DR copy is {} old (required: at most {})",
                        format_duration(age),
                        format_duration(std_dur(params.max_dr_copy_age))
                    ),
                    vec![describe(newest)],
                    Some("check the copy step of recent runs (`wpbackup runs`) and the DR region's permissions"),
                )
            }
        });
    }

    // Retention compliance: what the rules would remove, and what they should have kept.
    if p.kind != ComponentKind::S3Bucket {
        findings.push(retention_finding(
            c,
            facts.primary_region,
            interval,
            facts.guards,
            as_of,
        ));
    }

    // Encryption of points.
    if p.kind != ComponentKind::S3Bucket {
        let unencrypted: Vec<&RecoveryPoint> = c
            .points
            .iter()
            .filter(|x| x.metadata.encrypted == Some(false))
            .collect();
        let unknown = c
            .points
            .iter()
            .filter(|x| x.metadata.encrypted.is_none())
            .count();
        let (status, summary) = if !unencrypted.is_empty() {
            (
                Status::Fail,
                format!("{} point(s) are not encrypted", unencrypted.len()),
            )
        } else if unknown > 0 {
            (
                Status::Warn,
                format!("encryption of {unknown} point(s) is not recorded"),
            )
        } else {
            (
                Status::Pass,
                format!("all {} point(s) encrypted", c.points.len()),
            )
        };
        findings.push(finding(
            "encryption",
            comp,
            status,
            summary,
            unencrypted.iter().take(10).map(|x| describe(x)).collect(),
            Some("encrypt the source volume/cluster/file system (new points inherit it); copy unencrypted points with a KMS key"),
        ));
    }

    // Consecutive failed runs (newest first).
    let failed = c
        .runs
        .iter()
        .filter(|r| r.phase != RunPhase::Skipped && r.phase != RunPhase::InProgress)
        .take_while(|r| r.phase == RunPhase::Failed)
        .collect::<Vec<_>>();
    let n = failed.len() as u32;
    findings.push(finding(
        "failed-runs",
        comp,
        if n == 0 {
            Status::Pass
        } else if n >= params.max_consecutive_failures {
            Status::Fail
        } else {
            Status::Warn
        },
        if n == 0 {
            "the latest run did not fail".into()
        } else {
            format!("the last {n} run(s) failed")
        },
        failed
            .iter()
            .map(|r| {
                format!(
                    "run {} at {}: {}",
                    r.id,
                    stamp(r.started_at),
                    r.failure_reason.as_deref().unwrap_or("failed")
                )
            })
            .collect(),
        Some("read the failure reason (`wpbackup runs --component NAME`), fix it, then `wpbackup run --policy NAME`"),
    ));

    // Scheduled fires that never ran: a missing day with no point must not go unnoticed,
    // even after later runs succeeded (the RPO control only sees the newest point).
    let window = humantime::format_duration(params.missed_fires_window);
    findings.push(finding(
        "missed-fires",
        comp,
        if c.missed.is_empty() {
            Status::Pass
        } else {
            Status::Warn
        },
        if c.missed.is_empty() {
            format!("no scheduled fire missed in the last {window}")
        } else {
            format!(
                "{} record(s) of scheduled fires that did not run in the last {window}",
                c.missed.len()
            )
        },
        c.missed
            .iter()
            .map(|r| {
                format!(
                    "run {} recorded {}: {}",
                    r.id,
                    stamp(r.started_at),
                    r.failure_reason.as_deref().unwrap_or(MISSED_FIRE)
                )
            })
            .collect(),
        Some("keep the daemon running (docs/daemon.md: the systemd unit restarts it); a fire missed while it was down is caught up once within the start window; take a point now with `wpbackup run --policy NAME`"),
    ));

    // Live settings.
    match &c.live {
        None => {}
        Some(Err(e)) => findings.push(finding(
            "live-settings",
            comp,
            Status::Warn,
            format!("could not read the live settings: {e}"),
            vec![],
            Some("grant the read actions printed by `wpbackup iam-policy`"),
        )),
        Some(Ok(checks)) => findings.extend(live_findings(p, checks, params)),
    }

    let timeline = timeline(c, facts.primary_region, as_of, params.timeline_days);
    (findings, timeline)
}

/// Longest gap between fires over the week after `as_of` (the interval the RPO must cover).
fn week_interval(p: &Policy, as_of: DateTime<Utc>) -> Option<Duration> {
    let horizon = as_of + Duration::days(8);
    let mut prev = p.schedule.next_after(as_of)?;
    let mut longest = Duration::zero();
    while let Some(next) = p.schedule.next_after(prev) {
        longest = longest.max(next - prev);
        prev = next;
        if next > horizon {
            break;
        }
    }
    Some(if longest.is_zero() {
        Duration::days(366)
    } else {
        longest
    })
}

fn retention_finding(
    c: &ComponentFacts<'_>,
    primary_region: &str,
    interval: Option<Duration>,
    guards: &Guards,
    as_of: DateTime<Utc>,
) -> Finding {
    let p = c.policy;
    let comp = Some(p.name.as_str());
    // Past retention: what prune would remove now (with the same guards as prune: the
    // newest point per region is always kept).
    let decisions = prune_plan(p, primary_region, c.points, guards, as_of);
    let overdue: Vec<_> = decisions
        .iter()
        .filter(|d| d.action == Keep::Remove && d.state == PointState::Available)
        .collect();
    // Missing: bucket rules whose recent buckets hold no point though the schedule fires
    // at least once per bucket (only since the first point, and not the current bucket).
    let mut missing = Vec::new();
    let primary: Vec<&RecoveryPoint> = c
        .points
        .iter()
        .filter(|x| x.region == primary_region && x.state == PointState::Available)
        .collect();
    if let (Some(first), Some(interval)) = (primary.first(), interval) {
        for (rule, count, len) in bucket_rules(&p.retention) {
            if interval > len {
                continue;
            }
            let start_of = |t: DateTime<Utc>| {
                let secs = len.num_seconds();
                DateTime::<Utc>::from_timestamp(t.timestamp().div_euclid(secs) * secs, 0)
                    .unwrap_or(t)
            };
            let current = start_of(as_of);
            for k in 1..=i64::from(count) {
                let b = current - len * k as i32;
                if b + len <= first.point_time {
                    break;
                }
                let end = b + len;
                let i = primary.partition_point(|x| x.point_time < b);
                if primary.get(i).is_none_or(|x| x.point_time >= end) {
                    missing.push(format!(
                        "{rule}: no point between {} and {}",
                        stamp(b),
                        stamp(end)
                    ));
                }
            }
        }
    }
    let status = if !missing.is_empty() {
        Status::Fail
    } else if !overdue.is_empty() {
        Status::Warn
    } else {
        Status::Pass
    };
    let mut summary = Vec::new();
    if !missing.is_empty() {
        summary.push(format!(
            "{} period(s) have no point the rules should have kept",
            missing.len()
        ));
    }
    if !overdue.is_empty() {
        summary.push(format!(
            "{} point(s) past retention not yet deleted",
            overdue.len()
        ));
    }
    let mut evidence = missing;
    evidence.extend(overdue.iter().take(20).map(|d| {
        format!(
            "point {} {} in {} at {}: past retention",
            d.point_id,
            d.name,
            d.region,
            stamp(d.point_time)
        )
    }));
    finding(
        "retention",
        comp,
        status,
        if summary.is_empty() {
            format!("{} point(s) as the rules require", decisions.len())
        } else {
            summary.join("; ")
        },
        evidence,
        Some(if status == Status::Fail {
            "points the rules should keep are missing: check failed or skipped runs for those periods (`wpbackup runs`) and whether points were deleted outside wpbackup"
        } else {
            "run `wpbackup prune --dry-run`, then `wpbackup prune` (or let the daemon do it)"
        }),
    )
}

/// Live settings → findings, one control per concern.
fn live_findings(p: &Policy, checks: &[SettingCheck], params: &AuditParams) -> Vec<Finding> {
    let comp = Some(p.name.as_str());
    let control_of = |setting: &str| -> (&'static str, &'static str) {
        match setting {
            s if s.starts_with("aurora.") => ("aurora-pitr-window", "raise BackupRetentionPeriod (`aws rds modify-db-cluster --backup-retention-period N`) or lower the policy's pitr_days to what the cluster keeps (`wpbackup policy check` validates it)"),
            "s3.versioning" | "s3.dr_bucket.versioning" => ("s3-versioning", "enable versioning on both buckets (`aws s3api put-bucket-versioning … Status=Enabled`)"),
            s if s.starts_with("s3.replication") => ("s3-replication", "enable the replication rule to the DR bucket, with delete-marker replication"),
            "s3.noncurrent_version_days" => ("s3-noncurrent-retention", "add a lifecycle rule expiring noncurrent versions after the policy's noncurrent_version_days"),
            s if s.starts_with("lightsail.") => ("lightsail-auto-snapshot", "enable the automatic-snapshot add-on (`aws lightsail enable-add-on --resource-name INSTANCE --add-on-request addOnType=AutoSnapshot`)"),
            s if s.starts_with("backup.vault_lock") => ("vault-lock", "put a vault lock on the EFS backup vault (`aws backup put-backup-vault-lock-configuration`)"),
            s if s.starts_with("backup.vault") => ("vault-lock", "create the AWS Backup vault named in the policy"),
            s if s.ends_with("encrypted") => ("encryption", "encrypt the resource (new recovery points inherit it)"),
            _ => ("live-settings", "see the setting's expected value"),
        }
    };
    let mut by_control: BTreeMap<&str, (Vec<&SettingCheck>, &str)> = BTreeMap::new();
    for c in checks {
        let (control, hint) = control_of(&c.setting);
        by_control
            .entry(control)
            .or_insert_with(|| (Vec::new(), hint))
            .0
            .push(c);
    }
    by_control
        .into_iter()
        .map(|(control, (list, hint))| {
            let mut bad: Vec<String> = Vec::new();
            for c in &list {
                // The audit's minimum applies on top of the policy's own expectation.
                let below_min = control == "aurora-pitr-window"
                    && c.actual
                        .parse::<u32>()
                        .is_ok_and(|d| d < params.min_pitr_days);
                // Adapters report a missing lock without calling it wrong; the audit decides.
                let unlocked = params.require_vault_lock
                    && c.setting.starts_with("backup.vault_lock")
                    && c.actual != "locked";
                if !c.ok || below_min || unlocked {
                    let expected = if below_min {
                        format!("{} (audit minimum {})", c.expected, params.min_pitr_days)
                    } else {
                        c.expected.clone()
                    };
                    bad.push(format!(
                        "{} is {} (expected {expected})",
                        c.setting, c.actual
                    ));
                }
            }
            let evidence = list
                .iter()
                .map(|c| {
                    format!(
                        "{} = {} (expected {}), read live",
                        c.setting, c.actual, c.expected
                    )
                })
                .collect();
            finding(
                control,
                comp,
                if bad.is_empty() {
                    Status::Pass
                } else {
                    Status::Fail
                },
                if bad.is_empty() {
                    format!("{} setting(s) as required", list.len())
                } else {
                    bad.join("; ")
                },
                evidence,
                Some(hint),
            )
        })
        .collect()
}

fn drill_findings(facts: &AuditFacts<'_>, params: &AuditParams) -> Vec<Finding> {
    let as_of = facts.as_of;
    // Only a drill that touched nothing of production and left nothing behind counts.
    let good = facts.drills.iter().find(|d| {
        d.status == PlanStatus::TornDown && d.recovery_seconds.is_some() && d.not_isolated.is_none()
    });
    let mut evidence: Vec<String> = facts
        .drills
        .iter()
        .take(5)
        .map(|d| {
            format!(
                "drill {} at {}: {}{}{}",
                d.plan_id,
                stamp(d.created_at),
                d.status,
                d.recovery_seconds
                    .map(|s| format!(", recovered in {}", format_duration(Duration::seconds(s))))
                    .unwrap_or_default(),
                d.failure
                    .as_deref()
                    .or(d.not_isolated.as_deref())
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let latest_failed = facts.drills.first().filter(|d| {
        !matches!(
            d.status,
            PlanStatus::TornDown | PlanStatus::Executing | PlanStatus::Planned
        )
    });
    let (status, summary) = match good {
        None => (
            Status::Fail,
            match facts
                .drills
                .iter()
                .find(|d| d.status == PlanStatus::TornDown && d.not_isolated.is_some())
            {
                Some(d) => format!(
                    "no isolated, verified restore drill on record (drill {} does not count: {})",
                    d.plan_id,
                    d.not_isolated.as_deref().unwrap_or_default()
                ),
                None => "no successful restore drill on record".to_string(),
            },
        ),
        Some(d) => {
            let age = as_of - d.created_at;
            let rto = std_dur(params.max_recovery_time);
            let took = Duration::seconds(d.recovery_seconds.unwrap_or(0));
            let mut problems = Vec::new();
            if age > std_dur(params.max_drill_age) {
                problems.push(format!(
                    "the newest successful drill is {} old (required: at most {})",
                    format_duration(age),
                    format_duration(std_dur(params.max_drill_age))
                ));
            }
            if took > rto {
                problems.push(format!(
                    "its recovery took {} (target {})",
                    format_duration(took),
                    format_duration(rto)
                ));
            }
            if let Some(f) = latest_failed {
                problems.push(format!("the latest drill {} ended {}", f.plan_id, f.status));
            }
            if problems.is_empty() {
                (
                    Status::Pass,
                    format!(
                        "drill {} {} ago recovered in {}",
                        d.plan_id,
                        format_duration(age),
                        format_duration(took)
                    ),
                )
            } else {
                (Status::Fail, problems.join("; "))
            }
        }
    };
    if facts.drills.is_empty() {
        evidence.push("no drill in the catalog".into());
    }
    vec![finding(
        "drill",
        None,
        status,
        summary,
        evidence,
        Some("run `wpbackup drill` (monthly, e.g. from cron) and fix what it reports"),
    )]
}

/// Up for longer than `max_staging_age` at the audit instant.
fn stale_staging(facts: &AuditFacts<'_>, params: &AuditParams, st: &StagingFacts) -> bool {
    facts.as_of - st.created_at > std_dur(params.max_staging_age)
}

/// Control `staging`: staging copies left up for longer than `max_staging_age` (their
/// resources counted as waste); the ones younger are listed and pass.
fn staging_findings(facts: &AuditFacts<'_>, params: &AuditParams) -> Vec<Finding> {
    let max = std_dur(params.max_staging_age);
    let stale: Vec<&StagingFacts> = facts
        .stagings
        .iter()
        .filter(|st| stale_staging(facts, params, st))
        .collect();
    let evidence: Vec<String> = facts
        .stagings
        .iter()
        .map(|st| {
            let resources: Vec<String> = st
                .resources
                .iter()
                .map(|r| format!("{} {}", r.kind, r.id))
                .collect();
            format!(
                "staging copy {} up since {} ({} old, {}): {}",
                st.plan_id,
                stamp(st.created_at),
                format_duration(facts.as_of - st.created_at),
                st.status,
                if resources.is_empty() {
                    "no resource left".to_string()
                } else {
                    resources.join(", ")
                }
            )
        })
        .collect();
    let (status, summary) = match stale.as_slice() {
        [] if facts.stagings.is_empty() => (Status::Pass, "no staging copy up".to_string()),
        [] => (
            Status::Pass,
            format!(
                "{} staging cop{} up, none older than {}",
                facts.stagings.len(),
                if facts.stagings.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                format_duration(max)
            ),
        ),
        stale => (
            Status::Warn,
            format!(
                "{} staging cop{} up for longer than {} (oldest: {}, {} old)",
                stale.len(),
                if stale.len() == 1 { "y" } else { "ies" },
                format_duration(max),
                stale[stale.len() - 1].plan_id,
                format_duration(facts.as_of - stale[stale.len() - 1].created_at)
            ),
        ),
    };
    let remediation = match stale.last() {
        Some(st) => format!(
            "once the test on it is done, `wpbackup staging down {}` tears it down (`wpbackup staging list` shows them all)",
            st.plan_id
        ),
        None => "tear staging copies down when their test is done: `wpbackup staging down ID`"
            .to_string(),
    };
    vec![finding(
        "staging",
        None,
        status,
        summary,
        evidence,
        Some(&remediation),
    )]
}

/// Control `unfinished-plans`: restore plans (and drills, staging copies) left planned,
/// executing or failed — how long, and which points they keep from retention; warns past
/// `max_unfinished_plan_age` without a change.
fn unfinished_plan_findings(facts: &AuditFacts<'_>, params: &AuditParams) -> Vec<Finding> {
    let max = std_dur(params.max_unfinished_plan_age);
    let idle = |p: &UnfinishedPlan| facts.as_of - p.updated_at;
    let stale: Vec<&UnfinishedPlan> = facts
        .unfinished_plans
        .iter()
        .filter(|p| idle(p) > max)
        .collect();
    let evidence: Vec<String> = facts
        .unfinished_plans
        .iter()
        .map(|p| {
            format!(
                "{} plan {} {} since {} (created {}, unchanged for {}); keeps {}",
                p.purpose,
                p.plan_id,
                p.status,
                stamp(p.updated_at),
                stamp(p.created_at),
                format_duration(idle(p)),
                if p.pinned.is_empty() {
                    "no point".to_string()
                } else {
                    format!("{} point(s): {}", p.pinned.len(), p.pinned.join(", "))
                }
            )
        })
        .collect();
    let pinned: usize = stale.iter().map(|p| p.pinned.len()).sum();
    let (status, summary) = match stale.last() {
        None if facts.unfinished_plans.is_empty() => {
            (Status::Pass, "no unfinished restore plan".to_string())
        }
        None => (
            Status::Pass,
            format!(
                "{} unfinished plan(s), none unchanged for longer than {}",
                facts.unfinished_plans.len(),
                format_duration(max)
            ),
        ),
        Some(oldest) => (
            Status::Warn,
            format!(
                "{} plan(s) unfinished and unchanged for longer than {} (oldest: {} {}, {}), keeping {pinned} point(s) from retention",
                stale.len(),
                format_duration(max),
                oldest.plan_id,
                oldest.status,
                format_duration(idle(oldest))
            ),
        ),
    };
    let remediation = match stale.last() {
        Some(p) => format!(
            "finish it: `wpbackup restore show {id}` says where it stopped, `wpbackup restore resume {id}` runs the rest{}",
            if p.purpose == "staging" {
                format!(" (or `wpbackup staging down {}` tears the copy down)", p.plan_id)
            } else {
                String::new()
            },
            id = p.plan_id
        ),
        None => "finish or resume restore plans soon: an unfinished plan keeps its points from retention (`wpbackup restore list` marks them)".to_string(),
    };
    vec![finding(
        "unfinished-plans",
        None,
        status,
        summary,
        evidence,
        Some(&remediation),
    )]
}

/// Control `restored-resources`: what a restore adopted, so an operator reading the audit
/// knows which resource each component's backups protect; warns when the replaced ones
/// have been kept (and billed) for long after the restore.
fn served_findings(facts: &AuditFacts<'_>) -> Vec<Finding> {
    facts
        .served
        .iter()
        .filter(|a| a.since <= facts.as_of)
        .map(|a| {
            let kept = facts.as_of - a.since;
            let status = if kept > Duration::days(REPLACED_KEPT_WARN_DAYS) {
                Status::Warn
            } else {
                Status::Pass
            };
            let remediation = format!(
                "once the restored site is confirmed, `wpbackup restore finalize {}` retires {} (wpbackup-tagged resources only)",
                a.plan_id, a.replaced
            );
            finding(
                "restored-resources",
                Some(&a.component),
                status,
                format!(
                    "backups protect {} (restored by {}); the replaced {} is kept for rollback{}",
                    a.resource_id,
                    a.plan_id,
                    a.replaced,
                    if status == Status::Warn {
                        format!(" since {}", format_duration(kept))
                    } else {
                        String::new()
                    }
                ),
                vec![format!(
                    "{} serves {} since {} in place of {}",
                    a.resource_id,
                    a.component,
                    stamp(a.since),
                    a.replaced
                )],
                Some(&remediation),
            )
        })
        .collect()
}

fn waste_findings(facts: &AuditFacts<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |control: &str, list: &[Resource], what: &str, hint: &str, status: Status| {
        let bytes: u64 = list.iter().filter_map(|r| r.size_bytes).sum();
        out.push(finding(
            control,
            None,
            if list.is_empty() {
                Status::Pass
            } else {
                status
            },
            if list.is_empty() {
                format!("no {what}")
            } else {
                format!("{} {what} ({})", list.len(), human_bytes(bytes))
            },
            list.iter()
                .take(50)
                .map(|r| {
                    format!(
                        "{} {} in {}{}{}: {}",
                        r.kind,
                        r.id,
                        r.region,
                        r.component
                            .as_deref()
                            .map(|c| format!(" ({c})"))
                            .unwrap_or_default(),
                        r.size_bytes
                            .map(|b| format!(", {}", human_bytes(b)))
                            .unwrap_or_default(),
                        r.note
                    )
                })
                .collect(),
            Some(hint),
        ));
    };
    add(
        "drill-leftovers",
        &facts.drill_leftovers,
        "drill resources left running",
        "delete them (they carry the wpbackup:restore-plan tag of the drill), or resume the drill so it tears down: `wpbackup restore resume ID`",
        Status::Warn,
    );
    let Some(inv) = &facts.inventory else {
        return out;
    };
    add(
        "orphaned-points",
        &inv.unknown_managed,
        "wpbackup-tagged points unknown to the catalog",
        "`wpbackup sync` records them (then retention applies); or delete them if they belong to no site",
        Status::Warn,
    );
    add(
        "expired-points",
        &inv.expired_still_existing,
        "expired points still existing",
        "their deletion failed: `wpbackup prune` retries it; check delete permissions",
        Status::Warn,
    );
    add(
        "orphaned-ebs-snapshots",
        &inv.leftover_ebs_snapshots,
        "EBS snapshots left by deregistered AMIs",
        "delete them: `aws ec2 delete-snapshot --snapshot-id ID` (their AMI no longer exists)",
        Status::Fail,
    );
    add(
        "unmanaged-snapshots",
        &inv.unmanaged,
        "snapshots of the site's resources not made by wpbackup",
        "delete the ones nobody needs, or tag them so their owner is known",
        Status::Warn,
    );
    for (control, why) in &inv.errors {
        out.push(finding(
            control,
            None,
            Status::Warn,
            format!("could not be evaluated: {why}"),
            vec![],
            Some("grant the read actions printed by `wpbackup iam-policy`"),
        ));
    }
    out
}

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn timeline(
    c: &ComponentFacts<'_>,
    primary_region: &str,
    as_of: DateTime<Utc>,
    days: u32,
) -> Timeline {
    let from = as_of - Duration::days(days.into());
    let rpo = std_dur(c.policy.rpo);
    let start = c.points.partition_point(|x| x.point_time < from);
    let window = &c.points[start..];
    let ok = |x: &&RecoveryPoint| x.state == PointState::Available && x.point_time <= as_of;
    let points: Vec<DateTime<Utc>> = window
        .iter()
        .filter(|x| x.region == primary_region)
        .filter(ok)
        .map(|x| x.point_time)
        .collect();
    let dr_points = window
        .iter()
        .filter(|x| x.region != primary_region)
        .filter(ok)
        .map(|x| x.point_time)
        .collect();
    // Gaps: between consecutive points (and from the last one to now) longer than the RPO.
    // Before the first point in the window, the newest earlier point counts.
    let before = c.points[..start]
        .iter()
        .rev()
        .find(|x| x.region == primary_region && x.state == PointState::Available)
        .map(|x| x.point_time);
    let mut gaps = Vec::new();
    let mut prev = before
        .map(|b| b.max(from))
        .or(points.first().copied())
        .unwrap_or(from);
    if before.is_none() && points.is_empty() {
        gaps.push((from, as_of));
    }
    for t in points.iter().copied().chain(std::iter::once(as_of)) {
        if t - prev > rpo {
            gaps.push((prev, t));
        }
        prev = prev.max(t);
    }
    Timeline {
        component: c.policy.name.clone(),
        rpo_seconds: rpo.num_seconds(),
        points,
        dr_points,
        gaps,
    }
}

/// What changed between two audits' findings (by control and component).
pub fn changes(previous: &[Finding], current: &[Finding]) -> Vec<Change> {
    let key = |f: &Finding| (f.control.clone(), f.component.clone());
    let before: BTreeMap<_, Status> = previous.iter().map(|f| (key(f), f.status)).collect();
    let after: BTreeMap<_, Status> = current.iter().map(|f| (key(f), f.status)).collect();
    let mut out: Vec<Change> = Vec::new();
    for (k, a) in &after {
        let b = before.get(k).copied();
        if b != Some(*a) {
            out.push(Change {
                control: k.0.clone(),
                component: k.1.clone(),
                before: b,
                after: Some(*a),
            });
        }
    }
    for (k, b) in &before {
        if !after.contains_key(k) {
            out.push(Change {
                control: k.0.clone(),
                component: k.1.clone(),
                before: Some(*b),
                after: None,
            });
        }
    }
    out.sort_by(|a, b| {
        b.after
            .cmp(&a.after)
            .then_with(|| a.control.cmp(&b.control))
            .then_with(|| a.component.cmp(&b.component))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::PointKind;
    use crate::domain::policy::{DrCopy, Target};
    use crate::domain::testkit::{point, policy};
    use chrono::TimeZone;
    use PointState::Available;

    fn t(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
    }

    fn web() -> Policy {
        let mut p = policy(
            "web",
            ComponentKind::Ec2Instance,
            Target::Ec2Instance {
                instance_id: "i-1".into(),
                no_reboot: true,
                launch: Default::default(),
            },
            6,
        );
        // Every point of the last 8 days, then one a day for a week.
        p.retention = Retention {
            within: Some(std::time::Duration::from_secs(8 * 86400)),
            daily: Some(7),
            ..Default::default()
        };
        p.dr_copies = vec![DrCopy {
            region: "us-west-2".into(),
            retention: p.retention.clone(),
            vault: None,
        }];
        p
    }

    /// Points every 6 hours from day `from` 00:00 to `to` (inclusive), primary and DR.
    fn every_6h(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<RecoveryPoint> {
        let mut out = Vec::new();
        let mut at = from;
        let mut id = 1;
        while at <= to {
            let mut p = point(id, "web", PointKind::Ec2Ami, "us-east-1", at, Available);
            p.metadata.encrypted = Some(true);
            let mut dr = point(id + 1, "web", PointKind::Ec2Ami, "us-west-2", at, Available);
            dr.metadata.encrypted = Some(true);
            out.extend([p, dr]);
            id += 2;
            at += Duration::hours(6);
        }
        out.sort_by_key(|p| (p.point_time, p.id));
        out
    }

    fn run(
        policy: &Policy,
        points: &[RecoveryPoint],
        runs: &[RunFacts],
        drills: &[DrillFacts],
        live: Option<Result<Vec<SettingCheck>, String>>,
        as_of: DateTime<Utc>,
    ) -> Report {
        run_guarded(
            policy,
            points,
            runs,
            drills,
            live,
            &Guards::default(),
            as_of,
        )
    }

    fn run_guarded(
        policy: &Policy,
        points: &[RecoveryPoint],
        runs: &[RunFacts],
        drills: &[DrillFacts],
        live: Option<Result<Vec<SettingCheck>, String>>,
        guards: &Guards,
        as_of: DateTime<Utc>,
    ) -> Report {
        // As the catalog gives them: the missed-fire records among the runs.
        let missed: Vec<RunFacts> = runs
            .iter()
            .filter(|r| {
                r.phase == RunPhase::Skipped
                    && r.failure_reason
                        .as_deref()
                        .is_some_and(|m| m.starts_with(MISSED_FIRE))
            })
            .cloned()
            .collect();
        let facts = AuditFacts {
            site: "shop",
            primary_region: "us-east-1",
            as_of,
            components: vec![ComponentFacts {
                policy,
                points,
                runs,
                missed: &missed,
                live,
            }],
            drills,
            drill_leftovers: vec![],
            stagings: &[],
            unfinished_plans: &[],
            inventory: None,
            guards,
            served: vec![],
        };
        audit(&facts, &AuditParams::default(), as_of)
    }

    #[test]
    fn a_staging_copy_up_longer_than_the_limit_warns_and_counts_as_waste() {
        let as_of = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let guards = Guards::default();
        let copy = |id: &str, days: i64| StagingFacts {
            plan_id: id.into(),
            created_at: as_of - Duration::days(days),
            status: PlanStatus::Completed,
            resources: vec![Resource {
                kind: "instance".into(),
                region: "us-east-1".into(),
                id: format!("i-{id}"),
                component: Some("web".into()),
                size_bytes: Some(1000),
                note: "staging".into(),
            }],
        };
        let report = |stagings: &[StagingFacts]| {
            let facts = AuditFacts {
                site: "shop",
                primary_region: "us-east-1",
                as_of,
                components: vec![],
                drills: &[],
                drill_leftovers: vec![],
                stagings,
                unfinished_plans: &[],
                inventory: None,
                guards: &guards,
                served: vec![],
            };
            audit(&facts, &AuditParams::default(), as_of)
        };
        let control = |r: &Report| {
            r.findings
                .iter()
                .find(|f| f.control == "staging")
                .cloned()
                .expect("the staging control is always there")
        };
        let none = report(&[]);
        assert_eq!(control(&none).status, Status::Pass);
        assert_eq!(control(&none).summary, "no staging copy up");
        let fresh = report(&[copy("stg-new", 2)]);
        assert_eq!(
            control(&fresh).status,
            Status::Pass,
            "{:?}",
            control(&fresh)
        );
        assert_eq!(fresh.waste.resources, 0);
        assert!(control(&fresh).evidence[0].contains("i-stg-new"));
        // Default limit 7 days: 8 days old warns, names it, counts its resources.
        let old = report(&[copy("stg-new", 2), copy("stg-old", 8)]);
        let f = control(&old);
        assert_eq!(f.status, Status::Warn);
        assert!(
            f.summary.contains("1 staging copy up for longer than 7d"),
            "{}",
            f.summary
        );
        assert!(f.summary.contains("stg-old"), "{}", f.summary);
        assert!(f
            .remediation
            .as_deref()
            .unwrap()
            .contains("wpbackup staging down stg-old"));
        assert_eq!(f.evidence.len(), 2);
        assert_eq!((old.waste.resources, old.waste.size_bytes), (1, 1000));
    }

    #[test]
    fn restored_resources_are_named_and_warned_about_when_kept_long() {
        let as_of = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let guards = Guards::default();
        let served = |days: i64| Served {
            component: "files".into(),
            resource_id: "fs-restored".into(),
            replaced: "fs-original".into(),
            plan_id: "rp-shop-1".into(),
            since: as_of - Duration::days(days),
        };
        let facts = |s: Served| AuditFacts {
            site: "shop",
            primary_region: "us-east-1",
            as_of,
            components: vec![],
            drills: &[],
            drill_leftovers: vec![],
            stagings: &[],
            unfinished_plans: &[],
            inventory: None,
            guards: &guards,
            served: vec![s],
        };
        let fresh = served_findings(&facts(served(1)));
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].status, Status::Pass);
        assert!(fresh[0]
            .summary
            .contains("backups protect fs-restored (restored by rp-shop-1)"));
        let old = served_findings(&facts(served(REPLACED_KEPT_WARN_DAYS + 1)));
        assert_eq!(old[0].status, Status::Warn);
        assert!(old[0]
            .remediation
            .as_deref()
            .unwrap()
            .contains("wpbackup restore finalize rp-shop-1"));
        // A past audit before the restore does not know of it.
        assert!(served_findings(&facts(served(-1))).is_empty());
    }

    fn status_of(r: &Report, control: &str) -> Status {
        r.findings
            .iter()
            .find(|f| f.control == control)
            .unwrap_or_else(|| panic!("no {control}: {:#?}", r.findings))
            .status
    }

    fn good_drill(at: DateTime<Utc>, seconds: i64) -> DrillFacts {
        DrillFacts {
            plan_id: "drill-1".into(),
            created_at: at,
            status: PlanStatus::TornDown,
            recovery_seconds: Some(seconds),
            failure: None,
            not_isolated: None,
        }
    }

    #[test]
    fn a_component_backed_up_on_schedule_passes_every_control() {
        let p = web();
        let points = every_6h(t(21, 0), t(28, 6));
        let drills = [good_drill(t(27, 0), 900)];
        let r = run(&p, &points, &[], &drills, None, t(28, 8));
        let bad: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.status != Status::Pass)
            .collect();
        assert!(bad.is_empty(), "{bad:#?}");
        assert_eq!(r.exit_code(), 0);
        assert_eq!(r.timelines[0].gaps, vec![]);
        // 21st 00:00 to 28th 06:00 every 6 hours (DR copies apart).
        assert_eq!(r.timelines[0].points.len(), 7 * 4 + 2);
        assert_eq!(r.timelines[0].dr_points.len(), 7 * 4 + 2);
    }

    #[test]
    fn rpo_and_dr_copy_boundaries() {
        let p = web();
        let points = every_6h(t(20, 0), t(28, 0));
        // Exactly the RPO old passes; a second more fails.
        let r = run(&p, &points, &[], &[], None, t(28, 6));
        assert_eq!(status_of(&r, "rpo"), Status::Pass);
        let r = run(&p, &points, &[], &[], None, t(28, 6) + Duration::seconds(1));
        assert_eq!(status_of(&r, "rpo"), Status::Fail);
        // DR copies older than 48 h fail.
        let primary_only: Vec<_> = points
            .iter()
            .filter(|x| x.region == "us-east-1" || x.point_time <= t(25, 0))
            .cloned()
            .collect();
        let r = run(&p, &primary_only, &[], &[], None, t(28, 1));
        assert_eq!(status_of(&r, "dr-copy"), Status::Fail);
        let r = run(&p, &points, &[], &[], None, t(28, 1));
        assert_eq!(status_of(&r, "dr-copy"), Status::Pass);
        // No DR copy configured at all.
        let mut no_dr = web();
        no_dr.dr_copies.clear();
        let r = run(&no_dr, &points, &[], &[], None, t(28, 1));
        assert_eq!(status_of(&r, "dr-copy"), Status::Fail);
    }

    #[test]
    fn retention_finds_missing_days_and_overdue_points() {
        let p = web(); // daily = 7
                       // A day without any point (the 25th) inside the last 7 days.
        let points: Vec<_> = every_6h(t(20, 0), t(28, 0))
            .into_iter()
            .filter(|x| x.point_time.date_naive() != t(25, 0).date_naive())
            .collect();
        let r = run(&p, &points, &[], &[], None, t(28, 1));
        let f = r
            .findings
            .iter()
            .find(|f| f.control == "retention")
            .unwrap();
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.evidence
                .iter()
                .any(|e| e.contains("2026-11-25T00:00:00Z")),
            "{f:#?}"
        );
        // All days present, but 20 days of points under a 7-daily rule: overdue ones warn.
        let points = every_6h(t(1, 0), t(28, 0));
        let r = run(&p, &points, &[], &[], None, t(28, 1));
        let f = r
            .findings
            .iter()
            .find(|f| f.control == "retention")
            .unwrap();
        assert_eq!(f.status, Status::Warn, "{f:#?}");
        assert!(f.summary.contains("past retention"));
        // Held points (as prune honours holds) are not past retention; the rest still are.
        let overdue: usize = f.summary.split(' ').next().unwrap().parse().unwrap();
        let mut guards = Guards::default();
        for x in points.iter().filter(|x| x.point_time < t(10, 0)) {
            guards.held_points.insert(x.id, "legal hold".into());
        }
        let still = overdue - guards.held_points.len();
        let r = run_guarded(&p, &points, &[], &[], None, &guards, t(28, 1));
        let f = r
            .findings
            .iter()
            .find(|f| f.control == "retention")
            .unwrap();
        assert_eq!(f.status, Status::Warn, "{f:#?}");
        assert!(
            f.summary
                .starts_with(&format!("{still} point(s) past retention")),
            "{f:#?}"
        );
        guards
            .held_components
            .insert(("shop".into(), p.name.clone()), "incident".into());
        let r = run_guarded(&p, &points, &[], &[], None, &guards, t(28, 1));
        let f = r
            .findings
            .iter()
            .find(|f| f.control == "retention")
            .unwrap();
        assert_eq!(f.status, Status::Pass, "{f:#?}");
    }

    #[test]
    fn consecutive_failures_warn_then_fail_and_skips_do_not_count() {
        let p = web();
        let points = every_6h(t(20, 0), t(28, 0));
        let r = |phases: &[RunPhase]| {
            let runs: Vec<RunFacts> = phases
                .iter()
                .enumerate()
                .map(|(i, phase)| RunFacts {
                    id: 10 - i as i64,
                    started_at: t(28, 0) - Duration::hours(i as i64),
                    phase: *phase,
                    failure_reason: Some("AccessDenied".into()),
                })
                .collect();
            status_of(&run(&p, &points, &runs, &[], None, t(28, 1)), "failed-runs")
        };
        use RunPhase::*;
        assert_eq!(r(&[Completed, Failed]), Status::Pass);
        assert_eq!(r(&[Failed, Completed]), Status::Warn);
        assert_eq!(r(&[Failed, Skipped, Failed]), Status::Fail);
        assert_eq!(r(&[]), Status::Pass);
    }

    #[test]
    fn a_missed_fire_warns_even_after_later_runs_succeeded() {
        let p = web();
        let points = every_6h(t(20, 0), t(28, 0));
        let runs = |reason: &str| {
            vec![
                RunFacts {
                    id: 12,
                    started_at: t(28, 0),
                    phase: RunPhase::Completed,
                    failure_reason: None,
                },
                RunFacts {
                    id: 11,
                    started_at: t(27, 23),
                    phase: RunPhase::Skipped,
                    failure_reason: Some(reason.into()),
                },
            ]
        };
        let missed = run(
            &p,
            &points,
            &runs("missed 1 fire(s) from 2026-11-27T12:00:00Z to 2026-11-27T12:00:00Z: the daemon was not running"),
            &[],
            None,
            t(28, 1),
        );
        let f = missed
            .findings
            .iter()
            .find(|f| f.control == "missed-fires")
            .unwrap();
        assert_eq!(f.status, Status::Warn, "{f:#?}");
        assert!(
            f.evidence[0].contains("the daemon was not running"),
            "{f:#?}"
        );
        assert_eq!(status_of(&missed, "failed-runs"), Status::Pass);
        // A run skipped because the previous one was still running is not a missed fire.
        let overlap = run(
            &p,
            &points,
            &runs("skipped: the previous run is still in progress"),
            &[],
            None,
            t(28, 1),
        );
        assert_eq!(status_of(&overlap, "missed-fires"), Status::Pass);
    }

    #[test]
    fn drills_must_be_recent_fast_and_the_latest_must_not_have_failed() {
        let p = web();
        let points = every_6h(t(20, 0), t(28, 0));
        let at = t(28, 1);
        let st =
            |drills: &[DrillFacts]| status_of(&run(&p, &points, &[], drills, None, at), "drill");
        assert_eq!(st(&[]), Status::Fail);
        assert_eq!(st(&[good_drill(t(27, 0), 3600)]), Status::Pass);
        assert_eq!(
            st(&[good_drill(t(27, 0), 5 * 3600)]),
            Status::Fail,
            "slower than the RTO"
        );
        assert_eq!(st(&[good_drill(t(1, 0), 600)]), Status::Pass, "27 days old");
        assert_eq!(
            st(&[good_drill(t(28, 1) - Duration::days(31), 600)]),
            Status::Fail
        );
        let failed = DrillFacts {
            plan_id: "drill-2".into(),
            created_at: t(28, 0),
            status: PlanStatus::Failed,
            recovery_seconds: None,
            failure: Some("site.health-check: 500".into()),
            not_isolated: None,
        };
        assert_eq!(st(&[failed, good_drill(t(27, 0), 600)]), Status::Fail);
        // A drill in production's security groups (an older wpbackup's) does not count.
        let shared = DrillFacts {
            not_isolated: Some("not isolated from production".into()),
            ..good_drill(t(27, 0), 600)
        };
        assert_eq!(st(std::slice::from_ref(&shared)), Status::Fail);
        let report = run(&p, &points, &[], &[shared], None, at);
        let f = report
            .findings
            .iter()
            .find(|f| f.control == "drill")
            .unwrap();
        assert!(
            f.evidence.iter().any(|e| e.contains("not isolated")),
            "{:?}",
            f.evidence
        );
    }

    #[test]
    fn live_settings_become_controls_with_the_audits_own_minimums() {
        let p = policy(
            "db",
            ComponentKind::AuroraCluster,
            Target::AuroraCluster {
                cluster_identifier: "wp".into(),
                pitr_days: 3,
            },
            6,
        );
        let check = |setting: &str, actual: &str, ok: bool| SettingCheck {
            setting: setting.into(),
            expected: "x".into(),
            actual: actual.into(),
            ok,
        };
        let at = t(28, 1);
        let st = |checks: Vec<SettingCheck>, control: &str| {
            status_of(&run(&p, &[], &[], &[], Some(Ok(checks)), at), control)
        };
        // (settings, control, expected status). The policy asks for 3 days and gets them;
        // the audit requires 7. Adapters do not call a missing vault lock wrong; the audit does.
        let table = [
            (
                vec![check("aurora.backup_retention_days", "3", true)],
                "aurora-pitr-window",
                Status::Fail,
            ),
            (
                vec![check("aurora.backup_retention_days", "7", true)],
                "aurora-pitr-window",
                Status::Pass,
            ),
            (
                vec![check("backup.vault_lock[us-east-1/v]", "not locked", true)],
                "vault-lock",
                Status::Fail,
            ),
            (
                vec![check("backup.vault_lock[us-east-1/v]", "locked", true)],
                "vault-lock",
                Status::Pass,
            ),
            (
                vec![
                    check("s3.replication", "enabled", true),
                    check("s3.replication.delete_markers", "Disabled", false),
                ],
                "s3-replication",
                Status::Fail,
            ),
        ];
        for (checks, control, expected) in table {
            let what = format!("{checks:?}");
            assert_eq!(st(checks, control), expected, "{what}");
        }
        let r = run(&p, &[], &[], &[], Some(Err("AccessDenied".into())), at);
        assert_eq!(status_of(&r, "live-settings"), Status::Warn);
    }

    #[test]
    fn timeline_gaps_are_the_stretches_longer_than_the_rpo() {
        let p = web(); // RPO 6h
        let keep = [t(20, 0), t(20, 6), t(21, 0)];
        let mut points: Vec<_> = every_6h(t(10, 0), t(21, 6))
            .into_iter()
            .filter(|x| {
                x.region == "us-east-1" && (x.point_time < t(14, 6) || keep.contains(&x.point_time))
            })
            .collect();
        let off_schedule = point(
            999,
            "web",
            PointKind::Ec2Ami,
            "us-east-1",
            t(21, 3),
            Available,
        );
        points.push(off_schedule);
        points.sort_by_key(|x| x.point_time);
        let r = run(&p, &points, &[], &[], None, t(21, 12));
        let tl = &r.timelines[0];
        assert_eq!(r.timeline_from, t(7, 12));
        // 14th 00:00 → 20th 00:00, then 20th 06:00 → 21st 00:00 (18h); 21st 03:00 → now: 9h.
        assert_eq!(
            tl.gaps,
            vec![
                (t(14, 0), t(20, 0)),
                (t(20, 6), t(21, 0)),
                (t(21, 3), t(21, 12))
            ]
        );
    }

    #[test]
    fn changes_between_audits() {
        let f = |control: &str, component: Option<&str>, status| Finding {
            control: control.into(),
            component: component.map(Into::into),
            status,
            summary: String::new(),
            evidence: vec![],
            remediation: None,
        };
        let before = [
            f("rpo", Some("db"), Status::Pass),
            f("drill", None, Status::Fail),
            f("gone", None, Status::Warn),
        ];
        let after = [
            f("rpo", Some("db"), Status::Fail),
            f("drill", None, Status::Fail),
            f("new", None, Status::Pass),
        ];
        let c = changes(&before, &after);
        let key = |c: &Change| (c.control.clone(), c.before, c.after);
        assert_eq!(
            c.iter().map(key).collect::<Vec<_>>(),
            vec![
                ("rpo".to_string(), Some(Status::Pass), Some(Status::Fail)),
                ("new".to_string(), None, Some(Status::Pass)),
                ("gone".to_string(), Some(Status::Warn), None),
            ]
        );
    }
}
