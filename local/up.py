"""`make local`: every step, in the order the steps depend on each other, the independent ones side by side.

    .venv/bin/python -m local.up --env dev --aws-port 4566 --port 8000 --echo-port 8080 \\
        --env-file .env.local --cdk-out cdk.out -- -c env=dev [more -c SETTING=VALUE]

1. the settings (local.cdk check, under a second: a typo must not wait for anything else)
2. the local AWS starts (local.cloud start-aws)   |  the bootstrap policy app is synthesized (it calls no AWS)
3. make bootstrap's policies and cdk bootstrap     |  the CDK CLI synthesizes the app into --cdk-out
   against the local AWS (python -m bootstrap)     |  (local.cdk synth; its lookups are in cdk.context.json)
4. the CLI deploys that assembly, every stack (local.cdk deploy --app --cdk-out)
5. the task's secrets into the local AWS (local.secrets sync)
6. the task's processes on this machine (local.cloud start-task)
7. the verifier (operate.verify --local-task-url)

With --hotswap (make local-deploy-fast, after make local): the inner loop of a change to the task, as make
deploy-fast runs it against AWS. The settings and whether hotswap is allowed (operate.deploy_fast --check), the
CLI's synth, `cdk deploy --hotswap-fallback` of that assembly's service stack, then steps 5 to 7: the local
AWS is already up and bootstrapped.

Each step is the same command it would be on its own. The output of steps that run side by side is shown whole
when both have ended, in the order above; the others print as they go. The last line says what each step took.
A step that fails ends make local with its exit status and a last line naming it, after its side-by-side
partner has been interrupted and has ended.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from local import cloud as local_cloud
from local.cdk import local_aws_environment

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


@dataclass(frozen=True)
class Step:
    name: str  # as the timing line names it
    command: list[str]
    env: Mapping[str, str] = field(default_factory=dict)  # on top of this process's environment


@dataclass(frozen=True)
class Options:
    env: str
    aws_port: int
    port: int
    echo_port: int
    env_file: Path
    cdk_out: Path
    cdk_args: list[str]

    @property
    def stack(self) -> str:
        return f"echo-fargate-{self.env}"

    @property
    def template(self) -> Path:
        return self.cdk_out / f"{self.stack}.template.json"


def plan(options: Options, run_dir: Path) -> list[list[Step]]:
    """The stages of make local; the steps of one stage run side by side."""
    aws = local_aws_environment(options.aws_port)
    local_cdk = [PYTHON, "-m", "local.cdk", "--aws-port", str(options.aws_port)]
    policies = run_dir / "bootstrap.out"
    cdk_args = [*options.cdk_args, "--no-notices"]
    return [
        [Step("settings", [*local_cdk, "check", *options.cdk_args])],
        [Step("local AWS", [PYTHON, "-m", "local.cloud", "start-aws", "--port", str(options.aws_port)]),
         # No environment named in it and no AWS to ask: this synth needs nothing from the local AWS.
         Step("policy synth", [PYTHON, "-m", "bootstrap.app", str(policies)])],
        # The same bootstrap as make bootstrap: the execution policies and the role boundary, then cdk bootstrap.
        [Step("bootstrap", [PYTHON, "-m", "bootstrap", "--assembly", str(policies)], aws),
         Step("synth", [*local_cdk, "synth", "-q", *cdk_args, "--output", str(options.cdk_out)])],
        # --import-existing-resources: the registry's repositories are retained and outlive make local-destroy;
        # deploying the registry again adopts them instead of failing on their names.
        [Step("deploy", [*local_cdk, "deploy", "--app", str(options.cdk_out), "--all", *cdk_args,
                         "--import-existing-resources", "--require-approval", "never",
                         "--outputs-file", str(run_dir / f"outputs-{options.env}.json")])],
        # The task's secrets, as the ECS agent reads them: missing ones are created in the local AWS from the
        # env file (git-ignored), changed ones updated; none of their values is printed.
        [Step("secrets", [PYTHON, "-m", "local.secrets", "sync", "--template", str(options.template),
                          "--env-file", str(options.env_file)], aws)],
        [Step("task", [PYTHON, "-m", "local.cloud", "start-task", "--template", str(options.template),
                       "--port", str(options.port), "--echo-port", str(options.echo_port),
                       "--env-file", str(options.env_file)], aws)],
        [Step("verify", [PYTHON, "-m", "operate.verify", "--stack", options.stack,
                         "--local-task-url", f"http://127.0.0.1:{options.port}"], aws)],
    ]


def plan_hotswap(options: Options, run_dir: Path) -> list[list[Step]]:
    """make local-deploy-fast: the local twin of make deploy-fast, on a local AWS make local started."""
    steps = {step.name: step for stage in plan(options, run_dir) for step in stage}
    deploy = steps["deploy"]
    app = deploy.command.index("--all")  # the service stack instead of every stack, hotswapped
    hotswap = Step("hotswap", [*deploy.command[:app], options.stack, "--exclusively", "--hotswap-fallback",
                               *deploy.command[app + 1:]], deploy.env)
    return [
        [Step("settings", [PYTHON, "-m", "operate.deploy_fast", "--check", "--env", options.env,
                           "--cdk-args", shlex.join(options.cdk_args)])],
        [steps["synth"]],
        [hotswap],
        # the secrets, the task (restarted with the new task definition), the verifier
        [steps["secrets"]], [steps["task"]], [steps["verify"]],
    ]


class StepFailed(Exception):
    def __init__(self, step: Step, returncode: int) -> None:
        # A step a signal ended (negative) exits as a shell reports it: 128 + the signal's number.
        self.returncode = returncode if returncode > 0 else 128 - returncode
        super().__init__(f"{step.name} failed (exit status {self.returncode})")


def _environment(step: Step) -> dict[str, str]:
    return {**os.environ, **step.env}


def _run_alone(step: Step) -> None:
    """Its output straight to the terminal, as the command would print it on its own."""
    process = subprocess.Popen(step.command, cwd=ROOT, env=_environment(step))
    try:
        returncode = process.wait()
    except KeyboardInterrupt:
        process.wait()  # the terminal's Ctrl-C reached it too: it says where it stopped
        raise
    if returncode != 0:
        raise StepFailed(step, returncode)


def _run_side_by_side(steps: Sequence[Step]) -> None:
    """All at once; each one's output kept and shown whole once all have ended, in the order given. When one
    fails, the others are interrupted (SIGINT, as Ctrl-C would) and waited for; after Ctrl-C, which the
    terminal sent to every one of them already, they are only waited for."""
    with tempfile.TemporaryDirectory(prefix="make-local-") as scratch:
        logs = [Path(scratch) / f"{index}.log" for index in range(len(steps))]
        processes: list[subprocess.Popen] = []
        try:
            for step, log in zip(steps, logs, strict=True):
                with log.open("w") as out:
                    processes.append(subprocess.Popen(step.command, cwd=ROOT, env=_environment(step),
                                                      stdout=out, stderr=subprocess.STDOUT))
            failed = _wait_for_all(processes)
            if failed is not None:
                for process in processes:
                    if process.poll() is None:
                        process.send_signal(signal.SIGINT)
        finally:
            for process in processes:
                _wait_or_kill(process)
            for log in logs:
                sys.stdout.write(log.read_text(errors="replace"))
            sys.stdout.flush()
        if failed is not None:
            raise StepFailed(steps[failed], processes[failed].returncode)


def _wait_or_kill(process: subprocess.Popen, grace: float = 30) -> None:
    """A step that does not end within `grace` seconds of being told to is killed: never a hang."""
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_for_all(processes: Sequence[subprocess.Popen]) -> int | None:
    """Until all have ended (None), or one has failed (its index)."""
    while True:
        for index, process in enumerate(processes):
            if process.poll() not in (None, 0):
                return index
        if all(process.poll() == 0 for process in processes):
            return None
        time.sleep(0.05)


def run(stages: Sequence[Sequence[Step]]) -> dict[str, float]:
    """Runs the stages; returns the seconds each step's stage took (side-by-side steps share their stage's)."""
    timings: dict[str, float] = {}
    for stage in stages:
        started = time.monotonic()
        if len(stage) == 1:
            _run_alone(stage[0])
        else:
            _run_side_by_side(stage)
        timings[" + ".join(step.name for step in stage)] = time.monotonic() - started
    return timings


def _timing_line(timings: Mapping[str, float], target: str = "make local") -> str:
    parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
    return f"{target}: ready in {sum(timings.values()):.1f} s ({parts})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.up", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev")
    parser.add_argument("--aws-port", type=int, default=4566)
    parser.add_argument("--port", type=int, default=8000, help="nginx (LOCAL_PORT)")
    parser.add_argument("--echo-port", type=int, default=8080, help="echo (ECHO_PORT)")
    parser.add_argument("--env-file", type=Path, default=ROOT / ".env.local")
    parser.add_argument("--cdk-out", type=Path, default=ROOT / "cdk.out")
    parser.add_argument("--hotswap", action="store_true", help="make local-deploy-fast: synth, then "
                        "cdk deploy --hotswap-fallback to the running local AWS, and restart the task")
    parser.add_argument("cdk_args", nargs=argparse.REMAINDER, help="-- then -c SETTING=VALUE ...")
    args = parser.parse_args(argv)
    cdk_args = args.cdk_args[1:] if args.cdk_args[:1] == ["--"] else args.cdk_args
    options = Options(env=args.env, aws_port=args.aws_port, port=args.port, echo_port=args.echo_port,
                      env_file=args.env_file, cdk_out=args.cdk_out, cdk_args=cdk_args)
    try:
        local_cloud.ensure_run_dir()
        timings = run((plan_hotswap if args.hotswap else plan)(options, local_cloud.RUN_DIR))
    except local_cloud.LocalError as error:
        print(f"make local: {error}", file=sys.stderr)
        return 1
    except StepFailed as failure:
        print(f"make local: {failure}", file=sys.stderr)
        return failure.returncode
    except KeyboardInterrupt:  # each step said where it stopped
        return 130
    print(f"\nThe service answers at http://127.0.0.1:{options.port}/  (make local-stop stops everything)")
    print(_timing_line(timings, "make local-deploy-fast" if args.hotswap else "make local"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
