//! `wpbackup init --sandbox DIR`: a complete, simulated setup with one site of each
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
        include_str!("../../policies/elastic/web.toml"),
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
];

pub const SANDBOX_CONFIG: &str = r#"# wpbackup sandbox: two WordPress sites on the built-in AWS simulator.
# Switch a site to real AWS with provider = "aws" (and real resource ids in its policies).
version = 1
catalog = "wpbackup.db"          # relative to this file

[sim]
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

# The elastic reference architecture: EC2 web tier, Aurora, EFS, S3, Elastic IP.
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
        write(&dir.join("policies").join(site).join(file), body)?;
    }
    if cli.json {
        super::print_json(&serde_json::json!({
            "config": config_path,
            "sites": ["blog", "shop"],
        }));
    } else {
        println!("Sandbox written to {}", dir.display());
        println!("  sites: blog (Lightsail single server), shop (elastic: EC2, Aurora, EFS, S3)");
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
