//! The web tier: an instance launched from the chosen AMI or Lightsail snapshot, or a separate
//! Auto Scaling group (its own launch template and target group) from the AMI of T — both
//! with user data wired to the restored data.

use super::execute::{StepAct, StepCtx, StepError};
use super::*;
use crate::cloud::web_tier::GroupRequest;
use crate::domain::restore_plan::{LaunchGroup, LaunchInstance, UserData, WireValue};

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
                // A drill or staging copy never uses a production database (refused when planning).
                WireValue::ClusterEndpoint { cluster, .. }
                    if self.plan.purpose.is_isolated() =>
                {
                    return Err(format!(
                        "a drill's web server would use the production database {cluster}; nothing was launched"
                    )
                    .into())
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
            security_group_from,
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
                    security_group_ids: self
                        .security_groups(security_group_ids, security_group_from)?,
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

impl StepCtx {
    /// The restored Auto Scaling tier: launch template (wired user data), target group
    /// (the original's health-check settings), group (the size of T); done when every
    /// instance is InService. Each creation is idempotent on the plan's names, so a resumed
    /// step adopts what an earlier attempt made.
    pub(super) async fn launch_group(
        &self,
        s: &LaunchGroup,
        out: &mut Map<String, Value>,
    ) -> StepAct {
        let web = self.cloud.web.clone();
        let region = &s.region;
        let mut data = s.template.clone();
        data.security_group_ids =
            self.security_groups(&data.security_group_ids, &s.security_group_from)?;
        if let Some(u) = &s.user_data {
            let text = match out.get("user_data").and_then(Value::as_str) {
                Some(t) => t.to_string(),
                None => self.render_user_data(u).await?,
            };
            out.insert("user_data".into(), json!(text));
            data.user_data = Some(text);
        }
        let lt = web
            .create_launch_template(region, &s.launch_template, &data, &self.tags())
            .await?;
        out.insert("launch_template".into(), json!(lt));
        let tg = match &s.target_group {
            Some(name) => {
                let tg = web
                    .create_target_group(region, name, &s.like, &self.tags())
                    .await?;
                out.insert("target_group".into(), json!(tg));
                Some(tg)
            }
            None => None,
        };
        self.save(out).await?;
        let req = GroupRequest {
            name: s.group.clone(),
            launch_template_id: lt,
            min_size: s.min_size,
            max_size: s.max_size,
            desired_capacity: s.desired_capacity,
            subnets: s.subnets.clone(),
            target_group_arns: tg.into_iter().collect(),
            health_check_type: s.health_check_type.clone(),
            health_check_grace_period: s.health_check_grace_period,
            tags: self.tags(),
        };
        web.create_group(region, &req).await?;
        out.insert("group".into(), json!(s.group));
        self.save(out).await?;
        let want = s.desired_capacity.max(1) as usize;
        let ww = web.clone();
        let st = crate::cloud::wait::until_ready(
            &format!("Auto Scaling group {}", s.group),
            self.timeout(),
            self.interval(),
            || {
                let ww = ww.clone();
                async move {
                    let g = ww.describe_group(region, &s.group).await?;
                    let ready = g.instances.iter().filter(|i| i.in_service()).count();
                    Ok(crate::cloud::ResourceStatus {
                        id: g.name.clone(),
                        state: if ready >= want {
                            crate::cloud::ResourceState::Ready
                        } else {
                            crate::cloud::ResourceState::Pending
                        },
                        address: None,
                        detail: Some(
                            g.instances
                                .iter()
                                .filter(|i| i.in_service())
                                .map(|i| i.id.clone())
                                .collect::<Vec<_>>()
                                .join(","),
                        ),
                    })
                }
            },
        )
        .await?;
        let instances: Vec<String> = st
            .detail
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        out.insert("instances".into(), json!(instances));
        Ok((
            StepState::Done,
            format!(
                "group {} with {} InService instance(s) in its own target group",
                s.group,
                instances.len()
            ),
        ))
    }
}
