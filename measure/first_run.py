"""Times a new user's first run: `git clone`, then `make local` until the URL answers, with empty package
caches, and says where the time went.

    make bench-first-run                       # clones this checkout's HEAD into a temporary directory
    .venv/bin/python -m measure.first_run --keep

What is empty, as on a machine that has never installed this project: uv's, npm's and pip's caches (their
own directories under the scratch directory) and every Python bytecode cache (a new .venv and a new clone);
with --empty-jsii-cache also jsii's package cache (~/.cache/aws/jsii: aws-cdk-lib unpacked once per machine,
shared by every CDK app in Python). What is not: the Debian packages (make installs them once per machine;
apt's downloads are not what this measures), and the operating system's file cache. The clone's `make local` runs
on free ports with its own run directory, and is stopped (make local-stop) when measured.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local.task import free_port

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 30  # issue 14
TIMING_LINE = re.compile(r"^make local: ready in ([0-9.]+) s .*$", re.MULTILINE)


def _empty_caches(scratch: Path, empty_jsii_cache: bool) -> dict[str, str]:
    caches = scratch / "caches"
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(UV_CACHE_DIR=str(caches / "uv"), npm_config_cache=str(caches / "npm"), PIP_NO_CACHE_DIR="1",
               LOCAL_RUN_DIR=str(scratch / "run"))
    if empty_jsii_cache:
        env["JSII_RUNTIME_PACKAGE_CACHE_ROOT"] = str(caches / "jsii")
    return env


def _timed(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("w") as out:
        result = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=900)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"`{' '.join(command)}` failed ({result.returncode}); its output:\n{log.read_text()[-4000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (clone, logs, caches)")
    parser.add_argument("--empty-jsii-cache", action="store_true",
                        help="also start without jsii's package cache, as on a machine that never ran a CDK app")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="first-run-"))
    env = _empty_caches(scratch, args.empty_jsii_cache)
    clone = scratch / "echo-fargate"
    ports = [f"LOCAL_AWS_PORT={free_port()}", f"LOCAL_PORT={free_port()}", f"ECHO_PORT={free_port()}"]
    try:
        cloned = _timed(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], scratch, env,
                        scratch / "clone.log")
        local = _timed(["make", "--no-print-directory", "local", *ports], clone, env, scratch / "local.log")
        steps = TIMING_LINE.search((scratch / "local.log").read_text())
    finally:
        if clone.is_dir():
            subprocess.run(["make", "--no-print-directory", "local-stop", *ports], cwd=clone, env=env,
                           capture_output=True, timeout=120)
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    total = cloned + local
    ready = float(steps.group(1)) if steps else 0.0
    print(f"first run, {os.cpu_count()} cores, empty uv/npm/pip caches"
          f"{', empty jsii package cache' if args.empty_jsii_cache else ''}, Debian packages installed")
    print(f"  git clone {cloned:.1f} s, make local {local:.1f} s: the .venv from requirements.lock "
          f"{local - ready:.1f} s, then")
    print(f"  {steps.group(0) if steps else 'make local printed no timing line'}")
    print(f"  total {total:.1f} s: clone to the URL answering (goal {GOAL_SECONDS} s: "
          f"{'met' if total <= GOAL_SECONDS else 'NOT met'})")
    if args.keep:
        print(f"  kept: {scratch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
