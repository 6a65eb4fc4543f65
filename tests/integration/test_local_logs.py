"""make local's log shipping end to end: a local AWS on a free port, dev deployed with the real CDK CLI, the
task started as `make local` starts it (local.cloud start-task with the local AWS's environment), a few
requests through nginx, then `python -m operate.logs` against the local AWS shows them from both
containers, while the runner's own log still has every nginx line."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from local.task import free_port
from tests.integration.conftest import CI_IDS, STACK, bootstrap, local_cdk
from tests.synth import ROOT

pytestmark = pytest.mark.integration
SHIP_WAIT = 30  # the shipper sends every second; the local AWS answers in milliseconds


def _logs(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "operate.logs", "--env", "dev", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_make_local_ships_both_containers_lines_and_operate_logs_shows_them(local_aws, policy_assembly, tmp_path):
    env = local_aws
    bootstrap(env, policy_assembly)
    deployed = local_cdk(env, tmp_path / "out", "deploy", "--all", "--require-approval", "never", "-c", "env=dev",
                          *CI_IDS)
    assert deployed.returncode == 0, deployed.stderr
    template = tmp_path / "out" / f"{STACK}.template.json"
    port, echo_port = free_port(), free_port()
    # As make local runs it, under $(LOCAL_AWS): the endpoint in the environment turns shipping on.
    started = subprocess.run([sys.executable, "-m", "local.cloud", "start-task", "--template", str(template),
                              "--port", str(port), "--echo-port", str(echo_port)],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        paths = [f"/logs-test-{uuid.uuid4().hex[:8]}-{i}" for i in range(3)]
        for path in paths:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                assert response.status == 200

        deadline = time.monotonic() + SHIP_WAIT
        while True:
            shown = _logs(env, "--since", "10m")
            assert shown.returncode == 0, shown.stderr
            lines = shown.stdout.splitlines()
            found = {(line.split(" | ")[0].split()[-1], path) for line in lines for path in paths
                     if f" GET {path} 200 " in line}
            if len(found) == 2 * len(paths) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert found == {(container, path) for container in ("echo", "nginx") for path in paths}, shown.stdout
        # One task: every line carries the same short task id, echo's and nginx's alike.
        assert len({line.split(" | ")[1] for line in lines if "/logs-test-" in line}) == 1

        # Quoted: a CloudWatch term with '/' or '-' in it is an exact phrase only in quotes.
        only_nginx = _logs(env, "--since", "10m", "--container", "nginx", "--filter", f'"{paths[0]}"')
        assert only_nginx.returncode == 0, only_nginx.stderr
        assert [line.split(" | ")[0].split()[-1] for line in only_nginx.stdout.splitlines()] == ["nginx"]

        # The runner's log keeps every line as before shipping existed.
        task_log = (Path(env["LOCAL_RUN_DIR"]) / "local-task.log").read_text()
        for path in paths:
            assert f'"uri":"{path}"' in task_log and f'"path":"{path}"' in task_log
    finally:
        subprocess.run([sys.executable, "-m", "local.cloud", "stop"], cwd=ROOT, env=env, timeout=90)
