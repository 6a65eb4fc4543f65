"""Starts and stops what `make local` runs in the background, each recorded under .run/.

    python -m local.cloud start-aws --port 4566     # the local AWS (local.aws), reused if up
    python -m local.cloud start-task --template T --port 8000 --echo-port 8080   # the task (local.task)
    python -m local.cloud stop                      # stops exactly what the two above started

A record (.run/NAME.pid, JSON) holds the pid, the process's start time as the kernel counts it
(/proc/PID/stat), this checkout's path and the port: a pid alone can name somebody else's process after
the original exited (another checkout's local AWS, for one), and is then neither reused nor stopped.
Each start checks its ports first and accepts only an answer from the process it started. The previous
log is kept as NAME.log.1. LOCAL_RUN_DIR moves .run/ elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from local.task import (
    TaskError,
    answers_healthz,
    check_ports,
    container_environments,
    describe_exit,
    owns_port,
    port_user,
)

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = Path(os.environ.get("LOCAL_RUN_DIR") or ROOT / ".run")
SERVICES = ("local-task", "local-aws")  # stop order: the task first, the AWS last
# What each recorded pid must be running, besides having the recorded start time.
MODULES = {"local-aws": "local.aws", "local-task": "local.task"}
WHAT = {"local-aws": "the local AWS", "local-task": "the task runner"}
STATE_LOST = "it keeps its state in memory, so its stacks are gone"


class LocalError(Exception):
    """A fault the user can act on: one line, no traceback."""


@dataclass(frozen=True)
class Record:
    pid: int
    start_ticks: int | None  # /proc/PID/stat field 22; None where there is no /proc
    checkout: str
    port: int
    started: float  # wall clock, for the messages

    @property
    def since(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))

    def describe(self, name: str) -> str:
        return f"{WHAT[name]} (pid {self.pid}, started {self.since})"


def _pid_file(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def _log_file(name: str) -> Path:
    return RUN_DIR / f"{name}.log"


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name in (...) may contain blanks


def ensure_run_dir() -> None:
    """.run/ must be a writable directory: say so in one line instead of a traceback later."""
    probe = RUN_DIR / ".write-test"
    try:
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise LocalError(f"cannot write to {RUN_DIR} ({error.strerror}): make local keeps its pid records and "
                         "logs there; make it a writable directory (or remove it), or set LOCAL_RUN_DIR") from None


def read_record(name: str) -> Record | None:
    """The record as written, whether or not its process still runs; None without a usable record."""
    try:
        text = _pid_file(name).read_text()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise LocalError(f"cannot read {_pid_file(name)} ({error.strerror})") from None
    try:
        data = json.loads(text)
        return Record(pid=int(data["pid"]), start_ticks=data.get("start_ticks"), checkout=str(data["checkout"]),
                      port=int(data["port"]), started=float(data["started"]))
    except (ValueError, KeyError, TypeError):
        return None  # a bare pid from an older version, or garbage: nothing that proves whose process it is


def is_ours(record: Record, name: str) -> bool:
    """Is the recorded process alive and the very one this checkout started?"""
    if record.checkout != str(ROOT):
        return False  # .run/ copied from another checkout: its processes are that checkout's
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not one we started
    if not Path("/proc/self").exists():
        return True  # no /proc (not Linux): the pid is all there is
    if record.start_ticks is None or _start_ticks(record.pid) != record.start_ticks:
        return False  # the pid was reused by a later process
    try:
        return MODULES[name].encode() in Path(f"/proc/{record.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False


def inspect(name: str) -> tuple[str, Record | None]:
    """('none', None), ('running', record) or ('gone', record): what the record says about `name`."""
    path = _pid_file(name)
    record = read_record(name)
    if record is None:
        if path.exists():
            _remove(path)
        return "none", None
    return ("running" if is_ours(record, name) else "gone"), record


def running_pid(name: str) -> int | None:
    """The recorded pid if that process is still this checkout's, else None (and the stale record goes)."""
    state, record = inspect(name)
    if state == "running":
        return record.pid
    if state == "gone":
        _remove(_pid_file(name))
    return None


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        raise LocalError(f"cannot remove {path} ({error.strerror}): make {path.parent} writable") from None


def log_tail(name: str, lines: int = 12) -> str:
    try:
        text = _log_file(name).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n".join(f"  | {line}" for line in text)


def _task_events(name: str) -> list[str]:
    """The runner's 'task stopped: ...' lines: which container exited, how, and when."""
    try:
        return [line for line in _log_file(name).read_text(errors="replace").splitlines() if "task stopped:" in line]
    except OSError:
        return []


def _start(name: str, command: list[str], port: int) -> subprocess.Popen:
    log_path = _log_file(name)
    if log_path.exists():
        log_path.replace(log_path.with_name(log_path.name + ".1"))  # the last run's log, e.g. of a crash
    # Append mode: nginx writes the same file through /dev/stdout, which it reopens with O_APPEND at its own
    # offset; a file opened with "w" would let the two writers overwrite each other's lines.
    with log_path.open("a") as log:
        # Its own session: Ctrl-C in the terminal that ran `make local` does not reach it; `make local-stop` does.
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    record = Record(pid=process.pid, start_ticks=_start_ticks(process.pid), checkout=str(ROOT), port=port,
                    started=time.time())
    _pid_file(name).write_text(json.dumps(asdict(record)) + "\n")
    return process


def _fail_start(name: str, message: str) -> LocalError:
    stop(name, quiet=True)
    tail = log_tail(name)
    return LocalError(f"{message}; see {_log_file(name)}" + (f", which ends:\n{tail}" if tail else ""))


def _wait_until_ready(name: str, process: subprocess.Popen, ready, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise _fail_start(name, f"{WHAT[name]} exited at start ({describe_exit(process.returncode)})")
        if ready():
            return
        time.sleep(0.2)
    raise _fail_start(name, f"{WHAT[name]} did not answer {what} within {timeout:.0f} s")


def aws_answers(port: int, pid: int) -> bool:
    """Does moto's API answer on `port`, from process `pid` (not some other server on that port)?"""
    try:
        with urllib.request.urlopen(f"http://localhost:{port}/moto-api/", timeout=2) as response:
            if response.status != 200:
                return False
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False
    return owns_port(port, pid)


def start_aws(port: int) -> None:
    ensure_run_dir()
    state, record = inspect("local-aws")
    if state == "running":
        if record.port != port:
            raise LocalError(f"{record.describe('local-aws')} listens on port {record.port}, not {port}: use "
                             f"LOCAL_AWS_PORT={record.port}, or make local-stop first")
        if not aws_answers(port, record.pid):
            raise LocalError(f"{record.describe('local-aws')} runs but does not answer on http://localhost:{port}; "
                             "make local-stop, then make local")
        print(f"local AWS already running (pid {record.pid}, since {record.since}) at http://localhost:{port}")
        return
    if state == "gone":
        print(f"{record.describe('local-aws')} is not running any more: {STATE_LOST}; starting a new, empty one "
              f"(its log is kept as {_log_file('local-aws')}.1)")
        _remove(_pid_file("local-aws"))
    if user := port_user(port):
        raise LocalError(f"port {port} (LOCAL_AWS_PORT) is {user}: stop that program or choose another port, "
                         f"e.g. make local LOCAL_AWS_PORT={port + 1}")
    process = _start("local-aws", [sys.executable, "-m", "local.aws", "--port", str(port)], port)
    _wait_until_ready("local-aws", process, lambda: aws_answers(port, process.pid), f"http://localhost:{port}")
    print(f"local AWS (moto) started, pid {process.pid}, at http://localhost:{port}")


def start_task(template: Path, port: int, echo_port: int | None = None, env_file: Path | None = None) -> None:
    ensure_run_dir()
    try:
        environments = container_environments(template)
    except (OSError, ValueError, KeyError, TaskError) as error:
        raise LocalError(f"cannot read the task definition from {template}: {error}") from None
    # settings may have changed: the task restarts with the new environment
    if (state := inspect("local-task"))[0] == "gone":
        _report_gone("local-task", state[1])
        _remove(_pid_file("local-task"))
    else:
        stop("local-task")
    echo_port = echo_port or int(environments["echo"].get("PORT", "8080"))
    try:
        check_ports({"LOCAL_PORT": port, "ECHO_PORT": echo_port})
    except TaskError as error:
        raise LocalError(str(error)) from None
    # With the local AWS's endpoint in the environment (make local runs this under $(LOCAL_AWS)), the task's
    # lines also go to the deployed stack's log groups, named as cdk.out names the template: STACK.template.json.
    shipping = (["--ship-logs-to-stack", template.name.removesuffix(".template.json")]
                if os.environ.get("AWS_ENDPOINT_URL") else [])
    process = _start("local-task", [sys.executable, "-m", "local.task", "--template", str(template),
                                    "--port", str(port), "--echo-port", str(echo_port),
                                    "--runtime-dir", str(RUN_DIR / "nginx"), *shipping,
                                    *(["--env-file", str(env_file.resolve())] if env_file else [])], port)

    def ready() -> bool:
        # The task's own answer: /healthz says `ok` through nginx, and both ports belong to the runner's
        # processes, so another program on the port (even one answering 200) is never taken for the task.
        return (answers_healthz(f"http://127.0.0.1:{port}/healthz") and owns_port(port, process.pid)
                and owns_port(echo_port, process.pid))

    _wait_until_ready("local-task", process, ready, f"http://127.0.0.1:{port}/healthz")
    print(f"task processes started, pid {process.pid}: echo + nginx at http://127.0.0.1:{port}/ "
          f"(echo on 127.0.0.1:{echo_port})")


def _report_gone(name: str, record: Record) -> None:
    try:
        os.kill(record.pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    except PermissionError:
        alive = True
    if alive:  # the pid now names a process this checkout did not start: never signal it
        print(f"{name}: pid {record.pid} is no longer {WHAT[name]} this checkout started ({record.since}); "
              "left it alone and removed the stale record")
        return
    detail = STATE_LOST if name == "local-aws" else "the task was not running"
    if name == "local-task" and (events := _task_events(name)):
        detail += f"; its last event: {events[-1]}"
    print(f"{record.describe(name)} had already exited: {detail}")


def stop(name: str, *, quiet: bool = False) -> bool:
    state, record = inspect(name)
    if state == "none":
        return False
    if state == "gone":
        if not quiet:
            _report_gone(name, record)
        _remove(_pid_file(name))
        return True
    pid = record.pid
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
        # It started its own session, so its process group is its own: echo and nginx go with it.
        os.killpg(pid, signal.SIGKILL)
    _remove(_pid_file(name))
    if not quiet:
        print(f"stopped {name} (pid {pid})")
        if name == "local-task" and (events := _task_events(name)):
            print(f"  while it ran, its task stopped {len(events)} time(s) and was replaced; last: {events[-1]}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    aws = commands.add_parser("start-aws")
    aws.add_argument("--port", type=int, default=4566)
    task = commands.add_parser("start-task")
    task.add_argument("--template", type=Path, required=True)
    task.add_argument("--port", type=int, default=8000)
    task.add_argument("--echo-port", type=int, help="echo's port (ECHO_PORT; default: the task definition's)")
    task.add_argument("--env-file", type=Path, help="the secrets' env file the task runner reads without a local "
                                                     "AWS (default: the runner's, .env.local)")
    commands.add_parser("stop")
    args = parser.parse_args(argv)

    name = {"start-aws": "local-aws", "start-task": "local-task"}.get(args.command)
    try:
        if args.command == "start-aws":
            start_aws(args.port)
        elif args.command == "start-task":
            start_task(args.template, args.port, args.echo_port, args.env_file)
        elif not [service for service in SERVICES if stop(service)]:
            print("nothing from make local is running")
    except LocalError as error:
        print(f"make local: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C while waiting for a start: what was being started is stopped, nothing half-started is kept.
        if name:
            stop(name, quiet=True)
            print(f"\nmake local: interrupted while starting {WHAT[name]}: stopped it; run make local again",
                  file=sys.stderr)
        else:
            print("\nmake local-stop: interrupted; run make local-stop again to stop the rest", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
