"""make rollback: choose the release before the running one from moto's ECR and the running task definition
from moto's ECS, then the exact cdk deploy command (given to a recording runner, never run) and the verifier."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecr.models import ecr_backends

from operate import rollback as rollback_module
from operate.rollback import rollback
from operate.verify import Check

REGION = "us-east-1"
STACK, CLUSTER, SERVICE = "echo-fargate-dev", "echo-cluster", "echo-service"
REGISTRY = f"{DEFAULT_ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com"
REPOSITORIES = ("echo-fargate/echo", "echo-fargate/nginx-proxy")


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        clients = {name: boto3.client(name, region_name=REGION) for name in ("cloudformation", "ecs", "elbv2", "ecr")}
        for repository in REPOSITORIES:
            clients["ecr"].create_repository(repositoryName=repository)
        yield clients


def push(ecr, repository, commit, pushed_at, *, released=True):
    """Pushes an image tagged with the commit (and release-<commit>, as mark-released adds it) at a set time."""
    layer = "sha256:" + hashlib.sha256(f"{repository}{commit}".encode()).hexdigest()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                      "size": 1, "digest": layer},
                           "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                       "size": 1, "digest": layer}]})
    for tag in (commit, f"release-{commit}") if released else (commit,):
        ecr.put_image(repositoryName=repository, imageTag=tag, imageManifest=manifest)
    # moto stamps the push with the current second; a rollback orders releases by it, so set it.
    for image in ecr_backends[DEFAULT_ACCOUNT_ID][REGION].repositories[repository].images:
        if commit in image.image_tags:
            image.image_pushed_at = int(pushed_at.timestamp())


def push_both(ecr, commit, day, **kwargs):
    for repository in REPOSITORIES:
        push(ecr, repository, commit, datetime(2026, 11, day, 12, tzinfo=UTC), **kwargs)


def deploy_service(clients, echo_image):
    clients["cloudformation"].create_stack(StackName=STACK, TemplateBody=json.dumps({
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ClusterName": {"Value": CLUSTER}, "ServiceName": {"Value": SERVICE}},
    }))
    clients["ecs"].create_cluster(clusterName=CLUSTER)
    arn = clients["ecs"].register_task_definition(family="echo-task", containerDefinitions=[
        {"name": "echo", "image": echo_image, "memory": 256},
        {"name": "nginx", "image": echo_image.replace("echo-fargate/echo", "echo-fargate/nginx-proxy"),
         "memory": 256},
    ])["taskDefinition"]["taskDefinitionArn"]
    clients["ecs"].create_service(cluster=CLUSTER, serviceName=SERVICE, taskDefinition=arn, desiredCount=1)


class Recorder:
    def __init__(self, code=0):
        self.commands, self.code = [], code

    def __call__(self, command):
        self.commands.append(list(command))
        return self.code


PASSED = [Check("stack", True, f"{STACK} UPDATE_COMPLETE"), Check("http", True, "GET http://x/: 200")]


def roll(clients, runner, checks=PASSED, **kwargs):
    lines, verified = [], []

    def verify(stack):
        verified.append(stack)
        return checks

    code = rollback(clients=clients, stack=STACK, env="dev", runner=runner, verify=verify, out=lines.append,
                    **kwargs)
    return code, lines, verified


def expected_command(tag, *extra):
    return ["npx", "--no-install", "cdk", "deploy", STACK, "-c", "env=dev", "-c", "image_source=ecr",
            "-c", f"image_tag={tag}", "--require-approval", "never", *extra]


def test_deploys_the_newest_release_older_than_the_running_one_then_verifies(aws):
    push_both(aws["ecr"], "aaa111", 1)
    push_both(aws["ecr"], "bbb222", 2)
    push_both(aws["ecr"], "ccc333", 3)
    push_both(aws["ecr"], "ddd444", 4, released=False)  # pushed, never verified: not a release
    deploy_service(aws, f"{REGISTRY}/echo-fargate/echo:ccc333")
    runner = Recorder()
    code, lines, verified = roll(aws, runner)
    assert code == 0
    assert runner.commands == [expected_command("release-bbb222")]
    assert verified == [STACK]
    assert lines == [f"rollback {STACK}: ccc333 -> release-bbb222",
                     "rollback: " + " ".join(expected_command("release-bbb222")),
                     f"ok stack: {STACK} UPDATE_COMPLETE", "ok http: GET http://x/: 200"]


def test_a_service_on_a_release_tag_goes_to_the_one_before(aws):
    push_both(aws["ecr"], "aaa111", 1)
    push_both(aws["ecr"], "bbb222", 2)
    deploy_service(aws, f"{REGISTRY}/echo-fargate/echo:release-bbb222")
    runner = Recorder()
    assert roll(aws, runner, cdk_args="--profile ops -v")[0] == 0
    assert runner.commands == [expected_command("release-aaa111", "--profile", "ops", "-v")]


def test_to_is_honoured(aws):
    push_both(aws["ecr"], "aaa111", 1)
    push_both(aws["ecr"], "bbb222", 2)
    push_both(aws["ecr"], "ccc333", 3)
    deploy_service(aws, f"{REGISTRY}/echo-fargate/echo:ccc333")
    runner = Recorder()
    assert roll(aws, runner, to="aaa111")[0] == 0
    assert runner.commands == [expected_command("aaa111")]


def test_refuses_when_no_release_is_older(aws, capsys):
    push_both(aws["ecr"], "aaa111", 1)
    push_both(aws["ecr"], "bbb222", 2, released=False)
    deploy_service(aws, f"{REGISTRY}/echo-fargate/echo:aaa111")
    runner = Recorder()
    code, lines, verified = roll(aws, runner)
    assert (code, runner.commands, lines, verified) == (1, [], [], [])
    assert capsys.readouterr().err == ("rollback: no release older than the running aaa111 in echo-fargate/echo "
                                       "(1 release(s) found): nothing to roll back to\n")


def test_refuses_when_the_release_is_gone_from_one_repository(aws, capsys):
    push_both(aws["ecr"], "aaa111", 1)
    push(aws["ecr"], "echo-fargate/echo", "bbb222", datetime(2026, 11, 2, tzinfo=UTC))  # nginx's expired
    push_both(aws["ecr"], "ccc333", 3)
    deploy_service(aws, f"{REGISTRY}/echo-fargate/echo:ccc333")
    runner = Recorder()
    code, _, _ = roll(aws, runner)
    assert (code, runner.commands) == (1, [])
    assert capsys.readouterr().err == ("rollback: release-bbb222 is not in echo-fargate/nginx-proxy: a rollback "
                                       "needs both images; nothing deployed\n")
    code, _, _ = roll(aws, runner, to="release-zzz999")
    assert (code, runner.commands) == (1, [])
    assert capsys.readouterr().err == ("rollback: release-zzz999 is not in echo-fargate/echo nor "
                                       "echo-fargate/nginx-proxy: a rollback needs both images; nothing deployed\n")


@pytest.mark.parametrize(("image", "setting"), [
    ("stormcat24/echo:latest", "image_source=public"),
    (f"{REGISTRY}/cdk-hnb659fds-container-assets-{DEFAULT_ACCOUNT_ID}-{REGION}:5f2c9e", "image_source=build"),
])
def test_a_service_not_on_ecr_images_is_refused_naming_the_setting(aws, capsys, image, setting):
    push_both(aws["ecr"], "aaa111", 1)
    deploy_service(aws, image)
    runner = Recorder()
    assert roll(aws, runner)[0] == 1
    assert runner.commands == []
    err = capsys.readouterr().err
    assert err.startswith(f"rollback: the service runs {image}: {setting}")
    assert err.endswith("deploy with -c image_source=ecr -c image_tag=TAG first\n")


def test_a_failed_deploy_or_failed_checks_exit_1(aws, capsys):
    push_both(aws["ecr"], "aaa111", 1)
    push_both(aws["ecr"], "bbb222", 2)
    deploy_service(aws, f"{REGISTRY}/echo-fargate/echo:bbb222")
    code, _, verified = roll(aws, Recorder(code=1))
    assert (code, verified) == (1, [])
    assert "rollback: cdk deploy exited 1" in capsys.readouterr().err
    code, lines, _ = roll(aws, Recorder(), checks=[Check("http", False, "GET http://x/: HTTP 502, expected 200")])
    assert code == 1
    assert lines[-1] == "FAIL http: GET http://x/: HTTP 502, expected 200"


def test_the_command_line_refuses_bad_cdk_args_and_a_missing_stack(aws, capsys):
    with pytest.raises(SystemExit) as exited:
        rollback_module.main(["--env", "dev", "--cdk-args", "--profile 'ops"])
    assert exited.value.code == 2
    assert "argument --cdk-args: No closing quotation" in capsys.readouterr().err
    assert rollback_module.main(["--env", "qa", "--region", REGION]) == 1
    assert capsys.readouterr().err == f"rollback: stack echo-fargate-qa not found in {REGION}\n"
