//! Reading `wpbackup.toml` and the policy files it points at, reporting every problem.
//!
//! Parsing is pure given the file texts; this module only adds reading the files.

pub mod policy;
pub mod reader;

use crate::domain::names::check_identifier;
use crate::domain::policy::Policy;
use crate::domain::site::{
    AwsSettings, CatalogLocation, Config, DrNetwork, DrillSettings, EntryPoint, HealthCheck,
    Provider, SimSettings, Site,
};
use chrono::{DateTime, Utc};
use policy::{check_region, read_policy, PolicyContext};
use reader::{Diagnostic, Severity, SourceFile, TableReader};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const SUPPORTED_CONFIG_VERSIONS: [i64; 1] = [1];

/// The configuration could not be used; every problem found is listed.
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) in the configuration:\n{}", .diagnostics.iter().filter(|d| d.severity == Severity::Error).count(),
    .diagnostics.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

/// Load and validate the whole configuration: the sites and all their policies.
/// Warnings come back alongside a usable config.
pub fn load(path: &Path, now: DateTime<Utc>) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
    let mut config = load_without_policies(path)?;
    let mut diagnostics = Vec::new();
    let mut failed = false;
    for site in &mut config.sites {
        let (policies, diags) = load_policy_dir(&site.policies_dir, &site_context(site), now);
        failed |= diags.iter().any(|d| d.severity == Severity::Error);
        diagnostics.extend(diags);
        site.policies = policies;
    }
    if failed {
        return Err(ConfigError { diagnostics });
    }
    Ok((config, diagnostics))
}

/// Load and validate `wpbackup.toml` alone, leaving every site's policies empty.
pub fn load_without_policies(path: &Path) -> Result<Config, ConfigError> {
    let text = reader::read_source(path).map_err(|e| ConfigError {
        diagnostics: vec![Diagnostic {
            severity: Severity::Error,
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            key: String::new(),
            message: format!(
                "cannot read the configuration: {e}. Pass --config FILE, or create a sandbox with \
                 `wpbackup init --sandbox DIR`"
            ),
        }],
    })?;
    let file = SourceFile::new(path, text);
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let (parsed, site_file_diagnostics) = read_config(&file, &base);
    let mut diagnostics = file.take_diagnostics();
    diagnostics.extend(site_file_diagnostics);
    match parsed {
        Some(mut c) if !diagnostics.iter().any(|d| d.severity == Severity::Error) => {
            c.path = path.to_path_buf();
            Ok(c)
        }
        _ => Err(ConfigError { diagnostics }),
    }
}

pub fn site_context(site: &Site) -> PolicyContext {
    PolicyContext {
        site: Some(site.name.clone()),
        primary_region: Some(site.region.clone()),
        dr_region: Some(site.dr_region.clone()),
    }
}

/// The `*.toml` files of a policy directory, sorted.
pub fn policy_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Read every policy in a directory; also checks names are unique across the set.
pub fn load_policy_dir(
    dir: &Path,
    ctx: &PolicyContext,
    now: DateTime<Utc>,
) -> (Vec<Policy>, Vec<Diagnostic>) {
    match policy_files(dir) {
        Ok(files) => check_policy_files(&files, ctx, now),
        Err(e) => (
            Vec::new(),
            vec![Diagnostic {
                severity: Severity::Error,
                file: dir.to_path_buf(),
                line: 0,
                column: 0,
                key: String::new(),
                message: format!("cannot read the policy directory: {e}"),
            }],
        ),
    }
}

/// Check a set of policy files as one site's policies.
pub fn check_policy_files(
    files: &[PathBuf],
    ctx: &PolicyContext,
    now: DateTime<Utc>,
) -> (Vec<Policy>, Vec<Diagnostic>) {
    let mut policies: Vec<Policy> = Vec::new();
    let mut diags = Vec::new();
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in files {
        let text = match reader::read_source(path) {
            Ok(t) => t,
            Err(e) => {
                diags.push(Diagnostic {
                    severity: Severity::Error,
                    file: path.clone(),
                    line: 0,
                    column: 0,
                    key: String::new(),
                    message: format!("cannot read the policy file: {e}"),
                });
                continue;
            }
        };
        let file = SourceFile::new(path, text);
        let policy = read_policy(&file, ctx, now);
        if let Some(p) = &policy {
            if let Some(first) = names.get(&p.name) {
                let span = name_span(&file);
                file.error(
                    span,
                    "name",
                    format!(
                        "duplicate component name {:?}: {} already defines it; each component has one policy",
                        p.name,
                        first.display()
                    ),
                );
            } else {
                names.insert(p.name.clone(), path.clone());
            }
        }
        let failed = file.has_errors();
        diags.extend(file.take_diagnostics());
        if let (Some(p), false) = (policy, failed) {
            policies.push(p);
        }
    }
    (policies, diags)
}

fn name_span(file: &SourceFile) -> std::ops::Range<usize> {
    file.text.find("name").map(|i| i..i + 4).unwrap_or(0..0)
}

/// `wpbackup.toml`, and the sites in the sites directory; the diagnostics of the site
/// files (the main file's stay in `file`).
fn read_config(file: &SourceFile, base: &Path) -> (Option<Config>, Vec<Diagnostic>) {
    let mut site_file_diagnostics = Vec::new();
    let config = read_config_into(file, base, &mut site_file_diagnostics);
    (config, site_file_diagnostics)
}

fn read_config_into(
    file: &SourceFile,
    base: &Path,
    site_file_diagnostics: &mut Vec<Diagnostic>,
) -> Option<Config> {
    let doc = file.parse()?;
    let r = TableReader::root(file, &doc);
    match r.opt_int("version") {
        Some(v) if SUPPORTED_CONFIG_VERSIONS.contains(&v.value) => {}
        Some(v) => file.error(
            v.span,
            "version",
            format!(
                "unsupported configuration version {}; this wpbackup reads version 1",
                v.value
            ),
        ),
        None if !r.has("version") => file.error(
            0..0,
            "version",
            "missing required key `version`; add `version = 1` at the top",
        ),
        None => {}
    }
    let catalog = r
        .req_parsed(
            "catalog",
            "the catalog: a SQLite file, e.g. \"wpbackup.db\", or a postgres:// URL",
            |c| CatalogLocation::parse(c, base),
        )
        .map(|c| c.value);
    use crate::domain::time::{parse_duration, parse_positive_duration};
    let mut restore_durations = BTreeMap::new();
    let (state_file, creating_for, poll_interval) = match r.opt_table("sim") {
        Some(t) => {
            let sf = t.opt_str("state_file").map(|s| base.join(s.value));
            // Zero is a point available at once; a zero poll interval would spin.
            let cf = t.opt_parsed("creating_for", parse_duration);
            let pi = t.opt_parsed("poll_interval", parse_positive_duration);
            let (cf, pi) = (
                cf.map_or(Duration::from_secs(2), |a| a.value),
                pi.map_or(Duration::from_millis(500), |a| a.value),
            );
            if let Some(d) = t.opt_table("restore_durations") {
                for kind in crate::cloud::sim::RESTORE_DURATION_KINDS {
                    if let Some(v) = d.opt_parsed(kind, parse_duration) {
                        restore_durations.insert(kind.to_string(), v.value);
                    }
                }
                d.finish();
            }
            t.finish();
            (sf, cf, pi)
        }
        None => (None, Duration::from_secs(2), Duration::from_millis(500)),
    };
    let mut limits = BTreeMap::new();
    if let Some(t) = r.opt_table("limits") {
        for service in crate::domain::model::ComponentKind::SERVICES {
            if let Some(n) = t.opt_count(service) {
                if n.value == 0 {
                    file.error(
                        n.span,
                        &n.key,
                        "0 would stop every run of this service; give 1 or more, or leave it out for no limit",
                    );
                } else {
                    limits.insert(service.to_string(), n.value as usize);
                }
            }
        }
        t.finish();
    }
    // Sites in a directory, one file each: `sites_dir`, or `sites.d` beside this file.
    let sites_dir = match r.opt_str("sites_dir") {
        Some(d) => Some(base.join(d.value)),
        None => Some(base.join(DEFAULT_SITES_DIR)).filter(|d| d.is_dir()),
    };
    let site_tables = r.opt_tables("sites");
    let mut sites = Vec::new();
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    for t in site_tables {
        if let Some(site) = read_site(&t, base) {
            if names.contains_key(&site.name) {
                file.error(
                    t.span(),
                    &t.key_path("name"),
                    format!("duplicate site name {:?}", site.name),
                );
            } else {
                names.insert(site.name.clone(), file.path.clone());
            }
            sites.push(site);
        }
        t.finish();
    }
    if let Some(dir) = &sites_dir {
        sites.extend(read_sites_dir(dir, base, &mut names, site_file_diagnostics));
    }
    if sites.is_empty() && !r.has("sites") && site_file_diagnostics.is_empty() {
        file.error(
            r.span(),
            "sites",
            format!(
                "no sites: add at least one [[sites]] table, or one file per site in {}",
                sites_dir
                    .as_deref()
                    .unwrap_or(&base.join(DEFAULT_SITES_DIR))
                    .display()
            ),
        );
    }
    r.finish();
    if file.has_errors() {
        return None;
    }
    let catalog = catalog?;
    // The simulator's cloud lives beside a SQLite catalog, or in the configuration's
    // directory when the catalog is a PostgreSQL database.
    let state_file = state_file.unwrap_or_else(|| match catalog.sqlite_path() {
        Some(path) => {
            let mut p = path.as_os_str().to_owned();
            p.push(".sim.json");
            PathBuf::from(p)
        }
        None => base.join("wpbackup.sim.json"),
    });
    Some(Config {
        path: PathBuf::new(),
        catalog,
        limits,
        sim: SimSettings {
            state_file,
            creating_for,
            poll_interval,
            restore_durations,
        },
        sites,
    })
}

/// The directory sites are read from when `sites_dir` is not set (if it exists).
pub const DEFAULT_SITES_DIR: &str = "sites.d";

/// One site per `*.toml` file of `dir` (sorted by name), each validated as a `[[sites]]`
/// table is — relative paths from the configuration's directory, so a table moves into a
/// file unchanged — with its diagnostics under its own file and line.
fn read_sites_dir(
    dir: &Path,
    base: &Path,
    names: &mut BTreeMap<String, PathBuf>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Site> {
    let files = match policy_files(dir) {
        Ok(files) => files,
        Err(e) => {
            diagnostics.push(Diagnostic {
                severity: Severity::Error,
                file: dir.to_path_buf(),
                line: 0,
                column: 0,
                key: String::new(),
                message: format!("cannot read the sites directory: {e}"),
            });
            return Vec::new();
        }
    };
    let mut sites = Vec::new();
    for path in files {
        let text = match reader::read_source(&path) {
            Ok(t) => t,
            Err(e) => {
                diagnostics.push(Diagnostic {
                    severity: Severity::Error,
                    file: path.clone(),
                    line: 0,
                    column: 0,
                    key: String::new(),
                    message: format!("cannot read the site file: {e}"),
                });
                continue;
            }
        };
        let file = SourceFile::new(&path, text);
        if let Some(doc) = file.parse() {
            let t = TableReader::root(&file, &doc);
            if let Some(site) = read_site(&t, base) {
                match names.get(&site.name) {
                    Some(first) => file.error(
                        name_span(&file),
                        "name",
                        format!(
                            "duplicate site name {:?}: {} already defines it",
                            site.name,
                            first.display()
                        ),
                    ),
                    None => {
                        names.insert(site.name.clone(), path.clone());
                    }
                }
                sites.push(site);
            }
            t.finish();
        }
        diagnostics.extend(file.take_diagnostics());
    }
    sites
}

fn read_site(t: &TableReader<'_, '_>, base: &Path) -> Option<Site> {
    let file = t.file;
    let name = t.req_parsed("name", "the site's name, e.g. \"blog\"", |s| {
        check_identifier(s).map(|_| s.to_string())
    });
    let provider = t.req_parsed("provider", "\"aws\" or \"sim\"", |s| match s {
        "aws" => Ok(Provider::Aws),
        "sim" => Ok(Provider::Sim),
        o => Err(format!("unknown provider {o:?}; expected \"aws\" (real AWS) or \"sim\" (the built-in simulator)")),
    });
    let region = t.req_parsed(
        "region",
        "the primary region, e.g. \"us-east-1\"",
        check_region,
    );
    let dr_region = t.req_parsed(
        "dr_region",
        "the disaster-recovery region, e.g. \"us-west-2\"",
        check_region,
    );
    if let (Some(a), Some(b)) = (&region, &dr_region) {
        if a.value == b.value {
            file.error(b.span.clone(), &b.key, "dr_region must differ from region: a copy in the same region does not survive a regional outage");
        }
    }
    let timezone = t
        .opt_parsed("timezone", |s| {
            s.parse::<chrono_tz::Tz>().map_err(|_| {
                format!("unknown time zone {s:?}; use an IANA name such as \"Europe/Berlin\"")
            })
        })
        .map(|a| a.value)
        .unwrap_or(chrono_tz::UTC);
    let policies = t
        .req_str("policies", "the directory of this site's policy files")
        .map(|p| base.join(p.value));

    let entry_point = t.req_table("entry_point", "lightsail_static_ip, ec2_elastic_ip_allocation or alb_listener_arn").and_then(|e| {
        let ls = e.opt_str("lightsail_static_ip");
        let eip = e.opt_str("ec2_elastic_ip_allocation");
        let alb = e.opt_str("alb_listener_arn");
        let ep = match (ls, eip, alb) {
            (Some(l), None, None) if is_lightsail_name(&l.value) => Some(EntryPoint::LightsailStaticIp { name: l.value }),
            (Some(l), None, None) => {
                file.error(l.span, &l.key, format!("{:?} is not a Lightsail static IP name; expected 2 to 255 letters, digits, `-`, `_` or `.`, starting with a letter or digit, e.g. \"StaticIp-1\"", l.value));
                None
            }
            (None, Some(a), None) if is_allocation_id(&a.value) => Some(EntryPoint::Ec2ElasticIp { allocation_id: a.value }),
            (None, Some(a), None) => {
                file.error(a.span, &a.key, format!("{:?} is not an Elastic IP allocation id; expected \"eipalloc-\" and hexadecimal digits, e.g. \"eipalloc-0123456789abcdef0\"", a.value));
                None
            }
            (None, None, Some(l)) if is_listener_arn(&l.value) => Some(EntryPoint::AlbListener { listener_arn: l.value }),
            (None, None, Some(l)) => {
                file.error(l.span, &l.key, format!("{:?} is not an ALB listener ARN; expected arn:aws:elasticloadbalancing:<region>:<account>:listener/app/<load balancer>/<id>/<id>", l.value));
                None
            }
            _ => {
                file.error(e.span(), &e.key_path(""), "set exactly one of `lightsail_static_ip` (a static IP name), `ec2_elastic_ip_allocation` (\"eipalloc-…\") or `alb_listener_arn` (the listener in front of an Auto Scaling web tier)");
                None
            }
        };
        e.finish();
        ep
    });
    let health_check = t
        .req_table("health_check", "url of the page that proves the site works")
        .and_then(|h| {
            let url = h.req_parsed(
                "url",
                "e.g. \"https://www.example.com/wp-login.php\"",
                check_health_url,
            );
            let expect_status = match h.opt_int("expect_status") {
                None => Some(200),
                Some(a) => match u16::try_from(a.value) {
                    Ok(s) if (100..600).contains(&s) => Some(s),
                    _ => {
                        file.error(
                            a.span,
                            &a.key,
                            format!(
                                "{} is not an HTTP status; expected 100 to 599, e.g. 200",
                                a.value
                            ),
                        );
                        None
                    }
                },
            };
            let timeout = h
                .opt_parsed("timeout", crate::domain::time::parse_positive_duration)
                .map(|a| a.value)
                .unwrap_or(Duration::from_secs(10));
            let attempts = match h.opt_count("attempts") {
                None => Some(crate::domain::site::DEFAULT_HEALTH_ATTEMPTS),
                Some(a) if (1..=MAX_HEALTH_ATTEMPTS).contains(&a.value) => Some(a.value),
                Some(a) => {
                    file.error(
                        a.span,
                        &a.key,
                        format!(
                            "{} attempts cannot check anything; expected 1 to {MAX_HEALTH_ATTEMPTS}, e.g. 10",
                            a.value
                        ),
                    );
                    None
                }
            };
            let interval = h
                .opt_parsed("interval", |s| {
                    let d = crate::domain::time::parse_positive_duration(s)?;
                    if d > MAX_HEALTH_INTERVAL {
                        return Err(format!(
                            "{s:?} between attempts would keep a broken restore waiting; expected at most {}, e.g. \"15s\"",
                            humantime::format_duration(MAX_HEALTH_INTERVAL)
                        ));
                    }
                    Ok(d)
                })
                .map(|a| a.value);
            h.finish();
            Some(HealthCheck {
                url: url?.value,
                expect_status: expect_status?,
                timeout,
                attempts: attempts?,
                interval,
            })
        });
    let aws = match t.opt_table("aws") {
        Some(a) => {
            let s = AwsSettings {
                profile: a.opt_str("profile").map(|v| v.value),
                assume_role_arn: a.opt_str("assume_role_arn").map(|v| v.value),
                endpoint_url: a.opt_str("endpoint_url").map(|v| v.value),
            };
            a.finish();
            s
        }
        None => AwsSettings::default(),
    };
    let cloudfront_distribution_id = t
        .opt_parsed("cloudfront_distribution_id", |s| {
            if (6..=32).contains(&s.len())
                && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                Ok(s.to_string())
            } else {
                Err(format!("{s:?} is not a CloudFront distribution id; expected upper-case letters and digits, e.g. \"E2QWRUHAPOMQZL\""))
            }
        })
        .map(|a| a.value);
    let drill = t.opt_table("drill").map(read_drill).unwrap_or_default();
    let dr_network = t
        .opt_table("dr_network")
        .map(read_dr_network)
        .unwrap_or_default();
    let audit = t.opt_table("audit").map(read_audit).unwrap_or_default();
    Some(Site {
        name: name?.value,
        provider: provider?.value,
        region: region?.value,
        dr_region: dr_region?.value,
        timezone,
        policies_dir: policies?,
        entry_point: entry_point?,
        health_check: health_check?,
        drill,
        dr_network,
        cloudfront_distribution_id,
        aws,
        audit,
        policies: Vec::new(),
    })
}

/// `[sites.drill]`: where the health check reaches a drill's isolated web tier from.
fn read_drill(t: TableReader<'_, '_>) -> DrillSettings {
    let mut out = DrillSettings::default();
    if let Some(list) = t.opt_str_list("health_check_from") {
        for item in &list.value {
            if is_security_group_id(item) || is_cidr(item) {
                out.health_check_from.push(item.clone());
            } else {
                t.file.error(
                    list.span.clone(),
                    &list.key,
                    format!("{item:?} is neither a CIDR block nor a security group id; expected e.g. \"203.0.113.7/32\", \"10.0.0.0/16\" or \"sg-0123456789abcdef0\" (where wpbackup runs)"),
                );
            }
        }
    }
    t.finish();
    out
}

/// `[sites.dr_network]`: the DR region's subnets, security groups and DB subnet group.
fn read_dr_network(t: TableReader<'_, '_>) -> DrNetwork {
    let ids = |key: &str, prefix: &str, example: &str| -> Vec<String> {
        let Some(list) = t.opt_str_list(key) else {
            return vec![];
        };
        let mut out = Vec::new();
        for item in &list.value {
            let ok = item
                .strip_prefix(prefix)
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric()));
            if ok {
                out.push(item.clone());
            } else {
                t.file.error(
                    list.span.clone(),
                    &list.key,
                    format!("{item:?} is not a {prefix}… id; expected e.g. \"{example}\" (in the DR region)"),
                );
            }
        }
        out
    };
    let out = DrNetwork {
        subnets: ids("subnets", "subnet-", "subnet-0123456789abcdef0"),
        security_group_ids: ids("security_group_ids", "sg-", "sg-0123456789abcdef0"),
        db_subnet_group: t.opt_str("db_subnet_group").map(|v| v.value),
        db_security_group_ids: ids("db_security_group_ids", "sg-", "sg-0123456789abcdef0"),
        file_system_security_group_ids: ids(
            "file_system_security_group_ids",
            "sg-",
            "sg-0123456789abcdef0",
        ),
    };
    t.finish();
    out
}

fn is_security_group_id(s: &str) -> bool {
    s.strip_prefix("sg-")
        .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// An IPv4 or IPv6 CIDR block (`address/prefix`).
fn is_cidr(s: &str) -> bool {
    let Some((addr, len)) = s.split_once('/') else {
        return false;
    };
    let Ok(len) = len.parse::<u8>() else {
        return false;
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => len <= 32,
        Ok(std::net::IpAddr::V6(_)) => len <= 128,
        Err(_) => false,
    }
}

/// A Lightsail resource name: 2–255 of `[A-Za-z0-9_.-]`, starting with a letter or digit.
fn is_lightsail_name(s: &str) -> bool {
    (2..=255).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// `eipalloc-` and lowercase hexadecimal digits (8 or 17 on AWS; emulators differ).
/// `arn:aws:elasticloadbalancing:<region>:<account>:listener/app/<name>/<id>/<id>` (any
/// partition).
fn is_listener_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "elasticloadbalancing"
        && !parts[3].is_empty()
        && !parts[4].is_empty()
        && parts[5].starts_with("listener/app/")
        && parts[5].split('/').count() == 5
}

fn is_allocation_id(s: &str) -> bool {
    s.strip_prefix("eipalloc-").is_some_and(|h| {
        !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// The health-check URL: http or https, a host, nothing a request line cannot carry.
/// `[sites.health_check] attempts`: more would keep a broken restore waiting for hours.
const MAX_HEALTH_ATTEMPTS: u32 = 100;
/// `[sites.health_check] interval`: the longest pause between two attempts.
const MAX_HEALTH_INTERVAL: Duration = Duration::from_secs(600);

fn check_health_url(s: &str) -> Result<String, String> {
    let example = "write e.g. \"https://www.example.com/wp-login.php\"";
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{s:?} contains {c:?}; a URL has no spaces or control characters (percent-encode a space as %20); {example}"
        ));
    }
    let url = reqwest::Url::parse(s).map_err(|e| format!("{s:?} is not a URL ({e}); {example}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{s:?} is not an http(s) URL; {example}"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{s:?} has no host name; {example}"));
    }
    Ok(s.to_string())
}

/// `[sites.audit]`: the controls' parameters; every key optional (defaults in
/// `AuditParams::default`), every mistake reported.
fn read_audit(a: TableReader<'_, '_>) -> crate::domain::audit::AuditParams {
    let mut p = crate::domain::audit::AuditParams::default();
    let positive_duration = |key: &str, into: &mut Duration| {
        if let Some(v) = a.opt_parsed(key, crate::domain::time::parse_positive_duration) {
            *into = v.value;
        }
    };
    positive_duration("max_backup_interval", &mut p.max_backup_interval);
    positive_duration("min_retention", &mut p.min_retention);
    positive_duration("max_dr_copy_age", &mut p.max_dr_copy_age);
    positive_duration("max_drill_age", &mut p.max_drill_age);
    positive_duration("max_recovery_time", &mut p.max_recovery_time);
    positive_duration("max_staging_age", &mut p.max_staging_age);
    positive_duration("max_unfinished_plan_age", &mut p.max_unfinished_plan_age);
    positive_duration("missed_fires_window", &mut p.missed_fires_window);
    if let Some(v) = a.opt_count("min_pitr_days") {
        if (1..=35).contains(&v.value) {
            p.min_pitr_days = v.value;
        } else {
            a.file.error(
                v.span,
                &v.key,
                format!(
                    "{} is out of range; Aurora keeps 1 to 35 days of continuous backups",
                    v.value
                ),
            );
        }
    }
    if let Some(v) = a.opt_count("max_consecutive_failures") {
        if v.value >= 1 {
            p.max_consecutive_failures = v.value;
        } else {
            a.file.error(
                v.span,
                &v.key,
                "must be at least 1 (the number of failed runs in a row that fails the audit)",
            );
        }
    }
    if let Some(v) = a.opt_count("timeline_days") {
        if (1..=366).contains(&v.value) {
            p.timeline_days = v.value;
        } else {
            a.file.error(
                v.span,
                &v.key,
                format!("{} is out of range; draw 1 to 366 days", v.value),
            );
        }
    }
    if let Some(v) = a.opt_bool("require_vault_lock") {
        p.require_vault_lock = v;
    }
    a.finish();
    p
}

#[cfg(test)]
mod tests {
    #[test]
    fn listener_arns_are_recognised() {
        assert!(super::is_listener_arn(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop-alb/50dc6c495c0c9188/f2f7dc8efc522ab2"
        ));
        for bad in [
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop/50dc6c495c0c9188",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop-alb/50dc6c495c0c9188",
            "arn:aws:ec2:us-east-1:123456789012:listener/app/a/b/c",
            "listener/app/a/b/c",
        ] {
            assert!(!super::is_listener_arn(bad), "{bad}");
        }
    }
}
