"""Runs the echo task on this machine without Docker, the way Fargate runs it.

echo (services/echo) and nginx (Debian's binary, started by services/nginx-proxy/render-config.sh from the
same templates as the image) share localhost, and each gets the environment its container has in the
synthesized task definition, read from cdk.out. Only where nginx listens differs: 127.0.0.1 (this
machine only, not the network) on LOCAL_PORT (default 8000) instead of 0.0.0.0:80, which needs no root;
and echo's port moves with --echo-port (ECHO_PORT).

Secrets (a container's `Secrets` in the task definition) are read at each task start, replacement tasks
included, as the ECS agent reads them: with AWS_ENDPOINT_URL (make local) from the local AWS, where
`python -m local.secrets sync` wrote .env.local's values; without it (make run) from .env.local (--env-file),
and no AWS is called. No value is ever printed: messages name variables and their sources only.

Both containers are essential, as in the task definition: when either exits, the task stops (the other is
stopped too) and, as the ECS service would, the runner starts a replacement task, after a delay that
doubles with each replacement in a row (1 s up to 30 s).

    make run                                   # synthesizes, then runs until Ctrl-C
    .venv/bin/python -m local.task --template cdk.out/echo-fargate-dev.template.json --port 8000
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from local.log_shipper import LogShipping, ShippingError, TaskLogs, pump
from local.secrets import DEFAULT_ENV_FILE, SecretsError, container_definitions, resolve_task_secrets

ROOT = Path(__file__).resolve().parents[1]
ECHO_DIR = ROOT / "services" / "echo"
RENDER_SCRIPT = ROOT / "services" / "nginx-proxy" / "render-config.sh"
STOP_TIMEOUT = 30  # ECS's default stop timeout: SIGTERM, then SIGKILL after this many seconds
# Replacement tasks: the first after 1 s, each further one in a row twice as late, at most 30 s apart (the
# ECS service throttles a crash-looping task the same way); a task that ran 60 s resets the delay.
RESTART_DELAY, RESTART_DELAY_MAX, STABLE_AFTER = 1.0, 30.0, 60.0
LISTEN_ADDRESS = "127.0.0.1"  # a laptop's task is for this machine: nothing on the network reaches it


class TaskError(RuntimeError):
    """The task could not start; the message says why."""


def free_port() -> int:
    """A loopback port nothing listens on right now (for a second task beside a running one, and the tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def describe_exit(returncode: int) -> str:
    """'exit status 3' or 'signal SIGKILL', for a Popen returncode."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


def _proc_ok() -> bool:
    return Path("/proc/self/fd").exists()


def _listening_sockets(port: int) -> Iterator[tuple[str, str]]:
    """(hex local address, socket inode) of each socket listening on TCP `port` (Linux /proc/net/tcp, tcp6)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                yield address, fields[9]


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on TCP `port`, on any address."""
    return {inode for _, inode in _listening_sockets(port)}


def listening_addresses(port: int) -> set[str]:
    """The local addresses sockets listen on for TCP `port`, e.g. {'127.0.0.1'} (Linux)."""
    addresses = set()
    for address, _ in _listening_sockets(port):
        raw = bytes.fromhex(address)
        # /proc prints each 32-bit word in host (little-endian) order.
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
        family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
        addresses.add(socket.inet_ntop(family, raw))
    return addresses


def listening_pids(port: int, among: set[int] | None = None) -> set[int]:
    """Processes (of `among`, else all we may inspect) holding a socket that listens on TCP `port`."""
    inodes = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not inodes:
        return set()
    pids = among if among is not None else {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}
    owners = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue  # gone, or another user's
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    owners.add(pid)
                    break
            except OSError:
                continue
    return owners


def process_tree(pid: int) -> set[int]:
    """`pid` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = set(), [pid]
    while todo:
        current = todo.pop()
        tree.add(current)
        todo.extend(children.get(current, []))
    return tree


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def port_user(port: int) -> str | None:
    """Why `port` cannot be used (e.g. 'in use by pid 42 (nginx)'), or None when it is free."""
    try:
        with socket.socket() as sock:
            # SO_REUSEADDR as nginx and uvicorn set it: a port that only has connections in TIME_WAIT is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            return f"not usable ({error.strerror})"
    else:
        # Free on 127.0.0.1; something on [::1] alone would still answer `localhost` for some clients.
        try:
            with socket.create_connection(("::1", port), timeout=0.5):
                pass
        except OSError:
            return None
    owners = listening_pids(port) if _proc_ok() else set()
    who = ", ".join(f"pid {pid} ({process_name(pid)})" for pid in sorted(owners))
    return f"in use by {who}" if who else "in use by another program"


def check_ports(ports: dict[str, int]) -> None:
    """Raise TaskError naming each port of `ports` (variable -> port) that another program holds."""
    problems = [f"port {port} ({name}) is {user}" for name, port in ports.items() if (user := port_user(port))]
    if problems:
        raise TaskError("; ".join(problems) + ": stop that program or choose another port, e.g. "
                        + " ".join(f"{name}={free_port()}" for name in ports))


def owns_port(port: int, pid: int) -> bool:
    """Does the process `pid` (or one of its descendants) listen on `port`? True where /proc is missing."""
    if not _proc_ok():
        return True
    tree = process_tree(pid)
    return bool(listening_pids(port, tree))


_prctl = []  # libc's prctl, looked up in the parent (see _die_with_parent)


def _die_with_parent() -> None:
    # Runs in the child before exec: if the runner is killed outright (SIGKILL), the kernel sends this
    # child SIGTERM, so no echo or nginx is left behind, unrecorded, on its port. prctl is looked up before
    # the fork: with log shipping the runner has threads, and a dlopen in the child could wait forever on
    # the loader's lock held by one of them at the fork.
    _prctl[0](1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def container_environments(template_path: Path) -> dict[str, dict[str, str]]:
    """Container name -> its environment variables, from the task definition in a synthesized template."""
    try:
        containers = container_definitions(template_path)
    except SecretsError as error:  # the template's own fault, not a secret's
        raise TaskError(str(error)) from None
    return {
        container["Name"]: {item["Name"]: item["Value"] for item in container.get("Environment", [])}
        for container in containers
    }


def task_environments(template_path: Path, env_file: Path = DEFAULT_ENV_FILE) -> dict[str, dict[str, str]]:
    """Each container's environment at a task start: its plain variables and its secrets, read now as the ECS
    agent reads them (from the local AWS with AWS_ENDPOINT_URL, else from `env_file`). A template without
    secrets reads nothing else and calls no AWS."""
    environments = container_environments(template_path)
    try:
        secrets = resolve_task_secrets(template_path, env_file)
    except SecretsError as error:  # names and sources only, never a value
        raise TaskError(f"secrets: {error}") from None
    for container, values in secrets.items():
        if both := sorted(set(values) & set(environments.get(container, {}))):
            raise TaskError(f"container {container}: {', '.join(both)} both in Environment and Secrets")
        environments.setdefault(container, {}).update(values)
    return environments


class LocalTask:
    """Starts echo, waits for it, then nginx, and stops both; usable as a context manager."""

    def __init__(self, environments: dict[str, dict[str, str]], *, listen_port: int, runtime_dir: Path,
                 echo_port: int | None = None, die_with_parent: bool = False,
                 log_shipping: LogShipping | None = None) -> None:
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
        self.started_at: float | None = None
        # Only the runner (main) asks for it: prctl is Linux's, and preexec_fn is unsafe in threaded callers.
        self.die_with_parent = die_with_parent and sys.platform.startswith("linux")
        self.log_shipping = log_shipping
        self.task_logs: TaskLogs | None = None
        self._pumps: list = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"

    def _popen(self, container: str, command: list[str], **popen) -> subprocess.Popen:
        if self.die_with_parent:
            if not _prctl:
                _prctl.append(ctypes.CDLL(None, use_errno=True).prctl)
            popen.setdefault("preexec_fn", _die_with_parent)
        if self.task_logs is None or "stdout" in popen or "stderr" in popen:
            return subprocess.Popen(command, **popen)
        # Shipping: the lines pass through this process, which still writes each to its own stdout or
        # stderr (.run/local-task.log) and hands it to the container's stream, as the awslogs driver reads
        # a container's two outputs into one stream.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)
        shipper = self.task_logs.shippers.get(container)
        ship = shipper.ship if shipper else None
        self._pumps += [pump(process.stdout, sys.stdout.fileno(), ship),
                        pump(process.stderr, sys.stderr.fileno(), ship)]
        return process

    def start_echo(self, **popen) -> subprocess.Popen:
        env = {**os.environ, **self.echo_env, "HOST": "127.0.0.1"}
        self.echo = self._popen("echo", [sys.executable, "-m", "echo_app"], cwd=ECHO_DIR, env=env, **popen)
        _wait_for(f"http://127.0.0.1:{self.echo_port}/healthz", self.echo, "echo", port=self.echo_port)
        return self.echo

    def start_nginx(self, **popen) -> subprocess.Popen:
        env = {**os.environ, **self.nginx_env, "LISTEN_PORT": str(self.listen_port),
               "LISTEN_ADDRESS": LISTEN_ADDRESS, "NGINX_RUNTIME_DIR": str(self.runtime_dir)}
        if os.geteuid() == 0:  # workers as the runner's user: `nobody` cannot enter a runtime dir under /root
            env["NGINX_USER"] = "root"
        self.nginx = self._popen("nginx", [str(RENDER_SCRIPT)], env=env, **popen)
        _wait_for(f"{self.url}/healthz", self.nginx, "nginx", port=self.listen_port)
        return self.nginx

    def start(self, **popen) -> LocalTask:
        # As in the task definition: nginx starts once echo is healthy. A task that fails to start leaves
        # nothing running: echo is stopped when nginx cannot start.
        if self.log_shipping is not None:
            self.task_logs = self.log_shipping.start_task()  # a new task id, so new streams, as on ECS
        try:
            self.start_echo(**popen)
            self.start_nginx(**popen)
        except BaseException:
            self.stop()
            raise
        self.started_at = time.monotonic()
        return self

    def exited(self) -> tuple[str, int] | None:
        """(container, returncode) of the first essential container found exited, else None."""
        for name, process in (("echo", self.echo), ("nginx", self.nginx)):
            if process is not None and process.poll() is not None:
                return name, process.returncode
        return None

    def stop(self) -> None:
        for process, signum in ((self.nginx, _graceful_nginx_signal(self.nginx)), (self.echo, signal.SIGTERM)):
            _stop(process, signum)
        # The processes are gone, so their pipes end: the pumps finish, then the last batches are sent.
        for thread in self._pumps:
            thread.join(timeout=5)
        self._pumps = []
        if self.task_logs is not None:
            self.task_logs.close()
            self.task_logs = None

    def __enter__(self) -> LocalTask:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def answers_healthz(url: str) -> bool:
    """Does `url` (a /healthz) answer 200 `ok`, as echo does, directly or through nginx?"""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200 and response.read(16) == b"ok"
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _wait_for(url: str, process: subprocess.Popen, name: str, *, port: int, timeout: float = 15.0) -> None:
    """Until `url` answers `ok` and the answer comes from `process`: something else on the port, such
    as another program's server answering 404 or even `ok`, is not this task."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TaskError(f"{name} exited ({describe_exit(process.returncode)}) before answering {url}")
        if answers_healthz(url) and owns_port(port, process.pid):
            return
        time.sleep(0.1)
    _stop(process, signal.SIGTERM)
    raise TaskError(f"{name} did not answer {url} within {timeout:.0f} s")


def _graceful_nginx_signal(process: subprocess.Popen | None) -> int:
    """SIGQUIT (nginx's graceful stop) when render-config.sh has exec'd nginx; SIGTERM when the script
    stays and supervises nginx, turning SIGTERM into nginx's SIGQUIT itself (a shell could die of SIGQUIT
    and leave nginx behind)."""
    if process is None or not _proc_ok() or process_name(process.pid) == "nginx":
        return signal.SIGQUIT
    return signal.SIGTERM


def _stop(process: subprocess.Popen | None, signum: int) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signum)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        # The whole tree, as ECS's SIGKILL ends the container: nginx's entrypoint supervises nginx as a child,
        # and killing the entrypoint alone would leave nginx running.
        for pid in process_tree(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()


def _log(message: str, stream=None) -> None:
    # Timestamped: in .run/local-task.log these lines say when the task stopped and was replaced.
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", file=stream or sys.stdout, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the echo task locally, without Docker.")
    parser.add_argument("--template", type=Path, required=True, help="synthesized stack template (cdk.out)")
    parser.add_argument("--port", type=int, default=8000, help="where nginx listens (LOCAL_PORT)")
    parser.add_argument("--echo-port", type=int, help="move echo off 8080 if that port is busy (ECHO_PORT)")
    parser.add_argument("--runtime-dir", type=Path, default=ROOT / ".run" / "nginx")
    parser.add_argument("--ship-logs-to-stack", metavar="STACK",
                        help="also send the containers' lines to this deployed stack's log groups, at the AWS "
                             "that AWS_ENDPOINT_URL names (make local's; make run has none and ships nothing)")
    parser.add_argument("--env-file", type=Path, default=DEFAULT_ENV_FILE,
                        help="the secrets' values for make run (no AWS_ENDPOINT_URL); with AWS_ENDPOINT_URL they "
                             "come from the local AWS, where `python -m local.secrets sync` put them")
    args = parser.parse_args(argv)

    # Before anything starts: a stop request that arrives while the task is starting must still stop it.
    stopping = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.append(True))
    shipping = None
    if args.ship_logs_to_stack:
        if not os.environ.get("AWS_ENDPOINT_URL"):
            # Only a local AWS: this runner must never write a laptop's lines into a real account.
            print("make run: --ship-logs-to-stack needs AWS_ENDPOINT_URL (the local AWS)", file=sys.stderr)
            return 1
        try:
            shipping = LogShipping.for_stack(args.template, args.ship_logs_to_stack)
        except ShippingError as error:  # the task runs anyway: its lines stay in this runner's log
            _log(f"log shipping off: {error}", sys.stderr)
    try:
        # Secrets are read at each task start, as ECS reads them: a changed value reaches the next task.
        task = LocalTask(task_environments(args.template, args.env_file), listen_port=args.port,
                         runtime_dir=args.runtime_dir, echo_port=args.echo_port, die_with_parent=True,
                         log_shipping=shipping)
        check_ports({"LOCAL_PORT": task.listen_port, "ECHO_PORT": task.echo_port})
        task.start()
    except (TaskError, OSError, KeyError, ValueError) as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
    print(f"echo task running: {task.url}/ (echo on 127.0.0.1:{task.echo_port}); Ctrl-C stops both", flush=True)
    delay = RESTART_DELAY
    try:
        while not stopping:
            if (exited := task.exited()) is None:
                time.sleep(0.1)
                continue
            # An essential container exited: ECS stops the task (the other container too), and the
            # service starts a replacement; so does this runner, ever later while they keep failing.
            name, returncode = exited
            task.stop()
            if task.started_at is not None and time.monotonic() - task.started_at >= STABLE_AFTER:
                delay = RESTART_DELAY
            _log(f"task stopped: {name} exited ({describe_exit(returncode)}); "
                 f"starting a replacement task in {delay:.0f} s")
            while not stopping:
                _sleep_unless(stopping, delay)
                delay = min(delay * 2, RESTART_DELAY_MAX)
                if stopping:
                    break
                try:
                    task = LocalTask(task_environments(args.template, args.env_file), listen_port=args.port,
                                     runtime_dir=args.runtime_dir, echo_port=args.echo_port, die_with_parent=True,
                                     log_shipping=shipping)
                    task.start()
                except Exception as error:  # keeping the task running is this loop's one job
                    task.stop()
                    _log(f"replacement task failed to start: {error}; next try in {delay:.0f} s")
                    continue
                _log(f"replacement task running: {task.url}/")
                break
    finally:
        task.stop()
    return 0


def _sleep_unless(stopping: list, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not stopping and time.monotonic() < deadline:
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
