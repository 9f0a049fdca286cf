//! The AWS adapters against moto server (started by `scripts/test.sh`): the port contract
//! for EC2, Aurora and S3, settings read live, and the binary end to end.

use super::cloud_contract::{contract, DR, PRIMARY};
use aws_config::{Region, SdkConfig};
use aws_credential_types::Credentials;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use wpbackup::cloud::aws::{AwsCloud, Clients};
use wpbackup::cloud::ProtectionSettings;
use wpbackup::domain::model::ComponentKind;
use wpbackup::domain::time::SystemClock;

pub fn endpoint() -> String {
    std::env::var("WPBACKUP_TEST_MOTO").expect(
        "WPBACKUP_TEST_MOTO is not set: run the tests with ./scripts/test.sh, which starts moto server",
    )
}

pub async fn sdk(region: &str) -> SdkConfig {
    wpbackup::cloud::aws::sdk_defaults()
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

pub async fn clients(region: &str) -> Clients {
    Clients::for_region(&sdk(region).await, region)
}

/// A WordPress site's resources in moto, created by a client independent of wpbackup.
pub struct MotoSite {
    pub prefix: String,
    pub instance_id: String,
    pub allocation_id: String,
    pub cluster: String,
    pub bucket: String,
    pub dr_bucket: String,
}

pub async fn create_site(prefix: &str) -> MotoSite {
    let east = clients(PRIMARY).await;
    let west = clients(DR).await;
    // EC2: an instance from one of moto's images, with an Elastic IP.
    let images = east
        .ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap();
    let ami = images
        .images()
        .first()
        .and_then(|i| i.image_id())
        .expect("moto has images")
        .to_string();
    let run = east
        .ec2
        .run_instances()
        .image_id(ami)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let instance_id = run.instances()[0].instance_id().unwrap().to_string();
    let eip = east
        .ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .unwrap();
    let allocation_id = eip.allocation_id().unwrap().to_string();
    east.ec2
        .associate_address()
        .allocation_id(&allocation_id)
        .instance_id(&instance_id)
        .send()
        .await
        .unwrap();

    // Aurora: a cluster with one instance and a 7-day continuous-backup window.
    let cluster = format!("{prefix}-aurora");
    east.rds
        .create_db_cluster()
        .db_cluster_identifier(&cluster)
        .engine("aurora-mysql")
        .master_username("admin")
        .master_user_password("wordpress-secret")
        .backup_retention_period(7)
        .send()
        .await
        .unwrap();
    east.rds
        .create_db_instance()
        .db_instance_identifier(format!("{cluster}-1"))
        .db_cluster_identifier(&cluster)
        .engine("aurora-mysql")
        .db_instance_class("db.r6g.large")
        .send()
        .await
        .unwrap();

    // S3: versioned source and replica, replication including delete markers.
    let bucket = format!("{prefix}-media");
    let dr_bucket = format!("{prefix}-media-dr");
    east.s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    west.s3
        .create_bucket()
        .bucket(&dr_bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for (c, b) in [(&east, &bucket), (&west, &dr_bucket)] {
        set_versioning(c, b, true).await;
    }
    set_replication(&east, &bucket, &dr_bucket, true).await;
    MotoSite {
        prefix: prefix.to_string(),
        instance_id,
        allocation_id,
        cluster,
        bucket,
        dr_bucket,
    }
}

pub async fn set_versioning(c: &Clients, bucket: &str, on: bool) {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let status = if on {
        BucketVersioningStatus::Enabled
    } else {
        BucketVersioningStatus::Suspended
    };
    c.s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .unwrap();
}

pub async fn set_replication(c: &Clients, bucket: &str, dr_bucket: &str, on: bool) {
    use aws_sdk_s3::types::*;
    let status = if on {
        ReplicationRuleStatus::Enabled
    } else {
        ReplicationRuleStatus::Disabled
    };
    let rule = ReplicationRule::builder()
        .id("wordpress-dr")
        .priority(1)
        .status(status)
        .filter(ReplicationRuleFilter::builder().prefix("").build())
        .delete_marker_replication(
            DeleteMarkerReplication::builder()
                .status(DeleteMarkerReplicationStatus::Enabled)
                .build(),
        )
        .destination(
            Destination::builder()
                .bucket(format!("arn:aws:s3:::{dr_bucket}"))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    c.s3.put_bucket_replication()
        .bucket(bucket)
        .replication_configuration(
            ReplicationConfiguration::builder()
                .role("arn:aws:iam::123456789012:role/s3-replication")
                .rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// `wpbackup.toml` + policies for the site, provider aws, pointing at moto.
pub fn write_config(dir: &Path, site: &MotoSite) -> std::path::PathBuf {
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    let config = format!(
        r#"version = 1
catalog = "wpbackup.db"

[[sites]]
name = "{p}"
provider = "aws"
region = "{PRIMARY}"
dr_region = "{DR}"
policies = "policies"
[sites.entry_point]
ec2_elastic_ip_allocation = "{eip}"
[sites.health_check]
url = "https://{p}.example.com/wp-login.php"
[sites.aws]
endpoint_url = "{endpoint}"
"#,
        p = site.prefix,
        eip = site.allocation_id,
        endpoint = endpoint()
    );
    let common = |name: &str, kind: &str, rpo: &str| {
        format!(
            "version = 1\nname = \"{name}\"\nkind = \"{kind}\"\nschedule = \"0 * * * *\"\nrpo = \"{rpo}\"\nwait_timeout = \"2m\"\n\n[retention]\ndaily = 7\n\n[[dr_copies]]\nregion = \"{DR}\"\n[dr_copies.retention]\ndaily = 3\n\n[tags]\nenvironment = \"test\"\n"
        )
    };
    std::fs::write(
        policies.join("web.toml"),
        format!(
            "{}\n[ec2]\ninstance_id = \"{}\"\nno_reboot = true\n",
            common("web", "ec2-instance", "1h"),
            site.instance_id
        ),
    )
    .unwrap();
    std::fs::write(
        policies.join("db.toml"),
        format!(
            "{}\n[aurora]\ncluster_identifier = \"{}\"\npitr_days = 7\n",
            common("db", "aurora-cluster", "1h"),
            site.cluster
        ),
    )
    .unwrap();
    std::fs::write(
        policies.join("media.toml"),
        format!(
            "{}\n[s3]\nbucket = \"{}\"\ndr_bucket = \"{}\"\n",
            common("media", "s3-bucket", "1h"),
            site.bucket,
            site.dr_bucket
        ),
    )
    .unwrap();
    let path = dir.join("wpbackup.toml");
    std::fs::write(&path, config).unwrap();
    path
}

async fn adapter(config: &Path, site: &str) -> AwsCloud {
    let (config, _) = wpbackup::config::load(config, chrono::Utc::now()).expect("config loads");
    let site = config.site(site).unwrap().clone();
    let mut map = HashMap::new();
    map.insert(PRIMARY.to_string(), clients(PRIMARY).await);
    map.insert(DR.to_string(), clients(DR).await);
    AwsCloud::with_clients(&site, Arc::new(SystemClock), map)
}

pub fn unique(tag: &str) -> String {
    format!(
        "{tag}{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000
    )
}

#[tokio::test]
async fn aws_adapters_honour_the_contract_on_moto() {
    let prefix = unique("ct");
    let site = create_site(&prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &site);
    let aws = adapter(&cfg, &prefix).await;
    let (config, _) = wpbackup::config::load(&cfg, chrono::Utc::now()).unwrap();
    let cases: Vec<(ComponentKind, _)> = config.sites[0]
        .policies
        .iter()
        .map(|p| (p.kind, p.target.clone()))
        .collect();
    assert_eq!(cases.len(), 3);
    contract(&aws, &prefix, &cases, &|| {}).await;
}

#[tokio::test]
async fn live_settings_are_read_from_the_service() {
    let prefix = unique("ls");
    let site = create_site(&prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &site);
    let aws = adapter(&cfg, &prefix).await;
    let (config, _) = wpbackup::config::load(&cfg, chrono::Utc::now()).unwrap();
    let policies = &config.sites[0].policies;
    let db = policies.iter().find(|p| p.name == "db").unwrap();
    let media = policies.iter().find(|p| p.name == "media").unwrap();

    let checks = aws.inspect(&db.target, PRIMARY).await.unwrap();
    assert!(checks.iter().all(|c| c.ok), "{checks:#?}");
    assert_eq!(checks[0].actual, "7");
    let checks = aws.inspect(&media.target, PRIMARY).await.unwrap();
    // moto stores DeleteMarkerReplication as Disabled whatever it is given; AWS keeps it.
    let essential: Vec<_> = checks
        .iter()
        .filter(|c| c.setting != "s3.replication.delete_markers")
        .collect();
    assert_eq!(essential.len(), 3, "{checks:#?}");
    assert!(essential.iter().all(|c| c.ok), "{checks:#?}");

    // Switch replication off behind wpbackup's back: the next checkpoint refuses.
    set_replication(
        &clients(PRIMARY).await,
        &site.bucket,
        &site.dr_bucket,
        false,
    )
    .await;
    let checks = aws.inspect(&media.target, PRIMARY).await.unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c.setting == "s3.replication" && !c.ok),
        "{checks:#?}"
    );
    use wpbackup::cloud::RecoveryPoints;
    let e = aws
        .create_point(&media.target, PRIMARY, "cp", &Default::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, wpbackup::cloud::CloudErrorKind::Invalid);
    assert!(e.message.contains("s3.replication"), "{e}");
}

/// The binary, with test credentials for moto and nothing from the developer's machine.
pub fn wpbackup_aws(dir: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("wpbackup").unwrap();
    c.current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("WPBACKUP_CONFIG");
    c
}

fn tags_of(tags: &[aws_sdk_ec2::types::Tag]) -> HashMap<String, String> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn run_all_on_aws_creates_tagged_points_and_dr_copies() {
    let prefix = unique("e2e");
    let site = create_site(&prefix).await;
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &site);
    let out = wpbackup_aws(dir.path())
        .args(["--json", "run", "--all"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(
        out.status.code(),
        Some(0),
        "{report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["phase"] == "Completed"),
        "{report:#}"
    );

    // The catalog, through the binary.
    let out = wpbackup_aws(dir.path())
        .args(["--json", "points"])
        .output()
        .unwrap();
    let points: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let points = points["points"].as_array().unwrap();
    assert_eq!(points.len(), 6, "{points:#?}");
    for kind in ["ec2-ami", "aurora-cluster-snapshot", "s3-checkpoint"] {
        for region in [PRIMARY, DR] {
            assert!(
                points.iter().any(|p| p["kind"] == kind
                    && p["region"] == region
                    && p["state"] == "available"),
                "no available {kind} in {region}"
            );
        }
    }

    // And independently, through the API.
    let east = clients(PRIMARY).await;
    let west = clients(DR).await;
    let site_filter = aws_sdk_ec2::types::Filter::builder()
        .name("tag:wpbackup:site")
        .values(&prefix)
        .build();
    let images = east
        .ec2
        .describe_images()
        .owners("self")
        .filters(site_filter.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(images.images().len(), 1);
    let image = &images.images()[0];
    let tags = tags_of(image.tags());
    assert_eq!(
        tags.get("wpbackup:managed").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        tags.get("wpbackup:component").map(String::as_str),
        Some("web")
    );
    assert_eq!(tags.get("environment").map(String::as_str), Some("test"));
    let snap_ids: Vec<String> = image
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
        .map(str::to_string)
        .collect();
    assert!(!snap_ids.is_empty());
    let snaps = east
        .ec2
        .describe_snapshots()
        .set_snapshot_ids(Some(snap_ids))
        .send()
        .await
        .unwrap();
    for s in snaps.snapshots() {
        let t = tags_of(s.tags());
        assert_eq!(
            t.get("wpbackup:managed").map(String::as_str),
            Some("true"),
            "AMI snapshot {:?} tagged",
            s.snapshot_id()
        );
        assert_eq!(
            t.get("wpbackup:image").map(String::as_str),
            image.image_id()
        );
    }
    let copies = west
        .ec2
        .describe_images()
        .owners("self")
        .filters(site_filter)
        .send()
        .await
        .unwrap();
    assert_eq!(copies.images().len(), 1, "AMI copied to the DR region");

    let snaps = east
        .rds
        .describe_db_cluster_snapshots()
        .db_cluster_identifier(&site.cluster)
        .snapshot_type("manual")
        .send()
        .await
        .unwrap();
    assert_eq!(snaps.db_cluster_snapshots().len(), 1);
    let arn = snaps.db_cluster_snapshots()[0]
        .db_cluster_snapshot_arn()
        .unwrap();
    let tags = east
        .rds
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .unwrap();
    assert!(tags
        .tag_list()
        .iter()
        .any(|t| t.key() == Some("wpbackup:managed") && t.value() == Some("true")));
    let dr = west
        .rds
        .describe_db_cluster_snapshots()
        .snapshot_type("manual")
        .send()
        .await
        .unwrap();
    let name = snaps.db_cluster_snapshots()[0]
        .db_cluster_snapshot_identifier()
        .unwrap();
    assert!(
        dr.db_cluster_snapshots()
            .iter()
            .any(|s| s.db_cluster_snapshot_identifier() == Some(&format!("{name}-{DR}"))),
        "cluster snapshot copied to the DR region"
    );
}

#[tokio::test]
async fn sync_on_aws_sees_deletions_and_unmanaged_snapshots() {
    let prefix = unique("sy");
    let site = create_site(&prefix).await;
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &site);
    wpbackup_aws(dir.path())
        .args(["run", "--all"])
        .assert()
        .success();

    // Behind wpbackup's back: the DR copy of the cluster snapshot is deleted, and someone
    // takes a manual snapshot in the console.
    let west = clients(DR).await;
    let east = clients(PRIMARY).await;
    let dr = west
        .rds
        .describe_db_cluster_snapshots()
        .snapshot_type("manual")
        .send()
        .await
        .unwrap();
    let copy = dr
        .db_cluster_snapshots()
        .iter()
        .find(|s| {
            s.db_cluster_snapshot_identifier()
                .is_some_and(|i| i.starts_with(&format!("wpb-{prefix}-db-")))
        })
        .expect("the DR copy exists")
        .db_cluster_snapshot_identifier()
        .unwrap()
        .to_string();
    west.rds
        .delete_db_cluster_snapshot()
        .db_cluster_snapshot_identifier(&copy)
        .send()
        .await
        .unwrap();
    east.rds
        .create_db_cluster_snapshot()
        .db_cluster_identifier(&site.cluster)
        .db_cluster_snapshot_identifier(format!("{prefix}-by-hand"))
        .send()
        .await
        .unwrap();

    let out = wpbackup_aws(dir.path())
        .args(["--json", "sync"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    let s = &v["sites"][0];
    let missing = s["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{s:#}");
    assert_eq!(missing[0]["provider_id"], copy.as_str());
    let unmanaged = s["unmanaged"].as_array().unwrap();
    assert!(
        unmanaged
            .iter()
            .any(|u| u["provider_id"] == format!("{prefix}-by-hand").as_str()
                && u["component"] == "db"),
        "{s:#}"
    );
    assert!(s["imported"].as_array().unwrap().is_empty());

    // Nothing was deleted or changed in the cloud by sync.
    let still = east
        .rds
        .describe_db_cluster_snapshots()
        .db_cluster_identifier(&site.cluster)
        .snapshot_type("manual")
        .send()
        .await
        .unwrap();
    assert_eq!(still.db_cluster_snapshots().len(), 2);

    // A fresh catalog imports the tagged AMIs and cluster snapshots.
    std::fs::remove_file(dir.path().join("wpbackup.db")).unwrap();
    let out = wpbackup_aws(dir.path())
        .args(["--json", "sync"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let imported = v["sites"][0]["imported"].as_array().unwrap();
    let kinds: Vec<&str> = imported
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        imported.len(),
        3,
        "AMI, its copy, the primary cluster snapshot: {kinds:?}"
    );
}

#[tokio::test]
async fn the_standard_endpoint_variable_works_too() {
    let prefix = unique("ev");
    let site = create_site(&prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &site);
    // No endpoint_url in the configuration: AWS_ENDPOINT_URL, as aws-config reads it.
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("endpoint_url"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&cfg, text).unwrap();
    let out = wpbackup_aws(dir.path())
        .env("AWS_ENDPOINT_URL", endpoint())
        .args(["--json", "run", "--policy", "media"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runs"][0]["phase"], "Completed");
}

#[tokio::test]
async fn aws_restores_honour_the_restore_contract_on_moto() {
    let prefix = unique("rc");
    let site = create_site(&prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &site);
    let aws = adapter(&cfg, &prefix).await;
    let (config, _) = wpbackup::config::load(&cfg, chrono::Utc::now()).unwrap();
    let policies = &config.sites[0].policies;
    let web = &policies.iter().find(|p| p.name == "web").unwrap().target;
    let db = &policies.iter().find(|p| p.name == "db").unwrap().target;
    let entry = wpbackup::domain::site::EntryPoint::Ec2ElasticIp {
        allocation_id: site.allocation_id.clone(),
    };
    use wpbackup::cloud::Restores;
    assert_eq!(
        aws.address_target(&entry, PRIMARY)
            .await
            .unwrap()
            .as_deref(),
        Some(site.instance_id.as_str())
    );
    super::cloud_contract::restore_contract(&aws, &aws, &prefix, web, db, &entry, &|| {}).await;
    // Independently: the Elastic IP now points at the launched instance, not the old one.
    let addr = clients(PRIMARY)
        .await
        .ec2
        .describe_addresses()
        .allocation_ids(&site.allocation_id)
        .send()
        .await
        .unwrap();
    assert_ne!(
        addr.addresses()[0].instance_id(),
        Some(site.instance_id.as_str())
    );
}

#[tokio::test]
async fn s3_objects_are_reverted_to_an_instant_without_losing_history() {
    use wpbackup::cloud::Restores;
    let prefix = unique("s3");
    let site = create_site(&prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &site);
    let aws = adapter(&cfg, &prefix).await;
    let s3 = clients(PRIMARY).await.s3;
    let put = |key: &'static str, body: &'static str| {
        let s3 = s3.clone();
        let bucket = site.bucket.clone();
        async move {
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(body.as_bytes().to_vec().into())
                .send()
                .await
                .unwrap();
        }
    };
    // Before T: a.jpg v1, b.jpg v1 and v2 in the same second.
    put("uploads/a.jpg", "a-v1").await;
    put("uploads/b.jpg", "b-v1").await;
    put("uploads/b.jpg", "b-v2").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let t = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // After T: a.jpg overwritten, b.jpg deleted, c.jpg created.
    put("uploads/a.jpg", "a-v2").await;
    s3.delete_object()
        .bucket(&site.bucket)
        .key("uploads/b.jpg")
        .send()
        .await
        .unwrap();
    put("uploads/c.jpg", "c-v1").await;

    let versions = aws.object_versions(PRIMARY, &site.bucket).await.unwrap();
    assert_eq!(versions.len(), 6, "{versions:#?}");
    let then = wpbackup::domain::selection::objects_as_of(&versions, t);
    assert!(then["uploads/c.jpg"].is_none(), "c did not exist at T");
    let b = then["uploads/b.jpg"].as_ref().expect("b existed at T");
    for (key, v) in &then {
        aws.revert_object(
            PRIMARY,
            &site.bucket,
            key,
            v.as_ref().map(|v| v.version_id.as_str()),
        )
        .await
        .unwrap();
    }
    let body = |key: &'static str| {
        let s3 = s3.clone();
        let bucket = site.bucket.clone();
        async move {
            match s3.get_object().bucket(bucket).key(key).send().await {
                Ok(o) => Some(String::from_utf8(o.body.collect().await.unwrap().to_vec()).unwrap()),
                Err(_) => None,
            }
        }
    };
    assert_eq!(body("uploads/a.jpg").await.as_deref(), Some("a-v1"));
    assert_eq!(
        body("uploads/b.jpg").await.as_deref(),
        Some("b-v2"),
        "same-second versions: the later one ({})",
        b.version_id
    );
    assert_eq!(
        body("uploads/c.jpg").await,
        None,
        "created after T: hidden by a delete marker"
    );
    let after = aws.object_versions(PRIMARY, &site.bucket).await.unwrap();
    assert_eq!(
        after.len(),
        versions.len() + 3,
        "reverts only add versions and markers"
    );
}

#[tokio::test]
async fn efs_file_system_and_backup_vaults_are_read_on_moto() {
    use wpbackup::cloud::ProtectionSettings;
    let prefix = unique("ef");
    let east = clients(PRIMARY).await;
    let west = clients(DR).await;
    let fs = east
        .efs
        .create_file_system()
        .creation_token(&prefix)
        .encrypted(true)
        .send()
        .await
        .unwrap();
    let fs_id = fs.file_system_id().to_string();
    east.backup
        .create_backup_vault()
        .backup_vault_name(format!("{prefix}-vault"))
        .send()
        .await
        .unwrap();
    // The DR vault is missing: that must be reported.
    let site = create_site(&prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &site);
    std::fs::write(
        dir.path().join("policies/files.toml"),
        format!(
            "version = 1\nname = \"files\"\nkind = \"efs\"\nschedule = \"0 * * * *\"\nrpo = \"1h\"\n[retention]\ndaily = 7\n[[dr_copies]]\nregion = \"{DR}\"\nvault = \"{prefix}-vault-dr\"\n[dr_copies.retention]\ndaily = 3\n[efs]\nfile_system_id = \"{fs_id}\"\nvault = \"{prefix}-vault\"\niam_role_arn = \"arn:aws:iam::123456789012:role/backup\"\n"
        ),
    )
    .unwrap();
    let aws = adapter(&cfg, &prefix).await;
    let (config, _) = wpbackup::config::load(&cfg, chrono::Utc::now()).unwrap();
    let files = config.sites[0]
        .policies
        .iter()
        .find(|p| p.name == "files")
        .unwrap();
    let checks = aws.inspect(&files.target, PRIMARY).await.unwrap();
    let get = |s: &str| {
        checks
            .iter()
            .find(|c| c.setting.starts_with(s))
            .unwrap_or_else(|| panic!("{s}: {checks:#?}"))
    };
    assert!(get("efs.encrypted").ok);
    assert_eq!(get("backup.vault_lock").actual, "not locked");
    let missing = get("backup.vault[us-west-2/");
    assert!(!missing.ok, "{checks:#?}");

    west.backup
        .create_backup_vault()
        .backup_vault_name(format!("{prefix}-vault-dr"))
        .send()
        .await
        .unwrap();
    let checks = aws.inspect(&files.target, PRIMARY).await.unwrap();
    assert!(checks.iter().all(|c| c.ok), "{checks:#?}");
}
