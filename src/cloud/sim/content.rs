//! What a simulated resource *holds*, as a deterministic function of time: database rows,
//! files, bucket objects, the instance's build. A point captures the content at its point
//! time; a restore is proven right by comparing content, not by counting resources.

use crate::domain::model::ComponentKind;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The site "changes" every this many seconds (a new post, upload, plugin update…).
pub const WRITE_INTERVAL_SECS: i64 = 600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// How many writes the resource has seen.
    pub generation: u64,
    /// A human-readable description ("412 posts, 1236 comments").
    pub summary: String,
    /// Fingerprint of the whole content.
    pub digest: String,
}

fn origin() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// The content of `resource_id` (of kind `kind`) as it stood at `at`.
pub fn content_at(kind: ComponentKind, resource_id: &str, at: DateTime<Utc>) -> Content {
    let secs = (at - origin()).num_seconds().max(0);
    let generation = (secs / WRITE_INTERVAL_SECS) as u64;
    let summary = match kind {
        ComponentKind::AuroraCluster => format!(
            "wp_posts: {} rows, wp_comments: {} rows, wp_options: 312 rows",
            generation,
            generation * 3
        ),
        ComponentKind::Efs => format!(
            "{} files under wp-content/uploads, {} plugins, {} themes",
            generation * 2,
            12 + generation / 1000,
            3
        ),
        ComponentKind::S3Bucket => {
            format!("{} objects, {} versions", 50.min(generation), generation)
        }
        ComponentKind::Ec2Instance
        | ComponentKind::AutoScalingGroup
        | ComponentKind::LightsailInstance => format!(
            "WordPress 6.{}.{}, PHP 8.3, build {}",
            6 + generation / 4320,
            generation / 144 % 10,
            generation / 144
        ),
    };
    let digest = hex::encode(Sha256::digest(
        format!("{}|{resource_id}|{generation}", kind.as_str()).as_bytes(),
    ))[..16]
        .to_string();
    Content {
        generation,
        summary,
        digest,
    }
}

/// A short stable fingerprint of a string (for simulated ids).
pub fn digest_of(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_changes_with_time_and_is_reproducible() {
        let t1 = Utc.with_ymd_and_hms(2026, 11, 27, 14, 0, 0).unwrap();
        let t2 = Utc.with_ymd_and_hms(2026, 11, 27, 14, 5, 0).unwrap();
        let t3 = Utc.with_ymd_and_hms(2026, 11, 27, 14, 10, 0).unwrap();
        let k = ComponentKind::AuroraCluster;
        assert_eq!(content_at(k, "db", t1), content_at(k, "db", t2));
        assert_ne!(content_at(k, "db", t1), content_at(k, "db", t3));
        assert_ne!(
            content_at(k, "db", t1).digest,
            content_at(k, "other", t1).digest
        );
    }
}
