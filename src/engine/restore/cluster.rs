//! Aurora steps: restore a cluster (PITR or snapshot), add its instance, swap the endpoint.

use super::execute::{StepAct, StepCtx};
use super::*;
use crate::domain::restore_plan::{CreateClusterInstance, RestoreCluster, SwapCluster};

/// Wait until a DB cluster is available (after a restore or a rename).
pub(super) async fn wait_cluster(
    cloud: &Cloud,
    region: &str,
    cluster: &str,
    timeout: Duration,
    interval: Duration,
) -> Result<crate::cloud::ResourceStatus, CloudError> {
    let r = cloud.restores.clone();
    crate::cloud::wait::until_ready(&format!("DB cluster {cluster}"), timeout, interval, || {
        let r = r.clone();
        async move { r.describe_cluster(region, cluster).await }
    })
    .await
}

/// Rename, treating "the source is gone and the destination exists" as already done.
pub(super) async fn rename_tolerant(
    cloud: &Cloud,
    region: &str,
    from: &str,
    to: &str,
) -> Result<(), CloudError> {
    match cloud.restores.rename_cluster(region, from, to).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind == CloudErrorKind::NotFound => {
            // Done by an earlier attempt?
            cloud
                .restores
                .describe_cluster(region, to)
                .await
                .map(|_| ())
                .map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

impl StepCtx {
    /// Whether an existing cluster named `cluster` is this plan's own (else an error that
    /// says whose it is).
    fn check_adoptable(
        &self,
        region: &str,
        cluster: &str,
        tags: &crate::cloud::Tags,
    ) -> Result<(), super::execute::StepError> {
        use crate::domain::restore_plan::TAG_PLAN;
        if tags.get(TAG_PLAN) == Some(&self.plan.id) {
            return Ok(());
        }
        Err(format!(
            "a cluster named {cluster} already exists in {region} and this plan did not create it ({}); wpbackup does not adopt it: delete or rename it, then `wpbackup restore resume {}`",
            match tags.get(TAG_PLAN) {
                Some(other) => format!("plan {other} did"),
                None if tags.contains_key(crate::domain::names::TAG_MANAGED) => {
                    "it carries no plan tag".to_string()
                }
                None => format!("it is not tagged {}", crate::domain::names::TAG_MANAGED),
            },
            self.plan.id
        )
        .into())
    }

    pub(super) async fn restore_cluster(
        &self,
        s: &RestoreCluster,
        out: &mut Map<String, Value>,
    ) -> StepAct {
        let RestoreCluster {
            region,
            cluster,
            pitr_of,
            at,
            snapshot,
            engine,
            subnet_group,
            security_group_ids,
            security_group_from,
        } = s;
        let r = self.cloud.restores.clone();
        let key = &self.step.key;
        let source = match (pitr_of, at, snapshot) {
            (Some(c), Some(at), _) => ClusterSource::PointInTime {
                cluster: c.clone(),
                at: *at,
            },
            (_, _, Some(s)) => ClusterSource::Snapshot {
                snapshot: s.clone(),
            },
            _ => {
                return Err(
                    String::from("the plan names neither a PITR time nor a snapshot").into(),
                )
            }
        };
        let req = ClusterRestore {
            cluster: cluster.clone(),
            source,
            engine: engine.clone(),
            subnet_group: subnet_group.clone(),
            security_group_ids: self.security_groups(security_group_ids, security_group_from)?,
            tags: self.tags(),
        };
        // A cluster of that name already there is adopted only if this plan created it
        // (an earlier attempt); anything else of that name — the DR region's own cluster,
        // another plan's — is not. Checked before the call too: not every API refuses
        // the name (moto replaces the cluster).
        let adopt = match r.cluster_tags(region, cluster).await {
            Ok(tags) => {
                self.check_adoptable(region, cluster, &tags)?;
                true
            }
            Err(e) if e.kind == CloudErrorKind::NotFound => false,
            Err(e) => return Err(e.into()),
        };
        if adopt {
            self.progress.note(
                key,
                &format!("{cluster} exists from an earlier attempt; waiting for it"),
            );
        } else {
            match r.restore_cluster(region, &req).await {
                Ok(_) => {}
                Err(e) if e.kind == CloudErrorKind::AlreadyExists => {
                    let tags = r.cluster_tags(region, cluster).await?;
                    self.check_adoptable(region, cluster, &tags)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        out.insert("cluster".into(), json!(cluster));
        self.save(out).await?;
        let st = self.wait_cluster(region, cluster).await?;
        out.insert("endpoint".into(), json!(st.address));
        Ok((StepState::Done, format!("cluster {cluster} available")))
    }

    pub(super) async fn create_cluster_instance(
        &self,
        s: &CreateClusterInstance,
        out: &mut Map<String, Value>,
    ) -> StepAct {
        let CreateClusterInstance {
            region,
            cluster,
            instance,
            class,
            engine,
        } = s;
        let r = self.cloud.restores.clone();
        match r
            .create_cluster_instance(region, cluster, instance, class, engine)
            .await
        {
            Ok(_) => {}
            Err(e) if e.kind == CloudErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        out.insert("instance".into(), json!(instance));
        self.save(out).await?;
        // The cluster stays `available` while its new writer is created (minutes on AWS):
        // the web server is wired to it only once the instance is.
        self.progress.note(
            &self.step.key,
            &format!("waiting for {instance} to become available"),
        );
        let rr = r.clone();
        crate::cloud::wait::until_ready(
            &format!("DB instance {instance}"),
            self.timeout(),
            self.interval(),
            || {
                let rr = rr.clone();
                async move { rr.describe_cluster_instance(region, instance).await }
            },
        )
        .await?;
        self.wait_cluster(region, cluster).await?;
        Ok((
            StepState::Done,
            format!("instance {instance} of {cluster} available"),
        ))
    }

    pub(super) async fn swap_cluster(
        &self,
        s: &SwapCluster,
        out: &mut Map<String, Value>,
    ) -> StepAct {
        let SwapCluster {
            region,
            original,
            restored,
            renamed_away,
        } = s;
        let key = &self.step.key;
        let flag = |out: &Map<String, Value>, k: &str| {
            out.get(k).and_then(Value::as_bool).unwrap_or(false)
        };
        if !flag(out, "original_renamed") {
            self.progress
                .note(key, &format!("renaming {original} → {renamed_away}"));
            rename_tolerant(&self.cloud, region, original, renamed_away).await?;
            out.insert("original_renamed".into(), json!(true));
            self.save(out).await?;
        }
        self.wait_cluster(region, renamed_away).await?;
        if !flag(out, "restored_renamed") {
            self.progress
                .note(key, &format!("renaming {restored} → {original}"));
            rename_tolerant(&self.cloud, region, restored, original).await?;
            out.insert("restored_renamed".into(), json!(true));
            self.save(out).await?;
        }
        let st = self.wait_cluster(region, original).await?;
        out.insert("endpoint".into(), json!(st.address));
        Ok((
            StepState::Done,
            format!("{original} is the restored cluster; the old one is kept as {renamed_away}"),
        ))
    }

    async fn wait_cluster(
        &self,
        region: &str,
        cluster: &str,
    ) -> Result<crate::cloud::ResourceStatus, String> {
        wait_cluster(
            &self.cloud,
            region,
            cluster,
            self.timeout(),
            self.interval(),
        )
        .await
        .map_err(|e| e.to_string())
    }
}
