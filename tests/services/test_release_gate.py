"""Tests of the release gate (services/release_gate): its probe, shared with the verifier, and the Lambda
handler that ECS calls before a blue/green deployment moves production traffic.

Each gate runs against a real HTTP server of this process on 127.0.0.1 (a port the kernel picks), which
answers as a test tells it and counts what it receives; nothing leaves the machine.
"""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from services.release_gate import gate, probe

GATE_DIR = Path(gate.__file__).resolve().parent
HELLO = "Hello Docker!!"
CHALLENGE = 'Basic realm="Restricted"'


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = HELLO + "\n"  # as echo answers
    delay: float = 0.0  # seconds before answering
    challenge: str = ""


class Server:
    """An HTTP server whose n-th answer (from 1) is `reply(n)`; counts the GETs it received and keeps their
    Authorization headers."""

    def __init__(self, reply: Callable[[int], Reply]) -> None:
        self.reply, self.received, self._lock = reply, 0, threading.Lock()
        self.authorizations: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.received += 1
                    number = server.received
                    server.authorizations.append(self.headers.get("Authorization"))
                answer = server.reply(number)
                time.sleep(answer.delay)
                payload = answer.body.encode()
                try:
                    self.send_response(answer.status)
                    if answer.challenge:
                        self.send_header("WWW-Authenticate", answer.challenge)
                    self.send_header("Set-Cookie", "session=header-secret")  # must never reach the log
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the gate gave up waiting (its timeout) and closed the connection
                    pass

            def log_message(self, *args) -> None:  # keep pytest's output clean
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/"


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[int], Reply]], Server]]:
    servers: list[Server] = []

    def start(reply: Callable[[int], Reply]) -> Server:
        server = Server(reply)
        threading.Thread(target=server.http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.http.shutdown()
        server.http.server_close()


@pytest.fixture
def environment(monkeypatch) -> Callable[..., None]:
    """Sets the gate's variables, after removing any the calling shell exports."""
    for name in [name for name in os.environ if name.startswith("GATE_")]:
        monkeypatch.delenv(name)

    def setenv(**variables: object) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, str(value))

    return setenv


@pytest.fixture
def closed_url() -> Iterator[str]:
    # A bound socket that never listens: the kernel refuses connections, and no one else can take the port.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


EVENT = {
    "executionId": "exec-1",
    "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
    "resourceArn": "arn:aws:ecs:us-east-1:123456789012:service-deployment/echo/svc/abc",
    "executionDetails": {
        "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/echo/svc",
        "targetServiceRevisionArn": "arn:aws:ecs:us-east-1:123456789012:service-revision/echo/svc/42",
        "testTrafficWeights": {}, "productionTrafficWeights": {},
    },
}


def run_gate(capsys, context: object = None) -> tuple[str, dict]:
    """The hook status the handler answered, and its log line (which must be the only line it printed)."""
    answer = gate.handler(EVENT, context)
    assert set(answer) == {"hookStatus"}
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    return answer["hookStatus"], json.loads(lines[0])


def every(reply: Reply) -> Callable[[int], Reply]:
    return lambda number: reply


# --- the probe: one judgement for the verifier and the gate ---------------------------------------------------

VERIFIER = probe.Expectation(body=HELLO)
GATE = probe.Expectation(body=HELLO, statuses=probe.ANY_2XX)
LOCKED = probe.Expectation(body=HELLO, statuses=probe.ANY_2XX, login_challenge=True)


@pytest.mark.parametrize(("answer", "expected", "problem"), [
    (probe.Answer(200, "Hello Docker!!\r\n"), VERIFIER, None),
    (probe.Answer(204, "Hello Docker!!"), VERIFIER, "HTTP 204, expected 200"),
    (probe.Answer(204, "Hello Docker!!"), GATE, None),
    (probe.Answer(301, "Hello Docker!!"), GATE, "HTTP 301, expected 2xx"),
    (probe.Answer(200, "Welcome to nginx!\n"), GATE, "body 'Welcome to nginx!', expected 'Hello Docker!!'"),
    (probe.Answer(200, "x" * 200), GATE, f"body {'x' * 80!r}, expected 'Hello Docker!!'"),
    (probe.Answer(401, "no", 'basic realm="r"'), LOCKED, None),  # the scheme is case-insensitive
    (probe.Answer(401, "no"), LOCKED, "HTTP 401, expected 401 with a Basic challenge"),
    (probe.Answer(401, "no", "Bearer"), LOCKED, "HTTP 401, expected 401 with a Basic challenge"),
    (probe.Answer(200, HELLO), LOCKED, "HTTP 200, expected 401 with a Basic challenge"),
])
def test_judge(answer, expected, problem):
    assert probe.judge(answer, expected) == problem


def test_http_get_sends_basic_credentials_and_keeps_the_challenge(serve):
    server = serve(every(Reply(status=401, body="no", challenge=CHALLENGE)))
    assert probe.http_get(server.url, credentials="alice:s3cret") == probe.Answer(401, "no", CHALLENGE)
    assert probe.http_get(server.url) == probe.Answer(401, "no", CHALLENGE)
    assert server.authorizations == ["Basic YWxpY2U6czNjcmV0", None]


def test_the_gate_sends_no_credentials(serve, environment, capsys):
    server = serve(every(Reply(status=401, body="no", challenge=CHALLENGE)))
    environment(GATE_URL=server.url, GATE_REQUESTS=2, GATE_P99_MS=1000, GATE_AUTH_REQUIRED="true")
    run_gate(capsys)
    assert server.authorizations == [None, None]


@pytest.mark.parametrize(("values", "percent", "expected"), [
    (list(range(1, 101)), 99, 99),  # ceil(0.99 x 100) = 99th
    (list(range(100, 0, -1)), 99, 99),  # order of arrival does not matter
    (list(range(1, 101)), 50, 50),
    (list(range(1, 21)), 99, 20),  # ceil(0.99 x 20) = 20th: with 20 requests, p99 is the slowest
    (list(range(1, 201)), 99, 198),
    ([7.5], 99, 7.5),
    ([3, 1, 2], 50, 2),
])
def test_nearest_rank(values, percent, expected):
    assert gate.nearest_rank(values, percent) == expected


# --- the gate against a server ---------------------------------------------------------------------------------

def test_passes_on_a_healthy_service_and_sends_exactly_the_requests_asked_for(serve, environment, capsys):
    server = serve(every(Reply()))
    environment(GATE_URL=server.url, GATE_REQUESTS=7, GATE_P99_MS=1000)
    status, log = run_gate(capsys)
    assert status == "SUCCEEDED", log
    assert server.received == 7
    assert (log["requests"], log["sent"], log["healthy"], log["unhealthy"], log["problems"]) == (7, 7, 7, 0, [])


def test_a_2xx_other_than_200_passes(serve, environment, capsys):
    server = serve(every(Reply(status=203)))
    environment(GATE_URL=server.url, GATE_REQUESTS=3, GATE_P99_MS=1000)
    assert run_gate(capsys)[0] == "SUCCEEDED"


def test_fails_on_a_wrong_body(serve, environment, capsys):
    server = serve(every(Reply(body="Welcome to nginx!\n")))
    environment(GATE_URL=server.url, GATE_REQUESTS=3, GATE_P99_MS=1000)
    status, log = run_gate(capsys)
    assert status == "FAILED"
    assert log["problems"][0] == "request 1: body 'Welcome to nginx!', expected 'Hello Docker!!'"
    assert log["reason"] == "3 of 3 requests failed; the error rate must be 0"


def test_fails_on_a_500(serve, environment, capsys):
    server = serve(every(Reply(status=500, body="Internal Server Error")))
    environment(GATE_URL=server.url, GATE_REQUESTS=2, GATE_P99_MS=1000)
    status, log = run_gate(capsys)
    assert status == "FAILED"
    assert log["problems"] == ["request 1: HTTP 500, expected 2xx", "request 2: HTTP 500, expected 2xx"]


def test_fails_on_a_single_500_among_many_and_still_sends_them_all(serve, environment, capsys):
    server = serve(lambda number: Reply(status=500) if number == 17 else Reply())
    environment(GATE_URL=server.url, GATE_REQUESTS=30, GATE_P99_MS=1000, GATE_TIMEOUT_SECONDS=1)
    status, log = run_gate(capsys)
    assert status == "FAILED"
    assert server.received == 30
    assert (log["healthy"], log["unhealthy"]) == (29, 1)
    assert log["problems"] == ["request 17: HTTP 500, expected 2xx"]
    assert log["reason"] == "1 of 30 requests failed; the error rate must be 0"


def test_fails_when_nothing_listens(closed_url, environment, capsys):
    environment(GATE_URL=closed_url, GATE_REQUESTS=3, GATE_P99_MS=1000)
    status, log = run_gate(capsys)
    assert status == "FAILED"
    assert len(log["problems"]) == 3
    assert "Connection refused" in log["problems"][0]
    assert (log["sent"], log["unhealthy"], log["p99_ms"]) == (3, 3, None)  # no answer, no latency


def test_fails_on_a_timeout(serve, environment, capsys):
    server = serve(every(Reply(delay=0.6)))
    environment(GATE_URL=server.url, GATE_REQUESTS=1, GATE_P99_MS=1000, GATE_TIMEOUT_SECONDS=0.2)
    status, log = run_gate(capsys)
    assert status == "FAILED"
    assert "timed out" in log["problems"][0]


SLOW = Reply(delay=0.25)  # against a limit of 100 ms; a healthy answer on loopback takes a few ms


def test_fails_when_p99_is_above_the_limit(serve, environment, capsys):
    server = serve(lambda number: SLOW if number in (2, 4) else Reply())
    environment(GATE_URL=server.url, GATE_REQUESTS=5, GATE_P99_MS=100)
    status, log = run_gate(capsys)
    assert status == "FAILED"
    assert log["unhealthy"] == 0  # every answer was right; only its speed fails the release
    assert log["p99_ms"] >= 250
    assert log["reason"].startswith("p99 latency ") and log["reason"].endswith(" ms is above GATE_P99_MS=100 ms")


@pytest.mark.parametrize(("slow_requests", "status"), [
    (1, "SUCCEEDED"),  # p99 of 100 is the 99th smallest: the one slow answer is the 100th
    (2, "FAILED"),  # now the 99th is slow too
])
def test_the_nearest_rank_decides_p99(serve, environment, capsys, slow_requests, status):
    slow = range(50, 50 + slow_requests)
    server = serve(lambda number: SLOW if number in slow else Reply())
    environment(GATE_URL=server.url, GATE_REQUESTS=100, GATE_P99_MS=100, GATE_TIMEOUT_SECONDS=1)
    decision, log = run_gate(capsys)
    assert decision == status, log
    assert server.received == 100
    assert log["max_ms"] >= 250


def test_with_a_login_the_challenge_passes(serve, environment, capsys):
    server = serve(every(Reply(status=401, body="401 Authorization Required", challenge=CHALLENGE)))
    environment(GATE_URL=server.url, GATE_REQUESTS=3, GATE_P99_MS=1000, GATE_AUTH_REQUIRED="true")
    assert run_gate(capsys)[0] == "SUCCEEDED"


@pytest.mark.parametrize("reply", [Reply(), Reply(status=401, body="no")], ids=["open", "401-without-challenge"])
def test_with_a_login_anything_but_the_challenge_fails(serve, environment, capsys, reply):
    server = serve(every(reply))
    environment(GATE_URL=server.url, GATE_REQUESTS=2, GATE_P99_MS=1000, GATE_AUTH_REQUIRED="TRUE")
    status, log = run_gate(capsys)
    assert status == "FAILED"
    assert log["problems"][0] == f"request 1: HTTP {reply.status}, expected 401 with a Basic challenge"


def test_the_log_line_holds_the_decision_and_no_secret(serve, environment, capsys):
    body = "A" * 80 + "BEYOND-THE-80-CHARS"
    server = serve(lambda number: Reply(body=body) if number == 2 else Reply())
    environment(GATE_URL=server.url, GATE_REQUESTS=3, GATE_P99_MS=1000)
    gate.handler(EVENT, None)
    line = capsys.readouterr().out
    log = json.loads(line)
    assert log["decision"] == "FAILED"
    assert log["lifecycle_stage"] == "POST_TEST_TRAFFIC_SHIFT"
    assert log["target_revision_arn"] == "arn:aws:ecs:us-east-1:123456789012:service-revision/echo/svc/42"
    assert log["execution_id"] == "exec-1"
    assert log["url"] == server.url
    assert (log["requests"], log["sent"], log["healthy"], log["unhealthy"]) == (3, 3, 2, 1)
    assert 0 < log["p50_ms"] <= log["p99_ms"] <= log["max_ms"]
    assert log["p99_limit_ms"] == 1000
    assert log["problems"] == [f"request 2: body {'A' * 80!r}, expected 'Hello Docker!!'"]
    assert "BEYOND" not in line and "header-secret" not in line


def test_the_log_shows_only_the_first_problems(closed_url, environment, capsys):
    environment(GATE_URL=closed_url, GATE_REQUESTS=8, GATE_P99_MS=1000)
    log = run_gate(capsys)[1]
    assert len(log["problems"]) == gate.SHOWN_PROBLEMS
    assert log["problems"][0].startswith("request 1: ") and log["problems"][-1].startswith("request 5: ")


# --- configuration --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("variables", "reason"), [
    ({"GATE_URL": None}, "GATE_URL is not set"),
    ({"GATE_URL": "", "GATE_P99_MS": 1000}, "GATE_URL is not set"),
    ({"GATE_URL": "ftp://alb/", "GATE_P99_MS": 1000}, "is not an http(s) URL with a host"),
    ({"GATE_URL": "http://alb:http/", "GATE_P99_MS": 1000}, "is not a URL"),
    ({"GATE_URL": "http://admin:pw@alb/", "GATE_P99_MS": 1000}, "must not carry credentials"),
    ({"GATE_P99_MS": None}, "GATE_P99_MS is not set"),
    ({"GATE_P99_MS": "fast"}, "GATE_P99_MS='fast' is not a number"),
    ({"GATE_P99_MS": "nan"}, "must be a number above 0"),
    ({"GATE_P99_MS": 0}, "must be a number above 0"),
    ({"GATE_REQUESTS": 0}, "GATE_REQUESTS=0 must be from 1 to 200"),
    ({"GATE_REQUESTS": 1000}, "GATE_REQUESTS=1000 must be from 1 to 200"),
    ({"GATE_REQUESTS": "2.5"}, "GATE_REQUESTS='2.5' is not a whole number"),
    ({"GATE_TIMEOUT_SECONDS": "-1"}, "must be a number above 0"),
    ({"GATE_REQUESTS": 21}, "21 x 5 s could take 105 s, more than 100 s"),  # the default timeout
    ({"GATE_REQUESTS": 200, "GATE_TIMEOUT_SECONDS": 1}, "could take 200 s"),
    ({"GATE_AUTH_REQUIRED": "yes"}, "GATE_AUTH_REQUIRED='yes' must be true or false"),
])
def test_bad_configuration_fails_without_a_request(serve, environment, capsys, variables, reason):
    server = serve(every(Reply()))
    settings = {"GATE_URL": server.url, "GATE_P99_MS": 1000} | variables
    environment(**{name: value for name, value in settings.items() if value is not None})
    status, log = run_gate(capsys)
    assert status == "FAILED"
    assert log["reason"].startswith("bad configuration: ") and reason in log["reason"], log["reason"]
    assert log["lifecycle_stage"] == "POST_TEST_TRAFFIC_SHIFT"
    assert server.received == 0


def test_defaults(environment):
    environment(GATE_URL="http://alb:8080/", GATE_P99_MS="250.5")
    config = gate.read_config(os.environ)
    assert config == gate.GateConfig(url="http://alb:8080/", requests=20, p99_limit_ms=250.5, timeout_seconds=5.0,
                                     expected=probe.Expectation(body=HELLO, statuses=probe.ANY_2XX))


# --- time ------------------------------------------------------------------------------------------------------

class LambdaContext:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_sends_nothing_that_could_outlast_the_function(serve, environment, capsys):
    server = serve(every(Reply()))
    environment(GATE_URL=server.url, GATE_REQUESTS=3, GATE_P99_MS=1000, GATE_TIMEOUT_SECONDS=1)
    # 10.5 s left, 10 s of which are kept for the answer: a 1 s request does not fit.
    status, log = run_gate(capsys, LambdaContext(remaining_ms=10_500))
    assert status == "FAILED"
    assert server.received == 0
    assert log["reason"] == "the time ran out after 0 of 3 requests (another could take 1 s)"


def test_timeouts_that_use_up_the_time_are_reported_as_failures(serve):
    server = serve(every(Reply(delay=0.5)))
    config = gate.GateConfig(url=server.url, expected=probe.Expectation(statuses=probe.ANY_2XX), requests=3,
                             p99_limit_ms=1000, timeout_seconds=0.25)
    # Requests 1 and 2 each wait out their 0.25 s; request 3 would end after 0.75 s, beyond the 0.7 s left.
    run = gate.send_requests(config, time_left=0.7)
    assert (run.sent, run.unhealthy, run.out_of_time) == (2, 2, True)
    assert gate.decide(config, run) == ("FAILED", "2 of 2 requests failed; the error rate must be 0, and the time "
                                                  "ran out after 2 of 3 requests (another could take 0.25 s)")


# --- what ships to Lambda --------------------------------------------------------------------------------------

def test_the_asset_holds_only_the_gate_and_its_probe():
    assert sorted(path.name for path in GATE_DIR.glob("*.py")) == ["gate.py", "probe.py"]
    assert not [path for path in GATE_DIR.iterdir() if path.is_dir() and path.name != "__pycache__"]


@pytest.mark.parametrize("module", ["gate.py", "probe.py"])
def test_imports_only_the_standard_library(module):
    tree = ast.parse((GATE_DIR / module).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert imported  # the walk found the imports at all
    beside = {"probe"}  # gate.py's import of its sibling, as Lambda loads it
    assert imported - set(sys.stdlib_module_names) - beside == set()


def test_runs_as_lambda_loads_it(serve, environment):
    """gate.handler imported as a top-level module from the asset's directory, without site-packages (-S): what
    the Lambda runtime does, and proof that nothing installed is needed."""
    server = serve(every(Reply()))
    environment(GATE_URL=server.url, GATE_REQUESTS=2, GATE_P99_MS=1000)
    script = (f"import sys; sys.path.insert(0, {str(GATE_DIR)!r}); import gate; "
              "print(gate.handler({'lifecycleStage': 'POST_TEST_TRAFFIC_SHIFT'}, None))")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 0, done.stderr
    log_line, answer = done.stdout.splitlines()
    assert json.loads(log_line)["decision"] == "SUCCEEDED"
    assert answer == "{'hookStatus': 'SUCCEEDED'}"
    assert server.received == 2
