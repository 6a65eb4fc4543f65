"""`make bootstrap`: deploys the bootstrap policy stack with your credentials, then runs CDK's bootstrap with
its execution policies instead of AdministratorAccess and its boundary on the execution role, in the account
and region of your credentials.

    .venv/bin/python -m bootstrap [extra `cdk bootstrap` options, e.g. --termination-protection]
    .venv/bin/python -m bootstrap --assembly DIR [...]   # the policy app as `python -m bootstrap.app DIR` wrote it

The policy app is synthesized once (in this process's own Python, no AWS call: it names no environment) and
both CLI commands deploy that assembly, instead of each running the app again: `make local` synthesizes it
while the local AWS starts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bootstrap import STACK

ROOT = Path(__file__).resolve().parents[1]

# The pinned CLI itself (npm ci puts it there), not `npx`, which costs half a second to find it.
CDK = [str(ROOT / "node_modules" / ".bin" / "cdk")]


def _run(command: list[str]) -> None:
    print("+ " + " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)


def synthesize(assembly: Path) -> Path:
    """The policy app's cloud assembly, written to `assembly` by this process. Imported here, not above: it
    starts jsii's Node, which `--assembly` (make local's bootstrap, beside the app's synth) does without."""
    from bootstrap import app as policy_app

    policy_app.main([str(assembly)])
    return assembly


def deploy_policies(assembly: Path, workdir: Path) -> dict[str, str]:
    outputs = workdir / "outputs.json"
    _run([*CDK, "--app", str(assembly), "deploy", STACK, "--require-approval", "never", "--no-notices",
          "--outputs-file", str(outputs)])
    return json.loads(outputs.read_text())[STACK]


def bootstrap_command(assembly: Path, outputs: dict[str, str], extra: list[str]) -> list[str]:
    # The environment the policies were made in, named: no other one can use them. `cdk bootstrap` reads an
    # app even with an environment named: this assembly, not the main app, which need not be in a state to
    # synthesize for bootstrapping to work.
    return [*CDK, "--app", str(assembly), "bootstrap", outputs["Environment"], "--no-notices",
            "--cloudformation-execution-policies", outputs["ExecutionPolicyArns"],
            "--custom-permissions-boundary", outputs["ExecutionRoleBoundaryName"], *extra]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bootstrap", description=__doc__.splitlines()[0])
    parser.add_argument("--assembly", type=Path, help="the policy app already synthesized here "
                                                      "(python -m bootstrap.app DIR)")
    args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    try:
        with tempfile.TemporaryDirectory(prefix="bootstrap-") as workdir:
            assembly = args.assembly or synthesize(Path(workdir) / "cdk.out")
            outputs = deploy_policies(assembly, Path(workdir))
            _run(bootstrap_command(assembly, outputs, extra))
    except subprocess.CalledProcessError as error:
        print(f"make bootstrap: `{' '.join(error.cmd[:4])} ...` failed with exit status {error.returncode}",
              file=sys.stderr)
        return 1
    print(f"Bootstrapped with execution policies {outputs['ExecutionPolicyArns']}; the app's roles must carry "
          f"{outputs['RoleBoundaryName']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
