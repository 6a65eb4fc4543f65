"""What local.cdk (every CDK command of make local, local-diff and local-destroy) promises around the CLI:
cdk.context.json as it found it, after a success, a failure and Ctrl-C, and Ctrl-C between creating and
executing a change set said in one line with what is pending and what to run.

The CLI writes cdk.context.json only when it looks something up, and the committed file already holds the
local AWS's zones: each test takes them out, so that the CLI looks them up and writes the file. That happens in
a copy of the checkout (tests/integration/checkout.py), never in the one the other tests read side by side.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import boto3
import pytest

from tests.integration.checkout import copy_checkout
from tests.integration.conftest import CI_IDS, STACK, bootstrap, local_cdk, start_local_aws, stop_local_aws

pytestmark = pytest.mark.integration
# What the CLI itself may keep in the file (`cdk acknowledge`), and no lookup.
CACHED = '{\n  "acknowledged-issue-numbers": [12345]\n}\n'


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    return copy_checkout(tmp_path_factory.mktemp("checkout"))


@pytest.fixture(scope="module")
def local_aws(checkout, tmp_path_factory):
    """Started from the copy: local.cdk there accepts only a local AWS its own checkout started."""
    env = start_local_aws(tmp_path_factory.mktemp("local-run"), checkout)
    yield env
    stop_local_aws(env, checkout)


def test_local_cdk_leaves_cdk_context_json_as_it_found_it(checkout, local_aws, tmp_path):
    context = checkout / "cdk.context.json"
    context.unlink()
    diff = local_cdk(local_aws, tmp_path / "diff", "diff", "-c", "env=dev", *CI_IDS, checkout=checkout)
    assert diff.returncode == 0, diff.stderr
    assert not context.exists()  # the CLI cached the local AWS's zones there; it is gone again

    context.write_text(CACHED)
    failed = local_cdk(local_aws, tmp_path / "failed", "deploy", "no-such-stack", "-c", "env=dev", *CI_IDS,
                       checkout=checkout)
    assert failed.returncode != 0
    assert context.read_text() == CACHED


def _pending(cloudformation) -> list[str]:
    # moto lists every stack's change sets whatever the StackName: filter by name here
    return [s["ChangeSetName"] for s in cloudformation.list_change_sets(StackName=STACK)["Summaries"]
            if s.get("StackName") == STACK and s.get("ExecutionStatus") == "AVAILABLE"]


def test_ctrl_c_between_creating_and_executing_a_change_set_says_what_is_pending(checkout, local_aws,
                                                                                  policy_assembly, tmp_path):
    bootstrap(local_aws, policy_assembly, checkout)
    context = checkout / "cdk.context.json"
    context.write_text(CACHED)
    cloudformation = boto3.client("cloudformation", endpoint_url=local_aws["AWS_ENDPOINT_URL"],
                                  region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
    command = [sys.executable, "-m", "local.cdk", "--aws-port", local_aws["LOCAL_AWS_PORT"], "deploy", STACK,
               "--exclusively", "-c", "env=dev", *CI_IDS, "-c", "desired_count=3", "--require-approval", "never",
               "--no-notices", "--output", str(tmp_path / "out")]
    # Files, not pipes: nobody reads a pipe while waiting, and a full one would stall the CLI.
    with (tmp_path / "out.txt").open("w") as out, (tmp_path / "err.txt").open("w") as err:
        # Its own process group, as a terminal's foreground job: Ctrl-C reaches the wrapper and the CLI alike.
        deploy = subprocess.Popen(command, cwd=checkout, env=local_aws, stdout=out, stderr=err,
                                  start_new_session=True)
    try:
        while not _pending(cloudformation):
            assert deploy.poll() is None, "the deploy ended before it created its change set"
            time.sleep(0.02)
        os.killpg(deploy.pid, signal.SIGINT)
        deploy.wait(timeout=60)
    finally:
        if deploy.poll() is None:
            os.killpg(deploy.pid, signal.SIGKILL)
            deploy.wait()
    errors = (tmp_path / "err.txt").read_text()
    assert deploy.returncode == 130, errors
    assert "Traceback" not in errors and "KeyboardInterrupt" not in errors
    line = errors.strip().splitlines()[-1]
    assert line.startswith("make local: interrupted during cdk deploy: ")
    if pending := _pending(cloudformation):  # said as it is, and what to run
        assert f"change set {pending[0]} of {STACK} is pending, not executed" in line
    else:  # the CLI executed it before the signal arrived
        assert "no change set is pending" in line
    assert line.endswith("run make local to finish")
    assert context.read_text() == CACHED
