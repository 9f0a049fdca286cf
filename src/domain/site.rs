//! Site configuration (validated; see `config::site` for the file format).

use super::policy::Policy;
use chrono_tz::Tz;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Aws,
    Sim,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Sim => "sim",
        }
    }
}

/// The public address that keeps DNS pointing at the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryPoint {
    LightsailStaticIp {
        name: String,
    },
    Ec2ElasticIp {
        allocation_id: String,
    },
    /// The ALB listener in front of an Auto Scaling web tier: the cutover switches where it
    /// forwards.
    AlbListener {
        listener_arn: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// The public URL, e.g. `https://www.example.com/wp-login.php`.
    pub url: String,
    pub expect_status: u16,
    /// Each GET's time limit.
    pub timeout: Duration,
    /// How many GETs before the check fails (default [`DEFAULT_HEALTH_ATTEMPTS`]).
    pub attempts: u32,
    /// The pause between them; `None`: the provider's wait interval (15 s on AWS).
    pub interval: Option<Duration>,
}

/// `[sites.health_check] attempts` when not set.
pub const DEFAULT_HEALTH_ATTEMPTS: u32 = 10;

/// How drills (and staging copies) are isolated (`[sites.drill]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrillSettings {
    /// Where wpbackup's health check reaches a drill's web tier from: CIDR blocks and
    /// `sg-…` security groups, let in on the health-check URL's port only.
    pub health_check_from: Vec<String>,
}

/// The DR region's networking (`[sites.dr_network]`): what `restore --to dr` creates its
/// resources in — the primary region's subnets and security groups do not exist there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrNetwork {
    /// Subnets in the DR region: the restored web server launches in the first, a restored
    /// file system gets a mount target in each.
    pub subnets: Vec<String>,
    /// The restored web server's security groups.
    pub security_group_ids: Vec<String>,
    /// The restored cluster's DB subnet group.
    pub db_subnet_group: Option<String>,
    pub db_security_group_ids: Vec<String>,
    /// The restored file system's mount targets' security groups.
    pub file_system_security_group_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    pub profile: Option<String>,
    pub assume_role_arn: Option<String>,
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Site {
    pub name: String,
    pub provider: Provider,
    pub region: String,
    pub dr_region: String,
    /// Zone for times typed without one on the command line.
    pub timezone: Tz,
    pub policies_dir: PathBuf,
    pub entry_point: EntryPoint,
    pub health_check: HealthCheck,
    pub drill: DrillSettings,
    pub dr_network: DrNetwork,
    /// The CloudFront distribution in front of the site, if any: a restore that reverts
    /// objects invalidates their paths.
    pub cloudfront_distribution_id: Option<String>,
    pub aws: AwsSettings,
    /// Parameters of the audit's controls (`[sites.audit]`).
    pub audit: crate::domain::audit::AuditParams,
    pub policies: Vec<Policy>,
}

impl Site {
    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct SimSettings {
    /// Persistent simulator state; defaults to `<catalog>.sim.json` beside the catalog.
    pub state_file: PathBuf,
    /// How long a new point stays `creating`.
    pub creating_for: Duration,
    /// How often the engine polls a `creating` point.
    pub poll_interval: Duration,
    /// `[sim.restore_durations]`: how long restored resources of a kind take to become
    /// ready (the others: `creating_for`).
    pub restore_durations: std::collections::BTreeMap<String, Duration>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub catalog: CatalogLocation,
    /// `[limits]`: at most this many runs at once per AWS service (key: a
    /// [`ComponentKind::service`](super::model::ComponentKind::service)); absent: no limit
    /// beyond the run concurrency.
    pub limits: std::collections::BTreeMap<String, usize>,
    pub sim: SimSettings,
    pub sites: Vec<Site>,
}

impl Config {
    pub fn site(&self, name: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.name == name)
    }
}

/// Where the catalog is: a SQLite file, or a PostgreSQL database.
#[derive(Clone, PartialEq, Eq)]
pub enum CatalogLocation {
    Sqlite(PathBuf),
    /// A `postgres://` (or `postgresql://`) URL without a password.
    Postgres(String),
    /// A catalog in this process's memory, by name: what `simulate` runs on. Never read
    /// from a configuration; gone with the last handle to it.
    Memory(String),
}

impl CatalogLocation {
    /// `postgres://…` and `postgresql://…` name a PostgreSQL catalog; anything else is a
    /// SQLite file (relative paths from `base`, the configuration's directory). A URL that
    /// carries a password is refused: the configuration file would hold a credential.
    pub fn parse(value: &str, base: &Path) -> Result<Self, String> {
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            let url = url::Url::parse(value)
                .map_err(|e| format!("not a valid PostgreSQL URL ({e}); e.g. \"postgres://wpbackup@db.internal/wpbackup?sslmode=verify-full\""))?;
            if url.password().is_some() {
                return Err("the URL carries a password; remove it and give the password in PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass), so that it is never in the configuration, logs or reports".into());
            }
            Ok(Self::Postgres(value.to_string()))
        } else if value.contains("://") {
            Err("expected a SQLite file path (e.g. \"wpbackup.db\") or a postgres:// URL".into())
        } else {
            Ok(Self::Sqlite(base.join(value)))
        }
    }

    /// A URL as it may be shown: any password replaced by `***`.
    pub fn redact(url: &str) -> String {
        match url::Url::parse(url) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(u) => u.to_string(),
            Err(_) => "(an unparsable URL)".to_string(),
        }
    }

    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Self::Sqlite(p) => Some(p),
            Self::Postgres(_) | Self::Memory(_) => None,
        }
    }
}

impl fmt::Display for CatalogLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "{}", p.display()),
            Self::Postgres(url) => f.write_str(&Self::redact(url)),
            Self::Memory(name) => write!(f, "memory:{name}"),
        }
    }
}

impl fmt::Debug for CatalogLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CatalogLocation({self})")
    }
}
