#!/usr/bin/env python3
"""The CDK app: reads the context once, validates it into Settings, and builds the stacks.

This is the only module that reads the CDK context or the process environment. A configuration
mistake ends here with a short message on stderr and exit status 2, not a traceback.
"""

from __future__ import annotations

import os
import select
import sys
import time
from typing import NoReturn

import aws_cdk as cdk
import jsii._runtime as jsii_runtime

from settings import SettingsError, load_settings
from stacks.app_stacks import add_stacks


def main(app: cdk.App | None = None) -> int:
    app = app or cdk.App()
    try:
        settings = load_settings(app.node.get_all_context())
    except SettingsError as error:
        print(f"Configuration error:\n{error}", file=sys.stderr)
        return 2
    # CDK's CLI sets these from the current credentials; without them the stacks are environment-agnostic,
    # which is fine for everything but the `vpc_id` lookup.
    env = cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION"))
    if problems := _environment_problems(settings, env):
        print("Configuration error:\n" + "\n".join(f"  - {problem}" for problem in problems), file=sys.stderr)
        return 2
    add_stacks(app, settings, env)
    app.synth()
    return 0


def _environment_problems(settings, env: cdk.Environment) -> list[str]:
    hint = "run with AWS credentials and a region (the CDK CLI then sets CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION)"
    problems = []
    for name in ("vpc_id", "hosted_zone_name"):
        if getattr(settings, name) and not (env.account and env.region):
            problems.append(f"{name}={getattr(settings, name)}: the lookup needs an account and region; {hint}")
    if settings.access_logs and not env.region:
        problems.append(f"access_logs=true: the load balancer's log delivery depends on the region; {hint}, "
                        "or set access_logs=false")
    return problems


def _end(status: int) -> NoReturn:
    """Ends the process as soon as the cloud assembly is on disk. A normal exit would wait for jsii's Node
    process, busy collecting what aws-cdk-lib built (0.5 s), and for Python to free its own (0.4 s): a fifth of
    a synth (docs/testing.md). Node is not waited for: it ends by itself when its input closes with this
    process. What it printed while synthesizing (warnings, on its stderr) reaches this process's stderr through
    jsii's reader thread: that is given the moment it needs to pass on what is already in the pipe."""
    process = getattr(getattr(jsii_runtime.kernel, "provider", None), "_process", None)
    if (stderr := getattr(getattr(process, "_process", None), "stderr", None)) is not None:
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline and select.select([stderr], [], [], 0.02)[0]:
            time.sleep(0.01)  # unread output waits in the pipe: the reader is on it
        time.sleep(0.02)  # and passes on the line it read last
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    _end(main())
