"""`make bench`: requests per second and latency of the task's data path, with wrk, side by side in one run.

(a) echo direct, (b) through nginx (the path the load balancer takes), (c) nginx answering by itself
(/nginx-ping: the proxy's own ceiling). Prints (b)/(a); the goal is 0.8 or more, with zero errors.
Everything listens on 127.0.0.1 and each run is bounded by --duration.

    make bench                                  # 30 s per path, 64 connections
    .venv/bin/python -m tools.bench_data_path --duration 10 --connections 64
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tools.local_task import LocalTask, container_environments, free_port

GOAL = 0.8
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[1] / "cdk.out" / "echo-fargate-dev.template.json"


@dataclass(frozen=True)
class Result:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int



def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(name: str, url: str, *, duration: int, connections: int, threads: int) -> Result:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, flags=re.MULTILINE))
    socket_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = int(re.search(r"Non-2xx or 3xx responses: (\d+)", out).group(1)) if "Non-2xx" in out else 0
    return Result(
        name=name,
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        requests=int(re.search(r"(\d+) requests in", out).group(1)),
        errors=socket_errors + non_2xx,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the echo task's data path with wrk.")
    parser.add_argument("--duration", type=int, default=30, help="seconds per path")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1 leaves a core to the servers)")
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
            try:
                paths = [("(a) echo direct", f"http://127.0.0.1:{task.echo_port}/"),
                         ("(b) through nginx", f"{task.url}/"),
                         ("(c) nginx by itself", f"{task.url}/nginx-ping")]
                results = [run_wrk(name, url, duration=args.duration, connections=args.connections,
                                   threads=args.threads) for name, url in paths]
            finally:
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
