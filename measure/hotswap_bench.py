"""Times a change of the echo container's environment against the local AWS, deployed both ways in one run:
`make local` (the CLI's CloudFormation change set) and `make local-deploy-fast` (`cdk deploy --hotswap-fallback`).

    make bench-hotswap                              # 3 changes each, alternating
    .venv/bin/python -m measure.hotswap_bench --runs 5

Each run sets echo_environment=BENCH_CHANGE=<a new value>, so every deploy has a task definition change to make,
and the task restarts with it (the bench checks the new value in echo's environment). Both targets run on free
ports with their own run directory and cdk.out, after one `make local` that starts the local AWS and deploys.
Printed: each target end to end (median), and its deploy step alone (local.up's timing line: `deploy` against
`hotswap`). The local AWS answers CloudFormation in milliseconds and runs no ECS rollout, so what the hotswap saves
here is the CLI's change-set round trips; on AWS it also skips CloudFormation's own update and its wait for the
service (docs/operating.md, "The inner loop").
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local.task import free_port, listening_pids

ROOT = Path(__file__).resolve().parents[1]
STEPS = re.compile(r"^make local(?:-deploy-fast)?: ready in [0-9.]+ s \((.*)\)$", re.MULTILINE)


class Bench:
    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.echo_port = free_port()
        self.variables = [f"LOCAL_AWS_PORT={free_port()}", f"LOCAL_PORT={free_port()}",
                          f"ECHO_PORT={self.echo_port}", f"LOCAL_CDK_OUT={scratch / 'cdk.out'}"]
        self.env = {**os.environ, "LOCAL_RUN_DIR": str(scratch / "run")}

    def make(self, target: str, value: str | None = None) -> tuple[float, dict[str, float]]:
        """Seconds until make returned, and local.up's seconds per step."""
        cdk_args = [f"CDK_ARGS=-c echo_environment=BENCH_CHANGE={value}"] if value else []
        started = time.perf_counter()
        result = subprocess.run(["make", "--no-print-directory", target, *self.variables, *cdk_args], cwd=ROOT,
                                env=self.env, capture_output=True, text=True, timeout=600)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(f"make {target} failed:\n{(result.stdout + result.stderr)[-4000:]}")
        if value is not None and self.echo_value() != value:
            sys.exit(f"make {target} returned, but echo does not run with BENCH_CHANGE={value}")
        steps = STEPS.search(result.stdout)
        if not steps:
            sys.exit(f"make {target} printed no timing line:\n{result.stdout[-2000:]}")
        # "settings 0.5 s, local AWS + policy synth 3.7 s, ..." -> {"settings": 0.5, ...}
        return elapsed, {part.rsplit(" ", 2)[0]: float(part.rsplit(" ", 2)[1]) for part in steps.group(1).split(", ")}

    def echo_value(self) -> str | None:
        (pid,) = listening_pids(self.echo_port)
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        return next((item.split(b"=", 1)[1].decode() for item in environ if item.startswith(b"BENCH_CHANGE=")),
                    None)

    def stop(self) -> None:
        subprocess.run(["make", "--no-print-directory", "local-stop", *self.variables], cwd=ROOT, env=self.env,
                       capture_output=True, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="hotswap-bench-"))
    bench = Bench(scratch)
    full, fast = [], []
    try:
        bench.make("local")  # the local AWS, bootstrapped, the stacks deployed, the task running
        for run in range(args.runs):
            full.append(bench.make("local", f"full-{run}"))
            fast.append(bench.make("local-deploy-fast", f"fast-{run}"))
    finally:
        bench.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"a change of echo's environment against the local AWS, {args.runs} runs each, alternating, "
          f"{os.cpu_count()} cores")
    for name, runs, step in (("make local (CloudFormation change set)", full, "deploy"),
                             ("make local-deploy-fast (hotswap)", fast, "hotswap")):
        print(f"  {name}: median {statistics.median(r[0] for r in runs):.1f} s end to end "
              f"[{' '.join(f'{r[0]:.1f}' for r in runs)}], its {step} step "
              f"{statistics.median(r[1].get(step, float('nan')) for r in runs):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
