"""The marks of every test module that runs the CDK CLI against an account (the local AWS's): integration,
the CLI lock (tests/conftest.py: cdk.context.json is one file per checkout) and one pytest-xdist group, so
make test runs them in one worker, first."""

from __future__ import annotations

import pytest

CDK_CLI_GROUP = "cdk-cli"
CDK_CLI_MARKS = [pytest.mark.integration, pytest.mark.usefixtures("one_cdk_cli_at_a_time"),
                 pytest.mark.xdist_group(CDK_CLI_GROUP)]
