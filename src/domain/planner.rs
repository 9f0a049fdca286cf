//! Restore planning, step one (pure): for instant T, the source of every component — Aurora
//! point-in-time restore inside the cluster's window, else the newest snapshot ≤ T; the
//! newest available point ≤ T for instances and file systems (primary region, else its DR
//! copy); S3 objects as of T — with each component's data-loss gap, RPO status, and the skew
//! between components. Errors name the earliest and latest instants that can be restored.

use super::model::{ComponentKind, PointState, RecoveryPoint};
use super::policy::{Policy, Target};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::Serialize;

/// Where the restored site runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RestoreTo {
    Primary,
    Dr,
}

/// What one component is restored from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Source {
    /// Aurora continuous backup at exactly T.
    PointInTime { cluster: String, at: DateTime<Utc> },
    /// A recovery point (snapshot, AMI, recovery point) — or its DR copy.
    Point {
        point_id: i64,
        region: String,
        provider_id: String,
        from_dr_copy: bool,
    },
    /// Every object's version as of T (non-destructive revert).
    BucketAsOf {
        bucket: String,
        region: String,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    pub component: String,
    pub kind: ComponentKind,
    pub source: Source,
    /// The instant the restored data reflects.
    pub point_time: DateTime<Utc>,
    /// T − point time: what is lost.
    pub gap_seconds: i64,
    pub rpo_seconds: i64,
    pub rpo_exceeded: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selection {
    pub at: DateTime<Utc>,
    pub to: RestoreTo,
    pub choices: Vec<Choice>,
    /// Newest minus oldest point time across components.
    pub skew_seconds: i64,
    pub warnings: Vec<String>,
}

/// A site's points grouped by component without copying them: one vector ordered by
/// (component, point time, id) and each component's range in it. Catalogs hold millions of
/// points; planning and auditing look at each component's handful by slice.
#[derive(Debug, Default)]
pub struct PointsByComponent {
    points: Vec<RecoveryPoint>,
    ranges: std::collections::HashMap<String, std::ops::Range<usize>>,
}

impl PointsByComponent {
    pub fn new(mut points: Vec<RecoveryPoint>) -> Self {
        // The catalog returns points grouped by component: one pass checks that while
        // indexing; only input in another order gets a full sort.
        let ranges = match Self::index(&points) {
            Some(ranges) => ranges,
            None => {
                points.sort_by(|a, b| {
                    (a.component.as_str(), a.point_time, a.id).cmp(&(
                        b.component.as_str(),
                        b.point_time,
                        b.id,
                    ))
                });
                Self::index(&points).expect("sorted points are grouped")
            }
        };
        // Oldest first within each component (regions may come one after the other; sorting
        // a handful of runs that are each in order is a single pass).
        for r in ranges.values() {
            points[r.clone()].sort_by_key(|p| (p.point_time, p.id));
        }
        Self { points, ranges }
    }

    /// Each component's range, or `None` unless each component's points are contiguous
    /// (components themselves may come in any order, e.g. by id).
    fn index(
        points: &[RecoveryPoint],
    ) -> Option<std::collections::HashMap<String, std::ops::Range<usize>>> {
        let mut ranges = std::collections::HashMap::new();
        let mut start = 0;
        for i in 1..=points.len() {
            if i < points.len() && points[i - 1].component == points[i].component {
                continue;
            }
            let name = &points[start].component;
            if ranges.insert(name.clone(), start..i).is_some() {
                // The component appeared before: its points are not contiguous.
                return None;
            }
            start = i;
        }
        Some(ranges)
    }

    /// One component's points, oldest first (empty when it has none).
    pub fn of(&self, component: &str) -> &[RecoveryPoint] {
        self.ranges
            .get(component)
            .map_or(&[][..], |r| &self.points[r.clone()])
    }

    /// Every point, by component then time.
    pub fn all(&self) -> &[RecoveryPoint] {
        &self.points
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// The newest point of `points` (oldest first) at or before `at` that `keep` accepts:
/// a binary search to `at`, then a walk back over the few points that do not qualify.
pub fn newest_at_or_before(
    points: &[RecoveryPoint],
    at: DateTime<Utc>,
    keep: impl Fn(&RecoveryPoint) -> bool,
) -> Option<&RecoveryPoint> {
    let end = points.partition_point(|p| p.point_time <= at);
    points[..end].iter().rev().find(|p| keep(p))
}

/// One component's inputs.
pub struct ComponentInput<'a> {
    pub policy: &'a Policy,
    /// Its points in every region (any state), oldest first (point time, then id) — as
    /// [`PointsByComponent::of`] gives them.
    pub points: &'a [RecoveryPoint],
    /// Aurora: the cluster's restorable window, read live ([earliest, latest]).
    pub pitr_window: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{at} is in the future; the latest instant that can be restored is {latest}")]
    Future {
        at: DateTime<Utc>,
        latest: DateTime<Utc>,
    },
    /// Some component cannot be restored to T: each one named with why, then the instants
    /// every selected component can be restored to.
    #[error("{at} cannot be restored: {}; {restorable}", .reasons.join("; "))]
    NotCovered {
        at: DateTime<Utc>,
        /// One per component that has no source at T, naming it.
        reasons: Vec<String>,
        /// "every component can be restored to any instant from … to …" (or why none is).
        restorable: String,
    },
    #[error("no component matches --only {0:?}; components: {1}")]
    UnknownComponent(String, String),
}

/// Available, and its time is the cloud's (a point without one cannot be placed in time).
fn usable(p: &RecoveryPoint) -> bool {
    p.state == PointState::Available && !p.metadata.time_unknown
}

/// The earliest and latest instants a component can be restored to, in the target region.
fn range(
    input: &ComponentInput<'_>,
    regions: &[&str],
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let wanted = |p: &&RecoveryPoint| usable(p) && regions.contains(&p.region.as_str());
    // Points are oldest first: the first and last wanted ones bound the range.
    let mut lo = input.points.iter().find(wanted).map(|p| p.point_time);
    let mut hi = input.points.iter().rev().find(wanted).map(|p| p.point_time);
    if let Some((a, b)) = input.pitr_window {
        lo = Some(lo.map_or(a, |l| l.min(a)));
        hi = Some(hi.map_or(b, |h| h.max(b)));
    }
    if matches!(input.policy.target, Target::S3Bucket { .. }) {
        // Versioned history: restorable from the first checkpoint up to now.
        hi = lo.map(|_| now);
    }
    lo.zip(hi)
}

/// The instants a component can be restored to, as disjoint intervals, oldest first: its
/// continuous-backup window (Aurora, in place) and everything from its first point (a
/// bucket: its first checkpoint) to now.
fn restorable(
    input: &ComponentInput<'_>,
    regions: &[&str],
    to: RestoreTo,
    now: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let first = input
        .points
        .iter()
        .find(|p| usable(p) && regions.contains(&p.region.as_str()))
        .map(|p| p.point_time);
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    if let (Some(w), RestoreTo::Primary) = (input.pitr_window, to) {
        out.push(w);
    }
    if let Some(f) = first {
        out.push((f, now.max(f)));
    }
    merge(out)
}

/// Sorted, overlapping intervals joined.
fn merge(mut v: Vec<(DateTime<Utc>, DateTime<Utc>)>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    v.sort();
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The instants in both `a` and `b` (each disjoint, oldest first).
fn intersect(
    a: &[(DateTime<Utc>, DateTime<Utc>)],
    b: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            let (lo, hi) = (x.0.max(y.0), x.1.min(y.1));
            if lo <= hi {
                out.push((lo, hi));
            }
        }
    }
    merge(out)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Why `input` cannot be restored to `at` (`None`: it can).
fn not_restorable_at(
    input: &ComponentInput<'_>,
    regions: &[&str],
    to: RestoreTo,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<String> {
    let intervals = restorable(input, regions, to, now);
    if intervals.iter().any(|(a, b)| *a <= at && at <= *b) {
        return None;
    }
    let name = &input.policy.name;
    let first = input
        .points
        .iter()
        .find(|p| usable(p) && regions.contains(&p.region.as_str()))
        .map(|p| p.point_time);
    let window = input.pitr_window.filter(|_| to == RestoreTo::Primary);
    let where_ = match to {
        RestoreTo::Primary => String::new(),
        RestoreTo::Dr => format!(" in {}", regions.join(", ")),
    };
    let points = match first {
        None => format!("{name} has no recovery point yet{where_}"),
        Some(f) => format!(
            "{name} has no point at or before it{where_} (its first is {})",
            rfc3339(ceil_second(f))
        ),
    };
    Some(match window {
        Some((_, b)) if at > b => format!(
            "{points}, and its continuous-backup window ends at {} (Aurora's latest restorable time lags a few minutes)",
            rfc3339(b.trunc_subsecs(0))
        ),
        Some((a, _)) => format!(
            "{points}, and its continuous-backup window starts at {}",
            rfc3339(ceil_second(a))
        ),
        None => points,
    })
}

/// Points carry sub-second times; people type whole seconds. The earliest instant stated
/// is rounded up, so typing it works.
fn ceil_second(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = t.trunc_subsecs(0);
    if floor == t {
        t
    } else {
        floor + Duration::seconds(1)
    }
}

/// From the latest of the components' first restorable instants to now (a point older
/// than T serves T, with a gap). `None` for the start when a component has no point.
fn coverage_of(
    ranges: &[Option<(DateTime<Utc>, DateTime<Utc>)>],
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, DateTime<Utc>) {
    let earliest = if ranges.iter().any(Option::is_none) {
        None
    } else {
        ranges.iter().flatten().map(|r| r.0).max()
    };
    (earliest, now.trunc_subsecs(0))
}

/// The range of instants the selected components can be restored to (for errors that
/// must state it, e.g. an unparseable `--at`): (earliest, latest), earliest `None` while
/// some component has no point yet.
pub fn coverage(
    now: DateTime<Utc>,
    to: RestoreTo,
    primary_region: &str,
    dr_region: &str,
    inputs: &[ComponentInput<'_>],
    only: &[String],
) -> (Option<DateTime<Utc>>, DateTime<Utc>) {
    let regions: Vec<&str> = match to {
        RestoreTo::Primary => vec![primary_region, dr_region],
        RestoreTo::Dr => vec![dr_region],
    };
    let ranges: Vec<_> = inputs
        .iter()
        .filter(|i| only.is_empty() || only.contains(&i.policy.name))
        .map(|i| range(i, &regions, now))
        .collect();
    coverage_of(&ranges, now)
}

/// Choose every component's source for instant `at`.
pub fn choose_sources(
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    to: RestoreTo,
    primary_region: &str,
    dr_region: &str,
    inputs: &[ComponentInput<'_>],
    only: &[String],
) -> Result<Selection, PlanError> {
    for o in only {
        if !inputs.iter().any(|i| i.policy.name == *o) {
            return Err(PlanError::UnknownComponent(
                o.clone(),
                inputs
                    .iter()
                    .map(|i| i.policy.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
    }
    debug_assert!(
        inputs
            .iter()
            .all(|i| i.points.is_sorted_by_key(|p| (p.point_time, p.id))),
        "component points must be oldest first"
    );
    let selected: Vec<&ComponentInput<'_>> = inputs
        .iter()
        .filter(|i| only.is_empty() || only.contains(&i.policy.name))
        .collect();
    let regions: Vec<&str> = match to {
        RestoreTo::Primary => vec![primary_region, dr_region],
        RestoreTo::Dr => vec![dr_region],
    };
    let ranges: Vec<Option<(DateTime<Utc>, DateTime<Utc>)>> =
        selected.iter().map(|i| range(i, &regions, now)).collect();
    let (earliest, latest) = coverage_of(&ranges, now);
    let fmt = |t: Option<DateTime<Utc>>| {
        t.map(|t| ceil_second(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| "(no point yet)".into())
    };
    if at > now {
        return Err(PlanError::Future { at, latest });
    }
    // Every component that cannot be restored to T, named, with the instants that work.
    let reasons: Vec<String> = selected
        .iter()
        .filter_map(|i| not_restorable_at(i, &regions, to, at, now))
        .collect();
    let not_covered = |reasons: Vec<String>| {
        let mut all: Option<Vec<(DateTime<Utc>, DateTime<Utc>)>> = None;
        for i in &selected {
            let r = restorable(i, &regions, to, now);
            all = Some(match all {
                None => r,
                Some(a) => intersect(&a, &r),
            });
        }
        let all = all.unwrap_or_default();
        let restorable = if all.is_empty() {
            match earliest {
                None => "some component has no recovery point yet: take one (`wpbackup run --all`)".to_string(),
                Some(_) => format!(
                    "no instant is restorable for every component together yet; every component has points from {}",
                    fmt(earliest)
                ),
            }
        } else {
            let spans: Vec<String> = all
                .iter()
                .map(|(a, b)| {
                    format!(
                        "from {} to {}",
                        rfc3339(ceil_second(*a)),
                        rfc3339(b.trunc_subsecs(0))
                    )
                })
                .collect();
            format!(
                "every component can be restored to any instant {}",
                spans.join(" or ")
            )
        };
        PlanError::NotCovered {
            at,
            reasons,
            restorable,
        }
    };
    if !reasons.is_empty() {
        return Err(not_covered(reasons));
    }
    let mut choices = Vec::new();
    let mut warnings = Vec::new();
    for (input, r) in selected.iter().zip(&ranges) {
        let p = input.policy;
        let before_first = || {
            not_covered(vec![format!(
                "{} has no source at it (its range is {} to {})",
                p.name,
                fmt(r.map(|r| r.0)),
                fmt(r.map(|r| r.1))
            )])
        };
        let newest_in = |region: &str| {
            newest_at_or_before(input.points, at, |x| usable(x) && x.region == region)
        };
        let point_source = |x: &RecoveryPoint| Source::Point {
            point_id: x.id,
            region: x.region.clone(),
            provider_id: x.provider_id.clone(),
            from_dr_copy: x.source_point_id.is_some() || x.region != primary_region,
        };
        let (source, point_time) = match (&p.target, to) {
            (
                Target::AuroraCluster {
                    cluster_identifier, ..
                },
                RestoreTo::Primary,
            ) if input.pitr_window.is_some_and(|(a, b)| a <= at && at <= b) => (
                Source::PointInTime {
                    cluster: cluster_identifier.clone(),
                    at,
                },
                at,
            ),
            (
                Target::S3Bucket {
                    bucket, dr_bucket, ..
                },
                _,
            ) => {
                if r.is_none_or(|(lo, _)| at < lo) {
                    return Err(before_first());
                }
                let (b, region) = match to {
                    RestoreTo::Primary => (bucket.clone(), primary_region.to_string()),
                    RestoreTo::Dr => (dr_bucket.clone(), dr_region.to_string()),
                };
                (
                    Source::BucketAsOf {
                        bucket: b,
                        region,
                        at,
                    },
                    at,
                )
            }
            _ => {
                let chosen = match to {
                    // Primary first; the DR copy when the primary has none at T.
                    RestoreTo::Primary => {
                        newest_in(primary_region).or_else(|| newest_in(dr_region))
                    }
                    RestoreTo::Dr => newest_in(dr_region),
                };
                let x = chosen.ok_or_else(before_first)?;
                if x.region != primary_region && to == RestoreTo::Primary {
                    warnings.push(format!("{}: no point at or before T in {primary_region}; using the DR copy from {}", p.name, x.region));
                }
                (point_source(x), x.point_time)
            }
        };
        let gap = at - point_time;
        let rpo = Duration::from_std(p.rpo).unwrap_or(Duration::MAX);
        if gap > rpo {
            warnings.push(format!(
                "{}: restoring to {} loses {} of data, more than its RPO ({})",
                p.name,
                point_time,
                super::time::format_duration(gap),
                humantime::format_duration(p.rpo)
            ));
        }
        choices.push(Choice {
            component: p.name.clone(),
            kind: p.kind,
            source,
            point_time,
            gap_seconds: gap.num_seconds(),
            rpo_seconds: rpo.num_seconds(),
            rpo_exceeded: gap > rpo,
        });
    }
    let skew = match (
        choices.iter().map(|c| c.point_time).max(),
        choices.iter().map(|c| c.point_time).min(),
    ) {
        (Some(a), Some(b)) => (a - b).num_seconds(),
        _ => 0,
    };
    Ok(Selection {
        at,
        to,
        choices,
        skew_seconds: skew,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::PointKind;
    use crate::domain::testkit::{point, policy};
    use chrono::TimeZone;

    fn t(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap()
    }

    struct Fixture {
        web: Policy,
        db: Policy,
        media: Policy,
        web_points: Vec<RecoveryPoint>,
        db_points: Vec<RecoveryPoint>,
        media_points: Vec<RecoveryPoint>,
    }

    fn fixture() -> Fixture {
        use PointState::*;
        Fixture {
            web: policy(
                "web",
                ComponentKind::Ec2Instance,
                Target::Ec2Instance {
                    instance_id: "i-1".into(),
                    no_reboot: true,
                    launch: Default::default(),
                },
                24,
            ),
            db: policy(
                "db",
                ComponentKind::AuroraCluster,
                Target::AuroraCluster {
                    cluster_identifier: "wp".into(),
                    pitr_days: 7,
                },
                4,
            ),
            media: policy(
                "media",
                ComponentKind::S3Bucket,
                Target::S3Bucket {
                    bucket: "m".into(),
                    dr_bucket: "m-dr".into(),
                    noncurrent_version_days: None,
                },
                1,
            ),
            web_points: vec![
                point(
                    1,
                    "web",
                    PointKind::Ec2Ami,
                    "us-east-1",
                    t(26, 2, 30),
                    Available,
                ),
                point(
                    2,
                    "web",
                    PointKind::Ec2Ami,
                    "us-east-1",
                    t(27, 2, 30),
                    Failed,
                ),
                point(
                    101,
                    "web",
                    PointKind::Ec2Ami,
                    "us-west-2",
                    t(26, 2, 30),
                    Available,
                ),
                point(
                    102,
                    "web",
                    PointKind::Ec2Ami,
                    "us-west-2",
                    t(27, 2, 30),
                    Available,
                ),
            ],
            db_points: vec![
                point(
                    10,
                    "db",
                    PointKind::AuroraClusterSnapshot,
                    "us-east-1",
                    t(20, 0, 0),
                    Available,
                ),
                point(
                    11,
                    "db",
                    PointKind::AuroraClusterSnapshot,
                    "us-east-1",
                    t(27, 12, 0),
                    Available,
                ),
                point(
                    110,
                    "db",
                    PointKind::AuroraClusterSnapshot,
                    "us-west-2",
                    t(27, 12, 0),
                    Available,
                ),
            ],
            media_points: vec![
                point(
                    20,
                    "media",
                    PointKind::S3Checkpoint,
                    "us-east-1",
                    t(21, 0, 0),
                    Available,
                ),
                point(
                    120,
                    "media",
                    PointKind::S3Checkpoint,
                    "us-west-2",
                    t(21, 0, 0),
                    Available,
                ),
            ],
        }
    }

    fn plan(
        f: &Fixture,
        at: DateTime<Utc>,
        to: RestoreTo,
        window: Option<(DateTime<Utc>, DateTime<Utc>)>,
        only: &[&str],
    ) -> Result<Selection, PlanError> {
        let points = PointsByComponent::new(
            [&f.web_points, &f.db_points, &f.media_points]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
        );
        let inputs = vec![
            ComponentInput {
                policy: &f.web,
                points: points.of("web"),
                pitr_window: None,
            },
            ComponentInput {
                policy: &f.db,
                points: points.of("db"),
                pitr_window: window,
            },
            ComponentInput {
                policy: &f.media,
                points: points.of("media"),
                pitr_window: None,
            },
        ];
        let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
        choose_sources(
            at,
            t(28, 12, 0),
            to,
            "us-east-1",
            "us-west-2",
            &inputs,
            &only,
        )
    }

    fn choice<'a>(s: &'a Selection, c: &str) -> &'a Choice {
        s.choices.iter().find(|x| x.component == c).unwrap()
    }

    #[test]
    fn points_are_grouped_by_component_oldest_first_whatever_order_they_come_in() {
        let p = |id, comp, h| {
            point(
                id,
                comp,
                PointKind::Ec2Ami,
                "us-east-1",
                t(27, h, 0),
                PointState::Available,
            )
        };
        let grouped = PointsByComponent::new(vec![
            p(3, "web", 9),
            p(1, "db", 5),
            p(2, "web", 1),
            p(4, "db", 5),
        ]);
        let ids = |c| grouped.of(c).iter().map(|x| x.id).collect::<Vec<_>>();
        assert_eq!(ids("web"), vec![2, 3]);
        assert_eq!(ids("db"), vec![1, 4], "same time: by id");
        assert!(grouped.of("media").is_empty());
        assert_eq!(grouped.len(), 4);
        let newest = newest_at_or_before(grouped.of("web"), t(27, 8, 0), |_| true);
        assert_eq!(newest.map(|x| x.id), Some(2));
        assert!(newest_at_or_before(grouped.of("web"), t(27, 0, 0), |_| true).is_none());
    }

    #[test]
    fn pitr_inside_the_window_and_snapshots_outside() {
        let f = fixture();
        let window = Some((t(21, 12, 0), t(28, 11, 55)));
        let at = t(27, 14, 5);
        let s = plan(&f, at, RestoreTo::Primary, window, &["db"]).unwrap();
        assert_eq!(
            choice(&s, "db").source,
            Source::PointInTime {
                cluster: "wp".into(),
                at
            }
        );
        assert_eq!(choice(&s, "db").gap_seconds, 0);
        // Window boundaries are inclusive.
        for edge in [t(21, 12, 0), t(28, 11, 55)] {
            let s = plan(&f, edge, RestoreTo::Primary, window, &["db"]).unwrap();
            assert!(
                matches!(choice(&s, "db").source, Source::PointInTime { .. }),
                "{edge}"
            );
        }
        // Just past the window's end: the newest snapshot at or before T.
        let s = plan(&f, t(28, 11, 56), RestoreTo::Primary, window, &["db"]).unwrap();
        assert!(matches!(
            choice(&s, "db").source,
            Source::Point { point_id: 11, .. }
        ));
        // Before the window: the older snapshot, and its gap breaks the 4h RPO.
        let s = plan(&f, t(21, 0, 0), RestoreTo::Primary, window, &["db"]).unwrap();
        let db = choice(&s, "db");
        assert!(matches!(db.source, Source::Point { point_id: 10, .. }));
        assert_eq!(db.gap_seconds, 24 * 3600);
        assert!(db.rpo_exceeded);
        assert!(
            s.warnings.iter().any(|w| w.contains("db: restoring")),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn newest_available_point_primary_first_then_dr_copy() {
        let f = fixture();
        let at = t(27, 14, 5);
        let s = plan(&f, at, RestoreTo::Primary, None, &[]).unwrap();
        // Web's point of the 27th failed in the primary region; the primary's 26th is chosen
        // (the primary region is preferred while it has an available point at or before T).
        let web = choice(&s, "web");
        assert!(
            matches!(
                web.source,
                Source::Point {
                    point_id: 1,
                    from_dr_copy: false,
                    ..
                }
            ),
            "{web:?}"
        );
        assert_eq!(web.gap_seconds, (at - t(26, 2, 30)).num_seconds());
        // Restoring in the DR region uses the copies only.
        let s = plan(&f, at, RestoreTo::Dr, None, &[]).unwrap();
        assert!(matches!(
            choice(&s, "web").source,
            Source::Point {
                point_id: 102,
                from_dr_copy: true,
                ..
            }
        ));
        assert!(
            matches!(&choice(&s, "media").source, Source::BucketAsOf { bucket, .. } if bucket == "m-dr")
        );
    }

    #[test]
    fn s3_as_of_t_skew_and_only() {
        let f = fixture();
        let at = t(27, 14, 5);
        let s = plan(&f, at, RestoreTo::Primary, None, &[]).unwrap();
        assert_eq!(
            choice(&s, "media").source,
            Source::BucketAsOf {
                bucket: "m".into(),
                region: "us-east-1".into(),
                at
            }
        );
        assert_eq!(
            s.skew_seconds,
            (at - t(26, 2, 30)).num_seconds(),
            "media at T vs web's 26th"
        );
        let s = plan(&f, at, RestoreTo::Primary, None, &["db"]).unwrap();
        assert_eq!(s.choices.len(), 1);
        assert!(matches!(
            plan(&f, at, RestoreTo::Primary, None, &["cache"]),
            Err(PlanError::UnknownComponent(..))
        ));
    }

    #[test]
    fn future_and_before_the_first_point_name_the_range() {
        let f = fixture();
        let e = plan(&f, t(29, 0, 0), RestoreTo::Primary, None, &[]).unwrap_err();
        assert!(matches!(e, PlanError::Future { .. }));
        assert!(e.to_string().contains("2026-11-28 12:00:00 UTC"), "{e}");
        assert!(
            e.to_string()
                .contains("latest instant that can be restored"),
            "{e}"
        );
        let e = plan(&f, t(19, 0, 0), RestoreTo::Primary, None, &[]).unwrap_err();
        let msg = e.to_string();
        match &e {
            PlanError::NotCovered { reasons, .. } => {
                // Every component lacking a point is named, each once, with its first.
                assert_eq!(reasons.len(), 3, "{reasons:?}");
                assert!(
                    reasons[0].starts_with(
                        "web has no point at or before it (its first is 2026-11-26T02:30:00Z)"
                    ),
                    "{reasons:?}"
                );
                assert!(
                    reasons[1].starts_with(
                        "db has no point at or before it (its first is 2026-11-20T00:00:00Z)"
                    ),
                    "{reasons:?}"
                );
                assert!(reasons[2].starts_with("media "), "{reasons:?}");
            }
            other => panic!("{other:?}"),
        }
        // Web's first point is the 26th; the site as a whole from then on.
        assert!(
            msg.contains(
                "every component can be restored to any instant from 2026-11-26T02:30:00Z to 2026-11-28T12:00:00Z"
            ),
            "{msg}"
        );
        // Between web's first point and db's: only web is fine.
        let e = plan(
            &f,
            t(21, 12, 0),
            RestoreTo::Primary,
            None,
            &["web", "media"],
        )
        .unwrap_err();
        match &e {
            PlanError::NotCovered { reasons, .. } => {
                assert_eq!(reasons.len(), 1, "{reasons:?}");
                assert!(reasons[0].starts_with("web "), "{reasons:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// Right after the first backups: T after the first web point but between the end of
    /// db's continuous-backup window (it lags) and db's first snapshot — db, not web, is
    /// named, and the instants that do work are stated, gap and all.
    #[test]
    fn a_refused_instant_names_the_component_that_lacks_a_point_not_another() {
        let f = fixture();
        let web = [point(
            1,
            "web",
            PointKind::Ec2Ami,
            "us-east-1",
            t(28, 10, 50),
            PointState::Available,
        )];
        let db = [point(
            10,
            "db",
            PointKind::AuroraClusterSnapshot,
            "us-east-1",
            t(28, 11, 0),
            PointState::Available,
        )];
        let inputs = [
            ComponentInput {
                policy: &f.web,
                points: &web,
                pitr_window: None,
            },
            ComponentInput {
                policy: &f.db,
                points: &db,
                pitr_window: Some((t(21, 11, 0), t(28, 10, 55))),
            },
        ];
        let choose = |at| {
            choose_sources(
                at,
                t(28, 12, 0),
                RestoreTo::Primary,
                "us-east-1",
                "us-west-2",
                &inputs,
                &[],
            )
        };
        let e = choose(t(28, 10, 58)).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("db has no point at or before it (its first is 2026-11-28T11:00:00Z), and its continuous-backup window ends at 2026-11-28T10:55:00Z"),
            "{msg}"
        );
        assert!(!msg.contains("web "), "web can be restored to T: {msg}");
        assert!(
            msg.contains("every component can be restored to any instant from 2026-11-28T10:50:00Z to 2026-11-28T10:55:00Z or from 2026-11-28T11:00:00Z to 2026-11-28T12:00:00Z"),
            "{msg}"
        );
        // Inside the window or after the snapshot: fine.
        for ok in [t(28, 10, 52), t(28, 11, 30)] {
            choose(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }
}
