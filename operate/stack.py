"""The layer every operating command shares: which stack, what it says about itself, and the AWS clients.

Each command (`verify`, `status`, `logs`, `events`, `rollback`, `exec`, `drift`) takes the same target
arguments (`--env` or `--stack`, `--region`, `--endpoint-url`), finds the stack and its outputs here, and
leaves the caller's AWS setup problems to `run`, which turns them into one line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
)

# Problems with the caller's AWS setup, not with the stack: no point checking anything (exit 2).
SETUP_ERRORS = (NoCredentialsError, PartialCredentialsError, NoRegionError, ProfileNotFound, TokenRetrievalError)
AWS_ERRORS = (ClientError, BotoCoreError)
EXIT_OK, EXIT_UNHEALTHY, EXIT_SETUP = 0, 1, 2
STACK_PREFIX = "echo-fargate-"
# The pinned CLI in node_modules (make puts node_modules/.bin first on PATH), in the form a user would type.
CDK = ("npx", "--no-install", "cdk")


class StackNotFound(Exception):
    """The stack does not exist where we looked (or the endpoint did not answer); the message says which."""


@dataclass(frozen=True)
class DeployedStack:
    name: str
    status: str
    last_updated: datetime | None
    outputs: dict[str, str] = field(default_factory=dict)
    stack_id: str = ""

    @property
    def landed(self) -> bool:
        """False after a failed or rolled-back operation: the service may run, but not what was deployed last."""
        return "ROLLBACK" not in self.status and not self.status.endswith("FAILED")

    def output(self, key: str) -> str:
        if key not in self.outputs:
            raise StackNotFound(f"{self.name} ({self.status}) has no output {key}; deploy it with this repository")
        return self.outputs[key]


def stack_name(env: str) -> str:
    """The service stack of an environment, as stacks/app_stacks.py names it."""
    return f"{STACK_PREFIX}{env}"


def describe_stack(cloudformation: Any, name: str) -> DeployedStack:
    try:
        (described,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except SETUP_ERRORS:
        raise
    except AWS_ERRORS as error:  # BotoCoreError: e.g. nothing listens at --endpoint-url
        if "does not exist" in str(error):
            raise StackNotFound(f"stack {name} not found in {cloudformation.meta.region_name}") from None
        raise StackNotFound(aws_reason(error)) from None
    return DeployedStack(
        name=name, status=described["StackStatus"], stack_id=described.get("StackId", ""),
        last_updated=described.get("LastUpdatedTime") or described.get("CreationTime"),
        outputs={item["OutputKey"]: item["OutputValue"] for item in described.get("Outputs", [])},
    )


def aws_clients(region: str | None, endpoint_url: str | None, services: tuple[str, ...] = (
        "cloudformation", "ecs", "elbv2")) -> dict[str, Any]:
    # endpoint_url=None lets boto3 apply AWS_ENDPOINT_URL (and its per-service variants) by itself.
    session = boto3.Session(region_name=region)
    return {name: session.client(name, endpoint_url=endpoint_url) for name in services}


def aws_reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{error.operation_name}: {details.get('Code')}: {details.get('Message')}"
    return str(error)


def http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{value!r} is not an http(s) URL")
    return value


def non_negative(value: str) -> float:
    """An argparse type for seconds and minutes: a number of 0 or more (nan refused)."""
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of 0 or more")
    return number


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """--env/--stack, --region, --endpoint-url: the same for every operating command."""
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--env", help="environment from cdk.json (default dev): its stack is echo-fargate-ENV")
    target.add_argument("--stack", help="CloudFormation stack name (default echo-fargate-dev)")
    parser.add_argument("--region", help="AWS region (default: boto3's, e.g. AWS_REGION or the profile's)")
    parser.add_argument("--endpoint-url", type=http_url, help="an AWS emulator, e.g. http://localhost:4566")


def target_stack(args: argparse.Namespace) -> str:
    return args.stack or stack_name(args.env or "dev")


def run(command: Callable[[], int], prog: str) -> int:
    """Runs a command's body: AWS setup problems exit 2 with one line, Ctrl-C exits 130 with one line."""
    try:
        return command()
    except SETUP_ERRORS as error:
        hint = "pass --region or set AWS_REGION" if isinstance(error, NoRegionError) else "e.g. set AWS_PROFILE"
        print(f"{prog}: {error} ({hint})", file=sys.stderr)
        return EXIT_SETUP
    except StackNotFound as error:  # nothing deployed there: not healthy, as make verify says
        print(f"{prog}: {error}", file=sys.stderr)
        return EXIT_UNHEALTHY
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
