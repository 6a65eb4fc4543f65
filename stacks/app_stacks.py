"""Adds one environment's stacks to a CDK app, with cdk-nag's rule packs on every synth."""

from __future__ import annotations

import aws_cdk as cdk

from settings import Settings
from stacks.compliance import add_rule_packs
from stacks.echo_stack import EchoServiceStack
from stacks.permissions_boundary import apply_role_boundary
from stacks.registry_stack import RegistryStack

# One registry and one CI access per account and region, whichever environment deploys them.
REGISTRY_STACK, CI_ACCESS_STACK = "echo-fargate-registry", "echo-fargate-ci"


def service_stack_name(env: str) -> str:
    return f"echo-fargate-{env}"


def stack_name(settings: Settings) -> str:
    return service_stack_name(settings.env)


def add_stacks(app: cdk.App, settings: Settings, env: cdk.Environment) -> list[cdk.Stack]:
    add_rule_packs(app)
    # Shared by every environment in the account: deleting either by accident breaks all of them.
    registry = RegistryStack(app, REGISTRY_STACK, settings=settings, env=env, termination_protection=True,
                             description="ECR repositories of the echo and nginx-proxy images")
    service = EchoServiceStack(
        app, stack_name(settings), settings=settings, env=env,
        description=f"Echo behind nginx on ECS Fargate behind an Application Load Balancer ({settings.env})",
    )
    stacks = [registry, service]
    if settings.circleci_org_id:
        from stacks.ci_access_stack import CiAccessStack  # imported only when built (stacks/echo_stack.py says why)

        service_stacks = {name: service_stack_name(name) for name in settings.ci_environments}
        stacks.append(CiAccessStack(app, CI_ACCESS_STACK, settings=settings, env=env, termination_protection=True,
                                    service_stacks=service_stacks, registry_stack=REGISTRY_STACK,
                                    description="CircleCI OIDC provider and the roles its pipeline may assume"))
    for stack in stacks:
        apply_role_boundary(stack)
    return stacks
