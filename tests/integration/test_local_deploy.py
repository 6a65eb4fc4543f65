"""The whole CDK CLI cycle against the local AWS (local.aws on a free port), checked with boto3 where
moto models the resources: bootstrap, deploy, diff with no changes, change settings, deploy again (an
in-place update), diff shows the change, destroy, and deploy again after the destroy, as make local would.

The CLI synthesizes twice, once per set of settings; the commands after those deploy the assembly a deploy
wrote (`--app DIR`), as a pipeline deploys what it synthesized, except the diff right after the first deploy,
which synthesizes afresh: a template that came out different the second time would show there.
"""

from __future__ import annotations

import json

import boto3
import pytest

from tests.integration.conftest import CI_IDS, STACK, bootstrap, cdk, local_cdk

pytestmark = pytest.mark.integration
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
               "digest": "sha256:" + "a" * 64},
    "layers": [],
})


@pytest.fixture(scope="module")
def aws(local_aws):
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    endpoint = local_aws["AWS_ENDPOINT_URL"]
    return {name: session.client(name, endpoint_url=endpoint)
            for name in ("cloudformation", "ecs", "elbv2", "logs", "ec2", "ecr", "iam")}


def _outputs(aws) -> dict[str, str]:
    (stack,) = aws["cloudformation"].describe_stacks(StackName=STACK)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_bootstrap_deploy_diff_update_destroy(local_aws, aws, policy_assembly, tmp_path):
    bootstrap(local_aws, policy_assembly)
    v1, v2 = tmp_path / "v1", tmp_path / "v2"  # the assemblies of the two deploys

    deployed = cdk(local_aws, v1, "deploy", "--all", "--require-approval", "never", "-c", "env=dev",
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

    unchanged = cdk(local_aws, tmp_path / "v1-diff", "diff", "-c", "env=dev", *CI_IDS)
    assert "Number of stacks with differences: 0" in unchanged.stdout + unchanged.stderr

    cdk(local_aws, v2, "deploy", "--all", "--require-approval", "never", "-c", "env=dev", *CI_IDS,
         "-c", "desired_count=2", "-c", "health_check_interval=15")
    (stack,) = aws["cloudformation"].describe_stacks(StackName=STACK)["Stacks"]
    assert (stack["StackId"], stack["StackStatus"]) == (stack_id, "UPDATE_COMPLETE")  # updated in place
    (service,) = aws["ecs"].describe_services(cluster=outputs["ClusterName"],
                                              services=[outputs["ServiceName"]])["services"]
    assert service["desiredCount"] == 2
    assert {v["VpcId"] for v in aws["ec2"].describe_vpcs()["Vpcs"]} == vpc_ids  # nothing replaced
    assert _outputs(aws)["ClusterName"] == outputs["ClusterName"]

    # The first settings against what is deployed now: the change, seen from either side.
    changed = cdk(local_aws, tmp_path / "v2-diff", "--app", str(v1), "diff")
    text = changed.stdout + changed.stderr
    assert "Number of stacks with differences: 1" in text
    assert "DesiredCount" in text and "HealthCheckIntervalSeconds" in text

    cdk(local_aws, tmp_path / "destroy", "--app", str(v2), "destroy", "--all", "--force")
    # Every stack of the app; make bootstrap's policy stack is not one of them and stays.
    assert [s["StackName"] for s in aws["cloudformation"].describe_stacks()["Stacks"]
            if s["StackName"].startswith("echo-fargate")] == ["echo-fargate-bootstrap-policies"]
    # The repositories are retained on purpose: they hold what a rollback would deploy.
    assert {"echo-fargate/echo", "echo-fargate/nginx-proxy"} <= {
        r["repositoryName"] for r in aws["ecr"].describe_repositories()["repositories"]}
    assert stack_vpc not in {v["VpcId"] for v in aws["ec2"].describe_vpcs()["Vpcs"]}
    assert aws["elbv2"].describe_load_balancers()["LoadBalancers"] == []

    # make local after make local-destroy: the registry's deploy adopts the retained repositories.
    again = local_cdk(local_aws, tmp_path / "again", "deploy", "--app", str(v1), "--all",
                      "--import-existing-resources", "--require-approval", "never", "-c", "env=dev", *CI_IDS)
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
    assert len(role_names) == 4  # push, dev's and prod's deploy, diff
    for name in role_names:
        role = aws["iam"].get_role(RoleName=name)["Role"]
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Condition"]["StringEquals"] == {
            "oidc.circleci.com/org/00000000-0000-4000-8000-00000000c1c1:aud": "00000000-0000-4000-8000-00000000c1c1"}
        assert role["MaxSessionDuration"] == 7200
        assert "/vcs-origin/github.com/example/echo-fargate/vcs-ref/" in json.dumps(statement["Condition"])
