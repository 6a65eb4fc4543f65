"""Times `cdk synth` of this app against a CDK app with one empty stack, on the same machine, side by side.

Both go through the same pinned CLI and the same Python, alternating run by run so that whatever else the
machine does falls on both. Prints each median and the ratio; the goal is 1.6x or less.

    make bench-synth                 # 5 runs each
    .venv/bin/python measure/synth_bench.py --runs 9
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
GOAL = 1.6
EMPTY_APP = """\
import aws_cdk as cdk

app = cdk.App()
cdk.Stack(app, "Empty")
app.synth()
"""


def _timed_synth(app_dir: Path, outdir: Path, *context: str) -> float:
    # The CLI and the app's jsii run on the Node package.json pins, which npm ci puts beside the CLI.
    env = {**os.environ, "PATH": os.pathsep.join([str(CDK.parent), os.environ.get("PATH", "")])}
    command = [str(CDK), "synth", "-q", "--no-notices", "--output", str(outdir), *context]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=app_dir, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"cdk synth failed in {app_dir}:\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--env", default="dev")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        empty = Path(scratch) / "empty-app"
        empty.mkdir()
        (empty / "app.py").write_text(EMPTY_APP)
        (empty / "cdk.json").write_text(json.dumps({"app": f"{sys.executable} app.py"}))

        _timed_synth(empty, Path(scratch) / "warm-empty")  # first runs pay for cold file caches
        _timed_synth(ROOT, Path(scratch) / "warm-app", "-c", f"env={args.env}")
        ours, baseline = [], []
        for run in range(args.runs):
            baseline.append(_timed_synth(empty, Path(scratch) / f"empty-{run}"))
            ours.append(_timed_synth(ROOT, Path(scratch) / f"app-{run}", "-c", f"env={args.env}"))

    ours_median, baseline_median = statistics.median(ours), statistics.median(baseline)
    ratio = ours_median / baseline_median
    print(f"cdk synth, {args.runs} runs each, {os.cpu_count()} cores")
    print(f"  empty app (one empty stack): median {baseline_median:.2f} s  runs {_fmt(baseline)}")
    print(f"  this app (env={args.env}):        median {ours_median:.2f} s  runs {_fmt(ours)}")
    print(f"  ratio: {ratio:.2f}x (goal <= {GOAL}x) {'OK' if ratio <= GOAL else 'OVER GOAL'}")


def _fmt(times: list[float]) -> str:
    return " ".join(f"{t:.2f}" for t in times)


if __name__ == "__main__":
    main()
