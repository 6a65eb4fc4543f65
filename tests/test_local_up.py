"""make local's steps (local.up): their order, which run side by side, what each talks to, and how the runner
reports output, failures and the time each step took."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from local import up
from tests.synth import ROOT

OPTIONS = up.Options(env="dev", aws_port=4599, port=18000, echo_port=18080, env_file=Path("/tmp/env.local"),
                     cdk_out=Path("/tmp/out"), cdk_args=["-c", "env=dev", "-c", "desired_count=2"])
RUN_DIR = Path("/tmp/run")


@pytest.fixture
def stages() -> list[list[up.Step]]:
    return up.plan(OPTIONS, RUN_DIR)


def _names(stages) -> list[list[str]]:
    return [[step.name for step in stage] for stage in stages]


def _step(stages, name: str) -> up.Step:
    (step,) = [step for stage in stages for step in stage if step.name == name]
    return step


def test_the_settings_come_first_and_the_independent_steps_run_side_by_side(stages):
    assert _names(stages) == [["settings"], ["local AWS", "policy synth"], ["bootstrap", "synth"], ["deploy"],
                              ["secrets"], ["task"], ["verify"]]
    assert _step(stages, "settings").command[-5:] == ["check", "-c", "env=dev", "-c", "desired_count=2"]


def test_the_cli_deploys_the_assembly_its_own_synth_wrote(stages):
    synth, deploy = _step(stages, "synth").command, _step(stages, "deploy").command
    assert synth[:5] == [sys.executable, "-m", "local.cdk", "--aws-port", "4599"]
    assert synth[5:7] == ["synth", "-q"] and synth[-2:] == ["--output", "/tmp/out"]
    assert deploy[5:8] == ["deploy", "--app", "/tmp/out"] and "--all" in deploy
    assert "--import-existing-resources" in deploy  # the retained repositories are adopted again
    assert deploy[-2:] == ["--outputs-file", "/tmp/run/outputs-dev.json"]
    for command in (synth, deploy):
        assert "-c" in command and "desired_count=2" in command  # local.cdk checks the same settings


def test_bootstrap_deploys_the_policy_assembly_synthesized_while_the_local_aws_starts(stages):
    assert _step(stages, "policy synth").command == [sys.executable, "-m", "bootstrap.app", "/tmp/run/bootstrap.out"]
    assert _step(stages, "policy synth").env == {}  # it needs no AWS, and gets none
    assert _step(stages, "bootstrap").command[-3:] == ["bootstrap", "--assembly", "/tmp/run/bootstrap.out"]


@pytest.mark.parametrize("name", ["bootstrap", "secrets", "task", "verify"])
def test_every_step_that_calls_aws_gets_the_local_aws_only(stages, name):
    env = _step(stages, name).env
    assert env["AWS_ENDPOINT_URL"] == "http://localhost:4599"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_REGION"]) == ("local", "us-east-1")
    assert "AWS_PROFILE" not in env


def test_the_task_ships_its_lines_to_the_local_aws_and_verify_checks_it_there(stages):
    task, verify = _step(stages, "task").command, _step(stages, "verify").command
    assert task[2:] == ["local.cloud", "start-task", "--template", "/tmp/out/echo-fargate-dev.template.json",
                        "--port", "18000", "--echo-port", "18080", "--env-file", "/tmp/env.local"]
    assert verify[2:] == ["operate.verify", "--stack", "echo-fargate-dev", "--local-task-url",
                          "http://127.0.0.1:18000"]


def _python(code: str, name: str = "step") -> up.Step:
    return up.Step(name, [sys.executable, "-c", code])


def test_side_by_side_steps_run_at_once_and_print_whole_in_order(capsys, tmp_path):
    # Each waits for the other's file: run one after the other, they would never end.
    a, b = tmp_path / "a", tmp_path / "b"
    first = _python(f"import pathlib,time\nprint('first 1')\npathlib.Path({str(a)!r}).touch()\n"
                    f"while not pathlib.Path({str(b)!r}).exists(): time.sleep(0.01)\nprint('first 2')", "first")
    second = _python(f"import pathlib,time\nprint('second')\npathlib.Path({str(b)!r}).touch()\n"
                     f"while not pathlib.Path({str(a)!r}).exists(): time.sleep(0.01)", "second")
    timings = up.run([[first, second]])
    assert capsys.readouterr().out == "first 1\nfirst 2\nsecond\n"
    assert list(timings) == ["first + second"]


def test_a_failing_step_stops_its_partner_and_the_rest_with_its_status(capsys):
    slow = _python("import time; print('slow started', flush=True); time.sleep(60)", "slow")
    failing = _python("import sys; print('broken'); sys.exit(3)", "failing")
    never = _python("print('must not run')", "never")
    with pytest.raises(up.StepFailed) as failure:
        up.run([[slow, failing], [never]])
    assert failure.value.returncode == 3
    out = capsys.readouterr().out
    assert "broken" in out and "must not run" not in out


def test_a_step_ended_by_a_signal_exits_as_a_shell_says_it():
    with pytest.raises(up.StepFailed) as failure:
        up.run([[_python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "killed")]])
    assert failure.value.returncode == 128 + 9
    assert str(failure.value) == "killed failed (exit status 137)"


def test_make_local_names_the_step_that_failed(monkeypatch, capsys):
    monkeypatch.setattr(up, "plan", lambda options, run_dir: [[_python("import sys; sys.exit(4)", "synth")]])
    monkeypatch.setenv("LOCAL_RUN_DIR", "/tmp")
    assert up.main(["--aws-port", "4599", "--", "-c", "env=dev"]) == 4
    assert capsys.readouterr().err.strip().splitlines()[-1] == "make local: synth failed (exit status 4)"


def test_the_last_line_says_what_each_step_took():
    line = up._timing_line({"settings": 0.44, "local AWS + policy synth": 2.9, "deploy": 1.96})
    assert line == "make local: ready in 5.3 s (settings 0.4 s, local AWS + policy synth 2.9 s, deploy 2.0 s)"


def test_the_makefile_hands_its_variables_to_local_up():
    makefile = (ROOT / "Makefile").read_text()
    assert ("$(BIN)/python -m local.up --env $(ENV) --aws-port $(LOCAL_AWS_PORT) --port $(LOCAL_PORT) "
            "--echo-port $(ECHO_PORT)") in makefile
