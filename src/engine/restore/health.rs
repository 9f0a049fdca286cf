//! Health checks: the restored instance directly (before any cutover), the public address after.

use super::execute::{StepAct, StepCtx, StepError};
use super::*;
use crate::domain::restore_plan::{CheckTargets, HealthCheck, VerifyPublic};

impl StepCtx {
    pub(super) async fn health_check(
        &self,
        s: &HealthCheck,
        out: &mut Map<String, Value>,
    ) -> StepAct {
        let HealthCheck {
            url,
            expect_status,
            timeout_secs,
            instance_step,
        } = s;
        let address = self
            .dep_output(instance_step, "address")
            .ok_or_else(|| format!("{instance_step} recorded no address to check"))?;
        let answer = self
            .check(url, Some(address), *expect_status, *timeout_secs)
            .await?;
        out.insert("status".into(), json!(answer.0));
        out.insert("peer".into(), json!(answer.1));
        Ok((
            StepState::Done,
            format!("{url} answered {} from {}", answer.0, answer.1),
        ))
    }

    /// The restored group's targets: all healthy in their target group (the load
    /// balancer's own check), then the site's URL answering from each target directly.
    pub(super) async fn check_targets(
        &self,
        s: &CheckTargets,
        out: &mut Map<String, Value>,
    ) -> StepAct {
        let CheckTargets {
            region,
            group_step,
            url,
            expect_status,
            timeout_secs,
            direct,
        } = s;
        // A drill's group is in no target group: its instances are asked directly.
        let (targets, tg) = if *direct {
            let instances = self
                .outputs
                .get(group_step)
                .map(|o| Self::recorded_list(o, "instances"))
                .unwrap_or_default();
            if instances.is_empty() {
                return Err(format!("{group_step} recorded no instances to check").into());
            }
            (instances, "the drill's group".to_string())
        } else {
            let tg = self
                .dep_output(group_step, "target_group")
                .ok_or_else(|| format!("{group_step} recorded no target group"))?;
            (self.healthy_targets(region, &tg).await?, tg)
        };
        // A target that is not a running instance is not serving, whatever the load
        // balancer says (moto keeps terminated group instances `healthy`): not asked, and
        // at least one running target must answer.
        let mut answered = Vec::new();
        let mut addresses = Vec::new();
        let mut skipped = Vec::new();
        for t in &targets {
            let inst = self
                .cloud
                .restores
                .describe_instance(crate::domain::model::PointKind::Ec2Ami, region, t)
                .await?;
            if inst.state != crate::cloud::ResourceState::Ready {
                skipped.push(format!("{t} ({:?})", inst.state));
                continue;
            }
            let address = inst
                .address
                .ok_or_else(|| format!("target {t} has no address to ask"))?;
            let answer = self
                .check(url, Some(address.clone()), *expect_status, *timeout_secs)
                .await?;
            answered.push(format!("{t}: {} from {}", answer.0, answer.1));
            addresses.push(address);
        }
        if answered.is_empty() {
            return Err(format!(
                "health check failed: no running instance among the targets of {tg} ({}); nothing was cut over",
                skipped.join(", ")
            )
            .into());
        }
        out.insert("targets".into(), json!(targets));
        out.insert("answers".into(), json!(answered));
        // Where the healthy instances answer (a staging copy prints them).
        out.insert("addresses".into(), json!(addresses));
        if !skipped.is_empty() {
            out.insert("not_running".into(), json!(skipped));
        }
        Ok((
            StepState::Done,
            format!(
                "{} {}(s) healthy; {url} answered {expect_status} from each",
                targets.len(),
                if *direct { "instance" } else { "target" }
            ),
        ))
    }

    /// Every target of the target group healthy in the load balancer's own check.
    async fn healthy_targets(&self, region: &str, tg: &str) -> Result<Vec<String>, StepError> {
        // Targets of a new group start `initial` while they boot: waited for. Targets the
        // load balancer finds `unhealthy` for as many polls as the URL check's attempts
        // fail the step, with the load balancer's reasons.
        const UNHEALTHY_POLLS: u32 = 10;
        let started = self.engine.clock.now();
        let mut unhealthy_polls = 0;
        let targets: Vec<String> = loop {
            let health = self.cloud.web.target_health(region, tg).await?;
            let sick: Vec<String> = health
                .iter()
                .filter(|t| t.state != "healthy")
                .map(|t| {
                    format!(
                        "{} {}{}",
                        t.instance,
                        t.state,
                        t.reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            if !health.is_empty() && sick.is_empty() {
                break health.into_iter().map(|t| t.instance).collect();
            }
            if health.iter().any(|t| t.state == "unhealthy") {
                unhealthy_polls += 1;
            }
            let waited = (self.engine.clock.now() - started)
                .to_std()
                .unwrap_or_default();
            if unhealthy_polls >= UNHEALTHY_POLLS || waited >= self.timeout() {
                return Err(format!(
                    "health check failed: the restored group's targets in {tg} are not all healthy: {}; nothing was cut over",
                    if sick.is_empty() { "no target registered".to_string() } else { sick.join("; ") }
                )
                .into());
            }
            self.progress.note(
                &self.step.key,
                &format!("waiting for healthy targets: {}", sick.join("; ")),
            );
            self.engine.sleeper.sleep(self.interval()).await;
        };
        Ok(targets)
    }

    pub(super) async fn verify_public(
        &self,
        s: &VerifyPublic,
        out: &mut Map<String, Value>,
    ) -> StepAct {
        let VerifyPublic {
            url,
            expect_status,
            timeout_secs,
        } = s;
        let answer = self.check(url, None, *expect_status, *timeout_secs).await?;
        out.insert("status".into(), json!(answer.0));
        Ok((
            StepState::Done,
            format!("{url} answered {} through the public address", answer.0),
        ))
    }

    /// GET the URL (from `address`, or publicly) until it answers as expected, a few
    /// times: a booting web server refuses connections or answers 502 for a while.
    async fn check(
        &self,
        url: &str,
        address: Option<String>,
        expect: u16,
        timeout_secs: u64,
    ) -> Result<(u16, String), String> {
        const ATTEMPTS: u32 = 10;
        let req = HealthRequest {
            url: url.to_string(),
            address: address.clone(),
            expect_status: expect,
            timeout: Duration::from_secs(timeout_secs),
        };
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            match self.cloud.probe.probe(&req).await {
                Ok(a) if a.status == expect => return Ok((a.status, a.peer)),
                Ok(a) => {
                    last = format!("answered {} (expected {expect}) from {}", a.status, a.peer)
                }
                Err(e) => last = e.to_string(),
            }
            self.progress.note(
                &self.step.key,
                &format!("attempt {attempt}/{ATTEMPTS}: {last}"),
            );
            if attempt < ATTEMPTS {
                self.engine.sleeper.sleep(self.interval()).await;
            }
        }
        // Which side of the cutover this is on: the restored instance is checked directly
        // before anything moves; the public check runs after the cutover.
        let side = if address.is_some() {
            "nothing was cut over".to_string()
        } else {
            format!(
                "the cutover is done: visitors reach the restored site; `wpbackup restore rollback {}` puts the previous one back",
                self.plan.id
            )
        };
        Err(format!(
            "health check failed: GET {url}{} {last} after {ATTEMPTS} attempts; {side}",
            address.map(|a| format!(" via {a}")).unwrap_or_default()
        ))
    }
}
