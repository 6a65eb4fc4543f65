"""Where a synth's time goes: this app (dev) against an empty CDK app, phase by phase, in one process each.

    make bench-synth-profile                      # 5 runs each, medians
    .venv/bin/python -m measure.synth_profile --runs 9

Python's side is timed around each phase: starting Python and importing aws_cdk (which starts jsii's Node
and loads aws-cdk-lib), importing the app's own modules (cdk-nag, pydantic, the aws-cdk-lib modules the
stacks use), the settings, building the constructs, `app.synth()`, and the exit (this app ends as app.py
does, without waiting for jsii's teardown; the empty app exits as a stock app does). Node's side of `app.synth()`
comes from V8's CPU profile of jsii's Node process (`--cpu-prof`), in one further run of each: the
validation plugins (CDK's CloudFormation template validation, whose rule engine starts on every synth, and
cdk-nag's four rule packs), and the rest. `make bench-synth` times the whole `cdk synth` through the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_BIN = ROOT / "node_modules" / ".bin"
# The phases, printed by the probe below as NAME=SECONDS lines; `exit` is measured from outside.
PROBE = r"""
import os, sys, time
started = time.perf_counter()
def mark(name):
    global started
    now = time.perf_counter(); print(f"{name}={now - started:.4f}", flush=True); started = now
import aws_cdk as cdk
mark("import aws_cdk")
if sys.argv[1] == "empty":
    mark("import app modules"); mark("settings")
    app = cdk.App(outdir=sys.argv[2]); cdk.Stack(app, "Empty")
else:
    sys.path.insert(0, os.getcwd())
    import json
    from settings import load_settings
    from stacks.app_stacks import add_stacks
    mark("import app modules")
    context = json.loads(open("cdk.json").read())["context"]
    app = cdk.App(context={**context, "env": "dev"}, outdir=sys.argv[2])
    settings = load_settings(app.node.get_all_context())
    mark("settings")
    add_stacks(app, settings, cdk.Environment(region="us-east-1"))
mark("build constructs")
app.synth()
mark("app.synth()")
if sys.argv[1] != "empty" and not os.environ.get("NODE_OPTIONS"):  # as app.py ends: no teardown waited for
    os._exit(0)  # (a profiled run exits normally: Node writes its profile as it exits)
"""
# What each part of Node's side of app.synth() is called in the CPU profile (inclusive time).
NODE_PARTS = {
    "all validation plugins": "validateTemplates",
    "CloudFormation validation's rule engine starting": "CloudFormationValidatePlugin",
    "cdk-nag's four packs": "validateScope",
}


def _environment() -> dict[str, str]:
    return {**os.environ, "PATH": os.pathsep.join([str(NODE_BIN), os.environ.get("PATH", "")])}


def _phases(which: str, scratch: Path, extra_env: dict[str, str] | None = None) -> dict[str, float]:
    import time

    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PROBE, which, str(scratch / "out")], cwd=ROOT,
                            env={**_environment(), **(extra_env or {})}, capture_output=True, text=True,
                            timeout=300)
    total = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"the {which} synth failed:\n{result.stderr[-3000:]}")
    phases = {name: float(value) for name, value in
              (line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)}
    phases["exit"] = total - sum(phases.values())  # after app.synth(): the teardown waited for
    phases["total"] = total
    return phases


def _node_parts(which: str, scratch: Path) -> dict[str, float]:
    """Inclusive seconds of NODE_PARTS in V8's CPU profile of jsii's Node process during one synth."""
    profiles = scratch / f"profile-{which}"
    _phases(which, scratch, {"NODE_OPTIONS": f"--cpu-prof --cpu-prof-dir={profiles}"})
    largest = max(profiles.glob("*.cpuprofile"), key=lambda path: path.stat().st_size)  # jsii's kernel
    profile = json.loads(largest.read_text())
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent = {child: node["id"] for node in profile["nodes"] for child in node.get("children", [])}
    spent = Counter()
    for sample, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        spent[sample] += delta
    parts = Counter()
    for node_id, microseconds in spent.items():
        names, current = set(), node_id
        while current is not None:  # every function on the sample's stack, once
            names.add(nodes[current]["callFrame"]["functionName"])
            current = parent.get(current)
        for part, function in NODE_PARTS.items():
            if function in names:
                parts[part] += microseconds / 1e6
    return dict(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        runs = {"empty": [], "app": []}
        _phases("app", scratch)  # bytecode and jsii's package cache, as after any first run
        for _ in range(args.runs):
            for which in runs:
                runs[which].append(_phases(which, scratch))
        node = {which: _node_parts(which, scratch) for which in runs}
    print(f"synth in one process, {args.runs} runs each, alternating, medians in seconds, {os.cpu_count()} cores")
    print(f"  {'phase':52} {'empty app':>9} {'this app':>9} {'difference':>10}")
    for phase in runs["app"][0]:
        empty = statistics.median(run[phase] for run in runs["empty"])
        ours = statistics.median(run[phase] for run in runs["app"])
        print(f"  {phase:52} {empty:9.2f} {ours:9.2f} {ours - empty:+10.2f}")
    print("  Node's side of app.synth(), one profiled run each:")
    for part in NODE_PARTS:
        empty, ours = node["empty"].get(part, 0.0), node["app"].get(part, 0.0)
        print(f"    {part:50} {empty:9.2f} {ours:9.2f} {ours - empty:+10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
