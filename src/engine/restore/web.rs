//! The web tier: an instance launched from the chosen AMI or Lightsail snapshot.

use super::execute::{StepAct, StepCtx, StepError};
use super::*;
use crate::domain::restore_plan::{LaunchInstance, UserData, WireValue};

impl StepCtx {
    /// The user data with every placeholder filled: outputs of the steps that restored the
    /// file system and the cluster, or the live cluster's endpoint.
    async fn render_user_data(&self, u: &UserData) -> Result<String, StepError> {
        let mut values = BTreeMap::new();
        for (name, wire) in &u.values {
            let v = match wire {
                WireValue::Value { value } => value.clone(),
                WireValue::StepOutput { step, output } => {
                    self.dep_output(step, output).ok_or_else(|| {
                        format!("{step} recorded no {output} for {{{{{name}}}}} in the user data")
                    })?
                }
                WireValue::ClusterEndpoint { region, cluster } => self
                    .cloud
                    .restores
                    .describe_cluster(region, cluster)
                    .await?
                    .address
                    .ok_or_else(|| format!("the live cluster {cluster} reports no endpoint"))?,
            };
            values.insert(name.clone(), v);
        }
        Ok(crate::domain::wiring::render(&u.template, &values)?)
    }

    pub(super) async fn launch_instance(
        &self,
        s: &LaunchInstance,
        out: &mut Map<String, Value>,
    ) -> StepAct {
        let LaunchInstance {
            region,
            point_id,
            point_kind,
            name,
            instance_type,
            bundle_id,
            subnet_id,
            security_group_ids,
            availability_zone,
            key_name,
            user_data,
            ..
        } = s;
        let r = self.cloud.restores.clone();
        let id = match out.get("instance").and_then(Value::as_str) {
            Some(i) => i.to_string(),
            None => {
                let point = self.point(*point_id).await?;
                let user_data = match user_data {
                    Some(u) => {
                        let text = self.render_user_data(u).await?;
                        // Recorded before the launch: `restore show` says what the server got.
                        out.insert("user_data".into(), json!(text));
                        self.save(out).await?;
                        Some(text)
                    }
                    None => None,
                };
                let req = LaunchRequest {
                    name: name.clone(),
                    instance_type: instance_type.clone(),
                    bundle_id: bundle_id.clone(),
                    subnet_id: subnet_id.clone(),
                    security_group_ids: security_group_ids.clone(),
                    availability_zone: availability_zone.clone(),
                    key_name: key_name.clone(),
                    user_data,
                    tags: self.tags(),
                };
                // Idempotent on the name: a resumed launch adopts the instance.
                let st = r.launch_instance(&point, &req).await?;
                out.insert("instance".into(), json!(st.id));
                self.save(out).await?;
                st.id
            }
        };
        let rr = r.clone();
        let kind = *point_kind;
        let st = crate::cloud::wait::until_ready(
            &format!("instance {id}"),
            self.timeout(),
            self.interval(),
            || {
                let rr = rr.clone();
                let id = id.clone();
                async move { rr.describe_instance(kind, region, &id).await }
            },
        )
        .await?;
        out.insert("address".into(), json!(st.address));
        Ok((
            StepState::Done,
            format!(
                "instance {id} running at {}",
                st.address.unwrap_or_default()
            ),
        ))
    }
}
