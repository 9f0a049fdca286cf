//! The cutover: the public address moved to the restored instance; manual steps.

use super::execute::{StepAct, StepCtx};
use super::*;
use crate::domain::restore_plan::{Manual, MoveAddress};

impl StepCtx {
    pub(super) async fn move_address(
        &self,
        s: &MoveAddress,
        out: &mut Map<String, Value>,
    ) -> StepAct {
        let MoveAddress {
            region,
            address,
            instance_step,
        } = s;
        let r = self.cloud.restores.clone();
        let entry = entry_of(address);
        let instance = self
            .dep_output(instance_step, "instance")
            .ok_or_else(|| format!("{instance_step} recorded no instance"))?;
        if !out.contains_key("previous_instance") {
            let prev = r.address_target(&entry, region).await?;
            out.insert("previous_instance".into(), json!(prev));
            self.save(out).await?;
        }
        r.move_address(&entry, region, &instance).await?;
        let now_at = r.address_target(&entry, region).await?;
        if now_at.as_deref() != Some(instance.as_str()) {
            return Err(format!("the address still points at {now_at:?}, not {instance}").into());
        }
        out.insert("instance".into(), json!(instance));
        Ok((
            StepState::Done,
            format!(
                "public address now on {instance} (was {})",
                out["previous_instance"].as_str().unwrap_or("unattached")
            ),
        ))
    }

    pub(super) async fn manual(&self, s: &Manual, out: &mut Map<String, Value>) -> StepAct {
        let Manual { instruction } = s;
        let mut text = instruction.clone();
        for (k, o) in &self.outputs {
            if let Some(a) = o.get("address").and_then(Value::as_str) {
                text.push_str(&format!("; {k}: {a}"));
            }
            if let Some(a) = o.get("endpoint").and_then(Value::as_str) {
                text.push_str(&format!("; {k}: {a}"));
            }
        }
        out.insert("instruction".into(), json!(text));
        Ok((StepState::Skipped, format!("BY HAND: {text}")))
    }
}
