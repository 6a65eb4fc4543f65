"""The whole CDK CLI cycle against the local AWS (local.aws on a free port), checked with boto3 where
moto models the resources: bootstrap, deploy, diff with no changes, change settings, deploy again (an
in-place update), diff shows the change, destroy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import boto3
import pytest

from local.task import free_port
from tests.cdk_cli import CDK_CLI_MARKS
from tests.synth import ROOT

pytestmark = CDK_CLI_MARKS
STACK = "echo-fargate-dev"
# As `make local` does: a make-believe CircleCI organization, so that the CI access stack deploys too.
CI_IDS = ("-c", "circleci_org_id=00000000-0000-4000-8000-00000000c1c1",
          "-c", "circleci_project_id=00000000-0000-4000-8000-000000000001")
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
               "digest": "sha256:" + "a" * 64},
    "layers": [],
})



@pytest.fixture(scope="module")
def local_aws(tmp_path_factory):
    """This checkout's local AWS as `make local` starts it (local.cloud), on a free port, recorded in a
    run directory of its own."""
    port = free_port()
    run_dir = tmp_path_factory.mktemp("local-run")
    control = {**os.environ, "LOCAL_RUN_DIR": str(run_dir)}
    subprocess.run([sys.executable, "-m", "local.cloud", "start-aws", "--port", str(port)], cwd=ROOT,
                   env=control, check=True, timeout=60)
    endpoint = f"http://localhost:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local",
               AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               LOCAL_RUN_DIR=str(run_dir),
               LOCAL_AWS_PORT=str(port))
    yield env
    subprocess.run([sys.executable, "-m", "local.cloud", "stop"], cwd=ROOT, env=control, timeout=60)


@pytest.fixture(autouse=True)
def untouched_context_cache():
    """The CLI caches the local AWS's availability zones in cdk.context.json; the tests leave it as found."""
    path = ROOT / "cdk.context.json"
    before = path.read_text() if path.exists() else None
    yield
    if before is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(before)


@pytest.fixture(scope="module")
def aws(local_aws):
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    endpoint = local_aws["AWS_ENDPOINT_URL"]
    return {name: session.client(name, endpoint_url=endpoint)
            for name in ("cloudformation", "ecs", "elbv2", "logs", "ec2", "ecr", "iam")}


def _cdk(env: dict, outdir, *args: str) -> subprocess.CompletedProcess:
    command = [str(ROOT / "node_modules" / ".bin" / "cdk"), *args, "--no-notices", "--output", str(outdir)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"cdk {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _local_cdk(env: dict, outdir, *args: str) -> subprocess.CompletedProcess:
    """A CDK command as make local runs it: through local.cdk."""
    command = [sys.executable, "-m", "local.cdk", "--aws-port", env["LOCAL_AWS_PORT"], *args, "--no-notices",
               "--output", str(outdir)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _outputs(aws) -> dict[str, str]:
    (stack,) = aws["cloudformation"].describe_stacks(StackName=STACK)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_bootstrap_deploy_diff_update_destroy(local_aws, aws, tmp_path):
    _cdk(local_aws, tmp_path / "boot", "bootstrap")

    deployed = _cdk(local_aws, tmp_path / "v1", "deploy", "--all", "--require-approval", "never", "-c", "env=dev",
                    *CI_IDS)
    assert f"{STACK}.ServiceUrl = http://" in deployed.stdout + deployed.stderr
    (stack,) = aws["cloudformation"].describe_stacks(StackName=STACK)["Stacks"]
    stack_id, outputs = stack["StackId"], _outputs(aws)
    assert stack["StackStatus"] == "CREATE_COMPLETE"

    # What moto models, as deployed: cluster, task definition, load balancer, target group, log groups.
    (cluster,) = aws["ecs"].describe_clusters(clusters=[outputs["ClusterName"]])["clusters"]
    assert cluster["status"] == "ACTIVE"
    (service,) = aws["ecs"].describe_services(cluster=outputs["ClusterName"],
                                              services=[outputs["ServiceName"]])["services"]
    assert service["desiredCount"] == 1
    task = aws["ecs"].describe_task_definition(taskDefinition="echo-task")["taskDefinition"]
    containers = {c["name"]: c for c in task["containerDefinitions"]}
    assert set(containers) == {"echo", "nginx"}
    assert containers["nginx"]["environment"] == [{"name": "BACKEND_HOST", "value": "localhost:8080"},
                                                  {"name": "WORKER_PROCESSES", "value": "1"},
                                                  {"name": "WORKER_CONNECTIONS", "value": "8192"}]
    assert [p["containerPort"] for p in containers["nginx"]["portMappings"]] == [80]
    assert task["family"] == "echo-task"  # moto drops cpu, memory and the network mode: the templates say them
    (balancer,) = aws["elbv2"].describe_load_balancers()["LoadBalancers"]
    assert balancer["Scheme"] == "internet-facing"
    assert outputs["ServiceUrl"] == f"http://{balancer['DNSName']}"
    (group,) = aws["elbv2"].describe_target_groups()["TargetGroups"]
    assert (group["TargetType"], group["Port"], group["HealthCheckIntervalSeconds"]) == ("ip", 80, 10)
    groups = {g["logGroupName"]: g for g in aws["logs"].describe_log_groups()["logGroups"]}
    assert groups[outputs["EchoLogGroup"]]["retentionInDays"] == 30
    assert outputs["NginxLogGroup"] in groups
    vpc_ids = {v["VpcId"] for v in aws["ec2"].describe_vpcs()["Vpcs"]}
    (stack_vpc,) = [r["PhysicalResourceId"] for r in aws["cloudformation"].describe_stack_resources(
        StackName=STACK)["StackResources"] if r.get("ResourceType") == "AWS::EC2::VPC"]

    _check_registry_and_ci_access(aws)

    unchanged = _cdk(local_aws, tmp_path / "v1-diff", "diff", "-c", "env=dev", *CI_IDS)
    assert "Number of stacks with differences: 0" in unchanged.stdout + unchanged.stderr

    _cdk(local_aws, tmp_path / "v2", "deploy", "--all", "--require-approval", "never", "-c", "env=dev", *CI_IDS,
         "-c", "desired_count=2", "-c", "health_check_interval=15")
    (stack,) = aws["cloudformation"].describe_stacks(StackName=STACK)["Stacks"]
    assert (stack["StackId"], stack["StackStatus"]) == (stack_id, "UPDATE_COMPLETE")  # updated in place
    (service,) = aws["ecs"].describe_services(cluster=outputs["ClusterName"],
                                              services=[outputs["ServiceName"]])["services"]
    assert service["desiredCount"] == 2
    assert {v["VpcId"] for v in aws["ec2"].describe_vpcs()["Vpcs"]} == vpc_ids  # nothing replaced
    assert _outputs(aws)["ClusterName"] == outputs["ClusterName"]

    changed = _cdk(local_aws, tmp_path / "v2-diff", "diff", "-c", "env=dev", *CI_IDS)
    text = changed.stdout + changed.stderr
    assert "Number of stacks with differences: 1" in text
    assert "DesiredCount" in text and "HealthCheckIntervalSeconds" in text

    _cdk(local_aws, tmp_path / "destroy", "destroy", "--all", "--force", "-c", "env=dev", *CI_IDS)
    assert not [s["StackName"] for s in aws["cloudformation"].describe_stacks()["Stacks"]
                if s["StackName"].startswith("echo-fargate")]
    # The repositories are retained on purpose: they hold what a rollback would deploy.
    assert {"echo-fargate/echo", "echo-fargate/nginx-proxy"} <= {
        r["repositoryName"] for r in aws["ecr"].describe_repositories()["repositories"]}
    assert stack_vpc not in {v["VpcId"] for v in aws["ec2"].describe_vpcs()["Vpcs"]}
    assert aws["elbv2"].describe_load_balancers()["LoadBalancers"] == []

    # make local after make local-destroy: the registry's deploy adopts the retained repositories.
    again = _local_cdk(local_aws, tmp_path / "again", "deploy", "--all", "--import-existing-resources",
                       "--require-approval", "never", "-c", "env=dev", *CI_IDS)
    assert again.returncode == 0, again.stderr
    (registry,) = aws["cloudformation"].describe_stacks(StackName="echo-fargate-registry")["Stacks"]
    assert registry["StackStatus"] == "CREATE_COMPLETE"
    repositories = {r["PhysicalResourceId"] for r in aws["cloudformation"].describe_stack_resources(
        StackName="echo-fargate-registry")["StackResources"] if r.get("ResourceType") == "AWS::ECR::Repository"}
    assert repositories == {"echo-fargate/echo", "echo-fargate/nginx-proxy"}
    # ...as they were: the image pushed before the destroy is still there.
    assert ecr_images(aws, "echo-fargate/echo") == ["0a1b2c3d"]


def ecr_images(aws, repository: str) -> list[str]:
    return [i.get("imageTag") for i in aws["ecr"].list_images(repositoryName=repository)["imageIds"]]


CONTEXT = ROOT / "cdk.context.json"


def test_local_cdk_leaves_cdk_context_json_as_it_found_it(local_aws, tmp_path):
    CONTEXT.unlink(missing_ok=True)
    diff = _local_cdk(local_aws, tmp_path / "diff", "diff", "-c", "env=dev", *CI_IDS)
    assert diff.returncode == 0, diff.stderr
    assert not CONTEXT.exists()  # the CLI cached the local AWS's zones there; it is gone again

    cached = '{\n  "acknowledged-issue-numbers": [12345]\n}\n'
    CONTEXT.write_text(cached)
    failed = _local_cdk(local_aws, tmp_path / "failed", "deploy", "no-such-stack", "-c", "env=dev", *CI_IDS)
    assert failed.returncode != 0
    assert CONTEXT.read_text() == cached


def _pending(cloudformation) -> list[str]:
    # moto lists every stack's change sets whatever the StackName: filter by name here
    return [s["ChangeSetName"] for s in cloudformation.list_change_sets(StackName=STACK)["Summaries"]
            if s.get("StackName") == STACK and s.get("ExecutionStatus") == "AVAILABLE"]


def test_ctrl_c_between_creating_and_executing_a_change_set_says_what_is_pending(local_aws, aws, tmp_path):
    _cdk(local_aws, tmp_path / "boot", "bootstrap")  # this test on its own needs it; otherwise a no-op
    cached = '{\n  "acknowledged-issue-numbers": [12345]\n}\n'
    CONTEXT.write_text(cached)
    cloudformation = aws["cloudformation"]
    command = [sys.executable, "-m", "local.cdk", "--aws-port", local_aws["LOCAL_AWS_PORT"], "deploy", STACK,
               "--exclusively", "-c", "env=dev", *CI_IDS, "-c", "desired_count=3", "--require-approval", "never",
               "--no-notices", "--output", str(tmp_path / "out")]
    # Files, not pipes: nobody reads a pipe while waiting, and a full one would stall the CLI.
    with (tmp_path / "out.txt").open("w") as out, (tmp_path / "err.txt").open("w") as err:
        # Its own process group, as a terminal's foreground job: Ctrl-C reaches the wrapper and the CLI alike.
        deploy = subprocess.Popen(command, cwd=ROOT, env=local_aws, stdout=out, stderr=err,
                                  start_new_session=True)
    try:
        while not _pending(cloudformation):
            assert deploy.poll() is None, "the deploy ended before it created its change set"
            time.sleep(0.02)
        os.killpg(deploy.pid, signal.SIGINT)
        deploy.wait(timeout=60)
    finally:
        if deploy.poll() is None:
            os.killpg(deploy.pid, signal.SIGKILL)
            deploy.wait()
    errors = (tmp_path / "err.txt").read_text()
    assert deploy.returncode == 130, errors
    assert "Traceback" not in errors and "KeyboardInterrupt" not in errors
    line = errors.strip().splitlines()[-1]
    assert line.startswith("make local: interrupted during cdk deploy: ")
    if pending := _pending(cloudformation):  # said as it is, and what to run
        assert f"change set {pending[0]} of {STACK} is pending, not executed" in line
    else:  # the CLI executed it before the signal arrived
        assert "no change set is pending" in line
    assert line.endswith("run make local to finish")
    assert CONTEXT.read_text() == cached


def _check_registry_and_ci_access(aws) -> None:
    ecr = aws["ecr"]
    repositories = {r["repositoryName"]: r for r in ecr.describe_repositories()["repositories"]}
    for name in ("echo-fargate/echo", "echo-fargate/nginx-proxy"):
        assert repositories[name]["imageTagMutability"] == "IMMUTABLE"
        assert repositories[name]["imageScanningConfiguration"] == {"scanOnPush": True}
        rules = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])["rules"]
        # releases first (kept whatever else expires), then untagged layers, then the newest builds
        assert [(r["selection"]["tagStatus"], r["selection"].get("tagPrefixList")) for r in rules] == [
            ("tagged", ["release-"]), ("untagged", None), ("tagged", None)]

    # A push as the pipeline makes it: a manifest under the commit SHA; the same tag again is refused.
    pushed = ecr.put_image(repositoryName="echo-fargate/echo", imageManifest=MANIFEST, imageTag="0a1b2c3d")
    assert pushed["image"]["imageId"]["imageTag"] == "0a1b2c3d"
    # AWS answers ImageTagAlreadyExistsException; moto refuses too, under the name ImageAlreadyExistsException.
    with pytest.raises((ecr.exceptions.ImageTagAlreadyExistsException, ecr.exceptions.ImageAlreadyExistsException)):
        ecr.put_image(repositoryName="echo-fargate/echo", imageManifest=MANIFEST.replace("a" * 64, "b" * 64),
                      imageTag="0a1b2c3d")

    # moto's CloudFormation skips AWS::IAM::OIDCProvider (README, Known limits): the roles are what it models.
    (ci,) = aws["cloudformation"].describe_stacks(StackName="echo-fargate-ci")["Stacks"]
    role_names = [o["OutputValue"].rsplit("/", 1)[1] for o in ci["Outputs"]]
    for name in role_names:
        role = aws["iam"].get_role(RoleName=name)["Role"]
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Condition"]["StringEquals"] == {
            "oidc.circleci.com/org/00000000-0000-4000-8000-00000000c1c1:aud": "00000000-0000-4000-8000-00000000c1c1"}
        assert role["MaxSessionDuration"] == 3600
