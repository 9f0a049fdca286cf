//! "As of T" selection: the newest available point with point-time ≤ T, per component
//! and region, with the data-loss gap (T − point time) stated.

use super::model::{ObjectVersion, PointState, RecoveryPoint};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Selected<'a> {
    pub point: &'a RecoveryPoint,
    /// How much would be lost restoring from this point to T.
    pub gap: Duration,
}

/// For each (site, component, region), the point that would be chosen as of `at`.
pub fn select_as_of(
    points: &[RecoveryPoint],
    at: DateTime<Utc>,
) -> BTreeMap<(String, String, String), Selected<'_>> {
    let mut out: BTreeMap<(String, String, String), Selected<'_>> = BTreeMap::new();
    for p in points {
        if p.state != PointState::Available || p.metadata.time_unknown || p.point_time > at {
            continue;
        }
        let key = (p.site.clone(), p.component.clone(), p.region.clone());
        let better = out
            .get(&key)
            .is_none_or(|cur| (p.point_time, p.id) > (cur.point.point_time, cur.point.id));
        if better {
            out.insert(
                key,
                Selected {
                    point: p,
                    gap: at - p.point_time,
                },
            );
        }
    }
    out
}

/// Each key's state as of `at`: the version current then, or `None` when the key did not
/// exist (never written yet, or its newest entry at T is a delete marker).
///
/// `versions` must be in S3's list order — per key, newest first. `LastModified` has
/// one-second resolution, so several entries can share a second; list order breaks the tie
/// (the first listed of those is the newest).
pub fn objects_as_of(
    versions: &[ObjectVersion],
    at: DateTime<Utc>,
) -> BTreeMap<String, Option<ObjectVersion>> {
    let mut out: BTreeMap<String, Option<ObjectVersion>> = BTreeMap::new();
    for v in versions {
        let entry = out.entry(v.key.clone()).or_insert(None);
        if entry.is_some() || v.last_modified > at {
            continue;
        }
        // The newest entry at or before T decides, even a delete marker (the key is then
        // absent as of T; older versions must not resurrect it).
        *entry = Some(v.clone());
    }
    out.into_iter()
        .map(|(k, v)| (k, v.filter(|v| !v.is_delete_marker)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn point(id: i64, comp: &str, region: &str, hour: u32, state: PointState) -> RecoveryPoint {
        let t = Utc.with_ymd_and_hms(2026, 11, 27, hour, 0, 0).unwrap();
        crate::domain::testkit::aurora_point(id, comp, region, t, state)
    }

    #[test]
    fn newest_available_at_or_before_t_per_region() {
        let pts = vec![
            point(1, "db", "us-east-1", 6, PointState::Available),
            point(2, "db", "us-east-1", 12, PointState::Available),
            point(3, "db", "us-east-1", 13, PointState::Failed),
            point(4, "db", "us-east-1", 18, PointState::Available),
            point(5, "db", "us-west-2", 6, PointState::Available),
        ];
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 14, 5, 0).unwrap();
        let sel = select_as_of(&pts, at);
        let east = &sel[&("shop".into(), "db".into(), "us-east-1".into())];
        assert_eq!(east.point.id, 2);
        assert_eq!(east.gap, Duration::minutes(125));
        let west = &sel[&("shop".into(), "db".into(), "us-west-2".into())];
        assert_eq!(west.point.id, 5);
        // Before the first point: nothing to choose.
        let early = Utc.with_ymd_and_hms(2026, 11, 27, 5, 0, 0).unwrap();
        assert!(select_as_of(&pts, early).is_empty());
    }

    /// A point whose time the cloud did not give (its time is the epoch) holds no known
    /// instant: never chosen, whatever T.
    #[test]
    fn a_point_without_a_known_time_is_never_chosen() {
        let mut undated = point(1, "db", "us-east-1", 6, PointState::Available);
        undated.point_time = DateTime::UNIX_EPOCH;
        undated.metadata.time_unknown = true;
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 14, 5, 0).unwrap();
        assert!(select_as_of(std::slice::from_ref(&undated), at).is_empty());
        let both = [
            undated,
            point(2, "db", "us-east-1", 6, PointState::Available),
        ];
        let sel = select_as_of(&both, at);
        assert_eq!(
            sel[&("shop".into(), "db".into(), "us-east-1".into())]
                .point
                .id,
            2
        );
    }
}

#[cfg(test)]
mod object_tests {
    use super::*;
    use chrono::TimeZone;

    fn v(key: &str, id: &str, sec: u32, marker: bool) -> ObjectVersion {
        ObjectVersion {
            key: key.into(),
            version_id: id.into(),
            last_modified: Utc.with_ymd_and_hms(2026, 11, 27, 14, 0, sec).unwrap(),
            is_delete_marker: marker,
            is_latest: false,
        }
    }

    fn at(sec: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 14, 0, sec).unwrap()
    }

    #[test]
    fn version_current_at_t() {
        // Newest first per key, as S3 lists them.
        let list = vec![
            v("a.jpg", "a3", 30, false),
            v("a.jpg", "a2", 20, false),
            v("a.jpg", "a1", 10, false),
        ];
        let got = |t| {
            objects_as_of(&list, at(t))["a.jpg"]
                .as_ref()
                .map(|v| v.version_id.clone())
        };
        assert_eq!(got(25).as_deref(), Some("a2"));
        assert_eq!(got(20).as_deref(), Some("a2"), "inclusive at T");
        assert_eq!(got(59).as_deref(), Some("a3"));
        assert_eq!(
            got(5),
            None,
            "before the first version the key did not exist"
        );
    }

    #[test]
    fn delete_markers_hide_older_versions() {
        let list = vec![
            v("b.jpg", "b3", 40, false),
            v("b.jpg", "dm", 30, true),
            v("b.jpg", "b1", 10, false),
        ];
        assert_eq!(objects_as_of(&list, at(35))["b.jpg"], None, "deleted at T");
        assert_eq!(
            objects_as_of(&list, at(15))["b.jpg"]
                .as_ref()
                .unwrap()
                .version_id,
            "b1"
        );
        assert_eq!(
            objects_as_of(&list, at(45))["b.jpg"]
                .as_ref()
                .unwrap()
                .version_id,
            "b3"
        );
    }

    #[test]
    fn same_second_versions_are_ordered_by_listing() {
        let list = vec![
            v("c.jpg", "c-newer", 20, false),
            v("c.jpg", "c-older", 20, false),
            v("c.jpg", "c0", 10, false),
        ];
        assert_eq!(
            objects_as_of(&list, at(20))["c.jpg"]
                .as_ref()
                .unwrap()
                .version_id,
            "c-newer"
        );
        // A delete marker listed first within the same second wins too.
        let list = vec![v("d.jpg", "dm", 20, true), v("d.jpg", "d1", 20, false)];
        assert_eq!(objects_as_of(&list, at(20))["d.jpg"], None);
    }
}
