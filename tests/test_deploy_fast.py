"""make deploy-fast (operate.deploy_fast): the hotswap deploy of the service stack, refused where allow_hotswap is
false (prod's profile), then make verify's checks; and its local twin's steps (local.up --hotswap)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from local import up
from operate.deploy_fast import checked_settings, deploy_command, deploy_fast, refusal
from operate.verify import Check
from settings.cdk_arguments import settings_for
from tests.synth import ROOT

PROD_INPUTS = ["-c", "image_tag=0a1b2c3d", "-c", "certificate_arn=arn:aws:acm:us-east-1:111111111111:certificate/"
               "12345678-1234-1234-1234-123456789012", "-c", "domain_name=echo.example.com"]


class Recorder:
    def __init__(self, code: int = 0) -> None:
        self.commands: list[list[str]] = []
        self.code = code

    def __call__(self, command) -> int:
        self.commands.append(list(command))
        return self.code


def _run(env: str, cdk_args: list[str], runner: Recorder, checks_ok: bool = True):
    lines, verified = [], []

    def verify(stack: str) -> list[Check]:
        verified.append(stack)
        return [Check("http", checks_ok, "GET http://x/: 200")]

    code = deploy_fast(env=env, cdk_args=cdk_args, runner=runner, verify=verify, out=lines.append)
    return code, lines, verified


def test_dev_hotswaps_its_service_stack_only_then_verifies():
    runner = Recorder()
    code, lines, verified = _run("dev", ["-c", "echo_environment=GREETING=hi"], runner)
    assert code == 0
    assert runner.commands == [["npx", "--no-install", "cdk", "deploy", "echo-fargate-dev", "--exclusively",
                                "--hotswap-fallback", "-c", "env=dev", "-c", "echo_environment=GREETING=hi"]]
    assert verified == ["echo-fargate-dev"]
    assert lines[-1] == "ok http: GET http://x/: 200"


def test_prod_is_refused_before_anything_runs(capsys):
    runner = Recorder()
    code, _, verified = _run("prod", PROD_INPUTS, runner)
    assert (code, runner.commands, verified) == (2, [], [])
    message = capsys.readouterr().err
    assert "env=prod: allow_hotswap is false" in message and "make deploy ENV=prod" in message


def test_prod_may_allow_it_on_purpose():
    assert refusal(settings_for(["-c", "env=prod", *PROD_INPUTS, "-c", "allow_hotswap=true"])) is None
    assert refusal(settings_for(["-c", "env=dev", "-c", "allow_hotswap=false"])) is not None


def test_bad_settings_are_the_apps_own_message():
    message = checked_settings("dev", ["-c", "cpu=300"])
    assert isinstance(message, str) and "cpu=300: must be a Fargate CPU size" in message


def test_a_failed_deploy_is_not_verified(capsys):
    code, _, verified = _run("dev", [], Recorder(code=1))
    assert (code, verified) == (1, [])
    assert "cdk deploy exited 1" in capsys.readouterr().err


def test_failed_checks_fail_it():
    assert _run("dev", [], Recorder(), checks_ok=False)[0] == 1


def test_the_command_line_checks_without_deploying():
    def check(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "operate.deploy_fast", "--check", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    assert check("--env", "dev").returncode == 0
    refused = check("--env", "prod", "--cdk-args", " ".join(PROD_INPUTS))
    assert refused.returncode == 2 and "allow_hotswap is false" in refused.stderr


def test_the_deploy_command_names_the_stack_and_the_environment():
    assert deploy_command("dev", ["-v"], cdk=("cdk",)) == ["cdk", "deploy", "echo-fargate-dev", "--exclusively",
                                                           "--hotswap-fallback", "-c", "env=dev", "-v"]


@pytest.fixture
def hotswap_stages() -> list[list[up.Step]]:
    options = up.Options(env="dev", aws_port=4599, port=18000, echo_port=18080, env_file=Path("/tmp/env.local"),
                         cdk_out=Path("/tmp/out"), cdk_args=["-c", "env=dev", "-c", "echo_environment=A=1"])
    return up.plan_hotswap(options, Path("/tmp/run"))


def test_the_local_twin_checks_synthesizes_hotswaps_and_restarts_the_task(hotswap_stages):
    assert [[step.name for step in stage] for stage in hotswap_stages] == [
        ["settings"], ["synth"], ["hotswap"], ["secrets"], ["task"], ["verify"]]
    (check,), _, (hotswap,), *_ = hotswap_stages
    assert check.command[1:] == ["-m", "operate.deploy_fast", "--check", "--env", "dev", "--cdk-args",
                                 "-c env=dev -c echo_environment=A=1"]
    # through local.cdk, which gives the CLI the local AWS's endpoint and throwaway credentials only
    assert hotswap.command[1:5] == ["-m", "local.cdk", "--aws-port", "4599"]
    assert hotswap.command[5:11] == ["deploy", "--app", "/tmp/out", "echo-fargate-dev", "--exclusively",
                                     "--hotswap-fallback"]
    assert "--all" not in hotswap.command and "--require-approval" in hotswap.command


def test_the_makefile_offers_both():
    makefile = (ROOT / "Makefile").read_text()
    assert "$(BIN)/python -m operate.deploy_fast --env $(ENV)" in makefile
    assert "$(BIN)/python -m local.up --hotswap --env $(ENV)" in makefile
