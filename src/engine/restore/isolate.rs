//! Drills: the drill's own security group, made before anything it restores, and the
//! security groups each restored resource is created in.

use super::execute::{StepAct, StepCtx, StepError};
use super::*;
use crate::cloud::network::{IsolatedGroupRequest, Peer};
use crate::domain::restore_plan::Isolate;

impl StepCtx {
    pub(super) async fn isolate(&self, s: &Isolate, out: &mut Map<String, Value>) -> StepAct {
        let net = self.cloud.net.clone();
        let vpc = match out.get("vpc").and_then(Value::as_str) {
            Some(v) => v.to_string(),
            None => net.vpc_of(&s.region, &s.vpc).await?,
        };
        out.insert("vpc".into(), json!(vpc));
        let allow_from: Vec<Peer> = s.health_check_from.iter().map(|p| Peer::parse(p)).collect();
        let req = IsolatedGroupRequest {
            name: s.name.clone(),
            description: format!(
                "wpbackup drill {}: its own members and the health check only",
                self.plan.id
            ),
            vpc_id: vpc.clone(),
            allow_from: allow_from.clone(),
            port: s.port,
            tags: self.tags(),
        };
        let g = net.create_isolated_group(&s.region, &req).await?;
        out.insert("security_group".into(), json!(g.id));
        self.save(out).await?;
        // Read back: the group must hold exactly the isolation rules.
        let now = net.describe_security_group(&s.region, &g.id).await?;
        let problems = now.isolation_problems(&allow_from, s.port);
        if !problems.is_empty() {
            return Err(format!(
                "the drill's security group is not isolated: {}; nothing was restored into it",
                problems.join("; ")
            )
            .into());
        }
        let rules: Vec<String> = now
            .ingress
            .iter()
            .map(|r| format!("in {r}"))
            .chain(now.egress.iter().map(|r| format!("out {r}")))
            .collect();
        out.insert("rules".into(), json!(rules));
        Ok((
            StepState::Done,
            format!("security group {} in {vpc}: {}", g.id, rules.join(", ")),
        ))
    }

    /// The security groups a resource is created in: the drill's own group when the plan
    /// says so, else the recorded ones.
    pub(super) fn security_groups(
        &self,
        recorded: &[String],
        from: &Option<String>,
    ) -> Result<Vec<String>, StepError> {
        match from {
            None => Ok(recorded.to_vec()),
            Some(step) => self
                .dep_output(step, "security_group")
                .map(|g| vec![g])
                .ok_or_else(|| {
                    StepError::from(format!(
                        "{step} recorded no security group; nothing is created outside the drill's own"
                    ))
                }),
        }
    }
}
