//! S3: every object made current as it was at T again (new versions; history kept).

use super::execute::{StepAct, StepCtx};
use super::*;
use crate::domain::restore_plan::RevertBucket;

impl StepCtx {
    pub(super) async fn revert_bucket(
        &self,
        s: &RevertBucket,
        out: &mut Map<String, Value>,
    ) -> StepAct {
        let RevertBucket {
            region,
            bucket,
            at,
            dry_run,
        } = s;
        let r = self.cloud.restores.clone();
        let key = &self.step.key;
        let versions = r.object_versions(region, bucket).await?;
        let wanted = objects_as_of(&versions, *at);
        let current = objects_as_of(&versions, DateTime::<Utc>::MAX_UTC);
        let mut done: BTreeSet<String> = Self::recorded_list(out, "reverted").into_iter().collect();
        let keys: BTreeSet<&String> = wanted.keys().chain(current.keys()).collect();
        let mut differ = Vec::new();
        for k in keys {
            let w = wanted.get(k).cloned().flatten();
            let c = current.get(k).cloned().flatten();
            if w.as_ref().map(|v| &v.version_id) != c.as_ref().map(|v| &v.version_id) {
                differ.push((k.clone(), w.map(|v| v.version_id)));
            }
        }
        if *dry_run {
            out.insert("would_revert".into(), json!(differ.len()));
            return Ok((
                StepState::Done,
                format!(
                    "{} object(s) differ from {at}; a restore would revert them",
                    differ.len()
                ),
            ));
        }
        let todo: Vec<_> = differ
            .into_iter()
            .filter(|(k, _)| !done.contains(k))
            .collect();
        self.progress
            .note(key, &format!("{} object(s) to revert", todo.len()));
        for (i, (k, v)) in todo.iter().enumerate() {
            r.revert_object(region, bucket, k, v.as_deref()).await?;
            done.insert(k.clone());
            if i % 25 == 24 || i + 1 == todo.len() {
                out.insert("reverted".into(), json!(done));
                self.save(out).await?;
            }
        }
        out.insert("reverted".into(), json!(done));
        Ok((
            StepState::Done,
            format!(
                "{} object(s) reverted to their versions as of {at} (new versions; history kept)",
                done.len()
            ),
        ))
    }
}
