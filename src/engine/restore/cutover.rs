//! The cutover: the public address moved to the restored instance; manual steps.

use super::execute::{StepAct, StepCtx, StepError};
use super::*;
use crate::cloud::web_tier::Forward;
use crate::domain::restore_plan::{
    LaunchGroup, LaunchInstance, Manual, MoveAddress, SwitchListener, WireValue,
};

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
        let adopted = self.adopt_restored(instance_step, &instance).await?;
        out.insert("adopted".into(), json!(adopted));
        Ok((
            StepState::Done,
            format!(
                "public address now on {instance} (was {})",
                out["previous_instance"].as_str().unwrap_or("unattached")
            ),
        ))
    }

    /// The cutover of an Auto Scaling tier: the listener forwards to the restored target
    /// group. Its previous forward is recorded first (rollback puts it back).
    pub(super) async fn switch_listener(
        &self,
        s: &SwitchListener,
        out: &mut Map<String, Value>,
    ) -> StepAct {
        let SwitchListener {
            region,
            listener_arn,
            group_step,
        } = s;
        let web = self.cloud.web.clone();
        let tg = self
            .dep_output(group_step, "target_group")
            .ok_or_else(|| format!("{group_step} recorded no target group"))?;
        if !out.contains_key("previous") {
            let prev = web.listener_forward(region, listener_arn).await?;
            out.insert("previous".into(), json!(prev));
            self.save(out).await?;
        }
        let to = [Forward {
            target_group_arn: tg.clone(),
            weight: None,
        }];
        web.set_listener_forward(region, listener_arn, &to).await?;
        let now_at = web.listener_forward(region, listener_arn).await?;
        if now_at != to {
            return Err(format!("the listener forwards to {now_at:?}, not {tg}").into());
        }
        out.insert("target_group".into(), json!(tg));
        let group = self
            .dep_output(group_step, "group")
            .ok_or_else(|| format!("{group_step} recorded no group"))?;
        let adopted = self.adopt_restored(group_step, &group).await?;
        out.insert("adopted".into(), json!(adopted));
        Ok((
            StepState::Done,
            format!("listener now forwards to {tg} (group {group})"),
        ))
    }

    /// The restored stack serves the site now: record its resources as what the
    /// components' backups protect from here on (the web server behind the address, and
    /// the file system and cluster it was launched wired to). Returns "component=id" pairs.
    async fn adopt_restored(
        &self,
        instance_step: &str,
        instance: &str,
    ) -> Result<Vec<String>, StepError> {
        let Some(launch) = self.plan.step(instance_step) else {
            return Ok(vec![]);
        };
        let mut adopt: Vec<(String, String)> = Vec::new();
        if let Some(c) = &launch.component {
            adopt.push((c.clone(), instance.to_string()));
        }
        if let Action::LaunchInstance(LaunchInstance {
            user_data: Some(u), ..
        })
        | Action::LaunchGroup(LaunchGroup {
            user_data: Some(u), ..
        }) = &launch.action
        {
            for wire in u.values.values() {
                let WireValue::StepOutput { step, output } = wire else {
                    continue;
                };
                // A restored cluster is known by its identifier, not its endpoint.
                let id_output = if output == "endpoint" {
                    "cluster"
                } else {
                    output
                };
                let comp = self.plan.step(step).and_then(|s| s.component.clone());
                if let (Some(comp), Some(id)) = (comp, self.dep_output(step, id_output)) {
                    adopt.push((comp, id));
                }
            }
        }
        let now = self.engine.clock.now();
        let mut done = Vec::new();
        for (comp, id) in adopt {
            let replaced = self
                .site
                .policy(&comp)
                .map(|p| p.target.resource_id().to_string())
                .unwrap_or_default();
            self.engine
                .catalog
                .adopt(
                    &self.plan.site,
                    &comp,
                    &id,
                    &replaced,
                    &self.plan.region,
                    &self.plan.id,
                    now,
                )
                .await
                .map_err(|e| e.to_string())?;
            done.push(format!("{comp}={id}"));
        }
        Ok(done)
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
            // A restored group's instances, where its check asked them.
            if let Some(list) = o.get("addresses").and_then(Value::as_array) {
                let list: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
                if !list.is_empty() {
                    text.push_str(&format!("; {k}: {}", list.join(", ")));
                }
            }
        }
        out.insert("instruction".into(), json!(text));
        Ok((StepState::Skipped, format!("BY HAND: {text}")))
    }
}
