//! The catalog in memory: the same port as SQLite and PostgreSQL, held in one process's
//! memory and gone when it ends. What `simulate` runs on (a what-if has no reason to wait
//! for a disk, nor to hop to a database thread for each of the dozens of statements a run
//! makes), and a real double of the other two: `tests/integration/catalog_contract.rs`
//! runs the same suite against it.
//!
//! One mutex over plain tables, with the indexes the engine's reads need (a component's
//! points and runs, points by their unique key), so that every operation costs what the
//! rows it touches cost, however long the simulated history. Instants are kept to the
//! millisecond, as the SQLite catalog stores them, so that the two hand back the same
//! records.

mod audit;
mod lease;
mod points;
mod runs;

use super::{CatalogResult, CatalogStore, RestoreLock};
use crate::domain::model::{PointKind, PointState, RunPhase};
use crate::domain::restore_plan::{PlanStatus, Purpose, StepState};
use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// An instant as a catalog keeps it: to the millisecond.
pub(super) fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

pub(crate) struct MemoryCatalog {
    state: Mutex<State>,
    restores: Arc<tokio::sync::Mutex<()>>,
    sites: Mutex<HashMap<String, Arc<tokio::sync::RwLock<()>>>>,
}

/// The tables. Ids are positions plus one (rows are never removed, except the daemons',
/// the lease's and the claims', which are keyed otherwise).
#[derive(Default)]
struct State {
    identity: String,
    sites: Vec<SiteRow>,
    site_ids: HashMap<String, i64>,
    components: Vec<ComponentRow>,
    component_ids: HashMap<(i64, String), i64>,
    policies: Vec<PolicyRow>,
    policy_ids: HashMap<(i64, String), i64>,
    runs: Vec<RunRow>,
    points: Vec<PointRow>,
    point_keys: HashMap<(String, PointKind, String), i64>,
    deletions: Vec<DeletionRow>,
    holds: Vec<HoldRow>,
    plans: Vec<PlanRow>,
    plan_ids: HashMap<String, usize>,
    steps: Vec<StepRow>,
    plan_points: BTreeSet<(String, i64)>,
    audits: Vec<AuditRow>,
    lease: Option<LeaseRow>,
    serving: Vec<super::Adoption>,
    daemons: BTreeMap<String, DaemonRow>,
    claims: BTreeMap<(i64, DateTime<Utc>), ClaimRow>,
}

struct SiteRow {
    name: String,
    /// Its primary region (the newest configuration's): where `/metrics` looks for its
    /// newest points.
    region: String,
}

struct ComponentRow {
    site_id: i64,
    name: String,
    kind: crate::domain::model::ComponentKind,
    /// Ids of its points and runs, ascending.
    points: Vec<i64>,
    /// Ids of its points that are not deleted, ascending.
    live_points: BTreeSet<i64>,
    runs: Vec<i64>,
}

struct PolicyRow {
    content_hash: String,
}

struct RunRow {
    component_id: i64,
    policy_id: i64,
    trigger: String,
    scheduled_for: DateTime<Utc>,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    phase: RunPhase,
    outcome: super::RunOutcome,
    pid: Option<i64>,
}

struct PointRow {
    component_id: i64,
    run_id: Option<i64>,
    kind: PointKind,
    region: String,
    name: String,
    provider_id: String,
    arn: Option<String>,
    point_time: DateTime<Utc>,
    state: PointState,
    source_point_id: Option<i64>,
    managed: bool,
    metadata: crate::domain::model::RestoreMetadata,
    failure_reason: Option<String>,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    deleted_at: Option<DateTime<Utc>>,
}

struct DeletionRow {
    point_id: i64,
    requested_at: DateTime<Utc>,
    reason: String,
    outcome: &'static str,
    error: Option<String>,
}

struct HoldRow {
    point_id: Option<i64>,
    component_id: i64,
    reason: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    released_at: Option<DateTime<Utc>>,
}

struct PlanRow {
    id: String,
    site_id: i64,
    purpose: Purpose,
    target_time: DateTime<Utc>,
    to_region: String,
    plan_json: String,
    status: PlanStatus,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

struct StepRow {
    plan_id: String,
    key: String,
    depends_on: Vec<String>,
    state: StepState,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    outputs: serde_json::Map<String, serde_json::Value>,
    error: Option<String>,
    attempts: i64,
}

struct AuditRow {
    site_id: Option<i64>,
    as_of: DateTime<Utc>,
    created_at: DateTime<Utc>,
    status: crate::domain::audit::Status,
    /// The report as stored (without its timelines), JSON as the other catalogs keep it.
    report: String,
}

#[derive(Clone)]
struct LeaseRow {
    holder: String,
    pid: i64,
    acquired_at: DateTime<Utc>,
    heartbeat_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl LeaseRow {
    fn record(&self) -> super::Lease {
        super::Lease {
            holder: self.holder.clone(),
            pid: self.pid,
            acquired_at: super::ts(self.acquired_at),
            heartbeat_at: super::ts(self.heartbeat_at),
            expires_at: super::ts(self.expires_at),
        }
    }
}

type DaemonRow = LeaseRow;

struct ClaimRow {
    holder: String,
    done: bool,
    takeovers: i64,
}

impl State {
    fn site_name(&self, site_id: i64) -> &str {
        &self.sites[(site_id - 1) as usize].name
    }

    fn component(&self, id: i64) -> Option<&ComponentRow> {
        usize::try_from(id - 1)
            .ok()
            .and_then(|i| self.components.get(i))
    }

    fn component_mut(&mut self, id: i64) -> Option<&mut ComponentRow> {
        usize::try_from(id - 1)
            .ok()
            .and_then(|i| self.components.get_mut(i))
    }

    /// The components of a site by name (none for a site the catalog does not know).
    fn components_of(&self, site: &str) -> Vec<i64> {
        match self.site_ids.get(site) {
            Some(&site_id) => self
                .components
                .iter()
                .enumerate()
                .filter(|(_, c)| c.site_id == site_id)
                .map(|(i, _)| i as i64 + 1)
                .collect(),
            None => Vec::new(),
        }
    }

    fn run(&self, id: i64) -> Option<&RunRow> {
        usize::try_from(id - 1).ok().and_then(|i| self.runs.get(i))
    }

    fn run_mut(&mut self, id: i64) -> Option<&mut RunRow> {
        usize::try_from(id - 1)
            .ok()
            .and_then(|i| self.runs.get_mut(i))
    }

    fn point_row(&self, id: i64) -> Option<&PointRow> {
        usize::try_from(id - 1)
            .ok()
            .and_then(|i| self.points.get(i))
    }

    /// A daemon whose row has not expired at `now`.
    fn daemon_alive(&self, holder: &str, now: DateTime<Utc>) -> bool {
        self.daemons.get(holder).is_some_and(|d| d.expires_at > now)
    }
}

impl MemoryCatalog {
    fn new() -> Self {
        // 128 random bits, from the keys std seeds its hash maps with (randomly, once per
        // thread, then a new key per map): an id unique among catalogs, as SQLite's
        // randomblob(16) makes it.
        use std::hash::BuildHasher;
        let random = || std::collections::hash_map::RandomState::new().hash_one(0u8);
        Self {
            state: Mutex::new(State {
                identity: format!("{:016x}{:016x}", random(), random()),
                ..Default::default()
            }),
            restores: Arc::new(tokio::sync::Mutex::new(())),
            sites: Mutex::new(HashMap::new()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held left no half-made row behind: every operation
        // checks before it writes, so the tables stay usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl CatalogStore for MemoryCatalog {
    async fn identity(&self) -> CatalogResult<String> {
        Ok(self.state().identity.clone())
    }

    /// Made with the newest schema: it has no older one to migrate from.
    async fn schema_version(&self) -> CatalogResult<i64> {
        Ok(super::supported_schema_version())
    }

    async fn try_lock_restores(&self) -> CatalogResult<Option<RestoreLock>> {
        Ok(self
            .restores
            .clone()
            .try_lock_owned()
            .ok()
            .map(RestoreLock::new))
    }

    async fn lock_site(
        &self,
        site: &str,
        exclusive: bool,
        wait: bool,
    ) -> CatalogResult<Option<RestoreLock>> {
        let lock = self
            .sites
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(site.to_string())
            .or_default()
            .clone();
        Ok(match (exclusive, wait) {
            (true, true) => Some(RestoreLock::new(lock.write_owned().await)),
            (true, false) => lock.try_write_owned().ok().map(RestoreLock::new),
            (false, true) => Some(RestoreLock::new(lock.read_owned().await)),
            (false, false) => lock.try_read_owned().ok().map(RestoreLock::new),
        })
    }

    async fn close(&self) {}
}

/// The memory catalogs of this process by name, so that a second connection to the same
/// name (`Catalog::connect`) shares the first one's tables, as two pools share a file.
/// Weak: a catalog is gone, and its name free, once its last handle is dropped.
static NAMED: std::sync::LazyLock<Mutex<HashMap<String, std::sync::Weak<MemoryCatalog>>>> =
    std::sync::LazyLock::new(Default::default);

impl MemoryCatalog {
    /// The memory catalog of this name; with `create`, a new one when there is none.
    pub(crate) fn named(name: &str, create: bool) -> CatalogResult<Arc<MemoryCatalog>> {
        let mut named = NAMED.lock().unwrap_or_else(|e| e.into_inner());
        named.retain(|_, c| c.strong_count() > 0);
        if let Some(c) = named.get(name).and_then(std::sync::Weak::upgrade) {
            return Ok(c);
        }
        if !create {
            return Err(super::CatalogError::Missing(
                format!("memory:{name}").into(),
            ));
        }
        let c = Arc::new(MemoryCatalog::new());
        named.insert(name.to_string(), Arc::downgrade(&c));
        Ok(c)
    }
}
