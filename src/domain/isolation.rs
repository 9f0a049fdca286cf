//! What keeps a drill (or a staging copy) away from production: the VPC its own security
//! group is made in, the health-check port that group lets wpbackup reach, and the check
//! that nothing a drill launches is wired to a production resource.

use serde::{Deserialize, Serialize};

/// Where to find the VPC a drill's resources are created in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "from")]
pub enum VpcOf {
    /// The VPC of this subnet (the web tier's, a file system's mount target's).
    Subnet { subnet: String },
    /// The VPC of this DB subnet group (a drill of the database alone).
    DbSubnetGroup { name: String },
    /// The region's default VPC (nothing recorded names a subnet).
    Default,
}

impl std::fmt::Display for VpcOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VpcOf::Subnet { subnet } => write!(f, "the VPC of subnet {subnet}"),
            VpcOf::DbSubnetGroup { name } => write!(f, "the VPC of DB subnet group {name}"),
            VpcOf::Default => f.write_str("the region's default VPC"),
        }
    }
}

/// The TCP port a health-check URL is fetched on (its explicit port, else 443 for https
/// and 80 for http).
pub fn port_of(url: &str) -> u16 {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    // An IPv6 literal is bracketed: its port follows the bracket.
    let port = match authority.rfind(']') {
        Some(i) => authority[i + 1..].strip_prefix(':'),
        None => authority.rsplit_once(':').map(|(_, p)| p),
    };
    port.and_then(|p| p.parse().ok())
        .unwrap_or(if scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            80
        })
}

/// The production resources a text (a web server's rendered user data) names: each of
/// `production` (ids, identifiers, endpoints) it contains, with what it is.
pub fn production_named_in<'a>(
    text: &str,
    production: &'a [(String, String)],
) -> Vec<&'a (String, String)> {
    production
        .iter()
        .filter(|(id, _)| !id.is_empty() && contains_token(text, id))
        .collect()
}

/// `needle` in `text` as a whole token: not part of a longer identifier (the restored
/// cluster `db-drill2026…` names the production cluster `db` as a prefix, which is no use
/// of it). A cluster endpoint (with dots) names the cluster as its first label.
fn contains_token(text: &str, needle: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut from = 0;
    while let Some(i) = text[from..].find(needle) {
        let start = from + i;
        let end = start + needle.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        if !before.is_some_and(ident) && !after.is_some_and(ident) {
            return true;
        }
        from = end;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_health_check_port_comes_from_the_url() {
        assert_eq!(port_of("https://shop.example.com/wp-login.php"), 443);
        assert_eq!(port_of("http://shop.example.com/"), 80);
        assert_eq!(port_of("http://shop.example.com:8080/x"), 8080);
        assert_eq!(port_of("HTTPS://u:p@shop.example.com"), 443);
        assert_eq!(port_of("http://[::1]:8081/"), 8081);
        assert_eq!(port_of("http://[::1]/"), 80);
    }

    #[test]
    fn production_resources_are_found_as_whole_names_only() {
        let prod = vec![
            ("fs-0prod1".to_string(), "file system of files".to_string()),
            ("shop-db".to_string(), "cluster of db".to_string()),
        ];
        let restored = "mount fs-0drill9:/ ; DB_HOST shop-db-drill20261206t0300.cluster-x.rds";
        assert!(production_named_in(restored, &prod).is_empty());
        let leaky = "mount fs-0prod1:/ /var/www ; DB_HOST 'shop-db.cluster-x.us-east-1.rds'";
        let found = production_named_in(leaky, &prod);
        assert_eq!(found.len(), 2, "{found:?}");
    }
}
