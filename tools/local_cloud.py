"""Starts and stops what `make local` runs in the background, each recorded by pid under .run/.

    python -m tools.local_cloud start-aws --port 4566     # the local AWS (tools.local_aws), reused if up
    python -m tools.local_cloud start-task --template T --port 8000   # the task's processes (tools.local_task)
    python -m tools.local_cloud stop                      # stops exactly what the two above started
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = ROOT / ".run"
SERVICES = ("local-task", "local-aws")  # stop order: the task first, the AWS last
# What each recorded pid must be running: after a reboot a pid file can name somebody else's process.
MODULES = {"local-aws": "tools.local_aws", "local-task": "tools.local_task"}


def _pid_file(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def running_pid(name: str) -> int | None:
    """The recorded pid if that process is still alive, else None (and the stale record is removed)."""
    path = _pid_file(name)
    if not path.exists():
        return None
    try:
        pid = int(path.read_text())
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        path.unlink()
        return None
    if not _runs(pid, MODULES[name]):
        path.unlink()
        return None
    return pid


def _runs(pid: int, module: str) -> bool:
    """Is `pid` still the `python -m module` that was recorded? (Linux: /proc; elsewhere trust the pid.)"""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not Path("/proc/self").exists():
        return True
    try:
        return module.encode() in cmdline.read_bytes().split(b"\0")
    except OSError:
        return False


def _start(name: str, command: list[str]) -> subprocess.Popen:
    RUN_DIR.mkdir(exist_ok=True)
    log = (RUN_DIR / f"{name}.log").open("w")
    # Its own session: Ctrl-C in the terminal that ran `make local` does not reach it; `make local-stop` does.
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _pid_file(name).write_text(str(process.pid))
    return process


def _wait_until_answers(url: str, process: subprocess.Popen, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{name} exited with status {process.returncode}; see {RUN_DIR / (name + '.log')}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    stop(name)
    sys.exit(f"{name} did not answer {url} within {timeout:.0f} s; see {RUN_DIR / (name + '.log')}")


def start_aws(port: int) -> None:
    url = f"http://localhost:{port}/moto-api/"
    if pid := running_pid("local-aws"):
        print(f"local AWS already running (pid {pid}) at http://localhost:{port}")
        return
    process = _start("local-aws", [sys.executable, "-m", "tools.local_aws", "--port", str(port)])
    _wait_until_answers(url, process, "local-aws")
    print(f"local AWS (moto) started, pid {process.pid}, at http://localhost:{port}")


def start_task(template: Path, port: int, echo_port: int | None = None) -> None:
    stop("local-task")  # settings may have changed: the task restarts with the new environment
    moved = ["--echo-port", str(echo_port)] if echo_port else []
    process = _start("local-task", [sys.executable, "-m", "tools.local_task", "--template", str(template),
                                    "--port", str(port), "--runtime-dir", str(RUN_DIR / "nginx"), *moved])
    _wait_until_answers(f"http://127.0.0.1:{port}/healthz", process, "local-task")
    print(f"task processes started, pid {process.pid}: echo + nginx at http://127.0.0.1:{port}/")


def stop(name: str) -> bool:
    pid = running_pid(name)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)  # local_task stops echo and nginx itself
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        try:
            # Reap it when it is our own child (the same process started it), or it lingers as a zombie.
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    _pid_file(name).unlink(missing_ok=True)
    print(f"stopped {name} (pid {pid})")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    aws = commands.add_parser("start-aws")
    aws.add_argument("--port", type=int, default=4566)
    task = commands.add_parser("start-task")
    task.add_argument("--template", type=Path, required=True)
    task.add_argument("--port", type=int, default=8000)
    task.add_argument("--echo-port", type=int, help="move echo off 8080 if that port is busy")
    commands.add_parser("stop")
    args = parser.parse_args(argv)

    if args.command == "start-aws":
        start_aws(args.port)
    elif args.command == "start-task":
        start_task(args.template, args.port, args.echo_port)
    elif not [name for name in SERVICES if stop(name)]:
        print("nothing from make local is running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
