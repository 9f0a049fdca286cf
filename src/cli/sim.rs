//! `wpbackup sim …`: drive the simulator (faults, settings) for drills and tests.

use super::{Cli, CliResult};
use crate::cloud::sim::{FaultKind, FaultOp, SimResourceSettings};
use crate::exit;

#[derive(clap::Subcommand, Debug)]
pub enum SimCommand {
    /// Inject a fault into the simulated cloud.
    Fault(FaultArgs),
    /// List injected faults.
    Faults,
    /// Remove every injected fault.
    ClearFaults,
    /// Change a simulated resource's live settings (versioning, replication, …).
    Set(SetArgs),
    /// Take a snapshot outside wpbackup (untagged), as a console click would.
    SnapshotByHand(ComponentArgs),
    /// Damage a live component now (a defacement, a bad plugin, a changed DB row): its
    /// content changes from now on; buckets also get objects overwritten.
    Damage(DamageArgs),
    /// Make the site's health checks answer this HTTP status (a broken restored site).
    Health {
        #[arg(long)]
        site: String,
        #[arg(long)]
        status: u16,
        /// Only through the public address (the restored instance asked directly still
        /// answers as before): a failure after the cutover.
        #[arg(long)]
        public: bool,
    },
    /// What a component's live resource holds now, or at --at (content summary + digest).
    Content {
        #[arg(long)]
        site: String,
        #[arg(long)]
        component: String,
        #[arg(long)]
        at: Option<String>,
    },
    /// Delete a point behind wpbackup's back, as a console click would.
    DeletePoint {
        /// The point's provider id (see `points`).
        provider_id: String,
        /// An AMI: deregister it but keep its EBS snapshots (the console's default).
        #[arg(long)]
        keep_snapshots: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct ComponentArgs {
    #[arg(long)]
    pub site: String,
    #[arg(long)]
    pub component: String,
    /// Region (default: the site's primary region).
    #[arg(long)]
    pub region: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct DamageArgs {
    #[arg(long)]
    pub site: String,
    #[arg(long)]
    pub component: String,
    /// What happened (recorded in the content).
    #[arg(long, default_value = "defaced")]
    pub what: String,
    /// Buckets: how many objects to overwrite.
    #[arg(long, default_value_t = 5)]
    pub objects: usize,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum FaultChoice {
    /// Calls fail as throttled (retried with backoff).
    Throttle,
    /// Calls fail with a transient 5xx (retried).
    Transient,
    /// Calls fail as access denied.
    AccessDenied,
    /// Calls are slowed by --latency-ms.
    Latency,
    /// The point is created but ends `failed`.
    FailPoint,
    /// The call panics (as a bug would): its component's run fails, its siblings' do not.
    Panic,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OpChoice {
    Create,
    Describe,
    Copy,
    Delete,
    Any,
}

#[derive(clap::Args, Debug)]
pub struct FaultArgs {
    /// The fault to inject.
    #[arg(value_enum)]
    pub kind: FaultChoice,
    /// Site of the component (needed with --component).
    #[arg(long)]
    pub site: Option<String>,
    /// Only this component's resource (default: every resource).
    #[arg(long)]
    pub component: Option<String>,
    /// Which calls it affects.
    #[arg(long, value_enum, default_value_t = OpChoice::Any)]
    pub op: OpChoice,
    /// How many calls it affects (default: until cleared).
    #[arg(long)]
    pub times: Option<u32>,
    #[arg(long, default_value_t = 1000)]
    pub latency_ms: u64,
    /// With `throttle`: only this share of the matching calls (1–100 %), spread evenly — a
    /// service under sustained rate limiting.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub percent: Option<u8>,
}

#[derive(clap::Args, Debug)]
pub struct SetArgs {
    #[arg(long)]
    pub site: String,
    #[arg(long)]
    pub component: String,
    #[arg(long)]
    pub versioning: Option<bool>,
    #[arg(long)]
    pub replication: Option<bool>,
    #[arg(long)]
    pub replicate_delete_markers: Option<bool>,
    #[arg(long)]
    pub backup_retention_days: Option<u32>,
    #[arg(long)]
    pub auto_snapshot: Option<bool>,
    /// EFS: whether the backup vault is locked.
    #[arg(long)]
    pub vault_lock: Option<bool>,
}

pub async fn run(cli: &Cli, cmd: &SimCommand) -> CliResult {
    let config = super::load_config(&cli.config)?;
    let catalog = crate::catalog::Catalog::connect(&config.catalog, true).await?;
    let engine = crate::engine::Engine::new(config, catalog);
    let sim = engine.sim();
    // Components as served now (a restore may have adopted other resources).
    let mut served = std::collections::BTreeMap::new();
    for s in &engine.config.sites {
        served.insert(s.name.clone(), engine.site_as_served(&s.name).await?);
    }
    let resource_of = |site: &str, component: &str| -> Result<String, super::Failure> {
        engine.site(site)?;
        let s = &served[site];
        let p = s.policy(component).ok_or_else(|| {
            super::usage(format!(
                "site {site} has no component {component:?}; known: {}",
                s.policies
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        Ok(p.target.resource_id().to_string())
    };
    match cmd {
        SimCommand::Fault(a) => {
            let resource = match (&a.site, &a.component) {
                (Some(s), Some(c)) => Some(resource_of(s, c)?),
                (None, Some(_)) => return Err(super::usage("--component needs --site")),
                _ => None,
            };
            if a.percent.is_some() && !matches!(a.kind, FaultChoice::Throttle) {
                return Err(super::usage("--percent applies to `throttle` faults only"));
            }
            let kind = match a.kind {
                FaultChoice::Throttle => match a.percent {
                    Some(percent) => FaultKind::ThrottleShare { percent, calls: 0 },
                    None => FaultKind::Throttle,
                },
                FaultChoice::Transient => FaultKind::Transient,
                FaultChoice::AccessDenied => FaultKind::AccessDenied,
                FaultChoice::Latency => FaultKind::Latency {
                    millis: a.latency_ms,
                },
                FaultChoice::FailPoint => FaultKind::FailPoint,
                FaultChoice::Panic => FaultKind::Panic,
            };
            let op = match a.op {
                OpChoice::Create => FaultOp::Create,
                OpChoice::Describe => FaultOp::Describe,
                OpChoice::Copy => FaultOp::Copy,
                OpChoice::Delete => FaultOp::Delete,
                OpChoice::Any => FaultOp::Any,
            };
            let fault = sim.add_fault(resource, op, kind, a.times)?;
            if cli.json {
                super::print_json(&fault);
            } else {
                println!("injected fault {}: {:?}", fault.id, fault);
            }
        }
        SimCommand::Faults => {
            let faults = sim.faults()?;
            if cli.json {
                super::print_json(&serde_json::json!({ "faults": faults }));
            } else {
                for f in &faults {
                    println!("{}: {:?}", f.id, f);
                }
                println!("{} fault(s)", faults.len());
            }
        }
        SimCommand::ClearFaults => {
            let n = sim.clear_faults()?;
            if cli.json {
                super::print_json(&serde_json::json!({ "cleared": n }));
            } else {
                println!("cleared {n} fault(s)");
            }
        }
        SimCommand::SnapshotByHand(a) => {
            let site = engine.site(&a.site)?;
            let policy = site.policy(&a.component).ok_or_else(|| {
                super::usage(format!(
                    "site {} has no component {:?}",
                    a.site, a.component
                ))
            })?;
            let region = a.region.clone().unwrap_or_else(|| site.region.clone());
            let name = format!(
                "manual-{}-{}",
                a.component,
                chrono::Utc::now().format("%Y%m%d%H%M%S")
            );
            let id = sim.add_unmanaged_point(&policy.target, &region, &name)?;
            if cli.json {
                super::print_json(
                    &serde_json::json!({ "provider_id": id, "name": name, "region": region }),
                );
            } else {
                println!("took {name} ({id}) in {region}, untagged");
            }
        }
        SimCommand::DeletePoint {
            provider_id,
            keep_snapshots,
        } => {
            let removed = sim.remove_point_out_of_band(provider_id, *keep_snapshots)?;
            if !removed {
                return Err(super::usage(format!(
                    "the simulator has no point {provider_id:?}"
                )));
            }
            if cli.json {
                super::print_json(&serde_json::json!({ "deleted": provider_id }));
            } else {
                println!("deleted {provider_id} behind wpbackup's back");
            }
        }
        SimCommand::Damage(a) => {
            let resource = resource_of(&a.site, &a.component)?;
            let kind = engine
                .site(&a.site)?
                .policy(&a.component)
                .map(|p| p.kind)
                .expect("checked");
            let d = sim.damage(kind, &resource, &a.what, a.objects)?;
            if cli.json {
                super::print_json(&d);
            } else {
                println!("{resource} damaged at {}: {}", d.at.to_rfc3339(), d.what);
            }
        }
        SimCommand::Health {
            site,
            status,
            public,
        } => {
            let s = engine.site(site)?;
            let host = crate::domain::restore_plan::host_of(&s.health_check.url).to_string();
            sim.set_health(&host, *status, *public)?;
            if cli.json {
                super::print_json(
                    &serde_json::json!({ "host": host, "status": status, "public_only": public }),
                );
            } else if *public {
                println!("health checks of {host} through the public address now answer {status}");
            } else {
                println!("health checks of {host} now answer {status}");
            }
        }
        SimCommand::Content {
            site,
            component,
            at,
        } => {
            let resource = resource_of(site, component)?;
            let s = engine.site(site)?;
            let kind = s.policy(component).map(|p| p.kind).expect("checked");
            let now = chrono::Utc::now();
            let at = match at {
                Some(a) => crate::domain::time::parse_instant(a, now, s.timezone)?,
                None => now,
            };
            // Now: what the site serves (after a restore, the restored cluster or the
            // instance behind the address); at a past instant: the live resource then.
            // A past instant before a restore adopted the resource: the one that served then.
            let adopted_since = engine
                .catalog
                .serving(site)
                .await?
                .into_iter()
                .find(|a| a.component == *component)
                .map(|a| a.since);
            let (resource, content) = if at == now {
                let c = sim
                    .serving_content(kind, &s.entry_point, &s.region, &resource)
                    .await?;
                (resource, c)
            } else if adopted_since.is_some_and(|since| since <= at) {
                let c = match sim.resource_content(kind, &s.region, &resource)? {
                    Some(c) => c,
                    None => sim.content_at(kind, &resource, at)?,
                };
                (resource, c)
            } else {
                let configured = s
                    .policy(component)
                    .map(|p| p.target.resource_id().to_string())
                    .unwrap_or_else(|| resource.clone());
                let c = sim.content_at(kind, &configured, at)?;
                (configured, c)
            };
            let objects = match kind {
                crate::domain::model::ComponentKind::S3Bucket => {
                    Some(sim.bucket_state(&resource, at).await?)
                }
                _ => None,
            };
            if cli.json {
                super::print_json(&serde_json::json!({
                    "resource": resource, "at": at, "content": content, "objects": objects,
                }));
            } else {
                println!(
                    "{resource} at {}: {} (digest {})",
                    at.to_rfc3339(),
                    content.summary,
                    content.digest
                );
            }
        }
        SimCommand::Set(a) => {
            let resource = resource_of(&a.site, &a.component)?;
            let mut s: SimResourceSettings = sim.settings(&resource)?;
            if let Some(v) = a.versioning {
                s.versioning = v;
            }
            if let Some(v) = a.replication {
                s.replication = v;
            }
            if let Some(v) = a.replicate_delete_markers {
                s.replicate_delete_markers = v;
            }
            if let Some(v) = a.backup_retention_days {
                s.backup_retention_days = v;
            }
            if let Some(v) = a.auto_snapshot {
                s.auto_snapshot = v;
            }
            if let Some(v) = a.vault_lock {
                s.vault_lock = v;
            }
            sim.set_settings(&resource, s.clone())?;
            if cli.json {
                super::print_json(&s);
            } else {
                println!("{resource}: {s:?}");
            }
        }
    }
    engine.catalog.close().await;
    Ok(exit::OK)
}
