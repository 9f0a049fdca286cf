//! The simulator's networks: one VPC per region (every subnet and DB subnet group is in
//! it), and security groups with their rules. A group still named by a live instance,
//! cluster or mount target cannot be deleted (as AWS refuses while network interfaces use it).

use super::restore::key_of;
use super::{sim_error, SimCloud, SimState};
use crate::cloud::network::{
    isolation_rules, IsolatedGroupRequest, Networks, Peer, Rule, SecurityGroupInfo, VpcOf,
};
use crate::cloud::{CloudErrorKind, CloudResult};
use crate::domain::names::TAG_MANAGED;
use async_trait::async_trait;

/// The one VPC of a simulated region.
pub(crate) fn sim_vpc(region: &str) -> String {
    format!("vpc-0sim{}", &super::content::digest_of(region)[..8])
}

impl SimState {
    fn group_in_use(&self, region: &str, id: &str) -> Vec<String> {
        self.resources
            .values()
            .filter(|r| r.region == region && !r.deleted)
            .filter(|r| r.security_groups.iter().any(|g| g == id))
            .map(|r| r.id.clone())
            .collect()
    }
}

#[async_trait]
impl Networks for SimCloud {
    async fn vpc_of(&self, region: &str, of: &VpcOf) -> CloudResult<String> {
        let op = match of {
            VpcOf::Subnet { .. } => "DescribeSubnets",
            VpcOf::DbSubnetGroup { .. } => "DescribeDBSubnetGroups",
            VpcOf::Default => "DescribeVpcs",
        };
        self.fault_gate(None, super::FaultOp::Describe, op).await?;
        Ok(sim_vpc(region))
    }

    async fn create_isolated_group(
        &self,
        region: &str,
        req: &IsolatedGroupRequest,
    ) -> CloudResult<SecurityGroupInfo> {
        self.faulted(
            None,
            super::FaultOp::Create,
            "CreateSecurityGroup",
            |s, _, _| {
                let existing = s
                    .security_groups
                    .values()
                    .find(|g| g.vpc_id == req.vpc_id && g.name == req.name)
                    .cloned();
                let mut g = match existing {
                    Some(g) if g.tags.get(TAG_MANAGED).map(String::as_str) != Some("true") => {
                        return Err(sim_error(
                            CloudErrorKind::Invalid,
                            "CreateSecurityGroup",
                            format!(
                                "a security group named {} exists in {} ({}) and is not tagged {TAG_MANAGED}=true; wpbackup uses only groups it created",
                                req.name, req.vpc_id, g.id
                            ),
                        ))
                    }
                    Some(g) => g,
                    None => {
                        let id = format!(
                            "sg-0sim{}",
                            &super::content::digest_of(&format!("{}/{}", req.vpc_id, req.name))
                                [..10]
                        );
                        SecurityGroupInfo {
                            id,
                            name: req.name.clone(),
                            vpc_id: req.vpc_id.clone(),
                            ingress: vec![],
                            // As EC2 creates it: all egress allowed.
                            egress: vec![Rule {
                                peer: Peer::Cidr("0.0.0.0/0".into()),
                                port: None,
                            }],
                            tags: req.tags.clone(),
                        }
                    }
                };
                (g.ingress, g.egress) = isolation_rules(&g.id, &req.allow_from, req.port);
                s.security_groups.insert(key_of(region, &g.id), g.clone());
                Ok(g)
            },
        )
        .await
    }

    async fn describe_security_group(
        &self,
        region: &str,
        id: &str,
    ) -> CloudResult<SecurityGroupInfo> {
        self.faulted(
            None,
            super::FaultOp::Describe,
            "DescribeSecurityGroups",
            |s, _, _| {
                s.security_groups
                    .get(&key_of(region, id))
                    .cloned()
                    .ok_or_else(|| {
                        sim_error(
                            CloudErrorKind::NotFound,
                            "DescribeSecurityGroups",
                            format!("InvalidGroup.NotFound: no security group {id} in {region}"),
                        )
                    })
            },
        )
        .await
    }

    async fn delete_security_group(&self, region: &str, id: &str) -> CloudResult<()> {
        self.faulted(
            None,
            super::FaultOp::Delete,
            "DeleteSecurityGroup",
            |s, _, _| {
                let key = key_of(region, id);
                let g = s.security_groups.get(&key).ok_or_else(|| {
                    sim_error(
                        CloudErrorKind::NotFound,
                        "DeleteSecurityGroup",
                        format!("no security group {id} in {region}"),
                    )
                })?;
                if g.tags.get(TAG_MANAGED).map(String::as_str) != Some("true") {
                    return Err(sim_error(
                        CloudErrorKind::Invalid,
                        "DeleteSecurityGroup",
                        format!("{id} is not tagged {TAG_MANAGED}=true; wpbackup deletes only what it created"),
                    ));
                }
                let users = s.group_in_use(region, id);
                if !users.is_empty() {
                    return Err(sim_error(
                        CloudErrorKind::Transient,
                        "DeleteSecurityGroup",
                        format!(
                            "DependencyViolation: {id} is still used by {}",
                            users.join(", ")
                        ),
                    ));
                }
                s.security_groups.remove(&key);
                Ok(())
            },
        )
        .await
    }
}
