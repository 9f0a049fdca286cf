//! `wpbackup init --sandbox DIR`: a complete, simulated setup with a site of each
//! deployment of the whitepaper, using the example policies shipped in `policies/`.

use super::{Cli, CliResult};
use crate::exit;
use anyhow::Context;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Directory to write the sandbox into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub sandbox: std::path::PathBuf,
    /// Overwrite an existing sandbox configuration.
    #[arg(long)]
    pub force: bool,
}

/// The shipped example policies, embedded so the sandbox matches what `policies/` documents.
pub const EXAMPLE_POLICIES: &[(&str, &str, &str)] = &[
    (
        "blog",
        "wordpress.toml",
        include_str!("../../policies/single-server/wordpress.toml"),
    ),
    (
        "shop",
        "web.toml",
        include_str!("../../policies/elastic-single-instance/web.toml"),
    ),
    (
        "shop",
        "db.toml",
        include_str!("../../policies/elastic/db.toml"),
    ),
    (
        "shop",
        "files.toml",
        include_str!("../../policies/elastic/files.toml"),
    ),
    (
        "shop",
        "media.toml",
        include_str!("../../policies/elastic/media.toml"),
    ),
    (
        "news",
        "web.toml",
        include_str!("../../policies/elastic/web.toml"),
    ),
    (
        "news",
        "db.toml",
        include_str!("../../policies/elastic/db.toml"),
    ),
    (
        "news",
        "files.toml",
        include_str!("../../policies/elastic/files.toml"),
    ),
    (
        "news",
        "media.toml",
        include_str!("../../policies/elastic/media.toml"),
    ),
];

/// The sandbox's two elastic sites share the example policies; in one simulated account
/// they must not share resources, so the second one's ids are its own.
const NEWS_RESOURCES: &[(&str, &str)] = &[
    ("\"wordpress-aurora\"", "\"news-aurora\""),
    ("\"fs-0123456789abcdef0\"", "\"fs-0abcdef0123456789\""),
    ("\"example-wordpress-media\"", "\"example-news-media\""),
    (
        "\"example-wordpress-media-dr\"",
        "\"example-news-media-dr\"",
    ),
    ("\"wordpress-web\"", "\"news-web\""),
];

pub const SANDBOX_CONFIG: &str = r#"# wpbackup sandbox: three WordPress sites on the built-in AWS simulator.
# Switch a site to real AWS with provider = "aws" (and real resource ids in its policies).
version = 1
catalog = "wpbackup.db"          # relative to this file

[sim]
state_file = "wpbackup.db.sim.json"  # the simulated cloud; stays when the catalog moves to PostgreSQL
creating_for = "2s"              # how long a simulated point stays "creating"
poll_interval = "250ms"

# The single-server deployment: one Lightsail instance with a static IP.
[[sites]]
name = "blog"
provider = "sim"
region = "us-east-1"
dr_region = "us-west-2"
timezone = "Europe/Berlin"
policies = "policies/blog"
[sites.entry_point]
lightsail_static_ip = "StaticIp-1"
[sites.health_check]
url = "https://blog.example.com/wp-login.php"

# An elastic site with one EC2 web server behind an Elastic IP; Aurora, EFS, S3.
[[sites]]
name = "shop"
provider = "sim"
region = "us-east-1"
dr_region = "us-west-2"
timezone = "Europe/Berlin"
policies = "policies/shop"
[sites.entry_point]
ec2_elastic_ip_allocation = "eipalloc-0123456789abcdef0"
[sites.health_check]
url = "https://shop.example.com/wp-login.php"
expect_status = 200
timeout = "10s"
# attempts = 10     # GETs before a restore's health check fails
# interval = "15s"  # between them (default: the wait interval; [sim] poll_interval here)
# Where `restore --to dr` creates the site in us-west-2 (the primary's network is not there).
[sites.dr_network]
subnets = ["subnet-0sim0dr01", "subnet-0sim0dr02"]
security_group_ids = ["sg-0sim0drweb"]
db_subnet_group = "wp-db-subnets-dr"
db_security_group_ids = ["sg-0sim0drdb"]
file_system_security_group_ids = ["sg-0sim0drnfs"]

# The elastic reference architecture of the whitepaper: an Auto Scaling group of web
# servers behind an Application Load Balancer, Aurora, EFS (WordPress code, themes,
# plugins, uploads), S3. A restore switches the ALB listener.
[[sites]]
name = "news"
provider = "sim"
region = "us-east-1"
dr_region = "us-west-2"
timezone = "Europe/Berlin"
policies = "policies/news"
[sites.entry_point]
alb_listener_arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/news/50dc6c495c0c9188/f2f7dc8efc522ab2"
[sites.health_check]
url = "https://news.example.com/wp-login.php"
"#;

pub fn run(cli: &Cli, args: &InitArgs) -> CliResult {
    let dir = &args.sandbox;
    let config_path = dir.join("wpbackup.toml");
    if config_path.exists() && !args.force {
        return Err(super::usage(format!(
            "{} already exists; pass --force to overwrite it (the catalog is kept)",
            config_path.display()
        )));
    }
    write(&config_path, SANDBOX_CONFIG)?;
    for (site, file, body) in EXAMPLE_POLICIES {
        let mut body = body.to_string();
        if *site == "news" {
            for (from, to) in NEWS_RESOURCES {
                body = body.replace(from, to);
            }
        }
        write(&dir.join("policies").join(site).join(file), &body)?;
    }
    if cli.json {
        super::print_json(&serde_json::json!({
            "config": config_path,
            "sites": ["blog", "shop", "news"],
        }));
    } else {
        println!("Sandbox written to {}", dir.display());
        println!("  sites: blog (Lightsail single server), shop (elastic: one EC2 server, Aurora, EFS, S3),");
        println!("         news (the reference architecture: Auto Scaling group behind an ALB, Aurora, EFS, S3)");
        println!("Next:");
        println!("  wpbackup --config {} run --all", config_path.display());
        println!("  wpbackup --config {} points", config_path.display());
    }
    Ok(exit::OK)
}

fn write(path: &Path, body: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, body).with_context(|| format!("writing {}", path.display()))
}
