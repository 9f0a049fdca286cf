//! Reading one policy file (`policies/<site>/<component>.toml`). Every key is documented
//! in `policies/README.md`.

use super::reader::{SourceFile, TableReader};
use crate::domain::model::ComponentKind;
use crate::domain::names::check_identifier;
use crate::domain::policy::{
    DrCopy, Hook, Hooks, OnError, Policy, PolicySource, Retention, Target,
};
use crate::domain::schedule::CronSchedule;
use crate::domain::time::{format_duration, parse_duration, parse_positive_duration};
use crate::domain::wiring::WebLaunch;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The policy file format versions this build understands.
pub const SUPPORTED_VERSIONS: [i64; 1] = [1];

/// What the policy is checked against: the site it belongs to (when known).
#[derive(Debug, Clone, Default)]
pub struct PolicyContext {
    pub site: Option<String>,
    pub primary_region: Option<String>,
    pub dr_region: Option<String>,
}

pub fn content_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

pub fn check_region(s: &str) -> Result<String, String> {
    let parts: Vec<&str> = s.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not an AWS region name; write one such as \"us-east-1\" or \"eu-west-1\""
        ))
    }
}

/// Read one policy file. Problems go to `file`; `None` when it has errors.
pub fn read_policy(file: &SourceFile, ctx: &PolicyContext, now: DateTime<Utc>) -> Option<Policy> {
    let doc = file.parse()?;
    let r = TableReader::root(file, &doc);

    match r.opt_int("version") {
        Some(v) if SUPPORTED_VERSIONS.contains(&v.value) => {}
        Some(v) => file.error(
            v.span,
            "version",
            format!(
                "unsupported policy format version {}; this wpbackup reads version {}",
                v.value,
                SUPPORTED_VERSIONS.map(|v| v.to_string()).join(", ")
            ),
        ),
        None if !r.has("version") => file.error(
            0..0,
            "version",
            "missing required key `version`; add `version = 1` at the top",
        ),
        None => {}
    }

    let name = r.req_str("name", "the component's name, e.g. \"db\"");
    if let Some(n) = &name {
        if let Err(e) = check_identifier(&n.value) {
            file.error(n.span.clone(), &n.key, e);
        }
    }
    let kind_names = ComponentKind::ALL.map(|k| k.as_str()).join(", ");
    let kind = r.req_parsed("kind", "one of the component kinds", |s| {
        ComponentKind::parse(s)
            .ok_or_else(|| format!("unknown kind {s:?}; expected one of: {kind_names}"))
    });
    let description = r.opt_str("description").map(|s| s.value);

    let zone: Option<Tz> = match r.opt_parsed("timezone", |s| {
        s.parse::<Tz>().map_err(|_| {
            format!(
                "unknown time zone {s:?}; use an IANA name such as \"UTC\" or \"Europe/Berlin\""
            )
        })
    }) {
        Some(z) => Some(z.value),
        None if r.has("timezone") => None,
        None => Some(chrono_tz::UTC),
    };
    let schedule = r.req_parsed(
        "schedule",
        "a 5-field cron expression, e.g. \"0 3 * * *\"",
        |s| {
            CronSchedule::parse(s, zone.unwrap_or(chrono_tz::UTC))
                .map_err(|e| format!("invalid cron expression: {e}"))
        },
    );
    // A window over which a fleet's sites spread this schedule's fires (see
    // `schedule::spread_offset`).
    let spread = r.opt_parsed("spread", |s| {
        let d = parse_positive_duration(s)?;
        if d < Duration::from_secs(60) {
            return Err(format!(
                "spread {s:?} is shorter than a minute; fires are spread by whole minutes, e.g. \"1h\""
            ));
        }
        Ok(d)
    });
    if let (Some(sp), Some(sc)) = (&spread, &schedule) {
        if let Some(interval) = sc.value.longest_interval(now) {
            if interval.to_std().is_ok_and(|i| sp.value >= i) {
                file.error(
                    sp.span.clone(),
                    &sp.key,
                    format!(
                        "spread {} is not shorter than the time between fires ({}); give a window within it, e.g. \"1h\" for a daily schedule",
                        humantime::format_duration(sp.value),
                        format_duration(interval)
                    ),
                );
            }
        }
    }
    let rpo = r.req_parsed(
        "rpo",
        "the recovery point objective, e.g. \"24h\"",
        parse_positive_duration,
    );
    let wait_timeout = r
        .opt_parsed("wait_timeout", parse_positive_duration)
        .map(|d| d.value)
        .unwrap_or(Duration::from_secs(2 * 3600));

    if let (Some(s), Some(rpo)) = (&schedule, &rpo) {
        if let Some(interval) = s.value.longest_interval(now) {
            if interval.to_std().is_ok_and(|i| i > rpo.value) {
                file.warning(
                    rpo.span.clone(),
                    &rpo.key,
                    format!(
                        "rpo {} is shorter than the schedule's longest interval ({}): \
                         between two runs the site can lose more than the RPO allows",
                        humantime::format_duration(rpo.value),
                        format_duration(interval)
                    ),
                );
            }
        }
    }

    let retention = r
        .req_table("retention", "keep rules, e.g. daily = 7")
        .map(read_retention);

    let mut dr_copies = Vec::new();
    let mut seen_regions = std::collections::BTreeSet::new();
    for t in r.opt_tables("dr_copies") {
        let region = t.req_parsed("region", "the DR region, e.g. \"us-west-2\"", check_region);
        let vault = t.opt_str("vault");
        let retention = t
            .req_table("retention", "keep rules for the copies")
            .map(read_retention);
        if let Some(region) = &region {
            if ctx.primary_region.as_deref() == Some(region.value.as_str()) {
                file.error(
                    region.span.clone(),
                    &region.key,
                    format!(
                        "a DR copy to {} is in the site's primary region; a disaster-recovery copy \
                         must go to another region (the site's DR region is {})",
                        region.value,
                        ctx.dr_region.as_deref().unwrap_or("not set")
                    ),
                );
            }
            if !seen_regions.insert(region.value.clone()) {
                file.error(
                    region.span.clone(),
                    &region.key,
                    format!("a second DR copy to {}; one per region", region.value),
                );
            }
        }
        if kind.as_ref().is_some_and(|k| k.value == ComponentKind::Efs)
            && vault.is_none()
            && !t.has("vault")
        {
            file.error(
                t.span(),
                &t.key_path("vault"),
                "missing required key `vault`: EFS copies go to an AWS Backup vault in the DR region",
            );
        }
        t.finish();
        if let (Some(region), Some(retention)) = (region, retention) {
            dr_copies.push(DrCopy {
                region: region.value,
                retention,
                vault: vault.map(|v| v.value),
            });
        }
    }

    let hooks = match r.opt_table("hooks") {
        Some(h) => {
            let pre = h.opt_table("pre").and_then(read_hook);
            let post = h.opt_table("post").and_then(read_hook);
            h.finish();
            Hooks { pre, post }
        }
        None => Hooks::default(),
    };
    let tags = r.opt_string_map("tags");
    for k in tags.keys() {
        if k.starts_with("wpbackup:") {
            file.error(
                r.span(),
                &format!("tags.{k}"),
                "tags starting with `wpbackup:` are reserved for wpbackup's own",
            );
        }
    }

    let mut target = match &kind {
        Some(k) => read_target(&r, k.value),
        None => None,
    };
    if let Some(t) = r.opt_table("restore") {
        let launch = read_web_launch(&t);
        t.finish();
        match (&mut target, &kind) {
            (
                Some(
                    Target::Ec2Instance { launch: l, .. }
                    | Target::AutoScalingGroup { launch: l, .. },
                ),
                _,
            ) => *l = launch,
            (_, Some(k))
                if !matches!(
                    k.value,
                    ComponentKind::Ec2Instance | ComponentKind::AutoScalingGroup
                ) =>
            {
                file.error(
                r.key_span("restore"),
                "restore",
                format!(
                    "[restore] says how a restore launches web servers (mount_path, user_data); \
                     a {} component has none — only ec2-instance and auto-scaling-group policies take it",
                        k.value
                    ),
                )
            }
            _ => {}
        }
    }
    for other in ComponentKind::ALL {
        let table = settings_table(other);
        if r.has(table) && kind.as_ref().is_some_and(|k| k.value != other) {
            file.error(
                r.key_span(table),
                table,
                format!(
                    "[{table}] holds the settings of kind {other}, but this policy's kind is {}",
                    kind.as_ref().map(|k| k.value.as_str()).unwrap_or("?")
                ),
            );
        }
        // With an unknown kind, say so once rather than once per settings table.
        r.ignore(table);
    }

    if r.has("pitr_days") {
        // A common slip: the PITR window belongs in [aurora].
        let _ = r.opt_int("pitr_days");
        file.error(
            r.span(),
            "pitr_days",
            "`pitr_days` belongs in the [aurora] table",
        );
    }

    r.finish();
    if file.has_errors() {
        return None;
    }
    Some(Policy {
        name: name?.value,
        kind: kind?.value,
        description,
        schedule: match (spread, &ctx.site) {
            (Some(spread), Some(site)) => schedule?
                .value
                .with_offset(crate::domain::schedule::spread_offset(site, spread.value)),
            _ => schedule?.value,
        },
        rpo: rpo?.value,
        wait_timeout,
        retention: retention?,
        dr_copies,
        hooks,
        tags,
        target: target?,
        source: PolicySource {
            path: file.path.clone(),
            content_hash: content_hash(&file.text),
            body: file.text.clone(),
        },
    })
}

/// Problems go to the file; a policy with any error is rejected as a whole.
fn read_retention(t: TableReader<'_, '_>) -> Retention {
    let count = |k: &str| t.opt_count(k).map(|a| a.value);
    let retention = Retention {
        keep_last: count("keep_last"),
        hourly: count("hourly"),
        daily: count("daily"),
        weekly: count("weekly"),
        monthly: count("monthly"),
        yearly: count("yearly"),
        within: t.opt_parsed("within", parse_duration).map(|a| a.value),
    };
    if retention.keeps_nothing() {
        t.file.error(
            t.span(),
            &t.key_path(""),
            "retention keeps nothing: set at least one of keep_last, hourly, daily, weekly, \
             monthly, yearly above 0, or within = \"<duration>\"",
        );
    }
    t.finish();
    retention
}

fn read_hook(t: TableReader<'_, '_>) -> Option<Hook> {
    let command = t.opt_command("command");
    if command.is_none() && !t.has("command") {
        t.file.error(
            t.span(),
            &t.key_path("command"),
            "missing required key `command` (a string run by sh -c, or an argv array)",
        );
    }
    let timeout = t
        .opt_parsed("timeout", parse_positive_duration)
        .map(|a| a.value)
        .unwrap_or(Duration::from_secs(300));
    let on_error = t
        .opt_parsed("on_error", |s| match s {
            "fail" => Ok(OnError::Fail),
            "continue" => Ok(OnError::Continue),
            other => Err(format!(
                "unknown on_error {other:?}; expected \"fail\" or \"continue\""
            )),
        })
        .map(|a| a.value)
        .unwrap_or(OnError::Fail);
    t.finish();
    Some(Hook {
        command: command?.value,
        timeout,
        on_error,
    })
}

/// `[restore]` of a web policy: where restored servers mount the file system, and the
/// user-data template that wires them to the restored data (every problem reported).
fn read_web_launch(t: &TableReader<'_, '_>) -> WebLaunch {
    let mut launch = WebLaunch::default();
    if let Some(m) = t.opt_str("mount_path") {
        let ok = m.value.starts_with('/')
            && m.value.len() > 1
            && !m
                .value
                .contains(|c: char| c.is_whitespace() || "'\"\\|".contains(c));
        if ok {
            launch.mount_path = m.value;
        } else {
            t.file.error(
                m.span,
                &m.key,
                format!(
                    "mount_path {:?} is not an absolute path without spaces or quotes, e.g. \"{}\"",
                    m.value,
                    crate::domain::wiring::DEFAULT_MOUNT_PATH
                ),
            );
        }
    }
    if let Some(u) = t.opt_str("user_data") {
        match crate::domain::wiring::placeholders(&u.value) {
            Ok(_) => launch.user_data = Some(u.value),
            Err(problems) => {
                for p in problems {
                    t.file.error(u.span.clone(), &u.key, p);
                }
            }
        }
    }
    launch
}

/// The table holding a kind's settings (`[aurora]` for `aurora-cluster`, …).
pub fn settings_table(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::LightsailInstance => "lightsail",
        ComponentKind::Ec2Instance => "ec2",
        ComponentKind::AutoScalingGroup => "auto_scaling",
        ComponentKind::AuroraCluster => "aurora",
        ComponentKind::Efs => "efs",
        ComponentKind::S3Bucket => "s3",
    }
}

fn read_target(r: &TableReader<'_, '_>, kind: ComponentKind) -> Option<Target> {
    let table = settings_table(kind);
    let what = match kind {
        ComponentKind::LightsailInstance => "instance_name",
        ComponentKind::Ec2Instance => "instance_id",
        ComponentKind::AutoScalingGroup => "group_name",
        ComponentKind::AuroraCluster => "cluster_identifier and pitr_days",
        ComponentKind::Efs => "file_system_id, vault and iam_role_arn",
        ComponentKind::S3Bucket => "bucket and dr_bucket",
    };
    let t = r.req_table(table, &format!("the {kind} settings: {what}"))?;
    let target = match kind {
        ComponentKind::LightsailInstance => {
            let instance_name = t.req_str("instance_name", "the Lightsail instance name");
            let auto = t.opt_parsed("auto_snapshot_time", |s| {
                let ok = s.len() == 5
                    && s.as_bytes()[2] == b':'
                    && s[..2].parse::<u8>().is_ok_and(|h| h < 24)
                    && &s[3..] == "00";
                if ok {
                    Ok(s.to_string())
                } else {
                    Err(format!("{s:?} is not a whole hour; Lightsail takes the daily auto-snapshot at \"HH:00\" UTC, e.g. \"06:00\""))
                }
            });
            Some(Target::LightsailInstance {
                instance_name: instance_name?.value,
                auto_snapshot_time: auto.map(|a| a.value),
            })
        }
        ComponentKind::Ec2Instance => {
            let instance_id = t.req_parsed(
                "instance_id",
                "the EC2 instance id, e.g. \"i-0abc…\"",
                |s| {
                    if s.starts_with("i-") && s.len() > 2 {
                        Ok(s.to_string())
                    } else {
                        Err(format!(
                            "{s:?} is not an instance id; expected \"i-\" followed by hex digits"
                        ))
                    }
                },
            );
            let no_reboot = t.opt_bool("no_reboot").unwrap_or(true);
            Some(Target::Ec2Instance {
                instance_id: instance_id?.value,
                no_reboot,
                launch: WebLaunch::default(),
            })
        }
        ComponentKind::AutoScalingGroup => {
            let name = t.req_parsed(
                "group_name",
                "the Auto Scaling group's name",
                |s| {
                    if !s.is_empty() && s.len() <= 255 && !s.contains(':') {
                        Ok(s.to_string())
                    } else {
                        Err(format!(
                            "{s:?} is not an Auto Scaling group name; expected its name (1-255 characters, no ':'), not its ARN"
                        ))
                    }
                },
            );
            let no_reboot = t.opt_bool("no_reboot").unwrap_or(true);
            Some(Target::AutoScalingGroup {
                group_name: name?.value,
                no_reboot,
                launch: WebLaunch::default(),
            })
        }
        ComponentKind::AuroraCluster => {
            let id = t.req_str("cluster_identifier", "the DB cluster identifier");
            let pitr = t.opt_int("pitr_days");
            if pitr.is_none() && !t.has("pitr_days") {
                t.file.error(
                    t.span(),
                    &t.key_path("pitr_days"),
                    "missing required key `pitr_days` (the continuous-backup window, 1-35 days)",
                );
            }
            let pitr = pitr.and_then(|p| {
                if (1..=35).contains(&p.value) {
                    Some(p.value as u32)
                } else {
                    t.file.error(p.span, &p.key, format!("pitr_days = {} is outside 1-35, the backup retention period Aurora accepts", p.value));
                    None
                }
            });
            Some(Target::AuroraCluster {
                cluster_identifier: id?.value,
                pitr_days: pitr?,
            })
        }
        ComponentKind::Efs => {
            let fs = t.req_parsed("file_system_id", "the EFS file system id, e.g. \"fs-0abc…\"", |s| {
                if s.starts_with("fs-") && s.len() > 3 {
                    Ok(s.to_string())
                } else {
                    Err(format!("{s:?} is not a file system id; expected \"fs-\" followed by hex digits"))
                }
            });
            let vault = t.req_str("vault", "the AWS Backup vault name");
            let role = t.req_parsed("iam_role_arn", "the IAM role AWS Backup assumes", |s| {
                if s.starts_with("arn:") && s.contains(":iam::") && s.contains(":role/") {
                    Ok(s.to_string())
                } else {
                    Err(format!(
                        "{s:?} is not an IAM role ARN; expected arn:aws:iam::<account>:role/<name>"
                    ))
                }
            });
            Some(Target::Efs {
                file_system_id: fs?.value,
                vault: vault?.value,
                iam_role_arn: role?.value,
            })
        }
        ComponentKind::S3Bucket => {
            let bucket = t.req_str("bucket", "the source bucket");
            let dr_bucket = t.req_str("dr_bucket", "the replica bucket in the DR region");
            let days = t.opt_count("noncurrent_version_days").map(|a| a.value);
            if let (Some(b), Some(d)) = (&bucket, &dr_bucket) {
                if b.value == d.value {
                    t.file.error(
                        d.span.clone(),
                        &d.key,
                        "dr_bucket must be a different bucket from bucket",
                    );
                }
            }
            Some(Target::S3Bucket {
                bucket: bucket?.value,
                dr_bucket: dr_bucket?.value,
                noncurrent_version_days: days,
            })
        }
    };
    t.finish();
    target
}
