"""What `make local` leaves running is recorded under .run/, and `make local-stop` stops exactly that; busy
ports, foreign or stale records, crashes and an unwritable .run/ end in one clear line and a clean state."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local import cloud as local_cloud
from local.task import free_port, listening_pids
from tests.synth import ROOT

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    path = tmp_path / ".run"
    monkeypatch.setattr(local_cloud, "RUN_DIR", path)
    yield path
    local_cloud.stop("local-task", quiet=True)
    local_cloud.stop("local-aws", quiet=True)


@pytest.fixture
def template(built_images) -> Path:
    return built_images.outdir / "echo-fargate-dev.template.json"


def _reap(pid: int) -> None:
    """Wait for our child `pid` to end (subprocess may have reaped it already)."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        while _alive(pid):
            time.sleep(0.05)


def _wait_for_log(run_dir: Path, name: str, text: str, process_pid: int) -> None:
    while text not in (run_dir / f"{name}.log").read_text():
        assert _alive(process_pid), f"{name} exited before logging {text!r}"
        time.sleep(0.1)


def test_start_records_pids_and_stop_ends_exactly_those(template, run_dir, capsys):
    aws_port, task_port = free_port(), free_port()
    local_cloud.start_aws(aws_port)
    local_cloud.start_aws(aws_port)  # a second `make local` reuses the running one
    local_cloud.start_task(template, task_port, free_port())
    out = capsys.readouterr().out
    assert "local AWS (moto) started" in out and "local AWS already running" in out
    pids = {name: local_cloud.running_pid(name) for name in local_cloud.SERVICES}
    assert all(pids.values()) and all(_alive(pid) for pid in pids.values())
    record = json.loads((run_dir / "local-aws.pid").read_text())
    assert (record["checkout"], record["port"]) == (str(ROOT), aws_port)
    nginx_pid = int((run_dir / "nginx" / "nginx.pid").read_text())

    assert local_cloud.main(["stop"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [f"stopped local-task (pid {pids['local-task']})",
                                f"stopped local-aws (pid {pids['local-aws']})"]
    assert not any(_alive(pid) for pid in pids.values())
    assert not _alive(nginx_pid)
    assert _refused(aws_port) and _refused(task_port)
    assert local_cloud.main(["stop"]) == 0
    assert capsys.readouterr().out == "nothing from make local is running\n"


def test_a_record_of_a_reused_pid_or_another_checkout_is_not_trusted(run_dir):
    # A real local AWS that this checkout's make local did not start: e.g. another checkout's.
    port = free_port()
    other = subprocess.Popen([sys.executable, "-m", "local.aws", "--port", str(port)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ticks = local_cloud._start_ticks(other.pid)
        records = [
            str(other.pid),  # the bare pid an older version wrote: nothing says whose process it is
            json.dumps({"pid": other.pid, "start_ticks": ticks + 1, "checkout": str(ROOT), "port": port,
                        "started": 0}),  # the pid was reused by a later process
            json.dumps({"pid": other.pid, "start_ticks": ticks, "checkout": "/elsewhere/checkout", "port": port,
                        "started": 0}),  # .run/ copied from another checkout
        ]
        for text in records:
            run_dir.mkdir(exist_ok=True)
            (run_dir / "local-aws.pid").write_text(text)
            assert local_cloud.running_pid("local-aws") is None
            (run_dir / "local-aws.pid").write_text(text)
            local_cloud.main(["stop"])
            assert _alive(other.pid), f"make local-stop killed a process it did not start ({text})"
            assert not (run_dir / "local-aws.pid").exists()
    finally:
        other.kill()
        other.wait()


def test_start_aws_on_another_port_than_the_running_one_says_so(run_dir):
    port = free_port()
    local_cloud.start_aws(port)
    other_port = free_port()
    with pytest.raises(local_cloud.LocalError, match=f"listens on port {port}, not {other_port}: "
                                                     f"use LOCAL_AWS_PORT={port}"):
        local_cloud.start_aws(other_port)


def _decoy(port: int, body: bytes) -> subprocess.Popen:
    """Another program's web server on `port`: answers every GET with 200 and `body` (`ok` like /healthz)."""
    code = ("import http.server, sys\n"
            "class H(http.server.BaseHTTPRequestHandler):\n"
            "    def do_GET(self):\n"
            "        self.send_response(200); self.end_headers(); self.wfile.write(sys.argv[2].encode())\n"
            "    def log_message(self, *a): pass\n"
            "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n")
    decoy = subprocess.Popen([sys.executable, "-c", code, str(port), body.decode()])
    while not listening_pids(port):
        assert decoy.poll() is None
        time.sleep(0.05)
    return decoy


@pytest.mark.parametrize("which", ["LOCAL_PORT", "ECHO_PORT"])
def test_start_task_refuses_a_port_another_program_answers_on(template, run_dir, which):
    port, echo_port = free_port(), free_port()
    decoy = _decoy(port if which == "LOCAL_PORT" else echo_port, b"ok")
    try:
        busy = port if which == "LOCAL_PORT" else echo_port
        with pytest.raises(local_cloud.LocalError, match=rf"port {busy} \({which}\) is in use by pid {decoy.pid} "):
            local_cloud.start_task(template, port, echo_port)
        assert decoy.poll() is None  # left alone
    finally:
        decoy.kill()
        decoy.wait()
    assert not (run_dir / "local-task.pid").exists()
    assert _refused(port) and _refused(echo_port)  # nothing of the task was started, or left behind


def test_start_aws_refuses_a_port_another_program_answers_on(run_dir):
    port = free_port()
    decoy = _decoy(port, b"{}")
    try:
        with pytest.raises(local_cloud.LocalError,
                           match=rf"port {port} \(LOCAL_AWS_PORT\) is in use by pid {decoy.pid}"):
            local_cloud.start_aws(port)
    finally:
        decoy.kill()
        decoy.wait()
    assert not (run_dir / "local-aws.pid").exists()


def test_a_task_that_fails_to_start_leaves_nothing_and_shows_the_log(template, run_dir, tmp_path):
    data = json.loads(template.read_text())
    for resource in data["Resources"].values():
        if resource["Type"] == "AWS::ECS::TaskDefinition":
            for container in resource["Properties"]["ContainerDefinitions"]:
                for item in container.get("Environment", []):
                    if item["Name"] == "BACKEND_HOST":
                        item["Value"] = "bad_host!:8080"  # nginx refuses it after echo has started
    broken = tmp_path / "broken.template.json"
    broken.write_text(json.dumps(data))
    port, echo_port = free_port(), free_port()
    with pytest.raises(local_cloud.LocalError) as raised:
        local_cloud.start_task(broken, port, echo_port)
    message = str(raised.value)
    assert message.splitlines()[0].startswith("the task runner exited at start (exit status 1); see ")
    assert "BACKEND_HOST='bad_host!:" in message and "is invalid" in message  # the log's tail, where nginx said why
    assert not (run_dir / "local-task.pid").exists()
    assert _refused(port) and _refused(echo_port)


def test_the_log_keeps_every_nginx_line(template, run_dir):
    port = free_port()
    local_cloud.start_task(template, port, free_port())
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(3000):
        connection.request("GET", "/counted")
        response = connection.getresponse()
        assert response.status == 200
        response.read()
    connection.close()
    local_cloud.stop("local-task")  # nginx flushes its access log buffer on the way out
    lines = (run_dir / "local-task.log").read_text().splitlines()
    assert sum('"uri":"/counted"' in line for line in lines) == 3000


def test_a_replaced_task_is_reported_by_stop_and_a_dead_runner_by_start(template, run_dir, capsys):
    port, echo_port = free_port(), free_port()
    local_cloud.start_task(template, port, echo_port)
    runner = local_cloud.running_pid("local-task")
    (echo_pid,) = listening_pids(echo_port)
    os.kill(echo_pid, signal.SIGKILL)
    _wait_for_log(run_dir, "local-task", "replacement task running", runner)
    capsys.readouterr()
    local_cloud.main(["stop"])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"stopped local-task (pid {runner})"
    assert "task stopped: echo exited (signal SIGKILL)" in out[1]

    # The runner itself killed outright: its containers go with it, and the next start says what it found.
    local_cloud.start_task(template, port, echo_port)
    runner = local_cloud.running_pid("local-task")
    task_pids = listening_pids(port) | listening_pids(echo_port)
    os.kill(runner, signal.SIGKILL)
    _reap(runner)
    while any(_alive(pid) for pid in task_pids):
        time.sleep(0.1)
    capsys.readouterr()
    local_cloud.start_task(template, port, echo_port)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"the task runner (pid {runner}, started ")
    assert out[0].endswith("had already exited: the task was not running")
    assert out[1].startswith("task processes started")
    assert (run_dir / "local-task.log.1").exists()


def test_a_local_aws_that_died_is_reported_and_its_log_kept(run_dir, capsys):
    port = free_port()
    local_cloud.start_aws(port)
    pid = local_cloud.running_pid("local-aws")
    os.kill(pid, signal.SIGKILL)
    _reap(pid)
    env = {**os.environ, "LOCAL_RUN_DIR": str(run_dir)}
    diff = subprocess.run([sys.executable, "-m", "local.cdk", "--aws-port", str(port), "diff", "-c", "env=dev"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert diff.returncode == 1
    (line,) = diff.stderr.splitlines()
    assert line.startswith(f"make local: the local AWS (pid {pid}, started ")
    assert line.endswith("is not running: it keeps its state in memory, so its stacks are gone; run make local")
    crashed_log = (run_dir / "local-aws.log").read_text()

    capsys.readouterr()
    local_cloud.start_aws(port)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"the local AWS (pid {pid}, started ")
    assert "is not running any more: it keeps its state in memory, so its stacks are gone" in out[0]
    assert out[1].startswith("local AWS (moto) started")
    assert (run_dir / "local-aws.log.1").read_text() == crashed_log


def _read_only(run_dir: Path, argv: list[str]) -> list[str]:
    """`argv` with `run_dir` read-only: a read-only mount for root (who may write to any directory), else
    a directory without write permission."""
    run_dir.mkdir()
    if os.getuid() != 0:
        run_dir.chmod(0o555)
        return argv
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'
    return ["unshare", "--mount", "sh", "-c", script, str(run_dir), *argv]


@pytest.mark.parametrize("command", [["local.cloud", "start-aws", "--port", "0"],
                                     ["local.cloud", "start-task", "--template", "x.json"],
                                     ["local.cdk", "--aws-port", "1", "diff", "-c", "env=dev"]])
@pytest.mark.parametrize("fault", ["read-only", "a file"])
def test_an_unwritable_run_dir_is_one_line(tmp_path, command, fault):
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", *command]
    if fault == "a file":
        run_dir.write_text("")
    else:
        argv = _read_only(run_dir, argv)
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "LOCAL_RUN_DIR": str(run_dir)})
    assert result.returncode == 1, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"make local: cannot write to {run_dir} (")
    assert "Traceback" not in result.stderr


def test_make_local_checks_the_settings_before_starting_anything(tmp_path):
    port = free_port()
    result = subprocess.run(["make", "--no-print-directory", "local", f"LOCAL_AWS_PORT={port}",
                             "CDK_ARGS=-c desird_count=2"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "LOCAL_RUN_DIR": str(tmp_path / "run")})
    assert result.returncode != 0
    assert "-c desird_count: unknown setting (did you mean 'desired_count'?)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "local-aws.pid").exists() and _refused(port)
