"""The task's two real processes, run as `make run` runs them: echo, and Debian's nginx rendered from the
image's own templates, with the environment the synthesized task definition gives each container."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from local.task import (
    LocalTask,
    TaskError,
    container_environments,
    free_port,
    listening_addresses,
    listening_pids,
    process_name,
)
from tests.synth import ROOT

pytestmark = pytest.mark.integration

HEALTH_CHECK_TIMEOUT = 5  # the target group's default health check timeout (settings.health_check_timeout)



def _get(port: int, path: str, headers: dict | None = None, timeout: float = 5) -> tuple[int, dict, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


@pytest.fixture
def environments(built_images):
    return container_environments(built_images.outdir / "echo-fargate-dev.template.json")


@pytest.fixture
def task(environments, tmp_path):
    environments["echo"]["ECHO_MAX_DELAY_MS"] = "5000"  # only for the slow-request test below
    echo_log = (tmp_path / "echo.log").open("w")
    task = LocalTask(environments, listen_port=free_port(), runtime_dir=tmp_path / "nginx",
                     echo_port=free_port())
    task.start(stdout=echo_log, stderr=subprocess.DEVNULL)
    task.echo_log = tmp_path / "echo.log"
    yield task
    task.stop()
    echo_log.close()


def test_the_environment_comes_from_the_task_definition(environments):
    assert environments["nginx"] == {"BACKEND_HOST": "localhost:8080", "WORKER_PROCESSES": "1",
                                     "WORKER_CONNECTIONS": "8192"}
    assert environments["echo"]["PORT"] == "8080"


def test_echo_body_and_healthz_through_nginx(task):
    assert _get(task.listen_port, "/")[0::2] == (200, "Hello Docker!!")
    assert _get(task.listen_port, "/any/path")[0::2] == (200, "Hello Docker!!")
    status, _, body = _get(task.listen_port, "/healthz")
    assert (status, body) == (200, "ok")


def test_forwarded_headers_and_request_id_reach_echo(task):
    status, headers, _ = _get(task.listen_port, "/trace", {"X-Request-Id": "req-123", "X-Forwarded-Proto": "https",
                                                           "X-Forwarded-For": "203.0.113.9"})
    assert status == 200
    assert headers["X-Request-Id"] == "req-123"
    assert "nginx/" not in headers.get("Server", "")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in task.echo_log.read_text().splitlines() if line.startswith("{")]
        traced = [line for line in lines if line["path"] == "/trace"]
        if traced:
            break
        time.sleep(0.05)
    (line,) = traced
    assert line["request_id"] == "req-123"
    assert line["forwarded_for"] == "203.0.113.9, 127.0.0.1"


def test_echo_down_means_502_and_unhealthy_then_healthy_again_without_restarting_nginx(task, tmp_path):
    nginx_pid = task.nginx.pid
    task.echo.kill()
    task.echo.wait(timeout=5)
    assert _get(task.listen_port, "/")[0] == 502
    started = time.monotonic()
    status = _get(task.listen_port, "/healthz", timeout=HEALTH_CHECK_TIMEOUT)[0]
    assert status >= 500
    assert time.monotonic() - started < HEALTH_CHECK_TIMEOUT

    with (tmp_path / "echo-again.log").open("w") as log:
        task.start_echo(stdout=log, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while _get(task.listen_port, "/healthz")[0] != 200:
            assert time.monotonic() < deadline, "nginx did not see echo come back"
            time.sleep(0.2)
    assert task.nginx.pid == nginx_pid and task.nginx.poll() is None
    assert _get(task.listen_port, "/")[0::2] == (200, "Hello Docker!!")


def test_sigterm_to_echo_during_a_slow_request_still_completes_it(task):
    result = {}

    def slow_request():
        result["response"] = _get(task.listen_port, "/slow?delay_ms=1500", timeout=10)

    client = threading.Thread(target=slow_request)
    client.start()
    time.sleep(0.5)  # the request is in echo now
    task.echo.send_signal(signal.SIGTERM)
    client.join(timeout=10)
    assert result["response"][0::2] == (200, "Hello Docker!!")
    assert task.echo.wait(timeout=10) == 0


def test_a_bad_backend_host_stops_nginx_at_start_with_the_message(environments, tmp_path):
    environments["nginx"]["BACKEND_HOST"] = "localhost"
    task = LocalTask(environments, listen_port=free_port(), runtime_dir=tmp_path / "nginx")
    with pytest.raises(TaskError, match=r"nginx exited \(exit status 2\)"):
        task.start_nginx(stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert "BACKEND_HOST" in task.nginx.stderr.read().decode()
    assert not os.path.exists(tmp_path / "nginx" / "nginx.pid")


def test_ctrl_c_stops_both_processes_and_leaves_nothing_running(built_images, tmp_path):
    import sys

    port, echo_port = free_port(), free_port()
    runner = subprocess.Popen(
        [sys.executable, "-m", "local.task", "--template",
         str(built_images.outdir / "echo-fargate-dev.template.json"), "--port", str(port),
         "--echo-port", str(echo_port), "--runtime-dir", str(tmp_path / "nginx")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = ""
        deadline = time.monotonic() + 20
        while "echo task running" not in line:
            assert time.monotonic() < deadline and runner.poll() is None, "make run did not start"
            line = runner.stdout.readline()
        assert _get(port, "/")[0::2] == (200, "Hello Docker!!")
        nginx_pid = int((tmp_path / "nginx" / "nginx.pid").read_text())
        runner.send_signal(signal.SIGINT)
        assert runner.wait(timeout=40) == 0
    finally:
        if runner.poll() is None:
            runner.kill()
    for closed in (port, echo_port):
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", closed), timeout=1):
            pass
    with pytest.raises(ProcessLookupError):
        os.kill(nginx_pid, 0)


def _non_loopback_address() -> str | None:
    """An address of this machine other than loopback, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_nginx_listens_on_loopback_only(task):
    # /proc/net/tcp: the listening socket's own address, whatever interfaces this machine has.
    assert listening_addresses(task.listen_port) == {"127.0.0.1"}
    if address := _non_loopback_address():
        with pytest.raises(ConnectionRefusedError), socket.create_connection((address, task.listen_port), timeout=2):
            pass


def test_when_nginx_cannot_start_echo_is_stopped_too(environments, tmp_path):
    with socket.socket() as taken:  # the listening port is somebody else's
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        task = LocalTask(environments, listen_port=port, runtime_dir=tmp_path / "nginx", echo_port=free_port())
        with pytest.raises(TaskError, match="nginx exited"):
            task.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert task.echo.poll() is not None  # stopped, not left on its port
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", task.echo_port), timeout=1):
        pass


def _runner(built_images, tmp_path, port: int, echo_port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "local.task", "--template",
         str(built_images.outdir / "echo-fargate-dev.template.json"), "--port", str(port),
         "--echo-port", str(echo_port), "--runtime-dir", str(tmp_path / "nginx")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _read_until(runner: subprocess.Popen, text: str) -> list[str]:
    lines = []
    while not lines or text not in lines[-1]:
        line = runner.stdout.readline()
        assert line, f"the runner ended before printing {text!r}: {lines}"
        lines.append(line)
    return lines


def test_an_essential_container_exiting_stops_the_task_and_a_replacement_starts(built_images, tmp_path):
    port, echo_port = free_port(), free_port()
    runner = _runner(built_images, tmp_path, port, echo_port)
    try:
        _read_until(runner, "echo task running")
        (echo_pid,) = listening_pids(echo_port)
        nginx_pids = listening_pids(port)
        os.kill(echo_pid, signal.SIGKILL)
        lines = _read_until(runner, "task stopped")
        assert "task stopped: echo exited (signal SIGKILL); starting a replacement task" in lines[-1]
        _read_until(runner, "replacement task running")
        # The whole task was replaced, as ECS does: the old nginx stopped with echo, a new pair answers.
        assert not any(os.path.exists(f"/proc/{pid}") for pid in nginx_pids)
        assert listening_pids(echo_port) and echo_pid not in listening_pids(echo_port)
        assert _get(port, "/")[0::2] == (200, "Hello Docker!!")
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=40) == 0
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert not listening_pids(port) and not listening_pids(echo_port)


def test_the_runner_refuses_a_busy_port_and_starts_nothing(built_images, tmp_path):
    echo_port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        runner = _runner(built_images, tmp_path, port, echo_port)
        output = runner.communicate(timeout=30)[0]
    assert runner.returncode == 1
    (line,) = output.splitlines()  # one line, no traceback, and it names the program holding the port
    assert line.startswith(f"make run: port {port} (LOCAL_PORT) is in use by pid {os.getpid()} "
                           f"({process_name(os.getpid())}): stop that program or choose another port")
    assert not listening_pids(echo_port)


def test_make_run_and_make_local_pass_echo_port():
    for target in ("run", "local"):
        plan = subprocess.run(["make", "-n", target, "ECHO_PORT=9123"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout
        assert "--echo-port 9123" in plan, target
