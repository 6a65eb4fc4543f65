"""The in-house registry: ECR repositories for this repository's two images, and an optional pull-through
cache for Docker Hub (the seed's section 1, run by AWS instead of a registry container under systemd)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from constructs import Construct

# Container name -> its ECR repository. The service finds the images by these names (stacks/container_images),
# so the registry and service stacks deploy independently.
REPOSITORY_NAMES = {"echo": "echo-fargate/echo", "nginx": "echo-fargate/nginx-proxy"}
DOCKER_HUB_CACHE_PREFIX = "docker-hub"
# The pipeline adds `release-<commit>` to an image once it is deployed and verified (.circleci/config.yml).
RELEASE_TAG_PREFIX = "release-"


class ContainerRegistry(Construct):
    """Repositories that scan every push, never overwrite a tag, and keep only what a rollback could need."""

    def __init__(self, scope: Construct, construct_id: str, *, keep_tagged_images: int,
                 docker_hub_secret_arn: str | None, keep_releases: int = 10, encryption: str = "aes256") -> None:
        super().__init__(scope, construct_id)
        # ECR fixes a repository's encryption when it creates it; "kms" alone is the AWS managed key aws/ecr.
        key = kms.Key.from_key_arn(self, "EncryptionKey", encryption) if encryption.startswith("arn:") else None
        mode = ecr.RepositoryEncryption.AES_256 if encryption == "aes256" else ecr.RepositoryEncryption.KMS
        self.repositories: dict[str, ecr.Repository] = {
            container: ecr.Repository(
                self, f"{container.capitalize()}Repository",
                repository_name=name,
                image_scan_on_push=True,
                # A tag names one build forever: the commit SHA the pipeline deployed is the image that runs.
                image_tag_mutability=ecr.TagMutability.IMMUTABLE,
                encryption=mode, encryption_key=key,
                # Images are what a rollback deploys: deleting the stack must not delete them.
                removal_policy=RemovalPolicy.RETAIN,
                # ECR evaluates rules by priority, and an image that matches a rule's tags cannot be expired by
                # a rule of lower priority: released images (the running one and those a rollback goes back to)
                # are counted by rule 1 alone, never among the builds of rule 3.
                lifecycle_rules=[
                    ecr.LifecycleRule(rule_priority=1, description=f"Keep the newest {keep_releases} releases",
                                      tag_status=ecr.TagStatus.TAGGED, tag_prefix_list=[RELEASE_TAG_PREFIX],
                                      max_image_count=keep_releases),
                    ecr.LifecycleRule(rule_priority=2, description="Untagged layers of superseded pushes",
                                      tag_status=ecr.TagStatus.UNTAGGED, max_image_age=Duration.days(1)),
                    ecr.LifecycleRule(rule_priority=3, description=f"Keep the newest {keep_tagged_images} builds",
                                      tag_status=ecr.TagStatus.TAGGED, tag_pattern_list=["*"],
                                      max_image_count=keep_tagged_images),
                ],
            )
            for container, name in REPOSITORY_NAMES.items()
        }
        self.pull_through_cache: ecr.CfnPullThroughCacheRule | None = None
        if docker_hub_secret_arn:
            # Public images then come through this registry: `ACCOUNT.dkr.ecr.REGION.amazonaws.com/docker-hub/...`.
            self.pull_through_cache = ecr.CfnPullThroughCacheRule(
                self, "DockerHubCache",
                ecr_repository_prefix=DOCKER_HUB_CACHE_PREFIX,
                upstream_registry="docker-hub",
                upstream_registry_url="registry-1.docker.io",
                credential_arn=docker_hub_secret_arn,
            )

