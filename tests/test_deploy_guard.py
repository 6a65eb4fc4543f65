"""make deploy and make deploy-service refuse a drift revert of a blue/green service (operate/deploy_guard.py):
it would write the production rule's template weights over ECS's."""

from __future__ import annotations

import subprocess

from operate.deploy_guard import refusal
from tests.synth import ROOT

BLUE_GREEN_DEV = ["-c", "deployment_strategy=blue_green", "-c", "nat_gateways=1"]


def test_a_drift_revert_of_a_blue_green_service_is_refused():
    reason = refusal("dev", [*BLUE_GREEN_DEV, "--revert-drift"])
    assert reason and "would write the production listener rule's template weights over ECS's" in reason


def test_everything_else_passes():
    assert refusal("dev", BLUE_GREEN_DEV) is None  # an ordinary deploy of it
    assert refusal("dev", ["--revert-drift"]) is None  # a rolling service has no weights ECS moves
    assert refusal("dev", ["-c", "cpu=300", "--revert-drift"]) is None  # bad settings: the CLI's synth says so


def test_make_deploy_runs_the_guard_first_and_stops(tmp_path):
    args = " ".join([*BLUE_GREEN_DEV, "--revert-drift"])
    result = subprocess.run(["make", "--no-print-directory", "-n", "deploy-service", "ENV=dev", f"CDK_ARGS={args}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    lines = [line for line in result.stdout.splitlines() if "deploy_guard" in line or " deploy " in line]
    assert "operate.deploy_guard --env dev" in lines[0] and "cdk deploy" in lines[1]
    refused = subprocess.run(["make", "--no-print-directory", "deploy-service", "ENV=dev", f"CDK_ARGS={args}"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "--revert-drift with deployment_strategy=blue_green" in refused.stderr
