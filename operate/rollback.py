"""Back to the release before the one that runs: `make rollback ENV=dev` (TO=TAG picks the release).

It reads the echo container's image tag from the task definition of the service's PRIMARY deployment, lists
the `release-*` images of both ECR repositories (their push time orders them) and picks the newest release
pushed before the running image, or --to. Both repositories must hold it. Then it deploys it the ordinary
way, so that CloudFormation stays the source of truth:

    npx --no-install cdk deploy echo-fargate-ENV -c env=ENV -c image_source=ecr -c image_tag=TAG \
        --require-approval never [--cdk-args ...]

and runs the checks of `make verify`. Exit 0: deployed and verified; 1: nothing to roll back to, a release
missing from a repository, a service not on ECR images (nothing is deployed in these cases), a failed
deploy or failed checks; 2: no credentials or region.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from operate.releases import NotOnEcrImages, by_tag, ecr_tag, images, release_tags, running_image
from operate.stack import (
    AWS_ERRORS,
    CDK,
    EXIT_OK,
    EXIT_UNHEALTHY,
    SETUP_ERRORS,
    STACK_PREFIX,
    add_target_arguments,
    aws_clients,
    aws_reason,
    describe_stack,
    run,
    target_stack,
)
from operate.verify import Check, Verifier
from stacks.registry import REPOSITORY_NAMES

PROG = "rollback"
ROOT = Path(__file__).resolve().parents[1]


class Refused(Exception):
    """Nothing was deployed; the message says why."""


def cdk_runner(env: dict[str, str] | None = None) -> Callable[[Sequence[str]], int]:
    def runner(command: Sequence[str]) -> int:
        try:
            return subprocess.run(list(command), cwd=ROOT, env=env, check=False).returncode
        except OSError as error:  # no npx on PATH: say so in the one line of a failed deploy
            print(f"{PROG}: {command[0]}: {error.strerror}; run make install", file=sys.stderr)
            return 127
    return runner


def choose(ecr: Any, current: str, to: str | None) -> str:
    """The tag to deploy: --to, or the newest release pushed before the running image. Refused if either
    repository lacks it."""
    found = {container: by_tag(images(ecr, name)) for container, name in REPOSITORY_NAMES.items()}
    echo = found["echo"]
    if to is None:
        running = echo.get(current)
        if running is None:
            raise Refused(f"the running image {REPOSITORY_NAMES['echo']}:{current} is no longer in ECR, so there "
                          "is no telling which release came before it; name one with --to release-<commit>")
        # Both repositories: a release one of them lost must be refused below, not silently skipped.
        releases = {tag: image for images_by_tag in found.values() for tag, image in images_by_tag.items()
                    if tag in release_tags(image)}
        pushed = {tag: (echo.get(tag) or image).pushed_at for tag, image in releases.items()}
        older = [tag for tag in releases if pushed[tag] < running.pushed_at
                 and (tag not in echo or echo[tag].digest != running.digest)]
        if not older:
            raise Refused(f"no release older than the running {current} in {REPOSITORY_NAMES['echo']} "
                          f"({len(releases)} release(s) found): nothing to roll back to")
        to = max(older, key=lambda tag: (pushed[tag], tag))
    if missing := [REPOSITORY_NAMES[container] for container, tags in found.items() if to not in tags]:
        raise Refused(f"{to} is not in {' nor '.join(missing)}: a rollback needs both images; nothing deployed")
    return to


def deploy_command(stack: str, env: str, tag: str, cdk_args: str = "") -> list[str]:
    return [*CDK, "deploy", stack, "-c", f"env={env}", "-c", "image_source=ecr", "-c", f"image_tag={tag}",
            "--require-approval", "never", *shlex.split(cdk_args)]


def rollback(*, clients: dict[str, Any], stack: str, env: str, to: str | None = None, cdk_args: str = "",
             runner: Callable[[Sequence[str]], int], verify: Callable[[str], list[Check]],
             out: Callable[[str], None] = print) -> int:
    described = describe_stack(clients["cloudformation"], stack)
    try:
        image = running_image(clients["ecs"], described.output("ClusterName"), described.output("ServiceName"))
        current = ecr_tag(image)
        target = choose(clients["ecr"], current, to)
    except (NotOnEcrImages, Refused) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return EXIT_UNHEALTHY
    if target == current:
        print(f"{PROG}: {stack} runs {target} already; nothing deployed", file=sys.stderr)
        return EXIT_UNHEALTHY
    command = deploy_command(stack, env, target, cdk_args)
    out(f"rollback {stack}: {current} -> {target}")
    out(f"rollback: {shlex.join(command)}")
    if (code := runner(command)) != 0:
        print(f"{PROG}: cdk deploy exited {code}; CloudFormation rolled the stack back or stopped (make events)",
              file=sys.stderr)
        return EXIT_UNHEALTHY
    checks = verify(stack)
    for check in checks:
        out(check.line())
    return EXIT_OK if all(check.ok for check in checks) else EXIT_UNHEALTHY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m operate.rollback", description=__doc__.split("\n\n")[0])
    add_target_arguments(parser)
    parser.add_argument("--to", help="the tag to deploy, e.g. release-<commit> (default: the previous release)")
    parser.add_argument("--cdk-args", default="", help="more arguments for cdk deploy, e.g. \"--profile ops\"")
    args = parser.parse_args(argv)
    stack = target_stack(args)
    env = args.env or (stack[len(STACK_PREFIX):] if stack.startswith(STACK_PREFIX) else None)
    if not env:
        parser.error(f"--stack {stack}: not echo-fargate-ENV, so give --env")
    try:
        shlex.split(args.cdk_args)
    except ValueError as error:
        parser.error(f"argument --cdk-args: {error}")

    def command() -> int:
        clients = aws_clients(args.region, args.endpoint_url, ("cloudformation", "ecs", "elbv2", "ecr"))
        # The CDK CLI reads the same region and endpoint as the reads above did.
        child_env = dict(os.environ)
        if args.region:
            child_env["AWS_REGION"] = child_env["AWS_DEFAULT_REGION"] = args.region
        if args.endpoint_url:
            child_env["AWS_ENDPOINT_URL"] = args.endpoint_url
        verifier = Verifier(cloudformation=clients["cloudformation"], ecs=clients["ecs"], elbv2=clients["elbv2"])
        try:
            return rollback(clients=clients, stack=stack, env=env, to=args.to, cdk_args=args.cdk_args,
                            runner=cdk_runner(child_env), verify=verifier.verify)
        except SETUP_ERRORS:
            raise
        except AWS_ERRORS as error:
            print(f"{PROG}: {aws_reason(error)}", file=sys.stderr)
            return EXIT_UNHEALTHY

    return run(command, PROG)


if __name__ == "__main__":
    sys.exit(main())
