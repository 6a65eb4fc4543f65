"""The Makefile's local twins run the operating commands against make local's AWS, and make local hands its
ports and settings to local.up (whose steps tests/test_local_up.py checks)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.synth import ROOT


def _recipe(target: str) -> list[str]:
    # -n prints the commands; `install` is up to date (or printed too), so only this target's lines matter.
    out = subprocess.run(["make", "-n", target, "ENV=dev"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    out = re.sub(r"\\\n\s*", "", out)  # a recipe line continued with a backslash is one command
    return [line for line in out.splitlines() if "python" in line and not line.startswith("#")]


def test_make_local_runs_local_up_with_the_ports_and_settings():
    (up,) = [line for line in _recipe("local") if "-m local.up" in line]
    assert "--aws-port 4566 --port 8000 --echo-port 8080" in up and "--cdk-out cdk.out" in up
    assert up.rstrip().endswith("-- -c env=dev -c circleci_org_id=00000000-0000-4000-8000-00000000c1c1 "
                       "-c circleci_project_id=00000000-0000-4000-8000-000000000001 "
                       "-c ci_vcs_origin=github.com/example/echo-fargate")


@pytest.mark.parametrize(("target", "module"), [("local-status", "operate.status"), ("local-logs", "operate.logs"),
                                                ("local-events", "operate.events")])
def test_the_local_twins_run_the_same_command_against_the_local_aws(target, module):
    (line,) = [line for line in _recipe(target) if f"-m {module}" in line]
    assert "AWS_ENDPOINT_URL=http://localhost:4566" in line and "--env dev" in line
    (real,) = [line for line in _recipe(target.removeprefix("local-")) if f"-m {module}" in line]
    assert "AWS_ENDPOINT_URL" not in real


def test_local_diff_looks_nothing_up_as_the_pipelines_diff():
    (line,) = [line for line in _recipe("local-diff") if "-m local.cdk" in line]
    assert " diff " in line and "--no-lookups" in line
