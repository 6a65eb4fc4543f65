"""The permissions boundary every role of this app carries.

The CloudFormation execution policy (bootstrap/) lets CloudFormation create or change a role only when the
role carries this boundary, so a template cannot make a role worth more than what the app's roles need at
run time. The policy itself is made by `make bootstrap`, one per region, before any of these stacks deploys.
"""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam

# Outside the `echo-fargate-*` names the execution policy may touch, so CloudFormation cannot edit it.
ROLE_BOUNDARY_PREFIX = "cdk-echo-fargate-boundary"


def role_boundary_name(region: str) -> str:
    return f"{ROLE_BOUNDARY_PREFIX}-{region}"


def apply_role_boundary(stack: Stack) -> None:
    # The deploy-time region (a token), not the synth-time one: the same template deploys to any region.
    boundary = iam.ManagedPolicy.from_managed_policy_name(stack, "RoleBoundary", role_boundary_name(Aws.REGION))
    iam.PermissionsBoundary.of(stack).apply(boundary)
