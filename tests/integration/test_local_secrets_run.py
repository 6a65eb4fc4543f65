"""The task's secrets end to end, as `make local` handles them: .env.local synced into the local AWS (moto's
server, started as make local starts it), then read by the task runner at each task start, as the ECS agent
reads them, into the real echo process's environment. No value is ever printed, here either: the checks
compare values and report only names."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from local.task import LocalTask, free_port, listening_pids, task_environments
from tests.integration.test_local_task import _get, _read_until
from tests.synth import ROOT, synthesize

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"  # the local AWS's (moto's default) account
PARTIAL = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db"
COMPLETE = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:token-AbCdEf"
VALUES = {"API_TOKEN": "tok-7777-secret", "DB_PASSWORD": "pw with $dollar and spaces", "SIGNING": "sig-8888-secret"}
CHANGED = "tok-9999-changed"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    synth = synthesize("dev", tmp_path_factory.mktemp("cdk.out-secrets-run"), image_source="build",
                       secrets=f"API_TOKEN=/echo/api-token,DB_PASSWORD={PARTIAL}:password,SIGNING={COMPLETE}")
    return synth.outdir / "echo-fargate-dev.template.json"


@pytest.fixture
def env_file(tmp_path):
    path = tmp_path / ".env.local"
    path.write_text(f"API_TOKEN={VALUES['API_TOKEN']}\nDB_PASSWORD='{VALUES['DB_PASSWORD']}'\n"
                    f"SIGNING=\"{VALUES['SIGNING']}\"\n")
    return path


@pytest.fixture
def local_aws_env(local_aws, monkeypatch):
    """This process talks to the local AWS too (LocalTask in-process), as the runner would."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in local_aws.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    return local_aws


def _sync(env: dict, template, env_file) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "local.secrets", "sync", "--template", str(template),
                           "--env-file", str(env_file)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def _environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as environ:
        items = [item.decode() for item in environ.read().split(b"\0") if item]
    return dict(item.split("=", 1) for item in items)


def _differing(pid: int, expected: dict[str, str]) -> list[str]:
    """The names whose value in the process's environment is not the expected one (names only: never a value in
    a failure message)."""
    environ = _environ(pid)
    return sorted(name for name, value in expected.items() if environ.get(name) != value)


def _no_values(text: str) -> None:
    leaked = [i for i, value in enumerate((*VALUES.values(), CHANGED)) if value in text]
    assert not leaked, f"{len(leaked)} value(s) appear in the output"


def _started_task(template, env_file, tmp_path) -> LocalTask:
    """A task started as the runner starts one: its environments, secrets included, read now."""
    task = LocalTask(task_environments(template, env_file), listen_port=free_port(), runtime_dir=tmp_path / "nginx",
                     echo_port=free_port())
    return task.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_synced_secrets_reach_echo_and_a_changed_value_the_next_task(local_aws_env, template, env_file, tmp_path):
    synced = _sync(local_aws_env, template, env_file)
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.count(": created") == 3
    _no_values(synced.stdout + synced.stderr)

    task = _started_task(template, env_file, tmp_path)
    try:
        assert _differing(task.echo.pid, VALUES) == []
        assert _get(task.listen_port, "/")[0::2] == (200, "Hello Docker!!")
    finally:
        task.stop()

    env_file.write_text(env_file.read_text().replace(VALUES["API_TOKEN"], CHANGED))
    synced = _sync(local_aws_env, template, env_file)
    assert synced.returncode == 0, synced.stderr
    assert "SSM parameter /echo/api-token <- API_TOKEN (container echo): updated" in synced.stdout
    assert synced.stdout.count(": unchanged") == 2
    _no_values(synced.stdout + synced.stderr)

    task = _started_task(template, env_file, tmp_path)
    try:
        assert _differing(task.echo.pid, {**VALUES, "API_TOKEN": CHANGED}) == []
    finally:
        task.stop()


def test_the_runners_replacement_task_reads_the_secrets_again(local_aws, template, env_file, tmp_path):
    assert _sync(local_aws, template, env_file).returncode == 0
    port, echo_port = free_port(), free_port()
    runner = subprocess.Popen(
        [sys.executable, "-m", "local.task", "--template", str(template), "--port", str(port), "--echo-port",
         str(echo_port), "--runtime-dir", str(tmp_path / "nginx"), "--env-file", str(env_file)],
        cwd=ROOT, env=local_aws, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        lines += _read_until(runner, "echo task running")
        (echo_pid,) = listening_pids(echo_port)
        assert _differing(echo_pid, VALUES) == []

        # A new value in the local AWS: ECS's next task reads it, and so does the runner's replacement task.
        env_file.write_text(env_file.read_text().replace(VALUES["API_TOKEN"], CHANGED))
        assert _sync(local_aws, template, env_file).returncode == 0
        assert _differing(echo_pid, VALUES) == []  # a running task keeps what it started with
        os.kill(echo_pid, signal.SIGKILL)
        lines += _read_until(runner, "replacement task running")
        (new_pid,) = listening_pids(echo_port)
        assert new_pid != echo_pid
        assert _differing(new_pid, {**VALUES, "API_TOKEN": CHANGED}) == []
        runner.send_signal(signal.SIGTERM)
        lines += runner.communicate(timeout=40)[0].splitlines()
        assert runner.returncode == 0
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    _no_values("\n".join(lines))


def test_a_secret_missing_from_the_local_aws_stops_the_runner_with_names_only(local_aws, template, tmp_path):
    # A template that also gives nginx a secret nobody synced: the runner refuses, as ECS fails such a task.
    document = json.loads(template.read_text())
    (task,) = [r for r in document["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    (nginx,) = [c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == "nginx"]
    nginx["Secrets"] = [{"Name": "BASIC_AUTH_HTPASSWD", "ValueFrom": "/echo/never-synced"}]
    changed = tmp_path / "echo-fargate-dev.template.json"
    changed.write_text(json.dumps(document))
    port, echo_port = free_port(), free_port()
    runner = subprocess.run(
        [sys.executable, "-m", "local.task", "--template", str(changed), "--port", str(port), "--echo-port",
         str(echo_port), "--runtime-dir", str(tmp_path / "nginx"), "--env-file", str(tmp_path / "absent")],
        cwd=ROOT, env=local_aws, capture_output=True, text=True, timeout=60)
    assert runner.returncode == 1
    assert ("BASIC_AUTH_HTPASSWD (container nginx) from SSM parameter /echo/never-synced: BASIC_AUTH_HTPASSWD=..."
            in runner.stderr)
    assert not listening_pids(port) and not listening_pids(echo_port)
    _no_values(runner.stdout + runner.stderr)
