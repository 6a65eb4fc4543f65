"""The CI access stack: only synthesized when `circleci_org_id` is set."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_ecr as ecr
from constructs import Construct

from settings import Settings
from stacks.ci_access import CircleCiAccess
from stacks.registry import DOCKER_HUB_CACHE_PREFIX, REPOSITORY_NAMES


class CiAccessStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, service_stacks: dict[str, str],
                 registry_stack: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add("project", "echo-fargate")
        # By name, like the service: no cross-stack export ties this stack's lifecycle to the registry's.
        repositories = [ecr.Repository.from_repository_name(self, f"{container.capitalize()}Repository", name)
                        for container, name in REPOSITORY_NAMES.items()]
        access = CircleCiAccess(self, "CircleCi", org_id=settings.circleci_org_id,
                                project_id=settings.circleci_project_id, vcs_origin=settings.ci_vcs_origin,
                                branch=settings.ci_branch, repositories=repositories, service_stacks=service_stacks,
                                registry_stack=registry_stack, pull_through_prefix=DOCKER_HUB_CACHE_PREFIX)
        CfnOutput(self, "PushRoleArn", value=access.push_role.role_arn,
                  description="AWS_PUSH_ROLE_ARN of the CircleCI context: push this commit's images")
        for env, role in access.deploy_roles.items():
            CfnOutput(self, f"{env.capitalize()}DeployRoleArn", value=role.role_arn,
                      description=f"AWS_DEPLOY_ROLE_ARN of the CircleCI context echo-fargate-{env}: deploy and "
                                  f"verify {service_stacks[env]} only")
        CfnOutput(self, "DiffRoleArn", value=access.diff_role.role_arn,
                  description="AWS_DIFF_ROLE_ARN of the CircleCI context: read-only, for cdk diff on every branch")
