"""`python -m bootstrap` (make bootstrap) against the local AWS: the policy stack, then CDK's bootstrap whose
CloudFormation execution role gets those policies and the execution role boundary."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3
import pytest

from bootstrap.execution_policy import OUTPUT
from local.task import free_port
from tests.synth import ROOT

pytestmark = pytest.mark.integration
ACCOUNT, REGION = "123456789012", "us-east-1"  # moto's account


@pytest.fixture(scope="module")
def local_aws(tmp_path_factory):
    port = free_port()
    log = (tmp_path_factory.mktemp("local-aws") / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "local.aws", "--port", str(port)], cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://localhost:{port}"  # localhost: moto finds template buckets by this host name
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            break
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline and server.poll() is None, "local AWS did not start"
            time.sleep(0.2)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local",
               AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true")
    yield env
    server.terminate()
    server.wait(timeout=10)
    log.close()


def _client(env, service):
    return boto3.client(service, endpoint_url=env["AWS_ENDPOINT_URL"], region_name=REGION,
                        aws_access_key_id="local", aws_secret_access_key="local")


def _resolved(value):
    text = json.dumps(value)
    for placeholder, real in {"${AWS::Partition}": "aws", "${AWS::AccountId}": ACCOUNT,
                              "${AWS::Region}": REGION}.items():
        text = text.replace(placeholder, real)
    return json.loads(text)


def test_make_bootstrap_gives_cloudformation_the_policies_and_the_boundary(local_aws):
    run = subprocess.run([sys.executable, "-m", "bootstrap"], cwd=ROOT, env=local_aws, capture_output=True,
                         text=True, timeout=500)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    policy = _resolved(json.loads(OUTPUT.read_text()))
    iam, cloudformation = _client(local_aws, "iam"), _client(local_aws, "cloudformation")

    arns = [f"arn:aws:iam::{ACCOUNT}:policy/{entry['name']}" for entry in policy["execution_policies"]]
    for arn, entry in zip(arns, policy["execution_policies"], strict=True):
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
        document = json.loads(document) if isinstance(document, str) else document
        assert document == entry["document"]

    (toolkit,) = cloudformation.describe_stacks(StackName="CDKToolkit")["Stacks"]
    parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in toolkit["Parameters"]}
    # AWS answers a CommaDelimitedList parameter as "a,b,c", moto as a Python list's text: read the ARNs out.
    assert re.findall(r"arn:aws:iam::[0-9]+:policy/[A-Za-z0-9-]+",
                      parameters["CloudFormationExecutionPolicies"]) == arns
    assert parameters["InputPermissionsBoundary"] == policy["execution_role_boundary"]["name"]

    role_name = f"cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{REGION}"
    role = iam.get_role(RoleName=role_name)["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == \
        f"arn:aws:iam::{ACCOUNT}:policy/{policy['execution_role_boundary']['name']}"
    # The app's roles' boundary exists, under the name stacks/permissions_boundary.py points them at.
    iam.get_policy(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/{policy['role_boundary']['name']}")
