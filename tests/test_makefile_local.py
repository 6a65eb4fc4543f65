"""The Makefile's local twins run the operating commands against make local's AWS, and make local's task
runner gets that AWS's endpoint, which is what turns on shipping the task's log lines there."""

from __future__ import annotations

import subprocess

import pytest

from tests.synth import ROOT


def _recipe(target: str) -> list[str]:
    # -n prints the commands; `install` is up to date (or printed too), so only this target's lines matter.
    out = subprocess.run(["make", "-n", target, "ENV=dev"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return [line for line in out.splitlines() if "python" in line]


def test_make_local_starts_the_task_with_the_local_aws_endpoint():
    (start_task,) = [line for line in _recipe("local") if "local.cloud start-task" in line]
    assert "AWS_ENDPOINT_URL=http://localhost:4566" in start_task


@pytest.mark.parametrize(("target", "module"), [("local-status", "operate.status"), ("local-logs", "operate.logs"),
                                                ("local-events", "operate.events")])
def test_the_local_twins_run_the_same_command_against_the_local_aws(target, module):
    (line,) = [line for line in _recipe(target) if f"-m {module}" in line]
    assert "AWS_ENDPOINT_URL=http://localhost:4566" in line and "--env dev" in line
    (real,) = [line for line in _recipe(target.removeprefix("local-")) if f"-m {module}" in line]
    assert "AWS_ENDPOINT_URL" not in real
