"""The registry stack: one per account and region, shared by the environments deployed there."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from settings import Settings
from stacks.registry import DOCKER_HUB_CACHE_PREFIX, ContainerRegistry


class RegistryStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add("project", "echo-fargate")
        self.registry = ContainerRegistry(self, "Registry", keep_tagged_images=settings.ecr_keep_tagged_images,
                                          keep_releases=settings.ecr_keep_releases,
                                          docker_hub_secret_arn=settings.docker_hub_secret_arn,
                                          encryption=settings.ecr_encryption)
        for container, repository in self.registry.repositories.items():
            CfnOutput(self, f"{container.capitalize()}RepositoryUri", value=repository.repository_uri,
                      description=f"ECR repository of the {container} image")
        if self.registry.pull_through_cache:
            CfnOutput(self, "DockerHubCachePrefix", value=f"{self.account}.dkr.ecr.{self.region}.amazonaws.com/"
                      f"{DOCKER_HUB_CACHE_PREFIX}", description="Pull Docker Hub images through this prefix")
