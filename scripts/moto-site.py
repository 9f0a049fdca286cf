#!/usr/bin/env python3
"""Create an elastic WordPress site's resources in a running moto server and write a
wpbackup configuration for them: an EC2 instance behind an Elastic IP, an Aurora cluster
with one instance, a versioned S3 bucket replicated to a versioned bucket in the DR region.

Usage: moto-site.py ENDPOINT DIR [PREFIX]
  e.g. .venv/bin/python scripts/moto-site.py http://127.0.0.1:5000 /tmp/moto-site
then:  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \\
       wpbackup --config /tmp/moto-site/wpbackup.toml run --all

Runs with the Python of the virtualenv scripts/test.sh makes (.venv: moto brings boto3).
The same site as tests/integration/aws_moto.rs builds with the Rust SDK.
"""
import os
import sys

import boto3

PRIMARY, DR = "us-east-1", "us-west-2"


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    endpoint, out = sys.argv[1], sys.argv[2]
    prefix = sys.argv[3] if len(sys.argv) == 4 else "moto"
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")

    def client(service, region=PRIMARY):
        return session.client(service, region_name=region, endpoint_url=endpoint)

    ec2 = client("ec2")
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    instance_id = instance["Instances"][0]["InstanceId"]
    allocation_id = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=allocation_id, InstanceId=instance_id)

    rds = client("rds")
    cluster = f"{prefix}-aurora"
    rds.create_db_cluster(DBClusterIdentifier=cluster, Engine="aurora-mysql",
                          MasterUsername="admin", MasterUserPassword="wordpress-secret",
                          BackupRetentionPeriod=7)
    rds.create_db_instance(DBInstanceIdentifier=f"{cluster}-1", DBClusterIdentifier=cluster,
                           Engine="aurora-mysql", DBInstanceClass="db.r6g.large")

    bucket, dr_bucket = f"{prefix}-media", f"{prefix}-media-dr"
    s3, s3_dr = client("s3"), client("s3", DR)
    s3.create_bucket(Bucket=bucket)
    s3_dr.create_bucket(Bucket=dr_bucket,
                        CreateBucketConfiguration={"LocationConstraint": DR})
    for c, b in ((s3, bucket), (s3_dr, dr_bucket)):
        c.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration={
        "Role": "arn:aws:iam::123456789012:role/s3-replication",
        "Rules": [{"ID": "dr", "Priority": 1, "Status": "Enabled", "Filter": {},
                   "DeleteMarkerReplication": {"Status": "Enabled"},
                   "Destination": {"Bucket": f"arn:aws:s3:::{dr_bucket}"}}],
    })

    os.makedirs(os.path.join(out, "policies"), exist_ok=True)
    with open(os.path.join(out, "wpbackup.toml"), "w") as f:
        f.write(f"""version = 1
catalog = "wpbackup.db"

[[sites]]
name = "{prefix}"
provider = "aws"
region = "{PRIMARY}"
dr_region = "{DR}"
policies = "policies"
[sites.entry_point]
ec2_elastic_ip_allocation = "{allocation_id}"
[sites.health_check]
url = "https://{prefix}.example.com/wp-login.php"
[sites.aws]
endpoint_url = "{endpoint}"
""")
    common = """version = 1
name = "{name}"
kind = "{kind}"
schedule = "0 * * * *"
rpo = "1h"
wait_timeout = "2m"

[retention]
daily = 7

[[dr_copies]]
region = "us-west-2"
[dr_copies.retention]
daily = 3
"""
    policies = {
        "web": ("ec2-instance", f'[ec2]\ninstance_id = "{instance_id}"\nno_reboot = true\n'),
        "db": ("aurora-cluster", f'[aurora]\ncluster_identifier = "{cluster}"\npitr_days = 7\n'),
        "media": ("s3-bucket", f'[s3]\nbucket = "{bucket}"\ndr_bucket = "{dr_bucket}"\n'),
    }
    for name, (kind, table) in policies.items():
        with open(os.path.join(out, "policies", f"{name}.toml"), "w") as f:
            f.write(common.format(name=name, kind=kind) + "\n" + table)
    print(os.path.join(out, "wpbackup.toml"))


if __name__ == "__main__":
    main()
