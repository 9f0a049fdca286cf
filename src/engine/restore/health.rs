//! Health checks: the restored instance directly (before any cutover), the public address after.

use super::execute::{StepAct, StepCtx, StepError};
use super::*;
use crate::domain::restore_plan::{CheckTargets, HealthCheck, Probing, VerifyPublic};

impl StepCtx {
    pub(super) async fn health_check(
        &self,
        s: &HealthCheck,
        out: &mut Map<String, Value>,
    ) -> StepAct {
        let HealthCheck {
            url,
            expect_status,
            probing,
            instance_step,
        } = s;
        let address = self
            .dep_output(instance_step, "address")
            .ok_or_else(|| format!("{instance_step} recorded no address to check"))?;
        let answer = self
            .check(url, Some(address), *expect_status, *probing)
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
            probing,
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
            (self.healthy_targets(region, &tg, probing).await?, tg)
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
                .check(url, Some(address.clone()), *expect_status, *probing)
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
    async fn healthy_targets(
        &self,
        region: &str,
        tg: &str,
        probing: &Probing,
    ) -> Result<Vec<String>, StepError> {
        // Targets of a new group start `initial` while they boot: waited for. Targets the
        // load balancer finds `unhealthy` for as many polls as the URL check's attempts
        // fail the step, with the load balancer's reasons.
        let started = self.engine.clock.now();
        let mut unhealthy_polls = 0;
        // Booting (`initial`) targets are polled adaptively; unhealthy ones at the health
        // check's interval, so that `attempts` polls give the load balancer's own check
        // the time its thresholds need.
        let mut delays = crate::cloud::wait::poll_delays(self.interval());
        let unhealthy_interval = probing
            .interval_ms
            .map(Duration::from_millis)
            .unwrap_or_else(|| self.interval());
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
            let unhealthy = health.iter().any(|t| t.state == "unhealthy");
            if unhealthy {
                unhealthy_polls += 1;
            }
            let waited = (self.engine.clock.now() - started)
                .to_std()
                .unwrap_or_default();
            if unhealthy_polls >= probing.attempts.max(1) || waited >= self.timeout() {
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
            let delay = if unhealthy {
                unhealthy_interval
            } else {
                delays.next().unwrap_or(self.interval())
            };
            self.engine.sleeper.sleep(delay).await;
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
            probing,
        } = s;
        let answer = self.check(url, None, *expect_status, *probing).await?;
        out.insert("status".into(), json!(answer.0));
        Ok((
            StepState::Done,
            format!("{url} answered {} through the public address", answer.0),
        ))
    }

    /// GET the URL (from `address`, or publicly) until it answers as expected, as the
    /// site's `[sites.health_check]` says: a booting web server refuses connections or
    /// answers 502 for a while.
    async fn check(
        &self,
        url: &str,
        address: Option<String>,
        expect: u16,
        probing: Probing,
    ) -> Result<(u16, String), String> {
        let req = HealthRequest {
            url: url.to_string(),
            address: address.clone(),
            expect_status: expect,
            timeout: Duration::from_secs(probing.timeout_secs),
        };
        let note = |m: &str| self.progress.note(&self.step.key, m);
        let answer = ask_until_healthy(
            self.cloud.probe.as_ref(),
            self.engine.sleeper.as_ref(),
            &req,
            probing,
            self.interval(),
            &note,
        )
        .await;
        // Which side of the cutover this is on: the restored instance is checked directly
        // before anything moves; the public check runs after the cutover.
        answer.map(|a| (a.status, a.peer)).map_err(|failure| {
            let side = if address.is_some() {
                "nothing was cut over".to_string()
            } else {
                format!(
                    "the cutover is done: visitors reach the restored site; `wpbackup restore rollback {}` puts the previous one back",
                    self.plan.id
                )
            };
            format!("health check failed: {failure}; {side}")
        })
    }
}

/// Why a health check failed: the request, the last cause (once), how it was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthFailure {
    /// "GET https://www.example.com/wp-login.php via 10.0.1.5:443"
    pub request: String,
    /// "connection refused …", "timed out after 10s …", "DNS: …", "TLS: …", or
    /// "answered 500 (expected 200): <first bytes of the body>".
    pub cause: String,
    /// "10 attempts 15s apart, each allowed 10s": all of them failed.
    pub asked: String,
}

impl std::fmt::Display for HealthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} (after {})", self.request, self.cause, self.asked)
    }
}

/// GET `req` until it answers `req.expect_status`: at most `probing.attempts` times,
/// `probing.interval_ms` apart (`default_interval` for plans written before it was
/// configurable). Each failed attempt is noted; the failure names the last cause.
pub async fn ask_until_healthy(
    probe: &dyn crate::cloud::HealthProbe,
    sleeper: &dyn crate::engine::Sleeper,
    req: &HealthRequest,
    probing: Probing,
    default_interval: Duration,
    note: &(dyn Fn(&str) + Send + Sync),
) -> Result<crate::cloud::HealthAnswer, HealthFailure> {
    let attempts = probing.attempts.max(1);
    let interval = probing
        .interval_ms
        .map(Duration::from_millis)
        .unwrap_or(default_interval);
    let mut cause = String::new();
    for attempt in 1..=attempts {
        match probe.probe(req).await {
            Ok(a) if a.status == req.expect_status => return Ok(a),
            Ok(a) => {
                cause = format!("answered {} (expected {})", a.status, req.expect_status);
                if !a.body.is_empty() {
                    cause.push_str(&format!(": {:?}", a.body));
                }
            }
            // The probe's message is the cause alone; anything else is shown whole.
            Err(e) if e.operation == "HealthCheck" => cause = e.message,
            Err(e) => cause = e.to_string(),
        }
        note(&format!("attempt {attempt}/{attempts}: {cause}"));
        if attempt < attempts {
            sleeper.sleep(interval).await;
        }
    }
    let target = reqwest::Url::parse(&req.url).ok();
    let port = target
        .as_ref()
        .and_then(|u| u.port_or_known_default())
        .unwrap_or(80);
    let request = match &req.address {
        Some(a) => format!("GET {} via {a}:{port}", req.url),
        None => format!(
            "GET {} via its public address ({}:{port})",
            req.url,
            target
                .as_ref()
                .and_then(|u| u.host_str())
                .unwrap_or_default()
        ),
    };
    let asked = match attempts {
        1 => format!("1 attempt, allowed {}s", probing.timeout_secs),
        n => format!(
            "{n} attempts {} apart, each allowed {}s",
            humantime::format_duration(interval),
            probing.timeout_secs
        ),
    };
    Err(HealthFailure {
        request,
        cause,
        asked,
    })
}
