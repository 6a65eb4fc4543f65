"""Runs the echo task on this machine without Docker, the way Fargate runs it.

echo (services/echo) and nginx (Debian's binary, started by services/nginx-proxy/render-config.sh from the
same templates as the image) share localhost, and each gets the environment its container has in the
synthesized task definition, read from cdk.out. Only the listening port differs: nginx listens on
LOCAL_PORT (default 8000) instead of 80, which needs no root.

    make run                                   # synthesizes, then runs until Ctrl-C
    .venv/bin/python -m tools.local_task --template cdk.out/echo-fargate-dev.template.json --port 8000
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ECHO_DIR = ROOT / "services" / "echo"
RENDER_SCRIPT = ROOT / "services" / "nginx-proxy" / "render-config.sh"
STOP_TIMEOUT = 30  # ECS's default stop timeout: SIGTERM, then SIGKILL after this many seconds


class TaskError(RuntimeError):
    """The task could not start; the message says why."""


def free_port() -> int:
    """A loopback port nothing listens on right now (for a second task beside a running one, and the tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def container_environments(template_path: Path) -> dict[str, dict[str, str]]:
    """Container name -> its environment variables, from the task definition in a synthesized template."""
    resources = json.loads(template_path.read_text())["Resources"]
    tasks = [r for r in resources.values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    if len(tasks) != 1:
        raise TaskError(f"{template_path}: expected one task definition, found {len(tasks)}")
    return {
        container["Name"]: {item["Name"]: item["Value"] for item in container.get("Environment", [])}
        for container in tasks[0]["Properties"]["ContainerDefinitions"]
    }


class LocalTask:
    """Starts echo, waits for it, then nginx, and stops both; usable as a context manager."""

    def __init__(self, environments: dict[str, dict[str, str]], *, listen_port: int, runtime_dir: Path,
                 echo_port: int | None = None) -> None:
        self.echo_env = dict(environments["echo"])
        self.nginx_env = dict(environments["nginx"])
        if echo_port is not None:  # a busy 8080 on a laptop: move echo and tell nginx, nothing else changes
            self.echo_env["PORT"] = str(echo_port)
            host = self.nginx_env["BACKEND_HOST"].rsplit(":", 1)[0]
            self.nginx_env["BACKEND_HOST"] = f"{host}:{echo_port}"
        self.echo_port = int(self.echo_env.get("PORT", "8080"))
        self.listen_port = listen_port
        self.runtime_dir = runtime_dir
        self.echo: subprocess.Popen | None = None
        self.nginx: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"

    def start_echo(self, **popen) -> subprocess.Popen:
        env = {**os.environ, **self.echo_env, "HOST": "127.0.0.1"}
        self.echo = subprocess.Popen([sys.executable, "-m", "echo_app"], cwd=ECHO_DIR, env=env, **popen)
        _wait_for(f"http://127.0.0.1:{self.echo_port}/healthz", self.echo, "echo")
        return self.echo

    def start_nginx(self, **popen) -> subprocess.Popen:
        env = {**os.environ, **self.nginx_env, "LISTEN_PORT": str(self.listen_port),
               "NGINX_RUNTIME_DIR": str(self.runtime_dir)}
        self.nginx = subprocess.Popen([str(RENDER_SCRIPT)], env=env, **popen)
        _wait_for(f"{self.url}/healthz", self.nginx, "nginx")
        return self.nginx

    def start(self, **popen) -> LocalTask:
        # As in the task definition: nginx starts once echo is healthy.
        self.start_echo(**popen)
        self.start_nginx(**popen)
        return self

    def stop(self) -> None:
        for process, signum in ((self.nginx, signal.SIGQUIT), (self.echo, signal.SIGTERM)):
            _stop(process, signum)

    def __enter__(self) -> LocalTask:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _wait_for(url: str, process: subprocess.Popen, name: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TaskError(f"{name} exited with status {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    _stop(process, signal.SIGTERM)
    raise TaskError(f"{name} did not answer {url} within {timeout:.0f} s")


def _stop(process: subprocess.Popen | None, signum: int) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signum)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the echo task locally, without Docker.")
    parser.add_argument("--template", type=Path, required=True, help="synthesized stack template (cdk.out)")
    parser.add_argument("--port", type=int, default=8000, help="where nginx listens (LOCAL_PORT)")
    parser.add_argument("--echo-port", type=int, help="move echo off 8080 if that port is busy")
    parser.add_argument("--runtime-dir", type=Path, default=ROOT / ".run" / "nginx")
    args = parser.parse_args(argv)

    # Before anything starts: a stop request that arrives while the task is starting must still stop it.
    stopping = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.append(True))
    try:
        task = LocalTask(container_environments(args.template), listen_port=args.port,
                         runtime_dir=args.runtime_dir, echo_port=args.echo_port).start()
    except (TaskError, OSError) as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
    print(f"echo task running: {task.url}/ (echo on 127.0.0.1:{task.echo_port}); Ctrl-C stops both", flush=True)
    try:
        while not stopping and task.echo.poll() is None and task.nginx.poll() is None:
            time.sleep(0.2)
    finally:
        task.stop()
    if not stopping:
        print("make run: a container exited; stopped the other", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
