//! EFS: an AWS Backup restore job to a new file system, then its mount targets.

use super::execute::{StepAct, StepCtx};
use super::*;
use crate::cloud::ResourceState;
use crate::domain::restore_plan::RestoreFileSystem;

impl StepCtx {
    pub(super) async fn restore_file_system(
        &self,
        s: &RestoreFileSystem,
        out: &mut Map<String, Value>,
    ) -> StepAct {
        let RestoreFileSystem {
            region,
            point_id,
            role_arn,
            token,
            subnets,
            security_group_ids,
            security_group_from,
            ..
        } = s;
        let security_group_ids = &self.security_groups(security_group_ids, security_group_from)?;
        let r = self.cloud.restores.clone();
        let key = &self.step.key;
        let job = match out.get("job").and_then(Value::as_str) {
            Some(j) => j.to_string(),
            None => {
                let point = self.point(*point_id).await?;
                let job = r.restore_file_system(&point, role_arn, token).await?;
                out.insert("job".into(), json!(job));
                self.save(out).await?;
                job
            }
        };
        self.progress.note(key, &format!("restore job {job}"));
        let rr = r.clone();
        let st = crate::cloud::wait::until_ready(
            &format!("restore job {job}"),
            self.timeout(),
            self.interval(),
            || {
                let rr = rr.clone();
                let job = job.clone();
                async move { rr.describe_file_system_restore(region, &job).await }
            },
        )
        .await?;
        out.insert("file_system".into(), json!(st.id));
        self.save(out).await?;
        let mts = r
            .finish_file_system_restore(region, &st.id, subnets, security_group_ids, &self.tags())
            .await?;
        out.insert("mount_targets".into(), json!(mts));
        self.save(out).await?;
        // A web server launched now must find an available mount target in its AZ.
        self.progress.note(
            key,
            &format!("waiting for mount targets in {}", subnets.join(", ")),
        );
        let rr = r.clone();
        let fs = st.id.clone();
        crate::cloud::wait::until_ready(
            &format!("mount targets of {fs}"),
            self.timeout(),
            self.interval(),
            || {
                let rr = rr.clone();
                let fs = fs.clone();
                async move {
                    let mts = rr.mount_targets(region, &fs).await?;
                    let missing: Vec<&String> = subnets
                        .iter()
                        .filter(|s| {
                            !mts.iter()
                                .any(|(sub, st)| sub == *s && *st == ResourceState::Ready)
                        })
                        .collect();
                    Ok(crate::cloud::ResourceStatus {
                        id: fs.clone(),
                        state: if missing.is_empty() {
                            ResourceState::Ready
                        } else {
                            ResourceState::Pending
                        },
                        address: None,
                        detail: (!missing.is_empty()).then(|| {
                            format!(
                                "not yet available in {}",
                                missing
                                    .iter()
                                    .map(|s| s.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }),
                    })
                }
            },
        )
        .await?;
        Ok((
            StepState::Done,
            format!("file system {} with {} mount target(s)", st.id, mts.len()),
        ))
    }
}
