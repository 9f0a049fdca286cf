//! Deterministic resource names and the tags that mark what wpbackup owns.
//!
//! A name is a pure function of (site, component, scheduled instant): a process that dies
//! after asking the cloud for a snapshot and is restarted asks for the same name again,
//! gets "already exists", and adopts the point instead of making a second one.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

pub const TAG_MANAGED: &str = "wpbackup:managed";
pub const TAG_SITE: &str = "wpbackup:site";
pub const TAG_COMPONENT: &str = "wpbackup:component";
pub const TAG_RUN: &str = "wpbackup:run";
pub const TAG_SCHEDULED: &str = "wpbackup:scheduled";

/// `wpb-<site>-<component>-<yyyymmdd>t<hhmm>z`: valid as a Lightsail snapshot name, an RDS
/// snapshot identifier (letter first, no double hyphen, ≤ 255) and an AMI name.
pub fn point_name(site: &str, component: &str, scheduled: DateTime<Utc>) -> String {
    format!(
        "wpb-{site}-{component}-{}",
        scheduled.format("%Y%m%dt%H%Mz")
    )
}

/// Name of a DR copy: the source name plus the destination region.
pub fn copy_name(source_name: &str, region: &str) -> String {
    format!("{source_name}-{region}")
}

/// The tags every created resource carries, plus the policy's own tags.
pub fn point_tags(
    site: &str,
    component: &str,
    run_id: i64,
    scheduled: DateTime<Utc>,
    policy_tags: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut tags = policy_tags.clone();
    tags.insert(TAG_MANAGED.into(), "true".into());
    tags.insert(TAG_SITE.into(), site.into());
    tags.insert(TAG_COMPONENT.into(), component.into());
    tags.insert(TAG_RUN.into(), run_id.to_string());
    tags.insert(
        TAG_SCHEDULED.into(),
        scheduled.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    tags
}

/// Site and component names end up inside cloud resource names, so they are restricted to
/// what every service accepts: lowercase letters, digits and single hyphens, letter first.
pub fn check_identifier(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if name.is_empty()
        || name.len() > 40
        || !ok_chars
        || !name.starts_with(|c: char| c.is_ascii_lowercase())
        || name.ends_with('-')
        || name.contains("--")
    {
        return Err(format!(
            "{name:?} is not a valid name: use 1-40 lowercase letters, digits and single hyphens, \
             starting with a letter (e.g. \"web\", \"db-main\")"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names_are_deterministic_and_service_safe() {
        let t = Utc.with_ymd_and_hms(2026, 11, 27, 14, 5, 0).unwrap();
        assert_eq!(point_name("shop", "db", t), "wpb-shop-db-20261127t1405z");
        assert_eq!(
            copy_name("wpb-shop-db-20261127t1405z", "eu-west-1"),
            "wpb-shop-db-20261127t1405z-eu-west-1"
        );
    }

    #[test]
    fn identifiers() {
        assert!(check_identifier("db-main").is_ok());
        for bad in ["", "Db", "1db", "db--x", "db-", "db_x", &"a".repeat(41)] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
    }
}
