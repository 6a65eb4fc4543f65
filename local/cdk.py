"""Every CDK command of `make local`, `make local-diff` and `make local-destroy` goes through here.

    python -m local.cdk check -c env=dev ...                 # the settings only: no AWS, no synth
    python -m local.cdk --aws-port 4566 deploy --all -c env=dev ...   # any cdk command and its arguments

For a cdk command it:
1. checks the settings (settings.load_settings over cdk.json's context and the -c arguments), so a typo
   fails in a second, before anything starts;
2. probes the local AWS of this checkout (local.cloud's record and moto's API on the port) and says
   what happened when it is not there, instead of letting the CLI retry for a minute;
3. runs the pinned CDK CLI against it with throwaway credentials (no AWS_* variable of the caller's,
   so no profile or real credential, reaches the local endpoint);
4. puts cdk.context.json back as it found it, also on failure and Ctrl-C: the committed file holds the
   local AWS's availability zones, so the CLI normally writes nothing there; anything else it looks up in
   the local AWS is no real account's answer and must not end up in a commit;
5. turns Ctrl-C into one line saying what state the stacks are in and what to run.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from local import cloud as local_cloud

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
CONTEXT_FILE = ROOT / "cdk.context.json"
REGION = "us-east-1"


def check_settings(args: list[str]) -> str | None:
    """The app's own validation (as app.py runs it) without synthesizing: None, or the problems."""
    from settings import SettingsError
    from settings.cdk_arguments import settings_for

    try:
        settings_for(args, ROOT)
    except SettingsError as error:
        return str(error)
    return None


def local_aws_environment(port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    # The CLI and the app's jsii run on the Node package.json pins, which npm ci puts beside the CLI.
    env["PATH"] = os.pathsep.join([str(CDK.parent), env.get("PATH", "")])
    env.update(AWS_ENDPOINT_URL=f"http://localhost:{port}", AWS_ACCESS_KEY_ID="local",
               AWS_SECRET_ACCESS_KEY="local", AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION,
               AWS_EC2_METADATA_DISABLED="true")
    return env


def probe(port: int) -> None:
    """Raise LocalError unless this checkout's local AWS runs and answers on `port`."""
    state, record = local_cloud.inspect("local-aws")
    if state == "gone":
        raise local_cloud.LocalError(f"{record.describe('local-aws')} is not running: {local_cloud.STATE_LOST}; "
                                     "run make local")
    if state == "running":
        if record.port != port:
            raise local_cloud.LocalError(f"{record.describe('local-aws')} listens on port {record.port}, not {port}: "
                                         f"use LOCAL_AWS_PORT={record.port}")
        if not local_cloud.aws_answers(port, record.pid):
            raise local_cloud.LocalError(f"{record.describe('local-aws')} does not answer on "
                                         f"http://localhost:{port}; make local-stop, then make local")
        return
    if user := local_cloud.port_user(port):
        raise local_cloud.LocalError(f"no local AWS was started here (no record in {local_cloud.RUN_DIR}), and "
                                     f"port {port} is {user}: run make local, or set LOCAL_AWS_PORT")
    raise local_cloud.LocalError(f"no local AWS runs at http://localhost:{port}: run make local (it starts one)")


def describe_state(port: int, command: str) -> str:
    """After Ctrl-C: the stacks' state in the local AWS and what to run, in one line."""
    again = {"destroy": "make local-destroy", "diff": "make local-diff"}.get(command, "make local")
    if command == "diff":
        return "nothing was changed (a diff only reads)"
    try:
        import boto3
        from botocore.config import Config

        client = boto3.client("cloudformation", endpoint_url=f"http://localhost:{port}", region_name=REGION,
                              aws_access_key_id="local", aws_secret_access_key="local",
                              config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}))
        stacks = client.describe_stacks()["Stacks"]
        pending = [f"{summary['ChangeSetName']} of {stack['StackName']}"
                   for stack in stacks
                   for summary in client.list_change_sets(StackName=stack["StackName"])["Summaries"]
                   # moto answers every stack's change sets, whatever the StackName
                   if summary.get("StackName") == stack["StackName"]
                   and summary.get("ExecutionStatus") == "AVAILABLE"]
        busy = [f"{stack['StackName']} {stack['StackStatus']}" for stack in stacks
                if stack["StackStatus"].endswith("IN_PROGRESS")]
    except Exception as error:  # whatever the AWS's state, the user gets the line, not a traceback
        return f"the local AWS did not say what state its stacks are in ({type(error).__name__}); run {again}"
    parts = []
    if pending:
        parts.append(f"change set {', '.join(pending)} is pending, not executed")
    if busy:
        parts.append(f"in progress: {', '.join(busy)}")
    if not parts:
        parts.append("no change set is pending")
    if command == "deploy" and local_cloud.running_pid("local-task"):
        parts.append("the task still runs with the previous deploy's settings")
    return f"{'; '.join(parts)}; run {again} to finish"


def run_cdk(port: int, command: str, args: list[str]) -> int:
    if problems := check_settings(args):
        print(f"Configuration error:\n{problems}", file=sys.stderr)
        return 2
    local_cloud.ensure_run_dir()
    probe(port)
    if not CDK.exists():
        raise local_cloud.LocalError(f"{CDK} is missing: run make install")
    before = CONTEXT_FILE.read_bytes() if CONTEXT_FILE.exists() else None
    process = None
    try:
        process = subprocess.Popen([str(CDK), command, *args], cwd=ROOT, env=local_aws_environment(port))
        return process.wait()
    except KeyboardInterrupt:
        # The terminal sent SIGINT to the whole foreground group: the CLI stops too; let it finish stopping.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if process is not None:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        print(f"\nmake local: interrupted during cdk {command}: {describe_state(port, command)}", file=sys.stderr)
        return 130
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the restore
        try:
            if before is None:
                CONTEXT_FILE.unlink(missing_ok=True)
            elif not CONTEXT_FILE.exists() or CONTEXT_FILE.read_bytes() != before:
                CONTEXT_FILE.write_bytes(before)
        finally:
            signal.signal(signal.SIGINT, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aws-port", type=int, default=4566, help="the local AWS's port (LOCAL_AWS_PORT)")
    parser.add_argument("command", help="check, or a cdk command: bootstrap, deploy, diff, destroy, ...")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the cdk command's arguments")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            if problems := check_settings(args.args):
                print(f"Configuration error:\n{problems}", file=sys.stderr)
                return 2
            return 0
        return run_cdk(args.aws_port, args.command, args.args)
    except local_cloud.LocalError as error:
        print(f"make local: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before the CLI started: nothing was changed
        print(f"\nmake local: interrupted before cdk {args.command} started; nothing was changed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
