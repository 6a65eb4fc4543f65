"""Adds one environment's stacks to a CDK app, with cdk-nag's AwsSolutions checks on every synth."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from settings import Settings
from stacks.echo_stack import EchoServiceStack


def stack_name(settings: Settings) -> str:
    return f"echo-fargate-{settings.env}"


def add_stacks(app: cdk.App, settings: Settings, env: cdk.Environment) -> list[cdk.Stack]:
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    service = EchoServiceStack(
        app, stack_name(settings), settings=settings, env=env,
        description=f"Echo behind nginx on ECS Fargate behind an Application Load Balancer ({settings.env})",
    )
    return [service]
