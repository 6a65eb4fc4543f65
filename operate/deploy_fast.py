"""The inner loop of a change to the task: `make deploy-fast ENV=dev`, `cdk deploy --hotswap-fallback`.

What the CDK CLI can hotswap (the task definition: the containers' images, environment, CPU and memory) goes
straight to ECS, a new task definition revision and a service update, without a CloudFormation change set;
anything else falls back to an ordinary deploy of the stack. The price: until the next `make deploy`,
CloudFormation's record of the stack differs from what runs (`make drift` names it), and the service keeps the
deployment configuration the CLI gives a hotswap (minimum healthy 0 %: a one-task dev service is down while
its replacement starts). Hence it is refused where `allow_hotswap` is false, which prod's profile sets.

    .venv/bin/python -m operate.deploy_fast --env dev [--cdk-args "-c echo_environment=..."]
    .venv/bin/python -m operate.deploy_fast --env dev --check        # the settings and the refusal only

Then the checks of `make verify` run. Exit 0: deployed and verified; 1: the deploy or a check failed;
2: refused, bad settings, or no credentials or region.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence

from operate.rollback import cdk_runner
from operate.stack import CDK, EXIT_OK, EXIT_SETUP, EXIT_UNHEALTHY, aws_clients, run, stack_name
from operate.verify import Check, Verifier
from settings import Settings, SettingsError
from settings.cdk_arguments import settings_for

PROG = "deploy-fast"


def refusal(settings: Settings) -> str | None:
    """Why this environment may not be hotswapped, or None."""
    if settings.allow_hotswap:
        return None
    return (f"env={settings.env}: allow_hotswap is false: a hotswap changes the service behind CloudFormation's "
            f"back, which this environment does not accept; deploy it with make deploy ENV={settings.env}")


def checked_settings(env: str, cdk_args: Sequence[str]) -> Settings | str:
    """The environment's settings, or the one message that stops the deploy."""
    try:
        settings = settings_for(["-c", f"env={env}", *cdk_args])
    except SettingsError as error:
        return f"Configuration error:\n{error}"
    return refusal(settings) or settings


def stopped(env: str, cdk_args: Sequence[str]) -> bool:
    """Says why and returns True when this deploy may not run."""
    checked = checked_settings(env, cdk_args)
    if isinstance(checked, str):
        print(f"{PROG}: {checked}", file=sys.stderr)
        return True
    return False


def deploy_command(env: str, cdk_args: Sequence[str], cdk: Sequence[str] = CDK) -> list[str]:
    # --exclusively: the service stack only; the shared registry and CI stacks never change in the inner loop.
    return [*cdk, "deploy", stack_name(env), "--exclusively", "--hotswap-fallback", "-c", f"env={env}", *cdk_args]


def deploy_fast(*, env: str, cdk_args: Sequence[str], runner: Callable[[Sequence[str]], int],
                verify: Callable[[str], list[Check]], out: Callable[[str], None] = print) -> int:
    if stopped(env, cdk_args):
        return EXIT_SETUP
    command = deploy_command(env, cdk_args)
    out(f"{PROG}: {shlex.join(command)}")
    if (code := runner(command)) != 0:
        print(f"{PROG}: cdk deploy exited {code} (make events says what ECS and CloudFormation did)",
              file=sys.stderr)
        return EXIT_UNHEALTHY
    checks = verify(stack_name(env))
    for check in checks:
        out(check.line())
    return EXIT_OK if all(check.ok for check in checks) else EXIT_UNHEALTHY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m operate.deploy_fast", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="dev", help="environment from cdk.json (default dev)")
    parser.add_argument("--region", help="AWS region (default: boto3's, e.g. AWS_REGION or the profile's)")
    parser.add_argument("--cdk-args", default="", help="more arguments for cdk deploy, e.g. \"-c image_tag=...\"")
    parser.add_argument("--check", action="store_true", help="only check the settings and whether hotswap is "
                                                              "allowed (exit 0 or 2); deploy nothing")
    args = parser.parse_args(argv)
    try:
        cdk_args = shlex.split(args.cdk_args)
    except ValueError as error:
        parser.error(f"argument --cdk-args: {error}")
    if args.check:
        return EXIT_SETUP if stopped(args.env, cdk_args) else EXIT_OK

    def command() -> int:
        clients = aws_clients(args.region, None)
        verifier = Verifier(cloudformation=clients["cloudformation"], ecs=clients["ecs"], elbv2=clients["elbv2"])
        return deploy_fast(env=args.env, cdk_args=cdk_args, runner=cdk_runner(), verify=verifier.verify)

    return run(command, PROG)


if __name__ == "__main__":
    sys.exit(main())
