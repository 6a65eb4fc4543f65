"""The bucket the load balancer writes its access logs to: encrypted, TLS-only, private, versioned, retained,
pruned."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.compliance import acknowledge, acknowledge_control


class AccessLogBucket(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, expire_after_days: int) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self, "Bucket",
            # ALB access logs can only be delivered to SSE-S3 buckets, not SSE-KMS.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Logs are evidence after an incident: deleting the stack keeps them; versioning keeps a deleted or
            # overwritten log as a noncurrent version for as long again; the lifecycle prunes both.
            removal_policy=RemovalPolicy.RETAIN,
            versioned=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(expire_after_days),
                                              noncurrent_version_expiration=Duration.days(expire_after_days),
                                              abort_incomplete_multipart_upload_after=Duration.days(1))],
        )
        acknowledge(self.bucket, "S1", "This bucket holds access logs itself; logging its own reads to another "
                    "bucket would start an endless chain of log buckets.")
        acknowledge_control(self.bucket, "S3BucketLoggingEnabled", "This bucket holds access logs itself; logging "
                            "its own reads to another bucket would start an endless chain of log buckets. Reads of "
                            "it are CloudTrail data events, where the account records them.")
        acknowledge_control(self.bucket, "S3DefaultEncryptionKMS", "Application Load Balancers deliver access logs "
                            "only to buckets encrypted with S3-managed keys: 'The only server-side encryption option "
                            "that's supported is Amazon S3-managed keys (SSE-S3)' (ELB User Guide, access logs).")
        acknowledge_control(self.bucket, "S3BucketReplicationEnabled", "Logs, not the service's data: versioned and "
                            "retained in the region they describe; a replica in a second region would double their "
                            "storage for no restore this service needs.")
