"""The CI access stack: only synthesized when `circleci_org_id` is set."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_ecr as ecr
from constructs import Construct

from settings import Settings
from stacks.ci_access import CircleCiAccess
from stacks.registry import REPOSITORY_NAMES


class CiAccessStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add("project", "echo-fargate")
        # By name, like the service: no cross-stack export ties this stack's lifecycle to the registry's.
        repositories = [ecr.Repository.from_repository_name(self, f"{container.capitalize()}Repository", name)
                        for container, name in REPOSITORY_NAMES.items()]
        access = CircleCiAccess(self, "CircleCi", org_id=settings.circleci_org_id,
                                project_id=settings.circleci_project_id, branch=settings.ci_branch,
                                repositories=repositories)
        CfnOutput(self, "DeployRoleArn", value=access.deploy_role.role_arn,
                  description="AWS_ROLE_ARN of the CircleCI context: push images and deploy, CI branch only")
        CfnOutput(self, "DiffRoleArn", value=access.diff_role.role_arn,
                  description="AWS_DIFF_ROLE_ARN of the CircleCI context: read-only, for cdk diff on branches")
