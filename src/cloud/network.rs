//! The network port: the VPC a drill's stack lives in and the security group that isolates
//! it — its own group, reachable only from its own members (web → database, web → file
//! system) and, on the health-check port, from where wpbackup checks it; no egress but to
//! its own members. wpbackup's own types in and out; adapters: `sim` and `aws`.

use super::{CloudResult, Tags};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use crate::domain::isolation::VpcOf;

/// Who a rule lets in (ingress) or out to (egress).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type", content = "value")]
pub enum Peer {
    Cidr(String),
    SecurityGroup(String),
}

impl Peer {
    /// `sg-…` names a security group, anything else a CIDR block.
    pub fn parse(s: &str) -> Peer {
        if s.starts_with("sg-") {
            Peer::SecurityGroup(s.to_string())
        } else {
            Peer::Cidr(s.to_string())
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Cidr(c) | Peer::SecurityGroup(c) => f.write_str(c),
        }
    }
}

/// One permission of a security group: all traffic (`ports: None`) or one TCP port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rule {
    pub peer: Peer,
    pub port: Option<u16>,
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(p) => write!(f, "tcp/{p} {}", self.peer),
            None => write!(f, "all {}", self.peer),
        }
    }
}

/// A security group as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupInfo {
    pub id: String,
    pub name: String,
    pub vpc_id: String,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
    pub tags: Tags,
}

impl SecurityGroupInfo {
    /// The rules an isolated group must have and nothing else: ingress from itself (all)
    /// and from each of `allow_from` on `port`; egress to itself only.
    pub fn isolation_problems(&self, allow_from: &[Peer], port: u16) -> Vec<String> {
        let (want_in, want_out) = isolation_rules(&self.id, allow_from, port);
        let mut problems = Vec::new();
        for (what, have, want) in [
            ("ingress", &self.ingress, &want_in),
            ("egress", &self.egress, &want_out),
        ] {
            for r in have.iter().filter(|r| !want.contains(r)) {
                problems.push(format!("{} allows {what} {r}", self.id));
            }
            for r in want.iter().filter(|r| !have.contains(r)) {
                problems.push(format!("{} lacks {what} {r}", self.id));
            }
        }
        problems
    }
}

/// The rules of an isolated group `id`: (ingress, egress) — in from its own members (all
/// traffic) and from each of `allow_from` on `port`; out to its own members only.
pub fn isolation_rules(id: &str, allow_from: &[Peer], port: u16) -> (Vec<Rule>, Vec<Rule>) {
    let me = Peer::SecurityGroup(id.to_string());
    let mut ingress = vec![Rule {
        peer: me.clone(),
        port: None,
    }];
    ingress.extend(allow_from.iter().map(|p| Rule {
        peer: p.clone(),
        port: Some(port),
    }));
    (
        ingress,
        vec![Rule {
            peer: me,
            port: None,
        }],
    )
}

/// What [`Networks::create_isolated_group`] makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolatedGroupRequest {
    pub name: String,
    pub description: String,
    pub vpc_id: String,
    /// Ingress on `port` (the health check's) from these; nothing else from outside.
    pub allow_from: Vec<Peer>,
    pub port: u16,
    pub tags: Tags,
}

#[async_trait]
pub trait Networks: Send + Sync {
    /// The VPC id `of` names.
    async fn vpc_of(&self, region: &str, of: &VpcOf) -> CloudResult<String>;
    /// A security group that isolates a drill's stack: created (idempotent on its name in
    /// the VPC; an existing one must be tagged wpbackup's, else kind `Invalid`), the
    /// default allow-all egress removed, ingress from its own members and from
    /// `allow_from` on `port`, egress to its own members. Returns it as it stands.
    async fn create_isolated_group(
        &self,
        region: &str,
        req: &IsolatedGroupRequest,
    ) -> CloudResult<SecurityGroupInfo>;
    /// The group, or not-found.
    async fn describe_security_group(
        &self,
        region: &str,
        id: &str,
    ) -> CloudResult<SecurityGroupInfo>;
    /// Delete a group wpbackup created (kind `Invalid` for one without the
    /// `wpbackup:managed` tag). Still used by a network interface (an instance or mount
    /// target being deleted): kind `Transient`.
    async fn delete_security_group(&self, region: &str, id: &str) -> CloudResult<()>;
}
