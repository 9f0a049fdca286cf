//! EC2 networking for isolated drills: the VPC of a subnet or DB subnet group, and a
//! security group of the drill's own whose rules are made exactly the isolation rules
//! (missing ones authorized, others revoked — the default allow-all egress first).

use super::error::map_sdk;
use super::operations::Service;
use super::restore::refuse_unmanaged;
use super::AwsCloud;
use crate::cloud::network::{
    isolation_rules, IsolatedGroupRequest, Networks, Peer, Rule, SecurityGroupInfo, VpcOf,
};
use crate::cloud::{CloudError, CloudErrorKind, CloudResult};
use crate::domain::names::TAG_MANAGED;
use async_trait::async_trait;
use aws_sdk_ec2::types as ec2;

fn rules_of(perms: &[ec2::IpPermission]) -> Vec<Rule> {
    let mut out = Vec::new();
    for p in perms {
        let port = match p.ip_protocol() {
            Some("-1") | None => None,
            // wpbackup's rules are single TCP ports; a range is shown by its first port.
            Some(_) => p.from_port().and_then(|f| u16::try_from(f).ok()),
        };
        for r in p.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                out.push(Rule {
                    peer: Peer::Cidr(c.to_string()),
                    port,
                });
            }
        }
        for r in p.ipv6_ranges() {
            if let Some(c) = r.cidr_ipv6() {
                out.push(Rule {
                    peer: Peer::Cidr(c.to_string()),
                    port,
                });
            }
        }
        for g in p.user_id_group_pairs() {
            if let Some(id) = g.group_id() {
                out.push(Rule {
                    peer: Peer::SecurityGroup(id.to_string()),
                    port,
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn permission(r: &Rule) -> ec2::IpPermission {
    let b = match r.port {
        None => ec2::IpPermission::builder().ip_protocol("-1"),
        Some(p) => ec2::IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(i32::from(p))
            .to_port(i32::from(p)),
    };
    match &r.peer {
        Peer::Cidr(c) if c.contains(':') => {
            b.ipv6_ranges(ec2::Ipv6Range::builder().cidr_ipv6(c).build())
        }
        Peer::Cidr(c) => b.ip_ranges(ec2::IpRange::builder().cidr_ip(c).build()),
        Peer::SecurityGroup(g) => {
            b.user_id_group_pairs(ec2::UserIdGroupPair::builder().group_id(g).build())
        }
    }
    .build()
}

fn info(g: &ec2::SecurityGroup) -> SecurityGroupInfo {
    SecurityGroupInfo {
        id: g.group_id().unwrap_or_default().to_string(),
        name: g.group_name().unwrap_or_default().to_string(),
        vpc_id: g.vpc_id().unwrap_or_default().to_string(),
        ingress: rules_of(g.ip_permissions()),
        egress: rules_of(g.ip_permissions_egress()),
        tags: g
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
    }
}

fn filter(name: &str, value: &str) -> ec2::Filter {
    ec2::Filter::builder().name(name).values(value).build()
}

impl AwsCloud {
    async fn group_named(
        &self,
        region: &str,
        vpc: &str,
        name: &str,
    ) -> CloudResult<Option<SecurityGroupInfo>> {
        let c = self.clients(region)?;
        let out = c
            .ec2
            .describe_security_groups()
            .filters(filter("vpc-id", vpc))
            .filters(filter("group-name", name))
            .send()
            .await
            .map_err(|e| map_sdk(Service::Ec2, "DescribeSecurityGroups", e))?;
        Ok(out.security_groups().first().map(info))
    }
}

#[async_trait]
impl Networks for AwsCloud {
    async fn vpc_of(&self, region: &str, of: &VpcOf) -> CloudResult<String> {
        let c = self.clients(region)?;
        let vpc = match of {
            VpcOf::Subnet { subnet } => c
                .ec2
                .describe_subnets()
                .subnet_ids(subnet)
                .send()
                .await
                .map_err(|e| map_sdk(Service::Ec2, "DescribeSubnets", e))?
                .subnets()
                .first()
                .and_then(|s| s.vpc_id().map(str::to_string)),
            VpcOf::DbSubnetGroup { name } => c
                .rds
                .describe_db_subnet_groups()
                .db_subnet_group_name(name)
                .send()
                .await
                .map_err(|e| map_sdk(Service::Rds, "DescribeDBSubnetGroups", e))?
                .db_subnet_groups()
                .first()
                .and_then(|g| g.vpc_id().map(str::to_string)),
            VpcOf::Default => c
                .ec2
                .describe_vpcs()
                .filters(filter("is-default", "true"))
                .send()
                .await
                .map_err(|e| map_sdk(Service::Ec2, "DescribeVpcs", e))?
                .vpcs()
                .first()
                .and_then(|v| v.vpc_id().map(str::to_string)),
        };
        vpc.ok_or_else(|| {
            CloudError::new(
                CloudErrorKind::NotFound,
                "DescribeVpcs",
                format!("no VPC found for {of:?} in {region}"),
            )
        })
    }

    async fn create_isolated_group(
        &self,
        region: &str,
        req: &IsolatedGroupRequest,
    ) -> CloudResult<SecurityGroupInfo> {
        let c = self.clients(region)?;
        let group = match self.group_named(region, &req.vpc_id, &req.name).await? {
            Some(g) => {
                let managed = g.tags.get(TAG_MANAGED).map(String::as_str) == Some("true");
                if !managed {
                    return Err(CloudError::new(
                        CloudErrorKind::Invalid,
                        "CreateSecurityGroup",
                        format!(
                            "a security group named {} exists in {} ({}) and is not tagged {TAG_MANAGED}=true; wpbackup uses only groups it created",
                            req.name, req.vpc_id, g.id
                        ),
                    ));
                }
                g
            }
            None => {
                let mut spec = ec2::TagSpecification::builder()
                    .resource_type(ec2::ResourceType::SecurityGroup);
                spec = spec.tags(ec2::Tag::builder().key("Name").value(&req.name).build());
                for (k, v) in &req.tags {
                    spec = spec.tags(ec2::Tag::builder().key(k).value(v).build());
                }
                let out = c
                    .ec2
                    .create_security_group()
                    .group_name(&req.name)
                    .description(&req.description)
                    .vpc_id(&req.vpc_id)
                    .tag_specifications(spec.build())
                    .send()
                    .await
                    .map_err(|e| map_sdk(Service::Ec2, "CreateSecurityGroup", e))?;
                let id = out.group_id().unwrap_or_default().to_string();
                self.describe_security_group(region, &id).await?
            }
        };
        let (want_in, want_out) = isolation_rules(&group.id, &req.allow_from, req.port);
        // Whatever the group has beyond the isolation rules is revoked, what it lacks
        // authorized — egress first: the allow-all rule EC2 creates goes before anything
        // is let in.
        let extra = |have: &[Rule], want: &[Rule]| -> Option<Vec<ec2::IpPermission>> {
            let v: Vec<_> = have
                .iter()
                .filter(|r| !want.contains(r))
                .map(permission)
                .collect();
            (!v.is_empty()).then_some(v)
        };
        macro_rules! apply {
            ($call:ident, $op:literal, $perms:expr) => {
                if let Some(perms) = $perms {
                    c.ec2
                        .$call()
                        .group_id(&group.id)
                        .set_ip_permissions(Some(perms))
                        .send()
                        .await
                        .map_err(|e| map_sdk(Service::Ec2, $op, e))?;
                }
            };
        }
        apply!(
            revoke_security_group_egress,
            "RevokeSecurityGroupEgress",
            extra(&group.egress, &want_out)
        );
        apply!(
            authorize_security_group_egress,
            "AuthorizeSecurityGroupEgress",
            extra(&want_out, &group.egress)
        );
        apply!(
            revoke_security_group_ingress,
            "RevokeSecurityGroupIngress",
            extra(&group.ingress, &want_in)
        );
        apply!(
            authorize_security_group_ingress,
            "AuthorizeSecurityGroupIngress",
            extra(&want_in, &group.ingress)
        );
        self.describe_security_group(region, &group.id).await
    }

    async fn describe_security_group(
        &self,
        region: &str,
        id: &str,
    ) -> CloudResult<SecurityGroupInfo> {
        let c = self.clients(region)?;
        let out = c
            .ec2
            .describe_security_groups()
            .group_ids(id)
            .send()
            .await
            .map_err(|e| map_sdk(Service::Ec2, "DescribeSecurityGroups", e))?;
        out.security_groups().first().map(info).ok_or_else(|| {
            CloudError::new(
                CloudErrorKind::NotFound,
                "DescribeSecurityGroups",
                format!("no security group {id} in {region}"),
            )
        })
    }

    async fn delete_security_group(&self, region: &str, id: &str) -> CloudResult<()> {
        let g = self.describe_security_group(region, id).await?;
        let managed = g.tags.get(TAG_MANAGED).map(String::as_str) == Some("true");
        refuse_unmanaged(managed, "DeleteSecurityGroup", id)?;
        let c = self.clients(region)?;
        match c.ec2.delete_security_group().group_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = map_sdk(Service::Ec2, "DeleteSecurityGroup", e);
                // Interfaces of terminated instances and deleted mount targets linger for a
                // while: trying again later helps.
                if e.message.contains("DependencyViolation") {
                    Err(CloudError {
                        kind: CloudErrorKind::Transient,
                        ..e
                    })
                } else {
                    Err(e)
                }
            }
        }
    }
}
