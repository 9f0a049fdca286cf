//! The least-privilege IAM policy for a site, built from the one operation table
//! ([`super::operations::OPERATIONS`]): for each configured component and the entry point,
//! the actions of the rows serving the chosen purposes, on ARNs scoped to the configured
//! resources wherever the API allows, and deletions only of resources tagged
//! `wpbackup:managed`. An identity policy: no `Principal` (the whitepaper's example grants
//! `Principal: *`; this never does), no wildcard actions.

use super::operations::{Part, Purpose, Scope, OPERATIONS};
use crate::domain::policy::{Policy, Target};
use crate::domain::site::{EntryPoint, Site};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

fn sid(parts: &[&str]) -> String {
    parts
        .iter()
        .flat_map(|s| s.split(|c: char| !c.is_ascii_alphanumeric()))
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn tagged(key: &str) -> Value {
    json!({ "StringEquals": { key: "true" } })
}

fn in_regions(regions: &[String]) -> Value {
    json!({ "StringEquals": { "aws:RequestedRegion": regions } })
}

/// What the statements of one component (or the entry point) are resolved against.
struct Ctx<'a> {
    site: &'a Site,
    acct: &'a str,
    /// The primary region, every DR copy region and the site's DR region (`--to dr`).
    regions: Vec<String>,
    /// `wpb-<site>-<component>-`: the prefix of the component's own point names.
    prefix: String,
}

impl Ctx<'_> {
    fn each(&self, f: impl Fn(&str) -> String) -> Vec<String> {
        self.regions.iter().map(|r| f(r)).collect()
    }

    fn primary(&self) -> &str {
        &self.site.region
    }
}

type Resolved = (Vec<String>, Option<Value>);

/// The resources (and condition) of `scope` for a component's target. `None`: the scope
/// does not apply to this configuration (no statement).
fn component_scope(
    part: Part,
    scope: Scope,
    target: &Target,
    policy: &Policy,
    x: &Ctx,
) -> Option<Resolved> {
    if part == Part::AutoScaling {
        return auto_scaling_scope(scope, target, x);
    }
    let acct = x.acct;
    let p = x.primary();
    let regional = || (vec!["*".to_string()], Some(in_regions(&x.regions)));
    Some(match (target, scope) {
        (_, Scope::Regional) => regional(),
        (Target::LightsailInstance { .. }, s) => {
            // Lightsail ARNs carry generated ids, not names: scope by type, account, region.
            let instances = x.each(|r| format!("arn:aws:lightsail:{r}:{acct}:Instance/*"));
            let snapshots = x.each(|r| format!("arn:aws:lightsail:{r}:{acct}:InstanceSnapshot/*"));
            match s {
                Scope::Protected | Scope::Restored => (instances, None),
                Scope::ProtectedAndPoints | Scope::Launch => {
                    ([instances, snapshots].concat(), None)
                }
                Scope::Points => (snapshots, None),
                // A list call: no resource-level permissions.
                Scope::AllSnapshots => regional(),
                Scope::ManagedPoints => {
                    (snapshots, Some(tagged("aws:ResourceTag/wpbackup:managed")))
                }
                Scope::ManagedRestored => {
                    (instances, Some(tagged("aws:ResourceTag/wpbackup:managed")))
                }
                Scope::AddOn => match target {
                    Target::LightsailInstance {
                        auto_snapshot_time: Some(_),
                        ..
                    } => (
                        vec![format!("arn:aws:lightsail:{p}:{acct}:Instance/*")],
                        None,
                    ),
                    _ => return None,
                },
                _ => return None,
            }
        }
        (Target::AutoScalingGroup { .. }, Scope::ProtectedAndPoints) => (
            vec![
                format!("arn:aws:ec2:{p}::image/*"),
                format!("arn:aws:ec2:{p}:{acct}:snapshot/*"),
            ],
            None,
        ),
        (Target::Ec2Instance { .. } | Target::AutoScalingGroup { .. }, s) => {
            let instance_id = match target {
                Target::Ec2Instance { instance_id, .. } => instance_id.as_str(),
                _ => "*",
            };
            let images_and_snapshots: Vec<String> = x
                .regions
                .iter()
                .flat_map(|r| {
                    [
                        format!("arn:aws:ec2:{r}::image/*"),
                        format!("arn:aws:ec2:{r}:{acct}:snapshot/*"),
                    ]
                })
                .collect();
            let instances = x.each(|r| format!("arn:aws:ec2:{r}:{acct}:instance/*"));
            match s {
                Scope::Protected => (
                    vec![format!("arn:aws:ec2:{p}:{acct}:instance/{instance_id}")],
                    None,
                ),
                Scope::ProtectedAndPoints => (
                    vec![
                        format!("arn:aws:ec2:{p}:{acct}:instance/{instance_id}"),
                        format!("arn:aws:ec2:{p}::image/*"),
                        format!("arn:aws:ec2:{p}:{acct}:snapshot/*"),
                    ],
                    None,
                ),
                Scope::Points => (x.each(|r| format!("arn:aws:ec2:{r}::image/*")), None),
                Scope::TagNewPoints => (
                    images_and_snapshots,
                    Some(tagged("aws:RequestTag/wpbackup:managed")),
                ),
                Scope::ManagedPoints => (
                    images_and_snapshots,
                    Some(tagged("ec2:ResourceTag/wpbackup:managed")),
                ),
                // What RunInstances touches: the image, the new instance and its volumes
                // and interface, and the recorded subnet, security groups and key pair.
                Scope::Launch => (
                    x.regions
                        .iter()
                        .flat_map(|r| {
                            [
                                format!("arn:aws:ec2:{r}::image/*"),
                                format!("arn:aws:ec2:{r}:{acct}:instance/*"),
                                format!("arn:aws:ec2:{r}:{acct}:volume/*"),
                                format!("arn:aws:ec2:{r}:{acct}:network-interface/*"),
                                format!("arn:aws:ec2:{r}:{acct}:subnet/*"),
                                format!("arn:aws:ec2:{r}:{acct}:security-group/*"),
                                format!("arn:aws:ec2:{r}:{acct}:key-pair/*"),
                            ]
                        })
                        .collect(),
                    None,
                ),
                Scope::TagOnLaunch => (
                    x.regions
                        .iter()
                        .flat_map(|r| {
                            [
                                format!("arn:aws:ec2:{r}:{acct}:instance/*"),
                                format!("arn:aws:ec2:{r}:{acct}:volume/*"),
                            ]
                        })
                        .collect(),
                    Some(json!({ "StringEquals": { "ec2:CreateAction": "RunInstances" } })),
                ),
                Scope::Restored => (instances, None),
                Scope::ManagedRestored => {
                    (instances, Some(tagged("ec2:ResourceTag/wpbackup:managed")))
                }
                _ => return None,
            }
        }
        (
            Target::AuroraCluster {
                cluster_identifier: id,
                ..
            },
            s,
        ) => {
            let own = x.each(|r| {
                format!(
                    "arn:aws:rds:{r}:{acct}:cluster-snapshot:{}{}-*",
                    x.prefix, policy.name
                )
            });
            // Restored clusters are named `<id>-<suffix>` (`<id>` in the DR region), the
            // original is renamed to `<id>-old<stamp>`, instances are `<cluster>-1`.
            let restored: Vec<String> = x
                .regions
                .iter()
                .flat_map(|r| {
                    [
                        format!("arn:aws:rds:{r}:{acct}:cluster:{id}*"),
                        format!("arn:aws:rds:{r}:{acct}:db:{id}-*"),
                    ]
                })
                .collect();
            match s {
                Scope::Protected => {
                    let mut v = x.each(|r| format!("arn:aws:rds:{r}:{acct}:cluster:{id}"));
                    v.push(format!("arn:aws:rds:{p}:{acct}:db:*"));
                    (v, None)
                }
                Scope::ProtectedAndPoints => (
                    [vec![format!("arn:aws:rds:{p}:{acct}:cluster:{id}")], own].concat(),
                    None,
                ),
                Scope::Points => (own, None),
                Scope::AllSnapshots => (
                    x.regions
                        .iter()
                        .flat_map(|r| {
                            [
                                format!("arn:aws:rds:{r}:{acct}:cluster-snapshot:*"),
                                format!("arn:aws:rds:{r}:{acct}:cluster:{id}"),
                            ]
                        })
                        .collect(),
                    None,
                ),
                Scope::ManagedPoints => (own, Some(tagged("aws:ResourceTag/wpbackup:managed"))),
                Scope::Launch => {
                    let mut v = restored;
                    v.extend(own);
                    v.extend(x.each(|r| format!("arn:aws:rds:{r}:{acct}:subgrp:*")));
                    (v, None)
                }
                Scope::Restored => (restored, None),
                Scope::ManagedRestored => {
                    (restored, Some(tagged("aws:ResourceTag/wpbackup:managed")))
                }
                _ => return None,
            }
        }
        (
            Target::Efs {
                file_system_id,
                vault,
                iam_role_arn,
            },
            s,
        ) => {
            let points = x.each(|r| format!("arn:aws:backup:{r}:{acct}:recovery-point:*"));
            let file_systems =
                x.each(|r| format!("arn:aws:elasticfilesystem:{r}:{acct}:file-system/*"));
            match s {
                Scope::Protected => (
                    vec![format!(
                        "arn:aws:elasticfilesystem:{p}:{acct}:file-system/{file_system_id}"
                    )],
                    None,
                ),
                Scope::Vaults => {
                    let mut v = vec![format!("arn:aws:backup:{p}:{acct}:backup-vault:{vault}")];
                    for copy in &policy.dr_copies {
                        if let Some(dv) = &copy.vault {
                            v.push(format!(
                                "arn:aws:backup:{}:{acct}:backup-vault:{dv}",
                                copy.region
                            ));
                        }
                    }
                    v.extend(points);
                    (v, None)
                }
                Scope::ManagedPoints => (points, Some(tagged("aws:ResourceTag/wpbackup:managed"))),
                Scope::PassRole => (
                    vec![iam_role_arn.clone()],
                    Some(
                        json!({ "StringEquals": { "iam:PassedToService": "backup.amazonaws.com" } }),
                    ),
                ),
                Scope::Restored => (file_systems, None),
                Scope::ManagedRestored => (
                    file_systems,
                    Some(tagged("aws:ResourceTag/wpbackup:managed")),
                ),
                Scope::Network => (
                    x.regions
                        .iter()
                        .flat_map(|r| {
                            [
                                format!("arn:aws:ec2:{r}:{acct}:network-interface/*"),
                                format!("arn:aws:ec2:{r}:{acct}:subnet/*"),
                                format!("arn:aws:ec2:{r}:{acct}:security-group/*"),
                            ]
                        })
                        .collect(),
                    None,
                ),
                _ => return None,
            }
        }
        (
            Target::S3Bucket {
                bucket, dr_bucket, ..
            },
            s,
        ) => match s {
            Scope::Protected => (
                vec![
                    format!("arn:aws:s3:::{bucket}"),
                    format!("arn:aws:s3:::{dr_bucket}"),
                ],
                None,
            ),
            // A restore to the DR region reverts the replica bucket.
            Scope::Objects => (
                vec![
                    format!("arn:aws:s3:::{bucket}/*"),
                    format!("arn:aws:s3:::{dr_bucket}/*"),
                ],
                None,
            ),
            _ => return None,
        },
    })
}

fn entry_point_scope(scope: Scope, entry: &EntryPoint, x: &Ctx) -> Option<Resolved> {
    let acct = x.acct;
    let p = x.primary();
    Some(match (entry, scope) {
        (_, Scope::Regional) => (vec!["*".to_string()], Some(in_regions(&x.regions))),
        (EntryPoint::Ec2ElasticIp { allocation_id }, Scope::EntryPoint) => (
            vec![
                format!("arn:aws:ec2:{p}:{acct}:elastic-ip/{allocation_id}"),
                format!("arn:aws:ec2:{p}:{acct}:instance/*"),
            ],
            None,
        ),
        (EntryPoint::AlbListener { listener_arn }, Scope::EntryPoint) => {
            (vec![listener_arn.clone()], None)
        }
        (EntryPoint::LightsailStaticIp { .. }, Scope::EntryPoint) => (
            vec![
                format!("arn:aws:lightsail:{p}:{acct}:StaticIp/*"),
                format!("arn:aws:lightsail:{p}:{acct}:Instance/*"),
            ],
            None,
        ),
        _ => return None,
    })
}

/// The Auto Scaling part of a group's statements: reading it, imaging only its instances,
/// and (restores) creating a separate tier under wpbackup's names and deleting only what
/// is tagged as wpbackup's.
fn auto_scaling_scope(scope: Scope, target: &Target, x: &Ctx) -> Option<Resolved> {
    let Target::AutoScalingGroup { group_name, .. } = target else {
        return None;
    };
    let acct = x.acct;
    let p = x.primary();
    let site = &x.site.name;
    Some(match scope {
        Scope::Regional => (vec!["*".to_string()], Some(in_regions(&x.regions))),
        // The group's instances change: they are named by the tag Auto Scaling gives them.
        Scope::Protected => (
            vec![format!("arn:aws:ec2:{p}:{acct}:instance/*")],
            Some(json!({ "StringEquals": { "aws:ResourceTag/aws:autoscaling:groupName": group_name } })),
        ),
        // A restore's own launch template, target group and group (plan-fixed names).
        Scope::Launch => (
            x.regions
                .iter()
                .flat_map(|r| {
                    [
                        format!("arn:aws:ec2:{r}:{acct}:launch-template/*"),
                        format!("arn:aws:elasticloadbalancing:{r}:{acct}:targetgroup/wpb-*/*"),
                        format!(
                            "arn:aws:autoscaling:{r}:{acct}:autoScalingGroup:*:autoScalingGroupName/wpb-{site}-*"
                        ),
                    ]
                })
                .collect(),
            None,
        ),
        Scope::PassRole => (
            vec![format!("arn:aws:iam::{acct}:role/*")],
            Some(json!({ "StringEquals": { "iam:PassedToService": "ec2.amazonaws.com" } })),
        ),
        Scope::ManagedRestored => (
            x.regions
                .iter()
                .flat_map(|r| {
                    [
                        format!("arn:aws:ec2:{r}:{acct}:launch-template/*"),
                        format!("arn:aws:elasticloadbalancing:{r}:{acct}:targetgroup/*/*"),
                        format!("arn:aws:autoscaling:{r}:{acct}:autoScalingGroup:*:autoScalingGroupName/*"),
                    ]
                })
                .collect(),
            Some(tagged("aws:ResourceTag/wpbackup:managed")),
        ),
        _ => return None,
    })
}

/// A drill's security group, in the site's region: created only with the managed tag,
/// tagged only while being created, changed and deleted only when tagged wpbackup's.
fn isolation_scope(scope: Scope, x: &Ctx) -> Option<Resolved> {
    let acct = x.acct;
    let r = x.primary();
    let groups = vec![format!("arn:aws:ec2:{r}:{acct}:security-group/*")];
    Some(match scope {
        Scope::Regional => (vec!["*".to_string()], Some(in_regions(&[r.to_string()]))),
        Scope::IsolationCreate => (
            vec![
                format!("arn:aws:ec2:{r}:{acct}:security-group/*"),
                format!("arn:aws:ec2:{r}:{acct}:vpc/*"),
            ],
            Some(tagged("aws:RequestTag/wpbackup:managed")),
        ),
        Scope::IsolationTagOnCreate => (
            groups,
            Some(json!({ "StringEquals": { "ec2:CreateAction": "CreateSecurityGroup" } })),
        ),
        Scope::IsolationManaged => (groups, Some(tagged("ec2:ResourceTag/wpbackup:managed"))),
        _ => return None,
    })
}

/// The table parts a component's statements come from.
fn parts_of(target: &Target) -> &'static [Part] {
    match target {
        Target::LightsailInstance { .. } => &[Part::Lightsail],
        Target::Ec2Instance { .. } => &[Part::Ec2],
        Target::AutoScalingGroup { .. } => &[Part::Ec2, Part::AutoScaling],
        Target::AuroraCluster { .. } => &[Part::Aurora],
        Target::Efs { .. } => &[Part::Efs],
        Target::S3Bucket { .. } => &[Part::S3],
    }
}

fn entry_part(entry: &EntryPoint) -> Part {
    match entry {
        EntryPoint::LightsailStaticIp { .. } => Part::StaticIp,
        EntryPoint::Ec2ElasticIp { .. } => Part::ElasticIp,
        EntryPoint::AlbListener { .. } => Part::Listener,
    }
}

/// The table's rows for `part` and the chosen purposes, grouped by scope: the actions each
/// scope's statement grants.
fn actions_by_scope(part: Part, purposes: &[Purpose]) -> BTreeMap<Scope, BTreeSet<&'static str>> {
    let mut by: BTreeMap<Scope, BTreeSet<&'static str>> = BTreeMap::new();
    for o in OPERATIONS
        .iter()
        .filter(|o| o.part == part && o.purposes.iter().any(|p| purposes.contains(p)))
    {
        by.entry(o.scope)
            .or_default()
            .extend(o.actions.iter().copied());
    }
    by
}

fn statement(sid: String, actions: &BTreeSet<&str>, (resources, condition): Resolved) -> Value {
    let mut s = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions.iter().collect::<Vec<_>>(),
        "Resource": resources,
    });
    if let Some(c) = condition {
        s["Condition"] = c;
    }
    s
}

/// The policy document for the given sites and purposes (one statement per component and
/// scope). `account` fills ARNs; without it they use `*` for the account field.
pub fn policy_document(sites: &[&Site], account: Option<&str>, purposes: &[Purpose]) -> Value {
    let acct = account.unwrap_or("*");
    let mut statements = Vec::new();
    for site in sites {
        for p in &site.policies {
            let mut regions: BTreeSet<String> = BTreeSet::from([site.region.clone()]);
            regions.extend(p.dr_copies.iter().map(|c| c.region.clone()));
            if purposes.contains(&Purpose::Restore) {
                regions.insert(site.dr_region.clone());
            }
            let x = Ctx {
                site,
                acct,
                regions: regions.into_iter().collect(),
                prefix: format!("wpb-{}-", site.name),
            };
            for (i, part) in parts_of(&p.target).iter().enumerate() {
                for (scope, actions) in actions_by_scope(*part, purposes) {
                    if let Some(resolved) = component_scope(*part, scope, &p.target, p, &x) {
                        // A second part's statements are told apart by its name.
                        let name = match i {
                            0 => format!("{scope:?}"),
                            _ => format!("{part:?}{scope:?}"),
                        };
                        statements.push(statement(
                            sid(&[&site.name, &p.name, &name]),
                            &actions,
                            resolved,
                        ));
                    }
                }
            }
        }
        let x = Ctx {
            site,
            acct,
            regions: vec![site.region.clone()],
            prefix: format!("wpb-{}-", site.name),
        };
        let in_vpc = site.policies.iter().any(|p| {
            matches!(
                p.target,
                Target::Ec2Instance { .. }
                    | Target::AutoScalingGroup { .. }
                    | Target::AuroraCluster { .. }
                    | Target::Efs { .. }
            )
        });
        if in_vpc {
            for (scope, actions) in actions_by_scope(Part::Isolation, purposes) {
                if let Some(resolved) = isolation_scope(scope, &x) {
                    let name = format!("{scope:?}");
                    statements.push(statement(sid(&[&site.name, &name]), &actions, resolved));
                }
            }
        }
        if let Some(dist) = &site.cloudfront_distribution_id {
            for (scope, actions) in actions_by_scope(Part::Cdn, purposes) {
                if scope == Scope::Distribution {
                    statements.push(statement(
                        sid(&[&site.name, "Cdn"]),
                        &actions,
                        (
                            vec![format!("arn:aws:cloudfront::{acct}:distribution/{dist}")],
                            None,
                        ),
                    ));
                }
            }
        }
        for (scope, actions) in actions_by_scope(entry_part(&site.entry_point), purposes) {
            if let Some(resolved) = entry_point_scope(scope, &site.entry_point, &x) {
                let name = format!("{scope:?}");
                statements.push(statement(
                    sid(&[&site.name, "EntryPoint", &name]),
                    &actions,
                    resolved,
                ));
            }
        }
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// Every action the document grants (for checks and tests).
pub fn granted_actions(document: &Value) -> BTreeSet<String> {
    document["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["Action"].as_array().into_iter().flatten())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sid_is_alphanumeric() {
        assert_eq!(
            super::sid(&["my-shop", "db-main", "Delete"]),
            "MyShopDbMainDelete"
        );
    }
}
