"""What `make deploy` and `make deploy-service` refuse before the CDK CLI runs: a drift revert of a blue/green
service. `cdk deploy --revert-drift` (the CLI's advice after a hotswap) brings every drifted resource back to its
template, and after a blue/green deployment the production listener rule's weights are ECS's, not the template's:
CloudFormation would send production back to the target group ECS emptied (aws-cdk #36649; docs/operating.md,
"Blue/green releases").

    .venv/bin/python -m operate.deploy_guard --env prod --cdk-args "--revert-drift ..."   # exit 2, says why
"""

from __future__ import annotations

import argparse
import shlex
import sys

from settings import SettingsError
from settings.cdk_arguments import settings_for

PROG = "deploy"


def refusal(env: str, cdk_args: list[str]) -> str | None:
    if "--revert-drift" not in cdk_args:
        return None
    try:
        settings = settings_for(["-c", f"env={env}", *cdk_args])
    except SettingsError:
        return None  # the CLI's synth reports the settings, as it would without this guard
    if settings.deployment_strategy != "blue_green":
        return None
    return (f"env={env}: --revert-drift with deployment_strategy=blue_green would write the production listener "
            "rule's template weights over ECS's, sending traffic to the target group ECS emptied; deploy without "
            "it")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m operate.deploy_guard", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev")
    parser.add_argument("--cdk-args", default="")
    args = parser.parse_args(argv)
    if reason := refusal(args.env, shlex.split(args.cdk_args)):
        print(f"{PROG}: {reason}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
