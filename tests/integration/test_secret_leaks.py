"""The task's secrets under `make local`, end to end, and the leak test of issue 11.

`make local` itself runs (on free ports, with its own run directory, cdk.out and .env.local): the settings name
an SSM parameter, a Secrets Manager secret's JSON key and an htpasswd secret for nginx; `make local` creates
them in the local AWS from the env file and starts the task, whose echo process then has the values and whose
nginx asks for a login. A changed value and `make local` again: the task restarts with it. Then a known value
of each is looked for in everything the run left or printed: the templates and the rest of cdk.out, the run
directory (the runner's and the local AWS's logs, the outputs file), `make local`'s output, `make
local-status` and `make local-logs` (the containers' lines as shipped to the local AWS's CloudWatch Logs).
The only places a value may be: the env file, the local AWS's stores, the task's processes' environments and
nginx's htpasswd on its runtime volume (mode 0600).

Failure messages name where a value leaked, never the value.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest

from local.task import free_port, listening_pids
from tests.synth import ROOT

pytestmark = pytest.mark.integration
ACCOUNT = "123456789012"  # moto's
DB_SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:echo/leak-db"
SECRETS = f"API_TOKEN=/echo/leak-token,DB_PASSWORD={DB_SECRET}:password"
HTPASSWD_PARAMETER = "/echo/leak-htpasswd"


def _canary(what: str) -> str:
    return f"canary-{what}-{uuid.uuid4().hex}"


def _apr1(password: str) -> str:
    # An argument, not stdin: no terminal here. (The test's own process list is not one of the checked places.)
    return subprocess.run(["openssl", "passwd", "-apr1", password], capture_output=True, text=True,
                          check=True).stdout.strip()


class Run:
    """One `make local` world: ports, directories, the env file, and every output it printed."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.run_dir, self.cdk_out, self.env_file = tmp / "run", tmp / "cdk.out", tmp / "env.local"
        self.aws_port, self.port, self.echo_port = free_port(), free_port(), free_port()
        self.outputs: dict[str, str] = {}
        self.values = {"API_TOKEN": _canary("token"), "DB_PASSWORD": _canary("db"),
                       "login_password": _canary("login")}
        self.values["BASIC_AUTH_HTPASSWD"] = f"leaker:{_apr1(self.values['login_password'])}"

    def write_env_file(self) -> None:
        # Single quotes: the hash's `$` stays as it is (docs/local-aws.md, the env file's format).
        self.env_file.write_text(
            "# the local task's secrets\n"
            f"API_TOKEN={self.values['API_TOKEN']}\n"
            f"DB_PASSWORD={self.values['DB_PASSWORD']}\n"
            f"BASIC_AUTH_HTPASSWD='{self.values['BASIC_AUTH_HTPASSWD']}'\n")

    def make(self, name: str, *target: str, timeout: float = 600) -> subprocess.CompletedProcess:
        args = ["make", "--no-print-directory", *target, f"LOCAL_AWS_PORT={self.aws_port}",
                f"LOCAL_PORT={self.port}", f"ECHO_PORT={self.echo_port}", f"ENV_FILE={self.env_file}",
                f"LOCAL_CDK_OUT={self.cdk_out}",
                f"CDK_ARGS=-c image_source=ecr -c image_tag=leak -c secrets={SECRETS} "
                f"-c basic_auth_secret={HTPASSWD_PARAMETER}"]
        result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, "LOCAL_RUN_DIR": str(self.run_dir)})
        self.outputs[name] = result.stdout + result.stderr
        return result

    def wait_until_shipped(self, text: str, timeout: float = 30) -> None:
        logs = boto3.client("logs", endpoint_url=f"http://localhost:{self.aws_port}", region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for group in logs.describe_log_groups()["logGroups"]:
                events = logs.filter_log_events(logGroupName=group["logGroupName"])["events"]
                if any(text in event["message"] for event in events):
                    return
            time.sleep(0.5)
        raise AssertionError(f"no line with {text} reached the local AWS within {timeout:.0f} s")

    def echo_environment(self) -> dict[str, str]:
        (pid,) = listening_pids(self.echo_port)
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        return dict(item.decode().split("=", 1) for item in raw if b"=" in item)

    def leaks(self) -> list[str]:
        """Where any value appears outside the places it may be: 'VARIABLE in PLACE', never the value."""
        allowed = {self.env_file, self.run_dir / "nginx" / "auth" / "htpasswd"}
        places: dict[str, str] = dict(self.outputs)
        for root in (self.cdk_out, self.run_dir):
            for path in root.rglob("*"):
                if path.is_file() and path not in allowed:
                    places[str(path.relative_to(self.tmp))] = path.read_bytes().decode("utf-8", "replace")
        found = []
        for name, value in self.values.items():
            # The htpasswd line, and also its hash alone; the password in the clear or base64 (a logged header).
            needles = {value, value.split(":", 1)[1]} if name == "BASIC_AUTH_HTPASSWD" else {value}
            if name == "login_password":
                needles.add(base64.b64encode(f"leaker:{value}".encode()).decode())
            found += [f"{name} in {place}" for place, text in places.items() if any(n in text for n in needles)]
        return found


def _get(url: str, login: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if login:
        request.add_header("Authorization", "Basic " + base64.b64encode(login.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    world = Run(tmp_path_factory.mktemp("secret-leaks"))
    world.write_env_file()
    yield world
    world.make("stop", "local-stop", timeout=120)


def test_make_local_creates_the_secrets_and_the_task_reads_them(run):
    result = run.make("first make local", "local")
    assert result.returncode == 0, "make local failed:\n" + result.stdout[-3000:] + result.stderr[-3000:]
    environment = run.echo_environment()
    assert environment.get("API_TOKEN") == run.values["API_TOKEN"], "echo lacks API_TOKEN's value"
    assert environment.get("DB_PASSWORD") == run.values["DB_PASSWORD"], "echo lacks DB_PASSWORD's JSON key"
    assert "BASIC_AUTH_HTPASSWD" not in environment  # nginx's, not the application's
    # Created in the local AWS, where the task read them: as ECS would, by the template's names.
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    ssm = session.client("ssm", endpoint_url=f"http://localhost:{run.aws_port}")
    parameter = ssm.get_parameter(Name="/echo/leak-token", WithDecryption=True)["Parameter"]
    assert parameter["Type"] == "SecureString"
    assert parameter["Value"] == run.values["API_TOKEN"], "the parameter does not hold the env file's value"


def test_nginx_asks_for_the_login_and_keeps_health_paths_open(run):
    url = f"http://127.0.0.1:{run.port}"
    assert _get(f"{url}/")[0] == 401
    assert _get(f"{url}/", "leaker:wrong")[0] == 401
    assert _get(f"{url}/", f"leaker:{run.values['login_password']}") == (200, "Hello Docker!!")
    assert _get(f"{url}/healthz") == (200, "ok")
    htpasswd = run.run_dir / "nginx" / "auth" / "htpasswd"
    assert stat.S_IMODE(htpasswd.stat().st_mode) == 0o600
    # make local's own verify knew the door must be shut.
    assert "ok http: GET " in run.outputs["first make local"] and " 401 Basic " in run.outputs["first make local"]


def test_a_changed_value_reaches_the_task_with_the_next_make_local(run):
    before = listening_pids(run.echo_port)
    run.values["API_TOKEN"] = _canary("token-changed")
    run.write_env_file()
    result = run.make("second make local", "local")
    assert result.returncode == 0, "make local failed:\n" + result.stdout[-3000:] + result.stderr[-3000:]
    assert listening_pids(run.echo_port) != before  # a new task
    assert run.echo_environment().get("API_TOKEN") == run.values["API_TOKEN"], "the task kept the old value"
    assert "updated" in run.outputs["second make local"]


def test_no_value_appears_anywhere_it_must_not(run):
    # The other views a user has: the service's status and its logs (shipped to the local AWS's CloudWatch).
    for _ in range(3):
        _get(f"http://127.0.0.1:{run.port}/leak-test", f"leaker:{run.values['login_password']}")
    run.wait_until_shipped("/leak-test")  # the runner ships every second: make local-logs must find them
    assert run.make("make local-status", "local-status").returncode in (0, 1)
    logs = run.make("make local-logs", "local-logs", "SINCE=10m")
    assert logs.returncode == 0, run.outputs["make local-logs"][-2000:]
    assert "/leak-test" in run.outputs["make local-logs"]  # the lines are there, so the search is not empty
    assert (run.cdk_out / "echo-fargate-dev.template.json").exists()
    assert run.leaks() == []
    # The search itself finds a value where one is put: it is not a check that cannot fail.
    probe = run.run_dir / "probe.log"
    probe.write_text(f"token={run.values['API_TOKEN']}\n")
    try:
        assert run.leaks() == ["API_TOKEN in run/probe.log"]
    finally:
        probe.unlink()
