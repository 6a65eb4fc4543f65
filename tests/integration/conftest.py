"""What the tests that run the CDK CLI against the local AWS share: a local AWS started as `make local` starts
it, the bootstrap policy app synthesized once, and the CLI run as make local runs it.

They run side by side in make test's workers. Nothing they share is written: each has its own local AWS, run
directory and output directories, and cdk.context.json already holds the local AWS's lookups, so the CLI never
writes it (a guard below fails any test that changes it). The one test that makes the CLI write it works in a
copy of the checkout (tests/integration/checkout.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap import app as policy_app
from local.task import free_port
from tests.synth import ROOT

STACK = "echo-fargate-dev"
# As `make local` does: a make-believe CircleCI organization, so that the CI access stack deploys too.
CI_IDS = ("-c", "circleci_org_id=00000000-0000-4000-8000-00000000c1c1",
          "-c", "circleci_project_id=00000000-0000-4000-8000-000000000001",
          "-c", "ci_vcs_origin=github.com/example/echo-fargate")
CONTEXT_FILE = ROOT / "cdk.context.json"


def start_local_aws(run_dir: Path, checkout: Path = ROOT) -> dict[str, str]:
    """A local AWS as `make local` starts it (local.cloud), on a free port, recorded in `run_dir`; the
    environment a command needs to use it, as local.cdk builds it."""
    port = free_port()
    control = {**os.environ, "LOCAL_RUN_DIR": str(run_dir)}
    subprocess.run([sys.executable, "-m", "local.cloud", "start-aws", "--port", str(port)], cwd=checkout,
                   env=control, check=True, timeout=60, capture_output=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=f"http://localhost:{port}", AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local",
               AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               LOCAL_RUN_DIR=str(run_dir), LOCAL_AWS_PORT=str(port))
    return env


def stop_local_aws(env: dict[str, str], checkout: Path = ROOT) -> None:
    subprocess.run([sys.executable, "-m", "local.cloud", "stop"], cwd=checkout, timeout=60, capture_output=True,
                   env={**os.environ, "LOCAL_RUN_DIR": env["LOCAL_RUN_DIR"]})


@pytest.fixture(scope="module")
def local_aws(tmp_path_factory):
    env = start_local_aws(tmp_path_factory.mktemp("local-run"))
    yield env
    stop_local_aws(env)


@pytest.fixture(scope="session")
def policy_assembly(tmp_path_factory) -> Path:
    """The bootstrap policy app, synthesized once per test process (it names no environment: one fits all)."""
    assembly = tmp_path_factory.mktemp("bootstrap-policies") / "cdk.out"
    policy_app.main([str(assembly)])
    return assembly


def bootstrap(env: dict[str, str], assembly: Path, checkout: Path = ROOT) -> None:
    """make bootstrap (python -m bootstrap) of the policy assembly, against the local AWS of `env`."""
    result = subprocess.run([sys.executable, "-m", "bootstrap", "--assembly", str(assembly)], cwd=checkout, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"bootstrap failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def cdk(env: dict[str, str], outdir: Path, *args: str) -> subprocess.CompletedProcess:
    """The pinned CDK CLI itself; it must succeed."""
    command = [str(ROOT / "node_modules" / ".bin" / "cdk"), *args, "--no-notices", "--output", str(outdir)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"cdk {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def local_cdk(env: dict[str, str], outdir: Path, *args: str, checkout: Path = ROOT) -> subprocess.CompletedProcess:
    """A CDK command as make local runs it: through local.cdk (settings checked, local AWS probed)."""
    command = [sys.executable, "-m", "local.cdk", "--aws-port", env["LOCAL_AWS_PORT"], *args, "--no-notices",
               "--output", str(outdir)]
    return subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(autouse=True)
def cdk_context_file_untouched():
    """The tests run side by side in one checkout: none may change the lookups the others read."""
    before = CONTEXT_FILE.read_bytes()
    yield
    assert CONTEXT_FILE.read_bytes() == before, "the test changed cdk.context.json"
