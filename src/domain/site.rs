//! Site configuration (validated; see `config::site` for the file format).

use super::policy::Policy;
use chrono_tz::Tz;
use std::path::PathBuf;
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
    pub timeout: Duration,
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
}

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub catalog_path: PathBuf,
    pub sim: SimSettings,
    pub sites: Vec<Site>,
}

impl Config {
    pub fn site(&self, name: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.name == name)
    }
}
