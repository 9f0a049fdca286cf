//! Retention as a pure function, after restic's `forget`: which points to keep, which to
//! remove, and *why* — plus the guards no rule can override.

use super::model::{PointState, RecoveryPoint};
use super::policy::{Policy, Retention};
use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One candidate for the keep rules: an instant and an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub id: i64,
    pub time: DateTime<Utc>,
}

/// The period (hour, day, ISO week, month, year) an instant falls in, as a number that
/// names it exactly as its label does, and the label (`2026-11-28`, `2026-W48`, …).
type BucketKey = fn(&DateTime<Tz>) -> i64;
type BucketLabel = fn(&DateTime<Tz>) -> String;

/// Apply keep rules (in `zone`) to candidates: for each kept id, the rules that kept it.
/// Ids absent from the result are not kept by any rule.
pub fn apply_rules(
    candidates: &[Candidate],
    rules: &Retention,
    zone: Tz,
    now: DateTime<Utc>,
) -> BTreeMap<i64, Vec<String>> {
    let mut sorted: Vec<Candidate> = candidates.to_vec();
    // Newest first; the id breaks ties so the result does not depend on input order.
    sorted.sort_by(|a, b| b.time.cmp(&a.time).then(b.id.cmp(&a.id)));
    let mut kept: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    if let Some(n) = rules.keep_last {
        for (i, c) in sorted.iter().take(n as usize).enumerate() {
            kept.entry(c.id)
                .or_default()
                .push(format!("keep_last {}/{n}", i + 1));
        }
    }
    let buckets: [(&str, Option<u32>, BucketKey, BucketLabel); 5] = [
        (
            "hourly",
            rules.hourly,
            |t| (i64::from(t.year()) * 1000 + i64::from(t.ordinal())) * 100 + i64::from(t.hour()),
            |t| {
                format!(
                    "{:04}-{:02}-{:02} {:02}",
                    t.year(),
                    t.month(),
                    t.day(),
                    t.hour()
                )
            },
        ),
        (
            "daily",
            rules.daily,
            |t| i64::from(t.year()) * 1000 + i64::from(t.ordinal()),
            |t| format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day()),
        ),
        (
            "weekly",
            rules.weekly,
            |t| {
                let w = t.iso_week();
                i64::from(w.year()) * 100 + i64::from(w.week())
            },
            |t| {
                let w = t.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            },
        ),
        (
            "monthly",
            rules.monthly,
            |t| i64::from(t.year()) * 100 + i64::from(t.month()),
            |t| format!("{}-{:02}", t.year(), t.month()),
        ),
        (
            "yearly",
            rules.yearly,
            |t| i64::from(t.year()),
            |t| t.year().to_string(),
        ),
    ];
    // Each instant in the zone once, for every rule; a label only for the points a rule
    // keeps (formatting one per point and rule was most of the time retention took).
    let local: Vec<DateTime<Tz>> = if buckets.iter().any(|b| b.1.is_some()) {
        sorted.iter().map(|c| c.time.with_timezone(&zone)).collect()
    } else {
        Vec::new()
    };
    for (name, count, key_of, label_of) in buckets {
        let Some(n) = count else { continue };
        // Candidates are newest first and a bucket's number only falls with time (a
        // repeated hour at the end of daylight saving time stays one run of equal
        // numbers), so each bucket is one run: its first candidate is its newest point.
        let mut seen = 0u32;
        let mut last: Option<i64> = None;
        for (c, t) in sorted.iter().zip(&local) {
            if seen >= n {
                break;
            }
            let key = key_of(t);
            if last != Some(key) {
                last = Some(key);
                seen += 1;
                kept.entry(c.id)
                    .or_default()
                    .push(format!("{name} {seen}/{n} ({})", label_of(t)));
            }
        }
    }
    if let Some(within) = rules.within {
        let cutoff = crate::domain::time::sub_saturating(now, within);
        for c in sorted.iter().filter(|c| c.time >= cutoff) {
            kept.entry(c.id)
                .or_default()
                .push(format!("within {}", humantime::format_duration(within)));
        }
    }
    kept
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Keep,
    Remove,
}

/// The decision for one point, with every reason. A policy's decisions share their site,
/// component and region (one allocation each per region, not per point); the fixed reasons
/// are not copied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub point_id: i64,
    pub site: Arc<str>,
    pub component: Arc<str>,
    pub region: Arc<str>,
    pub name: String,
    pub point_time: DateTime<Utc>,
    pub state: PointState,
    pub action: Action,
    pub reasons: Vec<Cow<'static, str>>,
}

/// What protects points beyond the rules.
#[derive(Debug, Clone, Default)]
pub struct Guards {
    /// Points on hold (point id → hold reason).
    pub held_points: BTreeMap<i64, String>,
    /// Components on hold: (site, component) → hold reason.
    pub held_components: BTreeMap<(String, String), String>,
    /// Points an unfinished restore plan needs (point id → plan id).
    pub planned: BTreeMap<i64, String>,
}

/// The prune plan for one component's points (all regions): primary-region points under
/// the policy's retention, each DR region's copies under that copy's retention. Guards
/// override the rules: the newest available point of each region, points on hold, points an
/// unfinished restore plan needs, and anything not tagged as wpbackup's are always kept.
pub fn prune_plan(
    policy: &Policy,
    primary_region: &str,
    points: &[RecoveryPoint],
    guards: &Guards,
    now: DateTime<Utc>,
) -> Vec<Decision> {
    let zone = policy.schedule.zone();
    let mut by_region: BTreeMap<&str, Vec<&RecoveryPoint>> = BTreeMap::new();
    for p in points.iter().filter(|p| p.component == policy.name) {
        by_region.entry(p.region.as_str()).or_default().push(p);
    }
    // Looked up only when there are component holds (the key is two owned strings).
    let component_hold = |p: &RecoveryPoint| {
        if guards.held_components.is_empty() {
            None
        } else {
            guards
                .held_components
                .get(&(p.site.clone(), p.component.clone()))
        }
    };
    let mut out = Vec::with_capacity(points.len());
    let site: Option<Arc<str>> = points.first().map(|p| Arc::from(p.site.as_str()));
    let component: Arc<str> = Arc::from(policy.name.as_str());
    // Regions in order (the map's), each newest first: the decisions come out in their
    // order, and the references are what is sorted, not the decisions.
    for (region, mut pts) in by_region {
        let region_name: Arc<str> = Arc::from(region);
        pts.sort_by_key(|p| std::cmp::Reverse(p.point_time));
        let rules = if region == primary_region {
            Some(&policy.retention)
        } else {
            policy
                .dr_copies
                .iter()
                .find(|c| c.region == region)
                .map(|c| &c.retention)
        };
        let available: Vec<&&RecoveryPoint> = pts
            .iter()
            .filter(|p| p.state == PointState::Available)
            .collect();
        let candidates: Vec<Candidate> = available
            .iter()
            .map(|p| Candidate {
                id: p.id,
                time: p.point_time,
            })
            .collect();
        let mut kept = rules
            .map(|r| apply_rules(&candidates, r, zone, now))
            .unwrap_or_default();
        let newest = available
            .iter()
            .max_by_key(|p| (p.point_time, p.id))
            .map(|p| p.id);
        for p in pts {
            if matches!(
                p.state,
                PointState::Deleted | PointState::Missing | PointState::Deleting
            ) {
                continue;
            }
            let mut reasons: Vec<Cow<'static, str>> = Vec::new();
            let mut guarded = false;
            if !p.managed {
                reasons.push("guard: not created by wpbackup (untagged)".into());
                guarded = true;
            }
            if Some(p.id) == newest {
                reasons.push(format!("guard: newest available point in {region}").into());
                guarded = true;
            }
            if let Some(h) = guards.held_points.get(&p.id) {
                reasons.push(format!("guard: on hold ({h})").into());
                guarded = true;
            }
            if let Some(h) = component_hold(p) {
                reasons.push(format!("guard: component on hold ({h})").into());
                guarded = true;
            }
            if let Some(plan) = guards.planned.get(&p.id) {
                reasons.push(format!("guard: needed by unfinished restore plan {plan}").into());
                guarded = true;
            }
            if p.state == PointState::Creating {
                reasons.push("still creating".into());
                guarded = true;
            }
            // Each point once: its reasons move into the decision.
            let by_rules = kept.remove(&p.id);
            let kept_by_rules = by_rules.is_some();
            reasons.extend(by_rules.into_iter().flatten().map(Cow::Owned));
            let action = if guarded || kept_by_rules {
                Action::Keep
            } else {
                if rules.is_none() {
                    reasons.push(
                        format!(
                            "no retention configured for {region} (the policy has no DR copy there)"
                        )
                        .into(),
                    );
                } else if p.state == PointState::Failed {
                    reasons.push("failed point: not a recovery point".into());
                } else {
                    reasons.push("no keep rule matches".into());
                }
                Action::Remove
            };
            out.push(Decision {
                point_id: p.id,
                site: match &site {
                    Some(s) if **s == *p.site => s.clone(),
                    _ => Arc::from(p.site.as_str()),
                },
                component: component.clone(),
                region: region_name.clone(),
                name: p.name.clone(),
                point_time: p.point_time,
                state: p.state,
                action,
                reasons,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
    }

    /// Points every 6 hours from Nov 1 00:00 to Nov 28 18:00, ids in time order.
    fn six_hourly() -> Vec<Candidate> {
        let mut v = Vec::new();
        let mut id = 0;
        for d in 1..=28 {
            for h in [0, 6, 12, 18] {
                id += 1;
                v.push(Candidate { id, time: t(d, h) });
            }
        }
        v
    }

    fn kept_ids(rules: Retention, zone: &str) -> Vec<i64> {
        let now = t(28, 20);
        let mut ids: Vec<i64> = apply_rules(&six_hourly(), &rules, zone.parse().unwrap(), now)
            .into_keys()
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids
    }

    /// At the end of daylight saving time a local hour happens twice: its points are one
    /// bucket (the newest of both), and the labels are the local hours.
    #[test]
    fn the_repeated_hour_at_the_end_of_daylight_saving_time_is_one_bucket() {
        use chrono::TimeZone;
        // 2026-10-25 in Berlin: 03:00 CEST becomes 02:00 CET at 01:00 UTC.
        let at = |h: u32, m: u32| {
            Utc.with_ymd_and_hms(2026, 10, 24, 0, 0, 0).unwrap()
                + chrono::Duration::minutes(i64::from(h * 60 + m))
        };
        let candidates: Vec<Candidate> = [(23, 40), (24, 10), (24, 40), (25, 10), (25, 40)]
            .iter()
            .enumerate()
            .map(|(i, &(h, m))| Candidate {
                id: i as i64 + 1,
                time: at(h, m),
            })
            .collect();
        let rules = Retention {
            hourly: Some(2),
            ..Retention::default()
        };
        let kept = apply_rules(
            &candidates,
            &rules,
            "Europe/Berlin".parse().unwrap(),
            at(26, 0),
        );
        // 01:40 CEST (id 1) and 02:10, 02:40 CEST, 02:10, 02:40 CET (ids 2–5): two buckets.
        assert_eq!(kept.keys().copied().collect::<Vec<_>>(), vec![1, 5]);
        assert_eq!(kept[&5], vec!["hourly 1/2 (2026-10-25 02)".to_string()]);
        assert_eq!(kept[&1], vec!["hourly 2/2 (2026-10-25 01)".to_string()]);
    }

    /// Golden table in the manner of restic's: rules → exactly the ids kept (newest first).
    #[test]
    fn golden_table() {
        let r = Retention::default;
        let cases: Vec<(&str, Retention, &str, Vec<i64>)> = vec![
            (
                "keep_last 3",
                Retention {
                    keep_last: Some(3),
                    ..r()
                },
                "UTC",
                vec![112, 111, 110],
            ),
            (
                "hourly 2: the two newest hours with points",
                Retention {
                    hourly: Some(2),
                    ..r()
                },
                "UTC",
                vec![112, 111],
            ),
            (
                "daily 3: newest of each of the last 3 days",
                Retention {
                    daily: Some(3),
                    ..r()
                },
                "UTC",
                vec![112, 108, 104],
            ),
            (
                "weekly 2 (ISO weeks; Nov 23-28 and 16-22)",
                Retention {
                    weekly: Some(2),
                    ..r()
                },
                "UTC",
                vec![112, 88],
            ),
            (
                "monthly 2: only November has points",
                Retention {
                    monthly: Some(2),
                    ..r()
                },
                "UTC",
                vec![112],
            ),
            (
                "yearly 1",
                Retention {
                    yearly: Some(1),
                    ..r()
                },
                "UTC",
                vec![112],
            ),
            (
                "within 1d",
                Retention {
                    within: Some(std::time::Duration::from_secs(86_400)),
                    ..r()
                },
                "UTC",
                vec![112, 111, 110, 109],
            ),
            (
                "rules combine (union)",
                Retention {
                    keep_last: Some(2),
                    daily: Some(2),
                    weekly: Some(2),
                    ..r()
                },
                "UTC",
                vec![112, 111, 108, 88],
            ),
            // In Tokyo (UTC+9) 18:00 UTC is already the next day: the day buckets shift.
            (
                "daily 3 in Asia/Tokyo",
                Retention {
                    daily: Some(3),
                    ..r()
                },
                "Asia/Tokyo",
                vec![112, 111, 107],
            ),
            (
                "counts larger than the history keep everything once",
                Retention {
                    keep_last: Some(500),
                    ..r()
                },
                "UTC",
                (1..=112).rev().collect(),
            ),
        ];
        for (name, rules, zone, want) in cases {
            assert_eq!(kept_ids(rules, zone), want, "{name}");
        }
    }

    #[test]
    fn reasons_name_the_rule() {
        let rules = Retention {
            keep_last: Some(1),
            daily: Some(2),
            ..Retention::default()
        };
        let kept = apply_rules(&six_hourly(), &rules, chrono_tz::UTC, t(28, 20));
        assert_eq!(
            kept[&112],
            vec![
                "keep_last 1/1".to_string(),
                "daily 1/2 (2026-11-28)".to_string()
            ]
        );
        assert_eq!(kept[&108], vec!["daily 2/2 (2026-11-27)".to_string()]);
    }

    #[test]
    fn input_order_does_not_matter() {
        let mut shuffled = six_hourly();
        shuffled.reverse();
        shuffled.swap(3, 40);
        let rules = Retention {
            daily: Some(5),
            weekly: Some(3),
            ..Retention::default()
        };
        assert_eq!(
            apply_rules(&shuffled, &rules, chrono_tz::UTC, t(28, 20)),
            apply_rules(&six_hourly(), &rules, chrono_tz::UTC, t(28, 20))
        );
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::domain::model::ComponentKind;
    use crate::domain::policy::{DrCopy, Hooks, PolicySource, Target};
    use crate::domain::schedule::CronSchedule;
    use chrono::TimeZone;

    fn policy(primary: Retention, dr: Retention) -> Policy {
        Policy {
            name: "db".into(),
            kind: ComponentKind::AuroraCluster,
            description: None,
            schedule: CronSchedule::parse("0 0 * * *", chrono_tz::UTC).unwrap(),
            rpo: std::time::Duration::from_secs(86_400),
            wait_timeout: std::time::Duration::from_secs(3600),
            retention: primary,
            dr_copies: vec![DrCopy {
                region: "us-west-2".into(),
                retention: dr,
                vault: None,
            }],
            hooks: Hooks::default(),
            tags: Default::default(),
            target: Target::AuroraCluster {
                cluster_identifier: "wp".into(),
                pitr_days: 7,
            },
            source: PolicySource {
                path: "db.toml".into(),
                content_hash: "h".into(),
                body: String::new(),
            },
        }
    }

    fn point(id: i64, region: &str, day: u32, state: PointState, managed: bool) -> RecoveryPoint {
        let t = Utc.with_ymd_and_hms(2026, 11, day, 0, 0, 0).unwrap();
        RecoveryPoint {
            managed,
            ..crate::domain::testkit::aurora_point(id, "db", region, t, state)
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
    }

    fn action_of(d: &[Decision], id: i64) -> (Action, String) {
        let d = d
            .iter()
            .find(|d| d.point_id == id)
            .unwrap_or_else(|| panic!("no decision for {id}"));
        (d.action, d.reasons.join("; "))
    }

    #[test]
    fn the_newest_point_survives_rules_that_keep_nothing_of_it() {
        // Only `within 1d`, and the only point is ten days old: the guard keeps it.
        let within = Retention {
            within: Some(std::time::Duration::from_secs(86_400)),
            ..Retention::default()
        };
        let p = policy(within.clone(), within);
        let pts = vec![point(1, "us-east-1", 18, PointState::Available, true)];
        let d = prune_plan(&p, "us-east-1", &pts, &Guards::default(), now());
        let (a, why) = action_of(&d, 1);
        assert_eq!(a, Action::Keep);
        assert!(
            why.contains("guard: newest available point in us-east-1"),
            "{why}"
        );
    }

    #[test]
    fn rules_per_region_and_every_guard() {
        let p = policy(
            Retention {
                keep_last: Some(2),
                ..Retention::default()
            },
            Retention {
                keep_last: Some(1),
                ..Retention::default()
            },
        );
        let pts = vec![
            point(1, "us-east-1", 20, PointState::Available, true),
            point(2, "us-east-1", 21, PointState::Available, true),
            point(3, "us-east-1", 22, PointState::Available, false), // untagged
            point(4, "us-east-1", 23, PointState::Available, true),
            point(5, "us-east-1", 24, PointState::Failed, true),
            point(6, "us-east-1", 25, PointState::Available, true),
            point(7, "us-east-1", 27, PointState::Creating, true),
            point(10, "us-west-2", 20, PointState::Available, true),
            point(11, "us-west-2", 25, PointState::Available, true),
            point(12, "us-west-2", 26, PointState::Deleted, true),
        ];
        let mut guards = Guards::default();
        guards
            .held_points
            .insert(1, "hold 9: before plugin update".into());
        guards.planned.insert(10, "rp-1".into());
        let d = prune_plan(&p, "us-east-1", &pts, &guards, now());
        let want = [
            (1, Action::Keep, "on hold (hold 9: before plugin update)"),
            (2, Action::Remove, "no keep rule matches"),
            (3, Action::Keep, "not created by wpbackup"),
            (4, Action::Keep, "keep_last 2/2"),
            (5, Action::Remove, "failed point"),
            (6, Action::Keep, "newest available point in us-east-1"),
            (7, Action::Keep, "still creating"),
            (10, Action::Keep, "unfinished restore plan rp-1"),
            (11, Action::Keep, "keep_last 1/1"),
        ];
        for (id, action, why) in want {
            let (a, reasons) = action_of(&d, id);
            assert_eq!(a, action, "point {id}: {reasons}");
            assert!(reasons.contains(why), "point {id}: {reasons}");
        }
        assert!(
            d.iter().all(|d| d.point_id != 12),
            "deleted points are not decided again"
        );
        // A component hold keeps everything.
        let mut guards = Guards::default();
        guards
            .held_components
            .insert(("shop".into(), "db".into()), "incident".into());
        let d = prune_plan(&p, "us-east-1", &pts, &guards, now());
        assert!(d.iter().all(|d| d.action == Action::Keep), "{d:#?}");
    }
}
