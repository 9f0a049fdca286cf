//! "As of T" selection: the newest available point with point-time ≤ T, per component
//! and region, with the data-loss gap (T − point time) stated.

use super::model::{PointState, RecoveryPoint};
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
        if p.state != PointState::Available || p.point_time > at {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{ComponentKind, PointKind, RestoreMetadata};
    use chrono::TimeZone;

    fn point(id: i64, comp: &str, region: &str, hour: u32, state: PointState) -> RecoveryPoint {
        let t = Utc.with_ymd_and_hms(2026, 11, 27, hour, 0, 0).unwrap();
        RecoveryPoint {
            id,
            site: "shop".into(),
            component: comp.into(),
            component_kind: ComponentKind::AuroraCluster,
            kind: PointKind::AuroraClusterSnapshot,
            region: region.into(),
            name: format!("p{id}"),
            provider_id: format!("p{id}"),
            arn: None,
            point_time: t,
            state,
            source_point_id: None,
            run_id: None,
            managed: true,
            metadata: RestoreMetadata::default(),
            failure_reason: None,
            created_at: t,
            completed_at: Some(t),
        }
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
}
