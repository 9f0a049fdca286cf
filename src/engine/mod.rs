//! Orchestration: runs policies against a site's cloud and records everything in the
//! catalog. Time comes from an injected clock; waiting goes through an injected sleeper.

pub mod audit;
pub mod hooks;
pub mod prune;
pub mod restore;
pub mod run;
pub mod scheduler;
pub mod simulate;
pub mod status;
pub mod sync;

use crate::catalog::{Catalog, CatalogError};
use crate::cloud::aws::AwsCloud;
use crate::cloud::retry::{RetryPolicy, Retrying};
use crate::cloud::sim::SimCloud;
use crate::cloud::Cloud;
use crate::domain::site::{Config, Provider, Site};
use crate::domain::time::{Clock, SystemClock};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("no site named {0:?} in the configuration; known sites: {1}")]
    UnknownSite(String, String),
    #[error("no policy named {0:?}; known policies: {1}")]
    UnknownPolicy(String, String),
}

/// Live progress of a long command — a terminal display, plain lines on stderr, or
/// nothing (the daemon, `--json`): one key per unit of work (`site/component` of a run or
/// a prune, a plan's step), and its events as they happen.
pub trait Progress: Send + Sync {
    /// `key` started; `what` says what it does.
    fn started(&self, key: &str, what: &str);
    /// What `key` is doing or waiting for now.
    fn note(&self, key: &str, note: &str);
    /// `key` ended after `seconds`: `ok`, or not, with a one-line summary.
    fn finished(&self, key: &str, ok: bool, seconds: f64, summary: &str);
}

/// No progress shown.
pub struct Silent;

impl Progress for Silent {
    fn started(&self, _: &str, _: &str) {}
    fn note(&self, _: &str, _: &str) {}
    fn finished(&self, _: &str, _: bool, _: f64, _: &str) {}
}

/// How the engine waits (real time, or virtual time in tests and `simulate`).
#[async_trait]
pub trait Sleeper: Send + Sync {
    async fn sleep(&self, d: Duration);
    /// Sleeping is what moves the clock (virtual time): only one task may sleep, or time
    /// runs at the sum of their sleeps.
    fn moves_clock(&self) -> bool {
        false
    }
}

pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// Sleeping advances a manual clock instead of waiting: simulated hours pass instantly.
pub struct VirtualSleeper(pub Arc<crate::domain::time::ManualClock>);

#[async_trait]
impl Sleeper for VirtualSleeper {
    async fn sleep(&self, d: Duration) {
        self.0.advance(d);
        tokio::task::yield_now().await;
    }
    fn moves_clock(&self) -> bool {
        true
    }
}

/// What the engine works with: the configuration, catalog, clock, and how to wait.
#[derive(Clone)]
pub struct Engine {
    pub config: Arc<Config>,
    pub catalog: Catalog,
    pub clock: Arc<dyn Clock>,
    pub sleeper: Arc<dyn Sleeper>,
    /// Override of the poll interval (otherwise per provider).
    pub poll_interval: Option<Duration>,
    clouds: Arc<tokio::sync::Mutex<HashMap<String, Cloud>>>,
    /// In-memory simulator state (`simulate`); `None`: the state file beside the catalog.
    pub sim_memory: Option<crate::cloud::sim::SimMemory>,
    /// `[limits]`: one semaphore per limited service, shared by every run of this engine.
    service_limits: Arc<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    /// Where runs and prunes report their progress (the CLI's display; [`Silent`]).
    pub progress: Arc<dyn Progress>,
}

impl Engine {
    pub fn new(config: Config, catalog: Catalog) -> Self {
        let service_limits = config
            .limits
            .iter()
            .map(|(service, n)| {
                (
                    service.clone(),
                    Arc::new(tokio::sync::Semaphore::new((*n).max(1))),
                )
            })
            .collect();
        Self {
            service_limits: Arc::new(service_limits),
            config: Arc::new(config),
            catalog,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            poll_interval: None,
            clouds: Arc::default(),
            sim_memory: None,
            progress: Arc::new(Silent),
        }
    }

    pub fn site(&self, name: &str) -> Result<&Site, EngineError> {
        self.config.site(name).ok_or_else(|| {
            EngineError::UnknownSite(
                name.to_string(),
                self.config
                    .sites
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })
    }

    /// The site as it is served now: each component whose resource a restore replaced
    /// (see [`Catalog::serving`]) protects the adopted resource instead of the one its
    /// policy names. Runs, audits, sync and restores work on this.
    pub async fn site_as_served(&self, name: &str) -> Result<Site, EngineError> {
        let mut site = self.site(name)?.clone();
        for a in self.catalog.serving(name).await? {
            if let Some(p) = site.policies.iter_mut().find(|p| p.name == a.component) {
                p.target = p.target.with_resource(&a.resource_id);
            }
        }
        Ok(site)
    }

    /// The simulator behind this configuration (for fault injection and content checks).
    pub fn sim(&self) -> SimCloud {
        if let Some(m) = &self.sim_memory {
            return SimCloud::in_memory(
                m.clone(),
                self.clock.clone(),
                self.config.sim.creating_for,
            )
            .with_restore_durations(self.config.sim.restore_durations.clone());
        }
        SimCloud::new(
            &self.config.sim.state_file,
            self.clock.clone(),
            self.config.sim.creating_for,
        )
        .with_restore_durations(self.config.sim.restore_durations.clone())
    }

    /// The ports for one site's provider (built once per site and reused).
    pub async fn cloud_for(&self, site: &Site) -> Result<Cloud, EngineError> {
        let mut cache = self.clouds.lock().await;
        if let Some(c) = cache.get(&site.name) {
            return Ok(c.clone());
        }
        let cloud = match site.provider {
            Provider::Sim => {
                let web = site.policies.iter().find_map(|p| match &p.target {
                    crate::domain::policy::Target::Ec2Instance { instance_id, .. } => {
                        Some(instance_id.clone())
                    }
                    crate::domain::policy::Target::LightsailInstance { instance_name, .. } => {
                        Some(instance_name.clone())
                    }
                    _ => None,
                });
                if let Some(web) = web {
                    // Best effort: a simulator that cannot be written fails the first real call anyway.
                    let _ = self
                        .sim()
                        .attach_original(&site.entry_point, &site.region, &web);
                }
                if let Some(seed) = original_web_tier(site) {
                    let _ = seed(&self.sim());
                }
                // The simulator has no retry layer of its own: the decorator is the only one.
                let retry = RetryPolicy::default();
                Cloud {
                    points: Arc::new(Retrying::new(self.sim(), retry)),
                    settings: Arc::new(Retrying::new(self.sim(), retry)),
                    restores: Arc::new(Retrying::new(self.sim(), retry)),
                    probe: Arc::new(Retrying::new(self.sim(), RetryPolicy::probe())),
                    web: Arc::new(Retrying::new(self.sim(), retry)),
                    net: Arc::new(Retrying::new(self.sim(), retry)),
                    cdn: Arc::new(Retrying::new(self.sim(), retry)),
                }
            }
            Provider::Aws => {
                // The SDK retries throttling and transient errors itself (standard mode, a
                // few attempts within seconds); the decorator adds longer, jittered waits
                // over it for rate limits that outlast those attempts.
                let aws = Arc::new(AwsCloud::connect(site, self.clock.clone()).await);
                let retry = RetryPolicy::over_sdk();
                Cloud {
                    points: Arc::new(Retrying::shared(aws.clone(), retry)),
                    settings: Arc::new(Retrying::shared(aws.clone(), retry)),
                    restores: Arc::new(Retrying::shared(aws.clone(), retry)),
                    web: Arc::new(Retrying::shared(aws.clone(), retry)),
                    net: Arc::new(Retrying::shared(aws.clone(), retry)),
                    cdn: Arc::new(Retrying::shared(aws, retry)),
                    // Not retried: the health check's own attempts are what the site
                    // configured, each within its timeout.
                    probe: Arc::new(crate::cloud::probe::HttpProbe),
                }
            }
        };
        cache.insert(site.name.clone(), cloud.clone());
        Ok(cloud)
    }

    /// Use these ports for a site (tests: adapters over mock clients).
    pub async fn set_cloud(&self, site: &str, cloud: Cloud) {
        self.clouds.lock().await.insert(site.to_string(), cloud);
    }

    pub fn poll_interval_for(&self, site: &Site) -> Duration {
        self.poll_interval.unwrap_or(match site.provider {
            Provider::Sim => self.config.sim.poll_interval,
            Provider::Aws => Duration::from_secs(15),
        })
    }
}

/// The simulator's stand-in for a site's Auto Scaling web tier as the operator built it:
/// two instances behind the site's listener, booted with user data that mounts the live
/// file system and names the live database (the default template, rendered).
fn original_web_tier(
    site: &Site,
) -> Option<impl FnOnce(&SimCloud) -> crate::cloud::CloudResult<()> + '_> {
    use crate::domain::policy::Target;
    use crate::domain::site::EntryPoint;
    let EntryPoint::AlbListener { listener_arn } = &site.entry_point else {
        return None;
    };
    let (group, launch) = site.policies.iter().find_map(|p| match &p.target {
        Target::AutoScalingGroup {
            group_name, launch, ..
        } => Some((group_name, launch)),
        _ => None,
    })?;
    let mut values = std::collections::BTreeMap::new();
    values.insert("site".to_string(), site.name.clone());
    values.insert("region".to_string(), site.region.clone());
    values.insert("mount_path".to_string(), launch.mount_path.clone());
    for p in &site.policies {
        match &p.target {
            Target::Efs { file_system_id, .. } => {
                values.insert("file_system_id".to_string(), file_system_id.clone());
            }
            Target::AuroraCluster {
                cluster_identifier, ..
            } => {
                values.insert(
                    "db_endpoint".to_string(),
                    format!(
                        "{cluster_identifier}.cluster-sim.{}.rds.amazonaws.com",
                        site.region
                    ),
                );
            }
            _ => {}
        }
    }
    let template = launch.user_data.clone().unwrap_or_else(|| {
        crate::domain::wiring::default_template(
            values.contains_key("file_system_id"),
            values.contains_key("db_endpoint"),
        )
    });
    let user_data = crate::domain::wiring::render(&template, &values).ok();
    Some(move |sim: &SimCloud| {
        sim.seed_web_tier(
            &site.region,
            group,
            listener_arn,
            &format!(
                "ami-0{}",
                &crate::cloud::sim::content::digest_of(group)[..16]
            ),
            user_data,
            2,
            &["subnet-0sim0001".to_string(), "subnet-0sim0002".to_string()],
        )
    })
}
