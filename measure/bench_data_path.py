"""`make bench`: requests per second and latency of the task's data path, with wrk, side by side in one run.

(a) echo direct, (b) through nginx (the path the load balancer takes), (c) nginx answering by itself
(/nginx-ping: the proxy's own ceiling). Prints (b)/(a); the goal is 0.8 or more, with zero errors.
Then (d): many concurrent keep-alive clients through nginx (--concurrency-connections, 2000 by default),
where the goal is zero errors: no connection refused, reset or timed out, no non-2xx answer.
Throughout, each container's processes are sampled for their resident memory: the peak is printed beside the
hard memory limit the task definition gives that container (stacks/echo_task.py sizes them from these figures).
Everything listens on 127.0.0.1 and each run is bounded by its duration.

    make bench                                  # 30 s per path at 64 connections, then 10 s at 2000
    .venv/bin/python -m measure.bench_data_path --duration 10 --connections 64 --concurrency-connections 0
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from local.task import LocalTask, container_environments, free_port
from measure.process_memory import PeakMemory, container_memory_limits

GOAL = 0.8
# wrk gives up on a response after this long and counts a timeout (an error). The concurrency run looks for
# dropped connections, and at 2000 connections the one echo process (uvicorn on uvloop) answers a few requests
# very late: measured on 2 shared cores, p99 6-8 s and a maximum near 10 s (with the asyncio loop instead:
# p99 1.1 s, 12 % fewer requests). Its latency is printed; a response only counts as lost after 30 s.
TIMEOUT = "5s"
CONCURRENCY_TIMEOUT = "30s"
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[1] / "cdk.out" / "echo-fargate-dev.template.json"


@dataclass(frozen=True)
class Result:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    # wrk's "Socket errors" by kind (connect, read, write, timeout) and its count of non-2xx/3xx answers
    socket_errors: dict[str, int]
    non_2xx: int

    def error_detail(self) -> str:
        kinds = ", ".join(f"{kind} {n}" for kind, n in self.socket_errors.items())
        return f"socket errors: {kinds}; non-2xx: {self.non_2xx}"


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _open_files_for(connections: int):
    """A preexec function raising wrk's soft limit on open files to its hard limit.

    wrk holds one socket per connection, and many systems start processes with a soft limit of 1024:
    without this, wrk -c2000 would fail its own connects, not the server's.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = connections + 64  # plus wrk's own files (epoll, stdio, the Lua state)
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise RuntimeError(f"wrk needs {needed} open files for {connections} connections; the hard limit is {hard}")
    target = needed if hard == resource.RLIM_INFINITY else hard

    def raise_limit() -> None:
        if soft == resource.RLIM_INFINITY or soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))

    return raise_limit


def run_wrk(name: str, url: str, *, duration: int, connections: int, threads: int, timeout: str = TIMEOUT) -> Result:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", timeout, url]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60,
                         preexec_fn=_open_files_for(connections)).stdout
    # wrk pads a value in seconds ("2.92s ") to line up with "ms": allow trailing blanks.
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, flags=re.MULTILINE))
    socket_errors = {kind: 0 for kind in ("connect", "read", "write", "timeout")}
    socket_errors.update((kind, int(n)) for kind, n in re.findall(r"(connect|read|write|timeout) (\d+)", out))
    non_2xx = int(re.search(r"Non-2xx or 3xx responses: (\d+)", out).group(1)) if "Non-2xx" in out else 0
    return Result(
        name=name,
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        requests=int(re.search(r"(\d+) requests in", out).group(1)),
        errors=sum(socket_errors.values()) + non_2xx,
        socket_errors=socket_errors,
        non_2xx=non_2xx,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the echo task's data path with wrk.")
    parser.add_argument("--duration", type=int, default=30, help="seconds per path")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1 leaves a core to the servers)")
    parser.add_argument("--concurrency-connections", type=int, default=2000,
                        help="connections of the concurrency run through nginx (0 skips it)")
    parser.add_argument("--concurrency-duration", type=int, default=10, help="seconds of the concurrency run")
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE,
                        help="synthesized stack whose task definition gives each process its environment")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print("make bench: wrk is missing (Debian: apt-get install wrk; `make bench` installs it)", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory() as scratch:
        task = LocalTask(container_environments(args.template), listen_port=free_port(),
                         runtime_dir=Path(scratch) / "nginx", echo_port=free_port())
        with open(os.devnull, "w") as quiet:
            task.start(stdout=quiet, stderr=quiet)
            memory = PeakMemory({"echo": task.echo.pid, "nginx": task.nginx.pid})
            try:
                paths = [("(a) echo direct", f"http://127.0.0.1:{task.echo_port}/"),
                         ("(b) through nginx", f"{task.url}/"),
                         ("(c) nginx by itself", f"{task.url}/nginx-ping")]
                results = [run_wrk(name, url, duration=args.duration, connections=args.connections,
                                   threads=args.threads) for name, url in paths]
                crowd = None
                if args.concurrency_connections:
                    crowd = run_wrk(f"(d) nginx, {args.concurrency_connections} conns", f"{task.url}/",
                                    duration=args.concurrency_duration, connections=args.concurrency_connections,
                                    threads=args.threads, timeout=CONCURRENCY_TIMEOUT)
            finally:
                memory.stop()
                task.stop()

    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, loopback; "
          f"{os.cpu_count()} cores, {platform.machine()}, {platform.python_version()}")
    print(f"{'path':<22}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'requests':>11}{'errors':>8}")
    for r in results:
        print(f"{r.name:<22}{r.requests_per_second:>10.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.requests:>11}"
              f"{r.errors:>8}")
    ratio = results[1].requests_per_second / results[0].requests_per_second
    errors = sum(r.errors for r in results)
    verdict = "OK" if ratio >= GOAL and errors == 0 else "BELOW GOAL"
    print(f"(b)/(a) = {ratio:.2f} (goal >= {GOAL}), errors {errors} (goal 0): {verdict}")
    if crowd is not None:
        print(f"wrk -t{args.threads} -c{args.concurrency_connections} -d{args.concurrency_duration}s "
              f"--timeout {CONCURRENCY_TIMEOUT}, through nginx:")
        print(f"{crowd.name:<22}{crowd.requests_per_second:>10.0f}{crowd.p50_ms:>9.2f}{crowd.p99_ms:>9.2f}"
              f"{crowd.requests:>11}{crowd.errors:>8}")
        print(f"(d) {crowd.error_detail()} (goal 0): {'OK' if crowd.errors == 0 else 'BELOW GOAL'}")
    limits = container_memory_limits(args.template)
    print("peak resident memory of each container's processes, against its hard limit in the task definition:")
    for container, peak in memory.peaks_mib().items():
        limit = limits.get(container)
        share = f"{limit} MiB limit, {peak / limit:.0%} used" if limit else "no limit set"
        print(f"  {container:<8}{peak:>7.1f} MiB  ({share})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
