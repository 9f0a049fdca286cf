//! Rolling back a plan's cutover: the public address first, then the DB endpoint.

use super::cluster::{rename_tolerant, wait_cluster};
use super::*;
use crate::cloud::web_tier::Forward;
use crate::domain::restore_plan::{MoveAddress, SwapCluster, SwitchListener};

impl Engine {
    /// Move the public address and the DB endpoint back to what they were before the
    /// plan's cutover. Restored resources are kept (renamed), nothing is deleted.
    pub async fn rollback_plan(
        &self,
        id: &str,
        progress: Arc<dyn RestoreProgress>,
    ) -> Result<Execution, RestoreError> {
        let _lock = self.restore_lock().await?;
        let rec = self.plan_record(id).await?;
        if rec.purpose != Purpose::Restore {
            return Err(RestoreError::Refused(match rec.purpose {
                Purpose::Staging => format!(
                    "{id} is a staging copy; it never cut over, there is nothing to roll back — `wpbackup staging down {id}` tears it down"
                ),
                _ => format!("{id} is a drill; drills never cut over, there is nothing to roll back"),
            }));
        }
        let _site_lock = self.site_lock(&rec.site).await?;
        if rec.status == PlanStatus::RolledBack {
            return Err(RestoreError::Refused(format!(
                "plan {id} is already rolled back"
            )));
        }
        if self.finalized(id).await? {
            return Err(RestoreError::Refused(format!(
                "plan {id} is finalized: what its cutover replaced is retired, there is nothing to go back to"
            )));
        }
        let plan = rec.plan()?;
        let site = self.site(&plan.site)?.clone();
        let cloud = self.cloud_for(&site).await?;
        let records: BTreeMap<String, StepRecord> = self
            .catalog
            .restore_steps(id)
            .await?
            .into_iter()
            .map(|s| (s.key.clone(), s))
            .collect();
        let touched = |r: &StepRecord| r.state != StepState::Pending;
        let mut failure = None;
        // The address first: visitors go back to the old instance at once.
        if let Some((
            step,
            MoveAddress {
                region, address, ..
            },
        )) = plan.steps.iter().find_map(|s| match &s.action {
            Action::MoveAddress(m) => Some((s, m)),
            _ => None,
        }) {
            let r = &records[&step.key];
            if let (true, Some(prev)) = (touched(r), r.output("previous_instance")) {
                let key = "rollback.move-address";
                self.begin_rollback_step(id, key).await?;
                progress.note(key, &format!("moving the address back to {prev}"));
                let started = std::time::Instant::now();
                let mut out = Map::new();
                out.insert("instance".into(), json!(prev));
                let res = cloud
                    .restores
                    .move_address(&entry_of(address), region, prev)
                    .await;
                self.finish_rollback_step(
                    id,
                    key,
                    res,
                    &out,
                    started,
                    prev,
                    &*progress,
                    &mut failure,
                )
                .await?;
                if failure.is_none() {
                    // The previous resources serve again: backups go back to them.
                    self.catalog.end_adoptions(id, self.clock.now()).await?;
                }
            }
        }
        // An Auto Scaling tier: the listener forwards where it did before.
        if let Some((
            step,
            SwitchListener {
                region,
                listener_arn,
                ..
            },
        )) = plan.steps.iter().find_map(|s| match &s.action {
            Action::SwitchListener(l) => Some((s, l)),
            _ => None,
        }) {
            let r = &records[&step.key];
            let previous: Option<Vec<Forward>> = r
                .outputs
                .get("previous")
                .and_then(|v| serde_json::from_value(v.clone()).ok());
            if let (true, Some(prev)) = (touched(r), previous) {
                let key = "rollback.switch-listener";
                self.begin_rollback_step(id, key).await?;
                let to: Vec<&str> = prev.iter().map(|f| f.target_group_arn.as_str()).collect();
                progress.note(
                    key,
                    &format!("the listener forwards to {} again", to.join(", ")),
                );
                let started = std::time::Instant::now();
                let mut out = Map::new();
                out.insert("forward".into(), json!(prev));
                let res = cloud
                    .web
                    .set_listener_forward(region, listener_arn, &prev)
                    .await;
                self.finish_rollback_step(
                    id,
                    key,
                    res,
                    &out,
                    started,
                    &format!("listener back on {}", to.join(", ")),
                    &*progress,
                    &mut failure,
                )
                .await?;
                if failure.is_none() {
                    self.catalog.end_adoptions(id, self.clock.now()).await?;
                }
            }
        }
        if let Some((
            step,
            SwapCluster {
                region,
                original,
                restored,
                renamed_away,
            },
        )) = plan.steps.iter().find_map(|s| match &s.action {
            Action::SwapCluster(c) => Some((s, c)),
            _ => None,
        }) {
            let r = &records[&step.key];
            if touched(r) {
                let key = "rollback.swap-cluster";
                self.begin_rollback_step(id, key).await?;
                let started = std::time::Instant::now();
                let mut out = Map::new();
                let res: Result<(), CloudError> = async {
                    let restored_in = r
                        .outputs
                        .get("restored_renamed")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    let original_away = r
                        .outputs
                        .get("original_renamed")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    if restored_in {
                        progress.note(
                            key,
                            &format!("renaming {original} (restored) back to {restored}"),
                        );
                        rename_tolerant(&cloud, region, original, restored).await?;
                        wait_cluster(
                            &cloud,
                            region,
                            restored,
                            ROLLBACK_WAIT,
                            self.poll_interval_for(&site),
                        )
                        .await?;
                        out.insert("restored_renamed_back".into(), json!(true));
                    }
                    if original_away || restored_in {
                        progress.note(key, &format!("renaming {renamed_away} back to {original}"));
                        rename_tolerant(&cloud, region, renamed_away, original).await?;
                        wait_cluster(
                            &cloud,
                            region,
                            original,
                            ROLLBACK_WAIT,
                            self.poll_interval_for(&site),
                        )
                        .await?;
                        out.insert("original_renamed_back".into(), json!(true));
                    }
                    Ok(())
                }
                .await;
                self.finish_rollback_step(
                    id,
                    key,
                    res,
                    &out,
                    started,
                    "DB endpoint back on the original cluster",
                    &*progress,
                    &mut failure,
                )
                .await?;
            }
        }
        let status = if failure.is_none() {
            PlanStatus::RolledBack
        } else {
            PlanStatus::Failed
        };
        self.end_plan(id, status, failure, false).await
    }
}

/// How long a rollback waits for each rename.
const ROLLBACK_WAIT: Duration = Duration::from_secs(3600);

impl Engine {
    /// Add a rollback step to the plan's record (once) and mark it running.
    async fn begin_rollback_step(&self, id: &str, key: &str) -> Result<(), RestoreError> {
        self.catalog.add_restore_step(id, key, &[]).await?;
        self.catalog
            .start_restore_step(id, key, self.clock.now())
            .await?;
        Ok(())
    }

    /// Record how a rollback step ended; a failure is kept as the plan's first failure.
    #[allow(clippy::too_many_arguments)]
    async fn finish_rollback_step(
        &self,
        id: &str,
        key: &str,
        res: Result<(), CloudError>,
        out: &Map<String, Value>,
        started: std::time::Instant,
        ok_detail: &str,
        progress: &dyn RestoreProgress,
        failure: &mut Option<String>,
    ) -> Result<(), RestoreError> {
        let err = res.err().map(|e| e.to_string());
        let state = if err.is_none() {
            StepState::Done
        } else {
            StepState::Failed
        };
        self.catalog
            .finish_restore_step(id, key, state, out, err.as_deref(), self.clock.now())
            .await?;
        progress.finished(
            key,
            state,
            started.elapsed().as_secs_f64(),
            err.as_deref().unwrap_or(ok_detail),
        );
        if let Some(e) = err {
            failure.get_or_insert(format!("{key}: {e}"));
        }
        Ok(())
    }
}
