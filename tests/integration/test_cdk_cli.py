"""The real CDK CLI (pinned in package.json) runs the app: synth of each environment, and a bad setting."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.synth import REQUIRED_INPUTS, ROOT

pytestmark = pytest.mark.integration


def _cdk(*args: str, outdir) -> subprocess.CompletedProcess:
    # os.environ has the pinned Node first on PATH (tests.synth), as make does. No AWS variable of the caller's:
    # with credentials the CLI would name an account, look its zones up and write them to cdk.context.json.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CDK_DEFAULT_"))}
    command = [str(ROOT / "node_modules" / ".bin" / "cdk"), *args, "--output", str(outdir), "--no-notices"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_cdk_synth_prod_writes_the_prod_stack(tmp_path):
    inputs = [arg for key, value in REQUIRED_INPUTS["prod"].items() for arg in ("-c", f"{key}={value}")]
    result = _cdk("synth", "-q", "-c", "env=prod", *inputs, outdir=tmp_path)
    assert result.returncode == 0, result.stderr
    template = json.loads((tmp_path / "echo-fargate-prod.template.json").read_text())
    (scaling,) = [r for r in template["Resources"].values()
                  if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"]
    assert (scaling["Properties"]["MinCapacity"], scaling["Properties"]["MaxCapacity"]) == (2, 6)


def test_cdk_synth_with_a_bad_setting_fails_with_the_message_and_no_traceback(tmp_path):
    result = _cdk("synth", "-q", "-c", "cpu=300", "-c", "desird_count=2", outdir=tmp_path)
    assert result.returncode != 0
    assert "cpu=300: must be a Fargate CPU size" in result.stderr
    assert "-c desird_count: unknown setting (did you mean 'desired_count'?)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_cdk_synth_prod_without_its_inputs_says_which_to_give(tmp_path):
    result = _cdk("synth", "-q", "-c", "env=prod", outdir=tmp_path)
    # The app exits 2; the CLI reports that as its own exit status 1.
    assert result.returncode == 1
    assert "image_tag: required with image_source=ecr" in result.stderr
    assert "-c allow_http=true to serve HTTP on purpose" in result.stderr
    assert "Traceback" not in result.stderr
