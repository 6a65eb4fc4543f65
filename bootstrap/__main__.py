"""`make bootstrap`: deploys the bootstrap policy stack with your credentials, then runs CDK's bootstrap with
its execution policies instead of AdministratorAccess and its boundary on the execution role, in the account
and region of your credentials.

    .venv/bin/python -m bootstrap [extra `cdk bootstrap` options, e.g. --termination-protection]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bootstrap.app import STACK

ROOT = Path(__file__).resolve().parents[1]
CDK = ["npx", "--no-install", "cdk"]


def _run(command: list[str]) -> None:
    print("+ " + " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)


def _policy_app(workdir: Path) -> list[str]:
    # The policy app, in its own output directory (cdk.out belongs to the main app). `cdk bootstrap` synthesizes
    # whatever app it is given, even with an environment named: this one, not the main app, which need not
    # be in a state to synthesize for bootstrapping to work.
    return ["--app", f"{sys.executable} -m bootstrap.app", "--output", str(workdir / "cdk.out")]


def deploy_policies(workdir: Path) -> dict[str, str]:
    outputs = workdir / "outputs.json"
    _run([*CDK, *_policy_app(workdir), "deploy", STACK, "--require-approval", "never", "--no-notices",
          "--outputs-file", str(outputs)])
    return json.loads(outputs.read_text())[STACK]


def bootstrap_command(workdir: Path, outputs: dict[str, str], extra: list[str]) -> list[str]:
    # The environment the policies were made in, named: no other one can use them.
    return [*CDK, *_policy_app(workdir), "bootstrap", outputs["Environment"], "--no-notices",
            "--cloudformation-execution-policies", outputs["ExecutionPolicyArns"],
            "--custom-permissions-boundary", outputs["ExecutionRoleBoundaryName"], *extra]


def main(argv: list[str] | None = None) -> int:
    extra = list(sys.argv[1:] if argv is None else argv)
    try:
        with tempfile.TemporaryDirectory(prefix="bootstrap-") as workdir:
            outputs = deploy_policies(Path(workdir))
            _run(bootstrap_command(Path(workdir), outputs, extra))
    except subprocess.CalledProcessError as error:
        print(f"make bootstrap: `{' '.join(error.cmd[:4])} ...` failed with exit status {error.returncode}",
              file=sys.stderr)
        return 1
    print(f"Bootstrapped with execution policies {outputs['ExecutionPolicyArns']}; the app's roles must carry "
          f"{outputs['RoleBoundaryName']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
