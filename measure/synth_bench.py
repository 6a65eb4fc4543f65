"""Times `cdk synth` of this app against a CDK app with one empty stack, on the same machine, side by side.

Both go through the same pinned CLI and the same Python, alternating run by run so that whatever else the
machine does falls on both. Prints each median and the ratio; the goal is 1.2x or less.

    make bench-synth                 # 5 runs each
    .venv/bin/python measure/synth_bench.py --runs 9
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
GOAL = 1.2  # issue 14
EMPTY_APP = """\
import aws_cdk as cdk

app = cdk.App()
cdk.Stack(app, "Empty")
app.synth()
"""


@dataclass(frozen=True)
class Run:
    wall: float  # until the CLI returned: what the user waits for
    cpu: float  # user + system time of every process the synth started, the ones still ending after it included


def _become_subreaper() -> None:
    """Processes orphaned under us (jsii's Node, which the app leaves ending) are re-parented to this process,
    so that they are waited for and their CPU time counted (Linux's PR_SET_CHILD_SUBREAPER)."""
    if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:
        sys.exit("cannot count orphaned processes' CPU time here (prctl PR_SET_CHILD_SUBREAPER failed)")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_synth(app_dir: Path, outdir: Path, *context: str) -> Run:
    # The CLI and the app's jsii run on the Node package.json pins, which npm ci puts beside the CLI.
    env = {**os.environ, "PATH": os.pathsep.join([str(CDK.parent), os.environ.get("PATH", "")])}
    command = [str(CDK), "synth", "-q", "--no-notices", "--output", str(outdir), *context]
    cpu_before = _children_cpu()
    with tempfile.TemporaryFile("w+") as errors:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=app_dir, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        returncode = process.wait(timeout=600)
        wall = time.perf_counter() - start
        # Every descendant, the orphans included, has ended before the next run starts: none runs into it.
        while True:
            try:
                os.wait()
            except ChildProcessError:
                break
        if returncode != 0:
            errors.seek(0)
            sys.exit(f"cdk synth failed in {app_dir}:\n{errors.read()}")
    return Run(wall=wall, cpu=_children_cpu() - cpu_before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--env", default="dev")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        empty = Path(scratch) / "empty-app"
        empty.mkdir()
        (empty / "app.py").write_text(EMPTY_APP)
        (empty / "cdk.json").write_text(json.dumps({"app": f"{sys.executable} app.py"}))

        _become_subreaper()
        _timed_synth(empty, Path(scratch) / "warm-empty")  # first runs pay for cold file caches
        _timed_synth(ROOT, Path(scratch) / "warm-app", "-c", f"env={args.env}")
        ours, baseline = [], []
        for run in range(args.runs):
            baseline.append(_timed_synth(empty, Path(scratch) / f"empty-{run}"))
            ours.append(_timed_synth(ROOT, Path(scratch) / f"app-{run}", "-c", f"env={args.env}"))

    print(f"cdk synth, {args.runs} runs each, alternating, {os.cpu_count()} cores")
    wall = _line("wall time until the CLI returns", baseline, ours, "wall")
    _line("CPU time of every process it started", baseline, ours, "cpu")
    print(f"  goal: {GOAL}x or less of the wall time: {'met' if wall <= GOAL else 'NOT met'}")


def _line(what: str, baseline: list[Run], ours: list[Run], field: str) -> float:
    empty = statistics.median(getattr(run, field) for run in baseline)
    app = statistics.median(getattr(run, field) for run in ours)
    print(f"  {what}: empty app (one empty stack) median {empty:.2f} s [{_fmt(baseline, field)}], "
          f"this app median {app:.2f} s [{_fmt(ours, field)}]: {app / empty:.2f}x")
    return app / empty


def _fmt(runs: list[Run], field: str) -> str:
    return " ".join(f"{getattr(run, field):.2f}" for run in runs)


if __name__ == "__main__":
    main()
